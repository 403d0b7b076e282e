/* metrics.c - the webhook's counters, rendered in the Prometheus text exposition format. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

/* Upper bounds in seconds: an answer normally takes well under a millisecond, so the low
 * buckets are fine-grained; the API server's default webhook timeout is 10 s. */
static const double duration_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};
#define NBUCKETS (sizeof(duration_bounds) / sizeof(duration_bounds[0]))

/* Status codes the webhook port answers with; anything else is counted as "other". */
static const unsigned http_codes[] = { 200, 400, 404, 405, 413, 415, 500, 503 };
#define NCODES (sizeof(http_codes) / sizeof(http_codes[0]))

struct metrics {
	atomic_ulong outcomes[REVIEW_OUTCOME_COUNT];
	atomic_ulong changes[REVIEW_FIELD_COUNT][REVIEW_ACTION_COUNT];
	atomic_ulong http[NCODES + 1];
	atomic_ulong buckets[NBUCKETS];	/* non-cumulative; summed on render */
	atomic_ulong count;
	atomic_ullong sum_ns;
	atomic_long inflight;
	atomic_llong cert_not_after;
	atomic_ulong reloads_ok, reloads_failed;
};

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));	/* all-zero bits are valid atomics on Linux */
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_observe_review(struct metrics *m, enum review_outcome outcome,
    const struct review_change *changes, size_t nchanges)
{
	size_t i;

	if ((unsigned)outcome < REVIEW_OUTCOME_COUNT)
		atomic_fetch_add_explicit(&m->outcomes[outcome], 1, memory_order_relaxed);
	for (i = 0; i < nchanges; i++)
		if ((unsigned)changes[i].field < REVIEW_FIELD_COUNT &&
		    (unsigned)changes[i].action < REVIEW_ACTION_COUNT)
			atomic_fetch_add_explicit(&m->changes[changes[i].field][changes[i].action], 1,
			    memory_order_relaxed);
}

void
metrics_observe_http(struct metrics *m, unsigned status, double seconds)
{
	size_t i;

	for (i = 0; i < NCODES && http_codes[i] != status; i++)
		;
	atomic_fetch_add_explicit(&m->http[i], 1, memory_order_relaxed);
	for (i = 0; i < NBUCKETS && seconds > duration_bounds[i]; i++)
		;
	if (i < NBUCKETS)
		atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_ns, (unsigned long long)(seconds * 1e9), memory_order_relaxed);
}

void
metrics_inflight_add(struct metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
}

long
metrics_inflight(const struct metrics *m)
{
	return atomic_load_explicit(&((struct metrics *)m)->inflight, memory_order_relaxed);
}

void
metrics_set_cert_expiry(struct metrics *m, time_t not_after)
{
	atomic_store(&m->cert_not_after, (long long)not_after);
}

void
metrics_cert_reload(struct metrics *m, int ok)
{
	atomic_fetch_add(ok ? &m->reloads_ok : &m->reloads_failed, 1);
}

/* A growing text buffer; on allocation failure it remembers and the render returns NULL. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = t->cap * 2 + (size_t)n;
		char *nb = realloc(t->buf, ncap);

		if (nb == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap = ncap;
	}
}

static unsigned long
load(const atomic_ulong *v)
{
	return atomic_load_explicit((atomic_ulong *)v, memory_order_relaxed);
}

static void
render_requests(struct text *t, const struct metrics *m)
{
	size_t i, a;

	text_printf(t, "# HELP bmhguard_admission_requests_total Admission reviews answered, by outcome.\n"
	    "# TYPE bmhguard_admission_requests_total counter\n");
	for (i = 0; i < REVIEW_OUTCOME_COUNT; i++)
		text_printf(t, "bmhguard_admission_requests_total{outcome=\"%s\"} %lu\n",
		    review_outcome_str((enum review_outcome)i), load(&m->outcomes[i]));
	text_printf(t, "# HELP bmhguard_rewrites_total Field changes reported, by field and action "
	    "(rewrite = patched, would-rewrite = --mode warn, withhold = not patched to avoid a deprovision).\n"
	    "# TYPE bmhguard_rewrites_total counter\n");
	for (i = 0; i < REVIEW_FIELD_COUNT; i++)
		for (a = 0; a < REVIEW_ACTION_COUNT; a++)
			text_printf(t, "bmhguard_rewrites_total{field=\"%s\",action=\"%s\"} %lu\n",
			    review_field_label((enum review_field)i),
			    review_action_str((enum review_action)a), load(&m->changes[i][a]));
	text_printf(t, "# HELP bmhguard_http_responses_total Responses on the webhook port, by status code.\n"
	    "# TYPE bmhguard_http_responses_total counter\n");
	for (i = 0; i <= NCODES; i++) {
		if (i < NCODES)
			text_printf(t, "bmhguard_http_responses_total{code=\"%u\"} %lu\n", http_codes[i],
			    load(&m->http[i]));
		else
			text_printf(t, "bmhguard_http_responses_total{code=\"other\"} %lu\n", load(&m->http[i]));
	}
}

static void
render_duration(struct text *t, const struct metrics *m)
{
	unsigned long cum = 0;
	size_t i;

	text_printf(t, "# HELP bmhguard_request_duration_seconds Time from a request's headers to its "
	    "response being sent, webhook port.\n# TYPE bmhguard_request_duration_seconds histogram\n");
	for (i = 0; i < NBUCKETS; i++) {
		cum += load(&m->buckets[i]);
		text_printf(t, "bmhguard_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
		    duration_bounds[i], cum);
	}
	text_printf(t, "bmhguard_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", load(&m->count));
	text_printf(t, "bmhguard_request_duration_seconds_sum %.9f\n",
	    (double)atomic_load(&((struct metrics *)m)->sum_ns) / 1e9);
	text_printf(t, "bmhguard_request_duration_seconds_count %lu\n", load(&m->count));
}

char *
metrics_render(const struct metrics *m, const char *version, size_t *len)
{
	struct text t = { NULL, 0, 0, 0 };

	t.cap = 8192;
	t.buf = malloc(t.cap);
	if (t.buf == NULL)
		return NULL;
	render_requests(&t, m);
	render_duration(&t, m);
	text_printf(&t, "# HELP bmhguard_inflight_requests Webhook requests being received or answered.\n"
	    "# TYPE bmhguard_inflight_requests gauge\nbmhguard_inflight_requests %ld\n", metrics_inflight(m));
	text_printf(&t, "# HELP bmhguard_tls_cert_not_after_seconds Expiry of the serving certificate "
	    "(Unix time).\n# TYPE bmhguard_tls_cert_not_after_seconds gauge\n"
	    "bmhguard_tls_cert_not_after_seconds %lld\n", atomic_load(&((struct metrics *)m)->cert_not_after));
	text_printf(&t, "# HELP bmhguard_tls_cert_reloads_total Certificate reload attempts, by result.\n"
	    "# TYPE bmhguard_tls_cert_reloads_total counter\n"
	    "bmhguard_tls_cert_reloads_total{result=\"success\"} %lu\n"
	    "bmhguard_tls_cert_reloads_total{result=\"failure\"} %lu\n",
	    load(&m->reloads_ok), load(&m->reloads_failed));
	text_printf(&t, "# HELP bmhguard_build_info Build information.\n# TYPE bmhguard_build_info gauge\n"
	    "bmhguard_build_info{version=\"%s\"} 1\n", version);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
