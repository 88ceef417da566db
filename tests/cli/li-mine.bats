#!/usr/bin/env bats
# li-mine.bats: false positives (fp), pool rows by score (top), k-NN mining
# against a numpy brute force (pairs and union, both metrics), shards and
# blocking changing nothing, the random baseline, the montage, bad input.
bats_require_minimum_version 1.5.0
load helpers

PY=/usr/bin/python3

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# mkfeat NQ NP D [int]: q.npy (NQ x D), pool.npy (NP x D), pool.tsv (path,
# label 1 on purpose, slide). Queries 0 and 1 are near pool rows 3 and 17;
# with "int", small integer values (exact arithmetic, many exact ties).
mkfeat() {
	$PY - "$@" <<'EOF'
import sys, numpy as np
nq, n, d = map(int, sys.argv[1:4]); integer = len(sys.argv) > 4
r = np.random.default_rng(3)
if integer:
    p = r.integers(-2, 3, (n, d)).astype(np.float32)
    q = r.integers(-2, 3, (nq, d)).astype(np.float32)
else:
    p = r.standard_normal((n, d)).astype(np.float32)
    q = r.standard_normal((nq, d)).astype(np.float32)
    q[0] = p[3 % n] + 0.01 * q[0]
    if nq > 1: q[1] = p[17 % n] + 0.01 * q[1]
np.save("q.npy", q); np.save("pool.npy", p)
with open("pool.tsv", "w") as f:
    f.write("path\tlabel\tslide\n")
    for i in range(n): f.write(f"pool/{i:05d}.png\t1\tS{i % 7}\n")
EOF
}

# expect METRIC K: the brute-force pairs (query, rank, pool_row) in double,
# ties by row, to expect.tsv, and the distances to expect_d.tsv.
expect() {
	$PY - "$@" <<'EOF'
import sys, numpy as np
metric, k = sys.argv[1], int(sys.argv[2])
q = np.load("q.npy").astype(np.float64); p = np.load("pool.npy").astype(np.float64)
if metric == "l2":
    d = np.sqrt(((q[:, None, :] - p[None, :, :]) ** 2).sum(-1))
else:
    d = 1 - (q @ p.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(p, axis=1))
with open("expect.tsv", "w") as f, open("expect_d.tsv", "w") as g:
    for i in range(len(q)):
        order = np.lexsort((np.arange(len(p)), d[i]))[:k]
        for r, j in enumerate(order):
            f.write(f"{i}\t{r + 1}\t{j}\n"); g.write(f"{d[i, j]:.9g}\n")
EOF
}

@test "fp: label 0 and prob >= threshold (0.1 by default), every column kept" {
	printf 'path\tlabel\tprob\tslide\na\t0\t0.09\tS1\nb\t0\t0.1\tS1\nc\t1\t0.9\tS2\nd\t0\t0.95\tS2\ne\t0\t0.5\tS3\n' > s.tsv
	run -0 --separate-stderr li-mine fp s.tsv
	[ "$output" = "$(printf 'path\tlabel\tprob\tslide\nb\t0\t0.1\tS1\nd\t0\t0.95\tS2\ne\t0\t0.5\tS3')" ]
	[ "$stderr" = "li-mine: 3 false positives among 4 negative rows (prob >= 0.1)" ]
	run -0 --separate-stderr li-mine fp --threshold 0.6 - < s.tsv
	[ "$output" = "$(printf 'path\tlabel\tprob\tslide\nd\t0\t0.95\tS2')" ]
	li-mine fp -t 0.5 -o fp.tsv s.tsv 2> /dev/null
	[ "$(cut -f1 fp.tsv | tr '\n' ' ')" = "path d e " ]
	run -0 li-mine --help
	[[ $output == *"-t, --threshold T      (default 0.1)"* ]]
}

@test "fp: no false positives is not an error: the header and a message" {
	printf 'path\tlabel\tprob\na\t0\t0.01\nb\t1\t0.9\n' > s.tsv
	run -0 --separate-stderr li-mine fp s.tsv
	[ "$output" = "$(printf 'path\tlabel\tprob')" ]
	[ "$stderr" = "li-mine: no false positives: no negative row has prob >= 0.1" ]
}

@test "fp: bad threshold, columns and values" {
	printf 'path\tlabel\tprob\na\t0\t0.5\n' > s.tsv
	for t in 1.5 -0.1 x nan ''; do
		run -2 --separate-stderr li-mine fp -t "$t" s.tsv
		[[ $stderr == "li-mine: --threshold: "* ]]
	done
	printf 'path\tlabel\na\t0\n' > noprob.tsv
	run -1 --separate-stderr li-mine fp noprob.tsv
	[ "$stderr" = "li-mine: 'noprob.tsv': no column 'prob'" ]
	printf 'path\tlabel\tprob\na\t0\t0.5\nb\t0\tabc\n' > bad.tsv
	run -1 --separate-stderr li-mine fp -o out.tsv bad.tsv
	[ "$stderr" = "li-mine: 'bad.tsv' line 3: prob 'abc' is not a finite number" ]
	[ ! -e out.tsv ]
	run -2 li-mine fp -n 3 s.tsv
	run -2 li-mine fp -k 3 s.tsv
}

@test "top: the N highest-scored rows, ties by row order, label 0" {
	printf 'path\tprob\tx\na\t0.2\t1\nb\t0.9\t2\nc\t0.5\t3\nd\t0.9\t4\ne\t0.5\t5\n' > p.tsv
	run -0 --separate-stderr li-mine top -n 3 p.tsv
	[ "$stderr" = "li-mine: kept 3 of 5 rows, those with the highest prob" ]
	[ "$output" = "$(printf 'path\tprob\tx\tlabel\nb\t0.9\t2\t0\nd\t0.9\t4\t0\nc\t0.5\t3\t0')" ]
	printf 'path\tlabel\tscore\na\t1\t3\nb\t1\t-1\nc\t1\t7\n' > q.tsv
	run -0 --separate-stderr li-mine top --by score -n 1 q.tsv
	[ "$output" = "$(printf 'path\tlabel\tscore\nc\t0\t7')" ]
	run -0 --separate-stderr li-mine top -n 10 q.tsv --by score
	[ "${#lines[@]}" -eq 4 ]
	[[ $stderr == *"li-mine: warning: -n 10 is more than the 3 rows of 'q.tsv': keeping all"* ]]
	run -2 li-mine top p.tsv
	run -1 --separate-stderr li-mine top -n 1 --by nope p.tsv
	[ "$stderr" = "li-mine: 'p.tsv': no column 'nope'" ]
}

@test "knn l2: every pair equals the brute force; the union keeps each row once, at its best" {
	mkfeat 30 400 16
	expect l2 5
	run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 5 --pairs pairs.tsv
	echo "$output" > union.tsv
	[ "$(head -1 pairs.tsv)" = "$(printf 'path\tquery\trank\tpool_row\tdistance')" ]
	diff <(tail -n +2 pairs.tsv | cut -f2-4) expect.tsv
	paste <(tail -n +2 pairs.tsv | cut -f5) expect_d.tsv |
		awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-4) { print; bad = 1 } } END { exit bad }'
	# path of each pair is the pool row's path
	awk -F'\t' 'NR > 1 && $1 != sprintf("pool/%05d.png", $4) { exit 1 }' pairs.tsv
	[ "$(head -1 union.tsv)" = "$(printf 'path\tlabel\tslide\tdistance\trank\tquery')" ]
	# the union: distinct pool rows of the pairs, in pool order, label 0
	diff <(tail -n +2 union.tsv | cut -f1) <(tail -n +2 pairs.tsv | cut -f1 | sort -u)
	[ "$(tail -n +2 union.tsv | cut -f2 | sort -u)" = 0 ]
	# each row's best pair (smallest distance, then rank, then query)
	tail -n +2 pairs.tsv | sort -t$'\t' -k1,1 -k5,5g -k3,3n -k2,2n | awk -F'\t' '$1 != p { print $1 "\t" $5 "\t" $3 "\t" $2; p = $1 }' > best.tsv
	diff <(tail -n +2 union.tsv | cut -f1,4-6) best.tsv
	# queries 0 and 1 find the rows they were made from
	grep -q "^pool/00003.png	0	1	3	" pairs.tsv
	grep -q "^pool/00017.png	1	1	17	" pairs.tsv
	n=$(($(wc -l < union.tsv) - 1))
	[[ $stderr == *"mined $n pool rows: 30 queries x 5 neighbours (l2), $((150 - n)) duplicates"* ]]
}

@test "knn cosine: most similar first, distance 1 - cosine, against the brute force" {
	mkfeat 20 300 12
	expect cosine 4
	li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 4 --metric cosine --pairs pairs.tsv > union.tsv 2> /dev/null
	diff <(tail -n +2 pairs.tsv | cut -f2-4) expect.tsv
	paste <(tail -n +2 pairs.tsv | cut -f5) expect_d.tsv |
		awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5) { print; bad = 1 } } END { exit bad }'
	# rank 1 is the largest cosine: distance near 0 for query 0 and row 3
	awk -F'\t' '$2 == 0 && $3 == 1 { exit !($4 == 3 && $5 < 1e-3) }' pairs.tsv
}

@test "knn: integer data with exact ties: ties broken by row; blocks, threads and shards change nothing" {
	mkfeat 25 500 6 int
	expect l2 8
	li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 8 --pairs pairs.tsv -j 1 > one.tsv 2> /dev/null
	diff <(tail -n +2 pairs.tsv | cut -f2-4) expect.tsv
	# there are exact ties among the results
	[ "$(tail -n +2 pairs.tsv | cut -f2,5 | sort | uniq -d | wc -l)" -gt 0 ]
	li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 8 --pairs pairs7.tsv --block 7 -j 2 > b7.tsv 2> /dev/null
	cmp one.tsv b7.tsv
	cmp pairs.tsv pairs7.tsv
	# three shards: rows 0-99, 100-349, 350-499
	$PY -c '
import numpy as np
p = np.load("pool.npy")
for i, (a, b) in enumerate([(0, 100), (100, 350), (350, 500)]):
    np.save(f"s{i}.npy", p[a:b])
'
	head -1 pool.tsv > s0.tsv; cp s0.tsv s1.tsv; cp s0.tsv s2.tsv
	sed -n '2,101p' pool.tsv >> s0.tsv
	sed -n '102,351p' pool.tsv >> s1.tsv
	sed -n '352,501p' pool.tsv >> s2.tsv
	li-mine knn -q q.npy -p s0.npy -l s0.tsv -p s1.npy -l s1.tsv -p s2.npy -l s2.tsv -k 8 --pairs pairs3.tsv > shards.tsv 2> /dev/null
	cmp one.tsv shards.tsv
	cmp pairs.tsv pairs3.tsv
	expect cosine 8
	li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 8 -m cosine --pairs pc.tsv > c1.tsv 2> /dev/null
	li-mine knn -q q.npy -p s0.npy -l s0.tsv -p s1.npy -l s1.tsv -p s2.npy -l s2.tsv -k 8 -m cosine --block 3 > c3.tsv 2> /dev/null
	cmp c1.tsv c3.tsv
}

@test "knn: zero vectors under cosine have distance 1" {
	$PY -c '
import numpy as np
np.save("q.npy", np.array([[0, 0], [1, 0]], np.float32))
np.save("pool.npy", np.array([[0, 0], [3, 0], [0, 2]], np.float32))
'
	printf 'path\na\nb\nc\n' > pool.tsv
	li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 3 -m cosine --pairs pairs.tsv > /dev/null 2>&1
	[ "$(cut -f2-5 pairs.tsv | tail -n +2 | tr '\t\n' ' |')" = "0 1 0 1|0 2 1 1|0 3 2 1|1 1 1 0|1 2 0 1|1 3 2 1|" ]
}

@test "knn --method random: queries x k rows by default, seeded, in pool order, no duplicates" {
	mkfeat 10 300 4
	run -0 --separate-stderr li-mine knn --method random -q q.npy -l pool.tsv -k 5
	echo "$output" > r1.tsv
	[ "$(head -1 r1.tsv)" = "$(printf 'path\tlabel\tslide')" ]
	[ "$(tail -n +2 r1.tsv | wc -l)" -eq 50 ]
	[ "$(tail -n +2 r1.tsv | cut -f1 | sort -u | wc -l)" -eq 50 ]
	diff <(tail -n +2 r1.tsv | cut -f1) <(tail -n +2 r1.tsv | cut -f1 | sort)
	[ "$(tail -n +2 r1.tsv | cut -f2 | sort -u)" = 0 ]
	[ -z "$(comm -23 <(tail -n +2 r1.tsv | sort) <(sed 's/\t1\t/\t0\t/' pool.tsv | sort))" ]
	[ "$stderr" = "li-mine: drew 50 of 300 pool rows at random (seed 1)" ]
	li-mine knn --method random -q q.npy -l pool.tsv -p pool.npy -k 5 > r2.tsv 2> /dev/null
	cmp r1.tsv r2.tsv
	li-mine knn --method random -n 50 -l pool.tsv --seed 2 > r3.tsv 2> /dev/null
	run ! cmp -s r1.tsv r3.tsv
	li-mine knn --method random -n 7 -l pool.tsv > r4.tsv 2> /dev/null
	[ "$(tail -n +2 r4.tsv | wc -l)" -eq 7 ]
	run -0 --separate-stderr li-mine knn --method random -n 1000 -l pool.tsv
	[ "${#lines[@]}" -eq 301 ]
	[[ $stderr == *"li-mine: warning: 1000 rows asked for, the pool has 300: drawing all"* ]]
}

@test "knn -n: N distinct rows by rank, round-robin over the queries, against the brute force" {
	mkfeat 6 200 4 int
	expect l2 200
	for n in 1 5 6 40 200; do
		# the brute force's fill: rank 1 of every query, then rank 2, ...; a row taken is skipped
		$PY -c '
import sys
n = int(sys.argv[1])
by = {}
for l in open("expect.tsv"):
    q, r, j = map(int, l.split()); by[(q, r)] = j
nq = max(q for q, _ in by) + 1
taken, out = set(), []
for r in range(1, 201):
    for q in range(nq):
        j = by[(q, r)]
        if j not in taken and len(out) < n:
            taken.add(j); out.append((j, r, q))
for j, r, q in sorted(out): print(f"pool/{j:05d}.png\t{r}\t{q}")' "$n" > want.tsv
		run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -n "$n" --pairs pairs.tsv
		[ "${#lines[@]}" -eq $((n + 1)) ] || flunk "-n $n: ${#lines[@]} lines"
		diff <(printf '%s\n' "${lines[@]:1}" | cut -f1,5,6) want.tsv || flunk "-n $n"
		[ "$(tail -n +2 pairs.tsv | wc -l)" -eq "$n" ]
		[[ $stderr == "li-mine: mined $n pool rows: the nearest "*" of 6 queries by rank (l2)" ]] || flunk "$stderr"
	done
	run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -n 500
	[ "${#lines[@]}" -eq 201 ]
	[[ $stderr == *"li-mine: warning: -n 500 is larger than the pool (200 rows): using 200"* ]] || flunk "$stderr"
}

@test "knn --min-score: only the pool rows scored high enough, for knn, -n and random" {
	mkfeat 6 200 4
	# a scored pool list: prob = row / 200
	awk -F '\t' -v OFS='\t' 'NR == 1 { print $0, "prob"; next } { print $0, (NR - 2) / 200 }' pool.tsv > scored.tsv
	# the same search on the candidates alone (rows 100..199)
	$PY -c 'import numpy as np; np.save("high.npy", np.load("pool.npy")[100:])'
	awk 'NR == 1 || NR >= 102' scored.tsv > high.tsv
	li-mine knn -q q.npy -p high.npy -l high.tsv -k 4 > want.tsv 2>/dev/null
	run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l scored.tsv -k 4 --min-score 0.5 --pairs pairs.tsv
	[ "$output" = "$(cat want.tsv)" ] || flunk "$output"
	[[ $stderr == "li-mine: 100 of 200 pool rows have prob >= 0.5"* ]] || flunk "$stderr"
	[ "$(tail -n +2 pairs.tsv | cut -f4 | sort -n | head -1)" -ge 100 ]
	li-mine knn -q q.npy -p high.npy -l high.tsv -n 30 > want.tsv 2>/dev/null
	run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l scored.tsv -n 30 --min-score 0.5 --block 7 -j 3
	[ "$output" = "$(cat want.tsv)" ] || flunk "$output"
	# another score column
	awk -F '\t' -v OFS='\t' 'NR == 1 { print $0, "s"; next } { print $0, 1 - (NR - 2) / 200 }' scored.tsv > s2.tsv
	run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l s2.tsv -n 30 --score s --min-score 0.5
	[ "${#lines[@]}" -eq 31 ]
	[ "$(printf '%s\n' "${lines[@]:1}" | awk -F '\t' '$5 < 0.5' | wc -l)" -eq 0 ]
	# random: only candidates, all of them when asked for more
	run -0 --separate-stderr li-mine knn --method random -n 40 -l scored.tsv --min-score 0.75
	[ "${#lines[@]}" -eq 41 ]
	[ "$(printf '%s\n' "${lines[@]:1}" | awk -F '\t' '$4 < 0.75' | wc -l)" -eq 0 ]
	[[ $stderr == *"li-mine: drew 40 of the 50 pool rows with prob >= 0.75 at random (seed 1)" ]] || flunk "$stderr"
	run -0 --separate-stderr li-mine knn --method random -n 80 -l scored.tsv --min-score 0.75
	[ "${#lines[@]}" -eq 51 ]
	[[ $stderr == *"li-mine: warning: 80 rows asked for, the pool has 50 rows with prob >= 0.75: drawing all"* ]] || flunk "$stderr"
	# no candidate; no score column
	run -1 --separate-stderr li-mine knn -q q.npy -p pool.npy -l scored.tsv -n 5 --min-score 2 -o out.tsv
	[ "${stderr_lines[-1]}" = "li-mine: no pool row has prob >= 2: nothing to mine" ] || flunk "$stderr"
	run -1 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -n 5 --min-score 0.5 -o out.tsv
	[ "$stderr" = "li-mine: 'pool.tsv': no column 'prob' (--min-score reads the pool list's scores: give li-score's output as --pool-list)" ] ||
		flunk "$stderr"
	[ ! -e out.tsv ]
}

@test "knn: k larger than the pool is clamped with a warning" {
	mkfeat 3 6 4
	run -0 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 20 --pairs pairs.tsv
	[[ $stderr == *"li-mine: warning: -k 20 is larger than the pool (6 rows): using 6"* ]]
	[ "$(tail -n +2 pairs.tsv | wc -l)" -eq 18 ]
	[ "${#lines[@]}" -eq 7 ]
}

@test "knn: no queries mines nothing, says so, exit 0" {
	mkfeat 3 10 4
	$PY -c 'import numpy as np; np.save("none.npy", np.zeros((0, 4), np.float32))'
	run -0 --separate-stderr li-mine knn -q none.npy -p pool.npy -l pool.tsv
	[ "$output" = "$(printf 'path\tlabel\tslide\tdistance\trank\tquery')" ]
	[ "$stderr" = "li-mine: warning: no queries in 'none.npy': nothing mined" ]
}

@test "knn: bad input: exact messages, exit 1, no output file" {
	mkfeat 4 20 8
	$PY -c '
import numpy as np
np.save("p7.npy", np.zeros((20, 7), np.float32))
np.save("p19.npy", np.zeros((19, 8), np.float32))
np.save("empty.npy", np.zeros((0, 8), np.float32))
p = np.load("pool.npy"); p[5, 2] = np.nan; np.save("nan.npy", p)
np.save("i32.npy", np.zeros((20, 8), np.int32))
'
	printf 'path\tlabel\tslide\n' > empty.tsv
	run -1 --separate-stderr li-mine knn -q q.npy -p empty.npy -l empty.tsv -o out.tsv
	[ "$stderr" = "li-mine: the pool is empty: no data rows in 'empty.tsv'" ]
	run -1 --separate-stderr li-mine knn -q q.npy -p p19.npy -l pool.tsv -o out.tsv
	[ "$stderr" = "li-mine: 'p19.npy' has 19 rows, but 'pool.tsv' has 20 data rows" ]
	run -1 --separate-stderr li-mine knn -q q.npy -p p7.npy -l pool.tsv -o out.tsv
	[ "$stderr" = "li-mine: 'p7.npy' has 7 columns, but the queries 'q.npy' have 8" ]
	run -1 --separate-stderr li-mine knn -q q.npy -p nan.npy -l pool.tsv -o out.tsv
	[ "$stderr" = "li-mine: 'nan.npy': pool row 5 has a value that is not finite or a norm above 1e18" ]
	run -1 --separate-stderr li-mine knn -q q.npy -p i32.npy -l pool.tsv -o out.tsv
	[ "$stderr" = "li-mine: 'i32.npy': expected a 2-d float32 array" ]
	printf 'path\tlabel\n' > other.tsv
	run -1 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -p empty.npy -l other.tsv -o out.tsv
	[ "$stderr" = "li-mine: 'other.tsv': columns differ from those of 'pool.tsv'" ]
	[ ! -e out.tsv ]
}

@test "knn: usage errors exit 2" {
	mkfeat 2 5 4
	run -2 li-mine knn -q q.npy -p pool.npy
	run -2 li-mine knn -p pool.npy -l pool.tsv
	run -2 li-mine knn -q q.npy -l pool.tsv
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv -p pool.npy
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 0
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv -m hamming
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv -n 3 -k 2
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv -n 0
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv --score prob
	run -2 li-mine fp --min-score 0.5 pool.tsv
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv --montage m.png
	run -2 li-mine knn --method random -l pool.tsv
	run -2 li-mine knn -q q.npy -p pool.npy -l pool.tsv --pairs -
	run -2 --separate-stderr li-mine frobnicate
	[ "${stderr%%$'\n'*}" = "li-mine: unknown command 'frobnicate' (fp, knn or top)" ]
	run -2 --separate-stderr li-mine
	[ "${stderr%%$'\n'*}" = "li-mine: no command: fp, knn or top" ]
}

@test "--montage: one row per query, the query then its neighbours" {
	imgs=("$LI_ROOT"/tests/fixtures/images/pngsuite/basn*.png)
	[ "${#imgs[@]}" -ge 8 ]
	mkfeat 3 8 4
	{ printf 'path\tlabel\tslide\n'; for i in 0 1 2 3 4 5 6 7; do printf '%s\t0\tS\n' "${imgs[$i]}"; done; } > pool.tsv
	{ printf 'path\n'; for i in 0 1 2; do printf '%s\n' "${imgs[$i]}"; done; } > fp.tsv
	run -0 li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 4 --montage m.png --query-list fp.tsv --thumb 32
	# width 2 + 34 * (1 + 4) + 6, height 2 + 34 * 3
	run -0 $PY -c 'import struct; d = open("m.png", "rb").read(24); print(*struct.unpack(">II", d[16:24]))'
	[ "$output" = "178 104" ]
	head -3 fp.tsv > fp2.tsv
	run -1 --separate-stderr li-mine knn -q q.npy -p pool.npy -l pool.tsv -k 4 --montage m2.png --query-list fp2.tsv
	[ "$stderr" = "li-mine: 'fp2.tsv' has 2 data rows, but 'q.npy' has 3 rows" ]
	[ ! -e m2.png ]
}
