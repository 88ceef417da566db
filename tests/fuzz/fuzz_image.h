/* fuzz_image.h: one decoding run, shared by fuzz_png and fuzz_jpeg (the
 * decoder is picked from the magic bytes, so the two differ by corpus). */
#ifndef LI_FUZZ_IMAGE_H
#define LI_FUZZ_IMAGE_H
#include "fuzz.h"
#include "li_image.h"
#include "li_image_io.h"

static inline int fuzz_image(const uint8_t *data, size_t size)
{
	li_error_clear();
	li_image_info info;
	if (li_image_decode_info(data, size, "fuzz", &info) < 0)
		FUZZ_FAILED("li_image_decode_info");
	/* A small pixel and scan limit keeps each run fast; both are tested paths. */
	li_image_opts o = {.channels = size & 1 ? 1 : 3, .max_pixels = 1u << 20, .max_scans = 20};
	li_image *img = li_image_decode(data, size, "fuzz", &o);
	if (!img) {
		FUZZ_FAILED("li_image_decode");
		return 0;
	}
	if (img->width <= 0 || img->height <= 0 || img->channels != o.channels ||
	    (uint64_t)img->width * img->height > o.max_pixels)
		abort();
	li_image_free(img);
	return 0;
}
#endif
