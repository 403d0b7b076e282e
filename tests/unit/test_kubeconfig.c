/* test_kubeconfig.c - kubeconfig and in-cluster configuration parsed from temporary files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kubeconfig.h"

static char dir[] = "/tmp/bmhguard-kcXXXXXX";

static const char *
write_file(const char *name, const char *text)
{
	static char path[4][512];
	static int slot;
	char *p = path[slot++ % 4];
	FILE *f;

	snprintf(p, 512, "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f == NULL) {
		perror(p);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return p;
}

/* "hello" and "world\n" base64-encoded. */
#define B64_HELLO "aGVsbG8="
#define B64_WORLD "d29ybGQK"

static const char *full =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: admin@prod\n"
    "clusters:\n"
    "- name: prod\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: " B64_HELLO "\n"
    "- name: lab\n"
    "  cluster:\n"
    "    server: https://lab.example:6443\n"
    "    certificate-authority: certs/ca.crt\n"
    "    insecure-skip-tls-verify: true\n"
    "contexts:\n"
    "- name: admin@prod\n"
    "  context:\n"
    "    cluster: prod\n"
    "    user: admin\n"
    "    namespace: metal3\n"
    "- name: lab\n"
    "  context: {cluster: lab, user: certuser}\n"
    "- name: broken\n"
    "  context: {cluster: nowhere, user: admin}\n"
    "- name: plugin\n"
    "  context: {cluster: prod, user: execuser}\n"
    "- name: halfcert\n"
    "  context: {cluster: prod, user: halfuser}\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    token: \"abc.def\"\n"
    "- name: certuser\n"
    "  user:\n"
    "    client-certificate: /abs/client.crt\n"
    "    client-key: rel/client.key\n"
    "- name: execuser\n"
    "  user:\n"
    "    exec: {command: aws}\n"
    "- name: halfuser\n"
    "  user:\n"
    "    client-certificate-data: " B64_WORLD "\n";

static void
test_current_context(void)
{
	struct kubeconfig *c = NULL;
	char err[256] = "";
	const char *p = write_file("config", full);

	CHECK(kubeconfig_load_file(p, NULL, &c, err, sizeof(err)) == 0, "current-context loads (%s)",
	    err);
	if (c == NULL)
		return;
	CHECK_STR(c->server, "https://10.0.0.1:6443", "server without trailing slash");
	CHECK_STR(c->namespace, "metal3", "context namespace");
	CHECK_STR(c->token, "abc.def", "token");
	CHECK(c->ca_data != NULL && c->ca_len == 5 && memcmp(c->ca_data, "hello", 5) == 0,
	    "certificate-authority-data decoded");
	CHECK(c->ca_file == NULL && !c->insecure && c->cert_file == NULL && c->cert_data == NULL,
	    "nothing else set");
	CHECK(strstr(c->source, "admin@prod") != NULL, "source names the context: %s", c->source);
	kubeconfig_free(c);
}

static void
test_named_context(void)
{
	struct kubeconfig *c = NULL;
	char err[256] = "", want[600];
	const char *p = write_file("config2", full);

	CHECK(kubeconfig_load_file(p, "lab", &c, err, sizeof(err)) == 0, "--context lab loads (%s)",
	    err);
	if (c == NULL)
		return;
	CHECK_STR(c->server, "https://lab.example:6443", "lab server");
	CHECK(c->insecure == 1, "insecure-skip-tls-verify");
	snprintf(want, sizeof(want), "%s/certs/ca.crt", dir);
	CHECK_STR(c->ca_file, want, "relative CA path resolved against the kubeconfig's directory");
	CHECK_STR(c->cert_file, "/abs/client.crt", "absolute client-certificate kept");
	snprintf(want, sizeof(want), "%s/rel/client.key", dir);
	CHECK_STR(c->key_file, want, "relative client-key resolved");
	CHECK(c->token == NULL && c->namespace == NULL, "no token, no namespace");
	kubeconfig_free(c);
}

static void
expect_error(const char *text, const char *context, const char *needle, const char *what)
{
	struct kubeconfig *c = NULL;
	char err[512] = "";
	const char *p = write_file("bad", text);
	int rc = kubeconfig_load_file(p, context, &c, err, sizeof(err));

	CHECK(rc == -1 && c == NULL && strstr(err, needle) != NULL && strchr(err, '\n') == NULL,
	    "%s -> one line: %s", what, err);
	kubeconfig_free(c);
}

static void
test_errors(void)
{
	struct kubeconfig *c = NULL;
	char err[512] = "";

	expect_error(full, "nosuch", "context 'nosuch' not found", "unknown context");
	expect_error(full, "broken", "cluster 'nowhere' not found", "missing cluster");
	expect_error(full, "plugin", "not supported", "exec plugin");
	expect_error(full, "halfcert", "given together", "certificate without key");
	expect_error("clusters: [\n  - {name: x\n", NULL, "YAML error", "broken YAML");
	expect_error("- a\n- b\n", NULL, "not a kubeconfig", "a list is not a kubeconfig");
	expect_error("apiVersion: v1\nkind: Config\n", NULL, "no current-context", "no context");
	expect_error("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
	    "clusters:\n- name: k\n  cluster: {server: 'ftp://x'}\nusers:\n- name: u\n  user: {}\n",
	    NULL, "http:// or https://", "server scheme");
	expect_error("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
	    "clusters:\n- name: k\n  cluster: {server: 'https://x', certificate-authority-data: "
	    "'!!!notbase64'}\n", NULL, "not valid base64", "bad base64");
	CHECK(kubeconfig_load_file("/nonexistent/kubeconfig", NULL, &c, err, sizeof(err)) == -1 &&
	    strstr(err, "No such file") != NULL, "missing file: %s", err);
}

/* "a: " then n flow sequences opened and closed: n + 1 levels. Caller frees. */
static char *
nested(size_t n)
{
	char *t = malloc(3 * n + 8), *w = t;
	size_t i;

	w += sprintf(w, "a: ");
	for (i = 0; i < n; i++)
		*w++ = '[';
	for (i = 0; i < n; i++)
		*w++ = ']';
	*w++ = '\n';
	*w = '\0';
	return t;
}

/* Nesting and size are bounded before libyaml builds a document (80,000 levels took 10 s). */
static void
test_bounds(void)
{
	struct kubeconfig *c = NULL;
	char err[512] = "", *t;
	size_t big = ((size_t)1 << 20) + 1;

	t = nested(80000);
	expect_error(t, NULL, "nested deeper than 64 levels", "80,000 levels refused");
	CHECK(kubeconfig_parse(t, strlen(t), NULL, NULL, &c, err, sizeof(err)) == -1 && c == NULL &&
	    strstr(err, "nested deeper than 64") != NULL, "80,000 levels refused from text: %s", err);
	free(t);
	t = nested(64);
	expect_error(t, NULL, "nested deeper than 64 levels", "65 levels refused");
	free(t);
	t = nested(63);
	expect_error(t, NULL, "no current-context", "64 levels read");
	free(t);
	t = malloc(big + 1);
	memset(t, '#', big);
	t[big] = '\0';
	expect_error(t, NULL, "larger than 1 MiB", "a file over 1 MiB refused");
	CHECK(kubeconfig_parse(t, big, NULL, NULL, &c, err, sizeof(err)) == -1 &&
	    strstr(err, "larger than 1 MiB") != NULL, "text over 1 MiB refused: %s", err);
	free(t);
}

static void
test_load_order(void)
{
	struct kubeconfig_opts o = { 0 };
	struct kubeconfig *c = NULL;
	char err[512] = "", env[1200], home[600];
	const char *p = write_file("config3", full);

	o.server = "http://127.0.0.1:8001/";
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL &&
	    strcmp(c->server, "http://127.0.0.1:8001") == 0 && c->token == NULL,
	    "--server is a plain endpoint without credentials");
	kubeconfig_free(c);
	c = NULL;
	o.server = "127.0.0.1:8001";
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == -1, "--server without scheme: %s", err);
	o.server = NULL;

	/* $KUBECONFIG: a file that does not exist is passed over (see test_merge). */
	snprintf(env, sizeof(env), "%s:/nonexistent/other", p);
	setenv("KUBECONFIG", env, 1);
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL &&
	    strcmp(c->server, "https://10.0.0.1:6443") == 0, "$KUBECONFIG, a missing second file (%s)",
	    err);
	kubeconfig_free(c);
	c = NULL;
	o.context = "lab";
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL &&
	    strcmp(c->server, "https://lab.example:6443") == 0, "$KUBECONFIG with --context");
	kubeconfig_free(c);
	c = NULL;
	o.context = NULL;
	unsetenv("KUBECONFIG");

	/* ~/.kube/config */
	snprintf(home, sizeof(home), "%s/home", dir);
	mkdir(home, 0700);
	snprintf(env, sizeof(env), "%s/home/.kube", dir);
	mkdir(env, 0700);
	write_file("home/.kube/config", full);
	setenv("HOME", home, 1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL &&
	    strstr(c->source, "/home/.kube/config") != NULL, "~/.kube/config (%s)", err);
	kubeconfig_free(c);
	c = NULL;

	/* Nothing at all: one clear line. */
	snprintf(env, sizeof(env), "%s/emptyhome", dir);
	mkdir(env, 0700);
	setenv("HOME", env, 1);
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == -1 && strstr(err, "--server") != NULL,
	    "no configuration: %s", err);
}

static void
test_incluster(void)
{
	struct kubeconfig_opts o = { 0 };
	struct kubeconfig *c = NULL;
	char err[512] = "", sa[600], home[600];
	char *tok;

	snprintf(sa, sizeof(sa), "%s/sa", dir);
	mkdir(sa, 0700);
	write_file("sa/token", "  tok-1\n");
	write_file("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
	write_file("sa/namespace", "metal3\n");
	setenv(KUBECONFIG_SA_DIR_ENV, sa, 1);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	snprintf(home, sizeof(home), "%s/emptyhome", dir);
	setenv("HOME", home, 1);
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL, "in-cluster (%s)", err);
	if (c != NULL) {
		CHECK_STR(c->server, "https://[fd00::1]:443", "IPv6 service host bracketed");
		CHECK_STR(c->namespace, "metal3", "service-account namespace");
		CHECK(c->token == NULL && c->token_file != NULL, "token is a file, read per request");
		tok = kubeconfig_read_token(c->token_file, err, sizeof(err));
		CHECK_STR(tok, "tok-1", "token trimmed");
		free(tok);
		write_file("sa/token", "tok-2");
		tok = kubeconfig_read_token(c->token_file, err, sizeof(err));
		CHECK_STR(tok, "tok-2", "rotated token seen on the next read");
		free(tok);
		kubeconfig_free(c);
		c = NULL;
	}
	unlink(write_file("sa/ca.crt", ""));
	CHECK(kubeconfig_load_incluster(NULL, &c, err, sizeof(err)) == -1 &&
	    strstr(err, "ca.crt") != NULL, "missing CA: %s", err);
	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK(kubeconfig_load_incluster(NULL, &c, err, sizeof(err)) == -1 &&
	    strstr(err, "KUBERNETES_SERVICE_HOST") != NULL, "outside a cluster: %s", err);
	write_file("sa/token", "  \n");
	tok = kubeconfig_read_token(c ? c->token_file : write_file("sa/token", " \n"), err,
	    sizeof(err));
	CHECK(tok == NULL && strstr(err, "empty") != NULL, "empty token file: %s", err);
	free(tok);
}

/* $KUBECONFIG lists files that kubectl merges: the current context, and each context, cluster
 * and user, from the first file that has it; relative paths against that file's directory. */
static void
test_merge(void)
{
	struct kubeconfig_opts o = { 0 };
	struct kubeconfig *c = NULL;
	char err[512] = "", env[2400], a[600], b[600], sub[600];
	const char *bad;

	snprintf(sub, sizeof(sub), "%s/merge", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/merge/a", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/merge/b", dir);
	mkdir(sub, 0700);
	snprintf(a, sizeof(a), "%s", write_file("merge/a/config",
	    "current-context: work\n"
	    "clusters:\n- name: shared\n  cluster: {server: 'https://a.example'}\n"
	    "users:\n- name: me\n  user: {client-certificate: me.crt, client-key: me.key}\n"));
	snprintf(b, sizeof(b), "%s", write_file("merge/b/config",
	    "current-context: other\n"
	    "contexts:\n- name: work\n  context: {cluster: shared, user: me, namespace: metal3}\n"
	    "- name: bctx\n  context: {cluster: bonly, user: me}\n"
	    "- name: other\n  context: {cluster: shared, user: me}\n"
	    "clusters:\n- name: shared\n  cluster: {server: 'https://b.example'}\n"
	    "- name: bonly\n  cluster: {server: 'https://bonly.example', certificate-authority: ca.crt}\n"
	    "users:\n- name: me\n  user: {token: from-b}\n"));
	write_file("merge/empty", "");
	snprintf(env, sizeof(env), "::/nonexistent/x:%s::%s/merge/empty:%s:", a, dir, b);
	setenv("KUBECONFIG", env, 1);

	if (CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL,
	    "merge: two files, an empty one and a missing one load (%s)", err)) {
		CHECK(strcmp(c->server, "https://a.example") == 0,
		    "merge: current-context from the first file, cluster 'shared' from the first too");
		CHECK(c->namespace != NULL && strcmp(c->namespace, "metal3") == 0,
		    "merge: the context, found only in the second file, gives the namespace");
		snprintf(sub, sizeof(sub), "%s/merge/a/me.crt", dir);
		CHECK(c->token == NULL && c->cert_file != NULL && strcmp(c->cert_file, sub) == 0,
		    "merge: user 'me' from the first file, its path against that file's directory");
		CHECK(strstr(c->source, a) != NULL && strstr(c->source, b) != NULL &&
		    strstr(c->source, "'work'") != NULL, "merge: the source names the list: %s",
		    c->source);
	}
	kubeconfig_free(c);
	c = NULL;

	o.context = "bctx";
	if (CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == 0 && c != NULL,
	    "merge: --context from the second file (%s)", err)) {
		snprintf(sub, sizeof(sub), "%s/merge/b/ca.crt", dir);
		CHECK(strcmp(c->server, "https://bonly.example") == 0 && c->ca_file != NULL &&
		    strcmp(c->ca_file, sub) == 0,
		    "merge: cluster from the second file, its CA path against the second directory");
		CHECK(c->cert_file != NULL && c->token == NULL, "merge: user still the first file's");
	}
	kubeconfig_free(c);
	c = NULL;
	o.context = "nowhere";
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == -1 && c == NULL &&
	    strstr(err, "context 'nowhere' not found") != NULL && strstr(err, a) != NULL,
	    "merge: a context in no file: %s", err);
	o.context = NULL;

	setenv("KUBECONFIG", "/nonexistent/1::/nonexistent/2", 1);
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == -1 && c == NULL &&
	    strstr(err, "none of the files") != NULL, "merge: no file exists: %s", err);

	bad = write_file("merge/bad", "- a\n- b\n");
	snprintf(env, sizeof(env), "%s:%s", a, bad);
	setenv("KUBECONFIG", env, 1);
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == -1 && c == NULL &&
	    strstr(err, bad) != NULL && strstr(err, "not a mapping") != NULL,
	    "merge: a file that is not a kubeconfig is named: %s", err);

	snprintf(env, sizeof(env), "%s/merge/empty", dir);
	setenv("KUBECONFIG", env, 1);
	CHECK(kubeconfig_load(&o, &c, err, sizeof(err)) == -1 && c == NULL &&
	    strstr(err, "empty") != NULL, "merge: only an empty file: %s", err);
	unsetenv("KUBECONFIG");
}

int
main(void)
{
	char cmd[600];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_current_context();
	test_named_context();
	test_errors();
	test_bounds();
	test_load_order();
	test_merge();
	test_incluster();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return CHECK_DONE();
}
