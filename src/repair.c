/* repair.c - run the repair over a selection of Metal3 objects: find the kinds served, list, plan, write, report, wait. */
#include "repair.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "discovery.h"
#include "kevent.h"
#include "repair_access.h"
#include "repair_obj.h"
#include "str.h"

#define MERGE_PATCH "application/merge-patch+json"
#define QUEUE_CAP 64
#define BACKOFF_BASE_MS 25L
#define BACKOFF_MAX_MS 2000L
#define UNPAUSE_TRIES 5
#define LIST_RESTARTS_MAX 5
/* A list longer than this many pages is not a fleet but a server repeating itself. */
#define LIST_PAGES_MAX 20000

#define FW_KEPT "our pause (" REPAIR_PAUSE_VALUE ") stays on: its HostFirmwareComponents is " \
	"half repaired (a component's spec and status urls differ; see its row)"

/* A read back whose spec and status urls differ: re-read and re-plan, as after a 409. */
#define READBACK_MISMATCH ((enum kube_rc)100)

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms > 0)
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
}

static int
ours(const char *pause)
{
	return pause != NULL && strcmp(pause, REPAIR_PAUSE_VALUE) == 0;
}

int
repair_covers(const struct repair_opts *o, const char *kind)
{
	size_t i;

	if (o->kinds == NULL)
		return 1;
	for (i = 0; i < o->nkinds; i++)
		if (strcmp(o->kinds[i]->kind, kind) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- the runner */

/* One object to repair: a host (h), or an object of another kind (obj). */
struct work {
	const struct kinds_row *kind;
	const char *version;	/* the version the cluster serves it as */
	struct repair_host h;	/* a host; for a named object of another kind, h.ns and h.name */
	struct json_object *obj;	/* another kind's object, owned; NULL until read */
	int need_get;		/* named on the command line: read it first */
};

static void
work_free(struct work *w)
{
	repair_host_clear(&w->h);
	json_object_put(w->obj);
	free(w);
}

struct waiting {
	char *ns, *name;
};

struct runner {
	const struct repair_opts *o;
	struct kube_client *k;
	struct repair_summary *sum;
	pthread_mutex_t mu;	/* queue, summary, report, wait list, firmware holds */
	pthread_cond_t not_empty, not_full;
	pthread_cond_t idle;	/* every object handed out is reported: a phase ended */
	struct work *q[QUEUE_CAP];
	size_t qhead, qlen;
	int closed;
	unsigned long seen, done;
	long total;
	struct waiting *wait;
	size_t nwait, capwait;
	/* HostFirmwareComponents when the cluster serves it: a host's pause stays on while its
	 * firmware repair is half done (hosts whose firmware run left it so: fw_held). */
	const struct kinds_row *fw;
	const char *fw_version;
	struct waiting *fw_held;
	size_t nfw_held, capfw_held;
};

static int
is_host(const struct kinds_row *k)
{
	return k->pause != NULL && strcmp(k->pause, KINDS_HOST_PAUSE) == 0;
}

/* Block until every object handed out so far is reported. */
static void
wait_idle(struct runner *r)
{
	pthread_mutex_lock(&r->mu);
	while (r->done < r->seen)
		pthread_cond_wait(&r->idle, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

/* Remember ns/name in a list under r->mu. Out of memory: forgotten (the callers decide as if
 * it were listed where that is the safe side). Returns 0, or -1. */
static int
names_add(struct waiting **list, size_t *n, size_t *cap, const char *ns, const char *name)
{
	struct waiting *w;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;

		if ((w = realloc(*list, ncap * sizeof(*w))) == NULL)
			return -1;
		*list = w;
		*cap = ncap;
	}
	w = &(*list)[*n];
	w->ns = strdup(ns);
	w->name = strdup(name);
	if (w->ns == NULL || w->name == NULL) {
		free(w->ns);
		free(w->name);
		return -1;
	}
	(*n)++;
	return 0;
}

static void
names_free(struct waiting *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].ns);
		free(list[i].name);
	}
	free(list);
}

static void
queue_push(struct runner *r, struct work *w)
{
	pthread_mutex_lock(&r->mu);
	while (r->qlen == QUEUE_CAP)
		pthread_cond_wait(&r->not_full, &r->mu);
	r->q[(r->qhead + r->qlen) % QUEUE_CAP] = w;
	r->qlen++;
	r->seen++;
	pthread_cond_signal(&r->not_empty);
	pthread_mutex_unlock(&r->mu);
}

static struct work *
queue_pop(struct runner *r)
{
	struct work *w = NULL;

	pthread_mutex_lock(&r->mu);
	while (r->qlen == 0 && !r->closed)
		pthread_cond_wait(&r->not_empty, &r->mu);
	if (r->qlen > 0) {
		w = r->q[r->qhead];
		r->qhead = (r->qhead + 1) % QUEUE_CAP;
		r->qlen--;
		pthread_cond_signal(&r->not_full);
	}
	pthread_mutex_unlock(&r->mu);
	return w;
}

static void
queue_close(struct runner *r)
{
	pthread_mutex_lock(&r->mu);
	r->closed = 1;
	pthread_cond_broadcast(&r->not_empty);
	pthread_mutex_unlock(&r->mu);
}

/* ---------------------------------------------------------------- one host */

/* What one host's repair has done so far: it decides what a failure leaves behind. */
struct hostrun {
	const struct repair_rules *rules;
	struct kube_conn *c;
	struct repair_host *h;
	unsigned long calls, writes, conflicts;	/* writes: host writes that succeeded */
	long deadline;		/* monotonic ms */
	unsigned retries;
	unsigned seed;		/* for backoff jitter */
	char *status_written;	/* the status url this run wrote (owned), NULL: none */
	int keep_pause;		/* its firmware repair is half done, or unknown: our pause stays on */
	char keep_why[900];	/* why, when unknown */
};

/* What happened to one host, for report() to count and print. */
struct outcome {
	enum repair_outcome how;
	enum repair_action action;
	char detail[800];
	int under_other_pause;
	struct repair_call *calls_planned;
	size_t ncalls;
};

static void outcome_set(struct outcome *oc, enum repair_outcome how, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
outcome_set(struct outcome *oc, enum repair_outcome how, const char *fmt, ...)
{
	va_list ap;

	oc->how = how;
	va_start(ap, fmt);
	vsnprintf(oc->detail, sizeof(oc->detail), fmt, ap);
	va_end(ap);
}

/* GET the host into *hr->h (replacing it). */
static enum kube_rc
fetch(struct hostrun *hr, const char *ns, const char *name, char *err, size_t errlen)
{
	char path[512], *body = NULL;
	struct repair_host fresh;
	enum kube_rc rc;

	repair_host_path(ns, name, path, sizeof(path));
	rc = kube_request(hr->c, "GET", path, NULL, NULL, &body, NULL, err, errlen);
	hr->calls++;
	if (rc != KUBE_OK)
		return rc;
	if (repair_host_parse(body, &fresh, err, errlen) < 0) {
		free(body);
		return KUBE_API_ERROR;
	}
	free(body);
	repair_host_clear(hr->h);
	*hr->h = fresh;
	return KUBE_OK;
}

/* Read the host again under its own names (fetch replaces the strings they live in). */
static enum kube_rc
refetch(struct hostrun *hr, char *err, size_t errlen)
{
	char *ns = strdup(hr->h->ns), *name = strdup(hr->h->name);
	enum kube_rc rc = (ns && name) ? fetch(hr, ns, name, err, errlen) : KUBE_NOMEM;

	free(ns);
	free(name);
	return rc;
}

/* Merge-patch one step with the resourceVersion last seen; the answer is the stored object. */
static enum kube_rc
patch_step(struct hostrun *hr, const struct repair_plan *plan, unsigned step, char *err,
    size_t errlen)
{
	char path[600], *body, *resp = NULL;
	struct repair_host fresh;
	enum kube_rc rc;

	repair_step_path(hr->h->ns, hr->h->name, step, path, sizeof(path));
	if ((body = repair_step_body(plan, step, hr->h->rv)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return KUBE_NOMEM;
	}
	rc = kube_request(hr->c, "PATCH", path, body, MERGE_PATCH, &resp, NULL, err, errlen);
	hr->calls++;
	free(body);
	if (rc != KUBE_OK)
		return rc;
	hr->writes++;
	if (step == REPAIR_STEP_STATUS) {
		free(hr->status_written);
		hr->status_written = plan->new_status_url ? strdup(plan->new_status_url) : NULL;
	}
	if (repair_host_parse(resp, &fresh, err, errlen) < 0) {
		free(resp);
		return KUBE_API_ERROR;
	}
	free(resp);
	repair_host_clear(hr->h);
	*hr->h = fresh;
	return KUBE_OK;
}

/* Run the plan's steps in order. A conflict (or a read-back that does not match) returns
 * KUBE_CONFLICT / READBACK_MISMATCH so the caller re-reads and re-plans from what is stored. */
static enum kube_rc
execute(struct hostrun *hr, const struct repair_plan *plan, char *err, size_t errlen)
{
	struct repair_host *h = hr->h;
	enum kube_rc rc;
	size_t i;

	for (i = 0; i < REPAIR_NSTEPS; i++) {
		unsigned step = repair_step_order[i];

		if (!(plan->steps & step))
			continue;
		if (step == REPAIR_STEP_READBACK) {
			if ((rc = refetch(hr, err, errlen)) != KUBE_OK)
				return rc;
			h = hr->h;
			if (!repair_host_consistent(hr->rules, h)) {
				snprintf(err, errlen, "read back: spec url '%s', status url '%s' or the "
				    "status annotation do not match", h->spec_url ? h->spec_url : "",
				    h->status_url ? h->status_url : "");
				return READBACK_MISMATCH;
			}
			continue;
		}
		if (step == REPAIR_STEP_UNPAUSE && !ours(h->pause))
			continue;	/* gone already, or someone put their own on: theirs stays */
		if ((rc = patch_step(hr, plan, step, err, errlen)) != KUBE_OK)
			return rc;
		h = hr->h;
	}
	return KUBE_OK;
}

/*
 * A write failed for good. If this run wrote anything, or our pause may be on the host, look
 * again. A consistent host (spec == status, annotation in line) has nothing the operator would
 * wipe: our pause comes off and the host is back in its owner's hands. An inconsistent one stands
 * between its pause and a wipe: our pause stays, and the owner of a pause handed over is told to
 * keep theirs; either way a person has to look.
 */
static void
abandon(struct hostrun *hr, struct outcome *oc, const char *why)
{
	const struct repair_plan unpause = { .action = REPAIR_RESUME, .steps = REPAIR_STEP_UNPAUSE };
	char e[600] = "";
	int i;

	if (hr->writes == 0 && !ours(hr->h->pause)) {
		outcome_set(oc, REPAIR_OUT_FAILED, "%s", why);
		return;
	}
	if (hr->keep_pause) {
		outcome_set(oc, REPAIR_OUT_NEEDS_HUMAN, "%s; %s", why, hr->keep_why[0] ?
		    hr->keep_why : FW_KEPT);
		return;
	}
	for (i = 0; i < UNPAUSE_TRIES; i++) {
		struct repair_host *h;

		if (refetch(hr, e, sizeof(e)) != KUBE_OK) {
			outcome_set(oc, REPAIR_OUT_FAILED, "%s; could not read the host again (%s): "
			    "if our pause is on, the next run resumes from it", why, e);
			return;
		}
		h = hr->h;
		if (repair_state_transient(h->state) || !repair_host_consistent(hr->rules, h)) {
			if (h->pause == NULL) {
				outcome_set(oc, REPAIR_OUT_FAILED, "%s; spec url '%s', status url '%s', "
				    "unpaused by someone else", why, h->spec_url ? h->spec_url : "",
				    h->status_url ? h->status_url : "");
				return;
			}
			outcome_set(oc, REPAIR_OUT_NEEDS_HUMAN, "%s; spec url '%s', status url '%s', "
			    "state '%s': %s", why, h->spec_url ? h->spec_url : "", h->status_url ?
			    h->status_url : "", h->state ? h->state : "", ours(h->pause) ?
			    "our pause (" REPAIR_PAUSE_VALUE ") left in place" :
			    "keep the pause on until it is repaired");
			return;
		}
		if (!ours(h->pause)) {
			outcome_set(oc, REPAIR_OUT_FAILED, "%s", why);
			return;
		}
		switch (patch_step(hr, &unpause, REPAIR_STEP_UNPAUSE, e, sizeof(e))) {
		case KUBE_OK:
			outcome_set(oc, REPAIR_OUT_FAILED, "%s; spec url == status url, so our pause "
			    "was removed again", why);
			return;
		case KUBE_CONFLICT:
			continue;
		default:
			i = UNPAUSE_TRIES;
			break;
		}
	}
	outcome_set(oc, REPAIR_OUT_FAILED, "%s; our pause (%s) could not be removed (%s): the next "
	    "run resumes from it", why, REPAIR_PAUSE_VALUE, e);
}

static int
verify_one(struct kube_conn *c, const char *url, char *err, size_t errlen)
{
	char e[400];
	long st;

	if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return 0;	/* a bare digest is not a url */
	st = kube_head(c, url, e, sizeof(e));
	if (st == 200)
		return 0;
	if (st < 0)
		snprintf(err, errlen, "--verify-url: %s", e);
	else
		snprintf(err, errlen, "--verify-url: HEAD %s answered %ld, not 200", url, st);
	return -1;
}

static int
verify_plan(struct kube_conn *c, const struct repair_plan *plan, char *err, size_t errlen)
{
	if (verify_one(c, plan->new_spec_url, err, errlen) < 0 ||
	    verify_one(c, plan->new_spec_checksum, err, errlen) < 0)
		return -1;
	if (plan->new_status_url != NULL && !str_eq(plan->new_status_url, plan->new_spec_url) &&
	    verify_one(c, plan->new_status_url, err, errlen) < 0)
		return -1;
	if (plan->new_status_checksum != NULL &&
	    !str_eq(plan->new_status_checksum, plan->new_spec_checksum) &&
	    verify_one(c, plan->new_status_checksum, err, errlen) < 0)
		return -1;
	return 0;
}

static void
free_calls(struct repair_call *calls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(calls[i].body);
	free(calls);
}

/* The calls a dry run would make, for the report. */
static struct repair_call *
plan_calls(const struct repair_plan *plan, const struct repair_host *h, size_t *n)
{
	struct repair_call *calls = calloc(REPAIR_NSTEPS, sizeof(*calls));
	size_t i;
	int first = 1;

	*n = 0;
	if (calls == NULL)
		return NULL;
	for (i = 0; i < REPAIR_NSTEPS; i++) {
		unsigned step = repair_step_order[i];
		struct repair_call *c = &calls[*n];

		if (!(plan->steps & step))
			continue;
		repair_step_path(h->ns, h->name, step, c->path, sizeof(c->path));
		if (step == REPAIR_STEP_READBACK) {
			c->method = "GET";
		} else {
			c->method = "PATCH";
			c->body = repair_step_body(plan, step, first ? h->rv : NULL);
			first = 0;
		}
		(*n)++;
	}
	return calls;
}

/* Jittered exponential backoff before the next re-read, never past the host's deadline; the first
 * re-read is at once (a single concurrent write is the common case). */
static void
backoff(struct hostrun *hr)
{
	long d = BACKOFF_BASE_MS << (hr->retries < 7 ? hr->retries : 7), left;

	if (hr->retries++ == 0)
		return;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	d = d / 2 + (long)(rand_r(&hr->seed) % (unsigned)(d / 2 + 1));
	left = hr->deadline - now_ms();
	sleep_ms(d < left ? d : left);
}

/* Whether a re-read shows a pause put on after this run changed the status: finishing the spec
 * under it is what brings spec and status together again. */
static int
adoptable(const struct hostrun *hr)
{
	return hr->status_written != NULL && hr->h->pause != NULL && !ours(hr->h->pause) &&
	    str_eq(hr->h->status_url, hr->status_written);
}

/* What a run's writes add up to: a repair outweighs a patch, a patch a resume. */
static enum repair_action
stronger(enum repair_action done, enum repair_action a)
{
	static const int rank[] = {
		[REPAIR_NONE] = 0, [REPAIR_LEAVE] = 0, [REPAIR_RESUME] = 1, [REPAIR_ANNOTATION] = 2,
		[REPAIR_SPEC_ONLY] = 2, [REPAIR_FULL] = 3,
	};

	return rank[a] > rank[done] ? a : done;
}

static enum repair_outcome
done_outcome(enum repair_action a)
{
	return a == REPAIR_FULL ? REPAIR_OUT_REPAIRED : a == REPAIR_RESUME ? REPAIR_OUT_RESUMED :
	    REPAIR_OUT_PATCHED;
}

static int firmware_holds(struct runner *r, struct hostrun *hr);

/* Plan, and with --apply repair, one host until it is done, left alone or failed. */
static void
repair_host_loop(struct runner *r, struct hostrun *hr, struct outcome *oc, int *wait_for)
{
	const struct repair_opts *o = r->o;
	struct repair_plan plan;
	char err[600] = "";
	int verified = 0, adopt = 0, rounds = 0;
	enum repair_action done = REPAIR_NONE;	/* what this run's writes were part of */
	unsigned long writes;
	enum kube_rc rc;

	memset(&plan, 0, sizeof(plan));
	/* Found under our pause: a run stopped half way, perhaps through the host's firmware. */
	if (o->apply && ours(hr->h->pause))
		hr->keep_pause = firmware_holds(r, hr);
	for (;;) {
		repair_plan_clear(&plan);
		if (repair_plan(&o->rules, hr->h, adopt, &plan) < 0) {
			outcome_set(oc, REPAIR_OUT_FAILED, "out of memory");
			break;
		}
		if (hr->keep_pause)
			plan.steps &= ~(unsigned)REPAIR_STEP_UNPAUSE;
		oc->action = plan.action;
		oc->under_other_pause = plan.under_other_pause;
		if (plan.action == REPAIR_NONE && done != REPAIR_NONE) {
			/* someone finished or took over the last step after this run's writes */
			oc->action = done;
			outcome_set(oc, done_outcome(done), "finished; %lu re-plans after conflicts",
			    hr->conflicts);
			*wait_for = hr->h->pause == NULL;
			break;
		}
		if (plan.action == REPAIR_NONE || plan.action == REPAIR_LEAVE) {
			outcome_set(oc, plan.action == REPAIR_NONE ? REPAIR_OUT_OK : plan.leave, "%s",
			    plan.reason);
			break;
		}
		if (o->verify_url && !verified) {
			if (verify_plan(hr->c, &plan, err, sizeof(err)) < 0) {
				char why[700];

				snprintf(why, sizeof(why), "not repaired: %s", err);
				abandon(hr, oc, why);
				break;
			}
			verified = 1;
		}
		if (!o->apply) {
			oc->calls_planned = plan_calls(&plan, hr->h, &oc->ncalls);
			outcome_set(oc, REPAIR_OUT_PLANNED, "%s", plan.reason);
			break;
		}
		writes = hr->writes;
		rc = execute(hr, &plan, err, sizeof(err));
		if (hr->writes > writes)
			done = stronger(done, plan.action);
		if (rc == KUBE_OK && ours(hr->h->pause) && plan.action != REPAIR_FULL &&
		    plan.action != REPAIR_RESUME && rounds++ < 2)
			continue;	/* patched under our pause: the re-plan removes it if safe */
		if (rc == KUBE_OK) {
			/* a repair whose last step conflicted ends as a resume: still this run's repair */
			if (stronger(done, plan.action) != plan.action) {
				oc->action = done;
				outcome_set(oc, done_outcome(done), plan.action == REPAIR_RESUME ?
				    "then our pause removed (%lu re-plans after conflicts)" :
				    "finished (%lu re-plans after conflicts)", hr->conflicts);
			} else {
				outcome_set(oc, done_outcome(plan.action), "%s", plan.reason);
			}
			if (hr->h->pause != NULL && !ours(hr->h->pause) && !plan.under_other_pause) {
				oc->under_other_pause = 1;
				outcome_set(oc, oc->how, "paused by someone else while repairing ('%s'): "
				    "left in place", hr->h->pause);
			}
			*wait_for = hr->h->pause == NULL;
			break;
		}
		if (rc != KUBE_CONFLICT && rc != READBACK_MISMATCH) {
			abandon(hr, oc, rc == KUBE_NOT_FOUND ? "host disappeared" : err);
			break;
		}
		hr->conflicts++;
		if (now_ms() >= hr->deadline) {
			char why[800];

			snprintf(why, sizeof(why), "still conflicting after %.0fs (%lu re-reads): %s",
			    (double)o->host_deadline_ms / 1000.0, hr->conflicts, err);
			abandon(hr, oc, why);
			break;
		}
		backoff(hr);
		if ((rc = refetch(hr, err, sizeof(err))) != KUBE_OK) {
			abandon(hr, oc, rc == KUBE_NOT_FOUND ? "host disappeared" : err);
			break;
		}
		adopt = adoptable(hr);
	}
	repair_plan_clear(&plan);
	if (hr->keep_pause && ours(hr->h->pause) && oc->how != REPAIR_OUT_FAILED &&
	    oc->how != REPAIR_OUT_NEEDS_HUMAN && oc->how != REPAIR_OUT_PLANNED) {
		outcome_set(oc, REPAIR_OUT_NEEDS_HUMAN, "%s", hr->keep_why[0] ? hr->keep_why :
		    FW_KEPT);
		*wait_for = 0;
	}
}

/* What a report row and an Event are about. Borrowed. */
struct subject {
	const struct kinds_row *kind;
	const char *version, *ns, *name, *uid, *rv, *state, *error;
};

static struct subject
host_subject(const struct work *w, const struct repair_host *h)
{
	struct subject s = { w->kind, w->version, h->ns, h->name, h->uid, h->rv, h->state,
		h->error_type };

	return s;
}

/* An Event on the object: kubectl describe shows what repair did or why it left it alone. */
static void
post_event(struct runner *r, struct kube_conn *c, const struct subject *sub,
    unsigned long *calls, const struct outcome *oc)
{
	const struct repair_outcome_info *info = repair_outcome_info(oc->how);
	char path[512], note[KEVENT_NOTE_MAX + 1], e[600], apiv[160], *body;
	struct kevent ev = {
		.api_version = apiv, .kind = sub->kind->kind, .ns = sub->ns,
		.name = sub->name, .regarding_uid = sub->uid, .regarding_rv = sub->rv,
		.instance = r->o->instance ? r->o->instance : "bmhguard",
		.action = r->o->apply ? "Repair" : "PlanRepair", .reason = info->reason,
		.type = info->type, .note = note, .now_us = kevent_now_us(),
	};
	enum kube_rc rc;

	if (info->reason == NULL || sub->ns == NULL || sub->name == NULL)
		return;
	snprintf(apiv, sizeof(apiv), "%s/%s", sub->kind->group, sub->version);
	snprintf(note, sizeof(note), "bmhguard repair: %s%s%s", info->result, *oc->detail ?
	    ": " : "", oc->detail);
	kevent_path(sub->ns, path, sizeof(path));
	if ((body = kevent_body(&ev)) == NULL)
		rc = KUBE_NOMEM;
	else
		rc = kube_request(c, "POST", path, body, "application/json", NULL, NULL, e,
		    sizeof(e));
	*calls += body != NULL;
	free(body);
	pthread_mutex_lock(&r->mu);
	if (rc == KUBE_OK)
		r->sum->events++;
	else if (r->sum->events_failed++ == 0)
		fprintf(stderr, "bmhguard repair: could not post an Event on %s %s/%s: %s\n",
		    sub->kind->kind, sub->ns, sub->name, rc == KUBE_NOMEM ? "out of memory" : e);
	pthread_mutex_unlock(&r->mu);
}

static void
report(struct runner *r, const struct subject *sub, const struct hostrun *hr,
    const struct outcome *oc)
{
	const struct repair_outcome_info *info = repair_outcome_info(oc->how);
	struct repair_summary *s = r->sum;
	struct repair_result res = {
		.kind = sub->kind, .ns = sub->ns ? sub->ns : "", .name = sub->name ? sub->name : "",
		.state = sub->state ? sub->state : "", .error = sub->error ? sub->error : "",
		.action = repair_action_str(oc->action), .outcome = oc->how, .result = info->result,
		.detail = oc->detail, .failed = info->exit_failed, .calls_made = hr->calls,
		.calls = oc->calls_planned, .ncalls = oc->ncalls,
	};

	pthread_mutex_lock(&r->mu);
	if (is_host(sub->kind))
		s->hosts++;
	else
		s->objects++;
	s->outcome[oc->how]++;
	s->calls += hr->calls;
	s->writes += hr->writes;
	s->conflicts += hr->conflicts;
	if (oc->how == REPAIR_OUT_REPAIRED && is_host(sub->kind))
		s->repair_calls += hr->calls;
	if (oc->under_other_pause && oc->how >= REPAIR_OUT_REPAIRED &&
	    oc->how <= REPAIR_OUT_RESUMED)
		s->under_other_pause++;
	r->done++;
	if (r->o->report != NULL)
		r->o->report(&res, r->o->report_ud);
	if (r->o->progress != NULL)
		r->o->progress(r->done, r->seen, r->total, r->o->report_ud);
	if (r->done == r->seen)
		pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->mu);
}

static void
wait_add(struct runner *r, const struct repair_host *h)
{
	pthread_mutex_lock(&r->mu);
	(void)names_add(&r->wait, &r->nwait, &r->capwait, h->ns, h->name);
	pthread_mutex_unlock(&r->mu);
}

static void
process(struct runner *r, struct kube_conn *c, struct work *w)
{
	const struct repair_opts *o = r->o;
	struct repair_host *h = &w->h;
	struct hostrun hr;
	struct outcome oc;
	struct subject sub;
	char err[600] = "";
	int had_error, wait_for = 0;

	memset(&oc, 0, sizeof(oc));
	memset(&hr, 0, sizeof(hr));
	hr.rules = &o->rules;
	hr.c = c;
	hr.h = h;
	hr.deadline = now_ms() + o->host_deadline_ms;
	hr.seed = (unsigned)now_ms() ^ (unsigned)(uintptr_t)w;
	if (w->need_get) {
		char *ns = h->ns, *name = h->name;
		enum kube_rc rc;

		h->ns = h->name = NULL;
		repair_host_clear(h);
		h->ns = ns;
		h->name = name;
		rc = fetch(&hr, ns, name, err, sizeof(err));
		if (rc != KUBE_OK) {
			if (h->ns == NULL) {	/* fetch failed before replacing: keep the names */
				h->ns = ns;
				h->name = name;
			}
			outcome_set(&oc, REPAIR_OUT_FAILED, "%s", err);
			sub = host_subject(w, h);
			report(r, &sub, &hr, &oc);
			return;
		}
	}
	had_error = str_eq(h->error_type, REPAIR_REGISTRATION_ERROR);
	repair_host_loop(r, &hr, &oc, &wait_for);
	sub = host_subject(w, h);
	if (o->events)
		post_event(r, c, &sub, &hr.calls, &oc);
	report(r, &sub, &hr, &oc);
	/* Only hosts this run repaired and left unpaused: the operator clears nothing while paused. */
	if (had_error && wait_for && o->wait_ms > 0 &&
	    (oc.how == REPAIR_OUT_REPAIRED || oc.how == REPAIR_OUT_RESUMED))
		wait_add(r, h);
	free_calls(oc.calls_planned, oc.ncalls);
	free(hr.status_written);
}

/* ---------------------------------------------------------------- another kind's object */

/* One object of another kind, and for a kind its host's pause holds, that host. */
struct objrun {
	struct hostrun hr;	/* counters, deadline and backoff; hr.h is the host */
	struct repair_host host;
	enum repair_obj_host where;
	const struct kinds_row *k;
	const char *version;
	struct json_object *obj;	/* as last read or written, owned */
	const char *ns, *name;	/* the object's, as first seen (owned by the work item) */
	int paused;		/* this run put our pause on the host */
	int status_written;	/* this run wrote the object's status, and its spec not yet */
	int pause_lost;		/* the host's pause was gone right after a status and spec write */
	int release;		/* our pause comes off the host when safe: this run put it on, or
				 * a plan with the unpause step ran (another kind's run leaves it to
				 * the host's own repair) */
};

static void
obj_path(const struct objrun *x, int status, char *out, size_t outlen)
{
	repair_obj_path(x->k, x->version, x->ns, x->name, status, out, outlen);
}

/* Replace x->obj with the object in body (a GET or PATCH answer). */
static enum kube_rc
obj_take(struct objrun *x, char *body, char *err, size_t errlen)
{
	struct json_object *o = json_tokener_parse(body);
	struct repair_obj_meta m;

	free(body);
	if (o != NULL)
		repair_obj_meta(o, &m);
	if (o == NULL || !json_object_is_type(o, json_type_object) || m.rv == NULL ||
	    !str_eq(m.name, x->name)) {
		json_object_put(o);
		snprintf(err, errlen, "answer is not the %s '%s'", x->k->kind, x->name);
		return KUBE_API_ERROR;
	}
	json_object_put(x->obj);
	x->obj = o;
	return KUBE_OK;
}

static enum kube_rc
obj_fetch(struct objrun *x, char *err, size_t errlen)
{
	char path[600], *body = NULL;
	enum kube_rc rc;

	obj_path(x, 0, path, sizeof(path));
	rc = kube_request(x->hr.c, "GET", path, NULL, NULL, &body, NULL, err, errlen);
	x->hr.calls++;
	return rc == KUBE_OK ? obj_take(x, body, err, errlen) : rc;
}

static enum kube_rc
obj_patch(struct objrun *x, const struct repair_obj_plan *plan, unsigned step, char *err,
    size_t errlen)
{
	struct repair_obj_meta m;
	char path[600], *body, *resp = NULL;
	enum kube_rc rc;

	repair_obj_meta(x->obj, &m);
	obj_path(x, step == REPAIR_STEP_STATUS, path, sizeof(path));
	if ((body = repair_obj_step_body(plan, step, m.rv)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return KUBE_NOMEM;
	}
	rc = kube_request(x->hr.c, "PATCH", path, body, MERGE_PATCH, &resp, NULL, err, errlen);
	x->hr.calls++;
	free(body);
	if (rc != KUBE_OK)
		return rc;
	x->hr.writes++;
	return obj_take(x, resp, err, errlen);
}

/* Read the host of the object's name: absent (404) is an answer too. */
static enum kube_rc
obj_host(struct objrun *x, char *err, size_t errlen)
{
	enum kube_rc rc = fetch(&x->hr, x->ns, x->name, err, errlen);

	if (rc == KUBE_NOT_FOUND) {
		repair_host_clear(&x->host);
		x->where = REPAIR_OBJ_HOST_ABSENT;
		return KUBE_OK;
	}
	if (rc == KUBE_OK) {
		x->where = REPAIR_OBJ_HOST_READ;
		/* between our status and spec writes the host must stay paused */
		if (x->status_written && x->host.pause == NULL)
			x->pause_lost = 1;
	}
	return rc;
}

/* Our pause comes off the host when nothing is half done: the object's urls in line (a
 * firmware component flashed from one url and recorded from another would be flashed again), and
 * the host as this run found it before pausing it (nobody reconciles a paused host, so only
 * another writer moves it into a transient state), or, for a pause found on it, settled.
 * Returns 0 (removed, or not ours to remove), or -1 with why (kept). */
static int
obj_release(struct objrun *x, char *why, size_t whylen)
{
	const struct repair_plan unpause = { .action = REPAIR_RESUME, .steps = REPAIR_STEP_UNPAUSE };
	char e[600] = "";
	int i;

	for (i = 0; x->release && i < UNPAUSE_TRIES; i++) {
		if (x->where != REPAIR_OBJ_HOST_READ || !ours(x->host.pause))
			return 0;
		if (repair_obj_half_done(x->hr.rules, x->k, x->obj)) {
			snprintf(why, whylen, "a component's spec and status urls differ: our pause "
			    "(" REPAIR_PAUSE_VALUE ") stays on host %s until they match", x->name);
			return -1;
		}
		if (!x->paused && !repair_host_settled(x->hr.rules, &x->host))
			return 0;	/* the host's own repair is under way: it removes it */
		if (x->paused && repair_state_transient(x->host.state)) {
			snprintf(why, whylen, "host %s was moved to state '%s' while paused: our pause "
			    "(" REPAIR_PAUSE_VALUE ") left in place: unpausing could release it",
			    x->name, x->host.state);
			return -1;
		}
		switch (patch_step(&x->hr, &unpause, REPAIR_STEP_UNPAUSE, e, sizeof(e))) {
		case KUBE_OK:
			x->paused = 0;
			return 0;
		case KUBE_CONFLICT:
			if (obj_host(x, e, sizeof(e)) != KUBE_OK)
				i = UNPAUSE_TRIES;
			continue;
		default:
			i = UNPAUSE_TRIES;
			break;
		}
	}
	if (!x->release)
		return 0;
	snprintf(why, whylen, "our pause (" REPAIR_PAUSE_VALUE ") could not be removed from host "
	    "%s (%s): the next run resumes it", x->name, e);
	return -1;
}

/* Run the plan's steps; a conflict or a read-back with work left asks for a re-plan. */
static enum kube_rc
obj_execute(struct objrun *x, const struct repair_obj_plan *plan, char *err, size_t errlen)
{
	const struct repair_plan pause = { .action = REPAIR_FULL, .steps = REPAIR_STEP_PAUSE };
	struct repair_obj_plan again;
	enum kube_rc rc;
	size_t i;

	for (i = 0; i < REPAIR_NSTEPS; i++) {
		unsigned step = repair_step_order[i];

		if (!(plan->steps & step) || step == REPAIR_STEP_UNPAUSE)
			continue;	/* the pause comes off in obj_release, once it is safe */
		if (step == REPAIR_STEP_PAUSE) {
			if ((rc = patch_step(&x->hr, &pause, step, err, errlen)) != KUBE_OK)
				return rc;
			x->paused = x->release = 1;
			continue;
		}
		if (step == REPAIR_STEP_STATUS && x->where == REPAIR_OBJ_HOST_READ &&
		    !(plan->steps & REPAIR_STEP_PAUSE)) {
			/* under a pause found on the host: make sure it is still there */
			if ((rc = obj_host(x, err, errlen)) != KUBE_OK)
				return rc;
			if (x->where != REPAIR_OBJ_HOST_READ ||
			    !repair_pause_handed(x->hr.rules, x->host.pause)) {
				snprintf(err, errlen, "the host's pause changed before the status write");
				return READBACK_MISMATCH;
			}
		}
		if (step == REPAIR_STEP_READBACK) {
			if (plan->status != NULL && x->where == REPAIR_OBJ_HOST_READ) {
				/* was the host paused all along? (the operator flashes between the two
				 * writes only on an unpaused host) */
				if ((rc = obj_host(x, err, errlen)) != KUBE_OK)
					return rc;
				if (x->where == REPAIR_OBJ_HOST_READ && x->host.pause == NULL)
					x->pause_lost = 1;
			}
			if ((rc = obj_fetch(x, err, errlen)) != KUBE_OK)
				return rc;
			if (repair_obj_plan(x->hr.rules, x->k, x->obj, x->where, &x->host, &again) < 0)
				return KUBE_NOMEM;
			rc = again.spec != NULL || again.status != NULL ? READBACK_MISMATCH : KUBE_OK;
			repair_obj_plan_clear(&again);
			if (rc != KUBE_OK) {
				snprintf(err, errlen, "read back: urls still to change");
				return rc;
			}
			continue;
		}
		if ((rc = obj_patch(x, plan, step, err, errlen)) != KUBE_OK)
			return rc;
		x->status_written = step == REPAIR_STEP_STATUS;
	}
	return KUBE_OK;
}

/* The calls a dry run would make. */
static struct repair_call *
obj_calls(const struct objrun *x, const struct repair_obj_plan *plan, size_t *n)
{
	const struct repair_plan pp = { .action = REPAIR_FULL, .steps = plan->steps };
	struct repair_call *calls = calloc(REPAIR_NSTEPS, sizeof(*calls));
	struct repair_obj_meta m;
	size_t i;

	*n = 0;
	if (calls == NULL)
		return NULL;
	repair_obj_meta(x->obj, &m);
	for (i = 0; i < REPAIR_NSTEPS; i++) {
		unsigned step = repair_step_order[i];
		struct repair_call *c = &calls[*n];

		if (!(plan->steps & step))
			continue;
		c->method = step == REPAIR_STEP_READBACK ? "GET" : "PATCH";
		if (step == REPAIR_STEP_PAUSE || step == REPAIR_STEP_UNPAUSE) {
			repair_host_path(x->ns, x->name, c->path, sizeof(c->path));
			c->body = repair_step_body(&pp, step, step == REPAIR_STEP_PAUSE ?
			    x->host.rv : NULL);
		} else {
			obj_path(x, step == REPAIR_STEP_STATUS, c->path, sizeof(c->path));
			if (step != REPAIR_STEP_READBACK)
				c->body = repair_obj_step_body(plan, step, *n == 0 ||
				    (*n == 1 && (plan->steps & REPAIR_STEP_PAUSE)) ? m.rv : NULL);
		}
		(*n)++;
	}
	return calls;
}

/* A write failed for good: what is left behind decides whether our pause comes off. */
static void
obj_abandon(struct objrun *x, struct outcome *oc, const char *why)
{
	char e[600] = "", kept[800];

	if (x->hr.writes == 0 && !x->paused) {
		outcome_set(oc, REPAIR_OUT_FAILED, "%s", why);
		return;
	}
	if (obj_fetch(x, e, sizeof(e)) != KUBE_OK || (x->where == REPAIR_OBJ_HOST_READ &&
	    obj_host(x, e, sizeof(e)) != KUBE_OK)) {
		outcome_set(oc, x->paused ? REPAIR_OUT_NEEDS_HUMAN : REPAIR_OUT_FAILED, "%s; could "
		    "not read it again (%s)%s", why, e, x->paused ? ": our pause (" REPAIR_PAUSE_VALUE
		    ") left on its host; the next run resumes from it" : "");
		return;
	}
	if (obj_release(x, kept, sizeof(kept)) < 0) {
		outcome_set(oc, REPAIR_OUT_NEEDS_HUMAN, "%s; %s", why, kept);
		return;
	}
	outcome_set(oc, REPAIR_OUT_FAILED, "%s", why);
}

/* Plan, and with --apply repair, one object until it is done, left alone or failed. */
static void
obj_loop(struct runner *r, struct objrun *x, struct outcome *oc)
{
	const struct repair_opts *o = r->o;
	struct repair_obj_plan plan;
	enum repair_action done = REPAIR_NONE;
	char err[600] = "", why[800];
	unsigned long writes;
	enum kube_rc rc;

	memset(&plan, 0, sizeof(plan));
	for (;;) {
		repair_obj_plan_clear(&plan);
		/* a pause someone put on after this run wrote the status: finish the spec under it */
		if ((x->status_written ? repair_obj_plan_adopt : repair_obj_plan)(&o->rules, x->k,
		    x->obj, x->where, &x->host, &plan) < 0) {
			outcome_set(oc, REPAIR_OUT_FAILED, "out of memory");
			break;
		}
		if (plan.needs_host) {
			if ((rc = obj_host(x, err, sizeof(err))) != KUBE_OK) {
				outcome_set(oc, REPAIR_OUT_FAILED, "reading its host: %s", err);
				break;
			}
			continue;	/* where is known now: the plan does not ask again */
		}
		oc->action = plan.action;
		oc->under_other_pause = plan.under_other_pause;
		if (plan.action == REPAIR_NONE && done != REPAIR_NONE) {
			oc->action = done;
			outcome_set(oc, done_outcome(done), "finished; %lu re-plans after conflicts",
			    x->hr.conflicts);
			break;
		}
		if (plan.action == REPAIR_NONE && o->apply && x->k->list != NULL &&
		    x->where == REPAIR_OBJ_HOST_UNREAD && (!repair_covers(o, "BareMetalHost") ||
		    o->selector != NULL || o->nnames > 0)) {
			/* the hosts' run will not see this host: a pause a firmware repair cut short
			 * left on it comes off here */
			if (obj_host(x, err, sizeof(err)) == KUBE_OK &&
			    x->where == REPAIR_OBJ_HOST_READ && ours(x->host.pause) &&
			    repair_host_settled(&o->rules, &x->host)) {
				x->release = 1;
				oc->action = REPAIR_RESUME;
				outcome_set(oc, REPAIR_OUT_RESUMED, "found our pause on its host with "
				    "the urls in line");
				break;
			}
		}
		if (plan.action == REPAIR_NONE || plan.action == REPAIR_LEAVE) {
			outcome_set(oc, plan.action == REPAIR_NONE ? REPAIR_OUT_OK : plan.leave, "%s",
			    plan.reason);
			break;
		}
		if (!o->apply) {
			oc->calls_planned = obj_calls(x, &plan, &oc->ncalls);
			outcome_set(oc, REPAIR_OUT_PLANNED, "%s", plan.reason);
			break;
		}
		writes = x->hr.writes;
		if (plan.steps & REPAIR_STEP_UNPAUSE)
			x->release = 1;
		rc = obj_execute(x, &plan, err, sizeof(err));
		if (x->hr.writes > writes)
			done = stronger(done, plan.action);
		if (rc == KUBE_OK) {
			oc->action = done != REPAIR_NONE ? done : plan.action;
			outcome_set(oc, done_outcome(oc->action), "%s", plan.reason);
			break;
		}
		if (rc != KUBE_CONFLICT && rc != READBACK_MISMATCH) {
			obj_abandon(x, oc, rc == KUBE_NOT_FOUND ? "object disappeared" : err);
			repair_obj_plan_clear(&plan);
			return;
		}
		x->hr.conflicts++;
		if (now_ms() >= x->hr.deadline) {
			snprintf(why, sizeof(why), "still conflicting after %.0fs (%lu re-reads): %s",
			    (double)o->host_deadline_ms / 1000.0, x->hr.conflicts, err);
			obj_abandon(x, oc, why);
			repair_obj_plan_clear(&plan);
			return;
		}
		backoff(&x->hr);
		if ((rc = obj_fetch(x, err, sizeof(err))) != KUBE_OK ||
		    (x->where == REPAIR_OBJ_HOST_READ && (rc = obj_host(x, err, sizeof(err))) !=
		    KUBE_OK)) {
			obj_abandon(x, oc, rc == KUBE_NOT_FOUND ? "object disappeared" : err);
			repair_obj_plan_clear(&plan);
			return;
		}
	}
	repair_obj_plan_clear(&plan);
	if (o->apply && obj_release(x, why, sizeof(why)) < 0)
		outcome_set(oc, REPAIR_OUT_NEEDS_HUMAN, "%s", why);
	else if (x->pause_lost)
		outcome_set(oc, REPAIR_OUT_NEEDS_HUMAN, "written, but someone removed the host's pause "
		    "while the firmware's status and spec urls differed (or just after): the operator "
		    "may have flashed a component again; check the host's firmware");
}

/* Whether a host found under our pause has its firmware repair half done: this run's firmware
 * run left it so, or its HostFirmwareComponents says so now. Unknown counts as half done. */
static int
firmware_holds(struct runner *r, struct hostrun *hr)
{
	struct objrun x;
	char e[600];
	size_t i;
	int held = 0;
	enum kube_rc rc;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->nfw_held && !held; i++)
		held = str_eq(r->fw_held[i].ns, hr->h->ns) && str_eq(r->fw_held[i].name, hr->h->name);
	pthread_mutex_unlock(&r->mu);
	if (held || r->fw == NULL)
		return held;
	memset(&x, 0, sizeof(x));
	x.hr.c = hr->c;
	x.k = r->fw;
	x.version = r->fw_version;
	x.ns = hr->h->ns;
	x.name = hr->h->name;
	rc = obj_fetch(&x, e, sizeof(e));
	hr->calls += x.hr.calls;
	held = rc == KUBE_NOT_FOUND ? 0 : rc != KUBE_OK ? 1 :
	    repair_obj_half_done(hr->rules, x.k, x.obj);
	if (rc != KUBE_OK && rc != KUBE_NOT_FOUND)
		snprintf(hr->keep_why, sizeof(hr->keep_why), "our pause (" REPAIR_PAUSE_VALUE ") "
		    "stays on: its HostFirmwareComponents could not be read (%s), and a firmware "
		    "repair half done needs the pause", e);
	json_object_put(x.obj);
	return held;
}

static void
fw_hold(struct runner *r, const struct objrun *x)
{
	pthread_mutex_lock(&r->mu);
	(void)names_add(&r->fw_held, &r->nfw_held, &r->capfw_held, x->ns, x->name);
	pthread_mutex_unlock(&r->mu);
}

static void
process_obj(struct runner *r, struct kube_conn *c, struct work *w)
{
	const struct repair_opts *o = r->o;
	struct objrun x;
	struct outcome oc;
	struct repair_obj_meta m;
	struct subject sub;
	char err[600] = "";

	memset(&x, 0, sizeof(x));
	memset(&oc, 0, sizeof(oc));
	x.hr.rules = &o->rules;
	x.hr.c = c;
	x.hr.h = &x.host;
	x.hr.deadline = now_ms() + o->host_deadline_ms;
	x.hr.seed = (unsigned)now_ms() ^ (unsigned)(uintptr_t)w;
	x.k = w->kind;
	x.version = w->version;
	x.obj = w->obj;
	w->obj = NULL;
	if (x.obj != NULL) {
		repair_obj_meta(x.obj, &m);
		x.ns = m.ns;
		x.name = m.name;
	} else {
		x.ns = w->h.ns;
		x.name = w->h.name;
	}
	/* the names outlive every re-read: keep them in the work item */
	if ((x.ns != w->h.ns && (w->h.ns = strdup(x.ns)) == NULL) ||
	    (x.name != w->h.name && (w->h.name = strdup(x.name)) == NULL)) {
		outcome_set(&oc, REPAIR_OUT_FAILED, "out of memory");
	} else {
		x.ns = w->h.ns;
		x.name = w->h.name;
		enum kube_rc rc = x.obj == NULL ? obj_fetch(&x, err, sizeof(err)) : KUBE_OK;

		if (rc == KUBE_NOT_FOUND && o->nkinds > 1)	/* named for every kind: not all */
			outcome_set(&oc, REPAIR_OUT_OK, "no %s of that name", x.k->kind);
		else if (rc != KUBE_OK)
			outcome_set(&oc, REPAIR_OUT_FAILED, "%s", err);
		else
			obj_loop(r, &x, &oc);
	}
	if (x.obj != NULL)
		repair_obj_meta(x.obj, &m);
	else
		memset(&m, 0, sizeof(m));
	sub = (struct subject){ x.k, x.version, x.ns, x.name, m.uid, m.rv,
		NULL, NULL };
	if (o->events && x.obj != NULL)
		post_event(r, c, &sub, &x.hr.calls, &oc);
	/* a firmware repair left half done (or not known) keeps its host's pause on, here and in
	 * the hosts' run that follows */
	if (x.k == r->fw && x.where == REPAIR_OBJ_HOST_READ && ours(x.host.pause) &&
	    (x.obj == NULL || repair_obj_half_done(&o->rules, x.k, x.obj)))
		fw_hold(r, &x);
	report(r, &sub, &x.hr, &oc);
	free_calls(oc.calls_planned, oc.ncalls);
	json_object_put(x.obj);
	repair_host_clear(&x.host);
}

struct worker_arg {
	struct runner *r;
	struct kube_conn *c;
	pthread_t t;
	int started;
};

static void *
worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct work *w;

	while ((w = queue_pop(wa->r)) != NULL) {
		if (is_host(w->kind))
			process(wa->r, wa->c, w);
		else
			process_obj(wa->r, wa->c, w);
		work_free(w);
	}
	return NULL;
}

/* ---------------------------------------------------------------- selection */

/* The kind being listed or named, and the version it is served as. */
struct listing {
	const struct kinds_row *kind;
	const char *version;
};

static int
push_item(struct runner *r, const struct listing *l, struct json_object *item, char *err,
    size_t errlen)
{
	struct work *w = calloc(1, sizeof(*w));
	struct repair_obj_meta m;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->kind = l->kind;
	w->version = l->version;
	if (is_host(l->kind)) {
		if (repair_host_from_json(item, &w->h, err, errlen) < 0) {
			free(w);
			return -1;
		}
	} else {
		repair_obj_meta(item, &m);
		if (!json_object_is_type(item, json_type_object) || m.name == NULL || m.rv == NULL) {
			snprintf(err, errlen, "object without metadata.name or metadata.resourceVersion");
			free(w);
			return -1;
		}
		w->obj = json_object_get(item);
	}
	queue_push(r, w);
	return 0;
}

static struct json_object *
jget(struct json_object *o, const char *a, const char *b)
{
	if (o == NULL || !json_object_object_get_ex(o, a, &o))
		return NULL;
	if (b != NULL && (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, b, &o)))
		return NULL;
	return o;
}

/* "ns/name": the order the API server lists in (etcd key order). */
static char *
host_key(struct json_object *item)
{
	struct json_object *ns = jget(item, "metadata", "namespace");
	struct json_object *name = jget(item, "metadata", "name");
	char *k;

	if (asprintf(&k, "%s/%s", ns ? json_object_get_string(ns) : "",
	    name ? json_object_get_string(name) : "") < 0)
		return NULL;
	return k;
}

/* Hand one page's objects to the workers; with *last_key set (a list restarted after its
 * continue token expired), objects up to and including that key were handled already. */
static int
push_page(struct runner *r, const struct listing *l, struct json_object *items, char **last_key,
    char *err, size_t errlen)
{
	size_t i, n = json_object_array_length(items);
	char e[600];

	for (i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(items, i);
		char *k = host_key(item);

		if (k == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (*last_key != NULL && strcmp(k, *last_key) <= 0) {
			free(k);
			continue;
		}
		if (push_item(r, l, item, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "listing %s: %s", l->kind->plural, e);
			free(k);
			return -1;
		}
		free(*last_key);
		*last_key = k;
	}
	return 0;
}

/* Page through the selection, handing objects to the workers as each page arrives. Workers may
 * be slow on a large fleet: when the continue token expires (410), the list starts again and
 * skips what it handed out already. */
static int
list_kind(struct runner *r, struct kube_conn *c, const struct listing *l, char *err,
    size_t errlen)
{
	const struct repair_opts *o = r->o;
	char *cont = NULL, *prev = NULL, *sel = NULL, *path = NULL, *body = NULL, *last_key = NULL;
	char e[600];
	int rc = -1, first = 1;
	unsigned long calls = 0, pages = 0, allowed = LIST_PAGES_MAX;

	if (o->selector != NULL && (sel = kube_escape(c, o->selector)) == NULL)
		goto oom;
	for (;;) {
		struct json_object *page, *items, *v;
		enum kube_rc krc;
		char *ec = NULL;
		long status = 0;
		size_t n;

		if (++pages > allowed) {
			snprintf(err, errlen, "listing %s: more than %lu pages: the API server keeps "
			    "answering with more%s", l->kind->plural, allowed, allowed < LIST_PAGES_MAX ?
			    " than the objects it announced" : "");
			goto out;
		}
		if (cont != NULL && (ec = kube_escape(c, cont)) == NULL)
			goto oom;
		free(path);
		if (asprintf(&path, "/apis/%s/%s%s%s/%s?limit=%d%s%s%s%s", l->kind->group,
		    l->version, o->ns ? "/namespaces/" : "", o->ns ? o->ns : "", l->kind->plural,
		    REPAIR_PAGE_SIZE,
		    sel ? "&labelSelector=" : "", sel ? sel : "", ec ? "&continue=" : "",
		    ec ? ec : "") < 0) {
			path = NULL;
			free(ec);
			goto oom;
		}
		free(ec);
		krc = kube_request(c, "GET", path, NULL, NULL, &body, &status, e, sizeof(e));
		calls++;
		if (krc == KUBE_API_ERROR && status == 410 && cont != NULL &&
		    r->sum->list_restarts < LIST_RESTARTS_MAX) {
			free(cont);
			cont = NULL;
			pthread_mutex_lock(&r->mu);
			r->sum->list_restarts++;
			pthread_mutex_unlock(&r->mu);
			continue;
		}
		if (krc != KUBE_OK) {
			snprintf(err, errlen, "listing %s: %s", l->kind->plural, e);
			goto out;
		}
		page = json_tokener_parse(body);
		free(body);
		body = NULL;
		items = jget(page, "items", NULL);
		if (page == NULL || items == NULL || !json_object_is_type(items, json_type_array)) {
			json_object_put(page);
			snprintf(err, errlen, "listing %s: answer is not a list", l->kind->plural);
			goto out;
		}
		n = json_object_array_length(items);
		/* A list's first page says how many objects follow (without a selector): the pages
		 * they fill, and one more, are all a list may take from here. */
		if (cont == NULL && (v = jget(page, "metadata", "remainingItemCount")) != NULL &&
		    json_object_get_int64(v) >= 0) {
			unsigned long more = (unsigned long)(json_object_get_int64(v) /
			    REPAIR_PAGE_SIZE) + 2;

			allowed = pages + (more < LIST_PAGES_MAX ? more : LIST_PAGES_MAX);
		}
		if (first && (v = jget(page, "metadata", "remainingItemCount")) != NULL) {
			pthread_mutex_lock(&r->mu);
			r->total = (long)(r->seen + n + (size_t)json_object_get_int64(v));
			pthread_mutex_unlock(&r->mu);
		} else if (first && jget(page, "metadata", "continue") == NULL) {
			pthread_mutex_lock(&r->mu);
			r->total = (long)(r->seen + n);
			pthread_mutex_unlock(&r->mu);
		}
		first = 0;
		free(prev);
		prev = cont;
		cont = NULL;
		v = jget(page, "metadata", "continue");
		if (v != NULL && json_object_get_string_len(v) > 0 &&
		    (cont = strdup(json_object_get_string(v))) == NULL) {
			json_object_put(page);
			goto oom;
		}
		if (cont != NULL && prev != NULL && strcmp(cont, prev) == 0) {
			json_object_put(page);
			snprintf(err, errlen, "listing %s: the API server answered the same continue "
			    "token twice", l->kind->plural);
			goto out;
		}
		if (push_page(r, l, items, &last_key, err, errlen) < 0) {
			json_object_put(page);
			goto out;
		}
		json_object_put(page);
		if (cont == NULL)
			break;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	pthread_mutex_lock(&r->mu);
	r->sum->calls += calls;
	pthread_mutex_unlock(&r->mu);
	free(cont);
	free(prev);
	free(sel);
	free(path);
	free(body);
	free(last_key);
	return rc;
}

static int
push_names(struct runner *r, const struct listing *l, char *err, size_t errlen)
{
	int i;

	pthread_mutex_lock(&r->mu);
	r->total = (long)r->seen + r->o->nnames;
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < r->o->nnames; i++) {
		struct work *w = calloc(1, sizeof(*w));

		if (w == NULL || (w->h.ns = strdup(r->o->ns)) == NULL ||
		    (w->h.name = strdup(r->o->names[i])) == NULL) {
			if (w != NULL)
				repair_host_clear(&w->h);
			free(w);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		w->kind = l->kind;
		w->version = l->version;
		w->need_get = 1;
		queue_push(r, w);
	}
	return 0;
}

/* ---------------------------------------------------------------- which kinds the cluster serves */

/* The kinds this run covers, each with the version it is served as: the other kinds first,
 * hosts last. A kind the cluster does not serve is an error when asked for by name, and noted
 * and skipped in the default selection. Returns the count, or -1 with err. */
static int
plan_kinds(struct runner *r, struct kube_conn *c, struct listing *out, size_t cap, char *err,
    size_t errlen)
{
	const struct repair_opts *o = r->o;
	const struct kinds_row *rows;
	const struct kinds_row *missing[8];
	struct discovery *dc = discovery_new();
	size_t nrows, i, pass, n = 0;
	int rc = 0;

	if (dc == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rows = kinds_rows(&nrows);
	for (pass = 0; pass < 2 && rc == 0; pass++) {
		for (i = 0; i < nrows && rc == 0; i++) {
			const struct kinds_row *k = &rows[i];
			const char *version = k->versions[0];

			if (is_host(k) != (pass == 1) || !repair_covers(o, k->kind) || n == cap)
				continue;
			/* hosts alone, by name: served as ever (the list says if not) */
			if ((o->kinds == NULL || o->nkinds > 1 || !is_host(k)) &&
			    (rc = discovery_version(dc, c, k, &version, err, errlen)) < 0)
				break;
			if (version == NULL && o->kinds != NULL) {
				snprintf(err, errlen, "the cluster does not serve %s.%s (is its "
				    "CustomResourceDefinition installed?)", k->plural, k->group);
				rc = -1;
				break;
			}
			if (version == NULL) {
				missing[r->sum->kinds_not_served++] = k;
				continue;
			}
			out[n].kind = k;
			out[n].version = version;
			if (strcmp(k->kind, "HostFirmwareComponents") == 0) {
				r->fw = k;
				r->fw_version = version;
			}
			n++;
		}
	}
	/* Hosts not covered: their firmware is still checked before a pause comes off. */
	for (i = 0; rc == 0 && r->fw == NULL && o->apply && i < nrows; i++) {
		const char *version;

		if (strcmp(rows[i].kind, "HostFirmwareComponents") == 0 && repair_covers(o, "BareMetalHost") &&
		    (rc = discovery_version(dc, c, &rows[i], &version, err, errlen)) == 0 &&
		    version != NULL) {
			r->fw = &rows[i];
			r->fw_version = version;
		}
	}
	r->sum->calls += discovery_calls(dc);
	discovery_free(dc);
	if (rc == 0 && n == 0 && r->sum->kinds_not_served > 0) {
		snprintf(err, errlen, "the cluster serves none of the Metal3 kinds (no "
		    "CustomResourceDefinition for baremetalhosts.metal3.io): is this the right cluster?");
		rc = -1;
	}
	for (i = 0; rc == 0 && i < r->sum->kinds_not_served; i++)
		fprintf(stderr, "bmhguard repair: %s.%s is not served by this cluster (no "
		    "CustomResourceDefinition): skipped\n", missing[i]->plural, missing[i]->group);
	return rc < 0 ? -1 : (int)n;
}

/* ---------------------------------------------------------------- waiting */

static void
wait_report(struct runner *r, const struct waiting *w, const char *state, int cleared,
    const char *detail)
{
	struct repair_result res = {
		.waiting = 1, .ns = w->ns, .name = w->name, .state = state,
		.error = cleared ? "" : REPAIR_REGISTRATION_ERROR, .action = "wait",
		.outcome = cleared ? REPAIR_OUT_REPAIRED : REPAIR_OUT_FAILED,
		.result = cleared ? "cleared" : "not cleared", .detail = detail, .failed = !cleared,
	};

	pthread_mutex_lock(&r->mu);
	if (cleared)
		r->sum->wait_cleared++;
	else
		r->sum->wait_pending++;
	if (r->o->report)
		r->o->report(&res, r->o->report_ud);
	pthread_mutex_unlock(&r->mu);
}

/* Poll repaired hosts until the operator clears their error or the time is up. */
static void
wait_cleared(struct runner *r, struct kube_conn *c)
{
	long deadline = now_ms() + r->o->wait_ms, start = now_ms();
	size_t i, left = r->nwait;
	char err[600], detail[700];

	while (left > 0) {
		for (i = 0; i < r->nwait; i++) {
			struct waiting *w = &r->wait[i];
			struct repair_host h = { 0 };
			struct hostrun hr = { .c = c, .h = &h };

			if (w->ns == NULL)
				continue;
			if (fetch(&hr, w->ns, w->name, err, sizeof(err)) == KUBE_OK &&
			    str_empty(h.error_type)) {
				snprintf(detail, sizeof(detail), "error cleared by the operator after "
				    "%.1fs", (double)(now_ms() - start) / 1000.0);
				wait_report(r, w, h.state ? h.state : "", 1, detail);
				free(w->ns);
				w->ns = NULL;
				left--;
			}
			pthread_mutex_lock(&r->mu);
			r->sum->calls += hr.calls;
			pthread_mutex_unlock(&r->mu);
			repair_host_clear(&h);
		}
		if (left == 0 || now_ms() >= deadline)
			break;
		sleep_ms(deadline - now_ms() < 1000 ? deadline - now_ms() : 1000);
	}
	snprintf(detail, sizeof(detail), "error still set after waiting %.1fs",
	    (double)r->o->wait_ms / 1000.0);
	for (i = 0; i < r->nwait; i++) {
		struct waiting *w = &r->wait[i];

		if (w->ns != NULL)
			wait_report(r, w, "", 0, detail);
		free(w->ns);
		free(w->name);
	}
	free(r->wait);
	r->wait = NULL;
	r->nwait = 0;
}

/* ---------------------------------------------------------------- run */

int
repair_run(struct kube_client *k, const struct repair_opts *opts, struct repair_summary *sum,
    char *err, size_t errlen)
{
	struct runner r;
	struct worker_arg *wa = NULL;
	struct kube_conn *lc = NULL;
	struct repair_opts o = *opts;
	struct listing kinds[8];
	const struct kinds_row *served[8];
	int i, n = 0, nk, rc = -1;

	memset(sum, 0, sizeof(*sum));
	memset(&r, 0, sizeof(r));
	if (o.concurrency < 1)
		o.concurrency = 4;
	if (o.host_deadline_ms <= 0)
		o.host_deadline_ms = REPAIR_DEFAULT_HOST_DEADLINE_MS;
	if (o.nnames > 0 && o.ns == NULL) {
		snprintf(err, errlen, "object names need a namespace");
		return -1;
	}
	r.o = &o;
	r.k = k;
	r.sum = sum;
	r.total = -1;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.not_empty, NULL);
	pthread_cond_init(&r.not_full, NULL);
	pthread_cond_init(&r.idle, NULL);
	if ((lc = kube_conn_new(k, err, errlen)) == NULL)
		goto out;
	if ((nk = plan_kinds(&r, lc, kinds, sizeof(kinds) / sizeof(kinds[0]), err, errlen)) < 0)
		goto out;
	for (i = 0; i < nk; i++)
		served[i] = kinds[i].kind;
	/* permissions for what is served and covered, nothing else */
	o.kinds = served;
	o.nkinds = (size_t)nk;
	if ((o.apply || o.events) && repair_check_access(k, &o, err, errlen) < 0)
		goto out;
	n = o.concurrency;
	if ((wa = calloc((size_t)n, sizeof(*wa))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		wa[i].r = &r;
		if ((wa[i].c = kube_conn_new(k, err, errlen)) == NULL)
			break;
		if (pthread_create(&wa[i].t, NULL, worker, &wa[i]) != 0) {
			snprintf(err, errlen, "cannot start worker: %s", strerror(errno));
			break;
		}
		wa[i].started = 1;
	}
	if (i == n) {
		rc = 0;
		for (i = 0; i < nk && rc == 0; i++) {
			/* a firmware repair is done with, and its holds known, before hosts start */
			if (is_host(kinds[i].kind))
				wait_idle(&r);
			rc = o.nnames > 0 ? push_names(&r, &kinds[i], err, errlen) :
			    list_kind(&r, lc, &kinds[i], err, errlen);
		}
	}
	queue_close(&r);
	for (i = 0; i < n; i++)
		if (wa[i].started)
			pthread_join(wa[i].t, NULL);
	/* Anything still queued (a worker failed to start) is dropped. */
	while (r.qlen > 0)
		work_free(queue_pop(&r));
	if (r.nwait > 0)
		wait_cleared(&r, lc);
out:
	if (wa != NULL)
		for (i = 0; i < n; i++)
			kube_conn_free(wa[i].c);
	free(wa);
	kube_conn_free(lc);
	names_free(r.fw_held, r.nfw_held);
	pthread_cond_destroy(&r.not_empty);
	pthread_cond_destroy(&r.not_full);
	pthread_cond_destroy(&r.idle);
	pthread_mutex_destroy(&r.mu);
	return rc;
}
