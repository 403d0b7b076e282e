/* test_policy.c - rewrite rules, flag parsing and narrowing in src/policy.c. */
#include <stdlib.h>

#include "check.h"
#include "policy.h"

struct rw_case {
	const char *url;
	enum policy_verdict verdict;
	const char *out;
};

static void
run_cases(struct policy *p, const char *label, const struct rw_case *cases, size_t n)
{
	enum policy_verdict v;
	char *out, *again;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!CHECK(policy_rewrite(p, cases[i].url, &out, &v) == 0, "%s: %s no error", label,
		    cases[i].url ? cases[i].url : "(null)"))
			continue;
		if (!CHECK(v == cases[i].verdict, "%s: %s -> %s", label,
		    cases[i].url ? cases[i].url : "(null)", policy_verdict_str(cases[i].verdict)))
			printf("#   got %s\n", policy_verdict_str(v));
		CHECK_STR(out, cases[i].out, "%s: %s output", label,
		    cases[i].url ? cases[i].url : "(null)");
		if (out != NULL) {
			/* idempotent: the rewritten URL names the target, which is not an IP */
			policy_rewrite(p, out, &again, &v);
			CHECK(v == POLICY_NOT_LITERAL && again == NULL, "%s: rewrite of %s is a no-op",
			    label, out);
			free(again);
		}
		free(out);
	}
}

static const struct rw_case default_cases[] = {
	{ "http://10.10.10.10/images/a.qcow2", POLICY_REWRITE, "http://httpd-http/images/a.qcow2" },
	{ "http://10.10.10.10:8080/images/a.qcow2", POLICY_REWRITE, "http://httpd-http/images/a.qcow2" },
	{ "https://[fd00::5]:443/a?b#c", POLICY_REWRITE, "https://httpd-http/a?b#c" },
	{ "http://admin:s3cr%40t@10.0.0.1/a", POLICY_REWRITE, "http://admin:s3cr%40t@httpd-http/a" },
	{ "http://10.1./a", POLICY_REWRITE, "http://httpd-http/a" },
	{ "HTTP://168430090/A%20b", POLICY_REWRITE, "HTTP://httpd-http/A%20b" },
	{ "http://httpd-http/images/a", POLICY_NOT_LITERAL, NULL },
	{ "http://10.10.10.10.nip.io/a", POLICY_NOT_LITERAL, NULL },
	{ "ftp://10.0.0.1/a", POLICY_OTHER_SCHEME, NULL },
	{ "97830b21ed272a3d854615beb54cf004", POLICY_UNPARSEABLE, NULL },
	{ "", POLICY_EMPTY, NULL },
	{ NULL, POLICY_EMPTY, NULL },
};

static const struct rw_case narrow_cases[] = {
	{ "http://10.10.10.10/images/a", POLICY_REWRITE, "http://httpd-http:6180/images/a" },
	{ "http://10.10.10.10:80/images/a", POLICY_REWRITE, "http://httpd-http:6180/images/a" },
	{ "http://[fd00::1]/images/a", POLICY_REWRITE, "http://httpd-http:6180/images/a" },
	{ "http://192.168.0.1/images/a", POLICY_OUTSIDE_CIDR, NULL },
	{ "http://[fe80::1]/images/a", POLICY_OUTSIDE_CIDR, NULL },
	{ "http://10.10.10.10/other/a", POLICY_OUTSIDE_PREFIX, NULL },
	{ "http://10.10.10.10/imagesX", POLICY_OUTSIDE_PREFIX, NULL },
	{ "http://10.10.10.10", POLICY_OUTSIDE_PREFIX, NULL },
};

static void
test_flags(void)
{
	char *argv[] = { "x", "--target-host", "httpd-http:6180", "--match-cidr=10.0.0.0/8",
	    "--match-cidr", "fd00::/8", "--path-prefix", "/images/", "--mode=warn" };
	char *bad_mode[] = { "x", "--mode" }, *bad_cidr[] = { "x", "--match-cidr", "10.0.0.0/33" };
	struct policy *p = policy_new();
	struct opts_group g = policy_opts(p);
	char err[256] = "";

	CHECK(policy_mode(p) == POLICY_ENFORCE, "default mode is enforce");
	CHECK_STR(policy_target(p), "httpd-http", "default target");
	CHECK(g.nrows == 4 && g.title != NULL, "policy_opts: the four rewrite flags under a title");
	CHECK(opts_parse(&g, 1, (int)OPTS_NROWS(argv), argv, NULL, NULL, err, sizeof(err)) ==
	    OPTS_OK, "every rewrite flag parses through the option table: %s", err);
	CHECK_STR(policy_target(p), "httpd-http:6180", "--target-host VALUE stored");
	CHECK(policy_mode(p) == POLICY_WARN, "--mode=warn stored");
	CHECK(opts_seen(&g, 1, "match-cidr") == 2, "--match-cidr given twice, both kept");
	CHECK(opts_parse(&g, 1, 2, bad_mode, NULL, NULL, err, sizeof(err)) == OPTS_ERROR &&
	    strstr(err, "--mode") != NULL, "--mode without value: error names the flag: %s", err);
	CHECK(opts_parse(&g, 1, 3, bad_cidr, NULL, NULL, err, sizeof(err)) == OPTS_ERROR &&
	    strstr(err, "--match-cidr") != NULL, "bad CIDR: the setter's error: %s", err);
	policy_set_mode(p, "enforce", err, sizeof(err));
	run_cases(p, "narrowed", narrow_cases, sizeof(narrow_cases) / sizeof(narrow_cases[0]));
	policy_free(p);
}

static void
test_bad_values(void)
{
	struct policy *p = policy_new();
	char err[256];
	const char *bad_targets[] = { "", "10.0.0.1", "[fd00::1]", "http://x", "a/b", "a b",
	    "u@host", "host:99999", "host:x" };
	const char *bad_cidrs[] = { "", "10.0.0.0/33", "host/8", "10.0.0.0/", "::/200" };
	size_t i;

	for (i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
		err[0] = '\0';
		CHECK(policy_set_target(p, bad_targets[i], err, sizeof(err)) == -1 && err[0],
		    "target '%s' refused (%s)", bad_targets[i], err);
	}
	CHECK_STR(policy_target(p), "httpd-http", "refused targets leave the default");
	for (i = 0; i < sizeof(bad_cidrs) / sizeof(bad_cidrs[0]); i++)
		CHECK(policy_add_cidr(p, bad_cidrs[i], err, sizeof(err)) == -1,
		    "cidr '%s' refused", bad_cidrs[i]);
	CHECK(policy_set_path_prefix(p, "images", err, sizeof(err)) == -1, "prefix needs a /");
	CHECK(policy_set_mode(p, "audit", err, sizeof(err)) == -1, "unknown mode refused");
	CHECK(policy_set_target(p, "images.example.com:8080", err, sizeof(err)) == 0,
	    "name:port accepted");
	policy_free(p);
}

int
main(void)
{
	struct policy *p = policy_new();

	run_cases(p, "default", default_cases, sizeof(default_cases) / sizeof(default_cases[0]));
	policy_free(p);
	test_flags();
	test_bad_values();
	return CHECK_DONE();
}
