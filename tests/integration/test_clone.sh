#!/usr/bin/env bash
# test_clone.sh - the repository stands alone: a git clone of it, in an empty directory with
# nothing beside it (no sibling data directory), builds and passes its unit tests and the admission
# decision suites (test_review_e2e.py, test_server_decisions.py), reading nothing outside itself.
#
# What is cloned is the committed HEAD of the checkout ($BMHGUARD_TOP), not the working tree:
# uncommitted changes are not tested here. Checks: the clone's tests/, .ci/, mk/ and Makefile
# name no data directory beside the repository; `make all` builds in the clone; its unit tests and
# the two suites pass with every path pointing into the clone; and, where strace is installed, no
# file the suites open or look for is in the original checkout, beside the clone, or a sibling
# data directory's metal3/ path.
# Bounded: build CLONE_BUILD_TIMEOUT s (150), unit tests 60 s, each suite 60 s; about 1-2 minutes.
# Skipped on a sanitizer run (make asan: the plain run covers it) and outside a git checkout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=${BMHGUARD_TOP:-$(cd "$here/../.." && pwd)}
n=0 failed=0
ok() {	# status, name[, detail file]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok - $2"
	else
		failed=$((failed + 1))
		echo "not ok - $2"
		[ -n "${3:-}" ] && [ -s "$3" ] && tail -n 25 "$3" | sed 's/^/#   /'
	fi
	return "$1"
}
finish() { [ "$failed" -eq 0 ]; exit $?; }

for tool in git make timeout python3; do
	command -v "$tool" >/dev/null || { echo "not ok - tools are installed: $tool not found on PATH (make deps-test)"; exit 1; }
done
if [ "${BMHGUARD_SANITIZED:-0}" = 1 ]; then
	echo "ok - a clone builds and tests itself # SKIP sanitizer run (the plain build's run covers it)"
	exit 0
fi
if ! git -C "$top" rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo "ok - a clone builds and tests itself # SKIP $top is not a git checkout with a commit"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bmhguard-clone.XXXXXX")
trap 'rm -rf "$work"' EXIT
clone=$work/bmhguard
log=$work/log
head=$(git -C "$top" rev-parse --short HEAD)

timeout 60 git clone -q --no-hardlinks "$top" "$clone" >"$log" 2>&1
ok $? "git clone of the committed HEAD ($head) into an empty directory" "$log" || finish
sib=shared	# the sibling directory the tests once read their Metal3 data from
[ "$(ls -A "$work")" = "$(printf 'bmhguard\nlog')" ] && [ ! -e "$work/$sib" ]
ok $? "nothing beside the clone, no $sib/ (only: $(ls -A "$work" | paste -sd " "))"
git -C "$clone" grep -nE "\.\./$sib|/work/$sib|${sib^^}_DIR" -- tests .ci mk Makefile >"$log" 2>&1
[ $? -eq 1 ]
ok $? "the clone's tests/, .ci/, mk/ and Makefile name no ../$sib" "$log"
[ -s "$clone/tests/data/metal3/metal3.io_baremetalhosts.yaml" ] && [ -s "$clone/tests/data/metal3/examples/worker-0.yaml" ]
ok $? "the clone carries the Metal3 reference data (tests/data/metal3/)"

# Nothing from the outer run may point the clone's tests back at the checkout.
unset BMHGUARD BMHGUARD_TOP BMHGUARD_BUILD CEL_JS_DIR
cd "$clone" || exit 1
timeout -k 5 "${CLONE_BUILD_TIMEOUT:-150}" make --no-print-directory B=build -j2 all >"$log" 2>&1
rc=$?
[ $rc -eq 124 ] && echo "make all did not finish within ${CLONE_BUILD_TIMEOUT:-150}s" >>"$log"
ok $rc "make all builds in the clone" "$log" || finish

export BMHGUARD=$clone/build/bmhguard BMHGUARD_TOP=$clone BMHGUARD_BUILD=$clone/build
timeout -k 5 60 tests/run.sh build unit >"$log" 2>&1
ok $? "the clone's unit tests pass ($(tail -n 1 "$log"))" "$log"

trace=()
command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null && trace=(strace -f -qq -s 4096 -e trace=%file -e signal=none)
for t in test_review_e2e.py test_server_decisions.py; do
	out=$work/$t.out
	if [ ${#trace[@]} -gt 0 ]; then
		timeout -k 5 60 "${trace[@]}" -o "$work/$t.trace" /usr/bin/python3 "tests/integration/$t" >"$out" 2>&1
	else
		timeout -k 5 60 /usr/bin/python3 "tests/integration/$t" >"$out" 2>&1
	fi
	rc=$?
	notok=$(grep -c '^not ok' "$out")
	[ $rc -eq 0 ] && [ "$notok" -eq 0 ] && [ "$(grep -c '^ok' "$out")" -gt 0 ]
	ok $? "$t passes in the clone ($(grep -c '^ok' "$out") ok, $notok not ok, rc $rc)" "$out"
	if [ ${#trace[@]} -gt 0 ]; then
		# Every absolute path the suite and its children opened, stat'ed or looked for, normalized.
		python3 - "$work/$t.trace" "$top" "$work" "$clone" "$sib" >"$work/$t.outside" <<-'EOF'
		import os, re, sys
		trace, top, work, clone, sib = sys.argv[1:]
		def under(p, d):
		    return p == d or p.startswith(d + "/")
		for p in sorted({os.path.normpath(m) for m in re.findall(r'"(/[^"]*)"', open(trace).read())}):
		    if under(p, top):
		        print("in the checkout:", p)
		    elif under(p, work) and not under(p, clone):
		        print("beside the clone:", p)
		    elif "/%s/metal3" % sib in p:
		        print("sibling data:", p)
		EOF
		[ ! -s "$work/$t.outside" ]
		ok $? "$t reads nothing outside the clone (strace: $(grep -o '"/[^"]*"' "$work/$t.trace" | sort -u | wc -l) paths)" \
		    "$work/$t.outside"
	fi
done
[ ${#trace[@]} -gt 0 ] || echo "ok - the suites read nothing outside the clone # SKIP strace is not installed (checked: nothing beside the clone)"
finish
