# server.mk - targets of the webhook server (issue 3): run, bench-server.
#
#   make run            install what is missing, build, make a loopback dev certificate, start
#                       `bmhguard serve` on 127.0.0.1 (RUN_PORT, RUN_PLAIN_PORT), send the sample
#                       review once and print the curl command that does it (Ctrl-C stops)
#   make bench-server   wrk over HTTPS keep-alive: full mutate path vs fixed route, req/s, p50,
#                       p99, peak RSS (BENCH_SECONDS=10; BENCH_SOAK=1 adds the 500k soak)

# The certificate store talks to GnuTLS directly (libmicrohttpd's TLS backend).
PKGS += gnutls

RUN_PORT ?= 8443
RUN_PLAIN_PORT ?= 8080

.PHONY: run bench-server

run: deps
	@$(MAKE) --no-print-directory $(B)/bmhguard
	@RUN_PORT=$(RUN_PORT) RUN_PLAIN_PORT=$(RUN_PLAIN_PORT) server/run-dev.sh $(B)

bench-server: deps
	@$(MAKE) --no-print-directory $(B)/bmhguard
	@tests/bench/server/bench.sh $(B)
