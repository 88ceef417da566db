/* li_geojson.h: annotation polygons from QuPath's GeoJSON export, and their
 * rasterisation into a label mask (li-tile --annotations).
 *
 * Accepted input: a FeatureCollection, a single Feature, an array of
 * Features (QuPath before 0.4), or a bare Polygon / MultiPolygon geometry.
 * Polygon and MultiPolygon geometries become polygons (each part of a
 * MultiPolygon is one polygon); other geometries (points, lines, null) are
 * counted in nskipped. Coordinates are level-0 pixels (QuPath's convention).
 * The class is properties.classification.name (QuPath >= 0.2), its
 * "names" joined by ": " (a derived class, QuPath >= 0.4: ["Tumor",
 * "Positive"] is "Tumor: Positive"), "name" after its "parentClass"'s (a
 * derived class, QuPath 0.2 and 0.3), or properties.classification when it
 * is a string; "" when absent; any other shape is an error naming the
 * feature. Bare NaN, Infinity and -Infinity tokens (QuPath writes them for
 * undefined measurements; JSON has none) are read as null.
 *
 * Coordinates must be finite and at most LI_GEO_MAX_COORD from the origin
 * (far beyond any slide; larger values are refused as corrupt, naming the
 * feature). Rings need 3 or more points; an explicit closing point (equal to the
 * first) is dropped, an open ring is closed implicitly. Errors name the file
 * and the 1-based feature: "'a.geojson': feature 3: ring 2 has fewer than 3
 * points". */
#ifndef LI_GEOJSON_H
#define LI_GEOJSON_H
#include <stddef.h>

#include "li_image.h"

#define LI_GEO_MAX_COORD 1e9

typedef struct li_geo_polygon {
	char *cls;         /* class name, "" when none */
	int nrings;        /* ring 0 is the outline, the others are holes */
	size_t *ring_start; /* nrings + 1 offsets (in points) into xy */
	double *xy;        /* x, y pairs in level-0 pixels */
	size_t feature;    /* 1-based feature it came from */
} li_geo_polygon;

typedef struct li_geojson {
	size_t npolys;
	li_geo_polygon *polys;
	size_t nskipped;   /* features with a geometry that is not a polygon */
} li_geojson;

/* Read and check a file; NULL with li_error. */
li_geojson *li_geojson_read(const char *path);
/* The text of a GeoJSON file with NaN, Infinity and -Infinity outside
 * strings made null (padded with spaces: offsets move, lines do not), NUL
 * terminated, its length in *len; NULL with li_error ("cannot open ...").
 * The caller frees it. */
char *li_geojson_load_text(const char *path, size_t *len);
struct json_t;
/* The class name of a Feature's properties (see above) in *name, which the
 * caller frees; 0, or -1 with li_error (without the file and feature). */
int li_geojson_class_name(const struct json_t *props, char **name);
void li_geojson_free(li_geojson *g);
/* Number of polygons of class cls (NULL: all). */
size_t li_geojson_count(const li_geojson *g, const char *cls);

/* Rasterise the polygons of class cls (NULL: every class) into mask, a
 * 1-channel image whose pixel is `downsample` level-0 pixels wide: a pixel is
 * 255 when its centre is inside a polygon (even-odd rule over the polygon's
 * rings, so holes stay empty; polygons are OR'ed), else 0. Returns 0 or -1. */
int li_geojson_rasterize(const li_geojson *g, const char *cls, li_image *mask, double downsample);
#endif
