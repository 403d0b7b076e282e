/* cmd_serve.c - `bmhguard serve`: parse the flags and run the webhook server. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "server.h"

#ifndef BMHGUARD_VERSION
#define BMHGUARD_VERSION "0.0.0-dev"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: bmhguard serve --tls-cert FILE --tls-key FILE [flags]\n\n"
	    "Run the mutating admission webhook for Metal3 BareMetalHosts over TLS (libmicrohttpd\n"
	    "with GnuTLS, TLS 1.2 or newer). The webhook answers\n"
	    "  POST %s\n"
	    "and a plain HTTP port serves GET /healthz, /readyz (ready once a valid certificate is\n"
	    "loaded) and /metrics (Prometheus). Logs are JSON lines on stderr.\n"
	    "SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit 0. SIGHUP or a change of\n"
	    "the certificate files (a Secret's ..data symlink swap; polled every second): load the new\n"
	    "pair; an invalid pair is refused and the old one kept.\n\n"
	    "flags:\n"
	    "  --listen ADDR:PORT       webhook address (default :8443; [::1]:8443 for IPv6)\n"
	    "  --plain-listen ADDR:PORT health and metrics address, no TLS (default :8080)\n"
	    "  --tls-cert FILE          PEM certificate chain, leaf first (required)\n"
	    "  --tls-key FILE           PEM private key of the leaf (required)\n"
	    "  --threads N              TLS worker threads (default: the CPUs this process may use)\n"
	    "  --max-body BYTES         larger request bodies get 413 (default 8388608)\n"
	    "  --idle-timeout SECONDS   close connections idle this long (default 30)\n"
	    "  --max-connections N      concurrent webhook connections (default 1000)\n"
	    "  --grace-period SECONDS   time for in-flight requests on shutdown (default 10)\n"
	    "  --log-level LEVEL        debug, info, warn or error (default info)\n"
	    "  --bench-fixed-route      for benchmarking only: also answer POST %s with a\n"
	    "                           fixed response without deciding anything (transport ceiling)\n"
	    "  -h, --help               this text\n\n"
	    "%s\n"
	    "exit codes: 0 stopped gracefully, 2 bad flags or cannot start (certificate missing,\n"
	    "unreadable or invalid; address in use)\n",
	    SERVER_WEBHOOK_PATH, SERVER_BENCH_PATH, policy_flags_help());
}

/* "--name VALUE" or "--name=VALUE": returns the value and advances *i, or NULL. */
static const char *
flag_value(const char *name, int argc, char **argv, int *i, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

static int
parse_uint(const char *name, const char *v, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max) {
		fprintf(stderr, "bmhguard serve: %s: '%s' is not a number in %llu..%llu\n", name, v, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static const struct num_flag {
	const char *name;
	unsigned long long min, max;
} num_flags[] = {
	{ "--threads", 1, 256 },
	{ "--max-body", 1024, 1ULL << 30 },
	{ "--idle-timeout", 1, 86400 },
	{ "--max-connections", 1, 100000 },
	{ "--grace-period", 0, 3600 },
};

static void
set_num(struct server_config *cfg, size_t which, unsigned long long v)
{
	switch (which) {
	case 0: cfg->threads = (unsigned)v; break;
	case 1: cfg->max_body = (size_t)v; break;
	case 2: cfg->idle_timeout = (unsigned)v; break;
	case 3: cfg->max_connections = (unsigned)v; break;
	default: cfg->grace_period = (unsigned)v; break;
	}
}

/* Returns 1 consumed, 0 not a serve flag, -1 error (already reported). */
static int
parse_serve_flag(struct server_config *cfg, int argc, char **argv, int *i)
{
	static const char *const str_flags[] = { "--listen", "--plain-listen", "--tls-cert", "--tls-key",
		"--log-level" };
	const char **str_dst[] = { &cfg->listen, &cfg->plain_listen, &cfg->tls_cert, &cfg->tls_key, NULL };
	const char *v;
	int missing = 0;
	size_t k;
	unsigned long long n;

	if (strcmp(argv[*i], "--bench-fixed-route") == 0) {
		cfg->bench_fixed_route = 1;
		return 1;
	}
	for (k = 0; k < sizeof(str_flags) / sizeof(str_flags[0]); k++) {
		if ((v = flag_value(str_flags[k], argc, argv, i, &missing)) == NULL && !missing)
			continue;
		if (missing)
			goto missing;
		if (str_dst[k] != NULL) {
			*str_dst[k] = v;
			return 1;
		}
		if (log_parse_level(v, &cfg->log_level) < 0) {
			fprintf(stderr, "bmhguard serve: --log-level: '%s' is not debug, info, warn or error\n", v);
			return -1;
		}
		return 1;
	}
	for (k = 0; k < sizeof(num_flags) / sizeof(num_flags[0]); k++) {
		if ((v = flag_value(num_flags[k].name, argc, argv, i, &missing)) == NULL && !missing)
			continue;
		if (missing)
			goto missing;
		if (parse_uint(num_flags[k].name, v, num_flags[k].min, num_flags[k].max, &n) < 0)
			return -1;
		set_num(cfg, k, n);
		return 1;
	}
	return 0;
missing:
	fprintf(stderr, "bmhguard serve: %s needs a value\n", argv[*i]);
	return -1;
}

int
cmd_serve(int argc, char **argv)
{
	struct server_config cfg;
	struct policy *pol;
	char err[512];
	int i, r, rc = EXIT_USAGE;

	server_config_defaults(&cfg);
	cfg.version = BMHGUARD_VERSION;
	pol = policy_new();
	if (pol == NULL) {
		fprintf(stderr, "bmhguard serve: out of memory\n");
		return EXIT_FAILED;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			rc = EXIT_OK;
			goto out;
		}
		r = policy_parse_flag(pol, argc, argv, &i, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "bmhguard serve: %s\n", err);
			goto out;
		}
		if (r > 0) {
			i--;	/* policy_parse_flag moved past what it used; the loop adds one */
			continue;
		}
		r = parse_serve_flag(&cfg, argc, argv, &i);
		if (r < 0)
			goto out;
		if (r == 0) {
			fprintf(stderr, "bmhguard serve: unknown flag '%s' (see bmhguard serve --help)\n", argv[i]);
			goto out;
		}
	}
	if (cfg.tls_cert == NULL || cfg.tls_key == NULL) {
		fprintf(stderr, "bmhguard serve: --tls-cert and --tls-key are required (see --help)\n");
		goto out;
	}
	/*
	 * Big buffers (request bodies up to --max-body, simdjson's for a big review) straight from
	 * mmap and back to the system when freed. glibc otherwise raises its mmap threshold with
	 * each one freed, up to 32 MiB, and keeps the next ones in its arenas: a few 8 MiB reviews
	 * left the server ~90 MiB larger for good. Small allocations are unaffected.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	if (server_run(&cfg, pol, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard serve: %s\n", err);
		goto out;
	}
	rc = EXIT_OK;
out:
	policy_free(pol);
	return rc;
}
