/* acceptor.h - accept TLS clients on our own thread and spread them over libmicrohttpd's workers. */
#ifndef BMHGUARD_ACCEPTOR_H
#define BMHGUARD_ACCEPTOR_H

#include <stddef.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

/*
 * Why: when libmicrohttpd's thread pool shares one listening socket, the worker that wakes first
 * accepts the whole burst, so keep-alive connections opened together all end up on one thread
 * while the others idle. Handed over with MHD_add_connection, each connection goes to the worker
 * its descriptor number picks (libmicrohttpd's own balancing). At the connection limit the
 * acceptor stops accepting, so further clients wait in the kernel's backlog, as they would with
 * libmicrohttpd's own listening socket, instead of being closed.
 */
struct acceptor;

/* Start accepting on the listening socket fd (taken over: closed by acceptor_stop) into daemon,
 * which must run with MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC, and must report closed
 * connections through acceptor_notify (MHD_OPTION_NOTIFY_CONNECTION with *a as its closure; the
 * daemon may start before the acceptor exists, so the closure is a pointer to where it will be).
 * At most max_connections are open at once, and at most max_per_peer from one address (0: no
 * limit of its own); a client past that is closed at once. accept(2) failing for want of descriptors or memory
 * is counted in metrics and logged (at most once a minute); log and metrics are borrowed.
 * Returns 0 and *out (owned), or -1 with one line in
 * err; fd is closed then too. */
int acceptor_start(int fd, struct MHD_Daemon *daemon, unsigned max_connections,
    unsigned max_per_peer, const struct logger *log, struct metrics *metrics, struct acceptor **out, char *err,
    size_t errlen);

/* MHD_NotifyConnectionCallback: cls is a struct acceptor ** (see acceptor_start). */
void acceptor_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);

/* Stop accepting: the thread ends and the listening socket is closed, so new clients are refused
 * by the kernel while the daemon finishes what it has. Idempotent; NULL is harmless. */
void acceptor_stop(struct acceptor *a);

/* Release a, stopping it first if need be. Only after the daemon has stopped: until then its
 * workers may still report closed connections to it. NULL is harmless. */
void acceptor_free(struct acceptor *a);

#endif
