#!/usr/bin/python3
"""test_server_balance - connections opened together are spread over the worker threads, and
clients beyond --max-connections wait for room instead of being reset.

Eight TCP connections are opened at once, as the API server opens its keep-alive pool under a
burst, and only then is TLS started on each; 240 reviews go round-robin over them. Every
libmicrohttpd worker thread must do a real share of the work, measured as its CPU time in
/proc/PID/task/TID/schedstat (nanoseconds): when the workers shared one listening socket, the
first to wake took all eight and the other stayed idle.

Then, with --max-connections 2, six clients connect at once and each in turn sends a review and
closes: all six get 200. The ones beyond the limit wait in the kernel's backlog until a slot
frees; none is reset (a reset was what a worker still counting a closed connection did).
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"


def worker_cpu_ns(pid):
    """{tid: CPU ns} of the server's libmicrohttpd worker threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s" % (pid, tid)
        try:
            with open(base + "/comm") as f:
                comm = f.read().strip()
            with open(base + "/schedstat") as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue
        if comm == "MHD-worker":
            out[tid] = ns
    return out


def connect_then_tls(srv, ctx, n):
    """n TCP connections first (all queued at the server together), then TLS on each."""
    raws = [socket.create_connection(("127.0.0.1", srv.port), 10) for _ in range(n)]
    conns = []
    for raw in raws:
        c = sl.SvcHTTPSConnection(srv.port, ctx, timeout=15)
        c.sock = ctx.wrap_socket(raw, server_hostname=sl.SVC)
        conns.append(c)
    return conns


def balance(certs, ctx):
    srv = sl.Server(certs, args=["--threads", "2"])
    try:
        conns = connect_then_tls(srv, ctx, 8)
        body = sl.make_review("CREATE", sl.make_host(url=IP))
        before = worker_cpu_ns(srv.proc.pid)
        statuses = [sl.post_review(conns[i % len(conns)], body)[0] for i in range(240)]
        after = worker_cpu_ns(srv.proc.pid)
        for c in conns:
            c.close()
        sl.ok(all(s == 200 for s in statuses), "240 reviews over 8 keep-alive connections: 200",
              sorted(set(statuses)))
        if not sl.ok(len(before) == 2 and set(before) == set(after), "two worker threads",
                     before):
            return
        used = {t: after[t] - before[t] for t in after}
        total = sum(used.values())
        share = min(used.values()) / total if total else 0
        sl.ok(share >= 0.2, "each worker did a real share of the work (least %.0f%%)" % (100 * share),
              used)
    finally:
        rc = srv.stop()
        sl.ok(rc == 0, "server exits 0", srv.log()[-2000:])
        srv.close()


def limit_queues(certs, ctx):
    srv = sl.Server(certs, args=["--max-connections", "2"])
    try:
        raws = [socket.create_connection(("127.0.0.1", srv.port), 10) for _ in range(6)]
        body = sl.make_review("CREATE", sl.make_host(url=IP))
        results = []
        for raw in raws:
            c = sl.SvcHTTPSConnection(srv.port, ctx, timeout=15)
            try:
                c.sock = ctx.wrap_socket(raw, server_hostname=sl.SVC)
                results.append(sl.post_review(c, body)[0])
            except OSError as e:
                results.append(repr(e))
            c.close()
        sl.ok(results == [200] * 6, "--max-connections 2, six clients at once: each gets 200 in "
              "turn", results)
        sl.ok(srv.proc.poll() is None, "server still running")
    finally:
        rc = srv.stop()
        sl.ok(rc == 0, "connection-limited server exits 0", srv.log()[-2000:])
        srv.close()


def main():
    certs = sl.make_certs(os.path.join(sl.tempdir("bmhguard-srv-bal-"), "certs"))
    ctx = sl.tls_context(os.path.join(certs, "ca.crt"))
    balance(certs, ctx)
    limit_queues(certs, ctx)
    sl.done()


if __name__ == "__main__":
    main()
