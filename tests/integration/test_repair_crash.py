#!/usr/bin/python3
"""test_repair_crash.py - crash safety of `bmhguard repair --apply`: SIGKILL the client after its
N-th write (the write committed, the answer never seen), and separately make the N-th API call
fail after it took effect (connection reset); for every N, the operator rule must record no data
loss, and a re-run must converge on exactly the hosts a clean run produces. The runbook's pause
'true' is handed over (--repair-paused-by); the 'move' pause is not, so every complete run exits 1
with that host held and untouched."""
import json
import subprocess

from repairlib import (BIN, Double, OURS, PAUSE, REG, SLOW, by_key, check_invariants, done, ok,
                       run, strip_volatile)
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)


def hosts():
    H = fx.host
    return [
        H("a-reg", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, error_type=REG, error_count=2,
          error_message=fx.REG_ERROR),
        H("b-ext", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, state="externally provisioned"),
        H("c-foreign", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, annotations={PAUSE: "move"}),
        H("d-halfrunbook", spec_url=fx.NEW_URL, spec_sum=fx.NEW_SUM, status_url=fx.OLD_URL,
          status_sum=fx.OLD_SUM, annotations={PAUSE: "true"}),
        H("e-notprov", status_url="", state="available"),
        H("f-halfours", status_url=fx.NEW_URL, status_sum=fx.NEW_SUM, annotations={PAUSE: OURS}),
        H("g-transient", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, state="provisioning"),
    ]


HAND = ["--repair-paused-by", "true"]


def normal(d):
    return {k: strip_volatile(v) for k, v in by_key(d.objects()).items()}


def fresh(d):
    d.reset()
    d.seed(hosts())
    d.tick()
    return by_key(d.objects())


def main():
    d = Double()
    try:
        fresh(d)
        d.clear_log()
        rc, out, err = run(["-n", "default", "--apply", "--concurrency", "1"] + HAND, server=d.url)
        ok(rc == 1 and "1 held" in out, "clean run succeeds but for the held host (exit 1)",
           out + err)
        log = d.log()
        writes, calls = log["successfulWrites"], log["count"]
        want = normal(d)
        ok(writes >= 8 and len(d.events()["dataLoss"]) == 0,
           "clean run: %d writes, %d calls, zero data loss" % (writes, calls))

        bad_kill, bad_fail = [], []
        for n in range(1, writes + 1):
            before = fresh(d)
            p = subprocess.Popen(["/bin/sh", "-c", 'read go; exec "$0" "$@"', BIN, "repair",
                                  "--server", d.url, "-n", "default", "--apply",
                                  "--concurrency", "1"] + HAND,
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            d.ctl("POST", "kill-after", {"writes": n, "pid": p.pid, "signal": 9,
                                         "when": "before-response"})
            p.stdin.write(b"go\n")
            p.stdin.close()
            rc = p.wait(60 * SLOW)
            d.tick()
            lost = len(d.events()["dataLoss"])
            rc2, out2, err2 = run(["-n", "default", "--apply"] + HAND, server=d.url)
            d.tick()
            got = normal(d)
            lost2 = len(d.events()["dataLoss"])
            if rc != -9 or lost or lost2 or rc2 != 1 or got != want:
                bad_kill.append({"n": n, "rc": rc, "lost": lost, "rerun": rc2,
                                 "lost_after": lost2, "same": got == want, "err": err2[-300:]})
            check_invariants(d, before, "kill after write %d" % n, handed=("true",))

        for n in range(1, calls + 1):
            before = fresh(d)
            d.faults([{"kind": "commit-reset", "nth": n}])
            rc, out, err = run(["-n", "default", "--apply", "--concurrency", "1"] + HAND,
                               server=d.url)
            d.clear_faults()
            d.tick()
            lost = len(d.events()["dataLoss"])
            rc2, out2, err2 = run(["-n", "default", "--apply"] + HAND, server=d.url)
            d.tick()
            got = normal(d)
            if lost or rc2 != 1 or got != want or len(d.events()["dataLoss"]):
                bad_fail.append({"n": n, "rc": rc, "lost": lost, "rerun": rc2,
                                 "same": got == want, "err": (err + err2)[-300:]})
            check_invariants(d, before, "reset after call %d" % n, handed=("true",))
        ok(not bad_kill, "SIGKILL after each of %d writes: zero data loss, re-run converges to "
           "the clean result" % writes, json.dumps(bad_kill[:3], indent=1))
        ok(not bad_fail, "failure after each of %d API calls: zero data loss, re-run converges "
           "to the clean result" % calls, json.dumps(bad_fail[:3], indent=1))
    finally:
        d.stop()
    done()


main()
