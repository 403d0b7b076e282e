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
# Every library the code links; the certificate store talks to GnuTLS directly (libmicrohttpd's
# TLS backend).
PKGS    := libmicrohttpd gnutls json-c simdjson libcrypto libssl libcurl yaml-0.1
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

# Debian packages a fresh machine needs. `make deps` (for all and run): the compiler, the -dev
# package of every library in PKGS, and what server/run-dev.sh calls (curl, python3, openssl when
# `bmhguard certs` cannot make the dev certificate).
DEB_PKGS := build-essential pkg-config \
	libmicrohttpd-dev libgnutls28-dev libjson-c-dev libsimdjson-dev libssl-dev libcurl4-openssl-dev \
	libyaml-dev curl openssl python3
# `make deps-test` adds what the tests, fuzzing and benchmarks call (test, asan, leakcheck, fuzz,
# bench-server): libFuzzer (clang), the Python checkers, valgrind, wrk, gnutls-cli, GNU time, git
# and strace for tests/integration/test_clone.sh, and promtool (package prometheus) for
# tests/integration/test_manifests_monitoring.py (it checks /metrics and the alert rules).
DEB_TEST_PKGS := clang libclang-rt-14-dev python3-yaml python3-jsonpatch python3-jsonschema \
	valgrind wrk gnutls-bin time git strace prometheus
# kubectl renders manifests/ (make manifests, the manifest tests): kustomize components and labels
# need kubectl >= 1.27 (kustomize v5). Debian 12 packages none (its kubernetes-client is kubectl
# 1.20), so deps-test installs one only where a new enough one is packaged (for example from
# pkgs.k8s.io's apt repository); without one those tests skip and say why.
KUBECTL ?= kubectl
KUBECTL_MIN_MINOR := 27

# The library: every module in src/ and server/; no command-line code. The tool is tool/*.c
# (main and one file a subcommand) linked with the library; fuzz targets are fuzz/*_fuzz.c.
LIB_SRCS  := $(wildcard src/*.c server/*.c)
LIB_CXX_SRCS := $(wildcard src/*.cc)
TOOL_SRCS := $(wildcard tool/*.c)
FUZZ_SRCS := $(wildcard fuzz/*_fuzz.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
HDRS      := $(wildcard src/*.h server/*.h tool/*.h tests/unit/*.h)

B ?= build
LIB_OBJS  := $(patsubst %.c,$(B)/%.o,$(LIB_SRCS)) $(patsubst %.cc,$(B)/%.o,$(LIB_CXX_SRCS))
TOOL_OBJS := $(patsubst %.c,$(B)/%.o,$(TOOL_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
BENCH_BINS := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

FUZZ_SECONDS ?= 30

.PHONY: all deps deps-test run test check unit integration asan fuzz bench install uninstall clean help \
	leakcheck

all: $(B)/bmhguard $(UNIT_BINS) $(BENCH_BINS)

help:
	@sed -n 's/^#   //p' Makefile
	@echo "targets: deps deps-test all test unit integration asan leakcheck fuzz bench install clean run"
	@echo "         bench-server bench-repair certs manifests deploy (where present)"

# $(call apt_install,TARGET,PACKAGES): as root install those of PACKAGES that are missing; as
# another user name them and stop.
apt_install = missing=""; for p in $(2); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "$(1): run as root (or: sudo make $(1)) to install:$$missing" >&2; exit 2; fi; \
	  echo "$(1): installing$$missing"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 2; \
	fi

# The minor version of kubectl $(1) (1.N), empty when it does not say.
kubectl_minor = timeout 10 $(1) version --client -o json 2>/dev/null | sed -n 's/^ *"minor": *"\([0-9]*\).*/\1/p' | head -n1

deps:
	@$(call apt_install,deps,$(DEB_PKGS))

# Never a kubectl older than 1.27: an installed one is only checked (and named if too old); a
# missing one is installed from the package kubectl or kubernetes-client when its candidate
# version is new enough, else none.
deps-test: deps
	@$(call apt_install,deps-test,$(DEB_TEST_PKGS))
	@if k=$$(command -v $(KUBECTL)); then \
	  m=$$($(call kubectl_minor,$$k)); \
	  [ "$${m:-0}" -ge $(KUBECTL_MIN_MINOR) ] || echo "deps-test: $$k is kubectl 1.$${m:-?}, older than" \
	    "1.$(KUBECTL_MIN_MINOR): make manifests fails and the manifest tests skip (install kubectl >= 1.$(KUBECTL_MIN_MINOR))"; \
	else \
	  if [ "$$(id -u)" = 0 ] && ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then apt-get update -qq >/dev/null 2>&1; fi; \
	  pick=""; for p in kubectl kubernetes-client; do \
	    v=$$(apt-cache policy $$p 2>/dev/null | sed -n 's/^ *Candidate: *//p'); v=$${v#*:}; \
	    min=$${v#1.}; min=$${min%%[!0-9]*}; \
	    case "$$v" in 1.*) [ -n "$$min" ] && [ "$$min" -ge $(KUBECTL_MIN_MINOR) ] && { pick="$$p=$$v"; break; };; esac; \
	  done; \
	  if [ -z "$$pick" ]; then \
	    echo "deps-test: no kubectl >= 1.$(KUBECTL_MIN_MINOR) is packaged here (Debian 12's kubernetes-client is 1.20)," \
	      "so none is installed; make manifests needs one and the manifest tests skip without it (README.md, Set up)"; \
	  elif [ "$$(id -u)" != 0 ]; then \
	    echo "deps-test: kubectl is missing; as root (or: sudo make deps-test) this installs $$pick"; \
	  else \
	    echo "deps-test: installing $$pick"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$$pick" >/dev/null || exit 2; \
	  fi; \
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

$(B)/bmhguard: $(TOOL_OBJS) $(B)/libbmhguard.a
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

# The README's run command: a loopback dev certificate, `bmhguard serve` on 127.0.0.1, the sample
# review sent once and the curl command that does it printed (Ctrl-C stops).
RUN_PORT ?= 8443
RUN_PLAIN_PORT ?= 8080
run: deps
	@$(MAKE) --no-print-directory $(B)/bmhguard
	@RUN_PORT=$(RUN_PORT) RUN_PLAIN_PORT=$(RUN_PLAIN_PORT) server/run-dev.sh $(B)

# The README's test command: unit tests, integration tests against the real binary, bounded fuzzing.
test: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory cel-js >/dev/null 2>&1 || \
	  echo "test: could not install the CEL evaluator from npm; the CEL pre-filter test will skip"
	@tests/run.sh $(B)
	@$(MAKE) --no-print-directory fuzz

check: test

unit integration: deps-test
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(B) $@

# Same tests on an ASan+UBSan build in build-asan/ (bounded: the same suites, no fuzzing).
asan: deps-test
	@$(MAKE) --no-print-directory B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  BMHGUARD_SANITIZED=1 tests/run.sh build-asan

# The unit tests and the offline commands under valgrind's leak checker.
leakcheck: deps-test
	@$(MAKE) --no-print-directory all
	@BMHGUARD_VALGRIND=1 tests/run.sh $(B) unit

# libFuzzer targets in fuzz/; each runs FUZZ_SECONDS on its committed corpus fuzz/corpus/NAME.
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

fuzz: deps-test $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); corpus=fuzz/corpus/$${name%_fuzz}; \
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
	ln -sf bmhguard $(DESTDIR)$(PREFIX)/bin/kubectl-bmhguard	# kubectl's plugin name

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/bmhguard $(DESTDIR)$(PREFIX)/bin/kubectl-bmhguard

clean:
	rm -rf build build-asan build-fuzz

# Optional extras (certificates and manifests, benchmarks, the API double); nothing above needs them.
-include mk/*.mk
