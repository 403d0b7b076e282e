#!/usr/bin/env bash
# run.sh - run bmhguard's test programs and print one closing line "N passed, N failed".
#
# usage: tests/run.sh BUILD_DIR [unit|integration]
# Each test program prints "ok - NAME" / "not ok - NAME" lines (TAP style) and exits non-zero
# when any case failed; a program that fails without saying which case counts as one failure.
# Unit tests are $BUILD/tests/test_*; integration tests are tests/integration/test_*.{sh,py},
# which find the binary in $BMHGUARD. BMHGUARD_VALGRIND=1 runs unit tests under valgrind's
# leak checker. Every program is bounded by TEST_TIMEOUT seconds.
set -u
build=${1:?usage: tests/run.sh BUILD_DIR [unit|integration]}
which=${2:-all}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "$top" && cd "$build" && pwd)
export BMHGUARD="$build/bmhguard" BMHGUARD_BUILD="$build" BMHGUARD_TOP="$top"
timeout_s=${TEST_TIMEOUT:-300}
logdir="$build/test-logs"
mkdir -p "$logdir"
passed=0 failed=0 failed_names=()

run_one() {	# name, command...
	local name=$1; shift
	local log="$logdir/$name.log" rc ok notok
	timeout -k 5 "$timeout_s" "$@" >"$log" 2>&1
	rc=$?
	ok=$(grep -c '^ok ' "$log")
	notok=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		notok=1
		[ "$rc" -eq 124 ] && echo "not ok - $name timed out after ${timeout_s}s" >>"$log"
		echo "not ok - $name exited $rc" >>"$log"
	fi
	passed=$((passed + ok)); failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		failed_names+=("$name")
		printf 'FAIL %-40s %4d ok, %d not ok (log: %s)\n' "$name" "$ok" "$notok" "$log"
		grep -E '^(not ok|#)' "$log" | head -30 | sed 's/^/    /'
	else
		printf 'PASS %-40s %4d ok\n' "$name" "$ok"
	fi
}

if [ "$which" = all ] || [ "$which" = unit ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		if [ "${BMHGUARD_VALGRIND:-0}" = 1 ]; then
			run_one "valgrind-$(basename "$t")" valgrind -q --leak-check=full \
			    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
			    --error-exitcode=99 "$t"
		else
			run_one "$(basename "$t")" "$t"
		fi
	done
fi
if [ "$which" = all ] || [ "$which" = integration ]; then
	for t in "$here"/integration/test_*; do
		case "$t" in
		*.sh) run_one "$(basename "$t")" bash "$t" ;;
		*.py) run_one "$(basename "$t")" /usr/bin/python3 "$t" ;;
		esac
	done
fi

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
