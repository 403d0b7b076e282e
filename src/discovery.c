/* discovery.c - which versions of a kind the API server serves, asked once per group version (GET /apis/GROUP/VERSION). */
#include "discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "str.h"

/* More group versions than the kinds table names is a bug, not a cluster. */
#define DISCOVERY_MAX 8

struct discovered {
	char gv[160];
	struct json_object *doc;	/* APIResourceList, owned; NULL: 404, not served */
};

struct discovery {
	struct discovered d[DISCOVERY_MAX];
	size_t n;
	unsigned long calls;
};

struct discovery *
discovery_new(void)
{
	return calloc(1, sizeof(struct discovery));
}

void
discovery_free(struct discovery *dc)
{
	size_t i;

	if (dc == NULL)
		return;
	for (i = 0; i < dc->n; i++)
		json_object_put(dc->d[i].doc);
	free(dc);
}

unsigned long
discovery_calls(const struct discovery *dc)
{
	return dc->calls;
}

/* The group version's document, read on first use; *doc NULL when it is not served. */
static int
lookup(struct discovery *dc, struct kube_conn *c, const char *gv, struct json_object **doc,
    char *err, size_t errlen)
{
	char path[200], e[600], *body = NULL;
	enum kube_rc rc;
	size_t i;

	for (i = 0; i < dc->n; i++)
		if (strcmp(dc->d[i].gv, gv) == 0) {
			*doc = dc->d[i].doc;
			return 0;
		}
	if (dc->n == DISCOVERY_MAX) {
		snprintf(err, errlen, "discovery: more than %d API versions", DISCOVERY_MAX);
		return -1;
	}
	snprintf(path, sizeof(path), "/apis/%s", gv);
	rc = kube_request(c, "GET", path, NULL, NULL, &body, NULL, e, sizeof(e));
	dc->calls++;
	if (rc != KUBE_OK && rc != KUBE_NOT_FOUND) {
		snprintf(err, errlen, "finding what %s serves (GET %s): %s", gv, path, e);
		return -1;
	}
	snprintf(dc->d[dc->n].gv, sizeof(dc->d[dc->n].gv), "%s", gv);
	*doc = dc->d[dc->n].doc = rc == KUBE_OK ? json_tokener_parse(body) : NULL;
	dc->n++;
	free(body);
	return 0;
}

static int
lists(struct json_object *doc, const char *plural)
{
	struct json_object *res, *name;
	size_t i;

	if (doc == NULL || !json_object_object_get_ex(doc, "resources", &res) ||
	    !json_object_is_type(res, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(res); i++) {
		struct json_object *r = json_object_array_get_idx(res, i);

		if (json_object_is_type(r, json_type_object) &&
		    json_object_object_get_ex(r, "name", &name) &&
		    str_eq(json_object_get_string(name), plural))
			return 1;
	}
	return 0;
}

int
discovery_version(struct discovery *dc, struct kube_conn *c, const struct kinds_row *k,
    const char **version, char *err, size_t errlen)
{
	size_t v;

	*version = NULL;
	for (v = 0; v < sizeof(k->versions) / sizeof(k->versions[0]) && k->versions[v]; v++) {
		struct json_object *doc;
		char gv[160];

		snprintf(gv, sizeof(gv), "%s/%s", k->group, k->versions[v]);
		if (lookup(dc, c, gv, &doc, err, errlen) < 0)
			return -1;
		if (lists(doc, k->plural)) {
			*version = k->versions[v];
			return 0;
		}
	}
	return 0;
}
