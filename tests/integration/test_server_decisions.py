#!/usr/bin/python3
"""test_server_decisions - every admission decision end to end through `bmhguard serve`.

A real server on loopback with real TLS; curl verifies the certificate against the CA under the
service DNS name (--resolve). Each response's JSON Patch is decoded and applied with
python3-jsonpatch, and the resulting object is checked against what the decision rules of the
core issue say; the server's answer must be byte-identical to `bmhguard review` on the same input.
Metrics and per-change log lines are checked against the requests sent.
"""
import copy
import json
import os
import subprocess
import sys

import jsonpatch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
NAME = "http://httpd-http/images/ubiquity-node-rocky9.qcow2"
OTHER_IP = "http://10.10.10.10/images/ubiquity-node-rocky8.qcow2"
DIGEST = "97830b21ed272a3d854615beb54cf004"
STATUS_ANN = "baremetalhost.metal3.io/status"


def update(spec_url, status_url, checksum=DIGEST, **kw):
    """UPDATE of a host; the stored (old) object carries status_url, None = not provisioned."""
    old = sl.make_host(url=status_url or spec_url, checksum=checksum, status_url=status_url, **kw)
    new = copy.deepcopy(old)
    new["spec"]["image"]["url"] = spec_url
    return sl.make_review("UPDATE", new, old)


def status_annotation(url, checksum):
    return json.dumps({"operationalStatus": "OK", "provisioning": {
        "state": "provisioned", "ID": "c8b2e7c1", "image": {"url": url, "checksum": checksum},
        "rootDeviceHints": {"deviceName": "/dev/sda"}}, "hardware": {"cpu": {"clockMegahertz": 2593.992}}})


# name, review, expected outcome, expected (spec url, spec checksum) after applying the patch,
# expected annotation url after the patch (or None), whether a warning must mention repair
CASES = [
    ("CREATE literal-IP url and checksum URL: both rewritten",
     sl.make_review("CREATE", sl.make_host(url=IP, checksum=IP + ".md5sum")),
     "patched", (NAME, NAME + ".md5sum"), None, False),
    ("CREATE literal-IP url, bare digest checksum: url only",
     sl.make_review("CREATE", sl.make_host(url=IP, checksum=DIGEST)),
     "patched", (NAME, DIGEST), None, False),
    ("CREATE url on the service name: unchanged",
     sl.make_review("CREATE", sl.make_host(url=NAME, checksum=DIGEST)),
     "unchanged", (NAME, DIGEST), None, False),
    ("UPDATE not provisioned (S empty): rewritten",
     update(IP, None), "patched", (NAME, DIGEST), None, False),
    ("UPDATE status already repaired (R == S): rewritten",
     update(IP, NAME), "patched", (NAME, DIGEST), None, False),
    ("UPDATE image being changed (U != S): rewritten",
     update(IP, OTHER_IP), "patched", (NAME, DIGEST), None, False),
    ("UPDATE provisioned on the literal URL (U == S): withheld",
     update(IP, IP), "withheld", (IP, DIGEST), None, True),
    ("UPDATE spec already on the name (R == U): unchanged",
     update(NAME, NAME), "unchanged", (NAME, DIGEST), None, False),
    ("opt-out annotation: no patch",
     sl.make_review("CREATE", sl.make_host(url=IP, annotations={"bmhguard.io/rewrite": "disabled"})),
     "unchanged", (IP, DIGEST), None, False),
    ("CREATE with status annotation: annotation follows spec",
     sl.make_review("CREATE", sl.make_host(url=IP, checksum=IP + ".md5sum", annotations={
         STATUS_ANN: status_annotation(IP, IP + ".md5sum")})),
     "patched", (NAME, NAME + ".md5sum"), NAME, False),
]

NOOP_CASES = [
    ("other kind (Secret in core group): allowed, no patch",
     sl.make_review("CREATE", dict(sl.make_host(url=IP), kind="Secret", apiVersion="v1"),
                    kind="Secret", group="")),
    ("status subresource: allowed, no patch",
     sl.make_review("UPDATE", sl.make_host(url=IP, status_url=IP), sl.make_host(url=IP, status_url=IP),
                    subresource="status")),
    ("DELETE: allowed, no patch",
     sl.make_review("DELETE", sl.make_host(url=IP))),
]


def offline_review(body, flags=()):
    p = subprocess.run([sl.BIN, "review"] + list(flags), input=body, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode().rstrip("\n")


def check_case(srv, cafile, name, review, outcome, want, want_ann, want_repair, flags=()):
    body = json.dumps(review).encode()
    rc, code, text, err = sl.curl_review(srv.port, cafile, body)
    if not sl.ok(rc == 0 and code == 200, name + ": HTTP 200 over verified TLS", "%d %d %s" % (rc, code, err)):
        return
    resp = json.loads(text)
    r = resp["response"]
    sl.ok(r["uid"] == review["request"]["uid"] and r["allowed"] is True and
          resp["apiVersion"] == "admission.k8s.io/v1" and resp["kind"] == "AdmissionReview",
          name + ": response names the request uid and allows", text[:300])
    patch = sl.decode_patch(resp)
    obj = review["request"]["object"]
    patched = jsonpatch.apply_patch(obj, patch) if patch else copy.deepcopy(obj)
    if outcome in ("patched",):
        sl.ok(patch and r.get("patchType") == "JSONPatch", name + ": JSONPatch present", text[:300])
    else:
        sl.ok(patch is None or flags, name + ": no patch", text[:300])
    if want is not None:
        got = (patched["spec"]["image"]["url"], patched["spec"]["image"].get("checksum"))
        sl.ok(got == want, name + ": patched spec.image is as the rules say", "got %s want %s" % (got, want))
    if want_ann is not None:
        ann = json.loads(patched["metadata"]["annotations"][STATUS_ANN])
        sl.ok(ann["provisioning"]["image"]["url"] == want_ann and
              ann["provisioning"]["image"]["url"] == patched["spec"]["image"]["url"] and
              ann["hardware"]["cpu"]["clockMegahertz"] == 2593.992,
              name + ": status annotation url matches the stored spec", ann)
    untouched = copy.deepcopy(patched)
    orig = copy.deepcopy(obj)
    for o in (untouched, orig):
        o["spec"]["image"].pop("url", None)
        o["spec"]["image"].pop("checksum", None)
        o["metadata"].get("annotations", {}).pop(STATUS_ANN, None)
    sl.ok(untouched == orig, name + ": everything else unchanged")
    if want_repair:
        sl.ok(any("bmhguard repair" in w for w in r.get("warnings", [])),
              name + ": warning points at bmhguard repair", r.get("warnings"))
    orc, otext = offline_review(body, flags)
    sl.ok(orc == 0 and otext == text, name + ": identical to `bmhguard review`",
          "offline rc=%d\nserver:  %s\noffline: %s" % (orc, text[:200], otext[:200]))


def main():
    tmp = sl.tempdir("bmhguard-srv-dec-")
    certs = sl.make_certs(os.path.join(tmp, "certs"))
    cafile = os.path.join(certs, "ca.crt")
    srv = sl.Server(certs)
    try:
        for case in CASES:
            check_case(srv, cafile, *case)
        for name, review in NOOP_CASES:
            check_case(srv, cafile, name, review, "unchanged", None, None, False)

        # Bodies `bmhguard review` rejects: 400 with a JSON error, counted as rejected.
        for name, body in [("invalid JSON", b'{"apiVersion": '),
                           ("not a review", b'{"kind": "Pod"}'),
                           ("review without uid", json.dumps({"apiVersion": "admission.k8s.io/v1",
                            "kind": "AdmissionReview", "request": {"operation": "CREATE"}}).encode())]:
            rc, code, text, err = sl.curl_review(srv.port, cafile, body)
            try:
                msg = json.loads(text).get("error", "")
            except ValueError:
                msg = ""
            orc, _ = offline_review(body)
            sl.ok(code == 400 and msg and orc == 2, "%s: 400 with a JSON error, as `bmhguard review` "
                  "rejects it" % name, "%d %r offline rc %d" % (code, text, orc))

        # A large review (an object near the API server's 3 MiB limit, and its old copy), sent
        # with a length and again chunked: read whole, decided, patched.
        big = sl.make_host(url=IP, status_url=NAME)
        nic = big["status"]["hardware"]["nics"][0]
        big["status"]["hardware"]["nics"] = [dict(nic, name="eth%d" % i) for i in range(14000)]
        old_big = copy.deepcopy(big)
        old_big["spec"]["image"]["url"] = NAME
        big_review = sl.make_review("UPDATE", big, old_big)
        big_body = json.dumps(big_review).encode()
        for chunked in (False, True):
            args = ["curl", "-sS", "--max-time", "60", "--cacert", cafile, "--resolve",
                    "%s:%d:127.0.0.1" % (sl.SVC, srv.port), "-H", "Content-Type: application/json",
                    "--data-binary", "@-", "-w", "\n%{http_code}"]
            if chunked:
                args += ["-H", "Transfer-Encoding: chunked"]
            p = subprocess.run(args + ["https://%s:%d%s" % (sl.SVC, srv.port, sl.PATH)],
                               input=big_body, capture_output=True, timeout=90)
            text, _, code = p.stdout.decode().rpartition("\n")
            try:
                patched = jsonpatch.apply_patch(big, sl.decode_patch(json.loads(text)))
                good = code == "200" and patched["spec"]["image"]["url"] == NAME
            except (ValueError, TypeError, KeyError):
                good = False
            sl.ok(good, "%.1f MiB review%s: answered and patched" %
                  (len(big_body) / 1048576.0, " (chunked)" if chunked else ""), code + " " + text[:200])

        n_patched = sum(1 for c in CASES if c[2] == "patched") + 2
        n_withheld = sum(1 for c in CASES if c[2] == "withheld")
        sl.ok(srv.metric("bmhguard_admission_requests_total", '{outcome="patched"}') == n_patched,
              "metrics: patched count matches", srv.plain_get("/metrics")[1][:2000])
        sl.ok(srv.metric("bmhguard_admission_requests_total", '{outcome="withheld"}') == n_withheld,
              "metrics: withheld count matches")
        sl.ok(srv.metric("bmhguard_admission_requests_total", '{outcome="rejected"}') == 3,
              "metrics: rejected count matches")
        sl.ok(srv.metric("bmhguard_rewrites_total", '{field="spec_image_url",action="withhold"}') == n_withheld,
              "metrics: withheld spec.image.url by field")
        sl.ok((srv.metric("bmhguard_request_duration_seconds_count") or 0) >=
              len(CASES) + len(NOOP_CASES) + 5, "metrics: duration histogram counts every request")
        sl.ok((srv.metric("bmhguard_tls_cert_not_after_timestamp_seconds") or 0) > 1.7e9,
              "metrics: certificate expiry exported")
        text = srv.plain_get("/metrics")[1]
        sl.ok("bmhguard_build_info{version=" in text and "bmhguard_inflight_requests 0" in text,
              "metrics: build info and in-flight gauge")

        lines = srv.log_lines()
        sl.ok(all("unparsed" not in l and {"time", "level", "msg"} <= set(l) for l in lines),
              "logs: every line is a JSON object with time, level, msg",
              [l for l in lines if "unparsed" in l][:3])
        changes = [l for l in lines if "field" in l]
        sl.ok(changes and all({"namespace", "name", "uid", "field", "from", "to"} <= set(l) for l in changes),
              "logs: each rewrite or withhold names namespace, name, uid, field, from, to", changes[:2])
        sl.ok(any(l["level"] == "warn" and l.get("action") == "withhold" and l["from"] == IP for l in changes),
              "logs: withhold is a warning with from/to", changes)
    finally:
        rc = srv.stop()
        sl.ok(rc == 0, "server exits 0 on SIGTERM", srv.log()[-2000:])
        srv.close()

    # --mode warn: the same reviews, never a patch, warnings say what would change.
    srv = sl.Server(certs, args=["--mode", "warn"])
    try:
        review = CASES[0][1]
        rc, code, text, _ = sl.curl_review(srv.port, cafile, review)
        r = json.loads(text)["response"] if code == 200 else {}
        sl.ok(code == 200 and "patch" not in r and r.get("warnings"),
              "--mode warn: no patch, warnings present", text[:300])
        orc, otext = offline_review(json.dumps(review).encode(), ["--mode", "warn"])
        sl.ok(otext == text, "--mode warn: identical to `bmhguard review --mode warn`")
        sl.ok(any(l.get("action") == "would-rewrite" for l in srv.log_lines()),
              "--mode warn: log says would-rewrite")
    finally:
        sl.ok(srv.stop() == 0, "warn-mode server exits 0")
        srv.close()
    check_kinds(certs, cafile)
    sl.done()


CAPM3_PATH = "/mutate-infrastructure-cluster-x-k8s-io"


def check_kinds(certs, cafile):
    """Every other kind on its webhook entry's path (manifests/base/mutatingwebhook.yaml): the
    same answer as `bmhguard review`, counted and logged under its field."""
    import test_review_kinds as k   # its objects validate against the real CRDs
    cases = [  # name, path, review, outcome, metric field label
        ("Metal3MachineTemplate", CAPM3_PATH, k.review("CREATE", k.template("v1beta2")), "patched",
         "spec_template_spec_image_url"),
        ("Metal3Machine", CAPM3_PATH, k.review("UPDATE", k.machine("v1beta1"), k.machine("v1beta1")),
         "patched", "spec_image_url"),
        ("DataImage attached", sl.PATH, k.review("UPDATE", k.dataimage(attached=k.ISO),
                                                 k.dataimage(attached=k.ISO)), "withheld", "spec_url"),
        ("HostFirmwareComponents", sl.PATH, k.review("CREATE", k.firmware()), "patched",
         "spec_updates_url"),
    ]
    srv = sl.Server(certs)
    try:
        conn = sl.SvcHTTPSConnection(srv.port, sl.tls_context(cafile))
        for name, path, review, outcome, label in cases:
            body = json.dumps(review).encode()
            code, text = sl.post_review(conn, body, path=path)
            orc, otext = offline_review(body)
            sl.ok(code == 200 and orc == 0 and text.decode() == otext,
                  "%s on %s: 200, identical to `bmhguard review`" % (name, path), text[:300])
            r = json.loads(text)["response"] if code == 200 else {}
            sl.ok(("patch" in r) == (outcome == "patched") and r.get("warnings"),
                  "%s: %s, with warnings" % (name, outcome), r)
        conn.close()
        sl.ok(srv.metric("bmhguard_admission_requests_total", '{outcome="patched"}') == 3 and
              srv.metric("bmhguard_admission_requests_total", '{outcome="withheld"}') == 1,
              "kinds: outcomes counted", srv.plain_get("/metrics")[1][:1500])
        for name, _, _, outcome, label in cases:
            action = "withhold" if outcome == "withheld" else "rewrite"
            sl.ok((srv.metric("bmhguard_rewrites_total", '{field="%s",action="%s"}' % (label, action))
                   or 0) >= 1, "kinds: %s counted as field %s, %s" % (name, label, action))
        fields = {l.get("field") for l in srv.log_lines() if "field" in l}
        sl.ok({"spec.template.spec.image.url", "spec.image.url", "spec.url", "spec.updates[].url"} <= fields,
              "kinds: log lines name each kind's field", fields)
    finally:
        sl.ok(srv.stop() == 0, "kinds server exits 0")
        srv.close()


if __name__ == "__main__":
    main()
