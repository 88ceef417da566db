/* test_image.c: li_image against a second decoder (PIL, via
 * tests/unit/py/image_ref.py) on all of PngSuite and the JPEG test files,
 * encode/decode round trips, resize against naive references and PIL, crop,
 * conversion, limits and error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"
#include "li_image_io.h"
#include "tap.h"
#include "testdir.h"

#define FIX "tests/fixtures/images"
#define PYTHON "/usr/bin/python3"

static int noise = 8; /* pattern(): hash noise amplitude (a power of two) */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	*len = fread(buf, 1, (size_t)n, fp);
	fclose(fp);
	return buf;
}

/* Largest absolute difference, or -1 when the sizes differ. */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	int m = 0;
	for (size_t i = 0; i < n; i++) {
		int d = abs((int)a[i] - (int)b[i]);
		if (d > m)
			m = d;
	}
	return m;
}

static int compare_ref(const li_image *img, const char *ref, int tol, const char *what)
{
	size_t n, want = (size_t)img->width * img->height * img->channels;
	uint8_t *r = slurp(ref, &n);
	if (!r || n != want) {
		ok(0, "%s: reference %s has %zu bytes, want %zu", what, ref, r ? n : 0, want);
		free(r);
		return 0;
	}
	int d = max_diff(img->data, r, n);
	free(r);
	if (!ok(d <= tol, "%s matches PIL (max diff %d, tolerance %d)", what, d, tol))
		return 0;
	return 1;
}

/* Decode every fixture and compare with PIL's pixels. */
static void test_against_pil(void)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, PYTHON " tests/unit/py/image_ref.py %s " FIX "/pngsuite/*.png " FIX
	         "/jpeg/*", test_dir);
	FILE *p = popen(cmd, "r");
	if (!ok(p != NULL, "run image_ref.py"))
		return;
	char line[1024];
	int files = 0, png = 0, jpeg = 0;
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = '\0';
		char *name = line, *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		files++;
		int is_jpeg = strstr(name, ".jp") != NULL;
		char path[1200], ref[1200];
		snprintf(path, sizeof path, FIX "/%s/%s", is_jpeg ? "jpeg" : "pngsuite", name);
		if (strncmp(tab + 1, "error", 5) == 0) {
			/* Only the 12-bit JPEG is expected here: neither PIL nor this
			 * libjpeg-turbo build reads 12-bit samples. */
			li_image *img = li_image_read(path, NULL);
			ok(strcmp(name, "testorig12.jpg") == 0, "only testorig12.jpg fails in PIL (%s)", name);
			ok(img == NULL, "%s refused", name);
			char want[1400];
			snprintf(want, sizeof want, "cannot decode '%s': Unsupported JPEG data precision 12",
			         path);
			is_str(li_errmsg(), want, "%s: clear message", name);
			li_image_free(img);
			continue;
		}
		int tol = is_jpeg ? 3 : 0;
		li_image *img = li_image_read(path, NULL);
		if (strcmp(name, "testimgari.jpg") == 0) {
			/* PIL reads it; we refuse arithmetic coding (test_errors). */
			ok(img == NULL, "%s (arithmetic-coded) refused", name);
			li_image_free(img);
			continue;
		}
		if (!ok(img != NULL, "%s decodes", name)) {
			diag("%s", li_errmsg());
			continue;
		}
		snprintf(ref, sizeof ref, "%s/%s.rgb", test_dir, name);
		if (compare_ref(img, ref, tol, name)) {
			if (is_jpeg)
				jpeg++;
			else
				png++;
		}
		li_image_free(img);
		li_image_opts g = {.channels = 1};
		img = li_image_read(path, &g);
		if (ok(img && img->channels == 1, "%s decodes as gray", name)) {
			char what[1200];
			snprintf(what, sizeof what, "%s gray", name);
			snprintf(ref, sizeof ref, "%s/%s.gray", test_dir, name);
			compare_ref(img, ref, tol, what);
		}
		li_image_free(img);
	}
	ok(pclose(p) == 0, "image_ref.py succeeded");
	is_int(files, 51 + 9, "every fixture had a reference (51 PngSuite, 9 JPEG)");
	is_int(png, 51, "all PngSuite files match PIL exactly");
	is_int(jpeg, 7, "all decodable JPEGs match PIL (testimgari.jpg is arithmetic-coded)");
}

static li_image *pattern(int w, int h, int c, unsigned seed)
{
	li_image *img = li_image_new(w, h, c);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < c; k++) {
				/* Smooth ramps plus a little hash noise: compressible, not flat. */
				unsigned v = (unsigned)(x * 150 / w + y * 60 / h + k * 20);
				seed = seed * 1103515245u + 12345u;
				v += (seed >> 16) & (unsigned)(noise - 1);
				img->data[((size_t)y * w + x) * c + k] = (uint8_t)(v & 255);
			}
	return img;
}

static void test_round_trips(void)
{
	for (int c = 1; c <= 3; c += 2) {
		li_image *img = pattern(37, 23, c, 1);
		void *b0, *b9;
		size_t n0, n9;
		li_image_wopts w = LI_IMAGE_WOPTS_DEFAULT;
		w.png_level = 0;
		is_int(li_image_encode(img, LI_IMAGE_PNG, &w, &b0, &n0), 0, "PNG level 0 encodes (%d ch)", c);
		w.png_level = 9;
		is_int(li_image_encode(img, LI_IMAGE_PNG, &w, &b9, &n9), 0, "PNG level 9 encodes (%d ch)", c);
		ok(n9 < n0, "level 9 (%zu bytes) is smaller than level 0 (%zu)", n9, n0);
		li_image_opts o = {.channels = c};
		li_image *d = li_image_decode(b9, n9, "mem.png", &o);
		ok(d && d->width == 37 && d->height == 23 && d->channels == c &&
		   memcmp(d->data, img->data, 37 * 23 * (size_t)c) == 0, "PNG round trip exact (%d ch)", c);
		li_image_free(d);
		free(b0);
		free(b9);

		/* JPEG is for smooth images: test it on one. */
		noise = 1;
		li_image_free(img);
		img = pattern(37, 23, c, 1);
		noise = 8;
		void *j95, *j10;
		size_t m95, m10;
		w.jpeg_quality = 95;
		is_int(li_image_encode(img, LI_IMAGE_JPEG, &w, &j95, &m95), 0, "JPEG q95 encodes");
		w.jpeg_quality = 10;
		is_int(li_image_encode(img, LI_IMAGE_JPEG, &w, &j10, &m10), 0, "JPEG q10 encodes");
		ok(m10 < m95, "q10 (%zu bytes) smaller than q95 (%zu)", m10, m95);
		d = li_image_decode(j95, m95, "mem.jpg", &o);
		if (ok(d && d->width == 37 && d->height == 23 && d->channels == c, "JPEG round trip shape")) {
			double sum = 0;
			for (size_t i = 0; i < 37 * 23 * (size_t)c; i++)
				sum += abs((int)d->data[i] - (int)img->data[i]);
			double mad = sum / (37 * 23 * c);
			ok(mad < 3.0, "JPEG q95 round trip close (mean abs diff %.2f)", mad);
		}
		li_image_free(d);
		free(j95);
		free(j10);
		li_image_free(img);
	}

	/* To files, atomically, format by extension. */
	li_image *img = pattern(20, 10, 3, 2);
	char path[512];
	snprintf(path, sizeof path, "%s/out.PNG", test_dir);
	is_int(li_image_write(img, path, NULL), 0, "write .PNG");
	li_image *d = li_image_read(path, NULL);
	ok(d && memcmp(d->data, img->data, 600) == 0, "read back .PNG exact");
	li_image_info info;
	is_int(li_image_read_info(path, &info), 0, "info of written PNG");
	ok(info.format == LI_IMAGE_PNG && info.width == 20 && info.height == 10 && info.channels == 3 &&
	   info.bit_depth == 8, "info fields");
	li_image_free(d);
	for (int level = 0; level <= 9; level += 9) {
		li_image_wopts fast = LI_IMAGE_WOPTS_DEFAULT;
		fast.png_fast = 1;
		fast.png_level = level;
		snprintf(path, sizeof path, "%s/fast%d.png", test_dir, level);
		is_int(li_image_write(img, path, &fast), 0, "write with png_fast, level %d", level);
		d = li_image_read(path, NULL);
		ok(d && memcmp(d->data, img->data, 600) == 0, "png_fast level %d reads back exact", level);
		li_image_free(d);
	}
	snprintf(path, sizeof path, "%s/out.jpeg", test_dir);
	is_int(li_image_write(img, path, NULL), 0, "write .jpeg");
	is_int(li_image_read_info(path, &info), 0, "info of written JPEG");
	ok(info.format == LI_IMAGE_JPEG && info.width == 20 && info.channels == 3, "JPEG info fields");
	snprintf(path, sizeof path, "%s/out.bmp", test_dir);
	is_int(li_image_write(img, path, NULL), -1, "unknown extension refused");
	char want[600];
	snprintf(want, sizeof want, "cannot write '%s': unknown image type (use .png, .jpg or .jpeg)", path);
	is_str(li_errmsg(), want, "unknown extension message");
	ok(access(path, F_OK) != 0, "nothing written for .bmp");
	li_image_wopts bad = {.png_level = 10, .jpeg_quality = 90};
	snprintf(path, sizeof path, "%s/bad.png", test_dir);
	is_int(li_image_write(img, path, &bad), -1, "level 10 refused");
	snprintf(want, sizeof want, "cannot write '%s': PNG compression level 10 is not in 0-9", path);
	is_str(li_errmsg(), want, "level message");
	li_image_free(img);
}

/* Exact area average of the source rectangle each output pixel covers,
 * computed in 2-D with rational overlaps: an independent reference. */
static double area_ref(const li_image *s, int W, int H, int x, int y, int k)
{
	double sx = (double)s->width / W, sy = (double)s->height / H, sum = 0;
	for (int j = 0; j < s->height; j++) {
		double oy = fmin(j + 1, (y + 1) * sy) - fmax(j, y * sy);
		if (oy <= 0)
			continue;
		for (int i = 0; i < s->width; i++) {
			double ox = fmin(i + 1, (x + 1) * sx) - fmax(i, x * sx);
			if (ox > 0)
				sum += ox * oy * s->data[((size_t)j * s->width + i) * s->channels + k];
		}
	}
	return sum / (sx * sy);
}

static void test_resize(void)
{
	li_image *src = pattern(64, 48, 3, 3);
	/* Integer factor: exactly the block mean, rounded half up. */
	li_image *r = li_image_resize(src, 16, 12);
	int bad = 0;
	for (int y = 0; y < 12; y++)
		for (int x = 0; x < 16; x++)
			for (int k = 0; k < 3; k++) {
				unsigned s = 0;
				for (int j = 0; j < 4; j++)
					for (int i = 0; i < 4; i++)
						s += src->data[((size_t)(y * 4 + j) * 64 + x * 4 + i) * 3 + k];
				bad += r->data[((size_t)y * 16 + x) * 3 + k] != (s + 8) / 16;
			}
	is_int(bad, 0, "4x box downscale is the exact block mean");
	li_image_free(r);

	/* Non-integer factors against the 2-D area reference. */
	r = li_image_resize(src, 23, 17);
	double worst = 0;
	for (int y = 0; y < 17; y++)
		for (int x = 0; x < 23; x++)
			for (int k = 0; k < 3; k++) {
				double d = fabs(r->data[((size_t)y * 23 + x) * 3 + k] - area_ref(src, 23, 17, x, y, k));
				worst = d > worst ? d : worst;
			}
	ok(worst <= 0.5 + 1e-6, "64x48 -> 23x17 is the area average (worst %.3f)", worst);
	li_image_free(r);

	/* A flat image stays flat whatever the sizes. */
	li_image *flat = li_image_new(31, 7, 1);
	memset(flat->data, 200, 31 * 7);
	int flat_ok = 1;
	int sizes[][2] = {{5, 3}, {62, 14}, {1, 1}, {100, 2}, {7, 31}};
	for (size_t i = 0; i < LI_ARRAY_LEN(sizes); i++) {
		r = li_image_resize(flat, sizes[i][0], sizes[i][1]);
		for (int j = 0; r && j < sizes[i][0] * sizes[i][1]; j++)
			flat_ok &= r->data[j] == 200;
		flat_ok &= r != NULL;
		li_image_free(r);
	}
	ok(flat_ok, "flat image stays flat under down/up/mixed resizes");
	li_image_free(flat);
	ok(li_image_resize(src, 0, 5) == NULL, "zero size refused");

	/* Against PIL: BOX for integer downscale (PIL rounds its intermediate
	 * pass to 8 bits, so within 1), BILINEAR for upscale (within 1). */
	char png[512], out[512], cmd[2048];
	snprintf(png, sizeof png, "%s/src.png", test_dir);
	snprintf(out, sizeof out, "%s/pil.rgb", test_dir);
	li_image_write(src, png, NULL);
	struct { int w, h; const char *filter; } cases[] = {
		{32, 24, "BOX"}, {16, 12, "BOX"}, {8, 6, "BOX"}, {160, 120, "BILINEAR"}, {97, 61, "BILINEAR"},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(cases); i++) {
		snprintf(cmd, sizeof cmd, PYTHON " tests/unit/py/image_ref.py --resize %s %s %d %d %s", png,
		         out, cases[i].w, cases[i].h, cases[i].filter);
		if (!ok(system(cmd) == 0, "PIL %s resize ran", cases[i].filter))
			continue;
		r = li_image_resize(src, cases[i].w, cases[i].h);
		char what[100];
		snprintf(what, sizeof what, "resize to %dx%d (%s)", cases[i].w, cases[i].h, cases[i].filter);
		compare_ref(r, out, 1, what);
		li_image_free(r);
	}

	/* Crop: inside is a copy, outside is white. */
	li_image *c = li_image_crop(src, 60, -2, 8, 5);
	ok(c && c->width == 8 && c->height == 5, "crop shape");
	ok(c->data[0] == 255 && c->data[(2 * 8 + 5) * 3] == 255, "outside the image is white");
	ok(memcmp(c->data + (2 * 8) * 3, src->data + 60 * 3, 4 * 3) == 0, "inside is copied");
	li_image_free(c);
	c = li_image_crop(src, 1000000, 1000000, 3, 3);
	ok(c && c->data[0] == 255 && c->data[26] == 255, "crop far outside is all white");
	li_image_free(c);

	/* Conversion. */
	li_image *g = li_image_convert(src, 1);
	unsigned r0 = src->data[0], g0 = src->data[1], b0 = src->data[2];
	is_int(g->data[0], (r0 * 19595 + g0 * 38470 + b0 * 7471 + 32768) >> 16, "luma formula");
	li_image *back = li_image_convert(g, 3);
	ok(back->data[0] == g->data[0] && back->data[1] == g->data[0] && back->data[2] == g->data[0],
	   "gray to RGB copies");
	li_image_free(g);
	li_image_free(back);
	li_image_free(src);
}

static void test_errors(void)
{
	const char *f = FIX "/pngsuite/basn0g01.png";
	li_image_opts o = {.max_pixels = 100};
	ok(li_image_read(f, &o) == NULL, "pixel limit applies");
	is_str(li_errmsg(), "'" FIX "/pngsuite/basn0g01.png' is 32x32, over the 100-pixel limit (LI_MAX_PIXELS)",
	       "limit message");
	setenv("LI_MAX_PIXELS", "1023", 1);
	ok(li_image_read(f, NULL) == NULL, "LI_MAX_PIXELS applies");
	ok(strstr(li_errmsg(), "over the 1023-pixel limit") != NULL, "env limit in message");
	setenv("LI_MAX_PIXELS", "1024", 1);
	li_image *img = li_image_read(f, NULL);
	ok(img != NULL, "exactly at the limit decodes");
	li_image_free(img);
	setenv("LI_MAX_PIXELS", "lots", 1);
	is_int((long long)li_image_max_pixels(NULL), (long long)LI_IMAGE_DEFAULT_MAX_PIXELS,
	       "bad LI_MAX_PIXELS falls back to the default");
	unsetenv("LI_MAX_PIXELS");
	ok(li_image_read(FIX "/jpeg/testorig.jpg", &o) == NULL, "JPEG pixel limit applies");
	ok(strstr(li_errmsg(), "is 227x149, over the 100-pixel limit") != NULL, "JPEG limit message");

	li_image_opts s2 = {.max_scans = 2};
	ok(li_image_read(FIX "/jpeg/progressive.jpg", &s2) == NULL, "scan cap applies");
	is_str(li_errmsg(), "cannot decode '" FIX "/jpeg/progressive.jpg': more than 2 scans (a progressive JPEG bomb?)",
	       "scan cap message");
	img = li_image_read(FIX "/jpeg/progressive.jpg", NULL);
	ok(img != NULL, "progressive JPEG decodes under the default cap");
	li_image_free(img);

	/* Truncation is an error, not grey pixels. */
	size_t n;
	uint8_t *buf = slurp(FIX "/jpeg/testorig.jpg", &n);
	ok(li_image_decode(buf, n / 2, "half.jpg", NULL) == NULL, "truncated JPEG refused");
	diag("%s", li_errmsg());
	ok(strncmp(li_errmsg(), "cannot decode 'half.jpg': ", 26) == 0, "truncated JPEG message names it");
	ok(li_image_decode(buf, n - 2, "noeoi.jpg", NULL) == NULL, "JPEG without EOI refused");
	img = li_image_decode(buf, n, "full.jpg", NULL);
	ok(img != NULL, "the whole buffer decodes");
	li_image_free(img);

	/* Truncation without a libjpeg warning (issue 10): 30% of an arithmetic-
	 * coded file plus an EOI decoded to rows of zeros-as-data; arithmetic
	 * coding is refused outright, intact or not, with the lossless way out. */
	static const char *const ari[] = {"truncated/arith.jpg", "truncated/arith_trunc30.jpg",
					  "truncated/arith_prog_trunc30.jpg", "jpeg/testimgari.jpg"};
	for (size_t i = 0; i < LI_ARRAY_LEN(ari); i++) {
		char path[256], want[512];
		snprintf(path, sizeof path, FIX "/%s", ari[i]);
		snprintf(want, sizeof want, "cannot decode '%s': arithmetic-coded JPEG is not supported "
			 "(truncation cannot be detected in it; 'jpegtran -copy all' rewrites it "
			 "losslessly with Huffman codes)", path);
		ok(li_image_read(path, NULL) == NULL, "%s refused", ari[i]);
		is_str(li_errmsg(), want, "%s: the message says why and what to do", ari[i]);
	}
	/* A progressive file cut at a scan boundary is a valid JPEG with fewer
	 * scans, a blurred image: refused as truncated. */
	ok(li_image_read(FIX "/truncated/progressive_cut.jpg", NULL) == NULL,
	   "progressive JPEG cut after 3 scans refused");
	is_str(li_errmsg(), "cannot decode '" FIX "/truncated/progressive_cut.jpg': file is truncated (its progressive "
	       "scans stop before every coefficient is complete)", "cut progressive JPEG message");
	free(buf);
	buf = slurp(FIX "/pngsuite/basn2c08.png", &n);
	ok(li_image_decode(buf, n - 12, "noend.png", NULL) == NULL, "PNG without IEND refused");
	is_str(li_errmsg(), "cannot decode 'noend.png': file is truncated", "PNG truncation message");
	ok(li_image_decode(buf, 40, "short.png", NULL) == NULL, "PNG cut in IDAT refused");
	li_image_info info;
	is_int(li_image_decode_info(buf, n, "x.png", &info), 0, "info from memory");
	ok(info.width == 32 && info.channels == 3 && info.bit_depth == 8, "info: 32 wide, RGB, 8-bit");
	free(buf);
	ok(li_image_decode("GIF89a..", 8, "x.gif", NULL) == NULL, "GIF refused");
	is_str(li_errmsg(), "cannot decode 'x.gif': not a PNG or JPEG file", "not-an-image message");
	ok(li_image_decode("", 0, "empty.png", NULL) == NULL, "empty refused");
	is_str(li_errmsg(), "cannot decode 'empty.png': empty file", "empty message");
	ok(li_image_read("/nonexistent/x.png", NULL) == NULL, "missing file refused");
	is_str(li_errmsg(), "cannot read '/nonexistent/x.png': No such file or directory", "missing message");
	li_image_opts c2 = {.channels = 2};
	ok(li_image_read(f, &c2) == NULL, "2 output channels refused");

	is_int(li_image_format_for_path("a/b.JPG"), LI_IMAGE_JPEG, "extension .JPG");
	is_int(li_image_format_for_path("a.d/b"), LI_IMAGE_UNKNOWN, "no extension");
	is_str(li_image_format_name(LI_IMAGE_PNG), "png", "format name");
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	test_against_pil();
	test_round_trips();
	test_resize();
	test_errors();
	if (test_dir_remove() != 0)
		diag("could not remove %s", test_dir);
	return done_testing();
}
