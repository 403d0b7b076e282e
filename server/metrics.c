/* metrics.c - the webhook's counters, rendered in the Prometheus text exposition format. */
#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* Upper bounds in seconds: an answer normally takes well under a millisecond, so the low
 * buckets are fine-grained; the API server's default webhook timeout is 10 s. */
static const double duration_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};
#define NBUCKETS (sizeof(duration_bounds) / sizeof(duration_bounds[0]))

/* Status codes the webhook port answers with; anything else is counted as "other". */
static const unsigned http_codes[] = { 200, 400, 404, 405, 413, 415, 500, 501, 503 };
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
	atomic_ulong deadline_exceeded[2];	/* webhook, plain */
	atomic_ulong body_budget_refused;
	atomic_ulong accept_errors;
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

void
metrics_deadline_exceeded(struct metrics *m, int plain)
{
	atomic_fetch_add_explicit(&m->deadline_exceeded[plain ? 1 : 0], 1, memory_order_relaxed);
}

void
metrics_body_budget_refused(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->body_budget_refused, 1, memory_order_relaxed);
}

void
metrics_accept_error(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->accept_errors, 1, memory_order_relaxed);
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

/* The standard process_* metrics (as Prometheus' client libraries name them), from /proc/self.
 * A value that cannot be read is left out rather than reported as 0. */
/* The boot time from /proc/stat, read once (it does not change), or -1. */
static double
boot_time(void)
{
	static _Atomic double cached;
	double v = atomic_load_explicit(&cached, memory_order_relaxed);
	char line[256];
	FILE *f;

	if (v > 0)
		return v;
	if ((f = fopen("/proc/stat", "re")) == NULL)
		return -1;
	v = -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "btime ", 6) == 0) {
			v = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	if (v > 0)
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	return v;
}

static void
render_process(struct text *t)
{
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char buf[1024], *p, *tok, *save = NULL;
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
	long long rss = -1;
	struct rlimit rl;
	struct dirent *de;
	FILE *f;
	DIR *d;
	int i, got = 0;
	size_t n;

	if ((f = fopen("/proc/self/stat", "re")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* Fields after the command name, which is in parentheses and may hold anything:
		 * token 0 is field 3 (state); utime 14, stime 15, starttime 22, vsize 23, rss 24. */
		if ((p = strrchr(buf, ')')) != NULL)
			for (i = 0, tok = strtok_r(p + 1, " \n", &save); tok != NULL;
			    i++, tok = strtok_r(NULL, " \n", &save)) {
				if (i == 11)
					utime = strtoull(tok, NULL, 10);
				else if (i == 12)
					stime = strtoull(tok, NULL, 10);
				else if (i == 19)
					start = strtoull(tok, NULL, 10);
				else if (i == 20)
					vsize = strtoull(tok, NULL, 10);
				else if (i == 21) {
					rss = strtoll(tok, NULL, 10);
					got = 1;
					break;
				}
			}
	}
	if (got && ticks > 0) {
		double btime = boot_time();

		text_printf(t, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
		    (double)(utime + stime) / (double)ticks);
		text_printf(t, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n",
		    rss * (long long)(page > 0 ? page : 4096));
		text_printf(t, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		    "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n", vsize);
		if (btime > 0)
			text_printf(t, "# HELP process_start_time_seconds Start time of the process since unix "
			    "epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
			    "process_start_time_seconds %.2f\n", btime + (double)start / (double)ticks);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		long nfd = 0;

		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				nfd++;
		closedir(d);
		text_printf(t, "# HELP process_open_fds Number of open file descriptors.\n"
		    "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", nfd - 1);	/* not our own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		text_printf(t, "# HELP process_max_fds Maximum number of open file descriptors.\n"
		    "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
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
	text_printf(&t, "# HELP bmhguard_tls_cert_not_after_timestamp_seconds Expiry (notAfter) of the "
	    "serving certificate, Unix time.\n# TYPE bmhguard_tls_cert_not_after_timestamp_seconds gauge\n"
	    "bmhguard_tls_cert_not_after_timestamp_seconds %lld\n",
	    atomic_load(&((struct metrics *)m)->cert_not_after));
	text_printf(&t, "# HELP bmhguard_tls_cert_reloads_total Certificate reload attempts, by result.\n"
	    "# TYPE bmhguard_tls_cert_reloads_total counter\n"
	    "bmhguard_tls_cert_reloads_total{result=\"success\"} %lu\n"
	    "bmhguard_tls_cert_reloads_total{result=\"failure\"} %lu\n",
	    load(&m->reloads_ok), load(&m->reloads_failed));
	text_printf(&t, "# HELP bmhguard_build_info Build information.\n# TYPE bmhguard_build_info gauge\n"
	    "bmhguard_build_info{version=\"%s\"} 1\n", version);
	text_printf(&t, "# HELP bmhguard_request_deadline_exceeded_total Connections closed because "
	    "their request was not complete by its deadline, by port.\n"
	    "# TYPE bmhguard_request_deadline_exceeded_total counter\n"
	    "bmhguard_request_deadline_exceeded_total{port=\"webhook\"} %lu\n"
	    "bmhguard_request_deadline_exceeded_total{port=\"plain\"} %lu\n",
	    load(&m->deadline_exceeded[0]), load(&m->deadline_exceeded[1]));
	text_printf(&t, "# HELP bmhguard_body_budget_refused_total Requests refused (503) because "
	    "their body would pass --body-budget.\n# TYPE bmhguard_body_budget_refused_total counter\n"
	    "bmhguard_body_budget_refused_total %lu\n", load(&m->body_budget_refused));
	text_printf(&t, "# HELP bmhguard_accept_errors_total Webhook connections not accepted for "
	    "lack of descriptors or memory.\n# TYPE bmhguard_accept_errors_total counter\n"
	    "bmhguard_accept_errors_total %lu\n", load(&m->accept_errors));
	render_process(&t);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
