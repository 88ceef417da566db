/* li-image: look at, check and convert images with the toolkit's own decoder,
 * so a dataset is checked with exactly the code that will read it in
 * training. See li-image(1). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_image_io.h"
#include "li_list.h"
#include "li_slide.h"
#include "li_source.h"

/* Slides are checked in regions of this many pixels a side. */
#define CHECK_TILE 1024

typedef struct opts {
	const char *outdir;    /* extract -o */
	int width, height;     /* --size; 0: keep */
	int quality, level;    /* -1: not given */
	bool gray;
	uint64_t max_pixels;   /* 0: LI_MAX_PIXELS or the default */
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-image info FILE...\n"
	       "       li-image check [OPTION]... FILE...|-\n"
	       "       li-image convert [OPTION]... IN OUT\n"
	       "       li-image extract -o DIR [LIST|-]\n"
	       "Look at, check and convert PNG and JPEG images (and slides, for info and check).\n"
	       "\n"
	       "  info     one TSV line per file: path, format, width, height, channels\n"
	       "  check    decode every file (with -, every path of a list on stdin); print\n"
	       "           one line per failure on stderr, exit 1 if any failed; slide\n"
	       "           regions of the list (rows with a slide_path) are read\n"
	       "  convert  decode IN, resize, encode OUT (format from its extension)\n"
	       "  extract  write the pixels of every row of a list (an image file, or a slide\n"
	       "           region as li-tile would cut it) as DIR/<file name of its path>\n"
	       "\n"
	       "  -s, --size WxH         convert: resize to exactly WxH (N means NxN)\n"
	       "  -q, --quality Q        convert: JPEG quality 1-100 (default %d)\n"
	       "  -l, --level N          convert: PNG compression level 0-9 (default %d)\n"
	       "  -g, --gray             convert, extract: write 1-channel gray\n"
	       "  -o, --output DIR       extract: the directory (created if missing)\n"
	       "      --max-pixels N     refuse larger images (default: LI_MAX_PIXELS, %llu)\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "See li-image(1).\n",
	       LI_IMAGE_DEFAULT_JPEG_QUALITY, LI_IMAGE_DEFAULT_PNG_LEVEL,
	       (unsigned long long)LI_IMAGE_DEFAULT_MAX_PIXELS);
	exit(LI_EXIT_OK);
}

static void parse_size(const char *arg, opts *o)
{
	char buf[64];
	if (strlen(arg) >= sizeof buf)
		li_usage_error("--size: '%s' is not WxH", arg);
	memcpy(buf, arg, strlen(arg) + 1);
	char *x = strchr(buf, 'x');
	if (x)
		*x = '\0';
	o->width = (int)li_opt_long("--size", buf, 1, 65535);
	o->height = x ? (int)li_opt_long("--size", x + 1, 1, 65535) : o->width;
}

/* Is this file one for li_slide (anything readable that is not PNG or JPEG:
 * TIFF, NDPI, MRXS, ...)? li_slide_open says "not a slide" for the rest. */
static bool is_slide(const char *path)
{
	uint8_t magic[8];
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return false; /* li_image_read reports why */
	size_t n = fread(magic, 1, sizeof magic, fp);
	fclose(fp);
	return n > 0 && li_image_sniff(magic, n) == LI_IMAGE_UNKNOWN;
}

static int info_one(const char *path)
{
	if (is_slide(path)) {
		li_slide *s = li_slide_open(path);
		if (!s)
			return -1;
		int64_t w, h;
		li_slide_level_size(s, 0, &w, &h);
		printf("%s\t%s\t%lld\t%lld\t3\n", path, li_slide_vendor(s), (long long)w, (long long)h);
		li_slide_free(s);
		return 0;
	}
	li_image_info info;
	if (li_image_read_info(path, &info) < 0)
		return -1;
	printf("%s\t%s\t%d\t%d\t%d\n", path, li_image_format_name(info.format), info.width, info.height,
	       info.channels);
	return 0;
}

/* Read every pixel of every level: a slide is only known good once all its
 * tiles have decoded. */
static int check_slide(const char *path)
{
	li_slide *s = li_slide_open(path);
	if (!s)
		return -1;
	li_image *tile = li_image_new(CHECK_TILE, CHECK_TILE, 3);
	int rc = tile ? 0 : -1;
	for (int l = 0; rc == 0 && l < li_slide_level_count(s); l++) {
		int64_t w, h;
		li_slide_level_size(s, l, &w, &h);
		double ds = li_slide_level_downsample(s, l);
		for (int64_t y = 0; rc == 0 && y < h; y += CHECK_TILE)
			for (int64_t x = 0; rc == 0 && x < w; x += CHECK_TILE)
				rc = li_slide_read_region_into(s, tile, (int64_t)(x * ds), (int64_t)(y * ds), l);
	}
	li_image_free(tile);
	li_slide_free(s);
	return rc;
}

static int check_one(const char *path, const li_image_opts *io)
{
	if (is_slide(path))
		return check_slide(path);
	li_image *img = li_image_read(path, io);
	li_image_free(img);
	return img ? 0 : -1;
}

static int cmd_info(int argc, char **argv)
{
	if (argc < 1)
		li_usage_error("info: no FILE given");
	int failed = 0;
	printf("path\tformat\twidth\theight\tchannels\n");
	for (int i = 0; i < argc; i++)
		if (info_one(argv[i]) < 0) {
			li_note("%s", li_errmsg());
			failed = 1;
		}
	return failed ? LI_EXIT_FAILURE : LI_EXIT_OK;
}

/* The list at path (- for stdin), its image or region columns and a reader
 * of its rows' pixels; an error is fatal. */
static li_list_reader *open_sources(const char *path, li_source_cols *sc, li_source_reader **rd)
{
	li_list_reader *r = li_list_reader_open(path);
	if (!r)
		li_die_lib();
	*rd = li_source_reader_new(0);
	if (!*rd || li_source_cols_find(li_list_reader_list(r), sc) < 0)
		li_die_lib();
	return r;
}

static int cmd_check(int argc, char **argv, const opts *o)
{
	if (argc < 1)
		li_usage_error("check: no FILE given (use - to read a list on stdin)");
	li_image_opts io = {.max_pixels = o->max_pixels};
	long failed = 0;
	if (argc == 1 && strcmp(argv[0], "-") == 0) {
		li_source_cols sc;
		li_source_reader *rd;
		li_list_reader *r = open_sources("-", &sc, &rd);
		const li_list *l = li_list_reader_list(r);
		const li_row *row;
		int rc;
		while ((rc = li_list_reader_next(r, &row)) == 1) {
			li_source src;
			if (li_source_from_row(l, &sc, row, &src) < 0)
				li_die_lib();
			int bad = 0;
			if (src.slide) {
				li_image *img = li_source_read(rd, &src, 3);
				bad = !img;
				li_image_free(img);
			} else {
				bad = check_one(row->field[0], &io) < 0;
			}
			if (bad) {
				li_note("%s", li_errmsg());
				failed++;
			}
		}
		if (rc < 0)
			li_die_lib();
		li_source_reader_free(rd);
		li_list_reader_close(r);
	} else {
		li_progress p;
		li_progress_start(&p, "check", (uint64_t)argc);
		for (int i = 0; i < argc; i++) {
			if (check_one(argv[i], &io) < 0) {
				li_progress_end(&p);
				li_note("%s", li_errmsg());
				failed++;
				li_progress_start(&p, "check", (uint64_t)argc);
			}
			li_progress_update(&p, (uint64_t)i + 1, NULL);
		}
		li_progress_end(&p);
	}
	return failed ? LI_EXIT_FAILURE : LI_EXIT_OK;
}

static int cmd_convert(int argc, char **argv, const opts *o)
{
	if (argc != 2)
		li_usage_error("convert: need IN and OUT, got %d argument%s", argc, argc == 1 ? "" : "s");
	const char *in = argv[0], *out = argv[1];
	li_image_format fmt = li_image_format_for_path(out);
	if (fmt == LI_IMAGE_UNKNOWN)
		li_usage_error("convert: '%s': unknown output type (use .png, .jpg or .jpeg)", out);
	if (o->quality >= 0 && fmt != LI_IMAGE_JPEG)
		li_usage_error("--quality applies to JPEG output only");
	if (o->level >= 0 && fmt != LI_IMAGE_PNG)
		li_usage_error("--level applies to PNG output only");
	li_image_opts io = {.channels = o->gray ? 1 : 3, .max_pixels = o->max_pixels};
	li_image *img = li_image_read(in, &io);
	if (!img)
		li_die_lib();
	if (o->width && (o->width != img->width || o->height != img->height)) {
		li_image *r = li_image_resize(img, o->width, o->height);
		li_image_free(img);
		if (!r)
			li_die_lib();
		img = r;
	}
	li_image_wopts w = LI_IMAGE_WOPTS_DEFAULT;
	if (o->quality >= 0)
		w.jpeg_quality = o->quality;
	if (o->level >= 0)
		w.png_level = o->level;
	if (li_image_write(img, out, &w) < 0) {
		li_image_free(img);
		li_die_lib();
	}
	li_image_free(img);
	return LI_EXIT_OK;
}

/* The files extract wrote, removed again when a later row fails. */
typedef struct written {
	char **path;
	size_t n, cap;
} written;

static void unwrite(written *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (unlink(w->path[i]) < 0 && errno != ENOENT)
			li_warn("cannot remove '%s': %s", w->path[i], strerror(errno));
}

/* DIR/<file name of path>: the image of every row, as li-train reads it
 * (before any resize to a model's input). All or nothing: on a failed row
 * the files of this run are removed, and one line names the row. */
static int cmd_extract(int argc, char **argv, const opts *o)
{
	if (!o->outdir)
		li_usage_error("extract: no output directory (-o DIR)");
	if (argc > 1)
		li_usage_error("extract: one list at most (got %d)", argc);
	li_source_cols sc;
	li_source_reader *rd;
	li_list_reader *r = open_sources(argc ? argv[0] : "-", &sc, &rd);
	const li_list *l = li_list_reader_list(r);
	if (mkdir(o->outdir, 0777) < 0 && errno != EEXIST)
		li_die("cannot create '%s': %s", o->outdir, strerror(errno));
	written w = {0};
	li_progress p;
	li_progress_start(&p, "extract", 0);
	const li_row *row;
	int rc;
	while ((rc = li_list_reader_next(r, &row)) == 1) {
		li_source src;
		const char *base = strrchr(row->field[0], '/');
		base = base ? base + 1 : row->field[0];
		char out[4096];
		int len = snprintf(out, sizeof out, "%s/%s", o->outdir, base);
		li_image *img = NULL;
		if (!*base || len < 0 || (size_t)len >= sizeof out)
			li_error("'%s' line %ld: no file name to write in '%s'", l->name, row->line,
				 row->field[0]);
		else if (li_source_from_row(l, &sc, row, &src) == 0 &&
			 (img = li_source_read(rd, &src, o->gray ? 1 : 3)) &&
			 li_image_write(img, out, NULL) == 0) {
			li_image_free(img);
			if (w.n == w.cap) {
				w.cap = w.cap ? 2 * w.cap : 64;
				char **np = realloc(w.path, w.cap * sizeof *np);
				if (!np)
					li_die("out of memory");
				w.path = np;
			}
			if (!(w.path[w.n++] = li_strdup(out)))
				li_die_lib();
			li_progress_update(&p, w.n, NULL);
			continue;
		}
		li_image_free(img);
		rc = -1;
		break;
	}
	li_progress_end(&p);
	if (rc < 0) {
		char msg[LI_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", li_errmsg());
		unwrite(&w);
		li_die("%s", msg);
	}
	for (size_t i = 0; i < w.n; i++)
		free(w.path[i]);
	free(w.path);
	li_source_reader_free(rd);
	li_list_reader_close(r);
	return LI_EXIT_OK;
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	enum { OPT_MAX_PIXELS = 256 };
	static const struct option longopts[] = {
		{"size", required_argument, NULL, 's'},
		{"quality", required_argument, NULL, 'q'},
		{"level", required_argument, NULL, 'l'},
		{"gray", no_argument, NULL, 'g'},
		{"output", required_argument, NULL, 'o'},
		{"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	opts o = {.quality = -1, .level = -1};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:q:l:go:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': parse_size(optarg, &o); break;
		case 'q': o.quality = (int)li_opt_long("--quality", optarg, 1, 100); break;
		case 'l': o.level = (int)li_opt_long("--level", optarg, 0, 9); break;
		case 'g': o.gray = true; break;
		case 'o': o.outdir = optarg; break;
		case OPT_MAX_PIXELS:
			o.max_pixels = (uint64_t)li_opt_long("--max-pixels", optarg, 1, (long)(INT64_MAX >> 1));
			break;
		case 'h': usage();
		case 'V': li_cli_version();
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	if (optind >= argc)
		li_usage_error("no command given (info, check or convert)");
	const char *cmd = argv[optind];
	int n = argc - optind - 1;
	char **rest = argv + optind + 1;
	bool convert_opts = o.width || o.quality >= 0 || o.level >= 0 || o.gray;
	if (o.outdir && strcmp(cmd, "extract") != 0)
		li_usage_error("-o applies to extract only");
	if (strcmp(cmd, "info") == 0) {
		if (convert_opts)
			li_usage_error("info: --size, --quality, --level and --gray apply to convert only");
		return cmd_info(n, rest);
	}
	if (strcmp(cmd, "check") == 0) {
		if (convert_opts)
			li_usage_error("check: --size, --quality, --level and --gray apply to convert only");
		return cmd_check(n, rest, &o);
	}
	if (strcmp(cmd, "convert") == 0)
		return cmd_convert(n, rest, &o);
	if (strcmp(cmd, "extract") == 0) {
		if (o.width || o.quality >= 0 || o.level >= 0)
			li_usage_error("extract: --size, --quality and --level apply to convert only");
		return cmd_extract(n, rest, &o);
	}
	li_usage_error("unknown command '%s' (info, check, convert or extract)", cmd);
}
