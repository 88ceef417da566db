/* li_slide.h: whole-slide images for li-tile and li-heatmap.
 *
 * A slide is any format OpenSlide reads (Aperio SVS, Hamamatsu, MIRAX, Leica,
 * generic tiled TIFF, ...) or a plain PNG/JPEG image, which becomes a slide
 * of one level decoded with li_image (and held in memory, so it is subject to
 * the li_image pixel limit). Coordinates (x, y) are always level-0 pixels;
 * sizes are in pixels of the level read.
 *
 * Every OpenSlide call that can fail is followed by openslide_get_error():
 * OpenSlide hands back a blank (transparent) buffer on error, and a blank tile
 * must never reach training, so a read either returns real pixels or fails
 * with a message naming the file. After an OpenSlide error the handle is dead
 * (OpenSlide's rule): every later call fails with the same message.
 *
 * Pixels: OpenSlide gives premultiplied ARGB; li_slide un-premultiplies and
 * composites onto white, so transparent areas (outside the scanned region or
 * outside the slide) read as white (255, 255, 255), like glass.
 *
 * Threads: one li_slide handle per thread. A handle is not safe for use by
 * two threads at once (the plain-image backend is, OpenSlide's cache and our
 * scratch buffer are not guarded); open one per worker. */
#ifndef LI_SLIDE_H
#define LI_SLIDE_H
#include <stdint.h>

#include "li_image.h"

typedef struct li_slide li_slide;

/* Open a slide; NULL with li_error: "cannot open slide 'x.txt': not PNG,
 * JPEG or a format OpenSlide reads", "cannot read slide 'x.svs': <OpenSlide's
 * error>", or li_image's message for a bad PNG/JPEG. */
li_slide *li_slide_open(const char *path);
void li_slide_free(li_slide *s);

/* OpenSlide's vendor ("aperio", "generic-tiff", ...) or "png" / "jpeg". */
const char *li_slide_vendor(const li_slide *s);

int li_slide_level_count(const li_slide *s);
/* Level dimensions in pixels; 0, or -1 with li_error for a bad level. */
int li_slide_level_size(const li_slide *s, int level, int64_t *width, int64_t *height);
/* Level-0 pixels per pixel of this level (1 for level 0); 0 for a bad level. */
double li_slide_level_downsample(const li_slide *s, int level);
/* The level with the largest downsample <= the one asked for (level 0 if none). */
int li_slide_best_level(const li_slide *s, double downsample);

/* Level-0 micrometres per pixel: openslide.mpp-x/-y if present, else derived
 * from tiff.XResolution/YResolution with tiff.ResolutionUnit inch or
 * centimeter. Returns 1 and sets *mpp_x, *mpp_y when known, 0 when unknown
 * (plain images, or TIFFs with no usable resolution). */
int li_slide_mpp(const li_slide *s, double *mpp_x, double *mpp_y);
/* Where the mpp came from: "openslide", "tiff-resolution" or "none". */
const char *li_slide_mpp_source(const li_slide *s);
/* A property value (OpenSlide's names) or NULL; plain images have none. */
const char *li_slide_property(const li_slide *s, const char *name);

/* Read a width x height RGB region of `level` whose top-left corner is at
 * level-0 (x, y). Parts outside the slide are white. NULL with li_error. */
li_image *li_slide_read_region(li_slide *s, int64_t x, int64_t y, int level,
                               int width, int height);
/* The same into an existing 3-channel image of the wanted size (no
 * allocation per tile once the handle's scratch buffer has grown): 0 or -1. */
int li_slide_read_region_into(li_slide *s, li_image *dst, int64_t x, int64_t y, int level);

/* The fast path (li_tiffslide.h): plain tiled TIFF slides (OpenSlide's
 * vendors generic-tiff and aperio) have their regions read from the tiles
 * without OpenSlide's compositing, with the same pixels; whatever that path
 * cannot do exactly goes to OpenSlide. LI_SLIDE_READER=openslide (read at
 * open) sends every region to OpenSlide; any value but that, "auto" and ""
 * makes li_slide_open fail. Which levels take the fast path (bit i: level
 * i), and how many regions it has read so far (for the tests): */
uint64_t li_slide_fast_levels(const li_slide *s);
uint64_t li_slide_fast_reads(const li_slide *s);

/* The whole slide scaled so its longer side is at most max_size pixels
 * (aspect ratio kept, each side >= 1), read from the best level and
 * area-averaged: NULL with li_error. */
li_image *li_slide_thumbnail(li_slide *s, int max_size);
/* The same thumbnail, byte for byte, read by n threads with one handle of
 * the slide each: hs[0] is open; a NULL hs[i] is opened by its thread (so
 * the opens overlap too) and left in hs[i] for the caller to use and free,
 * even on failure. Fewer threads are used when the level has fewer bands
 * than n, and one for a plain image (which is copied, not composited), so
 * some hs[i] may stay NULL. On any thread's read error: NULL with that
 * thread's message, which names the file.
 *
 * level0 (may be NULL): when the thumbnail is read from level 0 of an
 * OpenSlide slide of at most keep_max pixels, *level0 receives the whole of
 * level 0 as read (the caller frees it), else NULL. Level-0 pixels do not
 * depend on the region they are read in (its origin is a whole pixel), so a
 * crop of it equals li_slide_read_region at level 0, white outside. */
li_image *li_slide_thumbnail_threads(li_slide **hs, int n, int max_size, uint64_t keep_max,
				     li_image **level0);
/* n handle slots for li_slide_thumbnail_threads and per-thread readers:
 * hs[0] open, the others NULL (opened by their threads). NULL with
 * li_error when the slide does not open. */
li_slide **li_slide_open_handles(const char *path, int n);
/* Close every open handle of the n and free the array (NULL is fine). */
void li_slide_free_handles(li_slide **hs, int n);
#endif
