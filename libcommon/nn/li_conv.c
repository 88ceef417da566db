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
 * when the batch has enough tiles. Convs with small weights (the stem) build
 * their columns a few output rows at a time instead, in the cache, for our
 * packed GEMM (forward) and for the weight gradient of a first layer
 * ("blocked im2col" below). */
#include <stdlib.h>
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
#define WINO4_TB 96
static int wino_tb_cap(int m) { return m == 4 ? WINO4_TB : WINO_TB; }
/* Fewer tiles than this (batch-1 deep layers): im2col's one larger GEMM wins,
 * unless the transformed weights are cached (eval), when transforming them
 * is no longer part of the cost. */
#define WINO_MIN_TILES 32
#define WINO_MIN_TILES_CACHED 16

static bool is_wino(const li_conv *c)
{
	return c->kh == 3 && c->kw == 3 && c->stride == 1 && c->pad == 1;
}

/* Winograd's output tile for this conv (forward, backward-data, weight
 * gradient): F(4x4, 3x3) up to 128 channels in and out, F(2x2, 3x3) above.
 * F(4x4) does a quarter of the tiles with 36 GEMMs for 16 (4x fewer
 * multiplications than the direct product, against 2.25x) and writes 2.25
 * transformed values per input value (against 4): layer1's forward 8.2 ms
 * against 12.1, layer2's 6.8-8.0 against 10.5 (bench/README.md). At 256
 * channels it gained nothing (14x14 maps cut into 4x4 tiles waste 31%, and
 * its U, 36 Cin Cout floats, is written at every training step); at 512 its
 * U is 38 MB a conv, which eval keeps for each. LI_WINO=2 or 4 forces one
 * (comparisons). */
int li_conv_wino_m(const li_conv *c)
{
	if (c->algo == LI_CONV_WINO2)
		return 2;
	int f = li_conv_wino_forced(); /* a few dozen calls a step; -1 refused by li_net_new */
	if (f > 0)
		return f;
	return c->cin <= 128 && c->cout <= 128 ? 4 : 2;
}

int li_conv_wino_forced(void)
{
	const char *e = getenv("LI_WINO");
	char buf[64];
	if (!e || !*e)
		return 0;
	if (strcmp(e, "2") == 0 || strcmp(e, "4") == 0)
		return e[0] - '0';
	return li_error("LI_WINO='%s' is not 2 or 4", li_escape(e, buf, sizeof buf));
}

static bool blk_eligible(const li_conv *c);
static size_t blk_floats(const li_conv *c, int h, int w, int threads);
static size_t blk_wgrad_floats(const li_conv *c, int n, int h, int w, int threads);

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
	if (blk_eligible(c)) {
		/* as for Winograd: room for 2 threads */
		size_t blk = blk_floats(c, h, w, 2), bwg = blk_wgrad_floats(c, n, h, w, 2);
		need = blk > need ? blk : need;
		need = bwg > need ? bwg : need;
	}
	if (is_wino(c)) {
		/* U plus a block for each of 2 threads (more threads get smaller blocks) */
		int m = li_conv_wino_m(c), tiles = li_wino_tiles(m, n, h, w);
		int tb = wino_tb_cap(m);
		size_t wn = li_wino_u_floats(m, c->cin, c->cout) +
			    2 * li_wino_block_floats(m, c->cin, c->cout, tiles < tb ? tiles : tb);
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
	int m = li_conv_wino_m(c), planes = (m + 2) * (m + 2);
	int tiles = li_wino_tiles(m, n, h, w), threads = li_pool_threads(pool);
	size_t u = cached ? 0 : li_wino_u_floats(m, c->cin, c->cout);
	/* the minimum in outputs: a 4x4 tile counts as four 2x2 ones */
	if (tiles * m * m < 4 * (cached ? WINO_MIN_TILES_CACHED : WINO_MIN_TILES) || col_floats <= u)
		return 0;
	/* per tile (m + 2)^2 (cin + cout) floats; the padding is settled below */
	size_t fit = (col_floats - u) / threads / ((size_t)planes * (c->cin + c->cout));
	int cap = wino_tb_cap(m);
	int tb = fit < (size_t)cap ? (int)fit : cap;
	/* at least two blocks per thread, so that a late thread costs little;
	 * fewer tiles than that run as one block split by steps (li_wino_conv) */
	int even = (tiles + 2 * threads - 1) / (2 * threads);
	if (threads > 1 && tb > even)
		tb = even >= 16 ? even : tiles <= tb ? tiles : tb;
	if (tb >= 16 && tb < tiles)
		tb &= ~15; /* whole panels for the GEMM kernels */
	/* a block's V rows are padded (li_wino_block_floats is not linear) */
	while (tb > 0 && li_wino_block_floats(m, c->cin, c->cout, tb) * threads > col_floats - u)
		tb -= tb > 16 ? 16 : 1;
	return tb >= 16 || tb >= tiles ? tb : 0;
}

/* Tiles per block for a Winograd weight gradient (li_wino_wgrad) in
 * col_floats of workspace, or 0 for im2col's: the same rule as the forward's
 * (3x3 stride-1 pad-1, enough tiles, not forced to im2col), and blocks of at
 * least 16 tiles (or all there are); its tile is li_conv_wino_m's. */
static int wgrad_block(const li_conv *c, int n, int h, int w, size_t col_floats)
{
	if (c->algo == LI_CONV_IM2COL || !is_wino(c))
		return 0;
	int m = li_conv_wino_m(c);
	int tiles = li_wino_tiles(m, n, h, w);
	if (tiles * m * m < 4 * WINO_MIN_TILES)
		return 0;
	int tb = li_wino_wgrad_block(m, c->cin, c->cout, n, h, w, col_floats);
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

/* r[i] = act(r[i] + b): li_bias_act on one row (NaN to 0 under ReLU). */
LI_INLINE void bias_row_body(float *r, size_t m, float b, bool relu)
{
	if (relu)
		for (size_t i = 0; i < m; i++) {
			float v = r[i] + b;
			r[i] = v > 0.0f ? v : 0.0f;
		}
	else
		for (size_t i = 0; i < m; i++)
			r[i] += b;
}

LI_ISA_DISPATCH(bias_row, (float *r, size_t m, float b, bool relu), (r, m, b, relu))

/* ---- blocked im2col: a few output rows at a time, in the cache ----
 *
 * The whole-image column matrix of ResNet18's stem is 7.4 MB an image, so
 * im2col wrote it to memory and the GEMM read it back. Here a task builds
 * the columns of about BLK_COLS output positions (whole output rows of one
 * image) in its own slice of the workspace, about 140 KB for the stem, and
 * multiplies them at once by the packed weights (li_gemm_packed), while they
 * are still in the L2 cache; the bias and ReLU follow on the block as it
 * leaves the GEMM. Where the CPU has no vector kernel (li_gemm_fast) the
 * whole-image path stays. */
#define BLK_COLS 256

/* n rounded up to whole cache lines (16 floats). */
static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Output rows per block and the block's column stride. */
static void blk_shape(int oh, int ow, int *rows, int *ldv)
{
	int r = BLK_COLS / ow;
	r = r < 1 ? 1 : r > oh ? oh : r;
	*rows = r;
	*ldv = li_gemm_stride(r * ow);
}

/* Scratch after a slice's columns: one padded input row, its even and its odd columns. */
static size_t blk_row_floats(const li_conv *c, int w)
{
	return 3 * round16((size_t)w + 2 * c->pad + c->kw + c->stride + 1);
}

static size_t blk_slice(const li_conv *c, int h, int w)
{
	int oh, ow, rows, ldv;
	li_conv_out_hw(c, h, w, &oh, &ow);
	blk_shape(oh, ow, &rows, &ldv);
	size_t k = (size_t)c->cin * c->kh * c->kw;
	return round16(k * (size_t)ldv) + blk_row_floats(c, w);
}

static size_t blk_floats(const li_conv *c, int h, int w, int threads)
{
	size_t ap = round16(li_gemm_packed_floats(c->cout, c->cin * c->kh * c->kw));
	return ap + (size_t)threads * blk_slice(c, h, w);
}

/* Packed weights up to this many floats (128 KB: the stem's are 37 KB).
 * Larger ones were measured slower blocked than whole-image on the stride-2
 * 3x3 convs of ResNet18 (layer3, layer4: 1.1-1.35x the time at batch 32 and
 * worse at batch 1, where packing 512 x 2304 weights at each call costs). */
#define BLK_MAX_WEIGHTS 32768

static bool blk_eligible(const li_conv *c)
{
	return c->algo != LI_CONV_IM2COL && li_gemm_fast() && !is_pointwise(c) &&
	       (size_t)c->cout * c->cin * c->kh * c->kw <= BLK_MAX_WEIGHTS;
}

static bool use_blocked(const li_conv *c, int h, int w, float beta, size_t col_floats,
			li_pool *pool)
{
	return blk_eligible(c) && (beta == 0.0f || beta == 1.0f) &&
	       blk_floats(c, h, w, li_pool_threads(pool)) <= col_floats;
}

typedef struct blk_job {
	const li_conv *c;
	const float *ap, *x;
	float *y, *ws;
	const li_act *act;
	size_t slice;
	int n, h, w, oh, ow, rows, ldv, blocks_per_image;
	bool add;
} blk_job;

/* The shape of j's blocks for conv c of x (c x n x h x w). */
static void blk_setup(blk_job *j, const li_conv *c, const float *x, int n, int h, int w)
{
	j->c = c;
	j->x = x;
	j->n = n;
	j->h = h;
	j->w = w;
	li_conv_out_hw(c, h, w, &j->oh, &j->ow);
	blk_shape(j->oh, j->ow, &j->rows, &j->ldv);
	j->blocks_per_image = (j->oh + j->rows - 1) / j->rows;
	j->slice = blk_slice(c, h, w);
}

/* Rows [o0, o1) of the column matrix of image img into col (row stride ldv):
 * row (ci, ki, kj), output (o, q) holds x[ci][o s - p + ki][q s - p + kj].
 * Each input row is copied once, zero-padded, into pr (and split into its
 * even and odd columns for stride 2), and the kw rows it feeds are copies. */
LI_INLINE void blk_im2col_body(const blk_job *j, int img, int o0, int o1, float *col, float *pr)
{
	const li_conv *c = j->c;
	int s = c->stride, p = c->pad, w = j->w, ow = j->ow, ldv = j->ldv;
	int plen = (ow - 1) * s + c->kw; /* padded columns read */
	size_t rf = blk_row_floats(c, w) / 3;
	float *ev = pr + rf, *od = ev + rf;
	int half = (plen + 1) / 2;
	for (int ci = 0; ci < c->cin; ci++) {
		const float *src = j->x + ((size_t)ci * j->n + img) * j->h * w;
		for (int ki = 0; ki < c->kh; ki++) {
			float *dst0 = col + (size_t)((ci * c->kh + ki) * c->kw) * ldv;
			for (int o = o0; o < o1; o++) {
				int ih = o * s - p + ki;
				float *d = dst0 + (size_t)(o - o0) * ow;
				if (ih < 0 || ih >= j->h) {
					for (int kj = 0; kj < c->kw; kj++)
						memset(d + (size_t)kj * ldv, 0, sizeof(float) * (size_t)ow);
					continue;
				}
				const float *srow = src + (size_t)ih * w;
				/* padded column t is input column t - p */
				int lo = p < plen ? p : plen, hi = w + p < plen ? w + p : plen;
				memset(pr, 0, sizeof(float) * (size_t)lo);
				memcpy(pr + lo, srow, sizeof(float) * (size_t)(hi - lo));
				if (hi < plen)
					memset(pr + hi, 0, sizeof(float) * (size_t)(plen - hi));
				if (s == 1) {
					for (int kj = 0; kj < c->kw; kj++)
						memcpy(d + (size_t)kj * ldv, pr + kj, sizeof(float) * (size_t)ow);
				} else if (s == 2) {
					pr[plen] = 0.0f;
					for (int i = 0; i < half; i++) {
						ev[i] = pr[2 * i];
						od[i] = pr[2 * i + 1];
					}
					for (int kj = 0; kj < c->kw; kj++)
						memcpy(d + (size_t)kj * ldv, (kj & 1 ? od : ev) + kj / 2,
						       sizeof(float) * (size_t)ow);
				} else {
					for (int kj = 0; kj < c->kw; kj++)
						for (int q = 0; q < ow; q++)
							d[(size_t)kj * ldv + q] = pr[q * s + kj];
				}
			}
		}
	}
}

LI_ISA_DISPATCH(blk_im2col, (const blk_job *j, int img, int o0, int o1, float *col, float *pr),
		(j, img, o0, o1, col, pr))

/* Block b's columns into the calling thread's slice (returned): image *img,
 * output rows from *o0, *cols columns. */
static const float *blk_columns(const blk_job *j, int b, int *img, int *o0, int *cols)
{
	const li_conv *c = j->c;
	float *col = j->ws + (size_t)li_pool_self() * j->slice;
	float *pr = col + round16((size_t)c->cin * c->kh * c->kw * j->ldv);
	*img = b / j->blocks_per_image;
	*o0 = b % j->blocks_per_image * j->rows;
	int o1 = *o0 + j->rows < j->oh ? *o0 + j->rows : j->oh;
	*cols = (o1 - *o0) * j->ow;
	blk_im2col(j, *img, *o0, o1, col, pr);
	return col;
}

static void blk_task(void *ctx, int begin, int end)
{
	const blk_job *j = ctx;
	const li_conv *c = j->c;
	int k = c->cin * c->kh * c->kw, ohw = j->oh * j->ow;
	size_t ldy = (size_t)j->n * ohw;
	for (int b = begin; b < end; b++) {
		int img, o0, cols;
		const float *col = blk_columns(j, b, &img, &o0, &cols);
		float *y = j->y + (size_t)img * ohw + (size_t)o0 * j->ow;
		li_gemm_packed(j->ap, c->cout, k, col, j->ldv, cols, y, (int)ldy, j->add);
		if (j->act)
			for (int co = 0; co < c->cout; co++)
				bias_row(y + (size_t)co * ldy, (size_t)cols, li_act_bias(j->act, co),
					 j->act->relu);
	}
}

static void conv_forward_blocked(const li_conv *c, const float *w, const float *x, int n, int h,
				 int wd, float *y, float beta, float *ws, const li_act *act,
				 li_pool *pool)
{
	blk_job j = {.y = y, .act = act, .add = beta != 0.0f};
	blk_setup(&j, c, x, n, h, wd);
	int k = c->cin * c->kh * c->kw;
	float *ap = ws;
	li_gemm_pack(w, c->cout, k, ap);
	j.ap = ap;
	j.ws = ws + round16(li_gemm_packed_floats(c->cout, k));
	li_pool_run_chunked(pool, n * j.blocks_per_image, 1, blk_task, &j);
}

/* The weight gradient the same way (for a first layer, which needs no dx):
 * each block's columns, built in the cache, times its rows of dy, summed
 * into one of BLK_PARTS partial gradients. The blocks are dealt to the
 * parts by a fixed rule and each part sums its blocks in order, then the
 * parts are added in order: the same bits for any thread count or
 * scheduling. */
#define BLK_PARTS 16

static size_t blk_wgrad_floats(const li_conv *c, int n, int h, int w, int threads)
{
	int oh, ow, rows, ldv;
	li_conv_out_hw(c, h, w, &oh, &ow);
	blk_shape(oh, ow, &rows, &ldv);
	int blocks = n * ((oh + rows - 1) / rows), parts = blocks < BLK_PARTS ? blocks : BLK_PARTS;
	size_t dw = round16((size_t)c->cout * c->cin * c->kh * c->kw);
	return (size_t)parts * dw + (size_t)threads * blk_slice(c, h, w);
}

typedef struct blk_wg_job {
	blk_job b;
	const float *dy;
	float *parts; /* parts x dw_floats */
	size_t dw_floats;
	int blocks, nparts;
} blk_wg_job;

static void blk_wg_task(void *ctx, int begin, int end)
{
	const blk_wg_job *g = ctx;
	const blk_job *j = &g->b;
	const li_conv *c = j->c;
	int k = c->cin * c->kh * c->kw, ohw = j->oh * j->ow;
	int ldy = j->n * ohw;
	for (int part = begin; part < end; part++) {
		float *dw = g->parts + (size_t)part * g->dw_floats;
		int b0 = (int)((int64_t)g->blocks * part / g->nparts);
		int b1 = (int)((int64_t)g->blocks * (part + 1) / g->nparts);
		for (int b = b0; b < b1; b++) {
			int img, o0, cols;
			const float *col = blk_columns(j, b, &img, &o0, &cols);
			li_sgemm1(false, true, c->cout, k, cols, 1.0f,
				  g->dy + (size_t)img * ohw + (size_t)o0 * j->ow, ldy, col, j->ldv,
				  b > b0 ? 1.0f : 0.0f, dw, k);
		}
	}
}

typedef struct sum_job {
	float *dw;
	const float *parts;
	size_t stride;
	int nparts;
} sum_job;

static void sum_task(void *ctx, int begin, int end)
{
	const sum_job *s = ctx;
	for (int i = begin; i < end; i++)
		for (int p = 0; p < s->nparts; p++)
			s->dw[i] += s->parts[(size_t)p * s->stride + i];
}

static bool use_blocked_wgrad(const li_conv *c, int n, int h, int w, size_t col_floats,
			      li_pool *pool)
{
	return use_blocked(c, h, w, 0.0f, col_floats, pool) &&
	       blk_wgrad_floats(c, n, h, w, li_pool_threads(pool)) <= col_floats;
}

static void conv_wgrad_blocked(const li_conv *c, const float *x, int n, int h, int wd,
			       const float *dy, float *ws, li_pool *pool)
{
	blk_wg_job g = {.dy = dy};
	blk_job *j = &g.b;
	blk_setup(j, c, x, n, h, wd);
	g.blocks = n * j->blocks_per_image;
	g.nparts = g.blocks < BLK_PARTS ? g.blocks : BLK_PARTS;
	int k = c->cin * c->kh * c->kw;
	g.dw_floats = round16((size_t)c->cout * k);
	g.parts = ws;
	j->ws = ws + (size_t)g.nparts * g.dw_floats;
	li_pool_run_chunked(pool, g.nparts, 1, blk_wg_task, &g);
	sum_job sj = {.dw = c->dw, .parts = g.parts, .stride = g.dw_floats, .nparts = g.nparts};
	li_pool_run(pool, c->cout * k, sum_task, &sj);
}

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
	int m = li_conv_wino_m(c);
	if (tb && u) {
		if (!*u_ready)
			li_wino_weights(m, w, c->cin, c->cout, false, u, pool);
		*u_ready = true;
		li_wino_conv(m, u, c->cin, c->cout, x, n, h, wd, y, beta, act, col, col_floats, tb, pool);
		return;
	}
	if (tb) {
		size_t un = li_wino_u_floats(m, c->cin, c->cout);
		li_wino_weights(m, w, c->cin, c->cout, false, col, pool);
		li_wino_conv(m, col, c->cin, c->cout, x, n, h, wd, y, beta, act, col + un,
			     col_floats - un, tb, pool);
		return;
	}
	if (use_blocked(c, h, wd, beta, col_floats, pool)) {
		conv_forward_blocked(c, w, x, n, h, wd, y, beta, col, act, pool);
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
	if (!dx && !wgrad_block(c, n, h, wd, col_floats) &&
	    use_blocked_wgrad(c, n, h, wd, col_floats, pool)) {
		conv_wgrad_blocked(c, x, n, h, wd, dy, col, pool);
		return;
	}
	int tb = dx ? wino_block(c, n, h, wd, col_floats, false, pool) : 0;
	int wtb = wgrad_block(c, n, h, wd, col_floats);
	if (wtb)
		li_wino_wgrad(li_conv_wino_m(c), x, dy, c->cin, c->cout, n, h, wd, c->dw, col,
			      col_floats, wtb, pool);
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
		int m = li_conv_wino_m(c);
		size_t u = li_wino_u_floats(m, c->cin, c->cout);
		li_wino_weights(m, c->w, c->cin, c->cout, true, col, pool);
		li_wino_conv(m, col, c->cout, c->cin, dy, n, oh, ow, dx, dx_add ? 1.0f : 0.0f, NULL,
			     col + u, col_floats - u, tb, pool);
	}
}

typedef struct bias_job {
	float *y;
	li_act act;
	size_t m;
} bias_job;

LI_INLINE void bias_task_body(void *ctx, int begin, int end)
{
	const bias_job *j = ctx;
	for (int c = begin; c < end; c++)
		bias_row_body(j->y + (size_t)c * j->m, j->m, li_act_bias(&j->act, c), j->act.relu);
}

LI_ISA_DISPATCH(bias_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_bias_act(float *y, int channels, size_t m, const float *b1, const float *b2, bool relu,
		 li_pool *pool)
{
	bias_job j = {.y = y, .act = {.b1 = b1, .b2 = b2, .relu = relu}, .m = m};
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
			 bool backward, bool dx, li_pool *pool)
{
	if (is_pointwise(c))
		return "gemm";
	if (!backward) {
		if (wino_block(c, n, h, w, col_floats, cached, pool))
			return "winograd";
		return use_blocked(c, h, w, 0.0f, col_floats, pool) ? "im2col-blocked" : "im2col";
	}
	if (!dx) {
		if (wgrad_block(c, n, h, w, col_floats))
			return "winograd";
		return use_blocked_wgrad(c, n, h, w, col_floats, pool) ? "im2col-blocked" : "im2col";
	}
	bool wdx = wino_block(c, n, h, w, col_floats, false, pool) > 0;
	bool dw = wgrad_block(c, n, h, w, col_floats) > 0;
	return wdx && dw ? "winograd" : wdx ? "dx-winograd/dw-im2col" : dw ? "dx-im2col/dw-winograd" : "im2col";
}
