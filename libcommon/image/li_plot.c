/* li_plot.c: raster charts with anti-aliased lines and a built-in bitmap font.
 *
 * Shapes are drawn in two passes: first their coverage (0..1 per pixel, the
 * maximum over the shape's pieces) into a scratch mask, then one blend of the
 * colour by that coverage. Blending each segment separately would darken
 * the joints of a polyline where segments overlap. */
#include "li_plot.h"
#include "li_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The font, designed for this file: 5 columns x 9 rows per glyph, rows 0-6
 * above the baseline and rows 7-8 for descenders; rows not listed are blank. */
typedef struct glyph {
	char c;
	const char *row[9];
} glyph;

static const glyph font[] = {
	{' ', {0}},
	{'!', {"..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."}},
	{'"', {".#.#.", ".#.#."}},
	{'#', {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."}},
	{'$', {"..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#.."}},
	{'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
	{'&', {".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"}},
	{'\'', {"..#..", "..#.."}},
	{'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
	{')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
	{'*', {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#.."}},
	{'+', {".....", "..#..", "..#..", "#####", "..#..", "..#.."}},
	{',', {".....", ".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
	{'-', {".....", ".....", ".....", "#####"}},
	{'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
	{'/', {".....", "....#", "...#.", "..#..", ".#...", "#...."}},
	{'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
	{'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
	{'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
	{'3', {".###.", "#...#", "....#", "..##.", "....#", "#...#", ".###."}},
	{'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
	{'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
	{'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
	{'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
	{'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
	{'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
	{':', {".....", ".##..", ".##..", ".....", ".##..", ".##.."}},
	{';', {".....", ".##..", ".##..", ".....", ".##..", "..#..", ".#..."}},
	{'<', {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."}},
	{'=', {".....", ".....", "#####", ".....", "#####"}},
	{'>', {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."}},
	{'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
	{'@', {".###.", "#...#", "#.###", "#.#.#", "#.###", "#....", ".####"}},
	{'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
	{'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
	{'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
	{'D', {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."}},
	{'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
	{'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
	{'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"}},
	{'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
	{'I', {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
	{'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
	{'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
	{'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
	{'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
	{'N', {"#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"}},
	{'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
	{'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
	{'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
	{'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
	{'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
	{'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
	{'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
	{'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
	{'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
	{'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
	{'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
	{'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
	{'[', {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."}},
	{'\\', {".....", "#....", ".#...", "..#..", "...#.", "....#"}},
	{']', {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."}},
	{'^', {"..#..", ".#.#.", "#...#"}},
	{'_', {".....", ".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
	{'`', {".#...", "..#.."}},
	{'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
	{'b', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "####."}},
	{'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
	{'d', {"....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"}},
	{'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
	{'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
	{'g', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
	{'h', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
	{'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
	{'j', {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
	{'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
	{'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
	{'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"}},
	{'n', {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
	{'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
	{'p', {".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."}},
	{'q', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"}},
	{'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
	{'s', {".....", ".....", ".###.", "#....", ".###.", "....#", "####."}},
	{'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
	{'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
	{'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
	{'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
	{'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
	{'y', {".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
	{'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
	{'{', {"...#.", "..#..", "..#..", ".#...", "..#..", "..#..", "...#."}},
	{'|', {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
	{'}', {".#...", "..#..", "..#..", "...#.", "..#..", "..#..", ".#..."}},
	{'~', {".....", ".....", ".#...", "#.#.#", "...#."}},
};
_Static_assert(sizeof font / sizeof font[0] == 95, "one glyph per printable ASCII character");

enum { GW = 5, GH = 9, CELL_W = 6, CELL_H = 10 };

static const glyph *find_glyph(unsigned char c)
{
	if (c < 32 || c > 126)
		c = '?';
	const glyph *g = &font[c - 32];
	LI_ASSERT(g->c == (char)c); /* the table is in ASCII order */
	return g;
}

li_plot *li_plot_new(int width, int height)
{
	if (width < 16 || height < 16 || width > 8192 || height > 8192) {
		li_error("plot size %dx%d is out of range", width, height);
		return NULL;
	}
	li_plot *p = li_calloc(1, sizeof *p);
	if (!p)
		return NULL;
	size_t np = (size_t)width * (size_t)height;
	p->rgb = li_malloc(np * 3);
	p->mask = li_calloc(np, sizeof *p->mask);
	if (!p->rgb || !p->mask) {
		li_plot_free(p);
		return NULL;
	}
	memset(p->rgb, 255, np * 3);
	p->width = width;
	p->height = height;
	p->left = p->top = 0;
	p->right = width - 1;
	p->bottom = height - 1;
	p->xmin = p->ymin = 0;
	p->xmax = p->ymax = 1;
	return p;
}

void li_plot_free(li_plot *p)
{
	if (!p)
		return;
	free(p->rgb);
	free(p->mask);
	free(p);
}

static void blend(li_plot *p, int x, int y, uint32_t rgb, double a)
{
	if (x < 0 || y < 0 || x >= p->width || y >= p->height || a <= 0)
		return;
	if (a > 1)
		a = 1;
	uint8_t *px = p->rgb + ((size_t)y * (size_t)p->width + (size_t)x) * 3;
	for (int c = 0; c < 3; c++) {
		double v = (rgb >> (16 - 8 * c)) & 0xff;
		px[c] = (uint8_t)lround(px[c] + (v - px[c]) * a);
	}
}

void li_plot_fill(li_plot *p, int x, int y, int w, int h, uint32_t rgb)
{
	for (int j = y; j < y + h; j++)
		for (int i = x; i < x + w; i++)
			blend(p, i, j, rgb, 1);
}

int li_plot_text_width(const char *s, int scale)
{
	return (int)strlen(s) * CELL_W * scale - scale; /* no space after the last */
}

int li_plot_text_height(int scale) { return CELL_H * scale; }

void li_plot_text(li_plot *p, int x, int y, const char *s, int scale, uint32_t rgb, bool vertical)
{
	int len = li_plot_text_width(s, scale);
	for (int k = 0; s[k]; k++) {
		const glyph *g = find_glyph((unsigned char)s[k]);
		for (int gy = 0; gy < GH; gy++) {
			if (!g->row[gy])
				continue;
			for (int gx = 0; gx < GW; gx++) {
				if (g->row[gy][gx] != '#')
					continue;
				int u = (k * CELL_W + gx) * scale; /* along the text */
				int v = gy * scale;                /* across it, downwards */
				for (int a = 0; a < scale; a++)
					for (int b = 0; b < scale; b++) {
						if (vertical)
							blend(p, x + v + b, y + len - 1 - (u + a), rgb, 1);
						else
							blend(p, x + u + a, y + v + b, rgb, 1);
					}
			}
		}
	}
}

/* ---- coverage shapes ---- */

typedef struct bbox {
	int x0, y0, x1, y1;
} bbox;

static void bbox_add(bbox *b, int x0, int y0, int x1, int y1)
{
	if (x0 < b->x0) b->x0 = x0;
	if (y0 < b->y0) b->y0 = y0;
	if (x1 > b->x1) b->x1 = x1;
	if (y1 > b->y1) b->y1 = y1;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Coverage of a thick segment: 1 inside, fading over one pixel at the edge. */
static void mask_segment(li_plot *p, bbox *b, double x0, double y0, double x1, double y1, double w)
{
	double r = w / 2;
	int ix0 = clampi((int)floor(fmin(x0, x1) - r - 1), 0, p->width - 1);
	int ix1 = clampi((int)ceil(fmax(x0, x1) + r + 1), 0, p->width - 1);
	int iy0 = clampi((int)floor(fmin(y0, y1) - r - 1), 0, p->height - 1);
	int iy1 = clampi((int)ceil(fmax(y0, y1) + r + 1), 0, p->height - 1);
	double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
	for (int y = iy0; y <= iy1; y++)
		for (int x = ix0; x <= ix1; x++) {
			double cx = x + 0.5 - x0, cy = y + 0.5 - y0;
			double t = len2 > 0 ? (cx * dx + cy * dy) / len2 : 0;
			t = t < 0 ? 0 : t > 1 ? 1 : t;
			double ex = cx - t * dx, ey = cy - t * dy;
			double a = r + 0.5 - sqrt(ex * ex + ey * ey);
			float *m = &p->mask[(size_t)y * (size_t)p->width + (size_t)x];
			if (a > *m)
				*m = (float)(a > 1 ? 1 : a);
		}
	bbox_add(b, ix0, iy0, ix1, iy1);
}

static void mask_flush(li_plot *p, const bbox *b, uint32_t rgb)
{
	for (int y = b->y0; y <= b->y1; y++)
		for (int x = b->x0; x <= b->x1; x++) {
			float *m = &p->mask[(size_t)y * (size_t)p->width + (size_t)x];
			if (*m > 0)
				blend(p, x, y, rgb, *m);
			*m = 0;
		}
}

static bbox bbox_empty(const li_plot *p) { return (bbox){p->width, p->height, -1, -1}; }

void li_plot_line(li_plot *p, double x0, double y0, double x1, double y1, double width, uint32_t rgb)
{
	bbox b = bbox_empty(p);
	mask_segment(p, &b, x0, y0, x1, y1, width);
	mask_flush(p, &b, rgb);
}

double li_plot_px(const li_plot *p, double x)
{
	return p->left + (x - p->xmin) / (p->xmax - p->xmin) * (p->right - p->left);
}

double li_plot_py(const li_plot *p, double y)
{
	return p->bottom - (y - p->ymin) / (p->ymax - p->ymin) * (p->bottom - p->top);
}

void li_plot_polyline(li_plot *p, const double *x, const double *y, size_t n, double width,
		      uint32_t rgb, double dash)
{
	bbox b = bbox_empty(p);
	double along = 0; /* arc length so far, for dashes */
	for (size_t i = 1; i < n; i++) {
		double x0 = li_plot_px(p, x[i - 1]), y0 = li_plot_py(p, y[i - 1]);
		double x1 = li_plot_px(p, x[i]), y1 = li_plot_py(p, y[i]);
		double len = hypot(x1 - x0, y1 - y0);
		if (dash <= 0 || len == 0) {
			mask_segment(p, &b, x0, y0, x1, y1, width);
			continue;
		}
		/* Cut the segment at dash boundaries; even periods are drawn. */
		double t = 0;
		while (t < len) {
			double phase = fmod(along + t, 2 * dash);
			double step = fmin((phase < dash ? dash - phase : 2 * dash - phase), len - t);
			if (phase < dash) {
				double a = t / len, c = (t + step) / len;
				mask_segment(p, &b, x0 + a * (x1 - x0), y0 + a * (y1 - y0),
					     x0 + c * (x1 - x0), y0 + c * (y1 - y0), width);
			}
			t += step;
		}
		along += len;
	}
	if (n == 1)
		mask_segment(p, &b, li_plot_px(p, x[0]), li_plot_py(p, y[0]), li_plot_px(p, x[0]),
			     li_plot_py(p, y[0]), width);
	mask_flush(p, &b, rgb);
}

void li_plot_disc(li_plot *p, double x, double y, double radius, uint32_t rgb)
{
	double px = li_plot_px(p, x), py = li_plot_py(p, y);
	li_plot_line(p, px, py, px, py, 2 * radius, rgb);
}

void li_plot_frame_draw(li_plot *p, const li_plot_frame *f)
{
	int ts = 2; /* text scale for everything but the title */
	int th = li_plot_text_height(ts);
	p->xmin = f->ncats > 0 ? 0.5 : f->xmin;
	p->xmax = f->ncats > 0 ? f->ncats + 0.5 : f->xmax;
	p->ymin = f->ymin;
	p->ymax = f->ymax;
	/* Margins: title on top; y label and tick labels on the left; tick labels
	 * and x label below. */
	char buf[64];
	snprintf(buf, sizeof buf, "%.*f", f->decimals, f->ymax);
	int ytick_w = li_plot_text_width(buf, ts);
	p->left = 12 + th + 10 + ytick_w + 12;
	p->right = p->width - 28;
	p->top = f->title ? 16 + li_plot_text_height(3) + 10 : 20;
	p->bottom = p->height - (12 + th + 10 + th + 12);

	int nx = f->ncats > 0 ? -1 : (int)lround((f->xmax - f->xmin) / f->xstep);
	int ny = (int)lround((f->ymax - f->ymin) / f->ystep);
	for (int i = 0; i < f->ncats; i++) {
		double px = round(li_plot_px(p, i + 1)) + 0.5, cell = li_plot_px(p, 1.5) - li_plot_px(p, 0.5);
		li_plot_line(p, px, p->bottom, px, p->bottom + 6, 1.5, LI_PLOT_BLACK);
		int sc = ts;
		snprintf(buf, sizeof buf, "%s", f->cats[i]);
		if (li_plot_text_width(buf, sc) > cell - 4)
			sc = 1;
		for (size_t n = strlen(buf); n > 2 && li_plot_text_width(buf, sc) > cell - 4; n--)
			memcpy(buf + n - 3, "..", 3);
		li_plot_text(p, (int)px - li_plot_text_width(buf, sc) / 2, (int)p->bottom + 10, buf, sc,
			     LI_PLOT_BLACK, false);
	}
	for (int i = 0; i <= nx; i++) {
		double v = f->xmin + i * f->xstep;
		double px = round(li_plot_px(p, v)) + 0.5;
		li_plot_line(p, px, p->top, px, p->bottom, 1, LI_PLOT_GRID);
		li_plot_line(p, px, p->bottom, px, p->bottom + 6, 1.5, LI_PLOT_BLACK);
		snprintf(buf, sizeof buf, "%.*f", f->decimals, v);
		li_plot_text(p, (int)px - li_plot_text_width(buf, ts) / 2, (int)p->bottom + 10, buf,
			     ts, LI_PLOT_BLACK, false);
	}
	for (int i = 0; i <= ny; i++) {
		double v = f->ymin + i * f->ystep;
		double py = round(li_plot_py(p, v)) + 0.5;
		li_plot_line(p, p->left, py, p->right, py, 1, LI_PLOT_GRID);
		li_plot_line(p, p->left - 6, py, p->left, py, 1.5, LI_PLOT_BLACK);
		snprintf(buf, sizeof buf, "%.*f", f->decimals, v);
		li_plot_text(p, (int)p->left - 10 - li_plot_text_width(buf, ts),
			     (int)py - 7 * ts / 2, buf, ts, LI_PLOT_BLACK, false);
	}
	double l = p->left, r = p->right, t = p->top, b = p->bottom;
	li_plot_line(p, l, t, r, t, 1.5, LI_PLOT_BLACK);
	li_plot_line(p, l, b, r, b, 1.5, LI_PLOT_BLACK);
	li_plot_line(p, l, t, l, b, 1.5, LI_PLOT_BLACK);
	li_plot_line(p, r, t, r, b, 1.5, LI_PLOT_BLACK);
	if (f->title)
		li_plot_text(p, (int)((l + r) / 2) - li_plot_text_width(f->title, 3) / 2, 16, f->title,
			     3, LI_PLOT_BLACK, false);
	if (f->xlabel)
		li_plot_text(p, (int)((l + r) / 2) - li_plot_text_width(f->xlabel, ts) / 2,
			     p->height - 12 - th, f->xlabel, ts, LI_PLOT_BLACK, false);
	if (f->ylabel)
		li_plot_text(p, 12, (int)((t + b) / 2) - li_plot_text_width(f->ylabel, ts) / 2,
			     f->ylabel, ts, LI_PLOT_BLACK, true);
}

void li_plot_legend_rect(const li_plot *p, int corner, const char *const *lines, int nlines,
			 int scale, int rect[4])
{
	int w = 0, lh = li_plot_text_height(scale) + 2 * scale, pad = 5 * scale, m = 10;
	for (int i = 0; i < nlines; i++) {
		int tw = li_plot_text_width(lines[i], scale);
		if (tw > w)
			w = tw;
	}
	rect[2] = w + 2 * pad;
	rect[3] = nlines * lh + 2 * pad - 2 * scale;
	rect[0] = corner & 1 ? (int)p->right - m - rect[2] : (int)p->left + m;
	rect[1] = corner & 2 ? (int)p->bottom - m - rect[3] : (int)p->top + m;
}

void li_plot_legend(li_plot *p, int corner, const char *const *lines, int nlines, int scale)
{
	int r[4], lh = li_plot_text_height(scale) + 2 * scale, pad = 5 * scale;
	li_plot_legend_rect(p, corner, lines, nlines, scale, r);
	int x = r[0], y = r[1], bw = r[2], bh = r[3];
	li_plot_fill(p, x, y, bw, bh, LI_PLOT_WHITE);
	li_plot_line(p, x, y, x + bw, y, 1, LI_PLOT_GRAY);
	li_plot_line(p, x, y + bh, x + bw, y + bh, 1, LI_PLOT_GRAY);
	li_plot_line(p, x, y, x, y + bh, 1, LI_PLOT_GRAY);
	li_plot_line(p, x + bw, y, x + bw, y + bh, 1, LI_PLOT_GRAY);
	for (int i = 0; i < nlines; i++)
		li_plot_text(p, x + pad, y + pad + i * lh, lines[i], scale, LI_PLOT_BLACK, false);
}

size_t li_plot_polyline_hits(const li_plot *p, const double *x, const double *y, size_t n,
			     const int rect[4])
{
	size_t hits = 0;
	for (size_t i = 0; i + 1 < n || (n == 1 && i == 0); i++) {
		double x0 = li_plot_px(p, x[i]), y0 = li_plot_py(p, y[i]);
		double x1 = n > 1 ? li_plot_px(p, x[i + 1]) : x0, y1 = n > 1 ? li_plot_py(p, y[i + 1]) : y0;
		int steps = (int)ceil(hypot(x1 - x0, y1 - y0));
		for (int k = 0; k <= steps; k++) {
			double t = steps ? (double)k / steps : 0;
			double px = x0 + t * (x1 - x0), py = y0 + t * (y1 - y0);
			hits += px >= rect[0] - 4 && px <= rect[0] + rect[2] + 4 && py >= rect[1] - 4 &&
				py <= rect[1] + rect[3] + 4;
		}
	}
	return hits;
}
