/* test_repair.c - repair_plan() decisions and patch bodies, from real BareMetalHost JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "check.h"
#include "policy.h"
#include "repair.h"
#include "statusann.h"

#define OLD "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
#define NEW "http://httpd-http/images/ubiquity-node-rocky9.qcow2"

/* A host as the API returns it; NULL leaves a field out. */
static char *
host_json_ann(const char *state, const char *spec_url, const char *spec_sum, const char *st_url,
    const char *st_sum, const char *pause, const char *err_type, const char *ann)
{
	struct json_object *o = json_object_new_object(), *md, *spec, *img, *st, *prov, *simg;
	char *s;

	md = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string("master-2"));
	json_object_object_add(md, "namespace", json_object_new_string("metal3"));
	json_object_object_add(md, "resourceVersion", json_object_new_string("4711"));
	if (pause != NULL || ann != NULL) {
		struct json_object *a = json_object_new_object();

		if (pause != NULL)
			json_object_object_add(a, REPAIR_PAUSE_ANNOTATION,
			    json_object_new_string(pause));
		if (ann != NULL)
			json_object_object_add(a, STATUSANN_KEY, json_object_new_string(ann));
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

static char *
host_json(const char *state, const char *spec_url, const char *spec_sum, const char *st_url,
    const char *st_sum, const char *pause, const char *err_type)
{
	return host_json_ann(state, spec_url, spec_sum, st_url, st_sum, pause, err_type, NULL);
}

struct tcase {
	const char *what;
	const char *state, *spec_url, *spec_sum, *st_url, *st_sum, *pause, *err;
	enum repair_action action;
	const char *steps;
	enum repair_outcome leave;	/* for REPAIR_LEAVE */
	const char *ann;		/* the status annotation, NULL: none */
	int handed;			/* the rules hand over the pause "true" */
};

/* A status annotation as CAPM3 writes it before a move (a JSON copy of status). */
#define ANN(url) "{\"provisioning\":{\"state\":\"provisioned\",\"image\":{\"url\":\"" url \
	"\",\"checksum\":\"" url ".md5sum\"}},\"errorCount\":0, \"lastUpdated\":\"2026-01-01T00:00:00Z\"}"
#define SKIPPED REPAIR_OUT_SKIPPED
#define HELD REPAIR_OUT_HELD
#define HUMAN REPAIR_OUT_NEEDS_HUMAN

/* A row names only the columns it tests; the rest are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct tcase cases[] = {
	{ "names everywhere", "provisioned", NEW, NEW ".md5sum", NEW, NEW ".md5sum", NULL, NULL,
	  REPAIR_NONE, "" },
	{ "registration error", "provisioned", OLD, OLD ".md5sum", OLD, OLD ".md5sum", NULL,
	  REPAIR_REGISTRATION_ERROR, REPAIR_FULL, "pause,status,spec,read,resume" },
	{ "externally provisioned", "externally provisioned", OLD, "abc123", OLD, "abc123", NULL,
	  NULL, REPAIR_FULL, "pause,status,spec,read,resume" },
	{ "not provisioned", "available", OLD, NULL, "", NULL, NULL, NULL, REPAIR_SPEC_ONLY,
	  "spec" },
	{ "no status at all", NULL, OLD, NULL, NULL, NULL, NULL, NULL, REPAIR_SPEC_ONLY, "spec" },
	{ "foreign pause: held, not written", "provisioned", OLD, NULL, OLD, NULL, "move", NULL,
	  REPAIR_LEAVE, "", HELD, NULL },
	{ "capm3 pause: held", "provisioned", OLD, NULL, OLD, NULL, "metal3.io/capm3", NULL,
	  REPAIR_LEAVE, "", HELD, NULL, 1 },
	{ "handed pause: worked under, kept", "provisioned", OLD, NULL, OLD, NULL, "true", NULL,
	  REPAIR_FULL, "status,spec,read", 0, NULL, 1 },
	{ "half runbook: held", "provisioned", NEW, NULL, OLD, NULL, "true", NULL, REPAIR_LEAVE,
	  "", HELD, NULL },
	{ "half runbook handed over", "provisioned", NEW, NULL, OLD, NULL, "true", NULL,
	  REPAIR_FULL, "status,read", 0, NULL, 1 },
	{ "ours, status done", "provisioned", OLD, NULL, NEW, NULL, REPAIR_PAUSE_VALUE, NULL,
	  REPAIR_FULL, "spec,read,resume" },
	{ "ours, all done", "provisioned", NEW, NULL, NEW, NULL, REPAIR_PAUSE_VALUE, NULL,
	  REPAIR_RESUME, "resume" },
	{ "ours, differing names", "provisioned", NEW "x", NULL, NEW, NULL, REPAIR_PAUSE_VALUE,
	  NULL, REPAIR_LEAVE, "", HUMAN },
	{ "differ beyond host", "provisioned", OLD "x", NULL, OLD, NULL, "true", NULL, REPAIR_LEAVE,
	  "", SKIPPED, NULL, 1 },
	{ "differ beyond host, foreign pause", "provisioned", OLD "x", NULL, OLD, NULL, "true",
	  NULL, REPAIR_LEAVE, "", HELD, NULL },
	{ "spec literal, status other name", "provisioned", OLD, NULL,
	  "http://elsewhere/images/ubiquity-node-rocky9.qcow2", NULL, NULL, NULL, REPAIR_LEAVE, "",
	  SKIPPED },
	{ "inspecting", "inspecting", OLD, NULL, "", NULL, NULL, NULL, REPAIR_LEAVE, "", SKIPPED },
	{ "deprovisioning", "deprovisioning", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_LEAVE, "", SKIPPED },
	{ "powering off before delete", "powering off before delete", OLD, NULL, OLD, NULL, NULL,
	  NULL, REPAIR_LEAVE, "", SKIPPED },
	{ "detached with an image", "detached", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_LEAVE, "",
	  SKIPPED },
	{ "checksum only literal", "provisioned", NEW, "http://10.0.0.1/x.md5sum", NEW,
	  "http://10.0.0.1/x.md5sum", NULL, NULL, REPAIR_FULL, "pause,status,spec,read,resume" },
	{ "transient without literal", "provisioning", NEW, NULL, NEW, NULL, NULL, NULL,
	  REPAIR_NONE, "" },
	/* found by repair_fuzz: our pause, urls fixed, but a transient state someone else set */
	{ "ours, all done, deprovisioning", "deprovisioning", NEW, NULL, NEW, NULL,
	  REPAIR_PAUSE_VALUE, NULL, REPAIR_LEAVE, "", HUMAN },
	{ "ours, all done, registering", "registering", NEW, NULL, NEW, NULL, REPAIR_PAUSE_VALUE,
	  NULL, REPAIR_LEAVE, "", HUMAN },
	{ "unparseable url", "provisioned", "http://[::1", NULL, "http://[::1", NULL, NULL, NULL,
	  REPAIR_NONE, "" },
	/* the status annotation follows spec in the same patch, or the host is left alone */
	{ "annotation follows", "provisioned", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_FULL,
	  "pause,status,spec,read,resume", 0, ANN(OLD) },
	{ "annotation already in line", "provisioned", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_FULL,
	  "pause,status,spec,read,resume", 0, ANN(NEW) },
	{ "annotation of another image", "provisioned", OLD, NULL, OLD, NULL, NULL, NULL,
	  REPAIR_LEAVE, "", HUMAN, ANN("http://10.10.10.10/images/other.qcow2") },
	{ "annotation not JSON", "provisioned", OLD, NULL, OLD, NULL, NULL, NULL, REPAIR_LEAVE, "",
	  HUMAN, "{not json" },
	{ "annotation not JSON, nothing else to do", "provisioned", NEW, NULL, NEW, NULL, NULL, NULL,
	  REPAIR_NONE, "", 0, "{not json" },
	{ "annotation alone left behind", "provisioned", NEW, NULL, NEW, NULL, NULL, NULL,
	  REPAIR_ANNOTATION, "spec", 0, ANN(OLD) },
	{ "annotation alone, ours", "provisioned", NEW, NULL, NEW, NULL, REPAIR_PAUSE_VALUE, NULL,
	  REPAIR_FULL, "spec,read,resume", 0, ANN(OLD) },
	{ "annotation alone, foreign pause", "provisioned", NEW, NULL, NEW, NULL, "move", NULL,
	  REPAIR_LEAVE, "", HELD, ANN(OLD) },
	{ "moved: empty status, annotation literal", NULL, OLD, NULL, NULL, NULL, NULL, NULL,
	  REPAIR_SPEC_ONLY, "spec", 0, ANN(OLD) },
	{ "moved: empty status, annotation other image", NULL, OLD, NULL, NULL, NULL, NULL, NULL,
	  REPAIR_LEAVE, "", HUMAN, ANN("http://10.10.10.10/images/other.qcow2") },
	{ "ours, transient, still literal: needs a human", "deprovisioning", OLD, NULL, NEW, NULL,
	  REPAIR_PAUSE_VALUE, NULL, REPAIR_LEAVE, "", HUMAN },
};

static void
test_cases(const struct policy *p)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		char *js = host_json_ann(t->state, t->spec_url, t->spec_sum, t->st_url, t->st_sum,
		    t->pause, t->err, t->ann), err[256], steps[128];
		const char *handed[] = { "true" };
		struct repair_rules rules = { p, handed, t->handed ? 1 : 0 };
		struct repair_host h;
		struct repair_plan plan;

		if (!CHECK(repair_host_parse(js, &h, err, sizeof(err)) == 0, "%s: parses", t->what)) {
			free(js);
			continue;
		}
		CHECK(repair_plan(&rules, &h, 0, &plan) == 0, "%s: plans", t->what);
		repair_steps_str(plan.steps, steps, sizeof(steps));
		CHECK(plan.action == t->action, "%s: action %s (got %s: %s)", t->what,
		    repair_action_str(t->action), repair_action_str(plan.action), plan.reason);
		CHECK_STR(steps, t->steps, "%s: steps", t->what);
		if (t->action == REPAIR_LEAVE)
			CHECK(plan.leave == t->leave, "%s: left as %s (got %s: %s)", t->what,
			    repair_outcome_info(t->leave)->result,
			    repair_outcome_info(plan.leave)->result, plan.reason);
		CHECK(plan.action != REPAIR_LEAVE || plan.reason[0] != '\0', "%s: leaving says why",
		    t->what);
		CHECK(plan.under_other_pause == (t->handed && plan.action != REPAIR_LEAVE &&
		    plan.action != REPAIR_NONE), "%s: under another's pause", t->what);
		if (t->ann != NULL && (plan.steps & REPAIR_STEP_SPEC) &&
		    strstr(t->ann, "10.10.10.10/images/ubiquity-node") != NULL)
			CHECK(plan.new_annotation != NULL && strstr(plan.new_annotation, NEW "\"") &&
			    strstr(plan.new_annotation, "\"errorCount\":0, \"lastUpdated\""),
			    "%s: annotation rewritten in place: %s", t->what,
			    plan.new_annotation ? plan.new_annotation : "(none)");
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
	struct repair_rules rules = { p, NULL, 0 };
	struct repair_host h;
	struct repair_plan plan;

	if (!CHECK(repair_host_parse(js, &h, err, sizeof(err)) == 0, "body host parses")) {
		free(js);
		return;
	}
	CHECK_STR(h.ns, "metal3", "namespace read");
	CHECK_STR(h.rv, "4711", "resourceVersion read");
	CHECK(h.error_count == 2, "errorCount read");
	repair_plan(&rules, &h, 0, &plan);
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

/* A pause put on after this run wrote status: finished under it (adopt), never otherwise. */
static void
test_adopt_and_annotation_body(const struct policy *p)
{
	char *js = host_json_ann("provisioned", OLD, NULL, NEW, NULL, "maintenance", NULL,
	    ANN(OLD)), err[256], *b, steps[64];
	struct repair_rules rules = { p, NULL, 0 };
	struct repair_host h;
	struct repair_plan plan;

	if (!CHECK(repair_host_parse(js, &h, err, sizeof(err)) == 0, "adopt host parses")) {
		free(js);
		return;
	}
	repair_plan(&rules, &h, 0, &plan);
	CHECK(plan.action == REPAIR_LEAVE && plan.leave == REPAIR_OUT_HELD,
	    "status written by someone else, their pause: held (%s)", plan.reason);
	repair_plan_clear(&plan);
	repair_plan(&rules, &h, 1, &plan);
	repair_steps_str(plan.steps, steps, sizeof(steps));
	CHECK(plan.action == REPAIR_FULL && strcmp(steps, "spec,read") == 0 &&
	    plan.under_other_pause, "adopted: spec finished under their pause, which stays (%s)",
	    steps);
	b = repair_step_body(&plan, REPAIR_STEP_SPEC, "9");
	CHECK_STR(b, "{\"metadata\":{\"resourceVersion\":\"9\",\"annotations\":{\""
	    STATUSANN_KEY "\":\"{\\\"provisioning\\\":{\\\"state\\\":\\\"provisioned\\\","
	    "\\\"image\\\":{\\\"url\\\":\\\"" NEW "\\\",\\\"checksum\\\":\\\"" NEW
	    ".md5sum\\\"}},\\\"errorCount\\\":0, \\\"lastUpdated\\\":\\\"2026-01-01T00:00:00Z\\\"}"
	    "\"}},\"spec\":{\"image\":{\"url\":\"" NEW "\"}}}",
	    "spec patch carries the rewritten annotation, its other bytes kept");
	free(b);
	repair_plan_clear(&plan);
	repair_host_clear(&h);
	free(js);
}

static void
test_cidr(void)
{
	struct policy *p = policy_new();
	struct repair_rules rules = { NULL, NULL, 0 };
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
	rules.policy = p;
	repair_plan(&rules, &h, 0, &plan);
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
	test_adopt_and_annotation_body(p);
	test_cidr();
	CHECK(repair_state_transient("registering") && !repair_state_transient("provisioned") &&
	    !repair_state_transient(NULL), "transient states");
	policy_free(p);
	return CHECK_DONE();
}
