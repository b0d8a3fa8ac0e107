/*
 * inventory_reserve.c
 *		commerce.reserve and commerce.reserve_sku: hold stock for a holder,
 *		every line or none, without making the buyers of one hot SKU queue
 *		on one row.
 *
 * A pool's stock is spread over slot rows (commerce.stock_slot).  A line
 * first takes a slot that has enough stock and that no other transaction
 * holds (FOR UPDATE SKIP LOCKED, starting at a slot picked by backend pid),
 * writing the slot, the reservation line and the ledger row in one statement.
 * If there is none it reads the committed total without locking: when that
 * is short the pool is sold out and the line is refused at once, without
 * waiting (the sold-out fast path).  When stock exists but is spread too
 * thin, it gathers units from the slots it can lock without waiting; when
 * the stock is held by transactions in flight, it waits for one of them and
 * tries again.
 *
 * A buyer never waits for a slot while holding another slot of the same
 * pool: each attempt runs in a subtransaction that is rolled back when it
 * fails, which releases the locks it took (FOR UPDATE SKIP LOCKED also
 * locks rows that then fail the recheck, and row locks are released only at
 * the end of a (sub)transaction), and the wait itself is a lock taken in a
 * subtransaction and dropped at once.
 * Lines are summed per pool and processed in pool_id order, and within a
 * pool slots are locked in slot order, so two carts never deadlock.  The
 * reservation header is inserted first (ON CONFLICT on its request_id), so
 * a concurrent retry of the same request waits for the first and then
 * returns its result.
 */
#include "commerce.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/resowner.h"

/* One line of a reservation, resolved to a stock pool. */
typedef struct ReserveLine
{
	const char *sku;
	const char *warehouse;
	int64		qty;
	int64		sku_id;
	int64		pool_id;
	int32		slot_count;
	bool		has_hold;
	Interval	hold;
	int64		threshold;
	bool		alerted;
	int64		home_available;	/* committed, in the caller's home slot */
	int32		slot_no;
} ReserveLine;

static CommercePlan plan_tenant = {
	"SELECT t.order_hold, t.max_hold, r.reservation_id"
	"  FROM commerce.tenant t"
	"  LEFT JOIN commerce.reservation r"
	"    ON r.tenant_id = t.tenant_id AND r.request_id = $2"
	" WHERE t.tenant_id = $1",
	2, {INT8OID, TEXTOID}, NULL
};

/*
 * Pool lookups also return the tenant's holds and what the caller's home
 * slot has available (for the sold-out check): one statement.  The SKU and
 * warehouse are scalar subqueries and the tenant is joined by its key, so
 * that the only sensible plan, generic or not, is a handful of unique-index
 * probes.  Whether the request_id was used before is answered by the header
 * insert (ON CONFLICT), and before a sold-out refusal by plan_repeat_id.
 */
#define LOOKUP_COLUMNS \
	"SELECT p.sku_id, p.pool_id, p.slot_count, p.status, p.hold," \
	"       p.low_stock_threshold, p.low_stock_alerted, t.order_hold, t.max_hold," \
	"       (SELECT on_hand - reserved - sold FROM commerce.stock_slot h" \
	"         WHERE h.tenant_id = $1 AND h.pool_id = p.pool_id" \
	"           AND h.slot_no = $4 % p.slot_count)" \
	"  FROM commerce.stock_pool p JOIN commerce.tenant t ON t.tenant_id = $1" \
	" WHERE p.tenant_id = $1" \
	"   AND p.sku_id = (SELECT sku_id FROM commerce.sku WHERE tenant_id = $1 AND code = $2)"

static CommercePlan plan_root_pool = {
	LOOKUP_COLUMNS
	"   AND p.parent_pool_id IS NULL"
	"   AND ($3::text IS NULL OR p.warehouse_id ="
	"        (SELECT warehouse_id FROM commerce.warehouse WHERE tenant_id = $1 AND code = $3))"
	" LIMIT 2",
	4, {INT8OID, TEXTOID, TEXTOID, INT4OID}, NULL
};

static CommercePlan plan_activity_pool = {
	LOOKUP_COLUMNS
	"   AND p.activity = $3 AND p.parent_pool_id IS NOT NULL",
	4, {INT8OID, TEXTOID, TEXTOID, INT4OID}, NULL
};

static CommercePlan plan_repeat_id = {
	"SELECT reservation_id FROM commerce.reservation WHERE tenant_id = $1 AND request_id = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_warehouse_exists = {
	"SELECT 1 FROM commerce.warehouse WHERE tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_sku_exists = {
	"SELECT 1 FROM commerce.sku WHERE tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_insert_header = {
	"INSERT INTO commerce.reservation (tenant_id, request_id, holder, expires_at, created_at)"
	" VALUES ($1, $2, $3, $4, $5)"
	" ON CONFLICT (tenant_id, request_id) DO NOTHING"
	" RETURNING reservation_id",
	5, {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_existing = {
	"SELECT r.reservation_id, r.status, r.expires_at, r.holder,"
	"       (SELECT string_agg(code || ':' || qty, ',' ORDER BY code)"
	"          FROM (SELECT s.code, sum(l.qty) AS qty FROM commerce.reservation_line l"
	"                  JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id"
	"                 WHERE l.tenant_id = r.tenant_id AND l.reservation_id = r.reservation_id"
	"                 GROUP BY s.code) x)"
	"  FROM commerce.reservation r"
	" WHERE r.tenant_id = $1 AND r.request_id = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_requested = {
	"SELECT string_agg(sku || ':' || qty, ',' ORDER BY sku)"
	"  FROM (SELECT sku, sum(qty) AS qty FROM unnest($1::text[], $2::int8[]) AS x(sku, qty)"
	"         GROUP BY sku) y",
	2, {TEXTARRAYOID, INT8ARRAYOID}, NULL
};

/*
 * The fast path of one line in one statement: take a free slot that can
 * cover the line, and write the reservation line and the ledger row.  The
 * slot is the first free one from slot $4 on, in slot order (a primary key
 * range scan that usually stops at its first row: each backend starts at a
 * home slot of its own).  The
 * slot is chosen by a scalar subquery, which runs once: a locking subquery
 * joined in UPDATE ... FROM may be rescanned per target row and lock (and
 * update) several slots.
 */
static CommercePlan plan_take_fast = {
	"WITH s AS ("
	"  UPDATE commerce.stock_slot SET reserved = reserved + $3"
	"   WHERE tenant_id = $1 AND pool_id = $2 AND slot_no ="
	"         (SELECT slot_no FROM commerce.stock_slot"
	"           WHERE tenant_id = $1 AND pool_id = $2 AND slot_no >= $4"
	"             AND on_hand - reserved - sold >= $3"
	"           ORDER BY slot_no"
	"           LIMIT 1 FOR UPDATE SKIP LOCKED)"
	"  RETURNING slot_no),"
	" l AS ("
	"  INSERT INTO commerce.reservation_line"
	"   (tenant_id, reservation_id, line_no, sku_id, pool_id, slot_no, qty)"
	"  SELECT $1, $5, $6, $7, $2, s.slot_no, $3 FROM s"
	"  RETURNING slot_no),"
	" m AS ("
	"  INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_reserved,"
	"   reservation_id, request_id, created_at)"
	"  SELECT $1, $2, 'reserve', $3, $5, $8, $9 FROM l)"
	" SELECT slot_no FROM l",
	9, {INT8OID, INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_available = {
	"SELECT coalesce(sum(on_hand - reserved - sold), 0)::int8"
	"  FROM commerce.stock_slot WHERE tenant_id = $1 AND pool_id = $2",
	2, {INT8OID, INT8OID}, NULL
};

static CommercePlan plan_lock_free_slots = {
	"SELECT slot_no, on_hand - reserved - sold FROM commerce.stock_slot"
	" WHERE tenant_id = $1 AND pool_id = $2 AND on_hand - reserved - sold > 0"
	" ORDER BY slot_no FOR UPDATE SKIP LOCKED",
	2, {INT8OID, INT8OID}, NULL
};

static CommercePlan plan_wait_slot = {
	"SELECT 1 FROM commerce.stock_slot"
	" WHERE tenant_id = $1 AND pool_id = $2 AND slot_no ="
	"       (SELECT slot_no FROM commerce.stock_slot"
	"         WHERE tenant_id = $1 AND pool_id = $2 AND on_hand - reserved - sold > 0"
	"         ORDER BY on_hand - reserved - sold DESC, slot_no LIMIT 1)"
	" FOR UPDATE",
	2, {INT8OID, INT8OID}, NULL
};

static CommercePlan plan_slot_move = {
	"UPDATE commerce.stock_slot SET on_hand = on_hand + $4, reserved = reserved + $5"
	" WHERE tenant_id = $1 AND pool_id = $2 AND slot_no = $3",
	5, {INT8OID, INT8OID, INT4OID, INT8OID, INT8OID}, NULL
};

static CommercePlan plan_insert_line = {
	"INSERT INTO commerce.reservation_line"
	" (tenant_id, reservation_id, line_no, sku_id, pool_id, slot_no, qty)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)",
	7, {INT8OID, INT8OID, INT4OID, INT8OID, INT8OID, INT4OID, INT8OID}, NULL
};

static CommercePlan plan_movement = {
	"INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, d_reserved,"
	" d_sold, reservation_id, request_id, created_at)"
	" VALUES ($1, $2, $3::commerce.stock_movement_kind, $4, $5, $6, $7, $8, $9)",
	9, {INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_low_stock = {
	"WITH a AS ("
	"  UPDATE commerce.stock_pool SET low_stock_alerted = true"
	"   WHERE tenant_id = $1 AND pool_id = $2 AND NOT low_stock_alerted"
	"  RETURNING tenant_id, pool_id, activity, low_stock_threshold)"
	" SELECT commerce.enqueue(a.tenant_id, 'stock.low',"
	"          jsonb_build_object('pool_id', a.pool_id, 'sku', $3::text,"
	"                             'activity', a.activity, 'available', $4::int8,"
	"                             'threshold', a.low_stock_threshold))"
	"   FROM a",
	4, {INT8OID, INT8OID, TEXTOID, INT8OID}, NULL
};

/* Append one row to the stock ledger. */
void
commerce_record_movement(int64 tenant_id, int64 pool_id, const char *kind,
						 int64 d_on_hand, int64 d_reserved, int64 d_sold,
						 int64 reservation_id, const char *request_id, TimestampTz at)
{
	Datum		v[9];
	char		n[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(pool_id);
	v[2] = CStringGetTextDatum(kind);
	v[3] = Int64GetDatum(d_on_hand);
	v[4] = Int64GetDatum(d_reserved);
	v[5] = Int64GetDatum(d_sold);
	v[6] = Int64GetDatum(reservation_id);
	if (reservation_id == 0)
		n[6] = 'n';
	v[7] = request_id ? CStringGetTextDatum(request_id) : (Datum) 0;
	if (request_id == NULL)
		n[7] = 'n';
	v[8] = TimestampTzGetDatum(at);
	commerce_exec(&plan_movement, v, n, 0);
}

/* Build the commerce.reservation_result row (call after SPI_finish). */
Datum
commerce_reservation_tuple(FunctionCallInfo fcinfo, int64 id, const char *status,
						   TimestampTz expires_at)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(status);
	values[2] = TimestampTzGetDatum(expires_at);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* Map a status read from SPI to a constant string that outlives SPI_finish. */
static const char *
status_constant(const char *s)
{
	if (strcmp(s, "active") == 0)
		return "active";
	if (strcmp(s, "confirmed") == 0)
		return "confirmed";
	if (strcmp(s, "released") == 0)
		return "released";
	if (strcmp(s, "expired") == 0)
		return "expired";
	elog(ERROR, "commerce: unexpected reservation status \"%s\"", s);
	return NULL;				/* keep compiler quiet */
}

/* Order lines by pool_id: the fixed lock order. */
static int
line_cmp(const void *a, const void *b)
{
	const ReserveLine *x = a;
	const ReserveLine *y = b;

	return (x->pool_id > y->pool_id) - (x->pool_id < y->pool_id);
}

/* What a reservation call knows besides its lines. */
typedef struct ReserveContext
{
	int64		tenant_id;
	const char *request_id;
	const char *activity;
	Interval	order_hold;
	Interval	max_hold;
	int64		repeat_id;		/* reservation made by an earlier call, or 0 */
} ReserveContext;

/*
 * A lookup found nothing: say why.  Returns (without raising) when the
 * request_id was used before, so the caller can answer the repeat.
 */
static void
lookup_failed(ReserveContext *ctx, ReserveLine *line)
{
	Datum		v[2];
	bool		isnull;

	v[0] = Int64GetDatum(ctx->tenant_id);
	v[1] = CStringGetTextDatum(ctx->request_id);
	if (commerce_exec(&plan_tenant, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("tenant \"" INT64_FORMAT "\" not found", ctx->tenant_id),
				 errdetail("No tenant with that id exists."),
				 errhint("Create it with commerce.create_tenant(code, name); look ids up with commerce.tenant_id(code).")));
	ctx->repeat_id = commerce_get_int64(0, 3, &isnull);
	if (!isnull)
		return;

	v[1] = CStringGetTextDatum(line->sku);
	if (commerce_exec(&plan_sku_exists, v, NULL, 1) == 0)
		commerce_not_found("SKU", line->sku, ctx->tenant_id);
	if (ctx->activity == NULL && line->warehouse != NULL)
	{
		v[1] = CStringGetTextDatum(line->warehouse);
		if (commerce_exec(&plan_warehouse_exists, v, NULL, 1) == 0)
			commerce_not_found("warehouse", line->warehouse, ctx->tenant_id);
	}
	if (ctx->activity != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("activity \"%s\" has no stock of SKU \"%s\"", commerce_quote(ctx->activity), line->sku),
				 errhint("Allocate stock to the activity with commerce.allocate_stock, or reserve without the activity.")));
	ereport(ERROR,
			(errcode(ERRCODE_COMMERCE_OUT_OF_STOCK),
			 errmsg("insufficient stock for SKU \"%s\"", line->sku),
			 errdetail("Requested " INT64_FORMAT ", available 0: the SKU has never been received%s%s.",
					   line->qty, line->warehouse ? " in warehouse " : "",
					   line->warehouse ? line->warehouse : ""),
			 errhint("Receive stock with commerce.receive_stock first.")));
}

/* The reservation an earlier call made with ctx's request_id, or 0. */
static int64
find_repeat(ReserveContext *ctx)
{
	Datum		v[2];

	v[0] = Int64GetDatum(ctx->tenant_id);
	v[1] = CStringGetTextDatum(ctx->request_id);
	if (commerce_exec(&plan_repeat_id, v, NULL, 1) == 0)
		return 0;
	return commerce_get_int64(0, 1, NULL);
}

/* The warehouse a line's lookup names (none for an activity's pool). */
#define LOOKUP_WAREHOUSE(ctx, line) ((ctx)->activity ? NULL : (line)->warehouse)

/*
 * Resolve a line's SKU code to the pool it draws from, reading the tenant's
 * holds on the way: from the backend's pool cache (src/inventory_pool_cache.c)
 * when it has them, else by a statement whose result is then kept.  When
 * the line cannot be taken (no such pool, several, an ended activity), sets
 * ctx->repeat_id and returns if the request_id was used before (and raises
 * if not): a retry gets the first answer even after the pool changed.
 */
static void
resolve_pool(ReserveContext *ctx, ReserveLine *line)
{
	Datum		v[4];
	char		n[4] = {' ', ' ', ' ', ' '};
	uint64		rows;
	bool		isnull;
	CommercePoolInfo info;
	uint64		generation;

	if (inventory_pool_cache_get(ctx->tenant_id, line->sku, LOOKUP_WAREHOUSE(ctx, line),
								 ctx->activity, &info))
	{
		line->sku_id = info.sku_id;
		line->pool_id = info.pool_id;
		line->slot_count = info.slot_count;
		line->has_hold = info.has_hold;
		line->hold = info.hold;
		line->threshold = info.threshold;
		line->alerted = info.alerted;
		ctx->order_hold = info.order_hold;
		ctx->max_hold = info.max_hold;
		/* nothing available is kept: after a sold-out refusal, check first */
		line->home_available = info.soldout ? -1 : PG_INT64_MAX;
		return;
	}

	generation = inventory_pool_cache_generation();
	v[0] = Int64GetDatum(ctx->tenant_id);
	v[1] = CStringGetTextDatum(line->sku);
	v[3] = Int32GetDatum(MyProcPid);
	if (ctx->activity != NULL)
	{
		v[2] = CStringGetTextDatum(ctx->activity);
		rows = commerce_exec(&plan_activity_pool, v, n, 0);
	}
	else
	{
		v[2] = line->warehouse ? CStringGetTextDatum(line->warehouse) : (Datum) 0;
		n[2] = line->warehouse ? ' ' : 'n';
		rows = commerce_exec(&plan_root_pool, v, n, 0);
	}
	if (rows == 0)
	{
		lookup_failed(ctx, line);
		return;
	}
	if (rows > 1)
	{
		/* a repeat of the request_id answers with the first reservation */
		ctx->repeat_id = find_repeat(ctx);
		if (ctx->repeat_id != 0)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SKU \"%s\" is stocked in several warehouses", line->sku),
				 errhint("Name the warehouse in the cart line: {\"sku\":\"%s\",\"qty\":" INT64_FORMAT ",\"warehouse\":\"<code>\"}.",
						 line->sku, line->qty)));
	}

	line->sku_id = commerce_get_int64(0, 1, NULL);
	line->pool_id = commerce_get_int64(0, 2, NULL);
	line->slot_count = commerce_get_int32(0, 3, NULL);
	if (strcmp(commerce_get_text(0, 4), "open") != 0)
	{
		ctx->repeat_id = find_repeat(ctx);
		if (ctx->repeat_id != 0)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_BAD_STATE),
				 errmsg("activity \"%s\" has ended", ctx->activity ? commerce_quote(ctx->activity) : ""),
				 errdetail("Its stock pool " INT64_FORMAT " for SKU \"%s\" is closed.",
						   line->pool_id, line->sku),
				 errhint("Reserve without the activity to buy at the regular terms.")));
	}
	{
		Datum		h = commerce_get_datum(0, 5, &isnull);

		line->has_hold = !isnull;
		if (!isnull)
			line->hold = *DatumGetIntervalP(h);
	}
	line->threshold = commerce_get_int64(0, 6, NULL);
	line->alerted = commerce_get_bool(0, 7, NULL);
	{
		Datum		order_hold = commerce_get_datum(0, 8, &isnull);
		bool		no_order_hold = isnull;
		Datum		max_hold = commerce_get_datum(0, 9, &isnull);

		/* NOT NULL columns of the tenant, which a pool cannot outlive */
		if (no_order_hold || isnull)
			elog(ERROR, "commerce: tenant " INT64_FORMAT " of pool " INT64_FORMAT " not found",
				 ctx->tenant_id, line->pool_id);
		ctx->order_hold = *DatumGetIntervalP(order_hold);
		ctx->max_hold = *DatumGetIntervalP(max_hold);
	}
	line->home_available = commerce_get_int64(0, 10, NULL);

	info.sku_id = line->sku_id;
	info.pool_id = line->pool_id;
	info.slot_count = line->slot_count;
	info.has_hold = line->has_hold;
	if (line->has_hold)
		info.hold = line->hold;
	else
		memset(&info.hold, 0, sizeof(Interval));
	info.threshold = line->threshold;
	info.alerted = line->alerted;
	info.order_hold = ctx->order_hold;
	info.max_hold = ctx->max_hold;
	info.soldout = false;
	inventory_pool_cache_put(ctx->tenant_id, line->sku, LOOKUP_WAREHOUSE(ctx, line),
							 ctx->activity, &info, generation);
}


/* now + interval */
static TimestampTz
add_interval(TimestampTz t, Interval *i)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(t),
												   IntervalPGetDatum(i)));
}

/* Run fn(arg) in a subtransaction kept if it returns true, rolled back if not. */
static bool
in_subxact(bool (*fn) (void *), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		kept = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		kept = fn(arg);
		if (kept)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	return kept;
}

/* One line being taken, for the attempts run in subtransactions. */
typedef struct TakeAttempt
{
	ReserveContext *ctx;
	ReserveLine *line;
	Datum	   *fast_args;		/* the nine arguments of plan_take_fast */
	int64		id;
	int			line_no;
	TimestampTz now;
} TakeAttempt;

/* Attempt: the fast path (one free slot that covers the line). */
static bool
attempt_fast(void *arg)
{
	TakeAttempt *t = arg;
	bool		isnull;

	if (commerce_exec(&plan_take_fast, t->fast_args, NULL, 0) != 1)
	{
		/* nothing free from the home slot on: look from the first slot */
		if (DatumGetInt32(t->fast_args[3]) == 0)
			return false;
		t->fast_args[3] = Int32GetDatum(0);
		if (commerce_exec(&plan_take_fast, t->fast_args, NULL, 0) != 1)
			return false;
	}
	t->line->slot_no = commerce_get_int32(0, 1, &isnull);
	return true;
}

/*
 * Attempt: gather the line's units into one slot from the slots that can be
 * locked without waiting, then take them there and record the line.
 */
static bool
attempt_gather(void *arg)
{
	TakeAttempt *t = arg;
	ReserveLine *line = t->line;
	Datum		v[7];
	uint64		rows;
	int32	   *slot;
	int64	   *avail;
	int64		total = 0;
	int64		need;
	int64		moved = 0;
	uint64		target = 0;

	v[0] = Int64GetDatum(t->ctx->tenant_id);
	v[1] = Int64GetDatum(line->pool_id);
	rows = commerce_exec(&plan_lock_free_slots, v, NULL, 0);
	if (rows == 0)
		return false;
	slot = palloc(sizeof(int32) * rows);
	avail = palloc(sizeof(int64) * rows);
	for (uint64 i = 0; i < rows; i++)
	{
		bool		isnull;

		slot[i] = commerce_get_int32(i, 1, &isnull);
		avail[i] = commerce_get_int64(i, 2, NULL);
		total += avail[i];
		if (avail[i] > avail[target])
			target = i;
	}
	if (total < line->qty)
		return false;

	need = line->qty - avail[target];
	for (uint64 i = 0; i < rows && need > 0; i++)
	{
		int64		take;

		if (i == target)
			continue;
		take = Min(avail[i], need);
		v[2] = Int32GetDatum(slot[i]);
		v[3] = Int64GetDatum(-take);
		v[4] = Int64GetDatum(0);
		commerce_exec(&plan_slot_move, v, NULL, 0);
		need -= take;
		moved += take;
	}
	v[2] = Int32GetDatum(slot[target]);
	v[3] = Int64GetDatum(moved);
	v[4] = Int64GetDatum(line->qty);
	commerce_exec(&plan_slot_move, v, NULL, 0);
	line->slot_no = slot[target];

	v[1] = Int64GetDatum(t->id);
	v[2] = Int32GetDatum(t->line_no);
	v[3] = Int64GetDatum(line->sku_id);
	v[4] = Int64GetDatum(line->pool_id);
	v[5] = Int32GetDatum(line->slot_no);
	v[6] = Int64GetDatum(line->qty);
	commerce_exec(&plan_insert_line, v, NULL, 0);
	commerce_record_movement(t->ctx->tenant_id, line->pool_id, "reserve", 0, line->qty, 0,
							 t->id, t->ctx->request_id, t->now);
	return true;
}

/*
 * Attempt (never kept): wait for the transaction holding the slot with the
 * most committed stock to end, by locking that slot and letting go at once.
 */
static bool
attempt_wait(void *arg)
{
	TakeAttempt *t = arg;
	Datum		v[2];

	v[0] = Int64GetDatum(t->ctx->tenant_id);
	v[1] = Int64GetDatum(t->line->pool_id);
	commerce_exec(&plan_wait_slot, v, NULL, 0);
	return false;
}

/*
 * PT409 when the committed available total of the line's pool is short; the
 * pool cache remembers the outcome for the next call's sold-out check.
 */
static void
refuse_if_short(ReserveContext *ctx, ReserveLine *line)
{
	Datum		v[2];
	int64		available;

	v[0] = Int64GetDatum(ctx->tenant_id);
	v[1] = Int64GetDatum(line->pool_id);
	commerce_exec(&plan_available, v, NULL, 1);
	available = commerce_get_int64(0, 1, NULL);
	inventory_pool_cache_soldout(ctx->tenant_id, line->sku, LOOKUP_WAREHOUSE(ctx, line),
								 ctx->activity, available < line->qty);
	if (available < line->qty)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_OUT_OF_STOCK),
				 errmsg("insufficient stock for SKU \"%s\"", line->sku),
				 errdetail("Requested " INT64_FORMAT ", available " INT64_FORMAT " (pool " INT64_FORMAT ").",
						   line->qty, available, line->pool_id),
				 errhint("Reduce the quantity; stock comes back when reservations are released or expire.")));
}

/*
 * Take a line's units from its pool and record them (line and ledger row)
 * for reservation id; PT409 if the pool cannot cover them.
 */
static void
take_line(ReserveContext *ctx, ReserveLine *line, int64 id, int line_no, TimestampTz now)
{
	Datum		v[9];
	TakeAttempt t = {ctx, line, v, id, line_no, now};

	v[0] = Int64GetDatum(ctx->tenant_id);
	v[1] = Int64GetDatum(line->pool_id);
	v[2] = Int64GetDatum(line->qty);
	v[4] = Int64GetDatum(id);
	v[5] = Int32GetDatum(line_no);
	v[6] = Int64GetDatum(line->sku_id);
	v[7] = CStringGetTextDatum(ctx->request_id);
	v[8] = TimestampTzGetDatum(now);

	for (;;)
	{
		v[3] = Int32GetDatum(MyProcPid % line->slot_count);	/* the home slot */
		if (in_subxact(attempt_fast, &t))
			return;

		/* committed total short: refuse, never wait */
		refuse_if_short(ctx, line);

		/* stock is spread over several slots, or held by buyers in flight */
		if (in_subxact(attempt_gather, &t))
			return;
		in_subxact(attempt_wait, &t);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Raise one low-stock alert when a line takes its pool under the threshold. */
static void
check_low_stock(int64 tenant_id, ReserveLine *line)
{
	Datum		v[4];
	int64		available;

	if (line->threshold <= 0 || line->alerted)
		return;
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(line->pool_id);
	commerce_exec(&plan_available, v, NULL, 1);
	available = commerce_get_int64(0, 1, NULL);
	if (available >= line->threshold)
		return;
	v[2] = CStringGetTextDatum(line->sku);
	v[3] = Int64GetDatum(available);
	commerce_exec(&plan_low_stock, v, NULL, 0);
}

/*
 * A repeat of a request_id: the first reservation if it asked for the same
 * SKUs and quantities for the same holder, 23505 otherwise.
 */
static int64
repeat_result(int64 tenant_id, const char *request_id, const char *holder,
			  ReserveLine *lines, int nlines, const char **status, TimestampTz *expires_at)
{
	Datum		v[2];
	Datum	   *skus = palloc(sizeof(Datum) * nlines);
	Datum	   *qtys = palloc(sizeof(Datum) * nlines);
	int64		id;
	char	   *first_holder;
	char	   *first_lines;
	char	   *requested;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(request_id);
	if (commerce_exec(&plan_existing, v, NULL, 1) != 1)
		elog(ERROR, "commerce: reservation for request \"%s\" vanished", request_id);
	id = commerce_get_int64(0, 1, NULL);
	*status = status_constant(commerce_get_text(0, 2));
	*expires_at = commerce_get_timestamptz(0, 3, NULL);
	first_holder = commerce_get_text(0, 4);
	first_lines = commerce_get_text(0, 5);

	for (int i = 0; i < nlines; i++)
	{
		skus[i] = CStringGetTextDatum(lines[i].sku);
		qtys[i] = Int64GetDatum(lines[i].qty);
	}
	v[0] = PointerGetDatum(construct_array(skus, nlines, TEXTOID, -1, false, TYPALIGN_INT));
	v[1] = PointerGetDatum(construct_array(qtys, nlines, INT8OID, 8, FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
	commerce_exec(&plan_requested, v, NULL, 1);
	requested = commerce_get_text(0, 1);

	if (strcmp(first_holder, holder) != 0 || first_lines == NULL ||
		strcmp(first_lines, requested) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("request_id \"%s\" was already used for a different reservation",
						commerce_quote(request_id)),
				 errdetail("First call: holder %s, lines %s; this call: holder %s, lines %s.",
						   first_holder, first_lines ? first_lines : "none", holder, requested),
				 errhint("Generate a new request_id for a new reservation; reuse one only to retry the same call.")));
	return id;
}

/* Answer a repeat of the request_id: the first reservation, or 23505. */
static Datum
answer_repeat(FunctionCallInfo fcinfo, ReserveContext *ctx, const char *holder,
			  ReserveLine *lines, int nlines)
{
	const char *status;
	TimestampTz expires_at;
	int64		id = repeat_result(ctx->tenant_id, ctx->request_id, holder, lines, nlines,
								   &status, &expires_at);

	commerce_spi_finish();
	return commerce_reservation_tuple(fcinfo, id, status, expires_at);
}

/*
 * The body shared by reserve and reserve_sku.  lines are the caller's
 * (unresolved) lines; activity may be NULL; ttl NULL means the default.
 */
static Datum
reserve_lines(FunctionCallInfo fcinfo, int64 tenant_id, const char *request_id,
			  const char *holder, ReserveLine *lines, int nlines, Interval *ttl,
			  const char *activity)
{
	ReserveContext ctx = {.tenant_id = tenant_id, .request_id = request_id, .activity = activity};
	TimestampTz now = commerce_clock();
	TimestampTz expires_at;
	TimestampTz max_expires;
	Interval   *hold = NULL;
	const char *status = "active";
	int64		id;
	int			n;
	Datum		v[5];
	ReserveLine *requested;		/* the lines as asked, before summing */

	commerce_spi_connect();

	/*
	 * Resolve pools.  Whether the request_id was used before is asked only
	 * where this call would fail (the lookup, the cart total, the hold, the
	 * sold-out check) and answered by the header insert otherwise: a retry
	 * always gets the first answer.
	 */
	for (int i = 0; i < nlines && ctx.repeat_id == 0; i++)
		resolve_pool(&ctx, &lines[i]);
	if (ctx.repeat_id != 0)
		return answer_repeat(fcinfo, &ctx, holder, lines, nlines);
	requested = palloc(sizeof(ReserveLine) * nlines);
	memcpy(requested, lines, sizeof(ReserveLine) * nlines);

	/* sum lines on the same pool; pool_id order is the lock order */
	qsort(lines, nlines, sizeof(ReserveLine), line_cmp);
	n = 0;
	for (int i = 0; i < nlines; i++)
	{
		if (n > 0 && lines[n - 1].pool_id == lines[i].pool_id)
		{
			lines[n - 1].qty += lines[i].qty;
			if (lines[n - 1].qty > COMMERCE_MAX_QTY &&
				(ctx.repeat_id = find_repeat(&ctx)) != 0)
				return answer_repeat(fcinfo, &ctx, holder, requested, nlines);
			if (lines[n - 1].qty > COMMERCE_MAX_QTY)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid cart: SKU \"%s\" totals more than %d units",
								lines[i].sku, COMMERCE_MAX_QTY),
						 errhint("A reservation holds at most " CppAsString2(COMMERCE_MAX_QTY) " units of one SKU.")));
		}
		else
			lines[n++] = lines[i];
	}

	/* the hold: explicit ttl, else the shortest activity hold, else the order hold */
	if (ttl != NULL)
		hold = ttl;
	else
	{
		for (int i = 0; i < n; i++)
			if (lines[i].has_hold &&
				(hold == NULL ||
				 DatumGetInt32(DirectFunctionCall2(interval_cmp,
												   IntervalPGetDatum(&lines[i].hold),
												   IntervalPGetDatum(hold))) < 0))
				hold = &lines[i].hold;
		if (hold == NULL)
			hold = &ctx.order_hold;
	}
	expires_at = add_interval(now, hold);
	max_expires = add_interval(now, &ctx.max_hold);
	if ((expires_at <= now || expires_at > max_expires) &&
		(ctx.repeat_id = find_repeat(&ctx)) != 0)
		return answer_repeat(fcinfo, &ctx, holder, lines, n);
	if (expires_at <= now || expires_at > max_expires)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_ttl"),
				 errdetail("A reservation is held for more than 0 and at most the tenant's max_hold (%s).",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(&ctx.max_hold)))),
				 errhint("Pass a positive interval such as '15 minutes', or NULL for the default.")));

	/*
	 * Sold-out fast path: a line whose home slot cannot cover it and whose
	 * pool's committed total is short is refused before anything is
	 * written, unless the request_id was used before (its answer is the
	 * first reservation).  (A total that looks sufficient is checked again
	 * under the locks: this only saves work.)
	 */
	for (int i = 0; i < n && ctx.repeat_id == 0; i++)
		if (lines[i].home_available < lines[i].qty)
		{
			ctx.repeat_id = find_repeat(&ctx);
			if (ctx.repeat_id == 0)
				refuse_if_short(&ctx, &lines[i]);
		}

	/* the header first: a concurrent retry of this request waits here */
	if (ctx.repeat_id == 0)
	{
		v[0] = Int64GetDatum(tenant_id);
		v[1] = CStringGetTextDatum(request_id);
		v[2] = CStringGetTextDatum(holder);
		v[3] = TimestampTzGetDatum(expires_at);
		v[4] = TimestampTzGetDatum(now);
		if (commerce_exec(&plan_insert_header, v, NULL, 0) == 0)
			ctx.repeat_id = -1;
	}
	if (ctx.repeat_id != 0)
		return answer_repeat(fcinfo, &ctx, holder, lines, n);
	id = commerce_get_int64(0, 1, NULL);

	for (int i = 0; i < n; i++)
	{
		take_line(&ctx, &lines[i], id, i + 1, now);
		check_low_stock(tenant_id, &lines[i]);
	}

	commerce_spi_finish();
	return commerce_reservation_tuple(fcinfo, id, status, expires_at);
}

static const char *const reserve_args[] = {"p_tenant", "p_request_id", "p_holder", "p_cart"};

PG_FUNCTION_INFO_V1(commerce_reserve);

/* commerce.reserve(tenant, request_id, holder, cart json text, ttl, activity) */
Datum
commerce_reserve(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *request_id;
	char	   *holder;
	text	   *cart;
	CommerceCartLine *parsed;
	ReserveLine *lines;
	int			n;

	commerce_require_args(fcinfo, 4, reserve_args);
	tenant_id = PG_GETARG_INT64(0);
	request_id = commerce_key_arg(fcinfo, 1, "p_request_id");
	holder = commerce_key_arg(fcinfo, 2, "p_holder");
	cart = PG_GETARG_TEXT_PP(3);

	n = commerce_parse_cart(VARDATA_ANY(cart), VARSIZE_ANY_EXHDR(cart), &parsed);
	lines = palloc0(sizeof(ReserveLine) * n);
	for (int i = 0; i < n; i++)
	{
		lines[i].sku = parsed[i].sku;
		lines[i].warehouse = parsed[i].warehouse;
		lines[i].qty = parsed[i].qty;
	}
	return reserve_lines(fcinfo, tenant_id, request_id, holder, lines, n,
						 PG_ARGISNULL(4) ? NULL : PG_GETARG_INTERVAL_P(4),
						 PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5)));
}

static const char *const reserve_sku_args[] = {"p_tenant", "p_request_id", "p_holder",
"p_sku", "p_qty"};

PG_FUNCTION_INFO_V1(commerce_reserve_sku);

/* commerce.reserve_sku(tenant, request_id, holder, sku, qty, ttl, activity, warehouse) */
Datum
commerce_reserve_sku(PG_FUNCTION_ARGS)
{
	ReserveLine *line = palloc0(sizeof(ReserveLine));
	int64		tenant_id;
	char	   *request_id;
	char	   *holder;

	commerce_require_args(fcinfo, 5, reserve_sku_args);
	tenant_id = PG_GETARG_INT64(0);
	request_id = commerce_key_arg(fcinfo, 1, "p_request_id");
	holder = commerce_key_arg(fcinfo, 2, "p_holder");
	line->sku = text_to_cstring(PG_GETARG_TEXT_PP(3));
	line->qty = PG_GETARG_INT64(4);
	line->warehouse = PG_ARGISNULL(7) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(7));
	if (line->qty < 1 || line->qty > COMMERCE_MAX_QTY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_qty"),
				 errdetail("Quantity " INT64_FORMAT " is outside 1 to %d.", line->qty,
						   COMMERCE_MAX_QTY),
				 errhint("Reserve at least one unit.")));
	return reserve_lines(fcinfo, tenant_id, request_id, holder, line, 1,
						 PG_ARGISNULL(5) ? NULL : PG_GETARG_INTERVAL_P(5),
						 PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6)));
}
