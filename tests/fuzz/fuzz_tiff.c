/* fuzz_tiff: the TIFF directory reader (li_tiff_open_mem, li_tiff_open) and
 * the tiled-slide fast path on top of it (li_tiffslide_open, _read): the
 * input's tiled directories are offered as an "aperio" slide whose levels are
 * what li_tiff found, so the JPEG tiles of any input get decoded. */
#include "fuzz.h"
#include "li_tiff.h"
#include "li_tiffslide.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	li_error_clear();
	li_tiff *t = li_tiff_open_mem(data, size, "fuzz.tif");
	if (!t) {
		FUZZ_FAILED("li_tiff_open_mem");
		return 0;
	}
	/* what the reader promises: every tile inside the input */
	int64_t w[64], h[64];
	double ds[64];
	int n = 0;
	for (int i = 0; i < t->n; i++) {
		const li_tiff_ifd *d = &t->ifd[i];
		if (!d->tile_w)
			continue;
		for (uint64_t k = 0; k < d->ntiles; k++)
			if (d->tile_off[k] > size || d->tile_len[k] > size - d->tile_off[k])
				abort();
		if (n < 64) {
			w[n] = (int64_t)d->width, h[n] = (int64_t)d->height;
			ds[n] = n ? ((double)w[0] / w[n] + (double)h[0] / h[n]) / 2 : 1;
			n++;
		}
	}
	li_tiff_free(t);
	const char *path = fuzz_file(data, size, ".tif");
	t = li_tiff_open(path);
	if (!t) /* the file reader must agree with the memory one */
		abort();
	li_tiff_free(t);
	if (n == 0 || n == 64)
		return 0;
	li_tiffslide_levels lv = {.vendor = "aperio", .count = n, .w = w, .h = h, .ds = ds};
	li_tiffslide *s = li_tiffslide_open(path, &lv);
	if (!s)
		return 0;
	static uint8_t rgb[64 * 64 * 3];
	for (int l = 0; l < n; l++) {
		const int64_t pos[3][2] = {{0, 0}, {w[l] / 2, h[l] / 2}, {w[l] - 1, h[l] - 1}};
		for (int p = 0; p < 3; p++) {
			int64_t x = (int64_t)(pos[p][0] * ds[l]), y = (int64_t)(pos[p][1] * ds[l]);
			if (li_tiffslide_read(s, rgb, 64, 64, x, y, l) < 0)
				FUZZ_FAILED("li_tiffslide_read");
		}
	}
	li_tiffslide_free(s);
	return 0;
}
