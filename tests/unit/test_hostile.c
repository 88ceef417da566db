/* test_hostile.c: every file of the hostile corpus is refused with one line
 * naming the file (or decodes, for the few that are in fact valid), with no
 * crash, hang or sanitizer report. PNG and JPEG go through li_image, the
 * rest through li_slide, reading every pixel of every level.
 *
 * The files under 100 KB live in tests/fixtures/images/hostile; the large
 * TIFFs are read from $LI_SHARED/data/hostile when it is there (a visible
 * skip otherwise). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_image_io.h"
#include "li_slide.h"
#include "tap.h"

#define FIX "tests/fixtures/images/hostile"

/* Valid files in the corpus, and why they are valid. */
static const char *const valid[][2] = {
	{"crasher-empty_ancillary_chunks.png",
	 "every ancillary chunk is empty (it crashed old libpng); IHDR, PLTE, IDAT and IEND form a "
	 "valid 1x1 image, and ancillary chunks are ignored"},
	{"quad-tile.jpg.tiff", "libtiff's valid tiled JPEG TIFF test image, 512x384"},
};

/* Too large for the fixtures: read from the shared data directory. */
static const char *const large[] = {
	"badsoi.tif", "badtile.tif", "bomb_16k.png", "flip.tif", "ifd_ff.tif", "trunc50.tif",
};

static const char *why_valid(const char *name)
{
	for (size_t i = 0; i < LI_ARRAY_LEN(valid); i++)
		if (strcmp(valid[i][0], name) == 0)
			return valid[i][1];
	return NULL;
}

/* Decode the whole file: 0 or -1 with li_error. Sets *pixels to a checksum
 * of what was read, to show a valid file gave real pixels. */
static int decode(const char *path, unsigned long *pixels)
{
	uint8_t magic[8] = {0};
	FILE *fp = fopen(path, "rb");
	size_t n = fp ? fread(magic, 1, sizeof magic, fp) : 0;
	if (fp)
		fclose(fp);
	*pixels = 0;
	if (li_image_sniff(magic, n) != LI_IMAGE_UNKNOWN) {
		li_image *img = li_image_read(path, NULL);
		if (!img)
			return -1;
		for (size_t i = 0; i < (size_t)img->width * img->height * 3; i++)
			*pixels += img->data[i] != 255;
		*pixels += 1;
		li_image_free(img);
		return 0;
	}
	li_slide *s = li_slide_open(path);
	if (!s)
		return -1;
	li_image *tile = li_image_new(512, 512, 3);
	int rc = 0;
	for (int l = 0; rc == 0 && l < li_slide_level_count(s); l++) {
		int64_t w, h;
		li_slide_level_size(s, l, &w, &h);
		double ds = li_slide_level_downsample(s, l);
		for (int64_t y = 0; rc == 0 && y < h; y += 512)
			for (int64_t x = 0; rc == 0 && x < w; x += 512) {
				rc = li_slide_read_region_into(s, tile, (int64_t)(x * ds), (int64_t)(y * ds), l);
				for (size_t i = 0; rc == 0 && i < 512 * 512 * 3; i++)
					*pixels += tile->data[i] != 255;
			}
	}
	li_image_free(tile);
	li_slide_free(s);
	return rc;
}

static void check_file(const char *dir, const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	unsigned long pixels;
	li_error_clear();
	int rc = decode(path, &pixels);
	const char *why = why_valid(name);
	if (why) {
		if (ok(rc == 0, "%s decodes: valid (%s)", name, why))
			ok(pixels > 0, "%s: real pixels, not a blank", name);
		else
			diag("%s", li_errmsg());
		return;
	}
	ok(rc == -1, "%s refused", name);
	const char *msg = li_errmsg();
	char quoted[1100];
	snprintf(quoted, sizeof quoted, "'%s'", path);
	ok(strstr(msg, quoted) != NULL && !strchr(msg, '\n') && strlen(msg) < 300,
	   "%s: one line naming the file: %s", name, msg);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	DIR *d = opendir(FIX);
	if (!ok(d != NULL, "open " FIX))
		return done_testing();
	char *names[256] = {0};
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp);
	ok(n >= 50, "the fixture corpus has %d files", n);
	for (int i = 0; i < n; i++) {
		check_file(FIX, names[i]);
		free(names[i]);
	}

	const char *shared = getenv("LI_SHARED");
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/data/hostile", shared ? shared : "../shared");
	for (size_t i = 0; i < LI_ARRAY_LEN(large); i++) {
		char path[1100];
		snprintf(path, sizeof path, "%s/%s", dir, large[i]);
		FILE *fp = fopen(path, "rb");
		if (!fp) {
			skip("%s not found in %s (set LI_SHARED)", large[i], dir);
			continue;
		}
		fclose(fp);
		check_file(dir, large[i]);
	}
	return done_testing();
}
