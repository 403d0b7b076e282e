#!/usr/bin/python3
"""test_manifests_container.py - what can be checked of the Containerfile without a container engine:
the runtime stage installs the Debian package of every shared library the built binary needs (direct
NEEDED entries by name; everything else `ldd` lists through those packages' dependencies or the base
image), the build stage installs the -dev package of every pkg-config module the Makefile links, every
path it COPYs exists (sources now, the binary after `make`), and it runs as UID 65532 with the binary
at /usr/local/bin/bmhguard as entrypoint."""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

TOP = os.environ.get("BMHGUARD_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("BMHGUARD") or os.path.join(TOP, "build", "bmhguard")
BUILD = os.environ.get("BMHGUARD_BUILD") or os.path.dirname(BIN)
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402
ok = tap.ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


def parse_containerfile(path):
    """[{'from': image, 'name': alias, 'instr': [(KEYWORD, args-text)]}] with continuation lines joined."""
    with open(path) as f:
        text = f.read()
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # comments inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    stages = []
    for line in lines:
        kw, _, rest = line.partition(" ")
        kw = kw.upper()
        if kw == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            stages.append({"from": m.group(1), "name": m.group(2), "instr": []})
        elif stages:
            stages[-1]["instr"].append((kw, rest.strip()))
    return stages


def apt_packages(stage):
    pkgs = []
    for kw, rest in stage["instr"]:
        if kw != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", rest):
            words = shlex.split(cmd)
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def pkg_of(path):
    """Debian package owning path (trying the /usr-merged twin too), without :arch."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/usr/lib/"):
            cands.append(p[4:])
        elif p.startswith("/lib/"):
            cands.append("/usr" + p)
    for p in cands:
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


_deps_cache = {}


def depends(pkg):
    if pkg not in _deps_cache:
        r = run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", pkg])
        out = set()
        for alt in r.stdout.split(","):
            for name in alt.split("|"):
                name = re.sub(r"\(.*?\)", "", name).strip().split(":")[0]
                if name:
                    out.add(name)
        _deps_cache[pkg] = out
    return _deps_cache[pkg]


def closure(pkgs):
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += list(depends(p) - seen)
    return seen


def base_image_packages():
    """What debian:bookworm-slim already has: Essential and Priority required packages and their deps."""
    r = run(["dpkg-query", "-W", "-f=${Package} ${Essential} ${Priority}\n"])
    base = {l.split()[0] for l in r.stdout.splitlines() if len(l.split()) >= 3 and
            (l.split()[1] == "yes" or l.split()[2] == "required")}
    return closure(base)


def main():
    cf = os.path.join(TOP, "Containerfile")
    if not ok(os.path.exists(cf), "Containerfile exists"):
        return 1
    stages = parse_containerfile(cf)
    if not ok(len(stages) == 2, "two stages (build, runtime)", [s["from"] for s in stages]):
        return 1
    build, rt = stages
    ok(build["from"] == "debian:bookworm" and build["name"], f"build stage FROM debian:bookworm AS {build['name']}")
    ok(rt["from"] == "debian:bookworm-slim", "runtime stage FROM debian:bookworm-slim")
    ok(run(["sh", "-c", ". /etc/os-release && test \"$VERSION_CODENAME\" = bookworm"]).returncode == 0,
       "this machine is bookworm too, so dpkg names here are the image's names")

    # Build stage: `make all`, and a -dev package for each pkg-config module the Makefile links.
    runs = " && ".join(r for k, r in build["instr"] if k == "RUN")
    m = re.search(r"\bmake\b[^&;]*\ball\b", runs)
    ok(m is not None, "build stage runs `make ... all`", runs)
    bdir = re.search(r"\bB=(\S+)", m.group(0)).group(1) if m and re.search(r"\bB=(\S+)", m.group(0)) else "build"
    r = run(["make", "-s", "-C", TOP, "--no-print-directory", "--eval", "print-pkgs: ; @echo $(PKGS)", "print-pkgs"])
    modules = r.stdout.split()
    bpkgs = apt_packages(build)
    bclos = closure(bpkgs)
    ok(modules and bpkgs, f"pkg-config modules {modules}; build stage installs {bpkgs}")
    for mod in modules:
        pc = run(["pkg-config", "--path", mod]).stdout.strip()
        pkg = pkg_of(pc) if pc else None
        ok(pkg is not None and pkg in bclos, f"build stage provides pkg-config module {mod} ({pkg})", pc)
    ok("pkg-config" in bpkgs and ("build-essential" in bpkgs or "gcc" in bpkgs), "build stage has a compiler and pkg-config")

    # COPY sources exist now; the runtime's COPY --from=build is what `make` builds.
    workdir = "/"
    copied_bin = None
    for kw, rest in build["instr"]:
        if kw == "WORKDIR":
            workdir = rest
        if kw == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            for src in words[:-1]:
                ok(os.path.exists(os.path.join(TOP, src)), f"build stage COPY source {src} exists")
    ok(any(k == "COPY" and "tests" in r for k, r in build["instr"]),
       "build stage copies tests/ (make all builds the unit tests and benchmarks)")
    for kw, rest in rt["instr"]:
        if kw == "COPY":
            m2 = re.match(r"--from=(\S+)\s+(\S+)\s+(\S+)$", rest)
            if ok(m2 is not None and m2.group(1) == build["name"], f"runtime COPY comes from the build stage: {rest}"):
                src, dst = m2.group(2), m2.group(3)
                rel = os.path.relpath(src, workdir)
                ok(rel == f"{bdir}/bmhguard", f"it copies $(B)/bmhguard of the build stage's make ({rel})")
                dry = run(["make", "-n", "-C", TOP, "--no-print-directory", "B=/nonexistent-bmhguard-b", "all"], timeout=120)
                ok(re.search(r"-o /nonexistent-bmhguard-b/bmhguard\s", dry.stdout) is not None,
                   "`make all` links $(B)/bmhguard", dry.stdout[-400:] + dry.stderr[-400:])
                ok(os.path.isfile(os.path.join(BUILD, "bmhguard")) and os.access(os.path.join(BUILD, "bmhguard"), os.X_OK),
                   f"after make, the copied path exists here ({os.path.join(BUILD, 'bmhguard')})")
                copied_bin = dst

    # Runtime user and entrypoint
    users = [r for k, r in rt["instr"] if k == "USER"]
    ok(users and re.fullmatch(r"65532(:65532)?", users[-1]) is not None, f"runtime USER 65532 ({users})")
    eps = [r for k, r in rt["instr"] if k == "ENTRYPOINT"]
    ep = json.loads(eps[-1]) if eps and eps[-1].startswith("[") else None
    ok(ep == ["/usr/local/bin/bmhguard"] and copied_bin == "/usr/local/bin/bmhguard",
       "ENTRYPOINT [\"/usr/local/bin/bmhguard\"] (exec form) is where the binary is copied", eps)

    # Runtime libraries
    rpkgs = apt_packages(rt)
    ok(not [p for p in rpkgs if p.endswith("-dev") or p in ("build-essential", "gcc", "make", "pkg-config")],
       f"runtime stage installs no build tools: {rpkgs}")
    base = base_image_packages()
    rclos = closure(rpkgs) | base
    needed = re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", BIN]).stdout)
    ldd = {}
    for line in run(["ldd", BIN]).stdout.splitlines():
        m3 = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line)
        if m3:
            ldd[m3.group(1)] = m3.group(2)
    ok(needed and ldd, f"{len(needed)} NEEDED libraries, {len(ldd)} resolved by ldd")
    for lib in needed:
        if SANITIZER_LIBS.match(lib):
            print(f"ok - {lib}: sanitizer runtime of this test build # SKIP not in a release image")
            continue
        pkg = pkg_of(ldd.get(lib, "")) if lib in ldd else None
        if pkg in base:
            ok(True, f"{lib} ({pkg}) is in the base image")
        else:
            ok(pkg is not None and pkg in rpkgs, f"runtime installs {pkg} for {lib}", rpkgs)
    for lib, path in sorted(ldd.items()):
        if lib in needed or SANITIZER_LIBS.match(lib):
            continue
        pkg = pkg_of(path)
        ok(pkg is not None and pkg in rclos, f"{lib} ({pkg}) comes with the runtime packages or the base image")
    return tap.exit_code()


if __name__ == "__main__":
    sys.exit(main())
