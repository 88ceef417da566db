/* li-mine: the mining steps of the four-step strategy: false positives of a
 * scored list (fp), hard negatives of a pool by exact k-NN of their features
 * (knn, or --method random as the baseline), and the pool rows the weak model
 * scores highest (top); a contact sheet of what was mined. knn can mine a
 * given count (-n: by rank, round-robin over the queries) and only among the
 * pool rows the weak model scores at least --min-score. See li-mine(1). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "li_atomic.h"
#include "li_cli.h"
#include "li_error.h"
#include "li_image_io.h"
#include "li_knn.h"
#include "li_list.h"
#include "li_npy.h"
#include "li_rng.h"
#include "li_source.h"

#define MAX_SHARDS 256
#define CHUNK_BYTES (64u << 20) /* pool bytes read per li_npy_read_rows */
#define MONTAGE_ROWS 100
#define GAP 2

typedef enum { CMD_FP, CMD_KNN, CMD_TOP } command;

typedef struct opts {
	command cmd;
	const char *input, *out;
	/* fp, top */
	const char *label_col, *score_col;
	double threshold;
	long n; /* top, random: rows to keep; -1 unset */
	/* knn */
	const char *query, *query_list, *pairs, *montage;
	const char *pool[MAX_SHARDS], *pool_list[MAX_SHARDS];
	int npool, npool_list;
	long k, block, thumb;
	li_knn_metric metric;
	bool random;
	double min_score; /* knn: candidates have score_col >= min_score; NAN: all */
	uint64_t seed;
	int threads;
	/* options given, for the cross-checks */
	bool seen_threshold, seen_k, seen_metric, seen_by, seen_score;
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-mine fp [OPTION]... [SCORES.tsv|-]\n"
	       "  or:  li-mine knn -q FP.npy -p POOL.npy -l POOL.tsv [OPTION]...\n"
	       "  or:  li-mine top -n N [OPTION]... [POOL_SCORES.tsv|-]\n"
	       "Mine false positives (fp) and hard negatives: the k nearest pool rows of each\n"
	       "false positive (knn), rows at random (knn --method random), or the pool rows\n"
	       "scored highest (top). Lists go to stdout (or -o FILE).\n"
	       "\n"
	       "fp:  rows with label 0 and prob >= T, every column kept\n"
	       "  -t, --threshold T      (default 0.1)\n"
	       "      --label COL, --score COL   columns (default label, prob)\n"
	       "knn: the union of the neighbours, pool columns + label, distance, rank, query\n"
	       "  -q, --query FILE.npy   features of the false positives\n"
	       "  -p, --pool FILE.npy    pool features; repeat with --pool-list for shards\n"
	       "  -l, --pool-list FILE   the pool list, one data row per feature row\n"
	       "  -k N                   neighbours per query (default 20)\n"
	       "  -m, --metric l2|cosine (default l2; cosine: most similar first)\n"
	       "      --method knn|random   random: the same number of rows at random\n"
	       "  -n N                   rows to mine: knn takes every query's nearest, then\n"
	       "                         every query's second nearest, ... until N distinct\n"
	       "                         rows; random draws N (default: queries x k)\n"
	       "      --min-score T      only pool rows whose --score column (in the pool\n"
	       "                         list, default prob) is >= T are mined\n"
	       "      --seed S           seed of --method random (default 1)\n"
	       "      --pairs FILE       every (query, rank, pool row, distance)\n"
	       "      --montage FILE.png contact sheet: each query, then its neighbours\n"
	       "      --query-list FILE  the queries' list (images for --montage)\n"
	       "      --thumb PX         montage thumbnail size (default 64)\n"
	       "      --block ROWS       pool rows per sgemm (default 1024)\n"
	       "  -j, --threads N        (default: LI_THREADS or all CPUs)\n"
	       "top: the N highest-scored rows, label set to 0\n"
	       "  -n N, --by COL         rows to keep, score column (default prob)\n"
	       "\n"
	       "  -o, --output FILE      write the list to FILE (atomically) instead of stdout\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "See li-mine(1).\n");
	exit(LI_EXIT_OK);
}

enum { O_LABEL = 256, O_SCORE, O_METHOD, O_SEED, O_PAIRS, O_MONTAGE, O_QUERY_LIST, O_THUMB,
       O_BLOCK, O_BY, O_MIN_SCORE };
static const struct option longopts[] = {
	{"threshold", required_argument, NULL, 't'},
	{"label", required_argument, NULL, O_LABEL},
	{"score", required_argument, NULL, O_SCORE},
	{"by", required_argument, NULL, O_BY},
	{"min-score", required_argument, NULL, O_MIN_SCORE},
	{"query", required_argument, NULL, 'q'},
	{"pool", required_argument, NULL, 'p'},
	{"pool-list", required_argument, NULL, 'l'},
	{"metric", required_argument, NULL, 'm'},
	{"method", required_argument, NULL, O_METHOD},
	{"seed", required_argument, NULL, O_SEED},
	{"pairs", required_argument, NULL, O_PAIRS},
	{"montage", required_argument, NULL, O_MONTAGE},
	{"query-list", required_argument, NULL, O_QUERY_LIST},
	{"thumb", required_argument, NULL, O_THUMB},
	{"block", required_argument, NULL, O_BLOCK},
	{"threads", required_argument, NULL, 'j'},
	{"output", required_argument, NULL, 'o'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{0},
};
static const char *const cmds[] = {"fp", "knn", "top", NULL};

/* The command (argv[1]); before it only --help and --version. */
static command parse_command(int argc, char **argv)
{
	int c;
	opterr = 0;
	if (argc < 2)
		li_usage_error("no command: fp, knn or top");
	if (argv[1][0] == '-') {
		while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
			if (c == 'h')
				usage();
			if (c == 'V')
				li_cli_version();
			if (c == ':' || c == '?')
				li_cli_bad_option(c, argv);
			li_usage_error("'%s' comes after the command (fp, knn or top)", argv[optind - 1]);
		}
		li_usage_error("no command: fp, knn or top");
	}
	for (c = 0; cmds[c] && strcmp(cmds[c], argv[1]) != 0; c++)
		;
	if (!cmds[c])
		li_usage_error("unknown command '%s' (fp, knn or top)", argv[1]);
	return (command)c;
}

static void check_args(opts *o, int argc, char **argv);

static opts parse_args(int argc, char **argv)
{
	opts o = {.input = "-", .out = "-", .label_col = "label", .score_col = "prob",
		  .threshold = 0.1, .n = -1, .k = 20, .thumb = 64, .seed = 1, .min_score = NAN};
	static const char *const metrics[] = {"l2", "cosine", NULL};
	static const char *const methods[] = {"knn", "random", NULL};
	int c;
	o.cmd = parse_command(argc, argv);
	argc--, argv++;
	while ((c = getopt_long(argc, argv, ":t:q:p:l:m:k:n:j:o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.threshold = li_opt_double("--threshold", optarg, 0, 1);
			o.seen_threshold = true;
			break;
		case O_LABEL: o.label_col = optarg; break;
		case O_SCORE: o.score_col = optarg, o.seen_score = true; break;
		case O_MIN_SCORE: o.min_score = li_opt_double("--min-score", optarg, -1e300, 1e300); break;
		case O_BY: o.score_col = optarg, o.seen_by = true; break;
		case 'q': o.query = optarg; break;
		case 'p':
			if (o.npool == MAX_SHARDS)
				li_usage_error("more than %d --pool files", MAX_SHARDS);
			o.pool[o.npool++] = optarg;
			break;
		case 'l':
			if (o.npool_list == MAX_SHARDS)
				li_usage_error("more than %d --pool-list files", MAX_SHARDS);
			o.pool_list[o.npool_list++] = optarg;
			break;
		case 'm': o.metric = (li_knn_metric)li_opt_choice("--metric", optarg, metrics); o.seen_metric = true; break;
		case 'k': o.k = li_opt_long("-k", optarg, 1, 1000000), o.seen_k = true; break;
		case 'n': o.n = li_opt_long("-n", optarg, 0, 1L << 40); break;
		case O_METHOD: o.random = li_opt_choice("--method", optarg, methods) == 1; break;
		case O_SEED: o.seed = li_opt_u64("--seed", optarg); break;
		case O_PAIRS: o.pairs = optarg; break;
		case O_MONTAGE: o.montage = optarg; break;
		case O_QUERY_LIST: o.query_list = optarg; break;
		case O_THUMB: o.thumb = li_opt_long("--thumb", optarg, 8, 1024); break;
		case O_BLOCK: o.block = li_opt_long("--block", optarg, 1, 1L << 24); break;
		case 'j': o.threads = (int)li_opt_long("--threads", optarg, 1, 1024); break;
		case 'o': o.out = optarg; break;
		case 'h': usage();
		case 'V': li_cli_version();
		default: li_cli_bad_option(c, argv);
		}
	}
	check_args(&o, argc, argv);
	if (o.threads == 0)
		o.threads = li_cli_default_threads();
	return o;
}

/* The options against each other and the command (argc, argv without the
 * command, as getopt left them). */
static void check_args(opts *o, int argc, char **argv)
{
	const char *name = cmds[o->cmd];
	if (o->cmd == CMD_KNN) {
		if (optind < argc)
			li_usage_error("knn takes no operand ('%s'): use --query, --pool, --pool-list",
				       argv[optind]);
		if (o->npool_list == 0)
			li_usage_error("knn needs --pool-list");
		if (!o->random && o->npool == 0)
			li_usage_error("knn needs --pool (the pool's features)");
		if (o->npool && o->npool != o->npool_list)
			li_usage_error("%d --pool files but %d --pool-list files: give them in pairs",
				       o->npool, o->npool_list);
		if (!o->random && !o->query)
			li_usage_error("knn needs --query (the false positives' features)");
		if (o->random && !o->query && o->n < 0)
			li_usage_error("--method random needs -n N or --query (to draw queries x k rows)");
		if (!o->random && o->n >= 0 && o->seen_k)
			li_usage_error("knn takes -k (per query) or -n (in all), not both");
		if (o->n == 0 && !o->random)
			li_usage_error("-n 0 mines nothing");
		if (o->seen_score && isnan(o->min_score))
			li_usage_error("knn uses --score only with --min-score");
		if (o->random && (o->pairs || o->montage))
			li_usage_error("--pairs and --montage are only used with --method knn");
		if (o->montage && !o->query_list)
			li_usage_error("--montage needs --query-list (the queries' images)");
		if (o->query_list && !o->montage)
			li_usage_error("--query-list is only used with --montage");
		if (o->seen_threshold || o->seen_by)
			li_usage_error("knn has no --threshold or --by");
	} else {
		if (o->query || o->npool || o->npool_list || o->pairs || o->montage || o->query_list ||
		    o->seen_k || o->seen_metric || o->random || o->block || !isnan(o->min_score))
			li_usage_error("%s takes a list: --query, --pool, -k and the like are for knn", name);
		o->input = li_cli_list_operand(argc, argv, o->input);
		if (o->cmd == CMD_FP && (o->n >= 0 || o->seen_by))
			li_usage_error("fp has no -n or --by (use --threshold)");
		if (o->cmd == CMD_TOP && o->n < 0)
			li_usage_error("top needs -n N (rows to keep)");
		if (o->cmd == CMD_TOP && o->seen_threshold)
			li_usage_error("top has no --threshold (use -n)");
	}
	const char *outs[] = {o->pairs, o->montage};
	for (int i = 0; i < 2; i++)
		if (outs[i] && strcmp(outs[i], "-") == 0)
			li_usage_error("%s cannot be stdout: the list goes there", i ? "--montage" : "--pairs");
}

/* ---- output ---- */

typedef struct out {
	li_atomic at;
	li_list_writer *w;
} out;

static void out_open(out *o, const char *path, const li_list *base, int nextra,
		     const char *const *extra)
{
	FILE *fp = li_atomic_open(&o->at, path);
	if (!fp)
		li_die_lib();
	o->w = li_list_writer_new(fp, strcmp(path, "-") ? path : "stdout", base, nextra, extra);
	if (!o->w) {
		li_atomic_abort(&o->at);
		li_die_lib();
	}
}

static void out_put(out *o, const li_row *r, const char *const *extra)
{
	if (li_list_writer_put(o->w, r, extra)) {
		li_atomic_abort(&o->at);
		li_die_lib();
	}
}

static void out_close(out *o)
{
	li_list_writer_free(o->w);
	if (li_atomic_commit(&o->at))
		li_die_lib();
}

/* ---- fp ---- */

static int cmd_fp(const opts *o)
{
	li_list_reader *r = li_list_reader_open(o->input);
	if (!r)
		li_die_lib();
	const li_list *l = li_list_reader_list(r);
	int lc = li_list_require(l, o->label_col), sc = li_list_require(l, o->score_col);
	if (lc < 0 || sc < 0)
		li_die_lib();
	out w;
	out_open(&w, o->out, l, 0, NULL);
	const li_row *row;
	int rc;
	size_t neg = 0, kept = 0;
	while ((rc = li_list_reader_next(r, &row)) == 1) {
		int y;
		double p;
		if (li_list_label(l, row, lc, &y) || li_list_double(l, row, sc, &p)) {
			li_atomic_abort(&w.at);
			li_die_lib();
		}
		if (y != 0)
			continue;
		neg++;
		if (p >= o->threshold) {
			out_put(&w, row, NULL);
			kept++;
		}
	}
	if (rc < 0) {
		li_atomic_abort(&w.at);
		li_die_lib();
	}
	out_close(&w);
	li_list_reader_close(r);
	if (kept == 0)
		li_note("no false positives: no negative row has %s >= %g", o->score_col, o->threshold);
	else
		li_note("%zu false positive%s among %zu negative rows (%s >= %g)", kept,
			kept == 1 ? "" : "s", neg, o->score_col, o->threshold);
	return LI_EXIT_OK;
}

/* ---- top ---- */

static const double *top_scores;

static int cmp_top(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (top_scores[x] != top_scores[y])
		return top_scores[x] > top_scores[y] ? -1 : 1;
	return (x > y) - (x < y);
}

static int cmd_top(const opts *o)
{
	li_list *l = li_list_read(o->input);
	if (!l)
		li_die_lib();
	int sc = li_list_require(l, o->score_col);
	if (sc < 0)
		li_die_lib();
	double *s = li_malloc_array(l->nrows + 1, sizeof(double));
	size_t *idx = li_malloc_array(l->nrows + 1, sizeof(size_t));
	if (!s || !idx)
		li_die_lib();
	for (size_t i = 0; i < l->nrows; i++) {
		if (li_list_double(l, &l->rows[i], sc, &s[i]))
			li_die_lib();
		idx[i] = i;
	}
	top_scores = s;
	if (l->nrows > 1)
		qsort(idx, l->nrows, sizeof(size_t), cmp_top);
	size_t n = (size_t)o->n;
	if (n > l->nrows) {
		li_warn("-n %zu is more than the %zu rows of '%s': keeping all", n, l->nrows, l->name);
		n = l->nrows;
	}
	static const char *const extra_cols[] = {"label"};
	static const char *const zero[] = {"0"};
	out w;
	out_open(&w, o->out, l, 1, extra_cols);
	for (size_t i = 0; i < n; i++)
		out_put(&w, &l->rows[idx[i]], zero);
	out_close(&w);
	li_note("kept %zu of %zu rows, those with the highest %s", n, l->nrows, o->score_col);
	free(s);
	free(idx);
	li_list_free(l);
	return LI_EXIT_OK;
}

/* ---- knn ---- */

/* The pool: its lists (one per shard, same columns) and global row offsets;
 * with --min-score, which rows are candidates. */
typedef struct pool {
	int n;
	li_list *list[MAX_SHARDS];
	uint64_t first[MAX_SHARDS + 1]; /* first[i]: global index of shard i's row 0 */
	uint8_t *cand;                  /* per global row, 1 if a candidate; NULL: all are */
	uint64_t ncand;
} pool;

/* --min-score: mark the rows whose score column is at least the minimum. */
static void pool_filter(pool *p, const opts *o)
{
	p->ncand = p->first[p->n];
	if (isnan(o->min_score))
		return;
	p->cand = li_calloc(p->first[p->n] + 1, 1);
	if (!p->cand)
		li_die_lib();
	p->ncand = 0;
	for (int i = 0; i < p->n; i++) {
		const li_list *l = p->list[i];
		int sc = li_list_require(l, o->score_col);
		if (sc < 0)
			li_die("%s (--min-score reads the pool list's scores: give li-score's output as "
			       "--pool-list)", li_errmsg());
		for (size_t r = 0; r < l->nrows; r++) {
			double v;
			if (li_list_double(l, &l->rows[r], sc, &v) < 0)
				li_die_lib();
			if (v >= o->min_score) {
				p->cand[p->first[i] + r] = 1;
				p->ncand++;
			}
		}
	}
}

static void pool_read(pool *p, const opts *o)
{
	p->n = o->npool_list;
	p->first[0] = 0;
	for (int i = 0; i < p->n; i++) {
		li_list *l = p->list[i] = li_list_read(o->pool_list[i]);
		if (!l)
			li_die_lib();
		if (i > 0) {
			const li_list *a = p->list[0];
			bool same = a->ncols == l->ncols;
			for (int c = 0; same && c < l->ncols; c++)
				same = strcmp(a->cols[c], l->cols[c]) == 0;
			if (!same)
				li_die("'%s': columns differ from those of '%s'", l->name, a->name);
		}
		p->first[i + 1] = p->first[i] + l->nrows;
	}
	pool_filter(p, o);
}

static int pool_shard(const pool *p, uint64_t g)
{
	int i = 0;
	while (g >= p->first[i + 1])
		i++;
	return i;
}

static const li_row *pool_row(const pool *p, uint64_t g)
{
	int i = pool_shard(p, g);
	return &p->list[i]->rows[g - p->first[i]];
}

/* One mined (query, rank, row) pair. */
typedef struct pair {
	uint64_t row;
	float dist;
	uint32_t rank; /* 1-based */
	uint32_t query;
} pair;

static int cmp_pair_row(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	if (x->row != y->row)
		return x->row < y->row ? -1 : 1;
	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return (x->query > y->query) - (x->query < y->query);
}

/* Search every shard in chunks; returns the pairs (queries x min(k, pool)). */
static pair *search(const opts *o, const pool *p, const li_npy *q, size_t k, size_t *npairs)
{
	size_t nq = q->shape[0], d = q->shape[1];
	li_knn *s = li_knn_new(q->data, nq, d, k, o->metric, o->threads);
	if (!s)
		li_die("'%s': %s", o->query, li_errmsg());
	if (o->block)
		li_knn_set_block(s, (size_t)o->block);
	size_t chunk = CHUNK_BYTES / (d * sizeof(float));
	if (chunk == 0)
		chunk = 1;
	float *buf = li_malloc_array(chunk, d * sizeof(float));
	/* with --min-score, rows are added compacted and numbered among the
	 * candidates; map turns those numbers back into pool rows (in order, so
	 * ties still go to the lower pool row) */
	uint64_t *map = p->cand ? li_malloc_array(p->ncand + 1, sizeof(uint64_t)) : NULL;
	uint64_t ncand = 0;
	if (!buf || (p->cand && !map))
		li_die_lib();
	li_progress prog;
	li_progress_start(&prog, "knn", p->first[p->n]);
	for (int i = 0; i < p->n; i++) {
		li_npy_reader *r = li_npy_open(o->pool[i]);
		if (!r)
			li_die_lib();
		size_t rows = li_npy_reader_rows(r);
		for (size_t a = 0; a < rows; a += chunk) {
			size_t n = rows - a < chunk ? rows - a : chunk;
			if (li_npy_read_rows(r, a, n, buf))
				li_die_lib();
			uint64_t g0 = p->first[i] + a, at = g0;
			size_t m = n;
			if (p->cand) {
				m = 0;
				at = ncand;
				for (size_t j = 0; j < n; j++)
					if (p->cand[g0 + j]) {
						memmove(buf + m * d, buf + j * d, d * sizeof(float));
						map[ncand++] = g0 + j;
						m++;
					}
			}
			if (m && li_knn_add(s, buf, m, at))
				li_die("'%s': %s", o->pool[i], li_errmsg());
			li_progress_update(&prog, p->first[i] + a + n, NULL);
		}
		li_npy_close(r);
	}
	li_progress_end(&prog);
	free(buf);
	pair *v = li_malloc_array(nq * k, sizeof(pair));
	uint64_t *idx = li_malloc_array(k, sizeof(uint64_t));
	float *dist = li_malloc_array(k, sizeof(float));
	if (!v || !idx || !dist)
		li_die_lib();
	size_t m = 0;
	for (size_t i = 0; i < nq; i++) {
		size_t n = li_knn_result(s, i, idx, dist);
		for (size_t j = 0; j < n; j++)
			v[m++] = (pair){map ? map[idx[j]] : idx[j], dist[j], (uint32_t)(j + 1), (uint32_t)i};
	}
	free(map);
	free(idx);
	free(dist);
	li_knn_free(s);
	*npairs = m;
	return v;
}

static void write_pairs(const char *path, const pool *p, const pair *v, size_t n)
{
	static const char *const cols[] = {"path", "query", "rank", "pool_row", "distance"};
	li_list *hdr = li_list_new(path, 5, cols);
	if (!hdr)
		li_die_lib();
	out w;
	out_open(&w, path, hdr, 0, NULL);
	for (size_t i = 0; i < n; i++) {
		char q[24], r[24], row[24], d[32];
		snprintf(q, sizeof q, "%u", (unsigned)v[i].query);
		snprintf(r, sizeof r, "%u", (unsigned)v[i].rank);
		snprintf(row, sizeof row, "%llu", (unsigned long long)v[i].row);
		snprintf(d, sizeof d, "%.9g", v[i].dist);
		const char *f[] = {pool_row(p, v[i].row)->field[0], q, r, row, d};
		li_row lr = {(char **)f, 0};
		out_put(&w, &lr, NULL);
	}
	out_close(&w);
	li_list_free(hdr);
}

/* Paste img scaled to fit t x t, centred, at (x, y) of the canvas. */
static void paste(li_image *canvas, const li_image *img, int x, int y, int t)
{
	int w = img->width, h = img->height;
	int tw = w >= h ? t : (int)((long)t * w / h), th = h >= w ? t : (int)((long)t * h / w);
	if (tw < 1)
		tw = 1;
	if (th < 1)
		th = 1;
	li_image *rgb = li_image_convert(img, 3);
	li_image *s = rgb ? li_image_resize(rgb, tw, th) : NULL;
	li_image_free(rgb);
	if (!s)
		li_die_lib();
	x += (t - tw) / 2, y += (t - th) / 2;
	for (int r = 0; r < th; r++)
		memcpy(canvas->data + ((size_t)(y + r) * canvas->width + x) * 3,
		       s->data + (size_t)r * tw * 3, (size_t)tw * 3);
	li_image_free(s);
}

/* The pixels of row r of list l (an image file or a slide region); dies
 * with the reader's message. */
static li_image *row_image(li_source_reader *rd, const li_list *l, const li_row *r)
{
	li_source_cols sc;
	li_source src;
	li_image *img = NULL;
	if (li_source_cols_find(l, &sc) < 0 || li_source_from_row(l, &sc, r, &src) < 0 ||
	    !(img = li_source_read(rd, &src, 3)))
		li_die_lib();
	return img;
}

/* One row per query (the first MONTAGE_ROWS): the query, a wider gap, then
 * its neighbours in rank order. v is in (query, rank) order. */
static void montage(const opts *o, const pool *p, const pair *v, size_t n, size_t nq, size_t k)
{
	li_list *ql = li_list_read(o->query_list);
	if (!ql)
		li_die_lib();
	if (ql->nrows != nq)
		li_die("'%s' has %zu data rows, but '%s' has %zu rows", ql->name, ql->nrows, o->query, nq);
	size_t rows = nq < MONTAGE_ROWS ? nq : MONTAGE_ROWS;
	if (rows < nq)
		li_note("montage: the first %zu of %zu queries", rows, nq);
	int t = (int)o->thumb, cell = t + GAP;
	int width = GAP + cell * (int)(k + 1) + 3 * GAP, height = GAP + cell * (int)rows;
	li_image *c = li_image_new(width, height, 3);
	if (!c)
		li_die_lib();
	memset(c->data, 255, (size_t)width * height * 3);
	li_source_reader *rd = li_source_reader_new(0);
	if (!rd)
		li_die_lib();
	size_t j = 0;
	for (size_t i = 0; i < rows; i++) {
		int y = GAP + (int)i * cell;
		li_image *img = row_image(rd, ql, &ql->rows[i]);
		paste(c, img, GAP, y, t);
		li_image_free(img);
		for (; j < n && v[j].query == i; j++) {
			img = row_image(rd, p->list[pool_shard(p, v[j].row)], pool_row(p, v[j].row));
			paste(c, img, GAP + (int)v[j].rank * cell + 3 * GAP, y, t);
			li_image_free(img);
		}
	}
	li_source_reader_free(rd);
	if (li_image_write(c, o->montage, NULL))
		li_die_lib();
	li_image_free(c);
	li_list_free(ql);
}

/* Rows drawn at random without replacement, in pool order (selection sampling). */
static void draw_random(const opts *o, const pool *p, uint64_t want)
{
	uint64_t total = p->first[p->n];
	static const char *const extra_cols[] = {"label"};
	static const char *const zero[] = {"0"};
	out w;
	out_open(&w, o->out, p->list[0], 1, extra_cols);
	li_rng r = li_rng_derive(o->seed, 0);
	uint64_t kept = 0, left = p->ncand;
	for (uint64_t g = 0; g < total && kept < want; g++) {
		if (p->cand && !p->cand[g])
			continue;
		if (li_rng_below(&r, left--) < want - kept) {
			out_put(&w, pool_row(p, g), zero);
			kept++;
		}
	}
	out_close(&w);
	if (p->cand)
		li_note("drew %llu of the %llu pool rows with %s >= %g at random (seed %llu)",
			(unsigned long long)kept, (unsigned long long)p->ncand, o->score_col, o->min_score,
			(unsigned long long)o->seed);
	else
		li_note("drew %llu of %llu pool rows at random (seed %llu)", (unsigned long long)kept,
			(unsigned long long)total, (unsigned long long)o->seed);
}

/* The query count: from the whole array (knn) or its header (random). */
static li_npy *read_queries(const char *path, bool header_only, size_t *nq, size_t *d)
{
	if (header_only) {
		li_npy_reader *r = li_npy_open(path);
		if (!r)
			li_die_lib();
		if (li_npy_reader_ndim(r) != 2 || li_npy_reader_dtype(r) != LI_NPY_F32)
			li_die("'%s': expected a 2-d float32 array", path);
		*nq = li_npy_reader_rows(r), *d = li_npy_reader_row_size(r);
		li_npy_close(r);
		return NULL;
	}
	li_npy *q = li_npy_read(path);
	if (!q || li_npy_expect(q, LI_NPY_F32, 2))
		li_die_lib();
	*nq = q->shape[0], *d = q->shape[1];
	return q;
}

/* -n: keep the pairs of v (nq queries x k, in query then rank order) that
 * take the first k distinct rows in the order rank 1 of every query, rank 2
 * of every query, ... A row already taken is skipped. The kept pairs stay in
 * query then rank order; *ranks is the deepest rank used (for the montage).
 * Returns how many pairs are kept. */
static size_t fill(pair *v, size_t n, size_t nq, size_t k, uint64_t rows, size_t *ranks)
{
	uint8_t *taken = li_calloc(rows + 1, 1), *keep = li_calloc(n + 1, 1);
	if (!taken || !keep)
		li_die_lib();
	size_t got = 0, deepest = 0;
	for (size_t r = 0; r < k && got < k; r++)
		for (size_t q = 0; q < nq && got < k; q++) {
			size_t i = q * k + r;
			LI_ASSERT(i < n && v[i].rank == r + 1 && v[i].query == q);
			if (!taken[v[i].row]) {
				taken[v[i].row] = keep[i] = 1;
				got++;
				deepest = r + 1;
			}
		}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (keep[i])
			v[m++] = v[i];
	free(taken);
	free(keep);
	*ranks = deepest;
	return m;
}

static int cmd_knn(const opts *o)
{
	pool p;
	pool_read(&p, o);
	uint64_t total = p.first[p.n];
	size_t nq = 0, d = 0;
	li_npy *q = o->query ? read_queries(o->query, o->random, &nq, &d) : NULL;
	/* the features must match their lists and the queries */
	for (int i = 0; i < o->npool; i++) {
		li_npy_reader *r = li_npy_open(o->pool[i]);
		if (!r)
			li_die_lib();
		if (li_npy_reader_ndim(r) != 2 || li_npy_reader_dtype(r) != LI_NPY_F32)
			li_die("'%s': expected a 2-d float32 array", o->pool[i]);
		size_t rows = li_npy_reader_rows(r), cols = li_npy_reader_row_size(r);
		li_npy_close(r);
		if (rows != p.list[i]->nrows)
			li_die("'%s' has %zu rows, but '%s' has %zu data rows", o->pool[i], rows,
			       p.list[i]->name, p.list[i]->nrows);
		if (o->query && cols != d)
			li_die("'%s' has %zu columns, but the queries '%s' have %zu", o->pool[i], cols,
			       o->query, d);
	}
	if (total == 0)
		li_die("the pool is empty: no data rows in %s'%s'", p.n > 1 ? "any of " : "",
		       p.list[0]->name);
	if (p.cand && p.ncand < total)
		li_note("%llu of %llu pool rows have %s >= %g", (unsigned long long)p.ncand,
			(unsigned long long)total, o->score_col, o->min_score);
	char what[128];
	if (p.cand)
		snprintf(what, sizeof what, " with %.40s >= %g", o->score_col, o->min_score);
	else
		what[0] = 0;
	total = p.ncand;

	if (o->random) {
		uint64_t want = o->n >= 0 ? (uint64_t)o->n : (uint64_t)nq * (uint64_t)o->k;
		if (want > total) {
			li_warn("%llu rows asked for, the pool has %llu%s%s: drawing all",
				(unsigned long long)want, (unsigned long long)total, *what ? " rows" : "", what);
			want = total;
		}
		draw_random(o, &p, want);
	} else {
		static const char *const extra_cols[] = {"label", "distance", "rank", "query"};
		/* -n N: every query's k nearest with k = N (the union then holds at
		 * least N rows), taken by rank, round-robin over the queries */
		size_t k = o->n > 0 ? (size_t)o->n : (size_t)o->k;
		if (k > total && nq > 0) {
			li_warn("%s %zu is larger than the pool (%llu rows%s): using %llu", o->n > 0 ? "-n" : "-k",
				k, (unsigned long long)total, what, (unsigned long long)total);
			k = (size_t)total;
		}
		if (nq > 0 && total == 0)
			li_die("no pool row has %s >= %g: nothing to mine", o->score_col, o->min_score);
		if (nq == 0) {
			out w;
			out_open(&w, o->out, p.list[0], 4, extra_cols);
			out_close(&w);
			li_warn("no queries in '%s': nothing mined", o->query);
		} else {
			size_t n;
			pair *v = search(o, &p, q, k, &n);
			if (o->n > 0)
				n = fill(v, n, nq, k, p.first[p.n], &k);
			if (o->pairs)
				write_pairs(o->pairs, &p, v, n);
			if (o->montage)
				montage(o, &p, v, n, nq, k);
			/* the union: per pool row, its best (distance, rank, query) */
			qsort(v, n, sizeof(pair), cmp_pair_row);
			out w;
			out_open(&w, o->out, p.list[0], 4, extra_cols);
			size_t u = 0;
			for (size_t i = 0; i < n; i++) {
				if (i > 0 && v[i].row == v[i - 1].row)
					continue;
				char dist[32], rank[24], qi[24];
				snprintf(dist, sizeof dist, "%.9g", v[i].dist);
				snprintf(rank, sizeof rank, "%u", (unsigned)v[i].rank);
				snprintf(qi, sizeof qi, "%u", (unsigned)v[i].query);
				const char *extra[] = {"0", dist, rank, qi};
				out_put(&w, pool_row(&p, v[i].row), extra);
				u++;
			}
			out_close(&w);
			if (o->n > 0)
				li_note("mined %zu pool rows: the nearest %zu of %zu queries by rank (%s)", u,
					k, nq, li_knn_metric_name(o->metric));
			else
				li_note("mined %zu pool rows: %zu queries x %zu neighbours (%s), %zu duplicates",
					u, nq, k, li_knn_metric_name(o->metric), n - u);
			free(v);
		}
	}
	li_npy_free(q);
	for (int i = 0; i < p.n; i++)
		li_list_free(p.list[i]);
	return LI_EXIT_OK;
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = parse_args(argc, argv);
	switch (o.cmd) {
	case CMD_FP: return cmd_fp(&o);
	case CMD_TOP: return cmd_top(&o);
	case CMD_KNN: return cmd_knn(&o);
	}
	return LI_EXIT_FAILURE;
}
