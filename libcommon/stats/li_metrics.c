/* li_metrics.c: binary classification metrics, bootstrap and DeLong (see li_metrics.h).
 *
 * The rows are sorted once by descending score and cut into groups of equal
 * score. One pass over the groups with per-row multiplicities (all 1 for
 * the point estimate, bootstrap counts for a resample) gives the confusion
 * matrix, the Mann-Whitney AUROC and the step-wise AUPRC together. */
#include "li_metrics.h"
#include "li_error.h"
#include "li_pool.h"
#include "li_rng.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *const li_metric_names[LI_METRIC_COUNT] = {
	"auroc", "auprc", "sensitivity", "specificity", "precision", "f1", "accuracy",
};
_Static_assert(LI_METRIC_COUNT == 7, "li_metric_names must list every metric");

/* Rows in descending score order, ties by row index (so runs are reproducible). */
typedef struct sorted {
	size_t n, n_pos, n_neg;
	double *s;      /* scores, descending */
	uint8_t *y;     /* labels in that order */
	size_t ngroups;
	size_t *gstart; /* group g is [gstart[g], gstart[g+1]) */
} sorted;

typedef struct keyed {
	double s;
	size_t i;
} keyed;

static int cmp_desc(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static int cmp_asc(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static int check_input(const int *label, const double *score, size_t n)
{
	if (n == 0)
		return li_error("no rows to evaluate");
	for (size_t i = 0; i < n; i++) {
		if (label[i] != 0 && label[i] != 1)
			return li_error("row %zu: label %d is not 0 or 1", i + 1, label[i]);
		if (!isfinite(score[i]))
			return li_error("row %zu: score is not a finite number", i + 1);
	}
	return 0;
}

static void sorted_free(sorted *st)
{
	free(st->s);
	free(st->y);
	free(st->gstart);
}

static int sorted_init(sorted *st, const int *label, const double *score, size_t n)
{
	memset(st, 0, sizeof *st);
	if (check_input(label, score, n) < 0)
		return -1;
	keyed *k = li_malloc_array(n, sizeof *k);
	st->s = li_malloc_array(n, sizeof *st->s);
	st->y = li_malloc_array(n, 1);
	st->gstart = li_malloc_array(n + 1, sizeof *st->gstart);
	if (!k || !st->s || !st->y || !st->gstart) {
		free(k);
		sorted_free(st);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (keyed){score[i], i};
	qsort(k, n, sizeof *k, cmp_desc);
	st->n = n;
	for (size_t i = 0; i < n; i++) {
		st->s[i] = k[i].s;
		st->y[i] = (uint8_t)label[k[i].i];
		st->n_pos += st->y[i];
		if (i == 0 || st->s[i] != st->s[i - 1])
			st->gstart[st->ngroups++] = i;
	}
	st->gstart[st->ngroups] = n;
	st->n_neg = n - st->n_pos;
	free(k);
	return 0;
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* Everything from one pass; w = multiplicity of each sorted row (NULL: 1).
 * The class totals are st->n_pos and st->n_neg in both cases, since the
 * bootstrap is stratified. Counts are integers until the divisions. */
static void evaluate(const sorted *st, const uint32_t *w, double threshold, li_metrics *m)
{
	uint64_t tp = 0, fp = 0, tp_at = 0, fp_at = 0;
	double P = (double)st->n_pos, N = (double)st->n_neg, pairs = 0, ap = 0;
	for (size_t g = 0; g < st->ngroups; g++) {
		uint64_t tg = 0, fg = 0;
		size_t end = st->gstart[g + 1];
		if (w) {
			for (size_t i = st->gstart[g]; i < end; i++) {
				uint64_t c = w[i];
				tg += st->y[i] ? c : 0;
				fg += st->y[i] ? 0 : c;
			}
		} else {
			for (size_t i = st->gstart[g]; i < end; i++)
				tg += st->y[i];
			fg = end - st->gstart[g] - tg;
		}
		if (tg == 0 && fg == 0)
			continue;
		/* Positives here beat every negative in later (lower) groups. */
		pairs += (double)tg * (N - (double)(fp + fg)) + 0.5 * (double)tg * (double)fg;
		tp += tg;
		fp += fg;
		if (tg > 0)
			ap += (double)tg * ((double)tp / (double)(tp + fp));
		if (st->s[st->gstart[g]] >= threshold) {
			tp_at = tp;
			fp_at = fp;
		}
	}
	m->n = st->n;
	m->n_pos = st->n_pos;
	m->n_neg = st->n_neg;
	m->threshold = threshold;
	m->tp = tp_at;
	m->fp = fp_at;
	m->fn = st->n_pos - tp_at;
	m->tn = st->n_neg - fp_at;
	double tpd = (double)tp_at, fpd = (double)fp_at;
	double *v = m->value;
	v[LI_METRIC_AUROC] = P > 0 && N > 0 ? pairs / (P * N) : NAN;
	v[LI_METRIC_AUPRC] = ratio(ap, P);
	v[LI_METRIC_SENSITIVITY] = ratio(tpd, P);
	v[LI_METRIC_SPECIFICITY] = ratio(N - fpd, N);
	v[LI_METRIC_PRECISION] = ratio(tpd, tpd + fpd);
	v[LI_METRIC_F1] = ratio(2 * tpd, 2 * tpd + fpd + (P - tpd));
	v[LI_METRIC_ACCURACY] = ratio(tpd + N - fpd, P + N);
}

int li_metrics_compute(const int *label, const double *score, size_t n, double threshold,
		       li_metrics *m)
{
	sorted st;
	if (sorted_init(&st, label, score, n) < 0)
		return -1;
	evaluate(&st, NULL, threshold, m);
	sorted_free(&st);
	return 0;
}

double li_metrics_auroc(const int *label, const double *score, size_t n)
{
	li_metrics m;
	if (li_metrics_compute(label, score, n, 0.5, &m) < 0)
		return NAN;
	return m.value[LI_METRIC_AUROC];
}

double li_metrics_auprc(const int *label, const double *score, size_t n)
{
	li_metrics m;
	if (li_metrics_compute(label, score, n, 0.5, &m) < 0)
		return NAN;
	return m.value[LI_METRIC_AUPRC];
}

double li_metrics_log_loss(const int *label, const double *prob, size_t n, double eps)
{
	if (n == 0)
		return NAN;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		double p = prob[i];
		p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
		sum -= label[i] ? log(p) : log1p(-p);
	}
	return sum / (double)n;
}

/* Both curves walk the groups in descending score order. */
static int curve(const int *label, const double *score, size_t n, int roc,
		 double **xs, double **ys, size_t *npts)
{
	sorted st;
	*xs = *ys = NULL;
	*npts = 0;
	if (sorted_init(&st, label, score, n) < 0)
		return -1;
	if (st.n_pos == 0 || (roc && st.n_neg == 0)) {
		sorted_free(&st);
		return li_error("the %s curve needs %s", roc ? "ROC" : "precision-recall",
				roc ? "both classes" : "a positive row");
	}
	double *x = li_malloc_array(st.ngroups + 1, sizeof *x);
	double *y = li_malloc_array(st.ngroups + 1, sizeof *y);
	if (!x || !y) {
		free(x);
		free(y);
		sorted_free(&st);
		return -1;
	}
	double P = (double)st.n_pos, N = (double)st.n_neg, tp = 0, fp = 0;
	size_t k = 0;
	if (roc) {
		x[0] = y[0] = 0;
		k = 1;
	}
	for (size_t g = 0; g < st.ngroups; g++) {
		for (size_t i = st.gstart[g]; i < st.gstart[g + 1]; i++) {
			if (st.y[i])
				tp++;
			else
				fp++;
		}
		if (roc) {
			x[k] = fp / N;
			y[k++] = tp / P;
		} else {
			if (k == 0) {
				x[0] = 0;
				y[0] = tp / (tp + fp);
				k = 1;
			}
			x[k] = tp / P;
			y[k++] = tp / (tp + fp);
		}
	}
	sorted_free(&st);
	*xs = x;
	*ys = y;
	*npts = k;
	return 0;
}

int li_metrics_roc_curve(const int *label, const double *score, size_t n,
			 double **fpr, double **tpr, size_t *npts)
{
	return curve(label, score, n, 1, fpr, tpr, npts);
}

int li_metrics_pr_curve(const int *label, const double *score, size_t n,
			double **recall, double **precision, size_t *npts)
{
	return curve(label, score, n, 0, recall, precision, npts);
}

/* ---- bootstrap ---- */

typedef struct boot_job {
	const sorted *st;
	const size_t *pos, *neg; /* sorted positions of each class */
	double threshold;
	uint64_t seed;
	uint32_t *w; /* threads x n: each pool thread's resample weights */
	double *out; /* resamples x LI_METRIC_COUNT */
} boot_job;

/* Pool task: resamples [begin, end). Resample r draws from its own stream
 * (seed, r), so the result does not depend on which thread runs it. */
static void boot_task(void *ctx, int begin, int end)
{
	boot_job *j = ctx;
	const sorted *st = j->st;
	uint32_t *w = j->w + (size_t)li_pool_self() * st->n;
	for (int r = begin; r < end; r++) {
		li_rng rng = li_rng_derive(j->seed, (uint64_t)r);
		memset(w, 0, st->n * sizeof *w);
		for (size_t i = 0; i < st->n_pos; i++)
			w[j->pos[li_rng_below(&rng, st->n_pos)]]++;
		for (size_t i = 0; i < st->n_neg; i++)
			w[j->neg[li_rng_below(&rng, st->n_neg)]]++;
		li_metrics m;
		evaluate(st, w, j->threshold, &m);
		memcpy(j->out + (size_t)r * LI_METRIC_COUNT, m.value, sizeof m.value);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* numpy.percentile's default (linear between order statistics); q in [0, 1]. */
static double percentile(const double *v, size_t m, double q)
{
	double h = q * (double)(m - 1);
	size_t lo = (size_t)floor(h);
	size_t hi = lo + 1 < m ? lo + 1 : lo;
	return v[lo] + (h - (double)lo) * (v[hi] - v[lo]);
}

int li_metrics_bootstrap(const int *label, const double *score, size_t n, double threshold,
			 long resamples, uint64_t seed, int threads, double level,
			 double ci[LI_METRIC_COUNT][2], double *samples)
{
	if (resamples < 1 || resamples > INT32_MAX)
		return li_error("the number of resamples must be in 1-%d, not %ld", INT32_MAX, resamples);
	if (!(level > 0 && level < 1))
		return li_error("the interval level must be in (0, 1), not %g", level);
	sorted st;
	if (sorted_init(&st, label, score, n) < 0)
		return -1;
	int rc = -1;
	size_t np = 0, nn = 0;
	boot_job job = {0};
	li_pool *pool = NULL;
	size_t *pos = li_malloc_array(st.n_pos ? st.n_pos : 1, sizeof *pos);
	size_t *neg = li_malloc_array(st.n_neg ? st.n_neg : 1, sizeof *neg);
	double *out = li_malloc_array((size_t)resamples, LI_METRIC_COUNT * sizeof *out);
	double *col = li_malloc_array((size_t)resamples, sizeof *col);
	if (!pos || !neg || !out || !col)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (st.y[i])
			pos[np++] = i;
		else
			neg[nn++] = i;
	}
	if (threads < 1)
		threads = 1;
	if (threads > resamples)
		threads = (int)resamples;
	if (threads > 64)
		threads = 64;
	job = (boot_job){&st, pos, neg, threshold, seed, NULL, out};
	job.w = li_malloc_array((size_t)threads, (st.n ? st.n : 1) * sizeof *job.w);
	pool = job.w ? li_pool_new(threads) : NULL;
	if (!pool)
		goto done;
	li_pool_run(pool, (int)resamples, boot_task, &job);
	double a = (1 - level) / 2;
	for (int k = 0; k < LI_METRIC_COUNT; k++) {
		size_t m = 0;
		for (long r = 0; r < resamples; r++) {
			double v = out[(size_t)r * LI_METRIC_COUNT + k];
			if (!isnan(v))
				col[m++] = v;
		}
		if (m == 0) {
			ci[k][0] = ci[k][1] = NAN;
			continue;
		}
		qsort(col, m, sizeof *col, cmp_double);
		ci[k][0] = percentile(col, m, a);
		ci[k][1] = percentile(col, m, 1 - a);
	}
	if (samples)
		memcpy(samples, out, (size_t)resamples * LI_METRIC_COUNT * sizeof *out);
	rc = 0;
done:
	li_pool_free(pool);
	free(job.w);
	free(pos);
	free(neg);
	free(out);
	free(col);
	sorted_free(&st);
	return rc;
}

/* ---- DeLong ---- */

/* Midranks (1-based, ties get the mean of their ranks) of v[0..n); k is scratch. */
static void midrank(const double *v, size_t n, double *rank, keyed *k)
{
	for (size_t i = 0; i < n; i++)
		k[i] = (keyed){v[i], i};
	qsort(k, n, sizeof *k, cmp_asc);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && k[j].s == k[i].s)
			j++;
		double r = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
		for (size_t t = i; t < j; t++)
			rank[k[t].i] = r;
		i = j;
	}
}

int li_metrics_delong(const int *label, const double *const *score, int k, size_t n,
		      double *auc, double *cov)
{
	size_t m = 0;
	for (int r = 0; r < k; r++)
		if (check_input(label, score[r], n) < 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		m += label[i] == 1;
	size_t q = n - m;
	if (m < 2 || q < 2)
		return li_error("DeLong's variance needs at least two positive and two negative rows "
				"(have %zu and %zu)", m, q);
	int rc = -1;
	double *z = li_malloc_array(n, sizeof *z);       /* positives first, then negatives */
	double *tz = li_malloc_array(n, sizeof *tz);
	double *tx = li_malloc_array(n, sizeof *tx);
	keyed *kk = li_malloc_array(n, sizeof *kk);
	double *v10 = li_malloc_array((size_t)k * m, sizeof *v10);
	double *v01 = li_malloc_array((size_t)k * q, sizeof *v01);
	if (!z || !tz || !tx || !kk || !v10 || !v01)
		goto done;
	for (int r = 0; r < k; r++) {
		size_t a = 0, b = m;
		for (size_t i = 0; i < n; i++)
			z[label[i] ? a++ : b++] = score[r][i];
		midrank(z, n, tz, kk);
		midrank(z, m, tx, kk);         /* within positives */
		midrank(z + m, q, tx + m, kk); /* within negatives */
		double sum = 0;
		for (size_t i = 0; i < m; i++) {
			v10[(size_t)r * m + i] = (tz[i] - tx[i]) / (double)q;
			sum += tz[i];
		}
		for (size_t j = 0; j < q; j++)
			v01[(size_t)r * q + j] = 1 - (tz[m + j] - tx[m + j]) / (double)m;
		auc[r] = (sum - 0.5 * (double)m * (double)(m + 1)) / ((double)m * (double)q);
	}
	for (int r = 0; r < k; r++)
		for (int s = 0; s < k; s++) {
			double s10 = 0, s01 = 0;
			for (size_t i = 0; i < m; i++)
				s10 += (v10[(size_t)r * m + i] - auc[r]) * (v10[(size_t)s * m + i] - auc[s]);
			for (size_t j = 0; j < q; j++)
				s01 += (v01[(size_t)r * q + j] - auc[r]) * (v01[(size_t)s * q + j] - auc[s]);
			cov[r * k + s] = s10 / (double)(m - 1) / (double)m + s01 / (double)(q - 1) / (double)q;
		}
	rc = 0;
done:
	free(z);
	free(tz);
	free(tx);
	free(kk);
	free(v10);
	free(v01);
	return rc;
}

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

int li_metrics_delong_ci(const int *label, const double *score, size_t n, double level,
			 li_delong_ci *out)
{
	double auc, var;
	if (li_metrics_delong(label, &score, 1, n, &auc, &var) < 0)
		return -1;
	double h = li_metrics_norm_quantile(0.5 + level / 2) * sqrt(var);
	*out = (li_delong_ci){auc, var, clamp01(auc - h), clamp01(auc + h)};
	return 0;
}

int li_metrics_delong_test(const int *label, const double *a, const double *b, size_t n,
			   double level, li_delong_test *out)
{
	const double *s[2] = {a, b};
	double auc[2], cov[4];
	if (li_metrics_delong(label, s, 2, n, auc, cov) < 0)
		return -1;
	double diff = auc[0] - auc[1];
	double var = cov[0] + cov[3] - 2 * cov[1];
	if (var < 0) /* rounding when the two models agree */
		var = 0;
	double h = li_metrics_norm_quantile(0.5 + level / 2) * sqrt(var);
	double z, p;
	if (var > 0) {
		z = diff / sqrt(var);
		p = erfc(fabs(z) / sqrt(2.0));
	} else if (diff == 0) {
		z = 0;
		p = 1;
	} else {
		z = p = NAN;
	}
	*out = (li_delong_test){auc[0], auc[1], diff, var, diff - h, diff + h, z, p};
	return 0;
}

double li_metrics_norm_quantile(double p)
{
	if (!(p > 0 && p < 1))
		return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
	double lo = -40, hi = 40;
	for (int i = 0; i < 200 && lo < hi; i++) {
		double mid = 0.5 * (lo + hi);
		if (mid == lo || mid == hi)
			break;
		if (0.5 * erfc(-mid / sqrt(2.0)) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

double li_metrics_t_cdf(double t, int df)
{
	if (df < 1 || isnan(t))
		return NAN;
	if (isinf(t))
		return t > 0 ? 1 : 0;
	/* A = P(|T| < |t|) as a finite series in theta = atan(|t| / sqrt df). */
	double th = atan(fabs(t) / sqrt((double)df)), c = cos(th), s = sin(th), c2 = c * c, a;
	if (df % 2) {
		double sum = 0, term = 1;
		if (df > 1) {
			sum = 1;
			for (int k = 3; k <= df - 2; k += 2) {
				term *= c2 * (k - 1) / k;
				sum += term;
			}
		}
		a = 2 / M_PI * (th + s * c * sum);
	} else {
		double sum = 1, term = 1;
		for (int k = 2; k <= df - 2; k += 2) {
			term *= c2 * (k - 1) / k;
			sum += term;
		}
		a = s * sum;
	}
	return t >= 0 ? 0.5 + a / 2 : 0.5 - a / 2;
}

double li_metrics_t_quantile(double p, int df)
{
	if (df < 1 || !(p >= 0 && p <= 1))
		return NAN;
	if (p == 0 || p == 1)
		return p == 0 ? -INFINITY : INFINITY;
	/* The quantile is below 1e7 in magnitude for every p a user asks (df 1,
	 * p 0.9999999 gives 3.2e6); the cdf is monotone: bisect. */
	double lo = -1e8, hi = 1e8;
	for (int i = 0; i < 400 && lo < hi; i++) {
		double mid = 0.5 * (lo + hi);
		if (mid == lo || mid == hi)
			break;
		if (li_metrics_t_cdf(mid, df) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

void li_metrics_mean_ci(const double *x, size_t n, double level, li_mean_ci *out)
{
	double sum = 0, ss = 0;
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(x[i]))
			sum += x[i], m++;
	double mean = m ? sum / (double)m : NAN;
	for (size_t i = 0; i < n; i++)
		if (!isnan(x[i]))
			ss += (x[i] - mean) * (x[i] - mean);
	*out = (li_mean_ci){m, mean, NAN, NAN, NAN, NAN, NAN};
	if (m < 2)
		return;
	double sd = sqrt(ss / (double)(m - 1)), se = sd / sqrt((double)m);
	int df = m - 1 > 1000000 ? 1000000 : (int)(m - 1);
	double h = li_metrics_t_quantile(0.5 + level / 2, df) * se;
	out->sd = sd;
	out->lo = mean - h;
	out->hi = mean + h;
	if (se > 0) {
		out->t = mean / se;
		out->p = 2 * li_metrics_t_cdf(-fabs(out->t), df);
	} else if (mean == 0) {
		out->t = 0;
		out->p = 1;
	}
}
