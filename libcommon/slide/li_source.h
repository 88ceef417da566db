/* li_source.h: where the pixels of a list row come from: an image file (the
 * row's path), or a region of a slide, read on the fly (li-formats(5),
 * "Region rows").
 *
 * A list is a region list when it has a slide_path column; then a row whose
 * slide_path is not empty names the square region li-tile would have written
 * for it: `size` pixels a side at `downsample` level-0 pixels per pixel,
 * top-left corner at level-0 (x, y), read from `level` as
 * lround(size * downsample / level_downsample) pixels a side and, when that
 * is not `size`, resized to size x size with li_image_resize: li-tile's own
 * steps, so the pixels equal those of the PNG tile li-tile writes for the row.
 * A row with an empty slide_path is an image file, as in any other list (a
 * list may mix both: the strong model's training list). `li-tile
 * --coords-only` writes such a list.
 *
 * Row checks (li_source_from_row): x, y integers, level a non-negative
 * integer, downsample a finite number > 0, size an integer 1-16384; every
 * error names the list and line. Slide checks (li_source_read): the slide
 * opens, the level exists, the corner lies inside level 0 (a region may run
 * past the right or bottom edge, which reads white, as li-tile --edge pad),
 * the region read is at most 16384 pixels a side, and OpenSlide reads it.
 *
 * A reader keeps at most `max_slides` slides open, least recently used closed
 * first: a list naming thousands of slides holds a bounded number of file
 * descriptors and OpenSlide caches. A reader is for one thread (li_slide's
 * rule); the loader gives each worker its own. */
#ifndef LI_SOURCE_H
#define LI_SOURCE_H
#include <stdint.h>

#include "li_image.h"
#include "li_list.h"

#define LI_SOURCE_MAX_SIDE 16384
#define LI_SOURCE_DEFAULT_SLIDES 4

/* One sample. Strings are borrowed (the list's or the caller's). */
typedef struct li_source {
	const char *path;  /* the row's path: the image file, or the region's name */
	const char *slide; /* the slide file of a region; NULL for an image file */
	int64_t x, y;      /* region: top-left corner in level-0 pixels */
	int level;         /* region: the level read */
	double downsample; /* region: level-0 pixels per output pixel */
	int size;          /* region: output side in pixels */
	const char *list;  /* where the row came from, for messages (may be NULL) */
	long line;
} li_source;

/* The columns of a list that sources come from: slide is -1 for a list of
 * files. */
typedef struct li_source_cols {
	int slide, x, y, level, downsample, size;
} li_source_cols;

/* Find the columns. A list with slide_path but without one of x, y, level,
 * downsample and size is an error: "'m.tsv': slide_path needs the columns x,
 * y, level, downsample and size (no 'level')". */
int li_source_cols_find(const li_list *l, li_source_cols *c);
/* The source of row r (fields borrowed from r, which must outlive *s). 0, or
 * -1 with li_error naming the list and line: "'m.tsv' line 7: level '-1' is
 * not a non-negative integer". */
int li_source_from_row(const li_list *l, const li_source_cols *c, const li_row *r, li_source *s);
/* An image file as a source. */
li_source li_source_file(const char *path);

typedef struct li_source_reader li_source_reader;
/* A reader keeping up to max_slides slides open (< 1: the default). */
li_source_reader *li_source_reader_new(int max_slides);
void li_source_reader_free(li_source_reader *r);
/* The sample's pixels as `channels` (1 or 3) channels: the file decoded as
 * li_image_read does, or the region read as above (RGB converted as
 * li_image_convert does). NULL with li_error; a region's error names the
 * list and line, the slide and the region: "'m.tsv' line 7: region x 448 y
 * 224 level 5 size 224 of slide 'a.svs': slide 'a.svs' has no level 5 (levels
 * 0-2)". A slide whose read failed is closed (OpenSlide's handle is dead after
 * an error) and opened again for its next region. */
li_image *li_source_read(li_source_reader *r, const li_source *s, int channels);
/* The checks of li_source_read that need no pixels (the slide opens, the
 * level exists, the corner is inside, the side read is allowed), with the
 * same messages; 0 for an image file. A program that will read the rows in
 * random order (li-train) checks them all first: a bad row then fails the
 * run at its start, not hours into it. */
int li_source_check(li_source_reader *r, const li_source *src);
/* Slides open now, and opened since the reader was made (for the tests). */
int li_source_reader_open_count(const li_source_reader *r);
uint64_t li_source_reader_opens(const li_source_reader *r);
#endif
