/* test_net.c: the whole ResNet: torchvision topology and names, a gradient
 * check of a small resnet10 (every block kind, loss with weights and
 * smoothing), BN-folded vs unfolded eval, batch and thread consistency,
 * determinism, running statistics, save/load round trips and the exact errors
 * for bad model files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_net.h"
#include "li_nn.h"
#include "li_rng.h"
#include "li_safetensors.h"
#include "tap.h"

static li_rng rng;
static char tmpdir[64];

static void fill(float *a, size_t n, double scale)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(scale * li_rng_normal(&rng));
}

static li_net *small_net(const char *arch, int width, int classes, int chans, uint64_t seed)
{
	li_net_config cfg;
	li_net_config_default(&cfg);
	snprintf(cfg.arch, sizeof cfg.arch, "%s", arch);
	cfg.width = width;
	cfg.classes = classes;
	cfg.in_channels = chans;
	li_net *net = li_net_new(&cfg);
	if (net)
		li_net_init(net, seed);
	return net;
}

/* Non-trivial BN parameters and running statistics, as after training. */
static void randomise_bn(li_net *net)
{
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		float *d = t->data;
		if (t->ndim != 1 || strncmp(t->name, "fc.", 3) == 0)
			continue;
		for (size_t k = 0; k < t->numel; k++) {
			double u = li_rng_uniform(&rng);
			if (strstr(t->name, "running_var"))
				d[k] = (float)(0.5 + u);
			else if (strstr(t->name, "running_mean") || strstr(t->name, ".bias"))
				d[k] = (float)(0.4 * (u - 0.5));
			else
				d[k] = (float)(0.8 + 0.4 * u);
		}
	}
	li_net_params_changed(net);
}

static void test_topology(void)
{
	const struct {
		const char *arch;
		int tensors;
		size_t params;
	} want[] = {{"resnet18", 122, 11689512}, {"resnet34", 218, 21797672}};
	for (size_t a = 0; a < LI_ARRAY_LEN(want); a++) {
		li_net *net = small_net(want[a].arch, 64, 1000, 3, 1);
		is_int(li_net_tensor_count(net), want[a].tensors, "%s: state_dict entries as torchvision",
		       want[a].arch);
		is_int(li_net_param_count(net), want[a].params, "%s: parameters as torchvision",
		       want[a].arch);
		is_str(li_net_tensor_at(net, 0)->name, "conv1.weight", "%s: first tensor", want[a].arch);
		is_str(li_net_tensor_at(net, 5)->name, "bn1.num_batches_tracked", "%s: bn1 buffers",
		       want[a].arch);
		ok(li_net_tensor_at(net, 5)->dtype == LI_DT_I64 && li_net_tensor_at(net, 5)->ndim == 0,
		   "%s: num_batches_tracked is an I64 scalar", want[a].arch);
		is_str(li_net_tensor_at(net, 6)->name, "layer1.0.conv1.weight", "%s: then layer1.0.conv1",
		       want[a].arch);
		is_str(li_net_tensor_at(net, 12)->name, "layer1.0.conv2.weight", "%s: then conv2",
		       want[a].arch);
		is_str(li_net_tensor_at(net, want[a].tensors - 1)->name, "fc.bias", "%s: last tensor",
		       want[a].arch);
		const li_net_tensor *d = li_net_tensor_find(net, "layer2.0.downsample.0.weight");
		ok(d && d->shape[0] == 128 && d->shape[1] == 64 && d->shape[2] == 1 && d->shape[3] == 1,
		   "%s: layer2.0.downsample.0.weight is 128x64x1x1", want[a].arch);
		/* downsample follows bn2 in the block, as in BasicBlock.__init__ */
		const li_net_tensor *b2 = li_net_tensor_find(net, "layer2.0.bn2.num_batches_tracked");
		ok(b2 && d && (const char *)(b2 + 1) == (const char *)d, "%s: downsample after bn2",
		   want[a].arch);
		ok(!li_net_tensor_find(net, "layer1.0.downsample.0.weight"), "%s: no downsample in layer1",
		   want[a].arch);
		const li_net_tensor *fc = li_net_tensor_find(net, "fc.weight");
		ok(fc && fc->shape[0] == 1000 && fc->shape[1] == 512, "%s: fc 1000x512", want[a].arch);
		is_int(li_net_feature_dim(net), 512, "%s: 512 features", want[a].arch);
		/* init as torchvision: conv std sqrt(2 / fan_out), BN 1/0, fc bound 1/sqrt(512) */
		const li_net_tensor *w = li_net_tensor_find(net, "layer3.0.conv2.weight");
		double s = 0;
		for (size_t k = 0; k < w->numel; k++)
			s += (double)((float *)w->data)[k] * ((float *)w->data)[k];
		is_close(sqrt(s / w->numel), sqrt(2.0 / (256 * 9)), 0.01, "%s: kaiming fan_out std",
			 want[a].arch);
		float mx = 0;
		for (size_t k = 0; k < fc->numel; k++)
			mx = fmaxf(mx, fabsf(((float *)fc->data)[k]));
		ok(mx <= 1 / sqrt(512.0) && mx > 0.9 / sqrt(512.0), "%s: fc uniform(+-1/sqrt(512))",
		   want[a].arch);
		li_net_free(net);
	}
	li_net *n10 = small_net("resnet10", 16, 2, 1, 1);
	is_int(li_net_feature_dim(n10), 128, "resnet10 width 16: 128 features");
	is_int(li_net_tensor_count(n10), 6 + 4 * 12 + 3 * 6 + 2, "resnet10: one block per stage");
	li_net_free(n10);

	li_net_config cfg;
	li_net_config_default(&cfg);
	snprintf(cfg.arch, sizeof cfg.arch, "resnet50");
	ok(!li_net_new(&cfg), "resnet50 refused");
	is_str(li_errmsg(), "unknown architecture 'resnet50' (expected resnet10, resnet18 or resnet34)",
	       "unknown architecture message");
	li_net_config_default(&cfg);
	cfg.classes = 1;
	ok(!li_net_new(&cfg), "1 class refused");
	li_net_config_default(&cfg);
	cfg.in_channels = 2;
	ok(!li_net_new(&cfg), "2 input channels refused");
	is_str(li_errmsg(), "input channels must be 1 or 3, not 2", "channels message");
}

/* ---- whole-net gradient check ---- */

typedef struct gcheck {
	li_net *net;
	const float *x;
	const int *labels;
	int n, classes;
	li_loss_config loss;
	float *logits;
} gcheck;

static double net_loss(gcheck *g)
{
	li_net_forward(g->net, g->x, g->n, g->logits, NULL);
	return li_softmax_xent(g->logits, g->labels, g->n, g->classes, &g->loss, NULL);
}

static int convs_on(const li_net *net, const char *path);

/* The numerical gradient check, on ours or on the oneDNN training plan. */
static void test_gradients(li_net_conv conv)
{
	int n = 3, classes = 3, hw = 32;
	const char *on = li_net_conv_name(conv);
	li_net *net = small_net("resnet10", 4, classes, 3, 7);
	li_net_set_conv(net, conv);
	randomise_bn(net);
	ok(li_net_prepare(net, n, hw, hw) == 0, "%s: prepare resnet10 w4, batch 3, 32x32", on);
	li_net_set_training(net, true);
	size_t nx = (size_t)n * 3 * hw * hw;
	float *x = malloc(sizeof(float) * nx), logits[9], dlogits[9];
	fill(x, nx, 1.0);
	int labels[3] = {2, 0, 1};
	float cw[3] = {1.0f, 2.0f, 0.5f};
	gcheck g = {.net = net, .x = x, .labels = labels, .n = n, .classes = classes,
		    .loss = {.class_weights = cw, .label_smoothing = 0.1f}, .logits = logits};
	li_net_zero_grad(net);
	net_loss(&g);
	li_softmax_xent(logits, labels, n, classes, &g.loss, dlogits);
	ok(li_net_backward(net, dlogits) == 0, "%s: backward", on);
	ok(conv != LI_NET_CONV_ONEDNN || convs_on(net, "onednn-train") == 12,
	   "%s: every conv trained where asked (%d on the oneDNN plan)", on,
	   convs_on(net, "onednn-train"));
	size_t np = li_net_param_count(net);
	float *grad = malloc(sizeof(float) * np);
	memcpy(grad, li_net_grads(net), sizeof(float) * np);
	float *p = li_net_params(net);
	const char *names[] = {"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight",
			       "layer1.0.bn1.bias", "layer1.0.conv2.weight", "layer1.0.bn2.weight",
			       "layer2.0.conv1.weight", "layer2.0.downsample.0.weight",
			       "layer2.0.downsample.1.weight", "layer3.0.bn2.bias",
			       "layer4.0.conv2.weight", "layer4.0.downsample.1.bias", "fc.weight", "fc.bias"};
	for (size_t k = 0; k < LI_ARRAY_LEN(names); k++) {
		const li_net_tensor *t = li_net_tensor_find(net, names[k]);
		size_t off = t->param_offset, stride = t->numel > 8 ? t->numel / 8 : 1;
		double worst = 0, scale = 0;
		for (size_t i = 0; i < t->numel; i++)
			scale = fmax(scale, fabs(grad[off + i]));
		for (size_t i = 0; i < t->numel; i += stride) {
			/* ReLU and max-pool kinks make some steps useless, and float
			 * rounding of the loss others (more so through F(4x4)'s
			 * transforms): take the best of six, 3e-2 to 1e-4 */
			float v = p[off + i];
			double best = INFINITY;
			for (double h = 3e-2; h > 5e-5; h /= 3.1622776601683795) {
				double step = h * fmax(0.1, fabs(v));
				p[off + i] = (float)(v + step);
				double lp = net_loss(&g);
				p[off + i] = (float)(v - step);
				double lm = net_loss(&g);
				p[off + i] = v;
				double num = (lp - lm) / (2 * step);
				best = fmin(best, fabs(num - grad[off + i]));
			}
			worst = fmax(worst, best);
		}
		if (!ok(scale > 0 && worst <= 0.02 * scale, "%s: resnet10 gradient of %s", on,
			names[k]))
			diag("max error %g, gradient scale %g", worst, scale);
	}
	free(grad);
	free(x);
	li_net_free(net);
}

/* ---- eval: folding, batch and thread consistency, features ---- */

/* After a parameter change: li_net_params_changed, then the folded eval
 * logits (into folded) and the unfolded ones (into plain); their max gap. */
static double refold_gap(li_net *net, const float *x, int n, int classes, float *folded,
			 float *plain)
{
	li_net_params_changed(net);
	li_net_forward(net, x, n, folded, NULL);
	li_net_set_bn_folding(net, false);
	li_net_forward(net, x, n, plain, NULL);
	li_net_set_bn_folding(net, true);
	double e = 0;
	for (int i = 0; i < n * classes; i++)
		e = fmax(e, fabs(folded[i] - plain[i]));
	return e;
}

static void test_eval(void)
{
	int n = 4, hw = 40, classes = 3;
	li_net *net = small_net("resnet10", 8, classes, 3, 11);
	randomise_bn(net);
	ok(li_net_prepare(net, n, hw, hw + 8) == 0, "prepare batch 4, 48x40");
	size_t per = (size_t)3 * hw * (hw + 8);
	float *x = malloc(sizeof(float) * per * n);
	fill(x, per * n, 1.0);
	float a[12], b[12], fa[4 * 64], fb[4 * 64];
	li_net_set_training(net, false);
	ok(li_net_forward(net, x, n, a, fa) == 0, "eval forward (folded)");
	li_net_set_bn_folding(net, false);
	li_net_forward(net, x, n, b, fb);
	li_net_set_bn_folding(net, true);
	double e = 0, s = 0;
	for (int i = 0; i < n * classes; i++) {
		e = fmax(e, fabs(a[i] - b[i]));
		s = fmax(s, fabs(b[i]));
	}
	if (!ok(e <= 1e-4 * fmax(s, 1), "BN-folded eval equals unfolded eval"))
		diag("max diff %g (scale %g)", e, s);
	e = 0;
	for (int i = 0; i < n * 64; i++)
		e = fmax(e, fabs(fa[i] - fb[i]));
	ok(e <= 1e-4, "folded features equal unfolded features (max diff %g)", e);
	/* logits are fc(features) */
	const li_net_tensor *w = li_net_tensor_find(net, "fc.weight"), *bias = li_net_tensor_find(net, "fc.bias");
	e = 0;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < classes; k++) {
			double z = ((float *)bias->data)[k];
			for (int j = 0; j < 64; j++)
				z += (double)((float *)w->data)[k * 64 + j] * fa[i * 64 + j];
			e = fmax(e, fabs(z - a[i * classes + k]));
		}
	ok(e < 1e-4, "features are the fc input of the same pass (max diff %g)", e);
	/* one image at a time gives the same logits */
	e = 0;
	for (int i = 0; i < n; i++) {
		float one[3];
		li_net_forward(net, x + per * i, 1, one, NULL);
		for (int k = 0; k < classes; k++)
			e = fmax(e, fabs(one[k] - a[i * classes + k]));
	}
	ok(e < 1e-5, "eval batch of 4 equals 4 single images (max diff %g)", e);
	/* two threads: same result up to rounding, and repeatable */
	li_net_set_threads(net, 2);
	li_net_forward(net, x, n, b, NULL);
	e = 0;
	for (int i = 0; i < n * classes; i++)
		e = fmax(e, fabs(a[i] - b[i]));
	ok(e < 1e-5, "2 threads agree with 1 (max diff %g)", e);
	float c2[12];
	li_net_forward(net, x, n, c2, NULL);
	ok(memcmp(b, c2, sizeof c2) == 0, "2 threads: repeatable bits");
	li_net_set_threads(net, 1);
	/* parameter changes reach the folded copy after li_net_params_changed */
	float *bn1w = li_net_tensor_find(net, "bn1.weight")->data;
	bn1w[0] *= 2;
	e = refold_gap(net, x, n, classes, b, c2);
	ok(e < 1e-4 && memcmp(a, b, sizeof a) != 0, "refolded after li_net_params_changed");
	/* and so do changes of a 3x3 stride-1 conv, whose Winograd transform is cached */
	memcpy(a, b, sizeof a);
	float *c11 = li_net_tensor_find(net, "layer1.0.conv1.weight")->data;
	for (int i = 0; i < 8 * 8 * 9; i++)
		c11[i] *= i % 2 ? -1.5f : 0.5f;
	e = refold_gap(net, x, n, classes, b, c2);
	ok(e < 1e-4 && memcmp(a, b, sizeof a) != 0,
	   "cached Winograd weights follow a conv weight change (max diff %g)", e);
	/* errors */
	ok(li_net_forward(net, x, 5, a, NULL) < 0, "batch above the prepared size refused");
	is_str(li_errmsg(), "batch of 5 images, prepared for 1 to 4", "batch message");
	li_net_set_training(net, true);
	li_net_prepare(net, 2, 32, 32);
	ok(li_net_forward(net, x, 1, a, NULL) < 0, "training batch 1 at 32x32 refused (1 value per channel)");
	ok(li_net_backward(net, a) < 0, "backward without a training forward refused");
	ok(li_net_prepare(net, 2, 31, 32) < 0, "input below 32 refused");
	free(x);
	li_net_free(net);
}

/* Softmax probability of each class: the largest difference between a and b. */
static double prob_gap(const float *a, const float *b, int n, int classes)
{
	double e = 0;
	for (int i = 0; i < n; i++) {
		double sa = 0, sb = 0;
		for (int k = 0; k < classes; k++) {
			sa += exp(a[i * classes + k]);
			sb += exp(b[i * classes + k]);
		}
		for (int k = 0; k < classes; k++)
			e = fmax(e, fabs(exp(a[i * classes + k]) / sa - exp(b[i * classes + k]) / sb));
	}
	return e;
}

/* Largest |a[i] - b[i]| over m values. */
/* The cache line whose key starts with prefix, from the conv-choice file
 * of directory dir: its key and value, or false. */
static bool cache_line(const char *dir, const char *prefix, char *key, char *val, size_t size)
{
	char path[512], line[2048];
	snprintf(path, sizeof path, "%s/conv-choice", dir);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f && fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab || strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		*tab = '\0';
		tab[1 + strcspn(tab + 1, "\n")] = '\0';
		size_t kl = strlen(line), vl = strlen(tab + 1);
		if (kl >= size || vl >= size)
			continue;
		memcpy(key, line, kl + 1);
		memcpy(val, tab + 1, vl + 1);
		found = true;
	}
	if (f)
		fclose(f);
	return found;
}

static void write_cache(const char *dir, const char *key, const char *val)
{
	char path[512];
	snprintf(path, sizeof path, "%s/conv-choice", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\t%s\n", key, val);
		fclose(f);
	}
}

static double max_gap(const float *a, const float *b, int m)
{
	double e = 0;
	for (int i = 0; i < m; i++)
		e = fmax(e, fabs(a[i] - b[i]));
	return e;
}

static int convs_on(const li_net *net, const char *path)
{
	int k = 0;
	for (int i = 0; i < li_net_prof_count(net); i++) {
		const li_net_prof *p = li_net_prof_at(net, i);
		k += p->forward_path && strcmp(p->forward_path, path) == 0;
	}
	return k;
}

/* Eval convs on oneDNN's primitives (li_dnnl.h) against ours: every conv
 * shape of a resnet10 (stem 7x7/2, 3x3/1, 3x3/2, 1x1/2 downsample, the
 * residual accumulated with beta 1), an odd batch, a non-square input, 1 and
 * 2 threads, a weight change; then bf16 where the CPU has it, its error where
 * it has not. */
static void test_onednn(void)
{
	int n = 3, h = 40, w = 56, classes = 3;
	for (int chans = 1; chans <= 3; chans += 2) {
		li_net *net = small_net("resnet10", 16, classes, chans, 5);
		randomise_bn(net);
		li_net_prepare(net, n, h, w);
		li_net_set_training(net, false);
		size_t per = (size_t)chans * h * w;
		float *x = malloc(sizeof(float) * per * n);
		fill(x, per * n, 1.0);
		float a[9], b[9], fa[3 * 128], fb[3 * 128];
		li_net_set_conv(net, LI_NET_CONV_OURS);
		li_net_forward(net, x, n, a, fa);
		ok(convs_on(net, "onednn") == 0 && convs_on(net, "onednn-conv") == 0,
		   "%d ch: LI_NET_CONV_OURS runs none on oneDNN", chans);
		li_net_set_conv(net, LI_NET_CONV_ONEDNN);
		for (int threads = 1; threads <= 2; threads++) {
			li_net_set_threads(net, threads);
			li_net_prof_reset(net);
			ok(li_net_forward(net, x, n, b, fb) == 0, "%d ch, %d threads: oneDNN forward",
			   chans, threads);
			is_int(convs_on(net, "onednn"), 12, "%d ch: all 12 convs on oneDNN", chans);
			double e = 0, s = 0, ef = 0;
			for (int i = 0; i < n * classes; i++) {
				e = fmax(e, fabs(a[i] - b[i]));
				s = fmax(s, fabs(a[i]));
			}
			for (int i = 0; i < n * 128; i++)
				ef = fmax(ef, fabs(fa[i] - fb[i]));
			ok(e <= 1e-4 * fmax(s, 1) && ef <= 1e-4,
			   "%d ch, %d threads: oneDNN logits and features equal ours (max diff %g, %g)",
			   chans, threads, e, ef);
		}
		/* each conv alone on oneDNN (reorders around it, the residual added by
		 * the reorder back; LI_NET_CONV_ONEDNN_EACH, for comparisons) */
		li_net_set_conv(net, LI_NET_CONV_ONEDNN_EACH);
		li_net_prof_reset(net);
		li_net_forward(net, x, n, b, NULL);
		is_int(convs_on(net, "onednn-conv"), 12, "%d ch: each conv alone on oneDNN", chans);
		double e = max_gap(a, b, n * classes);
		ok(e <= 1e-4 * fmax(fabs(a[0]), 1), "%d ch: oneDNN conv by conv equals ours (%g)", chans,
		   e);
		li_net_forward(net, x, n, b, NULL);
		float *wt0 = li_net_tensor_find(net, "layer1.0.conv2.weight")->data;
		for (int i = 0; i < 16 * 16 * 9; i++)
			wt0[i] *= i % 3 ? 1.25f : -0.75f;
		li_net_params_changed(net);
		li_net_forward(net, x, n, b, NULL);
		li_net_set_conv(net, LI_NET_CONV_OURS);
		li_net_forward(net, x, n, a, NULL);
		e = max_gap(a, b, n * classes);
		ok(e <= 1e-4 * fmax(fabs(a[0]), 1), "%d ch: conv by conv follows a weight change (%g)",
		   chans, e);
		li_net_set_conv(net, LI_NET_CONV_ONEDNN);
		/* one image: another primitive, same answer */
		float one[3];
		li_net_forward(net, x + per * 2, 1, one, NULL);
		e = 0;
		for (int k = 0; k < classes; k++)
			e = fmax(e, fabs(one[k] - a[2 * classes + k]));
		ok(e <= 1e-4, "%d ch: oneDNN batch of 1 equals ours (max diff %g)", chans, e);
		/* a weight change reaches oneDNN's reordered copy (made for this batch
		 * size by the forward just before) */
		li_net_forward(net, x, n, b, NULL);
		float *wt = li_net_tensor_find(net, "layer2.0.conv2.weight")->data;
		for (int i = 0; i < 32 * 32 * 9; i++)
			wt[i] *= i % 3 ? 1.5f : -0.5f;
		li_net_params_changed(net);
		li_net_forward(net, x, n, b, NULL);
		li_net_set_conv(net, LI_NET_CONV_OURS);
		li_net_forward(net, x, n, a, NULL);
		e = max_gap(a, b, n * classes);
		ok(e <= 1e-4 * fmax(fabs(a[0]), 1), "%d ch: oneDNN follows a weight change (%g)", chans,
		   e);
		/* the measured choice: whatever it keeps, the same answer */
		li_net_set_conv(net, LI_NET_CONV_MEASURED);
		li_net_prof_reset(net);
		li_net_forward(net, x, n, b, NULL);
		e = max_gap(a, b, n * classes);
		ok(e <= 1e-4 * fmax(fabs(a[0]), 1), "%d ch: the measured choice (%s) agrees", chans,
		   convs_on(net, "onednn") ? "the plan" : "ours");
		/* bf16 */
		li_net_set_conv(net, LI_NET_CONV_OURS);
		if (li_cpu_isa() >= LI_ISA_AVX512_BF16) {
			ok(li_net_set_bf16(net, true) == 0, "bf16 where the CPU has it");
			li_net_forward(net, x, n, b, NULL);
			ok(prob_gap(a, b, n, classes) < 0.01, "bf16 probabilities within 0.01 of fp32 (%g)",
			   prob_gap(a, b, n, classes));
			ok(convs_on(net, "onednn-bf16") == 12, "bf16: all convs on oneDNN bf16");
			li_net_set_bf16(net, false);
		} else {
			ok(li_net_set_bf16(net, true) < 0 && strstr(li_errmsg(), "AVX512_BF16"),
			   "bf16 refused without AVX512_BF16: %s", li_errmsg());
			skip("no AVX512_BF16 on this CPU (%s): bf16 accuracy not checked",
			     li_isa_name(li_cpu_isa()));
		}
		free(x);
		li_net_free(net);
	}
}

/* ---- training forward: running statistics, determinism ---- */

static void train_step(li_net *net, const float *x, int n, const int *labels, float *logits)
{
	float dl[64];
	li_net_zero_grad(net);
	li_net_forward(net, x, n, logits, NULL);
	li_softmax_xent(logits, labels, n, 2, NULL, dl);
	li_net_backward(net, dl);
}

static void test_training(void)
{
	int n = 3, hw = 36;
	size_t nx = (size_t)n * 1 * hw * hw;
	float *x = malloc(sizeof(float) * nx);
	fill(x, nx, 1.0);
	int labels[3] = {1, 0, 1};
	for (int threads = 1; threads <= 2; threads++) {
		li_net *a = small_net("resnet10", 8, 2, 1, 5), *b = small_net("resnet10", 8, 2, 1, 5);
		li_net_set_threads(a, threads);
		li_net_set_threads(b, threads);
		li_net_prepare(a, n, hw, hw);
		li_net_prepare(b, n, hw, hw);
		li_net_set_training(a, true);
		li_net_set_training(b, true);
		float la[6], lb[6];
		train_step(a, x, n, labels, la);
		train_step(b, x, n, labels, lb);
		size_t np = li_net_param_count(a);
		ok(memcmp(la, lb, sizeof la) == 0 &&
		   memcmp(li_net_grads(a), li_net_grads(b), sizeof(float) * np) == 0,
		   "%d thread(s): same seed, same data -> identical logits and gradients", threads);
		const li_net_tensor *rm = li_net_tensor_find(a, "layer1.0.bn1.running_mean");
		const li_net_tensor *nbt = li_net_tensor_find(a, "layer1.0.bn1.num_batches_tracked");
		is_int(*(int64_t *)nbt->data, 1, "num_batches_tracked counts the training forward");
		double s = 0;
		for (size_t k = 0; k < rm->numel; k++)
			s += fabs(((float *)rm->data)[k]);
		ok(s > 0, "running mean moved");
		/* eval forward between a training forward and backward does not disturb it */
		float le[6];
		li_net_set_training(a, false);
		li_net_forward(a, x, n, le, NULL);
		li_net_set_training(a, true);
		li_net_zero_grad(a);
		float dl[6];
		li_softmax_xent(la, labels, n, 2, NULL, dl);
		li_net_forward(a, x, n, la, NULL);
		li_net_set_training(a, false);
		li_net_forward(a, x, n, le, NULL);
		li_net_backward(a, dl);
		li_net_zero_grad(b);
		li_net_forward(b, x, n, lb, NULL);
		li_net_backward(b, dl);
		ok(memcmp(li_net_grads(a), li_net_grads(b), sizeof(float) * np) == 0,
		   "%d thread(s): an eval forward before backward changes nothing", threads);
		li_net_free(a);
		li_net_free(b);
	}
	free(x);
}

/* Training on the oneDNN plan (li_dnnl_train) against ours, from the same
 * weights and BN state: logits, every parameter's gradient, the running
 * statistics; then after SGD steps, for a second (smaller) batch size, 1 and
 * 2 threads, 1 and 3 channels, widths that fill and that pad oneDNN's
 * channel blocks, an odd input size. */
static void copy_state(li_net *to, const li_net *from)
{
	for (int i = 0; i < li_net_tensor_count(from); i++) {
		const li_net_tensor *a = li_net_tensor_at(from, i);
		const li_net_tensor *b = li_net_tensor_at(to, i);
		memcpy(b->data, a->data, a->numel * (a->dtype == LI_DT_I64 ? 8 : 4));
	}
	li_net_params_changed(to);
}

/* The worst gap between two nets' tensors (gradients when grads), relative
 * to each tensor's largest magnitude; its name in *worst. */
static double state_gap(const li_net *a, const li_net *b, bool grads, const char **worst)
{
	double e = 0;
	const float *ga = li_net_grads((li_net *)a), *gb = li_net_grads((li_net *)b);
	for (int i = 0; i < li_net_tensor_count(a); i++) {
		const li_net_tensor *ta = li_net_tensor_at(a, i), *tb = li_net_tensor_at(b, i);
		if (ta->dtype != LI_DT_F32 || (grads && !ta->trainable))
			continue;
		const float *x = grads ? ga + ta->param_offset : ta->data;
		const float *y = grads ? gb + tb->param_offset : tb->data;
		double scale = 1e-6, d = 0;
		for (size_t k = 0; k < ta->numel; k++) {
			scale = fmax(scale, fabs(x[k]));
			d = fmax(d, fabs(x[k] - y[k]));
		}
		if (d / scale > e) {
			e = d / scale;
			*worst = ta->name;
		}
	}
	return e;
}

static void step_both(li_net *a, li_net *b, const float *x, int n, const int *labels, int classes,
		      float *la, float *lb)
{
	li_net *nets[2] = {a, b};
	float *l[2] = {la, lb};
	for (int k = 0; k < 2; k++) {
		float dl[64];
		li_net_zero_grad(nets[k]);
		li_net_forward(nets[k], x, n, l[k], NULL);
		li_softmax_xent(l[k], labels, n, classes, NULL, dl);
		li_net_backward(nets[k], dl);
	}
}

static void test_onednn_train(void)
{
	const struct {
		int chans, width, n, h, w, threads;
	} cases[] = {{3, 16, 3, 40, 56, 1}, {1, 8, 4, 36, 36, 2}, {3, 6, 2, 33, 47, 2}};
	int classes = 3, labels[8] = {0, 2, 1, 1, 0, 2, 2, 0};
	for (size_t c = 0; c < LI_ARRAY_LEN(cases); c++) {
		int chans = cases[c].chans, n = cases[c].n, h = cases[c].h, w = cases[c].w;
		li_net *a = small_net("resnet10", cases[c].width, classes, chans, 11);
		li_net *b = small_net("resnet10", cases[c].width, classes, chans, 12);
		randomise_bn(a);
		copy_state(b, a);
		li_net_set_conv(a, LI_NET_CONV_OURS);
		li_net_set_conv(b, LI_NET_CONV_ONEDNN);
		li_net_set_threads(a, cases[c].threads);
		li_net_set_threads(b, cases[c].threads);
		li_net_prepare(a, n, h, w);
		li_net_prepare(b, n, h, w);
		li_net_set_training(a, true);
		li_net_set_training(b, true);
		size_t per = (size_t)chans * h * w;
		float *x = malloc(sizeof(float) * per * n);
		fill(x, per * n, 1.0);
		float la[24], lb[24];
		const char *worst = "";
		char what[96];
		snprintf(what, sizeof what, "%d ch, width %d, batch %d, %dx%d, %d thread(s)", chans,
			 cases[c].width, n, w, h, cases[c].threads);
		li_net_prof_reset(b);
		step_both(a, b, x, n, labels, classes, la, lb);
		is_int(convs_on(b, "onednn-train"), 12, "%s: every conv trains on the oneDNN plan",
		       what);
		is_int(convs_on(a, "onednn-train"), 0, "%s: none with LI_NET_CONV_OURS", what);
		double e = max_gap(la, lb, n * classes);
		ok(e <= 1e-4 * fmax(fabs(la[0]), 1), "%s: training logits equal ours (%g)", what, e);
		e = state_gap(a, b, true, &worst);
		ok(e <= 2e-3, "%s: every gradient equals ours (worst %s, %g of its scale)", what, worst,
		   e);
		e = state_gap(a, b, false, &worst);
		ok(e <= 1e-5, "%s: running statistics equal ours (worst %s, %g)", what, worst, e);
		ok(*(int64_t *)li_net_tensor_find(b, "layer2.0.bn2.num_batches_tracked")->data == 1,
		   "%s: num_batches_tracked counts the step", what);
		/* SGD steps: the plan reads the changed weights at every forward */
		for (int it = 0; it < 3; it++) {
			li_net *nets[2] = {a, b};
			for (int k = 0; k < 2; k++) {
				float *p = li_net_params(nets[k]), *g = li_net_grads(nets[k]);
				for (size_t i = 0; i < li_net_param_count(nets[k]); i++)
					p[i] -= 0.05f * g[i];
				li_net_params_changed(nets[k]);
			}
			step_both(a, b, x, n, labels, classes, la, lb);
		}
		e = max_gap(la, lb, n * classes);
		ok(e <= 1e-3 * fmax(fabs(la[0]), 1), "%s: after 3 SGD steps, logits equal ours (%g)",
		   what, e);
		e = state_gap(a, b, true, &worst);
		ok(e <= 5e-3, "%s: after 3 SGD steps, gradients equal ours (worst %s, %g)", what,
		   worst, e);
		/* a smaller last batch: a second plan; then the first size again */
		step_both(a, b, x, n - 1, labels, classes, la, lb);
		e = state_gap(a, b, true, &worst);
		ok(e <= 5e-3 && max_gap(la, lb, (n - 1) * classes) <= 1e-3 * fmax(fabs(la[0]), 1),
		   "%s: batch %d after batch %d (worst gradient %s, %g)", what, n - 1, n, worst, e);
		/* an eval forward between a training forward and its backward */
		li_net *nets[2] = {a, b};
		for (int k = 0; k < 2; k++) {
			float dl[64], le[64];
			float *l = k ? lb : la;
			li_net_zero_grad(nets[k]);
			li_net_forward(nets[k], x, n, l, NULL);
			li_softmax_xent(l, labels, n, classes, NULL, dl);
			li_net_set_training(nets[k], false);
			li_net_forward(nets[k], x, n, le, NULL);
			li_net_set_training(nets[k], true);
			li_net_backward(nets[k], dl);
		}
		e = state_gap(a, b, true, &worst);
		ok(e <= 5e-3, "%s: an eval forward before backward changes nothing (%s, %g)", what,
		   worst, e);
		/* eval drops the training plan (one kind of plan at a time); the
		 * next training step makes it again */
		for (int k = 0; k < 2; k++) {
			float le[64];
			li_net_set_training(nets[k], false);
			li_net_forward(nets[k], x, n, le, NULL);
			li_net_set_training(nets[k], true);
		}
		li_net_prof_reset(b);
		step_both(a, b, x, n, labels, classes, la, lb);
		e = state_gap(a, b, true, &worst);
		ok(e <= 5e-3 && convs_on(b, "onednn-train") == 12,
		   "%s: a training step after eval, on a new plan (%s, %g)", what, worst, e);
		free(x);
		li_net_free(a);
		li_net_free(b);
	}
}

/* Eval on ours, then on the plan (which gives ours' activations and cached
 * Winograd weights back to the system first), then on ours again: the same
 * bits as the first time (the weights transformed again, the activations
 * written before they are read). */
static void test_release(void)
{
	int n = 4, h = 64, w = 64, classes = 3;
	li_net *net = small_net("resnet10", 32, classes, 3, 21);
	randomise_bn(net);
	li_net_set_threads(net, 2);
	li_net_prepare(net, n, h, w);
	li_net_set_training(net, false);
	float *x = malloc(sizeof(float) * 3 * h * w * n);
	fill(x, (size_t)3 * h * w * n, 1.0);
	float a[12], b[12], c[12];
	li_net_set_conv(net, LI_NET_CONV_OURS);
	li_net_forward(net, x, n, a, NULL);
	li_net_set_conv(net, LI_NET_CONV_ONEDNN);
	li_net_prof_reset(net);
	li_net_forward(net, x, n - 1, b, NULL);
	is_int(convs_on(net, "onednn"), 12, "the second forward on the plan");
	ok(max_gap(a, b, (n - 1) * classes) <= 1e-4 * fmax(fabs(a[0]), 1),
	   "the plan's logits equal ours (%g)", max_gap(a, b, (n - 1) * classes));
	li_net_set_conv(net, LI_NET_CONV_OURS);
	li_net_prof_reset(net);
	li_net_forward(net, x, n, c, NULL);
	ok(convs_on(net, "onednn") == 0 && memcmp(a, c, sizeof(float) * n * classes) == 0,
	   "ours again after the plan: the same bits (gap %g)", max_gap(a, c, n * classes));
	free(x);
	li_net_free(net);
}

/* The gap between two nets' gradients in norm: the worst over the tensors
 * of |ga - gb| / |ga| (Euclidean norms; its name in *worst), and in *whole
 * the same over all the gradients at once. bf16's rounding moves single
 * values a lot where batch norm's backward cancels (the largest gap of any
 * value, state_gap, reaches half a tensor's scale) but the directions the
 * optimizer follows little. */
static double grad_l2_gap(const li_net *a, const li_net *b, const char **worst, double *whole)
{
	double e = 0, sd = 0, sx = 0;
	const float *ga = li_net_grads((li_net *)a), *gb = li_net_grads((li_net *)b);
	for (int i = 0; i < li_net_tensor_count(a); i++) {
		const li_net_tensor *ta = li_net_tensor_at(a, i);
		if (ta->dtype != LI_DT_F32 || !ta->trainable)
			continue;
		const float *x = ga + ta->param_offset, *y = gb + ta->param_offset;
		double d = 0, n = 0;
		for (size_t k = 0; k < ta->numel; k++) {
			d += ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
			n += (double)x[k] * x[k];
		}
		sd += d;
		sx += n;
		if (sqrt(d) / fmax(sqrt(n), 1e-6) > e) {
			e = sqrt(d) / fmax(sqrt(n), 1e-6);
			*worst = ta->name;
		}
	}
	*whole = sqrt(sd) / fmax(sqrt(sx), 1e-6);
	return e;
}

/* bf16 training (li_net_set_train_bf16) where the CPU has it: every conv on
 * the bf16 plan whatever LI_CONV says, logits, gradients and running
 * statistics near ours in fp32 (bf16 keeps 8 bits of mantissa), the same
 * bits from two runs, near again after an SGD step and on a smaller batch
 * (a second plan), and fp32 again after; elsewhere the refusal, naming the
 * missing feature. */
static void test_bf16_train(void)
{
	const struct {
		int chans, width, n, h, w, threads;
	} cases[] = {{3, 16, 8, 64, 64, 2}, {1, 8, 6, 48, 56, 1}};
	int classes = 3, labels[8] = {0, 2, 1, 1, 0, 2, 2, 0};
	if (li_cpu_isa() < LI_ISA_AVX512_BF16) {
		li_net *a = small_net("resnet10", 8, classes, 3, 11);
		ok(li_net_set_train_bf16(a, true) < 0 && strstr(li_errmsg(), "AVX512_BF16"),
		   "bf16 training refused without AVX512_BF16: %s", li_errmsg());
		ok(li_net_set_train_bf16(a, false) == 0, "fp32 training always accepted");
		li_net_free(a);
		skip("no AVX512_BF16 on this CPU (%s): bf16 training not checked",
		     li_isa_name(li_cpu_isa()));
		return;
	}
	for (size_t c = 0; c < LI_ARRAY_LEN(cases); c++) {
		int chans = cases[c].chans, n = cases[c].n, h = cases[c].h, w = cases[c].w;
		li_net *nets[3];
		for (int k = 0; k < 3; k++) {
			nets[k] = small_net("resnet10", cases[c].width, classes, chans, 11 + k);
			if (k == 0)
				randomise_bn(nets[0]);
			else
				copy_state(nets[k], nets[0]);
			li_net_set_conv(nets[k], LI_NET_CONV_OURS);
			li_net_set_threads(nets[k], cases[c].threads);
			if (k > 0)
				ok(li_net_set_train_bf16(nets[k], true) == 0, "bf16 training accepted");
			li_net_prepare(nets[k], n, h, w);
			li_net_set_training(nets[k], true);
		}
		li_net *a = nets[0], *b = nets[1];
		size_t per = (size_t)chans * h * w;
		float *x = malloc(sizeof(float) * per * n);
		fill(x, per * n, 1.0);
		float la[24], lb[24], lc[24];
		const char *worst = "";
		char what[96];
		snprintf(what, sizeof what, "bf16, %d ch, width %d, batch %d, %dx%d, %d thread(s)",
			 chans, cases[c].width, n, w, h, cases[c].threads);
		li_net_prof_reset(b);
		step_both(a, b, x, n, labels, classes, la, lb);
		step_both(nets[2], nets[2], x, n, labels, classes, lc, lc);
		is_int(convs_on(b, "onednn-train-bf16"), 12, "%s: every conv on the bf16 plan", what);
		double e = max_gap(la, lb, n * classes);
		ok(e <= 0.03 * fmax(fabs(la[0]), 1), "%s: logits near fp32's (%g)", what, e);
		ok(memcmp(lb, lc, sizeof(float) * n * classes) == 0, "%s: two runs, the same bits",
		   what);
		double all;
		e = grad_l2_gap(a, b, &worst, &all);
		ok(all <= 0.45 && e < 0.9, "%s: gradients near fp32's (all %g; worst %s, %g)", what,
		   all, worst, e);
		e = state_gap(a, b, false, &worst);
		ok(e <= 0.02, "%s: running statistics near fp32's (worst %s, %g)", what, worst, e);
		/* an SGD step: the plan reads the changed weights */
		for (int k = 0; k < 2; k++) {
			float *p = li_net_params(nets[k]), *g = li_net_grads(nets[k]);
			for (size_t i = 0; i < li_net_param_count(nets[k]); i++)
				p[i] -= 0.01f * g[i];
			li_net_params_changed(nets[k]);
		}
		float l0[24];
		memcpy(l0, lb, sizeof l0);
		step_both(a, b, x, n, labels, classes, la, lb);
		e = max_gap(la, lb, n * classes);
		ok(e <= 0.06 * fmax(fabs(la[0]), 1) && max_gap(l0, lb, n * classes) > 1e-3,
		   "%s: after an SGD step, new logits near fp32's (%g)", what, e);
		/* a smaller last batch: a second bf16 plan */
		step_both(a, b, x, n - 1, labels, classes, la, lb);
		e = max_gap(la, lb, (n - 1) * classes);
		ok(e <= 0.06 * fmax(fabs(la[0]), 1) && convs_on(b, "onednn-train-bf16") == 12,
		   "%s: batch %d after batch %d, logits near fp32's (%g)", what, n - 1, n, e);
		/* back to fp32: the fp32 plan (or ours) again */
		ok(li_net_set_train_bf16(b, false) == 0, "%s: fp32 again", what);
		li_net_prof_reset(b);
		step_both(a, b, x, n, labels, classes, la, lb);
		is_int(convs_on(b, "onednn-train-bf16"), 0, "%s: no conv on the bf16 plan after", what);
		free(x);
		for (int k = 0; k < 3; k++)
			li_net_free(nets[k]);
	}
}

/* LI_NET_CONV_MEASURED in training: the timing steps leave no trace (one
 * step's running statistics, num_batches_tracked 1, the gradients of the
 * step alone), whichever path won. */
static void test_measured_train(void)
{
	int n = 3, h = 36, w = 36, classes = 3, labels[3] = {1, 0, 2};
	li_net *a = small_net("resnet10", 8, classes, 3, 13);
	li_net *b = small_net("resnet10", 8, classes, 3, 14);
	randomise_bn(a);
	copy_state(b, a);
	li_net_set_conv(a, LI_NET_CONV_OURS);
	li_net_set_conv(b, LI_NET_CONV_MEASURED);
	li_net_prepare(a, n, h, w);
	li_net_prepare(b, n, h, w);
	li_net_set_training(a, true);
	li_net_set_training(b, true);
	float *x = malloc(sizeof(float) * 3 * h * w * n), la[9], lb[9];
	fill(x, (size_t)3 * h * w * n, 1.0);
	li_net_prof_reset(b);
	step_both(a, b, x, n, labels, classes, la, lb);
	int on = convs_on(b, "onednn-train");
	const char *worst = "";
	double e = state_gap(a, b, false, &worst);
	ok(e <= 1e-5, "measured: the timing steps left the running statistics as one step (%s, %g)",
	   worst, e);
	ok(*(int64_t *)li_net_tensor_find(b, "bn1.num_batches_tracked")->data == 1,
	   "measured: num_batches_tracked counts one step");
	e = state_gap(a, b, true, &worst);
	ok(e <= 2e-3, "measured: gradients of the step alone (%s, %g; %s won)", worst, e,
	   on ? "the oneDNN plan" : "ours");
	ok(max_gap(la, lb, n * classes) <= 1e-4 * fmax(fabs(la[0]), 1), "measured: logits as ours");
	char dir[128], key[1024], val[1024];
	snprintf(dir, sizeof dir, "%s/cache", tmpdir);
	ok(cache_line(dir, "train n=3 36x36 in=3 resnet10 width=8 ", key, val, sizeof key) &&
	       strncmp(val, on ? "onednn " : "ours ", on ? 7 : 5) == 0,
	   "measured: the training decision is remembered ('%s')", val);
	free(x);
	li_net_free(a);
	li_net_free(b);
}

/* ---- files ---- */

static void path_in_tmp(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* Write the net's tensors with one edited: drop it, change its shape or dtype. */
static int write_edited(const li_net *net, const char *path, const char *target, int how)
{
	li_st_writer *w = li_st_writer_new();
	static int32_t ints[4096];
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		int64_t shape[4];
		memcpy(shape, t->shape, sizeof shape);
		if (strcmp(t->name, target) == 0) {
			if (how == 0)
				continue;
			if (how == 1) {
				shape[t->ndim - 1] = 1;
				li_st_writer_add(w, t->name, t->dtype, t->ndim, shape, t->data);
				continue;
			}
			li_st_writer_add(w, t->name, LI_DT_I32, t->ndim, shape, ints);
			continue;
		}
		li_st_writer_add(w, t->name, t->dtype, t->ndim, shape, t->data);
	}
	int rc = li_st_writer_save(w, path);
	li_st_writer_free(w);
	return rc;
}

static void test_files(void)
{
	char path[128], want[512];
	li_net *net = small_net("resnet10", 4, 3, 3, 21);
	randomise_bn(net);
	*(int64_t *)li_net_tensor_find(net, "bn1.num_batches_tracked")->data = 42;
	path_in_tmp(path, sizeof path, "m.safetensors");
	li_model_meta meta;
	li_model_meta_default(&meta, 3);
	meta.input_size = 32;
	meta.mean[1] = 0.5f;
	meta.std[2] = 0.123456789f;
	meta.epoch = 3;
	meta.valid_loss = 0.25;
	meta.command = "li-train 'a b' -o m.safetensors";
	ok(li_net_save(net, path, &meta) == 0, "save");
	bool reset = true;
	li_model_meta lm;
	li_net *back = li_net_load(path, NULL, 0, &reset, &lm);
	ok(back != NULL, "load without a config: %s", back ? "ok" : li_errmsg());
	if (!back)
		return;
	ok(lm.input_size == 32 && memcmp(lm.mean, meta.mean, sizeof lm.mean) == 0 &&
	   memcmp(lm.std, meta.std, sizeof lm.std) == 0 && lm.epoch == 3 && lm.valid_loss == 0.25,
	   "metadata round trip: input size, mean, std (exact floats), epoch, valid loss");
	is_str(lm.command, meta.command, "metadata round trip: command");
	is_str(lm.li_version, LI_VERSION, "metadata: li_version of this build");
	ok(strcmp(lm.net.arch, "resnet10") == 0 && lm.net.width == 4 && lm.net.classes == 3 &&
	   lm.net.in_channels == 3, "metadata: the architecture");
	li_model_meta_free(&lm);
	ok(!lm.command && !lm.li_version, "li_model_meta_free clears the strings");
	ok(!reset, "fc kept");
	const li_net_config *c = li_net_get_config(back);
	ok(strcmp(c->arch, "resnet10") == 0 && c->width == 4 && c->classes == 3 && c->in_channels == 3,
	   "config from metadata");
	int same = 1;
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i), *u = li_net_tensor_at(back, i);
		same &= strcmp(t->name, u->name) == 0 && t->numel == u->numel &&
			memcmp(t->data, u->data, t->numel * (t->dtype == LI_DT_I64 ? 8 : 4)) == 0;
	}
	ok(same, "round trip: every tensor identical (incl. num_batches_tracked)");
	li_st *st = li_st_open(path);
	ok(st && li_st_meta(st, "arch") && strcmp(li_st_meta(st, "arch"), "resnet10") == 0 &&
	   strcmp(li_st_meta(st, "width"), "4") == 0 && strcmp(li_st_meta(st, "epoch"), "3") == 0 &&
	   li_st_meta(st, "li_version") != NULL, "metadata written");
	const li_st_info *nbt = st ? li_st_find(st, "bn1.num_batches_tracked") : NULL;
	ok(nbt && nbt->dtype == LI_DT_I64 && nbt->ndim == 0, "num_batches_tracked saved as I64 []");
	li_st_close(st);
	/* logits of the loaded model equal the original's */
	float x[2 * 3 * 32 * 32], la[6], lb[6];
	fill(x, LI_ARRAY_LEN(x), 1.0);
	li_net_prepare(net, 2, 32, 32);
	li_net_prepare(back, 2, 32, 32);
	li_net_forward(net, x, 2, la, NULL);
	li_net_forward(back, x, 2, lb, NULL);
	ok(memcmp(la, lb, sizeof la) == 0, "loaded model gives identical logits");
	li_net_free(back);

	/* another class count with a config: fc re-initialised, the rest kept */
	li_net_config cfg = *li_net_get_config(net);
	cfg.classes = 2;
	back = li_net_load(path, &cfg, 77, &reset, NULL);
	ok(back && reset, "class count 3 -> 2: loaded with fc reset");
	if (back) {
		li_net *ref = small_net("resnet10", 4, 2, 3, 0);
		li_net_init_fc(ref, 77);
		const li_net_tensor *f1 = li_net_tensor_find(back, "fc.weight"), *f2 = li_net_tensor_find(ref, "fc.weight");
		ok(f1->shape[0] == 2 && memcmp(f1->data, f2->data, f1->numel * 4) == 0,
		   "fc initialised from the seed");
		const li_net_tensor *w1 = li_net_tensor_find(back, "layer2.0.conv1.weight");
		const li_net_tensor *w2 = li_net_tensor_find(net, "layer2.0.conv1.weight");
		ok(memcmp(w1->data, w2->data, w1->numel * 4) == 0, "other tensors loaded");
		li_net_free(ref);
		li_net_free(back);
	}
	/* a wider config does not fit the file */
	cfg.classes = 3;
	cfg.width = 8;
	ok(!li_net_load(path, &cfg, 0, NULL, NULL), "width mismatch refused");
	snprintf(want, sizeof want, "'%s': tensor 'conv1.weight' has shape [4, 3, 7, 7], expected [8, 3, 7, 7]", path);
	is_str(li_errmsg(), want, "width mismatch message");

	/* bad files: missing tensor, wrong shape, wrong dtype */
	path_in_tmp(path, sizeof path, "bad.safetensors");
	write_edited(net, path, "layer1.0.conv1.weight", 0);
	ok(!li_net_load(path, NULL, 0, NULL, NULL), "missing tensor refused");
	snprintf(want, sizeof want, "'%s': tensor 'layer1.0.conv1.weight' is missing", path);
	is_str(li_errmsg(), want, "missing tensor message");
	write_edited(net, path, "layer1.0.conv1.weight", 1);
	ok(!li_net_load(path, NULL, 0, NULL, NULL), "wrong shape refused");
	snprintf(want, sizeof want, "'%s': tensor 'layer1.0.conv1.weight' has shape [4, 4, 3, 1], expected [4, 4, 3, 3]", path);
	is_str(li_errmsg(), want, "wrong shape message");
	write_edited(net, path, "layer3.0.bn2.weight", 2);
	ok(!li_net_load(path, NULL, 0, NULL, NULL), "wrong dtype refused");
	snprintf(want, sizeof want, "'%s': tensor 'layer3.0.bn2.weight' has dtype I32, expected F32", path);
	is_str(li_errmsg(), want, "wrong dtype message");

	/* a plain export (no metadata) is recognised from its shapes */
	li_net *r18 = small_net("resnet18", 8, 5, 1, 3);
	write_edited(r18, path, "", 0);
	back = li_net_load(path, NULL, 0, NULL, &lm);
	ok(back && strcmp(li_net_get_config(back)->arch, "resnet18") == 0 &&
	   li_net_get_config(back)->classes == 5 && li_net_get_config(back)->width == 8 &&
	   li_net_get_config(back)->in_channels == 1, "plain export: resnet18, 5 classes, width 8, 1 channel");
	ok(back && lm.input_size == 224 && lm.mean[0] == 0.449f && lm.std[0] == 0.226f && lm.epoch == 0 &&
	   isnan(lm.valid_loss) && !lm.command && !lm.li_version && lm.net.in_channels == 1,
	   "plain export: default metadata (224, gray ImageNet statistics, nothing recorded)");
	li_model_meta_free(&lm);
	li_net_free(back);
	li_net *rgb = small_net("resnet10", 4, 2, 3, 3);
	write_edited(rgb, path, "", 0);
	back = li_net_load(path, NULL, 0, NULL, &lm);
	ok(back && lm.mean[0] == 0.485f && lm.mean[1] == 0.456f && lm.mean[2] == 0.406f && lm.std[0] == 0.229f &&
	   lm.std[1] == 0.224f && lm.std[2] == 0.225f, "plain RGB export: ImageNet mean and std");
	li_model_meta_free(&lm);
	li_net_free(rgb);
	li_net_free(back);
	li_net_free(r18);
	li_net *r34 = small_net("resnet34", 4, 2, 3, 3);
	write_edited(r34, path, "", 0);
	back = li_net_load(path, NULL, 0, NULL, NULL);
	ok(back && strcmp(li_net_get_config(back)->arch, "resnet34") == 0, "plain export: resnet34");
	li_net_free(back);
	/* a resnet34 file is not a resnet18 */
	li_net_config_default(&cfg);
	cfg.width = 4;
	back = li_net_load(path, &cfg, 0, NULL, NULL);
	ok(!back, "resnet34 file refused as resnet18");
	snprintf(want, sizeof want, "'%s': unexpected tensor 'layer1.2.conv1.weight' for resnet18", path);
	is_str(li_errmsg(), want, "unexpected tensor message");
	li_net_free(r34);
	/* A tensor name with a newline and an escape code is quoted escaped: the
	 * message stays one line and sends no control byte to a terminal. */
	{
		li_net *r18b = small_net("resnet18", 4, 2, 3, 3);
		li_st_writer *w = li_st_writer_new();
		for (int i = 0; i < li_net_tensor_count(r18b); i++) {
			const li_net_tensor *t = li_net_tensor_at(r18b, i);
			li_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
		}
		static const float one = 1;
		li_st_writer_add(w, "evil\n\x1b[2Jname", LI_DT_F32, 0, NULL, &one);
		ok(li_st_writer_save(w, path) == 0, "model with a hostile tensor name written");
		li_st_writer_free(w);
		ok(!li_net_load(path, NULL, 0, NULL, NULL), "hostile tensor name refused");
		snprintf(want, sizeof want, "'%s': unexpected tensor 'evil\\n\\x1b[2Jname' for resnet18", path);
		is_str(li_errmsg(), want, "its message is one line with the control bytes escaped");
		li_net_free(r18b);
	}
	unlink(path);
	path_in_tmp(path, sizeof path, "m.safetensors");
	unlink(path);
	li_net_free(net);
}

/* A few kilobytes that claim a huge network must be refused before anything
 * of that size is allocated (issue 10, defect 7: 57 GB asked of a 5.7 KB file;
 * under ASan such an allocation aborts). */
static void test_hostile_metadata(void)
{
	char path[128], want[512];
	path_in_tmp(path, sizeof path, "huge.safetensors");
	li_net *net = small_net("resnet10", 8, 2, 3, 5);
	li_st_writer *w = li_st_writer_new();
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		li_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
	}
	li_st_writer_meta(w, "arch", "resnet34");
	li_st_writer_meta(w, "width", "1024");
	li_st_writer_meta(w, "classes", "1000000");
	ok(li_st_writer_save(w, path) == 0, "crafted file written");
	li_st_writer_free(w);
	ok(!li_net_load(path, NULL, 0, NULL, NULL), "resnet34 / width 1024 / 1e6 classes over small tensors refused");
	snprintf(want, sizeof want, "'%s': metadata 'classes' is 1000000 but tensor 'fc.weight' says 2", path);
	is_str(li_errmsg(), want, "the metadata that disagrees with the tensors is named");

	/* preprocessing keys are checked when the metadata is asked for */
	li_model_meta lm;
	li_model_meta_default(&lm, 3);
	lm.mean[2] = 1e30f;
	lm.mean[2] *= 1e30f; /* inf: written as "inf" */
	ok(li_net_save(net, path, &lm) == 0, "a mean that is not finite written");
	li_net *plain = li_net_load(path, NULL, 0, NULL, NULL);
	ok(plain != NULL, "loading without asking for the metadata does not look at it");
	li_net_free(plain);
	ok(!li_net_load(path, NULL, 0, NULL, &lm), "a mean that is not finite refused");
	snprintf(want, sizeof want, "'%s': metadata 'mean' is '0.485,0.456,inf', expected 3 comma-separated numbers", path);
	is_str(li_errmsg(), want, "its message");

	/* metadata that agrees with conv1 and fc, but an architecture far larger than the file */
	static float big[1024 * 3 * 49];
	int64_t c1[4] = {1024, 3, 7, 7}, fw[2] = {2, 8192}, fb[1] = {2}, tiny[4] = {1, 1, 1, 1};
	w = li_st_writer_new();
	li_st_writer_add(w, "conv1.weight", LI_DT_F32, 4, c1, big);
	li_st_writer_add(w, "fc.weight", LI_DT_F32, 2, fw, big);
	li_st_writer_add(w, "fc.bias", LI_DT_F32, 1, fb, big);
	li_st_writer_add(w, "layer3.5.conv1.weight", LI_DT_F32, 4, tiny, big);
	ok(li_st_writer_save(w, path) == 0, "crafted export written");
	li_st_writer_free(w);
	ok(!li_net_load(path, NULL, 0, NULL, &lm), "a resnet34 of width 1024 from 166,914 values refused");
	snprintf(want, sizeof want, "'%s': the tensors hold 166915 values, a resnet34 of width 1024 with 2 "
		 "classes has 5442821122", path);
	is_str(li_errmsg(), want, "the shortfall is named");
	ok(lm.net.arch[0] == '\0', "no architecture returned for a file that could not be read");
	unlink(path);
	li_net_free(net);
}

/* LI_NET_CONV_MEASURED remembers what it timed in the cache, and AUTO runs
 * what the cache says (here, where AUTO alone would run ours untimed: the
 * plan when a line says "onednn"); a line AUTO cannot read is not taken;
 * with no cache MEASURED still decides. Each answer is ours' to rounding. */
static void test_conv_cache(void)
{
	int n = 3, h = 36, w = 36, classes = 3;
	char dir[128], key[1024], val[1024];
	snprintf(dir, sizeof dir, "%s/cache", tmpdir);
	setenv("LI_CACHE_DIR", dir, 1);
	li_net *net = small_net("resnet10", 8, classes, 3, 31);
	randomise_bn(net);
	li_net_prepare(net, n, h, w);
	li_net_set_training(net, false);
	float *x = malloc(sizeof(float) * 3 * h * w * n), a[9], b[9];
	fill(x, (size_t)3 * h * w * n, 1.0);
	li_net_set_conv(net, LI_NET_CONV_OURS);
	li_net_forward(net, x, n, a, NULL);
	li_net_set_conv(net, LI_NET_CONV_MEASURED);
	li_net_forward(net, x, n, b, NULL);
	ok(max_gap(a, b, n * classes) <= 1e-4 * fmax(fabs(a[0]), 1), "measured: the logits of ours");
	bool line = cache_line(dir, "eval n=3 36x36 in=3 resnet10 width=8 threads=1 isa=", key, val,
			       sizeof key);
	ok(line, "measured: the decision is remembered in %s/conv-choice", dir);
	double t1 = 0, t2 = 0;
	char word[16] = "";
	ok(line && sscanf(val, "%15s %lf %lf", word, &t1, &t2) == 3 &&
	       (strcmp(word, "ours") == 0 || strcmp(word, "onednn") == 0) && t1 > 0 && t2 > 0,
	   "with the winner and both times: '%s'", val);
	ok(strstr(key, " li=") && strstr(key, " onednn=") && strstr(key, " cpu="),
	   "the key names the CPU and both libraries' versions: '%s'", key);

	for (int k = 0; k < 2; k++) {
		write_cache(dir, key, k == 0 ? "onednn 2.0 1.0" : "ours 1.0 2.0");
		li_net_set_conv(net, LI_NET_CONV_AUTO);
		li_net_prof_reset(net);
		li_net_forward(net, x, n, b, NULL);
		is_int(convs_on(net, "onednn"), k == 0 ? 12 : 0, "auto runs %s, as the cache says",
		       k == 0 ? "the plan" : "ours");
		ok(max_gap(a, b, n * classes) <= 1e-4 * fmax(fabs(a[0]), 1), "and agrees with ours");
	}
	write_cache(dir, key, "maybe 1.0 2.0");
	li_net_set_conv(net, LI_NET_CONV_AUTO);
	li_net_prof_reset(net);
	li_net_forward(net, x, n, b, NULL);
	if (li_cpu_isa() < LI_ISA_AVX512) {
		is_int(convs_on(net, "onednn"), 0, "a line auto cannot read: ours, untimed (below AVX-512)");
		ok(cache_line(dir, key, key, val, sizeof key) && strcmp(val, "maybe 1.0 2.0") == 0,
		   "and the line is left alone");
	} else {
		ok(cache_line(dir, key, key, val, sizeof key) && strcmp(val, "maybe 1.0 2.0") != 0,
		   "a line auto cannot read: timed again and replaced (AVX-512): '%s'", val);
	}
	ok(max_gap(a, b, n * classes) <= 1e-4 * fmax(fabs(a[0]), 1), "and agrees with ours");

	setenv("LI_CACHE_DIR", "", 1);
	li_net_set_conv(net, LI_NET_CONV_MEASURED);
	li_net_forward(net, x, n, b, NULL);
	ok(max_gap(a, b, n * classes) <= 1e-4 * fmax(fabs(a[0]), 1), "no cache: measured still decides");
	setenv("LI_CACHE_DIR", dir, 1);
	free(x);
	li_net_free(net);
}

/* CPU seconds of the process and of this thread. */
static void cpu_times(double *process, double *thread)
{
	struct timespec a, b;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	*process = a.tv_sec + 1e-9 * a.tv_nsec;
	*thread = b.tv_sec + 1e-9 * b.tv_nsec;
}

/* oneDNN fixes a conv primitive's split of the work when it is made
 * (li_dnnl_threads): an eval plan made after ours ran, which leaves this
 * thread's OpenMP team at one, must still run on the net's 2 threads. Seen
 * in CPU time: while the plan runs, the other threads do about as much as
 * this one (seen: 0.98-1.0x); a plan made for one thread leaves them nothing
 * (seen: 0.000 s against 0.114). (Training plans split most of their work
 * when they run; they are made the same way.) */
static void test_dnnl_threads(void)
{
	int n = 8, h = 128, w = 128, classes = 2;
	li_net *net = small_net("resnet18", 32, classes, 3, 21);
	li_net_prepare(net, n, h, w);
	li_net_set_threads(net, 2);
	li_net_set_training(net, false);
	float *x = malloc(sizeof(float) * 3 * h * w * n), logits[16];
	fill(x, (size_t)3 * h * w * n, 1.0);
	li_net_set_conv(net, LI_NET_CONV_OURS);
	li_net_forward(net, x, n, logits, NULL);
	li_net_set_conv(net, LI_NET_CONV_ONEDNN);
	double p0 = 0, t0 = 0, p1, t1;
	for (int i = 0; i < 4; i++) {
		if (i == 1)
			cpu_times(&p0, &t0);
		li_net_forward(net, x, n, logits, NULL);
	}
	cpu_times(&p1, &t1);
	double mine = t1 - t0, others = (p1 - p0) - mine;
	ok(others >= 0.4 * mine,
	   "a plan made after ours ran uses both threads (CPU s: this thread %.3f, the others %.3f)",
	   mine, others);
	free(x);
	li_net_free(net);
}

int main(void)
{
	li_rng_seed(&rng, 4321);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/li_test_net.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		ok(0, "cannot make a temporary directory");
		return done_testing();
	}
	char cache[128];
	snprintf(cache, sizeof cache, "%s/cache", tmpdir);
	setenv("LI_CACHE_DIR", cache, 1); /* never the user's */
	test_topology();
	test_gradients(LI_NET_CONV_OURS);
	test_gradients(LI_NET_CONV_ONEDNN);
	test_eval();
	test_onednn();
	test_release();
	test_training();
	test_onednn_train();
	test_bf16_train();
	test_dnnl_threads();
	test_conv_cache();
	test_measured_train();
	test_files();
	test_hostile_metadata();
	char file[160];
	snprintf(file, sizeof file, "%s/conv-choice", cache);
	unlink(file);
	rmdir(cache);
	rmdir(tmpdir);
	return done_testing();
}
