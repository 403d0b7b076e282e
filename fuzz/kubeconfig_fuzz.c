/* kubeconfig_fuzz.c - libFuzzer target: kubeconfig parsing (libyaml) on arbitrary bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"

/*
 * Beyond "no crash, no sanitizer report, no leak": a refusal is one line in err and no config;
 * a success has an http(s) server without a trailing slash, and a client certificate only
 * together with its key. The same input is tried with current-context and a named context.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
one(const uint8_t *data, size_t size, const char *context)
{
	struct kubeconfig *c = NULL;
	char err[512] = "";
	int rc = kubeconfig_parse((const char *)data, size, "/base", context, &c, err, sizeof(err));

	if (rc != 0) {
		if (c != NULL || err[0] == '\0' || strchr(err, '\n') != NULL)
			abort();
		return;
	}
	if (c == NULL || c->server == NULL ||
	    (strncmp(c->server, "http://", 7) != 0 && strncmp(c->server, "https://", 8) != 0))
		abort();
	if (c->server[strlen(c->server) - 1] == '/')
		abort();
	if ((c->cert_file || c->cert_data) != (c->key_file || c->key_data))
		abort();
	kubeconfig_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, NULL);
	one(data, size, "test");
	return 0;
}
