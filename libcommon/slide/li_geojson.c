/* li_geojson.c: QuPath GeoJSON annotations (jansson) to polygons, and an
 * even-odd scanline rasteriser for label masks. */
#include "li_geojson.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "li_error.h"

typedef struct reader {
	const char *path;
	li_geojson *g;
	size_t cap;
	size_t feature; /* 1-based, for messages */
} reader;

static void poly_free(li_geo_polygon *p)
{
	free(p->cls);
	free(p->ring_start);
	free(p->xy);
}

void li_geojson_free(li_geojson *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->npolys; i++)
		poly_free(&g->polys[i]);
	free(g->polys);
	free(g);
}

static int fail(const reader *r, const char *what)
{
	if (r->feature)
		return li_error("'%s': feature %zu: %s", r->path, r->feature, what);
	return li_error("'%s': %s", r->path, what);
}

/* One polygon: an array of rings, each an array of [x, y] positions. */
static int add_polygon(reader *r, json_t *rings, const char *cls)
{
	if (!json_is_array(rings) || json_array_size(rings) == 0)
		return fail(r, "a polygon's coordinates must be a non-empty array of rings");
	li_geo_polygon p = {0};
	size_t nr = json_array_size(rings), npts = 0;
	for (size_t i = 0; i < nr; i++) {
		json_t *ring = json_array_get(rings, i);
		if (!json_is_array(ring))
			return fail(r, "a ring must be an array of positions");
		npts += json_array_size(ring);
	}
	p.nrings = (int)nr;
	p.ring_start = li_malloc_array(nr + 1, sizeof *p.ring_start);
	p.xy = li_malloc_array(npts ? npts : 1, 2 * sizeof *p.xy);
	p.cls = li_strdup(cls);
	p.feature = r->feature;
	if (!p.ring_start || !p.xy || !p.cls) {
		poly_free(&p);
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < nr; i++) {
		json_t *ring = json_array_get(rings, i);
		p.ring_start[i] = k;
		for (size_t j = 0; j < json_array_size(ring); j++) {
			json_t *pos = json_array_get(ring, j);
			json_t *x = json_array_get(pos, 0), *y = json_array_get(pos, 1);
			if (!json_is_array(pos) || !json_is_number(x) || !json_is_number(y) ||
			    !isfinite(json_number_value(x)) || !isfinite(json_number_value(y))) {
				poly_free(&p);
				char msg[96];
				snprintf(msg, sizeof msg, "ring %zu: coordinate %zu is not a pair of numbers",
					 i + 1, j + 1);
				return fail(r, msg);
			}
			if (fabs(json_number_value(x)) > LI_GEO_MAX_COORD ||
			    fabs(json_number_value(y)) > LI_GEO_MAX_COORD) {
				poly_free(&p);
				char msg[192];
				snprintf(msg, sizeof msg, "ring %zu: coordinate %zu (%g, %g) is out of range "
					 "(at most %g pixels from the origin)", i + 1, j + 1,
					 json_number_value(x), json_number_value(y), LI_GEO_MAX_COORD);
				return fail(r, msg);
			}
			p.xy[2 * k] = json_number_value(x);
			p.xy[2 * k + 1] = json_number_value(y);
			k++;
		}
		size_t n = k - p.ring_start[i];
		if (n >= 2 && p.xy[2 * p.ring_start[i]] == p.xy[2 * (k - 1)] &&
		    p.xy[2 * p.ring_start[i] + 1] == p.xy[2 * (k - 1) + 1])
			k--, n--; /* the closing point repeats the first */
		if (n < 3) {
			poly_free(&p);
			char msg[64];
			snprintf(msg, sizeof msg, "ring %zu has fewer than 3 points", i + 1);
			return fail(r, msg);
		}
	}
	p.ring_start[nr] = k;
	if (r->g->npolys == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		li_geo_polygon *q = li_realloc_array(r->g->polys, cap, sizeof *q);
		if (!q) {
			poly_free(&p);
			return -1;
		}
		r->g->polys = q;
		r->cap = cap;
	}
	r->g->polys[r->g->npolys++] = p;
	return 0;
}

static int add_geometry(reader *r, json_t *geom, const char *cls)
{
	if (json_is_null(geom) || !geom) {
		r->g->nskipped++;
		return 0;
	}
	const char *type = json_string_value(json_object_get(geom, "type"));
	json_t *coords = json_object_get(geom, "coordinates");
	if (!json_is_object(geom) || !type)
		return fail(r, "a geometry must be an object with a \"type\"");
	if (strcmp(type, "Polygon") == 0)
		return add_polygon(r, coords, cls);
	if (strcmp(type, "MultiPolygon") == 0) {
		if (!json_is_array(coords))
			return fail(r, "a MultiPolygon's coordinates must be an array of polygons");
		for (size_t i = 0; i < json_array_size(coords); i++)
			if (add_polygon(r, json_array_get(coords, i), cls) < 0)
				return -1;
		return 0;
	}
	if (strcmp(type, "GeometryCollection") == 0) {
		json_t *gs = json_object_get(geom, "geometries");
		for (size_t i = 0; i < json_array_size(gs); i++)
			if (add_geometry(r, json_array_get(gs, i), cls) < 0)
				return -1;
		return 0;
	}
	r->g->nskipped++; /* Point, LineString, ...: not an area */
	return 0;
}

static int add_feature(reader *r, json_t *f)
{
	r->feature++;
	const char *type = json_string_value(json_object_get(f, "type"));
	if (!json_is_object(f) || !type || strcmp(type, "Feature") != 0)
		return fail(r, "not a GeoJSON Feature");
	char *cls;
	if (li_geojson_class_name(json_object_get(f, "properties"), &cls) < 0) {
		char msg[LI_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", li_errmsg());
		return fail(r, msg);
	}
	int rc = add_geometry(r, json_object_get(f, "geometry"), cls);
	free(cls);
	return rc;
}

/* Append the n bytes of s to the growing string *buf (*len used); 0 or -1. */
static int append(char **buf, size_t *len, const char *s, size_t n)
{
	char *b = li_realloc_array(*buf, *len + n + 1, 1);
	if (!b)
		return -1;
	memcpy(b + *len, s, n);
	*len += n;
	b[*len] = '\0';
	*buf = b;
	return 0;
}

/* The full name of a QuPath class object: "names" joined by ": " (QuPath >=
 * 0.4 derived classes), else "name" after its "parentClass"'s (0.2, 0.3). */
static int class_object_name(const json_t *c, char **buf, size_t *len)
{
	const json_t *names = json_object_get(c, "names");
	if (names) {
		if (!json_is_array(names) || json_array_size(names) == 0)
			return li_error("classification \"names\" is not a non-empty array of strings");
		for (size_t i = 0; i < json_array_size(names); i++) {
			const json_t *s = json_array_get(names, i);
			if (!json_is_string(s))
				return li_error("classification \"names\" is not a non-empty array of strings");
			if ((i && append(buf, len, ": ", 2) < 0) ||
			    append(buf, len, json_string_value(s), json_string_length(s)) < 0)
				return -1;
		}
		return 0;
	}
	const json_t *name = json_object_get(c, "name");
	if (!json_is_string(name))
		return li_error("classification has no \"name\" string");
	const json_t *parent = json_object_get(c, "parentClass");
	if (json_is_object(parent)) {
		if (class_object_name(parent, buf, len) < 0 || append(buf, len, ": ", 2) < 0)
			return -1;
	} else if (parent && !json_is_null(parent)) {
		return li_error("classification \"parentClass\" is not an object");
	}
	return append(buf, len, json_string_value(name), json_string_length(name));
}

int li_geojson_class_name(const json_t *props, char **name)
{
	*name = NULL;
	const json_t *c = json_is_object(props) ? json_object_get(props, "classification") : NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;
	if (!c || json_is_null(c))
		rc = append(&buf, &len, "", 0);
	else if (json_is_string(c))
		rc = append(&buf, &len, json_string_value(c), json_string_length(c));
	else if (json_is_object(c))
		rc = class_object_name(c, &buf, &len);
	else
		rc = li_error("\"classification\" is neither a string nor an object");
	if (rc == 0 && strlen(buf) != len)
		rc = li_error("a class name holds a NUL character");
	if (rc < 0) {
		free(buf);
		return -1;
	}
	*name = buf;
	return 0;
}

/* QuPath writes an undefined measurement as a bare NaN (gson's special
 * floating-point values), which JSON does not have: outside strings, NaN,
 * Infinity and -Infinity become null (lines keep their numbers), so such a
 * file parses and a coordinate that was NaN is refused as not a number. */
static char *specials_to_null(const char *s, size_t n, size_t *outn)
{
	static const char *const tok[] = {"NaN", "Infinity", "-Infinity"};
	size_t cap;
	if (li_size_mul(n, 2, &cap) < 0 || li_size_add(cap, 1, &cap) < 0) {
		li_error("out of memory (a GeoJSON file of %zu bytes)", n);
		return NULL;
	}
	char *o = li_malloc(cap);
	if (!o)
		return NULL;
	size_t k = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (in_str) {
			if (ch == '\\' && i + 1 < n)
				o[k++] = ch, ch = s[++i];
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == 'N' || ch == 'I' || ch == '-') {
			size_t t = ch == 'N' ? 0 : ch == 'I' ? 1 : 2, len = strlen(tok[t]);
			if (n - i >= len && memcmp(s + i, tok[t], len) == 0) {
				memcpy(o + k, "null", 4); /* len + 1 <= 2 * len: fits */
				k += 4;
				for (size_t p = 4; p < len; p++)
					o[k++] = ' ';
				i += len - 1;
				continue;
			}
		}
		o[k++] = ch;
	}
	o[k] = '\0';
	*outn = k;
	return o;
}

char *li_geojson_load_text(const char *path, size_t *len_out)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		li_error("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	char *text = NULL, chunk[65536];
	size_t len = 0, got;
	int bad = 0;
	while (!bad && (got = fread(chunk, 1, sizeof chunk, fp)) > 0)
		bad = append(&text, &len, chunk, got) < 0;
	if (!bad && ferror(fp))
		bad = li_error("cannot read '%s': %s", path, strerror(errno));
	fclose(fp);
	char *clean = bad ? NULL : specials_to_null(text ? text : "", len, len_out);
	free(text);
	return clean;
}

static json_t *load_json(const char *path)
{
	size_t n;
	char *text = li_geojson_load_text(path, &n);
	if (!text)
		return NULL;
	json_error_t je;
	json_t *root = json_loadb(text, n, 0, &je);
	free(text);
	if (!root)
		li_error("cannot parse '%s' line %d: %s", path, je.line, je.text);
	return root;
}

li_geojson *li_geojson_read(const char *path)
{
	json_t *root = load_json(path);
	if (!root)
		return NULL;
	reader r = {path, li_calloc(1, sizeof(li_geojson)), 0, 0};
	int rc = -1;
	if (!r.g)
		goto out;
	const char *type = json_string_value(json_object_get(root, "type"));
	if (json_is_array(root)) {
		rc = 0;
		for (size_t i = 0; rc == 0 && i < json_array_size(root); i++)
			rc = add_feature(&r, json_array_get(root, i));
	} else if (type && strcmp(type, "FeatureCollection") == 0) {
		json_t *fs = json_object_get(root, "features");
		if (!json_is_array(fs)) {
			rc = fail(&r, "a FeatureCollection needs a \"features\" array");
			goto out;
		}
		rc = 0;
		for (size_t i = 0; rc == 0 && i < json_array_size(fs); i++)
			rc = add_feature(&r, json_array_get(fs, i));
	} else if (type && strcmp(type, "Feature") == 0) {
		rc = add_feature(&r, root);
	} else if (type && (strcmp(type, "Polygon") == 0 || strcmp(type, "MultiPolygon") == 0)) {
		rc = add_geometry(&r, root, "");
	} else {
		char msg[128];
		snprintf(msg, sizeof msg, "not a GeoJSON FeatureCollection, Feature or Polygon (type '%.60s')",
			 type ? type : "none");
		rc = fail(&r, msg);
	}
out:
	json_decref(root);
	if (rc < 0) {
		li_geojson_free(r.g);
		return NULL;
	}
	return r.g;
}

size_t li_geojson_count(const li_geojson *g, const char *cls)
{
	size_t n = 0;
	for (size_t i = 0; i < g->npolys; i++)
		n += !cls || strcmp(g->polys[i].cls, cls) == 0;
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* (int)v for v clamped to [lo, hi]; NaN gives lo (a plain cast of NaN or of a
 * value out of int's range is undefined, and was INT_MIN in practice). */
static int clamp_int(double v, int lo, int hi)
{
	return !(v >= lo) ? lo : v > hi ? hi : (int)v;
}

/* Where the edge (x0, y0)-(x1, y1) crosses the line y = yc. When a span
 * overflows (huge finite coordinates) the plain formula gives inf/inf = NaN;
 * then t is computed on halves, kept in [0, 1], and the crossing written as a
 * weighted mean, which is never NaN. The plain formula stays for every other
 * edge, so masks are bit-for-bit what they were. */
static double crossing(double x0, double y0, double x1, double y1, double yc)
{
	double x = x0 + (yc - y0) * (x1 - x0) / (y1 - y0);
	if (isfinite(x))
		return x;
	double t = (yc / 2 - y0 / 2) / (y1 / 2 - y0 / 2);
	t = !(t >= 0) ? 0 : t > 1 ? 1 : t;
	return x0 * (1 - t) + x1 * t;
}

int li_geojson_rasterize(const li_geojson *g, const char *cls, li_image *mask, double downsample)
{
	if (!mask || mask->channels != 1 || !(downsample > 0))
		return li_error("rasterising needs a 1-channel mask and a positive downsample");
	const int w = mask->width, h = mask->height;
	memset(mask->data, 0, (size_t)w * h);
	size_t maxpts = 0;
	for (size_t i = 0; i < g->npolys; i++) {
		size_t n = g->polys[i].ring_start[g->polys[i].nrings];
		maxpts = n > maxpts ? n : maxpts;
	}
	double *xs = li_malloc_array(maxpts ? maxpts : 1, sizeof *xs);
	if (!xs)
		return -1;
	for (size_t pi = 0; pi < g->npolys; pi++) {
		const li_geo_polygon *p = &g->polys[pi];
		if (cls && strcmp(p->cls, cls) != 0)
			continue;
		const size_t n = p->ring_start[p->nrings];
		double ymin = INFINITY, ymax = -INFINITY;
		for (size_t k = 0; k < n; k++) {
			ymin = fmin(ymin, p->xy[2 * k + 1]);
			ymax = fmax(ymax, p->xy[2 * k + 1]);
		}
		/* Rows whose centre (j + 0.5) * ds lies in [ymin, ymax]. */
		double j0 = ceil(ymin / downsample - 0.5), j1 = floor(ymax / downsample - 0.5);
		const int jlo = clamp_int(j0, 0, h), jhi = clamp_int(j1, -1, h - 1);
		for (int j = jlo; j <= jhi; j++) {
			double yc = (j + 0.5) * downsample;
			size_t nx = 0;
			for (int rg = 0; rg < p->nrings; rg++) {
				size_t a = p->ring_start[rg], b = p->ring_start[rg + 1];
				for (size_t k = a; k < b; k++) {
					size_t l = k + 1 < b ? k + 1 : a;
					double x0 = p->xy[2 * k], y0 = p->xy[2 * k + 1];
					double x1 = p->xy[2 * l], y1 = p->xy[2 * l + 1];
					/* Half-open in y, so a vertex is crossed once. */
					if ((y0 <= yc) != (y1 <= yc))
						xs[nx++] = crossing(x0, y0, x1, y1, yc);
				}
			}
			qsort(xs, nx, sizeof *xs, cmp_double);
			uint8_t *row = mask->data + (size_t)j * w;
			for (size_t k = 0; k + 1 < nx; k += 2) {
				/* Columns whose centre lies in [xs[k], xs[k+1]). */
				double i0 = ceil(xs[k] / downsample - 0.5);
				double i1 = ceil(xs[k + 1] / downsample - 0.5) - 1;
				const int ilo = clamp_int(i0, 0, w), ihi = clamp_int(i1, -1, w - 1);
				for (int i = ilo; i <= ihi; i++)
					row[i] = 255;
			}
		}
	}
	free(xs);
	return 0;
}
