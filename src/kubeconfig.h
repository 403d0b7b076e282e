/* kubeconfig.h - find how to reach the Kubernetes API: --server, kubeconfig files (libyaml), or in-cluster. */
#ifndef BMHGUARD_KUBECONFIG_H
#define BMHGUARD_KUBECONFIG_H

#include <stddef.h>

/* Environment variable that moves the in-cluster service-account directory (tests). */
#define KUBECONFIG_SA_DIR_ENV "BMHGUARD_SERVICEACCOUNT_DIR"
#define KUBECONFIG_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where to look; every field may be NULL. */
struct kubeconfig_opts {
	const char *server;	/* --server URL: plain endpoint (kubectl proxy), no credentials */
	const char *path;	/* --kubeconfig FILE */
	const char *context;	/* --context NAME */
};

/* Everything a client needs to talk to one API server. All strings are owned by the struct
 * and freed by kubeconfig_free(); NULL when absent. Blobs (*_data) hold decoded bytes. */
struct kubeconfig {
	char *server;		/* base URL without trailing slash */
	char *namespace;	/* context's or service account's namespace, NULL if none */
	char *source;		/* human-readable origin: "kubeconfig /path context X", ... */
	int insecure;		/* insecure-skip-tls-verify */
	char *ca_file;
	unsigned char *ca_data;
	size_t ca_len;
	char *cert_file;
	unsigned char *cert_data;
	size_t cert_len;
	char *key_file;
	unsigned char *key_data;
	size_t key_len;
	char *token;		/* static bearer token */
	char *token_file;	/* re-read before each request (bound service-account tokens rotate) */
};

/* Resolve the configuration: opts->server, else opts->path, else the files of $KUBECONFIG (a
 * ':'-separated list merged as kubectl merges it: the current context, and each context, cluster
 * and user, from the first file that has it; empty entries and missing files are passed over;
 * relative paths against the directory of the file that gave them), else ~/.kube/config when it
 * exists, else in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account directory).
 * On success *out is owned by the caller (kubeconfig_free). Returns 0, or -1 with one line in err. */
int kubeconfig_load(const struct kubeconfig_opts *opts, struct kubeconfig **out, char *err,
    size_t errlen);

/* Parse one kubeconfig file; context NULL means its current-context. Relative file paths in it
 * are resolved against the file's directory, as kubectl does. */
int kubeconfig_load_file(const char *path, const char *context, struct kubeconfig **out,
    char *err, size_t errlen);

/* Parse kubeconfig text (buf need not be NUL-terminated); relative paths are resolved against
 * dir (NULL: left as written). Same contract as kubeconfig_load_file. */
int kubeconfig_parse(const char *buf, size_t len, const char *dir, const char *context,
    struct kubeconfig **out, char *err, size_t errlen);

/* In-cluster configuration from the environment and sa_dir (NULL: env override or default). */
int kubeconfig_load_incluster(const char *sa_dir, struct kubeconfig **out, char *err,
    size_t errlen);

/* Read a token file, trimming surrounding whitespace. Returns a malloc'd string or NULL (err). */
char *kubeconfig_read_token(const char *path, char *err, size_t errlen);

void kubeconfig_free(struct kubeconfig *c);

#endif
