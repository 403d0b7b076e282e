# bmhguard - keeps Metal3 BareMetalHost image URLs on a stable service name.
#
#   make run     install what is missing, build, start the main job on a built-in default
#   make test    install what is missing, build, run every test (unit, integration, fuzz)
#   make asan    the same tests on an ASan+UBSan build
#   make help    every target

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

CC      ?= cc
CXX     ?= c++
PKGS    := libmicrohttpd json-c simdjson libcrypto libssl libcurl yaml-0.1
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -Isrc -Iserver $(PKG_CFLAGS) -DBMHGUARD_VERSION=\"$(VERSION)\" $(EXTRA_CFLAGS)
# The one C++ file (src/simd.cc, simdjson's C API): no exceptions or RTTI cross into C.
CXXWARN := -Wall -Wextra -Werror -Wshadow -Wformat=2
CXXFLAGS_ALL = -std=c++17 -fno-exceptions -fno-rtti $(CXXWARN) $(OPT) -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lstdc++ -lpthread $(EXTRA_LDFLAGS)

# Debian packages a fresh machine needs (build, tests, benchmarks).
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev \
	libmicrohttpd-dev libjson-c-dev libsimdjson-dev libssl-dev libcurl4-openssl-dev libyaml-dev \
	curl openssl python3 python3-yaml python3-jsonpatch python3-jsonschema \
	valgrind wrk gnutls-bin time

# The library: every module in src/ and server/ but the tool's main and the fuzz targets.
LIB_SRCS  := $(filter-out src/main.c %_fuzz.c,$(wildcard src/*.c server/*.c))
LIB_CXX_SRCS := $(wildcard src/*.cc)
FUZZ_SRCS := $(wildcard src/*_fuzz.c server/*_fuzz.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
HDRS      := $(wildcard src/*.h server/*.h tests/unit/*.h)

B ?= build
LIB_OBJS  := $(patsubst %.c,$(B)/%.o,$(LIB_SRCS)) $(patsubst %.cc,$(B)/%.o,$(LIB_CXX_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
BENCH_BINS := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

FUZZ_SECONDS ?= 30

.PHONY: all deps run test check unit integration asan fuzz bench install uninstall clean help \
	leakcheck

all: $(B)/bmhguard $(UNIT_BINS) $(BENCH_BINS)

help:
	@sed -n 's/^#   //p' Makefile
	@echo "targets: deps all test unit integration asan leakcheck fuzz bench install clean run"
	@echo "         bench-server bench-repair certs manifests deploy (where present)"

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubectl"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: run as root (or: sudo make deps) to install:$$missing" >&2; exit 2; fi; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || { \
	    case "$$missing" in *kubectl*) \
	      echo "deps: retrying with kubernetes-client for kubectl"; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        $$(echo $$missing | sed 's/kubectl/kubernetes-client/') >/dev/null || exit 2;; \
	    *) exit 2;; esac; }; \
	fi

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(B)/%.o: %.cc $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	@$(CXX) $(CXXFLAGS_ALL) -c -o $@ $<

$(B)/libbmhguard.a: $(LIB_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(B)/bmhguard: $(B)/src/main.o $(B)/libbmhguard.a
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(B)/tests/%: tests/unit/%.c $(B)/libbmhguard.a $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(B)/libbmhguard.a $(LDLIBS_ALL)

$(B)/bench/%: tests/bench/%.c $(B)/libbmhguard.a $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libbmhguard.a $(LDLIBS_ALL)

# The README's test command: unit tests, integration tests against the real binary, bounded fuzzing.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory cel-js >/dev/null 2>&1 || \
	  echo "test: could not install the CEL evaluator from npm; the CEL pre-filter test will skip"
	@tests/run.sh $(B)
	@$(MAKE) --no-print-directory fuzz

check: test

unit integration: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(B) $@

# Same tests on an ASan+UBSan build in build-asan/ (bounded: the same suites, no fuzzing).
asan: deps
	@$(MAKE) --no-print-directory B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  BMHGUARD_SANITIZED=1 tests/run.sh build-asan

# The unit tests and the offline commands under valgrind's leak checker.
leakcheck: deps
	@$(MAKE) --no-print-directory all
	@BMHGUARD_VALGRIND=1 tests/run.sh $(B) unit

# libFuzzer targets beside the code they fuzz; each runs FUZZ_SECONDS on its committed corpus.
FUZZ_BINS := $(patsubst %_fuzz.c,build-fuzz/%_fuzz,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(filter src/%,$(LIB_SRCS))
FUZZ_CXX_OBJS := $(patsubst %.cc,build-fuzz/%.o,$(LIB_CXX_SRCS))
.SECONDARY: $(FUZZ_CXX_OBJS)
build-fuzz/%.o: %.cc $(HDRS)
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -fno-exceptions -fno-rtti -Wall -Wextra -Werror -O1 -g -Isrc $(PKG_CFLAGS) \
	  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -c -o $@ $<
build-fuzz/%_fuzz: %_fuzz.c $(FUZZ_LIB_SRCS) $(FUZZ_CXX_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	clang $(CSTD) -Wall -Wextra -Werror -O1 -g -Isrc -Iserver $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_SRCS) $(FUZZ_CXX_OBJS) $(PKG_LIBS) \
	  -lstdc++ -lpthread

fuzz: deps $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); corpus=$$(dirname $${f#build-fuzz/})/corpus/$${name%_fuzz}; \
	  work=build-fuzz/work/$$name; mkdir -p $$work; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s on $$corpus"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$$work/ -rss_limit_mb=2048 -print_final_stats=1 \
	    $$work $$corpus > build-fuzz/$$name.log 2>&1 || { tail -40 build-fuzz/$$name.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units' build-fuzz/$$name.log; \
	done

bench: all
	@for b in $(BENCH_BINS); do $$b || exit 1; done

install: $(B)/bmhguard
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(B)/bmhguard $(DESTDIR)$(PREFIX)/bin/bmhguard

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/bmhguard

clean:
	rm -rf build build-asan build-fuzz

-include mk/*.mk
