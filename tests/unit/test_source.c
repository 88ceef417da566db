/* test_source.c: list rows as sources (li_source): the columns a region list
 * needs, every row check with its exact message, regions read as li-tile
 * reads them (level region, then resize), the least-recently-used set of
 * open slides (bounded handles and file descriptors, reopened after an
 * eviction), and a failed read that names the row and never gives pixels.
 * The pixels against li-tile's own PNG tiles are in tests/cli/li-score.bats. */
#include <dirent.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"
#include "li_image_io.h"
#include "li_list.h"
#include "li_slide.h"
#include "li_source.h"
#include "tap.h"
#include "testdir.h"

static li_list *list_of(const char *name, const char *text)
{
	return li_list_read(put(name, text));
}

static void test_rows(void)
{
	li_list *l = list_of("m.tsv", "path\tslide_path\tx\ty\tlevel\tdownsample\tsize\n"
				      "a.png\t\t\t\t\t\t\n"
				      "r.png\ts.svs\t448\t224\t1\t2.8\t224\n"
				      "b.png\ts.svs\t1.5\t0\t0\t1\t224\n"
				      "c.png\ts.svs\t0\t0\t-1\t1\t224\n"
				      "d.png\ts.svs\t0\t0\t0\tnan\t224\n"
				      "e.png\ts.svs\t0\t0\t0\t0\t224\n"
				      "f.png\ts.svs\t0\t0\t0\t1\t16385\n"
				      "g.png\ts.svs\t0\t0\t0\t1\t0\n");
	if (!ok(l != NULL, "read the region list: %s", li_errmsg()))
		return;
	li_source_cols c;
	ok(li_source_cols_find(l, &c) == 0 && c.slide == 1 && c.size == 6, "columns found");
	li_source s;
	ok(li_source_from_row(l, &c, &l->rows[0], &s) == 0 && !s.slide && strcmp(s.path, "a.png") == 0,
	   "an empty slide_path is an image file");
	ok(li_source_from_row(l, &c, &l->rows[1], &s) == 0 && s.slide && strcmp(s.slide, "s.svs") == 0 &&
		   s.x == 448 && s.y == 224 && s.level == 1 && s.downsample == 2.8 && s.size == 224 &&
		   s.line == 3 && strcmp(s.list, l->name) == 0,
	   "a region row: slide, corner, level, downsample, size and line");
	static const char *const want[] = {
		"line 4: x '1.5' is not an integer",
		"line 5: level '-1' is not a non-negative integer",
		"line 6: downsample 'nan' is not a finite number > 0",
		"line 7: downsample '0' is not a finite number > 0",
		"line 8: size '16385' is not an integer from 1 to 16384",
		"line 9: size '0' is not an integer from 1 to 16384",
	};
	for (int i = 0; i < 6; i++) {
		int rc = li_source_from_row(l, &c, &l->rows[2 + i], &s);
		ok(rc < 0 && strstr(li_errmsg(), want[i]) && strstr(li_errmsg(), "m.tsv'"),
		   "refused: %s", li_errmsg());
	}
	li_list_free(l);
	l = list_of("n.tsv", "path\tslide_path\tx\ty\tdownsample\tsize\nr.png\ts.svs\t0\t0\t1\t224\n");
	ok(l && li_source_cols_find(l, &c) < 0 &&
		   strstr(li_errmsg(), "n.tsv': slide_path needs the columns x, y, level, downsample and "
				       "size (no 'level')"),
	   "slide_path without level: %s", li_errmsg());
	li_list_free(l);
	l = list_of("f.tsv", "path\tlabel\nx.png\t1\n");
	ok(l && li_source_cols_find(l, &c) == 0 && c.slide < 0, "a list without slide_path: files");
	li_list_free(l);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The region li-tile would cut: level region of lround(size * ds / lds)
 * pixels, resized to size. */
static li_image *by_hand(const char *slide, int64_t x, int64_t y, int level, double ds, int size)
{
	li_slide *s = li_slide_open(slide);
	int rs = (int)lround(size * ds / li_slide_level_downsample(s, level));
	li_image *raw = li_slide_read_region(s, x, y, level, rs, rs);
	li_image *out = rs == size ? li_image_clone(raw) : li_image_resize(raw, size, size);
	li_image_free(raw);
	li_slide_free(s);
	return out;
}

static void test_regions(const char *cmu, const char *ihc)
{
	li_source_reader *r = li_source_reader_new(2);
	li_source s = {.path = "t.png", .slide = ihc, .x = 627, .y = 627, .level = 1, .downsample = 2.8,
		       .size = 224, .list = "m.tsv", .line = 2};
	li_image *a = li_source_read(r, &s, 3), *b = by_hand(ihc, 627, 627, 1, 2.8, 224);
	ok(a && b && a->width == 224 && memcmp(a->data, b->data, 224 * 224 * 3) == 0,
	   "ihc, level 1 resized 314 -> 224: the region equals read + resize");
	li_image_free(a);
	a = li_source_read(r, &s, 1);
	li_image *g = b ? li_image_convert(b, 1) : NULL;
	ok(a && g && a->channels == 1 && memcmp(a->data, g->data, 224 * 224) == 0,
	   "1 channel: converted as li_image_convert");
	li_image_free(a), li_image_free(b), li_image_free(g);
	s = (li_source){.path = "c.png", .slide = cmu, .x = 896, .y = 224, .level = 0, .downsample = 1,
			.size = 224, .list = "m.tsv", .line = 3};
	a = li_source_read(r, &s, 3), b = by_hand(cmu, 896, 224, 0, 1, 224);
	ok(a && b && memcmp(a->data, b->data, 224 * 224 * 3) == 0, "CMU, level 0: the region as read");
	li_image_free(a), li_image_free(b);
	ok(li_source_reader_opens(r) == 2 && li_source_reader_open_count(r) == 2, "two slides open");

	/* errors: one line naming the list and line, the region and the slide */
	s.level = 5;
	a = li_source_read(r, &s, 3);
	char want[4096];
	snprintf(want, sizeof want,
		 "'m.tsv' line 3: region x 896 y 224 level 5 size 224 of slide '%s': slide '%s' has "
		 "no level 5 (levels 0-0)", cmu, cmu);
	ok(!a && strcmp(li_errmsg(), want) == 0, "a level that does not exist: %s", li_errmsg());
	s.level = 0, s.x = 2220;
	a = li_source_read(r, &s, 3);
	ok(!a && strstr(li_errmsg(), "region x 2220 y 224 level 0 size 224 of slide") &&
		   strstr(li_errmsg(), ": the corner is outside the slide (level 0 is 2220x2967)"),
	   "a corner outside the slide: %s", li_errmsg());
	s.x = -1;
	ok(!li_source_read(r, &s, 3), "a negative corner too");
	s.x = 2219, s.y = 2966;
	a = li_source_read(r, &s, 3);
	ok(a && a->data[(size_t)(224 * 224 - 1) * 3] == 255, "a corner inside that runs past the edge: white beyond");
	li_image_free(a);
	s.x = 0, s.y = 0, s.downsample = 100;
	ok(!li_source_read(r, &s, 3) && strstr(li_errmsg(), "22400 pixels a side would be read from level 0"),
	   "a region too large to read: %s", li_errmsg());
	s.downsample = 1, s.slide = in_dir("missing.svs");
	a = li_source_read(r, &s, 3);
	ok(!a && strstr(li_errmsg(), "'m.tsv' line 3: region x 0 y 0 level 0 size 224 of slide '") &&
		   strstr(li_errmsg(), "missing.svs': cannot open slide '"),
	   "a slide that cannot be opened: %s", li_errmsg());
	li_source_reader_free(r);

	/* the LRU: 8 names of one slide, read round robin, never more than 2 open */
	char names[8][1024];
	for (int i = 0; i < 8; i++) {
		char n[32];
		snprintf(n, sizeof n, "copy%d.tiff", i);
		snprintf(names[i], sizeof names[i], "%s", in_dir(n));
		if (symlink(cmu, names[i]) < 0)
			ok(0, "symlink %s", names[i]);
	}
	r = li_source_reader_new(2);
	int fd0 = open_fds(), maxfd = fd0, maxopen = 0;
	bool same = true;
	b = by_hand(cmu, 448, 448, 0, 1, 64);
	for (int k = 0; k < 16; k++) {
		s = (li_source){.path = "x.png", .slide = names[k % 8], .x = 448, .y = 448, .level = 0,
				.downsample = 1, .size = 64};
		a = li_source_read(r, &s, 3);
		same = same && a && b && memcmp(a->data, b->data, 64 * 64 * 3) == 0;
		li_image_free(a);
		maxopen = li_source_reader_open_count(r) > maxopen ? li_source_reader_open_count(r) : maxopen;
		maxfd = open_fds() > maxfd ? open_fds() : maxfd;
	}
	ok(same, "every copy reads the same pixels");
	is_int(maxopen, 2, "never more than 2 slides open");
	is_int(li_source_reader_opens(r), 16, "round robin over 8 with room for 2: every read reopens");
	ok(maxfd - fd0 <= 4, "file descriptors bounded: at most %d more than before (%d)", maxfd - fd0, fd0);
	for (int k = 0; k < 10; k++) {
		s.slide = names[k % 2];
		li_image_free(li_source_read(r, &s, 3));
	}
	is_int(li_source_reader_opens(r), 18, "then two slides in turn: opened once each, then kept open");
	li_source_reader_free(r);
	ok(open_fds() == fd0, "freeing the reader closes them all");
	li_image_free(b);
}

int main(void)
{
	if (test_dir_make() < 0)
		return done_testing();
	test_rows();
	const char *shared = getenv("LI_SHARED");
	char cmu[1024], ihc[1024];
	snprintf(cmu, sizeof cmu, "%s/data/CMU-1-Small-Region.tiff", shared ? shared : "../shared");
	snprintf(ihc, sizeof ihc, "%s/data/ihc_2k_pyr.tif", shared ? shared : "../shared");
	if (access(cmu, R_OK) == 0 && access(ihc, R_OK) == 0)
		test_regions(cmu, ihc);
	else
		skip("%s or %s not found (set LI_SHARED)", cmu, ihc);
	test_dir_remove();
	return done_testing();
}
