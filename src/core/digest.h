/*
 * Message digests (SHA-256, MD5), HMAC-SHA256 and a constant-time compare,
 * through OpenSSL libcrypto: the one file outside src/signing/ that calls it,
 * so that the store and the webhook need not reach into signing. MD5 is here because the stock
 * updaters check x-MD5 and report sketch-md5; it is an integrity check against transport errors,
 * never a security boundary.
 */
#ifndef OTAD_CORE_DIGEST_H
#define OTAD_CORE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_BYTES 32
#define DIGEST_MD5_BYTES    16
#ifndef SHA256_HEX_LEN
#define SHA256_HEX_LEN 64 /* hex digits of a SHA-256 */
#define MD5_HEX_LEN    32 /* hex digits of an MD5 */
#endif

/* One-shot digests of LEN bytes. */
void digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_BYTES]);
void digest_md5(const void *data, size_t len, uint8_t out[DIGEST_MD5_BYTES]);

/* The same, as lowercase hex into OUT (65 and 33 bytes). */
void digest_sha256_hex(const void *data, size_t len, char out[65]);
void digest_md5_hex(const void *data, size_t len, char out[33]);

/* HMAC-SHA256 of DATA under KEY. */
void digest_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[DIGEST_SHA256_BYTES]);

/* Compares LEN bytes in time that does not depend on where they differ. */
bool digest_equal(const void *a, const void *b, size_t len);

/*
 * The loaded libcrypto's version, "3.0.x" (OpenSSL_version), for `otad --version`.
 * Static storage; never NULL.
 */
const char *digest_openssl_version(void);

#endif
