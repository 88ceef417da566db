/* li_safetensors.c: safetensors reader and writer (huggingface spec), JSON
 * through jansson. The reader trusts nothing in the file: every offset and
 * size is checked before any tensor is touched, so a loaded li_st is known to
 * be in bounds. Tensors are kept sorted by data offset (the file's data order);
 * li_st_data pointers may be unaligned, so readers copy with memcpy. */
#include "li_safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "li_atomic.h"
#include "li_error.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[LI_DT_F32] = {"F32", 4}, [LI_DT_F16] = {"F16", 2}, [LI_DT_BF16] = {"BF16", 2},
	[LI_DT_F64] = {"F64", 8}, [LI_DT_I64] = {"I64", 8}, [LI_DT_I32] = {"I32", 4},
	[LI_DT_I16] = {"I16", 2}, [LI_DT_I8] = {"I8", 1},   [LI_DT_U8] = {"U8", 1},
	[LI_DT_BOOL] = {"BOOL", 1},
};
_Static_assert(LI_ARRAY_LEN(dtypes) == LI_DT_COUNT, "dtype table matches the enum");

const char *li_dtype_name(li_dtype t) { return (unsigned)t < LI_DT_COUNT ? dtypes[t].name : "?"; }

size_t li_dtype_size(li_dtype t) { return (unsigned)t < LI_DT_COUNT ? dtypes[t].size : 0; }

int li_dtype_from_name(const char *name)
{
	for (int i = 0; i < LI_DT_COUNT; i++)
		if (strcmp(name, dtypes[i].name) == 0)
			return i;
	return -1;
}

struct li_st {
	char *path;
	unsigned char *data; /* the data section */
	size_t data_len;
	int n;
	li_st_info *t; /* sorted by offset */
	int nmeta;
	char **mkey, **mval;
};

/* "[1000, 512]" */
static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "[");
	for (int i = 0; i < ndim && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (n < cap)
		snprintf(buf + n, cap - n, "]");
	return buf;
}

void li_st_close(li_st *st)
{
	if (!st)
		return;
	for (int i = 0; i < st->n; i++)
		free((char *)st->t[i].name);
	for (int i = 0; i < st->nmeta; i++) {
		free(st->mkey[i]);
		free(st->mval[i]);
	}
	free(st->t);
	free(st->mkey);
	free(st->mval);
	li_free_aligned(st->data);
	free(st->path);
	free(st);
}

static int parse_meta(li_st *st, json_t *meta)
{
	if (!json_is_object(meta))
		return li_error("'%s': __metadata__ is not a JSON object", st->path);
	size_t n = json_object_size(meta);
	st->mkey = li_calloc(n + 1, sizeof *st->mkey);
	st->mval = li_calloc(n + 1, sizeof *st->mval);
	if (!st->mkey || !st->mval)
		return -1;
	const char *k;
	json_t *v;
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v))
			return li_error("'%s': __metadata__ value '%s' is not a string", st->path, k);
		st->mkey[st->nmeta] = li_strdup(k);
		st->mval[st->nmeta] = li_strdup(json_string_value(v));
		if (!st->mkey[st->nmeta] || !st->mval[st->nmeta]) {
			free(st->mkey[st->nmeta]);
			free(st->mval[st->nmeta]);
			return -1;
		}
		st->nmeta++;
	}
	return 0;
}

static bool get_size(json_t *j, size_t *out)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return false;
	*out = (size_t)json_integer_value(j);
	return true;
}

static int parse_tensor(li_st *st, const char *name, json_t *e, li_st_info *t, size_t begin_end[2])
{
	const char *p = st->path;
	if (!json_is_object(e))
		return li_error("'%s': tensor '%s' is not a JSON object", p, name);
	json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"),
	       *off = json_object_get(e, "data_offsets");
	if (!json_is_string(dt))
		return li_error("'%s': tensor '%s' has a bad or missing dtype", p, name);
	int d = li_dtype_from_name(json_string_value(dt));
	if (d < 0)
		return li_error("'%s': tensor '%s' has unsupported dtype '%s'", p, name, json_string_value(dt));
	t->dtype = (li_dtype)d;
	if (!json_is_array(sh))
		return li_error("'%s': tensor '%s' has a bad or missing shape", p, name);
	if (json_array_size(sh) > LI_ST_MAX_DIMS)
		return li_error("'%s': tensor '%s' has %zu dimensions, at most %d are supported", p, name,
				json_array_size(sh), LI_ST_MAX_DIMS);
	t->ndim = (int)json_array_size(sh);
	/* span: the product of the non-zero dimensions in bytes, so that no
	 * partial product (a row, a channel) can wrap when numel is 0. */
	size_t numel = 1, nbytes, span = dtypes[d].size;
	for (int i = 0; i < t->ndim; i++) {
		size_t dim;
		if (!get_size(json_array_get(sh, (size_t)i), &dim))
			return li_error("'%s': tensor '%s' has a bad shape (dimensions must be integers >= 0)",
					p, name);
		t->shape[i] = (int64_t)dim;
		if (li_size_mul(numel, dim, &numel) < 0 || (dim && li_size_mul(span, dim, &span) < 0) ||
		    span > (size_t)INT64_MAX)
			return li_error("'%s': tensor '%s' has a shape too large", p, name);
	}
	if (li_size_mul(numel, dtypes[d].size, &nbytes) < 0)
		return li_error("'%s': tensor '%s' has a shape too large", p, name);
	t->numel = numel;
	t->nbytes = nbytes;
	if (!json_is_array(off) || json_array_size(off) != 2 ||
	    !get_size(json_array_get(off, 0), &begin_end[0]) ||
	    !get_size(json_array_get(off, 1), &begin_end[1]))
		return li_error("'%s': tensor '%s' has bad or missing data_offsets", p, name);
	if (begin_end[1] < begin_end[0])
		return li_error("'%s': tensor '%s' has data_offsets [%zu, %zu] (end before begin)", p, name,
				begin_end[0], begin_end[1]);
	if (begin_end[1] - begin_end[0] != nbytes) {
		char sb[256];
		return li_error("'%s': tensor '%s' has %zu bytes of data, %s %s needs %zu", p, name,
				begin_end[1] - begin_end[0], dtypes[d].name,
				shape_str(t->ndim, t->shape, sb, sizeof sb), nbytes);
	}
	t->offset = begin_end[0];
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const li_st_info *x = a, *y = b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int parse_header(li_st *st, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return li_error("'%s': bad header JSON: %s", st->path, jerr.text);
	int rc = -1;
	if (!json_is_object(root)) {
		li_error("'%s': header is not a JSON object", st->path);
		goto out;
	}
	size_t n = json_object_size(root);
	st->t = li_calloc(n + 1, sizeof *st->t);
	if (!st->t)
		goto out;
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		if (strcmp(k, "__metadata__") == 0) {
			if (parse_meta(st, v) < 0)
				goto out;
			continue;
		}
		li_st_info *t = &st->t[st->n];
		size_t be[2];
		if (parse_tensor(st, k, v, t, be) < 0 || !(t->name = li_strdup(k)))
			goto out;
		st->n++;
	}
	qsort(st->t, (size_t)st->n, sizeof *st->t, by_offset);
	/* The data section must be covered exactly: each tensor starts where the
	 * previous one ended, and the file ends where the last one does. */
	size_t pos = 0;
	for (int i = 0; i < st->n; i++) {
		const li_st_info *t = &st->t[i];
		if (t->offset < pos) {
			li_error("'%s': tensors '%s' and '%s' overlap", st->path, st->t[i - 1].name, t->name);
			goto out;
		}
		if (t->offset > pos) {
			li_error("'%s': hole in the data section between %zu and %zu (before tensor '%s')",
				 st->path, pos, t->offset, t->name);
			goto out;
		}
		pos = t->offset + t->nbytes;
	}
	if (pos > st->data_len) {
		li_error("'%s': data section is truncated (ends at %zu, tensor '%s' needs %zu)", st->path,
			 st->data_len, st->t[st->n - 1].name, pos);
		goto out;
	}
	if (pos < st->data_len) {
		li_error("'%s': %zu bytes after the end of the data section at %zu", st->path,
			 st->data_len - pos, pos);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

li_st *li_st_open(const char *path)
{
	li_st *st = li_calloc(1, sizeof *st);
	if (!st || !(st->path = li_strdup(path))) {
		free(st);
		return NULL;
	}
	char *text = NULL;
	FILE *fp = fopen(path, "rb");
	struct stat sb;
	if (!fp) {
		li_error("cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		li_error("'%s': not a regular file", path);
		goto fail;
	}
	uint64_t fsize = (uint64_t)sb.st_size;
	unsigned char lenb[8];
	if (fsize < 8 || fread(lenb, 1, 8, fp) != 8) {
		li_error("'%s': file is too small to be a safetensors file (%llu bytes)", path,
			 (unsigned long long)fsize);
		goto fail;
	}
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | lenb[i];
	if (hlen > LI_ST_MAX_HEADER) {
		li_error("'%s': header length %llu exceeds the limit of %u bytes", path,
			 (unsigned long long)hlen, LI_ST_MAX_HEADER);
		goto fail;
	}
	if (hlen > fsize - 8) {
		li_error("'%s': header length %llu exceeds file size", path, (unsigned long long)hlen);
		goto fail;
	}
	if (hlen < 2) {
		li_error("'%s': header length %llu is too small for a JSON object", path,
			 (unsigned long long)hlen);
		goto fail;
	}
	st->data_len = (size_t)(fsize - 8 - hlen);
	text = li_malloc((size_t)hlen);
	st->data = li_malloc_aligned(st->data_len);
	if (!text || !st->data)
		goto fail;
	if (fread(text, 1, (size_t)hlen, fp) != hlen ||
	    (st->data_len && fread(st->data, 1, st->data_len, fp) != st->data_len)) {
		li_error("cannot read '%s': %s", path, ferror(fp) ? strerror(errno) : "file shrank");
		goto fail;
	}
	if (text[0] != '{') {
		li_error("'%s': header does not start with '{'", path);
		goto fail;
	}
	if (parse_header(st, text, (size_t)hlen) < 0)
		goto fail;
	free(text);
	fclose(fp);
	return st;
fail:
	free(text);
	if (fp)
		fclose(fp);
	li_st_close(st);
	return NULL;
}

const char *li_st_path(const li_st *st) { return st->path; }
int li_st_count(const li_st *st) { return st->n; }

const li_st_info *li_st_at(const li_st *st, int i)
{
	LI_ASSERT(i >= 0 && i < st->n);
	return &st->t[i];
}

const li_st_info *li_st_find(const li_st *st, const char *name)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->t[i].name, name) == 0)
			return &st->t[i];
	return NULL;
}

const void *li_st_data(const li_st *st, const li_st_info *t) { return st->data + t->offset; }

const char *li_st_meta(const li_st *st, const char *key)
{
	for (int i = 0; i < st->nmeta; i++)
		if (strcmp(st->mkey[i], key) == 0)
			return st->mval[i];
	return NULL;
}

int li_st_meta_count(const li_st *st) { return st->nmeta; }

/* ---- typed reads ---- */

float li_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
	if (exp == 0) {
		/* zero or subnormal: mant * 2^-24, exact in float32 */
		float v = ldexpf((float)mant, -24);
		return sign ? -v : v;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | mant << 13; /* inf, or nan keeping its payload */
	else
		bits = sign | (exp + 127 - 15) << 23 | mant << 13;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

float li_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static int lookup(const li_st *st, const char *name, int ndim, const int64_t *shape,
		  const li_st_info **out)
{
	const li_st_info *t = li_st_find(st, name);
	if (!t)
		return li_error("'%s': tensor '%s' is missing", st->path, name);
	if (shape) {
		bool same = t->ndim == ndim;
		for (int i = 0; same && i < ndim; i++)
			same = t->shape[i] == shape[i];
		if (!same) {
			char a[256], b[256];
			return li_error("'%s': tensor '%s' has shape %s, expected %s", st->path, name,
					shape_str(t->ndim, t->shape, a, sizeof a),
					shape_str(ndim, shape, b, sizeof b));
		}
	}
	*out = t;
	return 0;
}

/* Integer element i of an integer tensor, widened. */
static bool int_at(const li_st_info *t, const unsigned char *p, size_t i, int64_t *v)
{
	switch (t->dtype) {
	case LI_DT_I64: memcpy(v, p + 8 * i, 8); return true;
	case LI_DT_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); *v = x; return true; }
	case LI_DT_I16: { int16_t x; memcpy(&x, p + 2 * i, 2); *v = x; return true; }
	case LI_DT_I8: *v = (int8_t)p[i]; return true;
	case LI_DT_U8: *v = p[i]; return true;
	default: return false;
	}
}

int li_st_read_f32(const li_st *st, const char *name, int ndim, const int64_t *shape, float *out)
{
	const li_st_info *t;
	if (lookup(st, name, ndim, shape, &t) < 0)
		return -1;
	const unsigned char *p = li_st_data(st, t);
	size_t n = t->numel;
	switch (t->dtype) {
	case LI_DT_F32:
		memcpy(out, p, t->nbytes);
		return 0;
	case LI_DT_F16:
	case LI_DT_BF16:
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			out[i] = t->dtype == LI_DT_F16 ? li_f16_to_f32(h) : li_bf16_to_f32(h);
		}
		return 0;
	case LI_DT_F64:
		for (size_t i = 0; i < n; i++) {
			double d;
			memcpy(&d, p + 8 * i, 8);
			out[i] = (float)d;
		}
		return 0;
	case LI_DT_BOOL:
		return li_error("'%s': tensor '%s' has dtype BOOL, expected a float", st->path, name);
	default:
		for (size_t i = 0; i < n; i++) {
			int64_t v = 0;
			int_at(t, p, i, &v);
			/* Integers of up to 24 bits are exact in float32. */
			if (v > (1 << 24) || v < -(1 << 24))
				return li_error("'%s': tensor '%s' value %lld is not exact as float32", st->path,
						name, (long long)v);
			out[i] = (float)v;
		}
		return 0;
	}
}

int li_st_read_i64(const li_st *st, const char *name, int ndim, const int64_t *shape, int64_t *out)
{
	const li_st_info *t;
	if (lookup(st, name, ndim, shape, &t) < 0)
		return -1;
	const unsigned char *p = li_st_data(st, t);
	switch (t->dtype) {
	case LI_DT_I64: case LI_DT_I32: case LI_DT_I16: case LI_DT_I8: case LI_DT_U8:
		for (size_t i = 0; i < t->numel; i++)
			int_at(t, p, i, &out[i]);
		return 0;
	default:
		return li_error("'%s': tensor '%s' has dtype %s, expected an integer", st->path, name,
				dtypes[t->dtype].name);
	}
}

/* ---- writer ---- */

typedef struct wtensor {
	char *name;
	li_dtype dtype;
	int ndim;
	int64_t shape[LI_ST_MAX_DIMS];
	const void *data;
	size_t nbytes;
} wtensor;

struct li_st_writer {
	int n, cap;
	wtensor *t;
	int nmeta, mcap;
	char **mkey, **mval;
};

li_st_writer *li_st_writer_new(void) { return li_calloc(1, sizeof(li_st_writer)); }

void li_st_writer_free(li_st_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->t[i].name);
	for (int i = 0; i < w->nmeta; i++) {
		free(w->mkey[i]);
		free(w->mval[i]);
	}
	free(w->t);
	free(w->mkey);
	free(w->mval);
	free(w);
}

int li_st_writer_add(li_st_writer *w, const char *name, li_dtype dtype, int ndim,
		     const int64_t *shape, const void *data)
{
	LI_ASSERT((unsigned)dtype < LI_DT_COUNT);
	if (!name[0] || strcmp(name, "__metadata__") == 0)
		return li_error("bad tensor name '%s'", name);
	if (ndim < 0 || ndim > LI_ST_MAX_DIMS)
		return li_error("tensor '%s' has %d dimensions, at most %d are supported", name, ndim,
				LI_ST_MAX_DIMS);
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return li_error("tensor '%s' added twice", name);
	size_t nbytes = dtypes[dtype].size;
	for (int i = 0; i < ndim; i++)
		if (shape[i] < 0 || li_size_mul(nbytes, (size_t)shape[i], &nbytes) < 0)
			return li_error("tensor '%s' has a bad shape", name);
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 64;
		wtensor *t = li_realloc_array(w->t, (size_t)cap, sizeof *t);
		if (!t)
			return -1;
		w->t = t;
		w->cap = cap;
	}
	wtensor *t = &w->t[w->n];
	memset(t, 0, sizeof *t);
	if (!(t->name = li_strdup(name)))
		return -1;
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->data = data;
	t->nbytes = nbytes;
	w->n++;
	return 0;
}

int li_st_writer_meta(li_st_writer *w, const char *key, const char *value)
{
	char *v = li_strdup(value);
	if (!v)
		return -1;
	for (int i = 0; i < w->nmeta; i++)
		if (strcmp(w->mkey[i], key) == 0) { /* a key set twice keeps the last value */
			free(w->mval[i]);
			w->mval[i] = v;
			return 0;
		}
	if (w->nmeta == w->mcap) {
		int cap = w->mcap ? 2 * w->mcap : 16;
		char **k = li_realloc_array(w->mkey, (size_t)cap, sizeof *k);
		if (k)
			w->mkey = k;
		char **vv = k ? li_realloc_array(w->mval, (size_t)cap, sizeof *vv) : NULL;
		if (!vv) {
			free(v);
			return -1;
		}
		w->mval = vv;
		w->mcap = cap;
	}
	if (!(w->mkey[w->nmeta] = li_strdup(key))) {
		free(v);
		return -1;
	}
	w->mval[w->nmeta++] = v;
	return 0;
}

static json_t *build_header(const li_st_writer *w)
{
	json_t *root = json_object();
	if (!root)
		return NULL;
	bool ok = true;
	/* __metadata__ first, as the reference writer does. */
	if (w->nmeta) {
		json_t *m = json_object();
		ok = m && json_object_set_new(root, "__metadata__", m) == 0; /* root owns m now */
		for (int i = 0; ok && i < w->nmeta; i++)
			ok = json_object_set_new(m, w->mkey[i], json_string(w->mval[i])) == 0;
	}
	size_t off = 0;
	for (int i = 0; ok && i < w->n; i++) {
		const wtensor *t = &w->t[i];
		json_t *e = json_object(), *sh = json_array(), *of = json_array();
		if (!e || !sh || !of) {
			json_decref(e);
			json_decref(sh);
			json_decref(of);
			ok = false;
			break;
		}
		/* The *_new setters take the reference even when they fail, so
		 * every one runs and only the results are combined. */
		for (int d = 0; d < t->ndim; d++)
			ok &= json_array_append_new(sh, json_integer(t->shape[d])) == 0;
		ok &= json_array_append_new(of, json_integer((json_int_t)off)) == 0;
		ok &= json_array_append_new(of, json_integer((json_int_t)(off + t->nbytes))) == 0;
		ok &= json_object_set_new(e, "dtype", json_string(dtypes[t->dtype].name)) == 0;
		ok &= json_object_set_new(e, "shape", sh) == 0;
		ok &= json_object_set_new(e, "data_offsets", of) == 0;
		ok &= json_object_set_new(root, t->name, e) == 0;
		off += t->nbytes;
	}
	if (!ok) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int li_st_writer_save(li_st_writer *w, const char *path)
{
	json_t *root = build_header(w);
	/* json_string() refuses invalid UTF-8, which is the one way this fails
	 * besides memory. */
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!text)
		return li_error("cannot write '%s': cannot encode the header (names and metadata must be "
				"UTF-8)", path);
	size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
	unsigned char lenb[8];
	for (int i = 0; i < 8; i++)
		lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	li_atomic at;
	FILE *fp = li_atomic_open(&at, path);
	if (!fp) {
		free(text);
		return -1;
	}
	bool ok = fwrite(lenb, 1, 8, fp) == 8 && fwrite(text, 1, len, fp) == len;
	for (size_t i = len; ok && i < padded; i++)
		ok = putc(' ', fp) != EOF;
	for (int i = 0; ok && i < w->n; i++)
		ok = !w->t[i].nbytes || fwrite(w->t[i].data, 1, w->t[i].nbytes, fp) == w->t[i].nbytes;
	free(text);
	if (!ok) {
		li_error("cannot write '%s': %s", path, strerror(errno));
		li_atomic_abort(&at);
		return -1;
	}
	return li_atomic_commit(&at);
}
