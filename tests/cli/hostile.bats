#!/usr/bin/env bats
# hostile.bats: `li-image check` on every file of the hostile corpus: exit 1,
# exactly one line on stderr naming the file, nothing on stdout; the few
# files that are in fact valid (see tests/unit/test_hostile.c) exit 0
# silently. Under `make asan` this runs against the sanitizer build, so any
# ASan/UBSan report fails the test (it adds stderr lines and a non-1 status).
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	FIX=$LI_ROOT/tests/fixtures/images/hostile
	SHARED=${LI_SHARED:-$LI_ROOT/../shared}/data/hostile
}

is_valid() {
	case ${1##*/} in
	crasher-empty_ancillary_chunks.png | quad-tile.jpg.tiff) return 0 ;;
	esac
	return 1
}

# check_one FILE: the contract for one file.
check_one() {
	local f=$1 name=${1##*/}
	run --separate-stderr li-image check "$f"
	if is_valid "$f"; then
		[ "$status" -eq 0 ] || flunk "$name: valid file, exit $status: $stderr"
		[ -z "$output$stderr" ] || flunk "$name: valid file printed: $output$stderr"
		return 0
	fi
	[ "$status" -eq 1 ] || flunk "$name: exit $status, expected 1" "$stderr"
	[ -z "$output" ] || flunk "$name: stdout: $output"
	local nl
	nl=$(printf '%s\n' "$stderr" | wc -l)
	[ "$nl" -eq 1 ] || flunk "$name: $nl lines on stderr:" "$stderr"
	[[ $stderr == "li-image: "*"'$f'"* ]] || flunk "$name: message does not name the file: $stderr"
}

@test "every small hostile file: exit 1, one line naming it, nothing on stdout" {
	local f n=0
	for f in "$FIX"/*; do
		check_one "$f"
		n=$((n + 1))
	done
	[ "$n" -ge 50 ] || flunk "only $n fixture files"
}

@test "the large hostile files from the shared data (bombs, corrupt pyramid TIFFs)" {
	[ -d "$SHARED" ] || skip "no $SHARED"
	local f
	for f in badsoi.tif badtile.tif bomb_16k.png flip.tif ifd_ff.tif trunc50.tif; do
		check_one "$SHARED/$f"
	done
}

@test "a pixel bomb names the limit and LI_MAX_PIXELS" {
	run --separate-stderr li-image check "$FIX/bomb_8k.png"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-image: '$FIX/bomb_8k.png' is 8192x8192, over the 50000000-pixel limit (LI_MAX_PIXELS)" ]
	LI_MAX_PIXELS=100000000 run --separate-stderr li-image check "$FIX/bomb_8k.png"
	[ "$status" -eq 0 ] || flunk "with LI_MAX_PIXELS raised: exit $status: $stderr"
}

@test "a 57-byte PNG claiming a huge chunk is refused without a large allocation" {
	# 256 MB of address space is far below the 1 GiB libpng would ask for by default.
	[ -z "${LI_ASAN-}" ] || skip "an address-space limit cannot apply under ASan (shadow memory)"
	run --separate-stderr bash -c "ulimit -v 262144; li-image check '$FIX/crasher-huge_iCCP_chunk.png'"
	[ "$status" -eq 1 ] || flunk "exit $status: $stderr"
	[[ $stderr == *"crasher-huge_iCCP_chunk.png'"*"iCCP"* ]] || flunk "$stderr"
}

@test "check - reads paths from stdin; every failure on its own line" {
	printf '%s\n' "$FIX/xc1n0g08.png" "$LI_ROOT/tests/fixtures/images/pngsuite/basn2c08.png" \
		"$FIX/truncated.jpg" > list
	run --separate-stderr bash -c "li-image check - < list"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 2 ] || flunk "$stderr"
	[[ ${stderr_lines[0]} == *"xc1n0g08.png'"* ]]
	[[ ${stderr_lines[1]} == *"truncated.jpg': Premature end of JPEG file" ]]
}
