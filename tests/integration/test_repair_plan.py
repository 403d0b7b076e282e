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


# What a run asks before it lists: which versions serve the kinds (one GET a group version).
DISCOVERY = ["/apis/infrastructure.cluster.x-k8s.io/v1beta2", "/apis/metal3.io/v1alpha1"]
LISTS = [("infrastructure.cluster.x-k8s.io/v1beta2", "metal3machinetemplates"),
         ("infrastructure.cluster.x-k8s.io/v1beta2", "metal3machines"),
         ("metal3.io/v1alpha1", "dataimages"), ("metal3.io/v1alpha1", "hostfirmwarecomponents"),
         ("metal3.io/v1alpha1", "baremetalhosts")]

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
    "foreign": ("leave", "held"), "differ": ("leave", "held"),
    "resume": ("resume", "resumed"), "halfours": ("repair", "repaired"),
    "halfrunbook": ("leave", "held"), "ipv6port": ("repair", "repaired"),
}
HELD = ("foreign", "differ", "halfrunbook")


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
        ok(rc == 1 and doc is not None, "dry run exits 1 with JSON (hosts held by other "
           "owners' pauses still need repair)", err)
        log = d.log()
        ok(log["writes"] == 0, "dry run makes no writes", json.dumps(log["byMethod"]))
        paths = sorted(e["path"] for e in d.log("bodies=0")["entries"])
        ok(paths == sorted(DISCOVERY + ["/apis/%s/namespaces/default/%s" % (gv, r)
                                        for gv, r in LISTS]),
           "dry run of one namespace costs one LIST a kind, after one discovery GET a group "
           "version", paths)
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        for name, (action, _) in EXPECT.items():
            ok(rows.get(name, {}).get("action") == action, "plan %s -> %s" % (name, action),
               rows.get(name))
        for i in range(len(TRANSIENT)):
            r = rows.get("transient-%d" % i, {})
            ok(r.get("action") == "leave" and r.get("result") == "skipped",
               "plan transient %s -> leave, skipped" % r.get("state"), r)
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
        ok(rc == 1 and "NAMESPACE" in out.splitlines()[0] and "RESULT" in out.splitlines()[0]
           and "dry run" in out and "PATCH /apis/metal3.io/v1alpha1/namespaces/default/"
           "baremetalhosts/regerr/status" in out, "table dry run shows header, calls, summary",
           out[-1500:])

        # apply
        d.clear_log()
        rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
        ok(rc == 1, "apply exits 1: hosts held by other owners' pauses", err)
        summ = (doc or {}).get("summary", {})
        ok(summ.get("held") == len(HELD) and summ.get("failed") == 0 and
           summ.get("needsHuman") == 0, "summary counts the held hosts", summ)
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
        for n in HELD:
            ok(o(n) == before[("default", n)], "%s: paused by someone else, not written" % n)
            ok(("paused by '%s'" % pause_of(o(n))) in rows.get(n, {}).get("detail", ""),
               "%s: the report says who holds the pause" % n, rows.get(n))
        ok(not [e for e in d.log("path=/(foreign|halfrunbook|differ)")["entries"]
                if e["method"] == "PATCH"], "no PATCH was sent to a held host")
        sp, stt = img(o("notprov"))
        ok(sp["url"] == NEW and stt.get("url", "") == "" and pause_of(o("notprov")) is None,
           "notprov: spec patched only")
        npl = d.log("path=/notprov")["entries"]
        ok(len(npl) == 1 and npl[0]["method"] == "PATCH", "notprov: one call, no pause", npl)
        ok(pause_of(o("resume")) is None and img(o("resume"))[0]["url"] == NEW,
           "resume: our pause removed")
        ok(pause_of(o("halfours")) is None and img(o("halfours"))[0]["url"] == NEW,
           "halfours: spec finished, resumed")
        ok(img(o("ipv6port"))[0]["url"] == NEW and img(o("ipv6port"))[0]["checksum"] ==
           "97830b21ed272a3d854615beb54cf004", "IPv6 literal with port rewritten, digest kept")
        calls = sum(rows[n]["apiCalls"] for n in rows if rows[n]["action"] == "repair")
        nrep = sum(1 for n in rows if rows[n]["action"] == "repair")
        ok(nrep and calls / nrep <= 6, "<= 5 API calls per provisioned host, and its Event "
           "(%.1f)" % (calls / max(nrep, 1)))
        evs = {e["regarding"]["name"]: e for e in d.ctl("GET", "k8s-events")["items"]}
        want = {n: {"repaired": "Repaired", "patched": "Patched", "resumed": "Resumed",
                    "held": "PausedByOther", "skipped": "Skipped"}.get(r["result"])
                for n, r in rows.items() if r["result"] != "ok"}
        ok({n: evs.get(n, {}).get("reason") for n in want} == want,
           "an Event on every host acted on or left alone, with the outcome's reason",
           {n: evs.get(n, {}).get("reason") for n in want})
        ok(not [n for n in evs if rows.get(n, {}).get("result") == "ok"],
           "no Event on hosts with nothing to do")
        ev = evs.get("regerr", {})
        ok(ev.get("reportingController") == "bmhguard" and ev.get("type") == "Normal" and
           ev.get("regarding", {}).get("kind") == "BareMetalHost" and
           ev.get("regarding", {}).get("uid") == o("regerr")["metadata"]["uid"] and
           "repaired" in ev.get("note", ""), "the Event regards the host, from bmhguard", ev)
        ok(evs.get("foreign", {}).get("type") == "Warning" and
           "paused by 'move'" in evs.get("foreign", {}).get("note", ""),
           "a held host's Event is a Warning naming the pause", evs.get("foreign"))

        # idempotent: a second run has nothing to write
        d.clear_log()
        rc, doc, err = run_json(["-n", "default", "--apply", "--events=false"], server=d.url)
        log = d.log()
        ok(rc == 1 and log["byMethod"].get("PATCH", 0) == 0 and
           log["byMethod"].get("POST", 0) == 7, "second --apply (no Events) writes nothing "
           "(seven SelfSubjectAccessReviews: a patch of each kind, and of the two /status)",
           log["byMethod"])

        # owners hand their pauses over: worked under, left in place
        rc, doc, err = run_json(["-n", "default", "--apply", "--repair-paused-by", "true",
                                 "--repair-paused-by=move"], server=d.url)
        rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
        d.tick()
        after = check_invariants(d, before, "handed over", handed=("true", "move"))
        ok(rc == 0 and rows.get("foreign", {}).get("result") == "repaired" and
           rows.get("halfrunbook", {}).get("result") == "repaired",
           "--repair-paused-by: the handed-over hosts repaired, exit 0", err or rows)
        ok(pause_of(o("foreign")) == "move" and img(o("foreign")) == (
           {"url": NEW, "checksum": NEWSUM}, {"url": NEW, "checksum": NEWSUM}),
           "foreign: fixed under 'move', which stays")
        ok(pause_of(o("halfrunbook")) == "true" and img(o("halfrunbook"))[0]["url"] == NEW and
           img(o("halfrunbook"))[1]["url"] == NEW, "half-runbook: finished, 'true' kept")
        ok(rows.get("differ", {}).get("result") == "skipped" and
           o("differ") == before[("default", "differ")],
           "differ under a handed-over pause: still skipped, untouched", rows.get("differ"))
        ok(not [e for e in d.log("path=/(foreign|halfrunbook)")["entries"]
                if e["method"] == "PATCH" and "paused" in (e.get("body") or "")],
           "no pause written on a handed-over host")

        # our pause where spec and status differ beyond the host: never removed, exit 1
        rc, out, err = run(["-n", "other", "--apply"], server=d.url)
        ok(rc == 1 and out.count("needs-human") == 2 and "2 needing a human" in out and
           pause_of(d.obj("other", "stuck")) == OURS and
           pause_of(d.obj("other", "stuck2")) == OURS,
           "stuck hosts: exit 1, our pause left in place", out + err)
        check_invariants(d, before, "end", handed=("true", "move"))
    finally:
        d.stop()
    done()


main()
