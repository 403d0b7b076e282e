/* certstore.c - the serving certificate: load a PEM pair, hand it to GnuTLS, swap it on change. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <gnutls/x509.h>

#include "certstore.h"

#define MAX_CHAIN 16
#define MAX_PEM_BYTES (1u << 20)
/* A retired pair may still be referenced by a handshake that picked it just before a swap;
 * GnuTLS uses it within that handshake's first server flight, so minutes are ample. */
#define RETIRE_SECONDS 600

struct certset {
	gnutls_pcert_st pcerts[MAX_CHAIN];
	unsigned npcerts;
	gnutls_privkey_t key;
	time_t not_after;
	char fingerprint[65];
	time_t retired_at;
	struct certset *next_retired;
};

/* Identity of the files as last seen, to notice a replaced file or a swapped symlink. */
struct fileid {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char real[PATH_MAX];
};

struct certstore {
	char *cert_path, *key_path;
	struct fileid cert_id, key_id;
	struct certset *current;	/* also published in `serving` */
	struct certset *retired;
};

/* The pair GnuTLS hands out: its retrieve callback has no user pointer (see certstore.h). */
static _Atomic(struct certset *) serving;

static void
certset_free(struct certset *s)
{
	unsigned i;

	if (s == NULL)
		return;
	for (i = 0; i < s->npcerts; i++)
		gnutls_pcert_deinit(&s->pcerts[i]);
	if (s->key != NULL)
		gnutls_privkey_deinit(s->key);
	free(s);
}

static int
read_file(const char *path, gnutls_datum_t *d, char *err, size_t errlen)
{
	FILE *f;
	size_t n;
	unsigned char *buf;

	d->data = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(MAX_PEM_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory reading %s", path);
		return -1;
	}
	n = fread(buf, 1, MAX_PEM_BYTES + 1, f);
	if (ferror(f) || n > MAX_PEM_BYTES || n == 0) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    ferror(f) ? strerror(errno) : n == 0 ? "empty file" : "larger than 1 MiB");
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	d->data = buf;
	d->size = (unsigned)n;
	return 0;
}

/* The leaf's public key must be the one the private key pairs with. */
static int
key_matches(gnutls_pcert_st *leaf, gnutls_privkey_t key)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	int same = 0;

	if (gnutls_pubkey_init(&pub) < 0)
		return 0;
	if (gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) < 0 ||
	    gnutls_pubkey_export2(leaf->pubkey, GNUTLS_X509_FMT_DER, &b) < 0)
		goto out;
	same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
out:
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	return same;
}

static int
leaf_details(struct certset *s, const char *cert_path, char *err, size_t errlen)
{
	gnutls_x509_crt_t crt = NULL;
	unsigned char fp[32];
	size_t fplen = sizeof(fp), i;
	int rc = -1;

	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &s->pcerts[0].cert, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fplen) < 0) {
		snprintf(err, errlen, "%s: cannot read the certificate's fields", cert_path);
		goto out;
	}
	for (i = 0; i < fplen; i++)
		snprintf(s->fingerprint + 2 * i, 3, "%02x", fp[i]);
	s->not_after = gnutls_x509_crt_get_expiration_time(crt);
	if (s->not_after != (time_t)-1 && s->not_after <= time(NULL)) {
		snprintf(err, errlen, "%s: certificate expired", cert_path);
		goto out;
	}
	rc = 0;
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

static struct certset *
certset_load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	gnutls_datum_t cert = { NULL, 0 }, key = { NULL, 0 };
	struct certset *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (read_file(cert_path, &cert, err, errlen) < 0 || read_file(key_path, &key, err, errlen) < 0)
		goto fail;
	s->npcerts = MAX_CHAIN;
	r = gnutls_pcert_list_import_x509_raw(s->pcerts, &s->npcerts, &cert, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || s->npcerts == 0) {
		s->npcerts = 0;
		snprintf(err, errlen, "%s: no usable PEM certificate (%s)", cert_path,
		    r < 0 ? gnutls_strerror(r) : "none found");
		goto fail;
	}
	if ((r = gnutls_privkey_init(&s->key)) < 0 ||
	    (r = gnutls_privkey_import_x509_raw(s->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "%s: no usable PEM private key (%s)", key_path, gnutls_strerror(r));
		goto fail;
	}
	if (!key_matches(&s->pcerts[0], s->key)) {
		snprintf(err, errlen, "%s does not match the certificate in %s", key_path, cert_path);
		goto fail;
	}
	if (leaf_details(s, cert_path, err, errlen) < 0)
		goto fail;
	free(cert.data);
	free(key.data);
	return s;
fail:
	free(cert.data);
	free(key.data);
	certset_free(s);
	return NULL;
}

static void
file_identity(const char *path, struct fileid *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		id->size = st.st_size;
		id->mtime = st.st_mtim;
	}
	if (realpath(path, id->real) == NULL)
		id->real[0] = '\0';
}

static int
same_identity(const struct fileid *a, const struct fileid *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    strcmp(a->real, b->real) == 0;
}

int
certstore_open(const char *cert_path, const char *key_path, struct certstore **out,
    char *err, size_t errlen)
{
	struct certstore *cs;

	*out = NULL;
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL || (cs->cert_path = strdup(cert_path)) == NULL ||
	    (cs->key_path = strdup(key_path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	file_identity(cert_path, &cs->cert_id);
	file_identity(key_path, &cs->key_id);
	cs->current = certset_load(cert_path, key_path, err, errlen);
	if (cs->current == NULL)
		goto fail;
	atomic_store(&serving, cs->current);
	*out = cs;
	return 0;
fail:
	certstore_free(cs);
	return -1;
}

static void
free_old_retired(struct certstore *cs, time_t now)
{
	struct certset **pp = &cs->retired, *s;

	while ((s = *pp) != NULL) {
		if (now - s->retired_at > RETIRE_SECONDS) {
			*pp = s->next_retired;
			certset_free(s);
		} else {
			pp = &s->next_retired;
		}
	}
}

int
certstore_reload(struct certstore *cs, int force, char *err, size_t errlen)
{
	struct fileid cid, kid;
	struct certset *next;
	time_t now = time(NULL);

	file_identity(cs->cert_path, &cid);
	file_identity(cs->key_path, &kid);
	if (!force && same_identity(&cid, &cs->cert_id) && same_identity(&kid, &cs->key_id))
		return 0;
	/* Remember this attempt even if it fails: a refused pair is not retried every poll, but
	 * the next change to either file (say, the key written after the cert) is. */
	cs->cert_id = cid;
	cs->key_id = kid;
	next = certset_load(cs->cert_path, cs->key_path, err, errlen);
	if (next == NULL)
		return -1;
	free_old_retired(cs, now);
	atomic_store(&serving, next);
	cs->current->retired_at = now;
	cs->current->next_retired = cs->retired;
	cs->retired = cs->current;
	cs->current = next;
	return 1;
}

time_t
certstore_not_after(const struct certstore *cs)
{
	return cs->current->not_after;
}

const char *
certstore_fingerprint(const struct certstore *cs)
{
	return cs->current->fingerprint;
}

void
certstore_free(struct certstore *cs)
{
	struct certset *s;

	if (cs == NULL)
		return;
	if (cs->current != NULL) {
		struct certset *mine = cs->current;

		atomic_compare_exchange_strong(&serving, &mine, NULL);
	}
	certset_free(cs->current);
	while ((s = cs->retired) != NULL) {
		cs->retired = s->next_retired;
		certset_free(s);
	}
	free(cs->cert_path);
	free(cs->key_path);
	free(cs);
}

int
certstore_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
    unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	struct certset *s = atomic_load(&serving);

	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (s == NULL)
		return -1;
	*pcert = s->pcerts;
	*pcert_length = s->npcerts;
	*privkey = s->key;
	return 0;
}
