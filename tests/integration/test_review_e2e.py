#!/usr/bin/python3
"""test_review_e2e - every admission decision, end to end through `bmhguard review`.

Real hosts (tests/lib/bmh_fixtures.py, built on tests/data/metal3/examples) go in as
AdmissionReviews; the response's JSON Patch is applied with python3-jsonpatch (an independent
RFC 6902 implementation) and the result is validated against the BareMetalHost CRD's
openAPIV3Schema with python3-jsonschema. The patched object must equal the input with exactly
the expected fields replaced, byte for byte inside the status annotation too.
"""
import base64
import copy
import json
import os
import re
import subprocess
import sys

import jsonpatch
import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("BMHGUARD_TOP", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import bmh_fixtures as fx  # noqa: E402

BIN = os.environ.get("BMHGUARD", os.path.join(TOP, "build", "bmhguard"))
SANITIZED = os.environ.get("BMHGUARD_SANITIZED") == "1"
TIMEOUT = 60 if SANITIZED else 20

STATUS_ANN = "baremetalhost.metal3.io/status"
STATUS_PTR = "/metadata/annotations/baremetalhost.metal3.io~1status"
OPTOUT_ANN = "bmhguard.io/rewrite"
P_URL, P_SUM = "/spec/image/url", "/spec/image/checksum"
DIGEST = "97830b21ed272a3d854615beb54cf004"
# a Kubernetes qualified name (the part after the webhook's "name/" prefix)
QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")



# ---------------------------------------------------------------- schema
import tap  # noqa: E402
report = tap.ok


def _k8s_to_jsonschema(node):
    """OpenAPI v3 (structural, Kubernetes flavour) -> JSON Schema draft 4: nullable becomes a
    null type; x-kubernetes-list-type stays (checked by our own keyword below)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("x-kubernetes-map-type", "x-kubernetes-list-map-keys", "description"):
                continue
            out[k] = _k8s_to_jsonschema(v)
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        out.pop("nullable", None)
        if "x-kubernetes-list-map-keys" in node:
            out["x-kubernetes-list-type"] = ["map", node["x-kubernetes-list-map-keys"]]
        return out
    if isinstance(node, list):
        return [_k8s_to_jsonschema(v) for v in node]
    return node


def _list_type(validator, value, instance, schema):
    if not isinstance(instance, list):
        return
    if value == "set" and len({json.dumps(v, sort_keys=True) for v in instance}) != len(instance):
        yield jsonschema.ValidationError("x-kubernetes-list-type set has duplicates")
    if isinstance(value, list) and value[0] == "map":
        keys = [tuple(json.dumps(i.get(k)) for k in value[1]) for i in instance]
        if len(set(keys)) != len(keys):
            yield jsonschema.ValidationError("x-kubernetes-list-type map has duplicate keys")


def _format_checker():
    fc = jsonschema.FormatChecker()

    @fc.checks("int32")
    def _int32(v):
        return not isinstance(v, int) or -2**31 <= v < 2**31

    @fc.checks("int64")
    def _int64(v):
        return not isinstance(v, int) or -2**63 <= v < 2**63

    @fc.checks("double")
    def _double(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    @fc.checks("date-time")
    def _dt(v):
        return not isinstance(v, str) or re.match(
            r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", v) is not None
    return fc


def load_validator():
    with open(fx.CRD) as f:
        crd = yaml.safe_load(f)
    schema = _k8s_to_jsonschema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    cls = jsonschema.validators.extend(jsonschema.Draft4Validator,
                                       {"x-kubernetes-list-type": _list_type})
    cls.check_schema(schema)
    return cls(schema, format_checker=_format_checker()), schema


VALIDATOR, SCHEMA = load_validator()
STATUS_VALIDATOR = type(VALIDATOR)(SCHEMA["properties"]["status"],
                                   format_checker=_format_checker())


def schema_errors(obj):
    if obj is None:
        return []
    errs = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
            for e in VALIDATOR.iter_errors(obj)]
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    errs += ["annotation %s is not a string" % k for k, v in ann.items() if not isinstance(v, str)]
    return sorted(errs)


def stored(h):
    """A fixture host as the API server stores it: omitempty fields dropped, status defaults
    filled (bmh_fixtures builds errorType "" and no provisioningFailCount)."""
    h = copy.deepcopy(h)
    st = h.get("status")
    if st is not None:
        if st.get("errorType") == "":
            del st["errorType"]
        st.setdefault("provisioningFailCount", 0)
    return h


# ---------------------------------------------------------------- running the tool

def run(body, flags=()):
    if not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    return subprocess.run([BIN, "review"] + list(flags), input=body, capture_output=True,
                          timeout=TIMEOUT)


def decide(name, rev, flags=(), replaced=None, warn=(), audit=None, note_patched=None,
           status_schema=True):
    """Run one review and check it completely.

    replaced: {pointer: new value} the patch must replace, nothing else ({} or None: no patch).
    warn: substrings, one list per expected warning, in order (len(warn) == number of warnings).
    audit: {key: (from, to)} expected auditAnnotations, exactly those keys.
    Returns the patched object (or None on a hard failure)."""
    replaced = replaced or {}
    audit = audit or {}
    obj = rev["request"].get("object")
    p = run(rev, flags)
    if not report(p.returncode == 0 and p.stderr == b"", name + ": exit 0, quiet stderr",
                  "rc=%d stderr=%r" % (p.returncode, p.stderr[:300])):
        return None
    out = p.stdout
    ok = out.endswith(b"\n") and out.count(b"\n") == 1
    try:
        doc = json.loads(out)
    except ValueError as e:
        report(False, name + ": response is JSON", e)
        return None
    resp = doc.get("response", {})
    errs = []
    if doc.get("apiVersion") != "admission.k8s.io/v1" or doc.get("kind") != "AdmissionReview":
        errs.append("envelope %r/%r" % (doc.get("apiVersion"), doc.get("kind")))
    if set(doc) != {"apiVersion", "kind", "response"}:
        errs.append("top-level keys %s" % sorted(doc))
    if resp.get("uid") != rev["request"]["uid"]:
        errs.append("uid %r != %r" % (resp.get("uid"), rev["request"]["uid"]))
    if resp.get("allowed") is not True:
        errs.append("allowed is %r" % resp.get("allowed"))
    extra = set(resp) - {"uid", "allowed", "patchType", "patch", "warnings", "auditAnnotations"}
    if extra:
        errs.append("unexpected response keys %s" % sorted(extra))
    if ("patch" in resp) != ("patchType" in resp):
        errs.append("patch and patchType must come together")
    report(ok and not errs, name + ": response envelope (one line, uid, allowed)",
           "\n".join(errs) + ("" if ok else "\nnot exactly one line: %r" % out[:200]))

    # the patch
    patched = copy.deepcopy(obj)
    if replaced:
        errs = []
        try:
            raw = base64.b64decode(resp.get("patch", ""), validate=True)
            ops = json.loads(raw)
        except (ValueError, TypeError) as e:
            report(False, name + ": patch is base64 JSON", e)
            return None
        if resp.get("patchType") != "JSONPatch":
            errs.append("patchType %r" % resp.get("patchType"))
        if not isinstance(ops, list):
            errs.append("patch is not an array")
            ops = []
        paths = []
        for op in ops:
            if not isinstance(op, dict) or set(op) != {"op", "path", "value"} or \
                    op["op"] != "replace" or not isinstance(op["value"], str):
                errs.append("bad op %r" % (op,))
                continue
            paths.append(op["path"])
            if op["path"] in replaced and op["value"] != replaced[op["path"]]:
                errs.append("%s = %r, want %r" % (op["path"], op["value"], replaced[op["path"]]))
        if sorted(paths) != sorted(replaced) or len(set(paths)) != len(paths):
            errs.append("patched paths %s, want %s" % (paths, sorted(replaced)))
        report(not errs, name + ": patch ops exactly %s" % ", ".join(sorted(replaced)),
               "\n".join(errs))
        try:
            # replace fails on a path that does not exist: RFC 6902 4.3
            patched = jsonpatch.JsonPatch(ops).apply(obj)
            report(True, name + ": jsonpatch applies the patch")
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            report(False, name + ": jsonpatch applies the patch", e)
            return None
    else:
        report("patch" not in resp and "patchType" not in resp, name + ": no patch",
               "patch: %r" % base64.b64decode(resp.get("patch", "")))

    # everything else identical: the patched object is the input with just those values
    expected = copy.deepcopy(obj)
    for ptr, value in replaced.items():
        jsonpatch.JsonPointer(ptr).set(expected, value, inplace=True)
    report(patched == expected, name + ": everything not patched is identical",
           "diff: %s" % jsonpatch.make_patch(expected, patched).to_string()[:600])

    # schema: the patch adds no error (hosts built by stored() have none)
    before, after = schema_errors(obj), schema_errors(patched)
    report(set(after) <= set(before), name + ": patched object valid against the CRD schema",
           "\n".join(sorted(set(after) - set(before))))
    ann = (patched or {}).get("metadata", {}).get("annotations") or {}
    if STATUS_ANN in ann and STATUS_PTR in replaced and status_schema:
        st = json.loads(ann[STATUS_ANN])
        if isinstance(st, dict):
            errs = [e.message for e in STATUS_VALIDATOR.iter_errors(st)]
            report(not errs, name + ": patched status annotation valid against status schema",
                   "\n".join(errs))

    # warnings
    warnings = resp.get("warnings", [])
    errs = []
    if len(warnings) != len(warn):
        errs.append("%d warnings, want %d: %r" % (len(warnings), len(warn), warnings))
    for w, subs in zip(warnings, warn):
        for s in subs:
            if s not in w:
                errs.append("warning %r lacks %r" % (w, s))
    long_name = len(rev["request"].get("name", "")) + len(rev["request"].get("namespace", "")) > 60
    for w in warnings:
        if len(w) > 256 or (len(w) >= 120 and not long_name):
            errs.append("warning of %d chars: %r" % (len(w), w))
    report(not errs, name + ": warnings (%d, short, naming what changed)" % len(warn),
           "\n".join(errs))

    # audit annotations record from -> to under valid keys
    got = resp.get("auditAnnotations", {})
    errs = []
    if sorted(got) != sorted(audit):
        errs.append("audit keys %s, want %s" % (sorted(got), sorted(audit)))
    for k, v in got.items():
        if not QUALIFIED.match(k) or len(k) > 63:
            errs.append("audit key %r is not a qualified name" % k)
        if k in audit and not (isinstance(v, str) and v.startswith("%s -> %s" % audit[k])):
            errs.append("audit %s = %r, want '%s -> %s...'" % ((k, v) + audit[k]))
    report(not errs, name + ": auditAnnotations", "\n".join(errs))
    if note_patched is not None:
        note_patched(patched)
    return patched


def w_rewrite(field, host="master-2", ns="default", frm="10.10.10.10", to="httpd-http"):
    return [ns + "/" + host, field, frm, to]


def w_withhold(field, host="master-2", ns="default"):
    return [ns + "/" + host, field, "bmhguard repair"]


# ---------------------------------------------------------------- the decision cases

def test_create():
    h = stored(fx.host())
    report(schema_errors(h) == [], "fixture host is valid against the CRD schema", schema_errors(h))
    decide("CREATE literal spec", fx.review("CREATE", h),
           replaced={P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM},
           warn=[w_rewrite("spec.image.url"), w_rewrite("spec.image.checksum")],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    decide("CREATE bare-digest checksum left alone", fx.review("CREATE", stored(fx.host(spec_sum=DIGEST))),
           replaced={P_URL: fx.NEW_URL}, warn=[w_rewrite("spec.image.url")],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL)})
    decide("CREATE already on the service name", fx.review("CREATE", stored(fx.host(
        spec_url=fx.NEW_URL, spec_sum=fx.NEW_SUM))))
    decide("CREATE without image", fx.review("CREATE", stored(fx.host(spec_url=None, spec_sum=None))))
    h = stored(fx.host())
    h["metadata"]["name"] = ""
    h["metadata"]["generateName"] = "worker-"
    rev = fx.review("CREATE", h)
    decide("CREATE with generateName", rev, replaced={P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM},
           warn=[["default/", "spec.image.url"], ["default/", "spec.image.checksum"]],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})


def update(spec_url, status_url, spec_sum=fx.OLD_SUM, old_spec_url=None, **kw):
    """UPDATE: old object provisioned with status_url (None: no status), new spec spec_url."""
    old = stored(fx.host(spec_url=old_spec_url or status_url or spec_url, spec_sum=spec_sum,
                         status_url=status_url, status_sum=fx.OLD_SUM if status_url else None,
                         **kw))
    new = copy.deepcopy(old)
    new["spec"]["image"]["url"] = spec_url
    return fx.review("UPDATE", new, old)


def test_update():
    both = {P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM}
    both_w = [w_rewrite("spec.image.url"), w_rewrite("spec.image.checksum")]
    both_a = {"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
              "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)}
    decide("UPDATE, no status (S empty): rewrite", update(fx.OLD_URL, None),
           replaced=both, warn=both_w, audit=both_a)
    # status exists but has no image (registering, inspecting)
    old = stored(fx.host(state="inspecting"))
    decide("UPDATE, status without image (S empty): rewrite",
           fx.review("UPDATE", copy.deepcopy(old), old), replaced=both, warn=both_w, audit=both_a)
    decide("UPDATE, status repaired (R == S): rewrite", update(fx.OLD_URL, fx.NEW_URL),
           replaced=both, warn=both_w, audit=both_a)
    other = "http://10.10.10.10/images/ubiquity-node-rocky10.qcow2"
    other_new = other.replace("10.10.10.10", "httpd-http")
    decide("UPDATE, image change (U != S): rewrite", update(other, fx.OLD_URL),
           replaced={P_URL: other_new, P_SUM: fx.NEW_SUM}, warn=both_w,
           audit={"spec-image-url": (other, other_new),
                  "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    decide("UPDATE, provisioned on the literal URL (U == S): withhold",
           update(fx.OLD_URL, fx.OLD_URL),
           warn=[w_withhold("spec.image.url"), w_withhold("spec.image.checksum")],
           audit={"withheld-spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "withheld-spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    # the incoming object's status is stale: the stored (old) status decides
    rev = update(fx.OLD_URL, fx.OLD_URL, name="worker-7", namespace="metal3")
    rev["request"]["object"]["status"]["provisioning"]["image"]["url"] = fx.NEW_URL
    decide("UPDATE, stale incoming status is ignored: withhold", rev,
           warn=[w_withhold("spec.image.url", "worker-7", "metal3"),
                 w_withhold("spec.image.checksum", "worker-7", "metal3")],
           audit={"withheld-spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "withheld-spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    decide("UPDATE, already on the service name: nothing to do",
           update(fx.NEW_URL, fx.NEW_URL, spec_sum=fx.NEW_SUM))
    decide("UPDATE, withhold in warn mode still says withhold", update(fx.OLD_URL, fx.OLD_URL),
           flags=["--mode", "warn"],
           warn=[w_withhold("spec.image.url"), w_withhold("spec.image.checksum")],
           audit={"withheld-spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "withheld-spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})


# A status annotation written by hand (or by another tool): odd but valid JSON whose bytes must
# survive, apart from the url and checksum string literals.
TRICKY_STATUS = (
    '{ "zeta": 1, "alpha": 2,\n'
    '  "hardware": {"cpu": {"clockMegahertz": 2593.992, "count": 64},\n'
    '               "ramMebibytes": 524288, "bigger": 123456789012345678901234567890,\n'
    '               "negzero": -0, "negzerof": -0.0, "exp": 1E+2, "tiny": 1.0e-7, "trail": 0.1000},\n'
    '  "errorMessage": "quote \\" backslash \\\\ slash \\/ tab \\t nl \\n \\u00e9 é \\ud83d\\ude00 😀 \\u0041",\n'
    '  "provisioning": {"state": "provisioned", "ID": "7a8d8aa7",\n'
    '     "image": {"checksumType": "md5", "\\u0075rl": @URL@,\n'
    '               "checksum": @SUM@ , "format": "qcow2"},\n'
    '     "bootMode": "UEFI"},\n'
    '  "poweredOn": true, "operationalStatus": "OK", "list": [1, [2, {"url": "http://10.10.10.10/x"}], null]\n'
    '}')


def tricky(url_lit, sum_lit):
    return TRICKY_STATUS.replace("@URL@", url_lit).replace("@SUM@", sum_lit)


def status_json(url, checksum=None, extra=None):
    """The annotation as the operator's mover writes it: json of a real status."""
    st = stored(fx.host(status_url=url, status_sum=checksum))["status"]
    if checksum is None:
        st["provisioning"]["image"].pop("checksum", None)
    if extra:
        st.update(extra)
    return json.dumps(st)


def ann_host(text, spec_url=fx.OLD_URL, spec_sum=fx.OLD_SUM, **kw):
    return stored(fx.host(spec_url=spec_url, spec_sum=spec_sum,
                          annotations={STATUS_ANN: text, "other.io/x": "y"}, **kw))


def test_status_annotation():
    spec_both = {P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM}
    spec_w = [w_rewrite("spec.image.url"), w_rewrite("spec.image.checksum")]
    spec_a = {"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
              "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)}
    ann_w = [w_rewrite("status annotation url"), w_rewrite("status annotation checksum")]
    ann_a = {"status-annotation-url": (fx.OLD_URL, fx.NEW_URL),
             "status-annotation-checksum": (fx.OLD_SUM, fx.NEW_SUM)}

    text = status_json(fx.OLD_URL, fx.OLD_SUM)
    decide("annotation: url equals final spec url -> rewritten with checksum",
           fx.review("CREATE", ann_host(text)),
           replaced=dict(spec_both, **{STATUS_PTR: status_json(fx.NEW_URL, fx.NEW_SUM)}),
           warn=spec_w + ann_w, audit=dict(spec_a, **ann_a))

    decide("annotation: spec already on the name, annotation follows",
           fx.review("CREATE", ann_host(text, spec_url=fx.NEW_URL, spec_sum=fx.NEW_SUM)),
           replaced={STATUS_PTR: status_json(fx.NEW_URL, fx.NEW_SUM)}, warn=ann_w, audit=ann_a)

    other = "http://10.10.10.10/images/other.qcow2"
    decide("annotation: different image than spec -> untouched",
           fx.review("CREATE", ann_host(status_json(other, fx.OLD_SUM))),
           replaced=spec_both, warn=spec_w, audit=spec_a)

    decide("annotation: url only, no checksum",
           fx.review("CREATE", ann_host(status_json(fx.OLD_URL))),
           replaced=dict(spec_both, **{STATUS_PTR: status_json(fx.NEW_URL)}),
           warn=spec_w + ann_w[:1], audit=dict(spec_a, **{"status-annotation-url":
                                                          ann_a["status-annotation-url"]}))

    decide("annotation: bare-digest checksum left alone",
           fx.review("CREATE", ann_host(status_json(fx.OLD_URL, DIGEST), spec_sum=DIGEST)),
           replaced={P_URL: fx.NEW_URL, STATUS_PTR: status_json(fx.NEW_URL, DIGEST)},
           warn=[w_rewrite("spec.image.url"), w_rewrite("status annotation url")],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "status-annotation-url": (fx.OLD_URL, fx.NEW_URL)})

    decide("annotation: not JSON -> untouched",
           fx.review("CREATE", ann_host('{"provisioning": {"image": {"url": "' + fx.OLD_URL)),
           replaced=spec_both, warn=spec_w, audit=spec_a)

    # withheld spec: the stored spec url stays literal, so the annotation must stay too
    rev = update(fx.OLD_URL, fx.OLD_URL)
    for o in (rev["request"]["object"], rev["request"]["oldObject"]):
        o["metadata"]["annotations"] = {STATUS_ANN: text}
    decide("annotation: spec withheld -> annotation untouched", rev,
           warn=[w_withhold("spec.image.url"), w_withhold("spec.image.checksum")],
           audit={"withheld-spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "withheld-spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})

    # spec outside --match-cidr: not rewritten, so neither is the annotation
    decide("annotation: outside --match-cidr -> nothing", fx.review("CREATE", ann_host(text)),
           flags=["--match-cidr", "192.168.0.0/16"])

    # byte identity of everything else in an unusual annotation, with escaped url literals
    before = tricky('"http:\\/\\/10.10.10.10\\/images\\/ubiquity-node-rocky9.qcow2"',
                    '"http://10.10.10.10/images/ubiquity-node-rocky9.qcow2.md5sum"')
    after = tricky(json.dumps(fx.NEW_URL), json.dumps(fx.NEW_SUM))
    report(json.loads(before)["provisioning"]["image"]["url"] == fx.OLD_URL,
           "tricky annotation decodes to the old url (test self-check)")
    decide("annotation: numbers, big ints, -0, unicode, escapes and key order byte-identical",
           fx.review("CREATE", ann_host(before)),
           replaced=dict(spec_both, **{STATUS_PTR: after}), warn=spec_w + ann_w,
           audit=dict(spec_a, **ann_a), status_schema=False)

    # duplicate keys: the last one is what a JSON reader (json-c, Go) sees
    dup = ('{"provisioning": {"image": {"url": "http://10.10.10.10/images/old-dup.qcow2", '
           '"url": @URL@}}, "provisioning_": 1}')
    decide("annotation: duplicate url key, the last one wins",
           fx.review("CREATE", ann_host(dup.replace("@URL@", json.dumps(fx.OLD_URL)))),
           replaced=dict(spec_both, **{STATUS_PTR: dup.replace("@URL@", json.dumps(fx.NEW_URL))}),
           warn=spec_w + ann_w[:1], status_schema=False,
           audit=dict(spec_a, **{"status-annotation-url": ann_a["status-annotation-url"]}))


def test_scope():
    h = stored(fx.host())
    decide("opt-out annotation: no patch",
           fx.review("CREATE", stored(fx.host(annotations={OPTOUT_ANN: "disabled"}))))
    decide("opt-out annotation with another value: patched",
           fx.review("CREATE", stored(fx.host(annotations={OPTOUT_ANN: "enabled"}))),
           replaced={P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM},
           warn=[w_rewrite("spec.image.url"), w_rewrite("spec.image.checksum")],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    decide("--mode warn: no patch, would-rewrite warnings", fx.review("CREATE", h),
           flags=["--mode", "warn"],
           warn=[["warn mode", "spec.image.url", "10.10.10.10"],
                 ["warn mode", "spec.image.checksum", "10.10.10.10"]],
           audit={"would-spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "would-spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    # warn mode reports every field enforce mode would change (the status annotation too)
    ah = ann_host(status_json(fx.OLD_URL, fx.OLD_SUM))
    enforce = json.loads(run(fx.review("CREATE", ah)).stdout)["response"]
    warnm = json.loads(run(fx.review("CREATE", ah), ["--mode=warn"]).stdout)["response"]
    report(sorted("would-" + k for k in enforce.get("auditAnnotations", {})) ==
           sorted(warnm.get("auditAnnotations", {})) and "patch" not in warnm,
           "--mode warn reports the same fields enforce would change",
           "enforce %s\nwarn %s" % (sorted(enforce.get("auditAnnotations", {})),
                                    sorted(warnm.get("auditAnnotations", {}))))

    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "worker-0-bmc-secret", "namespace": "default"},
              "spec": {"image": {"url": fx.OLD_URL}}}
    decide("other kind (Secret, core group): untouched", fx.review("CREATE", secret, kind="Secret",
                                                                   group=""))
    decide("other kind in metal3.io (HostFirmwareSettings): untouched",
           fx.review("CREATE", h, kind="HostFirmwareSettings"))
    decide("other group (example.com BareMetalHost): untouched",
           fx.review("CREATE", h, group="example.com"))
    decide("subresource status: untouched",
           fx.review("UPDATE", h, copy.deepcopy(h), sub_resource="status"))
    rev = fx.review("DELETE", None, h)
    rev["request"]["name"], rev["request"]["namespace"] = "master-2", "default"
    decide("DELETE: untouched", rev)
    decide("CONNECT: untouched", fx.review("CONNECT", h))


def test_policy_flags():
    def create(url, checksum, new_url=None, new_sum=None, to="httpd-http", frm=None):
        h = stored(fx.host(spec_url=url, spec_sum=checksum))
        rep, warn, audit = {}, [], {}
        if new_url:
            rep[P_URL] = new_url
            warn.append(["spec.image.url", to] + ([frm] if frm else []))
            audit["spec-image-url"] = (url, new_url)
        if new_sum:
            rep[P_SUM] = new_sum
            warn.append(["spec.image.checksum", to] + ([frm] if frm else []))
            audit["spec-image-checksum"] = (checksum, new_sum)
        return h, rep, warn, audit

    def case(name, url, checksum, flags, new_url=None, new_sum=None, **kw):
        h, rep, warn, audit = create(url, checksum, new_url, new_sum, **kw)
        decide(name, fx.review("CREATE", h), flags=flags, replaced=rep, warn=warn, audit=audit)

    case("--match-cidr inside", fx.OLD_URL, fx.OLD_SUM, ["--match-cidr", "10.0.0.0/8"],
         fx.NEW_URL, fx.NEW_SUM)
    case("--match-cidr outside", fx.OLD_URL, fx.OLD_SUM, ["--match-cidr", "192.168.0.0/16"])
    case("--match-cidr repeated, second matches", fx.OLD_URL, fx.OLD_SUM,
         ["--match-cidr", "192.168.0.0/16", "--match-cidr=10.10.10.0/24"], fx.NEW_URL, fx.NEW_SUM)
    case("--match-cidr /32 exact", fx.OLD_URL, fx.OLD_SUM, ["--match-cidr", "10.10.10.10/32"],
         fx.NEW_URL, fx.NEW_SUM)
    case("--match-cidr /32 neighbour", fx.OLD_URL, fx.OLD_SUM, ["--match-cidr", "10.10.10.11/32"])
    v6 = "http://[fd00:1:2::10]:8080/images/ubiquity-node-rocky9.qcow2"
    case("--match-cidr IPv6 inside", v6, v6 + ".md5sum", ["--match-cidr", "fd00::/8"],
         "http://httpd-http/images/ubiquity-node-rocky9.qcow2",
         "http://httpd-http/images/ubiquity-node-rocky9.qcow2.md5sum")
    case("--match-cidr IPv6 outside", v6, v6 + ".md5sum", ["--match-cidr", "fe80::/10"])
    case("--match-cidr IPv4 range, IPv6 URL", v6, v6 + ".md5sum", ["--match-cidr", "10.0.0.0/8"])
    mapped = "http://[::ffff:10.10.10.10]/images/a.qcow2"
    case("--match-cidr IPv4 range covers IPv4-mapped IPv6", mapped, DIGEST,
         ["--match-cidr", "10.0.0.0/8"], "http://httpd-http/images/a.qcow2")
    case("--path-prefix match", fx.OLD_URL, fx.OLD_SUM, ["--path-prefix", "/images/"],
         fx.NEW_URL, fx.NEW_SUM)
    case("--path-prefix no match", fx.OLD_URL, fx.OLD_SUM, ["--path-prefix", "/other"])
    case("--path-prefix with --match-cidr", fx.OLD_URL, fx.OLD_SUM,
         ["--path-prefix=/images", "--match-cidr", "10.10.0.0/16"], fx.NEW_URL, fx.NEW_SUM)
    case("--target-host httpd-http:6180", "http://10.10.10.10:8080/images/x.qcow2",
         "http://10.10.10.10/images/x.qcow2.sha256", ["--target-host", "httpd-http:6180"],
         "http://httpd-http:6180/images/x.qcow2", "http://httpd-http:6180/images/x.qcow2.sha256",
         to="httpd-http:6180")
    case("--target-host FQDN", fx.OLD_URL, fx.OLD_SUM,
         ["--target-host=httpd-http.metal3.svc.cluster.local"],
         fx.NEW_URL.replace("httpd-http", "httpd-http.metal3.svc.cluster.local"),
         fx.NEW_SUM.replace("httpd-http", "httpd-http.metal3.svc.cluster.local"),
         to="httpd-http.metal3.svc.cluster.local")


# (prefix, authority, suffix): the rewrite must replace exactly authority
LITERAL_FORMS = [
    ("http://", "10.10.10.10", "/images/a.qcow2"),
    ("http://", "10.10.10.10:6180", "/images/a.qcow2"),
    ("https://", "10.10.10.10:8443", "/images/a.qcow2?sig=abc&x=%2F#frag"),
    ("HTTP://", "10.10.10.10", "/images/a.qcow2"),
    ("HtTpS://", "10.10.10.10", "/a"),
    ("http://user:p%40ss@", "10.10.10.10:80", "/images/a.qcow2"),
    ("http://", "10.10.10.10.", "/images/a.qcow2"),
    ("http://", "10.1", "/images/a.qcow2"),
    ("http://", "10.10.2570", "/images/a.qcow2"),
    ("http://", "0x0a.0.0.1", "/images/a.qcow2"),
    ("http://", "0x0A0A0A0A", "/images/a.qcow2"),
    ("http://", "012.0.0.1", "/images/a.qcow2"),
    ("http://", "168430090", "/images/a.qcow2"),
    ("http://", "127.0.0.1", ""),
    ("http://", "10.10.10.10", "?q=/images"),
    ("http://", "[fd00::10]", "/images/a.qcow2"),
    ("http://", "[fd00::10]:6180", "/images/a.qcow2"),
    ("https://", "[2001:db8:0:0:0:0:0:1]", "/images/a.qcow2"),
    ("http://", "[::ffff:10.10.10.10]", "/images/a.qcow2"),
    ("http://", "[fe80::1%25eth0]:8080", "/images/a.qcow2"),
    ("http://", "[::1]", "/"),
]
NAME_FORMS = [
    "http://httpd-http/images/a.qcow2",
    "http://httpd-http:6180/images/a.qcow2",
    "http://1host.example/images/a.qcow2",
    "http://10.10.10.10.nip.io/images/a.qcow2",
    "http://10.10.10.10.x/images/a.qcow2",
    "ftp://10.10.10.10/images/a.qcow2",
    "oci://10.10.10.10/images/a:latest",
    "file:///images/10.10.10.10/a.qcow2",
    "not a url",
    "http://10.10.10.256/images/a.qcow2",
    "http://[fd00::zz]/images/a.qcow2",
]


def test_forms():
    for pre, auth, suf in LITERAL_FORMS:
        url = pre + auth + suf
        for target in ("httpd-http", "httpd-http:6180"):
            new = pre + target + suf
            h = stored(fx.host(spec_url=url, spec_sum=DIGEST))
            decide("form %s (--target-host %s)" % (url, target), fx.review("CREATE", h),
                   flags=["--target-host", target], replaced={P_URL: new},
                   warn=[["spec.image.url", target]], audit={"spec-image-url": (url, new)})
    for url in NAME_FORMS:
        decide("not literal: %s" % url,
               fx.review("CREATE", stored(fx.host(spec_url=url, spec_sum=url + ".md5"))))
    # idempotence through the whole path: feeding the patched object back changes nothing
    h = stored(fx.host(annotations={STATUS_ANN: status_json(fx.OLD_URL, fx.OLD_SUM)}))
    got = {}
    decide("idempotence: first pass", fx.review("CREATE", h),
           replaced={P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM,
                     STATUS_PTR: status_json(fx.NEW_URL, fx.NEW_SUM)},
           warn=[w_rewrite("spec.image.url"), w_rewrite("spec.image.checksum"),
                 w_rewrite("status annotation url"), w_rewrite("status annotation checksum")],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM),
                  "status-annotation-url": (fx.OLD_URL, fx.NEW_URL),
                  "status-annotation-checksum": (fx.OLD_SUM, fx.NEW_SUM)},
           note_patched=lambda o: got.setdefault("o", o))
    if "o" in got:
        decide("idempotence: second pass is a no-op", fx.review("CREATE", got["o"]))


def test_embedded_nul():
    """JSON may carry U+0000 inside a string; a C string would end there. The URL must never be
    replaced by a truncated copy: either left alone or rewritten whole."""
    url = "http://10.10.10.10/images/a\u0000b.qcow2"
    h = stored(fx.host(spec_url=url, spec_sum=DIGEST))
    p = run(fx.review("CREATE", h))
    resp = json.loads(p.stdout)["response"] if p.returncode == 0 else {}
    ops = json.loads(base64.b64decode(resp["patch"])) if "patch" in resp else []
    bad = [op for op in ops if op.get("path") == P_URL and
           op.get("value") != url.replace("10.10.10.10", "httpd-http")]
    report(p.returncode in (0, 2) and not bad, "URL with an escaped NUL is never truncated",
           "rc=%d ops=%r" % (p.returncode, ops))
    rev = fx.review("CREATE", h)
    rev["request"]["uid"] = "705ab4f5\u0000-6393"
    p = run(rev)
    out = json.loads(p.stdout)["response"]["uid"] if p.returncode == 0 else None
    report(p.returncode == 2 or out == "705ab4f5\x00-6393",
           "uid with an escaped NUL is echoed whole or rejected", "rc=%d uid=%r" % (p.returncode, out))
    # a decoy key "url\u0000" in the status annotation: json-c would cut it to "url"; the splice
    # must rewrite the real url and leave the decoy's bytes alone (found by codec_fuzz)
    ann = ('{"provisioning":{"image":{"url":"%s","checksum":"%s","url\\u0000":"decoy"}}}'
           % (fx.OLD_URL, fx.OLD_SUM))
    h = stored(fx.host(annotations={STATUS_ANN: ann}))
    p = run(fx.review("CREATE", h))
    resp = json.loads(p.stdout)["response"] if p.returncode == 0 else {}
    ops = json.loads(base64.b64decode(resp["patch"])) if "patch" in resp else []
    got = [op["value"] for op in ops if op.get("path") == STATUS_PTR]
    want = ann.replace(fx.OLD_URL, fx.NEW_URL).replace(fx.OLD_SUM, fx.NEW_SUM)
    report(got == [want], "status annotation with a \"url\\u0000\" decoy key: the real url is "
           "rewritten, the decoy kept", "got=%r want=%r" % (got, want))


def test_long_names():
    ns = "n" * 63
    name = "h" * 253
    h = stored(fx.host(name=name, namespace=ns))
    rev = fx.review("CREATE", h)
    decide("253-char name: warnings stay <= 256", rev,
           replaced={P_URL: fx.NEW_URL, P_SUM: fx.NEW_SUM},
           warn=[[ns[:20], "spec.image.url"], [ns[:20], "spec.image.checksum"]],
           audit={"spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    rev = update(fx.OLD_URL, fx.OLD_URL, name=name, namespace=ns)
    decide("253-char name withheld: warnings <= 256", rev,
           warn=[[ns[:20], "bmhguard repair"], [ns[:20], "bmhguard repair"]],
           audit={"withheld-spec-image-url": (fx.OLD_URL, fx.NEW_URL),
                  "withheld-spec-image-checksum": (fx.OLD_SUM, fx.NEW_SUM)})
    # a presigned URL of ~1.8 KB: the warning names hosts only, the audit annotation keeps it whole
    url = ("http://10.10.10.10/images/a.qcow2?X-Amz-Credential=" + "A" * 200 +
           "&X-Amz-Signature=" + "f" * 1600)
    new = url.replace("10.10.10.10", "httpd-http")
    decide("1.8 KB presigned URL: short warning, full audit", fx.review("CREATE", stored(
        fx.host(spec_url=url, spec_sum=DIGEST))), replaced={P_URL: new},
        warn=[w_rewrite("spec.image.url")], audit={"spec-image-url": (url, new)})


def test_examples():
    """Every Metal3 example host through CREATE and UPDATE."""
    for h in fx.example_hosts():
        name = h["metadata"]["name"]
        h = copy.deepcopy(h)
        h["metadata"].setdefault("namespace", "default")
        url = (h.get("spec", {}).get("image") or {}).get("url")
        csum = (h.get("spec", {}).get("image") or {}).get("checksum")
        rep, warn, audit = {}, [], {}
        if url and "://172.22.0.1/" in url:
            new = url.replace("172.22.0.1", "httpd-http")
            rep[P_URL] = new
            warn.append(["default/" + name, "spec.image.url", "172.22.0.1", "httpd-http"])
            audit["spec-image-url"] = (url, new)
        if csum and "://" in csum:
            report(False, "example %s: checksum is a URL; test expects a digest" % name)
        decide("example %s CREATE" % name, fx.review("CREATE", h), replaced=rep, warn=warn,
               audit=audit)
        decide("example %s UPDATE (no status)" % name, fx.review("UPDATE", h, copy.deepcopy(h)),
               replaced=rep, warn=warn, audit=audit)
        if url:
            old = copy.deepcopy(h)
            old["status"] = stored(fx.host(status_url=url, status_sum=csum))["status"]
            new = copy.deepcopy(old)
            decide("example %s UPDATE provisioned: withhold" % name,
                   fx.review("UPDATE", new, old),
                   warn=[["default/" + name, "spec.image.url", "bmhguard repair"]],
                   audit={"withheld-spec-image-url": (url, rep[P_URL])})


def main():
    if not os.access(BIN, os.X_OK):
        print("not ok - bmhguard binary at %s" % BIN)
        return 1
    for t in (test_create, test_update, test_status_annotation, test_scope, test_policy_flags,
              test_forms, test_embedded_nul, test_long_names, test_examples):
        try:
            t()
        except Exception as e:  # a crash in one group must not hide the others
            import traceback
            report(False, "%s raised %s" % (t.__name__, type(e).__name__),
                   traceback.format_exc())
    print("# %d checks, %d failed" % (tap.checks(), tap.failed()))
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
