/* li_tissue.h: tissue detection on a slide thumbnail (li-tile), and coverage
 * maps that answer "what fraction of this level-0 rectangle is set" in O(1).
 *
 * The detector follows the usual whole-slide recipe (CLAM, PyHIST):
 *   1. HSV saturation of the RGB thumbnail: S = 255 (max - min) / max, 0 for
 *      black; stained tissue is saturated, glass is white or gray;
 *   2. a median blur (square window of 2r+1) against dust and noise;
 *   3. a threshold: Otsu's on the blurred saturation, but never below
 *      LI_TISSUE_OTSU_FLOOR, so a blank slide (whose "foreground" would be
 *      noise) yields no tissue; or a fixed one; a pixel is tissue when S > t;
 *   4. morphological closing (square window of 2r+1) to join ragged edges;
 *   5. holes filled: background not connected to the image border becomes
 *      tissue (holes larger than max_hole pixels are kept when max_hole > 0);
 *   6. 8-connected components smaller than min_area pixels are dropped.
 *
 * Masks are 1-channel li_image with 0 (out) and 255 (in); functions read any
 * non-zero byte as "in". All functions return 0 or -1 with li_error (out of
 * memory or bad arguments) and never print. */
#ifndef LI_TISSUE_H
#define LI_TISSUE_H
#include <stddef.h>
#include <stdint.h>

#include "li_image.h"

#define LI_TISSUE_OTSU_FLOOR 8

/* Saturation of an RGB image as a new 1-channel image; NULL with li_error. */
li_image *li_tissue_saturation(const li_image *rgb);
/* Median over a (2r+1)^2 window, edges replicated; a new image. */
li_image *li_tissue_median(const li_image *gray, int radius);
/* Otsu's threshold t of a 1-channel image: splitting into <= t and > t
 * maximises the between-class variance (the lowest such t on ties). A
 * constant image gives its value. */
int li_tissue_otsu(const li_image *gray);
/* In place: 255 where gray > t, else 0. */
void li_tissue_threshold(li_image *gray, int t);
/* In place: dilate then erode with a (2r+1)^2 square; pixels outside the
 * image neither dilate nor erode (the closing never eats the border). */
int li_tissue_close(li_image *mask, int radius);
/* In place: fill background regions (4-connected) that do not touch the
 * border; with max_hole > 0 only those of at most max_hole pixels. */
int li_tissue_fill_holes(li_image *mask, size_t max_hole);
/* 8-connected components: labels[i] = 0 for background, 1..n for the
 * component of pixel i; *n gets the count and, when sizes is not NULL, a
 * malloc'd array of n+1 pixel counts (sizes[0] unused). */
int li_tissue_components(const li_image *mask, int32_t *labels, int32_t *n, size_t **sizes);
/* In place: clear components of fewer than min_area pixels. */
int li_tissue_remove_small(li_image *mask, size_t min_area);

typedef struct li_tissue_opts {
	int median_radius;  /* 3: a 7x7 median */
	int close_radius;   /* 2: a 5x5 closing */
	int sthresh;        /* < 0: Otsu (floored at LI_TISSUE_OTSU_FLOOR) */
	size_t min_area;    /* pixels; 0 keeps every component */
	size_t max_hole;    /* pixels; 0 fills every hole */
} li_tissue_opts;
#define LI_TISSUE_OPTS_DEFAULT {3, 2, -1, 0, 0}

/* The whole recipe on an RGB thumbnail: a new mask, and the threshold used
 * in *thresh. NULL with li_error. */
li_image *li_tissue_detect(const li_image *rgb, const li_tissue_opts *o, int *thresh);

/* A coverage map: the summed-area table of a mask whose pixel is `scale`
 * level-0 pixels wide, so the covered fraction of any level-0 rectangle is
 * exact for the mask taken as a piecewise-constant function (partial pixels
 * count by their overlapped area). */
typedef struct li_coverage {
	int width, height; /* of the mask */
	double scale_x, scale_y; /* level-0 pixels per mask pixel */
	uint32_t *sum;     /* (width+1) * (height+1) */
} li_coverage;

li_coverage *li_coverage_new(const li_image *mask, double scale_x, double scale_y);
void li_coverage_free(li_coverage *c);
/* Fraction in [0, 1] of the level-0 rectangle [x, x+w) x [y, y+h) that is
 * set; parts outside the mask count as unset. */
double li_coverage_fraction(const li_coverage *c, double x, double y, double w, double h);
#endif
