#!/usr/bin/python3
"""test_review_kinds - every kind besides BareMetalHost, end to end through `bmhguard review`.

Metal3MachineTemplate and Metal3Machine (CAPM3, v1beta1 and v1beta2), DataImage and
HostFirmwareComponents (baremetal-operator) are built to validate against their real CRDs
(tests/data/metal3/crds/, copied unchanged) and sent as AdmissionReviews for each decision; the
response's JSON Patch is applied with python3-jsonpatch, the result validated against the CRD's
openAPIV3Schema for that version with python3-jsonschema, and everything not patched must be
byte-identical (the object serialised in its own key order). test_review_e2e.py does hosts.
"""
import base64
import copy
import json
import os
import subprocess
import sys
import uuid

import jsonpatch
import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("BMHGUARD_TOP", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, HERE)
import tap  # noqa: E402
import testenv  # noqa: E402
import test_review_e2e as e2e  # noqa: E402  (its schema helpers; its tests run only as a script)

report = tap.ok
CRDS = os.path.join(testenv.METAL3, "crds")
CAPM3 = "infrastructure.cluster.x-k8s.io"
FILES = {
    "Metal3MachineTemplate": "infrastructure.cluster.x-k8s.io_metal3machinetemplates.yaml",
    "Metal3Machine": "infrastructure.cluster.x-k8s.io_metal3machines.yaml",
    "DataImage": "metal3.io_dataimages.yaml",
    "HostFirmwareComponents": "metal3.io_hostfirmwarecomponents.yaml",
}
testenv.need_files(*(os.path.join(CRDS, f) for f in FILES.values()))

OLD = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
NEW = "http://httpd-http/images/ubiquity-node-rocky9.qcow2"
OLD_SUM = OLD + ".sha256sum"
NEW_SUM = NEW + ".sha256sum"
ISO = "http://172.22.0.2:8080/images/config-drive.iso"
ISO_NEW = "http://httpd-http/images/config-drive.iso"   # host[:port] replaced
BMC = "https://[fd00:1::2]/firmware/bmc-1.61.bin"
BMC_NEW = "https://httpd-http/firmware/bmc-1.61.bin"
BIOS = "http://10.10.10.10/firmware/bios-2.3.bin"
BIOS_NEW = "http://httpd-http/firmware/bios-2.3.bin"
NIC = "http://ironic.example/firmware/nic-22.31.bin"   # a name: left alone


def load_validators():
    """{(kind, version): validator} from each CRD's openAPIV3Schema."""
    out = {}
    cls = jsonschema.validators.extend(jsonschema.Draft4Validator,
                                       {"x-kubernetes-list-type": e2e._list_type})
    for kind, f in FILES.items():
        with open(os.path.join(CRDS, f)) as fh:
            crd = yaml.safe_load(fh)
        for v in crd["spec"]["versions"]:
            schema = e2e._k8s_to_jsonschema(v["schema"]["openAPIV3Schema"])
            cls.check_schema(schema)
            out[(kind, v["name"])] = cls(schema, format_checker=e2e._format_checker())
    return out


VALIDATORS = load_validators()


def schema_errors(kind, version, obj):
    return sorted("%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
                  for e in VALIDATORS[(kind, version)].iter_errors(obj))


# ---------------------------------------------------------------- objects

def meta(name, annotations=None):
    m = {"name": name, "namespace": "metal3", "uid": str(uuid.UUID(int=7)),
         "resourceVersion": "4242", "labels": {"cluster.x-k8s.io/cluster-name": "ubiquity"}}
    if annotations:
        m["annotations"] = annotations
    return m


def template(version, url=OLD, csum=OLD_SUM, annotations=None):
    fmt = "format" if version == "v1beta1" else "diskFormat"
    return {"apiVersion": "%s/%s" % (CAPM3, version), "kind": "Metal3MachineTemplate",
            "metadata": meta("ubiquity-workers", annotations),
            "spec": {"nodeReuse": False, "template": {"spec": {
                "dataTemplate": {"name": "ubiquity-workers-template"},
                "hostSelector": {"matchLabels": {"role": "worker"}},
                "image": {"url": url, "checksum": csum, "checksumType": "sha256", fmt: "qcow2"}}}}}


def machine(version, url=OLD, csum=OLD_SUM):
    fmt = "format" if version == "v1beta1" else "diskFormat"
    m = {"apiVersion": "%s/%s" % (CAPM3, version), "kind": "Metal3Machine",
         "metadata": meta("ubiquity-workers-x7k2p"),
         "spec": {"providerID": "metal3://metal3/worker-0/ubiquity-workers-x7k2p",
                  "image": {"url": url, "checksum": csum, "checksumType": "sha256", fmt: "qcow2"},
                  "hostSelector": {"matchLabels": {"role": "worker"}}},
         "status": {"lastUpdated": "2026-08-21T10:00:00Z"}}
    return m


def dataimage(url=ISO, attached=None, annotations=None):
    d = {"apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
         "metadata": meta("worker-0", annotations), "spec": {"url": url}}
    if attached is not None:
        d["status"] = {"attachedImage": {"url": attached}, "error": {"count": 0, "message": ""},
                       "lastReconciled": "2026-08-21T10:00:00Z"}
    return d


def firmware(updates=(("bmc", BMC), ("bios", BIOS), ("nic", NIC)), applied=None):
    h = {"apiVersion": "metal3.io/v1alpha1", "kind": "HostFirmwareComponents",
         "metadata": meta("worker-0"),
         "spec": {"updates": [{"component": c, "url": u} for c, u in updates]}}
    if applied is not None:
        h["status"] = {"updates": [{"component": c, "url": u} for c, u in applied],
                       "components": [{"component": "bmc", "initialVersion": "1.50",
                                       "currentVersion": "1.61",
                                       "updatedAt": "2026-08-21T10:00:00Z"}],
                       "lastUpdated": "2026-08-21T10:00:00Z"}
    return h


RESOURCES = {"Metal3MachineTemplate": "metal3machinetemplates", "Metal3Machine": "metal3machines",
             "DataImage": "dataimages", "HostFirmwareComponents": "hostfirmwarecomponents"}


def review(operation, obj, old=None, sub_resource=None):
    group, version = obj["apiVersion"].split("/")
    gvk = {"group": group, "version": version, "kind": obj["kind"]}
    gvr = {"group": group, "version": version, "resource": RESOURCES[obj["kind"]]}
    req = {"uid": str(uuid.uuid4()), "kind": gvk, "resource": gvr, "requestKind": gvk,
           "requestResource": gvr, "name": obj["metadata"]["name"], "namespace": "metal3",
           "operation": operation,
           "userInfo": {"username": "system:serviceaccount:capm3-system:capm3-manager"},
           "object": obj, "oldObject": old, "dryRun": False}
    if sub_resource:
        req["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


# ---------------------------------------------------------------- one decision

def decide(name, rev, replaced=None, warn=(), audit=None, flags=()):
    """replaced: {pointer: value} exactly; warn: substrings, one list a warning, in order;
    audit: {key: (from, to)} exactly those keys."""
    replaced, audit = replaced or {}, audit or {}
    obj = rev["request"]["object"]
    kind, version = obj["kind"], obj["apiVersion"].split("/")[1]
    report(schema_errors(kind, version, obj) == [], name + ": input valid against the CRD",
           schema_errors(kind, version, obj))
    p = subprocess.run([e2e.BIN, "review"] + list(flags), input=json.dumps(rev).encode(),
                       capture_output=True, timeout=e2e.TIMEOUT)
    if not report(p.returncode == 0 and p.stderr == b"", name + ": exit 0, quiet stderr",
                  "rc=%d %r" % (p.returncode, p.stderr[:300])):
        return
    resp = json.loads(p.stdout)["response"]
    report(resp.get("uid") == rev["request"]["uid"] and resp.get("allowed") is True,
           name + ": allowed, uid echoed", resp)
    patched = copy.deepcopy(obj)
    if replaced:
        if not report("patch" in resp, name + ": patched", resp):
            return
        ops = json.loads(base64.b64decode(resp["patch"], validate=True))
        report(resp.get("patchType") == "JSONPatch" and
               all(set(o) == {"op", "path", "value"} and o["op"] == "replace" for o in ops) and
               {o["path"]: o["value"] for o in ops} == replaced and len(ops) == len(replaced),
               name + ": patch ops exactly %s" % ", ".join(sorted(replaced)), ops)
        try:
            patched = jsonpatch.JsonPatch(ops).apply(obj)   # replace needs the path: RFC 6902 4.3
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            report(False, name + ": jsonpatch applies the patch", e)
            return
    else:
        report("patch" not in resp and "patchType" not in resp, name + ": no patch", resp)
    expected = copy.deepcopy(obj)
    for ptr, value in replaced.items():
        jsonpatch.JsonPointer(ptr).set(expected, value, inplace=True)
    report(json.dumps(patched) == json.dumps(expected),
           name + ": everything not patched is byte-identical",
           jsonpatch.make_patch(expected, patched).to_string()[:600])
    report(schema_errors(kind, version, patched) == [], name + ": patched object valid against the CRD",
           schema_errors(kind, version, patched))
    warnings = resp.get("warnings", [])
    errs = ["%d warnings, want %d: %r" % (len(warnings), len(warn), warnings)] \
        if len(warnings) != len(warn) else []
    for w, subs in zip(warnings, warn):
        errs += ["warning %r lacks %r" % (w, s) for s in subs if s not in w]
    # one kubectl line (test_review_e2e holds hosts to 120; the longest field here,
    # spec.template.spec.image.checksum, needs 120 in warn mode); the API server keeps 256
    errs += ["warning of %d chars: %r" % (len(w), w) for w in warnings if len(w) > 128]
    report(not errs, name + ": warnings (%d, short, naming what changed)" % len(warn), "\n".join(errs))
    got = resp.get("auditAnnotations", {})
    errs = [] if sorted(got) == sorted(audit) else ["audit keys %s, want %s" % (sorted(got), sorted(audit))]
    errs += ["audit %s = %r" % (k, got[k]) for k in audit
             if k in got and not got[k].startswith("%s -> %s" % audit[k])]
    errs += ["audit key %r" % k for k in got if not e2e.QUALIFIED.match(k) or len(k) > 63]
    report(not errs, name + ": auditAnnotations", "\n".join(errs))


# ---------------------------------------------------------------- the cases

T_URL, T_SUM = "/spec/template/spec/image/url", "/spec/template/spec/image/checksum"
M_URL, M_SUM = "/spec/image/url", "/spec/image/checksum"


def test_capm3():
    for v in ("v1beta1", "v1beta2"):
        t = template(v)
        both = {T_URL: NEW, T_SUM: NEW_SUM}
        taudit = {"spec-template-spec-image-url": (OLD, NEW),
                  "spec-template-spec-image-checksum": (OLD_SUM, NEW_SUM)}
        tw = [["metal3/ubiquity-workers", "spec.template.spec.image.url", "10.10.10.10", "httpd-http"],
              ["spec.template.spec.image.checksum"]]
        decide("Metal3MachineTemplate %s CREATE" % v, review("CREATE", t), both, tw, taudit)
        decide("Metal3MachineTemplate %s UPDATE: rewritten, no host is touched" % v,
               review("UPDATE", t, template(v)), both, tw, taudit)
        decide("Metal3MachineTemplate %s already on the name" % v,
               review("UPDATE", template(v, NEW, NEW_SUM), t))
        decide("Metal3MachineTemplate %s opted out" % v,
               review("CREATE", template(v, annotations={"bmhguard.io/rewrite": "disabled"})))
        decide("Metal3MachineTemplate %s --mode warn" % v, review("CREATE", t),
               warn=[["would rewrite"], ["would rewrite"]],
               audit={"would-" + k: a for k, a in taudit.items()}, flags=["--mode", "warn"])
        m = machine(v)
        maudit = {"spec-image-url": (OLD, NEW), "spec-image-checksum": (OLD_SUM, NEW_SUM)}
        mw = [["metal3/ubiquity-workers-x7k2p", "spec.image.url"], ["spec.image.checksum"]]
        decide("Metal3Machine %s CREATE" % v, review("CREATE", m), {M_URL: NEW, M_SUM: NEW_SUM}, mw,
               maudit)
        decide("Metal3Machine %s UPDATE: rewritten (setHostSpec sets a host's image only while nil)" % v,
               review("UPDATE", m, machine(v)), {M_URL: NEW, M_SUM: NEW_SUM}, mw, maudit)
        decide("Metal3Machine %s status subresource" % v, review("UPDATE", m, machine(v), "status"))
        decide("Metal3Machine %s DELETE" % v, review("DELETE", m))
        decide("Metal3Machine %s --target-host and --match-cidr" % v, review("CREATE", m),
               {M_URL: "http://images.example:8080/images/ubiquity-node-rocky9.qcow2",
                M_SUM: "http://images.example:8080/images/ubiquity-node-rocky9.qcow2.sha256sum"},
               [["images.example:8080"], ["images.example:8080"]],
               {"spec-image-url": (OLD, "http://images.example:8080/"),
                "spec-image-checksum": (OLD_SUM, "http://images.example:8080/")},
               flags=["--target-host", "images.example:8080", "--match-cidr", "10.0.0.0/8"])
        decide("Metal3Machine %s outside --match-cidr" % v, review("CREATE", m),
               flags=["--match-cidr", "192.168.0.0/16"])


def test_dataimage():
    a = {"spec-url": (ISO, ISO_NEW)}
    decide("DataImage CREATE", review("CREATE", dataimage()), {"/spec/url": ISO_NEW},
           [["metal3/worker-0", "spec.url", "172.22.0.2:8080", "httpd-http"]], a)
    decide("DataImage UPDATE, nothing attached", review("UPDATE", dataimage(), dataimage()),
           {"/spec/url": ISO_NEW}, [["spec.url"]], a)
    decide("DataImage UPDATE, the literal attached now: withheld",
           review("UPDATE", dataimage(attached=ISO), dataimage(attached=ISO)),
           warn=[["metal3/worker-0", "spec.url", "kept on 172.22.0.2:8080", "re-attach"]],
           audit={"withheld-spec-url": (ISO, ISO_NEW)})
    decide("DataImage UPDATE, another image attached: rewritten",
           review("UPDATE", dataimage(attached="http://172.22.0.2:8080/images/old.iso"),
                  dataimage(attached="http://172.22.0.2:8080/images/old.iso")),
           {"/spec/url": ISO_NEW}, [["spec.url"]], a)
    decide("DataImage UPDATE, the rewrite attached already: rewritten",
           review("UPDATE", dataimage(attached=ISO_NEW), dataimage(attached=ISO_NEW)),
           {"/spec/url": ISO_NEW}, [["spec.url"]], a)
    decide("DataImage UPDATE, decided on oldObject's status",
           review("UPDATE", dataimage(), dataimage(attached=ISO)),
           warn=[["kept on"]], audit={"withheld-spec-url": (ISO, ISO_NEW)})
    decide("DataImage opted out", review("CREATE", dataimage(
        annotations={"bmhguard.io/rewrite": "disabled"})))
    decide("DataImage --mode warn", review("CREATE", dataimage()), warn=[["would rewrite"]],
           audit={"would-spec-url": (ISO, ISO_NEW)}, flags=["--mode", "warn"])
    decide("DataImage status subresource", review("UPDATE", dataimage(attached=ISO), dataimage(), "status"))


def test_firmware():
    both = {"/spec/updates/0/url": BMC_NEW, "/spec/updates/1/url": BIOS_NEW}
    audit = {"spec-updates-0-url": (BMC, BMC_NEW), "spec-updates-1-url": (BIOS, BIOS_NEW)}
    ws = [["metal3/worker-0", "spec.updates[0].url (bmc)", "[fd00:1::2]", "httpd-http"],
          ["spec.updates[1].url (bios)", "10.10.10.10"]]
    decide("HostFirmwareComponents CREATE: every literal url, the name left alone",
           review("CREATE", firmware()), both, ws, audit)
    decide("HostFirmwareComponents UPDATE, nothing applied yet", review("UPDATE", firmware(), firmware()),
           both, ws, audit)
    applied = firmware(applied=(("bmc", BMC), ("nic", NIC)))
    decide("HostFirmwareComponents UPDATE, bmc applied from its literal: withheld, bios rewritten",
           review("UPDATE", applied, copy.deepcopy(applied)), {"/spec/updates/1/url": BIOS_NEW},
           [["spec.updates[0].url (bmc)", "kept on [fd00:1::2]", "flash it again"],
            ["spec.updates[1].url (bios)", "httpd-http"]],
           {"withheld-spec-updates-0-url": (BMC, BMC_NEW), "spec-updates-1-url": (BIOS, BIOS_NEW)})
    older = firmware(applied=(("bmc", "https://[fd00:1::2]/firmware/bmc-1.50.bin"),))
    decide("HostFirmwareComponents UPDATE, bmc applied from an older url: rewritten",
           review("UPDATE", older, copy.deepcopy(older)), both, ws, audit)
    swapped = firmware(applied=(("bios", BMC),))
    decide("HostFirmwareComponents UPDATE, the url applied to another component: rewritten",
           review("UPDATE", swapped, copy.deepcopy(swapped)), both, ws, audit)
    decide("HostFirmwareComponents --mode warn", review("CREATE", firmware()),
           warn=[["would rewrite"], ["would rewrite"]],
           audit={"would-" + k: a for k, a in audit.items()}, flags=["--mode", "warn"])
    decide("HostFirmwareComponents status subresource",
           review("UPDATE", applied, firmware(), "status"))


def main():
    if not os.access(e2e.BIN, os.X_OK):
        print("not ok - bmhguard binary at %s" % e2e.BIN)
        return 1
    for t in (test_capm3, test_dataimage, test_firmware):
        try:
            t()
        except Exception as e:  # a crash in one group must not hide the others
            import traceback
            report(False, "%s raised %s" % (t.__name__, type(e).__name__), traceback.format_exc())
    print("# %d checks, %d failed" % (tap.checks(), tap.failed()))
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
