/* kube.h - a small Kubernetes API client on libcurl: JSON requests, Status errors, retries with backoff. */
#ifndef BMHGUARD_KUBE_H
#define BMHGUARD_KUBE_H

#include <stddef.h>

#include "kubeconfig.h"

/* Results of kube_request(). Anything but KUBE_OK leaves one line in err. */
enum kube_rc {
	KUBE_OK = 0,		/* 2xx */
	KUBE_CONFLICT = 1,	/* 409: caller re-reads and retries */
	KUBE_NOT_FOUND = 2,	/* 404 */
	KUBE_API_ERROR = 3,	/* any other HTTP error, after retries for 429/5xx */
	KUBE_TRANSPORT = 4,	/* connection error or timeout, after retries */
	KUBE_NOMEM = 5
};

/* Shared by all workers: the configuration and counters. Thread-safe after creation. */
struct kube_client;
/* One per worker thread: a reused curl easy handle (keeps the connection alive). */
struct kube_conn;

/* The largest response body a client takes by default. A page of hosts is a few MiB; an API
 * server that sends more is misbehaving, and the job's memory must not follow it. */
#define KUBE_DEFAULT_MAX_RESPONSE ((size_t)64 << 20)

struct kube_client_opts {
	long timeout_ms;	/* per request (default 30000) */
	int max_attempts;	/* tries per request for retryable failures (default 6) */
	long backoff_base_ms;	/* first backoff (default 200), doubled each try with jitter */
	long backoff_max_ms;	/* cap per wait, also caps Retry-After (default 10000) */
	size_t max_response;	/* larger response bodies fail the request, KUBE_API_ERROR with
				 * err saying so, without retries (default KUBE_DEFAULT_MAX_RESPONSE) */
};

/* cfg is borrowed and must outlive the client. opts may be NULL for the defaults.
 * Returns NULL with err on failure. Free with kube_client_free(). */
struct kube_client *kube_client_new(const struct kubeconfig *cfg,
    const struct kube_client_opts *opts, char *err, size_t errlen);
void kube_client_free(struct kube_client *k);

/* HTTP requests sent so far, retries included (for benchmarks and call budgets). */
unsigned long kube_client_requests(const struct kube_client *k);
/* Successful writes (PATCH/POST/PUT/DELETE answered 2xx). */
unsigned long kube_client_writes(const struct kube_client *k);

struct kube_conn *kube_conn_new(struct kube_client *k, char *err, size_t errlen);
void kube_conn_free(struct kube_conn *c);

/* Send METHOD to path (starting with '/', query included). body may be NULL; content_type is
 * used when body is set (e.g. "application/merge-patch+json"). On KUBE_OK *resp_body (if
 * resp_body is not NULL) is the NUL-terminated response, owned by the caller (free()).
 * *http_status (if not NULL) gets the last HTTP status (0 on transport errors). */
enum kube_rc kube_request(struct kube_conn *c, const char *method, const char *path,
    const char *body, const char *content_type, char **resp_body, long *http_status,
    char *err, size_t errlen);

/* Percent-encode s for a query string. Returns malloc'd string or NULL. */
char *kube_escape(struct kube_conn *c, const char *s);

/* HEAD url with its own handle (no API credentials sent). Returns the HTTP status, or -1 on a
 * transport error (err says which). */
long kube_head(struct kube_conn *c, const char *url, char *err, size_t errlen);

/* One line from a Status object body ("reason: message"), into out. */
void kube_status_message(const char *body, long http_status, char *out, size_t outlen);

#endif
