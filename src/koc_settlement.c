/*
 * koc_settlement.c
 *		The T+0.5 settlement pump (K14).
 *
 * A KOC's commission lines are numbered 1, 2, ... (koc_commission.c) and
 * koc_account.settled_seq says how far they are settled; the account also
 * keeps the sum of the unsettled lines and the latest time one of them
 * becomes payable.  One run of commerce.settle_commissions(limit):
 *   1. locks up to `limit` due accounts (due_at <= now) with SKIP LOCKED;
 *   2. holds those whose KOC is not active or has not signed the current
 *      agreement (due_at NULL: a signature or reactivation wakes them up);
 *      for the others takes the longest run of payable lines after
 *      settled_seq, which ends before the first line not payable yet.
 *      When every unsettled line is payable the running sums give the run
 *      without reading a line; otherwise the lines are read, locks held (no
 *      line can be added meanwhile);
 *   3. decides in C: a positive run becomes a paying batch with a koc.payout
 *      message; a zero run is netted; a negative run is netted against the
 *      balance when the balance covers it, else carried forward to the next
 *      batch; and sets the next time to look (due_at);
 *   4. writes every batch, account, ledger entry and message of the run in
 *      one set-based statement.
 * The statements that take the run's arrays always run their generic plan
 * (commerce_exec_batch): a batch then costs the same however many accounts
 * the tenant has.  Whether a KOC may be paid is read after its account is
 * locked, in a statement of its own and so a snapshot of its own: a
 * signature or a reactivation that committed while the lock was awaited
 * is seen, and the wake-up it wrote on the account is not overwritten.
 * Lines are never updated, so settling a million lines writes one row per
 * KOC, not per line.  Running late, twice or concurrently is harmless: the
 * account lock and settled_seq make each line settle exactly once.
 */
#include "commerce.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

/* Step 1: lock the due accounts, with the running sums of their unsettled lines. */
static CommercePlan plan_lock_due = {
	"SELECT a.tenant_id, a.koc_id, a.settled_seq, a.balance_fen, a.next_seq, a.unsettled_fen,"
	"       a.last_payable_at <= $1"
	"  FROM commerce.koc_account a"
	" WHERE a.due_at <= $1"
	" ORDER BY a.due_at"
	" LIMIT $2"
	" FOR UPDATE SKIP LOCKED",
	2, {TIMESTAMPTZOID, INT4OID}, NULL
};

/* Which of the locked accounts belong to KOCs that may be paid (active, signed the current agreement). */
static CommercePlan plan_eligible = {
	"SELECT r.i FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS r(tenant_id, koc_id, i)"
	" WHERE EXISTS (SELECT 1 FROM commerce.koc k"
	"                WHERE k.tenant_id = r.tenant_id AND k.koc_id = r.koc_id AND k.status = 'active')"
	"   AND EXISTS (SELECT 1 FROM commerce.agreement_signature s"
	"                WHERE s.tenant_id = r.tenant_id AND s.koc_id = r.koc_id"
	"                  AND s.version = (SELECT max(g.version) FROM commerce.agreement g"
	"                                    WHERE g.tenant_id = r.tenant_id))",
	3, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}, NULL
};

/*
 * Step 2, for accounts with lines not payable yet: the first such line (the
 * blocker), the last payable one, the sum and count of the payable ones and
 * the earliest time one more becomes payable.
 */
static CommercePlan plan_unsettled = {
	"SELECT r.i, x.* FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[])"
	"                     AS r(tenant_id, koc_id, settled_seq, i)"
	" CROSS JOIN LATERAL ("
	"   SELECT min(l.seq) FILTER (WHERE l.payable_at > $5),"
	"          max(l.seq) FILTER (WHERE l.payable_at <= $5),"
	"          coalesce(sum(l.amount_fen) FILTER (WHERE l.payable_at <= $5), 0)::int8,"
	"          count(l.seq) FILTER (WHERE l.payable_at <= $5),"
	"          min(l.payable_at) FILTER (WHERE l.payable_at > $5)"
	"     FROM commerce.commission_line l"
	"    WHERE l.tenant_id = r.tenant_id AND l.koc_id = r.koc_id AND l.seq > r.settled_seq) x",
	5, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZOID}, NULL
};

/* The payable lines after the blocker, which wait for the next batch. */
static CommercePlan plan_after_blocker = {
	"SELECT coalesce(sum(amount_fen), 0)::int8, count(*)"
	"  FROM commerce.commission_line"
	" WHERE tenant_id = $1 AND koc_id = $2 AND seq > $3 AND payable_at <= $4",
	4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, NULL
};

/* Step 4: batches, accounts, ledger and payout messages of the whole run. */
static CommercePlan plan_write = {
	"WITH r AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[],"
	"                                $6::int8[], $7::text[], $8::timestamptz[])"
	"             AS r(tenant_id, koc_id, from_seq, to_seq, n, amount, status, due_at)),"
	" b AS (INSERT INTO commerce.settle_batch (tenant_id, koc_id, from_seq, to_seq, line_count,"
	"                                          amount_fen, status, created_at)"
	"       SELECT tenant_id, koc_id, from_seq, to_seq, n::int4, amount, status, $9"
	"         FROM r WHERE status IN ('paying', 'netted')"
	"       RETURNING tenant_id, batch_id, koc_id, from_seq, to_seq, line_count, amount_fen, status),"
	" u AS (UPDATE commerce.koc_account a"
	"          SET settled_seq = CASE WHEN r.status IN ('paying', 'netted') THEN r.to_seq ELSE a.settled_seq END,"
	"              settled_fen = a.settled_fen + CASE WHEN r.status IN ('paying', 'netted') THEN r.amount ELSE 0 END,"
	"              in_flight_fen = a.in_flight_fen + CASE WHEN r.status = 'paying' THEN r.amount ELSE 0 END,"
	"              balance_fen = a.balance_fen + CASE WHEN r.status = 'netted' THEN r.amount ELSE 0 END,"
	"              unsettled_fen = a.unsettled_fen - CASE WHEN r.status IN ('paying', 'netted')"
	"                                                     THEN r.amount ELSE 0 END,"
	"              last_payable_at = CASE WHEN r.status IN ('paying', 'netted') AND r.to_seq = a.next_seq - 1"
	"                                     THEN NULL ELSE a.last_payable_at END,"
	"              due_at = r.due_at"
	"         FROM r WHERE a.tenant_id = r.tenant_id AND a.koc_id = r.koc_id),"
	" g AS (INSERT INTO commerce.koc_ledger (tenant_id, koc_id, kind, batch_id, settled_delta,"
	"                                        balance_delta, in_flight_delta, created_at)"
	"       SELECT tenant_id, koc_id, CASE WHEN status = 'paying' THEN 'settle' ELSE 'settle_netted' END,"
	"              batch_id, amount_fen,"
	"              CASE WHEN status = 'netted' THEN amount_fen ELSE 0 END,"
	"              CASE WHEN status = 'paying' THEN amount_fen ELSE 0 END, $9"
	"         FROM b WHERE amount_fen <> 0),"
	" m AS (INSERT INTO commerce.outbox (tenant_id, topic, dedupe_key, payload, available_at, created_at)"
	"       SELECT b.tenant_id, 'koc.payout', 'batch:' || b.batch_id,"
	"              jsonb_build_object('payout_ref', 'batch:' || b.batch_id, 'koc', k.code,"
	"                                 'amount_fen', b.amount_fen, 'lines', b.line_count,"
	"                                 'from_seq', b.from_seq, 'to_seq', b.to_seq),"
	"              $9, $9"
	"         FROM b JOIN commerce.koc k ON k.tenant_id = b.tenant_id AND k.koc_id = b.koc_id"
	"        WHERE b.status = 'paying'"
	"       RETURNING 1)"
	" SELECT (SELECT count(*) FROM m)",
	9, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
		TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_notify = {
	"SELECT pg_notify('commerce_outbox', 'koc.payout')", 0, {InvalidOid}, NULL
};

/* What one run decided for one account. */
typedef struct Decision
{
	int64		tenant_id;
	int64		koc_id;
	int64		settled_seq;
	int64		balance_fen;
	int64		to_seq;
	int64		lines;
	int64		amount_fen;
	const char *status;			/* paying, netted, wait or hold */
	bool		all_payable;	/* every unsettled line is payable */
	TimestampTz due_at;
	bool		due_null;
} Decision;

PG_FUNCTION_INFO_V1(commerce_settle_commissions);

/* commerce.settle_commissions(limit): settle up to limit due KOCs; returns how many it looked at. */
Datum
commerce_settle_commissions(PG_FUNCTION_ARGS)
{
	int32		limit;
	TimestampTz now = commerce_clock();
	Decision   *d;
	int			n;
	Datum		v[9];
	Datum	   *a[8];
	bool	   *due_nulls;
	int			paying = 0;
	int			nslow;
	static const char *const args[] = {"p_limit"};

	commerce_require_args(fcinfo, 1, args);
	limit = PG_GETARG_INT32(0);
	if (limit < 1 || limit > COMMERCE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_limit"),
				 errdetail("%d KOCs per run.", limit),
				 errhint("Settle 1 to " CppAsString2(COMMERCE_MAX_BATCH) " KOCs per run.")));

	commerce_spi_connect();

	/* 1. lock */
	v[0] = TimestampTzGetDatum(now);
	v[1] = Int32GetDatum(limit);
	commerce_exec(&plan_lock_due, v, NULL, 0);
	n = (int) SPI_processed;
	if (n == 0)
	{
		commerce_spi_finish();
		PG_RETURN_INT32(0);
	}
	d = palloc0(sizeof(Decision) * n);
	for (int k = 0; k < 8; k++)
		a[k] = palloc(sizeof(Datum) * n);
	due_nulls = palloc0(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		d[i].tenant_id = commerce_get_int64(i, 1, NULL);
		d[i].koc_id = commerce_get_int64(i, 2, NULL);
		d[i].settled_seq = commerce_get_int64(i, 3, NULL);
		d[i].balance_fen = commerce_get_int64(i, 4, NULL);
		d[i].to_seq = commerce_get_int64(i, 5, NULL) - 1;	/* next_seq - 1 */
		d[i].amount_fen = commerce_get_int64(i, 6, NULL);	/* unsettled_fen */
		d[i].all_payable = commerce_get_bool(i, 7, &isnull) && !isnull;
		d[i].lines = d[i].to_seq - d[i].settled_seq;
		d[i].due_null = true;
		d[i].status = "hold";
		a[0][i] = Int64GetDatum(d[i].tenant_id);
		a[1][i] = Int64GetDatum(d[i].koc_id);
		a[2][i] = Int64GetDatum(i);
	}

	/* 2. who may be paid; for them, the payable run of lines */
	v[0] = commerce_make_array(a[0], NULL, n, INT8OID);
	v[1] = commerce_make_array(a[1], NULL, n, INT8OID);
	v[2] = commerce_make_array(a[2], NULL, n, INT8OID);
	commerce_exec_batch(&plan_eligible, v, NULL, 0);
	nslow = 0;
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		int64		i = commerce_get_int64(row, 1, NULL);

		d[i].status = "settle";
		/* fast path: every unsettled line is payable, the running sums say it all */
		if (d[i].all_payable)
			continue;
		a[3][nslow] = Int64GetDatum(d[i].tenant_id);
		a[4][nslow] = Int64GetDatum(d[i].koc_id);
		a[5][nslow] = Int64GetDatum(d[i].settled_seq);
		a[6][nslow] = Int64GetDatum(i);
		nslow++;
	}
	if (nslow > 0)
	{
		SPITupleTable *tt;
		uint64		rows;

		v[0] = commerce_make_array(a[3], NULL, nslow, INT8OID);
		v[1] = commerce_make_array(a[4], NULL, nslow, INT8OID);
		v[2] = commerce_make_array(a[5], NULL, nslow, INT8OID);
		v[3] = commerce_make_array(a[6], NULL, nslow, INT8OID);
		v[4] = TimestampTzGetDatum(now);
		commerce_exec_batch(&plan_unsettled, v, NULL, 0);
		tt = SPI_tuptable;
		rows = SPI_processed;
		for (uint64 row = 0; row < rows; row++)
		{
			bool		blocker_null;
			bool		maxp_null;
			bool		isnull;
			int64		i;
			int64		blocker;
			int64		maxp;
			Datum		next;

			SPI_tuptable = tt;
			i = commerce_get_int64(row, 1, NULL);
			blocker = commerce_get_int64(row, 2, &blocker_null);
			maxp = commerce_get_int64(row, 3, &maxp_null);
			d[i].amount_fen = commerce_get_int64(row, 4, NULL);
			d[i].lines = commerce_get_int64(row, 5, NULL);
			next = commerce_get_datum(row, 6, &isnull);
			d[i].due_null = isnull;
			d[i].due_at = isnull ? 0 : DatumGetTimestampTz(next);
			d[i].to_seq = maxp_null ? d[i].settled_seq : maxp;

			/* payable lines after the first unpayable one wait for it */
			if (!blocker_null && !maxp_null && maxp > blocker)
			{
				Datum		w[4];

				w[0] = Int64GetDatum(d[i].tenant_id);
				w[1] = Int64GetDatum(d[i].koc_id);
				w[2] = Int64GetDatum(blocker);
				w[3] = TimestampTzGetDatum(now);
				commerce_exec(&plan_after_blocker, w, NULL, 0);
				d[i].amount_fen -= commerce_get_int64(0, 1, NULL);
				d[i].lines -= commerce_get_int64(0, 2, NULL);
				d[i].to_seq = blocker - 1;
			}
		}
	}

	/* 3. decide */
	for (int i = 0; i < n; i++)
	{
		if (strcmp(d[i].status, "hold") == 0)
			;					/* frozen or unsigned: asleep until that changes */
		else if (d[i].lines == 0)
			d[i].status = "wait";	/* the next line is not payable yet */
		else if (d[i].amount_fen > 0)
			d[i].status = "paying";
		else if (d[i].amount_fen == 0 || d[i].balance_fen >= -d[i].amount_fen)
			d[i].status = "netted";
		else
		{
			/*
			 * Refunds exceed what is payable and the balance: carry the run
			 * forward.  A new line or money back in the balance makes the
			 * account due again (koc_commission.c, commerce._koc_post).
			 */
			d[i].status = "wait";
		}
		if (strcmp(d[i].status, "paying") == 0)
			paying++;
		a[0][i] = Int64GetDatum(d[i].tenant_id);
		a[1][i] = Int64GetDatum(d[i].koc_id);
		a[2][i] = Int64GetDatum(d[i].settled_seq + 1);
		a[3][i] = Int64GetDatum(d[i].to_seq);
		a[4][i] = Int64GetDatum(d[i].lines);
		a[5][i] = Int64GetDatum(d[i].amount_fen);
		a[6][i] = CStringGetTextDatum(d[i].status);
		a[7][i] = TimestampTzGetDatum(d[i].due_at);
		due_nulls[i] = d[i].due_null;
	}

	/* 4. write */
	for (int k = 0; k < 6; k++)
		v[k] = commerce_make_array(a[k], NULL, n, INT8OID);
	v[6] = commerce_make_array(a[6], NULL, n, TEXTOID);
	v[7] = commerce_make_array(a[7], due_nulls, n, TIMESTAMPTZOID);
	v[8] = TimestampTzGetDatum(now);
	commerce_exec_batch(&plan_write, v, NULL, 0);
	if (paying > 0)
		commerce_exec(&plan_notify, NULL, NULL, 0);

	commerce_spi_finish();
	PG_RETURN_INT32(n);
}
