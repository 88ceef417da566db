/* li_loader.h: image batches for the CNN: decode (or read from a slide),
 * resize, augment and normalise in worker threads, one batch ahead of the
 * caller.
 *
 * The caller submits batches (sources: image files or slide regions, see
 * li_source.h; and for each an id and an augmentation stream) and later
 * waits for them in submission order; up to LI_LOADER_DEPTH batches are in
 * flight, so the workers decode batch k+1 while the CNN runs on batch k. A
 * batch is N, C, H, W float32:
 *     x = (v / 255 - mean[c]) / std[c]
 * of the image read as `channels` channels (li_source_read), resized
 * (area/bilinear) to size x size when it differs, then augmented with
 * li_augment(preset, li_rng_derive(seed, stream)). The result of every sample
 * depends only on its source, id and stream, never on which worker took it.
 *
 * Each worker reads with its own li_source_reader, so each keeps at most
 * slide_handles slides open (the least recently used is closed first): the
 * loader holds at most threads x slide_handles slides, however many the list
 * names.
 *
 * The cache keeps the decoded, resized (not augmented) image of each id up to
 * a byte budget, so later epochs skip decoding. ids index the cache and must
 * be < ncache (ids are the rows of the training list); an id >= ncache (or
 * cache_bytes 0) is never cached.
 *
 * A sample that fails (unreadable, undecodable, a region that cannot be read)
 * marks the batch: ok[i] is 0 and err[i] holds the message ("cannot decode
 * 'x.png': ...", "'m.tsv' line 7: region x 0 y 0 level 4 size 224 of slide
 * 'a.svs': ..."). The caller decides whether that is fatal (li-train) or
 * skipped (li-score --skip-bad); a failed sample is never a blank image. */
#ifndef LI_LOADER_H
#define LI_LOADER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "li_augment.h"
#include "li_source.h"

#define LI_LOADER_DEPTH 2

typedef struct li_loader_config {
	int size;           /* output side (square) */
	int channels;       /* 1 or 3 */
	float mean[3], std[3];
	int max_batch;
	int threads;        /* worker threads, >= 1 */
	li_aug_preset augment;
	uint64_t seed;
	size_t ncache;      /* ids 0..ncache-1 may be cached */
	size_t cache_bytes; /* budget; 0 = no cache */
	int slide_handles;  /* slides open per worker; 0: LI_SOURCE_DEFAULT_SLIDES */
} li_loader_config;

typedef struct li_batch {
	int n;
	float *x;         /* n x channels x size x size */
	char **path;      /* copies of the submitted sources' paths */
	size_t *id;
	unsigned char *ok;
	char **err;       /* NULL where ok */
	int nbad;
	void *user;       /* the caller's pointer given at submit */
} li_batch;

typedef struct li_loader li_loader;

li_loader *li_loader_new(const li_loader_config *cfg);
/* Stops the workers (waiting for the batch in progress) and frees everything. */
void li_loader_free(li_loader *L);

/* Queue a batch of n <= max_batch samples (the sources are copied); fails
 * while LI_LOADER_DEPTH batches are waiting to be collected. stream may be
 * NULL (stream = id). augment false decodes without augmentation
 * (validation, scoring). */
int li_loader_submit(li_loader *L, int n, const li_source *src, const size_t *id,
		     const uint64_t *stream, bool augment, void *user);
/* The oldest submitted batch, complete; valid until the next wait. NULL with
 * li_error when nothing was submitted. */
li_batch *li_loader_wait(li_loader *L);

/* How many samples so far were resized (their size differed from size). */
uint64_t li_loader_resized(const li_loader *L);
/* Bytes held by the cache now, and ids cached. */
size_t li_loader_cache_used(const li_loader *L);

/* Bytes the decoded images of n ids need in the cache, and the budget
 * `--cache auto` allows: half of physical memory. */
size_t li_loader_cache_estimate(size_t n, int size, int channels);
size_t li_loader_cache_auto_budget(void);

/* Normalise one 8-bit HWC image (size x size x channels) into NCHW floats;
 * the loader's own conversion, exposed for tests and li-score --tta. */
void li_loader_normalise(const uint8_t *hwc, int size, int channels, const float *mean,
			 const float *std, float *out);
#endif
