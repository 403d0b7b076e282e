/* repair_fuzz.c - libFuzzer target: a BareMetalHost from the API, planned for repair. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy.h"
#include "repair.h"

/*
 * Beyond "no crash, no sanitizer report, no leak": the plan's safety rules hold for any host.
 * The pause is removed only by a plan that leaves spec and status urls equal; someone else's
 * pause is never removed; transient hosts are never touched; every step body is JSON carrying
 * the resourceVersion.
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
after(const char *new_url, const char *old)
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256];
	struct repair_host h;
	struct repair_plan plan;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (repair_host_parse(s, &h, err, sizeof(err)) != 0) {
		free(s);
		return 0;
	}
	if (repair_plan(pol, &h, &plan) != 0)
		abort();
	if (plan.steps & REPAIR_STEP_UNPAUSE) {
		if (h.pause != NULL && strcmp(h.pause, REPAIR_PAUSE_VALUE) != 0)
			abort();	/* someone else's pause */
		if (strcmp(after(plan.new_spec_url, h.spec_url),
		    after(plan.new_status_url, h.status_url)) != 0)
			abort();	/* would unpause with spec != status */
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
