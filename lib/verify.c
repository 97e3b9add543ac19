/*
 * The streaming check of a signed image (see include/otac/verify.h for the
 * formats). Every byte is hashed as it arrives except the last `hold` bytes,
 * which are kept back in the context: for a given key and format the size of
 * the signature trailer is fixed (modulus + 4 for ESP8266, 512 for ESP32), so
 * when the stream ends the held-back bytes are exactly the trailer and the
 * hash covers exactly the payload, without knowing the image size up front.
 *
 * The signature checks run at finish, in place in the held-back bytes:
 * PKCS#1 v1.5 and ECDSA through BearSSL, RSA-PSS as EMSA-PSS-VERIFY (RFC 8017
 * 9.1.2) on top of BearSSL's raw public-key operation, because BearSSL 0.6
 * has no PSS.
 */
#include "otac/verify.h"

#include <stdbool.h>
#include <string.h>

/* Values of struct otac_verify.state; anything else means "not initialised". */
#define STATE_READY 0x6f746163
#define STATE_DONE  0x646f6e65

#define HASH_MAX_BYTES 64 /* SHA-512 */

static const br_hash_class *hash_class_of(enum otac_hash hash, size_t *ret_len)
{
    switch (hash) {
    case OTAC_HASH_SHA256:
        *ret_len = 32;
        return &br_sha256_vtable;
    case OTAC_HASH_SHA384:
        *ret_len = 48;
        return &br_sha384_vtable;
    case OTAC_HASH_SHA512:
        *ret_len = 64;
        return &br_sha512_vtable;
    }
    return NULL;
}

/* Compares in time independent of the contents. */
static bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    uint8_t any = 0;
    for (size_t i = 0; i < len; i++)
        any |= p[i];
    return any == 0;
}

/* The fields of a caller-filled key are within what init_rsa / init_ec give. */
static bool key_sane(const struct otac_pubkey *key)
{
    switch (key->type) {
    case OTAC_KEY_RSA:
        return key->rsa.n_len * 8 >= OTAC_RSA_MIN_BITS && key->rsa.n_len <= OTAC_RSA_MAX_BYTES &&
               key->rsa.n[0] != 0 && key->rsa.e_len >= 1 && key->rsa.e_len <= OTAC_RSA_MAX_E_BYTES;
    case OTAC_KEY_EC:
        return (key->ec.curve == OTAC_CURVE_P256 && key->ec.q_len == 65) ||
               (key->ec.curve == OTAC_CURVE_P384 && key->ec.q_len == 97);
    }
    return false;
}

static br_rsa_public_key bearssl_rsa_key(const struct otac_pubkey *key)
{
    /* BearSSL's key struct is not const-qualified, but it only reads it. */
    br_rsa_public_key pk = {
        (unsigned char *)key->rsa.n,
        key->rsa.n_len,
        (unsigned char *)key->rsa.e,
        key->rsa.e_len,
    };
    return pk;
}

int otac_verify_init(struct otac_verify *v, const struct otac_pubkey *key, enum otac_format format,
                     enum otac_hash hash)
{
    if (!v)
        return OTAC_E_INVAL;
    v->state = 0;
    size_t hash_len;
    const br_hash_class *hash_class = hash_class_of(hash, &hash_len);
    if (!key || !hash_class)
        return OTAC_E_INVAL;
    if (!key_sane(key))
        return OTAC_E_KEY_UNSUPPORTED;

    size_t hold;
    switch (format) {
    case OTAC_FORMAT_ESP8266:
    case OTAC_FORMAT_ESP8266_LEGACY:
        /* The stock ESP8266 verifier has an RSA branch only that works (reference 7.2). */
        if (key->type != OTAC_KEY_RSA)
            return OTAC_E_KEY_FORMAT;
        if (hash != OTAC_HASH_SHA256)
            return OTAC_E_INVAL;
        hold = key->rsa.n_len + OTAC_ESP8266_LENGTH_WORD;
        break;
    case OTAC_FORMAT_ESP32:
        hold = OTAC_ESP32_SIG_BLOCK;
        break;
    default:
        return OTAC_E_INVAL;
    }

    v->key = key;
    v->format = format;
    v->hash = hash;
    v->hash_class = hash_class;
    hash_class->init(&v->hash_ctx.vtable);
    v->total = 0;
    v->hold = hold;
    v->held = 0;
    v->state = STATE_READY;
    return OTAC_OK;
}

int otac_verify_update(struct otac_verify *v, const void *data, size_t len)
{
    if (!v || (!data && len > 0))
        return OTAC_E_INVAL;
    if (v->state != STATE_READY)
        return OTAC_E_STATE;
    const uint8_t *p = data;
    v->total += len;
    if (len <= v->hold - v->held) {
        if (len > 0)
            memcpy(v->tail + v->held, p, len);
        v->held += len;
        return OTAC_OK;
    }
    /* Keep the newest `hold` bytes; hash what falls out, oldest first. */
    size_t excess = len - (v->hold - v->held); /* > 0 here, and cannot overflow */
    size_t from_tail = excess < v->held ? excess : v->held;
    v->hash_class->update(&v->hash_ctx.vtable, v->tail, from_tail);
    memmove(v->tail, v->tail + from_tail, v->held - from_tail);
    v->held -= from_tail;
    size_t from_data = excess - from_tail;
    v->hash_class->update(&v->hash_ctx.vtable, p, from_data);
    memcpy(v->tail + v->held, p + from_data, len - from_data);
    v->held += len - from_data;
    return OTAC_OK;
}

/* ESP8266: signature of n_len bytes, then the length word, little-endian. */
static int check_esp8266(struct otac_verify *v, const uint8_t *digest)
{
    size_t k = v->key->rsa.n_len;
    const uint8_t *word = v->tail + k;
    uint32_t length = (uint32_t)word[0] | (uint32_t)word[1] << 8 | (uint32_t)word[2] << 16 |
                      (uint32_t)word[3] << 24;
    if (length != k)
        return OTAC_E_SIG_LENGTH;

    br_rsa_public_key pk = bearssl_rsa_key(v->key);
    const unsigned char *oid = v->format == OTAC_FORMAT_ESP8266 ? BR_HASH_OID_SHA256 : NULL;
    uint8_t recovered[32];
    if (!br_rsa_pkcs1_vrfy_get_default()(v->tail, k, oid, sizeof(recovered), &pk, recovered))
        return OTAC_E_SIG_MISMATCH;
    return bytes_equal(recovered, digest, sizeof(recovered)) ? OTAC_OK : OTAC_E_SIG_MISMATCH;
}

/* XORs MGF1(SEED) into OUT (RFC 8017 B.2.1). */
static void mgf1_xor(const br_hash_class *hash_class, size_t hash_len, const uint8_t *seed,
                     size_t seed_len, uint8_t *out, size_t len)
{
    br_hash_compat_context ctx;
    uint8_t block[HASH_MAX_BYTES];
    uint32_t counter = 0;
    for (size_t done = 0; done < len; counter++) {
        uint8_t c[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16), (uint8_t)(counter >> 8),
                        (uint8_t)counter};
        hash_class->init(&ctx.vtable);
        hash_class->update(&ctx.vtable, seed, seed_len);
        hash_class->update(&ctx.vtable, c, sizeof(c));
        hash_class->out(&ctx.vtable, block);
        size_t n = len - done < hash_len ? len - done : hash_len;
        for (size_t i = 0; i < n; i++)
            out[done + i] ^= block[i];
        done += n;
    }
}

/*
 * ESP32 RSA: the first n_len bytes of the block are an RSA-PSS signature
 * with MGF1 of the same hash and the maximum salt; zeros follow.
 */
static int check_esp32_rsa(struct otac_verify *v, const uint8_t *digest, size_t hash_len)
{
    size_t k = v->key->rsa.n_len;
    uint8_t *em = v->tail;
    if (!all_zero(v->tail + k, OTAC_ESP32_SIG_BLOCK - k))
        return OTAC_E_SIG_BLOCK;
    br_rsa_public_key pk = bearssl_rsa_key(v->key);
    if (!br_rsa_public_get_default()(em, k, &pk))
        return OTAC_E_SIG_MISMATCH;

    /* emBits = modBits - 1; when that is a multiple of 8, EM is one byte shorter. */
    size_t mod_bits = k * 8;
    for (uint8_t top = v->key->rsa.n[0]; !(top & 0x80); top <<= 1)
        mod_bits--;
    size_t em_bits = mod_bits - 1;
    size_t em_len = (em_bits + 7) / 8;
    if (em_len < k) {
        if (em[0] != 0)
            return OTAC_E_SIG_MISMATCH;
        em++;
    }
    if (em_len < hash_len + 2 || em[em_len - 1] != 0xbc)
        return OTAC_E_SIG_MISMATCH;
    size_t db_len = em_len - hash_len - 1;
    const uint8_t *h = em + db_len;
    uint8_t top_mask = (uint8_t)(0xff00u >> (8 * em_len - em_bits));
    if (em[0] & top_mask)
        return OTAC_E_SIG_MISMATCH;
    mgf1_xor(v->hash_class, hash_len, h, hash_len, em, db_len);
    em[0] &= (uint8_t)~top_mask;

    /* Maximum salt: DB is 0x01 then the salt, with no zero padding before it. */
    size_t salt_len = em_len - hash_len - 2;
    if (em[0] != 0x01)
        return OTAC_E_SIG_MISMATCH;
    static const uint8_t zeros[8] = {0};
    br_hash_compat_context ctx;
    uint8_t expected[HASH_MAX_BYTES];
    v->hash_class->init(&ctx.vtable);
    v->hash_class->update(&ctx.vtable, zeros, sizeof(zeros));
    v->hash_class->update(&ctx.vtable, digest, hash_len);
    v->hash_class->update(&ctx.vtable, em + 1, salt_len);
    v->hash_class->out(&ctx.vtable, expected);
    return bytes_equal(expected, h, hash_len) ? OTAC_OK : OTAC_E_SIG_MISMATCH;
}

/* ESP32 ECDSA: a DER SEQUENCE whose header gives its length; zeros follow. */
static int check_esp32_ecdsa(struct otac_verify *v, const uint8_t *digest, size_t hash_len)
{
    const uint8_t *block = v->tail;
    size_t header, body;
    if (block[0] != 0x30)
        return OTAC_E_SIG_BLOCK;
    if (block[1] < 0x80) {
        header = 2;
        body = block[1];
    } else if (block[1] == 0x81 && block[2] >= 0x80) {
        header = 3;
        body = block[2];
    } else {
        return OTAC_E_SIG_BLOCK;
    }
    size_t sig_len = header + body; /* at most 258, inside the block */
    if (!all_zero(block + sig_len, OTAC_ESP32_SIG_BLOCK - sig_len))
        return OTAC_E_SIG_BLOCK;
    br_ec_public_key pk = {(int)v->key->ec.curve, (unsigned char *)v->key->ec.q, v->key->ec.q_len};
    if (!br_ecdsa_vrfy_asn1_get_default()(br_ec_get_default(), digest, hash_len, &pk, block,
                                          sig_len))
        return OTAC_E_SIG_MISMATCH;
    return OTAC_OK;
}

int otac_verify_finish(struct otac_verify *v, uint64_t *ret_payload_len)
{
    if (!v)
        return OTAC_E_INVAL;
    if (v->state != STATE_READY)
        return OTAC_E_STATE;
    v->state = STATE_DONE;
    /* A payload of at least one byte, and the whole trailer. */
    if (v->total <= v->hold)
        return OTAC_E_TRUNCATED;

    size_t hash_len = 0;
    hash_class_of(v->hash, &hash_len);
    uint8_t digest[HASH_MAX_BYTES];
    v->hash_class->out(&v->hash_ctx.vtable, digest);

    int r;
    if (v->format == OTAC_FORMAT_ESP32)
        r = v->key->type == OTAC_KEY_RSA ? check_esp32_rsa(v, digest, hash_len)
                                         : check_esp32_ecdsa(v, digest, hash_len);
    else
        r = check_esp8266(v, digest);
    if (r == OTAC_OK && ret_payload_len)
        *ret_payload_len = v->total - v->hold;
    return r;
}

int otac_verify_image(const struct otac_pubkey *key, enum otac_format format, enum otac_hash hash,
                      const void *data, size_t len, uint64_t *ret_payload_len)
{
    struct otac_verify v;
    int r = otac_verify_init(&v, key, format, hash);
    if (r < 0)
        return r;
    r = otac_verify_update(&v, data, len);
    if (r < 0)
        return r;
    return otac_verify_finish(&v, ret_payload_len);
}
