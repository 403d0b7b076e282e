/* policy.h - the rewrite rules shared by every subcommand: target host, CIDR and path narrowing, mode. */
#ifndef BMHGUARD_POLICY_H
#define BMHGUARD_POLICY_H

#include <stddef.h>

#include "opts.h"

struct url_literal;

struct policy;	/* opaque */

enum policy_mode {
	POLICY_ENFORCE = 0,	/* patch */
	POLICY_WARN		/* never patch; warn what would have changed */
};

/* The outcome of applying the rules to one URL. */
enum policy_verdict {
	POLICY_REWRITE = 0,	/* *out holds the rewritten URL */
	POLICY_NOT_LITERAL,	/* host is a name (includes an already rewritten URL) */
	POLICY_OTHER_SCHEME,
	POLICY_UNPARSEABLE,
	POLICY_OUTSIDE_CIDR,	/* literal IP, but outside every --match-cidr */
	POLICY_OUTSIDE_PREFIX,	/* literal IP, but the path does not start with --path-prefix */
	POLICY_EMPTY		/* NULL or "" */
};

#define POLICY_DEFAULT_TARGET "httpd-http"

/* Returns NULL on allocation failure. Free with policy_free(). */
struct policy *policy_new(void);
void policy_free(struct policy *p);

/* Setters validate their argument; on error they return -1 and write one line to err. */
int policy_set_target(struct policy *p, const char *authority, char *err, size_t errlen);
int policy_add_cidr(struct policy *p, const char *cidr, char *err, size_t errlen);
int policy_set_path_prefix(struct policy *p, const char *prefix, char *err, size_t errlen);
int policy_set_mode(struct policy *p, const char *mode, char *err, size_t errlen);

enum policy_mode policy_mode(const struct policy *p);
const char *policy_target(const struct policy *p);	/* borrowed */

/* The rewrite flags (--target-host, --match-cidr, --path-prefix, --mode) as a group of option
 * rows that store into p through the setters above; every subcommand puts this group in its
 * flag table, so they parse and print the same everywhere. The rows live in p. */
struct opts_group policy_opts(struct policy *p);

/* Apply the rules to url. On POLICY_REWRITE *out is a malloc'd string the caller frees;
 * otherwise *out is NULL. Returns -1 (and *out NULL) only on allocation failure. */
int policy_rewrite(const struct policy *p, const char *url, char **out, enum policy_verdict *verdict);

/* policy_rewrite, and on POLICY_REWRITE *lit says where the literal host[:port] sat in url: a
 * caller that reports it need not parse url again. */
int policy_rewrite_at(const struct policy *p, const char *url, char **out,
    enum policy_verdict *verdict, struct url_literal *lit);

/* "rewritten", "host is a name", ... Static string. */
const char *policy_verdict_str(enum policy_verdict v);

#endif
