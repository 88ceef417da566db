/* test_qupath.c: tiles as QuPath GeoJSON and back (li_qupath): class colours
 * against Java's own (java.util.Random over String.hashCode, values made
 * once with OpenJDK 17: see colours()), class names as QuPath stores them,
 * the writer's structure, the reader's rectangles, refusals and reasons,
 * matching within the tolerance against a brute force, and QuPath's class
 * shapes in li_geojson_read (li-tile --annotations). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "li_error.h"
#include "li_geojson.h"
#include "li_qupath.h"
#include "tap.h"
#include "testdir.h"

static uint64_t rs = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(void)
{
	rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
	return (unsigned)(rs >> 11);
}

/* The reference colours were printed by this Java program (java C.java):
 *   for (String n : names) { Random r = new Random(n.hashCode());
 *     System.out.println(n + "\t" + r.nextInt(256) + "," + r.nextInt(256)
 *                          + "," + r.nextInt(256)); } */
static void test_colours(void)
{
	static const struct {
		const char *name;
		int rgb[3];
	} ref[] = {
		{"LI", {237, 0, 96}},
		{"Lymphatic invasion", {240, 77, 192}},
		{"Gef\xc3\xa4\xc3\x9f", {53, 5, 231}},              /* two 2-byte UTF-8 letters */
		{"\xf0\x9f\x98\x80x", {211, 229, 214}},             /* a surrogate pair in UTF-16 */
		{"", {187, 212, 61}},
		{"A: B", {246, 234, 208}},
		/* QuPath's built-in classes keep their own colours */
		{"Negative", {112, 112, 225}},
		{"Ignore*", {180, 180, 180}},
		{"Tumor", {200, 0, 0}},
		{"Positive", {250, 62, 62}},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(ref); i++) {
		uint8_t c[3];
		li_qp_class_color(ref[i].name, c);
		ok(c[0] == ref[i].rgb[0] && c[1] == ref[i].rgb[1] && c[2] == ref[i].rgb[2],
		   "colour of class '%s' is QuPath's: %d,%d,%d (want %d,%d,%d)", ref[i].name, c[0], c[1], c[2],
		   ref[i].rgb[0], ref[i].rgb[1], ref[i].rgb[2]);
	}
}

static void test_canonical(void)
{
	static const char *const cases[][2] = {
		{"LI", "LI"}, {" LI\t", "LI"}, {"A:B", "A: B"}, {"A: B", "A: B"}, {"A::B", "A: B"},
		{":A", "A"}, {"Unclassified", ""}, {"Unclassified: X", "X"}, {"  ", ""},
		{"X: Unclassified", "X: Unclassified"}, {"a:b:c", "a: b: c"}, {"Ignore*", "Ignore*"},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(cases); i++) {
		char *c = li_qp_class_canonical(cases[i][0]);
		is_str(c, cases[i][1], "QuPath stores class '%s' as '%s'", cases[i][0], cases[i][1]);
		free(c);
	}
}

static double shoelace(const json_t *ring)
{
	double a = 0;
	for (size_t i = 0; i + 1 < json_array_size(ring); i++) {
		const json_t *p = json_array_get(ring, i), *q = json_array_get(ring, i + 1);
		a += json_number_value(json_array_get(p, 0)) * json_number_value(json_array_get(q, 1)) -
		     json_number_value(json_array_get(q, 0)) * json_number_value(json_array_get(p, 1));
	}
	return a / 2;
}

/* Three tiles written as detections, read back with jansson. */
static const char *write_three(const char *file, bool legacy)
{
	const char *path = in_dir(file);
	FILE *fp = fopen(path, "w");
	li_qp_writer *w = fp ? li_qp_writer_new(fp, path, LI_QP_DETECTION, legacy) : NULL;
	ok(w != NULL, "writer on '%s'", file);
	if (!w)
		return path;
	static const char *const mn[] = {"prob", "x", "mpp"};
	const double m0[] = {0.93, 0, 0.499}, m2[] = {0.125, 448, NAN};
	static const uint8_t red[3] = {237, 0, 96};
	const li_qp_tile t[3] = {
		{0, 0, 224, "s_x000000_y000000", "LI", red, 3, mn, m0},
		{224, 0, 268.8, NULL, NULL, NULL, 0, NULL, NULL},
		{448, 224, 224, "s_x000448_y000224", "Tumor: Positive", red, 3, mn, m2},
	};
	int rc = 0;
	for (int i = 0; i < 3; i++)
		rc |= li_qp_writer_add(w, &t[i]);
	rc |= li_qp_writer_end(w);
	ok(rc == 0, "three tiles written: %s", li_errmsg());
	li_qp_writer_free(w);
	fclose(fp);
	return path;
}

static void test_writer(void)
{
	json_error_t je;
	json_t *root = json_load_file(write_three("three.geojson", false), 0, &je);
	ok(root != NULL, "the output is JSON: %s", root ? "" : je.text);
	if (!root)
		return;
	const json_t *fs = json_object_get(root, "features");
	is_str(json_string_value(json_object_get(root, "type")), "FeatureCollection", "a FeatureCollection");
	is_int(json_array_size(fs), 3, "three features");
	const json_t *f0 = json_array_get(fs, 0), *p0 = json_object_get(f0, "properties");
	is_str(json_string_value(json_object_get(f0, "type")), "Feature", "a Feature");
	const json_t *g0 = json_object_get(f0, "geometry");
	is_str(json_string_value(json_object_get(g0, "type")), "Polygon", "a Polygon");
	const json_t *ring = json_array_get(json_object_get(g0, "coordinates"), 0);
	char *s = json_dumps(ring, JSON_COMPACT | JSON_REAL_PRECISION(15));
	is_str(s, "[[0,0],[224,0],[224,224],[0,224],[0,0]]", "the square, closed, integers as integers");
	free(s);
	ok(shoelace(ring) == 224.0 * 224, "counter-clockwise as written (area %g)", shoelace(ring));
	is_str(json_string_value(json_object_get(p0, "objectType")), "detection", "objectType");
	is_str(json_string_value(json_object_get(p0, "name")), "s_x000000_y000000", "name");
	s = json_dumps(json_object_get(p0, "classification"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	is_str(s, "{\"name\":\"LI\",\"color\":[237,0,96]}", "classification: name and colour");
	free(s);
	ok(json_is_true(json_object_get(p0, "isLocked")), "locked");
	s = json_dumps(json_object_get(p0, "measurements"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	is_str(s, "{\"prob\":0.93,\"x\":0,\"mpp\":0.499}", "measurements as an object");
	free(s);
	const json_t *f1 = json_array_get(fs, 1), *p1 = json_object_get(f1, "properties");
	ring = json_array_get(json_object_get(json_object_get(f1, "geometry"), "coordinates"), 0);
	s = json_dumps(ring, JSON_COMPACT | JSON_REAL_PRECISION(15));
	is_str(s, "[[224,0],[492.8,0],[492.8,268.8],[224,268.8],[224,0]]", "a side that is not an integer");
	free(s);
	ok(!json_object_get(p1, "classification") && !json_object_get(p1, "name") &&
	   !json_object_get(p1, "measurements"), "no class, name or measurements when there are none");
	const json_t *m2 = json_object_get(json_object_get(json_array_get(fs, 2), "properties"), "measurements");
	ok(json_object_size(m2) == 2 && !json_object_get(m2, "mpp"), "a NaN measurement is left out");
	json_decref(root);

	root = json_load_file(write_three("list.geojson", true), 0, &je);
	const json_t *lp = json_object_get(json_array_get(json_object_get(root, "features"), 0), "properties");
	const json_t *m = json_object_get(lp, "measurements");
	ok(!strcmp(json_string_value(json_object_get(lp, "object_type")), "detection") &&
	   !strcmp(json_string_value(json_object_get(lp, "objectType")), "detection"),
	   "legacy: the object type under both names (QuPath 0.3 reads object_type)");
	s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	is_str(s, "[{\"name\":\"prob\",\"value\":0.93},{\"name\":\"x\",\"value\":0},{\"name\":\"mpp\",\"value\":0.499}]",
	       "legacy: measurements as a list of name and value (QuPath 0.3)");
	free(s);
	json_decref(root);

	/* refusals: nothing QuPath would refuse, nothing the reader would */
	FILE *fp = fopen(in_dir("bad.geojson"), "w");
	li_qp_writer *w = li_qp_writer_new(fp, "bad.geojson", LI_QP_TILE, false);
	li_qp_tile t = {0, 0, 224, "bad\xff", NULL, NULL, 0, NULL, NULL};
	ok(li_qp_writer_add(w, &t) < 0 && strstr(li_errmsg(), "name 'bad") && strstr(li_errmsg(), "is not valid UTF-8"),
	   "a name that is not UTF-8: %s", li_errmsg());
	t = (li_qp_tile){0, 0, 0, NULL, NULL, NULL, 0, NULL, NULL};
	ok(li_qp_writer_add(w, &t) < 0 && strstr(li_errmsg(), "positive"), "side 0: %s", li_errmsg());
	t = (li_qp_tile){2e9, 0, 224, NULL, NULL, NULL, 0, NULL, NULL};
	ok(li_qp_writer_add(w, &t) < 0 && strstr(li_errmsg(), "beyond"), "x 2e9: %s", li_errmsg());
	t = (li_qp_tile){NAN, 0, 224, NULL, NULL, NULL, 0, NULL, NULL};
	ok(li_qp_writer_add(w, &t) < 0, "x NaN: %s", li_errmsg());
	static const char *const bad_name[] = {"m\xc3"};
	const double inf[] = {INFINITY};
	t = (li_qp_tile){0, 0, 224, NULL, "LI\xe2\x82", NULL, 0, NULL, NULL};
	ok(li_qp_tile_check(&t) < 0 && strstr(li_errmsg(), "class 'LI"), "check: a class that is not UTF-8: %s",
	   li_errmsg());
	t = (li_qp_tile){0, 0, 224, NULL, NULL, NULL, 1, bad_name, inf};
	ok(li_qp_tile_check(&t) < 0 && strstr(li_errmsg(), "measurement 'm"), "check: a measurement name: %s",
	   li_errmsg());
	static const char *const inf_name[] = {"m"};
	t = (li_qp_tile){0, 0, 224, NULL, NULL, NULL, 1, inf_name, inf};
	ok(li_qp_tile_check(&t) < 0 && strstr(li_errmsg(), "'m' is not a finite number"), "check: inf: %s",
	   li_errmsg());
	t = (li_qp_tile){999999900, 0, 224, NULL, NULL, NULL, 0, NULL, NULL};
	ok(li_qp_tile_check(&t) < 0 && strstr(li_errmsg(), "beyond"), "check: x + side beyond 1e9: %s", li_errmsg());
	long pos = ftell(fp);
	ok(pos == (long)strlen("{\"type\": \"FeatureCollection\", \"features\": ["), "nothing written for them (%ld)", pos);
	li_qp_writer_free(w);
	fclose(fp);
}

static li_qp_features *read_geo(const char *file, const char *text)
{
	li_error_clear();
	return li_qp_read(put(file, text));
}

#define FEATURE(geom, props) "{\"type\":\"Feature\",\"geometry\":" geom ",\"properties\":" props "}"
#define SQUARE "{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}"

static void test_read(void)
{
	li_qp_features *fs = li_qp_read(write_three("back.geojson", false));
	ok(fs && fs->n == 3, "our own output reads back: %s", li_errmsg());
	if (fs) {
		ok(!fs->f[1].not_tile && fs->f[1].x0 == 224 && fs->f[1].y0 == 0 && fs->f[1].x1 == 492.8 &&
		   fs->f[1].y1 == 268.8, "its rectangles");
		is_str(fs->f[0].cls, "LI", "class");
		is_str(fs->f[1].cls, "", "no class");
		is_str(fs->f[2].cls, "Tumor: Positive", "a derived class name");
		is_int(fs->f[2].index, 3, "1-based index");
	}
	li_qp_features_free(fs);

	/* as QuPath 0.4+ exports a tile it imported: a UUID, the ring from
	 * another corner and the other way round (JTS's envelope order), 2
	 * decimals, "names", a NaN measurement (gson writes the bare token) */
	fs = read_geo("qupath.geojson",
		"{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\", "
		"\"id\": \"0a4bd1f3-6d0b-4c5e-9f8d-1c2b3a4d5e6f\", \"geometry\": {\"type\": \"Polygon\", "
		"\"coordinates\": [[[224, 0], [224, 268.8], [492.8, 268.8], [492.8, 0], [224, 0]]]}, "
		"\"properties\": {\"objectType\": \"tile\", \"name\": \"NaN Infinity\", \"classification\": "
		"{\"names\": [\"LI\", \"Positive\"], \"color\": [237, 0, 96]}, \"isLocked\": true, "
		"\"measurements\": {\"prob\": NaN, \"d\": -Infinity, \"e\": Infinity}}}]}");
	ok(fs && fs->n == 1 && !fs->f[0].not_tile && fs->f[0].x0 == 224 && fs->f[0].x1 == 492.8 &&
	   fs->f[0].y1 == 268.8, "QuPath's re-export: the same rectangle: %s", li_errmsg());
	if (fs)
		is_str(fs->f[0].cls, "LI: Positive", "\"names\" joined as QuPath shows them");
	li_qp_features_free(fs);

	static const struct {
		const char *text, *why;
	} other[] = {
		{"[" FEATURE("{\"type\":\"Point\",\"coordinates\":[1,2]}", "{}") "]", "a Point, not a Polygon"},
		{"[" FEATURE("null", "null") "]", "no geometry"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,0],[10,10],[0,10],[0,0]],"
			     "[[2,2],[3,2],[3,3],[2,2]]]}", "{}") "]", "a polygon with holes, not a tile's square"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,0],[0,10],[0,0]]]}", "{}") "]",
		 "not an axis-aligned rectangle"},
		/* corners only, but a diagonal edge (a bow tie) */
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,10],[10,0],[0,10],[0,0]]]}", "{}") "]",
		 "not an axis-aligned rectangle"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[0,0],[0,0],[0,0]]]}", "{}") "]",
		 "not an axis-aligned rectangle"},
		{"[" FEATURE("{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[10,0],[10,10],[0,10],[0,0]]]]}", "{}") "]",
		 "a MultiPolygon, not a Polygon"},
		{"[" FEATURE("{\"type\":\"GeometryCollection\",\"geometries\":[" SQUARE "]}", "{}") "]",
		 "a GeometryCollection, not a Polygon"},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(other); i++) {
		fs = read_geo("other.geojson", other[i].text);
		ok(fs && fs->n == 1 && fs->f[0].not_tile && strcmp(fs->f[0].not_tile, other[i].why) == 0,
		   "not a tile: %s (%s)", other[i].why, fs && fs->n ? fs->f[0].not_tile : li_errmsg());
		li_qp_features_free(fs);
	}

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"[" FEATURE(SQUARE, "{}") "," FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[NaN,0],"
			     "[10,10],[0,10],[0,0]]]}", "{}") "]", "bad.geojson': feature 2: a coordinate is not a finite"},
		{"[" FEATURE("{\"type\":\"Point\",\"coordinates\":[Infinity,2]}", "{}") "]", "feature 1: a coordinate is not"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1e12,0],[10,10],[0,0]]]}", "{}") "]",
		 "feature 1: coordinate 1e+12 is out of range"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,0],[10,10],[0,10]]]}", "{}") "]",
		 "feature 1: ring 1 is not closed"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,0],[0,0]]]}", "{}") "]",
		 "feature 1: ring 1 has fewer than 4 positions"},
		{"[" FEATURE("{\"type\":\"Polygon\",\"coordinates\":[]}", "{}") "]", "non-empty array of rings"},
		{"[" FEATURE("{\"type\":\"Circle\",\"coordinates\":[1,2]}", "{}") "]", "unknown geometry type 'Circle'"},
		{"[" FEATURE("{\"type\":\"Point\",\"coordinates\":[1]}", "{}") "]", "not an array of 2 or 3 numbers"},
		{"[" FEATURE("{\"coordinates\":[1,2]}", "{}") "]", "an object with a \"type\""},
		{"[{\"type\":\"Feature\",\"type\":\"Feature\"}]", "duplicate object key"},
		{"[{\"type\":\"Thing\"}]", "feature 1: not a GeoJSON Feature"},
		{"[" FEATURE(SQUARE, "[]") "]", "feature 1: \"properties\" is not an object"},
		{"[" FEATURE(SQUARE, "{\"classification\":7}") "]", "neither a string nor an object"},
		{"[" FEATURE(SQUARE, "{\"classification\":{\"names\":[\"a\",1]}}") "]", "\"names\" is not a non-empty"},
		{"[" FEATURE(SQUARE, "{\"classification\":{\"color\":[1,2,3]}}") "]", "has no \"name\""},
		{"[" FEATURE(SQUARE, "{\"classification\":{\"name\":\"a\\u0000b\"}}") "]", "NUL"},
		{"{\"type\":\"Topology\"}", "not a GeoJSON FeatureCollection or Feature (type 'Topology')"},
		{"{\"type\":\"FeatureCollection\",\"features\":{}}", "needs a \"features\" array"},
		{"{\"type\":\"FeatureCollection\",\"features\":[", "bad.geojson' line 1"},
		{"", "bad.geojson' line 1: '[' or '{' expected"},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(bad); i++) {
		fs = read_geo("bad.geojson", bad[i].text);
		ok(!fs && strstr(li_errmsg(), bad[i].msg), "refused: %s (%s)", bad[i].msg, li_errmsg());
		li_qp_features_free(fs);
	}
	fs = li_qp_read(in_dir("missing.geojson"));
	ok(!fs && strstr(li_errmsg(), "cannot open") && strstr(li_errmsg(), "missing.geojson"),
	   "a missing file: %s", li_errmsg());
	/* the line numbers of errors survive the NaN rewrite */
	fs = read_geo("lines.geojson", "[\n{\"type\": \"Feature\", \"geometry\": null, \"properties\": {\"m\": NaN}},"
				       "\n{\"x\": NaN NaN}]");
	ok(!fs && strstr(li_errmsg(), "lines.geojson' line 3"), "line numbers kept: %s", li_errmsg());

	/* the scanner that cuts the file into features: strings holding
	 * brackets, quotes and commas; what lies between the features */
	fs = read_geo("strings.geojson",
		"{\"bbox\": [0, 0, 1, 1], \"features\": [\n" FEATURE(SQUARE, "{\"name\": \"a\\\"]}{[,\\\\\"}") ",\n"
		FEATURE("null", "{\"classification\": {\"name\": \"]}\"}}") "\n], \"type\": \"FeatureCollection\"}\n");
	ok(fs && fs->n == 2 && !fs->f[0].not_tile && fs->f[0].x1 == 10 && !strcmp(fs->f[1].cls, "]}"),
	   "brackets and quotes in strings, type after features: %s", li_errmsg());
	li_qp_features_free(fs);
	fs = read_geo("empty.geojson", " {\"type\": \"FeatureCollection\", \"features\": [ ]} ");
	ok(fs && fs->n == 0, "an empty collection: %s", li_errmsg());
	li_qp_features_free(fs);
	static const struct {
		const char *text, *msg;
	} cut[] = {
		{"[" FEATURE(SQUARE, "{}") "\n" FEATURE(SQUARE, "{}") "]", "line 2: ',' or ']' expected after a feature"},
		{"[" FEATURE(SQUARE, "{}") ",]", "line 1: a feature expected"},
		{"[] x", "line 1: end of file expected"},
		{"{\"type\": \"FeatureCollection\", \"features\": []}\n}", "line 2: end of file expected"},
		{"{\"type\": \"FeatureCollection\",\n\"type\": \"Feature\"}", "line 2: duplicate object key \"type\""},
		{"{\"features\": [], \"features\": []}", "duplicate object key \"features\""},
		{"{\"type\": \"FeatureCollection\" \"features\": []}", "',' or '}' expected"},
		{"{\"type\" \"FeatureCollection\"}", "':' expected"},
		{"{\"type\": \"FeatureCollection\", \"features\": [], \"bbox\": [1,}", "bad.geojson' line 1"},
		{"{\"type\": \"FeatureCollection\", features: []}", "an object key expected"},
		{"{\"type\": \"FeatureCollection\", \"features\": {}}", "needs a \"features\" array"},
		{"{\"type\": \"FeatureCollection\"}", "needs a \"features\" array"},
		{"{\"type\": 5}", "(type 'none')"},
		{"[{\"type\": \"Feature\", \"geometry\": null]", "bad.geojson' line 1"},
		{"[\"Feature\"]", "feature 1: not a GeoJSON Feature"},
		{"[{\"type\": \"Feature\", \"name\": \"x", "the text ends inside a feature"},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(cut); i++) {
		fs = read_geo("bad.geojson", cut[i].text);
		ok(!fs && strstr(li_errmsg(), cut[i].msg), "refused: %s (%s)", cut[i].msg, li_errmsg());
		li_qp_features_free(fs);
	}
}

/* the brute-force match: the first square within the tolerance */
static size_t brute(const li_qp_feature *f, const li_qp_square *sq, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (fabs(f->x0 - sq[j].x0) <= LI_QP_TOL && fabs(f->y0 - sq[j].y0) <= LI_QP_TOL &&
		    fabs(f->x1 - sq[j].x1) <= LI_QP_TOL && fabs(f->y1 - sq[j].y1) <= LI_QP_TOL)
			return j;
	return SIZE_MAX;
}

static void test_match(void)
{
	/* a 30 x 30 grid of 224 px at stride 112 (overlapping), plus squares of
	 * another size at the same corners */
	enum { G = 30, N = 2 * G * G };
	li_qp_square *sq = malloc((N + 1) * sizeof *sq);
	size_t n = 0;
	for (int i = 0; i < G; i++)
		for (int j = 0; j < G; j++) {
			sq[n] = (li_qp_square){i * 112, j * 112, i * 112 + 224, j * 112 + 224, n};
			n++;
			sq[n] = (li_qp_square){i * 112, j * 112, i * 112 + 448.5, j * 112 + 448.5, n};
			n++;
		}
	for (size_t i = n - 1; i > 0; i--) { /* shuffle */
		size_t k = rnd() % (i + 1);
		li_qp_square tmp = sq[i];
		sq[i] = sq[k], sq[k] = tmp;
	}
	size_t a = 0, b = 0;
	ok(li_qp_squares_sort(sq, n, &a, &b) == 0, "no two squares alike");
	li_qp_features fs = {N + 3, calloc(N + 3, sizeof(li_qp_feature))};
	for (size_t i = 0; i < N; i++) {
		/* QuPath's 2 decimals move a side by at most 0.005 */
		double d[4];
		for (int k = 0; k < 4; k++)
			d[k] = ((int)(rnd() % 11) - 5) / 1000.0;
		const li_qp_square *s = &sq[rnd() % n];
		fs.f[i] = (li_qp_feature){i + 1, NULL, NULL, s->x0 + d[0], s->y0 + d[1], s->x1 + d[2], s->y1 + d[3]};
	}
	fs.f[N] = (li_qp_feature){N + 1, NULL, NULL, 112.06, 0, 336.06, 224};     /* beyond the tolerance */
	fs.f[N + 1] = (li_qp_feature){N + 2, NULL, "a Point", 0, 0, 224, 224};    /* not a rectangle */
	fs.f[N + 2] = (li_qp_feature){N + 3, NULL, NULL, 56, 56, 280, 280};       /* between tiles */
	size_t *match = malloc((N + 3) * sizeof *match);
	li_qp_match(&fs, sq, n, match);
	int bad = 0;
	for (size_t i = 0; i < N; i++)
		bad += match[i] == SIZE_MAX || match[i] != brute(&fs.f[i], sq, n);
	is_int(bad, 0, "%d jittered features each match their square, as a brute force finds", N);
	ok(match[N] == SIZE_MAX && match[N + 1] == SIZE_MAX && match[N + 2] == SIZE_MAX,
	   "beyond the tolerance, not a rectangle, between tiles: no match");

	/* far from the origin, a side that is not an integer, as QuPath writes
	 * it back: the vertex kept as a 32-bit float, then 2 decimals */
	li_qp_square far = {262144, 300000, 262144 + 224.01568, 300000 + 224.01568, 7};
	double fx1 = round((float)far.x1 * 100.0) / 100, fy1 = round((float)far.y1 * 100.0) / 100;
	li_qp_features one = {1, &(li_qp_feature){1, NULL, NULL, 262144, 300000, fx1, fy1}};
	size_t m1;
	li_qp_match(&one, &far, 1, &m1);
	ok(m1 == 0, "a corner at (262144, 300000) through float and 2 decimals (%.4f off) still matches",
	   fabs(fx1 - far.x1));
	/* a second square within the tolerance of one is a duplicate */
	sq[n] = (li_qp_square){336.004, 560, 560.004, 784, 12345};
	ok(li_qp_squares_sort(sq, n + 1, &a, &b) == 1 && b == 12345, "a duplicate square is found (rows %zu, %zu)",
	   a, b);
	for (size_t i = 0; i <= n; i++)
		if (sq[i].row == a)
			ok(sq[i].x0 == 336 && sq[i].y0 == 560 && sq[i].x1 == 560, "the square it duplicates");
	free(fs.f);
	free(match);
	free(sq);
}

/* li-tile --annotations reads QuPath's classes of every version. */
static void test_geojson_classes(void)
{
	li_geojson *g = li_geojson_read(put("classes.geojson",
		"[" FEATURE(SQUARE, "{\"classification\":{\"names\":[\"Tumor\",\"Positive\"],\"color\":[1,2,3]},"
				    "\"measurements\":{\"m\":NaN}}") ","
		FEATURE(SQUARE, "{\"classification\":{\"name\":\"Positive\",\"colorRGB\":-1,"
				"\"parentClass\":{\"name\":\"Tumor\",\"colorRGB\":-65536}}}") ","
		FEATURE(SQUARE, "{\"classification\":\"LI\"}") "," FEATURE(SQUARE, "{}") "]"));
	ok(g && g->npolys == 4, "read: %s", li_errmsg());
	if (g) {
		is_str(g->polys[0].cls, "Tumor: Positive", "QuPath 0.4 derived class (names), a NaN measurement");
		is_str(g->polys[1].cls, "Tumor: Positive", "QuPath 0.3 derived class (parentClass)");
		is_str(g->polys[2].cls, "LI", "a string class");
		is_str(g->polys[3].cls, "", "unclassified");
		is_int(li_geojson_count(g, "Tumor: Positive"), 2, "counted by class");
	}
	li_geojson_free(g);
	g = li_geojson_read(put("badclass.geojson", "[" FEATURE(SQUARE, "{}") "," FEATURE(SQUARE, "{\"classification\":[1]}") "]"));
	ok(!g && strstr(li_errmsg(), "badclass.geojson': feature 2: \"classification\" is neither"),
	   "a malformed class names the feature: %s", li_errmsg());
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	test_colours();
	test_canonical();
	test_writer();
	test_read();
	test_match();
	test_geojson_classes();
	if (test_dir_remove() != 0)
		diag("could not remove %s", test_dir);
	return done_testing();
}
