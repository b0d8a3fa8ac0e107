/*
 * guards.c
 *		Triggers that make the database refuse what must never happen,
 *		whoever writes: the reservation state machine and append-only
 *		ledgers.
 *
 * Reservation states: active -> confirmed | released | expired, each ended
 * exactly once; while active only the deadline may move, and only later.
 * Ended reservations are frozen.  The trigger stamps ended_at.
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/rel.h"

/* Check the trigger is called as BEFORE ... FOR EACH ROW; elog otherwise. */
static TriggerData *
row_trigger(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "%s: not called by trigger manager", name);
	td = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "%s: must be fired BEFORE ... FOR EACH ROW", name);
	return td;
}

/* Text value of a column (NULL if null). */
static char *
column_text(HeapTuple tuple, TupleDesc desc, const char *column)
{
	int			attno = SPI_fnumber(desc, column);

	if (attno <= 0)
		elog(ERROR, "commerce: column \"%s\" not found", column);
	return SPI_getvalue(tuple, desc, attno);
}

/* True when two nullable strings are equal. */
static bool
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

PG_FUNCTION_INFO_V1(commerce_reservation_state_guard);

/* BEFORE INSERT OR UPDATE ON commerce.reservation: the state machine. */
Datum
commerce_reservation_state_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = row_trigger(fcinfo, "reservation_state_guard");
	TupleDesc	desc = td->tg_relation->rd_att;
	HeapTuple	newtup;
	char	   *new_status;
	char	   *old_status;
	int			ended_attno;

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		newtup = td->tg_trigtuple;
		new_status = column_text(newtup, desc, "status");
		if (!same(new_status, "active"))
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_BAD_STATE),
					 errmsg("a reservation starts active, not %s", new_status),
					 errhint("Create reservations with commerce.reserve.")));
		return PointerGetDatum(newtup);
	}
	if (!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		elog(ERROR, "reservation_state_guard: must be fired for INSERT or UPDATE");

	newtup = td->tg_newtuple;
	old_status = column_text(td->tg_trigtuple, desc, "status");
	new_status = column_text(newtup, desc, "status");

	{
		static const char *const frozen[] = {"tenant_id", "reservation_id", "request_id",
		"holder", "created_at"};

		for (int i = 0; i < lengthof(frozen); i++)
			if (!same(column_text(td->tg_trigtuple, desc, frozen[i]),
					  column_text(newtup, desc, frozen[i])))
				ereport(ERROR,
						(errcode(ERRCODE_COMMERCE_BAD_STATE),
						 errmsg("column %s of a reservation cannot change", frozen[i]),
						 errhint("Release the reservation and make a new one.")));
	}

	if (!same(old_status, "active"))
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_BAD_STATE),
				 errmsg("reservation %s is already %s",
						column_text(newtup, desc, "reservation_id"), old_status),
				 errdetail("A reservation ends once: confirmed, released or expired; then it is frozen."),
				 errhint("Make a new reservation.")));

	if (same(new_status, "active"))
	{
		TimestampTz old_exp;
		TimestampTz new_exp;
		bool		isnull;
		int			attno = SPI_fnumber(desc, "expires_at");

		old_exp = DatumGetTimestampTz(heap_getattr(td->tg_trigtuple, attno, desc, &isnull));
		new_exp = DatumGetTimestampTz(heap_getattr(newtup, attno, desc, &isnull));
		if (new_exp < old_exp)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_BAD_STATE),
					 errmsg("the deadline of an active reservation can only move later"),
					 errhint("Release the reservation to end it early.")));
		return PointerGetDatum(newtup);
	}

	/* active -> confirmed | released | expired: stamp ended_at if unset */
	ended_attno = SPI_fnumber(desc, "ended_at");
	if (column_text(newtup, desc, "ended_at") == NULL)
	{
		int			cols[1] = {ended_attno};
		Datum		vals[1] = {TimestampTzGetDatum(commerce_clock())};
		bool		nulls[1] = {false};

		newtup = heap_modify_tuple_by_cols(newtup, desc, 1, cols, vals, nulls);
	}
	return PointerGetDatum(newtup);
}

PG_FUNCTION_INFO_V1(commerce_append_only_guard);

/* BEFORE UPDATE OR DELETE on a ledger: refuse, ledgers are append-only. */
Datum
commerce_append_only_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = row_trigger(fcinfo, "append_only_guard");

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		elog(ERROR, "append_only_guard: must be fired for UPDATE or DELETE");
	ereport(ERROR,
			(errcode(ERRCODE_COMMERCE_APPEND_ONLY),
			 errmsg("%s is append-only", RelationGetRelationName(td->tg_relation)),
			 errdetail("Ledger rows are never updated or deleted."),
			 errhint("Record a correcting entry instead (for stock: commerce.adjust_stock).")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}
