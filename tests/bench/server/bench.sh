#!/usr/bin/env bash
# bench.sh - `make bench-server`: wrk against a real `bmhguard serve` over HTTPS keep-alive.
#
# usage: tests/bench/server/bench.sh BUILD_DIR
# Posts a realistic ~8 KB UPDATE review (make_review.py) with 16 connections to (a) the webhook
# path (full decision and patch) and (b) the fixed route that --bench-fixed-route enables (the
# transport ceiling), on the same server process, alternating for BENCH_ROUNDS (3) rounds of
# BENCH_SECONDS (5) each and reporting each one's median round. Prints
# req/s, p50, p99 and the server's peak RSS (VmHWM). BENCH_SOAK=1 adds a soak, counted from its own start: RSS after
# 100,000 reviews and again after 500,000 (SOAK_REQUESTS; SOAK_MAX_SECONDS caps the time),
# which should stay flat. BENCH_REVIEW=FILE posts that review instead (for example
# tests/data/bench-update-review.json, the request of `make bench`, which takes the withhold path).
# Client and server run on separate CPUs when there are enough (BENCH_PIN=0: shared; see below).
# Then (c): the full mutate path while BENCH_SLOW_CLIENTS (200) connections trickle their headers
# a byte a second (slow_clients.py; the server closes them at --request-timeout and they reopen),
# beside (a): goal p99 within 3x and req/s within 20%.
# Last, BENCH_BIG_ROUNDS (3) rounds of BENCH_BIG_CONCURRENCY (6) reviews near --max-body at once:
# the server's peak RSS, and its RSS after.
set -euo pipefail
build=${1:?usage: bench.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
bin=$(cd "$top" && cd "$build" && pwd)/bmhguard
secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-16}
threads=${BENCH_WRK_THREADS:-1}	# one client thread: on a small machine it leaves the server the other CPUs
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench-server: wrk is not installed (make deps-test)" >&2; exit 2; }
if [ -n "${BENCH_REVIEW:-}" ]; then
	cp "$BENCH_REVIEW" "$work/review.json"
else
	BMHGUARD_TOP=$top python3 "$here/make_review.py" "$work/review.json"
fi
DEVCERT_OPENSSL=1 "$top/server/devcert.sh" "$work/certs" >/dev/null
# Client and server each on CPUs of their own, as a webhook pod has its CPUs to itself: wrk on the
# last $threads CPUs this script may use, the server on the rest, where its default pool is one
# thread a CPU. Sharing every CPU, 2 server threads and wrk on 2 CPUs measured a p99 of 3-4 ms
# that is the scheduler's time slice, not the server (pinned: 0.3-0.5 ms, and more req/s).
# BENCH_PIN=0 shares them.
read -r -a cpus <<<"$(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
server_pin=() client_pin=() split="shared by client and server"
if [ "${BENCH_PIN:-1}" = 1 ] && [ "${#cpus[@]}" -gt "$threads" ] && command -v taskset >/dev/null; then
	n=$(( ${#cpus[@]} - threads ))
	server_pin=(taskset -c "$(IFS=,; echo "${cpus[*]:0:n}")")
	client_pin=(taskset -c "$(IFS=,; echo "${cpus[*]:n}")")
	split="server on CPU ${server_pin[2]}, client on CPU ${client_pin[2]}"
fi
"${server_pin[@]}" "$bin" serve --listen 127.0.0.1:0 --plain-listen 127.0.0.1:0 --tls-cert "$work/certs/tls.crt" \
	--tls-key "$work/certs/tls.key" --bench-fixed-route 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do grep -q '"msg":"listening"' "$work/serve.log" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$work/serve.log")
plain=$(sed -n 's/.*"plain_port":\([0-9]*\).*/\1/p' "$work/serve.log")
[ -n "$port" ] || { cat "$work/serve.log"; echo "bench-server: server did not start" >&2; exit 1; }
nproc=$(nproc)
echo "bench-server: $(basename "$bin") serve with $(grep -o '"threads":[0-9]*' "$work/serve.log" | cut -d: -f2) worker thread(s), wrk -t$threads -c$conns -d${secs}s, $nproc CPUs ($split), body $(wc -c <"$work/review.json") bytes"

rss_kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
# Reviews answered on the mutate path (the fixed route is not counted).
served() { curl -s "http://127.0.0.1:$plain/metrics" | awk '/^bmhguard_admission_requests_total/ { n += $2 } END { print n + 0 }'; }

wrk_once() {	# path seconds -> "rps p50_us p99_us requests non2xx errors"
	BENCH_BODY="$work/review.json" BENCH_PATH="$1" "${client_pin[@]}" wrk -t"$threads" -c"$conns" -d"$2s" --latency \
		-s "$here/post.lua" "https://127.0.0.1:$port" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; exit 1; }
	local line; line=$(grep '^BENCH ' "$work/wrk.out") || { cat "$work/wrk.out" >&2; exit 1; }
	eval "$(echo "$line" | sed 's/^BENCH //')"
	# shellcheck disable=SC2154 # set by the eval of wrk's summary line
	echo "$rps $p50_us $p99_us $requests $non2xx $errors"
}

report() {	# label "rps p50 p99 requests non2xx errors"
	set -- "$1" $2
	printf '%-36s %7.0f req/s  p50 %6.3f ms  p99 %6.3f ms  peak RSS %5.1f MiB  (%d requests, %d non-200, %d socket errors)\n' \
		"$1" "$2" "$(echo "$3 / 1000" | bc -l)" "$(echo "$4 / 1000" | bc -l)" \
		"$(echo "$(rss_kib VmHWM) / 1024" | bc -l)" "$5" "$6" "$7"
}

# Warm-up: handshakes, allocator arenas, page faults.
wrk_once /mutate-metal3-io-v1alpha1-baremetalhost 2 >/dev/null
# (a) and (b) alternate for BENCH_ROUNDS rounds, so a burst of other load on the machine hits
# both alike; each reports its median round.
: >"$work/a" ; : >"$work/b"
for _ in $(seq "$rounds"); do
	wrk_once /mutate-metal3-io-v1alpha1-baremetalhost "$secs" >>"$work/a"
	wrk_once /bench-fixed "$secs" >>"$work/b"
done
median() { sort -n "$1" | sed -n "$(( (rounds + 1) / 2 ))p"; }
a=$(median "$work/a") b=$(median "$work/b")
report "(a) full mutate path" "$a"
report "(b) fixed route (transport ceiling)" "$b"
printf '(a)/(b) = %.0f%% (goal >= 60%%); median of %d rounds of %ds each; load average %s\n' \
	"$(echo "100 * ${a%% *} / ${b%% *}" | bc -l)" "$rounds" "$secs" "$(cut -d' ' -f1-3 /proc/loadavg)"

# (c) the same while slow clients hold connections: a median of rounds as for (a)
slow=${BENCH_SLOW_CLIENTS:-200}
"${client_pin[@]}" python3 "$here/slow_clients.py" "$port" "$slow" $(( rounds * (secs + 1) + 4 )) >"$work/slow.out" &
slowpid=$!
sleep 3	# their handshakes done
: >"$work/c"
for _ in $(seq "$rounds"); do
	wrk_once /mutate-metal3-io-v1alpha1-baremetalhost "$secs" >>"$work/c"
done
wait "$slowpid"
c=$(median "$work/c")
report "(c) full mutate path, $slow slow" "$c"
read -r ar _ ap99 _ <<<"$a"
read -r cr _ cp99 _ <<<"$c"
printf '(c) beside (a): p99 x%.2f (goal <= 3), req/s %.0f%% (goal >= 80%%); %s\n' \
	"$(echo "$cp99 / $ap99" | bc -l)" "$(echo "100 * $cr / $ar" | bc -l)" "$(cat "$work/slow.out")"

if [ "${BENCH_SOAK:-0}" = 1 ]; then
	total=${SOAK_REQUESTS:-500000}
	soak_deadline=$((SECONDS + ${SOAK_MAX_SECONDS:-600}))
	rss100=
	# counted from here: the rounds above already served a few hundred thousand
	base=$(served)
	echo "soak: full mutate path until $total more reviews (at most ${SOAK_MAX_SECONDS:-600}s; RSS now $(echo "$(rss_kib VmRSS) / 1024" | bc -l | cut -c1-4) MiB after $base)"
	while [ "$SECONDS" -lt "$soak_deadline" ]; do
		n=$(( $(served) - base ))
		if [ -z "$rss100" ] && [ "$n" -ge 100000 ]; then
			rss100=$(rss_kib VmRSS)
			printf 'soak: RSS after %d soak requests (%d in all): %.1f MiB (goal <= 16 MiB)\n' \
				"$n" "$((n + base))" "$(echo "$rss100 / 1024" | bc -l)"
		fi
		[ "$n" -ge "$total" ] && break
		wrk_once /mutate-metal3-io-v1alpha1-baremetalhost 2 >/dev/null
	done
	[ -n "$rss100" ] || rss100=$(rss_kib VmRSS)
	rss_end=$(rss_kib VmRSS)
	printf 'soak: RSS after %d soak requests (%d in all): %.1f MiB (after 100k: %.1f MiB; growth %+.1f MiB); peak %.1f MiB\n' \
		"$n" "$((n + base))" "$(echo "$rss_end / 1024" | bc -l)" "$(echo "$rss100 / 1024" | bc -l)" \
		"$(echo "($rss_end - $rss100) / 1024" | bc -l)" "$(echo "$(rss_kib VmHWM) / 1024" | bc -l)"
fi

# Big reviews: bodies near --max-body whose parse costs the most memory (an array of small
# numbers: simdjson's tape is 8 bytes a value). The deployment's memory limit must hold the peak,
# and the server must give the memory back after.
big_rounds=${BENCH_BIG_ROUNDS:-3} big_conc=${BENCH_BIG_CONCURRENCY:-6}
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
base = len(json.dumps(r, separators=(",", ":")))
r["request"]["object"].setdefault("status", {})["bench"] = [0] * ((8 * 1024 * 1024 - 4096 - base) // 2)
open(sys.argv[2], "w").write(json.dumps(r, separators=(",", ":")))' "$work/review.json" "$work/big.json"
before=$(rss_kib VmRSS) codes=
for _ in $(seq "$big_rounds"); do
	for _ in $(seq "$big_conc"); do
		curl -sk --max-time 60 -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
			--data-binary @"$work/big.json" "https://127.0.0.1:$port/mutate-metal3-io-v1alpha1-baremetalhost" \
			>>"$work/big.codes" &
	done
	wait $(jobs -p | grep -vx "$pid")
done
codes=$(sort "$work/big.codes" | uniq -c | awk '{ printf "%s%d x %s", (NR > 1 ? ", " : ""), $1, $2 }')
printf 'big reviews: %d rounds of %d at once, %d bytes each (%s): RSS before %.1f MiB, peak %.1f MiB, after %.1f MiB\n' \
	"$big_rounds" "$big_conc" "$(wc -c <"$work/big.json")" "$codes" "$(echo "$before / 1024" | bc -l)" \
	"$(echo "$(rss_kib VmHWM) / 1024" | bc -l)" "$(echo "$(rss_kib VmRSS) / 1024" | bc -l)"
kill -TERM "$pid"; wait "$pid"; pid=
