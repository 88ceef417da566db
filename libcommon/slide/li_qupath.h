/* li_qupath.h: slide tiles as QuPath objects in GeoJSON, and back: the review
 * loop of li-geojson(1).
 *
 * Export: li_qp_writer streams a FeatureCollection, one Feature per tile, as
 * QuPath >= 0.4 writes its objects (PathObjectTypeAdapters, GsonTools):
 *     {"type": "Feature",
 *      "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x+s, y],
 *                   [x+s, y+s], [x, y+s], [x, y]]]},
 *      "properties": {"objectType": "tile", "name": "...",
 *                     "classification": {"name": "LI", "color": [r, g, b]},
 *                     "isLocked": true, "measurements": {"prob": 0.93, ...}}}
 * The ring is closed and counter-clockwise in (x, y) as written (positive
 * shoelace area; RFC 7946's right-hand rule; on screen, where y grows down,
 * it turns clockwise). Measurements are an object (QuPath >= 0.4). With
 * legacy, for QuPath 0.3 (which reads only objectType's old name, and
 * measurements only as a list): "object_type" too, and measurements as an
 * array of {"name", "value"} (QuPath >= 0.4 reads both forms, and prefers
 * objectType). One Feature per line.
 *
 * Import: li_qp_read reads a GeoJSON file (a FeatureCollection, an array of
 * Features or one Feature) into its features: each one's 1-based index, its
 * class (li_geojson_class_name: "" when unclassified) and, when its geometry
 * is a Polygon without holes whose ring is an axis-aligned rectangle, the
 * rectangle. Other geometries (points, lines, other polygons) are returned
 * with the reason they are not a tile; a missing or null geometry too.
 * Errors (NULL, li_error naming the file and feature): JSON that does not
 * parse, a duplicate key, a feature that is not a Feature object, properties
 * or classification of the wrong shape, an unknown geometry type, a position
 * that is not 2 or 3 finite numbers (NaN reads as null) or lies more than
 * LI_GEO_MAX_COORD from the origin, a ring of fewer than 4 positions or not
 * closed (QuPath refuses both).
 *
 * Matching: a feature is a tile when its rectangle equals the tile's square
 * within LI_QP_TOL pixels on every side: QuPath writes coordinates with 2
 * decimals (0.005 off at most) and keeps a polygon's vertices as 32-bit
 * floats (half a unit in the last place is 0.031 below 2^20 pixels), while
 * distinct tiles of a grid are a pixel apart or more. Geometry is the
 * key because QuPath keeps it, while it drops properties it does not know. */
#ifndef LI_QUPATH_H
#define LI_QUPATH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LI_QP_TOL 0.05

/* properties.objectType: QuPath's tile, detection or annotation object. */
typedef enum { LI_QP_TILE, LI_QP_DETECTION, LI_QP_ANNOTATION } li_qp_object;

typedef struct li_qp_tile {
	double x, y, side;       /* the square, level-0 pixels */
	const char *name;        /* properties.name; NULL for none */
	const char *cls;         /* class name; NULL or "" for unclassified */
	const uint8_t *rgb;      /* its colour (3 bytes); NULL for none */
	int nmeas;               /* measurements: names and values, NaN = absent */
	const char *const *meas_name;
	const double *meas;
} li_qp_tile;

/* Writes to fp, which it never closes; name labels messages. Errors: a
 * string that is not UTF-8 ("'name' 'x\xff' is not valid UTF-8"), a
 * coordinate that is not finite or beyond LI_GEO_MAX_COORD, a write error. */
typedef struct li_qp_writer li_qp_writer;
li_qp_writer *li_qp_writer_new(FILE *fp, const char *name, li_qp_object type,
			       bool legacy);
int li_qp_writer_add(li_qp_writer *w, const li_qp_tile *t);
/* What li_qp_writer_add would refuse in t, without writing it: to check
 * every tile before the first is written. 0 or -1. */
int li_qp_tile_check(const li_qp_tile *t);
/* Close the collection and flush; 0 or -1. */
int li_qp_writer_end(li_qp_writer *w);
void li_qp_writer_free(li_qp_writer *w);

/* The colour QuPath itself gives a class (PathClassFactory): its own for
 * its built-in classes (Tumor, Stroma, Immune cells, Necrosis, Other,
 * Region*, Ignore*, Positive, Negative, 1+, 2+, 3+), else three nextInt(256)
 * draws of a java.util.Random seeded with the name's Java hashCode (over its
 * UTF-16 code units): what QuPath picks for a class a file gives no colour. */
void li_qp_class_color(const char *name, uint8_t rgb[3]);
/* The name as QuPath stores it (PathClassFactory.getPathClass): split at
 * ':', each part stripped of white space, empty parts dropped, joined by
 * ": ". "" when nothing is left (QuPath: unclassified), and "" for
 * "Unclassified", its name for no class. Caller frees; NULL on no memory. */
char *li_qp_class_canonical(const char *name);

typedef struct li_qp_feature {
	size_t index;              /* 1-based, in file order */
	char *cls;                 /* class name, "" when unclassified */
	const char *not_tile;      /* NULL for a rectangle; else why not
				      ("a Point, not a Polygon", ...) */
	double x0, y0, x1, y1;     /* the rectangle (not_tile == NULL) */
} li_qp_feature;

typedef struct li_qp_features {
	size_t n;
	li_qp_feature *f;
} li_qp_features;

li_qp_features *li_qp_read(const char *path);
void li_qp_features_free(li_qp_features *fs);

/* A tile for matching: its square's bounds and the caller's row number. */
typedef struct li_qp_square {
	double x0, y0, x1, y1;
	size_t row;
} li_qp_square;

/* Sort squares by position; when two are the same square (within
 * LI_QP_TOL), return 1 with their rows in *a < *b (a feature could not tell
 * them apart), else 0. */
int li_qp_squares_sort(li_qp_square *sq, size_t n, size_t *a, size_t *b);
/* For each feature i, match[i] is the index in sq (sorted by
 * li_qp_squares_sort) of the square its rectangle equals, or SIZE_MAX when
 * it is not a rectangle or equals none. */
void li_qp_match(const li_qp_features *fs, const li_qp_square *sq, size_t n, size_t *match);
#endif
