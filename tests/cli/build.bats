#!/usr/bin/env bats
# build.bats: the build and the README's commands: install with DESTDIR and
# PREFIX, the dependency check, a warning-free compile, lint, and the make
# targets the README shows. Make runs with BUILD set to the build under test
# (the parent of $LI_BIN), so nothing is rebuilt elsewhere.
bats_require_minimum_version 1.5.0
load helpers

setup() {
	: "${LI_BIN:?LI_BIN must name the bin directory of the build}"
	: "${LI_ROOT:?LI_ROOT must name the source tree}"
	BUILD=$(dirname "$LI_BIN")
	cd "$BATS_TEST_TMPDIR" || return 1
	mapfile -t PROGS < <(li_programs)
	mapfile -t PAGES < <(compgen -G "$LI_ROOT/man/*.[1-8]" | sort)
}

li_make() {
	make -C "$LI_ROOT" -s --no-print-directory BUILD="$BUILD" "$@"
}

@test "make install DESTDIR=... PREFIX=/usr installs every program and man page" {
	local root=$BATS_TEST_TMPDIR/root p name f sect extra
	run --separate-stderr li_make install DESTDIR="$root" PREFIX=/usr
	[ "$status" -eq 0 ] || flunk "make install: exit $status" "$stderr"
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		[ -x "$root/usr/bin/$name" ] || flunk "$name is not installed in /usr/bin"
		cmp -s "$p" "$root/usr/bin/$name" || flunk "/usr/bin/$name differs from $p"
	done
	for f in "${PAGES[@]}"; do
		sect=${f##*.}
		cmp -s "$f" "$root/usr/share/man/man$sect/${f##*/}" ||
			flunk "${f##*/} is not installed in /usr/share/man/man$sect"
	done
	# Nothing else, and nothing outside DESTDIR/PREFIX.
	extra=$(cd "$root" && find . -type f | grep -vE '^\./usr/(bin/li-[a-z0-9-]+|share/man/man[1-8]/li[a-z0-9-]*\.[1-8])$' || true)
	[ -z "$extra" ] || flunk "unexpected files installed:" "$extra"
}

@test "installed programs run and installed pages are found by man" {
	local root=$BATS_TEST_TMPDIR/root p name
	run --separate-stderr li_make install DESTDIR="$root" PREFIX=/usr
	[ "$status" -eq 0 ] || flunk "make install: exit $status" "$stderr"
	for p in "${PROGS[@]}"; do
		name=${p##*/}
		run env PATH="$root/usr/bin:$PATH" "$name" --version
		[ "$status" -eq 0 ] || flunk "installed $name --version: exit $status"
	done
	if command -v man >/dev/null; then
		run man -M "$root/usr/share/man" -w li-formats
		[ "$status" -eq 0 ] || flunk "man -w li-formats did not find the installed page: $output"
		run man -M "$root/usr/share/man" -w 7 li
		[ "$status" -eq 0 ] || flunk "man -w 7 li did not find the installed page: $output"
	fi
}

@test "tools/install-deps --check: every package is present" {
	run --separate-stderr "$LI_ROOT/tools/install-deps" --check
	[ "$status" -eq 0 ] || flunk "install-deps --check: exit $status: $output" "$stderr"
	[ -z "$output" ] || flunk "install-deps --check printed: $output"
}

@test "the build is warning-free (-Werror, the Makefile's flags)" {
	# A fresh build tree of its own: libcommon, the programs and the unit tests.
	run --separate-stderr make -C "$LI_ROOT" -s --no-print-directory -j2 \
		BUILD="$BATS_TEST_TMPDIR/werror" CFLAGS='-O2 -march=native -Werror' all
	[ "$status" -eq 0 ] || flunk "the build has warnings (or errors):" "$stderr"
	! grep -q 'warning:' <<<"$stderr" || flunk "warnings:" "$stderr"
}

@test "make lint passes" {
	run --separate-stderr li_make lint
	[ "$status" -eq 0 ] || flunk "make lint: exit $status" "$output" "$stderr"
}

# A copy of the tree's lint and library, to break on purpose.
lint_tree() {
	mkdir -p t/tests/cli
	cp -R "$LI_ROOT/libcommon" "$LI_ROOT/tools" "$LI_ROOT/bench" t/
	cp -R "$LI_ROOT/tests/unit" t/tests/
}

@test "lint: includes follow the district order and draw no cycle" {
	lint_tree
	run -0 t/tools/lint includes
	# A codec that includes the module dispatching to it closes a circle.
	echo '#include "li_image_io.h"' >> t/libcommon/image/li_png.c
	run -1 t/tools/lint includes
	[[ $output == *"include cycle: "*"li_image_io -> li_png"* ]] || flunk "$output"
	cp "$LI_ROOT/libcommon/image/li_png.c" t/libcommon/image/
	# The library below cli/ never includes the programs' helpers.
	echo '#include "li_cli.h"' >> t/libcommon/slide/li_slide.c
	run -1 t/tools/lint includes
	[ "$output" = "lint: libcommon/slide/li_slide.c: includes li_cli.h of cli, above slide (order, bottom to top: base formats image slide nn stats cli, tools)" ]
	cp "$LI_ROOT/libcommon/slide/li_slide.c" t/libcommon/slide/
	mkdir t/libcommon/misc
	run -1 t/tools/lint includes
	[[ $output == *"libcommon/misc: not a district"* ]] || flunk "$output"
}

@test "lint: a bare '! cmd' line is an error except as the last line of a test" {
	lint_tree
	printf '%s\n' 'bats_require_minimum_version 1.5.0' '@test "t" {' '	! false' '	true' '}' \
		'@test "u" {' '	true' '	! false' '}' > t/tests/cli/x.bats
	run -1 t/tools/lint bats
	[ "$output" = 'lint: tests/cli/x.bats:3: a bare "! cmd" line asserts nothing here (bats ignores its status): use "run ! cmd"' ]
	sed -i '3s/!/run !/' t/tests/cli/x.bats
	run -0 t/tools/lint bats
}

@test "lint: every function a libcommon header declares has a caller" {
	lint_tree
	run -0 t/tools/lint api
	echo 'int li_rng_unused(int x);' >> t/libcommon/base/li_rng.h
	echo 'int li_rng_unused(int x) { return x; }' >> t/libcommon/base/li_rng.c
	run -1 t/tools/lint api
	[[ $output == *"used nowhere besides their definition"*": li_rng_unused "* ]] || flunk "$output"
}

@test "make pipeline without CONFIG: usage, exit 2" {
	run --separate-stderr li_make pipeline
	[ "$status" -eq 2 ] || flunk "exit $status"
	[[ $stderr == *"usage: make pipeline CONFIG=FILE"* ]] || flunk "stderr: $stderr"
}

@test "make -n demo works" {
	run --separate-stderr li_make -n demo
	[ "$status" -eq 0 ] || flunk "make -n demo: exit $status" "$stderr"
}

@test "the README's set-up is make demo and make test" {
	local readme=$LI_ROOT/README.md
	[ -f "$readme" ] || flunk "no README.md"
	grep -qx 'make demo' "$readme" || flunk "README.md does not show 'make demo' on a line of its own"
	grep -qx 'make test' "$readme" || flunk "README.md does not show 'make test' on a line of its own"
}

@test "every make command in the README is a valid make invocation (make -n)" {
	local readme=$LI_ROOT/README.md line n=0
	[ -f "$readme" ] || flunk "no README.md"
	# Lines of fenced code blocks that start with "make ".
	while IFS= read -r line; do
		n=$((n + 1))
		# Each word after "make" is a target or VAR=value; the demo and test
		# targets are dry-run like every other, so this stays fast.
		# shellcheck disable=SC2086
		run --separate-stderr li_make -n ${line#make }
		[ "$status" -eq 0 ] || [[ $line == "make pipeline"* && $line != *CONFIG=* ]] ||
			flunk "README: '$line': make -n exit $status" "$stderr"
	done < <(awk '/^```/ { code = !code; next } code && /^make( |$)/' "$readme")
	[ "$n" -gt 0 ] || flunk "no make commands found in README code blocks"
}
