/* li_augment.c: augmentation operations on 8-bit images and the presets of
 * li-train --augment (see li_augment.h for the maths and parameters). */
#include "li_augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"

const char *const li_aug_names[LI_AUG_COUNT + 1] = {"none", "basic", "paper", "paper+stain", NULL};
_Static_assert(LI_ARRAY_LEN(li_aug_names) == LI_AUG_COUNT + 1, "one name per preset");

static inline uint8_t clip8(double v)
{
	if (!(v > 0))
		return 0;
	if (v >= 255)
		return 255;
	return (uint8_t)lrint(v);
}

/* Mirror index i into [0, n) without repeating the edge (BORDER_REFLECT_101). */
static inline int reflect101(int i, int n)
{
	if (n == 1)
		return 0;
	int period = 2 * (n - 1);
	i %= period;
	if (i < 0)
		i += period;
	return i < n ? i : period - i;
}

/* ---- exact permutations ---- */

void li_aug_hflip(li_image *img)
{
	int w = img->width, c = img->channels;
	for (int y = 0; y < img->height; y++) {
		uint8_t *row = img->data + (size_t)y * w * c;
		for (int a = 0, b = w - 1; a < b; a++, b--)
			for (int k = 0; k < c; k++) {
				uint8_t t = row[a * c + k];
				row[a * c + k] = row[b * c + k];
				row[b * c + k] = t;
			}
	}
}

void li_aug_vflip(li_image *img)
{
	size_t stride = (size_t)img->width * img->channels;
	uint8_t tmp[256];
	for (int a = 0, b = img->height - 1; a < b; a++, b--) {
		uint8_t *ra = img->data + a * stride, *rb = img->data + b * stride;
		for (size_t o = 0; o < stride; o += sizeof tmp) {
			size_t n = stride - o < sizeof tmp ? stride - o : sizeof tmp;
			memcpy(tmp, ra + o, n);
			memcpy(ra + o, rb + o, n);
			memcpy(rb + o, tmp, n);
		}
	}
}

static int need_square(const li_image *img, const char *op)
{
	if (img->width != img->height)
		return li_error("%s needs a square image, not %dx%d", op, img->width, img->height);
	return 0;
}

/* Remap pixel (x, y) of the output from (sx, sy) of a copy of the input. */
typedef void (*perm_fn)(int n, int x, int y, int *sx, int *sy);
static int permute(li_image *img, perm_fn f)
{
	int n = img->width, c = img->channels;
	size_t bytes = (size_t)n * n * c;
	uint8_t *src = li_malloc(bytes);
	if (!src)
		return -1;
	memcpy(src, img->data, bytes);
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++) {
			int sx, sy;
			f(n, x, y, &sx, &sy);
			memcpy(img->data + ((size_t)y * n + x) * c, src + ((size_t)sy * n + sx) * c, c);
		}
	free(src);
	return 0;
}

static void perm_transpose(int n, int x, int y, int *sx, int *sy) { (void)n; *sx = y; *sy = x; }
/* Counter-clockwise by 90: out(x, y) = in(n-1-y, x). */
static void perm_rot90(int n, int x, int y, int *sx, int *sy) { *sx = n - 1 - y; *sy = x; }
static void perm_rot180(int n, int x, int y, int *sx, int *sy) { *sx = n - 1 - x; *sy = n - 1 - y; }
static void perm_rot270(int n, int x, int y, int *sx, int *sy) { *sx = y; *sy = n - 1 - x; }

int li_aug_transpose(li_image *img)
{
	if (need_square(img, "transpose") < 0)
		return -1;
	return permute(img, perm_transpose);
}

int li_aug_rot90(li_image *img, int k)
{
	k = ((k % 4) + 4) % 4;
	if (k == 0)
		return 0;
	if (need_square(img, "rot90") < 0)
		return -1;
	return permute(img, k == 1 ? perm_rot90 : k == 2 ? perm_rot180 : perm_rot270);
}

int li_aug_dihedral(li_image *img, int d)
{
	if (li_aug_rot90(img, d % 4) < 0)
		return -1;
	if (d >= 4)
		li_aug_hflip(img);
	return 0;
}

/* ---- warps: bilinear sampling with a mirrored border ---- */

static void sample(const uint8_t *src, int w, int h, int c, double sx, double sy, uint8_t *out)
{
	double fx = floor(sx), fy = floor(sy);
	double ax = sx - fx, ay = sy - fy;
	int x0 = (int)fx, y0 = (int)fy;
	int xa = reflect101(x0, w), xb = reflect101(x0 + 1, w);
	int ya = reflect101(y0, h), yb = reflect101(y0 + 1, h);
	const uint8_t *p00 = src + ((size_t)ya * w + xa) * c, *p01 = src + ((size_t)ya * w + xb) * c;
	const uint8_t *p10 = src + ((size_t)yb * w + xa) * c, *p11 = src + ((size_t)yb * w + xb) * c;
	for (int k = 0; k < c; k++) {
		double top = p00[k] + ax * (p01[k] - p00[k]);
		double bot = p10[k] + ax * (p11[k] - p10[k]);
		out[k] = clip8(top + ay * (bot - top));
	}
}

int li_aug_affine(li_image *img, double scale, double degrees)
{
	int w = img->width, h = img->height, c = img->channels;
	if (!(scale > 0))
		return li_error("affine scale must be positive, not %g", scale);
	size_t bytes = (size_t)w * h * c;
	uint8_t *src = li_malloc(bytes);
	if (!src)
		return -1;
	memcpy(src, img->data, bytes);
	/* Inverse map: rotate by -angle and divide by scale. In image coordinates
	 * (y down) a counter-clockwise rotation on screen has matrix
	 * [cos sin; -sin cos] applied to (x, y). */
	double t = degrees * M_PI / 180.0, cs = cos(t) / scale, sn = sin(t) / scale;
	double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double dx = x - cx, dy = y - cy;
			double sx = cx + cs * dx - sn * dy, sy = cy + sn * dx + cs * dy;
			sample(src, w, h, c, sx, sy, img->data + ((size_t)y * w + x) * c);
		}
	free(src);
	return 0;
}

int li_aug_elastic(li_image *img, li_rng *rng, double amplitude, int cell)
{
	int w = img->width, h = img->height, c = img->channels;
	if (cell < 1)
		cell = 1;
	int gw = (w + cell - 1) / cell + 1, gh = (h + cell - 1) / cell + 1;
	size_t bytes = (size_t)w * h * c;
	uint8_t *src = li_malloc(bytes);
	double *g = li_malloc_array((size_t)gw * gh * 2, sizeof *g);
	if (!src || !g) {
		free(src);
		free(g);
		return -1;
	}
	memcpy(src, img->data, bytes);
	for (size_t i = 0; i < (size_t)gw * gh * 2; i++)
		g[i] = amplitude * li_rng_normal(rng);
	for (int y = 0; y < h; y++) {
		double gy = (double)y / cell;
		int iy = (int)gy;
		double ay = gy - iy;
		for (int x = 0; x < w; x++) {
			double gx = (double)x / cell;
			int ix = (int)gx;
			double ax = gx - ix;
			double d[2];
			for (int k = 0; k < 2; k++) {
				const double *q = g + k;
				double v00 = q[2 * ((size_t)iy * gw + ix)], v01 = q[2 * ((size_t)iy * gw + ix + 1)];
				double v10 = q[2 * ((size_t)(iy + 1) * gw + ix)];
				double v11 = q[2 * ((size_t)(iy + 1) * gw + ix + 1)];
				double top = v00 + ax * (v01 - v00), bot = v10 + ax * (v11 - v10);
				d[k] = top + ay * (bot - top);
			}
			sample(src, w, h, c, x + d[0], y + d[1], img->data + ((size_t)y * w + x) * c);
		}
	}
	free(src);
	free(g);
	return 0;
}

/* ---- filters ---- */

static int check_k(int k)
{
	if (k < 3 || k % 2 == 0 || k > 99)
		return li_error("kernel size must be odd and between 3 and 99, not %d", k);
	return 0;
}

/* Separable filter with weights wt[0..k): rows, then columns, in float. */
static int separable(li_image *img, const double *wt, int k)
{
	int w = img->width, h = img->height, c = img->channels, r = k / 2;
	size_t n = (size_t)w * h * c;
	float *tmp = li_malloc_array(n, sizeof *tmp);
	if (!tmp)
		return -1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int ch = 0; ch < c; ch++) {
				double s = 0;
				for (int j = -r; j <= r; j++)
					s += wt[j + r] * img->data[((size_t)y * w + reflect101(x + j, w)) * c + ch];
				tmp[((size_t)y * w + x) * c + ch] = (float)s;
			}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int ch = 0; ch < c; ch++) {
				double s = 0;
				for (int j = -r; j <= r; j++)
					s += wt[j + r] * tmp[((size_t)reflect101(y + j, h) * w + x) * c + ch];
				img->data[((size_t)y * w + x) * c + ch] = clip8(s);
			}
	free(tmp);
	return 0;
}

int li_aug_box_blur(li_image *img, int k)
{
	if (check_k(k) < 0)
		return -1;
	double wt[99];
	for (int i = 0; i < k; i++)
		wt[i] = 1.0 / k;
	return separable(img, wt, k);
}

int li_aug_gauss_blur(li_image *img, int k, double sigma)
{
	if (check_k(k) < 0)
		return -1;
	if (!(sigma > 0))
		sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8;
	double wt[99], sum = 0;
	for (int i = 0; i < k; i++) {
		double d = i - k / 2;
		wt[i] = exp(-d * d / (2 * sigma * sigma));
		sum += wt[i];
	}
	for (int i = 0; i < k; i++)
		wt[i] /= sum;
	return separable(img, wt, k);
}

int li_aug_median_blur(li_image *img, int k)
{
	if (check_k(k) < 0 || k > 15)
		return k > 15 ? li_error("median kernel size must be at most 15, not %d", k) : -1;
	int w = img->width, h = img->height, c = img->channels, r = k / 2;
	size_t n = (size_t)w * h * c;
	uint8_t *src = li_malloc(n);
	if (!src)
		return -1;
	memcpy(src, img->data, n);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int ch = 0; ch < c; ch++) {
				/* A 256-bin count is cheap for windows up to 15x15 and needs no sort. */
				unsigned short hist[256] = {0};
				for (int j = -r; j <= r; j++) {
					const uint8_t *row = src + (size_t)reflect101(y + j, h) * w * c;
					for (int i = -r; i <= r; i++)
						hist[row[(size_t)reflect101(x + i, w) * c + ch]]++;
				}
				int half = k * k / 2, acc = 0, v = 0;
				while ((acc += hist[v]) <= half)
					v++;
				img->data[((size_t)y * w + x) * c + ch] = (uint8_t)v;
			}
	free(src);
	return 0;
}

void li_aug_noise(li_image *img, li_rng *rng, double sd)
{
	size_t n = (size_t)img->width * img->height * img->channels;
	for (size_t i = 0; i < n; i++)
		img->data[i] = clip8(img->data[i] + sd * li_rng_normal(rng));
}

void li_aug_brightness_contrast(li_image *img, double alpha, double beta)
{
	uint8_t lut[256];
	for (int v = 0; v < 256; v++)
		lut[v] = clip8(alpha * v + beta);
	size_t n = (size_t)img->width * img->height * img->channels;
	for (size_t i = 0; i < n; i++)
		img->data[i] = lut[img->data[i]];
}

/* ---- HED stain jitter ---- */

/* Ruifrok & Johnston (2001) stain vectors (rows: H, E, DAB), normalised to
 * unit length in stain_matrix(); OD (row vector) = stains . M. */
static const double RJ[3][3] = {
	{0.65, 0.70, 0.29},
	{0.07, 0.99, 0.11},
	{0.27, 0.57, 0.78},
};

static void stain_matrix(double m[3][3], double inv[3][3])
{
	for (int i = 0; i < 3; i++) {
		double s = sqrt(RJ[i][0] * RJ[i][0] + RJ[i][1] * RJ[i][1] + RJ[i][2] * RJ[i][2]);
		for (int j = 0; j < 3; j++)
			m[i][j] = RJ[i][j] / s;
	}
	double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
		     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
		     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
	/* inverse by cofactors (the matrix is well conditioned) */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			int a = (j + 1) % 3, b = (j + 2) % 3, p = (i + 1) % 3, q = (i + 2) % 3;
			inv[i][j] = (m[a][p] * m[b][q] - m[a][q] * m[b][p]) / det;
		}
}

int li_aug_hed(li_image *img, const double alpha[3], const double beta[3])
{
	if (img->channels != 3)
		return li_error("stain jitter needs an RGB image, not %d channel(s)", img->channels);
	double m[3][3], inv[3][3];
	stain_matrix(m, inv);
	double od_lut[256];
	for (int v = 0; v < 256; v++)
		od_lut[v] = -log((v < 1 ? 1 : v) / 255.0);
	size_t n = (size_t)img->width * img->height;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = img->data + 3 * i;
		double od[3] = {od_lut[p[0]], od_lut[p[1]], od_lut[p[2]]}, s[3];
		for (int j = 0; j < 3; j++)
			s[j] = (od[0] * inv[0][j] + od[1] * inv[1][j] + od[2] * inv[2][j]) * alpha[j] + beta[j];
		for (int j = 0; j < 3; j++) {
			double o = s[0] * m[0][j] + s[1] * m[1][j] + s[2] * m[2][j];
			p[j] = clip8(255.0 * exp(-o));
		}
	}
	return 0;
}

/* ---- presets ---- */

static double unif(li_rng *r, double lo, double hi) { return lo + (hi - lo) * li_rng_uniform(r); }

static int paper(li_image *img, li_rng *r)
{
	int rc = 0;
	/* ShiftScaleRotate(scale_limit=0.5, no shift or rotation), p 1 */
	rc |= li_aug_affine(img, 1.0 + unif(r, -0.5, 0.5), 0.0);
	if (li_rng_uniform(r) < 0.5) {
		int which = (int)li_rng_below(r, 3);
		if (which == 0)
			rc |= li_aug_transpose(img);
		else if (which == 1)
			li_aug_hflip(img);
		else
			li_aug_vflip(img);
	}
	if (li_rng_uniform(r) < 0.8) {
		if (li_rng_below(r, 2) == 0)
			rc |= li_aug_elastic(img, r, img->width / 64.0, img->width / 8 > 4 ? img->width / 8 : 4);
		else
			rc |= li_aug_affine(img, 1.0, unif(r, -25, 25));
	}
	if (li_rng_uniform(r) < 0.2) {
		int k = 3 + 2 * (int)li_rng_below(r, 3); /* 3, 5 or 7 */
		switch (li_rng_below(r, 4)) {
		case 0: rc |= li_aug_box_blur(img, k); break;
		case 1: rc |= li_aug_gauss_blur(img, k, 0); break;
		case 2: li_aug_noise(img, r, sqrt(unif(r, 10, 50))); break;
		default: rc |= li_aug_median_blur(img, k); break;
		}
	}
	if (li_rng_uniform(r) < 0.5) {
		double a = 1.0 + unif(r, -0.2, 0.2), b = 255.0 * unif(r, -0.2, 0.2);
		li_aug_brightness_contrast(img, a, b);
	}
	return rc ? -1 : 0;
}

int li_augment(li_image *img, li_aug_preset preset, li_rng *rng)
{
	switch (preset) {
	case LI_AUG_NONE:
		return 0;
	case LI_AUG_BASIC:
		return li_aug_dihedral(img, (int)li_rng_below(rng, 8));
	case LI_AUG_PAPER:
		return paper(img, rng);
	case LI_AUG_PAPER_STAIN: {
		if (paper(img, rng) < 0)
			return -1;
		if (img->channels == 3) {
			double a[3], b[3];
			for (int j = 0; j < 3; j++) {
				a[j] = unif(rng, 0.95, 1.05);
				b[j] = unif(rng, -0.05, 0.05);
			}
			if (li_aug_hed(img, a, b) < 0)
				return -1;
		}
		return li_aug_rot90(img, (int)li_rng_below(rng, 4));
	}
	default:
		return li_error("unknown augmentation preset %d", (int)preset);
	}
}
