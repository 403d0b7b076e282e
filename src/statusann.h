/* statusann.h - the baremetalhost.metal3.io/status annotation: its image url kept in line with spec, rewritten in place. */
#ifndef BMHGUARD_STATUSANN_H
#define BMHGUARD_STATUSANN_H

#include <stddef.h>

#include "policy.h"
#include "url.h"

/* A JSON copy of a host's status. clusterctl move carries it to the target cluster, where the
 * operator restores an empty status from it and then compares spec with the restored status: a
 * provisioned host whose spec url differs from the annotation's url is deprovisioned (wiped). */
#define STATUSANN_KEY "baremetalhost.metal3.io/status"

enum statusann_verdict {
	STATUSANN_NONE = 0,	/* no annotation, or none with a string provisioning.image.url */
	STATUSANN_IN_LINE,	/* its url already equals the spec url */
	STATUSANN_REWRITE,	/* rewriting its url gives the spec url: e->text is the new value */
	STATUSANN_OTHER,	/* its url is neither the spec url nor rewrites to it */
	STATUSANN_INVALID	/* not JSON */
};

/* Everything owned by the edit (statusann_edit_clear); NULL unless the verdict says otherwise. */
struct statusann_edit {
	enum statusann_verdict verdict;
	char *text;		/* REWRITE: the whole new annotation value */
	char *url_from, *url_to;	/* REWRITE: its url before and after */
	char *sum_from, *sum_to;	/* REWRITE, when its checksum is a literal-IP url too */
	struct url_literal url_lit, sum_lit;	/* where the literal hosts sat in *_from */
	char *other_url;	/* OTHER: the url it holds */
};

/*
 * Decide what the annotation text (borrowed, NULL when absent) needs so that a status restored
 * from it carries spec_url, the spec url that will be stored. Only the url and checksum string
 * literals change; every other byte of the annotation stays as it was. The webhook and the repair
 * job both decide with this, so a host they touch is never left set up for a wipe after a move.
 * Returns 0 with *e filled, or -1 on allocation failure (*e cleared).
 */
int statusann_follow(const struct policy *p, const char *text, const char *spec_url,
    struct statusann_edit *e);
void statusann_edit_clear(struct statusann_edit *e);
/* "none", "in line", "rewrite", "other url", "not JSON". Static. */
const char *statusann_verdict_str(enum statusann_verdict v);

#endif
