/* li_dnnl.h: eval-mode convolution on oneDNN's own convolution primitives.
 *
 * oneDNN picks its kernel at run time (AVX2, AVX-512, AVX512_BF16, AMX, capped
 * by LI_ISA through the same dnnl_set_max_cpu_isa as li_sgemm1) and computes
 * in its blocked layouts; this module reorders our CNHW fp32 activations into
 * that layout (converting to bf16 when asked), runs the convolution, and
 * reorders the result back into CNHW fp32, adding onto y when beta is 1.
 * Weights are fixed (eval: the BN-folded copy) and reordered once by
 * li_dnnl_conv_weights. li_net runs each conv on it with LI_CONV=onednn-each
 * (comparisons), and where a whole plan (below) cannot be made with
 * LI_CONV=onednn.
 *
 * A li_dnnl_conv is made for one batch size and input size; the caller keeps
 * it and makes another when they change. Not thread-safe: one caller at a
 * time, and the call uses `threads` OpenMP threads of oneDNN's. */
#ifndef LI_DNNL_H
#define LI_DNNL_H
#include <stdbool.h>
#include <stddef.h>

#include "li_nn.h"

typedef struct li_dnnl_conv li_dnnl_conv;

/* Cap oneDNN's ISA at li_cpu_isa() (LI_ISA) before its first use; every
 * caller of oneDNN calls it first (it runs once). */
void li_dnnl_setup(void);
/* True where the CPU (after LI_ISA) runs bf16 convolutions natively. */
bool li_dnnl_bf16_native(void);
/* Set the calling thread's OpenMP team size for oneDNN. oneDNN sizes a
 * primitive's split of the work for the team size in force when the
 * primitive is made, and runs it with that many threads whatever is set
 * later: made with 1 (what li_sgemm1 leaves) it runs on one thread, made
 * with the default (every core) it starts that many. So a conv or plan meant
 * to run on T threads is made between li_dnnl_threads(T) and
 * li_dnnl_threads(1) (li_sgemm1 callers on the thread expect a team of one). */
void li_dnnl_threads(int threads);
/* "MAJOR.MINOR.PATCH" of the oneDNN library loaded, into buf. */
const char *li_dnnl_version(char *buf, size_t size);

/* A forward conv of c's shape for n images h x w, fp32 or (bf16) with bf16
 * inputs and weights and fp32 accumulation and output. NULL + li_error when
 * oneDNN has no implementation (bf16 on a CPU without it, say). */
li_dnnl_conv *li_dnnl_conv_new(const li_conv *c, int n, int h, int w, bool bf16);
void li_dnnl_conv_free(li_dnnl_conv *d);
/* Reorder weights w (Cout x Cin x KH x KW fp32) into the conv's layout. */
void li_dnnl_conv_weights(li_dnnl_conv *d, const float *w);
/* Bytes of workspace li_dnnl_conv_run needs (the blocked copies of x and y). */
size_t li_dnnl_conv_ws_bytes(const li_dnnl_conv *d);
/* y (Cout x n x oh x ow, CNHW) = beta * y + W * x (x CNHW), beta 0 or 1,
 * with `threads` threads; ws: li_dnnl_conv_ws_bytes, 64-byte aligned. Weights
 * must have been set. */
void li_dnnl_conv_run(li_dnnl_conv *d, const float *x, float *y, float beta, int threads,
		      void *ws);

/* ---- a whole eval forward in oneDNN's blocked layouts ----
 * A plan is a sequence of oneDNN primitives over tensors that stay in the
 * layouts oneDNN chooses from input to output, so nothing is reordered
 * between layers: convs with their bias (the BN-folded one), ReLU and the
 * residual sum fused as post-ops, max pooling, and reorders only at the ends
 * (and where a fused sum needs its operand in the conv's layout). Tensors
 * share a few buffers by liveness, so memory is that of the largest few
 * activations. fp32, or bf16 activations and weights (fp32 bias and
 * accumulation) where li_dnnl_bf16_native. Build: input, ops, output,
 * finish; then run any number of times. Weights and biases are read from the
 * caller's arrays (which must stay valid) by li_dnnl_plan_weights. */
typedef struct li_dnnl_plan li_dnnl_plan;

/* NULL + li_error as li_dnnl_conv_new. */
li_dnnl_plan *li_dnnl_plan_new(int n, bool bf16);
void li_dnnl_plan_free(li_dnnl_plan *p);
/* The input tensor: n x c x h x w fp32, CNHW (channel-major, as li_net's). */
int li_dnnl_plan_input(li_dnnl_plan *p, int c, int h, int w);
/* relu(W * src + b (+ sum)): w Cout x Cin x KH x KW and b Cout (fp32 arrays of
 * the caller); sum a tensor of the output's shape or -1. Returns the output
 * tensor (the sum tensor's buffer, reused), or -1 + li_error. */
int li_dnnl_plan_conv(li_dnnl_plan *p, int src, const li_conv *c, const float *w,
		      const float *b, int sum, bool relu);
/* Max pooling k x k, stride s, padding pad. */
int li_dnnl_plan_maxpool(li_dnnl_plan *p, int src, int k, int s, int pad);
/* Mark src as the output: written as CNHW fp32 by li_dnnl_plan_run. */
int li_dnnl_plan_output(li_dnnl_plan *p, int src);
/* Allocate the buffers; 0, or -1 + li_error. */
int li_dnnl_plan_finish(li_dnnl_plan *p);
/* Reorder every conv's weights and copy its bias (after they change). */
void li_dnnl_plan_weights(li_dnnl_plan *p);
/* x: the input (CNHW fp32), y: the output (CNHW fp32). */
void li_dnnl_plan_run(li_dnnl_plan *p, const float *x, float *y, int threads);

/* ---- training in oneDNN's blocked layouts (li_dnnl_train.c) ----
 * The training forward (batch statistics) and backward of a ResNet trunk up
 * to the global pooling as oneDNN primitives over tensors that stay in one
 * blocked layout (nChw16c on AVX-512 CPUs, nChw8c below): convs forward,
 * backward-data and backward-weights, batch norm with batch statistics (its
 * ReLU fused where it has no residual), the residual sum with its ReLU
 * fused, max pooling with its workspace, and reorders only at the two ends.
 * What backward reads (each conv's input and output, the outputs of ReLUs
 * after a residual sum, the BN and pooling workspaces) has its own memory;
 * other forward tensors and every gradient share a few buffers by liveness.
 *
 * A unit is li_net's conv + BN (+ residual) (+ ReLU): its weights, BN
 * parameters and running statistics are the caller's arrays (li_conv,
 * li_bn), read at every forward (the optimizer changes them in place).
 * Forward updates running_mean, running_var and num_batches_tracked as
 * li_bn_forward does; backward ADDS into dw, dgamma and dbeta (li_nn.h's
 * rule). Build: input, units and pooling, output, finish; then forward and
 * backward any number of times for batches of exactly n. fp32 only. */
typedef struct li_dnnl_train li_dnnl_train;

/* NULL + li_error when oneDNN does not run here. */
li_dnnl_train *li_dnnl_train_new(int n, bool bf16);
void li_dnnl_train_free(li_dnnl_train *t);
/* The input tensor: n x c x h x w fp32, CNHW. It gets no gradient. */
int li_dnnl_train_input(li_dnnl_train *t, int c, int h, int w);
/* act(BN(conv(src)) + add), add a tensor of the output's shape or -1, act
 * ReLU when relu. Returns the output tensor, or -1 + li_error. */
int li_dnnl_train_unit(li_dnnl_train *t, int src, li_conv *c, li_bn *bn, int add, bool relu);
/* Max pooling k x k, stride s, padding pad. */
int li_dnnl_train_maxpool(li_dnnl_train *t, int src, int k, int s, int pad);
/* Mark src as the output (CNHW fp32 for forward; its gradient, CNHW fp32,
 * is backward's input). */
int li_dnnl_train_output(li_dnnl_train *t, int src);
/* Allocate the memory; 0, or -1 + li_error. */
int li_dnnl_train_finish(li_dnnl_train *t);
/* x (input, CNHW) -> y (output, CNHW), batch statistics, running statistics
 * updated; with `threads` OpenMP threads. */
void li_dnnl_train_forward(li_dnnl_train *t, const float *x, float *y, int threads);
/* dy (the output's gradient, CNHW): gradients of every unit's weights and BN
 * parameters added in. After a forward of this plan. */
void li_dnnl_train_backward(li_dnnl_train *t, const float *dy, int threads);

#endif
