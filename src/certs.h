/* certs.h - make and check the webhook's serving certificate and its CA (OpenSSL libcrypto). */
#ifndef BMHGUARD_CERTS_H
#define BMHGUARD_CERTS_H

#include <stddef.h>

enum certs_key_type {
	CERTS_KEY_ECDSA = 0,	/* P-256, the default: small and fast to verify */
	CERTS_KEY_RSA		/* 2048 bits, for clients that cannot do ECDSA */
};

#define CERTS_DEFAULT_DAYS	365
#define CERTS_MAX_DAYS		3650
#define CERTS_DEFAULT_MIN_DAYS	30
#define CERTS_MAX_EXTRA		64	/* per kind: --dns and --ip */

/* What to make. Every pointer is borrowed for the duration of the call. */
struct certs_request {
	const char *service;		/* Service name (DNS-1035 label) */
	const char *namespace_;		/* its namespace (DNS-1123 label) */
	int days;			/* validity of both certificates, 1..CERTS_MAX_DAYS */
	enum certs_key_type key_type;
	const char *const *dns;		/* extra DNS SANs, ndns of them */
	size_t ndns;
	const char *const *ips;		/* extra IP SANs (IPv4 or IPv6 text), nips of them */
	size_t nips;
};

/* PEM texts, each malloc'd and NUL-terminated; certs_bundle_free() frees them. */
struct certs_bundle {
	char *ca_pem;		/* the CA certificate: ca.crt, the webhook's caBundle */
	char *cert_pem;		/* the serving certificate: tls.crt */
	char *key_pem;		/* the serving key, PKCS#8: tls.key */
};

/* Check names, days and key type; 0 when req is usable, else -1 with err naming the flag. */
int certs_request_validate(const struct certs_request *req, char *err, size_t errlen);

/* Validate req, then make a fresh CA and a serving certificate signed by it. The CA's key is
 * never written anywhere: rotating means making a new pair. On success fills *out (caller
 * frees with certs_bundle_free) and returns 0; on error returns -1, *out zeroed, err says why. */
int certs_make(const struct certs_request *req, struct certs_bundle *out, char *err, size_t errlen);
void certs_bundle_free(struct certs_bundle *b);

/* Write ca.crt (0644), tls.crt (0644) and tls.key (0600) into dir, creating dir (0755) when
 * its parent exists. Without force, refuses (-1, writing nothing) when any of the three exists;
 * each file is written to a temporary name and moved into place, so a reader never sees half
 * a key. Returns 0 or -1 with err. */
int certs_write_dir(const char *dir, const struct certs_bundle *b, int force, char *err, size_t errlen);

/* Name checks used for the flags; 0 when valid, else -1 with err. */
int certs_check_dns_name(const char *name, char *err, size_t errlen);

/* What --check verifies. service and namespace_ both set or both NULL; extra names (DNS or
 * IP text) must be covered too. Pointers borrowed. */
struct certs_check_opts {
	const char *service;
	const char *namespace_;
	int min_days;			/* fail when fewer days than this remain */
	const char *const *names;
	size_t nnames;
};

/* One verified property. */
struct certs_finding {
	int level;			/* CERTS_PASS, CERTS_NOTE or CERTS_FAIL */
	char text[256];
};
#define CERTS_PASS	0
#define CERTS_NOTE	1
#define CERTS_FAIL	2

#define CERTS_MAX_FINDINGS	(16 + CERTS_MAX_EXTRA * 2)

/* The outcome of a check: what the certificate says and each verified property. */
struct certs_report {
	char subject[256];
	char issuer[256];
	char key_desc[64];		/* "ECDSA P-256", "RSA 2048" */
	char not_before[32];		/* ISO 8601 UTC */
	char not_after[32];
	long long seconds_left;		/* until notAfter; negative when expired */
	char *sans;			/* malloc'd, "DNS:a, IP:10.0.0.1"; "" when none */
	struct certs_finding findings[CERTS_MAX_FINDINGS];
	size_t nfindings;
	size_t nfailed;			/* findings at CERTS_FAIL */
};

/* Check PEM texts (ca_pem may be NULL: then the chain check fails). Returns 0 when the inputs
 * could be parsed (the verdict is in report->nfailed), -1 with err when a PEM text is not a
 * certificate or key at all. Caller frees the report with certs_report_free(). */
int certs_check_pem(const char *ca_pem, const char *cert_pem, const char *key_pem,
    const struct certs_check_opts *opts, struct certs_report *report, char *err, size_t errlen);

/* The same for dir/ca.crt, dir/tls.crt, dir/tls.key. A missing ca.crt is a failed finding; a
 * missing or unreadable tls.crt or tls.key is -1 with err. */
int certs_check_dir(const char *dir, const struct certs_check_opts *opts, struct certs_report *report,
    char *err, size_t errlen);

void certs_report_free(struct certs_report *report);

#endif
