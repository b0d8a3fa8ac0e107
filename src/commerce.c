/*
 * commerce.c
 *		Module entry point and the helpers every commerce C source shares:
 *		the commerce.now setting (controlled time for tests), the kept-plan
 *		cache over SPI, checked result accessors, argument checks, the
 *		trigger protocol check and the per-relation attribute numbers that
 *		triggers read columns by.
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* commerce.now: when set (superuser only), the clock commerce uses. */
static char *commerce_now_setting = NULL;

/* commerce.tenant_id: the tenant of SQL callers without JWT claims. */
static char *commerce_tenant_setting = NULL;

/*
 * commerce.reason: why an order changed status, as the SQL of releases before
 * 0.7.0 passes it (0.7.0 passes orders.status_reason in the statement); kept
 * so that a database not yet upgraded keeps its history reasons.
 */
static char *commerce_reason_setting = NULL;

/* Module load: define settings and hand jansson its allocator. */
void
_PG_init(void)
{
	DefineCustomStringVariable("commerce.now",
							   "Overrides the clock of commerce (tests with controlled time).",
							   "Empty means the transaction start time. Only superusers can set it.",
							   &commerce_now_setting,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("commerce.tenant_id",
							   "Tenant of a superuser's commerce_api calls when no claims are set (tests, psql).",
							   "Only superusers can set it: other roles act through a gateway's claims or a role binding (commerce.bind_role).",
							   &commerce_tenant_setting,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("commerce.reason",
							   "Reason recorded in the order status history for this transaction.",
							   "Set by the entry points with set_config(..., true).",
							   &commerce_reason_setting,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("commerce");
	commerce_columns_init();
	inventory_pool_cache_init();
	commerce_json_init();
}

/* Every CommerceColumns cache that has been filled, for the relcache callback. */
static CommerceColumns *column_caches = NULL;

/* Relcache invalidation of relid (InvalidOid: of every relation): forget its attribute numbers. */
static void
columns_relcache_callback(Datum arg, Oid relid)
{
	for (CommerceColumns *c = column_caches; c != NULL; c = c->next)
		if (relid == InvalidOid || c->relid == relid)
			c->relid = InvalidOid;
}

/* Register the relcache callback of the attribute-number caches (from _PG_init). */
void
commerce_columns_init(void)
{
	CacheRegisterRelcacheCallback(columns_relcache_callback, (Datum) 0);
}

/*
 * The attribute numbers of cols->names in rel, looked up when the cache is
 * empty, for another relation, or was invalidated; elog if a column is
 * missing.  Valid until the next relcache invalidation of rel, which
 * happens before any change of its columns is seen.
 */
const int *
commerce_columns(CommerceColumns *cols, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (cols->relid != RelationGetRelid(rel) || cols->natts != desc->natts)
	{
		if (cols->ncolumns > COMMERCE_MAX_TRIGGER_COLUMNS)
			elog(ERROR, "commerce: too many trigger columns (%d)", cols->ncolumns);
		if (!cols->registered)
		{
			cols->next = column_caches;
			column_caches = cols;
			cols->registered = true;
		}
		cols->relid = InvalidOid;	/* until every column is found */
		for (int i = 0; i < cols->ncolumns; i++)
		{
			/* "?name": a column a database of an older version may not have yet (attnum 0) */
			bool		optional = cols->names[i][0] == '?';
			int			attno = SPI_fnumber(desc, cols->names[i] + (optional ? 1 : 0));

			if (attno <= 0 && !optional)
				elog(ERROR, "commerce: column \"%s\" not found in relation \"%s\"",
					 cols->names[i], RelationGetRelationName(rel));
			cols->attnums[i] = attno > 0 ? attno : 0;
		}
		cols->natts = desc->natts;
		cols->relid = RelationGetRelid(rel);
	}
	return cols->attnums;
}

/* int8 value of column attno of a tuple (0 and *isnull when NULL). */
int64
commerce_attr_int64(HeapTuple tuple, TupleDesc desc, int attno, bool *isnull)
{
	Datum		d = heap_getattr(tuple, attno, desc, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* timestamptz value of column attno of a tuple (0 and *isnull when NULL). */
TimestampTz
commerce_attr_timestamptz(HeapTuple tuple, TupleDesc desc, int attno, bool *isnull)
{
	Datum		d = heap_getattr(tuple, attno, desc, isnull);

	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/* Text of column attno of a tuple through its type's output function, or NULL. */
char *
commerce_attr_text(HeapTuple tuple, TupleDesc desc, int attno)
{
	char	   *s = SPI_getvalue(tuple, desc, attno);

	if (s == NULL && SPI_result == SPI_ERROR_NOATTRIBUTE)
		elog(ERROR, "commerce: no column %d", attno);
	return s;
}

/* True when column attno holds the same value in two tuples (both NULL counts as the same). */
bool
commerce_attr_same(HeapTuple a, HeapTuple b, TupleDesc desc, int attno)
{
	Form_pg_attribute att = TupleDescAttr(desc, attno - 1);
	bool		a_null;
	bool		b_null;
	Datum		da = heap_getattr(a, attno, desc, &a_null);
	Datum		db = heap_getattr(b, attno, desc, &b_null);

	if (a_null || b_null)
		return a_null == b_null;
	return datum_image_eq(da, db, att->attbyval, att->attlen);
}

/* The current time for commerce: commerce.now if set, else now(). */
TimestampTz
commerce_clock(void)
{
	if (commerce_now_setting != NULL && commerce_now_setting[0] != '\0')
		return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
													   CStringGetDatum(commerce_now_setting),
													   ObjectIdGetDatum(InvalidOid),
													   Int32GetDatum(-1)));
	return GetCurrentTransactionStartTimestamp();
}

PG_FUNCTION_INFO_V1(commerce_now);

/* SQL commerce.now(): the commerce clock. */
Datum
commerce_now(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(commerce_clock());
}

/* "BEFORE INSERT OR UPDATE" for a timing and a mask of COMMERCE_ON_* events. */
static void
append_events(StringInfo buf, bool before, int events)
{
	static const char *const names[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
	bool		first = true;

	appendStringInfoString(buf, before ? "BEFORE" : "AFTER");
	for (int i = 0; i < (int) lengthof(names); i++)
		if (events & (1 << i))
		{
			appendStringInfo(buf, "%s%s", first ? " " : " OR ", names[i]);
			first = false;
		}
}

/*
 * The trigger protocol check every C trigger starts with: called by the
 * trigger manager, BEFORE or AFTER as expected, for one of the row-level
 * events of row_events or the statement-level events of statement_events
 * (masks of COMMERCE_ON_*).  Raises 39P01 naming fn and what it expects
 * otherwise; returns the TriggerData.
 */
TriggerData *
commerce_trigger_check(FunctionCallInfo fcinfo, const char *fn, bool before,
					   int row_events, int statement_events)
{
	TriggerData *td;
	int			event;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: not called by trigger manager", fn)));
	td = (TriggerData *) fcinfo->context;
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		event = COMMERCE_ON_INSERT;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		event = COMMERCE_ON_UPDATE;
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		event = COMMERCE_ON_DELETE;
	else
		event = COMMERCE_ON_TRUNCATE;
	if ((before ? !TRIGGER_FIRED_BEFORE(td->tg_event) : !TRIGGER_FIRED_AFTER(td->tg_event)) ||
		(event & (TRIGGER_FIRED_FOR_ROW(td->tg_event) ? row_events : statement_events)) == 0)
	{
		StringInfoData expected;

		initStringInfo(&expected);
		if (row_events != 0)
		{
			append_events(&expected, before, row_events);
			appendStringInfoString(&expected, " ... FOR EACH ROW");
		}
		if (statement_events != 0)
		{
			if (row_events != 0)
				appendStringInfoString(&expected, " or ");
			append_events(&expected, before, statement_events);
		}
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be fired %s", fn, expected.data)));
	}
	return td;
}

/* SPI_connect; elog(ERROR) if it fails (cannot happen). */
void
commerce_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "commerce: SPI_connect failed (%s)", SPI_result_code_string(rc));
}

/* SPI_finish; elog(ERROR) if it fails (cannot happen). */
void
commerce_spi_finish(void)
{
	int			rc = SPI_finish();

	if (rc != SPI_OK_FINISH)
		elog(ERROR, "commerce: SPI_finish failed (%s)", SPI_result_code_string(rc));
}

/* Prepare a statement with the given cursor options and keep it for the backend's life. */
static SPIPlanPtr
prepare_plan(CommercePlan *p, int cursor_options)
{
	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes,
											  cursor_options);

		if (plan == NULL)
			elog(ERROR, "commerce: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), p->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "commerce: SPI_keepplan failed");
		p->plan = plan;
	}
	return p->plan;
}

/* Prepare a statement on first use and keep it for the backend's life. */
SPIPlanPtr
commerce_plan(CommercePlan *p)
{
	return prepare_plan(p, 0);
}

/* Execute a kept plan; returns the number of rows processed. */
static uint64
exec_plan(SPIPlanPtr plan, const char *sql, Datum *values, const char *nulls, bool read_only,
		  long tcount)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);

	if (rc < 0)
		elog(ERROR, "commerce: SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* Execute a kept plan read-write (new snapshot, sees the transaction's writes so far). */
uint64
commerce_exec(CommercePlan *p, Datum *values, const char *nulls, long tcount)
{
	return exec_plan(commerce_plan(p), p->sql, values, nulls, false, tcount);
}

/* Execute a kept plan read-only, in the caller's snapshot: for STABLE and IMMUTABLE functions. */
uint64
commerce_exec_ro(CommercePlan *p, Datum *values, const char *nulls, long tcount)
{
	return exec_plan(commerce_plan(p), p->sql, values, nulls, true, tcount);
}

/* Execute a pump's batch statement read-write, always with its generic plan (commerce.h). */
uint64
commerce_exec_batch(CommercePlan *p, Datum *values, const char *nulls, long tcount)
{
	return exec_plan(prepare_plan(p, CURSOR_OPT_GENERIC_PLAN), p->sql, values, nulls, false,
					 tcount);
}

/* Column col (1-based) of a row of a result table as a Datum; elog if there is no such cell. */
Datum
commerce_result_datum(SPITupleTable *tt, uint64 row, int col, bool *isnull)
{
	bool		n;
	Datum		d;

	if (tt == NULL || row >= tt->numvals)
		elog(ERROR, "commerce: no result row " UINT64_FORMAT, row);
	d = SPI_getbinval(tt->vals[row], tt->tupdesc, col, &n);
	if (SPI_result == SPI_ERROR_NOATTRIBUTE)
		elog(ERROR, "commerce: no result column %d", col);
	if (isnull)
		*isnull = n;
	return d;
}

/* Column col of a row of a result table as a C string (palloc'd), or NULL; elog if no such cell. */
char *
commerce_result_text(SPITupleTable *tt, uint64 row, int col)
{
	char	   *s;

	if (tt == NULL || row >= tt->numvals)
		elog(ERROR, "commerce: no result row " UINT64_FORMAT, row);
	s = SPI_getvalue(tt->vals[row], tt->tupdesc, col);
	if (s == NULL && SPI_result == SPI_ERROR_NOATTRIBUTE)
		elog(ERROR, "commerce: no result column %d", col);
	return s;
}

/* Column col (1-based) of a row of the last result (SPI_tuptable) as a Datum. */
Datum
commerce_get_datum(uint64 row, int col, bool *isnull)
{
	return commerce_result_datum(SPI_tuptable, row, col, isnull);
}

/* Column col of result row as bool (false when NULL). */
bool
commerce_get_bool(uint64 row, int col, bool *isnull)
{
	bool		n;
	Datum		d = commerce_get_datum(row, col, &n);

	if (isnull)
		*isnull = n;
	return n ? false : DatumGetBool(d);
}

/* Column col of result row as int32 (0 when NULL). */
int32
commerce_get_int32(uint64 row, int col, bool *isnull)
{
	bool		n;
	Datum		d = commerce_get_datum(row, col, &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetInt32(d);
}

/* Column col (1-based) of result row as int64 (0 when NULL). */
int64
commerce_get_int64(uint64 row, int col, bool *isnull)
{
	bool		n;
	Datum		d = commerce_get_datum(row, col, &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetInt64(d);
}

/* Column col of result row as a C string (palloc'd in the SPI context), or NULL. */
char *
commerce_get_text(uint64 row, int col)
{
	return commerce_result_text(SPI_tuptable, row, col);
}

/* Column col of result row as timestamptz (0 when NULL). */
TimestampTz
commerce_get_timestamptz(uint64 row, int col, bool *isnull)
{
	bool		n;
	Datum		d = commerce_get_datum(row, col, &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetTimestampTz(d);
}

/* Raise 22004 for the first of the first nargs arguments that is NULL. */
void
commerce_require_args(FunctionCallInfo fcinfo, int nargs, const char *const *names)
{
	for (int i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %s must not be null", names[i]),
					 errhint("Pass a value for %s.", names[i])));
}

/* Text of a named column of a tuple (NULL if null); elog if there is no such column. */
char *
commerce_column_text(HeapTuple tuple, TupleDesc desc, const char *column)
{
	int			attno = SPI_fnumber(desc, column);

	if (attno <= 0)
		elog(ERROR, "commerce: column \"%s\" not found", column);
	return SPI_getvalue(tuple, desc, attno);
}

/* Datum of a named column of a tuple; elog if there is no such column. */
static Datum
column_datum(HeapTuple tuple, TupleDesc desc, const char *column, bool *isnull)
{
	int			attno = SPI_fnumber(desc, column);

	if (attno <= 0)
		elog(ERROR, "commerce: column \"%s\" not found", column);
	return SPI_getbinval(tuple, desc, attno, isnull);
}

/* int8 value of a named column of a tuple (0 and *isnull when NULL). */
int64
commerce_tuple_int64(HeapTuple tuple, TupleDesc desc, const char *column, bool *isnull)
{
	Datum		d = column_datum(tuple, desc, column, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* timestamptz value of a named column of a tuple (0 and *isnull when NULL). */
TimestampTz
commerce_tuple_timestamptz(HeapTuple tuple, TupleDesc desc, const char *column, bool *isnull)
{
	Datum		d = column_datum(tuple, desc, column, isnull);

	return *isnull ? 0 : DatumGetTimestampTz(d);
}

/* A one-dimensional array of n Datums of a type, NULL where nulls[i] (nulls may be NULL). */
Datum
commerce_make_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = n;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, elemtype,
											  typlen, typbyval, typalign));
}

/* Index of s in a list of words, or -1. */
int
commerce_word_index(const char *s, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	return -1;
}

/*
 * A caller's value as an error message quotes it: at most COMMERCE_MAX_QUOTE
 * bytes (cut on a character boundary, then "..."), so that a 10 MiB argument
 * never reaches the client or the server log whole.
 */
const char *
commerce_quote(const char *value)
{
	int			len;

	if (value == NULL)
		return "NULL";
	len = strlen(value);
	if (len <= COMMERCE_MAX_QUOTE)
		return value;
	return psprintf("%s...", pnstrdup(value, pg_mbcliplen(value, len, COMMERCE_MAX_QUOTE)));
}

/* Raise PT404 for an unknown code of a tenant (same wording as commerce._not_found). */
void
commerce_not_found(const char *what, const char *code, int64 tenant_id)
{
	code = commerce_quote(code);
	ereport(ERROR,
			(errcode(ERRCODE_COMMERCE_NOT_FOUND),
			 errmsg("%s \"%s\" not found", what, code),
			 errdetail("No %s \"%s\" exists in tenant " INT64_FORMAT ".", what, code, tenant_id),
			 errhint("Check the code and the tenant; rows of other tenants are never visible.")));
	pg_unreachable();
}

/* A key argument (request_id, holder): non-empty, at most 200 characters. */
char *
commerce_key_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	int			len = pg_mbstrlen(s);

	if (len == 0 || len > COMMERCE_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for %s", name),
				 errdetail("%s is %d characters long; it must be 1 to %d.",
						   name, len, COMMERCE_MAX_KEY_LEN),
				 errhint("Use a UUID or another unique key generated by the client.")));
	return s;
}

PG_FUNCTION_INFO_V1(commerce_limit);

/*
 * SQL: commerce._limit(p_name text) -> the limit of commerce_limits.h with
 * that name, so that SQL and C check the same numbers: key_len, max_qty,
 * max_lines, code_len, bp_scale, max_fen, max_batch.
 */
Datum
commerce_limit(PG_FUNCTION_ARGS)
{
	static const struct
	{
		const char *name;
		int64		value;
	}			limits[] = {
		{"key_len", COMMERCE_MAX_KEY_LEN},
		{"max_qty", COMMERCE_MAX_QTY},
		{"max_lines", COMMERCE_MAX_LINES},
		{"code_len", COMMERCE_MAX_CODE_LEN},
		{"bp_scale", COMMERCE_BP_SCALE},
		{"max_fen", COMMERCE_MAX_FEN},
		{"max_batch", COMMERCE_MAX_BATCH},
	};
	static const char *const names[] = {"p_name"};
	char	   *name;

	commerce_require_args(fcinfo, lengthof(names), names);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (int i = 0; i < (int) lengthof(limits); i++)
		if (strcmp(limits[i].name, name) == 0)
			PG_RETURN_INT64(limits[i].value);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for p_name"),
			 errdetail("There is no limit \"%s\".", commerce_quote(name)),
			 errhint("The limits are key_len, max_qty, max_lines, code_len, bp_scale, max_fen and max_batch.")));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(commerce_too_many_sql);

/* SQL: commerce._too_many(p_message, p_detail, p_hint, p_retry_after): raise PT429 (core_json.c: commerce_too_many). */
Datum
commerce_too_many_sql(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_message", "p_detail", "p_hint", "p_retry_after"};

	commerce_require_args(fcinfo, lengthof(names), names);
	commerce_too_many(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
					  text_to_cstring(PG_GETARG_TEXT_PP(2)), PG_GETARG_INT32(3));
	PG_RETURN_VOID();
}
