/* listen.c - open a listening TCP socket from an "ADDR:PORT" flag value. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "listen.h"

/* "[ADDR]:PORT" / "ADDR:PORT" / ":PORT" -> host (empty for every address) and port. */
static int
split_hostport(const char *spec, char *host, size_t hostlen, const char **port, char *err, size_t errlen)
{
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t hl;

	if (colon == NULL || colon[1] == '\0') {
		snprintf(err, errlen, "listen address '%s': want ADDR:PORT or :PORT", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		h = spec + 1;
		hl -= 2;
	}
	if (hl >= hostlen) {
		snprintf(err, errlen, "listen address '%s': host too long", spec);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = colon + 1;
	return 0;
}

/* A socket bound and listening on ai; -1 with errno set on failure. */
static int
bind_listen(const struct addrinfo *ai, int dual_stack)
{
	int fd, one = 1, zero = 0, saved;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (dual_stack)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static unsigned
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
}

int
listen_open(const char *spec, int *fd, unsigned *port, char *err, size_t errlen)
{
	char host[256];
	const char *service;
	struct addrinfo hints, *ai = NULL;
	int r, every;

	*fd = -1;
	if (split_hostport(spec, host, sizeof(host), &service, err, errlen) < 0)
		return -1;
	every = host[0] == '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_family = every ? AF_INET6 : AF_UNSPEC;
	r = getaddrinfo(every ? NULL : host, service, &hints, &ai);
	if (r == 0)
		*fd = bind_listen(ai, every);
	if (every && (r != 0 || (*fd < 0 && errno == EAFNOSUPPORT))) {
		/* No IPv6 on this host: every IPv4 address instead. */
		if (ai != NULL)
			freeaddrinfo(ai);
		ai = NULL;
		hints.ai_family = AF_INET;
		if ((r = getaddrinfo(NULL, service, &hints, &ai)) == 0)
			*fd = bind_listen(ai, 0);
	}
	if (r != 0) {
		snprintf(err, errlen, "listen address '%s': %s", spec, gai_strerror(r));
		return -1;
	}
	if (*fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	*port = bound_port(*fd);
	return 0;
}
