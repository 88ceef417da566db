/* li_tissue.c: saturation, median blur, Otsu, closing, hole filling and
 * connected components on small 1-channel images (slide thumbnails), and
 * summed-area coverage maps. See li_tissue.h for the recipe. */
#include "li_tissue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"

static int check_gray(const li_image *g, const char *what)
{
	if (!g || g->channels != 1 || g->width <= 0 || g->height <= 0 || !g->data)
		return li_error("%s needs a 1-channel image", what);
	return 0;
}

li_image *li_tissue_saturation(const li_image *rgb)
{
	if (!rgb || rgb->channels != 3) {
		li_error("saturation needs an RGB image");
		return NULL;
	}
	li_image *s = li_image_new(rgb->width, rgb->height, 1);
	if (!s)
		return NULL;
	size_t n = (size_t)rgb->width * rgb->height;
	const uint8_t *p = rgb->data;
	for (size_t i = 0; i < n; i++, p += 3) {
		int mx = p[0], mn = p[0];
		for (int k = 1; k < 3; k++) {
			mx = p[k] > mx ? p[k] : mx;
			mn = p[k] < mn ? p[k] : mn;
		}
		/* Rounded like OpenCV's cvtColor(RGB2HSV) for 8-bit images. */
		s->data[i] = mx ? (uint8_t)((255 * (mx - mn) + mx / 2) / mx) : 0;
	}
	return s;
}

/* Huang's running median: one histogram per row, slid one column at a time;
 * the median m is tracked with the count of window pixels below it. */
li_image *li_tissue_median(const li_image *gray, int radius)
{
	if (check_gray(gray, "median blur") < 0)
		return NULL;
	if (radius < 0) {
		li_error("median radius %d is negative", radius);
		return NULL;
	}
	const int w = gray->width, h = gray->height;
	li_image *out = li_image_new(w, h, 1);
	if (!out)
		return NULL;
	const int k = 2 * radius + 1, half = (k * k) / 2; /* median rank */
	unsigned hist[256];
#define PX(xx, yy) gray->data[(size_t)((yy) < 0 ? 0 : (yy) >= h ? h - 1 : (yy)) * w + \
			      ((xx) < 0 ? 0 : (xx) >= w ? w - 1 : (xx))]
	for (int y = 0; y < h; y++) {
		memset(hist, 0, sizeof hist);
		for (int dy = -radius; dy <= radius; dy++)
			for (int dx = -radius; dx <= radius; dx++)
				hist[PX(dx, y + dy)]++;
		int m = 0;
		unsigned lt = 0; /* pixels < m */
		while (lt + hist[m] <= (unsigned)half)
			lt += hist[m++];
		out->data[(size_t)y * w] = (uint8_t)m;
		for (int x = 1; x < w; x++) {
			for (int dy = -radius; dy <= radius; dy++) {
				int a = PX(x - radius - 1, y + dy), b = PX(x + radius, y + dy);
				hist[a]--;
				if (a < m)
					lt--;
				hist[b]++;
				if (b < m)
					lt++;
			}
			while (lt > (unsigned)half)
				lt -= hist[--m];
			while (lt + hist[m] <= (unsigned)half)
				lt += hist[m++];
			out->data[(size_t)y * w + x] = (uint8_t)m;
		}
	}
#undef PX
	return out;
}

int li_tissue_otsu(const li_image *gray)
{
	LI_ASSERT(gray && gray->channels == 1);
	double hist[256] = {0};
	size_t n = (size_t)gray->width * gray->height;
	for (size_t i = 0; i < n; i++)
		hist[gray->data[i]]++;
	double total = 0;
	for (int i = 0; i < 256; i++)
		total += i * hist[i];
	double w0 = 0, s0 = 0, best = -1;
	int t = 0, lo = 255, hi = 0;
	for (int i = 0; i < 256; i++)
		if (hist[i] > 0) {
			lo = i < lo ? i : lo;
			hi = i;
		}
	if (lo >= hi)
		return lo; /* constant image */
	for (int i = lo; i < hi; i++) {
		w0 += hist[i];
		s0 += i * hist[i];
		double w1 = (double)n - w0;
		if (w0 == 0 || w1 == 0)
			continue;
		double d = s0 / w0 - (total - s0) / w1;
		double v = w0 * w1 * d * d;
		if (v > best * (1 + 1e-12)) {
			best = v;
			t = i;
		}
	}
	return t;
}

void li_tissue_threshold(li_image *gray, int t)
{
	size_t n = (size_t)gray->width * gray->height * gray->channels;
	for (size_t i = 0; i < n; i++)
		gray->data[i] = gray->data[i] > t ? 255 : 0;
}

/* One pass of a running max (dilate) or min (erode) along rows or columns;
 * outside pixels are ignored, which keeps the border from being eaten. */
static void morph_pass(const uint8_t *src, uint8_t *dst, int w, int h, int r, int vertical,
		       int dilate)
{
	int len = vertical ? h : w, lines = vertical ? w : h;
	size_t step = vertical ? (size_t)w : 1, lstep = vertical ? 1 : (size_t)w;
	for (int l = 0; l < lines; l++) {
		const uint8_t *s = src + l * lstep;
		uint8_t *d = dst + l * lstep;
		for (int i = 0; i < len; i++) {
			int a = i - r < 0 ? 0 : i - r, b = i + r >= len ? len - 1 : i + r;
			uint8_t v = dilate ? 0 : 255;
			for (int j = a; j <= b; j++) {
				uint8_t p = s[j * step] ? 255 : 0;
				v = dilate ? (p > v ? p : v) : (p < v ? p : v);
			}
			d[i * step] = v;
		}
	}
}

int li_tissue_close(li_image *mask, int radius)
{
	if (check_gray(mask, "closing") < 0)
		return -1;
	if (radius <= 0)
		return 0;
	const int w = mask->width, h = mask->height;
	uint8_t *tmp = li_malloc((size_t)w * h);
	if (!tmp)
		return -1;
	morph_pass(mask->data, tmp, w, h, radius, 0, 1);
	morph_pass(tmp, mask->data, w, h, radius, 1, 1);
	morph_pass(mask->data, tmp, w, h, radius, 0, 0);
	morph_pass(tmp, mask->data, w, h, radius, 1, 0);
	free(tmp);
	return 0;
}

/* Label the 4- or 8-connected regions of pixels whose "set" state equals
 * `want` (non-zero = set); labels must be zeroed by the caller. Returns the
 * count, or -1. sizes (may be NULL) receives a malloc'd array of count+1. */
static int32_t label_regions(const li_image *m, int want, int conn8, int32_t *labels,
			     size_t **sizes)
{
	const int w = m->width, h = m->height;
	const size_t n = (size_t)w * h;
	if (n > INT32_MAX)
		return li_error("mask of %dx%d pixels is too large", w, h);
	int32_t *queue = li_malloc_array(n, sizeof *queue);
	size_t cap = 64, *sz = sizes ? li_malloc_array(cap, sizeof *sz) : NULL;
	if (!queue || (sizes && !sz)) {
		free(queue);
		free(sz);
		return -1;
	}
	int32_t count = 0;
	for (size_t start = 0; start < n; start++) {
		if (labels[start] || (m->data[start] != 0) != want)
			continue;
		count++;
		size_t qh = 0, qt = 0, size = 0;
		labels[start] = count;
		queue[qt++] = (int32_t)start;
		while (qh < qt) {
			int32_t i = queue[qh++];
			int x = i % w, y = i / w;
			size++;
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					if ((!dx && !dy) || (!conn8 && dx && dy))
						continue;
					int nx = x + dx, ny = y + dy;
					if (nx < 0 || ny < 0 || nx >= w || ny >= h)
						continue;
					size_t j = (size_t)ny * w + nx;
					if (labels[j] || (m->data[j] != 0) != want)
						continue;
					labels[j] = count;
					queue[qt++] = (int32_t)j;
				}
		}
		if (sz) {
			if ((size_t)count + 1 >= cap) {
				size_t *p = li_realloc_array(sz, cap * 2, sizeof *sz);
				if (!p) {
					free(sz);
					free(queue);
					return -1;
				}
				sz = p;
				cap *= 2;
			}
			sz[count] = size;
		}
	}
	free(queue);
	if (sizes)
		*sizes = sz;
	return count;
}

int li_tissue_fill_holes(li_image *mask, size_t max_hole)
{
	if (check_gray(mask, "hole filling") < 0)
		return -1;
	const int w = mask->width, h = mask->height;
	const size_t n = (size_t)w * h;
	int32_t *lab = li_calloc(n, sizeof *lab);
	if (!lab)
		return -1;
	size_t *sizes = NULL;
	int32_t count = label_regions(mask, 0, 0, lab, &sizes);
	if (count < 0) {
		free(lab);
		return -1;
	}
	/* A background region touching the border is not a hole. */
	uint8_t *border = li_calloc((size_t)count + 1, 1);
	if (!border) {
		free(lab);
		free(sizes);
		return -1;
	}
	for (int x = 0; x < w; x++)
		border[lab[x]] = border[lab[(size_t)(h - 1) * w + x]] = 1;
	for (int y = 0; y < h; y++)
		border[lab[(size_t)y * w]] = border[lab[(size_t)y * w + w - 1]] = 1;
	for (size_t i = 0; i < n; i++) {
		int32_t l = lab[i];
		if (l && !border[l] && (max_hole == 0 || sizes[l] <= max_hole))
			mask->data[i] = 255;
	}
	free(border);
	free(sizes);
	free(lab);
	return 0;
}

int li_tissue_components(const li_image *mask, int32_t *labels, int32_t *n, size_t **sizes)
{
	if (check_gray(mask, "connected components") < 0)
		return -1;
	memset(labels, 0, (size_t)mask->width * mask->height * sizeof *labels);
	int32_t c = label_regions(mask, 1, 1, labels, sizes);
	if (c < 0)
		return -1;
	*n = c;
	return 0;
}

int li_tissue_remove_small(li_image *mask, size_t min_area)
{
	if (check_gray(mask, "small-region removal") < 0)
		return -1;
	if (min_area <= 1)
		return 0;
	const size_t n = (size_t)mask->width * mask->height;
	int32_t *lab = li_malloc_array(n, sizeof *lab), count;
	size_t *sizes = NULL;
	if (!lab || li_tissue_components(mask, lab, &count, &sizes) < 0) {
		free(lab);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (lab[i] && sizes[lab[i]] < min_area)
			mask->data[i] = 0;
	free(sizes);
	free(lab);
	return 0;
}

li_image *li_tissue_detect(const li_image *rgb, const li_tissue_opts *o, int *thresh)
{
	li_tissue_opts def = LI_TISSUE_OPTS_DEFAULT;
	if (!o)
		o = &def;
	li_image *sat = li_tissue_saturation(rgb);
	if (!sat)
		return NULL;
	li_image *m = li_tissue_median(sat, o->median_radius);
	li_image_free(sat);
	if (!m)
		return NULL;
	int t = o->sthresh;
	if (t < 0) {
		t = li_tissue_otsu(m);
		t = t < LI_TISSUE_OTSU_FLOOR ? LI_TISSUE_OTSU_FLOOR : t;
	}
	li_tissue_threshold(m, t);
	if (li_tissue_close(m, o->close_radius) < 0 || li_tissue_fill_holes(m, o->max_hole) < 0 ||
	    li_tissue_remove_small(m, o->min_area) < 0) {
		li_image_free(m);
		return NULL;
	}
	if (thresh)
		*thresh = t;
	return m;
}

li_coverage *li_coverage_new(const li_image *mask, double scale_x, double scale_y)
{
	if (check_gray(mask, "coverage map") < 0)
		return NULL;
	if (!(scale_x > 0) || !(scale_y > 0)) {
		li_error("coverage map scale must be positive");
		return NULL;
	}
	const int w = mask->width, h = mask->height;
	size_t n;
	if (li_size_mul((size_t)w + 1, (size_t)h + 1, &n) < 0 || (uint64_t)w * h > UINT32_MAX) {
		li_error("coverage map of %dx%d pixels is too large", w, h);
		return NULL;
	}
	li_coverage *c = li_calloc(1, sizeof *c);
	uint32_t *s = li_calloc(n, sizeof *s);
	if (!c || !s) {
		free(c);
		free(s);
		return NULL;
	}
	for (int y = 0; y < h; y++) {
		uint32_t row = 0;
		for (int x = 0; x < w; x++) {
			row += mask->data[(size_t)y * w + x] != 0;
			s[(size_t)(y + 1) * (w + 1) + x + 1] = s[(size_t)y * (w + 1) + x + 1] + row;
		}
	}
	c->width = w, c->height = h, c->scale_x = scale_x, c->scale_y = scale_y, c->sum = s;
	return c;
}

void li_coverage_free(li_coverage *c)
{
	if (!c)
		return;
	free(c->sum);
	free(c);
}

/* The integral of the mask over [0, x] x [0, y] in mask pixels: bilinear
 * inside a cell, which is exact for a piecewise-constant mask. */
static double integral(const li_coverage *c, double x, double y)
{
	x = x < 0 ? 0 : x > c->width ? c->width : x;
	y = y < 0 ? 0 : y > c->height ? c->height : y;
	int i = (int)x, j = (int)y;
	i = i >= c->width ? c->width - 1 : i;
	j = j >= c->height ? c->height - 1 : j;
	double u = x - i, v = y - j;
	const size_t W = (size_t)c->width + 1;
	double s00 = c->sum[(size_t)j * W + i], s10 = c->sum[(size_t)j * W + i + 1];
	double s01 = c->sum[(size_t)(j + 1) * W + i], s11 = c->sum[(size_t)(j + 1) * W + i + 1];
	return s00 * (1 - u) * (1 - v) + s10 * u * (1 - v) + s01 * (1 - u) * v + s11 * u * v;
}

double li_coverage_fraction(const li_coverage *c, double x, double y, double w, double h)
{
	if (!(w > 0) || !(h > 0))
		return 0;
	double x0 = x / c->scale_x, y0 = y / c->scale_y;
	double x1 = (x + w) / c->scale_x, y1 = (y + h) / c->scale_y;
	double a = integral(c, x1, y1) - integral(c, x0, y1) - integral(c, x1, y0) +
		   integral(c, x0, y0);
	double f = a / ((x1 - x0) * (y1 - y0));
	return f < 0 ? 0 : f > 1 ? 1 : f;
}
