/* li_gemm.c: general matrix products for the net, on oneDNN's sgemm.
 *
 * oneDNN chooses its kernel at run time from the CPU (AVX2, AVX-512, ...),
 * whatever the build flags and whatever OPENBLAS_CORETYPE says: measured on
 * an AMD Zen 3 core it matched or beat single-threaded OpenBLAS 0.3.21 on
 * every conv GEMM shape of ResNet18 (stem 83 vs 67 GFLOP/s, backward-data
 * 83 vs 67, the rest within 5%), and on an AVX-512 CPU it runs AVX-512
 * kernels where OpenBLAS runs AVX2 ones whenever OPENBLAS_CORETYPE=Haswell
 * is set. Each call is single-threaded (oneDNN's OpenMP team is kept at one
 * thread in every thread that calls it): li_gemm splits a product into
 * blocks run on our pool, so there is one level of parallelism. LI_ISA caps
 * oneDNN's instruction set as it caps ours (li_cpu.h). */
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_net.h"
#include "li_dnnl.h"
#include "li_nn.h"

/* libgomp's, declared here so that no omp.h is needed (oneDNN's OpenMP team
 * size is that of the calling thread). */
extern void omp_set_num_threads(int threads);

void li_sgemm1(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
	       const float *b, int ldb, float beta, float *c, int ldc)
{
	static _Thread_local bool one_thread;
	if (!one_thread) {
		li_dnnl_setup();
		omp_set_num_threads(1);
		one_thread = true;
	}
	/* it fails only on arguments no caller may pass (a stride below a row):
	 * a programmer error, never bad input, and C must not stay silently stale */
	dnnl_status_t st =
		dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	LI_ASSERT(st == dnnl_success);
}

typedef struct gemm_job {
	bool ta, tb, split_n;
	int m, n, k, lda, ldb, ldc, blocks;
	float alpha, beta;
	const float *a, *b;
	float *c;
} gemm_job;

/* Block i of `blocks` over [0, size), boundaries on multiples of 16 (whole
 * SIMD panels of the sgemm kernels). */
static int block_edge(int size, int blocks, int i)
{
	if (i >= blocks)
		return size;
	int e = (int)((int64_t)size * i / blocks) & ~15;
	return e < size ? e : size;
}

static void gemm_task(void *ctx, int begin, int end)
{
	const gemm_job *j = ctx;
	for (int i = begin; i < end; i++) {
		int lo = block_edge(j->split_n ? j->n : j->m, j->blocks, i);
		int hi = block_edge(j->split_n ? j->n : j->m, j->blocks, i + 1);
		if (hi <= lo)
			continue;
		const float *a = j->a, *b = j->b;
		float *c = j->c;
		int m = j->m, n = j->n;
		if (j->split_n) {
			b += j->tb ? (size_t)lo * j->ldb : (size_t)lo;
			c += lo;
			n = hi - lo;
		} else {
			a += j->ta ? (size_t)lo : (size_t)lo * j->lda;
			c += (size_t)lo * j->ldc;
			m = hi - lo;
		}
		li_sgemm1(j->ta, j->tb, m, n, j->k, j->alpha, a, j->lda, b, j->ldb, j->beta, c,
			  j->ldc);
	}
}

void li_gemm(li_pool *pool, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
	     int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	int threads = li_pool_threads(pool);
	gemm_job j = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb,
		      .ldc = ldc, .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c, .blocks = 1};
	/* A few blocks per thread (a late thread costs one block, not half the
	 * GEMM), but not so thin that the sgemm's packing of the shared operand,
	 * repeated per block, starts to cost: columns when there are enough of
	 * them (conv outputs), rows otherwise (batch-1 deep layers). */
	if (threads > 1) {
		int want = 3 * threads;
		if (n >= 128 * threads) {
			j.split_n = true;
			j.blocks = n / 128 < want ? n / 128 : want;
		} else if (m >= 32 * threads) {
			j.blocks = m / 32 < want ? m / 32 : want;
		} else if (n >= 32 * threads) {
			j.split_n = true;
			j.blocks = threads;
		}
	}
	if (j.blocks == 1) {
		gemm_task(&j, 0, 1);
		return;
	}
	li_pool_run_chunked(pool, j.blocks, 1, gemm_task, &j);
}


static const char *dnnl_isa_name(dnnl_cpu_isa_t isa)
{
	switch (isa) {
	case dnnl_cpu_isa_sse41: return "sse41";
	case dnnl_cpu_isa_avx: return "avx";
	case dnnl_cpu_isa_avx2: return "avx2";
	case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
	case dnnl_cpu_isa_avx512_core: return "avx512_core";
	case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
	case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
	case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
	default: return "other";
	}
}

void li_net_describe_cpu(FILE *f)
{
	char model[64], flags[256];
	li_dnnl_setup();
	li_isa isa = li_cpu_isa(), hw = li_cpu_isa_hw();
	fprintf(f, "cpu: %s\n", li_cpu_model(model, sizeof model));
	fprintf(f, "cpu flags: %s\n", li_cpu_flags(flags, sizeof flags));
	if (li_cpu_check_env() < 0)
		fprintf(f, "isa: %s (%s)\n", li_isa_name(isa), li_errmsg());
	else if (isa < hw)
		fprintf(f, "isa: %s (capped by LI_ISA; the CPU has %s)\n", li_isa_name(isa),
			li_isa_name(hw));
	else
		fprintf(f, "isa: %s\n", li_isa_name(isa));
	const dnnl_version_t *v = dnnl_version();
	fprintf(f, "kernels: winograd GEMM %s, loops %s, other GEMMs oneDNN %d.%d.%d sgemm (%s)\n",
		li_gemm_kernel_name(li_gemm_kernel_best()),
		isa >= LI_ISA_AVX512 ? "avx512" : isa >= LI_ISA_AVX2 ? "avx2" : "base", v->major,
		v->minor, v->patch, dnnl_isa_name(dnnl_get_effective_cpu_isa()));
	int wino = li_conv_wino_forced();
	if (wino < 0)
		fprintf(f, "winograd: (%s)\n", li_errmsg());
	else if (wino)
		fprintf(f, "winograd: F(%dx%d, 3x3) everywhere (LI_WINO=%d)\n", wino, wino, wino);
	else
		fprintf(f, "winograd: F(4x4, 3x3) up to 128 channels, F(2x2, 3x3) above "
			   "(LI_WINO unset)\n");
	li_net_conv conv;
	if (li_net_conv_env(&conv) < 0) {
		fprintf(f, "eval convs: (%s)\n", li_errmsg());
	} else {
		char what[4200];
		fprintf(f, "eval convs: %s (LI_CONV=%s)\n",
			li_net_conv_what(conv, false, what, sizeof what), li_net_conv_name(conv));
		fprintf(f, "training convs: %s (LI_CONV=%s)\n",
			li_net_conv_what(conv, true, what, sizeof what), li_net_conv_name(conv));
	}
	const char *bf16 = !li_dnnl_bf16_native()	   ? "no (needs AVX512_BF16 or AMX)"
			   : li_cpu_isa() >= LI_ISA_AMX ? "yes (AMX)"
							: "yes (AVX512_BF16)";
	fprintf(f, "bf16 scoring: %s\n", bf16);
	fprintf(f, "bf16 training: %s\n", bf16);
}
