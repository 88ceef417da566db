/* li_jpeg.h: the JPEG codec (libjpeg), private to li_image_io.c, which
 * sniffs the format and dispatches; use li_image_io.h everywhere else (the
 * one exception: li_jpeg_decode_tiff_tile, for slide/li_tiffslide.c).
 * Decoders get the whole file in memory, the file name for messages, the
 * output channel count (1 or 3) and the limits; they return a new image or
 * NULL with li_error already set ("cannot decode 'name': why"). */
#ifndef LI_JPEG_H
#define LI_JPEG_H
#include <stddef.h>
#include <stdint.h>

#include "li_image.h"

li_image *li_jpeg_decode(const uint8_t *buf, size_t len, const char *name, int channels,
                         uint64_t max_pixels, int max_scans);
int li_jpeg_info(const uint8_t *buf, size_t len, const char *name, li_image_info *info);

/* One JPEG-compressed TIFF tile (li_jpeg.c says how it matches libtiff). */
typedef struct li_jpeg_tile {
	const uint8_t *tables; /* JPEGTables, or NULL */
	size_t tables_len;
	const uint8_t *data;   /* the tile's bytes */
	size_t len;
	int width, height;     /* the tile's size */
	int ycbcr;             /* Photometric YCbCr (else RGB) */
	int h_samp, v_samp;    /* YCbCr: the expected sampling of component 0 */
} li_jpeg_tile;
/* Decode t into out (width * height * 3 bytes, RGB): 0; 1 when the stream is
 * not what the directory promises (size, 3 components of 8 bits, sampling,
 * tables-only stream), or is progressive or arithmetic-coded, so the caller
 * should leave the tile to OpenSlide; -1 with li_error "corrupt JPEG data:
 * <libjpeg's message>" (every libjpeg warning counts: a grey-padded tile
 * never comes back). With out NULL only the header is read, and *hs, *vs
 * (when not NULL) receive component 0's sampling factors. */
int li_jpeg_decode_tiff_tile(const li_jpeg_tile *t, uint8_t *out, int *hs, int *vs);
int li_jpeg_encode(const li_image *img, int quality, void **out, size_t *outlen);
#endif
