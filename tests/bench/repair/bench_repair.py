#!/usr/bin/python3
"""bench_repair.py - `make bench-repair`: bmhguard repair on 10,000 generated hosts of mixed
states against tests/kube_double.py (plan time, repair time, hosts/s, API calls per repaired
host, peak RSS, RSS at 2,000 vs 10,000 hosts), and beside it the runbook's own commands
(tests/integration/runbook_steps.sh: kubectl + curl + jq) in a shell loop on 100 of those hosts,
and a busy fleet: the operator writing every host's status 20 times a second at 40 ms round
trips; and a fleet whose hosts come with their DataImages, HostFirmwareComponents, Metal3Machines
and Metal3MachineTemplates (one line a kind). The generator's other owners' pauses are handed over (--repair-paused-by) so the same
hosts are repaired as before hands-off became the default; Events are off for the call figure
and measured on the small fleet. Every step has a time bound. Prints "bench-repair: ..." lines.

The API double is a single-process Python server; it, not bmhguard, bounds the request rate."""
import json
import os
import subprocess
import sys
import time

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                                      "../../.."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from repairlib import BIN, GEN_HAND, Double, peak_rss_kb, rewrite_host  # noqa: E402
import gen_hosts  # noqa: E402 (repairlib puts tests/ on the path)

HOSTS = int(os.environ.get("BENCH_REPAIR_HOSTS", "10000"))
SMALL = int(os.environ.get("BENCH_REPAIR_SMALL", "2000"))
LOOP = int(os.environ.get("BENCH_REPAIR_LOOP", "100"))
CONC = os.environ.get("BENCH_REPAIR_CONCURRENCY", "4")
STEPS = os.path.join(TOP, "tests", "integration", "runbook_steps.sh")


def fig(msg):
    print("bench-repair: " + msg, flush=True)


def timed(cmd, timeout=600):
    t0 = time.monotonic()
    rc, kb, out = peak_rss_kb(cmd, timeout=timeout)
    return rc, kb, out, time.monotonic() - t0


def repair_run(n, events):
    """Dry run, then --apply, on a fresh double with n generated hosts."""
    d = Double("--tick", "0", "--log-max", "1000")
    try:
        t0 = time.monotonic()
        d.generate(n, seed=42)
        gen_s = time.monotonic() - t0
        base = [BIN, "repair", "--server", d.url, "-A", "--concurrency", CONC, "-o", "json"] + \
            GEN_HAND
        rc, plan_kb, out, plan_s = timed(base)
        if rc != 0:
            raise SystemExit("bench-repair: dry run failed rc=%d" % rc)
        planned = json.loads(out)["summary"]["planned"]
        d.clear_log()
        rc, apply_kb, out, apply_s = timed(base + ["--apply", "--events=%s" %
                                                   ("true" if events else "false")])
        if rc != 0:
            raise SystemExit("bench-repair: --apply failed rc=%d" % rc)
        doc = json.loads(out)
        s = doc["summary"]
        full = [h for h in doc["hosts"] if h["action"] == "repair" and h["result"] == "repaired"]
        calls_full = sum(h["apiCalls"] for h in full)
        log = d.log("entries=0")
        lost = len(d.tick()["dataLoss"])
        return {"n": n, "gen_s": gen_s, "plan_s": plan_s, "plan_kb": plan_kb, "planned": planned,
                "apply_s": apply_s, "apply_kb": apply_kb, "summary": s, "full": len(full),
                "calls_full": calls_full, "requests": log["count"], "lost": lost}
    finally:
        d.stop()


KINDS = ("Metal3MachineTemplate", "Metal3Machine", "DataImage", "HostFirmwareComponents",
         "BareMetalHost")


def kinds_run(n):
    """--apply on n generated hosts with an object of every other kind beside each."""
    d = Double("--tick", "0", "--log-max", "1000", control=True)
    try:
        d.ctl("POST", "generate", {"count": n, "seed": 42, "with": [
            "dataimages", "hostfirmwarecomponents", "metal3machines", "metal3machinetemplates"]})
        base = [BIN, "repair", "--server", d.url, "-A", "--concurrency", CONC, "-o", "json",
                "--events=false"] + GEN_HAND
        rc, kb, out, el = timed(base + ["--apply"])
        if rc not in (0, 1):
            raise SystemExit("bench-repair: kinds --apply failed rc=%d" % rc)
        doc = json.loads(out)
        ev = d.events()
        per = {}
        for h in doc["hosts"]:
            k = per.setdefault(h["kind"], {"n": 0, "done": 0, "calls": 0, "left": 0})
            k["n"] += 1
            if h["result"] in ("repaired", "patched", "resumed"):
                k["done"] += 1
                k["calls"] += h["apiCalls"]
            elif h["result"] != "ok":
                k["left"] += 1
        return el, kb, per, doc["summary"], ev
    finally:
        d.stop()


def kubectl_loop(n):
    """The runbook's commands for n registration-error hosts of the same fleet, one by one."""
    d = Double("--tick", "0", "--log-max", "1000")
    try:
        d.generate(HOSTS, seed=42)
        objs = d.objects()
        pick = [o for o in objs if o["metadata"]["labels"].get("gen.bmhguard.test/category") ==
                "registration-error"][:n]
        lines = []
        for o in pick:
            url = rewrite_host(o["spec"]["image"]["url"])
            ck = o["spec"]["image"].get("checksum", "")
            ck = rewrite_host(ck) if "://" in ck else ck
            lines.append("%s %s %s %s" % (o["metadata"]["namespace"], o["metadata"]["name"],
                                          url, ck))
        script = ('fails=0; while read -r ns name url ck; do bash "$STEPS" --server "$SRV" -n "$ns" '
                  '--url "$url" --checksum "$ck" "$name" >/dev/null 2>&1 || fails=$((fails+1)); '
                  'done; echo $fails')
        t0 = time.monotonic()
        p = subprocess.run(["bash", "-c", script], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, STEPS=STEPS, SRV=d.url))
        el = time.monotonic() - t0
        fails = int((p.stdout.strip() or "0").splitlines()[-1])
        lost = len(d.tick()["dataLoss"])
        return len(pick), el, fails, lost
    finally:
        d.stop()


def busy_fleet(n=20, hz=20, latency_ms=40):
    """n registration-error hosts whose status the operator writes hz times a second each."""
    d = Double("--tick", "0.5")
    try:
        d.seed([h for h in gen_hosts.generate(400, 42) if h["metadata"]["labels"].get(
            "gen.bmhguard.test/category") == "registration-error"][:n])
        n = len(d.objects())
        d.ctl("POST", "operator", {"statusWrites": hz, "latencyMs": latency_ms})
        t0 = time.monotonic()
        p = subprocess.run([BIN, "repair", "--server", d.url, "-A", "--apply", "--events=false",
                            "--concurrency", CONC, "-o", "json"], capture_output=True,
                           text=True, timeout=600)
        el = time.monotonic() - t0
        d.ctl("POST", "operator", {"statusWrites": 0, "latencyMs": 0})
        s = json.loads(p.stdout)["summary"] if p.stdout else {}
        lost = len(d.tick()["dataLoss"])
        return n, s, el, lost
    finally:
        d.stop()


def main():
    small = repair_run(SMALL, True)
    big = repair_run(HOSTS, False)
    s = big["summary"]
    fig("fleet %d mixed hosts (double generated them in %.1f s); concurrency %s" %
        (big["n"], big["gen_s"], CONC))
    fig("plan (dry run) %.2f s, %d hosts to change, %.0f hosts/s, peak RSS %.1f MiB" %
        (big["plan_s"], big["planned"], big["n"] / big["plan_s"], big["plan_kb"] / 1024))
    fig("repair --apply %.2f s: %d repaired, %d spec patched, %d resumed, %d skipped, %d "
        "nothing to do, %d failed; %.0f hosts/s (%.0f changed hosts/s)" %
        (big["apply_s"], s["repaired"], s["patched"], s["resumed"], s["skipped"],
         s["nothingToDo"], s["failed"], big["n"] / big["apply_s"],
         (s["repaired"] + s["patched"] + s["resumed"]) / big["apply_s"]))
    fig("API calls per repaired (provisioned) host %.2f (goal <= 5, Events off); %d requests in "
        "all incl. list pages and permission checks; data-loss events %d" %
        (big["calls_full"] / max(big["full"], 1), big["requests"], big["lost"]))
    fig("with Events (%d hosts): %.2f API calls per repaired host, %d Events posted: one call "
        "per host acted on or left alone" % (small["n"], small["calls_full"] /
                                              max(small["full"], 1), small["summary"]["events"]))
    fig("peak RSS --apply: %d hosts %.1f MiB, %d hosts %.1f MiB, ratio %.2f (flat)" %
        (small["n"], small["apply_kb"] / 1024, big["n"], big["apply_kb"] / 1024,
         big["apply_kb"] / max(small["apply_kb"], 1)))
    # Conservative: the whole run's time charged to the full repairs alone.
    per_host = big["apply_s"] / max(big["full"], 1)
    bn, bs, bel, blost = busy_fleet()
    fig("busy fleet: %d hosts, operator writing each status 20 times/s, 40 ms round trips: "
        "%d/%d repaired (%.0f%%, goal all), %d failed, %d conflicts re-planned, %.1f s, "
        "data-loss events %d" % (bn, bs.get("repaired", 0), bn, 100.0 * bs.get("repaired", 0) /
                                 max(bn, 1), bs.get("failed", 0), bs.get("conflicts", 0), bel,
                                 blost))
    el_k, kb_k, per, ks, ev = kinds_run(SMALL)
    fig("kinds fleet: %d hosts with their other objects, --apply %.2f s, %.0f objects/s, peak RSS "
        "%.1f MiB; data-loss %d, re-flash %d, re-attach %d events" %
        (SMALL, el_k, (ks["hosts"] + ks["objects"]) / el_k, kb_k / 1024, len(ev["dataLoss"]),
         len(ev.get("reflash", [])), len(ev.get("reattach", []))))
    for kind in KINDS:
        k = per.get(kind, {"n": 0, "done": 0, "calls": 0, "left": 0})
        fig("kind %s: %d objects, %d written, %d left alone, %.2f API calls per object written"
            % (kind, k["n"], k["done"], k["left"], k["calls"] / max(k["done"], 1)))
    n, el, fails, lost = kubectl_loop(LOOP)
    fig("runbook kubectl/curl loop on %d registration-error hosts: %.1f s, %.3f s/host, %d "
        "failed, data-loss events %d" % (n, el, el / max(n, 1), fails, lost))
    fig("bmhguard %.4f s per repaired host (whole run / full repairs) vs runbook loop %.3f s/host: %.0fx faster (goal >= 50x)"
        % (per_host, el / max(n, 1), (el / max(n, 1)) / per_host))


main()
