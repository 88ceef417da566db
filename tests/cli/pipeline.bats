#!/usr/bin/env bats
# pipeline.bats: li-pipeline end to end on a tiny Fashion-MNIST LI-like task,
# resumability, config errors, mining methods, and sharded scoring.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export FL="$BATS_FILE_TMPDIR/fl"
	"$LI_ROOT/examples/fashion-li" "$FL" --n-pos 40 --n-neg 80 --pool 300 --test 200 \
		--patients 8 2>/dev/null
}

# config NAME [extra yaml lines...]: a small, fast configuration.
config() {
	local name=$1
	shift
	{
		printf 'project_name: "%s"\nfold_num: 1\nepochs: 1\nlearning_rate: 0.001\n' "$name"
		printf 'device: "cuda"\nis_sampling: False\nsampling_rate: 0.5\n'
		printf 'sampling_random_state: 42\nsample_only_pos: False\nquery_method: "L2"\nnum_query: 3\n'
		printf 'data_dir: "%s"\nout_dir: "%s"\ntest_list: "%s"\n' "$FL/data" "$BATS_TEST_TMPDIR/results" "$FL/test.tsv"
		printf 'arch: resnet10\nwidth: 4\ninput_size: 32\nbatch_size: 32\nthreads: 2\naugment: none\nci: 50\n'
		printf '%s\n' "$@"
	} > "$BATS_TEST_TMPDIR/$name.yaml"
	echo "$BATS_TEST_TMPDIR/$name.yaml"
}

@test "the four steps run end to end and weak and strong share one test set" {
	cfg=$(config run "fp_threshold: 0.0")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	R=$BATS_TEST_TMPDIR/results/run_fold-1
	for f in train.tsv valid.tsv test.tsv pool.tsv weak.safetensors fp.tsv pool.npy fp.npy \
		mined.tsv train.strong.tsv strong.safetensors test.weak.tsv test.strong.tsv \
		eval.weak.json eval.strong.json compare.json; do
		[ -s "$R/$f" ] || { echo "missing $f"; false; }
	done
	# The summary table names both models' metrics and the DeLong comparison.
	[[ "$output" == *"auroc"* ]]
	[[ "$output" == *"DeLong"* ]]
	[[ "$stderr" == *"li-pipeline: warning: device 'cuda' is ignored"* ]]
	# Same test rows for weak and strong, and they are the external test list.
	cmp <(cut -f1 "$R/test.weak.tsv") <(cut -f1 "$R/test.strong.tsv")
	cmp <(cut -f1 "$R/test.tsv") <(cut -f1 "$FL/test.tsv")
	# Mined rows come from the pool only and are labeled 0; none is in the test list.
	run bash -c "awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) if (\$i == \"label\") l = i; next } \$l != 0' '$R/mined.tsv' | wc -l"
	[ "$output" -eq 0 ]
	n_mined=$(($(wc -l < "$R/mined.tsv") - 1))
	[ "$n_mined" -gt 0 ]
	n_train=$(($(wc -l < "$R/train.tsv") - 1))
	n_strong=$(($(wc -l < "$R/train.strong.tsv") - 1))
	[ "$n_strong" -eq $((n_train + n_mined)) ]
	# One row each in the author's results CSVs.
	[ "$(wc -l < "$BATS_TEST_TMPDIR/results/weak_model_results.csv")" -eq 2 ]
	[ "$(wc -l < "$BATS_TEST_TMPDIR/results/strong_model_results.csv")" -eq 2 ]
	grep -q ',run_fold-1$' "$BATS_TEST_TMPDIR/results/strong_model_results.csv"

	# A second run finds every step up to date and runs nothing.
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"up to date"* ]]
	reran=$(grep '\] ' <<<"$stderr" | grep -v ': up to date$' || true)
	[ -z "$reran" ] || { echo "steps redone: $reran"; false; }
	[ "$(wc -l < "$BATS_TEST_TMPDIR/results/weak_model_results.csv")" -eq 2 ]

	# Features made at another precision (as by a run with embed_precision:
	# bf16) are made again at this one; the weak model is not retrained.
	[ "$(cat "$R/embed_precision")" = fp32 ]
	echo bf16 > "$R/embed_precision"
	touch -d '2000-01-01' "$R/embed_precision"
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"train weak model: up to date"* ]] || flunk "$stderr"
	[[ "$stderr" == *"] embed pool ("* ]] || flunk "the pool was not embedded again: $stderr"
	[[ "$stderr" == *"] embed false positives ("* ]] || flunk "$stderr"
	[ "$(cat "$R/embed_precision")" = fp32 ]

	# Deleting one step's output redoes that step and those after it only.
	rm "$R/mined.tsv"
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"[1] split: up to date"* ]]
	[[ "$stderr" == *"mine (knn) ("* ]]
}

@test "a run directory with a space: a second run redoes nothing" {
	cfg=$(config sp "out_dir: $BATS_TEST_TMPDIR/my results")
	sed -i "0,/^out_dir:.*/{/^out_dir:.*/d}" "$cfg"
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ] || flunk "$stderr"
	[ -s "$BATS_TEST_TMPDIR/my results/sp_fold-1/compare.json" ]
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ] || flunk "$stderr"
	reran=$(grep '\] ' <<<"$stderr" | grep -v ': up to date$' || true)
	[ -z "$reran" ] || flunk "steps redone: $reran"
}

@test "a step that fails removes its temporary output" {
	cfg=$(config tmp)
	run -0 li-pipeline "$cfg"
	R=$BATS_TEST_TMPDIR/results/tmp_fold-1
	# A mined list of one's own, without a label column: the merge into the
	# strong model's training list (deleted, to be made again) fails.
	printf 'path\nx.png\n' > "$R/mined.tsv"
	rm "$R/train.strong.tsv"
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ $stderr == *"step 'strong training list' failed"* ]] || flunk "$stderr"
	[ -z "$(cd "$R" && ls -A | grep '\.tmp$')" ] || flunk "left behind: $(ls -A "$R")"
}

@test "-n prints the commands and creates nothing" {
	cfg=$(config dry)
	run -0 --separate-stderr li-pipeline -n "$cfg"
	[ ! -e "$BATS_TEST_TMPDIR/results" ] || flunk "created: $(find "$BATS_TEST_TMPDIR/results")"
	[[ ${lines[0]} == "li-split --from-dir $FL/data "* ]] || flunk "$output"
	[[ $output == *"li-eval "*" -o $BATS_TEST_TMPDIR/results/dry_fold-1/compare.json "* ]] || flunk "$output"
}

@test "no false positives: mining adds nothing, the strong model is still trained and compared" {
	cfg=$(config nofp "fp_threshold: 1.0")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[[ "$stderr" == *"no false positives"* ]]
	R=$BATS_TEST_TMPDIR/results/nofp_fold-1
	[ "$(wc -l < "$R/mined.tsv")" -eq 1 ]
	[ -s "$R/compare.json" ]
}

@test "score and random mining take as many patches as knn would" {
	for m in score random; do
		cfg=$(config "m$m" "fp_threshold: 0.0" "mining_method: $m")
		run --separate-stderr li-pipeline "$cfg"
		[ "$status" -eq 0 ] || { echo "$stderr"; false; }
		R=$BATS_TEST_TMPDIR/results/m${m}_fold-1
		want=$(($(wc -l < "$R/mined.knn.tsv") - 1))
		nmined=$(($(wc -l < "$R/mined.tsv") - 1))
		[ "$want" -gt 0 ]
		[ "$nmined" -eq "$want" ] || { echo "$m: $nmined mined, want $want"; false; }
	done
}

@test "config errors name the file and line, exit 1, and create nothing" {
	cfg=$(config bad "epoch: 3")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"bad.yaml' line 22: epoch: unknown key"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/results/bad_fold-1" ]
	cfg=$(config bad2 "mining_method: nearest")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"mining_method: 'nearest' is not knn, score, random, hard-knn or hard-random"* ]]
	run --separate-stderr li-pipeline "$BATS_TEST_TMPDIR/nonexistent.yaml"
	[ "$status" -eq 1 ]
	run --separate-stderr li-pipeline
	[ "$status" -eq 2 ]
}

# precision_refused KEY: "KEY: fp16" is refused, and "KEY: bf16" is refused
# up front under LI_ISA=avx2 (which takes bf16 away on any CPU), before any
# run directory is made.
precision_refused() {
	local cfg
	cfg=$(config "$1" "$1: fp16")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$1: 'fp16' is not fp32 or bf16"* ]] || { echo "$stderr"; false; }
	cfg=$(config "${1}2" "$1: bf16")
	run --separate-stderr env LI_ISA=avx2 li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$1 bf16 needs a CPU with AVX512_BF16 or AMX"* ]] || { echo "$stderr"; false; }
	[ ! -e "$BATS_TEST_TMPDIR/results/${1}2_fold-1" ]
}

@test "embed_precision: a bad value is refused; bf16 only where the CPU has it, else refused up front" {
	precision_refused embed_precision
}

@test "train_precision: a bad value is refused, bf16 refused up front without it, and passed to li-train where the CPU has it" {
	precision_refused train_precision
	cfg=$(config tp2 "train_precision: bf16")
	if ! li-train --version | grep -q '^bf16 training: yes'; then
		skip "no AVX512_BF16 here: a bf16 pipeline not run"
	fi
	li-pipeline -n "$cfg" > "$BATS_TEST_TMPDIR/cmds"
	[ "$(grep -c '^li-train .* --precision bf16 ' "$BATS_TEST_TMPDIR/cmds")" -eq 2 ] || { cat "$BATS_TEST_TMPDIR/cmds"; false; }
	li-pipeline "$cfg" 2>/dev/null
	R=$BATS_TEST_TMPDIR/results/tp2_fold-1
	[ -s "$R/eval.strong.json" ]
	/usr/bin/python3 -c 'import json, sys
b = open(sys.argv[1], "rb").read()
n = int.from_bytes(b[:8], "little")
assert "--precision bf16" in json.loads(b[8:8 + n])["__metadata__"]["command"]' "$R/weak.safetensors"
}

@test "config errors quote control bytes escaped and survive binary bytes (issue 10)" {
	cfg=$(config ctl "epoch"$'\e[2J'"s: 3")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-pipeline: '$cfg' line 22: expected \"key: value\", got \"epoch\\x1b[2Js: 3\"" ] || { echo "$stderr"; false; }
	# a byte that is not UTF-8 once made grep say "binary file matches" instead
	cfg=$(config bin "sampling_r"$'\xf0'"ndom_state: 42")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ $stderr == "li-pipeline: '$cfg' line 22: expected \"key: value\", got \"sampling_r"* ]] || { echo "$stderr"; false; }
	[ "${#stderr_lines[@]}" -eq 1 ]
	# the fuzzer's reproducers (tests/fixtures/fuzz)
	F=$LI_ROOT/tests/fixtures/fuzz
	run --separate-stderr li-pipeline "$F/pipeline-control-byte.yaml"
	[ "$stderr" = "li-pipeline: '$F/pipeline-control-byte.yaml' line 3: expected \"key: value\", got \"epoch\\x04s: 30\"" ] || { echo "$stderr"; false; }
	run --separate-stderr li-pipeline "$F/pipeline-binary-byte.yaml"
	[ "$status" -eq 1 ]
	[[ $stderr == "li-pipeline: '$F/pipeline-binary-byte.yaml' line 3: expected \"key: value\", got \"sampling_r"* ]] || { echo "$stderr"; false; }
	run --separate-stderr li-pipeline "$F/pipeline-nul-byte.yaml"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-pipeline: '$F/pipeline-nul-byte.yaml': contains a NUL byte: not a text configuration" ] || { echo "$stderr"; false; }
	# a 400-character project name: mkdir's own error leaked out beside ours
	mkdir -p "$BATS_TEST_TMPDIR/w/data" && cd "$BATS_TEST_TMPDIR/w"
	run --separate-stderr li-pipeline -n "$F/pipeline-long-name.yaml"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-pipeline: '$F/pipeline-long-name.yaml' line 1: project_name: longer than 200 characters" ] || { echo "$stderr"; false; }
}

@test "every author config parses (dry run)" {
	mkdir -p "$BATS_TEST_TMPDIR/w/data" && cd "$BATS_TEST_TMPDIR/w"
	n=0
	for c in "$LI_ROOT"/examples/config/author/*.yaml; do
		run --separate-stderr li-pipeline -n "$c"
		[ "$status" -eq 0 ] || { echo "$c: $stderr"; false; }
		n=$((n + 1))
	done
	[ "$n" -ge 44 ]
}

@test "a pool image that does not decode stops the pipeline at its step, by name" {
	cp -r "$FL/data" "$BATS_TEST_TMPDIR/data"
	printf 'not a jpeg' > "$BATS_TEST_TMPDIR/data/weakly_labeled_dataset/Z001_0_Z0010_999999.jpg"
	cfg=$(config broken "fp_threshold: 0.0" "data_dir: $BATS_TEST_TMPDIR/data")
	sed -i "0,/^data_dir:.*/{/^data_dir:.*/d}" "$cfg"
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"Z001_0_Z0010_999999.jpg"* ]]
	[[ "$stderr" == *"step 'embed pool' failed"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/results/broken_fold-1/pool.npy" ]
}

@test "li-score sharded with GNU parallel gives the same output as one run" {
	cfg=$(config shard)
	li-pipeline -n "$cfg" >/dev/null 2>&1
	li-split --from-dir "$FL/data" -o "$BATS_TEST_TMPDIR/s" --seed 1 2>/dev/null
	li-train --arch resnet10 --width 4 --input-size 32 --epochs 1 --batch 32 --augment none \
		-o "$BATS_TEST_TMPDIR/m.safetensors" "$BATS_TEST_TMPDIR/s/train.tsv" 2>/dev/null
	li-score -m "$BATS_TEST_TMPDIR/m.safetensors" "$BATS_TEST_TMPDIR/s/pool.tsv" > "$BATS_TEST_TMPDIR/one.tsv" 2>/dev/null
	run bash -c "parallel --pipe --header : -N 64 -k li-score -m '$BATS_TEST_TMPDIR/m.safetensors' \
		< '$BATS_TEST_TMPDIR/s/pool.tsv' 2>/dev/null | awk 'NR == 1 || \$1 != \"path\"' > '$BATS_TEST_TMPDIR/par.tsv'"
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/one.tsv" "$BATS_TEST_TMPDIR/par.tsv"
}

@test "pool_list: a coords manifest of slides is the pool; the four steps run without a pool tile on disk" {
	DATA=${LI_SHARED:-$LI_ROOT/../shared}/data
	P=$BATS_TEST_TMPDIR/pool.tsv
	# two slides, 32-px regions at 2 um/px, as li-tile --coords-only lists them
	{ li-tile --size 32 --mpp 2 --coords-only "$DATA/CMU-1-Small-Region.tiff"
	  li-tile --size 32 --mpp 2 --min-tissue 0 --coords-only "$DATA/ihc_2k_pyr.tif" | tail -n +2; } > "$P"
	npool=$(($(wc -l < "$P") - 1))
	[ "$npool" -ge 100 ]
	cfg=$(config slides "fp_threshold: 0.0" "pool_list: $P")
	run -0 --separate-stderr li-pipeline -n "$cfg"
	[[ $output == *"li-score "*"--features $BATS_TEST_TMPDIR/results/slides_fold-1/pool.npy "*" $P"* ]] || flunk "$output"
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ] || flunk "$stderr"
	R=$BATS_TEST_TMPDIR/results/slides_fold-1
	# the pool embedded is the manifest, row for row
	run -0 /usr/bin/python3 -c "import numpy; print(numpy.load('$R/pool.npy').shape[0])"
	[ "$output" -eq "$npool" ]
	cmp <(cut -f 1 "$P") <(cut -f 1 "$R/pool.scores.tsv")
	# mined rows are regions of the two slides, labelled 0, with no tile file behind them
	n_mined=$(($(wc -l < "$R/mined.tsv") - 1))
	[ "$n_mined" -gt 0 ]
	run -0 awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["label"] != 0 || $c["slide_path"] == "" { bad++ } END { print bad + 0 }' "$R/mined.tsv"
	[ "$output" -eq 0 ]
	while IFS= read -r p; do [ ! -e "$p" ] || flunk "a tile file exists: $p"; done < <(tail -n +2 "$R/mined.tsv" | cut -f 1)
	# the strong model's list: the training files, then the mined regions
	[ "$(head -1 "$R/train.strong.tsv" | tr '\t' ' ')" = "path label slide_path x y level downsample size" ]
	n_train=$(($(wc -l < "$R/train.tsv") - 1))
	[ "$(($(wc -l < "$R/train.strong.tsv") - 1))" -eq $((n_train + n_mined)) ]
	[ "$(awk -F '\t' 'NR > 1 && $3 != ""' "$R/train.strong.tsv" | wc -l)" -eq "$n_mined" ]
	[ -s "$R/strong.safetensors" ] && [ -s "$R/montage.png" ] && [ -s "$R/compare.json" ]
	# and a second run finds every step up to date
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 0 ]
	reran=$(grep '\] ' <<<"$stderr" | grep -v ': up to date$' || true)
	[ -z "$reran" ] || flunk "steps redone: $reran"
}

@test "pool_list: unreadable or empty is a config error" {
	cfg=$(config nopool "pool_list: $BATS_TEST_TMPDIR/none.tsv")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[ "${stderr_lines[-1]}" = "li-pipeline: cannot read pool_list '$BATS_TEST_TMPDIR/none.tsv'" ] || flunk "$stderr"
	[ ! -e "$BATS_TEST_TMPDIR/results/nopool_fold-1" ]
	cfg=$(config nopool2 "pool_list: ''")
	run --separate-stderr li-pipeline "$cfg"
	[ "$status" -eq 1 ]
	[[ $stderr == *"nopool2.yaml' line 22: pool_list: empty" ]] || flunk "$stderr"
}

@test "weak_dir: two configurations share one weak model; other settings are refused" {
	W=$BATS_TEST_TMPDIR/weak
	a=$(config wa "fp_threshold: 0.0" "weak_dir: $W")
	b=$(config wb "fp_threshold: 0.0" "weak_dir: $W" "mining_method: random")
	run --separate-stderr li-pipeline "$a"
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"[2] train weak model ("* ]] || flunk "$stderr"
	run --separate-stderr li-pipeline "$b"
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"[2] train weak model: up to date"* ]] || flunk "$stderr"
	[[ $stderr == *"embed pool: up to date"* ]] || flunk "$stderr"
	[[ $stderr == *"score test (weak): up to date"* ]] || flunk "$stderr"
	for f in train.tsv test.tsv pool.tsv weak.safetensors valid.scores.tsv pool.npy fp.t0.0.tsv fp.t0.0.npy \
		test.weak.tsv settings; do
		[ -s "$W/$f" ] || flunk "no $W/$f"
	done
	R=$BATS_TEST_TMPDIR/results/wb_fold-1
	[ ! -e "$R/weak.safetensors" ] && [ ! -e "$R/train.tsv" ]
	[ -s "$R/mined.tsv" ] && [ -s "$R/strong.safetensors" ] && [ -s "$R/compare.json" ]
	[ "$(wc -l < "$R/mined.tsv")" -eq "$(wc -l < "$R/mined.knn.tsv")" ]
	# another false-positive threshold: the same weak model, its own false positives
	c=$(config wc "fp_threshold: 0.3" "weak_dir: $W")
	run --separate-stderr li-pipeline "$c"
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"[2] train weak model: up to date"* ]] || flunk "$stderr"
	[ -e "$W/fp.t0.3.tsv" ]
	# other training settings: refused before anything runs
	d=$(config wd "fp_threshold: 0.0" "weak_dir: $W")
	sed -i 's/^epochs: 1$/epochs: 2/' "$d"
	run --separate-stderr li-pipeline "$d"
	[ "$status" -eq 1 ]
	[ "${stderr_lines[-1]}" = "li-pipeline: '$d': weak_dir '$W' holds a weak model made with epochs = 1, this configuration has epochs = 2: give it another weak_dir" ] ||
		flunk "$stderr"
	[ ! -e "$BATS_TEST_TMPDIR/results/wd_fold-1" ]
	# a changed mining setting redoes the mining and what follows, not the weak model
	sleep 1
	sed -i 's/^num_query: 3$/num_query: 2/' "$a"
	run --separate-stderr li-pipeline "$a"
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"[2] train weak model: up to date"* ]] || flunk "$stderr"
	[[ $stderr == *"] mine (knn) ("* ]] || flunk "$stderr"
	[[ $stderr == *"] train strong model ("* ]] || flunk "$stderr"
}

@test "mine_count and the hard methods mine the same count, among the pool rows scored high enough" {
	W=$BATS_TEST_TMPDIR/weak
	# the weak model first, then a minimum score that 150 of the 300 pool rows reach
	run -0 li-pipeline "$(config c0 "fp_threshold: 0.0" "weak_dir: $W")"
	t=$(tail -n +2 "$W/pool.scores.tsv" | awk -F '\t' '{ print $(NF - 1) }' | sort -g | sed -n 151p)
	for m in knn hard-knn hard-random score random; do
		cfg=$(config "c$m" "fp_threshold: 0.0" "weak_dir: $W" "mining_method: $m" "mine_count: 25%" "mine_min_score: $t")
		run --separate-stderr li-pipeline "$cfg"
		[ "$status" -eq 0 ] || flunk "$m: $stderr"
		R=$BATS_TEST_TMPDIR/results/c${m}_fold-1
		n_train=$(($(wc -l < "$W/train.tsv") - 1))
		want=$(( (n_train * 25 + 50) / 100 ))
		[ "$(($(wc -l < "$R/mined.tsv") - 1))" -eq "$want" ] || flunk "$m: $(($(wc -l < "$R/mined.tsv") - 1)) mined, want $want"
		[ ! -e "$R/mined.knn.tsv" ] # the count is given: no knn run for it
	done
	# the hard methods mined only pool rows the weak model scores >= 0.3
	for m in hard-knn hard-random; do
		run bash -c "awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) if (\$i == \"prob\") p = i; next } \$p < $t' '$BATS_TEST_TMPDIR/results/c${m}_fold-1/mined.tsv' | wc -l"
		[ "$output" -eq 0 ] || flunk "$m: $output rows below $t"
	done
	# mine_count: knn is the default: knn's count, found by running knn first
	run --separate-stderr li-pipeline "$(config cdefault "fp_threshold: 0.0" "weak_dir: $W" "mining_method: random" "mine_count: knn")"
	[ "$status" -eq 0 ] || flunk "$stderr"
	R=$BATS_TEST_TMPDIR/results/cdefault_fold-1
	[ "$(wc -l < "$R/mined.tsv")" -eq "$(wc -l < "$R/mined.knn.tsv")" ]
	run --separate-stderr li-pipeline "$(config bad "mine_count: 0")"
	[ "$status" -eq 1 ]
	[[ $stderr == *"mine_count: '0' is not a positive integer, a percentage or knn" ]] || flunk "$stderr"
	run --separate-stderr li-pipeline "$(config bad2 "mine_count: 5000%")"
	[[ $stderr == *"mine_count: '5000%' is not a percentage in (0%, 1000%]" ]] || flunk "$stderr"
	run --separate-stderr li-pipeline "$(config bad3 "mine_min_score: 2")"
	[[ $stderr == *"mine_min_score: 2 is not in [0, 1]" ]] || flunk "$stderr"
}
