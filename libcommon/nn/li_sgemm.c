/* li_sgemm.c: C = A B with A packed once (weights), B read in place.
 *
 * For GEMMs whose left operand is a weight matrix that stays the same over
 * many calls, as the 16 GEMMs of a Winograd convolution (li_winograd.c writes
 * its transformed weights straight into this layout): A in panels of
 * LI_GEMM_MR rows, k-major within a panel; an AVX2/FMA kernel computes 6 rows
 * x 16 columns at a time with twelve accumulators, reading B (the
 * activations) in place. OpenBLAS packs both operands at every call, and
 * single-threaded OpenBLAS 0.3.21 ran some of these shapes at 10 GFLOP/s on
 * this machine (any with 256 rows and depth 256, for one), where this kernel
 * runs at 30-37 on one core. For im2col convolutions it gained nothing over
 * OpenBLAS, which is kept there.
 *
 * On x86-64 the AVX2/FMA kernels are always compiled (target attribute) and
 * chosen at run time when the CPU has both, so a build without -march=native
 * (a distribution's generic flags) is as fast; other CPUs get C loops of
 * fixed width that the compiler vectorizes. */
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#define LI_HAVE_AVX2_KERNEL 1
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#include <immintrin.h>
#endif

#include "li_nn.h"

static size_t pad_rows(int rows) { return ((size_t)rows + LI_GEMM_MR - 1) / LI_GEMM_MR * LI_GEMM_MR; }

size_t li_gemm_packed_floats(int rows, int cols) { return pad_rows(rows) * (size_t)cols; }

/* An odd number of cache lines: a walk down a 16-column strip (one line per
 * row) then spreads over every cache set; a stride of 256 floats put all the
 * rows in 4 of the L1's 64 sets. */
int li_gemm_stride(int n)
{
	int s = (n + 15) & ~15;
	return s / 16 % 2 ? s : s + 16;
}

void li_gemm_pack(const float *a, int rows, int cols, float *ap)
{
	size_t pr = pad_rows(rows);
	for (size_t r = 0; r < pr; r++) {
		float *d = ap + r / LI_GEMM_MR * LI_GEMM_MR * (size_t)cols + r % LI_GEMM_MR;
		const float *s = a + r * (size_t)cols;
		for (int k = 0; k < cols; k++)
			d[(size_t)k * LI_GEMM_MR] = r < (size_t)rows ? s[k] : 0.0f;
	}
}

/* Rows of a kernel's result t (row stride ts) into c, or added to it. */
static void store_rows(const float *t, int ts, float *c, int ldc, int nr, int nc, bool add)
{
	for (int i = 0; i < nr; i++, c += ldc, t += ts)
		if (add)
			for (int q = 0; q < nc; q++)
				c[q] += t[q];
		else
			memcpy(c, t, sizeof(float) * (size_t)nc);
}

/* c[r][0..nc) = sum_k up[k][r] v[k][0..nc), r < nr: one panel of LI_GEMM_MR
 * rows of U (k-major, up) times up to 16 columns of V (row stride ldv). */
#ifdef LI_HAVE_AVX2_KERNEL
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

TARGET_AVX2 static void kernel_avx2(int K, const float *up, const float *v, int ldv, float *c,
				       int ldc, int nr, int nc, bool add)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	if (nc == 16) {
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR) {
			__m256 b0 = _mm256_loadu_ps(v), b1 = _mm256_loadu_ps(v + 8);
			ROWS();
		}
	} else {
		/* masked loads: the columns past nc may lie past the workspace */
		__m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
		__m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc), idx);
		__m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc - 8), idx);
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR) {
			__m256 b0 = _mm256_maskload_ps(v, m0), b1 = _mm256_maskload_ps(v + 8, m1);
			ROWS();
		}
	}
	/* a whole tile straight into c, else through t */
	float t[LI_GEMM_MR][16];
	bool direct = nc == 16 && nr == LI_GEMM_MR && !add;
	float *d = direct ? c : t[0];
	size_t ld = direct ? (size_t)ldc : 16;
	_mm256_storeu_ps(d, c00);
	_mm256_storeu_ps(d + 8, c01);
	_mm256_storeu_ps(d + ld, c10);
	_mm256_storeu_ps(d + ld + 8, c11);
	_mm256_storeu_ps(d + 2 * ld, c20);
	_mm256_storeu_ps(d + 2 * ld + 8, c21);
	_mm256_storeu_ps(d + 3 * ld, c30);
	_mm256_storeu_ps(d + 3 * ld + 8, c31);
	_mm256_storeu_ps(d + 4 * ld, c40);
	_mm256_storeu_ps(d + 4 * ld + 8, c41);
	_mm256_storeu_ps(d + 5 * ld, c50);
	_mm256_storeu_ps(d + 5 * ld + 8, c51);
	if (!direct)
		store_rows(&t[0][0], 16, c, ldc, nr, nc, add);
}

/* Up to 8 columns (the last strip when the tiles are not a multiple of 16,
 * e.g. 49 at 14x14): two panels of rows at once, twelve accumulators of one
 * vector each, so a strip of 1 column costs 8 and not 16. */
#define ROW8(i, p, j) (c##i = _mm256_fmadd_ps(_mm256_broadcast_ss((p) + (j)), b, c##i))
#define PANEL8(r0, r1, r2, r3, r4, r5, p) \
	do { \
		ROW8(r0, p, 0); \
		ROW8(r1, p, 1); \
		ROW8(r2, p, 2); \
		ROW8(r3, p, 3); \
		ROW8(r4, p, 4); \
		ROW8(r5, p, 5); \
	} while (0)

TARGET_AVX2 static void kernel8_avx2(int K, const float *up, const float *up2, const float *v,
					int ldv, float *c, int ldc, int nr, int nc, bool add)
{
	__m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
	__m256 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
	__m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	if (!up2)
		up2 = up; /* one panel left: the second set is computed and dropped */
	for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR, up2 += LI_GEMM_MR) {
		__m256 b = _mm256_maskload_ps(v, m);
		PANEL8(0, 1, 2, 3, 4, 5, up);
		PANEL8(6, 7, 8, 9, 10, 11, up2);
	}
	const __m256 acc[2 * LI_GEMM_MR] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
	float t[2 * LI_GEMM_MR][8];
	for (int i = 0; i < 2 * LI_GEMM_MR; i++)
		_mm256_storeu_ps(t[i], acc[i]);
	store_rows(&t[0][0], 8, c, ldc, nr, nc, add);
}
#undef PANEL8
#undef ROW8
#undef ROWS
#undef ROW
#endif

/* Portable: fixed-width inner loops (16 columns) that the compiler turns
 * into whatever vectors the target has. */
static void kernel_c(int K, const float *up, const float *v, int ldv, float *c, int ldc, int nr,
		     int nc, bool add)
{
	float acc[LI_GEMM_MR][16] = {{0}};
	if (nc == 16)
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR)
			for (int i = 0; i < LI_GEMM_MR; i++) {
				float a = up[i];
				for (int q = 0; q < 16; q++)
					acc[i][q] += a * v[q];
			}
	else
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR)
			for (int i = 0; i < LI_GEMM_MR; i++)
				for (int q = 0; q < nc; q++)
					acc[i][q] += up[i] * v[q];
	store_rows(&acc[0][0], 16, c, ldc, nr, nc, add);
}

bool li_gemm_portable = false;

bool li_gemm_fast(void)
{
#ifdef LI_HAVE_AVX2_KERNEL
	return !li_gemm_portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return false;
#endif
}

static void kernel(int K, const float *up, const float *v, int ldv, float *c, int ldc, int nr,
		   int nc, bool add, bool avx2)
{
#ifdef LI_HAVE_AVX2_KERNEL
	if (avx2) {
		kernel_avx2(K, up, v, ldv, c, ldc, nr, nc, add);
		return;
	}
#endif
	(void)avx2;
	kernel_c(K, up, v, ldv, c, ldc, nr, nc, add);
}

/* Two panels (nr up to 2 LI_GEMM_MR rows; up2 NULL when there is one) of at
 * most 8 columns. */
static void kernel8(int K, const float *up, const float *up2, const float *v, int ldv, float *c,
		    int ldc, int nr, int nc, bool add, bool avx2)
{
#ifdef LI_HAVE_AVX2_KERNEL
	if (avx2) {
		kernel8_avx2(K, up, up2, v, ldv, c, ldc, nr, nc, add);
		return;
	}
#endif
	kernel_c(K, up, v, ldv, c, ldc, nr < LI_GEMM_MR ? nr : LI_GEMM_MR, nc, add);
	if (up2 && nr > LI_GEMM_MR)
		kernel_c(K, up2, v, ldv, c + (size_t)LI_GEMM_MR * ldc, ldc, nr - LI_GEMM_MR, nc, add);
}

/* Depth blocks of at most LI_GEMM_KC rows of b, so that a 16-column strip of
 * them (LI_GEMM_KC cache lines, 32 KB) stays in the L1 cache while every
 * panel of A passes over it; the blocks after the first add onto c. */
#define LI_GEMM_KC 512

static void gemm_block(const float *ap, int rows, int cols, int k0, int kc, const float *v,
		       int ldv, int n, float *c, int ldc, bool add)
{
	bool avx2 = li_gemm_fast();
	for (int q = 0; q < n; q += 16) {
		int nc = n - q < 16 ? n - q : 16;
		if (nc <= 8) {
			for (int r = 0; r < rows; r += 2 * LI_GEMM_MR) {
				int nr = rows - r < 2 * LI_GEMM_MR ? rows - r : 2 * LI_GEMM_MR;
				const float *p2 = nr > LI_GEMM_MR
							  ? ap + (size_t)(r + LI_GEMM_MR) * cols + (size_t)k0 * LI_GEMM_MR
							  : NULL;
				kernel8(kc, ap + (size_t)r * cols + (size_t)k0 * LI_GEMM_MR, p2, v + q, ldv,
					c + (size_t)r * ldc + q, ldc, nr, nc, add, avx2);
			}
			continue;
		}
		for (int r = 0; r < rows; r += LI_GEMM_MR)
			kernel(kc, ap + (size_t)r * cols + (size_t)k0 * LI_GEMM_MR, v + q, ldv,
			       c + (size_t)r * ldc + q, ldc, rows - r < LI_GEMM_MR ? rows - r : LI_GEMM_MR,
			       nc, add, avx2);
	}
}

void li_gemm_packed(const float *ap, int rows, int cols, const float *b, int ldb, int n, float *c,
		    int ldc, bool add)
{
	/* equal blocks: 576 = 2 x 288 rather than 512 + 64 */
	int blocks = (cols + LI_GEMM_KC - 1) / LI_GEMM_KC;
	for (int i = 0; i < blocks; i++) {
		int k0 = (int)((int64_t)cols * i / blocks), k1 = (int)((int64_t)cols * (i + 1) / blocks);
		gemm_block(ap, rows, cols, k0, k1 - k0, b + (size_t)k0 * ldb, ldb, n, c, ldc,
			   add || i > 0);
	}
}
