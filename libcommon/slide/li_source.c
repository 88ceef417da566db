/* li_source.c: list rows to pixels: image files decoded, slide regions read
 * as li-tile reads them, through a small least-recently-used set of open
 * slides (see li_source.h). */
#include "li_source.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_image_io.h"
#include "li_slide.h"
#include "li_util.h"

int li_source_cols_find(const li_list *l, li_source_cols *c)
{
	*c = (li_source_cols){.slide = li_list_col(l, "slide_path"), -1, -1, -1, -1, -1};
	if (c->slide < 0)
		return 0;
	static const char *const names[] = {"x", "y", "level", "downsample", "size"};
	int *idx[] = {&c->x, &c->y, &c->level, &c->downsample, &c->size};
	for (size_t i = 0; i < LI_ARRAY_LEN(names); i++)
		if ((*idx[i] = li_list_col(l, names[i])) < 0)
			return li_error("'%s': slide_path needs the columns x, y, level, downsample and "
			                "size (no '%s')", l->name, names[i]);
	return 0;
}

li_source li_source_file(const char *path)
{
	return (li_source){.path = path};
}

static int bad_row(const li_list *l, const li_row *r, const char *col, const char *v,
                   const char *what)
{
	if (r->line > 0)
		return li_error("'%s' line %ld: %s '%s' is not %s", l->name, r->line, col, v, what);
	return li_error("'%s': %s '%s' is not %s", l->name, col, v, what);
}

int li_source_from_row(const li_list *l, const li_source_cols *c, const li_row *r, li_source *s)
{
	*s = (li_source){.path = r->field[0], .list = l->name, .line = r->line};
	if (c->slide < 0 || !r->field[c->slide][0])
		return 0;
	long x, y, level, size;
	double ds;
	const char *f;
	if (li_list_long(l, r, c->x, &x) < 0 || li_list_long(l, r, c->y, &y) < 0)
		return -1;
	f = r->field[c->level];
	if (li_parse_long(f, &level) < 0 || level < 0 || level > INT_MAX)
		return bad_row(l, r, "level", f, "a non-negative integer");
	f = r->field[c->downsample];
	if (li_parse_double(f, &ds) < 0 || !(ds > 0) || !isfinite(ds))
		return bad_row(l, r, "downsample", f, "a finite number > 0");
	f = r->field[c->size];
	if (li_parse_long(f, &size) < 0 || size < 1 || size > LI_SOURCE_MAX_SIDE)
		return bad_row(l, r, "size", f, "an integer from 1 to 16384");
	li_error_clear(); /* li_parse_* may have recorded why */
	s->slide = r->field[c->slide];
	s->x = x, s->y = y;
	s->level = (int)level;
	s->downsample = ds;
	s->size = (int)size;
	return 0;
}

/* ---- the reader ---- */

typedef struct open_slide {
	char *path;
	li_slide *s;
	uint64_t used; /* tick of the last use */
} open_slide;

struct li_source_reader {
	int cap, n;
	open_slide *e;
	uint64_t tick, opens;
	li_image *raw; /* the region as read, before any resize; reused */
};

li_source_reader *li_source_reader_new(int max_slides)
{
	li_source_reader *r = li_calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->cap = max_slides > 0 ? max_slides : LI_SOURCE_DEFAULT_SLIDES;
	if (!(r->e = li_calloc((size_t)r->cap, sizeof *r->e))) {
		free(r);
		return NULL;
	}
	return r;
}

static void close_entry(li_source_reader *r, int i)
{
	li_slide_free(r->e[i].s);
	free(r->e[i].path);
	r->e[i] = r->e[--r->n];
}

void li_source_reader_free(li_source_reader *r)
{
	if (!r)
		return;
	while (r->n > 0)
		close_entry(r, r->n - 1);
	free(r->e);
	li_image_free(r->raw);
	free(r);
}

int li_source_reader_open_count(const li_source_reader *r) { return r->n; }
uint64_t li_source_reader_opens(const li_source_reader *r) { return r->opens; }

/* The open slide at path (opened, the least recently used closed first when
 * the set is full); its index, or -1 with li_error. */
static int get_slide(li_source_reader *r, const char *path)
{
	r->tick++;
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->e[i].path, path) == 0) {
			r->e[i].used = r->tick;
			return i;
		}
	if (r->n == r->cap) {
		int lru = 0;
		for (int i = 1; i < r->n; i++)
			if (r->e[i].used < r->e[lru].used)
				lru = i;
		close_entry(r, lru);
	}
	char *copy = li_strdup(path);
	li_slide *s = copy ? li_slide_open(path) : NULL;
	if (!s) {
		free(copy);
		return -1;
	}
	r->opens++;
	r->e[r->n] = (open_slide){copy, s, r->tick};
	return r->n++;
}

/* Open the region's slide and check the region against it: the index of
 * the slide and *rs, the side read from the level (li-tile's read_size), or
 * -1 with li_error (not yet naming the row: the caller prefixes that). */
static int locate(li_source_reader *r, const li_source *src, int *rs)
{
	int i = get_slide(r, src->slide);
	if (i < 0)
		return -1;
	li_slide *s = r->e[i].s;
	int64_t w0, h0;
	if (li_slide_level_size(s, src->level, &w0, &h0) < 0) /* no such level */
		return -1;
	li_slide_level_size(s, 0, &w0, &h0);
	if (src->x < 0 || src->y < 0 || src->x >= w0 || src->y >= h0)
		return li_error("the corner is outside the slide (level 0 is %lldx%lld)", (long long)w0,
		                (long long)h0);
	const double lds = li_slide_level_downsample(s, src->level);
	const double side = src->size * src->downsample / lds;
	if (!(side >= 0.5 && side < LI_SOURCE_MAX_SIDE + 0.5))
		return li_error("%.0f pixels a side would be read from level %d (1 to %d allowed)",
		                side, src->level, LI_SOURCE_MAX_SIDE);
	*rs = (int)lround(side);
	return i;
}

/* "'m.tsv' line 7: region x .. of slide '..': " before the current message. */
static void name_region(const li_source *src)
{
	char where[LI_ERRMSG_MAX];
	if (src->list && src->line > 0)
		snprintf(where, sizeof where, "'%s' line %ld: ", src->list, src->line);
	else
		where[0] = '\0';
	li_error_prefix("%sregion x %lld y %lld level %d size %d of slide '%s'", where,
	                (long long)src->x, (long long)src->y, src->level, src->size, src->slide);
}

int li_source_check(li_source_reader *r, const li_source *src)
{
	int rs;
	if (!src->slide || locate(r, src, &rs) >= 0)
		return 0;
	name_region(src);
	return -1;
}

/* The region's pixels as li-tile writes them (RGB, size x size), or NULL
 * with li_error (not yet naming the row). */
static li_image *read_region(li_source_reader *r, const li_source *src)
{
	int rs;
	int i = locate(r, src, &rs);
	if (i < 0)
		return NULL;
	li_slide *s = r->e[i].s;
	if (!r->raw || r->raw->width != rs) {
		li_image_free(r->raw);
		if (!(r->raw = li_image_new(rs, rs, 3)))
			return NULL;
	}
	if (li_slide_read_region_into(s, r->raw, src->x, src->y, src->level) < 0) {
		close_entry(r, i); /* OpenSlide's handle is dead after an error */
		return NULL;
	}
	return rs == src->size ? li_image_clone(r->raw) : li_image_resize(r->raw, src->size, src->size);
}

li_image *li_source_read(li_source_reader *r, const li_source *src, int channels)
{
	if (!src->slide) {
		li_image_opts o = {.channels = channels};
		return li_image_read(src->path, &o);
	}
	li_image *img = read_region(r, src);
	if (img && channels != 3) {
		li_image *g = li_image_convert(img, channels);
		li_image_free(img);
		img = g;
	}
	if (!img)
		name_region(src);
	return img;
}
