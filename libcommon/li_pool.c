/* li_pool.c: a minimal fork-join thread pool for the elementwise, im2col and
 * pooling work between GEMMs. It never runs while OpenBLAS does (the net calls
 * one or the other), so the 2 cores are never fought over by two pools. Work
 * is split into fixed contiguous ranges, so results do not depend on timing. */
#include "li_nn.h"

#include <pthread.h>
#include <stdlib.h>

#include "li_error.h"

struct li_pool {
	int threads;
	pthread_t *tid;
	pthread_mutex_t mu;
	pthread_cond_t start, done;
	uint64_t generation;
	int pending;
	bool quit;
	li_pool_fn fn;
	void *ctx;
	int items;
};

typedef struct worker_arg {
	li_pool *pool;
	int index;
} worker_arg;

static void run_part(li_pool *p, int index)
{
	int begin = (int)((int64_t)p->items * index / p->threads);
	int end = (int)((int64_t)p->items * (index + 1) / p->threads);
	if (begin < end)
		p->fn(p->ctx, begin, end);
}

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	li_pool *p = wa->pool;
	int index = wa->index;
	free(wa);
	uint64_t seen = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->generation == seen && !p->quit)
			pthread_cond_wait(&p->start, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		run_part(p, index);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
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

void li_pool_run(li_pool *p, int items, li_pool_fn fn, void *ctx)
{
	if (items <= 0)
		return;
	if (!p || p->threads == 1 || items == 1) {
		fn(ctx, 0, items);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->items = items;
	p->pending = p->threads - 1;
	p->generation++;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	run_part(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
