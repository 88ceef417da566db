/* li_image.c: the image type, pixel conversion, resize and crop: the bottom
 * of the image district, below the codecs (li_png.c, li_jpeg.c) and the file
 * I/O that dispatches to them (li_image_io.c). */
#include "li_image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "li_error.h"

li_image *li_image_new(int width, int height, int channels)
{
	size_t n;
	if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
		li_error("invalid image shape %dx%dx%d", width, height, channels);
		return NULL;
	}
	if (li_size_mul((size_t)width, (size_t)height, &n) < 0 ||
	    li_size_mul(n, (size_t)channels, &n) < 0) {
		li_error("image size overflow (%dx%dx%d)", width, height, channels);
		return NULL;
	}
	li_image *img = li_malloc(sizeof *img);
	if (!img)
		return NULL;
	img->data = li_calloc(n, 1);
	if (!img->data) {
		free(img);
		return NULL;
	}
	img->width = width;
	img->height = height;
	img->channels = channels;
	return img;
}

void li_image_free(li_image *img)
{
	if (!img)
		return;
	free(img->data);
	free(img);
}

static size_t image_bytes(const li_image *img)
{
	return (size_t)img->width * (size_t)img->height * (size_t)img->channels;
}

int li_image_check(const li_image *img)
{
	if (!img || !img->data || img->width <= 0 || img->height <= 0 ||
	    (img->channels != 1 && img->channels != 3))
		return li_error("invalid image");
	return 0;
}

li_image *li_image_clone(const li_image *img)
{
	li_image *c = li_image_new(img->width, img->height, img->channels);
	if (c)
		memcpy(c->data, img->data, image_bytes(img));
	return c;
}

uint64_t li_image_max_pixels(const li_image_opts *opts)
{
	if (opts && opts->max_pixels)
		return opts->max_pixels;
	const char *env = getenv("LI_MAX_PIXELS");
	if (env && *env) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(env, &end, 10);
		if (!errno && *end == '\0' && v > 0 && env[0] != '-')
			return v;
	}
	return LI_IMAGE_DEFAULT_MAX_PIXELS;
}

int li_image_limit_error(const char *name, uint64_t width, uint64_t height, uint64_t max_pixels)
{
	return li_error("'%s' is %llux%llu, over the %llu-pixel limit (LI_MAX_PIXELS)", name,
	                (unsigned long long)width, (unsigned long long)height,
	                (unsigned long long)max_pixels);
}

/* PIL's ITU-R 601 luma in 16-bit fixed point (see the header). */
static inline uint8_t luma(unsigned r, unsigned g, unsigned b)
{
	return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/* Alpha-composite v onto white: v*a/255 + 255*(255-a)/255, rounded. */
static inline uint8_t over_white(unsigned v, unsigned a)
{
	return (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
}

void li_image_convert_row(const uint8_t *src, int sc, uint8_t *dst, int dc, size_t width)
{
	for (size_t i = 0; i < width; i++, src += sc, dst += dc) {
		unsigned r, g, b;
		switch (sc) {
		case 1: r = g = b = src[0]; break;
		case 2: r = g = b = over_white(src[0], src[1]); break;
		case 3: r = src[0], g = src[1], b = src[2]; break;
		default:
			r = over_white(src[0], src[3]);
			g = over_white(src[1], src[3]);
			b = over_white(src[2], src[3]);
			break;
		}
		if (dc == 1) {
			dst[0] = sc <= 2 ? (uint8_t)r : luma(r, g, b);
		} else {
			dst[0] = (uint8_t)r;
			dst[1] = (uint8_t)g;
			dst[2] = (uint8_t)b;
		}
	}
}

li_image *li_image_convert(const li_image *src, int channels)
{
	if (li_image_check(src) < 0)
		return NULL;
	li_image *dst = li_image_new(src->width, src->height, channels);
	if (!dst)
		return NULL;
	li_image_convert_row(src->data, src->channels, dst->data, channels,
	                     (size_t)src->width * (size_t)src->height);
	return dst;
}

li_image *li_image_crop(const li_image *src, int x, int y, int width, int height)
{
	if (li_image_check(src) < 0)
		return NULL;
	li_image *dst = li_image_new(width, height, src->channels);
	if (!dst)
		return NULL;
	const size_t c = (size_t)src->channels;
	memset(dst->data, 255, image_bytes(dst));
	/* The overlap of [x, x+width) with [0, src->width), in 64 bits so huge
	 * offsets cannot overflow. */
	int64_t x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
	int64_t x1 = (int64_t)x + width < src->width ? (int64_t)x + width : src->width;
	int64_t y1 = (int64_t)y + height < src->height ? (int64_t)y + height : src->height;
	for (int64_t sy = y0; sy < y1 && x0 < x1; sy++)
		memcpy(dst->data + ((size_t)(sy - y) * (size_t)width + (size_t)(x0 - x)) * c,
		       src->data + ((size_t)sy * (size_t)src->width + (size_t)x0) * c,
		       (size_t)(x1 - x0) * c);
	return dst;
}

/* One axis of a separable resampling: output pixel i takes n[i] source
 * pixels from first[i] on, with weights w[off[i] ...] summing to 1. */
typedef struct axis {
	int *first, *n, *off;
	double *w;
} axis;

static void axis_free(axis *a)
{
	free(a->first);
	free(a->n);
	free(a->off);
	free(a->w);
}

static int axis_init(axis *a, int src, int dst)
{
	memset(a, 0, sizeof *a);
	double scale = (double)src / dst;
	/* Area averaging touches at most ceil(scale) + 1 source pixels per
	 * output pixel; bilinear touches 2. */
	size_t per = dst < src ? (size_t)ceil(scale) + 1 : 2;
	size_t total;
	if (li_size_mul(per, (size_t)dst, &total) < 0) {
		li_error("resize too large");
		return -1;
	}
	a->first = li_malloc_array((size_t)dst, sizeof *a->first);
	a->n = li_malloc_array((size_t)dst, sizeof *a->n);
	a->off = li_malloc_array((size_t)dst, sizeof *a->off);
	a->w = li_malloc_array(total, sizeof *a->w);
	if (!a->first || !a->n || !a->off || !a->w) {
		axis_free(a);
		return -1;
	}
	int off = 0;
	for (int i = 0; i < dst; i++) {
		a->off[i] = off;
		if (dst < src) {
			/* Output pixel i covers source interval [lo, hi). */
			double lo = i * scale, hi = (i + 1) * scale;
			int j0 = (int)floor(lo), j1 = (int)ceil(hi);
			if (j1 > src)
				j1 = src;
			a->first[i] = j0;
			a->n[i] = 0;
			for (int j = j0; j < j1; j++) {
				double l = j > lo ? j : lo, h = j + 1 < hi ? j + 1 : hi;
				if (h > l) {
					a->w[off + a->n[i]] = (h - l) / scale;
					a->n[i]++;
				} else if (a->n[i] == 0) {
					a->first[i]++; /* zero overlap at the start */
				}
			}
		} else {
			/* Pixel centres aligned; neighbours outside the image clamp to
			 * the edge (PIL's kernel is cut and renormalised: the same). */
			double c = (i + 0.5) * scale - 0.5;
			int j = (int)floor(c);
			double f = c - j;
			int ja = j < 0 ? 0 : j, jb = j + 1 > src - 1 ? src - 1 : j + 1;
			if (ja > src - 1)
				ja = src - 1;
			a->first[i] = ja;
			if (jb == ja || f == 0) {
				a->n[i] = 1;
				a->w[off] = 1;
			} else {
				a->n[i] = 2; /* jb == ja + 1 here */
				a->w[off] = 1 - f;
				a->w[off + 1] = f;
			}
		}
		off += a->n[i];
	}
	return 0;
}

static inline uint8_t clamp8(double v)
{
	/* Round half up; the tiny bias keeps exact .5 averages (which double
	 * arithmetic may land a hair below) rounding the same as integer maths. */
	v = floor(v + 0.5 + 1e-9);
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

li_image *li_image_resize(const li_image *src, int width, int height)
{
	if (li_image_check(src) < 0)
		return NULL;
	if (width <= 0 || height <= 0) {
		li_error("invalid resize target %dx%d", width, height);
		return NULL;
	}
	if (width == src->width && height == src->height)
		return li_image_clone(src);
	const int c = src->channels, sw = src->width, sh = src->height;
	li_image *dst = li_image_new(width, height, c);
	axis ax, ay;
	double *tmp = NULL;
	if (!dst)
		return NULL;
	if (axis_init(&ax, sw, width) < 0) {
		li_image_free(dst);
		return NULL;
	}
	if (axis_init(&ay, sh, height) < 0) {
		axis_free(&ax);
		li_image_free(dst);
		return NULL;
	}
	/* Horizontal pass into doubles (no intermediate rounding), then vertical. */
	size_t n;
	if (li_size_mul((size_t)sh, (size_t)width * (size_t)c, &n) < 0)
		li_error("resize too large (%dx%d to %dx%d)", sw, sh, width, height);
	else
		tmp = li_malloc_array(n, sizeof *tmp);
	if (!tmp) {
		axis_free(&ax);
		axis_free(&ay);
		li_image_free(dst);
		return NULL;
	}
	for (int y = 0; y < sh; y++) {
		const uint8_t *row = src->data + (size_t)y * sw * c;
		double *out = tmp + (size_t)y * width * c;
		for (int x = 0; x < width; x++) {
			const double *w = ax.w + ax.off[x];
			const uint8_t *p = row + (size_t)ax.first[x] * c;
			for (int k = 0; k < c; k++) {
				double s = 0;
				for (int j = 0; j < ax.n[x]; j++)
					s += w[j] * p[(size_t)j * c + k];
				out[(size_t)x * c + k] = s;
			}
		}
	}
	const size_t stride = (size_t)width * c;
	for (int y = 0; y < height; y++) {
		const double *w = ay.w + ay.off[y];
		const double *base = tmp + (size_t)ay.first[y] * stride;
		uint8_t *out = dst->data + (size_t)y * stride;
		for (size_t i = 0; i < stride; i++) {
			double s = 0;
			for (int j = 0; j < ay.n[y]; j++)
				s += w[j] * base[(size_t)j * stride + i];
			out[i] = clamp8(s);
		}
	}
	free(tmp);
	axis_free(&ax);
	axis_free(&ay);
	return dst;
}
