/* repair.c - plan and apply the runbook's BareMetalHost image-URL repair, safely and resumably. */
#include "repair.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#define API_PREFIX "/apis/metal3.io/v1alpha1"
#define MERGE_PATCH "application/merge-patch+json"
#define RV_PLACEHOLDER "<from previous response>"
#define QUEUE_CAP 64

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
	free(h->ns);
	free(h->name);
	free(h->rv);
	free(h->state);
	free(h->spec_url);
	free(h->spec_checksum);
	free(h->status_url);
	free(h->status_checksum);
	free(h->error_type);
	free(h->error_message);
	free(h->pause);
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
	rc |= jdup(jpath(md, "resourceVersion", NULL), &h->rv);
	rc |= jdup(jpath(md, "annotations", REPAIR_PAUSE_ANNOTATION, NULL), &h->pause);
	rc |= jdup(jpath(obj, "status", "provisioning", "state", NULL), &h->state);
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

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
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

/* *out = rewritten url or NULL when the rules leave it alone. */
static int
rewrite(const struct policy *p, const char *url, char **out)
{
	enum policy_verdict v;

	*out = NULL;
	if (empty(url))
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
	case REPAIR_FULL: return "repair";
	case REPAIR_RESUME: return "resume";
	case REPAIR_SKIP: return "skip";
	}
	return "?";
}

void
repair_steps_str(unsigned steps, char *out, size_t outlen)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ REPAIR_STEP_PAUSE, "pause" }, { REPAIR_STEP_STATUS, "status" },
		{ REPAIR_STEP_SPEC, "spec" }, { REPAIR_STEP_READBACK, "read" },
		{ REPAIR_STEP_UNPAUSE, "resume" },
	};
	size_t i, n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(steps & names[i].bit))
			continue;
		n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", n ? "," : "",
		    names[i].name);
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
	memset(plan, 0, sizeof(*plan));
}

/* Our own pause with nothing left to fix: remove it only when spec and status agree, and never
 * in a transient state. We pause provisioned hosts only, so a transient state under our pause
 * was set by someone else, and unpausing could release a deprovisioning or a delete. */
static void
plan_resume(const struct repair_host *h, struct repair_plan *plan)
{
	if (repair_state_transient(h->state)) {
		plan->action = REPAIR_SKIP;
		plan->stuck = 1;
		snprintf(plan->reason, sizeof(plan->reason), "paused by %s in transient state '%s': "
		    "pause left in place, needs a human", REPAIR_PAUSE_VALUE, h->state);
		return;
	}
	if (!empty(h->status_url) && str_eq(h->spec_url, h->status_url)) {
		plan->action = REPAIR_RESUME;
		plan->steps = REPAIR_STEP_UNPAUSE;
		snprintf(plan->reason, sizeof(plan->reason), "found paused by %s with urls fixed",
		    REPAIR_PAUSE_VALUE);
		return;
	}
	plan->action = REPAIR_SKIP;
	plan->stuck = 1;
	snprintf(plan->reason, sizeof(plan->reason), "paused by %s but spec url '%s' differs from "
	    "status url '%s' and neither is a literal-IP url: pause left in place, needs a human",
	    REPAIR_PAUSE_VALUE, h->spec_url ? h->spec_url : "", h->status_url ? h->status_url : "");
}

int
repair_plan(const struct policy *p, const struct repair_host *h, struct repair_plan *plan)
{
	int ours = h->pause != NULL && strcmp(h->pause, REPAIR_PAUSE_VALUE) == 0;
	int foreign = h->pause != NULL && !ours;
	int needs_spec, needs_status;
	const char *spec_after, *status_after;

	memset(plan, 0, sizeof(*plan));
	if (rewrite(p, h->spec_url, &plan->new_spec_url) < 0 ||
	    rewrite(p, h->spec_checksum, &plan->new_spec_checksum) < 0 ||
	    rewrite(p, h->status_url, &plan->new_status_url) < 0 ||
	    rewrite(p, h->status_checksum, &plan->new_status_checksum) < 0) {
		repair_plan_clear(plan);
		return -1;
	}
	needs_spec = plan->new_spec_url != NULL || plan->new_spec_checksum != NULL;
	needs_status = !empty(h->status_url) &&
	    (plan->new_status_url != NULL || plan->new_status_checksum != NULL);
	plan->foreign_pause = foreign;

	if (!needs_spec && !needs_status) {
		if (ours) {
			plan_resume(h, plan);
			return 0;
		}
		plan->action = REPAIR_NONE;
		snprintf(plan->reason, sizeof(plan->reason), "no literal-IP image url");
		return 0;
	}
	if (repair_state_transient(h->state)) {
		plan->action = REPAIR_SKIP;
		snprintf(plan->reason, sizeof(plan->reason), "transient state '%s': try again later",
		    h->state);
		return 0;
	}
	if (empty(h->status_url)) {
		/* Not provisioned with an image: the operator compares nothing yet. */
		plan->action = REPAIR_SPEC_ONLY;
		plan->steps = REPAIR_STEP_SPEC;
		if (foreign)
			snprintf(plan->reason, sizeof(plan->reason), "paused by someone else ('%s'): "
			    "left in place", h->pause);
		return 0;
	}
	if (!state_provisioned(h->state)) {
		plan->action = REPAIR_SKIP;
		plan->stuck = ours;
		snprintf(plan->reason, sizeof(plan->reason), "state '%s' with a provisioned image: only "
		    "provisioned hosts are repaired%s", h->state ? h->state : "", ours ?
		    "; paused by " REPAIR_PAUSE_VALUE ": pause left in place, needs a human" : "");
		return 0;
	}
	spec_after = plan->new_spec_url ? plan->new_spec_url : h->spec_url;
	status_after = plan->new_status_url ? plan->new_status_url : h->status_url;
	if (!str_eq(spec_after, status_after)) {
		plan->action = REPAIR_SKIP;
		plan->stuck = ours;
		snprintf(plan->reason, sizeof(plan->reason), "spec url '%s' and status url '%s' differ "
		    "by more than the host%s", h->spec_url ? h->spec_url : "",
		    h->status_url ? h->status_url : "", ours ? "; paused by " REPAIR_PAUSE_VALUE
		    ": pause left in place, needs a human" : "");
		return 0;
	}
	plan->action = REPAIR_FULL;
	plan->steps = REPAIR_STEP_READBACK;
	if (h->pause == NULL)
		plan->steps |= REPAIR_STEP_PAUSE;
	if (needs_status)
		plan->steps |= REPAIR_STEP_STATUS;
	if (needs_spec)
		plan->steps |= REPAIR_STEP_SPEC;
	if (!foreign)
		plan->steps |= REPAIR_STEP_UNPAUSE;
	plan->clear_error = needs_status && str_eq(h->error_type, REPAIR_REGISTRATION_ERROR);
	if (foreign)
		snprintf(plan->reason, sizeof(plan->reason), "paused by someone else ('%s'): left in "
		    "place", h->pause);
	else if (ours)
		snprintf(plan->reason, sizeof(plan->reason), "resumed an interrupted repair");
	return 0;
}

/* ---------------------------------------------------------------- patch bodies */

void
repair_host_path(const char *ns, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, API_PREFIX "/namespaces/%s/baremetalhosts/%s", ns, name);
}

static struct json_object *
jobj(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(parent, key, o);
	return o;
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
	    RV_PLACEHOLDER));
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
		o = jobj(jobj(o, "provisioning"), "image");
		if (plan->new_status_url)
			json_object_object_add(o, "url", json_object_new_string(plan->new_status_url));
		if (plan->new_status_checksum)
			json_object_object_add(o, "checksum",
			    json_object_new_string(plan->new_status_checksum));
		break;
	case REPAIR_STEP_SPEC:
		o = jobj(jobj(root, "spec"), "image");
		if (plan->new_spec_url)
			json_object_object_add(o, "url", json_object_new_string(plan->new_spec_url));
		if (plan->new_spec_checksum)
			json_object_object_add(o, "checksum",
			    json_object_new_string(plan->new_spec_checksum));
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

/* ---------------------------------------------------------------- the run */

struct work {
	struct repair_host h;
	int need_get;		/* named on the command line: read it first */
};

struct waiting {
	char *ns, *name;
	time_t since;
};

struct runner {
	const struct repair_opts *o;
	struct kube_client *k;
	struct repair_summary *sum;
	pthread_mutex_t mu;	/* queue, summary, report, wait list */
	pthread_cond_t not_empty, not_full;
	struct work *q[QUEUE_CAP];
	size_t qhead, qlen;
	int closed;
	unsigned long seen, done;
	long total;
	struct waiting *wait;
	size_t nwait, capwait;
};

static void
queue_push(struct runner *r, struct work *w)
{
	pthread_mutex_lock(&r->mu);
	while (r->qlen == QUEUE_CAP)
		pthread_cond_wait(&r->not_full, &r->mu);
	r->q[(r->qhead + r->qlen) % QUEUE_CAP] = w;
	r->qlen++;
	r->seen++;
	pthread_cond_signal(&r->not_empty);
	pthread_mutex_unlock(&r->mu);
}

static struct work *
queue_pop(struct runner *r)
{
	struct work *w = NULL;

	pthread_mutex_lock(&r->mu);
	while (r->qlen == 0 && !r->closed)
		pthread_cond_wait(&r->not_empty, &r->mu);
	if (r->qlen > 0) {
		w = r->q[r->qhead];
		r->qhead = (r->qhead + 1) % QUEUE_CAP;
		r->qlen--;
		pthread_cond_signal(&r->not_full);
	}
	pthread_mutex_unlock(&r->mu);
	return w;
}

static void
queue_close(struct runner *r)
{
	pthread_mutex_lock(&r->mu);
	r->closed = 1;
	pthread_cond_broadcast(&r->not_empty);
	pthread_mutex_unlock(&r->mu);
}

/* What happened to one host, for report() to count and print. */
struct outcome {
	const char *result;
	char detail[640];
	int failed;
	unsigned long calls;
	enum repair_action action;
	int foreign;
	struct repair_call *calls_planned;
	size_t ncalls;
};

static void
report(struct runner *r, const struct repair_host *h, const struct outcome *oc)
{
	struct repair_summary *s = r->sum;
	struct repair_result res = {
		.ns = h->ns ? h->ns : "", .name = h->name ? h->name : "",
		.state = h->state ? h->state : "", .error = h->error_type ? h->error_type : "",
		.action = repair_action_str(oc->action), .result = oc->result,
		.detail = oc->detail, .failed = oc->failed, .calls_made = oc->calls,
		.calls = oc->calls_planned, .ncalls = oc->ncalls,
	};

	pthread_mutex_lock(&r->mu);
	s->hosts++;
	s->calls += oc->calls;
	if (oc->failed)
		s->failed++;
	else if (oc->action == REPAIR_NONE)
		s->nothing++;
	else if (oc->action == REPAIR_SKIP)
		s->skipped++;
	else if (!r->o->apply)
		s->planned++;
	else if (oc->action == REPAIR_FULL) {
		s->repaired++;
		s->repair_calls += oc->calls;
	} else if (oc->action == REPAIR_SPEC_ONLY)
		s->spec_patched++;
	else if (oc->action == REPAIR_RESUME)
		s->resumed++;
	if (oc->foreign && !oc->failed && (oc->action == REPAIR_FULL ||
	    oc->action == REPAIR_SPEC_ONLY))
		s->foreign_paused++;
	r->done++;
	if (r->o->report != NULL)
		r->o->report(&res, r->o->report_ud);
	if (r->o->progress != NULL)
		r->o->progress(r->done, r->seen, r->total, r->o->report_ud);
	pthread_mutex_unlock(&r->mu);
}

static void
wait_add(struct runner *r, const struct repair_host *h)
{
	struct waiting *w;

	pthread_mutex_lock(&r->mu);
	if (r->nwait == r->capwait) {
		size_t ncap = r->capwait ? r->capwait * 2 : 64;

		if ((w = realloc(r->wait, ncap * sizeof(*w))) == NULL)
			goto out;
		r->wait = w;
		r->capwait = ncap;
	}
	w = &r->wait[r->nwait];
	w->ns = strdup(h->ns);
	w->name = strdup(h->name);
	w->since = time(NULL);
	if (w->ns == NULL || w->name == NULL) {
		free(w->ns);
		free(w->name);
		goto out;
	}
	r->nwait++;
out:
	pthread_mutex_unlock(&r->mu);
}

/* GET the host into *h (replacing it). */
static enum kube_rc
fetch(struct kube_conn *c, const char *ns, const char *name, struct repair_host *h,
    unsigned long *calls, char *err, size_t errlen)
{
	char path[512], *body = NULL;
	struct repair_host fresh;
	enum kube_rc rc;

	repair_host_path(ns, name, path, sizeof(path));
	rc = kube_request(c, "GET", path, NULL, NULL, &body, NULL, err, errlen);
	(*calls)++;
	if (rc != KUBE_OK)
		return rc;
	if (repair_host_parse(body, &fresh, err, errlen) < 0) {
		free(body);
		return KUBE_API_ERROR;
	}
	free(body);
	repair_host_clear(h);
	*h = fresh;
	return KUBE_OK;
}

static enum kube_rc
patch_step(struct kube_conn *c, const struct repair_plan *plan, unsigned step,
    struct repair_host *h, unsigned long *calls, char *err, size_t errlen)
{
	char path[600], *body, *resp = NULL;
	struct repair_host fresh;
	enum kube_rc rc;

	repair_host_path(h->ns, h->name, path, sizeof(path));
	if (step == REPAIR_STEP_STATUS)
		strncat(path, "/status", sizeof(path) - strlen(path) - 1);
	if ((body = repair_step_body(plan, step, h->rv)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return KUBE_NOMEM;
	}
	rc = kube_request(c, "PATCH", path, body, MERGE_PATCH, &resp, NULL, err, errlen);
	(*calls)++;
	free(body);
	if (rc != KUBE_OK)
		return rc;
	/* The answer is the stored object: its resourceVersion guards the next step. */
	if (repair_host_parse(resp, &fresh, err, errlen) < 0) {
		free(resp);
		return KUBE_API_ERROR;
	}
	free(resp);
	repair_host_clear(h);
	*h = fresh;
	return KUBE_OK;
}

#define READBACK_MISMATCH ((enum kube_rc)100)

/* Run the plan's steps in order. A conflict (or a read-back that does not match) returns
 * KUBE_CONFLICT / READBACK_MISMATCH so the caller re-reads and re-plans from what is stored. */
static enum kube_rc
execute(struct kube_conn *c, const struct repair_plan *plan, struct repair_host *h,
    unsigned long *calls, int *kept_foreign, char *err, size_t errlen)
{
	static const unsigned order[] = {
		REPAIR_STEP_PAUSE, REPAIR_STEP_STATUS, REPAIR_STEP_SPEC, REPAIR_STEP_READBACK,
		REPAIR_STEP_UNPAUSE,
	};
	enum kube_rc rc;
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		unsigned step = order[i];

		if (!(plan->steps & step))
			continue;
		if (step == REPAIR_STEP_READBACK) {
			char *ns = strdup(h->ns), *name = strdup(h->name);

			rc = (ns && name) ? fetch(c, ns, name, h, calls, err, errlen) : KUBE_NOMEM;
			free(ns);
			free(name);
			if (rc != KUBE_OK)
				return rc;
			if (empty(h->status_url) || !str_eq(h->spec_url, h->status_url)) {
				snprintf(err, errlen, "read back: spec url '%s' != status url '%s'",
				    h->spec_url ? h->spec_url : "", h->status_url ? h->status_url : "");
				return READBACK_MISMATCH;
			}
			continue;
		}
		if (step == REPAIR_STEP_UNPAUSE && !str_eq(h->pause, REPAIR_PAUSE_VALUE)) {
			/* Someone put their own pause on while we worked: theirs stays. */
			if (h->pause != NULL)
				*kept_foreign = 1;
			continue;
		}
		if ((rc = patch_step(c, plan, step, h, calls, err, errlen)) != KUBE_OK)
			return rc;
	}
	return KUBE_OK;
}

static int
verify_one(struct kube_conn *c, const char *url, char *err, size_t errlen)
{
	char e[400];
	long st;

	if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return 0;	/* a bare digest is not a url */
	st = kube_head(c, url, e, sizeof(e));
	if (st == 200)
		return 0;
	if (st < 0)
		snprintf(err, errlen, "--verify-url: %s", e);
	else
		snprintf(err, errlen, "--verify-url: HEAD %s answered %ld, not 200", url, st);
	return -1;
}

static int
verify_plan(struct kube_conn *c, const struct repair_plan *plan, char *err, size_t errlen)
{
	if (verify_one(c, plan->new_spec_url, err, errlen) < 0 ||
	    verify_one(c, plan->new_spec_checksum, err, errlen) < 0)
		return -1;
	if (plan->new_status_url != NULL && !str_eq(plan->new_status_url, plan->new_spec_url) &&
	    verify_one(c, plan->new_status_url, err, errlen) < 0)
		return -1;
	if (plan->new_status_checksum != NULL &&
	    !str_eq(plan->new_status_checksum, plan->new_spec_checksum) &&
	    verify_one(c, plan->new_status_checksum, err, errlen) < 0)
		return -1;
	return 0;
}

static void
free_calls(struct repair_call *calls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(calls[i].body);
	free(calls);
}

/* The calls a dry run would make, for the report. */
static struct repair_call *
plan_calls(const struct repair_plan *plan, const struct repair_host *h, size_t *n)
{
	static const unsigned order[] = {
		REPAIR_STEP_PAUSE, REPAIR_STEP_STATUS, REPAIR_STEP_SPEC, REPAIR_STEP_READBACK,
		REPAIR_STEP_UNPAUSE,
	};
	struct repair_call *calls = calloc(5, sizeof(*calls));
	size_t i;
	int first = 1;

	*n = 0;
	if (calls == NULL)
		return NULL;
	for (i = 0; i < 5; i++) {
		struct repair_call *c = &calls[*n];

		if (!(plan->steps & order[i]))
			continue;
		repair_host_path(h->ns, h->name, c->path, sizeof(c->path));
		if (order[i] == REPAIR_STEP_READBACK) {
			c->method = "GET";
		} else {
			c->method = "PATCH";
			if (order[i] == REPAIR_STEP_STATUS)
				strncat(c->path, "/status", sizeof(c->path) - strlen(c->path) - 1);
			c->body = repair_step_body(plan, order[i], first ? h->rv : NULL);
			first = 0;
		}
		(*n)++;
	}
	return calls;
}

static void
process(struct runner *r, struct kube_conn *c, struct work *w)
{
	const struct repair_opts *o = r->o;
	struct repair_host *h = &w->h;
	struct repair_plan plan;
	struct outcome oc;
	char err[600] = "";
	unsigned long calls = 0;
	int round, verified = 0, had_error, kept_foreign = 0;
	enum kube_rc rc;

	memset(&oc, 0, sizeof(oc));
	memset(&plan, 0, sizeof(plan));
	if (w->need_get) {
		char *ns = h->ns, *name = h->name;

		h->ns = h->name = NULL;
		repair_host_clear(h);
		h->ns = ns;
		h->name = name;
		rc = fetch(c, ns, name, h, &calls, err, sizeof(err));
		if (rc != KUBE_OK) {
			if (h->ns == NULL) {	/* fetch failed before replacing: keep the names */
				h->ns = ns;
				h->name = name;
			}
			oc.result = "failed";
			oc.failed = 1;
			oc.calls = calls;
			snprintf(oc.detail, sizeof(oc.detail), "%s", err);
			report(r, h, &oc);
			return;
		}
	}
	had_error = str_eq(h->error_type, REPAIR_REGISTRATION_ERROR);
	for (round = 0;; round++) {
		repair_plan_clear(&plan);
		if (repair_plan(o->policy, h, &plan) < 0) {
			oc.result = "failed";
			oc.failed = 1;
			snprintf(oc.detail, sizeof(oc.detail), "out of memory");
			break;
		}
		oc.action = plan.action;
		oc.foreign = plan.foreign_pause;
		snprintf(oc.detail, sizeof(oc.detail), "%s", plan.reason);
		if (plan.action == REPAIR_NONE) {
			oc.result = round ? "done" : "ok";
			break;
		}
		if (plan.action == REPAIR_SKIP) {
			oc.result = plan.stuck ? "failed" : "skipped";
			oc.failed = plan.stuck;
			break;
		}
		if (o->verify_url && !verified) {
			if (verify_plan(c, &plan, err, sizeof(err)) < 0) {
				oc.result = "failed";
				oc.failed = 1;
				snprintf(oc.detail, sizeof(oc.detail), "not repaired: %s", err);
				break;
			}
			verified = 1;
		}
		if (!o->apply) {
			oc.calls_planned = plan_calls(&plan, h, &oc.ncalls);
			oc.result = "planned";
			break;
		}
		rc = execute(c, &plan, h, &calls, &kept_foreign, err, sizeof(err));
		if (rc == KUBE_OK) {
			oc.result = plan.action == REPAIR_FULL ? "repaired" :
			    plan.action == REPAIR_SPEC_ONLY ? "patched" : "resumed";
			if (kept_foreign) {
				oc.foreign = 1;
				snprintf(oc.detail, sizeof(oc.detail), "paused by someone else while "
				    "repairing ('%s'): left in place", h->pause ? h->pause : "");
			}
			if (had_error && o->wait_ms > 0)
				wait_add(r, h);
			break;
		}
		if ((rc == KUBE_CONFLICT || rc == READBACK_MISMATCH) && round < o->max_conflicts) {
			char *ns = strdup(h->ns), *name = strdup(h->name);

			rc = (ns && name) ? fetch(c, ns, name, h, &calls, err, sizeof(err)) : KUBE_NOMEM;
			free(ns);
			free(name);
			if (rc == KUBE_OK)
				continue;
		}
		oc.result = "failed";
		oc.failed = 1;
		if (rc == KUBE_NOT_FOUND)
			snprintf(oc.detail, sizeof(oc.detail), "host disappeared: %s", err);
		else if (rc == KUBE_CONFLICT || rc == READBACK_MISMATCH)
			snprintf(oc.detail, sizeof(oc.detail), "still conflicting after %d re-reads: %s",
			    o->max_conflicts, err);
		else
			snprintf(oc.detail, sizeof(oc.detail), "%s", err);
		break;
	}
	oc.calls = calls;
	report(r, h, &oc);
	free_calls(oc.calls_planned, oc.ncalls);
	repair_plan_clear(&plan);
}

struct worker_arg {
	struct runner *r;
	struct kube_conn *c;
	pthread_t t;
	int started;
};

static void *
worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct work *w;

	while ((w = queue_pop(wa->r)) != NULL) {
		process(wa->r, wa->c, w);
		repair_host_clear(&w->h);
		free(w);
	}
	return NULL;
}

static int
push_host(struct runner *r, struct json_object *item, char *err, size_t errlen)
{
	struct work *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (repair_host_from_json(item, &w->h, err, errlen) < 0) {
		free(w);
		return -1;
	}
	queue_push(r, w);
	return 0;
}

/* "ns/name": the order the API server lists in (etcd key order). */
static char *
host_key(struct json_object *item)
{
	struct json_object *ns = jpath(item, "metadata", "namespace", NULL);
	struct json_object *name = jpath(item, "metadata", "name", NULL);
	char *k;

	if (asprintf(&k, "%s/%s", ns ? json_object_get_string(ns) : "",
	    name ? json_object_get_string(name) : "") < 0)
		return NULL;
	return k;
}

/* Hand one page's hosts to the workers; with resume_after set (a list restarted after its
 * continue token expired), hosts up to and including that key were handled already. */
static int
push_page(struct runner *r, struct json_object *items, char **last_key, char *err, size_t errlen)
{
	size_t i, n = json_object_array_length(items);
	char e[600];

	for (i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(items, i);
		char *k = host_key(item);

		if (k == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (*last_key != NULL && strcmp(k, *last_key) <= 0) {
			free(k);
			continue;
		}
		if (push_host(r, item, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "listing hosts: %s", e);
			free(k);
			return -1;
		}
		free(*last_key);
		*last_key = k;
	}
	return 0;
}

#define LIST_RESTARTS_MAX 5

/* Page through the selection, handing hosts to the workers as each page arrives. Workers may
 * be slow on a large fleet: when the continue token expires (410), the list starts again and
 * skips what it handed out already. */
static int
list_hosts(struct runner *r, struct kube_conn *c, char *err, size_t errlen)
{
	const struct repair_opts *o = r->o;
	char *cont = NULL, *sel = NULL, *path = NULL, *body = NULL, *last_key = NULL, e[600];
	int rc = -1, first = 1;
	unsigned long calls = 0;

	if (o->selector != NULL && (sel = kube_escape(c, o->selector)) == NULL)
		goto oom;
	for (;;) {
		struct json_object *page, *items, *v;
		enum kube_rc krc;
		char *ec = NULL;
		long status = 0;
		size_t n;

		if (cont != NULL && (ec = kube_escape(c, cont)) == NULL)
			goto oom;
		free(path);
		if (asprintf(&path, "%s%s%s/baremetalhosts?limit=%d%s%s%s%s", API_PREFIX,
		    o->ns ? "/namespaces/" : "", o->ns ? o->ns : "", REPAIR_PAGE_SIZE,
		    sel ? "&labelSelector=" : "", sel ? sel : "", ec ? "&continue=" : "",
		    ec ? ec : "") < 0) {
			path = NULL;
			free(ec);
			goto oom;
		}
		free(ec);
		krc = kube_request(c, "GET", path, NULL, NULL, &body, &status, e, sizeof(e));
		calls++;
		if (krc == KUBE_API_ERROR && status == 410 && cont != NULL &&
		    r->sum->list_restarts < LIST_RESTARTS_MAX) {
			free(cont);
			cont = NULL;
			pthread_mutex_lock(&r->mu);
			r->sum->list_restarts++;
			pthread_mutex_unlock(&r->mu);
			continue;
		}
		if (krc != KUBE_OK) {
			snprintf(err, errlen, "listing hosts: %s", e);
			goto out;
		}
		page = json_tokener_parse(body);
		free(body);
		body = NULL;
		items = jpath(page, "items", NULL);
		if (page == NULL || items == NULL || !json_object_is_type(items, json_type_array)) {
			json_object_put(page);
			snprintf(err, errlen, "listing hosts: answer is not a list");
			goto out;
		}
		n = json_object_array_length(items);
		if (first && (v = jpath(page, "metadata", "remainingItemCount", NULL)) != NULL) {
			pthread_mutex_lock(&r->mu);
			r->total = (long)(n + (size_t)json_object_get_int64(v));
			pthread_mutex_unlock(&r->mu);
		} else if (first && jpath(page, "metadata", "continue", NULL) == NULL) {
			r->total = (long)n;
		}
		first = 0;
		free(cont);
		cont = NULL;
		v = jpath(page, "metadata", "continue", NULL);
		if (v != NULL && json_object_get_string_len(v) > 0 &&
		    (cont = strdup(json_object_get_string(v))) == NULL) {
			json_object_put(page);
			goto oom;
		}
		if (push_page(r, items, &last_key, err, errlen) < 0) {
			json_object_put(page);
			goto out;
		}
		json_object_put(page);
		if (cont == NULL)
			break;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	pthread_mutex_lock(&r->mu);
	r->sum->calls += calls;
	pthread_mutex_unlock(&r->mu);
	free(cont);
	free(sel);
	free(path);
	free(body);
	free(last_key);
	return rc;
}

static int
push_names(struct runner *r, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < r->o->nnames; i++) {
		struct work *w = calloc(1, sizeof(*w));

		if (w == NULL || (w->h.ns = strdup(r->o->ns)) == NULL ||
		    (w->h.name = strdup(r->o->names[i])) == NULL) {
			if (w != NULL)
				repair_host_clear(&w->h);
			free(w);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		w->need_get = 1;
		queue_push(r, w);
	}
	r->total = r->o->nnames;
	return 0;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll repaired hosts until the operator clears their error or the time is up. */
static void
wait_cleared(struct runner *r, struct kube_conn *c)
{
	long deadline = now_ms() + r->o->wait_ms, start = now_ms();
	size_t i, left = r->nwait;
	char err[600], detail[700];

	while (left > 0) {
		for (i = 0; i < r->nwait; i++) {
			struct waiting *w = &r->wait[i];
			struct repair_host h = { 0 };
			unsigned long calls = 0;

			if (w->ns == NULL)
				continue;
			if (fetch(c, w->ns, w->name, &h, &calls, err, sizeof(err)) == KUBE_OK &&
			    empty(h.error_type)) {
				struct repair_result res = {
					.waiting = 1, .ns = w->ns, .name = w->name,
					.state = h.state ? h.state : "", .error = "",
					.action = "wait", .result = "cleared", .detail = detail,
				};

				snprintf(detail, sizeof(detail), "error cleared by the operator after "
				    "%.1fs", (double)(now_ms() - start) / 1000.0);
				pthread_mutex_lock(&r->mu);
				r->sum->wait_cleared++;
				r->sum->calls += calls;
				if (r->o->report)
					r->o->report(&res, r->o->report_ud);
				pthread_mutex_unlock(&r->mu);
				free(w->ns);
				w->ns = NULL;
				left--;
			} else {
				r->sum->calls += calls;
			}
			repair_host_clear(&h);
		}
		if (left == 0 || now_ms() >= deadline)
			break;
		{
			long d = deadline - now_ms() < 1000 ? deadline - now_ms() : 1000;
			struct timespec ts = { d / 1000, (d % 1000) * 1000000L };

			if (d > 0)
				nanosleep(&ts, NULL);
		}
	}
	for (i = 0; i < r->nwait; i++) {
		struct waiting *w = &r->wait[i];

		if (w->ns != NULL) {
			struct repair_result res = {
				.waiting = 1, .ns = w->ns, .name = w->name, .state = "",
				.error = REPAIR_REGISTRATION_ERROR, .action = "wait",
				.result = "not cleared", .detail = detail, .failed = 1,
			};

			snprintf(detail, sizeof(detail), "error still set after waiting %.1fs",
			    (double)r->o->wait_ms / 1000.0);
			r->sum->wait_pending++;
			if (r->o->report)
				r->o->report(&res, r->o->report_ud);
			free(w->ns);
		}
		free(w->name);
	}
	free(r->wait);
	r->wait = NULL;
	r->nwait = 0;
}

int
repair_run(struct kube_client *k, const struct repair_opts *opts, struct repair_summary *sum,
    char *err, size_t errlen)
{
	struct runner r;
	struct worker_arg *wa = NULL;
	struct kube_conn *lc = NULL;
	struct repair_opts o = *opts;
	int i, n, rc = -1;

	memset(sum, 0, sizeof(*sum));
	memset(&r, 0, sizeof(r));
	if (o.concurrency < 1)
		o.concurrency = 4;
	if (o.max_conflicts <= 0)
		o.max_conflicts = 5;
	if (o.nnames > 0 && o.ns == NULL) {
		snprintf(err, errlen, "host names need a namespace");
		return -1;
	}
	r.o = &o;
	r.k = k;
	r.sum = sum;
	r.total = -1;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.not_empty, NULL);
	pthread_cond_init(&r.not_full, NULL);
	n = o.concurrency;
	if ((wa = calloc((size_t)n, sizeof(*wa))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((lc = kube_conn_new(k, err, errlen)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		wa[i].r = &r;
		if ((wa[i].c = kube_conn_new(k, err, errlen)) == NULL)
			break;
		if (pthread_create(&wa[i].t, NULL, worker, &wa[i]) != 0) {
			snprintf(err, errlen, "cannot start worker: %s", strerror(errno));
			break;
		}
		wa[i].started = 1;
	}
	if (i == n)
		rc = o.nnames > 0 ? push_names(&r, err, errlen) : list_hosts(&r, lc, err, errlen);
	queue_close(&r);
	for (i = 0; i < n; i++)
		if (wa[i].started)
			pthread_join(wa[i].t, NULL);
	/* Anything still queued (a worker failed to start) is dropped. */
	while (r.qlen > 0) {
		struct work *w = queue_pop(&r);

		repair_host_clear(&w->h);
		free(w);
	}
	if (r.nwait > 0)
		wait_cleared(&r, lc);
	sum->writes = kube_client_writes(k);
out:
	if (wa != NULL)
		for (i = 0; i < n; i++)
			kube_conn_free(wa[i].c);
	free(wa);
	kube_conn_free(lc);
	pthread_cond_destroy(&r.not_empty);
	pthread_cond_destroy(&r.not_full);
	pthread_mutex_destroy(&r.mu);
	return rc;
}
