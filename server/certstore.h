/* certstore.h - the serving certificate: load a PEM pair, hand it to GnuTLS, swap it on change. */
#ifndef BMHGUARD_CERTSTORE_H
#define BMHGUARD_CERTSTORE_H

#include <stddef.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

struct certstore;	/* opaque */

/* Load cert_path (PEM chain, leaf first) and key_path (PEM private key). Fails with one line in
 * err when a file is missing or unreadable, does not parse, the key does not match the leaf, or
 * the leaf has expired. On success *out serves new handshakes through certstore_retrieve.
 * Only one store serves at a time: GnuTLS's callback carries no user pointer. Free with
 * certstore_free() after the TLS daemon has stopped. */
int certstore_open(const char *cert_path, const char *key_path, struct certstore **out,
    char *err, size_t errlen);
void certstore_free(struct certstore *cs);

/* Reload when the files' identity (device, inode, size, mtime, resolved path: a Secret update
 * swaps a `..data` symlink) changed since the last attempt, or always when force is set.
 * Returns 1 when a new pair now serves, 0 when nothing changed, -1 when the new files were
 * refused (err says why; the old pair keeps serving). Call from one thread at a time. */
int certstore_reload(struct certstore *cs, int force, char *err, size_t errlen);

/* The serving leaf's notAfter, and its SHA-256 fingerprint in hex (borrowed, valid until the
 * next reload by the same thread). */
time_t certstore_not_after(const struct certstore *cs);
const char *certstore_fingerprint(const struct certstore *cs);

/* For MHD_OPTION_HTTPS_CERT_CALLBACK: hands GnuTLS the serving pair. Thread-safe, lock-free. */
int certstore_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
    unsigned int *pcert_length, gnutls_privkey_t *privkey);

#endif
