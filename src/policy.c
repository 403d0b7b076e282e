/* policy.c - the rewrite rules shared by every subcommand: target host, CIDR and path narrowing, mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "url.h"

#define POLICY_MAX_CIDRS 64

struct cidr {
	int family;
	unsigned char addr[16];
	unsigned bits;
};

struct policy {
	char *target;			/* authority that replaces a literal host[:port] */
	char *path_prefix;		/* NULL: any path */
	struct cidr cidrs[POLICY_MAX_CIDRS];
	size_t ncidrs;			/* 0: any address */
	enum policy_mode mode;
	struct opts_row rows[4];	/* policy_opts() */
};

struct policy *
policy_new(void)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if ((p->target = strdup(POLICY_DEFAULT_TARGET)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	free(p->target);
	free(p->path_prefix);
	free(p);
}

/*
 * The target must itself be a name (or the rewrite would not be idempotent and would not fix
 * anything) and must be a bare authority: "host" or "host:port".
 */
int
policy_set_target(struct policy *p, const char *authority, char *err, size_t errlen)
{
	char probe[512];
	char *copy;
	int n;

	if (authority == NULL || *authority == '\0' || strpbrk(authority, "/?#@ \t\r\n\\") != NULL) {
		snprintf(err, errlen, "--target-host: '%s' is not a host[:port]",
		    authority ? authority : "");
		return -1;
	}
	n = snprintf(probe, sizeof(probe), "http://%s/", authority);
	if (n < 0 || (size_t)n >= sizeof(probe)) {
		snprintf(err, errlen, "--target-host: too long");
		return -1;
	}
	switch (url_classify(probe, NULL)) {
	case URL_NAME:
		break;
	case URL_LITERAL_IP:
		snprintf(err, errlen, "--target-host: '%s' is a literal IP; the target must be a "
		    "stable service name", authority);
		return -1;
	default:
		snprintf(err, errlen, "--target-host: '%s' is not a valid host[:port]", authority);
		return -1;
	}
	if ((copy = strdup(authority)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(p->target);
	p->target = copy;
	return 0;
}

int
policy_add_cidr(struct policy *p, const char *cidr, char *err, size_t errlen)
{
	struct cidr *c;

	if (p->ncidrs == POLICY_MAX_CIDRS) {
		snprintf(err, errlen, "--match-cidr: at most %d ranges", POLICY_MAX_CIDRS);
		return -1;
	}
	c = &p->cidrs[p->ncidrs];
	if (cidr == NULL || url_parse_cidr(cidr, &c->family, c->addr, &c->bits) != 0) {
		snprintf(err, errlen, "--match-cidr: '%s' is not an IPv4 or IPv6 CIDR (e.g. "
		    "10.0.0.0/8, fd00::/8)", cidr ? cidr : "");
		return -1;
	}
	p->ncidrs++;
	return 0;
}

int
policy_set_path_prefix(struct policy *p, const char *prefix, char *err, size_t errlen)
{
	char *copy;

	if (prefix == NULL || prefix[0] != '/') {
		snprintf(err, errlen, "--path-prefix: '%s' must start with /", prefix ? prefix : "");
		return -1;
	}
	if ((copy = strdup(prefix)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(p->path_prefix);
	p->path_prefix = copy;
	return 0;
}

int
policy_set_mode(struct policy *p, const char *mode, char *err, size_t errlen)
{
	if (mode != NULL && strcmp(mode, "enforce") == 0)
		p->mode = POLICY_ENFORCE;
	else if (mode != NULL && strcmp(mode, "warn") == 0)
		p->mode = POLICY_WARN;
	else {
		snprintf(err, errlen, "--mode: '%s' is not enforce or warn", mode ? mode : "");
		return -1;
	}
	return 0;
}

enum policy_mode
policy_mode(const struct policy *p)
{
	return p->mode;
}

const char *
policy_target(const struct policy *p)
{
	return p->target;
}

/* The setters with the option table's signature. */
static int
policy_opt_target(void *p, const char *v, char *err, size_t errlen)
{
	return policy_set_target(p, v, err, errlen);
}

static int
policy_opt_cidr(void *p, const char *v, char *err, size_t errlen)
{
	return policy_add_cidr(p, v, err, errlen);
}

static int
policy_opt_path_prefix(void *p, const char *v, char *err, size_t errlen)
{
	return policy_set_path_prefix(p, v, err, errlen);
}

static int
policy_opt_mode(void *p, const char *v, char *err, size_t errlen)
{
	return policy_set_mode(p, v, err, errlen);
}

struct opts_group
policy_opts(struct policy *p)
{
	const struct opts_row rows[] = {
		{ .name = "target-host", .kind = OPTS_FUNC, .dst = p, .set = policy_opt_target,
		  .arg = "HOST[:PORT]", .help = "stable authority that replaces a literal IP host[:port]\n"
		  "(default " POLICY_DEFAULT_TARGET ": the scheme's default port)" },
		{ .name = "match-cidr", .kind = OPTS_FUNC, .dst = p, .set = policy_opt_cidr,
		  .arg = "CIDR", .help = "only rewrite addresses inside CIDR (IPv4 or IPv6;\n"
		  "repeatable; default: every address)" },
		{ .name = "path-prefix", .kind = OPTS_FUNC, .dst = p, .set = policy_opt_path_prefix,
		  .arg = "PATH", .help = "only rewrite URLs whose path starts with PATH" },
		{ .name = "mode", .kind = OPTS_FUNC, .dst = p, .set = policy_opt_mode,
		  .arg = "enforce|warn", .help = "warn: never change anything, report what would change\n"
		  "(default enforce)" },
	};
	struct opts_group g = { "rewrite rules (the same for every command):", p->rows,
		OPTS_NROWS(p->rows) };

	_Static_assert(OPTS_NROWS(rows) == OPTS_NROWS(p->rows), "policy_opts rows");
	memcpy(p->rows, rows, sizeof(rows));
	return g;
}

const char *
policy_verdict_str(enum policy_verdict v)
{
	switch (v) {
	case POLICY_REWRITE:		return "rewritten";
	case POLICY_NOT_LITERAL:	return "host is a name";
	case POLICY_OTHER_SCHEME:	return "not an http(s) URL";
	case POLICY_UNPARSEABLE:	return "not a valid URL";
	case POLICY_OUTSIDE_CIDR:	return "address outside --match-cidr";
	case POLICY_OUTSIDE_PREFIX:	return "path outside --path-prefix";
	case POLICY_EMPTY:		return "empty";
	}
	return "unknown";
}

static int
in_any_cidr(const struct policy *p, const struct url_literal *lit)
{
	size_t k;

	if (p->ncidrs == 0)
		return 1;
	for (k = 0; k < p->ncidrs; k++)
		if (url_in_cidr(lit, p->cidrs[k].family, p->cidrs[k].addr, p->cidrs[k].bits))
			return 1;
	return 0;
}

int
policy_rewrite(const struct policy *p, const char *url, char **out, enum policy_verdict *verdict)
{
	struct url_literal lit;

	return policy_rewrite_at(p, url, out, verdict, &lit);
}

int
policy_rewrite_at(const struct policy *p, const char *url, char **out,
    enum policy_verdict *verdict, struct url_literal *litp)
{
	struct url_literal lit;

	*out = NULL;
	if (url == NULL || *url == '\0') {
		*verdict = POLICY_EMPTY;
		return 0;
	}
	switch (url_classify(url, &lit)) {
	case URL_LITERAL_IP:
		break;
	case URL_NAME:
		*verdict = POLICY_NOT_LITERAL;
		return 0;
	case URL_OTHER_SCHEME:
		*verdict = POLICY_OTHER_SCHEME;
		return 0;
	case URL_UNPARSEABLE:
	default:
		*verdict = POLICY_UNPARSEABLE;
		return 0;
	}
	if (!in_any_cidr(p, &lit)) {
		*verdict = POLICY_OUTSIDE_CIDR;
		return 0;
	}
	if (p->path_prefix != NULL &&
	    strncmp(url + lit.path_start, p->path_prefix, strlen(p->path_prefix)) != 0) {
		*verdict = POLICY_OUTSIDE_PREFIX;
		return 0;
	}
	if ((*out = url_splice(url, &lit, p->target)) == NULL)
		return -1;
	*verdict = POLICY_REWRITE;
	*litp = lit;
	return 0;
}
