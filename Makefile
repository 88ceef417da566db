# li toolkit: one static library (libcommon) and small programs (tools/).
# Targets: all test demo pipeline install clean asan lint deps bench fuzz
# Every .c in a district of libcommon/ (libcommon/*/ : base, formats, image,
# slide, nn, stats; see libcommon/README.md) goes into the library, every
# tools/li-*.c becomes a program and every tests/unit/test_*.c a TAP test, so
# new modules need no edit here.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc
# Portable by default: every ISA-specific kernel is chosen at run time
# (libcommon/base/li_cpu.h), so a binary built here runs at full speed on any
# x86-64 CPU. ARCHFLAGS=-march=native is still accepted (measured: no faster).
ARCHFLAGS ?=
OPT       ?= -O2
CFLAGS    ?= $(OPT) -g $(ARCHFLAGS)
PKGS      := libpng zlib libjpeg openblas jansson openslide
LI_CFLAGS  = -std=c11 -Wall -Wextra -Wshadow -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
             -DLI_VERSION='"$(VERSION)"' $(LIB_INC) -pthread \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -lgomp -lm -pthread

DISTRICTS := base formats image slide nn stats cli
LIB_INC   := $(DISTRICTS:%=-Ilibcommon/%)
LIB_SRC   := $(sort $(wildcard $(DISTRICTS:%=libcommon/%/*.c)))
LIB_HDR   := $(wildcard $(DISTRICTS:%=libcommon/%/*.h))
TOOL_SRC  := $(sort $(wildcard tools/li-*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
SCRIPTS   := $(filter-out %.c,$(wildcard tools/li-*))
MAN1      := $(wildcard man/*.1)
MAN57     := $(wildcard man/*.5 man/*.7)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libcommon.a
TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TESTS     := $(TEST_SRC:tests/unit/%.c=$(BUILD)/test/%)
SCRIPT_BINS := $(SCRIPTS:tools/%=$(BUILD)/bin/%)

.PHONY: bench-build all deps test test-unit test-cli demo pipeline install clean asan lint bench \
	fuzz fuzz-build fuzzers
.DELETE_ON_ERROR:
.SECONDARY:

all: $(TOOLS) $(SCRIPT_BINS) $(TESTS)

# Shell programs (li-pipeline) are copied next to the C ones, so $(BUILD)/bin
# alone is a complete PATH entry.
$(SCRIPT_BINS): $(BUILD)/bin/%: tools/%
	@mkdir -p $(dir $@)
	cp $< $@ && chmod +x $@

deps:
	@tools/install-deps

$(BUILD)/obj/%.o: %.c $(LIB_HDR) | deps
	@mkdir -p $(dir $@)
	$(CC) $(LI_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_HDR) | deps
	@mkdir -p $(dir $@)
	$(CC) $(LI_CFLAGS) -Itests/unit $(CFLAGS) -c -o $@ $<

# make test: unit tests (TAP from each binary), the bats suites, then every
# fuzz target for 5 s when clang is there (tests/fuzz/README).
test: all
	@if [ -n "$(FUZZ_CC)" ]; then $(MAKE) --no-print-directory fuzz-build; fi
	@LI_FUZZ_CC='$(FUZZ_CC)' tests/run-tests --unit --cli --fuzz $(BUILD)

test-unit: all
	@tests/run-tests --unit $(BUILD)

test-cli: all
	@tests/run-tests --cli $(BUILD)

# Sanitizers: a separate build tree so normal objects are never mixed in.
asan:
	$(MAKE) BUILD=build/asan OPT=-O1 \
	  CFLAGS='-O1 -g $(ARCHFLAGS) -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined' \
	  LDFLAGS='-fsanitize=address,undefined' all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LI_ASAN=1 tests/run-tests --unit --hostile build/asan

# Fuzzing (tests/fuzz/README): libFuzzer harnesses over every parser, built
# with clang and ASan + UBSan in their own tree, build/fuzz. `make fuzz` runs
# each target for FUZZ_SECONDS and fails on any finding.
FUZZ_CC      ?= $(shell command -v clang-14 || command -v clang)
FUZZ_SECONDS ?= 30
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
fuzz-build:
	@test -n "$(FUZZ_CC)" || { echo "fuzz: clang not found (tools/install-deps installs clang-14)" >&2; exit 1; }
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) \
	  CFLAGS='-O1 -g $(ARCHFLAGS) -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link' \
	  LDFLAGS='$(FUZZ_SAN) -fsanitize=fuzzer' fuzzers
fuzzers: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LI_CFLAGS) -Itests/fuzz $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
fuzz: fuzz-build
	@tests/fuzz/run build/fuzz $(FUZZ_SECONDS)

demo: all
	@if [ -x examples/demo ]; then LI_BIN="$(CURDIR)/$(BUILD)/bin" examples/demo; \
	 else echo "li: the demo pipeline is not there yet (see issue 5); build is complete"; fi

pipeline: all
	@test -n "$(CONFIG)" || { echo "usage: make pipeline CONFIG=FILE" >&2; exit 2; }
	@if [ -x tools/li-pipeline ]; then PATH="$(CURDIR)/$(BUILD)/bin:$$PATH" tools/li-pipeline "$(CONFIG)"; \
	 else echo "li: li-pipeline is not there yet" >&2; exit 1; fi

bench: all bench-build
	@bench/run

install: $(TOOLS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	$(if $(strip $(TOOLS) $(SCRIPTS)),install -m 755 $(TOOLS) $(SCRIPTS) $(DESTDIR)$(PREFIX)/bin)
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1)
	$(if $(wildcard man/*.5),install -m 644 $(wildcard man/*.5) $(DESTDIR)$(PREFIX)/share/man/man5)
	$(if $(wildcard man/*.7),install -m 644 $(wildcard man/*.7) $(DESTDIR)$(PREFIX)/share/man/man7)

lint:
	@tools/lint

clean:
	rm -rf build bin

# Benchmarks: bench/*.c become programs in $(BUILD)/bench/ (built by make bench, not by all).
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
bench-build: $(BENCHES)
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
