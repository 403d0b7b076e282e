/* review.c - the admission decision: AdmissionReview request bytes in, response review bytes out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
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

static const char *const field_names[REVIEW_FIELD_COUNT] = {
	"spec.image.url", "spec.image.checksum",
	"status annotation url", "status annotation checksum",
};
static const char *const field_labels[REVIEW_FIELD_COUNT] = {
	"spec_image_url", "spec_image_checksum",
	"status_annotation_url", "status_annotation_checksum",
};
/* auditAnnotations keys: the API server prefixes them with the webhook's name */
static const char *const field_audit_keys[REVIEW_FIELD_COUNT] = {
	"spec-image-url", "spec-image-checksum",
	"status-annotation-url", "status-annotation-checksum",
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

/* Every member the decision reads; review_handle parses the request for these alone. */
enum read {
	RD_TOP = 0, RD_APIVERSION, RD_KIND, RD_REQUEST, RD_UID, RD_NAMESPACE, RD_NAME, RD_GROUP,
	RD_RESOURCE_KIND, RD_SUBRESOURCE, RD_OPERATION, RD_OBJECT, RD_OBJECT_NAME,
	RD_STATUS_ANNOTATION, RD_OPTOUT, RD_SPEC_URL, RD_SPEC_CHECKSUM, RD_STATUS_URL, RD_OLD,
	RD_OLD_STATUS_URL, RD_COUNT
};

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
	[RD_SPEC_URL] = KEYS("request", "object", "spec", "image", "url"),
	[RD_SPEC_CHECKSUM] = KEYS("request", "object", "spec", "image", "checksum"),
	[RD_STATUS_URL] = KEYS("request", "object", "status", "provisioning", "image", "url"),
	[RD_OLD] = KEYS("request", "oldObject"),
	[RD_OLD_STATUS_URL] = KEYS("request", "oldObject", "status", "provisioning", "image", "url"),
};
/* request.object's own fields start after "request", "object" */
#define OBJECT_KEYS(r)	(reads[r].keys + 2), (reads[r].depth - 2)

/* What one change adds to the response; record() fills it, respond() writes it out. */
struct answer {
	char *warning;		/* owned */
	char audit_key[48];	/* "withheld-spec-image-url", ... */
	char *audit_value;	/* owned */
	char *op_path;		/* owned; NULL: no replace op (warn mode, withheld, or the checksum
				 * that rides in the annotation url's op) */
	char *op_value;		/* owned */
};

/* One review being decided. */
struct decision {
	const struct policy *policy;
	struct codec_field in[RD_COUNT];	/* owned: what the request holds at reads[] */
	int update;			/* an UPDATE */
	struct answer out[REVIEW_FIELD_COUNT];	/* at most one change per field */
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

/* Record a change: its warning and audit annotation, and on REVIEW_REWRITE with a patch_value the
 * replace op at pointer (the annotation's checksum rides in its url's op, so it passes NULL). */
static int
record(struct decision *d, enum review_field field, enum review_action action, const char *from,
    const struct url_literal *lit, const char *to, const char *pointer, const char *patch_value)
{
	struct review_result *r = d->res;
	struct review_change *c;
	struct answer *a;
	char msg[WARNING_HARD_MAX * 2], fa[128], ta[128];
	const char *name = r->name[0] ? r->name : "(new host)";
	char who[128];

	if (d->nout == REVIEW_FIELD_COUNT)
		return -1;	/* a second change to one field: a bug, not a request to answer */
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
		snprintf(msg, sizeof(msg), "bmhguard: %s %s: host %s -> %s", who,
		    field_names[field], fa, ta);
		break;
	case REVIEW_WOULD_REWRITE:
		snprintf(msg, sizeof(msg), "bmhguard (warn mode): %s %s: would rewrite %s -> %s",
		    who, field_names[field], fa, ta);
		break;
	case REVIEW_WITHHOLD:
		snprintf(msg, sizeof(msg), "bmhguard: %s %s kept on %s (rewriting would deprovision); "
		    "run bmhguard repair", who, field_names[field], fa);
		d->withheld = 1;
		break;
	case REVIEW_ACTION_COUNT:
		return -1;	/* not an action */
	}
	if ((a->warning = warning_dup(msg)) == NULL)
		return -1;
	/* the audit log keeps the whole from -> to, however long the URLs */
	if (asprintf(&a->audit_value, "%s -> %s%s", from, to,
	    action == REVIEW_REWRITE ? "" : action == REVIEW_WOULD_REWRITE ?
	    " (warn mode, not applied)" : " (withheld: host is provisioned)") < 0) {
		a->audit_value = NULL;
		return -1;
	}
	snprintf(a->audit_key, sizeof(a->audit_key), "%s%s", action == REVIEW_REWRITE ? "" :
	    action == REVIEW_WOULD_REWRITE ? "would-" : "withheld-", field_audit_keys[field]);
	if (action != REVIEW_REWRITE || patch_value == NULL)
		return 0;
	a->op_path = strdup(pointer);
	a->op_value = strdup(patch_value);
	return a->op_path == NULL || a->op_value == NULL ? -1 : 0;
}

static enum review_action
rewrite_action(const struct decision *d)
{
	return policy_mode(d->policy) == POLICY_WARN ? REVIEW_WOULD_REWRITE : REVIEW_REWRITE;
}

static int must_withhold(struct decision *d, const char *u, const char *r);

/* Rewrite the spec field at path if the rules say so; *final gets the value that will be stored
 * (borrowed from the object, or owned in *owned). The url field decides *withhold from its own
 * rewrite; the checksum, handled after it, follows that decision. */
static int
spec_field(struct decision *d, enum review_field field, enum read r, int *withhold,
    const char **final, char **owned)
{
	const char *cur = get(d, r);
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
	if (field == REVIEW_SPEC_URL)
		*withhold = must_withhold(d, cur, to);
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
 * incoming spec url and its rewrite.
 */
static int
must_withhold(struct decision *d, const char *u, const char *r)
{
	/* S: the stored status, oldObject's; an UPDATE without one (a client or webhook that left
	 * it out) is held to the status its object carries, not let through unchecked */
	const char *s = get(d, is_object(d, RD_OLD) ? RD_OLD_STATUS_URL : RD_STATUS_URL);

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

/* Whether the request is a write of a BareMetalHost itself that we should look at. */
static int
applies(struct decision *d)
{
	const char *operation = get(d, RD_OPERATION), *subresource = get(d, RD_SUBRESOURCE);

	if (!str_eq(get(d, RD_GROUP), "metal3.io") ||
	    !str_eq(get(d, RD_RESOURCE_KIND), "BareMetalHost") ||
	    (subresource != NULL && *subresource != '\0'))
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
	const char *final_url, *final_sum;
	char *owned_url = NULL, *owned_sum = NULL;
	int withhold = 0, rc = -1;

	if (spec_field(d, REVIEW_SPEC_URL, RD_SPEC_URL, &withhold, &final_url, &owned_url) != 0)
		goto out;
	if (spec_field(d, REVIEW_SPEC_CHECKSUM, RD_SPEC_CHECKSUM, &withhold, &final_sum,
	    &owned_sum) != 0)
		goto out;
	if (status_annotation(d, final_url) != 0)
		goto out;
	rc = 0;
out:
	free(owned_url);
	free(owned_sum);
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
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&d, 0, sizeof(d));
	d.policy = p;
	d.res = res;
	if (codec_parse_fields(body, len, reads, RD_COUNT, d.in, err, errlen) != 0 ||
	    envelope(&d, err, errlen) != 0)
		goto out;
	if ((applies(&d) && decide(&d) != 0) || respond(&d) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	answers_free(&d);
	codec_fields_free(d.in, RD_COUNT);
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
