/* li_conv.c: 2-D convolution (dilation 1) as im2col + sgemm (oneDNN, li_gemm.c).
 *
 * Activations are CNHW, so the output of a chunk of images [n0, n1) is the
 * column block [n0*ohw, n1*ohw) of the Cout x (n*ohw) output matrix: one GEMM
 * per chunk writes it in place (ldc = n*ohw). Chunks are as many images as the
 * im2col budget holds, which keeps the scratch small (the whole-batch im2col of
 * ResNet18's conv1 at batch 32 would be 236 MB) while the GEMMs stay large.
 * im2col, col2im and the GEMMs (li_gemm: blocks of single-threaded sgemm) all
 * run on our pool.
 * A 1x1 stride-1 unpadded conv needs no im2col: x itself is the column matrix.
 * 3x3 stride-1 pad-1 convs compute y, dx and dW by Winograd (li_winograd.c)
 * when the batch has enough tiles. */
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_nn.h"

void li_conv_out_hw(const li_conv *c, int h, int w, int *oh, int *ow)
{
	*oh = (h + 2 * c->pad - c->kh) / c->stride + 1;
	*ow = (w + 2 * c->pad - c->kw) / c->stride + 1;
}

static bool is_pointwise(const li_conv *c)
{
	return c->kh == 1 && c->kw == 1 && c->stride == 1 && c->pad == 0;
}

/* Tiles per Winograd block: GEMMs of 256 columns run near the sgemm's best,
 * and a block's transformed input and output (16 (Cin + Cout) x 256 floats,
 * 4 MB at 128 channels) stay in the L3 cache between the steps. */
#define WINO_TB 256
/* Fewer tiles than this (batch-1 deep layers): im2col's one larger GEMM wins,
 * unless the transformed weights are cached (eval), when transforming them
 * is no longer part of the cost. */
#define WINO_MIN_TILES 32
#define WINO_MIN_TILES_CACHED 16

static bool is_wino(const li_conv *c)
{
	return c->kh == 3 && c->kw == 3 && c->stride == 1 && c->pad == 1;
}

size_t li_conv_col_floats(const li_conv *c, int n, int h, int w, size_t budget)
{
	if (is_pointwise(c))
		return 0;
	int oh, ow;
	li_conv_out_hw(c, h, w, &oh, &ow);
	size_t per_image = (size_t)c->cin * c->kh * c->kw * oh * ow;
	size_t images = budget / per_image;
	if (images < 1)
		images = 1;
	if (images > (size_t)n)
		images = (size_t)n;
	size_t need = images * per_image;
	if (is_wino(c)) {
		/* U plus a block for each of 2 threads (more threads get smaller blocks) */
		int tiles = li_wino_tiles(n, h, w);
		size_t wn = li_wino_u_floats(c->cin, c->cout) +
			    2 * li_wino_block_floats(c->cin, c->cout, tiles < WINO_TB ? tiles : WINO_TB);
		need = wn > need ? wn : need;
	}
	return need;
}

/* Tiles per block for a Winograd conv of this batch in col_floats of
 * workspace (of which U takes its share unless cached), or 0 to use im2col. */
static int wino_block(const li_conv *c, int n, int h, int w, size_t col_floats, bool cached,
		      li_pool *pool)
{
	if (c->algo == LI_CONV_IM2COL || !is_wino(c))
		return 0;
	int tiles = li_wino_tiles(n, h, w), threads = li_pool_threads(pool);
	size_t u = cached ? 0 : li_wino_u_floats(c->cin, c->cout);
	if (tiles < (cached ? WINO_MIN_TILES_CACHED : WINO_MIN_TILES) || col_floats <= u)
		return 0;
	/* per tile 16 (cin + cout) floats; the padding is settled below */
	size_t fit = (col_floats - u) / threads / ((size_t)16 * (c->cin + c->cout));
	int tb = fit < WINO_TB ? (int)fit : WINO_TB;
	/* at least two blocks per thread, so that a late thread costs little;
	 * fewer tiles than that run as one block split by steps (li_wino_conv) */
	int even = (tiles + 2 * threads - 1) / (2 * threads);
	if (threads > 1 && tb > even)
		tb = even >= 16 ? even : tiles <= tb ? tiles : tb;
	if (tb >= 16 && tb < tiles)
		tb &= ~15; /* whole panels for the GEMM kernels */
	/* a block's V rows are padded (li_wino_block_floats is not linear) */
	while (tb > 0 && li_wino_block_floats(c->cin, c->cout, tb) * threads > col_floats - u)
		tb -= tb > 16 ? 16 : 1;
	return tb >= 16 || tb >= tiles ? tb : 0;
}

/* Tiles per block for a Winograd weight gradient (li_wino_wgrad) in
 * col_floats of workspace, or 0 for im2col's: the same rule as the forward's
 * (3x3 stride-1 pad-1, enough tiles, not forced to im2col), and blocks of at
 * least 16 tiles (or all there are). */
static int wgrad_block(const li_conv *c, int n, int h, int w, size_t col_floats)
{
	if (c->algo == LI_CONV_IM2COL || !is_wino(c))
		return 0;
	int tiles = li_wino_tiles(n, h, w);
	if (tiles < WINO_MIN_TILES)
		return 0;
	int tb = li_wino_wgrad_block(c->cin, c->cout, n, h, w, col_floats);
	return tb >= 16 || tb >= tiles ? tb : 0;
}

/* Range of output positions o with 0 <= o*s - p + k < size: [lo, hi). */
static void valid_range(int out, int size, int s, int p, int k, int *lo, int *hi)
{
	int a = p - k, b = size + p - k; /* need a <= o*s < b */
	int l = a <= 0 ? 0 : (a + s - 1) / s;
	int h = b <= 0 ? 0 : (b + s - 1) / s;
	*lo = l < out ? l : out;
	*hi = h < out ? h : out;
	if (*hi < *lo)
		*hi = *lo;
}

typedef struct col_job {
	const li_conv *c;
	const float *x;
	float *col, *dx;
	int n, h, w, oh, ow, n0, n1;
	bool add;
} col_job;

/* One task per column-matrix row (ci, ki, kj): copy the shifted input planes. */
LI_INLINE void im2col_task_body(void *ctx, int begin, int end)
{
	const col_job *j = ctx;
	const li_conv *c = j->c;
	int s = c->stride, p = c->pad, hw = j->h * j->w, ohw = j->oh * j->ow;
	size_t cols = (size_t)(j->n1 - j->n0) * ohw;
	for (int r = begin; r < end; r++) {
		int ci = r / (c->kh * c->kw), ki = r / c->kw % c->kh, kj = r % c->kw;
		int olo, ohi, wlo, whi;
		valid_range(j->oh, j->h, s, p, ki, &olo, &ohi);
		valid_range(j->ow, j->w, s, p, kj, &wlo, &whi);
		for (int img = j->n0; img < j->n1; img++) {
			const float *src = j->x + ((size_t)ci * j->n + img) * hw;
			float *dst = j->col + (size_t)r * cols + (size_t)(img - j->n0) * ohw;
			memset(dst, 0, sizeof(float) * (size_t)olo * j->ow);
			for (int o = olo; o < ohi; o++) {
				const float *srow = src + (size_t)(o * s - p + ki) * j->w + (kj - p);
				float *drow = dst + (size_t)o * j->ow;
				for (int q = 0; q < wlo; q++)
					drow[q] = 0;
				if (s == 1)
					memcpy(drow + wlo, srow + wlo, sizeof(float) * (size_t)(whi - wlo));
				else
					for (int q = wlo; q < whi; q++)
						drow[q] = srow[q * s];
				for (int q = whi; q < j->ow; q++)
					drow[q] = 0;
			}
			memset(dst + (size_t)ohi * j->ow, 0, sizeof(float) * (size_t)(j->oh - ohi) * j->ow);
		}
	}
}

LI_ISA_DISPATCH(im2col_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

/* One task per input channel, so each dx plane has a single writer. */
LI_INLINE void col2im_task_body(void *ctx, int begin, int end)
{
	const col_job *j = ctx;
	const li_conv *c = j->c;
	int s = c->stride, p = c->pad, hw = j->h * j->w, ohw = j->oh * j->ow;
	size_t cols = (size_t)(j->n1 - j->n0) * ohw;
	for (int ci = begin; ci < end; ci++) {
		for (int img = j->n0; img < j->n1; img++) {
			float *dst = j->dx + ((size_t)ci * j->n + img) * hw;
			if (!j->add)
				memset(dst, 0, sizeof(float) * (size_t)hw);
			for (int ki = 0; ki < c->kh; ki++) {
				int olo, ohi;
				valid_range(j->oh, j->h, s, p, ki, &olo, &ohi);
				for (int kj = 0; kj < c->kw; kj++) {
					int wlo, whi;
					valid_range(j->ow, j->w, s, p, kj, &wlo, &whi);
					int r = (ci * c->kh + ki) * c->kw + kj;
					const float *src = j->col + (size_t)r * cols + (size_t)(img - j->n0) * ohw;
					for (int o = olo; o < ohi; o++) {
						float *drow = dst + (size_t)(o * s - p + ki) * j->w + (kj - p);
						const float *srow = src + (size_t)o * j->ow;
						if (s == 1)
							for (int q = wlo; q < whi; q++)
								drow[q] += srow[q];
						else
							for (int q = wlo; q < whi; q++)
								drow[q * s] += srow[q];
					}
				}
			}
		}
	}
}

LI_ISA_DISPATCH(col2im_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

static int chunk_images(const li_conv *c, int n, int oh, int ow, size_t col_floats)
{
	size_t per_image = (size_t)c->cin * c->kh * c->kw * oh * ow;
	size_t k = col_floats / per_image;
	LI_ASSERT(k >= 1);
	return k > (size_t)n ? n : (int)k;
}

void li_conv_forward(const li_conv *c, const float *w, const float *x, int n, int h, int wd,
		     float *y, float beta, float *col, size_t col_floats, li_pool *pool)
{
	li_conv_forward_u(c, w, NULL, NULL, x, n, h, wd, y, beta, col, col_floats, NULL, pool);
}

void li_conv_forward_u(const li_conv *c, const float *w, float *u, bool *u_ready, const float *x,
		       int n, int h, int wd, float *y, float beta, float *col, size_t col_floats,
		       const li_act *act, li_pool *pool)
{
	int oh, ow;
	li_conv_out_hw(c, h, wd, &oh, &ow);
	int K = c->cin * c->kh * c->kw, ohw = oh * ow;
	int ldy = n * ohw;
	if (is_pointwise(c)) {
		li_gemm(pool, false, false, c->cout, ldy, K, 1.0f, w, K, x, ldy, beta, y, ldy);
		if (act)
			li_bias_act(y, c->cout, (size_t)ldy, act->b1, act->b2, act->relu, pool);
		return;
	}
	int tb = wino_block(c, n, h, wd, col_floats, u != NULL, pool);
	if (tb && u) {
		if (!*u_ready)
			li_wino_weights(w, c->cin, c->cout, false, u, pool);
		*u_ready = true;
		li_wino_conv(u, c->cin, c->cout, x, n, h, wd, y, beta, act, col, col_floats, tb, pool);
		return;
	}
	if (tb) {
		size_t un = li_wino_u_floats(c->cin, c->cout);
		li_wino_weights(w, c->cin, c->cout, false, col, pool);
		li_wino_conv(col, c->cin, c->cout, x, n, h, wd, y, beta, act, col + un,
			     col_floats - un, tb, pool);
		return;
	}
	int step = chunk_images(c, n, oh, ow, col_floats);
	for (int n0 = 0; n0 < n; n0 += step) {
		int n1 = n0 + step < n ? n0 + step : n;
		col_job j = {.c = c, .x = x, .col = col, .n = n, .h = h, .w = wd, .oh = oh, .ow = ow,
			     .n0 = n0, .n1 = n1};
		li_pool_run(pool, K, im2col_task, &j);
		int cols = (n1 - n0) * ohw;
		li_gemm(pool, false, false, c->cout, cols, K, 1.0f, w, K, col, cols, beta,
			y + (size_t)n0 * ohw, ldy);
	}
	if (act)
		li_bias_act(y, c->cout, (size_t)ldy, act->b1, act->b2, act->relu, pool);
}

typedef struct rowsum_job {
	const float *dy;
	float *db;
	size_t m;
} rowsum_job;

static void rowsum_task(void *ctx, int begin, int end)
{
	const rowsum_job *j = ctx;
	for (int c = begin; c < end; c++) {
		const float *r = j->dy + (size_t)c * j->m;
		double s = 0;
		for (size_t i = 0; i < j->m; i++)
			s += r[i];
		j->db[c] += (float)s;
	}
}

void li_conv_backward(const li_conv *c, const float *x, int n, int h, int wd, const float *dy,
		      float *dx, bool dx_add, float *col, size_t col_floats, li_pool *pool)
{
	int oh, ow;
	li_conv_out_hw(c, h, wd, &oh, &ow);
	int K = c->cin * c->kh * c->kw, ohw = oh * ow;
	int ldy = n * ohw;
	if (c->db) {
		rowsum_job rj = {.dy = dy, .db = c->db, .m = (size_t)ldy};
		li_pool_run(pool, c->cout, rowsum_task, &rj);
	}
	if (is_pointwise(c)) {
		li_gemm(pool, false, true, c->cout, K, ldy, 1.0f, dy, ldy, x, ldy, 1.0f, c->dw, K);
		if (dx)
			li_gemm(pool, true, false, K, ldy, c->cout, 1.0f, c->w, K, dy, ldy,
				dx_add ? 1.0f : 0.0f, dx, ldy);
		return;
	}
	int tb = dx ? wino_block(c, n, h, wd, col_floats, false, pool) : 0;
	int wtb = wgrad_block(c, n, h, wd, col_floats);
	if (wtb)
		li_wino_wgrad(x, dy, c->cin, c->cout, n, h, wd, c->dw, col, col_floats, wtb, pool);
	bool col_dx = dx && !tb; /* dx through the column buffer (col2im) */
	int step = wtb && !col_dx ? n : chunk_images(c, n, oh, ow, col_floats);
	for (int n0 = 0; n0 < n && (!wtb || col_dx); n0 += step) {
		int n1 = n0 + step < n ? n0 + step : n;
		int cols = (n1 - n0) * ohw;
		col_job j = {.c = c, .x = x, .col = col, .dx = dx, .n = n, .h = h, .w = wd, .oh = oh,
			     .ow = ow, .n0 = n0, .n1 = n1, .add = dx_add};
		if (!wtb) {
			li_pool_run(pool, K, im2col_task, &j);
			li_gemm(pool, false, true, c->cout, K, cols, 1.0f, dy + (size_t)n0 * ohw, ldy,
				col, cols, 1.0f, c->dw, K);
		}
		if (!col_dx)
			continue;
		/* The column buffer is free again: reuse it for d(columns). */
		li_gemm(pool, true, false, K, cols, c->cout, 1.0f, c->w, K, dy + (size_t)n0 * ohw,
			ldy, 0.0f, col, cols);
		li_pool_run(pool, c->cin, col2im_task, &j);
	}
	if (tb) {
		/* dx is the 3x3 pad-1 conv of dy with the kernel transposed and rotated */
		size_t u = li_wino_u_floats(c->cin, c->cout);
		li_wino_weights(c->w, c->cin, c->cout, true, col, pool);
		li_wino_conv(col, c->cout, c->cin, dy, n, oh, ow, dx, dx_add ? 1.0f : 0.0f, NULL,
			     col + u, col_floats - u, tb, pool);
	}
}

typedef struct bias_job {
	float *y;
	const float *b1, *b2;
	size_t m;
	bool relu;
} bias_job;

LI_INLINE void bias_task_body(void *ctx, int begin, int end)
{
	const bias_job *j = ctx;
	for (int c = begin; c < end; c++) {
		float b = (j->b1 ? j->b1[c] : 0.0f) + (j->b2 ? j->b2[c] : 0.0f);
		float *r = j->y + (size_t)c * j->m;
		if (j->relu)
			for (size_t i = 0; i < j->m; i++) {
				float v = r[i] + b;
				r[i] = v > 0.0f ? v : 0.0f;
			}
		else
			for (size_t i = 0; i < j->m; i++)
				r[i] += b;
	}
}

LI_ISA_DISPATCH(bias_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_bias_act(float *y, int channels, size_t m, const float *b1, const float *b2, bool relu,
		 li_pool *pool)
{
	bias_job j = {.y = y, .b1 = b1, .b2 = b2, .m = m, .relu = relu};
	li_pool_run(pool, channels, bias_task, &j);
}

typedef struct transpose_job {
	const float *x;
	float *y;
	int n, c;
	size_t hw;
} transpose_job;

static void transpose_task(void *ctx, int begin, int end)
{
	const transpose_job *j = ctx;
	for (int plane = begin; plane < end; plane++) {
		int i = plane / j->c, ch = plane % j->c;
		memcpy(j->y + ((size_t)ch * j->n + i) * j->hw, j->x + (size_t)plane * j->hw,
		       sizeof(float) * j->hw);
	}
}

void li_nchw_to_cnhw(const float *x, int n, int c, int hw, float *y, li_pool *pool)
{
	transpose_job j = {.x = x, .y = y, .n = n, .c = c, .hw = (size_t)hw};
	li_pool_run(pool, n * c, transpose_task, &j);
}

const char *li_conv_path(const li_conv *c, int n, int h, int w, size_t col_floats, bool cached,
			 bool backward, li_pool *pool)
{
	if (is_pointwise(c))
		return "gemm";
	if (!backward)
		return wino_block(c, n, h, w, col_floats, cached, pool) ? "winograd" : "im2col";
	bool dx = wino_block(c, n, h, w, col_floats, false, pool) > 0;
	bool dw = wgrad_block(c, n, h, w, col_floats) > 0;
	return dx && dw ? "winograd" : dx ? "dx-winograd/dw-im2col" : dw ? "dx-im2col/dw-winograd" : "im2col";
}
