/* kubeconfig.c - find how to reach the Kubernetes API: --server, kubeconfig files (libyaml), or in-cluster. */
#include "kubeconfig.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "buf.h"
#include "io.h"

static struct kubeconfig *
config_new(void)
{
	return calloc(1, sizeof(struct kubeconfig));
}

void
kubeconfig_free(struct kubeconfig *c)
{
	if (c == NULL)
		return;
	free(c->server);
	free(c->namespace);
	free(c->source);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	if (c->key_data != NULL)
		memset(c->key_data, 0, c->key_len);
	free(c->key_data);
	if (c->token != NULL)
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c);
}

/* Strip trailing slashes so paths can be appended with one '/'. */
static char *
server_dup(const char *s)
{
	char *d = strdup(s);
	size_t n;

	if (d == NULL)
		return NULL;
	n = strlen(d);
	while (n > 0 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

/* An http(s) URL with a host, as libcurl's URL parser reads it ("http://" alone is not). */
static int
server_ok(const char *s, char *err, size_t errlen)
{
	CURLU *u = NULL;
	char *host = NULL;
	int rc = -1;

	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
		snprintf(err, errlen, "server '%s' must start with http:// or https://", s);
		return -1;
	}
	if ((u = curl_url()) == NULL || curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
		snprintf(err, errlen, "server '%s' is not a valid URL", s);
		goto out;
	}
	rc = 0;
out:
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Errors quote names from the file: keep them on one line. */
static void
one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* ---- YAML document navigation (libyaml's document loader) ---- */

static yaml_node_t *
map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* A scalar's text, or NULL when absent, not a scalar, or YAML null. Borrowed. */
static const char *
map_str(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = map_get(doc, map, key);
	const char *v;

	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	v = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || *v == '\0'))
		return NULL;
	return v;
}

/* Find the entry {name: NAME, KIND: {...}} in the sequence at key LIST and return its KIND map. */
static yaml_node_t *
named_entry(yaml_document_t *doc, yaml_node_t *root, const char *list, const char *kind,
    const char *name)
{
	yaml_node_t *seq = map_get(doc, root, list);
	yaml_node_item_t *it;

	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(doc, *it);
		const char *n = map_str(doc, e, "name");

		if (n != NULL && strcmp(n, name) == 0) {
			yaml_node_t *m = map_get(doc, e, kind);

			/* An entry with an empty body is legal ("user: {}" or "user:"). */
			return m != NULL ? m : e;
		}
	}
	return NULL;
}

/* Decode base64 (newlines allowed) with OpenSSL. Returns malloc'd bytes or NULL. */
static unsigned char *
b64_decode(const char *in, size_t *outlen)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	size_t inlen = strlen(in);
	unsigned char *out = malloc(inlen / 4 * 3 + 4);
	int n1 = 0, n2 = 0;

	if (ctx == NULL || out == NULL || inlen > (size_t)0x7fffffff)
		goto fail;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)in, (int)inlen) < 0)
		goto fail;
	if (EVP_DecodeFinal(ctx, out + n1, &n2) < 0)
		goto fail;
	if (n1 + n2 == 0)
		goto fail;
	EVP_ENCODE_CTX_free(ctx);
	*outlen = (size_t)(n1 + n2);
	return out;
fail:
	EVP_ENCODE_CTX_free(ctx);
	free(out);
	return NULL;
}

/* path relative to the kubeconfig's directory unless absolute. */
static char *
resolve_path(const char *dir, const char *p)
{
	char *r;

	if (p[0] == '/' || dir == NULL)
		return strdup(p);
	if (asprintf(&r, "%s/%s", dir, p) < 0)
		return NULL;
	return r;
}

/* file field or -data field of one credential; data wins, as in kubectl. */
static int
take_cred(yaml_document_t *doc, yaml_node_t *m, const char *filekey, const char *datakey,
    const char *dir, char **file, unsigned char **data, size_t *len, char *err, size_t errlen)
{
	const char *d = map_str(doc, m, datakey);
	const char *f = map_str(doc, m, filekey);

	if (d != NULL) {
		*data = b64_decode(d, len);
		if (*data == NULL) {
			snprintf(err, errlen, "%s is not valid base64", datakey);
			return -1;
		}
		return 0;
	}
	if (f != NULL) {
		*file = resolve_path(dir, f);
		if (*file == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int
is_true(const char *v)
{
	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
	    strcmp(v, "TRUE") == 0 || strcmp(v, "yes") == 0);
}

/* One file of a merged list: its YAML document, and the directory its relative paths are resolved
 * against (NULL: left as written). */
struct kc_doc {
	yaml_document_t doc;
	yaml_node_t *root;	/* the top-level mapping, NULL for an empty file */
	char *dir;
	int loaded;		/* doc holds a document to delete */
};

/* The entry from the first file that has it, as kubectl merges a $KUBECONFIG list; *from says
 * which file. */
static yaml_node_t *
merged_entry(struct kc_doc *docs, size_t n, const char *list, const char *kind, const char *name,
    struct kc_doc **from)
{
	yaml_node_t *e;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((e = named_entry(&docs[i].doc, docs[i].root, list, kind, name)) != NULL) {
			*from = &docs[i];
			return e;
		}
	}
	return NULL;
}

static int
fill_from_docs(struct kc_doc *docs, size_t n, const char *context, struct kubeconfig *c,
    char *err, size_t errlen)
{
	struct kc_doc *cd, *kd = NULL, *ud = NULL;
	yaml_node_t *ctx, *cluster, *user = NULL;
	const char *ctxname = context, *cname, *uname, *s;
	size_t i;

	for (i = 0; i < n && ctxname == NULL; i++)
		ctxname = map_str(&docs[i].doc, docs[i].root, "current-context");
	if (ctxname == NULL) {
		snprintf(err, errlen, "no current-context set and no --context given");
		return -1;
	}
	if ((ctx = merged_entry(docs, n, "contexts", "context", ctxname, &cd)) == NULL) {
		snprintf(err, errlen, "context '%s' not found", ctxname);
		return -1;
	}
	cname = map_str(&cd->doc, ctx, "cluster");
	uname = map_str(&cd->doc, ctx, "user");
	if ((s = map_str(&cd->doc, ctx, "namespace")) != NULL && (c->namespace = strdup(s)) == NULL)
		goto oom;
	if (cname == NULL ||
	    (cluster = merged_entry(docs, n, "clusters", "cluster", cname, &kd)) == NULL) {
		snprintf(err, errlen, "context '%s': cluster '%s' not found", ctxname,
		    cname ? cname : "(none)");
		return -1;
	}
	if (uname != NULL && (user = merged_entry(docs, n, "users", "user", uname, &ud)) == NULL) {
		snprintf(err, errlen, "context '%s': user '%s' not found", ctxname, uname);
		return -1;
	}
	if ((s = map_str(&kd->doc, cluster, "server")) == NULL) {
		snprintf(err, errlen, "cluster '%s' has no server", cname);
		return -1;
	}
	if (server_ok(s, err, errlen) < 0)
		return -1;
	if ((c->server = server_dup(s)) == NULL)
		goto oom;
	c->insecure = is_true(map_str(&kd->doc, cluster, "insecure-skip-tls-verify"));
	if (take_cred(&kd->doc, cluster, "certificate-authority", "certificate-authority-data",
	    kd->dir, &c->ca_file, &c->ca_data, &c->ca_len, err, errlen) < 0)
		return -1;
	if (user != NULL) {
		yaml_document_t *doc = &ud->doc;

		if (map_get(doc, user, "exec") != NULL || map_get(doc, user, "auth-provider") != NULL) {
			snprintf(err, errlen, "user '%s': exec and auth-provider credential plugins are "
			    "not supported (use a token or client certificate)", uname);
			return -1;
		}
		if ((s = map_str(doc, user, "token")) != NULL && (c->token = strdup(s)) == NULL)
			goto oom;
		if (c->token == NULL && (s = map_str(doc, user, "tokenFile")) != NULL &&
		    (c->token_file = resolve_path(ud->dir, s)) == NULL)
			goto oom;
		if (take_cred(doc, user, "client-certificate", "client-certificate-data", ud->dir,
		    &c->cert_file, &c->cert_data, &c->cert_len, err, errlen) < 0)
			return -1;
		if (take_cred(doc, user, "client-key", "client-key-data", ud->dir,
		    &c->key_file, &c->key_data, &c->key_len, err, errlen) < 0)
			return -1;
		if ((c->cert_file || c->cert_data) != (c->key_file || c->key_data)) {
			snprintf(err, errlen, "user '%s': client certificate and client key must be "
			    "given together", uname);
			return -1;
		}
	}
	if (asprintf(&c->source, "context '%s'", ctxname) < 0) {
		c->source = NULL;
		goto oom;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Kubeconfigs are a few levels deep and small; libyaml's loader takes time that grows with the
 * square of the nesting (80,000 levels: 10 s) and memory with the nodes, so text past these is
 * refused before it is loaded. */
#define KUBECONFIG_MAX_DEPTH 64
#define KUBECONFIG_MAX ((size_t)1 << 20)
#define KUBECONFIG_MAX_TEXT "1 MiB"

/* Refuse text nested deeper than KUBECONFIG_MAX_DEPTH, from libyaml's events (linear, and it
 * stops at the first level too many). Syntax errors are left to the loader, which says where. */
static int
depth_check(const char *buf, size_t len, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, done = 0, rc = 0;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "yaml parser init failed");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && rc == 0 && yaml_parser_parse(&parser, &ev)) {
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > KUBECONFIG_MAX_DEPTH) {
				snprintf(err, errlen, "not a kubeconfig: nested deeper than %d levels "
				    "(line %zu)", KUBECONFIG_MAX_DEPTH, ev.start_mark.line + 1);
				rc = -1;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* Load buf into d. An empty file is an empty kubeconfig, as in kubectl; any other top level
 * than a mapping is refused. */
static int
doc_load(struct kc_doc *d, const char *buf, size_t len, char *err, size_t errlen)
{
	yaml_parser_t parser;
	int rc = -1;

	if (len > KUBECONFIG_MAX) {
		snprintf(err, errlen, "not a kubeconfig: larger than " KUBECONFIG_MAX_TEXT);
		return -1;
	}
	if (depth_check(buf, len, err, errlen) != 0)
		return -1;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "yaml parser init failed");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &d->doc)) {
		snprintf(err, errlen, "YAML error at line %zu: %s", parser.problem_mark.line + 1,
		    parser.problem ? parser.problem : "unknown");
		one_line(err);
		goto out;
	}
	d->loaded = 1;
	d->root = yaml_document_get_root_node(&d->doc);
	if (d->root != NULL && d->root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "not a kubeconfig (top level is not a mapping)");
		goto out;
	}
	rc = 0;
out:
	yaml_parser_delete(&parser);
	return rc;
}

static void
docs_free(struct kc_doc *docs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (docs[i].loaded)
			yaml_document_delete(&docs[i].doc);
		free(docs[i].dir);
	}
}

/* The kube_config the loaded docs give, or -1 with one line in err. */
static int
config_from_docs(struct kc_doc *docs, size_t n, const char *context, struct kubeconfig **out,
    char *err, size_t errlen)
{
	struct kubeconfig *c;
	size_t i;

	for (i = 0; i < n && docs[i].root == NULL; i++)
		;
	if (i == n) {
		snprintf(err, errlen, "not a kubeconfig (empty)");
		return -1;
	}
	if ((c = config_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (fill_from_docs(docs, n, context, c, err, errlen) < 0) {
		one_line(err);
		kubeconfig_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int
kubeconfig_parse(const char *buf, size_t len, const char *dir, const char *context,
    struct kubeconfig **out, char *err, size_t errlen)
{
	struct kc_doc d = { .dir = NULL };
	int rc = -1;

	*out = NULL;
	if (dir != NULL && (d.dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (doc_load(&d, buf, len, err, errlen) == 0)
		rc = config_from_docs(&d, 1, context, out, err, errlen);
	docs_free(&d, 1);
	return rc;
}

/* More files than anyone lists in $KUBECONFIG. */
#define KUBECONFIG_MAX_FILES 64

/* Read path into d (its directory for relative paths). Errors name the file. */
static int
doc_load_file(struct kc_doc *d, const char *path, char *err, size_t errlen)
{
	FILE *f;
	struct buf text;
	char *slash, e[256];
	int rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "kubeconfig %s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&text, KUBECONFIG_MAX);
	if (io_read_all(f, &text) != 0) {
		snprintf(err, errlen, "kubeconfig %s: %s", path, errno == EFBIG ?
		    "larger than " KUBECONFIG_MAX_TEXT : strerror(errno));
		goto out;
	}
	if ((d->dir = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	slash = strrchr(d->dir, '/');
	if (slash == NULL) {
		free(d->dir);
		d->dir = NULL;
	} else if (slash == d->dir) {
		d->dir[1] = '\0';
	} else {
		*slash = '\0';
	}
	if (doc_load(d, text.data != NULL ? text.data : "", text.len, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "kubeconfig %s: %s", path, e);
		one_line(err);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	buf_free(&text);
	return rc;
}

/* Load the n files of paths, merged as kubectl merges a $KUBECONFIG list: for the current
 * context and for each context, cluster and user, the first file that has it wins. label names
 * them in errors and in the source. */
static int
load_files(const char *const *paths, size_t n, const char *label, const char *context,
    struct kubeconfig **out, char *err, size_t errlen)
{
	struct kc_doc docs[KUBECONFIG_MAX_FILES];
	char e[512], *src = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (n > KUBECONFIG_MAX_FILES) {
		snprintf(err, errlen, "more than %d kubeconfig files", KUBECONFIG_MAX_FILES);
		return -1;
	}
	memset(docs, 0, n * sizeof(docs[0]));
	for (i = 0; i < n; i++)
		if (doc_load_file(&docs[i], paths[i], err, errlen) < 0)
			goto out;
	if (config_from_docs(docs, n, context, out, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "kubeconfig %s: %s", label, e);
		one_line(err);
		goto out;
	}
	if (asprintf(&src, "kubeconfig %s, %s", label, (*out)->source) < 0) {
		kubeconfig_free(*out);
		*out = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	free((*out)->source);
	(*out)->source = src;
	rc = 0;
out:
	docs_free(docs, n);
	return rc;
}

int
kubeconfig_load_file(const char *path, const char *context, struct kubeconfig **out, char *err,
    size_t errlen)
{
	return load_files(&path, 1, path, context, out, err, errlen);
}

/* $KUBECONFIG: a ':'-separated list. As in kubectl, empty entries and files that do not exist
 * are passed over; the rest are merged. */
static int
load_env_list(const char *list, const char *context, struct kubeconfig **out, char *err,
    size_t errlen)
{
	const char *paths[KUBECONFIG_MAX_FILES];
	char *copy, *p, *next;
	struct stat st;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if ((copy = strdup(list)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = copy; p != NULL; p = next) {
		if ((next = strchr(p, ':')) != NULL)
			*next++ = '\0';
		if (*p == '\0' || (stat(p, &st) != 0 && errno == ENOENT))
			continue;
		if (n == KUBECONFIG_MAX_FILES) {
			snprintf(err, errlen, "$KUBECONFIG lists more than %d files",
			    KUBECONFIG_MAX_FILES);
			goto out;
		}
		paths[n++] = p;
	}
	if (n == 0) {
		snprintf(err, errlen, "none of the files in $KUBECONFIG exists (%s)", list);
		one_line(err);
		goto out;
	}
	rc = load_files(paths, n, list, context, out, err, errlen);
out:
	free(copy);
	return rc;
}

char *
kubeconfig_read_token(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char buf[16384];
	size_t n, a = 0;

	if (f == NULL) {
		snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	while (a < n && isspace((unsigned char)buf[a]))
		a++;
	if (a == n) {
		snprintf(err, errlen, "token file %s is empty", path);
		return NULL;
	}
	return strdup(buf + a);
}

int
kubeconfig_load_incluster(const char *sa_dir, struct kubeconfig **out, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kubeconfig *c = NULL;
	struct stat st;
	char *ns = NULL, e[256];

	*out = NULL;
	if (sa_dir == NULL)
		sa_dir = getenv(KUBECONFIG_SA_DIR_ENV);
	if (sa_dir == NULL)
		sa_dir = KUBECONFIG_SA_DIR_DEFAULT;
	if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
		snprintf(err, errlen, "not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)");
		return -1;
	}
	if ((c = config_new()) == NULL)
		goto oom;
	/* An IPv6 service host needs brackets in a URL. */
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
	    host, port) < 0) {
		c->server = NULL;
		goto oom;
	}
	if (asprintf(&c->token_file, "%s/token", sa_dir) < 0) {
		c->token_file = NULL;
		goto oom;
	}
	if (asprintf(&c->ca_file, "%s/ca.crt", sa_dir) < 0) {
		c->ca_file = NULL;
		goto oom;
	}
	if (stat(c->token_file, &st) != 0) {
		snprintf(err, errlen, "in-cluster: %s: %s", c->token_file, strerror(errno));
		goto fail;
	}
	if (stat(c->ca_file, &st) != 0) {
		snprintf(err, errlen, "in-cluster: %s: %s", c->ca_file, strerror(errno));
		goto fail;
	}
	{
		char nsfile[4096];

		snprintf(nsfile, sizeof(nsfile), "%s/namespace", sa_dir);
		if (stat(nsfile, &st) == 0 && (ns = kubeconfig_read_token(nsfile, e, sizeof(e))) != NULL)
			c->namespace = ns;
	}
	if (asprintf(&c->source, "in-cluster service account (%s)", sa_dir) < 0) {
		c->source = NULL;
		goto oom;
	}
	*out = c;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	kubeconfig_free(c);
	return -1;
}

int
kubeconfig_load(const struct kubeconfig_opts *opts, struct kubeconfig **out, char *err,
    size_t errlen)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char path[4096];
	struct stat st;

	*out = NULL;
	if (opts->server != NULL) {
		struct kubeconfig *c;

		if (server_ok(opts->server, err, errlen) < 0)
			return -1;
		if ((c = config_new()) == NULL || (c->server = server_dup(opts->server)) == NULL ||
		    asprintf(&c->source, "--server %s", opts->server) < 0) {
			if (c != NULL)
				c->source = NULL;
			kubeconfig_free(c);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*out = c;
		return 0;
	}
	if (opts->path != NULL)
		return kubeconfig_load_file(opts->path, opts->context, out, err, errlen);
	if (env != NULL && *env != '\0')
		return load_env_list(env, opts->context, out, err, errlen);
	if (home != NULL && *home != '\0') {
		snprintf(path, sizeof(path), "%s/.kube/config", home);
		if (stat(path, &st) == 0)
			return kubeconfig_load_file(path, opts->context, out, err, errlen);
	}
	if (getenv("KUBERNETES_SERVICE_HOST") != NULL)
		return kubeconfig_load_incluster(NULL, out, err, errlen);
	snprintf(err, errlen, "no API server configured: give --server, --kubeconfig or $KUBECONFIG, "
	    "create ~/.kube/config, or run in a cluster");
	return -1;
}
