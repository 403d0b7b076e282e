#!/bin/sh
# devcert.sh - make a throwaway CA and a serving certificate for bmhguard on loopback and under
# its in-cluster service name (dev runs and tests only; production certs come from
# `bmhguard certs` or cert-manager).
#
# usage: server/devcert.sh OUTDIR [BMHGUARD_BINARY]
# Writes OUTDIR/ca.crt, OUTDIR/tls.crt, OUTDIR/tls.key (0600), replacing any there. The leaf
# names bmhguard.bmhguard-system.svc (and .cluster.local), localhost, 127.0.0.1 and ::1. Uses
# `bmhguard certs` when the binary is given and that subcommand works; otherwise the openssl
# CLI. DEVCERT_OPENSSL=1 forces openssl; DEVCERT_DAYS sets the validity (default 30).
set -eu
out=${1:?usage: server/devcert.sh OUTDIR [BMHGUARD_BINARY]}
bin=${2:-}
days=${DEVCERT_DAYS:-30}
svc=bmhguard ns=bmhguard-system
mkdir -p "$out"

if [ -n "$bin" ] && [ "${DEVCERT_OPENSSL:-0}" != 1 ] && [ -x "$bin" ] &&
   "$bin" certs --service "$svc" --namespace "$ns" --out "$out" --days "$days" \
	--dns localhost --ip 127.0.0.1 --ip ::1 --force >/dev/null 2>&1 &&
   [ -s "$out/ca.crt" ] && [ -s "$out/tls.crt" ] && [ -s "$out/tls.key" ]; then
	echo "devcert: made $out/{ca.crt,tls.crt,tls.key} with bmhguard certs"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key" 2>/dev/null
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -subj "/CN=bmhguard dev CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$tmp/ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tls.key" 2>/dev/null
openssl req -new -key "$tmp/tls.key" -subj "/CN=$svc.$ns.svc" -out "$tmp/tls.csr" 2>/dev/null
cat > "$tmp/ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local,DNS:$svc,DNS:$svc.$ns,DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
	-days "$days" -sha256 -extfile "$tmp/ext" -out "$tmp/tls.crt" 2>/dev/null
chmod 600 "$tmp/tls.key"
# Key first, certificate last: a watcher that sees the certificate change finds its key ready.
cp "$tmp/ca.crt" "$out/ca.crt.new" && mv "$out/ca.crt.new" "$out/ca.crt"
cp -p "$tmp/tls.key" "$out/tls.key.new" && mv "$out/tls.key.new" "$out/tls.key"
cp "$tmp/tls.crt" "$out/tls.crt.new" && mv "$out/tls.crt.new" "$out/tls.crt"
echo "devcert: made $out/{ca.crt,tls.crt,tls.key} with openssl"
