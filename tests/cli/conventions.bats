#!/usr/bin/env bats
# conventions.bats: the command-line conventions every li program follows
# (li(7) "CONVENTIONS"). Each test loops over whatever programs exist -- the
# compiled ones in $LI_BIN and the scripts tools/li-* -- so a new program is
# covered without editing this file. Programs are run by name through PATH,
# as users run them (getopt's own messages then start with the bare name).
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_BIN:?LI_BIN must name the bin directory of the build}"
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	cd "$BATS_TEST_TMPDIR" || return 1
	mapfile -t PROGS < <(li_programs)
	VERSION=$(sed -n 's/^VERSION *:= *//p' "$LI_ROOT/Makefile")
}

@test "at least one li program exists" {
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no li-* program in '$LI_BIN' or '$LI_ROOT/tools'"
}

@test "the version in the Makefile is MAJOR.MINOR.PATCH" {
	[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || flunk "VERSION is '$VERSION'"
}

@test "--help: usage on stdout, nothing on stderr, exit 0" {
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no programs"
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		run --separate-stderr byname "$p" --help
		[ "$status" -eq 0 ] || flunk "$name --help: exit $status"
		[ -z "$stderr" ] || flunk "$name --help: stderr: $stderr"
		[[ $output =~ (^|$'\n')[Uu]sage:\ +"$name"( |$'\n'|$) ]] ||
			flunk "$name --help: no line starting 'Usage: $name'" "$output"
		[ "${#lines[@]}" -ge 2 ] || flunk "$name --help: one line only"
	done
}

@test "--version prints 'PROG VERSION' (the net's programs then the CPU and kernels), exit 0" {
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no programs"
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		run --separate-stderr byname "$p" --version
		[ "$status" -eq 0 ] || flunk "$name --version: exit $status"
		[ -z "$stderr" ] || flunk "$name --version: stderr: $stderr"
		case $name in
		li-train | li-score)
			[ "${lines[0]}" = "$name $VERSION" ] && [[ ${lines[3]} == isa:* ]] ||
				flunk "$name --version printed '$output', expected '$name $VERSION' then cpu, flags, isa, kernels" ;;
		*)
			[ "$output" = "$name $VERSION" ] ||
				flunk "$name --version printed '$output', expected '$name $VERSION'" ;;
		esac
	done
}

@test "an unknown option: one 'PROG: ...' line and 'Try ...' on stderr, exit 2" {
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no programs"
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		run --separate-stderr byname "$p" --no-such-option
		[ "$status" -eq 2 ] || flunk "$name --no-such-option: exit $status, expected 2"
		[ -z "$output" ] || flunk "$name --no-such-option: stdout: $output"
		mapfile -t err <<<"$stderr"
		[ "${#err[@]}" -eq 2 ] ||
			flunk "$name --no-such-option: expected 2 lines on stderr, got:" "$stderr"
		[[ ${err[0]} == "$name: "*no-such-option* ]] ||
			flunk "$name --no-such-option: first line: ${err[0]}"
		[ "${err[1]}" = "Try '$name --help' for more information." ] ||
			flunk "$name --no-such-option: second line: ${err[1]}"
	done
}

@test "an unknown short option is a usage error too" {
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no programs"
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		# -Z is unused by every program (li(7)); an option letter added later
		# that collides must change this test on purpose.
		run --separate-stderr byname "$p" -Z
		[ "$status" -eq 2 ] || flunk "$name -Z: exit $status, expected 2"
		[[ $stderr == "$name: "* ]] || flunk "$name -Z: stderr: $stderr"
		[[ $stderr == *"Try '$name --help' for more information." ]] ||
			flunk "$name -Z: no 'Try ...' line: $stderr"
	done
}

@test "stdout is checked on close: --help > /dev/full fails with a message" {
	[ -w /dev/full ] || skip "no /dev/full"
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no programs"
	local p name
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		run --separate-stderr bash -c 'PATH="${1%/*}:$PATH" "${1##*/}" --help > /dev/full' _ "$p"
		[ "$status" -ne 0 ] || flunk "$name --help > /dev/full: exit 0"
		[ "$status" -ne 2 ] || flunk "$name --help > /dev/full: exit 2 (a write error is not a usage error)"
		[[ $stderr == *"$name: "* ]] || flunk "$name --help > /dev/full: no '$name: ...' message: $stderr"
		run --separate-stderr bash -c 'PATH="${1%/*}:$PATH" "${1##*/}" --version > /dev/full' _ "$p"
		[ "$status" -ne 0 ] || flunk "$name --version > /dev/full: exit 0"
		[[ $stderr == *"$name: "* ]] || flunk "$name --version > /dev/full: no message: $stderr"
	done
}

@test "--help output fits in 80 columns" {
	[ "${#PROGS[@]}" -gt 0 ] || flunk "no programs"
	local p name line
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		while IFS= read -r line; do
			[ "${#line}" -le 80 ] || flunk "$name --help: line longer than 80 columns: $line"
		done < <(byname "$p" --help)
	done
}
