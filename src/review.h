/* review.h - the admission decision: AdmissionReview request bytes in, response review bytes out. */
#ifndef BMHGUARD_REVIEW_H
#define BMHGUARD_REVIEW_H

#include <stddef.h>
#include "policy.h"

/* Where a rewrite applies (a kind's fields: src/kinds.c). Metal3Machine's spec.image is
 * REVIEW_SPEC_URL/CHECKSUM, as a host's. */
enum review_field {
	REVIEW_SPEC_URL = 0,		/* spec.image.url */
	REVIEW_SPEC_CHECKSUM,		/* spec.image.checksum */
	REVIEW_ANNOTATION_URL,		/* baremetalhost.metal3.io/status: provisioning.image.url */
	REVIEW_ANNOTATION_CHECKSUM,	/* baremetalhost.metal3.io/status: provisioning.image.checksum */
	REVIEW_TEMPLATE_URL,		/* Metal3MachineTemplate spec.template.spec.image.url */
	REVIEW_TEMPLATE_CHECKSUM,	/* Metal3MachineTemplate spec.template.spec.image.checksum */
	REVIEW_DATA_URL,		/* DataImage spec.url */
	REVIEW_FIRMWARE_URL,		/* HostFirmwareComponents spec.updates[].url */
	REVIEW_FIELD_COUNT
};

enum review_action {
	REVIEW_REWRITE = 0,	/* patched */
	REVIEW_WOULD_REWRITE,	/* --mode warn: reported, not patched */
	REVIEW_WITHHOLD,	/* not patched: would make the operator deprovision the host */
	REVIEW_ACTION_COUNT
};

/* The request's overall outcome, for metrics. */
enum review_outcome {
	REVIEW_UNCHANGED = 0,	/* allowed, no patch, nothing withheld */
	REVIEW_PATCHED,		/* allowed with a patch */
	REVIEW_WITHHELD,	/* allowed, a rewrite withheld (possibly other fields patched) */
	REVIEW_REJECTED,	/* input was not a valid AdmissionReview: no response */
	REVIEW_OUTCOME_COUNT
};

struct review_change {
	enum review_field field;
	enum review_action action;
	char *from;	/* owned by the result */
	char *to;	/* owned by the result */
};

/* Everything a caller needs to answer, count and log one review. All strings are owned by the
 * result and released by review_result_free(). */
struct review_result {
	char *response;		/* the response AdmissionReview, JSON, NUL-terminated */
	size_t response_len;
	enum review_outcome outcome;
	char *uid, *namespace, *name;	/* from the request; "" when absent */
	struct review_change *changes;	/* rewrites, would-rewrites and withholds, in patch order */
	size_t nchanges;
};

/* Decide on one AdmissionReview (admission.k8s.io/v1) held in body[0..len). body need not be
 * NUL-terminated. On success returns 0 and fills *res (free with review_result_free()). On input
 * that is not a valid review returns -1, res->outcome is REVIEW_REJECTED, and err holds one line
 * saying why; res needs no freeing then but freeing it is harmless. Thread-safe: the policy is
 * only read. */
int review_handle(const struct policy *p, const char *body, size_t len, struct review_result *res,
    char *err, size_t errlen);

void review_result_free(struct review_result *res);

/* Names for logs and metrics. Static strings. */
const char *review_field_str(enum review_field f);	/* "spec.image.url", ... */
const char *review_field_label(enum review_field f);	/* "spec_image_url", ... (metric label) */
const char *review_action_str(enum review_action a);	/* "rewrite", "would-rewrite", "withhold" */
const char *review_outcome_str(enum review_outcome o);	/* "unchanged", "patched", ... */

/* Largest body review_handle() accepts by default, and the cap `bmhguard review` reads. */
#define REVIEW_DEFAULT_MAX_BODY ((size_t)8 << 20)

#endif
