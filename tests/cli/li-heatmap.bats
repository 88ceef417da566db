#!/usr/bin/env bats
# li-heatmap.bats: the overlay on the real CMU slide (colours where the tiles
# are, the thumbnail elsewhere, the colour bar), the colour map's lightness
# ramp, filtering by slide, and errors.
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	CMU=${LI_SHARED:-$LI_ROOT/../shared}/data/CMU-1-Small-Region.tiff
	[ -f "$CMU" ] || { echo "missing $CMU" >&2; return 1; }
}

# scores PROB: the CMU manifest (coords only) with every prob set to PROB
# for the tiles at x 896/1120, y 1120/1344 and 0 elsewhere.
scores() {
	# (without li-tile's slide_path column, so prob is column 10)
	li-tile --coords-only --mpp 0.5 "$CMU" | cut -f 1-9 | awk -F'\t' -v p="$1" 'BEGIN { OFS = "\t" }
		NR == 1 { print $0, "prob"; next }
		{ hot = ($3 == 896 || $3 == 1120) && ($4 == 1120 || $4 == 1344); print $0, hot ? p : 0 }'
}

# pixel IMG X Y: "R G B" of a pixel
pixel() {
	/usr/bin/python3 -c 'import sys; from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB"); print(*im.getpixel((int(sys.argv[2]), int(sys.argv[3]))))' "$@"
}

@test "--print-colormap: 256 colours, lightness rising from dark to light" {
	run li-heatmap --print-colormap
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > map.tsv
	[ "$(head -1 map.tsv)" = $'index\tr\tg\tb\tL' ]
	[ "$(tail -n +2 map.tsv | wc -l)" -eq 256 ]
	run awk -F'\t' 'NR > 1 { L[$1] = $5 } END {
		for (i = 4; i < 256; i++) if (L[i] <= L[i - 4]) { print "L falls at " i; exit 1 }
		if (L[0] > 20 || L[255] < 85) { print "range " L[0] " " L[255]; exit 1 }
		# equal steps: each quarter of the map spans about a quarter of the range
		q = (L[255] - L[0]) / 4
		for (k = 1; k <= 4; k++) { d = L[int(k * 255 / 4)] - L[int((k - 1) * 255 / 4)]
			if (d < 0.8 * q || d > 1.2 * q) { print "quarter " k ": " d; exit 1 } }
	}' map.tsv
	[ "$status" -eq 0 ] || flunk "$output"
}

@test "overlay: map colours on the scored tiles, the thumbnail elsewhere, a colour bar" {
	scores 1 > s.tsv
	[ "$(awk -F'\t' '$10 == 1' s.tsv | wc -l)" -eq 4 ]
	run --separate-stderr li-heatmap -s 500 --alpha 1 "$CMU" s.tsv -o heat.png
	[ "$status" -eq 0 ] || flunk "$stderr"
	run --separate-stderr li-heatmap -s 500 --alpha 0 "$CMU" s.tsv -o plain.png
	[ "$status" -eq 0 ]
	run li-image info heat.png
	# thumbnail 374 x 500 (2220 x 2967 scaled), plus 90 pixels of colour bar
	[ "$(tail -1 <<< "$output" | cut -f3,4)" = $'464\t500' ]
	top=$(li-heatmap --print-colormap | awk -F'\t' '$1 == 255 { print $2, $3, $4 }')
	bottom=$(li-heatmap --print-colormap | awk -F'\t' '$1 == 0 { print $2, $3, $4 }')
	# centre of tile (1120, 1344): level-0 (1232, 1456) -> (207.5, 245.4)
	[ "$(pixel heat.png 207 245)" = "$top" ]
	# a tile scored 0: (1120, 896) -> centre (1232, 1008) -> (207, 170)
	[ "$(pixel heat.png 207 170)" = "$bottom" ]
	# glass outside every tile is the plain thumbnail
	[ "$(pixel heat.png 10 10)" = "$(pixel plain.png 10 10)" ]
	[ "$(pixel plain.png 207 245)" != "$top" ]
	# the bar (300 pixels high, centred, 16 pixels right of the thumbnail):
	# its top row is the map's top colour, its bottom row the map's bottom
	[ "$(pixel heat.png 399 100)" = "$top" ]
	[ "$(pixel heat.png 399 400)" = "$bottom" ]
	run --separate-stderr li-heatmap -s 500 --no-bar "$CMU" s.tsv -o nobar.png
	run li-image info nobar.png
	[ "$(tail -1 <<< "$output" | cut -f3,4)" = $'374\t500' ]
}

@test "--threads: the same image from 1, 2 and 3 threads" {
	scores 1 > s.tsv
	for t in 1 2 3; do
		run --separate-stderr li-heatmap -t "$t" -s 700 "$CMU" s.tsv -o "t$t.png"
		[ "$status" -eq 0 ] || flunk "$stderr"
	done
	cmp t1.png t2.png
	cmp t1.png t3.png
	run --separate-stderr li-heatmap -t 0 "$CMU" s.tsv -o t0.png
	[ "$status" -eq 2 ]
	[ ! -e t0.png ]
}

@test "half-transparent overlay blends, --range rescales" {
	scores 0.5 > s.tsv
	run --separate-stderr li-heatmap -s 500 --alpha 1 --range 0:0.5 "$CMU" s.tsv -o a.png
	[ "$status" -eq 0 ]
	top=$(li-heatmap --print-colormap | awk -F'\t' '$1 == 255 { print $2, $3, $4 }')
	[ "$(pixel a.png 207 245)" = "$top" ]
	run --separate-stderr li-heatmap -s 500 --alpha 0.5 "$CMU" s.tsv -o b.png
	run --separate-stderr li-heatmap -s 500 --alpha 0 "$CMU" s.tsv -o c.png
	mid=$(li-heatmap --print-colormap | awk -F'\t' '$1 == 128 { print $2, $3, $4 }')
	read -r r g b <<< "$(pixel b.png 207 245)"
	read -r r0 g0 b0 <<< "$(pixel c.png 207 245)"
	read -r rm gm bm <<< "$mid"
	d=$(( (2 * r - r0 - rm) ** 2 + (2 * g - g0 - gm) ** 2 + (2 * b - b0 - bm) ** 2 ))
	[ "$d" -le 12 ] || flunk "blend off by $d"
}

@test "rows of other slides are ignored; none for this slide is an error" {
	scores 1 > s.tsv
	awk -F'\t' 'BEGIN { OFS = "\t" } NR > 1 { $2 = "other"; $1 = "x" $1 } { print }' s.tsv > other.tsv
	run --separate-stderr li-heatmap "$CMU" other.tsv -o h.png
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-heatmap: 'other.tsv': no rows for slide 'CMU-1-Small-Region' (column 'slide'; see --name)" ]
	[ ! -e h.png ]
	run --separate-stderr li-heatmap --name other "$CMU" other.tsv -o h.png
	[ "$status" -eq 0 ]
	[ -s h.png ]
}

@test "errors: missing column, bad prob, no tile size, usage" {
	li-tile --coords-only --mpp 0.5 "$CMU" > m.tsv
	run --separate-stderr li-heatmap "$CMU" m.tsv -o h.png
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-heatmap: 'm.tsv': no column 'prob'" ]
	scores 1 | awk -F'\t' 'BEGIN { OFS = "\t" } NR == 3 { $10 = "abc" } { print }' > bad.tsv
	run --separate-stderr li-heatmap "$CMU" bad.tsv -o h.png
	[ "$status" -eq 1 ]
	[[ $stderr == "li-heatmap: 'bad.tsv' line 3: "*"abc"* ]]
	scores 1 | cut -f1-4,10 > nosize.tsv
	run --separate-stderr li-heatmap "$CMU" nosize.tsv -o h.png
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-heatmap: 'nosize.tsv': no columns 'size' and 'downsample' (give --tile)" ]
	run --separate-stderr li-heatmap --tile 224 "$CMU" nosize.tsv -o h.png
	[ "$status" -eq 0 ]
	run --separate-stderr li-heatmap "$CMU" nosize.tsv
	[ "$status" -eq 2 ]
	run --separate-stderr li-heatmap "$CMU" nosize.tsv -o h.gif
	[ "$status" -eq 2 ]
	run --separate-stderr li-heatmap --alpha 2 "$CMU" nosize.tsv -o h.png
	[ "$status" -eq 2 ]
}
