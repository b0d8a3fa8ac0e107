/*
 * koc_attribution.c
 *		KOC tracking links, clicks and order attribution (K12).
 *
 * A tracking code names the tenant, the KOC, the task and the share channel
 * in base 36, followed by the first 64 bits of an HMAC-SHA256 of those
 * fields under a per-tenant secret (13 base-32 characters):
 *     <tenant>.<koc>.<task>.<channel>.<signature>      e.g. 1.2s.0.5.8k2m9x0qa7zb4
 * A forged or altered code fails the signature check.  Clicks are recorded
 * once per visitor, code and dedupe window.  When a self-operated order is
 * placed, the buyer's last valid click within the attribution window (7
 * days by default) attributes it to that KOC and task; the attribution is
 * written on the order by a trigger and can never change afterwards.
 */
#include "commerce.h"

#include "mb/pg_wchar.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "storage/lmgr.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "common/hashfn.h"
#include "utils/inet.h"
#include "utils/rel.h"

static CommercePlan plan_secret = {
	"SELECT link_secret FROM commerce.tenant_secret WHERE tenant_id = $1",
	1, {INT8OID}, NULL
};

static CommercePlan plan_new_secret = {
	"INSERT INTO commerce.tenant_secret (tenant_id, link_secret)"
	" SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM commerce.tenant WHERE tenant_id = $1)"
	" ON CONFLICT (tenant_id) DO NOTHING",
	2, {INT8OID, BYTEAOID}, NULL
};

static CommercePlan plan_link_ids = {
	"SELECT k.koc_id, k.status, t.task_id,"
	"       (SELECT channel_id FROM commerce.channel WHERE tenant_id = $1 AND code = $4),"
	"       t.starts_at <= $5, t.ends_at > $5,"
	"       (t.target_levels IS NULL OR k.level_code = ANY (t.target_levels))"
	"       AND (t.target_tags IS NULL OR k.tags && t.target_tags),"
	"       k.level_code"
	"  FROM commerce.koc k"
	"  LEFT JOIN commerce.koc_task t ON t.tenant_id = $1 AND t.code = $3"
	" WHERE k.tenant_id = $1 AND k.code = $2",
	5, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, NULL
};

/*
 * The repeat check as a statement, for when the index click_visitor is not
 * there as last_click expects it (dropped, being rebuilt, not valid).
 */
static CommercePlan plan_click_repeat = {
	"SELECT click_id FROM commerce.click"
	" WHERE tenant_id = $1 AND visitor_id = $2 AND koc_id = $3"
	"   AND task_id IS NOT DISTINCT FROM $4 AND clicked_at > $5 AND clicked_at <= $6"
	" ORDER BY clicked_at DESC LIMIT 1",
	6, {INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}, NULL
};

/* The tenant's link secret and where its dedupe window ending at $2 starts (in its calendar). */
static CommercePlan plan_click_window = {
	"SELECT s.link_secret,"
	"       (($2 AT TIME ZONE t.time_zone) - t.click_dedupe) AT TIME ZONE t.time_zone"
	"  FROM commerce.tenant t"
	"  LEFT JOIN commerce.tenant_secret s ON s.tenant_id = t.tenant_id"
	" WHERE t.tenant_id = $1",
	2, {INT8OID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_click_insert = {
	"INSERT INTO commerce.click (tenant_id, koc_id, task_id, channel_id, visitor_id, ip,"
	" user_agent, clicked_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING click_id",
	8, {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, INETOID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_attribute = {
	"SELECT c.koc_id, c.task_id, c.click_id, k.customer_id, t.self_referral"
	"  FROM commerce.tenant t"
	"  JOIN commerce.click c ON c.tenant_id = t.tenant_id"
	"  JOIN commerce.koc k ON k.tenant_id = c.tenant_id AND k.koc_id = c.koc_id"
	" WHERE t.tenant_id = $1 AND c.visitor_id = $2"
	"   AND c.clicked_at <= $3"
	"   AND c.clicked_at > (($3 AT TIME ZONE t.time_zone) - t.attribution_window) AT TIME ZONE t.time_zone"
	"   AND k.status = 'active'"
	" ORDER BY c.clicked_at DESC, c.click_id DESC LIMIT 1",
	3, {INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_customer_by_code = {
	"SELECT customer_id FROM commerce.customer WHERE tenant_id = $1 AND code = $2",
	2, {INT8OID, TEXTOID}, NULL
};

static CommercePlan plan_tenant_exists = {
	"SELECT 1 FROM commerce.tenant WHERE tenant_id = $1",
	1, {INT8OID}, NULL
};

static CommercePlan plan_buyer = {
	"SELECT c.code, ch.kind FROM commerce.channel ch"
	"  LEFT JOIN commerce.customer c ON c.tenant_id = ch.tenant_id AND c.customer_id = $3"
	" WHERE ch.tenant_id = $1 AND ch.channel_id = $2",
	3, {INT8OID, INT8OID, INT8OID}, NULL
};

/* Append v in base 36 (lower case) to buf. */
static void
append_base36(StringInfo buf, uint64 v)
{
	char		tmp[16];
	int			n = 0;

	do
	{
		tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
		v /= 36;
	} while (v > 0);
	while (n > 0)
		appendStringInfoChar(buf, tmp[--n]);
}

/* Parse a base-36 field; false if it is empty, too long or has another character. */
static bool
parse_base36(const char *s, size_t len, uint64 *out)
{
	uint64		v = 0;

	if (len == 0 || len > COMMERCE_BASE36_MAX_DIGITS)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];
		int			d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'z')
			d = c - 'a' + 10;
		else
			return false;
		if (v > ((uint64) PG_INT64_MAX - d) / 36)
			return false;
		v = v * 36 + d;
	}
	*out = v;
	return true;
}

/* The tenant's link secret, created on first use (32 random bytes). */
static bytea *
tenant_secret(int64 tenant_id, bool create)
{
	Datum		v[2];
	bool		isnull;

	v[0] = Int64GetDatum(tenant_id);
	/* read-only for callers that never create it (STABLE functions) */
	if ((create ? commerce_exec(&plan_secret, v, NULL, 1) : commerce_exec_ro(&plan_secret, v, NULL, 1)) == 0)
	{
		bytea	   *secret;

		if (!create)
			return NULL;
		secret = palloc(VARHDRSZ + COMMERCE_LINK_SECRET_BYTES);
		SET_VARSIZE(secret, VARHDRSZ + COMMERCE_LINK_SECRET_BYTES);
		if (!pg_strong_random(VARDATA(secret), COMMERCE_LINK_SECRET_BYTES))
			elog(ERROR, "commerce: could not generate a random link secret");
		v[1] = PointerGetDatum(secret);
		commerce_exec(&plan_new_secret, v, NULL, 0);
		if (commerce_exec(&plan_secret, v, NULL, 1) == 0)
			commerce_not_found("tenant", psprintf(INT64_FORMAT, tenant_id), tenant_id);
	}
	return DatumGetByteaPCopy(commerce_get_datum(0, 1, &isnull));
}

/* The 13-character signature of the fields of a code of a purpose under a secret. */
static void
sign_for(bytea *secret, const char *purpose, const char *fields, char *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		digest[32];
	uint64		bits = 0;

	if (ctx == NULL ||
		pg_hmac_init(ctx, (uint8 *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) "commerce-", 9) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) purpose, strlen(purpose)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ":", 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) fields, strlen(fields)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "commerce: HMAC-SHA256 failed");
	pg_hmac_free(ctx);
	for (int i = 0; i < COMMERCE_LINK_SIG_BYTES; i++)
		bits = (bits << 8) | digest[i];
	for (int i = 0; i < COMMERCE_LINK_SIG_LEN; i++)
	{
		out[i] = "abcdefghijkmnpqrstuvwxyz23456789"[bits & 31];
		bits >>= 5;
	}
	out[COMMERCE_LINK_SIG_LEN] = '\0';
}

/* The signature of a tracking code's fields (purpose "link"). */
static void
sign(bytea *secret, const char *fields, char *out)
{
	sign_for(secret, "link", fields, out);
}

/* Constant-time comparison of two 13-character signatures. */
static bool
same_signature(const char *a, const char *b)
{
	unsigned char diff = 0;

	for (int i = 0; i < COMMERCE_LINK_SIG_LEN; i++)
		diff |= (unsigned char) (a[i] ^ b[i]);
	return diff == 0;
}

static void bad_code(const char *code, const char *why) pg_attribute_noreturn();

/* Raise 22023 for a tracking code that is malformed or not signed by the tenant. */
static void
bad_code(const char *code, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid tracking code \"%s\"", commerce_quote(code)),
			 errdetail("%s", why),
			 errhint("Use a code made by commerce.tracking_link; codes cannot be edited.")));
}

static const char *const link_args[] = {"p_tenant", "p_koc"};

PG_FUNCTION_INFO_V1(commerce_tracking_link);

/* commerce.tracking_link(tenant, koc, task, channel): a signed tracking code. */
Datum
commerce_tracking_link(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *koc;
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		koc_id;
	int64		task_id;
	int64		channel_id;
	bytea	   *secret;
	StringInfoData code;
	char		sig[COMMERCE_LINK_SIG_LEN + 1];
	char	   *result;
	MemoryContext caller = CurrentMemoryContext;

	commerce_require_args(fcinfo, 2, link_args);
	tenant_id = PG_GETARG_INT64(0);
	koc = text_to_cstring(PG_GETARG_TEXT_PP(1));

	commerce_spi_connect();
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(koc);
	v[2] = PG_ARGISNULL(2) ? (Datum) 0 : PointerGetDatum(PG_GETARG_TEXT_PP(2));
	n[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	v[3] = PG_ARGISNULL(3) ? (Datum) 0 : PointerGetDatum(PG_GETARG_TEXT_PP(3));
	n[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	v[4] = TimestampTzGetDatum(commerce_clock());
	if (commerce_exec(&plan_link_ids, v, n, 1) == 0)
	{
		if (commerce_exec(&plan_tenant_exists, v, NULL, 1) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_NOT_FOUND),
					 errmsg("tenant \"" INT64_FORMAT "\" not found", tenant_id),
					 errdetail("No tenant with that id exists."),
					 errhint("Create it with commerce.create_tenant(code, name); look ids up with commerce.tenant_id(code).")));
		commerce_not_found("KOC", koc, tenant_id);
	}
	koc_id = commerce_get_int64(0, 1, NULL);
	if (strcmp(commerce_get_text(0, 2), "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_BAD_STATE),
				 errmsg("KOC \"%s\" is %s", koc, commerce_get_text(0, 2)),
				 errdetail("Only active KOCs share tracking links."),
				 errhint("A reviewer clears a frozen KOC first.")));
	task_id = commerce_get_int64(0, 3, &isnull);
	if (isnull && !PG_ARGISNULL(2))
		commerce_not_found("task", text_to_cstring(PG_GETARG_TEXT_PP(2)), tenant_id);
	if (!isnull)
	{
		/* a task is shared while it runs, by the KOCs it targets */
		bool		started = commerce_get_bool(0, 5, &isnull);
		bool		running = commerce_get_bool(0, 6, &isnull);
		bool		targeted = commerce_get_bool(0, 7, &isnull);
		char	   *task = text_to_cstring(PG_GETARG_TEXT_PP(2));

		if (!started || !running)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_BAD_STATE),
					 errmsg("task \"%s\" is not running", task),
					 errdetail("%s", started ? "Its window has ended." : "Its window has not started."),
					 errhint("Share a running task, or a link without a task.")));
		if (!targeted)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_BAD_STATE),
					 errmsg("task \"%s\" is not open to KOC \"%s\"", task, koc),
					 errdetail("The task targets other levels or tags; the KOC is %s.", commerce_get_text(0, 8)),
					 errhint("Share a task open to the KOC's level and tags.")));
	}
	channel_id = commerce_get_int64(0, 4, &isnull);
	if (isnull && !PG_ARGISNULL(3))
		commerce_not_found("channel", text_to_cstring(PG_GETARG_TEXT_PP(3)), tenant_id);

	secret = tenant_secret(tenant_id, true);
	initStringInfo(&code);
	append_base36(&code, (uint64) tenant_id);
	appendStringInfoChar(&code, '.');
	append_base36(&code, (uint64) koc_id);
	appendStringInfoChar(&code, '.');
	append_base36(&code, (uint64) task_id);
	appendStringInfoChar(&code, '.');
	append_base36(&code, (uint64) channel_id);
	sign(secret, code.data, sig);
	appendStringInfo(&code, ".%s", sig);
	result = MemoryContextStrdup(caller, code.data);
	commerce_spi_finish();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * Split a tracking code of tenant_id into its ids (0 = none) and the
 * position of its signature; 22023 if it is malformed.  The signature is
 * checked by check_signature.
 */
static const char *
parse_code(int64 tenant_id, const char *code, int64 *koc_id, int64 *task_id, int64 *channel_id)
{
	const char *p[5];
	size_t		len[5];
	const char *s = code;
	uint64		v[4];

	for (int i = 0; i < 5; i++)
	{
		const char *dot = (i < 4) ? strchr(s, '.') : s + strlen(s);

		if (dot == NULL)
			bad_code(code, "A code has five parts separated by dots.");
		p[i] = s;
		len[i] = dot - s;
		s = dot + 1;
	}
	for (int i = 0; i < 4; i++)
		if (!parse_base36(p[i], len[i], &v[i]))
			bad_code(code, "A part of the code is not a base-36 number.");
	if (len[4] != COMMERCE_LINK_SIG_LEN)
		bad_code(code, "The signature is not " CppAsString2(COMMERCE_LINK_SIG_LEN) " characters.");
	if ((int64) v[0] != tenant_id)
		bad_code(code, "The code was made for another tenant.");
	*koc_id = (int64) v[1];
	*task_id = (int64) v[2];
	*channel_id = (int64) v[3];
	return p[4];
}

/* 22023 unless sig (inside code) is the signature of the code's fields under secret. */
static void
check_signature(const char *code, const char *sig, bytea *secret)
{
	char		expected[COMMERCE_LINK_SIG_LEN + 1];
	char	   *fields;

	if (secret == NULL)
		bad_code(code, "The tenant has made no tracking codes.");
	fields = pnstrdup(code, sig - code - 1);
	sign(secret, fields, expected);
	if (!same_signature(expected, sig))
		bad_code(code, "The signature does not match: the code was forged or altered.");
}

/* The columns of commerce.click that last_click reads: the index's four keys first. */
static const char *const click_column_names[] = {
	"tenant_id", "visitor_id", "koc_id", "clicked_at", "task_id", "click_id"
};
static CommerceColumns click_columns = COMMERCE_COLUMNS(click_column_names);

/* last_click by the statement plan_click_repeat. */
static int64
last_click_planned(int64 tenant_id, const char *visitor, int64 koc_id, int64 task_id,
				   TimestampTz from, TimestampTz to)
{
	Datum		v[6];
	char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(visitor);
	v[2] = Int64GetDatum(koc_id);
	v[3] = Int64GetDatum(task_id);
	n[3] = task_id ? ' ' : 'n';
	v[4] = TimestampTzGetDatum(from);
	v[5] = TimestampTzGetDatum(to);
	if (commerce_exec(&plan_click_repeat, v, n, 1) == 0)
		return 0;
	return commerce_get_int64(0, 1, &isnull);
}

/*
 * The click a repeat would duplicate: the visitor's latest click on this KOC
 * and task (0: none) after `from` and at or before `to`, or 0.  It is found
 * by a backward scan of the index commerce.click_visitor (tenant_id,
 * visitor_id, koc_id, clicked_at), made here rather than planned: with no
 * statistics (a new or restored database) or statistics taken before a KOC
 * drew a crowd, the planner may prefer the narrower index click_koc
 * (tenant_id, koc_id, clicked_at) and filter on the visitor, reading every
 * click of a hot KOC in the window for each new click (measured: 113M index
 * entries read for 5,077 clicks, docs/benchmarks.md part 3).  It reads with
 * a snapshot taken now, after the visitor's lock, as a statement would; the
 * tenant is the caller's and the scan keys keep to it.  When the index is
 * not there as expected (dropped, being built or rebuilt concurrently, not
 * valid, other columns), the statement plan_click_repeat is run instead.
 * Click ids start at 1 (an identity), so 0 means none.
 */
static int64
last_click(int64 tenant_id, const char *visitor, int64 koc_id, int64 task_id,
		   TimestampTz from, TimestampTz to)
{
	Oid			nsp = get_namespace_oid("commerce", false);
	Oid			heap_oid = get_relname_relid("click", nsp);
	Oid			idx_oid = get_relname_relid("click_visitor", nsp);
	Relation	heap;
	Relation	idx = NULL;
	const int  *att;
	ScanKeyData key[5];
	Snapshot	snap;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int64		found = 0;
	bool		usable = false;

	if (!OidIsValid(heap_oid))
		elog(ERROR, "commerce: table commerce.click is missing");
	heap = table_open(heap_oid, AccessShareLock);
	att = commerce_columns(&click_columns, heap);
	/* the index, locked before it is read; gone meanwhile, it is not used */
	if (OidIsValid(idx_oid))
		LockRelationOid(idx_oid, AccessShareLock);
	if (OidIsValid(idx_oid) && SearchSysCacheExists1(RELOID, ObjectIdGetDatum(idx_oid)))
	{
		idx = index_open(idx_oid, NoLock);
		usable = idx->rd_index->indrelid == heap_oid && idx->rd_rel->relam == BTREE_AM_OID &&
			idx->rd_index->indisvalid && idx->rd_index->indisready && idx->rd_index->indislive &&
			idx->rd_index->indnkeyatts >= 4 && RelationGetIndexExpressions(idx) == NIL &&
			RelationGetIndexPredicate(idx) == NIL;
		for (int i = 0; usable && i < 4; i++)
			usable = idx->rd_index->indkey.values[i] == att[i];
	}
	if (!usable)
	{
		if (idx != NULL)
			index_close(idx, NoLock);
		table_close(heap, NoLock);
		return last_click_planned(tenant_id, visitor, koc_id, task_id, from, to);
	}

	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(tenant_id));
	ScanKeyEntryInitialize(&key[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[1], F_TEXTEQ, CStringGetTextDatum(visitor));
	ScanKeyInit(&key[2], 3, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(koc_id));
	ScanKeyInit(&key[3], 4, BTGreaterStrategyNumber, F_TIMESTAMPTZ_GT, TimestampTzGetDatum(from));
	ScanKeyInit(&key[4], 4, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE, TimestampTzGetDatum(to));

	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());
	scan = index_beginscan(heap, idx, snap, 5, 0);
	index_rescan(scan, key, 5, NULL, 0);
	slot = table_slot_create(heap, NULL);
	while (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		Datum		t = slot_getattr(slot, att[4], &isnull);

		if (isnull ? task_id == 0 : (task_id != 0 && DatumGetInt64(t) == task_id))
		{
			found = DatumGetInt64(slot_getattr(slot, att[5], &isnull));
			break;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	index_close(idx, NoLock);
	table_close(heap, NoLock);
	return found;
}

static const char *const click_args[] = {"p_tenant", "p_code", "p_visitor"};

PG_FUNCTION_INFO_V1(commerce_record_click);

/*
 * commerce.record_click(tenant, code, visitor, ip, user_agent):
 * (click_id, counted, koc_id, task_id).  A repeat by the same visitor on the
 * same code within the tenant's dedupe window returns the first click with
 * counted = false.
 */
Datum
commerce_record_click(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *code;
	char	   *visitor;
	int64		koc_id;
	int64		task_id;
	int64		channel_id;
	TimestampTz now = commerce_clock();
	Datum		v[8];
	char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		click_id;
	bool		counted;
	const char *sig;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	commerce_require_args(fcinfo, 3, click_args);
	tenant_id = PG_GETARG_INT64(0);
	code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	visitor = commerce_key_arg(fcinfo, 2, "p_visitor");

	commerce_spi_connect();
	sig = parse_code(tenant_id, code, &koc_id, &task_id, &channel_id);

	/* one visitor's clicks are counted one at a time */
	DirectFunctionCall2(pg_advisory_xact_lock_int4,
						Int32GetDatum((int32) (tenant_id & 0x7fffffff)),
						Int32GetDatum((int32) hash_bytes((const unsigned char *) visitor,
														 strlen(visitor))));
	v[0] = Int64GetDatum(tenant_id);
	v[1] = TimestampTzGetDatum(now);
	if (commerce_exec(&plan_click_window, v, NULL, 1) == 0)
		commerce_not_found("tenant", psprintf(INT64_FORMAT, tenant_id), tenant_id);
	{
		Datum		secret = commerce_get_datum(0, 1, &isnull);

		check_signature(code, sig, isnull ? NULL : DatumGetByteaPP(secret));
	}
	click_id = last_click(tenant_id, visitor, koc_id, task_id,
						  DatumGetTimestampTz(commerce_get_datum(0, 2, NULL)), now);
	counted = (click_id == 0);
	if (counted)
	{
		v[1] = Int64GetDatum(koc_id);
		v[2] = Int64GetDatum(task_id);
		n[2] = task_id ? ' ' : 'n';
		v[3] = Int64GetDatum(channel_id);
		n[3] = channel_id ? ' ' : 'n';
		v[4] = CStringGetTextDatum(visitor);
		n[4] = ' ';
		v[5] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
		n[5] = PG_ARGISNULL(3) ? 'n' : ' ';
		/* a user agent is kept to its first COMMERCE_MAX_USER_AGENT bytes (a character boundary) */
		if (PG_ARGISNULL(4))
			v[6] = (Datum) 0;
		else
		{
			char	   *ua = text_to_cstring(PG_GETARG_TEXT_PP(4));
			int			len = strlen(ua);

			if (len > COMMERCE_MAX_USER_AGENT)
				ua[pg_mbcliplen(ua, len, COMMERCE_MAX_USER_AGENT)] = '\0';
			v[6] = CStringGetTextDatum(ua);
		}
		n[6] = PG_ARGISNULL(4) ? 'n' : ' ';
		v[7] = TimestampTzGetDatum(now);
		commerce_exec(&plan_click_insert, v, n, 0);
		click_id = commerce_get_int64(0, 1, NULL);
	}
	commerce_spi_finish();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(click_id);
	values[1] = BoolGetDatum(counted);
	values[2] = Int64GetDatum(koc_id);
	values[3] = Int64GetDatum(task_id);
	nulls[3] = (task_id == 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * The KOC, task and click an order by this buyer at this moment is
 * attributed to, if any: the last click within the window of an active
 * KOC; a KOC buying through their own link follows the self-referral rule
 * ('deny': not attributed; 'allow': attributed).  Returns false if none.
 * read_only: the caller is declared STABLE (attribution_for).
 */
static bool
attribute(int64 tenant_id, const char *visitor, int64 buyer, TimestampTz at, bool read_only,
		  int64 *koc_id, int64 *task_id, int64 *click_id)
{
	Datum		v[3];
	bool		isnull;
	int64		koc_customer;
	uint64		rows;

	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(visitor);
	v[2] = TimestampTzGetDatum(at);
	if (read_only)
		rows = commerce_exec_ro(&plan_attribute, v, NULL, 1);
	else
		rows = commerce_exec(&plan_attribute, v, NULL, 1);
	if (rows == 0)
		return false;
	*koc_id = commerce_get_int64(0, 1, NULL);
	*task_id = commerce_get_int64(0, 2, &isnull);
	if (isnull)
		*task_id = 0;
	*click_id = commerce_get_int64(0, 3, NULL);
	koc_customer = commerce_get_int64(0, 4, &isnull);
	if (!isnull && buyer != 0 && koc_customer == buyer &&
		strcmp(commerce_get_text(0, 5), "deny") == 0)
		return false;
	return true;
}

/*
 * The columns of commerce.orders the attribution trigger reads or writes,
 * in the order of the A_* numbers (the frozen attribution first); their
 * attribute numbers are kept per relation.
 */
static const char *const attribution_column_names[] = {
	"koc_id", "koc_task_id", "attributed_at", "click_id",
	"order_id", "tenant_id", "channel_id", "customer_id"
};
enum
{
	A_KOC_ID, A_KOC_TASK_ID, A_ATTRIBUTED_AT, A_CLICK_ID,
	A_ORDER_ID, A_TENANT_ID, A_CHANNEL_ID, A_CUSTOMER_ID
};
#define A_FROZEN (A_CLICK_ID + 1)	/* columns A_KOC_ID .. A_CLICK_ID are frozen */
static CommerceColumns attribution_columns = COMMERCE_COLUMNS(attribution_column_names);

PG_FUNCTION_INFO_V1(commerce_order_attribution);

/*
 * BEFORE INSERT OR UPDATE ON commerce.orders FOR EACH ROW: attribute a new
 * self-operated order to the buyer's last KOC click (the buyer's customer
 * code is the visitor id the links record), and refuse any later change
 * of an order's attribution.
 */
Datum
commerce_order_attribution(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "order_attribution", true,
											 COMMERCE_ON_INSERT | COMMERCE_ON_UPDATE, 0);
	TupleDesc	desc = td->tg_relation->rd_att;
	const int  *att = commerce_columns(&attribution_columns, td->tg_relation);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		for (int i = 0; i < A_FROZEN; i++)
			if (!commerce_attr_same(td->tg_trigtuple, td->tg_newtuple, desc, att[i]))
			{
				char	   *id = commerce_attr_text(td->tg_newtuple, desc, att[A_ORDER_ID]);

				ereport(ERROR,
						(errcode(ERRCODE_COMMERCE_BAD_STATE),
						 errmsg("the attribution of order %s cannot change", id ? id : "NULL"),
						 errdetail("Column %s is set when the order is placed and then frozen.",
								   attribution_column_names[i]),
						 errhint("Commissions follow the attribution made at placement.")));
			}
		return PointerGetDatum(td->tg_newtuple);
	}

	{
		HeapTuple	tuple = td->tg_trigtuple;
		bool		isnull;
		int64		tenant_id = commerce_attr_int64(tuple, desc, att[A_TENANT_ID], &isnull);
		int64		channel_id = commerce_attr_int64(tuple, desc, att[A_CHANNEL_ID], &isnull);
		int64		buyer = commerce_attr_int64(tuple, desc, att[A_CUSTOMER_ID], &isnull);
		int64		koc_id;
		int64		task_id;
		int64		click_id;
		Datum		v[3];
		TimestampTz at = commerce_clock();

		for (int i = 0; i < A_FROZEN; i++)
			if (!heap_attisnull(tuple, att[i], desc))
				ereport(ERROR,
						(errcode(ERRCODE_COMMERCE_BAD_STATE),
						 errmsg("a new order cannot bring its own attribution"),
						 errdetail("Column %s is set from the buyer's clicks when the order is placed.",
								   attribution_column_names[i]),
						 errhint("Leave koc_id, koc_task_id, attributed_at and click_id empty.")));
		if (buyer == 0)
			return PointerGetDatum(tuple);
		commerce_spi_connect();
		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(channel_id);
		v[2] = Int64GetDatum(buyer);
		if (commerce_exec(&plan_buyer, v, NULL, 1) == 1 &&
			strcmp(commerce_get_text(0, 2), "self_operated") == 0 &&
			commerce_get_text(0, 1) != NULL &&
			attribute(tenant_id, commerce_get_text(0, 1), buyer, at, false,
					  &koc_id, &task_id, &click_id))
		{
			int			cols[4];
			Datum		vals[4];
			bool		nulls[4] = {false, false, false, false};

			cols[0] = att[A_KOC_ID];
			vals[0] = Int64GetDatum(koc_id);
			cols[1] = att[A_KOC_TASK_ID];
			vals[1] = Int64GetDatum(task_id);
			nulls[1] = (task_id == 0);
			cols[2] = att[A_ATTRIBUTED_AT];
			vals[2] = TimestampTzGetDatum(at);
			cols[3] = att[A_CLICK_ID];
			vals[3] = Int64GetDatum(click_id);
			tuple = heap_modify_tuple_by_cols(tuple, desc, 4, cols, vals, nulls);
		}
		commerce_spi_finish();
		return PointerGetDatum(tuple);
	}
}

static const char *const attribute_args[] = {"p_tenant", "p_visitor"};

PG_FUNCTION_INFO_V1(commerce_attribution_for);

/* commerce.attribution_for(tenant, visitor, at, buyer): (koc_id, task_id, click_id) or no row. */
Datum
commerce_attribution_for(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *visitor;
	TimestampTz at;
	int64		buyer;
	int64		koc_id;
	int64		task_id;
	int64		click_id;
	bool		found;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	commerce_require_args(fcinfo, 2, attribute_args);
	tenant_id = PG_GETARG_INT64(0);
	visitor = text_to_cstring(PG_GETARG_TEXT_PP(1));
	at = PG_ARGISNULL(2) ? commerce_clock() : PG_GETARG_TIMESTAMPTZ(2);
	buyer = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);
	/* STABLE in SQL: every statement read-only, in the caller's snapshot */
	commerce_spi_connect();
	if (buyer == 0)
	{
		Datum		v[2];

		v[0] = Int64GetDatum(tenant_id);
		v[1] = CStringGetTextDatum(visitor);
		if (commerce_exec_ro(&plan_customer_by_code, v, NULL, 1) == 1)
			buyer = commerce_get_int64(0, 1, NULL);
	}
	found = attribute(tenant_id, visitor, buyer, at, true, &koc_id, &task_id, &click_id);
	commerce_spi_finish();
	if (!found)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(koc_id);
	values[1] = Int64GetDatum(task_id);
	nulls[1] = (task_id == 0);
	values[2] = Int64GetDatum(click_id);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static const char *const sign_args[] = {"p_tenant", "p_purpose", "p_fields"};

PG_FUNCTION_INFO_V1(commerce_sign_fields);

/*
 * commerce._sign_fields(tenant, purpose, fields): the 13-character signature
 * of fields for a purpose under the tenant's secret (made on first use), for
 * codes other modules build (fission posters: purpose "fission").
 */
Datum
commerce_sign_fields(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *purpose;
	char	   *fields;
	bytea	   *secret;
	char		sig[COMMERCE_LINK_SIG_LEN + 1];

	commerce_require_args(fcinfo, 3, sign_args);
	tenant_id = PG_GETARG_INT64(0);
	purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
	fields = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(purpose, "link") == 0 || strlen(purpose) == 0 || strlen(purpose) > 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_purpose"),
				 errdetail("Purpose \"%s\".", commerce_quote(purpose)),
				 errhint("Name the kind of code in 1 to 32 characters; \"link\" is the tracking codes'.")));
	commerce_spi_connect();
	secret = tenant_secret(tenant_id, true);
	sign_for(secret, purpose, fields, sig);
	commerce_spi_finish();
	PG_RETURN_TEXT_P(cstring_to_text(sig));
}

static const char *const signed_args[] = {"p_tenant", "p_purpose", "p_fields", "p_signature"};

PG_FUNCTION_INFO_V1(commerce_fields_signed);

/*
 * commerce._fields_signed(tenant, purpose, fields, signature): whether the
 * signature is the tenant's for those fields (constant-time comparison; false
 * when the tenant has no secret yet).
 */
Datum
commerce_fields_signed(PG_FUNCTION_ARGS)
{
	int64		tenant_id;
	char	   *purpose;
	char	   *fields;
	char	   *given;
	bytea	   *secret;
	char		sig[COMMERCE_LINK_SIG_LEN + 1];
	bool		ok;

	commerce_require_args(fcinfo, 4, signed_args);
	tenant_id = PG_GETARG_INT64(0);
	purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
	fields = text_to_cstring(PG_GETARG_TEXT_PP(2));
	given = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (strlen(given) != COMMERCE_LINK_SIG_LEN || strcmp(purpose, "link") == 0)
		PG_RETURN_BOOL(false);
	commerce_spi_connect();
	secret = tenant_secret(tenant_id, false);
	ok = secret != NULL;
	if (ok)
	{
		sign_for(secret, purpose, fields, sig);
		ok = same_signature(sig, given);
	}
	commerce_spi_finish();
	PG_RETURN_BOOL(ok);
}
