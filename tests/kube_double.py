#!/usr/bin/python3
"""kube_double - a Kubernetes API server test double for Metal3 BareMetalHosts and their kin.

Full reference (flags, control API, fault rules): tests/KUBE_DOUBLE.md.

WHAT IT MODELS
- metal3.io/v1alpha1 BareMetalHost, DataImage and HostFirmwareComponents, and
  infrastructure.cluster.x-k8s.io Metal3Machine and Metal3MachineTemplate (served as v1beta1 and
  v1beta2: one stored object, answered with the apiVersion of the path asked), all namespaced:
  GET, LIST (namespaced and cluster-wide), POST, PUT, PATCH, DELETE; the status subresource
  where the CRD has it (all but Metal3MachineTemplate: writes to the resource keep the stored
  .status, writes to /status keep everything but .status; without it a write sets status like
  any field, bumps generation for it too, and /status is 404).
- Which CRDs are installed (--crds, /_double/crds): an unserved kind's paths answer 404 and it
  is absent from discovery (its group too when nothing in it is served); its objects stay stored.
- PATCH as RFC 7386 merge patch (null deletes a key) and RFC 6902 JSON patch; strategic merge and
  apply patches are refused with 415, as the real server refuses them for custom resources.
- resourceVersion: one global counter bumped by every write that changes an object (no-op
  writes change nothing); metadata.resourceVersion in a body is a precondition (stale -> 409
  Conflict). generation bumps when anything outside metadata and status changes; uid and
  creationTimestamp are set on create. Empty labels/annotations maps are dropped (ObjectMeta).
- Status error objects (kind Status) for every error; 401 without valid credentials.
- LIST: labelSelector (=, ==, !=, exists, !key, in, notin), fieldSelector on metadata.name and
  metadata.namespace, limit/continue paging in (namespace, name) order served from a snapshot
  taken at the first page (as etcd serves later pages at the first page's revision); an unknown
  or evicted continue token gives 410 Expired.
- Discovery that kubectl needs (legacy, non-aggregated), Table output with the CRD's printer
  columns for BareMetalHosts (Name and Age for the other kinds); /openapi/* answers 404 so
  kubectl skips client-side schema work.
- The Bare Metal Operator's dangerous rule: a host in state provisioned or externally provisioned,
  not paused, whose spec.image.url differs from status.provisioning.image.url is deprovisioned
  (state -> deprovisioning) and the double records that as a data-loss event. Evaluated after
  every write (for that host) and on a tick (all hosts). Optionally the operator clearing
  "provisioned registration error" on unpaused hosts whose status image host is a name.
- The operator restoring a moved host's status: an unpaused host without status.lastUpdated
  (BMO's hostHasStatus) that carries the baremetalhost.metal3.io/status annotation gets its
  status from the annotation (a JSON object; lastUpdated set if absent) and loses the annotation
  in one write, then the deprovision rule runs on the restored status (trigger "restore").
  Optionally (dropStatusAnnotation) the annotation is also dropped from any other unpaused host
  that carries it, as the real operator does. A simulated clusterctl move (/_double/move) with
  CAPM3's pause + status snapshot and unpause.
- A busy operator: status.lastUpdated written at a Poisson rate per host, through the store.
- The operator's rules for a host's same-named HostFirmwareComponents and DataImage, evaluated
  after every write to either of them and to the host (not on the tick, never on seeding), only
  for an existing unpaused host: every spec.updates component whose url differs from the one
  status.updates records is flashed (status url := spec url; a component that had a url there is
  recorded as a re-flash, one without as a first flash); a DataImage whose non-empty
  status.attachedImage.url differs from spec.url is re-attached (recorded). Both are status
  writes through the store.
- Owner hooks: another client's merge patch (metadata, spec and status) applied right after the
  N-th matching successful write (of any stored kind), before that write is answered.
- Fault injection per request (500/503/404/409, 429 + Retry-After, TCP reset before or after
  the write commits, stall), added latency, a request log, and SIGKILL of a client after its
  N-th write.
- Authorization as a deny list: requests matching a forbid rule (verb, group, resource,
  subresource, namespace) get the real 403 Forbidden Status; SelfSubjectAccessReview answers
  from the same rules.
- events.k8s.io/v1 Events: create with the API server's v1 validation (422 with field causes),
  get, list (field selectors on regarding.*, reason, type, ...), AlreadyExists.
- Plain HTTP or TLS, optional client-certificate verification and bearer tokens (re-read file).
- A stand-in image server (GET/HEAD /images/..., 200 unless marked missing) for --verify-url.

WHAT IT DOES NOT MODEL
- watch, server-side apply, dry-run, field validation, CRD schema validation, defaulting and
  pruning, admission webhooks, finalizers and graceful deletion, deleteCollection, real RBAC
  (roles, bindings, users, groups, impersonation: only the deny list above),
  SelfSubjectRulesReview, managedFields, aggregated discovery, OpenAPI documents, any resource
  but the five kinds above, events.k8s.io/v1 Events and SelfSubjectAccessReviews (core/v1
  events, secrets, namespaces are 404), Event update/patch/delete, the operator's other
  behaviour (registration, inspection, provisioning, power, HardwareData, finalizers, firmware
  update conditions and timing, a DataImage's first attach at boot; a restore does not check
  the annotation against the status schema), CAPM3's controllers (no rule for Metal3Machine or
  Metal3MachineTemplate: CAPM3 copies an image into a host only while the host's spec.image is
  nil), real v1beta1/v1beta2 conversion (only apiVersion differs), deleting a CRD deleting its
  objects, etcd compaction, more than one cluster (a move replaces the host in place).

Standard library only (python3-yaml is used, when present, to read YAML seed files).
"""

import argparse
import base64
import bisect
import collections
import copy
import datetime
import heapq
import ipaddress
import json
import os
import random
import re
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUP = "metal3.io"
VERSION = "v1alpha1"
GV = GROUP + "/" + VERSION
PLURAL = "baremetalhosts"
KIND = "BareMetalHost"
PAUSED = "baremetalhost.metal3.io/paused"
STATUS_ANN = "baremetalhost.metal3.io/status"
CAPM3_PAUSE = "metal3.io/capm3"
DEFAULT_USER = "system:serviceaccount:bmhguard-system:bmhguard-repair"
EVENTS_GROUP = "events.k8s.io"
EVENTS_GV = EVENTS_GROUP + "/v1"
AUTHZ_GROUP = "authorization.k8s.io"
AUTHZ_GV = AUTHZ_GROUP + "/v1"
SSAR_PATH = "/apis/%s/selfsubjectaccessreviews" % AUTHZ_GV
EVENTS_NS = "/apis/%s/namespaces/" % EVENTS_GV
EVENTS_ALL = "/apis/%s/events" % EVENTS_GV
EVENTS_KEPT = 100000
MAX_LATENCY_MS = 60000
REG_ERROR = "provisioned registration error"
PROVISIONED_STATES = ("provisioned", "externally provisioned")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_STALL = 120.0
MAX_BODY = 64 << 20
SNAPSHOTS_KEPT = 256

INFRA_GROUP = "infrastructure.cluster.x-k8s.io"
NOT_FOUND_MSG = "the server could not find the requested resource"


class Resource:
    """One kind the store keeps, as its CRD names it. versions: served versions, preferred (and
    stored) first; an object is stored once, with the preferred version's apiVersion, and
    answered with the apiVersion of the path asked. status: the status subresource is enabled."""

    def __init__(self, group, versions, plural, kind, singular, short=(), categories=(),
                 status=True, rule=None):
        self.group, self.versions, self.plural, self.kind = group, versions, plural, kind
        self.singular, self.short, self.categories, self.status = singular, short, categories, \
            status
        self.api_version = group + "/" + versions[0]
        self.rule = rule  # operator rule run after writes: "hfc", "dataimage" or None
        # what a generation bump ignores: with a status subresource status changes never bump it
        self.gen_strip = ("metadata", "status") if status else ("metadata",)

    def qualified(self):
        return self.plural + "." + self.group


BMH = Resource(GROUP, (VERSION,), PLURAL, KIND, "baremetalhost", ("bmh", "bmhost"))
DATAIMAGES = Resource(GROUP, (VERSION,), "dataimages", "DataImage", "dataimage",
                      rule="dataimage")
HFC = Resource(GROUP, (VERSION,), "hostfirmwarecomponents", "HostFirmwareComponents",
               "hostfirmwarecomponents", rule="hfc")
M3M = Resource(INFRA_GROUP, ("v1beta2", "v1beta1"), "metal3machines", "Metal3Machine",
               "metal3machine", ("m3m", "m3machine", "m3machines", "metal3m", "metal3machine"),
               ("cluster-api",))
M3MT = Resource(INFRA_GROUP, ("v1beta2", "v1beta1"), "metal3machinetemplates",
                "Metal3MachineTemplate", "metal3machinetemplate",
                ("m3mt", "m3machinetemplate", "m3machinetemplates", "metal3mt",
                 "metal3machinetemplate"), ("cluster-api",), status=False)
RESOURCES = collections.OrderedDict((r.plural, r) for r in (BMH, DATAIMAGES, HFC, M3M, M3MT))
BY_KIND = {r.kind: r for r in RESOURCES.values()}
ROUTES = {(r.group, v, r.plural): r for r in RESOURCES.values() for v in r.versions}
API_GROUPS = (GROUP, INFRA_GROUP)  # the store's groups, in /apis order (before the built-ins)


def resource_named(name):
    """A Resource by plural, singular, kind or short name (case-insensitive), else None."""
    n = (name or "").strip().lower()
    for r in RESOURCES.values():
        if n in (r.plural, r.singular, r.kind.lower()) + r.short:
            return r
    return None


def parse_crds(text):
    """--crds / POST /_double/crds: a comma list (or list) of resource names, "all" -> a frozenset
    of plurals; ValueError for an unknown name."""
    items = text.split(",") if isinstance(text, str) else text
    if not isinstance(items, list):
        raise ValueError("served is a list of resource names")
    out = set()
    for it in items:
        if not isinstance(it, str):
            raise ValueError("served is a list of resource names")
        if not it.strip():
            continue
        if it.strip() == "all":
            out.update(RESOURCES)
            continue
        r = resource_named(it)
        if r is None:
            raise ValueError("unknown resource %r (known: %s)" % (it, ", ".join(RESOURCES)))
        out.add(r.plural)
    return frozenset(out)


def store_route(path):
    """(resource, version, namespace, name, subresource) when path names a store resource (served
    or not): namespace None for the cluster-wide list, name and subresource "" when absent. None
    for anything else, including empty segments and subresources other than status."""
    parts = path.split("/")
    if len(parts) < 5 or parts[0] or parts[1] != "apis":
        return None
    group, version, rest = parts[2], parts[3], parts[4:]
    if len(rest) == 1:
        r = ROUTES.get((group, version, rest[0]))
        return (r, version, None, "", "") if r else None
    if rest[0] != "namespaces" or not 3 <= len(rest) <= 5 or not all(rest):
        return None
    r = ROUTES.get((group, version, rest[2]))
    if r is None or (len(rest) == 5 and rest[4] != "status"):
        return None
    return r, version, rest[1], rest[3] if len(rest) > 3 else "", rest[4] if len(rest) > 4 else ""


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    """RFC 3339 with exactly 6 fractional digits (a metav1.MicroTime)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_json(obj):
    """encoding/json's bytes for a value decoded into map[string]any: sorted keys, compact,
    HTML-escaped <, >, & and U+2028/U+2029 (only ever inside strings), UTF-8 kept."""
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    REASONS = {413: "RequestEntityTooLarge", 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
               415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
               500: "InternalError", 503: "ServiceUnavailable"}

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            st["details"] = self.details
        return st


def not_found(name, res=None):
    res = res or BMH
    return ApiError(404, '%s "%s" not found' % (res.qualified(), name),
                    details={"name": name, "group": res.group, "kind": res.plural})


def conflict(name, res=None):
    res = res or BMH
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": the object has '
                    'been modified; please apply your changes to the latest version and try again'
                    % (res.qualified(), name), details={"name": name, "group": res.group,
                                                        "kind": res.plural})


# ---------------------------------------------------------------- patches

def merge_patch(target, patch):
    """RFC 7386. Shares unpatched subtrees with target; never mutates either argument."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _pointer(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise ApiError(422, "invalid JSON pointer %r" % (path,))
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise ApiError(422, "path /%s does not exist" % "/".join(parts))
    return cur


def _jp_add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise ApiError(422, "index %s out of range" % last)
    else:
        raise ApiError(422, "cannot add to a scalar")
    return doc


def _jp_remove(doc, parts):
    if not parts:
        raise ApiError(422, "cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise ApiError(422, "path /%s does not exist" % "/".join(parts))


def json_patch(doc, ops):
    """RFC 6902 on a deep copy of doc."""
    if not isinstance(ops, list):
        raise ApiError(400, "json patch must be an array of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "invalid json patch operation %r" % (op,))
        kind, parts = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise ApiError(400, "json patch %s needs a value" % kind)
        if kind == "add":
            doc = _jp_add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _jp_remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)
            if parts:
                _jp_remove(doc, parts)
            doc = _jp_add(doc, parts, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                _jp_remove(doc, src)
            doc = _jp_add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op["value"]:
                raise ApiError(422, "test operation failed at %s" % op["path"])
        else:
            raise ApiError(400, "unknown json patch op %r" % kind)
    return doc


# ---------------------------------------------------------------- selectors

_REQ_SPLIT = re.compile(r",(?![^()]*\))")
_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"


def parse_label_selector(text):
    """Returns a list of (op, key, values); raises ApiError 400."""
    reqs = []
    for raw in _REQ_SPLIT.split(text or ""):
        r = raw.strip()
        if not r:
            continue
        m = re.fullmatch(r"(%s)\s+(in|notin)\s+\(([^()]*)\)" % _KEY, r)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(2), m.group(1), vals))
            continue
        m = re.fullmatch(r"(%s)\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)" % _KEY, r)
        if m:
            reqs.append(("!=" if m.group(2) == "!=" else "=", m.group(1), {m.group(3)}))
            continue
        m = re.fullmatch(r"(!?)\s*(%s)" % _KEY, r)
        if m:
            reqs.append(("!" if m.group(1) else "exists", m.group(2), None))
            continue
        raise ApiError(400, "unable to parse requirement: %r" % r)
    return reqs


def labels_match(reqs, labels):
    for op, key, vals in reqs:
        has = key in labels
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op in ("=", "in") and (not has or labels[key] not in vals):
            return False
        if op in ("!=", "notin") and has and labels[key] in vals:
            return False
    return True


def parse_field_selector(text):
    reqs = []
    for r in (text or "").split(","):
        r = r.strip()
        if not r:
            continue
        m = re.fullmatch(r"(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)", r)
        if not m:
            raise ApiError(400, 'field label not supported: %r' % r.split("=")[0].rstrip("!"))
        reqs.append((m.group(1), m.group(2) == "!=", m.group(3)))
    return reqs


def fields_match(reqs, ns, name):
    for field, negate, value in reqs:
        actual = name if field == "metadata.name" else ns
        if (actual == value) == negate:
            return False
    return True


# ---------------------------------------------------------------- events.k8s.io/v1 validation

# Names of the API machinery (k8s.io/apimachinery/pkg/util/validation) and the messages it gives.
_DNS1123_SUB = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QNAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_MICROTIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}"
                        r"(Z|[+-](\d{2}):(\d{2}))")
_DNS1123_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_QNAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                   "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                   "or '123-abc', regex used for validation is "
                   "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_QNAME_MSG = ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
              "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',"
              "  or '123-abc', regex used for validation is "
              "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
              "prefix and '/' (e.g. 'example.com/MyName')")
EVENT_LIMITS = {"reportingInstance": 128, "action": 128, "reason": 128}
NOTE_LIMIT = 1024
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def dns1123_subdomain_errors(value):
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUB.fullmatch(value):
        errs.append(_DNS1123_MSG)
    return errs


def qualified_name_errors(value):
    """validation.IsQualifiedName."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        errs = []
    elif len(parts) == 2:
        prefix, name = parts
        errs = ["prefix part must be non-empty"] if not prefix else \
            ["prefix part " + m for m in dns1123_subdomain_errors(prefix)]
    else:
        return [_QNAME_MSG]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QNAME.fullmatch(name):
        errs.append(_QNAME_PART_MSG)
    return errs


def micro_time_ok(value):
    """metav1.MicroTime's UnmarshalJSON: Go's time.Parse with RFC3339Micro (exactly 6 digits)."""
    m = _MICROTIME.fullmatch(value) if isinstance(value, str) else None
    if not m:
        return False
    try:
        datetime.datetime(*(int(m.group(i)) for i in range(1, 7)))
    except ValueError:
        return False
    return m.group(7) == "Z" or (int(m.group(8)) < 24 and int(m.group(9)) < 60)


def generated_name(prefix):
    """names.SimpleNameGenerator: prefix cut to 58 characters + 5 random characters."""
    return prefix[:58] + "".join(random.choice(_NAME_CHARS) for _ in range(5))


def _go_quote(v):
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else json.dumps(v)


def _required(field, detail=""):
    return {"reason": "FieldValueRequired", "field": field,
            "message": "Required value" + (": " + detail if detail else "")}


def _invalid(field, value, detail):
    return {"reason": "FieldValueInvalid", "field": field,
            "message": "Invalid value: %s: %s" % (_go_quote(value), detail)}


def _undecodable(detail):
    return ApiError(400, 'Event in version "v1" cannot be handled as a Event: %s' % detail)


def validate_event(ns, obj):
    """An events.k8s.io/v1 Event create as the API server checks it: decoding (400), the
    request namespace (400), then ValidateEventCreate (pkg/apis/core/validation/events.go)
    with its internal field names (involvedObject.namespace, message, ...) -> 422 with causes.
    Returns the name (generated from generateName when there is none; not stored in obj) or
    raises ApiError."""
    if not isinstance(obj, dict):
        raise _undecodable("json: cannot unmarshal %s into Go value of type v1.Event"
                           % type(obj).__name__)
    if obj.get("kind") not in (None, "", "Event") or \
            obj.get("apiVersion") not in (None, "", EVENTS_GV):
        raise ApiError(400, "the API version in the data (%s) does not match the expected API "
                       "version (%s)" % (obj.get("apiVersion"), EVENTS_GV))
    md = obj.get("metadata")
    if md is None:
        md = obj["metadata"] = {}
    if not isinstance(md, dict):
        raise _undecodable("json: cannot unmarshal into Go struct field Event.metadata of "
                           "type v1.ObjectMeta")
    for k in ("name", "generateName", "namespace"):
        if md.get(k) is not None and not isinstance(md[k], str):
            raise _undecodable("json: cannot unmarshal into Go struct field ObjectMeta.metadata."
                               "%s of type string" % k)
    for k in ("action", "reason", "note", "type", "reportingController", "reportingInstance"):
        if obj.get(k) is not None and not isinstance(obj[k], str):
            raise _undecodable("json: cannot unmarshal %s into Go struct field Event.%s of type "
                               "string" % (type(obj[k]).__name__, k))
    for k in ("regarding", "related", "series", "deprecatedSource"):
        if obj.get(k) is not None and not isinstance(obj[k], dict):
            raise _undecodable("json: cannot unmarshal into Go struct field Event.%s" % k)
        for f, v in (obj.get(k) or {}).items():
            if f not in ("count", "lastObservedTime") and v is not None and \
                    not isinstance(v, str):
                raise _undecodable("json: cannot unmarshal %s into Go struct field Event.%s.%s "
                                   "of type string" % (type(v).__name__, k, f))
    for k, t in (("eventTime", obj.get("eventTime")),
                 ("series.lastObservedTime", _get(obj, "series", "lastObservedTime"))):
        if t is not None and not micro_time_ok(t):
            raise _undecodable('parsing time %s as "2006-01-02T15:04:05.000000Z07:00": cannot '
                               'parse %s as a MicroTime (field %s)'
                               % (_go_quote(t), _go_quote(t), k))
    count = obj.get("deprecatedCount")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        raise _undecodable("json: cannot unmarshal into Go struct field Event.deprecatedCount "
                           "of type int32")
    if md.get("namespace") not in (None, "", ns):
        raise ApiError(400, "the namespace of the provided object does not match the namespace "
                       "sent on the request")
    name = md.get("name") or ""
    if not name and md.get("generateName"):
        name = generated_name(md["generateName"])  # the server generates before validating
    regarding_ns = _get(obj, "regarding", "namespace") or ""
    event_time = obj.get("eventTime")
    causes = []
    # legacyValidateEvent
    if not event_time:
        if not regarding_ns:
            if ns not in ("", "default"):
                causes.append(_invalid("involvedObject.namespace", regarding_ns,
                                       "does not match event.namespace"))
        elif ns != regarding_ns:
            causes.append(_invalid("involvedObject.namespace", regarding_ns,
                                   "does not match event.namespace"))
    else:
        if not regarding_ns and ns not in ("default", "kube-system"):
            causes.append(_invalid("involvedObject.namespace", regarding_ns,
                                   "does not match event.namespace"))
        rc = obj.get("reportingController") or ""
        if not rc:
            causes.append(_required("reportingController"))
        for msg in qualified_name_errors(rc):
            causes.append(_invalid("reportingController", rc, msg))
        for field in ("reportingInstance", "action", "reason"):
            v = obj.get(field) or ""
            if not v:
                causes.append(_required(field))
            if len(v.encode()) > EVENT_LIMITS[field]:
                causes.append(_invalid(field, "", "can have at most %d characters"
                                       % EVENT_LIMITS[field]))
        if len((obj.get("note") or "").encode()) > NOTE_LIMIT:
            causes.append(_invalid("message", "", "can have at most %d characters" % NOTE_LIMIT))
    for msg in dns1123_subdomain_errors(ns):
        causes.append(_invalid("namespace", ns, msg))
    # ValidateObjectMeta (name: DNS-1123 subdomain)
    if not name:
        causes.append(_required("metadata.name", "name or generateName is required"))
    else:
        for msg in dns1123_subdomain_errors(name):
            causes.append(_invalid("metadata.name", name, msg))
    gen = md.get("generateName")
    if gen:
        for msg in dns1123_subdomain_errors(gen[:-1] if gen.endswith("-") else gen):
            causes.append(_invalid("metadata.generateName", gen, msg))
    # validateV1EventSeries
    series = obj.get("series")
    if series is not None:
        c = series.get("count")
        if not isinstance(c, int) or isinstance(c, bool) or c < 2:
            causes.append(_invalid("series.count", "", "should be at least 2"))
        if not series.get("lastObservedTime"):
            causes.append(_required("series.lastObservedTime"))
    if not event_time:
        causes.append(_required("eventTime"))
    if obj.get("type") not in ("Normal", "Warning"):
        causes.append(_invalid("type", "", "has invalid value: %s" % (obj.get("type") or "")))
    if obj.get("deprecatedFirstTimestamp"):
        causes.append(_invalid("firstTimestamp", "", "needs to be unset"))
    if obj.get("deprecatedLastTimestamp"):
        causes.append(_invalid("lastTimestamp", "", "needs to be unset"))
    if count:
        causes.append(_invalid("count", "", "needs to be unset"))
    src = obj.get("deprecatedSource") or {}
    if src.get("component") or src.get("host"):
        causes.append(_invalid("source", "", "needs to be unset"))
    if causes:
        msgs = ["%s: %s" % (c["field"], c["message"]) for c in causes]
        agg = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
        raise ApiError(422, 'Event.%s "%s" is invalid: %s' % (EVENTS_GROUP, name, agg),
                       details={"name": name, "group": EVENTS_GROUP, "kind": "Event",
                                "causes": causes})
    return name


def _pb_varint(buf, i):
    v = shift = 0
    for _ in range(10):
        if i >= len(buf):
            break
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
    raise ValueError("bad varint")


def _pb_fields(buf):
    """{field number: last length-delimited value} of one protobuf message (others skipped)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _pb_varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = _pb_varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = _pb_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            out[key >> 3] = buf[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wire)
    return out


def ssar_from_protobuf(body):
    """kubectl sends SelfSubjectAccessReview as application/vnd.kubernetes.protobuf: the
    runtime.Unknown envelope ("k8s\\0", typeMeta, raw) around the generated message. Returns
    the JSON form; raises ValueError."""
    if not body.startswith(b"k8s\x00"):
        raise ValueError("no k8s protobuf magic")
    env = _pb_fields(body[4:])
    tm = _pb_fields(env.get(1, b""))
    obj = {"apiVersion": tm.get(1, b"").decode(), "kind": tm.get(2, b"").decode(), "spec": {}}
    spec = _pb_fields(_pb_fields(env.get(2, b"")).get(2, b""))
    names = {"resourceAttributes": (1, ("namespace", "verb", "group", "version", "resource",
                                        "subresource", "name")),
             "nonResourceAttributes": (2, ("path", "verb"))}
    for key, (num, fields) in names.items():
        if num in spec:
            attrs = _pb_fields(spec[num])
            obj["spec"][key] = {f: attrs[i + 1].decode() for i, f in enumerate(fields)
                                if attrs.get(i + 1)}
    return obj


# events.k8s.io/v1 field selectors (the server converts regarding.* to involvedObject.*)
EVENT_FIELDS = {
    "metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace"),
    "regarding.kind": ("regarding", "kind"), "regarding.namespace": ("regarding", "namespace"),
    "regarding.name": ("regarding", "name"), "regarding.uid": ("regarding", "uid"),
    "regarding.apiVersion": ("regarding", "apiVersion"),
    "regarding.resourceVersion": ("regarding", "resourceVersion"),
    "regarding.fieldPath": ("regarding", "fieldPath"), "reason": ("reason",),
    "reportingController": ("reportingController",), "type": ("type",),
    "deprecatedSource": ("deprecatedSource", "component"),
}


def parse_event_field_selector(text):
    reqs = []
    for r in (text or "").split(","):
        r = r.strip()
        if not r:
            continue
        m = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", r)
        if not m or m.group(1) not in EVENT_FIELDS:
            raise ApiError(400, '"%s" is not a known field selector: only "%s"' % (
                (m.group(1) if m else r), '", "'.join(EVENT_FIELDS)))
        reqs.append((EVENT_FIELDS[m.group(1)], m.group(2) == "!=", m.group(3)))
    return reqs


def event_fields_match(reqs, obj):
    for path, negate, value in reqs:
        actual = _get(obj, *path)
        if ((actual if isinstance(actual, str) else "") == value) == negate:
            return False
    return True


# ---------------------------------------------------------------- objects

def _get(obj, *path):
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def url_host_is_literal_ip(url):
    try:
        host = urllib.parse.urlsplit(url or "").hostname
        if not host:
            return False
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class Entry:
    """One stored host: its compact JSON bytes (shared, never copied on LIST) plus the few fields
    that listing and the operator rule need, so neither has to parse the object."""
    __slots__ = ("key", "raw", "labels", "rv", "spec_url", "status_url", "state", "paused",
                 "error_type", "status_ann", "status_empty", "has_status")

    def __init__(self, obj, rv):
        md = obj["metadata"]
        self.key = (md["namespace"], md["name"])
        self.rv = rv
        md["resourceVersion"] = str(rv)
        self.raw = dumps(obj)
        self.labels = dict(md.get("labels") or {})
        self.spec_url = _get(obj, "spec", "image", "url") or ""
        self.status_url = _get(obj, "status", "provisioning", "image", "url") or ""
        self.state = _get(obj, "status", "provisioning", "state") or ""
        ann = md.get("annotations") or {}
        self.paused = ann.get(PAUSED)
        self.status_ann = ann.get(STATUS_ANN)
        self.error_type = _get(obj, "status", "errorType") or ""
        st = obj.get("status")
        self.status_empty = not st
        # BMO's hostHasStatus: !host.Status.LastUpdated.IsZero()
        self.has_status = bool(isinstance(st, dict) and st.get("lastUpdated"))

    def obj(self):
        return json.loads(self.raw)

    def deprovisions(self):
        return (self.state in PROVISIONED_STATES and self.paused is None
                and self.spec_url != self.status_url)

    def restore_pending(self):
        """Unpaused, carries the status annotation: the operator has something to do with it."""
        return self.paused is None and self.status_ann is not None


class ObjEntry:
    """One stored object of a kind other than BareMetalHost: its compact JSON bytes plus what
    listing needs."""
    __slots__ = ("key", "raw", "labels", "rv")

    def __init__(self, obj, rv):
        md = obj["metadata"]
        self.key = (md["namespace"], md["name"])
        self.rv = rv
        md["resourceVersion"] = str(rv)
        self.raw = dumps(obj)
        self.labels = dict(md.get("labels") or {})

    def obj(self):
        return json.loads(self.raw)


def make_entry(res, obj, rv):
    return Entry(obj, rv) if res is BMH else ObjEntry(obj, rv)


def raw_as(e, res, version):
    """The stored bytes as the given version answers them (only apiVersion differs)."""
    if version is None or version == res.versions[0]:
        return e.raw
    o = e.obj()
    o["apiVersion"] = res.group + "/" + version
    return dumps(o)


class Table:
    """The objects of one resource: key (namespace, name) -> entry, and the keys sorted."""
    __slots__ = ("res", "objs", "order")

    def __init__(self, res):
        self.res, self.objs, self.order = res, {}, []


def normalize_meta(md):
    for k in ("labels", "annotations"):
        if k in md and not md[k]:
            del md[k]


class Store:
    """All objects (one Table per resource), the resourceVersion counter, list snapshots and
    operator events; one lock. objs/order are the BareMetalHosts' (most of the code is theirs)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.tables = {plural: Table(r) for plural, r in RESOURCES.items()}
        self.hosts = self.tables[PLURAL]
        self.served = frozenset(RESOURCES)  # the CRDs installed (Double.set_served)
        self.reflash = []
        self.reattach = []
        self.flashes = []
        self.reflash_enabled = True
        self.reattach_enabled = True
        self.rv = 1000
        self.snapshots = collections.OrderedDict()
        self.next_snap = 1
        self.data_loss = []
        self.cleared = []
        self.restored = []
        self.restore_failed = []
        self.restore_failed_at = {}  # key -> resourceVersion already reported
        self.eligible_since = {}
        self.operator_enabled = True
        self.clear_errors = False
        self.clear_delay = 0.0
        self.drop_status_annotation = False
        self.status_hz = 0.0
        self.status_writes_paused = True
        self.operator_writes = 0
        self.keys_version = 0  # bumped when the set of hosts changes (the status writer reads it)
        self.kevents = collections.OrderedDict()  # (ns, name) -> (obj, raw), creation order

    @property
    def objs(self):
        return self.hosts.objs

    @property
    def order(self):
        return self.hosts.order

    @order.setter
    def order(self, value):
        self.hosts.order = value

    def table(self, res):
        return self.tables[(res or BMH).plural]

    # -- helpers (lock held)
    def _bump(self):
        self.rv += 1
        return self.rv

    def _put(self, entry, t=None):
        t = t or self.hosts
        if entry.key not in t.objs:
            bisect.insort(t.order, entry.key)
            if t is self.hosts:
                self.keys_version += 1
        t.objs[entry.key] = entry

    def _remove(self, key, t=None):
        t = t or self.hosts
        del t.objs[key]
        i = bisect.bisect_left(t.order, key)
        del t.order[i]
        if t is self.hosts:
            self.keys_version += 1

    def reset(self):
        with self.lock:
            for t in self.tables.values():
                t.objs.clear()
                t.order = []
            self.keys_version += 1
            self.reflash = []
            self.reattach = []
            self.flashes = []
            self.snapshots.clear()
            self.data_loss = []
            self.cleared = []
            self.restored = []
            self.restore_failed = []
            self.restore_failed_at = {}
            self.eligible_since = {}
            self.kevents.clear()

    # -- seeding / direct access
    def seed(self, objs):
        """Store objs (freshly parsed or generated: they are completed in place, not copied).
        The kind picks the resource (no kind: BareMetalHost); other kinds are skipped. Objects of
        resources not served are stored all the same. Never runs an operator rule."""
        seeded = skipped = 0
        with self.lock:
            fresh = set()
            for o in objs:
                res = BY_KIND.get(o.get("kind", KIND)) if isinstance(o, dict) else None
                if res is None:
                    skipped += 1
                    continue
                o["apiVersion"], o["kind"] = res.api_version, res.kind
                md = o.setdefault("metadata", {})
                if not md.get("name"):
                    skipped += 1
                    continue
                md.setdefault("namespace", "default")
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("creationTimestamp", now_rfc3339())
                md.setdefault("generation", 1)
                md.pop("managedFields", None)
                normalize_meta(md)
                e = make_entry(res, o, self._bump())
                t = self.tables[res.plural]
                if e.key not in t.objs:
                    fresh.add(res.plural)
                t.objs[e.key] = e
                seeded += 1
            for plural in fresh:
                t = self.tables[plural]
                t.order = sorted(t.objs)
                if t is self.hosts:
                    self.keys_version += 1
        return seeded, skipped

    def get(self, ns, name, res=None):
        with self.lock:
            e = self.table(res).objs.get((ns, name))
        if e is None:
            raise not_found(name, res)
        return e

    def all_entries(self, ns=None, res=None):
        with self.lock:
            t = self.table(res)
            return [t.objs[k] for k in self._range(ns, t)]

    def counts(self):
        with self.lock:
            return {plural: len(t.objs) for plural, t in self.tables.items()}

    def _range(self, ns, t=None):
        order = (t or self.hosts).order
        if ns is None:
            return order
        lo = bisect.bisect_left(order, (ns, ""))
        hi = bisect.bisect_left(order, (ns + "\0", ""))
        return order[lo:hi]

    # -- list
    def _continue_token(self, version, sid, snap, i, rv, ns, res=None):
        """The opaque token for the page after item i of snapshot sid (kept on first use, as
        etcd serves later pages at the first page's revision); the oldest snapshots drop out.
        Tokens of resources other than BareMetalHosts name the resource ("r")."""
        with self.lock:
            if sid is None:
                sid = self.next_snap
                self.next_snap += 1
                self.snapshots[sid] = snap
                while len(self.snapshots) > SNAPSHOTS_KEPT:
                    self.snapshots.popitem(last=False)
        t = {"v": version, "s": sid, "i": i, "rv": rv, "ns": ns or ""}
        if res is not None and res is not BMH:
            t["r"] = res.plural
        return base64.urlsafe_b64encode(dumps(t)).decode().rstrip("=")

    def list(self, ns, label_sel, field_sel, limit, cont, res=None):
        lreqs = parse_label_selector(label_sel)
        freqs = parse_field_selector(field_sel)
        with self.lock:
            if cont:
                sid, idx, rv = self._decode_continue(cont, ns, res)
                snap = self.snapshots.get(sid)
                if snap is None:
                    raise ApiError(410, "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without the "
                                   "continue parameter.", reason="Expired")
                self.snapshots.move_to_end(sid)
            else:
                t = self.table(res)
                snap = [t.objs[k] for k in self._range(ns, t)]
                sid, idx, rv = None, 0, self.rv
        items = []
        n = len(snap)
        i = idx
        while i < n and (not limit or len(items) < limit):
            e = snap[i]
            i += 1
            if lreqs and not labels_match(lreqs, e.labels):
                continue
            if freqs and not fields_match(freqs, e.key[0], e.key[1]):
                continue
            items.append(e)
        token, remaining = "", None
        if i < n:
            token = self._continue_token("kd1", sid, snap, i, rv, ns, res)
            if not lreqs and not freqs:
                remaining = n - i
        return items, rv, token, remaining

    @staticmethod
    def _decode_continue(cont, ns, res=None):
        try:
            pad = "=" * (-len(cont) % 4)
            t = json.loads(base64.urlsafe_b64decode(cont + pad))
            sid, idx, rv, tns = int(t["s"]), int(t["i"]), int(t["rv"]), t["ns"]
            if t.get("v") != "kd1" or idx < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
            raise ApiError(400, "continue key is not valid: invalid continue token")
        if tns != (ns or "") or t.get("r", PLURAL) != (res or BMH).plural:
            raise ApiError(400, "continue key is not valid: key does not match this list")
        return sid, idx, rv

    # -- writes
    def update(self, ns, name, sub, mutate, require_rv=False, res=None):
        """mutate(old_obj) -> new_obj (must not mutate old_obj). Applies the subresource
        strategy, the resourceVersion precondition, the no-op rule and the operator rules.
        Returns (entry, changed)."""
        res = res or BMH
        t = self.table(res)
        with self.lock:
            old_e = t.objs.get((ns, name))
            if old_e is None:
                raise not_found(name, res)
            old = old_e.obj()
            new = mutate(old)
            if not isinstance(new, dict):
                raise ApiError(422, "the patched object is not a JSON object")
            given = _get(new, "metadata", "resourceVersion")
            if given in (None, ""):
                if require_rv:
                    raise ApiError(422, '%s.%s "%s" is invalid: metadata.'
                                   'resourceVersion: Invalid value: 0x0: must be specified for '
                                   'an update' % (res.kind, res.group, name),
                                   details={"name": name, "group": res.group, "kind": res.kind})
            elif str(given) != str(old_e.rv):
                raise conflict(name, res)
            result = self._strategy(old, new, sub, res)
            if result == old:
                return old_e, False
            e = make_entry(res, result, self._bump())
            self._put(e, t)
            if res is BMH:
                self._operate(e.key, "write", time.monotonic())
            else:
                self._object_rule(res, e.key, "status" if sub == "status" else "spec")
            return e, True  # the object as written; the operator's reaction shows on next read

    @staticmethod
    def _strategy(old, new, sub, res=None):
        res = res or BMH
        if sub == "status":
            result = copy.deepcopy(old)
            if new.get("status") is not None:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            return result
        result = dict(new)
        result["apiVersion"], result["kind"] = res.api_version, res.kind
        md = dict(new.get("metadata") or {})
        omd = old["metadata"]
        for k in ("name", "namespace", "uid", "creationTimestamp", "generation",
                  "resourceVersion"):
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        md.pop("managedFields", None)
        normalize_meta(md)
        result["metadata"] = md
        if res.status:  # without the status subresource a write sets status like anything else
            if "status" in old:
                result["status"] = old["status"]
            else:
                result.pop("status", None)
        strip = res.gen_strip
        if {k: v for k, v in result.items() if k not in strip} != \
                {k: v for k, v in old.items() if k not in strip}:
            md["generation"] = int(omd.get("generation", 1)) + 1
        return result

    def create(self, ns, obj, res=None):
        res = res or BMH
        if not isinstance(obj, dict):
            raise ApiError(400, "body is not a JSON object")
        md = obj.get("metadata") or {}
        name = md.get("name")
        if not name:
            raise ApiError(422, "metadata.name: Required value: name is required")
        if md.get("namespace") not in (None, "", ns):
            raise ApiError(400, "the namespace of the provided object does not match the "
                           "namespace sent on the request")
        o = copy.deepcopy(obj)
        o["apiVersion"], o["kind"] = res.api_version, res.kind
        if res.status:
            o.pop("status", None)  # the status subresource is enabled: create ignores status
        md = o.setdefault("metadata", {})
        md.update({"namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp":
                   now_rfc3339(), "generation": 1})
        md.pop("resourceVersion", None)
        md.pop("managedFields", None)
        normalize_meta(md)
        t = self.table(res)
        with self.lock:
            if (ns, name) in t.objs:
                raise ApiError(409, '%s "%s" already exists' % (res.qualified(), name),
                               reason="AlreadyExists",
                               details={"name": name, "group": res.group, "kind": res.plural})
            e = make_entry(res, o, self._bump())
            self._put(e, t)
            if res is BMH:
                self._operate(e.key, "write", time.monotonic())
            else:
                self._object_rule(res, e.key, "create")
            return e  # the object as created; the operator's reaction shows on the next read

    def delete(self, ns, name, res=None):
        t = self.table(res)
        with self.lock:
            e = t.objs.get((ns, name))
            if e is None:
                raise not_found(name, res)
            self._bump()
            self._remove(e.key, t)
            return e

    def put_raw(self, ns, name, obj, res=None):
        """Control API: store obj as given (metadata completed), without running the rules."""
        obj = dict(obj)
        if res is not None and res is not BMH:
            obj["kind"] = res.kind
        md = dict(obj.get("metadata") or {})
        md["namespace"], md["name"] = ns, name
        obj["metadata"] = md
        self.seed([obj])
        return self.get(ns, name, res)

    # -- the operator
    def _operate(self, key, trigger, now):
        """Lock held. After a write to a host: the host rules, then the firmware and data image
        rules for the host's name (not on the tick: those are evaluated after writes only)."""
        self._operate_host(key, trigger, now)
        if key in self.hosts.objs:
            self._host_side_rules(key, "host")

    def _object_rule(self, res, key, how):
        """Lock held. After a write (how: create, spec, status, hook) to a HostFirmwareComponents
        or a DataImage: its operator rule. Other kinds have none."""
        if res.rule:
            self._host_side_rules(key, "%s-%s" % (res.rule, how), res.rule)

    def _host_side_rules(self, key, trigger, only=None):
        """Lock held. The operator's reconcile of the HostFirmwareComponents and the DataImage
        named like the host at key: only for an existing, unpaused host, with the resources
        served (CRDs installed) and the operator enabled."""
        if not self.operator_enabled or PLURAL not in self.served:
            return
        h = self.hosts.objs.get(key)
        if h is None or h.paused is not None:
            return
        if only in (None, "hfc") and self.reflash_enabled and HFC.plural in self.served:
            self._flash(key, trigger)
        if only in (None, "dataimage") and self.reattach_enabled and \
                DATAIMAGES.plural in self.served:
            self._reattach(key, trigger)

    def _flash(self, key, trigger):
        """BMO flashes every spec.updates component whose url is not the one status.updates
        records for it: status.updates[component].url = the spec url (appended when absent), in
        one status write. A component that had a url in status is a re-flash (recorded in
        reflash), one without is a first flash (recorded in flashes)."""
        t = self.tables[HFC.plural]
        e = t.objs.get(key)
        if e is None:
            return
        obj = e.obj()
        spec = _get(obj, "spec", "updates")
        if not isinstance(spec, list):
            return
        st = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        cur = list(st.get("updates")) if isinstance(st.get("updates"), list) else []
        done = []
        for u in spec:  # bounded by the list
            if not isinstance(u, dict) or not isinstance(u.get("component"), str):
                continue
            comp = u["component"]
            url = u.get("url") if isinstance(u.get("url"), str) else ""
            # the last entry of a component counts, as in BMO's component -> url map
            i = max((i for i, x in enumerate(cur)
                     if isinstance(x, dict) and x.get("component") == comp), default=None)
            if i is None:
                cur.append({"component": comp, "url": url})
                done.append((comp, "", url))
                continue
            was = cur[i].get("url") if isinstance(cur[i].get("url"), str) else ""
            if was != url:
                cur[i] = dict(cur[i], url=url)
                done.append((comp, was, url))
        if not done:
            return
        obj["status"] = dict(st, updates=cur)
        ne = ObjEntry(obj, self._bump())
        self._put(ne, t)
        for comp, was, url in done:
            lst = self.reflash if was else self.flashes
            lst.append({"seq": len(lst) + 1, "namespace": key[0], "name": key[1],
                        "component": comp, "fromUrl": was, "toUrl": url, "trigger": trigger,
                        "time": now_rfc3339(), "resourceVersion": str(ne.rv)})

    def _reattach(self, key, trigger):
        """BMO detaches a DataImage whose status.attachedImage.url is set and differs from
        spec.url and attaches the spec url: one status write, recorded in reattach. Nothing
        attached yet: nothing (the attach at the next boot is not modelled)."""
        t = self.tables[DATAIMAGES.plural]
        e = t.objs.get(key)
        if e is None:
            return
        obj = e.obj()
        att = _get(obj, "status", "attachedImage", "url")
        if not isinstance(att, str) or not att:
            return
        url = _get(obj, "spec", "url")
        url = url if isinstance(url, str) else ""
        if url == att:
            return
        obj["status"]["attachedImage"] = dict(obj["status"]["attachedImage"], url=url)
        ne = ObjEntry(obj, self._bump())
        self._put(ne, t)
        self.reattach.append({"seq": len(self.reattach) + 1, "namespace": key[0],
                              "name": key[1], "fromUrl": att, "toUrl": url, "trigger": trigger,
                              "time": now_rfc3339(), "resourceVersion": str(ne.rv)})

    def _operate_host(self, key, trigger, now):
        """Lock held. Applies the status restore, the deprovision rule (and optional error
        clearing) to one host."""
        if not self.operator_enabled:
            return
        e = self.objs.get(key)
        if e is None:
            return
        if e.restore_pending():
            restored = self._restore(e) if not e.has_status else None
            if restored is not None:
                e, trigger = restored, "restore"
            elif self.drop_status_annotation:
                # BMO deletes the annotation whenever it did not restore from it: the host has
                # a status already, or the annotation is empty or does not parse
                e = self._drop_status_annotation(e)
        if e.deprovisions():
            obj = e.obj()
            self.data_loss.append({
                "seq": len(self.data_loss) + 1, "namespace": key[0], "name": key[1],
                "specURL": e.spec_url, "statusURL": e.status_url, "state": e.state,
                "time": now_rfc3339(), "resourceVersion": str(e.rv), "trigger": trigger})
            obj["status"]["provisioning"]["state"] = "deprovisioning"
            self._put(Entry(obj, self._bump()))
            self.eligible_since.pop(key, None)
            return
        if not self.clear_errors:
            return
        eligible = (e.paused is None and e.error_type == REG_ERROR and e.status_url
                    and e.state in PROVISIONED_STATES and not url_host_is_literal_ip(e.status_url))
        if not eligible:
            self.eligible_since.pop(key, None)
            return
        since = self.eligible_since.setdefault(key, now)
        if now - since < self.clear_delay:
            return
        obj = e.obj()
        st = obj["status"]
        st.pop("errorType", None)  # the operator's errorType is omitempty: cleared = absent
        st["errorCount"] = 0
        st["errorMessage"] = ""
        st["operationalStatus"] = "OK"
        self._put(Entry(obj, self._bump()))
        self.eligible_since.pop(key, None)
        self.cleared.append({"namespace": key[0], "name": key[1], "time": now_rfc3339()})

    def _restore(self, e):
        """Lock held; e is unpaused, has no status.lastUpdated and carries the status annotation.
        Returns the restored entry, or None (recorded once per resourceVersion in
        restore_failed) when the annotation is empty or not a JSON object."""
        text = e.status_ann
        err = None
        try:
            st = json.loads(text) if text else None
            if not text:
                err = "empty annotation"
            elif not isinstance(st, dict):
                err = "not a JSON object: %s" % type(st).__name__
        except ValueError as exc:
            err = "invalid JSON: %s" % exc
        if err:
            if self.restore_failed_at.get(e.key) != e.rv:
                self.restore_failed_at[e.key] = e.rv
                self.restore_failed.append({
                    "seq": len(self.restore_failed) + 1, "namespace": e.key[0],
                    "name": e.key[1], "error": err, "time": now_rfc3339(),
                    "resourceVersion": str(e.rv)})
            return None
        if not st.get("lastUpdated"):
            st["lastUpdated"] = now_rfc3339()  # BMO: avoids a restore loop
        obj = e.obj()
        obj["status"] = st
        del obj["metadata"]["annotations"][STATUS_ANN]
        normalize_meta(obj["metadata"])
        ne = Entry(obj, self._bump())
        self._put(ne)
        self.restore_failed_at.pop(e.key, None)
        self.restored.append({
            "seq": len(self.restored) + 1, "namespace": e.key[0], "name": e.key[1],
            "statusURL": ne.status_url, "state": ne.state, "time": now_rfc3339(),
            "resourceVersion": str(ne.rv)})
        return ne

    def _drop_status_annotation(self, e):
        obj = e.obj()
        del obj["metadata"]["annotations"][STATUS_ANN]
        normalize_meta(obj["metadata"])
        ne = Entry(obj, self._bump())
        self._put(ne)
        return ne

    def tick(self):
        with self.lock:
            now = time.monotonic()
            for key in list(self.order):
                e = self.objs[key]
                if e.deprovisions() or (self.clear_errors and e.error_type == REG_ERROR) or \
                        e.restore_pending():
                    self._operate_host(key, "tick", now)

    def events(self):
        with self.lock:
            return {"count": len(self.data_loss), "dataLoss": list(self.data_loss),
                    "errorsCleared": list(self.cleared), "restored": list(self.restored),
                    "restoreFailed": list(self.restore_failed),
                    "reflashCount": len(self.reflash), "reflash": list(self.reflash),
                    "reattachCount": len(self.reattach), "reattach": list(self.reattach),
                    "flashCount": len(self.flashes), "flashes": list(self.flashes)}

    # -- clusterctl move, owner hooks, the busy operator
    def move(self, keys, snapshot, unpause):
        """Simulates clusterctl move of each host (to a cluster that is this one again): CAPM3's
        SetPauseAnnotation when snapshot, the object re-created without status, CAPM3's
        RemovePauseAnnotation when unpause, then the operator. Returns the number moved."""
        with self.lock:
            for key in keys:
                if key not in self.objs:
                    raise not_found(key[1])
            now = time.monotonic()
            for key in keys:
                obj = self.objs[key].obj()
                md = obj["metadata"]
                ann = dict(md.get("annotations") or {})
                if snapshot and PAUSED not in ann:  # CAPM3 does nothing on a paused host
                    st = dict(obj.get("status") or {})
                    st.pop("hardware", None)  # CAPM3 leaves hardware out of the annotation
                    ann[PAUSED] = CAPM3_PAUSE
                    ann[STATUS_ANN] = go_json(st)
                    md["annotations"] = ann
                    self._put(Entry(obj, self._bump()))
                obj.pop("status", None)
                for k in ("uid", "resourceVersion", "creationTimestamp", "generation",
                          "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "selfLink"):
                    md.pop(k, None)
                md.update({"uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339(),
                           "generation": 1})
                normalize_meta(md)
                self._put(Entry(obj, self._bump()))
                self.eligible_since.pop(key, None)
                self.restore_failed_at.pop(key, None)
                if unpause and ann.get(PAUSED) == CAPM3_PAUSE:
                    del md["annotations"][PAUSED]
                    normalize_meta(md)
                    self._put(Entry(obj, self._bump()))
                self._operate(key, "move", now)
            return len(keys)

    def hook_patch(self, key, patch, res=None):
        """Another owner's RFC 7386 merge patch on the whole stored object (metadata, spec and
        status), as its own write. Returns True when the object existed."""
        res = res or BMH
        t = self.table(res)
        with self.lock:
            e = t.objs.get(key)
            if e is None:
                return False
            old = e.obj()
            new = merge_patch(old, patch)
            if not isinstance(new, dict):
                return True
            new["apiVersion"], new["kind"] = res.api_version, res.kind
            md = dict(new.get("metadata") or {})
            omd = old["metadata"]
            for k in ("name", "namespace", "uid", "creationTimestamp", "generation",
                      "resourceVersion"):
                if k in omd:
                    md[k] = omd[k]
            md.pop("managedFields", None)
            normalize_meta(md)
            new["metadata"] = md
            if new == old:
                return True
            strip = res.gen_strip
            if {k: v for k, v in new.items() if k not in strip} != \
                    {k: v for k, v in old.items() if k not in strip}:
                md["generation"] = int(omd.get("generation", 1)) + 1
            self._put(make_entry(res, new, self._bump()), t)
            if res is BMH:
                self._operate(key, "hook", time.monotonic())
            else:
                self._object_rule(res, key, "hook")
            return True

    def operator_status_write(self, key):
        """The busy operator's write of status.lastUpdated (microseconds: always a change).
        Skips hosts with an empty status or a restore pending, and paused hosts unless
        status_writes_paused. Returns False when the host is gone."""
        with self.lock:
            e = self.objs.get(key)
            if e is None:
                return False
            if e.status_empty or (e.status_ann is not None and not e.has_status) or \
                    (e.paused is not None and not self.status_writes_paused):
                return True
            obj = e.obj()
            obj["status"]["lastUpdated"] = now_micro()
            self._put(Entry(obj, self._bump()))
            self.operator_writes += 1
            self._operate(key, "operator", time.monotonic())
            return True

    # -- events.k8s.io/v1 Events (validated by validate_event before they get here)
    def create_event(self, ns, obj, name):
        """name: metadata.name, or the one validate_event generated from generateName."""
        md = obj["metadata"]
        with self.lock:
            if not md.get("name"):
                for _ in range(8):  # bounded; the real server retries generateName clashes too
                    if (ns, name) not in self.kevents:
                        break
                    name = generated_name(md["generateName"])
                md["name"] = name
            name = md["name"]
            if (ns, name) in self.kevents:
                raise ApiError(409, 'events.%s "%s" already exists' % (EVENTS_GROUP, name),
                               reason="AlreadyExists",
                               details={"name": name, "group": EVENTS_GROUP, "kind": "events"})
            md.update({"namespace": ns, "uid": str(uuid.uuid4()),
                       "resourceVersion": str(self._bump()),
                       "creationTimestamp": now_rfc3339()})
            md.pop("managedFields", None)
            normalize_meta(md)
            raw = dumps(obj)
            self.kevents[(ns, name)] = (obj, raw)
            while len(self.kevents) > EVENTS_KEPT:
                self.kevents.popitem(last=False)
            return raw

    def get_event(self, ns, name):
        with self.lock:
            ev = self.kevents.get((ns, name))
        if ev is None:
            raise ApiError(404, 'events.%s "%s" not found' % (EVENTS_GROUP, name),
                           details={"name": name, "group": EVENTS_GROUP, "kind": "events"})
        return ev[1]

    def list_events(self, ns, label_sel, field_sel, limit, cont):
        """Events in creation order (namespace ns or all), with selectors and paging."""
        lreqs = parse_label_selector(label_sel)
        freqs = parse_event_field_selector(field_sel)
        with self.lock:
            if cont:
                try:
                    pad = "=" * (-len(cont) % 4)
                    t = json.loads(base64.urlsafe_b64decode(cont + pad))
                    if t.get("v") != "kd1e" or t["ns"] != (ns or ""):
                        raise ValueError
                    sid, idx, rv = int(t["s"]), int(t["i"]), int(t["rv"])
                except (ValueError, KeyError, TypeError):
                    raise ApiError(400, "continue key is not valid: invalid continue token")
                snap = self.snapshots.get(sid)
                if snap is None:
                    raise ApiError(410, "The provided continue parameter is too old to display "
                                   "a consistent list result. You can start a new list without "
                                   "the continue parameter.", reason="Expired")
            else:
                snap = [ev for (ens, _), ev in self.kevents.items() if ns is None or ens == ns]
                sid, idx, rv = None, 0, self.rv
        items, i, n = [], idx, len(snap)
        while i < n and (not limit or len(items) < limit):
            obj, raw = snap[i]
            i += 1
            if lreqs and not labels_match(lreqs, obj["metadata"].get("labels") or {}):
                continue
            if freqs and not event_fields_match(freqs, obj):
                continue
            items.append(raw)
        token = ""
        if i < n:
            token = self._continue_token("kd1e", sid, snap, i, rv, ns)
        return items, rv, token

    def all_events(self):
        with self.lock:
            return [raw for _, raw in self.kevents.values()]


# ---------------------------------------------------------------- faults, log, kill-after

FAULT_KINDS = ("500", "503", "403", "404", "409", "429", "reset", "commit-reset", "stall")


class Rules:
    """Rules that count the requests they match (method, path regex) and fire on match number
    nth, nth+1, ... for `times` firings (0 = forever). Fault rules and owner hooks are both."""

    what = "rule"

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def _parse(self, rule, **numbers):
        """A copy of rule with nth, times, the path regex and the given extra numbers checked;
        numbers maps name -> (convert, default)."""
        if not isinstance(rule, dict):
            raise ApiError(400, "a %s rule is a JSON object" % self.what)
        r = dict(rule)
        if r.get("method") is not None and not isinstance(r["method"], str):
            raise ApiError(400, "%s method must be a string" % self.what)
        try:
            r["nth"] = int(r.get("nth", 1))
            r["times"] = int(r.get("times", 1))
            for name, (convert, default) in numbers.items():
                r[name] = convert(r.get(name, default))
            r["_re"] = re.compile(r.get("path") or "")
        except (ValueError, TypeError, re.error) as exc:
            raise ApiError(400, "bad %s rule: %s" % (self.what, exc))
        if r["nth"] < 1 or r["times"] < 0:
            raise ApiError(400, "%s nth must be >= 1 and times >= 0" % self.what)
        return r

    def _store(self, r, *counters):
        with self.lock:
            r["id"] = self.next_id
            self.next_id += 1
            for c in ("seen", "fired") + counters:
                r[c] = 0
            self.rules.append(r)
        return r["id"]

    def _fires(self, r, method, path):
        """Count a request against r (under self.lock); whether r fires on it."""
        if r.get("method") and r["method"].upper() != method:
            return False
        if not r["_re"].search(path):
            return False
        r["seen"] += 1
        if r["seen"] >= r["nth"] and (r["times"] == 0 or r["fired"] < r["times"]):
            r["fired"] += 1
            return True
        return False

    def dump(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def clear(self, rid=None):
        with self.lock:
            self.rules = [r for r in self.rules if rid is not None and r["id"] != rid]


class Faults(Rules):
    what = "fault"

    def add(self, rule):
        r = self._parse(rule, retryAfter=(int, 1),
                        seconds=(lambda v: min(float(v), MAX_STALL), 5))
        r["kind"] = str(r.get("kind", ""))
        if r["kind"] not in FAULT_KINDS:
            raise ApiError(400, "fault kind must be one of %s" % ", ".join(FAULT_KINDS))
        r["then"] = r.get("then", "reset")
        if r["then"] not in ("reset", "process"):
            raise ApiError(400, "fault 'then' must be reset or process")
        return self._store(r)

    def match(self, method, path):
        """The first rule that fires on this request (a copy), or None."""
        with self.lock:
            for r in self.rules:
                if self._fires(r, method, path):
                    return dict(r)
        return None


class Hooks(Rules):
    """Owner hooks: after the nth (nth+1, ... for `times` firings; 0 = forever) successful
    BareMetalHost write matching method/path, merge `patch` into that host."""

    what = "hook"

    def add(self, rule):
        r = self._parse(rule)
        if not isinstance(r.get("patch"), dict):
            raise ApiError(400, "a hook rule needs a merge patch object in \"patch\"")
        return self._store(r, "missed")

    def fire(self, method, path):
        """Counts a successful write; returns [(rule id, patch)] of the rules that fire now."""
        with self.lock:
            return [(r["id"], r["patch"]) for r in self.rules if self._fires(r, method, path)]

    def missed(self, rid):
        with self.lock:
            for r in self.rules:
                if r["id"] == rid:
                    r["missed"] += 1


def request_info(method, path, query):
    """The API server's RequestInfo: (verb, group, resource, subresource, namespace, name) of a
    resource request, None for anything else (discovery, /version, /openapi, images)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    ns = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = "/".join(rest[2:])
    if resource == "namespaces" and name:
        ns = name  # the API server sets namespace = name for namespaces
    if method in ("GET", "HEAD"):
        watch = (query.get("watch") or [""])[0] in ("1", "true")
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return verb, group, resource, sub, ns, name


class Rbac:
    """Authorization as a deny list. A rule {"verb","resource"[,"group"][,"subresource"]
    [,"namespace"]} forbids: verb/resource "*" match any; absent group = any group; absent
    subresource = only requests without one ("*" = any); absent namespace = every namespace.
    A request in all namespaces (cluster-wide list, SSAR without namespace, cluster-scoped
    resources) is forbidden by a rule for any namespace."""

    KEYS = ("verb", "group", "resource", "subresource", "namespace")

    def __init__(self, user):
        self.lock = threading.Lock()
        self.rules = []
        self.user = user
        self.denied = 0

    def set(self, rules, user=None):
        if not isinstance(rules, list):
            raise ApiError(400, "forbid must be a list of rules")
        clean = []
        for r in rules:
            if not isinstance(r, dict) or not all(isinstance(r.get(k), str) and r[k]
                                                  for k in ("verb", "resource")):
                raise ApiError(400, "a forbid rule is an object with string verb and resource")
            bad = [k for k in r if k not in self.KEYS]
            if bad or not all(isinstance(r[k], str) for k in r):
                raise ApiError(400, "a forbid rule has only string fields %s" % ", ".join(
                    self.KEYS))
            clean.append(dict(r))
        if user is not None and not isinstance(user, str):
            raise ApiError(400, "user must be a string")
        with self.lock:
            self.rules = clean
            if user:
                self.user = user

    def add(self, rule):
        with self.lock:
            rules = list(self.rules)
        self.set(rules + [rule])

    def denies(self, verb, group, resource, sub, ns):
        """Index (1-based) of the first rule forbidding it, else 0. ns "" = all namespaces."""
        with self.lock:
            for i, r in enumerate(self.rules):
                if r["verb"] not in ("*", verb) or r["resource"] not in ("*", resource):
                    continue
                if r.get("group") not in (None, "*", group):
                    continue
                rs = r.get("subresource")
                if (rs is None and sub) or rs not in (None, "*", sub):
                    continue
                if r.get("namespace") not in (None, ns) and ns:
                    continue
                return i + 1
        return 0

    def check(self, method, path, query):
        info = request_info(method, path, query)
        if info is None:
            return
        verb, group, resource, sub, ns, name = info
        if not self.denies(verb, group, resource, sub, ns):
            return
        with self.lock:
            self.denied += 1
            user = self.user
        res = resource + ("/" + sub if sub else "")
        where = ' in the namespace "%s"' % ns if ns else " at the cluster scope"
        why = 'User "%s" cannot %s resource "%s" in API group "%s"%s' % (user, verb, res, group,
                                                                         where)
        gr = resource + ("." + group if group else "")
        msg = ('%s "%s" is forbidden: %s' % (gr, name, why)) if name else \
            "%s is forbidden: %s" % (gr, why)
        details = {"kind": resource}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        raise ApiError(403, msg, details=details)

    def dump(self):
        with self.lock:
            return {"forbid": [dict(r) for r in self.rules], "user": self.user,
                    "denied": self.denied}

    def clear(self):
        with self.lock:
            self.rules = []
            self.denied = 0


def parse_compact_fault(text):
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)
    parts = text.split(",")
    rule = {"kind": parts[0]}
    for p in parts[1:]:
        k, sep, v = p.partition("=")
        if not sep:
            raise ValueError("fault option %r is not KEY=VALUE" % p)
        rule[k.strip()] = v
    return rule


class RequestLog:
    def __init__(self, keep, body_max):
        self.lock = threading.Lock()
        self.keep = keep
        self.body_max = body_max
        self.clear()

    def clear(self):
        self.entries = collections.deque(maxlen=self.keep)
        self.count = 0
        self.by_method = collections.Counter()
        self.writes = 0
        self.ok_writes = 0
        self.inflight = getattr(self, "inflight", 0)  # requests in progress survive a clear
        self.max_inflight = self.inflight

    def enter(self):
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def leave(self):
        with self.lock:
            self.inflight -= 1

    def add(self, entry, committed_write):
        with self.lock:
            self.count += 1
            entry["seq"] = self.count
            self.by_method[entry["method"]] += 1
            if entry["method"] in WRITE_METHODS:
                self.writes += 1
                if committed_write:
                    self.ok_writes += 1
            if self.keep:
                self.entries.append(entry)

    def dump(self, since=0, method=None, path=None, bodies=True, entries=True):
        rx = re.compile(path) if path else None
        with self.lock:
            out = {"count": self.count, "kept": len(self.entries),
                   "byMethod": dict(self.by_method), "writes": self.writes,
                   "successfulWrites": self.ok_writes, "inflight": self.inflight,
                   "maxInflight": self.max_inflight}
            if entries:
                sel = []
                for e in self.entries:
                    if e["seq"] <= since or (method and e["method"] != method) or \
                            (rx and not rx.search(e["path"])):
                        continue
                    sel.append(e if bodies else {k: v for k, v in e.items() if k != "body"})
                out["entries"] = sel
        return out


class KillAfter:
    def __init__(self):
        self.lock = threading.Lock()
        self.remaining = 0
        self.pid = None
        self.sig = signal.SIGKILL
        self.when = "before-response"
        self.fired = False

    def arm(self, writes, pid, sig, when):
        if when not in ("before-response", "after-response"):
            raise ApiError(400, "when must be before-response or after-response")
        with self.lock:
            self.remaining, self.pid, self.sig, self.when = writes, pid, sig, when
            self.fired = False

    def on_write(self):
        """Called once per committed write; returns (pid, sig, when) when it is time to fire."""
        with self.lock:
            if self.remaining <= 0 or self.pid is None:
                return None
            self.remaining -= 1
            if self.remaining:
                return None
            self.fired = True
            return self.pid, self.sig, self.when

    def state(self):
        with self.lock:
            return {"armed": self.remaining > 0, "remaining": self.remaining,
                    "fired": self.fired, "pid": self.pid, "when": self.when}


# ---------------------------------------------------------------- discovery and tables

def api_resources(res):
    """The APIResourceList entries of one resource: itself, then /status when enabled."""
    out = {"name": res.plural, "singularName": res.singular, "namespaced": True, "kind": res.kind,
           "verbs": ["create", "delete", "get", "list", "patch", "update"]}
    if res.short:
        out["shortNames"] = list(res.short)
    if res.categories:
        out["categories"] = list(res.categories)
    out["storageVersionHash"] = "kubedouble="
    rs = [out]
    if res.status:
        rs.append({"name": res.plural + "/status", "singularName": "", "namespaced": True,
                   "kind": res.kind, "verbs": ["get", "patch", "update"]})
    return rs


def discovery(port, served=None):
    """Path -> document of legacy discovery for the served resources (a set of plurals; None =
    all). A store group with no served resource is absent, its paths 404."""
    served = RESOURCES if served is None else served
    groups, docs = [], {}
    for g in API_GROUPS:
        rs = [r for r in RESOURCES.values() if r.group == g and r.plural in served]
        if not rs:
            continue
        gvs = [{"groupVersion": g + "/" + v, "version": v} for v in rs[0].versions]
        group = {"name": g, "versions": gvs, "preferredVersion": gvs[0]}
        groups.append(group)
        docs["/apis/" + g] = dict(group, kind="APIGroup", apiVersion="v1")
        for gv in gvs:
            docs["/apis/" + gv["groupVersion"]] = {
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv["groupVersion"],
                "resources": [x for r in rs for x in api_resources(r)]}
    agv = {"groupVersion": AUTHZ_GV, "version": "v1"}
    authz = {"name": AUTHZ_GROUP, "versions": [agv], "preferredVersion": agv}
    egv = {"groupVersion": EVENTS_GV, "version": "v1"}
    events = {"name": EVENTS_GROUP, "versions": [egv], "preferredVersion": egv}
    ssar = {"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
            "namespaced": False, "kind": "SelfSubjectAccessReview", "verbs": ["create"]}
    ev = {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
          "verbs": ["create", "get", "list"], "shortNames": ["ev"],
          "storageVersionHash": "kubedouble="}
    # metal3.io first, as always; the CAPM3 group after the built-in groups, like a CRD group
    order = groups[:1] + [authz, events] + groups[1:] if groups and groups[0]["name"] == GROUP \
        else [authz, events] + groups
    docs.update({
        "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-double",
                     "gitCommit": "0" * 40, "gitTreeState": "clean",
                     "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
                     "compiler": "gc", "platform": "linux/amd64"},
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False,
             "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]}]},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": order},
        "/apis/" + AUTHZ_GROUP: dict(authz, kind="APIGroup", apiVersion="v1"),
        "/apis/" + AUTHZ_GV: {"kind": "APIResourceList", "apiVersion": "v1",
                              "groupVersion": AUTHZ_GV, "resources": [ssar]},
        "/apis/" + EVENTS_GROUP: dict(events, kind="APIGroup", apiVersion="v1"),
        "/apis/" + EVENTS_GV: {"kind": "APIResourceList", "apiVersion": "v1",
                               "groupVersion": EVENTS_GV, "resources": [ev]},
    })
    return docs


TABLE_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace.", ("metadata", "name")),
    ("Status", "string", "", 1, "Operational status", ("status", "operationalStatus")),
    ("State", "string", "", 0, "Provisioning status", ("status", "provisioning", "state")),
    ("Consumer", "string", "", 0, "Consumer using this host", ("spec", "consumerRef", "name")),
    ("BMC", "string", "", 1, "Address of management controller", ("spec", "bmc", "address")),
    ("Online", "string", "", 0, "Whether the host is online or not", ("spec", "online")),
    ("Error", "string", "", 0, "Type of the most recent error", ("status", "errorType")),
    ("Age", "date", "", 0, "Time duration since creation of BaremetalHost",
     ("metadata", "creationTimestamp")),
]


def human_age(ts):
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= 2 * size:
            return "%d%s" % (s // size, unit)
    return "%ds" % max(s, 0)


# Other kinds: the columns the API server gives a custom resource without printer columns.
GENERIC_COLUMNS = [
    ("Name", "string", "name", 0, "Name must be unique within a namespace.", ("metadata", "name")),
    ("Age", "date", "", 0, "Time duration since creation of the object",
     ("metadata", "creationTimestamp")),
]


def table(entries, rv, cont, remaining, include, res=None, version=None):
    columns = TABLE_COLUMNS if res in (None, BMH) else GENERIC_COLUMNS
    rows = []
    for e in entries:
        o = e.obj()
        if res is not None and version not in (None, res.versions[0]):
            o["apiVersion"] = res.group + "/" + version
        cells = []
        for _, typ, _, _, _, path in columns:
            v = _get(o, *path)
            if typ == "date":
                v = human_age(v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            cells.append("" if v is None else v)
        row = {"cells": cells}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    md = {"resourceVersion": str(rv)}
    if cont:
        md["continue"] = cont
    if remaining is not None:
        md["remainingItemCount"] = remaining
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md,
            "columnDefinitions": [{"name": n, "type": t, "format": f, "description": d,
                                   "priority": p} for n, t, f, p, d, _ in columns],
            "rows": rows}


# ---------------------------------------------------------------- the server

class Auth:
    def __init__(self, token=None, token_file=None, client_ca=False):
        self.token, self.token_file, self.client_ca = token, token_file, client_ca

    def required(self):
        return bool(self.token or self.token_file or self.client_ca)

    def ok(self, handler):
        if not self.required():
            return True
        if self.client_ca:
            try:
                if handler.connection.getpeercert():
                    return True
            except (AttributeError, ValueError):
                pass
        want = []
        if self.token:
            want.append(self.token)
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    want.append(f.read().strip())
            except OSError:
                pass
        got = handler.headers.get("Authorization", "")
        return got.startswith("Bearer ") and got[7:].strip() in [w for w in want if w]


class Double:
    """Everything the handlers share."""

    def __init__(self, args):
        self.store = Store()
        self.faults = Faults()
        self.log = RequestLog(args.log_max, args.log_body_max)
        self.kill = KillAfter()
        self.auth = Auth(args.token, args.token_file, bool(args.client_ca))
        self.page_max = args.page_max
        self.verbose = args.verbose
        self.tick_seconds = args.tick
        self.port = 0
        self.disc = {}
        self.store.operator_enabled = not args.no_operator
        self.store.clear_errors = args.clear_errors
        self.store.clear_delay = args.clear_delay
        self.images_lock = threading.Lock()
        self.missing_images = set(args.missing_image)
        self.hooks = Hooks()
        self.rbac = Rbac(args.rbac_user)
        self.store.drop_status_annotation = args.drop_status_annotation
        self.store.status_hz = max(float(args.status_writes), 0.0)
        self.latency = min(max(float(args.latency_ms), 0.0), MAX_LATENCY_MS) / 1000.0
        self.crds_default = args.crds
        self.store.served = args.crds

    def set_served(self, served):
        """Install exactly these CRDs (a set of plurals): discovery is rebuilt, paths of the
        others answer 404; objects stay stored either way."""
        served = frozenset(served)
        with self.store.lock:
            self.store.served = served
            self.disc = discovery(self.port, served)

    def ticker(self):
        while True:
            t = self.tick_seconds
            time.sleep(t if t and t > 0 else 0.5)
            if t and t > 0:
                self.store.tick()

    def status_writer(self):
        """The busy operator: each host's status written at a mean of status_hz writes a
        second (exponential inter-arrival times per host, one heap of next times). Each pass
        does at most 5000 writes and then sleeps until the next is due (at most 50 ms)."""
        store = self.store
        heap, scheduled, rate, seen_version = [], set(), 0.0, None
        rng = random.Random()
        while True:
            hz = store.status_hz
            if hz <= 0:
                heap, scheduled, rate = [], set(), 0.0
                time.sleep(0.05)
                continue
            now = time.monotonic()
            if hz != rate:
                heap, scheduled, rate, seen_version = [], set(), hz, None
            if store.keys_version != seen_version:
                with store.lock:
                    seen_version = store.keys_version
                    keys = list(store.order)
                for k in keys:
                    if k not in scheduled:
                        scheduled.add(k)
                        heapq.heappush(heap, (now + rng.expovariate(hz), k))
            done = 0
            while heap and heap[0][0] <= now and done < 5000:
                t, k = heapq.heappop(heap)
                done += 1
                if not store.operator_status_write(k):
                    scheduled.discard(k)
                    continue
                nxt = t + rng.expovariate(hz)
                if nxt < now - 1.0:  # more than a second behind: do not burst to catch up
                    nxt = now + rng.expovariate(hz)
                heapq.heappush(heap, (nxt, k))
            wait = 0.05
            if heap:
                wait = min(max(heap[0][0] - time.monotonic(), 0.0), 0.05)
            if wait > 0:
                time.sleep(wait)


def load_documents(data):
    """JSON (object, array, List) or YAML (one or many documents) -> list of objects."""
    text = data.decode() if isinstance(data, bytes) else data
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            import yaml
        except ImportError:
            raise ApiError(400, "body is not JSON and python3-yaml is not installed")
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise ApiError(400, "cannot parse seed: %s" % str(exc).splitlines()[0])
    out = []
    for d in docs:
        if isinstance(d, list):
            out.extend(d)
        elif isinstance(d, dict) and isinstance(d.get("items"), list):
            out.extend(d["items"])
        else:
            out.append(d)
    return out


def generate_hosts(count, seed):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gen_hosts
    return gen_hosts.generate(count, seed)


COMPANION_KINDS = ("dataimages", "hostfirmwarecomponents", "metal3machines",
                   "metal3machinetemplates")


def companions(hosts, kinds):
    """Objects of the other kinds for generated hosts, consistent (spec url == status url, so no
    operator rule would act), on the same url host as each host's spec.image.url: per host with
    an image a DataImage (<base>/images/<name>-data.iso, attached) and a Metal3Machine (the
    host's spec.image), per host a HostFirmwareComponents (bmc and bios under <base>/firmware/,
    applied); per namespace one Metal3MachineTemplate "<ns>-workers" (the first host's image)."""
    bad = [k for k in kinds if k not in COMPANION_KINDS]
    if bad:
        raise ApiError(400, "generate: \"with\" takes %s" % ", ".join(COMPANION_KINDS))
    out, templates = [], {}
    for h in hosts:
        md = h["metadata"]
        ns, name = md["namespace"], md["name"]
        meta = {"name": name, "namespace": ns, "labels": {"gen.bmhguard.test/host": name}}
        image = _get(h, "spec", "image")
        url = image.get("url") if isinstance(image, dict) else None
        parts = urllib.parse.urlsplit(url) if url else None
        base = "%s://%s" % (parts.scheme, parts.netloc) if parts else "http://httpd-http"
        if "dataimages" in kinds and url:
            di = base + "/images/%s-data.iso" % name
            out.append({"apiVersion": DATAIMAGES.api_version, "kind": DATAIMAGES.kind,
                        "metadata": copy.deepcopy(meta), "spec": {"url": di},
                        "status": {"attachedImage": {"url": di}}})
        if "hostfirmwarecomponents" in kinds:
            ups = [{"component": c, "url": base + "/firmware/%s.bin" % c} for c in ("bmc", "bios")]
            out.append({"apiVersion": HFC.api_version, "kind": HFC.kind,
                        "metadata": copy.deepcopy(meta), "spec": {"updates": ups},
                        "status": {"updates": copy.deepcopy(ups)}})
        if "metal3machines" in kinds and url:
            out.append({"apiVersion": M3M.api_version, "kind": M3M.kind,
                        "metadata": copy.deepcopy(meta),
                        "spec": {"image": copy.deepcopy(image)}})
        if "metal3machinetemplates" in kinds and url and ns not in templates:
            templates[ns] = {"apiVersion": M3MT.api_version, "kind": M3MT.kind,
                             "metadata": {"name": ns + "-workers", "namespace": ns},
                             "spec": {"template": {"spec": {"image": copy.deepcopy(image)}}}}
    return out + [templates[ns] for ns in sorted(templates)]


class Reset(Exception):
    """Raised to drop the connection with a TCP reset instead of answering."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-double/1"
    timeout = 300

    # -- plumbing
    def setup(self):
        super().setup()
        try:  # headers and body go out in one write; without this Nagle adds ~40 ms a request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError, Reset):
            self.close_connection = True

    def log_message(self, fmt, *args):
        if self.server.double.verbose:
            sys.stderr.write("kube_double: %s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise ApiError(400, "invalid chunked body")
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ApiError(413, "request entity too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            raise ApiError(400, "invalid Content-Length")
        if n > MAX_BODY:
            raise ApiError(413, "request entity too large")
        return self.rfile.read(n) if n > 0 else b""

    def send(self, code, body, ctype="application/json", headers=None):
        delay = getattr(self, "delay_after", 0.0)
        if delay > 0:  # the second half of --latency-ms; no lock is held here
            self.delay_after = 0.0
            time.sleep(delay)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.command == "HEAD":
            body = b""
        self._headers_buffer.append(b"\r\n" + body)  # one write for headers and body
        self.flush_headers()

    def send_json(self, code, obj, headers=None):
        self.send(code, dumps(obj), headers=headers)

    def rst(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        raise Reset()

    # -- dispatch
    def dispatch(self, method):
        d = self.server.double
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.delay_after = 0.0
        if path.startswith("/_double/") or path == "/_double":
            return self.control(method, path, query)
        if self.server.control_only:
            return self.send_json(404, ApiError(404, "control port serves /_double/ only")
                                  .status())
        entry = {"time": now_rfc3339(), "t": round(time.time(), 6), "method": method,
                 "path": path, "query": u.query,
                 "contentType": self.headers.get("Content-Type", ""),
                 "accept": self.headers.get("Accept", ""), "body": "", "status": 0,
                 "fault": None}
        committed = False
        body_read = False
        logged = False
        self.host_key = None  # (resource, key) set by api() for an object write (owner hooks)
        d.log.enter()
        try:
            latency = d.latency
            if latency > 0:
                time.sleep(latency / 2)
                self.delay_after = latency / 2
            if not path.startswith("/images/") and not d.auth.ok(self):
                raise ApiError(401, "Unauthorized")
            fault = d.faults.match(method, path)
            if fault:
                entry["fault"] = fault["kind"]
                kind = fault["kind"]
                if kind == "reset":
                    self.rst()
                if kind == "stall":
                    time.sleep(fault["seconds"])
                    if fault["then"] == "reset":
                        self.rst()
            body = self.read_body()
            body_read = True
            entry["body"] = body[:d.log.body_max].decode("utf-8", "replace")
            if fault and fault["kind"] in ("500", "503", "403", "404", "409", "429"):
                code = int(fault["kind"])
                msg = {500: "Internal error injected by kube_double",
                       503: "the server is currently unable to handle the request",
                       403: "forbidden: permission withdrawn (fault injected by kube_double)",
                       404: "the server could not find the requested resource",
                       409: None,
                       429: "Too many requests, please try again later."}[code]
                rt = store_route(path) if code == 409 else None
                err = conflict(path.rsplit("/", 1)[-1], rt and rt[0]) if code == 409 else \
                    ApiError(code, msg)
                if code == 429:
                    err.headers["Retry-After"] = fault["retryAfter"]
                    err.details = {"retryAfterSeconds": fault["retryAfter"]}
                raise err
            if not path.startswith("/images/"):
                d.rbac.check(method, path, query)
            code, payload, ctype, is_write = self.api(method, path, query, body)
            committed = is_write and 200 <= code < 300
            entry["status"] = code
            if committed and self.host_key:
                for rid, patch in d.hooks.fire(method, path):
                    if not d.store.hook_patch(self.host_key[1], patch, self.host_key[0]):
                        d.hooks.missed(rid)
            kill = d.kill.on_write() if committed else None
            if kill and kill[2] == "before-response":
                self._kill(kill)
            if fault and (fault["kind"] == "commit-reset"):
                self.rst()
            # logged before the answer leaves, so a client that reads the log next sees it
            d.log.add(entry, committed)
            logged = True
            self.send(code, payload, ctype)
            if kill and kill[2] == "after-response":
                self.wfile.flush()
                self._kill(kill)
        except ApiError as err:
            entry["status"] = err.code
            headers = dict(err.headers)
            if not body_read and (self.headers.get("Content-Length", "0") != "0"
                                  or self.headers.get("Transfer-Encoding")):
                headers["Connection"] = "close"  # the unread body would be taken as a request
            if not logged:
                d.log.add(entry, committed)
                logged = True
            self.send_json(err.code, err.status(), headers=headers)
        except Reset:
            raise
        except (ConnectionError, ssl.SSLError, socket.timeout):
            raise
        except Exception as exc:  # a bug or hostile input: answer 500, keep serving
            sys.stderr.write("kube_double: %s %s: %s: %s\n" % (method, path,
                                                                type(exc).__name__, exc))
            entry["status"] = 500
            self.close_connection = True
            self.send_json(500, ApiError(500, "kube_double: %s: %s" % (type(exc).__name__, exc))
                           .status(), headers={"Connection": "close"})
        finally:
            if not logged:
                d.log.add(entry, committed)
            d.log.leave()

    @staticmethod
    def _kill(kill):
        try:
            os.kill(kill[0], kill[1])
        except OSError as exc:
            sys.stderr.write("kube_double: kill %d: %s\n" % (kill[0], exc))

    # -- the Kubernetes API
    def api(self, method, path, query, body):
        """Returns (code, body bytes, content type, is_write)."""
        d = self.server.double
        if path.startswith("/images/"):
            # the image server (httpd-http) for --verify-url tests: no auth, like httpd
            if method not in ("GET", "HEAD"):
                raise ApiError(405, "the image server serves GET and HEAD only")
            with d.images_lock:
                missing = path in d.missing_images
            if missing:
                return 404, b"404 Not Found\n", "text/plain", False
            return 200, ("image %s\n" % path).encode(), "application/octet-stream", False
        disc = d.disc  # one reading: POST /_double/crds replaces the dict
        if method == "GET" and path.rstrip("/") in disc:
            return 200, dumps(disc[path.rstrip("/")]), "application/json", False
        if path.startswith("/openapi/"):
            raise ApiError(404, "the server could not find the requested resource")
        rt = store_route(path)
        if rt is not None:
            res, version, ns, name, sub = rt
            if res.plural not in d.store.served or (sub and not res.status):
                raise ApiError(404, NOT_FOUND_MSG)  # CRD not installed / no such subresource
            if ns is None:
                if method != "GET":
                    raise ApiError(405, "method %s not allowed on the cluster-wide list" % method)
                return self.api_list(None, query, res, version)
            if not name:
                if method == "GET":
                    return self.api_list(ns, query, res, version)
                if method == "POST":
                    e = d.store.create(ns, self.parse_json(body), res)
                    self.host_key = (res, e.key)
                    return 201, raw_as(e, res, version), "application/json", True
                raise ApiError(405, "method %s not allowed on a collection" % method)
            if method != "GET":
                self.host_key = (res, (ns, name))
            return self.api_object(method, ns, name, sub, query, body, res, version)
        if path == SSAR_PATH:
            if method != "POST":
                raise ApiError(405, "the server does not allow this method on the requested "
                               "resource")
            return self.api_ssar(body)
        if path == EVENTS_ALL:
            if method != "GET":
                raise ApiError(405, "method %s not allowed on the cluster-wide list" % method)
            return self.api_events_list(None, query)
        if path.startswith(EVENTS_NS):
            parts = path[len(EVENTS_NS):].split("/")
            if len(parts) in (2, 3) and parts[1] == "events" and all(parts):
                if len(parts) == 3:
                    if method != "GET":
                        raise ApiError(405, "kube_double serves GET of a single event only")
                    return 200, d.store.get_event(parts[0], parts[2]), "application/json", False
                if method == "GET":
                    return self.api_events_list(parts[0], query)
                if method == "POST":
                    obj = self.parse_json(body)
                    name = validate_event(parts[0], obj)
                    obj = dict({"apiVersion": EVENTS_GV, "kind": "Event"}, **{
                        k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
                    return 201, d.store.create_event(parts[0], obj, name), \
                        "application/json", True
                raise ApiError(405, "method %s not allowed on a collection" % method)
        raise ApiError(404, "the server could not find the requested resource")

    def api_events_list(self, ns, query):
        q = lambda k: (query.get(k) or [""])[0]
        try:
            limit = max(int(q("limit") or 0), 0)
        except ValueError:
            raise ApiError(400, "limit must be an integer")
        if q("watch") in ("1", "true"):
            raise ApiError(405, "watch is not modelled by kube_double")
        items, rv, cont = self.server.double.store.list_events(
            ns, q("labelSelector"), q("fieldSelector"), limit, q("continue"))
        md = {"resourceVersion": str(rv)}
        if cont:
            md["continue"] = cont
        head = dumps({"apiVersion": EVENTS_GV, "kind": "EventList", "metadata": md})
        out = b"".join((head[:-1], b',"items":[', b",".join(items), b"]}"))
        return 200, out, "application/json", False

    def api_ssar(self, body):
        """POST selfsubjectaccessreviews: answered (in JSON) from the forbid rules."""
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                obj = ssar_from_protobuf(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError(400, "the body of the request was in an unknown format: %s" % exc)
        else:
            obj = self.parse_json(body)
        if not isinstance(obj, dict) or obj.get("kind") not in (None, "SelfSubjectAccessReview") \
                or obj.get("apiVersion") not in (None, AUTHZ_GV):
            raise ApiError(400, "the body of the request was in an unknown format: not an "
                           "authorization.k8s.io/v1 SelfSubjectAccessReview")
        spec = obj.get("spec")
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ApiError(400, "json: cannot unmarshal into Go struct field "
                           "SelfSubjectAccessReview.spec")
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        for k, v in (("resourceAttributes", ra), ("nonResourceAttributes", nra)):
            if v is not None and (not isinstance(v, dict) or
                                  not all(isinstance(x, str) for x in v.values()
                                          if not isinstance(x, (dict, list)))):
                raise ApiError(400, "json: cannot unmarshal into Go struct field "
                               "SelfSubjectAccessReviewSpec.spec.%s" % k)
        if (ra is None) == (nra is None):
            cause = {"reason": "FieldValueInvalid", "field": "spec.resourceAttributes",
                     "message": 'Invalid value: "null": exactly one of nonResourceAttributes or '
                                'resourceAttributes must be specified'}
            raise ApiError(422, 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: '
                           'spec.resourceAttributes: %s' % cause["message"],
                           details={"group": AUTHZ_GROUP, "kind": "SelfSubjectAccessReview",
                                    "causes": [cause]})
        status = {"allowed": True, "reason": "kube_double: no forbid rule matches"}
        if ra is not None:
            g = lambda k: ra.get(k) if isinstance(ra.get(k), str) else ""
            rule = self.server.double.rbac.denies(g("verb"), g("group"), g("resource"),
                                                  g("subresource"), g("namespace"))
            if rule:
                status = {"allowed": False, "reason": "kube_double: forbidden by forbid rule "
                          "%d" % rule}
        out = dict(obj)
        out["apiVersion"], out["kind"] = AUTHZ_GV, "SelfSubjectAccessReview"
        md = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
        out["metadata"] = dict(md, creationTimestamp=None)
        out["spec"] = spec
        out["status"] = status
        return 201, dumps(out), "application/json", False

    def wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def api_list(self, ns, query, res=None, version=None):
        d = self.server.double
        q = lambda k: (query.get(k) or [""])[0]
        try:
            limit = int(q("limit") or 0)
        except ValueError:
            raise ApiError(400, "limit must be an integer")
        if d.page_max and (limit <= 0 or limit > d.page_max):
            limit = d.page_max
        if q("watch") in ("1", "true"):
            raise ApiError(405, "watch is not modelled by kube_double")
        res = res or BMH
        version = version or res.versions[0]
        items, rv, cont, remaining = d.store.list(ns, q("labelSelector"), q("fieldSelector"),
                                                  max(limit, 0), q("continue"), res)
        if self.wants_table():
            return 200, dumps(table(items, rv, cont, remaining, q("includeObject"), res,
                                    version)), \
                "application/json;as=Table;v=v1;g=meta.k8s.io", False
        md = {"resourceVersion": str(rv)}
        if cont:
            md["continue"] = cont
        if remaining is not None:
            md["remainingItemCount"] = remaining
        head = dumps({"apiVersion": res.group + "/" + version, "kind": res.kind + "List",
                      "metadata": md})
        out = b"".join((head[:-1], b',"items":[',
                        b",".join(raw_as(e, res, version) for e in items), b"]}"))
        return 200, out, "application/json", False

    @staticmethod
    def parse_json(body):
        try:
            return json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, "the body of the request was in an unknown format: %s" % exc)

    def api_object(self, method, ns, name, sub, query, body, res=None, version=None):
        store = self.server.double.store
        res = res or BMH
        if method == "GET":
            e = store.get(ns, name, res)
            if self.wants_table():
                include = (query.get("includeObject") or [""])[0]
                return 200, dumps(table([e], store.rv, "", None, include, res, version)), \
                    "application/json;as=Table;v=v1;g=meta.k8s.io", False
            return 200, raw_as(e, res, version), "application/json", False
        if method == "PATCH":
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype == "application/merge-patch+json":
                patch = self.parse_json(body)
                if not isinstance(patch, dict):
                    raise ApiError(400, "a merge patch for an object must be a JSON object")
                mutate = lambda old: merge_patch(old, patch)
            elif ctype == "application/json-patch+json":
                ops = self.parse_json(body)
                mutate = lambda old: json_patch(old, ops)
            else:
                raise ApiError(415, 'the body of the request was in an unknown format - accepted '
                               'media types include: application/json-patch+json, '
                               'application/merge-patch+json, application/apply-patch+yaml')
            e, _ = store.update(ns, name, sub, mutate, res=res)
            return 200, raw_as(e, res, version), "application/json", True
        if method == "PUT":
            obj = self.parse_json(body)
            if not isinstance(obj, dict):
                raise ApiError(400, "body is not a JSON object")
            bname = _get(obj, "metadata", "name")
            if bname not in (None, name):
                raise ApiError(400, "the name of the object (%s) does not match the name on the "
                               "URL (%s)" % (bname, name))
            e, _ = store.update(ns, name, sub, lambda old: obj, require_rv=True, res=res)
            return 200, raw_as(e, res, version), "application/json", True
        if method == "DELETE" and not sub:
            e = store.delete(ns, name, res)
            return 200, raw_as(e, res, version), "application/json", True
        raise ApiError(405, "method %s not allowed here" % method)

    # -- the control API
    def control(self, method, path, query):
        d = self.server.double
        q = lambda k, dflt="": (query.get(k) or [dflt])[0]
        try:
            body = self.read_body()
            parts = [p for p in path.split("/") if p][1:]
            what = parts[0] if parts else ""
            if what == "health" and method == "GET":
                return self.send_json(200, {"ok": True, "objects": len(d.store.objs),
                                            "resourceVersion": d.store.rv})
            if what == "stats" and method == "GET":
                with d.store.lock:  # one consistent reading of the store's counters
                    st = {"objects": len(d.store.objs), "resourceVersion": d.store.rv,
                          "dataLoss": len(d.store.data_loss),
                          "snapshots": len(d.store.snapshots),
                          "operatorWrites": d.store.operator_writes,
                          "restored": len(d.store.restored), "k8sEvents": len(d.store.kevents),
                          "reflash": len(d.store.reflash), "reattach": len(d.store.reattach),
                          "flashes": len(d.store.flashes),
                          "objectsByResource": {p: len(t.objs)
                                                for p, t in d.store.tables.items()}}
                st["requests"] = d.log.count
                st["forbidden"] = d.rbac.dump()["denied"]
                return self.send_json(200, st)
            if what == "reset" and method == "POST":
                d.store.reset()
                d.faults.clear()
                d.hooks.clear()
                d.rbac.clear()
                with d.log.lock:
                    d.log.clear()
                d.kill.arm(0, None, signal.SIGKILL, "before-response")
                with d.images_lock:
                    d.missing_images = set()
                d.set_served(d.crds_default)
                return self.send_json(200, {"reset": True})
            if what == "crds":
                if method == "POST":
                    spec = self.parse_json(body)
                    if not isinstance(spec, dict) or not isinstance(spec.get("served"), list):
                        raise ApiError(400, "crds: body {\"served\":[resource,...]}")
                    try:
                        d.set_served(parse_crds(spec["served"]))
                    except ValueError as exc:
                        raise ApiError(400, "crds: %s" % exc)
                elif method != "GET":
                    raise ApiError(405, "crds: GET or POST")
                served = d.store.served
                return self.send_json(200, {"served": [p for p in RESOURCES if p in served],
                                            "known": list(RESOURCES)})
            if what == "seed" and method == "POST":
                n, skipped = d.store.seed(load_documents(body))
                return self.send_json(200, {"seeded": n, "skipped": skipped})
            if what == "generate" and method == "POST":
                spec = self.parse_json(body) or {}
                hosts = generate_hosts(int(spec.get("count", 0)), int(spec.get("seed", 1)))
                kinds = spec.get("with") or []
                if not isinstance(kinds, list):
                    raise ApiError(400, "generate: \"with\" is a list of resources")
                extra = companions(hosts, kinds)
                n, _ = d.store.seed(hosts)
                m, _ = d.store.seed(extra)
                out = {"generated": n}
                if kinds:
                    out["companions"] = m
                return self.send_json(200, out)
            if what == "objects":
                return self.control_objects(method, parts[1:], q, body)
            if what == "events" and method == "GET":
                return self.send_json(200, d.store.events())
            if what == "tick" and method == "POST":
                d.store.tick()
                return self.send_json(200, d.store.events())
            if what == "move" and method == "POST":
                spec = self.parse_json(body)
                if not isinstance(spec, dict):
                    raise ApiError(400, "move: body {\"namespace\",\"name\"} or {\"all\":true}")
                if spec.get("all") is True:
                    with d.store.lock:
                        keys = list(d.store.order)
                elif isinstance(spec.get("namespace"), str) and isinstance(spec.get("name"), str):
                    keys = [(spec["namespace"], spec["name"])]
                else:
                    raise ApiError(400, "move: body {\"namespace\",\"name\"} or {\"all\":true}")
                n = d.store.move(keys, bool(spec.get("snapshot", False)),
                                 bool(spec.get("unpause", True)))
                return self.send_json(200, {"moved": n, "events": d.store.events()})
            if what == "hooks":
                if method == "GET":
                    return self.send_json(200, {"rules": d.hooks.dump()})
                if method == "POST":
                    rules = self.parse_json(body)
                    rules = rules if isinstance(rules, list) else [rules]
                    return self.send_json(200, {"ids": [d.hooks.add(r) for r in rules]})
                if method == "DELETE":
                    d.hooks.clear()
                    return self.send_json(200, {"rules": []})
            if what == "rbac":
                if method == "POST":
                    spec = self.parse_json(body)
                    if not isinstance(spec, dict):
                        raise ApiError(400, "rbac: body {\"forbid\":[...]}")
                    d.rbac.set(spec.get("forbid", []), spec.get("user"))
                elif method != "GET":
                    raise ApiError(405, "rbac: GET or POST")
                return self.send_json(200, d.rbac.dump())
            if what == "k8s-events" and method == "GET":
                return self.send(200, b'{"items":[' + b",".join(d.store.all_events()) + b"]}")
            if what == "log":
                if method == "DELETE":
                    with d.log.lock:
                        d.log.clear()
                    return self.send_json(200, {"cleared": True})
                if method == "GET":
                    return self.send_json(200, d.log.dump(
                        int(q("since", "0") or 0), q("method") or None, q("path") or None,
                        q("bodies", "1") != "0", q("entries", "1") != "0"))
            if what == "faults":
                if method == "GET":
                    return self.send_json(200, {"rules": d.faults.dump()})
                if method == "POST":
                    rules = self.parse_json(body)
                    rules = rules if isinstance(rules, list) else [rules]
                    return self.send_json(200, {"ids": [d.faults.add(r) for r in rules]})
                if method == "DELETE":
                    d.faults.clear(int(parts[1]) if len(parts) > 1 else None)
                    return self.send_json(200, {"rules": d.faults.dump()})
            if what == "kill-after":
                if method == "GET":
                    return self.send_json(200, d.kill.state())
                if method == "POST":
                    spec = self.parse_json(body) or {}
                    writes = int(spec.get("writes", 0))
                    pid = spec.get("pid")
                    if writes > 0 and not isinstance(pid, int):
                        raise ApiError(400, "kill-after needs an integer pid")
                    d.kill.arm(writes, pid, int(spec.get("signal", signal.SIGKILL)),
                               spec.get("when", "before-response"))
                    return self.send_json(200, {"armed": writes > 0})
            if what == "images":
                if method == "POST":
                    spec = self.parse_json(body) or {}
                    missing = spec.get("missing", [])
                    if not isinstance(missing, list) or \
                            not all(isinstance(m, str) and m.startswith("/images/")
                                    for m in missing):
                        raise ApiError(400, "missing must be a list of /images/... paths")
                    with d.images_lock:
                        d.missing_images = set(missing)
                elif method != "GET":
                    raise ApiError(405, "images: GET or POST")
                with d.images_lock:
                    return self.send_json(200, {"missing": sorted(d.missing_images)})
            if what == "operator" and method in ("GET", "POST"):
                spec = (self.parse_json(body) or {}) if method == "POST" else {}
                if not isinstance(spec, dict):
                    raise ApiError(400, "operator: body is a JSON object")
                with d.store.lock:
                    if "enabled" in spec:
                        d.store.operator_enabled = bool(spec["enabled"])
                    if "clearErrors" in spec:
                        d.store.clear_errors = bool(spec["clearErrors"])
                    if "clearDelay" in spec:
                        d.store.clear_delay = float(spec["clearDelay"])
                    if "dropStatusAnnotation" in spec:
                        d.store.drop_status_annotation = bool(spec["dropStatusAnnotation"])
                    if "statusWrites" in spec:
                        d.store.status_hz = max(float(spec["statusWrites"]), 0.0)
                    if "statusWritesPaused" in spec:
                        d.store.status_writes_paused = bool(spec["statusWritesPaused"])
                    if "reflash" in spec:
                        d.store.reflash_enabled = bool(spec["reflash"])
                    if "reattach" in spec:
                        d.store.reattach_enabled = bool(spec["reattach"])
                if "tick" in spec:
                    d.tick_seconds = float(spec["tick"])
                if "latencyMs" in spec:
                    d.latency = min(max(float(spec["latencyMs"]), 0.0), MAX_LATENCY_MS) / 1000.0
                return self.send_json(200, {"enabled": d.store.operator_enabled,
                                            "clearErrors": d.store.clear_errors,
                                            "clearDelay": d.store.clear_delay,
                                            "tick": d.tick_seconds,
                                            "dropStatusAnnotation":
                                                d.store.drop_status_annotation,
                                            "statusWrites": d.store.status_hz,
                                            "statusWritesPaused": d.store.status_writes_paused,
                                            "reflash": d.store.reflash_enabled,
                                            "reattach": d.store.reattach_enabled,
                                            "latencyMs": round(d.latency * 1000.0, 3)})
            raise ApiError(404, "unknown control request %s %s" % (method, path))
        except ApiError as err:
            self.send_json(err.code, err.status())
        except (ValueError, TypeError, KeyError) as exc:
            self.send_json(400, ApiError(400, "bad control request: %s" % exc).status())

    def control_objects(self, method, rest, q, body):
        """objects[/NS/NAME] for hosts; another resource by ?resource=R or objects/R/NS/NAME
        (R: plural, singular, kind or short name; served or not)."""
        store = self.server.double.store
        res = BMH
        if q("resource"):
            res = resource_named(q("resource"))
        elif len(rest) in (1, 3):
            res = resource_named(rest[0])
            rest = rest[1:]
        if res is None:
            raise ApiError(404, "unknown resource %r" % (q("resource") or rest[0]))
        if not rest and method == "GET":
            ns = q("namespace") or None
            items = b",".join(e.raw for e in store.all_entries(ns, res))
            return self.send(200, b'{"items":[' + items + b"]}")
        if len(rest) == 2 and method == "GET":
            return self.send(200, store.get(rest[0], rest[1], res).raw)
        if len(rest) == 2 and method == "PUT":
            obj = self.parse_json(body)
            if not isinstance(obj, dict):
                raise ApiError(400, "body is not a JSON object")
            return self.send(200, store.put_raw(rest[0], rest[1], obj, res).raw)
        raise ApiError(404, "unknown control request")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, addr, double, control_only=False):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.double = double
        self.control_only = control_only
        super().__init__(addr, Handler)

    def server_bind(self):
        # HTTPServer.server_bind would do a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="kube_double.py", description="Kubernetes API test double for Metal3 objects "
        "(see tests/KUBE_DOUBLE.md).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--control-port-file")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--client-ca")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--token")
    p.add_argument("--token-file")
    p.add_argument("--seed", action="append", default=[])
    p.add_argument("--gen", type=int, default=0)
    p.add_argument("--gen-seed", type=int, default=1)
    p.add_argument("--gen-with", default="", metavar="LIST",
                   help="with --gen: companion objects of these resources (comma list of "
                   + ",".join(COMPANION_KINDS) + ")")
    p.add_argument("--fault", action="append", default=[])
    p.add_argument("--tick", type=float, default=1.0)
    p.add_argument("--no-operator", action="store_true")
    p.add_argument("--clear-errors", action="store_true")
    p.add_argument("--clear-delay", type=float, default=0.0)
    p.add_argument("--log-max", type=int, default=200000)
    p.add_argument("--log-body-max", type=int, default=65536)
    p.add_argument("--page-max", type=int, default=0)
    p.add_argument("--missing-image", action="append", default=[])
    p.add_argument("--kill-after", metavar="WRITES,PID[,SIGNAL[,WHEN]]")
    p.add_argument("--hook", action="append", default=[], metavar="JSON")
    p.add_argument("--forbid", action="append", default=[], metavar="JSON")
    p.add_argument("--rbac-user", default=DEFAULT_USER)
    p.add_argument("--status-writes", type=float, default=0.0, metavar="HZ")
    p.add_argument("--latency-ms", type=float, default=0.0, metavar="MS")
    p.add_argument("--drop-status-annotation", action="store_true")
    p.add_argument("--crds", default="all", metavar="LIST",
                   help="comma list of the resources served (CRDs installed): "
                   + ",".join(RESOURCES) + " (default all)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if (a.client_ca or a.require_client_cert) and not a.tls_cert:
        p.error("--client-ca needs --tls-cert/--tls-key")
    if a.require_client_cert and not a.client_ca:
        p.error("--require-client-cert needs --client-ca")
    try:
        a.crds = parse_crds(a.crds)
    except ValueError as exc:
        p.error("--crds: %s" % exc)
    return a


def main(argv):
    args = parse_args(argv)
    double = Double(args)
    try:
        for f in args.seed:
            with open(f, "rb") as fh:
                double.store.seed(load_documents(fh.read()))
        if args.gen:
            hosts = generate_hosts(args.gen, args.gen_seed)
            extra = companions(hosts, [k for k in args.gen_with.split(",") if k])
            double.store.seed(hosts)
            double.store.seed(extra)
        for f in args.fault:
            double.faults.add(parse_compact_fault(f))
        for h in args.hook:
            rules = json.loads(h)
            for r in (rules if isinstance(rules, list) else [rules]):
                double.hooks.add(r)
        for f in args.forbid:
            rules = json.loads(f)
            for r in (rules if isinstance(rules, list) else [rules]):
                double.rbac.add(r)
        if args.kill_after:
            ka = args.kill_after.split(",")
            if not 2 <= len(ka) <= 4:
                raise ValueError("--kill-after takes WRITES,PID[,SIGNAL[,WHEN]]")
            try:
                nums = [int(x) for x in ka[:3]]
            except ValueError:
                raise ValueError("--kill-after takes WRITES,PID[,SIGNAL[,WHEN]] (integers)")
            double.kill.arm(nums[0], nums[1], nums[2] if len(nums) > 2 else 9,
                            ka[3] if len(ka) > 3 else "before-response")
    except (OSError, ValueError, ApiError) as exc:
        sys.stderr.write("kube_double: %s\n" % exc)
        return 2
    server = Server((args.host, args.port), double)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            ctx.load_verify_locations(args.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert \
                else ssl.CERT_OPTIONAL
        # Handshake in the connection's thread (Handler.setup), not in the accept loop.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    double.port = server.server_address[1]
    double.set_served(double.crds_default)
    ctl = None
    if args.control_port_file:
        ctl = Server((args.host, 0), double, control_only=True)
        write_port_file(args.control_port_file, ctl.server_address[1])
        threading.Thread(target=ctl.serve_forever, daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, double.port)
    # Files first, then stdout: whichever a test waits for, everything is ready.
    print("listening %d" % double.port, flush=True)
    if ctl:
        print("control %d" % ctl.server_address[1], flush=True)
    threading.Thread(target=double.ticker, daemon=True).start()
    threading.Thread(target=double.status_writer, daemon=True).start()

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
