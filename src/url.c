/* url.c - find the literal-IP host of an http(s) URL and splice a new authority in its place. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "url.h"

/*
 * libcurl parses and validates the URL and normalises every IPv4 form the WHATWG URL Standard
 * accepts (hex, octal, fewer parts, a single number) to a dotted quad; inet_pton then decides
 * whether that host is an address. The only form curl leaves alone is one trailing dot
 * ("10.0.0.1."), which WHATWG drops before parsing, so it is retried without the dot.
 *
 * To keep userinfo, path, query and fragment byte for byte, the rewrite does not let curl
 * re-serialise the URL: it replaces only the host[:port] bytes, located in the original string
 * and cross-checked against curl's reading of the host.
 */

const char *
url_kind_str(enum url_kind kind)
{
	switch (kind) {
	case URL_LITERAL_IP:	return "literal IP";
	case URL_NAME:		return "host is a name";
	case URL_OTHER_SCHEME:	return "not an http(s) URL";
	case URL_UNPARSEABLE:	return "not a valid URL";
	}
	return "unknown";
}

/* curl's host for "http://HOST/" with hostlen bytes of host, or NULL. Caller curl_free()s. */
static char *
host_of(const char *host, size_t hostlen)
{
	CURLU *u = curl_url();
	char *buf = NULL, *out = NULL;

	if (u == NULL || (buf = malloc(hostlen + 9)) == NULL)
		goto out;
	memcpy(buf, "http://", 7);
	memcpy(buf + 7, host, hostlen);
	memcpy(buf + 7 + hostlen, "/", 2);
	if (curl_url_set(u, CURLUPART_URL, buf, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &out, 0) != CURLUE_OK)
		out = NULL;
out:
	free(buf);
	curl_url_cleanup(u);
	return out;
}

/* Whether curl's normalised host is an address; fills family and addr. */
static int
host_address(const char *host, int *family, unsigned char addr[16])
{
	char inner[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(host);

	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		/* curl reports the zone id separately; the brackets hold only the address */
		if (n - 2 >= sizeof(inner))
			return 0;
		memcpy(inner, host + 1, n - 2);
		inner[n - 2] = '\0';
		*family = AF_INET6;
		return inet_pton(AF_INET6, inner, addr) == 1;
	}
	*family = AF_INET;
	return inet_pton(AF_INET, host, addr) == 1;
}

/* Locate host[:port] in the raw URL: after "scheme://" and any "userinfo@", up to / ? or #. */
static int
locate_authority(const char *url, size_t *start, size_t *end)
{
	const char *p = url + strcspn(url, ":"), *a, *e, *at;

	/* the first ':' ends the scheme; a later "://" (in a path) is not an authority */
	if (strncmp(p, "://", 3) != 0)
		return -1;
	a = p + 3;
	e = a + strcspn(a, "/?#");
	at = NULL;
	for (const char *q = a; q < e; q++)
		if (*q == '@')
			at = q;
	if (at != NULL)
		a = at + 1;
	*start = (size_t)(a - url);
	*end = (size_t)(e - url);
	return 0;
}

/* The host part of an authority "host[:port]" (IPv6 literals keep their brackets). */
static size_t
authority_host_len(const char *auth, size_t len)
{
	const char *close;

	if (len > 0 && auth[0] == '[') {
		close = memchr(auth, ']', len);
		return close ? (size_t)(close - auth) + 1 : len;
	}
	for (size_t i = len; i > 0; i--)
		if (auth[i - 1] == ':')
			return i - 1;
	return len;
}

enum url_kind
url_classify(const char *url, struct url_literal *lit)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *raw_host = NULL;
	enum url_kind kind = URL_UNPARSEABLE;
	struct url_literal l;
	size_t hostlen;

	memset(&l, 0, sizeof(l));
	if (url == NULL || (u = curl_url()) == NULL)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		kind = URL_OTHER_SCHEME;
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	/* curl accepts "http:/host"; WHATWG-style "scheme://" is required to find the authority */
	if (locate_authority(url, &l.authority_start, &l.authority_end) != 0)
		goto out;
	l.path_start = l.authority_end;
	hostlen = authority_host_len(url + l.authority_start, l.authority_end - l.authority_start);
	/* the bytes we would replace must be the host curl saw, or we would splice the wrong span;
	 * when curl kept them as they were (the usual case) there is nothing to re-parse */
	if (!(strlen(host) == hostlen && memcmp(url + l.authority_start, host, hostlen) == 0) &&
	    ((raw_host = host_of(url + l.authority_start, hostlen)) == NULL ||
	    strcmp(raw_host, host) != 0))
		goto out;
	kind = URL_NAME;
	if (host_address(host, &l.family, l.addr)) {
		kind = URL_LITERAL_IP;
	} else {
		size_t n = strlen(host);

		if (n > 1 && host[n - 1] == '.' && host[n - 2] != '.') {
			char *bare = host_of(host, n - 1);

			if (bare != NULL && host_address(bare, &l.family, l.addr))
				kind = URL_LITERAL_IP;
			curl_free(bare);
		}
	}
	if (kind == URL_LITERAL_IP && lit != NULL)
		*lit = l;
out:
	curl_free(raw_host);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return kind;
}

char *
url_splice(const char *url, const struct url_literal *lit, const char *authority)
{
	size_t head = lit->authority_start, tail = strlen(url) - lit->authority_end;
	size_t alen = strlen(authority);
	char *out = malloc(head + alen + tail + 1);

	if (out == NULL)
		return NULL;
	memcpy(out, url, head);
	memcpy(out + head, authority, alen);
	memcpy(out + head + alen, url + lit->authority_end, tail + 1);
	return out;
}

int
url_parse_cidr(const char *cidr, int *family, unsigned char addr[16], unsigned *bits)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
	unsigned long b;
	char *end;
	unsigned max;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, cidr, n);
	buf[n] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	if (slash == NULL) {
		*bits = max;
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9')
		return -1;
	b = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || b > max)
		return -1;
	*bits = (unsigned)b;
	return 0;
}

static int
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int
url_in_cidr(const struct url_literal *lit, int family, const unsigned char addr[16], unsigned bits)
{
	static const unsigned char v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (lit->family == family)
		return prefix_equal(lit->addr, addr, bits);
	/* http://[::ffff:10.0.0.1]/ reaches 10.0.0.1: an IPv4 range covers it */
	if (lit->family == AF_INET6 && family == AF_INET &&
	    memcmp(lit->addr, v4mapped, sizeof(v4mapped)) == 0)
		return prefix_equal(lit->addr + 12, addr, bits);
	return 0;
}
