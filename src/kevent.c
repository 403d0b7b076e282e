/* kevent.c - an events.k8s.io/v1 Event about one object, as the JSON body of its create request. */
#include "kevent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

/* Object names are DNS subdomains of at most 253 bytes: leave room for ".<16 hex digits>". */
#define NAME_PREFIX_MAX (253 - 17)

/* s cut to at most max bytes without splitting a UTF-8 sequence. Owned by the caller. */
static struct json_object *
cut_string(const char *s, size_t max)
{
	size_t n = strlen(s ? s : "");

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return json_object_new_string_len(s ? s : "", (int)n);
}

void
kevent_path(const char *ns, char *out, size_t outlen)
{
	snprintf(out, outlen, "/apis/events.k8s.io/v1/namespaces/%s/events", ns);
}

long long
kevent_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

char *
kevent_body(const struct kevent *e)
{
	struct json_object *o = json_object_new_object(), *md, *reg;
	char name[256], when[64];
	time_t secs = (time_t)(e->now_us / 1000000LL);
	struct tm tm;
	char *s;
	size_t n;

	if (o == NULL)
		return NULL;
	n = strlen(e->name);
	snprintf(name, sizeof(name), "%.*s.%llx", (int)(n > NAME_PREFIX_MAX ? NAME_PREFIX_MAX : n),
	    e->name, (unsigned long long)e->now_us * 1000ULL);
	gmtime_r(&secs, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%06lldZ", e->now_us % 1000000LL);

	json_object_object_add(o, "apiVersion", json_object_new_string("events.k8s.io/v1"));
	json_object_object_add(o, "kind", json_object_new_string("Event"));
	md = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string(name));
	json_object_object_add(md, "namespace", json_object_new_string(e->ns));
	json_object_object_add(o, "metadata", md);
	json_object_object_add(o, "eventTime", json_object_new_string(when));
	json_object_object_add(o, "reportingController", json_object_new_string(KEVENT_CONTROLLER));
	json_object_object_add(o, "reportingInstance", cut_string(e->instance, KEVENT_FIELD_MAX));
	json_object_object_add(o, "action", cut_string(e->action, KEVENT_FIELD_MAX));
	json_object_object_add(o, "reason", cut_string(e->reason, KEVENT_FIELD_MAX));
	json_object_object_add(o, "type", json_object_new_string(e->type));
	json_object_object_add(o, "note", cut_string(e->note, KEVENT_NOTE_MAX));
	reg = json_object_new_object();
	json_object_object_add(reg, "apiVersion", json_object_new_string(e->api_version));
	json_object_object_add(reg, "kind", json_object_new_string(e->kind));
	json_object_object_add(reg, "namespace", json_object_new_string(e->ns));
	json_object_object_add(reg, "name", json_object_new_string(e->name));
	if (e->regarding_uid != NULL)
		json_object_object_add(reg, "uid", json_object_new_string(e->regarding_uid));
	if (e->regarding_rv != NULL)
		json_object_object_add(reg, "resourceVersion",
		    json_object_new_string(e->regarding_rv));
	json_object_object_add(o, "regarding", reg);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}
