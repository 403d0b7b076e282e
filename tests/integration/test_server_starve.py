#!/usr/bin/python3
"""test_server_starve - starving the webhook from the pod network, against a real `bmhguard serve`.

With failurePolicy Ignore a webhook that cannot answer lets literal-IP writes through, so each
attack here runs while real reviews (from another loopback address, 127.0.0.2) must keep being
answered: clients trickling the TLS handshake, headers or body one byte at a time on the webhook
port (closed at --request-timeout, counted, logged once per peer), more connections from one
address than --max-connections-per-peer, trickling on the health port while /healthz answers
within the kubelet's 1 s, request bodies held open up to --body-budget (503 from the headers
past it, budget back when they end), the costliest reviews the fallback reader could be sent,
request framing libmicrohttpd would read wrongly (501, 400), TLS 1.2 without AEAD, a uid with
\\u0000, an UPDATE without oldObject, and a descriptor limit below --max-connections. The
server's peak RSS stays under the deployment's 256Mi. Every loop is bounded in count and time.
"""
import json
import os
import resource
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
DEADLINE = 3            # --request-timeout, seconds
PER_PEER = 120          # --max-connections-per-peer
GOOD_SRC = "127.0.0.2"  # the "API server": another address than the attackers' 127.0.0.1
LIMIT_RSS = 256 << 20


class GoodConn(sl.SvcHTTPSConnection):
    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout,
                                       source_address=(GOOD_SRC, 0))
        self.sock = self._ctx.wrap_socket(raw, server_hostname=sl.SVC)


def review_ok(srv, ctx, timeout=5):
    """One real review from GOOD_SRC; returns (ok, seconds, detail)."""
    review = sl.make_review("CREATE", sl.make_host(url=IP))
    t0 = time.time()
    conn = GoodConn(srv.port, ctx, timeout=timeout)
    try:
        status, body = sl.post_review(conn, review)
        good = status == 200 and json.loads(body)["response"]["uid"] == review["request"]["uid"]
        return good, time.time() - t0, body[:200]
    except (OSError, ValueError, KeyError) as e:
        return False, time.time() - t0, repr(e)
    finally:
        conn.close()


class Reviewer(threading.Thread):
    """Real reviews back to back (bounded by count and by stop) while an attack runs."""

    def __init__(self, srv, ctx, limit_s):
        super().__init__(daemon=True)
        self.srv, self.ctx, self.limit_s = srv, ctx, limit_s
        self.good = self.bad = 0
        self.worst = 0.0
        self.details = []
        self.stop = threading.Event()

    def run(self):
        t0 = time.time()
        for _ in range(2000):
            if self.stop.is_set() or time.time() - t0 > self.limit_s:
                break
            good, secs, detail = review_ok(self.srv, self.ctx)
            if good:
                self.good += 1
            else:
                self.bad += 1
                self.details.append(detail)
            self.worst = max(self.worst, secs)
            time.sleep(0.1)


def rss_ok(value, name):
    """RSS under the limit; ASan's shadow memory and quarantine make RSS meaningless there."""
    if sl.SANITIZED:
        return sl.ok(True, name + " # SKIP RSS not measured under ASan")
    return sl.ok(value is not None and value < LIMIT_RSS, name)


def rss(srv, field="VmHWM"):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def tls_socket(port, ctx, timeout=10, src=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout,
                                   source_address=(src, 0) if src else None)
    return ctx.wrap_socket(raw, server_hostname=sl.SVC)


def head(length=None, extra=""):
    h = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n" % (sl.PATH, sl.SVC)
    if length is not None:
        h += "Content-Length: %d\r\n" % length
    return (h + extra + "\r\n").encode()


def json_answer(data):
    """(status, content type, parsed body or None)."""
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode(errors="replace").split("\r\n")
    try:
        status = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        status = None
    ctype = None
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-type":
            ctype = v.strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return status, ctype, parsed


def trickle(socks, payloads, limit_s):
    """Send each socket its payload one byte every 0.5 s; returns, per socket, the seconds after
    which the server closed it (None: still open at limit_s)."""
    closed = [None] * len(socks)
    pos = [0] * len(socks)
    t0 = time.time()
    while time.time() - t0 < limit_s and any(c is None for c in closed):
        for i, s in enumerate(socks):
            if closed[i] is not None:
                continue
            try:
                s.send(payloads[i][pos[i] % len(payloads[i]):][:1])
                pos[i] += 1
            except (OSError, ssl.SSLError, ValueError):
                closed[i] = time.time() - t0
        time.sleep(0.5)
    return closed


def attack_webhook_trickle(srv, ctx):
    """Three kinds of trickling client on the webhook port, from one address."""
    socks, payloads, kinds = [], [], []
    review = json.dumps(sl.make_review("CREATE", sl.make_host(url=IP))).encode()
    for i in range(90):
        try:
            if i % 3 == 0:          # a TLS ClientHello that never ends
                s = socket.create_connection(("127.0.0.1", srv.port), 10)
                payloads.append(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200)
            elif i % 3 == 1:        # headers that never end
                s = tls_socket(srv.port, ctx)
                payloads.append(b"POST " + sl.PATH.encode() + b" HTTP/1.1\r\n" + b"X-a: b\r\n" * 100)
            else:                   # headers complete, a body that never ends
                s = tls_socket(srv.port, ctx)
                s.sendall(head(len(review)))
                payloads.append(review)
        except OSError as e:
            sl.ok(False, "open trickling connection %d" % i, repr(e))
            break
        socks.append(s)
        kinds.append(i % 3)
    before = srv.metric("bmhguard_request_deadline_exceeded_total", '{port="webhook"}') or 0
    rev = Reviewer(srv, ctx, 30)
    rev.start()
    t0 = time.time()
    closed = trickle(socks, payloads, DEADLINE + 12)
    rev.stop.set()
    rev.join(40)
    for s in socks:
        s.close()
    names = ("TLS handshake", "headers", "body")
    for k in range(3):
        mine = [c for c, kk in zip(closed, kinds) if kk == k]
        late = [c for c in mine if c is None or c > DEADLINE + 4]
        sl.ok(mine and not late, "webhook: every client trickling its %s closed within %ds of a "
              "%ds deadline (%d clients)" % (names[k], DEADLINE + 4, DEADLINE, len(mine)),
              "closed after: %s" % mine)
    sl.ok(rev.good >= 10 and rev.bad == 0,
          "webhook: real reviews keep succeeding while 90 clients trickle (%d ok, %d failed, "
          "slowest %.2fs)" % (rev.good, rev.bad, rev.worst), "\n".join(rev.details[:5]))
    after = srv.metric("bmhguard_request_deadline_exceeded_total", '{port="webhook"}') or 0
    sl.ok(after - before >= len(socks) - 5,
          "webhook: closes counted in bmhguard_request_deadline_exceeded_total (%d)" % (after - before))
    lines = [l for l in srv.log_lines() if "deadline" in l.get("msg", "") and l.get("port") == "webhook"]
    sl.ok(1 <= len(lines) <= 2 and lines[0].get("peer") == "127.0.0.1",
          "webhook: late closes logged once per peer per interval (%d lines)" % len(lines),
          json.dumps(lines[:3]))
    del t0


def attack_per_peer(srv, ctx):
    """More connections from one address than --max-connections-per-peer: the rest are refused
    at once, and another address still gets in."""
    held, refused = [], 0
    t0 = time.time()
    for _ in range(PER_PEER + 30):
        try:
            held.append(tls_socket(srv.port, ctx, timeout=5))
        except (OSError, ssl.SSLError):
            refused += 1
    took = time.time() - t0
    good, secs, detail = review_ok(srv, ctx)
    sl.ok(len(held) <= PER_PEER and refused >= 30,
          "per peer: %d connections from one address held, %d refused (limit %d)"
          % (len(held), refused, PER_PEER))
    sl.ok(took < 30, "per peer: refusals are immediate (%.1fs for %d attempts)" % (took, PER_PEER + 30))
    sl.ok(good, "per peer: a review from another address succeeds meanwhile (%.2fs)" % secs, detail)
    for s in held:
        s.close()


def attack_plain(srv):
    """80 sockets trickle on the health port; /healthz from the kubelet's address answers within
    1 s throughout."""
    socks = []
    for _ in range(80):
        try:
            socks.append(socket.create_connection(("127.0.0.1", srv.plain_port), 5))
        except OSError:
            break       # refused past the per-peer limit: that is the point
    payloads = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * 50] * len(socks)
    probes = {"ok": 0, "bad": []}
    stop = threading.Event()

    def probe():
        for _ in range(200):
            if stop.is_set():
                break
            t0 = time.time()
            try:
                s = socket.create_connection(("127.0.0.1", srv.plain_port), 1,
                                             source_address=(GOOD_SRC, 0))
                s.settimeout(1)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = sl.read_response(s, 1)
                s.close()
                if json_answer(data)[0] == 200 and time.time() - t0 <= 1.0:
                    probes["ok"] += 1
                else:
                    probes["bad"].append("%.2fs %r" % (time.time() - t0, data[:80]))
            except OSError as e:
                probes["bad"].append("%.2fs %r" % (time.time() - t0, e))
            time.sleep(0.2)

    th = threading.Thread(target=probe, daemon=True)
    th.start()
    closed = trickle(socks, payloads, 8)
    stop.set()
    th.join(10)
    for s in socks:
        s.close()
    sl.ok(probes["ok"] >= 10 and not probes["bad"],
          "plain: /healthz answered within 1 s while %d sockets trickle (%d probes)"
          % (len(socks), probes["ok"]), "\n".join(probes["bad"][:5]))
    sl.ok(socks and all(c is not None and c < 4 for c in closed),
          "plain: trickling sockets closed within a few seconds", closed[:20])
    sl.ok((srv.metric("bmhguard_request_deadline_exceeded_total", '{port="plain"}') or 0) >= 1,
          "plain: closes counted under port=\"plain\"")


def attack_budget(srv, ctx, max_body, budget):
    """Hold bodies up to the budget (every byte but the last sent): the next request is 503 from
    its headers; the budget comes back when they end."""
    body = b" " * (max_body - 1)
    held = []
    for _ in range(budget // max_body):
        s = tls_socket(srv.port, ctx, src=GOOD_SRC if len(held) % 2 else None)
        s.sendall(head(max_body))
        s.sendall(body)
        held.append(s)
    time.sleep(0.5)
    peak = rss(srv, "VmRSS")
    s = tls_socket(srv.port, ctx)
    t0 = time.time()
    s.sendall(head(max_body))
    status, ctype, parsed = json_answer(sl.read_response(s, 5))
    s.close()
    sl.ok(status == 503 and ctype == "application/json" and parsed and "budget" in parsed.get("error", ""),
          "budget: a body past --body-budget gets 503 JSON from its headers (%.2fs)" % (time.time() - t0),
          (status, ctype, parsed))
    rss_ok(peak, "budget: RSS %.0f MiB with %d bodies of %d MiB held (limit 256)"
           % ((peak or 0) / 2**20, len(held), max_body >> 20))
    good, _, detail = review_ok(srv, ctx)
    sl.ok(not good, "budget: a review is refused too while the budget is spent", detail)
    for h in held:
        h.close()
    ok_again = False
    for _ in range(20):     # the server sees the closes within its next loop
        time.sleep(0.25)
        ok_again, _, detail = review_ok(srv, ctx)
        if ok_again:
            break
    sl.ok(ok_again, "budget: released when the held requests end; reviews succeed again", detail)
    sl.ok((srv.metric("bmhguard_body_budget_refused_total") or 0) >= 1,
          "budget: refusals counted in bmhguard_body_budget_refused_total")


def worst_reviews(srv, ctx, max_body):
    """What only the fallback reader takes, as costly as it gets within --max-body."""
    n = max_body // 3 - 20
    bodies = {
        "objects": b'{"a":"\\ud800","b":[' + b",".join([b"{}"] * n) + b"]}",
        "numbers": b'{"a":"\\ud800","b":[' + b",".join([b"0"] * (max_body // 2 - 20)) + b"]}",
        "4 million digits": b'{"a":"\\ud800","b":' + b"1" * 4000000 + b"}",
    }
    for name, b in bodies.items():
        s = tls_socket(srv.port, ctx, timeout=30)
        s.sendall(head(len(b)) + b)
        status, ctype, parsed = json_answer(sl.read_response(s, 30))
        s.close()
        sl.ok(status == 400 and ctype == "application/json" and parsed and parsed.get("error"),
              "worst case (%s, %d bytes): 400 JSON: %s" % (name, len(b), (parsed or {}).get("error", "")[:80]),
              (status, ctype))
    good, _, detail = review_ok(srv, ctx)
    sl.ok(good, "worst case: reviews succeed after", detail)
    peak = rss(srv)
    rss_ok(peak, "worst case: peak RSS %.0f MiB over everything above (limit 256)"
           % ((peak or 0) / 2**20))


def framing(srv, ctx):
    cases = [
        ("two different Content-Lengths", head(2, "Content-Length: 5\r\n") + b"{}", 400),
        ("unknown Transfer-Encoding (gzip)", head(None, "Transfer-Encoding: gzip\r\n"), 501),
        ("Transfer-Encoding beside Content-Length", head(5, "Transfer-Encoding: chunked\r\n"), 400),
    ]
    for name, req, want in cases:
        s = tls_socket(srv.port, ctx)
        t0 = time.time()
        s.sendall(req)
        status, ctype, parsed = json_answer(sl.read_response(s, 5))
        s.close()
        sl.ok(status == want and ctype == "application/json" and parsed and parsed.get("error")
              and time.time() - t0 < 3, "%s: %d JSON at once (%.2fs)" % (name, want, time.time() - t0),
              (status, ctype, parsed))
    s = tls_socket(srv.port, ctx)
    s.sendall(head(2, "Content-Length: 2\r\n") + b"{}")
    status, _, _ = json_answer(sl.read_response(s, 5))
    s.close()
    sl.ok(status == 400, "two equal Content-Lengths: read as one (400 for the body {})")


def tls12_aead(srv, cafile):
    def handshake(ciphers):
        ctx = sl.tls_context(cafile)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        try:
            s = tls_socket(srv.port, ctx)
            v = s.cipher()
            s.close()
            return v
        except (OSError, ssl.SSLError) as e:
            return repr(e)

    got = handshake("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
    sl.ok(isinstance(got, tuple) and got[1] == "TLSv1.2", "TLS 1.2 with an AEAD suite: accepted", got)
    got = handshake("ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:"
                    "ECDHE-RSA-AES128-SHA:AES128-SHA256:AES128-SHA:AES128-GCM-SHA256")
    sl.ok(isinstance(got, str), "TLS 1.2 with CBC suites or static RSA only: refused", got)


def decisions(srv, ctx):
    raw = ('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":'
           '{"uid":"a\\u0000b"}}').encode()
    s = tls_socket(srv.port, ctx)
    s.sendall(head(len(raw)) + raw)
    status, _, parsed = json_answer(sl.read_response(s, 5))
    s.close()
    sl.ok(status == 400 and parsed and "\\u0000" in parsed.get("error", ""),
          "a uid holding \\u0000 is named as such", parsed)
    host = sl.make_host(url=IP, status_url=IP)
    review = sl.make_review("UPDATE", host)     # no oldObject
    del review["request"]["oldObject"]
    conn = GoodConn(srv.port, ctx)
    try:
        status, body = sl.post_review(conn, review)
    finally:
        conn.close()
    resp = json.loads(body)["response"] if status == 200 else {}
    sl.ok(status == 200 and "patch" not in resp and
          any("withheld" in k for k in resp.get("auditAnnotations", {})),
          "UPDATE without oldObject, object.status provisioned with the same literal: withheld",
          body[:300])


def fd_limit(certs, ctx):
    """A descriptor limit below --max-connections: a warning at start, and running out is logged."""
    def low():
        resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))

    logf = sl.tempfile.NamedTemporaryFile(prefix="bmhguard-serve-", suffix=".log", delete=False)
    proc = sl.subprocess.Popen([sl.BIN, "serve", "--listen", "127.0.0.1:0", "--plain-listen",
                                "127.0.0.1:0", "--tls-cert", os.path.join(certs, "tls.crt"),
                                "--tls-key", os.path.join(certs, "tls.key"),
                                "--max-connections-per-peer", "1000"],
                               stdout=sl.subprocess.DEVNULL, stderr=logf, preexec_fn=low)
    socks = []
    try:
        port = None
        for _ in range(100):
            text = open(logf.name).read()
            m = sl.re.search(r'"msg":"listening".*?"port":(\d+)', text)
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        text = open(logf.name).read()
        sl.ok(port is not None and "RLIMIT_NOFILE" in text,
              "RLIMIT_NOFILE below --max-connections: warned at start", text[-600:])
        if port is None:
            return
        for _ in range(200):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), 2))
            except OSError:
                break
        time.sleep(1.5)
        text = open(logf.name).read()
        sl.ok("cannot accept webhook connections" in text and proc.poll() is None,
              "out of descriptors: logged, server still up", text[-600:])
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        try:
            proc.wait(15)
        except sl.subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.unlink(logf.name)


def main():
    tmp = sl.tempdir("bmhguard-srv-starve-")
    certs = sl.make_certs(os.path.join(tmp, "certs"))
    cafile = os.path.join(certs, "ca.crt")
    ctx = sl.tls_context(cafile)
    max_body, budget = 8 << 20, 96 << 20
    srv = sl.Server(certs, args=["--request-timeout", "%ds" % DEADLINE, "--max-connections", "600",
                                 "--max-connections-per-peer", str(PER_PEER),
                                 "--max-body", str(max_body), "--body-budget", str(budget)])
    try:
        good, _, detail = review_ok(srv, ctx)
        sl.ok(good, "a real review from %s succeeds" % GOOD_SRC, detail)
        attack_webhook_trickle(srv, ctx)
        attack_per_peer(srv, ctx)
        attack_plain(srv)
        # held bodies must outlive their sending (12 x 8 MiB over TLS is slow under ASan): a
        # server of its own whose deadline is far away
        budget_srv = sl.Server(certs, args=["--request-timeout", "120s", "--max-connections", "600",
                                            "--max-connections-per-peer", str(PER_PEER),
                                            "--max-body", str(max_body), "--body-budget",
                                            str(budget)])
        try:
            attack_budget(budget_srv, ctx, max_body, budget)
        finally:
            budget_srv.stop()
        worst_reviews(srv, ctx, max_body)
        framing(srv, ctx)
        tls12_aead(srv, cafile)
        decisions(srv, ctx)
        sl.ok(srv.proc.poll() is None, "server still running", srv.log()[-2000:])
    finally:
        rc = srv.stop()
        sl.ok(rc == 0, "server exits 0 on SIGTERM", srv.log()[-2000:])
        srv.close()
    fd_limit(certs, ctx)
    sl.done()


if __name__ == "__main__":
    main()
