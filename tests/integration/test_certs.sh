#!/usr/bin/env bash
# test_certs.sh - `bmhguard certs` checked from outside with the openssl CLI, and a real TLS
# handshake against `bmhguard serve` by the Service's DNS name with the pair it made.
set -u
BMHGUARD=${BMHGUARD:?set BMHGUARD to the binary}
work=$(mktemp -d /tmp/test_certs.XXXXXX)
serve_pid=
cleanup() {
	if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; fi
	rm -rf "$work"
}
trap cleanup EXIT
fails=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
check()  { local name=$1; shift; if "$@" >/dev/null; then ok "$name"; else not_ok "$name"; fi; }
rc_is()  { local want=$1; shift; "$@" >"$work/out" 2>"$work/err"; [ "$?" -eq "$want" ]; }

S=bmhguard N=bmhguard-system
svc_names="DNS:$S, DNS:$S.$N, DNS:$S.$N.svc, DNS:$S.$N.svc.cluster.local"

# --help documents every flag the parser takes.
"$BMHGUARD" certs --help >"$work/help" 2>&1
for f in --service --namespace --out --days --key-type --dns --ip --force --check --min-days --help; do
	check "certs --help documents $f" grep -q -- "$f" "$work/help"
done

# ---- making (ECDSA default) ----
d=$work/ec
"$BMHGUARD" certs --service $S --namespace $N --out "$d" --dns webhook.example.com --ip 10.1.2.3 \
    --ip fd00::7 >"$work/bundle" 2>"$work/err"
check "certs makes a pair (exit 0)" [ $? -eq 0 ]
check "files ca.crt tls.crt tls.key written" [ -s "$d/ca.crt" ] && [ -s "$d/tls.crt" ] && [ -s "$d/tls.key" ]
check "tls.key mode is 0600" [ "$(stat -c %a "$d/tls.key")" = 600 ]
check "openssl verify -CAfile ca.crt tls.crt" openssl verify -CAfile "$d/ca.crt" "$d/tls.crt"
openssl verify -purpose sslserver -CAfile "$d/ca.crt" "$d/tls.crt" >/dev/null 2>&1
check "openssl verify -purpose sslserver" [ $? -eq 0 ]
san=$(openssl x509 -in "$d/tls.crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | sed 's/^ *//')
check "SANs are the four service names plus extras ($san)" \
    [ "$san" = "$svc_names, DNS:webhook.example.com, IP Address:10.1.2.3, IP Address:FD00:0:0:0:0:0:0:7" ]
ext=$(openssl x509 -in "$d/tls.crt" -noout -ext extendedKeyUsage,keyUsage,basicConstraints 2>/dev/null)
check "EKU is TLS Web Server Authentication" grep -q 'TLS Web Server Authentication' <<<"$ext"
check "serving key usage is critical digitalSignature" grep -A1 -q 'Key Usage: critical' <<<"$ext"
check "serving key usage is Digital Signature" grep -q '^ *Digital Signature$' <<<"$ext"
check "serving certificate is CA:FALSE" grep -q 'CA:FALSE' <<<"$ext"
caext=$(openssl x509 -in "$d/ca.crt" -noout -ext keyUsage,basicConstraints 2>/dev/null)
check "CA is CA:TRUE with pathlen 0" grep -q 'CA:TRUE, pathlen:0' <<<"$caext"
check "CA key usage is Certificate Sign, CRL Sign" grep -q 'Certificate Sign, CRL Sign' <<<"$caext"
check "key is EC P-256" grep -q 'prime256v1' <(openssl pkey -in "$d/tls.key" -noout -text 2>/dev/null)
check "tls.key belongs to tls.crt" cmp -s <(openssl pkey -in "$d/tls.key" -pubout 2>/dev/null) \
    <(openssl x509 -in "$d/tls.crt" -noout -pubkey 2>/dev/null)
check "caBundle on stdout is one line of base64 of ca.crt" \
    cmp -s <(base64 -d "$work/bundle" 2>/dev/null) "$d/ca.crt"
check "caBundle is the only stdout line" [ "$(wc -l <"$work/bundle")" -eq 1 ]
check "validity is 365 days by default" [ "$(openssl x509 -in "$d/tls.crt" -noout -checkend $((364 * 86400)) >/dev/null; echo $?)" = 0 ] && \
    [ "$(openssl x509 -in "$d/tls.crt" -noout -checkend $((366 * 86400)) >/dev/null; echo $?)" = 1 ]

# ---- overwrite protection ----
sum_before=$(cat "$d"/* | sha256sum)
check "second run without --force exits 1" rc_is 1 "$BMHGUARD" certs --service $S --namespace $N --out "$d"
check "refusal names --force" grep -q -- --force "$work/err"
check "refusal left the files unchanged" [ "$(cat "$d"/* | sha256sum)" = "$sum_before" ]
check "refusal printed no caBundle" [ ! -s "$work/out" ]
chmod 0644 "$d/tls.key"
check "--force replaces the pair" rc_is 0 "$BMHGUARD" certs --service $S --namespace $N --out "$d" --force \
    --dns webhook.example.com
check "--force wrote new files" [ "$(cat "$d"/* | sha256sum)" != "$sum_before" ]
check "replaced tls.key is 0600 again" [ "$(stat -c %a "$d/tls.key")" = 600 ]
check "replaced pair verifies" openssl verify -CAfile "$d/ca.crt" "$d/tls.crt"
check "no temporary files left behind" [ "$(ls -A "$d" | sort | tr '\n' ' ')" = "ca.crt tls.crt tls.key " ]

# ---- RSA ----
r=$work/rsa
check "--key-type rsa makes a pair" rc_is 0 "$BMHGUARD" certs --service $S --namespace $N --out "$r" --key-type rsa
check "RSA key is 2048 bits" grep -q 'Private-Key: (2048 bit' <(openssl pkey -in "$r/tls.key" -noout -text 2>/dev/null)
check "RSA pair verifies" openssl verify -CAfile "$r/ca.crt" "$r/tls.crt"
check "RSA key usage adds Key Encipherment" grep -q 'Digital Signature, Key Encipherment' \
    <(openssl x509 -in "$r/tls.crt" -noout -ext keyUsage 2>/dev/null)

# ---- --check ----
check "--check of a fresh pair exits 0" rc_is 0 "$BMHGUARD" certs --check "$d" --service $S --namespace $N
check "--check reports the subject" grep -q "^subject: .*CN=$S.$N.svc" "$work/out"
check "--check reports the SANs" grep -q "^names: *DNS:$S, DNS:$S.$N," "$work/out"
check "--check reports the expiry" grep -q '^not after: .*days left' "$work/out"
check "--check with an extra name it covers" rc_is 0 "$BMHGUARD" certs --check "$work/ec" --dns webhook.example.com --min-days 0
m=$work/mismatch; mkdir "$m"; cp "$d/ca.crt" "$d/tls.crt" "$m/"; cp "$r/tls.key" "$m/"
check "--check fails (1) on a mismatched key" rc_is 1 "$BMHGUARD" certs --check "$m"
check "... and says so" grep -q 'FAIL.*does not match' "$work/out"
check "--check fails (1) on an uncovered service name" rc_is 1 "$BMHGUARD" certs --check "$d" --service other --namespace $N
check "... and names it" grep -q "FAIL.*does not cover other.$N.svc" "$work/out"
check "--check fails (1) on an uncovered --ip" rc_is 1 "$BMHGUARD" certs --check "$d" --ip 10.9.9.9
s=$work/short
"$BMHGUARD" certs --service $S --namespace $N --out "$s" --days 1 >/dev/null 2>&1
check "--check fails (1) on a 1-day certificate with --min-days 30" rc_is 1 "$BMHGUARD" certs --check "$s" --min-days 30
check "... and says it expires" grep -q 'FAIL.*expires in' "$work/out"
check "--check passes the 1-day certificate with --min-days 0" rc_is 0 "$BMHGUARD" certs --check "$s" --min-days 0
x=$work/foreign; mkdir "$x"; cp "$r/ca.crt" "$x/"; cp "$d/tls.crt" "$d/tls.key" "$x/"
check "--check fails (1) when ca.crt did not sign tls.crt" rc_is 1 "$BMHGUARD" certs --check "$x"
check "--check of a missing directory exits 2" rc_is 2 "$BMHGUARD" certs --check "$work/none"
echo junk >"$work/junk.crt"; mkdir "$work/junk"; cp "$work/junk.crt" "$work/junk/tls.crt"; cp "$d/tls.key" "$work/junk/"
check "--check of a non-PEM tls.crt exits 2" rc_is 2 "$BMHGUARD" certs --check "$work/junk"

# ---- usage errors: exit 2, one line, nothing written ----
u=$work/usage
for args in "--service $S --namespace $N" "--service $S --out $u" "--service Bad --namespace $N --out $u" \
    "--service $S --namespace $N --out $u --days 0" "--service $S --namespace $N --out $u --days x" \
    "--service $S --namespace $N --out $u --key-type dsa" "--service $S --namespace $N --out $u --ip 10.0.0" \
    "--service $S --namespace $N --out $u --dns a,DNS:evil" "--check $d --out $u" "--check $d --service $S" \
    "--service $S --namespace $N --out $u --min-days 3" "--bogus" "--days"; do
	# shellcheck disable=SC2086
	check "usage error exits 2: certs $args" rc_is 2 "$BMHGUARD" certs $args
	check "... with one error line" [ "$(wc -l <"$work/err")" -eq 1 ]
done
check "usage errors wrote nothing" [ ! -e "$u" ]

# ---- a real TLS handshake by the service DNS name against bmhguard serve ----
tls_test() {	# pair directory, label, a foreign pair directory
	local d=$1 label=$2 r=$3 port plain try name="$S.$N.svc" body
	if ! "$BMHGUARD" serve --help >/dev/null 2>&1; then
		echo "ok - TLS handshake against bmhguard serve ($label) # SKIP bmhguard serve is not available in this build"
		return
	fi
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000)); plain=$((port + 1))
		"$BMHGUARD" serve --listen "127.0.0.1:$port" --plain-listen "127.0.0.1:$plain" \
		    --tls-cert "$d/tls.crt" --tls-key "$d/tls.key" --threads 1 --log-level warn \
		    >"$work/serve.log" 2>&1 &
		serve_pid=$!
		for _ in $(seq 1 50); do
			curl -fsS "http://127.0.0.1:$plain/readyz" >/dev/null 2>&1 && break 2
			kill -0 "$serve_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; serve_pid=
	done
	if [ -z "$serve_pid" ]; then
		not_ok "bmhguard serve became ready with the $label pair"; sed 's/^/# /' "$work/serve.log" | head -5
		return
	fi
	ok "bmhguard serve became ready with the $label pair"
	openssl s_client -connect "127.0.0.1:$port" -servername "$name" -verify_hostname "$name" \
	    -CAfile "$d/ca.crt" -verify_return_error </dev/null >"$work/sclient" 2>&1
	check "$label: openssl s_client verifies $name with ca.crt" grep -q 'Verify return code: 0 (ok)' "$work/sclient"
	openssl s_client -connect "127.0.0.1:$port" -servername "other.$N.svc" -verify_hostname "other.$N.svc" \
	    -CAfile "$d/ca.crt" -verify_return_error </dev/null >"$work/sclient2" 2>&1
	check "$label: openssl s_client refuses other.$N.svc" grep -q 'hostname mismatch' "$work/sclient2"
	openssl s_client -connect "127.0.0.1:$port" -servername "$name" -verify_hostname "$name" \
	    -CAfile "$r/ca.crt" -verify_return_error </dev/null >"$work/sclient3" 2>&1
	check "$label: openssl s_client refuses another CA" grep -qE 'unable to get local issuer|verify error' "$work/sclient3"
	body='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0d5c6c44-0001",
	  "kind":{"group":"metal3.io","version":"v1alpha1","kind":"BareMetalHost"},
	  "resource":{"group":"metal3.io","version":"v1alpha1","resource":"baremetalhosts"},
	  "name":"worker-0","namespace":"metal3","operation":"CREATE",
	  "object":{"apiVersion":"metal3.io/v1alpha1","kind":"BareMetalHost",
	    "metadata":{"name":"worker-0","namespace":"metal3"},
	    "spec":{"online":true,"image":{"url":"http://172.22.0.1/images/rhcos.qcow2","checksum":"97830b21"}}}}}'
	curl -sS --cacert "$d/ca.crt" --resolve "$name:$port:127.0.0.1" -H 'Content-Type: application/json' \
	    --data-binary "$body" -o "$work/resp" -w '%{http_code}' \
	    "https://$name:$port/mutate-metal3-io-v1alpha1-baremetalhost" >"$work/code" 2>"$work/curl.err"
	check "$label: curl (libcurl, OpenSSL) POSTs a review to https://$name/... (HTTP $(cat "$work/code"))" \
	    [ "$(cat "$work/code")" = 200 ]
	check "$label: ... and gets an AdmissionReview answering the uid" grep -q '"uid" *: *"0d5c6c44-0001"' "$work/resp"
	if command -v gnutls-cli >/dev/null; then
		gnutls-cli --x509cafile "$d/ca.crt" --port "$port" --sni-hostname "$name" \
		    --verify-hostname "$name" 127.0.0.1 </dev/null >"$work/gnutls" 2>&1
		check "$label: gnutls-cli verifies $name with ca.crt" grep -q 'Handshake was completed' "$work/gnutls"
	fi
	kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; serve_pid=
}
tls_test "$d" ECDSA "$r"
tls_test "$r" RSA "$d"

[ "$fails" -eq 0 ]
