/* li_net_io.c: ResNet models as safetensors with torchvision state_dict names,
 * so our files load in PyTorch and torchvision/timm exports load here. Kept
 * apart from li_net.c so the network links without the safetensors module. */
#include <errno.h>
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

static bool has_key(const li_meta *meta, int nmeta, const char *key)
{
	for (int i = 0; i < nmeta; i++)
		if (strcmp(meta[i].key, key) == 0)
			return true;
	return false;
}

int li_net_save(const li_net *net, const char *path, const li_meta *meta, int nmeta)
{
	li_st_writer *w = li_st_writer_new();
	if (!w)
		return -1;
	int rc = 0;
	for (int i = 0; i < li_net_tensor_count(net) && rc == 0; i++) {
		const li_net_tensor *t = li_net_tensor_at(net, i);
		rc = li_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
	}
	/* The architecture keys come from the net unless the caller gives them. */
	const li_net_config *cfg = li_net_get_config(net);
	char classes[16], chans[16], width[16];
	snprintf(classes, sizeof classes, "%d", cfg->classes);
	snprintf(chans, sizeof chans, "%d", cfg->in_channels);
	snprintf(width, sizeof width, "%d", cfg->width);
	const li_meta own[] = {{"arch", cfg->arch}, {"classes", classes}, {"in_channels", chans},
			       {"width", width}, {"li_version", LI_VERSION}};
	for (size_t i = 0; i < LI_ARRAY_LEN(own) && rc == 0; i++)
		if (!has_key(meta, nmeta, own[i].key))
			rc = li_st_writer_meta(w, own[i].key, own[i].value);
	for (int i = 0; i < nmeta && rc == 0; i++)
		rc = li_st_writer_meta(w, meta[i].key, meta[i].value);
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

/* The architecture of a file: its metadata, or for a plain torchvision/timm
 * export the tensor shapes (layer3.5 only in resnet34, layer1.1 not in resnet10). */
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
	cfg->classes = (int)fc->shape[0];
	cfg->in_channels = (int)conv1->shape[1];
	cfg->width = (int)conv1->shape[0];
	if (meta_int(st, "classes", 2, 1000000, &cfg->classes) < 0 ||
	    meta_int(st, "in_channels", 1, 3, &cfg->in_channels) < 0 ||
	    meta_int(st, "width", 1, 1024, &cfg->width) < 0)
		return -1;
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

li_net *li_net_load(const char *path, const li_net_config *cfg, uint64_t seed, bool *fc_reset)
{
	if (fc_reset)
		*fc_reset = false;
	li_st *st = li_st_open(path);
	if (!st)
		return NULL;
	li_net_config fcfg;
	li_net *net = NULL;
	if (file_config(st, &fcfg) < 0)
		goto fail;
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
	li_net_free(net);
	li_st_close(st);
	return NULL;
}
