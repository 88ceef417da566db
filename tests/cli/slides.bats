#!/usr/bin/env bats
# slides.bats: lists whose rows name slide regions (li-tile --coords-only
# manifests, with their slide_path column) instead of tile files: the pixels
# equal li-tile's PNG tiles (CMU-1-Small-Region and the ihc pyramid, with and
# without resizing), li-score / li-train / li-mine --montage / li-image give
# the same results on regions as on the tiles, bad regions are one-line errors
# (or reported skips), a list of 1,000 slides runs under a low open-file
# limit in bounded memory, and li-split still groups by slide.
bats_require_minimum_version 1.5.0
load helpers

# Tiles and coords manifests of both slides at 64 px, and a small model
# trained on the CMU tiles (labels alternate: the model only has to exist).
setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	DATA=${LI_SHARED:-$LI_ROOT/../shared}/data
	CMU=$DATA/CMU-1-Small-Region.tiff
	IHC=$DATA/ihc_2k_pyr.tif
	li-tile --size 64 --mpp 0.7 "$CMU" -o "$PWD/tiles" > cmu.tiles.tsv 2> /dev/null
	li-tile --size 64 --mpp 0.7 --coords-only "$CMU" > cmu.coords.tsv
	awk -F'\t' -v OFS='\t' 'NR == 1 { print $1, "label", "slide"; next } { print $1, NR % 2, $2 }' \
		cmu.tiles.tsv > train.tsv
	li-train --arch resnet10 --width 4 --input-size 64 --epochs 1 --batch 16 --augment none \
		--seed 1 -j 2 -o model.safetensors train.tsv 2> /dev/null
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	D=$BATS_FILE_TMPDIR
	M=$D/model.safetensors
	DATA=${LI_SHARED:-$LI_ROOT/../shared}/data
	CMU=$DATA/CMU-1-Small-Region.tiff
	IHC=$DATA/ihc_2k_pyr.tif
}

# same_pixels DIR_A DIR_B: every image of DIR_A has the same pixels as the
# one of that name in DIR_B (both re-encoded by one encoder: equal bytes then
# mean equal pixels, max difference 0).
same_pixels() {
	local f n=0
	for f in "$1"/*.png; do
		li-image convert "$f" a.png && li-image convert "$2/${f##*/}" b.png || return 1
		cmp -s a.png b.png || { echo "${f##*/} differs"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || { echo "no images in $1"; return 1; }
	echo "$n same"
}

@test "--coords-only adds slide_path; region rows read exactly the pixels of li-tile's PNG tiles" {
	[ "$(head -1 "$D/cmu.coords.tsv" | tr '\t' ' ')" = "path slide x y level downsample mpp size tissue slide_path" ]
	[ "$(tail -n +2 "$D/cmu.coords.tsv" | cut -f10 | sort -u)" = "$CMU" ]
	# CMU at 0.5 um/px (level 0 as it is), 0.7 (resized from level 0); the
	# ihc pyramid at 0.7 (level 1 resized), level 2 as it is, and padded
	# tiles past the edge
	local nth=0 args
	for args in "--mpp 0.5|$CMU" "--mpp 0.7|$CMU" "--mpp 0.7 --min-tissue 0|$IHC" \
		"--level 2 --min-tissue 0|$IHC" "--size 300 --level 1 --min-tissue 0 --edge pad|$IHC"; do
		nth=$((nth + 1))
		read -ra a <<< "${args%|*}"
		li-tile "${a[@]}" "${args#*|}" -o "t$nth" > /dev/null 2>&1
		li-tile "${a[@]}" --coords-only "${args#*|}" > "c$nth.tsv"
		run -0 --separate-stderr li-image extract -o "x$nth" "c$nth.tsv"
		[ "$(ls "x$nth" | wc -l)" -eq "$(($(wc -l < "c$nth.tsv") - 1))" ]
		run -0 same_pixels "t$nth" "x$nth"
	done
	# the comparison sees a difference: another tile under the same name
	a=$(ls t1 | head -1) b=$(ls t1 | tail -1)
	cp "t1/$b" "x1/$a"
	run -1 same_pixels t1 x1
	[[ $output == "$a differs" ]]
}

@test "li-score on the coords manifest: the same probabilities and features as on the PNG tiles" {
	li-score -m "$M" -f tiles.npy "$D/cmu.tiles.tsv" > tiles.scored.tsv
	li-score -m "$M" -f coords.npy --loader-threads 2 "$D/cmu.coords.tsv" > coords.scored.tsv
	[ "$(head -1 coords.scored.tsv | tr '\t' ' ')" = "path slide x y level downsample mpp size tissue slide_path prob pred" ]
	cmp <(cut -f 10,11 tiles.scored.tsv) <(cut -f 11,12 coords.scored.tsv)
	cmp tiles.npy coords.npy
}

@test "LI_SLIDE_READER=openslide: the same features as the tiled-TIFF fast path; a bad value is an error" {
	li-score -m "$M" -f fast.npy "$D/cmu.coords.tsv" > fast.tsv
	LI_SLIDE_READER=openslide li-score -m "$M" -f os.npy "$D/cmu.coords.tsv" > os.tsv
	cmp fast.tsv os.tsv
	cmp fast.npy os.npy
	li-tile --size 64 --level 2 --coords-only "$IHC" > ihc2.tsv
	li-score -m "$M" -f fast2.npy ihc2.tsv > /dev/null
	LI_SLIDE_READER=openslide li-score -m "$M" -f os2.npy ihc2.tsv > /dev/null
	cmp fast2.npy os2.npy
	run -1 --separate-stderr env LI_SLIDE_READER=cairo li-image check - < "$D/cmu.coords.tsv"
	[[ "$stderr" == "li-image: 'stdin' line 2: region "*"LI_SLIDE_READER is 'cairo', not 'auto' or 'openslide'" ]] || flunk "$stderr"
}

@test "li-train on regions trains the same model as on the tiles; a list may mix files and regions" {
	awk -F'\t' -v OFS='\t' 'NR == 1 { print $0, "label"; next } { print $0, NR % 2 }' \
		"$D/cmu.coords.tsv" > train.coords.tsv
	common=(--arch resnet10 --width 4 --input-size 64 --epochs 1 --batch 16 --augment paper --seed 3 -j 2)
	li-train "${common[@]}" -o a.safetensors "$D/train.tsv" 2> /dev/null
	li-train "${common[@]}" --valid train.coords.tsv -o b.safetensors train.coords.tsv 2> /dev/null
	li-score -m a.safetensors "$D/cmu.tiles.tsv" | cut -f 10 > a.prob
	li-score -m b.safetensors "$D/cmu.tiles.tsv" | cut -f 10 > b.prob
	cmp a.prob b.prob
	# half the rows as files (slide_path empty), half as regions
	awk -F'\t' -v OFS='\t' 'NR > 1 && NR % 2 { $10 = ""; $1 = "'"$D"'/tiles/" $1 } 1' \
		train.coords.tsv > mixed.tsv
	grep -q $'\t\t' mixed.tsv
	li-train "${common[@]}" -o c.safetensors mixed.tsv 2> /dev/null
	li-score -m c.safetensors "$D/cmu.tiles.tsv" | cut -f 10 > c.prob
	cmp a.prob c.prob
}

@test "li-mine --montage draws region rows as it draws their tiles" {
	li-score -m "$M" -f pool.npy "$D/cmu.coords.tsv" > /dev/null
	head -4 "$D/cmu.tiles.tsv" > q.tsv
	li-score -m "$M" -f q.npy q.tsv > /dev/null
	li-mine knn --query q.npy --query-list q.tsv --pool pool.npy --pool-list "$D/cmu.coords.tsv" \
		-k 3 --montage coords.png -o mined.coords.tsv 2> /dev/null
	li-mine knn --query q.npy --query-list q.tsv --pool pool.npy --pool-list "$D/cmu.tiles.tsv" \
		-k 3 --montage tiles.png -o mined.tiles.tsv 2> /dev/null
	cmp coords.png tiles.png
	# the mined rows keep slide_path: they are regions for li-train
	[ "$(head -1 mined.coords.tsv | cut -f 10,11)" = $'slide_path\tlabel' ]
}

@test "li-image check reads every region of a list" {
	run -0 --separate-stderr li-image check - < "$D/cmu.coords.tsv"
	[ -z "$stderr" ]
	awk -F'\t' -v OFS='\t' 'NR == 3 { $5 = 3 } 1' "$D/cmu.coords.tsv" > bad.tsv
	run -1 --separate-stderr li-image check - < bad.tsv
	[ "$stderr" = "li-image: 'stdin' line 3: region x $(sed -n 3p bad.tsv | cut -f3) y $(sed -n 3p bad.tsv | cut -f4) level 3 size 64 of slide '$CMU': slide '$CMU' has no level 3 (levels 0-0)" ] || flunk "$stderr"
}

# bad ROW FIELD VALUE: the CMU manifest with field FIELD of data row ROW set.
bad() {
	awk -F'\t' -v OFS='\t' -v r="$(($1 + 1))" -v f="$2" -v v="$3" 'NR == r { $f = v } 1' \
		"$D/cmu.coords.tsv" > bad.tsv
}

@test "a bad region: one line naming the list row, the region and the slide; exit 1; no output" {
	mkdir out
	x=$(sed -n 4p "$D/cmu.coords.tsv" | cut -f3) y=$(sed -n 4p "$D/cmu.coords.tsv" | cut -f4)
	where="'bad.tsv' line 4: region x $x y $y"
	bad 3 10 missing.svs
	run -1 --separate-stderr li-score -m "$M" -o out/s.tsv -f out/f.npy bad.tsv
	[ "$stderr" = "li-score: $where level 0 size 64 of slide 'missing.svs': cannot open slide 'missing.svs': No such file or directory" ] || flunk "$stderr"
	bad 3 5 1
	run -1 --separate-stderr li-score -m "$M" -o out/s.tsv bad.tsv
	[ "$stderr" = "li-score: $where level 1 size 64 of slide '$CMU': slide '$CMU' has no level 1 (levels 0-0)" ] || flunk "$stderr"
	bad 3 3 5000
	run -1 --separate-stderr li-score -m "$M" -o out/s.tsv bad.tsv
	[ "$stderr" = "li-score: 'bad.tsv' line 4: region x 5000 y $y level 0 size 64 of slide '$CMU': the corner is outside the slide (level 0 is 2220x2967)" ] || flunk "$stderr"
	bad 3 5 -1
	run -1 --separate-stderr li-score -m "$M" -o out/s.tsv bad.tsv
	[ "$stderr" = "li-score: 'bad.tsv' line 4: level '-1' is not a non-negative integer" ] || flunk "$stderr"
	bad 3 8 64x
	run -1 --separate-stderr li-train --arch resnet10 --width 4 --input-size 64 --epochs 1 -o out/m.safetensors bad.tsv
	[ "$stderr" = "li-train: 'bad.tsv': no column 'label'" ] || flunk "$stderr"
	awk -F'\t' -v OFS='\t' 'NR == 1 { print $0, "label"; next } { print $0, NR % 2 }' bad.tsv > badl.tsv
	run -1 --separate-stderr li-train --arch resnet10 --width 4 --input-size 64 --epochs 1 -o out/m.safetensors badl.tsv
	[ "$stderr" = "li-train: 'badl.tsv' line 4: size '64x' is not an integer from 1 to 16384" ] || flunk "$stderr"
	bad 3 3 5000
	awk -F'\t' -v OFS='\t' 'NR == 1 { print $0, "label"; next } { print $0, NR % 2 }' bad.tsv > badl.tsv
	run -1 --separate-stderr li-train --arch resnet10 --width 4 --input-size 64 --epochs 1 -o out/m.safetensors badl.tsv
	[[ "$stderr" == "li-train: 'badl.tsv' line 4: region x 5000 y $y level 0 size 64 of slide '$CMU': the corner is outside"* ]] || flunk "$stderr"
	cut -f 1-9 "$D/cmu.coords.tsv" | paste - <(cut -f 10 "$D/cmu.coords.tsv" | sed 1s/.*/slide_path/) |
		cut -f 1-4,6- > nolevel.tsv
	run -1 --separate-stderr li-score -m "$M" -o out/s.tsv nolevel.tsv
	[ "$stderr" = "li-score: 'nolevel.tsv': slide_path needs the columns x, y, level, downsample and size (no 'level')" ] || flunk "$stderr"
	run -0 ls -A out
	[ -z "$output" ] || flunk "left behind: $output"
}

@test "a region read error on a damaged slide; --skip-bad reports it and keeps the slide's other regions" {
	bt=$DATA/hostile/badtile.tif
	{ printf 'path\tslide_path\tx\ty\tlevel\tdownsample\tsize\n'
	  for y in 0 256 512 768 1024 1280 1536 1792; do for x in 0 256 512 768 1024 1280 1536 1792; do
		printf 'b_%d_%d.png\t%s\t%d\t%d\t0\t4\t64\n' "$x" "$y" "$bt" "$x" "$y"; done; done; } > bt.tsv
	run -1 --separate-stderr li-score -m "$M" -o s.tsv bt.tsv
	[[ "$stderr" == "li-score: 'bt.tsv' line "*": region x "*" of slide '$bt': cannot read slide '$bt': level 0 tile ("*") at offset "*": corrupt JPEG data: Premature end of JPEG file" ]] || flunk "$stderr"
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ ! -e s.tsv ]
	run -0 --separate-stderr li-score -m "$M" --skip-bad -f f.npy -o s.tsv bt.tsv
	# one damaged tile: one region skipped (the slide is opened again for the
	# next: OpenSlide's handle is dead after an error)
	nbad=$(grep -c "warning: skipping 'bt.tsv' line .*: cannot read slide" <<< "$stderr")
	[ "$nbad" -eq 1 ] || flunk "$stderr"
	[[ "$stderr" == *"li-score: warning: skipped $nbad of 64 images" ]] || flunk "$stderr"
	[ "$(($(wc -l < s.tsv) - 1))" -eq $((64 - nbad)) ]
	# the rows kept are real pixels: scored as the same regions read alone
	tail -n +2 s.tsv | cut -f 1-7 | sed '1i path\tslide_path\tx\ty\tlevel\tdownsample\tsize' > good.tsv
	li-score -m "$M" good.tsv | cut -f 8 > good.prob
	cmp good.prob <(cut -f 8 s.tsv)
}

@test "a list of 1,000 slides: at most 4 open per loader thread, under ulimit -n 64, bounded memory" {
	# 1,000 names of the ihc pyramid (OpenSlide opens it in about a
	# millisecond), one 224-px level-0 region each: with every slide kept
	# open this run peaks at 1.3 GB; with 4 per thread at about 60 MB
	mkdir s
	for k in $(seq -w 1 1000); do ln -s "$IHC" "s/slide$k.tif"; done
	li-tile --size 224 --level 0 --min-tissue 0 --coords-only "$IHC" > c.tsv
	row=$(sed -n 12p c.tsv | cut -f 2-9)
	{ head -1 c.tsv
	  for f in s/*.tif; do printf 'r_%s.png\t%s\t%s\n' "${f#s/}" "$row" "$f"; done; } > many.tsv
	[ "$(($(wc -l < many.tsv) - 1))" -eq 1000 ]
	run -0 --separate-stderr bash -c 'ulimit -n 64 && exec /usr/bin/time -f "maxrss %M" li-score -m "$1" --loader-threads 2 -j 1 -o many.scored.tsv many.tsv' _ "$M"
	rss=$(grep -o 'maxrss [0-9]*' <<< "$stderr" | cut -d' ' -f2)
	[ "$(($(wc -l < many.scored.tsv) - 1))" -eq 1000 ]
	# every row is the same region: one probability
	[ "$(tail -n +2 many.scored.tsv | cut -f 11 | sort -u | wc -l)" -eq 1 ]
	[ "$rss" -lt 300000 ] || flunk "max RSS $rss KB"
}

@test "li-split groups a coords manifest by slide" {
	li-tile --size 64 --mpp 2 --min-tissue 0 --coords-only --name ihcA "$IHC" > a.tsv
	li-tile --size 64 --mpp 2 --min-tissue 0 --coords-only --name ihcB "$IHC" > b.tsv
	li-tile --size 64 --mpp 2 --coords-only --name cmuA "$CMU" > c.tsv
	li-tile --size 64 --mpp 2 --coords-only --name cmuB "$CMU" > d.tsv
	li-tile --size 64 --mpp 2 --coords-only --name cmuC "$CMU" > e.tsv
	{ head -1 a.tsv | sed 's/$/\tlabel/'
	  for f in a b c d e; do tail -n +2 "$f.tsv" | awk -v OFS='\t' -v l=$([ $f = a ] || [ $f = c ] && echo 1 || echo 0) '{ print $0, l }'; done; } > all.tsv
	run -0 --separate-stderr li-split --seed 1 --test-frac 0.3 --valid-frac 0.3 -o lists all.tsv
	for s in train valid test; do
		[ "$(head -1 lists/$s.tsv)" = "$(head -1 all.tsv)" ]
		tail -n +2 lists/$s.tsv | cut -f 2 | sort -u > $s.slides
	done
	[ "$(cat train.slides valid.slides test.slides | sort | uniq -d | wc -l)" -eq 0 ]
	[ "$(cat train.slides valid.slides test.slides | sort -u | wc -l)" -eq 5 ]
	[ "$(cat lists/train.tsv lists/valid.tsv lists/test.tsv | grep -vc '^path')" -eq "$(($(wc -l < all.tsv) - 1))" ]
}
