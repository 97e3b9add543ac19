/*
 * Secure Boot v2 signature sectors (secure_boot.h): building one block per
 * key with libcrypto, and checking a sector block by block the way the
 * boot loader does, made strict (padding and reserved bytes must be what
 * espsecure.py writes). The layouts are in docs/SIGNING.md, "Secure Boot
 * v2"; numbers in a block are little-endian because the chips' RSA and ECC
 * peripherals read them so.
 */
#include "signing/secure_boot.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <zlib.h>

#include "core/util.h"
#include "signing/key_internal.h"

#define MAGIC              0xE7
#define VERSION_RSA        0x02
#define VERSION_ECDSA      0x03
#define ECDSA_SHA256       0x00
#define ECDSA_SHA384       0x01
#define CURVE_P256         2
#define CURVE_P384         3
#define RSA_BITS           3072
#define RSA_BYTES          (RSA_BITS / 8)
#define RSA_SALT           32
#define BLOCK_HEAD         4                               /* magic, version, hash, reserved */
#define RSA_KEY_PART       (RSA_BYTES + 4 + RSA_BYTES + 4) /* n, e, rinv, m' */
#define BLOCK_ZERO_TAIL    16
#define ECDSA_MAX_COORD    48
#define ECDSA_MAX_KEY_PART (1 + 2 * ECDSA_MAX_COORD) /* curve id, X, Y */

/* The fixed shape of each block scheme: where the key part and signature sit. */
struct scheme {
    const char *name;
    uint8_t version, hash_byte, curve;
    size_t digest_len; /* bytes of the image digest at offset 4 */
    size_t coord_len;  /* ECDSA: bytes of a coordinate, of r and of s */
    size_t key_len;    /* bytes of the key part (the digest a device burns is over them) */
    const char *md;    /* the image hash */
    const char *group; /* ECDSA: OpenSSL's group name */
};

static const struct scheme schemes[] = {
    {"rsa-3072", VERSION_RSA, 0, 0, 32, 0, RSA_KEY_PART, "SHA256", NULL},
    {"ecdsa-p256", VERSION_ECDSA, ECDSA_SHA256, CURVE_P256, 32, 32, 1 + 64, "SHA256", "prime256v1"},
    {"ecdsa-p384", VERSION_ECDSA, ECDSA_SHA384, CURVE_P384, 48, 48, 1 + 96, "SHA384", "secp384r1"},
};

static size_t key_offset(const struct scheme *s)
{
    return BLOCK_HEAD + s->digest_len;
}

static size_t signature_offset(const struct scheme *s)
{
    return key_offset(s) + s->key_len;
}

size_t secure_boot_sector_offset(size_t image_end)
{
    return (image_end + SECURE_BOOT_SECTOR - 1) / SECURE_BOOT_SECTOR * SECURE_BOOT_SECTOR;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t block_crc(const uint8_t *block)
{
    return (uint32_t)crc32(0L, block, SECURE_BOOT_BLOCK_CRC);
}

static const struct scheme *scheme_of(const struct signing_key *key)
{
    if (key->info.rsa)
        return key->info.bits == RSA_BITS ? &schemes[0] : NULL;
    if (strcmp(key->info.type, "ecdsa-p256") == 0)
        return &schemes[1];
    if (strcmp(key->info.type, "ecdsa-p384") == 0)
        return &schemes[2];
    return NULL;
}

bool secure_boot_key_usable(const struct signing_key *key)
{
    return scheme_of(key) != NULL;
}

static int unusable(const struct signing_key *key, struct reason *why)
{
    return reason_set(why, -ENOTSUP,
                      "a %s key cannot sign for secure boot v2, which takes rsa-3072, ecdsa-p256 "
                      "and ecdsa-p384",
                      key->info.type);
}

/*
 * m' = -n^-1 mod 2^32, from the low word N0 of an odd modulus: Newton's
 * iteration doubles the correct low bits each step (N0 is its own inverse
 * modulo 8).
 */
static uint32_t montgomery_mdash(uint32_t n0)
{
    uint32_t x = n0;
    for (int i = 0; i < 5; i++)
        x *= 2u - n0 * x;
    return 0u - x;
}

/* Writes the RSA key part of N and E: n, e, rinv = 2^6144 mod n, m' (all LE). 0 or -EIO. */
static int rsa_key_part(const BIGNUM *n, const BIGNUM *e, uint8_t out[RSA_KEY_PART])
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *r = BN_new(), *rinv = BN_new();
    int rc = -EIO;
    BN_ULONG e_word = BN_get_word(e);
    if (!ctx || !r || !rinv || e_word > UINT32_MAX || BN_num_bits(n) != RSA_BITS || !BN_is_odd(n) ||
        !BN_set_bit(r, 2 * RSA_BITS) || !BN_mod(rinv, r, n, ctx) ||
        BN_bn2lebinpad(n, out, RSA_BYTES) != RSA_BYTES ||
        BN_bn2lebinpad(rinv, out + RSA_BYTES + 4, RSA_BYTES) != RSA_BYTES)
        goto out;
    put_le32(out + RSA_BYTES, (uint32_t)e_word);
    put_le32(out + 2 * RSA_BYTES + 4, montgomery_mdash(get_le32(out)));
    rc = 0;
out:
    BN_free(rinv);
    BN_free(r);
    BN_CTX_free(ctx);
    return rc;
}

/* Writes KEY's part of a block of scheme S into OUT (S->key_len bytes). 0 or -EIO. */
static int key_part(const struct signing_key *key, const struct scheme *s, uint8_t *out)
{
    BIGNUM *a = NULL, *b = NULL;
    int rc = -EIO;
    if (key->info.rsa) {
        if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &a) &&
            EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &b))
            rc = rsa_key_part(a, b, out);
    } else if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) &&
               EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b)) {
        out[0] = s->curve;
        if (BN_bn2lebinpad(a, out + 1, (int)s->coord_len) == (int)s->coord_len &&
            BN_bn2lebinpad(b, out + 1 + s->coord_len, (int)s->coord_len) == (int)s->coord_len)
            rc = 0;
    }
    BN_free(a);
    BN_free(b);
    ERR_clear_error();
    return rc;
}

int secure_boot_key_digest(const struct signing_key *key, char ret_hex[SECURE_BOOT_DIGEST_HEX],
                           struct reason *why)
{
    uint8_t part[RSA_KEY_PART], digest[32];
    const struct scheme *s = scheme_of(key);
    if (!s)
        return unusable(key, why);
    if (key_part(key, s, part) < 0 ||
        !EVP_Digest(part, s->key_len, digest, NULL, EVP_sha256(), NULL))
        return signing_openssl_reason(why, -EIO, "cannot encode the key for secure boot v2");
    hex_encode(digest, sizeof(digest), ret_hex);
    return 0;
}

/*
 * Fills BLOCK (SECURE_BOOT_BLOCK bytes, zeroed by the caller) with KEY's
 * signature over DIGEST (the padded image's, with S's hash). 0, -EIO.
 */
static int sign_block(const struct signing_key *key, const struct scheme *s, const uint8_t *digest,
                      uint8_t *block, struct reason *why)
{
    uint8_t sig[RSA_BYTES];
    size_t sig_len = sizeof(sig);
    EVP_PKEY_CTX *ctx = NULL;
    ECDSA_SIG *ecdsa = NULL;
    const EVP_MD *md = EVP_get_digestbyname(s->md);
    int r = -EIO;

    block[0] = MAGIC;
    block[1] = s->version;
    block[2] = s->hash_byte;
    memcpy(block + BLOCK_HEAD, digest, s->digest_len);
    if (key_part(key, s, block + key_offset(s)) < 0) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the key for secure boot v2");
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (!ctx || !md || EVP_PKEY_sign_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
        (key->info.rsa && (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
                           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_SALT) <= 0)) ||
        EVP_PKEY_sign(ctx, sig, &sig_len, digest, s->digest_len) <= 0) {
        r = signing_openssl_reason(why, -EIO, "secure boot v2 signing failed");
        goto out;
    }
    uint8_t *at = block + signature_offset(s);
    if (key->info.rsa) {
        if (sig_len != RSA_BYTES) {
            r = reason_set(why, -EIO, "an rsa-3072 signature of %zu bytes", sig_len);
            goto out;
        }
        for (size_t i = 0; i < RSA_BYTES; i++) /* big-endian to little-endian */
            at[i] = sig[RSA_BYTES - 1 - i];
    } else {
        const unsigned char *p = sig;
        const BIGNUM *sr, *ss;
        ecdsa = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        if (!ecdsa) {
            r = signing_openssl_reason(why, -EIO, "cannot read the ecdsa signature");
            goto out;
        }
        ECDSA_SIG_get0(ecdsa, &sr, &ss);
        if (BN_bn2lebinpad(sr, at, (int)s->coord_len) != (int)s->coord_len ||
            BN_bn2lebinpad(ss, at + s->coord_len, (int)s->coord_len) != (int)s->coord_len) {
            r = reason_set(why, -EIO, "an ecdsa signature wider than its curve");
            goto out;
        }
    }
    put_le32(block + SECURE_BOOT_BLOCK_CRC, block_crc(block));
    r = 0;
out:
    ECDSA_SIG_free(ecdsa);
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_cleanse(sig, sizeof(sig));
    return r;
}

int secure_boot_sign(const struct signing_key *const *keys, size_t count, const void *image,
                     size_t len, struct buf *out, struct reason *why)
{
    uint8_t sector[SECURE_BOOT_SECTOR], ff[SECURE_BOOT_SECTOR];
    EVP_MD_CTX *hash = NULL;
    int r;

    if (count < 1 || count > SECURE_BOOT_MAX_BLOCKS)
        return reason_set(why, -EINVAL, "secure boot v2 signs with 1 to %u keys, not %zu",
                          SECURE_BOOT_MAX_BLOCKS, count);
    if (len == 0)
        return reason_set(why, -EINVAL, "nothing to sign: the image is empty");
    for (size_t i = 0; i < count; i++) {
        if (!scheme_of(keys[i]))
            return unusable(keys[i], why);
        if (!keys[i]->info.private_key)
            return reason_set(why, -EINVAL,
                              "secure boot v2 signing needs the private key; key %zu (%s) is "
                              "public",
                              i + 1, keys[i]->info.type);
    }
    size_t padded = secure_boot_sector_offset(len);
    size_t total = padded + SECURE_BOOT_SECTOR;
    if (padded < len || total < padded || total > out->max - out->len)
        return reason_set(why, -E2BIG, "the signed image (%zu bytes) exceeds its limit of %zu",
                          total, out->max - out->len);

    memset(sector, 0xFF, sizeof(sector));
    memset(ff, 0xFF, sizeof(ff));
    for (size_t i = 0; i < count; i++) {
        const struct scheme *s = scheme_of(keys[i]);
        uint8_t digest[48];
        unsigned digest_len = 0;
        hash = EVP_MD_CTX_new();
        if (!hash || !EVP_DigestInit_ex(hash, EVP_get_digestbyname(s->md), NULL) ||
            !EVP_DigestUpdate(hash, image, len) ||
            (padded > len && !EVP_DigestUpdate(hash, ff, padded - len)) ||
            !EVP_DigestFinal_ex(hash, digest, &digest_len) || digest_len != s->digest_len) {
            r = signing_openssl_reason(why, -EIO, "cannot hash the image");
            goto out;
        }
        EVP_MD_CTX_free(hash);
        hash = NULL;
        uint8_t *block = sector + i * SECURE_BOOT_BLOCK;
        memset(block, 0, SECURE_BOOT_BLOCK);
        if ((r = sign_block(keys[i], s, digest, block, why)) < 0)
            goto out;
    }
    /* image | 0xFF padding | sector, appended at once so OUT never holds a torn file. */
    if ((r = buf_append(out, image, len)) < 0 || (r = buf_append(out, ff, padded - len)) < 0 ||
        (r = buf_append(out, sector, sizeof(sector))) < 0) {
        reason_set(why, r, "cannot hold the signed image: %s", strerror(-r));
        goto out;
    }
    r = 0;
out:
    EVP_MD_CTX_free(hash);
    return r;
}

/* True when LEN bytes at P are all BYTE. */
static bool all_bytes(const uint8_t *p, size_t len, uint8_t byte)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != byte)
            return false;
    return true;
}

/* The public key a block of scheme S carries, as an EVP_PKEY (caller frees), or NULL. */
static EVP_PKEY *block_public_key(const struct scheme *s, const uint8_t *part)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *check = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL;
    uint8_t point[1 + 2 * ECDSA_MAX_COORD];

    if (!bld)
        goto out;
    if (s->version == VERSION_RSA) {
        n = BN_lebin2bn(part, RSA_BYTES, NULL);
        e = BN_new();
        if (!n || !e || !BN_set_word(e, get_le32(part + RSA_BYTES)) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto out;
    } else {
        point[0] = 0x04; /* uncompressed: X and Y, big-endian */
        for (size_t i = 0; i < s->coord_len; i++) {
            point[1 + i] = part[1 + s->coord_len - 1 - i];
            point[1 + s->coord_len + i] = part[1 + 2 * s->coord_len - 1 - i];
        }
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, s->group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                              1 + 2 * s->coord_len))
            goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, s->version == VERSION_RSA ? "RSA" : "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto out;
    /* A point off the curve is refused here rather than trusted by the verifier. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!check || EVP_PKEY_public_check(check) <= 0) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return pkey;
}

/* 1 when SIG (as the block stores it) verifies over DIGEST with PKEY, 0 when not, -EIO. */
static int block_signature_valid(const struct scheme *s, EVP_PKEY *pkey, const uint8_t *digest,
                                 const uint8_t *sig)
{
    uint8_t der[2 * ECDSA_MAX_COORD + 16], rsa[RSA_BYTES];
    const uint8_t *value = rsa;
    size_t value_len = RSA_BYTES;
    ECDSA_SIG *ecdsa = NULL;
    BIGNUM *r = NULL, *sv = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    const EVP_MD *md = EVP_get_digestbyname(s->md);
    int rc = -EIO;

    if (s->version == VERSION_RSA) {
        for (size_t i = 0; i < RSA_BYTES; i++)
            rsa[i] = sig[RSA_BYTES - 1 - i];
    } else {
        r = BN_lebin2bn(sig, (int)s->coord_len, NULL);
        sv = BN_lebin2bn(sig + s->coord_len, (int)s->coord_len, NULL);
        ecdsa = ECDSA_SIG_new();
        if (!r || !sv || !ecdsa || !ECDSA_SIG_set0(ecdsa, r, sv))
            goto out;
        r = sv = NULL; /* owned by ECDSA now */
        unsigned char *p = der;
        int n = i2d_ECDSA_SIG(ecdsa, NULL);
        if (n <= 0 || (size_t)n > sizeof(der) || i2d_ECDSA_SIG(ecdsa, &p) != n)
            goto out;
        value = der;
        value_len = (size_t)n;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx || !md || EVP_PKEY_verify_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
        (s->version == VERSION_RSA &&
         (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_SALT) <= 0)))
        goto out;
    rc = EVP_PKEY_verify(ctx, value, value_len, digest, s->digest_len) == 1 ? 1 : 0;
out:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    ECDSA_SIG_free(ecdsa);
    BN_free(r);
    BN_free(sv);
    return rc;
}

/* The scheme a block's head names, or NULL. */
static const struct scheme *block_scheme(const uint8_t *block)
{
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        const struct scheme *s = &schemes[i];
        if (block[1] == s->version &&
            (s->version == VERSION_RSA ||
             (block[2] == s->hash_byte && block[key_offset(s)] == s->curve)))
            return s;
    }
    return NULL;
}

/* Checks block INDEX against the image DATA[0..SIGNED_LEN). 0, -EBADMSG or -EIO. */
static int verify_block(unsigned index, const uint8_t *block, const uint8_t *data,
                        size_t signed_len, struct secure_boot_block *ret_block, struct reason *why)
{
    uint8_t digest[48], hash[32];
    unsigned digest_len = 0;
    EVP_PKEY *pkey = NULL;
    int r;

    if (block_crc(block) != get_le32(block + SECURE_BOOT_BLOCK_CRC))
        return reason_set(why, -EBADMSG,
                          "secure boot signature block %u: its crc-32 does not match (the block "
                          "was altered)",
                          index);
    if (!all_bytes(block + SECURE_BOOT_BLOCK_CRC + 4, BLOCK_ZERO_TAIL, 0))
        return reason_set(why, -EBADMSG,
                          "secure boot signature block %u: the 16 bytes after its crc are not "
                          "zero",
                          index);
    const struct scheme *s = block_scheme(block);
    if (!s)
        return reason_set(why, -EBADMSG,
                          "secure boot signature block %u: version 0x%02x, hash %u, curve %u is "
                          "not rsa-3072, ecdsa-p256 (sha-256) or ecdsa-p384 (sha-384)",
                          index, block[1], block[2], block[BLOCK_HEAD + 32]);
    size_t sig_end =
        signature_offset(s) + (s->version == VERSION_RSA ? RSA_BYTES : 2 * s->coord_len);
    if ((s->version == VERSION_RSA && block[2] != 0) || block[3] != 0 ||
        !all_bytes(block + sig_end, SECURE_BOOT_BLOCK_CRC - sig_end, 0))
        return reason_set(why, -EBADMSG, "secure boot signature block %u: reserved bytes not zero",
                          index);
    if (!EVP_Digest(data, signed_len, digest, &digest_len, EVP_get_digestbyname(s->md), NULL))
        return signing_openssl_reason(why, -EIO, "cannot hash the image");
    if (memcmp(digest, block + BLOCK_HEAD, s->digest_len) != 0)
        return reason_set(why, -EBADMSG,
                          "secure boot signature block %u: the image digest it signs is not the "
                          "image's (the image or its padding was altered)",
                          index);
    const uint8_t *part = block + key_offset(s);
    if (s->version == VERSION_RSA) {
        uint8_t expected[RSA_KEY_PART];
        BIGNUM *n = BN_lebin2bn(part, RSA_BYTES, NULL), *e = BN_new();
        int ok = n && e && BN_set_word(e, get_le32(part + RSA_BYTES)) &&
                 rsa_key_part(n, e, expected) == 0 && memcmp(expected, part, RSA_KEY_PART) == 0;
        BN_free(n);
        BN_free(e);
        if (!ok)
            return reason_set(why, -EBADMSG,
                              "secure boot signature block %u: its rsa key is not a 3072-bit "
                              "modulus with the rinv and m' that belong to it",
                              index);
    }
    pkey = block_public_key(s, part);
    if (!pkey)
        return reason_set(why, -EBADMSG,
                          "secure boot signature block %u: its public key is not a valid %s key",
                          index, s->name);
    r = block_signature_valid(s, pkey, digest, block + signature_offset(s));
    EVP_PKEY_free(pkey);
    if (r < 0)
        return signing_openssl_reason(why, -EIO, "cannot verify a secure boot signature");
    if (r == 0)
        return reason_set(why, -EBADMSG,
                          "secure boot signature block %u: the %s signature does not verify with "
                          "the key the block carries",
                          index, s->name);
    if (!EVP_Digest(part, s->key_len, hash, NULL, EVP_sha256(), NULL))
        return signing_openssl_reason(why, -EIO, "cannot hash the key");
    snprintf(ret_block->scheme, sizeof(ret_block->scheme), "%s", s->name);
    hex_encode(hash, sizeof(hash), ret_block->key_digest);
    return 0;
}

int secure_boot_verify(const void *data, size_t len, struct secure_boot_verdict *verdict,
                       struct reason *why)
{
    const uint8_t *bytes = data;
    memset(verdict, 0, sizeof(*verdict));
    if (len < 2 * SECURE_BOOT_SECTOR || len % SECURE_BOOT_SECTOR != 0)
        return reason_set(why, -EBADMSG,
                          "a secure boot v2 image is a multiple of %u bytes with at least one "
                          "sector before the signature sector; this one is %zu bytes",
                          SECURE_BOOT_SECTOR, len);
    size_t signed_len = len - SECURE_BOOT_SECTOR;
    const uint8_t *sector = bytes + signed_len;
    verdict->signed_len = signed_len;
    unsigned count = 0;
    while (count < SECURE_BOOT_MAX_BLOCKS && sector[count * SECURE_BOOT_BLOCK] == MAGIC)
        count++;
    if (count == 0)
        return reason_set(why, -EBADMSG,
                          "the last 4096 bytes do not start with a secure boot signature block "
                          "(magic 0xE7)");
    size_t used = count * SECURE_BOOT_BLOCK;
    if (!all_bytes(sector + used, SECURE_BOOT_SECTOR - used, 0xFF))
        return reason_set(why, -EBADMSG,
                          "the signature sector holds something other than 0xFF after its %u "
                          "signature block(s)",
                          count);
    for (unsigned i = 0; i < count; i++) {
        int r = verify_block(i, sector + i * SECURE_BOOT_BLOCK, bytes, signed_len,
                             &verdict->blocks[i], why);
        if (r < 0)
            return r;
        verdict->block_count = i + 1;
    }
    return 0;
}
