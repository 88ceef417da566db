/* li_dnnl.c: eval convolution on oneDNN primitives (see li_dnnl.h). */
#include "li_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "li_cpu.h"
#include "li_error.h"

/* libgomp's (see li_gemm.c): oneDNN's team size is the calling thread's. */
extern void omp_set_num_threads(int threads);

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static bool engine_ok;

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

static dnnl_status_t reorder(dnnl_primitive_t *p, const dnnl_memory_desc_t *from,
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

/* CNHW: dims N, C, H, W with strides H W, N H W, W, 1. */
static dnnl_status_t cnhw(dnnl_memory_desc_t *md, int n, int c, int h, int w)
{
	dnnl_dims_t dims = {n, c, h, w};
	dnnl_dims_t strides = {(dnnl_dim_t)h * w, (dnnl_dim_t)n * h * w, w, 1};
	return dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides);
}

li_dnnl_conv *li_dnnl_conv_new(const li_conv *c, int n, int h, int w, bool bf16)
{
	li_dnnl_setup();
	if (!engine_ok) {
		li_error("oneDNN has no CPU engine here");
		return NULL;
	}
	if (bf16 && !li_dnnl_bf16_native()) {
		li_error("bf16 needs a CPU with AVX512_BF16 or AMX (this one runs %s%s)",
			 li_isa_name(li_cpu_isa()),
			 li_cpu_isa() < li_cpu_isa_hw() ? ", capped by LI_ISA" : "");
		return NULL;
	}
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
	TRY(cnhw(&xu, n, c->cin, h, w));
	TRY(cnhw(&yu, n, c->cout, oh, ow));
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
	TRY(reorder(&d->rx, &xu, xb, false));
	TRY(reorder(&d->ry, yb, &yu, false));
	TRY(reorder(&d->ry_add, yb, &yu, true));
	TRY(reorder(&d->rw, &wu, wb, false));
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

static void exec2(dnnl_primitive_t p, int a1, dnnl_memory_t m1, int a2, dnnl_memory_t m2)
{
	dnnl_exec_arg_t args[2] = {{a1, m1}, {a2, m2}};
	/* fails only on a programmer error (arguments that do not match the primitive) */
	LI_ASSERT(dnnl_primitive_execute(p, stream, 2, args) == dnnl_success);
}

void li_dnnl_conv_weights(li_dnnl_conv *d, const float *w)
{
	omp_set_num_threads(1);
	LI_ASSERT(dnnl_memory_set_data_handle(d->w, (void *)w) == dnnl_success);
	exec2(d->rw, DNNL_ARG_FROM, d->w, DNNL_ARG_TO, d->wb);
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
	exec2(d->rx, DNNL_ARG_FROM, d->x, DNNL_ARG_TO, d->xb);
	dnnl_exec_arg_t args[3] = {
		{DNNL_ARG_SRC, d->xb}, {DNNL_ARG_WEIGHTS, d->wb}, {DNNL_ARG_DST, d->yb}};
	LI_ASSERT(dnnl_primitive_execute(d->conv, stream, 3, args) == dnnl_success);
	exec2(beta == 0.0f ? d->ry : d->ry_add, DNNL_ARG_FROM, d->yb, DNNL_ARG_TO, d->y);
	/* li_sgemm1 callers on this thread expect a team of one */
	omp_set_num_threads(1);
}
