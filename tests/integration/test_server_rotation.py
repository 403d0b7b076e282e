#!/usr/bin/python3
"""test_server_rotation - certificate rotation under load, as a Kubernetes Secret volume does it.

The server reads tls.crt/tls.key through the `..data` symlink layout of a mounted Secret. While
client threads loop reviews (new connections, so every request is a handshake, plus keep-alive),
the pair is swapped twice: once by an atomic `..data` symlink swap (found by polling), once by
replacing the files and sending SIGHUP. Then an invalid pair (key of another certificate) is
swapped in: it is refused with a log line and the previous one keeps serving. Zero failed
requests; the new certificate is served after each swap; /readyz stays ready.
"""
import hashlib
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402

IP = "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"


def fingerprint_file(path):
    import ssl
    with open(path) as f:
        pem = f.read()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def secret_dir(root, name, src_crt, src_key):
    """A timestamped data dir as the kubelet's atomic writer makes them."""
    d = os.path.join(root, "..%s" % name)
    os.mkdir(d)
    shutil.copy(src_crt, os.path.join(d, "tls.crt"))
    shutil.copy(src_key, os.path.join(d, "tls.key"))
    return os.path.basename(d)


def swap_data(root, target):
    tmp = os.path.join(root, "..data_tmp")
    os.symlink(target, tmp)
    os.rename(tmp, os.path.join(root, "..data"))   # atomic, as the kubelet does


def wait_for(pred, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.1)
    return False


def main():
    tmp = sl.tempdir("bmhguard-srv-rot-")
    pairs = [sl.make_certs(os.path.join(tmp, "pair%d" % i)) for i in range(3)]
    bundle = os.path.join(tmp, "cas.crt")
    with open(bundle, "w") as out:
        for p in pairs:
            with open(os.path.join(p, "ca.crt")) as f:
                out.write(f.read())
    ctx = sl.tls_context(bundle)
    fps = [fingerprint_file(os.path.join(p, "tls.crt")) for p in pairs]

    vol = os.path.join(tmp, "secret")
    os.mkdir(vol)
    first = secret_dir(vol, "2026_11_25_10_00_00.1", os.path.join(pairs[0], "tls.crt"),
                       os.path.join(pairs[0], "tls.key"))
    os.symlink(first, os.path.join(vol, "..data"))
    for n in ("tls.crt", "tls.key"):
        os.symlink(os.path.join("..data", n), os.path.join(vol, n))

    srv = sl.Server(vol)
    stop = threading.Event()
    stats = {"ok": 0, "failed": 0, "errors": []}
    lock = threading.Lock()

    def served():
        return hashlib.sha256(sl.served_cert_der(srv.port, bundle)).hexdigest()

    def client(keepalive):
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = sl.SvcHTTPSConnection(srv.port, ctx)
                status, _ = sl.post_review(conn, sl.make_review("CREATE", sl.make_host(url=IP)))
                good = status == 200
                err = None if good else "status %d" % status
            except Exception as e:  # noqa: BLE001 - every failure counts
                good, err = False, repr(e)
            with lock:
                stats["ok" if good else "failed"] += 1
                if err and len(stats["errors"]) < 5:
                    stats["errors"].append(err)
            if not keepalive or not good:
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in (False, False, True)]
    try:
        sl.ok(served() == fps[0], "serves the first certificate at start")
        for t in threads:
            t.start()
        time.sleep(1.0)

        # Swap 1: the kubelet's ..data symlink swap; found by polling the files.
        swap_data(vol, secret_dir(vol, "2026_11_25_11_00_00.2", os.path.join(pairs[1], "tls.crt"),
                                  os.path.join(pairs[1], "tls.key")))
        sl.ok(wait_for(lambda: served() == fps[1], 5), "..data symlink swap: new certificate served")
        time.sleep(1.0)

        # Swap 2: files replaced in place (key, then certificate) and SIGHUP.
        data = os.path.realpath(os.path.join(vol, "..data"))
        for n in ("tls.key", "tls.crt"):
            shutil.copy(os.path.join(pairs[2], n), os.path.join(data, n + ".new"))
            os.rename(os.path.join(data, n + ".new"), os.path.join(data, n))
        srv.proc.send_signal(signal.SIGHUP)
        sl.ok(wait_for(lambda: served() == fps[2], 5), "files replaced + SIGHUP: new certificate served")
        time.sleep(1.0)

        # An invalid pair: pair 0's certificate with pair 1's key. Refused; pair 2 keeps serving.
        refused_before = srv.metric("bmhguard_tls_cert_reloads_total", '{result="failure"}') or 0
        bad = secret_dir(vol, "2026_11_25_12_00_00.3", os.path.join(pairs[0], "tls.crt"),
                         os.path.join(pairs[1], "tls.key"))
        swap_data(vol, bad)
        sl.ok(wait_for(lambda: (srv.metric("bmhguard_tls_cert_reloads_total", '{result="failure"}') or 0)
                       > refused_before, 5), "invalid pair refused (reload failure counted)")
        sl.ok(any(l.get("level") == "error" and "refused" in l.get("msg", "") and "does not match" in
                  l.get("error", "") for l in srv.log_lines()), "invalid pair: an error line says why")
        sl.ok(served() == fps[2], "invalid pair: the previous certificate keeps serving")
        status, _ = srv.plain_get("/readyz")
        sl.ok(status == 200, "/readyz still ready")
        time.sleep(1.0)

        # Garbage in the files: refused too.
        garbage = os.path.join(tmp, "garbage")
        os.mkdir(garbage)
        for n in ("tls.crt", "tls.key"):
            with open(os.path.join(garbage, n), "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        swap_data(vol, secret_dir(vol, "2026_11_25_13_00_00.4", os.path.join(garbage, "tls.crt"),
                                  os.path.join(garbage, "tls.key")))
        time.sleep(2.5)
        sl.ok(served() == fps[2], "garbage PEM: refused, previous certificate keeps serving")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    sl.ok(stats["failed"] == 0 and stats["ok"] > 50,
          "zero failed requests during rotation (%d ok, %d failed)" % (stats["ok"], stats["failed"]),
          stats["errors"])
    sl.ok((srv.metric("bmhguard_tls_cert_reloads_total", '{result="success"}') or 0) >= 2,
          "both swaps counted as successful reloads")
    rc = srv.stop()
    sl.ok(rc == 0, "server exits 0 on SIGTERM", srv.log()[-2000:])
    srv.close()
    shutil.rmtree(tmp, ignore_errors=True)
    sl.done()


if __name__ == "__main__":
    main()
