/* li_png.h: the PNG codec (libpng), private to li_image_io.c, which sniffs
 * the format and dispatches; use li_image_io.h everywhere else.
 * Decoders get the whole file in memory, the file name for messages, the
 * output channel count (1 or 3) and the limits; they return a new image or
 * NULL with li_error already set ("cannot decode 'name': why"). */
#ifndef LI_PNG_H
#define LI_PNG_H
#include <stddef.h>
#include <stdint.h>

#include "li_image.h"

li_image *li_png_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                        uint64_t max_pixels);
int li_png_info(const uint8_t *buf, size_t len, const char *name, li_image_info *info);
int li_png_encode(const li_image *img, int level, int fast, void **out, size_t *outlen);
#endif
