/* test_conv.c: the im2col + sgemm convolution (forward, and both backward
 * products) against a naive direct convolution in double, for several shapes
 * (including ResNet's 7x7/2 stem and 1x1/2 downsample), chunk sizes and thread
 * counts, and the GEMM accumulate (beta = 1) used for residual adds; and the
 * Winograd F(2x2, 3x3) path of 3x3/1 convs against the same reference. */
#include <math.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_nn.h"
#include "li_rng.h"
#include "tap.h"

static li_rng rng;

static void fill(float *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)li_rng_normal(&rng);
}

/* x: CNHW. Returns the max relative error of y against the direct sum. */
static void naive_forward(const li_conv *c, const float *x, int n, int h, int w, double *y)
{
	int oh, ow;
	li_conv_out_hw(c, h, w, &oh, &ow);
	for (int co = 0; co < c->cout; co++)
		for (int i = 0; i < n; i++)
			for (int p = 0; p < oh; p++)
				for (int q = 0; q < ow; q++) {
					double s = 0;
					for (int ci = 0; ci < c->cin; ci++)
						for (int a = 0; a < c->kh; a++)
							for (int b = 0; b < c->kw; b++) {
								int ih = p * c->stride - c->pad + a;
								int iw = q * c->stride - c->pad + b;
								if (ih < 0 || ih >= h || iw < 0 || iw >= w)
									continue;
								s += (double)c->w[((co * c->cin + ci) * c->kh + a) * c->kw + b] *
								     x[(((size_t)ci * n + i) * h + ih) * w + iw];
							}
					y[(((size_t)co * n + i) * oh + p) * ow + q] = s;
				}
}

/* dx and dw of L = sum(y * dy), by the same direct loops. */
static void naive_backward(const li_conv *c, const float *x, int n, int h, int w, const float *dy,
			   double *dx, double *dw)
{
	int oh, ow;
	li_conv_out_hw(c, h, w, &oh, &ow);
	memset(dx, 0, sizeof(double) * (size_t)c->cin * n * h * w);
	memset(dw, 0, sizeof(double) * (size_t)c->cout * c->cin * c->kh * c->kw);
	for (int co = 0; co < c->cout; co++)
		for (int i = 0; i < n; i++)
			for (int p = 0; p < oh; p++)
				for (int q = 0; q < ow; q++) {
					double g = dy[(((size_t)co * n + i) * oh + p) * ow + q];
					for (int ci = 0; ci < c->cin; ci++)
						for (int a = 0; a < c->kh; a++)
							for (int b = 0; b < c->kw; b++) {
								int ih = p * c->stride - c->pad + a;
								int iw = q * c->stride - c->pad + b;
								if (ih < 0 || ih >= h || iw < 0 || iw >= w)
									continue;
								size_t xi = (((size_t)ci * n + i) * h + ih) * w + iw;
								size_t wi = ((co * c->cin + ci) * c->kh + a) * c->kw + b;
								dx[xi] += g * c->w[wi];
								dw[wi] += g * x[xi];
							}
				}
}

static double max_rel(const float *got, const double *want, size_t n)
{
	double scale = 0, err = 0;
	for (size_t i = 0; i < n; i++)
		scale = fmax(scale, fabs(want[i]));
	for (size_t i = 0; i < n; i++) {
		if (isnan(got[i]))
			return INFINITY; /* fmax would skip it */
		err = fmax(err, fabs(got[i] - want[i]));
	}
	return err / fmax(scale, 1e-30);
}

static void compare(li_pool *pool, int cin, int cout, int k, int s, int p, int n, int h, int w,
		    size_t budget)
{
	li_conv c = {.cin = cin, .cout = cout, .kh = k, .kw = k, .stride = s, .pad = p};
	int oh, ow;
	li_conv_out_hw(&c, h, w, &oh, &ow);
	size_t nx = (size_t)cin * n * h * w, nw = (size_t)cout * cin * k * k;
	size_t ny = (size_t)cout * n * oh * ow;
	size_t cf = li_conv_col_floats(&c, n, h, w, budget);
	float *x = li_malloc_array(nx, 4), *wt = li_malloc_array(nw, 4), *y = li_malloc_array(ny, 4);
	float *dy = li_malloc_array(ny, 4), *dx = li_malloc_array(nx, 4);
	float *dw = li_calloc(nw, 4), *col = li_malloc_array(cf + 1, 4);
	double *ry = li_malloc_array(ny, 8), *rdx = li_malloc_array(nx, 8), *rdw = li_malloc_array(nw, 8);
	fill(x, nx);
	fill(wt, nw);
	fill(dy, ny);
	c.w = wt;
	c.dw = dw;
	naive_forward(&c, x, n, h, w, ry);
	li_conv_forward(&c, wt, x, n, h, w, y, 0.0f, col, cf, pool);
	char shape[128];
	snprintf(shape, sizeof shape, "%dx%d/%d pad %d, %d->%d, %dx%d, batch %d, %zu-float columns, %d thread(s)",
		 k, k, s, p, cin, cout, h, w, n, cf, li_pool_threads(pool));
	double e = max_rel(y, ry, ny);
	if (!ok(e < 1e-5, "forward %s", shape))
		diag("max relative error %g", e);
	/* the eval path: weights prepared once (packed, or Winograd-transformed
	 * for 3x3/1) and reused by the second call */
	float *u = li_malloc_array(li_wino_u_floats(4, cin, cout), 4); /* room for either tile */
	bool ready = false;
	for (int rep = 0; rep < 2; rep++) {
		memset(y, 0xff, sizeof(float) * ny); /* NaN: every output must be written */
		li_conv_forward_u(&c, wt, u, &ready, x, n, h, w, y, 0.0f, col, cf, NULL, pool);
		e = max_rel(y, ry, ny);
		/* only a 3x3/1 conv with enough tiles for Winograd uses them */
		int m = li_conv_wino_m(&c);
		bool wino = k == 3 && s == 1 && p == 1 && li_wino_tiles(m, n, h, w) * m * m >= 64;
		if (!ok(e < 1e-5 && ready == wino, "forward, prepared weights (%s)",
			rep ? "reused" : "first call"))
			diag("max relative error %g", e);
	}
	/* beta = 1 accumulates onto what is there */
	for (size_t i = 0; i < ny; i++) {
		ry[i] += dy[i];
		y[i] = dy[i];
	}
	li_conv_forward(&c, wt, x, n, h, w, y, 1.0f, col, cf, pool);
	e = max_rel(y, ry, ny);
	if (!ok(e < 1e-5, "forward with beta 1 adds onto y"))
		diag("max relative error %g", e);
	memcpy(y, dy, sizeof(float) * ny);
	li_conv_forward_u(&c, wt, u, &ready, x, n, h, w, y, 1.0f, col, cf, NULL, pool);
	e = max_rel(y, ry, ny);
	if (!ok(e < 1e-5, "forward with beta 1, prepared weights"))
		diag("max relative error %g", e);
	/* the bias and ReLU given to the conv (li_act: the stem's blocked path
	 * applies them block by block) give the bits of li_bias_act after it,
	 * beta 0 and 1, a NaN included */
	float *b1 = li_malloc_array((size_t)cout, 4), *ya = li_malloc_array(ny, 4);
	fill(b1, (size_t)cout);
	bool same = true;
	for (int v = 0; v < 4; v++) {
		float beta = v & 1 ? 1.0f : 0.0f;
		li_act act = {.b1 = b1, .b2 = v & 2 ? b1 : NULL, .relu = v != 2};
		for (size_t i = 0; i < ny; i++)
			ya[i] = y[i] = dy[i];
		ya[ny / 2] = y[ny / 2] = NAN;
		li_conv_forward_u(&c, wt, NULL, NULL, x, n, h, w, ya, beta, col, cf, NULL, pool);
		li_bias_act(ya, cout, (size_t)n * oh * ow, act.b1, act.b2, act.relu, pool);
		li_conv_forward_u(&c, wt, NULL, NULL, x, n, h, w, y, beta, col, cf, &act, pool);
		same = same && memcmp(ya, y, ny * sizeof(float)) == 0;
	}
	ok(same, "forward with the bias and ReLU given: the bits of li_bias_act after it");
	free(b1), free(ya);
	free(u);
	naive_backward(&c, x, n, h, w, dy, rdx, rdw);
	li_conv_backward(&c, x, n, h, w, dy, dx, false, col, cf, pool);
	e = max_rel(dx, rdx, nx);
	if (!ok(e < 1e-5, "backward dx"))
		diag("max relative error %g", e);
	e = max_rel(dw, rdw, nw);
	if (!ok(e < 1e-5, "backward dW"))
		diag("max relative error %g", e);
	/* a first layer (no dx: the stem's blocked weight gradient), added onto
	 * what dW holds, and the same bits when run again */
	for (size_t i = 0; i < nw; i++)
		rdw[i] += dw[i];
	float *dw1 = li_malloc_array(nw, 4);
	memcpy(dw1, dw, sizeof(float) * nw);
	li_conv_backward(&c, x, n, h, w, dy, NULL, false, col, cf, pool);
	e = max_rel(dw, rdw, nw);
	if (!ok(e < 1e-5, "backward dW without dx (first layer), added"))
		diag("max relative error %g", e);
	float *dw2 = li_malloc_array(nw, 4);
	memcpy(dw2, dw, sizeof(float) * nw);
	memcpy(dw, dw1, sizeof(float) * nw);
	li_conv_backward(&c, x, n, h, w, dy, NULL, false, col, cf, pool);
	ok(memcmp(dw, dw2, sizeof(float) * nw) == 0, "backward dW without dx: repeatable bits");
	free(dw1), free(dw2);
	free(x), free(wt), free(y), free(dy), free(dx), free(dw), free(col);
	free(ry), free(rdx), free(rdw);
}

/* Winograd F(2x2, 3x3) and F(4x4, 3x3) directly (li_wino_conv) against the
 * direct double sum, forward (beta 0 and 1) and backward-data (transposed,
 * rotated weights), for odd and even sizes and blocks that cut tile rows
 * anywhere. F(2x2)'s transforms have only 0, +-1 and +-1/2, so the error is
 * float rounding of the ~9 Cin products and of the transform sums: the same
 * 1e-5 (relative to the largest output) as im2col holds with a wide margin
 * (about 1e-6 is typical). F(4x4)'s coefficients go up to 8 (G's 1/24 and
 * A's 8): about ten times that, held to 5e-5. */
static void compare_wino_m(li_pool *pool, int m, int cin, int cout, int n, int h, int w, int tb)
{
	double tol = m == 4 ? 5e-5 : 1e-5;
	li_conv c = {.cin = cin, .cout = cout, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
	size_t nx = (size_t)cin * n * h * w, ny = (size_t)cout * n * h * w, nw = (size_t)cout * cin * 9;
	int threads = li_pool_threads(pool);
	size_t nu = li_wino_u_floats(m, cin, cout), nws = threads * li_wino_block_floats(m, cin, cout, tb);
	float *x = li_malloc_array(nx, 4), *wt = li_malloc_array(nw, 4), *y = li_malloc_array(ny, 4);
	float *dy = li_malloc_array(ny, 4), *dx = li_malloc_array(nx, 4), *dw = li_calloc(nw, 4);
	float *u = li_malloc_array(nu, 4), *ws = li_malloc_array(nws, 4);
	double *ry = li_malloc_array(ny, 8), *rdx = li_malloc_array(nx, 8), *rdw = li_malloc_array(nw, 8);
	fill(x, nx);
	fill(wt, nw);
	fill(dy, ny);
	c.w = wt;
	c.dw = dw;
	char shape[128];
	snprintf(shape, sizeof shape, "winograd F(%dx%d) %d->%d, %dx%d, batch %d, %d-tile blocks, %d thread(s)",
		 m, m, cin, cout, h, w, n, tb, threads);
	naive_forward(&c, x, n, h, w, ry);
	li_wino_weights(m, wt, cin, cout, false, u, pool);
	li_wino_conv(m, u, cin, cout, x, n, h, w, y, 0.0f, NULL, ws, nws, tb, pool);
	double e = max_rel(y, ry, ny);
	if (!ok(e < tol, "forward %s", shape))
		diag("max relative error %g", e);
	for (size_t i = 0; i < ny; i++) {
		ry[i] += dy[i];
		y[i] = dy[i];
	}
	li_wino_conv(m, u, cin, cout, x, n, h, w, y, 1.0f, NULL, ws, nws, tb, pool);
	e = max_rel(y, ry, ny);
	if (!ok(e < tol, "winograd F(%dx%d) forward with beta 1 adds onto y", m, m))
		diag("max relative error %g", e);
	/* the bias and ReLU applied as y is written (li_act) give the bits of
	 * li_bias_act after the conv, beta 0 and 1, with and without ReLU and a
	 * second bias, a NaN (to 0 under ReLU, as li_bias_act) included */
	float *b1 = li_malloc_array((size_t)cout, 4), *b2 = li_malloc_array((size_t)cout, 4);
	float *ya = li_malloc_array(ny, 4), *yb = li_malloc_array(ny, 4);
	fill(b1, (size_t)cout);
	fill(b2, (size_t)cout);
	bool same = true;
	for (int v = 0; v < 4; v++) {
		float beta = v & 1 ? 1.0f : 0.0f;
		li_act act = {.b1 = b1, .b2 = v & 2 ? b2 : NULL, .relu = v != 2};
		for (size_t i = 0; i < ny; i++)
			ya[i] = yb[i] = dy[i];
		ya[ny / 2] = yb[ny / 2] = NAN;
		li_wino_conv(m, u, cin, cout, x, n, h, w, ya, beta, NULL, ws, nws, tb, pool);
		li_bias_act(ya, cout, (size_t)n * h * w, act.b1, act.b2, act.relu, pool);
		li_wino_conv(m, u, cin, cout, x, n, h, w, yb, beta, &act, ws, nws, tb, pool);
		same = same && memcmp(ya, yb, ny * sizeof(float)) == 0;
	}
	ok(same, "winograd F(%dx%d) with the bias and ReLU fused: the bits of li_bias_act after it", m, m);
	free(b1), free(b2), free(ya), free(yb);
	naive_backward(&c, x, n, h, w, dy, rdx, rdw);
	li_wino_weights(m, wt, cin, cout, true, u, pool);
	li_wino_conv(m, u, cout, cin, dy, n, h, w, dx, 0.0f, NULL, ws, nws, tb, pool);
	e = max_rel(dx, rdx, nx);
	if (!ok(e < tol, "winograd backward dx %s", shape))
		diag("max relative error %g", e);
	/* weight gradient, in blocks of tb tiles, added onto what dw holds */
	size_t nwg = li_wino_wgrad_floats(m, cin, cout, tb);
	float *wg = li_malloc_array(nwg, 4);
	int wtb = li_wino_wgrad_block(m, cin, cout, n, h, w, nwg);
	for (size_t i = 0; i < nw; i++)
		dw[i] = 1.0f, rdw[i] += 1.0;
	li_wino_wgrad(m, x, dy, cin, cout, n, h, w, dw, wg, nwg, wtb < tb ? wtb : tb, pool);
	e = max_rel(dw, rdw, nw);
	int tiles = li_wino_tiles(m, n, h, w);
	if (!ok(e < tol && wtb >= (tb < tiles ? tb : tiles), "winograd weight gradient %s", shape))
		diag("max relative error %g, block %d", e, wtb);
	free(wg);
	free(x), free(wt), free(y), free(dy), free(dx), free(dw), free(u), free(ws);
	free(ry), free(rdx), free(rdw);
}

static void compare_wino(li_pool *pool, int cin, int cout, int n, int h, int w, int tb)
{
	compare_wino_m(pool, 2, cin, cout, n, h, w, tb);
	compare_wino_m(pool, 4, cin, cout, n, h, w, tb);
}

/* li_conv_forward/backward take the Winograd path for 3x3/1 when the batch
 * has enough tiles; the same layer forced through im2col must agree. */
static void compare_paths(li_pool *pool, int cin, int cout, int n, int h, int w)
{
	li_conv c = {.cin = cin, .cout = cout, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
	size_t nx = (size_t)cin * n * h * w, ny = (size_t)cout * n * h * w, nw = (size_t)cout * cin * 9;
	size_t cf = li_conv_col_floats(&c, n, h, w, 1 << 20);
	float *x = li_malloc_array(nx, 4), *wt = li_malloc_array(nw, 4), *dy = li_malloc_array(ny, 4);
	float *y[2], *dx[2], *dw[2], *col = li_malloc_array(cf, 4);
	fill(x, nx);
	fill(wt, nw);
	fill(dy, ny);
	for (int k = 0; k < 2; k++) {
		y[k] = li_malloc_array(ny, 4);
		dx[k] = li_malloc_array(nx, 4);
		dw[k] = li_calloc(nw, 4);
		c.w = wt;
		c.dw = dw[k];
		c.algo = k == 0 ? LI_CONV_AUTO : LI_CONV_IM2COL;
		li_conv_forward(&c, wt, x, n, h, w, y[k], 0.0f, col, cf, pool);
		li_conv_backward(&c, x, n, h, w, dy, dx[k], false, col, cf, pool);
	}
	double ey = 0, ex = 0, sy = 0, sx = 0;
	for (size_t i = 0; i < ny; i++)
		ey = fmax(ey, fabs(y[0][i] - y[1][i])), sy = fmax(sy, fabs(y[1][i]));
	for (size_t i = 0; i < nx; i++)
		ex = fmax(ex, fabs(dx[0][i] - dx[1][i])), sx = fmax(sx, fabs(dx[1][i]));
	ok(ey <= 1e-5 * sy && ex <= 1e-5 * sx, "winograd and im2col paths agree, %d->%d %dx%d batch %d "
	   "(%g, %g)", cin, cout, h, w, n, ey / sy, ex / sx);
	double ew = 0, sw = 0;
	for (size_t i = 0; i < nw; i++)
		ew = fmax(ew, fabs(dw[0][i] - dw[1][i])), sw = fmax(sw, fabs(dw[1][i]));
	ok(ew <= 1e-5 * sw, "dW by Winograd and by im2col agree (%g)", ew / sw);
	for (int k = 0; k < 2; k++)
		free(y[k]), free(dx[k]), free(dw[k]);
	free(x), free(wt), free(dy), free(col);
}

/* A first layer's weight gradient (the stem's blocked path: 16 fixed parts
 * summed in order) has the same bits on 1 thread as on 2. */
static void wgrad_threads(li_pool *pools[2], int n, int h, int w)
{
	li_conv c = {.cin = 3, .cout = 16, .kh = 7, .kw = 7, .stride = 2, .pad = 3};
	int oh, ow;
	li_conv_out_hw(&c, h, w, &oh, &ow);
	size_t nx = (size_t)c.cin * n * h * w, nw = (size_t)c.cout * c.cin * 49;
	size_t ny = (size_t)c.cout * n * oh * ow, cf = li_conv_col_floats(&c, n, h, w, 1);
	float *x = li_malloc_array(nx, 4), *dy = li_malloc_array(ny, 4), *col = li_malloc_array(cf, 4);
	float *dw[2] = {li_calloc(nw, 4), li_calloc(nw, 4)};
	fill(x, nx);
	fill(dy, ny);
	const char *path = li_conv_path(&c, n, h, w, cf, false, true, false, pools[1]);
	for (int t = 0; t < 2; t++) {
		c.dw = dw[t];
		li_conv_backward(&c, x, n, h, w, dy, NULL, false, col, cf, pools[t]);
	}
	ok(memcmp(dw[0], dw[1], sizeof(float) * nw) == 0,
	   "first-layer dW (%s): the same bits on 1 and 2 threads", path);
	free(x), free(dy), free(col), free(dw[0]), free(dw[1]);
}

int main(void)
{
	li_rng_seed(&rng, 99);
	li_pool *pools[2] = {li_pool_new(1), li_pool_new(2)};
	/* The Winograd GEMMs run the best kernel li_cpu_isa() allows; tests/run-tests
	 * runs this test again with LI_ISA capped (base: row-major U and
	 * li_sgemm1, as on a CPU without AVX2) so that every path is covered. */
	for (int t = 0; t < 2; t++) {
		li_pool *p = pools[t];
		diag("ISA %s, GEMM kernel %s, %d thread(s)", li_isa_name(li_cpu_isa()),
		     li_gemm_kernel_name(li_gemm_kernel_best()), li_pool_threads(p));
		compare(p, 3, 8, 7, 2, 3, 3, 33, 30, 1);          /* stem, odd sizes, chunk = 1 image */
		compare(p, 3, 8, 7, 2, 3, 3, 32, 32, 1 << 20);    /* stem, whole batch */
		compare(p, 3, 16, 7, 2, 3, 3, 64, 97, 1);         /* stem: blocks of 5 rows, the last of 2; 21 blocks in 16 parts */
		compare(p, 3, 8, 7, 2, 3, 2, 7, 600, 1);          /* stem: a row wider than a block */
		compare(p, 8, 16, 1, 2, 0, 4, 14, 14, 1);         /* downsample */
		compare(p, 8, 8, 3, 1, 1, 5, 9, 11, 2000);        /* 3x3/1: chunks of 2 images */
		compare(p, 8, 16, 3, 2, 1, 3, 10, 9, 1 << 20);    /* 3x3/2 */
		compare(p, 6, 5, 1, 1, 0, 3, 5, 6, 1);            /* pointwise: no im2col */
		compare(p, 2, 3, 4, 3, 2, 2, 13, 12, 1);          /* even kernel, stride 3 */
		compare(p, 4, 4, 3, 1, 1, 2, 1, 1, 1);            /* 1x1 input, all padding but one */
		compare_wino(p, 5, 7, 2, 9, 11, 7);               /* odd sizes, blocks cut rows */
		compare_wino(p, 8, 8, 3, 8, 8, 16);               /* even sizes */
		compare_wino(p, 4, 6, 2, 7, 7, 256);              /* one block (7x7 as layer4) */
		compare_wino(p, 3, 2, 3, 1, 1, 2);                /* 1x1 input: all padding but one */
		compare_wino(p, 16, 8, 1, 20, 3, 5);              /* narrow: a tile row of 2 */
		/* wide rows: the vector deinterleave and interleaving stores, with
		 * blocks that start and end inside a tile row, odd and even widths */
		compare_wino(p, 3, 4, 2, 5, 37, 16);
		compare_wino(p, 4, 3, 1, 6, 56, 64);
		compare_wino(p, 2, 5, 2, 4, 35, 11);
		/* GEMM kernel edges: 19 and 13 rows (panels of 6 plus 1), strips of
		 * 16, 9 (masked) and 1 column (the 8-wide two-panel kernel) */
		compare_wino(p, 13, 19, 1, 9, 9, 25);
		compare_wino(p, 19, 13, 3, 6, 5, 17);
		/* F(4x4): rows of 14 and 7 (tiles cut at the row's end, reads past
		 * it), 70 (two 8-tile groups of the deinterleave), 2 and 3 */
		compare_wino_m(p, 4, 6, 5, 3, 14, 14, 9);
		compare_wino_m(p, 4, 5, 6, 4, 7, 7, 3);
		compare_wino_m(p, 4, 3, 4, 2, 9, 70, 40);
		compare_wino_m(p, 4, 4, 4, 2, 3, 2, 1);
		compare_paths(p, 16, 32, 4, 14, 13);
	}
	wgrad_threads(pools, 3, 64, 97); /* 21 blocks in 16 parts */
	li_pool_free(pools[0]);
	li_pool_free(pools[1]);
	return done_testing();
}
