/* li_knn.h: exact k-nearest-neighbour search of a few queries in a large pool
 * (li-mine(1) knn), streamed: the pool arrives in blocks of any size, so a pool
 * larger than memory is searched in bounded memory, and shards are searched
 * by adding them one after the other with their global row offsets.
 *
 * Per pool block of B rows: the pool norms are computed once, one sgemm gives
 * the query x block inner products, and a bounded max-heap of k entries per
 * query keeps the best rows. The threads of an li_pool take blocks one at
 * a time (a thread slowed by other work does not hold the rest up), each
 * with its own sgemm, scratch and heaps; the heaps are merged when the
 * results are read, so no lock is taken while searching.
 *
 *   l2:     score = |p|^2 - 2 q.p   (|q|^2 is constant per query);
 *           distance = sqrt(max(0, |q|^2 + score)), the Euclidean distance
 *   cosine: score = -(q.p) (1/|q|) (1/|p|); distance = 1 - cos, so the most
 *           similar row (largest cosine) comes first. A zero vector (query or
 *           pool row) has cosine 0 with everything: distance exactly 1.
 *
 * Rows are ordered by (score, global row index): equal scores are broken by
 * the lower row index, so results do not depend on the order of blocks,
 * shard boundaries or the thread count. Scores are float (as in FAISS): rows
 * whose true distances differ by less than float rounding may swap, and the
 * last bit of a score may depend on the sgemm kernel's tiling. */
#ifndef LI_KNN_H
#define LI_KNN_H
#include <stddef.h>
#include <stdint.h>

typedef enum li_knn_metric { LI_KNN_L2, LI_KNN_COSINE, LI_KNN_METRIC_COUNT } li_knn_metric;

/* "l2", "cosine". */
const char *li_knn_metric_name(li_knn_metric m);

typedef struct li_knn li_knn;

/* A search of nq queries (nq x dim floats, copied) keeping k rows each.
 * threads <= 0: one per online CPU. NULL + li_error on bad
 * sizes or a query row with a NaN or infinity or a norm above 1e18 (beyond
 * which float products overflow): "query row 3 has a value that is not
 * finite or a norm above 1e18". */
li_knn *li_knn_new(const float *queries, size_t nq, size_t dim, size_t k, li_knn_metric metric,
		   int threads);
void li_knn_free(li_knn *s);

/* Rows of a block are processed in sub-blocks of this many rows (default
 * 1024; the unit tests set it small to check that blocking changes nothing). */
void li_knn_set_block(li_knn *s, size_t rows);

/* Search n pool rows (n x dim floats) whose global indices are first,
 * first + 1, ... Blocks may come in any order. -1 + li_error on a row that is
 * not finite or too large, as for queries ("pool row 17 ...", the global
 * index). Each worker calls sgemm itself, so OpenBLAS is set to one thread
 * for the duration of the call (and restored after): no other OpenBLAS work
 * should run in the process meanwhile. Not to be called from inside an
 * li_pool task (the pool's threads index their heaps by li_pool_self). */
int li_knn_add(li_knn *s, const float *pool, size_t n, uint64_t first);

/* Pool rows seen so far. */
uint64_t li_knn_rows(const li_knn *s);

/* The neighbours of query q, nearest first: writes min(k, rows seen) entries
 * to idx (global row indices) and dist (may be NULL) and returns the count.
 * The first call ends the search (the heaps are sorted in place): no
 * li_knn_add after it. */
size_t li_knn_result(li_knn *s, size_t q, uint64_t *idx, float *dist);
#endif
