/* cmd_serve.c - `bmhguard serve`: parse the flags and run the webhook server. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "server.h"

#ifndef BMHGUARD_VERSION
#define BMHGUARD_VERSION "0.0.0-dev"
#endif

static void
usage(FILE *f, const struct opts_group *g, size_t ng)
{
	fprintf(f,
	    "usage: bmhguard serve --tls-cert FILE --tls-key FILE [flags]\n\n"
	    "Run the mutating admission webhook for Metal3 objects (BareMetalHost, DataImage,\n"
	    "HostFirmwareComponents, Metal3Machine, Metal3MachineTemplate) over TLS (libmicrohttpd\n"
	    "with GnuTLS, TLS 1.2 or newer). The webhook answers\n"
	    "  POST %s (metal3.io) and %s (infrastructure.cluster.x-k8s.io)\n"
	    "and a plain HTTP port serves GET /healthz, /readyz (ready once a valid certificate is\n"
	    "loaded) and /metrics (Prometheus). Logs are JSON lines on stderr.\n"
	    "SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit 0. SIGHUP or a change of\n"
	    "the certificate files (a Secret's ..data symlink swap; polled every second): load the new\n"
	    "pair; an invalid pair is refused and the old one kept.\n\n", SERVER_WEBHOOK_PATH,
	    SERVER_CAPM3_PATH);
	opts_help(f, g, ng);
	fprintf(f,
	    "exit codes: 0 stopped gracefully, 2 bad flags or cannot start (certificate missing,\n"
	    "unreadable or invalid; address in use)\n");
}

static int
serve_opt_log_level(void *dst, const char *v, char *err, size_t errlen)
{
	if (log_parse_level(v, dst) == 0)
		return 0;
	snprintf(err, errlen, "--log-level: '%s' is not debug, info, warn or error", v);
	return -1;
}

int
cmd_serve(int argc, char **argv)
{
	struct server_config cfg;
	struct policy *pol;
	char err[512];
	int rc = EXIT_USAGE, threads, idle, maxconn, grace, perpeer = 0;
	long request_timeout;
	struct opts_row rows[] = {
		{ .name = "listen", .kind = OPTS_STRING, .dst = &cfg.listen, .arg = "ADDR:PORT",
		  .help = "webhook address (default :8443; [::1]:8443 for IPv6)" },
		{ .name = "plain-listen", .kind = OPTS_STRING, .dst = &cfg.plain_listen,
		  .arg = "ADDR:PORT", .help = "health and metrics address, no TLS (default :8080)" },
		{ .name = "tls-cert", .kind = OPTS_STRING, .dst = &cfg.tls_cert, .arg = "FILE",
		  .help = "PEM certificate chain, leaf first (required)" },
		{ .name = "tls-key", .kind = OPTS_STRING, .dst = &cfg.tls_key, .arg = "FILE",
		  .help = "PEM private key of the leaf (required)" },
		{ .name = "threads", .kind = OPTS_INT, .dst = &threads, .arg = "N", .min = 1,
		  .max = 256, .help = "TLS worker threads (default: the CPUs this process may use)" },
		{ .name = "max-body", .kind = OPTS_SIZE, .dst = &cfg.max_body, .arg = "SIZE",
		  .min = 1024, .max = 1LL << 30, .help = "larger request bodies get 413; bytes, or "
		  "with KiB, MiB\nor GiB (default 8MiB)" },
		{ .name = "idle-timeout", .kind = OPTS_INT, .dst = &idle, .arg = "SECONDS", .min = 1,
		  .max = 86400, .help = "close connections idle this long (default 30)" },
		{ .name = "max-connections", .kind = OPTS_INT, .dst = &maxconn, .arg = "N", .min = 1,
		  .max = 100000, .help = "concurrent webhook connections (default 1000)" },
		{ .name = "max-connections-per-peer", .kind = OPTS_INT, .dst = &perpeer, .arg = "N",
		  .min = 1, .max = 100000, .help = "webhook connections from one address; more are\n"
		  "refused (default a quarter of --max-connections, at least 16)" },
		{ .name = "request-timeout", .kind = OPTS_DURATION, .dst = &request_timeout,
		  .arg = "DURATION", .min = 1000, .max = 3600000, .help = "a request's headers and body "
		  "must be in this long after its connection\nopened (or its request line came); else "
		  "the connection is closed\n(default 13s)" },
		{ .name = "body-budget", .kind = OPTS_SIZE, .dst = &cfg.body_budget, .arg = "SIZE",
		  .min = 1024, .max = 1LL << 34, .help = "request bodies held at once, all connections; "
		  "past it 503\nfrom the headers (default 96MiB; at least --max-body)" },
		{ .name = "grace-period", .kind = OPTS_INT, .dst = &grace, .arg = "SECONDS", .min = 0,
		  .max = 3600, .help = "time for in-flight requests on shutdown (default 10)" },
		{ .name = "log-level", .kind = OPTS_FUNC, .dst = &cfg.log_level,
		  .set = serve_opt_log_level, .arg = "LEVEL",
		  .help = "debug, info, warn or error (default info)" },
		{ .name = "bench-fixed-route", .kind = OPTS_BOOL, .dst = &cfg.bench_fixed_route,
		  .help = "for benchmarking only: also answer POST " SERVER_BENCH_PATH " with a\n"
		  "fixed response without deciding anything (transport ceiling)" },
		{ .name = "help", .short_name = 'h', .kind = OPTS_HELP, .help = "this text" },
	};
	struct opts_group g[2];

	server_config_defaults(&cfg);
	cfg.version = BMHGUARD_VERSION;
	threads = (int)cfg.threads;
	idle = (int)cfg.idle_timeout;
	maxconn = (int)cfg.max_connections;
	grace = (int)cfg.grace_period;
	request_timeout = (long)cfg.request_timeout_ms;
	pol = policy_new();
	if (pol == NULL) {
		fprintf(stderr, "bmhguard serve: out of memory\n");
		return EXIT_FAILED;
	}
	g[0] = (struct opts_group){ "flags:", rows, OPTS_NROWS(rows) };
	g[1] = policy_opts(pol);
	switch (opts_parse(g, OPTS_NROWS(g), argc, argv, NULL, NULL, err, sizeof(err))) {
	case OPTS_HELP_SHOWN:
		usage(stdout, g, OPTS_NROWS(g));
		rc = EXIT_OK;
		goto out;
	case OPTS_ERROR:
		fprintf(stderr, "bmhguard serve: %s\n", err);
		goto out;
	}
	cfg.threads = (unsigned)threads;
	cfg.idle_timeout = (unsigned)idle;
	cfg.max_connections = (unsigned)maxconn;
	cfg.grace_period = (unsigned)grace;
	cfg.max_per_peer = (unsigned)perpeer;
	cfg.request_timeout_ms = (unsigned)request_timeout;
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
