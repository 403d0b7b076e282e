/* repair_obj.h - what the repair job does to one Metal3 object besides a host (machine template, machine, data image, firmware), decided from it and its host alone (no I/O). */
#ifndef BMHGUARD_REPAIR_OBJ_H
#define BMHGUARD_REPAIR_OBJ_H

#include <stddef.h>

#include "kinds.h"
#include "repair_plan.h"

struct json_object;

/* Where the host stands for an object its pause holds (a kind whose row has no pause of its own:
 * DataImage, HostFirmwareComponents, named as their host). */
enum repair_obj_host {
	REPAIR_OBJ_HOST_UNREAD = 0,	/* not read yet: the plan asks for it (needs_host) */
	REPAIR_OBJ_HOST_ABSENT,		/* no host of that name: nobody acts on the object */
	REPAIR_OBJ_HOST_READ		/* read: the host argument holds it */
};

/* What to do with one object. Owned (repair_obj_plan_clear). */
struct repair_obj_plan {
	enum repair_action action;	/* NONE, SPEC_ONLY (one merge patch), FULL (status, then spec),
					 * LEAVE */
	enum repair_outcome leave;	/* LEAVE: skipped, held or needs-human */
	unsigned steps;			/* REPAIR_STEP_*; PAUSE and UNPAUSE are the host's */
	int needs_host;			/* read the host (404: absent) and plan again */
	int under_other_pause;		/* works under a host pause handed over and leaves it */
	struct json_object *spec;	/* {"spec": ...} merge patch content, NULL: no spec step */
	struct json_object *status;	/* {"status": ...}, NULL: no status step */
	char reason[400];
};

/* Decide from the object (borrowed) and, for a kind the host's pause holds, its host (borrowed,
 * meaningful when where == REPAIR_OBJ_HOST_READ). Returns 0, or -1 on allocation failure. */
int repair_obj_plan(const struct repair_rules *r, const struct kinds_row *k,
    struct json_object *obj, enum repair_obj_host where, const struct repair_host *host,
    struct repair_obj_plan *plan);
/* As repair_obj_plan, for a run that wrote the object's status moments ago: a pause someone put
 * on the host since is worked under (finishing the spec is what makes the object safe again). */
int repair_obj_plan_adopt(const struct repair_rules *r, const struct kinds_row *k,
    struct json_object *obj, enum repair_obj_host where, const struct repair_host *host,
    struct repair_obj_plan *plan);
void repair_obj_plan_clear(struct repair_obj_plan *plan);

/* Whether obj (a HostFirmwareComponents) has a component half-way through a repair: its spec and
 * status urls differ and one is the other rewritten. Its host must stay paused until the other
 * write is made, or the operator would flash that component again. */
int repair_obj_half_done(const struct repair_rules *r, const struct kinds_row *k,
    struct json_object *obj);

/* The merge-patch body of a STATUS or SPEC step, with resourceVersion rv (NULL: the dry run's
 * placeholder). malloc'd; NULL on OOM or for another step. */
char *repair_obj_step_body(const struct repair_obj_plan *plan, unsigned step, const char *rv);

/* "/apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME" (+ "/status" with status set). */
void repair_obj_path(const struct kinds_row *k, const char *version, const char *ns,
    const char *name, int status, char *out, size_t outlen);

/* metadata.namespace ("default" when absent), name, resourceVersion, uid of obj: borrowed, NULL
 * when absent or not a string. */
struct repair_obj_meta {
	const char *ns, *name, *rv, *uid;
};
void repair_obj_meta(struct json_object *obj, struct repair_obj_meta *m);

#endif
