/* deadline.h - close connections whose request is not in by its deadline, however slowly it trickles. */
#ifndef BMHGUARD_DEADLINE_H
#define BMHGUARD_DEADLINE_H

#include <stddef.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

/*
 * Why: libmicrohttpd's connection timeout is an idle timer that restarts on every byte, so a
 * client sending one byte a second holds a connection (and with enough of them every slot) for
 * ever; with failurePolicy Ignore a starved webhook lets writes through unreviewed. 0.9.75 has no
 * per-request deadline, and MHD_set_connection_option(MHD_CONNECTION_OPTION_TIMEOUT) is an idle
 * timer too, settable only from the connection's own thread, which trickled headers never reach.
 * So a tracker notes when each connection must have delivered its request (through
 * MHD_OPTION_NOTIFY_CONNECTION), and a thread of its own shuts down, with shutdown(2), the
 * sockets that are late: the worker then sees end of input and closes the connection through
 * libmicrohttpd's ordinary path. libmicrohttpd reports a connection closed before it closes its
 * descriptor, and the tracker holds its lock across both, so it never shuts a reused descriptor.
 */
struct deadline;

/* A tracker for one daemon: port names it in the metric and logs ("webhook", "plain"); a request
 * must be in within request_ms of its connection's start, and within idle_ms of the previous
 * response on a kept-alive connection (and, once its request line is in, request_ms of that).
 * log and metrics are borrowed and must outlive it. Returns 0 and *out, or -1 with err. */
int deadline_new(const char *port, unsigned request_ms, unsigned idle_ms, const struct logger *log,
    struct metrics *metrics, struct deadline **out, char *err, size_t errlen);

/* MHD_NotifyConnectionCallback with a struct deadline * as cls. */
void deadline_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);

/* Called from the connection's worker. A request line has arrived: the rest of the request is due
 * within request_ms (never later than already due). */
void deadline_request_started(struct MHD_Connection *c);
/* The whole request is in: nothing is due while it is answered. */
void deadline_request_complete(struct MHD_Connection *c);
/* The response is sent: on a kept-alive connection the next request is due within idle_ms. */
void deadline_response_done(struct MHD_Connection *c);

/* Stop the thread and release. Only after the daemon has stopped. NULL is harmless. */
void deadline_free(struct deadline *d);

#endif
