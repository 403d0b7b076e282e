#!/usr/bin/python3
"""test_repair_scale.py - `bmhguard repair --apply` on generated fleets of mixed states (every
category of tests/gen_hosts.py): zero data loss, hosts under foreign pauses held and
byte-identical, other untouchable hosts byte-identical, <= 5 API calls per repaired host (Events
off), and peak RSS flat as the fleet grows five-fold
(ratio bound, not a time bound). The 10,000-host figures are in `make bench-repair`."""
import json
import os

from repairlib import (BIN, OURS, SANITIZED, Double, by_key, check_invariants, done, needs_repair,
                       ok, pause_of, peak_rss_kb, run_json)

# Smaller under ASan (slower, and its shadow memory is not what is being measured).
SMALL = int(os.environ.get("REPAIR_SCALE_SMALL", "1000"))
LARGE = int(os.environ.get("REPAIR_SCALE_LARGE", "3000" if SANITIZED else "5000"))
# ASan's quarantine keeps freed memory resident on purpose; shrink it so RSS means something.
ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"} \
    if SANITIZED else None


def fleet(n):
    d = Double("--tick", "0.5")
    d.generate(n, seed=11)
    return d


def main():
    rss = {}
    for n in (SMALL, LARGE):
        d = fleet(n)
        try:
            before = by_key(d.objects())
            held = sum(1 for o in before.values() if pause_of(o) not in (None, OURS) and
                       needs_repair(o))
            rc, kb, out = peak_rss_kb([BIN, "repair", "--server", d.url, "-A", "--apply",
                                       "--events=false", "-o", "json"], env=ENV)
            rss[n] = kb
            ok(rc == 1, "%d hosts: --apply exits 1 (hosts held by other owners' pauses)" % n,
               out[-500:])
            try:
                s = json.loads(out)["summary"]
            except ValueError:
                s = {}
            ok(s.get("hosts") == n and s.get("failed") == 0 and s.get("needsHuman") == 0 and
               s.get("held") == held, "%d hosts: all seen, none failed, %d held" % (n, held), s)
            rep = s.get("repaired", 0)
            calls = sum(h["apiCalls"] for h in json.loads(out)["hosts"]
                        if h["action"] == "repair") if s else 0
            ok(rep > 0 and calls / rep <= 5.0, "%d hosts: %.2f API calls per repaired host" %
               (n, calls / max(rep, 1)))
            d.tick()
            check_invariants(d, before, "%d hosts" % n)
            rc, doc, err = run_json(["-A"], server=d.url)
            ok(rc == 1 and doc["summary"]["planned"] == 0 and doc["summary"]["held"] == held,
               "%d hosts: converged (nothing left to plan but the held hosts)" % n,
               doc and doc["summary"])
        finally:
            d.stop()
    ratio = rss[LARGE] / max(rss[SMALL], 1)
    print("# peak RSS: %d hosts %d KiB, %d hosts %d KiB, ratio %.2f" %
          (SMALL, rss[SMALL], LARGE, rss[LARGE], ratio))
    ok(ratio < 1.3, "peak RSS flat as the fleet grows %dx (ratio %.2f < 1.3)" %
       (LARGE // SMALL, ratio))
    done()


main()
