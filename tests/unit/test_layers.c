/* test_layers.c: finite-difference gradient checks for every primitive layer
 * (conv variants, batch norm with and without ReLU, ReLU, max pool, average
 * pool, linear, softmax cross-entropy with weights and smoothing), the
 * cross-entropy value against its definition, and the BN running statistics
 * against PyTorch's update formula.
 *
 * Each check uses the scalar L = sum(y * r) for a fixed random r, computed in
 * double; central differences of L in the inputs and parameters are compared
 * with the analytic gradients. Inputs are kept away from the kinks of ReLU and
 * max so the differences are smooth. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "li_error.h"
#include "li_net.h"
#include "li_nn.h"
#include "li_rng.h"
#include "tap.h"

static li_rng rng;

static void fill(float *a, size_t n, double scale)
{
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(scale * li_rng_normal(&rng));
}

/* A forward under test: computes ctx's output from its current inputs. */
typedef struct check {
	void (*forward)(struct check *c);
	float *y, *r;
	size_t ny;
	void *ctx;
} check;

static double objective(check *c)
{
	c->forward(c);
	double s = 0;
	for (size_t i = 0; i < c->ny; i++)
		s += (double)c->y[i] * c->r[i];
	return s;
}

/* Compare grad (analytic) with central differences of the objective in p. */
static void grad_check(check *c, const char *what, float *p, const float *grad, size_t n, double h,
		       double tol)
{
	double worst = 0;
	size_t worst_i = 0;
	double worst_num = 0;
	size_t stride = n > 60 ? n / 60 : 1; /* sample big tensors */
	for (size_t i = 0; i < n; i += stride) {
		float v = p[i];
		p[i] = (float)(v + h);
		double lp = objective(c);
		p[i] = (float)(v - h);
		double lm = objective(c);
		p[i] = v;
		double num = (lp - lm) / (2 * h);
		double err = fabs(num - grad[i]) / fmax(1.0, fabs(num));
		if (err > worst) {
			worst = err;
			worst_i = i;
			worst_num = num;
		}
	}
	objective(c);
	if (!ok(worst <= tol, "%s: gradient matches finite differences", what))
		diag("element %zu: analytic %.6g, numeric %.6g (error %.3g)", worst_i, grad[worst_i],
		     worst_num, worst);
}

/* ---- convolution ---- */

typedef struct conv_ctx {
	li_conv conv;
	float *x, *col;
	int n, h, w;
	size_t col_floats;
	li_pool *pool;
} conv_ctx;

static void conv_fwd(check *c)
{
	conv_ctx *k = c->ctx;
	li_conv_forward(&k->conv, k->conv.w, k->x, k->n, k->h, k->w, c->y, 0.0f, k->col,
			k->col_floats, k->pool);
	if (k->conv.b) {
		int oh, ow;
		li_conv_out_hw(&k->conv, k->h, k->w, &oh, &ow);
		li_bias_act(c->y, k->conv.cout, (size_t)k->n * oh * ow, k->conv.b, NULL, false, k->pool);
	}
}

static void test_conv(li_pool *pool, int cin, int cout, int ksz, int stride, int pad, bool bias,
		      int n, int h, int w)
{
	conv_ctx k = {.conv = {.cin = cin, .cout = cout, .kh = ksz, .kw = ksz, .stride = stride,
			       .pad = pad},
		      .n = n, .h = h, .w = w, .pool = pool};
	int oh, ow;
	li_conv_out_hw(&k.conv, h, w, &oh, &ow);
	size_t nx = (size_t)cin * n * h * w, nw = (size_t)cout * cin * ksz * ksz;
	size_t ny = (size_t)cout * n * oh * ow;
	/* a budget of one image forces several chunks */
	k.col_floats = li_conv_col_floats(&k.conv, n, h, w, 1);
	float *x = li_calloc(nx, 4), *dx = li_calloc(nx, 4), *wt = li_calloc(nw, 4);
	float *dw = li_calloc(nw, 4), *b = li_calloc(cout, 4), *db = li_calloc(cout, 4);
	float *y = li_calloc(ny, 4), *r = li_calloc(ny, 4), *col = li_calloc(k.col_floats + 1, 4);
	fill(x, nx, 1.0);
	fill(wt, nw, 0.5);
	fill(b, cout, 0.5);
	fill(r, ny, 1.0);
	k.x = x;
	k.col = col;
	k.conv.w = wt;
	k.conv.dw = dw;
	if (bias) {
		k.conv.b = b;
		k.conv.db = db;
	}
	check c = {.forward = conv_fwd, .y = y, .r = r, .ny = ny, .ctx = &k};
	objective(&c);
	/* dx with add: start from ones, so the result must be 1 + true gradient */
	for (size_t i = 0; i < nx; i++)
		dx[i] = 1.0f;
	li_conv_backward(&k.conv, x, n, h, w, r, dx, true, col, k.col_floats, pool);
	for (size_t i = 0; i < nx; i++)
		dx[i] -= 1.0f;
	char name[96];
	snprintf(name, sizeof name, "conv %dx%d/%d pad %d%s, %d->%d, %dx%d batch %d: dx (added)", ksz,
		 ksz, stride, pad, bias ? " bias" : "", cin, cout, h, w, n);
	grad_check(&c, name, x, dx, nx, 1e-2, 2e-3);
	snprintf(name, sizeof name, "conv %dx%d/%d pad %d%s: dW", ksz, ksz, stride, pad,
		 bias ? " bias" : "");
	grad_check(&c, name, wt, dw, nw, 1e-2, 2e-3);
	if (bias)
		grad_check(&c, "conv bias: db", b, db, cout, 1e-2, 2e-3);
	/* overwrite mode gives the same dx as add mode minus the start value */
	float *dx2 = li_calloc(nx, 4);
	for (size_t i = 0; i < nx; i++)
		dx2[i] = 123.0f;
	li_conv_backward(&k.conv, x, n, h, w, r, dx2, false, col, k.col_floats, pool);
	double diff = 0;
	for (size_t i = 0; i < nx; i++)
		diff = fmax(diff, fabs(dx2[i] - dx[i]));
	ok(diff < 1e-4, "conv %dx%d/%d: dx overwrite equals dx add (max diff %g)", ksz, ksz, stride,
	   diff);
	free(dx2);
	free(x);
	free(dx);
	free(wt);
	free(dw);
	free(b);
	free(db);
	free(y);
	free(r);
	free(col);
}

/* ---- batch norm ---- */

typedef struct bn_ctx {
	li_bn bn;
	float *x, *add;
	int n, hw;
	bool relu;
	li_pool *pool;
} bn_ctx;

static void bn_fwd(check *c)
{
	bn_ctx *k = c->ctx;
	li_bn_forward(&k->bn, k->x, k->n, k->hw, c->y, k->add, k->relu, true, false, k->pool);
}

static void test_bn(li_pool *pool, bool relu)
{
	int ch = 3, n = 3, hw = 5;
	size_t m = (size_t)ch * n * hw;
	bn_ctx k = {.n = n, .hw = hw, .relu = relu, .pool = pool};
	float st[8][3];
	int64_t nbt = 0;
	li_bn *bn = &k.bn;
	bn->c = ch;
	bn->gamma = st[0], bn->beta = st[1], bn->dgamma = st[2], bn->dbeta = st[3];
	bn->running_mean = st[4], bn->running_var = st[5];
	float saved[4][3];
	bn->mean = saved[0], bn->invstd = saved[1], bn->scale = saved[2], bn->shift = saved[3];
	bn->num_batches_tracked = &nbt;
	fill(bn->gamma, 3, 1.0);
	fill(bn->beta, 3, 0.5);
	memset(st[2], 0, sizeof st[2]);
	memset(st[3], 0, sizeof st[3]);
	float x[45], y[45], r[45], dx[45];
	for (size_t i = 0; i < m; i++) /* offsets per channel: the mean must matter */
		x[i] = (float)(li_rng_normal(&rng) + (double)(i / (n * hw)));
	fill(r, m, 1.0);
	k.x = x;
	check c = {.forward = bn_fwd, .y = y, .r = r, .ny = m, .ctx = &k};
	objective(&c);
	li_bn_backward(bn, x, n, hw, r, dx, relu, pool);
	const char *tag = relu ? "bn+relu (train)" : "bn (train)";
	char name[64];
	snprintf(name, sizeof name, "%s: dx", tag);
	grad_check(&c, name, x, dx, m, 1e-3, 5e-3);
	snprintf(name, sizeof name, "%s: dgamma", tag);
	grad_check(&c, name, bn->gamma, bn->dgamma, 3, 1e-3, 5e-3);
	snprintf(name, sizeof name, "%s: dbeta", tag);
	grad_check(&c, name, bn->beta, bn->dbeta, 3, 1e-3, 5e-3);
	/* in-place backward (dx aliasing dy) gives the same result */
	float g[45];
	memcpy(g, r, sizeof g);
	li_bn_backward(bn, x, n, hw, g, g, relu, pool);
	ok(memcmp(g, dx, sizeof g) == 0, "%s: in-place backward identical", tag);
	is_int(nbt, 0, "%s: update_running false leaves num_batches_tracked", tag);
}

static void test_bn_running(li_pool *pool)
{
	int ch = 2, n = 4, hw = 3;
	size_t m = (size_t)n * hw;
	float gamma[2] = {1, 1}, beta[2] = {0, 0}, rm[2] = {0.5f, -1}, rv[2] = {2, 0.5f};
	float saved[4][2], x[24], y[24];
	int64_t nbt = 7;
	li_bn bn = {.c = ch, .gamma = gamma, .beta = beta, .running_mean = rm, .running_var = rv,
		    .num_batches_tracked = &nbt, .mean = saved[0], .invstd = saved[1],
		    .scale = saved[2], .shift = saved[3]};
	fill(x, 24, 2.0);
	float rm0[2] = {rm[0], rm[1]}, rv0[2] = {rv[0], rv[1]};
	li_bn_forward(&bn, x, n, hw, y, NULL, false, true, true, pool);
	for (int c = 0; c < ch; c++) {
		double mu = 0, q = 0;
		for (size_t i = 0; i < m; i++)
			mu += x[c * m + i];
		mu /= (double)m;
		for (size_t i = 0; i < m; i++)
			q += (x[c * m + i] - mu) * (x[c * m + i] - mu);
		is_close(rm[c], 0.9 * rm0[c] + 0.1 * mu, 1e-6, "running_mean[%d] = 0.9 rm + 0.1 mean", c);
		is_close(rv[c], 0.9 * rv0[c] + 0.1 * q / (double)(m - 1), 1e-6,
			 "running_var[%d] = 0.9 rv + 0.1 unbiased var", c);
		/* the normalised output uses the biased variance */
		is_close(y[c * m], (x[c * m] - mu) / sqrt(q / (double)m + 1e-5), 1e-5,
			 "train output normalised with the biased variance [%d]", c);
	}
	is_int(nbt, 8, "num_batches_tracked incremented");
	/* eval uses the running statistics and changes nothing */
	float rm1 = rm[0];
	li_bn_forward(&bn, x, n, hw, y, NULL, false, false, false, pool);
	is_close(y[0], (x[0] - rm[0]) / sqrt(rv[0] + 1e-5), 1e-5, "eval output uses running stats");
	ok(rm[0] == rm1 && nbt == 8, "eval leaves the running statistics");
}

/* ---- relu, max pool, avg pool, fc ---- */

typedef struct simple_ctx {
	float *x;
	int a, b, c, d;
	li_fc *fc;
	li_pool *pool;
} simple_ctx;

static void relu_fwd(check *c)
{
	simple_ctx *k = c->ctx;
	li_relu_forward(k->x, c->ny, c->y, k->pool);
}

static void maxpool_fwd(check *c)
{
	simple_ctx *k = c->ctx;
	li_maxpool_forward(k->x, k->a, k->b, k->c, 3, 2, 1, c->y, NULL, k->pool);
}

static void avgpool_fwd(check *c)
{
	simple_ctx *k = c->ctx;
	li_avgpool_forward(k->x, k->a, k->b, k->c, c->y);
}

static void fc_fwd(check *c)
{
	simple_ctx *k = c->ctx;
	li_fc_forward(k->fc, k->x, k->a, c->y);
}

static void test_simple(li_pool *pool)
{
	float x[200], y[200], r[200], dx[200];
	simple_ctx k = {.x = x, .pool = pool};
	/* relu: inputs at least 0.05 from zero */
	for (int i = 0; i < 100; i++) {
		double v = li_rng_normal(&rng);
		x[i] = (float)(v + (v > 0 ? 0.05 : -0.05));
	}
	fill(r, 100, 1.0);
	check c = {.forward = relu_fwd, .y = y, .r = r, .ny = 100, .ctx = &k};
	objective(&c);
	li_relu_backward(y, 100, r, dx, pool);
	grad_check(&c, "relu: dx", x, dx, 100, 1e-3, 1e-4);

	/* max pool 3x3/2 pad 1 on 2 planes of 7x6: distinct values 0.1 apart */
	int planes = 2, h = 7, w = 6, oh, ow;
	li_maxpool_out_hw(h, w, 3, 2, 1, &oh, &ow);
	is_int(oh * 10 + ow, 43, "maxpool 7x6 -> 4x3");
	int np = planes * h * w;
	for (int i = 0; i < np; i++)
		x[i] = (float)(0.1 * ((i * 37) % np) - 2);
	uint8_t am[64];
	int ny = planes * oh * ow;
	fill(r, ny, 1.0);
	k.a = planes, k.b = h, k.c = w;
	c = (check){.forward = maxpool_fwd, .y = y, .r = r, .ny = ny, .ctx = &k};
	li_maxpool_forward(x, planes, h, w, 3, 2, 1, y, am, pool);
	li_maxpool_backward(r, am, planes, h, w, 3, 2, 1, dx, pool);
	grad_check(&c, "maxpool 3x3/2 pad 1: dx", x, dx, np, 1e-3, 1e-4);

	/* global average pool: C=3, N=2, 4 values per plane */
	fill(x, 24, 1.0);
	fill(r, 6, 1.0);
	k.a = 3, k.b = 2, k.c = 4;
	c = (check){.forward = avgpool_fwd, .y = y, .r = r, .ny = 6, .ctx = &k};
	objective(&c);
	li_avgpool_backward(r, 3, 2, 4, dx);
	grad_check(&c, "avgpool: dx", x, dx, 24, 1e-2, 1e-4);

	/* linear 5 -> 3, batch 4 */
	float wt[15], b[3], dw[15] = {0}, db[3] = {0};
	li_fc fc = {.in = 5, .out = 3, .w = wt, .b = b, .dw = dw, .db = db};
	fill(wt, 15, 1.0);
	fill(b, 3, 1.0);
	fill(x, 20, 1.0);
	fill(r, 12, 1.0);
	k.a = 4;
	k.fc = &fc;
	c = (check){.forward = fc_fwd, .y = y, .r = r, .ny = 12, .ctx = &k};
	objective(&c);
	li_fc_backward(&fc, x, 4, r, dx);
	grad_check(&c, "fc: dx", x, dx, 20, 1e-2, 1e-4);
	grad_check(&c, "fc: dW", wt, dw, 15, 1e-2, 1e-4);
	grad_check(&c, "fc: db", b, db, 3, 1e-2, 1e-4);
}

/* ---- softmax cross-entropy ---- */

typedef struct xent_ctx {
	float *z;
	int *labels, n, classes;
	li_loss_config cfg;
	double loss;
} xent_ctx;

static void xent_fwd(check *c)
{
	xent_ctx *k = c->ctx;
	k->loss = li_softmax_xent(k->z, k->labels, k->n, k->classes, &k->cfg, NULL);
	c->y[0] = (float)k->loss;
}

/* The definition, written out: weighted NLL of log_softmax plus the smoothing term. */
static double xent_reference(const float *z, const int *t, int n, int k, const float *w, double e)
{
	double nll = 0, smooth = 0, wsum = 0;
	for (int i = 0; i < n; i++) {
		double lp[8], mx = -INFINITY, se = 0;
		for (int c = 0; c < k; c++)
			mx = fmax(mx, z[i * k + c]);
		for (int c = 0; c < k; c++)
			se += exp(z[i * k + c] - mx);
		for (int c = 0; c < k; c++)
			lp[c] = z[i * k + c] - mx - log(se);
		double wt = w ? w[t[i]] : 1;
		/* lp[0..k) was just filled and t[i] < k; cppcheck cannot see the bound */
		// cppcheck-suppress uninitvar
		nll -= wt * lp[t[i]];
		wsum += wt;
		for (int c = 0; c < k; c++)
			smooth -= (w ? w[c] : 1) * lp[c];
	}
	return (1 - e) * nll / wsum + e / k * smooth / wsum;
}

static void test_xent(void)
{
	int n = 5, classes = 3, labels[5] = {0, 2, 1, 2, 2};
	float z[15], dz[15], y[1], r[1] = {1};
	float w[3] = {0.5f, 2.0f, 1.25f};
	fill(z, 15, 2.0);
	const struct {
		const float *w;
		float e;
		const char *name;
	} cases[] = {{NULL, 0, "plain"}, {w, 0, "weighted"}, {NULL, 0.1f, "smoothed"},
		     {w, 0.2f, "weighted+smoothed"}};
	for (size_t i = 0; i < LI_ARRAY_LEN(cases); i++) {
		xent_ctx k = {.z = z, .labels = labels, .n = n, .classes = classes,
			      .cfg = {.class_weights = cases[i].w, .label_smoothing = cases[i].e}};
		double loss = li_softmax_xent(z, labels, n, classes, &k.cfg, dz);
		is_close(loss, xent_reference(z, labels, n, classes, cases[i].w, cases[i].e), 1e-12,
			 "cross-entropy %s: value matches the definition", cases[i].name);
		check c = {.forward = xent_fwd, .y = y, .r = r, .ny = 1, .ctx = &k};
		char name[64];
		snprintf(name, sizeof name, "cross-entropy %s: dlogits", cases[i].name);
		grad_check(&c, name, z, dz, 15, 1e-3, 2e-4);
	}
}

/* Max pool against a direct loop over each window in raster order (first
 * maximum wins, a NaN wins and a later NaN replaces it, padding never wins),
 * for values with ties, -inf and NaN, on the stride-2 path (even/odd
 * columns), its fallback for rows wider than its buffers, and stride 1 and 3
 * (the general loop). Values and argmax must be identical. */
static void test_maxpool_ref(li_pool *pool, int planes, int h, int w, int k, int s, int p)
{
	int oh, ow;
	li_maxpool_out_hw(h, w, k, s, p, &oh, &ow);
	size_t nx = (size_t)planes * h * w, ny = (size_t)planes * oh * ow;
	float *x = li_malloc_array(nx, 4), *y = li_malloc_array(ny, 4);
	uint8_t *am = li_malloc_array(ny, 1);
	for (size_t i = 0; i < nx; i++) {
		int r = (int)(li_rng_uniform(&rng) * 40);
		x[i] = r == 0 ? NAN : r == 1 ? -INFINITY : (float)(r % 7); /* many ties */
	}
	li_maxpool_forward(x, planes, h, w, k, s, p, y, am, pool);
	int bad = 0;
	for (int c = 0; c < planes && !bad; c++)
		for (int o = 0; o < oh; o++)
			for (int q = 0; q < ow; q++) {
				float best = -INFINITY;
				int arg = -1;
				for (int a = 0; a < k; a++)
					for (int b = 0; b < k; b++) {
						int i = o * s - p + a, jj = q * s - p + b;
						if (i < 0 || i >= h || jj < 0 || jj >= w)
							continue;
						float v = x[((size_t)c * h + i) * w + jj];
						if (arg < 0 || v > best || v != v)
							best = v, arg = a * k + b;
					}
				size_t at = ((size_t)c * oh + o) * ow + q;
				bool same = (best != best) ? (y[at] != y[at]) : y[at] == best;
				if (!same || am[at] != arg)
					bad++;
			}
	ok(bad == 0, "maxpool %dx%d/%d pad %d on %dx%d (%d planes) equals the direct loop, argmax too", k,
	   k, s, p, h, w, planes);
	free(x), free(y), free(am);
}

int main(void)
{
	li_rng_seed(&rng, 1234);
	li_pool *pools[2] = {li_pool_new(1), li_pool_new(2)};
	ok(pools[0] && pools[1], "thread pools");
	for (int t = 0; t < 2; t++) {
		li_pool *p = pools[t];
		diag("pool with %d thread(s)", t + 1);
		test_conv(p, 3, 4, 3, 1, 1, true, 2, 6, 5);
		test_conv(p, 2, 3, 3, 2, 1, false, 3, 7, 8);
		test_conv(p, 3, 4, 1, 2, 0, false, 2, 6, 7);
		test_conv(p, 3, 2, 1, 1, 0, true, 2, 4, 5);
		test_conv(p, 2, 3, 7, 2, 3, false, 2, 9, 8);
		test_conv(p, 2, 2, 5, 3, 0, true, 2, 11, 9);
		test_bn(p, false);
		test_bn(p, true);
		test_bn_running(p);
		test_simple(p);
		test_maxpool_ref(p, 3, 7, 6, 3, 2, 1);
		test_maxpool_ref(p, 2, 8, 9, 3, 2, 1);
		test_maxpool_ref(p, 2, 5, 5, 2, 2, 0);
		test_maxpool_ref(p, 2, 6, 7, 2, 2, 1);
		test_maxpool_ref(p, 2, 9, 37, 3, 2, 1);   /* 19 outputs a row: 8-lane selects */
		test_maxpool_ref(p, 2, 6, 40, 2, 2, 0);
		test_maxpool_ref(p, 1, 3, 2101, 3, 2, 1); /* wider than the stride-2 buffers */
		test_maxpool_ref(p, 2, 6, 5, 3, 1, 1);
		test_maxpool_ref(p, 2, 9, 10, 3, 3, 2);
		test_maxpool_ref(p, 1, 1, 1, 3, 2, 1);
	}
	test_xent();
	li_pool_free(pools[0]);
	li_pool_free(pools[1]);
	return done_testing();
}
