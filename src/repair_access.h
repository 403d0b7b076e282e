/* repair_access.h - before the first write, ask the API server (SelfSubjectAccessReviews) whether every write the repair may make is allowed. */
#ifndef BMHGUARD_REPAIR_ACCESS_H
#define BMHGUARD_REPAIR_ACCESS_H

#include <stddef.h>

#include "kube.h"
#include "repair.h"

/* Check that every write the run may make (patches of the kinds opts covers with opts->apply,
 * Events with opts->events) is allowed where it may make it (opts->ns, or every namespace).
 * Returns 0, or -1 with err naming what is missing and how to grant it. */
int repair_check_access(struct kube_client *k, const struct repair_opts *opts, char *err,
    size_t errlen);

#endif
