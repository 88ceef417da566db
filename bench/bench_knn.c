/* bench_knn.c: time li_knn on queries and a pool already in memory (as FAISS
 * searches an index already built), for bench/run-knn.
 *   bench_knn Q.npy P.npy K l2|cosine THREADS [OUT_IDX.npy]
 * prints "seconds <search seconds>" (LI_KNN_BLOCK=ROWS sets the block size) and optionally writes the int32 indices
 * (queries x K) for the agreement check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li_cli.h"
#include "li_error.h"
#include "li_knn.h"
#include "li_npy.h"

int main(int argc, char **argv)
{
	li_cli_init(argv[0]);
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: bench_knn Q.npy P.npy K l2|cosine THREADS [OUT_IDX.npy]\n");
		return 2;
	}
	static const char *const metrics[] = {"l2", "cosine", NULL};
	long k = li_opt_long("K", argv[3], 1, 100000);
	int metric = li_opt_choice("metric", argv[4], metrics);
	int threads = (int)li_opt_long("THREADS", argv[5], 0, 1024);
	li_npy *q = li_npy_read(argv[1]), *p = li_npy_read(argv[2]);
	if (!q || !p || li_npy_expect(q, LI_NPY_F32, 2) || li_npy_expect(p, LI_NPY_F32, 2))
		li_die_lib();
	size_t nq = q->shape[0], d = q->shape[1], np = p->shape[0];
	if (p->shape[1] != d)
		li_die("dimensions differ");
	double t0 = li_now();
	li_knn *s = li_knn_new(q->data, nq, d, (size_t)k, (li_knn_metric)metric, threads);
	const char *blk = getenv("LI_KNN_BLOCK"); /* for tuning */
	if (s && blk)
		li_knn_set_block(s, (size_t)li_opt_long("LI_KNN_BLOCK", blk, 1, 1 << 20));
	if (!s || li_knn_add(s, p->data, np, 0))
		li_die_lib();
	int32_t *out = li_malloc_array(nq * (size_t)k, sizeof(int32_t));
	uint64_t *idx = li_malloc_array((size_t)k, sizeof(uint64_t));
	if (!out || !idx)
		li_die_lib();
	for (size_t i = 0; i < nq; i++) {
		size_t n = li_knn_result(s, i, idx, NULL);
		for (size_t j = 0; j < (size_t)k; j++)
			out[i * (size_t)k + j] = j < n ? (int32_t)idx[j] : -1;
	}
	double t = li_now() - t0;
	printf("seconds %.6f\n", t);
	if (argc == 7) {
		size_t shape[2] = {nq, (size_t)k};
		if (li_npy_write(argv[6], LI_NPY_I32, 2, shape, out))
			li_die_lib();
	}
	li_knn_free(s);
	free(out);
	free(idx);
	li_npy_free(q);
	li_npy_free(p);
	return 0;
}
