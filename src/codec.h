/* codec.h - JSON in and out for admission reviews: strict parsing, RFC 6901 pointers, base64, span splicing. */
#ifndef BMHGUARD_CODEC_H
#define BMHGUARD_CODEC_H

#include <stddef.h>
#include <json-c/json.h>

#include "buf.h"

/* Deepest nesting accepted. A BareMetalHost review is about 10 levels deep; json-c's own default
 * of 32 leaves room, and a deeper tokener costs more to set up on every request. */
#define CODEC_MAX_DEPTH 32

/* Parse exactly len bytes of JSON (trailing whitespace allowed, nothing else), rejecting invalid
 * UTF-8 and nesting beyond CODEC_MAX_DEPTH. Returns 0 and an owned *out (json_object_put it), or
 * -1 with one line in err. */
int codec_parse(const char *text, size_t len, json_object **out, char *err, size_t errlen);

/* A member a caller reads: a path of object keys from the top level (depth 0: the top level). */
struct codec_path {
	const char *const *keys;
	size_t depth;
};

/* What codec_parse_fields found at one path. */
enum codec_found {
	CODEC_ABSENT = 0,	/* missing, or a number, literal or array */
	CODEC_STRING,
	CODEC_OBJECT
};

struct codec_field {
	enum codec_found found;
	char *str;	/* CODEC_STRING: the decoded bytes, NUL-terminated; owned by the field */
	size_t len;	/* may count NULs from "\u0000" */
};

/* Validate exactly len bytes as codec_parse does (strict grammar, RFC 3629 UTF-8, nesting at most
 * CODEC_MAX_DEPTH) with simdjson, and fill fields[i] with what stands at paths[i] (at most 64
 * distinct paths). Duplicate keys: the last one wins, as in codec_parse. What simdjson will not
 * hold but JSON allows (integers past 64 bits, numbers past double range, lone surrogate escapes,
 * 32 levels of nesting) is read through codec_parse instead, RFC 8259's rules kept.
 * Returns 0 with fields[] to release with codec_fields_free(), or -1 with one line in err and
 * every field absent.
 * Why: the admission decision reads a dozen strings of an 8 KB review; a json-c tree of all of it
 * costs about twenty times what simdjson needs to validate it, and this copies out only those. */
int codec_parse_fields(const char *text, size_t len, const struct codec_path *paths,
    size_t npaths, struct codec_field *fields, char *err, size_t errlen);

void codec_fields_free(struct codec_field *fields, size_t n);

/* The field's string, borrowed, or NULL when it is not a string or holds a NUL (a C string would
 * end early and a rewrite would truncate the value). */
const char *codec_field_string(const struct codec_field *f);

/* Find the byte span [*start, *end) of the JSON string literal (quotes included) at path in the
 * JSON text, which must already be known valid (codec_parse). Duplicate keys: the last one wins,
 * as in json-c. Returns 0 when found, -1 otherwise. */
int codec_locate_string(const char *text, size_t len, const char *const *path, size_t depth,
    size_t *start, size_t *end);

/* codec_locate_string for a value of any type (an array, an object, ...): its span, whitespace
 * around it excluded. */
int codec_locate_value(const char *text, size_t len, const char *const *path, size_t depth,
    size_t *start, size_t *end);

/* Whether a json-c tree of the len bytes at text (codec_parse) stays within what the reader may
 * build for them (objects cost json-c about 780 bytes each: 8 MiB of "{}," made a 2.2 GB tree);
 * -1 with one line in err when not. A byte scan, no allocation. */
int codec_tree_affordable(const char *text, size_t len, char *err, size_t errlen);

/* s as a JSON string literal (quoted, escaped, '/' not escaped). Caller frees. NULL on ENOMEM. */
char *codec_quote(const char *s);

/* JSON text written straight out, for what the webhook writes on every request (the response, the
 * patch, rewrite log lines): json-c would build and hash an object per level only to print it.
 * Structure (braces, colons, literals) goes in with buf_addstr(); the caller keeps it valid JSON.
 * Append s as a JSON string literal (quoted, escaped) as json-c writes it with
 * JSON_C_TO_STRING_NOSLASHESCAPE, byte for byte. Returns b's state (sticky, see buf.h). */
enum buf_rc codec_add_string(struct buf *b, const char *s);
/* The most bytes codec_add_string() can write for s: a cap that escaping never passes. */
size_t codec_string_max(const char *s);

/* An RFC 6901 JSON pointer from segments: "~" -> "~0", "/" -> "~1". Caller frees. */
char *codec_pointer(const char *const *segments, size_t n);

/* Standard base64 (RFC 4648, OpenSSL EVP_EncodeBlock) of len bytes on one line, NUL-terminated:
 * the patch of a response, the caBundle of a certificate. Caller frees; NULL when out of memory. */
char *codec_base64(const void *data, size_t len);

#endif
