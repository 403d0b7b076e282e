#!/usr/bin/env bash
# run-dev.sh - `make run`: a dev certificate, `bmhguard serve` on 127.0.0.1, one sample review.
#
# usage: server/run-dev.sh BUILD_DIR    (env RUN_PORT, default 8443; RUN_PLAIN_PORT, default 8080)
# Extra flags for the server go in RUN_FLAGS (for example RUN_FLAGS="--mode warn").
set -euo pipefail
build=${1:?usage: server/run-dev.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$top" && cd "$build" && pwd)/bmhguard
certs=$(cd "$top" && cd "$build" && pwd)/dev-certs
port=${RUN_PORT:-8443} plain=${RUN_PLAIN_PORT:-8080}
svc=bmhguard.bmhguard-system.svc
sample=$top/tests/data/sample-review.json

"$top/server/devcert.sh" "$certs" "$bin"
# shellcheck disable=SC2086 # RUN_FLAGS is a list of flags
"$bin" serve --listen "127.0.0.1:$port" --plain-listen "127.0.0.1:$plain" \
	--tls-cert "$certs/tls.crt" --tls-key "$certs/tls.key" ${RUN_FLAGS:-} &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
trap 'exit 0' INT TERM
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$plain/readyz" >/dev/null 2>&1 && break
	kill -0 $pid 2>/dev/null || { echo "run: bmhguard serve failed to start" >&2; exit 2; }
	sleep 0.1
done

decode='import base64, json, sys
r = json.load(sys.stdin)["response"]
print("allowed:", r["allowed"])
for w in r.get("warnings", []): print("warning:", w)
print("patch:", json.dumps(json.loads(base64.b64decode(r["patch"])), indent=2) if "patch" in r else "(none)")'
cmd="curl -sS --cacert $certs/ca.crt --resolve $svc:$port:127.0.0.1 -H 'Content-Type: application/json' --data-binary @$sample https://$svc:$port/mutate-metal3-io-v1alpha1-baremetalhost | python3 -c '$decode'"

echo
echo "bmhguard serve is running (pid $pid): webhook https://127.0.0.1:$port, health and metrics http://127.0.0.1:$plain/{healthz,readyz,metrics}"
echo "Send the sample review ($sample) and decode the patch:"
echo
echo "$cmd"
echo
echo "--- its output now:"
eval "$cmd"
echo
echo "Logs follow (JSON lines). Ctrl-C stops the server."
wait $pid
