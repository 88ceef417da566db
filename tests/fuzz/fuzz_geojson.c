/* fuzz_geojson: QuPath GeoJSON annotations, read and rasterised at two
 * scales (li-tile --annotations). */
#include "fuzz.h"
#include "li_geojson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".geojson");
	li_error_clear();
	li_geojson *g = li_geojson_read(path);
	if (!g) {
		FUZZ_FAILED("li_geojson_read");
		return 0;
	}
	li_image *mask = li_image_new(48, 32, 1);
	static const double ds[] = {1, 16, 0.25, 1e-300, 1e300};
	for (size_t i = 0; i < LI_ARRAY_LEN(ds); i++) {
		if (li_geojson_rasterize(g, NULL, mask, ds[i]) < 0)
			FUZZ_FAILED("li_geojson_rasterize");
		if (g->npolys && li_geojson_rasterize(g, g->polys[0].cls, mask, ds[i]) < 0)
			FUZZ_FAILED("li_geojson_rasterize");
	}
	(void)li_geojson_count(g, "Tumor");
	li_image_free(mask);
	li_geojson_free(g);
	return 0;
}
