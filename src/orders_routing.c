/*
 * orders_routing.c
 *		Logistics routing (H3.3.2): pick the carrier of a parcel from
 *		the tenant's routing rules, evaluated in C.
 *
 * Rules are rows of commerce.routing_rule, tried in priority order (then
 * rule_id); the first that matches wins.  A rule matches when each of its
 * conditions that is set holds: the receiver's region is in its regions,
 * the parcel weighs at least min_weight_g, and (for remote = true) the
 * region is one of the remote regions (the tenant's own list, else the
 * default list).  Tenant 0 rows are the defaults for tenants that have none
 * of their own.
 */
#include "commerce.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

static CommercePlan plan_tenant_exists = {
	"SELECT 1 FROM commerce.tenant WHERE tenant_id = $1",
	1, {INT8OID}, NULL
};

static CommercePlan plan_rules = {
	"SELECT r.carrier, r.regions, r.min_weight_g, r.remote,"
	"       (SELECT $2 = ANY (x.regions) FROM commerce.remote_region x"
	"         WHERE x.tenant_id IN ($1, 0) ORDER BY x.tenant_id DESC LIMIT 1)"
	"  FROM commerce.routing_rule r"
	" WHERE r.tenant_id = (SELECT CASE WHEN EXISTS (SELECT 1 FROM commerce.routing_rule"
	"                                                WHERE tenant_id = $1) THEN $1 ELSE 0 END)"
	" ORDER BY r.priority, r.rule_id",
	2, {INT8OID, TEXTOID}, NULL
};

/* True when region is one of the elements of a text[] datum. */
static bool
region_in(Datum regions, const char *region)
{
	ArrayType  *arr = DatumGetArrayTypeP(regions);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && strcmp(TextDatumGetCString(elems[i]), region) == 0)
			return true;
	return false;
}

static const char *const route_args[] = {"p_tenant", "p_region", "p_weight_g"};

PG_FUNCTION_INFO_V1(commerce_route_carrier);

/* commerce.route_carrier(tenant, region, weight_g): the carrier code. */
Datum
commerce_route_carrier(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *region;
	int64		weight;
	Datum		v[2];
	uint64		rows;
	char	   *carrier = NULL;
	MemoryContext caller = CurrentMemoryContext;

	commerce_require_args(fcinfo, 3, route_args);
	tenant_id = PG_GETARG_INT64(0);
	region = text_to_cstring(PG_GETARG_TEXT_PP(1));
	weight = PG_GETARG_INT64(2);
	if (weight < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_weight_g"),
				 errdetail("A parcel weighs " INT64_FORMAT " g.", weight),
				 errhint("Weights are grams, 0 or more.")));

	/* STABLE in SQL: every statement read-only, in the caller's snapshot */
	commerce_spi_connect();
	v[0] = Int64GetDatum(tenant_id);
	if (commerce_exec_ro(&plan_tenant_exists, v, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("tenant \"" INT64_FORMAT "\" not found", tenant_id),
				 errdetail("No tenant with that id exists."),
				 errhint("Create it with commerce.create_tenant(code, name); look ids up with commerce.tenant_id(code).")));
	v[1] = CStringGetTextDatum(region);
	rows = commerce_exec_ro(&plan_rules, v, NULL, 0);
	for (uint64 i = 0; i < rows && carrier == NULL; i++)
	{
		bool		isnull;
		Datum		regions = commerce_get_datum(i, 2, &isnull);
		bool		match = true;
		int64		min_weight;
		bool		remote;

		if (!isnull && !region_in(regions, region))
			match = false;
		min_weight = commerce_get_int64(i, 3, &isnull);
		if (match && !isnull && weight < min_weight)
			match = false;
		remote = commerce_get_bool(i, 4, &isnull);
		if (match && !isnull && remote)
		{
			bool		is_remote = commerce_get_bool(i, 5, &isnull);

			if (isnull || !is_remote)
				match = false;
		}
		if (match)
		{
			char	   *c = commerce_get_text(i, 1);

			carrier = MemoryContextStrdup(caller, c);
		}
	}
	commerce_spi_finish();
	if (carrier == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_FOUND),
				 errmsg("no routing rule matches region \"%s\" and %lld g", region,
						(long long) weight),
				 errdetail("Tenant " INT64_FORMAT " has no rule that matches, and no catch-all rule.",
						   tenant_id),
				 errhint("Add a rule without conditions (a default carrier) to commerce.routing_rule.")));
	PG_RETURN_TEXT_P(cstring_to_text(carrier));
}
