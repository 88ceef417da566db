/* li-ablate: an ablation of the four-step strategy in one command. A grid of
 * configurations (a base configuration with keys replaced) times seeds, each
 * point run by li-pipeline(1); the steps that depend only on the weak model
 * (split, weak training, validation, pool and test scores, false positives,
 * pool features) are run once per seed and weak setting and shared through
 * li-pipeline's weak_dir. Then the table of mean +- SD per configuration, the
 * paired comparisons between configurations (per seed DeLong between the two
 * strong models on the same test list, combined over seeds with a t interval)
 * and a figure. Resumable: li-pipeline skips what is done. See li-ablate(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "li_atomic.h"
#include "li_cli.h"
#include "li_error.h"
#include "li_image_io.h"
#include "li_list.h"
#include "li_metrics.h"
#include "li_plot.h"
#include "li_util.h"

#define MAX_SEEDS 1000
#define MAX_KEYS 16
#define MAX_POINTS 4096
#define CI_LEVEL 0.95

/* Keys li-ablate sets itself in every configuration of the grid. */
static const char *const own_keys[] = {"project_name", "fold_num", "sampling_random_state",
				       "seed", "out_dir", "weak_dir", NULL};
/* Keys that change only the mining and what follows it: configurations that
 * differ in these alone share one weak model per seed. Any other key gets its
 * own weak model (li-pipeline checks the settings a weak_dir was made with,
 * so a key missing here costs time, never a wrong result). */
static const char *const mining_keys[] = {"mining_method", "num_query", "query_method",
					  "fp_threshold", "rounds", "ci", "mine_min_score",
					  "mine_count", NULL};

typedef struct opts {
	const char *base, *dir, *figure, *pipeline;
	const char *reference[MAX_KEYS];
	int nreference;
	long seeds[MAX_SEEDS];
	int nseeds;
	bool dry, report;
	char **grid;
	int ngrid;
} opts;

/* The grid: keys and their values; a point picks one value of each. */
typedef struct grid {
	int nkeys;
	char *key[MAX_KEYS];
	char **val[MAX_KEYS];
	int nval[MAX_KEYS];
	bool mining[MAX_KEYS]; /* a mining key: shared weak model */
	int npoints;
	int (*pick)[MAX_KEYS]; /* pick[p][k]: value index of key k in point p */
	char **name;           /* the point's name: project_key-value_... */
	char **label;          /* for people: key=value, ... */
	char **cat;            /* for the figure: value,value */
	int ref[MAX_KEYS];     /* --reference: the value index of each key, -1 for none */
	int nref;
} grid;

/* The base configuration: its lines, and each line's key (NULL: none). */
typedef struct base {
	char *text;
	char **line, **key;
	int nlines;
	char *project, *out_dir;
} base;

_Noreturn static void usage(void)
{
	printf("Usage: li-ablate [OPTION]... BASE.yaml [KEY=V1,V2,...]...\n"
	       "Run li-pipeline on every configuration made from BASE by giving each KEY\n"
	       "each of its values, for every seed; share the weak model of a seed across\n"
	       "the configurations that differ only in mining; print the mean +- SD of\n"
	       "each configuration and paired comparisons between them, and draw a figure.\n"
	       "\n"
	       "  -s, --seeds S1,S2,...   seeds (default 42,43,44,45,46); fold i is seed i\n"
	       "  -r, --reference KEY=V   compare each configuration with the one that has\n"
	       "                          KEY=V and the same other values; repeat for\n"
	       "                          several keys (default mining_method=random\n"
	       "                          when it is in the grid)\n"
	       "  -o, --output DIR        the ablation directory (default\n"
	       "                          OUT_DIR/PROJECT-ablation, from BASE's keys)\n"
	       "      --figure FILE.png   the figure (default DIR/ablation.png)\n"
	       "      --report            run nothing: the table, comparisons and figure of\n"
	       "                          the points complete so far\n"
	       "  -n, --dry-run           print the configurations and commands; create nothing\n"
	       "  -h, --help              show this help and exit\n"
	       "  -V, --version           show the version and exit\n"
	       "The programs are found on PATH (li-pipeline and what it runs).\n"
	       "See li-ablate(1).\n");
	exit(LI_EXIT_OK);
}

static bool in(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static char *xstrdup(const char *s)
{
	char *d = li_strdup(s);
	if (!d)
		li_die_lib();
	return d;
}

/* printf into a new string. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap, ap2;
	va_start(ap, f);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	char *s = li_malloc((size_t)n + 1);
	if (!s)
		li_die_lib();
	vsnprintf(s, (size_t)n + 1, f, ap2);
	va_end(ap2);
	return s;
}

static void parse_seeds(opts *o, const char *arg)
{
	o->nseeds = 0;
	char *s = xstrdup(arg), *save = NULL;
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->nseeds == MAX_SEEDS)
			li_usage_error("--seeds: more than %d seeds", MAX_SEEDS);
		long v;
		if (li_parse_long(t, &v) < 0 || v < 0 || v > 999999999L)
			li_usage_error("--seeds: '%s' is not an integer from 0 to 999999999", t);
		for (int i = 0; i < o->nseeds; i++)
			if (o->seeds[i] == v)
				li_usage_error("--seeds: %ld given twice", v);
		o->seeds[o->nseeds++] = v;
	}
	if (o->nseeds == 0)
		li_usage_error("--seeds: no seed in '%s'", arg);
	free(s);
}

static opts parse_args(int argc, char **argv)
{
	enum { O_FIGURE = 256, O_REPORT };
	static const struct option longopts[] = {
		{"seeds", required_argument, NULL, 's'},   {"reference", required_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},  {"figure", required_argument, NULL, O_FIGURE},
		{"report", no_argument, NULL, O_REPORT},   {"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
		{0},
	};
	opts o = {.seeds = {42, 43, 44, 45, 46}, .nseeds = 5};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:r:o:nhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': parse_seeds(&o, optarg); break;
		case 'r':
			if (o.nreference == MAX_KEYS)
				li_usage_error("more than %d --reference", MAX_KEYS);
			o.reference[o.nreference++] = optarg;
			break;
		case 'o': o.dir = optarg; break;
		case O_FIGURE: o.figure = optarg; break;
		case O_REPORT: o.report = true; break;
		case 'n': o.dry = true; break;
		case 'h': usage();
		case 'V': li_cli_version();
		default: li_cli_bad_option(c, argv);
		}
	}
	if (optind >= argc)
		li_usage_error("no BASE configuration");
	if (o.dry && o.report)
		li_usage_error("--dry-run and --report do not go together");
	o.base = argv[optind];
	o.grid = argv + optind + 1;
	o.ngrid = argc - optind - 1;
	if (o.ngrid > MAX_KEYS)
		li_usage_error("more than %d grid keys", MAX_KEYS);
	return o;
}

/* ---- the base configuration ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	size_t cap = 4096, n = 0, r;
	char *s = li_malloc(cap);
	if (!s)
		li_die_lib();
	while ((r = fread(s + n, 1, cap - n - 1, fp)) > 0) {
		n += r;
		if (n + 1 == cap && !(s = li_realloc_array(s, cap *= 2, 1)))
			li_die_lib();
	}
	int err = ferror(fp) ? errno : 0;
	fclose(fp);
	if (err) {
		free(s);
		errno = err;
		return NULL;
	}
	s[n] = 0;
	if (len)
		*len = n;
	return s;
}

/* The key of a "key: value" line, NULL for anything else (li-pipeline, which
 * reads every configuration, says what is wrong with it). */
static char *line_key(const char *l)
{
	const char *p = l;
	if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
		return NULL;
	while (*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
	       (*p >= '0' && *p <= '9'))
		p++;
	const char *e = p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != ':')
		return NULL;
	char *k = li_malloc((size_t)(e - l) + 1);
	if (!k)
		li_die_lib();
	memcpy(k, l, (size_t)(e - l));
	k[e - l] = 0;
	return k;
}

/* The value of a "key: value" line as li-pipeline reads it: trimmed, quotes
 * or a trailing comment removed. */
static char *line_value(const char *l)
{
	const char *p = strchr(l, ':') + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n;
	if (*p == '"' || *p == '\'') {
		const char *q = strchr(p + 1, *p);
		n = q ? (size_t)(q - p - 1) : strlen(p + 1);
		p++;
	} else {
		const char *h = p;
		for (; *h; h++)
			if (*h == '#' && h > p && (h[-1] == ' ' || h[-1] == '\t'))
				break;
		n = (size_t)(h - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
			n--;
	}
	char *v = li_malloc(n + 1);
	if (!v)
		li_die_lib();
	memcpy(v, p, n);
	v[n] = 0;
	return v;
}

static const char *base_value(const base *b, const char *key)
{
	for (int i = b->nlines - 1; i >= 0; i--)
		if (b->key[i] && strcmp(b->key[i], key) == 0)
			return line_value(b->line[i]);
	return NULL;
}

static base read_base(const char *path)
{
	base b = {0};
	size_t len;
	b.text = read_file(path, &len);
	if (!b.text)
		li_die("cannot read '%s': %s", path, strerror(errno));
	if (memchr(b.text, 0, len))
		li_die("'%s': contains a NUL byte: not a text configuration", path);
	int cap = 1;
	for (size_t i = 0; i < len; i++)
		cap += b.text[i] == '\n';
	b.line = li_malloc_array((size_t)cap, sizeof(char *));
	b.key = li_malloc_array((size_t)cap, sizeof(char *));
	if (!b.line || !b.key)
		li_die_lib();
	for (char *s = b.text; *s;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		b.line[b.nlines] = s;
		b.key[b.nlines++] = line_key(s);
		s = nl ? nl + 1 : s + strlen(s);
	}
	const char *pn = base_value(&b, "project_name"), *od = base_value(&b, "out_dir");
	if (!pn || !*pn)
		li_die("'%s': project_name is missing", path);
	b.project = (char *)pn;
	b.out_dir = (char *)(od && *od ? od : "results");
	return b;
}

/* ---- the grid ---- */

/* A value as it may appear in a name: characters other than letters,
 * digits, '.', '+' and '-' become '_'. */
static char *name_part(const char *v)
{
	char *s = xstrdup(v);
	for (char *p = s; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '+' || *p == '-'))
			*p = '_';
	return s;
}

static void grid_parse(grid *g, const opts *o, const base *b)
{
	for (int k = 0; k < MAX_KEYS; k++)
		g->ref[k] = -1;
	g->nkeys = o->ngrid;
	for (int k = 0; k < o->ngrid; k++) {
		const char *spec = o->grid[k], *eq = strchr(spec, '=');
		char *key = NULL;
		if (eq) {
			char *t = xstrdup(spec);
			t[eq - spec] = ':';
			key = line_key(t);
			free(t);
		}
		if (!eq || !key || eq - spec != (ptrdiff_t)strlen(key) || !eq[1])
			li_die("'%s': grid '%s' is not KEY=V1,V2,...", o->base, spec);
		if (in(key, own_keys))
			li_die("'%s': grid '%s': li-ablate sets %s itself", o->base, spec, key);
		for (int j = 0; j < k; j++)
			if (strcmp(g->key[j], key) == 0)
				li_die("'%s': grid key '%s' given twice", o->base, key);
		g->key[k] = key;
		g->mining[k] = in(key, mining_keys);
		g->val[k] = li_malloc_array(strlen(eq), sizeof(char *));
		if (!g->val[k])
			li_die_lib();
		char *vals = xstrdup(eq + 1);
		for (char *v = vals;;) {
			char *comma = strchr(v, ',');
			if (comma)
				*comma = 0;
			if (!*v)
				li_die("'%s': grid '%s': an empty value", o->base, spec);
			for (const char *c = v; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '"')
					li_die("'%s': grid '%s': value '%s' holds a quote or a control character",
					       o->base, spec, v);
			for (int j = 0; j < g->nval[k]; j++)
				if (strcmp(g->val[k][j], v) == 0)
					li_die("'%s': grid '%s': value '%s' given twice", o->base, spec, v);
			g->val[k][g->nval[k]++] = v;
			if (!comma)
				break;
			v = comma + 1;
		}
	}
	long np = 1;
	for (int k = 0; k < g->nkeys; k++)
		if ((np *= g->nval[k]) > MAX_POINTS)
			li_die("'%s': the grid has more than %d configurations", o->base, MAX_POINTS);
	g->npoints = (int)np;
	g->pick = li_malloc_array((size_t)np, sizeof *g->pick);
	g->name = li_malloc_array((size_t)np, sizeof(char *));
	g->label = li_malloc_array((size_t)np, sizeof(char *));
	g->cat = li_malloc_array((size_t)np, sizeof(char *));
	if (!g->pick || !g->name || !g->label || !g->cat)
		li_die_lib();
	for (int p = 0; p < g->npoints; p++) {
		int r = p; /* the last key varies fastest */
		for (int k = g->nkeys - 1; k >= 0; k--) {
			g->pick[p][k] = r % g->nval[k];
			r /= g->nval[k];
		}
		char *name = xstrdup(b->project), *label = xstrdup(""), *cat = xstrdup("");
		for (int k = 0; k < g->nkeys; k++) {
			const char *v = g->val[k][g->pick[p][k]];
			char *part = name_part(v), *t;
			t = fmt("%s_%s-%s", name, g->key[k], part), free(name), name = t;
			t = fmt("%s%s%s=%s", label, k ? ", " : "", g->key[k], v), free(label), label = t;
			t = fmt("%s%s%s", cat, k ? "," : "", v), free(cat), cat = t;
			free(part);
		}
		if (g->nkeys == 0) {
			free(label), free(cat);
			label = xstrdup("(base)"), cat = xstrdup("base");
		}
		for (int q = 0; q < p; q++)
			if (strcmp(g->name[q], name) == 0)
				li_die("'%s': grid points '%s' and '%s' get the same name '%s': use values "
				       "that differ in letters, digits, '.', '+' or '-'",
				       o->base, g->label[q], label, name);
		if (strlen(name) > 200)
			li_die("'%s': the name of grid point '%s' is longer than 200 characters", o->base,
			       label);
		g->name[p] = name, g->label[p] = label, g->cat[p] = cat;
	}
	/* the reference */
	if (o->nreference == 0) {
		for (int k = 0; k < g->nkeys; k++)
			if (strcmp(g->key[k], "mining_method") == 0)
				for (int j = 0; j < g->nval[k]; j++)
					if (strcmp(g->val[k][j], "random") == 0)
						g->ref[k] = j, g->nref = 1;
		return;
	}
	for (int r = 0; r < o->nreference; r++) {
		const char *ref = o->reference[r], *eq = strchr(ref, '=');
		if (!eq)
			li_usage_error("--reference: '%s' is not KEY=VALUE", ref);
		int found = -1;
		for (int k = 0; k < g->nkeys; k++)
			if (strlen(g->key[k]) == (size_t)(eq - ref) &&
			    strncmp(g->key[k], ref, (size_t)(eq - ref)) == 0)
				for (int j = 0; j < g->nval[k]; j++)
					if (strcmp(g->val[k][j], eq + 1) == 0)
						found = k, g->ref[k] = j;
		if (found < 0)
			li_die("'%s': --reference '%s' is not a key and value of the grid", o->base, ref);
	}
	g->nref = o->nreference;
}

/* The point with the reference values of the reference keys and p's values
 * of the others; -1 when that is p itself (or there is no reference). */
static int partner(const grid *g, int p)
{
	if (g->nref == 0)
		return -1;
	for (int q = 0; q < g->npoints; q++) {
		bool same = true;
		for (int k = 0; k < g->nkeys && same; k++)
			same = g->pick[q][k] == (g->ref[k] >= 0 ? g->ref[k] : g->pick[p][k]);
		if (same)
			return q == p ? -1 : q;
	}
	return -1;
}

/* The reference values, for the figure: "random" or "random,knn". */
static char *reference_label(const grid *g)
{
	char *s = xstrdup("");
	for (int k = 0; k < g->nkeys; k++)
		if (g->ref[k] >= 0) {
			char *t = fmt("%s%s%s", s, *s ? "," : "", g->val[k][g->ref[k]]);
			free(s), s = t;
		}
	return s;
}

/* ---- paths ---- */

typedef struct layout {
	char *dir, *configs, *runs, *weak, *logs;
} layout;

static layout make_layout(const opts *o, const base *b)
{
	layout l;
	l.dir = o->dir ? xstrdup(o->dir) : fmt("%s/%s-ablation", b->out_dir, b->project);
	l.configs = fmt("%s/configs", l.dir);
	l.runs = fmt("%s/runs", l.dir);
	l.weak = fmt("%s/weak", l.dir);
	l.logs = fmt("%s/logs", l.dir);
	return l;
}

/* The weak_dir of point p and seed s: named by the seed and the grid values
 * that change the weak model. */
static char *weak_dir(const layout *l, const grid *g, int p, long seed)
{
	char *name = xstrdup("");
	for (int k = 0; k < g->nkeys; k++)
		if (!g->mining[k]) {
			char *part = name_part(g->val[k][g->pick[p][k]]);
			char *t = fmt("%s%s-%s_", name, g->key[k], part);
			free(part), free(name), name = t;
		}
	char *d = fmt("%s/%sseed-%ld", l->weak, name, seed);
	free(name);
	return d;
}

static char *run_dir(const layout *l, const grid *g, int p, int fold)
{
	return fmt("%s/%s_fold-%d", l->runs, g->name[p], fold);
}

/* The value of key for point p: the grid's, the base's, or dflt. */
static const char *point_value(const grid *g, const base *b, int p, const char *key,
			       const char *dflt)
{
	for (int k = 0; k < g->nkeys; k++)
		if (strcmp(g->key[k], key) == 0)
			return g->val[k][g->pick[p][k]];
	const char *v = base_value(b, key);
	return v ? v : dflt;
}

/* The last round's suffix of point p's files (li-pipeline: .rN when rounds > 1). */
static char *round_suffix(const grid *g, const base *b, int p)
{
	long r;
	const char *v = point_value(g, b, p, "rounds", "1");
	if (li_parse_long(v, &r) < 0 || r <= 1)
		return xstrdup("");
	return fmt(".r%ld", r);
}

/* The configuration of point p, fold (1-based) and seed: the base without
 * the keys set here, then those. */
static char *config_text(const base *b, const grid *g, const layout *l, int p, int fold, long seed)
{
	char *t = xstrdup(""), *u;
	for (int i = 0; i < b->nlines; i++) {
		const char *k = b->key[i];
		bool drop = k && in(k, own_keys);
		for (int j = 0; k && j < g->nkeys && !drop; j++)
			drop = strcmp(k, g->key[j]) == 0;
		if (drop || (i == b->nlines - 1 && !*b->line[i]))
			continue;
		u = fmt("%s%s\n", t, b->line[i]), free(t), t = u;
	}
	char *wd = weak_dir(l, g, p, seed);
	u = fmt("%s# set by li-ablate\nproject_name: \"%s\"\nfold_num: %d\nsampling_random_state: %ld\n"
		"out_dir: \"%s\"\nweak_dir: \"%s\"\n",
		t, g->name[p], fold, seed, l->runs, wd);
	free(t), free(wd), t = u;
	for (int k = 0; k < g->nkeys; k++)
		u = fmt("%s%s: \"%s\"\n", t, g->key[k], g->val[k][g->pick[p][k]]), free(t), t = u;
	return t;
}

/* ---- files and processes ---- */

static void mkdir_p(const char *path)
{
	if (li_mkdirs(path, 0777) < 0)
		li_die_lib();
}

static void write_atomic(const char *path, const char *text, size_t len)
{
	li_atomic a;
	FILE *fp = li_atomic_open(&a, path);
	if (!fp)
		li_die_lib();
	if (fwrite(text, 1, len, fp) != len) {
		int e = errno;
		li_atomic_abort(&a);
		li_die("cannot write '%s': %s", path, strerror(e ? e : EIO));
	}
	if (li_atomic_commit(&a) < 0)
		li_die_lib();
}

/* Write a configuration only when it changes: li-pipeline redoes a step whose
 * inputs (the configuration among them) are newer than its outputs. */
static void write_config(const char *path, const char *text)
{
	char *old = read_file(path, NULL);
	if (!old || strcmp(old, text) != 0)
		write_atomic(path, text, strlen(text));
	free(old);
}

static volatile sig_atomic_t child_pid, got_signal;

/* After a signal: wait (up to 10 s) for what is left of the child's group,
 * which holds the lock, then die of the same signal. */
_Noreturn static void interrupted(pid_t pgid)
{
	for (int i = 0; pgid > 0 && i < 200 && kill(-pgid, 0) == 0; i++)
		usleep(50000);
	li_note("interrupted: run li-ablate again to continue");
	signal(got_signal, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, got_signal);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(got_signal);
	exit(LI_EXIT_FAILURE);
}

static void on_signal(int sig)
{
	got_signal = sig;
	if (child_pid > 0)
		kill(-(pid_t)child_pid, sig);
}

/* Run li-pipeline [-n] CONFIG in its own process group, its stdout to out
 * and its stderr to err (appended); the exit status, or -1 when it was
 * killed by a signal. */
static int run_pipeline(const opts *o, const char *config, bool dry, const char *out, const char *err)
{
	/* Signals wait until the child has its group, so none is lost. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (got_signal)
		interrupted(0);
	pid_t pid = fork();
	if (pid < 0)
		li_die("cannot fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &old, NULL);
		int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0666);
		int fe = strcmp(out, err) ? open(err, O_WRONLY | O_CREAT | O_APPEND, 0666) : fo;
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(126);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		char *argv[] = {(char *)o->pipeline, dry ? "-n" : (char *)config, dry ? (char *)config : NULL,
				NULL};
		execvp(o->pipeline, argv);
		fprintf(stderr, "%s: cannot run '%s': %s\n", li_prog(), o->pipeline, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	child_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			li_die("waitpid: %s", strerror(errno));
	child_pid = 0;
	if (got_signal)
		interrupted(pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last non-empty line of a file, without li-pipeline's "li-pipeline: ". */
static char *last_line(const char *path)
{
	char *s = read_file(path, NULL);
	if (!s)
		return xstrdup("");
	char *e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	char *l = strrchr(s, '\n');
	l = l ? l + 1 : s;
	char *r = xstrdup(l);
	free(s);
	return r;
}

/* li-pipeline's message about a configuration line, "'FILE' line N: why",
 * made to name the grid point instead of the temporary file; another message
 * naming the temporary file names the base instead. */
static char *config_error(const char *msg, const char *tmp, const char *base_path)
{
	const char *p = strstr(msg, "' line ");
	if (p) {
		p += 7;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == ':' && p[1] == ' ')
			return xstrdup(p + 2);
	}
	const char *c = strstr(msg, ": ");
	char *r = xstrdup(c ? c + 2 : msg), *t;
	while ((t = strstr(r, tmp)) != NULL) {
		*t = 0;
		char *u = fmt("%s%s%s", r, base_path, t + strlen(tmp));
		free(r);
		r = u;
	}
	return r;
}

/* Check every point's configuration with li-pipeline -n before anything is
 * created: a bad key or value names the grid point and exits 1. */
static void validate(const opts *o, const base *b, const grid *g, const layout *l)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = fmt("%s/li-ablate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		li_die("cannot create a temporary directory '%s': %s", dir, strerror(errno));
	char *cfg = fmt("%s/config.yaml", dir), *err = fmt("%s/stderr", dir);
	char *msg = NULL;
	int bad = -1;
	for (int p = 0; p < g->npoints && bad < 0; p++) {
		char *text = config_text(b, g, l, p, 1, o->seeds[0]);
		FILE *fp = fopen(cfg, "w");
		if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0)
			li_die("cannot write '%s': %s", cfg, strerror(errno));
		free(text);
		unlink(err);
		if (run_pipeline(o, cfg, true, "/dev/null", err) != 0) {
			char *last = last_line(err);
			msg = config_error(last, cfg, o->base);
			free(last);
			bad = p;
		}
	}
	unlink(cfg), unlink(err), rmdir(dir);
	free(cfg), free(err), free(dir);
	if (bad >= 0) {
		if (g->nkeys)
			li_die("'%s' with %s: %s", o->base, g->label[bad], msg);
		li_die("'%s': %s", o->base, msg);
	}
}

static void lock_dir(const layout *l)
{
	char *path = fmt("%s/.lock", l->dir);
	/* Not close-on-exec: li-pipeline and its programs hold the lock too, so a
	 * killed li-ablate whose children still run cannot be run again beside them. */
	int fd = open(path, O_RDWR | O_CREAT, 0666);
	if (fd < 0)
		li_die("cannot create '%s': %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			li_die("'%s' is in use by another li-ablate (or the li-pipeline it started)", l->dir);
		li_die("cannot lock '%s': %s", path, strerror(errno));
	}
	free(path);
}

/* ---- results ---- */

enum { M_AUROC, M_AUPRC, M_SENS, M_SPEC, M_F1, M_ACC, NM };
static const char *const mnames[NM] = {"auroc", "auprc", "sensitivity", "specificity", "f1", "accuracy"};
static const int mindex[NM] = {LI_METRIC_AUROC, LI_METRIC_AUPRC, LI_METRIC_SENSITIVITY,
			       LI_METRIC_SPECIFICITY, LI_METRIC_F1, LI_METRIC_ACCURACY};

/* A scored test list: labels and probabilities. */
typedef struct scored {
	li_list *list;
	int *y;
	double *s;
	size_t n;
} scored;

/* One point and seed: complete or not, its metrics and scores. */
typedef struct cell {
	bool done;
	long mined;
	double weak[NM], strong[NM];
	scored test; /* the strong model's */
} cell;

static scored read_scored(const char *path)
{
	scored d = {0};
	d.list = li_list_read(path);
	if (!d.list)
		li_die_lib();
	int lc = li_list_require(d.list, "label"), sc = li_list_require(d.list, "prob");
	if (lc < 0 || sc < 0)
		li_die_lib();
	d.n = d.list->nrows;
	d.y = li_malloc_array(d.n + 1, sizeof *d.y);
	d.s = li_malloc_array(d.n + 1, sizeof *d.s);
	if (!d.y || !d.s)
		li_die_lib();
	for (size_t i = 0; i < d.n; i++)
		if (li_list_label(d.list, &d.list->rows[i], lc, &d.y[i]) < 0 ||
		    li_list_double(d.list, &d.list->rows[i], sc, &d.s[i]) < 0)
			li_die_lib();
	return d;
}

static void scored_free(scored *d)
{
	li_list_free(d->list);
	free(d->y);
	free(d->s);
	*d = (scored){0};
}

/* Two scorings of the same test list, row for row. */
static void same_rows(const scored *a, const scored *b)
{
	if (a->n != b->n)
		li_die("'%s' has %zu rows, but '%s' has %zu: not the same test list", a->list->name, a->n,
		       b->list->name, b->n);
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->list->rows[i].field[0], b->list->rows[i].field[0]) != 0 || a->y[i] != b->y[i])
			li_die("'%s' line %ld and '%s' line %ld differ: not the same test list", a->list->name,
			       a->list->rows[i].line, b->list->name, b->list->rows[i].line);
}

static void metrics(const scored *d, double out[NM])
{
	li_metrics m;
	if (li_metrics_compute(d->y, d->s, d->n, 0.5, &m) < 0)
		li_die("'%s': %s", d->list->name, li_errmsg());
	for (int i = 0; i < NM; i++)
		out[i] = m.value[mindex[i]];
}

static long data_rows(const char *path)
{
	char *s = read_file(path, NULL);
	if (!s)
		return -1;
	long n = 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n > 0 ? n - 1 : 0;
}

/* Read what is complete: cells[p * nseeds + i]. A point is complete when
 * li-pipeline's last step (compare.json) is there. */
static cell *collect(const opts *o, const base *b, const grid *g, const layout *l)
{
	cell *c = li_calloc((size_t)g->npoints * (size_t)o->nseeds, sizeof *c);
	if (!c)
		li_die_lib();
	for (int i = 0; i < o->nseeds; i++) {
		scored weak = {0};
		char *wprev = NULL;
		for (int p = 0; p < g->npoints; p++) {
			cell *x = &c[p * o->nseeds + i];
			char *rd = run_dir(l, g, p, i + 1), *sfx = round_suffix(g, b, p);
			char *done = fmt("%s/compare.json", rd), *st = fmt("%s/test.strong%s.tsv", rd, sfx);
			char *mined = fmt("%s/mined%s.tsv", rd, sfx);
			char *wd = weak_dir(l, g, p, o->seeds[i]), *wt = fmt("%s/test.weak.tsv", wd);
			struct stat sb;
			if (stat(done, &sb) == 0) {
				if (!wprev || strcmp(wprev, wd) != 0) {
					scored_free(&weak);
					weak = read_scored(wt);
					free(wprev);
					wprev = xstrdup(wd);
				}
				x->test = read_scored(st);
				same_rows(&weak, &x->test);
				metrics(&weak, x->weak);
				metrics(&x->test, x->strong);
				x->mined = data_rows(mined);
				x->done = true;
			}
			free(rd), free(sfx), free(done), free(st), free(mined), free(wd), free(wt);
		}
		scored_free(&weak);
		free(wprev);
	}
	return c;
}

/* A growing text buffer. */
typedef struct text {
	char *s;
	size_t len;
} text;

static void add(text *t, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *f, ...)
{
	va_list ap, ap2;
	va_start(ap, f);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	char *s = li_realloc_array(t->s, t->len + (size_t)n + 1, 1);
	if (!s)
		li_die_lib();
	vsnprintf(s + t->len, (size_t)n + 1, f, ap2);
	va_end(ap2);
	t->s = s;
	t->len += (size_t)n;
}

static const char *num(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "nan");
	else
		snprintf(buf, len, "%.10g", v);
	return buf;
}

/* The paired comparison of point p with its reference q over the seeds
 * complete for both: per seed DeLong (strong p against strong q), combined
 * with a t interval; specificity and sensitivity differences the same way. */
typedef struct paired {
	int p, q, n;
	double *auc, *lo, *hi, *pv, *spec, *sens; /* per seed, NAN when missing */
	li_mean_ci mauc, mspec, msens;
	int pos_auc, pos_spec, sig_auc;
} paired;

static paired compare(const opts *o, const grid *g, cell *c, int p, int q)
{
	paired r = {.p = p, .q = q};
	double *m = li_malloc_array(6 * (size_t)o->nseeds, sizeof(double));
	if (!m)
		li_die_lib();
	r.auc = m, r.lo = m + o->nseeds, r.hi = m + 2 * o->nseeds, r.pv = m + 3 * o->nseeds;
	r.spec = m + 4 * o->nseeds, r.sens = m + 5 * o->nseeds;
	for (int i = 0; i < o->nseeds; i++) {
		cell *a = &c[p * o->nseeds + i], *b = &c[q * o->nseeds + i];
		r.auc[i] = r.lo[i] = r.hi[i] = r.pv[i] = r.spec[i] = r.sens[i] = NAN;
		if (!a->done || !b->done)
			continue;
		same_rows(&a->test, &b->test);
		li_delong_test t;
		if (li_metrics_delong_test(a->test.y, a->test.s, b->test.s, a->test.n, CI_LEVEL, &t) < 0) {
			li_warn("%s against %s, seed %ld: no DeLong test (%s)", g->label[p], g->label[q],
				o->seeds[i], li_errmsg());
			t = (li_delong_test){.diff = a->strong[M_AUROC] - b->strong[M_AUROC], .lo = NAN,
					     .hi = NAN, .p = NAN};
		}
		r.auc[i] = t.diff, r.lo[i] = t.lo, r.hi[i] = t.hi, r.pv[i] = t.p;
		r.spec[i] = a->strong[M_SPEC] - b->strong[M_SPEC];
		r.sens[i] = a->strong[M_SENS] - b->strong[M_SENS];
		r.n++;
		r.pos_auc += t.diff > 0;
		r.pos_spec += r.spec[i] > 0;
		r.sig_auc += t.p < 1 - CI_LEVEL;
	}
	li_metrics_mean_ci(r.auc, (size_t)o->nseeds, CI_LEVEL, &r.mauc);
	li_metrics_mean_ci(r.spec, (size_t)o->nseeds, CI_LEVEL, &r.mspec);
	li_metrics_mean_ci(r.sens, (size_t)o->nseeds, CI_LEVEL, &r.msens);
	return r;
}

/* Per point: the strong - weak difference of metric m for each seed (NAN
 * where missing). */
static void deltas(const opts *o, const cell *c, int p, int m, double *d)
{
	for (int i = 0; i < o->nseeds; i++) {
		const cell *x = &c[p * o->nseeds + i];
		d[i] = x->done ? x->strong[m] - x->weak[m] : NAN;
	}
}

static const char *pm(const li_mean_ci *m, char *buf, size_t len)
{
	if (m->n == 0)
		snprintf(buf, len, "-");
	else if (m->n == 1)
		snprintf(buf, len, "%+.4f", m->mean);
	else
		snprintf(buf, len, "%+.4f +- %.4f", m->mean, m->sd);
	return buf;
}

/* ---- the figure ---- */

/* A step of 1, 2 or 5 times a power of ten giving about 5 intervals. */
static double nice_step(double range, int *decimals)
{
	double raw = range / 5, p = pow(10, floor(log10(raw))), f = raw / p;
	double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
	*decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
	return step;
}

#define PANEL_H 520

/* One panel: per point, the per-seed values as dots, their mean as a bar and
 * its t interval as a line; a dashed line at 0. */
static li_plot *panel(const grid *g, const char *title, const char *xlabel, int npts,
		      const int *pts, const double *const *v, int nseeds)
{
	double lo = 0, hi = 0;
	li_mean_ci *mc = li_malloc_array((size_t)npts + 1, sizeof *mc);
	if (!mc)
		li_die_lib();
	for (int j = 0; j < npts; j++) {
		li_metrics_mean_ci(v[j], (size_t)nseeds, CI_LEVEL, &mc[j]);
		for (int i = 0; i < nseeds; i++)
			if (!isnan(v[j][i]))
				lo = fmin(lo, v[j][i]), hi = fmax(hi, v[j][i]);
		if (!isnan(mc[j].lo))
			lo = fmin(lo, mc[j].lo), hi = fmax(hi, mc[j].hi);
	}
	if (hi - lo < 1e-3)
		lo -= 5e-4, hi += 5e-4;
	int dec;
	double step = nice_step(hi - lo, &dec);
	li_plot_frame f = {.ymin = floor(lo / step) * step, .ymax = ceil(hi / step) * step,
			   .ystep = step, .decimals = dec, .title = title, .xlabel = xlabel,
			   .ylabel = "per seed; mean, 95% t interval", .ncats = npts};
	const char **cats = li_malloc_array((size_t)npts + 1, sizeof(char *));
	if (!cats)
		li_die_lib();
	for (int j = 0; j < npts; j++)
		cats[j] = g->cat[pts[j]];
	f.cats = cats;
	int width = 190 + 140 * npts, tw = li_plot_text_width(title, 3) + 150;
	if (width < tw)
		width = tw;
	li_plot *pl = li_plot_new(width < 480 ? 480 : width, PANEL_H);
	if (!pl)
		li_die_lib();
	li_plot_frame_draw(pl, &f);
	double zx[2] = {0.5, npts + 0.5}, zy[2] = {0, 0};
	li_plot_polyline(pl, zx, zy, 2, 1.5, LI_PLOT_GRAY, 6);
	for (int j = 0; j < npts; j++) {
		double x = j + 1;
		for (int i = 0; i < nseeds; i++)
			if (!isnan(v[j][i]))
				li_plot_disc(pl, x - 0.2 + 0.4 * (i + 0.5) / nseeds, v[j][i], 4.5, LI_PLOT_BLUE);
		if (mc[j].n == 0)
			continue;
		double bx[2] = {x - 0.3, x + 0.3}, by[2] = {mc[j].mean, mc[j].mean};
		li_plot_polyline(pl, bx, by, 2, 3, LI_PLOT_RED, 0);
		if (!isnan(mc[j].lo)) {
			double ix[2] = {x, x}, iy[2] = {mc[j].lo, mc[j].hi};
			li_plot_polyline(pl, ix, iy, 2, 2, LI_PLOT_RED, 0);
			for (int e = 0; e < 2; e++) {
				double cx[2] = {x - 0.08, x + 0.08}, cy[2] = {iy[e], iy[e]};
				li_plot_polyline(pl, cx, cy, 2, 2, LI_PLOT_RED, 0);
			}
		}
	}
	free(mc);
	free(cats);
	return pl;
}

/* Panels side by side in one PNG, written atomically. */
static void figure(const char *path, li_plot **pl, int n)
{
	int w = 0, h = 0;
	for (int i = 0; i < n; i++)
		w += pl[i]->width, h = pl[i]->height > h ? pl[i]->height : h;
	li_image img = {w, h, 3, li_malloc((size_t)w * h * 3)};
	if (!img.data)
		li_die_lib();
	memset(img.data, 255, (size_t)w * h * 3);
	int x0 = 0;
	for (int i = 0; i < n; i++) {
		for (int y = 0; y < pl[i]->height; y++)
			memcpy(img.data + ((size_t)y * w + x0) * 3, pl[i]->rgb + (size_t)y * pl[i]->width * 3,
			       (size_t)pl[i]->width * 3);
		x0 += pl[i]->width;
	}
	void *buf;
	size_t len;
	if (li_image_encode(&img, LI_IMAGE_PNG, NULL, &buf, &len) < 0)
		li_die("cannot write '%s': %s", path, li_errmsg());
	write_atomic(path, buf, len);
	free(buf);
	free(img.data);
}

/* ---- the report ---- */

static void report(const opts *o, const base *b, const grid *g, const layout *l)
{
	cell *c = collect(o, b, g, l);
	int ns = o->nseeds;
	text res = {0}, sum = {0}, cmp = {0}, out = {0};
	char nb[8][48];
	/* results.tsv: one row per point and seed */
	add(&res, "point\tseed");
	for (int k = 0; k < g->nkeys; k++)
		add(&res, "\t%s", g->key[k]);
	add(&res, "\tmined");
	for (int m = 0; m < NM; m++)
		add(&res, "\tweak_%s\tstrong_%s", mnames[m], mnames[m]);
	add(&res, "\n");
	int complete = 0;
	for (int p = 0; p < g->npoints; p++)
		for (int i = 0; i < ns; i++) {
			const cell *x = &c[p * ns + i];
			if (!x->done)
				continue;
			complete++;
			add(&res, "%s\t%ld", g->name[p], o->seeds[i]);
			for (int k = 0; k < g->nkeys; k++)
				add(&res, "\t%s", g->val[k][g->pick[p][k]]);
			add(&res, "\t%ld", x->mined);
			for (int m = 0; m < NM; m++)
				add(&res, "\t%s\t%s", num(x->weak[m], nb[0], 48), num(x->strong[m], nb[1], 48));
			add(&res, "\n");
		}
	/* summary.tsv and the table: mean +- SD per point */
	static const int shown[] = {M_AUROC, M_AUPRC, M_SENS, M_SPEC};
	add(&sum, "point\tseeds\tmined");
	add(&sum, "\tweak_auroc\tweak_auroc_sd\tstrong_auroc\tstrong_auroc_sd");
	for (size_t j = 0; j < LI_ARRAY_LEN(shown); j++)
		add(&sum, "\tdelta_%s\tdelta_%s_sd\tdelta_%s_lo\tdelta_%s_hi", mnames[shown[j]],
		    mnames[shown[j]], mnames[shown[j]], mnames[shown[j]]);
	add(&sum, "\n");
	add(&out, "%-36s %5s %7s %-17s %-17s %-17s %-17s %-17s\n", "configuration", "seeds", "mined",
	    "strong AUROC", "delta AUROC", "delta AUPRC", "delta sensitivity", "delta specificity");
	double *d = li_malloc_array((size_t)ns * (NM + 3) + 1, sizeof(double));
	if (!d)
		li_die_lib();
	for (int p = 0; p < g->npoints; p++) {
		li_mean_ci mw, mst, mm, md[LI_ARRAY_LEN(shown)];
		for (int i = 0; i < ns; i++) {
			const cell *x = &c[p * ns + i];
			d[i] = x->done ? x->weak[M_AUROC] : NAN;
			d[ns + i] = x->done ? x->strong[M_AUROC] : NAN;
			d[2 * ns + i] = x->done ? (double)x->mined : NAN;
		}
		li_metrics_mean_ci(d, (size_t)ns, CI_LEVEL, &mw);
		li_metrics_mean_ci(d + ns, (size_t)ns, CI_LEVEL, &mst);
		li_metrics_mean_ci(d + 2 * ns, (size_t)ns, CI_LEVEL, &mm);
		for (size_t j = 0; j < LI_ARRAY_LEN(shown); j++) {
			deltas(o, c, p, shown[j], d);
			li_metrics_mean_ci(d, (size_t)ns, CI_LEVEL, &md[j]);
		}
		add(&sum, "%s\t%zu\t%s\t%s\t%s\t%s\t%s", g->name[p], mw.n, num(mm.mean, nb[0], 48),
		    num(mw.mean, nb[1], 48), num(mw.sd, nb[2], 48), num(mst.mean, nb[3], 48),
		    num(mst.sd, nb[4], 48));
		for (size_t j = 0; j < LI_ARRAY_LEN(shown); j++)
			add(&sum, "\t%s\t%s\t%s\t%s", num(md[j].mean, nb[0], 48), num(md[j].sd, nb[1], 48),
			    num(md[j].lo, nb[2], 48), num(md[j].hi, nb[3], 48));
		add(&sum, "\n");
		char au[48];
		if (mst.n == 0)
			snprintf(au, sizeof au, "-");
		else
			snprintf(au, sizeof au, "%.4f +- %.4f", mst.mean, isnan(mst.sd) ? 0 : mst.sd);
		add(&out, "%-36s %5zu %7.0f %-17s %-17s %-17s %-17s %-17s\n", g->label[p], mw.n, mm.mean, au,
		    pm(&md[0], nb[0], 48), pm(&md[1], nb[1], 48), pm(&md[2], nb[2], 48),
		    pm(&md[3], nb[3], 48));
	}
	/* compare.tsv and the verdicts */
	add(&cmp, "point\treference\tseed\tauroc_difference\tauroc_lo\tauroc_hi\tp_value"
		  "\tspecificity_difference\tspecificity_lo\tspecificity_hi\tsensitivity_difference"
		  "\tseeds\tauroc_positive\tspecificity_positive\n");
	paired *pr = li_malloc_array((size_t)g->npoints + 1, sizeof *pr);
	if (!pr)
		li_die_lib();
	int npr = 0;
	for (int p = 0; p < g->npoints; p++) {
		int q = partner(g, p);
		if (q < 0)
			continue;
		paired r = pr[npr++] = compare(o, g, c, p, q);
		for (int i = 0; i < ns; i++)
			if (!isnan(r.auc[i]))
				add(&cmp, "%s\t%s\t%ld\t%s\t%s\t%s\t%s\t%s\t\t\t%s\t1\t%d\t%d\n", g->name[p],
				    g->name[q], o->seeds[i], num(r.auc[i], nb[0], 48), num(r.lo[i], nb[1], 48),
				    num(r.hi[i], nb[2], 48), num(r.pv[i], nb[3], 48), num(r.spec[i], nb[4], 48),
				    num(r.sens[i], nb[5], 48), r.auc[i] > 0, r.spec[i] > 0);
		add(&cmp, "%s\t%s\tmean\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", g->name[p], g->name[q],
		    num(r.mauc.mean, nb[0], 48), num(r.mauc.lo, nb[1], 48), num(r.mauc.hi, nb[2], 48),
		    num(r.mauc.p, nb[3], 48), num(r.mspec.mean, nb[4], 48), num(r.mspec.lo, nb[5], 48),
		    num(r.mspec.hi, nb[6], 48), num(r.msens.mean, nb[7], 48), r.n, r.pos_auc, r.pos_spec);
	}
	if (npr)
		add(&out, "\npaired, strong against strong on the same test list (%s over seeds; per seed DeLong):\n",
		    "mean difference, 95% t interval");
	for (int j = 0; j < npr; j++) {
		const paired *r = &pr[j];
		add(&out, "%s vs %s (%d seed%s):\n", g->label[r->p], g->label[r->q], r->n, r->n == 1 ? "" : "s");
		if (r->n == 0)
			continue;
		if (r->n < 2)
			add(&out, "  AUROC %+.4f (one seed: no interval)\n", r->mauc.mean);
		else
			add(&out, "  AUROC %+.4f [%+.4f, %+.4f], %d/%d seeds > 0, DeLong p < 0.05 in %d/%d\n",
			    r->mauc.mean, r->mauc.lo, r->mauc.hi, r->pos_auc, r->n, r->sig_auc, r->n);
		if (r->n >= 2)
			add(&out, "  specificity %+.4f [%+.4f, %+.4f], %d/%d seeds > 0; sensitivity %+.4f [%+.4f, %+.4f]\n",
			    r->mspec.mean, r->mspec.lo, r->mspec.hi, r->pos_spec, r->n, r->msens.mean,
			    r->msens.lo, r->msens.hi);
		const char *v = r->n < 2 ? "too few seeds to tell"
				: r->mauc.lo > 0 ? "better: the AUROC interval is above 0"
				: r->mauc.hi < 0 ? "worse: the AUROC interval is below 0"
						 : "no AUROC difference outside the interval";
		add(&out, "  -> %s\n", v);
	}
	if (complete == 0)
		add(&out, "no point is complete yet\n");
	char *fres = fmt("%s/results.tsv", l->dir), *fsum = fmt("%s/summary.tsv", l->dir);
	char *fcmp = fmt("%s/compare.tsv", l->dir);
	char *ffig = o->figure ? xstrdup(o->figure) : fmt("%s/ablation.png", l->dir);
	write_atomic(fres, res.s, res.len);
	write_atomic(fsum, sum.s, sum.len);
	if (npr)
		write_atomic(fcmp, cmp.s, cmp.len);
	/* the figure */
	int *pts = li_malloc_array((size_t)g->npoints, sizeof(int));
	double **v = li_malloc_array((size_t)g->npoints * 3, sizeof(double *));
	double *vals = li_malloc_array((size_t)g->npoints * 3 * (size_t)ns, sizeof(double));
	if (!pts || !v || !vals)
		li_die_lib();
	char *xl = xstrdup("");
	for (int k = 0; k < g->nkeys; k++) {
		char *t = fmt("%s%s%s", xl, k ? "," : "", g->key[k]);
		free(xl), xl = t;
	}
	for (int p = 0; p < g->npoints; p++) {
		pts[p] = p;
		v[p] = vals + (size_t)p * ns;
		v[g->npoints + p] = vals + ((size_t)g->npoints + p) * ns;
		deltas(o, c, p, M_AUROC, v[p]);
		deltas(o, c, p, M_SPEC, v[g->npoints + p]);
	}
	li_plot *pl[3];
	int npl = 0;
	pl[npl++] = panel(g, "AUROC: strong - weak", xl, g->npoints, pts, (const double *const *)v, ns);
	pl[npl++] = panel(g, "specificity: strong - weak", xl, g->npoints, pts,
			  (const double *const *)(v + g->npoints), ns);
	if (npr) {
		int *cp = li_malloc_array((size_t)npr, sizeof(int));
		if (!cp)
			li_die_lib();
		for (int j = 0; j < npr; j++) {
			cp[j] = pr[j].p;
			v[2 * g->npoints + j] = pr[j].auc;
		}
		char *rl = reference_label(g), *rxl = fmt("%s (reference %s)", xl, rl);
		pl[npl++] = panel(g, "AUROC: strong - reference's", rxl, npr, cp,
				  (const double *const *)(v + 2 * g->npoints), ns);
		free(rl), free(rxl);
		free(cp);
	}
	figure(ffig, pl, npl);
	for (int i = 0; i < npl; i++)
		li_plot_free(pl[i]);
	add(&out, "\n%d of %d runs complete; %s, %s%s%s, %s\n", complete, g->npoints * ns, fres, fsum,
	    npr ? ", " : "", npr ? fcmp : "", ffig);
	fputs(out.s, stdout);
	for (int j = 0; j < npr; j++)
		free(pr[j].auc);
	for (int p = 0; p < g->npoints * ns; p++)
		scored_free(&c[p].test);
	free(pr), free(pts), free(v), free(vals), free(d), free(xl), free(c);
	free(res.s), free(sum.s), free(cmp.s), free(out.s);
	free(fres), free(fsum), free(fcmp), free(ffig);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = parse_args(argc, argv);
	o.pipeline = "li-pipeline";
	base b = read_base(o.base);
	grid g = {0};
	grid_parse(&g, &o, &b);
	layout l = make_layout(&o, &b);

	if (o.report) {
		struct stat sb;
		if (stat(l.dir, &sb) < 0)
			li_die("cannot read '%s': %s (nothing has run yet)", l.dir, strerror(errno));
		report(&o, &b, &g, &l);
		return LI_EXIT_OK;
	}
	validate(&o, &b, &g, &l);
	if (o.dry) {
		for (int i = 0; i < o.nseeds; i++)
			for (int p = 0; p < g.npoints; p++) {
				char *cfg = fmt("%s/%s_fold-%d.yaml", l.configs, g.name[p], i + 1);
				printf("# %s, seed %ld\nli-pipeline %s\n", g.label[p], o.seeds[i], cfg);
				free(cfg);
			}
		return LI_EXIT_OK;
	}
	mkdir_p(l.dir);
	lock_dir(&l);
	mkdir_p(l.configs);
	mkdir_p(l.runs);
	mkdir_p(l.weak);
	mkdir_p(l.logs);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* Seed by seed, so each seed's weak model is made by its first point and
	 * reused by the others, and every seed completed is a whole one. */
	double t0 = li_now();
	int n = 0, total = g.npoints * o.nseeds;
	for (int i = 0; i < o.nseeds; i++)
		for (int p = 0; p < g.npoints; p++) {
			char *cfg = fmt("%s/%s_fold-%d.yaml", l.configs, g.name[p], i + 1);
			char *log = fmt("%s/%s_fold-%d.log", l.logs, g.name[p], i + 1);
			char *ctext = config_text(&b, &g, &l, p, i + 1, o.seeds[i]);
			write_config(cfg, ctext);
			li_note("[%d/%d] %s, seed %ld (%.0fs)", ++n, total, g.label[p], o.seeds[i], li_now() - t0);
			int st = run_pipeline(&o, cfg, false, log, log);
			if (st != 0) {
				char *last = last_line(log);
				li_die("li-pipeline failed on '%s' (log '%s'): %s", cfg, log, last);
			}
			free(cfg), free(log), free(ctext);
		}
	li_note("%d runs in %.0fs", total, li_now() - t0);
	report(&o, &b, &g, &l);
	return LI_EXIT_OK;
}
