/* test_repair.c - repair_plan() decisions and patch bodies, from real BareMetalHost JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "check.h"
#include "policy.h"
#include "repair.h"

#define OLD "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
#define NEW "http://httpd-http/images/ubiquity-node-rocky9.qcow2"

/* A host as the API returns it; NULL leaves a field out. */
static char *
host_json(const char *state, const char *spec_url, const char *spec_sum, const char *st_url,
    const char *st_sum, const char *pause, const char *err_type)
{
	struct json_object *o = json_object_new_object(), *md, *spec, *img, *st, *prov, *simg;
	char *s;

	md = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string("master-2"));
	json_object_object_add(md, "namespace", json_object_new_string("metal3"));
	json_object_object_add(md, "resourceVersion", json_object_new_string("4711"));
	if (pause != NULL) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, REPAIR_PAUSE_ANNOTATION, json_object_new_string(pause));
		json_object_object_add(md, "annotations", a);
	}
	json_object_object_add(o, "metadata", md);
	spec = json_object_new_object();
	img = json_object_new_object();
	if (spec_url)
		json_object_object_add(img, "url", json_object_new_string(spec_url));
	if (spec_sum)
		json_object_object_add(img, "checksum", json_object_new_string(spec_sum));
	json_object_object_add(spec, "image", img);
	json_object_object_add(o, "spec", spec);
	if (state != NULL) {
		st = json_object_new_object();
		prov = json_object_new_object();
		simg = json_object_new_object();
		json_object_object_add(prov, "state", json_object_new_string(state));
		if (st_url)
			json_object_object_add(simg, "url", json_object_new_string(st_url));
		if (st_sum)
			json_object_object_add(simg, "checksum", json_object_new_string(st_sum));
		json_object_object_add(prov, "image", simg);
		json_object_object_add(st, "provisioning", prov);
		json_object_object_add(st, "errorCount", json_object_new_int(err_type ? 2 : 0));
		if (err_type)
			json_object_object_add(st, "errorType", json_object_new_string(err_type));
		json_object_object_add(o, "status", st);
	}
	s = strdup(json_object_to_json_string(o));
	json_object_put(o);
	return s;
}

struct tcase {
	const char *what;
	const char *state, *spec_url, *spec_sum, *st_url, *st_sum, *pause, *err;
	enum repair_action action;
	const char *steps;
	int stuck;
};

static const struct tcase cases[] = {
	{ "names everywhere", "provisioned", NEW, NEW ".md5sum", NEW, NEW ".md5sum", NULL, NULL,
	  REPAIR_NONE, "", 0 },
	{ "registration error", "provisioned", OLD, OLD ".md5sum", OLD, OLD ".md5sum", NULL,
	  REPAIR_REGISTRATION_ERROR, REPAIR_FULL, "pause,status,spec,read,resume", 0 },
	{ "externally provisioned", "externally provisioned", OLD, "abc123", OLD, "abc123", NULL,
	  NULL, REPAIR_FULL, "pause,status,spec,read,resume", 0 },
	{ "not provisioned", "available", OLD, NULL, "", NULL, NULL, NULL, REPAIR_SPEC_ONLY,
	  "spec", 0 },
	{ "no status at all", NULL, OLD, NULL, NULL, NULL, NULL, NULL, REPAIR_SPEC_ONLY, "spec", 0 },
	{ "foreign pause", "provisioned", OLD, NULL, OLD, NULL, "move", NULL, REPAIR_FULL,
	  "status,spec,read", 0 },
	{ "half runbook", "provisioned", NEW, NULL, OLD, NULL, "true", NULL, REPAIR_FULL,
	  "status,read", 0 },
	{ "ours, status done", "provisioned", OLD, NULL, NEW, NULL, REPAIR_PAUSE_VALUE, NULL,
	  REPAIR_FULL, "spec,read,resume", 0 },
	{ "ours, all done", "provisioned", NEW, NULL, NEW, NULL, REPAIR_PAUSE_VALUE, NULL,
	  REPAIR_RESUME, "resume", 0 },
	{ "ours, differing names", "provisioned", NEW "x", NULL, NEW, NULL, REPAIR_PAUSE_VALUE,
	  NULL, REPAIR_SKIP, "", 1 },
	{ "differ beyond host", "provisioned", OLD "x", NULL, OLD, NULL, "true", NULL, REPAIR_SKIP,
	  "", 0 },
	{ "spec literal, status other name", "provisioned", OLD, NULL,
	  "http://elsewhere/images/ubiquity-node-rocky9.qcow2", NULL, NULL, NULL, REPAIR_SKIP, "",
	  0 },
	{ "inspecting", "inspecting", OLD, NULL, "", NULL, NULL, NULL, REPAIR_SKIP, "", 0 },
	{ "deprovisioning", "deprovisioning", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_SKIP, "", 0 },
	{ "powering off before delete", "powering off before delete", OLD, NULL, OLD, NULL, NULL,
	  NULL, REPAIR_SKIP, "", 0 },
	{ "detached with an image", "detached", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_SKIP, "",
	  0 },
	{ "checksum only literal", "provisioned", NEW, "http://10.0.0.1/x.md5sum", NEW,
	  "http://10.0.0.1/x.md5sum", NULL, NULL, REPAIR_FULL, "pause,status,spec,read,resume", 0 },
	{ "transient without literal", "provisioning", NEW, NULL, NEW, NULL, NULL, NULL,
	  REPAIR_NONE, "", 0 },
	/* found by repair_fuzz: our pause, urls fixed, but a transient state someone else set */
	{ "ours, all done, deprovisioning", "deprovisioning", NEW, NULL, NEW, NULL,
	  REPAIR_PAUSE_VALUE, NULL, REPAIR_SKIP, "", 1 },
	{ "ours, all done, registering", "registering", NEW, NULL, NEW, NULL, REPAIR_PAUSE_VALUE,
	  NULL, REPAIR_SKIP, "", 1 },
	{ "unparseable url", "provisioned", "http://[::1", NULL, "http://[::1", NULL, NULL, NULL,
	  REPAIR_NONE, "", 0 },
};

static void
test_cases(const struct policy *p)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		char *js = host_json(t->state, t->spec_url, t->spec_sum, t->st_url, t->st_sum, t->pause,
		    t->err), err[256], steps[128];
		struct repair_host h;
		struct repair_plan plan;

		if (!CHECK(repair_host_parse(js, &h, err, sizeof(err)) == 0, "%s: parses", t->what)) {
			free(js);
			continue;
		}
		CHECK(repair_plan(p, &h, &plan) == 0, "%s: plans", t->what);
		repair_steps_str(plan.steps, steps, sizeof(steps));
		CHECK(plan.action == t->action, "%s: action %s (got %s: %s)", t->what,
		    repair_action_str(t->action), repair_action_str(plan.action), plan.reason);
		CHECK_STR(steps, t->steps, "%s: steps", t->what);
		CHECK(plan.stuck == t->stuck, "%s: stuck %d", t->what, t->stuck);
		CHECK(plan.action != REPAIR_SKIP || plan.reason[0] != '\0', "%s: a skip says why",
		    t->what);
		repair_plan_clear(&plan);
		repair_host_clear(&h);
		free(js);
	}
}

static void
test_bodies(const struct policy *p)
{
	char *js = host_json("provisioned", OLD, OLD ".md5sum", OLD, OLD ".md5sum", NULL,
	    REPAIR_REGISTRATION_ERROR), err[256], *b;
	struct repair_host h;
	struct repair_plan plan;

	if (!CHECK(repair_host_parse(js, &h, err, sizeof(err)) == 0, "body host parses")) {
		free(js);
		return;
	}
	CHECK_STR(h.ns, "metal3", "namespace read");
	CHECK_STR(h.rv, "4711", "resourceVersion read");
	CHECK(h.error_count == 2, "errorCount read");
	repair_plan(p, &h, &plan);
	CHECK(plan.clear_error == 1, "registration error is cleared with the status patch");
	b = repair_step_body(&plan, REPAIR_STEP_PAUSE, h.rv);
	CHECK_STR(b, "{\"metadata\":{\"resourceVersion\":\"4711\",\"annotations\":{"
	    "\"baremetalhost.metal3.io/paused\":\"bmhguard-repair\"}}}", "pause body");
	free(b);
	b = repair_step_body(&plan, REPAIR_STEP_STATUS, "4712");
	CHECK_STR(b, "{\"metadata\":{\"resourceVersion\":\"4712\"},\"status\":{\"errorCount\":0,"
	    "\"errorMessage\":\"\",\"provisioning\":{\"image\":{\"url\":\"" NEW "\",\"checksum\":\""
	    NEW ".md5sum\"}}}}", "status body");
	free(b);
	b = repair_step_body(&plan, REPAIR_STEP_SPEC, NULL);
	CHECK_STR(b, "{\"metadata\":{\"resourceVersion\":\"<from previous response>\"},\"spec\":{"
	    "\"image\":{\"url\":\"" NEW "\",\"checksum\":\"" NEW ".md5sum\"}}}",
	    "spec body (dry-run placeholder)");
	free(b);
	b = repair_step_body(&plan, REPAIR_STEP_UNPAUSE, "4714");
	CHECK_STR(b, "{\"metadata\":{\"resourceVersion\":\"4714\",\"annotations\":{"
	    "\"baremetalhost.metal3.io/paused\":null}}}", "unpause body deletes with null");
	free(b);
	CHECK(repair_step_body(&plan, REPAIR_STEP_READBACK, "1") == NULL, "read back has no body");
	repair_plan_clear(&plan);
	repair_host_clear(&h);
	free(js);
	CHECK(repair_host_parse("[1,2]", &h, err, sizeof(err)) == -1, "a list is not a host: %s",
	    err);
	CHECK(repair_host_parse("{\"metadata\":{\"name\":\"x\"}}", &h, err, sizeof(err)) == -1,
	    "no resourceVersion: %s", err);
	CHECK(repair_host_parse("{not json", &h, err, sizeof(err)) == -1, "not JSON: %s", err);
}

static void
test_cidr(void)
{
	struct policy *p = policy_new();
	char err[256], *js;
	struct repair_host h;
	struct repair_plan plan;

	if (p == NULL || policy_add_cidr(p, "192.168.0.0/16", err, sizeof(err)) != 0) {
		CHECK(0, "policy with --match-cidr");
		policy_free(p);
		return;
	}
	js = host_json("provisioned", OLD, NULL, OLD, NULL, NULL, NULL);
	repair_host_parse(js, &h, err, sizeof(err));
	repair_plan(p, &h, &plan);
	CHECK(plan.action == REPAIR_NONE, "address outside --match-cidr: nothing to do");
	repair_plan_clear(&plan);
	repair_host_clear(&h);
	free(js);
	policy_free(p);
}

int
main(void)
{
	struct policy *p = policy_new();

	if (p == NULL)
		return 1;
	test_cases(p);
	test_bodies(p);
	test_cidr();
	CHECK(repair_state_transient("registering") && !repair_state_transient("provisioned") &&
	    !repair_state_transient(NULL), "transient states");
	policy_free(p);
	return CHECK_DONE();
}
