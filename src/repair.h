/* repair.h - plan and apply the runbook's BareMetalHost image-URL repair, safely and resumably. */
#ifndef BMHGUARD_REPAIR_H
#define BMHGUARD_REPAIR_H

#include <stddef.h>

#include "kube.h"
#include "policy.h"

#define REPAIR_PAUSE_ANNOTATION "baremetalhost.metal3.io/paused"
#define REPAIR_PAUSE_VALUE "bmhguard-repair"
#define REPAIR_REGISTRATION_ERROR "provisioned registration error"
#define REPAIR_PAGE_SIZE 500

/* The fields of one BareMetalHost the plan looks at. All strings owned (repair_host_clear);
 * NULL when absent. */
struct repair_host {
	char *ns, *name, *rv;
	char *state;		/* status.provisioning.state */
	char *spec_url, *spec_checksum;
	char *status_url, *status_checksum;
	char *error_type, *error_message;
	long error_count;
	char *pause;		/* value of the pause annotation, NULL when not paused */
};

/* Fill h from a BareMetalHost object (borrowed). Returns 0, or -1 with err. */
struct json_object;
int repair_host_from_json(struct json_object *obj, struct repair_host *h, char *err, size_t errlen);
int repair_host_parse(const char *json, struct repair_host *h, char *err, size_t errlen);
void repair_host_clear(struct repair_host *h);

enum repair_action {
	REPAIR_NONE = 0,	/* nothing to do */
	REPAIR_SPEC_ONLY,	/* not provisioned with an image: merge-patch the spec image */
	REPAIR_FULL,		/* provisioned: pause, status, spec, read back, resume */
	REPAIR_RESUME,		/* found paused by us with everything fixed: remove our pause */
	REPAIR_SKIP		/* left untouched, see reason */
};

/* Steps, in the only order they may run. */
enum {
	REPAIR_STEP_PAUSE = 1 << 0,
	REPAIR_STEP_STATUS = 1 << 1,
	REPAIR_STEP_SPEC = 1 << 2,
	REPAIR_STEP_READBACK = 1 << 3,
	REPAIR_STEP_UNPAUSE = 1 << 4
};

/* What to do with one host. Strings owned (repair_plan_clear); new_* NULL when unchanged. */
struct repair_plan {
	enum repair_action action;
	unsigned steps;
	char *new_spec_url, *new_spec_checksum;
	char *new_status_url, *new_status_checksum;
	int clear_error;	/* status patch also sets errorCount 0, errorMessage "" */
	int foreign_pause;	/* paused by someone else: their pause stays */
	int stuck;		/* our pause found where we may not remove it: needs a human */
	char reason[320];	/* why skipped / a note for the report */
};

/* Decide from the host alone (no I/O). Returns 0, or -1 on allocation failure. */
int repair_plan(const struct policy *p, const struct repair_host *h, struct repair_plan *plan);
void repair_plan_clear(struct repair_plan *plan);
/* "none", "patch-spec", "repair", "resume", "skip". Static. */
const char *repair_action_str(enum repair_action a);
/* Comma list of the steps ("pause,status,spec,read,resume") into out. */
void repair_steps_str(unsigned steps, char *out, size_t outlen);
/* Whether state is one the issue calls transient (registering, inspecting, ...). */
int repair_state_transient(const char *state);

/* The merge-patch body of one step, resourceVersion rv (NULL: the placeholder
 * "<from previous response>", for dry-run printing). malloc'd, caller frees; NULL on OOM.
 * REPAIR_STEP_READBACK has no body. */
char *repair_step_body(const struct repair_plan *plan, unsigned step, const char *rv);
/* The API path of a host ("/apis/metal3.io/v1alpha1/namespaces/NS/baremetalhosts/NAME"). */
void repair_host_path(const char *ns, const char *name, char *out, size_t outlen);

/* One API call as planned or made. */
struct repair_call {
	const char *method;
	char path[512];
	char *body;		/* NULL for GET */
};

/* One line of the report, handed to the callback (borrowed for the call's duration). */
struct repair_result {
	int waiting;		/* 1: a --wait outcome, not a repair outcome */
	const char *ns, *name, *state, *error;
	const char *action;	/* repair_action_str */
	const char *result;	/* "repaired", "would pause,status,...", "skipped", "failed", ... */
	const char *detail;	/* reason or error line, "" when none */
	int failed;		/* counts towards exit 1 */
	unsigned long calls_made;	/* API calls spent on this host */
	const struct repair_call *calls;	/* dry run: the calls it would make */
	size_t ncalls;
};

typedef void (*repair_report_fn)(const struct repair_result *r, void *ud);

struct repair_opts {
	const struct policy *policy;
	const char *ns;		/* NULL: all namespaces */
	const char *selector;	/* label selector or NULL */
	char **names;		/* hosts by name in ns (nnames > 0 needs ns) */
	int nnames;
	int apply;
	int verify_url;
	long wait_ms;		/* 0: do not wait */
	int concurrency;	/* workers, each with its own connection */
	int max_conflicts;	/* re-read and re-plan at most this often per host (default 5) */
	repair_report_fn report;	/* called under a lock, one host at a time */
	void *report_ud;
	/* Called (under the same lock) every time a host finishes; may be NULL. */
	void (*progress)(unsigned long done, unsigned long seen, long total, void *ud);
};

struct repair_summary {
	unsigned long hosts, nothing, planned, repaired, spec_patched, resumed, skipped, failed;
	unsigned long foreign_paused, calls, writes, wait_cleared, wait_pending;
	unsigned long repair_calls;	/* API calls spent on repaired (full) hosts */
	unsigned long list_restarts;	/* lists started again after a continue token expired */
};

/* Select hosts and plan (and with opts->apply, repair) each. Listing pages through 500 at a
 * time and hands hosts to opts->concurrency workers, so memory does not grow with the fleet.
 * Returns 0 when the run completed (hosts may still have failed: see sum->failed), or -1 with
 * err when it could not list or connect (exit 2). */
int repair_run(struct kube_client *k, const struct repair_opts *opts, struct repair_summary *sum,
    char *err, size_t errlen);

#endif
