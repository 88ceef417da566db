/* li_wino_impl.h: what the Winograd convolutions F(2x2, 3x3) (li_winograd.c)
 * and F(4x4, 3x3) (li_winograd4.c) share (not installed): the workspace
 * geometry, the job, tile runs, and eight-lane vectors with their helpers. */
#ifndef LI_WINO_IMPL_H
#define LI_WINO_IMPL_H
#include <stdint.h>
#include <string.h>

#include "li_cpu.h"
#include "li_nn.h"

#define WINO_MR LI_GEMM_MR

static inline size_t pad_rows(int rows) { return ((size_t)rows + WINO_MR - 1) / WINO_MR * WINO_MR; }

/* The distance between two of the 16 planes of U, V or M (rows x cols floats):
 * whole cache lines, an odd number of them. Each tile's 16 transformed values
 * go to (and come back from) the same place in all 16 planes; at 64 x 272
 * floats a plane was 17 x 4 KB, so the 16 addresses fell in one set of the
 * 8-way L1 cache and evicted one another at every tile (the input transform
 * took 50 cycles a tile and channel). An odd number of lines puts them in 16
 * different sets. */
static inline size_t plane_floats(int rows, int cols)
{
	size_t lines = ((size_t)rows * (size_t)cols + 15) / 16;
	return (lines | 1) * 16;
}

/* WINO_SLACK floats after a block's GEMM output let the output transform
 * load 8 tiles at a time even at the end of a tile row (the lanes past it
 * are read and ignored): a partial load through a stack copy stalls on
 * store forwarding, and half the loads at batch 1 are partial. */
#define WINO_SLACK 16

/* Row stride of V for a block of `tiles` tiles: a multiple of 16 floats (a
 * cache line) that is an odd number of lines, so that the kernel's walk down
 * a 16-column strip (one line per row) spreads over every cache set; a
 * stride of 256 floats put all the rows in 4 of the L1's 64 sets. */
static inline int v_stride(int tiles) { return li_gemm_stride(tiles); }

typedef struct wt_job {
	const float *w;
	float *u;
	int cin, cout;
	bool transpose, packed;
} wt_job;

/* U[xi] for rows x cols: row r, column k at
 * (r / WINO_MR) * WINO_MR * cols + k * WINO_MR + r % WINO_MR (packed), or
 * r * cols + k (row-major, for li_sgemm1). */
static inline size_t u_plane(int rows, int cols, bool packed)
{
	return plane_floats(packed ? (int)pad_rows(rows) : rows, cols);
}

/* The weight transform's walk, F(2x2)'s and F(4x4)'s: one task per panel
 * of WINO_MR rows of U (packed; a row when row-major), a row an output
 * channel of the equivalent conv, the rows that pad the last panel zeros.
 * Within a panel k is the outer loop, so that the panel's values for one k,
 * side by side in each plane, are written together. tf writes the planes of
 * one 3x3 kernel s, rotated 180 degrees when rot (transposed: the
 * backward-data conv, w'[ci][co] = w[co][ci] rotated); it is inlined. */
typedef void wt_fn(const float *s, bool rot, float *u, size_t plane);

LI_INLINE void wt_walk(const wt_job *j, int begin, int end, int planes, wt_fn *tf)
{
	int rows = j->transpose ? j->cin : j->cout, cols = j->transpose ? j->cout : j->cin;
	int per = j->packed ? WINO_MR : 1;
	size_t plane = u_plane(rows, cols, j->packed);
	for (int item = begin; item < end; item++) {
		for (int k = 0; k < cols; k++) {
			for (int r = item * per; r < (item + 1) * per; r++) {
				float *u = j->packed ? j->u + (size_t)(r / WINO_MR) * WINO_MR * cols +
							   (size_t)k * WINO_MR + r % WINO_MR
						     : j->u + (size_t)r * cols + k;
				if (r >= rows) {
					for (int x = 0; x < planes; x++)
						u[x * plane] = 0.0f;
					continue;
				}
				const float *s = j->transpose ? j->w + ((size_t)k * j->cin + r) * 9
							      : j->w + ((size_t)r * j->cin + k) * 9;
				tf(s, j->transpose, u, plane);
			}
		}
	}
}

typedef struct wino_job {
	const float *u, *x;
	float *y, *ws;
	size_t slice;
	int m, planes; /* output tile m x m: F(2x2, 3x3) or F(4x4, 3x3), (m + 2)^2 planes */
	int cin, cout, n, h, w, th, tw, tiles, tb;
	float beta;
	bool packed; /* U's layout (li_gemm_fast when it was made) */
	const li_act *act; /* applied as y is written, or NULL */
} wino_job;

/* The run of tiles from t that lies in one tile row and in [t, t1): image
 * img, tile row ty, first tile column tx0; returns its length. */
static inline int segment(const wino_job *j, int t, int t1, int *img, int *ty, int *tx0)
{
	int per = j->th * j->tw;
	*img = t / per;
	*ty = t % per / j->tw;
	*tx0 = t % j->tw;
	int len = j->tw - *tx0;
	return t + len > t1 ? t1 - t : len;
}

/* Eight tiles side by side, one per lane: GCC's vector extension, which
 * compiles to AVX with -march=native and to pairs of SSE ops without. */
typedef float v8 __attribute__((vector_size(32)));

/* Loads and stores through memcpy (unaligned, no aliasing questions); by
 * pointer, because passing AVX vectors by value warns (-Wpsabi) in builds
 * without -mavx. */
LI_INLINE void load8(v8 *v, const float *p) { memcpy(v, p, sizeof *v); }

LI_INLINE void store8(float *p, const v8 *v) { memcpy(p, v, sizeof *v); }

typedef int v8i __attribute__((vector_size(32)));
/* GCC's two-vector shuffle; clang (the fuzz build) spells it differently. */
#ifdef __clang__
#define SHUFFLE8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
	__builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
#define SHUFFLE8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
	__builtin_shuffle(a, b, (v8i){i0, i1, i2, i3, i4, i5, i6, i7})
#endif

/* Whether 8 lanes can be stored whole at column col of a row of ldv with
 * `left` tiles left in the run (see store16). */
LI_INLINE bool whole8(int col, int left, int ldv) { return left >= 8 || col + 8 <= ldv; }

/* Asks for the cache lines of floats [p, p + count) (a hint; no fault if
 * they are not mapped). The transforms read a channel's few rows of a block
 * (4 KB at layer1) and then jump a whole channel ahead (400 KB), a stream too
 * short for the hardware prefetcher: the loads of each new channel's rows
 * missed, and they took half the input transform's time (perf, AVX-512 CPU).
 * So each row's counterpart in the next channel is asked for while this one
 * is transformed. */
LI_INLINE void prefetch_floats(const float *p, int count, bool write)
{
	const char *b = (const char *)p, *e = (const char *)(p + count);
	for (b = (const char *)((uintptr_t)b & ~(uintptr_t)63); b < e; b += 64)
		if (write)
			__builtin_prefetch(b, 1, 3);
		else
			__builtin_prefetch(b, 0, 3);
}

/* The input transform's prefetch: the rows of the next channel that tile
 * row ty, tiles [tx0, tx0 + len), reads (rows m ty - 1 to m ty + m, columns
 * m tx0 - 1 to m (tx0 + len), clipped); src is this channel's image. */
LI_INLINE void prefetch_next_input(const wino_job *j, const float *src, int ty, int tx0, int len)
{
	int m = j->m, h = j->h, w = j->w;
	int r0 = m * ty - 1 > 0 ? m * ty - 1 : 0, r1 = m * ty + m + 1 < h ? m * ty + m + 1 : h;
	int c0 = m * tx0 - 1 > 0 ? m * tx0 - 1 : 0, c1 = m * (tx0 + len) + 1;
	size_t a = (size_t)r0 * w + c0, b = (size_t)(r1 - 1) * w + (c1 < w ? c1 : w);
	prefetch_floats(src + (size_t)j->n * h * w + a, (int)(b - a), false);
}

/* The output transform's (write) and dY transform's (read) prefetch: the
 * rows of the next channel of tile row ty, tiles [tx0, tx0 + len), of an
 * h x w map (rows m ty to m ty + m - 1, columns m tx0 to m (tx0 + len),
 * clipped); p is this channel's image. */
LI_INLINE void prefetch_next_rows(const wino_job *j, const float *p, int ty, int tx0, int len,
				  bool write)
{
	int m = j->m, h = j->h, w = j->w, oy = m * ty, rows = h - oy < m ? h - oy : m;
	int c0 = m * tx0, c1 = m * (tx0 + len) < w ? m * (tx0 + len) : w;
	size_t a = (size_t)oy * w + c0, b = (size_t)(oy + rows - 1) * w + c1;
	prefetch_floats(p + (size_t)j->n * h * w + a, (int)(b - a), write);
}

/* li_act on eight outputs: v + bias, then v > 0 ? v : 0 (NaN to 0, as
 * li_bias_act) by masking the bits. */
LI_INLINE void act8(v8 *v, float bias, bool relu)
{
	*v += bias;
	if (relu) {
		v8 zero = {0};
		v8i m = *v > zero, bits;
		memcpy(&bits, v, sizeof bits);
		bits &= m;
		memcpy(v, &bits, sizeof bits);
	}
}

/* One output row of `cols` values (at most 8 per vector of out, columns in
 * order) into yr: y = out + beta y, then the fused bias and ReLU; whole
 * vectors first, the rest column by column (the last tile of a row that is
 * cut, or lanes past the run's end). */
LI_INLINE void store_row(float *yr, v8 *out, int cols, float beta, const li_act *act, float bias,
			 bool relu)
{
	int nv = cols / 8;
#pragma GCC unroll 4
	for (int i = 0; i < nv; i++) {
		if (beta != 0.0f) {
			v8 y0;
			load8(&y0, yr + 8 * i);
			out[i] += beta * y0;
		}
		if (act)
			act8(&out[i], bias, relu);
		store8(yr + 8 * i, &out[i]);
	}
	if (nv * 8 == cols)
		return;
	float o[8];
	store8(o, &out[nv]);
	for (int c = nv * 8; c < cols; c++) {
		float val = o[c - nv * 8];
		if (beta != 0.0f)
			val += beta * yr[c];
		if (act) {
			val += bias;
			val = !relu || val > 0.0f ? val : 0.0f;
		}
		yr[c] = val;
	}
}

/* The output transform's walk, F(2x2)'s and F(4x4)'s (mt, the job's m, a
 * constant where it is inlined): for each output channel of [co0, co1) and
 * each run of tiles of the block [t0, t1) (M of the block: plane after
 * plane of cout x (t1 - t0)), eight tiles at a time, output row r of the
 * mt x mt tiles from rf (inlined): mt / 2 vectors holding the row's 8 mt
 * columns in order, stored by store_row. */
typedef void out_row_fn(const float *mq, size_t plane, int r, v8 *out);

LI_INLINE void output_walk(const wino_job *j, int t0, int t1, const float *m, int co0, int co1,
			   int mt, out_row_fn *rf)
{
	int w = j->w, h = j->h, tb = t1 - t0;
	size_t plane = plane_floats(j->cout, tb);
	float beta = j->beta;
	const li_act *act = j->act;
	bool relu = act && act->relu;
	for (int co = co0; co < co1; co++) {
		const float *mc = m + (size_t)co * tb;
		/* the sum li_bias_act adds, made the same way */
		float bias = act ? li_act_bias(act, co) : 0.0f;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			float *dst = j->y + ((size_t)co * j->n + img) * h * w;
			int oy = mt * ty, rows = h - oy < mt ? h - oy : mt;
			if (co + 1 < co1)
				prefetch_next_rows(j, dst, ty, tx0, len, true);
			for (int q = 0; q < len; q += 8) {
				int n8 = len - q < 8 ? len - q : 8;
				const float *mq = mc + loc + q; /* lanes past n8: read, ignored */
				/* unrolled: r a constant in rf (F(2x2)'s layer4 1.03x the time
				 * without) */
#pragma GCC unroll 4
				for (int r = 0; r < rows; r++) {
					v8 out[4];
					rf(mq, plane, r, out);
					float *yr = dst + (size_t)(oy + r) * w + mt * (tx0 + q);
					int cols = mt * n8, edge = w - mt * (tx0 + q);
					store_row(yr, out, cols < edge ? cols : edge, beta, act, bias, relu);
				}
			}
		}
	}
}

/* A weight gradient's job (li_wino_wgrad): one block of tiles [t0, t1). */
typedef struct wgrad_job {
	wino_job w;          /* x, cin, cout (the forward conv's), n, h, w, th, tw, tiles */
	const float *dy;     /* Cout x n x h x w */
	float *v, *yt, *m;   /* V and Yt of the block (row stride ldv), M ((m + 2)^2 x Cout x Cin) */
	float *dw;           /* Cout x Cin x 3 x 3, added into */
	int t0, t1, ldv;
} wgrad_job;

/* F(4x4, 3x3) (li_winograd4.c): its 36 planes in place of the 16. */
void li_wino4_weights_task(void *ctx, int begin, int end);
void li_wino4_input(const wino_job *j, int t0, int t1, float *v, int ci0, int ci1);
void li_wino4_output(const wino_job *j, int t0, int t1, const float *m, int co0, int co1);
/* The weight gradient's: Yt = A dY A^T of the block's tiles of output
 * channels [co0, co1), and dW += G^T M G for output channels [co0, co1). */
void li_wino4_dy(const wgrad_job *g, int co0, int co1);
void li_wino4_back(const wgrad_job *g, int co0, int co1);
#endif
