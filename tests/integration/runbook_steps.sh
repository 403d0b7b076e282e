#!/usr/bin/env bash
# runbook_steps.sh - run the manual runbook's steps 3-8 for one host, commands as written there.
#
# usage: runbook_steps.sh --server URL [--proxy-url URL] [--kubeconfig F] [-n NS]
#                         --url NEWURL --checksum NEWCHECKSUM [--workdir DIR] HOST
#
# Source: the runbook "BareMetalHost Provisioning Error Resolution" (baremetalhost-provisioning-
# error-resolution.md, kept with the cluster's documentation, not in this repository). The
# commands are the runbook's, byte for byte, with three substitutions only: the host name
# (master-2), the namespace (the runbook's kubectl calls use the context namespace and its curl
# uses "default"; here both use -n NS, default "default"), and the new image url/checksum in the
# two payload files. kubectl reaches --server (with --kubeconfig, default /dev/null, and $KUBECTL_ARGS);
# the curl of step 6 goes to --proxy-url (default: --server) the way the runbook's goes to
# `kubectl proxy` on 127.0.0.1:8001, so that URL must be plain HTTP without auth (kube_double
# without TLS is such an endpoint). Steps 1, 2 and 9 (access check, starting/stopping the proxy)
# do not change hosts and are not run. This is not a test: it is called by the equivalence test
# and by the kubectl-loop benchmark. Exit status: 0, or the number of the failing step (3..8).
# The runbook's curl has no -f, so a Status "Failure" answer in its output counts as failure.
set -u
server="" proxy="" kubeconfig=/dev/null ns=default url="" checksum="" workdir="" host=""
while [ $# -gt 0 ]; do
	case "$1" in
	--server) server=$2; shift 2 ;;
	--proxy-url) proxy=$2; shift 2 ;;
	--kubeconfig) kubeconfig=$2; shift 2 ;;
	-n|--namespace) ns=$2; shift 2 ;;
	--url) url=$2; shift 2 ;;
	--checksum) checksum=$2; shift 2 ;;
	--workdir) workdir=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	-*) echo "runbook_steps.sh: unknown flag $1" >&2; exit 2 ;;
	*) host=$1; shift ;;
	esac
done
if [ -z "$server" ] || [ -z "$url" ] || [ -z "$checksum" ] || [ -z "$host" ]; then
	echo "usage: runbook_steps.sh --server URL [--proxy-url URL] [--kubeconfig F] [-n NS] --url NEWURL --checksum NEWCHECKSUM HOST" >&2
	exit 2
fi
proxy=${proxy:-$server}
proxy=${proxy#http://}	# the runbook's curl target has no scheme: 127.0.0.1:8001/apis/...
cleanup=""
if [ -z "$workdir" ]; then
	workdir=$(mktemp -d) || exit 2
	cleanup=$workdir
fi
trap '[ -n "$cleanup" ] && rm -rf "$cleanup"' EXIT
cd "$workdir" || exit 2

# "kubectl" in the runbook is the operator's configured kubectl: here one aimed at the server.
kubectl() {
	# shellcheck disable=SC2086
	command "${KUBECTL:-kubectl}" --kubeconfig "$kubeconfig" --server "$server" -n "$ns" \
	    ${KUBECTL_ARGS:-} "$@"
}
json_string() { /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# Step 3: Pause BareMetalHost Reconciliation
kubectl patch bmh "$host" --type=merge --patch '{"metadata":{"annotations":{"baremetalhost.metal3.io/paused": "true"}}}' || exit 3

# Step 4: Create Payload Files (the runbook's text; url and checksum are the new ones)
u=$(json_string "$url") c=$(json_string "$checksum")
cat >status_payload.json <<EOF
{
   "status": {
      "errorCount": 0,
      "errorMessage": "",
      "provisioning": {
         "image": {
            "checksum": $c,
            "url": $u
         },
         "state": "provisioned"
      }
   }
}
EOF
cat >spec_payload.json <<EOF
{
   "spec": {
      "image": {
         "checksum": $c,
         "url": $u
      }
   }
}
EOF
[ -s status_payload.json ] && [ -s spec_payload.json ] || exit 4

# Step 5: Validate Payload Files (the runbook's commands, useless cat included)
# shellcheck disable=SC2002
cat status_payload.json | jq >/dev/null || exit 5
# shellcheck disable=SC2002
cat spec_payload.json | jq >/dev/null || exit 5

# Step 6: Apply Status Patch
out=$(curl -k -v -XPATCH \
  -H "Accept: application/json" \
  -H "Content-Type: application/merge-patch+json" \
  --data-binary "@status_payload.json" \
  "$proxy/apis/metal3.io/v1alpha1/namespaces/$ns/baremetalhosts/$host/status" 2>curl.err) || {
	cat curl.err >&2; exit 6; }
case "$out" in
*'"kind":"Status"'*'"status":"Failure"'*) echo "runbook step 6: $out" >&2; exit 6 ;;
esac

# Step 7: Apply Spec Patch
kubectl patch bmh "$host" --type=merge --patch "$(cat spec_payload.json)" || exit 7

# Step 8: Resume Reconciliation
kubectl patch bmh "$host" --type=merge --patch '{"metadata":{"annotations":{"baremetalhost.metal3.io/paused":null}}}' || exit 8
exit 0
