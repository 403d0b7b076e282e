/* test_certs.c - src/certs.c: making, writing and checking the webhook's certificates. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs.h"
#include "check.h"

static struct certs_request
request(int days, enum certs_key_type type)
{
	struct certs_request r = { .service = "bmhguard", .namespace_ = "bmhguard-system",
	    .days = days, .key_type = type };
	return r;
}

static int
has_finding(const struct certs_report *r, int level, const char *needle)
{
	size_t i;

	for (i = 0; i < r->nfindings; i++)
		if (r->findings[i].level == level && strstr(r->findings[i].text, needle))
			return 1;
	return 0;
}

static void
dump(const struct certs_report *r)
{
	size_t i;

	for (i = 0; i < r->nfindings; i++)
		printf("#   [%d] %s\n", r->findings[i].level, r->findings[i].text);
}

static void
test_make_and_check(enum certs_key_type type, const char *want_key)
{
	static const char *const dns[] = { "webhook.example.com" };
	static const char *const ips[] = { "10.1.2.3", "fd00::7" };
	static const char *const names[] = { "webhook.example.com", "10.1.2.3", "fd00::7" };
	struct certs_request req = request(30, type);
	struct certs_check_opts o = { .service = "bmhguard", .namespace_ = "bmhguard-system",
	    .min_days = 7, .names = names, .nnames = 3 };
	struct certs_bundle b;
	struct certs_report r;
	char err[256] = "";

	req.dns = dns;
	req.ndns = 1;
	req.ips = ips;
	req.nips = 2;
	if (!CHECK(certs_make(&req, &b, err, sizeof(err)) == 0, "make %s pair (%s)", want_key, err))
		return;
	CHECK(strstr(b.ca_pem, "BEGIN CERTIFICATE") && strstr(b.cert_pem, "BEGIN CERTIFICATE") &&
	    strstr(b.key_pem, "BEGIN PRIVATE KEY"), "%s: PEM blocks present", want_key);
	CHECK(certs_check_pem(b.ca_pem, b.cert_pem, b.key_pem, &o, &r, err, sizeof(err)) == 0,
	    "%s: check parses (%s)", want_key, err);
	if (!CHECK(r.nfailed == 0, "%s: fresh pair passes every check", want_key))
		dump(&r);
	CHECK_STR(r.key_desc, want_key, "key type reported");
	CHECK(strstr(r.subject, "CN=bmhguard.bmhguard-system.svc") != NULL, "subject CN is S.N.svc: %s", r.subject);
	CHECK(r.sans && strstr(r.sans, "DNS:bmhguard, DNS:bmhguard.bmhguard-system, "
	    "DNS:bmhguard.bmhguard-system.svc, DNS:bmhguard.bmhguard-system.svc.cluster.local, "
	    "DNS:webhook.example.com, IP:10.1.2.3, IP:fd00::7"), "SANs in order: %s", r.sans ? r.sans : "");
	CHECK(r.seconds_left > 29 * 86400LL && r.seconds_left <= 30 * 86400LL + 60, "30 days left (%lld s)",
	    r.seconds_left);
	CHECK(has_finding(&r, CERTS_PASS, "serverAuth"), "%s: serverAuth EKU found", want_key);
	certs_report_free(&r);
	certs_bundle_free(&b);
}

static void
test_failures(void)
{
	struct certs_request req = request(1, CERTS_KEY_ECDSA);
	struct certs_check_opts o = { .service = "bmhguard", .namespace_ = "bmhguard-system", .min_days = 30 };
	struct certs_check_opts other = { .service = "other", .namespace_ = "bmhguard-system" };
	static const char *const ip[] = { "10.9.9.9" };
	struct certs_bundle a, b;
	struct certs_report r;
	char err[256] = "";

	if (!CHECK(certs_make(&req, &a, err, sizeof(err)) == 0 && certs_make(&req, &b, err, sizeof(err)) == 0,
	    "make two 1-day pairs (%s)", err))
		return;
	certs_check_pem(a.ca_pem, a.cert_pem, a.key_pem, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 1 && has_finding(&r, CERTS_FAIL, "within --min-days 30"),
	    "1-day certificate fails --min-days 30");
	certs_report_free(&r);
	o.min_days = 0;
	certs_check_pem(a.ca_pem, a.cert_pem, a.key_pem, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 0, "1-day certificate passes --min-days 0");
	certs_report_free(&r);

	certs_check_pem(a.ca_pem, a.cert_pem, b.key_pem, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 1 && has_finding(&r, CERTS_FAIL, "does not match"), "another pair's key: mismatch");
	certs_report_free(&r);
	certs_check_pem(b.ca_pem, a.cert_pem, a.key_pem, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 1 && has_finding(&r, CERTS_FAIL, "does not verify"), "another pair's CA: no chain");
	certs_report_free(&r);
	certs_check_pem(NULL, a.cert_pem, a.key_pem, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 1 && has_finding(&r, CERTS_FAIL, "no CA"), "missing CA: fails");
	certs_report_free(&r);
	certs_check_pem(a.cert_pem, a.ca_pem, a.key_pem, &o, &r, err, sizeof(err));
	CHECK(r.nfailed >= 2, "CA in the certificate's place: mismatch, no serverAuth");
	certs_report_free(&r);

	certs_check_pem(a.ca_pem, a.cert_pem, a.key_pem, &other, &r, err, sizeof(err));
	CHECK(r.nfailed == 1 && has_finding(&r, CERTS_FAIL, "does not cover other.bmhguard-system.svc"),
	    "other service name: not covered");
	certs_report_free(&r);
	other.service = "bmhguard";
	other.names = ip;
	other.nnames = 1;
	certs_check_pem(a.ca_pem, a.cert_pem, a.key_pem, &other, &r, err, sizeof(err));
	CHECK(r.nfailed == 1 && has_finding(&r, CERTS_FAIL, "does not cover 10.9.9.9"), "extra IP: not covered");
	certs_report_free(&r);

	CHECK(certs_check_pem(a.ca_pem, "garbage", a.key_pem, &o, &r, err, sizeof(err)) == -1,
	    "garbage certificate: error (%s)", err);
	CHECK(certs_check_pem(a.ca_pem, a.cert_pem, a.cert_pem, &o, &r, err, sizeof(err)) == -1,
	    "certificate as key: error (%s)", err);
	certs_bundle_free(&a);
	certs_bundle_free(&b);
}

static void
test_validation(void)
{
	static const struct { const char *service, *ns, *dns, *ip; int days; } bad[] = {
		{ "Bmhguard", "ns", NULL, NULL, 10 },
		{ "1abc", "ns", NULL, NULL, 10 },
		{ "svc-", "ns", NULL, NULL, 10 },
		{ "svc", "", NULL, NULL, 10 },
		{ "svc", "ns.x", NULL, NULL, 10 },
		{ "svc", "ns", NULL, NULL, 0 },
		{ "svc", "ns", NULL, NULL, CERTS_MAX_DAYS + 1 },
		{ "svc", "ns", "a,DNS:evil.example", NULL, 10 },
		{ "svc", "ns", "a..b", NULL, 10 },
		{ "svc", "ns", "-a.b", NULL, 10 },
		{ "svc", "ns", "a.*.b", NULL, 10 },
		{ "svc", "ns", NULL, "10.0.0", 10 },
		{ "svc", "ns", NULL, "fd00:::1", 10 },
		{ "svc", "ns", NULL, "10.0.0.1/24", 10 },
	};
	struct certs_request req;
	struct certs_bundle b;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req = request(bad[i].days, CERTS_KEY_ECDSA);
		req.service = bad[i].service;
		req.namespace_ = bad[i].ns;
		req.dns = &bad[i].dns;
		req.ndns = bad[i].dns != NULL;
		req.ips = &bad[i].ip;
		req.nips = bad[i].ip != NULL;
		err[0] = '\0';
		CHECK(certs_make(&req, &b, err, sizeof(err)) == -1 && err[0] && !b.ca_pem,
		    "refused: service=%s ns=%s dns=%s ip=%s days=%d (%s)", bad[i].service, bad[i].ns,
		    bad[i].dns ? bad[i].dns : "-", bad[i].ip ? bad[i].ip : "-", bad[i].days, err);
	}
	CHECK(certs_check_dns_name("*.example.com", err, sizeof(err)) == 0, "wildcard DNS name accepted");
	CHECK(certs_check_dns_name("Upper.Example.COM", err, sizeof(err)) == 0, "upper case accepted");
}

static mode_t
mode_of(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? (st.st_mode & 07777) : (mode_t)-1;
}

static void
test_write(void)
{
	struct certs_request req = request(10, CERTS_KEY_ECDSA);
	struct certs_check_opts o = { .min_days = 1 };
	struct certs_bundle a, b;
	struct certs_report r;
	char tmpl[] = "/tmp/test_certs.XXXXXX", dir[PATH_MAX], err[256] = "";
	const char *base = mkdtemp(tmpl);

	if (!CHECK(base != NULL, "temporary directory") ||
	    !CHECK(certs_make(&req, &a, err, sizeof(err)) == 0 && certs_make(&req, &b, err, sizeof(err)) == 0,
	    "make two pairs"))
		return;
	snprintf(dir, sizeof(dir), "%s/out", base);
	umask(0);	/* the modes must not depend on the caller's umask */
	CHECK(certs_write_dir(dir, &a, 0, err, sizeof(err)) == 0, "write into a new directory (%s)", err);
	CHECK(mode_of(dir, "tls.key") == 0600, "tls.key is 0600 (%o)", (unsigned)mode_of(dir, "tls.key"));
	CHECK(mode_of(dir, "tls.crt") == 0644 && mode_of(dir, "ca.crt") == 0644, "certificates are 0644");
	CHECK(certs_write_dir(dir, &b, 0, err, sizeof(err)) == -1 && strstr(err, "--force"),
	    "second write without force refused (%s)", err);
	certs_check_dir(dir, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 0, "refused write left the first pair intact");
	certs_report_free(&r);
	CHECK(certs_write_dir(dir, &b, 1, err, sizeof(err)) == 0, "write with force (%s)", err);
	CHECK(mode_of(dir, "tls.key") == 0600, "replaced tls.key is 0600");
	certs_check_dir(dir, &o, &r, err, sizeof(err));
	CHECK(r.nfailed == 0, "forced pair checks out");
	certs_report_free(&r);
	snprintf(dir, sizeof(dir), "%s/no/such/parent", base);
	CHECK(certs_write_dir(dir, &a, 0, err, sizeof(err)) == -1, "missing parent: error (%s)", err);
	CHECK(certs_check_dir(dir, &o, &r, err, sizeof(err)) == -1, "check of a missing directory: error (%s)", err);
	umask(022);
	snprintf(dir, sizeof(dir), "rm -rf '%s'", base);
	if (system(dir) != 0)
		printf("# could not remove %s\n", base);
	certs_bundle_free(&a);
	certs_bundle_free(&b);
}

int
main(void)
{
	test_make_and_check(CERTS_KEY_ECDSA, "ECDSA P-256");
	test_make_and_check(CERTS_KEY_RSA, "RSA 2048");
	test_failures();
	test_validation();
	test_write();
	return CHECK_DONE();
}
