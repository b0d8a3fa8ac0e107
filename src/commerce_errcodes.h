/*
 * commerce_errcodes.h
 *		The extension's own SQLSTATEs.
 *
 * Business errors use PostgREST's PTxxx convention: PostgREST answers HTTP
 * xxx for SQLSTATE PTxxx (PT404 -> 404 and so on).  docs/errors.md says
 * when each is raised; validation errors use PostgreSQL's standard codes
 * (22004, 22023, 22P02, 23505, 23514, ...) and are not repeated here.
 *
 * Include after postgres.h (MAKE_SQLSTATE comes from utils/elog.h).
 */
#ifndef COMMERCE_ERRCODES_H
#define COMMERCE_ERRCODES_H

/* PT403: a play for new customers only, joined by a customer with paid orders. */
#define ERRCODE_COMMERCE_NOT_ELIGIBLE	MAKE_SQLSTATE('P','T','4','0','3')
/* PT404: a tenant, SKU, warehouse, channel, tier, reservation, ... does not exist in the tenant. */
#define ERRCODE_COMMERCE_NOT_FOUND		MAKE_SQLSTATE('P','T','4','0','4')
/* PT405: an UPDATE, DELETE or TRUNCATE of an append-only ledger. */
#define ERRCODE_COMMERCE_APPEND_ONLY	MAKE_SQLSTATE('P','T','4','0','5')
/* PT409: not enough available stock (or balance). */
#define ERRCODE_COMMERCE_OUT_OF_STOCK	MAKE_SQLSTATE('P','T','4','0','9')
/* PT410: the reservation has expired. */
#define ERRCODE_COMMERCE_EXPIRED		MAKE_SQLSTATE('P','T','4','1','0')
/* PT412: the reservation, order, activity, KOC, ... is not in the state the call needs. */
#define ERRCODE_COMMERCE_BAD_STATE		MAKE_SQLSTATE('P','T','4','1','2')
/* PT420: the IP made the play's allowed number of actions in the last minute. */
#define ERRCODE_COMMERCE_IP_RATE		MAKE_SQLSTATE('P','T','4','2','0')
/* PT423: a play excluded by another play of its mutex group that the customer is in. */
#define ERRCODE_COMMERCE_MUTEX			MAKE_SQLSTATE('P','T','4','2','3')
/* PT425: the customer made the play's allowed number of actions in the last minute. */
#define ERRCODE_COMMERCE_CUSTOMER_RATE	MAKE_SQLSTATE('P','T','4','2','5')
/* PT429: the per-customer limit of a play is reached. */
#define ERRCODE_COMMERCE_LIMIT_REACHED	MAKE_SQLSTATE('P','T','4','2','9')
/* PT451: the customer, the IP or the device is on the tenant's play blacklist. */
#define ERRCODE_COMMERCE_BLACKLISTED	MAKE_SQLSTATE('P','T','4','5','1')

#endif							/* COMMERCE_ERRCODES_H */
