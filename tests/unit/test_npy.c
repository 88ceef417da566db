/* test_npy.c: .npy round trips, numpy cross-checks both ways (files made by
 * tests/unit/py/npy_make.py, files checked by npy_check.py), streaming to a
 * pipe, blocked reads, and the exact message for every refused file. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "li_error.h"
#include "li_npy.h"
#include "tap.h"
#include "testdir.h"

/* The formulas npy_make.py and npy_check.py use. */
static float f32v(size_t i) { return (float)(i * 0.25 - 3); }
static int32_t i32v(size_t i) { return (int32_t)(i * 7) - 100; }
static uint8_t u8v(size_t i) { return (uint8_t)((i * 5) % 256); }

static int f32_ok(const li_npy *a)
{
	const float *d = a->data;
	for (size_t i = 0; i < a->numel; i++)
		if (d[i] != f32v(i))
			return 0;
	return 1;
}

static void read_good(const char *name, int ndim, const size_t *shape)
{
	li_npy *a = li_npy_read(in_dir(name));
	if (!ok(a != NULL, "numpy %s reads", name)) {
		diag("%s", li_errmsg());
		return;
	}
	int same = a->dtype == LI_NPY_F32 && a->ndim == ndim;
	size_t numel = 1;
	for (int i = 0; same && i < ndim; i++) {
		same = a->shape[i] == shape[i];
		numel *= shape[i];
	}
	ok(same && a->numel == numel, "%s: float32, shape as numpy wrote it", name);
	ok(f32_ok(a), "%s: values match", name);
	ok(((uintptr_t)a->data & 63) == 0, "%s: data aligned in memory", name);
	li_npy_free(a);
}

static void refused(const char *name, const char *msg_fmt)
{
	char want[1024];
	snprintf(want, sizeof want, msg_fmt, in_dir(name));
	li_npy *a = li_npy_read(in_dir(name));
	ok(a == NULL, "%s refused", name);
	is_str(li_errmsg(), want, "%s message", name);
	li_npy_free(a);
}

/* Run fn in a child whose stdout is a pipe; collect its output in file out. */
static int capture_stdout(void (*fn)(void), const char *out)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		close(p[1]);
		fn();
		fflush(stdout);
		_exit(0);
	}
	close(p[1]);
	FILE *f = fopen(out, "wb");
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, f);
	fclose(f);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void stream_rows_to_stdout(void)
{
	li_npy_writer *w = li_npy_writer_open("-", LI_NPY_F32, 5, 3);
	float row[3];
	for (size_t r = 0; w && r < 5; r++) {
		for (size_t c = 0; c < 3; c++)
			row[c] = f32v(r * 3 + c);
		if (li_npy_writer_put(w, row, 1) < 0)
			_exit(3);
	}
	if (!w || li_npy_writer_close(w) < 0)
		_exit(2);
}

/* Feed file `name` (optionally cut to `len` bytes) to li_npy_read("-") through a pipe. */
static li_npy *read_via_stdin(const char *name, long len)
{
	int p[2];
	if (pipe(p) != 0)
		return NULL;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		FILE *f = fopen(name, "rb");
		char buf[4096];
		size_t n;
		long left = len < 0 ? LONG_MAX : len;
		while (left > 0 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
			if ((long)n > left)
				n = (size_t)left;
			if (write(p[1], buf, n) < 0)
				_exit(1);
			left -= (long)n;
		}
		_exit(0);
	}
	close(p[1]);
	int saved = dup(0);
	dup2(p[0], 0);
	close(p[0]);
	clearerr(stdin);
	li_npy *a = li_npy_read("-");
	dup2(saved, 0);
	close(saved);
	clearerr(stdin);
	waitpid(pid, NULL, 0);
	return a;
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	ok(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is there (python3-numpy is a dependency)");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_make.py %s", test_dir), 0, "numpy wrote the test files");

	/* numpy -> C */
	read_good("f32_3x4.npy", 2, (size_t[]){3, 4});
	read_good("f32_0x5.npy", 2, (size_t[]){0, 5});
	read_good("f32_scalar.npy", 0, NULL);
	read_good("f32_align16.npy", 2, (size_t[]){5, 3});
	read_good("f32_odd.npy", 2, (size_t[]){2, 3});
	read_good("f32_long.npy", 2, (size_t[]){2, 2});
	read_good("f32_v2.npy", 2, (size_t[]){4, 2});
	read_good("f32_v3.npy", 1, (size_t[]){3});
	li_npy *a = li_npy_read(in_dir("i32_7.npy"));
	ok(a && a->dtype == LI_NPY_I32 && a->ndim == 1 && a->shape[0] == 7, "int32 (7,)");
	int same = a != NULL;
	for (size_t i = 0; a && i < 7; i++)
		same &= ((int32_t *)a->data)[i] == i32v(i);
	ok(same, "int32 values");
	is_int(li_npy_expect(a, LI_NPY_F32, 2), -1, "expect refuses int32 for float32");
	char want[1024];
	snprintf(want, sizeof want, "'%s': expected a 2-d float32 array, got shape (7,) int32", in_dir("i32_7.npy"));
	is_str(li_errmsg(), want, "expect message");
	is_int(li_npy_expect(a, LI_NPY_I32, 1), 0, "expect accepts int32 1-d");
	li_npy_free(a);
	a = li_npy_read(in_dir("u8_2x3x4.npy"));
	ok(a && a->dtype == LI_NPY_U8 && a->ndim == 3 && a->shape[2] == 4, "uint8 (2, 3, 4)");
	same = a != NULL;
	for (size_t i = 0; a && i < 24; i++)
		same &= ((uint8_t *)a->data)[i] == u8v(i);
	ok(same, "uint8 values");
	li_npy_free(a);

	/* refused files, exact messages */
	refused("f64.npy", "'%s': dtype '<f8' is not supported (float32 '<f4', int32 '<i4' or uint8 '|u1')");
	refused("f32_be.npy", "'%s': dtype '>f4' is big-endian; only little-endian float32 '<f4', "
			      "int32 '<i4' and uint8 '|u1' are supported");
	refused("fortran.npy", "'%s': Fortran-order arrays are not supported (save with C order)");
	refused("structured.npy", "'%s': structured arrays are not supported");
	refused("short.npy", "'%s': data is 400 bytes, shape (10, 20) float32 needs 800");
	refused("long.npy", "'%s': data is 12 bytes, shape (2,) float32 needs 8");
	refused("overflow.npy", "'%s': shape (4611686018427387904, 4) is too large");
	refused("overflow_row.npy", "'%s': shape (0, 4294967296, 4294967296) is too large");
	ok(li_npy_open(in_dir("overflow_row.npy")) == NULL && strstr(li_errmsg(), "is too large"),
	   "blocked reader: a row size that overflows is refused (it wrapped to 0)");
	refused("notuple.npy", "'%s': bad .npy header: shape is not a tuple");
	refused("dupkey.npy", "'%s': bad .npy header: duplicate key 'descr'");
	refused("nokey.npy", "'%s': bad .npy header: no 'fortran_order'");
	refused("negative.npy", "'%s': bad .npy header: negative dimension in shape");
	refused("hugehdr.npy", "'%s': header length 70000 exceeds file size");
	refused("badmagic.npy", "'%s': not a .npy file");
	refused("v9.npy", "'%s': unsupported .npy version 9.0");
	refused("absent.npy", "cannot open '%s': No such file or directory");

	/* C -> numpy, whole arrays */
	float f[12];
	for (size_t i = 0; i < 12; i++)
		f[i] = f32v(i);
	is_int(li_npy_write(in_dir("c_f32.npy"), LI_NPY_F32, 2, (size_t[]){3, 4}, f), 0, "write float32 (3, 4)");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_f32.npy"), "f32:3,4"), 0,
	       "numpy loads float32 (3, 4)");
	int32_t iv[7];
	for (size_t i = 0; i < 7; i++)
		iv[i] = i32v(i);
	is_int(li_npy_write(in_dir("c_i32.npy"), LI_NPY_I32, 1, (size_t[]){7}, iv), 0, "write int32 (7,)");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_i32.npy"), "i32:7"), 0,
	       "numpy loads int32 (7,)");
	uint8_t uv[24];
	for (size_t i = 0; i < 24; i++)
		uv[i] = u8v(i);
	is_int(li_npy_write(in_dir("c_u8.npy"), LI_NPY_U8, 3, (size_t[]){2, 3, 4}, uv), 0, "write uint8 (2, 3, 4)");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_u8.npy"), "u8:2,3,4"), 0,
	       "numpy loads uint8 (2, 3, 4)");
	is_int(li_npy_write(in_dir("c_empty.npy"), LI_NPY_F32, 2, (size_t[]){0, 5}, NULL), 0, "write (0, 5)");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_empty.npy"), "f32:0,5"), 0,
	       "numpy loads (0, 5)");
	is_int(li_npy_write(in_dir("c_scalar.npy"), LI_NPY_F32, 0, NULL, f), 0, "write a 0-d array");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_scalar.npy"), "f32:"), 0,
	       "numpy loads the 0-d array");
	a = li_npy_read(in_dir("c_f32.npy"));
	ok(a && a->ndim == 2 && a->shape[0] == 3 && a->shape[1] == 4 && f32_ok(a), "C round trip (3, 4)");
	li_npy_free(a);

	/* streaming writer: unknown N to a file (header rewritten at close) */
	enum { N = 100, D = 3 };
	li_npy_writer *w = li_npy_writer_open(in_dir("c_stream.npy"), LI_NPY_F32, LI_NPY_UNKNOWN, D);
	ok(w != NULL, "streaming writer, unknown row count");
	float rows[N * D];
	for (size_t i = 0; i < N * D; i++)
		rows[i] = f32v(i);
	for (size_t r = 0; w && r < N; r += 10)
		li_npy_writer_put(w, rows + r * D, 10);
	ok(access(in_dir("c_stream.npy"), F_OK) != 0, "nothing at the destination before close");
	is_int(w ? li_npy_writer_close(w) : -1, 0, "close commits");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_stream.npy"), "f32:100,3"), 0,
	       "numpy loads the streamed (100, 3)");
	/* known N to a pipe: no seeking allowed, header first */
	is_int(capture_stdout(stream_rows_to_stdout, in_dir("c_pipe.npy")), 0, "stream (5, 3) to a pipe");
	is_int(sh("/usr/bin/python3 tests/unit/py/npy_check.py %s %s", in_dir("c_pipe.npy"), "f32:5,3"), 0,
	       "numpy loads what came through the pipe");
	/* writer errors */
	ok(li_npy_writer_open("-", LI_NPY_F32, LI_NPY_UNKNOWN, 3) == NULL, "unknown N to stdout refused");
	is_str(li_errmsg(), "cannot stream an .npy of unknown row count to stdout", "its message");
	w = li_npy_writer_open(in_dir("c_few.npy"), LI_NPY_F32, 2, 3);
	is_int(w ? li_npy_writer_put(w, rows, 3) : 0, -1, "more rows than announced refused");
	snprintf(want, sizeof want, "'%s': more than the 2 rows announced", in_dir("c_few.npy"));
	is_str(li_errmsg(), want, "its message");
	li_npy_writer_put(w, rows, 1);
	is_int(li_npy_writer_close(w), -1, "fewer rows than announced refused at close");
	snprintf(want, sizeof want, "'%s': wrote 1 rows, 2 announced", in_dir("c_few.npy"));
	is_str(li_errmsg(), want, "its message");
	ok(access(in_dir("c_few.npy"), F_OK) != 0, "a failed close leaves no file");
	li_npy_writer_abort(li_npy_writer_open(in_dir("c_abort.npy"), LI_NPY_F32, 4, 3));
	ok(access(in_dir("c_abort.npy"), F_OK) != 0, "abort leaves no file");

	/* blocked reader */
	li_npy_reader *r = li_npy_open(in_dir("c_stream.npy"));
	ok(r && li_npy_reader_rows(r) == N && li_npy_reader_row_size(r) == D &&
		   li_npy_reader_dtype(r) == LI_NPY_F32 && li_npy_reader_ndim(r) == 2,
	   "blocked reader: (100, 3) float32");
	float blk[5 * D];
	is_int(r ? li_npy_read_rows(r, 42, 5, blk) : -1, 0, "read rows [42, 47)");
	same = 1;
	for (size_t i = 0; i < 5 * D; i++)
		same &= blk[i] == f32v(42 * D + i);
	ok(same, "rows [42, 47) values");
	is_int(r ? li_npy_read_rows(r, 98, 5, blk) : 0, -1, "rows past the end refused");
	snprintf(want, sizeof want, "'%s': rows [98, 103) out of range (100 rows)", in_dir("c_stream.npy"));
	is_str(li_errmsg(), want, "its message");
	li_npy_close(r);
	r = li_npy_open(in_dir("f32_align16.npy"));
	is_int(r ? li_npy_read_rows(r, 4, 1, blk) : -1, 0, "blocked read from a 16-aligned numpy file");
	ok(r && blk[0] == f32v(12) && blk[2] == f32v(14), "its last row");
	li_npy_close(r);
	ok(li_npy_open(in_dir("short.npy")) == NULL, "blocked reader checks the size too");
	ok(li_npy_open("/dev/null") == NULL && strcmp(li_errmsg(), "'/dev/null': not a regular file "
			"(blocked reading needs one)") == 0, "blocked reader needs a regular file");

	/* stdin: a pipe has no size, the data length is checked as it arrives */
	a = read_via_stdin(in_dir("f32_3x4.npy"), -1);
	ok(a && a->shape[0] == 3 && f32_ok(a), "read from a pipe on stdin");
	li_npy_free(a);
	a = read_via_stdin(in_dir("c_stream.npy"), 128 + 400);
	ok(a == NULL, "truncated pipe refused");
	is_str(li_errmsg(), "'stdin': data is 400 bytes, shape (100, 3) float32 needs 1200", "its message");

	ok(test_dir_remove() == 0, "cleanup");
	return done_testing();
}
