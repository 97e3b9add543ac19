/*
 * Where the TLS certificates and keys live in the data folder, shared by
 * the writer (`otad tls`, src/cli/cli_tls.c through src/signing/pki.c) and
 * the reader (the HTTPS listener, which uses them when the operator names
 * no certificate of its own). Names only: this header owns no file and
 * does no I/O. docs/TLS.md describes each file.
 *
 *   DATA_DIR/tls/            mode 0700
 *     ca.pem                 the fleet CA certificate (the devices' trust anchor)
 *     ca.key                 its private key, 0600
 *     server.pem             the server certificate chain: leaf first, then its CA
 *     server.key             its private key, 0600
 *     server-rsa.pem         optional: an RSA chain for clients that offer only RSA
 *     server-rsa.key         key exchange (ESP8266 BearSSL's reduced cipher lists), 0600
 *
 * A server serves server.pem + server.key, and server-rsa.pem +
 * server-rsa.key beside it when both exist.
 */
#ifndef OTAD_CORE_TLS_PATHS_H
#define OTAD_CORE_TLS_PATHS_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#define TLS_DIR             "tls" /* below data_dir */
#define TLS_CA_CERT         "ca.pem"
#define TLS_CA_KEY          "ca.key"
#define TLS_SERVER_CERT     "server.pem"
#define TLS_SERVER_KEY      "server.key"
#define TLS_SERVER_RSA_CERT "server-rsa.pem"
#define TLS_SERVER_RSA_KEY  "server-rsa.key"

/*
 * Writes "DATA_DIR/tls/NAME" into OUT (SIZE bytes), or "DATA_DIR/tls" when
 * NAME is NULL. NAME is one of the file names above. Returns 0, or
 * -ENAMETOOLONG (OUT then holds a truncated path that must not be used).
 */
static inline int tls_path(char *out, size_t size, const char *data_dir, const char *name)
{
    int n = name ? snprintf(out, size, "%s/" TLS_DIR "/%s", data_dir, name)
                 : snprintf(out, size, "%s/" TLS_DIR, data_dir);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

#endif
