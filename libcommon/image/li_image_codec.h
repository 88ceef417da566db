/* li_image_codec.h: private interface between li_image.c and its two codecs,
 * li_png.c and li_jpeg.c. Not for use outside those three files.
 *
 * Decoders get the whole file in memory, the file name for messages, the
 * output channel count (1 or 3) and the limits; they return a new image or
 * NULL with li_error already set ("cannot decode 'name': why"). */
#ifndef LI_IMAGE_CODEC_H
#define LI_IMAGE_CODEC_H
#include <stddef.h>
#include <stdint.h>

#include "li_image.h"

li_image *li_png_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                        uint64_t max_pixels);
int li_png_info(const uint8_t *buf, size_t len, const char *name, li_image_info *info);
int li_png_encode(const li_image *img, int level, int fast, void **out, size_t *outlen);

li_image *li_jpeg_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                         uint64_t max_pixels, int max_scans);
int li_jpeg_info(const uint8_t *buf, size_t len, const char *name, li_image_info *info);
int li_jpeg_encode(const li_image *img, int quality, void **out, size_t *outlen);

/* The over-limit message; returns -1. */
int li_image_limit_error(const char *name, uint64_t width, uint64_t height, uint64_t max_pixels);
/* Convert one row of 8-bit samples with src_channels 1 (G), 2 (GA), 3 (RGB)
 * or 4 (RGBA) into dst_channels 1 or 3, compositing alpha onto white. */
void li_image_convert_row(const uint8_t *src, int src_channels, uint8_t *dst, int dst_channels,
                          size_t width);
#endif
