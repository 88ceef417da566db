/* test_sgemm: li_gemm_packed (weights packed once, activations in place)
 * against a double-precision product, over the edges of its kernels: rows
 * that do not fill a panel of LI_GEMM_MR, strips of 1 to 16 columns (the
 * 8-wide two-panel kernel below 9), depths past one block of 512, b at a
 * padded row stride, c overwritten and added to. */
#include <math.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_nn.h"
#include "li_rng.h"
#include "tap.h"

static li_rng rng;
static li_gemm_kernel kern;

static void fill(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(2 * li_rng_uniform(&rng) - 1);
}

static void check(int rows, int cols, int n, bool add)
{
	int ldb = li_gemm_stride(n), ldc = n + 3;
	float *a = li_malloc_array((size_t)rows * cols, 4);
	float *ap = li_malloc_array(li_gemm_packed_floats(rows, cols), 4);
	float *b = li_malloc_array((size_t)cols * ldb, 4);
	float *c = li_malloc_array((size_t)rows * ldc, 4);
	fill(a, (size_t)rows * cols);
	fill(b, (size_t)cols * ldb);
	fill(c, (size_t)rows * ldc);
	/* columns of b past n are poison: they must never be read into c */
	for (int k = 0; k < cols; k++)
		for (int q = n; q < ldb; q++)
			b[(size_t)k * ldb + q] = NAN;
	float *c0 = li_malloc_array((size_t)rows * ldc, 4);
	memcpy(c0, c, sizeof(float) * (size_t)rows * ldc);
	li_gemm_pack(a, rows, cols, ap);
	li_gemm_packed_with(kern, ap, rows, cols, b, ldb, n, c, ldc, add);
	double err = 0, scale = 0;
	bool outside = true;
	for (int r = 0; r < rows; r++) {
		for (int q = 0; q < n; q++) {
			double s = add ? c0[(size_t)r * ldc + q] : 0;
			for (int k = 0; k < cols; k++)
				s += (double)a[(size_t)r * cols + k] * b[(size_t)k * ldb + q];
			double got = c[(size_t)r * ldc + q];
			err = isnan(got) ? INFINITY : fmax(err, fabs(got - s));
			scale = fmax(scale, fabs(s));
		}
		for (int q = n; q < ldc; q++) /* past n: untouched */
			outside = outside && memcmp(&c[(size_t)r * ldc + q], &c0[(size_t)r * ldc + q], 4) == 0;
	}
	if (!ok(err <= 1e-5 * fmax(scale, 1) && outside, "%d x %d times %d columns%s", rows, cols, n,
		add ? ", added" : ""))
		diag("max error %g (scale %g), columns past n %s", err, scale,
		     outside ? "untouched" : "written");
	free(a), free(ap), free(b), free(c), free(c0);
}

int main(void)
{
	li_rng_seed(&rng, 7);
	/* every kernel this CPU runs: the portable one, AVX2, the AVX-512 kernel's
	 * source compiled for AVX2 (W32: 32-column strips, as on AVX-512), and
	 * AVX-512 itself where the CPU has it */
	for (int k = 0; k < LI_GEMM_KERNELS; k++) {
		if (!li_gemm_kernel_runs((li_gemm_kernel)k)) {
			skip("kernel %s: not on this CPU (ISA %s)", li_gemm_kernel_name((li_gemm_kernel)k),
			     li_isa_name(li_cpu_isa()));
			continue;
		}
		kern = (li_gemm_kernel)k;
		diag("kernel %s", li_gemm_kernel_name(kern));
		/* every strip width up to two of the widest, with 13 rows (two
		 * panels and one row) */
		for (int n = 1; n <= 65; n++)
			check(13, 20, n, n % 2 == 0);
		check(1, 1, 1, false);
		check(6, 600, 33, false);    /* two depth blocks of 300 */
		check(7, 1100, 9, true);     /* three depth blocks, added */
		check(64, 64, 256, false);   /* a Winograd block of layer1 */
		check(100, 70, 20, true);
		check(12, 30, 16, false);    /* exactly a narrow strip of the W32 kernels */
	}
	ok(li_gemm_stride(256) == 272 && li_gemm_stride(240) == 240 && li_gemm_stride(1) == 16,
	   "b strides are an odd number of cache lines (256 -> 272, 240 stays)");
	return done_testing();
}
