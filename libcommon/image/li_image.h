/* li_image.h: 8-bit images: decode PNG and JPEG (from a path or memory),
 * encode PNG and JPEG (to a path, atomically, or to memory), resize, crop.
 *
 * An li_image is width x height x channels bytes, channels 1 (gray) or 3 (RGB),
 * interleaved (HWC), row-major, rows packed without padding.
 *
 * Decoding picks the format from the magic bytes, never from the extension.
 * Every input becomes 8-bit RGB (or 1-channel gray when opts->channels is 1):
 *   - alpha (RGBA, gray+alpha, palette tRNS, tRNS colour key) is composited
 *     onto WHITE, because slide background is white: a transparent pixel
 *     must look like glass, not like black tissue;
 *     out = (v * a + 255 * (255 - a) + 127) / 255 per channel (integers);
 *   - 16-bit samples keep their high byte (v8 = v16 >> 8), exactly what PIL
 *     (and so every PIL/torchvision training pipeline) gives for RGB PNGs, so a
 *     model sees the same pixels here as in PyTorch;
 *   - gray is expanded to RGB by copying; RGB to gray uses ITU-R 601 luma in
 *     PIL's fixed point: L = (19595 R + 38470 G + 7471 B + 32768) >> 16;
 *   - CMYK and YCCK JPEGs are converted to RGB (Adobe inverted CMYK handled)
 *     with PIL's naive formula R = (255-K) - round(C (255-K) / 255), no ICC;
 *   - gAMA, iCCP, sRGB, cHRM are ignored (pixels are taken as stored).
 *
 * Hostile input is refused with -1/NULL and a one-line message naming the
 * file (li_errmsg()): over-limit dimensions, corrupt or truncated data, bad
 * CRCs and zlib checks, JPEGs with more than max_scans scans, progressive
 * JPEGs whose scans stop early, and arithmetic-coded JPEGs (whose truncation
 * cannot be detected; see li_jpeg.c). Ancillary PNG
 * chunks the decoder does not need are skipped without being buffered, so a
 * tiny file cannot make a huge allocation. Warnings from libpng and libjpeg
 * are never printed (truncation and corrupt data are errors, not warnings).
 *
 * The pixel limit is opts->max_pixels when non-zero, else the environment
 * variable LI_MAX_PIXELS when set to a positive integer, else
 * LI_IMAGE_DEFAULT_MAX_PIXELS (50 megapixels: a 7071x7071 RGB image, 150 MB).
 *
 * Thread-safe: no global state; each call uses its own decoder. */
#ifndef LI_IMAGE_H
#define LI_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#define LI_IMAGE_DEFAULT_MAX_PIXELS 50000000ULL
#define LI_IMAGE_DEFAULT_MAX_SCANS 100
#define LI_IMAGE_DEFAULT_PNG_LEVEL 6
#define LI_IMAGE_DEFAULT_JPEG_QUALITY 90

typedef struct li_image {
	int width, height;
	int channels;  /* 1 or 3 */
	uint8_t *data; /* width * height * channels bytes, HWC */
} li_image;

typedef enum li_image_format {
	LI_IMAGE_UNKNOWN = 0,
	LI_IMAGE_PNG,
	LI_IMAGE_JPEG,
} li_image_format;

/* Decoding options; a NULL pointer or a zeroed struct means the defaults. */
typedef struct li_image_opts {
	int channels;        /* 0 or 3: RGB; 1: gray */
	uint64_t max_pixels; /* 0: LI_MAX_PIXELS or the default (see above) */
	int max_scans;       /* JPEG scans allowed; 0: LI_IMAGE_DEFAULT_MAX_SCANS */
} li_image_opts;

/* Encoding options. NULL means the defaults; a caller who sets one field
 * starts from LI_IMAGE_WOPTS_DEFAULT:
 *     li_image_wopts w = LI_IMAGE_WOPTS_DEFAULT; w.jpeg_quality = 95; */
typedef struct li_image_wopts {
	int png_level;    /* zlib level 0 (store) - 9 (smallest) */
	int jpeg_quality; /* 1-100 */
	/* PNG: the Paeth filter on every row and zlib's run-length strategy
	 * instead of libpng's adaptive filters. On H&E tiles at level 1 this is
	 * as small as the default at level 6 and about three times faster to
	 * encode: LZ77 finds almost nothing in stained tissue, and trying five
	 * filters per row costs more than it saves (li-tile uses it). */
	int png_fast;
} li_image_wopts;
#define LI_IMAGE_WOPTS_DEFAULT {LI_IMAGE_DEFAULT_PNG_LEVEL, LI_IMAGE_DEFAULT_JPEG_QUALITY, 0}

/* What the file header says, without decoding pixels. */
typedef struct li_image_info {
	li_image_format format;
	int width, height;
	int channels;  /* in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA/CMYK */
	int bit_depth; /* 1, 2, 4, 8, 12 or 16 */
} li_image_info;

/* A zero-filled image; NULL with li_error on bad arguments or no memory. */
li_image *li_image_new(int width, int height, int channels);
void li_image_free(li_image *img);
li_image *li_image_clone(const li_image *img);

/* The format named by the first bytes (8 are enough), LI_IMAGE_UNKNOWN if none. */
li_image_format li_image_sniff(const void *buf, size_t len);
/* "png", "jpeg" or "unknown". */
const char *li_image_format_name(li_image_format f);
/* The format for an output path's extension (.png, .jpg, .jpeg, any case),
 * LI_IMAGE_UNKNOWN otherwise. */
li_image_format li_image_format_for_path(const char *path);

/* The pixel limit in force for opts (see above). */
uint64_t li_image_max_pixels(const li_image_opts *opts);

/* Decode a file; NULL with li_error ("cannot decode 'x.png': ...").
 * Path "-" reads stdin. */
li_image *li_image_read(const char *path, const li_image_opts *opts);
/* Decode a memory buffer; name is used in messages only. */
li_image *li_image_decode(const void *buf, size_t len, const char *name,
                          const li_image_opts *opts);
/* Header only (cheap): 0, or -1 with li_error. Applies no pixel limit. */
int li_image_read_info(const char *path, li_image_info *info);
int li_image_decode_info(const void *buf, size_t len, const char *name, li_image_info *info);

/* Encode to a path, format by extension; written atomically (li_atomic), "-"
 * writes stdout. 0 or -1 with li_error. */
int li_image_write(const li_image *img, const char *path, const li_image_wopts *wopts);
/* Encode to a malloc'd buffer (*buf, *len; the caller frees *buf). */
int li_image_encode(const li_image *img, li_image_format fmt, const li_image_wopts *wopts,
                    void **buf, size_t *len);

/* A new image of exactly width x height: each output axis is downscaled by
 * area averaging (every source pixel weighted by its overlap with the output
 * pixel: antialiased; for integer factors this equals PIL's BOX filter) or
 * upscaled bilinearly (pixel centres aligned, edges clamped, as PIL's
 * BILINEAR for upscaling). Same size returns a copy. */
li_image *li_image_resize(const li_image *src, int width, int height);
/* A copy of the rectangle at (x, y); parts outside the image are white. */
li_image *li_image_crop(const li_image *src, int x, int y, int width, int height);
/* A copy with 1 or 3 channels (gray -> RGB copies, RGB -> gray as above). */
li_image *li_image_convert(const li_image *src, int channels);
#endif
