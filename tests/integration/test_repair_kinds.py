#!/usr/bin/python3
"""test_repair_kinds - `bmhguard repair` on every Metal3 kind besides hosts, against the API double.

Metal3MachineTemplate, Metal3Machine (CAPM3), DataImage and HostFirmwareComponents objects built
to validate against their real CRDs (tests/data/metal3/crds/, the builders of
test_review_kinds.py) are seeded with their hosts into tests/kube_double.py, which models the
status subresources and records a re-flash when the operator, reconciling an unpaused host, finds
a firmware component's spec url differing from the url status.updates records as applied, and a
re-attach when attached media is swapped. Every run here asserts zero data-loss, re-flash and
re-attach events; objects left alone stay byte-identical; objects written validate against their
CRD schema and differ from before only in the rewritten urls.
"""
import copy
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import repairlib as R  # noqa: E402
from repairlib import ok  # noqa: E402
import test_review_kinds as K  # noqa: E402  (CRD-valid builders and schema validators)

NS = "metal3"
OURS = R.OURS
CAPM3_PAUSE = "cluster.x-k8s.io/paused"
RES = {"BareMetalHost": "baremetalhosts", **K.RESOURCES}
GROUP = {"BareMetalHost": "metal3.io", "DataImage": "metal3.io",
         "HostFirmwareComponents": "metal3.io", "Metal3Machine": K.CAPM3,
         "Metal3MachineTemplate": K.CAPM3}
HOST_IMG = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"


def rw(url):
    return R.rewrite_host(url)


def named(obj, name, annotations=None):
    o = copy.deepcopy(obj)
    o["metadata"]["name"] = name
    o["metadata"]["namespace"] = NS
    o["metadata"].pop("resourceVersion", None)
    o["metadata"].pop("uid", None)
    if annotations is not None:
        o["metadata"]["annotations"] = annotations
    return o


def host(name, pause=None, state="provisioned", url=HOST_IMG):
    """A host; url None: never provisioned with an image (available for a firmware update)."""
    md = {"name": name, "namespace": NS}
    if pause is not None:
        md["annotations"] = {R.PAUSE: pause}
    h = {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost", "metadata": md,
         "spec": {"online": True, "bmc": {"address": "redfish://192.0.2.1/redfish/v1/Systems/1",
                                          "credentialsName": name + "-bmc"}},
         "status": {"lastUpdated": "2026-08-21T10:00:00Z", "operationalStatus": "OK",
                    "provisioning": {"state": state}}}
    if url is not None:
        h["spec"]["image"] = {"url": url, "checksum": url + ".sha256sum"}
        h["status"]["provisioning"]["image"] = {"url": url, "checksum": url + ".sha256sum"}
    return h


def fw(name, updates, applied):
    return named(K.firmware(updates=updates, applied=applied), name)


def fleet():
    """(objects, expected {(kind, name): (action, result)} after --apply)."""
    objs = [
        host("worker-0"), host("worker-1", pause="metal3.io/capm3"),
        host("worker-2", url=rw(HOST_IMG)), host("worker-3", state="provisioning",
                                                 url=rw(HOST_IMG)),
        # applied from the literal (bmc), pending (bios), a name (nic)
        fw("worker-0", (("bmc", K.BMC), ("bios", K.BIOS), ("nic", K.NIC)),
           (("bmc", K.BMC), ("nic", K.NIC))),
        fw("worker-1", (("bmc", K.BMC),), (("bmc", K.BMC),)),            # host paused by CAPM3
        fw("worker-2", (("bmc", K.BMC),), (("bmc", rw(K.BMC)),)),        # status already done
        fw("worker-3", (("bmc", K.BMC),), (("bmc", K.BMC),)),            # host provisioning
        fw("worker-9", (("bios", K.BIOS),), (("bios", K.BIOS),)),        # no host
        fw("worker-8", (("nic", K.NIC),), (("nic", K.NIC),)),            # nothing literal
        named(K.dataimage(), "worker-0"),
        named(K.dataimage(attached=K.ISO), "worker-2"),                  # literal attached
        named(K.dataimage(), "worker-1"),                                # host paused by CAPM3
        named(K.dataimage(attached=rw(K.ISO)), "worker-7"),              # name attached, no host
        named(K.template("v1beta1"), "ubiquity-workers"),
        named(K.template("v1beta2"), "ubiquity-paused", {CAPM3_PAUSE: ""}),
        named(K.machine("v1beta2"), "ubiquity-workers-x7k2p"),
        named(K.machine("v1beta1", url=rw(K.OLD), csum=rw(K.OLD_SUM)), "ubiquity-named"),
    ]
    want = {
        ("BareMetalHost", "worker-0"): ("repair", "repaired"),
        ("BareMetalHost", "worker-1"): ("leave", "held"),
        ("BareMetalHost", "worker-2"): ("none", "ok"),
        ("BareMetalHost", "worker-3"): ("none", "ok"),
        ("HostFirmwareComponents", "worker-0"): ("repair", "repaired"),
        ("HostFirmwareComponents", "worker-1"): ("leave", "held"),
        ("HostFirmwareComponents", "worker-2"): ("patch-spec", "patched"),
        ("HostFirmwareComponents", "worker-3"): ("leave", "skipped"),
        ("HostFirmwareComponents", "worker-9"): ("repair", "repaired"),
        ("HostFirmwareComponents", "worker-8"): ("none", "ok"),
        ("DataImage", "worker-0"): ("patch-spec", "patched"),
        ("DataImage", "worker-2"): ("leave", "needs-human"),
        ("DataImage", "worker-1"): ("leave", "held"),
        ("DataImage", "worker-7"): ("patch-spec", "patched"),
        ("Metal3MachineTemplate", "ubiquity-workers"): ("patch-spec", "patched"),
        ("Metal3MachineTemplate", "ubiquity-paused"): ("leave", "held"),
        ("Metal3Machine", "ubiquity-workers-x7k2p"): ("patch-spec", "patched"),
        ("Metal3Machine", "ubiquity-named"): ("none", "ok"),
    }
    return objs, want


def snapshot(d):
    """{(kind, name): stored object} of every kind."""
    out = {}
    for kind, res in RES.items():
        for o in d.ctl("GET", "objects?resource=" + res)["items"]:
            out[(kind, o["metadata"]["name"])] = o
    return out


def stable(o):
    o = copy.deepcopy(o)
    for k in ("resourceVersion", "generation", "managedFields", "uid", "creationTimestamp"):
        o["metadata"].pop(k, None)
    return o


def first_flashes_dropped(after, before):
    """after without the status.updates entries a first flash added (a pending component the
    operator applied once the host was unpaused: not a re-flash)."""
    if after.get("kind") != "HostFirmwareComponents":
        return after
    had = {u["component"] for u in (before.get("status") or {}).get("updates", [])}
    a = copy.deepcopy(after)
    if "status" in a and "updates" in a["status"]:
        a["status"]["updates"] = [u for u in a["status"]["updates"] if u["component"] in had]
    return a


def rewritten(o):
    """o with every literal url the tests use rewritten: what a repair must leave."""
    def walk(v, path):
        if isinstance(v, dict):
            return {k: walk(x, path + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, path) for x in v]
        if isinstance(v, str) and path and path[-1] in ("url", "checksum") and R.literal(v):
            return rw(v)
        return v
    return walk(o, ())


def events(d):
    ev = d.events()
    return ev["dataLoss"], ev.get("reflash", []), ev.get("reattach", [])


def zero_events(d, label):
    loss, reflash, reattach = events(d)
    ok(not loss and not reflash and not reattach,
       label + ": zero data-loss, re-flash and re-attach events",
       json.dumps({"loss": loss[:2], "reflash": reflash[:2], "reattach": reattach[:2]}))


def rows(doc):
    return {(h["kind"], h["name"]): h for h in doc["hosts"]}


def writes(d):
    return [e for e in d.log("bodies=0")["entries"]
            if e["method"] in ("PATCH", "PUT", "POST", "DELETE") and "/events" not in e["path"]
            and "selfsubjectaccessreviews" not in e["path"]]


def test_fleet(d):
    objs, want = fleet()
    d.reset()
    d.seed(objs)
    before = snapshot(d)
    ok(len(before) == len(objs), "the fleet is seeded: %d objects of 5 kinds" % len(objs),
       sorted(before))

    d.clear_log()
    rc, doc, err = R.run_json(["-n", NS], server=d.url)
    ok(rc == 1 and doc is not None and not writes(d), "dry run: exit 1 (held, needs-human), "
       "nothing written", (rc, err[-300:]))
    got = rows(doc) if doc else {}
    planned = {k: (h["action"], h["result"]) for k, h in got.items()}
    dry_want = {k: (a, "planned" if r in ("repaired", "patched") else r)
                for k, (a, r) in want.items()}
    ok(planned == dry_want, "dry run: every object's plan, per kind and branch",
       json.dumps({"%s/%s" % k: [planned.get(k), dry_want.get(k)] for k in
                   set(planned) | set(dry_want) if planned.get(k) != dry_want.get(k)}))
    fw0 = got.get(("HostFirmwareComponents", "worker-0"), {})
    calls = [(c["method"], c["path"].rsplit("/", 2)[-2:]) for c in fw0.get("calls", [])]
    ok([m for m, _ in calls] == ["PATCH", "PATCH", "PATCH", "GET", "PATCH"] and
       calls[0][1] == ["baremetalhosts", "worker-0"] and calls[1][1] == ["worker-0", "status"] and
       calls[4][1] == ["baremetalhosts", "worker-0"],
       "applied firmware: pause the host, status, spec, read back, unpause, in that order", calls)
    body = (fw0.get("calls") or [{}, {}])[1].get("body") or {}
    ok(body.get("status", {}).get("updates") == [{"component": "bmc", "url": rw(K.BMC)},
                                                 {"component": "nic", "url": K.NIC}],
       "the status patch rewrites the applied component and keeps the others in order", body)
    summ = doc["summary"] if doc else {}
    ok(summ.get("hosts") == 4 and summ.get("objects") == len(objs) - 4,
       "summary counts hosts and other objects apart", summ)

    rc, out, err = R.run(["-n", NS, "-o", "name"], server=d.url)
    ok(rc == 1 and "hostfirmwarecomponents.metal3.io/worker-0\n" in out and
       "metal3machinetemplate.infrastructure.cluster.x-k8s.io/ubiquity-workers\n" in out and
       "baremetalhost.metal3.io/worker-0\n" in out, "-o name: kind.group/name a line", out)

    d.clear_log()
    rc, doc, err = R.run_json(["-n", NS, "--apply"], server=d.url)
    got = {k: (h["action"], h["result"]) for k, h in rows(doc).items()} if doc else {}
    ok(rc == 1 and got == want, "--apply: every object ends as planned (exit 1: held, "
       "needs-human, skipped)", json.dumps({"%s/%s" % k: [got.get(k), want.get(k)] for k in
                                           set(got) | set(want) if got.get(k) != want.get(k)}) +
       err[-300:])
    zero_events(d, "--apply")
    after = snapshot(d)
    bad_schema, bad_diff = [], []
    for (kind, name), a in after.items():
        b = before[(kind, name)]
        action, result = want[(kind, name)]
        version = a["apiVersion"].split("/")[1]
        if kind != "BareMetalHost":
            errs = K.schema_errors(kind, version, a)
            if errs:
                bad_schema.append((kind, name, errs[:2]))
        expect = stable(b) if result not in ("repaired", "patched") else stable(rewritten(b))
        if kind == "HostFirmwareComponents" and name == "worker-2":
            expect = stable(rewritten(b))
        if stable(first_flashes_dropped(a, b)) != expect and kind != "BareMetalHost":
            bad_diff.append((kind, name))
    ok(not bad_schema, "every object validates against its CRD schema after the repair", bad_schema)
    ok(not bad_diff, "written objects differ only in the rewritten urls; the others are "
       "byte-identical", bad_diff)
    paused = [k for k, o in after.items() if k[0] == "BareMetalHost" and R.pause_of(o) == OURS]
    ok(not paused, "no host left under our pause", paused)
    ok(R.pause_of(after[("BareMetalHost", "worker-1")]) == "metal3.io/capm3",
       "CAPM3's pause stays on its host")
    hfc = after[("HostFirmwareComponents", "worker-0")]
    ok(hfc["spec"]["updates"][0]["url"] == rw(K.BMC) == hfc["status"]["updates"][0]["url"],
       "applied firmware: spec and status urls rewritten together", hfc)

    # the Events regard each object by its own kind and apiVersion
    evs = d.ctl("GET", "k8s-events").get("items", [])
    kinds = {(e["regarding"]["kind"], e["regarding"]["apiVersion"]) for e in evs}
    ok({("DataImage", "metal3.io/v1alpha1"), ("HostFirmwareComponents", "metal3.io/v1alpha1"),
        ("Metal3Machine", K.CAPM3 + "/v1beta2"), ("BareMetalHost", "metal3.io/v1alpha1")} <= kinds
       and any(k == "Metal3MachineTemplate" for k, _ in kinds),
       "an Event on objects of every kind, regarding that kind", sorted(kinds))

    d.clear_log()
    rc, doc, err = R.run_json(["-n", NS, "--apply"], server=d.url)
    ok(rc == 1 and not writes(d), "a second --apply writes nothing", writes(d)[:3])
    zero_events(d, "second --apply")


def test_handed(d):
    """A pause handed over: the firmware written under it, no pause of ours, theirs kept."""
    d.reset()
    d.seed([host("worker-1", pause="metal3.io/capm3"),
            fw("worker-1", (("bmc", K.BMC),), (("bmc", K.BMC),)),
            named(K.dataimage(), "worker-1")])
    d.clear_log()
    rc, doc, err = R.run_json(["-n", NS, "--apply", "--repair-paused-by", "metal3.io/capm3",
                               "--kinds", "hfc,dataimages"], server=d.url)
    got = {k: h["result"] for k, h in rows(doc).items()} if doc else {}
    host_writes = [e for e in writes(d) if "/baremetalhosts/" in e["path"]]
    ok(rc == 0 and got == {("HostFirmwareComponents", "worker-1"): "repaired",
                           ("DataImage", "worker-1"): "patched"} and not host_writes,
       "handed over: firmware and data image written under CAPM3's pause, the host untouched",
       (got, host_writes, err[-300:]))
    a = snapshot(d)
    ok(R.pause_of(a[("BareMetalHost", "worker-1")]) == "metal3.io/capm3", "their pause stays")
    ok(doc and doc["summary"]["underOtherPause"] == 2, "counted as changed under another "
       "owner's pause", doc and doc["summary"])
    zero_events(d, "handed over")


def test_not_served():
    d = R.Double("--crds", "baremetalhosts", control=True)
    try:
        d.seed([host("worker-0")])
        rc, doc, err = R.run_json(["-n", NS], server=d.url)
        notes = [l for l in err.splitlines() if "not served" in l]
        ok(rc == 0 and doc and len(notes) == 4 and
           all(n.count("skipped") == 1 for n in notes) and doc["summary"]["kindsNotServed"] == 4,
           "kinds without a CRD: noted once each on stderr and skipped, hosts repaired", err)
        rc, out, err = R.run(["-n", NS, "--kinds", "dataimages"], server=d.url)
        ok(rc == 2 and "dataimages.metal3.io" in err and "CustomResourceDefinition" in err,
           "a kind asked for by name and not served: exit 2 saying so", (rc, err))
        rc, out, err = R.run(["-n", NS, "--kinds", "nodes"], server=d.url)
        ok(rc == 2 and "unknown kind 'nodes'" in err, "an unknown kind: usage error", err)
    finally:
        d.stop()


def test_rbac(d):
    d.reset()
    objs, _ = fleet()
    d.seed(objs)
    d.ctl("POST", "rbac", {"forbid": [{"verb": "patch", "resource": "hostfirmwarecomponents",
                                       "subresource": "status"}]})
    d.clear_log()
    rc, out, err = R.run(["-n", NS, "--apply"], server=d.url)
    ok(rc == 2 and "hostfirmwarecomponents/status" in err and not writes(d),
       "no right to patch hostfirmwarecomponents/status: exit 2 before any write", (rc, err))
    d.ctl("POST", "rbac", {"forbid": []})


def test_conflict(d):
    """The operator writes the firmware's status between our read and our write: re-read,
    re-plan, repaired, nothing flashed again."""
    d.reset()
    d.seed([host("worker-0", url=rw(HOST_IMG)),
            fw("worker-0", (("bmc", K.BMC),), (("bmc", K.BMC),))])
    d.faults([{"kind": "409", "method": "PATCH", "path": "hostfirmwarecomponents/worker-0/status$",
               "nth": 1, "times": 1}])
    rc, doc, err = R.run_json(["-n", NS, "--apply", "--kinds", "hfc,bmh"], server=d.url)
    d.clear_faults()
    r = rows(doc).get(("HostFirmwareComponents", "worker-0"), {}) if doc else {}
    ok(rc == 0 and r.get("result") == "repaired" and doc["summary"]["conflicts"] >= 1,
       "a 409 on the status write: re-planned and repaired", (r, err[-300:]))
    a = snapshot(d)
    ok(R.pause_of(a[("BareMetalHost", "worker-0")]) is None, "the host's pause is off again")
    zero_events(d, "conflict")


def api(d, method, path, body):
    req = urllib.request.Request(d.url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/merge-patch+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


HOST_PATH = "/apis/metal3.io/v1alpha1/namespaces/%s/baremetalhosts/%%s" % NS


def test_owner_midway(d):
    """CAPM3 replaces our pause while the firmware repair is between its writes (and the spec
    write conflicts): the spec is finished under CAPM3's pause, which stays; nothing is flashed
    again when CAPM3 removes it later. The same firmware half done and held by that pause in a
    later run is needs-human, never 'held, not written'."""
    d.reset()
    d.seed([host("worker-0", url=rw(HOST_IMG)),
            fw("worker-0", (("bmc", K.BMC),), (("bmc", K.BMC),))])
    d.ctl("POST", "hooks", {"method": "PATCH", "path": "baremetalhosts/worker-0$", "nth": 1,
                            "times": 1, "patch": {"metadata": {"annotations": {
                                R.PAUSE: "metal3.io/capm3"}}}})
    d.faults([{"kind": "409", "method": "PATCH", "path": "hostfirmwarecomponents/worker-0$",
               "nth": 1, "times": 1}])
    rc, doc, err = R.run_json(["-n", NS, "--apply", "--kinds", "hfc"], server=d.url)
    d.clear_faults()
    d.ctl("DELETE", "hooks")
    r = rows(doc).get(("HostFirmwareComponents", "worker-0"), {}) if doc else {}
    st = snapshot(d)
    hfc = st[("HostFirmwareComponents", "worker-0")]
    ok(rc == 0 and r.get("result") == "repaired" and "put on mid-repair" in r.get("detail", "")
       and hfc["spec"]["updates"] == hfc["status"]["updates"] and
       R.pause_of(st[("BareMetalHost", "worker-0")]) == "metal3.io/capm3",
       "a pause put on mid-repair: the spec finished under it, which stays", (r, err[-300:]))
    api(d, "PATCH", HOST_PATH % "worker-0", {"metadata": {"annotations": {R.PAUSE: None}}})
    zero_events(d, "CAPM3 removes its pause afterwards")

    d.reset()
    d.seed([host("worker-0", pause="metal3.io/capm3", url=rw(HOST_IMG)),
            fw("worker-0", (("bmc", K.BMC),), (("bmc", rw(K.BMC)),))])
    rc, doc, err = R.run_json(["-n", NS, "--apply", "--kinds", "hfc"], server=d.url)
    r = rows(doc).get(("HostFirmwareComponents", "worker-0"), {}) if doc else {}
    ok(rc == 1 and r.get("result") == "needs-human" and "keep that pause on" in r.get("detail", ""),
       "half repaired under another owner's pause: needs-human, keep the pause on", r)


def test_pause_lost(d):
    """Someone removes our pause while the firmware's status write is in flight: the operator
    may flash again, so the row says needs-human and why, never 'repaired'."""
    d.reset()
    d.seed([host("worker-0", url=rw(HOST_IMG)),
            fw("worker-0", (("bmc", K.BMC),), (("bmc", K.BMC),))])
    d.faults([{"kind": "stall", "method": "PATCH", "seconds": 3 * R.SLOW, "then": "process",
               "times": 1, "path": "hostfirmwarecomponents/worker-0/status$"}])

    def unpause_while_stalled():
        # wait on what the double saw, not on a clock: the status write is being held
        deadline = time.monotonic() + 30 * R.SLOW
        while time.monotonic() < deadline and not any(
                r.get("fired") for r in d.ctl("GET", "faults")["rules"]):
            time.sleep(0.05)
        api(d, "PATCH", HOST_PATH % "worker-0", {"metadata": {"annotations": {R.PAUSE: None}}})
    t = threading.Thread(target=unpause_while_stalled)
    t.start()
    rc, doc, err = R.run_json(["-n", NS, "--apply", "--kinds", "hfc"], server=d.url)
    t.join()
    d.clear_faults()
    r = rows(doc).get(("HostFirmwareComponents", "worker-0"), {}) if doc else {}
    ok(rc == 1 and r.get("result") == "needs-human" and "removed the host's pause" in r.get("detail", ""),
       "our pause removed by someone mid-repair: needs-human saying a re-flash may have happened",
       (r, err[-300:]))


def test_resume_hfc_only(d):
    """Cut after the firmware's spec write, run again with --kinds hfc: the firmware has nothing
    left, and our pause still comes off its host (no hosts' run will)."""
    seed = [host("worker-0", url=rw(HOST_IMG)),
            fw("worker-0", (("bmc", K.BMC),), (("bmc", K.BMC),))]
    d.reset()
    d.seed(seed)
    p = subprocess.Popen(["/bin/sh", "-c", 'read go; exec "$0" "$@"', R.BIN, "repair", "--server",
                          d.url, "-n", NS, "--apply", "--kinds", "hfc", "--events=false"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d.ctl("POST", "kill-after", {"writes": 3, "pid": p.pid, "signal": 9, "when": "before-response"})
    p.stdin.write(b"go\n")
    p.stdin.close()
    p.wait(60 * R.SLOW)
    cut = R.pause_of(snapshot(d)[("BareMetalHost", "worker-0")])
    rc, doc, err = R.run_json(["-n", NS, "--apply", "--kinds", "hfc"], server=d.url)
    r = rows(doc).get(("HostFirmwareComponents", "worker-0"), {}) if doc else {}
    ok(cut == OURS and rc == 0 and r.get("result") == "resumed" and
       R.pause_of(snapshot(d)[("BareMetalHost", "worker-0")]) is None,
       "cut before the unpause, re-run with --kinds hfc: our pause comes off", (cut, r))
    zero_events(d, "resumed by the firmware run")


def test_kill_sweep(d, state="provisioned", url=HOST_IMG):
    """SIGKILL after each write of a firmware (+ host) repair; a second run converges, nothing is
    flashed again or wiped in between, and a hosts-only run never unpauses a host whose firmware
    repair was cut half way."""
    seed = [host("worker-0", state=state, url=url),
            fw("worker-0", (("bmc", K.BMC), ("bios", K.BIOS)),
               (("bmc", K.BMC), ("bios", K.BIOS)))]
    label = "%s host: " % state
    d.reset()
    d.seed(seed)
    d.clear_log()
    rc, out, err = R.run(["-n", NS, "--apply", "--concurrency", "1", "--events=false"],
                         server=d.url)
    clean = {k: stable(o) for k, o in snapshot(d).items()}
    nwrites = len(writes(d))
    ok(rc == 0 and nwrites >= (8 if url else 4) and not R.pause_of(
        clean[("BareMetalHost", "worker-0")]), label + "clean run: %d writes, host unpaused" %
       nwrites, out + err)
    bad, kept = [], []
    for n in range(1, nwrites + 1):
        d.reset()
        d.seed(seed)
        p = subprocess.Popen(["/bin/sh", "-c", 'read go; exec "$0" "$@"', R.BIN, "repair",
                              "--server", d.url, "-n", NS, "--apply", "--concurrency", "1",
                              "--events=false"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        d.ctl("POST", "kill-after", {"writes": n, "pid": p.pid, "signal": 9,
                                     "when": "before-response"})
        p.stdin.write(b"go\n")
        p.stdin.close()
        rc = p.wait(60 * R.SLOW)
        mid = events(d)
        st = snapshot(d)
        hfc = st[("HostFirmwareComponents", "worker-0")]
        half = [u["url"] for u in hfc["spec"]["updates"]] != \
            [u["url"] for u in hfc["status"].get("updates", [])]
        if half:
            # hosts only: the host must keep our pause while its firmware is half repaired
            rc1, out1, err1 = R.run(["-n", NS, "--apply", "--kinds", "bmh", "--events=false"],
                                    server=d.url)
            h = snapshot(d)[("BareMetalHost", "worker-0")]
            kept.append((R.pause_of(h) == OURS and rc1 == 1 and "half repaired" in out1) or
                        {"n": n, "pause": R.pause_of(h), "rc": rc1, "out": out1[-400:]})
        rc2, out2, err2 = R.run(["-n", NS, "--apply", "--events=false"], server=d.url)
        got = {k: stable(o) for k, o in snapshot(d).items()}
        loss, reflash, reattach = events(d)
        if rc != -9 or any(mid) or loss or reflash or rc2 != 0 or got != clean:
            bad.append({"n": n, "rc": rc, "mid": [len(x) for x in mid], "rerun": rc2,
                        "same": got == clean, "reflash": reflash[:1], "err": err2[-300:]})
    ok(not bad, label + "SIGKILL after each of %d writes: zero data loss and re-flash, a re-run "
       "converges to the clean result" % nwrites, json.dumps(bad[:3], indent=1))
    ok(kept and all(k is True for k in kept), label + "cut half way through the firmware: a hosts-only run keeps our pause "
       "on the host and says why (%d cases)" % len(kept), kept)


def main():
    d = R.Double(control=True)
    try:
        test_fleet(d)
        test_handed(d)
        test_rbac(d)
        test_conflict(d)
        test_owner_midway(d)
        test_pause_lost(d)
        test_resume_hfc_only(d)
        test_kill_sweep(d)
        test_kill_sweep(d, state="available", url=None)
    finally:
        d.stop()
    test_not_served()
    R.done()


if __name__ == "__main__":
    main()
