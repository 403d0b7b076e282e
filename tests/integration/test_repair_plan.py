#!/usr/bin/python3
"""test_repair_plan.py - every plan branch of `bmhguard repair`, dry run then --apply, against
the Kubernetes API double with the operator's deprovision rule on."""
import json

from repairlib import (Double, OURS, PAUSE, REG, TRANSIENT, by_key, check_invariants, done, ok,
                       pause_of, run, run_json)
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)

OLD, OLDSUM, NEW, NEWSUM = fx.OLD_URL, fx.OLD_SUM, fx.NEW_URL, fx.NEW_SUM
OLD_HPC = OLD.replace("node", "hpc")
NEW_HPC = NEW.replace("node", "hpc")
V6 = "http://[fd00:1::5]:6180/images/ubiquity-node-rocky9.qcow2"


def hosts():
    H = fx.host
    hs = [
        H("named", spec_url=NEW, spec_sum=NEWSUM, status_url=NEW, status_sum=NEWSUM),
        H("notprov", status_url="", state="available"),
        H("noimage", spec_url=None, spec_sum=None, status_url="", state="available"),
        H("regerr", status_url=OLD, status_sum=OLDSUM, error_type=REG, error_count=3,
          error_message=fx.REG_ERROR),
        H("extprov", status_url=OLD, status_sum=OLDSUM, state="externally provisioned"),
        H("foreign", status_url=OLD, status_sum=OLDSUM, annotations={PAUSE: "move"},
          error_type=REG, error_count=1, error_message=fx.REG_ERROR),
        H("differ", spec_url=OLD_HPC, status_url=OLD, status_sum=OLDSUM,
          annotations={PAUSE: "true"}),
        H("resume", spec_url=NEW, spec_sum=NEWSUM, status_url=NEW, status_sum=NEWSUM,
          annotations={PAUSE: OURS}, error_type=REG),
        H("halfours", status_url=NEW, status_sum=NEWSUM, annotations={PAUSE: OURS},
          error_type=REG),
        H("halfrunbook", spec_url=NEW, spec_sum=NEWSUM, status_url=OLD, status_sum=OLDSUM,
          annotations={PAUSE: "true"}, error_type=REG, error_count=1),
        H("ipv6port", spec_url=V6, spec_sum="97830b21ed272a3d854615beb54cf004", status_url=V6,
          status_sum="97830b21ed272a3d854615beb54cf004"),
        H("stuck", namespace="other", spec_url=NEW_HPC, status_url=NEW, status_sum=NEWSUM,
          annotations={PAUSE: OURS}),
        H("stuck2", namespace="other", spec_url=NEW_HPC, spec_sum=NEWSUM, status_url=NEW,
          status_sum=NEWSUM, annotations={PAUSE: OURS}),
    ]
    for i, st in enumerate(sorted(TRANSIENT)):
        hs.append(H("transient-%d" % i, status_url="" if st in ("registering", "inspecting",
                    "preparing") else OLD, status_sum=OLDSUM, state=st))
    return hs


EXPECT = {  # name -> (action, result) after --apply
    "named": ("none", "ok"), "notprov": ("patch-spec", "patched"), "noimage": ("none", "ok"),
    "regerr": ("repair", "repaired"), "extprov": ("repair", "repaired"),
    "foreign": ("repair", "repaired"), "differ": ("skip", "skipped"),
    "resume": ("resume", "resumed"), "halfours": ("repair", "repaired"),
    "halfrunbook": ("repair", "repaired"), "ipv6port": ("repair", "repaired"),
}


def main():
    d = Double()
    try:
        d.seed(hosts())
        d.tick()
        before = by_key(d.objects())
        ok(len(d.events()["dataLoss"]) == 0, "seed itself is safe (no data loss before we start)")

        # dry run: plan printed, nothing written
        d.clear_log()
        rc, doc, err = run_json(["-n", "default"], server=d.url)
        ok(rc == 0 and doc is not None, "dry run exits 0 with JSON", err)
        log = d.log()
        ok(log["writes"] == 0, "dry run makes no writes", json.dumps(log["byMethod"]))
        ok(log["count"] == 1, "dry run of one namespace costs one LIST", log["count"])
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        for name, (action, _) in EXPECT.items():
            ok(rows.get(name, {}).get("action") == action, "plan %s -> %s" % (name, action),
               rows.get(name))
        for i in range(len(TRANSIENT)):
            r = rows.get("transient-%d" % i, {})
            ok(r.get("action") in ("skip",), "plan transient %s -> skip" % r.get("state"), r)
        reg = rows.get("regerr", {})
        methods = [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in reg.get("calls", [])]
        ok(methods == [("PATCH", "regerr"), ("PATCH", "status"), ("PATCH", "regerr"),
                       ("GET", "regerr"), ("PATCH", "regerr")],
           "dry run lists the runbook's calls in order: pause, status, spec, read, resume", methods)
        bodies = [c.get("body") for c in reg.get("calls", []) if c["method"] == "PATCH"]
        ok(all(b and b["metadata"].get("resourceVersion") for b in bodies),
           "every planned patch carries metadata.resourceVersion", bodies)
        ok(bodies and bodies[0]["metadata"]["annotations"][PAUSE] == OURS,
           "planned pause value is " + OURS, bodies[:1])
        st = bodies[1]["status"] if len(bodies) > 1 else {}
        ok(st.get("errorCount") == 0 and st.get("errorMessage") == "" and
           st["provisioning"]["image"] == {"url": NEW, "checksum": NEWSUM},
           "planned status patch: new image, errorCount 0, errorMessage \"\"", st)
        ext = rows.get("extprov", {})
        est = [c["body"] for c in ext.get("calls", []) if c["path"].endswith("/status")]
        ok(est and "errorCount" not in est[0]["status"],
           "no error clearing without a registration error", est)
        rc, out, _ = run(["-n", "default"], server=d.url)
        ok(rc == 0 and "NAMESPACE" in out.splitlines()[0] and "RESULT" in out.splitlines()[0]
           and "dry run" in out and "PATCH /apis/metal3.io/v1alpha1/namespaces/default/"
           "baremetalhosts/regerr/status" in out, "table dry run shows header, calls, summary",
           out[-1500:])

        # apply
        d.clear_log()
        rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
        ok(rc == 0, "apply exits 0", err)
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        for name, (action, result) in EXPECT.items():
            r = rows.get(name, {})
            ok((r.get("action"), r.get("result")) == (action, result),
               "apply %s -> %s %s" % (name, action, result), r)
        d.tick()
        after = check_invariants(d, before, "apply")

        def o(n, ns="default"):
            return after[(ns, n)]

        def img(x):
            return x["spec"]["image"], x["status"]["provisioning"]["image"]

        sp, stt = img(o("regerr"))
        ok(sp == {"url": NEW, "checksum": NEWSUM} and stt == sp, "regerr: spec and status on "
           "httpd-http", (sp, stt))
        s = o("regerr")["status"]
        ok(s["errorCount"] == 0 and s["errorMessage"] == "" and pause_of(o("regerr")) is None,
           "regerr: error count/message cleared, our pause removed", s.get("errorCount"))
        entries = d.log("bodies=1&path=/regerr")["entries"]
        seq = [(e["method"], e["path"].endswith("/status")) for e in entries]
        ok(seq == [("PATCH", False), ("PATCH", True), ("PATCH", False), ("GET", False),
                   ("PATCH", False)], "regerr: 5 calls in the runbook's order", seq)
        ok(all(json.loads(e["body"])["metadata"].get("resourceVersion")
               for e in entries if e["method"] == "PATCH"),
           "regerr: every patch sent carries resourceVersion")
        ok(img(o("extprov"))[0]["url"] == NEW and img(o("extprov"))[1]["url"] == NEW and
           o("extprov")["status"]["provisioning"]["state"] == "externally provisioned",
           "extprov: repaired, state kept")
        ok(pause_of(o("foreign")) == "move" and img(o("foreign"))[0]["url"] == NEW and
           img(o("foreign"))[1]["url"] == NEW, "foreign pause: fixed, 'move' pause kept")
        ok("left in place" in rows.get("foreign", {}).get("detail", ""),
           "foreign pause reported", rows.get("foreign"))
        sp, stt = img(o("notprov"))
        ok(sp["url"] == NEW and stt.get("url", "") == "" and pause_of(o("notprov")) is None,
           "notprov: spec patched only")
        npl = d.log("path=/notprov")["entries"]
        ok(len(npl) == 1 and npl[0]["method"] == "PATCH", "notprov: one call, no pause", npl)
        ok(pause_of(o("resume")) is None and img(o("resume"))[0]["url"] == NEW,
           "resume: our pause removed")
        ok(pause_of(o("halfours")) is None and img(o("halfours"))[0]["url"] == NEW,
           "halfours: spec finished, resumed")
        ok(pause_of(o("halfrunbook")) == "true" and img(o("halfrunbook"))[1]["url"] == NEW,
           "half-runbook: status fixed, the runbook's pause kept")
        ok(img(o("ipv6port"))[0]["url"] == NEW and img(o("ipv6port"))[0]["checksum"] ==
           "97830b21ed272a3d854615beb54cf004", "IPv6 literal with port rewritten, digest kept")
        ok(o("differ") == before[("default", "differ")], "differ: untouched")
        calls = sum(rows[n]["apiCalls"] for n in rows if rows[n]["action"] == "repair")
        nrep = sum(1 for n in rows if rows[n]["action"] == "repair")
        ok(nrep and calls / nrep <= 5, "<= 5 API calls per provisioned host (%.1f)" %
           (calls / max(nrep, 1)))

        # idempotent: a second run has nothing to do
        d.clear_log()
        rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
        log = d.log()
        ok(rc == 0 and log["writes"] == 0, "second --apply writes nothing", log["byMethod"])

        # our pause where spec and status differ beyond the host: never removed, exit 1
        rc, out, err = run(["-n", "other", "--apply"], server=d.url)
        ok(rc == 1 and out.count("needs a human") == 2 and
           pause_of(d.obj("other", "stuck")) == OURS and
           pause_of(d.obj("other", "stuck2")) == OURS,
           "stuck hosts: exit 1, our pause left in place", out + err)
        check_invariants(d, before, "end")
    finally:
        d.stop()
    done()


main()
