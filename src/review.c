/* review.c - the admission decision: AdmissionReview request bytes in, response review bytes out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "kinds.h"
#include "review.h"
#include "statusann.h"
#include "str.h"
#include "url.h"

#define OPTOUT_ANNOTATION	"bmhguard.io/rewrite"
#define WARNING_SOFT_MAX	120	/* what fits on one kubectl line */
#define WARNING_HARD_MAX	250	/* the API server truncates warnings over 256 */
/* The fixed text around the strings of a patch op, a response and each change in it: with
 * codec_string_max() of the strings, the caps of those texts, which escaping never passes. */
#define OP_FIXED		64
#define RESPONSE_FIXED		256
#define ANSWER_FIXED		64
/* A list kind's elements looked at (HostFirmwareComponents has one entry a firmware component:
 * bmc, bios, a few nics); later ones are left as they are. */
#define LIST_MAX		32
/* The largest such list read: 32 entries of a component and a URL of a few hundred bytes fit
 * many times over, and json-c's tree of it stays small whatever it holds. */
#define LIST_MAX_BYTES		((size_t)64 << 10)
#define MAX_CHANGES		(KINDS_MAX_FIELDS + 2 + LIST_MAX)

static const char *const field_names[REVIEW_FIELD_COUNT] = {
	"spec.image.url", "spec.image.checksum",
	"status annotation url", "status annotation checksum",
	"spec.template.spec.image.url", "spec.template.spec.image.checksum", "spec.url",
	"spec.updates[].url",
};
static const char *const field_labels[REVIEW_FIELD_COUNT] = {
	"spec_image_url", "spec_image_checksum",
	"status_annotation_url", "status_annotation_checksum",
	"spec_template_spec_image_url", "spec_template_spec_image_checksum", "spec_url",
	"spec_updates_url",
};
/* auditAnnotations keys: the API server prefixes them with the webhook's name */
static const char *const field_audit_keys[REVIEW_FIELD_COUNT] = {
	"spec-image-url", "spec-image-checksum",
	"status-annotation-url", "status-annotation-checksum",
	"spec-template-spec-image-url", "spec-template-spec-image-checksum", "spec-url",
	"spec-updates-url",
};

const char *
review_field_str(enum review_field f)
{
	return (unsigned)f < REVIEW_FIELD_COUNT ? field_names[f] : "unknown";
}

const char *
review_field_label(enum review_field f)
{
	return (unsigned)f < REVIEW_FIELD_COUNT ? field_labels[f] : "unknown";
}

const char *
review_action_str(enum review_action a)
{
	switch (a) {
	case REVIEW_REWRITE:		return "rewrite";
	case REVIEW_WOULD_REWRITE:	return "would-rewrite";
	case REVIEW_WITHHOLD:		return "withhold";
	case REVIEW_ACTION_COUNT:	break;
	}
	return "unknown";
}

const char *
review_outcome_str(enum review_outcome o)
{
	switch (o) {
	case REVIEW_UNCHANGED:		return "unchanged";
	case REVIEW_PATCHED:		return "patched";
	case REVIEW_WITHHELD:		return "withheld";
	case REVIEW_REJECTED:		return "rejected";
	case REVIEW_OUTCOME_COUNT:	break;
	}
	return "unknown";
}

/* Every member the decision reads besides the kinds' fields (kinds_reads[], read in the same
 * parse, after these); review_handle parses the request for these alone. */
enum read {
	RD_TOP = 0, RD_APIVERSION, RD_KIND, RD_REQUEST, RD_UID, RD_NAMESPACE, RD_NAME, RD_GROUP,
	RD_RESOURCE_KIND, RD_SUBRESOURCE, RD_OPERATION, RD_OBJECT, RD_OBJECT_NAME,
	RD_STATUS_ANNOTATION, RD_OPTOUT, RD_OLD, RD_COUNT
};
#define NREADS	(RD_COUNT + KR_COUNT)

#define KEYS(...) { (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) }
static const struct codec_path reads[RD_COUNT] = {
	[RD_TOP] = { NULL, 0 },
	[RD_APIVERSION] = KEYS("apiVersion"),
	[RD_KIND] = KEYS("kind"),
	[RD_REQUEST] = KEYS("request"),
	[RD_UID] = KEYS("request", "uid"),
	[RD_NAMESPACE] = KEYS("request", "namespace"),
	[RD_NAME] = KEYS("request", "name"),
	[RD_GROUP] = KEYS("request", "kind", "group"),
	[RD_RESOURCE_KIND] = KEYS("request", "kind", "kind"),
	[RD_SUBRESOURCE] = KEYS("request", "subResource"),
	[RD_OPERATION] = KEYS("request", "operation"),
	[RD_OBJECT] = KEYS("request", "object"),
	[RD_OBJECT_NAME] = KEYS("request", "object", "metadata", "name"),
	[RD_STATUS_ANNOTATION] = KEYS("request", "object", "metadata", "annotations",
	    STATUSANN_KEY),
	[RD_OPTOUT] = KEYS("request", "object", "metadata", "annotations", OPTOUT_ANNOTATION),
	[RD_OLD] = KEYS("request", "oldObject"),
};
/* request.object's own fields start after "request", "object" */
#define OBJECT_KEYS(kr)	(kinds_reads[kr].keys + 2), (kinds_reads[kr].depth - 2)

/* What one change adds to the response; record() fills it, respond() writes it out. */
struct answer {
	char *warning;		/* owned */
	char audit_key[64];	/* "withheld-spec-image-url", ... */
	char *audit_value;	/* owned */
	char *op_path;		/* owned; NULL: no replace op (warn mode, withheld, or the checksum
				 * that rides in the annotation url's op) */
	char *op_value;		/* owned */
};

/* One review being decided. */
struct decision {
	const struct policy *policy;
	const char *body;		/* the request, for a list kind's json-c read */
	size_t len;
	const struct kinds_row *kind;	/* the request's kind; NULL: not ours */
	struct codec_field in[NREADS];	/* owned: what the request holds at reads[], kinds_reads[] */
	int update;			/* an UPDATE */
	struct answer out[MAX_CHANGES];	/* at most one change per field or list element */
	size_t nout;
	struct review_result *res;
	int withheld;
};

/* The request's string at r, borrowed from d, or NULL. */
static const char *
get(const struct decision *d, enum read r)
{
	return codec_field_string(&d->in[r]);
}

/* The request's string at a kind's read kr, borrowed from d, or NULL. */
static const char *
kget(const struct decision *d, enum kinds_read kr)
{
	return kr < KR_COUNT ? codec_field_string(&d->in[RD_COUNT + kr]) : NULL;
}

static int
is_object(const struct decision *d, enum read r)
{
	return d->in[r].found == CODEC_OBJECT;
}

/* "10.10.10.10:8080" out of url, where policy_rewrite_at found it, for short warnings. */
static void
authority_of(const char *url, const struct url_literal *lit, char *buf, size_t len)
{
	size_t n = lit->authority_end - lit->authority_start;

	if (n >= len)
		n = len - 1;
	memcpy(buf, url + lit->authority_start, n);
	buf[n] = '\0';
}

/* text, cut to what the API server keeps */
static char *
warning_dup(const char *text)
{
	char buf[WARNING_HARD_MAX + 1];

	if (strlen(text) > WARNING_HARD_MAX) {
		memcpy(buf, text, WARNING_HARD_MAX - 3);
		memcpy(buf + WARNING_HARD_MAX - 3, "...", 4);
		text = buf;
	}
	return strdup(text);
}

/* Where a change is, in warnings and audit keys: a field's names, or a list element's. */
struct place {
	const char *shown;	/* "spec.image.url", "spec.updates[0].url (bmc)" */
	const char *audit;	/* "spec-image-url", "spec-updates-0-url" */
};

/* Record a change: its warning and audit annotation, and on REVIEW_REWRITE with a patch_value the
 * replace op at pointer (the annotation's checksum rides in its url's op, so it passes NULL).
 * at: where a list element is; NULL for a field, named by its field. */
static int
record_at(struct decision *d, enum review_field field, const struct place *at,
    enum review_action action, const char *from, const struct url_literal *lit, const char *to,
    const char *pointer, const char *patch_value)
{
	struct review_result *r = d->res;
	struct review_change *c;
	struct answer *a;
	char msg[WARNING_HARD_MAX * 2], fa[128], ta[128];
	const char *name = r->name[0] ? r->name : d->kind->unnamed;
	const char *shown = at ? at->shown : field_names[field];
	const char *akey = at ? at->audit : field_audit_keys[field];
	char who[128];

	if (d->nout == MAX_CHANGES)
		return -1;	/* more changes than fields and elements: a bug, not a request */
	a = &d->out[d->nout++];
	c = realloc(r->changes, (r->nchanges + 1) * sizeof(*c));
	if (c == NULL)
		return -1;
	r->changes = c;
	c = &r->changes[r->nchanges];
	c->field = field;
	c->action = action;
	c->from = strdup(from);
	c->to = strdup(to);
	r->nchanges++;
	if (c->from == NULL || c->to == NULL)
		return -1;

	/* namespace (<= 63) and name (<= 253): keep the warning under 256 by shortening the name,
	 * never the part that says what changed */
	snprintf(who, sizeof(who), "%.63s/%s", r->namespace, name);
	if (strlen(who) > 100)
		memcpy(who + 97, "...", 4);
	authority_of(from, lit, fa, sizeof(fa));
	snprintf(ta, sizeof(ta), "%s", policy_target(d->policy));
	switch (action) {
	case REVIEW_REWRITE:
		snprintf(msg, sizeof(msg), "bmhguard: %s %s: host %s -> %s", who, shown, fa, ta);
		break;
	case REVIEW_WOULD_REWRITE:
		snprintf(msg, sizeof(msg), "bmhguard (warn mode): %s %s: would rewrite %s -> %s",
		    who, shown, fa, ta);
		break;
	case REVIEW_WITHHOLD:
		snprintf(msg, sizeof(msg), "bmhguard: %s %s kept on %s (%s); %s", who, shown, fa,
		    d->kind->withheld_why, d->kind->withheld_hint);
		d->withheld = 1;
		break;
	case REVIEW_ACTION_COUNT:
		return -1;	/* not an action */
	}
	if ((a->warning = warning_dup(msg)) == NULL)
		return -1;
	/* the audit log keeps the whole from -> to, however long the URLs */
	if (asprintf(&a->audit_value, "%s -> %s%s%s%s", from, to,
	    action == REVIEW_REWRITE ? "" : action == REVIEW_WOULD_REWRITE ?
	    " (warn mode, not applied)" : " (", action == REVIEW_WITHHOLD ?
	    d->kind->withheld_audit : "", action == REVIEW_WITHHOLD ? ")" : "") < 0) {
		a->audit_value = NULL;
		return -1;
	}
	snprintf(a->audit_key, sizeof(a->audit_key), "%s%s", action == REVIEW_REWRITE ? "" :
	    action == REVIEW_WOULD_REWRITE ? "would-" : "withheld-", akey);
	if (action != REVIEW_REWRITE || patch_value == NULL)
		return 0;
	a->op_path = strdup(pointer);
	a->op_value = strdup(patch_value);
	return a->op_path == NULL || a->op_value == NULL ? -1 : 0;
}

static int
record(struct decision *d, enum review_field field, enum review_action action, const char *from,
    const struct url_literal *lit, const char *to, const char *pointer, const char *patch_value)
{
	return record_at(d, field, NULL, action, from, lit, to, pointer, patch_value);
}

static enum review_action
rewrite_action(const struct decision *d)
{
	return policy_mode(d->policy) == POLICY_WARN ? REVIEW_WOULD_REWRITE : REVIEW_REWRITE;
}

static int must_withhold(const struct decision *d, const char *s, const char *u, const char *r);

/* What the kind's status says is in use now: oldObject's (the stored status); an UPDATE without
 * one (a client or webhook that left it out) is held to the status its object carries, not let
 * through unchecked. NULL for a kind that is never withheld. */
static const char *
in_use(const struct decision *d)
{
	return kget(d, is_object(d, RD_OLD) ? d->kind->old_in_use : d->kind->in_use);
}

/* Rewrite the kind's field f if the rules say so; *final gets the value that will be stored
 * (borrowed from the object, or owned in *owned). The url field decides *withhold from its own
 * rewrite; the checksum, handled after it, follows that decision. */
static int
spec_field(struct decision *d, const struct kinds_field *f, int *withhold, const char **final,
    char **owned)
{
	enum review_field field = f->field;
	enum kinds_read r = f->read;
	const char *cur = kget(d, r);
	enum policy_verdict v;
	struct url_literal lit;
	char *to = NULL, *ptr = NULL;
	int rc = -1;

	*final = cur;
	if (policy_rewrite_at(d->policy, cur, &to, &v, &lit) != 0)
		return -1;
	if (v != POLICY_REWRITE)
		return 0;
	if ((ptr = codec_pointer(OBJECT_KEYS(r))) == NULL)
		goto out;
	if (!f->follows)
		*withhold = must_withhold(d, in_use(d), cur, to);
	if (*withhold) {
		rc = record(d, field, REVIEW_WITHHOLD, cur, &lit, to, ptr, NULL);
		goto out;
	}
	if (record(d, field, rewrite_action(d), cur, &lit, to, ptr, to) != 0)
		goto out;
	/* in warn mode too: the annotation is reported against the url enforce would store */
	*final = to;
	*owned = to;
	to = NULL;
	rc = 0;
out:
	free(ptr);
	free(to);
	return rc;
}

/*
 * UPDATE of a host provisioned with image S, incoming spec U, rewrite R: rewriting spec alone is
 * safe unless U is what the host was provisioned with and R differs from it, because then the
 * operator sees spec != status and deprovisions (wipes) the host. Only `bmhguard repair`, which
 * pauses the host and moves status and spec together, may make that change. u and r are the
 * incoming spec url and its rewrite, s what status says is in use. The same holds one level
 * down for what a kind's status records as attached or applied (kinds.c).
 */
static int
must_withhold(const struct decision *d, const char *s, const char *u, const char *r)
{
	if (!d->update)
		return 0;
	if (s == NULL || *s == '\0')
		return 0;	/* not provisioned with an image */
	if (strcmp(r, s) == 0)
		return 0;	/* status already repaired: bring spec in line */
	return strcmp(u, s) == 0;	/* U != S: the image is being changed anyway */
}


/*
 * The status annotation restores a host's status after a move; its url is rewritten only when the
 * result equals the spec url that will be stored, so that the restored status matches spec and
 * the operator has no reason to deprovision. Its checksum follows its url. statusann decides, the
 * same rule the repair job applies.
 */
static int
status_annotation(struct decision *d, const char *final_spec_url)
{
	const char *segs[] = { "metadata", "annotations", STATUSANN_KEY };
	struct statusann_edit e;
	char *ptr = NULL;
	int rc = -1;

	if (statusann_follow(d->policy, get(d, RD_STATUS_ANNOTATION), final_spec_url, &e) != 0)
		return -1;
	if (e.verdict != STATUSANN_REWRITE) {
		statusann_edit_clear(&e);
		return 0;	/* nothing to do, or not ours to repair: the operator ignores it too */
	}
	if ((ptr = codec_pointer(segs, 3)) == NULL)
		goto out;
	if (record(d, REVIEW_ANNOTATION_URL, rewrite_action(d), e.url_from, &e.url_lit, e.url_to,
	    ptr, e.text) != 0)
		goto out;
	if (e.sum_to != NULL && record(d, REVIEW_ANNOTATION_CHECKSUM, rewrite_action(d), e.sum_from,
	    &e.sum_lit, e.sum_to, ptr, NULL) != 0)
		goto out;
	rc = 0;
out:
	statusann_edit_clear(&e);
	free(ptr);
	return rc;
}

/* The string at key of a list element, or NULL (absent, not a string, or holding a NUL). */
static const char *
element_string(json_object *e, const char *key)
{
	json_object *v;
	const char *s;

	if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* u when status's list records the element named c as applied from u, else NULL. */
static const char *
applied(json_object *status, const struct kinds_list *l, const char *c, const char *u)
{
	size_t i, n;

	if (!json_object_is_type(status, json_type_array) || c == NULL)
		return NULL;
	n = json_object_array_length(status);
	for (i = 0; i < n && i < LIST_MAX; i++) {
		json_object *e = json_object_array_get_idx(status, i);

		if (str_eq(element_string(e, l->key), c) && str_eq(element_string(e, l->url), u))
			return u;
	}
	return NULL;
}

/* One list element's url: rewritten, or withheld when status records it applied from the very
 * literal, as for a provisioned host's image. */
static int
list_element(struct decision *d, const struct kinds_list *l, json_object *status, size_t i,
    json_object *e)
{
	const char *u = element_string(e, l->url), *c = element_string(e, l->key);
	const char *segs[8];
	char idx[24], shown[96], audit[40];
	struct place at = { shown, audit };
	enum policy_verdict v;
	struct url_literal lit;
	char *to = NULL, *ptr = NULL;
	int rc = -1;

	if (policy_rewrite_at(d->policy, u, &to, &v, &lit) != 0)
		return -1;
	if (v != POLICY_REWRITE)
		return 0;
	snprintf(idx, sizeof(idx), "%zu", i);
	memcpy(segs, l->spec, l->spec_depth * sizeof(*segs));
	segs[l->spec_depth] = idx;
	segs[l->spec_depth + 1] = l->url;
	/* "spec.updates[1].url (bios)", "spec-updates-1-url": the element's own place, named */
	snprintf(shown, sizeof(shown), "%s.%s[%zu].%s (%.40s)", l->spec[0], l->spec[1], i, l->url,
	    c ? c : "?");
	snprintf(audit, sizeof(audit), "%s-%s-%zu-%s", l->spec[0], l->spec[1], i, l->url);
	if ((ptr = codec_pointer(segs, l->spec_depth + 2)) == NULL)
		goto out;
	if (must_withhold(d, applied(status, l, c, u), u, to))
		rc = record_at(d, l->field, &at, REVIEW_WITHHOLD, u, &lit, to, ptr, NULL);
	else
		rc = record_at(d, l->field, &at, rewrite_action(d), u, &lit, to, ptr, to);
out:
	free(ptr);
	free(to);
	return rc;
}

/* The array at keys under request.object (or oldObject) as a json-c tree (owned), or NULL:
 * absent, not an array, or more than a list's bound. *skipped says it was there but too big. */
static json_object *
list_read(const struct decision *d, const char *top, const char *const *keys, size_t depth,
    int *skipped)
{
	const char *path[8] = { "request", top };
	json_object *a = NULL;
	size_t start, end;
	char err[256];

	memcpy(path + 2, keys, depth * sizeof(*path));
	if (codec_locate_value(d->body, d->len, path, depth + 2, &start, &end) != 0 ||
	    d->body[start] != '[')
		return NULL;
	/* the span is valid JSON already (codec_parse_fields); a json-c tree of it is built only
	 * when small and cheap: a request may pack megabytes of "{}" into it */
	if (end - start > LIST_MAX_BYTES ||
	    codec_tree_affordable(d->body + start, end - start, err, sizeof(err)) != 0 ||
	    codec_parse(d->body + start, end - start, &a, err, sizeof(err)) != 0) {
		*skipped = 1;
		return NULL;
	}
	return a;
}

/*
 * A kind's list of urls (HostFirmwareComponents' spec.updates). codec_parse_fields reads strings
 * at fixed paths, not arrays, so only this kind reads its two arrays again (their spans, as
 * json-c trees); hosts keep the fast path. A list past LIST_MAX_BYTES is left as it is, with
 * whatever status says.
 */
static int
list_fields(struct decision *d, const struct kinds_list *l)
{
	json_object *spec, *status;
	int skipped = 0, rc = 0;
	size_t i, n;

	spec = list_read(d, "object", l->spec, l->spec_depth, &skipped);
	if (spec == NULL)
		return 0;
	status = list_read(d, is_object(d, RD_OLD) ? "oldObject" : "object", l->status,
	    l->status_depth, &skipped);
	if (skipped) {
		/* the status that could withhold a rewrite was not read: rewrite nothing */
		json_object_put(spec);
		return 0;
	}
	n = json_object_array_length(spec);
	for (i = 0; i < n && i < LIST_MAX && rc == 0; i++)
		rc = list_element(d, l, status, i, json_object_array_get_idx(spec, i));
	json_object_put(spec);
	json_object_put(status);
	return rc;
}

/* Whether the request is a write of a kind of ours (kinds.c) itself that we should look at. */
static int
applies(struct decision *d)
{
	const char *operation = get(d, RD_OPERATION), *subresource = get(d, RD_SUBRESOURCE);

	d->kind = kinds_find(get(d, RD_GROUP), get(d, RD_RESOURCE_KIND));
	if (d->kind == NULL || (subresource != NULL && *subresource != '\0'))
		return 0;
	if (!str_eq(operation, "CREATE") && !str_eq(operation, "UPDATE"))
		return 0;
	if (!is_object(d, RD_OBJECT))
		return 0;
	d->update = str_eq(operation, "UPDATE");
	return !str_eq(get(d, RD_OPTOUT), "disabled");
}

static int
decide(struct decision *d)
{
	const struct kinds_row *k = d->kind;
	const char *final[KINDS_MAX_FIELDS] = { NULL };
	char *owned[KINDS_MAX_FIELDS] = { NULL };
	int withhold = 0, rc = -1;
	size_t i;

	for (i = 0; i < k->nfields; i++)
		if (spec_field(d, &k->fields[i], &withhold, &final[i], &owned[i]) != 0)
			goto out;
	if (k->status_annotation && status_annotation(d, final[0]) != 0)
		goto out;
	if (k->list != NULL && list_fields(d, k->list) != 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < KINDS_MAX_FIELDS; i++)
		free(owned[i]);
	return rc;
}

static int
set_string(char **dst, const char *src)
{
	*dst = strdup(src ? src : "");
	return *dst == NULL ? -1 : 0;
}

/* Check the envelope; fill uid/namespace/name. */
static int
envelope(struct decision *d, char *err, size_t errlen)
{
	const char *apiversion = get(d, RD_APIVERSION), *u, *n;

	if (!is_object(d, RD_TOP)) {
		snprintf(err, errlen, "not an AdmissionReview: top level is not a JSON object");
		return -1;
	}
	if (!str_eq(get(d, RD_KIND), "AdmissionReview")) {
		snprintf(err, errlen, "not an AdmissionReview: kind is not \"AdmissionReview\"");
		return -1;
	}
	if (!str_eq(apiversion, "admission.k8s.io/v1")) {
		char shown[65];
		size_t i;

		/* the request's bytes must not break the one-line error (newlines, escapes) */
		snprintf(shown, sizeof(shown), "%s", apiversion ? apiversion : "");
		for (i = 0; shown[i] != '\0'; i++)
			if ((unsigned char)shown[i] < 0x20 || shown[i] == 0x7f || shown[i] == '"')
				shown[i] = '?';
		snprintf(err, errlen, "unsupported apiVersion \"%s\": want admission.k8s.io/v1",
		    shown);
		return -1;
	}
	if (!is_object(d, RD_REQUEST)) {
		snprintf(err, errlen, "AdmissionReview has no request object");
		return -1;
	}
	u = get(d, RD_UID);
	if (u == NULL && d->in[RD_UID].found == CODEC_STRING) {
		/* the response must echo the uid byte for byte, and a C string would cut it */
		snprintf(err, errlen, "AdmissionReview request uid holds \\u0000");
		return -1;
	}
	if (u == NULL || *u == '\0') {
		snprintf(err, errlen, "AdmissionReview request has no uid");
		return -1;
	}
	/* the request's name is empty on CREATE with generateName; fall back to the object's */
	n = get(d, RD_NAME);
	if (n == NULL || *n == '\0')
		n = get(d, RD_OBJECT_NAME);
	if (set_string(&d->res->uid, u) != 0 ||
	    set_string(&d->res->namespace, get(d, RD_NAMESPACE)) != 0 ||
	    set_string(&d->res->name, n) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Whether any change carries a replace op (there is a patch to send). */
static int
has_ops(const struct decision *d)
{
	size_t i;

	for (i = 0; i < d->nout; i++)
		if (d->out[i].op_path != NULL)
			return 1;
	return 0;
}

/* The JSON patch: one replace op per patched field, base64. Caller frees. */
static char *
patch_base64(const struct decision *d)
{
	struct buf ops;
	const char *sep = "[";
	char *b64 = NULL;
	size_t i, max = 2;

	for (i = 0; i < d->nout; i++)
		if (d->out[i].op_path != NULL)
			max += OP_FIXED + codec_string_max(d->out[i].op_path) +
			    codec_string_max(d->out[i].op_value);
	buf_init(&ops, max);
	for (i = 0; i < d->nout; i++) {
		if (d->out[i].op_path == NULL)
			continue;
		buf_addstr(&ops, sep);
		buf_addstr(&ops, "{\"op\":\"replace\",\"path\":");
		codec_add_string(&ops, d->out[i].op_path);
		buf_addstr(&ops, ",\"value\":");
		codec_add_string(&ops, d->out[i].op_value);
		buf_addstr(&ops, "}");
		sep = ",";
	}
	if (buf_addstr(&ops, "]") == BUF_OK)
		b64 = codec_base64(ops.data, ops.len);
	buf_free(&ops);
	return b64;
}

/* The response review. Strings are not re-checked: they come from the validated request or
 * from us. */
static int
respond(struct decision *d)
{
	struct buf out;
	char *b64 = NULL;
	int patched = has_ops(d);
	size_t i, max = RESPONSE_FIXED + codec_string_max(d->res->uid);

	if (patched && (b64 = patch_base64(d)) == NULL)
		return -1;
	if (b64 != NULL)
		max += codec_string_max(b64);
	for (i = 0; i < d->nout; i++)
		max += ANSWER_FIXED + codec_string_max(d->out[i].warning) +
		    codec_string_max(d->out[i].audit_key) + codec_string_max(d->out[i].audit_value);
	buf_init(&out, max);
	buf_addstr(&out, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"response\":{\"uid\":");
	codec_add_string(&out, d->res->uid);
	buf_addstr(&out, ",\"allowed\":true");
	if (b64 != NULL) {
		buf_addstr(&out, ",\"patchType\":\"JSONPatch\",\"patch\":");
		codec_add_string(&out, b64);
	}
	if (d->nout > 0) {
		/* audit keys are distinct: one per field, and a field changes at most once */
		for (i = 0; i < d->nout; i++) {
			buf_addstr(&out, i == 0 ? ",\"warnings\":[" : ",");
			codec_add_string(&out, d->out[i].warning);
		}
		for (i = 0; i < d->nout; i++) {
			buf_addstr(&out, i == 0 ? "],\"auditAnnotations\":{" : ",");
			codec_add_string(&out, d->out[i].audit_key);
			buf_addstr(&out, ":");
			codec_add_string(&out, d->out[i].audit_value);
		}
		buf_addstr(&out, "}");
	}
	buf_addstr(&out, "}}");
	free(b64);
	if ((d->res->response = buf_take(&out, &d->res->response_len)) == NULL)
		return -1;
	d->res->outcome = d->withheld ? REVIEW_WITHHELD :
	    patched ? REVIEW_PATCHED : REVIEW_UNCHANGED;
	return 0;
}

static void
answers_free(struct decision *d)
{
	size_t i;

	for (i = 0; i < d->nout; i++) {
		free(d->out[i].warning);
		free(d->out[i].audit_value);
		free(d->out[i].op_path);
		free(d->out[i].op_value);
	}
	d->nout = 0;
}

int
review_handle(const struct policy *p, const char *body, size_t len, struct review_result *res,
    char *err, size_t errlen)
{
	struct decision d;
	struct codec_path paths[NREADS];
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&d, 0, sizeof(d));
	d.policy = p;
	d.res = res;
	d.body = body;
	d.len = len;
	memcpy(paths, reads, sizeof(reads));
	memcpy(paths + RD_COUNT, kinds_reads, sizeof(kinds_reads));
	if (codec_parse_fields(body, len, paths, NREADS, d.in, err, errlen) != 0 ||
	    envelope(&d, err, errlen) != 0)
		goto out;
	if ((applies(&d) && decide(&d) != 0) || respond(&d) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	answers_free(&d);
	codec_fields_free(d.in, NREADS);
	if (rc != 0) {
		review_result_free(res);
		res->outcome = REVIEW_REJECTED;
	}
	return rc;
}

void
review_result_free(struct review_result *res)
{
	size_t i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nchanges; i++) {
		free(res->changes[i].from);
		free(res->changes[i].to);
	}
	free(res->changes);
	free(res->response);
	free(res->uid);
	free(res->namespace);
	free(res->name);
	memset(res, 0, sizeof(*res));
}
