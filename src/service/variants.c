/* Making and choosing the forms of a release (variants.h). */
#include "service/variants.h"

#include <errno.h>
#include <string.h>

#include "core/gzip.h"
#include "signing/secure_boot.h"

/*
 * Rewrites the gzip member in GZ to a bare 10-byte header (FLG 0): drops
 * FEXTRA, FNAME, FCOMMENT and FHCRC, which `gzip file` and other tools add.
 * The deflate data and the trailer are unchanged. Returns 0 or -EINVAL.
 */
static int gzip_bare_header(struct buf *gz)
{
    if (gz->len < 18 || gz->data[0] != 0x1f || gz->data[1] != 0x8b || gz->data[2] != 8)
        return -EINVAL;
    uint8_t flg = gz->data[3];
    if (flg & 0xe0)
        return -EINVAL; /* reserved bits: not a member we understand */
    size_t at = 10;
    if (flg & 0x04) { /* FEXTRA: 2-byte length, then that many bytes */
        if (at + 2 > gz->len)
            return -EINVAL;
        at += 2 + (size_t)(gz->data[at] | gz->data[at + 1] << 8);
    }
    for (uint8_t bit = 0x08; bit <= 0x10; bit <<= 1) { /* FNAME, FCOMMENT: NUL-terminated */
        if (!(flg & bit))
            continue;
        while (at < gz->len && gz->data[at])
            at++;
        at++;
    }
    if (flg & 0x02) /* FHCRC */
        at += 2;
    if (at + 8 > gz->len)
        return -EINVAL;
    memmove(gz->data + 10, gz->data + at, gz->len - at);
    gz->len -= at - 10;
    gz->data[gz->len] = 0;
    gz->data[3] = 0;
    return 0;
}

int gzip_align4(struct buf *gz)
{
    int r = gzip_bare_header(gz);
    if (r < 0)
        return r;
    size_t pad = (4 - gz->len % 4) % 4;
    if (pad == 0)
        return 0;
    /* Grow by PAD, then open a gap after the 10-byte header for the name and its NUL. */
    static const char fill[3] = {'f', 'f', 'f'};
    if ((r = buf_append(gz, fill, pad)) < 0)
        return r;
    memmove(gz->data + 10 + pad, gz->data + 10, gz->len - pad - 10);
    memset(gz->data + 10, 'f', pad - 1);
    gz->data[10 + pad - 1] = 0;
    gz->data[3] |= 0x08; /* FNAME */
    return 0;
}

static struct variant_bytes *set_add(struct variant_set *set, enum variant_kind kind,
                                     size_t max_size)
{
    struct variant_bytes *v = &set->items[set->count++];
    v->kind = kind;
    buf_init(&v->bytes, max_size);
    return v;
}

void variant_set_release(struct variant_set *set)
{
    if (!set)
        return;
    for (unsigned i = 0; i < set->count; i++)
        buf_release(&set->items[i].bytes);
    buf_release(&set->payload);
    buf_release(&set->inflated);
    buf_release(&set->secure_boot);
    set->count = 0;
}

/*
 * Compresses the payload into OUT. Returns 1 when the result is smaller than
 * the payload (worth serving), 0 when it is not (OUT emptied), or -errno.
 */
static int make_gzip(const struct variant_set *set, struct buf *out, struct reason *why)
{
    int r = gzip_deflate(set->payload.data, set->payload.len, out);
    if (r == 0)
        r = gzip_align4(out);
    if (r < 0)
        return reason_set(why, r, "cannot compress the image");
    if (out->len >= set->payload.len) {
        buf_reset(out);
        return 0;
    }
    return 1;
}

static int sign_into(const struct signing_key *key, enum signing_format format,
                     enum signing_hash hash, const struct buf *payload, struct buf *out,
                     struct reason *why)
{
    return signing_sign(key, format, hash, payload->data, payload->len, out, why);
}

/* The formats a pre-signed upload may be in, for the product's platform. */
static int verify_presigned(const struct product *product, const struct signing_key *key,
                            const uint8_t *upload, size_t len, enum variant_kind *ret_kind,
                            size_t *ret_payload_len, struct reason *why)
{
    struct signing_verdict verdict;
    struct reason detail = {""};
    int r;
    if (product->platform == PLATFORM_ESP32) {
        enum signing_hash hash = SIGNING_HASH_AUTO;
        signing_hash_parse(product->signing.esp32_hash, &hash);
        r = signing_verify(key, SIGNING_FORMAT_ESP32, hash, upload, len, &verdict, &detail);
        *ret_kind = VARIANT_SIGNED_ESP32;
    } else {
        r = signing_verify(key, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, upload, len, &verdict,
                           &detail);
        *ret_kind = VARIANT_SIGNED;
        if (r < 0) {
            struct reason legacy_detail;
            int rl = signing_verify(key, SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_SHA256, upload,
                                    len, &verdict, &legacy_detail);
            if (rl == 0) {
                r = 0;
                *ret_kind = VARIANT_SIGNED_LEGACY;
            }
        }
    }
    if (r < 0)
        return reason_set(why, -EKEYREJECTED,
                          "the upload is marked signed but does not verify with key \"%s\": %s",
                          product->signing.key, detail.text);
    *ret_payload_len = verdict.payload_len;
    return 0;
}

/* Appends a copy of BYTES as a form of KIND. */
static int add_copy(struct variant_set *set, enum variant_kind kind, const struct buf *bytes,
                    size_t max_size)
{
    return buf_append(&set_add(set, kind, max_size)->bytes, bytes->data, bytes->len);
}

/* The forms of an unsigned product: the image, and gzip (as uploaded, or made when asked). */
static int make_unsigned(const struct product *product, enum fw_mode mode, struct variant_set *set,
                         size_t max_size, struct reason *why)
{
    int r;
    if (set->info.gzip) {
        if ((r = add_copy(set, VARIANT_GZIP, &set->payload, max_size)) < 0)
            return r;
        return add_copy(set, VARIANT_PLAIN, &set->inflated, max_size);
    }
    /* An ESP32 upload that carried a secure boot sector is served with it. */
    const struct buf *plain = set->secure_boot.len ? &set->secure_boot : &set->payload;
    if ((r = add_copy(set, VARIANT_PLAIN, plain, max_size)) < 0)
        return r;
    if (product->platform == PLATFORM_ESP8266 && product->signing.gzip && mode == FW_MODE_SKETCH) {
        r = make_gzip(set, &set_add(set, VARIANT_GZIP, max_size)->bytes, why);
        if (r < 0)
            return r;
        if (r == 0) /* incompressible: devices get the plain image */
            buf_release(&set->items[--set->count].bytes);
    }
    return 0;
}

/* The signed forms of an ESP8266 product, signed here with KEY (docs/SIGNING.md). */
static int make_signed_esp8266(const struct product *product, const struct signing_key *key,
                               enum fw_mode mode, struct variant_set *set, size_t max_size,
                               struct reason *why)
{
    const struct buf *image = set->info.gzip ? &set->inflated : &set->payload;
    int r = sign_into(key, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, image,
                      &set_add(set, VARIANT_SIGNED, max_size)->bytes, why);
    if (r == 0 && product->signing.legacy)
        r = sign_into(key, SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_SHA256, image,
                      &set_add(set, VARIANT_SIGNED_LEGACY, max_size)->bytes, why);
    if (r < 0)
        return r;
    if (set->info.gzip) /* aligned by the caller (§7.4) */
        return sign_into(key, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, &set->payload,
                         &set_add(set, VARIANT_SIGNED_GZIP, max_size)->bytes, why);
    if (!product->signing.gzip || mode != FW_MODE_SKETCH)
        return 0;
    struct buf gz;
    buf_init(&gz, max_size);
    r = make_gzip(set, &gz, why);
    if (r == 1)
        r = sign_into(key, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, &gz,
                      &set_add(set, VARIANT_SIGNED_GZIP, max_size)->bytes, why);
    buf_release(&gz);
    return r;
}

/*
 * When SET's ESP32 payload carries a Secure Boot v2 sector after the image,
 * verifies it (and, with SB_COUNT keys, that a block carries one of their
 * digests), moves it to SET->secure_boot and cuts the payload to the image.
 * With SB_COUNT keys and no sector, signs the payload into SET->secure_boot
 * and verifies the result. 0 or -errno.
 */
static int secure_boot_form(const struct product *product, const struct signing_key *const *sb_keys,
                            size_t sb_count, bool presigned, struct variant_set *set,
                            struct reason *why)
{
    struct buf *payload = &set->payload;
    size_t image_end = (size_t)set->info.esp32_image_end;
    size_t sector = secure_boot_sector_offset(image_end);
    bool carried = image_end > 0 && sector >= image_end &&
                   payload->len == sector + SECURE_BOOT_SECTOR && payload->data[sector] == 0xE7;
    struct secure_boot_verdict verdict;
    struct reason detail = {""};
    int r;
    if (!carried && sb_count == 0)
        return 0;
    if (carried) {
        if (secure_boot_verify(payload->data, payload->len, &verdict, &detail) < 0)
            return reason_set(why, -EKEYREJECTED,
                              "the image carries a secure boot v2 signature sector that does not "
                              "verify: %s",
                              detail.text);
        if ((r = buf_append(&set->secure_boot, payload->data, payload->len)) < 0)
            return reason_set(why, r, "the image is too large");
        payload->len = image_end; /* the image itself: what a device without secure boot runs */
    } else if (presigned) {
        /* The 512-byte block signs what the device writes: it must already be the signed app. */
        return reason_set(why, -EKEYREJECTED,
                          "%s has secure boot keys: an image signed offline must carry its secure "
                          "boot v2 sector under the 512-byte signature",
                          product->name);
    } else {
        /*
         * The image alone: a device's boot loader reads the signature sector at the image's
         * end rounded up to 4096 (esp_image_verify), so bytes an upload carries past that
         * sector (a build padded further) would move the sector where no device looks.
         */
        size_t sign_len = image_end > 0 && image_end < payload->len ? image_end : payload->len;
        if ((r = secure_boot_sign(sb_keys, sb_count, payload->data, sign_len, &set->secure_boot,
                                  &detail)) < 0)
            return reason_set(why, r == -EINVAL ? -EKEYREJECTED : r,
                              "%s cannot sign for secure boot v2 here: %s (or upload an image "
                              "signed with espsecure.py sign_data --version 2)",
                              product->name, detail.text);
        /* What is stored is what a device's boot loader will check. */
        if (secure_boot_verify(set->secure_boot.data, set->secure_boot.len, &verdict, &detail) < 0)
            return reason_set(why, -EIO, "the secure boot v2 image otad made does not verify: %s",
                              detail.text);
    }
    if (sb_count == 0)
        return 0;
    for (size_t k = 0; k < sb_count; k++) {
        char digest[SECURE_BOOT_DIGEST_HEX];
        if (secure_boot_key_digest(sb_keys[k], digest, &detail) < 0)
            return reason_set(why, -EKEYREJECTED, "%s", detail.text);
        for (unsigned b = 0; b < verdict.block_count; b++)
            if (strcmp(verdict.blocks[b].key_digest, digest) == 0)
                return 0;
    }
    return reason_set(why, -EKEYREJECTED,
                      "the image's secure boot v2 signature (%u block(s), the first by key digest "
                      "%.16s...) is by none of %s's secure boot keys (%s)",
                      verdict.block_count, verdict.blocks[0].key_digest, product->name,
                      product->signing.secure_boot_keys);
}

int variants_make(const struct product *product, const struct signing_key *key, bool presigned,
                  enum fw_mode mode, const uint8_t *upload, size_t len, size_t max_size,
                  struct variant_set *set, struct reason *why)
{
    return variants_make_secure(product, key, NULL, 0, presigned, mode, upload, len, max_size, set,
                                why);
}

int variants_make_secure(const struct product *product, const struct signing_key *key,
                         const struct signing_key *const *sb_keys, size_t sb_count, bool presigned,
                         enum fw_mode mode, const uint8_t *upload, size_t len, size_t max_size,
                         struct variant_set *set, struct reason *why)
{
    memset(set, 0, sizeof(*set));
    buf_init(&set->payload, max_size);
    buf_init(&set->inflated, max_size);
    buf_init(&set->secure_boot, max_size);
    bool esp32_sketch = product->platform == PLATFORM_ESP32 && mode == FW_MODE_SKETCH;
    if (!esp32_sketch)
        sb_count = 0; /* secure boot v2 signs apps only */
    bool signing = product->signing.required;
    int r;
    if (presigned && !signing)
        return reason_set(why, -EINVAL, "%s does not sign its releases; upload the unsigned image",
                          product->name);
    if (signing && !key)
        return reason_set(why, -EKEYREJECTED, "%s requires signatures but has no key",
                          product->name);

    size_t payload_len = len;
    enum variant_kind presigned_kind = VARIANT_SIGNED;
    if (presigned &&
        (r = verify_presigned(product, key, upload, len, &presigned_kind, &payload_len, why)) < 0)
        return r;
    if ((r = buf_append(&set->payload, upload, payload_len)) < 0)
        return reason_set(why, r, "the image is too large");
    if ((r = image_inspect(product->platform, mode, set->payload.data, set->payload.len, &set->info,
                           why)) < 0)
        goto fail;
    if (esp32_sketch && (r = secure_boot_form(product, sb_keys, sb_count, presigned, set, why)) < 0)
        goto fail;
    if (set->info.gzip &&
        (r = gzip_inflate(set->payload.data, set->payload.len, &set->inflated)) < 0) {
        r = reason_set(why, r == -EFBIG ? -EFBIG : -EBADMSG, "the gzip image cannot be inflated");
        goto fail;
    }
    /* A gzip upload we sign ourselves is aligned first (3.1.0-3.1.2, §7.4); inflating is unchanged.
     */
    if (signing && !presigned && set->info.gzip && (r = gzip_align4(&set->payload)) < 0) {
        r = reason_set(why, r == -EINVAL ? -EBADMSG : r,
                       r == -EINVAL ? "the gzip header cannot be read" : "the image is too large");
        goto fail;
    }

    if (presigned) {
        if (presigned_kind == VARIANT_SIGNED_LEGACY && set->info.gzip) {
            r = reason_set(
                why, -EBADMSG,
                "a gzip image signed in the 2.5.x form cannot be installed safely: 2.5.x "
                "cannot inflate it, and a later core without a key would not boot it");
            goto fail;
        }
        if (presigned_kind == VARIANT_SIGNED && set->info.gzip)
            presigned_kind = VARIANT_SIGNED_GZIP;
        struct variant_bytes *v = set_add(set, presigned_kind, max_size);
        if ((r = buf_append(&v->bytes, upload, len)) < 0)
            goto fail;
        if (sb_count > 0 &&
            (r = add_copy(set, VARIANT_SECURE_BOOT, &set->secure_boot, max_size)) < 0)
            goto fail;
    } else if (sb_count > 0 && !signing) {
        /* A secure-boot product's devices get the signed image only (docs/SIGNING.md). */
        if ((r = add_copy(set, VARIANT_SECURE_BOOT, &set->secure_boot, max_size)) < 0)
            goto fail;
    } else if (!signing) {
        if ((r = make_unsigned(product, mode, set, max_size, why)) < 0)
            goto fail;
    } else {
        struct signing_key_info info;
        signing_key_info(key, &info);
        if (!info.private_key) {
            r = reason_set(why, -EKEYREJECTED,
                           "%s signs with key \"%s\" whose private half is not on this server: "
                           "upload an image signed offline (signed=1)",
                           product->name, product->signing.key);
            goto fail;
        }
        if (product->platform == PLATFORM_ESP32) {
            enum signing_hash hash = SIGNING_HASH_SHA256;
            signing_hash_parse(product->signing.esp32_hash, &hash);
            /* Over the secure boot image when there is one: the updater strips the 512 bytes. */
            const struct buf *image = set->secure_boot.len ? &set->secure_boot : &set->payload;
            r = sign_into(key, SIGNING_FORMAT_ESP32, hash, image,
                          &set_add(set, VARIANT_SIGNED_ESP32, max_size)->bytes, why);
            if (r == 0 && sb_count > 0)
                r = add_copy(set, VARIANT_SECURE_BOOT, &set->secure_boot, max_size);
        } else {
            r = make_signed_esp8266(product, key, mode, set, max_size, why);
        }
        if (r < 0)
            goto fail;
    }
    if (signing) {
        struct signing_key_info info;
        signing_key_info(key, &info);
        memcpy(set->signed_by, info.fingerprint, sizeof(set->signed_by));
    }
    return 0;
fail:
    variant_set_release(set);
    return r;
}
