/* li_optim.c: Adam, AdamW and SGD over one flat parameter arena, and the
 * learning-rate schedules, with torch 1.13's semantics.
 *
 * The update loops follow torch's single-tensor CPU kernels operation by
 * operation in float (scalars rounded to float, fused multiply-adds where
 * ATen's vectorised add uses fmadd), so a step matches torch to a few ulps
 * rather than merely to the same maths. The loops are memory bound (ResNet18:
 * 11.7M parameters, ~330 MB of traffic per Adam step), so they are single
 * plain loops the compiler can vectorise; threads would not help. */
#include "li_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LI_ADAM_AVX2 1
#endif

/* torch's vectorised add(a, b, alpha) is fmadd(b, alpha, a); without FMA
 * hardware fmaf would be a slow library call, so fall back to two roundings. */
#ifdef __FMA__
#define FMA(a, b, c) fmaf((a), (b), (c))
#else
#define FMA(a, b, c) ((a) * (b) + (c))
#endif

struct li_optim {
	li_optim_config cfg;
	size_t n;
	int64_t steps;
	float *s0, *s1; /* Adam: exp_avg, exp_avg_sq; SGD: momentum buffer (NULL without momentum) */
};

void li_optim_config_default(li_optim_config *cfg, li_optim_kind kind)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->kind = kind;
	cfg->beta1 = 0.9;
	cfg->beta2 = 0.999;
	cfg->eps = 1e-8;
	if (kind == LI_OPTIM_ADAMW)
		cfg->weight_decay = 1e-2;
}

static float *state_new(size_t n)
{
	size_t bytes;
	if (li_size_mul(n ? n : 1, sizeof(float), &bytes) < 0) {
		li_error("optimizer state for %zu parameters overflows", n);
		return NULL;
	}
	float *p = li_malloc_aligned(bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

li_optim *li_optim_new(const li_optim_config *cfg, size_t nparams)
{
	const li_optim_config *c = cfg;
	bool adam = c->kind == LI_OPTIM_ADAM || c->kind == LI_OPTIM_ADAMW;
	if (!adam && c->kind != LI_OPTIM_SGD) {
		li_error("unknown optimizer kind %d", (int)c->kind);
		return NULL;
	}
	if (!(c->weight_decay >= 0)) {
		li_error("invalid weight decay %g", c->weight_decay);
		return NULL;
	}
	if (adam && !(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1)) {
		li_error("invalid betas (%g, %g): each must be in [0, 1)", c->beta1, c->beta2);
		return NULL;
	}
	if (adam && !(c->eps >= 0)) {
		li_error("invalid eps %g", c->eps);
		return NULL;
	}
	if (!adam && !(c->momentum >= 0)) {
		li_error("invalid momentum %g", c->momentum);
		return NULL;
	}
	if (!adam && c->nesterov && (c->momentum <= 0 || c->dampening != 0)) {
		li_error("nesterov momentum requires a momentum and zero dampening");
		return NULL;
	}
	li_optim *o = li_calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->cfg = *c;
	o->n = nparams;
	if (adam || c->momentum != 0) {
		o->s0 = state_new(nparams);
		if (!o->s0)
			goto fail;
	}
	if (adam) {
		o->s1 = state_new(nparams);
		if (!o->s1)
			goto fail;
	}
	return o;
fail:
	li_optim_free(o);
	return NULL;
}

void li_optim_free(li_optim *o)
{
	if (!o)
		return;
	li_free_aligned(o->s0);
	li_free_aligned(o->s1);
	free(o);
}

/* One Adam element; the AVX loop below does exactly these roundings. */
static inline void adam_elem(float *p, float g, float *m, float *v, float shrink, float wd,
			     float b1, float a1, float b2, float a2, float bc2_sqrt, float eps,
			     float neg_step)
{
	float pi = *p * shrink;              /* AdamW: param.mul_(1 - lr*wd) (x1.0 is exact) */
	float gi = FMA(pi, wd, g);           /* Adam: grad.add(param, alpha=wd) (+0 is exact) */
	float mi = FMA(gi, a1, *m * b1);     /* exp_avg.mul_(b1).add_(grad, alpha=1-b1) */
	float vi = *v * b2 + a2 * gi * gi;   /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
	float denom = sqrtf(vi) / bc2_sqrt + eps;
	*p = pi + neg_step * mi / denom;     /* param.addcdiv_(exp_avg, denom, value=-step_size) */
	*m = mi;
	*v = vi;
}

#ifdef LI_ADAM_AVX2
/* Whole vectors of 8 with AVX + FMA (chosen at run time); returns how many
 * elements it did. */
LI_TARGET_AVX2 static size_t adam_avx2(size_t n, float *restrict p, const float *restrict g,
				       float *restrict m, float *restrict v, float shrink, float wd,
				       float b1, float a1, float b2, float a2, float bc2_sqrt,
				       float eps, float neg_step)
{
	size_t i = 0;
	__m256 vshrink = _mm256_set1_ps(shrink), vwd = _mm256_set1_ps(wd);
	__m256 vb1 = _mm256_set1_ps(b1), va1 = _mm256_set1_ps(a1);
	__m256 vb2 = _mm256_set1_ps(b2), va2 = _mm256_set1_ps(a2);
	__m256 vbc2 = _mm256_set1_ps(bc2_sqrt), veps = _mm256_set1_ps(eps);
	__m256 vstep = _mm256_set1_ps(neg_step);
	for (; i + 8 <= n; i += 8) {
		__m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), vshrink);
		__m256 gi = _mm256_fmadd_ps(pi, vwd, _mm256_loadu_ps(g + i));
		__m256 mi = _mm256_fmadd_ps(gi, va1, _mm256_mul_ps(_mm256_loadu_ps(m + i), vb1));
		__m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), vb2),
					  _mm256_mul_ps(_mm256_mul_ps(va2, gi), gi));
		__m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc2), veps);
		__m256 upd = _mm256_div_ps(_mm256_mul_ps(vstep, mi), denom);
		_mm256_storeu_ps(p + i, _mm256_add_ps(pi, upd));
		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
	}
	return i;
}
#endif

/* GCC at -O2 does not vectorise sqrtf (errno), and the scalar loop is 3-4x
 * slower than memory speed (70 ms against 20 ms per ResNet18 step here), so
 * the body is written with AVX intrinsics, run when the CPU has AVX2 + FMA. */
static void adam_step(size_t n, float *restrict p, const float *restrict g, float *restrict m,
		      float *restrict v, const li_optim_config *c, double lr, int64_t t)
{
	bool decoupled = c->kind == LI_OPTIM_ADAMW;
	float wd = decoupled ? 0.0f : (float)c->weight_decay;
	float shrink = decoupled ? (float)(1 - lr * c->weight_decay) : 1.0f;
	float b1 = (float)c->beta1, b2 = (float)c->beta2;
	float a1 = (float)(1 - c->beta1), a2 = (float)(1 - c->beta2);
	/* Bias corrections in double from python floats, as torch does. */
	double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
	float neg_step = (float)-(lr / bc1);
	float bc2_sqrt = (float)sqrt(bc2);
	float eps = (float)c->eps;
	size_t i = 0;
#ifdef LI_ADAM_AVX2
	if (li_cpu_isa() >= LI_ISA_AVX2)
		i = adam_avx2(n, p, g, m, v, shrink, wd, b1, a1, b2, a2, bc2_sqrt, eps, neg_step);
#endif
	for (; i < n; i++)
		adam_elem(p + i, g[i], m + i, v + i, shrink, wd, b1, a1, b2, a2, bc2_sqrt, eps, neg_step);
}

static void sgd_step(size_t n, float *restrict p, const float *restrict g, float *restrict buf,
		     const li_optim_config *c, double lr, bool first)
{
	float wd = (float)c->weight_decay, mom = (float)c->momentum;
	float keep = (float)(1 - c->dampening), neg_lr = (float)-lr;
	if (!buf) {
		for (size_t i = 0; i < n; i++)
			p[i] = FMA(FMA(p[i], wd, g[i]), neg_lr, p[i]);
		return;
	}
	/* torch starts the buffer as a copy of the first gradient, undamped. */
	if (first) {
		for (size_t i = 0; i < n; i++) {
			float d = FMA(p[i], wd, g[i]);
			buf[i] = d;
			p[i] = FMA(c->nesterov ? FMA(d, mom, d) : d, neg_lr, p[i]);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		float d = FMA(p[i], wd, g[i]);
		float b = FMA(d, keep, buf[i] * mom);
		buf[i] = b;
		p[i] = FMA(c->nesterov ? FMA(b, mom, d) : b, neg_lr, p[i]);
	}
}

void li_optim_step(li_optim *o, float *params, const float *grads, double lr)
{
	LI_ASSERT(lr >= 0);
	o->steps++;
	if (o->cfg.kind == LI_OPTIM_SGD)
		sgd_step(o->n, params, grads, o->s0, &o->cfg, lr, o->steps == 1);
	else
		adam_step(o->n, params, grads, o->s0, o->s1, &o->cfg, lr, o->steps);
}

int64_t li_optim_steps(const li_optim *o) { return o->steps; }

void li_optim_set_steps(li_optim *o, int64_t steps)
{
	LI_ASSERT(steps >= 0);
	o->steps = steps;
}

float *li_optim_state(li_optim *o, int which)
{
	LI_ASSERT(which == 0 || which == 1);
	return which == 0 ? o->s0 : o->s1;
}

size_t li_optim_size(const li_optim *o) { return o->n; }

/* Half a cosine from base (u = 0) to min (u = period). */
static double cosine(double base, double min, double u, double period)
{
	return min + (base - min) * (1 + cos(M_PI * u / period)) / 2;
}

double li_sched_lr(const li_sched *s, int64_t t)
{
	if (t < 0)
		t = 0;
	if (s->warmup > 0 && t < s->warmup) {
		double f = s->warmup_start > 0 ? s->warmup_start : 1.0 / (double)s->warmup;
		return s->base_lr * (f + (1 - f) * (double)t / (double)s->warmup);
	}
	if (s->warmup > 0)
		t -= s->warmup;
	switch (s->kind) {
	case LI_SCHED_COSINE:
		if (s->t_max <= 0)
			return s->base_lr;
		return cosine(s->base_lr, s->min_lr, (double)t, (double)s->t_max);
	case LI_SCHED_COSINE_RESTART:
		if (s->t_max <= 0)
			return s->base_lr;
		return cosine(s->base_lr, s->min_lr, (double)(t % s->t_max), (double)s->t_max);
	case LI_SCHED_CONSTANT:
	default:
		return s->base_lr;
	}
}
