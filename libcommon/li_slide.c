/* li_slide.c: one handle over OpenSlide slides and plain PNG/JPEG images.
 *
 * OpenSlide signals errors only through openslide_get_error() (its reads
 * return a transparent buffer), so every call that can fail is followed by
 * check(). Plain images are decoded once by li_image and served as level 0. */
#include "li_slide.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openslide.h>

#include "li_cli.h"
#include "li_error.h"

struct li_slide {
	char *path;
	openslide_t *osr; /* NULL for a plain image */
	li_image *img;    /* the plain image, or NULL */
	char *vendor;
	int levels;
	int64_t *w, *h;
	double *ds;
	int mpp_known;
	double mpp_x, mpp_y;
	const char *mpp_source;
	uint32_t *argb; /* OpenSlide read buffer, grown as needed */
	size_t argb_cap;
};

/* 0 when OpenSlide is happy, else -1 with its message naming the file. */
static int check(const li_slide *s)
{
	const char *e = s->osr ? openslide_get_error(s->osr) : NULL;
	if (e)
		return li_error("cannot read slide '%s': %s", s->path, e);
	return 0;
}

void li_slide_free(li_slide *s)
{
	if (!s)
		return;
	if (s->osr)
		openslide_close(s->osr);
	li_image_free(s->img);
	free(s->path);
	free(s->vendor);
	free(s->w);
	free(s->h);
	free(s->ds);
	free(s->argb);
	free(s);
}

/* A strictly parsed positive finite property, or 0. */
static double prop_positive(openslide_t *osr, const char *name)
{
	const char *v = openslide_get_property_value(osr, name);
	double d;
	if (!v || li_parse_double(v, &d) < 0 || !(d > 0))
		return 0;
	return d;
}

static void find_mpp(li_slide *s)
{
	s->mpp_source = "none";
	if (!s->osr)
		return;
	double x = prop_positive(s->osr, OPENSLIDE_PROPERTY_NAME_MPP_X);
	double y = prop_positive(s->osr, OPENSLIDE_PROPERTY_NAME_MPP_Y);
	if (x > 0 && y > 0) {
		s->mpp_known = 1, s->mpp_x = x, s->mpp_y = y, s->mpp_source = "openslide";
		return;
	}
	/* OpenSlide 3.4 does not turn TIFF resolution tags into mpp: resolution
	 * is pixels per unit, so mpp = micrometres per unit / resolution. */
	const char *unit = openslide_get_property_value(s->osr, "tiff.ResolutionUnit");
	double per_unit = 0;
	if (unit && strcmp(unit, "inch") == 0)
		per_unit = 25400;
	else if (unit && strcmp(unit, "centimeter") == 0)
		per_unit = 10000;
	double rx = prop_positive(s->osr, "tiff.XResolution");
	double ry = prop_positive(s->osr, "tiff.YResolution");
	if (per_unit > 0 && rx > 0 && ry > 0) {
		s->mpp_known = 1, s->mpp_x = per_unit / rx, s->mpp_y = per_unit / ry;
		s->mpp_source = "tiff-resolution";
	}
	li_error_clear(); /* a property that failed to parse is not an error */
}

static li_slide *open_image(li_slide *s)
{
	s->img = li_image_read(s->path, NULL);
	if (!s->img)
		return NULL;
	s->levels = 1;
	s->w = li_malloc(sizeof *s->w);
	s->h = li_malloc(sizeof *s->h);
	s->ds = li_malloc(sizeof *s->ds);
	if (!s->w || !s->h || !s->ds)
		return NULL;
	s->w[0] = s->img->width;
	s->h[0] = s->img->height;
	s->ds[0] = 1;
	find_mpp(s);
	return s;
}

static li_slide *open_openslide(li_slide *s)
{
	s->osr = openslide_open(s->path);
	if (!s->osr) {
		li_error("cannot open slide '%s': not a format OpenSlide reads", s->path);
		return NULL;
	}
	if (check(s) < 0)
		return NULL;
	s->levels = openslide_get_level_count(s->osr);
	if (check(s) < 0)
		return NULL;
	if (s->levels < 1) {
		li_error("cannot read slide '%s': no levels", s->path);
		return NULL;
	}
	s->w = li_malloc_array((size_t)s->levels, sizeof *s->w);
	s->h = li_malloc_array((size_t)s->levels, sizeof *s->h);
	s->ds = li_malloc_array((size_t)s->levels, sizeof *s->ds);
	if (!s->w || !s->h || !s->ds)
		return NULL;
	for (int l = 0; l < s->levels; l++) {
		openslide_get_level_dimensions(s->osr, l, &s->w[l], &s->h[l]);
		s->ds[l] = openslide_get_level_downsample(s->osr, l);
		if (check(s) < 0)
			return NULL;
		if (s->w[l] <= 0 || s->h[l] <= 0 || !(s->ds[l] >= 1) || !isfinite(s->ds[l])) {
			li_error("cannot read slide '%s': level %d is %lldx%lld, downsample %g", s->path,
			         l, (long long)s->w[l], (long long)s->h[l], s->ds[l]);
			return NULL;
		}
	}
	find_mpp(s);
	return s;
}

li_slide *li_slide_open(const char *path)
{
	/* Sniff first: plain images go to li_image, whatever their extension. */
	uint8_t magic[8];
	size_t n = 0;
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		li_error("cannot open slide '%s': %s", path, strerror(errno));
		return NULL;
	}
	n = fread(magic, 1, sizeof magic, fp);
	fclose(fp);
	li_image_format fmt = li_image_sniff(magic, n);
	const char *vendor = fmt == LI_IMAGE_UNKNOWN ? openslide_detect_vendor(path) : NULL;
	if (fmt == LI_IMAGE_UNKNOWN && !vendor) {
		li_error("cannot open slide '%s': not PNG, JPEG or a format OpenSlide reads", path);
		return NULL;
	}
	li_slide *s = li_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->path = li_strdup(path);
	s->vendor = li_strdup(vendor ? vendor : li_image_format_name(fmt));
	if (!s->path || !s->vendor ||
	    !(fmt == LI_IMAGE_UNKNOWN ? open_openslide(s) : open_image(s))) {
		li_slide_free(s);
		return NULL;
	}
	return s;
}

const char *li_slide_path(const li_slide *s) { return s->path; }
const char *li_slide_vendor(const li_slide *s) { return s->vendor; }
int li_slide_level_count(const li_slide *s) { return s->levels; }

int li_slide_level_size(const li_slide *s, int level, int64_t *width, int64_t *height)
{
	if (level < 0 || level >= s->levels)
		return li_error("slide '%s' has no level %d (levels 0-%d)", s->path, level,
		                s->levels - 1);
	*width = s->w[level];
	*height = s->h[level];
	return 0;
}

double li_slide_level_downsample(const li_slide *s, int level)
{
	return level < 0 || level >= s->levels ? 0 : s->ds[level];
}

int li_slide_best_level(const li_slide *s, double downsample)
{
	int best = 0;
	/* A hair of slack: OpenSlide reports 4.000345 for a nominal 4. */
	for (int l = 1; l < s->levels; l++)
		if (s->ds[l] <= downsample * (1 + 1e-3) && s->ds[l] > s->ds[best])
			best = l;
	return best;
}

int li_slide_mpp(const li_slide *s, double *mpp_x, double *mpp_y)
{
	if (!s->mpp_known)
		return 0;
	*mpp_x = s->mpp_x;
	*mpp_y = s->mpp_y;
	return 1;
}

const char *li_slide_mpp_source(const li_slide *s) { return s->mpp_source; }

const char *li_slide_property(const li_slide *s, const char *name)
{
	return s->osr ? openslide_get_property_value(s->osr, name) : NULL;
}

int li_slide_read_region_into(li_slide *s, li_image *dst, int64_t x, int64_t y, int level)
{
	if (!dst || dst->channels != 3 || dst->width <= 0 || dst->height <= 0)
		return li_error("cannot read slide '%s': the region needs a 3-channel image", s->path);
	if (level < 0 || level >= s->levels)
		return li_error("slide '%s' has no level %d (levels 0-%d)", s->path, level,
		                s->levels - 1);
	const size_t w = (size_t)dst->width, h = (size_t)dst->height;
	uint64_t max = li_image_max_pixels(NULL);
	if ((uint64_t)w * h > max)
		return li_error("cannot read slide '%s': a %zux%zu region is over the %llu-pixel limit "
		                "(LI_MAX_PIXELS)", s->path, w, h, (unsigned long long)max);
	if (s->img) {
		if (x < INT32_MIN || x > INT32_MAX || y < INT32_MIN || y > INT32_MAX) {
			memset(dst->data, 255, w * h * 3);
			return 0;
		}
		li_image *c = li_image_crop(s->img, (int)x, (int)y, dst->width, dst->height);
		if (!c)
			return li_error_prefix("cannot read slide '%s'", s->path);
		memcpy(dst->data, c->data, w * h * 3); /* plain images decode as RGB */
		li_image_free(c);
		return 0;
	}
	if (check(s) < 0)
		return -1;
	if (w * h > s->argb_cap) {
		uint32_t *p = li_malloc_array(w * h, sizeof *p);
		if (!p)
			return li_error_prefix("cannot read slide '%s'", s->path);
		free(s->argb);
		s->argb = p;
		s->argb_cap = w * h;
	}
	openslide_read_region(s->osr, s->argb, x, y, level, (int64_t)w, (int64_t)h);
	if (check(s) < 0)
		return -1;
	/* Premultiplied ARGB. Un-premultiplying (v * 255 / a) and compositing
	 * onto white (v * a / 255 + 255 - a) cancel to v + 255 - a, which is
	 * exact and needs no division; a = 0 gives white. */
	uint8_t *o = dst->data;
	for (size_t i = 0; i < w * h; i++, o += 3) {
		uint32_t p = s->argb[i];
		unsigned a = p >> 24, r = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
		unsigned bg = 255 - a;
		o[0] = (uint8_t)(r > a ? 255 : r + bg);
		o[1] = (uint8_t)(g > a ? 255 : g + bg);
		o[2] = (uint8_t)(b > a ? 255 : b + bg);
	}
	return 0;
}

li_image *li_slide_read_region(li_slide *s, int64_t x, int64_t y, int level, int width, int height)
{
	li_image *img = li_image_new(width, height, 3);
	if (!img) {
		li_error_prefix("cannot read slide '%s'", s->path);
		return NULL;
	}
	if (li_slide_read_region_into(s, img, x, y, level) < 0) {
		li_image_free(img);
		return NULL;
	}
	return img;
}

li_image *li_slide_thumbnail(li_slide *s, int max_size)
{
	if (max_size <= 0) {
		li_error("invalid thumbnail size %d", max_size);
		return NULL;
	}
	const int64_t W = s->w[0], H = s->h[0];
	int64_t longer = W > H ? W : H;
	double scale = longer > max_size ? (double)longer / max_size : 1;
	int tw = (int)fmax(1, llround(W / scale)), th = (int)fmax(1, llround(H / scale));
	int level = li_slide_best_level(s, scale);
	/* Never a level smaller than the thumbnail (a downsample of 4.0003
	 * standing in for 4 may be a row short), or a row would get no pixels. */
	while (level > 0 && (s->w[level] < tw || s->h[level] < th))
		level--;
	const int64_t lw = s->w[level], lh = s->h[level];
	if (lw > INT32_MAX) {
		li_error("cannot read slide '%s': level %d is too wide for a thumbnail", s->path, level);
		return NULL;
	}
	li_image *out = li_image_new(tw, th, 3);
	uint64_t *sum = li_calloc((size_t)tw * 3, sizeof *sum);
	uint32_t *cnt = li_calloc((size_t)tw, sizeof *cnt);
	/* Source column -> thumbnail column, by the source pixel's centre. */
	int *col = li_malloc_array((size_t)lw, sizeof *col);
	/* Bands of whole rows, about 4 megapixels each, so memory stays bounded
	 * on a level with no pyramid above it. */
	int band = (int)(4000000 / lw);
	band = band < 1 ? 1 : band > lh ? (int)lh : band;
	li_image *buf = out ? li_image_new((int)lw, band, 3) : NULL;
	if (!out || !sum || !cnt || !col || !buf) {
		li_error_prefix("cannot read slide '%s'", s->path);
		goto fail;
	}
	for (int64_t x = 0; x < lw; x++) {
		int64_t c = (int64_t)((x + 0.5) * tw / lw);
		col[x] = (int)(c < tw ? c : tw - 1);
	}
	const double ds = s->ds[level];
	int cur = 0; /* the thumbnail row being accumulated */
	for (int64_t y0 = 0; y0 < lh; y0 += band) {
		int rows = lh - y0 < band ? (int)(lh - y0) : band;
		buf->height = rows;
		if (li_slide_read_region_into(s, buf, 0, llround(y0 * ds), level) < 0)
			goto fail;
		for (int r = 0; r < rows; r++) {
			int64_t ly = y0 + r;
			int64_t t = (int64_t)((ly + 0.5) * th / lh);
			int ty = (int)(t < th ? t : th - 1);
			while (cur < ty) {
				/* Row cur is complete: emit it. */
				uint8_t *o = out->data + (size_t)cur * tw * 3;
				for (int i = 0; i < tw; i++)
					for (int k = 0; k < 3; k++)
						o[i * 3 + k] = cnt[i] ? (uint8_t)((sum[i * 3 + k] + cnt[i] / 2) / cnt[i]) : 255;
				memset(sum, 0, (size_t)tw * 3 * sizeof *sum);
				memset(cnt, 0, (size_t)tw * sizeof *cnt);
				cur++;
			}
			const uint8_t *p = buf->data + (size_t)r * lw * 3;
			for (int64_t x = 0; x < lw; x++) {
				int c = col[x];
				sum[c * 3] += p[x * 3];
				sum[c * 3 + 1] += p[x * 3 + 1];
				sum[c * 3 + 2] += p[x * 3 + 2];
				cnt[c]++;
			}
		}
	}
	for (; cur < th; cur++) {
		uint8_t *o = out->data + (size_t)cur * tw * 3;
		for (int i = 0; i < tw; i++)
			for (int k = 0; k < 3; k++)
				o[i * 3 + k] = cnt[i] ? (uint8_t)((sum[i * 3 + k] + cnt[i] / 2) / cnt[i]) : 255;
		memset(sum, 0, (size_t)tw * 3 * sizeof *sum);
		memset(cnt, 0, (size_t)tw * sizeof *cnt);
	}
	li_image_free(buf);
	free(sum);
	free(cnt);
	free(col);
	return out;
fail:
	li_image_free(buf);
	li_image_free(out);
	free(sum);
	free(cnt);
	free(col);
	return NULL;
}
