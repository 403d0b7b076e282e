/* discovery.h - which versions of a kind the API server serves, asked once per group version (GET /apis/GROUP/VERSION). */
#ifndef BMHGUARD_DISCOVERY_H
#define BMHGUARD_DISCOVERY_H

#include <stddef.h>

#include "kinds.h"
#include "kube.h"

/* The group versions read so far, each read once. Opaque; owned by the caller. */
struct discovery;

struct discovery *discovery_new(void);
void discovery_free(struct discovery *dc);

/* *version: the first of k->versions the server serves k's plural in (borrowed from k), NULL
 * when none (404, or not listed). Returns 0, or -1 with err when asking failed otherwise. */
int discovery_version(struct discovery *dc, struct kube_conn *c, const struct kinds_row *k,
    const char **version, char *err, size_t errlen);

/* API calls made so far. */
unsigned long discovery_calls(const struct discovery *dc);

#endif
