/* test_metrics.c: li_metrics against scikit-learn and a slow DeLong (fixtures
 * from tests/fixtures/gen_metrics_fixtures.py), curves against the areas,
 * the bootstrap's determinism, stratification and coverage, and li_plot's
 * font and lines (li-eval's plots). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_metrics.h"
#include "li_plot.h"
#include "tap.h"

#define DIR "tests/fixtures/metrics/"
#define TOL 1e-9

typedef struct fixture {
	size_t n;
	int *y;
	double *s, *s2;
} fixture;

/* The case files are written by the script: header, then path label prob prob2. */
static int read_case(const char *name, fixture *f)
{
	char path[256], line[512];
	snprintf(path, sizeof path, DIR "%s.tsv", name);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	size_t cap = 64;
	f->n = 0;
	f->y = malloc(cap * sizeof *f->y);
	f->s = malloc(cap * sizeof *f->s);
	f->s2 = malloc(cap * sizeof *f->s2);
	if (!fgets(line, sizeof line, fp)) {
		fclose(fp);
		return -1;
	}
	while (fgets(line, sizeof line, fp)) {
		if (f->n == cap) {
			cap *= 2;
			f->y = realloc(f->y, cap * sizeof *f->y);
			f->s = realloc(f->s, cap * sizeof *f->s);
			f->s2 = realloc(f->s2, cap * sizeof *f->s2);
		}
		char *tab = strchr(line, '\t');
		char *end;
		f->y[f->n] = (int)strtol(tab + 1, &end, 10);
		f->s[f->n] = strtod(end + 1, &end);
		f->s2[f->n] = strtod(end + 1, &end);
		f->n++;
	}
	fclose(fp);
	return 0;
}

static void free_case(fixture *f)
{
	free(f->y);
	free(f->s);
	free(f->s2);
}

/* NAN is expected exactly where the metric is undefined. */
static void is_metric(double got, double want, const char *cs, const char *what)
{
	if (isnan(want)) {
		ok(isnan(got), "%s: %s undefined", cs, what);
		return;
	}
	is_close(got, want, TOL, "%s: %s", cs, what);
}

enum { MAXCOL = 32 };

static double trapezoid(const double *x, const double *y, size_t n)
{
	double a = 0;
	for (size_t i = 1; i < n; i++)
		a += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
	return a;
}

static double steps(const double *x, const double *y, size_t n)
{
	double a = 0;
	for (size_t i = 1; i < n; i++)
		a += (x[i] - x[i - 1]) * y[i];
	return a;
}

static double lookup(char **col, const double *e, int ncol, const char *name)
{
	for (int c = 1; c < ncol; c++)
		if (strcmp(col[c], name) == 0)
			return e[c];
	diag("no column '%s' in expected.tsv", name);
	return NAN;
}

static void check_case(char **col, char **val, int ncol)
{
	const char *cs = val[0];
	double e[MAXCOL];
	for (int c = 1; c < ncol; c++)
		e[c] = strtod(val[c], NULL);
#define E(name) lookup(col, e, ncol, name)
	fixture f;
	if (!ok(read_case(cs, &f) == 0, "%s: read case", cs))
		return;
	li_metrics m;
	is_int(li_metrics_compute(f.y, f.s, f.n, E("threshold"), &m), 0, "%s: compute", cs);
	is_int(m.n, E("n"), "%s: n", cs);
	is_int(m.n_pos, E("n_pos"), "%s: n_pos", cs);
	is_int(m.n_neg, E("n_neg"), "%s: n_neg", cs);
	is_int(m.tn, E("tn"), "%s: tn", cs);
	is_int(m.fp, E("fp"), "%s: fp", cs);
	is_int(m.fn, E("fn"), "%s: fn", cs);
	is_int(m.tp, E("tp"), "%s: tp", cs);
	for (int k = 0; k < LI_METRIC_COUNT; k++)
		is_metric(m.value[k], E(li_metric_names[k]), cs, li_metric_names[k]);
	is_metric(li_metrics_auroc(f.y, f.s2, f.n), E("auroc2"), cs, "auroc of the second model");
	is_close(li_metrics_log_loss(f.y, f.s, f.n, LI_METRICS_LOG_EPS), E("log_loss"), TOL,
		 "%s: log loss", cs);

	double *x, *y;
	size_t np;
	if (m.n_pos > 0 && m.n_neg > 0) {
		is_int(li_metrics_roc_curve(f.y, f.s, f.n, &x, &y, &np), 0, "%s: roc curve", cs);
		is_close(trapezoid(x, y, np), m.value[LI_METRIC_AUROC], TOL,
			 "%s: trapezoid area under the ROC curve = AUROC", cs);
		ok(x[0] == 0 && y[0] == 0 && x[np - 1] == 1 && y[np - 1] == 1,
		   "%s: ROC from (0,0) to (1,1)", cs);
		free(x);
		free(y);
	} else {
		is_int(li_metrics_roc_curve(f.y, f.s, f.n, &x, &y, &np), -1, "%s: no ROC curve", cs);
		is_str(li_errmsg(), "the ROC curve needs both classes", "%s: message", cs);
	}
	if (m.n_pos > 0) {
		is_int(li_metrics_pr_curve(f.y, f.s, f.n, &x, &y, &np), 0, "%s: pr curve", cs);
		is_close(steps(x, y, np), m.value[LI_METRIC_AUPRC], TOL,
			 "%s: step area under the PR curve = AUPRC", cs);
		free(x);
		free(y);
	}

	/* DeLong: the fast midrank algorithm against the slow structural components. */
	double want_var = E("delong_var");
	const double *sc[2] = {f.s, f.s2};
	double auc[2], cov[4];
	if (isnan(want_var)) {
		is_int(li_metrics_delong(f.y, sc, 2, f.n, auc, cov), -1, "%s: DeLong refused", cs);
	} else {
		is_int(li_metrics_delong(f.y, sc, 2, f.n, auc, cov), 0, "%s: DeLong", cs);
		is_close(auc[0], E("auroc"), TOL, "%s: DeLong AUC = Mann-Whitney", cs);
		is_close(auc[1], E("auroc2"), TOL, "%s: DeLong AUC 2", cs);
		is_close(cov[0], want_var, TOL, "%s: DeLong variance = structural components", cs);
		is_close(cov[3], E("delong_var2"), TOL, "%s: DeLong variance 2", cs);
		is_close(cov[1], E("delong_cov"), TOL, "%s: DeLong covariance", cs);
		ok(cov[1] == cov[2], "%s: covariance symmetric", cs);
		li_delong_test t;
		is_int(li_metrics_delong_test(f.y, f.s, f.s2, f.n, 0.95, &t), 0, "%s: paired test", cs);
		is_close(t.var, E("diff_var"), TOL, "%s: variance of the difference", cs);
		is_metric(t.p, E("p_value"), cs, "paired p-value");
		is_close(t.hi - t.diff, 1.959963984540054 * sqrt(t.var), 1e-12, "%s: CI half-width", cs);
	}
	free_case(&f);
}

static void test_fixtures(void)
{
	FILE *fp = fopen(DIR "expected.tsv", "r");
	if (!ok(fp != NULL, "open expected.tsv (run from the repository root)"))
		return;
	char head[2048], line[2048];
	char *col[MAXCOL], *val[MAXCOL];
	int ncol = 0, cases = 0;
	if (fgets(head, sizeof head, fp)) {
		head[strcspn(head, "\n")] = 0;
		for (char *t = strtok(head, "\t"); t && ncol < MAXCOL; t = strtok(NULL, "\t"))
			col[ncol++] = t;
	}
	while (fgets(line, sizeof line, fp)) {
		line[strcspn(line, "\n")] = 0;
		int nv = 0;
		for (char *t = strtok(line, "\t"); t && nv < MAXCOL; t = strtok(NULL, "\t"))
			val[nv++] = t;
		if (!ok(nv == ncol, "expected.tsv row has %d fields", ncol))
			continue;
		check_case(col, val, ncol);
		cases++;
	}
	fclose(fp);
	ok(cases >= 10, "%d fixture cases checked", cases);
}

static void test_hand(void)
{
	/* X = {0.6, 0.4}, Y = {0.4, 0.1}: psi(0.6,.) = 1, 1; psi(0.4,.) = 1/2, 1, so
	 * V10 = (1, 3/4), V01 = (3/4, 1), AUC = 7/8, S10 = S01 = 1/32 and
	 * Var = S10/2 + S01/2 = 1/32. */
	int y[] = {1, 1, 0, 0};
	double s[] = {0.6, 0.4, 0.4, 0.1};
	li_delong_ci c;
	is_int(li_metrics_delong_ci(y, s, 4, 0.95, &c), 0, "hand case: DeLong CI");
	is_close(c.auc, 7.0 / 8, 1e-15, "hand case: AUC 7/8");
	is_close(c.var, 1.0 / 32, 1e-15, "hand case: variance 1/32");
	is_close(c.hi, 1.0, 1e-15, "hand case: upper limit clipped to 1");
	is_close(c.lo, 0.875 - 1.959963984540054 * sqrt(1.0 / 32), 1e-12, "hand case: lower limit");
	li_delong_test t;
	is_int(li_metrics_delong_test(y, s, s, 4, 0.95, &t), 0, "a model against itself");
	ok(t.diff == 0 && t.p == 1, "same model: difference 0, p 1");

	is_close(li_metrics_norm_quantile(0.975), 1.959963984540054, 1e-13, "normal quantile 0.975");
	is_close(li_metrics_norm_quantile(0.5), 0, 1e-15, "normal quantile 0.5");
	is_close(li_metrics_norm_quantile(0.05), -1.6448536269514729, 1e-13, "normal quantile 0.05");

	/* Student's t against scipy.stats.t (ppf(0.975, df), cdf(-1.3, df)),
	 * odd and even df through both series. */
	static const struct { int df; double q975, cdf; } tt[] = {
		{1, 12.706204736432095, 0.20871440016015264}, {2, 4.302652729911275, 0.16162351590802027},
		{3, 3.182446305284263, 0.14223375436394847}, {4, 2.7764451051977987, 0.13172579823561206},
		{5, 2.5705818366147395, 0.12515031708533858}, {9, 2.2621571627409915, 0.1129531863365247},
		{30, 2.0422724563012373, 0.10175047926905845},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(tt); i++) {
		is_close(li_metrics_t_quantile(0.975, tt[i].df), tt[i].q975, 1e-9, "t quantile 0.975, df %d", tt[i].df);
		is_close(li_metrics_t_cdf(-1.3, tt[i].df), tt[i].cdf, 1e-12, "t cdf(-1.3), df %d", tt[i].df);
		is_close(li_metrics_t_cdf(1.3, tt[i].df), 1 - tt[i].cdf, 1e-12, "t cdf(1.3), df %d", tt[i].df);
	}
	ok(isnan(li_metrics_t_cdf(1, 0)) && isnan(li_metrics_t_quantile(0.5, 0)), "t with df 0: NAN");
	/* The mean of five paired differences and its t interval, against numpy
	 * and scipy (mean, std(ddof=1), t.ppf(0.975, 4) sd / sqrt 5, ttest_1samp). */
	double dd[] = {0.012, -0.004, 0.020, 0.007, 0.015, NAN};
	li_mean_ci mc;
	li_metrics_mean_ci(dd, 6, 0.95, &mc);
	ok(mc.n == 5, "mean_ci skips NAN: n 5");
	is_close(mc.mean, 0.01, 1e-15, "mean_ci: mean");
	is_close(mc.sd, 0.009137833441248534, 1e-15, "mean_ci: sd");
	is_close(mc.lo, -0.0013461188055807361, 1e-11, "mean_ci: lower limit");
	is_close(mc.hi, 0.021346118805580738, 1e-11, "mean_ci: upper limit");
	is_close(mc.p, 0.07066990003658064, 1e-11, "mean_ci: p of the one-sample t test");
	li_metrics_mean_ci(dd, 1, 0.95, &mc);
	ok(mc.n == 1 && mc.mean == 0.012 && isnan(mc.sd) && isnan(mc.lo), "mean_ci of one value: no interval");

	/* Errors. */
	int bad[] = {1, 2};
	double sc[] = {0.1, 0.2};
	li_metrics m;
	is_int(li_metrics_compute(bad, sc, 2, 0.5, &m), -1, "label 2 refused");
	is_str(li_errmsg(), "row 2: label 2 is not 0 or 1", "label message");
	int yy[] = {1, 0};
	double nan_s[] = {0.1, NAN};
	is_int(li_metrics_compute(yy, nan_s, 2, 0.5, &m), -1, "NaN score refused");
	is_str(li_errmsg(), "row 2: score is not a finite number", "NaN message");
	is_int(li_metrics_compute(yy, sc, 0, 0.5, &m), -1, "no rows refused");
	is_str(li_errmsg(), "no rows to evaluate", "empty message");
	double ci[LI_METRIC_COUNT][2];
	is_int(li_metrics_bootstrap(yy, sc, 2, 0.5, 0, 1, 1, 0.95, ci, NULL), -1, "0 resamples refused");
	is_int(li_metrics_delong_ci(yy, sc, 2, 0.95, &c), -1, "DeLong needs two of each class");
	is_str(li_errmsg(), "DeLong's variance needs at least two positive and two negative rows "
	       "(have 1 and 1)", "DeLong message");
}

static void test_bootstrap(void)
{
	fixture f;
	if (!ok(read_case("random2", &f) == 0, "bootstrap: read random2"))
		return;
	enum { R = 500 };
	li_metrics m;
	li_metrics_compute(f.y, f.s, f.n, 0.5, &m);
	double ci1[LI_METRIC_COUNT][2], ci2[LI_METRIC_COUNT][2], ci3[LI_METRIC_COUNT][2];
	double *s1 = malloc(R * LI_METRIC_COUNT * sizeof *s1);
	double *s2 = malloc(R * LI_METRIC_COUNT * sizeof *s2);
	is_int(li_metrics_bootstrap(f.y, f.s, f.n, 0.5, R, 7, 1, 0.95, ci1, s1), 0, "bootstrap 1 thread");
	is_int(li_metrics_bootstrap(f.y, f.s, f.n, 0.5, R, 7, 3, 0.95, ci2, s2), 0, "bootstrap 3 threads");
	ok(memcmp(s1, s2, R * LI_METRIC_COUNT * sizeof *s1) == 0,
	   "same seed: identical resamples whatever the thread count");
	ok(memcmp(ci1, ci2, sizeof ci1) == 0, "same seed: identical intervals");
	li_metrics_bootstrap(f.y, f.s, f.n, 0.5, R, 8, 2, 0.95, ci3, NULL);
	ok(memcmp(ci1, ci3, sizeof ci1) != 0, "another seed: other intervals");
	for (int k = 0; k < LI_METRIC_COUNT; k++) {
		double v = m.value[k];
		ok(ci1[k][0] <= v && v <= ci1[k][1] && ci1[k][0] < ci1[k][1],
		   "%s interval [%g, %g] contains %g", li_metric_names[k], ci1[k][0], ci1[k][1], v);
	}
	/* Stratified: every resample keeps n_pos positives and n_neg negatives, so
	 * sensitivity is a multiple of 1/n_pos and specificity of 1/n_neg. */
	int strat = 1;
	for (int r = 0; r < R; r++) {
		double se = s1[r * LI_METRIC_COUNT + LI_METRIC_SENSITIVITY] * (double)m.n_pos;
		double sp = s1[r * LI_METRIC_COUNT + LI_METRIC_SPECIFICITY] * (double)m.n_neg;
		if (fabs(se - round(se)) > 1e-9 || fabs(sp - round(sp)) > 1e-9)
			strat = 0;
	}
	ok(strat, "stratified: each resample keeps %zu positives and %zu negatives", m.n_pos, m.n_neg);
	/* Resamples are not all the same (the bootstrap does resample). */
	int differ = 0;
	for (int r = 1; r < R; r++)
		differ |= s1[r * LI_METRIC_COUNT] != s1[0];
	ok(differ, "resampled AUROCs vary");
	/* Bootstrap SD of AUROC agrees with DeLong's SD within 20 percent. */
	double mean = 0, ss = 0;
	for (int r = 0; r < R; r++)
		mean += s1[r * LI_METRIC_COUNT] / R;
	for (int r = 0; r < R; r++)
		ss += pow(s1[r * LI_METRIC_COUNT] - mean, 2) / (R - 1);
	li_delong_ci dc;
	li_metrics_delong_ci(f.y, f.s, f.n, 0.95, &dc);
	ok(fabs(sqrt(ss) / sqrt(dc.var) - 1) < 0.2, "bootstrap SD %g ~ DeLong SD %g", sqrt(ss), sqrt(dc.var));
	free(s1);
	free(s2);
	free_case(&f);

	/* One positive: a non-stratified bootstrap would often draw none. */
	int y[] = {1, 0, 0};
	double s[] = {0.8, 0.3, 0.8};
	double *sm = malloc(200 * LI_METRIC_COUNT * sizeof *sm);
	li_metrics_bootstrap(y, s, 3, 0.5, 200, 1, 2, 0.95, ci1, sm);
	int defined = 1;
	for (int r = 0; r < 200; r++)
		defined &= !isnan(sm[r * LI_METRIC_COUNT + LI_METRIC_AUROC]);
	ok(defined, "one positive: AUROC defined in every resample");
	free(sm);
	/* No predicted positive: precision undefined in every resample -> NAN interval. */
	int y2[] = {1, 0, 1, 0};
	double s2b[] = {0.1, 0.2, 0.3, 0.4};
	li_metrics_bootstrap(y2, s2b, 4, 0.5, 50, 1, 1, 0.95, ci1, NULL);
	ok(isnan(ci1[LI_METRIC_PRECISION][0]) && isnan(ci1[LI_METRIC_PRECISION][1]),
	   "precision interval undefined when no resample predicts a positive");
	ok(!isnan(ci1[LI_METRIC_AUROC][0]), "AUROC interval still defined");
}

static int is_white(const li_plot *p, int x, int y)
{
	const uint8_t *px = p->rgb + ((size_t)y * (size_t)p->width + (size_t)x) * 3;
	return px[0] == 255 && px[1] == 255 && px[2] == 255;
}

static void test_plot(void)
{
	li_plot *p = li_plot_new(200, 40);
	if (!ok(p != NULL, "plot canvas"))
		return;
	is_int(li_plot_text_width("abc", 2), 3 * 12 - 2, "text width: 6 px cells times scale, no trailing gap");
	is_int(li_plot_text_height(3), 30, "text height: 10 px times scale");
	/* Each printable character inks only its own 5x9 box, every one but space
	 * inks something, and no two characters look the same. */
	static uint64_t bits[95];
	int inside = 1, inked = 1;
	for (int c = 32; c < 127; c++) {
		memset(p->rgb, 255, 200 * 40 * 3);
		char str[2] = {(char)c, 0};
		li_plot_text(p, 10, 10, str, 1, LI_PLOT_BLACK, false);
		uint64_t b = 0;
		for (int y = 0; y < 40; y++)
			for (int x = 0; x < 200; x++) {
				if (is_white(p, x, y))
					continue;
				if (x < 10 || x >= 15 || y < 10 || y >= 19)
					inside = 0;
				else
					b |= 1ull << ((y - 10) * 5 + (x - 10));
			}
		bits[c - 32] = b;
		if ((b == 0) != (c == ' '))
			inked = 0;
	}
	ok(inside, "glyphs stay inside their 5x9 box");
	ok(inked, "every glyph but space is drawn");
	int distinct = 1;
	for (int i = 0; i < 95; i++)
		for (int j = i + 1; j < 95; j++)
			if (bits[i] == bits[j]) {
				distinct = 0;
				diag("'%c' and '%c' look the same", i + 32, j + 32);
			}
	ok(distinct, "all 95 glyphs differ");
	li_plot_free(p);

	/* Vertical text is horizontal text rotated 90 degrees counter-clockwise. */
	li_plot *h = li_plot_new(100, 100), *v = li_plot_new(100, 100);
	li_plot_text(h, 0, 0, "AUC 0.9", 2, LI_PLOT_BLACK, false);
	li_plot_text(v, 0, 0, "AUC 0.9", 2, LI_PLOT_BLACK, true);
	int w = li_plot_text_width("AUC 0.9", 2), rot = 1;
	for (int y = 0; y < 20; y++)
		for (int x = 0; x < w; x++)
			if (is_white(h, x, y) != is_white(v, y, w - 1 - x))
				rot = 0;
	ok(rot, "vertical text = rotated horizontal text");
	li_plot_free(h);
	li_plot_free(v);

	/* A polyline through a midpoint draws exactly the straight segment (no
	 * darker joint), and a line of width 3 inks a band 3 pixels high. */
	li_plot *a = li_plot_new(100, 50), *b = li_plot_new(100, 50);
	double xs[] = {0.1, 0.5, 0.9}, ys[] = {0.5, 0.5, 0.5}, x2[] = {0.1, 0.9}, y2[] = {0.5, 0.5};
	li_plot_polyline(a, xs, ys, 3, 3, LI_PLOT_BLUE, 0);
	li_plot_polyline(b, x2, y2, 2, 3, LI_PLOT_BLUE, 0);
	ok(memcmp(a->rgb, b->rgb, 100 * 50 * 3) == 0, "polyline joints are not darker");
	int col = (int)li_plot_px(a, 0.5), dark = 0;
	for (int y = 0; y < 50; y++) {
		const uint8_t *px = a->rgb + ((size_t)y * 100 + (size_t)col) * 3;
		dark += px[2] > 150 && px[0] < 80;
	}
	is_int(dark, 3, "width 3: three solid pixels across");
	double dx[] = {0, 1}, dy[] = {0.2, 0.2};
	li_plot_polyline(b, dx, dy, 2, 1, LI_PLOT_GRAY, 6);
	int row = (int)li_plot_py(b, 0.2), on = 0, runs = 0, prev = 0;
	for (int x = 0; x < 100; x++) {
		int cur = !is_white(b, x, row);
		on += cur;
		runs += cur && !prev;
		prev = cur;
	}
	ok(runs >= 6 && on > 30 && on < 70, "dashed line: %d dashes, %d of 100 pixels inked", runs, on);
	li_plot_free(a);
	li_plot_free(b);
	ok(li_plot_new(0, 10) == NULL, "empty canvas refused");
	is_str(li_errmsg(), "plot size 0x10 is out of range", "canvas message");
}

int main(void)
{
	test_fixtures();
	test_hand();
	test_bootstrap();
	test_plot();
	return done_testing();
}
