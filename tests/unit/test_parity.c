/* test_parity.c: li_net against PyTorch on the same weights and batch.
 *
 * tests/fixtures/torch/resnet10_w8.safetensors (gen_torch_fixtures.py) holds a
 * small torchvision-topology ResNet with random weights and BN statistics, a
 * batch, and what torch computed from them: eval and train logits, pooled
 * features, four cross-entropy variants and their logit gradients, parameter
 * gradients, running statistics after the train forward, and every tensor
 * after three Adam steps under CosineAnnealingLR. The weights are copied into
 * li_net by name, so the test also checks that our names and shapes are
 * torchvision's. When Debian's python3-torch is installed, the same check runs
 * on a full-size torchvision resnet18 at 224x224 generated into a temp dir.
 *
 * Errors are norm-wise relative: max |ours - torch| / max |torch| over a
 * tensor, so elements near zero are judged against the tensor's scale. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_net.h"
#include "li_nn.h"
#include "li_optim.h"
#include "li_safetensors.h"
#include "tap.h"

#define FIXTURE "tests/fixtures/torch/resnet10_w8.safetensors"
#define GENERATOR "tests/fixtures/gen_torch_fixtures.py"
#define STEPS 3

static const char *const few_grads[] = {"conv1.weight", "layer1.0.bn1.weight",
					"layer3.0.downsample.0.weight", "fc.weight", "fc.bias"};

/* Tolerances. The small fixture is held to the bounds. At full size
 * (resnet18, 224x224, batch 2) the gradients below fc can be dominated by
 * ReLU boundary flips: of the ~10M rectified activations a few may lie within
 * float32 rounding (1e-6) of zero, ours and torch's round them to different
 * sides, and train-mode BN backward (a projection that removes most of the
 * spatially constant gradient avgpool sends back) amplifies one flip into
 * percent-level changes. Whether that happens depends on the random weights:
 * with the generator's current seed the five gradients agree to 3e-4, but a
 * variant with other BN statistics showed 2% on conv1.weight and 30% on
 * layer4.1.conv1.weight, all from one flipped activation in layer4.1 (with
 * that flip replayed in float64, ours matched to 7e-6; torch float32 itself
 * was 0.5% from torch float64 on conv1.weight). So at full size gradients are
 * held to 5e-2 (a real backward bug is O(1)), fc's to 1e-3, and parameters
 * after the Adam steps by the direction of the update: Adam moves each
 * element by about lr * sign(gradient), so elements whose gradients flipped
 * differ by up to 2 * lr, but a correct implementation's update points the
 * same way (cosine > 0.99 overall, > 0.9 per tensor; that variant gave 0.995
 * and 0.97) and has the same length. */
typedef struct tolerances {
	double grad, grad_fc; /* norm-wise relative */
	double step3_rel;     /* after the steps: parameters (unless cosine is set) and buffers */
	double update_cos;    /* > 0: parameters judged by the cosine of the updates */
} tolerances;
static const tolerances small_tol = {1e-3, 1e-3, 1e-4, 0};
static const tolerances full_tol = {5e-2, 1e-3, 5e-2, 0.99};

static double rel_err(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		num = fmax(num, fabs((double)a[i] - b[i]));
		den = fmax(den, fabs((double)b[i]));
	}
	return den > 0 ? num / den : num;
}

/* A fixture tensor as float32 (any shape), NULL + message when absent. */
static float *load(const li_st *st, const char *name, size_t *numel)
{
	const li_st_info *t = li_st_find(st, name);
	if (!t) {
		li_error("fixture tensor '%s' is missing", name);
		return NULL;
	}
	float *p = li_malloc_array(t->numel ? t->numel : 1, sizeof(float));
	if (p && li_st_read_f32(st, name, t->ndim, t->shape, p) < 0) {
		free(p);
		return NULL;
	}
	if (numel)
		*numel = t->numel;
	return p;
}

static long meta_long(const li_st *st, const char *key)
{
	const char *v = li_st_meta(st, key);
	long x;
	return v && li_parse_long(v, &x) == 0 ? x : -1;
}

/* Compare fixture tensor `name` with n floats of ours. */
static void check(const li_st *st, const char *label, const char *name, const float *ours, size_t n,
		  double tol)
{
	size_t m = 0;
	float *want = load(st, name, &m);
	if (!ok(want && m == n, "%s: %s present with %zu values", label, name, n)) {
		diag("%s", want ? "size differs" : li_errmsg());
		free(want);
		return;
	}
	double e = rel_err(ours, want, n);
	if (!ok(e <= tol, "%s: %s within %g of torch", label, name, tol))
		diag("relative error %.3g", e);
	else
		diag("%s: relative error %.3g", name, e);
	free(want);
}

/* Every net tensor against fixture tensor prefix+name: floats within tol
 * (worst reported), integers exact. only_buffers: running stats only. */
/* Every net tensor against fixture tensor prefix+name: floats within tol
 * (worst reported), integers exact. only_buffers: running stats only.
 * update_cos > 0: trainable tensors are instead judged together by the
 * cosine between our update (now - fixture's initial value) and torch's. */
static void check_state(const li_st *st, const li_net *net, const char *label, const char *prefix,
			bool only_buffers, double tol, double update_cos)
{
	double worst = 0, dot = 0, n_ours = 0, n_torch = 0, worst_cos = 1;
	const char *worst_name = "", *worst_cos_name = "";
	int bad = 0, count = 0, missing = 0;
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		if (only_buffers && t->trainable)
			continue;
		char key[128];
		snprintf(key, sizeof key, "%s%s", prefix, t->name);
		const li_st_info *f = li_st_find(st, key);
		if (!f || f->numel != t->numel) {
			missing++;
			continue;
		}
		count++;
		if (t->dtype == LI_DT_I64) {
			int64_t v[1];
			if (t->numel != 1 || li_st_read_i64(st, key, f->ndim, f->shape, v) < 0 ||
			    v[0] != *(const int64_t *)t->data) {
				bad++;
				diag("%s differs", key);
			}
			continue;
		}
		float *want = load(st, key, NULL), *init = NULL;
		const float *ours = t->data;
		if (t->trainable && update_cos > 0) {
			init = load(st, t->name, NULL);
			double d1 = 0, o1 = 0, t1 = 0;
			for (size_t k = 0; want && init && k < t->numel; k++) {
				double a = (double)ours[k] - init[k], b = (double)want[k] - init[k];
				d1 += a * b, o1 += a * a, t1 += b * b;
			}
			dot += d1, n_ours += o1, n_torch += t1;
			double c1 = o1 > 0 && t1 > 0 ? d1 / sqrt(o1 * t1) : 0;
			if (c1 < worst_cos)
				worst_cos = c1, worst_cos_name = t->name;
			bad += !want || !init;
			free(want);
			free(init);
			continue;
		}
		double e = want ? rel_err(ours, want, t->numel) : INFINITY;
		if (e > worst)
			worst = e, worst_name = t->name;
		if (e > tol)
			bad++;
		free(want);
	}
	if (update_cos > 0) {
		double cosine = n_ours > 0 && n_torch > 0 ? dot / sqrt(n_ours * n_torch) : 0;
		double ratio = n_torch > 0 ? sqrt(n_ours / n_torch) : 0;
		if (!ok(cosine >= update_cos && fabs(ratio - 1) <= 0.05,
			"%s: our parameter update points as torch's (cosine %.5f) and is as long (ratio %.4f)",
			label, cosine, ratio))
			diag("want cosine >= %g and ratio 1 +- 0.05", update_cos);
		ok(worst_cos >= 0.9, "%s: every tensor's update correlates with torch's (cosine > 0.9)", label);
		diag("least correlated: %s, cosine %.4f", worst_cos_name, worst_cos);
	}
	if (!ok(!bad && !missing && count > 0, "%s: %d %s%s tensors within %g of torch", label, count,
		prefix, only_buffers ? " buffer" : "", tol))
		diag("%d differ, %d missing", bad, missing);
	diag("%s*: worst relative error %.3g (%s)", prefix, worst, worst_name);
}

/* The convolutions run_fixture's nets use: LI_CONV's choice, or one forced
 * (the oneDNN training and eval plans are compared to torch as well). */
static int conv_forced = -1;

static void run_fixture(const char *path, const char *label, const tolerances *tol)
{
	li_st *st = li_st_open(path);
	if (!ok(st != NULL, "%s: open %s", label, path)) {
		diag("%s", li_errmsg());
		return;
	}
	li_net_config cfg;
	li_net_config_default(&cfg);
	const char *arch = li_st_meta(st, "arch");
	snprintf(cfg.arch, sizeof cfg.arch, "%s", arch ? arch : "?");
	cfg.width = (int)meta_long(st, "width");
	cfg.classes = (int)meta_long(st, "classes");
	cfg.in_channels = (int)meta_long(st, "in_channels");
	int n = (int)meta_long(st, "batch"), size = (int)meta_long(st, "size");
	li_net *net = li_net_new(&cfg);
	if (net && conv_forced >= 0)
		li_net_set_conv(net, (li_net_conv)conv_forced);
	if (!ok(net && n > 0 && size > 0, "%s: build %s width %d, %d classes", label, cfg.arch, cfg.width,
		cfg.classes)) {
		diag("%s", li_errmsg());
		li_st_close(st);
		return;
	}

	/* Load by name; every model tensor of the fixture must be one of ours. */
	int loaded = 0, model_tensors = 0;
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		int rc = t->dtype == LI_DT_I64 ? li_st_read_i64(st, t->name, t->ndim, t->shape, t->data)
					       : li_st_read_f32(st, t->name, t->ndim, t->shape, t->data);
		if (rc < 0)
			diag("%s", li_errmsg());
		else
			loaded++;
	}
	for (int i = 0; i < li_st_count(st); i++) {
		const char *name = li_st_at(st, i)->name;
		if (strncmp(name, "conv1.", 6) == 0 || strncmp(name, "bn1.", 4) == 0 ||
		    strncmp(name, "layer", 5) == 0 || strncmp(name, "fc.", 3) == 0)
			model_tensors++;
	}
	if (!ok(loaded == li_net_tensor_count(net) && loaded == model_tensors,
		"%s: all %d tensors loaded by torchvision name and shape", label, loaded))
		diag("loaded %d of our %d; the fixture has %d", loaded, li_net_tensor_count(net), model_tensors);
	li_net_params_changed(net);

	int k = cfg.classes, fdim = li_net_feature_dim(net);
	size_t nx = (size_t)n * cfg.in_channels * size * size;
	size_t nxin = 0, nl = 0;
	float *x = load(st, "input", &nxin);
	float *lab_f = load(st, "labels", &nl);
	float *cw = load(st, "class_weights", NULL);
	float *logits = li_malloc_array((size_t)n * k, sizeof(float));
	float *dlogits = li_malloc_array(4 * (size_t)n * k, sizeof(float));
	float *feat = li_malloc_array((size_t)n * fdim, sizeof(float));
	int *labels = li_malloc_array(n, sizeof(int));
	float *torch_logits = load(st, "logits_train", NULL);
	if (!ok(x && nxin == nx && lab_f && nl == (size_t)n && cw && logits && dlogits && feat && labels &&
			torch_logits && li_net_prepare(net, n, size, size) == 0,
		"%s: batch %d x %d x %d x %d read, net prepared", label, n, cfg.in_channels, size, size)) {
		diag("%s", li_errmsg());
		goto out;
	}
	for (int i = 0; i < n; i++)
		labels[i] = (int)lab_f[i];
	li_net_set_threads(net, 2);

	/* Eval mode: running statistics (BN folded into the convs). */
	li_net_set_training(net, false);
	ok(li_net_forward(net, x, n, logits, feat) == 0, "%s: eval forward", label);
	check(st, label, "logits_eval", logits, (size_t)n * k, 1e-4);
	check(st, label, "features_eval", feat, (size_t)n * fdim, 1e-4);

	/* Loss and d(loss)/d(logits) on torch's own train logits, so a loss
	 * error is not confused with a forward one. */
	const char *const loss_names[4] = {"plain", "class weights", "label smoothing 0.1", "both"};
	float *want_loss = load(st, "loss", NULL);
	for (int v = 0; v < 4 && want_loss; v++) {
		li_loss_config lc = {.class_weights = v & 1 ? cw : NULL, .label_smoothing = v & 2 ? 0.1f : 0};
		double loss = li_softmax_xent(torch_logits, labels, n, k, &lc, dlogits + (size_t)v * n * k);
		if (!ok(fabs(loss - want_loss[v]) <= 1e-5 * fabs(want_loss[v]), "%s: loss (%s) as torch", label,
			loss_names[v]))
			diag("got %.9g, want %.9g", loss, want_loss[v]);
	}
	free(want_loss);
	check(st, label, "dlogits", dlogits, 4 * (size_t)n * k, 1e-5);

	/* Train mode: batch statistics; then the gradients of the plain loss. */
	li_net_set_training(net, true);
	li_net_zero_grad(net);
	ok(li_net_forward(net, x, n, logits, NULL) == 0, "%s: train forward", label);
	if (conv_forced == LI_NET_CONV_ONEDNN) {
		int on = 0;
		for (int i = 0; i < li_net_prof_count(net); i++) {
			const char *p = li_net_prof_at(net, i)->forward_path;
			on += p && strcmp(p, "onednn-train") == 0;
		}
		ok(on > 0, "%s: the train forward ran on the oneDNN plan (%d convs)", label, on);
	}
	check(st, label, "logits_train", logits, (size_t)n * k, 1e-4);
	check_state(st, net, label, "train1.", true, 1e-4, 0);
	li_loss_config plain = {0};
	li_softmax_xent(logits, labels, n, k, &plain, dlogits);
	ok(li_net_backward(net, dlogits) == 0, "%s: backward", label);
	int grads_seen = 0;
	bool few_present = true;
	for (size_t g = 0; g < LI_ARRAY_LEN(few_grads); g++) {
		char key[96];
		snprintf(key, sizeof key, "grad.%s", few_grads[g]);
		few_present &= li_st_find(st, key) != NULL;
	}
	ok(few_present, "%s: the fixture has the five named gradients", label);
	for (int i = 0; i < li_st_count(st); i++) {
		const char *name = li_st_at(st, i)->name;
		if (strncmp(name, "grad.", 5) != 0)
			continue;
		const li_net_tensor *t = li_net_tensor_find(net, name + 5);
		if (!ok(t && t->trainable, "%s: %s is a parameter of ours", label, name + 5))
			continue;
		/* Quiet for the many tensors of a full fixture; loud on failure. */
		size_t m;
		float *want = load(st, name, &m);
		double e = want && m == t->numel ? rel_err(li_net_grads(net) + t->param_offset, want, m) : INFINITY;
		double gt = strncmp(name, "grad.fc.", 8) == 0 ? tol->grad_fc : tol->grad;
		if (!ok(e <= gt, "%s: gradient of %s within %g of torch", label, name + 5, gt))
			diag("relative error %.3g", e);
		else if (grads_seen < 5 || e > 1e-4)
			diag("grad.%s: relative error %.3g", name + 5, e);
		grads_seen++;
		free(want);
	}

	/* Three Adam steps under CosineAnnealingLR(T_max=3), stepped per step;
	 * the first uses the gradients just checked. */
	li_optim_config oc;
	li_optim_config_default(&oc, LI_OPTIM_ADAM);
	li_optim *opt = li_optim_new(&oc, li_net_param_count(net));
	li_sched sched = {.kind = LI_SCHED_COSINE, .base_lr = 1e-3, .t_max = STEPS};
	const li_st_info *lrs_t = li_st_find(st, "lrs");
	/* Read as bytes: the data section need not be 8-aligned for doubles. */
	const unsigned char *lrs =
		lrs_t && lrs_t->dtype == LI_DT_F64 && lrs_t->numel == STEPS ? li_st_data(st, lrs_t) : NULL;
	bool lr_same = lrs != NULL;
	int rc = opt ? 0 : -1;
	for (int s = 0; s < STEPS && rc == 0; s++) {
		if (s > 0) {
			li_net_zero_grad(net);
			rc |= li_net_forward(net, x, n, logits, NULL);
			li_softmax_xent(logits, labels, n, k, &plain, dlogits);
			rc |= li_net_backward(net, dlogits);
		}
		double lr = li_sched_lr(&sched, s);
		if (lrs) {
			double want;
			memcpy(&want, lrs + s * sizeof want, sizeof want);
			lr_same &= fabs(lr - want) <= 1e-12 * want;
		}
		li_optim_step(opt, li_net_params(net), li_net_grads(net), lr);
		li_net_params_changed(net);
	}
	ok(rc == 0, "%s: three training steps ran", label);
	ok(lr_same, "%s: our cosine learning rates are torch's", label);
	check_state(st, net, label, "step3.", false, tol->step3_rel, tol->update_cos);
	li_optim_free(opt);
out:
	free(x), free(lab_f), free(cw), free(logits), free(dlogits), free(feat), free(labels), free(torch_logits);
	li_net_free(net);
	li_st_close(st);
}

/* The full-size check: torchvision resnet18 at 224x224, generated now. */
static void run_full_size(void)
{
	if (system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") != 0) {
		skip("python3-torch not installed");
		return;
	}
	if (getenv("LI_ASAN")) {
		skip("full-size resnet18 parity under sanitizers (too slow; the small fixture covers the code)");
		return;
	}
	char dir[] = "/tmp/li-parity-XXXXXX";
	if (!ok(mkdtemp(dir) != NULL, "temp dir for the resnet18 fixture"))
		return;
	char path[64], cmd[512];
	snprintf(path, sizeof path, "%s/resnet18.safetensors", dir);
	snprintf(cmd, sizeof cmd,
		 "/usr/bin/python3 %s --net %s --arch resnet18 --width 64 --size 224 --batch 2 --classes 2 "
		 "--few-grads --seed 7",
		 GENERATOR, path);
	double t0 = li_now();
	int rc = system(cmd);
	double t1 = li_now();
	if (ok(rc == 0, "torch wrote a resnet18 fixture (%.1f s)", t1 - t0))
		run_fixture(path, "resnet18 224", &full_tol);
	diag("resnet18 comparison took %.1f s", li_now() - t1);
	unlink(path);
	rmdir(dir);
}

/* With arguments: check those fixture files instead (for debugging a
 * fixture written by hand with gen_torch_fixtures.py --net); LI_PARITY_FULL
 * set selects the full-size tolerances. */
int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			run_fixture(argv[i], argv[i], getenv("LI_PARITY_FULL") ? &full_tol : &small_tol);
		return done_testing();
	}
	run_fixture(FIXTURE, "resnet10 w8", &small_tol);
	conv_forced = LI_NET_CONV_ONEDNN;
	run_fixture(FIXTURE, "resnet10 w8, oneDNN plans", &small_tol);
	conv_forced = -1;
	run_full_size();
	return done_testing();
}
