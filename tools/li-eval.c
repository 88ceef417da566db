/* li-eval: metrics of a scored list (label and prob columns) as one JSON
 * object on stdout, with bootstrap and DeLong intervals, a paired DeLong
 * comparison with another model, ROC and PR plots, and a row in the author's
 * results CSV. See li-eval(1). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "li_atomic.h"
#include "li_cli.h"
#include "li_error.h"
#include "li_image_io.h"
#include "li_list.h"
#include "li_metrics.h"
#include "li_plot.h"

#define CI_LEVEL 0.95
#define DEFAULT_RESAMPLES 2000
#define PLOT_SIZE 640

static const char CSV_HEADER[] = "test_loss,test_auroc,test_auprc,test_f1,test_sensitivity,"
				 "test_specificity,test_tn,test_fp,test_fn,test_tp,project_name";

typedef struct opts {
	const char *input, *label_col, *score_col;
	double threshold;
	long ci; /* resamples; 0: no intervals */
	uint64_t seed;
	int threads;
	const char *compare, *roc, *pr, *csv, *name;
	const char *out; /* the JSON: "-" for stdout, else a file written atomically */
} opts;

/* The scored rows of one list. */
typedef struct data {
	li_list *list;
	size_t n;
	int *y;
	double *s;
} data;

_Noreturn static void usage(void)
{
	printf("Usage: li-eval [OPTION]... [LIST|-]\n"
	       "Print the metrics of a scored list (columns label and prob) as one JSON object.\n"
	       "\n"
	       "  -o, --output FILE      write the JSON to FILE (atomically) instead of stdout\n"
	       "  -l, --label COL        column of true labels, 0 or 1 (default label)\n"
	       "  -s, --score COL        column of scores, P(class 1) (default prob)\n"
	       "  -t, --threshold T      predict positive when score >= T (default 0.5)\n"
	       "      --ci [N]           95%% intervals: stratified bootstrap with N resamples\n"
	       "                         (default %d) for every metric, DeLong for AUROC\n"
	       "      --seed S           bootstrap seed (default 1)\n"
	       "  -j, --threads N        bootstrap threads (default: LI_THREADS or all CPUs)\n"
	       "  -c, --compare OTHER    paired DeLong test against OTHER's scores\n"
	       "                         (rows matched by path)\n"
	       "      --roc FILE.png     draw the ROC curve\n"
	       "      --pr FILE.png      draw the precision-recall curve\n"
	       "      --csv FILE         append a row in the author's results CSV columns\n"
	       "      --name NAME        project_name of that row (required with --csv)\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "Undefined metrics (e.g. AUROC with one class) are null, with a warning.\n"
	       "See li-eval(1).\n",
	       DEFAULT_RESAMPLES);
	exit(LI_EXIT_OK);
}

/* An integer-looking word: "12", "-3", "+4". */
static bool looks_integer(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static opts parse_args(int argc, char **argv)
{
	opts o = {.input = "-", .label_col = "label", .score_col = "prob", .threshold = 0.5,
		  .seed = 1, .threads = 0, .out = "-"};
	enum { O_CI = 256, O_SEED, O_ROC, O_PR, O_CSV, O_NAME };
	static const struct option longopts[] = {
		{"label", required_argument, NULL, 'l'},
		{"score", required_argument, NULL, 's'},
		{"threshold", required_argument, NULL, 't'},
		{"ci", optional_argument, NULL, O_CI},
		{"seed", required_argument, NULL, O_SEED},
		{"threads", required_argument, NULL, 'j'},
		{"compare", required_argument, NULL, 'c'},
		{"roc", required_argument, NULL, O_ROC},
		{"pr", required_argument, NULL, O_PR},
		{"csv", required_argument, NULL, O_CSV},
		{"name", required_argument, NULL, O_NAME},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:s:t:j:c:o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o.label_col = optarg; break;
		case 's': o.score_col = optarg; break;
		case 't': o.threshold = li_opt_double("--threshold", optarg, -1e300, 1e300); break;
		case O_CI: {
			/* "--ci", "--ci=N" and "--ci N" (when the next word is a number). */
			const char *arg = optarg;
			if (!arg && optind < argc && looks_integer(argv[optind]))
				arg = argv[optind++];
			o.ci = arg ? li_opt_long("--ci", arg, 1, 100000000) : DEFAULT_RESAMPLES;
			break;
		}
		case O_SEED: o.seed = li_opt_u64("--seed", optarg); break;
		case 'j': o.threads = (int)li_opt_long("--threads", optarg, 1, 1024); break;
		case 'c': o.compare = optarg; break;
		case O_ROC: o.roc = optarg; break;
		case O_PR: o.pr = optarg; break;
		case O_CSV: o.csv = optarg; break;
		case O_NAME: o.name = optarg; break;
		case 'o': o.out = optarg; break;
		case 'h': usage();
		case 'V': li_cli_version();
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	o.input = li_cli_list_operand(argc, argv, o.input);
	if (o.csv && !o.name)
		li_usage_error("--csv needs --name (the project_name of the row)");
	if (o.name && !o.csv)
		li_usage_error("--name is only used with --csv");
	if (o.compare && strcmp(o.compare, "-") == 0 && strcmp(o.input, "-") == 0)
		li_usage_error("the list and --compare cannot both be stdin");
	const char *outs[] = {o.roc, o.pr, o.csv, strcmp(o.out, "-") ? o.out : NULL};
	for (int i = 0; i < 4; i++) {
		if (i < 3 && outs[i] && strcmp(outs[i], "-") == 0)
			li_usage_error("%s cannot be stdout: the metrics go there",
				       i == 0 ? "--roc" : i == 1 ? "--pr" : "--csv");
		for (int j = 0; j < i; j++)
			if (outs[i] && outs[j] && strcmp(outs[i], outs[j]) == 0)
				li_usage_error("'%s' is given for two outputs", outs[i]);
	}
	if (o.roc && li_image_format_for_path(o.roc) != LI_IMAGE_PNG)
		li_usage_error("--roc: '%s' must end in .png", o.roc);
	if (o.pr && li_image_format_for_path(o.pr) != LI_IMAGE_PNG)
		li_usage_error("--pr: '%s' must end in .png", o.pr);
	if (!o.threads)
		o.threads = li_cli_default_threads();
	return o;
}

static void data_free(data *d)
{
	li_list_free(d->list);
	free(d->y);
	free(d->s);
}

/* Read a list and its label and score columns; dies with file and line. */
static data load(const char *path, const opts *o, bool need_label)
{
	data d = {0};
	d.list = li_list_read(path);
	if (!d.list)
		li_die_lib();
	li_list *l = d.list;
	if (l->nrows == 0)
		li_die("'%s': the list has no rows", l->name);
	int lc = need_label ? li_list_require(l, o->label_col) : -1;
	int sc = li_list_require(l, o->score_col);
	if ((need_label && lc < 0) || sc < 0)
		li_die_lib();
	d.n = l->nrows;
	d.y = li_malloc_array(d.n, sizeof *d.y);
	d.s = li_malloc_array(d.n, sizeof *d.s);
	if (!d.y || !d.s)
		li_die_lib();
	for (size_t i = 0; i < d.n; i++) {
		if ((need_label && li_list_label(l, &l->rows[i], lc, &d.y[i]) < 0) ||
		    li_list_double(l, &l->rows[i], sc, &d.s[i]) < 0)
			li_die_lib();
	}
	return d;
}

/* ---- --compare: rows matched by path ---- */

static const li_list *cmp_list;
static int cmp_path(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(cmp_list->rows[i].field[0], cmp_list->rows[j].field[0]);
	return c ? c : (i > j) - (i < j);
}

/* Row indices sorted by path; dies on a duplicate path. */
static size_t *sort_paths(const li_list *l)
{
	size_t *idx = li_malloc_array(l->nrows, sizeof *idx);
	if (!idx)
		li_die_lib();
	for (size_t i = 0; i < l->nrows; i++)
		idx[i] = i;
	cmp_list = l;
	qsort(idx, l->nrows, sizeof *idx, cmp_path);
	for (size_t k = 1; k < l->nrows; k++) {
		const li_row *a = &l->rows[idx[k - 1]], *b = &l->rows[idx[k]];
		if (strcmp(a->field[0], b->field[0]) == 0) {
			char msg[LI_ERRMSG_MAX];
			snprintf(msg, sizeof msg, "'%s' line %ld: duplicate path '%s' (first on line %ld)",
				 l->name, b->line, b->field[0], a->line);
			free(idx);
			li_die("%s", msg);
		}
	}
	return idx;
}

/* other's scores in the order of a's rows; checks both lists hold the same paths
 * and, when other has the label column, the same labels. */
static double *match_rows(const data *a, const data *b, const opts *o)
{
	const li_list *la = a->list, *lb = b->list;
	if (!la->header || !lb->header)
		li_die("'%s': --compare needs lists with a header and a path column",
		       la->header ? lb->name : la->name);
	size_t *ia = sort_paths(la), *ib = sort_paths(lb);
	double *out = li_malloc_array(a->n, sizeof *out);
	if (!out)
		li_die_lib();
	int blc = li_list_col(lb, o->label_col);
	char msg[LI_ERRMSG_MAX] = "";
	size_t i = 0, j = 0;
	while (!msg[0] && (i < la->nrows || j < lb->nrows)) {
		const li_row *ra = i < la->nrows ? &la->rows[ia[i]] : NULL;
		const li_row *rb = j < lb->nrows ? &lb->rows[ib[j]] : NULL;
		int c = !ra ? 1 : !rb ? -1 : strcmp(ra->field[0], rb->field[0]);
		int y;
		if (c < 0)
			snprintf(msg, sizeof msg, "'%s' line %ld: path '%s' is not in '%s'", la->name,
				 ra->line, ra->field[0], lb->name);
		else if (c > 0)
			snprintf(msg, sizeof msg, "'%s' line %ld: path '%s' is not in '%s'", lb->name,
				 rb->line, rb->field[0], la->name);
		else if (blc >= 0 && li_list_label(lb, rb, blc, &y) < 0)
			snprintf(msg, sizeof msg, "%s", li_errmsg());
		else if (blc >= 0 && y != a->y[ia[i]])
			snprintf(msg, sizeof msg, "'%s' line %ld: label of '%s' is %d, but %d in '%s' line %ld",
				 lb->name, rb->line, rb->field[0], y, a->y[ia[i]], la->name, ra->line);
		else
			out[ia[i++]] = b->s[ib[j++]];
	}
	free(ia);
	free(ib);
	if (msg[0]) {
		free(out);
		li_die("%s", msg);
	}
	return out;
}

/* ---- JSON ---- */

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *pair(double lo, double hi)
{
	if (isnan(lo) || isnan(hi))
		return json_null();
	return json_pack("[oo]", json_real(lo), json_real(hi));
}

static void set(json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		li_die("out of memory building the JSON output");
}

/* Why a metric is undefined, for the warning. */
static const char *why_undefined(int k, const li_metrics *m, const opts *o, char *buf, size_t len)
{
	switch (k) {
	case LI_METRIC_AUROC: return m->n_pos ? "the list has no negative rows" : "the list has no positive rows";
	case LI_METRIC_SPECIFICITY: return "the list has no negative rows";
	case LI_METRIC_PRECISION:
		snprintf(buf, len, "no row has %s >= %g", o->score_col, o->threshold);
		return buf;
	case LI_METRIC_F1: return "no positive rows and no predicted positives";
	default: return "the list has no positive rows";
	}
}

/* ---- plots ---- */

/* The PR curve (x recall, y precision) as the step function whose area is
 * AUPRC: precision y[i] holds over recall (x[i-1], x[i]]; points where recall
 * does not move add nothing. New arrays in *cx, *cy (*cn points). */
static void pr_steps(const double *x, const double *y, size_t np, double **cx, double **cy,
		     size_t *cn)
{
	double *sx = li_malloc_array(2 * np, sizeof *sx);
	double *sy = li_malloc_array(2 * np, sizeof *sy);
	if (!sx || !sy)
		li_die_lib();
	size_t n = 0;
	sx[n] = x[0];
	sy[n++] = y[0];
	for (size_t i = 1; i < np; i++) {
		if (x[i] == x[i - 1])
			continue;
		sx[n] = x[i - 1];
		sy[n++] = y[i];
		sx[n] = x[i];
		sy[n++] = y[i];
	}
	*cx = sx, *cy = sy, *cn = n;
}

/* The curve of one kind as a PNG in memory; dies when the curve is undefined. */
static void draw(bool roc, const data *d, const li_metrics *m, const double ci[LI_METRIC_COUNT][2],
		 const opts *o, void **png, size_t *png_len)
{
	double *x, *y;
	size_t np;
	int rc = roc ? li_metrics_roc_curve(d->y, d->s, d->n, &x, &y, &np)
		     : li_metrics_pr_curve(d->y, d->s, d->n, &x, &y, &np);
	if (rc < 0)
		li_die("cannot draw '%s': %s", roc ? o->roc : o->pr, li_errmsg());
	li_plot *p = li_plot_new(PLOT_SIZE, PLOT_SIZE);
	if (!p)
		li_die_lib();
	li_plot_frame f = {0, 1, 0, 1, 0.2, 0.2, 1, NULL, NULL, NULL, NULL, 0};
	if (roc) {
		f.title = "ROC curve";
		f.xlabel = "False positive rate (1 - specificity)";
		f.ylabel = "True positive rate (sensitivity)";
	} else {
		f.title = "Precision-recall curve";
		f.xlabel = "Recall (sensitivity)";
		f.ylabel = "Precision";
	}
	li_plot_frame_draw(p, &f);
	double prev = (double)m->n_pos / (double)m->n;
	double refx[] = {0, 1}, refy[] = {0, 1};
	if (!roc)
		refy[0] = refy[1] = prev;
	li_plot_polyline(p, refx, refy, 2, 1.5, LI_PLOT_GRAY, 6);
	double *cx = x, *cy = y;
	size_t cn = np;
	if (!roc)
		pr_steps(x, y, np, &cx, &cy, &cn);
	li_plot_polyline(p, cx, cy, cn, 2.5, LI_PLOT_BLUE, 0);
	double se = m->value[LI_METRIC_SENSITIVITY], sp = m->value[LI_METRIC_SPECIFICITY];
	double pr = m->value[LI_METRIC_PRECISION];
	bool dot = roc ? !isnan(se) && !isnan(sp) : !isnan(se) && !isnan(pr);
	if (dot)
		li_plot_disc(p, roc ? 1 - sp : se, roc ? se : pr, 5, LI_PLOT_RED);
	int k = roc ? LI_METRIC_AUROC : LI_METRIC_AUPRC;
	char l0[64], l1[64], l2[64], l3[64], l4[64];
	const char *lines[5];
	int nl = 0;
	snprintf(l0, sizeof l0, "%s = %.3f", roc ? "AUROC" : "AUPRC", m->value[k]);
	lines[nl++] = l0;
	if (ci && !isnan(ci[k][0])) {
		snprintf(l1, sizeof l1, "95%% CI %.3f-%.3f", ci[k][0], ci[k][1]);
		lines[nl++] = l1;
	}
	snprintf(l2, sizeof l2, "n = %zu (%zu pos, %zu neg)", m->n, m->n_pos, m->n_neg);
	lines[nl++] = l2;
	if (roc)
		snprintf(l3, sizeof l3, "dashed: chance");
	else
		snprintf(l3, sizeof l3, "dashed: prevalence %.3f", prev);
	lines[nl++] = l3;
	if (dot) {
		snprintf(l4, sizeof l4, "dot: %s >= %g", o->score_col, o->threshold);
		lines[nl++] = l4;
	}
	/* The corner where the legend hides the least of the curve. */
	static const int order_roc[] = {3, 2, 1, 0}, order_pr[] = {2, 3, 0, 1};
	const int *order = roc ? order_roc : order_pr;
	int best = order[0];
	size_t best_hits = (size_t)-1;
	for (int i = 0; i < 4; i++) {
		int rect[4];
		li_plot_legend_rect(p, order[i], lines, nl, 2, rect);
		size_t h = li_plot_polyline_hits(p, cx, cy, cn, rect);
		if (h < best_hits) {
			best_hits = h;
			best = order[i];
		}
	}
	li_plot_legend(p, best, lines, nl, 2);
	if (cx != x) {
		free(cx);
		free(cy);
	}
	li_image img = {PLOT_SIZE, PLOT_SIZE, 3, p->rgb};
	if (li_image_encode(&img, LI_IMAGE_PNG, NULL, png, png_len) < 0)
		li_die("cannot write '%s': %s", roc ? o->roc : o->pr, li_errmsg());
	li_plot_free(p);
	free(x);
	free(y);
}

/* ---- CSV ---- */

static void csv_num(char *buf, size_t len, double v)
{
	if (isfinite(v))
		snprintf(buf, len, "%.15g", v);
	else
		buf[0] = 0;
}

/* RFC 4180: quote a field holding a comma, quote, CR or LF. */
static char *csv_field(const char *s)
{
	size_t n = strlen(s), q = strcspn(s, ",\"\r\n") < n;
	char *out = li_malloc(2 * n + 3);
	if (!out)
		li_die_lib();
	char *w = out;
	if (q)
		*w++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*w++ = '"';
		*w++ = *s;
	}
	if (q)
		*w++ = '"';
	*w = 0;
	return out;
}

/* The whole new CSV file: old contents (checked) plus our row. */
static char *csv_content(const opts *o, const li_metrics *m, double loss, size_t *len)
{
	char *old = NULL;
	size_t oldlen = 0;
	FILE *fp = fopen(o->csv, "rb");
	if (fp) {
		size_t cap = 4096;
		old = li_malloc(cap);
		if (!old)
			li_die_lib();
		size_t r;
		while ((r = fread(old + oldlen, 1, cap - oldlen, fp)) > 0) {
			oldlen += r;
			if (oldlen == cap && !(old = li_realloc_array(old, cap *= 2, 1)))
				li_die_lib();
		}
		if (ferror(fp))
			li_die("cannot read '%s': %s", o->csv, strerror(errno));
		fclose(fp);
	} else if (errno != ENOENT) {
		li_die("cannot open '%s': %s", o->csv, strerror(errno));
	}
	if (oldlen > 0) {
		size_t hl = strlen(CSV_HEADER);
		size_t first = strcspn(old, "\n");
		if (first > oldlen)
			first = oldlen;
		size_t cmp = first > 0 && old[first - 1] == '\r' ? first - 1 : first;
		if (cmp != hl || memcmp(old, CSV_HEADER, hl) != 0)
			li_die("'%s' line 1: not the results header '%s'", o->csv, CSV_HEADER);
	}
	char v[10][40];
	const double *x = m->value;
	csv_num(v[0], 40, loss);
	csv_num(v[1], 40, x[LI_METRIC_AUROC]);
	csv_num(v[2], 40, x[LI_METRIC_AUPRC]);
	csv_num(v[3], 40, x[LI_METRIC_F1]);
	csv_num(v[4], 40, x[LI_METRIC_SENSITIVITY]);
	csv_num(v[5], 40, x[LI_METRIC_SPECIFICITY]);
	snprintf(v[6], 40, "%zu", m->tn);
	snprintf(v[7], 40, "%zu", m->fp);
	snprintf(v[8], 40, "%zu", m->fn);
	snprintf(v[9], 40, "%zu", m->tp);
	char *name = csv_field(o->name);
	size_t cap = oldlen + strlen(CSV_HEADER) + strlen(name) + 600;
	char *out = li_malloc(cap);
	if (!out)
		li_die_lib();
	size_t w = 0;
	if (oldlen == 0)
		w += (size_t)snprintf(out, cap, "%s\n", CSV_HEADER);
	else {
		memcpy(out, old, oldlen);
		w = oldlen;
		if (out[w - 1] != '\n')
			out[w++] = '\n';
	}
	w += (size_t)snprintf(out + w, cap - w, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", v[0], v[1], v[2],
			      v[3], v[4], v[5], v[6], v[7], v[8], v[9], name);
	free(name);
	free(old);
	*len = w;
	return out;
}

/* ---- main ---- */

typedef struct output {
	const char *path;
	void *buf;
	size_t len;
	li_atomic a;
} output;

/* The metrics as a JSON object (warnings for the undefined ones). */
static json_t *metrics_json(const li_metrics *m, double loss, const opts *o)
{
	char buf[128];
	json_t *j = json_object();
	if (!j)
		li_die("out of memory building the JSON output");
	set(j, "n", json_integer((json_int_t)m->n));
	set(j, "n_pos", json_integer((json_int_t)m->n_pos));
	set(j, "n_neg", json_integer((json_int_t)m->n_neg));
	for (int k = 0; k < LI_METRIC_COUNT; k++) {
		if (isnan(m->value[k]))
			li_warn("%s is undefined (%s): null", li_metric_names[k],
				why_undefined(k, m, o, buf, sizeof buf));
		set(j, li_metric_names[k], num(m->value[k]));
	}
	set(j, "tn", json_integer((json_int_t)m->tn));
	set(j, "fp", json_integer((json_int_t)m->fp));
	set(j, "fn", json_integer((json_int_t)m->fn));
	set(j, "tp", json_integer((json_int_t)m->tp));
	set(j, "threshold", json_real(o->threshold));
	set(j, "log_loss", num(loss));
	return j;
}

/* --ci: bootstrap intervals of every metric into ci and j, and DeLong's for AUROC. */
static void add_intervals(json_t *j, const data *d, const li_metrics *m, const opts *o,
			  double ci[LI_METRIC_COUNT][2])
{
	char buf[128];
	if (li_metrics_bootstrap(d->y, d->s, d->n, o->threshold, o->ci, o->seed, o->threads,
				 CI_LEVEL, ci, NULL) < 0)
		li_die_lib();
	for (int k = 0; k < LI_METRIC_COUNT; k++) {
		snprintf(buf, sizeof buf, "%s_ci", li_metric_names[k]);
		if (isnan(ci[k][0]) && !isnan(m->value[k]))
			li_warn("%s is undefined in every resample: null", buf);
		set(j, buf, pair(ci[k][0], ci[k][1]));
	}
	li_delong_ci dc;
	if (li_metrics_delong_ci(d->y, d->s, d->n, CI_LEVEL, &dc) == 0) {
		set(j, "auroc_delong_ci", pair(dc.lo, dc.hi));
	} else {
		li_warn("auroc_delong_ci is undefined (%s): null", li_errmsg());
		set(j, "auroc_delong_ci", json_null());
	}
	set(j, "ci_level", json_real(CI_LEVEL));
	set(j, "ci_resamples", json_integer(o->ci));
	set(j, "ci_seed", json_integer((json_int_t)o->seed));
}

/* --compare: the paired DeLong test of d's scores against the other list's. */
static void add_comparison(json_t *j, const data *d, const li_metrics *m, const opts *o)
{
	data b = load(o->compare, o, false);
	double *sb = match_rows(d, &b, o);
	json_t *c = json_object();
	if (!c)
		li_die("out of memory building the JSON output");
	li_delong_test t;
	set(c, "other", json_string(b.list->name));
	set(c, "n", json_integer((json_int_t)d->n));
	if (li_metrics_delong_test(d->y, d->s, sb, d->n, CI_LEVEL, &t) < 0) {
		li_warn("the DeLong comparison is undefined (%s): null", li_errmsg());
		t = (li_delong_test){NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
		t.auc_a = m->value[LI_METRIC_AUROC];
		t.auc_b = li_metrics_auroc(d->y, sb, d->n);
		t.diff = t.auc_a - t.auc_b;
	} else if (isnan(t.p)) {
		li_warn("the DeLong variance of the difference is 0: p_value null");
	}
	set(c, "auroc", num(t.auc_a));
	set(c, "other_auroc", num(t.auc_b));
	set(c, "difference", num(t.diff));
	set(c, "difference_ci", pair(t.lo, t.hi));
	set(c, "z", num(t.z));
	set(c, "p_value", num(t.p));
	set(j, "compare", c);
	free(sb);
	data_free(&b);
}

/* Write every output file, then rename them all into place: a failure
 * leaves none of them behind (and the old files as they were). */
static void write_outputs(output *out, int nout)
{
	for (int i = 0; i < nout; i++) {
		FILE *fp = li_atomic_open(&out[i].a, out[i].path);
		if (!fp || fwrite(out[i].buf, 1, out[i].len, fp) != out[i].len) {
			char msg[LI_ERRMSG_MAX];
			snprintf(msg, sizeof msg, "%s", fp ? strerror(errno ? errno : EIO) : li_errmsg());
			for (int k = 0; k <= i; k++)
				if (k < i || fp)
					li_atomic_abort(&out[k].a);
			if (fp)
				li_die("cannot write '%s': %s", out[i].path, msg);
			li_die("%s", msg);
		}
	}
	for (int i = 0; i < nout; i++) {
		if (li_atomic_commit(&out[i].a) < 0) {
			char msg[LI_ERRMSG_MAX];
			snprintf(msg, sizeof msg, "%s", li_errmsg());
			for (int k = i + 1; k < nout; k++)
				li_atomic_abort(&out[k].a);
			li_die("%s", msg);
		}
		free(out[i].buf);
	}
}

/* The log loss when every score is a probability, else NAN; --csv needs it. */
static double log_loss(const data *d, const opts *o)
{
	for (size_t i = 0; i < d->n; i++)
		if (!(d->s[i] >= 0 && d->s[i] <= 1)) {
			if (o->csv)
				li_die("'%s' line %ld: %s '%s' is not in [0, 1], needed for test_loss in --csv",
				       d->list->name, d->list->rows[i].line, o->score_col,
				       d->list->rows[i].field[li_list_col(d->list, o->score_col)]);
			return NAN;
		}
	return li_metrics_log_loss(d->y, d->s, d->n, LI_METRICS_LOG_EPS);
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = parse_args(argc, argv);

	data d = load(o.input, &o, true);
	li_metrics m;
	if (li_metrics_compute(d.y, d.s, d.n, o.threshold, &m) < 0)
		li_die("'%s': %s", d.list->name, li_errmsg());
	const double loss = log_loss(&d, &o);
	json_t *j = metrics_json(&m, loss, &o);
	double ci[LI_METRIC_COUNT][2];
	if (o.ci)
		add_intervals(j, &d, &m, &o, ci);
	if (o.compare)
		add_comparison(j, &d, &m, &o);

	/* Every output is prepared in memory first, then all are written together. */
	char *s = json_dumps(j, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	if (!s)
		li_die("out of memory building the JSON output");
	json_decref(j);
	output out[4];
	int nout = 0;
	if (o.roc) {
		out[nout].path = o.roc;
		draw(true, &d, &m, o.ci ? ci : NULL, &o, &out[nout].buf, &out[nout].len);
		nout++;
	}
	if (o.pr) {
		out[nout].path = o.pr;
		draw(false, &d, &m, o.ci ? ci : NULL, &o, &out[nout].buf, &out[nout].len);
		nout++;
	}
	if (o.csv) {
		out[nout].path = o.csv;
		out[nout].buf = csv_content(&o, &m, loss, &out[nout].len);
		nout++;
	}
	const bool to_stdout = strcmp(o.out, "-") == 0;
	if (!to_stdout) {
		size_t len = strlen(s);
		char *buf = li_malloc(len + 1);
		if (!buf)
			li_die_lib();
		memcpy(buf, s, len);
		buf[len] = '\n';
		out[nout++] = (output){.path = o.out, .buf = buf, .len = len + 1};
	}
	write_outputs(out, nout);
	if (to_stdout)
		printf("%s\n", s);
	free(s);
	data_free(&d);
	return LI_EXIT_OK;
}
