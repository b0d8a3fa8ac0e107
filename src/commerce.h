/*
 * commerce.h
 *		Declarations shared by the commerce C sources: the kept-plan cache,
 *		the clock, argument checks, the trigger protocol check and the
 *		jansson glue.  The extension's SQLSTATEs are in commerce_errcodes.h,
 *		its limits in commerce_limits.h.
 *
 * Every SQLSTATE raised by the extension is listed in docs/errors.md.
 */
#ifndef COMMERCE_H
#define COMMERCE_H

#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#include "commerce_errcodes.h"
#include "commerce_limits.h"

/*
 * A statement prepared once per backend and kept (SPI_keepplan).  Declare
 * one as a static with its SQL text (parameters as $n only, never text
 * pasted into the SQL) and argument types; commerce_plan() prepares it on
 * first use.  commerce_exec() runs it read-write; commerce_exec_ro() runs it
 * read-only, for functions declared STABLE or IMMUTABLE.
 *
 * commerce_exec_batch() runs a pump's batch statement, whose arrays hold up
 * to COMMERCE_MAX_BATCH keys, with a plan made without its parameter values
 * (the plan must not also be run by commerce_exec).  A custom plan would see
 * 1,000 keys and join them by hashing the whole table they look up: a
 * sequential scan of every KOC account per batch in the first five batches
 * of each backend, which pg_cron starts anew for every run.  The generic plan
 * expects a few keys and looks each one up in its index, so a batch costs
 * the same however large the table.
 */
typedef struct CommercePlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[COMMERCE_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
} CommercePlan;

/*
 * The attribute numbers of the columns a C trigger (or function) reads, by name, looked
 * up on the first row and kept until a relcache invalidation of the
 * relation (or a row of another relation, or a different column count).
 * Declare one as a static per trigger:
 *     static const char *const names[] = {"tenant_id", "status"};
 *     static CommerceColumns cols = COMMERCE_COLUMNS(names);
 * and read att[i] = commerce_columns(&cols, rel)[i], the column names[i].
 * A name written "?name" may be missing (att[i] = 0): a column that a
 * database still at an older version of the SQL does not have yet.
 */
typedef struct CommerceColumns
{
	const char *const *names;	/* the columns, in the order of attnums */
	int			ncolumns;
	Oid			relid;			/* relation attnums is for; InvalidOid: none */
	int			natts;			/* its column count then */
	bool		registered;		/* on the list the relcache callback walks */
	struct CommerceColumns *next;
	int			attnums[COMMERCE_MAX_TRIGGER_COLUMNS];
} CommerceColumns;

#define COMMERCE_COLUMNS(names_) {.names = (names_), .ncolumns = lengthof(names_)}

/*
 * What a reservation needs to know of a SKU's stock pool and its tenant,
 * kept per backend by src/inventory_pool_cache.c until a row of stock_pool
 * or tenant changes.
 */
typedef struct CommercePoolInfo
{
	int64		sku_id;
	int64		pool_id;
	int32		slot_count;
	bool		has_hold;		/* the pool's own hold (an activity's), if any */
	Interval	hold;
	int64		threshold;		/* low-stock threshold, 0: none */
	bool		alerted;
	Interval	order_hold;		/* the tenant's holds */
	Interval	max_hold;
	bool		soldout;		/* the pool last refused a line as sold out */
} CommercePoolInfo;

extern void inventory_pool_cache_init(void);
extern bool inventory_pool_cache_get(int64 tenant_id, const char *sku, const char *warehouse,
									 const char *activity, CommercePoolInfo *info);
extern uint64 inventory_pool_cache_generation(void);
extern void inventory_pool_cache_put(int64 tenant_id, const char *sku, const char *warehouse,
									 const char *activity, const CommercePoolInfo *info,
									 uint64 generation);
extern void inventory_pool_cache_soldout(int64 tenant_id, const char *sku, const char *warehouse,
										 const char *activity, bool soldout);

/*
 * The events a C trigger accepts, for commerce_trigger_check(): a mask for
 * the row-level events and one for the statement-level events.
 */
#define COMMERCE_ON_INSERT		0x01
#define COMMERCE_ON_UPDATE		0x02
#define COMMERCE_ON_DELETE		0x04
#define COMMERCE_ON_TRUNCATE	0x08

/* commerce.c */
extern TriggerData *commerce_trigger_check(FunctionCallInfo fcinfo, const char *fn, bool before,
										   int row_events, int statement_events);
extern void commerce_columns_init(void);
extern const int *commerce_columns(CommerceColumns *cols, Relation rel);
extern int64 commerce_attr_int64(HeapTuple tuple, TupleDesc desc, int attno, bool *isnull);
extern TimestampTz commerce_attr_timestamptz(HeapTuple tuple, TupleDesc desc, int attno,
											 bool *isnull);
extern char *commerce_attr_text(HeapTuple tuple, TupleDesc desc, int attno);
extern bool commerce_attr_same(HeapTuple a, HeapTuple b, TupleDesc desc, int attno);
extern void commerce_spi_connect(void);
extern void commerce_spi_finish(void);
extern SPIPlanPtr commerce_plan(CommercePlan *p);
extern uint64 commerce_exec(CommercePlan *p, Datum *values, const char *nulls,
							long tcount);
extern uint64 commerce_exec_ro(CommercePlan *p, Datum *values, const char *nulls,
							   long tcount);
extern uint64 commerce_exec_batch(CommercePlan *p, Datum *values, const char *nulls,
								  long tcount);
extern Datum commerce_result_datum(SPITupleTable *tt, uint64 row, int col, bool *isnull);
extern char *commerce_result_text(SPITupleTable *tt, uint64 row, int col);
extern Datum commerce_get_datum(uint64 row, int col, bool *isnull);
extern bool commerce_get_bool(uint64 row, int col, bool *isnull);
extern int32 commerce_get_int32(uint64 row, int col, bool *isnull);
extern int64 commerce_get_int64(uint64 row, int col, bool *isnull);
extern char *commerce_get_text(uint64 row, int col);
extern TimestampTz commerce_get_timestamptz(uint64 row, int col, bool *isnull);
extern TimestampTz commerce_clock(void);
extern void commerce_require_args(FunctionCallInfo fcinfo, int nargs,
								  const char *const *names);
extern char *commerce_key_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void commerce_not_found(const char *what, const char *code, int64 tenant_id) pg_attribute_noreturn();
extern const char *commerce_quote(const char *value);
extern char *commerce_column_text(HeapTuple tuple, TupleDesc desc, const char *column);
extern int64 commerce_tuple_int64(HeapTuple tuple, TupleDesc desc, const char *column, bool *isnull);
extern TimestampTz commerce_tuple_timestamptz(HeapTuple tuple, TupleDesc desc, const char *column,
											  bool *isnull);
extern Datum commerce_make_array(Datum *values, bool *nulls, int n, Oid elemtype);
extern int	commerce_word_index(const char *s, const char *const *words, int n);

/* core_json.c */
typedef struct CommerceCartLine
{
	char	   *sku;			/* SKU code */
	char	   *warehouse;		/* warehouse code or NULL */
	int64		qty;
} CommerceCartLine;

extern void commerce_json_init(void);
extern void commerce_json_reset(void);
extern void commerce_too_many(const char *message, const char *detail, const char *hint,
							  int retry_after) pg_attribute_noreturn();
extern int	commerce_parse_cart(const char *json, size_t len,
								CommerceCartLine **lines);

/* koc_rules.c: level rules compiled once, evaluated per KOC */
#define COMMERCE_LEVEL_METRICS 4	/* redemptions, new_customers, repurchase_rate_bp, gmv_fen */
typedef struct CommerceLevelRule CommerceLevelRule;
extern CommerceLevelRule *commerce_level_rule_compile(text *doc);
extern bool commerce_level_rule_eval(const CommerceLevelRule *rule, const int64 *figures);

/* inventory_reserve.c / inventory_end.c */
extern Datum commerce_reservation_tuple(FunctionCallInfo fcinfo, int64 id,
										const char *status, TimestampTz expires_at);
extern void commerce_record_movement(int64 tenant_id, int64 pool_id, const char *kind,
									 int64 d_on_hand, int64 d_reserved, int64 d_sold,
									 int64 reservation_id, const char *request_id,
									 TimestampTz at);

/* core_money.c: money arithmetic, the only place a rate or a share is computed */
extern int64 commerce_money_rate_floor(int64 amount_fen, int64 rate_bp);
extern void commerce_money_split(int64 amount_fen, int64 share_bp, int64 *share_fen, int64 *rest_fen);
extern int64 commerce_money_fee(int64 amount_fen, int64 fee_bp, int64 min_fee_fen);
extern void commerce_money_allocate(int64 amount_fen, int n, const int64 *weights, const int64 *caps,
									int64 *out);
extern void commerce_money_share(int64 base_fen, int64 cap_fen, int n, const int64 *fixed_fen,
								 const int64 *ratio_bp, int64 *out);

#endif							/* COMMERCE_H */
