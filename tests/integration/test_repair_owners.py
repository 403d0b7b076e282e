#!/usr/bin/python3
"""test_repair_owners.py - `bmhguard repair` around the hosts' other owners, against the API double
with the operator's wipe rule and its clusterctl-move restore: the status annotation a move
restores, CAPM3's and people's pauses (hands off unless handed over), an owner acting between our
writes, missing permissions (checked first; a later 403 never strands our pause), hosts only a
person should resolve, a busy operator, and Events. Every case asserts zero data-loss events,
also after moving every host to a new cluster."""
import json

from repairlib import (Double, OURS, PAUSE, REG, by_key, check_after_move, check_invariants, done,
                       ok, pause_of, run, run_json)
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)

OLD, OLDSUM, NEW, NEWSUM = fx.OLD_URL, fx.OLD_SUM, fx.NEW_URL, fx.NEW_SUM
STATUS_ANN = "baremetalhost.metal3.io/status"
CAPM3 = "metal3.io/capm3"
OTHER_IMG = OLD.replace("node", "gpu")


def ann(url, checksum):
    """A status annotation as CAPM3 writes it: a JSON copy of the host's status, in Go's key
    order, which a byte-preserving rewrite must keep."""
    return ('{"operationalStatus":"OK","lastUpdated":"2026-08-20T10:00:00Z","hardwareProfile":"",'
            '"provisioning":{"ID":"7a8d8aa7","image":{"url":"%s","checksum":"%s"},'
            '"state":"provisioned","rootDeviceHints":{"deviceName":"/dev/sda"}},'
            '"poweredOn":true,"errorCount":0,"errorMessage":""}' % (url, checksum))


host = fx.host


def spec_img(o):
    return o["spec"]["image"]


def status_img(o):
    return ((o.get("status") or {}).get("provisioning") or {}).get("image") or {}


def ann_img(o):
    text = (o["metadata"].get("annotations") or {}).get(STATUS_ANN)
    return json.loads(text)["provisioning"]["image"] if text else None


def changed(rows):
    """The hosts a run wrote: the ones a later move must not turn into a wipe."""
    return [n for n, r in rows.items() if r["result"] in ("repaired", "patched", "resumed")]


def seeded(d, hosts):
    d.reset()
    d.seed(hosts)
    d.tick()
    before = by_key(d.objects())
    ok(not d.events()["dataLoss"], "seed is safe before we start")
    return before


def test_move(d):
    hosts = [
        # paused by CAPM3 for a move: its status annotation carries the literal url
        host("capm3", status_url=OLD, status_sum=OLDSUM, error_type=REG, error_count=1,
             annotations={PAUSE: CAPM3, STATUS_ANN: ann(OLD, OLDSUM)}),
        # an aborted move: unpaused, the annotation left behind
        host("stale", status_url=OLD, status_sum=OLDSUM,
             annotations={STATUS_ANN: ann(OLD, OLDSUM)}),
        # what an older repair left: spec and status fixed, the annotation still literal
        host("oldrepair", spec_url=NEW, spec_sum=NEWSUM, status_url=NEW, status_sum=NEWSUM,
             annotations={STATUS_ANN: ann(OLD, OLDSUM)}),
        # created on the target cluster by a move: empty status, the annotation to restore from
        host("arrived", annotations={PAUSE: "true", STATUS_ANN: ann(OLD, OLDSUM)}),
        # annotations that cannot follow spec: another image, not JSON
        host("otherimg", status_url=OLD, status_sum=OLDSUM,
             annotations={STATUS_ANN: ann(OTHER_IMG, OLDSUM)}),
        host("garbled", status_url=OLD, status_sum=OLDSUM, annotations={STATUS_ANN: "{not json"}),
    ]
    before = seeded(d, hosts)
    rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
    rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
    res = {n: (r["action"], r["result"]) for n, r in rows.items()}
    ok(rc == 1, "exit 1: hosts held or needing a human remain", err)
    ok(res == {"capm3": ("leave", "held"), "stale": ("repair", "repaired"),
               "oldrepair": ("patch-annotation", "patched"), "arrived": ("leave", "held"),
               "otherimg": ("leave", "needs-human"), "garbled": ("leave", "needs-human")},
       "move cases: held, repaired, annotation patched, needs a human", res)
    ok("paused by 'metal3.io/capm3'" in rows.get("capm3", {}).get("detail", ""),
       "the held row names CAPM3's pause", rows.get("capm3"))
    after = check_invariants(d, before, "move cases")
    ok(after[("default", "capm3")] == before[("default", "capm3")],
       "CAPM3's host not written at all")
    for n in ("stale", "oldrepair"):
        o = after[("default", n)]
        ok(ann_img(o) == {"url": NEW, "checksum": NEWSUM} and spec_img(o)["url"] == NEW and
           status_img(o)["url"] == NEW, n + ": annotation, spec and status all on httpd-http")
        old_text = before[("default", n)]["metadata"]["annotations"][STATUS_ANN]
        new_text = o["metadata"]["annotations"][STATUS_ANN]
        ok(new_text == old_text.replace(OLD + '"', NEW + '"').replace(OLDSUM, NEWSUM),
           n + ": only the url and checksum literals changed in the annotation", new_text)
    spec_patch = [e for e in d.log("bodies=1&path=/stale$&method=PATCH")["entries"]
                  if "spec" in json.loads(e["body"])]
    ok(len(spec_patch) == 1 and STATUS_ANN in json.loads(spec_patch[0]["body"])["metadata"].get(
       "annotations", {}), "stale: the annotation rides in the same patch as spec", spec_patch)
    for n in ("otherimg", "garbled"):
        ok(after[("default", n)] == before[("default", n)], n + ": untouched")
        ok("annotation" in rows.get(n, {}).get("detail", ""), n + ": the row says why",
           rows.get(n))
    check_after_move(d, "move cases", changed(rows))

    # the same fleet, CAPM3's pause and the runbook's handed over: repaired under them
    before = seeded(d, hosts)
    rc, doc, err = run_json(["-n", "default", "--apply", "--repair-paused-by", CAPM3,
                             "--repair-paused-by", "true"], server=d.url)
    rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
    after = check_invariants(d, before, "handed over", handed=(CAPM3, "true"))
    c = after[("default", "capm3")]
    ok(rows.get("capm3", {}).get("result") == "repaired" and pause_of(c) == CAPM3 and
       ann_img(c) == {"url": NEW, "checksum": NEWSUM} and spec_img(c)["url"] == NEW and
       status_img(c)["url"] == NEW, "CAPM3's host handed over: repaired with its annotation, "
       "CAPM3's pause kept", rows.get("capm3"))
    a = after[("default", "arrived")]
    ok(rows.get("arrived", {}).get("result") == "patched" and spec_img(a)["url"] == NEW and
       ann_img(a) == {"url": NEW, "checksum": NEWSUM}, "arrived host: spec and the annotation "
       "it will be restored from patched together", rows.get("arrived"))
    ok(doc and doc["summary"]["underOtherPause"] == 2, "summary counts the hosts changed under "
       "another owner's pause", doc and doc["summary"])
    check_after_move(d, "handed over", changed(rows))


def hooked(d, name, path, patch, extra=()):
    d.ctl("DELETE", "hooks")
    d.ctl("POST", "hooks", {"method": "PATCH", "path": "/%s%s" % (name, path), "patch": patch})
    return run_json(["-n", "default", "--apply", name] + list(extra), server=d.url)


def test_owner_races(d):
    base = [host("h", status_url=OLD, status_sum=OLDSUM, error_type=REG, error_count=1)]
    # someone pauses right after our pause: they hold it now; we write nothing more
    before = seeded(d, base)
    rc, doc, err = hooked(d, "h", "$", {"metadata": {"annotations": {PAUSE: "maintenance"}}})
    h = d.obj("default", "h")
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 1 and row.get("result") == "held" and pause_of(h) == "maintenance" and
       spec_img(h)["url"] == OLD and status_img(h)["url"] == OLD,
       "a pause taken over after ours: held, spec == status untouched", row)
    check_invariants(d, before, "pause taken over", handed=("maintenance",))

    # someone takes the pause over right after our status write: we finish the spec under it
    before = seeded(d, base)
    rc, doc, err = hooked(d, "h", "/status$", {"metadata": {"annotations": {PAUSE: "maintenance"}}})
    h = d.obj("default", "h")
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 0 and row.get("result") == "repaired" and pause_of(h) == "maintenance" and
       spec_img(h)["url"] == NEW and status_img(h)["url"] == NEW,
       "a pause taken over mid-repair: spec finished under it, their pause kept", row)
    d.ctl("PUT", "objects/default/h", dict(h, metadata=dict(h["metadata"], annotations={})))
    ok(not d.tick()["dataLoss"], "their unpause afterwards wipes nothing")

    # the operator provisions again between our reads: every re-plan re-checks the state
    before = seeded(d, base)
    rc, doc, err = hooked(d, "h", "$", {"status": {"provisioning": {"state": "deprovisioning"}}})
    h = d.obj("default", "h")
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 1 and row.get("result") == "needs-human" and pause_of(h) == OURS,
       "state turned transient under our pause: needs a human, our pause kept", row)
    ok(not d.events()["dataLoss"], "transient under our pause: zero data loss")
    d.ctl("DELETE", "hooks")


def test_permissions(d):
    base = [host("a", status_url=OLD, status_sum=OLDSUM, error_type=REG, error_count=1),
            host("b", status_url=OLD, status_sum=OLDSUM),
            host("c", status_url="", state="available")]
    for verb, sub, label in (("patch", "status", "baremetalhosts/status"),
                             ("patch", None, "baremetalhosts")):
        before = seeded(d, base)
        rule = {"verb": verb, "group": "metal3.io", "resource": "baremetalhosts"}
        if sub:
            rule["subresource"] = sub
        d.ctl("POST", "rbac", {"forbid": [rule]})
        d.clear_log()
        rc, out, err = run(["-n", "default", "--apply"], server=d.url)
        patches = len(d.log("method=PATCH&bodies=0")["entries"])
        ok(rc == 2 and patches == 0 and label in err and len(err.strip().splitlines()) == 1,
           "%s forbidden: one error line naming it, exit 2, nothing written" % label, err)
        check_invariants(d, before, label + " forbidden")
    d.ctl("POST", "rbac", {"forbid": [{"verb": "create", "group": "events.k8s.io",
                                       "resource": "events"}]})
    rc, out, err = run(["-n", "default", "--apply"], server=d.url)
    ok(rc == 2 and "events" in err and "--events=false" in err,
       "Events forbidden: exit 2 before any write, says how to run without", err)
    rc, out, err = run(["-n", "default", "--apply", "--events=false"], server=d.url)
    ok(rc == 0, "--events=false: repairs without Events", err)
    d.ctl("POST", "rbac", {"forbid": []})

    # allowed when checked, refused when written (RBAC changed mid-run): never strand our pause
    before = seeded(d, base)
    d.faults({"kind": "403", "method": "PATCH", "path": "/status$", "times": 0})
    rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
    d.clear_faults()
    rows = {h["name"]: h for h in (doc or {}).get("hosts", [])}
    after = check_invariants(d, before, "403 on status")
    ok(rc == 1 and rows.get("a", {}).get("result") == "failed" and
       "pause was removed again" in rows.get("a", {}).get("detail", ""),
       "403 on status: failed, our pause removed again (spec == status)", rows.get("a"))
    ok(all(pause_of(after[("default", n)]) is None for n in "ab"),
       "403 on status: no host left paused")
    before = seeded(d, base)
    d.faults({"kind": "403", "method": "PATCH", "path": "/a$", "nth": 2, "times": 0})
    rc, doc, err = run_json(["-n", "default", "--apply", "a"], server=d.url)
    d.clear_faults()
    a = d.obj("default", "a")
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 1 and row.get("result") == "needs-human" and pause_of(a) == OURS and
       status_img(a)["url"] == NEW and spec_img(a)["url"] == OLD,
       "403 on spec after status: needs a human, our pause kept (spec != status)", row)
    ok(doc and doc["summary"]["needsHuman"] == 1, "needs-human counted in the summary")
    ok(not d.events()["dataLoss"], "403 on spec: zero data loss")
    rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
    ok(rc == 0 and spec_img(d.obj("default", "a"))["url"] == NEW and
       pause_of(d.obj("default", "a")) is None, "the next run finishes it", err)


def test_left_safe(d):
    """Where a write fails for good, the pause that stands between the host and a wipe stays
    (and its owner is told); ours comes off wherever that is safe."""
    # a pause handed over; status written, then spec refused: tell the owner to keep it
    before = seeded(d, [host("h", status_url=OLD, status_sum=OLDSUM,
                             annotations={PAUSE: "true"})])
    d.faults({"kind": "500", "method": "PATCH", "path": "/h$", "times": 0})
    rc, doc, err = run_json(["-n", "default", "--apply", "--repair-paused-by", "true"],
                            server=d.url)
    d.clear_faults()
    h = d.obj("default", "h")
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 1 and row.get("result") == "needs-human" and "keep the pause" in row.get(
       "detail", "") and pause_of(h) == "true",
       "handed-over pause, spec write refused after status: needs-human, keep the pause", row)
    check_invariants(d, before, "spec refused under a handed-over pause", handed=("true",))

    # our pause from an interrupted run, spec == status; --verify-url fails: our pause comes off
    before = seeded(d, [host("v", status_url=OLD, status_sum=OLDSUM, annotations={PAUSE: OURS})])
    d.ctl("POST", "images", {"missing": ["/images/ubiquity-node-rocky9.qcow2"]})
    rc, doc, err = run_json(["-n", "default", "--apply", "--verify-url", "--target-host",
                             "localhost:%d" % d.port], server=d.url)
    d.ctl("POST", "images", {"missing": []})
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 1 and row.get("result") == "failed" and "404" in row.get("detail", "") and
       pause_of(d.obj("default", "v")) is None and
       spec_img(d.obj("default", "v"))["url"] == OLD,
       "--verify-url refuses, spec == status: failed, our pause removed again", row)
    check_invariants(d, before, "verify refused")

    # moved while our pause was on: empty status, the annotation to restore from
    before = seeded(d, [host("m", annotations={PAUSE: OURS, STATUS_ANN: ann(OLD, OLDSUM)})])
    rc, doc, err = run_json(["-n", "default", "--apply"], server=d.url)
    m = d.obj("default", "m")
    row = (doc or {}).get("hosts", [{}])[0]
    ok(rc == 0 and row.get("result") == "patched" and pause_of(m) is None and
       spec_img(m)["url"] == NEW, "moved under our pause: spec patched, our pause removed", row)
    sent = [json.loads(e["body"]) for e in d.log("bodies=1&path=/m$&method=PATCH")["entries"]]
    ok(sent and STATUS_ANN in sent[0]["metadata"].get("annotations", {}) and
       "spec" in sent[0], "spec and the annotation in one patch", sent[:1])
    ev = d.tick()
    ok(not ev["dataLoss"] and [r["name"] for r in ev["restored"]] == ["m"] and
       status_img(d.obj("default", "m")) == {"url": NEW, "checksum": NEWSUM},
       "the operator restores a status that matches spec: nothing wiped", ev)


def test_busy(d):
    hosts = [host("busy-%d" % i, status_url=OLD, status_sum=OLDSUM, error_type=REG,
                  error_count=1) for i in range(6)]
    before = seeded(d, hosts)
    d.ctl("POST", "operator", {"statusWrites": 20, "latencyMs": 40})
    try:
        rc, doc, err = run_json(["-n", "default", "--apply", "--concurrency", "3"],
                                server=d.url, timeout=240)
    finally:
        d.ctl("POST", "operator", {"statusWrites": 0, "latencyMs": 0})
    s = (doc or {}).get("summary", {})
    ok(rc == 0 and s.get("repaired") == len(hosts) and s.get("conflicts", 0) > 0,
       "busy operator (20 status writes/s per host, 40 ms round trips): every host repaired "
       "after re-plans", s or err)
    check_invariants(d, before, "busy")
    check_after_move(d, "busy", ["busy-%d" % i for i in range(len(hosts))])


def test_dry_events(d):
    before = seeded(d, [host("x", status_url=OLD, status_sum=OLDSUM),
                        host("y", status_url=OLD, status_sum=OLDSUM,
                             annotations={PAUSE: CAPM3})])
    d.clear_log()
    rc, doc, err = run_json(["-n", "default", "--events"], server=d.url)
    evs = {e["regarding"]["name"]: e["reason"] for e in d.ctl("GET", "k8s-events")["items"]}
    ok(rc == 1 and len(d.log("method=PATCH&bodies=0")["entries"]) == 0 and
       evs == {"x": "NeedsRepair", "y": "PausedByOther"},
       "dry run with --events marks hosts that need repair, writes no host", evs)
    d.reset()
    d.seed(list(before.values()))
    rc, doc, err = run_json(["-n", "default"], server=d.url)
    ok(not d.ctl("GET", "k8s-events")["items"], "a dry run posts no Event unless asked")


def main():
    d = Double("--tick", "0.1")
    try:
        test_move(d)
        test_owner_races(d)
        test_permissions(d)
        test_left_safe(d)
        test_dry_events(d)
        test_busy(d)
    finally:
        d.stop()
    done()


main()
