"""repairlib.py - helpers for the `bmhguard repair` tests: the Kubernetes API double
(tests/kube_double.py) on loopback, running the real binary against it, and the invariants every
repair test checks. Not a test itself (tests/run.sh runs test_*.py only)."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("BMHGUARD") or os.path.join(TOP, "build", "bmhguard")
SANITIZED = os.environ.get("BMHGUARD_SANITIZED") == "1"
DOUBLE = os.path.join(TOP, "tests", "kube_double.py")
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, os.path.join(TOP, "tests"))

PAUSE = "baremetalhost.metal3.io/paused"
OURS = "bmhguard-repair"
REG = "provisioned registration error"
TRANSIENT = {"registering", "inspecting", "preparing", "provisioning", "deprovisioning",
             "powering off before delete", "deleting"}
# Every pause value tests/gen_hosts.py uses for other owners, handed over (--repair-paused-by).
GEN_PAUSES = ("move", "maintenance", "", "true")
GEN_HAND = [a for v in GEN_PAUSES for a in ("--repair-paused-by", v)]
# Slower under ASan: scale timeouts, never the assertions.
SLOW = 3 if SANITIZED else 1
import tap  # noqa: E402
ok = tap.ok


def done():
    sys.exit(tap.exit_code())


class Double:
    """One kube_double.py process on 127.0.0.1 with an ephemeral port."""

    def __init__(self, *args, tls=None, control=False):
        self.tmp = tempfile.mkdtemp(prefix="bmhguard-double-")
        cmd = ["/usr/bin/python3", DOUBLE, "--port", "0", "--tick", "0.2"] + list(args)
        if tls:
            cmd += tls
        if control or tls:
            cmd += ["--control-port-file", os.path.join(self.tmp, "control")]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(
            os.path.join(self.tmp, "stderr"), "w"), text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError("double did not start: %r %s" % (line, self.stderr()))
        self.port = int(line.split()[1])
        self.cport = self.port
        if control or tls:
            self.cport = int(self.proc.stdout.readline().split()[1])
        self.url = ("https" if tls else "http") + "://127.0.0.1:%d" % self.port

    def stderr(self):
        try:
            return open(os.path.join(self.tmp, "stderr")).read()[-2000:]
        except OSError:
            return ""

    def ctl(self, method, path, body=None, timeout=60):
        data = None
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else (
                body.encode() if isinstance(body, str) else body)
        req = urllib.request.Request("http://127.0.0.1:%d/_double/%s" % (self.cport, path),
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def reset(self):
        return self.ctl("POST", "reset", {})

    def seed(self, objs):
        return self.ctl("POST", "seed", {"apiVersion": "v1", "kind": "List", "items": objs})

    def generate(self, n, seed=1):
        return self.ctl("POST", "generate", {"count": n, "seed": seed})

    def objects(self, ns=None):
        return self.ctl("GET", "objects" + ("?namespace=" + ns if ns else ""))["items"]

    def obj(self, ns, name):
        return self.ctl("GET", "objects/%s/%s" % (ns, name))

    def events(self):
        return self.ctl("GET", "events")

    def tick(self):
        return self.ctl("POST", "tick", {})

    def log(self, query="bodies=0"):
        return self.ctl("GET", "log?" + query)

    def clear_log(self):
        return self.ctl("DELETE", "log")

    def faults(self, rules):
        return self.ctl("POST", "faults", rules)

    def clear_faults(self):
        return self.ctl("DELETE", "faults")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run(args, timeout=60, env=None, server=None):
    """Run bmhguard repair; returns (rc, stdout, stderr)."""
    cmd = [BIN, "repair"] + (["--server", server] if server else []) + list(args)
    e = dict(os.environ)
    e.pop("KUBECONFIG", None)
    e.pop("KUBERNETES_SERVICE_HOST", None)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SLOW, env=e)
    return p.returncode, p.stdout, p.stderr


def run_json(args, **kw):
    rc, out, err = run(list(args) + ["-o", "json"], **kw)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return rc, doc, err


def key(o):
    return (o["metadata"].get("namespace", "default"), o["metadata"]["name"])


def by_key(objs):
    return {key(o): o for o in objs}


def pause_of(o):
    return (o["metadata"].get("annotations") or {}).get(PAUSE)


def strip_volatile(o, drop_pause=False):
    """A host without the fields a write always changes (for equivalence comparisons)."""
    o = copy.deepcopy(o)
    md = o["metadata"]
    for k in ("resourceVersion", "generation", "managedFields", "creationTimestamp"):
        md.pop(k, None)
    if drop_pause:
        ann = md.get("annotations") or {}
        ann.pop(PAUSE, None)
        if not ann:
            md.pop("annotations", None)
    return o


def check_invariants(d, before, label, handed=(), complete=True):
    """Zero data loss, no foreign pause removed or changed, untouchable hosts byte-identical:
    transient, differing, and (unless handed over) paused by someone else. With complete (the
    run finished, nothing killed it) no host is left under our pause where removing it is safe."""
    ev = d.events()
    ok(len(ev["dataLoss"]) == 0, label + ": zero data-loss events", json.dumps(ev["dataLoss"][:3]))
    ok(not ev.get("reflash") and not ev.get("reattach"), label + ": zero firmware re-flash and "
       "media re-attach events", json.dumps((ev.get("reflash") or [])[:2] +
                                             (ev.get("reattach") or [])[:2]))
    after = by_key(d.objects())
    removed, changed, stuck = [], [], []
    for k, o in before.items():
        a = after.get(k)
        if a is None:
            changed.append(k)
            continue
        p = pause_of(o)
        if p is not None and p != OURS and pause_of(a) != p:
            removed.append(k)
        st = (o.get("status") or {}).get("provisioning", {}).get("state")
        untouchable = st in TRANSIENT or differ_beyond_host(o) or (
            p is not None and p != OURS and p not in handed)
        if untouchable and a != o:
            changed.append(k)
    for k, a in after.items():
        if complete and pause_of(a) == OURS and safe_to_unpause(a):
            stuck.append(k)
    ok(not removed, label + ": no foreign pause removed or changed", removed[:5])
    ok(not changed, label + ": transient, differing and foreign-paused hosts byte-identical",
       changed[:5])
    ok(not stuck, label + ": no host left under our pause where removing it is safe", stuck[:5])
    return after


def safe_to_unpause(o):
    """Consistent (spec url == status url), or never provisioned with an image and carrying no
    status a move would restore; in no transient state."""
    spec = ((o.get("spec") or {}).get("image") or {}).get("url")
    stat = ((o.get("status") or {}).get("provisioning") or {}).get("image", {}).get("url")
    st = ((o.get("status") or {}).get("provisioning") or {}).get("state")
    ann = (o["metadata"].get("annotations") or {}).get("baremetalhost.metal3.io/status")
    return st not in TRANSIENT and ((bool(stat) and spec == stat) or (not stat and ann is None))


def check_after_move(d, label, names, ns="default"):
    """Move these hosts to a new cluster as clusterctl does, carrying whatever status annotation
    they hold, and let the operator restore their status there from it: nothing may be wiped."""
    for n in names:
        d.ctl("POST", "move", {"namespace": ns, "name": n})
    ev = d.tick()
    ok(names and len(ev["dataLoss"]) == 0, label + ": zero data-loss events after moving the %d "
       "hosts written" % len(names), json.dumps(ev["dataLoss"][:3]))


def rewrite_host(url):
    """The rewrite for the generator's and fixtures' URLs: literal IP host[:port] -> httpd-http."""
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    auth, slash, path = rest.partition("/")
    host = auth.rsplit("@", 1)[-1]
    h = host[1:host.index("]")] if host.startswith("[") else host.split(":")[0]
    if h.startswith(("10.", "172.", "192.168.", "fd00")) or ":" in h:
        return scheme + "://httpd-http" + slash + path
    return url


def differ_beyond_host(o):
    spec = ((o.get("spec") or {}).get("image") or {}).get("url")
    stat = ((o.get("status") or {}).get("provisioning") or {}).get("image", {}).get("url")
    if not stat:
        return False
    return rewrite_host(spec) != rewrite_host(stat)


def literal(url):
    return bool(url) and rewrite_host(url) != url


def needs_repair(o):
    spec = (o.get("spec") or {}).get("image") or {}
    st = ((o.get("status") or {}).get("provisioning") or {})
    img = st.get("image") or {}
    return any(literal(u) for u in (spec.get("url"), spec.get("checksum"))) or (
        img.get("url") and any(literal(u) for u in (img.get("url"), img.get("checksum"))))


def peak_rss_kb(cmd, env=None, timeout=120):
    """Run cmd; return (rc, peak RSS in KiB of that process, stdout).

    Not wait4()'s ru_maxrss of a child of this (large) Python process: Linux carries the
    parent's high-water mark across vfork+exec into it. /usr/bin/time forks from a small
    process; without it, /proc/PID/status VmHWM is sampled until the process exits."""
    e = dict(os.environ)
    if env:
        e.update(env)
    if os.access("/usr/bin/time", os.X_OK):
        fd, tf = tempfile.mkstemp(prefix="bmhguard-rss-")
        os.close(fd)
        try:
            p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf] + list(cmd),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=e,
                               timeout=timeout * SLOW)
            with open(tf) as f:
                kb = int(f.read().split()[-1])
        finally:
            os.unlink(tf)
        return p.returncode, kb, p.stdout.decode(errors="replace")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=e)
    import threading
    chunks, peak = [], [0]

    def sample():
        while p.poll() is None:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    chunks.append(p.stdout.read())
    p.wait(timeout * SLOW)
    t.join(10)
    return p.returncode, peak[0], b"".join(chunks).decode(errors="replace")
