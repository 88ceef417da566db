/* li_loader.c: threaded decode (or slide region read) + resize + augment +
 * normalise into NCHW float batches, prefetched, with an in-memory cache of
 * decoded images (see li_loader.h). One mutex guards the slot ring; the
 * pixel work runs outside it, each worker with its own source reader. */
#include "li_loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"
#include "li_image_io.h"
#include "li_rng.h"

#define NSLOTS (LI_LOADER_DEPTH + 1) /* + the batch the caller holds */

typedef struct slot {
	li_batch b;
	li_source *src;  /* copies: path is b.path[i], slide and list owned here */
	uint64_t *stream;
	bool augment;
	int todo; /* samples to process: b.n, or fewer when abandoned */
	int claimed, finished;
} slot;

struct li_loader {
	li_loader_config cfg;
	size_t sample_floats;
	slot slots[NSLOTS];
	uint64_t submitted, collected; /* batch counters; slot = counter % NSLOTS */
	bool holding;                  /* the caller holds slot (collected - 1) */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	bool stop;
	int nthreads;
	pthread_t *threads;
	_Atomic(li_image *) *cache;
	atomic_size_t cache_used;
	atomic_uint_fast64_t resized;
};

size_t li_loader_cache_estimate(size_t n, int size, int channels)
{
	/* pixels plus the li_image header and malloc overhead */
	return n * ((size_t)size * size * channels + 64);
}

size_t li_loader_cache_auto_budget(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || psize <= 0)
		return (size_t)1 << 30;
	return (size_t)pages * (size_t)psize / 2;
}

void li_loader_normalise(const uint8_t *hwc, int size, int channels, const float *mean,
			 const float *std, float *out)
{
	size_t plane = (size_t)size * size;
	for (int c = 0; c < channels; c++) {
		float lut[256];
		for (int v = 0; v < 256; v++)
			lut[v] = ((float)v / 255.0f - mean[c]) / std[c];
		float *o = out + c * plane;
		const uint8_t *p = hwc + c;
		for (size_t i = 0; i < plane; i++)
			o[i] = lut[p[i * channels]];
	}
}

static li_image *cache_get(li_loader *L, size_t id)
{
	if (!L->cache || id >= L->cfg.ncache)
		return NULL;
	return atomic_load(&L->cache[id]);
}

/* Keep img in the cache if the budget allows; returns true when the cache
 * took ownership. */
static bool cache_put(li_loader *L, size_t id, li_image *img)
{
	if (!L->cache || id >= L->cfg.ncache)
		return false;
	size_t bytes = li_loader_cache_estimate(1, img->width, img->channels);
	size_t before = atomic_fetch_add(&L->cache_used, bytes);
	if (before + bytes > L->cfg.cache_bytes) {
		atomic_fetch_sub(&L->cache_used, bytes);
		return false;
	}
	li_image *expected = NULL;
	if (!atomic_compare_exchange_strong(&L->cache[id], &expected, img)) {
		/* another worker decoded the same id (sampling with replacement) */
		atomic_fetch_sub(&L->cache_used, bytes);
		return false;
	}
	return true;
}

/* Decode, resize, augment and normalise sample i of slot s into its place. */
static int load_one(li_loader *L, slot *s, int i, li_image *scratch, li_source_reader *rd)
{
	const li_loader_config *cfg = &L->cfg;
	size_t id = s->b.id[i];
	const li_image *src = cache_get(L, id);
	li_image *owned = NULL;
	if (!src) {
		li_image *img = li_source_read(rd, &s->src[i], cfg->channels);
		if (!img)
			return -1;
		if (img->width != cfg->size || img->height != cfg->size) {
			li_image *r = li_image_resize(img, cfg->size, cfg->size);
			li_image_free(img);
			if (!r)
				return li_error_prefix("cannot resize '%s'", s->b.path[i]);
			img = r;
			atomic_fetch_add(&L->resized, 1);
		}
		if (!cache_put(L, id, img))
			owned = img;
		src = img;
	}
	const uint8_t *pix = src->data;
	if (s->augment && cfg->augment != LI_AUG_NONE) {
		memcpy(scratch->data, src->data, (size_t)cfg->size * cfg->size * cfg->channels);
		li_rng r = li_rng_derive(cfg->seed, s->stream[i]);
		if (li_augment(scratch, cfg->augment, &r) < 0) {
			li_image_free(owned);
			return li_error_prefix("cannot augment '%s'", s->b.path[i]);
		}
		pix = scratch->data;
	}
	li_loader_normalise(pix, cfg->size, cfg->channels, cfg->mean, cfg->std,
			    s->b.x + (size_t)i * L->sample_floats);
	li_image_free(owned);
	return 0;
}

static void *worker(void *arg)
{
	li_loader *L = arg;
	li_image *scratch = li_image_new(L->cfg.size, L->cfg.size, L->cfg.channels);
	li_source_reader *rd = li_source_reader_new(L->cfg.slide_handles);
	pthread_mutex_lock(&L->mu);
	for (;;) {
		slot *s = NULL;
		int i = -1;
		/* the oldest uncollected batch with an unclaimed sample */
		for (uint64_t k = L->collected; k < L->submitted; k++) {
			slot *t = &L->slots[k % NSLOTS];
			if (t->claimed < t->todo) {
				s = t;
				i = t->claimed++;
				break;
			}
		}
		if (!s) {
			if (L->stop)
				break;
			pthread_cond_wait(&L->work, &L->mu);
			continue;
		}
		pthread_mutex_unlock(&L->mu);
		int rc = scratch && rd ? load_one(L, s, i, scratch, rd)
				       : li_error("out of memory (worker scratch)");
		char *msg = rc < 0 ? strdup(li_errmsg()) : NULL;
		pthread_mutex_lock(&L->mu);
		if (rc < 0) {
			s->b.ok[i] = 0;
			s->b.err[i] = msg ? msg : strdup("out of memory");
			s->b.nbad++;
		}
		if (++s->finished == s->todo)
			pthread_cond_broadcast(&L->done);
	}
	pthread_mutex_unlock(&L->mu);
	li_image_free(scratch);
	li_source_reader_free(rd);
	return NULL;
}

static void slot_clear(slot *s)
{
	for (int i = 0; i < s->b.n; i++) {
		free(s->b.path[i]);
		free(s->b.err[i]);
		free((char *)s->src[i].slide);
		free((char *)s->src[i].list);
		s->b.path[i] = s->b.err[i] = NULL;
		s->src[i] = (li_source){0};
	}
	s->b.n = s->b.nbad = 0;
	s->todo = s->claimed = s->finished = 0;
}

li_loader *li_loader_new(const li_loader_config *cfg)
{
	if (cfg->size < 1 || (cfg->channels != 1 && cfg->channels != 3) || cfg->max_batch < 1 ||
	    cfg->threads < 1)
		return li_error("bad loader configuration"), NULL;
	li_loader *L = li_calloc(1, sizeof *L);
	if (!L)
		return NULL;
	L->cfg = *cfg;
	L->sample_floats = (size_t)cfg->channels * cfg->size * cfg->size;
	pthread_mutex_init(&L->mu, NULL);
	pthread_cond_init(&L->work, NULL);
	pthread_cond_init(&L->done, NULL);
	atomic_init(&L->cache_used, 0);
	atomic_init(&L->resized, 0);
	int mb = cfg->max_batch;
	for (int k = 0; k < NSLOTS; k++) {
		slot *s = &L->slots[k];
		s->b.x = li_malloc_aligned(sizeof(float) * L->sample_floats * mb);
		s->b.path = li_calloc(mb, sizeof(char *));
		s->b.err = li_calloc(mb, sizeof(char *));
		s->b.id = li_calloc(mb, sizeof(size_t));
		s->b.ok = li_calloc(mb, 1);
		s->stream = li_calloc(mb, sizeof(uint64_t));
		s->src = li_calloc(mb, sizeof(li_source));
		if (!s->b.x || !s->b.path || !s->b.err || !s->b.id || !s->b.ok || !s->stream || !s->src)
			goto fail;
	}
	if (cfg->cache_bytes > 0 && cfg->ncache > 0) {
		L->cache = li_calloc(cfg->ncache, sizeof *L->cache);
		if (!L->cache)
			goto fail;
	}
	L->threads = li_calloc(cfg->threads, sizeof(pthread_t));
	if (!L->threads)
		goto fail;
	for (int t = 0; t < cfg->threads; t++) {
		if (pthread_create(&L->threads[t], NULL, worker, L) != 0) {
			li_error("cannot start a loader thread");
			goto fail;
		}
		L->nthreads++;
	}
	return L;
fail:
	li_loader_free(L);
	return NULL;
}

void li_loader_free(li_loader *L)
{
	if (!L)
		return;
	pthread_mutex_lock(&L->mu);
	L->stop = true;
	/* abandon queued work: nobody will collect it */
	for (uint64_t k = L->collected; k < L->submitted; k++) {
		slot *s = &L->slots[k % NSLOTS];
		s->todo = s->claimed; /* finish after the samples in progress */
	}
	pthread_cond_broadcast(&L->work);
	pthread_mutex_unlock(&L->mu);
	for (int t = 0; t < L->nthreads; t++)
		pthread_join(L->threads[t], NULL);
	free(L->threads);
	for (int k = 0; k < NSLOTS; k++) {
		slot *s = &L->slots[k];
		if (s->b.path && s->src)
			slot_clear(s);
		li_free_aligned(s->b.x);
		free(s->b.path);
		free(s->b.err);
		free(s->b.id);
		free(s->b.ok);
		free(s->stream);
		free(s->src);
	}
	if (L->cache) {
		for (size_t i = 0; i < L->cfg.ncache; i++)
			li_image_free(atomic_load(&L->cache[i]));
		free(L->cache);
	}
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->work);
	pthread_cond_destroy(&L->done);
	free(L);
}

int li_loader_submit(li_loader *L, int n, const li_source *src, const size_t *id,
		     const uint64_t *stream, bool augment, void *user)
{
	if (n < 1 || n > L->cfg.max_batch)
		return li_error("batch of %d samples (1 to %d allowed)", n, L->cfg.max_batch);
	pthread_mutex_lock(&L->mu);
	int pending = (int)(L->submitted - L->collected);
	pthread_mutex_unlock(&L->mu);
	if (pending >= LI_LOADER_DEPTH)
		return li_error("loader queue is full (%d batches pending)", pending);
	/* the slot is neither pending nor held, so no worker touches it */
	slot *s = &L->slots[L->submitted % NSLOTS];
	slot_clear(s);
	for (int i = 0; i < n; i++) {
		/* counted now so that slot_clear frees what was copied */
		s->b.n = i + 1;
		s->src[i] = src[i];
		s->src[i].slide = src[i].slide ? strdup(src[i].slide) : NULL;
		s->src[i].list = src[i].list ? strdup(src[i].list) : NULL;
		s->b.path[i] = strdup(src[i].path);
		s->src[i].path = s->b.path[i];
		if (!s->b.path[i] || (src[i].slide && !s->src[i].slide) ||
		    (src[i].list && !s->src[i].list)) {
			slot_clear(s);
			return li_error("out of memory");
		}
		s->b.id[i] = id ? id[i] : (size_t)-1;
		s->stream[i] = stream ? stream[i] : s->b.id[i];
		s->b.ok[i] = 1;
	}
	s->b.user = user;
	s->augment = augment;
	pthread_mutex_lock(&L->mu);
	s->b.n = s->todo = n;
	L->submitted++;
	pthread_cond_broadcast(&L->work);
	pthread_mutex_unlock(&L->mu);
	return 0;
}

li_batch *li_loader_wait(li_loader *L)
{
	pthread_mutex_lock(&L->mu);
	if (L->collected == L->submitted) {
		pthread_mutex_unlock(&L->mu);
		return li_error("no batch was submitted"), NULL;
	}
	slot *s = &L->slots[L->collected % NSLOTS];
	while (s->finished < s->todo)
		pthread_cond_wait(&L->done, &L->mu);
	L->collected++;
	pthread_mutex_unlock(&L->mu);
	return &s->b;
}

uint64_t li_loader_resized(const li_loader *L)
{
	return atomic_load(&((li_loader *)L)->resized);
}

size_t li_loader_cache_used(const li_loader *L)
{
	return atomic_load(&((li_loader *)L)->cache_used);
}
