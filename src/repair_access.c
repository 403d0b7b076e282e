/* repair_access.c - before the first write, ask the API server (SelfSubjectAccessReviews) whether every write the repair may make is allowed. */
#include "repair_access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define SSAR_PATH "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

/* The writes a run may make, by kind (NULL: Events); each is checked before the first one. */
static const struct access_need {
	const char *kind;
	const char *verb, *group, *resource, *subresource;
} access_needs[] = {
	{ "BareMetalHost", "patch", "metal3.io", "baremetalhosts", "" },
	{ "BareMetalHost", "patch", "metal3.io", "baremetalhosts", "status" },
	{ "Metal3MachineTemplate", "patch", "infrastructure.cluster.x-k8s.io",
	  "metal3machinetemplates", "" },
	{ "Metal3Machine", "patch", "infrastructure.cluster.x-k8s.io", "metal3machines", "" },
	{ "DataImage", "patch", "metal3.io", "dataimages", "" },
	{ "HostFirmwareComponents", "patch", "metal3.io", "hostfirmwarecomponents", "" },
	{ "HostFirmwareComponents", "patch", "metal3.io", "hostfirmwarecomponents", "status" },
	/* its host's pause, on while status and spec are written */
	{ "HostFirmwareComponents", "patch", "metal3.io", "baremetalhosts", "" },
	{ NULL, "create", "events.k8s.io", "events", "" },
};

static int
access_one(struct kube_conn *c, const char *ns, const struct access_need *n, char *err,
    size_t errlen)
{
	struct json_object *o = json_object_new_object(), *spec, *ra, *v, *resp = NULL;
	char *body = NULL, e[600], where[128];
	const char *reason = "";
	enum kube_rc rc;
	int allowed, ret = -1;

	spec = json_object_new_object();
	ra = json_object_new_object();
	json_object_object_add(o, "apiVersion", json_object_new_string("authorization.k8s.io/v1"));
	json_object_object_add(o, "kind", json_object_new_string("SelfSubjectAccessReview"));
	json_object_object_add(ra, "namespace", json_object_new_string(ns ? ns : ""));
	json_object_object_add(ra, "verb", json_object_new_string(n->verb));
	json_object_object_add(ra, "group", json_object_new_string(n->group));
	json_object_object_add(ra, "resource", json_object_new_string(n->resource));
	json_object_object_add(ra, "subresource", json_object_new_string(n->subresource));
	json_object_object_add(spec, "resourceAttributes", ra);
	json_object_object_add(o, "spec", spec);
	if (ns != NULL)
		snprintf(where, sizeof(where), "in namespace '%s'", ns);
	else
		snprintf(where, sizeof(where), "in every namespace (-A)");
	rc = kube_request(c, "POST", SSAR_PATH, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN), "application/json", &body, NULL, e, sizeof(e));
	if (rc != KUBE_OK) {
		snprintf(err, errlen, "cannot check whether it may %s %s%s%s %s "
		    "(SelfSubjectAccessReview): %s; nothing was written", n->verb, n->resource,
		    *n->subresource ? "/" : "", n->subresource, where, e);
		goto out;
	}
	resp = json_tokener_parse(body);
	allowed = resp != NULL && json_object_object_get_ex(resp, "status", &v) &&
	    json_object_object_get_ex(v, "allowed", &v) && json_object_get_boolean(v);
	if (allowed) {
		ret = 0;
		goto out;
	}
	if (resp != NULL && json_object_object_get_ex(resp, "status", &v) &&
	    json_object_object_get_ex(v, "reason", &v))
		reason = json_object_get_string(v);
	snprintf(err, errlen, "not allowed to %s %s%s%s (group %s) %s%s%s%s; nothing was written: "
	    "grant it (manifests/base/rbac.yaml)%s", n->verb, n->resource,
	    *n->subresource ? "/" : "", n->subresource, n->group, where, *reason ? " (" : "",
	    reason, *reason ? ")" : "", n->kind == NULL ? " or run with --events=false" :
	    " or run without --apply");
out:
	json_object_put(o);
	json_object_put(resp);
	free(body);
	return ret;
}

int
repair_check_access(struct kube_client *k, const struct repair_opts *o, char *err,
    size_t errlen)
{
	struct kube_conn *c = kube_conn_new(k, err, errlen);
	size_t i, j;
	int rc = 0;

	if (c == NULL)
		return -1;
	for (i = 0; rc == 0 && i < sizeof(access_needs) / sizeof(access_needs[0]); i++) {
		const struct access_need *n = &access_needs[i];

		if (n->kind == NULL ? !o->events : (!o->apply || !repair_covers(o, n->kind)))
			continue;
		for (j = 0; j < i; j++)	/* asked once, whichever kinds need it */
			if (access_needs[j].kind != NULL && repair_covers(o, access_needs[j].kind) &&
			    strcmp(access_needs[j].resource, n->resource) == 0 &&
			    strcmp(access_needs[j].subresource, n->subresource) == 0)
				break;
		if (j == i)
			rc = access_one(c, o->ns, n, err, errlen);
	}
	kube_conn_free(c);
	return rc;
}
