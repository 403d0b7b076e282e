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

/* Another kind's review: object and oldObject as JSON text (old NULL: none). Caller frees. */
static char *
kind_review(const char *group, const char *version, const char *kind, const char *op,
    const char *sub, const char *object, const char *old)
{
	char *out;

	if (asprintf(&out, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"uid-1\",\"kind\":{\"group\":\"%s\",\"version\":\"%s\","
	    "\"kind\":\"%s\"},%s%s%s\"name\":\"w0\",\"namespace\":\"metal3\",\"operation\":\"%s\","
	    "\"object\":%s%s%s}}", group, version, kind, sub ? "\"subResource\":\"" : "",
	    sub ? sub : "", sub ? "\"," : "", op, object, old ? ",\"oldObject\":" : "",
	    old ? old : "") < 0)
		return NULL;
	return out;
}

#define CAPM3 "infrastructure.cluster.x-k8s.io"
#define MD "\"metadata\":{\"name\":\"w0\",\"namespace\":\"metal3\"}"
#define MD_OPTOUT "\"metadata\":{\"name\":\"w0\",\"annotations\":{\"bmhguard.io/rewrite\":\"disabled\"}}"
#define TEMPLATE(url, sum) "{\"kind\":\"Metal3MachineTemplate\"," MD ",\"spec\":{\"template\":" \
	"{\"spec\":{\"image\":{\"url\":\"" url "\",\"checksum\":\"" sum "\",\"checksumType\":" \
	"\"sha256\"}}}}}"
#define MACHINE(url, sum) "{\"kind\":\"Metal3Machine\"," MD ",\"spec\":{\"image\":{\"url\":\"" url \
	"\",\"checksum\":\"" sum "\"}},\"status\":{\"ready\":true}}"
#define DATAIMAGE(url, attached) "{\"kind\":\"DataImage\"," MD ",\"spec\":{\"url\":\"" url "\"}," \
	"\"status\":{\"attachedImage\":{\"url\":\"" attached "\"}}}"
#define FW_BMC "http://10.0.0.1/fw/bmc.bin"
#define FW_BIOS "http://10.0.0.1/fw/bios.bin"
#define FIRMWARE(status) "{\"kind\":\"HostFirmwareComponents\"," MD ",\"spec\":{\"updates\":[" \
	"{\"component\":\"bmc\",\"url\":\"" FW_BMC "\"},{\"component\":\"bios\",\"url\":\"" FW_BIOS \
	"\"}]},\"status\":{\"updates\":[" status "]}}"
#define APPLIED(c, u) "{\"component\":\"" c "\",\"url\":\"" u "\"}"

struct kind_case {
	const char *name;
	const char *group, *version, *kind, *op, *sub, *object, *old;
	int warn_mode;
	enum review_outcome outcome;
	const char *path1, *value1, *path2, *value2;	/* expected ops (NULL: none) */
	size_t ops, changes;
	const char *warning;	/* a warning must contain this (NULL: not checked) */
};

static const struct kind_case kind_cases[] = {
	{ "Metal3MachineTemplate CREATE: url and checksum", CAPM3, "v1beta2",
	  "Metal3MachineTemplate", "CREATE", NULL, TEMPLATE(OLD, OLD_SUM), NULL, 0, REVIEW_PATCHED,
	  "/spec/template/spec/image/url", NEW, "/spec/template/spec/image/checksum", NEW_SUM, 2, 2,
	  "metal3/w0 spec.template.spec.image.url: host 10.10.10.10 -> httpd-http" },
	{ "Metal3MachineTemplate v1beta1 UPDATE: rewritten (no host reads it again)", CAPM3,
	  "v1beta1", "Metal3MachineTemplate", "UPDATE", NULL, TEMPLATE(OLD, OLD_SUM),
	  TEMPLATE(OLD, OLD_SUM), 0, REVIEW_PATCHED, "/spec/template/spec/image/url", NEW,
	  "/spec/template/spec/image/checksum", NEW_SUM, 2, 2, NULL },
	{ "Metal3MachineTemplate digest checksum left alone", CAPM3, "v1beta2",
	  "Metal3MachineTemplate", "CREATE", NULL, TEMPLATE(OLD, "97830b21ed272a3d854615beb54cf004"),
	  NULL, 0, REVIEW_PATCHED, "/spec/template/spec/image/url", NEW,
	  "/spec/template/spec/image/checksum", NULL, 1, 1, NULL },
	{ "Metal3MachineTemplate already a name", CAPM3, "v1beta2", "Metal3MachineTemplate", "UPDATE",
	  NULL, TEMPLATE(NEW, NEW_SUM), TEMPLATE(OLD, OLD_SUM), 0, REVIEW_UNCHANGED, NULL, NULL, NULL,
	  NULL, 0, 0, NULL },
	{ "Metal3MachineTemplate warn mode", CAPM3, "v1beta2", "Metal3MachineTemplate", "CREATE", NULL,
	  TEMPLATE(OLD, OLD_SUM), NULL, 1, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL, 0, 2,
	  "(warn mode): metal3/w0 spec.template.spec.image.url: would rewrite" },
	{ "Metal3MachineTemplate opt-out", CAPM3, "v1beta2", "Metal3MachineTemplate", "CREATE", NULL,
	  "{\"kind\":\"Metal3MachineTemplate\"," MD_OPTOUT ",\"spec\":{\"template\":{\"spec\":"
	  "{\"image\":{\"url\":\"" OLD "\"}}}}}", NULL, 0, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL,
	  0, 0, NULL },
	{ "Metal3Machine CREATE", CAPM3, "v1beta2", "Metal3Machine", "CREATE", NULL,
	  MACHINE(OLD, OLD_SUM), NULL, 0, REVIEW_PATCHED, "/spec/image/url", NEW,
	  "/spec/image/checksum", NEW_SUM, 2, 2, "metal3/w0 spec.image.url: host 10.10.10.10" },
	{ "Metal3Machine UPDATE: rewritten (the host's spec.image is set only while nil)", CAPM3,
	  "v1beta1", "Metal3Machine", "UPDATE", NULL, MACHINE(OLD, OLD_SUM), MACHINE(OLD, OLD_SUM), 0,
	  REVIEW_PATCHED, "/spec/image/url", NEW, "/spec/image/checksum", NEW_SUM, 2, 2, NULL },
	{ "Metal3Machine status subresource", CAPM3, "v1beta2", "Metal3Machine", "UPDATE", "status",
	  MACHINE(OLD, OLD_SUM), MACHINE(OLD, OLD_SUM), 0, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL,
	  0, 0, NULL },
	{ "Metal3Cluster: not a kind of ours", CAPM3, "v1beta2", "Metal3Cluster", "CREATE", NULL,
	  MACHINE(OLD, OLD_SUM), NULL, 0, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL, 0, 0, NULL },
	{ "Metal3Machine in metal3.io: not a kind of ours", "metal3.io", "v1alpha1", "Metal3Machine",
	  "CREATE", NULL, MACHINE(OLD, OLD_SUM), NULL, 0, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL, 0,
	  0, NULL },
	{ "DataImage CREATE", "metal3.io", "v1alpha1", "DataImage", "CREATE", NULL,
	  "{\"kind\":\"DataImage\"," MD ",\"spec\":{\"url\":\"" OLD "\"}}", NULL, 0, REVIEW_PATCHED,
	  "/spec/url", NEW, NULL, NULL, 1, 1, "metal3/w0 spec.url: host 10.10.10.10 -> httpd-http" },
	{ "DataImage UPDATE, the literal attached now (withhold)", "metal3.io", "v1alpha1",
	  "DataImage", "UPDATE", NULL, DATAIMAGE(OLD, OLD), DATAIMAGE(OLD, OLD), 0, REVIEW_WITHHELD,
	  "/spec/url", NULL, NULL, NULL, 0, 1,
	  "metal3/w0 spec.url kept on 10.10.10.10 (rewriting would re-attach it); detach it first" },
	{ "DataImage UPDATE, another image attached (rewrite)", "metal3.io", "v1alpha1", "DataImage",
	  "UPDATE", NULL, DATAIMAGE(OLD, "http://10.10.10.10/other.iso"),
	  DATAIMAGE(OLD, "http://10.10.10.10/other.iso"), 0, REVIEW_PATCHED, "/spec/url", NEW, NULL,
	  NULL, 1, 1, NULL },
	{ "DataImage UPDATE, the rewrite attached already (rewrite)", "metal3.io", "v1alpha1",
	  "DataImage", "UPDATE", NULL, DATAIMAGE(OLD, NEW), DATAIMAGE(OLD, NEW), 0, REVIEW_PATCHED,
	  "/spec/url", NEW, NULL, NULL, 1, 1, NULL },
	{ "DataImage UPDATE decided on oldObject, not the incoming status", "metal3.io", "v1alpha1",
	  "DataImage", "UPDATE", NULL, DATAIMAGE(OLD, NEW), DATAIMAGE(OLD, OLD), 0, REVIEW_WITHHELD,
	  "/spec/url", NULL, NULL, NULL, 0, 1, NULL },
	{ "DataImage UPDATE without oldObject: object's status attached (withhold)", "metal3.io",
	  "v1alpha1", "DataImage", "UPDATE", NULL, DATAIMAGE(OLD, OLD), NULL, 0, REVIEW_WITHHELD,
	  "/spec/url", NULL, NULL, NULL, 0, 1, NULL },
	{ "DataImage warn mode withhold still warns", "metal3.io", "v1alpha1", "DataImage", "UPDATE",
	  NULL, DATAIMAGE(OLD, OLD), DATAIMAGE(OLD, OLD), 1, REVIEW_WITHHELD, NULL, NULL, NULL, NULL,
	  0, 1, "kept on 10.10.10.10" },
	{ "DataImage DELETE", "metal3.io", "v1alpha1", "DataImage", "DELETE", NULL,
	  DATAIMAGE(OLD, OLD), NULL, 0, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL, 0, 0, NULL },
	{ "HostFirmwareComponents CREATE: every update", "metal3.io", "v1alpha1",
	  "HostFirmwareComponents", "CREATE", NULL, FIRMWARE(""), NULL, 0, REVIEW_PATCHED,
	  "/spec/updates/0/url", "http://httpd-http/fw/bmc.bin", "/spec/updates/1/url",
	  "http://httpd-http/fw/bios.bin", 2, 2,
	  "metal3/w0 spec.updates[1].url (bios): host 10.0.0.1 -> httpd-http" },
	{ "HostFirmwareComponents UPDATE, bmc applied from the literal (withhold bmc only)",
	  "metal3.io", "v1alpha1", "HostFirmwareComponents", "UPDATE", NULL,
	  FIRMWARE(APPLIED("bmc", FW_BMC)), FIRMWARE(APPLIED("bmc", FW_BMC)), 0, REVIEW_WITHHELD,
	  "/spec/updates/0/url", NULL, "/spec/updates/1/url", "http://httpd-http/fw/bios.bin", 1, 2,
	  "metal3/w0 spec.updates[0].url (bmc) kept on 10.0.0.1 (rewriting would flash it again)" },
	{ "HostFirmwareComponents UPDATE, bmc applied from another url (rewrite)", "metal3.io",
	  "v1alpha1", "HostFirmwareComponents", "UPDATE", NULL,
	  FIRMWARE(APPLIED("bmc", "http://10.0.0.1/fw/old-bmc.bin")),
	  FIRMWARE(APPLIED("bmc", "http://10.0.0.1/fw/old-bmc.bin")), 0, REVIEW_PATCHED,
	  "/spec/updates/0/url", "http://httpd-http/fw/bmc.bin", "/spec/updates/1/url",
	  "http://httpd-http/fw/bios.bin", 2, 2, NULL },
	{ "HostFirmwareComponents UPDATE, the url applied to another component (rewrite)",
	  "metal3.io", "v1alpha1", "HostFirmwareComponents", "UPDATE", NULL,
	  FIRMWARE(APPLIED("nic", FW_BMC)), FIRMWARE(APPLIED("nic", FW_BMC)), 0, REVIEW_PATCHED,
	  "/spec/updates/0/url", "http://httpd-http/fw/bmc.bin", NULL, NULL, 2, 2, NULL },
	{ "HostFirmwareComponents UPDATE decided on oldObject's status", "metal3.io", "v1alpha1",
	  "HostFirmwareComponents", "UPDATE", NULL, FIRMWARE(""), FIRMWARE(APPLIED("bios", FW_BIOS)),
	  0, REVIEW_WITHHELD, "/spec/updates/0/url", "http://httpd-http/fw/bmc.bin",
	  "/spec/updates/1/url", NULL, 1, 2, "(bios) kept on 10.0.0.1" },
	{ "HostFirmwareComponents UPDATE without oldObject: object's status (withhold)", "metal3.io",
	  "v1alpha1", "HostFirmwareComponents", "UPDATE", NULL,
	  FIRMWARE(APPLIED("bmc", FW_BMC) "," APPLIED("bios", FW_BIOS)), NULL, 0, REVIEW_WITHHELD,
	  "/spec/updates/0/url", NULL, "/spec/updates/1/url", NULL, 0, 2, NULL },
	{ "HostFirmwareComponents CREATE with a recorded status: rewritten", "metal3.io", "v1alpha1",
	  "HostFirmwareComponents", "CREATE", NULL, FIRMWARE(APPLIED("bmc", FW_BMC)), NULL, 0,
	  REVIEW_PATCHED, "/spec/updates/0/url", "http://httpd-http/fw/bmc.bin", NULL, NULL, 2, 2,
	  NULL },
	{ "HostFirmwareComponents warn mode", "metal3.io", "v1alpha1", "HostFirmwareComponents",
	  "CREATE", NULL, FIRMWARE(""), NULL, 1, REVIEW_UNCHANGED, NULL, NULL, NULL, NULL, 0, 2,
	  "would rewrite 10.0.0.1 -> httpd-http" },
	{ "HostFirmwareComponents opt-out", "metal3.io", "v1alpha1", "HostFirmwareComponents",
	  "CREATE", NULL, "{\"kind\":\"HostFirmwareComponents\"," MD_OPTOUT ",\"spec\":{\"updates\":"
	  "[{\"component\":\"bmc\",\"url\":\"" FW_BMC "\"}]}}", NULL, 0, REVIEW_UNCHANGED, NULL, NULL,
	  NULL, NULL, 0, 0, NULL },
	{ "HostFirmwareComponents odd elements skipped, the rest rewritten", "metal3.io", "v1alpha1",
	  "HostFirmwareComponents", "CREATE", NULL, "{\"kind\":\"HostFirmwareComponents\"," MD
	  ",\"spec\":{\"updates\":[{\"component\":\"bmc\",\"url\":7},\"x\",null,{\"component\":"
	  "\"bios\",\"url\":\"" FW_BIOS "\"},{\"url\":\"http://10.0.0.1/a\\u0000b\"}]}}", NULL, 0,
	  REVIEW_PATCHED, "/spec/updates/3/url", "http://httpd-http/fw/bios.bin", "/spec/updates/0/url",
	  NULL, 1, 1, NULL },
	{ "HostFirmwareComponents updates not an array", "metal3.io", "v1alpha1",
	  "HostFirmwareComponents", "CREATE", NULL, "{\"kind\":\"HostFirmwareComponents\"," MD
	  ",\"spec\":{\"updates\":{\"url\":\"" FW_BMC "\"}}}", NULL, 0, REVIEW_UNCHANGED, NULL, NULL,
	  NULL, NULL, 0, 0, NULL },
};

static void
test_kinds(void)
{
	struct policy *p = policy_new(), *warn = policy_new();
	struct review_result res;
	char err[256], *text;
	json_object *ops;
	size_t i;

	policy_set_mode(warn, "warn", err, sizeof(err));
	for (i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
		const struct kind_case *c = &kind_cases[i];

		text = kind_review(c->group, c->version, c->kind, c->op, c->sub, c->object, c->old);
		if (!CHECK(text && review_handle(c->warn_mode ? warn : p, text, strlen(text), &res,
		    err, sizeof(err)) == 0, "%s: accepted", c->name)) {
			printf("#   %s\n", err);
			free(text);
			continue;
		}
		ops = patch_of(res.response);
		CHECK(res.outcome == c->outcome, "%s: outcome %s (got %s)", c->name,
		    review_outcome_str(c->outcome), review_outcome_str(res.outcome));
		CHECK(nops(ops) == c->ops, "%s: %zu patch ops (got %zu)", c->name, c->ops, nops(ops));
		if (c->path1)
			CHECK_STR(op_value(ops, c->path1), c->value1, "%s: %s", c->name, c->path1);
		if (c->path2)
			CHECK_STR(op_value(ops, c->path2), c->value2, "%s: %s", c->name, c->path2);
		CHECK(res.nchanges == c->changes, "%s: %zu changes (got %zu)", c->name, c->changes,
		    res.nchanges);
		CHECK((strstr(res.response, "\"warnings\"") != NULL) == (c->changes > 0),
		    "%s: a warning per change", c->name);
		if (c->warning && !CHECK(strstr(res.response, c->warning) != NULL,
		    "%s: warning says \"%s\"", c->name, c->warning))
			printf("#   %s\n", res.response);
		json_object_put(ops);
		review_result_free(&res);
		free(text);
	}
	policy_free(p);
	policy_free(warn);
}

/* A list kind is read up to its bound: 40 literal firmware urls get 32 ops, the rest stay. */
static void
test_list_bound(void)
{
	struct policy *p = policy_new();
	struct review_result res;
	char err[256], *text, *obj, *last;
	size_t n = 0, i, cap = 64 + 40 * 64;
	json_object *ops;

	obj = malloc(cap);
	n += (size_t)snprintf(obj + n, cap - n, "{\"kind\":\"HostFirmwareComponents\"," MD
	    ",\"spec\":{\"updates\":[");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(obj + n, cap - n, "%s{\"component\":\"nic%zu\",\"url\":"
		    "\"http://10.0.0.1/fw/%zu.bin\"}", i ? "," : "", i, i);
	snprintf(obj + n, cap - n, "]}}");
	text = kind_review("metal3.io", "v1alpha1", "HostFirmwareComponents", "CREATE", NULL, obj,
	    NULL);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0 &&
	    res.outcome == REVIEW_PATCHED, "40 firmware updates: patched");
	ops = patch_of(res.response);
	CHECK(nops(ops) == 32 && res.nchanges == 32, "the first 32 rewritten (got %zu)", nops(ops));
	last = NULL;
	CHECK_STR(op_value(ops, "/spec/updates/31/url"), "http://httpd-http/fw/31.bin",
	    "element 31 rewritten");
	CHECK_STR(op_value(ops, "/spec/updates/32/url"), last, "element 32 left as it is");
	json_object_put(ops);
	review_result_free(&res);
	free(text);
	free(obj);
	policy_free(p);
}

/* A list over its byte bound is not read (its json-c tree would be the request's to size): left
 * as it is; so is a list whose status list is over it (what could withhold is unread). */
static void
test_list_oversize(void)
{
	struct policy *p = policy_new();
	struct review_result res;
	char err[256] = "", *text, *pad, *obj, *small;
	size_t n = 70 << 10;

	pad = malloc(n + 1);
	memset(pad, 'x', n);
	pad[n] = '\0';
	if (asprintf(&obj, "{\"kind\":\"HostFirmwareComponents\"," MD ",\"spec\":{\"updates\":["
	    "{\"component\":\"%s\",\"url\":\"" FW_BMC "\"}]}}", pad) < 0 ||
	    asprintf(&small, "{\"kind\":\"HostFirmwareComponents\"," MD ",\"spec\":{\"updates\":["
	    "{\"component\":\"bmc\",\"url\":\"" FW_BMC "\"}]},\"status\":{\"updates\":["
	    "{\"component\":\"%s\",\"url\":\"" FW_BMC "\"}]}}", pad) < 0)
		return;
	text = kind_review("metal3.io", "v1alpha1", "HostFirmwareComponents", "CREATE", NULL, obj,
	    NULL);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0 &&
	    res.outcome == REVIEW_UNCHANGED && res.nchanges == 0, "70 KiB spec.updates: left alone");
	review_result_free(&res);
	free(text);
	text = kind_review("metal3.io", "v1alpha1", "HostFirmwareComponents", "UPDATE", NULL, small,
	    small);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0 &&
	    res.outcome == REVIEW_UNCHANGED && res.nchanges == 0,
	    "70 KiB status.updates: nothing rewritten unchecked");
	review_result_free(&res);
	free(text);
	/* the same small list beside megabytes of "{}" elsewhere: read, rewritten */
	free(pad);
	n = 4 << 20;
	pad = malloc(n + 1);
	for (size_t i = 0; i + 3 <= n; i += 3)
		memcpy(pad + i, "{},", 3);
	memcpy(pad + n - n % 3 - 3, "{} ", 3);
	pad[n - n % 3] = '\0';
	free(obj);
	if (asprintf(&obj, "{\"kind\":\"HostFirmwareComponents\"," MD ",\"x\":[%s],\"spec\":"
	    "{\"updates\":[{\"component\":\"bmc\",\"url\":\"" FW_BMC "\"}]}}", pad) < 0)
		return;
	text = kind_review("metal3.io", "v1alpha1", "HostFirmwareComponents", "CREATE", NULL, obj,
	    NULL);
	CHECK(review_handle(p, text, strlen(text), &res, err, sizeof(err)) == 0 &&
	    res.outcome == REVIEW_PATCHED && res.nchanges == 1,
	    "4 MiB of {} beside spec.updates: the list alone is read and rewritten (%s)", err);
	review_result_free(&res);
	free(text);
	free(obj);
	free(small);
	free(pad);
	policy_free(p);
}

/* Metric labels: a host's stay as they were; every field has its own. */
static void
test_labels(void)
{
	size_t i, j;

	CHECK_STR(review_field_label(REVIEW_SPEC_URL), "spec_image_url", "host url label kept");
	CHECK_STR(review_field_label(REVIEW_SPEC_CHECKSUM), "spec_image_checksum",
	    "host checksum label kept");
	CHECK_STR(review_field_label(REVIEW_ANNOTATION_URL), "status_annotation_url",
	    "annotation url label kept");
	CHECK_STR(review_field_label(REVIEW_ANNOTATION_CHECKSUM), "status_annotation_checksum",
	    "annotation checksum label kept");
	for (i = 0; i < REVIEW_FIELD_COUNT; i++) {
		int distinct = strcmp(review_field_label((enum review_field)i), "unknown") != 0 &&
		    strcmp(review_field_str((enum review_field)i), "unknown") != 0;

		for (j = 0; j < i; j++)
			distinct = distinct && strcmp(review_field_label((enum review_field)i),
			    review_field_label((enum review_field)j)) != 0;
		CHECK(distinct, "field %zu: its own label %s", i,
		    review_field_label((enum review_field)i));
	}
}

int
main(void)
{
	test_long_url();
	test_cases();
	test_annotation();
	test_rejects();
	test_kinds();
	test_list_bound();
	test_list_oversize();
	test_labels();
	return CHECK_DONE();
}
