/* test_url.c - literal-IP detection, splicing and CIDR parsing in src/url.c. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "url.h"

struct classify_case {
	const char *url;
	enum url_kind kind;
	const char *addr;	/* expected address (inet_ntop form) for literals */
	const char *authority;	/* expected host[:port] span for literals */
};

static const struct classify_case classify_cases[] = {
	/* IPv4, every form the WHATWG IPv4 parser accepts */
	{ "http://10.10.10.10/images/a.qcow2", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "http://10.1/x", URL_LITERAL_IP, "10.0.0.1", "10.1" },
	{ "http://10.0.1/x", URL_LITERAL_IP, "10.0.0.1", "10.0.1" },
	{ "http://0x0a.0.0.1/", URL_LITERAL_IP, "10.0.0.1", "0x0a.0.0.1" },
	{ "http://0X0A.0.0.1/", URL_LITERAL_IP, "10.0.0.1", "0X0A.0.0.1" },
	{ "http://012.0.0.1/", URL_LITERAL_IP, "10.0.0.1", "012.0.0.1" },
	{ "http://168430090/", URL_LITERAL_IP, "10.10.10.10", "168430090" },
	{ "http://0xa0a0a0a/", URL_LITERAL_IP, "10.10.10.10", "0xa0a0a0a" },
	{ "http://4294967295/", URL_LITERAL_IP, "255.255.255.255", "4294967295" },
	{ "http://0/", URL_LITERAL_IP, "0.0.0.0", "0" },
	{ "http://10.0.0.1./x", URL_LITERAL_IP, "10.0.0.1", "10.0.0.1." },
	{ "http://10.1./x", URL_LITERAL_IP, "10.0.0.1", "10.1." },
	{ "http://10.10.10.10:8080/x", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10:8080" },
	{ "http://10.10.10.10:/x", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10:" },
	{ "https://10.10.10.10/x", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "HTTP://10.10.10.10/x", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "HtTpS://10.10.10.10/x", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "http://u:p@10.10.10.10:81/x", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10:81" },
	/* libcurl refuses a second @ in the authority; left unchanged, never half-rewritten */
	{ "http://u:p@q@10.10.10.10/x", URL_UNPARSEABLE, NULL, NULL },
	{ "http://10.10.10.10", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "http://10.10.10.10?q=1", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "http://10.10.10.10#frag", URL_LITERAL_IP, "10.10.10.10", "10.10.10.10" },
	{ "http://%31%30.0.0.1/x", URL_LITERAL_IP, "10.0.0.1", "%31%30.0.0.1" },
	/* IPv6 literals, zone ids allowed */
	{ "http://[fd00::1]/x", URL_LITERAL_IP, "fd00::1", "[fd00::1]" },
	{ "http://[fd00::1]:6180/x", URL_LITERAL_IP, "fd00::1", "[fd00::1]:6180" },
	{ "http://[FD00:0:0::1]/x", URL_LITERAL_IP, "fd00::1", "[FD00:0:0::1]" },
	{ "http://[fe80::1%25eth0]/x", URL_LITERAL_IP, "fe80::1", "[fe80::1%25eth0]" },
	{ "http://[::ffff:10.0.0.1]/x", URL_LITERAL_IP, "::ffff:10.0.0.1", "[::ffff:10.0.0.1]" },
	{ "https://user@[2001:db8::7]:443/i?x#y", URL_LITERAL_IP, "2001:db8::7", "[2001:db8::7]:443" },
	/* names that look like numbers */
	{ "http://httpd-http/images/a", URL_NAME, NULL, NULL },
	{ "http://httpd-http:6180/images/a", URL_NAME, NULL, NULL },
	{ "http://1host.example/x", URL_NAME, NULL, NULL },
	{ "http://10.10.10.10.nip.io/x", URL_NAME, NULL, NULL },
	{ "http://0x/x", URL_NAME, NULL, NULL },
	{ "http://10.0.0.1../x", URL_NAME, NULL, NULL },
	{ "http://localhost/x", URL_NAME, NULL, NULL },
	/* other schemes */
	{ "ftp://10.0.0.1/x", URL_OTHER_SCHEME, NULL, NULL },
	{ "file:///images/a.qcow2", URL_OTHER_SCHEME, NULL, NULL },
	{ "oci://10.0.0.1/x", URL_OTHER_SCHEME, NULL, NULL },
	/* not URLs at all */
	{ "", URL_UNPARSEABLE, NULL, NULL },
	{ "97830b21ed272a3d854615beb54cf004", URL_UNPARSEABLE, NULL, NULL },
	{ "10.0.0.1/images/a", URL_UNPARSEABLE, NULL, NULL },
	{ "http:10.0.0.1", URL_UNPARSEABLE, NULL, NULL },
	{ "http:/10.0.0.1/x", URL_UNPARSEABLE, NULL, NULL },
	{ "http://10.0.0.1:99999/x", URL_UNPARSEABLE, NULL, NULL },
	{ "http://10.0.0.1\\x/", URL_UNPARSEABLE, NULL, NULL },
	{ "http://[fd00::1/x", URL_UNPARSEABLE, NULL, NULL },
	{ "http://[zz::1]/x", URL_UNPARSEABLE, NULL, NULL },
	{ "http:// 10.0.0.1/", URL_UNPARSEABLE, NULL, NULL },
};

static void
test_classify(void)
{
	char got[INET6_ADDRSTRLEN], span[256];
	struct url_literal lit;
	size_t i, n;

	for (i = 0; i < sizeof(classify_cases) / sizeof(classify_cases[0]); i++) {
		const struct classify_case *c = &classify_cases[i];
		enum url_kind k = url_classify(c->url, &lit);

		if (!CHECK(k == c->kind, "classify %s: %s", c->url, url_kind_str(c->kind)))
			printf("#   got %s\n", url_kind_str(k));
		if (k != URL_LITERAL_IP || c->kind != URL_LITERAL_IP)
			continue;
		inet_ntop(lit.family, lit.addr, got, sizeof(got));
		CHECK_STR(got, c->addr, "address of %s", c->url);
		n = lit.authority_end - lit.authority_start;
		snprintf(span, sizeof(span), "%.*s", (int)n, c->url + lit.authority_start);
		CHECK_STR(span, c->authority, "authority span of %s", c->url);
	}
	CHECK(url_classify(NULL, NULL) == URL_UNPARSEABLE, "NULL is not a URL");
}

static void
test_splice(void)
{
	const char *url = "https://u:p@[fd00::1%25eth0]:8443/a/b?c=10.0.0.1#d@e";
	struct url_literal lit;
	char *out;

	if (!CHECK(url_classify(url, &lit) == URL_LITERAL_IP, "splice input is literal"))
		return;
	out = url_splice(url, &lit, "httpd-http");
	CHECK_STR(out, "https://u:p@httpd-http/a/b?c=10.0.0.1#d@e",
	    "splice keeps userinfo, path, query and fragment byte for byte");
	free(out);
	out = url_splice(url, &lit, "httpd-http:6180");
	CHECK_STR(out, "https://u:p@httpd-http:6180/a/b?c=10.0.0.1#d@e", "splice with a port");
	free(out);
}

struct cidr_case {
	const char *cidr;
	int ok;
	const char *url;
	int inside;
};

static const struct cidr_case cidr_cases[] = {
	{ "10.0.0.0/8", 1, "http://10.10.10.10/", 1 },
	{ "10.0.0.0/8", 1, "http://11.0.0.1/", 0 },
	{ "10.10.10.10", 1, "http://10.10.10.10/", 1 },
	{ "10.10.10.10/32", 1, "http://10.10.10.11/", 0 },
	{ "10.10.10.8/30", 1, "http://10.10.10.11/", 1 },
	{ "10.10.10.8/30", 1, "http://10.10.10.12/", 0 },
	{ "0.0.0.0/0", 1, "http://192.168.1.1/", 1 },
	{ "0.0.0.0/0", 1, "http://[fd00::1]/", 0 },
	{ "fd00::/8", 1, "http://[fd12:3456::1]/", 1 },
	{ "fd00::/8", 1, "http://[fe80::1]/", 0 },
	{ "fd00::/8", 1, "http://10.0.0.1/", 0 },
	{ "10.0.0.0/8", 1, "http://[::ffff:10.1.2.3]/", 1 },
	{ "2001:db8::/33", 1, "http://[2001:db8:7fff::1]/", 1 },
	{ "2001:db8::/33", 1, "http://[2001:db8:8000::1]/", 0 },
	{ "10.0.0.0/33", 0, NULL, 0 },
	{ "fd00::/129", 0, NULL, 0 },
	{ "10.0.0.0/", 0, NULL, 0 },
	{ "10.0.0.0/-1", 0, NULL, 0 },
	{ "10.0.0.0/8x", 0, NULL, 0 },
	{ "/8", 0, NULL, 0 },
	{ "example.com/8", 0, NULL, 0 },
	{ "", 0, NULL, 0 },
};

static void
test_cidr(void)
{
	unsigned char addr[16];
	struct url_literal lit;
	unsigned bits;
	int family, rc;
	size_t i;

	for (i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		const struct cidr_case *c = &cidr_cases[i];

		rc = url_parse_cidr(c->cidr, &family, addr, &bits);
		CHECK((rc == 0) == c->ok, "parse cidr '%s' %s", c->cidr, c->ok ? "ok" : "rejected");
		if (rc != 0 || c->url == NULL)
			continue;
		if (!CHECK(url_classify(c->url, &lit) == URL_LITERAL_IP, "%s literal", c->url))
			continue;
		CHECK(url_in_cidr(&lit, family, addr, bits) == c->inside, "%s %s %s", c->url,
		    c->inside ? "inside" : "outside", c->cidr);
	}
}

int
main(void)
{
	test_classify();
	test_splice();
	test_cidr();
	return CHECK_DONE();
}
