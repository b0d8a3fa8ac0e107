/*
 * koc_levels.c
 *		The monthly KOC level recalculation (K07, K15).
 *
 * commerce.recalculate_levels(tenant, month), for a month closed in the
 * tenant's time zone:
 *   - claims the month (a row in koc_level_run; a second run, even a
 *     concurrent one, finds it and changes nothing);
 *   - compiles each level's promotion rule once (koc_rules.c);
 *   - reads every KOC's figures for the month in one aggregate pass
 *     (commerce.koc_month_figures);
 *   - promotes a KOC to the highest level whose rule its figures meet, or,
 *     when the rule of its own level is not met, demotes it by the tenant's
 *     level_demotion (none, one_step, to_met);
 *   - writes all changes, their figures and koc.level_changed messages in
 *     one set-based statement.
 * The lowest level needs no rule.  A level without a rule is never reached by
 * promotion, and a KOC placed on one by hand keeps it.
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"

static CommercePlan plan_tenant = {
	"SELECT level_demotion,"
	"       ((date_trunc('month', $2::timestamp) + interval '1 month') AT TIME ZONE time_zone) <= $3,"
	"       date_trunc('month', $2::timestamp)::date,"
	"       ((date_trunc('month', $2::timestamp) + interval '1 month') AT TIME ZONE time_zone)"
	"  FROM commerce.tenant WHERE tenant_id = $1",
	3, {INT8OID, DATEOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_claim = {
	"INSERT INTO commerce.koc_level_run (tenant_id, month, koc_count, promoted, demoted, ran_at)"
	" VALUES ($1, $2, 0, 0, 0, $3) ON CONFLICT DO NOTHING RETURNING 1",
	3, {INT8OID, DATEOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_run = {
	"SELECT koc_count, promoted, demoted FROM commerce.koc_level_run WHERE tenant_id = $1 AND month = $2",
	2, {INT8OID, DATEOID}, NULL
};

static CommercePlan plan_levels = {
	"SELECT code, promotion_rule::text FROM commerce.koc_level WHERE tenant_id = $1 ORDER BY rank",
	1, {INT8OID}, NULL
};

static CommercePlan plan_figures = {
	"SELECT k.koc_id, k.level_code, coalesce(f.redemptions, 0), coalesce(f.new_customers, 0),"
	"       coalesce(f.repurchase_rate_bp, 0), coalesce(f.gmv_fen, 0)"
	"  FROM commerce.koc k"
	"  LEFT JOIN commerce.koc_month_figures($1, $2) f ON f.koc_id = k.koc_id"
	" WHERE k.tenant_id = $1 AND k.status <> 'suspended' AND k.joined_at < $3",
	3, {INT8OID, DATEOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_write = {
	/* the figures come as text and are read as jsonb once, for the change and its message */
	"WITH c AS (SELECT koc_id, from_level, to_level, direction, figures::jsonb AS figures"
	"             FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[])"
	"                  AS c(koc_id, from_level, to_level, direction, figures)),"
	/* a KOC whose level or status changed meanwhile keeps what it has now */
	" u AS (UPDATE commerce.koc k SET level_code = c.to_level FROM c"
	"        WHERE k.tenant_id = $1 AND k.koc_id = c.koc_id"
	"          AND k.level_code = c.from_level AND k.status <> 'suspended'"
	"       RETURNING k.koc_id, k.code, c.from_level, c.to_level, c.direction, c.figures),"
	" h AS (INSERT INTO commerce.koc_level_change (tenant_id, koc_id, month, from_level, to_level,"
	"                                              direction, figures, changed_at)"
	"       SELECT $1, koc_id, $7, from_level, to_level, direction, figures, $8 FROM u),"
	" m AS (INSERT INTO commerce.outbox (tenant_id, topic, dedupe_key, payload, available_at, created_at)"
	"       SELECT $1, 'koc.level_changed', 'level:' || u.koc_id || ':' || $7,"
	"              jsonb_build_object('koc', u.code, 'from', u.from_level, 'to', u.to_level,"
	"                                 'direction', u.direction, 'month', $7, 'figures', u.figures),"
	"              $8, $8"
	"         FROM u)"
	" UPDATE commerce.koc_level_run"
	"    SET koc_count = $9,"
	"        promoted = (SELECT count(*) FROM u WHERE direction = 'promote'),"
	"        demoted = (SELECT count(*) FROM u WHERE direction = 'demote')"
	"  WHERE tenant_id = $1 AND month = $7"
	" RETURNING promoted::int8, demoted::int8",
	9, {INT8OID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, DATEOID,
		TIMESTAMPTZOID, INT4OID}, NULL
};

/* The KOC rows to change, locked in key order (as every multi-row lock of the extension). */
static CommercePlan plan_lock_kocs = {
	"SELECT 1 FROM commerce.koc WHERE tenant_id = $1 AND koc_id = ANY ($2) ORDER BY koc_id"
	" FOR NO KEY UPDATE",
	2, {INT8OID, INT8ARRAYOID}, NULL
};

static CommercePlan plan_notify = {
	"SELECT pg_notify('commerce_outbox', 'koc.level_changed')", 0, {InvalidOid}, NULL
};

/* Build the (koc_count, promoted, demoted, already_done) result. */
static Datum
result_tuple(FunctionCallInfo fcinfo, int32 count, int32 promoted, int32 demoted, bool done)
{
	TupleDesc	desc;
	Datum		v[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "recalculate_levels: return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int32GetDatum(count);
	v[1] = Int32GetDatum(promoted);
	v[2] = Int32GetDatum(demoted);
	v[3] = BoolGetDatum(done);
	return HeapTupleGetDatum(heap_form_tuple(desc, v, nulls));
}

PG_FUNCTION_INFO_V1(commerce_recalculate_levels);

/* commerce.recalculate_levels(tenant, month): the month close of one tenant. */
Datum
commerce_recalculate_levels(PG_FUNCTION_ARGS)
{
	static const char *const args[] = {"p_tenant", "p_month"};
	int64		tenant_id;
	TimestampTz now = commerce_clock();
	Datum		v[11];
	bool		isnull;
	char	   *demotion;
	DateADT		month;
	TimestampTz month_end;
	int			nlevels;
	char	  **codes;
	CommerceLevelRule **rules;
	int			nkocs;
	int			nchanges = 0;
	int32		promoted = 0;
	int32		demoted = 0;
	Datum	   *c_koc;
	Datum	   *c_from;
	Datum	   *c_to;
	Datum	   *c_dir;
	Datum	   *c_fig;
	SPITupleTable *kocs;

	commerce_require_args(fcinfo, 2, args);
	tenant_id = PG_GETARG_INT64(0);

	commerce_spi_connect();
	v[0] = Int64GetDatum(tenant_id);
	v[1] = PG_GETARG_DATUM(1);
	v[2] = TimestampTzGetDatum(now);
	if (commerce_exec(&plan_tenant, v, NULL, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("tenant \"" INT64_FORMAT "\" not found", tenant_id),
				 errdetail("No tenant with that id exists."),
				 errhint("Create it with commerce.create_tenant(code, name).")));
	demotion = commerce_get_text(0, 1);
	month = DatumGetDateADT(commerce_get_datum(0, 3, &isnull));
	month_end = commerce_get_timestamptz(0, 4, &isnull);
	if (!commerce_get_bool(0, 2, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_BAD_STATE),
				 errmsg("month %s is not closed yet", commerce_get_text(0, 3)),
				 errdetail("The month closes at %s, tenant time.", commerce_get_text(0, 4)),
				 errhint("Levels are recalculated from a whole month; run it after the month closes.")));

	/* claim the month; a second run waits for the first and finds its row */
	v[1] = DateADTGetDatum(month);
	if (commerce_exec(&plan_claim, v, NULL, 1) == 0)
	{
		commerce_exec(&plan_run, v, NULL, 1);
		nkocs = (int) commerce_get_int64(0, 1, NULL);
		promoted = (int32) commerce_get_int64(0, 2, NULL);
		demoted = (int32) commerce_get_int64(0, 3, NULL);
		commerce_spi_finish();
		PG_RETURN_DATUM(result_tuple(fcinfo, nkocs, promoted, demoted, true));
	}

	/* the levels, lowest first, with their rules compiled once */
	commerce_exec(&plan_levels, v, NULL, 0);
	nlevels = (int) SPI_processed;
	codes = palloc(sizeof(char *) * Max(nlevels, 1));
	rules = palloc0(sizeof(CommerceLevelRule *) * Max(nlevels, 1));
	{
		SPITupleTable *lv = SPI_tuptable;

		for (int j = 0; j < nlevels; j++)
		{
			Datum		rule;

			codes[j] = commerce_result_text(lv, j, 1);
			rule = commerce_result_datum(lv, j, 2, &isnull);
			if (!isnull)
				rules[j] = commerce_level_rule_compile(DatumGetTextPP(rule));
		}
	}

	/* every KOC's figures for the month, in one pass */
	v[2] = TimestampTzGetDatum(month_end);
	commerce_exec(&plan_figures, v, NULL, 0);
	kocs = SPI_tuptable;
	nkocs = (int) SPI_processed;
	c_koc = palloc(sizeof(Datum) * Max(nkocs, 1));
	c_from = palloc(sizeof(Datum) * Max(nkocs, 1));
	c_to = palloc(sizeof(Datum) * Max(nkocs, 1));
	c_dir = palloc(sizeof(Datum) * Max(nkocs, 1));
	c_fig = palloc(sizeof(Datum) * Max(nkocs, 1));

	for (int i = 0; i < nkocs && nlevels > 0; i++)
	{
		int64		f[COMMERCE_LEVEL_METRICS];
		char	   *level = commerce_result_text(kocs, i, 2);
		int			cur = -1;
		int			best = 0;
		int			target;
		bool		cur_holds;

		for (int m = 0; m < COMMERCE_LEVEL_METRICS; m++)
			f[m] = DatumGetInt64(commerce_result_datum(kocs, i, 3 + m, &isnull));
		for (int j = 0; j < nlevels; j++)
		{
			if (strcmp(codes[j], level) == 0)
				cur = j;
			if (j > 0 && rules[j] != NULL && commerce_level_rule_eval(rules[j], f))
				best = j;
		}
		if (cur < 0)
			elog(ERROR, "commerce: KOC level \"%s\" is not a level of tenant " INT64_FORMAT,
				 level, tenant_id);
		/* the lowest level and a level without a rule (set by hand) always hold */
		cur_holds = cur == 0 || rules[cur] == NULL || commerce_level_rule_eval(rules[cur], f);
		target = cur;
		if (best > cur)
			target = best;
		else if (!cur_holds)
		{
			if (strcmp(demotion, "one_step") == 0)
				target = cur - 1;
			else if (strcmp(demotion, "to_met") == 0)
				target = best;
		}
		if (target == cur)
			continue;
		c_koc[nchanges] = commerce_result_datum(kocs, i, 1, &isnull);
		c_from[nchanges] = CStringGetTextDatum(level);
		c_to[nchanges] = CStringGetTextDatum(codes[target]);
		c_dir[nchanges] = CStringGetTextDatum(target > cur ? "promote" : "demote");
		c_fig[nchanges] = CStringGetTextDatum(psprintf("{\"gmv_fen\": " INT64_FORMAT
													   ", \"new_customers\": " INT64_FORMAT
													   ", \"redemptions\": " INT64_FORMAT
													   ", \"repurchase_rate_bp\": " INT64_FORMAT "}",
													   f[3], f[1], f[0], f[2]));
		nchanges++;
	}

	v[1] = commerce_make_array(c_koc, NULL, nchanges, INT8OID);
	if (nchanges > 0)
		commerce_exec_batch(&plan_lock_kocs, v, NULL, 0);
	v[2] = commerce_make_array(c_from, NULL, nchanges, TEXTOID);
	v[3] = commerce_make_array(c_to, NULL, nchanges, TEXTOID);
	v[4] = commerce_make_array(c_dir, NULL, nchanges, TEXTOID);
	v[5] = commerce_make_array(c_fig, NULL, nchanges, TEXTOID);
	v[6] = DateADTGetDatum(month);
	v[7] = TimestampTzGetDatum(now);
	v[8] = Int32GetDatum(nkocs);
	if (commerce_exec_batch(&plan_write, v, NULL, 1) != 1)
		elog(ERROR, "commerce: the level run of tenant " INT64_FORMAT " disappeared", tenant_id);
	promoted = (int32) commerce_get_int64(0, 1, NULL);
	demoted = (int32) commerce_get_int64(0, 2, NULL);
	if (nchanges > 0)
		commerce_exec(&plan_notify, NULL, NULL, 0);
	commerce_spi_finish();
	PG_RETURN_DATUM(result_tuple(fcinfo, nkocs, promoted, demoted, false));
}
