/* certs.c - make and check the webhook's serving certificate and its CA (OpenSSL libcrypto). */
#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "io.h"

#define CERTS_RSA_BITS	2048
#define CERTS_BACKDATE	3600	/* seconds; tolerates clock skew between nodes */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Append OpenSSL's most recent reason, so "cannot sign" says why. */
static void
seterr_ssl(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		seterr(err, errlen, "%s: %s", what, buf);
	} else {
		seterr(err, errlen, "%s", what);
	}
	ERR_clear_error();
}

/* ---- names ---- */

static int
is_label(const char *s, size_t n, int must_start_alpha)
{
	size_t i;

	if (n == 0 || n > 63)
		return 0;
	if (must_start_alpha ? !(s[0] >= 'a' && s[0] <= 'z') : !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	if (s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int
certs_check_dns_name(const char *name, char *err, size_t errlen)
{
	const char *p, *dot;
	char lower[254];
	size_t n, i;

	if (!name || !*name || strlen(name) > 253) {
		seterr(err, errlen, "DNS name '%s': empty or longer than 253 characters", name ? name : "");
		return -1;
	}
	/* Kubernetes and Go compare names case-insensitively; check the lowercase form. */
	for (i = 0; name[i]; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
	lower[i] = '\0';
	p = lower;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;	/* one leading wildcard label, as X.509 allows */
	for (;;) {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (!is_label(p, n, 0)) {
			seterr(err, errlen, "DNS name '%s': labels must be 1-63 of a-z, 0-9, '-', "
			    "not starting or ending with '-'", name);
			return -1;
		}
		if (!dot)
			return 0;
		p = dot + 1;
	}
}

int
certs_request_validate(const struct certs_request *req, char *err, size_t errlen)
{
	size_t i;

	if (!req->service || !is_label(req->service, strlen(req->service), 1)) {
		seterr(err, errlen, "--service '%s': not a Service name (lowercase a-z, 0-9, '-', "
		    "starting with a letter, at most 63)", req->service ? req->service : "");
		return -1;
	}
	if (!req->namespace_ || !is_label(req->namespace_, strlen(req->namespace_), 0)) {
		seterr(err, errlen, "--namespace '%s': not a namespace name (lowercase a-z, 0-9, '-', "
		    "at most 63)", req->namespace_ ? req->namespace_ : "");
		return -1;
	}
	if (req->days < 1 || req->days > CERTS_MAX_DAYS) {
		seterr(err, errlen, "--days %d: must be 1..%d", req->days, CERTS_MAX_DAYS);
		return -1;
	}
	if (req->key_type != CERTS_KEY_ECDSA && req->key_type != CERTS_KEY_RSA) {
		seterr(err, errlen, "unknown key type");
		return -1;
	}
	if (req->ndns > CERTS_MAX_EXTRA || req->nips > CERTS_MAX_EXTRA) {
		seterr(err, errlen, "at most %d --dns and %d --ip names", CERTS_MAX_EXTRA, CERTS_MAX_EXTRA);
		return -1;
	}
	for (i = 0; i < req->ndns; i++)
		if (certs_check_dns_name(req->dns[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < req->nips; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(req->ips[i]);

		if (!ip) {
			ERR_clear_error();
			seterr(err, errlen, "--ip '%s': not an IPv4 or IPv6 address", req->ips[i]);
			return -1;
		}
		ASN1_OCTET_STRING_free(ip);
	}
	return 0;
}

/* ---- making ---- */

static EVP_PKEY *
make_key(enum certs_key_type type, char *err, size_t errlen)
{
	EVP_PKEY *k;

	if (type == CERTS_KEY_RSA)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)CERTS_RSA_BITS);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k)
		seterr_ssl(err, errlen, "cannot generate key");
	return k;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int
add_dns(GENERAL_NAMES *gens, const char *name)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (!gn || !s || !ASN1_STRING_set(s, name, -1)) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return -1;
	}
	GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		return -1;
	}
	return 0;
}

static int
add_ip(GENERAL_NAMES *gens, const char *text)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);

	if (!gn || !ip) {
		GENERAL_NAME_free(gn);
		ASN1_OCTET_STRING_free(ip);
		return -1;
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		return -1;
	}
	return 0;
}

/* S, S.N, S.N.svc, S.N.svc.cluster.local, then the extras. Built as GENERAL_NAMEs rather than
 * a config string so no name can smuggle in another entry. */
static int
add_sans(X509 *x, const struct certs_request *req)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	char name[4][300];
	size_t i;
	int rc = -1;

	if (!gens)
		return -1;
	snprintf(name[0], sizeof(name[0]), "%s", req->service);
	snprintf(name[1], sizeof(name[1]), "%s.%s", req->service, req->namespace_);
	snprintf(name[2], sizeof(name[2]), "%s.%s.svc", req->service, req->namespace_);
	snprintf(name[3], sizeof(name[3]), "%s.%s.svc.cluster.local", req->service, req->namespace_);
	for (i = 0; i < 4; i++)
		if (add_dns(gens, name[i]) < 0)
			goto out;
	for (i = 0; i < req->ndns; i++)
		if (add_dns(gens, req->dns[i]) < 0)
			goto out;
	for (i = 0; i < req->nips; i++)
		if (add_ip(gens, req->ips[i]) < 0)
			goto out;
	rc = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) == 1 ? 0 : -1;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int rc = -1;

	/* 159 random bits: unique, positive, within RFC 5280's 20 octets. */
	if (bn && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		rc = 0;
	BN_free(bn);
	return rc;
}

static X509 *
new_cert(EVP_PKEY *pub, const char *cn, int days)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || set_serial(x) < 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -CERTS_BACKDATE) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"bmhguard", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_pubkey(x, pub)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *
make_ca(const struct certs_request *req, EVP_PKEY *key, char *err, size_t errlen)
{
	char cn[200];
	X509 *x;

	snprintf(cn, sizeof(cn), "bmhguard webhook CA %s.%s", req->service, req->namespace_);
	x = new_cert(key, cn, req->days);
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
	    !X509_sign(x, key, EVP_sha256())) {
		seterr_ssl(err, errlen, "cannot make the CA certificate");
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *
make_leaf(const struct certs_request *req, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, char *err, size_t errlen)
{
	char cn[200];
	X509 *x;
	/* RSA keys may be used for key transport by old TLS clients; ECDSA only signs. */
	const char *ku = req->key_type == CERTS_KEY_RSA ? "critical,digitalSignature,keyEncipherment"
	    : "critical,digitalSignature";

	snprintf(cn, sizeof(cn), "%s.%s.svc", req->service, req->namespace_);
	x = new_cert(key, cn, req->days);
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, ca, NID_key_usage, ku) < 0 ||
	    add_ext(x, ca, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, ca, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, ca, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_sans(x, req) < 0 || !X509_sign(x, ca_key, EVP_sha256())) {
		seterr_ssl(err, errlen, "cannot make the serving certificate");
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Drain a memory BIO into a malloc'd NUL-terminated string. */
static char *
bio_string(BIO *b)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || !(s = malloc((size_t)n + 1)))
		return NULL;
	if (n > 0)	/* an empty BIO may hand back NULL */
		memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

static char *
cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b && PEM_write_bio_X509(b, x))
		s = bio_string(b);
	BIO_free(b);
	return s;
}

static char *
key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		s = bio_string(b);
	BIO_free(b);
	return s;
}

int
certs_make(const struct certs_request *req, struct certs_bundle *out, char *err, size_t errlen)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *leaf = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (certs_request_validate(req, err, errlen) < 0)
		return -1;
	if (!(ca_key = make_key(req->key_type, err, errlen)) || !(key = make_key(req->key_type, err, errlen)))
		goto out;
	if (!(ca = make_ca(req, ca_key, err, errlen)) || !(leaf = make_leaf(req, key, ca, ca_key, err, errlen)))
		goto out;
	out->ca_pem = cert_pem(ca);
	out->cert_pem = cert_pem(leaf);
	out->key_pem = key_pem(key);
	if (!out->ca_pem || !out->cert_pem || !out->key_pem) {
		seterr_ssl(err, errlen, "cannot encode PEM");
		certs_bundle_free(out);
		goto out;
	}
	rc = 0;
out:
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}

void
certs_bundle_free(struct certs_bundle *b)
{
	if (!b)
		return;
	if (b->key_pem) {
		OPENSSL_cleanse(b->key_pem, strlen(b->key_pem));
		free(b->key_pem);
	}
	free(b->ca_pem);
	free(b->cert_pem);
	memset(b, 0, sizeof(*b));
}

/* ---- writing ---- */

/* Write to a temporary name beside the target, then move it in: rename() when replacing,
 * link() otherwise so a file that appeared meanwhile is still not overwritten. */
static int
write_file(const char *dir, const char *name, const char *text, mode_t mode, int force, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, rc = -1;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp)) {
		seterr(err, errlen, "%s: path too long", dir);
		return -1;
	}
	fd = mkstemp(tmp);	/* created 0600, so the key is never readable by others */
	if (fd < 0) {
		seterr(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) < 0 || io_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		seterr(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) < 0) {
		seterr(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	if (force ? rename(tmp, path) : link(tmp, path)) {
		if (errno == EEXIST)
			seterr(err, errlen, "%s: exists (use --force to replace)", path);
		else
			seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 || !force)
		unlink(tmp);
	return rc;
}

int
certs_write_dir(const char *dir, const struct certs_bundle *b, int force, char *err, size_t errlen)
{
	static const char *const names[] = { "ca.crt", "tls.crt", "tls.key" };
	char path[PATH_MAX], exist[200] = "";
	struct stat st;
	size_t i;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		seterr(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	for (i = 0; i < 3 && !force; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (lstat(path, &st) == 0)
			snprintf(exist + strlen(exist), sizeof(exist) - strlen(exist), "%s%s",
			    *exist ? ", " : "", names[i]);
	}
	if (*exist) {
		seterr(err, errlen, "%s: %s already exist; refusing to overwrite (use --force)", dir, exist);
		return -1;
	}
	/* The key first: a crash then leaves a stale certificate, never a certificate whose key
	 * is missing. */
	if (write_file(dir, "tls.key", b->key_pem, 0600, force, err, errlen) < 0 ||
	    write_file(dir, "tls.crt", b->cert_pem, 0644, force, err, errlen) < 0 ||
	    write_file(dir, "ca.crt", b->ca_pem, 0644, force, err, errlen) < 0)
		return -1;
	return 0;
}

/* ---- checking ---- */

static void
finding(struct certs_report *r, int level, const char *fmt, ...)
{
	va_list ap;
	struct certs_finding *f;

	if (r->nfindings >= CERTS_MAX_FINDINGS)
		return;
	f = &r->findings[r->nfindings++];
	f->level = level;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
	if (level == CERTS_FAIL)
		r->nfailed++;
}

static void
fmt_time(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t && ASN1_TIME_to_tm(t, &tm))
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(buf, len, "?");
}

static void
fmt_name(const X509_NAME *n, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s;

	snprintf(buf, len, "?");
	if (!b)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 && (s = bio_string(b))) {
		snprintf(buf, len, "%s", s);
		free(s);
	}
	BIO_free(b);
}

static void
fmt_key(EVP_PKEY *k, char *buf, size_t len)
{
	char group[48];

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
		snprintf(buf, len, "ECDSA %s", strcmp(group, "prime256v1") == 0 ? "P-256" : group);
	else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA)
		snprintf(buf, len, "RSA %d", EVP_PKEY_get_bits(k));
	else
		snprintf(buf, len, "%s %d", OBJ_nid2sn(EVP_PKEY_get_base_id(k)), EVP_PKEY_get_bits(k));
}

/* "DNS:a, IP:10.0.0.1" from the SAN extension; "" when there is none. */
static char *
fmt_sans(X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	BIO *b = BIO_new(BIO_s_mem());
	char ip[INET6_ADDRSTRLEN];
	char *s = NULL;
	int i;

	if (!b)
		goto out;
	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const char *sep = i ? ", " : "";

		if (gn->type == GEN_DNS) {
			BIO_printf(b, "%sDNS:%.*s", sep, ASN1_STRING_length(gn->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		} else if (gn->type == GEN_IPADD) {
			int n = ASN1_STRING_length(gn->d.iPAddress);
			const unsigned char *d = ASN1_STRING_get0_data(gn->d.iPAddress);

			if ((n == 4 || n == 16) && inet_ntop(n == 4 ? AF_INET : AF_INET6, d, ip, sizeof(ip)))
				BIO_printf(b, "%sIP:%s", sep, ip);
			else
				BIO_printf(b, "%sIP:?", sep);
		} else {
			BIO_printf(b, "%s(other name type %d)", sep, gn->type);
		}
	}
	s = bio_string(b);
out:
	BIO_free(b);
	GENERAL_NAMES_free(gens);
	return s;
}

/* Every certificate in a PEM text, in order. NULL when there is none. */
static STACK_OF(X509) *
read_certs(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	while (b && sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();	/* the loop ends on "no start line" */
	BIO_free(b);
	if (sk && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return sk;
}

static EVP_PKEY *
read_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	ERR_clear_error();
	BIO_free(b);
	return k;
}

static void
check_chain(struct certs_report *r, const char *ca_pem, X509 *leaf, STACK_OF(X509) *chain)
{
	STACK_OF(X509) *cas = ca_pem ? read_certs(ca_pem) : NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	int i, ok;

	if (!cas) {
		finding(r, CERTS_FAIL, "no CA certificate in ca.crt: cannot show the API server can verify tls.crt");
		return;
	}
	if (!(store = X509_STORE_new()) || !(ctx = X509_STORE_CTX_new()))
		goto fail;
	for (i = 0; i < sk_X509_num(cas); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(cas, i)))
			goto fail;
	if (!X509_STORE_CTX_init(ctx, store, leaf, chain))
		goto fail;
	/* The purpose makes verification insist on serverAuth, as the API server's client does. */
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx);
	if (ok == 1)
		finding(r, CERTS_PASS, "ca.crt verifies tls.crt (%d CA certificate%s in ca.crt)",
		    sk_X509_num(cas), sk_X509_num(cas) == 1 ? "" : "s");
	else
		finding(r, CERTS_FAIL, "ca.crt does not verify tls.crt: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	goto out;
fail:
	finding(r, CERTS_FAIL, "cannot set up chain verification");
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(cas, X509_free);
}

static int
covers(X509 *x, const char *name)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
	int rc;

	if (ip) {
		ASN1_OCTET_STRING_free(ip);
		rc = X509_check_ip_asc(x, name, 0);
	} else {
		ERR_clear_error();
		rc = X509_check_host(x, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	}
	return rc == 1;
}

static void
check_names(struct certs_report *r, X509 *x, const struct certs_check_opts *o)
{
	char name[300];
	size_t i;

	if (o->service) {
		/* The API server dials S.N.svc; the other forms only matter to in-cluster clients. */
		snprintf(name, sizeof(name), "%s.%s.svc", o->service, o->namespace_);
		if (covers(x, name))
			finding(r, CERTS_PASS, "covers %s (the name the API server dials)", name);
		else
			finding(r, CERTS_FAIL, "does not cover %s, the name the API server dials", name);
		snprintf(name, sizeof(name), "%s.%s.svc.cluster.local", o->service, o->namespace_);
		if (!covers(x, name))
			finding(r, CERTS_NOTE, "does not cover %s", name);
		snprintf(name, sizeof(name), "%s.%s", o->service, o->namespace_);
		if (!covers(x, name))
			finding(r, CERTS_NOTE, "does not cover %s", name);
	}
	for (i = 0; i < o->nnames; i++) {
		if (covers(x, o->names[i]))
			finding(r, CERTS_PASS, "covers %s", o->names[i]);
		else
			finding(r, CERTS_FAIL, "does not cover %s", o->names[i]);
	}
}

static void
check_validity(struct certs_report *r, X509 *x, int min_days)
{
	int days = 0, secs = 0;

	fmt_time(X509_get0_notBefore(x), r->not_before, sizeof(r->not_before));
	fmt_time(X509_get0_notAfter(x), r->not_after, sizeof(r->not_after));
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		finding(r, CERTS_FAIL, "not valid before %s", r->not_before);
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x))) {
		finding(r, CERTS_FAIL, "cannot read the expiry time");
		return;
	}
	r->seconds_left = (long long)days * 86400 + secs;
	if (r->seconds_left <= 0)
		finding(r, CERTS_FAIL, "expired at %s", r->not_after);
	else if (r->seconds_left < (long long)min_days * 86400)
		finding(r, CERTS_FAIL, "expires in %lld day%s (%s), within --min-days %d",
		    r->seconds_left / 86400, r->seconds_left / 86400 == 1 ? "" : "s", r->not_after, min_days);
	else
		finding(r, CERTS_PASS, "valid for %lld more days (>= --min-days %d)", r->seconds_left / 86400, min_days);
}

static void
check_eku(struct certs_report *r, X509 *x)
{
	uint32_t xku;

	/* X509_get_extended_key_usage returns UINT32_MAX when the extension is absent. */
	xku = X509_get_extended_key_usage(x);
	if (xku != UINT32_MAX && (xku & XKU_SSL_SERVER))
		finding(r, CERTS_PASS, "extended key usage includes serverAuth");
	else
		finding(r, CERTS_FAIL, "no serverAuth extended key usage: Go TLS clients such as the API server refuse it");
}

int
certs_check_pem(const char *ca_pem, const char *cert_pem, const char *key_pem,
    const struct certs_check_opts *opts, struct certs_report *report, char *err, size_t errlen)
{
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf;

	memset(report, 0, sizeof(*report));
	if (!cert_pem || !(certs = read_certs(cert_pem))) {
		seterr(err, errlen, "tls.crt: no PEM certificate");
		return -1;
	}
	if (!key_pem || !(key = read_key(key_pem))) {
		seterr(err, errlen, "tls.key: no PEM private key");
		sk_X509_pop_free(certs, X509_free);
		return -1;
	}
	leaf = sk_X509_shift(certs);	/* the rest, if any, are intermediates */
	fmt_name(X509_get_subject_name(leaf), report->subject, sizeof(report->subject));
	fmt_name(X509_get_issuer_name(leaf), report->issuer, sizeof(report->issuer));
	fmt_key(X509_get0_pubkey(leaf), report->key_desc, sizeof(report->key_desc));
	report->sans = fmt_sans(leaf);

	if (X509_check_private_key(leaf, key) == 1)
		finding(report, CERTS_PASS, "tls.key matches tls.crt");
	else
		finding(report, CERTS_FAIL, "tls.key does not match tls.crt");
	ERR_clear_error();
	check_chain(report, ca_pem, leaf, certs);
	check_eku(report, leaf);
	check_names(report, leaf, opts);
	check_validity(report, leaf, opts->min_days);

	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	EVP_PKEY_free(key);
	return 0;
}

/* Read a whole small file into a malloc'd string. Returns NULL with errno set. */
static char *
read_text(const char *dir, const char *name, char *path, size_t pathlen)
{
	struct buf b;
	FILE *f;
	int rc, saved;

	snprintf(path, pathlen, "%s/%s", dir, name);
	if (!(f = fopen(path, "r")))
		return NULL;
	buf_init(&b, (size_t)1 << 20);	/* certificates are small; a huge file is a mistake */
	rc = io_read_all(f, &b);
	saved = errno;
	fclose(f);
	if (rc != 0) {
		buf_free(&b);
		errno = saved;
		return NULL;
	}
	return buf_take(&b, NULL);
}

int
certs_check_dir(const char *dir, const struct certs_check_opts *opts, struct certs_report *report,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	char *ca = NULL, *crt = NULL, *key = NULL;
	int rc = -1;

	memset(report, 0, sizeof(*report));
	if (!(crt = read_text(dir, "tls.crt", path, sizeof(path))) ||
	    !(key = read_text(dir, "tls.key", path, sizeof(path)))) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	ca = read_text(dir, "ca.crt", path, sizeof(path));	/* NULL: a failed finding, not an error */
	rc = certs_check_pem(ca, crt, key, opts, report, err, errlen);
out:
	free(ca);
	free(crt);
	if (key) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	return rc;
}

void
certs_report_free(struct certs_report *report)
{
	if (report) {
		free(report->sans);
		report->sans = NULL;
	}
}
