/* li_error.h: error reporting, checked allocation and assertions.
 *
 * The library never prints or exits on bad input: a failing function records
 * a one-line message with li_error() and returns -1 (or NULL). The message is
 * thread-local, so worker threads do not clobber each other. Messages start in
 * lower case, have no full stop, and quote their subject:
 *     return li_error("cannot read '%s': %s", path, strerror(errno));
 * Programmer errors (broken invariants) abort through LI_ASSERT with file:line.
 *
 * Messages quote names and text from files (tensor names, slide names, list
 * fields), so every message is escaped when recorded (li_escape): a name
 * holding a newline or a terminal escape code cannot split a message into
 * several lines or drive the terminal. */
#ifndef LI_ERROR_H
#define LI_ERROR_H
#include <stddef.h>
#include <stdint.h>

#define LI_ERRMSG_MAX 1024

/* Record a printf-style message; always returns -1. */
int li_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the current message: "<prefix>: <old message>"; returns -1. */
int li_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copy s into out (cap > 0 bytes, always terminated, cut if need be) with
 * control characters made visible: \n \r \t, other bytes below 0x20 and DEL
 * as \xHH, C1 controls (UTF-8 C2 80 - C2 9F) as \u00HH, and every byte that
 * is not part of well-formed UTF-8 (a Latin-1 file name, a cut sequence) as
 * \xHH. Everything else, backslashes and whole UTF-8 characters included,
 * is kept (never half of one), so escaping twice changes nothing. li_error,
 * li_error_prefix and the tools' li_warn/li_die apply it to whole messages.
 * Returns out. */
char *li_escape(const char *s, char *out, size_t cap);
/* The last message recorded in this thread ("" when none). */
const char *li_errmsg(void);
void li_error_clear(void);

_Noreturn void li_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define LI_ASSERT(e) ((e) ? (void)0 : li_assert_fail(#e, __FILE__, __LINE__))
#define LI_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Checked allocation: on failure these record "out of memory (N bytes)" and
 * return NULL; the *_array forms also refuse n*size overflow. */
void *li_malloc(size_t size);
void *li_calloc(size_t n, size_t size);
void *li_malloc_array(size_t n, size_t size);
void *li_realloc_array(void *p, size_t n, size_t size);
char *li_strdup(const char *s);
/* 64-byte aligned (for SIMD and cache lines); free with li_free_aligned. */
void *li_malloc_aligned(size_t size);
void li_free_aligned(void *p);

/* Overflow-safe size arithmetic: return 0 and set *out, or -1 on overflow. */
int li_size_mul(size_t a, size_t b, size_t *out);
int li_size_add(size_t a, size_t b, size_t *out);
#endif
