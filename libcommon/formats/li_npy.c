/* li_npy.c: NumPy .npy reader and writer (format spec:
 * numpy.lib.format). The header is a Python dict literal, parsed here by a
 * small recursive-descent scanner that accepts exactly the literals numpy
 * writes (and hand-made variants: any key order, spacing, trailing commas,
 * either quote), because a JSON parser would reject ' quotes, True/False and
 * tuples. */
#include "li_npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_atomic.h"
#include "li_error.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "li_npy assumes a little-endian host");

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6
#define MAX_HEADER (1u << 20) /* far above any real header; bounds what a pipe can make us allocate */
#define ALIGN 64

static const struct {
	const char *name, *descr;
	size_t size;
} dtypes[] = {
	[LI_NPY_F32] = {"float32", "<f4", 4},
	[LI_NPY_I32] = {"int32", "<i4", 4},
	[LI_NPY_U8] = {"uint8", "|u1", 1},
};
_Static_assert(LI_ARRAY_LEN(dtypes) == LI_NPY_DTYPE_COUNT, "dtype table matches the enum");

/* What the header says, plus where the data starts. */
typedef struct hdr {
	li_npy_dtype dtype;
	int ndim;
	size_t shape[LI_NPY_MAX_DIMS];
	size_t numel, nbytes;
	size_t data_off;
} hdr;

/* "(10, 20)", "(5,)", "()" as Python prints a shape. */
static const char *shape_str(int ndim, const size_t *shape, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "(");
	for (int i = 0; i < ndim && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%zu", i ? ", " : "", shape[i]);
	if (n < cap)
		snprintf(buf + n, cap - n, "%s)", ndim == 1 ? "," : "");
	return buf;
}

/* ---- header dict scanner ---- */

typedef struct scan {
	const char *p, *end;
	const char *name;
} scan;

static void skip_ws(scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int bad(scan *s, const char *what)
{
	return li_error("'%s': bad .npy header: %s", s->name, what);
}

static int expect(scan *s, char c, const char *what)
{
	skip_ws(s);
	if (s->p >= s->end || *s->p != c)
		return bad(s, what);
	s->p++;
	return 0;
}

/* A quoted string without escapes (numpy never writes any in these keys). */
static int scan_string(scan *s, char *out, size_t cap)
{
	skip_ws(s);
	if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
		return bad(s, "expected a quoted string");
	char q = *s->p++;
	size_t n = 0;
	while (s->p < s->end && *s->p != q) {
		if (*s->p == '\\' || *s->p == '\n')
			return bad(s, "unsupported character in a string");
		if (n + 1 < cap)
			out[n++] = *s->p;
		s->p++;
	}
	if (s->p >= s->end)
		return bad(s, "unterminated string");
	s->p++;
	out[n] = '\0';
	return 0;
}

static int scan_bool(scan *s, bool *out)
{
	skip_ws(s);
	size_t left = (size_t)(s->end - s->p);
	if (left >= 4 && memcmp(s->p, "True", 4) == 0) {
		s->p += 4;
		*out = true;
	} else if (left >= 5 && memcmp(s->p, "False", 5) == 0) {
		s->p += 5;
		*out = false;
	} else {
		return bad(s, "fortran_order is not True or False");
	}
	return 0;
}

static int scan_shape(scan *s, hdr *h)
{
	if (expect(s, '(', "shape is not a tuple") < 0)
		return -1;
	h->ndim = 0;
	bool comma = false;
	for (;;) {
		skip_ws(s);
		if (s->p < s->end && *s->p == ')') {
			s->p++;
			break;
		}
		if (h->ndim > 0 && !comma)
			return bad(s, "expected ',' or ')' in shape");
		if (s->p < s->end && *s->p == '-')
			return bad(s, "negative dimension in shape");
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return bad(s, "shape is not a tuple of integers");
		if (h->ndim == LI_NPY_MAX_DIMS)
			return li_error("'%s': more than %d dimensions", s->name, LI_NPY_MAX_DIMS);
		size_t v = 0;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
			if (li_size_mul(v, 10, &v) < 0 || li_size_add(v, (size_t)(*s->p - '0'), &v) < 0)
				return bad(s, "dimension too large");
			s->p++;
		}
		if (s->p < s->end && (*s->p == 'L' || *s->p == 'l')) /* Python 2 longs */
			s->p++;
		h->shape[h->ndim++] = v;
		skip_ws(s);
		comma = s->p < s->end && *s->p == ',';
		if (comma)
			s->p++;
	}
	/* "(5)" is the integer 5 in Python, not a tuple. */
	if (h->ndim == 1 && !comma)
		return bad(s, "shape is not a tuple");
	return 0;
}

static int parse_dict(const char *name, const char *text, size_t len, hdr *h)
{
	scan s = {text, text + len, name};
	char key[32], descr[64] = "";
	bool fortran = false, seen[3] = {false, false, false};
	static const char *const keys[3] = {"descr", "fortran_order", "shape"};
	if (expect(&s, '{', "not a dict") < 0)
		return -1;
	for (;;) {
		skip_ws(&s);
		if (s.p < s.end && *s.p == '}') {
			s.p++;
			break;
		}
		if (scan_string(&s, key, sizeof key) < 0)
			return -1;
		int k = 0;
		while (k < 3 && strcmp(key, keys[k]) != 0)
			k++;
		if (k == 3)
			return li_error("'%s': bad .npy header: unexpected key '%s'", name, key);
		if (seen[k])
			return li_error("'%s': bad .npy header: duplicate key '%s'", name, key);
		seen[k] = true;
		if (expect(&s, ':', "expected ':' after a key") < 0)
			return -1;
		skip_ws(&s);
		if (k == 0) {
			if (s.p < s.end && *s.p == '[')
				return li_error("'%s': structured arrays are not supported", name);
			if (scan_string(&s, descr, sizeof descr) < 0)
				return -1;
		} else if (k == 1) {
			if (scan_bool(&s, &fortran) < 0)
				return -1;
		} else if (scan_shape(&s, h) < 0) {
			return -1;
		}
		skip_ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			continue;
		}
		if (expect(&s, '}', "expected ',' or '}'") < 0)
			return -1;
		break;
	}
	skip_ws(&s);
	if (s.p != s.end)
		return bad(&s, "text after the dict");
	for (int k = 0; k < 3; k++)
		if (!seen[k])
			return li_error("'%s': bad .npy header: no '%s'", name, keys[k]);

	int t = -1;
	for (int i = 0; i < LI_NPY_DTYPE_COUNT; i++)
		if (strcmp(descr, dtypes[i].descr) == 0)
			t = i;
	if (strcmp(descr, "<u1") == 0 || strcmp(descr, ">u1") == 0)
		t = LI_NPY_U8; /* byte order means nothing for one byte */
	if (t < 0 && descr[0] == '>')
		return li_error("'%s': dtype '%s' is big-endian; only little-endian float32 '<f4', "
				"int32 '<i4' and uint8 '|u1' are supported", name, descr);
	if (t < 0)
		return li_error("'%s': dtype '%s' is not supported (float32 '<f4', int32 '<i4' or "
				"uint8 '|u1')", name, descr);
	h->dtype = (li_npy_dtype)t;
	if (fortran)
		return li_error("'%s': Fortran-order arrays are not supported (save with C order)", name);
	/* Every partial product must fit too, not only the total: with a zero
	 * dimension numel is 0 whatever the others are, and a row of shape
	 * (0, 2^32, 2^32) would wrap to 0 elements. */
	size_t span = dtypes[t].size;
	h->numel = 1;
	for (int i = 0; i < h->ndim; i++)
		if (li_size_mul(h->numel, h->shape[i], &h->numel) < 0 ||
		    (h->shape[i] && li_size_mul(span, h->shape[i], &span) < 0))
			goto too_large;
	if (li_size_mul(h->numel, dtypes[t].size, &h->nbytes) < 0 || span > (size_t)INT64_MAX)
		goto too_large;
	return 0;
too_large:;
	char sb[256];
	return li_error("'%s': shape %s is too large", name, shape_str(h->ndim, h->shape, sb, sizeof sb));
}

static int data_size_error(const char *name, const hdr *h, size_t got)
{
	char sb[256];
	return li_error("'%s': data is %zu bytes, shape %s %s needs %zu", name, got,
			shape_str(h->ndim, h->shape, sb, sizeof sb), dtypes[h->dtype].name, h->nbytes);
}

/* Read and check the preamble and header; fsize is -1 when unknown (a pipe).
 * Leaves fp positioned at the data. */
static int read_header(FILE *fp, const char *name, int64_t fsize, hdr *h)
{
	unsigned char pre[12];
	if (fread(pre, 1, 8, fp) != 8 || memcmp(pre, MAGIC, MAGIC_LEN) != 0) {
		if (ferror(fp))
			return li_error("cannot read '%s': %s", name, strerror(errno));
		return li_error("'%s': not a .npy file", name);
	}
	int major = pre[6], minor = pre[7];
	size_t lenbytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
	if (!lenbytes || minor != 0)
		return li_error("'%s': unsupported .npy version %d.%d", name, major, minor);
	if (fread(pre + 8, 1, lenbytes, fp) != lenbytes)
		return li_error("'%s': file ends inside the header", name);
	size_t hlen = pre[8] | (size_t)pre[9] << 8;
	if (lenbytes == 4)
		hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
	size_t pre_len = 8 + lenbytes;
	if (fsize >= 0 && hlen > (uint64_t)fsize - pre_len)
		return li_error("'%s': header length %zu exceeds file size", name, hlen);
	if (hlen > MAX_HEADER)
		return li_error("'%s': header length %zu exceeds the limit of %u bytes", name, hlen, MAX_HEADER);
	char *text = li_malloc(hlen + 1);
	if (!text)
		return -1;
	if (fread(text, 1, hlen, fp) != hlen) {
		free(text);
		return li_error("'%s': file ends inside the header", name);
	}
	text[hlen] = '\0';
	if (memchr(text, '\0', hlen)) {
		free(text);
		return li_error("'%s': bad .npy header: NUL byte", name);
	}
	int rc = parse_dict(name, text, hlen, h);
	free(text);
	if (rc < 0)
		return -1;
	h->data_off = pre_len + hlen;
	if (fsize >= 0 && (uint64_t)fsize - h->data_off != h->nbytes)
		return data_size_error(name, h, (size_t)((uint64_t)fsize - h->data_off));
	return 0;
}

static int64_t regular_size(FILE *fp)
{
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode))
		return (int64_t)st.st_size;
	return -1;
}

/* ---- whole-array read ---- */

void li_npy_free(li_npy *a)
{
	if (!a)
		return;
	free(a->path);
	li_free_aligned(a->data);
	free(a);
}

/* The data of a stream of unknown length (a pipe): the buffer grows as bytes
 * arrive instead of trusting the header, so a lying header cannot make us
 * allocate much more than was sent. */
static void *read_pipe_data(FILE *fp, const char *name, const hdr *h)
{
	unsigned char *buf = NULL;
	size_t cap = 0, got = 0;
	while (got < h->nbytes) {
		if (got == cap) {
			cap = cap ? (cap > h->nbytes / 2 ? h->nbytes : cap * 2)
				  : (h->nbytes < (1u << 20) ? h->nbytes : (1u << 20));
			unsigned char *t = li_realloc_array(buf, cap, 1);
			if (!t)
				goto fail;
			buf = t;
		}
		size_t n = fread(buf + got, 1, cap - got, fp);
		got += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		li_error("cannot read '%s': %s", name, strerror(errno));
		goto fail;
	}
	if (got < h->nbytes) {
		data_size_error(name, h, got);
		goto fail;
	}
	char extra[4096];
	size_t more = 0, n;
	while ((n = fread(extra, 1, sizeof extra, fp)) > 0)
		more += n;
	if (more) {
		data_size_error(name, h, got + more);
		goto fail;
	}
	void *data = li_malloc_aligned(h->nbytes);
	if (data && h->nbytes)
		memcpy(data, buf, h->nbytes);
	free(buf);
	return data;
fail:
	free(buf);
	return NULL;
}

li_npy *li_npy_read(const char *path)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "stdin" : path;
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp) {
		li_error("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	li_npy *a = li_calloc(1, sizeof *a);
	hdr h;
	int64_t fsize = regular_size(fp);
	if (!a || !(a->path = li_strdup(name)) || read_header(fp, name, fsize, &h) < 0)
		goto fail;
	a->dtype = h.dtype;
	a->ndim = h.ndim;
	memcpy(a->shape, h.shape, sizeof h.shape);
	a->numel = h.numel;
	if (fsize < 0) {
		if (!(a->data = read_pipe_data(fp, name, &h)))
			goto fail;
	} else {
		/* The size was checked against the header already. */
		if (!(a->data = li_malloc_aligned(h.nbytes)))
			goto fail;
		if (fread(a->data, 1, h.nbytes, fp) != h.nbytes) {
			if (ferror(fp))
				li_error("cannot read '%s': %s", name, strerror(errno));
			else
				li_error("'%s': file shrank while reading", name);
			goto fail;
		}
	}
	if (!is_stdin)
		fclose(fp);
	return a;
fail:
	if (!is_stdin)
		fclose(fp);
	li_npy_free(a);
	return NULL;
}

int li_npy_expect(const li_npy *a, li_npy_dtype dtype, int ndim)
{
	if (a->dtype == dtype && (ndim < 0 || a->ndim == ndim))
		return 0;
	char sb[256];
	if (ndim < 0)
		return li_error("'%s': expected a %s array, got %s", a->path, dtypes[dtype].name,
				dtypes[a->dtype].name);
	return li_error("'%s': expected a %d-d %s array, got shape %s %s", a->path, ndim,
			dtypes[dtype].name, shape_str(a->ndim, a->shape, sb, sizeof sb),
			dtypes[a->dtype].name);
}

/* ---- blocked reader ---- */

struct li_npy_reader {
	FILE *fp;
	char *name;
	hdr h;
	size_t rows, row_size;
};

li_npy_reader *li_npy_open(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		li_error("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	int64_t fsize = regular_size(fp);
	li_npy_reader *r = NULL;
	if (fsize < 0) {
		li_error("'%s': not a regular file (blocked reading needs one)", path);
		goto fail;
	}
	r = li_calloc(1, sizeof *r);
	if (!r || !(r->name = li_strdup(path)) || read_header(fp, path, fsize, &r->h) < 0)
		goto fail;
	r->fp = fp;
	r->rows = r->h.ndim ? r->h.shape[0] : 1;
	r->row_size = 1;
	for (int i = 1; i < r->h.ndim; i++)
		r->row_size *= r->h.shape[i]; /* cannot overflow: read_header checked every product */
	return r;
fail:
	fclose(fp);
	if (r)
		free(r->name);
	free(r);
	return NULL;
}

void li_npy_close(li_npy_reader *r)
{
	if (!r)
		return;
	fclose(r->fp);
	free(r->name);
	free(r);
}

li_npy_dtype li_npy_reader_dtype(const li_npy_reader *r) { return r->h.dtype; }
int li_npy_reader_ndim(const li_npy_reader *r) { return r->h.ndim; }
size_t li_npy_reader_rows(const li_npy_reader *r) { return r->rows; }
size_t li_npy_reader_row_size(const li_npy_reader *r) { return r->row_size; }

int li_npy_read_rows(li_npy_reader *r, size_t start, size_t count, void *out)
{
	if (start > r->rows || count > r->rows - start)
		return li_error("'%s': rows [%zu, %zu) out of range (%zu rows)", r->name, start,
				start + count, r->rows);
	size_t row_bytes = r->row_size * dtypes[r->h.dtype].size;
	size_t n = count * row_bytes, done = 0; /* within nbytes, so no overflow */
	off_t off = (off_t)(r->h.data_off + start * row_bytes);
	while (done < n) {
		ssize_t k = pread(fileno(r->fp), (char *)out + done, n - done, off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return li_error("cannot read '%s': %s", r->name, strerror(errno));
		if (k == 0)
			return li_error("'%s': file shrank while reading", r->name);
		done += (size_t)k;
	}
	return 0;
}

/* ---- writers ---- */

/* Format preamble + header into buf; pad (spaces, final '\n') to a multiple
 * of 64 bytes, or exactly to `total` when it is not 0. Returns the length,
 * 0 when it does not fit. */
static size_t format_header(char *buf, size_t cap, li_npy_dtype dtype, int ndim,
			    const size_t *shape, size_t total)
{
	char sb[256];
	int n = snprintf(buf + 10, cap - 10, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
			 dtypes[dtype].descr, shape_str(ndim, shape, sb, sizeof sb));
	if (n < 0 || (size_t)n + 11 > cap)
		return 0;
	size_t len = 10 + (size_t)n + 1; /* + '\n' */
	size_t want = total ? total : (len + ALIGN - 1) / ALIGN * ALIGN;
	if (want < len || want > cap || want - 10 > 0xffff)
		return 0;
	memset(buf + 10 + n, ' ', want - len);
	buf[want - 1] = '\n';
	memcpy(buf, MAGIC "\x01\x00", 8);
	buf[8] = (char)((want - 10) & 0xff);
	buf[9] = (char)((want - 10) >> 8);
	return want;
}

int li_npy_write(const char *path, li_npy_dtype dtype, int ndim, const size_t *shape,
		 const void *data)
{
	LI_ASSERT(dtype < LI_NPY_DTYPE_COUNT && ndim >= 0 && ndim <= LI_NPY_MAX_DIMS);
	size_t nbytes = dtypes[dtype].size;
	for (int i = 0; i < ndim; i++)
		if (li_size_mul(nbytes, shape[i], &nbytes) < 0)
			return li_error("'%s': array too large", path);
	char buf[512];
	size_t hl = format_header(buf, sizeof buf, dtype, ndim, shape, 0);
	LI_ASSERT(hl > 0);
	li_atomic at;
	FILE *fp = li_atomic_open(&at, path);
	if (!fp)
		return -1;
	if (fwrite(buf, 1, hl, fp) != hl || (nbytes && fwrite(data, 1, nbytes, fp) != nbytes)) {
		li_error("cannot write '%s': %s", path, strerror(errno));
		li_atomic_abort(&at);
		return -1;
	}
	return li_atomic_commit(&at);
}

struct li_npy_writer {
	li_atomic at;
	char *name;
	li_npy_dtype dtype;
	size_t rows, cols, written, row_bytes, hdr_len;
};

li_npy_writer *li_npy_writer_open(const char *path, li_npy_dtype dtype, size_t rows, size_t cols)
{
	LI_ASSERT(dtype < LI_NPY_DTYPE_COUNT);
	bool known = rows != LI_NPY_UNKNOWN;
	if (!known && strcmp(path, "-") == 0) {
		li_error("cannot stream an .npy of unknown row count to stdout");
		return NULL;
	}
	li_npy_writer *w = li_calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->name = li_strdup(strcmp(path, "-") == 0 ? "stdout" : path);
	w->dtype = dtype;
	w->rows = rows;
	w->cols = cols;
	if (!w->name || li_size_mul(cols, dtypes[dtype].size, &w->row_bytes) < 0 ||
	    (known && li_size_mul(rows, w->row_bytes, &(size_t){0}) < 0)) {
		if (w->name)
			li_error("'%s': array too large", w->name);
		free(w->name);
		free(w);
		return NULL;
	}
	/* Unknown N: reserve room for the widest row count, rewrite at close. */
	size_t shape[2] = {known ? rows : SIZE_MAX, cols};
	char buf[512];
	w->hdr_len = format_header(buf, sizeof buf, dtype, 2, shape, 0);
	if (!known) {
		shape[0] = 0;
		format_header(buf, sizeof buf, dtype, 2, shape, w->hdr_len);
	}
	if (!li_atomic_open(&w->at, path)) {
		free(w->name);
		free(w);
		return NULL;
	}
	if (fwrite(buf, 1, w->hdr_len, w->at.fp) != w->hdr_len) {
		li_error("cannot write '%s': %s", w->name, strerror(errno));
		li_npy_writer_abort(w);
		return NULL;
	}
	return w;
}

int li_npy_writer_put(li_npy_writer *w, const void *data, size_t nrows)
{
	if (w->rows != LI_NPY_UNKNOWN && nrows > w->rows - w->written)
		return li_error("'%s': more than the %zu rows announced", w->name, w->rows);
	size_t n;
	if (li_size_mul(nrows, w->row_bytes, &n) < 0)
		return li_error("'%s': array too large", w->name);
	if (n && fwrite(data, 1, n, w->at.fp) != n)
		return li_error("cannot write '%s': %s", w->name, strerror(errno));
	w->written += nrows;
	return 0;
}

int li_npy_writer_close(li_npy_writer *w)
{
	int rc = 0;
	if (w->rows != LI_NPY_UNKNOWN && w->written != w->rows) {
		rc = li_error("'%s': wrote %zu rows, %zu announced", w->name, w->written, w->rows);
	} else if (w->rows == LI_NPY_UNKNOWN) {
		size_t shape[2] = {w->written, w->cols};
		char buf[512];
		size_t hl = format_header(buf, sizeof buf, w->dtype, 2, shape, w->hdr_len);
		LI_ASSERT(hl == w->hdr_len);
		if (fseek(w->at.fp, 0, SEEK_SET) != 0 || fwrite(buf, 1, hl, w->at.fp) != hl)
			rc = li_error("cannot write '%s': %s", w->name, strerror(errno));
	}
	if (rc < 0) {
		li_npy_writer_abort(w);
		return -1;
	}
	rc = li_atomic_commit(&w->at);
	free(w->name);
	free(w);
	return rc;
}

void li_npy_writer_abort(li_npy_writer *w)
{
	if (!w)
		return;
	li_atomic_abort(&w->at);
	free(w->name);
	free(w);
}
