#!/usr/bin/python3
"""test_server_shutdown - SIGTERM under load: in-flight requests complete, exit 0 in time.

Client threads keep posting reviews; one request is deliberately in flight (headers and half the
body sent) when SIGTERM arrives and sends the rest a second later: it must get its 200. Every
response any client received is a 200; new connections are refused once the server stops
accepting; /readyz turns 503; the process exits 0 well within the grace period. A second run
shows the grace period bounds the wait when a client never finishes.

Bounded: the load threads are daemons stopped in a finally, the request they send is built (from
the test data) before any starts, and the whole test has DEADLINE seconds; a server that dies or a
step that fails ends the test at once with a "not ok" line instead of leaving the load running.
"""
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
GRACE = 8
DEADLINE = 120   # seconds for the whole test; a normal run takes about 6 (more under ASan)


def half_sent_request(srv, ctx, review):
    body = json.dumps(review).encode()
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), 10), server_hostname=sl.SVC)
    s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (sl.PATH, sl.SVC, len(body))).encode() + body[: len(body) // 2])
    return s, body[len(body) // 2:]


def read_all(s, timeout=15):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) >= n:
                    break
    except OSError:
        pass
    return data


def main():
    def deadline(*_):
        raise TimeoutError("test_server_shutdown did not finish within %ds" % DEADLINE)
    signal.signal(signal.SIGALRM, deadline)
    signal.alarm(DEADLINE)
    stop = threading.Event()
    try:
        run(stop)
    except Exception:  # noqa: BLE001 - any failure is one "not ok" line, and the load stops
        sl.ok(False, "SIGTERM test ran to the end", traceback.format_exc())
    finally:
        stop.set()
        signal.alarm(0)
    sl.done()


def run(stop):
    tmp = sl.tempdir("bmhguard-srv-term-")
    certs = sl.make_certs(os.path.join(tmp, "certs"))
    ctx = sl.tls_context(os.path.join(certs, "ca.crt"))
    # Built once, before any thread starts: a missing file fails here, not in a retry loop.
    load = json.dumps(sl.make_review("CREATE", sl.make_host(url=IP))).encode()
    srv = sl.Server(certs, args=["--grace-period", str(GRACE)])
    stats = {"200": 0, "other": [], "conn_errors": 0}
    lock = threading.Lock()

    def client():
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=10)
                status, _ = sl.post_review(conn, load)
                with lock:
                    if status == 200:
                        stats["200"] += 1
                    else:
                        stats["other"].append(status)
            except OSError:
                # Refused or closed before a request was answered: the server stopped
                # accepting. Not a failed in-flight request (those are counted above).
                with lock:
                    stats["conn_errors"] += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    if not sl.ok(srv.proc.poll() is None, "the server is up under load before SIGTERM",
                 "rc=%s log:\n%s" % (srv.proc.poll(), srv.log()[-1500:])):
        return
    review = sl.make_review("CREATE", sl.make_host(url=IP))
    s, rest = half_sent_request(srv, ctx, review)
    time.sleep(0.3)
    t0 = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    status, _ = srv.plain_get("/readyz") if srv.proc.poll() is None else (None, "")
    sl.ok(status == 503, "/readyz is 503 while shutting down (%s)" % status)
    try:
        socket.create_connection(("127.0.0.1", srv.port), 2).close()
        refused = False
    except OSError:
        refused = True
    sl.ok(refused, "new connections are refused after SIGTERM")
    time.sleep(0.5)
    s.sendall(rest)
    data = read_all(s)
    s.close()
    body = data.partition(b"\r\n\r\n")[2]
    try:
        uid = json.loads(body)["response"]["uid"]
    except (ValueError, KeyError):
        uid = None
    sl.ok(data.startswith(b"HTTP/1.1 200") and uid == review["request"]["uid"],
          "request in flight at SIGTERM completes with its 200", data[:300])
    sl.ok(b"connection: close" in data.lower(), "responses during shutdown say Connection: close")
    try:
        rc = srv.proc.wait(timeout=GRACE + 5)
    except Exception:  # noqa: BLE001
        rc = None
    elapsed = time.time() - t0
    stop.set()
    for t in threads:
        t.join(20)
    sl.ok(rc == 0, "exit code 0 after SIGTERM (%s)" % rc, srv.log()[-1500:])
    sl.ok(elapsed < GRACE, "exited in %.1fs, before the %ds grace period ran out" % (elapsed, GRACE))
    sl.ok(stats["200"] > 5 and not stats["other"],
          "under load every answered request was a 200 (%d ok, %d connection ends after stop)"
          % (stats["200"], stats["conn_errors"]), stats["other"][:5])
    sl.ok(any(l.get("msg") == "stopped" for l in srv.log_lines()), "log says stopped")
    srv.close()

    # A client that never finishes its body: the grace period bounds the wait.
    grace = 2
    srv = sl.Server(certs, args=["--grace-period", str(grace)])
    s, _ = half_sent_request(srv, ctx, review)
    time.sleep(0.3)
    t0 = time.time()
    srv.proc.send_signal(signal.SIGINT)
    try:
        rc = srv.proc.wait(timeout=grace + 5)
    except Exception:  # noqa: BLE001
        rc = None
    elapsed = time.time() - t0
    s.close()
    sl.ok(rc == 0 and grace - 0.5 <= elapsed <= grace + 2,
          "SIGINT with a stuck client: exit 0 after the %ds grace period (%.1fs)" % (grace, elapsed),
          srv.log()[-1500:])
    sl.ok(any("grace period over" in l.get("msg", "") for l in srv.log_lines()),
          "log says the grace period ran out")
    srv.close()


if __name__ == "__main__":
    main()
