#!/usr/bin/env bats
# li-tile.bats: tiling the real slides (CMU-1-Small-Region, an Aperio H&E at
# 0.499 um/px, and ihc_2k_pyr, a generic tiled pyramid whose mpp comes from
# its TIFF resolution tags): counts, coordinates, levels, mpp, tissue, the QC
# image, labels from annotations and masks, threads, resume, exit 3, and the
# hostile TIFFs (exit 1, one line, no tiles).
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	DATA=${LI_SHARED:-$LI_ROOT/../shared}/data
	CMU=$DATA/CMU-1-Small-Region.tiff
	IHC=$DATA/ihc_2k_pyr.tif
	FIX=$LI_ROOT/tests/fixtures/slides
	[ -f "$CMU" ] && [ -f "$IHC" ] || { echo "missing $CMU or $IHC" >&2; return 1; }
}

HEADER=$'path\tslide\tx\ty\tlevel\tdownsample\tmpp\tsize\ttissue'

@test "CMU at 0.5 um/px: grid, coordinates, level, mpp, tissue bounds, tiles on disk" {
	run --separate-stderr li-tile --mpp 0.5 "$CMU" -o tiles
	[ "$status" -eq 0 ] || flunk "exit $status: $stderr"
	printf '%s\n' "$output" > m.tsv
	[ "$(head -1 m.tsv)" = "$HEADER" ]
	n=$(($(wc -l < m.tsv) - 1))
	# 9 x 13 tiles of 224 fit in 2220 x 2967; the tissue covers about a third
	[ "$n" -ge 25 ] && [ "$n" -le 70 ] || flunk "$n tiles"
	run awk -F'\t' 'NR > 1 {
		if ($2 != "CMU-1-Small-Region" || $3 % 224 || $4 % 224 || $3 + 224 > 2220 ||
		    $4 + 224 > 2967 || $5 != 0 || $6 != 1 || $7 != 0.499 || $8 != 224 ||
		    $9 < 0.5 || $9 > 1) { print "bad row " NR ": " $0; exit 1 }
		want = sprintf("tiles/CMU-1-Small-Region_x%06d_y%06d.png", $3, $4)
		if ($1 != want) { print "path " $1 " is not " want; exit 1 }
	}' m.tsv
	[ "$status" -eq 0 ] || flunk "$output"
	[ "$(find tiles -type f | wc -l)" -eq "$n" ]
	# every tile a 224x224 RGB PNG (li-image info: path format w h channels)
	run li-image info $(cut -f1 m.tsv | tail -n +2)
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | awk -F'\t' 'NR > 1 && ($2 != "png" || $3 != 224 || $4 != 224 || $5 != 3)' | wc -l)" -eq 0 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq $((n + 1)) ]
	# glass at the top-left corner is never a tile
	! grep -q '_x000000_y000000' m.tsv
}

@test "CMU: --min-tissue 0 keeps the whole grid; tissue fractions span glass to tissue" {
	run --separate-stderr li-tile --coords-only --min-tissue 0 "$CMU"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > all.tsv
	[ "$(tail -n +2 all.tsv | wc -l)" -eq 117 ]
	run awk -F'\t' 'NR > 1 { if ($9 == 0) z++; if ($9 >= 0.999) f++; if ($9 >= 0.5) k++ }
		END { print z + 0, f + 0, k + 0 }' all.tsv
	read -r zero full kept <<< "$output"
	[ "$zero" -ge 20 ] && [ "$full" -ge 10 ] || flunk "zero $zero full $full"
	run --separate-stderr li-tile --coords-only --mpp 0.5 "$CMU"
	[ "$(($(printf '%s\n' "$output" | wc -l) - 1))" -eq "$kept" ]
}

@test "--edge pad adds the partial tiles at the right and bottom; --stride overlaps" {
	run --separate-stderr li-tile --coords-only --min-tissue 0 --edge pad "$CMU"
	[ "$status" -eq 0 ]
	[ "$(($(printf '%s\n' "$output" | wc -l) - 1))" -eq 140 ] # 10 x 14
	printf '%s\n' "$output" | grep -q $'\t2016\t2912\t'
	run --separate-stderr li-tile --coords-only --min-tissue 0 --stride 112 "$CMU"
	[ "$(($(printf '%s\n' "$output" | wc -l) - 1))" -eq $((18 * 25)) ]
	printf '%s\n' "$output" | grep -q $'\t112\t112\t'
}

@test "--coords-only prints the same manifest and writes nothing" {
	run --separate-stderr li-tile --mpp 0.5 "$CMU" -o tiles
	printf '%s\n' "$output" > a.tsv
	run --separate-stderr li-tile --mpp 0.5 --coords-only "$CMU" -o other
	[ "$status" -eq 0 ]
	# the same rows, and the slide's path as the last column
	printf '%s\n' "$output" | cut -f 1-9 | sed 's|^other/|tiles/|' > b.tsv
	cmp a.tsv b.tsv
	[ "$(printf '%s\n' "$output" | cut -f 10 | sort -u | tr '\n' ' ')" = "$CMU slide_path " ]
	[ ! -e other ]
}

@test "QC image: thumbnail size, contour and tile colours drawn" {
	run --separate-stderr li-tile --mpp 0.5 --coords-only --qc qc.png --qc-size 512 "$CMU"
	[ "$status" -eq 0 ]
	run li-image info qc.png
	[ "$(tail -1 <<< "$output")" = $'qc.png\tpng\t383\t512\t3' ]
	run /usr/bin/python3 -c '
import sys
from PIL import Image
px = list(Image.open("qc.png").convert("RGB").getdata())
print(sum(p == (0, 170, 0) for p in px), sum(p == (30, 80, 220) for p in px))'
	read -r green blue <<< "$output"
	[ "$green" -ge 200 ] && [ "$blue" -ge 500 ] || flunk "green $green blue $blue"
}

@test "ihc pyramid: mpp from TIFF tags picks levels; resizing between levels" {
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mpp 1 "$IHC"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | tail -n +2 | cut -f3-8 > rows
	[ "$(cat rows)" = $'0\t0\t2\t4\t1\t224\n896\t0\t2\t4\t1\t224\n0\t896\t2\t4\t1\t224\n896\t896\t2\t4\t1\t224' ]
	run --separate-stderr li-tile --min-tissue 0 --mpp 0.7 "$IHC" -o t
	[ "$status" -eq 0 ]
	# 0.7 um/px is downsample 2.8: read from level 1 (2) and resized; 2048/627.2 -> 3 x 3
	printf '%s\n' "$output" | tail -n +2 > rows
	[ "$(wc -l < rows)" -eq 9 ]
	[ "$(cut -f5-8 rows | sort -u)" = $'1\t2.8\t0.7\t224' ]
	[ "$(cut -f3 rows | sort -nu | tr '\n' ' ')" = "0 627 1254 " ]
	run li-image info "$(head -1 rows | cut -f1)"
	[ "$(tail -1 <<< "$output" | cut -f3,4)" = $'224\t224' ]
	run --separate-stderr li-tile --coords-only --min-tissue 0 --level 3 "$IHC"
	[ "$(tail -n +2 <<< "$output" | cut -f3-8)" = $'0\t0\t3\t8\t2\t224' ]
}

@test "no mpp: --mpp is an error, --assume-mpp or --level work; upsampling refused" {
	run --separate-stderr li-tile --coords-only --mpp 0.5 "$DATA/ihc.png"
	[ "$status" -eq 1 ]
	[[ $stderr == "li-tile: slide '$DATA/ihc.png' records no resolution (mpp); give --assume-mpp or --level" ]]
	# ihc.png (512 x 512) is stained all over: a fixed threshold finds it
	run --separate-stderr li-tile --coords-only --sthresh 10 --assume-mpp 0.25 --mpp 0.5 "$DATA/ihc.png"
	[ "$status" -eq 0 ]
	[ "$(tail -n +2 <<< "$output" | cut -f3-8)" = $'0\t0\t0\t2\t0.5\t224' ]
	run --separate-stderr li-tile --coords-only --sthresh 10 "$DATA/ihc.png"
	[ "$status" -eq 0 ]
	[ "$(tail -n +2 <<< "$output" | wc -l)" -eq 4 ]
	[ "$(tail -n +2 <<< "$output" | cut -f6,7 | sort -u)" = $'1\tNA' ]
	run --separate-stderr li-tile --coords-only --min-area 100 "$DATA/ihc.png"
	[ "$status" -eq 2 ]
	[[ $stderr == "li-tile: --min-area needs the slide's mpp (or --assume-mpp)"* ]]
	run --separate-stderr li-tile --coords-only --mpp 0.25 "$CMU"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-tile: slide '$CMU' has 0.499 um/px at level 0; 0.25 um/px would need upsampling" ]
	run --separate-stderr li-tile --coords-only --mag 40 "$CMU"
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-tile: slide '$CMU' is scanned at 20x; 40x would need upsampling" ]
}

@test "tiles hold exactly the slide's pixels (plain PNG slide, every PNG level)" {
	for lvl in 0 1 9; do
		run --separate-stderr li-tile --sthresh 10 --png-level "$lvl" --size 200 "$DATA/ihc.png" -o "p$lvl"
		[ "$status" -eq 0 ]
	done
	[ "$(ls p1 | wc -l)" -eq 4 ]
	run /usr/bin/python3 -c '
import os, sys
from PIL import Image
src = Image.open(sys.argv[1]).convert("RGB")
bad = 0
for d in ("p0", "p1", "p9"):
    for f in sorted(os.listdir(d)):
        x = int(f.split("_x")[1].split("_")[0]); y = int(f.split("_y")[1].split(".")[0])
        t = Image.open(os.path.join(d, f))
        bad += t.mode != "RGB" or t.size != (200, 200) or t.tobytes() != src.crop((x, y, x + 200, y + 200)).tobytes()
print(bad)' "$DATA/ihc.png"
	[ "$output" = 0 ]
}

@test "--mag uses the objective power (CMU: 20x)" {
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mag 10 "$CMU"
	[ "$status" -eq 0 ]
	# 10x of a 20x scan: downsample 2, 0.998 um/px, read from level 0 and resized
	[ "$(tail -n +2 <<< "$output" | cut -f5-8 | sort -u)" = $'0\t2\t0.998\t224' ]
	[ "$(tail -n +2 <<< "$output" | wc -l)" -eq $((4 * 6)) ]
}

@test "JPEG tiles with --format jpg --quality" {
	run --separate-stderr li-tile --mpp 1 --format jpg --quality 80 "$IHC" -o j
	[ "$status" -eq 0 ]
	f=$(tail -n +2 <<< "$output" | head -1 | cut -f1)
	[[ $f == j/ihc_2k_pyr_x000000_y000000.jpg ]]
	run li-image info "$f"
	[ "$(tail -1 <<< "$output" | cut -f2-5)" = $'jpeg\t224\t224\t3' ]
}

@test "threads: the same manifest, tile bytes and QC image for 1, 2 and 3 threads" {
	# CMU: one level, the thumbnail read by every thread and level 0 kept
	# for the tiles; ihc at 0.7 um/px: thumbnails from levels 3 and 1,
	# tiles read from level 1 and resized
	local slide args t
	for slide in "$CMU" "$IHC"; do
		args="--mpp 0.5"
		[ "$slide" = "$IHC" ] && args="--mpp 0.7 --min-tissue 0"
		for t in 1 2 3; do
			rm -rf "t$t"
			run --separate-stderr li-tile $args -t "$t" --qc "qc$t.png" "$slide" -o "t$t"
			[ "$status" -eq 0 ] || flunk "-t $t: exit $status: $stderr"
			printf '%s\n' "$output" | sed "s|^t$t/||" > "t$t.tsv"
		done
		[ "$(wc -l < t1.tsv)" -gt 5 ] || flunk "$(cat t1.tsv)"
		for t in 2 3; do
			cmp t1.tsv "t$t.tsv"
			cmp qc1.png "qc$t.png"
			[ "$(ls "t$t" | wc -l)" -eq "$(ls t1 | wc -l)" ]
			for f in t1/*.png; do cmp "$f" "t$t/${f#t1/}"; done
		done
	done
}

@test "resume: existing tiles are kept, missing ones written; --force rewrites" {
	run --separate-stderr li-tile --mpp 1 "$IHC" -o r
	[ "$status" -eq 0 ]
	first=r/ihc_2k_pyr_x000000_y000000.png
	second=r/ihc_2k_pyr_x000896_y000000.png
	cp "$first" keep.png
	echo marker > "$first"
	rm "$second"
	run --separate-stderr li-tile --mpp 1 "$IHC" -o r
	[ "$status" -eq 0 ]
	[ "$(cat "$first")" = marker ]
	[ -s "$second" ]
	run --separate-stderr li-tile --mpp 1 --force "$IHC" -o r
	cmp "$first" keep.png
	[ "$(find r -name '.*' | wc -l)" -eq 0 ]
}

@test "labels from QuPath GeoJSON: class, holes, --label-min" {
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mpp 0.5 "$CMU" \
		--annotations "$FIX/cmu-li.geojson" --positive-class LI
	[ "$status" -eq 0 ]
	[ "$(head -1 <<< "$output")" = "$HEADER"$'\tlabel\tslide_path' ]
	[ "$(awk -F'\t' '$10 == 1 { print $3 "," $4 }' <<< "$output" | tr '\n' ' ')" = \
	  "896,1120 1120,1120 896,1344 1120,1344 " ]
	[ "$(awk -F'\t' 'NR > 1 && $10 != 0 && $10 != 1' <<< "$output" | wc -l)" -eq 0 ]
	# the hole takes 10000 of the 50176 pixels of tile (896, 1120): 0.80 < 0.9
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mpp 0.5 "$CMU" \
		--annotations "$FIX/cmu-li.geojson" --positive-class LI --label-min 0.9
	[ "$(awk -F'\t' '$10 == 1 { print $3 "," $4 }' <<< "$output" | tr '\n' ' ')" = \
	  "1120,1120 896,1344 1120,1344 " ]
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mpp 0.5 "$CMU" \
		--annotations "$FIX/cmu-li.geojson" --positive-class Stroma
	[ "$(awk -F'\t' '$10 == 1' <<< "$output" | wc -l)" -eq 5 ]
	run --separate-stderr li-tile --coords-only --mpp 0.5 "$CMU" \
		--annotations "$FIX/cmu-li.geojson" --positive-class Tumour
	[ "$status" -eq 0 ]
	[[ $stderr == "li-tile: warning: '"*"' has no polygon of class 'Tumour'"* ]]
}

@test "GeoJSON with absurd coordinates: exit 1 naming the feature, no crash (issue 10)" {
	# finite but huge: the rasteriser once wrote at row[INT_MIN] (exit 139)
	cat > huge.geojson <<-'EOF'
	{"type": "FeatureCollection", "features": [
	 {"type": "Feature", "properties": {"classification": {"name": "LI"}}, "geometry":
	  {"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [0, 500]]]}},
	 {"type": "Feature", "properties": {"classification": {"name": "LI"}}, "geometry":
	  {"type": "Polygon", "coordinates": [[[-1.7e308, -1.7e308], [1.7e308, 1.7e308], [-1.7e308, 1.7e308]]]}}]}
	EOF
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mpp 0.5 "$CMU" \
		--annotations huge.geojson --positive-class LI -o out
	[ "$status" -eq 1 ] || flunk "exit $status: $stderr"
	[[ $stderr == "li-tile: 'huge.geojson': feature 2: ring 1: coordinate 1 "*"out of range"* ]] || flunk "$stderr"
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ -z "$output" ]
}

@test "a stripped (non-tiled) TIFF is refused with a message that says so (issue 10)" {
	/usr/bin/python3 -c 'from PIL import Image; Image.new("RGB", (300, 200), (200, 100, 150)).save("stripped.tif")'
	run --separate-stderr li-tile --coords-only stripped.tif -o out
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-tile: cannot open slide 'stripped.tif': a TIFF that OpenSlide does not read (only tiled TIFFs are: convert a stripped one, e.g. with 'vips tiffsave IN OUT --tile --pyramid')" ] || flunk "$stderr"
	run li-tile --help
	[[ $output == *"tiled TIFF"* ]]
}

@test "a slide name with a newline and an escape code: a one-line message, escaped (issue 10)" {
	ln -s "$CMU" "CMU"$'\n\e[2J'"x.tiff"
	run --separate-stderr li-tile --coords-only "CMU"$'\n\e[2J'"x.tiff" -o out
	[ "$status" -eq 1 ]
	[ "$stderr" = "li-tile: slide name 'CMU\\n\\x1b[2Jx' has a tab or newline (use --name)" ] || flunk "$stderr"
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "labels from a mask PNG at a stated downsample agree with the GeoJSON" {
	/usr/bin/python3 -c '
from PIL import Image, ImageDraw
m = Image.new("L", (278, 371), 0)   # CMU at downsample 8
ImageDraw.Draw(m).rectangle([112, 140, 167, 195], fill=255)   # level-0 896..1343, 1120..1567
m.save("mask.png")'
	run --separate-stderr li-tile --coords-only --min-tissue 0 --mpp 0.5 "$CMU" \
		--label-mask mask.png --mask-downsample 8
	[ "$status" -eq 0 ] || flunk "$stderr"
	[ "$(awk -F'\t' '$10 == 1 { print $3 "," $4 }' <<< "$output" | tr '\n' ' ')" = \
	  "896,1120 1120,1120 896,1344 1120,1344 " ]
	run --separate-stderr li-tile --coords-only "$CMU" --label-mask mask.png --mask-downsample 4
	[ "$status" -eq 1 ]
	[[ $stderr == "li-tile: label mask 'mask.png' is 278x371, but the slide at downsample 4 is 555x742" ]]
}

@test "a slide with no tissue: warning with the threshold, QC still written, exit 3" {
	run --separate-stderr li-tile "$FIX/blank.png" -o out --qc qc.png --size 32
	[ "$status" -eq 3 ]
	[ "$output" = "$HEADER" ]
	[[ $stderr == "li-tile: warning: no tissue found in '$FIX/blank.png' (saturation threshold 8, Otsu)" ]]
	[ -s qc.png ]
	[ ! -e out ] || [ "$(find out -type f | wc -l)" -eq 0 ]
	run --separate-stderr li-tile "$FIX/blank.png" --coords-only --sthresh 20 --size 32
	[ "$status" -eq 3 ]
	[[ $stderr == *"(saturation threshold 20)" ]]
	# tissue, but no tile with enough of it
	run --separate-stderr li-tile --coords-only --mpp 0.5 --min-tissue 1 --size 2000 "$CMU"
	[ "$status" -eq 3 ]
	[[ $stderr =~ ^"li-tile: warning: no tile of '$CMU' has tissue >= 1 (saturation threshold "[0-9]+", Otsu)"$ ]]
}

@test "hostile TIFFs: exit 1, one line naming the file, no tiles, older tiles kept" {
	local f n=0
	for f in "$DATA"/hostile/*.tif "$DATA"/hostile/*.tiff; do
		case ${f##*/} in quad-tile.jpg.tiff) continue ;; esac # valid, see below
		rm -rf out && mkdir out && : > out/earlier.png
		run --separate-stderr li-tile -t 2 "$f" -o out --qc qc.png
		[ "$status" -eq 1 ] || flunk "${f##*/}: exit $status" "$stderr"
		[ -z "$output" ] || flunk "${f##*/}: stdout: $output"
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || flunk "${f##*/}: $stderr"
		[[ $stderr == "li-tile: "*"'$f'"* ]] || flunk "${f##*/}: $stderr"
		[ "$(ls -A out)" = earlier.png ] || flunk "${f##*/}: left $(ls -A out)"
		n=$((n + 1))
	done
	[ "$n" -ge 10 ]
	run --separate-stderr li-tile --coords-only "$DATA/hostile/quad-tile.jpg.tiff"
	[ "$status" -eq 0 ]
}

@test "usage errors exit 2" {
	run --separate-stderr li-tile --mpp 0.5 --level 1 "$CMU" -o x
	[ "$status" -eq 2 ]
	[[ $stderr == "li-tile: --mpp, --mag and --level exclude each other"* ]]
	run --separate-stderr li-tile "$CMU"
	[ "$status" -eq 2 ]
	run --separate-stderr li-tile --coords-only --label-mask m.png "$CMU"
	[ "$status" -eq 2 ]
	run --separate-stderr li-tile --coords-only --edge wrap "$CMU"
	[ "$status" -eq 2 ]
	run --separate-stderr li-tile --coords-only --quality 50 "$CMU"
	[ "$status" -eq 2 ]
	run --separate-stderr li-tile --coords-only a b
	[ "$status" -eq 2 ]
}

@test "an output directory that cannot be made, a QC file that cannot be written" {
	: > file
	run --separate-stderr li-tile --mpp 1 "$IHC" -o file/tiles
	[ "$status" -eq 1 ]
	[[ $stderr == "li-tile: cannot create 'file/tiles': Not a directory" ]]
	run --separate-stderr li-tile --mpp 1 --coords-only --qc nodir/qc.png "$IHC"
	[ "$status" -eq 1 ]
	[[ $stderr == "li-tile: "*"nodir/qc.png"* ]]
}
