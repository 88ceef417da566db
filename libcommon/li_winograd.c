/* li_winograd.c: 3x3 stride-1 pad-1 convolution by Winograd F(2x2, 3x3).
 *
 * Each 2x2 output tile comes from a 4x4 input tile: y = A^T [(G g G^T) . (B^T d B)] A.
 * The elementwise product summed over input channels is, for each of the 16
 * positions xi of the 4x4 transformed tile, a GEMM
 *   M[xi] (Cout x tiles) = U[xi] (Cout x Cin) V[xi] (Cin x tiles),
 * 2.25x fewer multiplications than the direct (im2col) product. F(2x2, 3x3)
 * and not F(4x4, 3x3): its transforms have only 0, +-1 and +-1/2, so the
 * rounding error stays within a few ulps of the direct sum (the PyTorch parity
 * tests compare to 1e-4), where F(4x4) loses about two decimal digits.
 *
 * Tiles are cut into blocks; a thread takes a whole block at a time (input
 * transform, 16 GEMMs, output transform) in its own slice of the workspace,
 * so there is no barrier inside a convolution and the block's transformed
 * data stays in cache between the three steps. Activations are CNHW.
 *
 * The 16 GEMMs are our own (wino_gemm), not OpenBLAS: U is written by the
 * weight transform straight into the panel layout the kernel reads (rows in
 * groups of WINO_MR, k-major within a group), so there is no packing at each
 * call, and V is read in place. Single-threaded OpenBLAS 0.3.21 ran these
 * shapes (Cin, Cout 64-512, 16-256 tiles) at 10-25 GFLOP/s per core here, a
 * 6x16 FMA kernel at 30-37 (bench: 30 years of BLIS papers say the same). */
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "li_error.h"
#include "li_nn.h"

/* Rows of U per kernel panel (6 rows x 16 tiles: 12 accumulators). */
#define WINO_MR 6

static size_t pad_rows(int rows) { return ((size_t)rows + WINO_MR - 1) / WINO_MR * WINO_MR; }

/* Room for either direction: Cout panels of Cin (forward) or Cin panels of
 * Cout (backward data). */
size_t li_wino_u_floats(int cin, int cout) { return (size_t)16 * pad_rows(cin) * pad_rows(cout); }

/* WINO_SLACK floats after a block's GEMM output let the output transform
 * load 8 tiles at a time even at the end of a tile row (the lanes past it
 * are read and ignored): a partial load through a stack copy stalls on
 * store forwarding, and half the loads at batch 1 are partial. */
#define WINO_SLACK 16

/* Row stride of V for a block of `tiles` tiles: a multiple of 16 floats (a
 * cache line) that is an odd number of lines, so that the kernel's walk down
 * a 16-column strip (one line per row) spreads over every cache set; a
 * stride of 256 floats put all the rows in 4 of the L1's 64 sets. */
static int v_stride(int tiles)
{
	int s = (tiles + 15) & ~15;
	return s / 16 % 2 ? s : s + 16;
}

/* Symmetric in cin and cout (the backward-data conv swaps them): both parts
 * are counted at the padded stride, though only V uses it. */
size_t li_wino_block_floats(int cin, int cout, int tiles)
{
	return (size_t)16 * (size_t)(cin + cout) * (size_t)v_stride(tiles) + WINO_SLACK;
}

typedef struct wt_job {
	const float *w;
	float *u;
	int cin, cout;
	bool transpose;
} wt_job;

/* U[xi] for rows x cols: row r, column k at
 * (r / WINO_MR) * WINO_MR * cols + k * WINO_MR + r % WINO_MR. */
static size_t u_plane(int rows, int cols) { return pad_rows(rows) * (size_t)cols; }

/* One task per row of U (an output channel of the equivalent conv); the
 * rows that pad the last panel are zeros. */
static void weights_task(void *ctx, int begin, int end)
{
	const wt_job *j = ctx;
	int rows = j->transpose ? j->cin : j->cout, cols = j->transpose ? j->cout : j->cin;
	size_t plane = u_plane(rows, cols);
	for (int r = begin; r < end; r++) {
		float *u = j->u + (size_t)(r / WINO_MR) * WINO_MR * cols + r % WINO_MR;
		for (int k = 0; k < cols; k++, u += WINO_MR) {
			if (r >= rows) {
				for (int x = 0; x < 16; x++)
					u[x * plane] = 0.0f;
				continue;
			}
			/* transposed: the backward-data conv, w'[ci][co] = w[co][ci] rotated 180 degrees */
			const float *s = j->transpose ? j->w + ((size_t)k * j->cin + r) * 9
						      : j->w + ((size_t)r * j->cin + k) * 9;
			float g[9];
			for (int i = 0; i < 9; i++)
				g[i] = j->transpose ? s[8 - i] : s[i];
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
	}
}

void li_wino_weights(const float *w, int cin, int cout, bool transpose, float *u, li_pool *pool)
{
	wt_job j = {.w = w, .u = u, .cin = cin, .cout = cout, .transpose = transpose};
	li_pool_run(pool, (int)pad_rows(transpose ? cin : cout), weights_task, &j);
}

typedef struct wino_job {
	const float *u, *x;
	float *y, *ws;
	size_t slice;
	int cin, cout, n, h, w, th, tw, tiles, tb;
	float beta;
} wino_job;

/* The run of tiles from t that lies in one tile row and in [t, t1): image
 * img, tile row ty, first tile column tx0; returns its length. */
static int segment(const wino_job *j, int t, int t1, int *img, int *ty, int *tx0)
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
static inline void load8(v8 *v, const float *p) { memcpy(v, p, sizeof *v); }

static inline void store8(float *p, const v8 *v) { memcpy(p, v, sizeof *v); }

/* B^T d B of 8 tiles; d[k][l] is row k, column l of each tile. */
static inline void btdb(v8 d[4][4], v8 o[16])
{
	v8 t[4][4];
	for (int l = 0; l < 4; l++) {
		t[0][l] = d[0][l] - d[2][l];
		t[1][l] = d[1][l] + d[2][l];
		t[2][l] = d[2][l] - d[1][l];
		t[3][l] = d[1][l] - d[3][l];
	}
	for (int k = 0; k < 4; k++) {
		o[4 * k + 0] = t[k][0] - t[k][2];
		o[4 * k + 1] = t[k][1] + t[k][2];
		o[4 * k + 2] = t[k][2] - t[k][1];
		o[4 * k + 3] = t[k][1] - t[k][3];
	}
}

typedef int v8i __attribute__((vector_size(32)));

/* ev[i] and od[i], i < count: padded columns 2 (tx0 + i) and 2 (tx0 + i) + 1
 * of input row r (padded column c is input column c - 1, zero outside). */
static void deinterleave(const float *r, int w, int tx0, int count, float *ev, float *od)
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
	for (; i + 8 <= i1; i += 8, p += 16) {
		v8 a, b;
		load8(&a, p);
		load8(&b, p + 8);
		v8 e = __builtin_shuffle(a, b, (v8i){0, 2, 4, 6, 8, 10, 12, 14});
		v8 o = __builtin_shuffle(a, b, (v8i){1, 3, 5, 7, 9, 11, 13, 15});
		store8(ev + i, &e);
		store8(od + i, &o);
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

static void input_transform(const wino_job *j, int t0, int t1, float *v, int ci0, int ci1)
{
	int w = j->w, h = j->h, ldv = v_stride(t1 - t0);
	size_t plane = (size_t)j->cin * ldv;
	/* Even and odd columns of the four zero-padded input rows of a tile row
	 * (padded column c is input column c - 1): tile q then reads columns q
	 * and q + 1 of each, so eight neighbouring tiles are unit-stride loads. */
	int wide = j->tw + 9;
	float ev[4][wide], od[4][wide];
	for (int ci = ci0; ci < ci1; ci++) {
		float *vc = v + (size_t)ci * ldv;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			const float *src = j->x + ((size_t)ci * j->n + img) * h * w;
			for (int k = 0; k < 4; k++) {
				int ih = 2 * ty - 1 + k;
				if (ih < 0 || ih >= h) {
					memset(ev[k], 0, sizeof(float) * (size_t)(len + 1));
					memset(od[k], 0, sizeof(float) * (size_t)(len + 1));
					continue;
				}
				deinterleave(src + (size_t)ih * w, w, tx0, len + 1, ev[k], od[k]);
			}
			for (int q = 0; q < len; q += 8) {
				v8 d[4][4], o[16];
				for (int k = 0; k < 4; k++) {
					load8(&d[k][0], ev[k] + q);
					load8(&d[k][1], od[k] + q);
					load8(&d[k][2], ev[k] + q + 1);
					load8(&d[k][3], od[k] + q + 1);
				}
				btdb(d, o);
				float *dst = vc + loc + q;
				if (q + 8 <= len) {
					for (int x = 0; x < 16; x++)
						store8(dst + x * plane, &o[x]);
				} else { /* past len is the next channel's row, already written */
					for (int x = 0; x < 16; x++) {
						float tmp[8];
						store8(tmp, &o[x]);
						memcpy(dst + x * plane, tmp, sizeof(float) * (size_t)(len - q));
					}
				}
			}
		}
	}
}

static void output_transform(const wino_job *j, int t0, int t1, const float *m, int co0, int co1)
{
	int w = j->w, h = j->h, tb = t1 - t0;
	size_t plane = (size_t)j->cout * tb;
	float beta = j->beta;
	for (int co = co0; co < co1; co++) {
		const float *mc = m + (size_t)co * tb;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			float *dst = j->y + ((size_t)co * j->n + img) * h * w;
			int oy = 2 * ty, rows = oy + 1 < h ? 2 : 1;
			for (int q = 0; q < len; q += 8) {
				int n8 = len - q < 8 ? len - q : 8;
				v8 a[16];
				for (int x = 0; x < 16; x++)
					load8(&a[x], mc + loc + q + x * plane); /* past n8: ignored */
				for (int r = 0; r < rows; r++) {
					/* A^T m A: rows combine as m0 + m1 + m2 and m1 - m2 - m3 */
					v8 s[4];
					for (int l = 0; l < 4; l++)
						s[l] = r == 0 ? a[l] + a[4 + l] + a[8 + l]
							      : a[4 + l] - a[8 + l] - a[12 + l];
					v8 e = s[0] + s[1] + s[2], f = s[1] - s[2] - s[3];
					float *yr = dst + (size_t)(oy + r) * w + 2 * (tx0 + q);
					int cols = 2 * n8, edge = w - 2 * (tx0 + q);
					if (cols == 16 && edge >= 16) {
						/* columns e0 f0 e1 f1 ...: two interleaving shuffles */
						v8 lo = __builtin_shuffle(e, f, (v8i){0, 8, 1, 9, 2, 10, 3, 11});
						v8 hi = __builtin_shuffle(e, f, (v8i){4, 12, 5, 13, 6, 14, 7, 15});
						if (beta != 0.0f) {
							v8 y0, y1;
							load8(&y0, yr);
							load8(&y1, yr + 8);
							lo += beta * y0;
							hi += beta * y1;
						}
						store8(yr, &lo);
						store8(yr + 8, &hi);
						continue;
					}
					float o[2][8]; /* [column][tile] */
					store8(o[0], &e);
					store8(o[1], &f);
					if (cols > edge)
						cols = edge; /* odd width: the last tile has one column */
					if (beta == 0.0f)
						for (int c = 0; c < cols; c++)
							yr[c] = o[c & 1][c >> 1];
					else
						for (int c = 0; c < cols; c++)
							yr[c] = beta * yr[c] + o[c & 1][c >> 1];
				}
			}
		}
	}
}

/* c[r][0..nc) = sum_k up[k][r] v[k][0..nc), r < nr: one panel of WINO_MR
 * rows of U (k-major, up) times up to 16 columns of V (row stride ldv). */
#if defined(__AVX2__) && defined(__FMA__)
/* The twelve accumulators are named, not an array: GCC at -O2 does not
 * unroll the row loop and would keep an array in memory. */
#define ROW(i) \
	do { \
		__m256 a = _mm256_broadcast_ss(up + (i)); \
		c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0); \
		c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1); \
	} while (0)
#define ROWS() \
	do { \
		ROW(0); \
		ROW(1); \
		ROW(2); \
		ROW(3); \
		ROW(4); \
		ROW(5); \
	} while (0)

static void kernel(int K, const float *up, const float *v, int ldv, float *c, int ldc, int nr,
		   int nc)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	if (nc == 16) {
		for (int k = 0; k < K; k++, v += ldv, up += WINO_MR) {
			__m256 b0 = _mm256_loadu_ps(v), b1 = _mm256_loadu_ps(v + 8);
			ROWS();
		}
	} else {
		/* masked loads: the columns past nc may lie past the workspace */
		__m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
		__m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc), idx);
		__m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc - 8), idx);
		for (int k = 0; k < K; k++, v += ldv, up += WINO_MR) {
			__m256 b0 = _mm256_maskload_ps(v, m0), b1 = _mm256_maskload_ps(v + 8, m1);
			ROWS();
		}
	}
	if (nc == 16 && nr == WINO_MR) {
		_mm256_storeu_ps(c, c00);
		_mm256_storeu_ps(c + 8, c01);
		_mm256_storeu_ps(c + ldc, c10);
		_mm256_storeu_ps(c + ldc + 8, c11);
		_mm256_storeu_ps(c + 2 * ldc, c20);
		_mm256_storeu_ps(c + 2 * ldc + 8, c21);
		_mm256_storeu_ps(c + 3 * ldc, c30);
		_mm256_storeu_ps(c + 3 * ldc + 8, c31);
		_mm256_storeu_ps(c + 4 * ldc, c40);
		_mm256_storeu_ps(c + 4 * ldc + 8, c41);
		_mm256_storeu_ps(c + 5 * ldc, c50);
		_mm256_storeu_ps(c + 5 * ldc + 8, c51);
		return;
	}
	float t[WINO_MR][16];
	_mm256_storeu_ps(t[0], c00);
	_mm256_storeu_ps(t[0] + 8, c01);
	_mm256_storeu_ps(t[1], c10);
	_mm256_storeu_ps(t[1] + 8, c11);
	_mm256_storeu_ps(t[2], c20);
	_mm256_storeu_ps(t[2] + 8, c21);
	_mm256_storeu_ps(t[3], c30);
	_mm256_storeu_ps(t[3] + 8, c31);
	_mm256_storeu_ps(t[4], c40);
	_mm256_storeu_ps(t[4] + 8, c41);
	_mm256_storeu_ps(t[5], c50);
	_mm256_storeu_ps(t[5] + 8, c51);
	for (int i = 0; i < nr; i++, c += ldc)
		memcpy(c, t[i], sizeof(float) * (size_t)nc);
}

/* Up to 8 columns (the last strip when the tiles are not a multiple of 16,
 * e.g. 49 at 14x14): two panels of rows at once, twelve accumulators of one
 * vector each, so a strip of 1 column costs 8 and not 16. */
#define ROW8(i, p) \
	do { \
		__m256 a = _mm256_broadcast_ss(p + (i)); \
		c##i = _mm256_fmadd_ps(a, b, c##i); \
	} while (0)

static void kernel8(int K, const float *up, const float *up2, const float *v, int ldv, float *c,
		    int ldc, int nr, int nc)
{
	__m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
	__m256 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
	__m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	if (!up2)
		up2 = up; /* one panel left: the second set is computed and dropped */
	for (int k = 0; k < K; k++, v += ldv, up += WINO_MR, up2 += WINO_MR) {
		__m256 b = _mm256_maskload_ps(v, m);
		ROW8(0, up);
		ROW8(1, up);
		ROW8(2, up);
		ROW8(3, up);
		ROW8(4, up);
		ROW8(5, up);
		c6 = _mm256_fmadd_ps(_mm256_broadcast_ss(up2 + 0), b, c6);
		c7 = _mm256_fmadd_ps(_mm256_broadcast_ss(up2 + 1), b, c7);
		c8 = _mm256_fmadd_ps(_mm256_broadcast_ss(up2 + 2), b, c8);
		c9 = _mm256_fmadd_ps(_mm256_broadcast_ss(up2 + 3), b, c9);
		c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(up2 + 4), b, c10);
		c11 = _mm256_fmadd_ps(_mm256_broadcast_ss(up2 + 5), b, c11);
	}
	float t[2 * WINO_MR][8];
	_mm256_storeu_ps(t[0], c0);
	_mm256_storeu_ps(t[1], c1);
	_mm256_storeu_ps(t[2], c2);
	_mm256_storeu_ps(t[3], c3);
	_mm256_storeu_ps(t[4], c4);
	_mm256_storeu_ps(t[5], c5);
	_mm256_storeu_ps(t[6], c6);
	_mm256_storeu_ps(t[7], c7);
	_mm256_storeu_ps(t[8], c8);
	_mm256_storeu_ps(t[9], c9);
	_mm256_storeu_ps(t[10], c10);
	_mm256_storeu_ps(t[11], c11);
	for (int i = 0; i < nr; i++, c += ldc)
		memcpy(c, t[i], sizeof(float) * (size_t)nc);
}
#undef ROW8
#undef ROWS
#undef ROW
#else
/* Portable build (no AVX2/FMA at compile time): the same loops in plain C. */
static void kernel(int K, const float *up, const float *v, int ldv, float *c, int ldc, int nr,
		   int nc)
{
	float acc[WINO_MR][16] = {{0}};
	for (int k = 0; k < K; k++, v += ldv, up += WINO_MR)
		for (int i = 0; i < WINO_MR; i++)
			for (int q = 0; q < nc; q++)
				acc[i][q] += up[i] * v[q];
	for (int i = 0; i < nr; i++, c += ldc)
		memcpy(c, acc[i], sizeof(float) * (size_t)nc);
}

static void kernel8(int K, const float *up, const float *up2, const float *v, int ldv, float *c,
		    int ldc, int nr, int nc)
{
	kernel(K, up, v, ldv, c, ldc, nr < WINO_MR ? nr : WINO_MR, nc);
	if (up2 && nr > WINO_MR)
		kernel(K, up2, v, ldv, c + (size_t)WINO_MR * ldc, ldc, nr - WINO_MR, nc);
}
#endif

/* c (rows x n, row stride n) = U (rows x cols, panel layout) v (cols x n,
 * row stride ldv). Column strips outside, so a 16-column strip of v stays in
 * cache while every panel of U passes over it. */
static void wino_gemm(const float *u, int rows, int cols, const float *v, int ldv, int n, float *c)
{
	for (int q = 0; q < n; q += 16) {
		int nc = n - q < 16 ? n - q : 16;
		if (nc <= 8) {
			for (int r = 0; r < rows; r += 2 * WINO_MR) {
				int nr = rows - r < 2 * WINO_MR ? rows - r : 2 * WINO_MR;
				kernel8(cols, u + (size_t)r * cols,
					nr > WINO_MR ? u + (size_t)(r + WINO_MR) * cols : NULL, v + q, ldv,
					c + (size_t)r * n + q, n, nr, nc);
			}
			continue;
		}
		for (int r = 0; r < rows; r += WINO_MR)
			kernel(cols, u + (size_t)r * cols, v + q, ldv, c + (size_t)r * n + q, n,
			       rows - r < WINO_MR ? rows - r : WINO_MR, nc);
	}
}

static void block_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	float *v = j->ws + (size_t)li_pool_self() * j->slice;
	for (int b = begin; b < end; b++) {
		int t0 = b * j->tb, t1 = t0 + j->tb < j->tiles ? t0 + j->tb : j->tiles, tb = t1 - t0;
		int ldv = v_stride(tb);
		float *m = v + (size_t)16 * j->cin * ldv;
		input_transform(j, t0, t1, v, 0, j->cin);
		size_t plane = u_plane(j->cout, j->cin);
		for (int xi = 0; xi < 16; xi++)
			wino_gemm(j->u + xi * plane, j->cout, j->cin, v + (size_t)xi * j->cin * ldv,
				  ldv, tb, m + (size_t)xi * j->cout * tb);
		output_transform(j, t0, t1, m, 0, j->cout);
	}
}

/* One block of all tiles, each step split over the threads in turn (input
 * channels, then the 16 GEMMs, then output channels): for small batches,
 * whose few tiles make too few blocks to keep every thread busy. */
static void in_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	input_transform(j, 0, j->tiles, j->ws, begin, end);
}

static void gemm_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	int t = j->tiles, ldv = v_stride(t);
	const float *v = j->ws;
	float *m = j->ws + (size_t)16 * j->cin * ldv;
	size_t plane = u_plane(j->cout, j->cin);
	for (int xi = begin; xi < end; xi++)
		wino_gemm(j->u + xi * plane, j->cout, j->cin, v + (size_t)xi * j->cin * ldv, ldv, t,
			  m + (size_t)xi * j->cout * t);
}

static void out_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	output_transform(j, 0, j->tiles, j->ws + (size_t)16 * j->cin * v_stride(j->tiles), begin, end);
}

int li_wino_tiles(int n, int h, int w) { return n * ((h + 1) / 2) * ((w + 1) / 2); }

void li_wino_conv(const float *u, int cin, int cout, const float *x, int n, int h, int w, float *y,
		  float beta, float *ws, size_t ws_floats, int tb, li_pool *pool)
{
	int threads = li_pool_threads(pool);
	wino_job j = {.u = u, .x = x, .y = y, .ws = ws, .cin = cin, .cout = cout, .n = n, .h = h,
		      .w = w, .th = (h + 1) / 2, .tw = (w + 1) / 2, .tb = tb, .beta = beta};
	j.tiles = n * j.th * j.tw;
	j.slice = li_wino_block_floats(cin, cout, tb);
	LI_ASSERT(tb >= 1 && j.slice * (size_t)threads <= ws_floats);
	int blocks = (j.tiles + tb - 1) / tb;
	if (threads > 1 && blocks < 2 * threads &&
	    li_wino_block_floats(cin, cout, j.tiles) <= ws_floats) {
		li_pool_run(pool, cin, in_task, &j);
		li_pool_run_chunked(pool, 16, 1, gemm_task, &j);
		li_pool_run(pool, cout, out_task, &j);
		return;
	}
	li_pool_run_chunked(pool, blocks, 1, block_task, &j);
}
