#!/usr/bin/python3
"""test_repair_hostile.py - `bmhguard repair` against an API server that answers with too much.

A tiny HTTP server on 127.0.0.1 stands in for the API: a host list larger than the client's
response cap (64 MiB), announced by Content-Length or streamed without one, and a list whose
every page names the same continue token. Each run must stop with exit code 2 and a line saying
why, in bounded time and memory. (The 20,000-page limit on distinct tokens is not driven here:
20,000 round trips to a Python server take longer than a test may.)
"""
import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repairlib import BIN, SANITIZED, SLOW, done, ok, peak_rss_kb  # noqa: E402

CAP = 64 << 20
STREAM_MAX = 96 << 20       # the server stops writing here whatever the client does


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "repeat"
    pages = [0]

    def log_message(self, *args):
        pass

    def reply(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        # SelfSubjectAccessReviews: allowed
        self.reply(201, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                         "status": {"allowed": True}})

    def do_GET(self):
        if self.path == "/apis/metal3.io/v1alpha1":   # discovery: hosts are served
            self.reply(200, {"kind": "APIResourceList", "groupVersion": "metal3.io/v1alpha1",
                             "resources": [{"name": "baremetalhosts", "namespaced": True,
                                            "kind": "BareMetalHost"}]})
            return
        if "/baremetalhosts" not in self.path:
            self.reply(404, {"kind": "Status", "code": 404})
            return
        Hostile.pages[0] += 1
        mode = Hostile.mode
        if mode in ("announced", "streamed"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if mode == "announced":
                self.send_header("Content-Length", str(CAP * 2))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            chunk = b'{"kind":"BareMetalHostList","items":[' + b" " * ((1 << 20) - 36)
            sent = 0
            try:
                while sent < STREAM_MAX:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    chunk = b" " * (1 << 20)
            except OSError:
                pass
            return
        token = "same" if mode == "repeat" else "page-%d" % Hostile.pages[0]
        md = {"continue": token, "resourceVersion": "1"}
        if mode == "endless":   # a new token every time, after announcing 10 more objects
            md["remainingItemCount"] = 10
        self.reply(200, {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHostList",
                         "metadata": md, "items": []})


def case(url, mode, args, limit_s, limit_kb):
    Hostile.mode = mode
    Hostile.pages[0] = 0
    t0 = time.time()
    rc, kb, out = peak_rss_kb([BIN, "repair", "--server", url, "-o", "json"] + args,
                              timeout=limit_s)
    took = time.time() - t0
    ok(rc == 2, "%s: exit 2 (got %s)" % (mode, rc), out[-400:])
    ok(took < limit_s * SLOW, "%s: stopped in %.1fs" % (mode, took))
    if SANITIZED:   # ASan's shadow memory and quarantine: RSS means nothing there
        ok(True, "%s: peak RSS # SKIP not measured under ASan" % mode)
    else:
        ok(kb < limit_kb, "%s: peak RSS %d MiB (limit %d)" % (mode, kb >> 10, limit_kb >> 10))
    return rc, out


def run_stderr(url, args, timeout):
    import subprocess
    p = subprocess.run([BIN, "repair", "--server", url] + args, capture_output=True, text=True,
                       timeout=timeout * SLOW)
    return p.returncode, p.stderr


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        # the cap plus one growing buffer's copy, and the process itself
        for mode in ("announced", "streamed"):
            case(url, mode, ["-A"], 60, 3 * (CAP >> 10) // 2 + 64 * 1024)
            Hostile.mode = mode
            rc, err = run_stderr(url, ["-A"], 60)
            ok(rc == 2 and "larger than" in err, "%s: says the response is too large" % mode,
               err[-400:])
        # --max-response lowers the cap: the same answer stops far sooner, far smaller
        Hostile.mode = "streamed"
        rc, kb, out = peak_rss_kb([BIN, "repair", "--server", url, "-A", "--max-response",
                                   "1MiB"], timeout=60)
        ok(rc == 2 and (SANITIZED or kb < 48 * 1024),
           "--max-response 1MiB: exit 2, peak RSS %d MiB" % (kb >> 10), out[-300:])
        rc, err = run_stderr(url, ["-A", "--max-response", "1MiB"], 60)
        ok(rc == 2 and "larger than 1048576" in err, "--max-response: the error names the cap",
           err[-300:])
        case(url, "repeat", ["-A"], 30, 64 * 1024)
        ok(Hostile.pages[0] <= 3, "repeat: stops at the repeated token (%d pages asked)"
           % Hostile.pages[0])
        Hostile.mode = "repeat"
        rc, err = run_stderr(url, ["-A"], 30)
        ok(rc == 2 and "continue" in err, "repeat: says the token repeats", err[-400:])
        # new tokens for ever after announcing 10 objects: stops at the pages those could fill
        case(url, "endless", ["-A"], 30, 64 * 1024)
        ok(Hostile.pages[0] <= 4, "endless: stops past the pages the announced objects fill "
           "(%d pages asked)" % Hostile.pages[0])
        Hostile.mode = "endless"
        rc, err = run_stderr(url, ["-A"], 30)
        ok(rc == 2 and "than the objects it announced" in err, "endless: says so", err[-400:])
    finally:
        srv.shutdown()
        srv.server_close()
    done()


if __name__ == "__main__":
    main()
