# server.mk - the webhook server's benchmark.
#
#   make bench-server   wrk over HTTPS keep-alive: full mutate path vs fixed route, req/s, p50,
#                       p99, peak RSS (BENCH_SECONDS=10; BENCH_SOAK=1 adds the 500k soak)

.PHONY: bench-server

bench-server: deps-test
	@$(MAKE) --no-print-directory $(B)/bmhguard
	@tests/bench/server/bench.sh $(B)
