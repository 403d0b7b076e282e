/* kinds.c - the Metal3 kinds the webhook rewrites: where each keeps its image URLs and what an UPDATE must leave alone. */
#include <string.h>
#include <strings.h>

#include "kinds.h"
#include "str.h"

#define KEYS(...) { (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) }
const struct codec_path kinds_reads[KR_COUNT] = {
	[KR_IMAGE_URL] = KEYS("request", "object", "spec", "image", "url"),
	[KR_IMAGE_CHECKSUM] = KEYS("request", "object", "spec", "image", "checksum"),
	[KR_PROVISIONED_URL] = KEYS("request", "object", "status", "provisioning", "image", "url"),
	[KR_OLD_PROVISIONED_URL] = KEYS("request", "oldObject", "status", "provisioning", "image",
	    "url"),
	[KR_TEMPLATE_URL] = KEYS("request", "object", "spec", "template", "spec", "image", "url"),
	[KR_TEMPLATE_CHECKSUM] = KEYS("request", "object", "spec", "template", "spec", "image",
	    "checksum"),
	[KR_DATA_URL] = KEYS("request", "object", "spec", "url"),
	[KR_ATTACHED_URL] = KEYS("request", "object", "status", "attachedImage", "url"),
	[KR_OLD_ATTACHED_URL] = KEYS("request", "oldObject", "status", "attachedImage", "url"),
};

/*
 * HostFirmwareComponents: the operator flashes every entry of spec.updates whose component is
 * missing from status.updates or whose url differs from the one recorded there
 * (getUpdatesDifference), so a url status records as applied is withheld, per component.
 */
static const struct kinds_list firmware_updates = {
	(const char *const[]){ "spec", "updates" }, 2,
	(const char *const[]){ "status", "updates" }, 2,
	"component", "url", REVIEW_FIRMWARE_URL,
};

static const struct kinds_row rows[] = {
	/* The operator deprovisions (wipes) a provisioned, unpaused host whose spec.image.url
	 * differs from status.provisioning.image.url: only `bmhguard repair` moves both. */
	{ "metal3.io", "BareMetalHost",
	  { { REVIEW_SPEC_URL, KR_IMAGE_URL, 0 }, { REVIEW_SPEC_CHECKSUM, KR_IMAGE_CHECKSUM, 1 } }, 2,
	  KR_PROVISIONED_URL, KR_OLD_PROVISIONED_URL, NULL, 1, "(new host)",
	  "rewriting would deprovision", "run bmhguard repair", "withheld: host is provisioned",
	  "baremetalhosts", { "v1alpha1" }, KINDS_HOST_PAUSE, { "bmh", "bmhost" } },
	/* CAPM3 copies the template's image into each Metal3Machine, and a Metal3Machine's into its
	 * host's spec.image only while that is nil (setHostSpec in
	 * baremetal/metal3machine_manager.go); it never compares or re-sets it. So rewriting these
	 * on UPDATE never touches an existing host, and stops the literal coming back on every new
	 * or re-provisioned machine. Served as v1beta1 and v1beta2; the paths are the same. */
	{ "infrastructure.cluster.x-k8s.io", "Metal3MachineTemplate",
	  { { REVIEW_TEMPLATE_URL, KR_TEMPLATE_URL, 0 },
	    { REVIEW_TEMPLATE_CHECKSUM, KR_TEMPLATE_CHECKSUM, 1 } }, 2,
	  KR_NONE, KR_NONE, NULL, 0, "(new object)", NULL, NULL, NULL,
	  "metal3machinetemplates", { "v1beta2", "v1beta1" }, KINDS_CAPI_PAUSE, { "m3mt" } },
	{ "infrastructure.cluster.x-k8s.io", "Metal3Machine",
	  { { REVIEW_SPEC_URL, KR_IMAGE_URL, 0 }, { REVIEW_SPEC_CHECKSUM, KR_IMAGE_CHECKSUM, 1 } }, 2,
	  KR_NONE, KR_NONE, NULL, 0, "(new object)", NULL, NULL, NULL,
	  "metal3machines", { "v1beta2", "v1beta1" }, KINDS_CAPI_PAUSE, { "m3m" } },
	/* A changed DataImage spec.url makes the operator detach the virtual media and attach it
	 * again: withheld while status.attachedImage.url is the literal being rewritten. */
	{ "metal3.io", "DataImage",
	  { { REVIEW_DATA_URL, KR_DATA_URL, 0 } }, 1,
	  KR_ATTACHED_URL, KR_OLD_ATTACHED_URL, NULL, 0, "(new object)",
	  "rewriting would re-attach it", "detach it first",
	  "withheld: image is attached",
	  "dataimages", { "v1alpha1" }, NULL, { "" } },
	{ "metal3.io", "HostFirmwareComponents",
	  { { 0, KR_NONE, 0 } }, 0,
	  KR_NONE, KR_NONE, &firmware_updates, 0, "(new object)",
	  "rewriting would flash it again", "edit it to reflash",
	  "withheld: firmware is applied",
	  "hostfirmwarecomponents", { "v1alpha1" }, NULL, { "hfc" } },
};

const struct kinds_row *
kinds_find(const char *group, const char *kind)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (str_eq(group, rows[i].group) && str_eq(kind, rows[i].kind))
			return &rows[i];
	return NULL;
}

const struct kinds_row *
kinds_by_name(const char *name)
{
	size_t i, j;

	for (i = 0; name != NULL && i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct kinds_row *k = &rows[i];
		size_t n = strlen(k->plural);

		if (strcasecmp(name, k->kind) == 0 || strcasecmp(name, k->plural) == 0 ||
		    (strncasecmp(name, k->plural, n - 1) == 0 && name[n - 1] == '\0'))
			return k;
		for (j = 0; j < sizeof(k->short_names) / sizeof(k->short_names[0]); j++)
			if (k->short_names[j] != NULL && *k->short_names[j] != '\0' &&
			    strcasecmp(name, k->short_names[j]) == 0)
				return k;
	}
	return NULL;
}

const char *const *
kinds_obj_path(enum kinds_read read, size_t *depth)
{
	*depth = kinds_reads[read].depth - 2;
	return kinds_reads[read].keys + 2;
}

const struct kinds_row *
kinds_rows(size_t *n)
{
	*n = sizeof(rows) / sizeof(rows[0]);
	return rows;
}
