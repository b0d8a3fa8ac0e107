/*
 * commerce_errcodes.h
 *		The extension's own SQLSTATEs.
 *
 * Business errors use PostgREST's PTxxx convention: PostgREST answers HTTP
 * xxx for SQLSTATE PTxxx, so each code is the HTTP status that means what
 * the error means (issue 12): 403 forbidden, 404 not found, 409 conflict
 * with the state of things, 410 gone, 429 too many requests (retry later).
 * The message tells errors of one code apart; docs/errors.md lists them.
 * Validation errors use PostgreSQL's standard codes (22004, 22023, 22P02,
 * 23505, 23514, ...) and are not repeated here.  Until 0.7.0 some errors had
 * codes of their own (PT405, PT412, PT420, PT423, PT425, PT451; PT429 for a
 * play's per-customer limit); docs/errors.md maps the old codes to the new.
 *
 * Include after postgres.h (MAKE_SQLSTATE comes from utils/elog.h).
 */
#ifndef COMMERCE_ERRCODES_H
#define COMMERCE_ERRCODES_H

#define COMMERCE_PT403	MAKE_SQLSTATE('P','T','4','0','3')
#define COMMERCE_PT409	MAKE_SQLSTATE('P','T','4','0','9')
#define COMMERCE_PT429	MAKE_SQLSTATE('P','T','4','2','9')

/* PT403: a play for new customers only, joined by a customer with paid orders. */
#define ERRCODE_COMMERCE_NOT_ELIGIBLE	COMMERCE_PT403
/* PT404: a tenant, SKU, warehouse, channel, tier, reservation, ... does not exist in the tenant. */
#define ERRCODE_COMMERCE_NOT_FOUND		MAKE_SQLSTATE('P','T','4','0','4')
/* PT403: an UPDATE, DELETE or TRUNCATE of an append-only ledger. */
#define ERRCODE_COMMERCE_APPEND_ONLY	COMMERCE_PT403
/* PT409: not enough available stock (or balance). */
#define ERRCODE_COMMERCE_OUT_OF_STOCK	COMMERCE_PT409
/* PT410: the reservation has expired. */
#define ERRCODE_COMMERCE_EXPIRED		MAKE_SQLSTATE('P','T','4','1','0')
/* PT409: the reservation, order, activity, KOC, ... is not in the state the call needs. */
#define ERRCODE_COMMERCE_BAD_STATE		COMMERCE_PT409
/* PT429: the IP made the play's allowed number of actions in the last minute. */
#define ERRCODE_COMMERCE_IP_RATE		COMMERCE_PT429
/* PT409: a play excluded by another play of its mutex group that the customer is in. */
#define ERRCODE_COMMERCE_MUTEX			COMMERCE_PT409
/* PT429: the customer made the play's allowed number of actions in the last minute. */
#define ERRCODE_COMMERCE_CUSTOMER_RATE	COMMERCE_PT429
/* PT409: the per-customer limit of a play is reached. */
#define ERRCODE_COMMERCE_LIMIT_REACHED	COMMERCE_PT409
/* PT403: the customer, the IP or the device is on the tenant's play blacklist. */
#define ERRCODE_COMMERCE_BLACKLISTED	COMMERCE_PT403

#endif							/* COMMERCE_ERRCODES_H */
