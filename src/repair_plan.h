/* repair_plan.h - what the repair job does to one BareMetalHost, decided from the host alone (no I/O). */
#ifndef BMHGUARD_REPAIR_PLAN_H
#define BMHGUARD_REPAIR_PLAN_H

#include <stddef.h>

#include "policy.h"

#define REPAIR_PAUSE_ANNOTATION "baremetalhost.metal3.io/paused"
#define REPAIR_PAUSE_VALUE "bmhguard-repair"
#define REPAIR_REGISTRATION_ERROR "provisioned registration error"
/* In a dry run's printed bodies, where the stored resourceVersion will go. */
#define REPAIR_RV_PLACEHOLDER "<from previous response>"

/* The fields of one BareMetalHost the plan looks at. All strings owned (repair_host_clear);
 * NULL when absent. */
struct repair_host {
	char *ns, *name, *uid, *rv;
	char *state;		/* status.provisioning.state */
	char *op_status;	/* status.operationalStatus ("servicing": firmware being applied) */
	char *spec_url, *spec_checksum;
	char *status_url, *status_checksum;
	char *error_type, *error_message;
	long error_count;
	char *pause;		/* value of the pause annotation, NULL when not paused */
	char *status_annotation;	/* baremetalhost.metal3.io/status, as stored */
};

/* Fill h from a BareMetalHost object (borrowed). Returns 0, or -1 with err. */
struct json_object;
int repair_host_from_json(struct json_object *obj, struct repair_host *h, char *err, size_t errlen);
int repair_host_parse(const char *json, struct repair_host *h, char *err, size_t errlen);
void repair_host_clear(struct repair_host *h);

enum repair_action {
	REPAIR_NONE = 0,	/* nothing to do */
	REPAIR_SPEC_ONLY,	/* not provisioned with an image: merge-patch the spec image */
	REPAIR_ANNOTATION,	/* only the status annotation lags behind: merge-patch it */
	REPAIR_FULL,		/* provisioned: pause, status, spec, read back, resume */
	REPAIR_RESUME,		/* found paused by us with everything fixed: remove our pause */
	REPAIR_LEAVE		/* left untouched: plan->leave says how it is reported */
};

/* Steps, in the only order they may run (repair_step_order). */
enum {
	REPAIR_STEP_PAUSE = 1 << 0,
	REPAIR_STEP_STATUS = 1 << 1,
	REPAIR_STEP_SPEC = 1 << 2,	/* spec image and the status annotation, one patch */
	REPAIR_STEP_READBACK = 1 << 3,
	REPAIR_STEP_UNPAUSE = 1 << 4
};
#define REPAIR_NSTEPS 5
extern const unsigned repair_step_order[REPAIR_NSTEPS];

/* How one host ends up, for the report, the summary, the exit code and its Event. */
enum repair_outcome {
	REPAIR_OUT_OK = 0,	/* nothing to do */
	REPAIR_OUT_PLANNED,	/* dry run: would change the host */
	REPAIR_OUT_REPAIRED,
	REPAIR_OUT_PATCHED,
	REPAIR_OUT_RESUMED,
	REPAIR_OUT_SKIPPED,	/* left alone for now (transient state, image being changed) */
	REPAIR_OUT_HELD,	/* paused by another owner: not written at all */
	REPAIR_OUT_FAILED,
	REPAIR_OUT_NEEDS_HUMAN,	/* left alone in a state only a person should resolve */
	REPAIR_OUT_COUNT
};

/* One row per outcome. Static. */
struct repair_outcome_info {
	const char *result;	/* RESULT column: "repaired", "held", "needs-human", ... */
	const char *reason;	/* Event reason; NULL: no Event */
	const char *type;	/* Event type: "Normal" or "Warning" */
	int exit_failed;	/* the run exits 1 when a host ends so */
};
const struct repair_outcome_info *repair_outcome_info(enum repair_outcome o);

/* What the plan may do under each pause. handed: pause values their owners hand over to us
 * (--repair-paused-by): we work under them and leave them in place. Borrowed. */
struct repair_rules {
	const struct policy *policy;
	const char *const *handed;
	size_t nhanded;
};

/* What to do with one host. Strings owned (repair_plan_clear); new_* NULL when unchanged. */
struct repair_plan {
	enum repair_action action;
	enum repair_outcome leave;	/* REPAIR_LEAVE: skipped, held or needs-human */
	unsigned steps;
	char *new_spec_url, *new_spec_checksum;
	char *new_status_url, *new_status_checksum;
	char *new_annotation;	/* the whole new status annotation */
	int clear_error;	/* status patch also sets errorCount 0, errorMessage "" */
	int under_other_pause;	/* works under a pause that is not ours and leaves it */
	char reason[400];	/* why left alone / a note for the report */
};

/* Decide from the host alone. adopt: this run wrote the host's status moments ago and someone
 * then put their own pause on: finishing the spec under it is what makes the host safe again.
 * Returns 0, or -1 on allocation failure. */
int repair_plan(const struct repair_rules *r, const struct repair_host *h, int adopt,
    struct repair_plan *plan);
void repair_plan_clear(struct repair_plan *plan);
/* "none", "patch-spec", "patch-annotation", "repair", "resume", "leave". Static. */
const char *repair_action_str(enum repair_action a);
/* Comma list of the steps ("pause,status,spec,read,resume") into out. */
void repair_steps_str(unsigned steps, char *out, size_t outlen);
/* Whether state is one the operator is in the middle of (registering, inspecting, ...). */
int repair_state_transient(const char *state);
/* Whether the operator would find nothing to wipe if the host were unpaused now, here or after a
 * move: spec url == status url (or, with an empty status, == the url a restore from the status
 * annotation gives), and the status annotation holds no other url. */
int repair_host_consistent(const struct repair_rules *r, const struct repair_host *h);
/* *out: url rewritten by the rules (malloc'd), or NULL when they leave it alone. Returns 0, or -1
 * on allocation failure. */
int repair_rewrite(const struct policy *p, const char *url, char **out);
/* Whether our pause may come off h: in no transient state, and consistent, or never provisioned
 * with an image and without a status a move would restore (nothing for the operator to compare:
 * a pause a firmware repair put on an available host). */
int repair_host_settled(const struct repair_rules *r, const struct repair_host *h);
/* Whether value is a pause the rules let us work under (ours or handed over). */
int repair_pause_handed(const struct repair_rules *r, const char *value);

/* The merge-patch body of one step, resourceVersion rv (NULL: the placeholder
 * "<from previous response>", for dry-run printing). malloc'd, caller frees; NULL on OOM.
 * REPAIR_STEP_READBACK has no body. */
char *repair_step_body(const struct repair_plan *plan, unsigned step, const char *rv);
/* The API path of a host ("/apis/metal3.io/v1alpha1/namespaces/NS/baremetalhosts/NAME"), and of
 * the step's write (the status step goes to /status). */
void repair_host_path(const char *ns, const char *name, char *out, size_t outlen);
void repair_step_path(const char *ns, const char *name, unsigned step, char *out, size_t outlen);

#endif
