/* test_core.c: errors, checked allocation, size arithmetic, option parsing, RNG,
 * mkdir -p (li_mkdirs). */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_rng.h"
#include "tap.h"
#include "testdir.h"

int main(void)
{
	is_int(li_error("cannot read '%s': %s", "x.png", "no such file"), -1, "li_error returns -1");
	is_str(li_errmsg(), "cannot read 'x.png': no such file", "message recorded");
	li_error_prefix("model '%s'", "m.safetensors");
	is_str(li_errmsg(), "model 'm.safetensors': cannot read 'x.png': no such file", "prefix");
	li_error_clear();
	is_str(li_errmsg(), "", "cleared");

	/* Control characters from names are escaped in every message (issue 10). */
	char esc[64];
	is_str(li_escape("a\nb\tc\rd\x1b[31m\x7f\\ \xc2\x9b\xc3\xa9", esc, sizeof esc),
	       "a\\nb\\tc\\rd\\x1b[31m\\x7f\\ \\u009b\xc3\xa9", "li_escape: controls visible, UTF-8 kept");
	char twice[64];
	is_str(li_escape(esc, twice, sizeof twice), esc, "escaping twice changes nothing");
	is_str(li_escape("abc\n", esc, 5), "abc", "cut at the buffer, never half an escape");
	char again[256];
	is_str(li_escape("caf\xe9 \xff\xfe \x80 \xc3 \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80", again,
			 sizeof again),
	       "caf\\xe9 \\xff\\xfe \\x80 \\xc3 \\xe2\\x82 \\xed\\xa0\\x80 \\xc0\\xaf \\xf4\\x90\\x80\\x80",
	       "li_escape: bytes outside well-formed UTF-8 (Latin-1, stray, cut, surrogate, overlong, "
	       "past U+10FFFF) as \\xHH");
	is_str(li_escape("\xe2\x82\xac \xf0\x9f\x94\xac \xed\x9f\xbf \xef\xbf\xbf", esc, sizeof esc),
	       "\xe2\x82\xac \xf0\x9f\x94\xac \xed\x9f\xbf \xef\xbf\xbf", "well-formed 3- and 4-byte characters kept");
	is_str(li_escape("ab\xe2\x82\xac", esc, 5), "ab", "cut at the buffer, never half a character");
	li_escape("caf\xe9 \xc3", esc, sizeof esc);
	is_str(li_escape(esc, again, sizeof again), esc, "escaping the escaped changes nothing");
	li_error("tensor '%s' is bad", "x\ny\x1b");
	is_str(li_errmsg(), "tensor 'x\\ny\\x1b' is bad", "li_error escapes the message");
	li_error_prefix("'%s'", "m\n");
	is_str(li_errmsg(), "'m\\n': tensor 'x\\ny\\x1b' is bad", "li_error_prefix escapes the prefix");

	size_t s;
	is_int(li_size_mul(SIZE_MAX / 2, 3, &s), -1, "mul overflow detected");
	is_int(li_size_mul(1000, 1000, &s), 0, "mul ok");
	is_int(s, 1000000, "mul value");
	is_int(li_size_add(SIZE_MAX, 1, &s), -1, "add overflow detected");
	ok(li_malloc_array(SIZE_MAX / 4, 8) == NULL, "array overflow refused");
	ok(strstr(li_errmsg(), "overflow") != NULL, "overflow message: %s", li_errmsg());
	void *p = li_malloc_aligned(100);
	ok(p && ((uintptr_t)p & 63) == 0, "aligned allocation");
	li_free_aligned(p);

	long v;
	double d;
	is_int(li_parse_long("42", &v), 0, "parse 42");
	is_int(v, 42, "value 42");
	is_int(li_parse_long("42x", &v), -1, "trailing junk refused");
	is_str(li_errmsg(), "'42x' is not an integer", "junk message");
	is_int(li_parse_long("", &v), -1, "empty refused");
	is_int(li_parse_long("99999999999999999999", &v), -1, "range refused");
	is_int(li_parse_double("1e-4", &d), 0, "parse 1e-4");
	is_close(d, 1e-4, 1e-15, "value 1e-4");
	is_int(li_parse_double("nan", &d), -1, "nan refused");
	is_int(li_parse_double("inf", &d), -1, "inf refused");

	/* RNG: deterministic, streams differ, below() unbiased enough, normal moments. */
	li_rng a, b;
	li_rng_seed(&a, 42);
	li_rng_seed(&b, 42);
	int same = 1;
	for (int i = 0; i < 100; i++)
		same &= li_rng_u64(&a) == li_rng_u64(&b);
	ok(same, "same seed, same sequence");
	li_rng c = li_rng_derive(42, 0), e = li_rng_derive(42, 1);
	ok(li_rng_u64(&c) != li_rng_u64(&e), "derived streams differ");
	li_rng f = li_rng_derive(42, 7), g = li_rng_derive(42, 7);
	ok(li_rng_u64(&f) == li_rng_u64(&g), "derive is deterministic");
	li_rng_seed(&a, 1);
	int counts[10] = {0};
	for (int i = 0; i < 100000; i++)
		counts[li_rng_below(&a, 10)]++;
	int fair = 1;
	for (int i = 0; i < 10; i++)
		fair &= counts[i] > 9500 && counts[i] < 10500;
	ok(fair, "below(10) is uniform");
	double sum = 0, sq = 0;
	for (int i = 0; i < 200000; i++) {
		double x = li_rng_normal(&a);
		sum += x;
		sq += x * x;
	}
	is_close(sum / 200000, 0.0, 0.01, "normal mean");
	is_close(sq / 200000, 1.0, 0.02, "normal variance");
	double u = 0;
	for (int i = 0; i < 1000; i++) {
		double x = li_rng_uniform(&a);
		if (x < 0 || x >= 1)
			u = -1;
	}
	ok(u == 0, "uniform in [0, 1)");

	/* li_mkdirs: mkdir -p, shared by li-tile, li-ablate and li_cache */
	if (test_dir_make() == 0) {
		struct stat st;
		ok(li_mkdirs(in_dir("a/b//c/"), 0700) == 0, "nested, doubled and trailing slashes");
		ok(stat(in_dir("a/b/c"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
		   "every level made, with the mode");
		ok(li_mkdirs(in_dir("a/b"), 0700) == 0, "an existing directory is fine");
		put("f", "x");
		char want[1200];
		snprintf(want, sizeof want, "cannot create '%s': Not a directory", in_dir("f/g"));
		ok(li_mkdirs(in_dir("f/g/h"), 0700) < 0 && strcmp(li_errmsg(), want) == 0,
		   "a file on the way: the level that failed named: %s", li_errmsg());
		snprintf(want, sizeof want, "'%s' is not a directory", in_dir("f"));
		ok(li_mkdirs(in_dir("f"), 0700) < 0 && strcmp(li_errmsg(), want) == 0,
		   "a file at the end: %s", li_errmsg());
		ok(li_mkdirs("", 0700) < 0, "an empty path refused: %s", li_errmsg());
		test_dir_remove();
	}
	return done_testing();
}
