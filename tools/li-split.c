/* li-split: build lists from the author's data layout (or read one) and split
 * them into train/valid/test grouped by slide or patient, seeded and
 * stratified by whether a group has positives; ablation subsets of the
 * training split. See li-split(1) for the exact algorithm. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_atomic.h"
#include "li_cli.h"
#include "li_error.h"
#include "li_list.h"
#include "li_rng.h"

#define HARD_DIR "hard_labeled_dataset"
#define WEAK_DIR "weakly_labeled_dataset"

typedef struct opts {
	const char *list, *from_dir, *out_dir, *test_list;
	uint64_t seed, subset_seed;
	bool subset_seed_set;
	int group_patient;
	double test_frac, valid_frac;
	double subset, pos_only; /* 0: off */
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-split [OPTION]... -o DIR LIST.tsv\n"
	       "  or:  li-split [OPTION]... -o DIR [--from-dir] DATA\n"
	       "Split a list into train.tsv, valid.tsv and test.tsv in DIR, grouped by slide\n"
	       "(no slide in two splits), seeded, with positives in every split when possible.\n"
	       "\n"
	       "  -d, --from-dir DATA    build the list from DATA/" HARD_DIR "/\n"
	       "                         {pos,neg}_<patient>_<slide>_*.{png,jpg,jpeg}, and\n"
	       "                         pool.tsv from DATA/" WEAK_DIR "/\n"
	       "                         <patient>_<x>_<slide>_*.{png,jpg,jpeg} (label 0)\n"
	       "  -o, --out DIR          output directory (created if missing)\n"
	       "  -g, --group slide|patient  unit kept whole in one split (default slide)\n"
	       "  -s, --seed S           split seed (default 42; the author's folds: 42, 43, 44)\n"
	       "      --test-frac F      share of rows for test (default 0.2)\n"
	       "      --valid-frac F     share of the remaining rows for valid (default 0.2)\n"
	       "  -t, --test-list FILE   use FILE as the test set; split only train and valid\n"
	       "      --subset RATE      keep RATE of the training split, per class\n"
	       "      --pos-only RATE    keep RATE of the training positives, all negatives\n"
	       "      --subset-seed S    seed of the subset draw (default: --seed)\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "A summary of each split is printed on stderr. See li-split(1).\n");
	exit(LI_EXIT_OK);
}

static opts parse_args(int argc, char **argv)
{
	opts o = {.seed = 42, .test_frac = 0.2, .valid_frac = 0.2};
	enum { O_TEST_FRAC = 256, O_VALID_FRAC, O_SUBSET, O_POS_ONLY, O_SUBSET_SEED };
	static const struct option longopts[] = {
		{"from-dir", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"group", required_argument, NULL, 'g'},
		{"seed", required_argument, NULL, 's'},
		{"test-frac", required_argument, NULL, O_TEST_FRAC},
		{"valid-frac", required_argument, NULL, O_VALID_FRAC},
		{"test-list", required_argument, NULL, 't'},
		{"subset", required_argument, NULL, O_SUBSET},
		{"pos-only", required_argument, NULL, O_POS_ONLY},
		{"subset-seed", required_argument, NULL, O_SUBSET_SEED},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	static const char *const groups[] = {"slide", "patient", NULL};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:o:g:s:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.from_dir = optarg; break;
		case 'o': o.out_dir = optarg; break;
		case 'g': o.group_patient = li_opt_choice("--group", optarg, groups); break;
		case 's': o.seed = li_opt_u64("--seed", optarg); break;
		case O_TEST_FRAC: o.test_frac = li_opt_double("--test-frac", optarg, 0, 0.9); break;
		case O_VALID_FRAC: o.valid_frac = li_opt_double("--valid-frac", optarg, 0, 0.9); break;
		case 't': o.test_list = optarg; break;
		case O_SUBSET: o.subset = li_opt_double("--subset", optarg, 1e-9, 1); break;
		case O_POS_ONLY: o.pos_only = li_opt_double("--pos-only", optarg, 1e-9, 1); break;
		case O_SUBSET_SEED:
			o.subset_seed = li_opt_u64("--subset-seed", optarg);
			o.subset_seed_set = true;
			break;
		case 'h': usage();
		case 'V': li_cli_version();
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	const char *arg = li_cli_list_operand(argc, argv, NULL);
	if (arg) {
		/* a directory operand is the data directory (li-split data/ -o lists/) */
		struct stat st;
		if (!o.from_dir && stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
			o.from_dir = arg;
		else
			o.list = arg;
	}
	if (!o.list == !o.from_dir)
		li_usage_error("give either a LIST or --from-dir DATA");
	if (!o.out_dir)
		li_usage_error("no output directory (-o DIR)");
	if (o.subset && o.pos_only)
		li_usage_error("--subset and --pos-only exclude each other");
	if (o.subset_seed_set && !o.subset && !o.pos_only)
		li_usage_error("--subset-seed is only used with --subset or --pos-only");
	if (!o.subset_seed_set)
		o.subset_seed = o.seed;
	if (o.test_list && o.from_dir == NULL && strcmp(o.list, "-") == 0 &&
	    strcmp(o.test_list, "-") == 0)
		li_usage_error("the list and --test-list cannot both be stdin");
	return o;
}

/* ---- lists from the author's data layout ---- */

static bool image_ext(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
		       strcasecmp(dot, ".jpeg") == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image files of dir, sorted bytewise. Hidden files are skipped; other
 * files are counted in *ignored (the first one's name in first_ignored). */
static char **scan_dir(const char *dir, size_t *n, size_t *ignored, char **first_ignored)
{
	DIR *d = opendir(dir);
	if (!d)
		li_die("cannot open directory '%s': %s", dir, strerror(errno));
	size_t cap = 0;
	char **names = NULL;
	*n = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		size_t plen = strlen(dir) + strlen(e->d_name) + 2;
		char *path = li_malloc(plen);
		if (!path)
			li_die_lib();
		snprintf(path, plen, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) != 0)
			li_die("cannot stat '%s': %s", path, strerror(errno));
		if (!S_ISREG(st.st_mode) || !image_ext(e->d_name)) {
			if (++*ignored == 1)
				*first_ignored = li_strdup(path);
			free(path);
			continue;
		}
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			names = li_realloc_array(names, cap, sizeof(*names));
			if (!names)
				li_die_lib();
		}
		names[(*n)++] = path;
		errno = 0;
	}
	if (errno)
		li_die("cannot read directory '%s': %s", dir, strerror(errno));
	closedir(d);
	if (*n > 1)
		qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

/* Split base name at '_' into at most 4 fields (the 4th is the rest); the
 * fields are copied into buf. Returns the number of non-empty fields seen
 * before the rest, or -1 when a field is empty. */
static int fields4(const char *base, char *buf, size_t size, char *f[4])
{
	snprintf(buf, size, "%s", base);
	char *dot = strrchr(buf, '.');
	if (dot)
		*dot = '\0';
	char *p = buf;
	int nf = 0;
	while (nf < 3) {
		char *u = strchr(p, '_');
		if (!u)
			break;
		*u = '\0';
		if (!*p)
			return -1;
		f[nf++] = p;
		p = u + 1;
	}
	if (nf < 3 || !*p)
		return -1;
	f[3] = p;
	return nf;
}

static li_list *list_from_dir(const char *data, const char *sub, bool hard, size_t *nfiles)
{
	size_t len = strlen(data);
	while (len > 1 && data[len - 1] == '/')
		len--;
	char dir[4096];
	if (snprintf(dir, sizeof dir, "%.*s/%s", (int)len, data, sub) >= (int)sizeof dir)
		li_die("path too long: '%s'", data);
	static const char *const cols[] = {"path", "label", "patient", "slide"};
	li_list *l = li_list_new(dir, 4, cols);
	if (!l)
		li_die_lib();
	size_t n, ignored = 0;
	char *first_ignored = NULL;
	char **names = scan_dir(dir, &n, &ignored, &first_ignored);
	if (ignored)
		li_warn("'%s': ignored %zu entr%s without a .png, .jpg or .jpeg name, e.g. '%s'", dir,
			ignored, ignored == 1 ? "y" : "ies", first_ignored);
	free(first_ignored);
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(names[i], '/') + 1;
		char buf[1024], *f[4];
		int ok = fields4(base, buf, sizeof buf, f) == 3 && strlen(base) < sizeof buf;
		const char *label = "0", *patient, *slide;
		if (hard) {
			ok = ok && (strcmp(f[0], "pos") == 0 || strcmp(f[0], "neg") == 0);
			if (ok)
				label = f[0][0] == 'p' ? "1" : "0";
			patient = f[1], slide = f[2];
		} else {
			patient = f[0], slide = f[2];
		}
		if (!ok)
			li_die("'%s': name is not %s", names[i],
			       hard ? "{pos,neg}_<patient>_<slide>_<rest>" : "<patient>_<x>_<slide>_<rest>");
		const char *row[] = {names[i], label, patient, slide};
		if (li_list_append(l, row))
			li_die_lib();
		free(names[i]);
	}
	free(names);
	*nfiles = n;
	return l;
}

/* ---- the grouped split ---- */

typedef struct group {
	const char *key;  /* for sorting; points into keys[] */
	size_t rows, pos; /* row count, positive rows */
	int split;        /* 0 train, 1 valid, 2 test */
} group;

typedef struct split {
	li_list *l;
	size_t n;
	int *label;
	size_t *gid; /* group of each row */
	group *g;
	size_t ng;
	char **keys; /* per row */
} split;

static int cmp_key_idx(const void *a, const void *b, void *ctx)
{
	char **keys = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(keys[x], keys[y]);
	return c ? c : (x > y) - (x < y);
}

/* A small merge sort with context (qsort_r is not C11). */
static void sort_idx(size_t *v, size_t n, size_t *tmp, char **keys)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	sort_idx(v, h, tmp, keys);
	sort_idx(v + h, n - h, tmp, keys);
	size_t i = 0, j = h, o = 0;
	while (i < h && j < n)
		tmp[o++] = cmp_key_idx(&v[i], &v[j], keys) <= 0 ? v[i++] : v[j++];
	while (i < h)
		tmp[o++] = v[i++];
	while (j < n)
		tmp[o++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

/* Labels and groups of every row. With --group slide and a patient column,
 * the key is (patient, slide): slide names need only be unique per patient. */
static void build_groups(split *s, const opts *o)
{
	li_list *l = s->l;
	int lc = li_list_require(l, "label");
	int sc = li_list_require(l, o->group_patient ? "patient" : "slide");
	if (lc < 0 || sc < 0)
		li_die_lib();
	int pc = o->group_patient ? -1 : li_list_col(l, "patient");
	s->n = l->nrows;
	if (s->n == 0)
		li_die("'%s': no rows to split", l->name);
	s->label = li_malloc_array(s->n, sizeof(int));
	s->gid = li_malloc_array(s->n, sizeof(size_t));
	s->keys = li_malloc_array(s->n, sizeof(char *));
	size_t *order = li_malloc_array(s->n, sizeof(size_t)), *tmp = li_malloc_array(s->n, sizeof(size_t));
	if (!s->label || !s->gid || !s->keys || !order || !tmp)
		li_die_lib();
	for (size_t i = 0; i < s->n; i++) {
		const li_row *r = &l->rows[i];
		if (li_list_label(l, r, lc, &s->label[i]))
			li_die_lib();
		const char *g = r->field[sc];
		if (!*g)
			li_die("'%s' line %ld: empty %s", l->name, r->line, l->cols[sc]);
		size_t len = strlen(g) + (pc >= 0 ? strlen(r->field[pc]) + 1 : 0) + 1;
		if (!(s->keys[i] = li_malloc(len)))
			li_die_lib();
		if (pc >= 0)
			snprintf(s->keys[i], len, "%s\t%s", r->field[pc], g);
		else
			snprintf(s->keys[i], len, "%s", g);
		order[i] = i;
	}
	sort_idx(order, s->n, tmp, s->keys);
	s->g = li_calloc(s->n, sizeof(group));
	if (!s->g)
		li_die_lib();
	for (size_t i = 0; i < s->n; i++) {
		size_t r = order[i];
		if (i == 0 || strcmp(s->keys[r], s->g[s->ng - 1].key) != 0)
			s->g[s->ng++] = (group){.key = s->keys[r]};
		group *g = &s->g[s->ng - 1];
		g->rows++;
		g->pos += s->label[r] == 1;
		s->gid[r] = s->ng - 1;
	}
	free(order);
	free(tmp);
}

/* Move groups from v[0..*n) (in order) to split `to` while that brings the
 * rows moved closer to frac of the stratum's rows; at least min_groups. The
 * groups moved are removed from v (order kept). */
static void take(group **v, size_t *n, double frac, size_t min_groups, int to)
{
	size_t total = 0, taken = 0, ntaken = 0;
	for (size_t i = 0; i < *n; i++)
		total += v[i]->rows;
	double target = frac * (double)total;
	for (size_t i = 0; i < *n; i++)
		if (fabs((double)(taken + v[i]->rows) - target) < fabs((double)taken - target)) {
			v[i]->split = to;
			taken += v[i]->rows;
			ntaken++;
		}
	for (size_t i = 0; i < *n && ntaken < min_groups; i++)
		if (v[i]->split != to) {
			v[i]->split = to;
			ntaken++;
		}
	size_t m = 0;
	for (size_t i = 0; i < *n; i++)
		if (v[i]->split != to)
			v[m++] = v[i];
	*n = m;
}

/* Each stratum (groups with positives, groups without) separately: shuffle
 * its groups (sorted by key first) with the seed, take test, then valid. */
static void assign(split *s, const opts *o)
{
	group **v = li_malloc_array(s->ng ? s->ng : 1, sizeof(group *));
	if (!v)
		li_die_lib();
	for (int stratum = 0; stratum < 2; stratum++) {
		size_t n = 0;
		for (size_t i = 0; i < s->ng; i++)
			if ((s->g[i].pos > 0) == (stratum == 1))
				v[n++] = &s->g[i];
		li_rng r = li_rng_derive(o->seed, (uint64_t)stratum);
		for (size_t i = n; i > 1; i--) {
			size_t j = li_rng_below(&r, i);
			group *t = v[i - 1];
			v[i - 1] = v[j];
			v[j] = t;
		}
		if (!o->test_list)
			take(v, &n, o->test_frac, n >= 2 && o->test_frac > 0 ? 1 : 0, 2);
		take(v, &n, o->valid_frac, n >= 2 && o->valid_frac > 0 ? 1 : 0, 1);
	}
	free(v);
}

/* Keep a fraction of the rows listed in idx[0..*n) whose label is `cls`
 * (llround(rate * count), at least one), by selection sampling: the kept
 * rows stay in their order. */
static void subsample(size_t *idx, size_t *n, const int *label, int cls, double rate, uint64_t seed)
{
	size_t count = 0;
	for (size_t i = 0; i < *n; i++)
		count += label[idx[i]] == cls;
	if (count == 0)
		return;
	size_t want = (size_t)llround(rate * (double)count);
	if (want == 0)
		want = 1;
	li_rng r = li_rng_derive(seed, 100 + (uint64_t)cls);
	size_t seen = 0, kept = 0, m = 0;
	for (size_t i = 0; i < *n; i++) {
		if (label[idx[i]] != cls) {
			idx[m++] = idx[i];
			continue;
		}
		/* keep with probability (want - kept) / (count - seen) */
		if (li_rng_below(&r, count - seen) < want - kept) {
			idx[m++] = idx[i];
			kept++;
		}
		seen++;
	}
	*n = m;
}

static void summary(const char *name, const split *s, const size_t *idx, size_t n)
{
	size_t pos = 0, groups = 0;
	char *seen = li_calloc(s->ng ? s->ng : 1, 1);
	if (!seen)
		li_die_lib();
	for (size_t i = 0; i < n; i++) {
		pos += s->label[idx[i]] == 1;
		if (!seen[s->gid[idx[i]]]++)
			groups++;
	}
	free(seen);
	li_note("%-5s %zu rows (%zu positive, %zu negative) from %zu group%s", name, n, pos, n - pos,
		groups, groups == 1 ? "" : "s");
	if (n > 0 && (pos == 0 || pos == n))
		li_warn("%s has only %s rows", name, pos ? "positive" : "negative");
}

/* The lists of one run appear together or not at all: each is written to a
 * temporary file, and only when all are complete are they renamed in place
 * (li_atomic_commit_all), so a failed rerun never leaves a new train.tsv
 * beside an old test.tsv (a slide in both). */
enum { MAX_LISTS = 4 };
typedef struct outputs {
	li_atomic a[MAX_LISTS];
	int n;
} outputs;

static void out_path(char *path, size_t cap, const char *dir, const char *name)
{
	if (snprintf(path, cap, "%s/%s", dir, name) >= (int)cap)
		li_die("path too long: '%s'", dir);
}

static void abort_all(outputs *out)
{
	for (int i = 0; i < out->n; i++)
		li_atomic_abort(&out->a[i]);
}

static void write_list(outputs *out, const li_list *l, const char *dir, const char *name,
		       const size_t *idx, size_t n)
{
	char path[4096];
	out_path(path, sizeof path, dir, name);
	LI_ASSERT(out->n < MAX_LISTS);
	li_atomic *a = &out->a[out->n];
	FILE *fp = li_atomic_open(a, path);
	if (fp)
		out->n++;
	if (!fp || li_list_write_fp(l, fp, path, idx, n) < 0) { /* idx NULL: every row */
		abort_all(out);
		li_die_lib();
	}
}

/* Paths of the external test set must not be in the list being split. */
static void check_test_list(const li_list *test, const li_list *l)
{
	char **paths = li_malloc_array(l->nrows ? l->nrows : 1, sizeof(char *));
	if (!paths)
		li_die_lib();
	for (size_t i = 0; i < l->nrows; i++)
		paths[i] = l->rows[i].field[0];
	if (l->nrows > 1)
		qsort(paths, l->nrows, sizeof(char *), cmp_str);
	for (size_t i = 0; i < test->nrows; i++) {
		char *p = test->rows[i].field[0];
		if (bsearch(&p, paths, l->nrows, sizeof(char *), cmp_str))
			li_die("'%s' line %ld: '%s' is also in '%s': the test set must be separate",
			       test->name, test->rows[i].line, p, l->name);
	}
	free(paths);
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = parse_args(argc, argv);

	li_list *pool = NULL;
	split s = {0};
	if (o.from_dir) {
		size_t nf;
		s.l = list_from_dir(o.from_dir, HARD_DIR, true, &nf);
		if (nf == 0)
			li_die("'%s': no .png, .jpg or .jpeg files", s.l->name);
		char weak[4096];
		snprintf(weak, sizeof weak, "%s/%s", o.from_dir, WEAK_DIR);
		struct stat st;
		if (stat(weak, &st) == 0)
			pool = list_from_dir(o.from_dir, WEAK_DIR, false, &nf);
		else
			li_warn("no '%s': pool.tsv not written", weak);
	} else {
		s.l = li_list_read(o.list);
		if (!s.l)
			li_die_lib();
	}
	li_list *test = NULL;
	if (o.test_list) {
		if (!(test = li_list_read(o.test_list)))
			li_die_lib();
		check_test_list(test, s.l);
	}
	build_groups(&s, &o);
	assign(&s, &o);

	size_t *idx[3], cnt[3] = {0, 0, 0};
	for (int k = 0; k < 3; k++)
		if (!(idx[k] = li_malloc_array(s.n, sizeof(size_t))))
			li_die_lib();
	for (size_t i = 0; i < s.n; i++) {
		int k = s.g[s.gid[i]].split;
		idx[k][cnt[k]++] = i;
	}
	if (o.subset) {
		subsample(idx[0], &cnt[0], s.label, 0, o.subset, o.subset_seed);
		subsample(idx[0], &cnt[0], s.label, 1, o.subset, o.subset_seed);
	} else if (o.pos_only) {
		subsample(idx[0], &cnt[0], s.label, 1, o.pos_only, o.subset_seed);
	}

	if (mkdir(o.out_dir, 0777) != 0 && errno != EEXIST)
		li_die("cannot create directory '%s': %s", o.out_dir, strerror(errno));
	outputs out = {.n = 0};
	write_list(&out, s.l, o.out_dir, "train.tsv", idx[0], cnt[0]);
	write_list(&out, s.l, o.out_dir, "valid.tsv", idx[1], cnt[1]);
	write_list(&out, test ? test : s.l, o.out_dir, "test.tsv", test ? NULL : idx[2], cnt[2]);
	if (pool)
		write_list(&out, pool, o.out_dir, "pool.tsv", NULL, 0);
	if (li_atomic_commit_all(out.a, out.n) < 0)
		li_die_lib();
	char stale[4096];
	out_path(stale, sizeof stale, o.out_dir, "pool.tsv");
	if (o.from_dir && !pool && unlink(stale) == 0)
		li_note("removed the previous run's '%s'", stale);
	summary("train", &s, idx[0], cnt[0]);
	summary("valid", &s, idx[1], cnt[1]);
	if (test)
		li_note("test  %zu rows from '%s' (as given)", test->nrows, test->name);
	else
		summary("test", &s, idx[2], cnt[2]);
	if (pool)
		li_note("pool  %zu rows", pool->nrows);

	for (int k = 0; k < 3; k++)
		free(idx[k]);
	for (size_t i = 0; i < s.n; i++)
		free(s.keys[i]);
	free(s.keys);
	free(s.label);
	free(s.gid);
	free(s.g);
	li_list_free(s.l);
	li_list_free(pool);
	li_list_free(test);
	return LI_EXIT_OK;
}
