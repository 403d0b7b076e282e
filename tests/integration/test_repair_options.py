#!/usr/bin/python3
"""test_repair_options.py - selection and options of `bmhguard repair` against the API double:
paging (limit 500 / continue), -l, host names, -A vs -n, --verify-url (HEAD against a real HTTP
server on loopback), --wait (operator clearing the error, or not), --concurrency, -o json, --help
covering every flag, and usage errors."""
import http.server
import json
import os
import pty
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from repairlib import (BIN, GEN_HAND, GEN_PAUSES, Double, REG, by_key, check_invariants, done, ok, pause_of, run,
                       run_json)
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)


class Images(http.server.BaseHTTPRequestHandler):
    have = {"/images/present.qcow2", "/images/present.qcow2.md5sum"}
    seen = []

    def do_HEAD(self):
        Images.seen.append(self.path)
        self.send_response(200 if self.path in Images.have else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    d = Double()
    try:
        # paging: 1,100 generated hosts = 3 pages of at most 500
        d.generate(1100, seed=7)
        d.clear_log()
        rc, doc, err = run_json(["-A"] + GEN_HAND, server=d.url)
        lists = [e for e in d.log("bodies=0")["entries"] if e["method"] == "GET" and
                 e["path"].endswith("/baremetalhosts")]
        qs = [urllib.parse.parse_qs(e["query"]) for e in lists]
        ok(rc == 0 and len((doc or {}).get("hosts", [])) == 1100, "dry run -A sees all 1100 hosts",
           err)
        ok(len(lists) == 3 and all(q.get("limit") == ["500"] for q in qs) and
           "continue" not in qs[0] and all("continue" in q for q in qs[1:]),
           "listed in 3 pages of limit=500 with continue tokens", [e["query"][:80] for e in lists])
        ok(err == "", "no progress on stderr when it is not a terminal", err[:200])

        # the continue token expires while the run is slow: the list restarts, skipping
        # hosts already handed out (none twice, none missed)
        for apply in ([], ["--apply"]):
            d.faults([{"kind": "stall", "method": "GET", "nth": 2, "seconds": 8,
                       "then": "process", "path": "^/apis/metal3.io/v1alpha1/baremetalhosts$"}])
            p = subprocess.Popen([BIN, "repair", "--server", d.url, "-A", "-o", "json"] + apply +
                                 GEN_HAND,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # wait (bounded) until bmhguard's second page is the one stalled: with --apply its
            # lister waits for busy workers, so a fixed sleep could let an evicting list take it
            for _ in range(300):
                if any(r["fired"] for r in d.ctl("GET", "faults")["rules"]):
                    break
                time.sleep(0.1)
            for _ in range(300):     # newer lists push the stalled list's snapshot out; a
                # namespaced path, so they never match the stall rule themselves
                urllib.request.urlopen(d.url + "/apis/metal3.io/v1alpha1/namespaces/metal3/"
                                       "baremetalhosts?limit=1", timeout=10).read()
            out, err = p.communicate(timeout=60)
            d.clear_faults()
            try:
                doc = json.loads(out)
            except ValueError:
                doc = {}
            names = [(h["namespace"], h["name"]) for h in doc.get("hosts", [])]
            ok(p.returncode == 0 and doc["summary"]["listRestarts"] == 1 and
               len(names) == 1100 and len(set(names)) == 1100,
               "continue token expired%s: list restarted once, every host once" %
               (" (--apply)" if apply else ""), (p.returncode, doc.get("summary"), err[-300:]))
        d.reset()
        d.generate(1100, seed=7)
        m, s = pty.openpty()
        p = subprocess.Popen([BIN, "repair", "--server", d.url, "-A"] + GEN_HAND,
                             stdout=subprocess.DEVNULL,
                             stderr=s)
        os.close(s)
        buf = b""
        while True:
            try:
                chunk = os.read(m, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        os.close(m)
        ok(p.wait(60) == 0 and b"\rrepair: " in buf and b"/1100 hosts" in buf,
           "progress on stderr when it is a terminal and the fleet is large", buf[-300:])
        before = by_key(d.objects())

        # -l selector
        d.clear_log()
        rc, doc, err = run_json(["-A", "-l", "gen.bmhguard.test/category=registration-error"],
                                server=d.url)
        cats = {before[(h["namespace"], h["name"])]["metadata"]["labels"][
            "gen.bmhguard.test/category"] for h in (doc or {}).get("hosts", [])}
        q = [e for e in d.log("bodies=0")["entries"]
             if e["path"].endswith("/baremetalhosts")][0]["query"]
        ok(rc == 0 and cats == {"registration-error"} and "labelSelector=" in q,
           "-l passes labelSelector and selects only those hosts", (cats, q))

        # -n: one namespace only
        rc, doc, err = run_json(["-n", "ubiquity"] + GEN_HAND, server=d.url)
        nss = {h["namespace"] for h in (doc or {}).get("hosts", [])}
        ok(rc == 0 and nss == {"ubiquity"}, "-n selects one namespace", nss)

        # host names: exactly those, read with GET
        regs = sorted(k for k, o in before.items() if o["metadata"]["labels"][
            "gen.bmhguard.test/category"] == "registration-error" and k[0] == "metal3")[:3]
        d.clear_log()
        rc, doc, err = run_json(["-n", "metal3", "--apply", "--concurrency", "8"] +
                                [n for _, n in regs] + ["no-such-host"], server=d.url)
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        ok(rc == 1 and sorted(rows) == sorted([n for _, n in regs] + ["no-such-host"]),
           "host names: only those hosts; a missing one fails (exit 1)", (rc, sorted(rows)))
        ok(all(rows[n]["result"] == "repaired" for _, n in regs) and
           "NotFound" in rows.get("no-such-host", {}).get("detail", ""),
           "named hosts repaired, missing host reported NotFound", rows.get("no-such-host"))
        ok(all(pause_of(d.obj(*k)) is None for k in regs), "named hosts unpaused afterwards")

        # --concurrency 8 over the whole fleet, then invariants
        rc, doc, err = run_json(["-A", "--apply", "--concurrency", "8"] + GEN_HAND, server=d.url)
        s = (doc or {}).get("summary", {})
        ok(rc == 0 and s.get("failed") == 0 and s.get("repaired", 0) > 100,
           "--concurrency 8 repairs the fleet (%s repaired)" % s.get("repaired"), err)
        d.tick()
        check_invariants(d, before, "fleet", handed=GEN_PAUSES)
        rc, doc, err = run_json(["-A"] + GEN_HAND, server=d.url)
        s = (doc or {}).get("summary", {})
        ok(rc == 0 and s.get("planned") == 0, "nothing left to plan after the fleet run", s)
    finally:
        d.stop()

    # --verify-url: new urls on a real HTTP server at localhost:PORT
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    d = Double()
    try:
        good = "http://10.1.2.3/images/present.qcow2"
        bad = "http://10.1.2.3/images/missing.qcow2"
        d.seed([fx.host("good", spec_url=good, spec_sum=good + ".md5sum", status_url=good,
                        status_sum=good + ".md5sum", error_type=REG, error_count=1),
                fx.host("bad", spec_url=bad, spec_sum=bad + ".md5sum", status_url=bad,
                        status_sum=bad + ".md5sum", error_type=REG, error_count=1)])
        before = by_key(d.objects())
        rc, doc, err = run_json(["-n", "default", "--apply", "--verify-url", "--target-host",
                                 "localhost:%d" % port], server=d.url)
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        ok(rc == 1 and rows.get("good", {}).get("result") == "repaired",
           "--verify-url: host whose new url answers 200 repaired", rows.get("good"))
        ok(rows.get("bad", {}).get("result") == "failed" and "404" in rows["bad"]["detail"] and
           d.obj("default", "bad") == before[("default", "bad")],
           "--verify-url: host whose new url answers 404 untouched and reported", rows.get("bad"))
        ok("/images/present.qcow2.md5sum" in Images.seen, "checksum url verified too",
           Images.seen)
        check_invariants(d, before, "verify-url")

        # --wait: the operator clears the error after the repair
        d.reset()
        d.seed([fx.host("w%d" % i, status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, error_type=REG,
                        error_count=1, error_message=fx.REG_ERROR) for i in range(3)])
        d.ctl("POST", "operator", {"clearErrors": True, "clearDelay": 1})
        before = by_key(d.objects())
        rc, doc, err = run_json(["-n", "default", "--apply", "--wait", "20s"], server=d.url)
        check_invariants(d, before, "--wait")
        waits = [h for h in (doc or {}).get("hosts", []) if h["phase"] == "wait"]
        ok(rc == 0 and len(waits) == 3 and all(w["result"] == "cleared" for w in waits),
           "--wait reports each host's error cleared by the operator", waits or err)
        d.reset()
        d.seed([fx.host("u0", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, error_type=REG,
                        error_count=1, annotations={"baremetalhost.metal3.io/paused": "true"})])
        d.ctl("POST", "operator", {"clearErrors": True, "clearDelay": 0})
        rc, doc, err = run_json(["-n", "default", "--apply", "--wait", "30s",
                                 "--repair-paused-by", "true"], server=d.url)
        waits = [h for h in (doc or {}).get("hosts", []) if h["phase"] == "wait"]
        ok(rc == 0 and not waits and doc["hosts"][0]["result"] == "repaired",
           "--wait skips a host left under its owner's pause (the operator clears nothing "
           "while paused)", doc or err)
        d.reset()
        d.seed([fx.host("x0", status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, error_type=REG,
                        error_count=1)])
        d.ctl("POST", "operator", {"clearErrors": False})
        before = by_key(d.objects())
        rc, out, err = run(["-n", "default", "--apply", "--wait", "1500ms"], server=d.url)
        check_invariants(d, before, "--wait timeout")
        ok(rc == 1 and "not cleared" in out and "still set" in out,
           "--wait: error not cleared in time -> reported, exit 1", out + err)
    finally:
        d.stop()
        srv.shutdown()

    # --help documents every flag the parser knows
    h = subprocess.run([BIN, "repair", "--help"], capture_output=True, text=True, timeout=10)
    flags = ["--server", "--kubeconfig", "--context", "--timeout", "-n", "--namespace", "-A",
             "--all-namespaces", "-l", "--selector", "--apply", "--verify-url", "--wait",
             "--concurrency", "-o", "--output", "--target-host", "--match-cidr", "--path-prefix",
             "--mode", "--repair-paused-by", "--host-deadline", "--events", "-h", "--help"]
    missing = [f for f in flags if not re.search(r"(^|[\s,])" + re.escape(f) + r"\b", h.stdout)]
    ok(h.returncode == 0 and not missing, "--help documents every flag", missing)
    for args, why in ((["-n", "a", "-A"], "-n with -A"), (["-A", "h1"], "names with -A"),
                      (["--concurrency", "0"], "--concurrency 0"), (["--wait", "soon"], "bad --wait"),
                      (["--mode", "warn", "--apply"], "--mode warn with --apply"),
                      (["--server", "127.0.0.1:1"], "--server without scheme"),
                      (["--match-cidr", "300.0.0.0/8"], "bad policy flag"),
                      (["--events=maybe"], "bad --events"),
                      (["--host-deadline", "0"], "--host-deadline 0"),
                      (["--repair-paused-by", "bmhguard-repair"], "our own pause handed over")):
        rc, out, err = run(args, server=None)
        ok(rc == 2 and len(err.strip().splitlines()) == 1 and not out,
           "usage error: %s -> exit 2, one line" % why, (rc, out, err))
    done()


main()
