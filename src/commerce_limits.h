/*
 * commerce_limits.h
 *		The limits and scales the C code enforces, written once.
 *
 * Each is a plain decimal literal (no parentheses, no suffix) so that a
 * message can spell it with CppAsString2() and stay byte-identical to the
 * text the tests and docs/errors.md show.  The SQL side has its own copies
 * of some of them (CHECK constraints, plpgsql checks): change both.
 */
#ifndef COMMERCE_LIMITS_H
#define COMMERCE_LIMITS_H

/* Keys chosen by the client (request_id, holder, visitor): 1 to this many characters. */
#define COMMERCE_MAX_KEY_LEN			200

/* Units of one SKU in one cart line, and in one reservation after summing lines. */
#define COMMERCE_MAX_QTY				1000000

/* Bytes of a caller's value quoted in an error message (longer values are cut, with "..."). */
#define COMMERCE_MAX_QUOTE				64

/* Bytes of a click's user agent that are kept (the rest is cut on a character boundary). */
#define COMMERCE_MAX_USER_AGENT			512

/* Lines in one cart. */
#define COMMERCE_MAX_LINES				200

/* Codes (SKU, warehouse) in a cart: 1 to this many characters. */
#define COMMERCE_MAX_CODE_LEN			63

/* Basis points in one: rates and shares are 0 to this many basis points. */
#define COMMERCE_BP_SCALE				10000

/* The largest amount of money commerce computes with: 10^15 fen (10 trillion yuan). */
#define COMMERCE_MAX_FEN				1000000000000000

/* Batch functions (expire_reservations, settle_commissions): rows per call. */
#define COMMERCE_DEFAULT_BATCH			1000
#define COMMERCE_MAX_BATCH				100000

/* KOC level rules: nesting of all/any and conditions per rule. */
#define COMMERCE_MAX_RULE_DEPTH			8
#define COMMERCE_MAX_RULE_CONDITIONS	64

/* Play rule schemas: nesting, and the length of a property name. */
#define COMMERCE_MAX_SCHEMA_DEPTH		8
#define COMMERCE_MAX_PROPERTY_LEN		63

/* Tracking codes: the secret, the signed digest prefix and its base-32 spelling. */
#define COMMERCE_LINK_SECRET_BYTES		32
#define COMMERCE_LINK_SIG_BYTES			8
#define COMMERCE_LINK_SIG_LEN			13
/* Base-36 digits of the largest int64 (a field of a tracking code). */
#define COMMERCE_BASE36_MAX_DIGITS		13

/* Arguments of one kept plan (CommercePlan.argtypes). */
#define COMMERCE_PLAN_MAX_ARGS			20

/* Columns of one trigger's attribute-number cache (CommerceColumns.attnums). */
#define COMMERCE_MAX_TRIGGER_COLUMNS	16

#endif							/* COMMERCE_LIMITS_H */
