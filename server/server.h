/* server.h - the webhook server: TLS admission endpoint plus a plain health/metrics port. */
#ifndef BMHGUARD_SERVER_H
#define BMHGUARD_SERVER_H

#include <stddef.h>

#include "log.h"
#include "policy.h"

/* One path a webhook entry (an API group) of manifests/base/mutatingwebhook.yaml: metal3.io's
 * kinds on the first (named for BareMetalHost, the kind it began with), CAPM3's on the second.
 * The decision reads the group and kind from the review itself, so both run the same code. */
#define SERVER_WEBHOOK_PATH "/mutate-metal3-io-v1alpha1-baremetalhost"
#define SERVER_CAPM3_PATH "/mutate-infrastructure-cluster-x-k8s-io"
#define SERVER_BENCH_PATH "/bench-fixed"

/* Everything `bmhguard serve` takes from its flags. Strings are borrowed for the run. */
struct server_config {
	const char *listen;		/* "[ADDR]:PORT", "ADDR:PORT" or ":PORT" (all addresses) */
	const char *plain_listen;	/* same forms; health and metrics, no TLS */
	const char *tls_cert, *tls_key;	/* PEM files, watched for changes */
	unsigned threads;		/* TLS worker threads */
	size_t max_body;		/* larger request bodies get 413 */
	unsigned idle_timeout;		/* seconds a connection may sit idle */
	unsigned max_connections;
	unsigned max_per_peer;		/* webhook connections from one address; 0: a quarter of
					 * max_connections, at least 16 (or all) */
	unsigned request_timeout_ms;	/* from a connection's start (or a kept-alive request's
					 * first line) until its headers and body must be in */
	size_t body_budget;		/* request bodies held at once, all connections together */
	unsigned grace_period;		/* seconds to finish in-flight requests on SIGTERM */
	enum log_level log_level;
	int bench_fixed_route;		/* also answer SERVER_BENCH_PATH with a fixed body */
	const char *version;		/* for the build-info metric and the start log line */
};

/* Fill in the documented defaults (threads = online CPUs). */
void server_config_defaults(struct server_config *cfg);

/* Serve until SIGTERM or SIGINT, reloading the certificate on SIGHUP and when its files change.
 * Blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE in the calling thread (and so in the server's
 * threads) and takes them with sigwait. Returns 0 after a graceful shutdown, or -1 with one
 * line in err when it cannot start (certificate missing, unreadable or invalid, address in
 * use, ...). The policy is only read, from many threads. */
int server_run(const struct server_config *cfg, const struct policy *pol, char *err, size_t errlen);

#endif
