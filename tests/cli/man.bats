#!/usr/bin/env bats
# man.bats: the manual pages render without a single warning, each page's
# NAME matches its file, and every program has a page (loops over whatever
# pages and programs exist, so new ones are covered without editing this file).
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_BIN:?LI_BIN must name the bin directory of the build}"
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	mapfile -t PAGES < <(compgen -G "$LI_ROOT/man/*.[1-8]" | sort)
	mapfile -t PROGS < <(li_programs)
}

@test "the overview and format pages exist" {
	[ -f "$LI_ROOT/man/li.7" ] || flunk "no man/li.7"
	[ -f "$LI_ROOT/man/li-formats.5" ] || flunk "no man/li-formats.5"
}

@test "every page renders with groff -man -ww -z without a warning" {
	command -v groff >/dev/null || flunk "groff is not installed"
	local f
	for f in "${PAGES[@]}"; do
		run --separate-stderr groff -man -ww -z "$f"
		[ "$status" -eq 0 ] || flunk "${f##*/}: groff exit $status" "$stderr"
		[ -z "$stderr" ] || flunk "${f##*/}: groff warnings:" "$stderr"
	done
}

@test "every page renders with man --warnings at 80 columns without a warning" {
	command -v man >/dev/null || skip "man is not installed"
	local f
	for f in "${PAGES[@]}"; do
		run --separate-stderr env MANWIDTH=80 MAN_KEEP_FORMATTING=0 man --warnings -l "$f"
		[ "$status" -eq 0 ] || flunk "${f##*/}: man exit $status" "$stderr"
		[ -z "$stderr" ] || flunk "${f##*/}: man warnings:" "$stderr"
		[ -n "$output" ] || flunk "${f##*/}: renders empty"
	done
}

@test "every page's .TH and NAME match its file name and section" {
	local f base sect th name names
	for f in "${PAGES[@]}"; do
		base=${f##*/}
		sect=${base##*.}
		base=${base%.*}
		th=$(grep -m1 '^\.TH ' "$f") || flunk "$base.$sect: no .TH line"
		read -r _ t s _ <<<"$th"
		t=${t//\"/} t=${t//\\/}
		s=${s//\"/}
		[ "${t,,}" = "$base" ] || flunk "$base.$sect: .TH title '$t' is not '${base^^}'"
		[ "$s" = "$sect" ] || flunk "$base.$sect: .TH section '$s' is not '$sect'"
		# The first text line after .SH NAME: "name[, name...] \- summary".
		name=$(awk '/^\.SH +"?NAME"?/ { on = 1; next }
			on && /^\.\\"/ { next }
			on { print; exit }' "$f")
		[[ $name == *'\-'* ]] || flunk "$base.$sect: NAME line '$name' has no '\\-'"
		names=${name%%\\-*}
		names=${names//\\/}
		[[ ",${names// /}," == *",$base,"* ]] ||
			flunk "$base.$sect: NAME line '$name' does not name '$base'"
	done
}

@test "every program page has SYNOPSIS, DESCRIPTION and EXIT STATUS" {
	local f missing sec
	for f in "$LI_ROOT"/man/*.1; do
		[ -e "$f" ] || continue
		missing=
		for sec in SYNOPSIS DESCRIPTION "EXIT STATUS"; do
			grep -Eq "^\.SH +\"?$sec\"?\$" "$f" || missing="$missing '$sec'"
		done
		[ -z "$missing" ] || flunk "${f##*/}: no section$missing"
	done
}

@test "every program has a page in section 1" {
	[ "${#PROGS[@]}" -gt 0 ] || skip "no programs built yet"
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		[ -f "$LI_ROOT/man/$name.1" ] || flunk "$name has no man/$name.1"
	done
}

@test "li(7) names every program" {
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		grep -Fq "${name//-/\\-}" "$LI_ROOT/man/li.7" ||
			flunk "man/li.7 does not mention $name"
	done
}

@test "pages of ours that li(7) and li-formats(5) refer to exist" {
	# Our pages referred to as li-x(N) must exist once the program does:
	# a reference to a page of a program that is built but has no page fails.
	local ref name sect
	for ref in $(grep -ohE 'li(\\-[a-z]+)* \([1-8]\)' "$LI_ROOT/man/li.7" "$LI_ROOT/man/li-formats.5" |
		tr -d '\\ ' | sort -u); do
		name=${ref%(*}
		sect=${ref#*(} sect=${sect%)}
		if [ -x "$LI_BIN/$name" ] || [ -x "$LI_ROOT/tools/$name" ] || [ "$sect" != 1 ]; then
			[ -f "$LI_ROOT/man/$name.$sect" ] || flunk "$ref is referred to but man/$name.$sect does not exist"
		fi
	done
}
