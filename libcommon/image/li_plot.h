/* li_plot.h: small raster charts in an RGB buffer (li-eval's ROC and PR
 * curves): anti-aliased lines, discs, a framed plot area with grid, ticks and
 * labels, and text in a built-in 5x7 bitmap font (printable ASCII, with
 * descenders), scaled by whole numbers. Encoding the pixels is left to the
 * caller (li_image). Drawing never fails; only li_plot_new allocates. */
#ifndef LI_PLOT_H
#define LI_PLOT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Colours are 0xRRGGBB. */
#define LI_PLOT_BLACK 0x000000u
#define LI_PLOT_WHITE 0xffffffu
#define LI_PLOT_GRID 0xe3e3e3u
#define LI_PLOT_GRAY 0x8c8c8cu
#define LI_PLOT_BLUE 0x1f5fa8u
#define LI_PLOT_RED 0xc0392bu

typedef struct li_plot {
	int width, height;
	uint8_t *rgb;   /* width * height * 3 bytes, rows packed (as li_image) */
	float *mask;    /* coverage scratch for one shape */
	/* Plot area in pixels and the data range mapped onto it (li_plot_frame). */
	double left, top, right, bottom;
	double xmin, xmax, ymin, ymax;
} li_plot;

/* A white canvas; NULL with li_error. */
li_plot *li_plot_new(int width, int height);
void li_plot_free(li_plot *p);

/* Text: one character cell is 6 x 10 pixels times scale (5x7 glyphs, a
 * column of space, two rows of descender). (x, y) is the top-left corner of
 * the text's box; vertical text reads bottom to top (rotated 90 degrees
 * counter-clockwise), its box li_plot_text_height wide. Characters outside
 * printable ASCII are drawn as '?'. */
void li_plot_text(li_plot *p, int x, int y, const char *s, int scale, uint32_t rgb, bool vertical);
int li_plot_text_width(const char *s, int scale);
int li_plot_text_height(int scale);

void li_plot_fill(li_plot *p, int x, int y, int w, int h, uint32_t rgb);
/* Anti-aliased segment in pixel coordinates, width in pixels. */
void li_plot_line(li_plot *p, double x0, double y0, double x1, double y1, double width,
		  uint32_t rgb);

/* The plot area: margins around it hold the title (top), tick labels and
 * axis labels; grid lines and ticks every xstep/ystep, tick labels printed
 * with `decimals` digits. Sets the data-to-pixel mapping used below. */
typedef struct li_plot_frame {
	double xmin, xmax, ymin, ymax, xstep, ystep;
	int decimals;
	const char *title, *xlabel, *ylabel;
	/* A categorical x axis when ncats > 0: xmin, xmax and xstep are ignored;
	 * category i (from 0) sits at x = i + 1 on [0.5, ncats + 0.5], its tick
	 * labelled cats[i] (smaller, or cut with "..", when it does not fit). */
	const char *const *cats;
	int ncats;
} li_plot_frame;
void li_plot_frame_draw(li_plot *p, const li_plot_frame *f);
double li_plot_px(const li_plot *p, double x);
double li_plot_py(const li_plot *p, double y);

/* A polyline through (x[i], y[i]) in data coordinates, drawn as one shape (no
 * darker joints); dash > 0 draws dashes and gaps of that many pixels. */
void li_plot_polyline(li_plot *p, const double *x, const double *y, size_t n, double width,
		      uint32_t rgb, double dash);
/* A filled disc at data coordinates (x, y), radius in pixels. */
void li_plot_disc(li_plot *p, double x, double y, double radius, uint32_t rgb);
/* Lines of text in a white box with a border, in a corner of the plot area
 * (corner 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right). */
void li_plot_legend(li_plot *p, int corner, const char *const *lines, int nlines, int scale);
/* The box li_plot_legend would draw, in pixels: x, y, width, height. */
void li_plot_legend_rect(const li_plot *p, int corner, const char *const *lines, int nlines,
			 int scale, int rect[4]);
/* How many pixels of the polyline (data coordinates, sampled every pixel)
 * fall inside rect: for putting a legend where it hides the least. */
size_t li_plot_polyline_hits(const li_plot *p, const double *x, const double *y, size_t n,
			     const int rect[4]);
#endif
