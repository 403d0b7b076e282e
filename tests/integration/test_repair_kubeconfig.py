#!/usr/bin/python3
"""test_repair_kubeconfig.py - `bmhguard repair` reaching the API double over real TLS on
loopback through kubeconfig variants (token, client certificate files and -data, CA file and
-data, insecure-skip-tls-verify, --context, $KUBECONFIG) and in-cluster configuration with a
service-account token that rotates mid-run. Certificates are made with the openssl CLI."""
import base64
import os
import subprocess
import tempfile
import threading
import time

from repairlib import Double, REG, done, ok, run
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)

TOKEN = "s3cret-token.abc"


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def make_certs(d):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", d + "/ca.key", "-out", d + "/ca.crt",
       "-subj", "/CN=bmhguard-test-ca", "-days", "2")
    for name, cn, ext in (("srv", "kube-double", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                           "extendedKeyUsage=serverAuth\n"),
                          ("client", "admin", "extendedKeyUsage=clientAuth\n")):
        with open(d + "/%s.ext" % name, "w") as f:
            f.write(ext)
        sh("openssl", "req", *ec, "-keyout", d + "/%s.key" % name, "-out", d + "/%s.csr" % name,
           "-subj", "/O=system:masters/CN=" + cn)
        sh("openssl", "x509", "-req", "-in", d + "/%s.csr" % name, "-CA", d + "/ca.crt",
           "-CAkey", d + "/ca.key", "-CAcreateserial", "-out", d + "/%s.crt" % name, "-days", "2",
           "-extfile", d + "/%s.ext" % name)
    # a second CA the server does not use
    sh("openssl", "req", "-x509", *ec, "-keyout", d + "/other.key", "-out", d + "/other.crt",
       "-subj", "/CN=unrelated-ca", "-days", "2")


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig(path, server, cluster, user, extra_contexts=""):
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                "clusters:\n- name: c\n  cluster:\n    server: %s\n%s"
                "- name: decoy\n  cluster:\n    server: https://127.0.0.1:1\n"
                "contexts:\n- name: test\n  context:\n    cluster: c\n    user: u\n"
                "    namespace: default\n%s"
                "users:\n- name: u\n  user:\n%s" % (server, cluster, extra_contexts, user or
                                                    "    {}\n"))
    return path


def main():
    tmp = tempfile.mkdtemp(prefix="bmhguard-kc-")
    make_certs(tmp)
    tokfile = os.path.join(tmp, "server-token")
    with open(tokfile, "w") as f:
        f.write(TOKEN + "\n")
    d = Double(tls=["--tls-cert", tmp + "/srv.crt", "--tls-key", tmp + "/srv.key",
                    "--client-ca", tmp + "/ca.crt", "--token-file", tokfile])
    try:
        d.seed([fx.host("h%d" % i, status_url=fx.OLD_URL, status_sum=fx.OLD_SUM, error_type=REG,
                        error_count=1) for i in range(2)])
        kc = os.path.join(tmp, "kubeconfig")
        ca_file = "    certificate-authority: ca.crt\n"   # relative to the kubeconfig
        ca_data = "    certificate-authority-data: %s\n" % b64(tmp + "/ca.crt")
        tok = "    token: %s\n" % TOKEN
        cert_files = "    client-certificate: %s/client.crt\n    client-key: client.key\n" % tmp
        cert_data = "    client-certificate-data: %s\n    client-key-data: %s\n" % (
            b64(tmp + "/client.crt"), b64(tmp + "/client.key"))
        cases = [
            ("token + certificate-authority file", ca_file, tok),
            ("token + certificate-authority-data", ca_data, tok),
            ("client-certificate-data/client-key-data + CA data", ca_data, cert_data),
            ("client-certificate/client-key files + CA file", ca_file, cert_files),
            ("insecure-skip-tls-verify + token", "    insecure-skip-tls-verify: true\n", tok),
        ]
        for name, cluster, user in cases:
            kubeconfig(kc, d.url, cluster, user)
            rc, out, err = run(["--kubeconfig", kc])
            ok(rc == 0 and "h0" in out and "h1" in out, "kubeconfig " + name, out + err)
        # the same through $KUBECONFIG (a missing file in the list is passed over) and --context
        kubeconfig(kc, d.url, ca_data, tok, extra_contexts="- name: wrong\n  context:\n"
                   "    cluster: decoy\n    user: u\n")
        rc, out, err = run([], env={"KUBECONFIG": kc + ":/nonexistent"})
        ok(rc == 0 and "h0" in out, "$KUBECONFIG, a missing file passed over", out + err)
        # a list kubectl would merge: the user and current-context in one file, the context and
        # its cluster (CA as a file relative to its own directory) in another
        os.makedirs(os.path.join(tmp, "split"), exist_ok=True)
        kc_user = os.path.join(tmp, "split", "user.yaml")
        kc_cluster = os.path.join(tmp, "cluster.yaml")
        with open(kc_user, "w") as f:
            f.write("current-context: test\nusers:\n- name: u\n  user:\n" + tok +
                    "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n")
        with open(kc_cluster, "w") as f:
            f.write("contexts:\n- name: test\n  context: {cluster: c2, user: u}\n"
                    "clusters:\n- name: c2\n  cluster:\n    server: %s\n%s" % (d.url, ca_file))
        rc, out, err = run([], env={"KUBECONFIG": kc_user + "::" + kc_cluster})
        ok(rc == 0 and "h0" in out and "h1" in out, "$KUBECONFIG list merged as kubectl does",
           out + err)
        rc, out, err = run(["--kubeconfig", kc, "--context", "wrong"])
        ok(rc == 2 and len(err.strip().splitlines()) == 1, "--context picks the other cluster "
           "(unreachable: exit 2, one line)", err)
        rc, out, err = run(["--kubeconfig", kc, "--context", "nosuch"])
        ok(rc == 2 and "context 'nosuch' not found" in err, "unknown --context: exit 2", err)
        # failures: one clear line, exit 2
        kubeconfig(kc, d.url, "", tok)
        rc, out, err = run(["--kubeconfig", kc])
        ok(rc == 2 and "certificate" in err.lower() and len(err.strip().splitlines()) == 1,
           "server certificate not trusted without a CA: exit 2, one line", err)
        kubeconfig(kc, d.url, "    certificate-authority: %s/other.crt\n" % tmp, tok)
        rc, out, err = run(["--kubeconfig", kc])
        ok(rc == 2 and "certificate" in err.lower(), "wrong CA: exit 2", err)
        kubeconfig(kc, d.url, ca_data, "    token: wrong\n")
        rc, out, err = run(["--kubeconfig", kc])
        ok(rc == 2 and "401" in err and "Unauthorized" in err and
           len(err.strip().splitlines()) == 1, "wrong token: exit 2, Status decoded", err)

        # in-cluster: token re-read before each request while it rotates
        sa = os.path.join(tmp, "sa")
        os.mkdir(sa)
        for n, v in (("token", TOKEN), ("namespace", "default")):
            with open(os.path.join(sa, n), "w") as f:
                f.write(v + "\n")
        sh("cp", tmp + "/ca.crt", sa + "/ca.crt")
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(d.port),
               "BMHGUARD_SERVICEACCOUNT_DIR": sa, "HOME": tmp}
        rc, out, err = run([], env=env)
        ok(rc == 0 and "h0" in out, "in-cluster service account", out + err)
        d.faults([{"kind": "stall", "method": "GET", "path": "/h0$", "seconds": 2,
                   "then": "process"}])

        def rotate():
            time.sleep(0.8)
            for p in (tokfile, os.path.join(sa, "token")):
                with open(p + ".new", "w") as f:
                    f.write("rotated-token-2\n")
                os.rename(p + ".new", p)

        t = threading.Thread(target=rotate)
        t.start()
        rc, out, err = run(["--concurrency", "1", "h0", "h1"], env=env)
        t.join()
        d.clear_faults()
        ok(rc == 0 and "h1" in out, "rotated token picked up by the next request", out + err)
        e = dict(env, BMHGUARD_SERVICEACCOUNT_DIR=os.path.join(tmp, "nosa"))
        rc, out, err = run([], env=e)
        ok(rc == 2 and "in-cluster" in err, "in-cluster without token: exit 2", err)
    finally:
        d.stop()
        subprocess.run(["rm", "-rf", tmp])
    done()


main()
