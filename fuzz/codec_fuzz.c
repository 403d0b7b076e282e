/* codec_fuzz.c - libFuzzer target: codec_parse_fields (simdjson) against codec_parse (json-c). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/*
 * A differential target: every input goes to codec_parse (json-c, the reference) and to
 * codec_parse_fields (simdjson, falling back to json-c for what simdjson will not hold) with the
 * fixed paths below. Checked, abort() on a violation:
 *
 * 1. codec_parse_fields accepts => codec_parse accepts. codec_parse_fields is meant to be the
 *    stricter of the two, so nothing is tolerated here. With yajl, the reader before simdjson,
 *    this target found four ways it was not: yajl's lexer took VT and FF for whitespace
 *    ("\v{}"); a value inside the 32nd level, which json-c counts as a 33rd ("[[...[1]...]]");
 *    yajl 2.1.0 accepting a complete value followed by an unterminated string ("{}\"x"); and,
 *    in the reference, codec_parse refusing "null " (json-c returns NULL for null).
 *
 * 2. codec_parse accepts but codec_parse_fields refuses => the input holds a form that json-c
 *    0.16 takes even with JSON_TOKENER_STRICT and RFC 8259 refuses: NaN, Infinity, -Infinity; a
 *    '.' without a digit after it ("1.", "1.E5", "0.e1"); a '-' without a digit after it ("-.1");
 *    leading zeros ("00", "-01", "00.5"); a single-quoted object key ({'a':1}); a raw control
 *    byte 0x00-0x1F inside a string. jsonc_only() looks for these with a rough lexer and is
 *    conservative, when unsure it says yes: any 'N', 'I' or '\'' outside a string, a '-' or a
 *    '.' in a number not followed by a digit, a 0 followed by a digit at the start of a number,
 *    any byte below 0x20 between double quotes. Or: an object key holds an escaped NUL (see 3.)
 *    and the text needed the json-c fallback, which refuses such keys. A difference on an input
 *    without any of them aborts.
 *
 * 3. Both accept => at every path, the json-c tree (walked with json_object_object_get_ex;
 *    json-c keeps the last duplicate) and the field agree on the kind (object / string / other:
 *    absent), and strings on their bytes and length: integers past 64 bits, numbers past double
 *    range and lone surrogate escapes go through json-c on both sides. Tolerated: every path,
 *    when an object key in the input holds an escaped NUL ("k\u0000x"): json-c cuts keys at the
 *    NUL (it keeps them as C strings), so codec_parse reads "k\u0000x" as "k", and "k" takes
 *    the value of a later "k\u0000"; codec_parse_fields compares whole keys and does not.
 *    codec_parse_fields is the right one, so this is no abort. (codec_locate_string compared
 *    keys the json-c way too, which sent a status annotation splice to a decoy "url\u0000" key;
 *    it compares lengths now.)
 *
 * 4. A refusal: one non-empty line in err and every field absent (str NULL, len 0). Always:
 *    codec_field_string() is the string exactly when it has no NUL; codec_fields_free() leaves
 *    every field absent; nothing leaks (LeakSanitizer, part of -fsanitize=address).
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYS(...) { (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) }

enum { NPATHS = 10 };


static void
die(const char *what, const uint8_t *data, size_t size)
{
	size_t i;

	fprintf(stderr, "codec_fuzz: %s\ninput (%zu bytes):", what, size);
	for (i = 0; i < size && i < 512; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "%s\n", size > 512 ? " ..." : "");
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Whether s may hold a form json-c takes and RFC 8259 refuses (see 2. above). Conservative. */
static int
jsonc_only(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];

		if (c == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] < 0x20)
					return 1;	/* raw control byte in a string */
				if (s[i] == '\\')
					i++;
			}
			i++;
		} else if (c == '\'' || c == 'N' || c == 'I') {
			return 1;		/* 'key', NaN, Infinity, -Infinity */
		} else if (c == '-' || is_digit(c)) {
			if (c == '-' && (++i >= n || !is_digit(s[i])))
				return 1;	/* "-.1", "-Infinity" */
			if (i + 1 < n && s[i] == '0' && is_digit(s[i + 1]))
				return 1;	/* leading zero */
			while (i < n && is_digit(s[i]))
				i++;
			if (i < n && s[i] == '.') {
				if (i + 1 >= n || !is_digit(s[i + 1]))
					return 1;	/* "1." */
				for (i++; i < n && is_digit(s[i]); i++)
					;
			}
			if (i < n && (s[i] == 'e' || s[i] == 'E')) {
				i++;
				if (i < n && (s[i] == '+' || s[i] == '-'))
					i++;
				while (i < n && is_digit(s[i]))
					i++;
			}
		} else {
			i++;
		}
	}
	return 0;
}

/* Whether valid JSON s has an object key holding the escape \u0000. */
static int
key_has_nul(const uint8_t *s, size_t n)
{
	size_t i, j;
	int nul;

	for (i = 0; i < n; i++) {
		if (s[i] != '"')
			continue;
		nul = 0;
		for (i++; i < n && s[i] != '"'; i++) {
			if (s[i] == '\\') {
				if (i + 5 < n && memcmp(s + i + 1, "u0000", 5) == 0)
					nul = 1;
				i++;
			}
		}
		for (j = i + 1; j < n && s[j] != '\0' && memchr(" \t\r\n\v\f", s[j], 6) != NULL; j++)
			;
		if (nul && j < n && s[j] == ':')
			return 1;
	}
	return 0;
}

/* The json-c value at path p, or NULL (missing, or on the way a non-object). */
static json_object *
walk(json_object *v, const struct codec_path *p)
{
	size_t k;

	for (k = 0; k < p->depth; k++)
		if (!json_object_is_type(v, json_type_object) ||
		    !json_object_object_get_ex(v, p->keys[k], &v))
			return NULL;
	return v;
}

static void
check_field_invariants(const struct codec_field *f, const uint8_t *data, size_t size)
{
	const char *s = codec_field_string(f);

	switch (f->found) {
	case CODEC_ABSENT:
	case CODEC_OBJECT:
		if (f->str != NULL || f->len != 0 || s != NULL)
			die("absent or object field with a string", data, size);
		break;
	case CODEC_STRING:
		if (f->str == NULL || f->str[f->len] != '\0')
			die("string field not NUL-terminated at len", data, size);
		if ((s != NULL) != (memchr(f->str, '\0', f->len) == NULL) || (s && s != f->str))
			die("codec_field_string disagrees with the NULs in the string", data, size);
		break;
	default:
		die("field with an unknown kind", data, size);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct codec_path paths[NPATHS] = {
		{ NULL, 0 },
		KEYS("a"),
		KEYS("a", "b"),
		KEYS("a", "b", "c"),
		KEYS("a", "k"),
		KEYS("k"),
		KEYS(""),
		KEYS("request"),
		KEYS("request", "object", "spec", "image", "url"),
		KEYS("request", "uid"),
	};
	struct codec_field f[NPATHS];
	char err_j[512], err_f[512];
	json_object *tree = NULL, *v;
	/* an exact-size copy, not NUL-terminated, so ASan sees any read past the end */
	char *text = malloc(size ? size : 1);
	int rc_j, rc_f, kind;
	size_t i, jlen;
	const char *js;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	err_j[0] = err_f[0] = '\0';
	rc_j = codec_parse(text, size, &tree, err_j, sizeof(err_j));
	rc_f = codec_parse_fields(text, size, paths, NPATHS, f, err_f, sizeof(err_f));
	if (rc_f != 0 && rc_f != -1)
		die("codec_parse_fields returned neither 0 nor -1", data, size);

	for (i = 0; i < NPATHS; i++)
		check_field_invariants(&f[i], data, size);

	if (rc_f != 0) {
		if (err_f[0] == '\0' || strchr(err_f, '\n') != NULL)
			die("refusal without one error line", data, size);
		for (i = 0; i < NPATHS; i++)
			if (f[i].found != CODEC_ABSENT)
				die("refusal left a field present", data, size);
		/* "too costly": the fallback's bound on json-c's tree (codec.c), by design */
		if (rc_j == 0 && !jsonc_only(data, size) && !key_has_nul(data, size) &&
		    strstr(err_f, "too costly") == NULL) {
			fprintf(stderr, "codec_parse_fields: %s\n", err_f);
			die("codec_parse accepts, codec_parse_fields refuses, no json-c-only form",
			    data, size);
		}
	} else if (rc_j != 0) {
		fprintf(stderr, "codec_parse: %s\n", err_j);
		die("codec_parse_fields accepts what codec_parse refuses", data, size);
	} else if (!key_has_nul(data, size)) {
		for (i = 0; i < NPATHS; i++) {
			v = walk(tree, &paths[i]);
			kind = json_object_is_type(v, json_type_object) ? CODEC_OBJECT :
			    json_object_is_type(v, json_type_string) ? CODEC_STRING : CODEC_ABSENT;
			if (kind != (int)f[i].found) {
				fprintf(stderr, "path %zu: json-c kind %d, fields kind %d\n", i, kind,
				    (int)f[i].found);
				die("json-c and codec_parse_fields disagree on a kind", data, size);
			}
			if (kind != CODEC_STRING)
				continue;
			js = json_object_get_string(v);
			jlen = (size_t)json_object_get_string_len(v);
			if (jlen == f[i].len && memcmp(js, f[i].str, jlen) == 0)
				continue;
			fprintf(stderr, "path %zu: json-c %zu bytes, fields %zu bytes\n", i, jlen,
			    f[i].len);
			die("json-c and codec_parse_fields disagree on a string", data, size);
		}
	}

	codec_fields_free(f, NPATHS);
	for (i = 0; i < NPATHS; i++)
		if (f[i].found != CODEC_ABSENT || f[i].str != NULL || f[i].len != 0)
			die("codec_fields_free left a field present", data, size);
	json_object_put(tree);
	free(text);
	return 0;
}
