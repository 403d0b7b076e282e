/* server.c - the webhook server: TLS admission endpoint plus a plain health/metrics port. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <microhttpd.h>

#include "acceptor.h"
#include "buf.h"
#include "certstore.h"
#include "deadline.h"
#include "listen.h"
#include "metrics.h"
#include "review.h"
#include "server.h"

/* TLS 1.2 and 1.3 only; in TLS 1.2 only AEAD ciphers (GCM, ChaCha20-Poly1305, CCM) with
 * ephemeral key exchange: no CBC with its padding-oracle history, no static RSA. TLS 1.3 has
 * only such suites anyway. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:" \
	"+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:-MAC-ALL:+AEAD:-KX-ALL:" \
	"+ECDHE-ECDSA:+ECDHE-RSA:+DHE-RSA"
#define PLAIN_MAX_CONNECTIONS 64
/* Probes and scrapes send their request at once, and the kubelet gives up on a probe after 1 s:
 * a plain connection's request is due within this, and a peer may hold this many at once. */
#define PLAIN_REQUEST_MS 1000
#define PLAIN_MAX_PER_PEER 8
/* Descriptors the process needs besides webhook connections: plain port, listeners, pipes,
 * certificate and log files. */
#define FD_RESERVE (PLAIN_MAX_CONNECTIONS + 64)
#define CERT_POLL_SECONDS 1
#define BODY_PREALLOC ((size_t)64 << 10)

static const char bench_body[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
    "{\"uid\":\"00000000-0000-0000-0000-000000000000\",\"allowed\":true}}";

/* What the worker threads share. Set up before the daemons start; afterwards only atomics
 * change. */
struct server {
	const struct server_config *cfg;
	const struct policy *pol;
	struct logger log;
	struct metrics *metrics;
	struct certstore *certs;
	struct MHD_Daemon *tls, *plain;
	struct acceptor *acceptor;	/* feeds tls its connections */
	struct deadline *tls_dl, *plain_dl;	/* close requests not in by their deadline */
	atomic_llong body_left;		/* bytes of --body-budget not reserved by a request */
	atomic_int shutting_down;
	atomic_llong cert_not_after;
};

enum route {
	ROUTE_ANSWERED = 0,	/* answered on the headers alone (404, 405, 413, 415) */
	ROUTE_WEBHOOK,
	ROUTE_BENCH
};

/* One request on the webhook port, from its headers to its completion. */
struct request {
	struct timespec start;
	enum route route;
	unsigned status;	/* 0 until a response is queued */
	int headers_seen;	/* the access handler has had the headers */
	size_t reserved;	/* bytes of the body budget this request holds */
	struct buf body;	/* capped at --max-body */
};

static double
seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Queue resp with the headers every answer carries. Takes over resp. */
static enum MHD_Result
queue(struct server *srv, struct MHD_Connection *c, unsigned status, struct MHD_Response *resp,
    const char *content_type)
{
	enum MHD_Result r;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (atomic_load(&srv->shutting_down))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result
answer_static(struct server *srv, struct MHD_Connection *c, struct request *rq, unsigned status,
    const char *body)
{
	if (rq != NULL)
		rq->status = status;
	return queue(srv, c, status, MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT), "application/json");
}

/* {"error": msg}, escaped by json-c. */
static enum MHD_Result
answer_error(struct server *srv, struct MHD_Connection *c, struct request *rq, unsigned status,
    const char *msg)
{
	json_object *o = json_object_new_object();
	const char *text;
	enum MHD_Result r;

	if (o == NULL)
		return MHD_NO;
	json_object_object_add(o, "error", json_object_new_string(msg));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rq->status = status;
	r = queue(srv, c, status, MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_MUST_COPY), "application/json");
	json_object_put(o);
	return r;
}

static void
free_result(void *cls)
{
	struct review_result *res = cls;

	review_result_free(res);
	free(res);
}

static void
log_changes(struct server *srv, const struct review_result *res)
{
	size_t i;

	for (i = 0; i < res->nchanges; i++) {
		const struct review_change *ch = &res->changes[i];
		enum log_level lvl = ch->action == REVIEW_WITHHOLD ? LOG_LEVEL_WARN : LOG_LEVEL_INFO;
		const char *fields[] = {
			"namespace", res->namespace, "name", res->name, "uid", res->uid,
			"field", review_field_str(ch->field), "action", review_action_str(ch->action),
			"from", ch->from, "to", ch->to,
		};

		log_strings(&srv->log, lvl,
		    ch->action == REVIEW_REWRITE ? "rewrote image URL" :
		    ch->action == REVIEW_WOULD_REWRITE ? "would rewrite image URL (--mode warn)" :
		    "withheld rewrite: spec alone would make the operator deprovision the host; "
		    "run bmhguard repair", fields, sizeof(fields) / sizeof(fields[0]) / 2);
	}
}

/* The one place a review is decided: exactly what `bmhguard review` runs. */
static enum MHD_Result
answer_review(struct server *srv, struct MHD_Connection *c, struct request *rq)
{
	struct review_result *res;
	struct MHD_Response *resp;
	char err[256];

	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return answer_error(srv, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (review_handle(srv->pol, rq->body.data ? rq->body.data : "", rq->body.len, res, err,
	    sizeof(err)) < 0) {
		free_result(res);
		metrics_observe_review(srv->metrics, REVIEW_REJECTED, NULL, 0);
		log_simple(&srv->log, LOG_LEVEL_WARN, "review rejected", "error", err);
		return answer_error(srv, c, rq, MHD_HTTP_BAD_REQUEST, err);
	}
	metrics_observe_review(srv->metrics, res->outcome, res->changes, res->nchanges);
	log_changes(srv, res);
	rq->status = MHD_HTTP_OK;
	/* The response bytes go out without a copy; MHD frees the result once they are sent. */
	resp = MHD_create_response_from_buffer_with_free_callback_cls(res->response_len, res->response,
	    free_result, res);
	if (resp == NULL) {
		free_result(res);
		return MHD_NO;
	}
	return queue(srv, c, MHD_HTTP_OK, resp, "application/json");
}

/* application/json, in any case, optionally with parameters (charset). */
static int
is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/* Take n bytes of the body budget for rq; 0 when there is not that much left. */
static int
budget_take(struct server *srv, struct request *rq, size_t n)
{
	long long left = atomic_load(&srv->body_left);

	do {
		if (left < (long long)n)
			return 0;
	} while (!atomic_compare_exchange_weak(&srv->body_left, &left, left - (long long)n));
	rq->reserved += n;
	return 1;
}

static void
budget_release(struct server *srv, struct request *rq)
{
	atomic_fetch_add(&srv->body_left, (long long)rq->reserved);
	rq->reserved = 0;
}

/* What the Content-Length headers of a request say, all of them. */
struct lengths {
	const char *first;
	int count, conflict;
};

static enum MHD_Result
count_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct lengths *l = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (l->count++ == 0)
		l->first = value;
	else if (strcmp(l->first, value != NULL ? value : "") != 0)
		l->conflict = 1;
	return MHD_YES;
}

/* A request whose length is not what libmicrohttpd will read: two Content-Lengths that differ
 * (libmicrohttpd takes the first, a proxy may take the last), a Transfer-Encoding beside a
 * Content-Length, or a coding other than chunked (libmicrohttpd would read to the end of the
 * connection). Returns 1 when answered. */
static int
check_framing(struct server *srv, struct MHD_Connection *c, struct request *rq,
    enum MHD_Result *ret)
{
	struct lengths l = { NULL, 0, 0 };
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING);
	enum route was = rq->route;

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &l);
	rq->route = ROUTE_ANSWERED;
	if (l.conflict) {
		*ret = answer_error(srv, c, rq, MHD_HTTP_BAD_REQUEST,
		    "conflicting Content-Length headers");
		return 1;
	}
	if (te != NULL && strcasecmp(te, "chunked") != 0) {
		*ret = answer_error(srv, c, rq, MHD_HTTP_NOT_IMPLEMENTED,
		    "unsupported Transfer-Encoding; send a Content-Length or chunked");
		return 1;
	}
	if (te != NULL && l.count > 0) {
		*ret = answer_error(srv, c, rq, MHD_HTTP_BAD_REQUEST,
		    "both Transfer-Encoding and Content-Length");
		return 1;
	}
	rq->route = was;
	return 0;
}

/* Decide on the headers alone: returns 1 when rq may read a body, 0 when answered. */
static int
check_headers(struct server *srv, struct MHD_Connection *c, struct request *rq, const char *url,
    const char *method, enum MHD_Result *ret)
{
	const char *cl;

	if (strcmp(url, SERVER_WEBHOOK_PATH) == 0 || strcmp(url, SERVER_CAPM3_PATH) == 0)
		rq->route = ROUTE_WEBHOOK;
	else if (srv->cfg->bench_fixed_route && strcmp(url, SERVER_BENCH_PATH) == 0)
		rq->route = ROUTE_BENCH;
	else {
		*ret = answer_error(srv, c, rq, MHD_HTTP_NOT_FOUND, "not found");
		return 0;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
		struct MHD_Response *resp;
		static const char msg[] = "{\"error\":\"method not allowed; use POST\"}";

		rq->route = ROUTE_ANSWERED;
		rq->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		resp = MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
		if (resp != NULL)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
		*ret = queue(srv, c, MHD_HTTP_METHOD_NOT_ALLOWED, resp, "application/json");
		return 0;
	}
	if (!is_json(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		rq->route = ROUTE_ANSWERED;
		*ret = answer_error(srv, c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "content type must be application/json");
		return 0;
	}
	if (check_framing(srv, c, rq, ret))
		return 0;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		unsigned long long n = strtoull(cl, NULL, 10);

		if (n > srv->cfg->max_body) {
			/* Answered before the body is read; MHD closes the connection after. */
			rq->route = ROUTE_ANSWERED;
			*ret = answer_error(srv, c, rq, MHD_HTTP_CONTENT_TOO_LARGE,
			    "request body larger than --max-body");
			return 0;
		}
		/* The whole announced length counts against the budget from the headers on, so
		 * bodies held at once never pass it, however slowly they arrive. */
		if (n > 0 && !budget_take(srv, rq, (size_t)n)) {
			rq->route = ROUTE_ANSWERED;
			metrics_body_budget_refused(srv->metrics);
			*ret = answer_error(srv, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "too many request bodies in flight (--body-budget); retry");
			return 0;
		}
		/* Room for typical reviews up front; beyond that memory follows the bytes that
		 * actually arrive (pages of a large buffer are touched only as they fill). */
		if (n > 0)
			(void)buf_reserve(&rq->body, n < BODY_PREALLOC ? (size_t)n : BODY_PREALLOC);
	}
	return 1;
}

static struct request *
request_new(struct server *srv)
{
	struct request *rq = calloc(1, sizeof(*rq));

	if (rq == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &rq->start);
	buf_init(&rq->body, srv->cfg->max_body);
	metrics_inflight_add(srv->metrics, 1);
	return rq;
}

/* libmicrohttpd has the request line, not yet the headers: the request's own deadline starts,
 * and on a kept-alive connection, its time as a request rather than as an idle connection. */
static void *
on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)uri;
	deadline_request_started(c);
	return request_new(cls);	/* NULL is fine: the access handler makes it then */
}

static enum MHD_Result
on_webhook(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct server *srv = cls;
	struct request *rq = *req_cls;
	enum MHD_Result ret = MHD_YES;

	(void)version;
	if (rq == NULL && (rq = *req_cls = request_new(srv)) == NULL)
		return MHD_NO;
	if (!rq->headers_seen) {
		rq->headers_seen = 1;
		clock_gettime(CLOCK_MONOTONIC, &rq->start);	/* the duration metric counts from here */
		if (!check_headers(srv, c, rq, url, method, &ret))
			return ret;
		return MHD_YES;
	}
	if (rq->route == ROUTE_ANSWERED || rq->status != 0) {
		/* MHD is discarding a body we already answered; the deadline still runs */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t grown = rq->body.len + *upload_data_size;

		/* a chunked body has no length up front: it takes budget as it arrives */
		if (grown > rq->reserved && grown <= rq->body.max &&
		    !budget_take(srv, rq, grown - rq->reserved)) {
			metrics_body_budget_refused(srv->metrics);
			log_simple(&srv->log, LOG_LEVEL_WARN, "chunked request body over --body-budget; "
			    "connection closed", NULL, NULL);
			return MHD_NO;
		}
		if (buf_add(&rq->body, upload_data, *upload_data_size) != BUF_OK) {
			/* Chunked bodies have no length up front: stop reading, drop the connection. */
			log_simple(&srv->log, LOG_LEVEL_WARN, "request body over --max-body; connection closed",
			    NULL, NULL);
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	deadline_request_complete(c);
	if (rq->route == ROUTE_BENCH)
		return answer_static(srv, c, rq, MHD_HTTP_OK, bench_body);
	return answer_review(srv, c, rq);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request *rq = *req_cls;

	if (rq == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && log_enabled(&srv->log, LOG_LEVEL_DEBUG))
		log_simple(&srv->log, LOG_LEVEL_DEBUG, "request ended without a complete response", "reason",
		    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "idle timeout" :
		    toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client closed" :
		    toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" : "error");
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		deadline_response_done(c);
	/* a request cut off before its headers was never answered: not an HTTP response */
	if (rq->headers_seen)
		metrics_observe_http(srv->metrics, rq->status, seconds_since(&rq->start));
	metrics_inflight_add(srv->metrics, -1);
	budget_release(srv, rq);
	buf_free(&rq->body);
	free(rq);
	*req_cls = NULL;
}

static int
is_ready(struct server *srv, const char **why)
{
	long long na = atomic_load(&srv->cert_not_after);

	if (atomic_load(&srv->shutting_down)) {
		*why = "shutting down";
		return 0;
	}
	if (na <= (long long)time(NULL)) {
		*why = "no valid serving certificate";
		return 0;
	}
	return 1;
}

static enum MHD_Result
on_plain(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct server *srv = cls;
	const char *why;
	char *text;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/healthz") != 0 && strcmp(url, "/readyz") != 0 && strcmp(url, "/metrics") != 0)
		return answer_static(srv, c, NULL, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer_static(srv, c, NULL, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "{\"error\":\"method not allowed; use GET\"}");
	if (strcmp(url, "/healthz") == 0)
		return answer_static(srv, c, NULL, MHD_HTTP_OK, "{\"status\":\"ok\"}");
	if (strcmp(url, "/readyz") == 0) {
		if (is_ready(srv, &why))
			return answer_static(srv, c, NULL, MHD_HTTP_OK, "{\"status\":\"ready\"}");
		return answer_static(srv, c, NULL, MHD_HTTP_SERVICE_UNAVAILABLE,
		    atomic_load(&srv->shutting_down) ? "{\"status\":\"shutting down\"}" :
		    "{\"status\":\"no valid serving certificate\"}");
	}
	text = metrics_render(srv->metrics, srv->cfg->version, &len);
	if (text == NULL)
		return MHD_NO;
	return queue(srv, c, MHD_HTTP_OK, MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE), "text/plain; version=0.0.4; charset=utf-8");
}

static void
on_plain_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)req_cls;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		deadline_response_done(c);
}

/* Both the acceptor (its connection count) and the deadlines follow the webhook's connections. */
static void
on_tls_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;

	deadline_notify(srv->tls_dl, c, socket_context, toe);
	acceptor_notify(&srv->acceptor, c, socket_context, toe);
}

/* libmicrohttpd's own messages (mostly about misbehaving clients) as debug log lines. */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct server *srv = cls;
	char buf[512];
	size_t n;

	if (!log_enabled(&srv->log, LOG_LEVEL_DEBUG))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_simple(&srv->log, LOG_LEVEL_DEBUG, "libmicrohttpd", "detail", buf);
}

/* --max-connections-per-peer, or by default a quarter of --max-connections but never fewer than
 * 16 of them: one address (an attacker's pod) cannot take every slot, and a small limit still
 * lets an API server that is the only client use all of it. */
static unsigned
per_peer(const struct server_config *cfg)
{
	unsigned floor = cfg->max_connections < 16 ? cfg->max_connections : 16;

	if (cfg->max_per_peer > 0)
		return cfg->max_per_peer;
	return cfg->max_connections / 4 > floor ? cfg->max_connections / 4 : floor;
}

static int
start_tls(struct server *srv, int fd, char *err, size_t errlen)
{
	const struct server_config *cfg = srv->cfg;
	unsigned threads = cfg->threads < cfg->max_connections ? cfg->threads : cfg->max_connections;
	/*
	 * The acceptor enforces --max-connections. libmicrohttpd splits its own limit between its
	 * workers and counts a connection until a worker's next sweep, after it reported it closed:
	 * with the same limit it would refuse (reset) a client the acceptor rightly let in. So each
	 * worker may hold all of them.
	 */
	unsigned mhd_limit = cfg->max_connections <= UINT_MAX / (threads ? threads : 1) ?
	    cfg->max_connections * (threads ? threads : 1) : UINT_MAX;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	    MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;

	srv->tls = MHD_start_daemon(flags, 0, NULL, NULL, on_webhook, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(threads > 1 ? threads : 0),
	    MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout,
	    MHD_OPTION_URI_LOG_CALLBACK, on_request_line, srv,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_tls_connection, srv,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, certstore_retrieve,
	    MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
	    MHD_OPTION_END);
	if (srv->tls == NULL) {
		snprintf(err, errlen, "cannot start the TLS listener on %s", cfg->listen);
		close(fd);
		return -1;
	}
	/* the acceptor owns fd now, whatever happens */
	return acceptor_start(fd, srv->tls, cfg->max_connections, per_peer(cfg), &srv->log, srv->metrics,
	    &srv->acceptor, err, errlen);
}

static int
start_plain(struct server *srv, int fd, char *err, size_t errlen)
{
	srv->plain = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_plain, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)PLAIN_MAX_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PLAIN_MAX_PER_PEER,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->cfg->idle_timeout,
	    MHD_OPTION_NOTIFY_CONNECTION, deadline_notify, srv->plain_dl,
	    MHD_OPTION_NOTIFY_COMPLETED, on_plain_completed, srv,
	    MHD_OPTION_END);
	if (srv->plain == NULL) {
		snprintf(err, errlen, "cannot start the plain listener on %s", srv->cfg->plain_listen);
		close(fd);
		return -1;
	}
	return 0;
}

static void
publish_cert(struct server *srv)
{
	time_t na = certstore_not_after(srv->certs);

	atomic_store(&srv->cert_not_after, (long long)na);
	metrics_set_cert_expiry(srv->metrics, na);
}

static void
log_cert(struct server *srv, const char *msg)
{
	json_object *f = json_object_new_object();
	char when[32];
	time_t na = certstore_not_after(srv->certs);
	struct tm tm;

	if (f == NULL)
		return;
	gmtime_r(&na, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(f, "cert", json_object_new_string(srv->cfg->tls_cert));
	json_object_object_add(f, "sha256", json_object_new_string(certstore_fingerprint(srv->certs)));
	json_object_object_add(f, "not_after", json_object_new_string(when));
	log_write(&srv->log, LOG_LEVEL_INFO, msg, f);
}

static void
reload_certs(struct server *srv, int force)
{
	char err[512];
	int r = certstore_reload(srv->certs, force, err, sizeof(err));

	if (r == 0)
		return;
	metrics_cert_reload(srv->metrics, r > 0);
	if (r < 0) {
		log_simple(&srv->log, LOG_LEVEL_ERROR, "new certificate refused; still serving the previous one",
		    "error", err);
		return;
	}
	publish_cert(srv);
	log_cert(srv, "serving certificate reloaded");
}

static void
log_listening(struct server *srv, unsigned port, unsigned plain_port)
{
	json_object *f = json_object_new_object();

	if (f == NULL)
		return;
	json_object_object_add(f, "listen", json_object_new_string(srv->cfg->listen));
	json_object_object_add(f, "port", json_object_new_int((int)port));
	json_object_object_add(f, "plain_listen", json_object_new_string(srv->cfg->plain_listen));
	json_object_object_add(f, "plain_port", json_object_new_int((int)plain_port));
	json_object_object_add(f, "threads", json_object_new_int((int)srv->cfg->threads));
	json_object_object_add(f, "version", json_object_new_string(srv->cfg->version));
	json_object_object_add(f, "tls", json_object_new_string("libmicrohttpd/GnuTLS, TLS 1.2+"));
	json_object_object_add(f, "bench_fixed_route", json_object_new_boolean(srv->cfg->bench_fixed_route));
	log_write(&srv->log, LOG_LEVEL_INFO, "listening", f);
}

/* Out of descriptors, accept fails and clients wait: say so at start rather than under load. */
static void
warn_fd_limit(struct server *srv)
{
	struct rlimit rl;
	char have[32], need[32];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= (rlim_t)srv->cfg->max_connections + FD_RESERVE)
		return;
	snprintf(have, sizeof(have), "%llu", (unsigned long long)rl.rlim_cur);
	snprintf(need, sizeof(need), "%u", srv->cfg->max_connections + FD_RESERVE);
	{
		const char *fields[] = { "rlimit_nofile", have, "needed", need };

		log_strings(&srv->log, LOG_LEVEL_WARN, "RLIMIT_NOFILE is below --max-connections plus "
		    "what the server needs besides; connections past it wait in the backlog",
		    fields, 2);
	}
}

/* Stop accepting, let in-flight requests finish for up to the grace period, then stop. */
static void
shut_down(struct server *srv, int sig)
{
	struct timespec t0, tick = { 0, 10 * 1000 * 1000 };
	long left;
	char detail[64];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Last resort if stopping the daemons ever wedged: SIGALRM is not blocked, and its default
	 * action ends the process, so shutdown stays bounded whatever happens below. */
	signal(SIGALRM, SIG_DFL);
	alarm(srv->cfg->grace_period + 10);
	atomic_store(&srv->shutting_down, 1);
	snprintf(detail, sizeof(detail), "%s, %ld in flight", strsignal(sig),
	    metrics_inflight(srv->metrics));
	log_simple(&srv->log, LOG_LEVEL_INFO, "shutting down", "reason", detail);
	acceptor_stop(srv->acceptor);
	while ((left = metrics_inflight(srv->metrics)) > 0 &&
	    seconds_since(&t0) < (double)srv->cfg->grace_period)
		nanosleep(&tick, NULL);
	if (left > 0) {
		snprintf(detail, sizeof(detail), "%ld", left);
		log_simple(&srv->log, LOG_LEVEL_WARN, "grace period over; dropping in-flight requests",
		    "requests", detail);
	}
	MHD_stop_daemon(srv->tls);
	srv->tls = NULL;
	MHD_stop_daemon(srv->plain);
	srv->plain = NULL;
	alarm(0);
	log_simple(&srv->log, LOG_LEVEL_INFO, "stopped", NULL, NULL);
}

void
server_config_defaults(struct server_config *cfg)
{
	cpu_set_t cpus;
	/* The CPUs this process may run on (a container's cpuset), not every CPU of the node. */
	long n = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) :
	    sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = ":8443";
	cfg->plain_listen = ":8080";
	cfg->threads = n > 0 ? (unsigned)n : 1;
	cfg->max_body = REVIEW_DEFAULT_MAX_BODY;
	cfg->idle_timeout = 30;
	cfg->max_connections = 1000;
	/* a little over the API server's longest webhook timeout (10 s) */
	cfg->request_timeout_ms = 13000;
	cfg->body_budget = (size_t)96 << 20;
	cfg->grace_period = 10;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->version = "unknown";
}

int
server_run(const struct server_config *cfg, const struct policy *pol, char *err, size_t errlen)
{
	struct server srv;
	sigset_t sigs;
	int tls_fd = -1, plain_fd = -1, sig, rc = -1;
	unsigned port = 0, plain_port = 0;
	struct timespec poll = { CERT_POLL_SECONDS, 0 };

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.pol = pol;
	srv.log.min = cfg->log_level;
	srv.log.fd = STDERR_FILENO;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGPIPE);
	/* Before any thread starts, so every thread inherits the mask and only sigtimedwait sees them. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if ((srv.metrics = metrics_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (certstore_open(cfg->tls_cert, cfg->tls_key, &srv.certs, err, errlen) < 0)
		goto out;
	publish_cert(&srv);
	if (cfg->body_budget < cfg->max_body) {
		snprintf(err, errlen, "--body-budget (%zu) is below --max-body (%zu)", cfg->body_budget,
		    cfg->max_body);
		goto out;
	}
	atomic_store(&srv.body_left, (long long)cfg->body_budget);
	if (deadline_new("webhook", cfg->request_timeout_ms, cfg->idle_timeout * 1000 >
	    cfg->request_timeout_ms ? cfg->idle_timeout * 1000 : cfg->request_timeout_ms,
	    &srv.log, srv.metrics, &srv.tls_dl, err, errlen) < 0 ||
	    deadline_new("plain", PLAIN_REQUEST_MS, PLAIN_REQUEST_MS, &srv.log, srv.metrics,
	    &srv.plain_dl, err, errlen) < 0)
		goto out;
	warn_fd_limit(&srv);
	if (listen_open(cfg->listen, &tls_fd, &port, err, errlen) < 0 ||
	    listen_open(cfg->plain_listen, &plain_fd, &plain_port, err, errlen) < 0)
		goto out;
	if (start_tls(&srv, tls_fd, err, errlen) < 0) {
		tls_fd = -1;
		goto out;
	}
	tls_fd = -1;
	if (start_plain(&srv, plain_fd, err, errlen) < 0) {
		plain_fd = -1;
		goto out;
	}
	plain_fd = -1;
	log_cert(&srv, "serving certificate loaded");
	log_listening(&srv, port, plain_port);
	for (;;) {
		sig = sigtimedwait(&sigs, NULL, &poll);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP || sig < 0)
			reload_certs(&srv, sig == SIGHUP);
	}
	shut_down(&srv, sig);
	rc = 0;
out:
	acceptor_stop(srv.acceptor);	/* before the daemon: it hands connections to it */
	if (srv.tls != NULL)
		MHD_stop_daemon(srv.tls);
	acceptor_free(srv.acceptor);	/* after the daemon: its workers report to it */
	if (srv.plain != NULL)
		MHD_stop_daemon(srv.plain);
	deadline_free(srv.tls_dl);	/* after the daemons: their connections report to them */
	deadline_free(srv.plain_dl);
	if (tls_fd >= 0)
		close(tls_fd);
	if (plain_fd >= 0)
		close(plain_fd);
	certstore_free(srv.certs);
	metrics_free(srv.metrics);
	return rc;
}
