/* acceptor.c - accept TLS clients on our own thread and spread them over libmicrohttpd's workers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "acceptor.h"

/* Out of descriptors: wait this long before accepting again rather than spin on the error. */
#define ACCEPT_BACKOFF_MS 50

struct acceptor {
	int fd;			/* the listening socket, non-blocking */
	int wake[2];		/* a pipe: a byte on wake[1] wakes the thread (stop, or room again) */
	struct MHD_Daemon *daemon;
	pthread_t thread;
	long max;
	atomic_long open;	/* connections handed over and not yet closed */
	atomic_int stopping;
};

static void
wake(struct acceptor *a)
{
	while (write(a->wake[1], "x", 1) < 0 && errno == EINTR)
		;
}

/* Accept clients waiting now, while there is room. Returns 0, or -1 after an error worth a
 * pause (out of descriptors or memory). */
static int
accept_pending(struct acceptor *a)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int c;

	while (atomic_load(&a->open) < a->max) {
		len = sizeof(addr);
		c = accept4(a->fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			return -1;
		}
		/* counted before the handover: the daemon may close it before we run again */
		atomic_fetch_add(&a->open, 1);
		/* MHD owns c from here, and closes it itself (saying why in its error log) when it
		 * cannot take it */
		if (MHD_add_connection(a->daemon, c, (struct sockaddr *)&addr, len) != MHD_YES)
			atomic_fetch_sub(&a->open, 1);
	}
	return 0;
}

static void *
accept_loop(void *arg)
{
	struct acceptor *a = arg;
	struct pollfd p[2];
	char drain[64];

	while (!atomic_load(&a->stopping)) {
		p[0] = (struct pollfd){ a->wake[0], POLLIN, 0 };
		/* at the limit only the pipe is watched: clients queue in the backlog meanwhile */
		p[1] = (struct pollfd){ atomic_load(&a->open) < a->max ? a->fd : -1, POLLIN, 0 };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents != 0 && read(a->wake[0], drain, sizeof(drain)) < 0 && errno != EAGAIN)
			break;
		if (p[1].revents != 0 && accept_pending(a) < 0)
			poll(NULL, 0, ACCEPT_BACKOFF_MS);
	}
	return NULL;
}

void
acceptor_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct acceptor *a = *(struct acceptor **)cls;

	(void)c;
	(void)socket_context;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || a == NULL)
		return;
	if (atomic_fetch_sub(&a->open, 1) == a->max)
		wake(a);	/* room again: watch the listening socket */
}

int
acceptor_start(int fd, struct MHD_Daemon *daemon, unsigned max_connections,
    struct acceptor **out, char *err, size_t errlen)
{
	struct acceptor *a;
	int flags, rc;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	a->fd = fd;
	a->daemon = daemon;
	a->max = max_connections > 0 ? (long)max_connections : 1;
	a->wake[0] = a->wake[1] = -1;
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "cannot set up the acceptor: %s", strerror(errno));
		goto fail;
	}
	/* published before the thread starts: connections it hands over report back through it */
	*out = a;
	if ((rc = pthread_create(&a->thread, NULL, accept_loop, a)) != 0) {
		*out = NULL;
		snprintf(err, errlen, "cannot start the acceptor thread: %s", strerror(rc));
		goto fail;
	}
	return 0;
fail:
	if (a->wake[0] >= 0) {
		close(a->wake[0]);
		close(a->wake[1]);
	}
	close(fd);
	free(a);
	return -1;
}

void
acceptor_stop(struct acceptor *a)
{
	if (a == NULL || a->fd < 0)
		return;
	atomic_store(&a->stopping, 1);
	wake(a);
	pthread_join(a->thread, NULL);
	close(a->fd);
	a->fd = -1;
}

void
acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	acceptor_stop(a);
	close(a->wake[0]);
	close(a->wake[1]);
	free(a);
}
