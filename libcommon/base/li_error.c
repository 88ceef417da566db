/* li_error.c: thread-local error messages, checked allocation, assertions. */
#include "li_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errmsg[LI_ERRMSG_MAX];

int li_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	return -1;
}

int li_error_prefix(const char *fmt, ...)
{
	char prefix[LI_ERRMSG_MAX], old[LI_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
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
