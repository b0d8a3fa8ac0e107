/*
 * creators_model.c
 *		The KOC potential model (K01): L2-regularized logistic regression on
 *		standardized features, fitted by Newton's method, and its score.
 *
 * A tenant's persons are described by k features each (docs/creators.md
 * lists them); the outcome is whether the person brought a paying customer
 * within the horizon after the features were read.  The features are
 * standardized (mean 0, standard deviation 1 over the training persons; a
 * constant feature keeps a deviation of 1), then the coefficients maximize
 *     sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] - lambda/2 * |b|^2,
 * p_i = 1 / (1 + exp(-(b_0 + b . z_i))), the intercept not penalized.  The
 * objective is strictly concave, so Newton's method (the Hessian solved by
 * Cholesky) converges from zero; it stops when no step moves a coefficient
 * by 1e-9 or after 100 steps.
 *
 * The parameters travel as one float8 array:
 *     {k, lambda, log-likelihood, steps, b_0, b_1..b_k, mean_1..mean_k, sd_1..sd_k}
 * so a score needs nothing but the array and the raw features.
 */
#include "commerce.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define POTENTIAL_MAX_FEATURES 32
#define POTENTIAL_MAX_STEPS 100

/* A float8[] argument as doubles in storage order (a 2-D array: row after row); 22023 on a NULL or non-finite value. */
static double *
finite_doubles(ArrayType *a, const char *name, int *n)
{
	Datum	   *d;
	bool	   *nulls;
	double	   *out;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a float8 array", name),
				 errhint("Pass the features person after person, k values each.")));
	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &nulls, n);
	out = palloc_extended(Max(*n, 1) * sizeof(double), MCXT_ALLOC_HUGE);
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i] || !isfinite(DatumGetFloat8(d[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s[%d] is NULL or not finite", name, i + 1),
					 errhint("Every feature of every person is a finite number.")));
		out[i] = DatumGetFloat8(d[i]);
	}
	return out;
}

/* Solve the symmetric positive definite system a x = b (m x m) in place by Cholesky; false if not definite. */
static bool
cholesky_solve(double *a, double *b, int m)
{
	for (int j = 0; j < m; j++)
	{
		double		s = a[j * m + j];

		for (int p = 0; p < j; p++)
			s -= a[j * m + p] * a[j * m + p];
		if (!(s > 0))
			return false;
		a[j * m + j] = sqrt(s);
		for (int i = j + 1; i < m; i++)
		{
			double		t = a[i * m + j];

			for (int p = 0; p < j; p++)
				t -= a[i * m + p] * a[j * m + p];
			a[i * m + j] = t / a[j * m + j];
		}
	}
	for (int i = 0; i < m; i++)			/* L y = b */
	{
		for (int p = 0; p < i; p++)
			b[i] -= a[i * m + p] * b[p];
		b[i] /= a[i * m + i];
	}
	for (int i = m - 1; i >= 0; i--)	/* L' x = y */
	{
		for (int p = i + 1; p < m; p++)
			b[i] -= a[p * m + i] * b[p];
		b[i] /= a[i * m + i];
	}
	return true;
}

/* The logistic function, without overflow at either end. */
static inline double
logistic(double t)
{
	if (t >= 0)
		return 1.0 / (1.0 + exp(-t));
	else
	{
		double		e = exp(t);

		return e / (1.0 + e);
	}
}

PG_FUNCTION_INFO_V1(commerce_potential_fit);

/* commerce._potential_fit(x, y, k, lambda): the parameters of the regularized logistic model. */
Datum
commerce_potential_fit(PG_FUNCTION_ARGS)
{
	int			nx,
				ny,
				k = PG_GETARG_INT32(2),
				m,
				n,
				steps = 0;
	double		lambda = PG_GETARG_FLOAT8(3);
	double	   *x = finite_doubles(PG_GETARG_ARRAYTYPE_P(0), "p_x", &nx);
	Datum	   *yd;
	bool	   *ynull;
	bool	   *y;
	double	   *mean,
			   *sd,
			   *b,
			   *h,
			   *g,
			   *z,
				ll = 0;
	Datum	   *out;
	int64		pos = 0;

	if (k < 1 || k > POTENTIAL_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d features are not 1 to %d", k, POTENTIAL_MAX_FEATURES),
				 errhint("Pass k, the features per person.")));
	if (!(lambda >= 0) || !isfinite(lambda))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the penalty %g is not a finite number >= 0", lambda),
				 errhint("Use a small penalty such as 1.")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), BOOLOID, 1, true, TYPALIGN_CHAR, &yd, &ynull, &ny);
	if (nx != ny * k || ny < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d features do not describe %d persons with %d features each", nx, ny, k),
				 errhint("Pass at least two persons, k features each, person after person, and one outcome per person.")));
	n = ny;
	m = k + 1;
	y = palloc_extended(n * sizeof(bool), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		if (ynull[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("p_y[%d] is NULL", i + 1),
					 errhint("Every person has an outcome.")));
		y[i] = DatumGetBool(yd[i]);
		pos += y[i];
	}
	if (pos == 0 || pos == n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the outcomes are all %s", pos == 0 ? "false" : "true"),
				 errdetail("A model of an outcome needs persons with it and persons without it."),
				 errhint("Train on a longer history.")));

	/* standardize */
	mean = palloc0(k * sizeof(double));
	sd = palloc0(k * sizeof(double));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < k; j++)
			mean[j] += x[(int64) i * k + j];
	for (int j = 0; j < k; j++)
		mean[j] /= n;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < k; j++)
		{
			double		dv = x[(int64) i * k + j] - mean[j];

			sd[j] += dv * dv;
		}
	for (int j = 0; j < k; j++)
	{
		sd[j] = sqrt(sd[j] / n);
		if (!(sd[j] > 1e-12))
			sd[j] = 1;
	}

	b = palloc0(m * sizeof(double));
	h = palloc(m * m * sizeof(double));
	g = palloc(m * sizeof(double));
	z = palloc(m * sizeof(double));
	for (steps = 1; steps <= POTENTIAL_MAX_STEPS; steps++)
	{
		double		maxstep = 0;

		memset(h, 0, m * m * sizeof(double));
		memset(g, 0, m * sizeof(double));
		for (int i = 0; i < n; i++)
		{
			double		t = b[0],
						p,
						w;

			z[0] = 1;
			for (int j = 0; j < k; j++)
			{
				z[j + 1] = (x[(int64) i * k + j] - mean[j]) / sd[j];
				t += b[j + 1] * z[j + 1];
			}
			p = logistic(t);
			w = p * (1 - p);
			for (int r = 0; r < m; r++)
			{
				g[r] += ((y[i] ? 1.0 : 0.0) - p) * z[r];
				for (int c = 0; c <= r; c++)
					h[r * m + c] += w * z[r] * z[c];
			}
		}
		for (int r = 1; r < m; r++)
		{
			g[r] -= lambda * b[r];
			h[r * m + r] += lambda;
		}
		for (int r = 0; r < m; r++)
			for (int c = r + 1; c < m; c++)
				h[r * m + c] = h[c * m + r];
		if (!cholesky_solve(h, g, m))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the potential model cannot be fitted to these persons"),
					 errdetail("The curvature of the likelihood is not definite after %d steps.", steps),
					 errhint("Fit with a penalty above 0, or on more persons.")));
		for (int r = 0; r < m; r++)
		{
			b[r] += g[r];
			maxstep = Max(maxstep, fabs(g[r]));
		}
		if (maxstep < 1e-9)
			break;
	}
	steps = Min(steps, POTENTIAL_MAX_STEPS);
	for (int i = 0; i < n; i++)
	{
		double		t = b[0],
					p;

		for (int j = 0; j < k; j++)
			t += b[j + 1] * (x[(int64) i * k + j] - mean[j]) / sd[j];
		p = logistic(t);
		ll += y[i] ? log(Max(p, 1e-300)) : log(Max(1 - p, 1e-300));
	}

	out = palloc((4 + m + 2 * k) * sizeof(Datum));
	out[0] = Float8GetDatum((double) k);
	out[1] = Float8GetDatum(lambda);
	out[2] = Float8GetDatum(ll);
	out[3] = Float8GetDatum((double) steps);
	for (int r = 0; r < m; r++)
		out[4 + r] = Float8GetDatum(b[r]);
	for (int j = 0; j < k; j++)
	{
		out[4 + m + j] = Float8GetDatum(mean[j]);
		out[4 + m + k + j] = Float8GetDatum(sd[j]);
	}
	PG_RETURN_DATUM(commerce_make_array(out, NULL, 4 + m + 2 * k, FLOAT8OID));
}

PG_FUNCTION_INFO_V1(commerce_potential_score);

/* commerce._potential_score(params, x): the probability of the outcome for one person's features. */
Datum
commerce_potential_score(PG_FUNCTION_ARGS)
{
	int			np,
				nx,
				k;
	double	   *p = finite_doubles(PG_GETARG_ARRAYTYPE_P(0), "p_params", &np);
	double	   *x = finite_doubles(PG_GETARG_ARRAYTYPE_P(1), "p_x", &nx);
	double		t;

	k = np >= 1 ? (int) p[0] : 0;
	if (k < 1 || k > POTENTIAL_MAX_FEATURES || p[0] != k || np != 5 + 3 * k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p_params is not a potential model"),
				 errdetail("A model is {k, lambda, log-likelihood, steps, b_0..b_k, means, deviations}: 5 + 3k values."),
				 errhint("Pass the params of a model fitted by commerce._potential_fit.")));
	for (int j = 0; j < k; j++)
		if (!(p[5 + 2 * k + j] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("p_params is not a potential model"),
					 errdetail("The deviation of feature %d is not positive.", j + 1),
					 errhint("Pass the params of a model fitted by commerce._potential_fit.")));
	if (nx != k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d features given to a model of %d", nx, k),
				 errhint("Pass the person's features in the model's order.")));
	t = p[4];
	for (int j = 0; j < k; j++)
		t += p[5 + j] * (x[j] - p[5 + k + j]) / p[5 + 2 * k + j];
	PG_RETURN_FLOAT8(logistic(t));
}
