#!/usr/bin/env bats
# isa.bats: kernels chosen at run time. One generic build runs on any x86-64
# CPU: --version names the CPU, its ISA level and the kernels; LI_ISA caps
# the level (a bad value is an error); every level gives the same scores; and
# the build runs, without an illegal instruction, on an emulated CPU that has
# no AVX at all (qemu-user), taking the base path there.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	/usr/bin/python3 - <<'PY'
import os
import numpy as np
from PIL import Image
rng = np.random.default_rng(11)
with open('list.tsv', 'w') as f:
    f.write('path\tlabel\n')
    for i in range(12):
        a = np.clip(rng.normal(60 + 12 * i, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(f'p{i:02d}.png')
        f.write('%s/p%02d.png\t%d\n' % (os.getcwd(), i, i % 2))
PY
	li-train list.tsv -o model.safetensors --arch resnet10 --width 8 --input-size 32 \
		--epochs 1 --batch 6 --augment none -j 1 2> train.err
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	D=$BATS_FILE_TMPDIR
}

# The largest absolute difference between the prob columns of two outputs.
prob_diff() {
	paste "$1" "$2" | awk -F'\t' 'NR == 1 { for (i = 1; i <= NF / 2; i++) if ($i == "prob") c = i; next }
		{ d = $c - $(c + NF / 2); if (d < 0) d = -d; if (d > m) m = d } END { printf "%.9f\n", m }'
}

@test "--version names the CPU, its ISA level and the kernels chosen" {
	for p in li-train li-score; do
		run -0 "$p" --version
		[[ ${lines[0]} == "$p "* ]] || flunk "first line: ${lines[0]}"
		[[ $output == *$'\ncpu: '* ]] || flunk "no cpu line: $output"
		[[ $output =~ $'\n'isa:\ (base|avx2|avx512|avx512_bf16|amx) ]] || flunk "no isa line: $output"
		[[ $output == *$'\nkernels: winograd GEMM '*oneDNN* ]] || flunk "no kernels line: $output"
	done
}

@test "LI_ISA caps the level and --version says so" {
	run -0 env LI_ISA=base li-score --version
	[[ $output == *$'\nisa: base'* ]] || flunk "$output"
	[[ $output == *"winograd GEMM c 6x16, loops base"* ]] || flunk "$output"
}

@test "an unknown LI_ISA is a one-line error, not a silent full-speed run" {
	run -1 --separate-stderr env LI_ISA=avx9 li-score -m "$D/model.safetensors" "$D/list.tsv"
	[ "$stderr" = "li-score: LI_ISA='avx9' is not an instruction set level (base, avx2, avx512, avx512_bf16, amx)" ] ||
		flunk "stderr: $stderr"
	[ -z "$output" ]
}

@test "every ISA level this CPU has gives the same probabilities (within 1e-5)" {
	li-score -m "$D/model.safetensors" "$D/list.tsv" > best.tsv
	hw=$(li-score --version | sed -n 's/^isa: \([a-z0-9_]*\).*/\1/p')
	for level in base avx2 avx512 avx512_bf16 amx; do
		LI_ISA=$level li-score -m "$D/model.safetensors" "$D/list.tsv" > "$level.tsv"
		d=$(prob_diff best.tsv "$level.tsv")
		awk -v d="$d" 'BEGIN { exit !(d <= 1e-5) }' || flunk "LI_ISA=$level: max difference $d"
		[ "$level" = "$hw" ] && break
	done
	[ "$(wc -l < best.tsv)" -eq 13 ]
}

@test "the generic build runs on a CPU without AVX (qemu -cpu Nehalem): base path, same scores" {
	command -v qemu-x86_64 >/dev/null || flunk "qemu-user is not installed (tools/install-deps installs it)"
	run -0 qemu-x86_64 -cpu Nehalem "$LI_BIN/li-score" --version
	[[ $output == *$'\nisa: base'* ]] || flunk "$output"
	[[ $output == *"cpu flags: sse2"$'\n'* ]] || flunk "qemu's Nehalem has AVX? $output"
	li-score -m "$D/model.safetensors" "$D/list.tsv" > native.tsv
	run -0 qemu-x86_64 -cpu Nehalem "$LI_BIN/li-score" -m "$D/model.safetensors" -o emulated.tsv "$D/list.tsv"
	d=$(prob_diff native.tsv emulated.tsv)
	awk -v d="$d" 'BEGIN { exit !(d <= 1e-5) }' || flunk "max difference $d"
}
