/* review_fuzz.c - libFuzzer target: the admission decision on arbitrary request bytes. */
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "review.h"

/*
 * Beyond "no crash, no sanitizer report, no leak": a refusal fills err and leaves nothing to
 * free; an answer is one JSON AdmissionReview whose uid is the request's, whose patch (when
 * present) is base64 of a JSON array of replace ops, and whose outcome agrees with the patch.
 * Both modes run on every input; warn mode must never patch.
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy *enforce, *warn;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	enforce = policy_new();
	warn = policy_new();
	if (enforce == NULL || warn == NULL || policy_set_mode(warn, "warn", err, sizeof(err)) != 0)
		abort();
	return 0;
}

static void
die(const char *what, const struct review_result *res)
{
	fprintf(stderr, "review_fuzz: %s\nresponse: %s\n", what,
	    res->response ? res->response : "(none)");
	abort();
}

/* Decode the base64 patch and check it is a JSON array of {op: replace, path: /..., value}. */
static void
check_patch(const char *b64, const struct review_result *res)
{
	size_t len = strlen(b64), i;
	unsigned char *raw;
	int n;
	json_object *ops, *op, *v;

	if (len == 0 || len % 4 != 0 || len > (size_t)INT32_MAX)
		die("patch is not padded base64", res);
	if ((raw = malloc(len / 4 * 3 + 1)) == NULL)
		abort();
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0)
		die("patch is not base64", res);
	/* EVP_DecodeBlock counts the bytes the padding stands for */
	n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
	raw[n] = '\0';
	ops = json_tokener_parse((const char *)raw);
	if (!json_object_is_type(ops, json_type_array) || json_object_array_length(ops) == 0)
		die("decoded patch is not a non-empty JSON array", res);
	for (i = 0; i < json_object_array_length(ops); i++) {
		op = json_object_array_get_idx(ops, i);
		if (!json_object_object_get_ex(op, "op", &v) ||
		    strcmp(json_object_get_string(v), "replace") != 0 ||
		    !json_object_object_get_ex(op, "path", &v) ||
		    json_object_get_string(v)[0] != '/' ||
		    !json_object_object_get_ex(op, "value", &v) ||
		    !json_object_is_type(v, json_type_string))
			die("patch op is not a replace with a path and a string value", res);
	}
	json_object_put(ops);
	free(raw);
}

static void
check_response(const struct review_result *res, int warn_mode)
{
	json_object *doc, *resp, *v;
	const char *patch = NULL;

	if (res->response == NULL || strlen(res->response) != res->response_len)
		die("response length", res);
	doc = json_tokener_parse(res->response);
	if (!json_object_object_get_ex(doc, "response", &resp) ||
	    !json_object_object_get_ex(resp, "uid", &v) ||
	    strcmp(json_object_get_string(v), res->uid) != 0 ||
	    !json_object_object_get_ex(resp, "allowed", &v) || !json_object_get_boolean(v))
		die("response is not an allowed AdmissionReview echoing the uid", res);
	if (json_object_object_get_ex(resp, "patch", &v))
		patch = json_object_get_string(v);
	if (patch != NULL)
		check_patch(patch, res);
	if ((patch != NULL) != (res->outcome == REVIEW_PATCHED ||
	    (res->outcome == REVIEW_WITHHELD && patch != NULL)))
		die("outcome disagrees with the patch", res);
	if (warn_mode && patch != NULL)
		die("warn mode patched", res);
	if (res->outcome != REVIEW_UNCHANGED && res->nchanges == 0)
		die("outcome without changes", res);
	json_object_put(doc);
}

static void
one(const struct policy *p, const char *body, size_t len, int warn_mode)
{
	struct review_result res;
	char err[512];

	err[0] = '\0';
	if (review_handle(p, body, len, &res, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || strchr(err, '\n') != NULL || res.outcome != REVIEW_REJECTED ||
		    res.response != NULL)
			die("refusal without one error line", &res);
	} else {
		check_response(&res, warn_mode);
	}
	review_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, not NUL-terminated, so ASan sees any read past the body */
	char *body = malloc(size ? size : 1);

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	one(enforce, body, size, 0);
	one(warn, body, size, 1);
	free(body);
	return 0;
}
