/* repair_obj.c - what the repair job does to one Metal3 object besides a host (machine template, machine, data image, firmware), decided from it and its host alone (no I/O). */
#include "repair_obj.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "str.h"

#define OUR_PAUSE_KEPT "; our pause (" REPAIR_PAUSE_VALUE ") left in place"

/* ---------------------------------------------------------------- reading */

static struct json_object *
at(struct json_object *o, const char *const *keys, size_t depth)
{
	size_t i;

	for (i = 0; o != NULL && i < depth; i++)
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, keys[i], &o))
			return NULL;
	return o;
}

static const char *
str_at(struct json_object *o, const char *const *keys, size_t depth)
{
	o = at(o, keys, depth);
	return o != NULL && json_object_is_type(o, json_type_string) ?
	    json_object_get_string(o) : NULL;
}

static const char *
member(struct json_object *o, const char *key)
{
	return str_at(o, &key, 1);
}

void
repair_obj_meta(struct json_object *obj, struct repair_obj_meta *m)
{
	static const char *const md[] = { "metadata" };
	struct json_object *meta = at(obj, md, 1);

	m->ns = member(meta, "namespace");
	if (m->ns == NULL)
		m->ns = "default";
	m->name = member(meta, "name");
	m->rv = member(meta, "resourceVersion");
	m->uid = member(meta, "uid");
}

/* The list's entries as an array, or NULL. */
static struct json_object *
list_at(struct json_object *obj, const char *const *keys, size_t depth)
{
	struct json_object *a = at(obj, keys, depth);

	return a != NULL && json_object_is_type(a, json_type_array) ? a : NULL;
}

/* A key listed twice in array a (borrowed), or NULL. */
static const char *
duplicate(struct json_object *a, const char *key)
{
	size_t i, j, n = a ? json_object_array_length(a) : 0;

	for (i = 0; i < n; i++) {
		const char *v = member(json_object_array_get_idx(a, i), key);

		for (j = i + 1; v != NULL && j < n; j++)
			if (str_eq(v, member(json_object_array_get_idx(a, j), key)))
				return v;
	}
	return NULL;
}

/* The entry of array a whose key member is value; NULL when none. */
static struct json_object *
entry_for(struct json_object *a, const char *key, const char *value)
{
	size_t i, n = a ? json_object_array_length(a) : 0;

	for (i = 0; value != NULL && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (str_eq(member(e, key), value))
			return e;
	}
	return NULL;
}

/* ---------------------------------------------------------------- writing */

/* Set keys[0..depth) under root to v (owned), creating the objects on the way. */
static int
set_at(struct json_object *root, const char *const *keys, size_t depth, struct json_object *v)
{
	size_t i;

	for (i = 0; i + 1 < depth; i++) {
		struct json_object *next;

		if (!json_object_object_get_ex(root, keys[i], &next)) {
			if ((next = json_object_new_object()) == NULL ||
			    json_object_object_add(root, keys[i], next) != 0) {
				json_object_put(next);
				json_object_put(v);
				return -1;
			}
		}
		root = next;
	}
	return v != NULL && json_object_object_add(root, keys[depth - 1], v) == 0 ? 0 : -1;
}

/* The rewrite of url, or url itself (borrowed either way, *owned keeps the new one). */
static const char *
after(const struct policy *p, const char *url, char **owned, int *rc)
{
	*owned = NULL;
	if (repair_rewrite(p, url, owned) < 0)
		*rc = -1;
	return *owned != NULL ? *owned : url;
}

/* ---------------------------------------------------------------- what changes */

struct changes {
	struct json_object *spec, *status;	/* roots of the patches, NULL: unchanged */
	const char *dup;	/* a component listed twice in spec or status (borrowed) */
	char *in_use;		/* a literal url the object's status says is in use now */
	const char *first;	/* a field or component changed, for the report */
	char firstbuf[128];
};

static void
changes_clear(struct changes *c)
{
	json_object_put(c->spec);
	json_object_put(c->status);
	free(c->in_use);
	memset(c, 0, sizeof(*c));
}

static int
root(struct json_object **r)
{
	if (*r == NULL)
		*r = json_object_new_object();
	return *r == NULL ? -1 : 0;
}

/* The kind's single fields (image url and checksum, a DataImage's url). */
static int
field_changes(const struct policy *p, const struct kinds_row *k, struct json_object *obj,
    struct changes *c)
{
	size_t i, depth;

	for (i = 0; i < k->nfields; i++) {
		const char *const *keys = kinds_obj_path(k->fields[i].read, &depth);
		char *nu = NULL;

		if (repair_rewrite(p, str_at(obj, keys, depth), &nu) < 0)
			return -1;
		if (nu == NULL)
			continue;
		if (root(&c->spec) < 0 || set_at(c->spec, keys, depth,
		    json_object_new_string(nu)) < 0) {
			free(nu);
			return -1;
		}
		free(nu);
		if (c->first == NULL)
			c->first = review_field_str(k->fields[i].field);
	}
	if (k->in_use != KR_NONE) {
		const char *const *keys = kinds_obj_path(k->in_use, &depth);
		const char *inuse = str_at(obj, keys, depth);
		char *nu = NULL;

		if (repair_rewrite(p, inuse, &nu) < 0)
			return -1;
		if (nu != NULL && (c->in_use = strdup(inuse)) == NULL) {
			free(nu);
			return -1;
		}
		free(nu);
	}
	return 0;
}

/*
 * A list of {key, url} (HostFirmwareComponents' updates). Every spec url is rewritten. A status
 * entry follows its component's spec entry when both name the same image once rewritten: a
 * component applied from the literal (both change), or half repaired (one changes); a component
 * whose spec names another image is an update still pending and its status stays as it is.
 */
static int
list_changes(const struct policy *p, const struct kinds_list *l, struct json_object *obj,
    struct changes *c)
{
	struct json_object *spec = list_at(obj, l->spec, l->spec_depth);
	struct json_object *status = list_at(obj, l->status, l->status_depth);
	struct json_object *nspec = NULL, *nstatus = NULL;
	size_t i, n;
	int rc = 0, spec_changed = 0, status_changed = 0;

	if (spec == NULL)
		return 0;
	/* The operator keeps the last status entry of a component; which of two spec entries it
	 * flashes is its loop's business: a list naming a component twice is left to a person. */
	if ((c->dup = duplicate(spec, l->key)) == NULL)
		c->dup = duplicate(status, l->key);
	if (json_object_deep_copy(spec, &nspec, NULL) != 0 || (status != NULL &&
	    json_object_deep_copy(status, &nstatus, NULL) != 0)) {
		rc = -1;
		goto out;
	}
	n = json_object_array_length(nspec);
	for (i = 0; i < n && rc == 0; i++) {
		struct json_object *e = json_object_array_get_idx(nspec, i);
		const char *comp = member(e, l->key), *s = member(e, l->url), *s2, *t, *t2;
		struct json_object *st = entry_for(nstatus, l->key, comp);
		char *os = NULL, *ot = NULL;

		if (s == NULL)
			continue;
		s2 = after(p, s, &os, &rc);
		t = st != NULL ? member(st, l->url) : NULL;
		t2 = t != NULL ? after(p, t, &ot, &rc) : NULL;
		if (rc == 0 && t2 != NULL && t != NULL && str_eq(s2, t2) && !str_eq(t, t2)) {
			if (json_object_object_add(st, l->url, json_object_new_string(t2)) != 0)
				rc = -1;
			status_changed = 1;
		}
		if (rc == 0 && os != NULL) {
			if (json_object_object_add(e, l->url, json_object_new_string(os)) != 0)
				rc = -1;
			spec_changed = 1;
		}
		if ((os != NULL || (ot != NULL && str_eq(s2, t2))) && c->first == NULL && comp) {
			snprintf(c->firstbuf, sizeof(c->firstbuf), "%s[%s]", l->spec[l->spec_depth - 1],
			    comp);
			c->first = c->firstbuf;
		}
		free(os);
		free(ot);
	}
	if (rc == 0 && spec_changed) {
		if (root(&c->spec) < 0 || set_at(c->spec, l->spec, l->spec_depth, nspec) < 0)
			rc = -1;
		nspec = NULL;
	}
	if (rc == 0 && status_changed) {
		if (root(&c->status) < 0 || set_at(c->status, l->status, l->status_depth, nstatus) < 0)
			rc = -1;
		nstatus = NULL;
	}
out:
	json_object_put(nspec);
	json_object_put(nstatus);
	return rc;
}

int
repair_obj_half_done(const struct repair_rules *r, const struct kinds_row *k,
    struct json_object *obj)
{
	const struct kinds_list *l = k->list;
	struct json_object *spec, *status;
	size_t i, n;
	int half = 0, rc = 0;

	if (l == NULL || (spec = list_at(obj, l->spec, l->spec_depth)) == NULL ||
	    (status = list_at(obj, l->status, l->status_depth)) == NULL)
		return 0;
	n = json_object_array_length(spec);
	for (i = 0; i < n && !half; i++) {
		struct json_object *e = json_object_array_get_idx(spec, i);
		const char *s = member(e, l->url);
		const char *t = member(entry_for(status, l->key, member(e, l->key)), l->url);
		const char *s2, *t2;
		char *os, *ot;

		if (s == NULL || t == NULL || str_eq(s, t))
			continue;
		s2 = after(r->policy, s, &os, &rc);
		t2 = after(r->policy, t, &ot, &rc);
		half = str_eq(s2, t) || str_eq(t2, s);
		free(os);
		free(ot);
	}
	return half || rc < 0;	/* out of memory: assume the worst, the pause stays */
}

/* ---------------------------------------------------------------- plan */

static void
leave(struct repair_obj_plan *plan, enum repair_outcome how, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
leave(struct repair_obj_plan *plan, enum repair_outcome how, const char *fmt, ...)
{
	va_list ap;

	plan->action = REPAIR_LEAVE;
	plan->leave = how;
	plan->steps = 0;
	va_start(ap, fmt);
	vsnprintf(plan->reason, sizeof(plan->reason), fmt, ap);
	va_end(ap);
}

/* The host's pause decides (DataImage, HostFirmwareComponents). Two writes (status, then spec)
 * run under a pause, so the operator never reconciles the host between them; one write needs
 * none (it is what a person editing the object would do). Only a list kind (firmware) removes
 * our pause: its own half-done state is what the pause guards. */
static void
plan_under_host(const struct repair_rules *r, enum repair_obj_host where,
    const struct repair_host *h, int two, int list, int half, int adopt,
    struct repair_obj_plan *plan)
{
	int ours = h != NULL && str_eq(h->pause, REPAIR_PAUSE_VALUE);
	int busy = h != NULL && (repair_state_transient(h->state) ||
	    str_eq(h->op_status, "servicing"));

	plan->action = two ? REPAIR_FULL : REPAIR_SPEC_ONLY;
	plan->steps = (two ? REPAIR_STEP_STATUS | REPAIR_STEP_READBACK : 0) |
	    (plan->spec ? REPAIR_STEP_SPEC : 0);
	if (where == REPAIR_OBJ_HOST_ABSENT) {
		snprintf(plan->reason, sizeof(plan->reason), "no host of this name: nothing acts on "
		    "it");
		return;
	}
	if (h->pause != NULL && !repair_pause_handed(r, h->pause) && !adopt) {
		if (half)	/* a repair cut short, then paused by someone: their pause holds it */
			leave(plan, REPAIR_OUT_NEEDS_HUMAN, "half repaired (a component's spec and "
			    "status urls differ) and its host is paused by '%s': keep that pause on "
			    "until it is finished; hand it over with --repair-paused-by '%s'", h->pause,
			    h->pause);
		else
			leave(plan, REPAIR_OUT_HELD, "its host is paused by '%s', not by %s: not "
			    "written; its owner can hand it over with --repair-paused-by '%s'", h->pause,
			    REPAIR_PAUSE_VALUE, h->pause);
		return;
	}
	if (busy) {
		leave(plan, ours ? REPAIR_OUT_NEEDS_HUMAN : REPAIR_OUT_SKIPPED, "its host is %s '%s': "
		    "%s", str_eq(h->op_status, "servicing") ? "in operational status" : "in transient "
		    "state", str_eq(h->op_status, "servicing") ? h->op_status : h->state, ours ?
		    "our pause (" REPAIR_PAUSE_VALUE ") left in place: unpausing could release it" :
		    "try again later");
		return;
	}
	if (h->pause != NULL && !ours) {
		plan->under_other_pause = 1;
		snprintf(plan->reason, sizeof(plan->reason), "%s '%s': left in place",
		    repair_pause_handed(r, h->pause) ? "worked under its host's pause handed over" :
		    "finished under its host's pause put on mid-repair", h->pause);
		return;
	}
	if (!two && !(ours && list && repair_host_settled(r, h)))
		return;	/* our pause, if on, is the host's repair's to remove */
	if (!two) {
		/* the second write of a firmware repair cut short: then our pause comes off */
		plan->steps |= REPAIR_STEP_READBACK | REPAIR_STEP_UNPAUSE;
		return;
	}
	if (h->pause == NULL)
		plan->steps |= REPAIR_STEP_PAUSE | REPAIR_STEP_UNPAUSE;
	else if (repair_host_settled(r, h))
		plan->steps |= REPAIR_STEP_UNPAUSE;
	snprintf(plan->reason, sizeof(plan->reason), "status, then spec, with the host paused");
}

static int
plan_obj(const struct repair_rules *r, const struct kinds_row *k, struct json_object *obj,
    enum repair_obj_host where, const struct repair_host *host, int adopt,
    struct repair_obj_plan *plan)
{
	struct changes c;
	const char *pause = NULL;

	memset(plan, 0, sizeof(*plan));
	memset(&c, 0, sizeof(c));
	if (field_changes(r->policy, k, obj, &c) < 0 ||
	    (k->list != NULL && list_changes(r->policy, k->list, obj, &c) < 0)) {
		changes_clear(&c);
		return -1;
	}
	if (c.spec == NULL && c.status == NULL) {
		snprintf(plan->reason, sizeof(plan->reason), "no literal-IP url");
		goto out;
	}
	if (c.dup != NULL) {
		leave(plan, REPAIR_OUT_NEEDS_HUMAN, "component '%s' is listed twice in %s or %s: "
		    "which url the operator compares is not clear; make it one entry", c.dup,
		    "spec.updates", "status.updates");
		goto out;
	}
	if (c.in_use != NULL) {
		char where_used[128];
		size_t depth, i, n = 0;
		const char *const *keys = kinds_obj_path(k->in_use, &depth);

		where_used[0] = '\0';
		for (i = 0; i < depth && n < sizeof(where_used); i++)
			n += (size_t)snprintf(where_used + n, sizeof(where_used) - n, "%s%s",
			    i ? "." : "", keys[i]);
		leave(plan, REPAIR_OUT_NEEDS_HUMAN, "literal url '%s' is in use (%s): %s; %s, then run "
		    "repair again", c.in_use, where_used, k->withheld_why, k->withheld_hint);
		goto out;
	}
	plan->spec = c.spec;
	plan->status = c.status;
	c.spec = c.status = NULL;
	if (k->pause == NULL && where == REPAIR_OBJ_HOST_UNREAD) {
		plan->needs_host = 1;
		goto out;
	}
	if (k->pause == NULL) {
		plan_under_host(r, where, host, plan->status != NULL, k->list != NULL,
		    repair_obj_half_done(r, k, obj), adopt, plan);
		goto out;
	}
	{
		const char *const path[] = { "metadata", "annotations", k->pause };

		if (at(obj, path, 3) != NULL)	/* any value pauses, even a non-string */
			pause = str_at(obj, path, 3) ? str_at(obj, path, 3) : "";
	}
	/* --repair-paused-by hands over host pauses (its values are baremetalhost.metal3.io/paused
	 * values), never this one */
	if (pause != NULL) {
		leave(plan, REPAIR_OUT_HELD, "paused (%s: '%s'): not written until its owner removes "
		    "it", k->pause, pause);
		goto out;
	}
	/* Nothing compares these urls with what is in use: one merge patch. */
	plan->action = REPAIR_SPEC_ONLY;
	plan->steps = REPAIR_STEP_SPEC;
out:
	if (plan->action == REPAIR_LEAVE || plan->action == REPAIR_NONE) {
		json_object_put(plan->spec);
		json_object_put(plan->status);
		plan->spec = plan->status = NULL;
	} else if (plan->reason[0] == '\0' && c.first != NULL) {
		snprintf(plan->reason, sizeof(plan->reason), "%s", c.first);
	}
	changes_clear(&c);
	return 0;
}

int
repair_obj_plan(const struct repair_rules *r, const struct kinds_row *k,
    struct json_object *obj, enum repair_obj_host where, const struct repair_host *host,
    struct repair_obj_plan *plan)
{
	return plan_obj(r, k, obj, where, host, 0, plan);
}

int
repair_obj_plan_adopt(const struct repair_rules *r, const struct kinds_row *k,
    struct json_object *obj, enum repair_obj_host where, const struct repair_host *host,
    struct repair_obj_plan *plan)
{
	return plan_obj(r, k, obj, where, host, 1, plan);
}

void
repair_obj_plan_clear(struct repair_obj_plan *plan)
{
	json_object_put(plan->spec);
	json_object_put(plan->status);
	memset(plan, 0, sizeof(*plan));
}

char *
repair_obj_step_body(const struct repair_obj_plan *plan, unsigned step, const char *rv)
{
	struct json_object *part = step == REPAIR_STEP_SPEC ? plan->spec :
	    step == REPAIR_STEP_STATUS ? plan->status : NULL;
	struct json_object *body, *md;
	char *s = NULL;

	if (part == NULL || (body = json_object_new_object()) == NULL)
		return NULL;
	md = json_object_new_object();
	json_object_object_add(body, "metadata", md);
	json_object_object_add(md, "resourceVersion", json_object_new_string(rv ? rv :
	    REPAIR_RV_PLACEHOLDER));
	json_object_object_foreach(part, key, v)
		json_object_object_add(body, key, json_object_get(v));
	s = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(body);
	return s;
}

void
repair_obj_path(const struct kinds_row *k, const char *version, const char *ns,
    const char *name, int status, char *out, size_t outlen)
{
	snprintf(out, outlen, "/apis/%s/%s/namespaces/%s/%s/%s%s", k->group, version, ns, k->plural,
	    name, status ? "/status" : "");
}
