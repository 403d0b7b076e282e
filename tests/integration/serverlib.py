"""serverlib.py - helpers for the server tests: real BareMetalHost reviews, a real
`bmhguard serve` on loopback, and TLS clients that verify the certificate under the service
DNS name. Not a test itself (tests/run.sh runs test_*.py only)."""
import atexit
import base64
import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("BMHGUARD") or os.path.join(TOP, "build", "bmhguard")
SANITIZED = os.environ.get("BMHGUARD_SANITIZED") == "1"
SVC = "bmhguard.bmhguard-system.svc"
PATH = "/mutate-metal3-io-v1alpha1-baremetalhost"
_servers = []
_tmpdirs = []
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402
import testenv  # noqa: E402
ok = tap.ok
EXAMPLE = os.path.join(testenv.EXAMPLES, "worker-0.yaml")
# A server test with its data or tools missing stops here, naming them, before any server starts.
testenv.need_files(EXAMPLE, os.path.join(TOP, "server", "devcert.sh"))
testenv.need_tools("openssl")


@atexit.register
def _cleanup():
    """Whatever happens in a test, no server outlives it and no temp dir stays behind."""
    for srv in _servers:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        try:
            os.unlink(srv.logf.name)
        except OSError:
            pass
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def tempdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def done():
    sys.exit(tap.exit_code())


def example_host():
    """worker-0 from the operator's examples: the real object a cluster would hold."""
    with open(EXAMPLE) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") == "BareMetalHost":
                return doc
    raise RuntimeError("no BareMetalHost in worker-0.yaml")


def hardware_details():
    """Roughly what the operator's inspection stores for a real server (makes reviews ~8 KB)."""
    nics = [{"name": "eno%d" % i, "model": "0x8086 0x1572", "mac": "00:1a:74:74:e5:%02x" % i,
             "ip": "172.22.0.%d" % (20 + i), "speedGbps": 10, "vlanId": 0, "pxe": i == 0}
            for i in range(4)]
    disks = [{"name": "/dev/sd%s" % c, "model": "PERC H730P Mini", "sizeBytes": 479559942144,
              "rotational": False, "serialNumber": "6c81f660f1a9a5002a4d3f4b0c%02d" % i,
              "vendor": "DELL", "wwn": "0x6c81f660f1a9a500", "hctl": "0:2:%d:0" % i}
             for i, c in enumerate("abcd")]
    return {
        "cpu": {"arch": "x86_64", "model": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
                "clockMegahertz": 2593.992, "count": 80,
                "flags": ["aes", "avx", "avx2", "avx512f", "fma", "sse4_2", "vmx", "x2apic"]},
        "firmware": {"bios": {"date": "08/06/2024", "vendor": "Dell Inc.", "version": "2.21.2"}},
        "hostname": "worker-0", "nics": nics, "ramMebibytes": 385024, "storage": disks,
        "systemVendor": {"manufacturer": "Dell Inc.", "productName": "PowerEdge R640",
                         "serialNumber": "8FJ3KX2"},
    }


def make_host(name="worker-0", namespace="metal3", url=None, checksum=None, status_url=None,
              status_checksum=None, annotations=None, hardware=True):
    """A BareMetalHost built on the example; status_url set means provisioned with that image."""
    h = copy.deepcopy(example_host())
    h["metadata"]["name"] = name
    h["metadata"]["namespace"] = namespace
    h["metadata"]["uid"] = str(uuid.uuid4())
    h["metadata"]["resourceVersion"] = "48151623"
    if annotations:
        h["metadata"]["annotations"] = dict(annotations)
    if url is not None:
        h["spec"]["image"]["url"] = url
    if checksum is not None:
        h["spec"]["image"]["checksum"] = checksum
    if status_url is not None:
        h["status"] = {
            "operationalStatus": "OK", "errorType": "", "errorCount": 0,
            "provisioning": {"state": "provisioned", "ID": str(uuid.uuid4()), "bootMode": "UEFI",
                             "image": {"url": status_url,
                                       "checksum": status_checksum or h["spec"]["image"]["checksum"]}},
            "poweredOn": True, "lastUpdated": "2026-11-20T10:00:00Z",
            "goodCredentials": {"credentials": {"name": "worker-0-bmc-secret",
                                                "namespace": namespace},
                                "credentialsVersion": "8812"},
        }
        if hardware:
            h["status"]["hardware"] = hardware_details()
            h["status"]["hardwareProfile"] = "unknown"
    return h


def make_review(operation, obj, old=None, kind="BareMetalHost", group="metal3.io",
                subresource=None, uid=None):
    req = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": "v1alpha1", "kind": kind},
        "resource": {"group": group, "version": "v1alpha1", "resource": kind.lower() + "s"},
        "requestKind": {"group": group, "version": "v1alpha1", "kind": kind},
        "requestResource": {"group": group, "version": "v1alpha1", "resource": kind.lower() + "s"},
        "name": obj.get("metadata", {}).get("name", ""),
        "namespace": obj.get("metadata", {}).get("namespace", ""),
        "operation": operation,
        "userInfo": {"username": "system:serviceaccount:metal3:baremetal-operator",
                     "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": obj, "oldObject": old, "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": operation.capitalize() + "Options"},
    }
    if subresource:
        req["subResource"] = subresource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def decode_patch(review_response):
    r = review_response["response"]
    if "patch" not in r:
        return None
    return json.loads(base64.b64decode(r["patch"]))


def make_certs(outdir, use_bmhguard=False):
    """A fresh CA and a leaf for the service name (server/devcert.sh); returns the dir."""
    env = dict(os.environ)
    if not use_bmhguard:
        env["DEVCERT_OPENSSL"] = "1"
    subprocess.run([os.path.join(TOP, "server", "devcert.sh"), outdir, BIN], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    return outdir


class Server:
    """`bmhguard serve` on 127.0.0.1 with ephemeral ports, its log in a file."""

    def __init__(self, certdir, args=(), wrapper=(), start_timeout=None):
        self.certdir = certdir
        self.logf = tempfile.NamedTemporaryFile(prefix="bmhguard-serve-", suffix=".log", delete=False)
        cmd = list(wrapper) + [BIN, "serve", "--listen", "127.0.0.1:0", "--plain-listen", "127.0.0.1:0",
                               "--tls-cert", os.path.join(certdir, "tls.crt"),
                               "--tls-key", os.path.join(certdir, "tls.key")] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.logf)
        _servers.append(self)
        self.port = self.plain_port = None
        limit = start_timeout or (60 if wrapper else 20 if SANITIZED else 10)
        deadline = time.time() + limit
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r'"msg":"listening".*?"port":(\d+).*?"plain_port":(\d+)', self.log())
            if m:
                self.port, self.plain_port = int(m.group(1)), int(m.group(2))
                return
            time.sleep(0.05)
        raise RuntimeError("server did not start: rc=%s log:\n%s" % (self.proc.poll(), self.log()))

    def log(self):
        with open(self.logf.name, errors="replace") as f:
            return f.read()

    def log_lines(self):
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsed": line})
        return out

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def close(self):
        self.stop()
        try:
            os.unlink(self.logf.name)
        except OSError:
            pass

    def plain_get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.plain_port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def metric(self, name, labels=""):
        _, text = self.plain_get("/metrics")
        m = re.search(r"^%s%s ([0-9.e+-]+)$" % (re.escape(name), re.escape(labels)), text, re.M)
        return float(m.group(1)) if m else None


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class SvcHTTPSConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but verifies the certificate under the service DNS name."""

    def __init__(self, port, ctx, timeout=10):
        super().__init__(SVC, port, context=ctx, timeout=timeout)
        self._ctx = ctx

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=SVC)


def post_review(conn, body, path=PATH + "?timeout=10s", ctype="application/json"):
    if not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    r = conn.getresponse()
    return r.status, r.read()


def read_response(s, limit_s=None, limit=1 << 20):
    """Raw bytes of one HTTP response from socket s: until the headers and a Content-Length body
    are complete, the server closes, an error, limit bytes, or (with limit_s) that many seconds;
    without limit_s the socket's own timeout ends it."""
    data, t0 = b"", time.time()
    if limit_s is not None:
        s.settimeout(0.5)
    while len(data) < limit and (limit_s is None or time.time() - t0 < limit_s):
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            if limit_s is None:
                break
            continue
        except (OSError, ssl.SSLError):
            break
        if not chunk:
            break
        data += chunk
        top, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in top.split(b"\r\n"):
                if line.lower().startswith(b"content-length:") and \
                        len(body) >= int(line.split(b":")[1]):
                    return data
    return data


def served_cert_der(port, cafile):
    ctx = tls_context(cafile)
    with socket.create_connection(("127.0.0.1", port), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname=SVC) as s:
            return s.getpeercert(binary_form=True)


def curl_review(port, cafile, body):
    """curl, verifying the certificate against the CA under the service name."""
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", cafile,
                        "--resolve", "%s:%d:127.0.0.1" % (SVC, port),
                        "-H", "Content-Type: application/json", "--data-binary", "@-",
                        "-w", "\n%{http_code}", "https://%s:%d%s?timeout=10s" % (SVC, port, PATH)],
                       input=data, capture_output=True, timeout=30)
    out = p.stdout.decode()
    body_text, _, code = out.rpartition("\n")
    return p.returncode, int(code or 0), body_text, p.stderr.decode()
