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
 * data stays in cache between the three steps. Activations are CNHW. */
#include <cblas.h>
#include <string.h>

#include "li_error.h"
#include "li_nn.h"

size_t li_wino_u_floats(int cin, int cout) { return (size_t)16 * cin * cout; }

size_t li_wino_block_floats(int cin, int cout, int tiles)
{
	return (size_t)16 * (size_t)(cin + cout) * (size_t)tiles;
}

typedef struct wt_job {
	const float *w;
	float *u;
	int cin, cout;
	bool transpose;
} wt_job;

/* One task per output row of U (an output channel of the equivalent conv). */
static void weights_task(void *ctx, int begin, int end)
{
	const wt_job *j = ctx;
	int rows = j->transpose ? j->cin : j->cout, cols = j->transpose ? j->cout : j->cin;
	size_t plane = (size_t)rows * cols;
	for (int r = begin; r < end; r++)
		for (int k = 0; k < cols; k++) {
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
			float *u = j->u + (size_t)r * cols + k;
			for (int i = 0; i < 4; i++) {
				u[(4 * i + 0) * plane] = t[i][0];
				u[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
				u[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
				u[(4 * i + 3) * plane] = t[i][2];
			}
		}
}

void li_wino_weights(const float *w, int cin, int cout, bool transpose, float *u, li_pool *pool)
{
	wt_job j = {.w = w, .u = u, .cin = cin, .cout = cout, .transpose = transpose};
	li_pool_run(pool, transpose ? cin : cout, weights_task, &j);
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

static void input_transform(const wino_job *j, int t0, int t1, float *v)
{
	int w = j->w, h = j->h, tb = t1 - t0;
	size_t plane = (size_t)j->cin * tb;
	/* Four zero-padded input rows: column c of a row is input column c - 1. */
	float rows[4][2 * j->tw + 2];
	for (int ci = 0; ci < j->cin; ci++) {
		float *vc = v + (size_t)ci * tb;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			const float *src = j->x + ((size_t)ci * j->n + img) * h * w;
			int c0 = 2 * tx0, c1 = 2 * (tx0 + len) + 2; /* padded columns used */
			for (int k = 0; k < 4; k++) {
				int ih = 2 * ty - 1 + k;
				float *r = rows[k];
				if (ih < 0 || ih >= h) {
					memset(r + c0, 0, sizeof(float) * (size_t)(c1 - c0));
					continue;
				}
				int lo = c0 < 1 ? 1 : c0, hi = c1 < w + 1 ? c1 : w + 1;
				for (int c = c0; c < lo; c++)
					r[c] = 0.0f;
				memcpy(r + lo, src + (size_t)ih * w + lo - 1, sizeof(float) * (size_t)(hi - lo));
				for (int c = hi; c < c1; c++)
					r[c] = 0.0f;
			}
			for (int q = 0; q < len; q++) {
				int c = 2 * (tx0 + q);
				float d[4][4];
				for (int k = 0; k < 4; k++)
					for (int l = 0; l < 4; l++)
						d[k][l] = rows[k][c + l];
				float t[4][4];
				for (int l = 0; l < 4; l++) {
					t[0][l] = d[0][l] - d[2][l];
					t[1][l] = d[1][l] + d[2][l];
					t[2][l] = d[2][l] - d[1][l];
					t[3][l] = d[1][l] - d[3][l];
				}
				float *o = vc + loc + q;
				for (int k = 0; k < 4; k++) {
					o[(4 * k + 0) * plane] = t[k][0] - t[k][2];
					o[(4 * k + 1) * plane] = t[k][1] + t[k][2];
					o[(4 * k + 2) * plane] = t[k][2] - t[k][1];
					o[(4 * k + 3) * plane] = t[k][1] - t[k][3];
				}
			}
		}
	}
}

static void output_transform(const wino_job *j, int t0, int t1, const float *m)
{
	int w = j->w, h = j->h, tb = t1 - t0;
	size_t plane = (size_t)j->cout * tb;
	for (int co = 0; co < j->cout; co++) {
		const float *mc = m + (size_t)co * tb;
		for (int t = t0, img, ty, tx0, len; t < t1; t += len) {
			len = segment(j, t, t1, &img, &ty, &tx0);
			int loc = t - t0;
			float *dst = j->y + ((size_t)co * j->n + img) * h * w;
			int oy = 2 * ty;
			bool two_rows = oy + 1 < h;
			for (int q = 0; q < len; q++) {
				const float *a = mc + loc + q;
				float s[2][4];
				for (int l = 0; l < 4; l++) {
					float m0 = a[l * plane], m1 = a[(4 + l) * plane];
					float m2 = a[(8 + l) * plane], m3 = a[(12 + l) * plane];
					s[0][l] = m0 + m1 + m2;
					s[1][l] = m1 - m2 - m3;
				}
				int ox = 2 * (tx0 + q);
				int cols = ox + 1 < w ? 2 : 1;
				for (int r = 0; r < (two_rows ? 2 : 1); r++) {
					float o[2] = {s[r][0] + s[r][1] + s[r][2], s[r][1] - s[r][2] - s[r][3]};
					float *yr = dst + (size_t)(oy + r) * w + ox;
					for (int c = 0; c < cols; c++)
						yr[c] = j->beta == 0.0f ? o[c] : j->beta * yr[c] + o[c];
				}
			}
		}
	}
}

static void block_task(void *ctx, int begin, int end)
{
	const wino_job *j = ctx;
	float *v = j->ws + (size_t)li_pool_self() * j->slice;
	for (int b = begin; b < end; b++) {
		int t0 = b * j->tb, t1 = t0 + j->tb < j->tiles ? t0 + j->tb : j->tiles, tb = t1 - t0;
		float *m = v + (size_t)16 * j->cin * tb;
		input_transform(j, t0, t1, v);
		for (int xi = 0; xi < 16; xi++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->cout, tb, j->cin, 1.0f,
				    j->u + (size_t)xi * j->cout * j->cin, j->cin,
				    v + (size_t)xi * j->cin * tb, tb, 0.0f, m + (size_t)xi * j->cout * tb,
				    tb);
		output_transform(j, t0, t1, m);
	}
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
	li_pool_run_chunked(pool, (j.tiles + tb - 1) / tb, 1, block_task, &j);
}
