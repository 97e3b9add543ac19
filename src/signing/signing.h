/*
 * Signing keys and signed images, through OpenSSL libcrypto (only src/signing/
 * may call it). This module owns the key files in the keys folder (NAME.key,
 * the private key, mode 0600; NAME.pub, its public PEM), the three signed
 * image formats the stock updaters check, and their verification:
 *
 *   esp8266         payload | RSASSA-PKCS1-v1_5(SHA-256) | uint32 LE signature
 *                   length: what ESP8266 cores >= 2.6 take, byte-identical to
 *                   `openssl dgst -sha256 -sign` (reference 7.2).
 *   esp8266-legacy  the same layout with PKCS#1 type-1 padding over the raw
 *                   32-byte digest, for cores 2.5.0-2.5.2 (reference 7.3).
 *   esp32           payload | signature zero-padded to 512 bytes: RSA-PSS
 *                   (MGF1 same hash, maximum salt) or DER ECDSA, SHA-256,
 *                   SHA-384 or SHA-512, for arduino-esp32 >= 3.3 (reference 8).
 *
 * It does not choose which key or format a release gets (the service does),
 * store images (the store does) or print anything (the CLI does). Errors are
 * -errno with a one-line struct reason; OpenSSL's error queue is translated
 * and cleared here. Reasons and logs never contain key material.
 */
#ifndef OTAD_SIGNING_SIGNING_H
#define OTAD_SIGNING_SIGNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/reason.h"

#define SIGNING_KEY_FILE_MAX    (64u * 1024u) /* a PEM key file larger than this is refused */
#define SIGNING_KEY_NAME_MAX    64u           /* bytes in a key name */
#define SIGNING_ESP32_BLOCK     512u          /* the ESP32 signature block */
#define SIGNING_ESP8266_WORD    4u            /* the ESP8266 length word */
#define SIGNING_DIGEST_MAX      64u           /* SHA-512 */
#define SIGNING_FINGERPRINT_HEX 65u           /* SHA-256 hex and a NUL */

enum signing_format {
    SIGNING_FORMAT_AUTO = 0, /* signing_verify only: find the format */
    SIGNING_FORMAT_ESP8266,
    SIGNING_FORMAT_ESP8266_LEGACY,
    SIGNING_FORMAT_ESP32,
};

enum signing_hash {
    SIGNING_HASH_AUTO = 0, /* signing_sign: the format's default (SHA-256); verify: try each */
    SIGNING_HASH_SHA256,
    SIGNING_HASH_SHA384,
    SIGNING_HASH_SHA512,
};

/* The key types `otad key generate` makes. */
enum signing_key_type {
    SIGNING_KEY_RSA_2048,
    SIGNING_KEY_RSA_3072,
    SIGNING_KEY_RSA_4096,
    SIGNING_KEY_ECDSA_P256,
    SIGNING_KEY_ECDSA_P384,
};

/* Names: "auto", "esp8266", "esp8266-legacy", "esp32"; NULL for a value out of range. */
const char *signing_format_name(enum signing_format format);

/* Parses a format name (as above, "auto" included). Returns 0, or -EINVAL. */
int signing_format_parse(const char *name, enum signing_format *ret_format);

/* Names: "auto", "sha256", "sha384", "sha512"; NULL for a value out of range. */
const char *signing_hash_name(enum signing_hash hash);

/* Parses a hash name (as above, "auto" included). Returns 0, or -EINVAL. */
int signing_hash_parse(const char *name, enum signing_hash *ret_hash);

/* Names: "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384"; NULL if out of range. */
const char *signing_key_type_name(enum signing_key_type type);

/* Parses a key type name (as above). Returns 0, or -EINVAL. */
int signing_key_type_parse(const char *name, enum signing_key_type *ret_type);

/*
 * True when NAME can name a key: 1 to SIGNING_KEY_NAME_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-'. It becomes a file name.
 */
bool signing_key_name_valid(const char *name);

/*
 * Writes "KEYS_DIR/NAME.key" (PRIVATE) or "KEYS_DIR/NAME.pub" into OUT (SIZE
 * bytes). Returns 0, -EINVAL (NAME not valid) or -ENAMETOOLONG.
 */
int signing_key_path(char *out, size_t size, const char *keys_dir, const char *name,
                     bool private_key);

/*
 * A loaded key: public only, or private (which includes the public half).
 * Opaque; made by the load and generate functions, freed by signing_key_free.
 */
struct signing_key;

/* What a key is, for listings and reports. */
struct signing_key_info {
    char type[16];    /* "rsa-2048", "rsa-3072", "ecdsa-p256", ... */
    unsigned bits;    /* modulus or curve size */
    bool rsa;         /* false: ECDSA */
    bool private_key; /* the private half is loaded */
    size_t sig_len;   /* RSA: signature bytes (modulus size); ECDSA: the DER maximum */
    char fingerprint[SIGNING_FINGERPRINT_HEX]; /* SHA-256 of the DER SubjectPublicKeyInfo */
};

/*
 * Generates a key of TYPE and stores it as KEYS_DIR/NAME.key (the private key,
 * PKCS#8 PEM, mode 0600) and KEYS_DIR/NAME.pub (the public key, PEM
 * SubjectPublicKeyInfo, mode 0644), each written atomically. KEYS_DIR is
 * created (0700) when missing. Never overwrites: if either file exists
 * nothing is written. When RET_KEY is not NULL the new key is returned there
 * (caller frees).
 * Returns 0, -EINVAL (bad NAME or TYPE), -EEXIST, -EIO (OpenSSL failed),
 * -ENOMEM, or the -errno of a file operation; WHY says which.
 */
int signing_key_generate(const char *keys_dir, const char *name, enum signing_key_type type,
                         struct signing_key **ret_key, struct reason *why);

/*
 * Loads the unencrypted PEM private key at PATH (PKCS#8 or traditional).
 * Refuses a key other users could read: the file must be a regular file owned
 * by the effective user, with no group or other permission bits (0600 or
 * 0400). Never prompts for a passphrase. Writes *RET_KEY (caller frees) only
 * on success.
 * Returns 0, -EPERM (ownership or mode), -EINVAL (not an unencrypted PEM
 * private key), -ENOTSUP (a key type or size otad does not sign with),
 * -EFBIG, -ENOMEM or the -errno of open/read; WHY says which.
 */
int signing_key_load_private(const char *path, struct signing_key **ret_key, struct reason *why);

/*
 * Loads a PEM public key (SubjectPublicKeyInfo "PUBLIC KEY") from the file at
 * PATH, or from the LEN bytes at PEM (borrowed). Writes *RET_KEY (caller
 * frees) only on success.
 * Returns 0, -EINVAL (no PEM public key there), -ENOTSUP (type or size otad
 * does not take: RSA 2048..4096 bits, ECDSA P-256 / P-384), -EFBIG, -ENOMEM
 * or the -errno of open/read; WHY says which.
 */
int signing_key_load_public(const char *path, struct signing_key **ret_key, struct reason *why);
int signing_key_from_pem(const void *pem, size_t len, struct signing_key **ret_key,
                         struct reason *why);

/* Frees KEY (and wipes the private half). NULL-safe. */
void signing_key_free(struct signing_key *key);

/* Fills *RET_INFO with what KEY is. KEY must not be NULL. */
void signing_key_info(const struct signing_key *key, struct signing_key_info *ret_info);

/*
 * Appends the public half of KEY to OUT as PEM SubjectPublicKeyInfo (what an
 * ESP8266 sketch folder takes as public.key). Returns 0, -EIO, or the error
 * of buf_append.
 */
int signing_key_export_pem(const struct signing_key *key, struct buf *out, struct reason *why);

/*
 * True when IMAGE (LEN bytes, borrowed; an uncompressed firmware image)
 * carries the public half of KEY as PEM text: the first line of the PEM
 * body of its SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or, for RSA, of its
 * PKCS#1 form ("BEGIN RSA PUBLIC KEY"). That is how the ESP8266 core's
 * signing build and `otad key export` put a key into firmware, whose Updater
 * then checks every update against it (docs/SIGNING.md). A key built in as
 * DER is not found. False also when the key cannot be encoded.
 */
bool signing_key_embedded_in(const struct signing_key *key, const uint8_t *image, size_t len);

/*
 * Appends a C header to OUT that embeds the public PEM of KEY as the array
 * IDENT (bytes of the PEM and a terminating NUL) with IDENT_len (its size,
 * NUL included, as mbedTLS's PEM parser needs), for BearSSL::PublicKey on the
 * ESP8266 and UpdaterRSAVerifier / UpdaterECDSAVerifier on the ESP32.
 * IDENT must be a C identifier of at most 64 bytes; NAME (the key's name, may
 * be NULL) only appears in the comment.
 * Returns 0, -EINVAL (bad IDENT), -EIO, or the error of buf_append.
 */
int signing_key_export_c(const struct signing_key *key, const char *name, const char *ident,
                         struct buf *out, struct reason *why);

/*
 * Signs PAYLOAD (LEN > 0 bytes, borrowed) with the private KEY in FORMAT and
 * appends the whole served file to OUT: payload, signature, then the length
 * word (esp8266*) or the zero padding to 512 bytes (esp32). HASH is
 * SIGNING_HASH_AUTO or SHA256 for the ESP8266 formats, any for esp32.
 * esp8266 signatures are deterministic (byte-identical to `openssl dgst
 * -sha256 -sign`); esp32 RSA-PSS and ECDSA ones are not.
 * Returns 0; -EINVAL (AUTO or unknown format, a public-only key, an ECDSA key
 * for esp8266*, another hash for esp8266*, an empty payload); -EIO (OpenSSL
 * failed); -E2BIG (the file would pass OUT's ceiling; OUT unchanged); or
 * -ENOMEM (OUT released, as buf_append does).
 */
int signing_sign(const struct signing_key *key, enum signing_format format, enum signing_hash hash,
                 const void *payload, size_t len, struct buf *out, struct reason *why);

/* What signing_verify found in a file. */
struct signing_verdict {
    enum signing_format format; /* the format that verified, or the one that was tried */
    enum signing_hash hash;     /* the payload hash; AUTO when none was computed */
    size_t payload_len;         /* bytes before the signature */
    size_t sig_len;             /* signature bytes (without the trailer or padding) */
    char digest[2 * SIGNING_DIGEST_MAX + 1]; /* payload digest, hex; "" when none */
};

/*
 * Checks that DATA (LEN bytes, borrowed) is a file signed by KEY (public or
 * private) in FORMAT, or in any format when FORMAT is SIGNING_FORMAT_AUTO.
 * For esp32, HASH says the hash (AUTO tries SHA-256, then SHA-384, then
 * SHA-512); the ESP8266 formats always use SHA-256. The checks are the
 * devices' checks, strict where devices are lenient (the esp32 padding must
 * be zero, RSA-PSS must use the maximum salt).
 * VERDICT (not NULL) is always filled: on success with what verified, on
 * -EBADMSG with the format tried and, when the file's shape allowed it, the
 * payload length and digest, for the report.
 * Returns 0 (authentic), -EBADMSG (no match: altered or truncated file, wrong
 * key, wrong length word, the other ESP8266 format; WHY says what), -EINVAL
 * (an unknown format or hash, an ECDSA key with an ESP8266 format or a hash
 * other than SHA-256), or -EIO.
 */
int signing_verify(const struct signing_key *key, enum signing_format format,
                   enum signing_hash hash, const void *data, size_t len,
                   struct signing_verdict *verdict, struct reason *why);

#endif
