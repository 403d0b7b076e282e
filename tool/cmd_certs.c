/* cmd_certs.c - 'bmhguard certs': make the webhook's CA and serving pair, or check an existing one. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "codec.h"
#include "commands.h"

static const char certs_usage[] =
    "usage: bmhguard certs --service S --namespace N --out DIR [--days D] [--key-type ecdsa|rsa]\n"
    "                      [--dns NAME]... [--ip ADDR]... [--force]\n"
    "       bmhguard certs --check DIR [--service S --namespace N] [--min-days D]\n"
    "                      [--dns NAME]... [--ip ADDR]...\n"
    "\n"
    "Make a CA and a serving certificate for the webhook Service, or check an existing pair.\n"
    "\n"
    "Making (writes DIR/ca.crt, DIR/tls.crt, DIR/tls.key; prints the caBundle on stdout):\n"
    "  --service S        the webhook's Service name (required)\n"
    "  --namespace N      the Service's namespace (required); the certificate names\n"
    "                     S, S.N, S.N.svc and S.N.svc.cluster.local\n"
    "  --out DIR          directory for the files (created if its parent exists);\n"
    "                     tls.key is written with mode 0600\n"
    "  --days D           validity of the CA and the certificate, 1..3650 (default 365)\n"
    "  --key-type T       ecdsa (P-256, default) or rsa (2048 bits)\n"
    "  --dns NAME         an extra DNS name in the certificate (repeatable)\n"
    "  --ip ADDR          an extra IP address in the certificate (repeatable)\n"
    "  --force            replace existing files (otherwise refuses to overwrite)\n"
    "\n"
    "Checking (prints subject, names, expiry and each verified property):\n"
    "  --check DIR        check DIR/tls.crt, DIR/tls.key and DIR/ca.crt: the key matches,\n"
    "                     ca.crt verifies the certificate for serverAuth, it is valid now\n"
    "  --service S, --namespace N\n"
    "                     also require the name the API server dials, S.N.svc\n"
    "  --min-days D       fail when fewer than D days of validity remain (default 30)\n"
    "  --dns NAME, --ip ADDR\n"
    "                     also require these names to be covered (repeatable)\n"
    "\n"
    "  -h, --help         this text\n"
    "\n"
    "The CA's private key is never written: rotating means making a new pair and updating\n"
    "both the Secret and the webhook's caBundle (see certs/README.md).\n"
    "exit codes: 0 ok, 1 the check found a problem or writing failed, 2 usage or unreadable input\n";

struct certs_args {
	const char *service, *namespace_, *out, *check;
	const char *dns[CERTS_MAX_EXTRA], *ips[CERTS_MAX_EXTRA];
	size_t ndns, nips;
	int days, min_days, force, help;
	int days_set, min_days_set, key_type_set;
	enum certs_key_type key_type;
};

/* "--flag VALUE" or "--flag=VALUE": 1 and *val when argv[*i] is flag, 0 when it is another
 * flag, -1 when the value is missing. */
static int
flag_value(const char *flag, int argc, char **argv, int *i, const char **val)
{
	size_t n = strlen(flag);
	const char *a = argv[*i];

	if (strncmp(a, flag, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "bmhguard certs: %s needs a value\n", flag);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

static int
parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi) {
		fprintf(stderr, "bmhguard certs: %s '%s': want a whole number %d..%d\n", flag, s, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int
add_extra(const char **list, size_t *n, const char *flag, const char *v)
{
	if (*n >= CERTS_MAX_EXTRA) {
		fprintf(stderr, "bmhguard certs: at most %d %s flags\n", CERTS_MAX_EXTRA, flag);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

/* One flag at argv[*i]; 0 ok, -1 usage error (already reported). */
static int
parse_one(struct certs_args *a, int argc, char **argv, int *i)
{
	const char *arg = argv[*i], *v = NULL;
	int r;

	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		return a->help = 1, 0;
	if (strcmp(arg, "--force") == 0)
		return a->force = 1, 0;
#define VALUE(flag) ((r = flag_value(flag, argc, argv, i, &v)) != 0)
	if (VALUE("--service"))
		return r < 0 ? -1 : (a->service = v, 0);
	if (VALUE("--namespace"))
		return r < 0 ? -1 : (a->namespace_ = v, 0);
	if (VALUE("--out"))
		return r < 0 ? -1 : (a->out = v, 0);
	if (VALUE("--check"))
		return r < 0 ? -1 : (a->check = v, 0);
	if (VALUE("--dns"))
		return r < 0 ? -1 : add_extra(a->dns, &a->ndns, "--dns", v);
	if (VALUE("--ip"))
		return r < 0 ? -1 : add_extra(a->ips, &a->nips, "--ip", v);
	if (VALUE("--days"))
		return r < 0 ? -1 : (a->days_set = 1, parse_int("--days", v, 1, CERTS_MAX_DAYS, &a->days));
	if (VALUE("--min-days"))
		return r < 0 ? -1 : (a->min_days_set = 1, parse_int("--min-days", v, 0, 100000, &a->min_days));
	if (VALUE("--key-type")) {
		if (r < 0)
			return -1;
		a->key_type_set = 1;
		if (strcmp(v, "ecdsa") == 0)
			a->key_type = CERTS_KEY_ECDSA;
		else if (strcmp(v, "rsa") == 0)
			a->key_type = CERTS_KEY_RSA;
		else
			return fprintf(stderr, "bmhguard certs: --key-type '%s': want ecdsa or rsa\n", v), -1;
		return 0;
	}
#undef VALUE
	fprintf(stderr, "bmhguard certs: unknown argument '%s' (see bmhguard certs --help)\n", arg);
	return -1;
}

/* Flags that belong to the other mode are mistakes worth stopping for. */
static int
validate_args(const struct certs_args *a)
{
	const char *bad = NULL;

	if (a->check) {
		if (a->out)
			bad = "--out";
		else if (a->force)
			bad = "--force";
		else if (a->days_set)
			bad = "--days";
		else if (a->key_type_set)
			bad = "--key-type";
		if (bad)
			return fprintf(stderr, "bmhguard certs: %s does not go with --check\n", bad), -1;
		if (!a->service != !a->namespace_)
			return fprintf(stderr, "bmhguard certs: --check takes --service and --namespace together\n"), -1;
		return 0;
	}
	if (a->min_days_set)
		return fprintf(stderr, "bmhguard certs: --min-days goes with --check\n"), -1;
	if (!a->service || !a->namespace_ || !a->out)
		return fprintf(stderr, "bmhguard certs: --service, --namespace and --out are required "
		    "(or --check DIR; see bmhguard certs --help)\n"), -1;
	return 0;
}

static int
run_make(const struct certs_args *a)
{
	struct certs_request req = {
		.service = a->service, .namespace_ = a->namespace_, .days = a->days,
		.key_type = a->key_type, .dns = a->dns, .ndns = a->ndns, .ips = a->ips, .nips = a->nips,
	};
	struct certs_bundle b;
	char err[512], *bundle = NULL;
	int rc = EXIT_FAILED;

	if (certs_request_validate(&req, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard certs: %s\n", err);
		return EXIT_USAGE;
	}
	if (certs_make(&req, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard certs: %s\n", err);
		return EXIT_FAILED;
	}
	if (certs_write_dir(a->out, &b, a->force, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard certs: %s\n", err);
		goto out;
	}
	if (!(bundle = codec_base64(b.ca_pem, strlen(b.ca_pem)))) {
		fprintf(stderr, "bmhguard certs: out of memory\n");
		goto out;
	}
	fprintf(stderr, "bmhguard certs: wrote %s/ca.crt, %s/tls.crt, %s/tls.key (0600) for %s.%s.svc, "
	    "valid %d days; caBundle on stdout\n", a->out, a->out, a->out, a->service, a->namespace_, a->days);
	printf("%s\n", bundle);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
out:
	free(bundle);
	certs_bundle_free(&b);
	return rc;
}

static int
run_check(const struct certs_args *a)
{
	const char *names[2 * CERTS_MAX_EXTRA];
	struct certs_check_opts o = {
		.service = a->service, .namespace_ = a->namespace_, .min_days = a->min_days, .names = names,
	};
	static const char *const tag[] = { "ok  ", "note", "FAIL" };
	struct certs_report r;
	char err[512];
	size_t i;

	for (i = 0; i < a->ndns; i++) {
		if (certs_check_dns_name(a->dns[i], err, sizeof(err)) < 0)
			return fprintf(stderr, "bmhguard certs: %s\n", err), EXIT_USAGE;
		names[o.nnames++] = a->dns[i];
	}
	for (i = 0; i < a->nips; i++)
		names[o.nnames++] = a->ips[i];
	if (certs_check_dir(a->check, &o, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard certs: %s\n", err);
		return EXIT_USAGE;
	}
	printf("directory:  %s\n", a->check);
	printf("subject:    %s\n", r.subject);
	printf("issuer:     %s\n", r.issuer);
	printf("key:        %s\n", r.key_desc);
	printf("names:      %s\n", r.sans && *r.sans ? r.sans : "(none)");
	printf("not before: %s\n", r.not_before);
	printf("not after:  %s (%lld days left)\n", r.not_after, r.seconds_left / 86400);
	for (i = 0; i < r.nfindings; i++)
		printf("%s  %s\n", tag[r.findings[i].level], r.findings[i].text);
	printf("result:     %s", r.nfailed ? "FAILED" : "ok");
	if (r.nfailed)
		printf(" (%zu problem%s)", r.nfailed, r.nfailed == 1 ? "" : "s");
	printf("\n");
	certs_report_free(&r);
	return r.nfailed ? EXIT_FAILED : EXIT_OK;
}

int
cmd_certs(int argc, char **argv)
{
	struct certs_args a = { .days = CERTS_DEFAULT_DAYS, .min_days = CERTS_DEFAULT_MIN_DAYS };
	int i;

	for (i = 1; i < argc; i++)
		if (parse_one(&a, argc, argv, &i) < 0)
			return EXIT_USAGE;
	if (a.help) {
		fputs(certs_usage, stdout);
		return EXIT_OK;
	}
	if (validate_args(&a) < 0)
		return EXIT_USAGE;
	return a.check ? run_check(&a) : run_make(&a);
}
