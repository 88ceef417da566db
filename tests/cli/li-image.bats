#!/usr/bin/env bats
# li-image.bats: info, check and convert (li-image(1)).
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	IMG=$LI_ROOT/tests/fixtures/images
	SHARED=${LI_SHARED:-$LI_ROOT/../shared}/data
}

@test "info: a header, then path, format, width, height, channels per file" {
	run --separate-stderr li-image info "$IMG/pngsuite/basn6a16.png" "$IMG/jpeg/testorig.jpg" "$IMG/jpeg/gray.jpg"
	[ "$status" -eq 0 ] || flunk "exit $status: $stderr"
	[ "${lines[0]}" = $'path\tformat\twidth\theight\tchannels' ]
	[ "${lines[1]}" = "$IMG/pngsuite/basn6a16.png"$'\tpng\t32\t32\t4' ]
	[ "${lines[2]}" = "$IMG/jpeg/testorig.jpg"$'\tjpeg\t227\t149\t3' ]
	[ "${lines[3]}" = "$IMG/jpeg/gray.jpg"$'\tjpeg\t48\t40\t1' ]
}

@test "info on a slide gives its vendor and level-0 size" {
	[ -f "$SHARED/ihc_2k_pyr.tif" ] || skip "no $SHARED/ihc_2k_pyr.tif"
	run --separate-stderr li-image info "$SHARED/ihc_2k_pyr.tif"
	[ "$status" -eq 0 ] || flunk "exit $status: $stderr"
	[ "${lines[1]}" = "$SHARED/ihc_2k_pyr.tif"$'\tgeneric-tiff\t2048\t2048\t3' ]
}

@test "info: a bad file is reported, the others still listed, exit 1" {
	run --separate-stderr li-image info "$IMG/hostile/xs1n0g01.png" "$IMG/pngsuite/basn0g08.png"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$stderr" = "li-image: cannot open slide '$IMG/hostile/xs1n0g01.png': not PNG, JPEG or a format OpenSlide reads" ]
}

@test "check: good files are silent, exit 0" {
	run --separate-stderr li-image check "$IMG"/pngsuite/*.png "$IMG/jpeg/testorig.jpg"
	[ "$status" -eq 0 ] || flunk "exit $status: $stderr"
	[ -z "$output$stderr" ]
}

@test "check -: a list with a header uses its path column" {
	printf 'path\tlabel\n%s\t1\n%s\t0\n' "$IMG/pngsuite/basn2c08.png" "$IMG/jpeg/testorig12.jpg" > list.tsv
	run --separate-stderr bash -c 'li-image check - < list.tsv'
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "li-image: cannot decode '$IMG/jpeg/testorig12.jpg': Unsupported JPEG data precision 12" ]
}

@test "check --max-pixels refuses larger images" {
	run --separate-stderr li-image check --max-pixels 1000 "$IMG/pngsuite/basn2c08.png"
	[ "$status" -eq 1 ]
	[[ $stderr == *"is 32x32, over the 1000-pixel limit (LI_MAX_PIXELS)" ]]
}

@test "convert: resize PNG to JPEG with a quality, format from the extension" {
	run --separate-stderr li-image convert --size 64x48 --quality 80 "$IMG/pngsuite/basn2c08.png" out.jpg
	[ "$status" -eq 0 ] || flunk "exit $status: $stderr"
	run --separate-stderr li-image info out.jpg
	[ "${lines[1]}" = $'out.jpg\tjpeg\t64\t48\t3' ]
	run --separate-stderr li-image convert --gray -s 16 --level 9 out.jpg small.PNG
	[ "$status" -eq 0 ] || flunk "exit $status: $stderr"
	run --separate-stderr li-image info small.PNG
	[ "${lines[1]}" = $'small.PNG\tpng\t16\t16\t1' ]
}

@test "convert: a PNG round trip keeps every pixel (PIL agrees)" {
	run --separate-stderr li-image convert "$IMG/pngsuite/basn2c08.png" copy.png
	[ "$status" -eq 0 ] || flunk "$stderr"
	run /usr/bin/python3 -c "
from PIL import Image
a = Image.open('$IMG/pngsuite/basn2c08.png').convert('RGB')
b = Image.open('copy.png')
print(b.mode, a.tobytes() == b.tobytes())"
	[ "$output" = "RGB True" ] || flunk "$output"
}

@test "convert: a failed decode leaves no output file" {
	run --separate-stderr li-image convert "$IMG/hostile/truncated.jpg" out.png
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-image: cannot decode '$IMG/hostile/truncated.jpg': Premature end of JPEG file" ]
	[ ! -e out.png ]
	! compgen -G '.out.png*' || flunk "left behind: $(ls -A)"
}

@test "usage errors exit 2" {
	local args
	for args in "" "frobnicate x" "convert a.png" "convert a.png b.gif" "convert --quality 50 a.png b.png" \
		"convert --level 3 a.png b.jpg" "convert --size 0x5 a.png b.png" "convert --size 5y5 a.png b.png" \
		"info" "check" "info --size 5 a.png"; do
		# shellcheck disable=SC2086
		run --separate-stderr li-image $args
		[ "$status" -eq 2 ] || flunk "li-image $args: exit $status"
		[[ ${stderr_lines[1]} == "Try 'li-image --help' for more information." ]] ||
			flunk "li-image $args: $stderr"
	done
}
