/*
 * The POSIX port (lib/port/posix.c): the otac port on a Linux or BSD host,
 * for a gateway that updates itself or for testing a device's logic on a
 * desktop. Not for the chip: it is the one part of the library that calls
 * the OS and allocates.
 *
 *   network  TCP through getaddrinfo and poll; TLS 1.2 through BearSSL,
 *            trusting the CA certificates of one PEM file; connect (TCP and
 *            the TLS handshake) waits at most OTAC_POSIX_CONNECT_TIMEOUT_MS,
 *            send and recv the timeout the library passes. HOST is the
 *            TLS server name (SNI) and the name the certificate must carry
 *            (BearSSL matches DNS names, never IP addresses). A server that
 *            closes TCP without close_notify ends the stream as a close
 *            (recv 0), as the ESP8266 core's client takes it: the image's
 *            Content-Length and MD5 still catch a cut
 *   clock    CLOCK_MONOTONIC
 *   flash    DIR/slot0.bin and DIR/slot1.bin, each at most SLOT_SIZE bytes:
 *            flash_begin empties the file, flash_write is a pwrite, and the
 *            write at offset 0 (the library's last of an image) is followed
 *            by fsync, so a staged slot is on disk before its record
 *   state    DIR/state.bin, replaced by writing DIR/state.bin.tmp, fsync,
 *            rename and fsync of DIR; a leftover .tmp (a crash) is ignored
 *   random   getrandom(2)
 */
#ifndef OTAC_PORT_POSIX_H
#define OTAC_PORT_POSIX_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "otac/port.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_POSIX_PATH_MAX 4096u

/* The port's own bound on connect: name lookup aside, TCP and the TLS handshake together. */
#define OTAC_POSIX_CONNECT_TIMEOUT_MS 8000u

/* Caller-allocated; fields private. */
struct otac_posix {
    char dir[OTAC_POSIX_PATH_MAX];
    uint64_t slot_size;
    void *trust; /* the CA file's trust anchors; NULL: TLS refused */
    size_t trust_count;
};

/*
 * Makes P a port over the folder DIR (created if missing), with slots of
 * SLOT_SIZE bytes, trusting the certificates in CA_PEM_PATH for TLS (NULL:
 * connect with TLS fails with OTAC_E_INVAL), and fills *RET_PORT.
 * Returns OTAC_OK, OTAC_E_INVAL (NULL, a path too long), OTAC_E_IO (the
 * folder cannot be made, the CA file cannot be read, memory ran out) or
 * OTAC_E_KEY_PARSE (no certificate in the CA file, or one that does not
 * decode).
 */
int otac_posix_init(struct otac_posix *p, const char *dir, uint64_t slot_size,
                    const char *ca_pem_path, struct otac_port *ret_port);

/* Releases what otac_posix_init allocated; P may be zeroed or initialised. */
void otac_posix_free(struct otac_posix *p);

/*
 * Reads the PEM file PATH and makes a BearSSL trust anchor of each
 * CERTIFICATE in it (a CA certificate anchors chains; any other is trusted
 * as the server's own, as BearSSL's tools do). *RET_ANCHORS (an array of
 * *RET_COUNT, allocated; free it with otac_posix_trust_free) is written only
 * on success. The same loader serves otac_posix_init and the repository's
 * TLS test client (tests/tools/tls_client_bearssl.c).
 * Returns OTAC_OK, OTAC_E_INVAL (NULL), OTAC_E_IO (unreadable, out of
 * memory) or OTAC_E_KEY_PARSE (not PEM, no certificate, one that does not
 * decode).
 */
int otac_posix_trust_load(const char *path, br_x509_trust_anchor **ret_anchors, size_t *ret_count);

/* Frees what otac_posix_trust_load returned; ANCHORS may be NULL. */
void otac_posix_trust_free(br_x509_trust_anchor *anchors, size_t count);

#ifdef __cplusplus
}
#endif

#endif
