/* li_qupath.c: tiles to QuPath GeoJSON objects (jansson, one Feature at a
 * time, so memory does not grow with the slide) and QuPath's export back to
 * rectangles matched to tiles. See li_qupath.h. */
#include "li_qupath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "li_error.h"
#include "li_geojson.h"

/* ---- export ---- */

struct li_qp_writer {
	FILE *fp;
	char *name;
	li_qp_object type;
	bool legacy;
	size_t n;
};

static const char *const object_names[] = {"tile", "detection", "annotation"};

li_qp_writer *li_qp_writer_new(FILE *fp, const char *name, li_qp_object type,
			       bool legacy)
{
	LI_ASSERT(type >= LI_QP_TILE && type <= LI_QP_ANNOTATION);
	li_qp_writer *w = li_calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->name = li_strdup(name);
	if (!w->name) {
		free(w);
		return NULL;
	}
	w->fp = fp;
	w->type = type;
	w->legacy = legacy;
	if (fputs("{\"type\": \"FeatureCollection\", \"features\": [", fp) == EOF) {
		li_error("cannot write '%s'", name);
		li_qp_writer_free(w);
		return NULL;
	}
	return w;
}

void li_qp_writer_free(li_qp_writer *w)
{
	if (!w)
		return;
	free(w->name);
	free(w);
}

/* A number as JSON: an integer when it is one (224, not 224.0). */
static json_t *number(double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

/* Sets key to v (stolen); a NULL v (a failed constructor) is an error. */
static int put(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

static int push(json_t *arr, json_t *v)
{
	return v && json_array_append_new(arr, v) == 0 ? 0 : -1;
}

static json_t *point(double x, double y)
{
	return json_pack("[oo]", number(x), number(y));
}

/* A string, or an error naming what it is when it is not UTF-8. */
static json_t *text(const char *what, const char *s)
{
	json_t *j = json_string(s);
	if (!j) {
		char esc[256];
		li_error("%s '%s' is not valid UTF-8", what, li_escape(s, esc, sizeof esc));
	}
	return j;
}

static json_t *geometry(const li_qp_tile *t)
{
	const double x0 = t->x, y0 = t->y, x1 = t->x + t->side, y1 = t->y + t->side;
	json_t *ring = json_array(), *g = json_object();
	int bad = !ring || !g;
	/* counter-clockwise as written: positive area by the shoelace formula */
	bad = bad || push(ring, point(x0, y0)) < 0 || push(ring, point(x1, y0)) < 0 ||
	      push(ring, point(x1, y1)) < 0 || push(ring, point(x0, y1)) < 0 ||
	      push(ring, point(x0, y0)) < 0;
	bad = bad || put(g, "type", json_string("Polygon")) < 0 ||
	      put(g, "coordinates", json_pack("[O]", ring)) < 0;
	json_decref(ring);
	if (bad) {
		json_decref(g);
		if (!li_errmsg()[0])
			li_error("out of memory (a GeoJSON feature)");
		return NULL;
	}
	return g;
}

static json_t *measurements(const li_qp_writer *w, const li_qp_tile *t)
{
	json_t *m = w->legacy ? json_array() : json_object();
	if (!m)
		return NULL;
	for (int i = 0; i < t->nmeas; i++) {
		if (isnan(t->meas[i]))
			continue;
		json_t *name = text("measurement", t->meas_name[i]);
		json_t *v = isfinite(t->meas[i]) ? number(t->meas[i]) : NULL;
		int bad;
		if (w->legacy) /* json_pack's "O" takes a reference */
			bad = push(m, name && v ? json_pack("{sOsO}", "name", name, "value", v) : NULL) < 0;
		else
			bad = !name || !v || put(m, t->meas_name[i], json_incref(v)) < 0;
		json_decref(name);
		json_decref(v);
		if (bad) {
			json_decref(m);
			if (!li_errmsg()[0])
				li_error("measurement '%s' is not a finite number", t->meas_name[i]);
			return NULL;
		}
	}
	return m;
}

static json_t *properties(const li_qp_writer *w, const li_qp_tile *t)
{
	json_t *p = json_object();
	if (!p || put(p, "objectType", json_string(object_names[w->type])) < 0)
		goto fail;
	if (w->legacy && put(p, "object_type", json_string(object_names[w->type])) < 0)
		goto fail;
	if (t->name && put(p, "name", text("name", t->name)) < 0)
		goto fail;
	if (t->cls && t->cls[0]) {
		json_t *c = json_object();
		if (put(p, "classification", c) < 0 || put(c, "name", text("class", t->cls)) < 0)
			goto fail;
		if (t->rgb && put(c, "color", json_pack("[iii]", t->rgb[0], t->rgb[1], t->rgb[2])) < 0)
			goto fail;
	}
	/* a tile must not be moved by accident; its class can still be set */
	if (put(p, "isLocked", json_true()) < 0)
		goto fail;
	if (t->nmeas > 0 && put(p, "measurements", measurements(w, t)) < 0)
		goto fail;
	return p;
fail:
	json_decref(p);
	if (!li_errmsg()[0])
		li_error("out of memory (a GeoJSON feature)");
	return NULL;
}

static int utf8(const char *what, const char *s)
{
	json_t *j = s ? text(what, s) : json_null();
	json_decref(j);
	return j ? 0 : -1;
}

int li_qp_tile_check(const li_qp_tile *t)
{
	const double v[5] = {t->x, t->y, t->side, t->x + t->side, t->y + t->side};
	for (int i = 0; i < 5; i++)
		if (!isfinite(v[i]) || fabs(v[i]) > LI_GEO_MAX_COORD)
			return li_error("a tile at (%g, %g) of side %g lies beyond %g pixels", t->x, t->y,
					t->side, LI_GEO_MAX_COORD);
	if (!(t->side > 0))
		return li_error("a tile's side must be positive, not %g", t->side);
	if (utf8("name", t->name) < 0 || utf8("class", t->cls) < 0)
		return -1;
	for (int i = 0; i < t->nmeas; i++) {
		if (utf8("measurement", t->meas_name[i]) < 0)
			return -1;
		if (isinf(t->meas[i]))
			return li_error("measurement '%s' is not a finite number", t->meas_name[i]);
	}
	return 0;
}

int li_qp_writer_add(li_qp_writer *w, const li_qp_tile *t)
{
	li_error_clear();
	if (li_qp_tile_check(t) < 0)
		return -1;
	json_t *f = json_object();
	int bad = !f || put(f, "type", json_string("Feature")) < 0 || put(f, "geometry", geometry(t)) < 0 ||
		  put(f, "properties", properties(w, t)) < 0;
	if (!bad) {
		bad = fputs(w->n ? ",\n" : "\n", w->fp) == EOF ||
		      json_dumpf(f, w->fp, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) < 0;
		if (bad)
			li_error("cannot write '%s'", w->name);
	}
	json_decref(f);
	if (bad) {
		if (!li_errmsg()[0])
			li_error("out of memory (a GeoJSON feature)");
		return -1;
	}
	w->n++;
	return 0;
}

int li_qp_writer_end(li_qp_writer *w)
{
	if (fputs("\n]}\n", w->fp) == EOF || fflush(w->fp) == EOF || ferror(w->fp))
		return li_error("cannot write '%s'", w->name);
	return 0;
}

/* ---- class names and colours, as QuPath makes them ---- */

/* Java's String.hashCode over the UTF-16 code units of a UTF-8 string
 * (invalid bytes count as U+FFFD), as a signed 32-bit value. */
static int32_t java_hash(const char *s)
{
	uint32_t h = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t c = *p++, extra = 0;
		if (c >= 0xf8)
			c = 0xfffd;
		else if (c >= 0xf0)
			c &= 0x07, extra = 3;
		else if (c >= 0xe0)
			c &= 0x0f, extra = 2;
		else if (c >= 0xc0)
			c &= 0x1f, extra = 1;
		else if (c >= 0x80)
			c = 0xfffd;
		for (; extra; extra--) {
			if ((*p & 0xc0) != 0x80) {
				c = 0xfffd;
				break;
			}
			c = c << 6 | (*p++ & 0x3f);
		}
		if (c > 0x10ffff)
			c = 0xfffd;
		if (c >= 0x10000) {
			c -= 0x10000;
			h = 31 * h + (0xd800 + (c >> 10));
			c = 0xdc00 + (c & 0x3ff);
		}
		h = 31 * h + c;
	}
	return h >= 0x80000000u ? (int32_t)(h - 0x80000000u) - 0x7fffffff - 1 : (int32_t)h;
}

void li_qp_class_color(const char *name, uint8_t rgb[3])
{
	/* QuPath's own classes (PathClassFactory; Positive, Negative and the
	 * intensities are their base colour scaled by 1.25, clipped) */
	static const struct {
		const char *name;
		uint8_t rgb[3];
	} builtin[] = {
		{"Tumor", {200, 0, 0}}, {"Stroma", {150, 200, 150}}, {"Immune cells", {160, 90, 160}},
		{"Necrosis", {50, 50, 50}}, {"Other", {255, 200, 0}}, {"Region*", {0, 0, 180}},
		{"Ignore*", {180, 180, 180}}, {"Positive", {250, 62, 62}}, {"Negative", {112, 112, 225}},
		{"1+", {255, 255, 0}}, {"2+", {255, 187, 62}}, {"3+", {250, 62, 62}},
	};
	for (size_t i = 0; i < LI_ARRAY_LEN(builtin); i++)
		if (strcmp(name, builtin[i].name) == 0) {
			memcpy(rgb, builtin[i].rgb, 3);
			return;
		}
	/* java.util.Random: a 48-bit LCG; nextInt(256) keeps the top 8 of the
	 * 31 bits next(31) returns */
	const uint64_t mult = 0x5DEECE66DULL, mask = (1ULL << 48) - 1;
	uint64_t seed = ((uint64_t)(int64_t)java_hash(name) ^ mult) & mask;
	for (int i = 0; i < 3; i++) {
		seed = (seed * mult + 0xB) & mask;
		rgb[i] = (uint8_t)((seed >> 17) >> 23);
	}
}

static bool java_space(unsigned char c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

char *li_qp_class_canonical(const char *name)
{
	size_t n = strlen(name), cap;
	if (li_size_mul(n, 2, &cap) < 0 || li_size_add(cap, 1, &cap) < 0) {
		li_error("out of memory (a class name of %zu bytes)", n);
		return NULL;
	}
	char *out = li_malloc(cap); /* "a:b" becomes "a: b" */
	if (!out)
		return NULL;
	size_t k = 0;
	const char *p = name;
	for (;;) {
		const char *end = strchr(p, ':');
		const char *a = p, *b = end ? end : p + strlen(p);
		while (a < b && java_space((unsigned char)*a))
			a++;
		while (b > a && java_space((unsigned char)b[-1]))
			b--;
		/* "Unclassified" is QuPath's name for no class: a derived class of
		 * it is the part alone */
		bool skip = a == b || (k == 0 && b - a == 12 && memcmp(a, "Unclassified", 12) == 0);
		if (!skip) {
			if (k) {
				memcpy(out + k, ": ", 2);
				k += 2;
			}
			memcpy(out + k, a, (size_t)(b - a));
			k += (size_t)(b - a);
		}
		if (!end)
			break;
		p = end + 1;
	}
	out[k] = '\0';
	return out;
}

/* ---- import ---- */

typedef struct reader {
	const char *path;
	li_qp_features *fs;
	size_t cap;
	char *text; /* the file (NaN tokens made null) and its length */
	size_t n;
} reader;

static int fail(const reader *r, size_t feature, const char *what)
{
	return li_error("'%s': feature %zu: %s", r->path, feature, what);
}

void li_qp_features_free(li_qp_features *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i].cls);
	free(fs->f);
	free(fs);
}

/* A position: 2 or 3 finite numbers within LI_GEO_MAX_COORD. */
static int position(const reader *r, size_t feature, const json_t *pos, double *x, double *y)
{
	size_t n = json_array_size(pos);
	if (!json_is_array(pos) || n < 2 || n > 3)
		return fail(r, feature, "a position is not an array of 2 or 3 numbers");
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(pos, i);
		if (!json_is_number(v) || !isfinite(json_number_value(v)))
			return fail(r, feature, "a coordinate is not a finite number (NaN, infinite or not a number)");
		if (fabs(json_number_value(v)) > LI_GEO_MAX_COORD) {
			char msg[128];
			snprintf(msg, sizeof msg, "coordinate %g is out of range (at most %g pixels from the origin)",
				 json_number_value(v), LI_GEO_MAX_COORD);
			return fail(r, feature, msg);
		}
	}
	*x = json_number_value(json_array_get(pos, 0));
	*y = json_number_value(json_array_get(pos, 1));
	return 0;
}

/* Check coordinates nested `depth` arrays above positions (0: a position,
 * 1: a line or ring, 2: a polygon, 3: a multipolygon). */
static int nested(const reader *r, size_t feature, const json_t *c, int depth)
{
	double x, y;
	if (depth == 0)
		return position(r, feature, c, &x, &y);
	if (!json_is_array(c))
		return fail(r, feature, "geometry \"coordinates\" are not nested arrays of positions");
	for (size_t i = 0; i < json_array_size(c); i++)
		if (nested(r, feature, json_array_get(c, i), depth - 1) < 0)
			return -1;
	return 0;
}

/* A polygon's rings: each an array of 4 or more positions, closed. */
static int rings(const reader *r, size_t feature, const json_t *rs)
{
	if (!json_is_array(rs) || json_array_size(rs) == 0)
		return fail(r, feature, "a polygon's coordinates must be a non-empty array of rings");
	for (size_t i = 0; i < json_array_size(rs); i++) {
		const json_t *ring = json_array_get(rs, i);
		char msg[96];
		if (!json_is_array(ring) || json_array_size(ring) < 4) {
			snprintf(msg, sizeof msg, "ring %zu has fewer than 4 positions", i + 1);
			return fail(r, feature, msg);
		}
		if (nested(r, feature, ring, 1) < 0)
			return -1;
		double x0, y0, x1, y1;
		position(r, feature, json_array_get(ring, 0), &x0, &y0);
		position(r, feature, json_array_get(ring, json_array_size(ring) - 1), &x1, &y1);
		if (x0 != x1 || y0 != y1) {
			snprintf(msg, sizeof msg, "ring %zu is not closed (its last position must repeat the first)",
				 i + 1);
			return fail(r, feature, msg);
		}
	}
	return 0;
}

/* GeoJSON's geometry types: how deep their positions are nested, and why
 * they are not a tile. */
static const struct gtype {
	const char *name;
	int depth;
	const char *why;
} gtypes[] = {
	{"Point", 0, "a Point, not a Polygon"},
	{"MultiPoint", 1, "a MultiPoint, not a Polygon"},
	{"LineString", 1, "a LineString, not a Polygon"},
	{"MultiLineString", 2, "a MultiLineString, not a Polygon"},
	{"Polygon", 2, NULL},
	{"MultiPolygon", 3, "a MultiPolygon, not a Polygon"},
};

/* Check any geometry; why is set when it is not a rectangle. */
static int geometry_check(const reader *r, size_t feature, const json_t *g, li_qp_feature *f, int level)
{
	const char *type = json_string_value(json_object_get(g, "type"));
	if (!json_is_object(g) || !type)
		return fail(r, feature, "a geometry must be an object with a \"type\"");
	if (strcmp(type, "GeometryCollection") == 0) {
		const json_t *gs = json_object_get(g, "geometries");
		if (!json_is_array(gs))
			return fail(r, feature, "a GeometryCollection needs a \"geometries\" array");
		if (level > 8)
			return fail(r, feature, "GeometryCollections nested too deep");
		for (size_t i = 0; i < json_array_size(gs); i++)
			if (geometry_check(r, feature, json_array_get(gs, i), f, level + 1) < 0)
				return -1;
		f->not_tile = "a GeometryCollection, not a Polygon";
		return 0;
	}
	const struct gtype *gt = NULL;
	for (size_t i = 0; i < LI_ARRAY_LEN(gtypes); i++)
		if (strcmp(type, gtypes[i].name) == 0)
			gt = &gtypes[i];
	if (!gt) {
		char msg[128], esc[64];
		snprintf(msg, sizeof msg, "unknown geometry type '%s'", li_escape(type, esc, sizeof esc));
		return fail(r, feature, msg);
	}
	const json_t *c = json_object_get(g, "coordinates");
	if (gt->why ? nested(r, feature, c, gt->depth) < 0 : rings(r, feature, c) < 0)
		return -1;
	if (level > 0) /* inside a collection, which is not a tile */
		return 0;
	if (gt->why) {
		f->not_tile = gt->why;
		return 0;
	}
	if (json_array_size(c) > 1) {
		f->not_tile = "a polygon with holes, not a tile's square";
		return 0;
	}
	/* a rectangle: every edge axis-aligned, every vertex a corner of the
	 * bounds, and all four corners visited */
	const json_t *ring = json_array_get(c, 0);
	size_t n = json_array_size(ring);
	double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY, px = 0, py = 0;
	for (size_t i = 0; i < n; i++) {
		double x, y;
		position(r, feature, json_array_get(ring, i), &x, &y);
		x0 = fmin(x0, x), y0 = fmin(y0, y), x1 = fmax(x1, x), y1 = fmax(y1, y);
	}
	unsigned corners = 0;
	bool rect = x1 > x0 && y1 > y0;
	for (size_t i = 0; rect && i < n; i++) {
		double x, y;
		position(r, feature, json_array_get(ring, i), &x, &y);
		rect = (x == x0 || x == x1) && (y == y0 || y == y1) && (i == 0 || x == px || y == py);
		corners |= 1u << ((x == x1) + 2 * (y == y1));
		px = x, py = y;
	}
	if (!rect || corners != 15) {
		f->not_tile = "not an axis-aligned rectangle";
		return 0;
	}
	f->x0 = x0, f->y0 = y0, f->x1 = x1, f->y1 = y1;
	return 0;
}

static int add_feature(reader *r, const json_t *jf)
{
	const size_t index = r->fs->n + 1;
	const char *type = json_string_value(json_object_get(jf, "type"));
	if (!json_is_object(jf) || !type || strcmp(type, "Feature") != 0)
		return fail(r, index, "not a GeoJSON Feature");
	const json_t *props = json_object_get(jf, "properties");
	if (props && !json_is_object(props) && !json_is_null(props))
		return fail(r, index, "\"properties\" is not an object");
	li_qp_feature f = {.index = index};
	if (li_geojson_class_name(props, &f.cls) < 0) {
		char msg[LI_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", li_errmsg());
		return fail(r, index, msg);
	}
	const json_t *g = json_object_get(jf, "geometry");
	int rc = 0;
	if (!g || json_is_null(g))
		f.not_tile = "no geometry";
	else
		rc = geometry_check(r, index, g, &f, 0);
	if (rc == 0 && r->fs->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		li_qp_feature *q = li_realloc_array(r->fs->f, cap, sizeof *q);
		rc = q ? 0 : -1;
		if (q)
			r->fs->f = q, r->cap = cap;
	}
	if (rc < 0) {
		free(f.cls);
		return -1;
	}
	r->fs->f[r->fs->n++] = f;
	return 0;
}

/* ---- the file, one feature at a time ----
 * A tile export is large (200,000 tiles are 85 MB of GeoJSON, and a jansson
 * tree of it about 1 GB), so the text is cut into its features by a small
 * scanner of the top level (strings, brackets, commas), and each feature is
 * parsed by jansson alone: memory is the text plus one feature. jansson
 * checks every piece it parses; the scanner checks what lies between. */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Just past the string that opens at s[i], or SIZE_MAX at the end of text. */
static size_t string_end(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return SIZE_MAX;
}

/* Just past the value that starts at s[i] (an object or array by bracket
 * depth, a string, or a scalar up to a delimiter); SIZE_MAX when the text
 * ends inside it. Not a check: jansson parses the piece. */
static size_t value_end(const char *s, size_t n, size_t i)
{
	if (i < n && (s[i] == '{' || s[i] == '[')) {
		size_t depth = 0;
		while (i < n) {
			if (s[i] == '"') {
				i = string_end(s, n, i);
				if (i == SIZE_MAX)
					return SIZE_MAX;
				continue;
			}
			if (s[i] == '{' || s[i] == '[')
				depth++;
			else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
				return i + 1;
			i++;
		}
		return SIZE_MAX;
	}
	if (i < n && s[i] == '"')
		return string_end(s, n, i);
	while (i < n && s[i] != ',' && s[i] != ']' && s[i] != '}' && s[i] != ' ' && s[i] != '\t' &&
	       s[i] != '\n' && s[i] != '\r')
		i++;
	return i;
}

static int line_of(const reader *r, size_t at)
{
	int line = 1;
	for (size_t i = 0; i < at && i < r->n; i++)
		line += r->text[i] == '\n';
	return line;
}

static int syntax(const reader *r, size_t at, const char *what)
{
	return li_error("cannot parse '%s' line %d: %s", r->path, line_of(r, at), what);
}

/* Parse the piece [a, b) with jansson; errors give the line in the file. */
static json_t *piece(const reader *r, size_t a, size_t b)
{
	json_error_t je;
	json_t *j = json_loadb(r->text + a, b - a, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		li_error("cannot parse '%s' line %d: %s", r->path, line_of(r, a) + je.line - 1, je.text);
	return j;
}

/* The features of the array that opens at text[i]; *end is just past it. */
static int features(reader *r, size_t i, size_t *end)
{
	const char *s = r->text;
	const size_t n = r->n;
	i = skip_ws(s, n, i + 1);
	if (i < n && s[i] == ']') {
		*end = i + 1;
		return 0;
	}
	for (;;) {
		size_t e = value_end(s, n, i);
		if (e == SIZE_MAX)
			return syntax(r, n, "the text ends inside a feature");
		if (e == i)
			return syntax(r, i, "a feature expected");
		json_t *f = piece(r, i, e);
		int rc = f ? add_feature(r, f) : -1;
		json_decref(f);
		if (rc < 0)
			return -1;
		i = skip_ws(s, n, e);
		if (i < n && s[i] == ',') {
			i = skip_ws(s, n, i + 1);
			continue;
		}
		if (i < n && s[i] == ']') {
			*end = i + 1;
			return 0;
		}
		return syntax(r, i, "',' or ']' expected after a feature");
	}
}

/* A top-level object: a FeatureCollection (its "features" read one by
 * one), or a single Feature. */
static int collection(reader *r, size_t i)
{
	const char *s = r->text;
	const size_t n = r->n;
	size_t fa = SIZE_MAX, fe = 0;
	json_t *type = NULL;
	int rc = 0;
	i = skip_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		i++;
	else
		for (;;) {
			if (i >= n || s[i] != '"') {
				rc = syntax(r, i, "an object key expected");
				break;
			}
			size_t ke = string_end(s, n, i), k = i + 1;
			if (ke == SIZE_MAX) {
				rc = syntax(r, n, "the text ends inside a string");
				break;
			}
			i = skip_ws(s, n, ke);
			if (i >= n || s[i] != ':') {
				rc = syntax(r, i, "':' expected");
				break;
			}
			i = skip_ws(s, n, i + 1);
			size_t ve = value_end(s, n, i);
			if (ve == SIZE_MAX || ve == i) {
				rc = syntax(r, ve == SIZE_MAX ? n : i, "a value expected");
				break;
			}
			bool is_type = ke - k == 5 && memcmp(s + k, "type\"", 5) == 0;
			bool is_features = ke - k == 9 && memcmp(s + k, "features\"", 9) == 0;
			if ((is_type && type) || (is_features && fa != SIZE_MAX)) {
				rc = syntax(r, k, is_type ? "duplicate object key \"type\"" : "duplicate object key \"features\"");
				break;
			}
			if (is_features) {
				fa = i, fe = ve;
			} else { /* small values (type, bbox, crs, ...): parsed, so checked */
				json_t *v = piece(r, i, ve);
				if (!v) {
					rc = -1;
					break;
				}
				if (is_type)
					type = v;
				else
					json_decref(v);
			}
			i = skip_ws(s, n, ve);
			if (i < n && s[i] == ',') {
				i = skip_ws(s, n, i + 1);
				continue;
			}
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			rc = syntax(r, i, "',' or '}' expected");
			break;
		}
	if (rc == 0 && skip_ws(s, n, i) != n)
		rc = syntax(r, skip_ws(s, n, i), "end of file expected");
	const char *t = json_string_value(type);
	if (rc == 0 && t && strcmp(t, "FeatureCollection") == 0) {
		size_t end;
		if (fa == SIZE_MAX || s[fa] != '[')
			rc = li_error("'%s': a FeatureCollection needs a \"features\" array", r->path);
		else if ((rc = features(r, fa, &end)) == 0 && end != fe)
			rc = syntax(r, end, "the \"features\" array ends early");
	} else if (rc == 0 && t && strcmp(t, "Feature") == 0) {
		json_t *f = piece(r, 0, n);
		rc = f ? add_feature(r, f) : -1;
		json_decref(f);
	} else if (rc == 0) {
		char esc[64];
		rc = li_error("'%s': not a GeoJSON FeatureCollection or Feature (type '%s')", r->path,
			      t ? li_escape(t, esc, sizeof esc) : "none");
	}
	json_decref(type);
	return rc;
}

li_qp_features *li_qp_read(const char *path)
{
	reader r = {path, li_calloc(1, sizeof(li_qp_features)), 0, NULL, 0};
	if (!r.fs || !(r.text = li_geojson_load_text(path, &r.n))) {
		li_qp_features_free(r.fs);
		return NULL;
	}
	const char *s = r.text;
	size_t i = skip_ws(s, r.n, 0), end;
	int rc;
	if (i < r.n && s[i] == '[') {
		rc = features(&r, i, &end);
		if (rc == 0 && skip_ws(s, r.n, end) != r.n)
			rc = syntax(&r, skip_ws(s, r.n, end), "end of file expected");
	} else if (i < r.n && s[i] == '{') {
		rc = collection(&r, i);
	} else {
		rc = syntax(&r, i, "'[' or '{' expected");
	}
	free(r.text);
	if (rc < 0) {
		li_qp_features_free(r.fs);
		return NULL;
	}
	return r.fs;
}

/* ---- matching ---- */

static int cmp_square(const void *a, const void *b)
{
	const li_qp_square *p = a, *q = b;
	const double u[4] = {p->x0, p->y0, p->x1, p->y1}, v[4] = {q->x0, q->y0, q->x1, q->y1};
	for (int i = 0; i < 4; i++)
		if (u[i] != v[i])
			return u[i] < v[i] ? -1 : 1;
	return (p->row > q->row) - (p->row < q->row);
}

static bool same(double x0, double y0, double x1, double y1, const li_qp_square *s)
{
	return fabs(x0 - s->x0) <= LI_QP_TOL && fabs(y0 - s->y0) <= LI_QP_TOL &&
	       fabs(x1 - s->x1) <= LI_QP_TOL && fabs(y1 - s->y1) <= LI_QP_TOL;
}

/* The first index in [lo, hi) whose key is not below v (key 0: x0 < v;
 * key 1: y0 < v; key 2: x0 <= v, the end of a run of equal x0). */
static size_t bound(const li_qp_square *sq, size_t lo, size_t hi, int key, double v)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		bool below = key == 0 ? sq[mid].x0 < v : key == 1 ? sq[mid].y0 < v : sq[mid].x0 <= v;
		if (below)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first square of the sorted sq, other than `self`, within LI_QP_TOL of
 * the rectangle, or SIZE_MAX: squares of each x0 within the tolerance are
 * a run sorted by y0, searched by bisection. */
static size_t find(const li_qp_square *sq, size_t n, double x0, double y0, double x1, double y1,
		   size_t self)
{
	size_t j = bound(sq, 0, n, 0, x0 - LI_QP_TOL);
	while (j < n && sq[j].x0 <= x0 + LI_QP_TOL) {
		size_t end = bound(sq, j, n, 2, sq[j].x0);
		for (size_t k = bound(sq, j, end, 1, y0 - LI_QP_TOL); k < end && sq[k].y0 <= y0 + LI_QP_TOL; k++)
			if (k != self && same(x0, y0, x1, y1, &sq[k]))
				return k;
		j = end;
	}
	return SIZE_MAX;
}

int li_qp_squares_sort(li_qp_square *sq, size_t n, size_t *a, size_t *b)
{
	qsort(sq, n, sizeof *sq, cmp_square);
	for (size_t i = 0; i < n; i++) {
		size_t j = find(sq, n, sq[i].x0, sq[i].y0, sq[i].x1, sq[i].y1, i);
		if (j != SIZE_MAX) {
			*a = sq[i].row < sq[j].row ? sq[i].row : sq[j].row;
			*b = sq[i].row < sq[j].row ? sq[j].row : sq[i].row;
			return 1;
		}
	}
	return 0;
}

void li_qp_match(const li_qp_features *fs, const li_qp_square *sq, size_t n, size_t *match)
{
	for (size_t i = 0; i < fs->n; i++) {
		const li_qp_feature *f = &fs->f[i];
		match[i] = f->not_tile ? SIZE_MAX : find(sq, n, f->x0, f->y0, f->x1, f->y1, SIZE_MAX);
	}
}
