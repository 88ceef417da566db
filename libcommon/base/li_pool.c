/* li_pool.c: a minimal fork-join thread pool; it runs everything the net does
 * in parallel, GEMMs included (OpenBLAS itself is kept at one thread, so the 2
 * cores are never fought over by two pools).
 *
 * Items are handed out in fixed chunks from a shared counter: whoever is free
 * takes the next chunk. On a busy machine a worker that is descheduled (or
 * slow to wake) then costs nothing: the caller takes its share. Results stay
 * deterministic because a task's result for each item may not depend on which
 * thread runs it or how items are grouped (li_nn.h says so). The caller waits
 * only for workers that actually joined the job, never for one still asleep. */
#include "li_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "li_error.h"

/* Which thread of its pool the current thread is (the caller is 0). */
static _Thread_local int self_index;

struct li_pool {
	int threads;
	pthread_t *tid;
	pthread_mutex_t mu;
	pthread_cond_t start, done;
	uint64_t generation;
	int busy;  /* workers inside the current job */
	bool open; /* the current job still takes workers */
	bool quit;
	li_pool_fn fn;
	void *ctx;
	int items, chunk;
	atomic_int next;
};

/* Take chunks until none is left. */
static void work(li_pool *p)
{
	for (;;) {
		int b = atomic_fetch_add_explicit(&p->next, p->chunk, memory_order_relaxed);
		if (b >= p->items)
			return;
		int e = b + p->chunk < p->items ? b + p->chunk : p->items;
		p->fn(p->ctx, b, e);
	}
}

typedef struct worker_arg {
	li_pool *pool;
	int index;
} worker_arg;

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	li_pool *p = wa->pool;
	self_index = wa->index;
	free(wa);
	uint64_t seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->generation == seen && !p->quit)
			pthread_cond_wait(&p->start, &p->mu);
		if (p->quit)
			break;
		seen = p->generation;
		if (!p->open)
			continue; /* woke after the caller finished alone */
		p->busy++;
		pthread_mutex_unlock(&p->mu);
		work(p);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

li_pool *li_pool_new(int threads)
{
	if (threads < 1)
		threads = 1;
	li_pool *p = li_calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->threads = threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->next, 0);
	p->tid = li_calloc((size_t)threads, sizeof *p->tid);
	if (!p->tid) {
		li_pool_free(p);
		return NULL;
	}
	for (int i = 1; i < threads; i++) {
		worker_arg *wa = li_malloc(sizeof *wa);
		if (!wa) {
			p->threads = i;
			li_pool_free(p);
			return NULL;
		}
		wa->pool = p;
		wa->index = i;
		if (pthread_create(&p->tid[i], NULL, worker, wa) != 0) {
			free(wa);
			p->threads = i;
			li_pool_free(p);
			li_error("cannot start a worker thread");
			return NULL;
		}
	}
	return p;
}

void li_pool_free(li_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->threads && p->tid; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->start);
	pthread_cond_destroy(&p->done);
	free(p->tid);
	free(p);
}

int li_pool_threads(const li_pool *p) { return p ? p->threads : 1; }
int li_pool_self(void) { return self_index; }

void li_pool_run_chunked(li_pool *p, int items, int chunk, li_pool_fn fn, void *ctx)
{
	if (items <= 0)
		return;
	if (!p || p->threads == 1 || items == 1) {
		fn(ctx, 0, items);
		return;
	}
	if (chunk < 1) /* a few chunks per thread, so a late thread costs little */
		chunk = (items + 4 * p->threads - 1) / (4 * p->threads);
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->items = items;
	p->chunk = chunk;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	p->open = true;
	p->generation++;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	work(p);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	p->open = false;
	pthread_mutex_unlock(&p->mu);
}

void li_pool_run(li_pool *p, int items, li_pool_fn fn, void *ctx)
{
	li_pool_run_chunked(p, items, 0, fn, ctx);
}
