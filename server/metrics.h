/* metrics.h - the webhook's counters, rendered in the Prometheus text exposition format. */
#ifndef BMHGUARD_METRICS_H
#define BMHGUARD_METRICS_H

#include <stddef.h>
#include <time.h>

#include "review.h"

struct metrics;	/* opaque; every update is a lock-free atomic, safe from any thread */

/* Returns NULL on allocation failure. Free with metrics_free(). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One answered admission request: its outcome and each change it reported. */
void metrics_observe_review(struct metrics *m, enum review_outcome outcome,
    const struct review_change *changes, size_t nchanges);
/* One HTTP response on the webhook port by status code, with its duration in seconds. */
void metrics_observe_http(struct metrics *m, unsigned status, double seconds);
void metrics_inflight_add(struct metrics *m, int delta);
long metrics_inflight(const struct metrics *m);
/* The serving certificate's notAfter, and the result of each reload attempt. */
void metrics_set_cert_expiry(struct metrics *m, time_t not_after);
void metrics_cert_reload(struct metrics *m, int ok);

/* A connection closed at its request deadline (plain: the health and metrics port). */
void metrics_deadline_exceeded(struct metrics *m, int plain);
/* A request refused because its body would pass the global body budget. */
void metrics_body_budget_refused(struct metrics *m);
/* accept(2) failed for lack of descriptors or memory on the webhook port. */
void metrics_accept_error(struct metrics *m);

/* Render everything. Returns a malloc'd NUL-terminated text the caller frees (and its length
 * in *len), or NULL on allocation failure. */
char *metrics_render(const struct metrics *m, const char *version, size_t *len);

#endif
