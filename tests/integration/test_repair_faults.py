#!/usr/bin/python3
"""test_repair_faults.py - `bmhguard repair --apply` under injected API faults (409, 429 with
Retry-After, 500, connection resets before and after the write commits, a stall past --timeout),
a host that keeps failing, and an unreachable server. Each case ends with zero data loss. The
'move' pause of one host is handed over (--repair-paused-by), so faults hit that path too."""
import time

from repairlib import (Double, REG, by_key, check_invariants, done, ok, pause_of, run,
                       run_json)
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)


def seed(d, n=3):
    d.reset()
    hs = [fx.host("h%d" % i, status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, error_type=REG,
                  error_count=1, error_message=fx.REG_ERROR) for i in range(n)]
    hs.append(fx.host("foreign", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM,
                      annotations={fx_pause(): "move"}))
    d.seed(hs)
    d.tick()
    return by_key(d.objects())


HAND = ["--repair-paused-by", "move"]


def fx_pause():
    return "baremetalhost.metal3.io/paused"


def all_fixed(d, n=3):
    objs = by_key(d.objects())
    for i in range(n):
        o = objs[("default", "h%d" % i)]
        if (o["spec"]["image"]["url"] != fx.NEW_URL or
                o["status"]["provisioning"]["image"]["url"] != fx.NEW_URL or
                pause_of(o) is not None or o["status"]["errorCount"] != 0):
            return False
    f = objs[("default", "foreign")]
    return f["spec"]["image"]["url"] == fx.NEW_URL and pause_of(f) == "move"


def case(d, name, rules, args=(), expect_rc=0, check=None):
    before = seed(d)
    d.clear_log()
    if rules:
        d.faults(rules)
    t0 = time.time()
    rc, doc, err = run_json(["-n", "default", "--apply", "--concurrency", "2"] + HAND +
                            list(args), server=d.url)
    el = time.time() - t0
    fired = sum(r["fired"] for r in d.ctl("GET", "faults")["rules"])
    d.clear_faults()
    ok(rc == expect_rc, name + ": exit %d" % expect_rc, "rc=%s %s" % (rc, err))
    ok(fired > 0 or not rules, name + ": the fault fired")
    if expect_rc == 0:
        ok(all_fixed(d), name + ": every host repaired, foreign pause kept")
    d.tick()
    check_invariants(d, before, name, handed=("move",))
    if check:
        check(doc, el, err)
    return doc


def main():
    d = Double()
    try:
        case(d, "409 on status patch", [{"kind": "409", "method": "PATCH", "path": "/status$"}],
             check=lambda doc, el, err: ok(
                 d.log("method=GET")["count"] >= 2, "409: the host was read again"))
        case(d, "429 with Retry-After", [{"kind": "429", "method": "PATCH", "retryAfter": 1,
                                          "times": 2}], args=["--concurrency", "1"],
             check=lambda doc, el, err: ok(el >= 1.8, "429: Retry-After honoured twice (%.1fs)"
                                           % el))
        case(d, "500 on list", [{"kind": "500", "method": "GET", "times": 2}])
        case(d, "503 on spec patch", [{"kind": "503", "method": "PATCH", "path": "h1$"}])
        case(d, "reset before the write", [{"kind": "reset", "method": "PATCH", "nth": 2}])
        case(d, "reset after the write committed",
             [{"kind": "commit-reset", "method": "PATCH", "path": "h0$", "nth": 2}])
        case(d, "stall past --timeout", [{"kind": "stall", "method": "PATCH", "seconds": 4,
                                          "then": "process", "nth": 3}],
             args=["--timeout", "1s"])

        # one host keeps failing: it is reported, the others are repaired, exit 1
        doc = case(d, "persistent 500 on one host",
                   [{"kind": "500", "path": "/h2/status$", "times": 0}], expect_rc=1)
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        h2 = rows.get("h2", {})
        ok(h2.get("result") == "failed" and "InternalError" in h2.get("detail", "") and
           "gave up" in h2.get("detail", ""), "failed host has one clear line", h2)
        ok(pause_of(d.obj("default", "h2")) is None and "pause was removed again" in
           h2.get("detail", ""), "failed host: our pause removed again (spec and status still "
           "agree), and the row says so", h2)
        ok(rows.get("h0", {}).get("result") == "repaired", "other hosts repaired", rows.get("h0"))
        rc, doc, err = run_json(["-n", "default", "--apply"] + HAND, server=d.url)
        ok(rc == 0 and all_fixed(d), "re-run after the fault is gone converges", err)
        ok(len(d.events()["dataLoss"]) == 0, "re-run: zero data loss")

        # list keeps failing: exit 2 with the decoded Status message
        seed(d)
        d.faults([{"kind": "500", "method": "GET", "times": 0}])
        rc, out, err = run(["-n", "default"], server=d.url)
        d.clear_faults()
        lines = [x for x in err.splitlines() if x.strip()]
        ok(rc == 2 and len(lines) == 1 and "InternalError" in lines[0],
           "list failing: exit 2, one line with the Status reason", err)
    finally:
        d.stop()

    # nobody listening: exit 2, bounded, one line
    t0 = time.time()
    rc, out, err = run(["-A"], server="http://127.0.0.1:1")
    ok(rc == 2 and "Couldn't connect" in err and len(err.strip().splitlines()) == 1 and
       time.time() - t0 < 30, "connection refused: exit 2, one line (%.1fs)" % (time.time() - t0),
       err)
    done()


main()
