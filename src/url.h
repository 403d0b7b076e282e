/* url.h - find the literal-IP host of an http(s) URL and splice a new authority in its place. */
#ifndef BMHGUARD_URL_H
#define BMHGUARD_URL_H

#include <stddef.h>
#include <netinet/in.h>

/* Why a URL is or is not a literal-IP http(s) URL. */
enum url_kind {
	URL_LITERAL_IP = 0,	/* http(s) and the host is an IPv4 or IPv6 literal */
	URL_NAME,		/* http(s) with a DNS name as host */
	URL_OTHER_SCHEME,	/* parses, but the scheme is not http or https */
	URL_UNPARSEABLE		/* libcurl's URL parser rejects it */
};

/* The address a literal-IP URL names and where its host[:port] sits in the original string. */
struct url_literal {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network order; 4 bytes used for AF_INET */
	size_t authority_start;		/* byte offset of host[:port] (after any userinfo@) */
	size_t authority_end;		/* one past its last byte */
	size_t path_start;		/* where path, query or fragment begin (== authority_end) */
};

/* Classify url. On URL_LITERAL_IP, *lit (if not NULL) is filled in. Never allocates
 * anything the caller must free. */
enum url_kind url_classify(const char *url, struct url_literal *lit);

/* Human-readable reason for a kind ("literal IP", "host is a name", ...). Static string. */
const char *url_kind_str(enum url_kind kind);

/* Build url with bytes [lit->authority_start, lit->authority_end) replaced by authority.
 * Returns a malloc'd string the caller frees, or NULL on allocation failure. */
char *url_splice(const char *url, const struct url_literal *lit, const char *authority);

/* Parse "ADDR/BITS" (IPv4 or IPv6). Returns 0 and fills family/addr/bits, or -1. */
int url_parse_cidr(const char *cidr, int *family, unsigned char addr[16], unsigned *bits);

/* Whether lit's address lies inside the prefix (same family; IPv4-mapped IPv6 counts as IPv4). */
int url_in_cidr(const struct url_literal *lit, int family, const unsigned char addr[16],
    unsigned bits);

#endif
