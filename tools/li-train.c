/* li-train: train a ResNet patch classifier from a list (path, label), with
 * per-epoch validation, model selection, a JSON Lines log, and checkpoints
 * from which a killed run resumes to bit-identical weights. Everything
 * random is a function of (--seed, epoch, position), never of state carried
 * between epochs, so a checkpoint needs only weights, optimizer moments and
 * counters. See li-train(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
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
#include "li_loader.h"
#include "li_metrics.h"
#include "li_net.h"
#include "li_nn.h"
#include "li_optim.h"
#include "li_rng.h"
#include "li_safetensors.h"

/* Streams of li_rng_derive(seed, .) outside the augmentation streams
 * epoch * N + position (which stay far below 2^62). */
#define STREAM_SAMPLER (UINT64_C(1) << 62)
#define CKPT_FORMAT "li-train-checkpoint-1"

typedef enum { SELECT_LOSS, SELECT_AUROC, SELECT_COUNT } select_kind;
typedef enum { CACHE_AUTO, CACHE_NONE, CACHE_COUNT } cache_kind;
typedef enum { ARCH_RESNET18, ARCH_RESNET34, ARCH_RESNET10, ARCH_COUNT } arch_kind;

/* Option values by name; each table has one name per value of its enum, in
 * the enum's order, and a NULL end (li_opt_choice returns the index). */
static const char *const select_names[] = {[SELECT_LOSS] = "loss", [SELECT_AUROC] = "auroc", NULL};
static const char *const sched_names[] = {[LI_SCHED_CONSTANT] = "none", [LI_SCHED_COSINE] = "cosine",
					  [LI_SCHED_COSINE_RESTART] = "cosine-restart", NULL};
static const char *const cache_names[] = {[CACHE_AUTO] = "auto", [CACHE_NONE] = "none", NULL};
static const char *const precision_names[] = {"fp32", "bf16", NULL}; /* bf16: index 1 */
static const char *const optim_names[] = {[LI_OPTIM_ADAM] = "adam", [LI_OPTIM_ADAMW] = "adamw",
					  [LI_OPTIM_SGD] = "sgd", NULL};
static const char *const arch_names[] = {[ARCH_RESNET18] = "resnet18", [ARCH_RESNET34] = "resnet34",
					 [ARCH_RESNET10] = "resnet10", NULL};
#define NAMES_OF(table, count) _Static_assert(LI_ARRAY_LEN(table) == (count) + 1, #table " names every value")
NAMES_OF(select_names, SELECT_COUNT);
NAMES_OF(sched_names, LI_SCHED_COUNT);
NAMES_OF(cache_names, CACHE_COUNT);
NAMES_OF(optim_names, LI_OPTIM_COUNT);
NAMES_OF(arch_names, ARCH_COUNT);

typedef struct opts {
	const char *train, *valid, *output, *last, *log, *checkpoint, *resume, *init;
	select_kind select;
	li_sched_kind schedule;
	cache_kind cache;
	li_optim_kind optim;
	arch_kind arch;
	int width, input_size, channels, batch, epochs, patience, restart, threads, loader_threads;
	double lr, min_lr, weight_decay, momentum;
	bool balance, bf16;
	int augment;
	uint64_t seed;
	char *command;        /* the command line without --resume FILE: the models' metadata */
	char *resume_command; /* with --resume: the whole command line, for the checkpoint */
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-train [OPTION]... TRAIN.tsv -o MODEL.safetensors\n"
	       "Train a ResNet patch classifier on a list with path and label (0/1) columns.\n"
	       "\n"
	       "  -o, --output FILE        the model (the best epoch with --valid, else\n"
	       "                           the last)\n"
	       "  -v, --valid FILE         validation list, evaluated after every epoch\n"
	       "      --select loss|auroc  how the best epoch is chosen (default loss)\n"
	       "      --last FILE          also save the last epoch's model\n"
	       "      --patience N         stop after N epochs without improvement\n"
	       "                           (default 0: never)\n"
	       "  -a, --arch NAME          resnet18 (default), resnet34 or resnet10\n"
	       "      --width N            base width (default 64, as torchvision)\n"
	       "  -s, --input-size N       square input side in pixels (default 224)\n"
	       "      --channels 1|3       gray or RGB input (default 3)\n"
	       "  -b, --batch N            batch size (default 32)\n"
	       "  -e, --epochs N           epochs (default 30)\n"
	       "      --lr X               learning rate (default 1e-4)\n"
	       "      --min-lr X           cosine schedule floor (default 0)\n"
	       "      --weight-decay X     weight decay (default 0)\n"
	       "      --optimizer NAME     adam (default), adamw or sgd\n"
	       "      --momentum X         SGD momentum (default 0.9)\n"
	       "      --schedule NAME      none, cosine (default: over the run) or\n"
	       "                           cosine-restart\n"
	       "      --restart N          cosine-restart period in epochs (default 10)\n"
	       "      --augment NAME       none, basic, paper (default) or paper+stain\n"
	       "      --no-balance         shuffle instead of class-balanced sampling\n"
	       "      --init FILE          start from pretrained weights (fc re-initialised\n"
	       "                           if needed)\n"
	       "      --cache auto|none    keep decoded images in memory (default auto)\n"
	       "      --log FILE           one JSON object per epoch (JSON Lines)\n"
	       "      --checkpoint FILE    save the training state after every epoch\n"
	       "      --resume FILE        continue from a checkpoint\n"
	       "      --precision P        fp32 (default) or bf16: convolutions, batch norm\n"
	       "                           and activations in bf16 (fp32 weights, optimizer\n"
	       "                           and model), where the CPU has AVX512_BF16 or AMX\n"
	       "  -j, --threads N          threads (default: LI_THREADS or all CPUs)\n"
	       "      --loader-threads N   image decoding threads (default 1)\n"
	       "      --seed N             seed of initialisation, sampling, augmentation\n"
	       "                           (default 1)\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\nSee li-train(1).\n");
	exit(LI_EXIT_OK);
}

/* Append word a, shell-quoted when it needs it, at *p. */
static void append_quoted(char **p, const char *a)
{
	bool plain = *a != '\0';
	for (const char *q = a; *q; q++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=+,:@%", *q))
			plain = false;
	if (plain) {
		size_t len = strlen(a);
		memcpy(*p, a, len);
		*p += len;
		return;
	}
	*(*p)++ = '\'';
	for (const char *q = a; *q; q++) {
		if (*q == '\'') {
			memcpy(*p, "'\\''", 4);
			*p += 4;
		} else {
			*(*p)++ = *q;
		}
	}
	*(*p)++ = '\'';
}

/* The command line (words as given, before getopt_long permutes argv),
 * shell-quoted, without the words of the option arguments in `drop` (each
 * --resume FILE, so a resumed run records the command of an uninterrupted
 * one: "--resume" "FILE" and "--resume=FILE" alike). */
static char *quote_command(int argc, char **words, const char *const *drop, int ndrop)
{
	size_t cap = 4 * strlen(li_prog()) + 4;
	for (int i = 0; i < argc; i++)
		cap += 4 * strlen(words[i]) + 3;
	char *s = li_malloc(cap), *p = s;
	bool *skip = li_calloc(argc ? argc : 1, sizeof *skip);
	if (!s || !skip)
		li_die_lib();
	for (int k = 0; k < ndrop; k++)
		for (int i = 1; i < argc; i++) {
			uintptr_t d = (uintptr_t)drop[k], w = (uintptr_t)words[i];
			if (d == w) /* a word of its own: drop the option word too */
				skip[i] = skip[i - 1] = true;
			else if (d > w && d <= w + strlen(words[i])) /* --resume=FILE */
				skip[i] = true;
		}
	for (int i = 0; i < argc; i++) {
		if (skip[i])
			continue;
		if (p != s)
			*p++ = ' ';
		append_quoted(&p, i == 0 ? li_prog() : words[i]); /* the program by name, as typed */
	}
	*p = '\0';
	free(skip);
	return s;
}

/* Cross-checks of the options, after parsing. */
static void check_args(opts *o, int argc, char **argv)
{
	if (argc - optind != 1)
		li_usage_error(argc == optind ? "a training list is required"
					      : "one training list only (got %d)", argc - optind);
	o->train = argv[optind];
	if (!o->output)
		li_usage_error("an output model is required (-o MODEL)");
	const char *outs[] = {o->output, o->last, o->log, o->checkpoint};
	const char *onames[] = {"-o", "--last", "--log", "--checkpoint"};
	for (int i = 0; i < 4; i++) {
		if (outs[i] && strcmp(outs[i], "-") == 0)
			li_usage_error("%s cannot be stdout", onames[i]);
		for (int j = 0; j < i; j++)
			if (outs[i] && outs[j] && strcmp(outs[i], outs[j]) == 0)
				li_usage_error("'%s' is given for two outputs", outs[i]);
	}
	if (o->select == SELECT_AUROC && !o->valid)
		li_usage_error("--select auroc needs --valid");
	if (o->patience && !o->valid)
		li_usage_error("--patience needs --valid");
	if (o->min_lr > o->lr)
		li_usage_error("--min-lr must not exceed --lr");
	if (o->width != 64 && o->arch != ARCH_RESNET10)
		li_usage_error("--width is for resnet10 (resnet18 and resnet34 are torchvision's, width 64)");
	if (!o->threads)
		o->threads = li_cli_default_threads();
}

static opts parse_args(int argc, char **argv)
{
	opts o = {.arch = ARCH_RESNET18, .width = 64, .input_size = 224, .channels = 3, .batch = 32,
		  .epochs = 30, .lr = 1e-4, .momentum = 0.9, .schedule = LI_SCHED_COSINE, .restart = 10,
		  .balance = true, .augment = LI_AUG_PAPER, .loader_threads = 1, .seed = 1};
	enum { O_SELECT = 256, O_LAST, O_PATIENCE, O_WIDTH, O_CHANNELS, O_LR, O_MINLR, O_WD, O_OPTIM,
	       O_MOM, O_SCHED, O_RESTART, O_AUG, O_NOBAL, O_INIT, O_CACHE, O_LOG, O_CKPT, O_RESUME,
	       O_LT, O_SEED, O_PREC };
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"valid", required_argument, NULL, 'v'},
		{"select", required_argument, NULL, O_SELECT},
		{"last", required_argument, NULL, O_LAST},
		{"patience", required_argument, NULL, O_PATIENCE},
		{"arch", required_argument, NULL, 'a'},
		{"width", required_argument, NULL, O_WIDTH},
		{"input-size", required_argument, NULL, 's'},
		{"channels", required_argument, NULL, O_CHANNELS},
		{"batch", required_argument, NULL, 'b'},
		{"epochs", required_argument, NULL, 'e'},
		{"lr", required_argument, NULL, O_LR},
		{"min-lr", required_argument, NULL, O_MINLR},
		{"weight-decay", required_argument, NULL, O_WD},
		{"optimizer", required_argument, NULL, O_OPTIM},
		{"momentum", required_argument, NULL, O_MOM},
		{"schedule", required_argument, NULL, O_SCHED},
		{"restart", required_argument, NULL, O_RESTART},
		{"augment", required_argument, NULL, O_AUG},
		{"no-balance", no_argument, NULL, O_NOBAL},
		{"init", required_argument, NULL, O_INIT},
		{"cache", required_argument, NULL, O_CACHE},
		{"log", required_argument, NULL, O_LOG},
		{"checkpoint", required_argument, NULL, O_CKPT},
		{"resume", required_argument, NULL, O_RESUME},
		{"threads", required_argument, NULL, 'j'},
		{"loader-threads", required_argument, NULL, O_LT},
		{"seed", required_argument, NULL, O_SEED},
		{"precision", required_argument, NULL, O_PREC},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	/* the words as given, before getopt_long permutes argv */
	char **words = li_malloc_array(argc, sizeof *words);
	const char **resumes = li_malloc_array(argc, sizeof *resumes);
	if (!words || !resumes)
		li_die_lib();
	memcpy(words, argv, sizeof *words * argc);
	int nresumes = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:v:a:s:b:e:j:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case 'v': o.valid = optarg; break;
		case O_SELECT: o.select = li_opt_choice("--select", optarg, select_names); break;
		case O_LAST: o.last = optarg; break;
		case O_PATIENCE: o.patience = (int)li_opt_long("--patience", optarg, 0, 1000000); break;
		case 'a': o.arch = li_opt_choice("--arch", optarg, arch_names); break;
		case O_WIDTH: o.width = (int)li_opt_long("--width", optarg, 1, 4096); break;
		case 's': o.input_size = (int)li_opt_long("--input-size", optarg, 32, 8192); break;
		case O_CHANNELS: {
			o.channels = (int)li_opt_long("--channels", optarg, 1, 3);
			if (o.channels == 2)
				li_usage_error("--channels: '2' is not 1 or 3");
			break;
		}
		case 'b': o.batch = (int)li_opt_long("--batch", optarg, 2, 65536); break;
		case 'e': o.epochs = (int)li_opt_long("--epochs", optarg, 1, 1000000); break;
		case O_LR: o.lr = li_opt_double("--lr", optarg, 0, 1e6); break;
		case O_MINLR: o.min_lr = li_opt_double("--min-lr", optarg, 0, 1e6); break;
		case O_WD: o.weight_decay = li_opt_double("--weight-decay", optarg, 0, 1e6); break;
		case O_OPTIM: o.optim = li_opt_choice("--optimizer", optarg, optim_names); break;
		case O_MOM: o.momentum = li_opt_double("--momentum", optarg, 0, 0.999999); break;
		case O_SCHED: o.schedule = li_opt_choice("--schedule", optarg, sched_names); break;
		case O_RESTART: o.restart = (int)li_opt_long("--restart", optarg, 1, 1000000); break;
		case O_AUG: o.augment = li_opt_choice("--augment", optarg, li_aug_names); break;
		case O_NOBAL: o.balance = false; break;
		case O_INIT: o.init = optarg; break;
		case O_CACHE: o.cache = li_opt_choice("--cache", optarg, cache_names); break;
		case O_LOG: o.log = optarg; break;
		case O_PREC: o.bf16 = li_opt_choice("--precision", optarg, precision_names) == 1; break;
		case O_CKPT: o.checkpoint = optarg; break;
		case O_RESUME: o.resume = resumes[nresumes++] = optarg; break;
		case 'j': o.threads = (int)li_opt_long("--threads", optarg, 1, 1024); break;
		case O_LT: o.loader_threads = (int)li_opt_long("--loader-threads", optarg, 1, 256); break;
		case O_SEED: o.seed = li_opt_u64("--seed", optarg); break;
		case 'h': usage();
		case 'V': li_cli_version_and(li_net_describe_cpu);
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	o.command = quote_command(argc, words, resumes, nresumes);
	if (o.resume)
		o.resume_command = quote_command(argc, words, NULL, 0);
	free(words);
	free(resumes);
	check_args(&o, argc, argv);
	return o;
}

/* Every output must be writable before the first batch: a missing or
 * read-only directory fails now, not after the last epoch. Temporaries that
 * killed runs (kill -9) left for these outputs are removed. */
static void check_outputs(const opts *o)
{
	const char *outs[] = {o->output, o->last, o->log, o->checkpoint};
	for (size_t i = 0; i < LI_ARRAY_LEN(outs); i++)
		if (outs[i] && (li_atomic_check(outs[i]) < 0 || li_atomic_remove_stale(outs[i]) < 0))
			li_die_lib();
	/* the log is appended to: an existing one must take it */
	int fd = o->log ? open(o->log, O_WRONLY | O_APPEND) : -1;
	if (o->log && fd < 0 && errno != ENOENT)
		li_die("cannot write '%s': %s", o->log, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ---- data ---- */

typedef struct dataset {
	li_list *list;
	size_t n;
	int *label;
	li_source *src; /* image files or slide regions, borrowing the list's fields */
	size_t count[2];
} dataset;

static dataset load_list(const char *path)
{
	dataset d = {0};
	if (!(d.list = li_list_read(path)))
		li_die_lib();
	li_list *l = d.list;
	int lc = li_list_require(l, "label");
	if (lc < 0)
		li_die_lib();
	if (l->nrows == 0)
		li_die("'%s': the list has no rows", l->name);
	d.n = l->nrows;
	d.label = li_malloc_array(d.n, sizeof *d.label);
	d.src = li_malloc_array(d.n, sizeof *d.src);
	li_source_cols sc;
	if (!d.label || !d.src || li_source_cols_find(l, &sc) < 0)
		li_die_lib();
	/* Regions are checked against their slides now (rows are drawn at
	 * random, so a bad one could otherwise surface hours into the run). */
	li_source_reader *rd = sc.slide >= 0 ? li_source_reader_new(0) : NULL;
	if (sc.slide >= 0 && !rd)
		li_die_lib();
	for (size_t i = 0; i < d.n; i++) {
		if (li_list_label(l, &l->rows[i], lc, &d.label[i]) < 0)
			li_die_lib();
		if (li_source_from_row(l, &sc, &l->rows[i], &d.src[i]) < 0 ||
		    (rd && li_source_check(rd, &d.src[i]) < 0))
			li_die_lib();
		d.count[d.label[i]]++;
	}
	li_source_reader_free(rd);
	return d;
}

/* The epoch's sample sequence: class-balanced draws with replacement (each
 * class equally likely, then a uniform row within it: the distribution of
 * WeightedRandomSampler with weights 1 / class count and N samples), or a
 * shuffle. A function of (seed, epoch) only. */
static void epoch_order(const dataset *d, bool balance, uint64_t seed, int epoch, size_t *by_class[2],
			size_t *out)
{
	li_rng r = li_rng_derive(seed, STREAM_SAMPLER + (uint64_t)epoch);
	if (balance) {
		for (size_t k = 0; k < d->n; k++) {
			int c = (int)li_rng_below(&r, 2);
			out[k] = by_class[c][li_rng_below(&r, d->count[c])];
		}
		return;
	}
	for (size_t k = 0; k < d->n; k++)
		out[k] = k;
	for (size_t k = d->n - 1; k > 0; k--) {
		size_t j = li_rng_below(&r, k + 1), t = out[k];
		out[k] = out[j];
		out[j] = t;
	}
}

/* ---- network state copies (best epoch) ---- */

static size_t state_bytes(const li_net *net)
{
	size_t b = 0;
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		b += t->numel * li_dtype_size(t->dtype);
	}
	return b;
}

static void state_copy(li_net *net, unsigned char *buf, bool to_net)
{
	size_t off = 0;
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		size_t b = t->numel * li_dtype_size(t->dtype);
		if (to_net)
			memcpy(t->data, buf + off, b);
		else
			memcpy(buf + off, t->data, b);
		off += b;
	}
	if (to_net)
		li_net_params_changed(net);
}

/* ---- training state ---- */

typedef struct state {
	int epoch;          /* completed epochs */
	int best_epoch;     /* 0: none yet */
	double best_score;  /* lower is better (loss, or -auroc) */
	double best_loss;   /* valid loss at best_epoch (NAN without --valid) */
	int bad_epochs;     /* since the best */
	unsigned char *best;
} state;

static void fmt_double(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%.17g", v);
}

static int save_checkpoint(const char *path, li_net *net, li_optim *opt, const state *s,
			   const opts *o, size_t ntrain)
{
	li_st_writer *w = li_st_writer_new();
	if (!w)
		return -1;
	int rc = 0;
	size_t off = 0;
	for (int i = 0; i < li_net_tensor_count(net) && rc == 0; i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		rc = li_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
		if (rc == 0 && s->best_epoch > 0) {
			char name[64];
			snprintf(name, sizeof name, "best/%s", t->name);
			rc = li_st_writer_add(w, name, t->dtype, t->ndim, t->shape, s->best + off);
		}
		off += t->numel * li_dtype_size(t->dtype);
	}
	int64_t n = (int64_t)li_optim_size(opt);
	for (int k = 0; k < 2 && rc == 0; k++) {
		float *st = li_optim_state(opt, k);
		if (st) {
			const char *name = k ? "optim/state1" : "optim/state0";
			rc = li_st_writer_add(w, name, LI_DT_F32, 1, &n, st);
		}
	}
	char buf[8][64];
	snprintf(buf[0], 64, "%d", s->epoch);
	snprintf(buf[1], 64, "%lld", (long long)li_optim_steps(opt));
	snprintf(buf[2], 64, "%d", s->best_epoch);
	fmt_double(buf[3], 64, s->best_score);
	fmt_double(buf[4], 64, s->best_loss);
	snprintf(buf[5], 64, "%d", s->bad_epochs);
	snprintf(buf[6], 64, "%llu", (unsigned long long)o->seed);
	snprintf(buf[7], 64, "%zu", ntrain);
	const struct {
		const char *key, *value;
	} meta[] = {{"format", CKPT_FORMAT}, {"epoch", buf[0]}, {"steps", buf[1]},
		    {"best_epoch", buf[2]}, {"best_score", buf[3]}, {"best_loss", buf[4]},
		    {"bad_epochs", buf[5]}, {"seed", buf[6]}, {"train_rows", buf[7]},
		    {"command", o->command}, {"resume_command", o->resume_command}};
	for (size_t i = 0; i < LI_ARRAY_LEN(meta) && rc == 0; i++)
		if (meta[i].value)
			rc = li_st_writer_meta(w, meta[i].key, meta[i].value);
	if (rc == 0)
		rc = li_st_writer_save(w, path);
	li_st_writer_free(w);
	return rc;
}

static long meta_long(const li_st *st, const char *key)
{
	const char *v = li_st_meta(st, key);
	long x;
	if (!v || li_parse_long(v, &x) < 0)
		li_die("'%s': not a li-train checkpoint (metadata '%s' is missing or bad)", li_st_path(st), key);
	return x;
}

static double meta_double(const li_st *st, const char *key)
{
	const char *v = li_st_meta(st, key);
	if (!v)
		li_die("'%s': not a li-train checkpoint (metadata '%s' is missing)", li_st_path(st), key);
	if (strcmp(v, "nan") == 0 || strcmp(v, "-nan") == 0)
		return NAN;
	double x;
	if (li_parse_double(v, &x) < 0)
		li_die("'%s': metadata '%s' is not a number", li_st_path(st), key);
	return x;
}

static void load_checkpoint(const char *path, li_net *net, li_optim *opt, state *s, const opts *o,
			    size_t ntrain)
{
	li_st *st = li_st_open(path);
	if (!st)
		li_die_lib();
	const char *fmt = li_st_meta(st, "format");
	if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
		li_die("'%s': not a li-train checkpoint", path);
	if ((uint64_t)meta_long(st, "seed") != o->seed)
		li_die("'%s': the checkpoint was made with --seed %s", path, li_st_meta(st, "seed"));
	if ((size_t)meta_long(st, "train_rows") != ntrain)
		li_die("'%s': the checkpoint was made with a training list of %s rows, not %zu", path,
		       li_st_meta(st, "train_rows"), ntrain);
	s->epoch = (int)meta_long(st, "epoch");
	s->best_epoch = (int)meta_long(st, "best_epoch");
	s->bad_epochs = (int)meta_long(st, "bad_epochs");
	s->best_score = meta_double(st, "best_score");
	s->best_loss = meta_double(st, "best_loss");
	li_optim_set_steps(opt, meta_long(st, "steps"));
	size_t off = 0;
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		char name[64];
		snprintf(name, sizeof name, "best/%s", t->name);
		for (int k = 0; k < 2; k++) {
			if (k == 1 && s->best_epoch == 0)
				break;
			const char *nm = k ? name : t->name;
			void *dst = k ? (void *)(s->best + off) : t->data;
			int rc = t->dtype == LI_DT_I64 ? li_st_read_i64(st, nm, t->ndim, t->shape, dst)
						       : li_st_read_f32(st, nm, t->ndim, t->shape, dst);
			if (rc < 0)
				li_die_lib();
		}
		off += t->numel * li_dtype_size(t->dtype);
	}
	int64_t n = (int64_t)li_optim_size(opt);
	for (int k = 0; k < 2; k++) {
		float *sv = li_optim_state(opt, k);
		if (sv && li_st_read_f32(st, k ? "optim/state1" : "optim/state0", 1, &n, sv) < 0)
			li_die_lib();
	}
	li_net_params_changed(net);
	li_st_close(st);
}

/* Keep the log lines of epochs <= epoch (after a resume). */
static void trim_log(const char *path, int epoch)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return;
		li_die("cannot read '%s': %s", path, strerror(errno));
	}
	li_atomic at;
	FILE *out = li_atomic_open(&at, path);
	if (!out)
		li_die_lib();
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		json_t *e = j ? json_object_get(j, "epoch") : NULL;
		if (e && json_is_integer(e) && json_integer_value(e) <= epoch && strchr(line, '\n'))
			fputs(line, out);
		json_decref(j);
	}
	free(line);
	fclose(f);
	if (li_atomic_commit(&at) < 0)
		li_die_lib();
}

static void json_num(char *buf, size_t n, double v)
{
	if (isfinite(v))
		snprintf(buf, n, "%.6g", v);
	else
		snprintf(buf, n, "null");
}

/* One line, one write: a killed run leaves whole lines only. */
static void log_epoch(const char *path, int epoch, double lr, double train_loss, double vloss,
		      double vauroc, double vauprc, double seconds, double ips)
{
	char f[6][32], line[512];
	json_num(f[0], 32, lr);
	json_num(f[1], 32, train_loss);
	json_num(f[2], 32, vloss);
	json_num(f[3], 32, vauroc);
	json_num(f[4], 32, vauprc);
	json_num(f[5], 32, ips);
	int len = snprintf(line, sizeof line,
			   "{\"epoch\": %d, \"lr\": %s, \"train_loss\": %s, \"valid_loss\": %s, "
			   "\"valid_auroc\": %s, \"valid_auprc\": %s, \"seconds\": %.3f, "
			   "\"images_per_s\": %s}\n",
			   epoch, f[0], f[1], f[2], f[3], f[4], seconds, f[5]);
	/* A failed append (full disk) leaves the log as it was: no partial line,
	 * and no empty file where there was none. */
	struct stat st;
	bool existed = stat(path, &st) == 0;
	FILE *fp = fopen(path, "a");
	if (!fp)
		li_die("cannot write '%s': %s", path, strerror(errno));
	errno = 0;
	bool bad = fwrite(line, 1, (size_t)len, fp) != (size_t)len;
	bad |= fclose(fp) != 0;
	if (bad) {
		int err = errno ? errno : EIO;
		if (!existed)
			unlink(path);
		else if (S_ISREG(st.st_mode) && truncate(path, st.st_size) != 0)
			li_warn("cannot restore '%s' to its %lld bytes: %s", path,
				(long long)st.st_size, strerror(errno));
		li_die("cannot write '%s': %s", path, strerror(err));
	}
}

/* ---- validation ---- */

typedef struct vresult {
	double loss, auroc, auprc;
} vresult;

/* The next decoded batch; an image that could not be read ends the run. */
static li_batch *wait_batch(li_loader *L)
{
	li_batch *b = li_loader_wait(L);
	if (!b)
		li_die_lib();
	for (int i = 0; i < b->n; i++)
		if (!b->ok[i])
			li_die("%s", b->err[i]);
	return b;
}

static vresult validate(li_net *net, li_loader *L, const dataset *v, size_t id_base, int batch,
			float *logits, float *dlogits, int *labels, double *probs)
{
	li_net_set_training(net, false);
	double loss_sum = 0;
	size_t *ids = li_malloc_array(batch, sizeof *ids);
	if (!ids)
		li_die_lib();
	size_t nb = (v->n + batch - 1) / batch, submitted = 0;
	for (size_t k = 0; k < nb; k++) {
		while (submitted < nb && submitted <= k + 1) {
			size_t s0 = submitted * batch;
			int n = (int)(v->n - s0 < (size_t)batch ? v->n - s0 : (size_t)batch);
			for (int i = 0; i < n; i++)
				ids[i] = id_base + s0 + i;
			if (li_loader_submit(L, n, v->src + s0, ids, NULL, false,
					     (void *)(uintptr_t)s0) < 0)
				li_die_lib();
			submitted++;
		}
		li_batch *b = wait_batch(L);
		size_t s0 = (size_t)(uintptr_t)b->user;
		for (int i = 0; i < b->n; i++)
			labels[i] = v->label[s0 + i];
		if (li_net_forward(net, b->x, b->n, logits, NULL) < 0)
			li_die_lib();
		loss_sum += li_softmax_xent(logits, labels, b->n, 2, NULL, dlogits) * b->n;
		for (int i = 0; i < b->n; i++) {
			double z0 = logits[2 * i], z1 = logits[2 * i + 1];
			probs[s0 + i] = 1.0 / (1.0 + exp(z0 - z1));
		}
	}
	free(ids);
	vresult r = {.loss = loss_sum / (double)v->n};
	r.auroc = li_metrics_auroc(v->label, probs, v->n);
	r.auprc = li_metrics_auprc(v->label, probs, v->n);
	li_error_clear();
	return r;
}

/* ---- the story: set up, one epoch at a time, finish ---- */

typedef struct data {
	dataset tr, va; /* loader ids: training rows 0..N-1, validation rows N.. */
} data;

static data load_data(const opts *o)
{
	data d = {.tr = load_list(o->train)};
	if (d.tr.count[0] == 0 || d.tr.count[1] == 0)
		li_die("'%s': every row has label %d: training needs both classes", d.tr.list->name,
		       d.tr.count[0] ? 0 : 1);
	if (o->valid) {
		d.va = load_list(o->valid);
		if (d.va.count[0] == 0 || d.va.count[1] == 0)
			li_warn("'%s': every row has label %d: validation AUROC and AUPRC are undefined",
				d.va.list->name, d.va.count[0] ? 0 : 1);
	}
	return d;
}

static void dataset_free(dataset *d)
{
	li_list_free(d->list);
	free(d->label);
	free(d->src);
}

typedef struct trainer {
	li_net *net;
	li_model_meta meta; /* input size and normalisation; the saved models' metadata */
	li_optim *opt;
	li_sched sched;
	state s;
	li_loader *L;
	size_t nbatches;
	size_t *order, *by_class[2];
	uint64_t *streams;
	li_source *src; /* the batch being submitted */
	int *labels;
	float *logits, *dlogits;
	double *probs;
	bool said_resize;
	double last_vloss;
} trainer;

/* A fresh net, or --init's weights (fc re-initialised for another class count). */
static li_net *make_net(const opts *o)
{
	li_net_config cfg;
	li_net_config_default(&cfg);
	snprintf(cfg.arch, sizeof cfg.arch, "%s", arch_names[o->arch]);
	cfg.in_channels = o->channels;
	cfg.width = o->width;
	li_net *net;
	if (!o->init || o->resume) {
		if (!(net = li_net_new(&cfg)))
			li_die_lib();
		li_net_init(net, o->seed);
		return net;
	}
	li_model_meta im;
	bool fc_reset = false;
	net = li_net_load(o->init, &cfg, o->seed, &fc_reset, &im);
	if (!net && im.net.arch[0] && im.net.in_channels != o->channels)
		li_die("'%s': the model has %d input channel%s, training uses %d (--channels)", o->init,
		       im.net.in_channels, im.net.in_channels == 1 ? "" : "s", o->channels);
	if (!net)
		li_die_lib();
	li_model_meta_free(&im);
	if (fc_reset)
		li_warn("'%s' has another number of classes: fc re-initialised for 2", o->init);
	return net;
}

static li_loader *make_loader(const opts *o, const data *d, const li_model_meta *meta)
{
	li_loader_config lc = {.size = o->input_size, .channels = o->channels, .max_batch = o->batch,
			       .threads = o->loader_threads, .augment = o->augment, .seed = o->seed,
			       .ncache = d->tr.n + d->va.n};
	memcpy(lc.mean, meta->mean, sizeof lc.mean);
	memcpy(lc.std, meta->std, sizeof lc.std);
	if (o->cache == CACHE_AUTO) {
		size_t need = li_loader_cache_estimate(d->tr.n + d->va.n, o->input_size, o->channels);
		size_t cap = li_loader_cache_auto_budget();
		lc.cache_bytes = need < cap ? need : cap;
	}
	li_loader *L = li_loader_new(&lc);
	if (!L)
		li_die_lib();
	return L;
}

static void alloc_buffers(trainer *t, const opts *o, const data *d)
{
	t->order = li_malloc_array(d->tr.n, sizeof *t->order);
	t->by_class[0] = li_malloc_array(d->tr.count[0], sizeof(size_t));
	t->by_class[1] = li_malloc_array(d->tr.count[1], sizeof(size_t));
	t->streams = li_malloc_array(o->batch, sizeof *t->streams);
	t->src = li_malloc_array(o->batch, sizeof *t->src);
	t->labels = li_malloc_array(o->batch, sizeof *t->labels);
	t->logits = li_malloc_array((size_t)o->batch * 2, sizeof *t->logits);
	t->dlogits = li_malloc_array((size_t)o->batch * 2, sizeof *t->dlogits);
	t->probs = d->va.n ? li_malloc_array(d->va.n, sizeof *t->probs) : NULL;
	if (!t->order || !t->by_class[0] || !t->by_class[1] || !t->streams || !t->src || !t->labels ||
	    !t->logits || !t->dlogits || (d->va.n && !t->probs))
		li_die_lib();
	size_t nc[2] = {0, 0};
	for (size_t i = 0; i < d->tr.n; i++)
		t->by_class[d->tr.label[i]][nc[d->tr.label[i]]++] = i;
}

/* The net, optimizer, schedule and state (from --resume), the log trimmed to
 * the epochs done, the loader and the buffers of one batch. */
static void setup(trainer *t, const opts *o, const data *d)
{
	*t = (trainer){.last_vloss = NAN, .s = {.best_score = INFINITY, .best_loss = NAN}};
	t->net = make_net(o);
	li_net_set_threads(t->net, o->threads);
	/* validation in bf16 too: the speed asked for, and the scores li-score
	 * --precision bf16 gives */
	if (o->bf16 && (li_net_set_train_bf16(t->net, true) < 0 || li_net_set_bf16(t->net, true) < 0))
		li_die_lib();
	if (li_net_prepare(t->net, o->batch, o->input_size, o->input_size) < 0)
		li_die_lib();
	li_model_meta_default(&t->meta, o->channels);
	t->meta.input_size = o->input_size;
	t->meta.command = o->command;

	li_optim_config oc;
	li_optim_config_default(&oc, o->optim);
	oc.weight_decay = o->weight_decay;
	if (o->optim == LI_OPTIM_SGD)
		oc.momentum = o->momentum;
	if (!(t->opt = li_optim_new(&oc, li_net_param_count(t->net))))
		li_die_lib();
	t->sched = (li_sched){.kind = o->schedule, .base_lr = o->lr, .min_lr = o->min_lr,
			      .t_max = o->schedule == LI_SCHED_COSINE_RESTART ? o->restart : o->epochs};

	if (!(t->s.best = li_malloc(state_bytes(t->net))))
		li_die_lib();
	if (o->resume) {
		load_checkpoint(o->resume, t->net, t->opt, &t->s, o, d->tr.n);
		if (t->s.epoch >= o->epochs)
			li_warn("'%s' has completed %d epochs already", o->resume, t->s.epoch);
	}
	if (o->log)
		trim_log(o->log, o->resume ? t->s.epoch : 0);
	t->L = make_loader(o, d, &t->meta);
	alloc_buffers(t, o, d);
	/* A final batch of one image is left out: batch norm statistics of a
	 * single image are degenerate (zero variance at 1x1 spatial size). */
	t->nbatches = d->tr.n / o->batch + (d->tr.n % o->batch > 1);
}

/* Queue batch k of the epoch's order for decoding and augmentation. */
static void submit_batch(trainer *t, const opts *o, const dataset *tr, int epoch, size_t k)
{
	size_t s0 = k * o->batch;
	int n = (int)(tr->n - s0 < (size_t)o->batch ? tr->n - s0 : (size_t)o->batch);
	for (int i = 0; i < n; i++) {
		t->src[i] = tr->src[t->order[s0 + i]];
		t->streams[i] = (uint64_t)epoch * tr->n + s0 + i;
	}
	if (li_loader_submit(t->L, n, t->src, t->order + s0, t->streams, true, (void *)(uintptr_t)s0) < 0)
		li_die_lib();
}

/* One pass over the training rows; returns the sum of the batch losses times
 * their sizes, *seen the images. */
static double train_epoch(trainer *t, const opts *o, const dataset *tr, int epoch, double lr, size_t *seen)
{
	epoch_order(tr, o->balance, o->seed, epoch, t->by_class, t->order);
	li_net_set_training(t->net, true);
	li_progress prog;
	char label[32];
	snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o->epochs);
	li_progress_start(&prog, label, t->nbatches);
	double loss_sum = 0;
	size_t submitted = 0;
	*seen = 0;
	for (size_t k = 0; k < t->nbatches; k++) {
		while (submitted < t->nbatches && submitted <= k + 1)
			submit_batch(t, o, tr, epoch, submitted++);
		li_batch *b = wait_batch(t->L);
		if (!t->said_resize && li_loader_resized(t->L) > 0) {
			li_warn("images are not %dx%d: resizing them (--input-size)", o->input_size,
				o->input_size);
			t->said_resize = true;
		}
		for (int i = 0; i < b->n; i++)
			t->labels[i] = tr->label[b->id[i]];
		if (li_net_forward(t->net, b->x, b->n, t->logits, NULL) < 0)
			li_die_lib();
		double loss = li_softmax_xent(t->logits, t->labels, b->n, 2, NULL, t->dlogits);
		li_net_zero_grad(t->net);
		if (li_net_backward(t->net, t->dlogits) < 0)
			li_die_lib();
		li_optim_step(t->opt, li_net_params(t->net), li_net_grads(t->net), lr);
		li_net_params_changed(t->net);
		if (!isfinite(loss))
			li_die("epoch %d: the training loss is not finite (try a smaller --lr)", epoch + 1);
		loss_sum += loss * b->n;
		*seen += b->n;
		char extra[64];
		snprintf(extra, sizeof extra, "loss %.4f", loss_sum / *seen);
		li_progress_update(&prog, k + 1, extra);
	}
	li_progress_end(&prog);
	return loss_sum;
}

/* Train, validate, keep the best, log and checkpoint one epoch; false when
 * --patience says to stop. */
static bool run_epoch(trainer *t, const opts *o, const data *d, int epoch)
{
	double t0 = li_now(), lr = li_sched_lr(&t->sched, epoch);
	size_t seen;
	double loss_sum = train_epoch(t, o, &d->tr, epoch, lr, &seen);
	double train_s = li_now() - t0;
	vresult vr = {NAN, NAN, NAN};
	if (d->va.n)
		vr = validate(t->net, t->L, &d->va, d->tr.n, o->batch, t->logits, t->dlogits, t->labels,
			      t->probs);
	state *s = &t->s;
	double score = !d->va.n ? -(double)epoch : o->select == SELECT_LOSS ? vr.loss : -vr.auroc;
	/* without --valid the last epoch is the best; NaN AUROC never improves */
	if (s->best_epoch == 0 || score < s->best_score) {
		s->best_epoch = epoch + 1;
		s->best_score = score;
		s->best_loss = vr.loss;
		s->bad_epochs = 0;
		state_copy(t->net, s->best, false);
	} else {
		s->bad_epochs++;
	}
	s->epoch = epoch + 1;
	t->last_vloss = vr.loss;
	double secs = li_now() - t0;
	if (o->log)
		log_epoch(o->log, epoch + 1, lr, loss_sum / (seen ? seen : 1), vr.loss, vr.auroc, vr.auprc,
			  secs, seen / (train_s > 0 ? train_s : 1e-9));
	if (o->checkpoint && save_checkpoint(o->checkpoint, t->net, t->opt, s, o, d->tr.n) < 0)
		li_die_lib();
	if (o->patience && s->bad_epochs >= o->patience) {
		li_note("no improvement for %d epochs: stopping after epoch %d", o->patience, epoch + 1);
		return false;
	}
	return true;
}

static void save_model(trainer *t, const char *path, int epoch, double vloss)
{
	t->meta.epoch = epoch;
	t->meta.valid_loss = vloss;
	if (li_net_save(t->net, path, &t->meta) < 0)
		li_die_lib();
}

/* The outputs: --last from the current weights, -o from the best. */
static void finish(trainer *t, const opts *o)
{
	if (o->last)
		save_model(t, o->last, t->s.epoch, t->last_vloss);
	if (t->s.best_epoch > 0)
		state_copy(t->net, t->s.best, true);
	else
		t->s.best_epoch = t->s.epoch;
	save_model(t, o->output, t->s.best_epoch, t->s.best_loss);
}

static void trainer_free(trainer *t)
{
	li_loader_free(t->L);
	li_optim_free(t->opt);
	li_net_free(t->net);
	free(t->s.best);
	free(t->order);
	free(t->by_class[0]);
	free(t->by_class[1]);
	free(t->streams);
	free(t->src);
	free(t->labels);
	free(t->logits);
	free(t->dlogits);
	free(t->probs);
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = parse_args(argc, argv);
	check_outputs(&o);
	data d = load_data(&o);
	trainer t;
	setup(&t, &o, &d);
	for (int epoch = t.s.epoch; epoch < o.epochs; epoch++)
		if (!run_epoch(&t, &o, &d, epoch))
			break;
	finish(&t, &o);
	trainer_free(&t);
	dataset_free(&d.tr);
	dataset_free(&d.va);
	free(o.command);
	free(o.resume_command);
	return LI_EXIT_OK;
}
