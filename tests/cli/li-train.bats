#!/usr/bin/env bats
# li-train.bats: training resnet10 (width 8) on generated 32x32 bright (1) /
# dark (0) patches: the model file and its metadata, the JSON Lines log,
# li-score separating the classes, determinism, bit-identical resume after
# kill -9, presets, --last/--select/--patience, --init, and bad input.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	/usr/bin/python3 - <<'PY'
import os
import numpy as np
from PIL import Image
rng = np.random.default_rng(3)
d = os.getcwd()
with open('train.tsv', 'w') as t, open('valid.tsv', 'w') as v:
    t.write('path\tlabel\tslide\n')
    v.write('path\tlabel\n')
    for i in range(56):
        y = i % 2
        a = np.clip(rng.normal(170 if y else 80, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save('p%03d.png' % i)
        if i < 40:
            t.write('%s/p%03d.png\t%d\ts%d\n' % (d, i, y, i % 4))
        else:
            v.write('%s/p%03d.png\t%d\n' % (d, i, y))
PY
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	D=$BATS_FILE_TMPDIR
	SMALL=(--arch resnet10 --width 8 --input-size 32 --batch 8 --lr 1e-3 -j 2)
}

# meta FILE KEY: a metadata value of a safetensors file.
meta() {
	/usr/bin/python3 -c 'import json, sys
b = open(sys.argv[1], "rb").read()
n = int.from_bytes(b[:8], "little")
print(json.loads(b[8:8 + n])["__metadata__"].get(sys.argv[2], "(none)"))' "$1" "$2"
}

# same_weights A B: the data sections (every tensor) are byte-identical.
same_weights() {
	/usr/bin/python3 -c 'import sys
def data(p):
    b = open(p, "rb").read()
    return b[8 + int.from_bytes(b[:8], "little"):]
sys.exit(data(sys.argv[1]) != data(sys.argv[2]))' "$1" "$2"
}

# losses_near A.jsonl B.jsonl FRAC: both logs have two epochs, and each
# epoch's training loss in B is within FRAC of A's.
losses_near() {
	run -0 paste <(jq .train_loss "$1") <(jq .train_loss "$2")
	[ "${#lines[@]}" -eq 2 ]
	awk -v f="$3" '{ d = $1 - $2; if (d < 0) d = -d; if (!(d <= f * $1)) { print "epoch " NR ": " $0; exit 1 } }' <<< "$output"
}

# separates MODEL: li-score's mean probability is higher by more than 0.1
# on the bright (1) validation patches than on the dark (0) ones.
separates() {
	li-score -m "$1" "$D/valid.tsv" > "$1.tsv"
	run -0 awk -F'\t' 'NR > 1 { s[$2] += $3; n[$2]++ } END { print (s[1] / n[1]) - (s[0] / n[0]) }' "$1.tsv"
	awk -v d="$output" 'BEGIN { exit !(d > 0.1) }'
}

@test "two epochs: model with metadata, one log line per epoch, classes separated" {
	li-train "${SMALL[@]}" --epochs 2 --valid "$D/valid.tsv" --log log.jsonl "$D/train.tsv" -o m.safetensors
	[ -s m.safetensors ]
	[ "$(meta m.safetensors arch)" = resnet10 ]
	[ "$(meta m.safetensors width)" = 8 ]
	[ "$(meta m.safetensors input_size)" = 32 ]
	[ "$(meta m.safetensors in_channels)" = 3 ]
	[ "$(meta m.safetensors mean)" = "0.485,0.456,0.406" ]
	[ "$(meta m.safetensors std)" = "0.229,0.224,0.225" ]
	[[ "$(meta m.safetensors command)" == "li-train --arch resnet10 "*" -o m.safetensors" ]]
	[ "$(meta m.safetensors valid_loss)" != "(none)" ]
	[ "$(wc -l < log.jsonl)" -eq 2 ]
	run -0 jq -r '[.epoch, (.lr > 0), (.train_loss > 0), (.valid_loss > 0), (.valid_auroc >= 0), (.valid_auprc >= 0), (.seconds > 0), (.images_per_s > 0)] | @tsv' log.jsonl
	[ "${lines[0]}" = "$(printf '1\ttrue\ttrue\ttrue\ttrue\ttrue\ttrue\ttrue')" ]
	[ "${lines[1]}" = "$(printf '2\ttrue\ttrue\ttrue\ttrue\ttrue\ttrue\ttrue')" ]
	# the saved epoch is the one with the lowest validation loss
	run -0 jq -s -r 'min_by(.valid_loss) | .epoch' log.jsonl
	[ "$(meta m.safetensors epoch)" = "$output" ]
	separates m.safetensors
}

@test "the same seed gives the same weights; another seed does not" {
	li-train "${SMALL[@]}" --epochs 1 "$D/train.tsv" -o a.st
	li-train "${SMALL[@]}" --epochs 1 "$D/train.tsv" -o b.st
	li-train "${SMALL[@]}" --epochs 1 --seed 2 "$D/train.tsv" -o c.st
	same_weights a.st b.st
	! same_weights a.st c.st
}

@test "LI_CONV=onednn trains on oneDNN's plan as on ours; the same seed gives the same weights" {
	run -0 env LI_CONV=onednn li-train --version
	[[ "$output" == *"training convs: one oneDNN plan (LI_CONV=onednn)"* ]]
	run -0 env LI_CONV=ours li-train --version
	[[ "$output" == *"training convs: ours (LI_CONV=ours)"* ]]
	LI_CONV=ours li-train "${SMALL[@]}" --epochs 2 --log ours.jsonl "$D/train.tsv" -o ours.st
	LI_CONV=onednn li-train "${SMALL[@]}" --epochs 2 --log a.jsonl "$D/train.tsv" -o a.st
	LI_CONV=onednn li-train "${SMALL[@]}" --epochs 2 "$D/train.tsv" -o b.st
	same_weights a.st b.st
	run ! same_weights a.st ours.st
	# each epoch's loss within 1% of ours, and the models score alike
	losses_near ours.jsonl a.jsonl 0.01
	li-score -m ours.st "$D/valid.tsv" > ours.tsv
	li-score -m a.st "$D/valid.tsv" > a.tsv
	run -0 paste ours.tsv a.tsv
	awk -F'\t' 'NR > 1 { d = $3 - $7; if (d < 0) d = -d; if (d > m) m = d } END { print "max gap " m; exit !(m < 0.02) }' <<< "$output"
}

@test "--precision bf16: losses near fp32's and the same weights for a seed where the CPU has bf16, a clear error elsewhere" {
	run -2 li-train --precision fp16 "$D/train.tsv" -o m.st
	[[ "${lines[0]}" == *"--precision: 'fp16' is not one of fp32, bf16"* ]]
	# LI_ISA=avx2 takes bf16 away on any CPU: one line, no model
	run -1 env LI_ISA=avx2 li-train "${SMALL[@]}" --precision bf16 --epochs 1 "$D/train.tsv" -o x.st
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "li-train: bf16 needs a CPU with AVX512_BF16 or AMX; this one runs avx2"* ]]
	[ ! -e x.st ]
	if ! li-train --version | grep -q '^bf16 training: yes'; then
		skip "no AVX512_BF16 here: bf16 training not compared"
	fi
	li-train "${SMALL[@]}" --epochs 2 --log f.jsonl "$D/train.tsv" -o f.st
	li-train "${SMALL[@]}" --precision bf16 --epochs 2 --valid "$D/valid.tsv" --log a.jsonl "$D/train.tsv" -o a.st
	li-train "${SMALL[@]}" --precision bf16 --epochs 2 --valid "$D/valid.tsv" "$D/train.tsv" -o b.st
	same_weights a.st b.st
	run ! same_weights a.st f.st
	# each epoch's loss within 10% of fp32's; the model separates the classes
	losses_near f.jsonl a.jsonl 0.1
	separates a.st
}

@test "a run killed with SIGKILL between epochs resumes to a byte-identical model" {
	args=("${SMALL[@]}" --epochs 6 --valid "$D/valid.tsv" --augment paper+stain "$D/train.tsv"
	      -o m.st --last last.st --log log.jsonl --checkpoint ck.st)
	mkdir full part
	(cd full && li-train "${args[@]}")
	cd part
	li-train "${args[@]}" &
	pid=$!
	for i in $(seq 400); do
		[ -s ck.st ] && break
		sleep 0.01
	done
	kill -9 "$pid"
	wait "$pid" || true
	[ ! -e m.st ]
	# resumed from an unfinished run, not after the end
	[ "$(meta ck.st epoch)" -lt 6 ]
	li-train "${args[@]}" --resume ck.st
	cd ..
	# what li-train(1) promises: the same files as the uninterrupted run
	cmp full/m.st part/m.st
	cmp full/last.st part/last.st
	# the log has each epoch once, the same but for the timings
	diff <(jq -c 'del(.seconds, .images_per_s)' full/log.jsonl) <(jq -c 'del(.seconds, .images_per_s)' part/log.jsonl)
	# the command is the uninterrupted one's; the checkpoint records the resume
	[[ "$(meta part/m.st command)" != *--resume* ]]
	[[ "$(meta part/ck.st resume_command)" == *" --resume ck.st" ]]
	[ "$(meta part/ck.st command)" = "$(meta full/ck.st command)" ]
	# whatever kill -9 left behind was cleaned up by the resumed run
	run -0 ls -A part
	[ "$output" = "$(printf 'ck.st\nlast.st\nlog.jsonl\nm.st')" ]
}

@test "--resume=FILE and an abbreviated --resu are left out of the command too" {
	li-train "${SMALL[@]}" --epochs 1 --checkpoint ck.st "$D/train.tsv" -o a.st
	li-train "${SMALL[@]}" --epochs 2 --checkpoint ck.st --resume=ck.st "$D/train.tsv" -o b.st
	[ "$(meta b.st command)" = "li-train ${SMALL[*]} --epochs 2 --checkpoint ck.st $D/train.tsv -o b.st" ]
	li-train "${SMALL[@]}" --epochs 3 --checkpoint ck.st --resu ck.st "$D/train.tsv" -o c.st
	[ "$(meta c.st command)" = "li-train ${SMALL[*]} --epochs 3 --checkpoint ck.st $D/train.tsv -o c.st" ]
	[ "$(meta c.st epoch)" = 3 ]
}

@test "every output is checked before the first batch: a missing or read-only directory fails at once" {
	# --epochs 1000000: a run that started training would not end
	for opt in -o --last --log --checkpoint; do
		extra=(-o m.st)
		[ "$opt" = -o ] && extra=()
		run -1 timeout 60 li-train "${SMALL[@]}" --epochs 1000000 "${extra[@]}" "$opt" nodir/x.st "$D/train.tsv"
		[ "$output" = "li-train: cannot create 'nodir/x.st': No such file or directory" ]
	done
	# a read-only directory (root writes anywhere but on a read-only file system)
	ro=ro
	mkdir ro
	chmod 555 ro
	if touch ro/probe 2> /dev/null; then
		rm ro/probe
		ro=/sys
		if touch /sys/probe 2> /dev/null; then
			skip "no read-only directory"
		fi
	fi
	run -1 timeout 60 li-train "${SMALL[@]}" --epochs 1000000 --checkpoint "$ro/ck.st" "$D/train.tsv" -o m.st
	[ "$output" = "li-train: cannot create '$ro/ck.st': Permission denied" ]
	mkdir log.jsonl
	run -1 timeout 60 li-train "${SMALL[@]}" --epochs 1000000 --log log.jsonl "$D/train.tsv" -o m.st
	[ "$output" = "li-train: cannot write 'log.jsonl': Is a directory" ]
	[ ! -e m.st ]
}

@test "stale temporaries of killed runs are removed, a live run's are kept" {
	sh -c 'exit 0' &
	dead=$!
	wait "$dead" || true
	touch ".m.st.$dead.aB3xYz" ".ck.st.$dead.aB3xYz" ".log.jsonl.$dead.aB3xYz" ".m.st.$$.aB3xYz" ".n.st.$dead.aB3xYz"
	li-train "${SMALL[@]}" --epochs 1 --checkpoint ck.st --log log.jsonl "$D/train.tsv" -o m.st
	[ ! -e ".m.st.$dead.aB3xYz" ]
	[ ! -e ".ck.st.$dead.aB3xYz" ]
	[ ! -e ".log.jsonl.$dead.aB3xYz" ]
	[ -e ".m.st.$$.aB3xYz" ]
	[ -e ".n.st.$dead.aB3xYz" ]
}

@test "without --valid the model is the last epoch and valid keys are null" {
	li-train "${SMALL[@]}" --epochs 2 --log log.jsonl --last last.st "$D/train.tsv" -o m.st
	[ "$(meta m.st epoch)" = 2 ]
	[ "$(meta m.st valid_loss)" = "(none)" ]
	same_weights m.st last.st
	run -0 jq -r '[.valid_loss, .valid_auroc, .valid_auprc] | @tsv' log.jsonl
	[ "${lines[1]}" = "$(printf '\t\t')" ]
}

@test "--patience stops early; --select auroc and --last" {
	run -0 --separate-stderr li-train "${SMALL[@]}" --epochs 8 --lr 1e-8 --schedule none --patience 1 \
		--select auroc --valid "$D/valid.tsv" --log log.jsonl --last last.st "$D/train.tsv" -o m.st
	n=$(wc -l < log.jsonl)
	[ "$n" -lt 8 ]
	[[ "$stderr" == *"li-train: no improvement for 1 epochs: stopping after epoch $n"* ]]
	[ "$(meta last.st epoch)" = "$n" ]
}

@test "every augmentation preset and --no-balance train" {
	for a in none basic paper paper+stain; do
		li-train "${SMALL[@]}" --epochs 1 --augment "$a" --no-balance --cache none "$D/train.tsv" -o "m-$a.st"
		[ -s "m-$a.st" ]
	done
	! same_weights m-none.st m-paper.st
}

@test "--init starts from a model; --channels 1 trains a gray model li-score reads" {
	li-train "${SMALL[@]}" --epochs 1 "$D/train.tsv" -o a.st
	li-train "${SMALL[@]}" --epochs 1 --init a.st "$D/train.tsv" -o b.st
	run ! same_weights a.st b.st
	li-train "${SMALL[@]}" --epochs 1 --channels 1 "$D/train.tsv" -o g.st
	[ "$(meta g.st in_channels)" = 1 ]
	[ "$(meta g.st mean)" = 0.449 ]
	li-score -m g.st "$D/valid.tsv" > s.tsv
	[ "$(wc -l < s.tsv)" -eq 17 ]
	run -1 li-train "${SMALL[@]}" --epochs 1 --init g.st "$D/train.tsv" -o c.st
	[ "$output" = "li-train: 'g.st': the model has 1 input channel, training uses 3 (--channels)" ]
	[ ! -e c.st ]
}

@test "bad lists: missing column, bad label, empty, one class, unreadable image" {
	cut -f1 "$D/train.tsv" > nolabel.tsv
	run -1 li-train "${SMALL[@]}" nolabel.tsv -o m.st
	[ "$output" = "li-train: 'nolabel.tsv': no column 'label'" ]
	sed '3s/\t1\t/\t2\t/' "$D/train.tsv" > badlabel.tsv
	run -1 li-train "${SMALL[@]}" badlabel.tsv -o m.st
	[ "$output" = "li-train: 'badlabel.tsv' line 3: label '2' is not 0 or 1" ]
	head -1 "$D/train.tsv" > empty.tsv
	run -1 li-train "${SMALL[@]}" empty.tsv -o m.st
	[ "$output" = "li-train: 'empty.tsv': the list has no rows" ]
	awk -F'\t' 'NR == 1 || $2 == 0' "$D/train.tsv" > one.tsv
	run -1 li-train "${SMALL[@]}" one.tsv -o m.st
	[ "$output" = "li-train: 'one.tsv': every row has label 0: training needs both classes" ]
	{ cat "$D/train.tsv"; printf '%s\t1\ts0\n' "$PWD/missing.png"; } > missing.tsv
	run -1 li-train "${SMALL[@]}" --epochs 1 missing.tsv -o m.st
	[[ "$output" == "li-train: "*"$PWD/missing.png"* ]]
	[ ! -e m.st ]
	run -0 ls -A
	[[ "$output" != *".m.st"* ]]
}

@test "--log on a full disk: an error, and no empty log left behind (issue 10)" {
	# a file size limit of 0 makes the first write fail as a full disk would
	# (messages go through a pipe, which the limit does not apply to)
	run bash -c 'set -o pipefail; (ulimit -f 0; trap "" XFSZ; exec li-train "$0/train.tsv" \
		-o model.safetensors --log log.jsonl --epochs 1 "${@}") 2>&1 | cat' "$D" "${SMALL[@]}"
	[ "$status" -eq 1 ]
	[[ $output == *"li-train: cannot write 'log.jsonl': File too large" ]] || { echo "$output"; false; }
	[ ! -e log.jsonl ]
	[ ! -e model.safetensors ]
}

@test "option misuse exits 2" {
	run -2 li-train "$D/train.tsv"
	[[ "$output" == *"li-train: an output model is required (-o MODEL)"* ]]
	run -2 li-train -o m.st
	run -2 li-train --epochs 0 "$D/train.tsv" -o m.st
	run -2 li-train --augment wild "$D/train.tsv" -o m.st
	run -2 li-train --select auroc "$D/train.tsv" -o m.st
	run -2 li-train --width 8 "$D/train.tsv" -o m.st
	run -2 li-train --log m.st "$D/train.tsv" -o m.st
	[ ! -e m.st ]
}
