/* li_tiff.c: TIFF directories, read with every offset and count checked.
 *
 * Only what the tiled-slide reader needs is kept; other tags are skipped
 * without reading their data. A directory is read whole into memory (its
 * entry count is capped first), so the entries are parsed from a buffer of
 * known length; tag data outside the entries is read with li_tiff_read,
 * which refuses anything past the end of the file. */
#include "li_tiff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_error.h"

enum {
	T_SUBFILETYPE = 254,
	T_WIDTH = 256,
	T_HEIGHT = 257,
	T_BPS = 258,
	T_COMPRESSION = 259,
	T_PHOTOMETRIC = 262,
	T_FILLORDER = 266,
	T_ORIENTATION = 274,
	T_SPP = 277,
	T_PLANAR = 284,
	T_TILE_W = 322,
	T_TILE_H = 323,
	T_TILE_OFF = 324,
	T_TILE_LEN = 325,
	T_EXTRA = 338,
	T_SAMPLEFORMAT = 339,
	T_JPEGTABLES = 347,
	T_YCBCRSUB = 530,
	T_DEPTH = 32997,
};

/* The tags we use, for spotting one given twice. */
static const uint16_t used_tags[] = {
	T_SUBFILETYPE, T_WIDTH,  T_HEIGHT,   T_BPS,      T_COMPRESSION, T_PHOTOMETRIC, T_FILLORDER,
	T_ORIENTATION, T_SPP,    T_PLANAR,   T_TILE_W,   T_TILE_H,      T_TILE_OFF,    T_TILE_LEN,
	T_EXTRA,       T_SAMPLEFORMAT, T_JPEGTABLES, T_YCBCRSUB, T_DEPTH,
};

/* One entry: where its data is, once checked to be inside the file. */
typedef struct entry {
	uint16_t tag, type;
	uint64_t count;
	uint64_t bytes;  /* count * size of the type */
	const uint8_t *inline_data; /* the data when it fits in the entry, else NULL */
	uint64_t off;    /* else its offset in the file */
} entry;

static unsigned type_size(uint16_t type)
{
	switch (type) {
	case 1: case 2: case 6: case 7: return 1;      /* BYTE ASCII SBYTE UNDEFINED */
	case 3: case 8: return 2;                      /* SHORT SSHORT */
	case 4: case 9: case 11: case 13: return 4;    /* LONG SLONG FLOAT IFD */
	case 5: case 10: case 12: case 16: case 17: case 18: return 8;
	default: return 0;
	}
}

static uint64_t get(const uint8_t *p, unsigned n, int little)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[little ? i : n - 1 - i] << (8 * (little ? i : n - 1 - i));
	return v;
}

int li_tiff_read(const li_tiff *t, void *buf, size_t n, uint64_t off)
{
	if (off > t->size || n > t->size - off)
		return li_error("cannot read TIFF '%s': %zu bytes at offset %llu run past the end "
		                "of the file (%llu bytes)", t->name, n, (unsigned long long)off,
		                (unsigned long long)t->size);
	if (t->mem) {
		memcpy(buf, t->mem + off, n);
		return 0;
	}
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(t->fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return li_error("cannot read TIFF '%s': %s", t->name,
			                r < 0 ? strerror(errno) : "file shrank while reading");
		done += (size_t)r;
	}
	return 0;
}

/* Values 0..n-1 of an integer entry (BYTE, SHORT, LONG, LONG8, IFD, IFD8). */
static int entry_uints(const li_tiff *t, int little, const entry *e, uint64_t *out, uint64_t n,
                       int dir)
{
	unsigned ts = type_size(e->type);
	if (!(e->type == 1 || e->type == 3 || e->type == 4 || e->type == 13 || e->type == 16 ||
	      e->type == 18))
		return li_error("cannot read TIFF '%s': directory %d: tag %u has type %u, not an "
		                "unsigned integer", t->name, dir, e->tag, e->type);
	if (n > e->count)
		return li_error("cannot read TIFF '%s': directory %d: tag %u has %llu values, not %llu",
		                t->name, dir, e->tag, (unsigned long long)e->count,
		                (unsigned long long)n);
	const uint8_t *p = e->inline_data;
	uint8_t *tmp = NULL;
	if (!p) {
		tmp = li_malloc_array((size_t)n, ts);
		if (!tmp || li_tiff_read(t, tmp, (size_t)n * ts, e->off) < 0) {
			free(tmp);
			return -1;
		}
		p = tmp;
	}
	for (uint64_t i = 0; i < n; i++)
		out[i] = get(p + i * ts, ts, little);
	free(tmp);
	return 0;
}

static int entry_uint(const li_tiff *t, int little, const entry *e, uint32_t *out, int dir)
{
	uint64_t v;
	if (entry_uints(t, little, e, &v, 1, dir) < 0)
		return -1;
	if (v > UINT32_MAX)
		return li_error("cannot read TIFF '%s': directory %d: tag %u is %llu, too large",
		                t->name, dir, e->tag, (unsigned long long)v);
	*out = (uint32_t)v;
	return 0;
}

/* Every value of a per-sample tag: the common value, or 0 when they differ. */
static int entry_same(const li_tiff *t, int little, const entry *e, uint32_t *out, int dir)
{
	uint64_t v[16];
	uint64_t n = e->count < 16 ? e->count : 16;
	if (n == 0)
		return li_error("cannot read TIFF '%s': directory %d: tag %u has no value", t->name,
		                dir, e->tag);
	if (entry_uints(t, little, e, v, n, dir) < 0)
		return -1;
	*out = v[0] > UINT32_MAX ? 0 : (uint32_t)v[0];
	for (uint64_t i = 1; i < n; i++)
		if (v[i] != v[0])
			*out = 0;
	return 0;
}

static int tile_array(li_tiff *t, int little, const entry *e, uint64_t **out, uint64_t n, int dir)
{
	uint64_t *a = li_malloc_array((size_t)(n ? n : 1), sizeof *a);
	if (!a)
		return -1;
	if (entry_uints(t, little, e, a, n, dir) < 0) {
		free(a);
		return -1;
	}
	*out = a;
	return 0;
}

static int read_ifd(li_tiff *t, uint64_t off, int dir, uint64_t *next)
{
	const int little = t->little;
	const unsigned csz = t->big ? 8 : 2, esz = t->big ? 20 : 12, osz = t->big ? 8 : 4;
	uint8_t cb[8];
	if (li_tiff_read(t, cb, csz, off) < 0)
		return li_error_prefix("cannot read TIFF '%s': directory %d", t->name, dir);
	uint64_t count = get(cb, csz, little);
	if (count > LI_TIFF_MAX_TAGS)
		return li_error("cannot read TIFF '%s': directory %d has %llu tags (at most %d)",
		                t->name, dir, (unsigned long long)count, LI_TIFF_MAX_TAGS);
	size_t len = (size_t)count * esz + osz;
	uint8_t *buf = li_malloc(len);
	if (!buf)
		return -1;
	if (li_tiff_read(t, buf, len, off + csz) < 0) {
		free(buf);
		return li_error_prefix("cannot read TIFF '%s': directory %d", t->name, dir);
	}
	*next = get(buf + count * esz, osz, little);

	li_tiff_ifd *d = &t->ifd[dir];
	memset(d, 0, sizeof *d);
	d->compression = 1, d->photometric = LI_TIFF_NONE, d->planar = 1, d->spp = 1, d->bps = 1;
	d->sample_format = 1, d->orientation = 1, d->fill_order = 1, d->image_depth = 1;
	d->ycbcr_h = 2, d->ycbcr_v = 2;
	int has_w = 0, has_h = 0, has_tw = 0, has_th = 0;
	entry toff = {0}, tlen = {0};
	int has_toff = 0, has_tlen = 0;
	uint32_t seen = 0; /* bit i: used_tags[i] met */
	int rc = -1;
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *p = buf + i * esz;
		entry e = {.tag = (uint16_t)get(p, 2, little), .type = (uint16_t)get(p + 2, 2, little)};
		e.count = get(p + 4, t->big ? 8 : 4, little);
		const uint8_t *val = p + (t->big ? 12 : 8);
		int k = -1;
		for (size_t j = 0; j < LI_ARRAY_LEN(used_tags); j++)
			if (used_tags[j] == e.tag)
				k = (int)j;
		if (k < 0)
			continue; /* not ours: its data is never read */
		if (seen & (1u << k)) {
			li_error("cannot read TIFF '%s': directory %d: tag %u given twice", t->name, dir,
			         e.tag);
			goto out;
		}
		seen |= 1u << k;
		unsigned ts = type_size(e.type);
		if (!ts) {
			li_error("cannot read TIFF '%s': directory %d: tag %u has unknown type %u",
			         t->name, dir, e.tag, e.type);
			goto out;
		}
		if (e.count > t->size / ts + 8) { /* more data than the file holds */
			li_error("cannot read TIFF '%s': directory %d: tag %u has %llu values, more than "
			         "the file holds", t->name, dir, e.tag, (unsigned long long)e.count);
			goto out;
		}
		e.bytes = e.count * ts;
		if (e.bytes <= osz) {
			e.inline_data = val;
		} else {
			e.off = get(val, osz, little);
			if (e.off > t->size || e.bytes > t->size - e.off) {
				li_error("cannot read TIFF '%s': directory %d: tag %u's data runs past the "
				         "end of the file", t->name, dir, e.tag);
				goto out;
			}
		}
		int r = 0;
		uint32_t v;
		switch (e.tag) {
		case T_SUBFILETYPE: r = entry_uint(t, little, &e, &d->subfiletype, dir); d->has_subfiletype = 1; break;
		case T_WIDTH: r = entry_uint(t, little, &e, &v, dir); d->width = v; has_w = 1; break;
		case T_HEIGHT: r = entry_uint(t, little, &e, &v, dir); d->height = v; has_h = 1; break;
		case T_BPS: r = entry_same(t, little, &e, &d->bps, dir); break;
		case T_COMPRESSION: r = entry_uint(t, little, &e, &d->compression, dir); break;
		case T_PHOTOMETRIC: r = entry_uint(t, little, &e, &d->photometric, dir); break;
		case T_FILLORDER: r = entry_uint(t, little, &e, &d->fill_order, dir); break;
		case T_ORIENTATION: r = entry_uint(t, little, &e, &d->orientation, dir); break;
		case T_SPP: r = entry_uint(t, little, &e, &d->spp, dir); break;
		case T_PLANAR: r = entry_uint(t, little, &e, &d->planar, dir); break;
		case T_TILE_W: r = entry_uint(t, little, &e, &d->tile_w, dir); has_tw = 1; break;
		case T_TILE_H: r = entry_uint(t, little, &e, &d->tile_h, dir); has_th = 1; break;
		case T_TILE_OFF: toff = e; has_toff = 1; break;
		case T_TILE_LEN: tlen = e; has_tlen = 1; break;
		case T_EXTRA: d->extra_samples = e.count > UINT32_MAX ? UINT32_MAX : (uint32_t)e.count; break;
		case T_SAMPLEFORMAT: r = entry_same(t, little, &e, &d->sample_format, dir); break;
		case T_JPEGTABLES:
			d->tables_len = e.bytes;
			d->tables_off = e.inline_data ? off + csz + i * esz + (t->big ? 12 : 8) : e.off;
			break;
		case T_YCBCRSUB: {
			uint64_t s[2];
			r = entry_uints(t, little, &e, s, 2, dir);
			if (r == 0 && (s[0] > 4 || s[1] > 4)) {
				li_error("cannot read TIFF '%s': directory %d: YCbCr subsampling %llu, %llu",
				         t->name, dir, (unsigned long long)s[0], (unsigned long long)s[1]);
				r = -1;
			}
			d->ycbcr_h = (uint32_t)s[0], d->ycbcr_v = (uint32_t)s[1], d->has_ycbcr_sub = 1;
			break;
		}
		case T_DEPTH: r = entry_uint(t, little, &e, &d->image_depth, dir); break;
		}
		if (r < 0)
			goto out;
	}
	if (!has_tw && !has_th && !has_toff) {
		rc = 0; /* a stripped directory: nothing more we need */
		goto out;
	}
	if (!has_tw || !has_th || !has_toff || !has_tlen || !has_w || !has_h) {
		li_error("cannot read TIFF '%s': directory %d is tiled but lacks %s", t->name, dir,
		         !has_tw ? "TileWidth" : !has_th ? "TileLength" : !has_toff ? "TileOffsets"
		         : !has_tlen ? "TileByteCounts" : !has_w ? "ImageWidth" : "ImageLength");
		goto out;
	}
	if (d->tile_w < 1 || d->tile_w > LI_TIFF_MAX_TILE || d->tile_h < 1 ||
	    d->tile_h > LI_TIFF_MAX_TILE || d->width < 1 || d->height < 1 || d->spp < 1 ||
	    d->spp > 16) {
		li_error("cannot read TIFF '%s': directory %d: image %llux%llu, tiles %ux%u, %u "
		         "samples", t->name, dir, (unsigned long long)d->width,
		         (unsigned long long)d->height, d->tile_w, d->tile_h, d->spp);
		goto out;
	}
	d->tiles_across = (d->width + d->tile_w - 1) / d->tile_w;
	d->tiles_down = (d->height + d->tile_h - 1) / d->tile_h;
	/* libtiff numbers tiles with 32 bits: more is refused (and the
	 * product cannot overflow on the way) */
	const uint64_t planes = d->planar == 2 ? d->spp : 1;
	if (d->tiles_across > UINT32_MAX / d->tiles_down ||
	    d->tiles_across * d->tiles_down > UINT32_MAX / planes) {
		li_error("cannot read TIFF '%s': directory %d: %llux%llu tiles of %ux%u, too many",
		         t->name, dir, (unsigned long long)d->tiles_across,
		         (unsigned long long)d->tiles_down, d->tile_w, d->tile_h);
		goto out;
	}
	d->ntiles = d->tiles_across * d->tiles_down * planes;
	if (toff.count < d->ntiles || tlen.count < d->ntiles) {
		li_error("cannot read TIFF '%s': directory %d has %llu tiles but %llu offsets and "
		         "%llu byte counts", t->name, dir, (unsigned long long)d->ntiles,
		         (unsigned long long)toff.count, (unsigned long long)tlen.count);
		goto out;
	}
	if (tile_array(t, little, &toff, &d->tile_off, d->ntiles, dir) < 0 ||
	    tile_array(t, little, &tlen, &d->tile_len, d->ntiles, dir) < 0)
		goto out;
	for (uint64_t i = 0; i < d->ntiles; i++)
		if (d->tile_off[i] > t->size || d->tile_len[i] > t->size - d->tile_off[i]) {
			li_error("cannot read TIFF '%s': directory %d: tile %llu runs past the end of the "
			         "file", t->name, dir, (unsigned long long)i);
			goto out;
		}
	rc = 0;
out:
	free(buf);
	return rc;
}

static li_tiff *parse(li_tiff *t)
{
	uint8_t h[16];
	if (t->size < 8 || li_tiff_read(t, h, t->size < 16 ? 8 : 16, 0) < 0) {
		li_error("cannot read TIFF '%s': too short for a TIFF header", t->name);
		goto fail;
	}
	int little;
	if (h[0] == 'I' && h[1] == 'I')
		little = 1;
	else if (h[0] == 'M' && h[1] == 'M')
		little = 0;
	else {
		li_error("cannot read TIFF '%s': not a TIFF (no II or MM)", t->name);
		goto fail;
	}
	t->little = little;
	uint64_t magic = get(h + 2, 2, little), off;
	if (magic == 42) {
		off = get(h + 4, 4, little);
	} else if (magic == 43 && t->size >= 16 && get(h + 4, 2, little) == 8 &&
	           get(h + 6, 2, little) == 0) {
		t->big = 1;
		off = get(h + 8, 8, little);
	} else {
		li_error("cannot read TIFF '%s': not a TIFF or BigTIFF header", t->name);
		goto fail;
	}
	uint64_t seen[LI_TIFF_MAX_IFDS];
	t->ifd = li_calloc(LI_TIFF_MAX_IFDS, sizeof *t->ifd);
	if (!t->ifd)
		goto fail;
	while (off) {
		if (t->n == LI_TIFF_MAX_IFDS) {
			li_error("cannot read TIFF '%s': more than %d directories", t->name,
			         LI_TIFF_MAX_IFDS);
			goto fail;
		}
		for (int i = 0; i < t->n; i++)
			if (seen[i] == off) {
				li_error("cannot read TIFF '%s': directory %d loops back to directory %d",
				         t->name, t->n - 1, i);
				goto fail;
			}
		seen[t->n] = off;
		uint64_t next = 0;
		t->n++; /* counted first, so li_tiff_free frees a half-read directory */
		if (read_ifd(t, off, t->n - 1, &next) < 0)
			goto fail;
		off = next;
	}
	if (t->n == 0) {
		li_error("cannot read TIFF '%s': no directories", t->name);
		goto fail;
	}
	return t;
fail:
	li_tiff_free(t);
	return NULL;
}

static li_tiff *reader_new(const char *name)
{
	li_tiff *t = li_calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->fd = -1;
	if (!(t->name = li_strdup(name))) {
		free(t);
		return NULL;
	}
	return t;
}

li_tiff *li_tiff_open(const char *path)
{
	li_tiff *t = reader_new(path);
	if (!t)
		return NULL;
	struct stat st;
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0 || fstat(t->fd, &st) < 0) {
		li_error("cannot read TIFF '%s': %s", path, strerror(errno));
		li_tiff_free(t);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		li_error("cannot read TIFF '%s': not a regular file", path);
		li_tiff_free(t);
		return NULL;
	}
	t->size = (uint64_t)st.st_size;
	return parse(t);
}

li_tiff *li_tiff_open_mem(const uint8_t *buf, size_t len, const char *name)
{
	li_tiff *t = reader_new(name);
	if (!t)
		return NULL;
	static const uint8_t empty[1];
	t->mem = buf ? buf : empty;
	t->size = len;
	return parse(t);
}

void li_tiff_free(li_tiff *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	for (int i = 0; t->ifd && i < t->n; i++) {
		free(t->ifd[i].tile_off);
		free(t->ifd[i].tile_len);
	}
	free(t->ifd);
	free(t->name);
	free(t);
}
