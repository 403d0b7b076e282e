/* test_codec.c - codec_parse_fields(): paths, escapes, duplicates, limits and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "check.h"
#include "codec.h"

/* A path from a brace list of keys, as review.c writes them. */
#define KEYS(...) { (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) }
#define TOP { NULL, 0 }
#define NPATHS(a) (sizeof(a) / sizeof((a)[0]))

static char err[512];

/* codec_parse_fields on a NUL-terminated document. */
static int
parse(const char *doc, const struct codec_path *paths, size_t n, struct codec_field *f)
{
	err[0] = '\0';
	return codec_parse_fields(doc, strlen(doc), paths, n, f, err, sizeof(err));
}

/* Whether f is a string of exactly these bytes. */
static int
is_string(const struct codec_field *f, const char *bytes, size_t len)
{
	return f->found == CODEC_STRING && f->str != NULL && f->len == len &&
	    memcmp(f->str, bytes, len) == 0 && f->str[len] == '\0';
}

static int
all_absent(const struct codec_field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (f[i].found != CODEC_ABSENT || f[i].str != NULL || f[i].len != 0)
			return 0;
	return 1;
}

/* What the reference (codec_parse, json-c) holds at path: -1 refused, else an enum codec_found
 * (numbers, literals and arrays count as absent); a string's bytes go to *s, *len. */
static int
reference(const char *doc, const struct codec_path *p, const char **s, size_t *len,
    json_object **keep)
{
	json_object *v;
	char e[256];
	size_t k;

	if (codec_parse(doc, strlen(doc), keep, e, sizeof(e)) != 0)
		return -1;
	v = *keep;
	for (k = 0; k < p->depth; k++)
		if (!json_object_is_type(v, json_type_object) ||
		    !json_object_object_get_ex(v, p->keys[k], &v))
			return CODEC_ABSENT;
	if (json_object_is_type(v, json_type_object))
		return CODEC_OBJECT;
	if (json_object_is_type(v, json_type_string)) {
		*s = json_object_get_string(v);
		*len = (size_t)json_object_get_string_len(v);
		return CODEC_STRING;
	}
	return CODEC_ABSENT;
}

/* codec_parse_fields and codec_parse agree on every path of doc. */
static int
agrees_with_reference(const char *doc, const struct codec_path *paths, size_t n)
{
	struct codec_field f[8];
	json_object *tree = NULL;
	const char *s = NULL;
	size_t i, len = 0;
	int ok, kind;

	if (n > 8 || parse(doc, paths, n, f) != 0)
		return 0;
	ok = 1;
	for (i = 0; i < n && ok; i++) {
		kind = reference(doc, &paths[i], &s, &len, &tree);
		ok = kind == (int)f[i].found && (kind != CODEC_STRING || is_string(&f[i], s, len));
		json_object_put(tree);
		tree = NULL;
	}
	codec_fields_free(f, n);
	return ok;
}

static int
reference_refuses(const char *doc)
{
	json_object *tree = NULL;
	char e[256];

	if (codec_parse(doc, strlen(doc), &tree, e, sizeof(e)) == 0) {
		json_object_put(tree);
		return 0;
	}
	return 1;
}

static void
test_strings(void)
{
	const struct codec_path paths[] = {
		KEYS("request", "object", "spec", "image", "url"),
		KEYS("request", "object", "spec", "image", "checksum"),
		KEYS("request", "uid"),
		KEYS("esc"),
		KEYS("utf8"),
		KEYS("request", "missing"),
		KEYS("nope", "deeper"),
	};
	const char *doc =
	    "{\"request\":{\"uid\":\"u-1\",\"object\":{\"spec\":{\"online\":true,"
	    "\"image\":{\"url\":\"http://10.0.0.1/i.qcow2\",\"checksum\":\"\"}}}},"
	    "\"esc\":\"\\u0041\\/\\\"\\\\\\n\\t\",\"utf8\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\"}";
	struct codec_field f[NPATHS(paths)];

	if (!CHECK(parse(doc, paths, NPATHS(paths), f) == 0, "strings: valid review parses (%s)",
	    err))
		return;
	CHECK(is_string(&f[0], "http://10.0.0.1/i.qcow2", 23), "strings: 5-deep path found");
	CHECK(is_string(&f[1], "", 0), "strings: empty string found, len 0");
	CHECK(is_string(&f[2], "u-1", 3), "strings: 2-deep path found");
	CHECK(is_string(&f[3], "A/\"\\\n\t", 6), "strings: \\u0041 \\/ \\\" \\\\ \\n \\t decoded");
	CHECK(is_string(&f[4], "\xc3\xa9\xf0\x9f\x98\x80\xc3\xa9", 8),
	    "strings: \\u00e9, a surrogate pair and raw UTF-8 decoded to UTF-8");
	CHECK(f[5].found == CODEC_ABSENT && f[5].str == NULL, "strings: missing key is absent");
	CHECK(f[6].found == CODEC_ABSENT, "strings: missing parent is absent");
	CHECK_STR(codec_field_string(&f[0]), "http://10.0.0.1/i.qcow2",
	    "strings: codec_field_string gives the bytes");
	CHECK(codec_field_string(&f[5]) == NULL, "strings: codec_field_string of absent is NULL");
	codec_fields_free(f, NPATHS(paths));
	CHECK(agrees_with_reference(doc, paths, 7), "strings: codec_parse reads the same");

	/* a top-level string at the depth-0 path */
	{
		static const struct codec_path top[] = { TOP };
		struct codec_field t[1];

		CHECK(parse("  \"x\\u0062\"\n", top, 1, t) == 0 && is_string(&t[0], "xb", 2),
		    "strings: top-level string at the depth-0 path");
		codec_fields_free(t, 1);
	}
}

static void
test_escaped_keys(void)
{
	const struct codec_path paths[] = {
		KEYS("spec", "image", "url"),
		KEYS("spec", "x/y"),
		KEYS("spec", "spe"),
	};
	struct codec_field f[NPATHS(paths)];
	const char *doc = "{\"\\u0073pec\":{\"im\\u0061g\\u0065\":{\"\\u0075\\u0072\\u006C\":\"U\"},"
	    "\"x\\/y\":\"slash\",\"spe\\u0000\":\"nul\"}}";

	if (CHECK(parse(doc, paths, NPATHS(paths), f) == 0, "escaped keys: parses (%s)", err)) {
		CHECK(is_string(&f[0], "U", 1), "escaped keys: \\u0073pec/im\\u0061g\\u0065/"
		    "\\u0075\\u0072\\u006C match spec/image/url");
		CHECK(is_string(&f[1], "slash", 5), "escaped keys: \"x\\/y\" matches x/y");
		CHECK(f[2].found == CODEC_ABSENT,
		    "escaped keys: \"spe\\u0000\" (4 bytes) does not match \"spe\"");
	}
	codec_fields_free(f, NPATHS(paths));

	/* an escaped spelling is the same key: a later plain duplicate still wins, and back */
	if (CHECK(parse("{\"spec\":{\"image\":{\"url\":\"first\"}},"
	    "\"\\u0073pec\":{\"image\":{\"url\":\"second\"}}}", paths, 1, f) == 0,
	    "escaped keys: escaped duplicate parses (%s)", err))
		CHECK(is_string(&f[0], "second", 6), "escaped keys: escaped duplicate wins when last");
	codec_fields_free(f, 1);
	if (CHECK(parse("{\"\\u0073pec\":{\"image\":{\"url\":\"first\"}},"
	    "\"spec\":{\"image\":{\"url\":\"second\"}}}", paths, 1, f) == 0,
	    "escaped keys: plain duplicate parses (%s)", err))
		CHECK(is_string(&f[0], "second", 6), "escaped keys: plain duplicate wins when last");
	codec_fields_free(f, 1);
}

static void
test_objects(void)
{
	const struct codec_path paths[] = {
		TOP,
		KEYS("a"),
		KEYS("a", "b"),
		KEYS("a", "b", "c"),
		KEYS("n"), KEYS("arr"), KEYS("t"), KEYS("f"), KEYS("z"),
		KEYS("s", "x"),
		KEYS("arr", "x"),
		KEYS("s"),
	};
	const char *doc = "{\"a\":{\"b\":{\"c\":{}}},\"n\":1.5e3,\"arr\":[{\"x\":\"in array\"}],"
	    "\"t\":true,\"f\":false,\"z\":null,\"s\":\"str\"}";
	struct codec_field f[NPATHS(paths)];
	static const struct codec_path top[] = { TOP };
	static const char *const scalars[] = { "[]", "[{}]", "1", "-0.5e-3", "true", "false", "null" };
	size_t i;

	if (CHECK(parse(doc, paths, NPATHS(paths), f) == 0, "objects: parses (%s)", err)) {
		CHECK(f[0].found == CODEC_OBJECT && f[0].str == NULL,
		    "objects: depth-0 path on a top-level object is CODEC_OBJECT");
		CHECK(f[1].found == CODEC_OBJECT && f[2].found == CODEC_OBJECT &&
		    f[3].found == CODEC_OBJECT, "objects: nested objects at 1, 2, 3 keys");
		CHECK(codec_field_string(&f[1]) == NULL, "objects: codec_field_string of an object "
		    "is NULL");
		CHECK(f[4].found == CODEC_ABSENT, "objects: a number at the path is absent");
		CHECK(f[5].found == CODEC_ABSENT, "objects: an array at the path is absent");
		CHECK(f[6].found == CODEC_ABSENT && f[7].found == CODEC_ABSENT,
		    "objects: true/false at the path are absent");
		CHECK(f[8].found == CODEC_ABSENT, "objects: null at the path is absent");
		CHECK(f[9].found == CODEC_ABSENT,
		    "objects: a string where an object is on the way: the deeper path is absent");
		CHECK(f[10].found == CODEC_ABSENT,
		    "objects: an array on the way does not lead to the key inside its object");
		CHECK(is_string(&f[11], "str", 3), "objects: the string itself is found");
	}
	codec_fields_free(f, NPATHS(paths));

	for (i = 0; i < NPATHS(scalars); i++) {
		struct codec_field t[1];

		if (CHECK(parse(scalars[i], top, 1, t) == 0, "objects: top-level %s parses (%s)",
		    scalars[i], err))
			CHECK(t[0].found == CODEC_ABSENT, "objects: depth-0 path on top-level %s is "
			    "absent", scalars[i]);
		codec_fields_free(t, 1);
	}
}

static void
test_duplicates(void)
{
	const struct codec_path paths[] = { KEYS("k"), KEYS("k", "a"), KEYS("k", "b"), TOP };
	struct codec_field f[NPATHS(paths)];
	const char *doc;

	doc = "{\"k\":\"s\",\"k\":1}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: string then number parses"))
		CHECK(f[0].found == CODEC_ABSENT && f[0].str == NULL,
		    "duplicates: string then number: absent");
	codec_fields_free(f, 4);
	CHECK(agrees_with_reference(doc, paths, 4), "duplicates: string then number as codec_parse");

	doc = "{\"k\":1,\"k\":\"s\"}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: number then string parses"))
		CHECK(is_string(&f[0], "s", 1), "duplicates: number then string: the string");
	codec_fields_free(f, 4);
	CHECK(agrees_with_reference(doc, paths, 4), "duplicates: number then string as codec_parse");

	doc = "{\"k\":\"first\",\"k\":\"second\"}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: string then string parses"))
		CHECK(is_string(&f[0], "second", 6), "duplicates: string then string: the last");
	codec_fields_free(f, 4);

	doc = "{\"k\":{\"a\":\"1\",\"b\":\"2\"},\"x\":[],\"k\":{\"a\":\"3\"}}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: object then object parses")) {
		CHECK(f[0].found == CODEC_OBJECT, "duplicates: object then object: an object");
		CHECK(is_string(&f[1], "3", 1), "duplicates: object then object: the last one's a");
		CHECK(f[2].found == CODEC_ABSENT,
		    "duplicates: object then object: b of the first object is gone");
	}
	codec_fields_free(f, 4);
	CHECK(agrees_with_reference(doc, paths, 4), "duplicates: object then object as codec_parse");

	doc = "{\"k\":{\"a\":\"1\"},\"k\":\"s\"}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: object then string parses")) {
		CHECK(is_string(&f[0], "s", 1), "duplicates: object then string: the string");
		CHECK(f[1].found == CODEC_ABSENT, "duplicates: object then string: k.a is gone");
	}
	codec_fields_free(f, 4);
	CHECK(agrees_with_reference(doc, paths, 4), "duplicates: object then string as codec_parse");

	doc = "{\"k\":\"s\",\"k\":{\"b\":\"2\"}}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: string then object parses")) {
		CHECK(f[0].found == CODEC_OBJECT && f[0].str == NULL,
		    "duplicates: string then object: an object, the string freed");
		CHECK(is_string(&f[2], "2", 1), "duplicates: string then object: k.b found");
	}
	codec_fields_free(f, 4);
	CHECK(agrees_with_reference(doc, paths, 4), "duplicates: string then object as codec_parse");

	doc = "{\"k\":{\"a\":\"1\"},\"k\":null}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: object then null parses"))
		CHECK(all_absent(f, 3), "duplicates: object then null: k and k.a absent");
	codec_fields_free(f, 4);

	/* a duplicate inside a nested object only resets that member */
	doc = "{\"k\":{\"a\":\"1\",\"b\":\"2\",\"a\":[\"x\"]}}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: inner duplicate parses")) {
		CHECK(f[0].found == CODEC_OBJECT && f[1].found == CODEC_ABSENT &&
		    is_string(&f[2], "2", 1), "duplicates: inner duplicate resets only k.a");
	}
	codec_fields_free(f, 4);
	CHECK(agrees_with_reference(doc, paths, 4), "duplicates: inner duplicate as codec_parse");

	/* a same-named key in an object off the path changes nothing */
	doc = "{\"k\":\"s\",\"other\":{\"k\":1}}";
	if (CHECK(parse(doc, paths, 4, f) == 0, "duplicates: same key elsewhere parses"))
		CHECK(is_string(&f[0], "s", 1), "duplicates: a nested \"k\" elsewhere does not reset k");
	codec_fields_free(f, 4);
}

static void
test_nul(void)
{
	const struct codec_path paths[] = { KEYS("k"), KEYS("plain") };
	struct codec_field f[2];

	if (CHECK(parse("{\"k\":\"a\\u0000b\",\"plain\":\"ab\"}", paths, 2, f) == 0,
	    "nul: parses (%s)", err)) {
		CHECK(is_string(&f[0], "a\0b", 3), "nul: \\u0000 kept, len 3 counts it");
		CHECK(codec_field_string(&f[0]) == NULL, "nul: codec_field_string refuses it");
		CHECK(codec_field_string(&f[1]) == f[1].str && f[1].str != NULL,
		    "nul: codec_field_string gives a NUL-free string");
	}
	codec_fields_free(f, 2);
	if (CHECK(parse("{\"k\":\"\\u0000\"}", paths, 1, f) == 0, "nul: lone \\u0000 parses"))
		CHECK(is_string(&f[0], "\0", 1) && codec_field_string(&f[0]) == NULL,
		    "nul: lone \\u0000 is len 1 and refused as a C string");
	codec_fields_free(f, 1);
}

/* n nested containers: SHAPE_ARRAYS [[...]], SHAPE_OBJECTS {"a":{"a":...{}}} (n objects), or
 * SHAPE_STRING {"a":...{"a":"x"}} (n objects, a string innermost). Caller frees. */
enum shape { SHAPE_ARRAYS, SHAPE_OBJECTS, SHAPE_STRING };

static char *
nested(int n, enum shape shape)
{
	char *s = malloc((size_t)n * 6 + 8), *w = s;
	int i, wrap = shape == SHAPE_OBJECTS ? n - 1 : n;

	for (i = 0; i < wrap; i++)
		w += sprintf(w, shape == SHAPE_ARRAYS ? "[" : "{\"a\":");
	if (shape == SHAPE_OBJECTS)
		w += sprintf(w, "{}");
	else if (shape == SHAPE_STRING)
		w += sprintf(w, "\"x\"");
	for (i = 0; i < wrap; i++)
		*w++ = shape == SHAPE_ARRAYS ? ']' : '}';
	*w = '\0';
	return s;
}

/* Nesting is counted in open containers, at most CODEC_MAX_DEPTH. Only shapes on which
 * codec_parse agrees: json-c also counts a non-container value inside the innermost container
 * as a level, so it refuses 32 arrays around a 1 ([[...[1]...]]) where codec_parse_fields, as
 * written, accepts it; that is left to the differential fuzzer (fuzz/codec_fuzz.c). */
static void
test_nesting(void)
{
	static const char *const a32[32] = { "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
		"a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
		"a", "a", "a", "a" };
	const struct codec_path deep31[] = { { a32, 31 }, { NULL, 0 } };
	struct codec_field f[2];
	char *doc;

	doc = nested(CODEC_MAX_DEPTH, SHAPE_ARRAYS);
	CHECK(parse(doc, deep31 + 1, 1, f) == 0 && f[0].found == CODEC_ABSENT,
	    "nesting: 32 nested arrays accepted (%s)", err);
	codec_fields_free(f, 1);
	CHECK(agrees_with_reference(doc, deep31 + 1, 1), "nesting: codec_parse takes 32 arrays too");
	free(doc);

	doc = nested(CODEC_MAX_DEPTH + 1, SHAPE_ARRAYS);
	CHECK(parse(doc, deep31 + 1, 1, f) == -1 && strstr(err, "nested deeper") != NULL &&
	    all_absent(f, 1), "nesting: 33 nested arrays refused: %s", err);
	free(doc);

	doc = nested(CODEC_MAX_DEPTH, SHAPE_OBJECTS);
	if (CHECK(parse(doc, deep31, 2, f) == 0, "nesting: 32 nested objects accepted (%s)", err))
		CHECK(f[0].found == CODEC_OBJECT && f[1].found == CODEC_OBJECT,
		    "nesting: the innermost object at a 31-key path found");
	codec_fields_free(f, 2);
	CHECK(agrees_with_reference(doc, deep31, 2), "nesting: codec_parse reads 32 objects too");
	free(doc);

	doc = nested(CODEC_MAX_DEPTH + 1, SHAPE_OBJECTS);
	CHECK(parse(doc, deep31, 2, f) == -1 && strstr(err, "nested deeper") != NULL &&
	    all_absent(f, 2), "nesting: 33 nested objects refused, fields absent: %s", err);
	free(doc);

	doc = nested(CODEC_MAX_DEPTH - 1, SHAPE_STRING);
	if (CHECK(parse(doc, deep31, 2, f) == 0, "nesting: 31 objects around a string (%s)", err))
		CHECK(is_string(&f[0], "x", 1), "nesting: the string at a 31-key path found");
	codec_fields_free(f, 2);
	CHECK(agrees_with_reference(doc, deep31, 2), "nesting: codec_parse reads the string too");
	free(doc);

	/* a value inside the 32nd level counts as a 33rd, as in json-c (found by codec_fuzz) */
	doc = nested(CODEC_MAX_DEPTH, SHAPE_STRING);
	CHECK(parse(doc, deep31, 2, f) == -1 && strstr(err, "nested deeper") != NULL &&
	    all_absent(f, 2), "nesting: 32 objects around a string refused: %s", err);
	CHECK(reference_refuses(doc), "nesting: codec_parse refuses it too");
	free(doc);
	{
		char one[2 * CODEC_MAX_DEPTH + 2], *w = one;
		int i;

		for (i = 0; i < CODEC_MAX_DEPTH; i++)
			*w++ = '[';
		*w++ = '1';
		for (i = 0; i < CODEC_MAX_DEPTH; i++)
			*w++ = ']';
		*w = '\0';
		CHECK(parse(one, deep31 + 1, 1, f) == -1 && strstr(err, "nested deeper") != NULL,
		    "nesting: 32 arrays around a number refused: %s", err);
		CHECK(reference_refuses(one), "nesting: codec_parse refuses it too");
	}

	/* the limit counts open containers, not how many came before */
	doc = malloc(200 * (2 * CODEC_MAX_DEPTH + 1) + 8);
	{
		char *w = doc;
		int i;

		*w++ = '[';
		for (i = 0; i < 200; i++) {
			char *one = nested(CODEC_MAX_DEPTH - 1, SHAPE_ARRAYS);

			w += sprintf(w, "%s%s", i ? "," : "", one);
			free(one);
		}
		*w++ = ']';
		*w = '\0';
	}
	CHECK(parse(doc, deep31 + 1, 1, f) == 0, "nesting: 200 siblings 32 deep accepted (%s)",
	    err);
	codec_fields_free(f, 1);
	free(doc);
}

struct bad {
	const char *name;
	const char *doc;
	size_t len;	/* 0: strlen */
};

static void
test_invalid(void)
{
	/* each would yield k = "v" if the parse stopped early */
	static const struct bad bad[] = {
		{ "trailing garbage", "{\"k\":\"v\"} x", 0 },
		{ "two documents", "{\"k\":\"v\"} {}", 0 },
		{ "{} {}", "{} {}", 0 },
		{ "trailing NUL", "{\"k\":\"v\"}\0", 10 },
		{ "block comment after", "{\"k\":\"v\"} /* c */", 0 },
		{ "block comment before", "/* c */ {\"k\":\"v\"}", 0 },
		{ "line comment", "{\"k\":\"v\"} // c", 0 },
		{ "comment inside", "{\"k\":\"v\", /* c */ \"n\":1}", 0 },
		{ "NaN", "{\"k\":\"v\",\"n\":NaN}", 0 },
		{ "Infinity", "{\"k\":\"v\",\"n\":-Infinity}", 0 },
		{ "1.", "{\"k\":\"v\",\"n\":1.}", 0 },
		{ "leading zero", "{\"k\":\"v\",\"n\":-01}", 0 },
		{ "single-quoted key", "{\"k\":\"v\",'n':1}", 0 },
		{ "raw TAB in a string", "{\"k\":\"v\",\"t\":\"a\tb\"}", 0 },
		{ "raw LF in a string", "{\"k\":\"v\",\"t\":\"a\nb\"}", 0 },
		{ "raw TAB in the wanted string", "{\"k\":\"v\tv\"}", 0 },
		{ "unterminated string", "{\"k\":\"v\",\"t\":\"abc", 0 },
		{ "empty input", "", 0 },
		{ "only whitespace", " \r\n\t", 0 },
		{ "overlong UTF-8 (C0 AF)", "{\"k\":\"v\",\"t\":\"\xc0\xaf\"}", 0 },
		{ "encoded surrogate (ED A0 80)", "{\"k\":\"v\",\"t\":\"\xed\xa0\x80\"}", 0 },
		{ "invalid UTF-8 byte FF", "{\"k\":\"v\",\"t\":\"\xff\"}", 0 },
		{ "invalid UTF-8 in a key", "{\"k\":\"v\",\"\xff\":1}", 0 },
		{ "bad escape", "{\"k\":\"v\",\"t\":\"\\x\"}", 0 },
		{ "short \\u", "{\"k\":\"v\",\"t\":\"\\u12\"}", 0 },
		{ "trailing comma", "{\"k\":\"v\",}", 0 },
		{ "missing colon", "{\"k\" \"v\"}", 0 },
		{ "bare word", "{\"k\":\"v\",\"t\":True}", 0 },
		{ "UTF-8 BOM", "\xef\xbb\xbf{\"k\":\"v\"}", 0 },
		/* found by codec_fuzz: yajl 2.1.0, an earlier reader, took these */
		{ "VT before", "\v{\"k\":\"v\"}", 0 },
		{ "FF after", "{\"k\":\"v\"}\f", 0 },
		{ "FF between tokens", "{\"k\":\"v\",\"n\":[1\f]}", 0 },
		{ "unterminated string after the document", "{\"k\":\"v\"}\"x", 0 },
		{ "unterminated string after a number", "2\"6", 0 },
		{ "unterminated string after an empty object", "{}\"", 0 },
	};
	const struct codec_path paths[] = { KEYS("k"), TOP };
	struct codec_field f[2];
	size_t i, len;
	int rc;

	for (i = 0; i < NPATHS(bad); i++) {
		len = bad[i].len ? bad[i].len : strlen(bad[i].doc);
		/* poison the fields: they must come back absent */
		f[0] = (struct codec_field){ CODEC_OBJECT, NULL, 7 };
		f[1] = f[0];
		err[0] = '\0';
		rc = codec_parse_fields(bad[i].doc, len, paths, 2, f, err, sizeof(err));
		CHECK(rc == -1 && err[0] != '\0' && strchr(err, '\n') == NULL && all_absent(f, 2),
		    "invalid: %s refused on one line, fields absent: %s", bad[i].name, err);
	}

	CHECK(parse("{\"k\":\"v\",\"o\":{\"a\":[1,", paths, 2, f) == -1 &&
	    strstr(err, "unexpected end of input") != NULL && all_absent(f, 2),
	    "invalid: truncated document: %s", err);
	CHECK(parse("{\"k\":\"v\",\"t\":\"abc", paths, 2, f) == -1 &&
	    strstr(err, "unexpected end of input") != NULL,
	    "invalid: truncated inside a string: %s", err);
	CHECK(parse("", paths, 2, f) == -1 && strstr(err, "unexpected end of input") != NULL,
	    "invalid: empty input: %s", err);
	CHECK(parse("[1,2] x", paths, 2, f) == -1 && strstr(err, "at byte 6") != NULL,
	    "invalid: the reason names the byte, on one line: %s", err);

	/* a tiny err buffer is still a terminated string */
	{
		char small[8];

		memset(small, 'x', sizeof(small));
		CHECK(codec_parse_fields("{", 1, paths, 2, f, small, sizeof(small)) == -1 &&
		    memchr(small, '\0', sizeof(small)) != NULL, "invalid: err truncated to errlen");
	}
}

static void
test_bad_paths(void)
{
	const struct codec_path twice[] = { KEYS("a", "b"), KEYS("c"), KEYS("a", "b") };
	static const struct codec_path top_twice[] = { TOP, TOP };
	static char names[65][8];
	static const char *keyp[65];
	struct codec_path many[65];
	struct codec_field f[65];
	char *doc, *w;
	size_t i;
	int ok;

	CHECK(parse("{\"a\":{\"b\":\"x\"}}", twice, 3, f) == -1 && err[0] != '\0' &&
	    all_absent(f, 3), "bad paths: the same path twice refused: %s", err);
	CHECK(parse("{}", top_twice, 2, f) == -1 && all_absent(f, 2),
	    "bad paths: the depth-0 path twice refused: %s", err);

	doc = malloc(65 * 16 + 4);
	w = doc;
	*w++ = '{';
	for (i = 0; i < 65; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		keyp[i] = names[i];
		many[i] = (struct codec_path){ &keyp[i], 1 };
		w += sprintf(w, "%s\"k%zu\":\"v%zu\"", i ? "," : "", i, i);
	}
	*w++ = '}';
	*w = '\0';

	CHECK(parse(doc, many, 65, f) == -1 && err[0] != '\0' && all_absent(f, 65),
	    "bad paths: 65 paths refused: %s", err);
	if (CHECK(parse(doc, many, 64, f) == 0, "bad paths: 64 paths accepted (%s)", err)) {
		char want[8];

		ok = 1;
		for (i = 0; i < 64; i++) {
			snprintf(want, sizeof(want), "v%zu", i);
			ok &= is_string(&f[i], want, strlen(want));
		}
		CHECK(ok, "bad paths: all 64 found");
	}
	codec_fields_free(f, 64);
	free(doc);

	/* the 64th path's duplicate resets it too (the top bit of the mask) */
	if (CHECK(parse("{\"k63\":\"a\",\"k63\":1,\"k0\":\"b\"}", many, 64, f) == 0,
	    "bad paths: duplicate of the 64th path parses (%s)", err))
		CHECK(f[63].found == CODEC_ABSENT && is_string(&f[0], "b", 1),
		    "bad paths: the 64th path's duplicate resets it");
	codec_fields_free(f, 64);

	CHECK(parse("{}", many, 0, f) == 0, "bad paths: no paths at all is fine (%s)", err);
}

/* ~8 MiB: an array of records 28 deep with strings and numbers, the wanted keys around it. */
static void
test_big(void)
{
	const struct codec_path paths[] = { KEYS("k"), KEYS("after", "x"), TOP };
	const size_t target = 8u << 20;
	struct codec_field f[NPATHS(paths)];
	struct timespec t0, t1;
	size_t cap = target + 4096, len = 0, records = 0;
	char *doc = malloc(cap);
	double secs;
	int i, rc;

	len += (size_t)sprintf(doc, "{\"k\":\"early\",\"big\":[");
	while (len < target) {
		if (records++)
			doc[len++] = ',';
		for (i = 0; i < 14; i++)
			len += (size_t)sprintf(doc + len, "{\"k\":[");
		len += (size_t)sprintf(doc + len, "\"s\\u00e9\\n%zu\",-1.5e-7,true,null", records);
		for (i = 0; i < 14; i++)
			len += (size_t)sprintf(doc + len, "]}");
	}
	len += (size_t)sprintf(doc + len, "],\"k\":\"late\",\"after\":{\"x\":\"y\"}}");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = codec_parse_fields(doc, len, paths, NPATHS(paths), f, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (CHECK(rc == 0, "big: %zu bytes, %zu records 30 deep parse (%s)", len, records, err)) {
		CHECK(is_string(&f[0], "late", 4), "big: the last k wins over 8 MiB");
		CHECK(is_string(&f[1], "y", 1) && f[2].found == CODEC_OBJECT,
		    "big: keys after the bulk found");
	}
	/* linear work: well under a second natively, a few under valgrind */
	CHECK(secs < 30.0, "big: parsed in %.2f s", secs);
	codec_fields_free(f, NPATHS(paths));

	/* the same document cut short is refused, not half-read (too many containers for a json-c
	 * tree of it: simdjson's reason) */
	CHECK(codec_parse_fields(doc, len - 1, paths, NPATHS(paths), f, err, sizeof(err)) == -1 &&
	    strncmp(err, "invalid JSON: ", 14) == 0 && all_absent(f, NPATHS(paths)),
	    "big: truncated by one byte refused: %s", err);
	free(doc);
}

/* What only json-c reads (a lone surrogate) with millions of containers is refused from a byte
 * scan, before json-c builds a tree some hundred times the text (2.2 GB for 8 MiB of "{}"). */
static void
test_fallback_bounded(void)
{
	static const char *const k_a[] = { "a" };
	static const struct codec_path paths[] = { { k_a, 1 } };
	static const char *const kinds[] = { "{}", "[]", "0" };
	struct codec_field f[1];
	size_t cap = (8u << 20) + 64, len, k;
	char *doc = malloc(cap);

	for (k = 0; k < 3; k++) {
		len = (size_t)sprintf(doc, "{\"a\":\"\\ud800\",\"b\":[%s", kinds[k]);
		while (len + 8 < cap - 16)
			len += (size_t)sprintf(doc + len, ",%s", kinds[k]);
		len += (size_t)sprintf(doc + len, "]}");
		CHECK(codec_parse_fields(doc, len, paths, 1, f, err, sizeof(err)) == -1 &&
		    strstr(err, "too costly") != NULL && all_absent(f, 1),
		    "fallback bounded: 8 MiB of %s with a lone surrogate refused: %s", kinds[k], err);
	}
	/* the same shapes, a few of them: read as before */
	len = (size_t)sprintf(doc, "{\"a\":\"\\ud800\",\"b\":[{},{},[],0,[{}]]}");
	CHECK(codec_parse_fields(doc, len, paths, 1, f, err, sizeof(err)) == 0 &&
	    f[0].found == CODEC_STRING && f[0].len == 3, "fallback bounded: small text still read (%s)",
	    err);
	codec_fields_free(f, 1);
	free(doc);
}

/* The json-c reference agrees where codec_fuzz found codec_parse wrong. */
static void
test_reference(void)
{
	json_object *o = (json_object *)1;

	CHECK(codec_parse("null \n", 6, &o, err, sizeof(err)) == 0 && o == NULL,
	    "reference: a top-level null followed by whitespace parses (%s)", err);
	CHECK(codec_parse("null", 4, &o, err, sizeof(err)) == 0 && o == NULL,
	    "reference: a top-level null parses");
	CHECK(codec_parse("nul", 3, &o, err, sizeof(err)) == -1,
	    "reference: a truncated null is refused");
	/* a key with an escaped NUL is not its prefix when locating a string to splice */
	{
		static const char doc[] = "{\"url\":\"a\",\"url\\u0000\":\"decoy\"}";
		const char *path[] = { "url" };
		size_t st = 0, en = 0;

		CHECK(codec_locate_string(doc, strlen(doc), path, 1, &st, &en) == 0 &&
		    en - st == 3 && memcmp(doc + st, "\"a\"", 3) == 0,
		    "reference: locate skips the key \"url\\u0000\" (span %zu..%zu)", st, en);
	}
}

static void
test_free(void)
{
	const struct codec_path paths[] = { KEYS("a"), KEYS("o"), KEYS("n"), TOP };
	struct codec_field f[NPATHS(paths)];

	if (CHECK(parse("{\"a\":\"str\",\"o\":{}}", paths, 4, f) == 0, "free: parses (%s)", err))
		CHECK(f[0].found == CODEC_STRING && f[1].found == CODEC_OBJECT,
		    "free: a string and an object to release");
	codec_fields_free(f, 4);
	CHECK(all_absent(f, 4), "free: every field absent, str NULL, len 0 after free");
	codec_fields_free(f, 4);
	CHECK(all_absent(f, 4), "free: freeing twice is harmless");
	CHECK(codec_field_string(&f[0]) == NULL, "free: codec_field_string after free is NULL");
}

/* What simdjson will not hold but JSON allows is read through json-c instead: an integer past 64
 * bits, a number past double range (the API server writes a preserved 1e20 as
 * 100000000000000000000), a lone surrogate escape. json-c's looser tokens stay refused then too. */
static void
test_beyond_simdjson(void)
{
	static const char *const taken[] = {
		"{\"k\":\"v\",\"n\":18446744073709551616}",
		"{\"k\":\"v\",\"n\":100000000000000000000}",
		"{\"k\":\"v\",\"n\":-9223372036854775809}",
		"{\"k\":\"v\",\"n\":1e400}",
		"{\"k\":\"v\",\"n\":-1.5E+999}",
		"{\"k\":\"x\",\"n\":1e400,\"k\":\"v\"}",
		"{\"n\":[true,1e400,null,false],\"k\":\"v\"}",
		"{\"a\":[{\"k\":\"x\"},1e400],\"k\":\"v\"} ",
		"{\"k\":\"v\",\"t\":\"a\\\"1.\\\\\",\"n\":1e400}",
		"{\"k\":\"v\",\"t\":\"a\\u0000b\",\"x\\\\u0000\":1,\"n\":1e400}",
		"{\"k\":\"v\",\"t\":\"\\ud800\"}",
	};
	static const char *const refused[] = {
		"{\"k\":\"v\",\"n\":1e400,\"m\":NaN}",
		"{\"k\":\"v\",\"n\":1e400,\"m\":-Infinity}",
		"{\"k\":\"v\",\"n\":1e400,\"m\":01}",
		"{\"k\":\"v\",\"n\":1e400,\"m\":-01}",
		"{\"k\":\"v\",\"n\":1e400,\"m\":1.}",
		"{\"k\":\"v\",\"n\":1e400,\"m\":.5}",
		"{\"k\":\"v\",\"n\":1e400,\"m\":True}",
		"{\"k\":\"v\",\"n\":1e400,\"t\":\"a\tb\"}",
		"{\"k\":\"\\ud800\",\"m\":-01}",
		"{\"k\":\"v\",\"n\":1e400,\"t\":\"\\x\"}",
		"{\"k\":\"v\",\"n\":1e400} x",
		"{\"k\":\"v\",\"n\":1e400",
		/* json-c would read this key as "k" and take its value */
		"{\"k\":\"v\",\"n\":1e400,\"k\\u0000\":\"x\"}",
	};
	const struct codec_path paths[] = { KEYS("k"), KEYS("t") };
	struct codec_field f[2];
	const char *s = NULL;
	json_object *tree = NULL;
	size_t i, len = 0;

	for (i = 0; i < NPATHS(taken) - 1; i++) {
		if (CHECK(parse(taken[i], paths, 1, f) == 0, "beyond simdjson: %s taken (%s)",
		    taken[i], err))
			CHECK(is_string(&f[0], "v", 1), "beyond simdjson: %s: k is v", taken[i]);
		codec_fields_free(f, 1);
		CHECK(agrees_with_reference(taken[i], paths, 2),
		    "beyond simdjson: %s read as codec_parse does", taken[i]);
	}
	/* the lone surrogate: json-c's U+FFFD */
	i = NPATHS(taken) - 1;
	if (CHECK(parse(taken[i], paths, 2, f) == 0, "beyond simdjson: lone surrogate taken (%s)",
	    err) && CHECK(reference(taken[i], &paths[1], &s, &len, &tree) == CODEC_STRING,
	    "beyond simdjson: codec_parse reads the lone surrogate"))
		CHECK(is_string(&f[1], s, len) && len == 3 && memcmp(s, "\xef\xbf\xbd", 3) == 0,
		    "beyond simdjson: lone surrogate read as U+FFFD, as codec_parse does");
	json_object_put(tree);
	codec_fields_free(f, 2);

	for (i = 0; i < NPATHS(refused); i++) {
		f[0] = (struct codec_field){ CODEC_OBJECT, NULL, 7 };
		f[1] = f[0];
		CHECK(parse(refused[i], paths, 2, f) == -1 && err[0] != '\0' &&
		    strchr(err, '\n') == NULL && all_absent(f, 2),
		    "beyond simdjson: %s refused on one line, fields absent: %s", refused[i], err);
	}
	CHECK(parse(refused[0], paths, 2, f) == -1 && strstr(err, "at byte 23") != NULL,
	    "beyond simdjson: the refusal names the byte of NaN: %s", err);
}

/* codec_add_string writes strings exactly as json-c does (the response and log lines were json-c's). */
static void
test_writer(void)
{
	static const char *const samples[] = { "", "plain", "quote \" and backslash \\ and /",
		"\x01\x02\x07\b\t\n\x0b\f\r\x0e\x1f\x7f", "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80",
		"\\u0000 is text here", "ends with a backslash \\" };
	struct buf b;
	char every[256], *text;
	size_t i, len, same = 0, total = 0, within = 0;
	json_object *str;
	int c;

	for (c = 1; c < 256; c++)
		every[c - 1] = (char)c;
	every[255] = '\0';
	for (i = 0; i <= NPATHS(samples); i++) {
		const char *s = i < NPATHS(samples) ? samples[i] : every;
		const char *want;

		str = json_object_new_string(s);
		want = json_object_to_json_string_ext(str, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		buf_init(&b, codec_string_max(s));
		codec_add_string(&b, s);
		text = buf_take(&b, &len);
		total++;
		if (text != NULL && len == strlen(want) && strcmp(text, want) == 0)
			same++;
		else
			printf("# json-c %s\n# ours   %s\n", want, text ? text : "(null)");
		if (text != NULL)
			within++;
		free(text);
		json_object_put(str);
	}
	CHECK(same == total, "writer: %zu of %zu strings written as json-c writes them", same, total);
	CHECK(within == total, "writer: %zu of %zu strings fit codec_string_max", within, total);

	/* the worst case, every byte escaped to \u00xx, fits the bound exactly */
	buf_init(&b, codec_string_max("\x01\x01\x01"));
	CHECK(codec_add_string(&b, "\x01\x01\x01") == BUF_OK && b.len == 20 && b.len == b.max,
	    "writer: three control bytes are 20 bytes, codec_string_max: %zu of %zu", b.len, b.max);
	buf_free(&b);

	buf_init(&b, 64);
	buf_addstr(&b, "{\"k\":");
	codec_add_string(&b, "v\n");
	buf_addstr(&b, "}");
	text = buf_take(&b, &len);
	CHECK(text != NULL && len == 11 && strcmp(text, "{\"k\":\"v\\n\"}") == 0,
	    "writer: raw and string appends in order: %s", text ? text : "(null)");
	CHECK(b.data == NULL && b.len == 0 && b.rc == BUF_OK, "writer: empty after take");
	free(text);

	/* a long string grows the buffer past its first allocation */
	{
		char *big = malloc(100001);

		memset(big, 'x', 100000);
		big[100000] = '\0';
		big[50000] = '"';
		buf_init(&b, codec_string_max(big));
		codec_add_string(&b, big);
		text = buf_take(&b, &len);
		CHECK(text != NULL && len == 100003 && text[50001] == '\\' && text[50002] == '"',
		    "writer: a 100000-byte string with a quote inside: %zu bytes", len);
		free(text);

		/* and a cap below it is an error, not a cut string */
		buf_init(&b, 100002);
		CHECK(codec_add_string(&b, big) == BUF_TOOBIG && buf_take(&b, &len) == NULL && len == 0,
		    "writer: a string over the cap fails whole");
		free(big);
	}

	buf_init(&b, 16);
	codec_add_string(&b, "0123456789abcdef");
	buf_addstr(&b, "{}");
	CHECK(buf_take(&b, &len) == NULL && len == 0,
	    "writer: after a failed append, take gives NULL");
}

/* RFC 4648 section 10 vectors, and one line however long (the caBundle form). */
static void
test_base64(void)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char big[200], *s;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		s = codec_base64(v[i].in, strlen(v[i].in));
		CHECK(s != NULL && strcmp(s, v[i].out) == 0, "base64 '%s' is '%s': %s", v[i].in,
		    v[i].out, s ? s : "(null)");
		free(s);
	}
	memset(big, 'a', sizeof(big));
	s = codec_base64(big, sizeof(big));
	CHECK(s != NULL && strlen(s) == 268 && strchr(s, '\n') == NULL,
	    "base64 of 200 bytes is one line of 268");
	free(s);
}

/* codec_locate_value: the span of any value at a path; the last duplicate wins, as in json-c. */
static void
test_locate_value(void)
{
	static const char doc[] = "{\"spec\":{\"updates\":[{\"url\":\"a\"}, 1],\"n\":-1.5e3 ,"
	    "\"o\":{ } },\"spec\":{\"updates\" : [ \"last\" ] ,\"s\":\"x\"}}";
	const char *upd[] = { "spec", "updates" }, *n[] = { "spec", "n" }, *s[] = { "spec", "s" };
	const char *missing[] = { "spec", "o" }, *deep[] = { "spec", "updates", "url" };
	size_t st = 0, en = 0;

	CHECK(codec_locate_value(doc, strlen(doc), upd, 2, &st, &en) == 0 &&
	    en - st == 10 && memcmp(doc + st, "[ \"last\" ]", 10) == 0,
	    "locate_value: an array, the last duplicate's, whitespace excluded");
	CHECK(codec_locate_value(doc, strlen(doc), s, 2, &st, &en) == 0 &&
	    memcmp(doc + st, "\"x\"", en - st) == 0, "locate_value: a string, quotes included");
	CHECK(codec_locate_value(doc, strlen(doc), n, 2, &st, &en) != 0 &&
	    codec_locate_value(doc, strlen(doc), missing, 2, &st, &en) != 0,
	    "locate_value: members of an earlier duplicate are gone");
	CHECK(codec_locate_value(doc, strlen(doc), deep, 3, &st, &en) != 0,
	    "locate_value: arrays lead nowhere along a path of keys");
	CHECK(codec_locate_value(doc, strlen(doc), NULL, 0, &st, &en) == 0 && st == 0 &&
	    en == strlen(doc), "locate_value: depth 0 is the whole text");
	CHECK(codec_locate_string(doc, strlen(doc), upd, 2, &st, &en) != 0,
	    "locate_string still finds strings only");
	CHECK(codec_tree_affordable("[{},{}]", 7, NULL, 0) == 0, "a small tree is affordable");
}

int
main(void)
{
	test_strings();
	test_escaped_keys();
	test_objects();
	test_duplicates();
	test_nul();
	test_nesting();
	test_invalid();
	test_bad_paths();
	test_big();
	test_beyond_simdjson();
	test_fallback_bounded();
	test_writer();
	test_base64();
	test_free();
	test_reference();
	test_locate_value();
	return CHECK_DONE();
}
