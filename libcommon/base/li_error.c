/* li_error.c: thread-local error messages, checked allocation, assertions. */
#include "li_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errmsg[LI_ERRMSG_MAX];

/* Bytes in the well-formed UTF-8 sequence at p (2 to 4), or 0 when the byte
 * at p starts none (a stray continuation byte, an overlong form, a
 * surrogate, past U+10FFFF, or a sequence cut short). */
static int utf8_len(const unsigned char *p)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	int n;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

char *li_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[8];
		size_t k = 0;
		unsigned c = *p;
		int len = c >= 0x80 ? utf8_len(p) : 1;
		if (c == '\n' || c == '\r' || c == '\t') {
			e[k++] = '\\';
			e[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20 || c == 0x7f || len == 0) {
			memcpy(e, "\\x", 2);
			k = 2;
			e[k++] = hex[c >> 4];
			e[k++] = hex[c & 15];
		} else if (c == 0xc2 && p[1] <= 0x9f) {
			c = *++p;
			memcpy(e, "\\u00", 4);
			k = 4;
			e[k++] = hex[c >> 4];
			e[k++] = hex[c & 15];
		} else {
			memcpy(e, p, (size_t)len);
			k = (size_t)len;
			p += len - 1;
		}
		if (n + k >= cap)
			break;
		memcpy(out + n, e, k);
		n += k;
	}
	out[n] = '\0';
	return out;
}

int li_error(const char *fmt, ...)
{
	char raw[LI_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	li_escape(raw, errmsg, sizeof errmsg);
	return -1;
}

int li_error_prefix(const char *fmt, ...)
{
	char raw[LI_ERRMSG_MAX], prefix[LI_ERRMSG_MAX], old[LI_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	li_escape(raw, prefix, sizeof prefix);
	memcpy(old, errmsg, sizeof old);
	/* Build "<prefix>: <old>" by hand; a message longer than the buffer is cut. */
	size_t n = strlen(prefix), cap = sizeof errmsg - 1;
	memcpy(errmsg, prefix, n);
	if (old[0] && n + 2 < cap) {
		size_t m = strlen(old);
		errmsg[n++] = ':';
		errmsg[n++] = ' ';
		if (m > cap - n)
			m = cap - n;
		memcpy(errmsg + n, old, m);
		n += m;
	}
	errmsg[n] = '\0';
	return -1;
}

const char *li_errmsg(void) { return errmsg; }

void li_error_clear(void) { errmsg[0] = '\0'; }

void li_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "li: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
	abort();
}

int li_size_mul(size_t a, size_t b, size_t *out)
{
	if (a && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

int li_size_add(size_t a, size_t b, size_t *out)
{
	if (b > SIZE_MAX - a)
		return -1;
	*out = a + b;
	return 0;
}

static void *oom(size_t size)
{
	li_error("out of memory (%zu bytes)", size);
	return NULL;
}

void *li_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	return p ? p : oom(size);
}

void *li_calloc(size_t n, size_t size)
{
	size_t total;
	if (li_size_mul(n, size, &total) < 0) {
		li_error("allocation size overflow (%zu x %zu)", n, size);
		return NULL;
	}
	void *p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : oom(total);
}

void *li_malloc_array(size_t n, size_t size)
{
	size_t total;
	if (li_size_mul(n, size, &total) < 0) {
		li_error("allocation size overflow (%zu x %zu)", n, size);
		return NULL;
	}
	return li_malloc(total);
}

void *li_realloc_array(void *p, size_t n, size_t size)
{
	size_t total;
	if (li_size_mul(n, size, &total) < 0) {
		li_error("allocation size overflow (%zu x %zu)", n, size);
		return NULL;
	}
	void *q = realloc(p, total ? total : 1);
	return q ? q : oom(total);
}

char *li_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = li_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void *li_malloc_aligned(size_t size)
{
	void *p = NULL;
	/* Round up so the tail of the last cache line belongs to us too. */
	size_t rounded = (size + 63) & ~(size_t)63;
	if (rounded < size || posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
		return oom(size);
	return p;
}

void li_free_aligned(void *p) { free(p); }
