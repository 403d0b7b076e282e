#!/usr/bin/python3
"""test_review_badinput - `bmhguard review` and `bmhguard rewrite` on input they must refuse.

Every refusal is exactly one clear line on stderr, nothing on stdout, exit 2, within a time bound,
and (under BMHGUARD_SANITIZED=1, the ASan+UBSan build) without a sanitizer report. Also checks
the size and depth limits from both sides, and that --help documents every flag.
"""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("BMHGUARD_TOP", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import bmh_fixtures as fx  # noqa: E402

BIN = os.environ.get("BMHGUARD", os.path.join(TOP, "build", "bmhguard"))
SANITIZED = os.environ.get("BMHGUARD_SANITIZED") == "1"
LIMIT_S = 30 if SANITIZED else 10	# each refusal must come quickly
MAX_BODY = 8 << 20
SANITIZER = re.compile(rb"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error|"
                       rb"Sanitizer|==\d+==")
import tap  # noqa: E402
report = tap.ok


def run(args, body=b""):
    t0 = time.monotonic()
    p = subprocess.run([BIN] + args, input=body, capture_output=True, timeout=LIMIT_S * 3)
    return p, time.monotonic() - t0


def refused(name, args, body=b"", expect=None):
    """exit 2, nothing on stdout, one line on stderr naming the command (and matching expect)."""
    p, took = run(args, body)
    err = p.stderr
    problems = []
    if p.returncode != 2:
        problems.append("exit %d, want 2" % p.returncode)
    if p.stdout:
        problems.append("stdout not empty: %r" % p.stdout[:200])
    if SANITIZER.search(err):
        problems.append("sanitizer report")
    if not (err.endswith(b"\n") and err.count(b"\n") == 1):
        problems.append("stderr is not exactly one line")
    line = err.decode("utf-8", "replace").strip()
    if not line.startswith("bmhguard %s: " % args[0]) or len(line) > 300:
        problems.append("not a clear 'bmhguard %s: ...' line" % args[0])
    if expect and not re.search(expect, line, re.I):
        problems.append("does not say /%s/" % expect)
    if took > LIMIT_S:
        problems.append("took %.1fs" % took)
    report(not problems, "%s: refused with one line (%s)" % (name, line[:90]),
           "\n".join(problems) + "\nstderr: %r" % err[:2000])


def accepted(name, args, body=b""):
    p, took = run(args, body)
    ok = p.returncode == 0 and not SANITIZER.search(p.stderr) and took <= LIMIT_S
    if ok and args[0] == "review":
        try:
            ok = json.loads(p.stdout)["response"]["allowed"] is True
        except (ValueError, KeyError, TypeError):
            ok = False
    report(ok, name + ": accepted", "rc=%d took=%.1fs stderr=%r stdout=%r" %
           (p.returncode, took, p.stderr[:500], p.stdout[:200]))


def good_review():
    return fx.review("CREATE", fx.host(), uid="705ab4f5-6393-11e8-b7cc-42010a800002")


def good_bytes():
    return json.dumps(good_review()).encode()


def test_review_inputs():
    g = good_bytes()
    accepted("valid review (control)", ["review"], g)
    env = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":%s}'

    refused("empty input", ["review"], b"", "JSON|empty|input")
    refused("whitespace only", ["review"], b" \n\t \n", "JSON|empty|input")
    refused("invalid JSON", ["review"], b'{"apiVersion": admission}', "JSON")
    refused("single quotes", ["review"], b"{'apiVersion': 'admission.k8s.io/v1'}", "JSON")
    refused("truncated review", ["review"], g[:len(g) // 2], "JSON|end")
    refused("truncated inside a string", ["review"], g[:g.index(b"10.10.10.10") + 5], "JSON|end")
    refused("trailing garbage", ["review"], g + b" garbage", "JSON|after|unexpected")
    refused("two documents", ["review"], g + g, "JSON|after|unexpected")
    refused("trailing comma", ["review"], g[:-1] + b",}", "JSON")
    refused("comment", ["review"], b"/* c */" + g, "JSON")
    refused("NUL byte at start", ["review"], b"\x00" + g, "JSON")
    refused("NUL byte inside a string", ["review"], g.replace(b"master-2", b"mas\x00ter-2", 1),
            "JSON")
    refused("NUL byte after the document", ["review"], g + b"\x00", "JSON")
    refused("invalid UTF-8 (lone continuation byte)", ["review"],
            g.replace(b"master-2", b"master-\x80", 1), "UTF-8|JSON")
    refused("invalid UTF-8 (truncated sequence)", ["review"],
            g.replace(b"master-2", b"master-\xc3", 1), "UTF-8|JSON")
    refused("invalid UTF-8 (overlong '/')", ["review"],
            g.replace(b"/images/", b"/images\xc0\xaf", 1), "UTF-8|JSON")
    refused("invalid UTF-8 (encoded surrogate)", ["review"],
            g.replace(b"master-2", b"master-\xed\xa0\x80", 1), "UTF-8|JSON")
    refused("invalid UTF-8 (0xff)", ["review"], g.replace(b"master-2", b"\xff\xfe", 1),
            "UTF-8|JSON")
    refused("binary garbage", ["review"], bytes(range(256)) * 8, "JSON|UTF-8")

    refused("array at top level", ["review"], b"[" + g + b"]", "AdmissionReview|object")
    refused("string at top level", ["review"], b'"AdmissionReview"', "AdmissionReview|object")
    refused("number at top level", ["review"], b"42", "AdmissionReview|object")
    refused("null at top level", ["review"], b"null", "AdmissionReview|object")
    refused("empty object", ["review"], b"{}", "AdmissionReview|kind")
    r = good_review()
    r["kind"] = "ConversionReview"
    refused("wrong kind", ["review"], json.dumps(r).encode(), "AdmissionReview|kind")
    r = good_review()
    r["apiVersion"] = "admission.k8s.io/v1beta1"
    refused("wrong apiVersion (v1beta1)", ["review"], json.dumps(r).encode(), "apiVersion|v1")
    r["apiVersion"] = "\n\nadmission.k8s.io/v1\x1b[31m\r\n"
    refused("apiVersion with newlines and escapes (stays one line)", ["review"],
            json.dumps(r).encode(), "apiVersion|v1")
    r = good_review()
    del r["apiVersion"]
    refused("no apiVersion", ["review"], json.dumps(r).encode(), "apiVersion|v1")
    r = good_review()
    del r["request"]
    refused("no request", ["review"], json.dumps(r).encode(), "request")
    refused("request is a string", ["review"], (env % '"x"').encode(), "request")
    refused("request is null", ["review"], (env % "null").encode(), "request")
    r = good_review()
    del r["request"]["uid"]
    refused("missing uid", ["review"], json.dumps(r).encode(), "uid")
    r["request"]["uid"] = ""
    refused("empty uid", ["review"], json.dumps(r).encode(), "uid")
    r["request"]["uid"] = 12345
    refused("uid is a number", ["review"], json.dumps(r).encode(), "uid")

    # nesting: 100,000 deep must be refused without recursion trouble; realistic depth passes
    refused("100,000-deep arrays", ["review"], b"[" * 100000 + b"]" * 100000, "deep|depth|nest")
    refused("100,000-deep objects", ["review"],
            b'{"a":' * 100000 + b"1" + b"}" * 100000, "deep|depth|nest")
    deep = json.dumps(good_review())[:-1] + ', "x": ' + "[" * 100000 + "]" * 100000 + "}"
    refused("100,000-deep inside a valid review", ["review"], deep.encode(), "deep|depth|nest")
    refused("100,000 unclosed brackets", ["review"], b"[" * 100000, "deep|depth|nest|JSON")
    r = good_review()
    nest = 1
    for _ in range(20):	# a review nested 25 deep: deeper than managedFields get
        nest = [nest]
    r["request"]["object"]["spec"]["x-deep"] = nest
    accepted("20 extra levels inside spec", ["review"], json.dumps(r).encode())


def test_sizes():
    g = good_bytes()
    pad = MAX_BODY - len(g)
    accepted("review padded to exactly 8 MiB", ["review"], g + b" " * pad)
    refused("review padded to 8 MiB + 1", ["review"], g + b" " * (pad + 1), "larger|max-body|size")
    r = good_review()
    r["request"]["object"]["metadata"]["annotations"] = {"big": "x" * (10 << 20)}
    refused("10 MB body", ["review"], json.dumps(r).encode(), "larger|max-body|size")
    refused("--max-body 1000 with an 8 KB review", ["review", "--max-body", "1000"], g,
            "larger|max-body|size")
    accepted("--max-body 100000 with an 8 KB review", ["review", "--max-body", "100000"], g)
    refused("--max-body=1000 with an 8 KB review", ["review", "--max-body=1000"], g,
            "larger|max-body|size")
    accepted("--max-body=100000 with an 8 KB review", ["review", "--max-body=100000"], g)


def test_usage():
    g = good_bytes()
    for name, args in [
            ("review: unknown flag", ["review", "--bogus"]),
            ("review: stray argument", ["review", "file.json"]),
            ("review: --max-body without value", ["review", "--max-body"]),
            ("review: --max-body 0", ["review", "--max-body", "0"]),
            ("review: --max-body not a number", ["review", "--max-body", "8MB"]),
            ("review: --max-body negative", ["review", "--max-body", "-1"]),
            ("review: --mode bogus", ["review", "--mode", "bogus"]),
            ("review: --match-cidr bad", ["review", "--match-cidr", "10.0.0.0/33"]),
            ("review: --target-host literal IP", ["review", "--target-host", "10.0.0.1"]),
            ("rewrite: no URL", ["rewrite"]),
            ("rewrite: only flags", ["rewrite", "--mode", "warn"]),
            ("rewrite: unknown flag", ["rewrite", "--bogus", "http://10.0.0.1/"]),
            ("rewrite: --target-host without value", ["rewrite", "--target-host"]),
            ("rewrite: --target-host empty", ["rewrite", "--target-host=", "http://10.0.0.1/"]),
            ("rewrite: --target-host literal IP",
             ["rewrite", "--target-host", "10.1.2.3", "http://10.0.0.1/"]),
            ("rewrite: --target-host literal IPv6",
             ["rewrite", "--target-host", "[fd00::1]", "http://10.0.0.1/"]),
            ("rewrite: --target-host with a path",
             ["rewrite", "--target-host", "httpd-http/x", "http://10.0.0.1/"]),
            ("rewrite: --target-host with userinfo",
             ["rewrite", "--target-host", "u@httpd-http", "http://10.0.0.1/"]),
            ("rewrite: --match-cidr not a CIDR",
             ["rewrite", "--match-cidr", "ten/8", "http://10.0.0.1/"]),
            ("rewrite: --match-cidr bits too large",
             ["rewrite", "--match-cidr", "fd00::/129", "http://10.0.0.1/"]),
            ("rewrite: --path-prefix without slash",
             ["rewrite", "--path-prefix", "images", "http://10.0.0.1/"]),
            ("rewrite: --mode bogus", ["rewrite", "--mode", "block", "http://10.0.0.1/"])]:
        refused(name, args, g if args[0] == "review" else b"")
    p, _ = run(["nosuchcommand"])
    report(p.returncode == 2 and not p.stdout and p.stderr.count(b"\n") == 1,
           "unknown command: exit 2, one line", p.stderr)
    p, _ = run([])
    report(p.returncode == 2 and not p.stdout and p.stderr, "no command: usage on stderr, exit 2",
           "rc=%d" % p.returncode)
    # "--" lets a URL start with "-"; rewrite of a plain URL prints one line
    p, _ = run(["rewrite", "--", "-x", "http://10.0.0.1/a"])
    report(p.returncode == 0 and p.stdout.count(b"\n") == 2 and
           b"http://10.0.0.1/a -> http://httpd-http/a" in p.stdout,
           "rewrite: -- ends flags", p.stdout + p.stderr)


def flags_in(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", text))


def test_help():
    p, _ = run(["--version"])
    report(p.returncode == 0 and re.match(rb"^bmhguard \S+\n$", p.stdout) is not None
           and not p.stderr, "--version: one line, exit 0", p.stdout + p.stderr)
    p, _ = run(["--help"])
    text = p.stdout.decode()
    report(p.returncode == 0 and all(c in text for c in
                                     ("serve", "repair", "certs", "rewrite", "review")),
           "--help: every command listed, exit 0", text)
    policy = {"--target-host", "--match-cidr", "--path-prefix", "--mode"}
    want = {"review": policy | {"--max-body", "--verbose", "-v", "--help", "-h"},
            "rewrite": policy | {"--help", "-h"}}
    for cmd, flags in want.items():
        for h in ("--help", "-h"):
            p, _ = run([cmd, h])
            text = p.stdout.decode()
            missing = flags - flags_in(text)
            report(p.returncode == 0 and not missing and not p.stderr,
                   "%s %s: exit 0, documents %s" % (cmd, h, " ".join(sorted(flags))),
                   "rc=%d missing=%s" % (p.returncode, sorted(missing)))
        # the converse: every flag the help names is one the command accepts
        p, _ = run([cmd, "--help"])
        for flag in sorted(flags_in(p.stdout.decode()) - {"--help", "-h"}):
            args = {"--target-host": ["httpd-http:6180"], "--match-cidr": ["10.0.0.0/8"],
                    "--path-prefix": ["/images"], "--mode": ["warn"],
                    "--max-body": ["100000"]}.get(flag, [])
            q, _ = run([cmd, flag] + args + (["http://10.0.0.1/a"] if cmd == "rewrite" else []),
                       good_bytes() if cmd == "review" else b"")
            report(q.returncode == 0, "%s accepts documented flag %s" % (cmd, flag),
                   "rc=%d stderr=%r" % (q.returncode, q.stderr[:300]))


def patched_values(stdout):
    """The values of the response's JSON patch ops, or None when there is no patch."""
    import base64
    resp = json.loads(stdout)["response"]
    if "patch" not in resp:
        return None
    return [op.get("value") for op in json.loads(base64.b64decode(resp["patch"]))]


def test_beyond_simdjson():
    """Valid JSON that simdjson will not hold still gets its decision (read through json-c)."""
    cases = []
    r = good_review()
    # a preserved float of 1e20 comes out of the API server as 100000000000000000000
    r["request"]["object"].setdefault("status", {})["hardware"] = {
        "cpu": {"clockMegahertz": 10 ** 20}, "ramMebibytes": -(2 ** 63) - 1}
    cases.append(("numbers past 64 bits", json.dumps(r).encode()))
    r = good_review()
    r["request"]["object"]["metadata"].setdefault("annotations", {})["note"] = "a\ud800b"
    cases.append(("a lone surrogate escape", json.dumps(r).encode()))
    r = good_review()
    deep = {}
    for _ in range(27):
        deep = {"d": deep}
    r["request"]["object"]["metadata"].setdefault("annotations", {})
    r["request"]["object"]["spec"]["x"] = deep   # 32 levels from the top
    cases.append(("32 levels of nesting", json.dumps(r).encode()))
    for name, body in cases:
        p, took = run(["review"], body)
        try:
            values = patched_values(p.stdout)
        except (ValueError, KeyError, TypeError):
            values = None
        ok = p.returncode == 0 and values is not None and \
            any(v and "httpd-http" in v for v in values) and not SANITIZER.search(p.stderr)
        report(ok, "beyond simdjson: %s: decided and patched" % name,
               "rc=%d took=%.1fs stderr=%r stdout=%r" % (p.returncode, took, p.stderr[:500],
                                                         p.stdout[:300]))
    # json-c's looser tokens stay refused when the fallback reads the text
    g = cases[0][1]
    refused("past 64 bits and a leading zero", ["review"], g[:-1] + b',"z":01}', "JSON")
    refused("past 64 bits and NaN", ["review"], g[:-1] + b',"z":NaN}', "JSON")
    refused("past 64 bits and a decoy key \\u0000", ["review"],
            g.replace(b'"uid":', b'"uid\\u0000":"decoy","uid":', 1), "JSON|u0000")


def main():
    if not os.access(BIN, os.X_OK):
        print("not ok - bmhguard binary at %s" % BIN)
        return 1
    for t in (test_review_inputs, test_beyond_simdjson, test_sizes, test_usage, test_help):
        try:
            t()
        except Exception:
            import traceback
            report(False, "%s raised" % t.__name__, traceback.format_exc())
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
