/* test_kevent.c - the events.k8s.io/v1 Event body: fields the API server requires, and its limits. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "check.h"
#include "kevent.h"

static const char *
field(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b != NULL && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

int
main(void)
{
	char note[3000], name[300];
	struct kevent e = {
		.api_version = "metal3.io/v1alpha1", .kind = "BareMetalHost", .ns = "metal3",
		.name = "master-2", .regarding_uid = "u-1", .regarding_rv = "4711",
		.instance = "bmhguard-repair-29xk1", .action = "Repair", .reason = "Repaired",
		.type = "Normal", .note = "bmhguard repair: repaired",
		.now_us = 1796061919123456LL,	/* 2026-11-30T18:05:19.123456Z */
	};
	struct json_object *o;
	char *b, path[128];
	size_t i;

	b = kevent_body(&e);
	o = b ? json_tokener_parse(b) : NULL;
	if (!CHECK(o != NULL, "the body is JSON: %s", b ? b : "(null)"))
		return 1;
	CHECK_STR(field(o, "apiVersion", NULL), "events.k8s.io/v1", "apiVersion");
	CHECK_STR(field(o, "kind", NULL), "Event", "kind");
	CHECK_STR(field(o, "eventTime", NULL), "2026-11-30T18:05:19.123456Z",
	    "eventTime is a MicroTime (6 fractional digits, UTC)");
	CHECK_STR(field(o, "metadata", "namespace"), "metal3", "in the host's namespace");
	CHECK_STR(field(o, "metadata", "name"), "master-2.18ece4ccabf5c000",
	    "named <host>.<nanoseconds in hex>, as client-go names them");
	CHECK_STR(field(o, "reportingController", NULL), "bmhguard", "reportingController");
	CHECK_STR(field(o, "reportingInstance", NULL), "bmhguard-repair-29xk1", "reportingInstance");
	CHECK_STR(field(o, "regarding", "kind"), "BareMetalHost", "regarding kind");
	CHECK_STR(field(o, "regarding", "uid"), "u-1", "regarding uid");
	CHECK_STR(field(o, "regarding", "resourceVersion"), "4711", "regarding resourceVersion");
	CHECK_STR(field(o, "regarding", "namespace"), "metal3", "regarding namespace");
	CHECK_STR(field(o, "reason", NULL), "Repaired", "reason");
	CHECK_STR(field(o, "type", NULL), "Normal", "type");
	json_object_put(o);
	free(b);

	/* a note over 1 KiB is cut on a UTF-8 boundary; a long host name still gives a valid name */
	for (i = 0; i + 2 < sizeof(note); i += 2)
		memcpy(note + i, "\xc3\xa9", 2);	/* é */
	note[i] = '\0';
	memset(name, 'a', 253);
	name[253] = '\0';
	e.note = note;
	e.name = name;
	e.regarding_uid = NULL;
	b = kevent_body(&e);
	o = b ? json_tokener_parse(b) : NULL;
	if (CHECK(o != NULL, "long note and name: JSON")) {
		const char *n = field(o, "note", NULL), *m = field(o, "metadata", "name");

		CHECK(n != NULL && strlen(n) <= KEVENT_NOTE_MAX && strlen(n) >= KEVENT_NOTE_MAX - 1 &&
		    ((unsigned char)n[strlen(n) - 1] & 0xC0) == 0x80, "note cut to 1024 bytes, "
		    "whole characters (%zu)", n ? strlen(n) : 0);
		CHECK(m != NULL && strlen(m) <= 253, "name within 253 bytes (%zu)", m ? strlen(m) : 0);
		CHECK(field(o, "regarding", "uid") == NULL, "no uid when unknown");
		CHECK_STR(field(o, "regarding", "name"), name, "regarding keeps the whole host name");
	}
	json_object_put(o);
	free(b);
	kevent_path("metal3", path, sizeof(path));
	CHECK_STR(path, "/apis/events.k8s.io/v1/namespaces/metal3/events", "collection path");
	return CHECK_DONE();
}
