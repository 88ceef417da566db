/* li_cpu.c: CPU feature detection (cpuid, and xgetbv for what the OS saves
 * on a context switch: AVX state, AVX-512 state, AMX tiles) and the LI_ISA
 * cap. See li_cpu.h. */
#include "li_cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LI_X86 1
#endif

static const char *const isa_names[LI_ISA_COUNT] = {"base", "avx2", "avx512", "avx512_bf16",
						     "amx"};
_Static_assert(sizeof isa_names / sizeof *isa_names == LI_ISA_COUNT, "one name per li_isa");

const char *li_isa_name(li_isa isa)
{
	return (unsigned)isa < LI_ISA_COUNT ? isa_names[isa] : NULL;
}

#ifdef LI_X86
typedef struct features {
	bool sse2, avx, avx2, fma, f16c, avx512f, avx512cd, avx512bw, avx512dq, avx512vl,
		avx512_bf16, avx512_vnni, amx_tile, amx_bf16;
} features;

static unsigned long long xgetbv0(void)
{
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (unsigned long long)hi << 32 | lo;
}

/* Linux keeps AMX tile data off until a process asks for it. */
static bool amx_permitted(void)
{
#ifdef SYS_arch_prctl
	enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
	return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
	return false;
#endif
}

static features detect(void)
{
	features f = {0};
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return f;
	f.sse2 = d >> 26 & 1;
	bool osxsave = c >> 27 & 1;
	bool avx = c >> 28 & 1, fma = c >> 12 & 1, f16c = c >> 29 & 1;
	unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
	bool ymm = (xcr0 & 0x6) == 0x6;           /* SSE and AVX state */
	bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;  /* opmask, ZMM_Hi256, Hi16_ZMM */
	bool tiles = (xcr0 & 0x60000) == 0x60000; /* XTILECFG, XTILEDATA */
	f.avx = avx && ymm;
	f.fma = fma && ymm;
	f.f16c = f16c && ymm;
	if (__get_cpuid_max(0, NULL) < 7)
		return f;
	__cpuid_count(7, 0, a, b, c, d);
	f.avx2 = ymm && (b >> 5 & 1);
	f.avx512f = zmm && (b >> 16 & 1);
	f.avx512dq = zmm && (b >> 17 & 1);
	f.avx512cd = zmm && (b >> 28 & 1);
	f.avx512bw = zmm && (b >> 30 & 1);
	f.avx512vl = zmm && (b >> 31 & 1);
	f.avx512_vnni = zmm && (c >> 11 & 1);
	bool amx_bf16 = d >> 22 & 1, amx_tile = d >> 24 & 1;
	unsigned max7 = a;
	if (max7 >= 1) {
		__cpuid_count(7, 1, a, b, c, d);
		f.avx512_bf16 = zmm && (a >> 5 & 1);
	}
	f.amx_tile = amx_tile && tiles;
	f.amx_bf16 = amx_bf16 && tiles;
	return f;
}

static li_isa level_of(const features *f)
{
	if (!(f->avx2 && f->fma && f->f16c))
		return LI_ISA_BASE;
	if (!(f->avx512f && f->avx512cd && f->avx512bw && f->avx512dq && f->avx512vl))
		return LI_ISA_AVX2;
	if (!f->avx512_bf16)
		return LI_ISA_AVX512;
	if (!(f->amx_tile && f->amx_bf16))
		return LI_ISA_AVX512_BF16;
	return LI_ISA_AMX;
}
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static li_isa hw_level, cap_level;
static bool env_bad;

static int parse_isa(const char *s, li_isa *out)
{
	for (int i = 0; i < LI_ISA_COUNT; i++)
		if (strcmp(s, isa_names[i]) == 0) {
			*out = (li_isa)i;
			return 0;
		}
	return -1;
}

static void init(void)
{
#ifdef LI_X86
	features f = detect();
	hw_level = level_of(&f);
#else
	hw_level = LI_ISA_BASE;
#endif
	cap_level = hw_level;
	const char *env = getenv("LI_ISA");
	li_isa want;
	if (env && *env) {
		if (parse_isa(env, &want) != 0)
			env_bad = true;
		else if (want < cap_level)
			cap_level = want;
	}
#ifdef LI_X86
	/* AMX needs the kernel's permission; ask only when it would be used. */
	if (cap_level == LI_ISA_AMX && !amx_permitted())
		cap_level = LI_ISA_AVX512_BF16;
#endif
}

li_isa li_cpu_isa(void)
{
	pthread_once(&once, init);
	return cap_level;
}

li_isa li_cpu_isa_hw(void)
{
	pthread_once(&once, init);
	return hw_level;
}

int li_cpu_check_env(void)
{
	pthread_once(&once, init);
	if (!env_bad)
		return 0;
	return li_error("LI_ISA='%s' is not an instruction set level (base, avx2, avx512, "
			"avx512_bf16, amx)",
			getenv("LI_ISA"));
}

const char *li_cpu_model(char *buf, size_t size)
{
	snprintf(buf, size, "unknown");
#ifdef LI_X86
	unsigned r[12];
	if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000004u) {
		for (unsigned i = 0; i < 3; i++)
			__get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2],
				    &r[4 * i + 3]);
		char s[49];
		memcpy(s, r, 48);
		s[48] = '\0';
		const char *p = s;
		while (*p == ' ')
			p++;
		size_t n = strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		snprintf(buf, size, "%.*s", (int)n, p);
	}
#endif
	return buf;
}

const char *li_cpu_flags(char *buf, size_t size)
{
	buf[0] = '\0';
#ifdef LI_X86
	features f = detect();
	struct {
		bool on;
		const char *name;
	} t[] = {{f.sse2, "sse2"},         {f.avx, "avx"},           {f.avx2, "avx2"},
		 {f.fma, "fma"},           {f.f16c, "f16c"},         {f.avx512f, "avx512f"},
		 {f.avx512cd, "avx512cd"}, {f.avx512bw, "avx512bw"}, {f.avx512dq, "avx512dq"},
		 {f.avx512vl, "avx512vl"}, {f.avx512_vnni, "avx512_vnni"},
		 {f.avx512_bf16, "avx512_bf16"}, {f.amx_tile, "amx_tile"}, {f.amx_bf16, "amx_bf16"}};
	size_t used = 0;
	for (size_t i = 0; i < sizeof t / sizeof *t && used < size; i++)
		if (t[i].on)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? " " : "",
						 t[i].name);
#else
	snprintf(buf, size, "(not x86-64)");
#endif
	return buf;
}
