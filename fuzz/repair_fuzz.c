/* repair_fuzz.c - libFuzzer target: a BareMetalHost from the API, planned for repair. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy.h"
#include "repair_plan.h"
#include "statusann.h"

/*
 * Beyond "no crash, no sanitizer report, no leak": the plan's safety rules hold for any host.
 * The pause is removed only by a plan that leaves spec and status urls equal (or from a host never
 * provisioned, with no status a move would restore); someone else's
 * pause is never removed, and a host under a pause not handed over is never written; transient
 * hosts are never touched; a plan that changes spec leaves the status annotation's url equal to
 * the new spec url (or the annotation has none); every step body is JSON carrying the
 * resourceVersion. The first input byte picks whether the pause "true" is handed over and
 * whether the plan adopts a pause put on mid-repair.
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy *pol;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	pol = policy_new();
	return pol == NULL;
}

static const char *
after_url(const char *new_url, const char *old)
{
	return new_url != NULL ? new_url : old != NULL ? old : "";
}

static void
check_bodies(const struct repair_plan *plan, const char *rv)
{
	static const unsigned steps[] = { REPAIR_STEP_PAUSE, REPAIR_STEP_STATUS, REPAIR_STEP_SPEC,
	    REPAIR_STEP_UNPAUSE };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct json_object *o, *md, *v;
		char *b;

		if (!(plan->steps & steps[i]))
			continue;
		if ((b = repair_step_body(plan, steps[i], rv)) == NULL)
			abort();
		o = json_tokener_parse(b);
		if (o == NULL || !json_object_object_get_ex(o, "metadata", &md) ||
		    !json_object_object_get_ex(md, "resourceVersion", &v) ||
		    strcmp(json_object_get_string(v), rv) != 0)
			abort();
		json_object_put(o);
		free(b);
	}
}

/* The url a status restored from the annotation text would carry, or NULL when it has none. */
static const char *
annotation_url(struct json_object **holder, const char *text)
{
	struct json_object *o, *v;

	*holder = text ? json_tokener_parse(text) : NULL;
	o = *holder;
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "provisioning", &v) ||
	    !json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "image", &v) ||
	    !json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "url", &v) ||
	    !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
		return NULL;
	return json_object_get_string(v);
}

static void
check_annotation(const struct repair_plan *plan, const struct repair_host *h)
{
	struct json_object *holder;
	const char *after = plan->new_annotation ? plan->new_annotation : h->status_annotation;
	const char *url = annotation_url(&holder, after);

	if (url != NULL && strcmp(url, after_url(plan->new_spec_url, h->spec_url)) != 0)
		abort();	/* a move would restore a status that differs from spec */
	json_object_put(holder);
}

/* An empty status that a restore from the annotation would set to the spec url. */
static int
restores_spec(const struct repair_plan *plan, const struct repair_host *h)
{
	struct json_object *holder;
	const char *text = plan->new_annotation ? plan->new_annotation : h->status_annotation;
	const char *url = annotation_url(&holder, text);
	int ok = (h->status_url == NULL || *h->status_url == '\0') && url != NULL &&
	    strcmp(url, after_url(plan->new_spec_url, h->spec_url)) == 0;

	json_object_put(holder);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const handed[] = { "true" };
	char *s, err[256];
	struct repair_host h;
	struct repair_plan plan;
	struct repair_rules rules = { pol, handed, 0 };
	int adopt;

	if (size < 1)
		return 0;
	rules.nhanded = data[0] & 1;
	adopt = (data[0] >> 1) & 1;
	data++;
	size--;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (repair_host_parse(s, &h, err, sizeof(err)) != 0) {
		free(s);
		return 0;
	}
	if (repair_plan(&rules, &h, adopt, &plan) != 0)
		abort();
	if (h.pause != NULL && !adopt && !repair_pause_handed(&rules, h.pause) && plan.steps != 0)
		abort();	/* wrote under someone else's pause */
	if (plan.steps & (REPAIR_STEP_SPEC | REPAIR_STEP_STATUS))
		check_annotation(&plan, &h);
	if (plan.steps & REPAIR_STEP_UNPAUSE) {
		if (h.pause != NULL && strcmp(h.pause, REPAIR_PAUSE_VALUE) != 0)
			abort();	/* someone else's pause */
		if (strcmp(after_url(plan.new_spec_url, h.spec_url),
		    after_url(plan.new_status_url, h.status_url)) != 0 &&
		    !restores_spec(&plan, &h) && !(plan.action == REPAIR_RESUME &&
		    (h.status_url == NULL || *h.status_url == '\0') && h.status_annotation == NULL))
			abort();	/* would unpause with spec != status (on a host ever provisioned) */
		if (!(plan.steps & REPAIR_STEP_READBACK) && plan.action != REPAIR_RESUME)
			abort();
	}
	if (repair_state_transient(h.state) && plan.steps != 0)
		abort();
	if ((plan.steps & REPAIR_STEP_STATUS) && !(plan.steps & REPAIR_STEP_PAUSE) &&
	    h.pause == NULL)
		abort();	/* status changed on an unpaused provisioned host */
	check_bodies(&plan, h.rv);
	repair_plan_clear(&plan);
	repair_host_clear(&h);
	free(s);
	return 0;
}
