#!/usr/bin/env bats
# li-score.bats: scoring a list with a small model trained on generated
# bright (1) / dark (0) patches: prob and pred columns, pass-through, the
# classes separated, --features shape, --tta, streaming from a pipe, resizing,
# bad images with and without --skip-bad, and bad input.
bats_require_minimum_version 1.5.0
load helpers

# 40 noisy 32x32 PNGs (class 1 bright, class 0 dark) and one trained model,
# shared by every test of the file.
setup_file() {
	cd "$BATS_FILE_TMPDIR"
	/usr/bin/python3 - <<'PY'
import os
import numpy as np
from PIL import Image
rng = np.random.default_rng(7)
with open('list.tsv', 'w') as f:
    f.write('path\tlabel\tslide\n')
    for i in range(40):
        y = i % 2
        a = np.clip(rng.normal(170 if y else 80, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(f'p{i:03d}.png')
        f.write('%s/p%03d.png\t%d\ts%d\n' % (os.getcwd(), i, y, i % 4))
big = np.clip(rng.normal(170, 30, (48, 40, 3)), 0, 255).astype(np.uint8)
Image.fromarray(big).save('big.png')
PY
	li-train list.tsv -o model.safetensors --arch resnet10 --width 8 --input-size 32 \
		--epochs 3 --batch 8 --lr 1e-3 --augment none -j 2 2> train.err
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	D=$BATS_FILE_TMPDIR
	M=$D/model.safetensors
}

@test "prob and pred are appended and every input column passes through" {
	li-score -m "$M" "$D/list.tsv" > out.tsv
	[ "$(head -1 out.tsv)" = "$(printf 'path\tlabel\tslide\tprob\tpred')" ]
	[ "$(wc -l < out.tsv)" -eq 41 ]
	cut -f1-3 out.tsv | diff - "$D/list.tsv"
	# prob in [0, 1], pred = prob >= 0.5
	awk -F'\t' 'NR > 1 && !($4 >= 0 && $4 <= 1 && $5 == ($4 >= 0.5)) { bad++ } END { exit bad > 0 }' out.tsv
}

@test "the scores separate the classes" {
	li-score -m "$M" "$D/list.tsv" > out.tsv
	run -0 awk -F'\t' 'NR > 1 { s[$2] += $4; n[$2]++ } END { print (s[1] / n[1]) - (s[0] / n[0]) }' out.tsv
	awk -v d="$output" 'BEGIN { exit !(d > 0.2) }'
	if command -v li-eval > /dev/null; then
		li-eval out.tsv > m.json
		run -0 jq '.auroc' m.json
		awk -v a="$output" 'BEGIN { exit !(a > 0.9) }'
	fi
}

@test "--threshold moves pred, -o writes the same list to a file" {
	li-score -m "$M" -t 0 -o out.tsv "$D/list.tsv"
	[ "$(awk -F'\t' 'NR > 1 && $5 != 1' out.tsv | wc -l)" -eq 0 ]
	li-score -m "$M" "$D/list.tsv" > a.tsv
	li-score -m "$M" --threads 1 --batch 5 "$D/list.tsv" > b.tsv
	# other batch shapes and threads change the last float bits only
	cut -f1-3,5 a.tsv | diff - <(cut -f1-3,5 b.tsv)
	paste a.tsv b.tsv | awk -F'\t' 'NR > 1 { d = $4 - $9; if (d < 0) d = -d; if (d > 1e-5) bad++ } END { exit bad > 0 }'
}

@test "--features writes one row per data row with the pooled width" {
	li-score -m "$M" --features f.npy "$D/list.tsv" > out.tsv
	run -0 /usr/bin/python3 -c "import numpy; a = numpy.load('f.npy'); print(a.shape, a.dtype, bool((a >= 0).all()))"
	[ "$output" = "(40, 64) float32 True" ]
}

@test "--tta averages the 8 dihedral views (scores change, classes still apart)" {
	li-score -m "$M" "$D/list.tsv" > a.tsv
	li-score -m "$M" --tta "$D/list.tsv" > t.tsv
	run ! diff -q a.tsv t.tsv
	run -0 awk -F'\t' 'NR > 1 { s[$2] += $4; n[$2]++ } END { print (s[1] / n[1]) - (s[0] / n[0]) }' t.tsv
	awk -v d="$output" 'BEGIN { exit !(d > 0.2) }'
}

@test "a bare list of paths from stdin is scored" {
	tail -n +2 "$D/list.tsv" | cut -f1 | li-score -m "$M" > out.tsv
	[ "$(head -1 out.tsv)" = "$(printf 'path\tprob\tpred')" ]
	[ "$(wc -l < out.tsv)" -eq 41 ]
}

@test "streaming: results appear before stdin ends" {
	mkfifo in.fifo
	li-score -m "$M" --batch 4 < in.fifo > out.tsv 2> err.txt &
	pid=$!
	exec 8> in.fifo
	head -13 "$D/list.tsv" >&8
	# 12 rows sent, stdin still open: the first batches must come back
	for i in $(seq 100); do
		[ "$(wc -l < out.tsv)" -ge 5 ] && break
		sleep 0.05
	done
	lines=$(wc -l < out.tsv)
	exec 8>&-
	wait "$pid"
	[ "$lines" -ge 5 ]
	[ "$(wc -l < out.tsv)" -eq 13 ]
}

@test "an image of another size is resized, said once" {
	{ printf 'path\n'; echo "$D/big.png"; echo "$D/big.png"; echo "$D/p001.png"; } > l.tsv
	run -0 --separate-stderr li-score -m "$M" l.tsv
	[ "${#lines[@]}" -eq 4 ]
	[ "$stderr" = "li-score: warning: images are not 32x32: resizing them to the model's input size" ]
}

@test "an undecodable image is an error naming it, and no output file is left" {
	printf 'not a png' > bad.png
	{ head -3 "$D/list.tsv"; printf '%s\t1\ts1\n' "$PWD/bad.png"; } > l.tsv
	mkdir out
	run -1 --separate-stderr li-score -m "$M" -o out/out.tsv --features out/f.npy l.tsv
	[[ "$stderr" == "li-score: cannot decode '$PWD/bad.png': "* ]]
	run -0 ls -A out
	[ -z "$output" ]
}

@test "--skip-bad leaves bad images out, reports each and counts them" {
	printf 'not a png' > bad.png
	{ head -3 "$D/list.tsv"; printf '%s\t1\ts1\n' "$PWD/bad.png" "$PWD/missing.png"; sed -n 4p "$D/list.tsv"; } > l.tsv
	run -0 --separate-stderr li-score -m "$M" --skip-bad --features f.npy l.tsv
	[ "${#lines[@]}" -eq 4 ]
	[[ "$stderr" == *"li-score: warning: skipping line 4: cannot decode '$PWD/bad.png'"* ]]
	[[ "$stderr" == *"li-score: warning: skipping line 5: "*"missing.png"* ]]
	[[ "$stderr" == *"li-score: warning: skipped 2 of 5 images" ]]
	run -0 /usr/bin/python3 -c "import numpy; print(numpy.load('f.npy').shape)"
	[ "$output" = "(3, 64)" ]
}

@test "bad input: no model, a missing model, an empty list, a list without path" {
	run -2 li-score "$D/list.tsv"
	[[ "$output" == *"li-score: a model is required (-m MODEL)"* ]]
	run -1 li-score -m nothere.safetensors "$D/list.tsv"
	[[ "$output" == "li-score: "*"nothere.safetensors"* ]]
	printf 'path\tlabel\n' > empty.tsv
	run -1 li-score -m "$M" -o out.tsv empty.tsv
	[ "$output" = "li-score: 'empty.tsv': the list has no rows" ]
	[ ! -e out.tsv ]
	run -2 li-score -m "$M" --batch 0 "$D/list.tsv"
	run -2 li-score -m "$M" --features - "$D/list.tsv"
}

@test "a file that is not a model is refused" {
	printf 'garbage garbage' > m.safetensors
	run -1 li-score -m m.safetensors "$D/list.tsv"
	[[ "$output" == "li-score: "*"m.safetensors"* ]]
}

# restamp SRC DST KEY=VALUE...: SRC's tensors with its metadata changed.
restamp() {
	/usr/bin/python3 - "$@" <<'PY'
import json, sys
src, dst, *kv = sys.argv[1:]
b = open(src, "rb").read()
n = int.from_bytes(b[:8], "little")
h = json.loads(b[8:8 + n])
for item in kv:
    k, v = item.split("=", 1)
    h["__metadata__"][k] = v
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(dst, "wb").write(len(j).to_bytes(8, "little") + j + b[8 + n:])
PY
}

@test "a small file whose metadata claims a huge network is refused before allocating" {
	restamp "$M" huge.st arch=resnet34 width=1024 classes=1000000
	[ "$(stat -c %s huge.st)" -lt 400000 ]
	run -1 li-score -m huge.st "$D/list.tsv"
	[ "$output" = "li-score: 'huge.st': metadata 'classes' is 1000000 but tensor 'fc.weight' says 2" ]
	restamp "$M" arch.st arch=resnet34
	run -1 li-score -m arch.st "$D/list.tsv"
	[ "$output" = "li-score: 'arch.st': unexpected tensor 'layer1.0.conv1.weight' for resnet34" ] ||
		[[ "$output" == "li-score: 'arch.st': tensor "*" is missing" ]]
}

@test "preprocessing comes from the model's metadata" {
	restamp "$M" m64.st input_size=64
	run -0 --separate-stderr li-score -m m64.st "$D/list.tsv"
	[ "$stderr" = "li-score: warning: images are not 64x64: resizing them to the model's input size" ]
	restamp "$M" badstd.st std=0.2,0,0.2
	run -1 li-score -m badstd.st "$D/list.tsv"
	[ "$output" = "li-score: 'badstd.st': metadata 'std' has a value that is not positive" ]
}

@test "stale temporaries of killed runs are removed, a live run's are kept" {
	sh -c 'exit 0' &
	dead=$!
	wait "$dead" || true
	touch ".out.tsv.$dead.aB3xYz" ".f.npy.$dead.aB3xYz" ".out.tsv.$$.aB3xYz" ".other.tsv.$dead.aB3xYz"
	li-score -m "$M" -o out.tsv -f f.npy "$D/list.tsv"
	[ ! -e ".out.tsv.$dead.aB3xYz" ]
	[ ! -e ".f.npy.$dead.aB3xYz" ]
	[ -e ".out.tsv.$$.aB3xYz" ]
	[ -e ".other.tsv.$dead.aB3xYz" ]
}

@test "an output that cannot be written names the file and the cause" {
	[ -w /dev/full ] || skip "no /dev/full"
	run -1 --separate-stderr bash -c 'li-score -m "$1" "$2" > /dev/full' _ "$M" "$D/list.tsv"
	[ "$stderr" = "li-score: write error on standard output: No space left on device" ]
}

@test "LI_CONV: oneDNN's convolutions score like ours; a bad value is refused" {
	LI_CONV=ours li-score -m "$M" "$D/list.tsv" > ours.tsv
	for c in onednn onednn-each measured; do
		LI_CONV=$c li-score -m "$M" "$D/list.tsv" > $c.tsv
		paste ours.tsv $c.tsv | awk -F'\t' 'NR > 1 { d = $4 - $9; if (d < 0) d = -d;
			if (d > 1e-5) bad = 1; n++ } END { exit bad || n != 40 }'
	done
	for c in auto measured ours onednn onednn-each; do
		run -0 env LI_CONV=$c li-score --version
		[[ "$output" == *"eval convs: "*"LI_CONV=$c"* ]] || flunk "$c: $output"
	done
	run -1 env LI_CONV=fastest li-score -m "$M" "$D/list.tsv"
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"LI_CONV='fastest' is not auto, measured, ours, onednn or onednn-each"* ]]
}

@test "LI_WINO: F(2x2) and F(4x4) Winograd score alike; a bad value is refused" {
	for m in 2 4; do
		LI_CONV=ours LI_WINO=$m li-score -m "$M" "$D/list.tsv" > w$m.tsv
	done
	paste w2.tsv w4.tsv | awk -F'\t' 'NR > 1 { d = $4 - $9; if (d < 0) d = -d;
		if (d > 1e-5) bad = 1; n++ } END { exit bad || n != 40 }'
	run -1 env LI_WINO=6 li-score -m "$M" "$D/list.tsv"
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"LI_WINO='6' is not 2 or 4"* ]]
	run -0 li-score --version
	[[ "$output" == *$'\nwinograd: F(4x4, 3x3) up to 128 channels, F(2x2, 3x3) above (LI_WINO unset)\n'* ]] ||
		flunk "$output"
	run -0 env LI_WINO=2 li-score --version
	[[ "$output" == *$'\nwinograd: F(2x2, 3x3) everywhere (LI_WINO=2)\n'* ]] || flunk "$output"
}

# close A B: two li-score outputs of the 40 rows, probabilities within 1e-5
close() {
	paste "$1" "$2" | awk -F'\t' 'NR > 1 { d = $4 - $9; if (d < 0) d = -d;
		if (d > 1e-5) bad = 1; n++ } END { exit bad || n != 40 }'
}

@test "LI_CONV=measured remembers its choice in LI_CACHE_DIR, auto follows it, a damaged cache is harmless" {
	export LI_CACHE_DIR=$PWD/cache/li
	LI_CONV=ours li-score -m "$M" "$D/list.tsv" > ours.tsv
	run -0 li-score --version
	[[ "$output" == *"eval convs: "*"$PWD/cache/li/conv-choice"*"(LI_CONV=auto)"* ]] || flunk "$output"
	LI_CONV=measured li-score -m "$M" "$D/list.tsv" > measured.tsv
	[ "$(stat -c %a cache/li)" = 700 ]
	# one line per batch size scored (40 rows: 32, then 8), key TAB winner and both times
	run -0 cut -f1 cache/li/conv-choice
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "eval n=32 "*" in=3 resnet10 width=8 threads="*" li="*" onednn="* ]] || flunk "$output"
	[[ "${lines[1]}" == "eval n=8 "* ]] || flunk "$output"
	awk -F'\t' 'NF != 2 || $2 !~ /^(ours|onednn) [0-9.]+ [0-9.]+$/ { bad = 1 } END { exit bad }' \
		cache/li/conv-choice
	# auto takes what the cache says, here the plan for both sizes: the same probabilities
	awk -F'\t' '{ print $1 "\tonednn 2 1" }' cache/li/conv-choice > flipped
	mv flipped cache/li/conv-choice
	li-score -m "$M" "$D/list.tsv" > auto.tsv
	close ours.tsv measured.tsv
	close ours.tsv auto.tsv
	# junk, a directory in the file's place, a file in the directory's place, no cache:
	# each scores as before (on AVX-512, auto may take the plan: to rounding)
	printf 'junk\n\001\tx\n' > cache/li/conv-choice
	li-score -m "$M" "$D/list.tsv" > junk.tsv
	close ours.tsv junk.tsv
	rm cache/li/conv-choice && mkdir cache/li/conv-choice
	LI_CONV=measured li-score -m "$M" "$D/list.tsv" > dir.tsv
	close ours.tsv dir.tsv
	LI_CACHE_DIR=$D/list.tsv/sub li-score -m "$M" "$D/list.tsv" > file.tsv
	close ours.tsv file.tsv
	# LI_CACHE_DIR empty: no cache, nothing written under HOME either
	HOME=$PWD/home LI_CACHE_DIR= LI_CONV=measured li-score -m "$M" "$D/list.tsv" > off.tsv
	close ours.tsv off.tsv
	[ ! -e home ]
	HOME=$PWD/home LI_CACHE_DIR= li-score --version | grep -q '^eval convs: .* (no cache) (LI_CONV=auto)'
}

@test "--precision bf16: within 0.01 of fp32 where the CPU has bf16, a clear error elsewhere" {
	run -2 li-score --precision fp16 -m "$M" "$D/list.tsv"
	[[ "${lines[0]}" == *"--precision must be fp32 or bf16, not 'fp16'"* ]]
	li-score --precision fp32 -m "$M" "$D/list.tsv" > fp32.tsv
	if li-score --version | grep -q 'isa: \(avx512_bf16\|amx\)'; then
		li-score --precision bf16 -m "$M" -o bf16.tsv "$D/list.tsv"
		paste fp32.tsv bf16.tsv | awk -F'\t' 'NR > 1 { d = $4 - $9; if (d < 0) d = -d;
			if (d > 0.01) bad = 1; n++ } END { exit bad || n != 40 }'
		a=$(li-eval fp32.tsv | jq .auroc) b=$(li-eval bf16.tsv | jq .auroc)
		awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; exit !(d < 0.002 && d > -0.002) }'
	else
		run -1 li-score --precision bf16 -m "$M" -o bf16.tsv "$D/list.tsv"
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == "li-score: bf16 needs a CPU with AVX512_BF16 or AMX; this one runs "* ]]
		[ ! -e bf16.tsv ]
		skip "no AVX512_BF16 here: bf16 scores not compared"
	fi
}

@test "progress on a terminal: rows, rate, and with a list file the share and ETA; nothing off a terminal" {
	# script(1) gives li-score a terminal; what it draws comes back on stdout
	run -0 script -qec "NO_COLOR=1 li-score -m '$M' -b 8 '$D/list.tsv' > out.tsv" /dev/null
	[[ $output == *"score ["*"] 100% 40/40 "*" rows/s"* ]] || flunk "$output"
	[ "$(wc -l < out.tsv)" -eq 41 ]
	# from a pipe the total is unknown: rows done and the rate only
	run -0 script -qec "cat '$D/list.tsv' | NO_COLOR=1 li-score -m '$M' -b 8 > out.tsv" /dev/null
	[[ $output == *"score 40 "*" rows/s"* ]] || flunk "$output"
	[[ $output != *"%"* ]] || flunk "$output"
	# a list file with a blank last line and no header counts its rows only
	{ tail -n +2 "$D/list.tsv" | cut -f 1; echo; } > bare.tsv
	run -0 script -qec "NO_COLOR=1 li-score -m '$M' -b 8 bare.tsv > out.tsv" /dev/null
	[[ $output == *"] 100% 40/40 "* ]] || flunk "$output"
	# not a terminal: nothing at all
	run -0 --separate-stderr li-score -m "$M" -b 8 "$D/list.tsv"
	[ -z "$stderr" ]
}
