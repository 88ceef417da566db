#!/usr/bin/env bats
# li-eval.bats: li-eval's JSON against scikit-learn's figures (committed
# fixtures), intervals, the paired DeLong test, plots, the results CSV, bad
# input, and the man page's examples.
bats_require_minimum_version 1.5.0
load helpers

FIX="$LI_ROOT/tests/fixtures/metrics"

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# expected CASE KEY: the figure from expected.tsv ("nan" when undefined).
expected() {
	awk -F'\t' -v c="$1" -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == c { print $col[k] }' "$FIX/expected.tsv"
}

# close GOT WANT: |got - want| <= 1e-9, or both undefined (null / nan).
close() {
	awk -v g="$1" -v w="$2" 'BEGIN {
		if (w == "nan") exit !(g == "null");
		d = g - w; if (d < 0) d = -d; exit !(g != "null" && d <= 1e-9) }'
}

# A list with prob taken from column 4 (the second model), rows reversed.
second_model() {
	awk -F'\t' 'NR == 1 { print "path\tprob"; next } { print $1 "\t" $4 }' "$1" |
		{ read -r h; echo "$h"; tac; }
}

@test "every metric matches scikit-learn on every fixture case to 1e-9" {
	cases=$(awk -F'\t' 'NR > 1 { print $1 }' "$FIX/expected.tsv")
	[ "$(echo "$cases" | wc -l)" -ge 10 ]
	for c in $cases; do
		t=$(expected "$c" threshold)
		li-eval --threshold "$t" "$FIX/$c.tsv" > out.json 2> err.txt
		for k in n n_pos n_neg tn fp fn tp auroc auprc sensitivity specificity precision f1 accuracy log_loss; do
			got=$(jq -r ".$k" out.json)
			want=$(expected "$c" "$k")
			close "$got" "$want" || { echo "$c $k: got $got, want $want"; return 1; }
		done
		close "$(jq -r .threshold out.json)" "$t"
	done
}

@test "the output is one JSON object on one line, keys in the documented order" {
	run -0 li-eval "$FIX/random0.tsv"
	[ "${#lines[@]}" -eq 1 ]
	echo "$output" > out.json
	run -0 jq -r 'keys_unsorted | join(",")' out.json
	[ "$output" = "n,n_pos,n_neg,auroc,auprc,sensitivity,specificity,precision,f1,accuracy,tn,fp,fn,tp,threshold,log_loss" ]
}

@test "stdin, named columns and the threshold" {
	li-eval < "$FIX/random1.tsv" > a.json
	li-eval - < "$FIX/random1.tsv" > b.json
	cmp a.json b.json
	sed '1s/label/truth/; 1s/\tprob\t/\tscore\t/' "$FIX/random1.tsv" > renamed.tsv
	li-eval --label truth --score score renamed.tsv > c.json
	cmp a.json c.json
	# A threshold above every score: nothing predicted positive.
	run -0 --separate-stderr li-eval -t 2 "$FIX/random1.tsv"
	echo "$output" > d.json
	[ "$(jq -r '.tp + .fp' d.json)" = 0 ]
	[ "$(jq -r .precision d.json)" = null ]
	[ "$stderr" = "li-eval: warning: precision is undefined (no row has prob >= 2): null" ]
}

@test "undefined metrics are null with a warning, never NaN" {
	run -0 --separate-stderr li-eval "$FIX/allneg.tsv"
	echo "$output" > out.json
	jq -e '.auroc == null and .auprc == null and .sensitivity == null and .specificity == 0.5' out.json
	[ "${stderr_lines[0]}" = "li-eval: warning: auroc is undefined (the list has no positive rows): null" ]
	[ "${#stderr_lines[@]}" -eq 3 ]
	run ! grep -qi nan out.json
	run -0 --separate-stderr li-eval --ci 50 "$FIX/allpos.tsv"
	echo "$output" > pos.json
	jq -e '.auroc == null and .auroc_ci == null and .auroc_delong_ci == null and .specificity == null' pos.json
	! grep -qi nan pos.json
}

@test "--ci: intervals contain the estimates, deterministic for a seed and any thread count" {
	li-eval --ci 300 --seed 5 -j 1 "$FIX/random3.tsv" > a.json
	li-eval --ci 300 --seed 5 -j 2 "$FIX/random3.tsv" > b.json
	li-eval --ci=300 --seed 6 "$FIX/random3.tsv" > c.json
	cmp a.json b.json
	run ! cmp -s a.json c.json
	for k in auroc auprc sensitivity specificity precision f1 accuracy; do
		jq -e --arg k "$k" '.[$k + "_ci"][0] <= .[$k] and .[$k] <= .[$k + "_ci"][1]' a.json
	done
	jq -e '.auroc_delong_ci[0] < .auroc and .auroc < .auroc_delong_ci[1]' a.json
	jq -e '.ci_resamples == 300 and .ci_seed == 5 and .ci_level == 0.95' a.json
	# --ci alone means 2000 resamples.
	li-eval --ci "$FIX/tiny4.tsv" > d.json
	jq -e '.ci_resamples == 2000' d.json
}

@test "--ci: the DeLong interval is auroc +- 1.96 sd with the slow DeLong variance" {
	li-eval --ci 10 "$FIX/random4.tsv" > out.json
	var=$(expected random4 delong_var)
	run -0 jq -r --argjson v "$var" '(.auroc - 1.959963984540054 * ($v | sqrt)) - .auroc_delong_ci[0] | fabs < 1e-9' out.json
	[ "$output" = true ]
}

@test "--compare: paired DeLong against the slow computation, rows matched by path" {
	for c in random0 random2 random4 threshold03; do
		second_model "$FIX/$c.tsv" > other.tsv
		li-eval "$FIX/$c.tsv" --compare other.tsv > out.json
		close "$(jq -r .compare.auroc out.json)" "$(expected $c auroc)"
		close "$(jq -r .compare.other_auroc out.json)" "$(expected $c auroc2)"
		close "$(jq -r .compare.p_value out.json)" "$(expected $c p_value)"
		jq -e '(.compare.difference - (.compare.auroc - .compare.other_auroc)) | fabs < 1e-12' out.json
		jq -e '.compare.difference_ci[0] < .compare.difference and .compare.difference < .compare.difference_ci[1]' out.json
		jq -e '.compare.other == "other.tsv" and .compare.n == .n' out.json
	done
	# A model against itself: no difference, p = 1.
	li-eval "$FIX/random0.tsv" --compare "$FIX/random0.tsv" > self.json
	jq -e '.compare.difference == 0 and .compare.p_value == 1' self.json
}

@test "--compare: duplicate paths, missing rows and disagreeing labels are refused" {
	printf 'path\tlabel\tprob\na.png\t1\t0.9\nb.png\t0\t0.2\nc.png\t0\t0.4\n' > a.tsv
	printf 'path\tprob\na.png\t0.9\nb.png\t0.2\na.png\t0.3\nc.png\t0.1\n' > dup.tsv
	run -1 li-eval a.tsv --compare dup.tsv
	[ "$output" = "li-eval: 'dup.tsv' line 4: duplicate path 'a.png' (first on line 2)" ]
	printf 'path\tprob\na.png\t0.9\nc.png\t0.2\n' > short.tsv
	run -1 li-eval a.tsv --compare short.tsv
	[ "$output" = "li-eval: 'a.tsv' line 3: path 'b.png' is not in 'short.tsv'" ]
	printf 'path\tprob\na.png\t0.9\nb.png\t0.2\nc.png\t0.1\nd.png\t0.1\n' > long.tsv
	run -1 li-eval a.tsv --compare long.tsv
	[ "$output" = "li-eval: 'long.tsv' line 5: path 'd.png' is not in 'a.tsv'" ]
	printf 'path\tlabel\tprob\nc.png\t1\t0.9\nb.png\t0\t0.2\na.png\t1\t0.1\n' > lab.tsv
	run -1 li-eval a.tsv --compare lab.tsv
	[ "$output" = "li-eval: 'lab.tsv' line 2: label of 'c.png' is 1, but 0 in 'a.tsv' line 4" ]
	run -2 li-eval --compare - -
	[ "${lines[0]}" = "li-eval: the list and --compare cannot both be stdin" ]
}

# png_size FILE: "WIDTHxHEIGHT" from the IHDR chunk, after checking the signature.
png_size() {
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || return 1
	w=$(od -An -tu1 -j16 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
	h=$(od -An -tu1 -j20 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
	echo "${w}x${h}"
}

@test "--roc and --pr write PNG plots; nothing else is left in the directory" {
	run -0 li-eval --ci 100 --roc roc.png --pr pr.png "$FIX/random5.tsv"
	[ "$(png_size roc.png)" = 640x640 ]
	[ "$(png_size pr.png)" = 640x640 ]
	[ "$(ls -A | sort | tr '\n' ' ')" = "pr.png roc.png " ]
	# The curves differ from each other and between data sets.
	run ! cmp -s roc.png pr.png
	li-eval --roc roc2.png "$FIX/random0.tsv" > /dev/null
	run ! cmp -s roc.png roc2.png
	run -2 li-eval --roc roc.jpg "$FIX/random0.tsv"
	[ "${lines[0]}" = "li-eval: --roc: 'roc.jpg' must end in .png" ]
}

@test "a plot that cannot be drawn fails and leaves no output file at all" {
	run -1 li-eval --pr pr.png --roc roc.png --csv r.csv --name x "$FIX/allneg.tsv"
	[ "${lines[-1]}" = "li-eval: cannot draw 'roc.png': the ROC curve needs both classes" ]
	[ -z "$(ls -A)" ]
	run -1 li-eval --roc roc.png "$FIX/nopredpos.tsv" --compare /nonexistent.tsv
	[ -z "$(ls -A)" ]
}

@test "-o FILE: the same JSON as stdout, written atomically with the other outputs" {
	li-eval --ci 50 "$FIX/random5.tsv" > want.json
	run -0 --separate-stderr li-eval --ci 50 -o got.json "$FIX/random5.tsv"
	[ -z "$output" ]
	cmp want.json got.json
	run -0 li-eval --output=- --ci 50 "$FIX/random5.tsv"
	[ "$output" = "$(cat want.json)" ]
	# A failure leaves neither the JSON nor any other output, and an old file as it was.
	echo old > got.json
	run -1 li-eval -o got.json --roc roc.png "$FIX/allneg.tsv"
	[ "$(cat got.json)" = old ]
	[ -z "$(ls -A | grep -v -e "^got.json$" -e "^want.json$" -e "^separate-stderr-")" ] || flunk "left behind: $(ls -A)"
	run -1 li-eval -o missing/dir.json "$FIX/random5.tsv"
	[[ $output == "li-eval: cannot "*"missing/dir.json"* ]]
	run -2 li-eval -o x.png --roc x.png "$FIX/random5.tsv"
	[ "${lines[0]}" = "li-eval: 'x.png' is given for two outputs" ]
}

@test "--csv: the author's columns, header once, rows appended, values = the JSON's" {
	li-eval --csv res.csv --name weak "$FIX/random0.tsv" > a.json
	li-eval --csv res.csv --name 'strong, "v2"' "$FIX/random2.tsv" > b.json
	[ "$(wc -l < res.csv)" -eq 3 ]
	[ "$(head -1 res.csv)" = "test_loss,test_auroc,test_auprc,test_f1,test_sensitivity,test_specificity,test_tn,test_fp,test_fn,test_tp,project_name" ]
	[ "$(grep -c '^test_loss' res.csv)" -eq 1 ]
	IFS=, read -r loss auroc auprc f1 se sp tn fp fn tp name < <(sed -n 2p res.csv)
	close "$loss" "$(expected random0 log_loss)"
	close "$auroc" "$(jq -r .auroc a.json)"
	close "$auprc" "$(jq -r .auprc a.json)"
	close "$f1" "$(jq -r .f1 a.json)"
	close "$se" "$(jq -r .sensitivity a.json)"
	close "$sp" "$(jq -r .specificity a.json)"
	[ "$tn,$fp,$fn,$tp,$name" = "$(jq -r '[.tn, .fp, .fn, .tp] | join(",")' a.json),weak" ]
	[ "$(sed -n 3p res.csv | sed 's/.*,\("strong\)/\1/')" = '"strong, ""v2"""' ]
	[ "$(/usr/bin/python3 -c 'import csv,sys; print(list(csv.reader(open("res.csv")))[2][10])')" = 'strong, "v2"' ]
}

@test "--csv: a file with another header is refused and left unchanged" {
	printf 'a,b\n1,2\n' > other.csv
	cp other.csv before.csv
	run -1 li-eval --csv other.csv --name x "$FIX/random0.tsv"
	[ "$output" = "li-eval: 'other.csv' line 1: not the results header 'test_loss,test_auroc,test_auprc,test_f1,test_sensitivity,test_specificity,test_tn,test_fp,test_fn,test_tp,project_name'" ]
	cmp other.csv before.csv
	printf 'path\tlabel\tprob\na\t1\t1.5\nb\t0\t0.2\n' > logit.tsv
	run -1 li-eval --csv new.csv --name x logit.tsv
	[ "$output" = "li-eval: 'logit.tsv' line 2: prob '1.5' is not in [0, 1], needed for test_loss in --csv" ]
	[ ! -e new.csv ]
	run -0 li-eval logit.tsv
	echo "$output" > out.json
	jq -e '.log_loss == null and .auroc == 1' out.json
}

@test "bad input: one line with the file and line number, exit 1" {
	printf 'path\tlabel\tprob\na\t1\t0.5\nb\t2\t0.3\n' > label.tsv
	run -1 li-eval label.tsv
	[ "$output" = "li-eval: 'label.tsv' line 3: label '2' is not 0 or 1" ]
	printf 'path\tlabel\tprob\na\t1\t0.5\nb\t0\tnan\n' > nan.tsv
	run -1 li-eval nan.tsv
	[ "$output" = "li-eval: 'nan.tsv' line 3: prob 'nan' is not a finite number" ]
	printf 'path\tlabel\tprob\na\t1\tinf\n' > inf.tsv
	run -1 li-eval inf.tsv
	[ "$output" = "li-eval: 'inf.tsv' line 2: prob 'inf' is not a finite number" ]
	printf 'path\tlabel\tprob\na\t1\tlow\n' > word.tsv
	run -1 li-eval word.tsv
	[ "$output" = "li-eval: 'word.tsv' line 2: prob 'low' is not a finite number" ]
	printf 'path\tlabel\na\t1\n' > nocol.tsv
	run -1 li-eval nocol.tsv
	[ "$output" = "li-eval: 'nocol.tsv': no column 'prob'" ]
	printf 'path\tprob\na\t0.1\n' > nolabel.tsv
	run -1 li-eval nolabel.tsv
	[ "$output" = "li-eval: 'nolabel.tsv': no column 'label'" ]
	printf 'path\tlabel\tprob\n' > empty.tsv
	run -1 li-eval empty.tsv
	[ "$output" = "li-eval: 'empty.tsv': the list has no rows" ]
	: > zero.tsv
	run -1 li-eval zero.tsv
	[ "$output" = "li-eval: 'zero.tsv': the list has no rows" ]
	run -1 li-eval < empty.tsv
	[ "$output" = "li-eval: 'stdin': the list has no rows" ]
	run -1 li-eval missing.tsv
	[[ "$output" == "li-eval: cannot open 'missing.tsv': "* ]]
	[ -z "$(ls -A | grep -v '\.tsv$')" ]
}

@test "option misuse: exit 2 with a hint" {
	run -2 li-eval --ci 0 "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: --ci: 0 is out of range [1, 100000000]" ]
	[ "${lines[1]}" = "Try 'li-eval --help' for more information." ]
	run -2 li-eval --ci -5 "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: --ci: -5 is out of range [1, 100000000]" ]
	run -2 li-eval --ci=many "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: --ci: 'many' is not an integer" ]
	run -2 li-eval --threshold x "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: --threshold: 'x' is not a number" ]
	run -2 li-eval --csv r.csv "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: --csv needs --name (the project_name of the row)" ]
	run -2 li-eval --name x "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: --name is only used with --csv" ]
	run -2 li-eval --bogus
	[ "${lines[0]}" = "li-eval: unknown option '--bogus'" ]
	run -2 li-eval a.tsv b.tsv
	[ "${lines[0]}" = "li-eval: one list at most (got 2)" ]
	run -2 li-eval --roc x.png --pr x.png "$FIX/tiny3.tsv"
	[ "${lines[0]}" = "li-eval: 'x.png' is given for two outputs" ]
	[ -z "$(ls -A)" ]
}

@test "--help and --version" {
	run -0 li-eval --help
	[[ "$output" == "Usage: li-eval "* ]]
	[[ "$output" == *"--compare OTHER"* ]]
	run -0 li-eval --version
	[[ "$output" =~ ^li-eval\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "the man page renders without warnings and its examples run" {
	man="$LI_ROOT/man/li-eval.1"
	run -0 groff -man -ww -z "$man"
	[ -z "$output" ]
	cp "$FIX/random2.tsv" strong.tsv
	second_model "$FIX/random2.tsv" > weak.tsv
	# The commands: lines starting with "$ " inside .EX/.EE in EXAMPLES.
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$man" | sed -n 's/^\$ //p' | sed 's/\\-/-/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 5 ]
	while IFS= read -r cmd; do
		run -0 bash -o pipefail -c "$cmd"
		[ -n "$output" ] || { echo "no output: $cmd"; return 1; }
	done < examples.sh
	[ "$(png_size roc.png)" = 640x640 ]
	[ "$(png_size pr.png)" = 640x640 ]
	[ "$(wc -l < results.csv)" -eq 2 ]
}
