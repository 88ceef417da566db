/* li_pool.h: the toolkit's one thread pool. Every parallel loop in the library
 * (GEMM blocks, k-NN queries, bootstrap resamples, slide bands) runs on it;
 * OpenBLAS is kept single-threaded inside it, so there is one level of
 * parallelism and results do not depend on how OpenBLAS was built. */
#ifndef LI_POOL_H
#define LI_POOL_H

typedef struct li_pool li_pool;
/* A task gets a range [begin, end) of `items`. Ranges are taken dynamically by
 * whichever thread is free, so a task's result for an item must not depend on
 * the thread or on how items are grouped into ranges: then results are
 * deterministic (per thread count, and mostly across thread counts). */
typedef void (*li_pool_fn)(void *ctx, int begin, int end);
li_pool *li_pool_new(int threads);
void li_pool_free(li_pool *p);
int li_pool_threads(const li_pool *p);
/* Inside a task: the running thread's index in [0, threads), for per-thread scratch. */
int li_pool_self(void);
/* Run fn over [0, items) on all threads (the caller works too); returns when done. */
void li_pool_run(li_pool *p, int items, li_pool_fn fn, void *ctx);
/* The same with ranges of `chunk` items (chunk < 1: a few per thread). */
void li_pool_run_chunked(li_pool *p, int items, int chunk, li_pool_fn fn, void *ctx);

#endif
