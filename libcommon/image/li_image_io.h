/* li_image_io.h: reading and writing images: decode PNG and JPEG (from a
 * path or memory), encode PNG and JPEG (to a path, atomically, or to memory).
 * Above the codecs (li_png.c, li_jpeg.c), which sit above li_image.h.
 *
 * Decoding picks the format from the magic bytes, never from the extension.
 * Every input becomes 8-bit RGB or gray as li_image.h says, and:
 *   - 16-bit samples keep their high byte (v8 = v16 >> 8), exactly what PIL
 *     (and so every PIL/torchvision training pipeline) gives for RGB PNGs, so a
 *     model sees the same pixels here as in PyTorch;
 *   - CMYK and YCCK JPEGs are converted to RGB (Adobe inverted CMYK handled)
 *     with PIL's naive formula R = (255-K) - round(C (255-K) / 255), no ICC;
 *   - gAMA, iCCP, sRGB, cHRM are ignored (pixels are taken as stored).
 *
 * Hostile input is refused with -1/NULL and a one-line message naming the
 * file (li_errmsg()): over-limit dimensions (li_image_max_pixels), corrupt or
 * truncated data, bad CRCs and zlib checks, JPEGs with more than max_scans
 * scans, progressive JPEGs whose scans stop early, and arithmetic-coded JPEGs
 * (whose truncation cannot be detected; see li_jpeg.c). Ancillary PNG chunks the decoder does not need are skipped without
 * being buffered, so a tiny file cannot make a huge allocation. Warnings from
 * libpng and libjpeg are never printed (truncation and corrupt data are
 * errors, not warnings).
 *
 * Thread-safe: no global state; each call uses its own decoder. */
#ifndef LI_IMAGE_IO_H
#define LI_IMAGE_IO_H
#include <stddef.h>

#include "li_image.h"

/* The format named by the first bytes (8 are enough), LI_IMAGE_UNKNOWN if none. */
li_image_format li_image_sniff(const void *buf, size_t len);
/* "png", "jpeg" or "unknown". */
const char *li_image_format_name(li_image_format f);
/* The format for an output path's extension (.png, .jpg, .jpeg, any case),
 * LI_IMAGE_UNKNOWN otherwise. */
li_image_format li_image_format_for_path(const char *path);

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

#endif
