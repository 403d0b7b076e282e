"""tap - the "ok - NAME" / "not ok - NAME" lines tests/run.sh counts, for every Python test."""

_counts = {"checks": 0, "failed": 0}


def ok(cond, name, detail=""):
    """One TAP line for cond; a failure also prints up to 20 lines of detail as comments.
    Returns cond, so a caller can skip what depends on it."""
    _counts["checks"] += 1
    print(("ok - " if cond else "not ok - ") + name, flush=True)
    if not cond:
        _counts["failed"] += 1
        for line in str(detail).splitlines()[:20]:
            print("#   " + (line if len(line) <= 400 else line[:400] + "..."), flush=True)
    return cond


def checks():
    return _counts["checks"]


def failed():
    return _counts["failed"]


def exit_code():
    """0 when every check passed, else 1."""
    return 1 if _counts["failed"] else 0
