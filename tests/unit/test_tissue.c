/* test_tissue.c: tissue detection pieces against naive reference versions
 * (median, Otsu, closing, components, coverage), the whole detector on
 * synthetic slides, and GeoJSON parsing and rasterisation (li_geojson). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"
#include "li_geojson.h"
#include "li_tissue.h"
#include "tap.h"
#include "testdir.h"

static uint64_t rs = 88172645463325252ULL;
static unsigned rnd(void)
{
	rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
	return (unsigned)(rs >> 11);
}

static li_image *random_gray(int w, int h, int levels)
{
	li_image *g = li_image_new(w, h, 1);
	for (int i = 0; i < w * h; i++)
		g->data[i] = (uint8_t)(rnd() % levels * (256 / levels));
	return g;
}

static int cmp_u8(const void *a, const void *b)
{
	return *(const uint8_t *)a - *(const uint8_t *)b;
}

static void test_median(void)
{
	int bad = 0;
	for (int r = 0; r <= 3; r++) {
		li_image *g = random_gray(23, 17, r == 2 ? 4 : 256);
		li_image *m = li_tissue_median(g, r);
		uint8_t win[49] = {0};
		for (int y = 0; y < 17; y++)
			for (int x = 0; x < 23; x++) {
				int n = 0;
				for (int dy = -r; dy <= r; dy++)
					for (int dx = -r; dx <= r; dx++) {
						int xx = x + dx < 0 ? 0 : x + dx > 22 ? 22 : x + dx;
						int yy = y + dy < 0 ? 0 : y + dy > 16 ? 16 : y + dy;
						win[n++] = g->data[yy * 23 + xx];
					}
				qsort(win, n, 1, cmp_u8);
				bad += m->data[y * 23 + x] != win[n / 2];
			}
		li_image_free(g);
		li_image_free(m);
	}
	is_int(bad, 0, "median blur equals the sorted-window median (radius 0-3, edges replicated)");
}

static void test_otsu(void)
{
	int bad = 0;
	for (int trial = 0; trial < 20; trial++) {
		li_image *g = li_image_new(40, 30, 1);
		/* two noisy classes */
		int a = rnd() % 100, b = 120 + rnd() % 130;
		for (int i = 0; i < 1200; i++) {
			int v = (i % 3 ? a : b) + (int)(rnd() % 21) - 10;
			g->data[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		int t = li_tissue_otsu(g);
		double best = -1;
		int bt = -1;
		for (int c = 0; c < 255; c++) {
			double n0 = 0, n1 = 0, s0 = 0, s1 = 0;
			for (int i = 0; i < 1200; i++)
				if (g->data[i] <= c)
					n0++, s0 += g->data[i];
				else
					n1++, s1 += g->data[i];
			if (!n0 || !n1)
				continue;
			double d = s0 / n0 - s1 / n1, v = n0 * n1 * d * d;
			if (v > best * (1 + 1e-12))
				best = v, bt = c;
		}
		bad += t != bt;
		li_image_free(g);
	}
	is_int(bad, 0, "Otsu's threshold equals the brute-force maximum of between-class variance");
	li_image *c = li_image_new(5, 5, 1);
	memset(c->data, 7, 25);
	is_int(li_tissue_otsu(c), 7, "a constant image gives its value");
	li_image_free(c);
}

static void test_close(void)
{
	int bad = 0;
	for (int r = 1; r <= 2; r++) {
		li_image *g = li_image_new(19, 13, 1);
		for (int i = 0; i < 19 * 13; i++)
			g->data[i] = rnd() % 3 == 0 ? 255 : 0;
		li_image *ref = li_image_clone(g), *dil = li_image_clone(g);
		/* naive: dilate (outside = 0), then erode (outside ignored) */
		for (int y = 0; y < 13; y++)
			for (int x = 0; x < 19; x++) {
				int v = 0;
				for (int dy = -r; dy <= r; dy++)
					for (int dx = -r; dx <= r; dx++) {
						int xx = x + dx, yy = y + dy;
						if (xx >= 0 && yy >= 0 && xx < 19 && yy < 13 && g->data[yy * 19 + xx])
							v = 255;
					}
				dil->data[y * 19 + x] = (uint8_t)v;
			}
		for (int y = 0; y < 13; y++)
			for (int x = 0; x < 19; x++) {
				int v = 255;
				for (int dy = -r; dy <= r; dy++)
					for (int dx = -r; dx <= r; dx++) {
						int xx = x + dx, yy = y + dy;
						if (xx >= 0 && yy >= 0 && xx < 19 && yy < 13 && !dil->data[yy * 19 + xx])
							v = 0;
					}
				ref->data[y * 19 + x] = (uint8_t)v;
			}
		li_tissue_close(g, r);
		bad += memcmp(g->data, ref->data, 19 * 13) != 0;
		li_image_free(g);
		li_image_free(ref);
		li_image_free(dil);
	}
	is_int(bad, 0, "closing equals naive dilate-then-erode (radius 1, 2)");
}

/* Draw a mask from a picture: '#' set, anything else clear. */
static li_image *pic(const char *const *rows, int h)
{
	int w = (int)strlen(rows[0]);
	li_image *m = li_image_new(w, h, 1);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			m->data[y * w + x] = rows[y][x] == '#' ? 255 : 0;
	return m;
}

static void test_holes_components(void)
{
	const char *rows[] = {
		"..........",
		".#####....",
		".#...#..#.",
		".#.#.#....",
		".#...#.#..",
		".#####..#.",
		"..........",
		"#.........",
	};
	li_image *m = pic(rows, 8);
	int32_t lab[80], n;
	size_t *sizes = NULL;
	ok(li_tissue_components(m, lab, &n, &sizes) == 0, "components");
	/* the ring, the dot inside it, (8,2), the diagonal pair (7,4)-(8,5)
	 * (one 8-connected component), the corner pixel */
	is_int(n, 5, "8-connected component count");
	is_int(sizes[lab[1 * 10 + 1]], 16, "the ring has 16 pixels");
	is_int(lab[4 * 10 + 7], lab[5 * 10 + 8], "diagonal neighbours are one component");
	free(sizes);
	li_image *f = li_image_clone(m);
	li_tissue_fill_holes(f, 0);
	ok(f->data[2 * 10 + 2] && f->data[3 * 10 + 2] && f->data[2 * 10 + 4], "holes filled");
	ok(!f->data[0] && !f->data[2 * 10 + 6] && !f->data[6 * 10 + 1], "outside background untouched");
	li_image_free(f);
	f = li_image_clone(m);
	li_tissue_fill_holes(f, 3);
	ok(!f->data[2 * 10 + 2], "a hole larger than max_hole is kept");
	li_image_free(f);
	li_tissue_remove_small(m, 2);
	ok(m->data[1 * 10 + 1] && !m->data[2 * 10 + 8] && !m->data[7 * 10] && m->data[4 * 10 + 7],
	   "components below min_area removed, others kept");
	li_image_free(m);
}

static void test_coverage(void)
{
	li_image *m = random_gray(13, 9, 2);
	li_coverage *c = li_coverage_new(m, 4, 4);
	int bad = 0;
	for (int t = 0; t < 200; t++) {
		/* integer level-0 rectangles: count level-0 pixels directly */
		int x = (int)(rnd() % 60) - 4, y = (int)(rnd() % 44) - 4;
		int w = 1 + rnd() % 30, h = 1 + rnd() % 20;
		double in = 0;
		for (int yy = y; yy < y + h; yy++)
			for (int xx = x; xx < x + w; xx++)
				if (xx >= 0 && yy >= 0 && xx < 52 && yy < 36 && m->data[(yy / 4) * 13 + xx / 4])
					in++;
		double f = li_coverage_fraction(c, x, y, w, h);
		bad += fabs(f - in / (w * h)) > 1e-9;
	}
	is_int(bad, 0, "coverage fraction equals a pixel count at level 0 (200 random rectangles)");
	li_coverage_free(c);
	li_image_free(m);
}

static void test_detect(void)
{
	/* White glass with faint noise, a pink disc of tissue with a pale lumen,
	 * and a speck. */
	li_image *rgb = li_image_new(200, 150, 3);
	for (int y = 0; y < 150; y++)
		for (int x = 0; x < 200; x++) {
			uint8_t *p = rgb->data + (y * 200 + x) * 3;
			int d2 = (x - 80) * (x - 80) + (y - 70) * (y - 70);
			int n = rnd() % 6;
			if (d2 < 50 * 50 && d2 > 8 * 8)
				p[0] = 200 + n, p[1] = 120 + n, p[2] = 170 + n;
			else if ((x - 170) * (x - 170) + (y - 20) * (y - 20) < 4)
				p[0] = 150, p[1] = 60, p[2] = 120;
			else
				p[0] = 245 - n, p[1] = 244 - n, p[2] = 246 - n;
		}
	li_tissue_opts o = LI_TISSUE_OPTS_DEFAULT;
	o.min_area = 50;
	int t = -1;
	li_image *m = li_tissue_detect(rgb, &o, &t);
	ok(m != NULL, "detect");
	ok(t >= LI_TISSUE_OTSU_FLOOR && t < 100, "Otsu threshold %d between glass and tissue", t);
	size_t set = 0;
	for (int i = 0; i < 200 * 150; i++)
		set += m->data[i] != 0;
	ok(m->data[70 * 200 + 80], "the lumen is filled");
	ok(!m->data[20 * 200 + 170], "the speck is dropped by min_area");
	ok(!m->data[5 * 200 + 5] && !m->data[140 * 200 + 190], "glass is not tissue");
	double want = 3.14159 * 50 * 50;
	ok(fabs(set - want) < 0.08 * want, "tissue area %zu near the disc's %.0f", set, want);
	li_image_free(m);
	/* Blank glass: Otsu would split the noise; the floor keeps it empty. */
	for (int i = 0; i < 200 * 150; i++)
		memset(rgb->data + i * 3, 240 + rnd() % 10, 3), rgb->data[i * 3 + 2] -= rnd() % 4;
	m = li_tissue_detect(rgb, NULL, &t);
	set = 0;
	for (int i = 0; i < 200 * 150; i++)
		set += m->data[i] != 0;
	is_int(set, 0, "blank glass has no tissue (threshold %d)", t);
	li_image_free(m);
	li_image_free(rgb);
}

static void test_geojson(void)
{
	/* A QuPath FeatureCollection: a square with a square hole (class LI),
	 * a multipolygon of two squares (class Other) and a point (ignored). */
	const char *fc =
		"{\"type\":\"FeatureCollection\",\"features\":["
		"{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
		"[[[0,0],[40,0],[40,40],[0,40],[0,0]],[[10,10],[30,10],[30,30],[10,30],[10,10]]]},"
		"\"properties\":{\"objectType\":\"annotation\",\"classification\":{\"name\":\"LI\",\"color\":[255,0,0]}}},"
		"{\"type\":\"Feature\",\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":"
		"[[[[60,0],[80,0],[80,20],[60,20],[60,0]]],[[[60,40],[80,40],[80,60],[60,60],[60,40]]]]},"
		"\"properties\":{\"classification\":{\"name\":\"Other\"}}},"
		"{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[5,5]},\"properties\":{}}"
		"]}";
	li_geojson *g = li_geojson_read(put("a.geojson", fc));
	ok(g != NULL, "read a FeatureCollection: %s", li_errmsg());
	if (!g)
		return;
	is_int(g->npolys, 3, "one polygon and a multipolygon of two");
	is_int(g->nskipped, 1, "the point is skipped");
	is_str(g->polys[0].cls, "LI", "class name of the polygon");
	is_str(g->polys[2].cls, "Other", "class name of the multipolygon's parts");
	is_int(g->polys[0].nrings, 2, "outer ring and a hole");
	li_image *m = li_image_new(10, 8, 1);
	ok(li_geojson_rasterize(g, "LI", m, 8) == 0, "rasterise class LI at downsample 8");
	/* mask pixel (i, j) covers level-0 [8i, 8i+8): centres at 4, 12, ..., 36
	 * are in the outer square, 12, 20, 28 in the hole */
	int set = 0;
	for (int i = 0; i < 80; i++)
		set += m->data[i] != 0;
	ok(m->data[0] && m->data[4] && !m->data[2 * 10 + 2] && !m->data[1 * 10 + 1] && m->data[4 * 10 + 4],
	   "the hole is not filled, the ring is");
	is_int(set, 25 - 9, "16 pixels: 5x5 minus the 3x3 hole");
	ok(!m->data[8] && !m->data[5 * 10 + 8], "class Other is not drawn");
	ok(li_geojson_rasterize(g, NULL, m, 8) == 0, "rasterise every class");
	ok(m->data[8] && m->data[6 * 10 + 8] && !m->data[3 * 10 + 8], "both parts of the multipolygon");
	li_image_free(m);
	li_geojson_free(g);

	/* An array of features (older QuPath) with a string classification. */
	g = li_geojson_read(put("b.geojson",
		"[{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
		"[[[0,0],[4,0],[0,4]]]},\"properties\":{\"classification\":\"Tumor\"}}]"));
	ok(g && g->npolys == 1 && strcmp(g->polys[0].cls, "Tumor") == 0, "array of features, string class");
	li_geojson_free(g);

	const char *p = put("bad1.geojson", "{\"type\":\"FeatureCollection\",\"features\":[");
	g = li_geojson_read(p);
	ok(!g && strstr(li_errmsg(), "bad1.geojson") && strstr(li_errmsg(), "line 1"),
	   "truncated JSON names the file and line: %s", li_errmsg());
	p = put("bad2.geojson", "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
			        "\"coordinates\":[[[0,0],[1,\"a\"],[2,2]]]}}");
	g = li_geojson_read(p);
	ok(!g && strstr(li_errmsg(), "feature 1") && strstr(li_errmsg(), "coordinate"),
	   "a bad coordinate names the feature: %s", li_errmsg());
	p = put("bad3.geojson", "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
			        "\"coordinates\":[[[0,0],[1,1]]]}}");
	g = li_geojson_read(p);
	ok(!g && strstr(li_errmsg(), "fewer than 3"), "a degenerate ring: %s", li_errmsg());
	g = li_geojson_read(put("bad4.geojson", "{\"type\":\"Topology\"}"));
	ok(!g && strstr(li_errmsg(), "Topology"), "an unknown top-level type: %s", li_errmsg());
	/* Finite but absurd coordinates (issue 10: they made the rasteriser
	 * write at row[INT_MIN]) are refused when reading, naming the feature. */
	g = li_geojson_read(put("huge.geojson",
		"[{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
		"[[[0,0],[4,0],[0,4]]]}},"
		"{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
		"[[[-1.7e308,-1.7e308],[1.7e308,1.7e308],[-1.7e308,1.7e308]]]}}]"));
	ok(!g && strstr(li_errmsg(), "huge.geojson': feature 2: ring 1: coordinate 1") &&
	   strstr(li_errmsg(), "out of range"), "absurd coordinates are refused: %s", li_errmsg());
}

/* The rasteriser itself must be safe on any finite polygon, as a caller can
 * build one without the reader's checks: crossings of edges whose span
 * overflows a double used to be NaN, and (int)NaN an index of INT_MIN. */
static void test_rasterize_extremes(void)
{
	static const double tri[][6] = {
		{-1.7e308, -1.7e308, 1.7e308, 1.7e308, -1.7e308, 1.7e308},
		{-1.7e308, 1.7e308, 1.7e308, -1.7e308, 1.7e308, 1.7e308},
		{-1e300, 2, 1e300, 3, 0, 1e300},
		{0, -1.7e308, 1e-300, 1.7e308, -1.7e308, 0},
	};
	li_image *m = li_image_new(10, 8, 1);
	for (size_t t = 0; t < LI_ARRAY_LEN(tri); t++) {
		size_t start[2] = {0, 3};
		li_geo_polygon p = {.cls = "x", .nrings = 1, .ring_start = start,
				    .xy = (double *)tri[t], .feature = 1};
		li_geojson g = {.npolys = 1, .polys = &p};
		static const double ds[] = {1, 1e-300, 1e300, 0.5};
		int rc = 0;
		for (size_t d = 0; d < LI_ARRAY_LEN(ds); d++)
			rc |= li_geojson_rasterize(&g, NULL, m, ds[d]);
		ok(rc == 0, "rasterising extreme triangle %zu is safe", t + 1);
	}
	/* A sane polygon gives the same mask as before: the pixels whose centre is
	 * in the triangle on or below y = x (centres on the left edge count). */
	double xy[] = {0, 0, 10, 0, 10, 10};
	size_t start[2] = {0, 3};
	li_geo_polygon p = {.cls = "x", .nrings = 1, .ring_start = start, .xy = xy, .feature = 1};
	li_geojson g = {.npolys = 1, .polys = &p};
	int bad = li_geojson_rasterize(&g, NULL, m, 1);
	for (int j = 0; j < 8; j++)
		for (int i = 0; i < 10; i++)
			bad += (m->data[j * 10 + i] != 0) != (i >= j);
	is_int(bad, 0, "a triangle rasterises to the pixels whose centres it holds");
	li_image_free(m);
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	test_median();
	test_otsu();
	test_close();
	test_holes_components();
	test_coverage();
	test_detect();
	test_geojson();
	test_rasterize_extremes();
	if (test_dir_remove() != 0)
		diag("could not remove %s", test_dir);
	return done_testing();
}
