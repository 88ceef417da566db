/* li_tiffslide.c: regions of tiled TIFF slides read from their tiles (see
 * li_tiffslide.h for what is read here and why the pixels are OpenSlide's).
 *
 * A region is cut from the tiles it covers, each decoded once into a small
 * LRU of RGB tiles; what lies past the level's edge is white. Any doubt about
 * a level or a tile (a layout we do not decode, a JPEG stream unlike what its
 * directory says, a tile with no data) hands the region back to OpenSlide. */
#include "li_tiffslide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_jpeg.h"
#include "li_tiff.h"

#define CACHE_SLOTS 64
#define MAX_TILE_BYTES (64u << 20) /* compressed bytes of one tile, beyond: OpenSlide's */
#define MAX_TABLES (1u << 20)

typedef struct level {
	const li_tiff_ifd *d;
	int fast;
	int ycbcr;
	int hs, vs;       /* YCbCr: component 0's sampling libtiff expects; 0: not known yet */
	uint8_t *tables;  /* JPEGTables, or NULL */
	size_t tables_len;
	double ds;
} level;

typedef struct slot {
	int level;        /* -1: empty */
	uint64_t tile;
	uint64_t used;
	uint8_t *px;      /* tile_w * tile_h * 3 */
	size_t bytes;
} slot;

struct li_tiffslide {
	li_tiff *tiff;
	int n;
	level *lv;
	slot cache[CACHE_SLOTS];
	size_t cache_bytes;
	uint64_t tick;
	uint8_t *raw;     /* a compressed tile */
	size_t raw_cap;
};

void li_tiffslide_free(li_tiffslide *t)
{
	if (!t)
		return;
	for (int i = 0; t->lv && i < t->n; i++)
		free(t->lv[i].tables);
	for (int i = 0; i < CACHE_SLOTS; i++)
		free(t->cache[i].px);
	free(t->lv);
	free(t->raw);
	li_tiff_free(t->tiff);
	free(t);
}

uint64_t li_tiffslide_fast_levels(const li_tiffslide *t)
{
	uint64_t m = 0;
	for (int i = 0; i < t->n && i < 64; i++)
		if (t->lv[i].fast)
			m |= (uint64_t)1 << i;
	return m;
}

/* The directories OpenSlide 3.4.1 makes levels of, in level order: n of
 * them into dirs (LI_TIFF_MAX_IFDS slots); -1 when we cannot tell. */
static int vendor_levels(const li_tiff *tf, const char *vendor, int *dirs)
{
	int n = 0;
	if (strcmp(vendor, "aperio") == 0) {
		for (int i = 0; i < tf->n; i++)
			if (tf->ifd[i].tile_w)
				dirs[n++] = i;
		return n;
	}
	if (strcmp(vendor, "generic-tiff") != 0 || !tf->ifd[0].tile_w)
		return -1;
	for (int i = 0; i < tf->n; i++)
		if (tf->ifd[i].tile_w &&
		    (i == 0 || (tf->ifd[i].has_subfiletype && (tf->ifd[i].subfiletype & 1))))
			dirs[n++] = i;
	/* widest first; a stable insertion sort, and equal widths (whose order
	 * would be glib's to choose) are not ours */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && tf->ifd[dirs[j]].width > tf->ifd[dirs[j - 1]].width; j--) {
			int k = dirs[j];
			dirs[j] = dirs[j - 1];
			dirs[j - 1] = k;
		}
	for (int i = 1; i < n; i++)
		if (tf->ifd[dirs[i]].width == tf->ifd[dirs[i - 1]].width)
			return -1;
	return n;
}

/* A directory whose tiles we decode exactly as libtiff does for OpenSlide.
 * JPEG only: uncompressed tiles go through checks of libtiff 4.5 that refuse
 * some valid files (16x16, 48x48 or 32x16 tiles fail in OpenSlide with
 * "Invalid tile byte count ... Expected 768, got 1024", 32x32 and 64x64 do
 * not), and a fast path that read them would differ from OpenSlide there. */
static int layout_ok(const li_tiff_ifd *d)
{
	return d->spp == 3 && d->bps == 8 && d->planar == 1 && !d->extra_samples &&
	       d->sample_format == 1 && d->orientation == 1 && d->fill_order == 1 &&
	       d->image_depth == 1 && d->compression == 7 &&
	       (d->photometric == 2 || d->photometric == 6);
}

li_tiffslide *li_tiffslide_open(const char *path, const li_tiffslide_levels *lv)
{
	li_tiffslide *t = li_calloc(1, sizeof *t);
	int *dirs = li_malloc_array(LI_TIFF_MAX_IFDS, sizeof *dirs);
	if (!t || !dirs)
		goto no;
	for (int i = 0; i < CACHE_SLOTS; i++)
		t->cache[i].level = -1;
	if (!(t->tiff = li_tiff_open(path)))
		goto no;
	int n = vendor_levels(t->tiff, lv->vendor, dirs);
	if (n < 1 || n != lv->count)
		goto no;
	t->n = n;
	if (!(t->lv = li_calloc((size_t)n, sizeof *t->lv)))
		goto no;
	int any = 0;
	for (int i = 0; i < n; i++) {
		const li_tiff_ifd *d = &t->tiff->ifd[dirs[i]];
		level *l = &t->lv[i];
		l->d = d;
		l->ds = lv->ds[i];
		if ((int64_t)d->width != lv->w[i] || (int64_t)d->height != lv->h[i] ||
		    (lv->tile_w && lv->tile_w[i] && lv->tile_w[i] != d->tile_w) ||
		    (lv->tile_h && lv->tile_h[i] && lv->tile_h[i] != d->tile_h))
			goto no; /* OpenSlide sees this slide otherwise */
		if (!layout_ok(d))
			continue;
		l->ycbcr = d->photometric == 6;
		/* libtiff takes YCbCrSubsampling from the tag, or, without one, from
		 * the stream of tile 0 (JPEGFixupTags): that one is read when the
		 * level is first used */
		if (l->ycbcr && d->has_ycbcr_sub) {
			if (d->ycbcr_h < 1 || d->ycbcr_v < 1)
				continue; /* libtiff refuses it */
			l->hs = (int)d->ycbcr_h, l->vs = (int)d->ycbcr_v;
		}
		if (d->compression == 7 && d->tables_len) {
			if (d->tables_len > MAX_TABLES)
				continue;
			l->tables_len = (size_t)d->tables_len;
			if (!(l->tables = li_malloc(l->tables_len)) ||
			    li_tiff_read(t->tiff, l->tables, l->tables_len, d->tables_off) < 0)
				goto no;
		}
		l->fast = 1;
		any = 1;
	}
	if (!any)
		goto no;
	free(dirs);
	return t;
no:
	free(dirs);
	li_tiffslide_free(t);
	li_error_clear();
	return NULL;
}

/* The compressed bytes of tile i of a level: 0, 1 (not ours), -1. */
static int read_raw(li_tiffslide *t, const li_tiff_ifd *d, uint64_t i)
{
	uint64_t len = d->tile_len[i];
	if (len == 0 || len > MAX_TILE_BYTES)
		return 1; /* Aperio's missing tiles are drawn from the level above */
	if (len > t->raw_cap) {
		uint8_t *p = li_malloc((size_t)len);
		if (!p)
			return -1;
		free(t->raw);
		t->raw = p;
		t->raw_cap = (size_t)len;
	}
	return li_tiff_read(t->tiff, t->raw, (size_t)len, d->tile_off[i]);
}

/* Decode tile i of level li into px: 0, 1, -1. */
static int decode(li_tiffslide *t, int li, uint64_t i, uint8_t *px)
{
	level *l = &t->lv[li];
	const li_tiff_ifd *d = l->d;
	if (l->ycbcr && !l->hs) {
		/* learn libtiff's expected sampling from tile 0, as it does */
		int rc = read_raw(t, d, 0);
		int hs = 0, vs = 0;
		li_jpeg_tile jt = {.tables = l->tables, .tables_len = l->tables_len, .data = t->raw,
		                   .len = d->tile_len[0], .width = (int)d->tile_w,
		                   .height = (int)d->tile_h, .ycbcr = 1};
		if (rc == 0)
			rc = li_jpeg_decode_tiff_tile(&jt, NULL, &hs, &vs);
		if (rc != 0 || hs < 1 || hs > 4 || vs < 1 || vs > 4) {
			l->fast = 0; /* leave the level to OpenSlide */
			li_error_clear();
			return 1;
		}
		l->hs = hs, l->vs = vs;
	}
	int rc = read_raw(t, d, i);
	if (rc != 0)
		return rc;
	li_jpeg_tile jt = {.tables = l->tables, .tables_len = l->tables_len, .data = t->raw,
	                   .len = d->tile_len[i], .width = (int)d->tile_w, .height = (int)d->tile_h,
	                   .ycbcr = l->ycbcr, .h_samp = l->hs, .v_samp = l->vs};
	return li_jpeg_decode_tiff_tile(&jt, px, NULL, NULL);
}

/* Tile (col, row) of level li, decoded, from the cache or into it. */
static const uint8_t *tile(li_tiffslide *t, int li, uint64_t col, uint64_t row, int *rc)
{
	const li_tiff_ifd *d = t->lv[li].d;
	const uint64_t i = row * d->tiles_across + col;
	for (int k = 0; k < CACHE_SLOTS; k++) {
		slot *s = &t->cache[k];
		if (s->level == li && s->tile == i) {
			s->used = ++t->tick;
			return s->px;
		}
	}
	const size_t bytes = (size_t)d->tile_w * d->tile_h * 3;
	/* make room: drop the least recently used until the new tile fits and
	 * a slot is free */
	slot *victim = NULL;
	for (;;) {
		slot *old = NULL;
		victim = NULL;
		for (int k = 0; k < CACHE_SLOTS; k++) {
			slot *s = &t->cache[k];
			if (s->level < 0)
				victim = s;
			else if (!old || s->used < old->used)
				old = s;
		}
		if (!old || (victim && t->cache_bytes + bytes <= LI_TIFFSLIDE_CACHE))
			break;
		free(old->px);
		t->cache_bytes -= old->bytes;
		*old = (slot){.level = -1};
	}
	uint8_t *px = li_malloc(bytes);
	if (!px) {
		*rc = -1;
		return NULL;
	}
	*rc = decode(t, li, i, px);
	if (*rc != 0) {
		free(px);
		if (*rc < 0)
			li_error_prefix("level %d tile (%llu, %llu) at offset %llu", li,
			                (unsigned long long)col, (unsigned long long)row,
			                (unsigned long long)d->tile_off[i]);
		return NULL;
	}
	*victim = (slot){.level = li, .tile = i, .used = ++t->tick, .px = px, .bytes = bytes};
	t->cache_bytes += bytes;
	return px;
}

int li_tiffslide_read(li_tiffslide *t, uint8_t *rgb, int w, int h, int64_t x, int64_t y,
                      int level_no)
{
	if (level_no < 0 || level_no >= t->n || !t->lv[level_no].fast || x < 0 || y < 0 || w < 1 ||
	    h < 1)
		return 1;
	const level *l = &t->lv[level_no];
	/* OpenSlide draws the level at x / downsample: a whole number, or cairo
	 * resamples; and it splits regions into 4096-pixel pieces whose level-0
	 * corners are rounded down, exact only at downsample 1 */
	if ((w > 4096 || h > 4096) && l->ds != 1.0)
		return 1;
	const double fx = (double)x / l->ds, fy = (double)y / l->ds;
	if (fx != floor(fx) || fy != floor(fy) || fx > 0x1p52 || fy > 0x1p52)
		return 1;
	const li_tiff_ifd *d = l->d;
	const uint64_t X = (uint64_t)fx, Y = (uint64_t)fy;
	const uint64_t iw = d->width, ih = d->height, tw = d->tile_w, th = d->tile_h;
	if (X + (uint64_t)w > iw || Y + (uint64_t)h > ih)
		memset(rgb, 255, (size_t)w * h * 3); /* past the edge: white */
	if (X >= iw || Y >= ih)
		return 0;
	const uint64_t xe = X + (uint64_t)w < iw ? X + (uint64_t)w : iw;
	const uint64_t ye = Y + (uint64_t)h < ih ? Y + (uint64_t)h : ih;
	for (uint64_t row = Y / th; row <= (ye - 1) / th; row++)
		for (uint64_t col = X / tw; col <= (xe - 1) / tw; col++) {
			int rc = 1;
			const uint8_t *px = tile(t, level_no, col, row, &rc);
			if (!px)
				return rc;
			const uint64_t x0 = X > col * tw ? X : col * tw;
			const uint64_t x1 = xe < (col + 1) * tw ? xe : (col + 1) * tw;
			const uint64_t y0 = Y > row * th ? Y : row * th;
			const uint64_t y1 = ye < (row + 1) * th ? ye : (row + 1) * th;
			for (uint64_t yy = y0; yy < y1; yy++)
				memcpy(rgb + ((yy - Y) * (uint64_t)w + (x0 - X)) * 3,
				       px + ((yy - row * th) * tw + (x0 - col * tw)) * 3, (x1 - x0) * 3);
		}
	return 0;
}
