/* kevent.h - an events.k8s.io/v1 Event about one object, as the JSON body of its create request. */
#ifndef BMHGUARD_KEVENT_H
#define BMHGUARD_KEVENT_H

#include <stddef.h>

/* Limits the API server enforces on an Event (longer values are cut, on a UTF-8 boundary). */
#define KEVENT_NOTE_MAX 1024
#define KEVENT_FIELD_MAX 128
#define KEVENT_CONTROLLER "bmhguard"

/* All strings borrowed. regarding_uid and regarding_rv may be NULL. */
struct kevent {
	const char *api_version, *kind;		/* of the object the event is about */
	const char *ns, *name, *regarding_uid, *regarding_rv;
	const char *instance;	/* reportingInstance: who in the controller (the pod's name) */
	const char *action;	/* what was done or tried, e.g. "Repair" */
	const char *reason;	/* why, CamelCase, e.g. "Repaired" */
	const char *type;	/* "Normal" or "Warning" */
	const char *note;	/* one human-readable line */
	long long now_us;	/* eventTime, microseconds since the epoch */
};

/* The request body (malloc'd, caller frees) for POST /apis/events.k8s.io/v1/namespaces/NS/events,
 * named "<name>.<now in hex>" as client-go's recorder names events. NULL on allocation failure. */
char *kevent_body(const struct kevent *e);

/* The collection path for e->ns, into out. */
void kevent_path(const char *ns, char *out, size_t outlen);

/* Microseconds since the epoch, for now_us. */
long long kevent_now_us(void);

#endif
