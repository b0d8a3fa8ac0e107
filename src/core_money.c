/*
 * core_money.c
 *		Money arithmetic, written once.  Amounts are integer fen (int64),
 *		rates and shares basis points (0 to COMMERCE_BP_SCALE).  Every rate
 *		applied to an amount (a commission, a withdrawal fee, a store's share)
 *		is computed here, in exact integer arithmetic that cannot overflow
 *		for any amount from 0 to INT64_MAX and any rate from 0 to 10000:
 *
 *		rate_floor(a, r) = floor(a x r / 10000)
 *		split(a, r)      = (s, a - s), s = rate_floor(a, r) + 1 when the
 *		                   remainder of a x r / 10000 is larger than that of
 *		                   a x (10000 - r) / 10000 (largest remainder), so
 *		                   the two parts always add up to a
 *		fee(a, r, m)     = max(rate_floor(a, r), m)
 *		allocate(a, w, c) = a split over n parts in proportion to the weights
 *		                   w by the largest remainder, no part above its cap
 *		                   c (what a capped part cannot take goes to the
 *		                   others, in proportion again): the parts add up to a
 *		prorate(a, p, w) = floor(a x p / w), the part p of a whole w of an
 *		                   amount a (a fixed share of a partly refunded line)
 *		share(b, c, f, r) = a profit split of base b over n parties and the
 *		                   owner: fixed parts f first, each at most what the
 *		                   cap c leaves, then the ratios r of what is left by
 *		                   the largest remainder (the owner's weight is
 *		                   10000 - sum r), scaled down to the cap when they
 *		                   pass it; the owner takes the rest, so the n + 1
 *		                   parts add up to b and the parties' at most c
 *
 * a = q x 10000 + t with 0 <= t < 10000, so a x r = q x r x 10000 + t x r:
 * the quotient is q x r + (t x r) / 10000 and the remainder (t x r) % 10000,
 * and no intermediate exceeds a x r / 10000 + 10^8 <= a + 10^8.
 *
 * Internal callers (commission lines) pass amounts the database already
 * bounds; only a negative amount or a rate outside 0..10000 is refused, as a
 * bug.  The SQL functions refuse bad arguments with 22023 (split_fen also
 * amounts above 10^15 fen, its domain since 0.6.0).
 *
 * The SQL functions commerce.rate_fen, commerce.fee_fen and commerce.split_fen
 * expose the same arithmetic to SQL and PL/pgSQL callers; commerce.yuan writes
 * an amount in fen as the exact yuan figure a display shows ("149.00").
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#ifndef HAVE_INT128
#error "commerce needs a 128-bit integer type for commerce_money_allocate"
#endif

static void money_check(int64 amount_fen, int64 max_fen, int64 rate_bp, const char *amount_name,
						const char *rate_name);

/* Refuse an amount outside 0..max_fen or a rate outside 0..COMMERCE_BP_SCALE (22023). */
static void
money_check(int64 amount_fen, int64 max_fen, int64 rate_bp, const char *amount_name,
			const char *rate_name)
{
	if (amount_fen < 0 || amount_fen > max_fen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for %s", amount_name),
				 errdetail(INT64_FORMAT " fen", amount_fen),
				 max_fen == COMMERCE_MAX_FEN ? errhint("Amounts are 0 to 10^15 fen.")
				 : errhint("Amounts are not negative.")));
	if (rate_bp < 0 || rate_bp > COMMERCE_BP_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for %s", rate_name),
				 errdetail(INT64_FORMAT " bp", rate_bp),
				 errhint("A rate or share is 0 to " CppAsString2(COMMERCE_BP_SCALE) " basis points.")));
}

/* floor(amount x rate / 10000), exact, for amount >= 0 and 0 <= rate <= 10000. */
int64
commerce_money_rate_floor(int64 amount_fen, int64 rate_bp)
{
	if (amount_fen < 0 || rate_bp < 0 || rate_bp > COMMERCE_BP_SCALE)
		elog(ERROR, "commerce: a rate of " INT64_FORMAT " bp applied to " INT64_FORMAT " fen",
			 rate_bp, amount_fen);
	return (amount_fen / COMMERCE_BP_SCALE) * rate_bp +
		((amount_fen % COMMERCE_BP_SCALE) * rate_bp) / COMMERCE_BP_SCALE;
}

/* Split an amount into share_bp and the rest by the largest remainder: the parts add up. */
void
commerce_money_split(int64 amount_fen, int64 share_bp, int64 *share_fen, int64 *rest_fen)
{
	int64		t;
	int64		share_rem;
	int64		rest_rem;
	int64		share;

	if (amount_fen < 0 || share_bp < 0 || share_bp > COMMERCE_BP_SCALE)
		elog(ERROR, "commerce: a share of " INT64_FORMAT " bp of " INT64_FORMAT " fen",
			 share_bp, amount_fen);
	t = amount_fen % COMMERCE_BP_SCALE;
	share = commerce_money_rate_floor(amount_fen, share_bp);
	share_rem = (t * share_bp) % COMMERCE_BP_SCALE;
	rest_rem = (t * (COMMERCE_BP_SCALE - share_bp)) % COMMERCE_BP_SCALE;
	/* the two floors leave at most one fen: to the larger remainder, the rest on a tie */
	if (share_rem > rest_rem)
		share += 1;
	*share_fen = share;
	*rest_fen = amount_fen - share;
}

/* A fee: amount x fee_bp rounded down, at least min_fee_fen. */
int64
commerce_money_fee(int64 amount_fen, int64 fee_bp, int64 min_fee_fen)
{
	int64		fee = commerce_money_rate_floor(amount_fen, fee_bp);

	return Max(fee, min_fee_fen);
}

/*
 * Split amount_fen over n parts in proportion to weights, by the largest
 * remainder (ties to the lower index), no part above its cap.  Rounds of
 * water-filling: a part whose proportional share would pass its cap takes
 * its cap and leaves the round; the rest is shared again among the others
 * (by their caps when none of them has a weight).  The caller guarantees
 * 0 <= amount <= sum of caps and non-negative weights and caps.
 */
void
commerce_money_allocate(int64 amount_fen, int n, const int64 *weights, const int64 *caps, int64 *out)
{
	bool	   *done = palloc0(sizeof(bool) * Max(n, 1));
	int128	   *rem = palloc(sizeof(int128) * Max(n, 1));
	int64	   *share = palloc(sizeof(int64) * Max(n, 1));
	int64		remaining = amount_fen;
	int			i;

	for (i = 0; i < n; i++)
	{
		out[i] = 0;
		done[i] = caps[i] <= 0;
	}
	while (remaining > 0)
	{
		int128		w_total = 0;
		bool		by_cap;
		int64		placed = 0;
		bool		capped = false;

		for (i = 0; i < n; i++)
			if (!done[i])
				w_total += weights[i];
		by_cap = (w_total == 0);
		if (by_cap)
			for (i = 0; i < n; i++)
				if (!done[i])
					w_total += caps[i];
		if (w_total == 0)
			elog(ERROR, "commerce: " INT64_FORMAT " fen to allocate beyond the caps", remaining);
		for (i = 0; i < n; i++)
		{
			int128		num;

			share[i] = 0;
			rem[i] = -1;
			if (done[i])
				continue;
			num = (int128) remaining * (by_cap ? caps[i] : weights[i]);
			share[i] = (int64) (num / w_total);
			rem[i] = num % w_total;
			placed += share[i];
		}
		/* the floors leave fewer fen than parts: one each to the largest remainders */
		while (placed < remaining)
		{
			int			best = -1;

			for (i = 0; i < n; i++)
				if (!done[i] && (by_cap ? caps[i] : weights[i]) > 0 &&
					(best < 0 || rem[i] > rem[best]))
					best = i;
			if (best < 0)
				elog(ERROR, "commerce: no part left for the remainder");
			share[best] += 1;
			rem[best] = -1;
			placed += 1;
		}
		for (i = 0; i < n; i++)
			if (!done[i] && out[i] + share[i] >= caps[i] && share[i] > 0)
			{
				remaining -= caps[i] - out[i];
				out[i] = caps[i];
				done[i] = true;
				capped = true;
			}
		if (capped)
			continue;			/* share what is left again among the others */
		for (i = 0; i < n; i++)
			if (!done[i])
				out[i] += share[i];
		remaining = 0;
	}
	pfree(done);
	pfree(rem);
	pfree(share);
}

/*
 * A profit split of base_fen over n parties and the owner (out[n]): each
 * party's fixed part first, in order, each at most what is left of cap_fen
 * (the gateway's limit on what may go to receivers); then the ratio parts of
 * what the fixed parts leave, by the largest remainder with the owner's
 * weight 10000 - sum(ratio_bp) last; when the ratio parts together pass what
 * is left of the cap they are shared out again in proportion, to that sum.
 * out[i] is party i's fixed plus ratio part; the owner takes the rest.  The
 * caller guarantees 0 <= base, 0 <= cap, fixed parts >= 0 and ratios that are
 * 0..10000 together.
 */
void
commerce_money_share(int64 base_fen, int64 cap_fen, int n, const int64 *fixed_fen, const int64 *ratio_bp,
					 int64 *out)
{
	int64	   *weights = palloc(sizeof(int64) * (n + 1));
	int64	   *caps = palloc(sizeof(int64) * (n + 1));
	int64	   *ratio = palloc(sizeof(int64) * (n + 1));
	int64		cap_left = Min(cap_fen, base_fen);
	int64		rest;
	int64		owner_bp = COMMERCE_BP_SCALE;
	int64		ratio_total = 0;
	int64		parties = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		out[i] = Min(fixed_fen[i], cap_left);
		cap_left -= out[i];
		parties += out[i];
		owner_bp -= ratio_bp[i];
	}
	rest = base_fen - parties;
	for (i = 0; i < n; i++)
	{
		weights[i] = ratio_bp[i];
		caps[i] = rest;
	}
	weights[n] = owner_bp;
	caps[n] = rest;
	commerce_money_allocate(rest, n + 1, weights, caps, ratio);
	for (i = 0; i < n; i++)
		ratio_total += ratio[i];
	if (ratio_total > cap_left)
	{
		/* the ratios pass the cap: what the cap leaves, in the same proportion */
		for (i = 0; i < n; i++)
			caps[i] = ratio[i];
		commerce_money_allocate(cap_left, n, weights, caps, ratio);
		ratio_total = cap_left;
	}
	for (i = 0; i < n; i++)
		out[i] += ratio[i];
	out[n] = base_fen - parties - ratio_total;
	pfree(weights);
	pfree(caps);
	pfree(ratio);
}

PG_FUNCTION_INFO_V1(commerce_rate_fen);

/* SQL: commerce.rate_fen(p_amount_fen bigint, p_rate_bp integer) -> floor(amount x rate / 10000). */
Datum
commerce_rate_fen(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_amount_fen", "p_rate_bp"};
	int64		amount;
	int32		rate;

	commerce_require_args(fcinfo, lengthof(names), names);
	amount = PG_GETARG_INT64(0);
	rate = PG_GETARG_INT32(1);
	money_check(amount, PG_INT64_MAX, rate, "p_amount_fen", "p_rate_bp");
	PG_RETURN_INT64(commerce_money_rate_floor(amount, rate));
}

PG_FUNCTION_INFO_V1(commerce_fee_fen);

/* SQL: commerce.fee_fen(p_amount_fen bigint, p_fee_bp integer, p_min_fen bigint) -> the fee. */
Datum
commerce_fee_fen(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_amount_fen", "p_fee_bp", "p_min_fen"};
	int64		amount;
	int32		rate;
	int64		min_fee;

	commerce_require_args(fcinfo, lengthof(names), names);
	amount = PG_GETARG_INT64(0);
	rate = PG_GETARG_INT32(1);
	min_fee = PG_GETARG_INT64(2);
	money_check(amount, PG_INT64_MAX, rate, "p_amount_fen", "p_fee_bp");
	money_check(min_fee, PG_INT64_MAX, 0, "p_min_fen", "p_fee_bp");
	PG_RETURN_INT64(commerce_money_fee(amount, rate, min_fee));
}

PG_FUNCTION_INFO_V1(commerce_split_fen);

/* SQL: commerce.split_fen(p_amount bigint, p_share_bp integer, OUT share_fen, OUT rest_fen). */
Datum
commerce_split_fen(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_amount", "p_share_bp"};
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		share;
	int64		rest;

	commerce_require_args(fcinfo, lengthof(names), names);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce.split_fen: the result type is not composite");
	money_check(PG_GETARG_INT64(0), COMMERCE_MAX_FEN, PG_GETARG_INT32(1), "p_amount", "p_share_bp");
	commerce_money_split(PG_GETARG_INT64(0), PG_GETARG_INT32(1), &share, &rest);
	values[0] = Int64GetDatum(share);
	values[1] = Int64GetDatum(rest);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* The elements of a bigint[] argument: no NULLs, each 0..10^15 (22004, 22023). */
static int64 *
money_array(ArrayType *arr, const char *name, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int64	   *v;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for %s", name),
				 errdetail("The array has %d dimensions.", ARR_NDIM(arr)),
				 errhint("Pass a one-dimensional array.")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, n);
	v = palloc(sizeof(int64) * Max(*n, 1));
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %s must not contain nulls", name),
					 errhint("Pass 0 for a part that takes nothing.")));
		v[i] = DatumGetInt64(elems[i]);
		money_check(v[i], COMMERCE_MAX_FEN, 0, name, name);
	}
	return v;
}

PG_FUNCTION_INFO_V1(commerce_allocate_fen);

/* SQL: commerce.allocate_fen(p_amount bigint, p_weights bigint[], p_caps bigint[]) -> bigint[]. */
Datum
commerce_allocate_fen(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_amount", "p_weights", "p_caps"};
	int64		amount;
	int64	   *weights;
	int64	   *caps;
	int64	   *out;
	Datum	   *d;
	int			nw;
	int			nc;
	int			i;
	int128		cap_total = 0;

	commerce_require_args(fcinfo, lengthof(names), names);
	amount = PG_GETARG_INT64(0);
	money_check(amount, COMMERCE_MAX_FEN, 0, "p_amount", "p_amount");
	weights = money_array(PG_GETARG_ARRAYTYPE_P(1), "p_weights", &nw);
	caps = money_array(PG_GETARG_ARRAYTYPE_P(2), "p_caps", &nc);
	if (nw != nc || nw > COMMERCE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_caps"),
				 errdetail("%d weights and %d caps.", nw, nc),
				 errhint("Pass one weight and one cap per part (at most %d parts).", COMMERCE_MAX_BATCH)));
	for (i = 0; i < nc; i++)
		cap_total += caps[i];
	if ((int128) amount > cap_total)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_amount"),
				 errdetail(INT64_FORMAT " fen is more than the parts can take together.", amount),
				 errhint("Allocate at most the sum of the caps.")));
	out = palloc(sizeof(int64) * Max(nw, 1));
	commerce_money_allocate(amount, nw, weights, caps, out);
	d = palloc(sizeof(Datum) * Max(nw, 1));
	for (i = 0; i < nw; i++)
		d[i] = Int64GetDatum(out[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, nw, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(commerce_share_fen);

/* SQL: commerce.share_fen(p_base bigint, p_cap bigint, p_fixed bigint[], p_ratio_bp bigint[]) -> bigint[] (n + 1 parts). */
Datum
commerce_share_fen(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_base", "p_cap", "p_fixed", "p_ratio_bp"};
	int64		base;
	int64		cap;
	int64	   *fixed;
	int64	   *ratio;
	int64	   *out;
	int64		ratio_total = 0;
	Datum	   *d;
	int			nf;
	int			nr;
	int			i;

	commerce_require_args(fcinfo, lengthof(names), names);
	base = PG_GETARG_INT64(0);
	cap = PG_GETARG_INT64(1);
	money_check(base, COMMERCE_MAX_FEN, 0, "p_base", "p_base");
	money_check(cap, COMMERCE_MAX_FEN, 0, "p_cap", "p_cap");
	fixed = money_array(PG_GETARG_ARRAYTYPE_P(2), "p_fixed", &nf);
	ratio = money_array(PG_GETARG_ARRAYTYPE_P(3), "p_ratio_bp", &nr);
	if (nf != nr || nf > COMMERCE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_ratio_bp"),
				 errdetail("%d fixed parts and %d ratios.", nf, nr),
				 errhint("Pass one fixed part and one ratio per party (at most %d parties).", COMMERCE_MAX_BATCH)));
	for (i = 0; i < nr; i++)
		ratio_total += Min(ratio[i], (int64) COMMERCE_BP_SCALE + 1);
	if (ratio_total > COMMERCE_BP_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_ratio_bp"),
				 errdetail("The ratios add up to more than %d basis points.", COMMERCE_BP_SCALE),
				 errhint("The parties' ratios are 0 to 10000 basis points together; the owner takes the rest.")));
	out = palloc(sizeof(int64) * (nf + 1));
	commerce_money_share(base, cap, nf, fixed, ratio, out);
	d = palloc(sizeof(Datum) * (nf + 1));
	for (i = 0; i <= nf; i++)
		d[i] = Int64GetDatum(out[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, nf + 1, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(commerce_prorate_fen);

/* SQL: commerce.prorate_fen(p_amount bigint, p_part bigint, p_whole bigint) -> floor(amount x part / whole). */
Datum
commerce_prorate_fen(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_amount", "p_part", "p_whole"};
	int64		amount;
	int64		part;
	int64		whole;

	commerce_require_args(fcinfo, lengthof(names), names);
	amount = PG_GETARG_INT64(0);
	part = PG_GETARG_INT64(1);
	whole = PG_GETARG_INT64(2);
	money_check(amount, COMMERCE_MAX_FEN, 0, "p_amount", "p_amount");
	money_check(part, COMMERCE_MAX_FEN, 0, "p_part", "p_part");
	money_check(whole, COMMERCE_MAX_FEN, 0, "p_whole", "p_whole");
	if (part > whole || whole == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_part"),
				 errdetail("Part " INT64_FORMAT " of " INT64_FORMAT ".", part, whole),
				 errhint("The part is 0 to the whole, and the whole more than 0.")));
	PG_RETURN_INT64((int64) (((int128) amount * part) / whole));
}

PG_FUNCTION_INFO_V1(commerce_yuan);

/* SQL: commerce.yuan(p_fen bigint) -> the exact yuan figure as text ("-1234.05"); NULL for NULL. */
Datum
commerce_yuan(PG_FUNCTION_ARGS)
{
	int64		fen = PG_GETARG_INT64(0);
	uint64		mag;
	char		buf[32];

	/* the magnitude as unsigned, so that INT64_MIN has one too */
	mag = fen < 0 ? (uint64) 0 - (uint64) fen : (uint64) fen;
	snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT ".%02u", fen < 0 ? "-" : "",
			 mag / 100, (unsigned) (mag % 100));
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}
