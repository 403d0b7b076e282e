/* cmd_certs.c - 'bmhguard certs': make the webhook's CA and serving pair, or check an existing one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "codec.h"
#include "commands.h"
#include "opts.h"

static void
certs_usage(FILE *f, const struct opts_group *g, size_t ng)
{
	fputs("usage: bmhguard certs --service S --namespace N --out DIR [--days D] [--key-type ecdsa|rsa]\n"
	    "                      [--dns NAME]... [--ip ADDR]... [--force]\n"
	    "       bmhguard certs --check DIR [--service S --namespace N] [--min-days D]\n"
	    "                      [--dns NAME]... [--ip ADDR]...\n"
	    "\n"
	    "Make a CA and a serving certificate for the webhook Service, or check an existing pair.\n"
	    "\n", f);
	opts_help(f, g, ng);
	fputs("The CA's private key is never written: rotating means making a new pair and updating\n"
	    "both the Secret and the webhook's caBundle (see certs/README.md).\n"
	    "exit codes: 0 ok, 1 the check found a problem or writing failed, 2 usage or unreadable input\n",
	    f);
}

struct certs_args {
	const char *service, *namespace_, *out, *check;
	const char *dns[CERTS_MAX_EXTRA], *ips[CERTS_MAX_EXTRA];
	struct opts_list dnsl, ipl;
	size_t ndns, nips;
	int days, min_days, force;
	int days_set, min_days_set, key_type_set;
	int key_type;	/* index in key_types[] == enum certs_key_type */
};

static const char *const key_types[] = { "ecdsa", "rsa", NULL };

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
		.key_type = (enum certs_key_type)a->key_type, .dns = a->dns, .ndns = a->ndns, .ips = a->ips, .nips = a->nips,
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
	struct certs_args a = { .days = CERTS_DEFAULT_DAYS, .min_days = CERTS_DEFAULT_MIN_DAYS,
		.key_type = CERTS_KEY_ECDSA };
	char err[512];
	struct opts_row make[] = {
		{ .name = "service", .kind = OPTS_STRING, .dst = &a.service, .arg = "S",
		  .help = "the webhook's Service name (required; with --check: optional)" },
		{ .name = "namespace", .kind = OPTS_STRING, .dst = &a.namespace_, .arg = "N",
		  .help = "the Service's namespace (required); the certificate names\n"
		  "S, S.N, S.N.svc and S.N.svc.cluster.local" },
		{ .name = "out", .kind = OPTS_STRING, .dst = &a.out, .arg = "DIR",
		  .help = "directory for the files (created if its parent exists);\n"
		  "tls.key is written with mode 0600" },
		{ .name = "days", .kind = OPTS_INT, .dst = &a.days, .arg = "D", .min = 1,
		  .max = CERTS_MAX_DAYS, .help = "validity of the CA and the certificate, 1..3650 "
		  "(default 365)" },
		{ .name = "key-type", .kind = OPTS_CHOICE, .dst = &a.key_type, .choices = key_types,
		  .arg = "T", .help = "ecdsa (P-256, default) or rsa (2048 bits)" },
		{ .name = "force", .kind = OPTS_BOOL, .dst = &a.force,
		  .help = "replace existing files (otherwise refuses to overwrite)" },
	};
	struct opts_row check[] = {
		{ .name = "check", .kind = OPTS_STRING, .dst = &a.check, .arg = "DIR",
		  .help = "check DIR/tls.crt, DIR/tls.key and DIR/ca.crt: the key matches,\n"
		  "ca.crt verifies the certificate for serverAuth, it is valid now;\n"
		  "with --service and --namespace also require the name the API\n"
		  "server dials, S.N.svc" },
		{ .name = "min-days", .kind = OPTS_INT, .dst = &a.min_days, .arg = "D", .min = 0,
		  .max = 100000, .help = "fail when fewer than D days of validity remain (default 30)" },
	};
	struct opts_row both[] = {
		{ .name = "dns", .kind = OPTS_STRINGS, .dst = &a.dnsl, .arg = "NAME",
		  .help = "an extra DNS name in the certificate; with --check, one it\n"
		  "must cover (repeatable)" },
		{ .name = "ip", .kind = OPTS_STRINGS, .dst = &a.ipl, .arg = "ADDR",
		  .help = "an extra IP address, the same way (repeatable)" },
		{ .name = "help", .short_name = 'h', .kind = OPTS_HELP, .help = "this text" },
	};
	struct opts_group g[] = {
		{ "Making (writes DIR/ca.crt, DIR/tls.crt, DIR/tls.key; prints the caBundle on stdout):",
		  make, OPTS_NROWS(make) },
		{ "Checking (prints subject, names, expiry and each verified property):", check,
		  OPTS_NROWS(check) },
		{ "Both:", both, OPTS_NROWS(both) },
	};

	a.dnsl = (struct opts_list){ a.dns, 0, CERTS_MAX_EXTRA };
	a.ipl = (struct opts_list){ a.ips, 0, CERTS_MAX_EXTRA };
	switch (opts_parse(g, OPTS_NROWS(g), argc, argv, NULL, NULL, err, sizeof(err))) {
	case OPTS_HELP_SHOWN:
		certs_usage(stdout, g, OPTS_NROWS(g));
		return EXIT_OK;
	case OPTS_ERROR:
		fprintf(stderr, "bmhguard certs: %s\n", err);
		return EXIT_USAGE;
	}
	a.ndns = a.dnsl.n;
	a.nips = a.ipl.n;
	a.days_set = opts_seen(g, OPTS_NROWS(g), "days") > 0;
	a.min_days_set = opts_seen(g, OPTS_NROWS(g), "min-days") > 0;
	a.key_type_set = opts_seen(g, OPTS_NROWS(g), "key-type") > 0;
	if (validate_args(&a) < 0)
		return EXIT_USAGE;
	return a.check ? run_check(&a) : run_make(&a);
}
