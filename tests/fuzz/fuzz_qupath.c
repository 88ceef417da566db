/* fuzz_qupath: li-geojson --import's reader (li_qp_read: QuPath's GeoJSON
 * export of tiles, NaN tokens, class shapes, rectangles), then matching
 * against a grid of squares, and every feature written back through the
 * exporter (li_qp_writer) with its class's colour and canonical name. */
#include <math.h>

#include "fuzz.h"
#include "li_qupath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".geojson");
	li_error_clear();
	li_qp_features *fs = li_qp_read(path);
	if (!fs) {
		FUZZ_FAILED("li_qp_read");
		return 0;
	}
	/* a 4 x 4 grid of 224 px tiles, stride 112, and each feature's own
	 * rectangle as a square (duplicates are then likely: both answers count) */
	size_t n = 0, cap = 16 + fs->n;
	li_qp_square *sq = malloc(cap * sizeof *sq);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++, n++)
			sq[n] = (li_qp_square){i * 112, j * 112, i * 112 + 224, j * 112 + 224, n};
	for (size_t i = 0; i < fs->n; i++)
		if (!fs->f[i].not_tile) {
			sq[n] = (li_qp_square){fs->f[i].x0, fs->f[i].y0, fs->f[i].x1, fs->f[i].y1, n};
			n++;
		}
	size_t a, b;
	(void)li_qp_squares_sort(sq, n, &a, &b);
	size_t *match = malloc((fs->n ? fs->n : 1) * sizeof *match);
	li_qp_match(fs, sq, n, match);
	for (size_t i = 0; i < fs->n; i++)
		if (match[i] != SIZE_MAX && (match[i] >= n || fs->f[i].not_tile)) {
			fprintf(stderr, "fuzz: feature %zu matched square %zu of %zu\n", i, match[i], n);
			abort();
		}
	FILE *out = fopen("/dev/null", "w");
	li_qp_writer *w = out ? li_qp_writer_new(out, "null", LI_QP_TILE, size % 2) : NULL;
	if (!w)
		abort();
	for (size_t i = 0; i < fs->n; i++) {
		const li_qp_feature *f = &fs->f[i];
		char *canon = li_qp_class_canonical(f->cls);
		uint8_t rgb[3];
		li_qp_class_color(canon ? canon : "", rgb);
		static const char *const mn[] = {"x0", "y1"};
		const double mv[] = {f->x0, f->not_tile ? NAN : f->y1};
		li_qp_tile t = {f->x0, f->y0, f->x1 - f->x0, f->cls, canon, rgb, 2, mn, mv};
		if (li_qp_writer_add(w, &t) < 0)
			FUZZ_FAILED("li_qp_writer_add");
		free(canon);
	}
	if (li_qp_writer_end(w) < 0)
		FUZZ_FAILED("li_qp_writer_end");
	li_qp_writer_free(w);
	fclose(out);
	free(match);
	free(sq);
	li_qp_features_free(fs);
	return 0;
}
