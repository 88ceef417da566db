/* tap.h: a tiny TAP producer for the C unit tests (header only).
 * ok(cond, fmt, ...) prints "ok N - msg" or "not ok N - msg"; done_testing()
 * prints the plan and returns the exit status for main. */
#ifndef LI_TAP_H
#define LI_TAP_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))
/* skip(reason): a visible skip; it counts as passed in TAP. */
#define skip(...) (printf("ok %d # skip ", ++tap_n), printf(__VA_ARGS__), printf("\n"))
#define is_int(got, want, ...) do { long long g_ = (got), w_ = (want); \
	if (!ok(g_ == w_, __VA_ARGS__)) diag("got %lld, want %lld", g_, w_); } while (0)
#define is_str(got, want, ...) do { const char *g_ = (got), *w_ = (want); \
	int e_ = g_ && w_ && strcmp(g_, w_) == 0; \
	if (!ok(e_, __VA_ARGS__)) diag("got '%s', want '%s'", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } while (0)
/* Relative-or-absolute closeness: |got-want| <= tol * max(1, |want|). */
#define is_close(got, want, tol, ...) do { double g_ = (got), w_ = (want); \
	double s_ = fabs(w_) > 1 ? fabs(w_) : 1; \
	if (!ok(fabs(g_ - w_) <= (tol) * s_, __VA_ARGS__)) diag("got %.9g, want %.9g", g_, w_); } while (0)

static int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
#endif
