/* testdir.h: the scratch directory of a unit test (header only, beside tap.h).
 * test_dir_make() creates /tmp/li-unit.XXXXXX (a failed ok() when it cannot);
 * in_dir(NAME) is the path of NAME in it, from four rotating buffers, so up
 * to four may be live in one expression; test_dir_remove() deletes it with
 * everything in it; sh(FMT, ...) runs a shell command and returns its exit
 * status (-1 when it did not exit); put(NAME, TEXT) writes a file in it and
 * returns its path (as in_dir); read_text(PATH) is a small text file's
 * content (up to 8 KiB, in a static buffer), or "(absent)". */
#ifndef LI_TESTDIR_H
#define LI_TESTDIR_H
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "tap.h"

static char test_dir[64] = "/tmp/li-unit.XXXXXX";

static inline int test_dir_make(void)
{
	if (!mkdtemp(test_dir))
		return ok(0, "mkdtemp '%s': %s", test_dir, strerror(errno)), -1;
	return 0;
}

static inline const char *in_dir(const char *name)
{
	static char buf[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", test_dir, name);
	return buf[k];
}

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static inline const char *put(const char *name, const char *text)
{
	const char *p = in_dir(name);
	FILE *f = fopen(p, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

static inline const char *read_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "rb");
	if (!f)
		return "(absent)";
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static inline int test_dir_remove(void)
{
	return sh("rm -rf '%s'", test_dir);
}
#endif
