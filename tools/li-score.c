/* li-score: score a list of patches with a model: the list comes back with
 * prob (P(class 1)) and pred appended, optionally with the pooled features
 * as .npy. Streaming: a batch is read, scored and printed before the next
 * one is needed, so memory is bounded and a pipe gets answers as it goes.
 * See li-score(1). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "li_atomic.h"
#include "li_cli.h"
#include "li_error.h"
#include "li_list.h"
#include "li_loader.h"
#include "li_net.h"
#include "li_npy.h"

typedef struct opts {
	const char *model, *input, *output, *features;
	double threshold;
	int batch, threads, loader_threads;
	bool tta, skip_bad, bf16;
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-score -m MODEL [OPTION]... [LIST|-]\n"
	       "Print LIST with the model's P(class 1) (prob) and prediction (pred) appended.\n"
	       "\n"
	       "  -m, --model FILE       the model (.safetensors, from li-train)\n"
	       "  -o, --output FILE      write the list to FILE (atomically) instead of stdout\n"
	       "  -f, --features FILE    write pooled penultimate features (.npy, row i =\n"
	       "                         data row i)\n"
	       "  -t, --threshold T      pred is 1 when prob >= T (default 0.5)\n"
	       "      --tta              average over the 8 flips and 90-degree rotations\n"
	       "  -b, --batch N          images per batch (default 32)\n"
	       "  -j, --threads N        threads (default: LI_THREADS or all CPUs)\n"
	       "      --loader-threads N decoding threads (default 1)\n"
	       "      --precision P      fp32 (default) or bf16: convolutions in bf16, where\n"
	       "                         the CPU has AVX512_BF16 or AMX\n"
	       "      --skip-bad         leave out images that cannot be read (each one\n"
	       "                         reported on stderr)\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "Without LIST, or with -, the list is read from standard input; a list without\n"
	       "a header is a bare list of paths. See li-score(1).\n");
	exit(LI_EXIT_OK);
}

static opts parse_args(int argc, char **argv)
{
	opts o = {.input = "-", .output = "-", .threshold = 0.5, .batch = 32, .loader_threads = 1};
	enum { O_TTA = 256, O_SKIP, O_LT, O_PREC };
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'},
		{"features", required_argument, NULL, 'f'},
		{"threshold", required_argument, NULL, 't'},
		{"tta", no_argument, NULL, O_TTA},
		{"batch", required_argument, NULL, 'b'},
		{"threads", required_argument, NULL, 'j'},
		{"loader-threads", required_argument, NULL, O_LT},
		{"skip-bad", no_argument, NULL, O_SKIP},
		{"precision", required_argument, NULL, O_PREC},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:o:f:t:b:j:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 'o': o.output = optarg; break;
		case 'f': o.features = optarg; break;
		case 't': o.threshold = li_opt_double("--threshold", optarg, -1e300, 1e300); break;
		case O_TTA: o.tta = true; break;
		case 'b': o.batch = (int)li_opt_long("--batch", optarg, 1, 4096); break;
		case 'j': o.threads = (int)li_opt_long("--threads", optarg, 1, 1024); break;
		case O_LT: o.loader_threads = (int)li_opt_long("--loader-threads", optarg, 1, 256); break;
		case O_SKIP: o.skip_bad = true; break;
		case O_PREC:
			if (strcmp(optarg, "bf16") != 0 && strcmp(optarg, "fp32") != 0)
				li_usage_error("--precision must be fp32 or bf16, not '%s'", optarg);
			o.bf16 = strcmp(optarg, "bf16") == 0;
			break;
		case 'h': usage();
		case 'V': li_cli_version_and(li_net_describe_cpu);
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	o.input = li_cli_list_operand(argc, argv, o.input);
	if (!o.model)
		li_usage_error("a model is required (-m MODEL)");
	if (o.features && strcmp(o.features, "-") == 0)
		li_usage_error("--features cannot be stdout");
	if (o.features && strcmp(o.features, o.output) == 0)
		li_usage_error("'%s' is given for two outputs", o.output);
	if (!o.threads)
		o.threads = li_cli_default_threads();
	return o;
}

/* ---- the model and its metadata ---- */

typedef struct model {
	li_net *net;
	li_model_meta meta; /* input size and normalisation */
	int size, channels, classes, fdim;
} model;

static model load_model(const char *path)
{
	model m = {0};
	if (!(m.net = li_net_load(path, NULL, 0, NULL, &m.meta)))
		li_die_lib();
	const li_net_config *cfg = li_net_get_config(m.net);
	m.channels = cfg->in_channels;
	m.classes = cfg->classes;
	m.fdim = li_net_feature_dim(m.net);
	m.size = m.meta.input_size;
	return m;
}

/* ---- rows of one batch, copied out of the streaming reader ---- */

typedef struct chunk {
	int n;
	li_row *rows;
	li_source *src; /* borrowing the rows' fields */
	size_t *ids;
} chunk;

static void chunk_clear(chunk *c, int ncols)
{
	for (int i = 0; i < c->n; i++) {
		for (int k = 0; k < ncols; k++)
			free(c->rows[i].field[k]);
		free(c->rows[i].field);
	}
	c->n = 0;
}

/* Read up to max rows; returns the count, or -1 on a list error (a bad
 * region row included). */
static int chunk_read(chunk *c, li_list_reader *rd, const li_source_cols *sc, int max,
		      size_t *next_id)
{
	const li_list *l = li_list_reader_list(rd);
	const int ncols = l->ncols;
	const li_row *r;
	int rc = 0;
	while (c->n < max && (rc = li_list_reader_next(rd, &r)) == 1) {
		li_row *d = &c->rows[c->n];
		d->line = r->line;
		d->field = li_calloc(ncols, sizeof(char *));
		if (!d->field)
			li_die_lib();
		for (int k = 0; k < ncols; k++)
			if (!(d->field[k] = li_strdup(r->field[k])))
				li_die_lib();
		c->ids[c->n] = (*next_id)++;
		c->n++;
		if (li_source_from_row(l, sc, d, &c->src[c->n - 1]) < 0)
			return -1;
	}
	if (c->n < max && rc < 0)
		return -1;
	return c->n;
}

/* ---- dihedral transforms of an NCHW float batch (for --tta) ---- */

static void dihedral(const float *src, float *dst, int n, int c, int s, int d)
{
	size_t plane = (size_t)s * s;
	for (size_t p = 0; p < (size_t)n * c; p++) {
		const float *in = src + p * plane;
		float *out = dst + p * plane;
		for (int y = 0; y < s; y++)
			for (int x = 0; x < s; x++) {
				/* rotate by d % 4 quarter turns counter-clockwise, then
				 * flip horizontally when d >= 4 (as li_aug_dihedral) */
				int xx = d >= 4 ? s - 1 - x : x, sx, sy;
				switch (d % 4) {
				case 0: sx = xx; sy = y; break;
				case 1: sx = s - 1 - y; sy = xx; break;
				case 2: sx = s - 1 - xx; sy = s - 1 - y; break;
				default: sx = y; sy = s - 1 - xx; break;
				}
				out[(size_t)y * s + x] = in[(size_t)sy * s + sx];
			}
	}
}

/* ---- outputs, removed again on failure ---- */

static li_atomic out_at;
static bool out_open;
static li_npy_writer *feat_w;
static const li_progress *live_bar; /* cleared before a message */

_Noreturn static void fail(const char *msg)
{
	if (live_bar && live_bar->enabled)
		fputs("\r\033[K", stderr);
	if (out_open)
		li_atomic_abort(&out_at);
	li_npy_writer_abort(feat_w);
	li_die("%s", msg);
}

_Noreturn static void fail_lib(void)
{
	char msg[LI_ERRMSG_MAX];
	snprintf(msg, sizeof msg, "%s", li_errmsg());
	fail(msg);
}

/* ---- the story: set up, open the outputs, score batch by batch, close ---- */

#define NCHUNKS (LI_LOADER_DEPTH + 1)

typedef struct scorer {
	model m;
	li_list_reader *rd;
	const li_list *base; /* the input's columns */
	int ncols;
	li_source_cols sc;   /* where the rows' pixels come from */
	li_loader *L;
	size_t sample;       /* floats per image */
	float *logits, *feat, *acc_f, *tx;
	double *acc_p;
	chunk ch[NCHUNKS];   /* rows in flight: one being scored, the next decoding */
	FILE *out;
	const char *out_name;
	li_list_writer *w;
	size_t next_id, nrows, nskipped;
	bool said_resize;
	li_progress bar;     /* on a terminal only */
} scorer;

/* The model, the list reader, the loader and the buffers of one batch. */
static void setup(scorer *S, const opts *o)
{
	*S = (scorer){.m = load_model(o->model), .out = stdout, .out_name = "stdout"};
	model *m = &S->m;
	li_net_set_threads(m->net, o->threads);
	li_net_set_training(m->net, false);
	if (o->bf16 && li_net_set_bf16(m->net, true) < 0)
		li_die_lib();
	if (li_net_prepare(m->net, o->batch, m->size, m->size) < 0)
		li_die_lib();
	if (!(S->rd = li_list_reader_open(o->input)))
		li_die_lib();
	S->base = li_list_reader_list(S->rd);
	S->ncols = S->base->ncols;
	if (li_source_cols_find(S->base, &S->sc) < 0)
		li_die_lib();
	li_loader_config lc = {.size = m->size, .channels = m->channels, .max_batch = o->batch,
			       .threads = o->loader_threads, .augment = LI_AUG_NONE};
	memcpy(lc.mean, m->meta.mean, sizeof lc.mean);
	memcpy(lc.std, m->meta.std, sizeof lc.std);
	S->L = li_loader_new(&lc);
	S->sample = (size_t)m->channels * m->size * m->size;
	S->logits = li_malloc_array((size_t)o->batch * m->classes, sizeof(float));
	S->feat = li_malloc_array((size_t)o->batch * m->fdim, sizeof(float));
	S->acc_p = li_malloc_array((size_t)o->batch, sizeof(double));
	S->acc_f = li_malloc_array((size_t)o->batch * m->fdim, sizeof(float));
	S->tx = o->tta ? li_malloc_aligned(sizeof(float) * S->sample * o->batch) : NULL;
	for (int k = 0; k < NCHUNKS; k++) {
		chunk *c = &S->ch[k];
		c->rows = li_calloc(o->batch, sizeof(li_row));
		c->src = li_calloc(o->batch, sizeof(li_source));
		c->ids = li_calloc(o->batch, sizeof(size_t));
		if (!c->rows || !c->src || !c->ids)
			li_die_lib();
	}
	if (!S->L || !S->logits || !S->feat || !S->acc_p || !S->acc_f || (o->tta && !S->tx))
		li_die_lib();
}

/* The list (-o) and --features, as temporaries until the end; temporaries
 * that killed runs (kill -9) left for them are removed. */
static void open_outputs(scorer *S, const opts *o)
{
	if (strcmp(o->output, "-") != 0) {
		if (!(S->out = li_atomic_open(&out_at, o->output)))
			li_die_lib();
		out_open = true;
		S->out_name = o->output;
		if (li_atomic_remove_stale(o->output) < 0)
			fail_lib();
	}
	if (o->features && (li_atomic_remove_stale(o->features) < 0 ||
			    !(feat_w = li_npy_writer_open(o->features, LI_NPY_F32, LI_NPY_UNKNOWN, S->m.fdim))))
		fail_lib();
}

/* The data rows of the list file at path (lines that are not empty, less
 * the header), or 0 when it is not a regular file (stdin, a pipe) or cannot
 * be read: the total of the progress bar, counted only when there is one. */
static uint64_t count_rows(const char *path, bool header)
{
	struct stat st;
	if (strcmp(path, "-") == 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	static char buf[1 << 16];
	uint64_t n = 0;
	size_t got;
	char prev = '\n';
	while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
		for (size_t i = 0; i < got; i++) {
			n += buf[i] == '\n' && prev != '\n';
			prev = buf[i];
		}
	}
	n += prev != '\n'; /* a last line without its newline */
	fclose(fp);
	return n > (uint64_t)header ? n - header : 0;
}

/* Progress: rows done (scored or skipped), their rate, and with a known
 * total the share and ETA (li_progress draws only on a terminal). */
static void progress(scorer *S)
{
	uint64_t done = S->nrows + S->nskipped;
	double el = li_now() - S->bar.start;
	char rate[48];
	snprintf(rate, sizeof rate, "%.1f rows/s", el > 0 ? (double)done / el : 0.0);
	li_progress_update(&S->bar, done, rate);
}

/* A message while the bar is drawn: clear its line first. */
static void bar_clear(const scorer *S)
{
	if (S->bar.enabled)
		fputs("\r\033[K", stderr);
}

/* Read the next rows into c and queue them for decoding. */
static void read_and_submit(scorer *S, const opts *o, chunk *c)
{
	chunk_clear(c, S->ncols);
	if (chunk_read(c, S->rd, &S->sc, o->batch, &S->next_id) < 0)
		fail_lib();
	if (c->n > 0 && li_loader_submit(S->L, c->n, c->src, c->ids, NULL, false, c) < 0)
		fail_lib();
}

/* Move the decoded images to the front (all of them unless some failed);
 * returns their count. */
static int pack_good(scorer *S, const opts *o, li_batch *b, const chunk *c)
{
	int good = 0;
	for (int i = 0; i < b->n; i++) {
		if (!b->ok[i]) {
			if (!o->skip_bad)
				fail(b->err[i]);
			bar_clear(S);
			if (c->src[i].slide) /* the message names the row */
				li_warn("skipping %s", b->err[i]);
			else
				li_warn("skipping line %ld: %s", c->rows[i].line, b->err[i]);
			S->nskipped++;
			continue;
		}
		if (good != i)
			memcpy(b->x + (size_t)good * S->sample, b->x + (size_t)i * S->sample,
			       sizeof(float) * S->sample);
		good++;
	}
	return good;
}

/* P(class 1) of the first `good` images into acc_p, their features into
 * acc_f: one view, or the mean of the 8 dihedral views with --tta. */
static void score_images(scorer *S, const opts *o, const float *x, int good)
{
	const model *m = &S->m;
	int views = o->tta ? 8 : 1;
	for (int i = 0; i < good; i++)
		S->acc_p[i] = 0;
	memset(S->acc_f, 0, sizeof(float) * good * m->fdim);
	for (int d = 0; d < views; d++) {
		const float *xin = x;
		if (d > 0) {
			dihedral(x, S->tx, good, m->channels, m->size, d);
			xin = S->tx;
		}
		if (li_net_forward(m->net, xin, good, S->logits, feat_w ? S->feat : NULL) < 0)
			fail_lib();
		for (int i = 0; i < good; i++) {
			const float *z = S->logits + (size_t)i * m->classes;
			double mx = z[0], sum = 0;
			for (int k = 1; k < m->classes; k++)
				mx = z[k] > mx ? z[k] : mx;
			for (int k = 0; k < m->classes; k++)
				sum += exp(z[k] - mx);
			S->acc_p[i] += (exp(z[1] - mx) / sum);
		}
		if (feat_w)
			for (size_t k = 0; k < (size_t)good * m->fdim; k++)
				S->acc_f[k] += S->feat[k];
	}
	for (int i = 0; i < good; i++)
		S->acc_p[i] /= views;
	for (size_t k = 0; feat_w && k < (size_t)good * m->fdim; k++)
		S->acc_f[k] /= views;
}

/* The scored rows (and features) of one batch, flushed so a pipe sees them. */
static void write_rows(scorer *S, const opts *o, const li_batch *b, const chunk *c, int good)
{
	static const char *const extra_names[2] = {"prob", "pred"};
	if (feat_w && li_npy_writer_put(feat_w, S->acc_f, good) < 0)
		fail_lib();
	if (!S->w && !(S->w = li_list_writer_new(S->out, S->out_name, S->base, 2, extra_names)))
		fail_lib();
	int g = 0;
	for (int i = 0; i < b->n; i++) {
		if (!b->ok[i])
			continue;
		double p = S->acc_p[g++];
		char ps[32], pd[4];
		snprintf(ps, sizeof ps, "%.6g", p);
		snprintf(pd, sizeof pd, "%d", p >= o->threshold);
		const char *ex[2] = {ps, pd};
		if (li_list_writer_put(S->w, &c->rows[i], ex) < 0)
			fail_lib();
		S->nrows++;
	}
	if (fflush(S->out) != 0) {
		int err = errno;
		if (!out_open) { /* stdout: said as every program says it, once */
			li_npy_writer_abort(feat_w);
			li_cli_close_stdout();
		}
		char msg[LI_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "cannot write '%s': %s", S->out_name, strerror(err));
		fail(msg);
	}
}

/* Every batch: the next one is read and queued so it decodes while this one
 * runs. */
static void run(scorer *S, const opts *o)
{
	int cur = 0;
	li_progress_start(&S->bar, "score", 0);
	live_bar = &S->bar;
	if (S->bar.enabled)
		S->bar.total = count_rows(o->input, S->base->header);
	read_and_submit(S, o, &S->ch[0]);
	while (S->ch[cur].n > 0) {
		int nx = (cur + 1) % NCHUNKS;
		read_and_submit(S, o, &S->ch[nx]);
		li_batch *b = li_loader_wait(S->L);
		if (!b)
			fail_lib();
		const chunk *c = b->user;
		if (!S->said_resize && li_loader_resized(S->L) > 0) {
			bar_clear(S);
			li_warn("images are not %dx%d: resizing them to the model's input size", S->m.size,
				S->m.size);
			S->said_resize = true;
		}
		int good = pack_good(S, o, b, c);
		if (good > 0) {
			score_images(S, o, b->x, good);
			write_rows(S, o, b, c, good);
		}
		progress(S);
		cur = nx;
	}
	li_progress_end(&S->bar);
}

/* Refuse an empty result, then put the outputs in place. */
static void close_outputs(scorer *S)
{
	if (S->next_id == 0) {
		char msg[LI_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "'%s': the list has no rows", S->base->name);
		fail(msg);
	}
	if (S->nrows == 0)
		fail("no image could be read");
	if (!S->w)
		fail_lib();
	li_list_writer_free(S->w);
	S->w = NULL;
	if (out_open && li_atomic_commit(&out_at) < 0) {
		out_open = false;
		fail_lib();
	}
	out_open = false;
	if (feat_w) {
		li_npy_writer *fw = feat_w;
		feat_w = NULL;
		if (li_npy_writer_close(fw) < 0)
			li_die_lib();
	}
	if (S->nskipped)
		li_warn("skipped %zu of %zu images", S->nskipped, S->next_id);
}

static void scorer_free(scorer *S)
{
	for (int k = 0; k < NCHUNKS; k++) {
		chunk_clear(&S->ch[k], S->ncols);
		free(S->ch[k].rows);
		free(S->ch[k].src);
		free(S->ch[k].ids);
	}
	li_loader_free(S->L);
	li_list_reader_close(S->rd);
	li_net_free(S->m.net);
	li_model_meta_free(&S->m.meta);
	free(S->logits);
	free(S->feat);
	free(S->acc_p);
	free(S->acc_f);
	li_free_aligned(S->tx);
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = parse_args(argc, argv);
	scorer S;
	setup(&S, &o);
	open_outputs(&S, &o);
	run(&S, &o);
	close_outputs(&S);
	scorer_free(&S);
	return LI_EXIT_OK;
}
