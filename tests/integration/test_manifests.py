#!/usr/bin/python3
"""test_manifests.py - render manifests/ with `kubectl kustomize` (base, every overlay, and the
static-caBundle variant through `make manifests`, every VARIANT of `make manifests` with IMAGE=, with
the repair-apply, monitoring and network-policy components) and check the deployment's invariants against
the rendered YAML and against the real binary: the webhook path and port lead to the Deployment's
--listen port through the Service, the probes hit the plain port, the RBAC verbs are exactly the
API calls `bmhguard repair` makes (observed against tests/kube_double.py), the pod's command line
runs and answers, the cert-manager overlay injects instead of carrying a caBundle, the CEL
pre-filter of the match-conditions overlay matches exactly the literal-IP hosts, installing makes no
fleet-wide write (no bare Job; the CronJob is a dry run until components/repair-apply), one image
setting reaches every container of every install path, every object carries the recommended
app.kubernetes.io/* labels, and the NetworkPolicy admits exactly the webhook and plain ports."""
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("BMHGUARD") or os.path.join(TOP, "build", "bmhguard")
BUILD = os.environ.get("BMHGUARD_BUILD") or os.path.dirname(BIN)
SANITIZED = os.environ.get("BMHGUARD_SANITIZED") == "1"
NS = "bmhguard-system"
WEBHOOK_PATH = "/mutate-metal3-io-v1alpha1-baremetalhost"
CAPM3_PATH = "/mutate-infrastructure-cluster-x-k8s-io"
IMAGE = "registry.example:5000/team/bmhguard:1.2.3"
DRY_RUN_ARGS = ["repair", "--all-namespaces", "--events"]
APPLY_ARGS = ["repair", "--all-namespaces", "--apply"]
RECOMMENDED = ("name", "instance", "version", "component", "part-of", "managed-by")
REPAIR_RULES = {("metal3.io", "baremetalhosts"): {"get", "list", "patch"},
                ("metal3.io", "baremetalhosts/status"): {"patch"},
                ("metal3.io", "dataimages"): {"get", "list", "patch"},
                ("metal3.io", "hostfirmwarecomponents"): {"get", "list", "patch"},
                ("metal3.io", "hostfirmwarecomponents/status"): {"patch"},
                ("infrastructure.cluster.x-k8s.io", "metal3machinetemplates"): {"get", "list", "patch"},
                ("infrastructure.cluster.x-k8s.io", "metal3machines"): {"get", "list", "patch"},
                ("events.k8s.io", "events"): {"create"},
                ("authorization.k8s.io", "selfsubjectaccessreviews"): {"create"}}

procs = []
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402
import testenv  # noqa: E402
ok = tap.ok
KUBECTL = "kubectl"   # main() sets the one testenv.kubectl() found


def cleanup(*_):
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(cmd, **kw)


def render(path):
    r = run([KUBECTL, "kustomize", path])
    if r.returncode != 0:
        return None, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d], r.stdout


def find(docs, kind, name=None):
    out = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    return out


def one(docs, kind, name=None):
    found = find(docs, kind, name)
    return found[0] if len(found) == 1 else None


def flag_map(args):
    """['serve', '--listen', ':8443', '--x=y'] -> {'--listen': ':8443', '--x': 'y'}."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            out[k] = v
        elif a.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[a] = args[i + 1]
            i += 1
        elif a.startswith("--"):
            out[a] = True
        i += 1
    return out


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def help_flags(sub):
    r = run([BIN, sub, "--help"])
    return set(re.findall(r"--[a-z][a-z-]*", r.stdout)), r.stdout


def pod_spec(obj):
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def check_security(obj, label):
    spec = pod_spec(obj)
    psc = spec.get("securityContext", {})
    ok(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532,
       f"{label}: pod runs as non-root UID 65532", psc)
    ok(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: pod seccomp RuntimeDefault", psc)
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        ok(sc.get("readOnlyRootFilesystem") is True, f"{label}/{c['name']}: readOnlyRootFilesystem", sc)
        ok(sc.get("allowPrivilegeEscalation") is False, f"{label}/{c['name']}: no privilege escalation", sc)
        ok(sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc.get("capabilities", {}).get("add"),
           f"{label}/{c['name']}: capabilities drop ALL, add none", sc)
        ok(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
           f"{label}/{c['name']}: container seccomp RuntimeDefault", sc)
        ok(sc.get("runAsNonRoot") is True and sc.get("runAsUser", 65532) == 65532,
           f"{label}/{c['name']}: container non-root", sc)
        if not images_seen:
            images_seen.append(c.get("image"))
        ok(c.get("image") == images_seen[0], f"{label}/{c['name']}: same image as the others ({c.get('image')})")


images_seen = []


def check_common(docs, label, serve_flags, repair_flags):
    """The invariants every variant must keep; returns the facts later checks need."""
    facts = {}
    ok(one(docs, "Namespace", NS) is not None, f"{label}: Namespace {NS}")
    dep = one(docs, "Deployment", "bmhguard")
    svc = one(docs, "Service", "bmhguard")
    mwc = one(docs, "MutatingWebhookConfiguration", "bmhguard")
    if not (ok(dep and svc and mwc, f"{label}: Deployment, Service, MutatingWebhookConfiguration present")):
        return facts
    ok(dep["metadata"]["namespace"] == NS and svc["metadata"]["namespace"] == NS, f"{label}: both in {NS}")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    ok(spec.get("replicas") == 2, f"{label}: 2 replicas")
    tsc = pod.get("topologySpreadConstraints", [])
    ok(any(t.get("topologyKey") == "kubernetes.io/hostname" and
           t.get("labelSelector", {}).get("matchLabels", {}).items() <= spec["template"]["metadata"]["labels"].items()
           for t in tsc), f"{label}: topologySpreadConstraints spread the pods across nodes", tsc)
    c = pod["containers"][0]
    args = c.get("args", [])
    ok(c.get("command") is None and args[:1] == ["serve"], f"{label}: container runs the entrypoint with 'serve'", args)
    fl = flag_map(args)
    unknown = sorted(set(fl) - serve_flags)
    ok(not unknown, f"{label}: every server flag in the Deployment is one `bmhguard serve --help` documents",
       unknown)
    ok({"--listen", "--plain-listen", "--tls-cert", "--tls-key"} <= set(fl), f"{label}: server flags present", fl)
    listen, plain = port_of(fl.get("--listen", ":0")), port_of(fl.get("--plain-listen", ":0"))
    facts.update(args=args, listen=listen, plain=plain, dep=dep, svc=svc, mwc=mwc)

    # Service 443 -> targetPort == --listen, selecting the Deployment's pods
    sp = [p for p in svc["spec"]["ports"] if p["port"] == 443]
    ok(len(sp) == 1 and resolve_port(c, sp[0].get("targetPort")) == listen == 8443,
       f"{label}: Service 443 -> targetPort {listen} (== --listen)", svc["spec"]["ports"])
    ok(svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items(),
       f"{label}: Service selects the Deployment's pods")
    ok(resolve_port(c, 8443) in [p["containerPort"] for p in c.get("ports", [])], f"{label}: container declares 8443")

    # Probes on the plain port
    rp, lp = c.get("readinessProbe", {}).get("httpGet", {}), c.get("livenessProbe", {}).get("httpGet", {})
    ok(rp.get("path") == "/readyz" and resolve_port(c, rp.get("port")) == plain == 8080 and
       rp.get("scheme", "HTTP") == "HTTP", f"{label}: readiness GET /readyz on the plain port {plain}", rp)
    ok(lp.get("path") == "/healthz" and resolve_port(c, lp.get("port")) == plain and lp.get("scheme", "HTTP") == "HTTP",
       f"{label}: liveness GET /healthz on the plain port", lp)

    # Resources from the benchmark's RSS
    res = c.get("resources", {})
    ok(res.get("requests") == {"cpu": "50m", "memory": "32Mi"} and res.get("limits") == {"cpu": "500m", "memory": "256Mi"},
       f"{label}: requests 50m/32Mi, limits 500m/256Mi", res)

    # Certificate Secret mounted read-only at the --tls-cert/--tls-key directory
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    certdir = os.path.dirname(fl.get("--tls-cert", ""))
    tls_m = [m for m in mounts.values() if m["mountPath"].rstrip("/") == certdir]
    ok(len(tls_m) == 1 and tls_m[0].get("readOnly") is True and "subPath" not in tls_m[0] and
       os.path.dirname(fl.get("--tls-key", "")) == certdir,
       f"{label}: certificate directory {certdir} mounted read-only, no subPath (reload works)", mounts)
    secret = vols.get(tls_m[0]["name"], {}).get("secret", {}) if tls_m else {}
    ok(secret.get("secretName") == "bmhguard-tls", f"{label}: mount is Secret bmhguard-tls", secret)
    facts["certdir"] = certdir

    # No API access for the server
    sa = one(docs, "ServiceAccount", pod.get("serviceAccountName"))
    ok(sa is not None and sa.get("automountServiceAccountToken") is False and
       pod.get("automountServiceAccountToken") is False, f"{label}: server ServiceAccount has no token mounted")
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in find(docs, kind):
            ok(all(s.get("name") != pod.get("serviceAccountName") for s in b.get("subjects", [])),
               f"{label}: {kind} {b['metadata']['name']} does not bind the server's ServiceAccount")
    check_security(dep, f"{label} Deployment")

    pdb = one(docs, "PodDisruptionBudget", "bmhguard")
    ok(pdb and pdb["spec"].get("minAvailable") == 1 and
       pdb["spec"]["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(),
       f"{label}: PodDisruptionBudget minAvailable 1 over the webhook pods")

    # The webhook
    whs = mwc["webhooks"]
    ok(len(whs) == 2, f"{label}: two webhooks, one per API group")
    wh = whs[0]
    # The CAPM3 entry: its own group, path and rules, every other setting as the metal3.io one's.
    capm3 = whs[1] if len(whs) > 1 else {}
    ok(capm3.get("clientConfig", {}).get("service", {}).get("path") == CAPM3_PATH and
       capm3["clientConfig"]["service"]["name"] == wh["clientConfig"]["service"]["name"] and
       capm3["clientConfig"].get("caBundle") == wh["clientConfig"].get("caBundle"),
       f"{label}: CAPM3 webhook path {CAPM3_PATH}, same Service and caBundle", capm3.get("clientConfig"))
    ok(capm3.get("rules") == [{"apiGroups": ["infrastructure.cluster.x-k8s.io"], "apiVersions": ["v1beta1", "v1beta2"],
                               "operations": ["CREATE", "UPDATE"],
                               "resources": ["metal3machines", "metal3machinetemplates"], "scope": "Namespaced"}],
       f"{label}: CAPM3 rule metal3machines, metal3machinetemplates v1beta1 v1beta2 CREATE UPDATE", capm3.get("rules"))
    ok({k: v for k, v in capm3.items() if k not in ("name", "clientConfig", "rules", "matchConditions")} ==
       {k: v for k, v in wh.items() if k not in ("name", "clientConfig", "rules", "matchConditions")},
       f"{label}: CAPM3 webhook's other settings as the metal3.io one's")
    cc = wh["clientConfig"]
    ok("url" not in cc and cc["service"]["name"] == svc["metadata"]["name"] and
       cc["service"]["namespace"] == svc["metadata"]["namespace"] and cc["service"].get("port", 443) == sp[0]["port"],
       f"{label}: webhook calls Service {cc['service']['name']}.{cc['service']['namespace']}:{cc['service'].get('port')}")
    ok(cc["service"].get("path") == WEBHOOK_PATH, f"{label}: webhook path {WEBHOOK_PATH}", cc)
    ok(wh.get("admissionReviewVersions") == ["v1"], f"{label}: admissionReviewVersions [v1]")
    ok(wh.get("sideEffects") == "None", f"{label}: sideEffects None")
    ok(wh.get("timeoutSeconds") == 5, f"{label}: timeoutSeconds 5")
    ok(wh.get("reinvocationPolicy") == "IfNeeded", f"{label}: reinvocationPolicy IfNeeded")
    ok(wh.get("failurePolicy") == "Ignore", f"{label}: failurePolicy Ignore")
    rules = wh.get("rules", [])
    ok(len(rules) == 1 and rules[0]["apiGroups"] == ["metal3.io"] and rules[0]["apiVersions"] == ["v1alpha1"] and
       sorted(rules[0]["operations"]) == ["CREATE", "UPDATE"] and
       rules[0]["resources"] == ["baremetalhosts", "dataimages", "hostfirmwarecomponents"],
       f"{label}: rule metal3.io/v1alpha1 baremetalhosts dataimages hostfirmwarecomponents CREATE UPDATE "
       "(no subresources)", rules)
    sel = wh.get("namespaceSelector", {}).get("matchExpressions", [])
    ok(any(e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn" and
           {"kube-system", NS} <= set(e["values"]) for e in sel),
       f"{label}: namespaceSelector leaves out kube-system and {NS}", sel)

    # RBAC for repair
    roles = find(docs, "ClusterRole") + find(docs, "Role")
    ok(len(roles) == 1 and roles[0]["metadata"]["name"] == "bmhguard-repair", f"{label}: one role, bmhguard-repair",
       [r["metadata"]["name"] for r in roles])
    got = {}
    for r in (roles[0].get("rules", []) if roles else []):
        ok(not r.get("resourceNames") and not r.get("nonResourceURLs"), f"{label}: role rule is plain")
        for g in r.get("apiGroups", []):
            for res_ in r.get("resources", []):
                got.setdefault((g, res_), set()).update(r.get("verbs", []))
    ok(got == REPAIR_RULES, f"{label}: ClusterRole verbs are exactly get, list, patch on baremetalhosts, "
       "dataimages, hostfirmwarecomponents, metal3machinetemplates, metal3machines; patch on "
       "baremetalhosts/status and hostfirmwarecomponents/status; create on events and "
       "selfsubjectaccessreviews", got)
    facts["role_rules"] = got
    binds = find(docs, "ClusterRoleBinding")
    ok(len(binds) == 1 and binds[0]["roleRef"]["name"] == "bmhguard-repair" and
       binds[0]["subjects"] == [{"kind": "ServiceAccount", "name": "bmhguard-repair", "namespace": NS}],
       f"{label}: ClusterRoleBinding binds only ServiceAccount {NS}/bmhguard-repair")

    # No bare Job (applying must not start a fleet-wide pass, and a Job's template is immutable,
    # so the next upgrade's apply would fail); the CronJob is a dry run unless repair-apply is in.
    ok(not find(docs, "Job"), f"{label}: no bare Job", [j["metadata"]["name"] for j in find(docs, "Job")])
    cj = one(docs, "CronJob", "bmhguard-repair")
    if ok(cj is not None, f"{label}: repair CronJob present"):
        ps = pod_spec(cj)
        want = APPLY_ARGS if "repair-apply" in label else DRY_RUN_ARGS
        ok(ps["containers"][0].get("args") == want and ps["containers"][0].get("command") is None,
           f"{label}: CronJob runs `bmhguard {' '.join(want[1:])}`", ps["containers"][0].get("args"))
        ok(set(flag_map(ps["containers"][0]["args"])) <= repair_flags, f"{label}: CronJob flags are repair's")
        ok(ps.get("serviceAccountName") == "bmhguard-repair", f"{label}: CronJob runs as bmhguard-repair")
        ok(ps.get("restartPolicy") == "Never", f"{label}: CronJob restartPolicy Never (pod failure policy)")
        pfp = cj["spec"]["jobTemplate"]["spec"].get("podFailurePolicy", {}).get("rules", [])
        ok(any(r.get("action") == "FailJob" and r.get("onExitCodes", {}).get("operator") == "In" and
               r["onExitCodes"].get("values") == [1] and r["onExitCodes"].get("containerName") ==
               ps["containers"][0]["name"] for r in pfp),
           f"{label}: exit 1 (hosts held or needing a human) fails the Job at once, not retried", pfp)
        check_security(cj, f"{label} CronJob")
        fields = cj["spec"]["schedule"].split()
        ok(len(fields) == 5 and fields[0].isdigit() and int(fields[0]) < 60 and fields[1:] == ["*"] * 4,
           f"{label}: CronJob hourly ({cj['spec']['schedule']})")
        ok(cj["spec"].get("concurrencyPolicy") == "Forbid", f"{label}: CronJob concurrencyPolicy Forbid")
        facts["repair_args"] = ps["containers"][0]["args"]

    # The metrics port on the Service, for a ServiceMonitor.
    mp = [p for p in svc["spec"]["ports"] if p.get("name") == "metrics"]
    ok(len(mp) == 1 and mp[0]["port"] == 8080 and resolve_port(c, mp[0].get("targetPort")) == plain,
       f"{label}: Service port `metrics` 8080 -> the plain port {plain}", svc["spec"]["ports"])

    # The recommended labels on every object (name, instance, version, component, part-of,
    # managed-by), never in a selector; version only where components/release is in.
    need = [k for k in RECOMMENDED if k != "version" or label != "base"]
    for d in docs:
        lb = d["metadata"].get("labels", {})
        missing = [k for k in need if not lb.get("app.kubernetes.io/" + k)]
        ok(not missing and lb.get("app.kubernetes.io/name") == "bmhguard" and
           lb.get("app.kubernetes.io/part-of") == "bmhguard",
           f"{label}: {d['kind']} {d['metadata']['name']} has the recommended labels", missing or lb)
    for obj in (dep, cj):
        if obj:
            tl = (obj["spec"]["template"] if obj["kind"] == "Deployment" else
                  obj["spec"]["jobTemplate"]["spec"]["template"])["metadata"].get("labels", {})
            ok(not [k for k in need if not tl.get("app.kubernetes.io/" + k)],
               f"{label}: {obj['kind']} pods carry the recommended labels", tl)
    ok(spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "bmhguard",
                                           "app.kubernetes.io/component": "webhook"},
       f"{label}: the Deployment's selector (immutable) is only name and component", spec["selector"])
    versions = {d["metadata"].get("labels", {}).get("app.kubernetes.io/version") for d in docs}
    if label != "base":
        tag = c["image"].rsplit("/", 1)[-1].partition(":")[2] or "latest"
        ok(versions == {tag}, f"{label}: app.kubernetes.io/version is the image's tag ({tag}) everywhere",
           versions)
    facts["ca_bundle"] = cc.get("caBundle")
    facts["annotations"] = mwc["metadata"].get("annotations", {})
    facts["webhook"] = wh
    facts["webhook_capm3"] = capm3
    return facts


def check_network_policy(docs, facts, label, expected):
    """components/network-policy: the webhook pods admit the API server on the webhook port from
    anywhere (it is not a pod) and scrapers on the plain port, which is also the probes' port;
    nothing else."""
    nps = find(docs, "NetworkPolicy")
    if not expected:
        ok(not nps, f"{label}: no NetworkPolicy unless asked for")
        return
    if not ok(len(nps) == 1, f"{label}: one NetworkPolicy", [n["metadata"]["name"] for n in nps]):
        return
    np_, dep = nps[0], facts["dep"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    ok(np_["metadata"].get("namespace") == NS, f"{label}: NetworkPolicy in {NS}")
    ok(np_["spec"]["podSelector"].get("matchLabels", {}).items() <= dep["spec"]["template"]["metadata"]["labels"].items()
       and np_["spec"]["podSelector"]["matchLabels"], f"{label}: NetworkPolicy selects the webhook pods")
    cj = one(docs, "CronJob", "bmhguard-repair")
    if cj:
        jl = cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        ok(not np_["spec"]["podSelector"]["matchLabels"].items() <= jl.items(),
           f"{label}: NetworkPolicy leaves the repair pods (they need the API server) alone")
    ok(np_["spec"].get("policyTypes") == ["Ingress"], f"{label}: NetworkPolicy restricts ingress", np_["spec"])
    ports = {}
    for rule in np_["spec"].get("ingress", []):
        for p in rule.get("ports", []):
            ports.setdefault(resolve_port(c, p.get("port")), []).append(rule.get("from"))
    ok(set(ports) == {facts["listen"], facts["plain"]},
       f"{label}: NetworkPolicy opens only --listen {facts['listen']} and --plain-listen {facts['plain']}", ports)
    hook = [f for f in ports.get(facts["listen"], [])]
    ok(hook and all(f and {b.get("ipBlock", {}).get("cidr") for b in f} >= {"0.0.0.0/0", "::/0"} for f in hook),
       f"{label}: the webhook port admits the API server from any address (IPv4 and IPv6)", hook)
    plain = ports.get(facts["plain"], [])
    ok(plain and all(f and all("namespaceSelector" in b or "ipBlock" in b for b in f) for f in plain),
       f"{label}: the plain port admits scrapers by namespace", plain)
    rp = c.get("readinessProbe", {}).get("httpGet", {}).get("port")
    lp = c.get("livenessProbe", {}).get("httpGet", {}).get("port")
    mp = [p for p in facts["svc"]["spec"]["ports"] if p.get("name") == "metrics"]
    ok(resolve_port(c, rp) == resolve_port(c, lp) == facts["plain"] and mp and
       resolve_port(c, mp[0]["targetPort"]) == facts["plain"],
       f"{label}: probes and the metrics port are the port the NetworkPolicy opens to scrapers")


def check_cert_manager(docs, facts, label):
    ann = facts.get("annotations", {}).get("cert-manager.io/inject-ca-from", "")
    ok(ann == f"{NS}/bmhguard-tls", f"{label}: cainjector annotation inject-ca-from {NS}/bmhguard-tls", ann)
    ok(facts.get("ca_bundle") is None, f"{label}: no static caBundle")
    cert = one(docs, "Certificate", "bmhguard-tls")
    if not ok(cert is not None, f"{label}: Certificate bmhguard-tls"):
        return
    ok(cert["metadata"]["namespace"] == NS and cert["spec"]["secretName"] == "bmhguard-tls",
       f"{label}: Certificate writes the Secret the Deployment mounts")
    names = {f"bmhguard.{NS}.svc", f"bmhguard.{NS}.svc.cluster.local", f"bmhguard.{NS}", "bmhguard"}
    ok(names <= set(cert["spec"].get("dnsNames", [])), f"{label}: Certificate names the Service", cert["spec"])
    ok("server auth" in cert["spec"].get("usages", []), f"{label}: Certificate usage server auth")
    issuers = {i["metadata"]["name"]: i for i in find(docs, "Issuer")}
    ca_issuer = issuers.get(cert["spec"]["issuerRef"]["name"])
    ok(ca_issuer is not None and "ca" in ca_issuer["spec"], f"{label}: serving Certificate issued by a CA Issuer")
    if ca_issuer:
        ca_cert = [c for c in find(docs, "Certificate") if c["spec"]["secretName"] == ca_issuer["spec"]["ca"]["secretName"]]
        ok(len(ca_cert) == 1 and ca_cert[0]["spec"].get("isCA") is True and
           "selfSigned" in issuers.get(ca_cert[0]["spec"]["issuerRef"]["name"], {}).get("spec", {}),
           f"{label}: the CA Issuer's CA comes from a self-signed Issuer")
    for d in find(docs, "Issuer") + find(docs, "Certificate"):
        ok(d["metadata"].get("namespace") == NS, f"{label}: {d['kind']} {d['metadata']['name']} in {NS}")


# Image URLs: (url, host is a literal IP), the pre-filter must call exactly for the True ones.
CEL_URLS = [
    ("http://172.22.0.1/images/rhcos.qcow2", True),
    ("http://10.10.10.10:6180/images/a.qcow2", True),
    ("https://[fd00::1]/images/a.qcow2", True),
    ("http://[fd00:1::5]:6180/a", True),
    ("HTTP://user:pw@192.168.111.1/x", True),
    ("http://0x0a.0.0.1/x", True),
    ("http://167772161/x", True),
    ("  http://10.0.0.1/x", True),
    ("http://httpd-http/images/rhcos.qcow2", False),
    ("http://httpd-http:6180/images/10.0.0.1.qcow2", False),
    ("https://example.com/10.0.0.1", False),
    ("http://a@example.com/@10.0.0.1", False),
    ("http://ironic-1.example/x?ip=10.0.0.1", False),
    ("", False),
]


def cel_regexes(expr):
    return re.findall(r"r'((?:[^'\\]|\\.)*)'", expr)


def check_match_conditions(facts, label):
    mcs = facts.get("webhook", {}).get("matchConditions", [])
    if not ok(len(mcs) >= 1 and all(m.get("name") and m.get("expression") for m in mcs),
              f"{label}: matchConditions present", mcs):
        return
    expr = " ".join(m["expression"] for m in mcs)
    for field in ("object.spec.image.url", "object.spec.image.checksum", "'baremetalhost.metal3.io/status'",
                  "object.spec.url", "object.spec.updates"):
        ok(field in expr, f"{label}: CEL expression considers {field}")
    cmcs = facts.get("webhook_capm3", {}).get("matchConditions", [])
    cexpr = " ".join(m.get("expression", "") for m in cmcs)
    for field in ("object.spec.template.spec.image.url", "object.spec.template.spec.image.checksum",
                  "object.spec.image.url", "object.spec.image.checksum"):
        ok(field in cexpr, f"{label}: CAPM3 CEL expression considers {field}")
    ok([m.get("name") for m in cmcs] == [m["name"] for m in mcs] and cmcs[-1] == mcs[-1],
       f"{label}: CAPM3 entry has the same conditions, opt-out included", cmcs)
    cres = cel_regexes(cexpr)
    ok(len(cres) == 4 and len(set(cres)) == 1, f"{label}: CAPM3 patterns are the spec url pattern", cres)
    ok("oldObject" not in expr and "request.operation" not in expr,
       f"{label}: CEL decides on the object being written, for CREATE and UPDATE alike")
    ok(sorted(facts["webhook"]["rules"][0]["operations"]) == ["CREATE", "UPDATE"], f"{label}: still CREATE and UPDATE")
    res = cel_regexes(expr)
    ok(len(res) == 5, f"{label}: five patterns (spec url, spec checksum, status annotation, "
       "DataImage url, firmware url)", res)
    if len(res) != 5:
        return
    spec_re, ann_re = re.compile(res[0]), re.compile(res[2])
    ok(res[0] == res[1] == res[3] == res[4], f"{label}: every url and checksum uses the same pattern")
    ok(cres[:1] == res[:1], f"{label}: the CAPM3 entry uses the same pattern")
    for url, literal in CEL_URLS:
        ok(bool(spec_re.search(url)) == literal, f"{label}: spec pattern {'matches' if literal else 'skips'} {url!r}")
        ann = json.dumps({"provisioning": {"state": "provisioned", "image": {"url": url, "checksum": "x"}}})
        ok(bool(ann_re.search(ann)) == literal,
           f"{label}: annotation pattern {'matches' if literal else 'skips'} {url!r}")
    # Escaped slashes are valid JSON too.
    ok(ann_re.search('{"provisioning":{"image":{"url":"http:\\/\\/10.0.0.1\\/x"}}}') is not None,
       f"{label}: annotation pattern copes with JSON-escaped slashes")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def check_pod_command(facts, ca_pem, pairdir, label):
    """Run the Deployment's command line here (addresses on loopback, the Secret's files at the mount's
    place) and talk to it the way the kubelet and the API server would."""
    help_rc = run([BIN, "serve", "--help"]).returncode
    if help_rc != 0:
        print(f"ok - {label}: the pod's command line answers # SKIP bmhguard serve is not available")
        return
    args = list(facts["args"])
    for attempt in range(5):
        p1, p2 = free_port(), free_port()
        a = []
        i = 0
        while i < len(args):
            k = args[i]
            v = args[i + 1] if i + 1 < len(args) else None
            if k in ("--listen", "--plain-listen"):
                a += [k, "127.0.0.1:%d" % (p1 if k == "--listen" else p2)]
                i += 2
            elif k in ("--tls-cert", "--tls-key"):
                a += [k, os.path.join(pairdir, os.path.relpath(v, facts["certdir"]))]
                i += 2
            else:
                a.append(k)
                i += 1
        proc = subprocess.Popen([BIN] + a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        deadline = time.time() + (20 if SANITIZED else 8)
        ready = None
        while time.time() < deadline and proc.poll() is None:
            ready = http_get("http://127.0.0.1:%d/readyz" % p2)
            if ready == 200:
                break
            time.sleep(0.1)
        if ready == 200:
            break
        proc.terminate()
        proc.wait(5)
    if not ok(ready == 200, f"{label}: readinessProbe path answers 200 on the plain port", a):
        return
    ok(http_get("http://127.0.0.1:%d/healthz" % p2) == 200, f"{label}: livenessProbe path answers 200")
    # The API server's call: TLS to the Service name with caBundle as the only trust root.
    wh = facts["webhook"]["clientConfig"]["service"]
    host = "%s.%s.svc" % (wh["name"], wh["namespace"])
    ctx = ssl.create_default_context(cadata=ca_pem)
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "3b1f0000-0000-4000-8000-00000000abcd",
        "kind": {"group": "metal3.io", "version": "v1alpha1", "kind": "BareMetalHost"},
        "resource": {"group": "metal3.io", "version": "v1alpha1", "resource": "baremetalhosts"},
        "name": "worker-0", "namespace": "metal3", "operation": "CREATE",
        "object": {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                   "metadata": {"name": "worker-0", "namespace": "metal3"},
                   "spec": {"online": True, "image": {"url": "http://172.22.0.1/images/rhcos.qcow2",
                                                      "checksum": "97830b21ed272a3d854615beb54cf004"}}}}}
    body = json.dumps(review).encode()
    try:
        with socket.create_connection(("127.0.0.1", p1), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                req = (f"POST {wh['path']} HTTP/1.1\r\nHost: {host}:{wh.get('port', 443)}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
                s.sendall(req.encode() + body)
                resp = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    resp += chunk
        head, _, payload = resp.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1].decode()
        ok(status == "200", f"{label}: POST {wh['path']} over TLS to {host} verified by caBundle: 200", head[:200])
        if b"transfer-encoding: chunked" in head.lower():
            print(f"# {label}: chunked answer not decoded", flush=True)
        else:
            ans = json.loads(payload)
            resp_ = ans.get("response", {})
            ok(resp_.get("uid") == review["request"]["uid"] and resp_.get("allowed") is True,
               f"{label}: the answer is an AdmissionReview for our uid", payload[:300])
            patch = json.loads(base64.b64decode(resp_.get("patch", "W10="))) if resp_.get("patch") else []
            ok(any(p.get("path") == "/spec/image/url" and "httpd-http" in p.get("value", "") for p in patch),
               f"{label}: and it rewrites the literal-IP image url", patch)
    except Exception as e:  # noqa: BLE001 - any failure here is the finding
        ok(False, f"{label}: POST {wh['path']} over TLS to {host} verified by caBundle", repr(e))
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    ok(rc == 0, f"{label}: the pod's process stops cleanly on SIGTERM (rc {rc})")


def observed_repair_calls(tmp):
    """Run the Job's command line against the API server double; map each request to its RBAC
    (verb, resource)."""
    if run([BIN, "repair", "--help"]).returncode != 0:
        return None
    dbl = subprocess.Popen([sys.executable, os.path.join(TOP, "tests", "kube_double.py"), "--gen", "60",
                            "--gen-with", "dataimages,hostfirmwarecomponents,metal3machines,"
                            "metal3machinetemplates", "--tick", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(dbl)
    line = dbl.stdout.readline().split()
    if len(line) != 2 or line[0] != "listening":
        return None
    server = "http://127.0.0.1:%s" % line[1]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = tmp
    # The generated data images are attached (left to a human); one is not, so it is patched.
    seed = {"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
        "metadata": {"name": "detached-0", "namespace": "default"},
        "spec": {"url": "http://10.10.10.10/images/config-drive.iso"}}]}
    req = urllib.request.Request(server + "/_double/seed", data=json.dumps(seed).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()
    # The CronJob's two command lines: the default dry run (Events only), then components/repair-apply's.
    r0 = run([BIN] + DRY_RUN_ARGS + ["--server", server], env=env, timeout=120)
    r1 = run([BIN] + APPLY_ARGS + ["--server", server], env=env, timeout=120)
    if r0.returncode not in (0, 1):
        r1 = r0
    # and by name, as an operator would run it by hand, one kind at a time
    r2 = None
    for res in ("baremetalhosts", "dataimages", "hostfirmwarecomponents", "metal3machines",
                "metal3machinetemplates"):
        with urllib.request.urlopen(server + "/_double/objects?resource=" + res, timeout=10) as r:
            items = json.load(r)["items"]
        if not items:
            continue
        first = items[0]["metadata"]
        rn = run([BIN, "repair", "--apply", "-n", first["namespace"], "--server", server, "--kinds", res,
                  first["name"]], env=env, timeout=120)
        if r2 is None or rn.returncode not in (0, 1):
            r2 = rn
    with urllib.request.urlopen(server + "/_double/log?bodies=0", timeout=10) as r:
        log = json.load(r)
    calls = {}
    for e in log["entries"]:
        m = re.match(r"^/apis/(metal3\.io|infrastructure\.cluster\.x-k8s\.io)/v1\w+(?:/namespaces/[^/]+)?/"
                     r"(baremetalhosts|dataimages|hostfirmwarecomponents|metal3machines|metal3machinetemplates)"
                     r"(?:/([^/]+)(/status)?)?$", e["path"])
        other = re.match(r"^/apis/(events\.k8s\.io|authorization\.k8s\.io)/v1(?:/namespaces/[^/]+)?/"
                         r"(events|selfsubjectaccessreviews)$", e["path"])
        if other and e["method"] == "POST":
            calls.setdefault((other.group(1), other.group(2)), set()).add("create")
            continue
        if re.match(r"^/apis/[^/]+/[^/]+$", e["path"]) and e["method"] == "GET":
            continue   # discovery: a non-resource URL every authenticated user may read
        if not m:
            calls.setdefault(("?", e["path"]), set()).add(e["method"])
            continue
        named, status = m.group(3), m.group(4)
        verb = {"GET": "get" if named else "list", "PATCH": "patch", "PUT": "update", "POST": "create",
                "DELETE": "delete"}.get(e["method"], e["method"])
        if "watch=" in (e.get("query") or ""):
            verb = "watch"
        calls.setdefault((m.group(1), m.group(2) + ("/status" if status else "")), set()).add(verb)
    return calls, r1, r2, len(log["entries"])


def main():
    global images_seen, KUBECTL
    KUBECTL, why = testenv.kubectl()
    if KUBECTL is None:
        print("ok - kubectl kustomize renders manifests/ # SKIP " + why)
        return 0
    tmp = tempfile.mkdtemp(prefix="test_manifests.")
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        serve_flags, serve_help = help_flags("serve")
        repair_flags, _ = help_flags("repair")
        if not serve_flags:  # the server not in this build: fall back to the agreed interface
            serve_flags = {"--listen", "--plain-listen", "--tls-cert", "--tls-key", "--threads", "--max-body",
                           "--idle-timeout", "--max-connections", "--grace-period", "--log-level",
                           "--target-host", "--match-cidr", "--path-prefix", "--mode"}
        else:
            ok(WEBHOOK_PATH in serve_help, "bmhguard serve --help names the webhook path the manifests use")

        variants = {}
        for name in ("base", "overlays/cert-manager", "overlays/match-conditions"):
            docs, out = render(os.path.join(TOP, "manifests", name))
            if ok(docs is not None, f"kubectl kustomize manifests/{name} renders", out):
                variants[name] = docs

        # The static variant, exactly as an operator makes it: bmhguard certs + make manifests.
        certdir = os.path.join(tmp, "certs")
        r = run([BIN, "certs", "--service", "bmhguard", "--namespace", NS, "--out", certdir])
        ok(r.returncode == 0, "bmhguard certs makes the pair for the static variant", r.stderr)
        def make_manifests(label, *extra):
            out = os.path.join(tmp, "m%d.yaml" % len(variants))
            r = run(["make", "-C", TOP, "--no-print-directory", "BMHGUARD_BIN=" + os.path.abspath(BIN),
                     "KUBECTL=" + KUBECTL, "MANIFESTS_WORK=" + os.path.join(tmp, "work"),
                     "CERTS_DIR=" + certdir, "MANIFESTS_OUT=" + out, "IMAGE=" + IMAGE, "manifests"] + list(extra),
                    timeout=120)
            if ok(r.returncode == 0 and os.path.exists(out), f"{label} renders", r.stdout + r.stderr):
                if "cert-manager" not in label and "VARIANT=match" not in label:
                    ok(os.stat(out).st_mode & 0o077 == 0, f"{label}: output (holds the key) is not group/world readable")
                with open(out) as f:
                    variants[label] = [d for d in yaml.safe_load_all(f) if d]

        # Every install path with one image setting: IMAGE= for each VARIANT of make manifests.
        make_manifests("make manifests")
        make_manifests("make manifests MATCH_CONDITIONS=1", "MATCH_CONDITIONS=1")
        make_manifests("make manifests VARIANT=cert-manager", "VARIANT=cert-manager")
        make_manifests("make manifests VARIANT=match-conditions", "VARIANT=match-conditions")
        make_manifests("make manifests VARIANT=cert-manager REPAIR_APPLY=1 MONITORING=1 NETWORK_POLICY=1 (repair-apply)",
                       "VARIANT=cert-manager", "REPAIR_APPLY=1", "MONITORING=1", "NETWORK_POLICY=1")
        r = run(["make", "-C", TOP, "--no-print-directory", "BMHGUARD_BIN=" + os.path.abspath(BIN),
                 "KUBECTL=" + KUBECTL, "MANIFESTS_WORK=" + os.path.join(tmp, "work"), "CERTS_DIR=" + certdir,
                 "MANIFESTS_OUT=" + os.path.join(tmp, "bad.yaml"), "VARIANT=helm", "manifests"], timeout=60)
        ok(r.returncode == 2 and "VARIANT=helm" in r.stderr, "make manifests refuses an unknown VARIANT", r.stderr)
        # ... and for kubectl apply -k: the overlays take theirs from components/release, the one
        # place to edit. A copy of manifests/ with it edited must reach every container of both.
        mcopy = os.path.join(tmp, "manifests-copy")
        shutil.copytree(os.path.join(TOP, "manifests"), mcopy)
        rel = os.path.join(mcopy, "components", "release", "kustomization.yaml")
        with open(rel) as f:
            text = f.read()
        name, tag = IMAGE.rsplit(":", 1)
        text2 = re.sub(r"(?m)^(  newName:).*$", r"\1 " + name, text)
        text2 = re.sub(r"(?m)^(  newTag:).*$", r'\1 "%s"' % tag, text2)
        text2 = re.sub(r"(?m)^(    app.kubernetes.io/version:).*$", r'\1 "%s"' % tag, text2)
        ok(text2.count(name) == 1 and text2.count('"%s"' % tag) == 2,
           "components/release holds the image name, tag and version label once each")
        with open(rel, "w") as f:
            f.write(text2)
        for ov in ("cert-manager", "match-conditions"):
            docs, out = render(os.path.join(mcopy, "overlays", ov))
            if ok(docs is not None, f"overlays/{ov} with components/release edited renders", out):
                variants[f"overlays/{ov} (image from components/release)"] = docs

        # Rotation without a gap: the old CA rides along in ca.crt and so in caBundle.
        old = os.path.join(tmp, "old")
        run([BIN, "certs", "--service", "bmhguard", "--namespace", NS, "--out", old])
        out = os.path.join(tmp, "rotating.yaml")
        r = run(["make", "-C", TOP, "--no-print-directory", "BMHGUARD_BIN=" + os.path.abspath(BIN),
                     "KUBECTL=" + KUBECTL, "MANIFESTS_WORK=" + os.path.join(tmp, "work"),
                     "CERTS_DIR=" + certdir, "MANIFESTS_OUT=" + out, "CA_EXTRA=" + os.path.join(old, "ca.crt"),
                 "manifests"], timeout=120)
        if ok(r.returncode == 0, "make manifests CA_EXTRA=old/ca.crt renders", r.stdout + r.stderr):
            with open(out) as f:
                mwc = one([d for d in yaml.safe_load_all(f) if d], "MutatingWebhookConfiguration", "bmhguard")
            with open(os.path.join(certdir, "ca.crt")) as f1, open(os.path.join(old, "ca.crt")) as f2:
                want = f1.read() + f2.read()
            got = base64.b64decode("".join(mwc["webhooks"][0]["clientConfig"]["caBundle"].split())).decode()
            ok(got == want, "make manifests CA_EXTRA: caBundle trusts the new and the old CA")

        for label, docs in variants.items():
            images_seen = []
            facts = check_common(docs, label, serve_flags, repair_flags)
            if not facts.get("webhook"):
                continue
            if label == "base":
                ok(facts["ca_bundle"] is None and not facts["annotations"].get("cert-manager.io/inject-ca-from"),
                   "base: no caBundle and no injection (the variants add one)")
            if "overlays/" in label or "cert-manager" in label or "VARIANT=match" in label:
                check_cert_manager(docs, facts, label)   # these take their certificate from cert-manager
            if "match-conditions" in label.lower() or "MATCH_CONDITIONS" in label:
                check_match_conditions(facts, label)
            else:
                ok("matchConditions" not in facts["webhook"] and "matchConditions" not in facts["webhook_capm3"],
                   f"{label}: no matchConditions")
            want_image = IMAGE if (label.startswith("make") or "components/release" in label) else "localhost/bmhguard:latest"
            images = [c["image"] for d in docs if d["kind"] in ("Deployment", "Job", "CronJob", "DaemonSet",
                                                                "StatefulSet") for c in pod_spec(d)["containers"]]
            ok(len(images) == 2 and set(images) == {want_image}, f"{label}: every container's image is {want_image}",
               images)
            check_network_policy(docs, facts, label, "NETWORK_POLICY=1" in label)
            if label.startswith("make manifests") and "VARIANT" not in label:
                with open(os.path.join(certdir, "ca.crt")) as f:
                    ca_pem = f.read()
                bundle = facts["ca_bundle"] or ""
                ok(base64.b64decode("".join(bundle.split())).decode() == ca_pem,
                   f"{label}: caBundle is certs/ca.crt")
                sec = one(docs, "Secret", "bmhguard-tls")
                ok(sec and sec.get("type") == "kubernetes.io/tls" and sec["metadata"]["namespace"] == NS and
                   set(sec["data"]) == {"tls.crt", "tls.key", "ca.crt"}, f"{label}: Secret bmhguard-tls (tls) from certs/")
                with open(os.path.join(certdir, "tls.key")) as f:
                    ok(sec and base64.b64decode("".join(sec["data"]["tls.key"].split())).decode() == f.read(),
                       f"{label}: the Secret's tls.key is certs/tls.key")
                if not label.endswith("=1"):
                    check_pod_command(facts, ca_pem, certdir, label)
            elif "VARIANT" in label or label.startswith("overlays/"):
                ok(one(docs, "Secret", "bmhguard-tls") is None, f"{label}: no Secret (cert-manager writes it)")
            if "MONITORING=1" in label:
                sm, pr = one(docs, "ServiceMonitor", "bmhguard"), one(docs, "PrometheusRule", "bmhguard")
                ok(sm is not None and pr is not None, f"{label}: ServiceMonitor and PrometheusRule")
                if sm:
                    ok(sm["spec"]["selector"]["matchLabels"].items() <= facts["svc"]["metadata"]["labels"].items()
                       and [e.get("port") for e in sm["spec"]["endpoints"]] == ["metrics"] and
                       sm["spec"]["endpoints"][0].get("path") == "/metrics" and
                       sm["spec"]["namespaceSelector"].get("matchNames") == [NS],
                       f"{label}: the ServiceMonitor scrapes the Service's metrics port at /metrics", sm["spec"])
            else:
                ok(not find(docs, "ServiceMonitor") and not find(docs, "PrometheusRule"),
                   f"{label}: no monitoring objects unless asked for (their CRDs may be absent)")

        # Overlays and make manifests' VARIANTs are the same install, but for the image.
        for ov in ("cert-manager", "match-conditions"):
            a = variants.get(f"overlays/{ov} (image from components/release)")
            b = variants.get(f"make manifests VARIANT={ov}")
            if a and b:
                ok(yaml.safe_dump_all(sorted(a, key=lambda d: (d["kind"], d["metadata"]["name"]))) ==
                   yaml.safe_dump_all(sorted(b, key=lambda d: (d["kind"], d["metadata"]["name"]))),
                   f"make manifests VARIANT={ov} IMAGE= renders exactly overlays/{ov} with components/release set")

        # The failurePolicy comment says why, in the source.
        with open(os.path.join(TOP, "manifests", "base", "mutatingwebhook.yaml")) as f:
            src = f.read()
        lines = src.splitlines()
        at = [i for i, l in enumerate(lines) if l.strip() == "failurePolicy: Ignore"]
        before = lines[max(at[0] - 3, 0):at[0]] if at else []
        ok(all(l.strip().startswith("#") for l in before) and "block" in " ".join(before) and
           "CronJob" in " ".join(before), "failurePolicy: Ignore is preceded by a comment saying why", before)
        with open(os.path.join(TOP, "manifests", "base", "deployment.yaml")) as f:
            ok(re.search(r"#.*bench.*\n(.*#.*\n)*\s*resources:", f.read()) is not None,
               "the Deployment's resources say where their figure comes from")

        # RBAC verbs == the API calls repair makes.
        obs = observed_repair_calls(tmp)
        if obs is None:
            print("ok - ClusterRole verbs equal the calls bmhguard repair makes # SKIP repair or the API double unavailable")
        else:
            calls, r1, r2, n = obs
            ok(r1.returncode in (0, 1) and n > 0, f"the Job's repair ran against the API double ({n} requests, rc {r1.returncode})",
               r1.stderr[-800:])
            ok(r2.returncode in (0, 1), f"repair by host name ran (rc {r2.returncode})", r2.stderr[-800:])
            role = variants.get("base") and check_role_rules(variants["base"])
            ok(calls == role, "ClusterRole verbs equal exactly the calls bmhguard repair made: "
               + ", ".join(f"{g}/{r}: {sorted(v)}" for (g, r), v in sorted(calls.items())), {"role": role, "calls": calls})
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.exit_code()


def check_role_rules(docs):
    got = {}
    for role in find(docs, "ClusterRole"):
        for r in role.get("rules", []):
            for g in r.get("apiGroups", []):
                for res_ in r.get("resources", []):
                    got.setdefault((g, res_), set()).update(r.get("verbs", []))
    return got


if __name__ == "__main__":
    sys.exit(main())
