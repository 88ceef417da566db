#!/usr/bin/env bats
# li-split.bats: lists from the author's data layout, the grouped split's
# invariants (no group in two splits, deterministic per seed, different per
# seed, sizes near the fractions, both classes in every split, file order
# irrelevant), ablation subsets, an external test set, bad input.
bats_require_minimum_version 1.5.0
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# mklist SLIDES [PATIENTS]: a list of SLIDES slides of 3..11 rows over
# PATIENTS patients (default 20); every third slide has positives.
mklist() {
	awk -v S="$1" -v P="${2:-20}" 'BEGIN {
		print "path\tlabel\tpatient\tslide\textra"
		for (s = 0; s < S; s++) {
			n = 3 + (s * 7) % 9
			for (i = 0; i < n; i++) {
				lab = (s % 3 == 0 && i % 2 == 0) ? 1 : 0
				printf "img/s%03d_%02d.png\t%d\tP%02d\tS%03d\tx%d\n", s, i, lab, s % P, s, i
			}
		}
	}'
}

# Rows of FILE without the header, sorted.
rows() { tail -n +2 "$1" | sort; }

# The distinct values of column NAME in the data rows of FILE.
colvals() {
	awk -F'\t' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } { print $k }' "$1" | sort -u
}

# keys FILE: patient<TAB>slide of each data row, distinct.
keys() {
	awk -F'\t' 'NR > 1 { print $3 "\t" $4 }' "$1" | sort -u
}

mkdata() {
	mkdir -p D/hard_labeled_dataset D/weakly_labeled_dataset
	local p s i
	for p in 1 2 3 4 5 6 7 8; do
		for s in a b; do
			for i in 1 2 3; do
				touch "D/hard_labeled_dataset/neg_P${p}_S${s}_${i}_x.png"
				touch "D/weakly_labeled_dataset/P${p}_7_S${s}_${i}.png"
			done
			touch "D/weakly_labeled_dataset/P${p}_7_S${s}_9.jpg"
			if [ "$p" -le 4 ]; then
				touch "D/hard_labeled_dataset/pos_P${p}_S${s}_1.jpg"
				touch "D/hard_labeled_dataset/pos_P${p}_S${s}_2.jpeg"
			fi
		done
	done
}

@test "--from-dir: labels, patient and slide from the names; .png, .jpg, .jpeg in both folders" {
	mkdata
	run -0 --separate-stderr li-split --from-dir D -o out
	[ "$(head -1 out/train.tsv)" = "$(printf 'path\tlabel\tpatient\tslide')" ]
	cat out/train.tsv <(tail -n +2 out/valid.tsv) <(tail -n +2 out/test.tsv) > all.tsv
	[ "$(tail -n +2 all.tsv | wc -l)" -eq 64 ]
	# every hard-labeled file once, with the right label, patient and slide
	grep -q "^D/hard_labeled_dataset/pos_P3_Sb_2.jpeg	1	P3	Sb$" all.tsv
	grep -q "^D/hard_labeled_dataset/neg_P8_Sa_3_x.png	0	P8	Sa$" all.tsv
	[ "$(awk -F'\t' 'NR > 1 && $2 == 1' all.tsv | wc -l)" -eq 16 ]
	[ "$(tail -n +2 all.tsv | cut -f1 | sort -u | wc -l)" -eq 64 ]
	# the pool: both extensions, every row label 0, patient and slide
	[ "$(tail -n +2 out/pool.tsv | wc -l)" -eq 64 ]
	grep -q "^D/weakly_labeled_dataset/P2_7_Sb_9.jpg	0	P2	Sb$" out/pool.tsv
	[ "$(colvals out/pool.tsv label)" = 0 ]
	[[ $stderr == *"li-split: train "*"li-split: pool  64 rows"* ]]
}

@test "--from-dir: the result does not depend on the directory's file order" {
	mkdata
	li-split --from-dir D -o a
	# recreate the same files in the reverse order (new inodes, new readdir order)
	mkdir E && (cd D && find . -type f | sort -r | while read -r f; do mkdir -p "../E/${f%/*}"; touch "../E/$f"; done)
	li-split --from-dir E -o b
	for f in train valid test pool; do
		diff <(sed 's|^E/|D/|' "b/$f.tsv") "a/$f.tsv"
	done
}

@test "a directory operand is the data directory" {
	mkdata
	li-split --from-dir D -o a 2> /dev/null
	li-split D/ -o b 2> /dev/null
	for f in train valid test pool; do cmp "a/$f.tsv" "b/$f.tsv"; done
}

@test "--from-dir: a name that does not follow the layout is an error naming it" {
	mkdata
	touch D/hard_labeled_dataset/pos_P1.png
	run -1 --separate-stderr li-split --from-dir D -o out
	[ "$stderr" = "li-split: 'D/hard_labeled_dataset/pos_P1.png': name is not {pos,neg}_<patient>_<slide>_<rest>" ]
	[ ! -e out/train.tsv ]
	rm D/hard_labeled_dataset/pos_P1.png
	touch D/hard_labeled_dataset/maybe_P1_S1_1.png
	run -1 --separate-stderr li-split --from-dir D -o out
	[[ $stderr == *"'D/hard_labeled_dataset/maybe_P1_S1_1.png': name is not"* ]]
	rm D/hard_labeled_dataset/maybe_P1_S1_1.png
	touch D/weakly_labeled_dataset/P1__S1_1.png
	run -1 --separate-stderr li-split --from-dir D -o out
	[ "$stderr" = "li-split: 'D/weakly_labeled_dataset/P1__S1_1.png': name is not <patient>_<x>_<slide>_<rest>" ]
}

@test "--from-dir: other files are skipped with one warning; no images is an error" {
	mkdata
	touch D/hard_labeled_dataset/notes.txt D/hard_labeled_dataset/.hidden.png
	run -0 --separate-stderr li-split --from-dir D -o out
	[[ $stderr == *"li-split: warning: '"*"': ignored 1 entry without a .png, .jpg or .jpeg name, e.g. 'D/hard_labeled_dataset/notes.txt'"* ]]
	mkdir -p Empty/hard_labeled_dataset
	run -1 --separate-stderr li-split --from-dir Empty -o out2
	[[ $stderr == *"'Empty/hard_labeled_dataset': no .png, .jpg or .jpeg files"* ]]
	run -1 --separate-stderr li-split --from-dir Nowhere -o out2
	[[ $stderr == "li-split: cannot open directory 'Nowhere/hard_labeled_dataset': "* ]]
}

@test "no slide in two splits; every row in exactly one split; columns passed through" {
	mklist 200 > list.tsv
	run -0 --separate-stderr li-split -o out list.tsv
	[ "$(head -1 out/valid.tsv)" = "$(head -1 list.tsv)" ]
	diff <(cat out/train.tsv out/valid.tsv out/test.tsv | grep -v '^path' | sort) <(rows list.tsv)
	[ -z "$(comm -12 <(keys out/train.tsv) <(keys out/test.tsv))" ]
	[ -z "$(comm -12 <(keys out/train.tsv) <(keys out/valid.tsv))" ]
	[ -z "$(comm -12 <(keys out/valid.tsv) <(keys out/test.tsv))" ]
}

@test "sizes: test near 20% of the rows, valid near 20% of the rest" {
	mklist 300 > list.tsv
	for seed in 1 42 43 44 99; do
		li-split -s "$seed" -o "o$seed" list.tsv 2> /dev/null
		n=$(tail -n +2 list.tsv | wc -l)
		t=$(tail -n +2 "o$seed/test.tsv" | wc -l)
		v=$(tail -n +2 "o$seed/valid.tsv" | wc -l)
		awk -v n="$n" -v t="$t" -v v="$v" 'BEGIN { ft = t / n; fv = v / (n - t);
			if (ft < 0.18 || ft > 0.22 || fv < 0.18 || fv > 0.22) { print ft, fv; exit 1 } }'
	done
	li-split --test-frac 0.3 --valid-frac 0.1 -o o30 list.tsv 2> /dev/null
	t=$(tail -n +2 o30/test.tsv | wc -l)
	awk -v n="$n" -v t="$t" 'BEGIN { exit !(t / n > 0.28 && t / n < 0.32) }'
}

@test "deterministic for a seed, different across the author's seeds 42, 43, 44" {
	mklist 100 > list.tsv
	li-split -s 43 -o a list.tsv 2> /dev/null
	li-split -s 43 -o b list.tsv 2> /dev/null
	for f in train valid test; do cmp "a/$f.tsv" "b/$f.tsv"; done
	li-split -o d42 list.tsv 2> /dev/null
	li-split -s 42 -o e42 list.tsv 2> /dev/null
	cmp d42/test.tsv e42/test.tsv # 42 is the default
	li-split -s 44 -o c list.tsv 2> /dev/null
	run ! cmp -s a/test.tsv c/test.tsv
	run ! cmp -s a/test.tsv e42/test.tsv
	run ! cmp -s c/test.tsv e42/test.tsv
}

@test "the input's row order does not change which rows go where" {
	mklist 120 > list.tsv
	{ head -1 list.tsv; tail -n +2 list.tsv | sort -r; } > shuffled.tsv
	li-split -s 7 -o a list.tsv 2> /dev/null
	li-split -s 7 -o b shuffled.tsv 2> /dev/null
	for f in train valid test; do diff <(rows "a/$f.tsv") <(rows "b/$f.tsv"); done
}

@test "both classes in every split, even with few positive slides" {
	# 3 slides with positives among 30: each split gets one
	awk 'BEGIN { print "path\tlabel\tslide"
		for (s = 0; s < 30; s++) for (i = 0; i < 5; i++)
			printf "p%d_%d.png\t%d\tS%d\n", s, i, (s % 10 == 0 && i == 0), s }' > few.tsv
	for seed in 1 2 3 4 5; do
		li-split -s "$seed" -o "o$seed" few.tsv 2> /dev/null
		for f in train valid test; do
			[ "$(colvals "o$seed/$f.tsv" label | tr '\n' ' ')" = "0 1 " ]
		done
	done
	# 2 positive slides: train and test get one each
	awk 'BEGIN { print "path\tlabel\tslide"
		for (s = 0; s < 20; s++) for (i = 0; i < 5; i++)
			printf "p%d_%d.png\t%d\tS%d\n", s, i, (s < 2 && i == 0), s }' > two.tsv
	run -0 --separate-stderr li-split -o two two.tsv
	[ "$(colvals two/train.tsv label | tr '\n' ' ')" = "0 1 " ]
	[ "$(colvals two/test.tsv label | tr '\n' ' ')" = "0 1 " ]
	[[ $stderr == *"li-split: warning: valid has only negative rows"* ]]
}

@test "--group patient: no patient in two splits" {
	mklist 200 25 > list.tsv
	li-split --group patient -o out list.tsv 2> /dev/null
	pt() { colvals "$1" patient; }
	[ -z "$(comm -12 <(pt out/train.tsv) <(pt out/test.tsv))" ]
	[ -z "$(comm -12 <(pt out/train.tsv) <(pt out/valid.tsv))" ]
	[ -z "$(comm -12 <(pt out/valid.tsv) <(pt out/test.tsv))" ]
	[ "$(pt out/test.tsv | wc -l)" -ge 2 ]
}

@test "slide names need only be unique per patient" {
	# slide 'S1' of every patient: 10 distinct (patient, slide) groups
	awk 'BEGIN { print "path\tlabel\tpatient\tslide"
		for (p = 0; p < 10; p++) for (i = 0; i < 4; i++)
			printf "p%d_%d.png\t%d\tP%d\tS1\n", p, i, (p % 2 && i == 0), p }' > l.tsv
	li-split -o out l.tsv 2> /dev/null
	[ "$(tail -n +2 out/test.tsv | wc -l)" -gt 0 ]
	[ "$(tail -n +2 out/train.tsv | wc -l)" -gt 0 ]
}

@test "--subset keeps a stratified fraction of train; valid and test unchanged" {
	mklist 200 > list.tsv
	li-split -s 5 -o full list.tsv 2> /dev/null
	li-split -s 5 --subset 0.25 -o sub list.tsv 2> /dev/null
	cmp full/valid.tsv sub/valid.tsv
	cmp full/test.tsv sub/test.tsv
	[ -z "$(comm -13 <(rows full/train.tsv) <(rows sub/train.tsv))" ] # a subset
	for c in 0 1; do
		n=$(awk -F'\t' -v c=$c 'NR > 1 && $2 == c' full/train.tsv | wc -l)
		m=$(awk -F'\t' -v c=$c 'NR > 1 && $2 == c' sub/train.tsv | wc -l)
		[ "$m" -eq "$(awk -v n="$n" 'BEGIN { print int(n * 0.25 + 0.5) }')" ]
	done
	li-split -s 5 --subset 0.25 --subset-seed 9 -o sub9 list.tsv 2> /dev/null
	run ! cmp -s sub/train.tsv sub9/train.tsv
	cmp full/test.tsv sub9/test.tsv
}

@test "--pos-only keeps a fraction of the training positives and every negative" {
	mklist 200 > list.tsv
	li-split -o full list.tsv 2> /dev/null
	li-split --pos-only 0.5 -o half list.tsv 2> /dev/null
	diff <(awk -F'\t' '$2 != 1' full/train.tsv) <(awk -F'\t' '$2 != 1' half/train.tsv)
	n=$(awk -F'\t' '$2 == 1' full/train.tsv | wc -l)
	m=$(awk -F'\t' '$2 == 1' half/train.tsv | wc -l)
	[ "$m" -eq "$(awk -v n="$n" 'BEGIN { print int(n * 0.5 + 0.5) }')" ]
	[ -z "$(comm -13 <(rows full/train.tsv) <(rows half/train.tsv))" ]
}

@test "--test-list: the external test set as given; only train and valid are split" {
	mklist 100 > list.tsv
	printf 'path\tlabel\tnote\nt1.png\t1\ta\nt2.png\t0\tb\n' > ext.tsv
	run -0 --separate-stderr li-split --test-list ext.tsv -o out list.tsv
	cmp ext.tsv out/test.tsv
	diff <(cat out/train.tsv out/valid.tsv | grep -v '^path' | sort) <(rows list.tsv)
	[[ $stderr == *"test  2 rows from 'ext.tsv' (as given)"* ]]
	# valid is 20% of everything now
	v=$(tail -n +2 out/valid.tsv | wc -l)
	awk -v v="$v" 'BEGIN { exit !(v / 662 > 0.17 && v / 662 < 0.23) }' || { echo "valid $v"; false; }
	printf 'path\tlabel\nimg/s005_01.png\t0\n' > leak.tsv
	run -1 --separate-stderr li-split --test-list leak.tsv -o out2 list.tsv
	[ "$stderr" = "li-split: 'leak.tsv' line 2: 'img/s005_01.png' is also in 'list.tsv': the test set must be separate" ]
	[ ! -e out2/train.tsv ]
}

@test "a failed rerun leaves the previous run's lists as they were, and no temporaries (issue 10)" {
	mkdata
	run -0 --separate-stderr li-split --from-dir D -o out --seed 1
	cp -r out before
	# a pool file whose name holds a tab: pool.tsv, the last list, cannot be
	# written; train, valid and test of the new seed must not appear either
	touch "D/weakly_labeled_dataset/P1_7_Sa_5"$'\t'"x.png"
	run -1 --separate-stderr li-split --from-dir D -o out --seed 2
	[[ $stderr == *"contains a tab or newline"* ]] || { echo "$stderr"; false; }
	diff -r before out
	[ "$(find out -name '.*' | wc -l)" -eq 0 ]
	# the same rerun without the bad file replaces all four together
	rm "D/weakly_labeled_dataset/P1_7_Sa_5"$'\t'"x.png"
	run -0 --separate-stderr li-split --from-dir D -o out --seed 2
	run ! diff -q before/train.tsv out/train.tsv
	# a destination that cannot be replaced (a directory) fails before any rename
	cp -r before out2 && rm out2/test.tsv && mkdir out2/test.tsv
	run -1 --separate-stderr li-split --from-dir D -o out2 --seed 2
	[[ $stderr == *"out2/test.tsv': Is a directory" ]] || { echo "$stderr"; false; }
	cmp before/train.tsv out2/train.tsv
	cmp before/pool.tsv out2/pool.tsv
	[ "$(find out2 -name '.*' | wc -l)" -eq 0 ]
}

@test "a rerun without the weak folder removes the previous run's pool.tsv" {
	mkdata
	run -0 --separate-stderr li-split --from-dir D -o out
	[ -s out/pool.tsv ]
	rm -r D/weakly_labeled_dataset
	run -0 --separate-stderr li-split --from-dir D -o out
	[ ! -e out/pool.tsv ]
	[[ $stderr == *"li-split: removed the previous run's 'out/pool.tsv'"* ]]
}

@test "bad input: exact messages, exit 1, nothing written" {
	: > zero.tsv
	run -1 --separate-stderr li-split -o o zero.tsv
	[ "$stderr" = "li-split: 'zero.tsv': the list is empty (no header, no rows)" ]
	printf 'path\tlabel\n' > empty.tsv
	run -1 --separate-stderr li-split -o o empty.tsv
	[ "$stderr" = "li-split: 'empty.tsv': no column 'slide'" ]
	printf 'path\tlabel\tslide\n' > empty.tsv
	run -1 --separate-stderr li-split -o o empty.tsv
	[ "$stderr" = "li-split: 'empty.tsv': no rows to split" ]
	printf 'path\tslide\na.png\tS1\n' > nolabel.tsv
	run -1 --separate-stderr li-split -o o nolabel.tsv
	[ "$stderr" = "li-split: 'nolabel.tsv': no column 'label'" ]
	printf 'path\tlabel\tslide\na.png\t0\tS1\nb.png\t2\tS2\n' > badlabel.tsv
	run -1 --separate-stderr li-split -o o badlabel.tsv
	[ "$stderr" = "li-split: 'badlabel.tsv' line 3: label '2' is not 0 or 1" ]
	printf 'path\tlabel\tslide\na.png\t0\t\n' > noslide.tsv
	run -1 --separate-stderr li-split -o o noslide.tsv
	[ "$stderr" = "li-split: 'noslide.tsv' line 2: empty slide" ]
	[ ! -e o/train.tsv ]
}

@test "usage errors exit 2" {
	mklist 10 > list.tsv
	run -2 li-split list.tsv
	[[ $output == *"no output directory (-o DIR)"* ]]
	run -2 li-split -o o
	[[ $output == *"give either a LIST or --from-dir DATA"* ]]
	run -2 li-split -o o --from-dir D list.tsv
	run -2 li-split -o o --subset 0 list.tsv
	run -2 li-split -o o --subset 1.5 list.tsv
	run -2 li-split -o o --subset 0.5 --pos-only 0.5 list.tsv
	run -2 li-split -o o --group slides list.tsv
	run -2 li-split -o o --seed x list.tsv
	run -2 li-split -o o --subset-seed 3 list.tsv
	[ ! -e o ]
}
