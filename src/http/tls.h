/*
 * The TLS side of the HTTPS listener (docs/TLS.md): the certificates and
 * keys it presents, swapped on reload without touching a connection in
 * flight; the session cache and the ticket key that let devices resume;
 * the protocol versions and cipher suites it offers. libmicrohttpd makes
 * each connection's GnuTLS session; server.c hands it here before the
 * session's first byte. The one file that includes GnuTLS's headers is
 * tls.c; sessions travel through this header as void *.
 */
#ifndef OTAD_HTTP_TLS_H
#define OTAD_HTTP_TLS_H

#include "core/config.h"
#include "core/must_use.h"

struct tls_server;

/* One loaded set of certificates and keys, shared by the sessions that began with it. */
struct tls_credentials;

/*
 * Loads the certificate chains and keys CONFIG names (tls_cert, tls_key;
 * when empty, the data folder's tls/server.pem with tls/server.key and, if
 * present, tls/server-rsa.pem with tls/server-rsa.key) and sets up session
 * resumption (tls_session_cache, tls_session_lifetime_s). A key file
 * readable or writable by others is refused. Returns 0 with a new server, or
 * -errno after logging why (-ENOENT, -EPERM for the key's mode, -EINVAL for
 * a file that does not parse or a key that does not match its certificate).
 */
MUST_USE int tls_server_new(const struct config *config, struct tls_server **ret_tls);

/*
 * Reads the same files again and, when every pair loads, makes them the ones
 * new handshakes present; sessions already under way keep the set they began
 * with until they close. On failure nothing changes and the reason is
 * logged. Thread-safe. Returns 0 or -errno as tls_server_new.
 */
MUST_USE int tls_server_reload(struct tls_server *tls);

/* Frees TLS. Every session must have ended (tls_session_end). NULL-safe. */
void tls_server_free(struct tls_server *tls);

/* The GnuTLS priority string of the listener: TLS 1.3 and 1.2, the suites of docs/TLS.md. */
const char *tls_server_priorities(void);

/*
 * The first pair's certificate chain and key, PEM, NUL-terminated (borrowed
 * until tls_server_startup_done): libmicrohttpd wants one at start; every
 * session gets the current set from tls_session_begin instead.
 */
void tls_server_startup_pem(const struct tls_server *tls, const char **ret_cert,
                            const char **ret_key);

/* Wipes and frees what tls_server_startup_pem handed out, once the daemon has started. */
void tls_server_startup_done(struct tls_server *tls);

/*
 * Sets up SESSION (a gnutls_session_t of a new connection, before its first
 * byte): the current certificates, the session cache, the ticket key.
 * Returns the set it took, which the caller hands to tls_session_end when
 * the connection is gone; NULL when it could not (logged; the session then
 * presents the startup pair).
 */
struct tls_credentials *tls_session_begin(struct tls_server *tls, void *session);

/*
 * Called on SESSION once its handshake is done, before an answer goes out
 * (on each request: it is two field reads when there is nothing to do).
 * Holds what the server sends to the record size the client asked for with
 * max_fragment_length (RFC 6066): GnuTLS 3.7 honours it during the
 * handshake and then, when its write state is set up, forgets it for
 * application data unless record_size_limit was negotiated too; a
 * 512-byte BearSSL client would then fail on the first 16 KB record.
 */
void tls_session_ready(void *session);

/* Lets go of what tls_session_begin took. NULL-safe. */
void tls_session_end(struct tls_credentials *creds);

/* The loaded GnuTLS's version (gnutls_check_version(NULL)), for `otad --version`. */
const char *tls_gnutls_version(void);

#endif
