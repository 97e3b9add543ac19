/*
 * Signed-image verification for the otac device library: checks a firmware
 * image exactly as the stock updaters do before they stage it.
 *
 *   OTAC_FORMAT_ESP8266         core >= 2.6: payload | RSASSA-PKCS1-v1_5(SHA-256,
 *                               DigestInfo) | uint32 LE length, the length
 *                               equal to the modulus size in bytes.
 *   OTAC_FORMAT_ESP8266_LEGACY  cores 2.5.x: the same layout, PKCS#1 type-1
 *                               padding over the raw 32-byte digest.
 *   OTAC_FORMAT_ESP32           arduino-esp32 >= 3.3: payload | 512-byte block
 *                               holding an RSA-PSS (MGF1 with the same hash,
 *                               maximum salt) or DER ECDSA signature, then zeros.
 *
 * The module owns the parsing of public keys (PEM or DER SubjectPublicKeyInfo,
 * or a PKCS#1 RSAPublicKey) and the streaming check. It uses BearSSL only,
 * never allocates and makes no OS calls; every buffer lives in the caller's
 * structs. It does not read images from flash or network: the caller feeds
 * the bytes in order, in chunks of any size, as they arrive.
 *
 * Where the stock verifiers are lenient this one is at least as strict, so an
 * image it accepts is accepted by every device of that format: the ESP32
 * padding after the signature must be zero, and RSA-PSS must use exactly the
 * maximum salt length (what mbedTLS 3.x devices require).
 *
 * Typical use:
 *
 *   struct otac_pubkey key;
 *   struct otac_verify v;
 *   if (otac_pubkey_parse(&key, pem, pem_len) < 0) ...
 *   if (otac_verify_init(&v, &key, OTAC_FORMAT_ESP8266, OTAC_HASH_SHA256) < 0) ...
 *   while (more) otac_verify_update(&v, chunk, n);    // also write chunk to flash
 *   if (otac_verify_finish(&v, &payload_len) == OTAC_OK) ...  // stage payload_len bytes
 */
#ifndef OTAC_VERIFY_H
#define OTAC_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "otac/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes fixed by the formats and by BearSSL's RSA limit (4096 bits). */
#define OTAC_RSA_MIN_BITS        2048u
#define OTAC_RSA_MAX_BYTES       512u  /* 4096-bit modulus */
#define OTAC_RSA_MAX_E_BYTES     8u    /* public exponent */
#define OTAC_EC_MAX_POINT_BYTES  97u   /* uncompressed P-384 point */
#define OTAC_PUBKEY_DER_MAX      1024u /* a decoded PEM public key */
#define OTAC_ESP32_SIG_BLOCK     512u  /* the ESP32 trailing block */
#define OTAC_ESP8266_LENGTH_WORD 4u    /* the ESP8266 trailing length */
#define OTAC_VERIFY_HOLD_MAX     (OTAC_RSA_MAX_BYTES + OTAC_ESP8266_LENGTH_WORD)

enum otac_key_type {
    OTAC_KEY_RSA = 1,
    OTAC_KEY_EC = 2,
};

/* Curve identifiers; the values are the TLS / BearSSL ones. */
enum otac_curve {
    OTAC_CURVE_P256 = 23,
    OTAC_CURVE_P384 = 24,
};

/*
 * A public key, held by value (no pointers), big-endian integers without
 * leading zeros. Fill it with otac_pubkey_parse or otac_pubkey_init_*;
 * the fields are readable (e.g. to print the key size).
 */
struct otac_pubkey {
    enum otac_key_type type;
    union {
        struct {
            uint8_t n[OTAC_RSA_MAX_BYTES];   /* modulus */
            size_t n_len;                    /* bytes in n; the signature length */
            uint8_t e[OTAC_RSA_MAX_E_BYTES]; /* public exponent */
            size_t e_len;
        } rsa;
        struct {
            enum otac_curve curve;
            uint8_t q[OTAC_EC_MAX_POINT_BYTES]; /* 0x04 | X | Y */
            size_t q_len;
        } ec;
    };
};

enum otac_format {
    OTAC_FORMAT_ESP8266 = 1,
    OTAC_FORMAT_ESP8266_LEGACY = 2,
    OTAC_FORMAT_ESP32 = 3,
};

enum otac_hash {
    OTAC_HASH_SHA256 = 1,
    OTAC_HASH_SHA384 = 2,
    OTAC_HASH_SHA512 = 3,
};

/*
 * A verification in progress. Caller-allocated (under 800 bytes); all fields
 * are private. It borrows the key given to otac_verify_init, which must stay
 * valid and unchanged until otac_verify_finish returns. Nothing to release.
 */
struct otac_verify {
    const struct otac_pubkey *key; /* borrowed */
    enum otac_format format;
    enum otac_hash hash;
    const br_hash_class *hash_class;
    br_hash_compat_context hash_ctx; /* over every byte before the held-back tail */
    uint64_t total;                  /* bytes fed so far */
    size_t hold;                     /* trailer bytes held back: sig + length word, or 512 */
    size_t held;                     /* bytes in tail[], <= hold */
    int state;                       /* ready, finished */
    uint8_t tail[OTAC_VERIFY_HOLD_MAX];
};

/*
 * Decodes a public key from DATA (LEN bytes, borrowed): a PEM "PUBLIC KEY"
 * (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1), or the same as DER.
 * Trailing NUL bytes are ignored, so the C arrays `otad key export --format c`
 * writes can be passed with their full length. Takes RSA with a 2048..4096-bit
 * modulus and an exponent of at most 8 bytes, and ECDSA P-256 / P-384 with an
 * uncompressed point. Writes *RET_KEY only on success. PEM input takes about
 * 2 KB of stack (BearSSL's decoder and the decoded bytes); DER input little.
 * Returns OTAC_OK, OTAC_E_INVAL (a NULL argument), OTAC_E_KEY_PARSE (not a
 * well-formed public key, or larger than OTAC_PUBKEY_DER_MAX once decoded) or
 * OTAC_E_KEY_UNSUPPORTED (another algorithm, curve or size).
 */
int otac_pubkey_parse(struct otac_pubkey *ret_key, const void *data, size_t len);

/*
 * Builds an RSA key from the big-endian modulus N and exponent E (borrowed;
 * leading zeros allowed). Same limits and errors as otac_pubkey_parse.
 */
int otac_pubkey_init_rsa(struct otac_pubkey *ret_key, const uint8_t *n, size_t n_len,
                         const uint8_t *e, size_t e_len);

/*
 * Builds an EC key on CURVE from the uncompressed point Q (0x04 | X | Y,
 * borrowed). Returns OTAC_OK, OTAC_E_INVAL or OTAC_E_KEY_UNSUPPORTED
 * (unknown curve, wrong length, not uncompressed).
 */
int otac_pubkey_init_ec(struct otac_pubkey *ret_key, enum otac_curve curve, const uint8_t *q,
                        size_t q_len);

/*
 * Starts checking one image against KEY (borrowed, see struct otac_verify)
 * in FORMAT with HASH. The ESP8266 formats take RSA keys and SHA-256 only;
 * ESP32 takes RSA or EC with any of the three hashes (the device's verifier
 * object fixes it; the image does not say).
 * Returns OTAC_OK, OTAC_E_INVAL (NULL, unknown format or hash, an ESP8266
 * format with another hash) or OTAC_E_KEY_FORMAT (an EC key for ESP8266).
 * After an error V is unusable until initialised again.
 */
int otac_verify_init(struct otac_verify *v, const struct otac_pubkey *key, enum otac_format format,
                     enum otac_hash hash);

/*
 * Feeds the next LEN bytes of the image (borrowed for the call only; LEN may
 * be 0 and DATA then NULL). Returns OTAC_OK, or OTAC_E_INVAL / OTAC_E_STATE
 * when V is not initialised or already finished.
 */
int otac_verify_update(struct otac_verify *v, const void *data, size_t len);

/*
 * Ends the check. On OTAC_OK the image is authentic and *RET_PAYLOAD_LEN (if
 * not NULL) is the length of the payload, the bytes to stage (the image
 * without its signature). Errors: OTAC_E_TRUNCATED (no room for payload and
 * signature), OTAC_E_SIG_LENGTH (ESP8266 length word is not the modulus
 * size), OTAC_E_SIG_BLOCK (ESP32 block malformed or its padding not zero),
 * OTAC_E_SIG_MISMATCH (wrong key, altered bytes, the other ESP8266 format),
 * OTAC_E_INVAL / OTAC_E_STATE (misuse). V is finished either way.
 */
int otac_verify_finish(struct otac_verify *v, uint64_t *ret_payload_len);

/*
 * One call for an image held in memory: init, one update, finish.
 * Same arguments and errors as those three.
 */
int otac_verify_image(const struct otac_pubkey *key, enum otac_format format, enum otac_hash hash,
                      const void *data, size_t len, uint64_t *ret_payload_len);

#ifdef __cplusplus
}
#endif

#endif
