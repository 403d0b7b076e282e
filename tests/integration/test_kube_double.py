#!/usr/bin/python3
"""test_kube_double - the Kubernetes API test double (tests/kube_double.py) behaves as documented.

Prints TAP lines (ok / not ok - NAME), exits 1 if any failed. Loopback only, bounded: every
double it starts is killed at exit; every network call has a timeout. Checks: status-subresource
semantics, RFC 7386 null deletion, resourceVersion/409, pagination (complete, non-overlapping,
snapshot, 410), label/field selectors, the operator's deprovision rule and data-loss events, each
fault kind, kill-after, the request log, kubectl get/patch and the runbook's steps against it,
TLS with token, token file and client certificate (kubectl kubeconfig variants), 10,000 hosts.
"""

import atexit
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("BMHGUARD_TOP") or os.path.dirname(os.path.dirname(HERE))
DOUBLE = os.path.join(TOP, "tests", "kube_double.py")
RUNBOOK = os.path.join(HERE, "runbook_steps.sh")
SHARED = os.environ.get("SHARED_DIR") or os.path.join(TOP, "..", "shared")
PY = "/usr/bin/python3"
GV = "/apis/metal3.io/v1alpha1"
PAUSED = "baremetalhost.metal3.io/paused"
CAT = "gen.bmhguard.test/category"
MERGE = "application/merge-patch+json"

sys.path.insert(0, os.path.join(TOP, "tests"))
import gen_hosts  # noqa: E402

tmp = tempfile.mkdtemp(prefix="kdtest.")
procs = []
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402
check = tap.ok


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


class Double:
    def __init__(self, *args, tls=None):
        self.tls = tls  # ssl client context when the double serves TLS
        cmd = [PY, DOUBLE] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        procs.append(self.proc)
        line = self.proc.stdout.readline()  # bounded: the double prints it before serving
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError("double did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])
        self.control_port = None
        if "--control-port-file" in args:
            self.control_port = int(self.proc.stdout.readline().split()[1])
        scheme = "https" if tls else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def req(self, method, path, body=None, ctype=None, headers=None, timeout=10, ctx=None,
            port=None, plain=False):
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            ctype = ctype or "application/json"
        if ctype:
            h["Content-Type"] = ctype
        if self.tls and not plain:
            conn = http.client.HTTPSConnection("127.0.0.1", port or self.port, timeout=timeout,
                                               context=ctx or self.tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            try:
                parsed = json.loads(data) if data else None
            except ValueError:
                parsed = data
            return r.status, dict(r.getheaders()), parsed
        finally:
            conn.close()

    def ctl(self, method, path, body=None):
        port = self.control_port or self.port
        status, _, out = self.req(method, "/_double/" + path, body, port=port,
                                  plain=bool(self.control_port))
        if status != 200:
            raise RuntimeError("control %s %s: %s %s" % (method, path, status, out))
        return out

    def obj(self, ns, name):
        return self.ctl("GET", "objects/%s/%s" % (ns, name))


def path_of(ns, name, sub=""):
    return "%s/namespaces/%s/baremetalhosts/%s%s" % (GV, ns, name, "/" + sub if sub else "")


def is_status(out, code, reason):
    return (isinstance(out, dict) and out.get("kind") == "Status" and out.get("apiVersion") == "v1"
            and out.get("status") == "Failure" and out.get("code") == code
            and out.get("reason") == reason and bool(out.get("message")))


def host(name, ns="default", state="provisioned", url="http://10.10.10.10/images/a.qcow2",
         status_url=None, paused=None, labels=None, error=None):
    o = {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
         "metadata": {"name": name, "namespace": ns, "labels": labels or {"role": "worker"}},
         "spec": {"online": True, "image": {"url": url, "checksum": url + ".md5sum"}},
         "status": {"errorCount": 0, "errorMessage": "", "operationalStatus": "OK",
                    "poweredOn": True, "provisioningFailCount": 0,
                    "provisioning": {"ID": "x", "state": state,
                                     "image": {"url": url if status_url is None else status_url,
                                               "checksum": url + ".md5sum"}}}}
    if paused is not None:
        o["metadata"]["annotations"] = {PAUSED: paused}
    if error:
        o["status"].update(errorType=error, errorCount=1, errorMessage="adoption failed",
                           operationalStatus="error")
    return o


# ------------------------------------------------------------------------------------------

def test_generator():
    hosts = gen_hosts.generate(400, 7)
    cats = {h["metadata"]["labels"][CAT] for h in hosts}
    check(cats == set(gen_hosts.CATEGORIES), "generator covers every category",
          set(gen_hosts.CATEGORIES) - cats)
    sizes = [len(json.dumps(h, separators=(",", ":"))) for h in hosts]
    avg = sum(sizes) / len(sizes)
    check(6000 <= avg <= 10000, "generated hosts are about 8 KB", avg)
    check(gen_hosts.generate(50, 3) == gen_hosts.generate(50, 3), "generator is deterministic")
    keys = {(h["metadata"]["namespace"], h["metadata"]["name"]) for h in hosts}
    check(len(keys) == len(hosts), "generated names are unique")
    try:
        import jsonschema
        import yaml
        crd = yaml.safe_load(open(os.path.join(SHARED, "metal3", "metal3.io_baremetalhosts.yaml")))
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        errs = [e.message for h in hosts[:120]
                for e in jsonschema.Draft4Validator(schema).iter_errors(h)]
        check(not errs, "generated hosts validate against the real CRD schema", errs[:3])
    except ImportError as exc:
        check(False, "generated hosts validate against the real CRD schema", exc)
    ok = True
    for h in hosts:
        st, sp = h["status"]["provisioning"], h["spec"].get("image", {}).get("url", "")
        unpaused = PAUSED not in h["metadata"].get("annotations", {})
        if st["state"] in ("provisioned", "externally provisioned") and unpaused and \
                sp != st["image"]["url"]:
            ok = False
    check(ok, "no generated host would be deprovisioned by the operator")


def test_discovery_and_seed(d):
    st, _, out = d.req("GET", "/version")
    check(st == 200 and out.get("major") == "1", "GET /version")
    st, _, out = d.req("GET", "/apis")
    check(st == 200 and out["kind"] == "APIGroupList" and
          out["groups"][0]["name"] == "metal3.io", "GET /apis lists metal3.io")
    st, _, out = d.req("GET", GV)
    res = {r["name"]: r for r in out.get("resources", [])}
    check(st == 200 and "bmh" in res.get("baremetalhosts", {}).get("shortNames", []) and
          "baremetalhosts/status" in res, "APIResourceList has shortName bmh and /status")
    st, _, out = d.req("GET", "/api/v1")
    check(st == 200 and out["kind"] == "APIResourceList", "GET /api/v1")
    st, _, out = d.req("GET", "/openapi/v2")
    check(st == 404, "GET /openapi/v2 is 404 (kubectl copes)")
    with open(os.path.join(SHARED, "metal3", "examples", "worker-0.yaml"), "rb") as f:
        st, _, out = d.req("POST", "/_double/seed", f.read(), "application/yaml")
    check(st == 200 and out == {"seeded": 1, "skipped": 1},
          "seed from the real example YAML (Secret skipped)", out)
    st, _, out = d.req("GET", path_of("default", "worker-0"))
    check(st == 200 and out["spec"]["image"]["url"] == "http://172.22.0.1/images/"
          "rhcos-ootpa-latest.qcow2" and out["metadata"].get("uid") and
          out["metadata"].get("creationTimestamp") and out["metadata"].get("resourceVersion"),
          "GET single returns the seeded object with uid/creationTimestamp/resourceVersion")
    st, _, out = d.req("GET", path_of("default", "nope"))
    check(st == 404 and is_status(out, 404, "NotFound") and
          out["details"]["name"] == "nope", "404 NotFound Status for a missing host", out)
    st, _, out = d.req("GET", GV + "/namespaces/default/secrets")
    check(st == 404 and is_status(out, 404, "NotFound"), "other resources are 404")


def test_patch_semantics(d):
    d.ctl("POST", "seed", [host("p1", labels={"a": "1", "b": "2"})])
    base = d.obj("default", "p1")
    rv0 = int(base["metadata"]["resourceVersion"])
    gen0 = base["metadata"]["generation"]

    st, _, out = d.req("PATCH", path_of("default", "p1"),
                       {"metadata": {"labels": {"a": None, "c": "3"}}}, MERGE)
    check(st == 200 and out["metadata"]["labels"] == {"b": "2", "c": "3"},
          "merge patch: null deletes a key, others merge", out.get("metadata"))
    rv1 = int(out["metadata"]["resourceVersion"])
    check(rv1 > rv0 and out["metadata"]["generation"] == gen0,
          "metadata change bumps resourceVersion, not generation")

    st, _, out = d.req("PATCH", path_of("default", "p1"),
                       {"metadata": {"labels": {"c": "3"}}}, MERGE)
    check(st == 200 and int(out["metadata"]["resourceVersion"]) == rv1,
          "no-op patch keeps resourceVersion")

    st, _, out = d.req("PATCH", path_of("default", "p1"),
                       {"metadata": {"annotations": {PAUSED: "t"}}, "spec": {"online": False},
                        "status": {"errorCount": 99}}, MERGE)
    check(st == 200 and out["spec"]["online"] is False and out["status"]["errorCount"] == 0 and
          out["metadata"]["generation"] == gen0 + 1,
          "write to the resource ignores .status, spec change bumps generation", out["status"])

    st, _, out = d.req("PATCH", path_of("default", "p1", "status"),
                       {"metadata": {"labels": {"x": "y"}}, "spec": {"online": True},
                        "status": {"errorCount": 5, "errorMessage": None}}, MERGE)
    check(st == 200 and out["status"]["errorCount"] == 5 and "errorMessage" not in out["status"]
          and out["spec"]["online"] is False and "x" not in out["metadata"]["labels"],
          "write to /status ignores everything but .status (null deletes there too)")

    cur = d.obj("default", "p1")["metadata"]["resourceVersion"]
    stale = str(int(cur) - 1)
    for sub in ("", "status"):
        st, _, out = d.req("PATCH", path_of("default", "p1", sub),
                           {"metadata": {"resourceVersion": stale}, "status": {"errorCount": 1},
                            "spec": {"online": True}}, MERGE)
        check(st == 409 and is_status(out, 409, "Conflict") and "p1" in out["message"],
              "stale resourceVersion -> 409 Conflict Status (%s)" % (sub or "resource"), out)
    check(d.obj("default", "p1")["metadata"]["resourceVersion"] == cur, "409 changed nothing")
    st, _, out = d.req("PATCH", path_of("default", "p1", "status"),
                       {"metadata": {"resourceVersion": cur}, "status": {"errorCount": 2}}, MERGE)
    check(st == 200 and out["status"]["errorCount"] == 2 and
          int(out["metadata"]["resourceVersion"]) > int(cur),
          "current resourceVersion in a /status patch is accepted")

    st, _, out = d.req("PATCH", path_of("default", "p1"),
                       {"metadata": {"annotations": None}}, "application/strategic-merge-patch+json")
    check(st == 415 and is_status(out, 415, "UnsupportedMediaType"),
          "strategic merge patch -> 415 as for real custom resources")
    st, _, out = d.req("PATCH", path_of("default", "p1"),
                       [{"op": "test", "path": "/spec/online", "value": False},
                        {"op": "replace", "path": "/spec/online", "value": True},
                        {"op": "remove", "path": "/metadata/annotations/" +
                         PAUSED.replace("/", "~1")}], "application/json-patch+json")
    check(st == 200 and out["spec"]["online"] is True and "annotations" not in out["metadata"],
          "JSON patch (RFC 6902); empty annotations map dropped", out.get("metadata"))
    st, _, out = d.req("PATCH", path_of("default", "p1"),
                       [{"op": "test", "path": "/spec/online", "value": False}],
                       "application/json-patch+json")
    check(st == 422 and is_status(out, 422, "Invalid"), "failing JSON patch test -> 422")
    st, _, out = d.req("PATCH", path_of("default", "p1"), b"{nope", MERGE)
    check(st == 400 and is_status(out, 400, "BadRequest"), "malformed patch -> 400")
    st, _, out = d.req("PATCH", path_of("default", "nope"), {"spec": {}}, MERGE)
    check(st == 404 and is_status(out, 404, "NotFound"), "patch of a missing host -> 404")

    cur = d.obj("default", "p1")
    body = json.loads(json.dumps(cur))
    body["metadata"].pop("resourceVersion")
    st, _, out = d.req("PUT", path_of("default", "p1"), body)
    check(st == 422 and is_status(out, 422, "Invalid"), "PUT without resourceVersion -> 422")
    body = json.loads(json.dumps(cur))
    body["spec"]["online"] = False
    body["status"]["errorCount"] = 42
    st, _, out = d.req("PUT", path_of("default", "p1"), body)
    check(st == 200 and out["spec"]["online"] is False and out["status"]["errorCount"] == 2,
          "PUT with resourceVersion updates spec and keeps status")
    st, _, out = d.req("PUT", path_of("default", "p1"), body)
    check(st == 409 and is_status(out, 409, "Conflict"), "PUT with a stale resourceVersion -> 409")

    st, _, out = d.req("POST", GV + "/namespaces/ns9/baremetalhosts", host("c1", ns="ns9"))
    check(st == 201 and "status" not in out and out["metadata"]["namespace"] == "ns9",
          "POST creates (status dropped: subresource enabled)")
    st, _, out = d.req("POST", GV + "/namespaces/ns9/baremetalhosts", host("c1", ns="ns9"))
    check(st == 409 and is_status(out, 409, "AlreadyExists"), "POST of an existing name -> 409")
    st, _, out = d.req("DELETE", path_of("ns9", "c1"))
    st2, _, _ = d.req("GET", path_of("ns9", "c1"))
    check(st == 200 and st2 == 404, "DELETE removes the host")


def test_list(d):
    d.ctl("POST", "reset")
    hosts = gen_hosts.generate(1000, 11)
    d.ctl("POST", "seed", {"kind": "List", "items": hosts})
    want = sorted((h["metadata"]["namespace"], h["metadata"]["name"]) for h in hosts)

    def pages(path, limit, mutate_after_first=None):
        got, cont, n = [], "", 0
        while n < 100:
            n += 1
            q = "limit=%d" % limit + ("&continue=" + cont if cont else "")
            st, _, out = d.req("GET", path + ("&" if "?" in path else "?") + q)
            if st != 200:
                return None, out
            got.extend(out["items"])
            cont = out["metadata"].get("continue", "")
            if n == 1 and mutate_after_first:
                mutate_after_first()
            if not cont:
                return got, n
        return None, "too many pages"

    got, n = pages(GV + "/baremetalhosts", 70)
    keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in got or []]
    check(keys == want and n == 15, "cluster-wide list pages: complete, ordered, non-overlapping",
          (len(keys), n))
    st, _, out = d.req("GET", GV + "/baremetalhosts?limit=70")
    check(out["metadata"].get("remainingItemCount") == 930, "remainingItemCount without selector")
    st, _, out = d.req("GET", GV + "/baremetalhosts")
    check(st == 200 and len(out["items"]) == 1000 and "continue" not in out["metadata"] and
          out["kind"] == "BareMetalHostList", "list without limit returns everything")

    ns_want = [k for k in want if k[0] == "ubiquity"]
    got, n = pages(GV + "/namespaces/ubiquity/baremetalhosts", 33)
    check([(o["metadata"]["namespace"], o["metadata"]["name"]) for o in got or []] == ns_want,
          "namespaced list pages complete")

    # pages are served from the first page's snapshot: a write in between is not seen
    last = want[-1]

    def touch():
        d.req("PATCH", path_of(last[0], last[1]), {"metadata": {"labels": {"touched": "1"}}},
              MERGE)
    got, n = pages(GV + "/baremetalhosts", 200, touch)
    lastobj = [o for o in got or [] if (o["metadata"]["namespace"], o["metadata"]["name"]) == last]
    check(lastobj and "touched" not in lastobj[0]["metadata"]["labels"] and
          "touched" in d.obj(*last)["metadata"]["labels"],
          "later pages come from the first page's snapshot")

    sel_cases = [
        ("%s=registration-error" % CAT, lambda l: l.get(CAT) == "registration-error"),
        ("%s==good,role=master" % CAT, lambda l: l.get(CAT) == "good" and l.get("role") == "master"),
        ("%s!=good" % CAT, lambda l: l.get(CAT) != "good"),
        ("touched", lambda l: "touched" in l),
        ("!touched,role=master", lambda l: "touched" not in l and l.get("role") == "master"),
        ("%s in (differ,half-runbook)" % CAT, lambda l: l.get(CAT) in ("differ", "half-runbook")),
        ("%s notin (good, registration-error),rack=r01" % CAT,
         lambda l: l.get(CAT) not in ("good", "registration-error") and l.get("rack") == "r01"),
    ]
    all_objs = d.ctl("GET", "objects")["items"]
    for sel, pred in sel_cases:
        exp = sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in all_objs
                     if pred(o["metadata"].get("labels", {})))
        got, n = pages(GV + "/baremetalhosts?labelSelector=" + sel.replace(" ", "%20")
                       .replace("(", "%28").replace(")", "%29"), 50)
        keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in got or []]
        check(got is not None and keys == exp and exp, "labelSelector %s (%d hosts)" % (sel, len(exp)),
              (len(keys), len(exp)))
    st, _, out = d.req("GET", GV + "/baremetalhosts?labelSelector=a%20%3E%3E%20b")
    check(st == 400 and is_status(out, 400, "BadRequest"), "bad labelSelector -> 400")
    st, _, out = d.req("GET", GV + "/baremetalhosts?fieldSelector=metadata.name=" + last[1])
    check(st == 200 and [o["metadata"]["name"] for o in out["items"]] == [last[1]],
          "fieldSelector metadata.name")
    st, _, out = d.req("GET", GV + "/baremetalhosts?limit=5&continue=garbage")
    check(st == 400 and is_status(out, 400, "BadRequest"), "invalid continue token -> 400")
    st, _, first = d.req("GET", GV + "/baremetalhosts?limit=5")
    for _ in range(260):  # push the first snapshot out of the kept window
        d.req("GET", GV + "/baremetalhosts?limit=1")
    st, _, out = d.req("GET", GV + "/baremetalhosts?limit=5&continue=" +
                       first["metadata"]["continue"])
    check(st == 410 and is_status(out, 410, "Expired"), "evicted continue token -> 410 Expired")
    st, hdr, out = d.req("GET", GV + "/namespaces/metal3/baremetalhosts?limit=3",
                         headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    cols = [c["name"] for c in out.get("columnDefinitions", [])]
    check(st == 200 and out.get("kind") == "Table" and "State" in cols and len(out["rows"]) == 3
          and out["metadata"].get("continue"), "Table output with the CRD printer columns")


def test_operator(d):
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [
        host("prov", paused="true", status_url="http://10.10.10.10/images/old.qcow2"),
        host("ext", state="externally provisioned"),
        host("avail", state="available", status_url=""),
        host("insp", state="inspecting"),
        host("held", paused="move"),
    ])
    st, _, _ = d.req("PATCH", path_of("default", "prov"),
                     {"metadata": {"annotations": {PAUSED: None}}}, MERGE)
    ev = d.ctl("GET", "events")
    dl = ev["dataLoss"]
    check(st == 200 and len(dl) == 1 and dl[0]["name"] == "prov" and dl[0]["trigger"] == "write"
          and dl[0]["specURL"] == "http://10.10.10.10/images/a.qcow2"
          and dl[0]["statusURL"] == "http://10.10.10.10/images/old.qcow2",
          "unpausing a provisioned host with spec != status records data loss", ev)
    check(d.obj("default", "prov")["status"]["provisioning"]["state"] == "deprovisioning",
          "the wiped host goes to deprovisioning")
    for name in ("ext", "avail", "insp", "held"):
        d.req("PATCH", path_of("default", name),
              {"spec": {"image": {"url": "http://httpd-http/images/b.qcow2"}}}, MERGE)
    dl = d.ctl("GET", "events")["dataLoss"]
    check([e["name"] for e in dl] == ["prov", "ext"],
          "externally provisioned is wiped; available, inspecting and paused hosts are not",
          [e["name"] for e in dl])
    # a host put in place without the rule is caught by the tick
    d.ctl("PUT", "objects/default/late", host("late", status_url="http://1.2.3.4/x"))
    deadline = time.time() + 5
    while time.time() < deadline and len(d.ctl("GET", "events")["dataLoss"]) < 3:
        time.sleep(0.1)
    dl = d.ctl("GET", "events")["dataLoss"]
    check(len(dl) == 3 and dl[2]["name"] == "late" and dl[2]["trigger"] == "tick",
          "the operator tick finds violating hosts", dl[-1:])

    # error clearing model (optional), used by --wait tests
    d.ctl("POST", "operator", {"clearErrors": True, "clearDelay": 1.5})
    d.ctl("POST", "seed", [host("e1", paused="true", error="provisioned registration error",
                                url="http://httpd-http/images/a.qcow2"),
                           host("e2", paused="true", error="provisioned registration error")])
    for n in ("e1", "e2"):
        d.req("PATCH", path_of("default", n), {"metadata": {"annotations": {PAUSED: None}}}, MERGE)
    s1 = d.obj("default", "e1")["status"]
    check(s1.get("errorType") == "provisioned registration error",
          "error not cleared before clearDelay")
    deadline = time.time() + 5
    while time.time() < deadline and d.obj("default", "e1")["status"].get("errorType"):
        time.sleep(0.1)
    s1, s2 = d.obj("default", "e1")["status"], d.obj("default", "e2")["status"]
    check("errorType" not in s1 and s1["errorCount"] == 0 and s1["operationalStatus"] == "OK",
          "unpaused host on a name url: registration error cleared", s1)
    check(s2.get("errorType") == "provisioned registration error",
          "unpaused host on a literal-IP url keeps its error")
    d.ctl("POST", "operator", {"clearErrors": False})


def test_faults(d):
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [host("f1")])
    p = path_of("default", "f1")
    d.ctl("POST", "faults", [{"kind": "500", "method": "GET", "path": "/f1$"},
                             {"kind": "429", "method": "GET", "path": "/f1$", "retryAfter": 3},
                             {"kind": "503", "method": "GET", "path": "/f1$"},
                             {"kind": "409", "method": "PATCH", "path": "/f1$"}])
    st1, _, o1 = d.req("GET", p)
    st2, h2, o2 = d.req("GET", p)
    st3, _, o3 = d.req("GET", p)
    st4, _, o4 = d.req("GET", p)
    check(st1 == 500 and is_status(o1, 500, "InternalError"), "fault 500 Status")
    check(st2 == 429 and is_status(o2, 429, "TooManyRequests") and h2.get("Retry-After") == "3",
          "fault 429 with Retry-After", h2)
    check(st3 == 503 and is_status(o3, 503, "ServiceUnavailable"), "fault 503 Status")
    check(st4 == 200, "faults fire once by default, then requests pass")
    rv = d.obj("default", "f1")["metadata"]["resourceVersion"]
    st, _, out = d.req("PATCH", p, {"spec": {"online": False}}, MERGE)
    check(st == 409 and is_status(out, 409, "Conflict") and
          d.obj("default", "f1")["metadata"]["resourceVersion"] == rv,
          "fault 409 Conflict without effect")

    d.ctl("DELETE", "faults")
    d.ctl("POST", "faults", {"kind": "reset", "method": "PATCH"})
    try:
        d.req("PATCH", p, {"spec": {"online": False}}, MERGE)
        reset_seen = False
    except (ConnectionError, http.client.HTTPException, OSError):
        reset_seen = True
    check(reset_seen and d.obj("default", "f1")["metadata"]["resourceVersion"] == rv,
          "fault reset: connection dropped, no effect")
    d.ctl("POST", "faults", {"kind": "commit-reset", "method": "PATCH"})
    try:
        d.req("PATCH", p, {"spec": {"online": False}}, MERGE)
        reset_seen = False
    except (ConnectionError, http.client.HTTPException, OSError):
        reset_seen = True
    check(reset_seen and d.obj("default", "f1")["spec"]["online"] is False,
          "fault commit-reset: connection dropped after the write took effect")

    d.ctl("POST", "faults", {"kind": "stall", "method": "PATCH", "seconds": 2.5})
    t0 = time.time()
    try:
        d.req("PATCH", p, {"spec": {"online": True}}, MERGE, timeout=0.5)
        timed_out = False
    except (socket.timeout, TimeoutError):
        timed_out = True
    check(timed_out and time.time() - t0 < 2.0, "fault stall outlasts a 0.5 s client timeout")
    time.sleep(2.5)
    check(d.obj("default", "f1")["spec"]["online"] is False, "stall (then reset) had no effect")
    d.ctl("POST", "faults", {"kind": "stall", "method": "PATCH", "seconds": 0.6,
                             "then": "process"})
    st, _, out = d.req("PATCH", p, {"spec": {"online": True}}, MERGE, timeout=5)
    check(st == 200 and out["spec"]["online"] is True, "stall then process answers late")

    # concurrency is visible in the log: three requests held at once
    d.ctl("DELETE", "log")
    d.ctl("POST", "faults", {"kind": "stall", "method": "GET", "path": "/f1$", "seconds": 1.5,
                             "then": "process", "times": 3})
    import threading
    res = []
    ts = [threading.Thread(target=lambda: res.append(d.req("GET", p)[0])) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    # a handler leaves the in-flight count just after its answer is sent: allow it 2 s
    for _ in range(40):
        log = d.ctl("GET", "log")
        if log["inflight"] == 0:
            break
        time.sleep(0.05)
    ts_ = sorted(e["t"] for e in log["entries"])
    check(res == [200] * 3 and log["maxInflight"] == 3 and log["inflight"] == 0 and
          ts_[-1] - ts_[0] < 1.4, "log shows maxInflight and arrival times", log["maxInflight"])
    d.ctl("DELETE", "faults")

    # hostile input: one clear Status, the double keeps serving
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n" % p).encode())
    answer = s.recv(4096).decode(errors="replace")
    s.close()
    check(answer.startswith("HTTP/1.1 400") and '"reason":"BadRequest"' in answer,
          "bad Content-Length -> 400 Status", answer[:200])
    check(d.req("GET", p)[0] == 200, "the double keeps serving after bad input")

    d.ctl("POST", "faults", {"kind": "500", "path": "/f1$", "nth": 3, "times": 2})
    codes = [d.req("GET", p)[0] for _ in range(6)]
    check(codes == [200, 200, 500, 500, 200, 200], "fault nth/times select matching requests",
          codes)
    rules = d.ctl("GET", "faults")["rules"]
    check(rules[-1]["seen"] == 6 and rules[-1]["fired"] == 2, "fault rule counters")
    d.ctl("DELETE", "faults")

    # kill the client after its 2nd write
    victim = subprocess.Popen(["sleep", "30"])
    procs.append(victim)
    d.ctl("POST", "kill-after", {"writes": 2, "pid": victim.pid})
    d.req("PATCH", p, {"metadata": {"labels": {"k": "1"}}}, MERGE)
    alive_after_1 = victim.poll() is None
    try:
        d.req("PATCH", p, {"metadata": {"labels": {"k": "2"}}}, MERGE)
    except OSError:
        pass
    try:
        rc = victim.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    check(alive_after_1 and rc == -signal.SIGKILL and
          d.ctl("GET", "kill-after")["fired"] is True, "kill-after SIGKILLs the client after "
          "the N-th write", rc)

    d.ctl("DELETE", "log")
    d.req("PATCH", p, {"metadata": {"labels": {"k": "3"}}}, MERGE)
    d.req("GET", p)
    log = d.ctl("GET", "log")
    e = log["entries"][0]
    check(log["count"] == 2 and log["writes"] == 1 and log["successfulWrites"] == 1 and
          e["method"] == "PATCH" and e["contentType"] == MERGE and '"k": "3"' in e["body"] and
          e["status"] == 200 and log["byMethod"] == {"PATCH": 1, "GET": 1},
          "request log records method, path, content type, body, status, counts", log)
    log2 = d.ctl("GET", "log?since=1&bodies=0")
    check(len(log2["entries"]) == 1 and "body" not in log2["entries"][0], "log since/bodies")


def test_images(d):
    d.ctl("POST", "images", {"missing": ["/images/dead.qcow2"]})
    st, h, body = d.req("HEAD", "/images/ubiquity-node-rocky9.qcow2")
    st2, _, _ = d.req("HEAD", "/images/dead.qcow2")
    st3, _, body3 = d.req("GET", "/images/ubiquity-node-rocky9.qcow2.md5sum")
    check(st == 200 and not body and st2 == 404 and st3 == 200 and body3,
          "image server: HEAD/GET 200, listed missing image 404", (st, st2, st3))
    d.ctl("POST", "faults", {"kind": "stall", "path": "^/images/", "seconds": 1})
    try:
        d.req("HEAD", "/images/slow.qcow2", timeout=0.3)
        timed_out = False
    except (socket.timeout, TimeoutError):
        timed_out = True
    check(timed_out, "image server requests can be faulted too")
    d.ctl("DELETE", "faults")
    d.ctl("POST", "images", {"missing": []})


def kubectl(d, *args, kubeconfig=None, timeout=30):
    cmd = ["kubectl", "--kubeconfig", kubeconfig or os.devnull, "--cache-dir",
           os.path.join(tmp, "kcache"), "--request-timeout", "10s"]
    if kubeconfig is None:
        cmd += ["--server", d.url]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def test_kubectl(d):
    if not shutil.which("kubectl"):
        check(False, "kubectl is installed")
        return
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [host("master-2", error="provisioned registration error"),
                           host("w1", ns="metal3")])
    rc, out, err = kubectl(d, "get", "bmh")
    check(rc == 0 and "STATE" in out and "master-2" in out and "provisioned" in out,
          "kubectl get bmh (short name, table)", err or out)
    rc, out, err = kubectl(d, "get", "bmh", "-A")
    check(rc == 0 and "metal3" in out and "w1" in out, "kubectl get bmh -A", err)
    rc, out, err = kubectl(d, "get", "bmh", "master-2", "-o", "yaml")
    check(rc == 0 and "kind: BareMetalHost" in out and "errorType: provisioned registration "
          "error" in out, "kubectl get bmh NAME -o yaml", err)
    rc, out, err = kubectl(d, "get", "bmh", "master-2", "-o", "jsonpath={.spec.image.url}")
    check(rc == 0 and out == "http://10.10.10.10/images/a.qcow2", "kubectl -o jsonpath", out + err)
    rc, out, err = kubectl(d, "patch", "bmh", "master-2", "--type=merge", "--patch",
                           '{"metadata":{"annotations":{"baremetalhost.metal3.io/paused": "true"}}}')
    check(rc == 0 and "patched" in out and
          d.obj("default", "master-2")["metadata"]["annotations"][PAUSED] == "true",
          "kubectl patch --type=merge", err)
    rc, out, err = kubectl(d, "patch", "bmh", "master-2", "--patch", '{"spec":{"online":false}}')
    check(rc != 0 and "not supported" in err, "kubectl strategic patch fails like on a real "
          "server", err)
    rc, out, err = kubectl(d, "get", "bmh", "nope")
    check(rc != 0 and 'baremetalhosts.metal3.io "nope" not found' in err,
          "kubectl shows the NotFound Status", err)

    # the runbook's own commands
    d.ctl("POST", "reset")
    seeded = gen_hosts.generate(40, 5)
    d.ctl("POST", "seed", seeded)
    reg = [h for h in seeded if h["metadata"]["labels"][CAT] == "registration-error"][0]
    ns, name = reg["metadata"]["namespace"], reg["metadata"]["name"]
    img = reg["spec"]["image"]["url"].rsplit("/", 1)[1]
    new = "http://httpd-http/images/" + img
    env = dict(os.environ, KUBECTL_ARGS="--cache-dir " + os.path.join(tmp, "kcache"))
    r = subprocess.run(["bash", RUNBOOK, "--server", d.url, "-n", ns, "--url", new,
                        "--checksum", new + ".md5sum", name], capture_output=True, text=True,
                       timeout=60, env=env)
    o = d.obj(ns, name)
    check(r.returncode == 0 and o["spec"]["image"]["url"] == new and
          o["status"]["provisioning"]["image"]["url"] == new and
          PAUSED not in o["metadata"].get("annotations", {}) and o["status"]["errorCount"] == 0
          and o["status"]["errorMessage"] == "",
          "runbook_steps.sh repairs a host with the runbook's commands", r.stderr[-400:])
    check(d.ctl("GET", "events")["count"] == 0, "runbook in its order loses no data")
    log = d.ctl("GET", "log?method=PATCH")
    check([e["contentType"] for e in log["entries"]] == [MERGE] * 4 and
          log["entries"][1]["path"].endswith("/status"),
          "runbook made 4 merge patches, the 2nd to /status")
    # the wrong order (spec before status, unpaused) loses the disk: the double notices
    reg2 = [h for h in seeded if h["metadata"]["labels"][CAT] == "registration-error"][1]
    rc, out, err = kubectl(d, "-n", reg2["metadata"]["namespace"], "patch", "bmh",
                           reg2["metadata"]["name"], "--type=merge", "--patch",
                           json.dumps({"spec": {"image": {"url": new}}}))
    ev = d.ctl("GET", "events")
    check(rc == 0 and ev["count"] == 1 and ev["dataLoss"][0]["name"] == reg2["metadata"]["name"],
          "spec patch on an unpaused provisioned host is recorded as data loss", ev)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=30)


def make_pki():
    pki = os.path.join(tmp, "pki")
    os.makedirs(pki)
    j = lambda n: os.path.join(pki, n)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", j("ca.key"), "-out", j("ca.crt"), "-days", "2", "-subj",
            "/CN=kd-test-ca")
    with open(j("san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    with open(j("client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for who, ext in (("server", "san.ext"), ("client", "client.ext")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", j(who + ".key"), "-out", j(who + ".csr"), "-subj", "/CN=" + who)
        openssl("x509", "-req", "-in", j(who + ".csr"), "-CA", j("ca.crt"), "-CAkey", j("ca.key"),
                "-CAcreateserial", "-out", j(who + ".crt"), "-days", "2", "-extfile", j(ext))
    return j


def kubeconfig(path, server, **user):
    cluster = {"server": server}
    for k in ("certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"):
        if k in user:
            cluster[k] = user.pop(k)
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "kd",
           "clusters": [{"name": "kd", "cluster": cluster}],
           "users": [{"name": "kd", "user": user}],
           "contexts": [{"name": "kd", "context": {"cluster": "kd", "user": "kd",
                                                   "namespace": "default"}}]}
    with open(path, "w") as f:
        json.dump(cfg, f)  # JSON is YAML
    return path


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_tls():
    try:
        j = make_pki()
    except (subprocess.SubprocessError, OSError) as exc:
        check(False, "openssl makes a test PKI", exc)
        return
    tokfile = os.path.join(tmp, "token")
    with open(tokfile, "w") as f:
        f.write("rotating-1\n")
    trust = ssl.create_default_context(cafile=j("ca.crt"))
    d = Double("--tls-cert", j("server.crt"), "--tls-key", j("server.key"), "--client-ca",
               j("ca.crt"), "--token", "s3cret", "--token-file", tokfile,
               "--control-port-file", os.path.join(tmp, "ctl.port"), "--seed",
               os.path.join(SHARED, "metal3", "examples", "worker-0.yaml"), tls=trust)
    p = path_of("default", "worker-0")
    st, _, out = d.req("GET", p)
    check(st == 401 and is_status(out, 401, "Unauthorized"), "TLS: no credentials -> 401 Status")
    st, _, _ = d.req("GET", p, headers={"Authorization": "Bearer wrong"})
    check(st == 401, "TLS: wrong token -> 401")
    st, _, out = d.req("GET", p, headers={"Authorization": "Bearer s3cret"})
    check(st == 200 and out["metadata"]["name"] == "worker-0", "TLS: bearer token accepted")
    st, _, _ = d.req("GET", p, headers={"Authorization": "Bearer rotating-1"})
    with open(tokfile, "w") as f:
        f.write("rotating-2\n")
    st2, _, _ = d.req("GET", p, headers={"Authorization": "Bearer rotating-1"})
    st3, _, _ = d.req("GET", p, headers={"Authorization": "Bearer rotating-2"})
    check((st, st2, st3) == (200, 401, 200), "token file is re-read on every request",
          (st, st2, st3))
    cctx = ssl.create_default_context(cafile=j("ca.crt"))
    cctx.load_cert_chain(j("client.crt"), j("client.key"))
    st, _, _ = d.req("GET", p, ctx=cctx)
    check(st == 200, "TLS: verified client certificate accepted")
    health = d.ctl("GET", "health")
    check(health["objects"] == 1, "control API on the plain control port")
    st, _, out = d.req("GET", "/_double/health")
    check(st == 200 and out["ok"], "control API on the main port needs no credentials")

    if shutil.which("kubectl"):
        kc = os.path.join(tmp, "kc")
        variants = [
            ("token + CA file", {"certificate-authority": j("ca.crt"), "token": "s3cret"}),
            ("token + CA data", {"certificate-authority-data": b64(j("ca.crt")),
                                 "token": "s3cret"}),
            ("client cert files + CA data", {"certificate-authority-data": b64(j("ca.crt")),
                                             "client-certificate": j("client.crt"),
                                             "client-key": j("client.key")}),
            ("client cert data", {"certificate-authority-data": b64(j("ca.crt")),
                                  "client-certificate-data": b64(j("client.crt")),
                                  "client-key-data": b64(j("client.key"))}),
            ("insecure + token", {"insecure-skip-tls-verify": True, "token": "s3cret"}),
        ]
        for label, user in variants:
            rc, out, err = kubectl(d, "get", "bmh", "worker-0", "-o",
                                   "jsonpath={.metadata.name}",
                                   kubeconfig=kubeconfig(kc + label.replace(" ", ""), d.url,
                                                         **user))
            check(rc == 0 and out == "worker-0", "kubectl over TLS with kubeconfig: " + label,
                  err)
        rc, out, err = kubectl(d, "get", "bmh", kubeconfig=kubeconfig(
            kc + "untrusted", d.url, token="s3cret"))
        check(rc != 0 and ("certificate" in err or "x509" in err),
              "kubectl without the CA refuses the server certificate", err)
        seq0 = d.ctl("GET", "log?entries=0")["count"]
        rc, out, err = kubectl(d, "get", "bmh", kubeconfig=kubeconfig(
            kc + "notoken", d.url, **{"certificate-authority": j("ca.crt")}))
        # kubectl answers a 401 without configured credentials by prompting for a username
        statuses = [e["status"] for e in d.ctl("GET", "log?since=%d" % seq0)["entries"]]
        check(rc != 0 and statuses and set(statuses) == {401},
              "kubectl without credentials gets 401 Unauthorized", (statuses, err))
        # the runbook's path: curl -> kubectl proxy -> API server (TLS, token)
        kc_tok = kubeconfig(kc + "proxy", d.url, **{"certificate-authority": j("ca.crt"),
                                                    "token": "s3cret"})
        proxy = subprocess.Popen(["kubectl", "--kubeconfig", kc_tok, "proxy", "--port=0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 stdin=subprocess.DEVNULL)
        procs.append(proxy)
        line = proxy.stdout.readline()  # "Starting to serve on 127.0.0.1:PORT"
        try:
            pport = int(line.strip().rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", pport, timeout=10)
            conn.request("PATCH", p + "/status", body=json.dumps(
                {"status": {"errorCount": 0, "errorMessage": ""}}),
                headers={"Content-Type": MERGE, "Accept": "application/json"})
            r = conn.getresponse()
            out = json.loads(r.read())
            conn.close()
            ok = r.status == 200 and out["status"]["errorCount"] == 0
        except (ValueError, IndexError, OSError, KeyError) as exc:
            ok, out = False, (line, exc)
        proxy.kill()
        proxy.wait()
        check(ok, "a /status merge patch through kubectl proxy reaches the double", out)
    d.stop()

    d = Double("--tls-cert", j("server.crt"), "--tls-key", j("server.key"), "--client-ca",
               j("ca.crt"), "--require-client-cert", tls=trust)
    try:
        d.req("GET", "/version")
        refused = False
    except (ssl.SSLError, ConnectionError, OSError):
        refused = True
    check(refused, "--require-client-cert: handshake without a certificate fails")
    st, _, _ = d.req("GET", "/version", ctx=cctx)
    check(st == 200, "--require-client-cert: handshake with a certificate works")
    d.stop()


def test_cli():
    r = subprocess.run([PY, DOUBLE, "--tls-cert", "x"], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 2 and "--tls-key" in r.stderr, "CLI: --tls-cert without --tls-key "
          "is a usage error")
    r = subprocess.run([PY, DOUBLE, "--fault", "boom"], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 2 and "fault kind" in r.stderr, "CLI: unknown fault kind rejected",
          r.stderr)
    pf = os.path.join(tmp, "port")
    victim = subprocess.Popen(["sleep", "30"])
    procs.append(victim)
    d = Double("--port-file", pf, "--fault", "429,method=GET,path=/version$,retryAfter=2",
               "--gen", "20", "--tick", "0", "--kill-after", "1,%d,15" % victim.pid)
    one = d.ctl("GET", "objects")["items"][0]["metadata"]
    d.req("PATCH", path_of(one["namespace"], one["name"]), {"metadata": {"labels": {"z": "1"}}},
          MERGE)
    try:
        rc = victim.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == -signal.SIGTERM, "--kill-after signals the pid after the first write", rc)
    with open(pf) as f:
        check(int(f.read()) == d.port, "--port-file holds the port")
    st, h, _ = d.req("GET", "/version")
    check(st == 429 and h.get("Retry-After") == "2", "--fault compact form")
    check(d.ctl("GET", "health")["objects"] == 20, "--gen seeds generated hosts")
    d.stop()
    check(d.proc.returncode == 0, "SIGTERM stops the double with status 0")


def test_scale():
    t0 = time.time()
    d = Double("--gen", "10000", "--tick", "1")
    t_start = time.time() - t0
    t0 = time.time()
    seen, cont, pages = set(), "", 0
    while pages < 100:
        pages += 1
        st, _, out = d.req("GET", GV + "/baremetalhosts?limit=500" +
                           ("&continue=" + cont if cont else ""), timeout=30)
        if st != 200:
            break
        for o in out["items"]:
            seen.add((o["metadata"]["namespace"], o["metadata"]["name"]))
        cont = out["metadata"].get("continue")
        if not cont:
            break
    t_list = time.time() - t0
    print("# scale: start with 10000 hosts %.2fs, full list in %d pages %.2fs" %
          (t_start, pages, t_list), flush=True)
    check(len(seen) == 10000 and pages == 20, "10,000 hosts listed in 20 pages of 500",
          (len(seen), pages))
    limit = 60 if os.environ.get("BMHGUARD_SANITIZED") else 20
    check(t_list < limit, "listing 10,000 hosts is fast enough for a benchmark", t_list)
    t0 = time.time()
    for i in range(200):
        d.req("GET", path_of("metal3", "worker-%05d" % (i * 7 + 1)))
    t_get = time.time() - t0
    print("# scale: 200 GETs %.2fs" % t_get, flush=True)
    check(d.ctl("GET", "events")["count"] == 0, "the generated fleet loses no data on its own")
    d.stop()


def guarded(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # report and go on: one broken area must not hide the others
        check(False, "%s ran to the end" % fn.__name__, "%s: %s" % (type(exc).__name__, exc))


def main():
    deadline = time.time() + 120
    guarded(test_generator)
    d = Double("--tick", "0.2")
    try:
        for fn in (test_discovery_and_seed, test_patch_semantics, test_list, test_operator,
                   test_faults, test_kubectl, test_images):
            guarded(fn, d)
    finally:
        d.stop()
    guarded(test_cli)
    guarded(test_tls)
    guarded(test_scale)
    check(time.time() < deadline, "whole test stays bounded")
    print("# %d failed" % tap.failed())
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
