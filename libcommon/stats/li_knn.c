/* li_knn.c: exact k-NN by blocked sgemm, precomputed norms and one bounded
 * max-heap per query (see li_knn.h). */
#include "li_knn.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"
#include "li_pool.h"

#define DEFAULT_BLOCK 1024
#define QUERY_CHUNK 1024 /* queries per sgemm: bounds the score buffer */
#define MAX_SUMSQ 1e36   /* |x| <= 1e18: every product stays finite in float */

/* What one pool thread owns (indexed by li_pool_self): its heaps over the
 * blocks it searched, and its scratch. The heaps of all threads are merged
 * when results are read, by (score, index): the result does not depend on
 * which thread searched which block. */
typedef struct knn_thread {
	float *hs;     /* nq x k heap scores, max-heap on (score, index) */
	uint64_t *hi;  /* nq x k heap indices; UINT64_MAX marks an empty slot */
	float *pn;     /* block: |p|^2 (l2) or 1/|p| (cosine, 0 for zero rows) */
	float *c;      /* min(nq, QUERY_CHUNK) x block scores */
} knn_thread;

struct li_knn {
	size_t nq, dim, k, block;
	li_knn_metric metric;
	int threads;
	li_pool *pool;
	float *q;       /* nq x dim */
	float *qn;      /* l2: |q|^2; cosine: 1/|q| (0 for a zero query) */
	knn_thread *th;
	float *ms;      /* k: merge buffer */
	uint64_t *mi;
	uint64_t rows;
	int sorted;     /* results were read: the heaps are merged into thread 0's */
};

/* One li_knn_add call: the pool's threads take blocks one at a time, so a
 * thread slowed down by the machine's other work does not hold the others up. */
typedef struct job {
	li_knn *s;
	const float *pool;
	size_t n;
	uint64_t first;
	atomic_int bad;
} job;

const char *li_knn_metric_name(li_knn_metric m)
{
	static const char *const names[] = {"l2", "cosine"};
	_Static_assert(LI_ARRAY_LEN(names) == LI_KNN_METRIC_COUNT, "one name per metric");
	return m < LI_KNN_METRIC_COUNT ? names[m] : "?";
}

void li_knn_free(li_knn *s)
{
	if (!s)
		return;
	li_free_aligned(s->q);
	free(s->qn);
	if (s->th)
		for (int t = 0; t < s->threads; t++) {
			free(s->th[t].hs);
			free(s->th[t].hi);
			li_free_aligned(s->th[t].pn);
			li_free_aligned(s->th[t].c);
		}
	free(s->th);
	li_pool_free(s->pool);
	free(s->ms);
	free(s->mi);
	free(s);
}

/* Sum of squares in double, in 8 fixed lanes (independent chains the
 * compiler can vectorise; the same order for every row, so a row's norm does
 * not depend on where it sits). Not finite when a value is NaN or infinite. */
static double sumsq(const float *x, size_t n)
{
	double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++)
			a[l] += (double)x[i + l] * x[i + l];
	for (; i < n; i++)
		a[i % 8] += (double)x[i] * x[i];
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static int alloc_buffers(li_knn *s)
{
	size_t qc = s->nq < QUERY_CHUNK ? s->nq : QUERY_CHUNK, n;
	if (li_size_mul(qc, s->block, &n) || li_size_mul(n, sizeof(float), &n))
		return li_error("score buffer size overflows");
	for (int t = 0; t < s->threads; t++) {
		knn_thread *th = &s->th[t];
		li_free_aligned(th->pn);
		li_free_aligned(th->c);
		th->pn = li_malloc_aligned(s->block * sizeof(float));
		th->c = li_malloc_aligned(n);
		if (!th->pn || !th->c)
			return -1;
	}
	return 0;
}

li_knn *li_knn_new(const float *queries, size_t nq, size_t dim, size_t k, li_knn_metric metric,
		   int threads)
{
	if (nq == 0 || dim == 0 || k == 0)
		return li_error("k-NN needs at least one query, one dimension and k >= 1"), NULL;
	if (dim > INT32_MAX / 2)
		return li_error("k-NN of %zu dimensions: too many", dim), NULL;
	if (metric >= LI_KNN_METRIC_COUNT)
		return li_error("unknown k-NN metric %d", (int)metric), NULL;
	size_t nqd, nqk;
	if (li_size_mul(nq, dim, &nqd) || li_size_mul(nq, k, &nqk) || nqd > SIZE_MAX / 4 ||
	    nqk > SIZE_MAX / 8)
		return li_error("k-NN of %zu queries x %zu dimensions, k %zu: too large", nq, dim, k),
		       NULL;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	if (threads > 1024)
		threads = 1024;
	li_knn *s = li_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->nq = nq, s->dim = dim, s->k = k, s->metric = metric, s->threads = threads;
	s->block = DEFAULT_BLOCK;
	s->q = li_malloc_aligned(nqd * sizeof(float));
	s->qn = li_malloc_array(nq, sizeof(float));
	s->th = li_calloc((size_t)threads, sizeof(knn_thread));
	s->ms = li_malloc_array(k, sizeof(float));
	s->mi = li_malloc_array(k, sizeof(uint64_t));
	s->pool = li_pool_new(threads);
	if (!s->q || !s->qn || !s->th || !s->ms || !s->mi || !s->pool)
		goto fail;
	for (int t = 0; t < threads; t++) {
		knn_thread *th = &s->th[t];
		th->hs = li_malloc_array(nqk, sizeof(float));
		th->hi = li_malloc_array(nqk, sizeof(uint64_t));
		if (!th->hs || !th->hi)
			goto fail;
		for (size_t i = 0; i < nqk; i++) {
			th->hs[i] = INFINITY;
			th->hi[i] = UINT64_MAX;
		}
	}
	if (alloc_buffers(s))
		goto fail;
	memcpy(s->q, queries, nqd * sizeof(float));
	for (size_t i = 0; i < nq; i++) {
		double ss = sumsq(s->q + i * dim, dim);
		if (!(ss <= MAX_SUMSQ)) {
			li_error("query row %zu has a value that is not finite or a norm above 1e18", i);
			goto fail;
		}
		/* cosine keeps the query as it is and scales the scores: the
		 * products of integer data stay exact, whatever the tiling */
		s->qn[i] = metric == LI_KNN_L2 ? (float)ss : ss > 0 ? (float)(1 / sqrt(ss)) : 0.0f;
	}
	return s;
fail:
	li_knn_free(s);
	return NULL;
}

void li_knn_set_block(li_knn *s, size_t rows)
{
	LI_ASSERT(rows <= INT32_MAX / 2 && !s->sorted);
	s->block = rows ? rows : DEFAULT_BLOCK;
	if (alloc_buffers(s)) /* out of memory: fall back to the default size */
		LI_ASSERT(s->block != DEFAULT_BLOCK && (s->block = DEFAULT_BLOCK, alloc_buffers(s) == 0));
}

uint64_t li_knn_rows(const li_knn *s) { return s->rows; }

/* (a, ai) after (b, bi) in the order of results. */
static inline int worse(float a, uint64_t ai, float b, uint64_t bi)
{
	return a > b || (a == b && ai > bi);
}

/* Replace the root (the worst kept row) of a max-heap of k entries and sift down. */
static void heap_replace(float *hs, uint64_t *hi, size_t k, float v, uint64_t vi)
{
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		float mv = v;
		uint64_t mi = vi;
		if (l < k && worse(hs[l], hi[l], mv, mi))
			m = l, mv = hs[l], mi = hi[l];
		if (r < k && worse(hs[r], hi[r], mv, mi))
			m = r;
		if (m == i)
			break;
		hs[i] = hs[m];
		hi[i] = hi[m];
		i = m;
	}
	hs[i] = v;
	hi[i] = vi;
}

/* Pool norms of rows [0, nb) into pn; -1 when a row is bad. */
static int norms(const li_knn *s, const float *pool, size_t nb, float *pn)
{
	for (size_t j = 0; j < nb; j++) {
		double ss = sumsq(pool + j * s->dim, s->dim);
		if (!(ss <= MAX_SUMSQ))
			return -1;
		if (s->metric == LI_KNN_L2)
			pn[j] = (float)ss;
		else
			pn[j] = ss > 0 ? (float)(1 / sqrt(ss)) : 0.0f;
	}
	return 0;
}

/* Every query against one block of nb rows starting at global index first. */
static void search_block(const li_knn *s, knn_thread *t, const float *pool, size_t nb,
			 uint64_t first)
{
	const size_t d = s->dim, k = s->k;
	const int l2 = s->metric == LI_KNN_L2;
	const float *pn = t->pn;
	for (size_t q0 = 0; q0 < s->nq; q0 += QUERY_CHUNK) {
		size_t m = s->nq - q0 < QUERY_CHUNK ? s->nq - q0 : QUERY_CHUNK;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)d,
			    l2 ? -2.0f : -1.0f, s->q + q0 * d, (int)d, pool, (int)d, 0.0f, t->c,
			    (int)nb);
		for (size_t i = 0; i < m; i++) {
			float *c = t->c + i * nb;
			if (l2) {
				for (size_t j = 0; j < nb; j++)
					c[j] += pn[j];
			} else {
				const float qi = s->qn[q0 + i];
				for (size_t j = 0; j < nb; j++)
					c[j] = (c[j] * qi) * pn[j];
			}
			float *hs = t->hs + (q0 + i) * k;
			uint64_t *hi = t->hi + (q0 + i) * k;
			float thr = hs[0];
			for (size_t j = 0; j < nb; j++) {
				if (c[j] > thr)
					continue;
				uint64_t idx = first + j;
				if (!worse(hs[0], hi[0], c[j], idx))
					continue;
				heap_replace(hs, hi, k, c[j], idx);
				thr = hs[0];
			}
		}
	}
}

/* Pool task: blocks [begin, end) of the job, into this thread's heaps. */
static void search_blocks(void *ctx, int begin, int end)
{
	job *j = ctx;
	const li_knn *s = j->s;
	knn_thread *t = &s->th[li_pool_self()];
	for (int b = begin; b < end; b++) {
		if (atomic_load(&j->bad))
			return;
		size_t a = (size_t)b * s->block, nb = j->n - a < s->block ? j->n - a : s->block;
		const float *pool = j->pool + a * s->dim;
		if (norms(s, pool, nb, t->pn)) {
			atomic_store(&j->bad, 1);
			return;
		}
		search_block(s, t, pool, nb, j->first + a);
	}
}

int li_knn_add(li_knn *s, const float *pool, size_t n, uint64_t first)
{
	LI_ASSERT(!s->sorted);
	if (n == 0)
		return 0;
	size_t nblocks = (n + s->block - 1) / s->block;
	if (nblocks > INT32_MAX)
		return li_error("k-NN: %zu rows in one call are too many", n);
	job j = {.s = s, .pool = pool, .n = n, .first = first};
	atomic_init(&j.bad, 0);
	/* Every thread calls sgemm itself: keep OpenBLAS from starting threads of
	 * its own on top of ours. */
	int blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1);
	li_pool_run_chunked(s->pool, (int)nblocks, 1, search_blocks, &j);
	openblas_set_num_threads(blas_threads);
	if (atomic_load(&j.bad)) {
		/* the first bad row, whichever thread saw one */
		for (size_t r = 0; r < n; r++)
			if (!(sumsq(pool + r * s->dim, s->dim) <= MAX_SUMSQ))
				return li_error("pool row %llu has a value that is not finite or a norm "
						"above 1e18", (unsigned long long)(first + r));
		LI_ASSERT(!"a bad row was seen");
	}
	s->rows += n;
	return 0;
}

/* Sort every thread's heaps in place (nearest first, empty slots last) and
 * merge them per query into thread 0's arrays. */
static void merge_heaps(li_knn *s)
{
	const size_t k = s->k;
	for (size_t q = 0; q < s->nq; q++) {
		for (int t = 0; t < s->threads; t++) {
			float *hs = s->th[t].hs + q * k;
			uint64_t *hi = s->th[t].hi + q * k;
			for (size_t n = k; n > 1; n--) {
				float v = hs[n - 1];
				uint64_t vi = hi[n - 1];
				hs[n - 1] = hs[0];
				hi[n - 1] = hi[0];
				heap_replace(hs, hi, n - 1, v, vi);
			}
		}
		if (s->threads == 1)
			continue;
		size_t pos[s->threads];
		memset(pos, 0, sizeof pos);
		for (size_t r = 0; r < k; r++) {
			int best = -1;
			for (int t = 0; t < s->threads; t++) {
				if (pos[t] == k)
					continue;
				size_t i = q * k + pos[t];
				if (best < 0 || worse(s->th[best].hs[q * k + pos[best]],
						      s->th[best].hi[q * k + pos[best]], s->th[t].hs[i],
						      s->th[t].hi[i]))
					best = t;
			}
			/* threads * k candidates for k places: some thread always has one left */
			LI_ASSERT(best >= 0);
			// cppcheck-suppress negativeIndex
			s->ms[r] = s->th[best].hs[q * k + pos[best]];
			s->mi[r] = s->th[best].hi[q * k + pos[best]];
			pos[best]++;
		}
		memcpy(s->th[0].hs + q * k, s->ms, k * sizeof(float));
		memcpy(s->th[0].hi + q * k, s->mi, k * sizeof(uint64_t));
	}
	s->sorted = 1;
}

size_t li_knn_result(li_knn *s, size_t q, uint64_t *idx, float *dist)
{
	LI_ASSERT(q < s->nq);
	if (!s->sorted)
		merge_heaps(s);
	const float *hs = s->th[0].hs + q * s->k;
	const uint64_t *hi = s->th[0].hi + q * s->k;
	size_t n = 0;
	for (; n < s->k && hi[n] != UINT64_MAX; n++) {
		idx[n] = hi[n];
		if (!dist)
			continue;
		if (s->metric == LI_KNN_L2) {
			float d2 = s->qn[q] + hs[n];
			dist[n] = d2 > 0 ? sqrtf(d2) : 0.0f;
		} else {
			dist[n] = 1.0f + hs[n];
		}
	}
	return n;
}
