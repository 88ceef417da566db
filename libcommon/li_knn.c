/* li_knn.c: exact k-NN by blocked sgemm, precomputed norms and one bounded
 * max-heap per query (see li_knn.h). */
#include "li_knn.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "li_error.h"

#define DEFAULT_BLOCK 4096
#define QUERY_CHUNK 1024 /* queries per sgemm: bounds the score buffer */
#define MAX_SUMSQ 1e36   /* |x| <= 1e18: every product stays finite in float */

struct li_knn {
	size_t nq, dim, k, block;
	li_knn_metric metric;
	int threads;
	float *q;       /* nq x dim */
	float *qn;      /* l2: |q|^2; cosine: 1/|q| (0 for a zero query) */
	float *hs;      /* nq x k heap scores, max-heap on (score, index) */
	uint64_t *hi;   /* nq x k heap indices; UINT64_MAX marks an empty slot */
	float *pn;      /* per block row: |p|^2 (l2) or 1/|p| (cosine, 0 for zero rows) */
	float **cbuf;   /* per thread: QUERY_CHUNK x block scores */
	uint64_t rows;
	int sorted;     /* results were read: the heaps are sorted arrays now */
};

typedef struct work {
	li_knn *s;
	size_t q0, q1;
	const float *pool;
	size_t nb;
	uint64_t first;
	float *c;
} work;

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
	free(s->hs);
	free(s->hi);
	li_free_aligned(s->pn);
	if (s->cbuf)
		for (int t = 0; t < s->threads; t++)
			li_free_aligned(s->cbuf[t]);
	free(s->cbuf);
	free(s);
}

/* Sum of squares in double: the norm of a row does not depend on where the
 * row sits in a block. Not finite when a value is NaN or infinite. */
static double sumsq(const float *x, size_t n)
{
	double a = 0;
	for (size_t i = 0; i < n; i++)
		a += (double)x[i] * x[i];
	return a;
}

static int alloc_buffers(li_knn *s)
{
	size_t qc = s->nq < QUERY_CHUNK ? s->nq : QUERY_CHUNK, n;
	li_free_aligned(s->pn);
	s->pn = li_malloc_aligned(s->block * sizeof(float));
	if (!s->pn)
		return -1;
	for (int t = 0; t < s->threads; t++) {
		li_free_aligned(s->cbuf[t]);
		s->cbuf[t] = NULL;
		if (li_size_mul(qc, s->block, &n) || li_size_mul(n, sizeof(float), &n))
			return li_error("score buffer size overflows");
		if (!(s->cbuf[t] = li_malloc_aligned(n)))
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
	if ((size_t)threads > nq)
		threads = (int)nq;
	li_knn *s = li_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->nq = nq, s->dim = dim, s->k = k, s->metric = metric, s->threads = threads;
	s->block = DEFAULT_BLOCK;
	s->q = li_malloc_aligned(nqd * sizeof(float));
	s->qn = li_malloc_array(nq, sizeof(float));
	s->hs = li_malloc_array(nqk, sizeof(float));
	s->hi = li_malloc_array(nqk, sizeof(uint64_t));
	s->cbuf = li_calloc((size_t)threads, sizeof(float *));
	if (!s->q || !s->qn || !s->hs || !s->hi || !s->cbuf || alloc_buffers(s)) {
		li_knn_free(s);
		return NULL;
	}
	memcpy(s->q, queries, nqd * sizeof(float));
	for (size_t i = 0; i < nq; i++) {
		float *row = s->q + i * dim;
		double ss = sumsq(row, dim);
		if (!(ss <= MAX_SUMSQ)) {
			li_error("query row %zu has a value that is not finite or a norm above 1e18", i);
			li_knn_free(s);
			return NULL;
		}
		/* cosine keeps the query as it is and scales the scores: the
		 * products of integer data stay exact, whatever the tiling */
		s->qn[i] = metric == LI_KNN_L2 ? (float)ss : ss > 0 ? (float)(1 / sqrt(ss)) : 0.0f;
	}
	for (size_t i = 0; i < nqk; i++) {
		s->hs[i] = INFINITY;
		s->hi[i] = UINT64_MAX;
	}
	return s;
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

/* Queries [q0, q1) against one pool block: sgemm, then scores, then heaps. */
static void *run_work(void *arg)
{
	work *w = arg;
	li_knn *s = w->s;
	const size_t nb = w->nb, d = s->dim, k = s->k;
	const int l2 = s->metric == LI_KNN_L2;
	const float *pn = s->pn;
	for (size_t q0 = w->q0; q0 < w->q1; q0 += QUERY_CHUNK) {
		size_t m = w->q1 - q0 < QUERY_CHUNK ? w->q1 - q0 : QUERY_CHUNK;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)d,
			    l2 ? -2.0f : -1.0f, s->q + q0 * d, (int)d, w->pool, (int)d, 0.0f, w->c,
			    (int)nb);
		for (size_t i = 0; i < m; i++) {
			float *c = w->c + i * nb;
			if (l2)
				for (size_t j = 0; j < nb; j++)
					c[j] += pn[j];
			else {
				const float qi = s->qn[q0 + i];
				for (size_t j = 0; j < nb; j++)
					c[j] = (c[j] * qi) * pn[j];
			}
			float *hs = s->hs + (q0 + i) * k;
			uint64_t *hi = s->hi + (q0 + i) * k;
			float thr = hs[0];
			for (size_t j = 0; j < nb; j++) {
				if (c[j] > thr)
					continue;
				uint64_t idx = w->first + j;
				if (!worse(hs[0], hi[0], c[j], idx))
					continue;
				heap_replace(hs, hi, k, c[j], idx);
				thr = hs[0];
			}
		}
	}
	return NULL;
}

static int add_block(li_knn *s, const float *pool, size_t nb, uint64_t first)
{
	const size_t d = s->dim;
	for (size_t j = 0; j < nb; j++) {
		double ss = sumsq(pool + j * d, d);
		if (!(ss <= MAX_SUMSQ))
			return li_error("pool row %llu has a value that is not finite or a norm above 1e18",
					(unsigned long long)(first + j));
		if (s->metric == LI_KNN_L2)
			s->pn[j] = (float)ss;
		else
			s->pn[j] = ss > 0 ? (float)(1 / sqrt(ss)) : 0.0f;
	}
	int T = s->threads;
	work w[T];
	pthread_t tid[T];
	size_t per = (s->nq + (size_t)T - 1) / (size_t)T;
	for (int t = 0; t < T; t++) {
		size_t a = (size_t)t * per, b = a + per < s->nq ? a + per : s->nq;
		w[t] = (work){s, a < s->nq ? a : s->nq, b, pool, nb, first, s->cbuf[t]};
	}
	int started = 1;
	for (int t = 1; t < T; t++, started++)
		if (pthread_create(&tid[t], NULL, run_work, &w[t]))
			break;
	run_work(&w[0]);
	/* a thread that could not start: do its share here */
	for (int t = started; t < T; t++)
		run_work(&w[t]);
	for (int t = 1; t < started; t++)
		pthread_join(tid[t], NULL);
	return 0;
}

int li_knn_add(li_knn *s, const float *pool, size_t n, uint64_t first)
{
	if (n == 0)
		return 0;
	LI_ASSERT(!s->sorted);
	/* Every worker calls sgemm itself: keep OpenBLAS from starting threads of
	 * its own on top of ours. */
	int blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1);
	int rc = 0;
	for (size_t a = 0; a < n && rc == 0; a += s->block) {
		size_t nb = n - a < s->block ? n - a : s->block;
		rc = add_block(s, pool + a * s->dim, nb, first + a);
	}
	openblas_set_num_threads(blas_threads);
	if (rc == 0)
		s->rows += n;
	return rc;
}

/* Heap sort every query's heap in place, nearest first (empty slots last). */
static void sort_heaps(li_knn *s)
{
	for (size_t q = 0; q < s->nq; q++) {
		float *hs = s->hs + q * s->k;
		uint64_t *hi = s->hi + q * s->k;
		for (size_t n = s->k; n > 1; n--) {
			float v = hs[n - 1];
			uint64_t vi = hi[n - 1];
			hs[n - 1] = hs[0];
			hi[n - 1] = hi[0];
			heap_replace(hs, hi, n - 1, v, vi);
		}
	}
	s->sorted = 1;
}

size_t li_knn_result(li_knn *s, size_t q, uint64_t *idx, float *dist)
{
	LI_ASSERT(q < s->nq);
	if (!s->sorted)
		sort_heaps(s);
	const float *hs = s->hs + q * s->k;
	const uint64_t *hi = s->hi + q * s->k;
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
