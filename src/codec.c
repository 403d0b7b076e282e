/* codec.c - JSON in and out for admission reviews: strict parsing, RFC 6901 pointers, base64, span splicing. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "simd.h"

/* Whether any byte has its high bit set, eight bytes at a time. */
static int
has_non_ascii(const char *text, size_t len)
{
	const uint64_t high = 0x8080808080808080ULL;
	uint64_t word, acc = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&word, text + i, 8);
		acc |= word;
	}
	for (; i < len; i++)
		acc |= (unsigned char)text[i];
	return (acc & high) != 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* json-c's VALIDATE_UTF8 lets overlong forms and UTF-16 surrogates through; this does not. */
static int
utf8_check(const char *text, size_t len, char *err, size_t errlen)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, n;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
		} else if ((n = utf8_len(s + i, len - i)) != 0) {
			i += n;
		} else {
			snprintf(err, errlen, "invalid JSON at byte %zu: invalid UTF-8", i);
			return -1;
		}
	}
	return 0;
}

/* The index of the first byte at or after i that is not JSON whitespace (RFC 8259: space, tab,
 * CR, LF; not NUL, VT or FF), or n. */
static size_t
ws_skip(const char *s, size_t n, size_t i)
{
	while (i < n && memchr(" \t\r\n", s[i], 4) != NULL)
		i++;
	return i;
}

int
codec_parse(const char *text, size_t len, json_object **out, char *err, size_t errlen)
{
	json_tokener *tok;
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	size_t end;
	int rc = -1;

	*out = NULL;
	if (len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "input too large");
		return -1;
	}
	if (has_non_ascii(text, len) && utf8_check(text, len, err, errlen) != 0)
		return -1;
	if ((tok = json_tokener_new_ex(CODEC_MAX_DEPTH)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* UTF-8 is checked above, and only when there is a non-ASCII byte: ASCII input (nearly
	 * every review) is valid UTF-8 by construction */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = ws_skip(text, len, 0);
	if (jerr == json_tokener_continue && end < len && strchr("{[\"", text[end]) == NULL) {
		/* a top-level number or literal ends only at end of input: signal it with a NUL */
		obj = json_tokener_parse_ex(tok, "", 1);
		if ((jerr = json_tokener_get_error(tok)) == json_tokener_success) {
			*out = obj;	/* NULL for "null" */
			rc = 0;
			goto out;
		}
	}
	/* obj is NULL for a top-level null, so only the error says whether parsing failed */
	if (jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			snprintf(err, errlen, "invalid JSON: unexpected end of input");
		else if (jerr == json_tokener_error_depth)
			snprintf(err, errlen, "invalid JSON: nested deeper than %d levels",
			    CODEC_MAX_DEPTH);
		else
			snprintf(err, errlen, "invalid JSON at byte %zu: %s",
			    json_tokener_get_parse_end(tok), json_tokener_error_desc(jerr));
		goto out;
	}
	if ((end = ws_skip(text, len, json_tokener_get_parse_end(tok))) < len) {
		snprintf(err, errlen, "invalid JSON: unexpected data after byte %zu", end);
		goto out;
	}
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	if (rc != 0)
		json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

/*
 * codec_parse_fields: simdjson validates the whole text and replays it as events, and a trie of
 * the wanted paths says which events matter. Only strings at a path's end are copied. A key on a
 * wanted path clears what an earlier duplicate of it left, so the last wins.
 */
#define FIELDS_MAX_PATHS 64
#define FIELDS_MAX_NODES 128

struct fields_node {
	const char *key;	/* NULL for the top level */
	size_t keylen;
	int first_child, next_sibling;	/* node indexes, -1 for none */
	int path;		/* index of the path ending here, -1 for none */
	uint64_t below;		/* paths ending here or deeper */
};

/* One entered object, on a wanted path: its trie node, and the node its current key matched
 * (-1: none). */
struct fields_frame {
	int node, want;
};

struct fields {
	struct fields_node nodes[FIELDS_MAX_NODES];
	int nnodes;
	struct fields_frame stack[CODEC_MAX_DEPTH];	/* simdjson nests fewer */
	int depth;			/* objects entered */
	struct codec_field *out;
	const char *why;		/* set when a handler stops the walk */
};

static int
fields_child(const struct fields *f, int node, const char *key, size_t keylen)
{
	int c;

	for (c = f->nodes[node].first_child; c >= 0; c = f->nodes[c].next_sibling)
		if (f->nodes[c].keylen == keylen && memcmp(f->nodes[c].key, key, keylen) == 0)
			return c;
	return -1;
}

static int
fields_build(struct fields *f, const struct codec_path *paths, size_t npaths)
{
	size_t i, k;
	int node, c;

	if (npaths > FIELDS_MAX_PATHS)
		return -1;
	f->nodes[0] = (struct fields_node){ NULL, 0, -1, -1, -1, 0 };
	f->nnodes = 1;
	for (i = 0; i < npaths; i++) {
		node = 0;
		f->nodes[0].below |= (uint64_t)1 << i;
		for (k = 0; k < paths[i].depth; k++, node = c) {
			const char *key = paths[i].keys[k];
			size_t keylen = strlen(key);

			if ((c = fields_child(f, node, key, keylen)) < 0) {
				if (f->nnodes == FIELDS_MAX_NODES)
					return -1;
				c = f->nnodes++;
				f->nodes[c] = (struct fields_node){ key, keylen, -1,
				    f->nodes[node].first_child, -1, 0 };
				f->nodes[node].first_child = c;
			}
			f->nodes[c].below |= (uint64_t)1 << i;
		}
		if (f->nodes[node].path >= 0)
			return -1;	/* the same path twice */
		f->nodes[node].path = (int)i;
	}
	return 0;
}

static void
fields_clear(struct codec_field *out, uint64_t which)
{
	int i;

	for (i = 0; which != 0; i++, which >>= 1) {
		if (which & 1) {
			free(out[i].str);
			out[i] = (struct codec_field){ CODEC_ABSENT, NULL, 0 };
		}
	}
}

/* The node the next value lands on, or -1 when it is off every wanted path. */
static int
fields_target(const struct fields *f)
{
	const struct fields_frame *top;

	if (f->depth == 0)
		return 0;
	top = &f->stack[f->depth - 1];
	return top->want;
}

/* Numbers, true, false and null are never kept. */
static int
fields_scalar(void *ctx)
{
	(void)ctx;
	return SIMD_GO;
}

static int
fields_string(void *ctx, const char *s, size_t len)
{
	struct fields *f = ctx;
	int n = fields_target(f), i;
	char *copy;

	if (n < 0 || (i = f->nodes[n].path) < 0)
		return SIMD_GO;
	if ((copy = malloc(len + 1)) == NULL) {
		f->why = "out of memory";
		return SIMD_STOP;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	f->out[i] = (struct codec_field){ CODEC_STRING, copy, len };
	return SIMD_GO;
}

/* Only objects on a wanted path are entered; simdjson has checked the rest already. */
static int
fields_open(void *ctx, int is_object)
{
	struct fields *f = ctx;
	int n = fields_target(f);

	if (n >= 0 && is_object && f->nodes[n].path >= 0)
		f->out[f->nodes[n].path].found = CODEC_OBJECT;
	if (!is_object || n < 0 || f->nodes[n].first_child < 0)
		return SIMD_SKIP;
	f->stack[f->depth++] = (struct fields_frame){ n, -1 };
	return SIMD_GO;
}

static int
fields_close(void *ctx)
{
	struct fields *f = ctx;

	f->depth--;
	return SIMD_GO;
}

static int
fields_key(void *ctx, const char *key, size_t len)
{
	struct fields *f = ctx;
	struct fields_frame *top = &f->stack[f->depth - 1];

	top->want = fields_child(f, top->node, key, len);
	if (top->want >= 0)
		fields_clear(f->out, f->nodes[top->want].below);	/* a duplicate key starts over */
	return SIMD_GO;
}

static const struct simd_events fields_events = {
	.open = fields_open,
	.close = fields_close,
	.key = fields_key,
	.string = fields_string,
	.scalar = fields_scalar,
};

/* Whether c is one of set's characters (never NUL, which strchr would find at set's end). */
static int
in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* The end of the RFC 8259 number at s[i], or 0 when there is none. */
static size_t
number_end(const char *s, size_t n, size_t i)
{
#define DIGIT(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (DIGIT(i))
		while (DIGIT(i))
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		if (!DIGIT(i + 1))
			return 0;
		for (i++; DIGIT(i); i++)
			;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!DIGIT(i))
			return 0;
		while (DIGIT(i))
			i++;
	}
	return i;
#undef DIGIT
}

/*
 * json-c takes, even with JSON_TOKENER_STRICT, some of what RFC 8259 does not: NaN, Infinity,
 * leading zeros, "1.", raw control bytes in strings. And it cuts an object key at an escaped NUL,
 * so "url\u0000" would pass for "url". Over a text json-c has taken, find the first such token.
 * Outside strings such a text holds only structure, whitespace, numbers and literals.
 */
static int
jsonc_misreads(const char *s, size_t n, char *err, size_t errlen)
{
	static const char *const literals[] = { "true", "false", "null" };
	const char *why = "not a JSON token (RFC 8259)";
	size_t i = 0, end, k, len = 0;
	int nul;

	while (i < n) {
		if (s[i] == '"') {
			for (nul = 0, i++; i < n && s[i] != '"'; i++) {
				if ((unsigned char)s[i] < 0x20)
					goto bad;
				if (s[i] == '\\') {
					nul |= n - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0;
					i++;
				}
			}
			i = ws_skip(s, n, i + 1);
			if (nul && i < n && s[i] == ':') {
				why = "an object key holds \\u0000";
				goto bad;
			}
		} else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
			if ((end = number_end(s, n, i)) == 0 ||
			    (end < n && !in_set(s[end], ",]} \t\r\n")))
				goto bad;
			i = end;
		} else if (!in_set(s[i], "{}[],: \t\r\n")) {
			for (k = 0; k < 3; k++) {
				len = strlen(literals[k]);
				if (n - i >= len && memcmp(s + i, literals[k], len) == 0 &&
				    (n - i == len || in_set(s[i + len], ",]} \t\r\n")))
					break;
			}
			if (k == 3)
				goto bad;
			i += len;
		} else {
			i++;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "invalid JSON at byte %zu: %s", i, why);
	return -1;
}

/* What codec_parse's tree holds at one path: json-c's own reading, duplicates already resolved. */
static int
fields_from_tree(json_object *root, const struct codec_path *path, struct codec_field *out)
{
	json_object *v = root;	/* borrowed */
	size_t k;

	for (k = 0; k < path->depth; k++)
		if (!json_object_is_type(v, json_type_object) ||
		    !json_object_object_get_ex(v, path->keys[k], &v))
			return 0;
	if (json_object_is_type(v, json_type_object)) {
		out->found = CODEC_OBJECT;
	} else if (json_object_is_type(v, json_type_string)) {
		size_t len = (size_t)json_object_get_string_len(v);

		if ((out->str = malloc(len + 1)) == NULL)
			return -1;
		memcpy(out->str, json_object_get_string(v), len);
		out->str[len] = '\0';
		out->len = len;
		out->found = CODEC_STRING;
	}
	return 0;
}

/*
 * What json-c's tree of a text may cost, at most, per container and per value: json-c 0.16 on
 * 64-bit Linux takes about 780 bytes for an object (its 16-entry hash table), 155 for an array
 * and 75 for any other value (measured with `bmhguard review` on 8 MiB texts of each: 8 MiB of
 * "{}," made a 2.2 GB tree). The fallback builds a tree only when the text's estimate stays
 * within TREE_FACTOR times its size plus TREE_SLACK, which every real review does by far.
 */
#define TREE_OBJECT_COST 1024
#define TREE_ARRAY_COST 256
#define TREE_VALUE_COST 96
#define TREE_FACTOR 8
#define TREE_SLACK ((size_t)4 << 20)
/* Above this size the fallback runs one text at a time (as simd.cc parses large texts), so the
 * process needs room for one such tree, not one per thread. */
#define TREE_SHARED_MIN ((size_t)64 << 10)

static pthread_mutex_t big_tree = PTHREAD_MUTEX_INITIALIZER;

/* Whether json-c's tree of text stays within its bound; err says why not. A cheap byte scan
 * (strings skipped): every value follows '[', ',' or ':' or starts the text. */
int
codec_tree_affordable(const char *s, size_t n, char *err, size_t errlen)
{
	size_t i, cost = 2 * n + TREE_VALUE_COST, limit = TREE_FACTOR * n + TREE_SLACK;

	for (i = 0; i < n && cost <= limit; i++) {
		switch (s[i]) {
		case '"':
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			break;
		case '{':
			cost += TREE_OBJECT_COST;
			break;
		case '[':
			cost += TREE_ARRAY_COST + TREE_VALUE_COST;
			break;
		case ',':
		case ':':
			cost += TREE_VALUE_COST;
			break;
		default:
			break;
		}
	}
	if (cost <= limit)
		return 0;
	snprintf(err, errlen, "JSON too costly to read: it needs the slower reader (a lone \\u "
	    "surrogate, a number past 64 bits or 32 levels of nesting) and holds more objects, "
	    "arrays or values than it may build for %zu bytes", n);
	return -1;
}

/*
 * simdjson refused the text. codec_parse (json-c) says why with a byte offset, or it takes what
 * simdjson cannot hold: an integer past 64 bits, a number past double range, a lone surrogate
 * escape, 32 levels of nesting (see codec_parse_fields). Those are valid JSON, and the API server
 * may send the first two (a preserved float such as 1e20 comes out as 100000000000000000000), so
 * their fields are read from json-c's tree, unless json-c would misread the text.
 */
static int
fields_fallback(const char *text, size_t len, enum simd_status st, const char *why,
    const struct codec_path *paths, size_t npaths, struct codec_field *fields, char *err,
    size_t errlen)
{
	json_object *root = NULL;
	size_t i;
	int rc = -1, shared = len >= TREE_SHARED_MIN;

	if (codec_tree_affordable(text, len, err, errlen) != 0) {
		/* not JSON anyway: simdjson's reason, without json-c's byte offset */
		if (st == SIMD_INVALID)
			snprintf(err, errlen, "invalid JSON: %s", why != NULL ? why : "refused");
		return -1;
	}
	if (shared)
		pthread_mutex_lock(&big_tree);
	if (codec_parse(text, len, &root, err, errlen) != 0 ||
	    jsonc_misreads(text, len, err, errlen) != 0)
		goto out;
	if (st == SIMD_INVALID) {
		snprintf(err, errlen, "invalid JSON: %s", why != NULL ? why : "refused");
		goto out;
	}
	for (i = 0; i < npaths; i++) {
		if (fields_from_tree(root, &paths[i], &fields[i]) != 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	json_object_put(root);
	if (shared)
		pthread_mutex_unlock(&big_tree);
	return rc;
}

int
codec_parse_fields(const char *text, size_t len, const struct codec_path *paths, size_t npaths,
    struct codec_field *fields, char *err, size_t errlen)
{
	struct fields fs, *f = &fs;	/* about 6 KB: on the stack, as nothing outlives the call */
	enum simd_status st;
	const char *why;
	int rc = -1;

	memset(fields, 0, npaths * sizeof(*fields));
	if (len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "input too large");
		return -1;
	}
	f->depth = 0;
	f->why = NULL;
	f->out = fields;
	if (fields_build(f, paths, npaths) != 0) {
		snprintf(err, errlen, "bad field list: more than %d paths or %d keys, or a repeat",
		    FIELDS_MAX_PATHS, FIELDS_MAX_NODES - 1);
		goto out;
	}
	/* One level less than json-c allows: then no value can sit deeper than json-c allows either
	 * (it counts a value inside the 32nd level as a 33rd), and the walk need not count. */
	switch ((st = simd_read(text, len, CODEC_MAX_DEPTH - 1, &fields_events, f, &why))) {
	case SIMD_OK:
		rc = 0;
		break;
	case SIMD_STOPPED:
		snprintf(err, errlen, "%s", f->why != NULL ? f->why : "invalid JSON: refused");
		break;
	case SIMD_NOMEM:
		snprintf(err, errlen, "out of memory");
		break;
	case SIMD_TOO_DEEP:
	case SIMD_INVALID:
	case SIMD_OUT_OF_RANGE:
		codec_fields_free(fields, npaths);
		rc = fields_fallback(text, len, st, why, paths, npaths, fields, err, errlen);
		break;
	}
out:
	if (rc != 0)
		codec_fields_free(fields, npaths);
	return rc;
}

void
codec_fields_free(struct codec_field *fields, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(fields[i].str);
		fields[i] = (struct codec_field){ CODEC_ABSENT, NULL, 0 };
	}
}

const char *
codec_field_string(const struct codec_field *f)
{
	if (f->found != CODEC_STRING || strlen(f->str) != f->len)
		return NULL;
	return f->str;
}

/*
 * A span scanner over JSON that json-c has already validated. json-c cannot say where a value
 * sits in its source text, and re-serialising would alter what we must not touch (integers past
 * 64 bits are clamped, "-0" becomes "0", escapes change), so the status annotation is edited by
 * replacing exactly one string literal's bytes. Depth is bounded by the earlier parse.
 */
struct scan {
	const char *s;
	size_t n, i;
	int any;	/* the target may be any value, not only a string */
};

static void
scan_ws(struct scan *sc)
{
	sc->i = ws_skip(sc->s, sc->n, sc->i);
}

/* At '"': move past the closing quote. */
static int
scan_string(struct scan *sc)
{
	if (sc->i >= sc->n || sc->s[sc->i] != '"')
		return -1;
	for (sc->i++; sc->i < sc->n; sc->i++) {
		if (sc->s[sc->i] == '\\')
			sc->i++;
		else if (sc->s[sc->i] == '"') {
			sc->i++;
			return 0;
		}
	}
	return -1;
}

/* Whether the key literal [a, b) (quotes included) spells name, escapes decoded by json-c. */
static int
key_equals(const char *a, size_t len, const char *name)
{
	json_object *k;
	char err[8];
	int eq;

	if (memchr(a, '\\', len) == NULL)
		return len - 2 == strlen(name) && memcmp(a + 1, name, len - 2) == 0;
	if (codec_parse(a, len, &k, err, sizeof(err)) != 0)
		return 0;
	/* length too: a "\u0000" inside the key must not make it equal to its prefix */
	eq = json_object_is_type(k, json_type_string) &&
	    (size_t)json_object_get_string_len(k) == strlen(name) &&
	    memcmp(json_object_get_string(k), name, strlen(name)) == 0;
	json_object_put(k);
	return eq;
}

static int scan_value(struct scan *sc, const char *const *path, size_t depth, size_t *start,
    size_t *end, int *found);

static int
scan_container(struct scan *sc, const char *const *path, size_t depth, size_t *start,
    size_t *end, int *found)
{
	char close = sc->s[sc->i] == '{' ? '}' : ']';
	int is_object = close == '}';
	size_t key_start;
	int match;

	sc->i++;
	scan_ws(sc);
	if (sc->i < sc->n && sc->s[sc->i] == close) {
		sc->i++;
		return 0;
	}
	for (;;) {
		match = 0;
		if (is_object) {
			key_start = sc->i;
			if (scan_string(sc) != 0)
				return -1;
			match = depth > 0 &&
			    key_equals(sc->s + key_start, sc->i - key_start, path[0]);
			scan_ws(sc);
			if (sc->i >= sc->n || sc->s[sc->i] != ':')
				return -1;
			sc->i++;
			scan_ws(sc);
		}
		if (match) {
			/* a later duplicate replaces the whole value, as in json-c: what an
			 * earlier one held at the path is gone */
			*found = 0;
			if (scan_value(sc, path + 1, depth - 1, start, end, found) != 0)
				return -1;
		} else if (scan_value(sc, NULL, 0, NULL, NULL, NULL) != 0) {
			return -1;
		}
		scan_ws(sc);
		if (sc->i >= sc->n)
			return -1;
		if (sc->s[sc->i] == close) {
			sc->i++;
			return 0;
		}
		if (sc->s[sc->i] != ',')
			return -1;
		sc->i++;
		scan_ws(sc);
	}
}

/* found == NULL: just skip the value. Otherwise depth == 0 means this value is the target. */
static int
scan_value(struct scan *sc, const char *const *path, size_t depth, size_t *start, size_t *end,
    int *found)
{
	size_t at = sc->i;

	if (sc->i >= sc->n)
		return -1;
	if (found != NULL && depth == 0 && sc->any) {
		if (scan_value(sc, NULL, 0, NULL, NULL, NULL) != 0)
			return -1;
		*start = at;
		*end = sc->i;
		*found = 1;
		return 0;
	}
	switch (sc->s[sc->i]) {
	case '"':
		if (scan_string(sc) != 0)
			return -1;
		if (found != NULL && depth == 0) {
			*start = at;
			*end = sc->i;
			*found = 1;
		}
		return 0;
	case '{':
		/* only objects lead further along a path of keys */
		if (found != NULL && depth > 0)
			return scan_container(sc, path, depth, start, end, found);
		return scan_container(sc, NULL, 0, NULL, NULL, NULL);
	case '[':
		return scan_container(sc, NULL, 0, NULL, NULL, NULL);
	default:
		/* number, true, false, null: up to the next delimiter */
		while (sc->i < sc->n && strchr(",]} \t\r\n", sc->s[sc->i]) == NULL)
			sc->i++;
		return sc->i > at ? 0 : -1;
	}
}

/* The span at path: of a string only, or (any_value) of whatever value stands there. */
static int
locate(const char *text, size_t len, const char *const *path, size_t depth, int any_value,
    size_t *start, size_t *end)
{
	struct scan sc = { text, len, 0, any_value };
	int found = 0;

	scan_ws(&sc);
	if (scan_value(&sc, path, depth, start, end, &found) != 0)
		return -1;
	return found ? 0 : -1;
}

int
codec_locate_string(const char *text, size_t len, const char *const *path, size_t depth,
    size_t *start, size_t *end)
{
	return locate(text, len, path, depth, 0, start, end);
}

int
codec_locate_value(const char *text, size_t len, const char *const *path, size_t depth,
    size_t *start, size_t *end)
{
	return locate(text, len, path, depth, 1, start, end);
}

/* json-c's escapes (json_escape_str): the short forms for \b \f \n \r \t " and \\, \u00xx in lower
 * case for the other control characters, everything else (UTF-8 included) as it is. */
enum buf_rc
codec_add_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *c = (const unsigned char *)s;
	size_t run;
	char esc[7];

	buf_add(b, "\"", 1);
	while (*c != '\0') {
		for (run = 0; c[run] >= 0x20 && c[run] != '"' && c[run] != '\\'; run++)
			;
		buf_add(b, c, run);
		if (c[run] == '\0')
			break;
		c += run;
		esc[0] = '\\';
		switch (*c) {
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*c >> 4];
			esc[5] = hex[*c & 0xf];
			buf_add(b, esc, 6);
			c++;
			continue;
		}
		buf_add(b, esc, 2);
		c++;
	}
	return buf_add(b, "\"", 1);
}

size_t
codec_string_max(const char *s)
{
	return 6 * strlen(s) + 2;
}

char *
codec_quote(const char *s)
{
	struct buf b;

	buf_init(&b, codec_string_max(s));
	codec_add_string(&b, s);
	return buf_take(&b, NULL);
}

char *
codec_pointer(const char *const *segments, size_t n)
{
	size_t i, len = 1;
	const char *c;
	char *out, *w;

	for (i = 0; i < n; i++)
		for (len++, c = segments[i]; *c; c++)
			len += (*c == '~' || *c == '/') ? 2 : 1;
	if ((out = malloc(len)) == NULL)
		return NULL;
	w = out;
	for (i = 0; i < n; i++) {
		*w++ = '/';
		for (c = segments[i]; *c; c++) {
			if (*c == '~' || *c == '/') {
				*w++ = '~';
				*w++ = *c == '~' ? '0' : '1';
			} else {
				*w++ = *c;
			}
		}
	}
	*w = '\0';
	return out;
}

char *
codec_base64(const void *data, size_t len)
{
	char *out;

	if (len > (size_t)INT32_MAX / 2)
		return NULL;
	if ((out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}
