/* codec.h - JSON in and out for admission reviews: strict parsing, RFC 6901 pointers, base64, span splicing. */
#ifndef BMHGUARD_CODEC_H
#define BMHGUARD_CODEC_H

#include <stddef.h>
#include <json-c/json.h>

/* Deepest nesting accepted. A BareMetalHost review is about 10 levels deep; json-c's own default
 * of 32 leaves room, and a deeper tokener costs more to set up on every request. */
#define CODEC_MAX_DEPTH 32

/* Parse exactly len bytes of JSON (trailing whitespace allowed, nothing else), rejecting invalid
 * UTF-8 and nesting beyond CODEC_MAX_DEPTH. Returns 0 and an owned *out (json_object_put it), or
 * -1 with one line in err. */
int codec_parse(const char *text, size_t len, json_object **out, char *err, size_t errlen);

/* Borrowed lookups along a path of object keys; NULL when any step is missing or not an object. */
json_object *codec_get(json_object *root, const char *const *path, size_t depth);
/* The string at path, borrowed from the object, or NULL when absent or not a string. */
const char *codec_get_string(json_object *root, const char *const *path, size_t depth);

/* Find the byte span [*start, *end) of the JSON string literal (quotes included) at path in the
 * JSON text, which must already be known valid (codec_parse). Duplicate keys: the last one wins,
 * as in json-c. Returns 0 when found, -1 otherwise. */
int codec_locate_string(const char *text, size_t len, const char *const *path, size_t depth,
    size_t *start, size_t *end);

/* s as a JSON string literal (quoted, escaped, '/' not escaped). Caller frees. NULL on ENOMEM. */
char *codec_quote(const char *s);

/* An RFC 6901 JSON pointer from segments: "~" -> "~0", "/" -> "~1". Caller frees. */
char *codec_pointer(const char *const *segments, size_t n);

/* Standard base64 (OpenSSL EVP_EncodeBlock) of len bytes, NUL-terminated. Caller frees. */
char *codec_base64(const void *data, size_t len);

#endif
