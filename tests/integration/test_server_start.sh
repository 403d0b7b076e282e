#!/usr/bin/env bash
# test_server_start - `bmhguard serve` flags, start-up errors, the plain port and TLS versions.
#
# A missing, unreadable or invalid certificate, bad flags and a busy address are one clear
# error line and exit 2; --help documents every flag; /healthz, /readyz and /metrics answer on
# the plain port; TLS 1.2 and 1.3 handshakes work under the service name, TLS 1.1 is refused.
set -u
bin=${BMHGUARD:?}
top=${BMHGUARD_TOP:?}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
fails=0
ok() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fails=$((fails + 1)); fi; }
wait_s=10; [ "${BMHGUARD_SANITIZED:-0}" = 1 ] && wait_s=30

DEVCERT_OPENSSL=1 "$top/server/devcert.sh" "$work/a" >/dev/null
DEVCERT_OPENSSL=1 "$top/server/devcert.sh" "$work/b" >/dev/null
a=$work/a svc=bmhguard.bmhguard-system.svc

expect_exit2() {	# name, stderr pattern, args...
	local name=$1 pat=$2; shift 2
	timeout "$wait_s" "$bin" serve --listen 127.0.0.1:0 --plain-listen 127.0.0.1:0 "$@" \
		>"$work/out" 2>"$work/err"
	local rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l <"$work/err")" = 1 ] && grep -q -- "$pat" "$work/err"
	ok $? "$name: exit 2 with one clear line (rc $rc: $(head -c 200 "$work/err"))"
}

expect_exit2 "missing certificate" "cannot read $work/none.crt" --tls-cert "$work/none.crt" --tls-key "$a/tls.key"
expect_exit2 "missing key" "cannot read $work/none.key" --tls-cert "$a/tls.crt" --tls-key "$work/none.key"
expect_exit2 "unreadable certificate (a directory)" "cannot read $work" --tls-cert "$work" --tls-key "$a/tls.key"
printf 'not a certificate\n' >"$work/garbage.pem"
expect_exit2 "garbage certificate" "no usable PEM certificate" --tls-cert "$work/garbage.pem" --tls-key "$a/tls.key"
expect_exit2 "garbage key" "no usable PEM private key" --tls-cert "$a/tls.crt" --tls-key "$work/garbage.pem"
expect_exit2 "key of another certificate" "does not match" --tls-cert "$a/tls.crt" --tls-key "$work/b/tls.key"
expect_exit2 "no certificate flags" "are required"
expect_exit2 "unknown flag" "unknown flag" --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --bogus
expect_exit2 "bad --threads" "not a number" --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --threads 0
expect_exit2 "bad --max-body" "not a number" --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --max-body lots
expect_exit2 "bad --log-level" "log-level" --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --log-level loud
expect_exit2 "flag without value" "needs a value" --tls-cert "$a/tls.crt" --tls-key
expect_exit2 "bad policy flag" "" --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --match-cidr 10.0.0.0/99
expect_exit2 "bad listen address" "listen address" --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --listen nowhere

"$bin" serve --help >"$work/help" 2>&1
ok $? "serve --help exits 0"
missing=""
for f in --listen --plain-listen --tls-cert --tls-key --threads --max-body --idle-timeout \
	--max-connections --grace-period --log-level --bench-fixed-route --target-host --match-cidr \
	--path-prefix --mode; do
	grep -q -- "$f" "$work/help" || missing="$missing $f"
done
[ -z "$missing" ]; ok $? "serve --help documents every flag (missing:${missing:-none})"

# A running server: plain port endpoints, busy address, TLS versions.
"$bin" serve --listen 127.0.0.1:0 --plain-listen 127.0.0.1:0 --tls-cert "$a/tls.crt" \
	--tls-key "$a/tls.key" --log-level debug 2>"$work/serve.log" &
pid=$!
for _ in $(seq $((wait_s * 20))); do grep -q '"msg":"listening"' "$work/serve.log" && break; sleep 0.05; done
port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$work/serve.log")
plain=$(sed -n 's/.*"plain_port":\([0-9]*\).*/\1/p' "$work/serve.log")
[ -n "$port" ]; ok $? "server starts and logs its ports"

code=$(curl -s -o "$work/h" -w '%{http_code} %{content_type}' "http://127.0.0.1:$plain/healthz")
[ "$code" = "200 application/json" ]; ok $? "/healthz 200 application/json ($code)"
code=$(curl -s -o "$work/r" -w '%{http_code}' "http://127.0.0.1:$plain/readyz")
[ "$code" = 200 ] && grep -q ready "$work/r"; ok $? "/readyz 200 once the certificate is loaded ($code)"
code=$(curl -s -o "$work/m" -w '%{http_code} %{content_type}' "http://127.0.0.1:$plain/metrics")
[ "$code" = "200 text/plain; version=0.0.4; charset=utf-8" ] && grep -q '^# TYPE bmhguard_request_duration_seconds histogram' "$work/m" &&
	grep -q '^bmhguard_inflight_requests 0' "$work/m" && grep -q '^bmhguard_tls_cert_not_after_timestamp_seconds [1-9]' "$work/m" &&
	grep -q '^bmhguard_admission_requests_total{outcome="patched"} 0' "$work/m"
ok $? "/metrics in the Prometheus text format ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$plain/nope")
[ "$code" = 404 ]; ok $? "plain port: unknown path 404 ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$plain/metrics")
[ "$code" = 405 ]; ok $? "plain port: POST 405 ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$a/ca.crt" --resolve "$svc:$port:127.0.0.1" \
	-H 'Content-Type: application/json' -d '{}' "https://$svc:$port/bench-fixed")
[ "$code" = 404 ]; ok $? "the bench route is off without --bench-fixed-route ($code)"

"$bin" serve --listen "127.0.0.1:$port" --plain-listen 127.0.0.1:0 --tls-cert "$a/tls.crt" \
	--tls-key "$a/tls.key" >/dev/null 2>"$work/busy"
rc=$?
[ "$rc" = 2 ] && grep -q "cannot listen on 127.0.0.1:$port" "$work/busy"
ok $? "address in use: exit 2 ($(head -c 200 "$work/busy"))"

for v in 1.2 1.3; do
	out=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$a/ca.crt" --resolve "$svc:$port:127.0.0.1" \
		--tlsv$v --tls-max $v -H 'Content-Type: application/json' -d '{}' \
		"https://$svc:$port/mutate-metal3-io-v1alpha1-baremetalhost" 2>&1)
	[ "$out" = 400 ]; ok $? "TLS $v handshake verified under $svc ($out)"
done
out=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$a/ca.crt" --resolve "wrong.example:$port:127.0.0.1" \
	"https://wrong.example:$port/" 2>&1)
[ "${out#*SSL}" != "$out" ] || [ "${out#*certificate}" != "$out" ]
ok $? "a name the certificate does not cover fails verification"
if command -v gnutls-cli >/dev/null; then
	timeout 10 gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' --x509cafile "$a/ca.crt" \
		-p "$port" 127.0.0.1 </dev/null >"$work/tls11" 2>&1
	rc=$?
	[ "$rc" != 0 ] && ! grep -q "Handshake was completed" "$work/tls11"
	ok $? "TLS 1.1 refused by the server (gnutls-cli rc $rc)"
	timeout 10 gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2' --x509cafile "$a/ca.crt" \
		-p "$port" 127.0.0.1 </dev/null >"$work/tls12" 2>&1
	grep -q "Handshake was completed" "$work/tls12"
	ok $? "gnutls-cli TLS 1.2 handshake completes (control for the 1.1 check)"
fi

kill -TERM "$pid"
wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ]; ok $? "SIGTERM: exit 0 ($rc)"
grep -v '^{"time":"[^"]*","level":"[a-z]*","msg":' "$work/serve.log" >"$work/nonjson"
[ ! -s "$work/nonjson" ]; ok $? "every stderr line is a JSON log line ($(head -c 200 "$work/nonjson"))"
[ "$fails" = 0 ]
