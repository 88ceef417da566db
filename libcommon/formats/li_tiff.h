/* li_tiff.h: a minimal TIFF directory reader for the tiled-slide fast path
 * (li_tiffslide, in slide/). It reads the chain of image file directories
 * (classic TIFF and BigTIFF, either byte order) and, per directory, the few
 * tags needed to find and decode tiles; it decodes no pixels.
 *
 * The file is hostile until proven otherwise: every offset, count and size is
 * checked against the file's length and against overflow, the directory
 * chain is capped (LI_TIFF_MAX_IFDS) and a loop in it is refused, a
 * directory's tags are capped (LI_TIFF_MAX_TAGS), a tag we use given twice is
 * refused, and a tiled directory must be self-consistent (tile sizes 1-4096,
 * one offset and one byte count per tile, every tile inside the file). A
 * file that breaks any of this is refused as a whole: the caller then reads
 * the slide with OpenSlide, as before.
 *
 * A reader owns its file descriptor (or borrows a memory buffer: tests and
 * the fuzzer); one reader per thread (reads use pread, but the tile arrays
 * are shared read-only, so concurrent li_tiff_read calls are in fact safe). */
#ifndef LI_TIFF_H
#define LI_TIFF_H
#include <stddef.h>
#include <stdint.h>

#define LI_TIFF_MAX_IFDS 1024
#define LI_TIFF_MAX_TAGS 4096
#define LI_TIFF_MAX_TILE 4096 /* pixels a side */

/* One directory. Absent tags hold TIFF's defaults, noted per field. */
typedef struct li_tiff_ifd {
	uint64_t width, height;  /* ImageWidth, ImageLength (required) */
	uint32_t tile_w, tile_h; /* TileWidth, TileLength; 0: not tiled */
	uint32_t compression;    /* 1 */
	uint32_t photometric;    /* LI_TIFF_NONE when absent */
	uint32_t planar;         /* 1 (contiguous) */
	uint32_t spp;            /* SamplesPerPixel, 1 */
	uint32_t bps;            /* BitsPerSample when every sample has the same, 1; 0 if they differ */
	uint32_t sample_format;  /* 1 (unsigned); 0 if the samples differ */
	uint32_t extra_samples;  /* how many ExtraSamples, 0 */
	uint32_t orientation;    /* 1 (top-left) */
	uint32_t fill_order;     /* 1 */
	uint32_t image_depth;    /* ImageDepth (SGI), 1 */
	uint32_t subfiletype;    /* NewSubfileType, 0 */
	int has_subfiletype;
	int has_ycbcr_sub;       /* YCbCrSubsampling given; else 2, 2 */
	uint32_t ycbcr_h, ycbcr_v;
	uint64_t tiles_across, tiles_down, ntiles; /* tiled directories only */
	uint64_t *tile_off, *tile_len;             /* ntiles each, or NULL */
	uint64_t tables_off, tables_len;           /* JPEGTables; len 0: none */
} li_tiff_ifd;

#define LI_TIFF_NONE UINT32_MAX

typedef struct li_tiff {
	char *name;
	int fd;             /* -1 for a memory buffer */
	const uint8_t *mem; /* borrowed */
	uint64_t size;      /* the file's length */
	int big;            /* BigTIFF */
	int little;         /* byte order II */
	int n;              /* directories */
	li_tiff_ifd *ifd;
} li_tiff;

/* Read the directories of a file: NULL with li_error ("cannot read TIFF
 * 'x.tif': directory 2: tile offsets run past the end of the file"). */
li_tiff *li_tiff_open(const char *path);
/* The same over a buffer, borrowed (it must outlive the reader). */
li_tiff *li_tiff_open_mem(const uint8_t *buf, size_t len, const char *name);
void li_tiff_free(li_tiff *t);
/* n bytes at off: 0, or -1 with li_error (past the end, I/O error). */
int li_tiff_read(const li_tiff *t, void *buf, size_t n, uint64_t off);
#endif
