# socktrace: `make demo` and `make test` are all the set-up a fresh machine needs.
CC      ?= gcc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
PRELOAD ?=

WARN     = -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
BASEFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS)
# The shim's wrappers run on every call the program makes: -O3 and link-time
# optimisation inline the recorder, the fd tables and the real calls into
# them (names loop in `make bench`: 1.27x bare at -O2, 1.24x with these).
SHIM_OPT   = -O3 -flto=auto
SHIM_FLAGS = $(BASEFLAGS) $(SHIM_OPT) -fPIC -fvisibility=hidden
DEBIAN_PACKAGES = build-essential clang libunwind-dev libcriterion-dev libdw-dev strace valgrind \
                  iproute2 procps curl python3 python3-dev socat apache2-utils time graphviz \
                  chromium nodejs golang-go libfaketime

# The shim makes raw x86-64 system calls and binds libunwind's x86-64
# symbols: say so at once rather than fail deep in a compile.
ifeq ($(filter x86_64-%,$(shell $(CC) -dumpmachine)),)
$(error socktrace is written for x86-64 Linux; $(CC) targets $(shell $(CC) -dumpmachine))
endif

SHIM_SRC  = $(wildcard shim/*.c shim/core/*.c)
# The core (shim/core/): clock, trace file, recorder, per-process socket
# tables, the connection state machine, ends and endpoints (asking the kernel
# through st_kernel).  Its files include only core/st_core.h and call nothing
# in a front-end (st_core_hooks is how it asks); the shim (shim/*.c), the
# tracer (tools/tracer/), gentrace and the format tests link it.
SHIM_CORE = $(wildcard shim/core/*.c)
SHIM_HDR  = $(wildcard shim/*.h shim/core/*.h)
READER_SRC = $(wildcard tools/reader/*.c)
READER_HDR = $(wildcard tools/reader/*.h) shim/st_format.h
READER_LIBS = -ldw -lelf -lpthread -lstdc++
TEST_SRC  = $(wildcard tests/test_*.c)
PROG_SRC  = $(filter-out tests/progs/gentrace.c,$(wildcard tests/progs/*.c))
BENCH_SRC = $(wildcard tools/bench/*.c)

LIB   = $(BUILD)/libsocktrace.so
DUMP  = $(BUILD)/socktrace-dump
DEMO  = $(BUILD)/socknames
LAUNCHER = $(BUILD)/socktrace
TESTS = $(BUILD)/tests/run-tests
PROGS = $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC)) $(BUILD)/progs/libearly.so \
        $(BUILD)/progs/libstackdl.so $(BUILD)/progs/stackprog-stripped \
        $(BUILD)/progs/sockops-noplt $(BUILD)/progs/sockops-hardened $(BUILD)/progs/edges-static \
        $(BUILD)/progs/gentrace $(BUILD)/progs/cxxprog $(BUILD)/progs/godial \
        $(BUILD)/progs/godial-static $(BUILD)/progs/godial-stripped $(BUILD)/progs/socknames-static
BENCH = $(patsubst tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps demo test check unit asan valgrind fuzz fuzz-smoke bench stress install uninstall clean
all: $(LIB) $(DUMP) $(DEMO) $(LAUNCHER)

deps:
	@tools/scripts/deps.sh $(DEBIAN_PACKAGES)
	@tools/scripts/npm-deps.sh $(BUILD)/otlp @opentelemetry/otlp-transformer@0.52.1
	@tools/scripts/npm-deps.sh $(BUILD)/browser playwright-core@1.56.1

$(LIB): $(SHIM_SRC) $(SHIM_HDR) | $(BUILD)
	$(CC) $(SHIM_FLAGS) -shared -Wl,-soname,libsocktrace.so -Wl,-z,now -o $@ $(SHIM_SRC) -ldl -lpthread

DUMP_SRC = $(wildcard tools/dump/*.c)
$(DUMP): $(DUMP_SRC) $(wildcard tools/dump/*.h) $(READER_SRC) $(READER_HDR) | $(BUILD)
	$(CC) $(BASEFLAGS) -Itools/reader -o $@ $(DUMP_SRC) $(READER_SRC) $(READER_LIBS)

TRACER_SRC = $(wildcard tools/tracer/*.c)
LAUNCHER_SRC = tools/launcher/socktrace.c $(TRACER_SRC) $(SHIM_CORE) tools/reader/st_trace.c tools/reader/st_stream.c \
               tools/reader/st_xalloc.c
$(LAUNCHER): $(LAUNCHER_SRC) $(READER_HDR) $(SHIM_HDR) tools/tracer/st_tracer.h | $(BUILD)
	$(CC) $(BASEFLAGS) -Itools/reader -o $@ $(LAUNCHER_SRC) -lunwind-ptrace -lunwind-x86_64 -lunwind -lpthread -ldl

$(DEMO): demo/socknames.c | $(BUILD)
	$(CC) $(BASEFLAGS) -o $@ $<

$(BUILD)/progs/%: tests/progs/%.c tests/progs/progs.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(PROG_FLAGS) -o $@ $< -lpthread -ldl

# Call chains under test keep every frame: no inlining, no sibling calls.
$(BUILD)/progs/stackprog: PROG_FLAGS = -O1 -fno-inline -fno-optimize-sibling-calls -rdynamic

$(BUILD)/progs/libstackdl.so: tests/progs/lib/libstackdl.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -fno-inline -shared -fPIC -o $@ $<

# Builds the matrix must still trace: calls through the GOT, and a hardened binary.
$(BUILD)/progs/sockops-noplt: tests/progs/sockops.c tests/progs/progs.h
	$(CC) $(BASEFLAGS) -fno-plt -o $@ $< -lpthread -ldl
$(BUILD)/progs/sockops-hardened: tests/progs/sockops.c tests/progs/progs.h
	$(CC) $(BASEFLAGS) -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE -pie \
		-Wl,-z,relro,-z,now -o $@ $< -lpthread -ldl

# A fast trace writer on the shim's own recorder, for the reader at scale.
$(BUILD)/progs/gentrace: tests/progs/gentrace.c $(SHIM_CORE) $(SHIM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -o $@ tests/progs/gentrace.c $(SHIM_CORE) -lpthread -ldl

# A Go program: its runtime makes its own socket calls (the shim says so).
$(BUILD)/progs/godial: tests/progs/go/dial.go
	@mkdir -p $(dir $@)
	cd tests/progs/go && GOCACHE=$(abspath $(BUILD))/gocache GOFLAGS=-mod=mod \
		go build -o $(abspath $@) dial.go

# C++ frames, to be shown demangled.
$(BUILD)/progs/cxxprog: tests/progs/cxxprog.cc
	@mkdir -p $(dir $@)
	g++ -std=gnu++17 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -O1 -fno-inline -o $@ $<

# A static program: the launcher must refuse it, and scripts it interprets.
# Never sanitized: a sanitizer runtime cannot be linked statically.
$(BUILD)/progs/edges-static: tests/progs/edges.c tests/progs/progs.h
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $< -lpthread

# The book's listing linked statically, and a Go program built without cgo
# (statically linked, its own resolver): the tracer's ground.
$(BUILD)/progs/socknames-static: demo/socknames.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<

$(BUILD)/progs/godial-static: tests/progs/go/dial.go
	@mkdir -p $(dir $@)
	cd tests/progs/go && CGO_ENABLED=0 GOCACHE=$(abspath $(BUILD))/gocache GOFLAGS=-mod=mod \
		go build -o $(abspath $@) dial.go

# The same program without any symbol table: names must be ?? or dynamic, never wrong.
$(BUILD)/progs/stackprog-stripped: $(BUILD)/progs/stackprog
	strip --strip-all -o $@ $<

# The Go program stripped as distributions ship Go programs (no symbol table,
# no DWARF): named from the .gopclntab its runtime keeps.
$(BUILD)/progs/godial-stripped: $(BUILD)/progs/godial-static
	strip --strip-all -o $@ $<

# early links a library whose constructor runs before the shim's.
$(BUILD)/progs/libearly.so: tests/progs/lib/libearly.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/progs/early: tests/progs/early.c tests/progs/progs.h $(BUILD)/progs/libearly.so
	$(CC) $(BASEFLAGS) -o $@ $< -Wl,--no-as-needed -L$(BUILD)/progs -learly \
		-Wl,-rpath,'$$ORIGIN'

$(BUILD)/bench/%: tools/bench/%.c tools/bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -o $@ $<

# The reference user-space tracer's row (LTTng-UST), for make bench only.
BENCH_PACKAGES = liblttng-ust-dev lttng-tools
BENCH_LTTNG = $(BUILD)/bench/names_loop_lttng
$(BENCH_LTTNG): tools/bench/lttng/names_loop_lttng.c tools/bench/lttng/names_tp.c \
		tools/bench/lttng/names_tp.h tools/bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Itools/bench/lttng -o $@ tools/bench/lttng/names_loop_lttng.c \
		tools/bench/lttng/names_tp.c -llttng-ust -ldl

# The format tests drive the real writer (the core), without the wrappers or
# constructor; the loader-lock test, that one front-end file.
$(TESTS): $(TEST_SRC) tests/harness.c tests/harness.h $(READER_SRC) $(READER_HDR) $(SHIM_CORE) $(SHIM_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -o $@ $(TEST_SRC) tests/harness.c $(READER_SRC) $(SHIM_CORE) \
		shim/st_loader_lock.c -lcriterion $(READER_LIBS) -ldl

$(BUILD):
	@mkdir -p $@

demo: deps all
	@tools/scripts/demo.sh $(BUILD)

# Criterion runs the tests; programs run under the shim are its children,
# never the runner itself (it forks workers and talks over AF_UNIX sockets).
unit: all $(PROGS) $(TESTS)
	ST_BUILD=$(abspath $(BUILD)) ST_PRELOAD=$(PRELOAD) $(TESTS) --jobs 2

valgrind: all $(PROGS)
	@tools/scripts/valgrind-reader.sh $(BUILD)

# Sanitized programs need the sanitizer runtime loaded before the shim.
ASAN_RT = $(shell $(CC) -print-file-name=libasan.so)
asan:
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(MAKE) BUILD=build/asan PRELOAD="$(ASAN_RT):$(abspath build/asan/libsocktrace.so)" \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		unit

# libFuzzer needs clang; the seed corpus is made from real runs under the shim.
FUZZ = $(BUILD)/fuzz/fuzz_reader
FUZZ_DUMP_SRC = $(filter-out tools/dump/socktrace_dump.c,$(DUMP_SRC))
$(FUZZ): tools/fuzz/fuzz_reader.c $(READER_SRC) $(READER_HDR) $(FUZZ_DUMP_SRC) $(wildcard tools/dump/*.h)
	@mkdir -p $(dir $@)
	clang -std=gnu11 $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Itools/reader -Itools/dump -o $@ tools/fuzz/fuzz_reader.c \
		$(READER_SRC) $(FUZZ_DUMP_SRC) $(READER_LIBS)

fuzz: all $(PROGS) $(FUZZ)
	@tools/scripts/fuzz.sh $(BUILD)

fuzz-smoke: all $(PROGS) $(FUZZ)
	@FUZZ_SECONDS=30 tools/scripts/fuzz.sh $(BUILD)

test: deps
	$(MAKE) unit
	$(MAKE) valgrind
	$(MAKE) asan
	$(MAKE) fuzz-smoke
	@echo "make test: all passed"

# The kill storm at length: 10,000 SIGKILLs of a 2-process x 3-thread writer.
STRESS_KILLS ?= 10000
stress: all $(PROGS) $(TESTS)
	ST_BUILD=$(abspath $(BUILD)) ST_STORM_KILLS=$(STRESS_KILLS) $(TESTS) --filter 'storm/*' --verbose

bench: deps all $(BENCH) $(BUILD)/progs/gentrace
	@tools/scripts/deps.sh $(BENCH_PACKAGES) && $(MAKE) -s $(BENCH_LTTNG) || \
		echo "socktrace: no LTTng-UST here: its row is left out"
	@tools/bench/bench.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libsocktrace.so
	install -m 0755 $(DUMP) $(DESTDIR)$(PREFIX)/bin/socktrace-dump
	install -m 0755 $(DEMO) $(DESTDIR)$(PREFIX)/bin/socknames
	install -m 0755 $(LAUNCHER) $(DESTDIR)$(PREFIX)/bin/socktrace
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0644 man/socktrace-dump.1 $(DESTDIR)$(PREFIX)/share/man/man1/socktrace-dump.1
	install -m 0644 man/socktrace.1 $(DESTDIR)$(PREFIX)/share/man/man1/socktrace.1
	install -m 0644 man/libsocktrace.7 $(DESTDIR)$(PREFIX)/share/man/man7/libsocktrace.7
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libsocktrace.so $(DESTDIR)$(PREFIX)/bin/socktrace-dump \
	      $(DESTDIR)$(PREFIX)/bin/socktrace \
	      $(DESTDIR)$(PREFIX)/bin/socknames $(DESTDIR)$(PREFIX)/share/man/man1/socktrace-dump.1 \
	      $(DESTDIR)$(PREFIX)/share/man/man1/socktrace.1 \
	      $(DESTDIR)$(PREFIX)/share/man/man7/libsocktrace.7

clean:
	rm -rf build
