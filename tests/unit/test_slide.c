/* test_slide.c: li_slide on real slides (an Aperio H&E region with mpp, a
 * generic tiled pyramid whose mpp comes from TIFF resolution tags), on a
 * plain PNG as a one-level slide, and its error messages. The slides are
 * read from $LI_SHARED/data (a visible skip when absent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_image_io.h"
#include "li_slide.h"
#include "tap.h"

/* Fraction of pixels that are not near-white, and whether not all equal. */
static double tissue(const li_image *img, int *varied)
{
	size_t n = (size_t)img->width * img->height, dark = 0;
	*varied = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = img->data + 3 * i;
		dark += p[0] < 220 || p[1] < 220 || p[2] < 220;
		*varied |= memcmp(p, img->data, 3) != 0;
	}
	return (double)dark / n;
}

static double mean_abs_diff(const li_image *a, const li_image *b)
{
	double s = 0;
	size_t n = (size_t)a->width * a->height * 3;
	for (size_t i = 0; i < n; i++)
		s += abs((int)a->data[i] - (int)b->data[i]);
	return s / n;
}

static int same_image(const li_image *a, const li_image *b)
{
	return a && b && a->width == b->width && a->height == b->height &&
	       a->channels == b->channels &&
	       memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels) == 0;
}

/* The thumbnail read by 1, 2, 3 and 7 threads (handles opened by the
 * threads) is byte-identical to li_slide_thumbnail for each size; sizes
 * include 1 (every thread's rows fall in one thumbnail row, so every row is
 * a seam) and sizes that put seams inside thumbnail rows. */
static void check_threads(li_slide *s, const char *name, const int *sizes, int nsizes)
{
	int same = 1, opened = 0;
	for (int i = 0; i < nsizes; i++) {
		li_image *ref = li_slide_thumbnail(s, sizes[i]);
		for (int n = 1; n <= 7; n += n < 3 ? 1 : 4) {
			li_slide *hs[7] = {s};
			li_image *t = li_slide_thumbnail_threads(hs, n, sizes[i], 0, NULL);
			if (!same_image(ref, t)) {
				diag("%s: size %d, %d threads differ (%s)", name, sizes[i], n,
				     t ? "pixels" : li_errmsg());
				same = 0;
			}
			for (int k = 1; k < 7; k++) {
				opened += hs[k] != NULL;
				li_slide_free(hs[k]);
			}
			li_image_free(t);
		}
		li_image_free(ref);
	}
	ok(same, "%s: thumbnails by 1, 2, 3, 7 threads are byte-identical", name);
	ok(opened > 0, "%s: the threads opened their own handles (%d)", name, opened);
}

static void test_aperio(const char *path)
{
	li_slide *s = li_slide_open(path);
	if (!ok(s != NULL, "open CMU-1-Small-Region.tiff")) {
		diag("%s", li_errmsg());
		return;
	}
	is_str(li_slide_vendor(s), "aperio", "vendor");
	is_int(li_slide_level_count(s), 1, "one level");
	int64_t w, h;
	is_int(li_slide_level_size(s, 0, &w, &h), 0, "level 0 size");
	ok(w == 2220 && h == 2967, "2220x2967 (got %lldx%lld)", (long long)w, (long long)h);
	double mx = 0, my = 0;
	is_int(li_slide_mpp(s, &mx, &my), 1, "mpp known");
	is_close(mx, 0.499, 1e-9, "mpp-x 0.499");
	is_close(my, 0.499, 1e-9, "mpp-y 0.499");
	is_str(li_slide_mpp_source(s), "openslide", "mpp from openslide.mpp-x");
	is_str(li_slide_property(s, "aperio.AppMag"), "20", "a vendor property");

	li_image *r = li_slide_read_region(s, 1000, 1400, 0, 256, 256);
	int varied;
	ok(r && tissue(r, &varied) > 0.2 && varied, "a region in the middle shows tissue (%.2f)",
	   r ? tissue(r, &varied) : 0.0);
	li_image_free(r);
	r = li_slide_read_region(s, 2220 - 20, 0, 0, 64, 64);
	ok(r && r->data[(10 * 64 + 40) * 3] == 255 && r->data[(10 * 64 + 40) * 3 + 2] == 255,
	   "outside the slide reads white");
	li_image_free(r);
	ok(li_slide_read_region(s, 0, 0, 1, 10, 10) == NULL, "no level 1");
	ok(strstr(li_errmsg(), "has no level 1 (levels 0-0)") != NULL, "level message: %s", li_errmsg());

	li_image *t = li_slide_thumbnail(s, 256);
	ok(t && t->width == 192 && t->height == 256, "thumbnail 192x256 (got %dx%d)", t ? t->width : 0,
	   t ? t->height : 0);
	ok(t && tissue(t, &varied) > 0.1 && varied, "thumbnail is not blank");
	/* Against a full read resized by area averaging: the thumbnail assigns
	 * each pixel to one cell, so close but not identical. */
	li_image *full = li_slide_read_region(s, 0, 0, 0, 2220, 2967);
	li_image *ref = full ? li_image_resize(full, 192, 256) : NULL;
	ok(ref && t && mean_abs_diff(t, ref) < 4, "thumbnail matches an area-averaged full read (mad %.2f)",
	   ref && t ? mean_abs_diff(t, ref) : -1.0);
	li_image_free(ref);
	li_image_free(t);

	static const int sizes[] = {1, 7, 256, 370, 371, 1000, 2967, 5000};
	check_threads(s, "CMU", sizes, (int)LI_ARRAY_LEN(sizes));

	/* Level 0 kept from the thumbnail read: the same pixels as a read of
	 * the whole level, and as reads of regions anywhere (origins off the
	 * JPEG tile grid, past the edges), so li-tile may crop tiles from it. */
	li_slide *hs[2] = {s, NULL};
	li_image *l0 = NULL;
	t = li_slide_thumbnail_threads(hs, 2, 370, 2220 * 2967, &l0);
	ok(t && l0 && l0->width == 2220 && l0->height == 2967, "level 0 kept (%dx%d)",
	   l0 ? l0->width : 0, l0 ? l0->height : 0);
	ok(same_image(l0, full), "kept level 0 = a read of the whole level");
	int crops_same = 1;
	static const int at[][2] = {{0, 0}, {1, 1}, {239, 479}, {1000, 1400}, {2100, 2900},
				    {-50, 100}, {2000, -30}};
	for (size_t i = 0; l0 && i < LI_ARRAY_LEN(at); i++) {
		li_image *rd = li_slide_read_region(s, at[i][0], at[i][1], 0, 224, 224);
		li_image *c = li_image_crop(l0, at[i][0], at[i][1], 224, 224);
		crops_same &= same_image(rd, c);
		li_image_free(rd);
		li_image_free(c);
	}
	ok(l0 && crops_same, "regions read at level 0 = crops of the kept level");
	li_image_free(t);
	li_image_free(l0);
	li_slide_free(hs[1]);
	t = li_slide_thumbnail_threads(hs, 1, 370, 2220 * 2967 - 1, &l0);
	ok(t && !l0, "level 0 over keep_max is not kept");
	li_image_free(t);
	li_image_free(full);
	li_slide_free(s);
}

static void test_pyramid(const char *path)
{
	li_slide *s = li_slide_open(path);
	if (!ok(s != NULL, "open ihc_2k_pyr.tif")) {
		diag("%s", li_errmsg());
		return;
	}
	is_str(li_slide_vendor(s), "generic-tiff", "vendor");
	is_int(li_slide_level_count(s), 4, "four levels");
	int sizes_ok = 1;
	for (int l = 0; l < 4; l++) {
		int64_t w, h;
		li_slide_level_size(s, l, &w, &h);
		sizes_ok &= w == 2048 >> l && h == 2048 >> l && li_slide_level_downsample(s, l) == 1 << l;
	}
	ok(sizes_ok, "levels 2048, 1024, 512, 256 at downsamples 1, 2, 4, 8");
	/* OpenSlide 3.4 gives no mpp for generic TIFF; the tags say 40000
	 * pixels per centimetre = 0.25 um/px. */
	ok(li_slide_property(s, "openslide.mpp-x") == NULL, "OpenSlide reports no mpp itself");
	is_str(li_slide_property(s, "tiff.ResolutionUnit"), "centimeter", "resolution unit");
	double mx = 0, my = 0;
	is_int(li_slide_mpp(s, &mx, &my), 1, "mpp derived");
	is_close(mx, 0.25, 1e-12, "mpp-x 0.25 from tiff.XResolution");
	is_close(my, 0.25, 1e-12, "mpp-y 0.25");
	is_str(li_slide_mpp_source(s), "tiff-resolution", "mpp source");
	is_int(li_slide_best_level(s, 1), 0, "best level for 1");
	is_int(li_slide_best_level(s, 3), 1, "best level for 3");
	is_int(li_slide_best_level(s, 4), 2, "best level for 4");
	is_int(li_slide_best_level(s, 100), 3, "best level for 100");

	/* Coordinates are level 0: the same place at levels 0 and 1 agrees. */
	li_image *a = li_slide_read_region(s, 1024, 1024, 0, 256, 256);
	li_image *b = li_slide_read_region(s, 1024, 1024, 1, 128, 128);
	li_image *a2 = a ? li_image_resize(a, 128, 128) : NULL;
	int varied;
	ok(b && tissue(b, &varied) > 0 && varied, "level 1 region is not blank");
	ok(a2 && b && mean_abs_diff(a2, b) < 12, "level 0 and level 1 show the same place (mad %.2f)",
	   a2 && b ? mean_abs_diff(a2, b) : -1.0);
	li_image_free(a);
	li_image_free(a2);
	li_image_free(b);

	li_image *dst = li_image_new(64, 64, 3);
	is_int(li_slide_read_region_into(s, dst, -1000, -1000, 2), 0, "read into");
	int white = 1;
	for (int i = 0; i < 64 * 64 * 3; i++)
		white &= dst->data[i] == 255;
	ok(white, "a region wholly outside is white");
	li_image *g = li_image_new(8, 8, 1);
	is_int(li_slide_read_region_into(s, g, 0, 0, 0), -1, "gray destination refused");
	li_image_free(g);
	li_image_free(dst);
	li_image *t = li_slide_thumbnail(s, 300);
	ok(t && t->width == 300 && t->height == 300, "thumbnail 300x300");
	li_image_free(t);
	static const int sizes[] = {1, 100, 300, 700, 2048};
	check_threads(s, "ihc pyramid", sizes, (int)LI_ARRAY_LEN(sizes));
	li_slide *hs[2] = {s, NULL};
	li_image *l0 = (li_image *)1;
	t = li_slide_thumbnail_threads(hs, 2, 300, 1u << 30, &l0);
	ok(t && !l0, "a thumbnail from level 1 keeps no level 0");
	li_image_free(t);
	li_slide_free(hs[1]);
	li_slide_free(s);
}

static void test_plain_image(void)
{
	const char *path = "tests/fixtures/images/pngsuite/basn2c08.png";
	li_slide *s = li_slide_open(path);
	if (!ok(s != NULL, "a PNG opens as a slide"))
		return;
	is_str(li_slide_vendor(s), "png", "vendor png");
	is_int(li_slide_level_count(s), 1, "one level");
	double mx, my;
	is_int(li_slide_mpp(s, &mx, &my), 0, "no mpp for a plain image");
	is_str(li_slide_mpp_source(s), "none", "mpp source none");
	ok(li_slide_property(s, "openslide.vendor") == NULL, "no properties");
	li_image *img = li_image_read(path, NULL);
	li_image *r = li_slide_read_region(s, 4, 6, 0, 40, 20);
	li_image *c = li_image_crop(img, 4, 6, 40, 20);
	ok(r && c && memcmp(r->data, c->data, 40 * 20 * 3) == 0, "region = crop (white outside)");
	ok(r && r->data[(0 * 40 + 39) * 3] == 255, "past the right edge is white");
	li_image *t = li_slide_thumbnail(s, 16);
	li_image *ref = li_image_resize(img, 16, 16);
	ok(t && ref && memcmp(t->data, ref->data, 16 * 16 * 3) == 0,
	   "integer-factor thumbnail = box downscale");
	li_slide *hs[3] = {s, NULL, NULL};
	li_image *l0 = (li_image *)1;
	li_image *t3 = li_slide_thumbnail_threads(hs, 3, 16, 1u << 30, &l0);
	ok(same_image(t, t3) && !hs[1] && !hs[2] && !l0,
	   "a plain image: one thread, no handle opened, nothing kept");
	li_image_free(t3);
	li_image_free(t);
	li_image_free(ref);
	li_image_free(r);
	li_image_free(c);
	li_image_free(img);
	li_slide_free(s);
}

static void test_errors(void)
{
	ok(li_slide_open("tests/unit/tap.h") == NULL, "a text file is not a slide");
	is_str(li_errmsg(), "cannot open slide 'tests/unit/tap.h': not PNG, JPEG or a format OpenSlide reads",
	       "not-a-slide message");
	ok(li_slide_open("/nonexistent.svs") == NULL, "missing file");
	is_str(li_errmsg(), "cannot open slide '/nonexistent.svs': No such file or directory",
	       "missing-file message");
	ok(li_slide_open("tests/fixtures/images/hostile/xc1n0g08.png") == NULL, "bad PNG as a slide");
	ok(strstr(li_errmsg(), "xc1n0g08.png': Invalid IHDR data") != NULL, "PNG error passed on: %s",
	   li_errmsg());
}

/* A corrupt tile: the read fails with OpenSlide's message, never a blank
 * tile, and the handle stays failed. */
static void test_bad_tile(const char *path)
{
	li_slide *s = li_slide_open(path);
	if (!ok(s != NULL, "badtile.tif opens (the damage is in a tile)"))
		return;
	int failed = 0;
	li_image *tile = li_image_new(256, 256, 3);
	for (int64_t y = 0; y < 2048 && !failed; y += 256)
		for (int64_t x = 0; x < 2048 && !failed; x += 256)
			failed = li_slide_read_region_into(s, tile, x, y, 0) < 0;
	ok(failed, "reading level 0 hits the bad tile");
	ok(strstr(li_errmsg(), "cannot read slide '") == li_errmsg(), "message: %s", li_errmsg());
	is_int(li_slide_read_region_into(s, tile, 0, 0, 3), -1, "the handle stays failed");
	ok(li_slide_thumbnail(s, 64) == NULL, "thumbnail fails too");
	li_image_free(tile);
	li_slide_free(s);

	/* With fresh handles and several threads, whichever thread meets the
	 * bad tile: NULL and one message naming the file, no image. */
	for (int n = 2; n <= 3; n++) {
		li_slide *hs[3] = {li_slide_open(path), NULL, NULL};
		li_image *l0 = (li_image *)1;
		li_image *t = hs[0] ? li_slide_thumbnail_threads(hs, n, 2048, 1u << 30, &l0) : NULL;
		char want[1100];
		snprintf(want, sizeof want, "cannot read slide '%s': ", path);
		ok(!t && !l0 && strncmp(li_errmsg(), want, strlen(want)) == 0,
		   "%d threads: the read error names the file: %s", n, li_errmsg());
		for (int k = 0; k < 3; k++)
			li_slide_free(hs[k]);
	}
}

int main(void)
{
	const char *shared = getenv("LI_SHARED");
	char path[1024];
	test_plain_image();
	test_errors();
	struct { const char *file; void (*fn)(const char *); } slides[] = {
		{"data/CMU-1-Small-Region.tiff", test_aperio},
		{"data/ihc_2k_pyr.tif", test_pyramid},
		{"data/hostile/badtile.tif", test_bad_tile},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(slides); i++) {
		snprintf(path, sizeof path, "%s/%s", shared ? shared : "../shared", slides[i].file);
		FILE *fp = fopen(path, "rb");
		if (!fp) {
			skip("%s not found (set LI_SHARED)", path);
			continue;
		}
		fclose(fp);
		slides[i].fn(path);
	}
	return done_testing();
}
