#!/usr/bin/python3
"""knn_bench.py: the same exact k-NN search as li_knn, in FAISS or numpy, for
bench/run-knn.

    knn_bench.py faiss|numpy Q.npy P.npy K l2|cosine [OUT_IDX.npy]

Prints "seconds S": the search only, with the pool already in memory (FAISS:
already added to an IndexFlatL2, or an IndexFlatIP of L2-normalised rows for
cosine, the normalisation of the pool left out of the time). The indices
(queries x K, int32) go to OUT_IDX.npy for the agreement check."""
import sys
import time

import numpy as np


def search_faiss(q, p, k, metric):
    import faiss
    d = p.shape[1]
    if metric == "l2":
        index = faiss.IndexFlatL2(d)
        index.add(p)
        t = time.perf_counter()
        _, idx = index.search(q, k)
    else:
        p = np.array(p, dtype=np.float32, copy=True)
        faiss.normalize_L2(p)
        index = faiss.IndexFlatIP(d)
        index.add(p)
        del p
        t = time.perf_counter()
        qn = np.array(q, dtype=np.float32, copy=True)
        faiss.normalize_L2(qn)
        _, idx = index.search(qn, k)
    return time.perf_counter() - t, idx


def search_numpy(q, p, k, metric, block=65536):
    """Blocked brute force: q @ block.T, argpartition, merge with the best so far."""
    t = time.perf_counter()
    nq = q.shape[0]
    best_s = np.full((nq, k), np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    for a in range(0, p.shape[0], block):
        b = np.asarray(p[a:a + block])
        ip = q @ b.T
        if metric == "l2":
            s = np.einsum("ij,ij->i", b, b)[None, :] - 2 * ip
        else:
            s = -ip / np.maximum(np.linalg.norm(b, axis=1), 1e-30)[None, :]
        kk = min(k, s.shape[1])
        part = np.argpartition(s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + a], axis=1)
        order = np.argsort(cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return time.perf_counter() - t, best_i


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    method, qpath, ppath, k, metric = sys.argv[1:6]
    k = int(k)
    q = np.load(qpath)
    p = np.load(ppath, mmap_mode="r")
    if method == "faiss":
        seconds, idx = search_faiss(q, np.ascontiguousarray(p), k, metric)
    elif method == "numpy":
        p = np.ascontiguousarray(p)  # in memory, as for the others
        seconds, idx = search_numpy(q, p, k, metric)
    else:
        sys.exit(f"unknown method {method!r}")
    print(f"seconds {seconds:.6f}", flush=True)
    if len(sys.argv) == 7:
        np.save(sys.argv[6], idx.astype(np.int32))


if __name__ == "__main__":
    main()
