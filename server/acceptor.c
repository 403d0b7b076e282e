/* acceptor.c - accept TLS clients on our own thread and spread them over libmicrohttpd's workers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "acceptor.h"

/* Out of descriptors: wait this long before accepting again rather than spin on the error. */
#define ACCEPT_BACKOFF_MS 50
/* Buckets of the per-address counts: addresses with a connection open, at most max of them. */
#define PEER_BUCKETS 1024

/* Connections open from one address. */
struct peer {
	struct peer *next;
	unsigned char addr[16];	/* IPv4 in the first 4 bytes, or IPv6 */
	int family;
	unsigned long n;
};

/* Out of descriptors is logged at most this often; the metric counts every time. */
#define ACCEPT_LOG_EVERY_S 60

struct acceptor {
	int fd;			/* the listening socket, non-blocking */
	int wake[2];		/* a pipe: a byte on wake[1] wakes the thread (stop, or room again) */
	struct MHD_Daemon *daemon;
	const struct logger *log;
	struct metrics *metrics;
	time_t logged;		/* when an accept error was last logged; the thread's alone */
	pthread_t thread;
	long max;
	unsigned long max_per_peer;
	atomic_long open;	/* connections handed over and not yet closed */
	pthread_mutex_t peers_lock;	/* the acceptor thread adds, the workers' notifications remove */
	struct peer *peers[PEER_BUCKETS];
	atomic_int stopping;
};

static void
wake(struct acceptor *a)
{
	while (write(a->wake[1], "x", 1) < 0 && errno == EINTR)
		;
}

/* The address part of sa as a key; 0 when it is neither IPv4 nor IPv6. */
static int
peer_key(const struct sockaddr *sa, unsigned char addr[16], int *family, unsigned *bucket)
{
	size_t n, i;
	unsigned h = 2166136261u;

	memset(addr, 0, 16);
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, n = 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, n = 16);
	} else {
		return 0;
	}
	*family = sa->sa_family;
	for (i = 0; i < n; i++)
		h = (h ^ addr[i]) * 16777619u;
	*bucket = h % PEER_BUCKETS;
	return 1;
}

/* Count one more connection from sa; 0 when that address already has max_per_peer. */
static int
peer_add(struct acceptor *a, const struct sockaddr *sa)
{
	unsigned char addr[16];
	unsigned b;
	int family, ok = 1;
	struct peer *p;

	if (!peer_key(sa, addr, &family, &b))
		return 1;
	pthread_mutex_lock(&a->peers_lock);
	for (p = a->peers[b]; p != NULL; p = p->next)
		if (p->family == family && memcmp(p->addr, addr, 16) == 0)
			break;
	if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
		memcpy(p->addr, addr, 16);
		p->family = family;
		p->next = a->peers[b];
		a->peers[b] = p;
	}
	if (p != NULL && p->n >= a->max_per_peer)
		ok = 0;
	else if (p != NULL)
		p->n++;
	pthread_mutex_unlock(&a->peers_lock);
	return ok;
}

static void
peer_del(struct acceptor *a, const struct sockaddr *sa)
{
	unsigned char addr[16];
	unsigned b;
	int family;
	struct peer **pp, *p;

	if (!peer_key(sa, addr, &family, &b))
		return;
	pthread_mutex_lock(&a->peers_lock);
	for (pp = &a->peers[b]; (p = *pp) != NULL; pp = &p->next)
		if (p->family == family && memcmp(p->addr, addr, 16) == 0)
			break;
	if (p != NULL && p->n > 0 && --p->n == 0) {
		*pp = p->next;
		free(p);
	}
	pthread_mutex_unlock(&a->peers_lock);
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
		/* one address past its share: refused at once, so it never waits for a slot
		 * behind the others, nor they behind it */
		if (!peer_add(a, (struct sockaddr *)&addr)) {
			close(c);
			continue;
		}
		/* counted before the handover: the daemon may close it before we run again */
		atomic_fetch_add(&a->open, 1);
		/* MHD owns c from here, and closes it itself (saying why in its error log) when it
		 * cannot take it */
		if (MHD_add_connection(a->daemon, c, (struct sockaddr *)&addr, len) != MHD_YES) {
			atomic_fetch_sub(&a->open, 1);
			peer_del(a, (struct sockaddr *)&addr);
		}
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
		if (p[1].revents != 0 && accept_pending(a) < 0) {
			int e = errno;

			metrics_accept_error(a->metrics);
			if (time(NULL) - a->logged >= ACCEPT_LOG_EVERY_S) {
				a->logged = time(NULL);
				log_simple(a->log, LOG_LEVEL_ERROR, "cannot accept webhook connections; "
				    "they wait in the backlog (raise RLIMIT_NOFILE or lower "
				    "--max-connections)", "error", strerror(e));
			}
			poll(NULL, 0, ACCEPT_BACKOFF_MS);
		}
	}
	return NULL;
}

void
acceptor_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct acceptor *a = *(struct acceptor **)cls;
	const union MHD_ConnectionInfo *ci;

	(void)socket_context;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || a == NULL)
		return;
	/* before libmicrohttpd's own count of the connection goes: the acceptor's stays exact */
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	peer_del(a, ci != NULL ? ci->client_addr : NULL);
	if (atomic_fetch_sub(&a->open, 1) == a->max)
		wake(a);	/* room again: watch the listening socket */
}

int
acceptor_start(int fd, struct MHD_Daemon *daemon, unsigned max_connections,
    unsigned max_per_peer, const struct logger *log, struct metrics *metrics, struct acceptor **out, char *err,
    size_t errlen)
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
	a->log = log;
	a->metrics = metrics;
	a->max = max_connections > 0 ? (long)max_connections : 1;
	a->max_per_peer = max_per_peer > 0 ? max_per_peer : (unsigned long)a->max;
	pthread_mutex_init(&a->peers_lock, NULL);
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
	pthread_mutex_destroy(&a->peers_lock);
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
	struct peer *p, *next;
	size_t b;

	if (a == NULL)
		return;
	acceptor_stop(a);
	close(a->wake[0]);
	close(a->wake[1]);
	for (b = 0; b < PEER_BUCKETS; b++)
		for (p = a->peers[b]; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
	pthread_mutex_destroy(&a->peers_lock);
	free(a);
}
