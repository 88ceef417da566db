/* li_dnnl_train.c: a ResNet trunk's training forward and backward on oneDNN
 * primitives, in one blocked layout from input to output (see li_dnnl.h).
 *
 * Memory: a tensor that backward reads is "kept" (its own buffer); the
 * others are placed, at finish, in forward buffers shared by liveness.
 * Gradients live in backward buffers handed out and given back as backward
 * walks the ops in reverse: always the lowest free one, so the sequence of
 * choices depends only on the plan, and a dry run at finish (no primitive
 * runs) finds how large each buffer must be. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "li_cpu.h"
#include "li_dnnl.h"
#include "li_dnnl_impl.h"
#include "li_error.h"

#define T_TENSORS 192
#define T_OPS 96
#define T_BUFS 24

enum { OP_IN, OP_UNIT, OP_POOL, OP_OUT };

typedef struct ttensor {
	dnnl_memory_desc_t md;
	size_t bytes;
	bool kept;       /* backward reads it: its own buffer */
	bool grad_wanted; /* backward computes its gradient */
	int last;        /* the last forward op that reads or writes it */
	int fbuf;        /* shared buffer in forward, or -1 (kept, or the caller's) */
	void *own;       /* a kept tensor's buffer */
	int gbuf;        /* backward buffer holding its gradient now, or -1 */
	dnnl_memory_t mem, gmem, tmem; /* value, gradient, a temporary of its layout */
} ttensor;

/* dst += src (then ReLU): a binary add, or a sum and a ReLU (adder). */
typedef struct tadd {
	dnnl_primitive_t add, relu;
	bool sum;
} tadd;

static void adder_free(tadd *a);

typedef struct tunit {
	li_conv *c;
	li_bn *bn;
	int z, add;
	bool relu, fused_relu; /* fused: BN's own ReLU (no residual) */
	dnnl_primitive_t fwd, bwd_d, bwd_w, bn_f, bn_b, relu_b;
	tadd sum, acc_add, acc_src; /* the residual (forward); gradients added in */
	dnnl_primitive_t rw_f, rw_d, rdw; /* OIHW -> fwd / bwd-data weights; dW -> OIHW, added */
	dnnl_memory_t wu, wf, wd, dwu, dwb;
	dnnl_memory_t scale, shift, mean, var, dscale, dshift, ws;
	float *stats; /* mean, var, dscale, dshift: c each */
	void *wsbuf;
	size_t dwb_bytes;
} tunit;

typedef struct top {
	int kind, src, dst;
	dnnl_primitive_t fwd, bwd;   /* OP_IN / OP_OUT: reorders; OP_POOL: pooling */
	dnnl_memory_t ws;            /* OP_POOL's workspace */
	void *wsbuf;
	tunit *u;                    /* OP_UNIT */
} top;

struct li_dnnl_train {
	int n;
	dnnl_format_tag_t tag;
	dnnl_data_type_t dt; /* activations and the convs' weights: f32 or bf16 */
	ttensor t[T_TENSORS];
	int nt;
	top op[T_OPS];
	int nop;
	int in, out;
	void *gb[T_BUFS];
	size_t gbsz[T_BUFS];
	bool gbusy[T_BUFS];
	int ngb;
	void *dwb;       /* the blocked weight gradient, shared by every unit */
	size_t dwb_bytes;
	void *wb;        /* the blocked weights of the conv running, shared */
	size_t wb_bytes;
	dnnl_memory_t user_dy; /* the caller's output gradient (CNHW) */
	bool finished;
};

li_dnnl_train *li_dnnl_train_new(int n, bool bf16)
{
	if (li_dnnl_usable(bf16) < 0)
		return NULL;
	li_dnnl_train *t = li_calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->n = n;
	t->dt = bf16 ? dnnl_bf16 : dnnl_f32;
	t->tag = li_cpu_isa() >= LI_ISA_AVX512 ? dnnl_nChw16c : dnnl_nChw8c;
	t->in = t->out = -1;
	return t;
}

static void destroy_prims_(dnnl_primitive_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			dnnl_primitive_destroy(p[i]);
}

static void destroy_mems_(dnnl_memory_t *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i])
			dnnl_memory_destroy(m[i]);
}

typedef dnnl_primitive_t prim;
typedef dnnl_memory_t mem;

static void unit_free(tunit *u)
{
	if (!u)
		return;
	prim ps[] = {u->fwd, u->bwd_d, u->bwd_w, u->bn_f, u->bn_b,
		     u->relu_b, u->rw_f, u->rw_d, u->rdw};
	destroy_prims_(ps, sizeof(ps) / sizeof(ps[0]));
	adder_free(&u->sum);
	adder_free(&u->acc_add);
	adder_free(&u->acc_src);
	mem ms[] = {u->wu,    u->wf,  u->wd,   u->dwu,    u->dwb,    u->scale,
		    u->shift, u->mean, u->var, u->dscale, u->dshift, u->ws};
	/* wd may be wf (one layout for both) */
	if (u->wd == u->wf)
		ms[2] = NULL;
	destroy_mems_(ms, sizeof(ms) / sizeof(ms[0]));
	free(u->stats);
	li_free_aligned(u->wsbuf);
	free(u);
}

void li_dnnl_train_free(li_dnnl_train *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nop; i++) {
		top *o = &t->op[i];
		prim ps[] = {o->fwd, o->bwd};
		destroy_prims_(ps, 2);
		if (o->ws)
			dnnl_memory_destroy(o->ws);
		li_free_aligned(o->wsbuf);
		unit_free(o->u);
	}
	for (int i = 0; i < t->nt; i++) {
		mem ms[] = {t->t[i].mem, t->t[i].gmem, t->t[i].tmem};
		destroy_mems_(ms, 3);
		li_free_aligned(t->t[i].own);
	}
	for (int i = 0; i < t->ngb; i++)
		li_free_aligned(t->gb[i]);
	li_free_aligned(t->dwb);
	li_free_aligned(t->wb);
	if (t->user_dy)
		dnnl_memory_destroy(t->user_dy);
	free(t);
}

static int new_tensor(li_dnnl_train *t, const dnnl_memory_desc_t *md)
{
	if (t->nt == T_TENSORS)
		return li_error("oneDNN training plan: more than %d tensors", T_TENSORS);
	ttensor *x = &t->t[t->nt];
	memset(x, 0, sizeof(*x));
	x->md = *md;
	x->bytes = dnnl_memory_desc_get_size(md);
	x->last = -1;
	x->fbuf = -1;
	x->gbuf = -1;
	x->grad_wanted = true;
	return t->nt++;
}

static top *new_op(li_dnnl_train *t, int kind, int src, int dst)
{
	if (t->nop == T_OPS) {
		li_error("oneDNN training plan: more than %d operations", T_OPS);
		return NULL;
	}
	top *o = &t->op[t->nop];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->src = src;
	o->dst = dst;
	t->t[src].last = t->nop;
	t->t[dst].last = t->nop;
	t->nop++;
	return o;
}

/* The blocked layout of n x c x h x w. */
static dnnl_status_t blocked(const li_dnnl_train *t, dnnl_memory_desc_t *md, int c, int h, int w)
{
	dnnl_dims_t d = {t->n, c, h, w};
	return dnnl_memory_desc_init_by_tag(md, 4, d, t->dt, t->tag);
}

static dnnl_status_t make(dnnl_primitive_t *p, const void *desc, const_dnnl_primitive_attr_t attr,
			  const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *keep)
{
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t st = dnnl_primitive_desc_create(&pd, desc, attr, li_dnnl_engine, hint);
	if (st == dnnl_success)
		st = dnnl_primitive_create(p, pd);
	if (keep && st == dnnl_success)
		*keep = pd;
	else if (pd)
		dnnl_primitive_desc_destroy(pd);
	return st;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
	return dnnl_primitive_desc_query_md(pd, what, 0);
}

int li_dnnl_train_input(li_dnnl_train *t, int c, int h, int w)
{
	dnnl_memory_desc_t md;
	if (li_dnnl_cnhw(&md, t->n, c, h, w) != dnnl_success)
		return li_error("oneDNN: bad input shape");
	t->in = new_tensor(t, &md);
	if (t->in >= 0)
		t->t[t->in].grad_wanted = false;
	return t->in;
}

/* dst += src (then ReLU when relu): a binary add with the ReLU as a post-op
 * where the channels fill the layout's blocks; oneDNN 2.6's binary gets
 * channels that pad the last block wrong (seen with 6 and 12 channels in
 * nChw8c), so there a sum and a separate ReLU. */
static dnnl_status_t adder(tadd *a, const li_dnnl_train *t, const dnnl_memory_desc_t *md,
			   bool relu)
{
	int blk = t->tag == dnnl_nChw16c ? 16 : 8;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_status_t st = dnnl_success;
	a->sum = md->dims[1] % blk != 0;
	if (a->sum) {
		dnnl_memory_desc_t two[2] = {*md, *md};
		float scales[2] = {1.0f, 1.0f};
		dnnl_primitive_desc_t pd = NULL;
		st = dnnl_sum_primitive_desc_create(&pd, md, 2, scales, two, NULL, li_dnnl_engine);
		if (st == dnnl_success)
			st = dnnl_primitive_create(&a->add, pd);
		if (pd)
			dnnl_primitive_desc_destroy(pd);
		dnnl_eltwise_desc_t ed;
		if (st == dnnl_success && relu)
			st = dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
							    dnnl_eltwise_relu, md, 0.0f, 0.0f);
		if (st == dnnl_success && relu)
			st = make(&a->relu, &ed, NULL, NULL, NULL);
		return st;
	}
	dnnl_binary_desc_t bd;
	st = dnnl_binary_desc_init(&bd, dnnl_binary_add, md, md, md);
	if (st == dnnl_success && relu) {
		st = dnnl_primitive_attr_create(&attr);
		if (st == dnnl_success)
			st = dnnl_post_ops_create(&po);
		if (st == dnnl_success)
			st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
		if (st == dnnl_success)
			st = dnnl_primitive_attr_set_post_ops(attr, po);
	}
	if (st == dnnl_success)
		st = make(&a->add, &bd, attr, NULL, NULL);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return st;
}

static void adder_free(tadd *a)
{
	if (a->add)
		dnnl_primitive_destroy(a->add);
	if (a->relu)
		dnnl_primitive_destroy(a->relu);
}

static void exec(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args);

/* dst += src (ReLU after, when the adder was made so). */
static void adder_run(const tadd *a, dnnl_memory_t dst, dnnl_memory_t src)
{
	if (a->sum) {
		dnnl_exec_arg_t s[3] = {
			{DNNL_ARG_MULTIPLE_SRC, dst}, {DNNL_ARG_MULTIPLE_SRC + 1, src}, {DNNL_ARG_DST, dst}};
		exec(a->add, 3, s);
		if (a->relu)
			li_dnnl_exec2(a->relu, DNNL_ARG_SRC, dst, DNNL_ARG_DST, dst);
		return;
	}
	dnnl_exec_arg_t b[3] = {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, src}, {DNNL_ARG_DST, dst}};
	exec(a->add, 3, b);
}

#define TRY(call)                                                                          \
	do {                                                                               \
		if ((call) != dnnl_success)                                                \
			goto fail;                                                         \
	} while (0)

/* The conv's three primitives and their weight reorders. src_md: the input
 * tensor's layout, or NULL to let the conv choose (the first conv, whose
 * input is reordered for it; its *chosen receives the choice). */
static int unit_convs(li_dnnl_train *t, tunit *u, const dnnl_memory_desc_t *src_md,
		      const dnnl_memory_desc_t *z_md, int h, int w, dnnl_memory_desc_t *chosen,
		      bool want_dx)
{
	li_conv *c = u->c;
	dnnl_dims_t xd = {t->n, c->cin, h, w}, wdims = {c->cout, c->cin, c->kh, c->kw};
	dnnl_dims_t stride = {c->stride, c->stride}, pad = {c->pad, c->pad};
	dnnl_memory_desc_t xany, wany, dwany, wu;
	dnnl_convolution_desc_t fd, dd, wdd;
	dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
	TRY(dnnl_memory_desc_init_by_tag(&xany, 4, xd, t->dt, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&wany, 4, wdims, t->dt, dnnl_format_tag_any));
	/* the weight gradient in fp32 whatever the activations (fp32 master weights) */
	TRY(dnnl_memory_desc_init_by_tag(&dwany, 4, wdims, dnnl_f32, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&wu, 4, wdims, dnnl_f32, dnnl_oihw));
	TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
					       src_md ? src_md : &xany, &wany, NULL, z_md,
					       stride, pad, pad));
	TRY(make(&u->fwd, &fd, NULL, NULL, &fpd));
	const dnnl_memory_desc_t *xm = query(fpd, dnnl_query_src_md);
	*chosen = *xm;
	TRY(dnnl_memory_create(&u->wu, &wu, li_dnnl_engine, c->w));
	TRY(dnnl_memory_create(&u->wf, query(fpd, dnnl_query_weights_md), li_dnnl_engine,
			       DNNL_MEMORY_NONE));
	size_t wbytes = dnnl_memory_desc_get_size(query(fpd, dnnl_query_weights_md));
	t->wb_bytes = wbytes > t->wb_bytes ? wbytes : t->wb_bytes;
	TRY(li_dnnl_reorder(&u->rw_f, &wu, query(fpd, dnnl_query_weights_md), false));
	if (want_dx) {
		TRY(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, xm,
							     &wany, z_md, stride, pad, pad));
		TRY(make(&u->bwd_d, &dd, NULL, fpd, &dpd));
		const dnnl_memory_desc_t *wdm = query(dpd, dnnl_query_weights_md);
		if (dnnl_memory_desc_equal(wdm, query(fpd, dnnl_query_weights_md))) {
			u->wd = u->wf;
		} else {
			TRY(dnnl_memory_create(&u->wd, wdm, li_dnnl_engine, DNNL_MEMORY_NONE));
			TRY(li_dnnl_reorder(&u->rw_d, &wu, wdm, false));
			wbytes = dnnl_memory_desc_get_size(wdm);
			t->wb_bytes = wbytes > t->wb_bytes ? wbytes : t->wb_bytes;
		}
	}
	TRY(dnnl_convolution_backward_weights_desc_init(&wdd, dnnl_convolution_direct, xm, &dwany,
							NULL, z_md, stride, pad, pad));
	TRY(make(&u->bwd_w, &wdd, NULL, fpd, &wpd));
	const dnnl_memory_desc_t *dwm = query(wpd, dnnl_query_diff_weights_md);
	TRY(dnnl_memory_create(&u->dwu, &wu, li_dnnl_engine, c->dw));
	TRY(dnnl_memory_create(&u->dwb, dwm, li_dnnl_engine, DNNL_MEMORY_NONE));
	TRY(li_dnnl_reorder(&u->rdw, dwm, &wu, true));
	u->dwb_bytes = dnnl_memory_desc_get_size(dwm);
	if (u->dwb_bytes > t->dwb_bytes)
		t->dwb_bytes = u->dwb_bytes;
	dnnl_primitive_desc_destroy(fpd);
	if (dpd)
		dnnl_primitive_desc_destroy(dpd);
	dnnl_primitive_desc_destroy(wpd);
	return 0;
fail:
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
	if (dpd)
		dnnl_primitive_desc_destroy(dpd);
	if (wpd)
		dnnl_primitive_desc_destroy(wpd);
	return li_error("oneDNN has no training convolution %dx%d/%d of %d -> %d channels here",
			c->kh, c->kw, c->stride, c->cin, c->cout);
}

/* Batch norm (batch statistics; ReLU fused when u->fused_relu) on z_md. */
static int unit_bn(tunit *u, const dnnl_memory_desc_t *z_md)
{
	int ch = u->c->cout;
	unsigned flags = dnnl_use_scale | dnnl_use_shift | (u->fused_relu ? dnnl_fuse_norm_relu : 0u);
	dnnl_batch_normalization_desc_t fd, bd;
	dnnl_primitive_desc_t fpd = NULL;
	dnnl_memory_desc_t vec;
	dnnl_dims_t cd = {ch};
	TRY(dnnl_memory_desc_init_by_tag(&vec, 1, cd, dnnl_f32, dnnl_x));
	TRY(dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, z_md, LI_BN_EPS,
						       flags));
	TRY(make(&u->bn_f, &fd, NULL, NULL, &fpd));
	TRY(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, z_md, z_md, LI_BN_EPS,
							flags));
	TRY(make(&u->bn_b, &bd, NULL, fpd, NULL));
	if (u->fused_relu) {
		const dnnl_memory_desc_t *wsm = query(fpd, dnnl_query_workspace_md);
		size_t b = dnnl_memory_desc_get_size(wsm);
		if (!(u->wsbuf = li_malloc_aligned(b ? b : 64)))
			goto fail;
		TRY(dnnl_memory_create(&u->ws, wsm, li_dnnl_engine, u->wsbuf));
	}
	if (!(u->stats = li_malloc_array((size_t)4 * ch, sizeof(float))))
		goto fail;
	TRY(dnnl_memory_create(&u->scale, &vec, li_dnnl_engine, u->bn->gamma));
	TRY(dnnl_memory_create(&u->shift, &vec, li_dnnl_engine, u->bn->beta));
	TRY(dnnl_memory_create(&u->mean, &vec, li_dnnl_engine, u->stats));
	TRY(dnnl_memory_create(&u->var, &vec, li_dnnl_engine, u->stats + ch));
	TRY(dnnl_memory_create(&u->dscale, &vec, li_dnnl_engine, u->stats + 2 * ch));
	TRY(dnnl_memory_create(&u->dshift, &vec, li_dnnl_engine, u->stats + 3 * ch));
	dnnl_primitive_desc_destroy(fpd);
	return 0;
fail:
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
	return li_error("oneDNN has no training batch norm of %d channels here", ch);
}

int li_dnnl_train_unit(li_dnnl_train *t, int src, li_conv *c, li_bn *bn, int add, bool relu)
{
	if (src < 0 || c->b)
		return li_error("oneDNN training plan: a unit needs an input and a conv without bias");
	const dnnl_memory_desc_t *sm = &t->t[src].md;
	int h = (int)sm->dims[2], w = (int)sm->dims[3], oh, ow;
	li_conv_out_hw(c, h, w, &oh, &ow);
	dnnl_memory_desc_t zmd, chosen;
	if (blocked(t, &zmd, c->cout, oh, ow) != dnnl_success)
		return li_error("oneDNN: bad tensor shape");
	tunit *u = li_calloc(1, sizeof(*u));
	if (!u)
		return -1;
	u->c = c;
	u->bn = bn;
	u->add = add;
	u->relu = relu;
	u->fused_relu = relu && add < 0;
	bool first = src == t->in;
	if (unit_convs(t, u, first ? NULL : sm, &zmd, h, w, &chosen, !first) < 0 ||
	    unit_bn(u, &zmd) < 0) {
		unit_free(u);
		return -1;
	}
	if (!first && !dnnl_memory_desc_equal(&chosen, sm)) {
		unit_free(u);
		return li_error("oneDNN training plan: a conv wants another input layout");
	}
	if (first) {
		/* the input, reordered into the layout the conv chose (no gradient) */
		int x = new_tensor(t, &chosen);
		top *o = x < 0 ? NULL : new_op(t, OP_IN, src, x);
		if (!o || li_dnnl_reorder(&o->fwd, sm, &chosen, false) != dnnl_success) {
			unit_free(u);
			return o ? li_error("oneDNN has no reorder into a conv's input layout") : -1;
		}
		t->t[x].grad_wanted = false;
		src = x;
	}
	dnnl_status_t st = dnnl_success;
	if (add >= 0) {
		if (!dnnl_memory_desc_equal(&t->t[add].md, &zmd)) {
			unit_free(u);
			return li_error("oneDNN training plan: a residual of another shape");
		}
		st = adder(&u->sum, t, &zmd, relu);
		if (st == dnnl_success)
			st = adder(&u->acc_add, t, &zmd, false);
		if (st == dnnl_success && relu) {
			dnnl_eltwise_desc_t ed;
			st = dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd,
							     &zmd, &zmd, 0.0f, 0.0f);
			if (st == dnnl_success) {
				dnnl_eltwise_desc_t efd;
				dnnl_primitive_desc_t epd = NULL;
				st = dnnl_eltwise_forward_desc_init(&efd, dnnl_forward_training,
								    dnnl_eltwise_relu_use_dst_for_bwd,
								    &zmd, 0.0f, 0.0f);
				if (st == dnnl_success)
					st = dnnl_primitive_desc_create(&epd, &efd, NULL,
									li_dnnl_engine, NULL);
				if (st == dnnl_success)
					st = make(&u->relu_b, &ed, NULL, epd, NULL);
				if (epd)
					dnnl_primitive_desc_destroy(epd);
			}
		}
	}
	if (st == dnnl_success && t->t[src].grad_wanted)
		st = adder(&u->acc_src, t, sm, false);
	if (st != dnnl_success) {
		unit_free(u);
		return li_error("oneDNN has no residual sum or ReLU of %d channels here", c->cout);
	}
	u->z = new_tensor(t, &zmd);
	int y = u->z < 0 ? -1 : new_tensor(t, &zmd);
	top *o = y < 0 ? NULL : new_op(t, OP_UNIT, src, y);
	if (!o) {
		unit_free(u);
		return -1;
	}
	o->u = u;
	t->t[src].kept = true; /* backward-weights reads it */
	t->t[u->z].kept = true;
	t->t[u->z].last = t->nop - 1;
	if (add >= 0) {
		t->t[add].last = t->nop - 1;
		if (relu)
			t->t[y].kept = true; /* the ReLU's backward reads its output */
	}
	return y;
}

int li_dnnl_train_maxpool(li_dnnl_train *t, int src, int k, int s, int pad)
{
	const dnnl_memory_desc_t *sm = &t->t[src].md;
	int oh = ((int)sm->dims[2] + 2 * pad - k) / s + 1, ow = ((int)sm->dims[3] + 2 * pad - k) / s + 1;
	dnnl_dims_t strides = {s, s}, kernel = {k, k}, padding = {pad, pad};
	dnnl_memory_desc_t ymd;
	dnnl_pooling_desc_t fd, bd;
	dnnl_primitive_desc_t fpd = NULL;
	top *o = NULL;
	int y = -1;
	TRY(blocked(t, &ymd, (int)sm->dims[1], oh, ow));
	TRY(dnnl_pooling_forward_desc_init(&fd, dnnl_forward_training, dnnl_pooling_max, sm, &ymd,
					   strides, kernel, padding, padding));
	y = new_tensor(t, &ymd);
	o = y < 0 ? NULL : new_op(t, OP_POOL, src, y);
	if (!o)
		return -1;
	TRY(make(&o->fwd, &fd, NULL, NULL, &fpd));
	TRY(dnnl_pooling_backward_desc_init(&bd, dnnl_pooling_max, sm, &ymd, strides, kernel,
					    padding, padding));
	TRY(make(&o->bwd, &bd, NULL, fpd, NULL));
	const dnnl_memory_desc_t *wsm = query(fpd, dnnl_query_workspace_md);
	size_t b = dnnl_memory_desc_get_size(wsm);
	if (!(o->wsbuf = li_malloc_aligned(b ? b : 64)))
		goto fail;
	TRY(dnnl_memory_create(&o->ws, wsm, li_dnnl_engine, o->wsbuf));
	dnnl_primitive_desc_destroy(fpd);
	return y;
fail:
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
	return li_error("oneDNN has no training max pooling %dx%d/%d here", k, k, s);
}

int li_dnnl_train_output(li_dnnl_train *t, int src)
{
	const dnnl_memory_desc_t *sm = &t->t[src].md;
	dnnl_memory_desc_t md;
	if (li_dnnl_cnhw(&md, t->n, (int)sm->dims[1], (int)sm->dims[2], (int)sm->dims[3]) !=
	    dnnl_success)
		return li_error("oneDNN: bad output shape");
	int y = new_tensor(t, &md);
	top *o = y < 0 ? NULL : new_op(t, OP_OUT, src, y);
	if (!o)
		return -1;
	if (li_dnnl_reorder(&o->fwd, sm, &md, false) != dnnl_success ||
	    li_dnnl_reorder(&o->bwd, &md, sm, false) != dnnl_success)
		return li_error("oneDNN has no reorder to the output layout here");
	t->out = y;
	return y;
}

/* ---- backward buffers ---- */

/* The lowest free backward buffer, grown (dry) to bytes. */
static int gb_get(li_dnnl_train *t, size_t bytes, bool dry)
{
	int b = 0;
	while (b < t->ngb && t->gbusy[b])
		b++;
	if (b == t->ngb) {
		LI_ASSERT(dry && t->ngb < T_BUFS);
		t->ngb++;
	}
	if (dry && bytes > t->gbsz[b])
		t->gbsz[b] = bytes;
	LI_ASSERT(dry || bytes <= t->gbsz[b]);
	t->gbusy[b] = true;
	return b;
}

static void gb_put(li_dnnl_train *t, int b) { t->gbusy[b] = false; }

/* The gradient memory of tensor i, pointed at its buffer. */
static dnnl_memory_t grad_mem(li_dnnl_train *t, int i)
{
	ttensor *x = &t->t[i];
	LI_ASSERT(x->gbuf >= 0);
	LI_ASSERT(dnnl_memory_set_data_handle(x->gmem, t->gb[x->gbuf]) == dnnl_success);
	return x->gmem;
}

static void exec(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args)
{
	/* fails only on a programmer error (arguments that do not match) */
	LI_ASSERT(dnnl_primitive_execute(p, li_dnnl_stream, nargs, args) == dnnl_success);
}

/* A memory object of tensor i's layout on backward buffer b. */
static dnnl_memory_t on(li_dnnl_train *t, dnnl_memory_t m, int b)
{
	(void)t;
	LI_ASSERT(dnnl_memory_set_data_handle(m, t->gb[b]) == dnnl_success);
	return m;
}

/* grad(i) += the values in buffer b (tensor i's layout): b becomes the
 * gradient when there is none yet (no copy); otherwise b is added in and
 * given back. */
static void grad_add(li_dnnl_train *t, int i, int b, const tadd *acc, bool dry)
{
	ttensor *x = &t->t[i];
	if (x->gbuf < 0) {
		x->gbuf = b;
		return;
	}
	if (!dry)
		adder_run(acc, grad_mem(t, i), on(t, x->tmem, b));
	gb_put(t, b);
}

/* A unit's backward from its output's gradient gy: through the residual's
 * ReLU (in place), to the residual (gy itself when the residual has no
 * gradient yet), through BN into dz (in gy's buffer unless the residual took
 * it), then dW and, when the input wants one, dx. */
static void unit_backward(li_dnnl_train *t, top *o, bool dry)
{
	tunit *u = o->u;
	ttensor *y = &t->t[o->dst], *z = &t->t[u->z], *x = &t->t[o->src];
	int gy = y->gbuf, gz = gy;
	LI_ASSERT(gy >= 0);
	if (u->add >= 0) {
		if (u->relu && !dry) {
			dnnl_memory_t g = grad_mem(t, o->dst);
			dnnl_exec_arg_t a[3] = {
				{DNNL_ARG_DST, y->mem}, {DNNL_ARG_DIFF_DST, g}, {DNNL_ARG_DIFF_SRC, g}};
			exec(u->relu_b, 3, a);
		}
		if (t->t[u->add].gbuf < 0) {
			t->t[u->add].gbuf = gy;
			gz = gb_get(t, z->bytes, dry);
		} else if (!dry) {
			adder_run(&u->acc_add, grad_mem(t, u->add), on(t, y->gmem, gy));
		}
	}
	int ch = u->c->cout;
	if (!dry) {
		dnnl_memory_t g = on(t, y->gmem, gy), dz = on(t, z->gmem, gz);
		dnnl_exec_arg_t a[10] = {{DNNL_ARG_SRC, z->mem},        {DNNL_ARG_MEAN, u->mean},
					 {DNNL_ARG_VARIANCE, u->var},   {DNNL_ARG_DIFF_DST, g},
					 {DNNL_ARG_SCALE, u->scale},    {DNNL_ARG_SHIFT, u->shift},
					 {DNNL_ARG_DIFF_SRC, dz},       {DNNL_ARG_DIFF_SCALE, u->dscale},
					 {DNNL_ARG_DIFF_SHIFT, u->dshift}, {DNNL_ARG_WORKSPACE, u->ws}};
		exec(u->bn_b, u->ws ? 10 : 9, a);
		for (int k = 0; k < ch; k++) {
			u->bn->dgamma[k] += u->stats[2 * ch + k];
			u->bn->dbeta[k] += u->stats[3 * ch + k];
		}
		LI_ASSERT(dnnl_memory_set_data_handle(u->dwb, t->dwb) == dnnl_success);
		dnnl_exec_arg_t w[3] = {
			{DNNL_ARG_SRC, x->mem}, {DNNL_ARG_DIFF_DST, dz}, {DNNL_ARG_DIFF_WEIGHTS, u->dwb}};
		exec(u->bwd_w, 3, w);
		li_dnnl_exec2(u->rdw, DNNL_ARG_FROM, u->dwb, DNNL_ARG_TO, u->dwu);
	}
	if (x->grad_wanted) {
		int b = gb_get(t, x->bytes, dry);
		if (!dry) {
			/* the weights in backward-data's layout, into the shared scratch */
			LI_ASSERT(dnnl_memory_set_data_handle(u->wd, t->wb) == dnnl_success);
			li_dnnl_exec2(u->rw_d ? u->rw_d : u->rw_f, DNNL_ARG_FROM, u->wu, DNNL_ARG_TO,
				      u->wd);
			dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, on(t, z->gmem, gz)},
						{DNNL_ARG_WEIGHTS, u->wd},
						{DNNL_ARG_DIFF_SRC, on(t, x->tmem, b)}};
			exec(u->bwd_d, 3, a);
		}
		grad_add(t, o->src, b, &u->acc_src, dry);
	}
	gb_put(t, gz);
	y->gbuf = -1;
}

static void backward(li_dnnl_train *t, const float *dy, bool dry)
{
	for (int i = t->nop - 1; i >= 0; i--) {
		top *o = &t->op[i];
		ttensor *s = &t->t[o->src], *d = &t->t[o->dst];
		if (o->kind == OP_OUT) {
			int b = gb_get(t, s->bytes, dry);
			if (!dry) {
				LI_ASSERT(dnnl_memory_set_data_handle(t->user_dy, (void *)dy) ==
					  dnnl_success);
				LI_ASSERT(dnnl_memory_set_data_handle(s->gmem, t->gb[b]) ==
					  dnnl_success);
				li_dnnl_exec2(o->bwd, DNNL_ARG_FROM, t->user_dy, DNNL_ARG_TO, s->gmem);
			}
			LI_ASSERT(s->gbuf < 0);
			s->gbuf = b;
		} else if (o->kind == OP_POOL) {
			LI_ASSERT(s->gbuf < 0 && d->gbuf >= 0);
			int b = gb_get(t, s->bytes, dry);
			if (!dry) {
				LI_ASSERT(dnnl_memory_set_data_handle(s->gmem, t->gb[b]) ==
					  dnnl_success);
				dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, grad_mem(t, o->dst)},
							{DNNL_ARG_WORKSPACE, o->ws},
							{DNNL_ARG_DIFF_SRC, s->gmem}};
				exec(o->bwd, 3, a);
			}
			s->gbuf = b;
			gb_put(t, d->gbuf);
			d->gbuf = -1;
		} else if (o->kind == OP_UNIT) {
			unit_backward(t, o, dry);
		}
	}
	/* every gradient given back but none (the input has none) */
	for (int i = 0; i < t->nt; i++) {
		LI_ASSERT(t->t[i].gbuf < 0);
	}
}

int li_dnnl_train_finish(li_dnnl_train *t)
{
	LI_ASSERT(t->in >= 0 && t->out >= 0);
	/* forward: kept tensors their own memory, the others shared by liveness */
	int busy[T_BUFS];
	t->ngb = 0;
	for (int i = 0; i < t->nop; i++) {
		ttensor *x = &t->t[t->op[i].dst];
		if (t->op[i].dst == t->out)
			continue;
		if (x->kept) {
			if (!(x->own = li_malloc_aligned(x->bytes)))
				return -1;
			continue;
		}
		int b = 0;
		while (b < t->ngb && busy[b] >= i)
			b++;
		if (b == t->ngb) {
			if (t->ngb == T_BUFS)
				return li_error("oneDNN training plan: more than %d live tensors",
						T_BUFS);
			t->gbsz[t->ngb++] = 0;
		}
		x->fbuf = b;
		busy[b] = x->last;
		if (x->bytes > t->gbsz[b])
			t->gbsz[b] = x->bytes;
	}
	/* the kept z of every unit (written by the unit's op, not its dst) */
	for (int i = 0; i < t->nop; i++) {
		tunit *u = t->op[i].u;
		if (u && !t->t[u->z].own) {
			if (!(t->t[u->z].own = li_malloc_aligned(t->t[u->z].bytes)))
				return -1;
		}
	}
	/* backward: a dry run grows the shared buffers to what gradients need */
	backward(t, NULL, true);
	for (int b = 0; b < t->ngb; b++) {
		if (!(t->gb[b] = li_malloc_aligned(t->gbsz[b] ? t->gbsz[b] : 64)))
			return -1;
	}
	for (int i = 0; i < t->nt; i++) {
		ttensor *x = &t->t[i];
		void *h = x->own ? x->own : x->fbuf >= 0 ? t->gb[x->fbuf] : DNNL_MEMORY_NONE;
		if (dnnl_memory_create(&x->mem, &x->md, li_dnnl_engine, h) != dnnl_success ||
		    dnnl_memory_create(&x->gmem, &x->md, li_dnnl_engine, DNNL_MEMORY_NONE) !=
			    dnnl_success ||
		    dnnl_memory_create(&x->tmem, &x->md, li_dnnl_engine, DNNL_MEMORY_NONE) !=
			    dnnl_success)
			return li_error("oneDNN: cannot create a memory object");
	}
	if (dnnl_memory_create(&t->user_dy, &t->t[t->out].md, li_dnnl_engine, DNNL_MEMORY_NONE) !=
	    dnnl_success)
		return li_error("oneDNN: cannot create a memory object");
	if (!(t->wb = li_malloc_aligned(t->wb_bytes ? t->wb_bytes : 64)))
		return -1;
	if (!(t->dwb = li_malloc_aligned(t->dwb_bytes ? t->dwb_bytes : 64)))
		return -1;
	t->finished = true;
	return 0;
}

/* Running statistics as li_bn_forward updates them, from the batch's mean
 * and biased variance over m values. */
static void update_running(tunit *u, size_t m)
{
	li_bn *bn = u->bn;
	int ch = bn->c;
	for (int k = 0; k < ch; k++) {
		double mu = u->stats[k], var = u->stats[ch + k];
		double unbiased = m > 1 ? var * (double)m / (double)(m - 1) : var;
		bn->running_mean[k] = (float)((1.0 - LI_BN_MOMENTUM) * bn->running_mean[k] +
					      LI_BN_MOMENTUM * mu);
		bn->running_var[k] = (float)((1.0 - LI_BN_MOMENTUM) * bn->running_var[k] +
					     LI_BN_MOMENTUM * unbiased);
	}
	++*bn->num_batches_tracked;
}

static void unit_forward(li_dnnl_train *t, top *o)
{
	tunit *u = o->u;
	ttensor *z = &t->t[u->z], *y = &t->t[o->dst];
	LI_ASSERT(dnnl_memory_set_data_handle(u->wf, t->wb) == dnnl_success);
	li_dnnl_exec2(u->rw_f, DNNL_ARG_FROM, u->wu, DNNL_ARG_TO, u->wf);
	dnnl_exec_arg_t c[3] = {
		{DNNL_ARG_SRC, t->t[o->src].mem}, {DNNL_ARG_WEIGHTS, u->wf}, {DNNL_ARG_DST, z->mem}};
	exec(u->fwd, 3, c);
	dnnl_exec_arg_t b[7] = {{DNNL_ARG_SRC, z->mem},      {DNNL_ARG_DST, y->mem},
				{DNNL_ARG_SCALE, u->scale},  {DNNL_ARG_SHIFT, u->shift},
				{DNNL_ARG_MEAN, u->mean},    {DNNL_ARG_VARIANCE, u->var},
				{DNNL_ARG_WORKSPACE, u->ws}};
	exec(u->bn_f, u->ws ? 7 : 6, b);
	if (u->add >= 0)
		adder_run(&u->sum, y->mem, t->t[u->add].mem);
	const dnnl_memory_desc_t *md = &z->md;
	update_running(u, (size_t)md->dims[0] * md->dims[2] * md->dims[3]);
}

void li_dnnl_train_forward(li_dnnl_train *t, const float *x, float *y, int threads)
{
	LI_ASSERT(t->finished);
	omp_set_num_threads(threads > 0 ? threads : 1);
	LI_ASSERT(dnnl_memory_set_data_handle(t->t[t->in].mem, (void *)x) == dnnl_success);
	LI_ASSERT(dnnl_memory_set_data_handle(t->t[t->out].mem, y) == dnnl_success);
	for (int i = 0; i < t->nop; i++) {
		top *o = &t->op[i];
		dnnl_memory_t s = t->t[o->src].mem, d = t->t[o->dst].mem;
		int fb = t->t[o->dst].fbuf;
		/* a shared buffer held gradients: setting the handle again zeroes
		 * the padding of the last channel block, which oneDNN expects */
		if (fb >= 0 && t->t[o->dst].md.dims[1] % (t->tag == dnnl_nChw16c ? 16 : 8))
			LI_ASSERT(dnnl_memory_set_data_handle(d, t->gb[fb]) == dnnl_success);
		if (o->kind == OP_IN || o->kind == OP_OUT) {
			li_dnnl_exec2(o->fwd, DNNL_ARG_FROM, s, DNNL_ARG_TO, d);
		} else if (o->kind == OP_POOL) {
			dnnl_exec_arg_t a[3] = {
				{DNNL_ARG_SRC, s}, {DNNL_ARG_DST, d}, {DNNL_ARG_WORKSPACE, o->ws}};
			exec(o->fwd, 3, a);
		} else {
			unit_forward(t, o);
		}
	}
	omp_set_num_threads(1);
}

void li_dnnl_train_backward(li_dnnl_train *t, const float *dy, int threads)
{
	LI_ASSERT(t->finished);
	omp_set_num_threads(threads > 0 ? threads : 1);
	backward(t, dy, false);
	omp_set_num_threads(1);
}
