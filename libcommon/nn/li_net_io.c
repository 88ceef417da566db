/* li_net_io.c: ResNet models as safetensors with torchvision state_dict names,
 * so our files load in PyTorch and torchvision/timm exports load here. Kept
 * apart from li_net.c so the network links without the safetensors module. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_net.h"
#include "li_safetensors.h"
#include "li_util.h"

#ifndef LI_VERSION
#define LI_VERSION "unknown"
#endif

/* The only copy of the defaults (ImageNet statistics; their channel
 * averages for gray input). */
static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
#define GRAY_MEAN 0.449f
#define GRAY_STD 0.226f
#define DEFAULT_INPUT_SIZE 224

void li_model_meta_default(li_model_meta *m, int channels)
{
	memset(m, 0, sizeof *m);
	li_net_config_default(&m->net);
	m->net.in_channels = channels;
	m->input_size = DEFAULT_INPUT_SIZE;
	for (int c = 0; c < 3; c++) {
		m->mean[c] = channels == 1 ? GRAY_MEAN : imagenet_mean[c];
		m->std[c] = channels == 1 ? GRAY_STD : imagenet_std[c];
	}
	m->valid_loss = NAN;
}

void li_model_meta_free(li_model_meta *m)
{
	free(m->li_version);
	free(m->command);
	m->li_version = m->command = NULL;
}

/* The shortest decimal that reads back as the same float. */
static void fmt_float(char *buf, size_t n, float v)
{
	for (int digits = 6; digits <= 9; digits++) {
		snprintf(buf, n, "%.*g", digits, (double)v);
		if (strtof(buf, NULL) == v)
			return;
	}
}

static void fmt_floats(char *buf, size_t n, const float *v, int count)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int c = 0; c < count && len < n; c++) {
		char one[32];
		fmt_float(one, sizeof one, v[c]);
		len += (size_t)snprintf(buf + len, n - len, "%s%s", c ? "," : "", one);
	}
}

int li_net_save(const li_net *net, const char *path, const li_model_meta *meta)
{
	const li_net_config *cfg = li_net_get_config(net);
	li_model_meta defaults;
	if (!meta) {
		li_model_meta_default(&defaults, cfg->in_channels);
		meta = &defaults;
	}
	li_st_writer *w = li_st_writer_new();
	if (!w)
		return -1;
	int rc = 0;
	for (int i = 0; i < li_net_tensor_count(net) && rc == 0; i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		rc = li_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
	}
	char classes[16], chans[16], width[16], size[16], mean[128], std[128], epoch[16], vloss[32];
	snprintf(classes, sizeof classes, "%d", cfg->classes);
	snprintf(chans, sizeof chans, "%d", cfg->in_channels);
	snprintf(width, sizeof width, "%d", cfg->width);
	snprintf(size, sizeof size, "%d", meta->input_size);
	fmt_floats(mean, sizeof mean, meta->mean, cfg->in_channels);
	fmt_floats(std, sizeof std, meta->std, cfg->in_channels);
	snprintf(epoch, sizeof epoch, "%d", meta->epoch);
	snprintf(vloss, sizeof vloss, "%.9g", meta->valid_loss);
	const struct {
		const char *key, *value;
		bool on;
	} keys[] = {
		{"arch", cfg->arch, true}, {"classes", classes, true}, {"in_channels", chans, true},
		{"width", width, true}, {"li_version", LI_VERSION, true}, {"input_size", size, true},
		{"mean", mean, true}, {"std", std, true}, {"epoch", epoch, meta->epoch > 0},
		{"command", meta->command, meta->command != NULL},
		{"valid_loss", vloss, isfinite(meta->valid_loss)},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(keys) && rc == 0; i++)
		if (keys[i].on)
			rc = li_st_writer_meta(w, keys[i].key, keys[i].value);
	if (rc == 0)
		rc = li_st_writer_save(w, path);
	li_st_writer_free(w);
	return rc;
}

static int meta_int(const li_st *st, const char *key, int lo, int hi, int *out)
{
	const char *v = li_st_meta(st, key);
	if (!v)
		return 0;
	long x;
	if (li_parse_long(v, &x) < 0 || x < lo || x > hi)
		return li_error("'%s': metadata '%s' is '%s', expected an integer from %d to %d",
				li_st_path(st), key, v, lo, hi);
	*out = (int)x;
	return 0;
}

static const li_st_info *need(const li_st *st, const char *name, int ndim)
{
	const li_st_info *t = li_st_find(st, name);
	if (!t) {
		li_error("'%s': tensor '%s' is missing", li_st_path(st), name);
		return NULL;
	}
	if (t->ndim != ndim) {
		li_error("'%s': tensor '%s' has %d dimensions, expected %d", li_st_path(st), name,
			 t->ndim, ndim);
		return NULL;
	}
	return t;
}

/* How many values an architecture may exceed the file's by: 64 MB of
 * parameters, allocated before the missing tensors are named. */
#define SLACK_VALUES (1 << 24)

/* Values (elements of every float tensor) of a ResNet of BasicBlocks: conv1
 * and bn1 (weight, bias, running mean and var), per stage s (w * 2^s
 * channels) its blocks' two 3x3 convolutions and BNs plus a 1x1 downsample at
 * the first block of stages 2..4, and fc. 0 for an unknown arch (li_net_new
 * refuses it without allocating). */
static double resnet_values(const li_net_config *c)
{
	static const struct {
		const char *arch;
		int blocks[4];
	} archs[] = {{"resnet10", {1, 1, 1, 1}}, {"resnet18", {2, 2, 2, 2}}, {"resnet34", {3, 4, 6, 3}}};
	for (size_t a = 0; a < LI_ARRAY_LEN(archs); a++) {
		if (strcmp(c->arch, archs[a].arch) != 0)
			continue;
		double w = c->width, v = w * c->in_channels * 49 + 4 * w, cin = w;
		for (int s = 0; s < 4; s++) {
			double cs = w * (1 << s);
			for (int b = 0; b < archs[a].blocks[s]; b++) {
				v += cin * cs * 9 + cs * cs * 9 + 8 * cs;
				if (b == 0 && s > 0)
					v += cin * cs + 4 * cs;
				cin = cs;
			}
		}
		return v + (double)c->classes * (cin + 1);
	}
	return 0;
}

/* The architecture of a file: its metadata, or for a plain torchvision/timm
 * export the tensor shapes (layer3.5 only in resnet34, layer1.1 not in
 * resnet10). The metadata must agree with the shapes, and the file must hold
 * the values of the architecture it claims: checked here, before anything of
 * that size is allocated. */
static int file_config(const li_st *st, li_net_config *cfg)
{
	li_net_config_default(cfg);
	const li_st_info *conv1 = need(st, "conv1.weight", 4), *fc = need(st, "fc.weight", 2);
	if (!conv1 || !fc)
		return -1;
	const char *arch = li_st_meta(st, "arch");
	if (arch) {
		if (strlen(arch) >= sizeof cfg->arch)
			return li_error("'%s': unknown architecture '%s'", li_st_path(st), arch);
		snprintf(cfg->arch, sizeof cfg->arch, "%s", arch);
	} else if (li_st_find(st, "layer3.5.conv1.weight")) {
		snprintf(cfg->arch, sizeof cfg->arch, "resnet34");
	} else if (li_st_find(st, "layer1.1.conv1.weight")) {
		snprintf(cfg->arch, sizeof cfg->arch, "resnet18");
	} else {
		snprintf(cfg->arch, sizeof cfg->arch, "resnet10");
	}
	/* Each of these is a shape the file must have, and its metadata (when
	 * there) must say the same. */
	const struct {
		const char *key, *tensor;
		int64_t dim;
		int lo, hi;
		int *out;
	} dims[] = {{"classes", "fc.weight", fc->shape[0], 2, 1000000, &cfg->classes},
		    {"in_channels", "conv1.weight", conv1->shape[1], 1, 3, &cfg->in_channels},
		    {"width", "conv1.weight", conv1->shape[0], 1, 1024, &cfg->width}};
	for (size_t i = 0; i < LI_ARRAY_LEN(dims); i++) {
		int v = 0;
		if (meta_int(st, dims[i].key, dims[i].lo, dims[i].hi, &v) < 0)
			return -1;
		if (li_st_meta(st, dims[i].key) && v != dims[i].dim)
			return li_error("'%s': metadata '%s' is %d but tensor '%s' says %lld", li_st_path(st),
					dims[i].key, v, dims[i].tensor, (long long)dims[i].dim);
		if (dims[i].dim < dims[i].lo || dims[i].dim > dims[i].hi)
			return li_error("'%s': tensor '%s' gives %s %lld, expected %d to %d", li_st_path(st),
					dims[i].tensor, dims[i].key, (long long)dims[i].dim, dims[i].lo,
					dims[i].hi);
		*dims[i].out = (int)dims[i].dim;
	}
	/* A file short of a few tensors gets the loader's exact message about
	 * them later; one short of far more than that (a resnet34 of width 1024
	 * claimed by a few kilobytes) is refused before allocating. */
	double want = resnet_values(cfg), have = 0;
	for (int i = 0; i < li_st_count(st); i++)
		have += (double)li_st_at(st, i)->numel;
	if (want > have + SLACK_VALUES)
		return li_error("'%s': the tensors hold %.0f values, a %s of width %d with %d classes "
				"has %.0f", li_st_path(st), have, cfg->arch, cfg->width, cfg->classes, want);
	return 0;
}

/* "a,b,c" into n floats; -1 when the count differs or a value is not finite. */
static int parse_floats(const char *s, float *out, int n)
{
	int k = 0;
	for (const char *p = s;; p++) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || !isfinite((float)v) || k >= n)
			return -1;
		out[k++] = (float)v;
		p = end;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p != ',')
			return -1;
	}
	return k == n ? 0 : -1;
}

static char *meta_string(const li_st *st, const char *key)
{
	const char *v = li_st_meta(st, key);
	return v ? li_strdup(v) : NULL;
}

/* The rest of the metadata (the architecture is file_config's): absent keys
 * keep their defaults, present ones must be valid. */
static int file_meta(const li_st *st, li_model_meta *m)
{
	const char *path = li_st_path(st);
	li_net_config net = m->net;
	li_model_meta_default(m, net.in_channels);
	m->net = net;
	int ch = net.in_channels;
	if (meta_int(st, "input_size", 32, 8192, &m->input_size) < 0 ||
	    meta_int(st, "epoch", 0, 1000000, &m->epoch) < 0)
		return -1;
	const char *keys[2] = {"mean", "std"};
	float *dst[2] = {m->mean, m->std};
	for (int k = 0; k < 2; k++) {
		const char *v = li_st_meta(st, keys[k]);
		if (v && parse_floats(v, dst[k], ch) < 0)
			return li_error("'%s': metadata '%s' is '%s', expected %d comma-separated number%s",
					path, keys[k], v, ch, ch == 1 ? "" : "s");
	}
	for (int c = 0; c < ch; c++)
		if (!(m->std[c] > 0))
			return li_error("'%s': metadata 'std' has a value that is not positive", path);
	const char *v = li_st_meta(st, "valid_loss");
	if (v) {
		char *end;
		m->valid_loss = strtod(v, &end);
		if (end == v || *end)
			return li_error("'%s': metadata 'valid_loss' is '%s', expected a number", path, v);
	}
	if ((li_st_meta(st, "li_version") && !(m->li_version = meta_string(st, "li_version"))) ||
	    (li_st_meta(st, "command") && !(m->command = meta_string(st, "command")))) {
		li_model_meta_free(m);
		return -1;
	}
	return 0;
}

static int load_tensor(const li_st *st, const li_net_tensor *t)
{
	const li_st_info *f = li_st_find(st, t->name);
	if (!f) {
		/* Some exports drop the BN batch counters; they only count batches. */
		if (t->dtype == LI_DT_I64 && strstr(t->name, ".num_batches_tracked")) {
			*(int64_t *)t->data = 0;
			return 0;
		}
		return li_error("'%s': tensor '%s' is missing", li_st_path(st), t->name);
	}
	if (t->dtype == LI_DT_I64)
		return li_st_read_i64(st, t->name, t->ndim, t->shape, t->data);
	if (f->dtype != LI_DT_F32 && f->dtype != LI_DT_F16 && f->dtype != LI_DT_BF16 &&
	    f->dtype != LI_DT_F64)
		return li_error("'%s': tensor '%s' has dtype %s, expected F32", li_st_path(st), t->name,
				li_dtype_name(f->dtype));
	return li_st_read_f32(st, t->name, t->ndim, t->shape, t->data);
}

li_net *li_net_load(const char *path, const li_net_config *cfg, uint64_t seed, bool *fc_reset,
		    li_model_meta *meta)
{
	if (fc_reset)
		*fc_reset = false;
	if (meta) {
		li_model_meta_default(meta, 3);
		meta->net.arch[0] = '\0';
	}
	li_st *st = li_st_open(path);
	if (!st)
		return NULL;
	li_net_config fcfg;
	li_net *net = NULL;
	if (file_config(st, &fcfg) < 0)
		goto fail;
	if (meta) {
		meta->net = fcfg;
		if (file_meta(st, meta) < 0)
			goto fail;
	}
	bool reset = cfg && cfg->classes != fcfg.classes;
	net = li_net_new(cfg ? cfg : &fcfg);
	if (!net) {
		li_error_prefix("'%s'", path);
		goto fail;
	}
	for (int i = 0; i < li_net_tensor_count(net); i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		if (reset && strncmp(t->name, "fc.", 3) == 0)
			continue;
		if (load_tensor(st, t) < 0)
			goto fail;
	}
	/* Every tensor in the file must be one of ours (as load_state_dict(strict=True)). */
	for (int i = 0; i < li_st_count(st); i++) {
		const char *name = li_st_at(st, i)->name;
		if (!li_net_tensor_find(net, name)) {
			li_error("'%s': unexpected tensor '%s' for %s", path, name,
				 li_net_get_config(net)->arch);
			goto fail;
		}
	}
	if (reset) {
		li_net_init_fc(net, seed);
		if (fc_reset)
			*fc_reset = true;
	}
	li_net_params_changed(net);
	li_st_close(st);
	return net;
fail:
	if (meta)
		li_model_meta_free(meta);
	li_net_free(net);
	li_st_close(st);
	return NULL;
}
