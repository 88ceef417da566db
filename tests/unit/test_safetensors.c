/* test_safetensors.c: files written by hand from numpy (tests/unit/py/
 * st_make.py) read and converted by C, every float16 pattern against numpy's
 * conversion, C-written files checked by numpy (st_check.py), and the exact
 * message for each corruption. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "li_error.h"
#include "li_safetensors.h"
#include "tap.h"
#include "testdir.h"

/* Bit-exact float comparison (so -0 != 0 and nan == nan of the same kind). */
static int same_bits(float a, float b)
{
	if (isnan(a) && isnan(b))
		return 1;
	return memcmp(&a, &b, 4) == 0;
}

static void refused(const char *name, const char *rest)
{
	char want[1024];
	snprintf(want, sizeof want, "'%s'%s", in_dir(name), rest);
	li_st *st = li_st_open(in_dir(name));
	ok(st == NULL, "%s refused", name);
	is_str(li_errmsg(), want, "%s message", name);
	li_st_close(st);
}

static float trunc_bf16(float x)
{
	uint32_t b;
	memcpy(&b, &x, 4);
	b &= 0xffff0000u;
	memcpy(&x, &b, 4);
	return x;
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	ok(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is there (python3-numpy is a dependency)");
	is_int(sh("/usr/bin/python3 tests/unit/py/st_make.py %s", test_dir), 0, "numpy wrote the test files");

	is_str(li_dtype_name(LI_DT_BF16), "BF16", "dtype name");
	is_int(li_dtype_from_name("I64"), LI_DT_I64, "dtype from name");
	is_int(li_dtype_from_name("U16"), -1, "unknown dtype");
	is_int(li_dtype_size(LI_DT_F64), 8, "dtype size");

	/* numpy (by hand) -> C */
	li_st *st = li_st_open(in_dir("good.safetensors"));
	if (!ok(st != NULL, "hand-made file opens"))
		diag("%s", li_errmsg());
	if (st) {
		is_int(li_st_count(st), 8, "8 tensors");
		is_str(li_st_at(st, 0)->name, "w", "tensors sorted by offset (header order was reversed)");
		is_str(li_st_meta(st, "arch"), "resnet18", "metadata arch");
		is_str(li_st_meta(st, "note"), "h\xc3\xa9llo \"quoted\"", "metadata with UTF-8 and quotes");
		ok(li_st_meta(st, "epoch") == NULL, "absent metadata is NULL");
		is_int(li_st_meta_count(st), 2, "2 metadata entries");
		const li_st_info *t = li_st_find(st, "b");
		ok(t && t->dtype == LI_DT_BF16 && t->ndim == 2 && t->shape[1] == 3 && t->numel == 6 &&
			   t->nbytes == 12, "info for 'b'");
		ok(li_st_find(st, "nope") == NULL, "find: absent is NULL");

		float f[16];
		is_int(li_st_read_f32(st, "w", 2, (int64_t[]){2, 3}, f), 0, "F32 read with shape check");
		int same = 1;
		for (int i = 0; i < 6; i++)
			same &= f[i] == (float)(i * 0.25 - 3);
		ok(same, "F32 values");
		is_int(li_st_read_f32(st, "h", 1, (int64_t[]){11}, f), 0, "F16 read");
		const float h_want[] = {1.0f, -2.5f, ldexpf(3, -24), ldexpf(1, -24), ldexpf(1, -14), 65504.0f,
					INFINITY, -INFINITY, NAN, 0.0f, -0.0f};
		same = 1;
		for (int i = 0; i < 11; i++)
			same &= same_bits(f[i], h_want[i]);
		ok(same, "F16: normals, subnormals, max, inf, nan, signed zero");
		is_int(li_st_read_f32(st, "b", 2, (int64_t[]){2, 3}, f), 0, "BF16 read");
		const float b_want[] = {1.0f, -2.5f, ldexpf(1, -130), INFINITY, trunc_bf16(3.0e38f), NAN};
		same = 1;
		for (int i = 0; i < 6; i++)
			same &= same_bits(f[i], b_want[i]);
		ok(same, "BF16: normals, subnormal, inf, large, nan");
		is_int(li_st_read_f32(st, "d", 1, NULL, f), 0, "F64 read (no shape check)");
		ok(f[0] == (float)0.1 && f[1] == (float)-1e10 && f[2] == ldexpf(1, -30), "F64 values rounded to F32");
		is_int(li_st_read_f32(st, "empty", 2, (int64_t[]){0, 4}, f), 0, "empty tensor reads");
		is_int(li_st_read_f32(st, "u", 1, NULL, f), 0, "U8 as float");
		ok(f[0] == 0 && f[1] == 128 && f[2] == 255, "U8 values");
		int64_t iv[4];
		is_int(li_st_read_i64(st, "n", 1, (int64_t[]){3}, iv), 0, "I64 read");
		ok(iv[0] == 10 && iv[1] == -3 && iv[2] == (int64_t)1 << 40, "I64 values");
		is_int(li_st_read_i64(st, "i", 2, (int64_t[]){2, 1}, iv), 0, "I32 read as I64");
		ok(iv[0] == 7 && iv[1] == -8, "I32 values");
		is_int(li_st_read_f32(st, "i", 1, (int64_t[]){2}, f), -1, "shape check counts dimensions");

		/* lookups that fail */
		char want[1024];
		const char *p = in_dir("good.safetensors");
		is_int(li_st_read_f32(st, "w", 2, (int64_t[]){3, 2}, f), -1, "wrong shape refused");
		snprintf(want, sizeof want, "'%s': tensor 'w' has shape [2, 3], expected [3, 2]", p);
		is_str(li_errmsg(), want, "shape message");
		is_int(li_st_read_f32(st, "fc.weight", 0, NULL, f), -1, "missing refused");
		snprintf(want, sizeof want, "'%s': tensor 'fc.weight' is missing", p);
		is_str(li_errmsg(), want, "missing message");
		is_int(li_st_read_i64(st, "w", 2, NULL, iv), -1, "float as integer refused");
		snprintf(want, sizeof want, "'%s': tensor 'w' has dtype F32, expected an integer", p);
		is_str(li_errmsg(), want, "dtype message");
		is_int(li_st_read_f32(st, "n", 1, NULL, f), -1, "inexact integer as float refused");
		snprintf(want, sizeof want, "'%s': tensor 'n' value 1099511627776 is not exact as float32", p);
		is_str(li_errmsg(), want, "inexact message");
	}
	li_st_close(st);

	/* every float16 pattern against numpy's conversion */
	st = li_st_open(in_dir("all_f16.safetensors"));
	ok(st != NULL, "all-f16 file opens");
	static float half[65536], ref[65536];
	if (st && li_st_read_f32(st, "half", 1, (int64_t[]){65536}, half) == 0 &&
	    li_st_read_f32(st, "ref", 1, (int64_t[]){65536}, ref) == 0) {
		int bad = -1;
		for (int i = 0; i < 65536 && bad < 0; i++)
			if (!same_bits(half[i], ref[i]))
				bad = i;
		if (!ok(bad < 0, "all 65536 float16 patterns convert as numpy does"))
			diag("pattern 0x%04x: got %g, numpy %g", bad, half[bad], ref[bad]);
	} else {
		ok(0, "all 65536 float16 patterns convert as numpy does");
	}
	li_st_close(st);
	ok(li_f16_to_f32(0x7e00) != li_f16_to_f32(0x7e00), "f16 nan stays nan");
	ok(same_bits(li_bf16_to_f32(0x8001), -ldexpf(1, -133)), "bf16 negative subnormal");

	/* corrupt files, exact messages */
	refused("bad_hole.safetensors", ": hole in the data section between 8 and 12 (before tensor 'b')");
	refused("bad_overlap.safetensors", ": tensors 'a' and 'b' overlap");
	refused("bad_truncated.safetensors", ": data section is truncated (ends at 400, tensor 'x' needs 800)");
	refused("bad_trailing.safetensors", ": 4 bytes after the end of the data section at 8");
	refused("bad_nbytes.safetensors", ": tensor 'a' has 12 bytes of data, F32 [2] needs 8");
	refused("bad_dtype.safetensors", ": tensor 'a' has unsupported dtype 'F8_E4M3'");
	refused("bad_negative.safetensors", ": tensor 'a' has a bad shape (dimensions must be integers >= 0)");
	refused("bad_backwards.safetensors", ": tensor 'a' has data_offsets [8, 4] (end before begin)");
	refused("bad_huge_shape.safetensors", ": tensor 'a' has a shape too large");
	refused("bad_zero_huge.safetensors", ": tensor 'a' has a shape too large");
	refused("bad_meta.safetensors", ": __metadata__ value 'epoch' is not a string");
	refused("bad_array.safetensors", ": header does not start with '{'");
	refused("bad_noshape.safetensors", ": tensor 'a' has a bad or missing shape");
	refused("bad_hdrlen.safetensors", ": header length 1000 exceeds file size");
	refused("bad_hdrcap.safetensors", ": header length 1099511627776 exceeds the limit of 104857600 bytes");
	refused("bad_tiny.safetensors", ": file is too small to be a safetensors file (4 bytes)");
	st = li_st_open(in_dir("bad_dup.safetensors"));
	ok(st == NULL && strstr(li_errmsg(), "': bad header JSON: ") && strstr(li_errmsg(), "duplicate"),
	   "duplicate keys refused: %s", li_errmsg());
	st = li_st_open(in_dir("bad_json.safetensors"));
	ok(st == NULL && strstr(li_errmsg(), "': bad header JSON: "), "broken JSON refused: %s", li_errmsg());
	st = li_st_open(in_dir("absent.safetensors"));
	char want[1024];
	snprintf(want, sizeof want, "cannot open '%s': No such file or directory", in_dir("absent.safetensors"));
	is_str(li_errmsg(), want, "absent file message");

	/* C -> numpy */
	float w[12];
	for (int i = 0; i < 12; i++)
		w[i] = (float)(i * 0.25 - 3);
	const int64_t n[3] = {1, -2, (int64_t)1 << 40};
	const uint16_t hb[4] = {0x3c00, 0xc100, 0x0001, 0x7c00}; /* 1, -2.5, 2^-24, inf */
	li_st_writer *wr = li_st_writer_new();
	is_int(li_st_writer_add(wr, "w", LI_DT_F32, 2, (int64_t[]){3, 4}, w), 0, "add F32");
	is_int(li_st_writer_add(wr, "n", LI_DT_I64, 1, (int64_t[]){3}, n), 0, "add I64");
	is_int(li_st_writer_add(wr, "h", LI_DT_F16, 1, (int64_t[]){4}, hb), 0, "add F16");
	is_int(li_st_writer_add(wr, "empty", LI_DT_F32, 2, (int64_t[]){0, 7}, NULL), 0, "add an empty tensor");
	is_int(li_st_writer_add(wr, "w", LI_DT_F32, 1, (int64_t[]){1}, w), -1, "a name added twice refused");
	is_str(li_errmsg(), "tensor 'w' added twice", "its message");
	li_st_writer_meta(wr, "arch", "resnet50");
	li_st_writer_meta(wr, "command", "li-train --epochs 3 \"a b\"\ttab");
	li_st_writer_meta(wr, "utf8", "h\xc3\xa9llo");
	li_st_writer_meta(wr, "arch", "resnet18"); /* the last value wins */
	const char *out = in_dir("c.safetensors");
	is_int(li_st_writer_save(wr, out), 0, "save");
	is_int(sh("/usr/bin/python3 tests/unit/py/st_check.py %s", out), 0, "python/numpy checks the C file");
	st = li_st_open(out);
	float g[12];
	ok(st && li_st_read_f32(st, "w", 2, (int64_t[]){3, 4}, g) == 0 && memcmp(g, w, sizeof w) == 0,
	   "C round trip F32");
	ok(st && li_st_read_f32(st, "h", 1, NULL, g) == 0 && g[1] == -2.5f && g[2] == ldexpf(1, -24) &&
		   isinf(g[3]), "C round trip F16");
	is_str(st ? li_st_meta(st, "command") : NULL, "li-train --epochs 3 \"a b\"\ttab", "C round trip metadata");
	li_st_close(st);
	li_st_writer_meta(wr, "bad", "\xff\xfe not UTF-8");
	is_int(li_st_writer_save(wr, out), -1, "metadata that is not UTF-8 refused");
	snprintf(want, sizeof want, "cannot write '%s': cannot encode the header (names and metadata must be UTF-8)", out);
	is_str(li_errmsg(), want, "its message");
	is_int(sh("/usr/bin/python3 tests/unit/py/st_check.py %s", out), 0, "the good file is still there, intact");
	li_st_writer_free(wr);

	/* a file with nothing in it is valid: "{}" padded */
	wr = li_st_writer_new();
	is_int(li_st_writer_save(wr, in_dir("none.safetensors")), 0, "save an empty file");
	li_st_writer_free(wr);
	st = li_st_open(in_dir("none.safetensors"));
	ok(st && li_st_count(st) == 0 && li_st_meta_count(st) == 0, "empty file reads back");
	li_st_close(st);

	ok(test_dir_remove() == 0, "cleanup");
	return done_testing();
}
