/* li-heatmap: a slide thumbnail with each scored tile's probability laid over
 * it in a perceptually uniform colour map, and a colour bar. The input is a
 * li-tile manifest scored by li-score (x, y, size, downsample, prob).
 * See li-heatmap(1). */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_image_io.h"
#include "li_list.h"
#include "li_plot.h"
#include "li_slide.h"

typedef struct opts {
	const char *slide, *scores, *out, *column, *name;
	double alpha, vmin, vmax, tile;
	int size, threads;
	bool bar, print_map;
} opts;

_Noreturn static void usage(void)
{
	printf("Usage: li-heatmap [OPTION]... SLIDE SCORES.tsv -o HEAT.png\n"
	       "Draw the slide's thumbnail with each tile's probability as a colour overlay\n"
	       "(a perceptually uniform map, dark purple = low, yellow = high) and a colour bar.\n"
	       "SCORES.tsv is a li-tile manifest scored by li-score: columns x, y (level-0\n"
	       "pixels), size and downsample (or --tile), and prob.\n"
	       "\n"
	       "  -o, --output FILE      the image (.png or .jpg), written atomically\n"
	       "  -a, --alpha A          opacity of the overlay, 0-1 (default 0.5)\n"
	       "  -s, --size N           longer side of the thumbnail (default 1024)\n"
	       "  -t, --threads N        threads reading the thumbnail, one slide handle each\n"
	       "                         (default: CPUs; the image does not depend on it)\n"
	       "      --column NAME      the score column (default prob)\n"
	       "      --range LO:HI      scores at the ends of the colour map (default 0:1)\n"
	       "      --tile N           tile side in level-0 pixels, when the list has no\n"
	       "                         size and downsample columns\n"
	       "      --name NAME        use the rows whose slide column is NAME (default: the\n"
	       "                         slide's file name without its extension)\n"
	       "      --no-bar           no colour bar\n"
	       "      --print-colormap   print the colour map (index, R, G, B, CIE L*) and exit\n"
	       "  -h, --help             show this help and exit\n"
	       "  -V, --version          show the version and exit\n"
	       "\n"
	       "See li-heatmap(1).\n");
	exit(LI_EXIT_OK);
}

/* ---- colour map: a straight ramp in CIE L* with hue turning from violet
 * through teal to yellow (the path viridis takes), chroma reduced only as
 * far as needed to stay inside sRGB. Equal steps in the score are equal
 * steps in lightness, so the map reads the same in gray. */

static double srgb_encode(double v)
{
	v = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055;
	return v;
}

static double srgb_decode(double v)
{
	return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

static double lab_finv(double t)
{
	return t > 6.0 / 29 ? t * t * t : 3 * (6.0 / 29) * (6.0 / 29) * (t - 4.0 / 29);
}

static double lab_f(double t)
{
	return t > 216.0 / 24389 ? cbrt(t) : t * 24389.0 / 27 / 116 + 16.0 / 116;
}

/* CIELAB (D65) to linear sRGB; returns whether it is inside the gamut. */
static bool lab_to_linear(double L, double a, double b, double rgb[3])
{
	double fy = (L + 16) / 116, fx = fy + a / 500, fz = fy - b / 200;
	double X = 0.95047 * lab_finv(fx), Y = lab_finv(fy), Z = 1.08883 * lab_finv(fz);
	rgb[0] = 3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z;
	rgb[1] = -0.9692660 * X + 1.8760108 * Y + 0.0415560 * Z;
	rgb[2] = 0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z;
	for (int k = 0; k < 3; k++)
		if (rgb[k] < -1e-9 || rgb[k] > 1 + 1e-9)
			return false;
	return true;
}

static double lightness(const uint8_t c[3])
{
	double Y = 0.2126729 * srgb_decode(c[0] / 255.0) + 0.7151522 * srgb_decode(c[1] / 255.0) +
		   0.0721750 * srgb_decode(c[2] / 255.0);
	return 116 * lab_f(Y) - 16;
}

static uint8_t cmap[256][3];

static void cmap_build(void)
{
	for (int i = 0; i < 256; i++) {
		double t = i / 255.0;
		double L = 18 + 72 * t;
		double h = (315 - 213 * t) * M_PI / 180;
		double C = 50 - 104 * t + 136 * t * t;
		double rgb[3], lo = 0, hi = C;
		if (!lab_to_linear(L, C * cos(h), C * sin(h), rgb)) {
			for (int it = 0; it < 40; it++) { /* the largest chroma in gamut */
				double mid = (lo + hi) / 2;
				if (lab_to_linear(L, mid * cos(h), mid * sin(h), rgb))
					lo = mid;
				else
					hi = mid;
			}
			lab_to_linear(L, lo * cos(h), lo * sin(h), rgb);
		}
		for (int k = 0; k < 3; k++) {
			double v = srgb_encode(fmin(1, fmax(0, rgb[k])));
			cmap[i][k] = (uint8_t)lround(v * 255);
		}
	}
}

static void parse(int argc, char **argv, opts *o)
{
	enum { O_COLUMN = 256, O_RANGE, O_TILE, O_NAME, O_NOBAR, O_PRINT };
	static const struct option lo[] = {
		{"output", 1, 0, 'o'}, {"alpha", 1, 0, 'a'}, {"size", 1, 0, 's'}, {"threads", 1, 0, 't'},
		{"column", 1, 0, O_COLUMN}, {"range", 1, 0, O_RANGE}, {"tile", 1, 0, O_TILE},
		{"name", 1, 0, O_NAME}, {"no-bar", 0, 0, O_NOBAR}, {"print-colormap", 0, 0, O_PRINT},
		{"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:a:s:t:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'a': o->alpha = li_opt_double("--alpha", optarg, 0, 1); break;
		case 's': o->size = (int)li_opt_long("--size", optarg, 16, 8192); break;
		case 't': o->threads = (int)li_opt_long("--threads", optarg, 1, 256); break;
		case O_COLUMN: o->column = optarg; break;
		case O_RANGE: {
			char buf[128];
			size_t k = strcspn(optarg, ":");
			if (!optarg[k] || k >= sizeof buf)
				li_usage_error("--range: '%s' is not LO:HI", optarg);
			snprintf(buf, sizeof buf, "%.*s", (int)k, optarg);
			o->vmin = li_opt_double("--range", buf, -1e300, 1e300);
			o->vmax = li_opt_double("--range", optarg + k + 1, -1e300, 1e300);
			if (!(o->vmax > o->vmin))
				li_usage_error("--range: '%s' needs LO < HI", optarg);
			break;
		}
		case O_TILE: o->tile = li_opt_double("--tile", optarg, 1, 1e7); break;
		case O_NAME: o->name = optarg; break;
		case O_NOBAR: o->bar = false; break;
		case O_PRINT: o->print_map = true; break;
		case 'h': usage();
		case 'V': li_cli_version();
		case ':':
		default: li_cli_bad_option(c, argv);
		}
	}
	if (o->print_map)
		return;
	if (argc - optind != 2)
		li_usage_error(argc - optind < 2 ? "missing SLIDE or SCORES.tsv" : "too many arguments");
	o->slide = argv[optind];
	o->scores = argv[optind + 1];
	if (!o->out)
		li_usage_error("missing -o HEAT.png");
	if (li_image_format_for_path(o->out) == LI_IMAGE_UNKNOWN)
		li_usage_error("-o: '%s' must end in .png or .jpg", o->out);
}

static char *slide_name(const opts *o)
{
	if (o->name)
		return li_strdup(o->name);
	const char *b = strrchr(o->slide, '/');
	char *s = li_strdup(b ? b + 1 : o->slide);
	char *dot = s ? strrchr(s, '.') : NULL;
	if (dot && dot != s)
		*dot = '\0';
	return s;
}

/* The colour bar: a vertical ramp (high at the top) with ticks and labels. */
static void draw_bar(li_plot *p, int x, int top, int bottom, const opts *o)
{
	const int w = 18;
	for (int y = top; y <= bottom; y++) {
		int i = (int)lround(255.0 * (bottom - y) / (bottom - top));
		uint32_t c = (uint32_t)cmap[i][0] << 16 | (uint32_t)cmap[i][1] << 8 | cmap[i][2];
		li_plot_fill(p, x, y, w, 1, c);
	}
	li_plot_fill(p, x - 1, top - 1, w + 2, 1, LI_PLOT_BLACK);
	li_plot_fill(p, x - 1, bottom + 1, w + 2, 1, LI_PLOT_BLACK);
	li_plot_fill(p, x - 1, top - 1, 1, bottom - top + 3, LI_PLOT_BLACK);
	li_plot_fill(p, x + w, top - 1, 1, bottom - top + 3, LI_PLOT_BLACK);
	for (int k = 0; k <= 4; k++) {
		int y = (int)lround(bottom - (bottom - top) * k / 4.0);
		char buf[32];
		snprintf(buf, sizeof buf, "%.2f", o->vmin + (o->vmax - o->vmin) * k / 4);
		li_plot_fill(p, x + w, y, 4, 1, LI_PLOT_BLACK);
		li_plot_text(p, x + w + 7, y - 4, buf, 1, LI_PLOT_BLACK, false);
	}
	li_plot_text(p, x - 2, top - 16, o->column, 1, LI_PLOT_BLACK, false);
}

/* --print-map: the colour map as a table. */
static int print_map(void)
{
	printf("index\tr\tg\tb\tL\n");
	for (int i = 0; i < 256; i++)
		printf("%d\t%d\t%d\t%d\t%.3f\n", i, cmap[i][0], cmap[i][1], cmap[i][2],
		       lightness(cmap[i]));
	return 0;
}

/* The columns of the scored manifest (-1 when absent). */
typedef struct cols {
	int x, y, score, size, ds, slide;
} cols;

/* The columns the overlay needs; dies naming the missing one. */
static cols find_columns(const opts *o, const li_list *l)
{
	cols c = {li_list_require(l, "x"), li_list_require(l, "y"), li_list_require(l, o->column),
		  li_list_col(l, "size"), li_list_col(l, "downsample"), li_list_col(l, "slide")};
	if (c.x < 0 || c.y < 0 || c.score < 0)
		li_die_lib();
	if (!(o->tile > 0) && (c.size < 0 || c.ds < 0))
		li_die("'%s': no columns 'size' and 'downsample' (give --tile)", o->scores);
	return c;
}

/* Blend into the thumbnail th (of a slide W0 x H0 at level 0) the mean score
 * of the rows of slide `name` whose tile covers each pixel's centre. */
static void overlay_scores(const opts *o, const li_list *l, const cols *col, const char *name,
			   li_image *th, int64_t W0, int64_t H0)
{
	const int cx = col->x, cy = col->y, cp = col->score, csize = col->size, cds = col->ds;
	const int cslide = col->slide;
	const int tw = th->width, thh = th->height;
	const double sx = (double)W0 / tw, sy = (double)H0 / thh;
	double *sum = li_calloc((size_t)tw * thh, sizeof *sum);
	uint32_t *cnt = li_calloc((size_t)tw * thh, sizeof *cnt);
	if (!sum || !cnt)
		li_die_lib();
	size_t used = 0;
	for (size_t r = 0; r < l->nrows; r++) {
		const li_row *row = &l->rows[r];
		if (cslide >= 0 && strcmp(row->field[cslide], name) != 0)
			continue;
		long x, y;
		double p, ext = o->tile, size, ds;
		if (li_list_long(l, row, cx, &x) < 0 || li_list_long(l, row, cy, &y) < 0 ||
		    li_list_double(l, row, cp, &p) < 0)
			li_die_lib();
		if (!(ext > 0)) {
			if (li_list_double(l, row, csize, &size) < 0 || li_list_double(l, row, cds, &ds) < 0)
				li_die_lib();
			if (!(size > 0) || !(ds > 0))
				li_die("'%s' line %ld: size and downsample must be positive", o->scores, row->line);
			ext = size * ds;
		}
		used++;
		int i0 = (int)fmax(0, ceil(x / sx - 0.5)), i1 = (int)fmin(tw - 1, ceil((x + ext) / sx - 0.5) - 1);
		int j0 = (int)fmax(0, ceil(y / sy - 0.5)), j1 = (int)fmin(thh - 1, ceil((y + ext) / sy - 0.5) - 1);
		for (int j = j0; j <= j1; j++)
			for (int i = i0; i <= i1; i++) {
				sum[(size_t)j * tw + i] += p;
				cnt[(size_t)j * tw + i]++;
			}
	}
	if (used == 0)
		li_die("'%s': no rows for slide '%s' (column 'slide'; see --name)", o->scores, name);
	for (size_t i = 0; i < (size_t)tw * thh; i++) {
		if (!cnt[i])
			continue;
		double t = (sum[i] / cnt[i] - o->vmin) / (o->vmax - o->vmin);
		int k = (int)lround(255 * fmin(1, fmax(0, t)));
		uint8_t *px = th->data + i * 3;
		for (int c = 0; c < 3; c++)
			px[c] = (uint8_t)lround((1 - o->alpha) * px[c] + o->alpha * cmap[k][c]);
	}
	free(sum);
	free(cnt);
}

/* The output: the overlaid thumbnail, and the colour bar to its right. */
static void write_canvas(const opts *o, const li_image *th)
{
	const int tw = th->width, thh = th->height;
	const int barw = o->bar ? 90 : 0, H = o->bar && thh < 140 ? 140 : thh;
	li_plot *pl = li_plot_new(tw + barw, H);
	if (!pl)
		li_die_lib();
	for (int y = 0; y < thh; y++)
		memcpy(pl->rgb + (size_t)y * (tw + barw) * 3, th->data + (size_t)y * tw * 3, (size_t)tw * 3);
	if (o->bar) {
		int top = 28, bottom = H - 20;
		if (bottom - top > 300) {
			top = (H - 300) / 2;
			bottom = top + 300;
		}
		draw_bar(pl, tw + 16, top, bottom, o);
	}
	li_image out = {pl->width, pl->height, 3, pl->rgb};
	if (li_image_write(&out, o->out, NULL) < 0)
		li_die_lib();
	li_plot_free(pl);
}

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	opts o = {.alpha = 0.5, .size = 1024, .column = "prob", .vmin = 0, .vmax = 1, .bar = true};
	o.threads = li_cli_default_threads();
	parse(argc, argv, &o);
	cmap_build();
	if (o.print_map)
		return print_map();

	li_list *l = li_list_read(o.scores);
	if (!l)
		li_die_lib();
	const cols c = find_columns(&o, l);
	/* one handle per thread for the thumbnail; hs[1..] are opened by their threads */
	li_slide **hs = li_slide_open_handles(o.slide, o.threads);
	if (!hs)
		li_die_lib();
	int64_t W0, H0;
	li_slide_level_size(hs[0], 0, &W0, &H0);
	char *name = slide_name(&o);
	li_image *th = li_slide_thumbnail_threads(hs, o.threads, o.size, 0, NULL);
	if (!th || !name)
		li_die_lib();
	overlay_scores(&o, l, &c, name, th, W0, H0);
	write_canvas(&o, th);
	li_image_free(th);
	free(name);
	li_slide_free_handles(hs, o.threads);
	li_list_free(l);
	return 0;
}
