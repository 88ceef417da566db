/* li_net.h: the CNN: torchvision-compatible ResNets on oneDNN's sgemm and our own kernels.
 *
 * A network is an explicit list of layers (conv, bn, relu, maxpool, BasicBlock,
 * avgpool, fc), not a general autodiff graph. Trainable parameters live in one
 * contiguous arena (params) with a matching gradient arena (grads), so an
 * optimizer is one loop; BN running statistics and num_batches_tracked are
 * buffers outside it. Tensors are N, C, H, W; conv weights Cout, Cin, KH, KW.
 *
 * li_net_prepare() sizes every workspace for a batch and input size; forward
 * and backward never allocate. backward ADDS into parameter gradients (call
 * li_net_zero_grad between steps) and OVERWRITES input gradients.
 *
 * Training forward uses batch statistics and updates running mean/var with
 * momentum 0.1 and the unbiased batch variance (as torch.nn.BatchNorm2d);
 * eval forward uses running statistics with BN folded into the preceding
 * convolution (a private copy of the weights, refreshed when parameters change). */
#ifndef LI_NET_H
#define LI_NET_H
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "li_safetensors.h"

typedef struct li_net_config {
	char arch[16];    /* "resnet18" (default), "resnet34", "resnet10" */
	int classes;      /* >= 2; default 2 */
	int in_channels;  /* 1 or 3 */
	int width;        /* base width: 64 as torchvision; smaller for tests/small images */
} li_net_config;

/* Defaults: resnet18, 2 classes, 3 channels, width 64. */
void li_net_config_default(li_net_config *cfg);

typedef struct li_net li_net;

/* Build the topology and allocate parameters (uninitialised: call li_net_init
 * or load). NULL + li_error for a bad config. */
li_net *li_net_new(const li_net_config *cfg);
void li_net_free(li_net *net);
const li_net_config *li_net_get_config(const li_net *net);
/* torchvision init, seeded: conv Kaiming normal (fan_out, relu), BN weight 1
 * bias 0, running mean 0 var 1, fc weight and bias uniform(+-1/sqrt(fan_in)). */
void li_net_init(li_net *net, uint64_t seed);
/* Re-initialise fc only (after loading weights with another class count). */
void li_net_init_fc(li_net *net, uint64_t seed);

/* Size workspaces for up to max_batch images of in_channels x height x width
 * (height, width >= 32). Call again to change sizes. One arena holds what
 * backward needs plus rotating buffers; pages are touched only when used, so
 * an eval-only net costs about its eval buffers in resident memory. */
int li_net_prepare(li_net *net, int max_batch, int height, int width);
/* Threads for the net's own pool, which also splits every GEMM into blocks of
 * single-threaded GEMM calls (li_gemm). */
void li_net_set_threads(li_net *net, int threads);
/* Lines for --version: the CPU, its ISA level (li_cpu.h, LI_ISA) and the
 * kernels the net runs on it. */
void li_net_describe_cpu(FILE *f);
/* Which convolutions score (eval, BN folded) and train: ours (Winograd,
 * im2col, li_nn.h) or one oneDNN plan of the layers up to the global
 * pooling in oneDNN's blocked layouts (li_dnnl.h; eval: bias, ReLU and
 * residual fused; training: forward, backward-data and backward-weights
 * convs, batch norm, pooling).
 * AUTO, the default: the decision remembered for this machine and shape
 * in the cache (li_cache.h, file "conv-choice"); without one, with AVX-512
 * (where either may win) both are timed on the first batch of the size
 * and the result remembered, or the plan taken untimed when the cache
 * cannot be written; below AVX-512 ours, untimed (on AVX2 ours is 1.4 to
 * 2x the plan). So the runs of one machine compute the same bits.
 * MEASURED times both on the first batch of each size in every run (eval:
 * the forward, the faster of two after one; training: one step each after
 * one, the running statistics and gradients put back; ours first, its
 * activation memory given back before the plan runs), keeps the plan where
 * it is more than 10% faster and remembers the result for AUTO.
 * OURS and ONEDNN force one; ONEDNN_EACH runs each eval conv alone on
 * oneDNN with reorders from and to ours (tests and benchmarks) and trains
 * on ours. The environment variable LI_CONV = auto, measured, ours, onednn
 * or onednn-each sets it for li_net_new. Where a plan cannot be made ours
 * runs. */
typedef enum li_net_conv {
	LI_NET_CONV_AUTO,
	LI_NET_CONV_MEASURED,
	LI_NET_CONV_OURS,
	LI_NET_CONV_ONEDNN,
	LI_NET_CONV_ONEDNN_EACH
} li_net_conv;
void li_net_set_conv(li_net *net, li_net_conv choice);
/* What runs under choice on this CPU, in words, for scoring or (train)
 * training, into buf (for --version). */
const char *li_net_conv_what(li_net_conv choice, bool train, char *buf, size_t size);
/* LI_CONV's value (AUTO when unset); -1 + li_error for another value. */
int li_net_conv_env(li_net_conv *choice);
/* "auto", "measured", "ours", "onednn" or "onednn-each". */
const char *li_net_conv_name(li_net_conv choice);
/* Eval convs in bf16 (inputs and weights rounded to bf16, fp32 accumulation
 * and output; BN, pooling and fc stay fp32) on oneDNN, where the CPU has
 * AVX512_BF16 or AMX; -1 + li_error naming the missing feature elsewhere. */
int li_net_set_bf16(li_net *net, bool on);
/* Training steps in bf16: oneDNN's training plan (li_dnnl.h) with bf16
 * activations, weights and gradients of activations, fp32 accumulation,
 * weight gradients, BN statistics and master weights (the optimizer and the
 * saved model stay fp32), whatever LI_CONV says; where the CPU has
 * AVX512_BF16 or AMX, -1 + li_error naming the missing feature elsewhere.
 * A forward that cannot make the plan fails (no fp32 fallback). */
int li_net_set_train_bf16(li_net *net, bool on);
/* Every conv by im2col, none by Winograd (benchmarks compare the two). */
void li_net_force_im2col(li_net *net, bool on);
void li_net_set_training(li_net *net, bool training);

/* Forward n <= max_batch images x (n, C, H, W). logits: n x classes. features
 * (may be NULL): n x li_net_feature_dim(), the pooled penultimate activations. */
int li_net_forward(li_net *net, const float *x, int n, float *logits, float *features);
int li_net_feature_dim(const li_net *net);

/* The loss (li_softmax_xent) is with the layers, in li_nn.h. */

/* Backward from dlogits after a training-mode forward of the same batch. A
 * BN-folded eval forward in between (e.g. a validation batch) is allowed; an
 * unfolded one (li_net_set_bn_folding false) invalidates the kept activations. */
int li_net_backward(li_net *net, const float *dlogits);

/* The parameter arena. */
size_t li_net_param_count(const li_net *net);
float *li_net_params(li_net *net);
float *li_net_grads(li_net *net);
void li_net_zero_grad(li_net *net);
/* Tell the net its parameters changed outside li_net (optimizer step, load),
 * so cached folded weights are rebuilt. */
void li_net_params_changed(li_net *net);

/* Named tensors in torchvision state_dict order: conv1.weight, bn1.weight,
 * bn1.bias, bn1.running_mean, bn1.running_var, bn1.num_batches_tracked, ...,
 * fc.weight, fc.bias. data points into the net (F32, or I64 for
 * num_batches_tracked); param_offset is the tensor's offset in the arena
 * when trainable. */
typedef struct li_net_tensor {
	char name[48];
	li_dtype dtype;
	int ndim;
	int64_t shape[4];
	size_t numel;
	void *data;
	bool trainable;
	size_t param_offset;
} li_net_tensor;
int li_net_tensor_count(const li_net *net);
const li_net_tensor *li_net_tensor_at(const li_net *net, int i);
const li_net_tensor *li_net_tensor_find(const li_net *net, const char *name);

/* Eval-mode BN folding (default on). Off: eval runs conv then BN with running
 * statistics, unfused (slower; for tests that check the folding). */
void li_net_set_bn_folding(li_net *net, bool fold);

/* Profiling: time and FLOPs accumulated per layer ("conv1", "maxpool",
 * "layer1.0", ..., "fc") and per convolution ("layer1.0.conv1", ...,
 * "layer2.0.downsample.0"; time of im2col + GEMM + col2im only). Entries
 * 0..k-1 are the layers in order, then the convolutions. */
typedef struct li_net_prof {
	char name[48];
	double forward_s, backward_s;       /* seconds */
	double forward_flop, backward_flop; /* floating-point operations */
	long forward_calls, backward_calls;
	const char *forward_path, *backward_path; /* a conv's last (li_conv_path), or NULL */
} li_net_prof;
int li_net_prof_count(const li_net *net);
const li_net_prof *li_net_prof_at(const li_net *net, int i);
void li_net_prof_reset(li_net *net);

/* A model's description beyond its tensors, the one home of the metadata
 * every program agrees on: the architecture, the input the model expects
 * (side, per-channel normalisation of pixel values in [0, 1]) and how it was
 * made. li_net_save writes it as __metadata__ (all values strings), li_net_load
 * returns it, and li_model_meta_default holds the only copy of the defaults:
 * input 224, ImageNet's mean 0.485,0.456,0.406 and std 0.229,0.224,0.225 for
 * RGB, their averages 0.449 and 0.226 for gray (what a plain torchvision or
 * timm export without metadata gets). */
typedef struct li_model_meta {
	li_net_config net;     /* load: the file's architecture; save writes the net's own */
	int input_size;        /* square input side in pixels, 32..8192 */
	float mean[3], std[3]; /* net.in_channels values used; std > 0 */
	int epoch;             /* training epoch the weights are from, from 1; 0: not recorded */
	double valid_loss;     /* validation loss at that epoch; NAN: not recorded */
	char *li_version;      /* load: the writer's toolkit version (NULL: none); save writes this build's */
	char *command;         /* the command line that trained the model, or NULL */
} li_model_meta;

/* Defaults for a model of `channels` (1 or 3) input channels: the above, no
 * epoch, no loss, no strings. */
void li_model_meta_default(li_model_meta *m, int channels);
/* Free the strings li_net_load allocated (li_version, command) and set them
 * NULL; a meta whose strings the caller points at its own memory is not
 * passed here. */
void li_model_meta_free(li_model_meta *m);

/* Models on disk: safetensors, torchvision state_dict names and order, F32
 * tensors and num_batches_tracked as I64 of shape []. __metadata__ keys: arch
 * ("resnet18"), classes, in_channels, width (from the net), li_version (this
 * build), and from meta: input_size ("224"), mean and std (comma-separated
 * per channel, "0.485,0.456,0.406"), epoch and valid_loss (when recorded),
 * command (when not NULL). meta NULL writes the defaults. */
int li_net_save(const li_net *net, const char *path, const li_model_meta *meta);
/* Load a model file. With cfg NULL the architecture comes from the file's
 * metadata (arch, classes, in_channels, width) or, for a plain torchvision/timm
 * export without it, from tensor shapes (resnet34 has layer3.5, resnet18
 * layer1.1; classes from fc.weight, channels and width from conv1.weight).
 * Before anything is allocated the metadata must agree with the tensors
 * (classes with fc.weight, in_channels and width with conv1.weight), and the
 * architecture it describes may not have more than 16 million values (64 MB)
 * beyond those the file holds, so a small file cannot make the loader
 * allocate gigabytes.
 * With cfg given and a different class count in the file, every tensor but fc
 * is loaded, fc is re-initialised with `seed`, and *fc_reset is set so the
 * caller can say so. Every name, dtype and shape is checked, and tensors the
 * net does not have are refused; errors name the file and the tensor:
 * "'m.safetensors': tensor 'layer1.0.conv1.weight' is missing". F16, BF16 and
 * F64 weights are converted; a missing num_batches_tracked reads as 0.
 * meta (may be NULL) receives the file's metadata, defaults for absent keys
 * (free with li_model_meta_free); its keys are checked only when it is asked
 * for. On failure meta->net still holds the file's architecture when the file
 * could be read that far (meta->net.arch is "" when not), so a caller can
 * explain a mismatch with its cfg in its own terms. */
li_net *li_net_load(const char *path, const li_net_config *cfg, uint64_t seed, bool *fc_reset,
		    li_model_meta *meta);
#endif
