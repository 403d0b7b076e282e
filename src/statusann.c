/* statusann.c - the baremetalhost.metal3.io/status annotation: its image url kept in line with spec, rewritten in place. */
#include "statusann.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define KEYS(...) { (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) }

enum { AN_URL = 0, AN_CHECKSUM, AN_COUNT };
static const struct codec_path reads[AN_COUNT] = {
	[AN_URL] = KEYS("provisioning", "image", "url"),
	[AN_CHECKSUM] = KEYS("provisioning", "image", "checksum"),
};

const char *
statusann_verdict_str(enum statusann_verdict v)
{
	switch (v) {
	case STATUSANN_NONE:		return "none";
	case STATUSANN_IN_LINE:		return "in line";
	case STATUSANN_REWRITE:		return "rewrite";
	case STATUSANN_OTHER:		return "other url";
	case STATUSANN_INVALID:		return "not JSON";
	}
	return "unknown";
}

void
statusann_edit_clear(struct statusann_edit *e)
{
	free(e->text);
	free(e->url_from);
	free(e->url_to);
	free(e->sum_from);
	free(e->sum_to);
	free(e->other_url);
	memset(e, 0, sizeof(*e));
}

/* Splice quoted replacements for the spans [s1,e1) and [s2,e2) (s1 < s2) into text. */
static char *
splice2(const char *text, size_t s1, size_t e1, const char *q1, size_t s2, size_t e2,
    const char *q2)
{
	size_t n = strlen(text), l1 = strlen(q1), l2 = q2 ? strlen(q2) : 0;
	char *out = malloc(n + l1 + l2 + 1), *w = out;

	if (out == NULL)
		return NULL;
	memcpy(w, text, s1);
	w += s1;
	memcpy(w, q1, l1);
	w += l1;
	if (q2 == NULL) {
		memcpy(w, text + e1, n - e1 + 1);
		return out;
	}
	memcpy(w, text + e1, s2 - e1);
	w += s2 - e1;
	memcpy(w, q2, l2);
	w += l2;
	memcpy(w, text + e2, n - e2 + 1);
	return out;
}

/* Replace the url (and checksum) string literals in place, touching nothing else. */
static char *
splice(const char *text, const char *url_to, const char *sum_to)
{
	size_t n = strlen(text), us, ue, cs = 0, ce = 0;
	char *qu = codec_quote(url_to), *qc = sum_to ? codec_quote(sum_to) : NULL, *out = NULL;

	if (qu == NULL || (sum_to != NULL && qc == NULL))
		goto out;
	if (codec_locate_string(text, n, reads[AN_URL].keys, reads[AN_URL].depth, &us, &ue) != 0 ||
	    (sum_to != NULL && codec_locate_string(text, n, reads[AN_CHECKSUM].keys,
	    reads[AN_CHECKSUM].depth, &cs, &ce) != 0))
		goto out;
	if (sum_to == NULL)
		out = splice2(text, us, ue, qu, 0, 0, NULL);
	else if (us < cs)
		out = splice2(text, us, ue, qu, cs, ce, qc);
	else
		out = splice2(text, cs, ce, qc, us, ue, qu);
out:
	free(qu);
	free(qc);
	return out;
}

int
statusann_follow(const struct policy *p, const char *text, const char *spec_url,
    struct statusann_edit *e)
{
	struct codec_field st[AN_COUNT];
	const char *url, *sum;
	enum policy_verdict v;
	char err[128];
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (text == NULL)
		return 0;
	if (codec_parse_fields(text, strlen(text), reads, AN_COUNT, st, err, sizeof(err)) != 0) {
		e->verdict = STATUSANN_INVALID;
		return 0;
	}
	url = codec_field_string(&st[AN_URL]);
	sum = codec_field_string(&st[AN_CHECKSUM]);
	if (url == NULL || *url == '\0') {
		rc = 0;
		goto out;
	}
	if (spec_url != NULL && strcmp(url, spec_url) == 0) {
		e->verdict = STATUSANN_IN_LINE;
		rc = 0;
		goto out;
	}
	if (policy_rewrite_at(p, url, &e->url_to, &v, &e->url_lit) != 0)
		goto out;
	if (v != POLICY_REWRITE || spec_url == NULL || strcmp(e->url_to, spec_url) != 0) {
		free(e->url_to);
		e->url_to = NULL;
		e->verdict = STATUSANN_OTHER;
		rc = (e->other_url = strdup(url)) == NULL ? -1 : 0;
		goto out;
	}
	if (policy_rewrite_at(p, sum, &e->sum_to, &v, &e->sum_lit) != 0)
		goto out;
	if ((e->url_from = strdup(url)) == NULL ||
	    (e->sum_to != NULL && (e->sum_from = strdup(sum)) == NULL) ||
	    (e->text = splice(text, e->url_to, e->sum_to)) == NULL)
		goto out;
	e->verdict = STATUSANN_REWRITE;
	rc = 0;
out:
	codec_fields_free(st, AN_COUNT);
	if (rc != 0)
		statusann_edit_clear(e);
	return rc;
}
