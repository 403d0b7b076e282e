/* url_fuzz.c - libFuzzer target: URL classification and the rewrite rules on arbitrary bytes. */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "url.h"

/*
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 * - a literal's authority span lies inside the string and the path starts where it ends;
 * - a rewrite changes only that span (prefix and suffix byte for byte, target in between);
 * - a rewrite is idempotent: the output is no longer literal (or rewrites to itself);
 * - narrowing (CIDR, path prefix) only ever removes rewrites, never changes their result.
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built once; libFuzzer runs inputs one at a time on one thread. */
static struct policy *plain, *narrow, *ported;

static void
die(const char *what, const char *url)
{
	fprintf(stderr, "url_fuzz: %s: '%s'\n", what, url);
	abort();
}

static struct policy *
make_policy(const char *target, const char *cidr1, const char *cidr2, const char *prefix)
{
	struct policy *p = policy_new();
	char err[256];

	if (p == NULL ||
	    (target && policy_set_target(p, target, err, sizeof(err)) != 0) ||
	    (cidr1 && policy_add_cidr(p, cidr1, err, sizeof(err)) != 0) ||
	    (cidr2 && policy_add_cidr(p, cidr2, err, sizeof(err)) != 0) ||
	    (prefix && policy_set_path_prefix(p, prefix, err, sizeof(err)) != 0))
		abort();
	return p;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	plain = make_policy(NULL, NULL, NULL, NULL);
	narrow = make_policy(NULL, "10.0.0.0/8", "fd00::/8", "/images");
	ported = make_policy("httpd-http:6180", NULL, NULL, NULL);
	return 0;
}

/* out must be url with [start, end) replaced by target, and rewriting out again is a no-op. */
static void
check_rewrite(const struct policy *p, const char *url, const struct url_literal *lit,
    const char *out)
{
	const char *target = policy_target(p);
	size_t ulen = strlen(url), tlen = strlen(target), olen = strlen(out);
	size_t head = lit->authority_start, tail = ulen - lit->authority_end;
	enum policy_verdict v;
	char *again = NULL;

	if (olen != head + tlen + tail || memcmp(out, url, head) != 0 ||
	    memcmp(out + head, target, tlen) != 0 ||
	    memcmp(out + head + tlen, url + lit->authority_end, tail) != 0)
		die("rewrite changed more than the authority", url);
	if (policy_rewrite(p, out, &again, &v) != 0)
		abort();
	if (v == POLICY_REWRITE ? strcmp(again, out) != 0 : v != POLICY_NOT_LITERAL)
		die(v == POLICY_REWRITE ? "rewrite is not idempotent" :
		    "rewritten URL is no longer a valid http(s) URL with a name", url);
	free(again);
}

static void
check_policy(const struct policy *p, const char *url, enum url_kind kind,
    const struct url_literal *lit, const char *plain_out)
{
	enum policy_verdict v;
	char *out = NULL;

	if (policy_rewrite(p, url, &out, &v) != 0)
		abort();
	if ((v == POLICY_REWRITE) != (out != NULL))
		die("out set without POLICY_REWRITE (or the reverse)", url);
	if (v == POLICY_REWRITE) {
		if (kind != URL_LITERAL_IP)
			die("rewrite of a URL url_classify calls not literal", url);
		check_rewrite(p, url, lit, out);
		/* the same span as the unnarrowed rewrite, just a different target perhaps */
		if (p != ported && plain_out != NULL && strcmp(out, plain_out) != 0)
			die("narrowed rewrite differs from the plain rewrite", url);
		if (p != ported && plain_out == NULL)
			die("narrowed policy rewrites what the plain policy does not", url);
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1);
	struct url_literal lit;
	enum url_kind kind;
	enum policy_verdict v;
	char *plain_out = NULL;
	size_t n;

	if (url == NULL)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	n = strlen(url);
	memset(&lit, 0, sizeof(lit));
	kind = url_classify(url, &lit);
	if (url_kind_str(kind) == NULL)
		abort();
	if (kind == URL_LITERAL_IP) {
		if (lit.authority_start > lit.authority_end || lit.authority_end > n ||
		    lit.path_start != lit.authority_end || lit.authority_start == lit.authority_end)
			die("literal span out of range", url);
		if (lit.family != AF_INET && lit.family != AF_INET6)
			die("literal family", url);
	}
	if (policy_rewrite(plain, url, &plain_out, &v) != 0)
		abort();
	if ((v == POLICY_REWRITE) != (kind == URL_LITERAL_IP))
		die("plain policy and url_classify disagree", url);
	if (v == POLICY_REWRITE)
		check_rewrite(plain, url, &lit, plain_out);
	check_policy(narrow, url, kind, &lit, plain_out);
	check_policy(ported, url, kind, &lit, plain_out);
	free(plain_out);
	free(url);
	return 0;
}
