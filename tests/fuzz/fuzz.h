/* fuzz.h: shared by the libFuzzer harnesses in tests/fuzz/ (see README).
 *
 * Every harness feeds one input to a parser of libcommon and checks, beyond
 * what ASan and UBSan catch, the library's error contract: a call that fails
 * must leave a message (li_errmsg() not empty, no control bytes). Path-based parsers read the
 * input from a per-process file under $TMPDIR (or /dev/shm). */
#ifndef LI_FUZZ_H
#define LI_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"

/* Abort (a libFuzzer finding) when a failed call left no message, or one
 * with a control byte in it (messages are one line, names escaped). */
#define FUZZ_FAILED(what) fuzz_failed(what)
static inline void fuzz_failed(const char *what)
{
	const char *m = li_errmsg();
	if (!m[0]) {
		fprintf(stderr, "fuzz: %s failed with an empty error message\n", what);
		abort();
	}
	for (const unsigned char *p = (const unsigned char *)m; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "fuzz: %s: control byte 0x%02x in the message\n", what, *p);
			abort();
		}
	li_error_clear();
}

/* Write the input to this process's scratch file and return its path; the
 * name ends with ext (".npy", ...) for parsers that care. */
static char *fuzz_file_path(void)
{
	static char path[4096];
	return path;
}

static void fuzz_file_remove(void) { unlink(fuzz_file_path()); }

static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *ext)
{
	char *path = fuzz_file_path();
	if (!path[0]) {
		const char *dir = getenv("TMPDIR");
		snprintf(path, 4096, "%s/li-fuzz-%ld%s", dir && *dir ? dir : "/dev/shm",
			 (long)getpid(), ext);
		atexit(fuzz_file_remove);
	}
	FILE *fp = fopen(path, "wb");
	if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
		perror(path);
		abort();
	}
	return path;
}
#endif
