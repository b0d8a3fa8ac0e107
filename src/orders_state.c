/*
 * orders_state.c
 *		The order state machine, enforced by a C trigger on commerce.orders
 *		whoever writes: legal transitions only, times stamped, and one
 *		status history row per change (H3.2.3).
 *
 *   pending_payment -> paid -> shipped -> completed   (forward jumps allowed:
 *                                                       a platform may report
 *                                                       a later state first)
 *   pending_payment -> cancelled
 *   paid | shipped | completed -> after_sale -> refunded
 *                                 after_sale -> the status it came from
 *
 * cancelled and refunded are final.  The reason recorded in the history is
 * the orders.status_reason the changing statement sets; the trigger then
 * clears it, so a reason belongs to one statement and is never carried over
 * to a later change.  (A database still at the SQL of an older release has no
 * such column; its entry points set commerce.reason, which is read then.)
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

static CommercePlan plan_history = {
	"INSERT INTO commerce.order_status_history"
	" (tenant_id, order_id, from_status, to_status, changed_at, reason)"
	" VALUES ($1, $2, $3::commerce.order_status, $4::commerce.order_status, $5, $6)",
	6, {INT8OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID}, NULL
};

/* The forward chain of an order. */
static const char *const chain[] = {"pending_payment", "paid", "shipped", "completed"};

/* Position of a status in the forward chain, or -1. */
static int
chain_pos(const char *status)
{
	for (int i = 0; i < (int) lengthof(chain); i++)
		if (strcmp(status, chain[i]) == 0)
			return i;
	return -1;
}

/* True when old -> new is a legal change of an order's status. */
static bool
legal(const char *old, const char *new, const char *before_after_sale)
{
	int			o = chain_pos(old);
	int			n = chain_pos(new);

	if (o >= 0 && n > o)
		return true;
	if (strcmp(old, "pending_payment") == 0 && strcmp(new, "cancelled") == 0)
		return true;
	if (o >= 1 && strcmp(new, "after_sale") == 0)
		return true;
	if (strcmp(old, "after_sale") == 0)
		return strcmp(new, "refunded") == 0 ||
			(before_after_sale != NULL && strcmp(new, before_after_sale) == 0);
	return false;
}

/*
 * The columns of commerce.orders the state machine reads or writes, in the
 * order of the O_* numbers; their attribute numbers are kept per relation.
 */
static const char *const order_column_names[] = {
	"tenant_id", "order_id", "status", "status_before_after_sale", "updated_at",
	"paid_at", "shipped_at", "completed_at", "cancelled_at", "after_sale_at", "refunded_at",
	"?status_reason"
};
enum
{
	O_TENANT_ID, O_ORDER_ID, O_STATUS, O_BEFORE_AFTER_SALE, O_UPDATED_AT,
	O_PAID_AT, O_SHIPPED_AT, O_COMPLETED_AT, O_CANCELLED_AT, O_AFTER_SALE_AT, O_REFUNDED_AT,
	O_STATUS_REASON
};
static CommerceColumns order_columns = COMMERCE_COLUMNS(order_column_names);

/* The column (O_*) stamped when an order enters a status, or -1 for none. */
static int
stamp_column(const char *status)
{
	static const struct
	{
		const char *status;
		int			column;
	}			map[] = {
		{"paid", O_PAID_AT}, {"shipped", O_SHIPPED_AT}, {"completed", O_COMPLETED_AT},
		{"cancelled", O_CANCELLED_AT}, {"after_sale", O_AFTER_SALE_AT},
		{"refunded", O_REFUNDED_AT}
	};

	for (int i = 0; i < (int) lengthof(map); i++)
		if (strcmp(status, map[i].status) == 0)
			return map[i].column;
	return -1;
}

/* Write one history row for an order's status change, with the statement's reason. */
static void
record_history(HeapTuple tuple, TupleDesc desc, const int *att, const char *from,
			   const char *to, TimestampTz at, const char *reason)
{
	Datum		v[6];
	char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	v[0] = heap_getattr(tuple, att[O_TENANT_ID], desc, &isnull);
	v[1] = heap_getattr(tuple, att[O_ORDER_ID], desc, &isnull);
	v[2] = from ? CStringGetTextDatum(from) : (Datum) 0;
	n[2] = from ? ' ' : 'n';
	v[3] = CStringGetTextDatum(to);
	v[4] = TimestampTzGetDatum(at);
	v[5] = (reason && reason[0]) ? CStringGetTextDatum(reason) : (Datum) 0;
	n[5] = (reason && reason[0]) ? ' ' : 'n';
	commerce_spi_connect();
	commerce_exec(&plan_history, v, n, 0);
	commerce_spi_finish();
}

/* The order_id of a row as text, for messages. */
static char *
order_id_text(HeapTuple tuple, TupleDesc desc, const int *att)
{
	char	   *id = commerce_attr_text(tuple, desc, att[O_ORDER_ID]);

	return id ? id : "NULL";
}

PG_FUNCTION_INFO_V1(commerce_order_state_guard);

/* BEFORE INSERT OR UPDATE ON commerce.orders FOR EACH ROW: the state machine. */
Datum
commerce_order_state_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "order_state_guard", true,
											 COMMERCE_ON_INSERT | COMMERCE_ON_UPDATE, 0);
	TupleDesc	desc = td->tg_relation->rd_att;
	const int  *att = commerce_columns(&order_columns, td->tg_relation);
	HeapTuple	newtup;
	char	   *old_status = NULL;
	char	   *new_status;
	char	   *before = NULL;
	TimestampTz now = commerce_clock();
	int			cols[4];
	Datum		vals[4];
	bool		nulls[4] = {false, false, false, false};
	int			ncols = 0;
	int			stamp;
	const char *reason;

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	oldtup = td->tg_trigtuple;

		newtup = td->tg_newtuple;
		old_status = commerce_attr_text(oldtup, desc, att[O_STATUS]);
		new_status = commerce_attr_text(newtup, desc, att[O_STATUS]);
		/* a NULL status is refused by the NOT NULL constraint after this trigger */
		if (old_status == NULL || new_status == NULL)
			return PointerGetDatum(newtup);
		before = commerce_attr_text(oldtup, desc, att[O_BEFORE_AFTER_SALE]);
		/* where after_sale returns to is the trigger's to set, nobody else's */
		if ((strcmp(new_status, "after_sale") != 0 || strcmp(old_status, "after_sale") == 0) &&
			!commerce_attr_same(oldtup, newtup, desc, att[O_BEFORE_AFTER_SALE]))
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_BAD_STATE),
					 errmsg("status_before_after_sale of order %s cannot be changed",
							order_id_text(newtup, desc, att)),
					 errdetail("It records the status the order had when it entered after_sale."),
					 errhint("Change the order's status; the trigger keeps this column.")));
		if (strcmp(old_status, new_status) == 0)
		{
			/* no change of status: a reason given with it is not kept either */
			if (att[O_STATUS_REASON] > 0 && !heap_attisnull(newtup, att[O_STATUS_REASON], desc))
			{
				cols[0] = att[O_STATUS_REASON];
				nulls[0] = true;
				vals[0] = (Datum) 0;
				newtup = heap_modify_tuple_by_cols(newtup, desc, 1, cols, vals, nulls);
			}
			return PointerGetDatum(newtup);
		}
		if (!legal(old_status, new_status, before))
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_BAD_STATE),
					 errmsg("order %s cannot go from %s to %s",
							order_id_text(newtup, desc, att), old_status, new_status),
					 errdetail("Orders move pending_payment -> paid -> shipped -> completed, may be cancelled while unpaid, and go to after_sale from paid, shipped or completed; after_sale ends refunded or goes back."),
					 errhint("Check the order's current status before changing it.")));
	}
	else
	{
		newtup = td->tg_trigtuple;
		new_status = commerce_attr_text(newtup, desc, att[O_STATUS]);
		/* a NULL status is refused by the NOT NULL constraint after this trigger */
		if (new_status == NULL)
			return PointerGetDatum(newtup);
	}

	/* stamp the time the order entered its status, and where after_sale came from */
	stamp = stamp_column(new_status);
	if (stamp >= 0 && heap_attisnull(newtup, att[stamp], desc))
	{
		cols[ncols] = att[stamp];
		vals[ncols++] = TimestampTzGetDatum(now);
	}
	if (strcmp(new_status, "after_sale") == 0)
	{
		/* status_before_after_sale is an enum: build its datum through the input function */
		Oid			typid = TupleDescAttr(desc, att[O_BEFORE_AFTER_SALE] - 1)->atttypid;
		Oid			infunc;
		Oid			ioparam;

		getTypeInputInfo(typid, &infunc, &ioparam);
		cols[ncols] = att[O_BEFORE_AFTER_SALE];
		vals[ncols++] = OidInputFunctionCall(infunc, old_status ? old_status : "paid", ioparam, -1);
	}
	cols[ncols] = att[O_UPDATED_AT];
	vals[ncols++] = TimestampTzGetDatum(now);
	/* the reason goes to the history, not into the row */
	if (att[O_STATUS_REASON] > 0)
	{
		reason = commerce_attr_text(newtup, desc, att[O_STATUS_REASON]);
		cols[ncols] = att[O_STATUS_REASON];
		nulls[ncols] = true;
		vals[ncols++] = (Datum) 0;
	}
	else
		reason = GetConfigOption("commerce.reason", true, false);
	newtup = heap_modify_tuple_by_cols(newtup, desc, ncols, cols, vals, nulls);
	record_history(newtup, desc, att, old_status, new_status, now, reason);
	return PointerGetDatum(newtup);
}
