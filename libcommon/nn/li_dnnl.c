/* li_dnnl.c: eval convolution on oneDNN primitives (see li_dnnl.h). */
#include "li_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>

#include "li_dnnl_impl.h"
#include <stdlib.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
dnnl_engine_t li_dnnl_engine;
dnnl_stream_t li_dnnl_stream;
static bool engine_ok;
#define engine li_dnnl_engine
#define stream li_dnnl_stream

static void setup(void)
{
	static const dnnl_cpu_isa_t cap[LI_ISA_COUNT] = {
		[LI_ISA_BASE] = dnnl_cpu_isa_sse41,
		[LI_ISA_AVX2] = dnnl_cpu_isa_avx2,
		[LI_ISA_AVX512] = dnnl_cpu_isa_avx512_core,
		[LI_ISA_AVX512_BF16] = dnnl_cpu_isa_avx512_core_bf16,
		[LI_ISA_AMX] = dnnl_cpu_isa_avx512_core_amx,
	};
	li_isa isa = li_cpu_isa();
	if (isa < li_cpu_isa_hw())
		dnnl_set_max_cpu_isa(cap[isa]);
	engine_ok = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success &&
		    dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success;
}

void li_dnnl_setup(void) { pthread_once(&setup_once, setup); }

bool li_dnnl_bf16_native(void) { return li_cpu_isa() >= LI_ISA_AVX512_BF16; }

void li_dnnl_threads(int threads)
{
	li_dnnl_setup();
	omp_set_num_threads(threads > 0 ? threads : 1);
}

const char *li_dnnl_version(char *buf, size_t size)
{
	const dnnl_version_t *v = dnnl_version();
	snprintf(buf, size, "%d.%d.%d", v->major, v->minor, v->patch);
	return buf;
}

struct li_dnnl_conv {
	int cout, cin, kh, kw;
	dnnl_primitive_t conv, rx, ry, ry_add; /* conv, CNHW -> blocked x, blocked y -> CNHW */
	dnnl_memory_t x, xb, w, wb, yb, y;     /* user x, blocked x, weights, blocked y, user y */
	dnnl_primitive_t rw;                   /* weights OIHW fp32 -> conv's layout */
	size_t xb_bytes, yb_bytes;
};

#define TRY(call)                                                                          \
	do {                                                                               \
		if ((call) != dnnl_success)                                                \
			goto fail;                                                         \
	} while (0)

dnnl_status_t li_dnnl_reorder(dnnl_primitive_t *p, const dnnl_memory_desc_t *from,
			     const dnnl_memory_desc_t *to, bool add)
{
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t st = dnnl_primitive_attr_create(&attr);
	if (st == dnnl_success && add) {
		st = dnnl_post_ops_create(&po);
		if (st == dnnl_success)
			st = dnnl_post_ops_append_sum(po, 1.0f);
		if (st == dnnl_success)
			st = dnnl_primitive_attr_set_post_ops(attr, po);
	}
	if (st == dnnl_success)
		st = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr);
	if (st == dnnl_success)
		st = dnnl_primitive_create(p, pd);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return st;
}

dnnl_status_t li_dnnl_cnhw(dnnl_memory_desc_t *md, int n, int c, int h, int w)
{
	dnnl_dims_t dims = {n, c, h, w};
	dnnl_dims_t strides = {(dnnl_dim_t)h * w, (dnnl_dim_t)n * h * w, w, 1};
	return dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides);
}

int li_dnnl_usable(bool bf16)
{
	li_dnnl_setup();
	if (!engine_ok)
		return li_error("oneDNN has no CPU engine here");
	if (bf16 && !li_dnnl_bf16_native())
		return li_error("bf16 needs a CPU with AVX512_BF16 or AMX (this one runs %s%s)",
				li_isa_name(li_cpu_isa()),
				li_cpu_isa() < li_cpu_isa_hw() ? ", capped by LI_ISA" : "");
	return 0;
}

li_dnnl_conv *li_dnnl_conv_new(const li_conv *c, int n, int h, int w, bool bf16)
{
	if (li_dnnl_usable(bf16) < 0)
		return NULL;
	li_dnnl_conv *d = li_calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cout = c->cout;
	d->cin = c->cin;
	d->kh = c->kh;
	d->kw = c->kw;
	int oh, ow;
	li_conv_out_hw(c, h, w, &oh, &ow);
	dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
	dnnl_memory_desc_t xu, yu, wu, xa, wa, ya;
	dnnl_dims_t xd = {n, c->cin, h, w}, wd = {c->cout, c->cin, c->kh, c->kw},
		    yd = {n, c->cout, oh, ow};
	dnnl_dims_t stride = {c->stride, c->stride}, pad = {c->pad, c->pad};
	dnnl_primitive_desc_t pd = NULL;
	TRY(li_dnnl_cnhw(&xu, n, c->cin, h, w));
	TRY(li_dnnl_cnhw(&yu, n, c->cout, oh, ow));
	TRY(dnnl_memory_desc_init_by_tag(&wu, 4, wd, dnnl_f32, dnnl_oihw));
	TRY(dnnl_memory_desc_init_by_tag(&xa, 4, xd, dt, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&wa, 4, wd, dt, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&ya, 4, yd, dnnl_f32, dnnl_format_tag_any));
	dnnl_convolution_desc_t cd;
	TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
					       dnnl_convolution_direct, &xa, &wa, NULL, &ya,
					       stride, pad, pad));
	TRY(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, NULL));
	const dnnl_memory_desc_t *xb = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t *wb = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const dnnl_memory_desc_t *yb = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	TRY(dnnl_primitive_create(&d->conv, pd));
	TRY(li_dnnl_reorder(&d->rx, &xu, xb, false));
	TRY(li_dnnl_reorder(&d->ry, yb, &yu, false));
	TRY(li_dnnl_reorder(&d->ry_add, yb, &yu, true));
	TRY(li_dnnl_reorder(&d->rw, &wu, wb, false));
	d->xb_bytes = (dnnl_memory_desc_get_size(xb) + 63) & ~(size_t)63;
	d->yb_bytes = (dnnl_memory_desc_get_size(yb) + 63) & ~(size_t)63;
	TRY(dnnl_memory_create(&d->x, &xu, engine, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&d->y, &yu, engine, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&d->xb, xb, engine, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&d->yb, yb, engine, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&d->w, &wu, engine, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&d->wb, wb, engine, DNNL_MEMORY_ALLOCATE));
	dnnl_primitive_desc_destroy(pd);
	return d;
fail:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	li_error("oneDNN has no %s convolution %dx%d/%d of %d -> %d channels on this CPU",
		 bf16 ? "bf16" : "fp32", c->kh, c->kw, c->stride, c->cin, c->cout);
	li_dnnl_conv_free(d);
	return NULL;
}

void li_dnnl_conv_free(li_dnnl_conv *d)
{
	if (!d)
		return;
	dnnl_primitive_t prims[] = {d->conv, d->rx, d->ry, d->ry_add, d->rw};
	for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
		if (prims[i])
			dnnl_primitive_destroy(prims[i]);
	dnnl_memory_t mems[] = {d->x, d->xb, d->w, d->wb, d->yb, d->y};
	for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
		if (mems[i])
			dnnl_memory_destroy(mems[i]);
	free(d);
}

void li_dnnl_exec2(dnnl_primitive_t p, int a1, dnnl_memory_t m1, int a2, dnnl_memory_t m2)
{
	dnnl_exec_arg_t args[2] = {{a1, m1}, {a2, m2}};
	/* fails only on a programmer error (arguments that do not match the primitive) */
	LI_ASSERT(dnnl_primitive_execute(p, stream, 2, args) == dnnl_success);
}

void li_dnnl_conv_weights(li_dnnl_conv *d, const float *w)
{
	omp_set_num_threads(1);
	LI_ASSERT(dnnl_memory_set_data_handle(d->w, (void *)w) == dnnl_success);
	li_dnnl_exec2(d->rw, DNNL_ARG_FROM, d->w, DNNL_ARG_TO, d->wb);
}

size_t li_dnnl_conv_ws_bytes(const li_dnnl_conv *d) { return d->xb_bytes + d->yb_bytes; }

void li_dnnl_conv_run(li_dnnl_conv *d, const float *x, float *y, float beta, int threads,
		      void *ws)
{
	LI_ASSERT(beta == 0.0f || beta == 1.0f);
	omp_set_num_threads(threads > 0 ? threads : 1);
	LI_ASSERT(dnnl_memory_set_data_handle(d->x, (void *)x) == dnnl_success);
	LI_ASSERT(dnnl_memory_set_data_handle(d->y, y) == dnnl_success);
	LI_ASSERT(dnnl_memory_set_data_handle(d->xb, ws) == dnnl_success);
	LI_ASSERT(dnnl_memory_set_data_handle(d->yb, (char *)ws + d->xb_bytes) == dnnl_success);
	li_dnnl_exec2(d->rx, DNNL_ARG_FROM, d->x, DNNL_ARG_TO, d->xb);
	dnnl_exec_arg_t args[3] = {
		{DNNL_ARG_SRC, d->xb}, {DNNL_ARG_WEIGHTS, d->wb}, {DNNL_ARG_DST, d->yb}};
	LI_ASSERT(dnnl_primitive_execute(d->conv, stream, 3, args) == dnnl_success);
	li_dnnl_exec2(beta == 0.0f ? d->ry : d->ry_add, DNNL_ARG_FROM, d->yb, DNNL_ARG_TO, d->y);
	/* li_sgemm1 callers on this thread expect a team of one */
	omp_set_num_threads(1);
}

/* ---- plans: a whole eval forward in oneDNN's layouts ---- */

#define PLAN_TENSORS 128
#define PLAN_OPS 128
#define PLAN_BUFS 16

enum { OP_REORDER, OP_CONV, OP_POOL };

typedef struct ptensor {
	dnnl_memory_desc_t md;
	int last; /* the last op that reads or writes it */
	int buf;  /* -1 for the caller's input and output */
	dnnl_memory_t mem;
} ptensor;

typedef struct pop {
	int kind, src, dst;
	dnnl_primitive_t prim;
	const float *w, *b;          /* conv: the caller's weights and bias */
	dnnl_memory_t wu, wb, bias;  /* conv: OIHW fp32 view, conv's layout, bias view */
	dnnl_primitive_t wr;         /* conv: wu -> wb */
} pop;

struct li_dnnl_plan {
	int n;
	dnnl_data_type_t dt;
	ptensor t[PLAN_TENSORS];
	int nt;
	pop op[PLAN_OPS];
	int nop;
	int in, out;
	void *buf[PLAN_BUFS];
	size_t bufsz[PLAN_BUFS];
	int busy[PLAN_BUFS]; /* the last op of the tensors placed in it */
	int nbuf;
};

li_dnnl_plan *li_dnnl_plan_new(int n, bool bf16)
{
	if (li_dnnl_usable(bf16) < 0)
		return NULL;
	li_dnnl_plan *p = li_calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->n = n;
	p->dt = bf16 ? dnnl_bf16 : dnnl_f32;
	p->in = p->out = -1;
	return p;
}

void li_dnnl_plan_free(li_dnnl_plan *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nop; i++) {
		pop *o = &p->op[i];
		dnnl_primitive_t prims[] = {o->prim, o->wr};
		for (size_t k = 0; k < sizeof(prims) / sizeof(prims[0]); k++)
			if (prims[k])
				dnnl_primitive_destroy(prims[k]);
		dnnl_memory_t mems[] = {o->wu, o->wb, o->bias};
		for (size_t k = 0; k < sizeof(mems) / sizeof(mems[0]); k++)
			if (mems[k])
				dnnl_memory_destroy(mems[k]);
	}
	for (int i = 0; i < p->nt; i++)
		if (p->t[i].mem)
			dnnl_memory_destroy(p->t[i].mem);
	for (int i = 0; i < p->nbuf; i++)
		li_free_aligned(p->buf[i]);
	free(p);
}

static int new_tensor(li_dnnl_plan *p, const dnnl_memory_desc_t *md, bool user)
{
	if (p->nt == PLAN_TENSORS)
		return li_error("oneDNN plan: more than %d tensors", PLAN_TENSORS);
	ptensor *t = &p->t[p->nt];
	t->md = *md;
	t->last = -1;
	t->buf = user ? -1 : -2; /* -2: placed by finish */
	return p->nt++;
}

static pop *new_op(li_dnnl_plan *p, int kind, int src, int dst)
{
	if (p->nop == PLAN_OPS) {
		li_error("oneDNN plan: more than %d operations", PLAN_OPS);
		return NULL;
	}
	pop *o = &p->op[p->nop];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->src = src;
	o->dst = dst;
	p->t[src].last = p->nop;
	p->t[dst].last = p->nop;
	p->nop++;
	return o;
}

/* A tensor holding src's values in layout md (src itself when it already is). */
static int as_layout(li_dnnl_plan *p, int src, const dnnl_memory_desc_t *md)
{
	if (dnnl_memory_desc_equal(&p->t[src].md, md))
		return src;
	int dst = new_tensor(p, md, false);
	if (dst < 0)
		return -1;
	dnnl_primitive_t prim = NULL;
	if (li_dnnl_reorder(&prim, &p->t[src].md, md, false) != dnnl_success)
		return li_error("oneDNN has no reorder between two of its layouts here");
	pop *o = new_op(p, OP_REORDER, src, dst);
	if (!o) {
		dnnl_primitive_destroy(prim);
		return -1;
	}
	o->prim = prim;
	return dst;
}

int li_dnnl_plan_input(li_dnnl_plan *p, int c, int h, int w)
{
	dnnl_memory_desc_t md;
	if (li_dnnl_cnhw(&md, p->n, c, h, w) != dnnl_success)
		return li_error("oneDNN: bad input shape");
	p->in = new_tensor(p, &md, true);
	return p->in;
}

int li_dnnl_plan_conv(li_dnnl_plan *p, int src, const li_conv *c, const float *w,
		      const float *b, int sum, bool relu)
{
	const dnnl_memory_desc_t *sm = &p->t[src].md;
	int h = (int)sm->dims[2], wd = (int)sm->dims[3], oh, ow;
	li_conv_out_hw(c, h, wd, &oh, &ow);
	dnnl_dims_t xd = {p->n, c->cin, h, wd}, wdims = {c->cout, c->cin, c->kh, c->kw},
		    bd = {c->cout}, yd = {p->n, c->cout, oh, ow};
	dnnl_dims_t stride = {c->stride, c->stride}, pad = {c->pad, c->pad};
	dnnl_memory_desc_t xany, wany, bmd, yany, wu;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t st = dnnl_memory_desc_init_by_tag(&xany, 4, xd, p->dt, dnnl_format_tag_any);
	if (st == dnnl_success)
		st = dnnl_memory_desc_init_by_tag(&wany, 4, wdims, p->dt, dnnl_format_tag_any);
	if (st == dnnl_success)
		st = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
	if (st == dnnl_success)
		st = dnnl_memory_desc_init_by_tag(&yany, 4, yd, p->dt, dnnl_format_tag_any);
	if (st == dnnl_success)
		st = dnnl_memory_desc_init_by_tag(&wu, 4, wdims, dnnl_f32, dnnl_oihw);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_create(&attr);
	if (st == dnnl_success)
		st = dnnl_post_ops_create(&po);
	if (st == dnnl_success && sum >= 0)
		st = dnnl_post_ops_append_sum(po, 1.0f);
	if (st == dnnl_success && relu)
		st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
	if (st == dnnl_success)
		st = dnnl_primitive_attr_set_post_ops(attr, po);
	/* Prefer the layouts the tensors already have (no reorder), then any. */
	bool src_fixed = p->t[src].buf != -1 && p->t[src].md.data_type == p->dt;
	bool dst_fixed = sum >= 0 && p->t[sum].buf != -1;
	for (int k = 0; st == dnnl_success && k < 4 && !pd; k++) {
		bool fs = src_fixed && !(k & 1), fd = dst_fixed && !(k & 2);
		if ((k & 1 && !src_fixed) || (k & 2 && !dst_fixed))
			continue;
		dnnl_convolution_desc_t cd;
		if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
						       dnnl_convolution_direct, fs ? sm : &xany,
						       &wany, b ? &bmd : NULL,
						       fd ? &p->t[sum].md : &yany, stride, pad,
						       pad) != dnnl_success)
			continue;
		if (dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL) != dnnl_success)
			pd = NULL;
	}
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (!pd)
		return li_error("oneDNN has no %s convolution %dx%d/%d of %d -> %d channels here",
				p->dt == dnnl_bf16 ? "bf16" : "fp32", c->kh, c->kw, c->stride,
				c->cin, c->cout);
	const dnnl_memory_desc_t *xm = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t *wm = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const dnnl_memory_desc_t *ym = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	int x = as_layout(p, src, xm);
	int y = x < 0 ? -1 : sum >= 0 ? as_layout(p, sum, ym) : new_tensor(p, ym, false);
	pop *o = y < 0 ? NULL : new_op(p, OP_CONV, x, y);
	if (o) {
		o->w = w;
		o->b = b;
		if (dnnl_primitive_create(&o->prim, pd) != dnnl_success ||
		    dnnl_memory_create(&o->wu, &wu, engine, DNNL_MEMORY_NONE) != dnnl_success ||
		    dnnl_memory_create(&o->wb, wm, engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
		    (b && dnnl_memory_create(&o->bias, &bmd, engine, DNNL_MEMORY_NONE) !=
				  dnnl_success) ||
		    li_dnnl_reorder(&o->wr, &wu, wm, false) != dnnl_success) {
			li_error("oneDNN: cannot set up a convolution's weights (out of memory?)");
			y = -1;
		}
	}
	dnnl_primitive_desc_destroy(pd);
	return o ? y : -1;
}

int li_dnnl_plan_maxpool(li_dnnl_plan *p, int src, int k, int s, int pad)
{
	const dnnl_memory_desc_t *sm = &p->t[src].md;
	int oh = ((int)sm->dims[2] + 2 * pad - k) / s + 1, ow = ((int)sm->dims[3] + 2 * pad - k) / s + 1;
	dnnl_dims_t yd = {sm->dims[0], sm->dims[1], oh, ow};
	dnnl_dims_t strides = {s, s}, kernel = {k, k}, padding = {pad, pad};
	dnnl_memory_desc_t yany;
	dnnl_pooling_desc_t d;
	dnnl_primitive_desc_t pd = NULL;
	if (dnnl_memory_desc_init_by_tag(&yany, 4, yd, sm->data_type, dnnl_format_tag_any) !=
		    dnnl_success ||
	    dnnl_pooling_forward_desc_init(&d, dnnl_forward_inference, dnnl_pooling_max, sm, &yany,
					   strides, kernel, padding, padding) != dnnl_success ||
	    dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL) != dnnl_success)
		return li_error("oneDNN has no max pooling %dx%d/%d here", k, k, s);
	int y = new_tensor(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), false);
	pop *o = y < 0 ? NULL : new_op(p, OP_POOL, src, y);
	if (o && dnnl_primitive_create(&o->prim, pd) != dnnl_success) {
		li_error("oneDNN: cannot create a pooling primitive");
		o = NULL;
	}
	dnnl_primitive_desc_destroy(pd);
	return o ? y : -1;
}

int li_dnnl_plan_output(li_dnnl_plan *p, int src)
{
	const dnnl_memory_desc_t *sm = &p->t[src].md;
	dnnl_memory_desc_t md;
	if (li_dnnl_cnhw(&md, p->n, (int)sm->dims[1], (int)sm->dims[2], (int)sm->dims[3]) != dnnl_success)
		return li_error("oneDNN: bad output shape");
	int y = new_tensor(p, &md, true);
	dnnl_primitive_t prim = NULL;
	if (y < 0 || li_dnnl_reorder(&prim, sm, &md, false) != dnnl_success)
		return li_error("oneDNN has no reorder to the output layout here");
	pop *o = new_op(p, OP_REORDER, src, y);
	if (!o) {
		dnnl_primitive_destroy(prim);
		return -1;
	}
	o->prim = prim;
	p->out = y;
	return y;
}

int li_dnnl_plan_finish(li_dnnl_plan *p)
{
	/* place each tensor, when its first op writes it, in a buffer whose
	 * tensors are all dead by then (the op's own inputs are still live) */
	for (int i = 0; i < p->nop; i++) {
		ptensor *t = &p->t[p->op[i].dst];
		if (t->buf != -2)
			continue;
		size_t need = dnnl_memory_desc_get_size(&t->md);
		int best = -1;
		for (int b = 0; b < p->nbuf; b++)
			if (p->busy[b] < i && (best < 0 || p->bufsz[b] > p->bufsz[best]))
				best = b;
		if (best < 0) {
			if (p->nbuf == PLAN_BUFS)
				return li_error("oneDNN plan: more than %d live tensors", PLAN_BUFS);
			best = p->nbuf++;
		}
		t->buf = best;
		p->busy[best] = t->last;
		if (need > p->bufsz[best])
			p->bufsz[best] = need;
	}
	for (int b = 0; b < p->nbuf; b++)
		if (!(p->buf[b] = li_malloc_aligned(p->bufsz[b] ? p->bufsz[b] : 64)))
			return -1;
	for (int i = 0; i < p->nt; i++) {
		ptensor *t = &p->t[i];
		if (dnnl_memory_create(&t->mem, &t->md, engine, DNNL_MEMORY_NONE) != dnnl_success)
			return li_error("oneDNN: cannot create a memory object");
		if (t->buf >= 0)
			LI_ASSERT(dnnl_memory_set_data_handle(t->mem, p->buf[t->buf]) == dnnl_success);
	}
	LI_ASSERT(p->in >= 0 && p->out >= 0);
	return 0;
}

void li_dnnl_plan_weights(li_dnnl_plan *p)
{
	omp_set_num_threads(1);
	for (int i = 0; i < p->nop; i++) {
		pop *o = &p->op[i];
		if (o->kind != OP_CONV)
			continue;
		LI_ASSERT(dnnl_memory_set_data_handle(o->wu, (void *)o->w) == dnnl_success);
		li_dnnl_exec2(o->wr, DNNL_ARG_FROM, o->wu, DNNL_ARG_TO, o->wb);
		if (o->bias)
			LI_ASSERT(dnnl_memory_set_data_handle(o->bias, (void *)o->b) == dnnl_success);
	}
}

void li_dnnl_plan_run(li_dnnl_plan *p, const float *x, float *y, int threads)
{
	omp_set_num_threads(threads > 0 ? threads : 1);
	LI_ASSERT(dnnl_memory_set_data_handle(p->t[p->in].mem, (void *)x) == dnnl_success);
	LI_ASSERT(dnnl_memory_set_data_handle(p->t[p->out].mem, y) == dnnl_success);
	for (int i = 0; i < p->nop; i++) {
		pop *o = &p->op[i];
		dnnl_memory_t src = p->t[o->src].mem, dst = p->t[o->dst].mem;
		if (o->kind == OP_REORDER) {
			li_dnnl_exec2(o->prim, DNNL_ARG_FROM, src, DNNL_ARG_TO, dst);
		} else if (o->kind == OP_POOL) {
			li_dnnl_exec2(o->prim, DNNL_ARG_SRC, src, DNNL_ARG_DST, dst);
		} else {
			dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src},
						   {DNNL_ARG_WEIGHTS, o->wb},
						   {DNNL_ARG_DST, dst},
						   {DNNL_ARG_BIAS, o->bias}};
			LI_ASSERT(dnnl_primitive_execute(o->prim, stream, o->bias ? 4 : 3, args) ==
				  dnnl_success);
		}
	}
	omp_set_num_threads(1);
}
