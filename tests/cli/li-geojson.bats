#!/usr/bin/env bats
# li-geojson.bats: tiles of the real slides (CMU-1-Small-Region at 0.5 and
# 0.6 um/px, the ihc pyramid at level 1) exported as QuPath GeoJSON and
# checked with jq against QuPath's structure (its reader's rules, see
# qupath_ok), the round trip through a simulated QuPath export with edited
# classes (labels change exactly where edited), li-tile --annotations on the
# reviewed file, slides, classes, and bad input (one line naming the file
# and feature, exit 1, no output file).
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	DATA=${LI_SHARED:-$LI_ROOT/../shared}/data
	CMU=$DATA/CMU-1-Small-Region.tiff
	IHC=$DATA/ihc_2k_pyr.tif
	[ -f "$CMU" ] && [ -f "$IHC" ] || { echo "missing $CMU or $IHC" >&2; return 1; }
	command -v jq > /dev/null || { echo "jq is not installed" >&2; return 1; }
}

# manifest SLIDE ARGS...: li-tile's coords-only manifest with a prob column
# (a fixed spread of values in [0, 1), some of them >= 0.5) in column 10, in
# place of the manifest's last column, slide_path (the tests address columns
# by number; the export of a manifest with slide_path is tested on its own).
manifest() {
	local slide=$1
	shift
	li-tile --coords-only "$@" "$slide" | awk -F'\t' 'BEGIN { OFS = "\t" }
		NR == 1 { if ($NF != "slide_path") exit 1; $NF = "prob"; print; next }
		{ $NF = (NR * 37 % 100) / 100; print }'
}

# qupath_ok FILE: exit 0 when FILE follows what QuPath's GeoJSON reader
# (PathObjectTypeAdapters, GsonTools, ROITypeAdapters; 0.4 and later)
# accepts, else print what does not. JTS needs rings of 4 or more
# positions, closed; a class has a name (or names) and its colour is 3
# integers; measurements map names to numbers (or are a list of name and
# value); isLocked is a boolean.
qupath_ok() {
	jq -r '
	def num: type == "number";
	def pos: type == "array" and (length == 2 or length == 3) and all(.[]; num);
	def ring: type == "array" and length >= 4 and all(.[]; pos) and .[0] == .[-1];
	def rgb: type == "array" and length == 3 and all(.[]; num and . == floor and . >= 0 and . <= 255);
	def cls: type == "object" and ((.name | type) == "string" or (.names | type) == "array") and
		((has("color") | not) or (.color | rgb));
	def meas: (type == "object" and all(.[]; num)) or
		(type == "array" and all(.[]; (.name | type) == "string" and (.value | num)));
	def opt(k; f): (has(k) | not) or (.[k] | f);
	if .type != "FeatureCollection" or (.features | type) != "array" then "not a FeatureCollection"
	else .features | to_entries[] | .key as $i | .value |
		if .type != "Feature" then "feature \($i): type"
		elif .geometry.type != "Polygon" or (.geometry.coordinates | type) != "array" or
		     (.geometry.coordinates | length) < 1 or (.geometry.coordinates | all(.[]; ring) | not)
		then "feature \($i): geometry"
		elif (.properties | type) != "object" then "feature \($i): properties"
		elif (.properties.objectType | IN("tile", "detection", "annotation") | not) then "feature \($i): objectType"
		elif (.properties | opt("classification"; cls) | not) then "feature \($i): classification"
		elif (.properties | opt("measurements"; meas) | not) then "feature \($i): measurements"
		elif (.properties | opt("isLocked"; type == "boolean") | not) then "feature \($i): isLocked"
		elif (.properties | opt("name"; type == "string") | not) then "feature \($i): name"
		else empty end
	end' "$1"
}

# as_tsv FILE: one line per feature: name, x0, y0, side, class, prob
# measurement, ring area by the shoelace formula.
as_tsv() {
	jq -r '.features[] | .geometry.coordinates[0] as $r |
		([range(0; ($r | length) - 1) as $i | $r[$i][0] * $r[$i + 1][1] - $r[$i + 1][0] * $r[$i][1]] | add / 2) as $a |
		[.properties.name, ($r | map(.[0]) | min), ($r | map(.[1]) | min),
		 (($r | map(.[0]) | max) - ($r | map(.[0]) | min)), .properties.classification.name,
		 .properties.measurements.prob, $a] | @tsv' "$1"
}

# reexport IN OUT [JQ]: what QuPath writes when it exports the objects it
# imported from IN: a UUID each, the ring from its bounds in JTS's envelope
# order (the other way round) with 2 decimals, the properties as it writes
# them; JQ (applied to the feature array first) edits classes.
reexport() {
	jq "${3:-.}" "$1" | jq '
	def r2: (. * 100 + 0.5 | floor) / 100;
	.features |= [to_entries[] | .key as $i | .value |
		.geometry.coordinates[0] as $r |
		($r | map(.[0]) | min | r2) as $x0 | ($r | map(.[1]) | min | r2) as $y0 |
		($r | map(.[0]) | max | r2) as $x1 | ($r | map(.[1]) | max | r2) as $y1 |
		{type: "Feature", id: "5a3c8e1f-0000-4000-8000-\(1000000000000 + $i)",
		 geometry: {type: "Polygon", coordinates: [[[$x0, $y0], [$x0, $y1], [$x1, $y1], [$x1, $y0], [$x0, $y0]]]},
		 properties: .properties}]' > "$2"
}

# flip I...: a jq edit that swaps LI and Negative on features I (from 0)
flip() {
	local set
	set=$(IFS=,; echo "$*")
	echo ".features |= [to_entries[] | if (.key | IN($set)) then .value.properties.classification =
		(if .value.properties.classification.name == \"LI\" then {name: \"Negative\", color: [112, 112, 225]}
		 else {name: \"LI\", color: [237, 0, 96]} end) else . end | .value]"
}

@test "export: QuPath's structure, one square per tile in level-0 pixels, class from prob, measurements" {
	manifest "$CMU" --mpp 0.5 > s.tsv
	n=$(($(wc -l < s.tsv) - 1))
	[ "$n" -ge 25 ]
	run --separate-stderr li-geojson s.tsv -o s.geojson
	[ "$status" -eq 0 ] || flunk "$stderr"
	[ -z "$output" ]
	[[ $stderr == "li-geojson: $n tiles of slide 'CMU-1-Small-Region': "* ]] || flunk "$stderr"
	run qupath_ok s.geojson
	[ "$status" -eq 0 ] && [ -z "$output" ] || flunk "not what QuPath reads:" "$output"
	[ "$(jq '.features | length' s.geojson)" -eq "$n" ]
	# every feature against its row: name, square, class at 0.5, prob,
	# counter-clockwise as written (RFC 7946), the colours QuPath gives
	as_tsv s.geojson > f.tsv
	run awk -F'\t' 'NR == FNR { if (FNR > 1) { name[FNR - 1] = $1; x[FNR - 1] = $3; y[FNR - 1] = $4;
			s[FNR - 1] = $6 * $8; p[FNR - 1] = $10 }; next }
		{ sub(/\.png$/, "", name[FNR])
		  want = (p[FNR] >= 0.5 ? "LI" : "Negative")
		  if ($1 != name[FNR] || $2 != x[FNR] || $3 != y[FNR] || $4 != s[FNR] || $5 != want ||
		      $6 != p[FNR] || $7 != s[FNR] * s[FNR]) { print "feature " FNR ": " $0; exit 1 } }
		END { if (FNR != length(name)) { print FNR " features"; exit 1 } }' s.tsv f.tsv
	[ "$status" -eq 0 ] || flunk "$output"
	jq -e '[.features[].properties | select(.objectType != "tile" or .isLocked != true)] | length == 0' s.geojson
	jq -e '[.features[].properties.classification | select(.name == "LI" and .color != [237, 0, 96] or
		.name == "Negative" and .color != [112, 112, 225])] | length == 0' s.geojson
	# the numeric columns are the measurements; path and slide are not
	jq -e '[.features[].properties.measurements | keys_unsorted] | unique ==
		[["x", "y", "level", "downsample", "mpp", "size", "tissue", "prob"]]' s.geojson
	jq -e '[.features[].properties.measurements | .x, .size] | all(type == "number")' s.geojson
	# one feature a line, so grep and diff work on it
	[ "$(wc -l < s.geojson)" -eq $((n + 2)) ]
}

@test "export: --threshold, --object, --legacy, --tile, stdin, a pyramid level" {
	manifest "$IHC" --level 1 > ihc.tsv
	run --separate-stderr li-geojson --threshold 0.9 --object detection --legacy < ihc.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	printf '%s\n' "$output" > ihc.geojson
	run qupath_ok ihc.geojson
	[ "$status" -eq 0 ] && [ -z "$output" ] || flunk "$output"
	jq -e '[.features[].properties | .objectType, .object_type] | unique == ["detection"]' ihc.geojson
	# level 1 of the pyramid: 224 pixels of downsample 2 are 448 at level 0
	jq -e '[.features[].geometry.coordinates[0] | .[2][0] - .[0][0], .[2][1] - .[0][1]] | unique == [448]' ihc.geojson
	jq -e '[.features[].properties | (.measurements | map(select(.name == "prob")) | .[0].value) as $p |
		select(($p >= 0.9) != (.classification.name == "LI"))] | length == 0' ihc.geojson
	jq -e '[.features[].properties.measurements[0] | keys] | unique == [["name", "value"]]' ihc.geojson
	# --tile: a list without size and downsample
	cut -f 1,3,4,10 ihc.tsv > bare.tsv
	run --separate-stderr li-geojson --tile 448 --object annotation bare.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	printf '%s\n' "$output" > bare.geojson
	cmp <(jq -c '.features[].geometry' bare.geojson) <(jq -c '.features[].geometry' ihc.geojson)
	jq -e '[.features[].properties.objectType] | unique == ["annotation"]' bare.geojson
	run -1 --separate-stderr li-geojson bare.tsv
	[ "$stderr" = "li-geojson: 'bare.tsv': no columns 'size' and 'downsample' (give --tile)" ]
}

@test "export: classes from a column, their colours QuPath's, an empty value unclassified" {
	manifest "$CMU" --mpp 0.5 | awk -F'\t' 'BEGIN { OFS = "\t"; split("Tumor,Stroma,,1,0,Lymphatic invasion", c, ",") }
		NR == 1 { print $0, "label", "kind"; next } { print $0, NR % 2, c[NR % 6 + 1] }' > k.tsv
	run --separate-stderr li-geojson --class-column kind k.tsv -o k.geojson
	[ "$status" -eq 0 ] || flunk "$stderr"
	run qupath_ok k.geojson
	[ "$status" -eq 0 ] && [ -z "$output" ] || flunk "$output"
	jq -r '.features[].properties.classification | if . == null then "none" else "\(.name) \(.color)" end' \
		k.geojson | sort -u > classes.txt
	# Tumor and Stroma are QuPath's own classes; the others get the colour
	# QuPath would pick (java.util.Random over the name's hashCode)
	cat > want.txt <<-'EOF'
	LI [237,0,96]
	Lymphatic invasion [240,77,192]
	Negative [112,112,225]
	Stroma [150,200,150]
	Tumor [200,0,0]
	none
	EOF
	diff want.txt classes.txt
	# label 0/1 is the negative/positive class; --positive renames it
	run --separate-stderr li-geojson -c label --positive 'Lymphatic invasion' --negative Other k.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	printf '%s\n' "$output" > l.geojson
	[ "$(jq -r '[.features[].properties.classification.name] | unique | join(",")' l.geojson)" = "Lymphatic invasion,Other" ]
	# a class name QuPath would change is refused, naming the line
	printf 'path\tx\ty\tsize\tdownsample\tkind\na.png\t0\t0\t224\t1\tA:B\n' > ab.tsv
	run -1 --separate-stderr li-geojson -c kind ab.tsv
	[ "$stderr" = "li-geojson: 'ab.tsv' line 2: kind 'A:B' is not a class name QuPath keeps as it is (it would be 'A: B')" ]
	run -2 --separate-stderr li-geojson --positive ' LI' ab.tsv
	[[ $stderr == "li-geojson: --positive: ' LI' is not a class name QuPath keeps as it is (it would be 'LI')"* ]] || flunk "$stderr"
	run -2 --separate-stderr li-geojson --negative Unclassified ab.tsv
	[[ $stderr == *"(it would be unclassified)"* ]] || flunk "$stderr"
	run -1 --separate-stderr li-geojson ab.tsv
	[ "$stderr" = "li-geojson: 'ab.tsv': no column 'prob' to classify by (score the list with li-score, or give --class-column)" ]
}

@test "slides: one is chosen by --slide, several without it are an error" {
	manifest "$CMU" --mpp 0.5 > a.tsv
	manifest "$IHC" --level 1 | tail -n +2 > b.tsv
	cat a.tsv b.tsv > ab.tsv
	run -1 --separate-stderr li-geojson ab.tsv -o x.geojson
	[[ $stderr == "li-geojson: 'ab.tsv': rows of several slides ('CMU-1-Small-Region' on line 2, 'ihc_2k_pyr' on line "*"): choose one with --slide" ]] || flunk "$stderr"
	[ ! -e x.geojson ]
	run --separate-stderr li-geojson --slide ihc_2k_pyr ab.tsv -o x.geojson
	[ "$status" -eq 0 ] || flunk "$stderr"
	[ "$(jq '.features | length' x.geojson)" -eq $(wc -l < b.tsv) ]
	[ "$(jq -r '[.features[].properties.name | startswith("ihc_2k_pyr_")] | all' x.geojson)" = true ]
	run -1 --separate-stderr li-geojson --slide nothere ab.tsv
	[ "$stderr" = "li-geojson: 'ab.tsv': no rows for slide 'nothere' (column 'slide')" ]
	cut -f 1,3- a.tsv > noslide.tsv
	run -1 --separate-stderr li-geojson --slide CMU-1-Small-Region noslide.tsv
	[ "$stderr" = "li-geojson: 'noslide.tsv': no column 'slide' to choose slide 'CMU-1-Small-Region' by" ]
	# a header-only list (li-mine fp found nothing): an empty collection
	head -1 a.tsv > empty.tsv
	run --separate-stderr li-geojson empty.tsv
	[ "$status" -eq 0 ]
	[ "$(jq -c . <<< "$output")" = '{"type":"FeatureCollection","features":[]}' ]
	[[ $stderr == *"warning: 'empty.tsv': no rows"* ]] || flunk "$stderr"
}

@test "round trip: classes edited in QuPath change exactly those labels, through its re-export" {
	# CMU at 0.6 um/px: sides of 269.3376 pixels, which QuPath rounds
	manifest "$CMU" --mpp 0.6 > s.tsv
	n=$(($(wc -l < s.tsv) - 1))
	li-geojson s.tsv > s.geojson
	reexport s.geojson r.geojson "$(flip 2 5 11 $((n - 1)))"
	# the re-export really moved the corners (2 decimals) and reversed the ring
	[ "$(jq -c '.features[0].geometry.coordinates[0][2]' s.geojson)" = "[1077.3376,538.3376]" ]
	[ "$(jq -c '.features[0].geometry.coordinates[0][2]' r.geojson)" = "[1077.34,538.34]" ]
	[ "$(jq -c '.features[0].geometry.coordinates[0][1]' r.geojson)" = "[808,538.34]" ]
	run --separate-stderr li-geojson --import r.geojson s.tsv -o out.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == "li-geojson: 'r.geojson': $n of $n tiles of slide 'CMU-1-Small-Region' reviewed: label set on $n,"* ]] || flunk "$stderr"
	# every column kept, label appended: the prediction, except on the edited rows
	[ "$(head -1 out.tsv)" = "$(head -1 s.tsv)"$'\tlabel' ]
	cmp <(cut -f 1-10 out.tsv) s.tsv
	run awk -F'\t' -v last=$((n - 1)) 'NR > 1 { i = NR - 2; edited = i == 2 || i == 5 || i == 11 || i == last
		want = ($10 >= 0.5) != edited; if ($11 != want) { print "row " i ": " $0; exit 1 } }' out.tsv
	[ "$status" -eq 0 ] || flunk "$output"

	# a labelled list reviewed by its labels: only the edited ones change
	awk -F'\t' 'BEGIN { OFS = "\t" } NR == 1 { print $0, "label"; next } { print $0, NR % 3 == 0 }' s.tsv > l.tsv
	li-geojson -c label l.tsv > l.geojson
	reexport l.geojson rl.geojson "$(flip 0 7)"
	run --separate-stderr li-geojson --import rl.geojson l.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"label set on 0, changed on 2, the same on $((n - 2));"* ]] || flunk "$stderr"
	printf '%s\n' "$output" > lout.tsv
	diff <(cut -f 11 l.tsv) <(cut -f 11 lout.tsv) > d.txt || true
	[ "$(grep -c '^[<>]' d.txt)" -eq 4 ] || flunk "$(cat d.txt)"
	run awk -F'\t' 'NR == FNR { l[FNR] = $11; next }
		FNR > 1 { i = FNR - 2; if (($11 != l[FNR]) != (i == 0 || i == 7)) { print "row " i; exit 1 } }' l.tsv lout.tsv
	[ "$status" -eq 0 ] || flunk "$output"
	# exported again, the reviewed list gives back the reviewed classes
	li-geojson -c label lout.tsv > again.geojson
	cmp <(jq -c '[.features[].properties.classification.name]' again.geojson) \
		<(jq -c '[.features[].properties.classification.name]' rl.geojson)
}

@test "round trip: Ignore* drops a tile, other classes go into a column of names" {
	manifest "$IHC" --level 1 > s.tsv
	li-geojson s.tsv > s.geojson
	jq '.features[1].properties.classification = {name: "Ignore*", color: [180, 180, 180]} |
	    .features[2].properties.classification = {names: ["Tumor", "Positive"]}' s.geojson > r.geojson
	run -1 --separate-stderr li-geojson --import r.geojson s.tsv
	[ "$stderr" = "li-geojson: 'r.geojson': feature 3: class 'Tumor: Positive' is not 'LI', 'Negative' or 'Ignore*' (see --positive, --negative, --ignore)" ]
	# into a column of names: kept as QuPath names it; the positive class is 1
	run --separate-stderr li-geojson --import r.geojson -c kind s.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	printf '%s\n' "$output" > k.tsv
	[ "$(wc -l < k.tsv)" -eq $(($(wc -l < s.tsv) - 1)) ]
	[ "$(awk -F'\t' 'NR == 3 { print $11 }' k.tsv)" = "Tumor: Positive" ]
	run awk -F'\t' 'NR == FNR { if (FNR > 1) p[$1] = $10 >= 0.5; next }
		FNR > 1 && $11 != "Tumor: Positive" && $11 != p[$1] { print; exit 1 }' s.tsv k.tsv
	[ "$status" -eq 0 ] || flunk "$output"
	# the ignored tile (the second row) is gone
	[ "$(cut -f 1 k.tsv | grep -c "$(sed -n 3p s.tsv | cut -f 1)")" -eq 0 ]
	# unclassified: an error for label, empty in a column of names
	jq 'del(.features[0].properties.classification)' s.geojson > u.geojson
	run -1 --separate-stderr li-geojson --import u.geojson s.tsv
	[ "$stderr" = "li-geojson: 'u.geojson': feature 1 has no class (give it 'LI', 'Negative' or 'Ignore*')" ]
	run --separate-stderr li-geojson --import u.geojson -c kind s.tsv
	[ "$status" -eq 0 ] && [ "$(awk -F'\t' 'NR == 2 { print $11 }' <<< "$output")" = "" ]
}

@test "missing features: rows kept as they were (a warning when unlabelled), or --drop-missing" {
	manifest "$CMU" --mpp 0.5 > s.tsv
	n=$(($(wc -l < s.tsv) - 1))
	li-geojson s.tsv > s.geojson
	jq 'del(.features[0, 4])' s.geojson > part.geojson
	run --separate-stderr li-geojson --import part.geojson s.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"2 without a feature kept"* && $stderr == *"warning: 2 rows of slide 'CMU-1-Small-Region' have no feature in 'part.geojson' and no label"* ]] || flunk "$stderr"
	printf '%s\n' "$output" > kept.tsv
	[ "$(awk -F'\t' 'NR == 2 || NR == 6 { printf "[%s]", $11 }' kept.tsv)" = "[][]" ]
	run --separate-stderr li-geojson --import part.geojson --drop-missing s.tsv
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq $((n - 1)) ]
	# other slides' rows pass through unchanged
	manifest "$IHC" --level 1 | tail -n +2 > b.tsv
	cat s.tsv b.tsv > ab.tsv
	run --separate-stderr li-geojson --import s.geojson --slide CMU-1-Small-Region --drop-missing ab.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	printf '%s\n' "$output" > ab.out.tsv
	cmp <(grep ihc_2k_pyr ab.out.tsv | cut -f 1-10) b.tsv
	[ "$(grep ihc_2k_pyr ab.out.tsv | cut -f 11 | sort -u)" = "" ]
}

@test "li-tile --annotations reads the reviewed file: the same labels as --import" {
	manifest "$CMU" --mpp 0.5 > s.tsv
	li-geojson s.tsv > s.geojson
	reexport s.geojson r.geojson "$(flip 1 3 8)"
	li-geojson --import r.geojson s.tsv > imported.tsv
	run --separate-stderr li-tile --coords-only --mpp 0.5 --annotations r.geojson --positive-class LI "$CMU"
	[ "$status" -eq 0 ] || flunk "$stderr"
	printf '%s\n' "$output" > tiled.tsv
	[ "$(tail -n +2 imported.tsv | cut -f 11 | sort -u | tr '\n' ,)" = "0,1," ]
	cmp <(cut -f 1,10 tiled.tsv) <(cut -f 1,11 imported.tsv)
}

@test "bad GeoJSON: one line naming the file and feature, exit 1, no output file" {
	manifest "$CMU" --mpp 0.5 > s.tsv
	li-geojson s.tsv > s.geojson
	echo keep > out.tsv
	n=$(jq '.features | length' s.geojson)
	# each line: a jq edit ## the message (N+1: the feature added last)
	while IFS= read -r line; do
		edit=${line%% ## *} want=${line#* ## } want=${want//N+1/$((n + 1))}
		jq "$edit" s.geojson > bad.geojson
		run --separate-stderr li-geojson --import bad.geojson s.tsv -o out.tsv
		[ "$status" -eq 1 ] || flunk "$edit: exit $status: $stderr"
		[ "$stderr" = "li-geojson: 'bad.geojson': $want" ] || flunk "$edit" "got:  $stderr" "want: li-geojson: 'bad.geojson': $want"
		[ "$(cat out.tsv)" = keep ] || flunk "$edit: out.tsv changed"
		[ -z "$(ls -A | grep '^\.out\.tsv')" ] || flunk "$edit: a temporary file is left"
	done <<-'EOF'
	.features[2].geometry.coordinates[0][1][0] = 1e12 ## feature 3: coordinate 1e+12 is out of range (at most 1e+09 pixels from the origin)
	.features[2].geometry = {type: "Point", coordinates: [5, 5]} ## feature 3: a Point, not a Polygon (see --skip-unmatched)
	.features[2].geometry.type = "MultiPolygon" | .features[2].geometry.coordinates |= [.] ## feature 3: a MultiPolygon, not a Polygon (see --skip-unmatched)
	.features[2].geometry = null ## feature 3: no geometry (see --skip-unmatched)
	.features[2].geometry.coordinates[0] |= .[0:4] ## feature 3: ring 1 is not closed (its last position must repeat the first)
	.features[2].geometry.coordinates[0][1] = [1000, 1000] ## feature 3: not an axis-aligned rectangle (see --skip-unmatched)
	.features[2].geometry.coordinates[0] |= map([.[0] + 1, .[1]]) ## feature 3: the rectangle (897, 448)-(1121, 672) is no tile of slide 'CMU-1-Small-Region' in 's.tsv' (see --skip-unmatched)
	.features += [.features[5]] ## features 6 and N+1 are the same tile (line 7 of 's.tsv')
	.features[0].properties.classification = 3 ## feature 1: "classification" is neither a string nor an object
	.features[0].type = "Thing" ## feature 1: not a GeoJSON Feature
	EOF
	# NaN and Infinity are not JSON; QuPath writes them, so they are read, and refused as coordinates
	sed '4s/\[\[\[[0-9]*,/[[[NaN,/' s.geojson > bad.geojson
	run -1 --separate-stderr li-geojson --import bad.geojson s.tsv -o out.tsv
	[ "$stderr" = "li-geojson: 'bad.geojson': feature 3: a coordinate is not a finite number (NaN, infinite or not a number)" ] || flunk "$stderr"
	sed '4s/\[\[\[[0-9]*,/[[[-Infinity,/' s.geojson > bad.geojson
	run -1 --separate-stderr li-geojson --import bad.geojson s.tsv -o out.tsv
	[[ $stderr == *"feature 3: a coordinate is not a finite number"* ]] || flunk "$stderr"
	# a NaN measurement, as QuPath writes one, is fine
	sed '4s/"prob": [0-9.]*/"prob": NaN/' s.geojson > nan.geojson
	grep -q '"prob": NaN' nan.geojson
	run --separate-stderr li-geojson --import nan.geojson s.tsv -o out.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	echo keep > out.tsv
	head -c 300 s.geojson > bad.geojson
	run -1 --separate-stderr li-geojson --import bad.geojson s.tsv -o out.tsv
	[[ $stderr == "li-geojson: cannot parse 'bad.geojson' line 2: "* ]] || flunk "$stderr"
	run -1 --separate-stderr li-geojson --import nothere.geojson s.tsv -o out.tsv
	[ "$stderr" = "li-geojson: cannot open 'nothere.geojson': No such file or directory" ]
	[ "$(cat out.tsv)" = keep ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "--skip-unmatched: other objects in QuPath's export are counted and skipped" {
	manifest "$CMU" --mpp 0.5 > s.tsv
	li-geojson s.tsv > s.geojson
	jq '.features += [{type: "Feature", geometry: {type: "Point", coordinates: [1, 2]}, properties: {objectType: "annotation"}},
		{type: "Feature", geometry: {type: "Polygon", coordinates: [[[0, 0], [5000, 0], [5000, 5000], [0, 0]]]},
		 properties: {objectType: "annotation", classification: {name: "Region*"}}}]' s.geojson > more.geojson
	run -1 --separate-stderr li-geojson --import more.geojson s.tsv
	[[ $stderr == *"feature $(($(jq '.features | length' s.geojson) + 1)): a Point, not a Polygon"* ]] || flunk "$stderr"
	run --separate-stderr li-geojson --import more.geojson --skip-unmatched s.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	[[ $stderr == *"2 other features skipped" ]] || flunk "$stderr"
	# NaN coordinates stay an error even then
	jq '.features[0].geometry.coordinates[0][0][0] = "x"' more.geojson > bad.geojson
	run -1 --separate-stderr li-geojson --import bad.geojson --skip-unmatched s.tsv
	[[ $stderr == *"feature 1: a coordinate is not a finite number"* ]] || flunk "$stderr"
}

@test "bad lists: duplicate squares, coordinates, options (exit 1 or 2, nothing written)" {
	manifest "$CMU" --mpp 0.5 > s.tsv
	{ cat s.tsv; sed -n 5p s.tsv; } > dup.tsv
	run -1 --separate-stderr li-geojson dup.tsv -o x.geojson
	[ "$stderr" = "li-geojson: 'dup.tsv' line $(wc -l < dup.tsv): the same tile square as line 5 (a QuPath object could not be matched back to one row)" ]
	[ ! -e x.geojson ]
	awk -F'\t' 'BEGIN { OFS = "\t" } NR == 3 { $3 = "1.5" } { print }' s.tsv > frac.tsv
	run -1 --separate-stderr li-geojson frac.tsv
	[ "$stderr" = "li-geojson: 'frac.tsv' line 3: x '1.5' is not an integer" ]
	awk -F'\t' 'BEGIN { OFS = "\t" } NR == 3 { $3 = "2000000000" } { print }' s.tsv > far.tsv
	run -1 --separate-stderr li-geojson far.tsv
	[[ $stderr == "li-geojson: 'far.tsv' line 3: the tile at (2000000000, "*") of side 224 lies beyond 1e+09 pixels" ]] || flunk "$stderr"
	# a bad last row: nothing at all on stdout (every row is checked first)
	{ cat s.tsv; printf 'bad\xff.png\tCMU-1-Small-Region\t0\t0\t0\t1\t0.5\t224\t1\t0.9\n'; } > utf.tsv
	run -1 --separate-stderr li-geojson utf.tsv
	[ -z "$output" ] || flunk "stdout: ${output:0:200}"
	[[ $stderr == "li-geojson: 'utf.tsv' line $(wc -l < utf.tsv): name 'bad"*"' is not valid UTF-8" ]] || flunk "$stderr"
	awk -F'\t' 'BEGIN { OFS = "\t" } NR == 3 { $8 = "0" } { print }' s.tsv > zero.tsv
	run -1 --separate-stderr li-geojson zero.tsv
	[ "$stderr" = "li-geojson: 'zero.tsv' line 3: size and downsample must be positive" ]
	run -2 --separate-stderr li-geojson --skip-unmatched s.tsv
	[[ $stderr == "li-geojson: --skip-unmatched and --drop-missing need --import"* ]] || flunk "$stderr"
	run -2 --separate-stderr li-geojson -t 0.3 -c label s.tsv
	[[ $stderr == "li-geojson: --threshold classifies by prob; --class-column by a column: give one"* ]] || flunk "$stderr"
	run -2 --separate-stderr li-geojson --import s.geojson --object tile s.tsv
	[[ $stderr == *"are for the export, not --import"* ]] || flunk "$stderr"
	run -2 --separate-stderr li-geojson --positive LI --negative LI s.tsv
	[[ $stderr == *"must be three different classes"* ]] || flunk "$stderr"
	run -2 --separate-stderr li-geojson --object cell s.tsv
	[ "$status" -eq 2 ]
}

@test "the README's review loop runs (QuPath's part simulated by jq)" {
	# the code block under "## Review in QuPath": what runs before QuPath,
	# and what runs after it (from the first command after its comment)
	awk '/^## Review in QuPath/ { on = 1; next } on && /^```/ { if (blk) exit; blk = 1; next } blk' \
		"$LI_ROOT/README.md" > block.sh
	awk '/^# QuPath:/ { exit } { print }' block.sh > before.sh
	awk 's == 0 && /^# QuPath:/ { s = 1; next } s == 1 && /^#/ { next } s == 1 { s = 2 } s == 2' block.sh > after.sh
	grep -q '^li-geojson s1.scored.tsv' before.sh && grep -q '^li-geojson --import' after.sh &&
		grep -q '^li-train' after.sh || flunk "README block:" "$(cat block.sh)"
	# a slide s1.svs, a model and training lists to start from
	ln -s "$CMU" s1.svs
	li-tile --level 1 "$IHC" -o ihc > ihc.tsv
	mkdir lists
	awk -F'\t' 'BEGIN { OFS = "\t" } NR == 1 { print "path", "label"; next } NR % 3 != 0 { print $1, NR % 2 }' ihc.tsv > lists/train.tsv
	awk -F'\t' 'BEGIN { OFS = "\t" } NR == 1 { print "path", "label"; next } NR % 3 == 0 { print $1, NR % 2 }' ihc.tsv > lists/valid.tsv
	tiny='--arch resnet10 --width 8 --input-size 32 --epochs 1'
	run --separate-stderr li-train $tiny -o strong.safetensors lists/train.tsv
	[ "$status" -eq 0 ] || flunk "$stderr"
	run --separate-stderr bash -e before.sh
	[ "$status" -eq 0 ] || flunk "before QuPath:" "$stderr"
	[ -s s1.heat.png ] && [ -s s1.geojson ]
	run qupath_ok s1.geojson
	[ "$status" -eq 0 ] && [ -z "$output" ] || flunk "$output"
	reexport s1.geojson s1.reviewed.geojson "$(flip 0 3)"
	sed "s/^li-train /li-train $tiny /" after.sh > after.tiny.sh
	run --separate-stderr bash -e after.tiny.sh
	[ "$status" -eq 0 ] || flunk "after QuPath:" "$stderr"
	n=$(($(wc -l < s1.scored.tsv) - 1))
	run awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ i = NR - 2; if ($c["label"] != ($c["pred"] != (i == 0 || i == 3))) { print "row " i ": " $0; exit 1 } }' s1.reviewed.tsv
	[ "$status" -eq 0 ] || flunk "$output"
	[ "$(head -1 train.reviewed.tsv)" = $'path\tlabel' ]
	[ "$(wc -l < train.reviewed.tsv)" -eq $(($(wc -l < lists/train.tsv) + n)) ]
	[ "$(tail -n 1 train.reviewed.tsv)" = "$(tail -n 1 s1.reviewed.tsv | awk -F'\t' '{ print $1 "\t" $NF }')" ]
	[ -s reviewed.safetensors ] && [ -s reviewed.jsonl ]
}

@test "a coords-only manifest as li-tile writes it (slide_path last) exports the same squares" {
	li-tile --coords-only --mpp 0.5 "$CMU" | awk -F'\t' 'BEGIN { OFS = "\t" }
		NR == 1 { print $0, "prob"; next } { print $0, (NR * 37 % 100) / 100 }' > full.tsv
	manifest "$CMU" --mpp 0.5 > s.tsv
	li-geojson full.tsv > full.geojson
	li-geojson s.tsv > s.geojson
	cmp <(jq -c '.features[] | [.geometry, .properties.classification.name]' full.geojson) \
		<(jq -c '.features[] | [.geometry, .properties.classification.name]' s.geojson)
	[ "$(jq '.features | length' full.geojson)" -eq $(($(wc -l < full.tsv) - 1)) ]
}
