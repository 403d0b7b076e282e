#!/usr/bin/python3
"""test_server_leak - no leak in `bmhguard serve` over a bounded run with every kind of request.

Under valgrind's leak checker (definite and indirect leaks are errors), or, in the ASan build
(BMHGUARD_SANITIZED=1), under LeakSanitizer, which fails the exit status on a leak. The run
covers patched, withheld and rejected reviews, 404/405/413/415, a dropped connection, metrics,
a SIGHUP reload, a refused reload and a graceful SIGTERM.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"


def main():
    tmp = sl.tempdir("bmhguard-srv-leak-")
    certs = sl.make_certs(os.path.join(tmp, "certs"))
    other = sl.make_certs(os.path.join(tmp, "other"))
    ctx = sl.tls_context(os.path.join(certs, "ca.crt"))
    vlog = os.path.join(tmp, "valgrind.log")
    if sl.SANITIZED:
        wrapper = []
    elif shutil.which("valgrind"):
        wrapper = ["valgrind", "-q", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                   "--log-file=" + vlog]
    else:
        print("ok - # SKIP valgrind not installed")
        return
    srv = sl.Server(certs, args=["--max-body", "65536", "--idle-timeout", "5", "--threads", "2"],
                    wrapper=wrapper)
    try:
        conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=60)
        reviews = [sl.make_review("CREATE", sl.make_host(url=IP)),
                   sl.make_review("UPDATE", sl.make_host(url=IP, status_url=IP),
                                  sl.make_host(url=IP, status_url=IP))]
        codes = []
        for i in range(20):
            codes.append(sl.post_review(conn, reviews[i % 2])[0])
        codes.append(sl.post_review(conn, b'{"not": "a review"')[0])
        codes.append(sl.post_review(conn, b"{}", path="/nope")[0])
        codes.append(sl.post_review(conn, b"{}", ctype="text/plain")[0])
        conn.close()
        conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=60)
        conn.request("GET", sl.PATH)
        r = conn.getresponse()
        r.read()
        codes.append(r.status)
        conn.close()
        conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=60)
        conn.putrequest("POST", sl.PATH)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(1 << 20))
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        codes.append(r.status)
        conn.close()
        sl.ok(codes == [200] * 20 + [400, 404, 415, 405, 413], "requests answered", codes)
        # A connection dropped mid-body.
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), 30), server_hostname=sl.SVC)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: 5000\r\n\r\n{\"a\":" % sl.PATH).encode())
        time.sleep(0.3)
        s.close()
        sl.ok(srv.plain_get("/metrics")[0] == 200, "metrics served")
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        shutil.copy(os.path.join(other, "tls.key"), os.path.join(certs, "tls.key"))
        time.sleep(2.5)   # polled: refused (key of another certificate)
        sl.ok(any("refused" in l.get("msg", "") for l in srv.log_lines()), "a refused reload happened")
        conn = sl.SvcHTTPSConnection(srv.port, ctx, timeout=60)
        sl.ok(sl.post_review(conn, reviews[0])[0] == 200, "still serving after the refusal")
        conn.close()
    finally:
        rc = srv.stop(timeout=120)
    detail = srv.log()[-3000:]
    if os.path.exists(vlog):
        with open(vlog) as f:
            detail += "\n" + f.read()[-3000:]
    sl.ok(rc == 0, ("valgrind" if wrapper else "LeakSanitizer") +
          ": no leaks or memory errors, exit 0 (%s)" % rc, detail)
    srv.close()
    shutil.rmtree(tmp, ignore_errors=True)
    sl.done()


if __name__ == "__main__":
    main()
