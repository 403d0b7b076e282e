#!/usr/bin/python3
"""test_server_hostile - misbehaving clients against a real `bmhguard serve` on loopback.

Invalid JSON, a truncated body, a body over --max-body (announced and chunked), wrong method,
path and content type, a client sending its request one byte a second, a client that stalls,
and 500 idle connections. Each is answered or closed, and a valid review (TLS verified under the
service name) succeeds right after each.
"""
import json
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IDLE = 3
MAX_BODY = 65536
IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"


def valid_review_ok(srv, ctx, name):
    review = sl.make_review("CREATE", sl.make_host(url=IP))
    conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=10)
    try:
        status, body = sl.post_review(conn, review)
        good = status == 200 and json.loads(body)["response"]["uid"] == review["request"]["uid"]
    except (OSError, ValueError, KeyError) as e:
        good, body = False, repr(e)
    finally:
        conn.close()
    return sl.ok(good, "valid review succeeds right after: " + name, body[:300] if body else "")


def tls_socket(srv, ctx, timeout=10):
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout)
    return ctx.wrap_socket(raw, server_hostname=sl.SVC)


def status_of(data):
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def header(data, name):
    head = data.partition(b"\r\n\r\n")[0].decode(errors="replace")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def raw_send(srv, ctx, req, close_write=False):
    s = tls_socket(srv, ctx)
    try:
        s.sendall(req)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        return sl.read_response(s)
    finally:
        s.close()


def raw_request(srv, ctx, req, name, want, close_write=False):
    data = raw_send(srv, ctx, req, close_write)
    code = status_of(data)
    if want is None:
        sl.ok(code is None or code >= 400, name + ": closed or refused", data[:200])
    else:
        body = data.partition(b"\r\n\r\n")[2]
        try:
            err = json.loads(body).get("error")
        except ValueError:
            err = None
        sl.ok(code == want and header(data, "Content-Type") == "application/json" and err,
              "%s: %d with a JSON error" % (name, want), data[:300])
    return data


def post_bytes(path, body, ctype="application/json", extra=""):
    return (("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
             % (path, sl.SVC, ctype, len(body), extra)).encode() + body)


def main():
    tmp = sl.tempdir("bmhguard-srv-hostile-")
    certs = sl.make_certs(os.path.join(tmp, "certs"))
    ctx = sl.tls_context(os.path.join(certs, "ca.crt"))
    # 500 idle connections come from one address below: no per-address limit here
    # (test_server_starve.py has it).
    srv = sl.Server(certs, args=["--idle-timeout", str(IDLE), "--max-body", str(MAX_BODY),
                                 "--max-connections-per-peer", "1000"])
    try:
        valid_review_ok(srv, ctx, "start")

        raw_request(srv, ctx, post_bytes(sl.PATH, b'{"apiVersion": "admission.k8s.io/v1", "kind": '),
                    "invalid JSON", 400)
        valid_review_ok(srv, ctx, "invalid JSON")

        whole = json.dumps(sl.make_review("CREATE", sl.make_host(url=IP))).encode()
        raw_request(srv, ctx, post_bytes(sl.PATH, whole[: len(whole) // 2]),
                    "JSON cut in half (consistent length)", 400)
        valid_review_ok(srv, ctx, "JSON cut in half")

        # Announces the whole body, sends half, then closes its side.
        req = post_bytes(sl.PATH, whole)[: -len(whole) // 2]
        t0 = time.time()
        raw_request(srv, ctx, req, "truncated body (client closes)", None, close_write=True)
        sl.ok(time.time() - t0 < IDLE + 3, "truncated body: connection ends promptly")
        valid_review_ok(srv, ctx, "truncated body")

        # Over the limit with a Content-Length: 413 from the headers alone, body never sent.
        t0 = time.time()
        head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (sl.PATH, sl.SVC, 10 * 1024 * 1024)).encode()
        raw_request(srv, ctx, head, "body over --max-body", 413)
        sl.ok(time.time() - t0 < 2, "body over --max-body: answered without reading the body")
        valid_review_ok(srv, ctx, "body over --max-body")

        # Over the limit, chunked (no length up front): the server stops reading and closes.
        s = tls_socket(srv, ctx)
        try:
            s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n" % (sl.PATH, sl.SVC)).encode())
            chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
            sent, closed = 0, False
            for _ in range(2 * MAX_BODY // 16384 + 8):
                try:
                    s.sendall(chunk)
                    sent += 16384
                except OSError:
                    closed = True
                    break
            data = b"" if closed else sl.read_response(s)
        finally:
            s.close()
        sl.ok(closed or status_of(data) in (None, 413), "chunked body over --max-body: closed or 413",
              data[:200])
        valid_review_ok(srv, ctx, "chunked body over --max-body")

        raw_request(srv, ctx, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sl.PATH).encode(), "GET", 405)
        data = raw_request(srv, ctx, ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                      "Content-Length: 2\r\n\r\n{}" % sl.PATH).encode(), "PUT", 405)
        sl.ok(header(data, "Allow") == "POST", "405 says Allow: POST")
        raw_request(srv, ctx, post_bytes("/validate", whole), "unknown path", 404)
        raw_request(srv, ctx, post_bytes(sl.PATH, whole, ctype="text/plain"), "text/plain body", 415)
        raw_request(srv, ctx, post_bytes(sl.PATH, whole, ctype="application/yaml"), "YAML body", 415)
        data = raw_send(srv, ctx, post_bytes(sl.PATH + "?timeout=10s&x=1", whole,
                                             ctype="application/json; charset=utf-8"))
        sl.ok(status_of(data) == 200, "?timeout=10s and a charset parameter are accepted", data[:200])
        valid_review_ok(srv, ctx, "wrong method, path, content type")

        # One byte a second (its own thread) while reviews keep succeeding.
        slow_result = {}

        def slow():
            s = tls_socket(srv, ctx, timeout=30)
            try:
                for b in b"GET / HTTP/1.0\r\n\r\n":
                    s.sendall(bytes([b]))
                    time.sleep(1.0)
                slow_result["data"] = sl.read_response(s)
            except OSError as e:
                slow_result["error"] = repr(e)
            finally:
                s.close()

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(1.5)
        good = 0
        t0 = time.time()
        while th.is_alive() and time.time() - t0 < 25:
            conn = sl.SvcHTTPSConnection(srv.port, ctx)
            try:
                status, _ = sl.post_review(conn, sl.make_review("CREATE", sl.make_host(url=IP)))
                good += status == 200
            finally:
                conn.close()
            time.sleep(0.2)
        th.join(30)
        sl.ok(good >= 10, "reviews keep succeeding while a client sends one byte a second (%d)" % good)
        sl.ok(status_of(slow_result.get("data", b"")) == 404 or "error" in slow_result,
              "one-byte-a-second client: answered or closed", slow_result)
        valid_review_ok(srv, ctx, "one byte a second")

        # Stalls after half its headers: closed by the idle timeout.
        s = tls_socket(srv, ctx, timeout=IDLE + 10)
        t0 = time.time()
        s.sendall(b"POST " + sl.PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        data = sl.read_response(s)
        waited = time.time() - t0
        s.close()
        sl.ok(data == b"" and IDLE - 1 <= waited <= IDLE + 5,
              "stalled client closed by --idle-timeout after %.1fs" % waited, data[:200])
        valid_review_ok(srv, ctx, "stalled client")

        # 500 idle connections: half plain TCP that never start TLS, half after the handshake.
        idle = []
        try:
            for i in range(500):
                raw = socket.create_connection(("127.0.0.1", srv.port), 10)
                idle.append(ctx.wrap_socket(raw, server_hostname=sl.SVC) if i % 2 else raw)
        except OSError as e:
            sl.ok(False, "open 500 idle connections", repr(e))
        sl.ok(len(idle) == 500, "500 idle connections open")
        valid_review_ok(srv, ctx, "500 idle connections open")
        t0 = time.time()
        for s in idle:
            s.settimeout(max(0.1, IDLE + 8 - (time.time() - t0)))
        closed = 0
        for s in idle:
            # Closed = EOF or a reset (a TLS alert may come first); still open = timeout.
            try:
                for _ in range(16):
                    if s.recv(4096) == b"":
                        closed += 1
                        break
            except socket.timeout:
                pass
            except (OSError, ssl.SSLError):
                closed += 1
            s.close()
        sl.ok(closed == 500, "all 500 idle connections closed by the server (%d)" % closed)
        valid_review_ok(srv, ctx, "500 idle connections")

        m = srv.plain_get("/metrics")[1]
        for code in ("400", "404", "405", "413", "415"):
            sl.ok(srv.metric("bmhguard_http_responses_total", '{code="%s"}' % code) >= 1,
                  "metrics count %s responses" % code)
        sl.ok(srv.proc.poll() is None, "server still running", srv.log()[-2000:])
        del m
    finally:
        rc = srv.stop()
        sl.ok(rc == 0, "server exits 0 on SIGTERM", srv.log()[-2000:])
        srv.close()

    # --max-connections: idle clients beyond the limit wait in the backlog or are closed, and a
    # valid review gets through once the idle ones time out.
    srv = sl.Server(certs, args=["--idle-timeout", "2", "--max-connections", "4"])
    held = []
    try:
        for _ in range(10):
            held.append(socket.create_connection(("127.0.0.1", srv.port), 5))
        t0 = time.time()
        conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=15)
        try:
            status, _ = sl.post_review(conn, sl.make_review("CREATE", sl.make_host(url=IP)))
        except OSError as e:
            status = repr(e)
        conn.close()
        waited = time.time() - t0
        sl.ok(status == 200 and waited < 2 + 8,
              "--max-connections 4 with 10 idle clients: a review gets through after %.1fs" % waited, status)
    finally:
        for s in held:
            s.close()
        sl.ok(srv.stop() == 0, "connection-limited server exits 0")
        srv.close()
    sl.done()


if __name__ == "__main__":
    main()
