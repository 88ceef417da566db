/* li_tiffslide.h: the fast path of li_slide for plain tiled TIFF slides
 * (OpenSlide's vendors "generic-tiff" and "aperio"): regions read straight
 * from the tiles, without OpenSlide's cairo compositing, with pixels equal to
 * OpenSlide's (tests/unit/test_tiffslide.c compares them on every level of
 * the shared slides).
 *
 * OpenSlide 3.4.1 reads these tiles through libtiff's TIFFRGBAImage, draws
 * them at whole-pixel positions (when the region's corner, divided by the
 * level's downsample, is a whole number) and clears what lies past the
 * image; li_slide turns transparent into white. So a region is, pixel for
 * pixel, the decoded tiles where the level has pixels and white elsewhere.
 *
 * What is read here: levels whose directory is tiled, 3 samples of 8 bits,
 * contiguous, no extra samples, top-left orientation, JPEG-compressed (RGB,
 * or YCbCr with the sampling libtiff expects; not uncompressed tiles, which
 * libtiff 4.5 refuses for some tile sizes, see li_tiffslide.c),
 * regions at a non-negative corner that falls on a whole pixel of the level
 * (at most 4096 pixels a side unless the downsample is 1: OpenSlide cuts
 * larger regions into 4096-pixel pieces at rounded level-0 positions). The
 * rest -- other compressions and layouts, fractional positions, tiles with
 * no data (Aperio's missing tiles), JPEG streams that differ from what their
 * directory says -- is left to OpenSlide (li_tiffslide_read returns 1).
 *
 * Levels are matched to directories the way each vendor does (generic-tiff:
 * directory 0 and the tiled reduced-resolution ones, widest first; aperio:
 * every tiled directory, in order) and then checked against what OpenSlide
 * reports: a slide whose levels, sizes or tile sizes differ in any way is
 * not opened here at all (li_tiffslide_open returns NULL, no error).
 *
 * Decoded tiles are kept in a small LRU (LI_TIFFSLIDE_CACHE bytes): the rows
 * of a manifest come in raster order, and neighbouring regions share tiles.
 * One reader per thread, like li_slide. */
#ifndef LI_TIFFSLIDE_H
#define LI_TIFFSLIDE_H
#include <stdint.h>

#define LI_TIFFSLIDE_CACHE (16u << 20)

typedef struct li_tiffslide li_tiffslide;

/* What OpenSlide says about the slide, for the match. */
typedef struct li_tiffslide_levels {
	const char *vendor;
	int count;
	const int64_t *w, *h;
	const double *ds;
	const int64_t *tile_w, *tile_h; /* openslide.level[i].tile-width/-height, 0 if absent */
} li_tiffslide_levels;

/* NULL when the slide is not for the fast path (not a TIFF we parse, levels
 * that do not match, no level we can read); li_error is then cleared. */
li_tiffslide *li_tiffslide_open(const char *path, const li_tiffslide_levels *lv);
void li_tiffslide_free(li_tiffslide *t);
/* Read the w x h region of `level` at level-0 (x, y) as RGB into rgb (w * h *
 * 3 bytes): 0; 1 when the region is left to OpenSlide (rgb may have been
 * written); -1 with li_error "level 0 tile (3, 4) at offset 81920: corrupt
 * JPEG data: <why>" (the caller names the slide). */
int li_tiffslide_read(li_tiffslide *t, uint8_t *rgb, int w, int h, int64_t x, int64_t y,
                      int level);
/* Levels read here, as a bit mask (bit i: level i; levels past 63 not shown). */
uint64_t li_tiffslide_fast_levels(const li_tiffslide *t);
#endif
