# review-tests.mk - the review path's test data: fuzz seed corpora and the benchmark request.
#
#   make review-data       regenerate fuzz/corpus/url, fuzz/corpus/review and
#                          tests/data/bench-update-review.json from tests/lib/bmh_fixtures.py
#   make review-callgrind  instruction counts of the review benchmark under valgrind (stable)

.PHONY: review-data review-callgrind

review-data:
	@mkdir -p fuzz/corpus/url fuzz/corpus/review tests/data
	@BMHGUARD_TOP=$(CURDIR) /usr/bin/python3 -c '\
	import sys, json; sys.path.insert(0, "tests/lib"); import bmh_fixtures as f; \
	[open("fuzz/corpus/url/%02d" % i, "w").write(u) for i, u in enumerate(f.seed_urls())]; \
	[open("fuzz/corpus/review/%s.json" % n, "w").write(json.dumps(r, separators=(",", ":"))) \
	 for n, r in f.seed_reviews()]; \
	open("tests/data/bench-update-review.json", "w").write( \
	    json.dumps(f.bench_update_review(), separators=(",", ":")) + "\n")'
	@echo "review-data: $$(ls fuzz/corpus/url | wc -l) URL seeds, $$(ls fuzz/corpus/review | wc -l) review seeds, $$(wc -c < tests/data/bench-update-review.json) byte bench request"

# Instruction counts are stable where wall time is not (a shared or busy machine).
CALLGRIND_ITER ?= 300
review-callgrind: all
	@for half in decision parse; do \
	  fn=bench_decision; [ $$half = parse ] && fn=bench_bare_parse; \
	  BMHGUARD_TOP=$(CURDIR) valgrind --tool=callgrind --toggle-collect=$$fn \
	    --callgrind-out-file=$(B)/bench/callgrind.$$half.out \
	    $(B)/bench/bench_review --callgrind $$half --iterations $(CALLGRIND_ITER) 2>&1 | \
	    sed -n "s/^==[0-9]*== Collected : \([0-9]*\)/$$half \1/p"; \
	done | awk -v n=$(CALLGRIND_ITER) '{ ir[$$1] = $$2 / n } END { \
	  if (!ir["decision"] || !ir["parse"]) { print "review-callgrind: no counts" > "/dev/stderr"; exit 1 } \
	  printf "bench review (callgrind): decision %.0f Ir/review, bare json-c parse %.0f Ir/review, ratio %.2f (goal <= 1.30)\n", \
	    ir["decision"], ir["parse"], ir["decision"] / ir["parse"] }'
	@echo "profile: callgrind_annotate --inclusive=yes $(B)/bench/callgrind.decision.out | head -60"

