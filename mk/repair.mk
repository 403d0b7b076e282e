# repair.mk - `bmhguard repair` benchmark: 10,000 mixed hosts against tests/kube_double.py, and
# the runbook's kubectl/curl commands in a shell loop on 100 of them (bounded: 25 minutes).
.PHONY: bench-repair
bench-repair: $(B)/bmhguard
	@BMHGUARD=$(abspath $(B)/bmhguard) BMHGUARD_TOP=$(CURDIR) \
	  timeout -k 5 1500 /usr/bin/python3 tests/bench/repair/bench_repair.py
