# helpers.bash: what every bats suite shares, loaded by each with `load helpers`.

# flunk MESSAGE...: print why on stderr, and fail the test.
flunk() {
	printf '%s\n' "$@" >&2
	return 1
}

# li_programs: every li program, one path a line: compiled (in $LI_BIN) or a
# script (tools/li-*).
li_programs() {
	local p
	for p in "$LI_BIN"/li-* "$LI_ROOT"/tools/li-*; do
		case $p in *.c | *.h | *.o) continue ;; esac
		[ -f "$p" ] && [ -x "$p" ] && printf '%s\n' "$p"
	done
	return 0
}

# byname PATH ARGS...: run the program at PATH by its name, with its directory
# first in PATH (as users run it: getopt's messages then start with the name).
byname() {
	local p=$1
	shift
	PATH="${p%/*}:$PATH" "${p##*/}" "$@"
}
