/* li_nn.h: internal building blocks of li_net (not installed): a small thread
 * pool and the primitive layers, each with its forward and backward.
 *
 * Activations inside the net are stored channel-major, C x N x H x W ("CNHW"):
 * each channel's values for the whole batch are one contiguous row, so a
 * convolution over the whole batch is one GEMM row block (Cout x N*OH*OW) and
 * batch norm reduces over contiguous memory. The public API stays NCHW.
 *
 * Every backward ADDS into parameter gradients and OVERWRITES (or, where a flag
 * says so, adds into) the input gradient. Nothing here allocates: the caller
 * passes workspaces sized by the *_floats helpers. */
#ifndef LI_NN_H
#define LI_NN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "li_pool.h"

/* Row-major C (M x N) = alpha op(A) op(B) + beta C on the calling thread
 * alone (li_gemm.c: oneDNN's sgemm, its kernel chosen at run time). */
void li_sgemm1(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
	       const float *b, int ldb, float beta, float *c, int ldc);
/* Row-major C (M x N) = alpha op(A) op(B) + beta C, cut into blocks of C that
 * the pool's threads compute with li_sgemm1. Each block
 * is one sgemm with the full K, so every element of C is computed the same way
 * whatever thread runs it. */
void li_gemm(li_pool *pool, bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
	     int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- convolution: y = W * x (+ b), im2col + sgemm over chunks of images ---- */
/* How a conv computes y and dx: AUTO takes Winograd for 3x3 stride-1 pad-1
 * convs when the batch has enough tiles, im2col otherwise; IM2COL never
 * takes Winograd (tests and benchmarks compare the two); WINO2 keeps
 * Winograd at F(2x2, 3x3) (li_conv_wino_m). */
typedef enum li_conv_algo { LI_CONV_AUTO, LI_CONV_IM2COL, LI_CONV_WINO2 } li_conv_algo;
typedef struct li_conv {
	int cin, cout, kh, kw, stride, pad;
	li_conv_algo algo;
	float *w, *b;    /* Cout x Cin x KH x KW; bias Cout or NULL */
	float *dw, *db;  /* gradients (same shapes) */
} li_conv;

/* What follows a conv in eval, per output channel c:
 * y = relu(y + b1[c] + b2[c]) (relu optional, b2 may be NULL), the same
 * arithmetic as li_bias_act. The Winograd path applies it as it writes each
 * output (one pass over y fewer), the blocked im2col path to each block as it
 * leaves the GEMM; the others call li_bias_act after. */
typedef struct li_act {
	const float *b1, *b2;
	bool relu;
} li_act;

/* Channel c's bias under act, b1[c] + b2[c], summed as li_bias_act does. */
static inline float li_act_bias(const li_act *act, int c)
{
	return (act->b1 ? act->b1[c] : 0.0f) + (act->b2 ? act->b2[c] : 0.0f);
}

/* Output size: oh = (h + 2 pad - kh) / stride + 1. */
void li_conv_out_hw(const li_conv *c, int h, int w, int *oh, int *ow);
/* Scratch floats the conv needs for a batch of n images h x w, given a budget
 * (floats) for the im2col buffer; at least one image's columns. */
size_t li_conv_col_floats(const li_conv *c, int n, int h, int w, size_t budget);
/* y (Cout x n x oh x ow) = beta * y + W * x (x: Cin x n x h x w, CNHW), with
 * weights w (the conv's or a folded copy). Bias is not added (see li_bias_act). */
void li_conv_forward(const li_conv *c, const float *w, const float *x, int n, int h, int wd,
		     float *y, float beta, float *col, size_t col_floats, li_pool *pool);
/* li_conv_forward with a cache for the Winograd-transformed weights of a
 * 3x3/1 conv, for fixed weights (eval): u holds li_wino_u_floats(cin, cout)
 * floats, filled from w by the first call that takes the Winograd path
 * (*u_ready false, then set) and reused while *u_ready stays true. Other
 * convs (and batches with too few tiles) ignore it. With u NULL (and u_ready
 * NULL) and act NULL it is li_conv_forward; act, when given, follows the
 * conv (li_act). */
void li_conv_forward_u(const li_conv *c, const float *w, float *u, bool *u_ready, const float *x,
		       int n, int h, int wd, float *y, float beta, float *col, size_t col_floats,
		       const li_act *act, li_pool *pool);
/* Which path li_conv_forward (cached: li_conv_forward_u with its transformed
 * weights ready) or li_conv_backward (dx: with an input gradient) takes for
 * this batch: "winograd", "im2col" (whole images), "im2col-blocked" (a few
 * output rows at a time through the packed GEMM: convs with small weights,
 * the stem), "gemm" (1x1), or for backward the path of dx and of dW when they
 * differ. For profiles and benchmarks (li_net_prof). */
const char *li_conv_path(const li_conv *c, int n, int h, int w, size_t col_floats, bool cached,
			 bool backward, bool dx, li_pool *pool);
/* dW += dy (x)^T, db += sum(dy); dx = W^T dy (overwritten, or added when
 * dx_add) unless dx is NULL (the first layer needs no input gradient). */
void li_conv_backward(const li_conv *c, const float *x, int n, int h, int wd, const float *dy,
		      float *dx, bool dx_add, float *col, size_t col_floats, li_pool *pool);


/* ---- C = A B with A packed once (li_sgemm.c): weights times activations ---- */
#define LI_GEMM_MR 6
/* Floats of a packed rows x cols A (rows padded to panels of LI_GEMM_MR). */
size_t li_gemm_packed_floats(int rows, int cols);
/* Pack row-major a (rows x cols) into ap. */
void li_gemm_pack(const float *a, int rows, int cols, float *ap);
/* A row stride for B of n columns (>= n) that spreads a strip over the cache sets. */
int li_gemm_stride(int n);
/* c (rows x n, row stride ldc) = A (packed) b (cols x n, row stride ldb),
 * or += when add; columns of b past n are never read. Single-threaded (the
 * Winograd blocks are the unit of parallel work). The micro-kernel is the
 * best this CPU runs (li_gemm_kernel_best). */
void li_gemm_packed(const float *ap, int rows, int cols, const float *b, int ldb, int n, float *c,
		    int ldc, bool add);
/* The micro-kernels, each compiled from one source for its instruction set
 * (li_sgemm.c); AVX2_W32 is the AVX-512 kernel's code compiled for AVX2, for
 * tests only. */
typedef enum li_gemm_kernel {
	LI_GEMM_KERNEL_C,
	LI_GEMM_KERNEL_AVX2,
	LI_GEMM_KERNEL_AVX2_W32,
	LI_GEMM_KERNEL_AVX512,
	LI_GEMM_KERNELS
} li_gemm_kernel;
const char *li_gemm_kernel_name(li_gemm_kernel k);
/* Whether k is built here and this CPU (as capped by LI_ISA) runs it. */
bool li_gemm_kernel_runs(li_gemm_kernel k);
li_gemm_kernel li_gemm_kernel_best(void);
/* li_gemm_packed with kernel k (the portable one if k does not run here). */
void li_gemm_packed_with(li_gemm_kernel k, const float *ap, int rows, int cols, const float *b,
			 int ldb, int n, float *c, int ldc, bool add);
/* Whether the best kernel is a vector one (AVX2 or better): without it the
 * portable C kernel runs at about half li_sgemm1's speed, so Winograd keeps
 * U row-major for li_sgemm1 then. */
bool li_gemm_fast(void);

/* The Winograd output tile m (2 or 4) of conv c's forward and backward-data
 * passes and its weight gradient; LI_CONV_WINO2 forces 2. */
int li_conv_wino_m(const li_conv *c);
/* The tile LI_WINO forces: 2 or 4, 0 when it is unset or empty, else -1 +
 * li_error. */
int li_conv_wino_forced(void);

/* ---- Winograd F(m x m, 3x3), m = 2 (li_winograd.c) or 4 (li_winograd4.c), used by li_conv ---- */
/* Floats of the transformed weights U ((m + 2)^2 x Cout x Cin). */
size_t li_wino_u_floats(int m, int cin, int cout);
/* Per-thread workspace floats for a block of `tiles` m x m output tiles. */
size_t li_wino_block_floats(int m, int cin, int cout, int tiles);
/* Output tiles of a batch: n * ceil(h/m) * ceil(w/m). */
int li_wino_tiles(int m, int n, int h, int w);
/* U from w (Cout x Cin x 3 x 3); transpose: of the backward-data conv
 * (Cin outputs from Cout inputs, kernel rotated by 180 degrees). */
void li_wino_weights(int m, const float *w, int cin, int cout, bool transpose, float *u,
		     li_pool *pool);
/* y (cout x n x h x w) = beta y + conv3x3(x) with transformed weights u, in
 * blocks of tb tiles; ws holds threads blocks of li_wino_block_floats. */
/* Tiles per block of the weight gradient (the GEMMs' depth). */
#define LI_WINO_WGRAD_TB 512
#define LI_WINO4_WGRAD_TB 256 /* F(4x4)'s (layer1 13-16 ms against 17-18 at 128) */
/* Workspace floats li_wino_wgrad needs for blocks of tb m x m tiles (M,
 * (m + 2)^2 Cout x Cin, plus a block's transformed input and gradient). */
size_t li_wino_wgrad_floats(int m, int cin, int cout, int tb);
/* Tiles per block li_wino_wgrad can use in ws_floats of workspace, 0 if none. */
int li_wino_wgrad_block(int m, int cin, int cout, int n, int h, int w, size_t ws_floats);
/* dw (Cout x Cin x 3 x 3) += the gradient of the 3x3 stride-1 pad-1 conv of
 * x (Cin x n x h x w) given dy (Cout x n x h x w), by Winograd F(m x m, 3x3),
 * in blocks of tb tiles (li_wino_wgrad_block); the same result for any
 * thread count. */
void li_wino_wgrad(int m, const float *x, const float *dy, int cin, int cout, int n, int h, int w,
		   float *dw, float *ws, size_t ws_floats, int tb, li_pool *pool);
void li_wino_conv(int m, const float *u, int cin, int cout, const float *x, int n, int h, int w,
		  float *y, float beta, const li_act *act, float *ws, size_t ws_floats, int tb,
		  li_pool *pool);

/* y[c, i] = act(y[c, i] + b1[c] + b2[c]) over rows of length m; b2 may be NULL. */
void li_bias_act(float *y, int channels, size_t m, const float *b1, const float *b2, bool relu,
		 li_pool *pool);

/* ---- batch norm: y = gamma (x - mean) / sqrt(var + eps) + beta (+ add), optional ReLU ---- */
typedef struct li_bn {
	int c;
	float *gamma, *beta, *dgamma, *dbeta;
	float *running_mean, *running_var;
	int64_t *num_batches_tracked;
	float *mean, *invstd; /* batch statistics saved for backward (c each) */
	float *scale, *shift; /* y = scale * x + shift of the last forward (c each) */
} li_bn;
#define LI_BN_EPS 1e-5f
#define LI_BN_MOMENTUM 0.1f
/* Training: batch mean and biased variance over n*hw values per channel;
 * running_mean = 0.9 rm + 0.1 mean, running_var = 0.9 rv + 0.1 var * m/(m-1);
 * num_batches_tracked += 1. update_running false keeps running stats (used by
 * the gradient checker). Eval (batch_stats false): running statistics.
 * y = act(scale x + shift + add); add may be NULL; y may alias x or add. */
void li_bn_forward(li_bn *bn, const float *x, int n, int hw, float *y, const float *add, bool relu,
		   bool batch_stats, bool update_running, li_pool *pool);
/* Backward after a batch-statistics forward without `add`: dy (grad of y) is
 * masked by y > 0 when relu (y recomputed from x with the saved scale and
 * shift, bit-identical to the forward), dgamma/dbeta accumulate, dx
 * overwritten (may alias dy). A residual's relu is undone with li_relu_backward. */
void li_bn_backward(li_bn *bn, const float *x, int n, int hw, const float *dy, float *dx, bool relu,
		    li_pool *pool);

/* ---- ReLU: y = max(x, 0) (standalone; inside the net it is fused into BN) ---- */
void li_relu_forward(const float *x, size_t m, float *y, li_pool *pool);
/* dx = dy * (y > 0); dx may alias dy */
void li_relu_backward(const float *y, size_t m, const float *dy, float *dx, li_pool *pool);

/* ---- max pool k x k, stride s, pad p (padding never wins): y = max over window ---- */
void li_maxpool_out_hw(int h, int w, int k, int s, int p, int *oh, int *ow);
/* argmax (uint8 window index, may be NULL in eval) saved for backward. */
void li_maxpool_forward(const float *x, int planes, int h, int w, int k, int s, int p, float *y,
			uint8_t *argmax, li_pool *pool);
/* dx (overwritten) = scatter of dy to the argmax positions. */
void li_maxpool_backward(const float *dy, const uint8_t *argmax, int planes, int h, int w, int k,
			 int s, int p, float *dx, li_pool *pool);

/* ---- global average pool: f[n, c] = mean over h*w of x[c, n] (CNHW in, N x C out) ---- */
void li_avgpool_forward(const float *x, int c, int n, int hw, float *f);
/* dx[c, n, :] = df[n, c] / hw */
void li_avgpool_backward(const float *df, int c, int n, int hw, float *dx);

/* ---- linear: y (n x out) = x (n x in) W^T + b ---- */
typedef struct li_fc {
	int in, out;
	float *w, *b, *dw, *db;
} li_fc;
void li_fc_forward(const li_fc *fc, const float *x, int n, float *y);
/* dW += dy^T x, db += sum dy, dx = dy W (overwritten; NULL to skip) */
void li_fc_backward(const li_fc *fc, const float *x, int n, const float *dy, float *dx);

/* ---- loss (li_layers.c) ---- */
/* Softmax cross-entropy as torch.nn.functional.cross_entropy (mean reduction;
 * with class weights the mean is weighted by the targets' weights; label
 * smoothing as PyTorch). Writes dlogits (n x classes) = d(loss)/d(logits) and
 * returns the loss. class_weights may be NULL. */
typedef struct li_loss_config {
	const float *class_weights;
	float label_smoothing;
} li_loss_config;
double li_softmax_xent(const float *logits, const int *labels, int n, int classes,
		       const li_loss_config *cfg, float *dlogits);

/* The parallel NCHW <-> CNHW transposition (planes of hw floats). */
void li_nchw_to_cnhw(const float *x, int n, int c, int hw, float *y, li_pool *pool);
#endif
