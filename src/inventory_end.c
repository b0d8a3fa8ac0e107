/*
 * inventory_end.c
 *		How reservations end and change: confirm (reserved becomes sold),
 *		release, extend, the expiry batch run by the pump, and the return of
 *		sold goods.
 *
 * Every path locks the reservation row first and checks its status under
 * that lock, so confirm, release and expiry race to end a reservation
 * exactly once: the loser sees the winner's status.  The expiry batch takes
 * its reservations with SKIP LOCKED, so it never waits for (or doubles) a
 * confirm in flight, and two pumps never take the same row.  Slots are then
 * locked in (tenant, pool, slot) order, the global lock order.
 */
#include "commerce.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

static CommercePlan plan_lock_reservation = {
	"SELECT status, expires_at, end_request_id, created_at"
	"  FROM commerce.reservation"
	" WHERE tenant_id = $1 AND reservation_id = $2 FOR UPDATE",
	2, {INT8OID, INT8OID}, NULL
};

static CommercePlan plan_lines = {
	"SELECT pool_id, slot_no, qty FROM commerce.reservation_line"
	" WHERE tenant_id = $1 AND reservation_id = $2 ORDER BY pool_id, slot_no",
	2, {INT8OID, INT8OID}, NULL
};

static CommercePlan plan_slot_end = {
	"UPDATE commerce.stock_slot SET reserved = reserved - $4, sold = sold + $5"
	" WHERE tenant_id = $1 AND pool_id = $2 AND slot_no = $3",
	5, {INT8OID, INT8OID, INT4OID, INT8OID, INT8OID}, NULL
};

static CommercePlan plan_set_ended = {
	"UPDATE commerce.reservation"
	"   SET status = $3::commerce.reservation_status, ended_at = $4, end_request_id = $5"
	" WHERE tenant_id = $1 AND reservation_id = $2",
	5, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID}, NULL
};

static CommercePlan plan_set_expires = {
	"UPDATE commerce.reservation SET expires_at = $3"
	" WHERE tenant_id = $1 AND reservation_id = $2",
	3, {INT8OID, INT8OID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_extend_seen = {
	"SELECT s IS NOT NULL, (s ->> 'expires_at')::timestamptz"
	"  FROM commerce._request_seen($1, 'extend_reservation', $2,"
	"         jsonb_build_object('reservation', $3::int8, 'by', $4::interval::text)) s",
	4, {INT8OID, TEXTOID, INT8OID, INTERVALOID}, NULL
};

static CommercePlan plan_extend_done = {
	"SELECT commerce._request_done($1, 'extend_reservation', $2,"
	"         jsonb_build_object('expires_at', $3::timestamptz))",
	3, {INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_max_hold = {
	"SELECT max_hold FROM commerce.tenant WHERE tenant_id = $1",
	1, {INT8OID}, NULL
};

static CommercePlan plan_expire_due = {
	"WITH due AS MATERIALIZED ("
	"  SELECT tenant_id, reservation_id FROM commerce.reservation"
	"   WHERE status = 'active' AND expires_at <= $1"
	"   ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
	" UPDATE commerce.reservation r SET status = 'expired', ended_at = $1"
	"   FROM due WHERE r.tenant_id = due.tenant_id AND r.reservation_id = due.reservation_id"
	" RETURNING r.tenant_id, r.reservation_id",
	2, {TIMESTAMPTZOID, INT4OID}, NULL
};

static CommercePlan plan_expire_lock_slots = {
	"SELECT 1 FROM commerce.stock_slot s"
	" WHERE (s.tenant_id, s.pool_id, s.slot_no) IN ("
	"   SELECT l.tenant_id, l.pool_id, l.slot_no FROM commerce.reservation_line l"
	"     JOIN unnest($1::int8[], $2::int8[]) AS d(t, r)"
	"       ON l.tenant_id = d.t AND l.reservation_id = d.r)"
	" ORDER BY s.tenant_id, s.pool_id, s.slot_no FOR UPDATE OF s",
	2, {INT8ARRAYOID, INT8ARRAYOID}, NULL
};

static CommercePlan plan_expire_slots = {
	"UPDATE commerce.stock_slot s SET reserved = s.reserved - a.qty"
	"  FROM (SELECT l.tenant_id, l.pool_id, l.slot_no, sum(l.qty) AS qty"
	"          FROM commerce.reservation_line l"
	"          JOIN unnest($1::int8[], $2::int8[]) AS d(t, r)"
	"            ON l.tenant_id = d.t AND l.reservation_id = d.r"
	"         GROUP BY 1, 2, 3) a"
	" WHERE s.tenant_id = a.tenant_id AND s.pool_id = a.pool_id AND s.slot_no = a.slot_no",
	2, {INT8ARRAYOID, INT8ARRAYOID}, NULL
};

static CommercePlan plan_expire_movements = {
	"INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_reserved,"
	" reservation_id, created_at)"
	" SELECT l.tenant_id, l.pool_id, 'expire', -l.qty, l.reservation_id, $3"
	"   FROM commerce.reservation_line l"
	"   JOIN unnest($1::int8[], $2::int8[]) AS d(t, r)"
	"     ON l.tenant_id = d.t AND l.reservation_id = d.r"
	"  ORDER BY l.tenant_id, l.reservation_id, l.line_no",
	3, {INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_return_line = {
	"SELECT l.line_no, l.pool_id, l.slot_no, l.qty - l.returned_qty"
	"  FROM commerce.reservation_line l"
	"  JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id"
	" WHERE l.tenant_id = $1 AND l.reservation_id = $2 AND s.code = $3"
	" ORDER BY l.line_no",
	3, {INT8OID, INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_return_seen = {
	"SELECT commerce._request_seen($1, 'return_stock', $2,"
	"  jsonb_build_object('reservation', $3::int8, 'sku', $4::text, 'qty', $5::int8))",
	5, {INT8OID, TEXTOID, INT8OID, TEXTOID, INT8OID}, NULL
};

static CommercePlan plan_return_done = {
	"SELECT commerce._request_done($1, 'return_stock', $2, jsonb_build_object('returnable', $3::int8))",
	3, {INT8OID, TEXTOID, INT8OID}, NULL
};

static CommercePlan plan_returned = {
	"UPDATE commerce.reservation_line SET returned_qty = returned_qty + $4"
	" WHERE tenant_id = $1 AND reservation_id = $2 AND line_no = $3",
	4, {INT8OID, INT8OID, INT4OID, INT8OID}, NULL
};

static const char *const end_args[] = {"p_tenant", "p_reservation", "p_request_id", "p_by"};

/* The locked state of one reservation. */
typedef struct LockedReservation
{
	const char *status;
	TimestampTz expires_at;
	TimestampTz created_at;
	char	   *end_request_id;
} LockedReservation;

/* Constant status string (outlives SPI_finish). */
static const char *
status_of(const char *s)
{
	static const char *const known[] = {"active", "confirmed", "released", "expired"};

	for (int i = 0; i < (int) lengthof(known); i++)
		if (strcmp(s, known[i]) == 0)
			return known[i];
	elog(ERROR, "commerce: unexpected reservation status \"%s\"", s);
	return NULL;				/* keep compiler quiet */
}

/* Lock a reservation row and read its state; PT404 if it does not exist. */
static void
lock_reservation(int64 tenant_id, int64 id, LockedReservation *r)
{
	Datum		v[2];

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(id);
	if (commerce_exec(&plan_lock_reservation, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("reservation " INT64_FORMAT " not found", id),
				 errdetail("No reservation with that id exists in tenant " INT64_FORMAT ".",
						   tenant_id),
				 errhint("Check the id and the tenant; rows of other tenants are never visible.")));
	r->status = status_of(commerce_get_text(0, 1));
	r->expires_at = commerce_get_timestamptz(0, 2, NULL);
	r->end_request_id = commerce_get_text(0, 3);
	r->created_at = commerce_get_timestamptz(0, 4, NULL);
}

static void not_active(int64 id, LockedReservation *r, const char *verb) pg_attribute_noreturn();

/* Raise PT410 (expired) or PT409 (already ended) for a reservation that is not active. */
static void
not_active(int64 id, LockedReservation *r, const char *verb)
{
	if (strcmp(r->status, "expired") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_EXPIRED),
				 errmsg("reservation " INT64_FORMAT " has expired", id),
				 errdetail("It expired at %s; its stock went back to the pool.",
						   timestamptz_to_str(r->expires_at)),
				 errhint("Reserve again.")));
	ereport(ERROR,
			(errcode(ERRCODE_COMMERCE_BAD_STATE),
			 errmsg("cannot %s reservation " INT64_FORMAT ": it is already %s", verb, id,
					r->status),
			 errdetail("A reservation ends once: confirmed, released or expired."),
			 errhint("Look the reservation up before acting on it again.")));
}

static void past_deadline(int64 id, LockedReservation *r) pg_attribute_noreturn();

/* Raise PT410 for an active reservation whose deadline has passed. */
static void
past_deadline(int64 id, LockedReservation *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_COMMERCE_EXPIRED),
			 errmsg("reservation " INT64_FORMAT " has expired", id),
			 errdetail("It expired at %s; the expiry job returns its stock to the pool.",
					   timestamptz_to_str(r->expires_at)),
			 errhint("Reserve again.")));
}

/* Confirm or release: move each line's units out of reserved. */
static Datum
end_reservation(FunctionCallInfo fcinfo, bool confirm)
{
	const char *target = confirm ? "confirmed" : "released";
	int64		tenant_id;
	int64		id;
	char	   *request_id;
	TimestampTz now = commerce_clock();
	LockedReservation r;
	uint64		nlines;
	int64	   *pool;
	int32	   *slot;
	int64	   *qty;
	Datum		v[5];

	commerce_require_args(fcinfo, 3, end_args);
	tenant_id = PG_GETARG_INT64(0);
	id = PG_GETARG_INT64(1);
	request_id = commerce_key_arg(fcinfo, 2, "p_request_id");

	commerce_spi_connect();
	lock_reservation(tenant_id, id, &r);

	/* a retry of the call that ended it returns the same result */
	if (strcmp(r.status, target) == 0 && r.end_request_id != NULL &&
		strcmp(r.end_request_id, request_id) == 0)
	{
		commerce_spi_finish();
		return commerce_reservation_tuple(fcinfo, id, r.status, r.expires_at);
	}
	if (strcmp(r.status, "active") != 0)
		not_active(id, &r, confirm ? "confirm" : "release");
	if (confirm && r.expires_at <= now)
		past_deadline(id, &r);

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(id);
	nlines = commerce_exec(&plan_lines, v, NULL, 0);
	pool = palloc(sizeof(int64) * (nlines + 1));
	slot = palloc(sizeof(int32) * (nlines + 1));
	qty = palloc(sizeof(int64) * (nlines + 1));
	for (uint64 i = 0; i < nlines; i++)
	{
		bool		isnull;

		pool[i] = commerce_get_int64(i, 1, NULL);
		slot[i] = commerce_get_int32(i, 2, &isnull);
		qty[i] = commerce_get_int64(i, 3, NULL);
	}
	for (uint64 i = 0; i < nlines; i++)
	{
		v[1] = Int64GetDatum(pool[i]);
		v[2] = Int32GetDatum(slot[i]);
		v[3] = Int64GetDatum(qty[i]);
		v[4] = Int64GetDatum(confirm ? qty[i] : 0);
		commerce_exec(&plan_slot_end, v, NULL, 0);
		commerce_record_movement(tenant_id, pool[i], confirm ? "confirm" : "release",
								 0, -qty[i], confirm ? qty[i] : 0, id, request_id, now);
	}

	v[1] = Int64GetDatum(id);
	v[2] = CStringGetTextDatum(target);
	v[3] = TimestampTzGetDatum(now);
	v[4] = CStringGetTextDatum(request_id);
	commerce_exec(&plan_set_ended, v, NULL, 0);

	commerce_spi_finish();
	return commerce_reservation_tuple(fcinfo, id, target, r.expires_at);
}

PG_FUNCTION_INFO_V1(commerce_confirm_reservation);

/* commerce.confirm_reservation(tenant, reservation, request_id) */
Datum
commerce_confirm_reservation(PG_FUNCTION_ARGS)
{
	return end_reservation(fcinfo, true);
}

PG_FUNCTION_INFO_V1(commerce_release_reservation);

/* commerce.release_reservation(tenant, reservation, request_id) */
Datum
commerce_release_reservation(PG_FUNCTION_ARGS)
{
	return end_reservation(fcinfo, false);
}

PG_FUNCTION_INFO_V1(commerce_extend_reservation);

/* commerce.extend_reservation(tenant, reservation, request_id, by) */
Datum
commerce_extend_reservation(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	int64		id;
	char	   *request_id;
	Interval   *by;
	Interval	max_hold;
	TimestampTz now = commerce_clock();
	TimestampTz new_expires;
	TimestampTz limit;
	LockedReservation r;
	Datum		v[4];
	bool		isnull;

	commerce_require_args(fcinfo, 4, end_args);
	tenant_id = PG_GETARG_INT64(0);
	id = PG_GETARG_INT64(1);
	request_id = commerce_key_arg(fcinfo, 2, "p_request_id");
	by = PG_GETARG_INTERVAL_P(3);

	commerce_spi_connect();
	lock_reservation(tenant_id, id, &r);

	/* a retry of this extend (same request_id and interval) returns its result */
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(request_id);
	v[2] = Int64GetDatum(id);
	v[3] = IntervalPGetDatum(by);
	commerce_exec(&plan_extend_seen, v, NULL, 1);
	if (commerce_get_bool(0, 1, &isnull))
	{
		TimestampTz first = commerce_get_timestamptz(0, 2, NULL);

		commerce_spi_finish();
		return commerce_reservation_tuple(fcinfo, id, r.status, first);
	}
	if (strcmp(r.status, "active") != 0)
		not_active(id, &r, "extend");
	if (r.expires_at <= now)
		past_deadline(id, &r);

	v[0] = Int64GetDatum(tenant_id);
	commerce_exec(&plan_max_hold, v, NULL, 1);
	max_hold = *DatumGetIntervalP(commerce_get_datum(0, 1, &isnull));
	new_expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														  TimestampTzGetDatum(r.expires_at),
														  IntervalPGetDatum(by)));
	limit = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(r.created_at),
													IntervalPGetDatum(&max_hold)));
	if (new_expires <= r.expires_at || new_expires > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_by"),
				 errdetail("The new deadline %s must be later than the current one and at most max_hold (%s) after the reservation was made.",
						   timestamptz_to_str(new_expires),
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(&max_hold)))),
				 errhint("Extend by a positive interval that keeps the hold within the tenant's max_hold.")));

	v[1] = Int64GetDatum(id);
	v[2] = TimestampTzGetDatum(new_expires);
	commerce_exec(&plan_set_expires, v, NULL, 0);
	v[1] = CStringGetTextDatum(request_id);
	v[2] = TimestampTzGetDatum(new_expires);
	commerce_exec(&plan_extend_done, v, NULL, 1);
	commerce_spi_finish();
	return commerce_reservation_tuple(fcinfo, id, "active", new_expires);
}

PG_FUNCTION_INFO_V1(commerce_expire_reservations);

/* commerce.expire_reservations(limit): expire one batch of due reservations. */
Datum
commerce_expire_reservations(PG_FUNCTION_ARGS)
{
	int32		limit = PG_ARGISNULL(0) ? COMMERCE_DEFAULT_BATCH : PG_GETARG_INT32(0);
	TimestampTz now = commerce_clock();
	uint64		n;
	Datum	   *tenants;
	Datum	   *ids;
	Datum		v[3];

	if (limit < 1 || limit > COMMERCE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_limit"),
				 errdetail("A batch is 1 to " CppAsString2(COMMERCE_MAX_BATCH) " reservations; got %d.", limit),
				 errhint("Use the default (" CppAsString2(COMMERCE_DEFAULT_BATCH) ") or call commerce.expire_pump() to drain everything due.")));

	commerce_spi_connect();
	v[0] = TimestampTzGetDatum(now);
	v[1] = Int32GetDatum(limit);
	n = commerce_exec(&plan_expire_due, v, NULL, 0);
	if (n == 0)
	{
		commerce_spi_finish();
		PG_RETURN_INT32(0);
	}
	tenants = palloc(sizeof(Datum) * n);
	ids = palloc(sizeof(Datum) * n);
	for (uint64 i = 0; i < n; i++)
	{
		tenants[i] = Int64GetDatum(commerce_get_int64(i, 1, NULL));
		ids[i] = Int64GetDatum(commerce_get_int64(i, 2, NULL));
	}
	v[0] = PointerGetDatum(construct_array(tenants, (int) n, INT8OID, 8, FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
	v[1] = PointerGetDatum(construct_array(ids, (int) n, INT8OID, 8, FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
	v[2] = TimestampTzGetDatum(now);
	commerce_exec_batch(&plan_expire_lock_slots, v, NULL, 0);
	commerce_exec_batch(&plan_expire_slots, v, NULL, 0);
	commerce_exec_batch(&plan_expire_movements, v, NULL, 0);
	commerce_spi_finish();
	PG_RETURN_INT32((int32) n);
}

static const char *const return_args[] = {"p_tenant", "p_request_id", "p_reservation",
"p_sku", "p_qty"};

PG_FUNCTION_INFO_V1(commerce_return_stock);

/* commerce.return_stock(tenant, request_id, reservation, sku, qty) */
Datum
commerce_return_stock(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *request_id;
	int64		id;
	char	   *sku;
	int64		qty;
	LockedReservation r;
	Datum		v[5];
	bool		isnull;
	int32		line_no;
	int64		pool;
	int32		slot;
	int64		returnable;

	commerce_require_args(fcinfo, 5, return_args);
	tenant_id = PG_GETARG_INT64(0);
	request_id = commerce_key_arg(fcinfo, 1, "p_request_id");
	id = PG_GETARG_INT64(2);
	sku = text_to_cstring(PG_GETARG_TEXT_PP(3));
	qty = PG_GETARG_INT64(4);
	if (qty < 1 || qty > COMMERCE_MAX_QTY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_qty"),
				 errdetail("Quantity " INT64_FORMAT " is outside 1 to %d.", qty, COMMERCE_MAX_QTY),
				 errhint("Return at least one unit.")));

	commerce_spi_connect();
	lock_reservation(tenant_id, id, &r);

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(request_id);
	v[2] = Int64GetDatum(id);
	v[3] = CStringGetTextDatum(sku);
	v[4] = Int64GetDatum(qty);
	commerce_exec(&plan_return_seen, v, NULL, 1);
	commerce_get_datum(0, 1, &isnull);
	if (!isnull)
	{
		char	   *seen = commerce_get_text(0, 1);
		Datum		j = DirectFunctionCall1(jsonb_in, CStringGetDatum(seen));
		Datum		f = DirectFunctionCall2(jsonb_object_field_text, j,
											CStringGetTextDatum("returnable"));
		int64		result = DatumGetInt64(DirectFunctionCall1(int8in,
															   CStringGetDatum(TextDatumGetCString(f))));

		commerce_spi_finish();
		PG_RETURN_INT64(result);
	}

	if (strcmp(r.status, "confirmed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_BAD_STATE),
				 errmsg("cannot return goods of reservation " INT64_FORMAT ": it is %s",
						id, r.status),
				 errdetail("Only sold (confirmed) stock can come back."),
				 errhint("An active reservation is released instead; an expired or released one holds nothing.")));

	v[2] = CStringGetTextDatum(sku);
	v[1] = Int64GetDatum(id);
	if (commerce_exec(&plan_return_line, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("reservation " INT64_FORMAT " has no line for SKU \"%s\"", id, sku),
				 errhint("Return only SKUs the reservation sold.")));
	line_no = commerce_get_int32(0, 1, &isnull);
	pool = commerce_get_int64(0, 2, NULL);
	slot = commerce_get_int32(0, 3, &isnull);
	returnable = commerce_get_int64(0, 4, NULL);
	if (qty > returnable)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot return " INT64_FORMAT " units of SKU \"%s\"", qty, sku),
				 errdetail("Reservation " INT64_FORMAT " has " INT64_FORMAT " units of it left to return.",
						   id, returnable),
				 errhint("Return at most the units sold and not yet returned.")));

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(pool);
	v[2] = Int32GetDatum(slot);
	v[3] = Int64GetDatum(0);
	v[4] = Int64GetDatum(-qty);
	commerce_exec(&plan_slot_end, v, NULL, 0);
	v[1] = Int64GetDatum(id);
	v[2] = Int32GetDatum(line_no);
	v[3] = Int64GetDatum(qty);
	commerce_exec(&plan_returned, v, NULL, 0);
	commerce_record_movement(tenant_id, pool, "return", 0, 0, -qty, id, request_id,
							 commerce_clock());
	v[1] = CStringGetTextDatum(request_id);
	v[2] = Int64GetDatum(returnable - qty);
	commerce_exec(&plan_return_done, v, NULL, 1);
	commerce_spi_finish();
	PG_RETURN_INT64(returnable - qty);
}
