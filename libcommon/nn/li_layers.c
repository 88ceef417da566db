/* li_layers.c: batch norm, ReLU, max pool, global average pool, linear and
 * softmax cross-entropy, each forward next to its backward. Per-channel work is
 * split over channels (one writer per channel, fixed summation order), so the
 * results do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"
#include "li_net.h"
#include "li_nn.h"

/* ---- batch norm ---- */

/* Channel sums are taken 8 lanes at a time (GCC vector extension) in float
 * over short blocks, each block's sum then added in double: vectorised, and
 * as accurate as a double sum for these lengths. The order is fixed, so the
 * result does not depend on threads. */
typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
#define SUM_BLOCK 256

LI_INLINE double hsum(const v8 *v)
{
	float t[8];
	memcpy(t, v, sizeof t);
	return ((double)t[0] + t[1] + t[2] + t[3]) + ((double)t[4] + t[5] + t[6] + t[7]);
}

LI_INLINE void ld8(v8 *v, const float *p) { memcpy(v, p, sizeof *v); }

/* sum of x and, with mu given, of (x - mu)^2 */
LI_INLINE void row_sums(const float *x, size_t m, double mu, bool square, double *out)
{
	double tot = 0;
	size_t i = 0;
	v8 vmu = {0};
	vmu += (float)mu;
	for (; i + SUM_BLOCK <= m; i += SUM_BLOCK) {
		v8 acc = {0};
		for (size_t k = i; k < i + SUM_BLOCK; k += 8) {
			v8 v;
			ld8(&v, x + k);
			if (square) {
				v -= vmu;
				acc += v * v;
			} else {
				acc += v;
			}
		}
		tot += hsum(&acc);
	}
	for (; i < m; i++) {
		double d = square ? x[i] - mu : x[i];
		tot += square ? d * d : d;
	}
	*out = tot;
}

typedef struct bn_job {
	li_bn *bn;
	const float *x, *add, *dy;
	float *y, *dx;
	size_t m;
	bool relu, batch_stats, update;
} bn_job;

LI_INLINE void bn_forward_task_body(void *ctx, int begin, int end)
{
	const bn_job *j = ctx;
	li_bn *bn = j->bn;
	size_t m = j->m;
	for (int c = begin; c < end; c++) {
		const float *x = j->x + (size_t)c * m;
		float mean, invstd;
		if (j->batch_stats) {
			/* Two passes in double: the variance of large, offset rows stays exact. */
			double s, q;
			row_sums(x, m, 0, false, &s);
			double mu = s / (double)m;
			row_sums(x, m, mu, true, &q);
			double var = q / (double)m;
			mean = (float)mu;
			invstd = (float)(1.0 / sqrt(var + LI_BN_EPS));
			bn->mean[c] = mean;
			bn->invstd[c] = invstd;
			if (j->update) {
				double unbiased = m > 1 ? q / (double)(m - 1) : var;
				bn->running_mean[c] = (float)((1.0 - LI_BN_MOMENTUM) * bn->running_mean[c] +
							      LI_BN_MOMENTUM * mu);
				bn->running_var[c] = (float)((1.0 - LI_BN_MOMENTUM) * bn->running_var[c] +
							     LI_BN_MOMENTUM * unbiased);
			}
		} else {
			mean = bn->running_mean[c];
			invstd = (float)(1.0 / sqrt((double)bn->running_var[c] + LI_BN_EPS));
		}
		float scale = bn->gamma[c] * invstd;
		float shift = bn->beta[c] - mean * scale;
		bn->scale[c] = scale;
		bn->shift[c] = shift;
		float *y = j->y + (size_t)c * m;
		const float *a = j->add ? j->add + (size_t)c * m : NULL;
		if (a && j->relu)
			for (size_t i = 0; i < m; i++) {
				float v = scale * x[i] + shift + a[i];
				y[i] = v > 0.0f ? v : 0.0f;
			}
		else if (a)
			for (size_t i = 0; i < m; i++)
				y[i] = scale * x[i] + shift + a[i];
		else if (j->relu)
			for (size_t i = 0; i < m; i++) {
				float v = scale * x[i] + shift;
				y[i] = v > 0.0f ? v : 0.0f;
			}
		else
			for (size_t i = 0; i < m; i++)
				y[i] = scale * x[i] + shift;
	}
}

LI_ISA_DISPATCH(bn_forward_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_bn_forward(li_bn *bn, const float *x, int n, int hw, float *y, const float *add, bool relu,
		   bool batch_stats, bool update_running, li_pool *pool)
{
	bn_job j = {.bn = bn, .x = x, .add = add, .y = y, .m = (size_t)n * hw, .relu = relu,
		    .batch_stats = batch_stats, .update = batch_stats && update_running};
	li_pool_run(pool, bn->c, bn_forward_task, &j);
	if (j.update)
		++*bn->num_batches_tracked;
}

LI_INLINE void bn_backward_task_body(void *ctx, int begin, int end)
{
	const bn_job *j = ctx;
	li_bn *bn = j->bn;
	size_t m = j->m;
	for (int c = begin; c < end; c++) {
		const float *x = j->x + (size_t)c * m, *dy = j->dy + (size_t)c * m;
		float *dx = j->dx + (size_t)c * m;
		float mean = bn->mean[c], invstd = bn->invstd[c];
		float scale = bn->scale[c], shift = bn->shift[c];
		double sg = 0, sgx = 0;
		size_t i = 0;
		v8 vs = {0}, vh = {0}, vm = {0}, vi = {0}, zero = {0};
		vs += scale, vh += shift, vm += mean, vi += invstd;
		for (; i + SUM_BLOCK <= m; i += SUM_BLOCK) {
			v8 a = {0}, b = {0};
			for (size_t k = i; k < i + SUM_BLOCK; k += 8) {
				v8 g, xv;
				ld8(&g, dy + k);
				ld8(&xv, x + k);
				if (j->relu) /* the ReLU mask: scale x + shift > 0, as the forward */
					g = (v8)((v8i)g & (v8i)(vs * xv + vh > zero));
				a += g;
				b += g * ((xv - vm) * vi);
			}
			sg += hsum(&a);
			sgx += hsum(&b);
		}
		for (; i < m; i++) {
			float g = dy[i];
			if (j->relu && !(scale * x[i] + shift > 0.0f))
				g = 0.0f;
			sg += g;
			sgx += (double)g * ((x[i] - mean) * invstd);
		}
		bn->dbeta[c] += (float)sg;
		bn->dgamma[c] += (float)sgx;
		float k = bn->gamma[c] * invstd;
		float mg = (float)(sg / (double)m), mgx = (float)(sgx / (double)m);
		for (i = 0; i < m; i++) {
			float g = dy[i];
			if (j->relu && !(scale * x[i] + shift > 0.0f))
				g = 0.0f;
			float xhat = (x[i] - mean) * invstd;
			dx[i] = k * (g - mg - xhat * mgx);
		}
	}
}

LI_ISA_DISPATCH(bn_backward_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_bn_backward(li_bn *bn, const float *x, int n, int hw, const float *dy, float *dx, bool relu,
		    li_pool *pool)
{
	bn_job j = {.bn = bn, .x = x, .dy = dy, .dx = dx, .m = (size_t)n * hw, .relu = relu};
	li_pool_run(pool, bn->c, bn_backward_task, &j);
}

/* ---- ReLU ---- */

#define RELU_BLOCK 16384

typedef struct relu_job {
	const float *x, *dy;
	float *y;
	size_t m;
} relu_job;

static void relu_forward_task(void *ctx, int begin, int end)
{
	const relu_job *j = ctx;
	size_t lo = (size_t)begin * RELU_BLOCK, hi = (size_t)end * RELU_BLOCK;
	if (hi > j->m)
		hi = j->m;
	for (size_t i = lo; i < hi; i++)
		j->y[i] = j->x[i] > 0.0f ? j->x[i] : 0.0f;
}

void li_relu_forward(const float *x, size_t m, float *y, li_pool *pool)
{
	relu_job j = {.x = x, .y = y, .m = m};
	li_pool_run(pool, (int)((m + RELU_BLOCK - 1) / RELU_BLOCK), relu_forward_task, &j);
}

LI_INLINE void relu_backward_task_body(void *ctx, int begin, int end)
{
	const relu_job *j = ctx;
	size_t lo = (size_t)begin * RELU_BLOCK, hi = (size_t)end * RELU_BLOCK;
	if (hi > j->m)
		hi = j->m;
	/* here x is the forward output y, y the input gradient dx (it may be dy:
	 * element i is read before it is written, so the vector loop is safe) */
	const float *y = j->x + lo, *dy = j->dy + lo;
	float *dx = j->y + lo;
	size_t n = hi - lo;
#if defined(__GNUC__) && !defined(__clang__) /* clang has no ivdep */
#pragma GCC ivdep
#endif
	for (size_t i = 0; i < n; i++)
		dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

LI_ISA_DISPATCH(relu_backward_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_relu_backward(const float *y, size_t m, const float *dy, float *dx, li_pool *pool)
{
	relu_job j = {.x = y, .dy = dy, .y = dx, .m = m};
	li_pool_run(pool, (int)((m + RELU_BLOCK - 1) / RELU_BLOCK), relu_backward_task, &j);
}

/* ---- max pool ---- */

void li_maxpool_out_hw(int h, int w, int k, int s, int p, int *oh, int *ow)
{
	*oh = (h + 2 * p - k) / s + 1;
	*ow = (w + 2 * p - k) / s + 1;
}

typedef struct pool_job {
	const float *x, *dy;
	float *y, *dx;
	const uint8_t *am_in;
	uint8_t *am;
	int h, w, oh, ow, k, s, p;
} pool_job;

/* Range of outputs o with 0 <= o*s - p + k < size: [lo, hi). */
static void pool_range(int out, int size, int s, int p, int k, int *lo, int *hi)
{
	int a = p - k, b = size + p - k;
	int l = a <= 0 ? 0 : (a + s - 1) / s, h = b <= 0 ? 0 : (b + s - 1) / s;
	*lo = l < out ? l : out;
	*hi = h < out ? h : out;
	if (*hi < *lo)
		*hi = *lo;
}

/* The window is scanned in raster order and the first maximum wins (NaN
 * wins), as PyTorch does. Loops run over a whole output row per window
 * position, so the compare-and-select chains of neighbouring outputs are
 * independent: one output at a time is a 9-deep dependency chain. */
/* Stride 2 (ResNet's stem pool): each input row of a window is split once
 * into its even and odd columns, with -inf standing for the padding (it
 * never wins: -inf > y is false and it is no NaN), so every window position
 * reads contiguous floats and the compare-and-select loop vectorises; the
 * strided gather of the general loop does not. Same order, same ties, same
 * NaN rule as the general loop. */
#define POOL2_MAX 1024
/* y[q] = v[q] (and am[q] = idx when am is not NULL) where v[q] > y[q] or
 * v[q] is NaN, 8 at a time: the select is spelled with masks (the compiler
 * does not vectorise the scalar form), narrowed to bytes for am. */
typedef signed char v8b __attribute__((vector_size(8)));
LI_INLINE void pool_select(const float *src, float *y, uint8_t *am, uint8_t idx, int n)
{
	int q = 0;
	v8b vidx = (v8b){0} + (signed char)idx;
	for (; q + 8 <= n; q += 8) {
		v8 v, yv;
		ld8(&v, src + q);
		ld8(&yv, y + q);
		v8i m = (v > yv) | (v != v), vi, yi;
		memcpy(&vi, &v, sizeof vi);
		memcpy(&yi, &yv, sizeof yi);
		yi = (vi & m) | (yi & ~m);
		memcpy(y + q, &yi, sizeof yi);
		if (am) {
			v8b mb = __builtin_convertvector(m, v8b), a;
			memcpy(&a, am + q, sizeof a);
			a = (vidx & mb) | (a & ~mb);
			memcpy(am + q, &a, sizeof a);
		}
	}
	for (; q < n; q++) {
		float v = src[q];
		int take = (v > y[q]) | (v != v);
		y[q] = take ? v : y[q];
		if (am)
			am[q] = take ? idx : am[q];
	}
}

/* Columns c and c + 1 of a row of w, -inf where outside. */
LI_INLINE void deal(const float *row, int w, int c, float *e, float *o)
{
	*e = c >= 0 && c < w ? row[c] : -INFINITY;
	*o = c + 1 >= 0 && c + 1 < w ? row[c + 1] : -INFINITY;
}

LI_INLINE void maxpool2_row(const pool_job *j, const float *x, int o, float *y, uint8_t *am)
{
	int k = j->k, p = j->p, ow = j->ow;
	float ev[POOL2_MAX], od[POOL2_MAX];
	int ih0 = o * 2 - p;
	int alo = ih0 < 0 ? -ih0 : 0, ahi = j->h - ih0 < k ? j->h - ih0 : k;
	for (int q = 0; q < ow; q++) {
		y[q] = -INFINITY;
		if (am) {
			int iw0 = q * 2 - p;
			am[q] = (uint8_t)(alo * k + (iw0 < 0 ? -iw0 : 0));
		}
	}
	int half = ow + k / 2 + 1; /* entries of ev and od that are read */
	for (int a = alo; a < ahi; a++) {
		const float *row = x + (size_t)(ih0 + a) * j->w;
		/* i with both columns 2i - p and 2i - p + 1 inside the row: [ilo, ihi) */
		int ilo = (p + 1) / 2, ihi = (j->w - 1 + p) / 2;
		if (ihi > half)
			ihi = half;
		if (ilo > ihi)
			ilo = ihi;
		for (int i = 0; i < ilo; i++)
			deal(row, j->w, 2 * i - p, ev + i, od + i);
		const float *r0 = row + 2 * ilo - p;
		for (int i = ilo; i < ihi; i++, r0 += 2) {
			ev[i] = r0[0];
			od[i] = r0[1];
		}
		for (int i = ihi; i < half; i++)
			deal(row, j->w, 2 * i - p, ev + i, od + i);
		for (int b = 0; b < k; b++) {
			const float *src = b % 2 ? od + b / 2 : ev + b / 2;
			uint8_t idx = (uint8_t)(a * k + b);
			pool_select(src, y, am, idx, ow);
		}
	}
}

LI_INLINE void maxpool_forward_task_body(void *ctx, int begin, int end)
{
	const pool_job *j = ctx;
	size_t hw = (size_t)j->h * j->w, ohw = (size_t)j->oh * j->ow;
	int k = j->k, s = j->s, p = j->p;
	if (s == 2 && j->ow + k / 2 + 1 <= POOL2_MAX) {
		for (int plane = begin; plane < end; plane++)
			for (int o = 0; o < j->oh; o++)
				maxpool2_row(j, j->x + plane * hw, o, j->y + plane * ohw + (size_t)o * j->ow,
					     j->am ? j->am + plane * ohw + (size_t)o * j->ow : NULL);
		return;
	}
	for (int plane = begin; plane < end; plane++) {
		const float *x = j->x + plane * hw;
		for (int o = 0; o < j->oh; o++) {
			float *y = j->y + plane * ohw + (size_t)o * j->ow;
			uint8_t *am = j->am ? j->am + plane * ohw + (size_t)o * j->ow : NULL;
			int ih0 = o * s - p;
			int alo = ih0 < 0 ? -ih0 : 0, ahi = j->h - ih0 < k ? j->h - ih0 : k;
			for (int q = 0; q < j->ow; q++) {
				y[q] = -INFINITY;
				if (am) {
					int iw0 = q * s - p;
					am[q] = (uint8_t)(alo * k + (iw0 < 0 ? -iw0 : 0));
				}
			}
			for (int a = alo; a < ahi; a++) {
				const float *row = x + (size_t)(ih0 + a) * j->w;
				for (int b = 0; b < k; b++) {
					int qlo, qhi;
					pool_range(j->ow, j->w, s, p, b, &qlo, &qhi);
					const float *src = row + (b - p);
					uint8_t idx = (uint8_t)(a * k + b);
					if (am)
						for (int q = qlo; q < qhi; q++) {
							float v = src[q * s];
							int take = (v > y[q]) | (v != v);
							y[q] = take ? v : y[q];
							am[q] = take ? idx : am[q];
						}
					else
						for (int q = qlo; q < qhi; q++) {
							float v = src[q * s];
							int take = (v > y[q]) | (v != v);
							y[q] = take ? v : y[q];
						}
				}
			}
		}
	}
}

LI_ISA_DISPATCH(maxpool_forward_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_maxpool_forward(const float *x, int planes, int h, int w, int k, int s, int p, float *y,
			uint8_t *argmax, li_pool *pool)
{
	LI_ASSERT(k * k <= 256 && p < k);
	pool_job j = {.x = x, .y = y, .am = argmax, .h = h, .w = w, .k = k, .s = s, .p = p};
	li_maxpool_out_hw(h, w, k, s, p, &j.oh, &j.ow);
	li_pool_run(pool, planes, maxpool_forward_task, &j);
}

LI_INLINE void maxpool_backward_task_body(void *ctx, int begin, int end)
{
	const pool_job *j = ctx;
	size_t hw = (size_t)j->h * j->w, ohw = (size_t)j->oh * j->ow;
	for (int plane = begin; plane < end; plane++) {
		float *dx = j->dx + plane * hw;
		const float *dy = j->dy + plane * ohw;
		const uint8_t *am = j->am_in + plane * ohw;
		memset(dx, 0, sizeof(float) * hw);
		for (int o = 0; o < j->oh; o++)
			for (int q = 0; q < j->ow; q++) {
				size_t i = (size_t)o * j->ow + q;
				int ih = o * j->s - j->p + am[i] / j->k;
				int iw = q * j->s - j->p + am[i] % j->k;
				dx[(size_t)ih * j->w + iw] += dy[i];
			}
	}
}

LI_ISA_DISPATCH(maxpool_backward_task, (void *ctx, int begin, int end),
		(ctx, begin, end))

void li_maxpool_backward(const float *dy, const uint8_t *argmax, int planes, int h, int w, int k,
			 int s, int p, float *dx, li_pool *pool)
{
	pool_job j = {.dy = dy, .am_in = argmax, .dx = dx, .h = h, .w = w, .k = k, .s = s, .p = p};
	li_maxpool_out_hw(h, w, k, s, p, &j.oh, &j.ow);
	li_pool_run(pool, planes, maxpool_backward_task, &j);
}

/* ---- global average pool (tiny: single-threaded) ---- */

void li_avgpool_forward(const float *x, int c, int n, int hw, float *f)
{
	for (int ch = 0; ch < c; ch++)
		for (int i = 0; i < n; i++) {
			const float *r = x + ((size_t)ch * n + i) * hw;
			double s = 0;
			for (int k = 0; k < hw; k++)
				s += r[k];
			f[(size_t)i * c + ch] = (float)(s / hw);
		}
}

void li_avgpool_backward(const float *df, int c, int n, int hw, float *dx)
{
	for (int ch = 0; ch < c; ch++)
		for (int i = 0; i < n; i++) {
			float g = df[(size_t)i * c + ch] / (float)hw;
			float *r = dx + ((size_t)ch * n + i) * hw;
			for (int k = 0; k < hw; k++)
				r[k] = g;
		}
}

/* ---- linear ---- */

void li_fc_forward(const li_fc *fc, const float *x, int n, float *y)
{
	li_sgemm1(false, true, n, fc->out, fc->in, 1.0f, x, fc->in, fc->w, fc->in, 0.0f, y,
		  fc->out);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < fc->out; k++)
			y[(size_t)i * fc->out + k] += fc->b[k];
}

void li_fc_backward(const li_fc *fc, const float *x, int n, const float *dy, float *dx)
{
	li_sgemm1(true, false, fc->out, fc->in, n, 1.0f, dy, fc->out, x, fc->in, 1.0f, fc->dw,
		  fc->in);
	for (int k = 0; k < fc->out; k++) {
		double s = 0;
		for (int i = 0; i < n; i++)
			s += dy[(size_t)i * fc->out + k];
		fc->db[k] += (float)s;
	}
	if (dx)
		li_sgemm1(false, false, n, fc->in, fc->out, 1.0f, dy, fc->out, fc->w, fc->in, 0.0f,
			  dx, fc->in);
}

/* ---- softmax cross-entropy, as torch.nn.functional.cross_entropy ----
 * With weights w, smoothing e, C classes, log-probabilities lp and targets t:
 *   loss = (1-e) sum_i w[t_i] (-lp[i,t_i]) / W + (e/C) sum_i sum_c w[c] (-lp[i,c]) / W,
 * W = sum_i w[t_i] (unweighted: w = 1, W = n). */
double li_softmax_xent(const float *logits, const int *labels, int n, int classes,
		       const li_loss_config *cfg, float *dlogits)
{
	const float *cw = cfg ? cfg->class_weights : NULL;
	double eps = cfg ? cfg->label_smoothing : 0.0;
	double wsum = 0, wall = 0;
	for (int c = 0; c < classes; c++)
		wall += cw ? cw[c] : 1.0;
	for (int i = 0; i < n; i++) {
		LI_ASSERT(labels[i] >= 0 && labels[i] < classes);
		wsum += cw ? cw[labels[i]] : 1.0;
	}
	double loss = 0;
	for (int i = 0; i < n; i++) {
		const float *z = logits + (size_t)i * classes;
		double mx = z[0];
		for (int c = 1; c < classes; c++)
			if (z[c] > mx)
				mx = z[c];
		double se = 0;
		for (int c = 0; c < classes; c++)
			se += exp(z[c] - mx);
		double lse = mx + log(se);
		int t = labels[i];
		double wt = cw ? cw[t] : 1.0;
		double smooth = 0;
		for (int c = 0; c < classes; c++)
			smooth += (cw ? cw[c] : 1.0) * (lse - z[c]);
		loss += (1.0 - eps) * wt * (lse - z[t]) / wsum + eps / classes * smooth / wsum;
		if (dlogits)
			for (int c = 0; c < classes; c++) {
				double p = exp(z[c] - lse);
				double wc = cw ? cw[c] : 1.0;
				double g = (1.0 - eps) * wt * (p - (c == t)) + eps / classes * (wall * p - wc);
				dlogits[(size_t)i * classes + c] = (float)(g / wsum);
			}
	}
	return loss;
}
