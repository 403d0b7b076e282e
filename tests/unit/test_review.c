/* test_review.c - every branch of the admission decision in src/review.c, through review_handle(). */
#include <openssl/evp.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "check.h"
#include "review.h"

#define OLD "http://10.10.10.10/images/node.qcow2"
#define OLD_SUM "http://10.10.10.10/images/node.qcow2.md5sum"
#define NEW "http://httpd-http/images/node.qcow2"
#define NEW_SUM "http://httpd-http/images/node.qcow2.md5sum"
#define ANN_PATH "/metadata/annotations/baremetalhost.metal3.io~1status"

struct req {
	const char *op;			/* CREATE, UPDATE, ... */
	const char *kind, *group, *sub;	/* defaults BareMetalHost, metal3.io, none */
	const char *spec_url, *spec_sum;
	const char *status_url;		/* oldObject.status.provisioning.image.url (UPDATE) */
	const char *incoming_status_url;/* object.status...url (stale copy; must be ignored) */
	const char *annotation;		/* baremetalhost.metal3.io/status text */
	int optout;
	int no_old;			/* an UPDATE sent without an oldObject */
};

static json_object *
host(const struct req *r, const char *status_url)
{
	json_object *h = json_object_new_object(), *md = json_object_new_object();
	json_object *spec = json_object_new_object(), *img = json_object_new_object();
	json_object *ann = json_object_new_object();

	json_object_object_add(h, "apiVersion", json_object_new_string("metal3.io/v1alpha1"));
	json_object_object_add(h, "kind", json_object_new_string(r->kind ? r->kind : "BareMetalHost"));
	json_object_object_add(md, "name", json_object_new_string("master-2"));
	json_object_object_add(md, "namespace", json_object_new_string("metal3"));
	if (r->annotation)
		json_object_object_add(ann, "baremetalhost.metal3.io/status",
		    json_object_new_string(r->annotation));
	if (r->optout)
		json_object_object_add(ann, "bmhguard.io/rewrite", json_object_new_string("disabled"));
	json_object_object_add(md, "annotations", ann);
	json_object_object_add(h, "metadata", md);
	if (r->spec_url)
		json_object_object_add(img, "url", json_object_new_string(r->spec_url));
	if (r->spec_sum)
		json_object_object_add(img, "checksum", json_object_new_string(r->spec_sum));
	json_object_object_add(spec, "image", img);
	json_object_object_add(spec, "online", json_object_new_boolean(1));
	json_object_object_add(h, "spec", spec);
	if (status_url) {
		json_object *st = json_object_new_object(), *pr = json_object_new_object();
		json_object *si = json_object_new_object();

		json_object_object_add(si, "url", json_object_new_string(status_url));
		json_object_object_add(pr, "image", si);
		json_object_object_add(pr, "state", json_object_new_string("provisioned"));
		json_object_object_add(st, "provisioning", pr);
		json_object_object_add(h, "status", st);
	}
	return h;
}

/* The review JSON text for r; caller frees. */
static char *
review_text(const struct req *r)
{
	json_object *rv = json_object_new_object(), *rq = json_object_new_object();
	json_object *kind = json_object_new_object();
	char *out;

	json_object_object_add(rv, "apiVersion", json_object_new_string("admission.k8s.io/v1"));
	json_object_object_add(rv, "kind", json_object_new_string("AdmissionReview"));
	json_object_object_add(rq, "uid", json_object_new_string("uid-1"));
	json_object_object_add(kind, "group", json_object_new_string(r->group ? r->group : "metal3.io"));
	json_object_object_add(kind, "version", json_object_new_string("v1alpha1"));
	json_object_object_add(kind, "kind", json_object_new_string(r->kind ? r->kind : "BareMetalHost"));
	json_object_object_add(rq, "kind", kind);
	if (r->sub)
		json_object_object_add(rq, "subResource", json_object_new_string(r->sub));
	json_object_object_add(rq, "name", json_object_new_string("master-2"));
	json_object_object_add(rq, "namespace", json_object_new_string("metal3"));
	json_object_object_add(rq, "operation", json_object_new_string(r->op));
	json_object_object_add(rq, "object", host(r, r->incoming_status_url));
	if (strcmp(r->op, "UPDATE") == 0 && !r->no_old) {
		struct req old = *r;

		old.spec_url = r->status_url ? r->status_url : r->spec_url;
		json_object_object_add(rq, "oldObject", host(&old, r->status_url));
	}
	json_object_object_add(rv, "request", rq);
	out = strdup(json_object_to_json_string_ext(rv, JSON_C_TO_STRING_PLAIN));
	json_object_put(rv);
	return out;
}

/* The decoded patch of a response as a json array (owned), or NULL when there is none. */
static json_object *
patch_of(const char *response)
{
	json_object *root = json_tokener_parse(response), *resp, *p, *ops = NULL;
	const char *b64;
	unsigned char *raw;
	int n;

	if (root && json_object_object_get_ex(root, "response", &resp) &&
	    json_object_object_get_ex(resp, "patch", &p)) {
		b64 = json_object_get_string(p);
		raw = calloc(1, strlen(b64) + 1);
		n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
		if (n >= 0)
			ops = json_tokener_parse((char *)raw);
		free(raw);
	}
	json_object_put(root);
	return ops;
}

/* The value of the op at path, or NULL. Borrowed from ops. */
static const char *
op_value(json_object *ops, const char *path)
{
	size_t i;

	for (i = 0; ops && i < json_object_array_length(ops); i++) {
		json_object *op = json_object_array_get_idx(ops, i), *p, *v, *o;

		if (json_object_object_get_ex(op, "path", &p) &&
		    strcmp(json_object_get_string(p), path) == 0 &&
		    json_object_object_get_ex(op, "op", &o) &&
		    strcmp(json_object_get_string(o), "replace") == 0 &&
		    json_object_object_get_ex(op, "value", &v))
			return json_object_get_string(v);
	}
	return NULL;
}

static size_t
nops(json_object *ops)
{
	return ops ? json_object_array_length(ops) : 0;
}

struct expect {
	const char *name;
	struct req req;
	int warn_mode;
	enum review_outcome outcome;
	const char *url_to, *sum_to;	/* expected patch values, NULL = not patched */
	size_t ops;
	size_t changes;
	enum review_action first_action;
};

static const struct expect cases[] = {
	{ "CREATE literal url and checksum", { .op = "CREATE", .spec_url = OLD, .spec_sum = OLD_SUM }, 0,
	  REVIEW_PATCHED, NEW, NEW_SUM, 2, 2, REVIEW_REWRITE },
	{ "CREATE bare digest checksum left alone", { .op = "CREATE", .spec_url = OLD,
	  .spec_sum = "97830b21ed272a3d854615beb54cf004" }, 0, REVIEW_PATCHED, NEW, NULL, 1, 1,
	  REVIEW_REWRITE },
	{ "CREATE already a name", { .op = "CREATE", .spec_url = NEW, .spec_sum = NEW_SUM }, 0,
	  REVIEW_UNCHANGED, NULL, NULL, 0, 0, 0 },
	{ "CREATE without image", { .op = "CREATE" }, 0, REVIEW_UNCHANGED, NULL, NULL, 0, 0, 0 },
	{ "UPDATE not provisioned (S empty)", { .op = "UPDATE", .spec_url = OLD, .spec_sum = OLD_SUM }, 0,
	  REVIEW_PATCHED, NEW, NEW_SUM, 2, 2, REVIEW_REWRITE },
	{ "UPDATE status already repaired (R == S)", { .op = "UPDATE", .spec_url = OLD,
	  .spec_sum = OLD_SUM, .status_url = NEW }, 0, REVIEW_PATCHED, NEW, NEW_SUM, 2, 2,
	  REVIEW_REWRITE },
	{ "UPDATE image being changed (U != S)", { .op = "UPDATE",
	  .spec_url = "http://10.10.10.10/images/other.qcow2", .status_url = OLD }, 0,
	  REVIEW_PATCHED, "http://httpd-http/images/other.qcow2", NULL, 1, 1, REVIEW_REWRITE },
	{ "UPDATE provisioned with the literal (withhold)", { .op = "UPDATE", .spec_url = OLD,
	  .spec_sum = OLD_SUM, .status_url = OLD }, 0, REVIEW_WITHHELD, NULL, NULL, 0, 2,
	  REVIEW_WITHHOLD },
	{ "UPDATE withhold decided on oldObject, not the stale incoming status", { .op = "UPDATE",
	  .spec_url = OLD, .status_url = OLD, .incoming_status_url = NEW }, 0, REVIEW_WITHHELD,
	  NULL, NULL, 0, 1, REVIEW_WITHHOLD },
	{ "UPDATE without oldObject: object.status shows the literal provisioned (withhold)",
	  { .op = "UPDATE", .spec_url = OLD, .spec_sum = OLD_SUM, .incoming_status_url = OLD,
	  .no_old = 1 }, 0, REVIEW_WITHHELD, NULL, NULL, 0, 2, REVIEW_WITHHOLD },
	{ "UPDATE without oldObject: object.status already repaired (rewrite)", { .op = "UPDATE",
	  .spec_url = OLD, .spec_sum = OLD_SUM, .incoming_status_url = NEW, .no_old = 1 }, 0,
	  REVIEW_PATCHED, NEW, NEW_SUM, 2, 2, REVIEW_REWRITE },
	{ "UPDATE without oldObject or status (rewrite)", { .op = "UPDATE", .spec_url = OLD,
	  .no_old = 1 }, 0, REVIEW_PATCHED, NEW, NULL, 1, 1, REVIEW_REWRITE },
	{ "UPDATE spec already a name (R == U)", { .op = "UPDATE", .spec_url = NEW, .status_url = OLD }, 0,
	  REVIEW_UNCHANGED, NULL, NULL, 0, 0, 0 },
	{ "UPDATE spec name, checksum literal", { .op = "UPDATE", .spec_url = NEW, .spec_sum = OLD_SUM,
	  .status_url = NEW }, 0, REVIEW_PATCHED, NULL, NEW_SUM, 1, 1, REVIEW_REWRITE },
	{ "opt-out annotation", { .op = "CREATE", .spec_url = OLD, .spec_sum = OLD_SUM, .optout = 1 }, 0,
	  REVIEW_UNCHANGED, NULL, NULL, 0, 0, 0 },
	{ "warn mode", { .op = "CREATE", .spec_url = OLD, .spec_sum = OLD_SUM }, 1, REVIEW_UNCHANGED,
	  NULL, NULL, 0, 2, REVIEW_WOULD_REWRITE },
	{ "warn mode withhold still warns", { .op = "UPDATE", .spec_url = OLD, .status_url = OLD }, 1,
	  REVIEW_WITHHELD, NULL, NULL, 0, 1, REVIEW_WITHHOLD },
	{ "other kind", { .op = "CREATE", .kind = "Secret", .spec_url = OLD }, 0, REVIEW_UNCHANGED, NULL,
	  NULL, 0, 0, 0 },
	{ "other group", { .op = "CREATE", .group = "example.io", .spec_url = OLD }, 0, REVIEW_UNCHANGED,
	  NULL, NULL, 0, 0, 0 },
	{ "status subresource", { .op = "UPDATE", .sub = "status", .spec_url = OLD }, 0, REVIEW_UNCHANGED,
	  NULL, NULL, 0, 0, 0 },
	{ "DELETE", { .op = "DELETE", .spec_url = OLD }, 0, REVIEW_UNCHANGED, NULL, NULL, 0, 0, 0 },
	{ "CONNECT", { .op = "CONNECT", .spec_url = OLD }, 0, REVIEW_UNCHANGED, NULL, NULL, 0, 0, 0 },
};

static void
test_cases(void)
{
	struct policy *p = policy_new(), *warn = policy_new();
	struct review_result res;
	char err[256], *text;
	json_object *ops;
	size_t i;

	policy_set_mode(warn, "warn", err, sizeof(err));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct expect *c = &cases[i];

		text = review_text(&c->req);
		if (!CHECK(review_handle(c->warn_mode ? warn : p, text, strlen(text), &res, err,
		    sizeof(err)) == 0, "%s: accepted", c->name)) {
			printf("#   %s\n", err);
			free(text);
			continue;
		}
		ops = patch_of(res.response);
		CHECK(res.outcome == c->outcome, "%s: outcome %s", c->name,
		    review_outcome_str(c->outcome));
		CHECK(nops(ops) == c->ops, "%s: %zu patch ops (got %zu)", c->name, c->ops, nops(ops));
		CHECK_STR(op_value(ops, "/spec/image/url"), c->url_to, "%s: url", c->name);
		CHECK_STR(op_value(ops, "/spec/image/checksum"), c->sum_to, "%s: checksum", c->name);
		CHECK(res.nchanges == c->changes, "%s: %zu changes (got %zu)", c->name, c->changes,
		    res.nchanges);
		if (res.nchanges > 0)
			CHECK(res.changes[0].action == c->first_action, "%s: action %s", c->name,
			    review_action_str(c->first_action));
		CHECK((strstr(res.response, "\"warnings\"") != NULL) == (c->changes > 0),
		    "%s: a warning per change", c->name);
		CHECK(strstr(res.response, "\"uid\":\"uid-1\"") != NULL, "%s: uid echoed", c->name);
		if (c->first_action == REVIEW_WITHHOLD && res.nchanges > 0)
			CHECK(strstr(res.response, "metal3/master-2") &&
			    strstr(res.response, "bmhguard repair"),
			    "%s: warning names the host and the repair command", c->name);
		json_object_put(ops);
		review_result_free(&res);
		free(text);
	}
	policy_free(p);
	policy_free(warn);
}

/* The status annotation: rewritten exactly when its rewrite equals the final spec url, the rest
 * of its text byte-identical. */
static void
test_annotation(void)
{
	static const char ann[] =
	    "{\"provisioning\":{\"state\":\"provisioned\",\"image\":{\"checksum\":\"" OLD_SUM
	    "\",\"url\":\"" OLD "\"},\"ID\":\"x\"},\"hardware\":{\"cpu\":{\"clockMegahertz\":2593.992},"
	    "\"big\":123456789012345678901234567890,\"neg\":-0,\"s\":\"caf\\u00e9 \\/ \xc3\xa9\"},"
	    "\"errorCount\":1}";
	static const char want[] =
	    "{\"provisioning\":{\"state\":\"provisioned\",\"image\":{\"checksum\":\"" NEW_SUM
	    "\",\"url\":\"" NEW "\"},\"ID\":\"x\"},\"hardware\":{\"cpu\":{\"clockMegahertz\":2593.992},"
	    "\"big\":123456789012345678901234567890,\"neg\":-0,\"s\":\"caf\\u00e9 \\/ \xc3\xa9\"},"
	    "\"errorCount\":1}";
	struct req r = { .op = "CREATE", .spec_url = OLD, .spec_sum = OLD_SUM, .annotation = ann };
	struct policy *p = policy_new();
	struct review_result res;
	json_object *ops;
	char err[256], *text;

	text = review_text(&r);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0, "annotation review");
	ops = patch_of(res.response);
	CHECK(nops(ops) == 3, "spec url, spec checksum and the annotation patched");
	CHECK_STR(op_value(ops, ANN_PATH), want, "annotation spliced, everything else byte-identical");
	json_object_put(ops);
	review_result_free(&res);
	free(text);

	/* its url would not match the stored spec: left alone */
	r.spec_url = "http://10.10.10.10/images/other.qcow2";
	text = review_text(&r);
	review_handle(p, text, strlen(text), &res, err, sizeof(err));
	ops = patch_of(res.response);
	CHECK(op_value(ops, ANN_PATH) == NULL && op_value(ops, "/spec/image/url") != NULL,
	    "annotation with another image left alone");
	json_object_put(ops);
	review_result_free(&res);
	free(text);

	/* spec withheld: the annotation must keep matching the provisioned status */
	r.op = "UPDATE";
	r.spec_url = OLD;
	r.status_url = OLD;
	text = review_text(&r);
	review_handle(p, text, strlen(text), &res, err, sizeof(err));
	ops = patch_of(res.response);
	CHECK(nops(ops) == 0 && res.outcome == REVIEW_WITHHELD, "withheld host: annotation untouched");
	json_object_put(ops);
	review_result_free(&res);
	free(text);

	/* not JSON inside: left alone, review still answered */
	r.op = "CREATE";
	r.annotation = "{not json";
	text = review_text(&r);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0,
	    "broken annotation does not reject the review");
	ops = patch_of(res.response);
	CHECK(nops(ops) == 2 && op_value(ops, ANN_PATH) == NULL, "broken annotation left alone");
	json_object_put(ops);
	review_result_free(&res);
	free(text);
	policy_free(p);
}

static void
test_rejects(void)
{
	static const char *const bad[] = {
		"", "{", "[]", "null", "{\"kind\":\"AdmissionReview\"}",
		"{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"a\"}}",
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"\"}}",
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"a\"}} x",
		"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"\xff\"}}",
	};
	struct policy *p = policy_new();
	struct review_result res;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(review_handle(p, bad[i], strlen(bad[i]), &res, err, sizeof(err)) == -1 &&
		    res.outcome == REVIEW_REJECTED && res.response == NULL && err[0] != '\0',
		    "rejected #%zu: %s", i, err);
		review_result_free(&res);
	}
	/* a uid with an escaped NUL: said so, not "no uid" */
	{
		static const char nul_uid[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
		    "\"AdmissionReview\",\"request\":{\"uid\":\"a\\u0000b\"}}";

		err[0] = '\0';
		CHECK(review_handle(p, nul_uid, strlen(nul_uid), &res, err, sizeof(err)) == -1 &&
		    strstr(err, "uid holds \\u0000") != NULL, "uid with \\u0000 named: %s", err);
		review_result_free(&res);
	}
	policy_free(p);
}

/* A URL far longer than any buffer: the audit annotation still records all of it. */
static void
test_long_url(void)
{
	struct policy *p = policy_new();
	struct review_result res;
	struct req r = { .op = "CREATE" };
	char err[256], *url = malloc(6001), *to = malloc(6001), *text;
	size_t n = strlen("http://10.10.10.10/");

	memcpy(url, "http://10.10.10.10/", n);
	memset(url + n, 'a', 6000 - n);
	url[6000] = '\0';
	snprintf(to, 6001, "http://httpd-http/%s", url + n);
	r.spec_url = url;
	text = review_text(&r);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0 &&
	    res.outcome == REVIEW_PATCHED, "6000-byte URL rewritten");
	CHECK(res.response && strstr(res.response, to) != NULL,
	    "audit annotation keeps the whole rewritten URL");
	review_result_free(&res);
	free(text);
	free(url);
	free(to);
	policy_free(p);
}

int
main(void)
{
	test_long_url();
	test_cases();
	test_annotation();
	test_rejects();
	return CHECK_DONE();
}
