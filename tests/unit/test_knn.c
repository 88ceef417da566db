/* test_knn.c: li_knn against a brute-force double-precision reference, for
 * both metrics; exact ties broken by row index; blocking, shards (added in
 * any order) and thread counts changing nothing; zero vectors, k larger than
 * the pool, non-finite rows. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "li_error.h"
#include "li_knn.h"
#include "li_rng.h"
#include "tap.h"

typedef struct ref {
	double d;
	uint64_t i;
} ref;

static int cmp_ref(const void *a, const void *b)
{
	const ref *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The reference distance of query q to pool row p, in double. */
static double ref_dist(const float *q, const float *p, size_t d, li_knn_metric m)
{
	double dot = 0, qq = 0, pp = 0, l2 = 0;
	for (size_t j = 0; j < d; j++) {
		dot += (double)q[j] * p[j];
		qq += (double)q[j] * q[j];
		pp += (double)p[j] * p[j];
		l2 += ((double)q[j] - p[j]) * ((double)q[j] - p[j]);
	}
	if (m == LI_KNN_L2)
		return sqrt(l2);
	if (qq == 0 || pp == 0)
		return 1;
	return 1 - dot / sqrt(qq * pp);
}

/* All pool rows of query q sorted by (distance, index). */
static ref *reference(const float *q, const float *pool, size_t np, size_t d, li_knn_metric m)
{
	ref *r = malloc(np * sizeof(*r));
	for (size_t i = 0; i < np; i++)
		r[i] = (ref){ref_dist(q, pool + i * d, d, m), i};
	qsort(r, np, sizeof(*r), cmp_ref);
	return r;
}

/* Small integers: every product and sum is exact in float, so L2 scores are
 * exact and equal rows tie exactly. Every 5th pool row repeats an earlier one. */
static float *int_data(li_rng *g, size_t n, size_t d, int dup)
{
	float *x = malloc(n * d * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		if (dup && i >= 5 && i % 5 == 0) {
			memcpy(x + i * d, x + li_rng_below(g, i) * d, d * sizeof(float));
			continue;
		}
		for (size_t j = 0; j < d; j++)
			x[i * d + j] = (float)((int)li_rng_below(g, 7) - 3);
	}
	return x;
}

static float *normal_data(li_rng *g, size_t n, size_t d)
{
	float *x = malloc(n * d * sizeof(float));
	for (size_t i = 0; i < n * d; i++)
		x[i] = (float)li_rng_normal(g);
	return x;
}

typedef struct result {
	size_t nq, k, *n;
	uint64_t *idx;
	float *dist;
} result;

static void result_free(result *r)
{
	free(r->n);
	free(r->idx);
	free(r->dist);
}

/* Search pool (np rows) in shards of `shard` rows added last-first, with block
 * rows per sub-block and the given threads. */
static result search(const float *q, size_t nq, const float *pool, size_t np, size_t d, size_t k,
		     li_knn_metric m, size_t block, size_t shard, int threads)
{
	result r = {nq, k, calloc(nq, sizeof(size_t)), calloc(nq * k, sizeof(uint64_t)),
		    calloc(nq * k, sizeof(float))};
	li_knn *s = li_knn_new(q, nq, d, k, m, threads);
	LI_ASSERT(s);
	li_knn_set_block(s, block);
	size_t nshards = (np + shard - 1) / shard;
	for (size_t t = nshards; t-- > 0;) {
		size_t a = t * shard, n = np - a < shard ? np - a : shard;
		LI_ASSERT(li_knn_add(s, pool + a * d, n, a) == 0);
	}
	LI_ASSERT(li_knn_rows(s) == np);
	for (size_t i = 0; i < nq; i++)
		r.n[i] = li_knn_result(s, i, r.idx + i * k, r.dist + i * k);
	li_knn_free(s);
	return r;
}

static int same(const result *a, const result *b)
{
	for (size_t i = 0; i < a->nq; i++)
		if (a->n[i] != b->n[i])
			return 0;
	return memcmp(a->idx, b->idx, a->nq * a->k * sizeof(uint64_t)) == 0 &&
	       memcmp(a->dist, b->dist, a->nq * a->k * sizeof(float)) == 0;
}

/* Compare with the reference. exact: the indices must be the reference's
 * (ties by index included). Otherwise each returned row must be a valid r-th
 * neighbour: its reference distance equals the reference's r-th within tol. */
static void check_reference(const char *what, const float *q, size_t nq, const float *pool,
			    size_t np, size_t d, size_t k, li_knn_metric m, const result *r, int exact,
			    double tol)
{
	int bad_n = 0, bad_idx = 0, bad_dist = 0, bad_valid = 0, bad_order = 0, worst = 0;
	double maxerr = 0;
	size_t want_n = k < np ? k : np;
	for (size_t i = 0; i < nq; i++) {
		ref *rf = reference(q + i * d, pool, np, d, m);
		if (r->n[i] != want_n)
			bad_n++;
		for (size_t j = 0; j < r->n[i] && j < want_n; j++) {
			uint64_t got = r->idx[i * k + j];
			double err = fabs(r->dist[i * k + j] - rf[j].d);
			if (err > maxerr)
				maxerr = err;
			if (err > tol)
				bad_dist++;
			if (exact && got != rf[j].i)
				bad_idx++;
			if (fabs(ref_dist(q + i * d, pool + got * d, d, m) - rf[j].d) > tol)
				bad_valid++;
			/* equal distances come in increasing row order */
			if (j > 0 && r->dist[i * k + j] == r->dist[i * k + j - 1] &&
			    got < r->idx[i * k + j - 1])
				bad_order++;
			if (j > 0 && r->dist[i * k + j] < r->dist[i * k + j - 1])
				worst++;
		}
		free(rf);
	}
	is_int(bad_n, 0, "%s: min(k, pool) neighbours for every query", what);
	if (exact)
		is_int(bad_idx, 0, "%s: exactly the reference's rows, ties by row index", what);
	is_int(bad_valid, 0, "%s: every row is a valid neighbour of its rank", what);
	is_int(bad_dist, 0, "%s: distances within %g of the reference (max error %.3g)", what, tol,
	       maxerr);
	is_int(bad_order, 0, "%s: equal distances in increasing row order", what);
	is_int(worst, 0, "%s: distances non-decreasing", what);
}

static int count_ties(const result *r)
{
	int t = 0;
	for (size_t i = 0; i < r->nq; i++)
		for (size_t j = 1; j < r->n[i]; j++)
			t += r->dist[i * r->k + j] == r->dist[i * r->k + j - 1];
	return t;
}

int main(void)
{
	li_rng g;
	li_rng_seed(&g, 5);
	const size_t nq = 37, np = 1500, d = 24, k = 10;
	/* The queries include copies of pool rows (distance 0, tied with the duplicates). */
	float *pool = int_data(&g, np, d, 1);
	float *q = int_data(&g, nq, d, 0);
	for (size_t i = 0; i < nq; i += 4)
		memcpy(q + i * d, pool + li_rng_below(&g, np) * d, d * sizeof(float));

	for (int m = 0; m < LI_KNN_METRIC_COUNT; m++) {
		const char *name = li_knn_metric_name((li_knn_metric)m);
		char what[64];
		result one = search(q, nq, pool, np, d, k, (li_knn_metric)m, np, np, 1);
		snprintf(what, sizeof what, "%s, integer data with ties", name);
		check_reference(what, q, nq, pool, np, d, k, (li_knn_metric)m, &one,
				m == LI_KNN_L2, 1e-5);
		ok(count_ties(&one) > 0, "%s: the data has exact ties among the results (%d)", name,
		   count_ties(&one));
		result blocked = search(q, nq, pool, np, d, k, (li_knn_metric)m, 7, np, 1);
		ok(same(&one, &blocked), "%s: blocks of 7 rows = one block of 1500", name);
		result shards = search(q, nq, pool, np, d, k, (li_knn_metric)m, 64, 499, 1);
		ok(same(&one, &shards), "%s: 4 shards added last-first = one pool", name);
		result thr = search(q, nq, pool, np, d, k, (li_knn_metric)m, 100, np, 3);
		ok(same(&one, &thr), "%s: 3 threads = 1 thread", name);
		result_free(&one);
		result_free(&blocked);
		result_free(&shards);
		result_free(&thr);
	}

	/* Gaussian data, 512 dimensions as the features, queries near pool rows. */
	const size_t gq = 20, gp = 3000, gd = 512, gk = 20;
	float *gpool = normal_data(&g, gp, gd);
	float *gqs = normal_data(&g, gq, gd);
	for (size_t i = 0; i < gq * gd; i++)
		gqs[i] = 0.3f * gqs[i] + gpool[(i / gd) * 7 * gd + i % gd];
	for (int m = 0; m < LI_KNN_METRIC_COUNT; m++) {
		char what[64];
		snprintf(what, sizeof what, "%s, gaussian 512-d", li_knn_metric_name((li_knn_metric)m));
		result r = search(gqs, gq, gpool, gp, gd, gk, (li_knn_metric)m, 1000, gp, 2);
		check_reference(what, gqs, gq, gpool, gp, gd, gk, (li_knn_metric)m, &r, 0,
				m == LI_KNN_L2 ? 2e-3 : 1e-5);
		is_int(r.idx[0], 0, "%s: query 0's nearest row is the row it was made from", what);
		is_int(r.idx[5 * gk], 35, "%s: query 5's nearest row is row 35", what);
		result_free(&r);
	}

	/* k larger than the pool: every row, in order. */
	{
		result r = search(q, 3, pool, 6, d, 10, LI_KNN_L2, 0, 6, 1);
		is_int(r.n[0], 6, "k 10 in a pool of 6: 6 neighbours");
		check_reference("k > pool", q, 3, pool, 6, d, 10, LI_KNN_L2, &r, 1, 1e-5);
		result_free(&r);
	}

	/* Cosine with zero vectors: distance exactly 1, ranked after every row
	 * with a positive cosine. */
	{
		float zq[2 * 3] = {0, 0, 0, 1, 0, 0};
		float zp[4 * 3] = {0, 0, 0, -1, 0, 0, 2, 0, 0, 0, 5, 0};
		result r = search(zq, 2, zp, 4, 3, 4, LI_KNN_COSINE, 0, 4, 1);
		ok(r.dist[0] == 1 && r.dist[1] == 1 && r.dist[2] == 1 && r.dist[3] == 1,
		   "a zero query has distance 1 to every row");
		is_int(r.idx[0], 0, "a zero query: ties by row index");
		is_int(r.idx[4], 2, "most similar first: (2,0,0) for (1,0,0)");
		ok(r.dist[4] == 0, "cosine distance 0 for the same direction");
		is_int(r.idx[5], 0, "zero row (distance 1) before ...");
		is_int(r.idx[6], 3, "... the orthogonal row (distance 1, higher index)");
		is_int(r.idx[7], 1, "the opposite direction last");
		ok(r.dist[7] == 2, "cosine distance 2 for the opposite direction");
		result_free(&r);
	}

	/* Non-finite input. */
	{
		float bad[2 * 2] = {1, 2, NAN, 0};
		li_knn *s = li_knn_new(bad, 2, 2, 1, LI_KNN_L2, 1);
		ok(s == NULL, "a NaN query is refused");
		is_str(li_errmsg(), "query row 1 has a value that is not finite or a norm above 1e18", "message names the query row");
		float big[2 * 2] = {1, 2, 1e30f, 1e30f}; /* finite, but |x|^2 overflows float */
		s = li_knn_new(big, 1, 2, 1, LI_KNN_L2, 1);
		ok(s != NULL, "a finite query is accepted");
		ok(li_knn_add(s, big, 2, 40) == -1, "a pool row whose norm overflows is refused");
		is_str(li_errmsg(), "pool row 41 has a value that is not finite or a norm above 1e18", "message names the global row");
		li_knn_free(s);
		ok(li_knn_new(big, 0, 2, 1, LI_KNN_L2, 1) == NULL, "no queries: refused");
		ok(li_knn_new(big, 1, 2, 0, LI_KNN_L2, 1) == NULL, "k 0: refused");
	}

	free(pool);
	free(q);
	free(gpool);
	free(gqs);
	return done_testing();
}
