/* repair.h - run the repair over a selection of Metal3 objects: find the kinds served, list, plan, write, report, wait. */
#ifndef BMHGUARD_REPAIR_H
#define BMHGUARD_REPAIR_H

#include <stddef.h>

#include "kinds.h"
#include "kube.h"
#include "repair_plan.h"

#define REPAIR_PAGE_SIZE 500
#define REPAIR_DEFAULT_HOST_DEADLINE_MS 60000L

/* One API call as planned (dry run). */
struct repair_call {
	const char *method;
	char path[512];
	char *body;		/* NULL for GET */
};

/* One line of the report, handed to the callback (borrowed for the call's duration). */
struct repair_result {
	int waiting;		/* 1: a --wait outcome, not a repair outcome */
	const struct kinds_row *kind;
	const char *ns, *name, *state, *error;
	const char *action;	/* repair_action_str, or "wait" */
	enum repair_outcome outcome;
	const char *result;	/* repair_outcome_info(outcome)->result, or "cleared" / "not cleared" */
	const char *detail;	/* reason or error line, "" when none */
	int failed;		/* counts towards exit 1 */
	unsigned long calls_made;	/* API calls spent on this host, its Event included */
	const struct repair_call *calls;	/* dry run: the calls it would make */
	size_t ncalls;
};

typedef void (*repair_report_fn)(const struct repair_result *r, void *ud);

struct repair_opts {
	struct repair_rules rules;
	const char *ns;		/* NULL: all namespaces */
	const char *selector;	/* label selector or NULL */
	char **names;		/* objects by name in ns (nnames > 0 needs ns) */
	int nnames;
	/* The kinds to repair (rows of kinds_rows()). NULL: every kind; a kind the cluster does not
	 * serve is noted once on stderr and skipped. Hosts come last: their pause is what keeps the
	 * operator away from a firmware repair half done, so they are unpaused after it. */
	const struct kinds_row *const *kinds;
	size_t nkinds;
	int apply;
	int events;		/* post an Event on every host acted on or left alone */
	const char *instance;	/* the Events' reportingInstance (e.g. the pod's name) */
	int verify_url;
	long wait_ms;		/* 0: do not wait */
	long host_deadline_ms;	/* conflicts are retried with backoff until this much time passed */
	int concurrency;	/* workers, each with its own connection */
	repair_report_fn report;	/* called under a lock, one host at a time */
	void *report_ud;
	/* Called (under the same lock) every time a host finishes; may be NULL. */
	void (*progress)(unsigned long done, unsigned long seen, long total, void *ud);
};

struct repair_summary {
	unsigned long hosts;		/* BareMetalHosts reported */
	unsigned long objects;		/* objects of the other kinds reported */
	unsigned long kinds_not_served;	/* selected kinds whose CRD the cluster lacks */
	unsigned long outcome[REPAIR_OUT_COUNT];	/* hosts per outcome */
	unsigned long under_other_pause;	/* changed under a pause handed over, or put on */
	unsigned long calls, writes;	/* API calls; successful writes to hosts */
	unsigned long events, events_failed;
	unsigned long conflicts;	/* 409s (and read-backs that did not match) re-planned */
	unsigned long wait_cleared, wait_pending;
	unsigned long repair_calls;	/* API calls spent on repaired (full) hosts, Events aside */
	unsigned long list_restarts;	/* lists started again after a continue token expired */
};

/* Whether the run covers the kind named so (opts->kinds NULL: every kind). */
int repair_covers(const struct repair_opts *opts, const char *kind);

/* Select objects and plan (and with opts->apply, repair) each. With opts->apply or opts->events it
 * first checks access (repair_access.h) and writes nothing when something is denied. Listing
 * pages through 500 at a time and hands hosts to opts->concurrency workers, so memory does not
 * grow with the fleet. Returns 0 when the run completed (hosts may still have failed: see
 * sum->outcome), or -1 with err when it could not list, connect or write at all (exit 2). */
int repair_run(struct kube_client *k, const struct repair_opts *opts, struct repair_summary *sum,
    char *err, size_t errlen);

#endif
