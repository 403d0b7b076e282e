/* kube.c - a small Kubernetes API client on libcurl: JSON requests, Status errors, retries with backoff. */
#include "kube.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"

#ifndef BMHGUARD_VERSION
#define BMHGUARD_VERSION "0.0.0-dev"
#endif

struct kube_client {
	const struct kubeconfig *cfg;
	struct kube_client_opts o;
	pthread_mutex_t mu;
	unsigned long requests;
	unsigned long writes;
};

struct kube_conn {
	struct kube_client *k;
	CURL *h;		/* API handle, reused for keep-alive */
	CURL *head;		/* image-server handle for --verify-url, created on first use */
	unsigned int seed;	/* jitter */
	struct buf body;	/* response body being received, capped at max_response */
	long retry_after_s;	/* from the last response, -1 if none */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct kube_client *
kube_client_new(const struct kubeconfig *cfg, const struct kube_client_opts *opts, char *err,
    size_t errlen)
{
	struct kube_client *k;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl init failed: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->cfg = cfg;
	k->o.timeout_ms = 30000;
	k->o.max_attempts = 6;
	k->o.backoff_base_ms = 200;
	k->o.backoff_max_ms = 10000;
	k->o.max_response = KUBE_DEFAULT_MAX_RESPONSE;
	if (opts != NULL) {
		if (opts->timeout_ms > 0)
			k->o.timeout_ms = opts->timeout_ms;
		if (opts->max_attempts > 0)
			k->o.max_attempts = opts->max_attempts;
		if (opts->backoff_base_ms > 0)
			k->o.backoff_base_ms = opts->backoff_base_ms;
		if (opts->backoff_max_ms > 0)
			k->o.backoff_max_ms = opts->backoff_max_ms;
		if (opts->max_response > 0)
			k->o.max_response = opts->max_response;
	}
	pthread_mutex_init(&k->mu, NULL);
	return k;
}

void
kube_client_free(struct kube_client *k)
{
	if (k == NULL)
		return;
	pthread_mutex_destroy(&k->mu);
	free(k);
}

unsigned long
kube_client_requests(const struct kube_client *k)
{
	unsigned long n;

	pthread_mutex_lock((pthread_mutex_t *)&k->mu);
	n = k->requests;
	pthread_mutex_unlock((pthread_mutex_t *)&k->mu);
	return n;
}

unsigned long
kube_client_writes(const struct kube_client *k)
{
	unsigned long n;

	pthread_mutex_lock((pthread_mutex_t *)&k->mu);
	n = k->writes;
	pthread_mutex_unlock((pthread_mutex_t *)&k->mu);
	return n;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct kube_conn *c = ud;

	/* 0 aborts the transfer (CURLE_WRITE_ERROR); c->body.rc says why */
	return buf_add(&c->body, p, sz * n) == BUF_OK ? sz * n : 0;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct kube_conn *c = ud;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char tmp[32];
		size_t m = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
		char *end;
		long v;

		memcpy(tmp, p + 12, m);
		tmp[m] = '\0';
		v = strtol(tmp, &end, 10);
		/* Only the delta-seconds form; an HTTP date falls back to our own backoff. */
		if (end != tmp && v >= 0)
			c->retry_after_s = v;
	}
	return len;
}

/* TLS and identity settings shared by every request on this handle. */
static int
setup_tls(struct kube_conn *c, char *err, size_t errlen)
{
	const struct kubeconfig *cfg = c->k->cfg;
	CURL *h = c->h;
	CURLcode rc = CURLE_OK;

	if (cfg->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (cfg->ca_data != NULL) {
		struct curl_blob b = { cfg->ca_data, cfg->ca_len, CURL_BLOB_COPY };

		rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	} else if (cfg->ca_file != NULL) {
		rc = curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (rc == CURLE_OK && cfg->cert_data != NULL) {
		struct curl_blob b = { cfg->cert_data, cfg->cert_len, CURL_BLOB_COPY };

		rc = curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (rc == CURLE_OK && cfg->cert_file != NULL) {
		rc = curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
	}
	if (rc == CURLE_OK && cfg->key_data != NULL) {
		struct curl_blob b = { cfg->key_data, cfg->key_len, CURL_BLOB_COPY };

		rc = curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (rc == CURLE_OK && cfg->key_file != NULL) {
		rc = curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "TLS setup: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

struct kube_conn *
kube_conn_new(struct kube_client *k, char *err, size_t errlen)
{
	struct kube_conn *c = calloc(1, sizeof(*c));
	long connect_ms;

	if (c == NULL || (c->h = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return NULL;
	}
	c->k = k;
	buf_init(&c->body, k->o.max_response);
	c->seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)c;
	connect_ms = k->o.timeout_ms < 10000 ? k->o.timeout_ms : 10000;
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, k->o.timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	/* refused from Content-Length before a byte is read, when the server sends one */
	curl_easy_setopt(c->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)k->o.max_response);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "bmhguard/" BMHGUARD_VERSION);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (setup_tls(c, err, errlen) < 0) {
		kube_conn_free(c);
		return NULL;
	}
	return c;
}

void
kube_conn_free(struct kube_conn *c)
{
	if (c == NULL)
		return;
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	if (c->head != NULL)
		curl_easy_cleanup(c->head);
	buf_free(&c->body);
	free(c);
}

char *
kube_escape(struct kube_conn *c, const char *s)
{
	char *e = curl_easy_escape(c->h, s, 0);
	char *r;

	if (e == NULL)
		return NULL;
	r = strdup(e);
	curl_free(e);
	return r;
}

void
kube_status_message(const char *body, long http_status, char *out, size_t outlen)
{
	struct json_object *j = body != NULL ? json_tokener_parse(body) : NULL;
	struct json_object *v;
	const char *reason = NULL, *msg = NULL;

	if (j != NULL && json_object_is_type(j, json_type_object)) {
		if (json_object_object_get_ex(j, "reason", &v))
			reason = json_object_get_string(v);
		if (json_object_object_get_ex(j, "message", &v))
			msg = json_object_get_string(v);
	}
	if (msg != NULL && *msg != '\0')
		snprintf(out, outlen, "HTTP %ld %s: %s", http_status,
		    reason && *reason ? reason : "error", msg);
	else if (body != NULL && *body != '\0' && j == NULL)
		/* Not a Status object (a proxy's page, say): its first line, bounded. */
		snprintf(out, outlen, "HTTP %ld: %.*s", http_status, (int)strcspn(body, "\r\n") > 200 ?
		    200 : (int)strcspn(body, "\r\n"), body);
	else
		snprintf(out, outlen, "HTTP %ld", http_status);
	json_object_put(j);
	/* A server's message may span lines; the report wants one. */
	for (; *out != '\0'; out++)
		if ((unsigned char)*out < 0x20 || *out == 0x7f)
			*out = ' ';
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Wait before try number attempt+1: Retry-After when given, else exponential with jitter. */
static void
backoff(struct kube_conn *c, int attempt)
{
	const struct kube_client_opts *o = &c->k->o;
	long d = o->backoff_base_ms, j;
	int i;

	for (i = 1; i < attempt && d < o->backoff_max_ms; i++)
		d *= 2;
	if (d > o->backoff_max_ms)
		d = o->backoff_max_ms;
	if (c->retry_after_s >= 0) {
		long ra = c->retry_after_s * 1000;

		d = ra < o->backoff_max_ms ? ra : o->backoff_max_ms;
		/* A little jitter on top so a fleet of workers does not return in lockstep. */
		d += (long)(rand_r(&c->seed) % 100);
	} else {
		/* "equal jitter": between d/2 and d. */
		j = d / 2 > 0 ? (long)(rand_r(&c->seed) % (unsigned long)(d / 2 + 1)) : 0;
		d = d / 2 + j;
	}
	sleep_ms(d);
}

static int
retryable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_COULDNT_RESOLVE_HOST:
		return 1;
	default:
		return 0;
	}
}

static struct curl_slist *
build_headers(struct kube_conn *c, const char *body, const char *content_type, char *err,
    size_t errlen, int *failed)
{
	const struct kubeconfig *cfg = c->k->cfg;
	struct curl_slist *hl = NULL, *t;
	char *tok = NULL, *line = NULL;

	*failed = 0;
	hl = curl_slist_append(hl, "Accept: application/json");
	/* No "Expect: 100-continue" round trip before a body. */
	if (hl != NULL && (t = curl_slist_append(hl, "Expect:")) != NULL)
		hl = t;
	if (hl != NULL && body != NULL) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s",
		    content_type ? content_type : "application/json");
		if ((t = curl_slist_append(hl, ct)) == NULL)
			goto oom;
		hl = t;
	}
	if (hl == NULL)
		goto oom;
	/* Bound service-account tokens rotate: read the file for every request. */
	if (cfg->token_file != NULL) {
		if ((tok = kubeconfig_read_token(cfg->token_file, err, errlen)) == NULL) {
			*failed = 1;
			curl_slist_free_all(hl);
			return NULL;
		}
	}
	if (tok != NULL || cfg->token != NULL) {
		if (asprintf(&line, "Authorization: Bearer %s", tok ? tok : cfg->token) < 0) {
			line = NULL;
			goto oom;
		}
		t = curl_slist_append(hl, line);
		memset(line, 0, strlen(line));
		free(line);
		if (t == NULL)
			goto oom;
		hl = t;
	}
	if (tok != NULL) {
		memset(tok, 0, strlen(tok));
		free(tok);
	}
	return hl;
oom:
	if (tok != NULL)
		free(tok);
	curl_slist_free_all(hl);
	snprintf(err, errlen, "out of memory");
	*failed = 1;
	return NULL;
}

static int
is_write(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

enum kube_rc
kube_request(struct kube_conn *c, const char *method, const char *path, const char *body,
    const char *content_type, char **resp_body, long *http_status, char *err, size_t errlen)
{
	struct kube_client *k = c->k;
	char *url = NULL, msg[512];
	enum kube_rc rc = KUBE_TRANSPORT;
	int attempt, failed;

	if (resp_body != NULL)
		*resp_body = NULL;
	if (http_status != NULL)
		*http_status = 0;
	if (asprintf(&url, "%s%s", k->cfg->server, path) < 0) {
		snprintf(err, errlen, "out of memory");
		return KUBE_NOMEM;
	}
	for (attempt = 1; attempt <= k->o.max_attempts; attempt++) {
		struct curl_slist *hl = build_headers(c, body, content_type, msg, sizeof(msg), &failed);
		CURLcode cc;
		long status = 0;

		if (failed) {
			snprintf(err, errlen, "%s %s: %s", method, path, msg);
			rc = KUBE_TRANSPORT;
			goto out;
		}
		buf_reset(&c->body);
		c->retry_after_s = -1;
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c->h, CURLOPT_NOBODY, 0L);
		if (strcmp(method, "GET") == 0) {
			curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, NULL);
		} else {
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body ? body : "");
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
		}
		cc = curl_easy_perform(c->h);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(hl);
		pthread_mutex_lock(&k->mu);
		k->requests++;
		pthread_mutex_unlock(&k->mu);
		if (cc == CURLE_FILESIZE_EXCEEDED || (cc == CURLE_WRITE_ERROR &&
		    c->body.rc == BUF_TOOBIG)) {
			snprintf(msg, sizeof(msg), "response larger than %zu bytes", k->o.max_response);
			rc = KUBE_API_ERROR;	/* the same request would get the same answer */
			break;
		}
		if (cc == CURLE_WRITE_ERROR && c->body.rc == BUF_NOMEM) {
			snprintf(err, errlen, "%s %s: out of memory", method, path);
			rc = KUBE_NOMEM;
			goto out;
		}
		if (cc != CURLE_OK) {
			snprintf(msg, sizeof(msg), "%s", curl_easy_strerror(cc));
			rc = KUBE_TRANSPORT;
			if (!retryable_curl(cc))
				break;
			if (attempt < k->o.max_attempts)
				backoff(c, attempt);
			continue;
		}
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
		if (http_status != NULL)
			*http_status = status;
		if (status >= 200 && status < 300) {
			if (is_write(method)) {
				pthread_mutex_lock(&k->mu);
				k->writes++;
				pthread_mutex_unlock(&k->mu);
			}
			/* Hand the buffer over instead of copying a page of hosts. */
			if (resp_body != NULL && (*resp_body = buf_take(&c->body, NULL)) == NULL) {
				snprintf(err, errlen, "out of memory");
				rc = KUBE_NOMEM;
				goto out;
			}
			rc = KUBE_OK;
			goto out;
		}
		kube_status_message(c->body.data, status, msg, sizeof(msg));
		if (status == 409) {
			rc = KUBE_CONFLICT;
			break;
		}
		if (status == 404) {
			rc = KUBE_NOT_FOUND;
			break;
		}
		rc = KUBE_API_ERROR;
		if (status != 429 && status < 500)
			break;
		if (attempt < k->o.max_attempts)
			backoff(c, attempt);
	}
	if (attempt > k->o.max_attempts)
		snprintf(err, errlen, "%s %s: %s (gave up after %d tries)", method, path, msg,
		    k->o.max_attempts);
	else
		snprintf(err, errlen, "%s %s: %s", method, path, msg);
out:
	free(url);
	return rc;
}

static size_t
discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

long
kube_head(struct kube_conn *c, const char *url, char *err, size_t errlen)
{
	CURLcode cc;
	long status = 0;

	if (c->head == NULL) {
		if ((c->head = curl_easy_init()) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		curl_easy_setopt(c->head, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->head, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c->head, CURLOPT_TIMEOUT_MS, c->k->o.timeout_ms);
		curl_easy_setopt(c->head, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c->head, CURLOPT_USERAGENT, "bmhguard/" BMHGUARD_VERSION);
		curl_easy_setopt(c->head, CURLOPT_PROTOCOLS_STR, "http,https");
	}
	curl_easy_setopt(c->head, CURLOPT_URL, url);
	cc = curl_easy_perform(c->head);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "HEAD %s: %s", url, curl_easy_strerror(cc));
		return -1;
	}
	curl_easy_getinfo(c->head, CURLINFO_RESPONSE_CODE, &status);
	return status;
}
