/*
 * Signed images: signing_sign builds the served file of each format and
 * signing_verify checks one, both with EVP_PKEY_sign / EVP_PKEY_verify over a
 * digest computed once (the same bytes `openssl dgst -sign` produces, since
 * PKCS#1 v1.5 is deterministic). The layouts are in signing.h and in
 * reference sections 7 and 8; the device-side twin is lib/verify.c.
 *
 * Verification is the devices' check made strict: the ESP8266 length word
 * must equal the key's signature size, the ESP32 padding must be zero, and
 * RSA-PSS must carry exactly the maximum salt (mbedTLS 3.x devices demand
 * it; OpenSSL's "max" setting would accept any salt when verifying).
 */
#include "signing/signing.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "core/util.h"
#include "signing/key_internal.h"

static const EVP_MD *hash_md(enum signing_hash hash)
{
    switch (hash) {
    case SIGNING_HASH_SHA256:
        return EVP_sha256();
    case SIGNING_HASH_SHA384:
        return EVP_sha384();
    case SIGNING_HASH_SHA512:
        return EVP_sha512();
    case SIGNING_HASH_AUTO:
        break;
    }
    return NULL;
}

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/*
 * Checks that KEY can make or check FORMAT images with *HASH, and resolves
 * SIGNING_HASH_AUTO to the format's hash for the ESP8266 formats (esp32 keeps
 * AUTO: the caller decides). Returns 0 or -EINVAL.
 */
static int check_format(const struct signing_key *key, enum signing_format format,
                        enum signing_hash *hash, struct reason *why)
{
    if (!hash_md(*hash) && *hash != SIGNING_HASH_AUTO)
        return reason_set(why, -EINVAL, "unknown hash");
    switch (format) {
    case SIGNING_FORMAT_ESP8266:
    case SIGNING_FORMAT_ESP8266_LEGACY:
        if (!key->info.rsa)
            return reason_set(why, -EINVAL,
                              "%s images need an rsa key: the esp8266 updater cannot check an "
                              "%s signature (its ecdsa branch expects a raw signature no stock "
                              "tool makes)",
                              signing_format_name(format), key->info.type);
        if (*hash != SIGNING_HASH_AUTO && *hash != SIGNING_HASH_SHA256)
            return reason_set(why, -EINVAL, "%s images are signed over sha256, not %s",
                              signing_format_name(format), signing_hash_name(*hash));
        *hash = SIGNING_HASH_SHA256;
        return 0;
    case SIGNING_FORMAT_ESP32:
        return 0;
    case SIGNING_FORMAT_AUTO:
        break;
    }
    return reason_set(why, -EINVAL, "choose a format: esp8266, esp8266-legacy or esp32");
}

/* Sets the padding scheme and digest FORMAT uses on an initialised sign or verify CTX. */
static int configure(EVP_PKEY_CTX *ctx, const struct signing_key *key, enum signing_format format,
                     const EVP_MD *md)
{
    if (!key->info.rsa)
        return EVP_PKEY_CTX_set_signature_md(ctx, md) > 0 ? 0 : -EIO;
    switch (format) {
    case SIGNING_FORMAT_ESP8266:
        /* DigestInfo(SHA-256) in PKCS#1 type-1 padding, as `openssl dgst -sha256 -sign`. */
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
            return -EIO;
        return 0;
    case SIGNING_FORMAT_ESP8266_LEGACY:
        /* No digest set: the raw 32 bytes go into the padding, as `openssl rsautl -sign`. */
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 ? 0 : -EIO;
    case SIGNING_FORMAT_ESP32: {
        /* The maximum salt, as a number so verification demands exactly it. */
        int em_len = (int)((key->info.bits - 1 + 7) / 8);
        int salt_len = em_len - EVP_MD_get_size(md) - 2;
        if (salt_len < 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt_len) <= 0)
            return -EIO;
        return 0;
    }
    case SIGNING_FORMAT_AUTO:
        break;
    }
    return -EINVAL;
}

/* Hashes DATA with MD into OUT (SIGNING_DIGEST_MAX bytes); returns the digest length or -EIO. */
static int digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
    unsigned int out_len = 0;
    if (!EVP_Digest(data, len, out, &out_len, md, NULL))
        return -EIO;
    return (int)out_len;
}

int signing_sign(const struct signing_key *key, enum signing_format format, enum signing_hash hash,
                 const void *payload, size_t len, struct buf *out, struct reason *why)
{
    uint8_t sig[SIGNING_ESP32_BLOCK] = {0};
    uint8_t dgst[SIGNING_DIGEST_MAX];
    EVP_PKEY_CTX *ctx = NULL;
    int r;

    if (!key->info.private_key)
        return reason_set(why, -EINVAL, "signing needs the private key; this %s key is public",
                          key->info.type);
    if (len == 0)
        return reason_set(why, -EINVAL, "nothing to sign: the payload is empty");
    r = check_format(key, format, &hash, why);
    if (r < 0)
        return r;
    if (hash == SIGNING_HASH_AUTO)
        hash = SIGNING_HASH_SHA256;
    const EVP_MD *md = hash_md(hash);
    size_t sig_len = key->info.sig_len;
    if (sig_len > sizeof(sig))
        return reason_set(why, -EINVAL, "%s signatures do not fit in %u bytes", key->info.type,
                          SIGNING_ESP32_BLOCK);

    int dgst_len = digest(md, payload, len, dgst);
    if (dgst_len < 0)
        return signing_openssl_reason(why, -EIO, "cannot hash the payload");
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 || configure(ctx, key, format, md) < 0 ||
        EVP_PKEY_sign(ctx, sig, &sig_len, dgst, (size_t)dgst_len) <= 0) {
        r = signing_openssl_reason(why, -EIO, "signing failed");
        goto out;
    }

    /* payload | signature | trailer, appended at once so OUT never holds a torn file. */
    size_t trailer_len;
    uint8_t trailer[SIGNING_ESP8266_WORD];
    if (format == SIGNING_FORMAT_ESP32) {
        trailer_len = 0;
        sig_len = SIGNING_ESP32_BLOCK; /* the zeros after the signature */
    } else {
        trailer_len = sizeof(trailer);
        for (size_t i = 0; i < sizeof(trailer); i++)
            trailer[i] = (uint8_t)(sig_len >> (8 * i));
    }
    size_t total = len + sig_len + trailer_len;
    if (total < len || total > out->max - out->len) {
        r = reason_set(why, -E2BIG, "the signed image (%zu bytes) exceeds its limit of %zu", total,
                       out->max - out->len);
        goto out;
    }
    if ((r = buf_append(out, payload, len)) < 0 || (r = buf_append(out, sig, sig_len)) < 0 ||
        (r = buf_append(out, trailer, trailer_len)) < 0) {
        reason_set(why, r, "cannot hold the signed image: %s", strerror(-r));
        goto out;
    }
    r = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/*
 * Checks SIG over DGST for FORMAT. Returns 1 (valid), 0 (does not verify) or
 * -EIO when OpenSSL could not even start.
 */
static int check_signature(const struct signing_key *key, enum signing_format format,
                           const EVP_MD *md, const uint8_t *dgst, size_t dgst_len,
                           const uint8_t *sig, size_t sig_len, struct reason *why)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    int r;
    if (!ctx || EVP_PKEY_verify_init(ctx) <= 0 || configure(ctx, key, format, md) < 0) {
        r = signing_openssl_reason(why, -EIO, "cannot start verification");
        goto out;
    }
    r = EVP_PKEY_verify(ctx, sig, sig_len, dgst, dgst_len) == 1 ? 1 : 0;
    ERR_clear_error(); /* a mismatch queues errors that say nothing more */
out:
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* Hashes the payload into VERDICT (digest hex), with HASH. */
static int verdict_digest(struct signing_verdict *verdict, enum signing_hash hash,
                          const uint8_t *data, uint8_t *dgst, struct reason *why)
{
    int dgst_len = digest(hash_md(hash), data, verdict->payload_len, dgst);
    if (dgst_len < 0)
        return signing_openssl_reason(why, -EIO, "cannot hash the payload");
    verdict->hash = hash;
    hex_encode(dgst, (size_t)dgst_len, verdict->digest);
    return dgst_len;
}

/* True when DATA has the ESP8266 shape for KEY: a length word equal to its signature size. */
static bool esp8266_shape(const struct signing_key *key, const uint8_t *data, size_t len)
{
    return key->info.rsa && len > key->info.sig_len + SIGNING_ESP8266_WORD &&
           read_le32(data + len - SIGNING_ESP8266_WORD) == key->info.sig_len;
}

/* Checks an ESP8266 image in FORMAT (esp8266 or esp8266-legacy). Returns 0, -EBADMSG or -EIO. */
static int verify_esp8266(const struct signing_key *key, enum signing_format format,
                          const uint8_t *data, size_t len, struct signing_verdict *verdict,
                          struct reason *why)
{
    size_t k = key->info.sig_len;
    uint8_t dgst[SIGNING_DIGEST_MAX];

    verdict->format = format;
    if (len < SIGNING_ESP8266_WORD)
        return reason_set(why, -EBADMSG, "a file of %zu bytes cannot end in a length word", len);
    uint32_t word = read_le32(data + len - SIGNING_ESP8266_WORD);
    if (word != k)
        return reason_set(why, -EBADMSG,
                          "the length word says %u signature bytes; signatures of this %s key "
                          "are %zu bytes (wrong key, or not a %s image)",
                          (unsigned)word, key->info.type, k, signing_format_name(format));
    if (len <= k + SIGNING_ESP8266_WORD)
        return reason_set(why, -EBADMSG,
                          "a file of %zu bytes has no room for a payload, a %zu-byte signature "
                          "and the length word",
                          len, k);
    verdict->payload_len = len - k - SIGNING_ESP8266_WORD;
    verdict->sig_len = k;
    int dgst_len = verdict_digest(verdict, SIGNING_HASH_SHA256, data, dgst, why);
    if (dgst_len < 0)
        return dgst_len;
    const uint8_t *sig = data + verdict->payload_len;
    int r = check_signature(key, format, EVP_sha256(), dgst, (size_t)dgst_len, sig, k, why);
    if (r < 0)
        return r;
    if (r == 1)
        return 0;

    /* Say so when the file is the other ESP8266 generation: devices tell them apart. */
    enum signing_format other =
        format == SIGNING_FORMAT_ESP8266 ? SIGNING_FORMAT_ESP8266_LEGACY : SIGNING_FORMAT_ESP8266;
    if (check_signature(key, other, EVP_sha256(), dgst, (size_t)dgst_len, sig, k, why) == 1)
        return reason_set(why, -EBADMSG, "the signature is in the %s form, which %s devices refuse",
                          signing_format_name(other),
                          format == SIGNING_FORMAT_ESP8266 ? "core >= 2.6" : "core 2.5.x");
    return reason_set(why, -EBADMSG,
                      "the %s signature does not match: the file was altered or signed by "
                      "another key (this one is %s %.16s...)",
                      signing_format_name(format), key->info.type, key->info.fingerprint);
}

/*
 * The length of the signature at the start of the ESP32 BLOCK, for KEY, after
 * checking that only zeros follow it. Returns the length or -EBADMSG.
 */
static int esp32_sig_len(const struct signing_key *key, const uint8_t *block, struct reason *why)
{
    size_t sig_len;
    if (key->info.rsa) {
        sig_len = key->info.sig_len;
    } else if (block[0] == 0x30 && block[1] < 0x80) {
        sig_len = 2 + (size_t)block[1];
    } else if (block[0] == 0x30 && block[1] == 0x81 && block[2] >= 0x80) {
        sig_len = 3 + (size_t)block[2];
    } else {
        return reason_set(why, -EBADMSG,
                          "the last %u bytes do not start with a DER ecdsa signature",
                          SIGNING_ESP32_BLOCK);
    }
    if (!all_zero(block + sig_len, SIGNING_ESP32_BLOCK - sig_len))
        return reason_set(why, -EBADMSG,
                          "the %u-byte esp32 block holds more than a %zu-byte %s signature "
                          "and zeros",
                          SIGNING_ESP32_BLOCK, sig_len, key->info.type);
    return (int)sig_len;
}

/* Checks an ESP32 image with HASH (AUTO: each in turn). Returns 0, -EBADMSG or -EIO. */
static int verify_esp32(const struct signing_key *key, enum signing_hash hash, const uint8_t *data,
                        size_t len, struct signing_verdict *verdict, struct reason *why)
{
    static const enum signing_hash all[] = {SIGNING_HASH_SHA256, SIGNING_HASH_SHA384,
                                            SIGNING_HASH_SHA512};
    uint8_t dgst[SIGNING_DIGEST_MAX];

    verdict->format = SIGNING_FORMAT_ESP32;
    if (len <= SIGNING_ESP32_BLOCK)
        return reason_set(why, -EBADMSG,
                          "a file of %zu bytes has no room for a payload and the %u-byte esp32 "
                          "signature block",
                          len, SIGNING_ESP32_BLOCK);
    const uint8_t *block = data + len - SIGNING_ESP32_BLOCK;
    int sig_len = esp32_sig_len(key, block, why);
    if (sig_len < 0)
        return sig_len;
    verdict->payload_len = len - SIGNING_ESP32_BLOCK;
    verdict->sig_len = (size_t)sig_len;

    const enum signing_hash *hashes = hash == SIGNING_HASH_AUTO ? all : &hash;
    size_t count = hash == SIGNING_HASH_AUTO ? ARRAY_SIZE(all) : 1;
    for (size_t i = 0; i < count; i++) {
        int dgst_len = verdict_digest(verdict, hashes[i], data, dgst, why);
        if (dgst_len < 0)
            return dgst_len;
        int r = check_signature(key, SIGNING_FORMAT_ESP32, hash_md(hashes[i]), dgst,
                                (size_t)dgst_len, block, (size_t)sig_len, why);
        if (r != 0)
            return r < 0 ? r : 0;
    }
    /* Report the first hash tried. */
    int dgst_len = verdict_digest(verdict, hashes[0], data, dgst, why);
    if (dgst_len < 0)
        return dgst_len;
    return reason_set(why, -EBADMSG,
                      "the esp32 %s signature does not match with %s: the file was altered or "
                      "signed by another key (this one is %s %.16s...)",
                      key->info.rsa ? "rsa-pss" : "ecdsa",
                      hash == SIGNING_HASH_AUTO ? "sha256, sha384 or sha512"
                                                : signing_hash_name(hash),
                      key->info.type, key->info.fingerprint);
}

/* Copies a reason found on the side into WHY (which may be NULL); returns ERR. */
static int pass_on(struct reason *why, const struct reason *found, int err)
{
    if (why)
        *why = *found;
    return err;
}

/*
 * Finds the format: the ESP8266 forms when the length word fits the key (and
 * HASH allows SHA-256), then esp32. When nothing verifies, the reason is the
 * one for the format the file looks most like.
 */
static int verify_auto(const struct signing_key *key, enum signing_hash hash, const uint8_t *data,
                       size_t len, struct signing_verdict *verdict, struct reason *why)
{
    const struct signing_verdict blank = *verdict;
    struct signing_verdict esp8266_verdict = blank, legacy_verdict = blank, esp32_verdict = blank;
    struct reason esp8266_why = {""}, legacy_why = {""}, esp32_why = {""};
    bool esp8266 =
        (hash == SIGNING_HASH_AUTO || hash == SIGNING_HASH_SHA256) && esp8266_shape(key, data, len);
    int r;

    if (esp8266) {
        r = verify_esp8266(key, SIGNING_FORMAT_ESP8266, data, len, &esp8266_verdict, &esp8266_why);
        if (r != -EBADMSG) {
            *verdict = esp8266_verdict;
            return pass_on(why, &esp8266_why, r);
        }
        r = verify_esp8266(key, SIGNING_FORMAT_ESP8266_LEGACY, data, len, &legacy_verdict,
                           &legacy_why);
        if (r != -EBADMSG) {
            *verdict = legacy_verdict;
            return pass_on(why, &legacy_why, r);
        }
    }
    r = verify_esp32(key, hash, data, len, &esp32_verdict, &esp32_why);
    if (r != -EBADMSG) {
        *verdict = esp32_verdict;
        return pass_on(why, &esp32_why, r);
    }

    if (esp8266) {
        *verdict = esp8266_verdict;
        return pass_on(why, &esp8266_why, -EBADMSG);
    }
    /* A length word naming another RSA size most likely means another key. */
    uint32_t word = len >= SIGNING_ESP8266_WORD ? read_le32(data + len - SIGNING_ESP8266_WORD) : 0;
    if (key->info.rsa && (word == 256 || word == 384 || word == 512))
        return verify_esp8266(key, SIGNING_FORMAT_ESP8266, data, len, verdict, why);
    if (esp32_verdict.payload_len > 0) { /* the block had the esp32 shape */
        *verdict = esp32_verdict;
        return pass_on(why, &esp32_why, -EBADMSG);
    }
    verdict->format = SIGNING_FORMAT_AUTO;
    return reason_set(why, -EBADMSG, "no signed format fits this file and %s key: %s%s",
                      key->info.type, key->info.rsa ? "no esp8266 length word for it; " : "",
                      esp32_why.text);
}

int signing_verify(const struct signing_key *key, enum signing_format format,
                   enum signing_hash hash, const void *data, size_t len,
                   struct signing_verdict *verdict, struct reason *why)
{
    memset(verdict, 0, sizeof(*verdict));
    verdict->format = format;
    verdict->hash = SIGNING_HASH_AUTO;
    if (!hash_md(hash) && hash != SIGNING_HASH_AUTO)
        return reason_set(why, -EINVAL, "unknown hash");

    switch (format) {
    case SIGNING_FORMAT_ESP8266:
    case SIGNING_FORMAT_ESP8266_LEGACY: {
        int r = check_format(key, format, &hash, why);
        if (r < 0)
            return r;
        return verify_esp8266(key, format, data, len, verdict, why);
    }
    case SIGNING_FORMAT_ESP32:
        return verify_esp32(key, hash, data, len, verdict, why);
    case SIGNING_FORMAT_AUTO:
        return verify_auto(key, hash, data, len, verdict, why);
    }
    return reason_set(why, -EINVAL, "unknown format");
}
