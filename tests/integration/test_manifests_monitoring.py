#!/usr/bin/python3
"""test_manifests_monitoring.py - components/monitoring and the /metrics it relies on: a running
`bmhguard serve`'s /metrics passes `promtool check metrics` and has the process_* metrics; the
PrometheusRule rendered by kustomize passes `promtool check rules` and `promtool test rules`
(each alert fires on the series it is about), and every metric an alert names is either one the
server exports or one of the external metrics (Prometheus, kube-state-metrics) the rule file
documents on its `# external-metrics:` line. Skips with one line when kubectl >= 1.27 or promtool
is missing (promtool: Debian's prometheus package, `make deps-test`)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib as sl  # noqa: E402
import testenv  # noqa: E402  (serverlib put tests/lib on the path)

TOP = sl.TOP
COMPONENT = os.path.join(TOP, "manifests", "components", "monitoring")
# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan", "atan2", "start", "end"}


def metric_names(expr):
    """The metric names a PromQL expression selects: identifiers that are not functions,
    aggregation modifiers, label names or keywords."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)        # strings
    e = re.sub(r"\{[^}]*\}", "", e)                                             # matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)                                            # ranges
    names = set()
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def main():
    kubectl, why = testenv.kubectl()
    if kubectl is None:
        print("ok - components/monitoring renders and its rules check # SKIP " + why)
        return 0
    promtool = shutil.which(os.environ.get("PROMTOOL") or "promtool")
    if promtool is None:
        print("ok - promtool checks /metrics and the PrometheusRule # SKIP promtool not found "
              "(Debian package prometheus; make deps-test installs it)")
        return 0
    tmp = sl.tempdir("test_manifests_monitoring.")

    # The component, rendered as an operator would include it.
    ov = os.path.join(tmp, "overlay")
    os.makedirs(ov)
    with open(os.path.join(ov, "kustomization.yaml"), "w") as f:
        yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                        "resources": [os.path.relpath(os.path.join(TOP, "manifests", "base"), ov)],
                        "components": [os.path.relpath(p, ov) for p in
                                       (COMPONENT, os.path.join(TOP, "manifests", "components", "release"))]}, f)
    r = subprocess.run([kubectl, "kustomize", ov], capture_output=True, text=True, timeout=60)
    if not sl.ok(r.returncode == 0, "kubectl kustomize base + components/monitoring renders", r.stderr):
        return 1
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    if not sl.ok(len(rules) == 1 and rules[0]["apiVersion"] == "monitoring.coreos.com/v1",
                 "one PrometheusRule (monitoring.coreos.com/v1)"):
        return 1
    groups = rules[0]["spec"]["groups"]
    rfile = os.path.join(tmp, "rules.yaml")
    with open(rfile, "w") as f:
        yaml.safe_dump({"groups": groups}, f)
    r = subprocess.run([promtool, "check", "rules", rfile], capture_output=True, text=True, timeout=60)
    sl.ok(r.returncode == 0, "promtool check rules passes on the PrometheusRule's groups", r.stdout + r.stderr)
    alerts = {a["alert"]: a for g in groups for a in g["rules"] if "alert" in a}
    # The alerts the issue asks for.
    want = {"no ready replica": r"kube_deployment_status_replicas_available",
            "certificate within 14 days": r"bmhguard_tls_cert_not_after_timestamp_seconds.*14 \* 86400",
            "withheld rewrites": r'outcome="withheld"',
            "admission errors": r'outcome="rejected"',
            "repair failed or hosts left needing repair": r"kube_cronjob_status_last_successful_time"}
    for what, pat in want.items():
        sl.ok(any(re.search(pat, a["expr"], re.S) for a in alerts.values()), f"an alert for {what}")
    for name, a in alerts.items():
        sl.ok(a.get("labels", {}).get("severity") in ("critical", "warning", "info") and
              a.get("annotations", {}).get("summary") and a.get("annotations", {}).get("description"),
              f"alert {name}: severity, summary and description")

    # The external metrics the rules may use, as documented in the rule file.
    with open(os.path.join(COMPONENT, "prometheusrule.yaml")) as f:
        m = re.search(r"^# external-metrics:(.*)$", f.read(), re.M)
    external = set(m.group(1).split()) if m else set()
    sl.ok(external, "prometheusrule.yaml documents its external metrics (# external-metrics: ...)")
    with open(os.path.join(TOP, "README.md")) as f:
        readme = f.read()
    sl.ok(all(x in readme for x in external), "README.md names every external metric the alerts need",
          sorted(x for x in external if x not in readme))

    # A real server's /metrics.
    certs = sl.make_certs(os.path.join(tmp, "certs"))
    srv = sl.Server(certs)
    status, text = srv.plain_get("/metrics")
    sl.ok(status == 200, "GET /metrics 200")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    sl.ok(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          "promtool check metrics finds nothing to complain about in /metrics", r.stdout + r.stderr)
    exported = set()
    for line in text.splitlines():
        mm = re.match(r"# TYPE (\S+) (\S+)", line)
        if mm:
            exported.add(mm.group(1))
            if mm.group(2) == "histogram":
                exported |= {mm.group(1) + s for s in ("_bucket", "_sum", "_count")}
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                 "process_max_fds", "process_start_time_seconds"):
        v = srv.metric(name)
        sl.ok(v is not None and v >= 0, f"/metrics has {name} ({v})")
    sl.ok(srv.metric("process_start_time_seconds") > 1.7e9 and srv.metric("process_resident_memory_bytes") > 1e6,
          "process start time is Unix time and RSS is in bytes")
    na = srv.metric("bmhguard_tls_cert_not_after_timestamp_seconds")
    sl.ok(na is not None and na > 1.7e9 and "bmhguard_tls_cert_not_after_seconds" not in text,
          "the certificate's expiry is bmhguard_tls_cert_not_after_timestamp_seconds (old name gone)")
    for name, a in alerts.items():
        used = metric_names(a["expr"])
        unknown = sorted(used - exported - external)
        sl.ok(used and not unknown, f"alert {name}: every metric it names exists ({', '.join(sorted(used))})",
              unknown)
    sl.ok(external <= {n for a in alerts.values() for n in metric_names(a["expr"])},
          "every documented external metric is used by some alert")

    # promtool test rules: each bmhguard alert fires on the series it is about.
    # (a copy without annotations: promtool compares them too, and these are prose)
    bare = os.path.join(tmp, "rules-bare.yaml")
    with open(bare, "w") as f:
        yaml.safe_dump({"groups": [{**g, "rules": [{k: v for k, v in a.items() if k != "annotations"}
                                                   for a in g["rules"]]} for g in groups]}, f)
    test = {"rule_files": [bare], "evaluation_interval": "1m", "tests": [
        {"interval": "1m",
         "input_series": [
             {"series": 'bmhguard_tls_cert_not_after_timestamp_seconds{namespace="bmhguard-system",pod="p"}',
              "values": "864000x30"},
             {"series": 'bmhguard_admission_requests_total{namespace="bmhguard-system",pod="p",outcome="withheld"}',
              "values": "0+1x30"},
             {"series": 'bmhguard_admission_requests_total{namespace="bmhguard-system",pod="p",outcome="rejected"}',
              "values": "0+1x30"},
             {"series": 'kube_deployment_status_replicas_available{namespace="bmhguard-system",deployment="bmhguard"}',
              "values": "0x30"},
             {"series": 'kube_cronjob_status_last_schedule_time{namespace="bmhguard-system",cronjob="bmhguard-repair"}',
              "values": "600x90"},
             {"series": 'kube_cronjob_status_last_successful_time{namespace="bmhguard-system",cronjob="bmhguard-repair"}',
              "values": "60x90"},
         ],
         "alert_rule_test": [
             {"eval_time": "30m", "alertname": "BmhguardCertificateExpiresSoon",
              "exp_alerts": [{"exp_labels": {"severity": "warning", "namespace": "bmhguard-system", "pod": "p"}}]},
             {"eval_time": "30m", "alertname": "BmhguardRewritesWithheld",
              "exp_alerts": [{"exp_labels": {"severity": "warning", "namespace": "bmhguard-system", "pod": "p"}}]},
             {"eval_time": "30m", "alertname": "BmhguardAdmissionErrors",
              "exp_alerts": [{"exp_labels": {"severity": "warning", "namespace": "bmhguard-system", "pod": "p"}}]},
             {"eval_time": "30m", "alertname": "BmhguardWebhookNoReadyReplica",
              "exp_alerts": [{"exp_labels": {"severity": "critical", "namespace": "bmhguard-system",
                                             "deployment": "bmhguard"}}]},
             {"eval_time": "80m", "alertname": "BmhguardRepairFailed",
              "exp_alerts": [{"exp_labels": {"severity": "warning", "namespace": "bmhguard-system",
                                             "cronjob": "bmhguard-repair"}}]},
         ]}]}
    tfile = os.path.join(tmp, "rules_test.yaml")
    with open(tfile, "w") as f:
        yaml.safe_dump(test, f)
    r = subprocess.run([promtool, "test", "rules", tfile], capture_output=True, text=True, timeout=60)
    sl.ok(r.returncode == 0, "promtool test rules: each alert fires on the series it is about",
          (r.stdout + r.stderr)[-1500:])
    srv.close()
    return sl.tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
