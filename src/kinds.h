/* kinds.h - the Metal3 kinds the webhook rewrites: where each keeps its image URLs and what an UPDATE must leave alone. */
#ifndef BMHGUARD_KINDS_H
#define BMHGUARD_KINDS_H

#include <stddef.h>

#include "codec.h"
#include "review.h"

/* Every string member of request.object or request.oldObject that some kind reads. review.c
 * reads them all in its one parse of the request (codec_parse_fields), beside its own envelope
 * members; a kind's row names them by index. */
enum kinds_read {
	KR_IMAGE_URL = 0,	/* spec.image.url: BareMetalHost, Metal3Machine */
	KR_IMAGE_CHECKSUM,	/* spec.image.checksum */
	KR_PROVISIONED_URL,	/* status.provisioning.image.url: BareMetalHost */
	KR_OLD_PROVISIONED_URL,
	KR_TEMPLATE_URL,	/* spec.template.spec.image.url: Metal3MachineTemplate */
	KR_TEMPLATE_CHECKSUM,
	KR_DATA_URL,		/* spec.url: DataImage */
	KR_ATTACHED_URL,	/* status.attachedImage.url: DataImage */
	KR_OLD_ATTACHED_URL,
	KR_COUNT,
	KR_NONE = KR_COUNT
};

/* Full paths from the top of the AdmissionReview ("request", "object", ...). */
extern const struct codec_path kinds_reads[KR_COUNT];

/* One string a kind rewrites. */
struct kinds_field {
	enum review_field field;
	enum kinds_read read;
	int follows;	/* a checksum: withheld exactly when the url before it is */
};

/* A list of {key, url} objects (HostFirmwareComponents' spec.updates), each url rewritten, and the
 * list in status recording what was applied. Paths are under request.object / oldObject. */
struct kinds_list {
	const char *const *spec;	/* "spec", "updates": two keys (warnings and audit keys name
					 * an element by them) */
	size_t spec_depth;
	const char *const *status;	/* "status", "updates" */
	size_t status_depth;
	const char *key;		/* "component": names the element in warnings */
	const char *url;		/* "url" */
	enum review_field field;
};

#define KINDS_MAX_FIELDS 2

/* One kind. On UPDATE a guarded url is withheld when the incoming literal is what status says is
 * in use (in_use; oldObject's when the request has one) and its rewrite is not: changing it would
 * make the operator act on the object (see each row). */
struct kinds_row {
	const char *group, *kind;
	struct kinds_field fields[KINDS_MAX_FIELDS];
	size_t nfields;
	enum kinds_read in_use, old_in_use;	/* KR_NONE: never withheld */
	const struct kinds_list *list;		/* NULL, or the kind's list of urls */
	int status_annotation;	/* baremetalhost.metal3.io/status follows fields[0] (BareMetalHost) */
	const char *unnamed;	/* in warnings when the request has no name: "(new host)" */
	const char *withheld_why;	/* warning: "rewriting would deprovision" */
	const char *withheld_hint;	/* warning: "run bmhguard repair" */
	const char *withheld_audit;	/* audit value: "withheld: host is provisioned" */
	/* The repair job: the resource's plural, the versions it may be served as (the first the
	 * cluster serves is used), the annotation that pauses the object itself (NULL: the
	 * same-named host's pause holds it: the host's controller is what acts on it), and its
	 * short names for --kinds. */
	const char *plural;
	const char *versions[2];
	const char *pause;
	const char *short_names[2];
};

#define KINDS_HOST_PAUSE "baremetalhost.metal3.io/paused"
#define KINDS_CAPI_PAUSE "cluster.x-k8s.io/paused"

/* The row whose kind, plural or short name is name (case-insensitive), or NULL. */
const struct kinds_row *kinds_by_name(const char *name);

/* A path of kinds_reads from the object: the keys after "request", "object". */
const char *const *kinds_obj_path(enum kinds_read read, size_t *depth);

/* The row for a group and kind, or NULL: not ours. */
const struct kinds_row *kinds_find(const char *group, const char *kind);

/* Every row, for tests and documentation. */
const struct kinds_row *kinds_rows(size_t *n);

#endif
