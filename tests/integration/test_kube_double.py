#!/usr/bin/python3
"""test_kube_double - the Kubernetes API test double (tests/kube_double.py) behaves as documented.

Prints TAP lines (ok / not ok - NAME), exits 1 if any failed. Loopback only, bounded: every
double it starts is killed at exit; every network call has a timeout. Checks: status-subresource
semantics, RFC 7386 null deletion, resourceVersion/409, pagination (complete, non-overlapping,
snapshot, 410), label/field selectors, the operator's deprovision rule and data-loss events, each
fault kind, kill-after, the request log, kubectl get/patch and the runbook's steps against it,
TLS with token, token file and client certificate (kubectl kubeconfig variants), 10,000 hosts;
the operator's status restore from the status annotation and a simulated clusterctl move, owner
hooks, the RBAC deny list with SelfSubjectAccessReview (kubectl auth can-i), events.k8s.io/v1
Event validation and lists, the busy operator's status write rate and added latency; the other
Metal3 kinds (DataImage, HostFirmwareComponents, Metal3Machine and Metal3MachineTemplate in both
CAPM3 versions): CRUD, resourceVersion, status subresource (or none), paging, the CRDs installed
and discovery, RBAC/SSAR, kubectl, companions of generated hosts, and the operator's firmware
re-flash and data image re-attach rules.
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
METAL3 = os.path.join(TOP, "tests", "data", "metal3")   # copied unchanged; see its README.md
PY = "/usr/bin/python3"
GV = "/apis/metal3.io/v1alpha1"
PAUSED = "baremetalhost.metal3.io/paused"
STATUS_ANN = "baremetalhost.metal3.io/status"
CAPM3 = "metal3.io/capm3"
SA = "system:serviceaccount:bmhguard-system:bmhguard-repair"
EV = "/apis/events.k8s.io/v1"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
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
        crd = yaml.safe_load(open(os.path.join(METAL3, "metal3.io_baremetalhosts.yaml")))
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
    with open(os.path.join(METAL3, "examples", "worker-0.yaml"), "rb") as f:
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


def moved(name, ann_status, ns="default", url="http://httpd-http/images/a.qcow2", paused=None,
          status=None):
    """A host as clusterctl move leaves it: no status (unless given), the status annotation."""
    o = host(name, ns=ns, url=url, paused=paused)
    o.pop("status")
    if status is not None:
        o["status"] = status
    if ann_status is not None:
        o["metadata"].setdefault("annotations", {})[STATUS_ANN] = \
            ann_status if isinstance(ann_status, str) else json.dumps(ann_status)
    return o


def prov_status(url, last="2026-11-20T09:15:00Z", state="provisioned"):
    st = {"errorCount": 0, "operationalStatus": "OK", "poweredOn": True,
          "provisioning": {"ID": "p1", "state": state, "image": {"url": url,
                                                                  "checksum": url + ".md5sum"}}}
    if last:
        st["lastUpdated"] = last
    return st


def without_tick(fn):
    """Runs fn(d) with the background tick off (the ticker may still be inside one 0.2 s
    sleep when it is switched off), then switches it back on."""
    def run(d):
        d.ctl("POST", "operator", {"tick": 0})
        time.sleep(0.3)
        try:
            fn(d)
        finally:
            d.ctl("POST", "operator", {"tick": 0.2})
    run.__name__ = fn.__name__
    return run


@without_tick
def test_restore(d):
    d.ctl("POST", "reset")
    good = "http://httpd-http/images/a.qcow2"
    lit = "http://10.10.10.10/images/a.qcow2"
    st_nolast = prov_status(good, last=None)
    d.ctl("POST", "seed", [moved("r-ok", st_nolast), moved("r-paused", prov_status(good),
                                                             paused="true"),
                           moved("r-wipe", prov_status(lit)),
                           moved("r-bad", "{not json"), moved("r-arr", "[1,2]"),
                           moved("r-has", prov_status(lit), status=prov_status(good)),
                           moved("r-nolast", prov_status(lit),
                                 status=prov_status(good, last=None))])
    rv0 = int(d.obj("default", "r-ok")["metadata"]["resourceVersion"])
    st, _, out = d.req("PATCH", path_of("default", "r-ok"),
                       {"metadata": {"labels": {"touched": "1"}}}, MERGE)
    o = d.obj("default", "r-ok")
    want = dict(st_nolast, lastUpdated=o.get("status", {}).get("lastUpdated"))
    check(st == 200 and "status" not in out and o.get("status") == want and
          STATUS_ANN not in o["metadata"].get("annotations", {}) and
          int(o["metadata"]["resourceVersion"]) == int(out["metadata"]["resourceVersion"]) + 1
          and int(out["metadata"]["resourceVersion"]) > rv0,
          "restore: a write to an unpaused host without status restores it from the annotation "
          "and drops the annotation in one write (the write's answer is pre-restore)",
          (out, o))
    lu = o.get("status", {}).get("lastUpdated", "")
    check(len(lu) == 20 and lu.endswith("Z"), "restore: lastUpdated set when the annotation "
          "has none (as BMO does)", lu)
    ev = d.ctl("POST", "tick")
    names = [r["name"] for r in ev["restored"]]
    check(sorted(names) == ["r-nolast", "r-ok", "r-wipe"] and
          [r for r in ev["restored"] if r["name"] == "r-ok"][0]["statusURL"] == good,
          "restore: the tick restores unpaused hosts; a status without lastUpdated counts as "
          "empty (hostHasStatus); a status with lastUpdated is kept", ev["restored"])
    p = d.obj("default", "r-paused")
    check("status" not in p and STATUS_ANN in p["metadata"]["annotations"],
          "restore: paused hosts are not restored")
    dl = [e for e in ev["dataLoss"] if e["name"] in ("r-wipe", "r-nolast")]
    check(len(dl) == 2 and all(e["trigger"] == "restore" and e["statusURL"] == lit and
                               e["specURL"] == good for e in dl) and
          d.obj("default", "r-wipe")["status"]["provisioning"]["state"] == "deprovisioning",
          "restore: a restored status url that differs from spec on a provisioned host is "
          "data loss with trigger restore", ev["dataLoss"])
    has = d.obj("default", "r-has")
    check(has["status"]["provisioning"]["image"]["url"] == good and
          STATUS_ANN in has["metadata"]["annotations"],
          "restore: a host with status keeps status and annotation (dropStatusAnnotation off)")
    bad = [r for r in ev["restoreFailed"] if r["name"] in ("r-bad", "r-arr")]
    rv_bad = d.obj("default", "r-bad")["metadata"]["resourceVersion"]
    d.ctl("POST", "tick")
    ev = d.ctl("POST", "tick")
    bad_err = [r["error"] for r in bad if r["name"] == "r-bad"]
    check(len(bad) == 2 and "invalid JSON" in bad_err[0]
          and len(ev["restoreFailed"]) == 2 and
          d.obj("default", "r-bad")["metadata"]["resourceVersion"] == rv_bad and
          "status" not in d.obj("default", "r-bad"),
          "restore: an annotation that is not a JSON object is left alone, reported once",
          ev["restoreFailed"])
    # paused -> unpause: restored by the unpausing write itself
    d.req("PATCH", path_of("default", "r-paused"), {"metadata": {"annotations": {PAUSED: None}}},
          MERGE)
    p = d.obj("default", "r-paused")
    check(p.get("status", {}).get("provisioning", {}).get("state") == "provisioned" and
          STATUS_ANN not in p["metadata"].get("annotations", {}),
          "restore: unpausing restores at once", p.get("status"))
    # the real operator also drops the annotation from hosts it did not restore
    d.ctl("POST", "operator", {"dropStatusAnnotation": True})
    d.ctl("POST", "tick")
    has, bad = d.obj("default", "r-has"), d.obj("default", "r-bad")
    check(STATUS_ANN not in has["metadata"].get("annotations", {}) and
          has["status"]["provisioning"]["image"]["url"] == good and
          STATUS_ANN not in bad["metadata"].get("annotations", {}) and "status" not in bad,
          "dropStatusAnnotation: the annotation is dropped from hosts with status and from "
          "unparsable ones, nothing else changes")
    d.ctl("POST", "operator", {"dropStatusAnnotation": False})
    # the operator runs on create too
    st, _, out = d.req("POST", GV + "/namespaces/default/baremetalhosts",
                       moved("r-new", prov_status(good)))
    o = d.obj("default", "r-new")
    check(st == 201 and STATUS_ANN in out["metadata"]["annotations"] and
          o.get("status", {}).get("lastUpdated") == "2026-11-20T09:15:00Z",
          "restore: a created host with the annotation is restored after the create")


@without_tick
def test_move(d):
    d.ctl("POST", "reset")
    lit = "http://10.10.10.10/images/a.qcow2"
    good = "http://httpd-http/images/a.qcow2"
    h1 = host("mv1", url=lit)
    h1["status"]["lastUpdated"] = "2026-11-20T09:15:00Z"
    h1["status"]["hardware"] = {"hostname": "mv1", "cpu": {"arch": "x86_64"}}
    h1["status"]["errorMessage"] = "<&>"
    d.ctl("POST", "seed", [h1, host("mv2", url=lit, paused="true"),
                           moved("mv3", prov_status(lit), url=good, paused=CAPM3)])
    before = d.obj("default", "mv1")
    out = d.ctl("POST", "move", {"namespace": "default", "name": "mv1", "snapshot": True,
                                 "unpause": False})
    o = d.obj("default", "mv1")
    snap = {k: v for k, v in before["status"].items() if k != "hardware"}
    want_ann = json.dumps(snap, sort_keys=True, separators=(",", ":"), ensure_ascii=False) \
        .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    ann = o["metadata"].get("annotations", {})
    check(out["moved"] == 1 and "status" not in o and ann.get(PAUSED) == CAPM3 and
          ann.get(STATUS_ANN) == want_ann and o["metadata"]["uid"] != before["metadata"]["uid"]
          and o["metadata"]["generation"] == 1 and o["spec"] == before["spec"] and
          int(o["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"]),
          "move snapshot=true unpause=false: CAPM3 pause + status annotation (Go JSON, sorted, "
          "no hardware), new uid, status dropped, still paused", (ann, o["metadata"]))
    d.req("PATCH", path_of("default", "mv1"), {"metadata": {"annotations": {PAUSED: None}}},
          MERGE)
    o = d.obj("default", "mv1")
    check(o.get("status") == snap and STATUS_ANN not in o["metadata"].get("annotations", {})
          and d.ctl("GET", "events")["count"] == 0,
          "after the move, unpausing restores the status (without hardware), no data loss",
          o.get("status"))
    # a host paused by someone else: CAPM3 does not snapshot, and does not unpause it
    out = d.ctl("POST", "move", {"namespace": "default", "name": "mv2", "snapshot": True})
    o = d.obj("default", "mv2")
    check("status" not in o and o["metadata"]["annotations"] == {PAUSED: "true"} and
          not [r for r in out["events"]["restored"] if r["name"] == "mv2"],
          "move of a host paused by a user: no snapshot, no unpause, status lost", o["metadata"])
    # the repair job's trap: spec repaired, the carried status still names the literal IP
    out = d.ctl("POST", "move", {"namespace": "default", "name": "mv3"})
    dl = [e for e in out["events"]["dataLoss"] if e["name"] == "mv3"]
    check(len(dl) == 1 and dl[0]["trigger"] == "restore" and dl[0]["statusURL"] == lit and
          PAUSED not in d.obj("default", "mv3")["metadata"].get("annotations", {}),
          "move + CAPM3 unpause + restore of a stale literal status wipes the repaired host",
          out["events"]["dataLoss"])
    st, _, out = d.req("POST", "/_double/move", {"namespace": "default", "name": "nope"})
    check(st == 404 and is_status(out, 404, "NotFound"), "move of a missing host -> 404")
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", gen_hosts.generate(30, 9))
    out = d.ctl("POST", "move", {"all": True, "snapshot": True})
    objs = d.ctl("GET", "objects")["items"]
    unpaused_before = [h for h in gen_hosts.generate(30, 9)
                       if PAUSED not in h["metadata"].get("annotations", {})]
    restored = {(r["namespace"], r["name"]) for r in out["events"]["restored"]}
    check(out["moved"] == 30 and len(restored) == len(unpaused_before) and
          out["events"]["count"] == 0 and all(
              ("status" in o) == ((o["metadata"]["namespace"], o["metadata"]["name"]) in
                                  restored) for o in objs),
          "move all with snapshot: every unpaused host comes back with its status, paused "
          "ones without, nothing wiped", (out["moved"], len(restored), len(unpaused_before)))


@without_tick
def test_hooks(d):
    d.ctl("POST", "reset")
    lit = "http://10.10.10.10/images/a.qcow2"
    good = "http://httpd-http/images/a.qcow2"
    d.ctl("POST", "seed", [host("hk1", url=lit, paused="bmhguard-repair"), host("hk2")])
    d.ctl("POST", "hooks", {"method": "PATCH", "path": "/status$",
                            "patch": {"metadata": {"annotations": {PAUSED: None}}}})
    st, _, out = d.req("PATCH", path_of("default", "hk1", "status"),
                       {"status": {"provisioning": {"image": {"url": good}}}}, MERGE)
    o = d.obj("default", "hk1")
    ev = d.ctl("GET", "events")
    check(st == 200 and out["metadata"]["annotations"].get(PAUSED) == "bmhguard-repair" and
          PAUSED not in o["metadata"].get("annotations", {}) and
          int(o["metadata"]["resourceVersion"]) > int(out["metadata"]["resourceVersion"]),
          "hook: another owner unpauses right after the status write; the answer still shows "
          "the pause", (out["metadata"], o["metadata"]))
    check(ev["count"] == 1 and ev["dataLoss"][0]["trigger"] == "hook" and
          ev["dataLoss"][0]["specURL"] == lit,
          "hook: the operator rule runs on the hook's write (status fixed, spec not yet: wiped)",
          ev)
    rules = d.ctl("GET", "hooks")["rules"]
    check(len(rules) == 1 and rules[0]["seen"] == 1 and rules[0]["fired"] == 1 and
          rules[0]["id"] == 1, "hook counters", rules)
    d.ctl("DELETE", "hooks")
    d.ctl("POST", "hooks", [{"method": "PATCH", "path": "/hk2$", "nth": 2, "times": 1,
                             "patch": {"status": {"errorCount": 7},
                                       "spec": {"online": False}}}])
    p = path_of("default", "hk2")
    cur = d.obj("default", "hk2")["metadata"]["resourceVersion"]
    st409, _, _ = d.req("PATCH", p, {"metadata": {"resourceVersion": str(int(cur) - 1),
                                                  "labels": {"n": "0"}}}, MERGE)
    seen = []
    for i in range(1, 4):
        d.req("PATCH", p, {"metadata": {"labels": {"n": str(i)}}}, MERGE)
        o = d.obj("default", "hk2")
        seen.append((o["status"]["errorCount"], o["spec"]["online"]))
    rules = d.ctl("GET", "hooks")["rules"]
    check(st409 == 409 and seen == [(0, True), (7, False), (7, False)] and
          rules[0]["seen"] == 3 and rules[0]["fired"] == 1,
          "hook nth/times count successful writes only; the patch reaches status and spec",
          (seen, rules))
    gen = d.obj("default", "hk2")["metadata"]["generation"]
    check(gen == 2, "hook spec change bumps generation", gen)
    d.ctl("POST", "hooks", {"method": "DELETE", "patch": {"metadata": {"labels": {"x": "1"}}}})
    d.req("DELETE", p)
    rules = d.ctl("GET", "hooks")["rules"]
    check(rules[-1]["fired"] == 1 and rules[-1]["missed"] == 1,
          "hook on a DELETE finds no host: counted as missed", rules[-1])
    st, _, out = d.req("POST", "/_double/hooks", {"method": "PATCH"})
    check(st == 400 and is_status(out, 400, "BadRequest"), "hook without a patch -> 400")
    d.ctl("POST", "reset")
    check(d.ctl("GET", "hooks")["rules"] == [], "reset clears hooks")


def test_rbac(d):
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [host("master-2", ns="metal3"), host("w1")])
    rule = {"verb": "patch", "group": "metal3.io", "resource": "baremetalhosts",
            "subresource": "status", "namespace": "metal3"}
    out = d.ctl("POST", "rbac", {"forbid": [rule]})
    check(out["forbid"] == [rule] and out["user"] == SA, "rbac: POST sets the forbid list")
    rv = d.obj("metal3", "master-2")["metadata"]["resourceVersion"]
    st, _, out = d.req("PATCH", path_of("metal3", "master-2", "status"),
                       {"status": {"errorCount": 3}}, MERGE)
    check(st == 403 and is_status(out, 403, "Forbidden") and out["message"] ==
          'baremetalhosts.metal3.io "master-2" is forbidden: User "%s" cannot patch resource '
          '"baremetalhosts/status" in API group "metal3.io" in the namespace "metal3"' % SA and
          out["details"] == {"name": "master-2", "group": "metal3.io", "kind": "baremetalhosts"}
          and d.obj("metal3", "master-2")["metadata"]["resourceVersion"] == rv,
          "rbac: forbidden /status patch -> the real 403 Status, store untouched", out)
    st1, _, _ = d.req("PATCH", path_of("default", "w1", "status"), {"status": {"errorCount": 3}},
                      MERGE)
    st2, _, _ = d.req("PATCH", path_of("metal3", "master-2"),
                      {"metadata": {"labels": {"a": "b"}}}, MERGE)
    st3, _, _ = d.req("PUT", path_of("metal3", "master-2", "status"),
                      d.obj("metal3", "master-2"))
    check((st1, st2, st3) == (200, 200, 200),
          "rbac: other namespace, the main resource and another verb are allowed",
          (st1, st2, st3))
    d.ctl("POST", "rbac", {"forbid": [{"verb": "get", "resource": "baremetalhosts"},
                                      {"verb": "list", "resource": "baremetalhosts",
                                       "namespace": "metal3"},
                                      {"verb": "create", "resource": "*",
                                       "namespace": "ns9"}]})
    g1, _, o1 = d.req("GET", path_of("default", "w1"))
    g2, _, _ = d.req("GET", path_of("default", "w1", "status"))
    l1, _, o3 = d.req("GET", GV + "/namespaces/metal3/baremetalhosts")
    l2, _, o4 = d.req("GET", GV + "/baremetalhosts")
    l3, _, _ = d.req("GET", GV + "/namespaces/default/baremetalhosts")
    c1, _, o5 = d.req("POST", GV + "/namespaces/ns9/baremetalhosts", host("c9", ns="ns9"))
    check(g1 == 403 and 'cannot get resource "baremetalhosts" in API group "metal3.io" in the '
          'namespace "default"' in o1["message"] and g2 == 200,
          "rbac: absent subresource matches only requests without one", (g1, g2))
    check(l1 == 403 and o3["message"] == 'baremetalhosts.metal3.io is forbidden: User "%s" '
          'cannot list resource "baremetalhosts" in API group "metal3.io" in the namespace '
          '"metal3"' % SA and l2 == 403 and o4["message"].endswith("at the cluster scope") and
          l3 == 200, "rbac: list forbidden in one namespace and cluster-wide, allowed elsewhere",
          (l1, l2, l3, o3, o4))
    check(c1 == 403 and o5["message"].startswith("baremetalhosts.metal3.io is forbidden: ") and
          "cannot create" in o5["message"] and d.req("GET", "/_double/objects/ns9/c9")[0] == 404,
          "rbac: create forbidden (no name in the message), nothing stored", o5)
    d.ctl("POST", "rbac", {"forbid": [{"verb": "get", "resource": "baremetalhosts",
                                       "subresource": "*"}]})
    check(d.req("GET", path_of("default", "w1", "status"))[0] == 403 and
          d.req("GET", path_of("default", "w1"))[0] == 403, "rbac: subresource * matches both")
    d.ctl("POST", "rbac", {"forbid": [rule, {"verb": "create", "group": "events.k8s.io",
                                             "resource": "events"}]})

    def ssar(**ra):
        return d.req("POST", SSAR, {"apiVersion": "authorization.k8s.io/v1",
                                    "kind": "SelfSubjectAccessReview",
                                    "spec": {"resourceAttributes": ra}})
    s1, _, r1 = ssar(namespace="metal3", verb="patch", group="metal3.io",
                     resource="baremetalhosts", subresource="status", name="master-2")
    s2, _, r2 = ssar(namespace="default", verb="patch", group="metal3.io",
                     resource="baremetalhosts", subresource="status")
    s3, _, r3 = ssar(verb="patch", group="metal3.io", resource="baremetalhosts",
                     subresource="status")
    s4, _, r4 = ssar(namespace="metal3", verb="patch", group="metal3.io",
                     resource="baremetalhosts")
    check(s1 == 201 and r1["status"]["allowed"] is False and r1["status"]["reason"] and
          r1["kind"] == "SelfSubjectAccessReview" and
          r1["spec"]["resourceAttributes"]["name"] == "master-2",
          "SSAR: denied for a forbidden verb/subresource/namespace, the review echoed", r1)
    check(s2 == 201 and r2["status"]["allowed"] is True and s3 == 201 and
          r3["status"]["allowed"] is False and r4["status"]["allowed"] is True,
          "SSAR: other namespace allowed; all namespaces denied if any namespace is; main "
          "resource allowed", (r2["status"], r3["status"], r4["status"]))
    b1, _, o1 = d.req("POST", SSAR, b"{nope")
    b2, _, o2 = d.req("POST", SSAR, {"kind": "SelfSubjectAccessReview", "spec": {}})
    check(b1 == 400 and is_status(o1, 400, "BadRequest") and b2 == 422 and
          is_status(o2, 422, "Invalid") and
          o2["details"]["causes"][0]["field"] == "spec.resourceAttributes",
          "SSAR: malformed body -> 400, no attributes -> 422", (o1, o2))
    e1, _, o1 = d.req("POST", EV + "/namespaces/metal3/events", good_event())
    check(e1 == 403 and 'cannot create resource "events" in API group "events.k8s.io" in the '
          'namespace "metal3"' in o1["message"] and not d.ctl("GET", "k8s-events")["items"],
          "rbac applies to events", o1)
    d.ctl("POST", "rbac", {"forbid": [{"verb": "create", "group": "authorization.k8s.io",
                                       "resource": "selfsubjectaccessreviews"}]})
    s5, _, o5 = ssar(namespace="metal3", verb="get", resource="baremetalhosts")
    check(s5 == 403 and o5["message"] == 'selfsubjectaccessreviews.authorization.k8s.io is '
          'forbidden: User "%s" cannot create resource "selfsubjectaccessreviews" in API group '
          '"authorization.k8s.io" at the cluster scope' % SA, "SSAR itself can be forbidden", o5)
    st, _, out = d.req("POST", "/_double/rbac", {"forbid": [{"verb": "get"}]})
    check(st == 400 and is_status(out, 400, "BadRequest"), "rbac: a rule without resource "
          "-> 400")
    st, _, out = d.req("GET", "/apis")
    names = [g["name"] for g in out["groups"]]
    _, _, a = d.req("GET", "/apis/authorization.k8s.io/v1")
    _, _, e = d.req("GET", "/apis/events.k8s.io/v1")
    _, _, eg = d.req("GET", "/apis/events.k8s.io")
    check(names == ["metal3.io", "authorization.k8s.io", "events.k8s.io",
                    "infrastructure.cluster.x-k8s.io"] and
          [r["name"] for r in a["resources"]] == ["selfsubjectaccessreviews"] and
          [r["name"] for r in e["resources"]] == ["events"] and eg["kind"] == "APIGroup",
          "discovery lists authorization.k8s.io/v1 and events.k8s.io/v1", names)
    if shutil.which("kubectl"):
        d.ctl("POST", "rbac", {"forbid": [rule, {"verb": "list", "resource": "baremetalhosts",
                                                 "namespace": "metal3"}]})
        rc1, out1, err1 = kubectl(d, "auth", "can-i", "patch", "baremetalhosts",
                                  "--subresource=status", "-n", "metal3")
        rc2, out2, err2 = kubectl(d, "auth", "can-i", "patch", "baremetalhosts",
                                  "--subresource=status", "-n", "default")
        check(rc1 == 1 and out1.startswith("no") and rc2 == 0 and out2.strip() == "yes",
              "kubectl auth can-i (protobuf SelfSubjectAccessReview) sees the forbid rules",
              (rc1, out1, err1, rc2, out2, err2))
        rc, out, err = kubectl(d, "get", "bmh", "-n", "metal3")
        check(rc != 0 and "(Forbidden)" in err and "is forbidden" in err,
              "kubectl shows the Forbidden Status", err)
    d.ctl("POST", "reset")
    check(d.ctl("GET", "rbac")["forbid"] == [], "reset clears the forbid list")


def good_event(ns="metal3", name="master-2", **kw):
    ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
          "metadata": {"generateName": name + "-"},
          "eventTime": "2026-11-30T18:05:19.123456Z", "type": "Normal",
          "reportingController": "bmhguard.io/repair", "reportingInstance": "bmhguard-repair-x1",
          "action": "Repair", "reason": "ImageURLRepaired", "note": "image url repaired",
          "regarding": {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                        "namespace": ns, "name": name, "uid": "u-" + name}}
    for k, v in kw.items():
        if v is None:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


def test_events(d):
    d.ctl("POST", "reset")
    d.ctl("DELETE", "log")
    url = EV + "/namespaces/metal3/events"
    st, _, out = d.req("POST", url, good_event(metadata={"name": "master-2.repair1"}))
    md = out.get("metadata", {}) if isinstance(out, dict) else {}
    check(st == 201 and out["kind"] == "Event" and out["apiVersion"] == "events.k8s.io/v1" and
          md.get("name") == "master-2.repair1" and md.get("namespace") == "metal3" and
          md.get("uid") and md.get("resourceVersion") and md.get("creationTimestamp"),
          "event create -> 201 with name, uid, resourceVersion, creationTimestamp", out)
    st, _, out = d.req("POST", url, good_event(metadata={"name": "master-2.repair1"}))
    check(st == 409 and is_status(out, 409, "AlreadyExists") and
          out["message"] == 'events.events.k8s.io "master-2.repair1" already exists',
          "event with an existing name -> 409 AlreadyExists", out)
    st, _, out = d.req("POST", url, good_event())
    name = out["metadata"]["name"]
    check(st == 201 and name.startswith("master-2-") and len(name) == len("master-2-") + 5,
          "event generateName -> prefix + 5 characters", name)
    st, _, one = d.req("GET", url + "/" + name)
    check(st == 200 and one == out, "GET one event")
    cases = [
        ("no name or generateName", {"metadata": {}}, "metadata.name", "FieldValueRequired"),
        ("eventTime missing", {"eventTime": None}, "eventTime", "FieldValueRequired"),
        ("type not Normal/Warning", {"type": "Info"}, "type", "FieldValueInvalid"),
        ("reportingController missing", {"reportingController": None}, "reportingController",
         "FieldValueRequired"),
        ("reportingController not a qualified name", {"reportingController": "bmh guard"},
         "reportingController", "FieldValueInvalid"),
        ("reportingController with two slashes", {"reportingController": "a.io/b/c"},
         "reportingController", "FieldValueInvalid"),
        ("reportingInstance missing", {"reportingInstance": ""}, "reportingInstance",
         "FieldValueRequired"),
        ("reportingInstance over 128", {"reportingInstance": "i" * 129}, "reportingInstance",
         "FieldValueInvalid"),
        ("action missing", {"action": None}, "action", "FieldValueRequired"),
        ("action over 128", {"action": "a" * 129}, "action", "FieldValueInvalid"),
        ("reason missing", {"reason": None}, "reason", "FieldValueRequired"),
        ("reason over 128", {"reason": "r" * 129}, "reason", "FieldValueInvalid"),
        ("note over 1024 bytes (513 two-byte characters)", {"note": "\u00e9" * 513}, "message",
         "FieldValueInvalid"),
        ("regarding without namespace outside default", {"regarding": {"kind": "BareMetalHost",
                                                                        "name": "master-2"}},
         "involvedObject.namespace", "FieldValueInvalid"),
        ("bad name", {"metadata": {"name": "Master_2"}}, "metadata.name", "FieldValueInvalid"),
        ("deprecatedCount set", {"deprecatedCount": 3}, "count", "FieldValueInvalid"),
        ("series count 1", {"series": {"count": 1,
                                       "lastObservedTime": "2026-11-30T18:05:19.123456Z"}},
         "series.count", "FieldValueInvalid"),
    ]
    cases.append(("generateName ending in a dot", {"metadata": {"generateName": "m2."}},
                  "metadata.generateName", "FieldValueInvalid"))
    for label, change, field, reason in cases:
        st, _, out = d.req("POST", url, good_event(**change))
        causes = (out.get("details") or {}).get("causes", []) if isinstance(out, dict) else []
        check(st == 422 and is_status(out, 422, "Invalid") and
              out["message"].startswith("Event.events.k8s.io ") and
              {c["field"] for c in causes} == {field} and
              reason in [c["reason"] for c in causes], "event 422: " + label, out)
    st, _, out = d.req("POST", url, good_event(reportingController=None))
    check(st == 422 and [c["reason"] for c in out["details"]["causes"]] ==
          ["FieldValueRequired", "FieldValueInvalid", "FieldValueInvalid"] and
          out["message"].startswith('Event.events.k8s.io "master-2-') and
          "[reportingController: Required value, reportingController: Invalid value: \"\": "
          "name part must be non-empty, " in out["message"],
          "event 422 message aggregates the causes as the API server does", out)
    for label, change in (("eventTime without microseconds",
                           {"eventTime": "2026-11-30T18:05:19Z"}),
                          ("eventTime with 3 fractional digits",
                           {"eventTime": "2026-11-30T18:05:19.123Z"}),
                          ("eventTime not a date", {"eventTime": "2026-13-30T18:05:19.123456Z"}),
                          ("reason not a string", {"reason": 5}),
                          ("metadata.namespace differs", {"metadata": {"generateName": "x.",
                                                                       "namespace": "other"}})):
        st, _, out = d.req("POST", url, good_event(**change))
        check(st == 400 and is_status(out, 400, "BadRequest"),
              "event 400 (as the real server: decoding / namespace mismatch): " + label, out)
    st, _, out = d.req("POST", url, good_event(type="Warning", eventTime=None,
                                               reportingController=None))
    check(st == 422 and sorted(c["field"] for c in out["details"]["causes"]) ==
          ["eventTime"], "event without eventTime: only the legacy checks (as the real server)",
          out)
    ok_cases = [("default namespace, regarding without namespace", "default",
                 {"regarding": {"kind": "BareMetalHost", "name": "w1"}}),
                ("controller without prefix, +02:00 eventTime", "metal3",
                 {"reportingController": "bmhguard",
                  "eventTime": "2026-11-30T18:05:19.000001+02:00", "type": "Warning"}),
                ("regarding in another namespace (not checked when eventTime is set)", "metal3",
                 {"regarding": {"kind": "BareMetalHost", "namespace": "other", "name": "x"},
                  "reason": "Other"}),
                ("note of 1024 bytes", "metal3", {"note": "n" * 1024, "reason": "Long"})]
    for label, ns, change in ok_cases:
        st, _, out = d.req("POST", EV + "/namespaces/%s/events" % ns, good_event(**change))
        check(st == 201, "event 201: " + label, out)
    d.req("POST", EV + "/namespaces/ubiquity/events", good_event(ns="ubiquity", name="w7"))
    st, _, out = d.req("GET", url + "?fieldSelector=regarding.name%3Dmaster-2")
    got = [e["metadata"]["name"] for e in out["items"]]
    st2, _, out2 = d.req("GET", EV + "/events?fieldSelector=reason%3DImageURLRepaired")
    st3, _, out3 = d.req("GET", EV + "/events?fieldSelector=regarding.name%3Dw7")
    st4, _, out4 = d.req("GET", EV + "/events?fieldSelector=bogus%3D1")
    check(st == 200 and out["kind"] == "EventList" and len(got) == 4 and
          "master-2.repair1" in got and st2 == 200 and
          {e["metadata"]["namespace"] for e in out2["items"]} == {"metal3", "ubiquity",
                                                                  "default"} and
          len(out2["items"]) == 5 and
          [e["metadata"]["name"] for e in out3["items"]][0].startswith("w7-") and st4 == 400,
          "event lists: namespaced, cluster-wide, fieldSelector regarding.name / reason; "
          "unknown field -> 400", (got, out2, out3, out4))
    all_items = d.ctl("GET", "k8s-events")["items"]
    st, _, p1 = d.req("GET", EV + "/events?limit=3")
    st, _, p2 = d.req("GET", EV + "/events?limit=3&continue=" + p1["metadata"]["continue"])
    names = [e["metadata"]["name"] for e in all_items]
    check(len(all_items) == 7 and names[0] == "master-2.repair1" and
          [e["metadata"]["name"] for e in p1["items"] + p2["items"]] == names[:6] and
          all(int(a["metadata"]["resourceVersion"]) < int(b["metadata"]["resourceVersion"])
              for a, b in zip(all_items, all_items[1:])),
          "/_double/k8s-events in creation order; list paging", names)
    log = d.ctl("GET", "log?method=POST")
    check(log["successfulWrites"] == 7 and log["entries"][0]["path"] == url,
          "event creates are logged as writes", log["successfulWrites"])
    d.ctl("POST", "faults", {"kind": "500", "method": "POST", "path": "/events$"})
    st, _, out = d.req("POST", url, good_event())
    check(st == 500 and len(d.ctl("GET", "k8s-events")["items"]) == 7,
          "faults apply to event creates")
    d.ctl("DELETE", "faults")
    d.ctl("POST", "reset")
    check(d.ctl("GET", "k8s-events")["items"] == [], "reset clears events")


def test_busy_operator():
    d = Double("--tick", "0", "--status-writes", "20", "--gen", "20", "--gen-seed", "4")
    try:
        s = d.ctl("POST", "operator", {})
        check(s["statusWrites"] == 20 and s["statusWritesPaused"] is True and
              s["latencyMs"] == 0, "--status-writes sets the rate", s)
        s0, t0 = d.ctl("GET", "stats"), time.time()
        w0, rv0 = s0["operatorWrites"], s0["resourceVersion"]
        time.sleep(2.0)
        stats = d.ctl("GET", "stats")
        dt = time.time() - t0
        n = stats["operatorWrites"] - w0
        want = 20 * 20 * dt
        print("# busy operator: %d writes in %.2fs (expected %.0f)" % (n, dt, want), flush=True)
        check(0.8 * want <= n <= 1.2 * want and stats["resourceVersion"] - rv0 >= n,
              "status writes keep up with 20 hosts x 20 Hz; each bumps resourceVersion",
              (n, want))
        one = d.ctl("GET", "objects")["items"][0]
        ns, name = one["metadata"]["namespace"], one["metadata"]["name"]
        lu = d.obj(ns, name)["status"]["lastUpdated"]
        check(len(lu) == 27 and lu[19] == ".", "status.lastUpdated is written with "
              "microseconds", lu)
        time.sleep(0.5)
        body = d.obj(ns, name)
        body["metadata"]["resourceVersion"] = one["metadata"]["resourceVersion"]
        st, _, _ = d.req("PUT", path_of(ns, name), body)
        check(st == 409, "a client holding a 0.5 s old object gets 409 Conflict", st)
        # paused hosts are skipped when statusWritesPaused is false
        d.ctl("POST", "operator", {"statusWritesPaused": False})
        items = d.ctl("GET", "objects")["items"]
        paused = [o for o in items if PAUSED in o["metadata"].get("annotations", {})]
        unpaused = [o for o in items if PAUSED not in o["metadata"].get("annotations", {})]
        time.sleep(0.6)
        p_rv = [d.obj(o["metadata"]["namespace"], o["metadata"]["name"])["metadata"]
                ["resourceVersion"] for o in paused]
        time.sleep(0.6)
        p_rv2 = [d.obj(o["metadata"]["namespace"], o["metadata"]["name"])["metadata"]
                 ["resourceVersion"] for o in paused]
        u = unpaused[0]["metadata"]
        check(paused and p_rv == p_rv2 and d.obj(u["namespace"], u["name"])["metadata"][
            "resourceVersion"] != unpaused[0]["metadata"]["resourceVersion"],
              "statusWritesPaused false: paused hosts are left alone", (p_rv, p_rv2))
        # the operator's own writes run the rule (tick is off): a violating host is wiped
        d.ctl("PUT", "objects/default/late", host("late", status_url="http://1.2.3.4/x"))
        d.ctl("PUT", "objects/default/held", moved("held", prov_status("http://1.2.3.4/x"),
                                                  paused="true"))
        deadline = time.time() + 5
        while time.time() < deadline and not d.ctl("GET", "events")["dataLoss"]:
            time.sleep(0.05)
        dl = d.ctl("GET", "events")["dataLoss"]
        check(len(dl) == 1 and dl[0]["name"] == "late" and dl[0]["trigger"] == "operator",
              "the rule runs on the operator's status writes", dl)
        d.ctl("POST", "operator", {"statusWritesPaused": True})
        time.sleep(0.4)
        check("status" not in d.obj("default", "held"),
              "a host waiting for its status restore gets no status writes")
        d.ctl("POST", "operator", {"statusWrites": 0})
        time.sleep(0.2)
        w1 = d.ctl("GET", "stats")["operatorWrites"]
        time.sleep(0.3)
        check(d.ctl("GET", "stats")["operatorWrites"] == w1, "statusWrites 0 stops the writes")

        # latency: half before, half after, no lock held
        s = d.ctl("POST", "operator", {"latencyMs": 300})
        p = path_of(ns, name)
        t0 = time.time()
        st, _, _ = d.req("GET", p)
        rt = time.time() - t0
        t0 = time.time()
        d.ctl("GET", "objects/%s/%s" % (ns, name))
        ctl_rt = time.time() - t0
        t0 = time.time()
        st2, _, _ = d.req("HEAD", "/images/a.qcow2")
        img_rt = time.time() - t0
        check(s["latencyMs"] == 300 and st == 200 and 0.28 <= rt < 0.8 and ctl_rt < 0.2 and
              st2 == 200 and 0.28 <= img_rt < 0.8,
              "latencyMs delays API and image requests, not control requests",
              (rt, ctl_rt, img_rt))
        import threading
        res = []
        ts = [threading.Thread(target=lambda: res.append(d.req("GET", p)[0])) for _ in range(4)]
        t0 = time.time()
        for t in ts:
            t.start()
        time.sleep(0.1)
        t1 = time.time()
        d.ctl("GET", "objects/%s/%s" % (ns, name))
        mid = time.time() - t1
        for t in ts:
            t.join(10)
        par = time.time() - t0
        check(res == [200] * 4 and par < 0.8 and mid < 0.2,
              "latency is not spent holding a lock (4 parallel requests, a control read "
              "meanwhile)", (par, mid))
        d.ctl("POST", "operator", {"latencyMs": 0})
    finally:
        d.stop()
    hook = {"method": "PATCH", "patch": {"metadata": {"labels": {"hooked": "1"}}}}
    forbid = {"verb": "delete", "resource": "baremetalhosts"}
    d = Double("--latency-ms", "200", "--tick", "0", "--hook", json.dumps(hook), "--forbid",
               json.dumps(forbid), "--rbac-user", "alice", "--gen", "1")
    t0 = time.time()
    st, _, _ = d.req("GET", "/version")
    rt = time.time() - t0
    check(st == 200 and 0.18 <= rt < 0.7, "--latency-ms", rt)
    one = d.ctl("GET", "objects")["items"][0]["metadata"]
    d.req("PATCH", path_of(one["namespace"], one["name"]), {"metadata": {"labels": {"a": "1"}}},
          MERGE)
    st, _, out = d.req("DELETE", path_of(one["namespace"], one["name"]))
    check(d.obj(one["namespace"], one["name"])["metadata"]["labels"].get("hooked") == "1" and
          st == 403 and 'User "alice" cannot delete' in out["message"] and
          d.ctl("GET", "rbac")["forbid"] == [forbid], "--hook, --forbid and --rbac-user", out)
    d.stop()
    r = subprocess.run([PY, DOUBLE, "--forbid", '{"verb":"get"}'], capture_output=True,
                       text=True, timeout=20)
    check(r.returncode == 2 and "forbid rule" in r.stderr, "CLI: a bad --forbid is a usage "
          "error", r.stderr)


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

    # the other Metal3 kinds (kubectl resolves them through discovery)
    d.ctl("POST", "seed", [kobj("dataimages", "kd-di"), kobj("metal3machines", "kd-m3m"),
                           kobj("hostfirmwarecomponents", "kd-fw",
                                updates=[("bmc", FW_OLD % "bmc")])])
    rc, out, err = kubectl(d, "get", "dataimages")
    check(rc == 0 and out.split()[:3] == ["NAME", "AGE", "kd-di"], "kubectl get dataimages",
          out + err)
    rc1, out1, err1 = kubectl(d, "get", "m3m", "kd-m3m", "-o", "jsonpath={.apiVersion}")
    rc2, out2, err2 = kubectl(d, "get", "metal3machines.v1beta1.infrastructure.cluster.x-k8s.io",
                              "kd-m3m", "-o", "jsonpath={.apiVersion}")
    check(rc1 == rc2 == 0 and out1 == "infrastructure.cluster.x-k8s.io/v1beta2" and
          out2 == "infrastructure.cluster.x-k8s.io/v1beta1",
          "kubectl get m3m: preferred v1beta2, v1beta1 when asked", (out1, err1, out2, err2))
    rc, out, err = kubectl(d, "patch", "hostfirmwarecomponents", "kd-fw", "--type=merge",
                           "--subresource=status", "--patch",
                           json.dumps({"status": {"updates": [{"component": "bmc",
                                                               "url": FW_NEW % "bmc"}]}}))
    o = kget(d, "hostfirmwarecomponents", "default", "kd-fw")
    check(rc == 0 and o["status"]["updates"][0]["url"] == FW_NEW % "bmc" and
          o["spec"]["updates"][0]["url"] == FW_OLD % "bmc",
          "kubectl patch --subresource=status of a HostFirmwareComponents", err)


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
               os.path.join(METAL3, "examples", "worker-0.yaml"), tls=trust)
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
    r = subprocess.run([PY, DOUBLE, "--crds", "baremetalhosts,secrets"], capture_output=True,
                       text=True, timeout=20)
    check(r.returncode == 2 and "--crds" in r.stderr and "secrets" in r.stderr,
          "CLI: --crds with an unknown resource is a usage error", r.stderr)
    d = Double("--port-file", pf, "--fault", "429,method=GET,path=/version$,retryAfter=2",
               "--gen", "20", "--tick", "0", "--kill-after", "1,%d,15" % victim.pid,
               "--crds", "bmh,dataimages")
    crds = d.ctl("GET", "crds")["served"]
    _, _, apis = d.req("GET", "/apis")
    check(crds == ["baremetalhosts", "dataimages"] and
          [g["name"] for g in apis["groups"]] == ["metal3.io", "authorization.k8s.io",
                                                  "events.k8s.io"],
          "CLI: --crds chooses the served resources", (crds, apis))
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


# ------------------------------------------------------------------ other Metal3 kinds

INFRA = "infrastructure.cluster.x-k8s.io"
# plural -> (group, versions (preferred first), kind, status subresource)
KINDS = {
    "dataimages": ("metal3.io", ("v1alpha1",), "DataImage", True),
    "hostfirmwarecomponents": ("metal3.io", ("v1alpha1",), "HostFirmwareComponents", True),
    "metal3machines": (INFRA, ("v1beta2", "v1beta1"), "Metal3Machine", True),
    "metal3machinetemplates": (INFRA, ("v1beta2", "v1beta1"), "Metal3MachineTemplate", False),
}
FW_OLD = "http://10.10.10.10/firmware/%s.bin"
FW_NEW = "http://httpd-http/firmware/%s.bin"


def kpath(plural, ns=None, name="", sub="", version=None):
    group, versions = KINDS[plural][:2]
    p = "/apis/%s/%s" % (group, version or versions[0])
    if ns is not None:
        p += "/namespaces/" + ns
    p += "/" + plural
    return p + ("/" + name if name else "") + ("/" + sub if sub else "")


def kobj(plural, name, ns="default", version=None, labels=None, **kw):
    """An object of a new kind with an image/firmware url in spec (and status when given)."""
    group, versions, kind, _ = KINDS[plural]
    o = {"apiVersion": "%s/%s" % (group, version or versions[0]), "kind": kind,
         "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "x"}}}
    url = kw.get("url", "http://10.10.10.10/images/a.qcow2")
    if plural == "dataimages":
        o["spec"] = {"url": url}
        if kw.get("attached") is not None:
            o["status"] = {"attachedImage": {"url": kw["attached"]}}
    elif plural == "hostfirmwarecomponents":
        o["spec"] = {"updates": [{"component": c, "url": u} for c, u in kw.get("updates", [])]}
        if kw.get("applied") is not None:
            o["status"] = {"updates": [{"component": c, "url": u} for c, u in kw["applied"]]}
    elif plural == "metal3machines":
        o["spec"] = {"image": {"url": url, "checksum": url + ".md5sum"}}
        if kw.get("status") is not None:
            o["status"] = kw["status"]
    else:
        o["spec"] = {"template": {"spec": {"image": {"url": url, "checksum": url + ".md5sum"}}}}
        if kw.get("status") is not None:
            o["status"] = kw["status"]
    return o


def kget(d, plural, ns, name):
    return d.ctl("GET", "objects/%s/%s/%s" % (plural, ns, name))


def test_kinds_crud(d):
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [host("anchor")])
    for plural, (group, versions, kind, has_status) in KINDS.items():
        tag = kind
        ver = versions[-1]  # CAPM3: create through v1beta1, read through v1beta2
        hrv = int(d.obj("default", "anchor")["metadata"]["resourceVersion"])
        body = kobj(plural, "k1", version=ver, status={"ready": True})
        if plural in ("dataimages", "hostfirmwarecomponents"):
            body["status"] = {"attachedImage": {"url": "x"}, "updates": []}
        st, _, out = d.req("POST", kpath(plural, "default", version=ver), body)
        md = (out or {}).get("metadata", {})
        check(st == 201 and out["apiVersion"] == "%s/%s" % (group, ver) and
              out["kind"] == kind and md.get("uid") and md.get("generation") == 1 and
              int(md.get("resourceVersion", 0)) > hrv and
              (("status" not in out) if has_status else out.get("status") == body["status"]),
              "%s: POST creates (global resourceVersion; status %s)" %
              (tag, "dropped" if has_status else "kept: no status subresource"), (st, out))
        st2, _, out2 = d.req("POST", kpath(plural, "default", version=ver), body)
        check(st2 == 409 and is_status(out2, 409, "AlreadyExists") and
              out2["message"] == '%s.%s "k1" already exists' % (plural, group) and
              out2["details"] == {"name": "k1", "group": group, "kind": plural},
              "%s: POST of an existing name -> 409 AlreadyExists" % tag, out2)
        if len(versions) > 1:
            g1, _, a = d.req("GET", kpath(plural, "default", "k1", version="v1beta1"))
            g2, _, b = d.req("GET", kpath(plural, "default", "k1", version="v1beta2"))
            _, _, la = d.req("GET", kpath(plural, version="v1beta1"))
            _, _, lb = d.req("GET", kpath(plural, "default", version="v1beta2"))
            check(g1 == g2 == 200 and a["apiVersion"] == INFRA + "/v1beta1" and
                  b["apiVersion"] == INFRA + "/v1beta2" and
                  a["metadata"] == b["metadata"] and a["spec"] == b["spec"] and
                  la["apiVersion"] == INFRA + "/v1beta1" and
                  la["items"][0]["apiVersion"] == INFRA + "/v1beta1" and
                  lb["items"][0]["apiVersion"] == INFRA + "/v1beta2" and
                  la["kind"] == kind + "List",
                  "%s: one object served as v1beta1 and v1beta2, apiVersion of the path" % tag,
                  (a.get("apiVersion"), b.get("apiVersion"), la.get("apiVersion")))
        p = kpath(plural, "default", "k1")
        cur = d.req("GET", p)[2]
        rv0, gen0 = int(cur["metadata"]["resourceVersion"]), cur["metadata"]["generation"]
        st, _, out = d.req("PATCH", p, {"metadata": {"labels": {"app": None, "b": "2"}},
                                        "spec": {"extra": "y"}, "status": {"phase": "p"}}, MERGE)
        ok = (st == 200 and out["metadata"]["labels"] == {"b": "2"} and
              out["spec"]["extra"] == "y" and out["metadata"]["generation"] == gen0 + 1 and
              int(out["metadata"]["resourceVersion"]) > rv0)
        if has_status:
            ok = ok and "phase" not in (out.get("status") or {})
        else:
            ok = ok and out["status"].get("phase") == "p"
        check(ok, "%s: merge patch of the resource (null deletes, generation bumps, status %s)"
              % (tag, "kept" if has_status else "written"), out)
        rv1 = out["metadata"]["resourceVersion"]
        st, _, out = d.req("PATCH", p, {"metadata": {"labels": {"b": "2"}}}, MERGE)
        check(st == 200 and out["metadata"]["resourceVersion"] == rv1 and
              d.req("GET", p)[2]["metadata"]["resourceVersion"] == rv1,
              "%s: no-op patch keeps resourceVersion" % tag, (rv1, out["metadata"]))
        if has_status:
            cur = d.req("GET", p)[2]
            st, _, out = d.req("PATCH", p, {"status": {"phase": "ignored"}}, MERGE)
            check(st == 200 and out["metadata"] == cur["metadata"] and "status" not in out,
                  "%s: a status-only write to the resource changes nothing" % tag, out)
            st, _, out = d.req("PATCH", p + "/status",
                               {"metadata": {"labels": {"z": "1"}}, "spec": {"extra": "no"},
                                "status": {"phase": "s"}}, MERGE)
            check(st == 200 and out["status"]["phase"] == "s" and out["spec"]["extra"] == "y"
                  and "z" not in out["metadata"]["labels"] and
                  out["metadata"]["generation"] == cur["metadata"]["generation"],
                  "%s: /status write keeps all but status" % tag, out)
        else:
            g = d.req("GET", p)[2]["metadata"]["generation"]
            st, _, out = d.req("PATCH", p, {"status": {"phase": "s"}}, MERGE)
            check(st == 200 and out["status"]["phase"] == "s" and
                  out["metadata"]["generation"] == g + 1,
                  "%s: a status-only write to the resource bumps generation (no subresource)"
                  % tag, out)
            st, _, out = d.req("PATCH", p + "/status", {"status": {"phase": "s"}}, MERGE)
            st2, _, _ = d.req("GET", p + "/status")
            check(st == 404 and st2 == 404 and is_status(out, 404, "NotFound") and
                  out["message"] == "the server could not find the requested resource",
                  "%s: no status subresource: /status is 404" % tag, out)
        cur = d.req("GET", p)[2]
        stale = str(int(cur["metadata"]["resourceVersion"]) - 1)
        subs = ("", "status") if has_status else ("",)
        codes = [d.req("PATCH", p + ("/" + s if s else ""),
                       {"metadata": {"resourceVersion": stale}, "spec": {"extra": "z"}},
                       MERGE) for s in subs]
        check(all(c[0] == 409 and is_status(c[2], 409, "Conflict") and
                  c[2]["message"].startswith('Operation cannot be fulfilled on %s.%s "k1"'
                                             % (plural, group)) for c in codes) and
              d.req("GET", p)[2]["metadata"]["resourceVersion"] ==
              cur["metadata"]["resourceVersion"],
              "%s: stale resourceVersion -> 409 Conflict, nothing written" % tag,
              [c[2] for c in codes])
        body = json.loads(json.dumps(cur))
        body["metadata"].pop("resourceVersion")
        st, _, out = d.req("PUT", p, body)
        check(st == 422 and is_status(out, 422, "Invalid") and
              out["message"].startswith('%s.%s "k1" is invalid' % (kind, group)),
              "%s: PUT without resourceVersion -> 422" % tag, out)
        body = json.loads(json.dumps(cur))
        body["spec"]["extra"] = "put"
        body["status"] = {"phase": "put"}
        st, _, out = d.req("PUT", p, body)
        st2, _, _ = d.req("PUT", p, body)
        check(st == 200 and out["spec"]["extra"] == "put" and
              (out.get("status", {}).get("phase") == "put") != has_status and st2 == 409,
              "%s: PUT with resourceVersion updates (status %s), stale PUT -> 409" %
              (tag, "kept" if has_status else "written"), out)
        st, _, out = d.req("PATCH", p, [{"op": "replace", "path": "/spec/extra", "value": "jp"}],
                           "application/json-patch+json")
        st2, _, out2 = d.req("PATCH", p, {"spec": {}}, "application/strategic-merge-patch+json")
        check(st == 200 and out["spec"]["extra"] == "jp" and st2 == 415 and
              is_status(out2, 415, "UnsupportedMediaType"),
              "%s: JSON patch works, strategic merge patch -> 415" % tag, (out, out2))
        st, _, out = d.req("DELETE", p)
        st2, _, out2 = d.req("GET", p)
        check(st == 200 and st2 == 404 and is_status(out2, 404, "NotFound") and
              out2["message"] == '%s.%s "k1" not found' % (plural, group) and
              out2["details"] == {"name": "k1", "group": group, "kind": plural},
              "%s: DELETE removes it; GET -> 404 naming the resource" % tag, out2)
    h = d.obj("default", "anchor")
    st, _, out = d.req("POST", kpath("dataimages", "default"), kobj("dataimages", "rvcheck"))
    st2, _, out2 = d.req("PATCH", path_of("default", "anchor"), {"metadata": {"labels":
                                                                              {"n": "1"}}}, MERGE)
    check(int(h["metadata"]["resourceVersion"]) < int(out["metadata"]["resourceVersion"]) <
          int(out2["metadata"]["resourceVersion"]),
          "one resourceVersion counter shared by hosts and the other kinds")
    st, _, out = d.req("POST", kpath("metal3machines", version="v1beta2"),
                       kobj("metal3machines", "x"))
    check(st == 405 and is_status(out, 405, "MethodNotAllowed"),
          "POST to a cluster-wide collection -> 405")
    d.ctl("POST", "seed", [kobj("metal3machinetemplates", "seeded", ns="ns2",
                                version="v1beta1", status={"ready": True})])
    o = kget(d, "m3mt", "ns2", "seeded")
    check(o["apiVersion"] == INFRA + "/v1beta2" and o["status"] == {"ready": True} and
          o["metadata"]["uid"], "seeding by kind: stored in the preferred version, status kept",
          o)
    got = d.ctl("GET", "objects?resource=metal3machinetemplates")["items"]
    put = d.ctl("PUT", "objects/dataimages/ns2/ctl", kobj("dataimages", "other"))
    check([x["metadata"]["name"] for x in got] == ["seeded"] and
          put["kind"] == "DataImage" and put["metadata"]["name"] == "ctl" and
          d.req("GET", kpath("dataimages", "ns2", "ctl"))[0] == 200,
          "control objects API: list and PUT by resource", (got, put))
    st, _, out = d.req("GET", "/_double/objects/nosuchkind/ns2/ctl")
    check(st == 404, "control objects API: unknown resource -> 404")
    d.ctl("POST", "reset")
    out = d.ctl("POST", "generate", {"count": 30, "seed": 4, "with": [
        "dataimages", "hostfirmwarecomponents", "metal3machines", "metal3machinetemplates"]})
    st = d.ctl("GET", "stats")["objectsByResource"]
    hosts = {(o["metadata"]["namespace"], o["metadata"]["name"]): o
             for o in d.ctl("GET", "objects")["items"]}
    dis = d.ctl("GET", "objects?resource=dataimages")["items"]
    m3ms = d.ctl("GET", "objects?resource=metal3machines")["items"]
    with_image = [k for k, o in hosts.items() if o["spec"].get("image")]
    check(out["generated"] == 30 and st["hostfirmwarecomponents"] == 30 and
          sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in dis) ==
          sorted(with_image) and all(
              o["spec"]["image"] == hosts[(o["metadata"]["namespace"],
                                           o["metadata"]["name"])]["spec"]["image"]
              for o in m3ms) and len(m3ms) == len(with_image) and
          st["metal3machinetemplates"] == len({k[0] for k in with_image}) and
          all(o["spec"]["url"] == o["status"]["attachedImage"]["url"] for o in dis) and
          out["companions"] == sum(v for k, v in st.items() if k != "baremetalhosts"),
          "generate with companions: same-named objects on the hosts' image urls", (out, st))


def test_kinds_list(d):
    d.ctl("POST", "reset")
    objs = []
    for i in range(30):
        ns = ("metal3", "ubiquity")[i % 2]
        objs.append(kobj("dataimages", "di-%02d" % i, ns=ns,
                         labels={"role": ("worker", "master")[i % 3 == 0]}))
        objs.append(kobj("metal3machines", "m-%02d" % i, ns=ns))
    d.ctl("POST", "seed", {"kind": "List", "items": objs})

    def pages(path, limit, after_first=None):
        got, cont, n = [], "", 0
        while n < 50:
            n += 1
            st, _, out = d.req("GET", path + ("&" if "?" in path else "?") + "limit=%d" % limit +
                               ("&continue=" + cont if cont else ""))
            if st != 200:
                return None, out
            got.extend((o["metadata"]["namespace"], o["metadata"]["name"], o)
                       for o in out["items"])
            cont = out["metadata"].get("continue", "")
            if n == 1 and after_first:
                after_first()
            if not cont:
                return got, n
        return None, "too many pages"
    want = sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs
                  if o["kind"] == "DataImage")
    got, n = pages(kpath("dataimages"), 7)
    check(got is not None and [g[:2] for g in got] == want and n == 5,
          "DataImage cluster-wide list pages: complete, ordered", (n, got and len(got)))
    got, n = pages(kpath("metal3machines", "ubiquity", version="v1beta1"), 4)
    check(got is not None and [g[1] for g in got] == ["m-%02d" % i for i in range(1, 30, 2)] and
          all(g[2]["apiVersion"] == INFRA + "/v1beta1" for g in got),
          "Metal3Machine namespaced v1beta1 list pages", (n, got and len(got)))

    def touch():
        d.req("PATCH", kpath("dataimages", "ubiquity", "di-29"),
              {"metadata": {"labels": {"touched": "1"}}}, MERGE)
    got, n = pages(kpath("dataimages"), 10, touch)
    last = [g[2] for g in got or [] if g[1] == "di-29"]
    check(last and "touched" not in last[0]["metadata"]["labels"] and
          "touched" in kget(d, "dataimages", "ubiquity", "di-29")["metadata"]["labels"],
          "DataImage later pages come from the first page's snapshot")
    st, _, out = d.req("GET", kpath("dataimages") + "?labelSelector=role%3Dmaster,!touched")
    names = [o["metadata"]["name"] for o in out["items"]]
    check(st == 200 and names and sorted(names) == sorted(
        "di-%02d" % i for i in range(30) if i % 3 == 0), "DataImage labelSelector", names)
    st, _, out = d.req("GET", kpath("metal3machines") +
                       "?fieldSelector=metadata.namespace=metal3,metadata.name!=m-00")
    names = [o["metadata"]["name"] for o in out["items"]]
    check(st == 200 and names == ["m-%02d" % i for i in range(2, 30, 2)],
          "Metal3Machine fieldSelector", names)
    st, _, first = d.req("GET", kpath("dataimages") + "?limit=3")
    tok = first["metadata"]["continue"]
    s1, _, o1 = d.req("GET", kpath("metal3machines") + "?limit=3&continue=" + tok)
    s2, _, o2 = d.req("GET", kpath("dataimages") + "?limit=3&continue=" + tok)
    check(s1 == 400 and is_status(o1, 400, "BadRequest") and s2 == 200 and
          len(o2["items"]) == 3, "a DataImage continue token is refused by another resource")
    unknown = base64.urlsafe_b64encode(json.dumps(
        {"v": "kd1", "s": 99999999, "i": 3, "rv": 1, "ns": "", "r": "dataimages"},
        separators=(",", ":")).encode()).decode().rstrip("=")
    st, _, out = d.req("GET", kpath("dataimages") + "?limit=3&continue=" + unknown)
    check(st == 410 and is_status(out, 410, "Expired"), "unknown DataImage continue -> 410", out)
    st, _, out = d.req("GET", kpath("metal3machines") + "?limit=25",
                       headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    check(st == 200 and out.get("kind") == "Table" and
          [c["name"] for c in out["columnDefinitions"]] == ["Name", "Age"] and
          len(out["rows"]) == 25 and out["rows"][0]["cells"][0] == "m-00" and
          out["metadata"].get("remainingItemCount") == 5, "Metal3Machine Table output", out)


def test_crds(d):
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [host("h1"), kobj("dataimages", "h1"),
                           kobj("metal3machinetemplates", "t1")])
    out = d.ctl("GET", "crds")
    check(out["served"] == ["baremetalhosts", "dataimages", "hostfirmwarecomponents",
                            "metal3machines", "metal3machinetemplates"],
          "crds: all five served by default", out)
    _, _, apis = d.req("GET", "/apis")
    _, _, ig = d.req("GET", "/apis/" + INFRA)
    _, _, m3 = d.req("GET", "/apis/metal3.io/v1alpha1")
    _, _, b1 = d.req("GET", "/apis/%s/v1beta1" % INFRA)
    _, _, b2 = d.req("GET", "/apis/%s/v1beta2" % INFRA)
    infra = [g for g in apis["groups"] if g["name"] == INFRA]
    check(infra and [v["version"] for v in infra[0]["versions"]] == ["v1beta2", "v1beta1"] and
          infra[0]["preferredVersion"]["version"] == "v1beta2" and ig["kind"] == "APIGroup" and
          ig["preferredVersion"]["groupVersion"] == INFRA + "/v1beta2",
          "discovery: %s with v1beta2 preferred and v1beta1" % INFRA, (infra, ig))
    names = lambda rl: [r["name"] for r in rl.get("resources", [])]
    check(names(m3) == ["baremetalhosts", "baremetalhosts/status", "dataimages",
                        "dataimages/status", "hostfirmwarecomponents",
                        "hostfirmwarecomponents/status"] and
          [r["kind"] for r in m3["resources"]][2:] == ["DataImage", "DataImage",
                                                      "HostFirmwareComponents",
                                                      "HostFirmwareComponents"],
          "discovery: metal3.io/v1alpha1 lists the new kinds with /status", names(m3))
    m3m = [r for r in b2["resources"] if r["name"] == "metal3machines"]
    check(names(b1) == names(b2) == ["metal3machines", "metal3machines/status",
                                     "metal3machinetemplates"] and m3m and
          "m3m" in m3m[0]["shortNames"] and b1["groupVersion"] == INFRA + "/v1beta1",
          "discovery: both CAPM3 versions list metal3machines(/status) and "
          "metal3machinetemplates (no /status)", (names(b1), names(b2)))
    out = d.ctl("POST", "crds", {"served": ["baremetalhosts", "metal3machines"]})
    _, _, apis = d.req("GET", "/apis")
    _, _, m3 = d.req("GET", "/apis/metal3.io/v1alpha1")
    _, _, b2 = d.req("GET", "/apis/%s/v1beta2" % INFRA)
    s1, _, o1 = d.req("GET", kpath("dataimages", "default", "h1"))
    s2, _, o2 = d.req("GET", kpath("metal3machinetemplates", "default", "t1"))
    s3, _, _ = d.req("PATCH", kpath("dataimages", "default", "h1"), {"spec": {}}, MERGE)
    s4, _, _ = d.req("GET", kpath("metal3machines"))
    check(out["served"] == ["baremetalhosts", "metal3machines"] and
          names(m3) == ["baremetalhosts", "baremetalhosts/status"] and
          names(b2) == ["metal3machines", "metal3machines/status"] and
          [g["name"] for g in apis["groups"]] == ["metal3.io", "authorization.k8s.io",
                                                  "events.k8s.io", INFRA],
          "crds: unserved kinds are absent from discovery", (names(m3), names(b2)))
    check(s1 == s2 == s3 == 404 and is_status(o1, 404, "NotFound") and
          o1["message"] == "the server could not find the requested resource" and
          o2["message"] == o1["message"] and s4 == 200,
          "crds: paths of unserved kinds answer 404 NotFound", (s1, s2, s3, s4, o1))
    d.ctl("POST", "crds", {"served": ["dataimages"]})
    _, _, apis = d.req("GET", "/apis")
    s1, _, _ = d.req("GET", "/apis/" + INFRA)
    s2, _, _ = d.req("GET", "/apis/%s/v1beta2" % INFRA)
    s3, _, _ = d.req("GET", path_of("default", "h1"))
    s4, _, o4 = d.req("GET", kpath("dataimages", "default", "h1"))
    _, _, m3 = d.req("GET", "/apis/metal3.io/v1alpha1")
    check([g["name"] for g in apis["groups"]] == ["metal3.io", "authorization.k8s.io",
                                                  "events.k8s.io"] and s1 == s2 == 404,
          "crds: a group with nothing served is absent from /apis and its paths 404",
          (apis["groups"], s1, s2))
    check(s3 == 404 and s4 == 200 and o4["kind"] == "DataImage" and
          names(m3) == ["dataimages", "dataimages/status"],
          "crds: objects of unserved kinds stay stored, reachable again when served",
          (s3, s4, names(m3)))
    d.ctl("POST", "crds", {"served": []})
    _, _, apis = d.req("GET", "/apis")
    s1, _, _ = d.req("GET", "/apis/metal3.io")
    check([g["name"] for g in apis["groups"]] == ["authorization.k8s.io", "events.k8s.io"] and
          s1 == 404, "crds: none served: only the built-in groups", apis["groups"])
    st, _, out = d.req("POST", "/_double/crds", {"served": ["dataimages", "secrets"]})
    st2, _, _ = d.req("POST", "/_double/crds", {"served": "dataimages"})
    check(st == 400 and is_status(out, 400, "BadRequest") and "secrets" in out["message"] and
          st2 == 400 and d.ctl("GET", "crds")["served"] == [],
          "crds: an unknown resource -> 400, nothing changed", out)
    d.ctl("POST", "crds", {"served": ["bmh", "DataImage", "m3m"]})
    check(d.ctl("GET", "crds")["served"] == ["baremetalhosts", "dataimages", "metal3machines"],
          "crds: short names and kinds accepted")
    d.ctl("POST", "reset")
    check(len(d.ctl("GET", "crds")["served"]) == 5, "reset serves the startup CRDs again")


def fw_setup(d, name, paused, updates, applied, ns="default"):
    d.ctl("POST", "seed", [host(name, ns=ns, paused=paused),
                           kobj("hostfirmwarecomponents", name, ns=ns, updates=updates,
                                applied=applied)])


def test_reflash(d):
    d.ctl("POST", "reset")
    hp = lambda name, sub="": kpath("hostfirmwarecomponents", "default", name, sub)
    old = [("bmc", FW_OLD % "bmc"), ("bios", FW_OLD % "bios")]
    new = [("bmc", FW_NEW % "bmc"), ("bios", FW_NEW % "bios")]
    as_updates = lambda pairs: [{"component": c, "url": u} for c, u in pairs]
    # the right order: pause, status, spec, unpause
    fw_setup(d, "r1", "bmhguard-repair", old, old)
    d.req("PATCH", hp("r1", "status"), {"status": {"updates": as_updates(new)}}, MERGE)
    d.req("PATCH", hp("r1"), {"spec": {"updates": as_updates(new)}}, MERGE)
    d.req("PATCH", path_of("default", "r1"), {"metadata": {"annotations": {PAUSED: None}}},
          MERGE)
    ev = d.ctl("GET", "events")
    o = kget(d, "hostfirmwarecomponents", "default", "r1")
    check(ev["reflashCount"] == 0 and ev["reflash"] == [] and ev["flashCount"] == 0 and
          o["status"]["updates"] == as_updates(new),
          "reflash: status first under pause, then spec, then unpause: nothing flashed", ev)
    # spec first on an unpaused host: the operator flashes the new url over the applied one
    fw_setup(d, "r2", None, old, old)
    st, _, out = d.req("PATCH", hp("r2"), {"spec": {"updates": as_updates(
        [("bmc", FW_NEW % "bmc"), ("bios", FW_OLD % "bios")])}}, MERGE)
    ev = d.ctl("GET", "events")
    o = kget(d, "hostfirmwarecomponents", "default", "r2")
    rf = ev["reflash"]
    check(st == 200 and ev["reflashCount"] == 1 and len(rf) == 1 and rf[0]["seq"] == 1 and
          rf[0]["namespace"] == "default" and rf[0]["name"] == "r2" and
          rf[0]["component"] == "bmc" and rf[0]["fromUrl"] == FW_OLD % "bmc" and
          rf[0]["toUrl"] == FW_NEW % "bmc" and rf[0]["trigger"] == "hfc-spec",
          "reflash: spec first on an unpaused host re-flashes the changed component", ev)
    check(o["status"]["updates"] == as_updates([("bmc", FW_NEW % "bmc"),
                                                ("bios", FW_OLD % "bios")]) and
          int(o["metadata"]["resourceVersion"]) > int(out["metadata"]["resourceVersion"]) and
          rf[0]["resourceVersion"] == o["metadata"]["resourceVersion"] and
          o["metadata"]["generation"] == out["metadata"]["generation"],
          "reflash: the operator's status write (resourceVersion bumps, generation does not)",
          o)
    # status first on an unpaused host: the operator flashes the old spec url back
    fw_setup(d, "r3", None, old, old)
    d.req("PATCH", hp("r3", "status"), {"status": {"updates": as_updates(new)}}, MERGE)
    rf = d.ctl("GET", "events")["reflash"]
    o = kget(d, "hostfirmwarecomponents", "default", "r3")
    check(len(rf) == 3 and [r["component"] for r in rf[1:]] == ["bmc", "bios"] and
          rf[1]["fromUrl"] == FW_NEW % "bmc" and rf[1]["toUrl"] == FW_OLD % "bmc" and
          rf[1]["trigger"] == "hfc-status" and o["status"]["updates"] == as_updates(old),
          "reflash: status first on an unpaused host flashes the spec url back", rf)
    # a pending component (absent from status) is a first flash, not a re-flash
    fw_setup(d, "r4", None, [("nic", FW_NEW % "nic")] + old, old)
    d.req("PATCH", hp("r4"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    ev = d.ctl("GET", "events")
    o = kget(d, "hostfirmwarecomponents", "default", "r4")
    check(ev["reflashCount"] == 3 and ev["flashCount"] == 1 and
          ev["flashes"][0]["component"] == "nic" and ev["flashes"][0]["fromUrl"] == "" and
          ev["flashes"][0]["name"] == "r4" and
          o["status"]["updates"] == as_updates(old + [("nic", FW_NEW % "nic")]),
          "reflash: a pending component gets a first flash, no reflash event", ev)
    # paused host: nothing, whatever is written, until the write that unpauses it
    fw_setup(d, "r5", "true", new, old)
    d.req("PATCH", hp("r5"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    d.req("PATCH", hp("r5", "status"), {"status": {"note": "x"}}, MERGE)
    d.req("PATCH", path_of("default", "r5"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    n_before = d.ctl("GET", "events")["reflashCount"]
    d.req("PATCH", path_of("default", "r5"), {"metadata": {"annotations": {PAUSED: None}}},
          MERGE)
    rf = d.ctl("GET", "events")["reflash"]
    check(n_before == 3 and len(rf) == 5 and {r["name"] for r in rf[3:]} == {"r5"} and
          {r["trigger"] for r in rf[3:]} == {"host"},
          "reflash: paused host: nothing until the unpause write (trigger host)", rf[3:])
    # no host of that name: nobody reconciles; CAPM3 kinds have no rule
    d.ctl("POST", "seed", [kobj("hostfirmwarecomponents", "orphan", updates=new, applied=old),
                           host("m1")])
    d.req("PATCH", hp("orphan"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    d.req("POST", kpath("metal3machines", "default"), kobj("metal3machines", "m1"))
    d.req("PATCH", kpath("metal3machines", "default", "m1"),
          {"spec": {"image": {"url": "http://x/y"}}}, MERGE)
    ev = d.ctl("GET", "events")
    check(ev["reflashCount"] == 5 and ev["flashCount"] == 1 and ev["count"] == 0,
          "reflash: no host of that name (or a Metal3Machine): nothing happens", ev)
    # without the BareMetalHost CRD there is no operator to flash anything
    fw_setup(d, "r8", None, new, old)
    d.ctl("POST", "crds", {"served": ["hostfirmwarecomponents"]})
    st, _, _ = d.req("PATCH", hp("r8"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    d.ctl("POST", "crds", {"served": ["all"]})
    check(st == 200 and d.ctl("GET", "events")["reflashCount"] == 5,
          "reflash: no rule while the BareMetalHost CRD is not installed")
    # seeding never fires; the operator switch; reset
    fw_setup(d, "r6", None, new, old)
    check(d.ctl("GET", "events")["reflashCount"] == 5, "reflash: seeding never fires the rule")
    d.ctl("POST", "operator", {"reflash": False})
    d.req("PATCH", hp("r6"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    n_off = d.ctl("GET", "events")["reflashCount"]
    d.ctl("POST", "operator", {"reflash": True})
    d.req("PATCH", hp("r6"), {"metadata": {"labels": {"touch": "2"}}}, MERGE)
    ev = d.ctl("GET", "events")
    st = d.ctl("GET", "stats")
    check(n_off == 5 and ev["reflashCount"] == 7 and st["reflash"] == 7 and st["flashes"] == 1,
          "reflash: operator {\"reflash\":false} turns the rule off; stats count it",
          (n_off, ev["reflashCount"], st))
    # an owner hook on an HFC write runs the rule (trigger hfc-hook)
    fw_setup(d, "r7", None, old, old)
    d.ctl("POST", "hooks", {"method": "PATCH", "path": "hostfirmwarecomponents/r7$",
                            "patch": {"spec": {"updates": as_updates(new[:1])}}})
    d.req("PATCH", hp("r7"), {"metadata": {"labels": {"touch": "1"}}}, MERGE)
    rf = d.ctl("GET", "events")["reflash"]
    hooks = d.ctl("GET", "hooks")["rules"]
    check(hooks[0]["fired"] == 1 and rf[-1]["name"] == "r7" and rf[-1]["trigger"] == "hfc-hook"
          and rf[-1]["component"] == "bmc", "owner hooks fire on HFC writes; the rule runs",
          (hooks, rf[-1:]))
    d.ctl("POST", "reset")
    ev = d.ctl("GET", "events")
    check(ev["reflash"] == [] and ev["reflashCount"] == 0 and ev["flashes"] == [],
          "reset clears reflash events")


def test_reattach(d):
    d.ctl("POST", "reset")
    dp = lambda name, sub="": kpath("dataimages", "default", name, sub)
    old, new = "http://10.10.10.10/data/x.iso", "http://httpd-http/data/x.iso"
    seed = lambda name, paused, url, attached: d.ctl("POST", "seed", [
        host(name, paused=paused), kobj("dataimages", name, url=url, attached=attached)])
    seed("a1", "bmhguard-repair", old, old)
    d.req("PATCH", dp("a1", "status"), {"status": {"attachedImage": {"url": new}}}, MERGE)
    d.req("PATCH", dp("a1"), {"spec": {"url": new}}, MERGE)
    d.req("PATCH", path_of("default", "a1"), {"metadata": {"annotations": {PAUSED: None}}},
          MERGE)
    ev = d.ctl("GET", "events")
    check(ev["reattachCount"] == 0 and ev["reattach"] == [] and
          kget(d, "dataimages", "default", "a1")["status"]["attachedImage"]["url"] == new,
          "reattach: status first under pause, spec, unpause: nothing re-attached", ev)
    seed("a2", None, old, old)
    st, _, out = d.req("PATCH", dp("a2"), {"spec": {"url": new}}, MERGE)
    ev = d.ctl("GET", "events")
    o = kget(d, "dataimages", "default", "a2")
    ra = ev["reattach"]
    check(st == 200 and ev["reattachCount"] == 1 and ra[0]["name"] == "a2" and
          ra[0]["fromUrl"] == old and ra[0]["toUrl"] == new and
          ra[0]["trigger"] == "dataimage-spec" and ra[0]["seq"] == 1 and
          o["status"]["attachedImage"]["url"] == new and
          int(o["metadata"]["resourceVersion"]) > int(out["metadata"]["resourceVersion"]),
          "reattach: spec first on an unpaused host detaches and attaches the new url", ev)
    seed("a3", None, old, old)
    d.req("PATCH", dp("a3", "status"), {"status": {"attachedImage": {"url": new}}}, MERGE)
    ra = d.ctl("GET", "events")["reattach"]
    check(len(ra) == 2 and ra[1]["fromUrl"] == new and ra[1]["toUrl"] == old and
          ra[1]["trigger"] == "dataimage-status" and
          kget(d, "dataimages", "default", "a3")["status"]["attachedImage"]["url"] == old,
          "reattach: status first on an unpaused host attaches the spec url back", ra)
    seed("a4", None, old, None)
    seed("a4e", None, old, "")
    s1, _, _ = d.req("PATCH", dp("a4"), {"spec": {"url": new}}, MERGE)
    s2, _, _ = d.req("PATCH", dp("a4e"), {"spec": {"url": new}}, MERGE)
    o = kget(d, "dataimages", "default", "a4")
    o2 = kget(d, "dataimages", "default", "a4e")
    check(s1 == s2 == 200 and d.ctl("GET", "events")["reattachCount"] == 2 and
          "status" not in o and o2["status"] == {"attachedImage": {"url": ""}},
          "reattach: nothing attached yet (no status, empty url): nothing happens", (o, o2))
    seed("a5", "true", new, old)
    d.req("PATCH", dp("a5"), {"metadata": {"labels": {"t": "1"}}}, MERGE)
    d.req("PATCH", path_of("default", "a5"), {"spec": {"online": False}}, MERGE)
    n_before = d.ctl("GET", "events")["reattachCount"]
    d.req("PATCH", path_of("default", "a5"), {"metadata": {"annotations": {PAUSED: None}}},
          MERGE)
    ra = d.ctl("GET", "events")["reattach"]
    check(n_before == 2 and len(ra) == 3 and ra[2]["name"] == "a5" and
          ra[2]["trigger"] == "host" and ra[2]["toUrl"] == new,
          "reattach: paused host: nothing until the unpause write (trigger host)", ra)
    seed("a6", None, new, old)
    d.ctl("POST", "crds", {"served": ["baremetalhosts", "hostfirmwarecomponents"]})
    d.req("PATCH", path_of("default", "a6"), {"metadata": {"labels": {"t": "1"}}}, MERGE)
    n_unserved = d.ctl("GET", "events")["reattachCount"]
    d.ctl("POST", "crds", {"served": ["all"]})
    d.req("PATCH", path_of("default", "a6"), {"metadata": {"labels": {"t": "2"}}}, MERGE)
    check(n_unserved == 3 and d.ctl("GET", "events")["reattachCount"] == 4 and
          d.ctl("GET", "stats")["reattach"] == 4,
          "reattach: no rule while the DataImage CRD is not installed",
          d.ctl("GET", "events")["reattach"])
    d.ctl("POST", "reset")
    check(d.ctl("GET", "events")["reattach"] == [], "reset clears reattach events")


def test_kinds_rbac(d):
    d.ctl("POST", "reset")
    d.ctl("POST", "seed", [kobj("dataimages", "master-2", ns="metal3"),
                           kobj("metal3machines", "m1", ns="metal3")])
    d.ctl("POST", "rbac", {"forbid": [
        {"verb": "patch", "group": "metal3.io", "resource": "dataimages",
         "subresource": "status", "namespace": "metal3"},
        {"verb": "get", "group": INFRA, "resource": "metal3machines"},
        {"verb": "update", "resource": "metal3machinetemplates"}]})
    st, _, out = d.req("PATCH", kpath("dataimages", "metal3", "master-2", "status"),
                       {"status": {"attachedImage": {"url": "x"}}}, MERGE)
    st2, _, _ = d.req("PATCH", kpath("dataimages", "metal3", "master-2"),
                      {"metadata": {"labels": {"a": "b"}}}, MERGE)
    check(st == 403 and is_status(out, 403, "Forbidden") and out["message"] ==
          'dataimages.metal3.io "master-2" is forbidden: User "%s" cannot patch resource '
          '"dataimages/status" in API group "metal3.io" in the namespace "metal3"' % SA and
          out["details"] == {"name": "master-2", "group": "metal3.io", "kind": "dataimages"} and
          "status" not in kget(d, "dataimages", "metal3", "master-2") and st2 == 200,
          "rbac: forbidden DataImage /status patch -> 403 naming dataimages/status", out)
    s1, _, o1 = d.req("GET", kpath("metal3machines", "metal3", "m1", version="v1beta1"))
    s2, _, _ = d.req("GET", kpath("metal3machines", "metal3"))
    check(s1 == 403 and o1["message"] == 'metal3machines.%s "m1" is forbidden: User "%s" '
          'cannot get resource "metal3machines" in API group "%s" in the namespace "metal3"'
          % (INFRA, SA, INFRA) and s2 == 200,
          "rbac: Metal3Machine get forbidden (403 names the group), list allowed", o1)

    def ssar(**ra):
        return d.req("POST", SSAR, {"apiVersion": "authorization.k8s.io/v1",
                                    "kind": "SelfSubjectAccessReview",
                                    "spec": {"resourceAttributes": ra}})[2]["status"]["allowed"]
    got = (ssar(namespace="metal3", verb="patch", group="metal3.io", resource="dataimages",
                subresource="status"),
           ssar(namespace="metal3", verb="patch", group="metal3.io", resource="dataimages"),
           ssar(namespace="metal3", verb="update", group=INFRA,
                resource="metal3machinetemplates"),
           ssar(namespace="metal3", verb="patch", group=INFRA, resource="metal3machines"),
           ssar(namespace="metal3", verb="patch", group="metal3.io",
                resource="hostfirmwarecomponents", subresource="status"))
    check(got == (False, True, False, True, True),
          "SSAR answers for the new resources and their status subresource", got)
    d.ctl("POST", "rbac", {"forbid": []})
    d.ctl("POST", "faults", {"kind": "409", "method": "PATCH", "path": "/metal3machines/m1$"})
    st, _, out = d.req("PATCH", kpath("metal3machines", "metal3", "m1"), {"spec": {}}, MERGE)
    check(st == 409 and out["message"].startswith(
        'Operation cannot be fulfilled on metal3machines.%s "m1"' % INFRA),
        "fault 409 on a Metal3Machine names the resource", out)
    d.ctl("POST", "reset")


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
                   test_restore, test_move, test_hooks, test_rbac, test_events,
                   test_faults, test_kubectl, test_images, test_kinds_crud, test_kinds_list,
                   test_crds, test_reflash, test_reattach, test_kinds_rbac):
            guarded(fn, d)
    finally:
        d.stop()
    guarded(test_cli)
    guarded(test_busy_operator)
    guarded(test_tls)
    guarded(test_scale)
    check(time.time() < deadline, "whole test stays bounded")
    print("# %d failed" % tap.failed())
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
