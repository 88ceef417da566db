/* li_cpu.h: which vector instruction sets this CPU and its OS offer, so that
 * every ISA-specific kernel is chosen at run time (a generic build runs at
 * full speed anywhere and never executes an instruction the CPU lacks).
 *
 * The levels are ordered; each includes the ones below it:
 *   base          x86-64 (SSE2), or any other architecture
 *   avx2          AVX2 + FMA + F16C (Intel Haswell, AMD Zen 1 and later)
 *   avx512        AVX-512 F, CD, BW, DQ, VL (Skylake-SP, Zen 4 and later)
 *   avx512_bf16   avx512 + AVX512_BF16 (Cooper Lake, Zen 4 and later)
 *   amx           avx512_bf16 + AMX-TILE + AMX-BF16 (Sapphire Rapids)
 * The environment variable LI_ISA caps the level (LI_ISA=avx2 on an AVX-512
 * machine runs the AVX2 kernels); it never raises it above what the CPU has. */
#ifndef LI_CPU_H
#define LI_CPU_H
#include <stdbool.h>
#include <stddef.h>

typedef enum li_isa {
	LI_ISA_BASE,
	LI_ISA_AVX2,
	LI_ISA_AVX512,
	LI_ISA_AVX512_BF16,
	LI_ISA_AMX,
	LI_ISA_COUNT
} li_isa;

/* The level in force: the CPU's, capped by LI_ISA. Computed once, thread-safe. */
li_isa li_cpu_isa(void);
/* The CPU's own level, ignoring LI_ISA. */
li_isa li_cpu_isa_hw(void);
/* "base", "avx2", ... (the names LI_ISA takes); NULL past LI_ISA_COUNT. */
const char *li_isa_name(li_isa isa);
/* 0, or -1 with a message when LI_ISA is set to something unknown. Programs
 * call it once at start (li_net_new does too), so a typo is an error, not a
 * silent fall back to the full ISA. */
int li_cpu_check_env(void);
/* The CPU's brand string ("AMD EPYC 9R45 ..."), or "unknown", into buf. */
const char *li_cpu_model(char *buf, size_t size);
/* The CPU's vector features, space-separated ("sse2 avx avx2 fma avx512f ..."). */
const char *li_cpu_flags(char *buf, size_t size);
/* ---- compiling one function for several levels ----
 * A hot loop is written once, as an LI_INLINE function NAME_body, and
 * LI_ISA_DISPATCH(NAME, (params), (args)) defines `static void NAME(params)`
 * that runs the body compiled for AVX-512, for AVX2 + FMA or for the base ISA,
 * whichever li_cpu_isa() allows: the same source, so the copies differ only in
 * the instructions the compiler picks, and a test that runs on an AVX2 machine
 * checks the very code an AVX-512 machine runs. The body must be
 * self-contained (any helper it calls in its loops is LI_INLINE too). */
#define LI_INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__)
#define LI_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LI_TARGET_AVX512 \
	__attribute__((target("avx2,fma,f16c,avx512f,avx512cd,avx512bw,avx512dq,avx512vl")))
/* GCC 12 at -O2 vectorizes a loop only when no scalar epilogue and no
 * run-time alias check are needed (its "very cheap" cost model): the
 * elementwise loops (bias, ReLU, batch-norm) of the copies stayed scalar.
 * The copies ask for the usual cost model; contraction into FMA stays off
 * (-std=c11), so every copy computes the same bits as the base one. Clang
 * vectorizes at -O2 already. */
#ifdef __clang__
#define LI_VECTORIZE
#else
#define LI_VECTORIZE __attribute__((optimize("vect-cost-model=dynamic")))
#endif
#define LI_ISA_DISPATCH(name, params, args) \
	LI_TARGET_AVX2 LI_VECTORIZE static void name##_avx2 params { name##_body args; } \
	LI_TARGET_AVX512 LI_VECTORIZE static void name##_avx512 params { name##_body args; } \
	static void name params \
	{ \
		li_isa isa_ = li_cpu_isa(); \
		if (isa_ >= LI_ISA_AVX512) \
			name##_avx512 args; \
		else if (isa_ >= LI_ISA_AVX2) \
			name##_avx2 args; \
		else \
			name##_body args; \
	}
#else
#define LI_ISA_DISPATCH(name, params, args) \
	static void name params { name##_body args; }
#endif
#endif
