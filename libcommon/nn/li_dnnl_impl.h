/* li_dnnl_impl.h: what li_dnnl.c shares with li_dnnl_train.c (not installed):
 * the one engine and stream, and small helpers over oneDNN's C API. */
#ifndef LI_DNNL_IMPL_H
#define LI_DNNL_IMPL_H
#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>

extern dnnl_engine_t li_dnnl_engine;
extern dnnl_stream_t li_dnnl_stream;
/* libgomp's: oneDNN's team size is the calling thread's. */
extern void omp_set_num_threads(int threads);

/* 0 when oneDNN runs here (in bf16 too, when asked), else -1 + li_error. */
int li_dnnl_usable(bool bf16);
/* A reorder from one layout to another, adding onto the destination when add. */
dnnl_status_t li_dnnl_reorder(dnnl_primitive_t *p, const dnnl_memory_desc_t *from,
			      const dnnl_memory_desc_t *to, bool add);
/* CNHW: dims N, C, H, W with strides H W, N H W, W, 1. */
dnnl_status_t li_dnnl_cnhw(dnnl_memory_desc_t *md, int n, int c, int h, int w);
/* Run a primitive of two arguments (it fails only on a programmer error). */
void li_dnnl_exec2(dnnl_primitive_t p, int a1, dnnl_memory_t m1, int a2, dnnl_memory_t m2);
#endif
