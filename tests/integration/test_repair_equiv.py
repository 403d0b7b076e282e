#!/usr/bin/python3
"""test_repair_equiv.py - equivalence with the manual runbook: its own commands (kubectl and curl,
tests/integration/runbook_steps.sh) against one API double, `bmhguard repair --apply --server`
against a second double seeded the same way; both must end in the same host objects (ignoring
resourceVersion, generation, creationTimestamp and the pause annotation's transient value)."""
import json
import os
import shutil
import subprocess

from repairlib import (TOP, Double, REG, by_key, check_invariants, done, ok, rewrite_host, run,
                       strip_volatile)
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)

STEPS = os.path.join(TOP, "tests", "integration", "runbook_steps.sh")


def hosts():
    out = []
    forms = ["10.10.10.10", "172.22.0.1:8080", "[fd00::1]", "192.168.111.1"]
    images = ["ubiquity-node-rocky9.qcow2", "ubiquity-hpc-rocky9.qcow2",
              "ubiquity-gpu-rocky9.qcow2"]
    for i in range(6):
        url = "http://%s/images/%s" % (forms[i % len(forms)], images[i % len(images)])
        out.append(fx.host("master-%d" % i, namespace="ubiquity" if i % 2 else "default",
                           spec_url=url, spec_sum=url + ".md5sum", status_url=url,
                           status_sum=url + ".md5sum", error_type=REG, error_count=1 + i,
                           error_message=fx.REG_ERROR.replace(fx.OLD_URL, url)))
    return out


def main():
    if not shutil.which(os.environ.get("KUBECTL") or "kubectl"):
        # Debian 12 packages no kubectl new enough to install; the runbook's commands need one
        print("ok - runbook equivalence # SKIP kubectl not found: the runbook's own commands "
              "need it")
        done()
    a, b = Double(), Double()
    try:
        seed = hosts()
        a.seed(seed)
        b.seed(seed)
        before = by_key(a.objects())
        fails = []
        for h in seed:
            ns, name = h["metadata"]["namespace"], h["metadata"]["name"]
            url = rewrite_host(h["spec"]["image"]["url"])
            p = subprocess.run(["bash", STEPS, "--server", a.url, "-n", ns, "--url", url,
                                "--checksum", url + ".md5sum", name],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                fails.append((name, p.returncode, p.stderr[-400:]))
        ok(not fails, "runbook steps (kubectl + curl) ran for every host", fails)
        rc, out, err = run(["-A", "--apply", "--events=false"], server=b.url)
        ok(rc == 0, "bmhguard repair --apply on the twin double", out + err)
        a.tick()
        b.tick()
        check_invariants(a, before, "runbook")
        check_invariants(b, before, "bmhguard")
        ra = {k: strip_volatile(v, drop_pause=True) for k, v in by_key(a.objects()).items()}
        rb = {k: strip_volatile(v, drop_pause=True) for k, v in by_key(b.objects()).items()}
        diff = [k for k in ra if ra[k] != rb.get(k)]
        ok(not diff and len(ra) == len(rb) == len(seed), "same host objects after both",
           json.dumps([(ra[k], rb.get(k)) for k in diff[:1]], indent=1)[:3000])
        ok(all(o["spec"]["image"]["url"].startswith("http://httpd-http/") and
               o["status"]["errorCount"] == 0 for o in rb.values()),
           "and they are the repaired objects (spec on httpd-http, errorCount 0)")
        ok(all("annotations" not in o["metadata"] or
               "baremetalhost.metal3.io/paused" not in o["metadata"]["annotations"]
               for o in by_key(b.objects()).values()), "no pause left behind by bmhguard")
        wa, wb = a.log("entries=0")["successfulWrites"], b.log("entries=0")["successfulWrites"]
        ok(wb <= wa + len(seed), "bmhguard writes %d vs runbook %d" % (wb, wa))
    finally:
        a.stop()
        b.stop()
    done()


main()
