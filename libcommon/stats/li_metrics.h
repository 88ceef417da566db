/* li_metrics.h: binary classification metrics for li-eval: confusion matrix
 * at a threshold, AUROC, AUPRC, log loss, ROC and PR curves, stratified
 * bootstrap intervals and DeLong's variance (single and paired).
 *
 * Conventions (li-eval(1) documents them for users):
 *   - label is 0 or 1, score is a finite number (P(class 1) for li-score);
 *   - a row is predicted positive when score >= threshold;
 *   - AUROC = Mann-Whitney U / (n_pos n_neg), ties between a positive and a
 *     negative count one half (= trapezoidal area under the ROC curve);
 *   - AUPRC = sum_k (R_k - R_{k-1}) P_k over the distinct scores in
 *     descending order, R_0 = 0: scikit-learn's average_precision_score for
 *     the positive class (step-wise, no interpolation);
 *   - F1 = 2 tp / (2 tp + fp + fn), the positive class only;
 *   - undefined values are NAN (never an error): AUROC with one class only,
 *     AUPRC and sensitivity without positives, specificity without
 *     negatives, precision without predicted positives, F1 when
 *     2 tp + fp + fn = 0.
 *
 * Everything is O(n log n) for the sort and O(n) afterwards; a bootstrap
 * resample is a vector of multiplicities over the sorted rows, so each
 * resample costs O(n) with no further sorting. */
#ifndef LI_METRICS_H
#define LI_METRICS_H
#include <stddef.h>
#include <stdint.h>

/* The metrics that have intervals, in JSON order; LI_METRIC_COUNT ties the
 * enum to li_metric_names[]. */
enum {
	LI_METRIC_AUROC,
	LI_METRIC_AUPRC,
	LI_METRIC_SENSITIVITY,
	LI_METRIC_SPECIFICITY,
	LI_METRIC_PRECISION,
	LI_METRIC_F1,
	LI_METRIC_ACCURACY,
	LI_METRIC_COUNT
};
extern const char *const li_metric_names[LI_METRIC_COUNT];

typedef struct li_metrics {
	size_t n, n_pos, n_neg;
	double threshold;
	size_t tn, fp, fn, tp;
	double value[LI_METRIC_COUNT]; /* NAN when undefined */
} li_metrics;

/* All metrics at threshold; 0, or -1 with li_error (n == 0, no memory).
 * label[i] must be 0 or 1 and score[i] finite (checked: -1 otherwise). */
int li_metrics_compute(const int *label, const double *score, size_t n, double threshold,
		       li_metrics *m);

/* Single metrics; NAN when undefined or on error (li_error set on error). */
double li_metrics_auroc(const int *label, const double *score, size_t n);
double li_metrics_auprc(const int *label, const double *score, size_t n);

/* Mean binary cross-entropy, -[y log p + (1-y) log(1-p)], with p clipped to
 * [eps, 1 - eps] so a confident mistake costs log(1/eps), not infinity.
 * li-eval uses LI_METRICS_LOG_EPS (scikit-learn's long-standing default). */
#define LI_METRICS_LOG_EPS 1e-15
double li_metrics_log_loss(const int *label, const double *prob, size_t n, double eps);

/* ROC curve: one point per distinct score (descending), starting at (0, 0):
 * *fpr and *tpr are malloc'd arrays of *npts points (the caller frees).
 * Needs both classes. PR curve: (recall, precision) per distinct score in
 * descending order, starting at recall 0 with the first point's precision,
 * so the step function under it has area AUPRC. Needs a positive. 0 or -1. */
int li_metrics_roc_curve(const int *label, const double *score, size_t n,
			 double **fpr, double **tpr, size_t *npts);
int li_metrics_pr_curve(const int *label, const double *score, size_t n,
			double **recall, double **precision, size_t *npts);

/* Stratified bootstrap: `resamples` resamples, each drawing n_pos positives
 * and n_neg negatives with replacement (resample r uses li_rng_derive(seed, r),
 * so the result does not depend on threads). ci[k][0..1] is the percentile
 * interval at `level` (e.g. 0.95) of metric k, linear interpolation between
 * order statistics (numpy's default percentile); resamples where a metric is
 * undefined are left out for that metric, and an interval with no defined
 * resample is NAN. samples, when not NULL, receives resamples x
 * LI_METRIC_COUNT values (row-major, NAN where undefined) for tests.
 * 0 or -1 with li_error. */
int li_metrics_bootstrap(const int *label, const double *score, size_t n, double threshold,
			 long resamples, uint64_t seed, int threads, double level,
			 double ci[LI_METRIC_COUNT][2], double *samples);

/* DeLong et al. 1988 with the midrank algorithm of Sun & Xu 2014, for k
 * score vectors on the same rows: auc[k] and the k x k covariance matrix cov
 * (row-major) of the AUC estimates, S10/n_pos + S01/n_neg. 0, or -1 with
 * li_error when a class is missing (or no memory). */
int li_metrics_delong(const int *label, const double *const *score, int k, size_t n,
		      double *auc, double *cov);

/* A two-sided normal interval for one AUROC, clipped to [0, 1]. */
typedef struct li_delong_ci {
	double auc, var, lo, hi;
} li_delong_ci;
int li_metrics_delong_ci(const int *label, const double *score, size_t n, double level,
			 li_delong_ci *out);

/* Paired test of AUROC(a) - AUROC(b) on the same rows. p is two-sided,
 * erfc(|z| / sqrt 2); when var is 0, z and p are NAN unless diff is 0 too,
 * in which case z = 0 and p = 1. lo/hi: the normal interval of diff. */
typedef struct li_delong_test {
	double auc_a, auc_b, diff, var, lo, hi, z, p;
} li_delong_test;
int li_metrics_delong_test(const int *label, const double *a, const double *b, size_t n,
			   double level, li_delong_test *out);

/* The standard normal quantile: bisection on 0.5 erfc(-x / sqrt 2) to full
 * double precision (a few microseconds; called once or twice per run). */
double li_metrics_norm_quantile(double p);

/* Student's t with df >= 1 degrees of freedom (an integer, as for n - 1
 * seeds): the cumulative distribution P(T <= t), in closed form for integer
 * df (Abramowitz & Stegun 26.7.3-4), and its quantile by bisection. NAN for
 * df < 1. */
double li_metrics_t_cdf(double t, int df);
double li_metrics_t_quantile(double p, int df);

/* The mean of n paired differences (one per seed) with its two-sided
 * Student t interval at `level` (mean +- t_{(1+level)/2, n-1} sd / sqrt n),
 * the sample SD (n - 1), the t statistic and its two-sided p. With n < 2
 * everything but the mean (and n) is NAN; with sd 0, t and p are NAN unless
 * the mean is 0 too (t 0, p 1), as for DeLong. NAN values are skipped. */
typedef struct li_mean_ci {
	size_t n;
	double mean, sd, lo, hi, t, p;
} li_mean_ci;
void li_metrics_mean_ci(const double *x, size_t n, double level, li_mean_ci *out);
#endif
