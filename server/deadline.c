/* deadline.c - close connections whose request is not in by its deadline, however slowly it trickles. */
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "deadline.h"

/* Peers whose closed connections were logged lately: each is logged at most once a LOG_EVERY_MS,
 * with how many closes of its went unlogged since. */
#define LOG_PEERS 64
#define LOG_EVERY_MS 60000LL
/* Peers a sweep remembers for logging; closes beyond it are counted, not logged. */
#define LATE_MAX 128

/* One connection of the daemon, from its start to its close. */
struct conn {
	struct conn *prev, *next;
	struct deadline *owner;
	int fd;
	atomic_llong due_ms;	/* monotonic ms by which the request must be in; 0: nothing due */
	char peer[INET6_ADDRSTRLEN];
};

struct peer_log {
	char peer[INET6_ADDRSTRLEN];
	long long last_ms;	/* 0: slot free */
	unsigned long unlogged;
};

struct deadline {
	const char *port;
	int plain;
	long long request_ms, idle_ms;
	const struct logger *log;
	struct metrics *metrics;
	pthread_mutex_t lock;	/* the list; held across a shutdown(2) so a close waits for it */
	struct conn *head;
	pthread_t thread;
	int wake[2];		/* a byte on wake[1] stops the thread */
	struct peer_log logged[LOG_PEERS];	/* the sweeper thread's alone */
	char late[LATE_MAX][INET6_ADDRSTRLEN];	/* the sweeper's: peers to log after a sweep */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void
peer_string(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, len, "unknown");
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		    (socklen_t)len);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
		    (socklen_t)len);
}

void
deadline_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct deadline *d = cls;
	struct conn *k = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return;	/* untracked: only libmicrohttpd's idle timer applies to it */
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k->fd = ci != NULL ? ci->connect_fd : -1;
		k->owner = d;
		atomic_store(&k->due_ms, now_ms() + d->request_ms);
		peer_string(c, k->peer, sizeof(k->peer));
		pthread_mutex_lock(&d->lock);
		k->next = d->head;
		if (d->head != NULL)
			d->head->prev = k;
		d->head = k;
		pthread_mutex_unlock(&d->lock);
		*socket_context = k;
		return;
	}
	if (k == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		d->head = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	pthread_mutex_unlock(&d->lock);
	free(k);
	*socket_context = NULL;
}

void
deadline_request_started(struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);
	long long due, cur;

	if (k == NULL)
		return;
	due = now_ms() + k->owner->request_ms;
	cur = atomic_load(&k->due_ms);
	if (cur == 0 || due < cur)
		atomic_store(&k->due_ms, due);
}

void
deadline_request_complete(struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k != NULL)
		atomic_store(&k->due_ms, 0);
}

void
deadline_response_done(struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k != NULL)
		atomic_store(&k->due_ms, now_ms() + k->owner->idle_ms);
}

/* Log a peer's closed connection unless it was logged within LOG_EVERY_MS. */
static void
log_peer(struct deadline *d, const char *peer, long long now)
{
	struct peer_log *p = NULL, *oldest = &d->logged[0];
	char count[32], limit[32];
	size_t i;

	for (i = 0; i < LOG_PEERS && p == NULL; i++) {
		if (d->logged[i].last_ms != 0 && strcmp(d->logged[i].peer, peer) == 0)
			p = &d->logged[i];
		else if (d->logged[i].last_ms < oldest->last_ms)
			oldest = &d->logged[i];
	}
	if (p != NULL && now - p->last_ms < LOG_EVERY_MS) {
		p->unlogged++;
		return;
	}
	if (p == NULL) {
		p = oldest;
		snprintf(p->peer, sizeof(p->peer), "%s", peer);
		p->unlogged = 0;
	}
	snprintf(count, sizeof(count), "%lu", p->unlogged);
	snprintf(limit, sizeof(limit), "%lld", d->request_ms);
	{
		const char *fields[] = { "peer", peer, "port", d->port, "deadline_ms", limit,
			"unlogged_since_last", count };

		log_strings(d->log, LOG_LEVEL_WARN, "request not complete by its deadline; "
		    "connection closed (further closes of this peer logged once a minute)", fields,
		    sizeof(fields) / sizeof(fields[0]) / 2);
	}
	p->last_ms = now;
	p->unlogged = 0;
}

/* Shut down every late connection. Returns how many; the first LATE_MAX peers go to d->late,
 * logged after the lock is released. */
static size_t
sweep(struct deadline *d)
{
	long long now = now_ms(), due;
	size_t n = 0;
	struct conn *k;

	pthread_mutex_lock(&d->lock);
	for (k = d->head; k != NULL; k = k->next) {
		due = atomic_load(&k->due_ms);
		if (due == 0 || due > now || k->fd < 0)
			continue;
		/* once: the worker closes it on its next wake-up, which this causes */
		atomic_store(&k->due_ms, 0);
		shutdown(k->fd, SHUT_RDWR);
		metrics_deadline_exceeded(d->metrics, d->plain);
		if (n < LATE_MAX)
			memcpy(d->late[n], k->peer, sizeof(d->late[n]));
		n++;
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void *
sweep_loop(void *arg)
{
	struct deadline *d = arg;
	struct pollfd p;
	/* a quarter of the shortest deadline, so none is overrun by more than that */
	int tick = (int)((d->request_ms < d->idle_ms ? d->request_ms : d->idle_ms) / 4);
	size_t i, n;

	if (tick < 50)
		tick = 50;
	if (tick > 1000)
		tick = 1000;
	for (;;) {
		p = (struct pollfd){ d->wake[0], POLLIN, 0 };
		if (poll(&p, 1, tick) < 0 && errno != EINTR)
			break;
		if (p.revents != 0)
			break;
		n = sweep(d);
		for (i = 0; i < n && i < LATE_MAX; i++)
			log_peer(d, d->late[i], now_ms());
	}
	return NULL;
}

int
deadline_new(const char *port, unsigned request_ms, unsigned idle_ms, const struct logger *log,
    struct metrics *metrics, struct deadline **out, char *err, size_t errlen)
{
	struct deadline *d;
	int rc;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->port = port;
	d->plain = strcmp(port, "plain") == 0;
	d->request_ms = request_ms > 0 ? request_ms : 1;
	d->idle_ms = idle_ms > 0 ? idle_ms : 1;
	d->log = log;
	d->metrics = metrics;
	pthread_mutex_init(&d->lock, NULL);
	if (pipe2(d->wake, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot set up the request deadlines: %s", strerror(errno));
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -1;
	}
	if ((rc = pthread_create(&d->thread, NULL, sweep_loop, d)) != 0) {
		snprintf(err, errlen, "cannot start the request deadline thread: %s", strerror(rc));
		close(d->wake[0]);
		close(d->wake[1]);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void
deadline_free(struct deadline *d)
{
	struct conn *k, *next;

	if (d == NULL)
		return;
	while (write(d->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(d->thread, NULL);
	close(d->wake[0]);
	close(d->wake[1]);
	for (k = d->head; k != NULL; k = next) {
		next = k->next;
		free(k);
	}
	pthread_mutex_destroy(&d->lock);
	free(d);
}
