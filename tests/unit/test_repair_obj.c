/* test_repair_obj.c - repair_obj_plan() decisions and patch bodies for the kinds besides BareMetalHost, from objects shaped as their CRDs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "check.h"
#include "kinds.h"
#include "policy.h"
#include "repair_obj.h"
#include "repair_plan.h"

/* Urls as the default rules see them: a literal and its rewrite. */
#define OLD "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2"
#define NEW "http://httpd-http/images/ubiquity-node-rocky9.qcow2"
#define OLDSUM "http://10.10.10.10/images/ubiquity-node-rocky9.qcow2.sha256sum"
#define NEWSUM "http://httpd-http/images/ubiquity-node-rocky9.qcow2.sha256sum"
#define HEXSUM "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define OLDISO "http://10.10.10.10/isos/worker-0-config.iso"
#define NEWISO "http://httpd-http/isos/worker-0-config.iso"
#define OLDBIOS "http://10.10.10.10/firmware/bios-2.1.bin"
#define NEWBIOS "http://httpd-http/firmware/bios-2.1.bin"
#define OLDBMC "http://10.10.10.10/firmware/bmc-5.0.bin"
#define NEWBMC "http://httpd-http/firmware/bmc-5.0.bin"
#define PREVBIOS "http://10.10.10.10/firmware/bios-2.0.bin"	/* another image: pending */
#define NIC "http://fw.example.com/firmware/nic-1.2.bin"	/* never literal */

/* JSON in this file is written with single quotes; q() makes it JSON (malloc'd). */
static char *
q(const char *s)
{
	char *d = strdup(s), *p;

	for (p = d; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static struct json_object *
parse_q(const char *s)
{
	char *j = q(s);
	struct json_object *o = json_tokener_parse(j);

	free(j);
	return o;
}

/* ---------------------------------------------------------------- objects, as their CRDs */

#define MD(name, rv, ann) "'metadata':{'name':'" name "','namespace':'metal3'," \
	"'resourceVersion':'" rv "','uid':'0b6a4d52-6f0e-4b4a-9d1e-3c2b1a0f9e8d'" ann "}"
#define CAPI_PAUSED(v) ",'annotations':{'cluster.x-k8s.io/paused':" v "," \
	"'kubectl.kubernetes.io/last-applied-configuration':'{}'}"

#define M3MT(ann, url, sum) "{'apiVersion':'infrastructure.cluster.x-k8s.io/v1beta1'," \
	"'kind':'Metal3MachineTemplate'," MD("workers", "100", ann) ",'spec':{'template':" \
	"{'spec':{'dataTemplate':{'name':'workers-template'},'image':{'checksum':'" sum "'," \
	"'checksumType':'sha256','format':'qcow2','url':'" url "'}}}}}"
#define M3M(ann, url, sum) "{'apiVersion':'infrastructure.cluster.x-k8s.io/v1beta1'," \
	"'kind':'Metal3Machine'," MD("worker-0", "200", ann) ",'spec':{'image':{'checksum':'" \
	sum "','checksumType':'sha256','format':'qcow2','url':'" url "'},'providerID':" \
	"'metal3://metal3/worker-0/worker-0'},'status':{'ready':true}}"
#define DI(status) "{'apiVersion':'metal3.io/v1alpha1','kind':'DataImage'," \
	MD("worker-0", "300", "") ",'spec':{'url':'" OLDISO "'}" status "}"
#define DI_URL(url, status) "{'apiVersion':'metal3.io/v1alpha1','kind':'DataImage'," \
	MD("worker-0", "300", "") ",'spec':{'url':'" url "'}" status "}"
#define ATTACHED(url) ",'status':{'attachedImage':{'url':'" url "'},'error':{'count':0," \
	"'message':''},'lastReconciled':'2026-01-01T00:00:00Z'}"
/* spec.updates bios, bmc, nic and status.updates as given */
#define UPD(c, u) "{'component':'" c "','url':'" u "'}"
#define HFC(bios, bmc, st) "{'apiVersion':'metal3.io/v1alpha1','kind':'HostFirmwareComponents'," \
	MD("worker-0", "400", "") ",'spec':{'updates':[" UPD("bios", bios) "," UPD("bmc", bmc) \
	"," UPD("nic", NIC) "]},'status':{'components':[{'component':'bios','initialVersion':" \
	"'2.0','currentVersion':'2.1'}],'lastUpdated':'2026-01-01T00:00:00Z','updates':[" st \
	"]}}"
#define ST3(bios, bmc) UPD("bmc", bmc) "," UPD("nic", NIC) "," UPD("bios", bios)

/* expected bodies */
#define BODY(rv, rest) "{'metadata':{'resourceVersion':'" rv "'}," rest "}"
#define HFC_SPEC(bios, bmc) "'spec':{'updates':[" UPD("bios", bios) "," UPD("bmc", bmc) "," \
	UPD("nic", NIC) "]}"
#define HFC_STATUS(bios, bmc) "'status':{'updates':[" ST3(bios, bmc) "]}"

/* A BareMetalHost as the API returns it; NULL leaves a field out. */
static char *
host_json(const char *state, const char *spec_url, const char *st_url, const char *pause)
{
	struct json_object *o = json_object_new_object(), *md, *spec, *img, *st, *prov, *simg;
	char *s;

	md = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string("worker-0"));
	json_object_object_add(md, "namespace", json_object_new_string("metal3"));
	json_object_object_add(md, "resourceVersion", json_object_new_string("4711"));
	if (pause != NULL) {
		struct json_object *a = json_object_new_object();

		json_object_object_add(a, REPAIR_PAUSE_ANNOTATION, json_object_new_string(pause));
		json_object_object_add(md, "annotations", a);
	}
	json_object_object_add(o, "metadata", md);
	spec = json_object_new_object();
	img = json_object_new_object();
	if (spec_url)
		json_object_object_add(img, "url", json_object_new_string(spec_url));
	json_object_object_add(spec, "image", img);
	json_object_object_add(o, "spec", spec);
	if (state != NULL) {
		st = json_object_new_object();
		prov = json_object_new_object();
		simg = json_object_new_object();
		json_object_object_add(prov, "state", json_object_new_string(state));
		if (st_url)
			json_object_object_add(simg, "url", json_object_new_string(st_url));
		json_object_object_add(prov, "image", simg);
		json_object_object_add(st, "provisioning", prov);
		json_object_object_add(o, "status", st);
	}
	s = strdup(json_object_to_json_string(o));
	json_object_put(o);
	return s;
}

/* RFC 7386 merge patch of target (owned, returned) by patch (borrowed). */
static struct json_object *
merge(struct json_object *target, struct json_object *patch)
{
	if (!json_object_is_type(patch, json_type_object)) {
		struct json_object *c = NULL;

		json_object_put(target);
		json_object_deep_copy(patch, &c, NULL);
		return c;
	}
	if (!json_object_is_type(target, json_type_object)) {
		json_object_put(target);
		target = json_object_new_object();
	}
	json_object_object_foreach(patch, key, v) {
		if (v == NULL) {
			json_object_object_del(target, key);
		} else {
			struct json_object *t = NULL;

			if (json_object_object_get_ex(target, key, &t))
				json_object_get(t);
			json_object_object_add(target, key, merge(t, v));
		}
	}
	return target;
}

/* ---------------------------------------------------------------- the table */

enum where_ { UNREAD = REPAIR_OBJ_HOST_UNREAD, ABSENT = REPAIR_OBJ_HOST_ABSENT,
	READ = REPAIR_OBJ_HOST_READ };

struct ocase {
	const char *what;
	const char *kind;
	const char *obj;
	enum where_ where;
	const char *state, *spec_url, *st_url, *pause;	/* the host, READ only */
	int handed;			/* the rules hand over "true" and "metal3.io/capm3x" */
	enum repair_action action;
	const char *steps;
	enum repair_outcome leave;	/* for REPAIR_LEAVE */
	int needs_host, under;
	const char *spec_body, *status_body;	/* rv "R" */
};

#define PV REPAIR_PAUSE_VALUE
#define PROV "provisioned"
#define HELD REPAIR_OUT_HELD
#define HUMAN REPAIR_OUT_NEEDS_HUMAN
#define SKIPPED REPAIR_OUT_SKIPPED
#define NONE_ REPAIR_NONE, "", 0, 0, 0, NULL, NULL
#define SPEC_(body) REPAIR_SPEC_ONLY, "spec", 0, 0, 0, BODY("R", body), NULL
#define LEAVE_(how) REPAIR_LEAVE, "", how, 0, 0, NULL, NULL

#define M3MT_SPEC(img) "'spec':{'template':{'spec':{'image':" img "}}}"
#define M3M_SPEC(img) "'spec':{'image':" img "}"
#define DI_SPEC "'spec':{'url':'" NEWISO "'}"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct ocase cases[] = {
	/* Metal3MachineTemplate: its own CAPI pause */
	{ "m3mt literal url", "Metal3MachineTemplate", M3MT("", OLD, HEXSUM), UNREAD, NULL, NULL,
	  NULL, NULL, 0, SPEC_(M3MT_SPEC("{'url':'" NEW "'}")) },
	{ "m3mt literal url and checksum", "Metal3MachineTemplate", M3MT("", OLD, OLDSUM), UNREAD,
	  NULL, NULL, NULL, NULL, 0,
	  SPEC_(M3MT_SPEC("{'url':'" NEW "','checksum':'" NEWSUM "'}")) },
	{ "m3mt checksum only", "Metal3MachineTemplate", M3MT("", NEW, OLDSUM), ABSENT, NULL,
	  NULL, NULL, NULL, 0, SPEC_(M3MT_SPEC("{'checksum':'" NEWSUM "'}")) },
	{ "m3mt names", "Metal3MachineTemplate", M3MT("", NEW, NEWSUM), UNREAD, NULL, NULL, NULL,
	  NULL, 0, NONE_ },
	{ "m3mt paused 'true'", "Metal3MachineTemplate", M3MT(CAPI_PAUSED("'true'"), OLD, HEXSUM),
	  UNREAD, NULL, NULL, NULL, NULL, 0, LEAVE_(HELD) },
	{ "m3mt paused ''", "Metal3MachineTemplate", M3MT(CAPI_PAUSED("''"), OLD, HEXSUM),
	  UNREAD, NULL, NULL, NULL, NULL, 0, LEAVE_(HELD) },
	{ "m3mt paused, non-string", "Metal3MachineTemplate", M3MT(CAPI_PAUSED("{'by':'me'}"),
	  OLD, HEXSUM), UNREAD, NULL, NULL, NULL, NULL, 1, LEAVE_(HELD) },
	{ "m3mt paused 'true', 'true' handed over: a host pause value, still held",
	  "Metal3MachineTemplate", M3MT(CAPI_PAUSED("'true'"), OLD, HEXSUM), UNREAD, NULL, NULL,
	  NULL, NULL, 1, LEAVE_(HELD) },
	{ "m3mt paused, names: nothing held", "Metal3MachineTemplate",
	  M3MT(CAPI_PAUSED("'true'"), NEW, HEXSUM), UNREAD, NULL, NULL, NULL, NULL, 0, NONE_ },
	/* Metal3Machine */
	{ "m3m literal url", "Metal3Machine", M3M("", OLD, HEXSUM), UNREAD, NULL, NULL, NULL, NULL,
	  0, SPEC_(M3M_SPEC("{'url':'" NEW "'}")) },
	{ "m3m literal url, host read and paused by another: its own pause decides",
	  "Metal3Machine", M3M("", OLD, OLDSUM), READ, PROV, OLD, OLD, "metal3.io/capm3", 0,
	  SPEC_(M3M_SPEC("{'url':'" NEW "','checksum':'" NEWSUM "'}")) },
	{ "m3m names", "Metal3Machine", M3M("", NEW, HEXSUM), UNREAD, NULL, NULL, NULL, NULL, 0,
	  NONE_ },
	{ "m3m paused 'true'", "Metal3Machine", M3M(CAPI_PAUSED("'true'"), OLD, HEXSUM), UNREAD,
	  NULL, NULL, NULL, NULL, 0, LEAVE_(HELD) },
	{ "m3m paused, number", "Metal3Machine", M3M(CAPI_PAUSED("1"), OLD, HEXSUM), ABSENT,
	  NULL, NULL, NULL, NULL, 0, LEAVE_(HELD) },
	{ "m3m paused by another owner, other handed", "Metal3Machine",
	  M3M(CAPI_PAUSED("'metal3.io/capm3'"), OLD, HEXSUM), UNREAD, NULL, NULL, NULL, NULL, 1,
	  LEAVE_(HELD) },
	{ "m3m paused 'true', 'true' handed over: a host pause value, still held", "Metal3Machine",
	  M3M(CAPI_PAUSED("'true'"), OLD, OLDSUM), UNREAD, NULL, NULL, NULL, NULL, 1,
	  LEAVE_(HELD) },

	/* DataImage: its host's pause decides */
	{ "di literal, host unread: ask for it", "DataImage", DI(""), UNREAD, NULL, NULL, NULL,
	  NULL, 0, REPAIR_NONE, "", 0, 1, 0, NULL, NULL },
	{ "di literal, no host", "DataImage", DI(""), ABSENT, NULL, NULL, NULL, NULL, 0,
	  SPEC_(DI_SPEC) },
	{ "di names", "DataImage", DI_URL(NEWISO, ""), UNREAD, NULL, NULL, NULL, NULL, 0, NONE_ },
	{ "di names, attached literal", "DataImage", DI_URL(NEWISO, ATTACHED(OLDISO)), UNREAD,
	  NULL, NULL, NULL, NULL, 0, NONE_ },
	{ "di attached literal, host unread", "DataImage", DI(ATTACHED(OLDISO)), UNREAD, NULL,
	  NULL, NULL, NULL, 0, LEAVE_(HUMAN) },
	{ "di attached literal, host unpaused", "DataImage", DI(ATTACHED(OLDISO)), READ, PROV, NEW,
	  NEW, NULL, 0, LEAVE_(HUMAN) },
	{ "di attached literal, no host", "DataImage", DI(ATTACHED(OLDISO)), ABSENT, NULL, NULL,
	  NULL, NULL, 0, LEAVE_(HUMAN) },
	{ "di attached the name", "DataImage", DI(ATTACHED(NEWISO)), READ, PROV, NEW, NEW, NULL, 0,
	  SPEC_(DI_SPEC) },
	{ "di attached another image by name", "DataImage",
	  DI(ATTACHED("http://isos.example.com/other.iso")), READ, "available", NULL, NULL, NULL, 0,
	  SPEC_(DI_SPEC) },
	{ "di host paused by capm3", "DataImage", DI(""), READ, PROV, NEW, NEW, "metal3.io/capm3",
	  0, LEAVE_(HELD) },
	{ "di host paused 'true', not handed", "DataImage", DI(""), READ, PROV, NEW, NEW, "true",
	  0, LEAVE_(HELD) },
	{ "di host paused by ours: spec only, our pause stays", "DataImage", DI(""), READ, PROV,
	  NEW, NEW, PV, 0, SPEC_(DI_SPEC) },
	{ "di host paused by ours, inconsistent", "DataImage", DI(""), READ, PROV, OLD, NEW, PV, 0,
	  SPEC_(DI_SPEC) },
	{ "di host paused 'true' handed over", "DataImage", DI(""), READ, PROV, NEW, NEW, "true", 1,
	  REPAIR_SPEC_ONLY, "spec", 0, 0, 1, BODY("R", DI_SPEC), NULL },
	{ "di host provisioning", "DataImage", DI(""), READ, "provisioning", NEW, NULL, NULL, 0,
	  LEAVE_(SKIPPED) },
	{ "di host deprovisioning under our pause", "DataImage", DI(""), READ, "deprovisioning",
	  NEW, NEW, PV, 0, LEAVE_(HUMAN) },
	{ "di host inspecting under a handed pause", "DataImage", DI(""), READ, "inspecting", NULL,
	  NULL, "true", 1, LEAVE_(SKIPPED) },
	{ "di host provisioning, paused by another: held first", "DataImage", DI(""), READ,
	  "provisioning", NEW, NULL, "move", 0, LEAVE_(HELD) },

	/* HostFirmwareComponents */
	{ "hfc applied from the literal, host unpaused", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, PROV, NEW, NEW, NULL, 0, REPAIR_FULL,
	  "pause,status,spec,read,resume", 0, 0, 0, BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)),
	  BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc two applied from literals", "HostFirmwareComponents",
	  HFC(OLDBIOS, OLDBMC, ST3(OLDBIOS, OLDBMC)), READ, "externally provisioned", OLD, OLD,
	  NULL, 0, REPAIR_FULL, "pause,status,spec,read,resume", 0, 0, 0,
	  BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)), BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc applied and pending", "HostFirmwareComponents",
	  HFC(OLDBIOS, OLDBMC, ST3(OLDBIOS, NEWBMC "x")), READ, PROV, NEW, NEW, NULL, 0,
	  REPAIR_FULL, "pause,status,spec,read,resume", 0, 0, 0,
	  BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)), BODY("R", HFC_STATUS(NEWBIOS, NEWBMC "x")) },
	{ "hfc pending: status another literal", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(PREVBIOS, NEWBMC)), READ, PROV, NEW, NEW, NULL, 0,
	  SPEC_(HFC_SPEC(NEWBIOS, NEWBMC)) },
	{ "hfc pending: component not in status", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, UPD("bmc", NEWBMC)), READ, PROV, NEW, NEW, NULL, 0,
	  SPEC_(HFC_SPEC(NEWBIOS, NEWBMC)) },
	{ "hfc pending: no status updates", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ""), ABSENT, NULL, NULL, NULL, NULL, 0,
	  SPEC_(HFC_SPEC(NEWBIOS, NEWBMC)) },
	{ "hfc half done: status rewritten, spec literal", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), READ, PROV, NEW, NEW, NULL, 0,
	  SPEC_(HFC_SPEC(NEWBIOS, NEWBMC)) },
	{ "hfc half done under our pause, host settled: spec, read, our pause off",
	  "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), READ, PROV, NEW, NEW,
	  PV, 0, REPAIR_SPEC_ONLY, "spec,read,resume", 0, 0, 0,
	  BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)), NULL },
	{ "hfc half done under our pause, host not settled: spec, pause stays",
	  "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), READ, PROV, OLD, NEW,
	  PV, 0, SPEC_(HFC_SPEC(NEWBIOS, NEWBMC)) },
	{ "hfc reverse half done: spec rewritten, status literal", "HostFirmwareComponents",
	  HFC(NEWBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, PROV, NEW, NEW, NULL, 0,
	  REPAIR_FULL, "pause,status,read,resume", 0, 0, 0, NULL,
	  BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc names", "HostFirmwareComponents", HFC(NEWBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), READ,
	  PROV, NEW, NEW, NULL, 0, NONE_ },
	{ "hfc names, status literal of another image", "HostFirmwareComponents",
	  HFC(NEWBIOS, NEWBMC, ST3(PREVBIOS, NEWBMC)), READ, PROV, NEW, NEW, NULL, 0, NONE_ },
	{ "hfc under our pause, host consistent", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, PROV, NEW, NEW, PV, 0, REPAIR_FULL,
	  "status,spec,read,resume", 0, 0, 0, BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)),
	  BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc under our pause, host literal but consistent", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, PROV, OLD, OLD, PV, 0, REPAIR_FULL,
	  "status,spec,read,resume", 0, 0, 0, BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)),
	  BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc under our pause, host inconsistent: pause stays", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, PROV, NEW, OLD, PV, 0, REPAIR_FULL,
	  "status,spec,read", 0, 0, 0, BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)),
	  BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc under a handed pause", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, PROV, NEW, NEW, "true", 1, REPAIR_FULL,
	  "status,spec,read", 0, 0, 1, BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)),
	  BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc pending under a handed pause", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(PREVBIOS, NEWBMC)), READ, PROV, NEW, NEW, "true", 1,
	  REPAIR_SPEC_ONLY, "spec", 0, 0, 1, BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)), NULL },
	{ "hfc no host", "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)),
	  ABSENT, NULL, NULL, NULL, NULL, 0, REPAIR_FULL, "status,spec,read", 0, 0, 0,
	  BODY("R", HFC_SPEC(NEWBIOS, NEWBMC)), BODY("R", HFC_STATUS(NEWBIOS, NEWBMC)) },
	{ "hfc host unread", "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)),
	  UNREAD, NULL, NULL, NULL, NULL, 0, REPAIR_NONE, "", 0, 1, 0, NULL, NULL },
	{ "hfc foreign pause", "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)),
	  READ, PROV, NEW, NEW, "metal3.io/capm3", 0, LEAVE_(HELD) },
	{ "hfc foreign pause, pending only", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(PREVBIOS, NEWBMC)), READ, PROV, NEW, NEW, "move", 1,
	  LEAVE_(HELD) },
	{ "hfc host in transient state", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, "preparing", NEW, NULL, NULL, 0,
	  LEAVE_(SKIPPED) },
	{ "hfc host in transient state under our pause", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), READ, "deleting", NEW, NEW, PV, 0,
	  LEAVE_(HUMAN) },
	{ "hfc half done, host paused by another owner: needs a human, not held",
	  "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), READ, PROV, NEW,
	  NEW, "metal3.io/capm3", 0, LEAVE_(HUMAN) },
	{ "hfc component twice in status: needs a human", "HostFirmwareComponents",
	  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC) "," UPD("bios", PREVBIOS)), ABSENT, NULL, NULL,
	  NULL, NULL, 0, LEAVE_(HUMAN) },
	{ "hfc component twice in spec: needs a human", "HostFirmwareComponents",
	  "{'apiVersion':'metal3.io/v1alpha1','kind':'HostFirmwareComponents'," MD("worker-0",
	  "400", "") ",'spec':{'updates':[" UPD("bios", OLDBIOS) "," UPD("bios", NEWBIOS) "]}}",
	  ABSENT, NULL, NULL, NULL, NULL, 0, LEAVE_(HUMAN) },
	{ "hfc component twice, nothing literal: nothing to do", "HostFirmwareComponents",
	  HFC(NEWBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC) "," UPD("bios", NEWBIOS)), ABSENT, NULL, NULL,
	  NULL, NULL, 0, NONE_ },
};

static const struct kinds_row *
row(const char *kind)
{
	const struct kinds_row *k = kinds_find(kind[0] == 'M' ?
	    "infrastructure.cluster.x-k8s.io" : "metal3.io", kind);

	if (k == NULL) {
		fprintf(stderr, "no kinds row %s\n", kind);
		exit(2);
	}
	return k;
}

static const char *const handed_list[] = { "true", "metal3.io/capm3x" };

/* Plan obj as kind k; the host (READ) built from t's columns. */
static int
plan_case(const struct policy *p, const struct ocase *t, struct json_object *obj,
    struct repair_obj_plan *plan)
{
	struct repair_rules rules = { p, handed_list, t->handed ? 2 : 0 };
	struct repair_host h, *hp = NULL;
	char err[256];
	int rc;

	memset(&h, 0, sizeof(h));
	if (t->where == READ) {
		char *js = host_json(t->state, t->spec_url, t->st_url, t->pause);

		if (repair_host_parse(js, &h, err, sizeof(err)) != 0) {
			free(js);
			return -2;
		}
		free(js);
		hp = &h;
	}
	rc = repair_obj_plan(&rules, row(t->kind), obj, (enum repair_obj_host)t->where, hp, plan);
	repair_host_clear(&h);
	return rc;
}

static void
check_body(const struct repair_obj_plan *plan, unsigned step, const char *want_q,
    const char *what, const char *part)
{
	char *got = repair_obj_step_body(plan, step, "R");
	char *want = want_q ? q(want_q) : NULL;

	CHECK_STR(got, want, "%s: %s body", what, part);
	free(got);
	free(want);
}

static void
test_cases(const struct policy *p)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ocase *t = &cases[i];
		struct json_object *obj = parse_q(t->obj);
		struct repair_obj_plan plan, again;
		char steps[128];
		int rc;

		if (!CHECK(obj != NULL, "%s: object is JSON", t->what))
			continue;
		rc = plan_case(p, t, obj, &plan);
		if (!CHECK(rc == 0, "%s: plans (rc %d)", t->what, rc)) {
			json_object_put(obj);
			continue;
		}
		repair_steps_str(plan.steps, steps, sizeof(steps));
		CHECK(plan.action == t->action, "%s: action %s (got %s: %s)", t->what,
		    repair_action_str(t->action), repair_action_str(plan.action), plan.reason);
		CHECK_STR(steps, t->steps, "%s: steps", t->what);
		if (t->action == REPAIR_LEAVE) {
			CHECK(plan.leave == t->leave, "%s: left as %s (got %s: %s)", t->what,
			    repair_outcome_info(t->leave)->result,
			    repair_outcome_info(plan.leave)->result, plan.reason);
			CHECK(plan.reason[0] != '\0', "%s: leaving says why", t->what);
		}
		CHECK(plan.needs_host == t->needs_host, "%s: needs_host %d (got %d)", t->what,
		    t->needs_host, plan.needs_host);
		CHECK(plan.under_other_pause == t->under, "%s: under_other_pause %d (got %d)",
		    t->what, t->under, plan.under_other_pause);
		CHECK((plan.spec != NULL) == ((plan.steps & REPAIR_STEP_SPEC) != 0) &&
		    (plan.status != NULL) == ((plan.steps & REPAIR_STEP_STATUS) != 0),
		    "%s: a patch exactly for each write step", t->what);
		check_body(&plan, REPAIR_STEP_SPEC, t->spec_body, t->what, "spec");
		check_body(&plan, REPAIR_STEP_STATUS, t->status_body, t->what, "status");
		if (plan.action == REPAIR_SPEC_ONLY || plan.action == REPAIR_FULL)
			CHECK(plan.reason[0] != '\0', "%s: says what changes", t->what);
		/* written as planned, the object needs nothing more */
		if (plan.spec != NULL || plan.status != NULL) {
			if (plan.status != NULL)
				obj = merge(obj, plan.status);
			if (plan.spec != NULL)
				obj = merge(obj, plan.spec);
			if (plan_case(p, t, obj, &again) == 0) {
				CHECK(again.action == REPAIR_NONE && again.steps == 0 &&
				    !again.needs_host && again.spec == NULL && again.status == NULL,
				    "%s: nothing left once written (got %s: %s)", t->what,
				    repair_action_str(again.action), again.reason);
				CHECK(!repair_obj_half_done(&(struct repair_rules){ p, NULL, 0 },
				    row(t->kind), obj), "%s: not half done once written", t->what);
				repair_obj_plan_clear(&again);
			} else {
				CHECK(0, "%s: plans again", t->what);
			}
		}
		repair_obj_plan_clear(&plan);
		CHECK(plan.spec == NULL && plan.status == NULL && plan.steps == 0,
		    "%s: cleared", t->what);
		json_object_put(obj);
	}
}

/* ---------------------------------------------------------------- half done */

static void
test_half_done(const struct policy *p)
{
	static const struct {
		const char *what, *kind, *obj;
		int want;
	} hc[] = {
		{ "status rewritten, spec literal", "HostFirmwareComponents",
		  HFC(OLDBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), 1 },
		{ "spec rewritten, status literal", "HostFirmwareComponents",
		  HFC(NEWBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), 1 },
		{ "second component half done", "HostFirmwareComponents",
		  HFC(OLDBIOS, OLDBMC, ST3(OLDBIOS, NEWBMC)), 1 },
		{ "both literal", "HostFirmwareComponents",
		  HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)), 0 },
		{ "both names", "HostFirmwareComponents",
		  HFC(NEWBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)), 0 },
		{ "pending: another image", "HostFirmwareComponents",
		  HFC(OLDBIOS, NEWBMC, ST3(PREVBIOS, NEWBMC)), 0 },
		{ "pending: another image by name", "HostFirmwareComponents",
		  HFC(OLDBIOS, NEWBMC, ST3("http://httpd-http/firmware/bios-2.0.bin", NEWBMC)), 0 },
		{ "pending: component not in status", "HostFirmwareComponents",
		  HFC(OLDBIOS, NEWBMC, UPD("bmc", NEWBMC)), 0 },
		{ "no status updates", "HostFirmwareComponents", HFC(OLDBIOS, NEWBMC, ""), 0 },
		{ "no status", "HostFirmwareComponents", "{'metadata':{'name':'w'},'spec':{'updates':["
		  UPD("bios", OLDBIOS) "]}}", 0 },
		{ "status updates not an array", "HostFirmwareComponents", "{'spec':{'updates':["
		  UPD("bios", OLDBIOS) "]},'status':{'updates':" UPD("bios", NEWBIOS) "}}", 0 },
		{ "status url not a string", "HostFirmwareComponents", "{'spec':{'updates':["
		  UPD("bios", OLDBIOS) "]},'status':{'updates':[{'component':'bios','url':7}]}}", 0 },
		{ "data image: no list", "DataImage", DI(ATTACHED(NEWISO)), 0 },
		{ "machine: no list", "Metal3Machine", M3M("", OLD, NEW), 0 },
	};
	struct repair_rules rules = { p, NULL, 0 };
	size_t i;

	for (i = 0; i < sizeof(hc) / sizeof(hc[0]); i++) {
		struct json_object *obj = parse_q(hc[i].obj);

		if (!CHECK(obj != NULL, "half done, %s: object is JSON", hc[i].what))
			continue;
		CHECK(repair_obj_half_done(&rules, row(hc[i].kind), obj) == hc[i].want,
		    "half done, %s: %d", hc[i].what, hc[i].want);
		json_object_put(obj);
	}
	CHECK(repair_obj_half_done(&rules, row("HostFirmwareComponents"), NULL) == 0,
	    "half done: no object");
}

/* ---------------------------------------------------------------- bodies, paths, meta */

static void
test_bodies(const struct policy *p)
{
	struct repair_rules rules = { p, NULL, 0 };
	struct json_object *obj = parse_q(HFC(OLDBIOS, NEWBMC, ST3(OLDBIOS, NEWBMC)));
	struct repair_obj_plan plan;
	static const unsigned none[] = { REPAIR_STEP_PAUSE, REPAIR_STEP_READBACK,
	    REPAIR_STEP_UNPAUSE, 0, REPAIR_STEP_STATUS | REPAIR_STEP_SPEC };
	char *b, *want;
	size_t i;

	if (!CHECK(repair_obj_plan(&rules, row("HostFirmwareComponents"), obj,
	    REPAIR_OBJ_HOST_ABSENT, NULL, &plan) == 0 && plan.spec && plan.status,
	    "bodies: a two-write plan")) {
		json_object_put(obj);
		return;
	}
	b = repair_obj_step_body(&plan, REPAIR_STEP_SPEC, NULL);
	want = q(BODY(REPAIR_RV_PLACEHOLDER, HFC_SPEC(NEWBIOS, NEWBMC)));
	CHECK_STR(b, want, "bodies: spec with the placeholder");
	free(b);
	free(want);
	b = repair_obj_step_body(&plan, REPAIR_STEP_STATUS, NULL);
	want = q(BODY(REPAIR_RV_PLACEHOLDER, HFC_STATUS(NEWBIOS, NEWBMC)));
	CHECK_STR(b, want, "bodies: status with the placeholder");
	free(b);
	free(want);
	b = repair_obj_step_body(&plan, REPAIR_STEP_STATUS, "123456");
	want = q(BODY("123456", HFC_STATUS(NEWBIOS, NEWBMC)));
	CHECK_STR(b, want, "bodies: status with rv 123456");
	free(b);
	free(want);
	b = repair_obj_step_body(&plan, REPAIR_STEP_SPEC, "a\"b/c");
	want = q(BODY("a\\\"b/c", HFC_SPEC(NEWBIOS, NEWBMC)));
	CHECK_STR(b, want, "bodies: rv escaped as JSON");
	free(b);
	free(want);
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		b = repair_obj_step_body(&plan, none[i], "1");
		CHECK(b == NULL, "bodies: no body for steps 0x%x", none[i]);
		free(b);
	}
	/* the plan's patches are its own: the object can go */
	json_object_put(obj);
	b = repair_obj_step_body(&plan, REPAIR_STEP_SPEC, "9");
	want = q(BODY("9", HFC_SPEC(NEWBIOS, NEWBMC)));
	CHECK_STR(b, want, "bodies: outlive the object");
	free(b);
	free(want);
	/* twice the same: the body does not consume the plan */
	b = repair_obj_step_body(&plan, REPAIR_STEP_SPEC, "9");
	want = q(BODY("9", HFC_SPEC(NEWBIOS, NEWBMC)));
	CHECK_STR(b, want, "bodies: again");
	free(b);
	free(want);
	repair_obj_plan_clear(&plan);
	b = repair_obj_step_body(&plan, REPAIR_STEP_SPEC, "9");
	CHECK(b == NULL, "bodies: none from a cleared plan");
	free(b);
}

static void
test_paths(void)
{
	char out[256];

	repair_obj_path(row("HostFirmwareComponents"), "v1alpha1", "metal3", "worker-0", 1, out,
	    sizeof(out));
	CHECK_STR(out, "/apis/metal3.io/v1alpha1/namespaces/metal3/hostfirmwarecomponents/worker-0"
	    "/status", "path: status");
	repair_obj_path(row("HostFirmwareComponents"), "v1alpha1", "metal3", "worker-0", 0, out,
	    sizeof(out));
	CHECK_STR(out, "/apis/metal3.io/v1alpha1/namespaces/metal3/hostfirmwarecomponents/worker-0",
	    "path: spec");
	repair_obj_path(row("Metal3MachineTemplate"), "v1beta1", "capi", "workers", 0, out,
	    sizeof(out));
	CHECK_STR(out, "/apis/infrastructure.cluster.x-k8s.io/v1beta1/namespaces/capi/"
	    "metal3machinetemplates/workers", "path: template");
	repair_obj_path(row("Metal3Machine"), "v1beta2", "default", "m", 0, out, sizeof(out));
	CHECK_STR(out, "/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/default/"
	    "metal3machines/m", "path: machine");
	repair_obj_path(row("DataImage"), "v1alpha1", "metal3", "worker-0", 1, out, sizeof(out));
	CHECK_STR(out, "/apis/metal3.io/v1alpha1/namespaces/metal3/dataimages/worker-0/status",
	    "path: data image status");
	memset(out, 'x', sizeof(out));
	repair_obj_path(row("DataImage"), "v1alpha1", "metal3", "worker-0", 1, out, 16);
	CHECK(strlen(out) == 15 && strncmp(out, "/apis/metal3.io", 15) == 0 && out[16] == 'x',
	    "path: truncated within its buffer");
}

static void
test_meta(void)
{
	static const struct {
		const char *what, *obj, *ns, *name, *rv, *uid;
	} mc[] = {
		{ "full", "{'metadata':{'name':'n','namespace':'ns','resourceVersion':'7',"
		  "'uid':'u-1'}}", "ns", "n", "7", "u-1" },
		{ "no namespace", "{'metadata':{'name':'n','resourceVersion':'7'}}", "default", "n",
		  "7", NULL },
		{ "namespace not a string", "{'metadata':{'name':'n','namespace':5}}", "default", "n",
		  NULL, NULL },
		{ "name not a string", "{'metadata':{'name':['n'],'namespace':'x','uid':'u'}}", "x",
		  NULL, NULL, "u" },
		{ "no metadata", "{'spec':{}}", "default", NULL, NULL, NULL },
		{ "metadata not an object", "{'metadata':'n'}", "default", NULL, NULL, NULL },
		{ "not an object", "['metadata']", "default", NULL, NULL, NULL },
		{ "null metadata", "{'metadata':null}", "default", NULL, NULL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(mc) / sizeof(mc[0]); i++) {
		struct json_object *o = parse_q(mc[i].obj);
		struct repair_obj_meta m;

		memset(&m, 0x5a, sizeof(m));
		repair_obj_meta(o, &m);
		CHECK_STR(m.ns, mc[i].ns, "meta, %s: namespace", mc[i].what);
		CHECK_STR(m.name, mc[i].name, "meta, %s: name", mc[i].what);
		CHECK_STR(m.rv, mc[i].rv, "meta, %s: resourceVersion", mc[i].what);
		CHECK_STR(m.uid, mc[i].uid, "meta, %s: uid", mc[i].what);
		json_object_put(o);
	}
	{
		struct repair_obj_meta m;

		repair_obj_meta(NULL, &m);
		CHECK(m.name == NULL && m.rv == NULL && m.uid == NULL && m.ns != NULL &&
		    strcmp(m.ns, "default") == 0, "meta: no object");
	}
}

/* ---------------------------------------------------------------- malformed */

static void
test_malformed(const struct policy *p)
{
	static const struct {
		const char *what, *kind, *obj;
		enum repair_obj_host where;
		enum repair_action action;
		const char *spec_body;	/* rv "R" */
	} mc[] = {
		{ "updates not an array", "HostFirmwareComponents", "{'spec':{'updates':"
		  UPD("bios", OLDBIOS) "},'status':{'updates':[" UPD("bios", OLDBIOS) "]}}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "updates a string", "HostFirmwareComponents", "{'spec':{'updates':'" OLDBIOS "'}}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "spec an array", "HostFirmwareComponents", "{'spec':[" UPD("bios", OLDBIOS) "]}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "url not a string", "HostFirmwareComponents", "{'spec':{'updates':[{'component':"
		  "'bios','url':['" OLDBIOS "']},{'component':'bmc','url':7}]},'status':{'updates':"
		  "[{'component':'bios','url':['" OLDBIOS "']}]}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE,
		  NULL },
		{ "url null", "HostFirmwareComponents", "{'spec':{'updates':[{'component':'bios',"
		  "'url':null}]}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "entries not objects, one literal", "HostFirmwareComponents",
		  "{'metadata':{'resourceVersion':'1'},'spec':{'updates':[null,'x',5,[],{}," UPD("bios",
		  OLDBIOS) "]},'status':{'updates':[7,null," UPD("bios", PREVBIOS) "]}}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'updates':[null,'x',5,[],{}," UPD("bios", NEWBIOS) "]}") },
		{ "entry without component", "HostFirmwareComponents",
		  "{'spec':{'updates':[{'url':'" OLDBIOS "'}]},'status':{'updates':[{'url':'" OLDBIOS
		  "'}]}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'updates':[{'url':'" NEWBIOS "'}]}") },
		{ "component not a string", "HostFirmwareComponents",
		  "{'spec':{'updates':[{'component':1,'url':'" OLDBIOS "'}]},'status':{'updates':"
		  "[{'component':1,'url':'" OLDBIOS "'}]}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'updates':[{'component':1,'url':'" NEWBIOS "'}]}") },
		{ "entry without component, host unread", "HostFirmwareComponents",
		  "{'spec':{'updates':[{'url':'" OLDBIOS "'}]}}", REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE,
		  NULL },
		{ "status updates an object", "HostFirmwareComponents",
		  "{'spec':{'updates':[" UPD("bios", OLDBIOS) "]},'status':{'updates':{'bios':'"
		  OLDBIOS "'}}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'updates':[" UPD("bios", NEWBIOS) "]}") },
		{ "status a string", "HostFirmwareComponents",
		  "{'spec':{'updates':[" UPD("bios", OLDBIOS) "]},'status':'" OLDBIOS "'}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'updates':[" UPD("bios", NEWBIOS) "]}") },
		{ "empty url", "HostFirmwareComponents", "{'spec':{'updates':[" UPD("bios", "")
		  "]},'status':{'updates':[" UPD("bios", "") "]}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE,
		  NULL },
		{ "unparseable url", "HostFirmwareComponents", "{'spec':{'updates':["
		  UPD("bios", "http://[::1") "]}}", REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "deep junk", "HostFirmwareComponents", "{'spec':{'updates':[[[[[{'url':[{'url':'"
		  OLDBIOS "'}]}]]]]]},'status':{'updates':[[[" UPD("bios", OLDBIOS) "]]]}}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "machine: image an array", "Metal3Machine", "{'spec':{'image':[{'url':'" OLD "'}]}}",
		  REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE, NULL },
		{ "machine: url a number", "Metal3Machine", "{'spec':{'image':{'url':10.10}}}",
		  REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE, NULL },
		{ "machine: spec null", "Metal3Machine", "{'spec':null}", REPAIR_OBJ_HOST_UNREAD,
		  REPAIR_NONE, NULL },
		{ "machine: annotations not an object", "Metal3Machine", "{'metadata':{'annotations':"
		  "'cluster.x-k8s.io/paused'},'spec':{'image':{'url':'" OLD "'}}}",
		  REPAIR_OBJ_HOST_UNREAD, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'image':{'url':'" NEW "'}}") },
		{ "machine: metadata junk", "Metal3Machine", "{'metadata':[1,2],'spec':{'image':"
		  "{'url':'" OLD "'}}}", REPAIR_OBJ_HOST_UNREAD, REPAIR_SPEC_ONLY,
		  BODY("R", "'spec':{'image':{'url':'" NEW "'}}") },
		{ "template: template a string", "Metal3MachineTemplate",
		  "{'spec':{'template':'" OLD "'}}", REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE, NULL },
		{ "template: the machine's path", "Metal3MachineTemplate",
		  "{'spec':{'image':{'url':'" OLD "'}}}", REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE, NULL },
		{ "data image: url an object", "DataImage", "{'spec':{'url':{'url':'" OLDISO "'}}}",
		  REPAIR_OBJ_HOST_ABSENT, REPAIR_NONE, NULL },
		{ "data image: attached not a string", "DataImage", "{'spec':{'url':'" OLDISO "'},"
		  "'status':{'attachedImage':{'url':['" OLDISO "']}}}", REPAIR_OBJ_HOST_ABSENT,
		  REPAIR_SPEC_ONLY, BODY("R", DI_SPEC) },
		{ "data image: attachedImage a string", "DataImage", "{'spec':{'url':'" OLDISO "'},"
		  "'status':{'attachedImage':'" OLDISO "'}}", REPAIR_OBJ_HOST_ABSENT,
		  REPAIR_SPEC_ONLY, BODY("R", DI_SPEC) },
		{ "not an object", "DataImage", "['" OLDISO "']", REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE,
		  NULL },
		{ "a string", "HostFirmwareComponents", "'" OLDBIOS "'", REPAIR_OBJ_HOST_UNREAD,
		  REPAIR_NONE, NULL },
		{ "null", "Metal3MachineTemplate", "null", REPAIR_OBJ_HOST_UNREAD, REPAIR_NONE, NULL },
	};
	struct repair_rules rules = { p, NULL, 0 };
	size_t i;

	for (i = 0; i < sizeof(mc) / sizeof(mc[0]); i++) {
		struct json_object *obj = parse_q(mc[i].obj);
		struct repair_obj_plan plan;
		char *got, *want;

		if (!CHECK(obj != NULL || strcmp(mc[i].obj, "null") == 0,
		    "malformed, %s: parses", mc[i].what))
			continue;
		if (!CHECK(repair_obj_plan(&rules, row(mc[i].kind), obj, mc[i].where, NULL,
		    &plan) == 0, "malformed, %s: plans", mc[i].what)) {
			json_object_put(obj);
			continue;
		}
		CHECK(plan.action == mc[i].action, "malformed, %s: action %s (got %s: %s)",
		    mc[i].what, repair_action_str(mc[i].action), repair_action_str(plan.action),
		    plan.reason);
		CHECK(plan.status == NULL, "malformed, %s: no status patch", mc[i].what);
		got = repair_obj_step_body(&plan, REPAIR_STEP_SPEC, "R");
		want = mc[i].spec_body ? q(mc[i].spec_body) : NULL;
		CHECK_STR(got, want, "malformed, %s: spec body", mc[i].what);
		CHECK(plan.steps == (mc[i].action == REPAIR_SPEC_ONLY ? REPAIR_STEP_SPEC : 0u),
		    "malformed, %s: steps 0x%x", mc[i].what, plan.steps);
		free(got);
		free(want);
		repair_obj_plan_clear(&plan);
		json_object_put(obj);
	}
}

/* Under --match-cidr, a literal outside it is left alone, in lists too. */
static void
test_narrowed(void)
{
	struct policy *p = policy_new();
	struct repair_rules rules = { p, NULL, 0 };
	struct json_object *obj;
	struct repair_obj_plan plan;
	char err[256], *b, *want;

	if (!CHECK(p != NULL && policy_add_cidr(p, "10.10.10.0/24", err, sizeof(err)) == 0,
	    "narrowed: policy"))
		goto out;
	obj = parse_q(HFC(OLDBIOS, "http://192.0.2.7/firmware/bmc-5.0.bin",
	    ST3(OLDBIOS, "http://192.0.2.7/firmware/bmc-5.0.bin")));
	if (CHECK(repair_obj_plan(&rules, row("HostFirmwareComponents"), obj,
	    REPAIR_OBJ_HOST_ABSENT, NULL, &plan) == 0, "narrowed: plans")) {
		CHECK(plan.action == REPAIR_FULL, "narrowed: bios repaired (got %s)",
		    repair_action_str(plan.action));
		b = repair_obj_step_body(&plan, REPAIR_STEP_STATUS, "R");
		want = q(BODY("R", HFC_STATUS(NEWBIOS, "http://192.0.2.7/firmware/bmc-5.0.bin")));
		CHECK_STR(b, want, "narrowed: bmc outside the cidr kept in status");
		free(b);
		free(want);
		repair_obj_plan_clear(&plan);
	}
	json_object_put(obj);
	obj = parse_q(M3M("", "http://192.0.2.7/images/x.qcow2", HEXSUM));
	if (CHECK(repair_obj_plan(&rules, row("Metal3Machine"), obj, REPAIR_OBJ_HOST_UNREAD, NULL,
	    &plan) == 0, "narrowed: plans a machine"))
		CHECK(plan.action == REPAIR_NONE && plan.spec == NULL,
		    "narrowed: machine outside the cidr untouched (got %s)",
		    repair_action_str(plan.action));
	repair_obj_plan_clear(&plan);
	json_object_put(obj);
out:
	policy_free(p);
}

/* A host in operational status servicing is applying firmware: nothing written beside it; a
 * pause put on after this run wrote the status (adopt) is worked under. */
static void
test_servicing_adopt(const struct policy *p)
{
	static const char host_servicing[] = "{\"metadata\":{\"name\":\"worker-0\","
	    "\"namespace\":\"metal3\",\"resourceVersion\":\"1\"},\"status\":{"
	    "\"operationalStatus\":\"servicing\",\"provisioning\":{\"state\":\"provisioned\"}}}";
	static const char host_capm3[] = "{\"metadata\":{\"name\":\"worker-0\","
	    "\"namespace\":\"metal3\",\"resourceVersion\":\"1\",\"annotations\":{"
	    "\"baremetalhost.metal3.io/paused\":\"metal3.io/capm3\"}},\"status\":{"
	    "\"provisioning\":{\"state\":\"available\"}}}";
	struct repair_rules rules = { p, NULL, 0 };
	struct json_object *half = parse_q(HFC(OLDBIOS, NEWBMC, ST3(NEWBIOS, NEWBMC)));
	struct repair_host h;
	struct repair_obj_plan plan;
	char err[256];

	if (CHECK(repair_host_parse(host_servicing, &h, err, sizeof(err)) == 0, "servicing host")) {
		CHECK(repair_obj_plan(&rules, row("HostFirmwareComponents"), half,
		    REPAIR_OBJ_HOST_READ, &h, &plan) == 0 && plan.action == REPAIR_LEAVE &&
		    plan.leave == REPAIR_OUT_SKIPPED && plan.steps == 0 &&
		    strstr(plan.reason, "servicing") != NULL,
		    "host servicing: firmware left alone, skipped (%s)", plan.reason);
		repair_obj_plan_clear(&plan);
		struct json_object *di = parse_q(DI(""));

		CHECK(repair_obj_plan(&rules, row("DataImage"), di, REPAIR_OBJ_HOST_READ, &h,
		    &plan) == 0 && plan.action == REPAIR_LEAVE && plan.leave == REPAIR_OUT_SKIPPED,
		    "host servicing: data image left alone");
		repair_obj_plan_clear(&plan);
		json_object_put(di);
		repair_host_clear(&h);
	}
	if (CHECK(repair_host_parse(host_capm3, &h, err, sizeof(err)) == 0, "capm3 host")) {
		CHECK(repair_obj_plan(&rules, row("HostFirmwareComponents"), half,
		    REPAIR_OBJ_HOST_READ, &h, &plan) == 0 && plan.action == REPAIR_LEAVE &&
		    plan.leave == REPAIR_OUT_NEEDS_HUMAN, "half done under CAPM3's pause: needs-human");
		repair_obj_plan_clear(&plan);
		CHECK(repair_obj_plan_adopt(&rules, row("HostFirmwareComponents"), half,
		    REPAIR_OBJ_HOST_READ, &h, &plan) == 0 && plan.action == REPAIR_SPEC_ONLY &&
		    (plan.steps & (REPAIR_STEP_PAUSE | REPAIR_STEP_UNPAUSE)) == 0 &&
		    (plan.steps & REPAIR_STEP_SPEC) && plan.under_other_pause,
		    "adopting: the spec finished under the pause put on mid-repair, which stays");
		repair_obj_plan_clear(&plan);
		repair_host_clear(&h);
	}
	json_object_put(half);
}

int
main(void)
{
	struct policy *p = policy_new();

	if (!CHECK(p != NULL, "policy"))
		return 1;
	test_cases(p);
	test_half_done(p);
	test_bodies(p);
	test_paths();
	test_meta();
	test_malformed(p);
	test_narrowed();
	test_servicing_adopt(p);
	policy_free(p);
	return CHECK_DONE();
}
