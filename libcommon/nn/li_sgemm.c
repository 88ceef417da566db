/* li_sgemm.c: C = A B with A packed once (weights), B read in place.
 *
 * For GEMMs whose left operand is a weight matrix that stays the same over
 * many calls, as the 16 GEMMs of a Winograd convolution (li_winograd.c writes
 * its transformed weights straight into this layout): A in panels of
 * LI_GEMM_MR rows, k-major within a panel; a micro-kernel computes 6 rows x
 * 2 vectors of columns at a time with twelve accumulators, reading B (the
 * activations) in place.
 *
 * The micro-kernels are written once, with GCC vector types of W floats, and
 * compiled for each instruction set by a target attribute (KERNELS below):
 *   avx2    W = 8,  6 x 16 tiles, 12 ymm accumulators;
 *   avx512  W = 16, 6 x 32 tiles, 12 zmm accumulators;
 *   avx2w32 W = 16 compiled for AVX2: each vector is two ymm halves. It is
 *           slower (it spills) and never chosen, but it is the avx512
 *           kernel's source and strip logic, runnable on an AVX2 CPU, so the
 *           tests check on any x86-64 machine what an AVX-512 one runs.
 * li_cpu_isa() picks one at run time, so a generic build (no -march) is as
 * fast as a native one. Without AVX2 the portable C kernel runs (and
 * Winograd keeps U row-major for li_sgemm1 instead, which is faster then). */
#include <string.h>

#include "li_cpu.h"
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

/* Depth blocks of at most LI_GEMM_KC rows of b, so that a 16-column strip of
 * them (LI_GEMM_KC cache lines, 32 KB) stays in the L1 cache while every
 * panel of A passes over it; the blocks after the first add onto c. */
#define LI_GEMM_KC 512
/* The widest strip of any kernel (avx512: 32 columns). */
#define LI_GEMM_NR_MAX 32

/* A strip narrower than the kernel's is copied, zero-padded, into pad (kc
 * rows of `width`) so that no column past n is ever read. */
static const float *pad_strip(const float *v, int ldv, int kc, int nc, int width, float *pad)
{
	for (int k = 0; k < kc; k++) {
		memcpy(pad + (size_t)k * width, v + (size_t)k * ldv, sizeof(float) * (size_t)nc);
		memset(pad + (size_t)k * width + nc, 0, sizeof(float) * (size_t)(width - nc));
	}
	return pad;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* GCC contracts a * b + c into an FMA only when asked (-std=c11 turns it
 * off); clang contracts within an expression by default. */
#ifdef __clang__
#define LI_FP_CONTRACT
#else
#define LI_FP_CONTRACT __attribute__((optimize("fp-contract=fast")))
#endif
/* One rank-1 update of row i: c_i0 += a b0, c_i1 += a b1 (a = up[i]
 * broadcast; `s - (vec){}` is the broadcast that needs no arithmetic). */
#define ROW(T, i) \
	do { \
		T a_ = up[i] - (T){0}; \
		c##i##0 += a_ * b0; \
		c##i##1 += a_ * b1; \
	} while (0)
#define NROW(T, i, p, j) (c##i += ((p)[j] - (T){0}) * b)
#define STORE2(p, x, y) \
	do { \
		memcpy((p), &(x), sizeof(x)); \
		memcpy((p) + sizeof(x) / sizeof(float), &(y), sizeof(y)); \
	} while (0)

/* KERNELS(SUF, W, TARGET) defines, for vectors of W floats:
 *   kern_SUF: one panel (LI_GEMM_MR rows, nr of them kept) x 2W columns of v
 *     (all readable; nc of them kept), accumulated over K;
 *   narrow_SUF: two panels (up2 NULL: one) x W columns, for narrow strips.
 * The accumulators are named, not an array: GCC at -O2 does not unroll the
 * row loop and would keep an array in memory. Contraction into FMA is asked
 * for explicitly (-std=c11 turns it off). */
#define KERNELS(SUF, W, TARGET) \
	typedef float vec_##SUF __attribute__((vector_size(4 * (W)))); \
	TARGET LI_FP_CONTRACT static void kern_##SUF( \
		int K, const float *up, const float *v, int ldv, float *c, int ldc, int nr, int nc, \
		bool add) \
	{ \
		typedef vec_##SUF T; \
		T c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}; \
		T c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0}; \
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR) { \
			T b0, b1; \
			memcpy(&b0, v, sizeof b0); \
			memcpy(&b1, v + (W), sizeof b1); \
			ROW(T, 0); \
			ROW(T, 1); \
			ROW(T, 2); \
			ROW(T, 3); \
			ROW(T, 4); \
			ROW(T, 5); \
		} \
		/* a whole tile straight into c, else through t */ \
		float t[LI_GEMM_MR][2 * (W)]; \
		bool direct = nc == 2 * (W) && nr == LI_GEMM_MR && !add; \
		float *d = direct ? c : t[0]; \
		size_t ld = direct ? (size_t)ldc : 2 * (W); \
		STORE2(d, c00, c01); \
		STORE2(d + ld, c10, c11); \
		STORE2(d + 2 * ld, c20, c21); \
		STORE2(d + 3 * ld, c30, c31); \
		STORE2(d + 4 * ld, c40, c41); \
		STORE2(d + 5 * ld, c50, c51); \
		if (!direct) \
			store_rows(&t[0][0], 2 * (W), c, ldc, nr, nc, add); \
	} \
	TARGET LI_FP_CONTRACT static void narrow_##SUF( \
		int K, const float *up, const float *up2, const float *v, int ldv, float *c, int ldc, \
		int nr, int nc, bool add) \
	{ \
		typedef vec_##SUF T; \
		T c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0}, c5 = {0}; \
		T c6 = {0}, c7 = {0}, c8 = {0}, c9 = {0}, c10 = {0}, c11 = {0}; \
		if (!up2) \
			up2 = up; /* one panel: the second set is computed and dropped */ \
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR, up2 += LI_GEMM_MR) { \
			T b; \
			memcpy(&b, v, sizeof b); \
			NROW(T, 0, up, 0); \
			NROW(T, 1, up, 1); \
			NROW(T, 2, up, 2); \
			NROW(T, 3, up, 3); \
			NROW(T, 4, up, 4); \
			NROW(T, 5, up, 5); \
			NROW(T, 6, up2, 0); \
			NROW(T, 7, up2, 1); \
			NROW(T, 8, up2, 2); \
			NROW(T, 9, up2, 3); \
			NROW(T, 10, up2, 4); \
			NROW(T, 11, up2, 5); \
		} \
		const T acc[2 * LI_GEMM_MR] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11}; \
		float t[2 * LI_GEMM_MR][W]; \
		memcpy(t, acc, sizeof t); \
		store_rows(&t[0][0], (W), c, ldc, nr, nc, add); \
	}

KERNELS(avx2, 8, LI_TARGET_AVX2)
KERNELS(avx512, 16, LI_TARGET_AVX512)
KERNELS(avx2w32, 16, LI_TARGET_AVX2)
#undef KERNELS
#undef NROW
#undef STORE2
#undef ROW
#define LI_HAVE_X86_KERNELS 1
#endif

/* Portable: fixed-width inner loops (16 columns) that the compiler turns
 * into whatever vectors the target has. */
static void kern_c(int K, const float *up, const float *v, int ldv, float *c, int ldc, int nr,
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
	else /* only the nc columns that exist are read */
		for (int k = 0; k < K; k++, v += ldv, up += LI_GEMM_MR)
			for (int i = 0; i < LI_GEMM_MR; i++)
				for (int q = 0; q < nc; q++)
					acc[i][q] += up[i] * v[q];
	store_rows(&acc[0][0], 16, c, ldc, nr, nc, add);
}

static void narrow_c(int K, const float *up, const float *up2, const float *v, int ldv, float *c,
		     int ldc, int nr, int nc, bool add)
{
	kern_c(K, up, v, ldv, c, ldc, nr < LI_GEMM_MR ? nr : LI_GEMM_MR, nc, add);
	if (up2 && nr > LI_GEMM_MR)
		kern_c(K, up2, v, ldv, c + (size_t)LI_GEMM_MR * ldc, ldc, nr - LI_GEMM_MR, nc, add);
}

typedef void (*kern_fn)(int K, const float *up, const float *v, int ldv, float *c, int ldc,
			int nr, int nc, bool add);
typedef void (*narrow_fn)(int K, const float *up, const float *up2, const float *v, int ldv,
			  float *c, int ldc, int nr, int nc, bool add);

static const struct kernel_ops {
	const char *name;
	li_isa needs;
	int width;        /* columns of kern: 2 vectors; narrow takes width / 2 */
	kern_fn kern;     /* NULL: not built for this architecture */
	narrow_fn narrow;
} kernels[LI_GEMM_KERNELS] = {
	[LI_GEMM_KERNEL_C] = {"c 6x16", LI_ISA_BASE, 16, kern_c, narrow_c},
#ifdef LI_HAVE_X86_KERNELS
	[LI_GEMM_KERNEL_AVX2] = {"avx2 6x16", LI_ISA_AVX2, 16, kern_avx2, narrow_avx2},
	[LI_GEMM_KERNEL_AVX2_W32] = {"avx2 6x32 (test)", LI_ISA_AVX2, 32, kern_avx2w32, narrow_avx2w32},
	[LI_GEMM_KERNEL_AVX512] = {"avx512 6x32", LI_ISA_AVX512, 32, kern_avx512, narrow_avx512},
#else
	[LI_GEMM_KERNEL_AVX2] = {"avx2 6x16", LI_ISA_AVX2, 16, NULL, NULL},
	[LI_GEMM_KERNEL_AVX2_W32] = {"avx2 6x32 (test)", LI_ISA_AVX2, 32, NULL, NULL},
	[LI_GEMM_KERNEL_AVX512] = {"avx512 6x32", LI_ISA_AVX512, 32, NULL, NULL},
#endif
};

const char *li_gemm_kernel_name(li_gemm_kernel k)
{
	return (unsigned)k < LI_GEMM_KERNELS ? kernels[k].name : NULL;
}

bool li_gemm_kernel_runs(li_gemm_kernel k)
{
	return (unsigned)k < LI_GEMM_KERNELS && kernels[k].kern && li_cpu_isa() >= kernels[k].needs;
}

li_gemm_kernel li_gemm_kernel_best(void)
{
	li_isa isa = li_cpu_isa();
	if (isa >= LI_ISA_AVX512 && li_gemm_kernel_runs(LI_GEMM_KERNEL_AVX512))
		return LI_GEMM_KERNEL_AVX512;
	if (isa >= LI_ISA_AVX2 && li_gemm_kernel_runs(LI_GEMM_KERNEL_AVX2))
		return LI_GEMM_KERNEL_AVX2;
	return LI_GEMM_KERNEL_C;
}

bool li_gemm_fast(void) { return li_gemm_kernel_best() != LI_GEMM_KERNEL_C; }

static void gemm_block(const struct kernel_ops *ko, const float *ap, int rows, int cols, int k0,
		       int kc, const float *v, int ldv, int n, float *c, int ldc, bool add)
{
	static _Thread_local _Alignas(64) float pad[LI_GEMM_KC * LI_GEMM_NR_MAX];
	int width = ko->width, half = width / 2;
	bool portable = ko->kern == kern_c; /* reads only the nc columns there are */
	for (int q = 0; q < n; q += width) {
		int nc = n - q < width ? n - q : width;
		const float *vs = v + q;
		int lds = ldv;
		if (nc <= half) {
			if (!portable && nc < half) {
				vs = pad_strip(vs, ldv, kc, nc, half, pad);
				lds = half;
			}
			for (int r = 0; r < rows; r += 2 * LI_GEMM_MR) {
				int nr = rows - r < 2 * LI_GEMM_MR ? rows - r : 2 * LI_GEMM_MR;
				const float *p2 = nr > LI_GEMM_MR
							  ? ap + (size_t)(r + LI_GEMM_MR) * cols + (size_t)k0 * LI_GEMM_MR
							  : NULL;
				ko->narrow(kc, ap + (size_t)r * cols + (size_t)k0 * LI_GEMM_MR, p2, vs, lds,
					   c + (size_t)r * ldc + q, ldc, nr, nc, add);
			}
			continue;
		}
		if (!portable && nc < width) {
			vs = pad_strip(vs, ldv, kc, nc, width, pad);
			lds = width;
		}
		for (int r = 0; r < rows; r += LI_GEMM_MR)
			ko->kern(kc, ap + (size_t)r * cols + (size_t)k0 * LI_GEMM_MR, vs, lds,
				 c + (size_t)r * ldc + q, ldc, rows - r < LI_GEMM_MR ? rows - r : LI_GEMM_MR,
				 nc, add);
	}
}

void li_gemm_packed_with(li_gemm_kernel k, const float *ap, int rows, int cols, const float *b,
			 int ldb, int n, float *c, int ldc, bool add)
{
	const struct kernel_ops *ko = &kernels[li_gemm_kernel_runs(k) ? k : LI_GEMM_KERNEL_C];
	/* equal blocks: 576 = 2 x 288 rather than 512 + 64 */
	int blocks = (cols + LI_GEMM_KC - 1) / LI_GEMM_KC;
	for (int i = 0; i < blocks; i++) {
		int k0 = (int)((int64_t)cols * i / blocks), k1 = (int)((int64_t)cols * (i + 1) / blocks);
		gemm_block(ko, ap, rows, cols, k0, k1 - k0, b + (size_t)k0 * ldb, ldb, n, c, ldc,
			   add || i > 0);
	}
}

void li_gemm_packed(const float *ap, int rows, int cols, const float *b, int ldb, int n, float *c,
		    int ldc, bool add)
{
	li_gemm_packed_with(li_gemm_kernel_best(), ap, rows, cols, b, ldb, n, c, ldc, add);
}
