/* test_tiffslide.c: the tiled-TIFF fast path of li_slide (li_tiffslide.h)
 * against OpenSlide itself (LI_SLIDE_READER=openslide), byte for byte, on
 * every level of the shared slides: random regions, regions on tile seams,
 * at the last pixel, running past the right and bottom edges, larger than
 * OpenSlide's 4096-pixel pieces, and a raster sweep that cycles the tile
 * cache; positions that are not whole pixels of the level must be left to
 * OpenSlide. Then the hostile TIFFs: what OpenSlide opens but our parser
 * refuses reads through OpenSlide, and a corrupt JPEG tile is an error
 * naming the slide and the tile. Slides come from $LI_SHARED/data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"
#include "li_rng.h"
#include "li_slide.h"
#include "li_tiff.h"
#include "tap.h"

static li_slide *open_ref(const char *path)
{
	setenv("LI_SLIDE_READER", "openslide", 1);
	li_slide *s = li_slide_open(path);
	unsetenv("LI_SLIDE_READER");
	return s;
}

typedef struct cmp {
	int regions, fast, differ, failed;
	int max_diff;
	char first[256];
} cmp;

/* Read one region both ways and compare. want_fast: 1 the fast path must
 * serve it, 0 it must not, -1 either. */
static void one(cmp *c, li_slide *f, li_slide *r, int64_t x, int64_t y, int level, int w, int h,
                int want_fast)
{
	li_image *a = li_image_new(w, h, 3), *b = li_image_new(w, h, 3);
	uint64_t before = li_slide_fast_reads(f);
	int ra = a ? li_slide_read_region_into(f, a, x, y, level) : -1;
	int fast = li_slide_fast_reads(f) > before;
	int rb = b ? li_slide_read_region_into(r, b, x, y, level) : -1;
	c->regions++;
	c->fast += fast;
	if (ra < 0 || rb < 0) {
		if (!c->failed++)
			snprintf(c->first, sizeof c->first, "read failed at %lld,%lld level %d %dx%d: %s",
			         (long long)x, (long long)y, level, w, h, li_errmsg());
	} else {
		int m = 0;
		for (size_t i = 0; i < (size_t)w * h * 3; i++) {
			int d = abs((int)a->data[i] - (int)b->data[i]);
			m = d > m ? d : m;
		}
		if (m > c->max_diff)
			c->max_diff = m;
		if (m && !c->differ++)
			snprintf(c->first, sizeof c->first, "differ by %d at %lld,%lld level %d %dx%d", m,
			         (long long)x, (long long)y, level, w, h);
		if (want_fast >= 0 && fast != want_fast && !c->failed++)
			snprintf(c->first, sizeof c->first, "%lld,%lld level %d %dx%d: fast path %s",
			         (long long)x, (long long)y, level, w, h, fast ? "taken" : "not taken");
	}
	li_image_free(a);
	li_image_free(b);
}

static void compare_slide(const char *path, const char *name, uint64_t want_levels)
{
	li_slide *f = li_slide_open(path), *r = open_ref(path);
	if (!ok(f && r, "%s opens both ways", name)) {
		li_slide_free(f);
		li_slide_free(r);
		return;
	}
	is_int(li_slide_fast_levels(f), want_levels, "%s: levels on the fast path (mask)", name);
	is_int(li_slide_fast_levels(r), 0, "%s: LI_SLIDE_READER=openslide: no fast path", name);
	li_rng rng;
	li_rng_seed(&rng, 20261204);
	for (int level = 0; level < li_slide_level_count(f); level++) {
		cmp c = {0};
		int64_t lw, lh;
		li_slide_level_size(f, level, &lw, &lh);
		const double ds = li_slide_level_downsample(f, level);
		const int64_t ids = (int64_t)ds;
		/* a fractional downsample: only corners on whole level pixels
		 * (x / downsample a whole number) are ours; checked below */
		int fast = ds != (double)ids ? -1 : (int)((want_levels >> level) & 1);
		/* random regions at whole level pixels, some running past the edges */
		for (int i = 0; i < 120; i++) {
			int w = 1 + (int)li_rng_below(&rng, 600), h = 1 + (int)li_rng_below(&rng, 600);
			int64_t X = (int64_t)li_rng_below(&rng, (uint64_t)lw);
			int64_t Y = (int64_t)li_rng_below(&rng, (uint64_t)lh);
			one(&c, f, r, X * ids, Y * ids, level, w, h, fast);
		}
		/* seams, the last pixel, the edges, exactly past the end */
		const int64_t pts[][2] = {{0, 0},        {255, 255},     {239, 239},   {240, 240},
		                          {256, 256},    {lw - 1, lh - 1}, {lw - 224, lh - 224},
		                          {lw - 100, 0}, {0, lh - 100},  {lw, 0},      {0, lh},
		                          {lw - 1, 0}};
		for (size_t i = 0; i < LI_ARRAY_LEN(pts); i++) {
			int64_t X = pts[i][0] < 0 ? 0 : pts[i][0], Y = pts[i][1] < 0 ? 0 : pts[i][1];
			one(&c, f, r, X * ids, Y * ids, level, 224, 224, fast);
			one(&c, f, r, X * ids, Y * ids, level, 1, 1, fast);
		}
		/* the whole level at once, and a region wider than 4096 (one
		 * OpenSlide piece at downsample 1 only) */
		one(&c, f, r, 0, 0, level, (int)lw, (int)lh, fast);
		one(&c, f, r, 0, 0, level, 4200, 70, ds == 1.0 ? fast : 0);
		if (fast < 0 && ((want_levels >> level) & 1)) {
			one(&c, f, r, 0, 0, level, 30, 30, 1);
			one(&c, f, r, 1, 0, level, 30, 30, 0);
			one(&c, f, r, 0, 5, level, 30, 30, 0);
		}
		/* positions between level pixels: OpenSlide resamples, so not ours */
		if (ids > 1) {
			one(&c, f, r, 1, 0, level, 100, 100, 0);
			one(&c, f, r, ids * 10, ids * 20 + 1, level, 100, 100, 0);
		}
		ok(c.differ == 0 && c.failed == 0,
		   "%s level %d (downsample %g): %d regions, %d by the fast path, max difference %d%s%s",
		   name, level, ds, c.regions, c.fast, c.max_diff, c.first[0] ? ": " : "", c.first);
	}
	/* a raster sweep of 224-pixel tiles over level 0, as a manifest reads
	 * them: neighbours share tiles, and the cache fills and evicts */
	cmp c = {0};
	int64_t lw, lh;
	li_slide_level_size(f, 0, &lw, &lh);
	for (int64_t y = 0; y < lh; y += 224)
		for (int64_t x = 0; x < lw; x += 224)
			one(&c, f, r, x, y, 0, 224, 224, (int)(want_levels & 1));
	ok(c.differ == 0 && c.failed == 0, "%s: raster sweep of level 0, %d regions%s%s", name,
	   c.regions, c.first[0] ? ": " : "", c.first);
	li_slide_free(f);
	li_slide_free(r);
}

/* A slide OpenSlide opens: the fast path's reads equal OpenSlide's or fail,
 * and when they fail, the message names the slide. */
static void hostile(const char *path, const char *name)
{
	li_slide *f = li_slide_open(path), *r = open_ref(path);
	if (!f || !r) {
		ok(!f && !r, "%s: opened by neither reader (%s)", name, li_errmsg());
		li_slide_free(f);
		li_slide_free(r);
		return;
	}
	char want[1200];
	snprintf(want, sizeof want, "cannot read slide '%s': ", path);
	int64_t lw, lh;
	li_slide_level_size(f, 0, &lw, &lh);
	int same = 1, errs = 0, named = 1;
	for (int64_t y = 0; y < lh && y < 4096; y += 200)
		for (int64_t x = 0; x < lw && x < 4096; x += 200) {
			li_image *a = li_slide_read_region(f, x, y, 0, 200, 200);
			if (!a) {
				errs++;
				named &= strncmp(li_errmsg(), want, strlen(want)) == 0;
				li_slide_free(f); /* dead after an error, like OpenSlide's handle */
				f = li_slide_open(path);
				if (!f)
					goto out;
				continue;
			}
			li_image *b = li_slide_read_region(r, x, y, 0, 200, 200);
			if (!b) { /* OpenSlide failed where we read: corrupt data it lets by */
				li_slide_free(r);
				r = open_ref(path);
			} else {
				same &= memcmp(a->data, b->data, 200 * 200 * 3) == 0;
			}
			li_image_free(a);
			li_image_free(b);
			if (!r)
				goto out;
		}
out:
	ok(same && named, "%s: fast levels %#llx; reads equal OpenSlide's or fail naming the slide "
	   "(%d failed)", name, (unsigned long long)(f ? li_slide_fast_levels(f) : 0), errs);
	li_slide_free(f);
	li_slide_free(r);
}

/* The corrupt tile of badtile.tif: an error naming the slide and the tile,
 * never pixels. */
static void bad_tile(const char *path)
{
	li_slide *f = li_slide_open(path);
	if (!ok(f != NULL, "badtile.tif opens")) /* OpenSlide opens it */
		return;
	ok(li_slide_fast_levels(f) != 0, "badtile.tif: the fast path reads it (%#llx)",
	   (unsigned long long)li_slide_fast_levels(f));
	li_image *all = li_slide_read_region(f, 0, 0, 0, 2048, 2048);
	char want[1200];
	snprintf(want, sizeof want, "cannot read slide '%s': level 0 tile (", path);
	ok(!all && strncmp(li_errmsg(), want, strlen(want)) == 0 &&
	   strstr(li_errmsg(), "corrupt JPEG data"), "badtile.tif: %s", li_errmsg());
	li_image_free(all);
	li_slide_free(f);
}

/* The parser on its own: the shared slides' directories, and refusals. */
static void parser(const char *cmu, const char *ihc)
{
	li_tiff *t = li_tiff_open(ihc);
	if (ok(t != NULL, "li_tiff_open ihc_2k_pyr.tif")) {
		ok(t->n == 4 && t->ifd[0].width == 2048 && t->ifd[3].width == 256 &&
		   t->ifd[0].tile_w == 256 && t->ifd[0].ntiles == 64 && t->ifd[0].photometric == 6 &&
		   t->ifd[0].compression == 7 && t->ifd[0].tables_len == 574 && !t->ifd[0].has_ycbcr_sub,
		   "ihc: 4 directories, 2048 to 256 wide, 256-pixel JPEG YCbCr tiles with tables");
		li_tiff_free(t);
	}
	t = li_tiff_open(cmu);
	if (ok(t != NULL, "li_tiff_open CMU-1-Small-Region.tiff")) {
		ok(t->n == 4 && t->ifd[0].tile_w == 240 && t->ifd[0].ntiles == 130 &&
		   t->ifd[0].photometric == 2 && t->ifd[1].tile_w == 0 && t->ifd[2].compression == 5,
		   "CMU: a tiled level, then stripped thumbnail, label (LZW) and macro");
		li_tiff_free(t);
	}
	/* a classic header whose first directory points at itself */
	uint8_t loop[8 + 2 + 12 + 4] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x00, 0x01, 3, 0, 1, 0, 0,
	                                0, 16, 0, 0, 0, 8, 0, 0, 0};
	ok(!li_tiff_open_mem(loop, sizeof loop, "loop.tif") &&
	   strstr(li_errmsg(), "loops back to directory 0"), "a directory loop: %s", li_errmsg());
	ok(!li_tiff_open_mem(loop, 12, "short.tif") && strstr(li_errmsg(), "past the end"),
	   "a directory past the end: %s", li_errmsg());
	/* a tiled directory whose tile offsets point past the end */
	uint8_t tiled[8 + 2 + 6 * 12 + 4] = {'I', 'I', 42, 0, 8, 0, 0, 0, 6, 0};
	const uint16_t tags[6][2] = {{256, 3}, {257, 3}, {322, 3}, {323, 3}, {324, 4}, {325, 4}};
	const uint32_t vals[6] = {16, 16, 16, 16, 1000000, 10};
	for (int i = 0; i < 6; i++) {
		uint8_t *e = tiled + 10 + 12 * i;
		e[0] = (uint8_t)tags[i][0], e[1] = (uint8_t)(tags[i][0] >> 8), e[2] = (uint8_t)tags[i][1];
		e[4] = 1;
		memcpy(e + 8, &vals[i], 4); /* little-endian host */
	}
	ok(!li_tiff_open_mem(tiled, sizeof tiled, "far.tif") &&
	   strstr(li_errmsg(), "directory 0: tile 0 runs past the end of the file"),
	   "tile data past the end: %s", li_errmsg());
	/* 2^32 - 1 pixels a side in 1-pixel tiles: too many tiles to number */
	const uint32_t huge = UINT32_MAX, one = 1;
	uint8_t big[sizeof tiled];
	memcpy(big, tiled, sizeof big);
	for (int i = 0; i < 4; i++) {
		big[10 + 12 * i + 2] = 4; /* LONG */
		memcpy(big + 10 + 12 * i + 8, i < 2 ? &huge : &one, 4);
	}
	ok(!li_tiff_open_mem(big, sizeof big, "huge.tif") &&
	   strstr(li_errmsg(), "directory 0: 4294967295x4294967295 tiles of 1x1, too many"),
	   "tile count overflow: %s", li_errmsg());
	uint32_t inside = 8;
	memcpy(tiled + 10 + 12 * 4 + 8, &inside, 4);
	li_tiff *ok_t = li_tiff_open_mem(tiled, sizeof tiled, "near.tif");
	ok(ok_t && ok_t->ifd[0].ntiles == 1 && ok_t->ifd[0].tile_len[0] == 10,
	   "the same with the tile inside the file: %s", ok_t ? "read" : li_errmsg());
	li_tiff_free(ok_t);
}

int main(void)
{
	const char *shared = getenv("LI_SHARED");
	char cmu[1024], ihc[1024], dir[1024];
	snprintf(cmu, sizeof cmu, "%s/data/CMU-1-Small-Region.tiff", shared ? shared : "../shared");
	snprintf(ihc, sizeof ihc, "%s/data/ihc_2k_pyr.tif", shared ? shared : "../shared");
	snprintf(dir, sizeof dir, "%s/data/hostile", shared ? shared : "../shared");
	if (access(cmu, R_OK) != 0 || access(ihc, R_OK) != 0) {
		skip("%s or %s not found (set LI_SHARED)", cmu, ihc);
		return done_testing();
	}
	parser(cmu, ihc);
	compare_slide(cmu, "CMU-1-Small-Region.tiff (aperio, JPEG RGB)", 0x1);
	compare_slide(ihc, "ihc_2k_pyr.tif (generic-tiff, JPEG YCbCr 4:2:0)", 0xf);
	/* small tiled TIFFs of other layouts (tests/fixtures/gen_tiff_seeds.py):
	 * JPEG 4:4:4 without tables, 16-pixel JPEG YCbCr tiles with tables, and
	 * uncompressed tiles, which stay with OpenSlide */
	compare_slide("tests/fuzz/corpus/tiff/jpeg_rgb444.tif", "jpeg_rgb444.tif", 0x3);
	compare_slide("tests/fuzz/corpus/tiff/jpeg_ycbcr_tables.tif", "jpeg_ycbcr_tables.tif", 0x3);
	compare_slide("tests/fuzz/corpus/tiff/jpeg_odd_downsample.tif", "jpeg_odd_downsample.tif", 0x3);
	compare_slide("tests/fuzz/corpus/tiff/jpeg_orientation3.tif", "jpeg_orientation3.tif (rotated)", 0);
	li_slide *raw = li_slide_open("tests/fuzz/corpus/tiff/bigtiff_raw.tif");
	ok(raw && li_slide_fast_levels(raw) == 0, "bigtiff_raw.tif (uncompressed): OpenSlide only");
	li_slide_free(raw);
	/* OpenSlide reads it, li_tiff refuses it (a tag given twice): OpenSlide
	 * reads it all, silently */
	li_slide *dup = li_slide_open("tests/fuzz/corpus/tiff/dup_tag.tif");
	li_tiff *dt = li_tiff_open("tests/fuzz/corpus/tiff/dup_tag.tif");
	ok(dup && !dt && strstr(li_errmsg(), "tag 254 given twice") && li_slide_fast_levels(dup) == 0,
	   "dup_tag.tif: refused by li_tiff (%s), read by OpenSlide alone", li_errmsg());
	li_tiff_free(dt);
	li_image *dimg = dup ? li_slide_read_region(dup, 0, 0, 0, 48, 40) : NULL;
	ok(dimg != NULL, "dup_tag.tif: a region reads, with no error");
	li_image_free(dimg);
	li_slide_free(dup);
	const char *hostiles[] = {"badsoi.tif", "flip.tif", "ifd_ff.tif", "bug780269.tif",
	                          "bug784903-overflow-dimensions.tiff"};
	for (size_t i = 0; i < LI_ARRAY_LEN(hostiles); i++) {
		char p[1100];
		snprintf(p, sizeof p, "%s/%s", dir, hostiles[i]);
		hostile(p, hostiles[i]);
	}
	char bad[1100];
	snprintf(bad, sizeof bad, "%s/badtile.tif", dir);
	bad_tile(bad);
	return done_testing();
}
