/* li_net.c: torchvision ResNets (BasicBlock) as an explicit list of layers:
 * stem (conv1, bn1, relu), maxpool, BasicBlocks, avgpool, fc. Each layer kind
 * has a small vtable (forward, backward); a conv + BN (+ ReLU) pair is a unit
 * that the stem and the blocks share, and the units own the parameters.
 *
 * Memory: the net is built in two passes of the same builder (count, then
 * assign), so parameters, gradients, BN buffers and folded weights are single
 * arenas. li_net_prepare lays out one activation arena: what backward needs
 * (conv outputs before BN, block outputs, a1, pooled argmax), three gradient
 * buffers used in rotation, one scratch as large as the stem output (its ReLU
 * output lives there only until max pooling; backward recomputes the ReLU mask
 * from the conv output) and one im2col buffer. Eval forward reuses the gradient
 * buffers and never touches the training activations. */
#include "li_net.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "li_cache.h"
#include "li_cpu.h"
#include "li_dnnl.h"
#include "li_error.h"
#include "li_nn.h"
#include "li_rng.h"
#include "li_util.h"

#define MAX_UNITS 64
#define MAX_LAYERS 32
#define MAX_TENSORS 512
#define PICKS 4
/* The cache file (li_cache.h) of the decisions of AUTO and MEASURED. */
#define CONV_CACHE "conv-choice"
#ifndef LI_VERSION
#define LI_VERSION "unknown"
#endif
/* Bumped when our kernels' speed changes within a version, so that the
 * cache's remembered decisions of the older kernels are timed again
 * (2: Winograd F(4x4, 3x3) for layer1 and layer2). */
#define ENGINE_REV 2
/* im2col budget: large enough for big GEMMs, small next to the activations. */
#define COL_BUDGET ((size_t)8 << 20)

typedef struct unit {
	li_conv conv;
	li_bn bn;
	float *wf, *bf;   /* BN folded into the conv, for eval */
	float *uf;        /* wf Winograd-transformed (3x3/1 convs), or NULL */
	bool uf_ready;    /* uf holds the transform of the current wf */
	int h, w, oh, ow; /* input and output spatial size (prepare) */
	float *z;         /* conv output kept for BN backward */
	/* eval on oneDNN's convolution alone (li_dnnl.h; LI_NET_CONV_ONEDNN_EACH),
	 * made for batch dn_n (NULL: it could not be), its weights those of
	 * the current wf when dn_ready */
	li_dnnl_conv *dn;
	int dn_n;
	bool dn_ready;
	li_net_prof prof;
} unit;

typedef struct li_layer li_layer;
typedef struct layer_ops {
	const char *kind;
	/* stored: training (or unfolded eval) into the kept activations;
	 * otherwise eval with folded BN into the rotating buffers. Returns the output. */
	float *(*forward)(li_net *net, li_layer *l, float *in, bool stored);
	/* dout: gradient of the output (may be clobbered); returns the input gradient. */
	float *(*backward)(li_net *net, li_layer *l, float *dout);
} layer_ops;

struct li_layer {
	const layer_ops *ops;
	int cin, cout, h, w, oh, ow;
	unit *u[3];      /* stem: u[0]; block: conv1/bn1, conv2/bn2, downsample or NULL */
	float *in, *out; /* kept activations (training) */
	float *a1;       /* block: relu(bn1(conv1(x))) */
	uint8_t *argmax; /* maxpool */
	li_net_prof prof;
};

struct li_net {
	li_net_config cfg;
	int blocks[4];
	/* built */
	int pass, nunits, nlayers, ntensors;
	unit units[MAX_UNITS];
	li_layer layers[MAX_LAYERS];
	li_net_tensor tensors[MAX_TENSORS];
	li_fc fc;
	size_t nparams, nbuf, nnbt, nfold, nstat;
	float *params, *grads, *bufs, *fold, *stat;
	int64_t *nbt;
	/* prepared */
	int max_batch, in_h, in_w, n;
	float *arena, *xin, *scratch, *g[3], *col, *feat, *dfeat, *feat_eval;
	int n_stored; /* batch of the kept training activations */
	size_t col_floats, gsize, arena_bytes;
	/* state */
	li_pool *pool;
	int threads;
	bool training, fold_bn, fold_valid, stored_valid;
	bool ours_live; /* ours ran since its pages were last given back (release_ours) */
	li_net_conv conv_choice; /* LI_CONV (li_net_conv) */
	bool bf16;               /* eval convs in bf16 on oneDNN */
	bool train_bf16;         /* training steps in bf16 on oneDNN's training plan */
	void *dn_ws;             /* li_dnnl_conv_run's workspace, the largest unit's */
	size_t dn_ws_bytes;
	/* the eval forward as one oneDNN plan (li_dnnl.h), made for batch
	 * plan_n (plan NULL there: it could not be made, ours runs); its
	 * weights those of the current folded copy when plan_ready */
	li_dnnl_plan *plan;
	int plan_n;
	bool plan_ready;
	/* training forward and backward as oneDNN plans (li_dnnl.h), one per
	 * batch size of the last two seen (the last batch of an epoch is often
	 * smaller); NULL where one could not be made (ours runs). tplan_cur:
	 * the plan whose forward backward must follow, or NULL (ours ran). */
	li_dnnl_train *tplan[2];
	int tplan_n[2], tplan_next;
	li_dnnl_train *tplan_cur;
	/* AUTO and MEASURED: whether the plan runs, decided for the last few
	 * (mode, batch size) pairs seen (n 0: an empty entry); *_force >= 0
	 * forces a path while timing */
	struct pick {
		int n;
		bool train, plan;
	} picks[PICKS];
	int pick_next, train_force, eval_force;
	li_net_prof *prof[MAX_UNITS + MAX_LAYERS];
	int nprof;
};


/* ---- builder: pass 0 counts, pass 1 assigns arena pointers ---- */

static void *add_tensor(li_net *net, const char *name, li_dtype dt, int ndim, const int64_t *shape,
			int arena)
{
	size_t numel = 1;
	for (int i = 0; i < ndim; i++)
		numel *= (size_t)shape[i];
	size_t *count = arena == 0 ? &net->nparams : arena == 1 ? &net->nbuf : &net->nnbt;
	size_t off = *count;
	*count += numel;
	int idx = net->ntensors++;
	LI_ASSERT(idx < MAX_TENSORS);
	if (net->pass == 0)
		return NULL;
	li_net_tensor *t = &net->tensors[idx];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->dtype = dt;
	t->ndim = ndim;
	memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
	t->numel = numel;
	t->trainable = arena == 0;
	t->param_offset = arena == 0 ? off : 0;
	t->data = arena == 0 ? (void *)(net->params + off)
		  : arena == 1 ? (void *)(net->bufs + off) : (void *)(net->nbt + off);
	return t->data;
}

static float *take(li_net *net, size_t *count, float *base, size_t n)
{
	size_t off = *count;
	*count += n;
	return net->pass ? base + off : NULL;
}

static float *add_param(li_net *net, const char *prefix, const char *suffix, int ndim, int64_t a,
			int64_t b, int64_t c, int64_t d, float **grad)
{
	char name[64];
	snprintf(name, sizeof name, "%s.%s", prefix, suffix);
	int64_t shape[4] = {a, b, c, d};
	float *p = add_tensor(net, name, LI_DT_F32, ndim, shape, 0);
	*grad = p ? net->grads + (p - net->params) : NULL;
	return p;
}

/* A conv (weight `cname`.weight) and its BN (`bname`.*), torchvision names. */
static unit *add_unit(li_net *net, const char *cname, const char *bname, int cin, int cout, int k,
		      int stride, int pad)
{
	LI_ASSERT(net->nunits < MAX_UNITS);
	unit *u = &net->units[net->nunits++];
	memset(u, 0, sizeof *u);
	li_conv *c = &u->conv;
	*c = (li_conv){.cin = cin, .cout = cout, .kh = k, .kw = k, .stride = stride, .pad = pad};
	c->w = add_param(net, cname, "weight", 4, cout, cin, k, k, &c->dw);
	li_bn *bn = &u->bn;
	bn->c = cout;
	bn->gamma = add_param(net, bname, "weight", 1, cout, 0, 0, 0, &bn->dgamma);
	bn->beta = add_param(net, bname, "bias", 1, cout, 0, 0, 0, &bn->dbeta);
	char name[64];
	int64_t shape[1] = {cout};
	snprintf(name, sizeof name, "%s.running_mean", bname);
	bn->running_mean = add_tensor(net, name, LI_DT_F32, 1, shape, 1);
	snprintf(name, sizeof name, "%s.running_var", bname);
	bn->running_var = add_tensor(net, name, LI_DT_F32, 1, shape, 1);
	snprintf(name, sizeof name, "%s.num_batches_tracked", bname);
	bn->num_batches_tracked = add_tensor(net, name, LI_DT_I64, 0, shape, 2);
	bn->mean = take(net, &net->nstat, net->stat, (size_t)cout);
	bn->invstd = take(net, &net->nstat, net->stat, (size_t)cout);
	bn->scale = take(net, &net->nstat, net->stat, (size_t)cout);
	bn->shift = take(net, &net->nstat, net->stat, (size_t)cout);
	u->wf = take(net, &net->nfold, net->fold, (size_t)cout * cin * k * k);
	u->bf = take(net, &net->nfold, net->fold, (size_t)cout);
	/* filled on first use only, so its pages cost nothing until then; for
	 * the tile the conv uses (LI_WINO is fixed for the process) */
	u->uf = k == 3 && stride == 1 && pad == 1
			? take(net, &net->nfold, net->fold, li_wino_u_floats(li_conv_wino_m(c), cin, cout))
			: NULL;
	snprintf(u->prof.name, sizeof u->prof.name, "%s", cname);
	return u;
}

static const layer_ops stem_ops, maxpool_ops, block_ops, avgpool_ops, fc_ops;

static li_layer *add_layer(li_net *net, const layer_ops *ops, const char *name)
{
	LI_ASSERT(net->nlayers < MAX_LAYERS);
	li_layer *l = &net->layers[net->nlayers++];
	memset(l, 0, sizeof *l);
	l->ops = ops;
	snprintf(l->prof.name, sizeof l->prof.name, "%s", name);
	return l;
}

static void build(li_net *net)
{
	net->nunits = net->nlayers = net->ntensors = 0;
	net->nparams = net->nbuf = net->nnbt = net->nfold = net->nstat = 0;
	int w = net->cfg.width;
	li_layer *l = add_layer(net, &stem_ops, "conv1");
	l->u[0] = add_unit(net, "conv1", "bn1", net->cfg.in_channels, w, 7, 2, 3);
	add_layer(net, &maxpool_ops, "maxpool");
	int cin = w;
	for (int s = 0; s < 4; s++) {
		int cout = w << s;
		for (int b = 0; b < net->blocks[s]; b++) {
			char p[32], cn[48], bn[48];
			snprintf(p, sizeof p, "layer%d.%d", s + 1, b);
			int stride = s > 0 && b == 0 ? 2 : 1;
			l = add_layer(net, &block_ops, p);
			snprintf(cn, sizeof cn, "%s.conv1", p);
			snprintf(bn, sizeof bn, "%s.bn1", p);
			l->u[0] = add_unit(net, cn, bn, cin, cout, 3, stride, 1);
			snprintf(cn, sizeof cn, "%s.conv2", p);
			snprintf(bn, sizeof bn, "%s.bn2", p);
			l->u[1] = add_unit(net, cn, bn, cout, cout, 3, 1, 1);
			if (stride != 1 || cin != cout) {
				snprintf(cn, sizeof cn, "%s.downsample.0", p);
				snprintf(bn, sizeof bn, "%s.downsample.1", p);
				l->u[2] = add_unit(net, cn, bn, cin, cout, 1, stride, 0);
			}
			cin = cout;
		}
	}
	add_layer(net, &avgpool_ops, "avgpool");
	add_layer(net, &fc_ops, "fc");
	li_fc *fc = &net->fc;
	fc->in = cin;
	fc->out = net->cfg.classes;
	fc->w = add_param(net, "fc", "weight", 2, fc->out, fc->in, 0, 0, &fc->dw);
	fc->b = add_param(net, "fc", "bias", 1, fc->out, 0, 0, 0, &fc->db);
}

void li_net_config_default(li_net_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->arch, sizeof cfg->arch, "resnet18");
	cfg->classes = 2;
	cfg->in_channels = 3;
	cfg->width = 64;
}

static int arch_blocks(const char *arch, int blocks[4])
{
	static const struct {
		const char *name;
		int b[4];
	} archs[] = {{"resnet10", {1, 1, 1, 1}}, {"resnet18", {2, 2, 2, 2}}, {"resnet34", {3, 4, 6, 3}}};
	for (size_t i = 0; i < LI_ARRAY_LEN(archs); i++)
		if (strcmp(arch, archs[i].name) == 0) {
			memcpy(blocks, archs[i].b, sizeof archs[i].b);
			return 0;
		}
	return li_error("unknown architecture '%s' (expected resnet10, resnet18 or resnet34)", arch);
}

static const char *const conv_names[] = {[LI_NET_CONV_AUTO] = "auto",
					   [LI_NET_CONV_MEASURED] = "measured",
					   [LI_NET_CONV_OURS] = "ours",
					   [LI_NET_CONV_ONEDNN] = "onednn",
					   [LI_NET_CONV_ONEDNN_EACH] = "onednn-each"};

const char *li_net_conv_name(li_net_conv choice) { return conv_names[choice]; }

const char *li_net_conv_what(li_net_conv choice, bool train, char *buf, size_t size)
{
	char path[4096];
	bool cache = li_cache_path(CONV_CACHE, path, sizeof path) == 0;
	bool avx512 = li_cpu_isa() >= LI_ISA_AVX512;
	switch (choice) {
	case LI_NET_CONV_OURS: snprintf(buf, size, "ours"); break;
	case LI_NET_CONV_ONEDNN: snprintf(buf, size, "one oneDNN plan"); break;
	case LI_NET_CONV_ONEDNN_EACH:
		snprintf(buf, size, train ? "ours" : "each conv alone on oneDNN");
		break;
	case LI_NET_CONV_MEASURED:
		snprintf(buf, size,
			 "the faster of ours and one oneDNN plan, timed at each run's first "
			 "batch of a size (%s%s)", cache ? "remembered in " : "no cache",
			 cache ? path : "");
		break;
	default:
		if (!cache)
			snprintf(buf, size, "%s (no cache)", avx512 ? "one oneDNN plan" : "ours");
		else if (avx512)
			snprintf(buf, size,
				 "the faster of ours and one oneDNN plan, timed once and "
				 "remembered in %s", path);
		else
			snprintf(buf, size,
				 "ours, or the plan where LI_CONV=measured found it faster (%s)",
				 path);
	}
	return buf;
}

int li_net_conv_env(li_net_conv *choice)
{
	const char *const *names = conv_names;
	const char *v = getenv("LI_CONV");
	*choice = LI_NET_CONV_AUTO;
	if (!v || !*v)
		return 0;
	for (size_t i = 0; i < LI_ARRAY_LEN(conv_names); i++)
		if (strcmp(v, names[i]) == 0) {
			*choice = (li_net_conv)i;
			return 0;
		}
	char buf[64];
	return li_error("LI_CONV='%s' is not auto, measured, ours, onednn or onednn-each", li_escape(v, buf, sizeof buf));
}

li_net *li_net_new(const li_net_config *cfg)
{
	int blocks[4] = {0};
	li_net_conv conv_choice;
	if (li_cpu_check_env() < 0 || li_net_conv_env(&conv_choice) < 0 || li_conv_wino_forced() < 0)
		return NULL;
	if (arch_blocks(cfg->arch, blocks) < 0)
		return NULL;
	if (cfg->classes < 2 || cfg->classes > 1000000) {
		li_error("number of classes must be between 2 and 1000000, not %d", cfg->classes);
		return NULL;
	}
	if (cfg->in_channels != 1 && cfg->in_channels != 3) {
		li_error("input channels must be 1 or 3, not %d", cfg->in_channels);
		return NULL;
	}
	if (cfg->width < 1 || cfg->width > 1024) {
		li_error("width must be between 1 and 1024, not %d", cfg->width);
		return NULL;
	}
	li_net *net = li_calloc(1, sizeof *net);
	if (!net)
		return NULL;
	net->cfg = *cfg;
	net->cfg.arch[sizeof net->cfg.arch - 1] = '\0';
	memcpy(net->blocks, blocks, sizeof blocks);
	net->threads = 1;
	net->fold_bn = true;
	net->conv_choice = conv_choice;
	net->train_force = net->eval_force = -1;
	net->pass = 0;
	build(net);
	net->params = li_calloc(net->nparams, sizeof(float));
	net->grads = li_calloc(net->nparams, sizeof(float));
	net->bufs = li_calloc(net->nbuf, sizeof(float));
	net->nbt = li_calloc(net->nnbt ? net->nnbt : 1, sizeof(int64_t));
	net->fold = li_malloc_array(net->nfold, sizeof(float));
	net->stat = li_calloc(net->nstat, sizeof(float));
	net->pool = li_pool_new(1);
	if (!net->params || !net->grads || !net->bufs || !net->nbt || !net->fold || !net->stat ||
	    !net->pool) {
		li_net_free(net);
		return NULL;
	}
	net->pass = 1;
	build(net);
	for (int i = 0; i < net->nlayers; i++)
		net->prof[net->nprof++] = &net->layers[i].prof;
	for (int i = 0; i < net->nunits; i++)
		net->prof[net->nprof++] = &net->units[i].prof;
	/* running_var starts at 1 so an uninitialised-but-built net is sane */
	for (int i = 0; i < net->nunits; i++)
		for (int c = 0; c < net->units[i].bn.c; c++)
			net->units[i].bn.running_var[c] = 1.0f;
	return net;
}

static void forget_picks(li_net *net)
{
	memset(net->picks, 0, sizeof net->picks);
	net->pick_next = 0;
}

static void drop_train_plans(li_net *net)
{
	for (int i = 0; i < 2; i++) {
		li_dnnl_train_free(net->tplan[i]);
		net->tplan[i] = NULL;
		net->tplan_n[i] = 0;
	}
	net->tplan_cur = NULL;
}

void li_net_free(li_net *net)
{
	if (!net)
		return;
	free(net->params);
	free(net->grads);
	free(net->bufs);
	free(net->nbt);
	free(net->fold);
	free(net->stat);
	li_free_aligned(net->arena);
	for (int i = 0; i < net->nunits; i++)
		li_dnnl_conv_free(net->units[i].dn);
	li_free_aligned(net->dn_ws);
	li_dnnl_plan_free(net->plan);
	drop_train_plans(net);
	li_pool_free(net->pool);
	free(net);
}

const li_net_config *li_net_get_config(const li_net *net) { return &net->cfg; }
int li_net_feature_dim(const li_net *net) { return net->fc.in; }
size_t li_net_param_count(const li_net *net) { return net->nparams; }
float *li_net_params(li_net *net) { return net->params; }
float *li_net_grads(li_net *net) { return net->grads; }
void li_net_zero_grad(li_net *net) { memset(net->grads, 0, sizeof(float) * net->nparams); }
void li_net_params_changed(li_net *net) { net->fold_valid = false; }
/* Only one kind of oneDNN plan is kept at a time, so that memory peaks at
 * the larger of the two, as with ours (a plan is made again in about 0.3 s
 * for ResNet18 at batch 32): training drops the eval plan, eval drops the
 * training plans unless a backward is still to come. */
void li_net_set_training(li_net *net, bool training)
{
	if (training == net->training)
		return;
	net->training = training;
	if (training) {
		li_dnnl_plan_free(net->plan);
		net->plan = NULL;
		net->plan_n = 0;
	} else if (!net->tplan_cur) {
		drop_train_plans(net);
	}
}
void li_net_set_bn_folding(li_net *net, bool fold) { net->fold_bn = fold; }
int li_net_tensor_count(const li_net *net) { return net->ntensors; }
const li_net_tensor *li_net_tensor_at(const li_net *net, int i) { return &net->tensors[i]; }

const li_net_tensor *li_net_tensor_find(const li_net *net, const char *name)
{
	for (int i = 0; i < net->ntensors; i++)
		if (strcmp(net->tensors[i].name, name) == 0)
			return &net->tensors[i];
	return NULL;
}

void li_net_set_conv(li_net *net, li_net_conv choice)
{
	net->conv_choice = choice;
	drop_train_plans(net);
	forget_picks(net);
	for (int i = 0; i < net->nunits; i++)
		net->units[i].dn_n = 0;
	net->plan_n = 0;
}

/* 0 where the CPU runs bf16 natively, else -1 + li_error naming what is missing. */
static int bf16_check(void)
{
	if (li_dnnl_bf16_native())
		return 0;
	return li_error("bf16 needs a CPU with AVX512_BF16 or AMX; this one runs %s%s",
			li_isa_name(li_cpu_isa()),
			li_cpu_isa() < li_cpu_isa_hw() ? " (capped by LI_ISA)" : "");
}

int li_net_set_train_bf16(li_net *net, bool on)
{
	if (on && bf16_check() < 0)
		return -1;
	if (net->train_bf16 != on)
		drop_train_plans(net);
	net->train_bf16 = on;
	return 0;
}

int li_net_set_bf16(li_net *net, bool on)
{
	if (on && bf16_check() < 0)
		return -1;
	net->bf16 = on;
	for (int i = 0; i < net->nunits; i++)
		net->units[i].dn_n = 0;
	net->plan_n = 0;
	return 0;
}

void li_net_force_im2col(li_net *net, bool on)
{
	for (int i = 0; i < net->nunits; i++)
		net->units[i].conv.algo = on ? LI_CONV_IM2COL : LI_CONV_AUTO;
}

void li_net_set_threads(li_net *net, int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads == net->threads)
		return;
	li_pool *p = li_pool_new(threads);
	if (!p) /* keep the old pool: slower, still correct */
		return;
	li_pool_free(net->pool);
	net->pool = p;
	net->threads = threads;
	for (int i = 0; i < net->nunits; i++)
		net->units[i].dn_n = 0; /* made again for the new count */
	net->plan_n = 0;
	drop_train_plans(net);
	forget_picks(net); /* decided again for the new count */
}

/* ---- initialisation (torchvision), one RNG stream per tensor ---- */

static void init_tensor(li_net *net, int i, uint64_t seed)
{
	li_net_tensor *t = &net->tensors[i];
	li_rng r = li_rng_derive(seed, (uint64_t)i);
	const char *dot = strrchr(t->name, '.');
	if (t->dtype == LI_DT_I64) {
		*(int64_t *)t->data = 0;
		return;
	}
	float *d = t->data;
	if (strncmp(t->name, "fc.", 3) == 0) {
		/* nn.Linear default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias alike */
		double bound = 1.0 / sqrt((double)net->fc.in);
		for (size_t k = 0; k < t->numel; k++)
			d[k] = (float)((2.0 * li_rng_uniform(&r) - 1.0) * bound);
	} else if (t->ndim == 4) {
		/* kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / fan_out) */
		double std = sqrt(2.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
		for (size_t k = 0; k < t->numel; k++)
			d[k] = (float)(std * li_rng_normal(&r));
	} else {
		float v = strcmp(dot, ".weight") == 0 || strcmp(dot, ".running_var") == 0 ? 1.0f : 0.0f;
		for (size_t k = 0; k < t->numel; k++)
			d[k] = v;
	}
}

void li_net_init(li_net *net, uint64_t seed)
{
	for (int i = 0; i < net->ntensors; i++)
		init_tensor(net, i, seed);
	net->fold_valid = false;
}

void li_net_init_fc(li_net *net, uint64_t seed)
{
	for (int i = 0; i < net->ntensors; i++)
		if (strncmp(net->tensors[i].name, "fc.", 3) == 0)
			init_tensor(net, i, seed);
	net->fold_valid = false;
}

/* ---- prepare: shapes and the activation arena ---- */

int li_net_prepare(li_net *net, int max_batch, int height, int width)
{
	if (max_batch < 1 || max_batch > 65536)
		return li_error("batch size must be between 1 and 65536, not %d", max_batch);
	if (height < 32 || width < 32 || height > 8192 || width > 8192)
		return li_error("input size %dx%d is out of range (32 to 8192)", width, height);
	size_t B = (size_t)max_batch;
	if (B * (size_t)height * width > INT_MAX / 4)
		return li_error("batch %d of %dx%d images is too large", max_batch, width, height);
	/* Pass 0 sums the sizes, pass 1 hands out pointers. */
	for (int pass = 0; pass < 2; pass++) {
		size_t total = 0;
		float *base = net->arena;
#define TAKE(n) (total += ((size_t)(n) + 15) & ~(size_t)15, pass ? base + total - (((size_t)(n) + 15) & ~(size_t)15) : NULL)
		net->xin = TAKE(B * net->cfg.in_channels * height * width);
		int h = height, w = width, c = net->cfg.in_channels;
		size_t gsize = 0, scratch = 0, col = 0;
		for (int i = 0; i < net->nlayers; i++) {
			li_layer *l = &net->layers[i];
			l->cin = c;
			l->h = h;
			l->w = w;
			if (l->ops == &stem_ops || l->ops == &block_ops) {
				for (int k = 0; k < 3; k++) {
					unit *u = l->u[k];
					if (!u)
						continue;
					u->h = k == 1 ? l->u[0]->oh : h;
					u->w = k == 1 ? l->u[0]->ow : w;
					u->dn_n = 0; /* made again for the new size */
					net->plan_n = 0;
					li_conv_out_hw(&u->conv, u->h, u->w, &u->oh, &u->ow);
					size_t cf = li_conv_col_floats(&u->conv, max_batch, u->h, u->w,
								       COL_BUDGET);
					col = cf > col ? cf : col;
					u->z = TAKE(B * u->conv.cout * u->oh * u->ow);
				}
				unit *last = l->u[l->ops == &block_ops ? 1 : 0];
				c = last->conv.cout;
				h = last->oh;
				w = last->ow;
			} else if (l->ops == &maxpool_ops) {
				li_maxpool_out_hw(h, w, 3, 2, 1, &h, &w);
			} else if (l->ops == &avgpool_ops) {
				h = w = 1;
			}
			l->cout = c;
			l->oh = h;
			l->ow = w;
			size_t in = B * l->cin * l->h * l->w, out = B * c * h * w;
			if (l->ops == &stem_ops) {
				scratch = out;
				l->out = NULL; /* lives in the scratch; set below */
			} else if (l->ops == &maxpool_ops) {
				l->out = TAKE(out);
				l->argmax = (uint8_t *)TAKE((out + 3) / 4);
				gsize = out > gsize ? out : gsize;
			} else if (l->ops == &block_ops) {
				l->a1 = TAKE(out);
				l->out = TAKE(out);
				gsize = in > gsize ? in : gsize;
				gsize = out > gsize ? out : gsize;
			} else {
				l->out = NULL; /* avgpool: net->feat; fc: the caller's logits */
			}
		}
		net->scratch = TAKE(scratch);
		net->layers[0].out = net->scratch;
		for (int k = 0; k < 3; k++)
			net->g[k] = TAKE(gsize);
		net->col = TAKE(col);
		net->feat = TAKE(B * net->fc.in);
		net->dfeat = TAKE(B * net->fc.in);
		net->feat_eval = TAKE(B * net->fc.in);
		net->layers[net->nlayers - 2].out = net->feat;
		for (int i = 0; i < net->nlayers; i++)
			net->layers[i].in = i == 0 ? net->xin : net->layers[i - 1].out;
		net->gsize = gsize;
		net->col_floats = col;
#undef TAKE
		if (pass == 0) {
			li_free_aligned(net->arena);
			net->arena = NULL;
			size_t bytes;
			if (li_size_mul(total, sizeof(float), &bytes) < 0)
				return li_error("batch %d of %dx%d images is too large", max_batch, width,
						height);
			net->arena = li_malloc_aligned(bytes);
			net->arena_bytes = net->arena ? bytes : 0;
			if (!net->arena) {
				net->max_batch = 0;
				return -1;
			}
		}
	}
	net->max_batch = max_batch;
	net->in_h = height;
	net->in_w = width;
	net->stored_valid = false;
	drop_train_plans(net);
	forget_picks(net);
	return 0;
}

/* ---- units: conv + BN (+ ReLU) ---- */

/* Whether this eval conv (folded weights) of a batch of n runs alone on
 * oneDNN's convolution, with reorders from and to ours: with ONEDNN_EACH,
 * and with ONEDNN where the plan could not be made. Anything oneDNN cannot
 * do here stays on ours; a conv not on it keeps no oneDNN memory. */
static bool use_dnnl(li_net *net, unit *u, int n)
{
	li_net_conv choice = net->conv_choice;
	if (net->bf16 || (choice != LI_NET_CONV_ONEDNN && choice != LI_NET_CONV_ONEDNN_EACH))
		return false;
	if (u->dn_n != n) {
		li_dnnl_conv_free(u->dn);
		u->dn_ready = false;
		u->dn_n = n;
		li_dnnl_threads(net->threads); /* the work split is fixed when it is made */
		u->dn = li_dnnl_conv_new(&u->conv, n, u->h, u->w, false);
		li_dnnl_threads(1);
		size_t ws = u->dn ? li_dnnl_conv_ws_bytes(u->dn) : 0;
		if (ws > net->dn_ws_bytes) {
			void *p = li_malloc_aligned(ws);
			if (p) {
				li_free_aligned(net->dn_ws);
				net->dn_ws = p;
				net->dn_ws_bytes = ws;
			}
		}
		if (ws > net->dn_ws_bytes) {
			li_dnnl_conv_free(u->dn);
			u->dn = NULL;
		}
	}
	if (u->dn && !u->dn_ready) {
		li_dnnl_conv_weights(u->dn, u->wf);
		u->dn_ready = true;
	}
	return u->dn != NULL;
}

/* y = beta y + conv(x), then act (li_act) unless NULL; the profile's
 * forward time includes act. */
static void conv_fwd(li_net *net, unit *u, const float *w, const float *x, int n, float *y,
		     float beta, const li_act *act)
{
	bool folded = w == u->wf && u->uf;
	bool dnnl = w == u->wf && use_dnnl(net, u, n);
	double t = li_now();
	if (dnnl) {
		li_dnnl_conv_run(u->dn, x, y, beta, net->threads, net->dn_ws);
		if (act)
			li_bias_act(y, u->conv.cout, (size_t)n * u->oh * u->ow, act->b1, act->b2,
				    act->relu, net->pool);
	} else {
		li_conv_forward_u(&u->conv, w, folded ? u->uf : NULL, folded ? &u->uf_ready : NULL,
				  x, n, u->h, u->w, y, beta, net->col, net->col_floats, act,
				  net->pool);
	}
	u->prof.forward_s += li_now() - t;
	u->prof.forward_flop += 2.0 * u->conv.cout * u->conv.cin * u->conv.kh * u->conv.kw *
				(double)n * u->oh * u->ow;
	u->prof.forward_calls++;
	u->prof.forward_path = dnnl ? "onednn-conv"
				    : li_conv_path(&u->conv, n, u->h, u->w, net->col_floats,
						   folded && u->uf_ready, false, false, net->pool);
}

static void conv_bwd(li_net *net, unit *u, const float *x, int n, const float *dy, float *dx,
		     bool add)
{
	double t = li_now();
	li_conv_backward(&u->conv, x, n, u->h, u->w, dy, dx, add, net->col, net->col_floats,
			 net->pool);
	u->prof.backward_s += li_now() - t;
	u->prof.backward_flop += (dx ? 4.0 : 2.0) * u->conv.cout * u->conv.cin * u->conv.kh *
				 u->conv.kw * (double)n * u->oh * u->ow;
	u->prof.backward_calls++;
	u->prof.backward_path = li_conv_path(&u->conv, n, u->h, u->w, net->col_floats, false, true,
					     dx != NULL, net->pool);
}

/* Stored path: z = conv(x) kept, y = act(bn(z) + add). */
static void unit_forward(li_net *net, unit *u, const float *x, int n, float *y, const float *add,
			 bool relu)
{
	conv_fwd(net, u, u->conv.w, x, n, u->z, 0.0f, NULL);
	li_bn_forward(&u->bn, u->z, n, u->oh * u->ow, y, add, relu, net->training, net->training,
		      net->pool);
}

/* BN folded into a private copy of the conv: w' = w * s, b' = beta - mean * s,
 * s = gamma / sqrt(running_var + eps). */
static void fold_all(li_net *net)
{
	for (int i = 0; i < net->nunits; i++) {
		unit *u = &net->units[i];
		li_conv *c = &u->conv;
		size_t k = (size_t)c->cin * c->kh * c->kw;
		for (int o = 0; o < c->cout; o++) {
			float s = (float)(u->bn.gamma[o] / sqrt((double)u->bn.running_var[o] + LI_BN_EPS));
			for (size_t j = 0; j < k; j++)
				u->wf[o * k + j] = c->w[o * k + j] * s;
			u->bf[o] = u->bn.beta[o] - u->bn.running_mean[o] * s + (c->b ? c->b[o] * s : 0.0f);
		}
		u->uf_ready = false;
		u->dn_ready = false;
	}
	net->plan_ready = false;
	net->fold_valid = true;
}

/* ---- stem: conv1, bn1, relu ---- */

static float *stem_forward(li_net *net, li_layer *l, float *in, bool stored)
{
	unit *u = l->u[0];
	if (stored) {
		unit_forward(net, u, in, net->n, net->scratch, NULL, true);
	} else {
		li_act act = {.b1 = u->bf, .relu = true};
		conv_fwd(net, u, u->wf, in, net->n, net->scratch, 0.0f, &act);
	}
	return net->scratch;
}

static float *stem_backward(li_net *net, li_layer *l, float *dout)
{
	unit *u = l->u[0];
	li_bn_backward(&u->bn, u->z, net->n, u->oh * u->ow, dout, dout, true, net->pool);
	conv_bwd(net, u, l->in, net->n, dout, NULL, false);
	return NULL;
}

static const layer_ops stem_ops = {"stem", stem_forward, stem_backward};

/* ---- max pool 3x3 / 2, pad 1 ---- */

static float *maxpool_forward(li_net *net, li_layer *l, float *in, bool stored)
{
	float *out = stored ? l->out : net->g[0];
	li_maxpool_forward(in, l->cin * net->n, l->h, l->w, 3, 2, 1, out, stored ? l->argmax : NULL,
			   net->pool);
	return out;
}

static float *maxpool_backward(li_net *net, li_layer *l, float *dout)
{
	li_maxpool_backward(dout, l->argmax, l->cin * net->n, l->h, l->w, 3, 2, 1, net->scratch,
			    net->pool);
	return net->scratch;
}

static const layer_ops maxpool_ops = {"maxpool", maxpool_forward, maxpool_backward};

/* ---- BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + identity) ---- */

/* The two rotating buffers that are not `busy`. */
static void others(li_net *net, const float *busy, float **a, float **b)
{
	int k = 0;
	float *o[2] = {NULL, NULL};
	for (int i = 0; i < 3; i++)
		if (net->g[i] != busy && k < 2)
			o[k++] = net->g[i];
	*a = o[0];
	*b = o[1];
}

static float *block_forward(li_net *net, li_layer *l, float *in, bool stored)
{
	unit *u1 = l->u[0], *u2 = l->u[1], *ud = l->u[2];
	int n = net->n;
	if (stored) {
		unit_forward(net, u1, in, n, l->a1, NULL, true);
		if (ud)
			unit_forward(net, ud, in, n, l->out, NULL, false);
		/* the residual add and final ReLU fused into bn2 */
		conv_fwd(net, u2, u2->conv.w, l->a1, n, u2->z, 0.0f, NULL);
		li_bn_forward(&u2->bn, u2->z, n, l->oh * l->ow, l->out, ud ? l->out : in, true,
			      net->training, net->training, net->pool);
		return l->out;
	}
	/* Eval, folded: conv2 accumulates onto the identity (GEMM beta = 1). */
	float *a1, *d;
	others(net, in, &a1, &d);
	float *out = in;
	if (ud) {
		conv_fwd(net, ud, ud->wf, in, n, d, 0.0f, NULL);
		out = d;
	}
	li_act act1 = {.b1 = u1->bf, .relu = true};
	li_act act2 = {.b1 = u2->bf, .b2 = ud ? ud->bf : NULL, .relu = true};
	conv_fwd(net, u1, u1->wf, in, n, a1, 0.0f, &act1);
	conv_fwd(net, u2, u2->wf, a1, n, out, 1.0f, &act2);
	return out;
}

static float *block_backward(li_net *net, li_layer *l, float *g)
{
	unit *u1 = l->u[0], *u2 = l->u[1], *ud = l->u[2];
	int n = net->n, ohw = l->oh * l->ow;
	size_t m = (size_t)n * ohw;
	float *dx, *t;
	others(net, g, &dx, &t);
	li_relu_backward(l->out, m * l->cout, g, g, net->pool);
	if (ud) {
		li_bn_backward(&ud->bn, ud->z, n, ohw, g, t, false, net->pool);
		conv_bwd(net, ud, l->in, n, t, dx, false);
	} else {
		memcpy(dx, g, sizeof(float) * m * l->cout);
	}
	li_bn_backward(&u2->bn, u2->z, n, ohw, g, g, false, net->pool);
	conv_bwd(net, u2, l->a1, n, g, t, false);
	li_bn_backward(&u1->bn, u1->z, n, ohw, t, t, true, net->pool);
	conv_bwd(net, u1, l->in, n, t, dx, true);
	return dx;
}

static const layer_ops block_ops = {"block", block_forward, block_backward};

/* ---- global average pool and fc ---- */

static float *avgpool_forward(li_net *net, li_layer *l, float *in, bool stored)
{
	/* eval keeps its own copy, so an eval pass between a training forward and
	 * its backward leaves fc's saved input alone */
	float *f = stored ? net->feat : net->feat_eval;
	li_avgpool_forward(in, l->cin, net->n, l->h * l->w, f);
	return f;
}

static float *avgpool_backward(li_net *net, li_layer *l, float *dout)
{
	li_avgpool_backward(dout, l->cin, net->n, l->h * l->w, net->g[0]);
	return net->g[0];
}

static const layer_ops avgpool_ops = {"avgpool", avgpool_forward, avgpool_backward};

/* fc's output pointer is passed in through l->out by li_net_forward. */
static float *fc_forward(li_net *net, li_layer *l, float *in, bool stored)
{
	(void)stored;
	li_fc_forward(&net->fc, in, net->n, l->out);
	l->prof.forward_flop += 2.0 * net->fc.in * net->fc.out * net->n;
	return l->out;
}

static float *fc_backward(li_net *net, li_layer *l, float *dout)
{
	li_fc_backward(&net->fc, net->feat, net->n, dout, net->dfeat);
	l->prof.backward_flop += 4.0 * net->fc.in * net->fc.out * net->n;
	return net->dfeat;
}

static const layer_ops fc_ops = {"fc", fc_forward, fc_backward};

/* ---- the whole net ---- */

/* FLOPs counted so far by a layer's convolutions (for per-layer GFLOP/s). */
static double unit_flop(const li_layer *l, bool backward)
{
	double f = 0;
	for (int k = 0; k < 3; k++)
		if (l->u[k])
			f += backward ? l->u[k]->prof.backward_flop : l->u[k]->prof.forward_flop;
	return f;
}

/* ---- eval as one oneDNN plan ---- */

/* Give the whole pages of [p, e) back to the system (they read as zeros
 * after, until written). */
static void release_pages(const void *p, const void *e)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)e;
	if (page <= 0 || b <= a)
		return;
	a = (a + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	b &= ~((uintptr_t)page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Before the eval plan runs after ours: ours' activations (scratch that its
 * next forward writes before it reads) and its cached Winograd weights
 * (made again on its next forward) go back to the system, so that a process
 * that scores batches of two sizes, one on each path (a last, smaller
 * batch), peaks at the larger path's memory, not at their sum (resnet18 at
 * batch 32 and 1: 415 MB, against 467 when both stayed). Kept: the plan's
 * input, its output and the features after it, and anything a training
 * step's backward still needs (stored_valid). */
static void release_ours(li_net *net)
{
	if (!net->ours_live || net->stored_valid || !net->arena)
		return;
	size_t in = (size_t)net->max_batch * net->cfg.in_channels * net->in_h * net->in_w;
	size_t g = (net->gsize + 15) & ~(size_t)15;
	release_pages(net->xin + ((in + 15) & ~(size_t)15), net->g[0]);
	release_pages(net->g[0] + g, net->feat_eval);
	for (int i = 0; i < net->nunits; i++) {
		unit *u = &net->units[i];
		if (!u->uf)
			continue;
		release_pages(u->uf, u->uf + li_wino_u_floats(li_conv_wino_m(&u->conv), u->conv.cin,
							       u->conv.cout));
		u->uf_ready = false;
	}
	net->ours_live = false;
}

static bool on_plan(li_net *net, bool train, int n, const float *x, float *logits);

/* The layers up to the global pooling, with BN folded, as a plan for n. */
static li_dnnl_plan *build_plan(li_net *net, int n)
{
	li_dnnl_plan *p = li_dnnl_plan_new(n, net->bf16);
	if (!p)
		return NULL;
	int a = li_dnnl_plan_input(p, net->cfg.in_channels, net->in_h, net->in_w);
	for (int i = 0; i < net->nlayers && a >= 0; i++) {
		li_layer *l = &net->layers[i];
		unit *u1 = l->u[0], *u2 = l->u[1], *ud = l->u[2];
		if (l->ops == &stem_ops) {
			a = li_dnnl_plan_conv(p, a, &u1->conv, u1->wf, u1->bf, -1, true);
		} else if (l->ops == &maxpool_ops) {
			a = li_dnnl_plan_maxpool(p, a, 3, 2, 1);
		} else if (l->ops == &block_ops) {
			int a1 = li_dnnl_plan_conv(p, a, &u1->conv, u1->wf, u1->bf, -1, true);
			int id = ud ? li_dnnl_plan_conv(p, a, &ud->conv, ud->wf, ud->bf, -1, false) : a;
			a = a1 < 0 || id < 0 ? -1
					     : li_dnnl_plan_conv(p, a1, &u2->conv, u2->wf, u2->bf, id, true);
		} else {
			break; /* global pooling and fc: ours, on the output */
		}
	}
	if (a < 0 || li_dnnl_plan_output(p, a) < 0 || li_dnnl_plan_finish(p) < 0) {
		li_dnnl_plan_free(p);
		return NULL;
	}
	return p;
}

/* Eval by the plan when one is wanted and can be made: true when it ran (the
 * logits and features written), false when ours must run; -1 + li_error in
 * bf16, which has no fallback. */
static int run_plan(li_net *net, int n, const float *x, float *logits, float *features)
{
	if (!net->bf16 && !on_plan(net, false, n, x, logits))
		return 0;
	release_ours(net); /* before the plan is made: its memory comes on top */
	if (net->plan_n != n) {
		li_dnnl_plan_free(net->plan);
		li_dnnl_threads(net->threads); /* the work split is fixed when it is made */
		net->plan = build_plan(net, n);
		li_dnnl_threads(1);
		net->plan_n = n;
		net->plan_ready = false;
		if (!net->plan && net->bf16)
			net->plan_n = 0;
	}
	if (!net->plan)
		return net->bf16 ? -1 : 0;
	if (!net->plan_ready) {
		li_dnnl_plan_weights(net->plan);
		net->plan_ready = true;
	}
	double t = li_now();
	float *y = net->g[0];
	li_dnnl_plan_run(net->plan, net->xin, y, net->threads);
	li_layer *pool = &net->layers[net->nlayers - 2], *fc = &net->layers[net->nlayers - 1];
	/* the plan's time is the first layer's (no per-layer split inside it) */
	net->layers[0].prof.forward_s += li_now() - t;
	net->layers[0].prof.forward_calls++;
	for (int i = 0; i < net->nunits; i++) {
		unit *u = &net->units[i];
		u->prof.forward_path = net->bf16 ? "onednn-bf16" : "onednn";
		u->prof.forward_calls++;
		u->prof.forward_flop += 2.0 * u->conv.cout * u->conv.cin * u->conv.kh * u->conv.kw *
					(double)n * u->oh * u->ow;
	}
	float *f = pool->ops->forward(net, pool, y, false);
	fc->out = logits;
	fc->ops->forward(net, fc, f, false);
	if (features)
		memcpy(features, f, sizeof(float) * (size_t)n * net->fc.in);
	return 1;
}

/* ---- training as a oneDNN plan ---- */

static li_dnnl_train *build_train_plan(li_net *net, int n)
{
	li_dnnl_train *p = li_dnnl_train_new(n, net->train_bf16);
	if (!p)
		return NULL;
	int a = li_dnnl_train_input(p, net->cfg.in_channels, net->in_h, net->in_w);
	for (int i = 0; i < net->nlayers && a >= 0; i++) {
		li_layer *l = &net->layers[i];
		unit *u1 = l->u[0], *u2 = l->u[1], *ud = l->u[2];
		if (l->ops == &stem_ops) {
			a = li_dnnl_train_unit(p, a, &u1->conv, &u1->bn, -1, true);
		} else if (l->ops == &maxpool_ops) {
			a = li_dnnl_train_maxpool(p, a, 3, 2, 1);
		} else if (l->ops == &block_ops) {
			int a1 = li_dnnl_train_unit(p, a, &u1->conv, &u1->bn, -1, true);
			int id = ud ? li_dnnl_train_unit(p, a, &ud->conv, &ud->bn, -1, false) : a;
			a = a1 < 0 || id < 0 ? -1
					     : li_dnnl_train_unit(p, a1, &u2->conv, &u2->bn, id, true);
		} else {
			break; /* global pooling and fc: ours */
		}
	}
	if (a < 0 || li_dnnl_train_output(p, a) < 0 || li_dnnl_train_finish(p) < 0) {
		li_dnnl_train_free(p);
		return NULL;
	}
	return p;
}

/* The training plan for batch n: made on first use (NULL where it cannot
 * be, and ours runs). */
static li_dnnl_train *train_plan(li_net *net, int n)
{
	for (int i = 0; i < 2; i++)
		if (net->tplan_n[i] == n)
			return net->tplan[i];
	int k = net->tplan_next;
	net->tplan_next ^= 1;
	li_dnnl_train_free(net->tplan[k]);
	li_dnnl_threads(net->threads); /* the work split is fixed when it is made */
	net->tplan[k] = build_train_plan(net, n);
	li_dnnl_threads(1);
	/* one that could not be made is remembered (ours runs), but in bf16,
	 * which has no fallback: tried again, so that each failure says why */
	net->tplan_n[k] = net->tplan[k] || !net->train_bf16 ? n : 0;
	return net->tplan[k];
}

/* Give the activation arena's pages back to the system: its content is
 * scratch that every forward writes before it reads (a fresh arena is all
 * zero pages too), so the next forward refaults them, zero. */
static void release_arena(li_net *net)
{
	if (net->arena)
		release_pages(net->arena, (char *)net->arena + net->arena_bytes);
}

/* Seconds of the two paths, ours and the plan, on n images of the prepared
 * input (x): a training step (forward, backward of a fixed logit gradient)
 * or an eval forward. Each runs once to warm up (the plan is made, weights
 * transformed), then `rounds` times, keeping its fastest. Ours goes first
 * and gives its activations' pages back before the plan runs, so the two
 * are never resident together: the timing's peak memory is the larger of
 * the two, not their sum. The running statistics, num_batches_tracked and
 * gradients that training steps touch are put back. false on any failure
 * (memory), nothing timed. */
static bool time_paths(li_net *net, bool train, int n, const float *x, float *logits, int rounds,
		       double *ours, double *theirs)
{
	size_t k = (size_t)n * net->cfg.classes;
	float *d = train ? li_malloc_array(k, sizeof(float)) : NULL;
	float *bufs = train ? li_malloc_array(net->nbuf, sizeof(float)) : NULL;
	float *grads = train ? li_malloc_array(net->nparams, sizeof(float)) : NULL;
	int64_t *nbt = train ? li_malloc_array(net->nnbt ? net->nnbt : 1, sizeof(int64_t)) : NULL;
	bool ok = !train || (d && bufs && grads && nbt);
	if (ok && train) {
		for (size_t i = 0; i < k; i++)
			d[i] = i % 2 ? 0.01f : -0.01f;
		memcpy(bufs, net->bufs, sizeof(float) * net->nbuf);
		memcpy(grads, net->grads, sizeof(float) * net->nparams);
		memcpy(nbt, net->nbt, sizeof(int64_t) * net->nnbt);
	}
	int *force = train ? &net->train_force : &net->eval_force;
	double best[2] = {0, 0};
	for (int plan = 0; ok && plan < 2; plan++) {
		*force = plan;
		for (int r = -1; r < rounds; r++) {
			double t = li_now();
			li_net_forward(net, x, n, logits, NULL);
			if (train)
				li_net_backward(net, d);
			t = li_now() - t;
			if (r == 0 || (r > 0 && t < best[plan]))
				best[plan] = t;
		}
		if (!plan)
			release_arena(net);
	}
	*force = -1;
	if (ok && train) {
		memcpy(net->bufs, bufs, sizeof(float) * net->nbuf);
		memcpy(net->grads, grads, sizeof(float) * net->nparams);
		memcpy(net->nbt, nbt, sizeof(int64_t) * net->nnbt);
	}
	free(d);
	free(bufs);
	free(grads);
	free(nbt);
	*ours = best[0];
	*theirs = best[1];
	return ok && best[0] > 0 && best[1] > 0;
}

/* Training forward by the plan: 1 when it ran (logits and features
 * written), 0 when ours must run; -1 + li_error in bf16, which has no
 * fallback (ours is fp32 only) and takes the plan without timing it. */
static int run_train_plan(li_net *net, int n, const float *x, float *logits, float *features)
{
	if (!net->train_bf16 && !on_plan(net, true, n, x, logits))
		return 0;
	li_dnnl_train *p = train_plan(net, n);
	if (!p && net->train_bf16) {
		char why[256];
		snprintf(why, sizeof why, "%s", li_errmsg());
		return li_error("bf16 training: %s", why);
	}
	if (!p)
		return 0;
	double t = li_now();
	li_dnnl_train_forward(p, net->xin, net->g[0], net->threads);
	net->layers[0].prof.forward_s += li_now() - t;
	net->layers[0].prof.forward_calls++;
	for (int i = 0; i < net->nunits; i++) {
		unit *u = &net->units[i];
		u->prof.forward_path = net->train_bf16 ? "onednn-train-bf16" : "onednn-train";
		u->prof.forward_calls++;
		u->prof.forward_flop += 2.0 * u->conv.cout * u->conv.cin * u->conv.kh * u->conv.kw *
					(double)n * u->oh * u->ow;
	}
	li_layer *pool = &net->layers[net->nlayers - 2], *fc = &net->layers[net->nlayers - 1];
	float *f = pool->ops->forward(net, pool, net->g[0], true);
	fc->out = logits;
	fc->ops->forward(net, fc, f, true);
	if (features)
		memcpy(features, f, sizeof(float) * (size_t)n * net->fc.in);
	net->tplan_cur = p;
	return 1;
}

static void backward_train_plan(li_net *net, float *dlogits)
{
	li_layer *pool = &net->layers[net->nlayers - 2], *fc = &net->layers[net->nlayers - 1];
	float *g = fc->ops->backward(net, fc, dlogits);
	g = pool->ops->backward(net, pool, g);
	double t = li_now();
	li_dnnl_train_backward(net->tplan_cur, g, net->threads);
	net->layers[0].prof.backward_s += li_now() - t;
	net->layers[0].prof.backward_calls++;
	for (int i = 0; i < net->nunits; i++) {
		unit *u = &net->units[i];
		u->prof.backward_path = net->train_bf16 ? "onednn-train-bf16" : "onednn-train";
		u->prof.backward_calls++;
		u->prof.backward_flop += 4.0 * u->conv.cout * u->conv.cin * u->conv.kh *
					 u->conv.kw * (double)net->n * u->oh * u->ow;
	}
}

/* ---- choosing between ours and the plans (AUTO, MEASURED) ---- */

/* The key of a decision in the cache: everything the two paths' speeds
 * depend on (the machine, the library versions, the net, the batch). */
static void pick_key(const li_net *net, bool train, int n, char *key, size_t size)
{
	char model[64], dnnl[32];
	li_cpu_model(model, sizeof model);
	for (char *c = model; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	int wino = li_conv_wino_forced(); /* 0, 2 or 4: li_net_new refused the rest */
	snprintf(key, size,
		 "%s n=%d %dx%d in=%d %s width=%d threads=%d isa=%s cpu=%s li=%s+%d wino=%d onednn=%s",
		 train ? "train" : "eval", n, net->in_w, net->in_h, net->cfg.in_channels,
		 net->cfg.arch, net->cfg.width, net->threads, li_isa_name(li_cpu_isa()), model,
		 LI_VERSION, ENGINE_REV, wino, li_dnnl_version(dnnl, sizeof dnnl));
}

/* AUTO and MEASURED: whether the plan runs this (mode, n), decided now.
 * AUTO takes the decision remembered in the cache for this machine and
 * shape; without one it times both where the CPU has AVX-512 (where either
 * may win) and remembers the result, or takes the plan untimed when there
 * is nowhere to remember it (so that runs agree to the bit), and takes ours
 * untimed below AVX-512 (ours is faster there). MEASURED always times both
 * and remembers the result. The plan must win by more than 10% (near ties
 * stay on ours); whatever fails in the timing leaves ours. */
static bool decide(li_net *net, bool train, int n, const float *x, float *logits)
{
	char key[LI_CACHE_LINE / 2], val[LI_CACHE_LINE];
	pick_key(net, train, n, key, sizeof key);
	bool store;
	if (net->conv_choice == LI_NET_CONV_AUTO) {
		if (li_cache_get(CONV_CACHE, key, val, sizeof val)) {
			if (strncmp(val, "onednn ", 7) == 0)
				return true;
			if (strncmp(val, "ours ", 5) == 0)
				return false;
		}
		if (li_cpu_isa() < LI_ISA_AVX512)
			return false;
		if (li_cache_check(CONV_CACHE) < 0)
			return true;
		store = true;
	} else {
		store = li_cache_check(CONV_CACHE) == 0;
	}
	double ours = 0, theirs = 0;
	/* where the plan cannot be made, both timings are of ours */
	bool timed = time_paths(net, train, n, x, logits, train ? 1 : 2, &ours, &theirs) &&
		     (train ? train_plan(net, n) != NULL : net->plan != NULL);
	bool plan = timed && theirs < 0.9 * ours;
	if (!plan && train) { /* the loser keeps no memory */
		drop_train_plans(net);
	} else if (!plan) {
		li_dnnl_plan_free(net->plan);
		net->plan = NULL;
		net->plan_n = 0;
	}
	if (timed && store) {
		snprintf(val, sizeof val, "%s %.6f %.6f", plan ? "onednn" : "ours", ours, theirs);
		li_cache_put(CONV_CACHE, key, val); /* not remembered: timed again next run */
	}
	return plan;
}

/* Whether the training step (train) or the eval forward of n images runs on
 * the plan (li_net_conv). */
static bool on_plan(li_net *net, bool train, int n, const float *x, float *logits)
{
	int force = train ? net->train_force : net->eval_force;
	if (force >= 0)
		return force;
	switch (net->conv_choice) {
	case LI_NET_CONV_ONEDNN: return true;
	case LI_NET_CONV_OURS:
	case LI_NET_CONV_ONEDNN_EACH: return false;
	default: break;
	}
	for (int i = 0; i < PICKS; i++)
		if (net->picks[i].n == n && net->picks[i].train == train)
			return net->picks[i].plan;
	bool plan = decide(net, train, n, x, logits);
	net->picks[net->pick_next] = (struct pick){.n = n, .train = train, .plan = plan};
	net->pick_next = (net->pick_next + 1) % PICKS;
	return plan;
}

int li_net_forward(li_net *net, const float *x, int n, float *logits, float *features)
{
	if (!net->max_batch)
		return li_error("the network is not prepared (call li_net_prepare)");
	if (n < 1 || n > net->max_batch)
		return li_error("batch of %d images, prepared for 1 to %d", n, net->max_batch);
	li_layer *last = &net->layers[net->nlayers - 3];
	if (net->training && n * last->oh * last->ow < 2)
		return li_error("batch norm needs more than one value per channel in training "
				"(batch 1 with %dx%d inputs)", net->in_w, net->in_h);
	bool stored = net->training || !net->fold_bn;
	if (!stored && !net->fold_valid)
		fold_all(net);
	if (net->training)
		net->fold_valid = false; /* running statistics move */
	net->n = n;
	if (net->training)
		net->tplan_cur = NULL;
	li_nchw_to_cnhw(x, n, net->cfg.in_channels, net->in_h * net->in_w, net->xin, net->pool);
	if (net->training) {
		int r = run_train_plan(net, n, x, logits, features);
		if (r < 0)
			return -1;
		if (r > 0) {
			net->stored_valid = true;
			net->n_stored = n;
			return 0;
		}
	}
	if (!stored) {
		int r = run_plan(net, n, x, logits, features);
		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	net->layers[net->nlayers - 1].out = logits;
	float *a = net->xin, *feat = NULL;
	for (int i = 0; i < net->nlayers; i++) {
		li_layer *l = &net->layers[i];
		double t = li_now(), f0 = unit_flop(l, false);
		feat = a;
		a = l->ops->forward(net, l, a, stored);
		l->prof.forward_s += li_now() - t;
		l->prof.forward_flop += unit_flop(l, false) - f0;
		l->prof.forward_calls++;
	}
	if (features) /* fc's input */
		memcpy(features, feat, sizeof(float) * (size_t)n * net->fc.in);
	net->ours_live = true;
	if (net->training) {
		net->stored_valid = true;
		net->n_stored = n;
	} else if (stored) {
		net->stored_valid = false; /* unfolded eval reused the kept activations */
	}
	return 0;
}

int li_net_backward(li_net *net, const float *dlogits)
{
	if (!net->stored_valid)
		return li_error("backward needs a training-mode forward of the same batch first");
	float *g = (float *)dlogits; /* fc's backward only reads it */
	net->n = net->n_stored;
	if (net->tplan_cur) {
		backward_train_plan(net, g);
		return 0;
	}
	for (int i = net->nlayers - 1; i >= 0 && g; i--) {
		li_layer *l = &net->layers[i];
		double t = li_now(), f0 = unit_flop(l, true);
		g = l->ops->backward(net, l, g);
		l->prof.backward_s += li_now() - t;
		l->prof.backward_flop += unit_flop(l, true) - f0;
		l->prof.backward_calls++;
	}
	return 0;
}

/* ---- profiling ---- */

int li_net_prof_count(const li_net *net) { return net->nprof; }
const li_net_prof *li_net_prof_at(const li_net *net, int i) { return net->prof[i]; }

void li_net_prof_reset(li_net *net)
{
	for (int i = 0; i < net->nprof; i++) {
		li_net_prof *p = net->prof[i];
		p->forward_s = p->backward_s = p->forward_flop = p->backward_flop = 0;
		p->forward_calls = p->backward_calls = 0;
	}
}
