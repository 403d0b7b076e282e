/* repair_obj_fuzz.c - libFuzzer target: a Metal3 object besides a host (and its host), planned for repair. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "kinds.h"
#include "policy.h"
#include "repair_obj.h"
#include "repair_plan.h"

/*
 * Input: the first byte picks the kind (bits 0-1: the rows other than BareMetalHost), where the
 * host stands (bits 2-3: 0 unread, 1 absent, 2-3 read) and whether the pause "true" is handed
 * over (bit 4); the rest is the object's JSON, then after the first NUL or newline the host's
 * (a host that does not parse is taken as absent).
 *
 * Beyond "no crash, no sanitizer report, no leak": a plan that does nothing carries no patch; a
 * kind held by its host's pause is never written before the host is read, nor under a pause not
 * handed over, nor while the host is in a transient state; the host is paused only when it was
 * not, and unpaused only after two writes, when it was unpaused by us or paused by us and
 * consistent, and only with nothing left half done; a kind with its own pause is written by one
 * spec patch, never under its pause unless handed over; every body is JSON carrying the
 * resourceVersion; applied, the patches change urls only into their rewrites, a status entry
 * only to follow its component's spec, make nothing flash or re-attach that did not, and leave
 * nothing to do on a second plan.
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy *pol;
static const struct kinds_row *objrows[4];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t n, i, j = 0;
	const struct kinds_row *rows = kinds_rows(&n);

	(void)argc;
	(void)argv;
	for (i = 0; i < n && j < 4; i++)
		if (strcmp(rows[i].kind, "BareMetalHost") != 0)
			objrows[j++] = &rows[i];
	if (j != 4)
		abort();
	pol = policy_new();
	return pol == NULL;
}

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (line %d)\n", #c, \
	__LINE__); abort(); } } while (0)

static int
eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

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
sat(struct json_object *o, const char *const *keys, size_t depth)
{
	o = at(o, keys, depth);
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static const char *
mem(struct json_object *o, const char *key)
{
	return sat(o, &key, 1);
}

/* RFC 7386 merge patch of target (owned, returned) by patch (borrowed). */
static struct json_object *
merge(struct json_object *target, struct json_object *patch)
{
	if (!json_object_is_type(patch, json_type_object)) {
		struct json_object *c = NULL;

		json_object_put(target);
		if (json_object_deep_copy(patch, &c, NULL) != 0)
			abort();
		return c;
	}
	if (!json_object_is_type(target, json_type_object)) {
		json_object_put(target);
		target = json_object_new_object();
	}
	json_object_object_foreach(patch, key, v) {
		if (v == NULL) {
			json_object_object_del(target, key);
		} else {
			struct json_object *t = NULL;

			if (json_object_object_get_ex(target, key, &t))
				json_object_get(t);
			json_object_object_add(target, key, merge(t, v));
		}
	}
	return target;
}

/* Whether after is before, or before's rewrite. */
static int
same_or_rewrite(const char *before, const char *after)
{
	char *nu = NULL;
	int ok;

	if (eq(before, after))
		return 1;
	if (before == NULL || after == NULL || repair_rewrite(pol, before, &nu) < 0)
		abort();
	ok = eq(nu, after);
	free(nu);
	return ok;
}

/* The first entry of list a whose key is value (as the plan and the operator look it up). */
static struct json_object *
entry(struct json_object *a, const char *key, const char *value)
{
	size_t i, n = json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

	for (i = 0; value != NULL && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (eq(mem(e, key), value))
			return e;
	}
	return NULL;
}

/* Entries equal but for their url, which is the same or its rewrite. */
static void
check_list_urls(struct json_object *before, struct json_object *after, const char *url)
{
	size_t i, n;

	if (before == after)
		return;
	CHECK(json_object_is_type(before, json_type_array) &&
	    json_object_is_type(after, json_type_array));
	n = json_object_array_length(before);
	CHECK(json_object_array_length(after) == n);
	for (i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(before, i);
		struct json_object *a = json_object_array_get_idx(after, i), *bc = NULL, *ac = NULL;

		if (json_object_is_type(b, json_type_object) &&
		    json_object_is_type(a, json_type_object)) {
			CHECK(same_or_rewrite(mem(b, url), mem(a, url)));
			if (json_object_deep_copy(b, &bc, NULL) != 0 ||
			    json_object_deep_copy(a, &ac, NULL) != 0)
				abort();
			if (!eq(mem(b, url), mem(a, url))) {
				json_object_object_del(bc, url);
				json_object_object_del(ac, url);
			}
			CHECK(json_object_equal(bc, ac));
			json_object_put(bc);
			json_object_put(ac);
		} else {
			CHECK(json_object_equal(b, a));
		}
	}
}

/* Whether the operator would act on spec entry e (flash it): status has no url for its component
 * or another one. */
static int
would_flash(const struct kinds_list *l, struct json_object *status, struct json_object *e)
{
	const char *s = mem(e, l->url), *comp = mem(e, l->key);

	if (s == NULL || comp == NULL)
		return 0;
	return !eq(s, mem(entry(status, l->key, comp), l->url));
}

/* obj -> patched: only urls into their rewrites, status following spec, nothing new to act on. */
static void
check_applied(const struct kinds_row *k, struct json_object *obj, struct json_object *patched)
{
	size_t i, depth;

	for (i = 0; i < k->nfields; i++) {
		const char *const *keys = kinds_obj_path(k->fields[i].read, &depth);

		CHECK(same_or_rewrite(sat(obj, keys, depth), sat(patched, keys, depth)));
	}
	if (k->in_use != KR_NONE) {
		const char *const *keys = kinds_obj_path(k->in_use, &depth);
		const char *in_use = sat(obj, keys, depth);

		CHECK(eq(in_use, sat(patched, keys, depth)));
		/* re-attached only when it was about to be already */
		if (in_use != NULL && eq(sat(obj, kinds_obj_path(k->fields[0].read, &depth), depth),
		    in_use))
			CHECK(eq(sat(patched, kinds_obj_path(k->fields[0].read, &depth), depth),
			    in_use));
	}
	if (k->list != NULL) {
		const struct kinds_list *l = k->list;
		struct json_object *sb = at(obj, l->spec, l->spec_depth);
		struct json_object *sa = at(patched, l->spec, l->spec_depth);
		struct json_object *tb = at(obj, l->status, l->status_depth);
		struct json_object *ta = at(patched, l->status, l->status_depth);
		size_t n;

		if (!json_object_equal(sb, sa))
			check_list_urls(sb, sa, l->url);
		if (!json_object_equal(tb, ta)) {
			check_list_urls(tb, ta, l->url);
			/* a status entry changes only to the url of a spec entry of its component */
			n = json_object_array_length(ta);
			for (i = 0; i < n; i++) {
				struct json_object *b = json_object_array_get_idx(tb, i);
				struct json_object *a = json_object_array_get_idx(ta, i);
				const char *ua = mem(a, l->url), *comp = mem(a, l->key);
				size_t j, m = json_object_array_length(sa), found = 0;

				if (eq(mem(b, l->url), ua))
					continue;
				CHECK(comp != NULL && json_object_is_type(sa, json_type_array));
				for (j = 0; j < m && !found; j++) {
					struct json_object *e = json_object_array_get_idx(sa, j);

					found = eq(mem(e, l->key), comp) && eq(mem(e, l->url), ua);
				}
				CHECK(found);
			}
		}
		/* nothing flashed that was not about to be */
		n = json_object_is_type(sa, json_type_array) ? json_object_array_length(sa) : 0;
		for (i = 0; i < n; i++)
			if (would_flash(l, ta, json_object_array_get_idx(sa, i)))
				CHECK(would_flash(l, tb, json_object_array_get_idx(sb, i)));
	}
}

static void
check_body(const struct repair_obj_plan *plan, unsigned step, const char *rv, const char *part)
{
	char *b = repair_obj_step_body(plan, step, rv);
	struct json_object *o, *md, *v;
	int n = 0;

	CHECK(b != NULL);
	o = json_tokener_parse(b);
	CHECK(o != NULL && json_object_object_get_ex(o, "metadata", &md) &&
	    json_object_object_get_ex(md, "resourceVersion", &v) &&
	    eq(json_object_get_string(v), rv ? rv : REPAIR_RV_PLACEHOLDER));
	json_object_object_foreach(o, key, val) {
		(void)val;
		CHECK(strcmp(key, "metadata") == 0 || strcmp(key, part) == 0);
		n++;
	}
	CHECK(n == 2 && json_object_object_length(md) == 1);
	json_object_put(o);
	free(b);
}

/* The plan's own consistency, and of its patches applied. */
static void
check_plan(const struct repair_rules *rules, const struct kinds_row *k, struct json_object *obj,
    enum repair_obj_host where, const struct repair_host *h, const struct repair_obj_plan *p)
{
	static const unsigned nobody[] = { REPAIR_STEP_PAUSE, REPAIR_STEP_READBACK,
	    REPAIR_STEP_UNPAUSE };
	const char *hp = where == REPAIR_OBJ_HOST_READ ? h->pause : NULL;
	struct repair_obj_meta m;
	size_t i;

	if (p->action == REPAIR_NONE || p->action == REPAIR_LEAVE)
		CHECK(p->steps == 0 && p->spec == NULL && p->status == NULL);
	else
		CHECK(p->action == REPAIR_SPEC_ONLY || p->action == REPAIR_FULL);
	if (p->action == REPAIR_LEAVE)
		CHECK(p->reason[0] != '\0' && (p->leave == REPAIR_OUT_SKIPPED ||
		    p->leave == REPAIR_OUT_HELD || p->leave == REPAIR_OUT_NEEDS_HUMAN));
	CHECK((p->spec != NULL) == ((p->steps & REPAIR_STEP_SPEC) != 0));
	CHECK((p->status != NULL) == ((p->steps & REPAIR_STEP_STATUS) != 0));
	CHECK((p->action == REPAIR_FULL) == ((p->steps & REPAIR_STEP_STATUS) != 0));
	if (p->action == REPAIR_FULL)
		CHECK(p->steps & REPAIR_STEP_READBACK);
	if (p->action == REPAIR_SPEC_ONLY)	/* + read back and our pause off: a firmware's
						 * second write after a cut */
		CHECK((p->steps & ~(unsigned)(REPAIR_STEP_READBACK | REPAIR_STEP_UNPAUSE)) ==
		    REPAIR_STEP_SPEC);
	if (p->needs_host)
		CHECK(k->pause == NULL && where == REPAIR_OBJ_HOST_UNREAD &&
		    p->action == REPAIR_NONE);
	if (k->pause != NULL) {
		const char *const path[] = { "metadata", "annotations", k->pause };
		struct json_object *a = at(obj, path, 3);

		CHECK(!p->needs_host && (p->steps & ~(unsigned)REPAIR_STEP_SPEC) == 0);
		/* its own pause is never handed over: --repair-paused-by names host pauses */
		if (a != NULL)
			CHECK(p->steps == 0);
		CHECK(!p->under_other_pause);
	} else {
		if (where == REPAIR_OBJ_HOST_UNREAD)
			CHECK(p->steps == 0);
		if (hp != NULL && !repair_pause_handed(rules, hp))
			CHECK(p->steps == 0);	/* someone else's pause */
		if (where == REPAIR_OBJ_HOST_READ && (repair_state_transient(h->state) ||
		    eq(h->op_status, "servicing")))
			CHECK(p->steps == 0);
		if (p->under_other_pause)
			CHECK(hp != NULL && !eq(hp, REPAIR_PAUSE_VALUE) && p->steps != 0);
		if (p->steps & REPAIR_STEP_PAUSE)
			CHECK(where == REPAIR_OBJ_HOST_READ && hp == NULL &&
			    (p->steps & REPAIR_STEP_UNPAUSE));
		if (p->steps & REPAIR_STEP_UNPAUSE) {
			CHECK(where == REPAIR_OBJ_HOST_READ && (p->steps & REPAIR_STEP_READBACK));
			CHECK(hp == NULL ? (p->steps & REPAIR_STEP_PAUSE) != 0 :
			    eq(hp, REPAIR_PAUSE_VALUE) && repair_host_settled(rules, h));
			/* one write and our pause off: only a firmware's, under our own pause */
			if (!(p->steps & REPAIR_STEP_STATUS))
				CHECK(k->list != NULL && eq(hp, REPAIR_PAUSE_VALUE));
		}
		if (where == REPAIR_OBJ_HOST_READ && hp == NULL)
			CHECK(!(p->steps & REPAIR_STEP_STATUS) || (p->steps & REPAIR_STEP_PAUSE));
	}
	repair_obj_meta(obj, &m);
	CHECK(m.ns != NULL);
	if (p->spec != NULL) {
		check_body(p, REPAIR_STEP_SPEC, m.rv, "spec");
		check_body(p, REPAIR_STEP_SPEC, NULL, "spec");
	}
	if (p->status != NULL)
		check_body(p, REPAIR_STEP_STATUS, m.rv, "status");
	for (i = 0; i < sizeof(nobody) / sizeof(nobody[0]); i++)
		CHECK(repair_obj_step_body(p, nobody[i], "1") == NULL);
	if (p->spec != NULL || p->status != NULL) {
		struct json_object *patched = NULL;
		struct repair_obj_plan again;

		if (json_object_deep_copy(obj, &patched, NULL) != 0)
			abort();
		if (p->status != NULL)
			patched = merge(patched, p->status);
		if (p->spec != NULL)
			patched = merge(patched, p->spec);
		check_applied(k, obj, patched);
		if (repair_obj_plan(rules, k, patched, where, h, &again) != 0)
			abort();
		CHECK(again.action == REPAIR_NONE && again.spec == NULL && again.status == NULL &&
		    !again.needs_host);
		repair_obj_plan_clear(&again);
		if (p->steps & REPAIR_STEP_UNPAUSE)
			CHECK(!repair_obj_half_done(rules, k, patched));
		json_object_put(patched);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const handed[] = { "true" };
	struct repair_rules rules = { pol, handed, 0 };
	const struct kinds_row *k;
	enum repair_obj_host where;
	struct repair_host h;
	struct repair_obj_plan plan;
	struct json_object *obj;
	char *s, *hs, err[256], path[512];
	struct repair_obj_meta m;
	size_t cut;

	if (size < 1)
		return 0;
	k = objrows[data[0] & 3];
	where = ((data[0] >> 2) & 3) >= 2 ? REPAIR_OBJ_HOST_READ :
	    (enum repair_obj_host)((data[0] >> 2) & 3);
	rules.nhanded = (data[0] >> 4) & 1;
	data++;
	size--;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (cut = 0; cut < size && s[cut] != '\0' && s[cut] != '\n'; cut++)
		;
	hs = cut < size ? s + cut + 1 : s + size;
	s[cut] = '\0';
	obj = json_tokener_parse(s);
	memset(&h, 0, sizeof(h));
	if (where == REPAIR_OBJ_HOST_READ && repair_host_parse(hs, &h, err, sizeof(err)) != 0)
		where = REPAIR_OBJ_HOST_ABSENT;
	if (repair_obj_plan(&rules, k, obj, where, where == REPAIR_OBJ_HOST_READ ? &h : NULL,
	    &plan) != 0)
		abort();
	check_plan(&rules, k, obj, where, &h, &plan);
	repair_obj_plan_clear(&plan);
	/* what the host would say: the same object planned with it absent, and with it read */
	if (k->pause == NULL && where == REPAIR_OBJ_HOST_UNREAD) {
		if (repair_obj_plan(&rules, k, obj, REPAIR_OBJ_HOST_ABSENT, NULL, &plan) != 0)
			abort();
		check_plan(&rules, k, obj, REPAIR_OBJ_HOST_ABSENT, NULL, &plan);
		repair_obj_plan_clear(&plan);
		if (repair_host_parse(hs, &h, err, sizeof(err)) == 0) {
			if (repair_obj_plan(&rules, k, obj, REPAIR_OBJ_HOST_READ, &h, &plan) != 0)
				abort();
			check_plan(&rules, k, obj, REPAIR_OBJ_HOST_READ, &h, &plan);
			repair_obj_plan_clear(&plan);
		}
	}
	(void)repair_obj_half_done(&rules, k, obj);
	repair_obj_meta(obj, &m);
	if (m.name != NULL)
		repair_obj_path(k, k->versions[0], m.ns, m.name, 1, path, sizeof(path));
	repair_host_clear(&h);
	json_object_put(obj);
	free(s);
	return 0;
}
