/* li_winograd.c: 3x3 stride-1 pad-1 convolution by Winograd F(2x2, 3x3).
 *
 * Each 2x2 output tile comes from a 4x4 input tile: y = A^T [(G g G^T) . (B^T d B)] A.
 * The elementwise product summed over input channels is, for each of the 16
 * positions xi of the 4x4 transformed tile, a GEMM
 *   M[xi] (Cout x tiles) = U[xi] (Cout x Cin) V[xi] (Cin x tiles),
 * 2.25x fewer multiplications than the direct (im2col) product. Its
 * transforms have only 0, +-1 and +-1/2, so the rounding error stays within a
 * few ulps of the direct sum. F(4x4, 3x3) (li_winograd4.c: 4x fewer, about
 * ten times the rounding, still well inside the PyTorch parity tests' 1e-4)
 * runs through the same blocks, GEMMs and workspace with its own transforms
 * and 36 planes for 16 when asked for m = 4 (li_conv_wino_m: convs of up to
 * 128 channels); the comments below count F(2x2)'s 16.
 *
 * Tiles are cut into blocks; a thread takes a whole block at a time (input
 * transform, 16 GEMMs, output transform) in its own slice of the workspace,
 * so there is no barrier inside a convolution and the block's transformed
 * data stays in cache between the three steps. Activations are CNHW.
 *
 * The 16 GEMMs are our own (li_gemm_packed, li_sgemm.c) where the CPU has
 * AVX2 and FMA (an AVX-512 kernel where it has that): U is written by the
 * weight transform straight into the panel layout the kernel reads, so there
 * is no packing at each call, and V is read in place. Elsewhere U is
 * row-major and the GEMMs are oneDNN's (li_sgemm1), which beats the portable
 * C kernel 2 to 1. The weight gradient (li_wino_wgrad, at the end) uses the
 * same transforms of the input. */
#include <stdint.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_nn.h"
#include "li_wino_impl.h"

/* Room for either direction: Cout panels of Cin (forward) or Cin panels of
 * Cout (backward data). */
size_t li_wino_u_floats(int m, int cin, int cout)
{
	return (size_t)(m + 2) * (m + 2) * plane_floats((int)pad_rows(cin), (int)pad_rows(cout)); /* >= u_plane either way */
}

/* Symmetric in cin and cout (the backward-data conv swaps them): both parts
 * are counted at the padded stride, though only V uses it. */
size_t li_wino_block_floats(int m, int cin, int cout, int tiles)
{
	int ldv = v_stride(tiles);
	return (size_t)(m + 2) * (m + 2) * (plane_floats(cin, ldv) + plane_floats(cout, ldv)) + WINO_SLACK;
}



/* g = the 3x3 kernel at s, rotated 180 degrees if rot. */
LI_INLINE void wt_load(const float *s, float g[9], bool rot)
{
	float a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4], a5 = s[5], a6 = s[6],
	      a7 = s[7], a8 = s[8];
	if (rot) {
		g[0] = a8, g[1] = a7, g[2] = a6, g[3] = a5, g[4] = a4, g[5] = a3, g[6] = a2,
		g[7] = a1, g[8] = a0;
	} else {
		g[0] = a0, g[1] = a1, g[2] = a2, g[3] = a3, g[4] = a4, g[5] = a5, g[6] = a6,
		g[7] = a7, g[8] = a8;
	}
}

/* F(2x2)'s G g G^T of one kernel s into u, u + plane, ... (16 planes). */
LI_INLINE void wt2(const float *s, bool rot, float *u, size_t plane)
{
	/* read straight from w: copied into an array first, GCC read the copy
	 * back in pairs before the scalar stores had landed (a store-forwarding
	 * stall on every kernel, half this loop's time) */
	float g[9];
	if (rot)
		wt_load(s, g, true);
	else
		wt_load(s, g, false);
	float t[4][3];
	for (int c = 0; c < 3; c++) {
		t[0][c] = g[c];
		t[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
		t[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
		t[3][c] = g[6 + c];
	}
	for (int i = 0; i < 4; i++) {
		u[(4 * i + 0) * plane] = t[i][0];
		u[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
		u[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
		u[(4 * i + 3) * plane] = t[i][2];
	}
}

LI_INLINE void weights_task_body(void *ctx, int begin, int end)
{
	wt_walk(ctx, begin, end, 16, wt2);
}

LI_ISA_DISPATCH(weights_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_wino_weights(int m, const float *w, int cin, int cout, bool transpose, float *u,
		     li_pool *pool)
{
	wt_job j = {.w = w, .u = u, .cin = cin, .cout = cout, .transpose = transpose,
		    .packed = li_gemm_fast()};
	int rows = transpose ? cin : cout;
	li_pool_run(pool, j.packed ? (int)pad_rows(rows) / WINO_MR : rows,
		    m == 4 ? li_wino4_weights_task : weights_task, &j);
}

/* B^T d B of 8 tiles, row k of the 4x4 result (o[4 k + l]) at a time: rows
 * first, t_k = d_a -+ d_b (t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1,
 * t3 = d1 - d3), then the same on t_k's columns. d[k][l], row k and column l
 * of each tile, is (ev or od)[k] + q (+ 1): tile q's padded columns are
 * ev[q], od[q], ev[q + 1], od[q + 1]. One row of the result at a time keeps
 * about eight vectors live (all sixteen of d and o at once spilled to the
 * stack and were copied out in halves). */
LI_INLINE void load_row(const float *ev, const float *od, int q, v8 d[4])
{
	load8(&d[0], ev + q);
	load8(&d[1], od + q);
	load8(&d[2], ev + q + 1);
	load8(&d[3], od + q + 1);
}

LI_INLINE void btdb_row(const float *ev[4], const float *od[4], int q, int k, v8 o[4])
{
	static const signed char rows[4][3] = {{0, 2, -1}, {1, 2, 1}, {2, 1, -1}, {1, 3, -1}};
	v8 a[4], b[4], t[4];
	load_row(ev[rows[k][0]], od[rows[k][0]], q, a);
	load_row(ev[rows[k][1]], od[rows[k][1]], q, b);
#pragma GCC unroll 4
	for (int l = 0; l < 4; l++)
		t[l] = rows[k][2] > 0 ? a[l] + b[l] : a[l] - b[l];
	o[0] = t[0] - t[2];
	o[1] = t[1] + t[2];
	o[2] = t[2] - t[1];
	o[3] = t[1] - t[3];
}

/* ev[i] and od[i], i < count: padded columns 2 (tx0 + i) and 2 (tx0 + i) + 1
 * of input row r (padded column c is input column c - 1, zero outside).
 * Floats up to limit (the end of the tensor) may be read: eight at a time
 * also past the row's end (into the next row; those lanes are then set
 * right), so that rows of 14 or 7 (layer3, layer4) are not copied a float
 * at a time, which took a third of the input transform there. ev and od
 * have room for 8 floats past count. */
LI_INLINE void deinterleave(const float *r, int w, int tx0, int count, float *ev, float *od,
			    const float *limit)
{
	/* inside: input columns 2 (tx0 + i) - 1 >= 0 and 2 (tx0 + i) < w */
	int i0 = tx0 == 0 ? 1 : 0, i1 = (w + 1) / 2 - tx0;
	if (i1 > count)
		i1 = count;
	if (i1 < i0)
		i1 = i0;
	if (i0 == 1) {
		ev[0] = 0.0f;
		od[0] = r[0];
	}
	const float *p = r + 2 * (tx0 + i0) - 1;
	int i = i0;
	for (; i < i1 && (i + 8 <= i1 || limit - p >= 16); i += 8, p += 16) {
		v8 a, b;
		load8(&a, p);
		load8(&b, p + 8);
		v8 e = SHUFFLE8(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
		v8 o = SHUFFLE8(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
		store8(ev + i, &e);
		store8(od + i, &o);
	}
	if (i > i1) { /* lanes past the row: set below */
		p -= 2 * (i - i1);
		i = i1;
	}
	for (; i < i1; i++, p += 2) {
		ev[i] = p[0];
		od[i] = p[1];
	}
	for (; i < count; i++) {
		int c = 2 * (tx0 + i) - 1;
		ev[i] = c >= 0 && c < w ? r[c] : 0.0f;
		od[i] = 0.0f;
	}
}

/* The 16 transformed values of `left` tiles (8 kept at most) at column col
 * of a channel's row (row stride ldv; position x at row + x * plane).
 * Whole vectors also past the run when they stay in the row: the lanes past
 * it land on later runs of the row (written after this one) or on its
 * padding; only at the row's end, where the next channel's row follows, is
 * the copy cut (a variable-length copy costs a library call). */

LI_INLINE void store16(float *row, size_t plane, int ldv, int col, int left, const v8 o[16])
{
	float *dst = row + col;
	if (whole8(col, left, ldv)) {
		for (int x = 0; x < 16; x++)
			store8(dst + x * plane, &o[x]);
		return;
	}
	for (int x = 0; x < 16; x++) {
		float tmp[8];
		store8(tmp, &o[x]);
		memcpy(dst + x * plane, tmp, sizeof(float) * (size_t)left);
	}
}

LI_INLINE void input_transform_body(const wino_job *j, int t0, int t1, float *v, int ci0, int ci1)
{
	int w = j->w, h = j->h, ldv = v_stride(t1 - t0);
	size_t plane = plane_floats(j->cin, ldv);
	/* Even and odd columns of the four zero-padded input rows of a tile row
	 * (padded column c is input column c - 1): tile q then reads columns q
	 * and q + 1 of each, so eight neighbouring tiles are unit-stride loads. */
	int wide = j->tw + 9;
	float ev[4][wide], od[4][wide];
	const float *x_end = j->x + (size_t)j->cin * j->n * h * w;
	for (int ci = ci0; ci < ci1; ci++) {
		float *vc = v + (size_t)ci * ldv;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			const float *src = j->x + ((size_t)ci * j->n + img) * h * w;
			if (ci + 1 < ci1)
				prefetch_next_input(j, src, ty, tx0, len);
			for (int k = 0; k < 4; k++) {
				int ih = 2 * ty - 1 + k;
				if (ih < 0 || ih >= h) {
					memset(ev[k], 0, sizeof(float) * (size_t)(len + 1));
					memset(od[k], 0, sizeof(float) * (size_t)(len + 1));
					continue;
				}
				deinterleave(src + (size_t)ih * w, w, tx0, len + 1, ev[k], od[k], x_end);
			}
			const float *evk[4] = {ev[0], ev[1], ev[2], ev[3]};
			const float *odk[4] = {od[0], od[1], od[2], od[3]};
			for (int q = 0; q < len; q += 8) {
				float *dst = vc + loc + q;
				if (whole8(loc + q, len - q, ldv)) {
#pragma GCC unroll 4
					for (int k = 0; k < 4; k++) {
						v8 o[4];
						btdb_row(evk, odk, q, k, o);
#pragma GCC unroll 4
						for (int l = 0; l < 4; l++)
							store8(dst + (4 * k + l) * plane, &o[l]);
					}
					continue;
				}
				v8 o[16];
				for (int k = 0; k < 4; k++)
					btdb_row(evk, odk, q, k, o + 4 * k);
				store16(vc, plane, ldv, loc + q, len - q, o);
			}
		}
	}
}

LI_ISA_DISPATCH(input_transform, (const wino_job *j, int t0, int t1, float *v, int ci0, int ci1),
		(j, t0, t1, v, ci0, ci1))

/* Output row r of eight 2x2 tiles: A^T m A, whose rows combine as
 * m0 + m1 + m2 and m1 - m2 - m3; loaded for each row of y (from L1), not all
 * sixteen kept, which spilled to the stack. Columns e0 f0 e1 f1 ... by two
 * interleaving shuffles. */
LI_INLINE void at_row2(const float *mq, size_t plane, int r, v8 *out)
{
	v8 s[4];
#pragma GCC unroll 4
	for (int l = 0; l < 4; l++) {
		v8 a0, a1, a2;
		load8(&a0, mq + (4 * r + l) * plane);
		load8(&a1, mq + (4 * r + 4 + l) * plane);
		load8(&a2, mq + (4 * r + 8 + l) * plane);
		s[l] = r == 0 ? a0 + a1 + a2 : a0 - a1 - a2;
	}
	v8 e = s[0] + s[1] + s[2], f = s[1] - s[2] - s[3];
	out[0] = SHUFFLE8(e, f, 0, 8, 1, 9, 2, 10, 3, 11);
	out[1] = SHUFFLE8(e, f, 4, 12, 5, 13, 6, 14, 7, 15);
}

LI_INLINE void output_transform_body(const wino_job *j, int t0, int t1, const float *m, int co0, int co1)
{
	output_walk(j, t0, t1, m, co0, co1, 2, at_row2);
}

LI_ISA_DISPATCH(output_transform, (const wino_job *j, int t0, int t1, const float *m, int co0, int co1),
		(j, t0, t1, m, co0, co1))

/* The transforms of the job's tile size. */
static void wino_input(const wino_job *j, int t0, int t1, float *v, int ci0, int ci1)
{
	if (j->m == 4)
		li_wino4_input(j, t0, t1, v, ci0, ci1);
	else
		input_transform(j, t0, t1, v, ci0, ci1);
}

static void wino_output(const wino_job *j, int t0, int t1, const float *m, int co0, int co1)
{
	if (j->m == 4)
		li_wino4_output(j, t0, t1, m, co0, co1);
	else
		output_transform(j, t0, t1, m, co0, co1);
}

/* m[xi] (cout x n, row stride n) = U[xi] v[xi] (cin x n, row stride ldv). */
static void gemm_planes(const wino_job *j, int xi0, int xi1, const float *v, int ldv, int n, float *m)
{
	size_t plane = u_plane(j->cout, j->cin, j->packed);
	for (int xi = xi0; xi < xi1; xi++) {
		const float *u = j->u + xi * plane, *vx = v + xi * plane_floats(j->cin, ldv);
		float *mx = m + xi * plane_floats(j->cout, n);
		if (j->packed)
			li_gemm_packed(u, j->cout, j->cin, vx, ldv, n, mx, n, false);
		else
			li_sgemm1(false, false, j->cout, n, j->cin, 1.0f, u, j->cin, vx, ldv, 0.0f, mx,
				  n);
	}
}

static void block_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	float *v = j->ws + (size_t)li_pool_self() * j->slice;
	for (int b = begin; b < end; b++) {
		int t0 = b * j->tb, t1 = t0 + j->tb < j->tiles ? t0 + j->tb : j->tiles, tb = t1 - t0;
		int ldv = v_stride(tb);
		float *m = v + j->planes * plane_floats(j->cin, ldv);
		wino_input(j, t0, t1, v, 0, j->cin);
		gemm_planes(j, 0, j->planes, v, ldv, tb, m);
		wino_output(j, t0, t1, m, 0, j->cout);
	}
}

/* One block of all tiles, each step split over the threads in turn (input
 * channels, then the 16 GEMMs, then output channels): for small batches,
 * whose few tiles make too few blocks to keep every thread busy. */
static void in_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	wino_input(j, 0, j->tiles, j->ws, begin, end);
}

static void gemm_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	int t = j->tiles, ldv = v_stride(t);
	const float *v = j->ws;
	gemm_planes(j, begin, end, v, ldv, t, j->ws + j->planes * plane_floats(j->cin, ldv));
}

static void out_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	wino_output(j, 0, j->tiles, j->ws + j->planes * plane_floats(j->cin, v_stride(j->tiles)),
		    begin, end);
}

int li_wino_tiles(int m, int n, int h, int w) { return n * ((h + m - 1) / m) * ((w + m - 1) / m); }

void li_wino_conv(int m, const float *u, int cin, int cout, const float *x, int n, int h, int w,
		  float *y, float beta, const li_act *act, float *ws, size_t ws_floats, int tb,
		  li_pool *pool)
{
	LI_ASSERT(m == 2 || m == 4);
	int threads = li_pool_threads(pool);
	wino_job j = {.u = u, .x = x, .y = y, .ws = ws, .m = m, .planes = (m + 2) * (m + 2),
		      .cin = cin, .cout = cout, .n = n, .h = h, .w = w, .th = (h + m - 1) / m,
		      .tw = (w + m - 1) / m, .tb = tb, .beta = beta, .packed = li_gemm_fast(),
		      .act = act};
	j.tiles = n * j.th * j.tw;
	j.slice = li_wino_block_floats(m, cin, cout, tb);
	LI_ASSERT(tb >= 1 && j.slice * (size_t)threads <= ws_floats);
	int blocks = (j.tiles + tb - 1) / tb;
	if (threads > 1 && blocks < 2 * threads &&
	    li_wino_block_floats(m, cin, cout, j.tiles) <= ws_floats) {
		li_pool_run(pool, cin, in_task, &j);
		li_pool_run_chunked(pool, j.planes, 1, gemm_task, &j);
		li_pool_run(pool, cout, out_task, &j);
		return;
	}
	li_pool_run_chunked(pool, blocks, 1, block_task, &j);
}

/* ---- weight gradient: dW += G^T [sum over tiles of (A dY A^T) . (B^T d B)] G ----
 *
 * With y = A^T [U . V] A and U = G g G^T, the gradient of a tile's 4x4 U is
 * (A dY A^T) . V, summed over the tiles of the batch: for each of the 16
 * positions xi a GEMM M[xi] (Cout x Cin) += Yt[xi] (Cout x tiles) V[xi]^T,
 * 2.25x fewer multiplications than im2col's dW. Blocks of tiles run one
 * after the other (transforms split over channels, the 16 GEMMs over xi), so
 * every M[xi] is summed in the same order whatever the threads: the result
 * depends on neither the thread count nor the scheduling. */

static void wg_in_task(void *ctx, int begin, int end)
{
	const wgrad_job *g = ctx;
	wino_input(&g->w, g->t0, g->t1, g->v, begin, end);
}

/* Yt = A dY A^T of each 2x2 tile of dy (rows and columns past h, w are 0):
 * rows s0 = d0, s1 = d0 + d1, s2 = d0 - d1, s3 = -d1, and the same on columns. */
LI_INLINE void dy_transform_body(const wgrad_job *g, int co0, int co1)
{
	const wino_job *j = &g->w;
	int h = j->h, w = j->w, ldv = g->ldv;
	size_t plane = plane_floats(j->cout, ldv);
	/* Even and odd columns of the tile row's two dy rows, eight tiles side
	 * by side: deinterleave() gives, for padded column 2 (tx0 + i), input
	 * column 2 (tx0 + i) - 1 in ev[i] and 2 (tx0 + i) in od[i], so tile q's
	 * columns are od[q] and ev[q + 1] (zero past w). */
	int wide = j->tw + 10;
	float ev[2][wide], od[2][wide];
	const float *dy_end = g->dy + (size_t)j->cout * j->n * h * w;
	for (int co = co0; co < co1; co++) {
		float *dst = g->yt + (size_t)co * ldv;
		for (int t = g->t0, img, ty, tx0, len; t < g->t1; t += len) {
			len = segment(j, t, g->t1, &img, &ty, &tx0);
			const float *src = g->dy + ((size_t)co * j->n + img) * h * w;
			if (co + 1 < co1) { /* this segment's rows in the next channel */
				int r1 = 2 * ty + 2 < h ? 2 * ty + 2 : h;
				int c0 = 2 * tx0 - 1 > 0 ? 2 * tx0 - 1 : 0, c1 = 2 * (tx0 + len) + 1;
				size_t a = (size_t)(2 * ty) * w + c0, b = (size_t)(r1 - 1) * w + (c1 < w ? c1 : w);
				prefetch_floats(src + (size_t)j->n * h * w + a, (int)(b - a), false);
			}
			for (int r = 0; r < 2; r++) {
				int oy = 2 * ty + r;
				if (oy >= h) {
					memset(ev[r], 0, sizeof(float) * (size_t)(len + 2));
					memset(od[r], 0, sizeof(float) * (size_t)(len + 2));
					continue;
				}
				deinterleave(src + (size_t)oy * w, w, tx0, len + 1, ev[r], od[r], dy_end);
			}
			for (int q = 0; q < len; q += 8) {
				v8 d[2][2], s[4][2], o[16];
				for (int r = 0; r < 2; r++) {
					load8(&d[r][0], od[r] + q);
					load8(&d[r][1], ev[r] + q + 1);
				}
				for (int c = 0; c < 2; c++) {
					s[0][c] = d[0][c];
					s[1][c] = d[0][c] + d[1][c];
					s[2][c] = d[0][c] - d[1][c];
					s[3][c] = -d[1][c];
				}
				int col = (t - g->t0) + q;
				bool whole = whole8(col, len - q, ldv);
#pragma GCC unroll 4
				for (int k = 0; k < 4; k++) {
					o[4 * k + 0] = s[k][0];
					o[4 * k + 1] = s[k][0] + s[k][1];
					o[4 * k + 2] = s[k][0] - s[k][1];
					o[4 * k + 3] = -s[k][1];
					if (whole)
#pragma GCC unroll 4
						for (int l = 0; l < 4; l++)
							store8(dst + col + (4 * k + l) * plane, &o[4 * k + l]);
				}
				if (!whole)
					store16(dst, plane, ldv, col, len - q, o);
			}
		}
	}
}

LI_ISA_DISPATCH(dy_transform, (const wgrad_job *g, int co0, int co1), (g, co0, co1))

static void wg_dy_task(void *ctx, int begin, int end)
{
	const wgrad_job *g = ctx;
	if (g->w.m == 4)
		li_wino4_dy(g, begin, end);
	else
		dy_transform(g, begin, end);
}

static void wg_gemm_task(void *ctx, int begin, int end)
{
	const wgrad_job *g = ctx;
	int cin = g->w.cin, cout = g->w.cout, tb = g->t1 - g->t0;
	for (int xi = begin; xi < end; xi++)
		li_sgemm1(false, true, cout, cin, tb, 1.0f, g->yt + xi * plane_floats(cout, g->ldv),
			  g->ldv, g->v + xi * plane_floats(cin, g->ldv), g->ldv, 1.0f,
			  g->m + xi * plane_floats(cout, cin), cin);
}

/* dW[co][ci] += G^T M G: rows r0 = m0 + (m1 + m2) / 2, r1 = (m1 - m2) / 2,
 * r2 = (m1 + m2) / 2 + m3, then the same on columns. */
static void wg_back_task(void *ctx, int begin, int end)
{
	const wgrad_job *g = ctx;
	if (g->w.m == 4) {
		li_wino4_back(g, begin, end);
		return;
	}
	int cin = g->w.cin, cout = g->w.cout;
	size_t plane = plane_floats(cout, cin);
	for (int co = begin; co < end; co++)
		for (int ci = 0; ci < cin; ci++) {
			const float *m = g->m + (size_t)co * cin + ci;
			float t[3][4];
			for (int l = 0; l < 4; l++) {
				float m0 = m[l * plane], m1 = m[(4 + l) * plane], m2 = m[(8 + l) * plane],
				      m3 = m[(12 + l) * plane];
				t[0][l] = m0 + 0.5f * (m1 + m2);
				t[1][l] = 0.5f * (m1 - m2);
				t[2][l] = 0.5f * (m1 + m2) + m3;
			}
			float *d = g->dw + ((size_t)co * cin + ci) * 9;
			for (int i = 0; i < 3; i++) {
				d[3 * i + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
				d[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
				d[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
			}
		}
}

/* M ((m + 2)^2 planes of cout x cin), then V and Yt of a block of tb tiles. */
size_t li_wino_wgrad_floats(int m, int cin, int cout, int tb)
{
	int ldv = v_stride(tb);
	return (size_t)(m + 2) * (m + 2) * (plane_floats(cout, cin) + plane_floats(cin, ldv) + plane_floats(cout, ldv));
}

int li_wino_wgrad_block(int m, int cin, int cout, int n, int h, int w, size_t ws_floats)
{
	int cap = m == 4 ? LI_WINO4_WGRAD_TB : LI_WINO_WGRAD_TB;
	int tiles = li_wino_tiles(m, n, h, w), tb = tiles < cap ? tiles : cap;
	while (tb > 0 && li_wino_wgrad_floats(m, cin, cout, tb) > ws_floats)
		tb = tb > 16 ? (tb - 1) & ~15 : tb - 1; /* whole strips of 16 down to 16 */
	return tb;
}

void li_wino_wgrad(int m, const float *x, const float *dy, int cin, int cout, int n, int h, int w,
		   float *dw, float *ws, size_t ws_floats, int tb, li_pool *pool)
{
	LI_ASSERT(m == 2 || m == 4);
	wgrad_job g = {.w = {.x = x, .m = m, .planes = (m + 2) * (m + 2), .cin = cin, .cout = cout,
			     .n = n, .h = h, .w = w, .th = (h + m - 1) / m, .tw = (w + m - 1) / m},
		       .dy = dy, .dw = dw};
	g.w.tiles = n * g.w.th * g.w.tw;
	int planes = g.w.planes;
	size_t msize = planes * plane_floats(cout, cin);
	LI_ASSERT(tb >= 1 && li_wino_wgrad_floats(m, cin, cout, tb) <= ws_floats);
	g.m = ws;
	memset(g.m, 0, sizeof(float) * msize);
	for (int t0 = 0; t0 < g.w.tiles; t0 += tb) {
		g.t0 = t0;
		g.t1 = t0 + tb < g.w.tiles ? t0 + tb : g.w.tiles;
		g.ldv = v_stride(g.t1 - g.t0);
		g.v = ws + msize;
		g.yt = g.v + planes * plane_floats(cin, g.ldv);
		li_pool_run(pool, cin, wg_in_task, &g);
		li_pool_run(pool, cout, wg_dy_task, &g);
		li_pool_run_chunked(pool, planes, 1, wg_gemm_task, &g);
	}
	li_pool_run(pool, cout, wg_back_task, &g);
}
