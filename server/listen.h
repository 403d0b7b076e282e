/* listen.h - open a listening TCP socket from an "ADDR:PORT" flag value. */
#ifndef BMHGUARD_LISTEN_H
#define BMHGUARD_LISTEN_H

#include <stddef.h>

/* spec is "[ADDR]:PORT", "ADDR:PORT" or ":PORT" (every address, IPv6 dual-stack when the host
 * has IPv6, else IPv4). On success *fd is a listening, close-on-exec socket the caller owns and
 * *port the port actually bound (useful with port 0). On failure returns -1 with one line in err. */
int listen_open(const char *spec, int *fd, unsigned *port, char *err, size_t errlen);

#endif
