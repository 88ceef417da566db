/* li_slide.c: one handle over OpenSlide slides and plain PNG/JPEG images.
 *
 * OpenSlide signals errors only through openslide_get_error() (its reads
 * return a transparent buffer), so every call that can fail is followed by
 * check(). Plain images are decoded once by li_image and served as level 0. */
#include "li_slide.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openslide.h>
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

#include "li_error.h"
#include "li_image_io.h"
#include "li_pool.h"
#include "li_tiffslide.h"
#include "li_util.h"

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
	li_tiffslide *fast; /* plain tiled TIFFs: regions read without OpenSlide, or NULL */
	char *fast_error;   /* the fast path's read error: the handle is dead, as OpenSlide's */
	uint64_t fast_reads;
};

/* 0 when OpenSlide is happy, else -1 with its message naming the file. */
static int check(const li_slide *s)
{
	if (s->fast_error)
		return li_error("%s", s->fast_error);
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
	li_tiffslide_free(s->fast);
	free(s->fast_error);
	free(s);
}

li_slide **li_slide_open_handles(const char *path, int n)
{
	li_slide **hs = li_calloc((size_t)(n < 1 ? 1 : n), sizeof *hs);
	if (hs && !(hs[0] = li_slide_open(path))) {
		free(hs);
		hs = NULL;
	}
	return hs;
}

void li_slide_free_handles(li_slide **hs, int n)
{
	if (!hs)
		return;
	for (int t = 0; t < n; t++)
		li_slide_free(hs[t]);
	free(hs);
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

/* OpenSlide's tile size of a level from its properties, or 0. */
static int64_t tile_prop(const li_slide *s, int level, const char *what)
{
	char name[64];
	long v;
	snprintf(name, sizeof name, "openslide.level[%d].tile-%s", level, what);
	const char *p = openslide_get_property_value(s->osr, name);
	if (!p || li_parse_long(p, &v) < 0 || v < 1) {
		li_error_clear();
		return 0;
	}
	return v;
}

/* The fast path for plain tiled TIFFs (li_tiffslide.h), unless
 * LI_SLIDE_READER=openslide: 0 (with or without it), -1 for a bad
 * LI_SLIDE_READER. */
static int open_fast(li_slide *s)
{
	const char *env = getenv("LI_SLIDE_READER");
	if (env && *env && strcmp(env, "auto") != 0) {
		if (strcmp(env, "openslide") == 0)
			return 0;
		return li_error("LI_SLIDE_READER is '%s', not 'auto' or 'openslide'", env);
	}
	if (strcmp(s->vendor, "generic-tiff") != 0 && strcmp(s->vendor, "aperio") != 0)
		return 0;
	int64_t *tw = li_calloc((size_t)s->levels, sizeof *tw);
	int64_t *th = li_calloc((size_t)s->levels, sizeof *th);
	if (!tw || !th) {
		free(tw);
		free(th);
		return -1;
	}
	for (int l = 0; l < s->levels; l++) {
		tw[l] = tile_prop(s, l, "width");
		th[l] = tile_prop(s, l, "height");
	}
	li_tiffslide_levels lv = {.vendor = s->vendor, .count = s->levels, .w = s->w, .h = s->h,
	                          .ds = s->ds, .tile_w = tw, .tile_h = th};
	s->fast = li_tiffslide_open(s->path, &lv); /* NULL: OpenSlide reads it all */
	free(tw);
	free(th);
	return 0;
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
	return open_fast(s) < 0 ? NULL : s;
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
		/* OpenSlide's generic-tiff reads tiled TIFFs only: say so for a
		 * stripped one rather than "not a format OpenSlide reads". */
		if (n >= 4 && (memcmp(magic, "II*\0", 4) == 0 || memcmp(magic, "MM\0*", 4) == 0 ||
			       memcmp(magic, "II+\0", 4) == 0 || memcmp(magic, "MM\0+", 4) == 0))
			li_error("cannot open slide '%s': a TIFF that OpenSlide does not read (only "
			         "tiled TIFFs are: convert a stripped one, e.g. with "
			         "'vips tiffsave IN OUT --tile --pyramid')", path);
		else
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

uint64_t li_slide_fast_levels(const li_slide *s) { return s->fast ? li_tiffslide_fast_levels(s->fast) : 0; }
uint64_t li_slide_fast_reads(const li_slide *s) { return s->fast_reads; }

const char *li_slide_property(const li_slide *s, const char *name)
{
	return s->osr ? openslide_get_property_value(s->osr, name) : NULL;
}

/* OpenSlide's premultiplied ARGB to RGB on white. Un-premultiplying
 * (v * 255 / a) and compositing onto white (v * a / 255 + 255 - a) cancel to
 * v + 255 - a, which is exact and needs no division (a = 0 gives white); a
 * valid pixel has v <= a, and a corrupt one (v > a) saturates at 255. That is
 * a saturating byte add of 255 - a, four pixels at a time with SSSE3. */
static void argb_to_rgb(const uint32_t *argb, uint8_t *o, size_t n)
{
	size_t i = 0;
#ifdef __SSSE3__
	/* Each pixel's alpha into its four bytes; then B, G, R of pixels 0-3
	 * (little-endian: bytes B G R A) to R G B order in the first 12 bytes. */
	const __m128i alpha = _mm_setr_epi8(3, 3, 3, 3, 7, 7, 7, 7, 11, 11, 11, 11, 15, 15, 15, 15);
	const __m128i rgb = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	const __m128i ones = _mm_set1_epi8(-1);
	for (; i + 4 <= n; i += 4, o += 12) {
		__m128i p = _mm_loadu_si128((const __m128i *)(argb + i));
		__m128i bg = _mm_xor_si128(_mm_shuffle_epi8(p, alpha), ones); /* 255 - a */
		__m128i v = _mm_shuffle_epi8(_mm_adds_epu8(p, bg), rgb);
		uint8_t tmp[16];
		_mm_storeu_si128((__m128i *)tmp, v);
		memcpy(o, tmp, 12);
	}
#endif
	for (; i < n; i++, o += 3) {
		uint32_t p = argb[i];
		unsigned a = p >> 24, r = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
		unsigned bg = 255 - a;
		o[0] = (uint8_t)(r > a ? 255 : r + bg);
		o[1] = (uint8_t)(g > a ? 255 : g + bg);
		o[2] = (uint8_t)(b > a ? 255 : b + bg);
	}
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
	if (s->fast) {
		int rc = li_tiffslide_read(s->fast, dst->data, dst->width, dst->height, x, y, level);
		if (rc == 0) {
			s->fast_reads++;
			return 0;
		}
		if (rc < 0) {
			li_error_prefix("cannot read slide '%s'", s->path);
			s->fast_error = li_strdup(li_errmsg());
			return -1;
		}
	}
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
	argb_to_rgb(s->argb, dst->data, w * h);
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

/* Thumbnails: level row y goes to thumbnail row thumb_row(y), level column x
 * to the thumbnail column c with xs[c] <= x < xs[c + 1] (both by the pixel's
 * centre), and a thumbnail pixel is the rounded mean of the level pixels that
 * go to it. The level is read in bands of whole rows on a fixed
 * grid (band k starts at level row k * band, whatever the thread count),
 * because where a read starts can matter: OpenSlide draws a level with a
 * fractional downsample at a sub-pixel offset from the region's origin. With
 * several handles, each thread takes a contiguous run of bands; a thumbnail
 * row cut by a seam between two runs is summed in parts, and the parts are
 * added after the join. The sums are integers, so the result does not depend
 * on the thread count. */
#define BAND_PX (1 << 18) /* pixels per band: OpenSlide's scratch surfaces stay in cache */

typedef struct thumb {
	const char *path;
	int tw, th, level;
	int64_t lw, lh;
	double ds;
	int band;          /* level rows per read */
	const int64_t *xs; /* the first level column of each thumbnail column, and lw */
	li_image *out;
	li_image *keep;    /* the whole level, read into; NULL: each part has a band */
	atomic_int failed;
} thumb;

/* A thumbnail row summed in part: the sums and pixel counts of its cells. */
typedef struct thumb_row_sum {
	int row; /* -1: none */
	uint64_t *sum;
	uint32_t *cnt;
} thumb_row_sum;

/* One thread's share: level rows [y0, y1) read with its own handle. */
typedef struct thumb_part {
	thumb *t;
	li_slide **s;
	int64_t y0, y1;
	thumb_row_sum cur, head, tail; /* the row being summed; seam rows */
	int rc;
	char err[LI_ERRMSG_MAX];
} thumb_part;

static int thumb_row(const thumb *t, int64_t ly)
{
	int64_t r = (int64_t)((ly + 0.5) * t->th / t->lh);
	return (int)(r < t->th ? r : t->th - 1);
}

static int row_sum_alloc(thumb_row_sum *r, int tw)
{
	r->row = -1;
	r->sum = li_calloc((size_t)tw * 3, sizeof *r->sum);
	r->cnt = li_calloc((size_t)tw, sizeof *r->cnt);
	return r->sum && r->cnt ? 0 : -1;
}

static void row_sum_free(thumb_row_sum *r)
{
	free(r->sum);
	free(r->cnt);
}

static void row_sum_clear(thumb_row_sum *r, int tw)
{
	memset(r->sum, 0, (size_t)tw * 3 * sizeof *r->sum);
	memset(r->cnt, 0, (size_t)tw * sizeof *r->cnt);
}

/* The means of a complete row into the thumbnail; a cell no pixel went to
 * stays white. */
static void row_sum_emit(const thumb *t, const thumb_row_sum *r, int row)
{
	uint8_t *o = t->out->data + (size_t)row * t->tw * 3;
	for (int i = 0; i < t->tw; i++) {
		const uint64_t n = r->cnt[i];
		for (int k = 0; k < 3; k++)
			o[i * 3 + k] = n ? (uint8_t)((r->sum[i * 3 + k] + n / 2) / n) : 255;
	}
}

/* Row `row` has had all of this part's pixels: emit it, or keep it for the
 * merge when a neighbouring part has pixels of it too. */
static void part_finish_row(thumb_part *p, int row, bool head_shared, bool tail_shared, int first,
			    int last)
{
	const int tw = p->t->tw;
	thumb_row_sum *piece = row == first && head_shared ? &p->head
			       : row == last && tail_shared ? &p->tail
							    : NULL;
	if (piece) {
		memcpy(piece->sum, p->cur.sum, (size_t)tw * 3 * sizeof *piece->sum);
		memcpy(piece->cnt, p->cur.cnt, (size_t)tw * sizeof *piece->cnt);
		piece->row = row;
	} else {
		row_sum_emit(p->t, &p->cur, row);
	}
	row_sum_clear(&p->cur, tw);
}

/* 0, -1 with li_error, or 1 when it stopped because another part failed. */
static int part_run(thumb_part *p)
{
	thumb *t = p->t;
	if (!*p->s && !(*p->s = li_slide_open(t->path)))
		return -1;
	li_slide *s = *p->s;
	li_image view = {.width = (int)t->lw, .channels = 3}; /* rows of t->keep */
	li_image *buf = t->keep ? &view : li_image_new((int)t->lw, t->band, 3);
	if (!buf)
		return li_error_prefix("cannot read slide '%s'", t->path);
	const int first = thumb_row(t, p->y0), last = thumb_row(t, p->y1 - 1);
	const bool head_shared = p->y0 > 0 && thumb_row(t, p->y0 - 1) == first;
	const bool tail_shared = p->y1 < t->lh && thumb_row(t, p->y1) == last;
	int cur = first; /* the thumbnail row being summed */
	for (int64_t y0 = p->y0; y0 < p->y1; y0 += t->band) {
		if (atomic_load(&t->failed)) {
			if (!t->keep)
				li_image_free(buf);
			return 1; /* another part failed: its message is the one */
		}
		int rows = p->y1 - y0 < t->band ? (int)(p->y1 - y0) : t->band;
		buf->height = rows;
		if (t->keep)
			view.data = t->keep->data + (size_t)y0 * t->lw * 3;
		if (li_slide_read_region_into(s, buf, 0, llround(y0 * t->ds), t->level) < 0) {
			if (!t->keep)
				li_image_free(buf);
			return -1;
		}
		for (int r = 0; r < rows; r++) {
			int ty = thumb_row(t, y0 + r);
			for (; cur < ty; cur++)
				part_finish_row(p, cur, head_shared, tail_shared, first, last);
			const uint8_t *px = buf->data + (size_t)r * t->lw * 3;
			uint64_t *sum = p->cur.sum;
			uint32_t *cnt = p->cur.cnt;
			/* A cell's pixels are adjacent: sum them in registers. */
			for (int c = 0; c < t->tw; c++) {
				uint64_t sr = 0, sg = 0, sb = 0;
				for (int64_t x = t->xs[c]; x < t->xs[c + 1]; x++) {
					sr += px[x * 3];
					sg += px[x * 3 + 1];
					sb += px[x * 3 + 2];
				}
				sum[c * 3] += sr;
				sum[c * 3 + 1] += sg;
				sum[c * 3 + 2] += sb;
				cnt[c] += (uint32_t)(t->xs[c + 1] - t->xs[c]);
			}
		}
	}
	part_finish_row(p, cur, head_shared, tail_shared, first, last);
	if (!t->keep)
		li_image_free(buf);
	return 0;
}

/* Pool task: parts [begin, end), each with its own slide handle. */
static void part_task(void *ctx, int begin, int end)
{
	thumb_part *parts = ctx;
	for (int k = begin; k < end; k++) {
		thumb_part *p = &parts[k];
		p->rc = part_run(p);
		if (p->rc < 0) {
			atomic_store(&p->t->failed, 1);
			snprintf(p->err, sizeof p->err, "%s", li_errmsg());
		}
	}
}

li_image *li_slide_thumbnail_threads(li_slide **hs, int n, int max_size, uint64_t keep_max,
				     li_image **level0)
{
	li_slide *s = hs[0];
	if (level0)
		*level0 = NULL;
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
	thumb t = {.path = s->path, .tw = tw, .th = th, .level = level, .lw = lw, .lh = lh,
		   .ds = s->ds[level]};
	atomic_init(&t.failed, 0);
	/* Bands of whole rows, a multiple of the slide's tile height when
	 * OpenSlide tells it and a tile row is not too large: then no JPEG
	 * tile is decoded by two threads, and each only once. */
	int64_t band = BAND_PX / lw;
	char name[64];
	snprintf(name, sizeof name, "openslide.level[%d].tile-height", level);
	const char *v = li_slide_property(s, name);
	long tile_h;
	if (v && li_parse_long(v, &tile_h) == 0 && tile_h > 0 && tile_h <= 65536 &&
	    tile_h * lw <= 16 * BAND_PX)
		band = band < tile_h ? tile_h : band / tile_h * tile_h;
	li_error_clear(); /* a tile height that did not parse is not an error */
	t.band = (int)(band < 1 ? 1 : band > lh ? lh : band);
	/* Plain images are copied, not composited: one thread is plenty. */
	const int64_t bands = (lh + t.band - 1) / t.band;
	if (s->img || n < 1)
		n = 1;
	if (n > bands)
		n = (int)bands;
	/* Keeping level 0 is only worth it when it is read anyway; it is a
	 * cache, so failing to allocate it is no error. */
	if (level0 && level == 0 && !s->img && (uint64_t)lw * (uint64_t)lh <= keep_max) {
		t.keep = li_image_new((int)lw, (int)lh, 3);
		li_error_clear();
	}
	t.out = li_image_new(tw, th, 3);
	int64_t *xs = li_malloc_array((size_t)tw + 1, sizeof *xs);
	thumb_part *parts = li_calloc((size_t)n, sizeof *parts);
	thumb_row_sum merged = {0};
	bool ok = t.out && xs && parts && row_sum_alloc(&merged, tw) == 0;
	for (int k = 0; ok && k < n; k++) {
		thumb_part *p = &parts[k];
		p->t = &t;
		p->s = &hs[k];
		p->y0 = bands * k / n * t.band;
		p->y1 = bands * (k + 1) / n * t.band;
		p->y1 = p->y1 < lh ? p->y1 : lh;
		ok = row_sum_alloc(&p->cur, tw) == 0 && row_sum_alloc(&p->head, tw) == 0 &&
		     row_sum_alloc(&p->tail, tw) == 0;
	}
	if (!ok) {
		li_error_prefix("cannot read slide '%s'", s->path);
		goto out;
	}
	/* Level column x goes to thumbnail column min(tw - 1, (x + 0.5) * tw / lw),
	 * by its centre; that is non-decreasing in x, so each column's are a run. */
	int64_t x = 0;
	for (int c = 0; c <= tw; c++) {
		for (; x < lw; x++) {
			int64_t cx = (int64_t)((x + 0.5) * tw / lw);
			if ((cx < tw ? cx : tw - 1) >= c)
				break;
		}
		xs[c] = c == tw ? lw : x;
	}
	t.xs = xs;
	memset(t.out->data, 255, (size_t)tw * th * 3);
	/* One part per thread; without a pool (no thread could start) the parts
	 * run here, one after another, with the same result. */
	li_pool *pool = li_pool_new(n);
	li_error_clear();
	li_pool_run_chunked(pool, n, 1, part_task, parts);
	li_pool_free(pool);
	/* The first part that failed (others may have stopped early) tells why. */
	bool told = false;
	for (int k = 0; k < n; k++) {
		if (parts[k].rc < 0 && !told)
			told = li_error("%s", parts[k].err) < 0;
		ok = ok && parts[k].rc == 0;
	}
	if (!ok)
		goto out;
	/* The seam rows: every part's pieces of a row come one after another. */
	for (int k = 0; k < n; k++) {
		thumb_row_sum *pieces[2] = {&parts[k].head, &parts[k].tail};
		for (int i = 0; i < 2; i++) {
			const thumb_row_sum *r = pieces[i];
			if (r->row < 0)
				continue;
			if (r->row != merged.row) {
				if (merged.row >= 0)
					row_sum_emit(&t, &merged, merged.row);
				row_sum_clear(&merged, tw);
				merged.row = r->row;
			}
			for (int c = 0; c < tw * 3; c++)
				merged.sum[c] += r->sum[c];
			for (int c = 0; c < tw; c++)
				merged.cnt[c] += r->cnt[c];
		}
	}
	if (merged.row >= 0)
		row_sum_emit(&t, &merged, merged.row);
out:
	for (int k = 0; parts && k < n; k++) {
		row_sum_free(&parts[k].cur);
		row_sum_free(&parts[k].head);
		row_sum_free(&parts[k].tail);
	}
	row_sum_free(&merged);
	free(parts);
	free(xs);
	if (!ok) {
		li_image_free(t.keep);
		li_image_free(t.out);
		return NULL;
	}
	if (level0)
		*level0 = t.keep;
	return t.out;
}

li_image *li_slide_thumbnail(li_slide *s, int max_size)
{
	return li_slide_thumbnail_threads(&s, 1, max_size, 0, NULL);
}
