#!/usr/bin/python3
"""test_repair_cli.py - `bmhguard repair`'s kubectl conventions against the API double: every
spelling of -o (table, wide, json, yaml, name), -n and booleans, --no-headers, --dry-run, rows
sorted by namespace then name and byte-identical across runs, summary counts equal to the rows,
plurals, and the kubectl plugin name."""
import collections
import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from repairlib import BIN, OURS, PAUSE, REG, Double, done, ok, run
import bmh_fixtures as fx  # noqa: E402 (repairlib puts tests/lib on the path)

SUMMARY_TEXT = {"planned": "to change", "repaired": "repaired", "patched": "patched",
                "resumed": "resumed", "skipped": "skipped",
                "held": "held by another owner's pause", "failed": "failed",
                "needs-human": "needing a human", "ok": "nothing to do"}
SUMMARY_JSON = {"planned": "planned", "repaired": "repaired", "patched": "patched",
                "resumed": "resumed", "skipped": "skipped", "held": "held", "failed": "failed",
                "needs-human": "needsHuman", "ok": "nothingToDo"}


def fleet():
    """Hosts in three namespaces, seeded out of order, one of each kind of row."""
    H = fx.host
    new, newsum, old, oldsum = fx.NEW_URL, fx.NEW_SUM, fx.OLD_URL, fx.OLD_SUM
    return [
        H("zeta", namespace="metal3", status_url=old, status_sum=oldsum, error_type=REG,
          error_count=1, error_message=fx.REG_ERROR),
        H("alpha", namespace="metal3", status_url="", state="available"),
        H("half", namespace="aaa", status_url=new, status_sum=newsum, annotations={PAUSE: OURS}),
        H("resume", namespace="aaa", spec_url=new, spec_sum=newsum, status_url=new,
          status_sum=newsum, annotations={PAUSE: OURS}),
        H("held", namespace="zzz", status_url=old, status_sum=oldsum,
          annotations={PAUSE: "move"}),
        H("clean", namespace="zzz", spec_url=new, spec_sum=newsum, status_url=new,
          status_sum=newsum),
        H("busy", namespace="metal3", status_url=old, status_sum=oldsum, state="inspecting"),
    ] + [H("w%02d" % i, namespace="bulk", status_url=old, status_sum=oldsum)
         for i in (7, 3, 11, 0, 5, 9, 1)]


def rows_of(table):
    """(namespace, name) of each table row: lines that are not calls, notes or the summary."""
    out = []
    for line in table.splitlines():
        if not line or line.startswith((" ", "summary", "NAMESPACE")):
            continue
        out.append(tuple(line.split()[:2]))
    return out


def counts_of(summary_line):
    return {k: int(n) for n, k in re.findall(r"(\d+) ([a-z' -]+?)(?=[,;]|$)",
                                            summary_line.split(": ", 1)[1])}


def main():
    d = Double()
    try:
        d.seed(fleet())
        keys = sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in fleet())

        # every spelling of -o json gives the same bytes, twice
        outs = {}
        for args in (["-o", "json"], ["-ojson"], ["-o=json"], ["--output=json"],
                     ["--output", "json"]):
            for n in (1, 2):
                rc, out, err = run(["-A"] + args + ["--concurrency", "8"], server=d.url)
                outs[(tuple(args), n)] = (rc, out)
        first = outs[(("-o", "json"), 1)]
        ok(all(v == first for v in outs.values()) and first[0] == 1,
           "-o json, -ojson, -o=json, --output=json, --output json: byte-identical, run twice",
           {k: v[0] for k, v in outs.items()})
        doc = json.loads(first[1])
        got = [(h["namespace"], h["name"]) for h in doc["hosts"]]
        ok(got == keys, "json rows sorted by namespace then name", got)

        # yaml: the same document
        rc1, y1, _ = run(["-A", "-o", "yaml"], server=d.url)
        rc2, y2, _ = run(["-A", "-oyaml", "--concurrency", "8"], server=d.url)
        try:
            ydoc = yaml.safe_load(y1)
        except yaml.YAMLError as e:
            ydoc = str(e)
        ok(rc1 == 1 and y1 == y2, "-o yaml byte-identical across runs and concurrency", (rc1, rc2))
        ok(ydoc == doc, "-o yaml is the json document in YAML", (str(ydoc)[:300], str(doc)[:300]))
        ok(re.search(r"^  error: \"\"$", y1, re.M) and "resourceVersion: \"" in y1,
           "yaml quotes empty strings and numeric-looking strings", y1[:400])

        # name: one line a host, like kubectl
        for args in (["-o", "name"], ["-oname"], ["-o=name"]):
            rc, out, err = run(["-A"] + args, server=d.url)
            ok(rc == 1 and out.splitlines() == ["baremetalhost.metal3.io/%s" % n for _, n in keys],
               "%s: baremetalhost.metal3.io/NAME per host, sorted, nothing else" % " ".join(args),
               out)

        # table and wide: sorted, stable, headers switchable
        for fmt in ("table", "wide"):
            rc, t1, _ = run(["-A", "-o", fmt], server=d.url)
            rc2, t2, _ = run(["-A", "-o", fmt, "--concurrency", "8"], server=d.url)
            ok(rc == 1 and t1 == t2, "-o %s byte-identical across two runs" % fmt)
            ok(rows_of(t1) == keys, "-o %s rows sorted by namespace then name" % fmt, rows_of(t1))
            head = t1.splitlines()[0].split()
            want = ["NAMESPACE", "NAME", "STATE", "ERROR", "ACTION", "RESULT"] + (
                ["API-CALLS", "DETAIL"] if fmt == "wide" else [])
            ok(head == want, "-o %s header %s" % (fmt, " ".join(want)), head)
            rc, nh, _ = run(["-A", "-o", fmt, "--no-headers"], server=d.url)
            ok(rc == 1 and "NAMESPACE" not in nh and rows_of(nh) == keys,
               "-o %s --no-headers: rows without the header" % fmt, nh[:300])
        rc, t, _ = run(["-A"], server=d.url)
        ok(t == run(["-A", "-o", "table"], server=d.url)[1], "table is the default")
        wide = run(["-A", "-o", "wide"], server=d.url)[1]
        ok(re.search(r"^aaa +half +provisioned +- +repair +planned +\d+ +interrupted earlier",
                     wide, re.M), "wide: RESULT, API-CALLS and DETAIL in columns", wide[:600])

        # -n spellings, --dry-run as the explicit default
        outs = [run(a + ["-o", "json"], server=d.url)
                for a in (["-n", "metal3"], ["-nmetal3"], ["-n=metal3"], ["--namespace=metal3"],
                          ["--namespace", "metal3"], ["-n", "metal3", "--dry-run"],
                          ["-n", "metal3", "--dry-run=true"])]
        ok(all(o == outs[0] for o in outs) and outs[0][0] == 0 and
           {h["namespace"] for h in json.loads(outs[0][1])["hosts"]} == {"metal3"},
           "-n metal3, -nmetal3, -n=metal3, --namespace(=) metal3, --dry-run: the same",
           [o[0] for o in outs])
        rc, out, _ = run(["-A=true", "--events=false", "-o", "name"], server=d.url)
        ok(rc == 1 and len(out.splitlines()) == len(keys), "-A=true and --events=false accepted")

        # plurals
        rc, out, _ = run(["-n", "metal3", "alpha"], server=d.url)
        ok("would make 1 API call:" in out and re.search(r"1 host: .*; 1 API call$", out, re.M),
           "one host, one call: singular", out)
        rc, out, _ = run(["-A"], server=d.url)
        ok(re.search(r"would make [2-9] API calls:", out) and
           re.search(r"%d hosts: " % len(keys), out), "several: plural", out[-300:])

        # summary counts equal the rows, dry run and apply (a resumed repair counts as what
        # its row says)
        for apply in ([], ["--apply"]):
            rc, out, _ = run(["-A", "-o", "json"] + apply, server=d.url)
            j = json.loads(out)
            rows = collections.Counter(h["result"] for h in j["hosts"])
            ok(all(j["summary"][SUMMARY_JSON[r]] == n for r, n in rows.items()) and
               j["summary"]["hosts"] == len(j["hosts"]) == len(keys),
               "json summary counts equal the rows%s" % (" (--apply)" if apply else ""),
               (dict(rows), j["summary"]))
            if apply:
                half = [h for h in j["hosts"] if h["name"] == "half"][0]
                res = [h for h in j["hosts"] if h["name"] == "resume"][0]
                ok(half["result"] == "repaired" and "resum" not in half["detail"] and
                   res["result"] == "resumed" and j["summary"]["resumed"] == 1,
                   "a repair finished under our pause is 'repaired' and says nothing of "
                   "'resumed'; only the pause-only host is counted resumed", (half, res))
            d.reset()
            d.seed(fleet())
            rc, out, _ = run(["-A"] + apply, server=d.url)
            col = out.splitlines()[0].index("RESULT")
            rows = collections.Counter(l[col:].split()[0].rstrip(":") for l in out.splitlines()
                                       if l and not l.startswith((" ", "summary", "NAMESPACE")))
            if not apply:
                rows = collections.Counter({"planned" if k == "would" else k: n
                                            for k, n in rows.items()})
            summ = counts_of([l for l in out.splitlines() if l.startswith("summary")][0])
            ok(all(summ.get(SUMMARY_TEXT[r]) == n for r, n in rows.items()),
               "table summary counts equal the rows%s" % (" (--apply)" if apply else ""),
               (dict(rows), summ))
            d.reset()
            d.seed(fleet())

        # usage errors: exit 2, one line naming the flag, nothing on stdout
        for args, want in ((["-o", "xml"], "--output"), (["-oxml"], "--output"),
                           (["--dry-run", "--apply"], "--dry-run"),
                           (["--apply", "--dry-run=true"], "--dry-run"),
                           (["--dry-run=false"], "--apply"),
                           (["-o", "json", "--no-headers"], "--no-headers"),
                           (["-o", "name", "--no-headers"], "--no-headers"),
                           (["--no-headers=maybe"], "--no-headers"), (["-A=maybe"], "--all"),
                           (["-n"], "--namespace"), (["--wait", "5d"], "--wait"),
                           (["--timeout=0"], "--timeout"), (["-Z"], "-Z"),
                           (["--concurrency", "1x"], "--concurrency")):
            rc, out, err = run(args + ["-A"] if "-n" not in args else args, server=d.url)
            ok(rc == 2 and not out and len(err.strip().splitlines()) == 1 and
               err.startswith("bmhguard repair: ") and want in err,
               "usage error %s -> exit 2, one line naming %s" % (" ".join(args), want), (rc, err))

        # the kubectl plugin: the same binary under kubectl's plugin name
        tmp = tempfile.mkdtemp(prefix="bmhguard-plugin-")
        try:
            plugin = os.path.join(tmp, "kubectl-bmhguard")
            os.symlink(os.path.abspath(BIN), plugin)
            env = dict(os.environ)
            env.pop("KUBECONFIG", None)
            p = subprocess.run([plugin, "repair", "--server", d.url, "-A", "-o", "json"],
                               capture_output=True, text=True, timeout=60, env=env)
            ok(p.stdout == run(["-A", "-o", "json"], server=d.url)[1] and p.returncode == 1,
               "kubectl-bmhguard repair -A: the same report", p.stderr)
            h = subprocess.run([plugin, "--help"], capture_output=True, text=True, timeout=10)
            ok(h.returncode == 0 and "usage: kubectl bmhguard COMMAND" in h.stdout,
               "kubectl-bmhguard --help names the plugin", h.stdout[:200])
        finally:
            shutil.rmtree(tmp)
    finally:
        d.stop()
    h = subprocess.run([BIN, "repair", "--help"], capture_output=True, text=True, timeout=10)
    ok(all(f in h.stdout for f in ("--no-headers", "--dry-run", "-o, --output FORMAT", "yaml",
                                   "wide", "baremetalhost.metal3.io/NAME")),
       "--help documents -o's formats, --no-headers and --dry-run", h.stdout)
    done()


main()
