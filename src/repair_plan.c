/* repair_plan.c - what the repair job does to one BareMetalHost, decided from the host alone (no I/O). */
#include "repair_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "statusann.h"
#include "str.h"

#define API_PREFIX "/apis/metal3.io/v1alpha1"

const unsigned repair_step_order[REPAIR_NSTEPS] = {
	REPAIR_STEP_PAUSE, REPAIR_STEP_STATUS, REPAIR_STEP_SPEC, REPAIR_STEP_READBACK,
	REPAIR_STEP_UNPAUSE,
};

static const struct repair_outcome_info outcomes[REPAIR_OUT_COUNT] = {
	[REPAIR_OUT_OK] = { "ok", NULL, "Normal", 0 },
	[REPAIR_OUT_PLANNED] = { "planned", "NeedsRepair", "Warning", 0 },
	[REPAIR_OUT_REPAIRED] = { "repaired", "Repaired", "Normal", 0 },
	[REPAIR_OUT_PATCHED] = { "patched", "Patched", "Normal", 0 },
	[REPAIR_OUT_RESUMED] = { "resumed", "Resumed", "Normal", 0 },
	[REPAIR_OUT_SKIPPED] = { "skipped", "Skipped", "Warning", 0 },
	[REPAIR_OUT_HELD] = { "held", "PausedByOther", "Warning", 1 },
	[REPAIR_OUT_FAILED] = { "failed", "RepairFailed", "Warning", 1 },
	[REPAIR_OUT_NEEDS_HUMAN] = { "needs-human", "NeedsHuman", "Warning", 1 },
};

const struct repair_outcome_info *
repair_outcome_info(enum repair_outcome o)
{
	return &outcomes[(unsigned)o < REPAIR_OUT_COUNT ? o : REPAIR_OUT_FAILED];
}

/* ---------------------------------------------------------------- host view */

static struct json_object *
jpath(struct json_object *o, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, o);
	while (o != NULL && (k = va_arg(ap, const char *)) != NULL) {
		if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	va_end(ap);
	return o;
}

/* Strings only; a missing key, null or non-string gives NULL. */
static int
jdup(struct json_object *o, char **out)
{
	*out = NULL;
	if (o == NULL || !json_object_is_type(o, json_type_string))
		return 0;
	*out = strdup(json_object_get_string(o));
	return *out == NULL ? -1 : 0;
}

void
repair_host_clear(struct repair_host *h)
{
	char **fields[] = { &h->ns, &h->name, &h->uid, &h->rv, &h->state, &h->op_status,
	    &h->spec_url,
	    &h->spec_checksum, &h->status_url, &h->status_checksum, &h->error_type,
	    &h->error_message, &h->pause, &h->status_annotation };
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		free(*fields[i]);
	memset(h, 0, sizeof(*h));
}

int
repair_host_from_json(struct json_object *obj, struct repair_host *h, char *err, size_t errlen)
{
	struct json_object *md = jpath(obj, "metadata", NULL), *ec;
	int rc = 0;

	memset(h, 0, sizeof(*h));
	if (md == NULL || !json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "object without metadata");
		return -1;
	}
	rc |= jdup(jpath(md, "namespace", NULL), &h->ns);
	rc |= jdup(jpath(md, "name", NULL), &h->name);
	rc |= jdup(jpath(md, "uid", NULL), &h->uid);
	rc |= jdup(jpath(md, "resourceVersion", NULL), &h->rv);
	rc |= jdup(jpath(md, "annotations", REPAIR_PAUSE_ANNOTATION, NULL), &h->pause);
	rc |= jdup(jpath(md, "annotations", STATUSANN_KEY, NULL), &h->status_annotation);
	rc |= jdup(jpath(obj, "status", "provisioning", "state", NULL), &h->state);
	rc |= jdup(jpath(obj, "status", "operationalStatus", NULL), &h->op_status);
	rc |= jdup(jpath(obj, "spec", "image", "url", NULL), &h->spec_url);
	rc |= jdup(jpath(obj, "spec", "image", "checksum", NULL), &h->spec_checksum);
	rc |= jdup(jpath(obj, "status", "provisioning", "image", "url", NULL), &h->status_url);
	rc |= jdup(jpath(obj, "status", "provisioning", "image", "checksum", NULL),
	    &h->status_checksum);
	rc |= jdup(jpath(obj, "status", "errorType", NULL), &h->error_type);
	rc |= jdup(jpath(obj, "status", "errorMessage", NULL), &h->error_message);
	ec = jpath(obj, "status", "errorCount", NULL);
	h->error_count = ec != NULL ? (long)json_object_get_int64(ec) : 0;
	if (rc != 0) {
		repair_host_clear(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (h->name == NULL || h->rv == NULL) {
		repair_host_clear(h);
		snprintf(err, errlen, "object without metadata.name or metadata.resourceVersion");
		return -1;
	}
	if (h->ns == NULL && (h->ns = strdup("default")) == NULL) {
		repair_host_clear(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
repair_host_parse(const char *json, struct repair_host *h, char *err, size_t errlen)
{
	struct json_object *o = json_tokener_parse(json);
	int rc;

	if (o == NULL) {
		memset(h, 0, sizeof(*h));
		snprintf(err, errlen, "response is not JSON");
		return -1;
	}
	rc = repair_host_from_json(o, h, err, errlen);
	json_object_put(o);
	return rc;
}

/* ---------------------------------------------------------------- plan */

static const char *
str(const char *s)
{
	return s ? s : "";
}

int
repair_state_transient(const char *state)
{
	static const char *const transient[] = {
		"registering", "inspecting", "preparing", "provisioning", "deprovisioning",
		"powering off before delete", "deleting",
	};
	size_t i;

	for (i = 0; state != NULL && i < sizeof(transient) / sizeof(transient[0]); i++)
		if (strcmp(state, transient[i]) == 0)
			return 1;
	return 0;
}

static int
state_provisioned(const char *state)
{
	return str_eq(state, "provisioned") || str_eq(state, "externally provisioned");
}

int
repair_pause_handed(const struct repair_rules *r, const char *value)
{
	size_t i;

	if (value == NULL)
		return 0;
	if (strcmp(value, REPAIR_PAUSE_VALUE) == 0)
		return 1;
	for (i = 0; i < r->nhanded; i++)
		if (strcmp(value, r->handed[i]) == 0)
			return 1;
	return 0;
}

/* Whose pause is on the host, as far as the plan cares. */
enum pause_kind { PAUSE_NONE, PAUSE_OURS, PAUSE_HANDED, PAUSE_FOREIGN };

static enum pause_kind
pause_kind(const struct repair_rules *r, const struct repair_host *h, int adopt)
{
	if (h->pause == NULL)
		return PAUSE_NONE;
	if (strcmp(h->pause, REPAIR_PAUSE_VALUE) == 0)
		return PAUSE_OURS;
	return adopt || repair_pause_handed(r, h->pause) ? PAUSE_HANDED : PAUSE_FOREIGN;
}

int
repair_rewrite(const struct policy *p, const char *url, char **out)
{
	enum policy_verdict v;

	*out = NULL;
	if (str_empty(url))
		return 0;
	if (policy_rewrite(p, url, out, &v) < 0)
		return -1;
	if (v != POLICY_REWRITE) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

const char *
repair_action_str(enum repair_action a)
{
	switch (a) {
	case REPAIR_NONE: return "none";
	case REPAIR_SPEC_ONLY: return "patch-spec";
	case REPAIR_ANNOTATION: return "patch-annotation";
	case REPAIR_FULL: return "repair";
	case REPAIR_RESUME: return "resume";
	case REPAIR_LEAVE: return "leave";
	}
	return "?";
}

void
repair_steps_str(unsigned steps, char *out, size_t outlen)
{
	static const char *const names[REPAIR_NSTEPS] = {
		"pause", "status", "spec", "read", "resume",
	};
	size_t i, n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < REPAIR_NSTEPS; i++) {
		if (!(steps & repair_step_order[i]))
			continue;
		n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", n ? "," : "",
		    names[i]);
		if (n >= outlen)
			return;
	}
}

void
repair_plan_clear(struct repair_plan *plan)
{
	free(plan->new_spec_url);
	free(plan->new_spec_checksum);
	free(plan->new_status_url);
	free(plan->new_status_checksum);
	free(plan->new_annotation);
	memset(plan, 0, sizeof(*plan));
}

static void
leave(struct repair_plan *plan, enum repair_outcome how, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
leave(struct repair_plan *plan, enum repair_outcome how, const char *fmt, ...)
{
	va_list ap;

	plan->action = REPAIR_LEAVE;
	plan->leave = how;
	plan->steps = 0;
	va_start(ap, fmt);
	vsnprintf(plan->reason, sizeof(plan->reason), fmt, ap);
	va_end(ap);
}

#define OUR_PAUSE_KEPT "; our pause (" REPAIR_PAUSE_VALUE ") left in place"

int
repair_host_consistent(const struct repair_rules *r, const struct repair_host *h)
{
	struct statusann_edit e;
	enum statusann_verdict v;

	if (statusann_follow(r->policy, h->status_annotation, h->spec_url, &e) != 0)
		return 0;
	v = e.verdict;
	statusann_edit_clear(&e);
	if (v != STATUSANN_NONE && v != STATUSANN_IN_LINE)
		return 0;
	if (!str_empty(h->status_url))
		return str_eq(h->spec_url, h->status_url);
	/* An empty status is restored from the annotation (after a move): only a matching one. */
	return v == STATUSANN_IN_LINE;
}

int
repair_host_settled(const struct repair_rules *r, const struct repair_host *h)
{
	if (repair_state_transient(h->state))
		return 0;
	return repair_host_consistent(r, h) || (str_empty(h->status_url) &&
	    h->status_annotation == NULL);
}

/* Our own pause with nothing left to fix: remove it only when the host is settled, and never in
 * a transient state. We pause hosts in no transient state only, so one under our pause was set
 * by someone else, and unpausing could release a deprovisioning or a delete. */
static void
plan_resume(const struct repair_rules *r, const struct repair_host *h, struct repair_plan *plan)
{
	if (repair_state_transient(h->state)) {
		leave(plan, REPAIR_OUT_NEEDS_HUMAN, "paused by %s in transient state '%s'"
		    OUR_PAUSE_KEPT ": unpausing could release it", REPAIR_PAUSE_VALUE, h->state);
		return;
	}
	if (repair_host_settled(r, h)) {
		plan->action = REPAIR_RESUME;
		plan->steps = REPAIR_STEP_UNPAUSE;
		snprintf(plan->reason, sizeof(plan->reason), "found paused by %s with urls fixed",
		    REPAIR_PAUSE_VALUE);
		return;
	}
	leave(plan, REPAIR_OUT_NEEDS_HUMAN, "spec url '%s' differs from status url '%s' (or from "
	    "the url its status annotation would restore) and neither is a literal-IP url"
	    OUR_PAUSE_KEPT, str(h->spec_url), str(h->status_url));
}

/* The urls the plan changes, and the annotation that must follow the spec url. */
static int
plan_rewrites(const struct policy *p, const struct repair_host *h, struct repair_plan *plan,
    struct statusann_edit *ae)
{
	if (repair_rewrite(p, h->spec_url, &plan->new_spec_url) < 0 ||
	    repair_rewrite(p, h->spec_checksum, &plan->new_spec_checksum) < 0 ||
	    repair_rewrite(p, h->status_url, &plan->new_status_url) < 0 ||
	    repair_rewrite(p, h->status_checksum, &plan->new_status_checksum) < 0)
		return -1;
	return statusann_follow(p, h->status_annotation, plan->new_spec_url ? plan->new_spec_url :
	    h->spec_url, ae);
}

/* The host needs a change and nobody else holds it: the steps, or why it is left alone. */
static void
plan_change(const struct repair_host *h, enum pause_kind kind, int needs_spec, int needs_status,
    const struct statusann_edit *ae, struct repair_plan *plan)
{
	const char *spec_after = plan->new_spec_url ? plan->new_spec_url : h->spec_url;
	const char *status_after = plan->new_status_url ? plan->new_status_url : h->status_url;
	const char *kept = kind == PAUSE_OURS ? OUR_PAUSE_KEPT : "";
	enum repair_outcome stuck = kind == PAUSE_OURS ? REPAIR_OUT_NEEDS_HUMAN : REPAIR_OUT_SKIPPED;

	if (repair_state_transient(h->state)) {
		leave(plan, stuck, "transient state '%s': %s", h->state, kind == PAUSE_OURS ?
		    "our pause (" REPAIR_PAUSE_VALUE ") left in place: unpausing could release it" :
		    "try again later");
		return;
	}
	if ((needs_spec || needs_status) && (ae->verdict == STATUSANN_OTHER ||
	    ae->verdict == STATUSANN_INVALID)) {
		/* After a move the operator restores status from the annotation and compares it with
		 * spec: changing spec now would set the host up to be wiped there. */
		leave(plan, REPAIR_OUT_NEEDS_HUMAN, "annotation %s %s%s%s: a status restored from it "
		    "after a move would not match the new spec url%s", STATUSANN_KEY,
		    ae->verdict == STATUSANN_INVALID ? "is not JSON" : "holds url '",
		    ae->verdict == STATUSANN_INVALID ? "" : ae->other_url,
		    ae->verdict == STATUSANN_INVALID ? "" : "'", kept);
		return;
	}
	if (str_empty(h->status_url)) {
		/* Not provisioned with an image: the operator compares nothing yet. */
		plan->action = needs_spec ? REPAIR_SPEC_ONLY : REPAIR_ANNOTATION;
		plan->steps = REPAIR_STEP_SPEC;
		return;
	}
	if (!state_provisioned(h->state)) {
		leave(plan, stuck, "state '%s' with a provisioned image: only provisioned hosts are "
		    "repaired%s", str(h->state), kept);
		return;
	}
	if (!str_eq(spec_after, status_after)) {
		leave(plan, stuck, "spec url '%s' and status url '%s' differ by more than the host "
		    "(the image is being changed)%s", str(h->spec_url), str(h->status_url), kept);
		return;
	}
	if (!needs_spec && !needs_status && kind != PAUSE_OURS) {
		/* spec == status already: the annotation alone changes nothing the operator compares */
		plan->action = REPAIR_ANNOTATION;
		plan->steps = REPAIR_STEP_SPEC;
		return;
	}
	plan->action = REPAIR_FULL;
	plan->steps = REPAIR_STEP_READBACK;
	if (kind == PAUSE_NONE)
		plan->steps |= REPAIR_STEP_PAUSE;
	if (needs_status)
		plan->steps |= REPAIR_STEP_STATUS;
	if (needs_spec || plan->new_annotation != NULL)
		plan->steps |= REPAIR_STEP_SPEC;
	if (kind == PAUSE_NONE || kind == PAUSE_OURS)
		plan->steps |= REPAIR_STEP_UNPAUSE;
	plan->clear_error = needs_status && str_eq(h->error_type, REPAIR_REGISTRATION_ERROR);
	if (kind == PAUSE_OURS)
		snprintf(plan->reason, sizeof(plan->reason), "interrupted earlier: found paused by %s "
		    "with work left", REPAIR_PAUSE_VALUE);
}

int
repair_plan(const struct repair_rules *r, const struct repair_host *h, int adopt,
    struct repair_plan *plan)
{
	enum pause_kind kind = pause_kind(r, h, adopt);
	struct statusann_edit ae;
	int needs_spec, needs_status;

	memset(plan, 0, sizeof(*plan));
	if (plan_rewrites(r->policy, h, plan, &ae) < 0) {
		repair_plan_clear(plan);
		return -1;
	}
	needs_spec = plan->new_spec_url != NULL || plan->new_spec_checksum != NULL;
	needs_status = !str_empty(h->status_url) &&
	    (plan->new_status_url != NULL || plan->new_status_checksum != NULL);
	if (ae.verdict == STATUSANN_REWRITE) {
		plan->new_annotation = ae.text;
		ae.text = NULL;
	}
	if (!needs_spec && !needs_status && plan->new_annotation == NULL) {
		if (kind == PAUSE_OURS)
			plan_resume(r, h, plan);
		else
			snprintf(plan->reason, sizeof(plan->reason), "no literal-IP image url");
	} else if (kind == PAUSE_FOREIGN) {
		/* Their pause means nobody else changes the host: a move, CAPM3, maintenance, a
		 * person half way through the runbook. Write nothing; say who holds it. */
		leave(plan, REPAIR_OUT_HELD, "paused by '%s', not by %s: not written; its owner can "
		    "hand it over with --repair-paused-by '%s'", h->pause, REPAIR_PAUSE_VALUE,
		    h->pause);
	} else {
		plan_change(h, kind, needs_spec, needs_status, &ae, plan);
		if (kind == PAUSE_HANDED && plan->action != REPAIR_LEAVE) {
			plan->under_other_pause = 1;
			snprintf(plan->reason, sizeof(plan->reason), "%s '%s': left in place",
			    adopt ? "finished under the pause put on mid-repair" :
			    "worked under the pause handed over", h->pause);
		}
	}
	statusann_edit_clear(&ae);
	return 0;
}

/* ---------------------------------------------------------------- patch bodies */

void
repair_host_path(const char *ns, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, API_PREFIX "/namespaces/%s/baremetalhosts/%s", ns, name);
}

void
repair_step_path(const char *ns, const char *name, unsigned step, char *out, size_t outlen)
{
	snprintf(out, outlen, API_PREFIX "/namespaces/%s/baremetalhosts/%s%s", ns, name,
	    step == REPAIR_STEP_STATUS ? "/status" : "");
}

static struct json_object *
jobj(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(parent, key, o);
	return o;
}

static void
add_image(struct json_object *parent, const char *url, const char *checksum)
{
	struct json_object *o;

	if (url == NULL && checksum == NULL)
		return;
	o = jobj(parent, "image");
	if (url)
		json_object_object_add(o, "url", json_object_new_string(url));
	if (checksum)
		json_object_object_add(o, "checksum", json_object_new_string(checksum));
}

char *
repair_step_body(const struct repair_plan *plan, unsigned step, const char *rv)
{
	struct json_object *root = json_object_new_object(), *md, *o;
	char *s = NULL;

	if (root == NULL)
		return NULL;
	md = jobj(root, "metadata");
	json_object_object_add(md, "resourceVersion", json_object_new_string(rv ? rv :
	    REPAIR_RV_PLACEHOLDER));
	switch (step) {
	case REPAIR_STEP_PAUSE:
		json_object_object_add(jobj(md, "annotations"), REPAIR_PAUSE_ANNOTATION,
		    json_object_new_string(REPAIR_PAUSE_VALUE));
		break;
	case REPAIR_STEP_UNPAUSE:
		json_object_object_add(jobj(md, "annotations"), REPAIR_PAUSE_ANNOTATION, NULL);
		break;
	case REPAIR_STEP_STATUS:
		o = jobj(root, "status");
		if (plan->clear_error) {
			json_object_object_add(o, "errorCount", json_object_new_int(0));
			json_object_object_add(o, "errorMessage", json_object_new_string(""));
		}
		add_image(jobj(o, "provisioning"), plan->new_status_url, plan->new_status_checksum);
		break;
	case REPAIR_STEP_SPEC:
		/* One patch: the annotation never lags behind the spec it must match. */
		if (plan->new_annotation != NULL)
			json_object_object_add(jobj(md, "annotations"), STATUSANN_KEY,
			    json_object_new_string(plan->new_annotation));
		if (plan->new_spec_url != NULL || plan->new_spec_checksum != NULL)
			add_image(jobj(root, "spec"), plan->new_spec_url, plan->new_spec_checksum);
		break;
	default:
		json_object_put(root);
		return NULL;
	}
	s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return s;
}
