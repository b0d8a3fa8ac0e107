/*
 * crm_insight.c
 *		CRM insight (CRM07, CRM13-CRM15): the daily RFM scoring of a tenant's
 *		buyers, the BG/NBD purchase model (fit, probability of no purchase)
 *		and the holdout metrics of a binary score.
 *
 * RFM: every buyer of the tenant gets three scores from 1 to 5, from exact
 * figures of commerce.crm_feature: recency (days since the last paid
 * order, fewer is better), frequency (paid orders) and monetary (net
 * spending).  A score is 1 + floor(5 * w / n), w the number of buyers
 * strictly worse on that figure and n the buyers, so ties share a score and
 * the result does not depend on row order.  The tier follows from R and F
 * (and M for champions); docs/crm.md has the table.  Only persons whose tier
 * or score changed are written, in batches, their rows locked in key order;
 * a tier change is recorded in crm_rfm_change and queues the person for the
 * CRM pump (segments read rfm_tier).
 *
 * BG/NBD (Fader, Hardie and Lee 2005): a customer buys at a Poisson rate
 * lambda ~ Gamma(r, alpha) while alive and, after each repeat purchase,
 * drops out with probability p ~ Beta(a, b).  From x repeat purchases, the
 * last at t_x, observed for T (days since the first purchase), the
 * parameters are fitted by maximum likelihood (Nelder-Mead on their logs),
 * and the probability of no purchase in the next h days is
 *     P(dead) + P(alive) * ((alpha + T) / (alpha + T + h))^(r + x).
 */
#include "commerce.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#define RFM_FETCH		10000
#define RFM_WRITE_BATCH 50000
#define BGNBD_MAX_EVALS 4000

static const char *const rfm_tiers[] = {
	"champion", "loyal", "new", "promising", "at_risk", "hibernating", "lost"
};

#define RFM_NTIERS	lengthof(rfm_tiers)

static CommercePlan plan_rfm_read = {
	"SELECT person_id, ($2 - last_order_day)::int4, orders_count, spent_fen, rfm_tier, rfm_score"
	"  FROM commerce.crm_feature"
	" WHERE tenant_id = $1 AND (orders_count > 0 OR rfm_tier IS NOT NULL)"
	" ORDER BY person_id",		/* batches then lock in key order across the whole run */
	2, {INT8OID, DATEOID}, NULL
};

static CommercePlan plan_rfm_lock = {
	"SELECT 1 FROM commerce.crm_feature WHERE tenant_id = $1 AND person_id = ANY ($2)"
	" ORDER BY person_id FOR NO KEY UPDATE",
	2, {INT8OID, INT8ARRAYOID}, NULL
};

static CommercePlan plan_rfm_write = {
	"WITH c AS (SELECT * FROM unnest($2::int8[], $3::text[], $4::int4[], $5::text[])"
	"             AS c(person_id, tier, score, from_tier)),"
	" u AS (UPDATE commerce.crm_feature f SET rfm_tier = c.tier, rfm_score = c.score, updated_at = $6"
	"         FROM c WHERE f.tenant_id = $1 AND f.person_id = c.person_id"
	"       RETURNING f.person_id, c.tier, c.score, c.from_tier),"
	" h AS (INSERT INTO commerce.crm_rfm_change (tenant_id, person_id, day, from_tier, to_tier, score, at)"
	"       SELECT $1, u.person_id, $7, u.from_tier, u.tier, u.score, $6 FROM u"
	"        WHERE u.from_tier IS DISTINCT FROM u.tier),"
	" d AS (INSERT INTO commerce.crm_dirty (tenant_id, person_id, at)"
	"       SELECT $1, u.person_id, $6 FROM u WHERE u.from_tier IS DISTINCT FROM u.tier)"
	" SELECT count(*) FROM u",
	7, {INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID, DATEOID}, NULL
};

typedef struct RfmRow
{
	int64		person;
	int32		recency;		/* days since the last order; -1: no order */
	int64		freq;
	int64		money;
	int			old_tier;		/* index in rfm_tiers, -1: none */
	int32		old_score;		/* -1: none */
} RfmRow;

/* qsort comparators for the sorted figures. */
static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* The number of values of sorted[0..n) strictly below v (binary search). */
static int64
count_below(const int64 *sorted, int64 n, int64 v)
{
	int64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (sorted[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The number of values of sorted[0..n) strictly above v. */
static int64
count_above(const int64 *sorted, int64 n, int64 v)
{
	int64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (sorted[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return n - lo;
}

/* A score from 1 to 5: 1 + floor(5 * worse / n). */
static int
rfm_score_of(int64 worse, int64 n)
{
	return 1 + (int) ((5 * worse) / n);
}

/* The tier of scores r, f, m (docs/crm.md): an index in rfm_tiers. */
static int
rfm_tier_of(int r, int f, int m)
{
	if (r >= 4 && f >= 4 && m >= 4)
		return 0;				/* champion */
	if (r >= 3 && f >= 3)
		return 1;				/* loyal */
	if (r >= 4)
		return 2;				/* new */
	if (r == 3)
		return 3;				/* promising */
	if (f >= 3)
		return 4;				/* at_risk */
	if (r == 2)
		return 5;				/* hibernating */
	return 6;					/* lost */
}

/* Write one batch of changed persons: lock their rows in key order, update, record. */
static int64
rfm_write(MemoryContext batch_cxt, int64 tenant_id, DateADT day, TimestampTz now, Datum *persons, Datum *tiers,
		  bool *tier_nulls, Datum *scores, bool *score_nulls, Datum *from, bool *from_nulls, int n)
{
	Datum		v[7];
	Datum		ids;
	bool		isnull;
	int64		changed;
	MemoryContext old;

	if (n == 0)
		return 0;
	old = MemoryContextSwitchTo(batch_cxt);		/* the batch's arrays, freed after it */
	ids = commerce_make_array(persons, NULL, n, INT8OID);
	v[0] = Int64GetDatum(tenant_id);
	v[1] = ids;
	commerce_exec_batch(&plan_rfm_lock, v, NULL, 0);
	v[2] = commerce_make_array(tiers, tier_nulls, n, TEXTOID);
	v[3] = commerce_make_array(scores, score_nulls, n, INT4OID);
	v[4] = commerce_make_array(from, from_nulls, n, TEXTOID);
	v[5] = TimestampTzGetDatum(now);
	v[6] = DateADTGetDatum(day);
	if (commerce_exec_batch(&plan_rfm_write, v, NULL, 1) != 1)
		elog(ERROR, "commerce._crm_rfm: the write returned no count");
	changed = commerce_get_int64(0, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(old);
	MemoryContextReset(batch_cxt);
	return changed;
}

PG_FUNCTION_INFO_V1(commerce_crm_rfm);

/* commerce._crm_rfm(tenant, day): score every buyer; returns (persons, changed, tiers). */
Datum
commerce_crm_rfm(PG_FUNCTION_ARGS)
{
	static const char *const args[] = {"p_tenant", "p_day"};
	int64		tenant_id;
	DateADT		day;
	TimestampTz now = commerce_clock();
	Datum		v[2];
	Portal		portal;
	RfmRow	   *rows = NULL;
	int64		nrows = 0,
				cap = 0,
				nbuyers = 0,
				changed = 0;
	int64	   *s_rec,
			   *s_freq,
			   *s_money;
	int64		tier_count[RFM_NTIERS] = {0};
	Datum	   *b_person,
			   *b_tier,
			   *b_score,
			   *b_from;
	bool	   *b_tier_null,
			   *b_score_null,
			   *b_from_null;
	int			nb = 0;
	Datum		tier_text[RFM_NTIERS];
	MemoryContext batch_cxt;
	StringInfoData tiers;
	TupleDesc	desc;
	Datum		out[3];
	bool		out_nulls[3] = {false, false, false};

	commerce_require_args(fcinfo, 2, args);
	tenant_id = PG_GETARG_INT64(0);
	day = PG_GETARG_DATEADT(1);

	commerce_spi_connect();
	v[0] = Int64GetDatum(tenant_id);
	v[1] = DateADTGetDatum(day);
	portal = SPI_cursor_open(NULL, commerce_plan(&plan_rfm_read), v, NULL, false);
	if (portal == NULL)
		elog(ERROR, "commerce._crm_rfm: cannot open the cursor: %s", SPI_result_code_string(SPI_result));
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, RFM_FETCH);
		if (SPI_processed == 0)
			break;
		if (nrows + (int64) SPI_processed > cap)
		{
			cap = Max(cap * 2, nrows + (int64) SPI_processed + RFM_FETCH);
			if (cap > (int64) (MaxAllocHugeSize / sizeof(RfmRow)))
				elog(ERROR, "commerce._crm_rfm: too many persons");
			rows = rows == NULL ? MemoryContextAllocHuge(TopTransactionContext, cap * sizeof(RfmRow))
				: repalloc_huge(rows, cap * sizeof(RfmRow));
		}
		for (i = 0; i < SPI_processed; i++)
		{
			RfmRow	   *r = &rows[nrows++];
			bool		isnull;
			char	   *tier;
			Datum		d;

			r->person = DatumGetInt64(commerce_get_datum(i, 1, &isnull));
			d = commerce_get_datum(i, 2, &isnull);
			r->recency = isnull ? -1 : Max(DatumGetInt32(d), 0);	/* an order after p_day: today */
			r->freq = commerce_get_int64(i, 3, &isnull);
			r->money = commerce_get_int64(i, 4, &isnull);
			tier = commerce_get_text(i, 5);
			r->old_tier = tier == NULL ? -1 : commerce_word_index(tier, rfm_tiers, RFM_NTIERS);
			if (tier != NULL)
				pfree(tier);
			d = commerce_get_datum(i, 6, &isnull);
			r->old_score = isnull ? -1 : DatumGetInt32(d);
			if (r->recency >= 0 && r->freq > 0)
				nbuyers++;
			else
				r->recency = -1;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	/* the sorted figures of the buyers */
	s_rec = palloc_extended(Max(nbuyers, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	s_freq = palloc_extended(Max(nbuyers, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	s_money = palloc_extended(Max(nbuyers, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	{
		int64		j = 0;

		for (int64 i = 0; i < nrows; i++)
			if (rows[i].recency >= 0)
			{
				s_rec[j] = rows[i].recency;
				s_freq[j] = rows[i].freq;
				s_money[j] = rows[i].money;
				j++;
			}
	}
	qsort(s_rec, nbuyers, sizeof(int64), cmp_int64);
	qsort(s_freq, nbuyers, sizeof(int64), cmp_int64);
	qsort(s_money, nbuyers, sizeof(int64), cmp_int64);

	for (int t = 0; t < (int) RFM_NTIERS; t++)
		tier_text[t] = CStringGetTextDatum(rfm_tiers[t]);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "commerce rfm batch", ALLOCSET_DEFAULT_SIZES);
	b_person = palloc(RFM_WRITE_BATCH * sizeof(Datum));
	b_tier = palloc(RFM_WRITE_BATCH * sizeof(Datum));
	b_score = palloc(RFM_WRITE_BATCH * sizeof(Datum));
	b_from = palloc(RFM_WRITE_BATCH * sizeof(Datum));
	b_tier_null = palloc(RFM_WRITE_BATCH * sizeof(bool));
	b_score_null = palloc(RFM_WRITE_BATCH * sizeof(bool));
	b_from_null = palloc(RFM_WRITE_BATCH * sizeof(bool));
	for (int64 i = 0; i < nrows; i++)
	{
		RfmRow	   *r = &rows[i];
		int			tier = -1;
		int32		score = -1;

		if (r->recency >= 0)
		{
			int			rs = rfm_score_of(count_above(s_rec, nbuyers, r->recency), nbuyers);
			int			fs = rfm_score_of(count_below(s_freq, nbuyers, r->freq), nbuyers);
			int			ms = rfm_score_of(count_below(s_money, nbuyers, r->money), nbuyers);

			tier = rfm_tier_of(rs, fs, ms);
			score = rs * 100 + fs * 10 + ms;
			tier_count[tier]++;
		}
		if (tier == r->old_tier && score == r->old_score)
			continue;
		b_person[nb] = Int64GetDatum(r->person);
		b_tier_null[nb] = tier < 0;
		b_tier[nb] = tier < 0 ? (Datum) 0 : tier_text[tier];
		b_score_null[nb] = score < 0;
		b_score[nb] = Int32GetDatum(score);
		b_from_null[nb] = r->old_tier < 0;
		b_from[nb] = r->old_tier < 0 ? (Datum) 0 : tier_text[r->old_tier];
		if (++nb == RFM_WRITE_BATCH)
		{
			changed += rfm_write(batch_cxt, tenant_id, day, now, b_person, b_tier, b_tier_null, b_score,
								 b_score_null, b_from, b_from_null, nb);
			nb = 0;
		}
	}
	changed += rfm_write(batch_cxt, tenant_id, day, now, b_person, b_tier, b_tier_null, b_score, b_score_null,
						 b_from, b_from_null, nb);

	commerce_spi_finish();

	/* the result, in the caller's memory (SPI's is gone) */
	initStringInfo(&tiers);
	appendStringInfoChar(&tiers, '{');
	for (int t = 0; t < (int) RFM_NTIERS; t++)
		appendStringInfo(&tiers, "%s\"%s\": " INT64_FORMAT, t ? ", " : "", rfm_tiers[t], tier_count[t]);
	appendStringInfoChar(&tiers, '}');

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce._crm_rfm: return type must be a row type");
	desc = BlessTupleDesc(desc);
	out[0] = Int64GetDatum(nbuyers);
	out[1] = Int64GetDatum(changed);
	out[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(tiers.data));
	if (rows != NULL)
		pfree(rows);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, out_nulls)));
}

/* ---------------------------------------------------------------- BG/NBD */

/* The groups of customers to fit: x, t_x, T and a weight (how many customers). */
typedef struct BgnbdData
{
	int			n;
	int		   *x;
	double	   *tx;
	double	   *t;
	double	   *w;
	int			max_x;
	double	   *lg;				/* scratch: per x, the terms that depend on x alone */
} BgnbdData;

/* An array argument as doubles (float8[] or int4[]), its length checked; 22023 on a NULL element. */
static double *
array_doubles(ArrayType *a, const char *name, int *n)
{
	Oid			elem = ARR_ELEMTYPE(a);
	int16		len;
	bool		byval;
	char		align;
	Datum	   *d;
	bool	   *nulls;
	double	   *out;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name),
				 errhint("Pass one value per customer group.")));
	get_typlenbyvalalign(elem, &len, &byval, &align);
	deconstruct_array(a, elem, len, byval, align, &d, &nulls, n);
	out = palloc(Max(*n, 1) * sizeof(double));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s[%d] is NULL", name, i + 1),
					 errhint("Every customer group has x, t_x, T and a weight.")));
		out[i] = elem == INT4OID ? (double) DatumGetInt32(d[i]) : DatumGetFloat8(d[i]);
	}
	return out;
}

/* The negative log-likelihood of the data at log-parameters theta (r, alpha, a, b). */
static double
bgnbd_nll(const double *theta, BgnbdData *data)
{
	double		r = exp(theta[0]),
				alpha = exp(theta[1]),
				a = exp(theta[2]),
				b = exp(theta[3]);
	double		base,
				ll = 0;

	if (!isfinite(r) || !isfinite(alpha) || !isfinite(a) || !isfinite(b)
		|| r < 1e-8 || alpha < 1e-8 || a < 1e-8 || b < 1e-8)
		return DBL_MAX;
	/* per x: lgamma(r+x) - lgamma(r) + r ln alpha + lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x) */
	base = -lgamma(r) + r * log(alpha) + lgamma(a + b) - lgamma(b);
	for (int x = 0; x <= data->max_x; x++)
		data->lg[x] = base + lgamma(r + x) + lgamma(b + x) - lgamma(a + b + x);
	for (int i = 0; i < data->n; i++)
	{
		int			x = data->x[i];
		double		a3 = -(r + x) * log(alpha + data->t[i]);
		double		l;

		if (x > 0)
		{
			double		a4 = log(a) - log(b + x - 1) - (r + x) * log(alpha + data->tx[i]);
			double		hi = Max(a3, a4);

			l = hi + log(exp(a3 - hi) + exp(a4 - hi));
		}
		else
			l = a3;
		ll += data->w[i] * (data->lg[x] + l);
	}
	return isfinite(ll) ? -ll : DBL_MAX;
}

/* Minimise bgnbd_nll by Nelder-Mead over the 4 log-parameters, from theta; returns evaluations. */
static int
nelder_mead(double *theta, BgnbdData *data, double *fbest)
{
	const int	d = 4;
	double		p[5][4],
				f[5],
				c[4],
				xr[4],
				xe[4],
				xc[4];
	int			evals = 0;

	for (int i = 0; i <= d; i++)
	{
		for (int j = 0; j < d; j++)
			p[i][j] = theta[j] + (i == j + 1 ? 0.5 : 0.0);
		f[i] = bgnbd_nll(p[i], data);
		evals++;
	}
	while (evals < BGNBD_MAX_EVALS)
	{
		int			lo = 0,
					hi = 0,
					nh = 0;
		double		fr,
					fe,
					fc;

		for (int i = 1; i <= d; i++)
		{
			if (f[i] < f[lo])
				lo = i;
			if (f[i] > f[hi])
				hi = i;
		}
		nh = lo;
		for (int i = 0; i <= d; i++)
			if (i != hi && f[i] > f[nh])
				nh = i;
		if (fabs(f[hi] - f[lo]) <= 1e-10 * (fabs(f[lo]) + 1e-10))
			break;
		for (int j = 0; j < d; j++)
		{
			c[j] = 0;
			for (int i = 0; i <= d; i++)
				if (i != hi)
					c[j] += p[i][j] / d;
		}
		for (int j = 0; j < d; j++)
			xr[j] = c[j] + (c[j] - p[hi][j]);
		fr = bgnbd_nll(xr, data);
		evals++;
		if (fr < f[lo])
		{
			for (int j = 0; j < d; j++)
				xe[j] = c[j] + 2 * (c[j] - p[hi][j]);
			fe = bgnbd_nll(xe, data);
			evals++;
			if (fe < fr)
			{
				memcpy(p[hi], xe, sizeof(xe));
				f[hi] = fe;
			}
			else
			{
				memcpy(p[hi], xr, sizeof(xr));
				f[hi] = fr;
			}
			continue;
		}
		if (fr < f[nh])
		{
			memcpy(p[hi], xr, sizeof(xr));
			f[hi] = fr;
			continue;
		}
		/* contract towards the better of the worst point and its reflection */
		for (int j = 0; j < d; j++)
			xc[j] = fr < f[hi] ? c[j] + 0.5 * (xr[j] - c[j]) : c[j] + 0.5 * (p[hi][j] - c[j]);
		fc = bgnbd_nll(xc, data);
		evals++;
		if (fc < Min(fr, f[hi]))
		{
			memcpy(p[hi], xc, sizeof(xc));
			f[hi] = fc;
			continue;
		}
		/* shrink towards the best */
		for (int i = 0; i <= d; i++)
			if (i != lo)
			{
				for (int j = 0; j < d; j++)
					p[i][j] = p[lo][j] + 0.5 * (p[i][j] - p[lo][j]);
				f[i] = bgnbd_nll(p[i], data);
				evals++;
			}
	}
	{
		int			lo = 0;

		for (int i = 1; i <= d; i++)
			if (f[i] < f[lo])
				lo = i;
		memcpy(theta, p[lo], sizeof(double) * d);
		*fbest = f[lo];
	}
	return evals;
}

PG_FUNCTION_INFO_V1(commerce_bgnbd_fit);

/* commerce._bgnbd_fit(x, t_x, T, weight): maximum-likelihood BG/NBD parameters. */
Datum
commerce_bgnbd_fit(PG_FUNCTION_ARGS)
{
	BgnbdData	data;
	int			n1,
				n2,
				n3,
				n4;
	double	   *xd;
	double		theta[4],
				fbest,
				wsum = 0,
				xsum = 0,
				tsum = 0;
	Datum		out[6];
	int			evals;

	xd = array_doubles(PG_GETARG_ARRAYTYPE_P(0), "p_x", &n1);
	data.tx = array_doubles(PG_GETARG_ARRAYTYPE_P(1), "p_tx", &n2);
	data.t = array_doubles(PG_GETARG_ARRAYTYPE_P(2), "p_t", &n3);
	data.w = array_doubles(PG_GETARG_ARRAYTYPE_P(3), "p_weight", &n4);
	if (n1 != n2 || n1 != n3 || n1 != n4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p_x, p_tx, p_t and p_weight differ in length (%d, %d, %d, %d)", n1, n2, n3, n4),
				 errhint("Pass one value of each per customer group.")));
	if (n1 < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few customer groups to fit a model (%d)", n1),
				 errhint("Fit on a history of at least two distinct customers.")));
	data.n = n1;
	data.x = palloc(n1 * sizeof(int));
	data.max_x = 0;
	for (int i = 0; i < n1; i++)
	{
		if (xd[i] < 0 || xd[i] > 100000 || xd[i] != floor(xd[i]) || data.tx[i] < 0
			|| data.t[i] <= 0 || data.tx[i] > data.t[i] || data.w[i] <= 0
			|| (xd[i] == 0 && data.tx[i] != 0) || !isfinite(data.t[i]) || !isfinite(data.w[i])
			|| !isfinite(data.tx[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("customer group %d is not a purchase history (x %g, t_x %g, T %g, weight %g)",
							i + 1, xd[i], data.tx[i], data.t[i], data.w[i]),
					 errdetail("x is the repeat purchases (0..100000), 0 <= t_x <= T, T > 0, t_x = 0 when x = 0, weight > 0."),
					 errhint("Measure t_x and T in days from the first purchase.")));
		data.x[i] = (int) xd[i];
		data.max_x = Max(data.max_x, data.x[i]);
		wsum += data.w[i];
		xsum += data.w[i] * xd[i];
		tsum += data.w[i] * data.t[i];
	}
	data.lg = palloc((data.max_x + 1) * sizeof(double));
	/* start: r = 1, alpha so that r / alpha is the mean rate, a = b = 1 */
	theta[0] = 0;
	theta[1] = log(Max(tsum / Max(xsum, 1e-6), 1e-3));
	theta[2] = 0;
	theta[3] = 0;
	evals = nelder_mead(theta, &data, &fbest);
	evals += nelder_mead(theta, &data, &fbest);		/* a restart, against a collapsed simplex */
	if (!isfinite(fbest) || fbest >= DBL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the BG/NBD model cannot be fitted to these histories"),
				 errdetail("The likelihood is not finite anywhere the search went."),
				 errhint("Check the histories: days since the first purchase, in a plausible range.")));
	for (int j = 0; j < 4; j++)
		out[j] = Float8GetDatum(exp(theta[j]));
	out[4] = Float8GetDatum(-fbest);
	out[5] = Float8GetDatum((double) evals);
	(void) wsum;
	PG_RETURN_DATUM(commerce_make_array(out, NULL, 6, FLOAT8OID));
}

/* The four BG/NBD parameters of an array argument, checked. */
static void
bgnbd_params(ArrayType *a, double *r, double *alpha, double *pa, double *pb)
{
	int			n;
	double	   *p = array_doubles(a, "p_params", &n);

	if (n < 4 || !(p[0] > 0) || !(p[1] > 0) || !(p[2] > 0) || !(p[3] > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p_params is not a BG/NBD model"),
				 errdetail("It needs r, alpha, a and b, all positive."),
				 errhint("Pass the params of a model fitted by commerce._bgnbd_fit.")));
	*r = p[0];
	*alpha = p[1];
	*pa = p[2];
	*pb = p[3];
}

PG_FUNCTION_INFO_V1(commerce_bgnbd_p_zero);

/* commerce._bgnbd_p_zero(params, x, t_x, T, h): the probability of no purchase in the next h days. */
Datum
commerce_bgnbd_p_zero(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b;
	int32		x = PG_GETARG_INT32(1);
	double		tx = PG_GETARG_FLOAT8(2);
	double		t = PG_GETARG_FLOAT8(3);
	double		h = PG_GETARG_FLOAT8(4);
	double		alive,
				stay;

	bgnbd_params(PG_GETARG_ARRAYTYPE_P(0), &r, &alpha, &a, &b);
	if (x < 0 || !isfinite(tx) || !isfinite(t) || !isfinite(h) || tx < 0 || t < tx || h < 0 || (x == 0 && tx != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not a purchase history (x %d, t_x %g, T %g, h %g)", x, tx, t, h),
				 errhint("x repeat purchases, the last at t_x, observed for T >= t_x days; h >= 0.")));
	if (x > 0)
		alive = 1.0 / (1.0 + (a / (b + x - 1)) * exp((r + x) * (log(alpha + t) - log(alpha + tx))));
	else
		alive = 1.0;
	stay = exp((r + x) * (log(alpha + t) - log(alpha + t + h)));
	PG_RETURN_FLOAT8(1.0 - alive + alive * stay);
}

/* ---------------------------------------------------------------- metrics */

typedef struct Scored
{
	double		score;
	bool		label;
} Scored;

/* Descending by score. */
static int
cmp_scored_desc(const void *a, const void *b)
{
	double		x = ((const Scored *) a)->score;
	double		y = ((const Scored *) b)->score;

	return (x < y) - (x > y);
}

PG_FUNCTION_INFO_V1(commerce_binary_metrics);

/* commerce._binary_metrics(score, label): AUC, top-decile lift, calibration error, accuracy, precision, recall. */
Datum
commerce_binary_metrics(PG_FUNCTION_ARGS)
{
	ArrayType  *sa = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *la = PG_GETARG_ARRAYTYPE_P(1);
	int			n,
				nl;
	double	   *score = array_doubles(sa, "p_score", &n);
	Datum	   *ld;
	bool	   *lnull;
	Scored	   *s;
	int64		pos = 0,
				top = 0,
				correct = 0,
				flagged = 0,
				flagged_pos = 0;
	double		rank_sum = 0,
				auc,
				base,
				lift,
				ece = 0,
				brier = 0;
	double		bin_p[10] = {0},
				bin_y[10] = {0};
	int64		bin_n[10] = {0};
	StringInfoData js;

	deconstruct_array(la, BOOLOID, 1, true, TYPALIGN_CHAR, &ld, &lnull, &nl);
	if (nl != n || n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p_score and p_label differ in length or are empty (%d, %d)", n, nl),
				 errhint("Pass one score and one outcome per person.")));
	s = palloc_extended(n * sizeof(Scored), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		int			bin;

		if (lnull[i] || !(score[i] >= 0 && score[i] <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("person %d has no outcome or a score outside 0..1", i + 1),
					 errhint("Scores are probabilities of the outcome.")));
		s[i].score = score[i];
		s[i].label = DatumGetBool(ld[i]);
		pos += s[i].label;
		correct += (score[i] >= 0.5) == s[i].label;
		flagged += score[i] >= 0.5;
		flagged_pos += score[i] >= 0.5 && s[i].label;
		brier += (score[i] - s[i].label) * (score[i] - s[i].label);
		bin = Min((int) (score[i] * 10), 9);
		bin_n[bin]++;
		bin_p[bin] += score[i];
		bin_y[bin] += s[i].label;
	}
	qsort(s, n, sizeof(Scored), cmp_scored_desc);
	/* AUC from the ranks of the positives, ties given their mean rank (rank 1: the lowest score) */
	for (int i = 0; i < n;)
	{
		int			j = i;
		int64		tie_pos = 0;

		while (j < n && s[j].score == s[i].score)
			tie_pos += s[j++].label;
		/* positions i..j-1 from the top are ranks n-j+1 .. n-i from the bottom */
		rank_sum += tie_pos * ((double) (n - j + 1) + (double) (n - i)) / 2.0;
		i = j;
	}
	auc = (pos == 0 || pos == n) ? 0.5
		: (rank_sum - (double) pos * (pos + 1) / 2.0) / ((double) pos * (double) (n - pos));
	/* the top tenth; a group of equal scores across its boundary counts pro rata (order-free) */
	top = (n + 9) / 10;
	{
		double		top_posf = 0;

		for (int i = 0; i < top;)
		{
			int			j = i;
			int64		tie_pos = 0;

			while (j < n && s[j].score == s[i].score)
				tie_pos += s[j++].label;
			if (j <= top)
				top_posf += tie_pos;
			else
				top_posf += (double) tie_pos * (top - i) / (j - i);
			i = j;
		}
		base = (double) pos / n;
		lift = pos == 0 ? 0 : (top_posf / top) / base;
	}
	for (int b = 0; b < 10; b++)
		if (bin_n[b] > 0)
			ece += fabs(bin_p[b] / bin_n[b] - bin_y[b] / bin_n[b]) * bin_n[b] / n;

	initStringInfo(&js);
	appendStringInfo(&js,
					 "{\"n\": %d, \"positives\": " INT64_FORMAT ", \"base_rate\": %.6f, \"auc\": %.6f,"
					 " \"top_decile_lift\": %.4f, \"calibration_error\": %.6f, \"brier\": %.6f,"
					 " \"accuracy\": %.6f, \"accuracy_of_base_rate\": %.6f, \"precision\": %.6f, \"recall\": %.6f}",
					 n, pos, base, auc, lift, ece, brier / n, (double) correct / n, Max(base, 1 - base),
					 flagged == 0 ? 0.0 : (double) flagged_pos / flagged, pos == 0 ? 0.0 : (double) flagged_pos / pos);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data)));
}
