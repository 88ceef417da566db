#!/usr/bin/env bats
# li-ablate.bats: the ablation on a tiny Fashion-MNIST LI-like task: one weak
# model per seed shared by the mining methods, resume after a kill, the
# paired statistics against an independent computation, the figure, the
# author's ablation keys, and bad input.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export FL="$BATS_FILE_TMPDIR/fl"
	"$LI_ROOT/examples/fashion-li" "$FL" --n-pos 40 --n-neg 80 --pool 300 --test 200 \
		--patients 8 2>/dev/null
}

# base [extra yaml lines...]: a small, fast base configuration; prints its path.
base() {
	{
		printf 'project_name: "t"\nfold_num: 1\nepochs: 1\nlearning_rate: 0.001\n'
		printf 'is_sampling: False\nsampling_rate: 0.5\nsampling_random_state: 42\n'
		printf 'sample_only_pos: False\nquery_method: "L2"\nnum_query: 3\nfp_threshold: 0.0\n'
		printf 'data_dir: "%s"\nout_dir: "%s"\ntest_list: "%s"\n' "$FL/data" "$BATS_TEST_TMPDIR/res" "$FL/test.tsv"
		printf 'arch: resnet10\nwidth: 4\ninput_size: 32\nbatch_size: 32\nthreads: 2\naugment: none\nci: 20\n'
		printf '%s\n' "$@"
	} > "$BATS_TEST_TMPDIR/base.yaml"
	echo "$BATS_TEST_TMPDIR/base.yaml"
}

# steps_run LOG...: the li-pipeline steps that ran (not "up to date").
steps_run() {
	cat "$@" | grep '^li-pipeline: \[[0-9]*\] ' | grep -v ': up to date$' || true
}

@test "one weak model per seed, shared by every mining method; table, comparisons, figure" {
	cfg=$(base)
	run --separate-stderr li-ablate -s 7,8 "$cfg" mining_method=knn,random,score
	[ "$status" -eq 0 ] || flunk "$stderr"
	D=$BATS_TEST_TMPDIR/res/t-ablation
	# the weak model, its validation and pool scores and the false positives:
	# once per seed, in the first point of the seed
	[ "$(cat "$D"/logs/*.log | grep -c 'train weak model (')" -eq 2 ] || flunk "$(grep -H 'train weak' "$D"/logs/*)"
	[ "$(cat "$D"/logs/*.log | grep -c 'embed pool (')" -eq 2 ]
	[ "$(cat "$D"/logs/*.log | grep -c 'score validation (')" -eq 2 ]
	[ "$(cat "$D"/logs/*.log | grep -c '\] false positives (')" -eq 2 ]
	[ "$(cat "$D"/logs/*.log | grep -c 'train strong model (')" -eq 6 ]
	for m in random score; do
		for f in 1 2; do
			log=$D/logs/t_mining_method-${m}_fold-$f.log
			grep -q 'train weak model: up to date' "$log" || flunk "$log: $(cat "$log")"
		done
	done
	[ -s "$D/weak/seed-7/weak.safetensors" ] && [ -s "$D/weak/seed-8/pool.npy" ]
	[ ! -e "$D/runs/t_mining_method-knn_fold-1/weak.safetensors" ]
	# the strong models of a seed were scored on the same test list as its weak model
	cmp <(cut -f1 "$D/weak/seed-7/test.weak.tsv") <(cut -f1 "$D/runs/t_mining_method-score_fold-1/test.strong.tsv")
	# random and score mined as many as knn, per seed
	for f in 1 2; do
		n=$(wc -l < "$D/runs/t_mining_method-knn_fold-$f/mined.tsv")
		[ "$(wc -l < "$D/runs/t_mining_method-random_fold-$f/mined.tsv")" -eq "$n" ]
		[ "$(wc -l < "$D/runs/t_mining_method-score_fold-$f/mined.tsv")" -eq "$n" ]
	done
	# the table: one line per configuration, then the comparisons with random
	[[ ${lines[0]} == "configuration "*"delta AUROC"*"delta specificity" ]] || flunk "$output"
	[[ ${lines[1]} == "mining_method=knn "*" 2 "* ]] || flunk "$output"
	[[ $output == *"mining_method=knn vs mining_method=random (2 seeds):"* ]] || flunk "$output"
	[[ $output == *"mining_method=score vs mining_method=random (2 seeds):"* ]] || flunk "$output"
	[[ $output == *"  AUROC "*" ["*", "*"], "*"/2 seeds > 0, DeLong p < 0.05 in "*"/2"* ]] || flunk "$output"
	[[ $output == *"6 of 6 runs complete"* ]] || flunk "$output"
	[ "$(wc -l < "$D/results.tsv")" -eq 7 ]
	[ "$(wc -l < "$D/summary.tsv")" -eq 4 ]
	[ "$(wc -l < "$D/compare.tsv")" -eq 7 ] # 2 comparisons x (2 seeds + mean) + header
	# the figure: a PNG with three panels side by side
	[ "$(head -c 8 "$D/ablation.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	run -0 li-image info "$D/ablation.png"
	[[ $output == *$'\tpng\t'*$'\t520\t3'* ]] || flunk "$output"
}

@test "the paired statistics agree with an independent computation (numpy, scipy, scikit-learn)" {
	cfg=$(base)
	run --separate-stderr li-ablate -s 7,8,9 "$cfg" mining_method=knn,random
	[ "$status" -eq 0 ] || flunk "$stderr"
	run /usr/bin/python3 "$LI_ROOT/tests/unit/py/ablate_check.py" "$BATS_TEST_TMPDIR/res/t-ablation"
	[ "$status" -eq 0 ] || flunk "$output"
	[[ $output == "ok "* ]] || flunk "$output"
	# 3 seeds x 2 points x 6 metrics + 2 x 8 summary + 3 x 5 per seed + 10 over seeds
	[ "${output#ok }" = "77 values" ] || flunk "$output"
}

@test "a second run recomputes nothing; --report reads what is there" {
	cfg=$(base)
	run -0 --separate-stderr li-ablate -s 7 "$cfg" mining_method=knn,random
	D=$BATS_TEST_TMPDIR/res/t-ablation
	first=$output
	for f in "$D"/logs/*.log; do cp "$f" "$f.before"; done
	run -0 --separate-stderr li-ablate -s 7 "$cfg" mining_method=knn,random
	[ "$output" = "$first" ] || flunk "$first" "$output"
	for f in "$D"/logs/*.log; do
		ran=$(steps_run <(tail -n +$(($(wc -l < "$f.before") + 1)) "$f"))
		[ -z "$ran" ] || flunk "$f: redone: $ran"
	done
	run -0 --separate-stderr li-ablate --report -s 7 "$cfg" mining_method=knn,random
	[ "$output" = "$first" ] || flunk "$first" "$output"
	# a seed not run yet: reported as missing, nothing run
	run -0 --separate-stderr li-ablate --report -s 7,8 "$cfg" mining_method=knn,random
	[[ $output == *"2 of 4 runs complete"* ]] || flunk "$output"
	[ ! -e "$D/weak/seed-8" ]
}

@test "killed, then run again: it goes on, and completed points are not recomputed" {
	cfg=$(base)
	D=$BATS_TEST_TMPDIR/res/t-ablation
	li-ablate -s 7,8 "$cfg" mining_method=knn,random > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" &
	pid=$!
	for _ in $(seq 600); do
		[ -e "$D/runs/t_mining_method-knn_fold-1/compare.json" ] && break
		sleep 0.1
	done
	[ -e "$D/runs/t_mining_method-knn_fold-1/compare.json" ] || flunk "the first point never completed"
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -ne 0 ]
	grep -q 'li-ablate: interrupted: run li-ablate again to continue' "$BATS_TEST_TMPDIR/err" ||
		flunk "$(cat "$BATS_TEST_TMPDIR/err")"
	[ ! -e "$D/results.tsv" ]
	# no temporary file left behind by the killed steps
	left=$(find "$D" -name '.*.[0-9]*.*' -o -name '*.tmp')
	[ -z "$left" ] || flunk "left behind: $left"
	log=$D/logs/t_mining_method-knn_fold-1.log
	cp "$log" "$log.before"
	run --separate-stderr li-ablate -s 7,8 "$cfg" mining_method=knn,random
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $output == *"4 of 4 runs complete"* ]] || flunk "$output"
	ran=$(steps_run <(tail -n +$(($(wc -l < "$log.before") + 1)) "$log"))
	[ -z "$ran" ] || flunk "the completed point was redone: $ran"
	# seed 7's weak model was trained once in all
	[ "$(cat "$D"/logs/*_fold-1.log | grep -c 'train weak model (')" -eq 1 ]
}

@test "a directory in use by another li-ablate is refused" {
	cfg=$(base)
	D=$BATS_TEST_TMPDIR/res/t-ablation
	mkdir -p "$D"
	flock "$D/.lock" sleep 30 &
	holder=$!
	sleep 0.3
	run --separate-stderr li-ablate -s 7 "$cfg" mining_method=knn,random
	kill "$holder"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-ablate: '$D' is in use by another li-ablate (or the li-pipeline it started)" ] || flunk "$stderr"
	[ ! -e "$D/configs" ]
}

@test "the author's ablation keys: query count and cosine share the weak model, subsets do not" {
	cfg=$(base)
	sed -i 's/^is_sampling: False/is_sampling: True/' "$cfg"
	run --separate-stderr li-ablate -s 7 "$cfg" query_method=L2,Cos num_query=2,4
	[ "$status" -eq 0 ] || flunk "$stderr"
	D=$BATS_TEST_TMPDIR/res/t-ablation
	[ "$(cat "$D"/logs/*.log | grep -c 'train weak model (')" -eq 1 ]
	grep -q -- '--metric cosine' <(li-pipeline -n -f "$D/configs/t_query_method-Cos_num_query-4_fold-1.yaml" 2>/dev/null)
	[[ ${lines[4]} == "query_method=Cos, num_query=4 "* ]] || flunk "$output"
	# no mining_method in the grid: no reference, no comparison
	[[ $output != *" vs "* ]] || flunk "$output"
	[ ! -e "$D/compare.tsv" ]

	rm -rf "$BATS_TEST_TMPDIR/res"
	run --separate-stderr li-ablate -s 7 "$cfg" sampling_rate=0.5,0.8 sample_only_pos=True,False
	[ "$status" -eq 0 ] || flunk "$stderr"
	[ "$(cat "$D"/logs/*.log | grep -c 'train weak model (')" -eq 4 ]
	[ -d "$D/weak/sampling_rate-0.8_sample_only_pos-True_seed-7" ]
	n5=$(wc -l < "$D/weak/sampling_rate-0.5_sample_only_pos-False_seed-7/train.tsv")
	n8=$(wc -l < "$D/weak/sampling_rate-0.8_sample_only_pos-False_seed-7/train.tsv")
	[ "$n5" -lt "$n8" ]
}

@test "--reference compares with another value; a failing point stops the run, naming its log" {
	cfg=$(base)
	run --separate-stderr li-ablate -s 7,8 -r num_query=2 "$cfg" num_query=2,5
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $output == *"num_query=5 vs num_query=2 (2 seeds):"* ]] || flunk "$output"
	# two reference keys: every other point against (2, L2)
	run --separate-stderr li-ablate -s 7,8 -r num_query=2 -r query_method=L2 "$cfg" num_query=2,5 query_method=L2,Cos
	[ "$status" -eq 0 ] || flunk "$stderr"
	[ "$(grep -c ' vs num_query=2, query_method=L2 (2 seeds):$' <<<"$output")" -eq 3 ] || flunk "$output"
	[[ $output == *"num_query=5, query_method=Cos vs num_query=2, query_method=L2 (2 seeds):"* ]] || flunk "$output"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/res/t-ablation/compare.tsv")" -eq 10 ]
	run --separate-stderr li-ablate -s 7 -r num_query=3 "$cfg" num_query=2,5
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-ablate: '$cfg': --reference 'num_query=3' is not a key and value of the grid" ] || flunk "$stderr"

	cp -r "$FL/data" "$BATS_TEST_TMPDIR/data"
	printf 'not a jpeg' > "$BATS_TEST_TMPDIR/data/weakly_labeled_dataset/Z001_0_Z0010_999999.jpg"
	cfg=$(base "data_dir: $BATS_TEST_TMPDIR/data")
	sed -i "0,/^data_dir:.*/{/^data_dir:.*/d}" "$cfg"
	rm -rf "$BATS_TEST_TMPDIR/res"
	run --separate-stderr li-ablate -s 7 "$cfg" mining_method=knn,random
	[ "$status" -eq 1 ]
	D=$BATS_TEST_TMPDIR/res/t-ablation
	[ "${stderr_lines[-1]}" = "li-ablate: li-pipeline failed on '$D/configs/t_mining_method-knn_fold-1.yaml' (log '$D/logs/t_mining_method-knn_fold-1.log'): li-pipeline: step 'embed pool' failed" ] ||
		flunk "$stderr"
	[ ! -e "$D/results.tsv" ]
}

@test "bad input: one line naming the file, exit 1, nothing created" {
	cfg=$(base)
	R=$BATS_TEST_TMPDIR/res
	check() { # check EXPECTED_STDERR ARGS...
		local want=$1
		shift
		run --separate-stderr li-ablate "$@"
		[ "$status" -eq 1 ] || flunk "status $status: li-ablate $*" "$stderr"
		[ "$stderr" = "$want" ] || flunk "li-ablate $*" "got:  $stderr" "want: $want"
		[ ! -e "$R" ] || flunk "li-ablate $* created $(find "$R")"
	}
	check "li-ablate: cannot read '$BATS_TEST_TMPDIR/none.yaml': No such file or directory" \
		"$BATS_TEST_TMPDIR/none.yaml" mining_method=knn,random
	check "li-ablate: '$cfg': grid 'mining_method' is not KEY=V1,V2,..." "$cfg" mining_method
	check "li-ablate: '$cfg': grid 'mining_method=' is not KEY=V1,V2,..." "$cfg" mining_method=
	check "li-ablate: '$cfg': grid '=knn' is not KEY=V1,V2,..." "$cfg" =knn
	check "li-ablate: '$cfg': grid 'mining method=knn' is not KEY=V1,V2,..." "$cfg" 'mining method=knn'
	check "li-ablate: '$cfg': grid 'mining_method=knn,,random': an empty value" "$cfg" mining_method=knn,,random
	check "li-ablate: '$cfg': grid 'mining_method=knn,knn': value 'knn' given twice" "$cfg" mining_method=knn,knn
	check "li-ablate: '$cfg': grid key 'num_query' given twice" "$cfg" num_query=1 num_query=2
	check "li-ablate: '$cfg': grid 'seed=1,2': li-ablate sets seed itself" "$cfg" seed=1,2
	check "li-ablate: '$cfg': grid 'num_query=1,\"2': value '\"2' holds a quote or a control character" \
		"$cfg" 'num_query=1,"2'
	# unknown keys and bad values: li-pipeline's verdict, naming the grid point
	check "li-ablate: '$cfg' with epoch=1: epoch: unknown key" "$cfg" epoch=1,2
	check "li-ablate: '$cfg' with mining_method=knn, num_query=0: num_query: '0' is not a positive integer" \
		"$cfg" mining_method=knn,random num_query=3,0
	check "li-ablate: '$cfg' with mining_method=nearest: mining_method: 'nearest' is not knn, score, random, hard-knn or hard-random" \
		"$cfg" mining_method=knn,nearest
	check "li-ablate: '$cfg' with data_dir=/nonexistent: data directory '/nonexistent' does not exist (set data_dir in '$cfg')" \
		"$cfg" data_dir=/nonexistent
	# a bad base: li-pipeline's message without the temporary file
	printf 'project_name: "t"\nepochs: x\n' > "$BATS_TEST_TMPDIR/b2.yaml"
	check "li-ablate: '$BATS_TEST_TMPDIR/b2.yaml' with mining_method=knn: epochs: 'x' is not a positive integer" \
		"$BATS_TEST_TMPDIR/b2.yaml" mining_method=knn
	printf 'epochs: 3\n' > "$BATS_TEST_TMPDIR/b3.yaml"
	check "li-ablate: '$BATS_TEST_TMPDIR/b3.yaml': project_name is missing" "$BATS_TEST_TMPDIR/b3.yaml"
	mkdir "$BATS_TEST_TMPDIR/dir.yaml"
	check "li-ablate: cannot read '$BATS_TEST_TMPDIR/dir.yaml': Is a directory" "$BATS_TEST_TMPDIR/dir.yaml"
	rmdir "$BATS_TEST_TMPDIR/dir.yaml"
	# usage errors: exit 2
	run --separate-stderr li-ablate
	[ "$status" -eq 2 ]
	run --separate-stderr li-ablate --seeds 1,x "$cfg"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "li-ablate: --seeds: 'x' is not an integer from 0 to 999999999" ] || flunk "$stderr"
	run --separate-stderr li-ablate --seeds 1,1 "$cfg"
	[ "$status" -eq 2 ]
	[ ! -e "$R" ]
}

@test "-n prints the grid and creates nothing" {
	cfg=$(base)
	run -0 --separate-stderr li-ablate -n -s 7,8 "$cfg" mining_method=knn,random
	[ "${#lines[@]}" -eq 8 ] || flunk "$output"
	[ "${lines[1]}" = "li-pipeline $BATS_TEST_TMPDIR/res/t-ablation/configs/t_mining_method-knn_fold-1.yaml" ] || flunk "$output"
	[ "${lines[6]}" = "# mining_method=random, seed 8" ] || flunk "$output"
	[ ! -e "$BATS_TEST_TMPDIR/res" ]
}
