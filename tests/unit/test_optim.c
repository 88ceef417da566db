/* test_optim.c: optimizers and LR schedules against torch 1.13.
 *
 * tests/fixtures/torch/optim.safetensors (written by gen_torch_fixtures.py)
 * holds 257 parameters, five gradient vectors and five learning rates; for
 * each optimizer case its hyper-parameters (F64 "<case>.hparams") and torch's
 * parameters after every step, plus the learning rates torch's schedulers
 * give step by step ("sched.<case>.lr"). The cases are found by name, so a
 * case added to the generator is tested without editing this file. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "li_error.h"
#include "li_optim.h"
#include "li_safetensors.h"
#include "tap.h"

#define FIXTURE "tests/fixtures/torch/optim.safetensors"
#define NSTEPS 5

/* Norm-wise relative error: max |a - b| / max |b| (how far the whole tensor is off). */
static double rel_err(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		num = fmax(num, fabs((double)a[i] - b[i]));
		den = fmax(den, fabs((double)b[i]));
	}
	return den > 0 ? num / den : num;
}

/* A float64 tensor of exactly n values, read raw (li_st_read_f32 would round). */
static int read_f64(const li_st *st, const char *name, size_t n, double *out)
{
	const li_st_info *t = li_st_find(st, name);
	if (!t)
		return li_error("tensor '%s' is missing", name);
	if (t->dtype != LI_DT_F64 || t->numel != n)
		return li_error("tensor '%s' is not %zu float64 values", name, n);
	memcpy(out, li_st_data(st, t), n * sizeof *out);
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_optimizer_case(const li_st *st, const char *name, size_t n, const float *p0,
				const float *grads, const double *lrs)
{
	char key[96];
	double h[8];
	snprintf(key, sizeof key, "%s.hparams", name);
	if (!ok(read_f64(st, key, 8, h) == 0, "%s: hyper-parameters", name)) {
		diag("%s", li_errmsg());
		return;
	}
	li_optim_config cfg;
	li_optim_config_default(&cfg, (li_optim_kind)(int)h[0]);
	cfg.beta1 = h[1], cfg.beta2 = h[2], cfg.eps = h[3], cfg.weight_decay = h[4];
	cfg.momentum = h[5], cfg.dampening = h[6], cfg.nesterov = h[7] != 0;

	float *want = li_malloc_array(NSTEPS * n, sizeof(float));
	float *s0 = li_malloc_array(n, sizeof(float)), *s1 = li_malloc_array(n, sizeof(float));
	float *p = li_malloc_array(n, sizeof(float));
	li_optim *o = li_optim_new(&cfg, n);
	int64_t shape[2] = {NSTEPS, (int64_t)n};
	snprintf(key, sizeof key, "%s.params", name);
	int rc = li_st_read_f32(st, key, 2, shape, want);
	snprintf(key, sizeof key, "%s.state0", name);
	rc |= li_st_read_f32(st, key, 1, shape + 1, s0);
	snprintf(key, sizeof key, "%s.state1", name);
	rc |= li_st_read_f32(st, key, 1, shape + 1, s1);
	if (!ok(rc == 0 && o && want && p && s0 && s1, "%s: fixture read, optimizer built", name)) {
		diag("%s", li_errmsg());
		goto out;
	}
	memcpy(p, p0, n * sizeof *p);
	double worst = 0;
	int worst_step = 0;
	for (int s = 0; s < NSTEPS; s++) {
		li_optim_step(o, p, grads + s * n, lrs[s]);
		double e = rel_err(p, want + s * n, n);
		if (e > worst)
			worst = e, worst_step = s + 1;
	}
	if (!ok(worst <= 1e-6, "%s: parameters after each of %d steps within 1e-6 of torch", name, NSTEPS))
		diag("relative error %.3g at step %d", worst, worst_step);
	size_t exact = 0;
	for (size_t i = 0; i < n; i++)
		exact += p[i] == want[(NSTEPS - 1) * n + i];
	diag("%s: max relative error %.3g, %zu of %zu parameters bit-identical", name, worst, exact, n);
	is_int(li_optim_steps(o), NSTEPS, "%s: step count", name);

	/* The state a checkpoint would save: exp_avg/exp_avg_sq, or the momentum buffer. */
	const float *st0 = li_optim_state(o, 0), *st1 = li_optim_state(o, 1);
	bool sgd = cfg.kind == LI_OPTIM_SGD;
	if (sgd && cfg.momentum == 0) {
		ok(!st0 && !st1, "%s: no state without momentum", name);
	} else {
		double e0 = st0 ? rel_err(st0, s0, n) : 1, e1 = sgd ? (st1 ? 1 : 0) : (st1 ? rel_err(st1, s1, n) : 1);
		if (!ok(e0 <= 1e-6 && e1 <= 1e-6, "%s: optimizer state matches torch's", name))
			diag("state errors %.3g %.3g", e0, e1);
	}
out:
	li_optim_free(o);
	free(want), free(s0), free(s1), free(p);
}

/* Stopping after k steps, copying the state into a fresh optimizer and
 * going on must give bit-identical parameters (what a resumed run relies on). */
static void test_resume(li_optim_kind kind, double momentum, const char *what)
{
	enum { N = 37 };
	float pa[N], pb[N], g[N];
	li_optim_config cfg;
	li_optim_config_default(&cfg, kind);
	cfg.momentum = momentum;
	cfg.weight_decay = 1e-3;
	li_optim *a = li_optim_new(&cfg, N), *b = li_optim_new(&cfg, N);
	for (int i = 0; i < N; i++)
		pa[i] = pb[i] = (float)sin(i + 1.0);
	for (int s = 0; s < 6; s++) {
		for (int i = 0; i < N; i++)
			g[i] = (float)cos(i * (s + 2.0));
		li_optim_step(a, pa, g, 1e-2);
		if (s < 3) {
			li_optim_step(b, pb, g, 1e-2);
			continue;
		}
		if (s == 3) { /* "save" b after three steps and "load" into c */
			li_optim *c = li_optim_new(&cfg, N);
			li_optim_set_steps(c, li_optim_steps(b));
			for (int w = 0; w < 2; w++)
				if (li_optim_state(b, w))
					memcpy(li_optim_state(c, w), li_optim_state(b, w), N * sizeof(float));
			li_optim_free(b);
			b = c;
		}
		li_optim_step(b, pb, g, 1e-2);
	}
	ok(memcmp(pa, pb, sizeof pa) == 0 && li_optim_size(b) == N, "%s: resumed run is bit-identical", what);
	li_optim_free(a);
	li_optim_free(b);
}

/* Element i must get the same bits whether it falls in the SIMD body or the scalar tail. */
static void test_tail_consistency(li_optim_kind kind)
{
	enum { N = 11 };
	float p1[N], p2[N], g1[N], g2[N];
	li_optim_config cfg;
	li_optim_config_default(&cfg, kind);
	cfg.weight_decay = 0.05;
	li_optim *a = li_optim_new(&cfg, N), *b = li_optim_new(&cfg, N);
	for (int i = 0; i < N; i++)
		p1[i] = (float)(0.3 * i - 1.1), g1[i] = (float)(0.01 * (i - 5) * (i % 3 + 1));
	for (int i = 0; i < N; i++) /* rotated: the first eight move into the tail */
		p2[(i + 8) % N] = p1[i], g2[(i + 8) % N] = g1[i];
	for (int s = 0; s < 3; s++) {
		li_optim_step(a, p1, g1, 1e-2);
		li_optim_step(b, p2, g2, 1e-2);
	}
	int same = 1;
	for (int i = 0; i < N; i++)
		same &= p2[(i + 8) % N] == p1[i];
	ok(same, "%s: SIMD body and scalar tail agree bit for bit", kind == LI_OPTIM_ADAM ? "adam" : "adamw");
	li_optim_free(a);
	li_optim_free(b);
}

static void test_schedules(const li_st *st)
{
	int cases = 0;
	for (int i = 0; i < li_st_count(st); i++) {
		const char *name = li_st_at(st, i)->name;
		if (strncmp(name, "sched.", 6) != 0 || !ends_with(name, ".hparams"))
			continue;
		char base[64], key[96];
		snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 6 - 8), name + 6);
		double h[6];
		if (!ok(read_f64(st, name, 6, h) == 0, "schedule %s: parameters", base))
			continue;
		li_sched s = {.kind = (li_sched_kind)(int)h[0], .base_lr = h[1], .min_lr = h[2],
			      .t_max = (int64_t)h[3], .warmup = (int64_t)h[4], .warmup_start = h[5]};
		snprintf(key, sizeof key, "sched.%s.lr", base);
		const li_st_info *t = li_st_find(st, key);
		if (!ok(t && t->dtype == LI_DT_F64 && t->ndim == 1, "schedule %s: torch's values", base))
			continue;
		size_t n = t->numel;
		double *want = li_malloc_array(n, sizeof(double));
		read_f64(st, key, n, want);
		double worst = 0;
		size_t at = 0;
		for (size_t k = 0; k < n; k++) {
			double got = li_sched_lr(&s, (int64_t)k);
			/* relative, with an absolute floor for values that are exactly eta_min = 0 */
			double e = fabs(got - want[k]) / fmax(fabs(want[k]), 1e-12);
			if (e > worst)
				worst = e, at = k;
		}
		if (!ok(worst <= 1e-6, "schedule %s: %zu values within 1e-6 relative of torch", base, n))
			diag("relative error %.3g at unit %zu: got %.9g, want %.9g", worst, at,
			     li_sched_lr(&s, (int64_t)at), want[at]);
		free(want);
		cases++;
	}
	ok(cases >= 6, "%d schedule cases in the fixture", cases);

	li_sched c = {.kind = LI_SCHED_CONSTANT, .base_lr = 3e-4};
	ok(li_sched_lr(&c, 0) == 3e-4 && li_sched_lr(&c, 1000000) == 3e-4, "constant schedule");
	li_sched w = {.kind = LI_SCHED_COSINE, .base_lr = 1e-3, .t_max = 10, .warmup = 4};
	is_close(li_sched_lr(&w, 0) / 1e-3, 0.25, 1e-12, "warm-up starts at base_lr / warmup by default");
	is_close(li_sched_lr(&w, 4) / 1e-3, 1.0, 1e-12, "cosine starts at base_lr after the warm-up");
	is_close(li_sched_lr(&w, 14), 0.0, 1e-15, "and reaches min_lr t_max units later");
}

int main(void)
{
	li_optim_config cfg;
	li_optim_config_default(&cfg, LI_OPTIM_ADAM);
	ok(cfg.beta1 == 0.9 && cfg.beta2 == 0.999 && cfg.eps == 1e-8 && cfg.weight_decay == 0,
	   "Adam defaults as torch");
	li_optim_config_default(&cfg, LI_OPTIM_ADAMW);
	ok(cfg.weight_decay == 0.01, "AdamW default weight decay as torch");

	li_optim_config_default(&cfg, LI_OPTIM_SGD);
	cfg.nesterov = true;
	ok(li_optim_new(&cfg, 10) == NULL, "nesterov without momentum refused");
	is_str(li_errmsg(), "nesterov momentum requires a momentum and zero dampening", "its message");
	li_optim_config_default(&cfg, LI_OPTIM_ADAM);
	cfg.beta2 = 1.0;
	ok(li_optim_new(&cfg, 10) == NULL, "beta2 = 1 refused");
	is_str(li_errmsg(), "invalid betas (0.9, 1): each must be in [0, 1)", "its message");

	li_st *st = li_st_open(FIXTURE);
	if (!ok(st != NULL, "open %s", FIXTURE)) {
		diag("%s", li_errmsg());
		return done_testing();
	}
	const li_st_info *pi = li_st_find(st, "params0");
	size_t n = pi ? pi->numel : 0;
	float *p0 = li_malloc_array(n ? n : 1, sizeof(float));
	float *grads = li_malloc_array(NSTEPS * (n ? n : 1), sizeof(float));
	double lrs[NSTEPS];
	int64_t shape[2] = {NSTEPS, (int64_t)n};
	int rc = n ? 0 : -1;
	rc |= li_st_read_f32(st, "params0", 1, shape + 1, p0);
	rc |= li_st_read_f32(st, "grads", 2, shape, grads);
	rc |= read_f64(st, "lrs", NSTEPS, lrs);
	if (ok(rc == 0 && n % 8 != 0, "fixture inputs (%zu parameters: the scalar tail runs too)", n)) {
		int cases = 0;
		for (int i = 0; i < li_st_count(st); i++) {
			const char *name = li_st_at(st, i)->name;
			if (strncmp(name, "sched.", 6) == 0 || !ends_with(name, ".hparams"))
				continue;
			char base[64];
			snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 8), name);
			test_optimizer_case(st, base, n, p0, grads, lrs);
			cases++;
		}
		ok(cases >= 6, "%d optimizer cases in the fixture", cases);
	} else {
		diag("%s", li_errmsg());
	}
	test_schedules(st);
	test_resume(LI_OPTIM_ADAM, 0, "adam");
	test_resume(LI_OPTIM_SGD, 0.9, "sgd momentum");
	test_tail_consistency(LI_OPTIM_ADAM);
	test_tail_consistency(LI_OPTIM_ADAMW);
	free(p0);
	free(grads);
	li_st_close(st);
	return done_testing();
}
