#!/usr/bin/python3
"""test_manifests_cel.py - evaluate the match-conditions overlay's CEL with a real CEL implementation
(@marcbachmann/cel-js under node; `make cel-js` installs it into the build dir) over realistic hosts,
and compare with what `bmhguard review` (the server's decision code) does with the same CREATE and
UPDATE requests: the pre-filter must never skip a request the webhook would have patched or warned
about, and must skip the hosts that are already on a name. Skips when node or the package is absent."""
import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("BMHGUARD") or os.path.join(TOP, "build", "bmhguard")
BUILD = os.environ.get("BMHGUARD_BUILD") or os.path.dirname(BIN)
STATUS_ANN = "baremetalhost.metal3.io/status"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402
import testenv  # noqa: E402
ok = tap.ok
EXAMPLES = [os.path.join(testenv.EXAMPLES, n)
            for n in ("worker-0.yaml", "example-host.yaml", "sample-baremetalhost.yaml")]


def cel_module():
    for d in (os.environ.get("CEL_JS_DIR"), os.path.join(BUILD, "cel-js"), os.path.join(TOP, "build", "cel-js")):
        if d and os.path.exists(os.path.join(d, "node_modules", "@marcbachmann", "cel-js", "package.json")):
            return d
    return None


NODE_SCRIPT = r"""
import {parse} from '@marcbachmann/cel-js'
import fs from 'fs'
const [conds, objs] = JSON.parse(fs.readFileSync(0, 'utf8'))
const out = {parsed: [], results: []}
const fns = conds.map(c => { try { const f = parse(c.expression); out.parsed.push(null); return f }
                             catch (e) { out.parsed.push(String(e.message)); return null } })
for (const o of objs) {
  out.results.push(fns.map(f => { if (!f) return 'error'; try { return f({object: o}) } catch (e) { return 'error: ' + e.message } }))
}
process.stdout.write(JSON.stringify(out))
"""


def literal_status_annotation(url, checksum):
    return json.dumps({"operationalStatus": "OK", "provisioning": {"state": "provisioned", "ID": "x",
                      "image": {"url": url, "checksum": checksum}}}, separators=(",", ":"))


def extra_hosts():
    """Cases the generator does not make: the status annotation, the opt-out, checksum-only."""
    def host(name, url, checksum=None, ann=None):
        h = {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
             "metadata": {"name": name, "namespace": "metal3"}, "spec": {"online": True}}
        if url is not None:
            h["spec"]["image"] = {"url": url}
            if checksum is not None:
                h["spec"]["image"]["checksum"] = checksum
        if ann:
            h["metadata"]["annotations"] = ann
        return h
    named = "http://httpd-http/images/a.qcow2"
    return [
        host("moved-named-spec", named, named + ".md5sum",
             {STATUS_ANN: literal_status_annotation("http://172.22.0.1/images/a.qcow2", "http://172.22.0.1/images/a.qcow2.md5sum")}),
        host("moved-both-literal", "http://172.22.0.1/images/a.qcow2", None,
             {STATUS_ANN: literal_status_annotation("http://172.22.0.1/images/a.qcow2", "")}),
        host("moved-all-named", named, None, {STATUS_ANN: literal_status_annotation(named, "")}),
        host("checksum-only-literal", named, "http://[fd00::1]:6180/images/a.qcow2.md5sum"),
        host("opted-out", "http://10.0.0.1/images/a.qcow2", None, {"bmhguard.io/rewrite": "disabled"}),
        host("ipv6", "https://[fd00:1::5]:6180/images/a.qcow2"),
        host("no-image", None),
        host("named", named, "97830b21ed272a3d854615beb54cf004"),
    ]


def review(op, obj, old):
    group, _, version = obj.get("apiVersion", "metal3.io/v1alpha1").rpartition("/")
    req = {"uid": "c3l0-%s" % obj["metadata"]["name"], "operation": op,
           "kind": {"group": group or "metal3.io", "version": version, "kind": obj.get("kind", "BareMetalHost")},
           "resource": {"group": "metal3.io", "version": "v1alpha1", "resource": "baremetalhosts"},
           "name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace", "default"),
           "object": obj}
    if old is not None:
        req["oldObject"] = old
    r = subprocess.run([BIN, "review"], input=json.dumps({"apiVersion": "admission.k8s.io/v1",
                       "kind": "AdmissionReview", "request": req}), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None
    resp = json.loads(r.stdout)["response"]
    patch = json.loads(base64.b64decode(resp["patch"])) if resp.get("patch") else []
    return bool(patch) or bool(resp.get("warnings"))


def main():
    mod = cel_module()
    if subprocess.run(["sh", "-c", "command -v node"], capture_output=True).returncode != 0 or mod is None:
        print("ok - CEL matchConditions evaluated by a CEL implementation # SKIP node or @marcbachmann/cel-js "
              "not installed (make cel-js)")
        return 0
    if subprocess.run([BIN, "review", "--help"], capture_output=True).returncode != 0:
        print("ok - CEL matchConditions against bmhguard review # SKIP bmhguard review unavailable")
        return 0
    kubectl, why = testenv.kubectl()
    if kubectl is None:
        print("ok - match-conditions overlay renders # SKIP " + why)
        return 0
    testenv.need_files(*EXAMPLES)
    r = subprocess.run([kubectl, "kustomize", os.path.join(TOP, "manifests", "overlays", "match-conditions")],
                       capture_output=True, text=True, timeout=60)
    if not ok(r.returncode == 0, "match-conditions overlay renders", r.stderr):
        return 1
    mwc = [d for d in yaml.safe_load_all(r.stdout) if d and d["kind"] == "MutatingWebhookConfiguration"][0]
    conds = mwc["webhooks"][0]["matchConditions"]

    gen = subprocess.run([sys.executable, os.path.join(TOP, "tests", "gen_hosts.py"), "120", "--seed", "7"],
                         capture_output=True, text=True, timeout=60)
    hosts = json.loads(gen.stdout)["items"] if gen.returncode == 0 else []
    for p in EXAMPLES:
        with open(p) as f:
            hosts += [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "BareMetalHost"]
    hosts += extra_hosts()
    ok(len(hosts) > 120, f"{len(hosts)} hosts to judge (generated, Metal3 examples, annotation cases)")

    # The object the API server hands to CEL on CREATE is the incoming host; on UPDATE the new one.
    # Our UPDATE: the stored host with a label added, as any client write would look.
    cases = []
    for h in hosts:
        new = json.loads(json.dumps(h))
        new.setdefault("metadata", {}).setdefault("labels", {})["touched"] = "yes"
        create = {k: v for k, v in h.items() if k != "status"}
        cases.append(("CREATE", create, None))
        cases.append(("UPDATE", new, h))
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "eval.mjs")
        with open(script, "w") as f:
            f.write(NODE_SCRIPT)
        env = dict(os.environ, NODE_PATH=os.path.join(mod, "node_modules"))
        # ESM resolves packages from the script's directory upwards: link node_modules beside it.
        os.symlink(os.path.join(mod, "node_modules"), os.path.join(tmp, "node_modules"))
        r = subprocess.run(["node", script], input=json.dumps([conds, [c[1] for c in cases]]),
                           capture_output=True, text=True, timeout=60, env=env)
    if not ok(r.returncode == 0, "node evaluated the matchConditions", r.stderr):
        return 1
    out = json.loads(r.stdout)
    for c, err in zip(conds, out["parsed"]):
        ok(err is None, f"CEL expression {c['name']} parses", err)
    missed, extra, skipped_named, called_literal, errors = [], [], 0, 0, []
    for (op, obj, old), res in zip(cases, out["results"]):
        if any(isinstance(x, str) for x in res):
            errors.append((op, obj["metadata"]["name"], res))
        calls = all(x is True for x in res)
        matters = review(op, obj, old)
        if matters is None:
            errors.append((op, obj["metadata"]["name"], "bmhguard review failed"))
            continue
        if matters and not calls:
            missed.append(f"{op} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}")
        if calls and not matters:
            extra.append(f"{op} {obj['metadata']['name']}")
        skipped_named += (not calls and not matters)
        called_literal += (calls and matters)
    ok(not errors, "no CEL evaluation errors (an error would skip the webhook)", errors[:5])
    ok(not missed, f"the pre-filter skips no request bmhguard would patch or warn about ({called_literal} called)",
       "\n".join(missed[:10]))
    ok(skipped_named > 0, f"the pre-filter spares the API server the calls that change nothing ({skipped_named} skipped)")
    ok(len(extra) <= len(cases) // 4, f"few needless calls ({len(extra)} of {len(cases)}: opted-out, "
       "outside the policy, ...)", "\n".join(extra[:10]))
    check_kinds(mwc, mod)
    return tap.exit_code()


def kind_cases():
    """(webhook entry, operation, object, oldObject) for every other kind, from the objects
    test_review_kinds.py validates against the real CRDs."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import test_review_kinds as k
    named = "http://httpd-http/images/a.qcow2"
    out = []
    for v in ("v1beta1", "v1beta2"):
        for t in (k.template(v), k.template(v, named, named + ".sha256sum"),
                  k.template(v, named, k.OLD_SUM), k.template(v, named, "97830b21ed272a3d854615beb54cf004"),
                  k.template(v, annotations={"bmhguard.io/rewrite": "disabled"})):
            out += [(1, "CREATE", t, None), (1, "UPDATE", t, t)]
        for m in (k.machine(v), k.machine(v, named, named + ".sha256sum"), k.machine(v, named, k.OLD_SUM)):
            out += [(1, "CREATE", m, None), (1, "UPDATE", m, m)]
    for d in (k.dataimage(), k.dataimage(named), k.dataimage(attached=k.ISO),
              k.dataimage(annotations={"bmhguard.io/rewrite": "disabled"})):
        out += [(0, "CREATE", d, None), (0, "UPDATE", d, d)]
    for f in (k.firmware(), k.firmware(((("nic", k.NIC)),)), k.firmware(((("nic", k.NIC)), ("bios", k.BIOS))),
              k.firmware(applied=(("bmc", k.BMC),))):
        out += [(0, "CREATE", f, None), (0, "UPDATE", f, f)]
    return out


def check_kinds(mwc, mod):
    """Each other kind against its own entry's conditions: none skipped that the webhook would
    patch or warn about, and the ones already on a name skipped."""
    cases = kind_cases()
    res = []
    for entry in (0, 1):
        conds = mwc["webhooks"][entry]["matchConditions"]
        objs = [c[2] for c in cases if c[0] == entry]
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "eval.mjs")
            with open(script, "w") as f:
                f.write(NODE_SCRIPT)
            os.symlink(os.path.join(mod, "node_modules"), os.path.join(tmp, "node_modules"))
            r = subprocess.run(["node", script], input=json.dumps([conds, objs]), capture_output=True,
                               text=True, timeout=60, env=dict(os.environ, NODE_PATH=os.path.join(mod, "node_modules")))
        if not ok(r.returncode == 0, "node evaluated webhook %d's matchConditions" % entry, r.stderr):
            return
        out = json.loads(r.stdout)
        ok(all(e is None for e in out["parsed"]), "webhook %d: every CEL expression parses" % entry, out["parsed"])
        res += list(zip([c for c in cases if c[0] == entry], out["results"]))
    missed, errors, skipped = [], [], 0
    for (entry, op, obj, old), got in res:
        name = "%s %s %s" % (op, obj["kind"], json.dumps(obj.get("spec"))[:120])
        if any(isinstance(x, str) for x in got):
            errors.append((name, got))
        calls = all(x is True for x in got)
        matters = review(op, obj, old)
        if matters is None:
            errors.append((name, "bmhguard review failed"))
        elif matters and not calls:
            missed.append(name)
        skipped += not calls and not matters
    ok(not errors, "other kinds: no CEL evaluation errors", errors[:5])
    ok(not missed, "other kinds: the pre-filter skips no request bmhguard would patch or warn about "
       "(%d cases)" % len(res), "\n".join(missed[:10]))
    ok(skipped >= 10, "other kinds: objects on a name or opted out are skipped (%d)" % skipped)


if __name__ == "__main__":
    sys.exit(main())
