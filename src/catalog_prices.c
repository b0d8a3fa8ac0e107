/*
 * catalog_prices.c
 *		Prices: resolving the price of a SKU for a channel, member tier and
 *		moment, and the floor guard that refuses any price below a SKU's
 *		floor when it is set, never at checkout (H3.1.2).
 *
 * Resolution: the base is the lowest channel price valid at the moment for
 * the channel, else the MSRP; a member price (for the customer's tier) or a
 * flash price valid at the moment wins when it is lower.  Within member and
 * flash prices, one set for this channel overrides one set for every
 * channel.  Ties go to flash, then member, then channel, then MSRP; within a
 * kind, to the lower price_id, so the answer is stable.
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

static CommercePlan plan_sku = {
	"SELECT sku_id, msrp_fen, EXISTS (SELECT 1 FROM commerce.tenant WHERE tenant_id = $1)"
	"  FROM (SELECT 1) one"
	"  LEFT JOIN commerce.sku ON tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_channel = {
	"SELECT channel_id FROM commerce.channel WHERE tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_tier = {
	"SELECT 1 FROM commerce.member_tier WHERE tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_candidates = {
	"SELECT kind, price_fen, price_id, channel_id FROM commerce.price"
	" WHERE tenant_id = $1 AND sku_id = $2 AND valid_from <= $5 AND valid_to > $5"
	"   AND ((kind = 'channel' AND channel_id = $3)"
	"     OR (kind = 'member' AND member_tier = $4 AND (channel_id IS NULL OR channel_id = $3))"
	"     OR (kind = 'flash' AND (channel_id IS NULL OR channel_id = $3)))",
	5, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_floor = {
	"SELECT floor_fen, code FROM commerce.sku WHERE tenant_id = $1 AND sku_id = $2 FOR SHARE",
	2, {INT8OID, INT8OID}, NULL
};

static CommercePlan plan_prices_below = {
	"SELECT price_id, kind, price_fen FROM commerce.price"
	" WHERE tenant_id = $1 AND sku_id = $2 AND price_fen < $3 AND valid_to > $4"
	" ORDER BY price_fen, price_id LIMIT 1",
	4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, NULL
};

/* Rank of a price source for ties: higher wins. */
static int
source_rank(const char *kind)
{
	if (strcmp(kind, "flash") == 0)
		return 3;
	if (strcmp(kind, "member") == 0)
		return 2;
	if (strcmp(kind, "channel") == 0)
		return 1;
	return 0;
}

static const char *const price_args[] = {"p_tenant", "p_sku", "p_channel"};

PG_FUNCTION_INFO_V1(commerce_resolve_price);

/* commerce.resolve_price(tenant, sku, channel, member_tier, at) */
Datum
commerce_resolve_price(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *sku;
	char	   *channel;
	char	   *tier;
	TimestampTz at;
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};
	static const char *const kinds[] = {"channel", "member", "flash"};
	bool		found[3] = {false, false, false};
	bool		is_specific[3] = {false, false, false};
	int64		kind_price[3] = {0, 0, 0};
	int64		kind_id[3] = {0, 0, 0};
	int64		sku_id;
	int64		best;
	int64		best_id = 0;
	const char *best_kind = "msrp";
	uint64		rows;
	bool		isnull;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	commerce_require_args(fcinfo, 3, price_args);
	tenant_id = PG_GETARG_INT64(0);
	sku = text_to_cstring(PG_GETARG_TEXT_PP(1));
	channel = text_to_cstring(PG_GETARG_TEXT_PP(2));
	tier = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	at = PG_ARGISNULL(4) ? commerce_clock() : PG_GETARG_TIMESTAMPTZ(4);

	/* STABLE in SQL: every statement read-only, in the caller's snapshot */
	commerce_spi_connect();
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(sku);
	commerce_exec_ro(&plan_sku, v, NULL, 1);
	if (!commerce_get_bool(0, 3, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("tenant \"" INT64_FORMAT "\" not found", tenant_id),
				 errdetail("No tenant with that id exists."),
				 errhint("Create it with commerce.create_tenant(code, name); look ids up with commerce.tenant_id(code).")));
	sku_id = commerce_get_int64(0, 1, &isnull);
	if (isnull)
		commerce_not_found("SKU", sku, tenant_id);
	best = commerce_get_int64(0, 2, NULL);

	v[1] = CStringGetTextDatum(channel);
	if (commerce_exec_ro(&plan_channel, v, NULL, 1) == 0)
		commerce_not_found("channel", channel, tenant_id);
	v[2] = Int64GetDatum(commerce_get_int64(0, 1, NULL));
	if (tier != NULL)
	{
		v[1] = CStringGetTextDatum(tier);
		if (commerce_exec_ro(&plan_tier, v, NULL, 1) == 0)
			commerce_not_found("member tier", tier, tenant_id);
		v[3] = CStringGetTextDatum(tier);
	}
	else
		n[3] = 'n';
	v[1] = Int64GetDatum(sku_id);
	v[4] = TimestampTzGetDatum(at);
	rows = commerce_exec_ro(&plan_candidates, v, n, 0);

	/*
	 * Per kind, the lowest valid price; for member and flash prices one made
	 * for this channel overrides one made for every channel.
	 */
	for (uint64 i = 0; i < rows; i++)
	{
		char	   *kind = commerce_get_text(i, 1);
		int			k = strcmp(kind, "channel") == 0 ? 0 : strcmp(kind, "member") == 0 ? 1 : 2;
		bool		specific;
		int64		price = commerce_get_int64(i, 2, NULL);
		int64		id = commerce_get_int64(i, 3, NULL);

		commerce_get_int64(i, 4, &specific);
		specific = !specific;
		if (!found[k] || (specific && !is_specific[k]) ||
			(specific == is_specific[k] &&
			 (price < kind_price[k] || (price == kind_price[k] && id < kind_id[k]))))
		{
			found[k] = true;
			is_specific[k] = specific;
			kind_price[k] = price;
			kind_id[k] = id;
		}
	}

	/* the channel price (or MSRP) unless a member or flash price is lower */
	if (found[0])
	{
		best = kind_price[0];
		best_id = kind_id[0];
		best_kind = "channel";
	}
	for (int k = 1; k <= 2; k++)
		if (found[k] && (kind_price[k] < best ||
						 (kind_price[k] == best && source_rank(kinds[k]) > source_rank(best_kind))))
		{
			best = kind_price[k];
			best_id = kind_id[k];
			best_kind = kinds[k];
		}
	commerce_spi_finish();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(best);
	values[1] = CStringGetTextDatum(best_kind);
	values[2] = Int64GetDatum(best_id);
	nulls[2] = (best_id == 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* int64 value of a named column of a trigger tuple. */
static int64
tuple_int64(HeapTuple tuple, TupleDesc desc, const char *column)
{
	bool		isnull;

	return commerce_tuple_int64(tuple, desc, column, &isnull);
}

PG_FUNCTION_INFO_V1(commerce_price_floor_guard);

/* BEFORE INSERT OR UPDATE ON commerce.price: no price below the SKU floor. */
Datum
commerce_price_floor_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "price_floor_guard", true,
											 COMMERCE_ON_INSERT | COMMERCE_ON_UPDATE, 0);
	TupleDesc	desc = td->tg_relation->rd_att;
	HeapTuple	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	int64		tenant_id = tuple_int64(tuple, desc, "tenant_id");
	int64		price = tuple_int64(tuple, desc, "price_fen");
	Datum		v[2];
	int64		floor_fen;

	commerce_spi_connect();
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(tuple_int64(tuple, desc, "sku_id"));
	/* FOR SHARE: a concurrent floor change waits, then sees this price */
	if (commerce_exec(&plan_floor, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("SKU " INT64_FORMAT " not found", DatumGetInt64(v[1])),
				 errhint("Set prices on SKUs of the same tenant.")));
	floor_fen = commerce_get_int64(0, 1, NULL);
	if (price < floor_fen)
	{
		char	   *kind = commerce_column_text(tuple, desc, "kind");

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("price " INT64_FORMAT " fen is below the floor of SKU \"%s\"",
						price, commerce_get_text(0, 2)),
				 errdetail("The floor is " INT64_FORMAT " fen; no %s price may go below it.",
						   floor_fen, kind ? kind : "NULL"),
				 errhint("Raise the price, or lower the SKU's floor_fen first.")));
	}
	commerce_spi_finish();
	return PointerGetDatum(tuple);
}

PG_FUNCTION_INFO_V1(commerce_sku_floor_guard);

/* BEFORE INSERT OR UPDATE OF msrp_fen, floor_fen ON commerce.sku: MSRP and live prices stay at or above the floor. */
Datum
commerce_sku_floor_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "sku_floor_guard", true,
											 COMMERCE_ON_INSERT | COMMERCE_ON_UPDATE, 0);
	TupleDesc	desc = td->tg_relation->rd_att;
	HeapTuple	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	int64		floor_fen = tuple_int64(tuple, desc, "floor_fen");
	int64		msrp = tuple_int64(tuple, desc, "msrp_fen");
	char	   *code = commerce_column_text(tuple, desc, "code");
	Datum		v[4];

	if (code == NULL)
		code = "NULL";			/* NOT NULL: refused after this trigger */
	if (msrp < floor_fen)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("MSRP " INT64_FORMAT " fen is below the floor of SKU \"%s\"", msrp, code),
				 errdetail("The floor is " INT64_FORMAT " fen.", floor_fen),
				 errhint("The floor is the minimum selling price: keep it at or below the MSRP.")));
	if (!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(tuple);

	commerce_spi_connect();
	v[0] = Int64GetDatum(tuple_int64(tuple, desc, "tenant_id"));
	v[1] = Int64GetDatum(tuple_int64(tuple, desc, "sku_id"));
	v[2] = Int64GetDatum(floor_fen);
	v[3] = TimestampTzGetDatum(commerce_clock());
	if (commerce_exec(&plan_prices_below, v, NULL, 1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("floor " INT64_FORMAT " fen of SKU \"%s\" is above a price that is still valid",
						floor_fen, code),
				 errdetail("Price %s (%s) is " INT64_FORMAT " fen.", commerce_get_text(0, 1),
						   commerce_get_text(0, 2), commerce_get_int64(0, 3, NULL)),
				 errhint("Raise or end that price first, then raise the floor.")));
	commerce_spi_finish();
	return PointerGetDatum(tuple);
}
