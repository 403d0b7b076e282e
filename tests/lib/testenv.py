"""testenv - where the tests' data lives and what they need, checked before a test starts.

Every file a test reads is inside this repository: the Metal3 reference data is in
tests/data/metal3/ (copied unchanged; origin and licence in tests/data/metal3/README.md).
need_files() and need_tools() end a test at once, with one "not ok" line naming what is
missing, instead of letting it fail later (or hang) on a half-built setup. kubectl() finds a
kubectl whose kustomize can render manifests/, or says why there is none, for a test to skip."""
import json
import os
import re
import shutil
import subprocess
import sys

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(TOP, "tests", "data")
METAL3 = os.path.join(DATA, "metal3")
EXAMPLES = os.path.join(METAL3, "examples")
BMH_CRD = os.path.join(METAL3, "metal3.io_baremetalhosts.yaml")

# manifests/ uses kustomize `components` and `labels`; kubectl 1.27 is the first with kustomize v5.
# Debian 12's kubernetes-client (kubectl 1.20, kustomize v2) rejects both.
KUBECTL_MIN = (1, 27)


def _bail(what):
    print("not ok - " + what, flush=True)
    sys.exit(1)


def need_files(*paths):
    """Exit 1 now, naming them, when any of paths does not exist."""
    missing = [os.path.relpath(p, TOP) if p.startswith(TOP + os.sep) else p
               for p in paths if not os.path.exists(p)]
    if missing:
        _bail("the files the test reads are present: missing %s (in %s)" % (", ".join(missing), TOP))


def need_tools(*names):
    """Exit 1 now, naming them, when any of the commands names is not on PATH."""
    missing = [n for n in names if not shutil.which(n)]
    if missing:
        _bail("tools are installed: %s not found on PATH (make deps-test installs them)"
              % ", ".join(missing))


def kubectl():
    """(command, None) for a kubectl >= KUBECTL_MIN ($KUBECTL, else kubectl on PATH), or
    (None, why) when there is none or it is too old to render manifests/."""
    want = os.environ.get("KUBECTL") or "kubectl"
    path = shutil.which(want)
    minimum = "%d.%d" % KUBECTL_MIN
    if not path:
        return None, "kubectl not found (%s); kubectl >= %s is needed to render manifests/" % (
            "$KUBECTL=" + want if os.environ.get("KUBECTL") else "not on PATH", minimum)
    try:
        r = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True,
                           text=True, timeout=5, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, KUBECONFIG=os.devnull))
        cv = json.loads(r.stdout)["clientVersion"]
        version = (int(cv["major"]), int(re.match(r"\d+", cv["minor"]).group(0)))
        shown = cv.get("gitVersion") or "v%d.%d" % version
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError, AttributeError) as e:
        return None, "%s: cannot read its version (kubectl version --client -o json: %s)" % (
            path, str(e)[:100] or type(e).__name__)
    if version < KUBECTL_MIN:
        return None, ("%s is kubectl %s, older than %s: its kustomize cannot render the "
                      "components and labels in manifests/ (install kubectl >= %s)"
                      % (path, shown, minimum, minimum))
    return path, None
