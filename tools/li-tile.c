/* li-tile: cut a whole-slide image into patches at a physical resolution,
 * keeping those on tissue, with a manifest TSV on stdout and a QC thumbnail.
 * Tissue is found on a thumbnail (li_tissue) that every thread reads a share
 * of; tiles are read one region at a time from the best pyramid level, so
 * memory stays bounded on any slide (a small slide's level 0, read whole for
 * the thumbnail anyway, is kept and the tiles cropped from it). See li-tile(1). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_geojson.h"
#include "li_image_io.h"
#include "li_slide.h"
#include "li_tissue.h"

#define EXIT_NO_TISSUE 3
/* Tissue detection works at about this many micrometres per pixel, on a
 * thumbnail of at most SEG_MAX pixels a side. */
#define SEG_UM 4.0
#define SEG_MAX 2048
#define SEG_MAX_NO_MPP 1024
#define DEFAULT_MIN_AREA 10000.0 /* um^2 */
#define DEFAULT_PNG_LEVEL 1 /* with li_image_wopts.png_fast: see li_image.h */
/* A level 0 read whole for the thumbnail is kept for the tiles when it has at
 * most this many pixels (48 MB): OpenSlide composites every pixel it reads at
 * about 40 ns, so on a small slide the tiles would cost a third as much again. */
#define KEEP_MAX_PX (16u << 20)

enum edge { EDGE_DROP, EDGE_PAD };

typedef struct opts {
	const char *slide, *outdir, *name, *qc, *annotations, *positive, *label_mask;
	double mpp, mag, assume_mpp, min_area, min_tissue, label_min, mask_ds;
	int level, size, stride, edge, sthresh, quality, threads, qc_size, png_level;
	bool jpg, coords_only, force, min_area_set;
} opts;

/* One tile of the grid, in level-0 pixels. */
typedef struct tile {
	int64_t x, y;
	double tissue;
	int label;
} tile;

/* Where and how big the tiles are: the slide's level-0 size and mpp, and the
 * resolution chosen for the tiles. */
typedef struct geom {
	int64_t W0, H0;         /* level-0 size */
	double mpp0;            /* level-0 micrometres per pixel; 0 when unknown */
	double D;               /* level-0 pixels per output pixel */
	int read_level;         /* tiles are read from this level ... */
	int read_size;          /* ... as read_size pixels a side, resized to --size */
	double tile_l0, step_l0; /* tile size and grid step in level-0 pixels */
} geom;

/* What every worker needs, read-only once the workers start. */
typedef struct job {
	const opts *o;
	const tile *tiles;
	size_t ntiles;
	int read_level, read_size; /* pixels read at read_level, resized to o->size */
	const li_image *level0;    /* level 0 in memory (read_level 0), or NULL */
	char **paths;
	uint8_t *fresh;            /* tile i was written by this run */
	atomic_size_t next, written, kept;
	atomic_int stop;
	pthread_mutex_t lock;
	char err[LI_ERRMSG_MAX];
} job;

_Noreturn static void usage(void)
{
	printf("Usage: li-tile [OPTION]... SLIDE -o OUTDIR > manifest.tsv\n"
	       "Cut a slide (any OpenSlide format, tiled TIFF, PNG, JPEG) into patches on\n"
	       "tissue and print their manifest: path slide x y level downsample mpp size\n"
	       "tissue [label].\n"
	       "Coordinates are level-0 pixels. Exit 3 when no tissue is found.\n"
	       "\n"
	       "Resolution (default: level 0):\n"
	       "      --mpp M            micrometres per pixel of the tiles (picks the best\n"
	       "                         level and resizes)\n"
	       "      --mag X            objective magnification (by openslide.objective-power,\n"
	       "                         else --mpp 10/X)\n"
	       "      --level N          read level N as it is\n"
	       "      --assume-mpp M     level-0 mpp for slides that do not record one\n"
	       "Grid:\n"
	       "  -s, --size N           tile size in pixels (default 224)\n"
	       "      --stride N         step between tiles in output pixels (default: --size)\n"
	       "      --edge drop|pad    tiles past the slide edge: drop (default) or pad white\n"
	       "Tissue:\n"
	       "      --sthresh T        saturation threshold 0-255 (default: Otsu, at least %d)\n"
	       "      --min-area A       drop tissue regions under A square micrometres\n"
	       "                         (default %.0f when the mpp is known)\n"
	       "      --min-tissue F     keep tiles with tissue fraction >= F (default 0.5)\n"
	       "Output:\n"
	       "  -o, --output DIR       directory for the tiles (created if needed)\n"
	       "      --name NAME        slide name for tile names and the slide column\n"
	       "                         (default: the file name without its extension)\n"
	       "      --format png|jpg   tile format (default png)\n"
	       "      --quality Q        JPEG quality 1-100 (default %d)\n"
	       "      --png-level N      PNG zlib level 0-9 (default %d)\n"
	       "      --coords-only      write the manifest only, no tiles\n"
	       "      --qc FILE.png      thumbnail with tissue contour and kept tiles\n"
	       "      --qc-size N        longer side of the QC image (default 1024)\n"
	       "      --force            rewrite tiles that already exist (default: keep them)\n"
	       "  -t, --threads N        worker threads, one slide handle each (default: CPUs)\n"
	       "Labels (add a 'label' column):\n"
	       "      --annotations FILE.geojson   QuPath GeoJSON polygons\n"
	       "      --positive-class NAME        class counted positive (default: every class)\n"
	       "      --label-mask FILE.png        mask, non-zero positive ...\n"
	       "      --mask-downsample D          ... of D level-0 pixels per mask pixel\n"
	       "      --label-min F      label 1 when the positive overlap >= F (default 0.5)\n"
	       "\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "See li-tile(1).\n",
	       LI_TISSUE_OTSU_FLOOR, DEFAULT_MIN_AREA, LI_IMAGE_DEFAULT_JPEG_QUALITY, DEFAULT_PNG_LEVEL);
	exit(LI_EXIT_OK);
}

static void parse(int argc, char **argv, opts *o)
{
	enum { O_MPP = 256, O_MAG, O_LEVEL, O_ASSUME, O_STRIDE, O_EDGE, O_STHRESH, O_MINAREA,
	       O_MINTISSUE, O_NAME, O_FORMAT, O_QUALITY, O_COORDS, O_QC, O_QCSIZE, O_FORCE,
	       O_ANNOT, O_POS, O_MASK, O_MASKDS, O_LABELMIN, O_PNGLEVEL };
	static const struct option lo[] = {
		{"mpp", 1, 0, O_MPP}, {"mag", 1, 0, O_MAG}, {"level", 1, 0, O_LEVEL},
		{"assume-mpp", 1, 0, O_ASSUME}, {"size", 1, 0, 's'}, {"stride", 1, 0, O_STRIDE},
		{"edge", 1, 0, O_EDGE}, {"sthresh", 1, 0, O_STHRESH}, {"min-area", 1, 0, O_MINAREA},
		{"min-tissue", 1, 0, O_MINTISSUE}, {"output", 1, 0, 'o'}, {"name", 1, 0, O_NAME},
		{"format", 1, 0, O_FORMAT}, {"quality", 1, 0, O_QUALITY}, {"png-level", 1, 0, O_PNGLEVEL},
		{"coords-only", 0, 0, O_COORDS}, {"qc", 1, 0, O_QC}, {"qc-size", 1, 0, O_QCSIZE},
		{"force", 0, 0, O_FORCE}, {"threads", 1, 0, 't'}, {"annotations", 1, 0, O_ANNOT},
		{"positive-class", 1, 0, O_POS}, {"label-mask", 1, 0, O_MASK},
		{"mask-downsample", 1, 0, O_MASKDS}, {"label-min", 1, 0, O_LABELMIN},
		{"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
	static const char *const edges[] = {"drop", "pad", NULL};
	static const char *const formats[] = {"png", "jpg", NULL};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:o:t:hV", lo, NULL)) != -1) {
		switch (c) {
		case O_MPP: o->mpp = li_opt_double("--mpp", optarg, 1e-3, 1e4); break;
		case O_MAG: o->mag = li_opt_double("--mag", optarg, 1e-3, 1e4); break;
		case O_LEVEL: o->level = (int)li_opt_long("--level", optarg, 0, 1000); break;
		case O_ASSUME: o->assume_mpp = li_opt_double("--assume-mpp", optarg, 1e-3, 1e4); break;
		case 's': o->size = (int)li_opt_long("--size", optarg, 8, 8192); break;
		case O_STRIDE: o->stride = (int)li_opt_long("--stride", optarg, 1, 8192); break;
		case O_EDGE: o->edge = li_opt_choice("--edge", optarg, edges); break;
		case O_STHRESH: o->sthresh = (int)li_opt_long("--sthresh", optarg, 0, 254); break;
		case O_MINAREA:
			o->min_area = li_opt_double("--min-area", optarg, 0, 1e12);
			o->min_area_set = true;
			break;
		case O_MINTISSUE: o->min_tissue = li_opt_double("--min-tissue", optarg, 0, 1); break;
		case 'o': o->outdir = optarg; break;
		case O_NAME: o->name = optarg; break;
		case O_FORMAT: o->jpg = li_opt_choice("--format", optarg, formats) == 1; break;
		case O_QUALITY: o->quality = (int)li_opt_long("--quality", optarg, 1, 100); break;
		case O_PNGLEVEL: o->png_level = (int)li_opt_long("--png-level", optarg, 0, 9); break;
		case O_COORDS: o->coords_only = true; break;
		case O_QC: o->qc = optarg; break;
		case O_QCSIZE: o->qc_size = (int)li_opt_long("--qc-size", optarg, 16, 8192); break;
		case O_FORCE: o->force = true; break;
		case 't': o->threads = (int)li_opt_long("--threads", optarg, 1, 256); break;
		case O_ANNOT: o->annotations = optarg; break;
		case O_POS: o->positive = optarg; break;
		case O_MASK: o->label_mask = optarg; break;
		case O_MASKDS: o->mask_ds = li_opt_double("--mask-downsample", optarg, 1e-3, 1e6); break;
		case O_LABELMIN: o->label_min = li_opt_double("--label-min", optarg, 0, 1); break;
		case 'h': usage();
		case 'V': li_cli_version();
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	if (optind == argc)
		li_usage_error("missing SLIDE");
	if (optind + 1 < argc)
		li_usage_error("one SLIDE at a time ('%s' is extra)", argv[optind + 1]);
	o->slide = argv[optind];
	if ((o->mpp > 0) + (o->mag > 0) + (o->level >= 0) > 1)
		li_usage_error("--mpp, --mag and --level exclude each other");
	if (!o->outdir && !o->coords_only)
		li_usage_error("missing -o OUTDIR (or --coords-only)");
	if (o->quality && !o->jpg)
		li_usage_error("--quality needs --format jpg");
	if (o->annotations && o->label_mask)
		li_usage_error("--annotations and --label-mask exclude each other");
	if (o->positive && !o->annotations)
		li_usage_error("--positive-class needs --annotations");
	if (o->label_mask && !(o->mask_ds > 0))
		li_usage_error("--label-mask needs --mask-downsample");
	if (o->mask_ds > 0 && !o->label_mask)
		li_usage_error("--mask-downsample needs --label-mask");
	if (o->name && (!*o->name || strpbrk(o->name, "/\t\r\n")))
		li_usage_error("--name: '%s' must be non-empty, without '/', tab or newline", o->name);
	if (!o->stride)
		o->stride = o->size;
	if (!o->quality)
		o->quality = LI_IMAGE_DEFAULT_JPEG_QUALITY;
}

/* The slide's name: the file name without directories and its extension. */
static char *slide_name(const opts *o)
{
	if (o->name)
		return li_strdup(o->name);
	const char *b = strrchr(o->slide, '/');
	b = b ? b + 1 : o->slide;
	char *s = li_strdup(b);
	if (!s)
		li_die_lib();
	char *dot = strrchr(s, '.');
	if (dot && dot != s)
		*dot = '\0';
	if (strpbrk(s, "\t\r\n")) {
		li_error("slide name '%s' has a tab or newline (use --name)", s);
		free(s);
		li_die_lib();
	}
	return s;
}

static bool tile_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Write one tile: encode in memory, write a hidden temporary file next to it
 * and rename it into place, so a tile either exists whole or not at all (a
 * resumed run trusts existing tiles). No fsync per tile: it would cost more
 * than the encoding; a killed run may leave a ".NAME.part" file, which the
 * next run overwrites. */
static int write_tile(const li_image *t, const char *path, bool jpg, const li_image_wopts *w)
{
	void *buf = NULL;
	size_t len = 0;
	if (li_image_encode(t, jpg ? LI_IMAGE_JPEG : LI_IMAGE_PNG, w, &buf, &len) < 0)
		return li_error_prefix("cannot write '%s'", path);
	char tmp[PATH_MAX + 16];
	const char *base = strrchr(path, '/');
	int dlen = base ? (int)(base - path + 1) : 0;
	snprintf(tmp, sizeof tmp, "%.*s.%s.part", dlen, path, base ? base + 1 : path);
	FILE *fp = fopen(tmp, "wb");
	if (!fp) {
		free(buf);
		return li_error("cannot write '%s': %s", tmp, strerror(errno));
	}
	size_t wr = fwrite(buf, 1, len, fp);
	free(buf);
	if ((wr != len) | (fclose(fp) != 0)) {
		int e = errno;
		unlink(tmp);
		return li_error("cannot write '%s': %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return li_error("cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
	}
	return 0;
}

static void job_fail(job *j)
{
	pthread_mutex_lock(&j->lock);
	if (!j->err[0])
		snprintf(j->err, sizeof j->err, "%s", li_errmsg());
	pthread_mutex_unlock(&j->lock);
	atomic_store(&j->stop, 1);
}

/* dst = the region of src at (x, y), white outside src (as OpenSlide's
 * transparent areas read through li_slide). */
static void crop_into(const li_image *src, li_image *dst, int64_t x, int64_t y)
{
	const int64_t w = dst->width, h = dst->height, sw = src->width, sh = src->height;
	memset(dst->data, 255, (size_t)w * h * 3);
	int64_t x0 = x > 0 ? x : 0, x1 = x + w < sw ? x + w : sw;
	int64_t y0 = y > 0 ? y : 0, y1 = y + h < sh ? y + h : sh;
	for (int64_t r = y0; r < y1 && x0 < x1; r++)
		memcpy(dst->data + ((r - y) * w + (x0 - x)) * 3, src->data + (r * sw + x0) * 3,
		       (size_t)(x1 - x0) * 3);
}

/* A worker: its job and its own slide handle (*s NULL: it opens one and
 * leaves it there for main to free). */
typedef struct wctx {
	job *j;
	li_slide **s;
	li_progress *bar; /* worker 0 draws the progress bar (a no-op off a TTY) */
} wctx;

static void *worker(void *arg)
{
	job *j = ((wctx *)arg)->j;
	const opts *o = j->o;
	li_slide **sp = ((wctx *)arg)->s;
	if (!j->level0 && !*sp && !(*sp = li_slide_open(o->slide))) {
		job_fail(j);
		return NULL;
	}
	li_slide *s = *sp; /* NULL when the tiles come from level0 */
	li_image *raw = li_image_new(j->read_size, j->read_size, 3);
	if (!raw) {
		job_fail(j);
		goto out;
	}
	li_image_wopts w = LI_IMAGE_WOPTS_DEFAULT;
	w.jpeg_quality = o->quality;
	w.png_level = o->png_level;
	w.png_fast = 1;
	while (!atomic_load(&j->stop)) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->ntiles)
			break;
		if (!o->force && tile_exists(j->paths[i])) {
			atomic_fetch_add(&j->kept, 1);
			continue;
		}
		if (j->level0)
			crop_into(j->level0, raw, j->tiles[i].x, j->tiles[i].y);
		else if (li_slide_read_region_into(s, raw, j->tiles[i].x, j->tiles[i].y,
						     j->read_level) < 0) {
			job_fail(j);
			break;
		}
		li_image *t = raw;
		if (j->read_size != o->size && !(t = li_image_resize(raw, o->size, o->size))) {
			job_fail(j);
			break;
		}
		int rc = write_tile(t, j->paths[i], o->jpg, &w);
		if (t != raw)
			li_image_free(t);
		if (rc < 0) {
			job_fail(j);
			break;
		}
		j->fresh[i] = 1;
		atomic_fetch_add(&j->written, 1);
		if (((wctx *)arg)->bar) {
			size_t done = atomic_load(&j->written) + atomic_load(&j->kept);
			li_progress_update(((wctx *)arg)->bar, done, NULL);
		}
	}
out:
	li_image_free(raw);
	return NULL;
}

/* QC: the thumbnail, the tissue contour in green, kept tiles in blue. */
static void write_qc(li_slide **hs, const opts *o, const li_image *mask, const tile *tiles,
		     size_t n, double tile_l0, int64_t W0, int64_t H0)
{
	li_image *q = li_slide_thumbnail_threads(hs, o->threads, o->qc_size, 0, NULL);
	if (!q)
		li_die_lib();
	const int qw = q->width, qh = q->height;
	const double sx = (double)W0 / qw, sy = (double)H0 / qh; /* level-0 px per QC px */
	uint8_t *in = li_malloc((size_t)qw * qh);
	if (!in) {
		li_image_free(q);
		li_die_lib();
	}
	for (int y = 0; y < qh; y++)
		for (int x = 0; x < qw; x++) {
			int mx = (int)((x + 0.5) * sx * mask->width / W0);
			int my = (int)((y + 0.5) * sy * mask->height / H0);
			mx = mx < mask->width ? mx : mask->width - 1;
			my = my < mask->height ? my : mask->height - 1;
			in[(size_t)y * qw + x] = mask->data[(size_t)my * mask->width + mx] != 0;
		}
	for (int y = 0; y < qh; y++)
		for (int x = 0; x < qw; x++) {
			size_t i = (size_t)y * qw + x;
			if (!in[i])
				continue;
			bool edge = x == 0 || y == 0 || x == qw - 1 || y == qh - 1 || !in[i - 1] ||
				    !in[i + 1] || !in[i - qw] || !in[i + qw];
			if (edge) {
				uint8_t *p = q->data + i * 3;
				p[0] = 0, p[1] = 170, p[2] = 0;
			}
		}
	free(in);
	for (size_t i = 0; i < n; i++) {
		int x0 = (int)floor(tiles[i].x / sx), y0 = (int)floor(tiles[i].y / sy);
		int x1 = (int)ceil((tiles[i].x + tile_l0) / sx) - 1;
		int y1 = (int)ceil((tiles[i].y + tile_l0) / sy) - 1;
		for (int y = y0; y <= y1; y++)
			for (int x = x0; x <= x1; x++) {
				if (x < 0 || y < 0 || x >= qw || y >= qh)
					continue;
				if (x != x0 && x != x1 && y != y0 && y != y1)
					continue;
				uint8_t *p = q->data + ((size_t)y * qw + x) * 3;
				p[0] = 30, p[1] = 80, p[2] = 220;
			}
	}
	int rc = li_image_write(q, o->qc, NULL);
	li_image_free(q);
	if (rc < 0)
		li_die_lib();
}

/* The positive-label coverage map from --annotations or --label-mask. */
static li_coverage *label_map(const opts *o, int64_t W0, int64_t H0, double tile_l0)
{
	if (o->label_mask) {
		li_image_opts io = {.channels = 1};
		li_image *m = li_image_read(o->label_mask, &io);
		if (!m)
			li_die_lib();
		double ew = W0 / o->mask_ds, eh = H0 / o->mask_ds;
		if (fabs(m->width - ew) > 1.5 || fabs(m->height - eh) > 1.5) {
			li_error("label mask '%s' is %dx%d, but the slide at downsample %g is %.0fx%.0f",
				 o->label_mask, m->width, m->height, o->mask_ds, ew, eh);
			li_image_free(m);
			li_die_lib();
		}
		li_coverage *c = li_coverage_new(m, o->mask_ds, o->mask_ds);
		li_image_free(m);
		if (!c)
			li_die_lib();
		return c;
	}
	li_geojson *g = li_geojson_read(o->annotations);
	if (!g)
		li_die_lib();
	if (o->positive && li_geojson_count(g, o->positive) == 0)
		li_warn("'%s' has no polygon of class '%s': every label is 0", o->annotations, o->positive);
	/* About 32 mask pixels across a tile, and at most 16 megapixels. */
	double ds = fmax(1, tile_l0 / 32);
	ds = fmax(ds, sqrt((double)W0 * H0 / 16e6));
	li_image *m = li_image_new((int)ceil(W0 / ds), (int)ceil(H0 / ds), 1);
	int rc = m ? li_geojson_rasterize(g, o->positive, m, ds) : -1;
	li_geojson_free(g);
	if (rc < 0) {
		li_image_free(m);
		li_die_lib();
	}
	li_coverage *c = li_coverage_new(m, ds, ds);
	li_image_free(m);
	if (!c)
		li_die_lib();
	return c;
}

static void fmt_mpp(char *buf, size_t n, bool known, double v)
{
	if (known)
		snprintf(buf, n, "%.6g", v);
	else
		snprintf(buf, n, "NA");
}

/* Choose the resolution: D from --level, --mag or --mpp (default level 0),
 * the level to read and the size to read there. */
static geom choose_resolution(const opts *o, li_slide *s)
{
	geom g = {.D = 1};
	li_slide_level_size(s, 0, &g.W0, &g.H0);
	double mx, my;
	if (li_slide_mpp(s, &mx, &my))
		g.mpp0 = (mx + my) / 2;
	else if (o->assume_mpp > 0)
		g.mpp0 = o->assume_mpp;
	if (o->level >= 0) {
		if (o->level >= li_slide_level_count(s))
			li_die("slide '%s' has no level %d (levels 0-%d)", o->slide, o->level,
			       li_slide_level_count(s) - 1);
		g.read_level = o->level;
		g.D = li_slide_level_downsample(s, o->level);
	} else if (o->mpp > 0 || o->mag > 0) {
		const char *op = li_slide_property(s, "openslide.objective-power");
		double power = 0;
		if (o->mag > 0 && op && li_parse_double(op, &power) == 0 && power > 0) {
			g.D = power / o->mag;
		} else {
			double want = o->mpp > 0 ? o->mpp : 10 / o->mag;
			if (!(g.mpp0 > 0))
				li_die("slide '%s' records no resolution (mpp); give --assume-mpp or --level",
				       o->slide);
			g.D = want / g.mpp0;
		}
		li_error_clear();
		if (g.D < 0.99 && o->mpp > 0)
			li_die("slide '%s' has %.4g um/px at level 0; %.4g um/px would need upsampling",
			       o->slide, g.mpp0, o->mpp);
		if (g.D < 0.99)
			li_die("slide '%s' is scanned at %.4gx; %.4gx would need upsampling", o->slide,
			       o->mag * g.D, o->mag);
		g.D = fmax(g.D, 1);
		g.read_level = li_slide_best_level(s, g.D);
		double lds = li_slide_level_downsample(s, g.read_level);
		if (fabs(g.D / lds - 1) < 0.01)
			g.D = lds; /* a level at the wanted resolution: read it as it is */
	}
	const double lds = li_slide_level_downsample(s, g.read_level);
	if (o->size * g.D / lds > 16384)
		li_die("slide '%s': a tile would be read as %.0f pixels a side from level %d", o->slide,
		       o->size * g.D / lds, g.read_level);
	g.read_size = (int)lround(o->size * g.D / lds);
	g.tile_l0 = o->size * g.D;
	g.step_l0 = o->stride * g.D;
	return g;
}

/* Detect tissue on a thumbnail of about SEG_UM um/px: the mask (1 byte a
 * pixel, non-zero on tissue) and the saturation threshold used. *level0 gets
 * level 0 when it was read whole and the tiles will be cut from it. */
static li_image *detect_tissue(const opts *o, li_slide **hs, const geom *g, li_image **level0,
			       int *thresh)
{
	const bool mpp_known = g->mpp0 > 0;
	if (o->min_area_set && o->min_area > 0 && !mpp_known)
		li_usage_error("--min-area needs the slide's mpp (or --assume-mpp)");
	const int64_t longer = g->W0 > g->H0 ? g->W0 : g->H0;
	double seg_ds = mpp_known ? fmax(SEG_UM / g->mpp0, (double)longer / SEG_MAX)
				  : (double)longer / SEG_MAX_NO_MPP;
	seg_ds = fmax(seg_ds, 1);
	const bool keep = !o->coords_only && g->read_level == 0;
	li_image *thumb = li_slide_thumbnail_threads(hs, o->threads,
						     (int)fmax(1, llround(longer / seg_ds)),
						     keep ? KEEP_MAX_PX : 0, keep ? level0 : NULL);
	if (!thumb)
		li_die_lib();
	const double tsx = (double)g->W0 / thumb->width, tsy = (double)g->H0 / thumb->height;
	li_tissue_opts to = LI_TISSUE_OPTS_DEFAULT;
	to.sthresh = o->sthresh;
	double min_area = o->min_area_set ? o->min_area : mpp_known ? DEFAULT_MIN_AREA : 0;
	if (mpp_known)
		to.min_area = (size_t)(min_area / (tsx * g->mpp0 * tsy * g->mpp0));
	li_image *mask = li_tissue_detect(thumb, &to, thresh);
	li_image_free(thumb);
	if (!mask)
		li_die_lib();
	return mask;
}

/* Plan the grid: every tile position, and the tiles kept (tissue fraction
 * >= --min-tissue), in grid order, labelled when there are labels. */
static tile *plan_grid(const opts *o, const geom *g, const li_image *mask, size_t *nkeep)
{
	li_coverage *cov = li_coverage_new(mask, (double)g->W0 / mask->width,
					   (double)g->H0 / mask->height);
	if (!cov)
		li_die_lib();
	size_t nx = 0, ny = 0;
	for (;; nx++) {
		double x = llround(nx * g->step_l0);
		if (o->edge == EDGE_DROP ? x + g->tile_l0 > g->W0 + 0.5 : x >= g->W0)
			break;
	}
	for (;; ny++) {
		double y = llround(ny * g->step_l0);
		if (o->edge == EDGE_DROP ? y + g->tile_l0 > g->H0 + 0.5 : y >= g->H0)
			break;
	}
	size_t n = nx * ny, k = 0;
	tile *tiles = li_malloc_array(n ? n : 1, sizeof *tiles);
	if (!tiles)
		li_die_lib();
	li_coverage *lab = o->annotations || o->label_mask ? label_map(o, g->W0, g->H0, g->tile_l0)
							   : NULL;
	for (size_t j = 0; j < ny; j++)
		for (size_t i = 0; i < nx; i++) {
			tile *t = &tiles[k];
			t->x = llround(i * g->step_l0);
			t->y = llround(j * g->step_l0);
			t->tissue = li_coverage_fraction(cov, t->x, t->y, g->tile_l0, g->tile_l0);
			if (t->tissue + 1e-9 < o->min_tissue)
				continue;
			t->label = lab && li_coverage_fraction(lab, t->x, t->y, g->tile_l0, g->tile_l0) +
							  1e-9 >= o->label_min;
			k++;
		}
	li_coverage_free(lab);
	li_coverage_free(cov);
	*nkeep = k;
	return tiles;
}

/* Tile i's path: OUTDIR/NAME_xX_yY.EXT, coordinates zero-padded to sort. */
static char **tile_paths(const opts *o, const geom *g, const char *name, const tile *tiles,
			 size_t n)
{
	int digits = 6;
	for (int64_t v = g->W0 > g->H0 ? g->W0 : g->H0; v >= 1000000; v /= 10)
		digits++;
	char **paths = li_calloc(n ? n : 1, sizeof *paths);
	if (!paths)
		li_die_lib();
	const char *ext = o->jpg ? "jpg" : "png";
	for (size_t i = 0; i < n; i++) {
		char buf[PATH_MAX];
		int len = snprintf(buf, sizeof buf, "%s%s%s_x%0*lld_y%0*lld.%s",
				   o->outdir ? o->outdir : "", o->outdir ? "/" : "", name, digits,
				   (long long)tiles[i].x, digits, (long long)tiles[i].y, ext);
		if (len < 0 || (size_t)len >= sizeof buf)
			li_die("tile path for '%s' is too long", name);
		if (!(paths[i] = li_strdup(buf)))
			li_die_lib();
	}
	return paths;
}

/* Write the tiles of j on o->threads threads, worker t with handle hs[t]
 * (opened for the thumbnail, or by itself). false (j->err says why) when one
 * failed: then the tiles this run wrote are removed again, since the slide
 * would fail the same way next time, and no partial set is left. Tiles of
 * earlier runs stay; a killed run cannot clean up, and its whole tiles are
 * kept for resuming. */
static bool write_tiles(job *j, li_slide **hs)
{
	const opts *o = j->o;
	if (li_mkdirs(o->outdir, 0777) < 0)
		li_die_lib();
	int nt = o->threads < 1 ? 1 : o->threads;
	if ((size_t)nt > j->ntiles)
		nt = (int)j->ntiles;
	pthread_t *th = li_calloc((size_t)nt, sizeof *th);
	wctx *w = li_calloc((size_t)nt, sizeof *w);
	if (!th || !w)
		li_die_lib();
	li_progress bar;
	li_progress_start(&bar, "tiles", j->ntiles);
	for (int t = 0; t < nt; t++)
		w[t] = (wctx){j, &hs[t], t == 0 ? &bar : NULL};
	for (int t = 1; t < nt; t++)
		if ((errno = pthread_create(&th[t], NULL, worker, &w[t])) != 0)
			li_die("cannot start a thread: %s", strerror(errno));
	worker(&w[0]);
	for (int t = 1; t < nt; t++)
		pthread_join(th[t], NULL);
	li_progress_end(&bar);
	free(th);
	free(w);
	if (!atomic_load(&j->stop))
		return true;
	for (size_t i = 0; i < j->ntiles; i++)
		if (j->fresh[i] && unlink(j->paths[i]) < 0 && errno != ENOENT)
			li_warn("cannot remove '%s': %s", j->paths[i], strerror(errno));
	return false;
}

/* The manifest on stdout, in grid order whatever the threads did. */
static void print_manifest(const opts *o, const geom *g, const char *name, const tile *tiles,
			   char *const *paths, size_t n)
{
	const bool has_label = o->annotations || o->label_mask;
	char mppbuf[32];
	fmt_mpp(mppbuf, sizeof mppbuf, g->mpp0 > 0, g->mpp0 * g->D);
	printf("path\tslide\tx\ty\tlevel\tdownsample\tmpp\tsize\ttissue%s%s\n",
	       has_label ? "\tlabel" : "", o->coords_only ? "\tslide_path" : "");
	for (size_t i = 0; i < n; i++) {
		printf("%s\t%s\t%lld\t%lld\t%d\t%.6g\t%s\t%d\t%.3f", paths[i], name,
		       (long long)tiles[i].x, (long long)tiles[i].y, g->read_level, g->D, mppbuf,
		       o->size, tiles[i].tissue);
		if (has_label)
			printf("\t%d", tiles[i].label);
		if (o->coords_only)
			printf("\t%s", o->slide);
		putchar('\n');
	}
}

static size_t count_nonzero(const li_image *mask)
{
	size_t n = 0;
	for (size_t i = 0; i < (size_t)mask->width * mask->height; i++)
		n += mask->data[i] != 0;
	return n;
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = {.level = -1, .size = 224, .sthresh = -1, .min_tissue = 0.5, .label_min = 0.5,
		  .qc_size = 1024, .edge = EDGE_DROP, .png_level = DEFAULT_PNG_LEVEL};
	o.threads = li_cli_default_threads();
	parse(argc, argv, &o);
	char *name = slide_name(&o);
	if (o.coords_only && strpbrk(o.slide, "\t\r\n"))
		li_die("slide path '%s' has a tab or newline: it cannot go in the slide_path column",
		       o.slide);

	/* One handle per thread, for the thumbnail and then the tiles: hs[0] is
	 * opened here, the others by the first thread that needs them. */
	li_slide **hs = li_slide_open_handles(o.slide, o.threads);
	if (!hs)
		li_die_lib();
	const geom g = choose_resolution(&o, hs[0]);
	li_image *level0 = NULL;
	int thresh;
	li_image *mask = detect_tissue(&o, hs, &g, &level0, &thresh);
	size_t n;
	tile *tiles = plan_grid(&o, &g, mask, &n);
	if (o.qc)
		write_qc(hs, &o, mask, tiles, n, g.tile_l0, g.W0, g.H0);
	const size_t tissue_px = count_nonzero(mask);
	li_image_free(mask);
	char **paths = tile_paths(&o, &g, name, tiles, n);
	if (tissue_px == 0)
		li_warn("no tissue found in '%s' (saturation threshold %d%s)", o.slide, thresh,
			o.sthresh < 0 ? ", Otsu" : "");
	else if (n == 0)
		li_warn("no tile of '%s' has tissue >= %g (saturation threshold %d%s)", o.slide,
			o.min_tissue, thresh, o.sthresh < 0 ? ", Otsu" : "");

	job j = {.o = &o, .tiles = tiles, .ntiles = n, .read_level = g.read_level,
		 .read_size = g.read_size, .level0 = level0, .paths = paths,
		 .fresh = li_calloc(n ? n : 1, 1)};
	if (!j.fresh)
		li_die_lib();
	atomic_init(&j.next, 0);
	atomic_init(&j.written, 0);
	atomic_init(&j.kept, 0);
	atomic_init(&j.stop, 0);
	pthread_mutex_init(&j.lock, NULL);
	const bool ok = o.coords_only || n == 0 || write_tiles(&j, hs);
	pthread_mutex_destroy(&j.lock);
	if (ok) {
		print_manifest(&o, &g, name, tiles, paths, n);
		if (!o.coords_only && n > 0 && isatty(2))
			li_note("%zu tiles (%zu written, %zu kept from an earlier run)", n,
				(size_t)atomic_load(&j.written), (size_t)atomic_load(&j.kept));
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(j.fresh);
	free(name);
	free(tiles);
	li_image_free(level0);
	li_slide_free_handles(hs, o.threads);
	if (!ok)
		li_die("%s", j.err);
	return n && tissue_px ? LI_EXIT_OK : EXIT_NO_TISSUE;
}
