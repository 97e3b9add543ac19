/*
 * Unit tests for src/service/variants.c: which forms ingest makes for each
 * product setting, that a signing product never gets an unsigned form, that
 * pre-signed uploads must verify, and the gzip length alignment (which
 * form each device is served: test_compat.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/gzip.h"
#include "core/util.h"
#include "service/variants.h"
#include "signing/secure_boot.h"

struct env {
    char dir[64];
    struct signing_key *rsa, *other, *ec;
    uint8_t img[16384]; /* compressible: half zeros */
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    struct reason why;
    if (!e || fixture_tmpdir(e->dir) < 0)
        return -1;
    if (signing_key_generate(e->dir, "fleet", SIGNING_KEY_RSA_2048, &e->rsa, &why) < 0 ||
        signing_key_generate(e->dir, "other", SIGNING_KEY_RSA_2048, &e->other, &why) < 0 ||
        signing_key_generate(e->dir, "ec", SIGNING_KEY_ECDSA_P256, &e->ec, &why) < 0)
        return -1;
    fixture_esp8266_image(e->img, sizeof(e->img), 4, 5);
    memset(e->img + 4096, 0, 8192);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    signing_key_free(e->rsa);
    signing_key_free(e->other);
    signing_key_free(e->ec);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static struct product product_for(enum platform platform, bool signing, bool legacy, bool gzip)
{
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, "door");
    p.platform = platform;
    p.signing.required = signing;
    p.signing.legacy = legacy;
    p.signing.gzip = gzip;
    strcpy(p.signing.key, "fleet");
    strcpy(p.signing.esp32_hash, "sha256");
    return p;
}

static const char *test_key_path(const char *dir, const char *name)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
    return path;
}

static const struct variant_bytes *kind_in(const struct variant_set *s, enum variant_kind k)
{
    for (unsigned i = 0; i < s->count; i++)
        if (s->items[i].kind == k)
            return &s->items[i];
    return NULL;
}

static void test_unsigned_product_forms(void **state)
{
    struct env *e = *state;
    struct variant_set set;
    struct reason why;
    struct product p = product_for(PLATFORM_ESP8266, false, false, false);
    assert_int_equal(
        variants_make(&p, NULL, false, FW_MODE_SKETCH, e->img, sizeof(e->img), 1 << 24, &set, &why),
        0);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.items[0].kind, VARIANT_PLAIN);
    assert_memory_equal(set.items[0].bytes.data, e->img, sizeof(e->img));
    assert_string_equal(set.signed_by, "");
    variant_set_release(&set);

    p.signing.gzip = true;
    assert_int_equal(
        variants_make(&p, NULL, false, FW_MODE_SKETCH, e->img, sizeof(e->img), 1 << 24, &set, &why),
        0);
    const struct variant_bytes *gz = kind_in(&set, VARIANT_GZIP);
    assert_non_null(gz);
    assert_true(gz->bytes.len < sizeof(e->img));
    assert_int_equal(gz->bytes.len % 4, 0);
    struct buf back;
    buf_init(&back, 1 << 20);
    assert_int_equal(gzip_inflate(gz->bytes.data, gz->bytes.len, &back), 0);
    assert_int_equal(back.len, sizeof(e->img));
    assert_memory_equal(back.data, e->img, sizeof(e->img));
    buf_release(&back);
    variant_set_release(&set);

    /* A pre-signed upload to a product that does not sign is a mistake. */
    assert_int_equal(
        variants_make(&p, NULL, true, FW_MODE_SKETCH, e->img, sizeof(e->img), 1 << 24, &set, &why),
        -EINVAL);

    /* A gzip upload is the gzip form as uploaded, and the plain form is the image inflated:
     * no device is refused merely for lack of gzip, none is handed gzip as "plain". */
    struct buf gzipped;
    buf_init(&gzipped, 1 << 20);
    assert_int_equal(gzip_deflate(e->img, sizeof(e->img), &gzipped), 0);
    p.signing.gzip = false;
    assert_int_equal(variants_make(&p, NULL, false, FW_MODE_SKETCH, gzipped.data, gzipped.len,
                                   1 << 24, &set, &why),
                     0);
    assert_int_equal(set.count, 2);
    const struct variant_bytes *as_uploaded = kind_in(&set, VARIANT_GZIP);
    const struct variant_bytes *inflated = kind_in(&set, VARIANT_PLAIN);
    assert_non_null(as_uploaded);
    assert_non_null(inflated);
    assert_int_equal(as_uploaded->bytes.len, gzipped.len);
    assert_memory_equal(as_uploaded->bytes.data, gzipped.data, gzipped.len);
    assert_int_equal(inflated->bytes.len, sizeof(e->img));
    assert_memory_equal(inflated->bytes.data, e->img, sizeof(e->img));
    variant_set_release(&set);
    buf_release(&gzipped);
}

/* A gzip upload to a signing product: signed forms of the inflated image too, for every core. */
static void test_signing_a_gzip_upload(void **state)
{
    struct env *e = *state;
    struct variant_set set;
    struct reason why;
    struct buf gzipped;
    buf_init(&gzipped, 1 << 20);
    assert_int_equal(gzip_deflate(e->img, sizeof(e->img), &gzipped), 0);
    struct product p = product_for(PLATFORM_ESP8266, true, true, false);
    assert_int_equal(variants_make(&p, e->rsa, false, FW_MODE_SKETCH, gzipped.data, gzipped.len,
                                   1 << 24, &set, &why),
                     0);
    assert_int_equal(set.count, 3);
    struct signing_verdict v;
    const struct variant_bytes *sv = kind_in(&set, VARIANT_SIGNED);
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256,
                                    sv->bytes.data, sv->bytes.len, &v, &why),
                     0);
    assert_int_equal(v.payload_len, sizeof(e->img));
    assert_memory_equal(sv->bytes.data, e->img, sizeof(e->img));
    const struct variant_bytes *lv = kind_in(&set, VARIANT_SIGNED_LEGACY);
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_SHA256,
                                    lv->bytes.data, lv->bytes.len, &v, &why),
                     0);
    const struct variant_bytes *gv = kind_in(&set, VARIANT_SIGNED_GZIP);
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256,
                                    gv->bytes.data, gv->bytes.len, &v, &why),
                     0);
    assert_int_equal(v.payload_len % 4, 0);
    assert_int_equal(gv->bytes.data[0], 0x1f);
    variant_set_release(&set);

    /* Signed offline in the 2.5.x form over gzip: no core can install it safely. */
    struct buf legacy;
    buf_init(&legacy, 1 << 20);
    assert_int_equal(signing_sign(e->rsa, SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_SHA256,
                                  gzipped.data, gzipped.len, &legacy, &why),
                     0);
    assert_int_equal(variants_make(&p, e->rsa, true, FW_MODE_SKETCH, legacy.data, legacy.len,
                                   1 << 24, &set, &why),
                     -EBADMSG);
    assert_non_null(strstr(why.text, "2.5.x form"));
    buf_release(&legacy);
    buf_release(&gzipped);
}

static void test_signing_product_never_unsigned(void **state)
{
    struct env *e = *state;
    struct variant_set set;
    struct reason why;
    struct product p = product_for(PLATFORM_ESP8266, true, true, true);
    assert_int_equal(variants_make(&p, e->rsa, false, FW_MODE_SKETCH, e->img, sizeof(e->img),
                                   1 << 24, &set, &why),
                     0);
    assert_null(kind_in(&set, VARIANT_PLAIN));
    assert_null(kind_in(&set, VARIANT_GZIP));
    const struct variant_bytes *sv = kind_in(&set, VARIANT_SIGNED);
    const struct variant_bytes *lv = kind_in(&set, VARIANT_SIGNED_LEGACY);
    const struct variant_bytes *gv = kind_in(&set, VARIANT_SIGNED_GZIP);
    assert_non_null(sv);
    assert_non_null(lv);
    assert_non_null(gv);
    struct signing_verdict v;
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256,
                                    sv->bytes.data, sv->bytes.len, &v, &why),
                     0);
    assert_int_equal(v.payload_len, sizeof(e->img));
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_SHA256,
                                    lv->bytes.data, lv->bytes.len, &v, &why),
                     0);
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256,
                                    gv->bytes.data, gv->bytes.len, &v, &why),
                     0);
    /* 3.1.0-3.1.2 verify only payloads whose length is a multiple of 4 (§7.4). */
    assert_int_equal(v.payload_len % 4, 0);
    assert_int_equal(gv->bytes.data[0], 0x1f);
    struct signing_key_info info;
    signing_key_info(e->rsa, &info);
    assert_string_equal(set.signed_by, info.fingerprint);
    variant_set_release(&set);

    /* Without the private half, an unsigned upload cannot be served: refused. */
    char pub[128];
    snprintf(pub, sizeof(pub), "%s/fleet.pub", e->dir);
    struct signing_key *public_only;
    assert_int_equal(signing_key_load_public(pub, &public_only, &why), 0);
    assert_int_equal(variants_make(&p, public_only, false, FW_MODE_SKETCH, e->img, sizeof(e->img),
                                   1 << 24, &set, &why),
                     -EKEYREJECTED);
    assert_int_equal(
        variants_make(&p, NULL, false, FW_MODE_SKETCH, e->img, sizeof(e->img), 1 << 24, &set, &why),
        -EKEYREJECTED);
    signing_key_free(public_only);
}

static void test_presigned_must_verify(void **state)
{
    struct env *e = *state;
    struct reason why;
    struct buf signed_img;
    buf_init(&signed_img, 1 << 20);
    assert_int_equal(signing_sign(e->rsa, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, e->img,
                                  sizeof(e->img), &signed_img, &why),
                     0);
    struct product p = product_for(PLATFORM_ESP8266, true, false, false);
    char pub[128];
    snprintf(pub, sizeof(pub), "%s/fleet.pub", e->dir);
    struct signing_key *public_only;
    assert_int_equal(signing_key_load_public(pub, &public_only, &why), 0);

    struct variant_set set;
    assert_int_equal(variants_make(&p, public_only, true, FW_MODE_SKETCH, signed_img.data,
                                   signed_img.len, 1 << 24, &set, &why),
                     0);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.items[0].kind, VARIANT_SIGNED);
    assert_memory_equal(set.items[0].bytes.data, signed_img.data, signed_img.len);
    assert_int_equal(set.payload.len, sizeof(e->img));
    variant_set_release(&set);

    /* One flipped byte anywhere: refused, nothing made. */
    size_t spots[] = {0, 100, sizeof(e->img) - 1, sizeof(e->img) + 10, signed_img.len - 1};
    for (size_t i = 0; i < ARRAY_SIZE(spots); i++) {
        signed_img.data[spots[i]] ^= 0x01;
        assert_int_equal(variants_make(&p, public_only, true, FW_MODE_SKETCH, signed_img.data,
                                       signed_img.len, 1 << 24, &set, &why),
                         -EKEYREJECTED);
        assert_int_equal(set.count, 0);
        signed_img.data[spots[i]] ^= 0x01;
    }
    /* Signed with another key: refused. */
    struct buf by_other;
    buf_init(&by_other, 1 << 20);
    assert_int_equal(signing_sign(e->other, SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, e->img,
                                  sizeof(e->img), &by_other, &why),
                     0);
    assert_int_equal(variants_make(&p, public_only, true, FW_MODE_SKETCH, by_other.data,
                                   by_other.len, 1 << 24, &set, &why),
                     -EKEYREJECTED);
    /* An unsigned image marked signed: refused, never signed by us instead. */
    assert_int_equal(variants_make(&p, e->rsa, true, FW_MODE_SKETCH, e->img, sizeof(e->img),
                                   1 << 24, &set, &why),
                     -EKEYREJECTED);
    buf_release(&by_other);
    buf_release(&signed_img);
    signing_key_free(public_only);
}

static void test_esp32_forms(void **state)
{
    struct env *e = *state;
    struct reason why;
    /* A minimal ESP32 image: 24-byte header, one 16-byte segment. */
    uint8_t img[64] = {0xE9, 1, 2, 0x20};
    img[12] = 0;                                                    /* chip id ESP32 */
    img[24] = 0x00, img[25] = 0x00, img[26] = 0x40, img[27] = 0x3f; /* load address */
    img[28] = 16;                                                   /* length */
    struct product p = product_for(PLATFORM_ESP32, true, false, false);
    struct variant_set set;
    for (int k = 0; k < 2; k++) {
        struct signing_key *key = k ? e->ec : e->rsa;
        assert_int_equal(
            variants_make(&p, key, false, FW_MODE_SKETCH, img, sizeof(img), 1 << 24, &set, &why),
            0);
        assert_int_equal(set.count, 1);
        assert_int_equal(set.items[0].kind, VARIANT_SIGNED_ESP32);
        assert_int_equal(set.items[0].bytes.len, sizeof(img) + 512);
        struct signing_verdict v;
        assert_int_equal(signing_verify(key, SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256,
                                        set.items[0].bytes.data, set.items[0].bytes.len, &v, &why),
                         0);
        variant_set_release(&set);
    }
}

/*
 * Secure Boot v2 (docs/SIGNING.md): a secure-boot product's ESP32 sketch is
 * signed into SECURE_BOOT only (no plain form), the 512-byte form is made over
 * it, an uploaded sector is verified and kept, and a sector by another key, a
 * damaged one or an ESP8266 image never passes.
 */
static void test_secure_boot_forms(void **state)
{
    struct env *e = *state;
    struct reason why = {""};
    struct signing_key *sb = NULL, *stranger = NULL;
    assert_int_equal(signing_key_generate(e->dir, "sb", SIGNING_KEY_ECDSA_P256, &sb, &why), 0);
    assert_int_equal(
        signing_key_generate(e->dir, "stranger", SIGNING_KEY_ECDSA_P384, &stranger, &why), 0);
    const struct signing_key *keys[1] = {sb};
    uint8_t img[64] = {0xE9, 1, 2, 0x20};
    img[26] = 0x40, img[27] = 0x3f, img[28] = 16;
    struct product p = product_for(PLATFORM_ESP32, false, false, false);
    strcpy(p.signing.secure_boot_keys, "sb");
    struct variant_set set;
    struct secure_boot_verdict verdict;
    char digest[SECURE_BOOT_DIGEST_HEX];
    assert_int_equal(secure_boot_key_digest(sb, digest, &why), 0);

    assert_int_equal(variants_make_secure(&p, NULL, keys, 1, false, FW_MODE_SKETCH, img,
                                          sizeof(img), 1 << 24, &set, &why),
                     0);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.items[0].kind, VARIANT_SECURE_BOOT);
    const struct buf *signed_form = &set.items[0].bytes;
    assert_int_equal(signed_form->len, 8192);
    assert_memory_equal(signed_form->data, img, sizeof(img));
    assert_int_equal(secure_boot_verify(signed_form->data, signed_form->len, &verdict, &why), 0);
    assert_string_equal(verdict.blocks[0].key_digest, digest);
    assert_int_equal(set.payload.len, sizeof(img));
    uint8_t presigned[8192];
    memcpy(presigned, signed_form->data, sizeof(presigned));
    variant_set_release(&set);

    /*
     * Bytes past the image's end (a build padded beyond its sector): the sector goes where
     * a device's boot loader reads it, at the image's end rounded up to 4096, not after them.
     */
    uint8_t padded_upload[4096 + 512];
    memset(padded_upload, 0xA5, sizeof(padded_upload));
    memcpy(padded_upload, img, sizeof(img));
    assert_int_equal(variants_make_secure(&p, NULL, keys, 1, false, FW_MODE_SKETCH, padded_upload,
                                          sizeof(padded_upload), 1 << 24, &set, &why),
                     0);
    assert_int_equal(set.items[0].kind, VARIANT_SECURE_BOOT);
    assert_int_equal(set.items[0].bytes.len, 8192);
    assert_memory_equal(set.items[0].bytes.data, img, sizeof(img));
    assert_int_equal(set.items[0].bytes.data[4096], 0xE7);
    assert_int_equal(
        secure_boot_verify(set.items[0].bytes.data, set.items[0].bytes.len, &verdict, &why), 0);
    variant_set_release(&set);

    /* The upload already signed: kept byte for byte, the payload cut back to the image. */
    assert_int_equal(variants_make_secure(&p, NULL, keys, 1, false, FW_MODE_SKETCH, presigned,
                                          sizeof(presigned), 1 << 24, &set, &why),
                     0);
    assert_int_equal(set.count, 1);
    assert_memory_equal(set.items[0].bytes.data, presigned, sizeof(presigned));
    assert_int_equal(set.payload.len, sizeof(img));
    variant_set_release(&set);

    /* The same upload on a product without secure boot: its plain form, sector and all. */
    assert_int_equal(variants_make(&p, NULL, false, FW_MODE_SKETCH, presigned, sizeof(presigned),
                                   1 << 24, &set, &why),
                     0);
    assert_int_equal(set.items[0].kind, VARIANT_PLAIN);
    assert_int_equal(set.items[0].bytes.len, sizeof(presigned));
    variant_set_release(&set);

    /* Damaged, or by a key the product does not list: refused. */
    presigned[40] ^= 1; /* segment data */
    assert_int_equal(variants_make(&p, NULL, false, FW_MODE_SKETCH, presigned, sizeof(presigned),
                                   1 << 24, &set, &why),
                     -EKEYREJECTED);
    presigned[40] ^= 1; /* segment data */
    const struct signing_key *other[1] = {stranger};
    assert_int_equal(variants_make_secure(&p, NULL, other, 1, false, FW_MODE_SKETCH, presigned,
                                          sizeof(presigned), 1 << 24, &set, &why),
                     -EKEYREJECTED);
    assert_non_null(strstr(why.text, "none of"));

    /* With the 512-byte form too: made over the secure-boot image, which is also stored. */
    p.signing.required = true;
    assert_int_equal(variants_make_secure(&p, e->rsa, keys, 1, false, FW_MODE_SKETCH, img,
                                          sizeof(img), 1 << 24, &set, &why),
                     0);
    const struct variant_bytes *arduino = kind_in(&set, VARIANT_SIGNED_ESP32);
    const struct variant_bytes *sb_form = kind_in(&set, VARIANT_SECURE_BOOT);
    assert_non_null(arduino);
    assert_non_null(sb_form);
    assert_int_equal(set.count, 2);
    assert_int_equal(arduino->bytes.len, sb_form->bytes.len + 512);
    assert_memory_equal(arduino->bytes.data, sb_form->bytes.data, sb_form->bytes.len);
    struct signing_verdict v;
    assert_int_equal(signing_verify(e->rsa, SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256,
                                    arduino->bytes.data, arduino->bytes.len, &v, &why),
                     0);
    variant_set_release(&set);

    /* A public key alone cannot sign: the build must. */
    struct signing_key *public_only = NULL;
    assert_int_equal(signing_key_load_public(test_key_path(e->dir, "sb"), &public_only, &why), 0);
    const struct signing_key *pub[1] = {public_only};
    p.signing.required = false;
    assert_int_equal(variants_make_secure(&p, NULL, pub, 1, false, FW_MODE_SKETCH, img, sizeof(img),
                                          1 << 24, &set, &why),
                     -EKEYREJECTED);
    signing_key_free(public_only);
    signing_key_free(stranger);
    signing_key_free(sb);
}

static void test_gzip_align4_every_residue(void **state)
{
    for (size_t n = 1; n <= 8; n++) {
        uint8_t data[64];
        memset(data, (int)n, sizeof(data));
        struct buf gz;
        buf_init(&gz, 1 << 16);
        assert_int_equal(gzip_deflate(data, n * 7, &gz), 0);
        size_t before = gz.len;
        assert_int_equal(gzip_align4(&gz), 0);
        assert_int_equal(gz.len % 4, 0);
        assert_true(gz.len - before < 4);
        struct buf back;
        buf_init(&back, 1 << 16);
        assert_int_equal(gzip_inflate(gz.data, gz.len, &back), 0);
        assert_int_equal(back.len, n * 7);
        assert_memory_equal(back.data, data, n * 7);
        buf_release(&back);
        buf_release(&gz);
    }
    /* What `gzip file` and other tools write: a name, a comment, extra data, a header CRC. */
    static const uint8_t flags[] = {0x08, 0x10, 0x04, 0x02, 0x1e};
    for (size_t f = 0; f < sizeof(flags); f++) {
        for (size_t n = 1; n <= 4; n++) {
            uint8_t data[64];
            memset(data, 'a' + (int)n, sizeof(data));
            struct buf plain, gz;
            buf_init(&plain, 1 << 16);
            buf_init(&gz, 1 << 16);
            assert_int_equal(gzip_deflate(data, n * 9, &plain), 0);
            /* Rebuild the header with the optional fields, as a tool would write it. */
            assert_int_equal(buf_append(&gz, plain.data, 10), 0);
            gz.data[3] = flags[f];
            if (flags[f] & 0x04)
                assert_int_equal(buf_append(&gz, "\x03\x00xyz", 5), 0);
            if (flags[f] & 0x08)
                assert_int_equal(buf_append(&gz, "firmware.bin", 13), 0); /* with its NUL */
            if (flags[f] & 0x10)
                assert_int_equal(buf_append(&gz, "built by ci", 12), 0);
            if (flags[f] & 0x02)
                assert_int_equal(buf_append(&gz, "\x12\x34", 2), 0);
            assert_int_equal(buf_append(&gz, plain.data + 10, plain.len - 10), 0);
            assert_int_equal(gzip_align4(&gz), 0);
            assert_int_equal(gz.len % 4, 0);
            struct buf back;
            buf_init(&back, 1 << 16);
            assert_int_equal(gzip_inflate(gz.data, gz.len, &back), 0);
            assert_int_equal(back.len, n * 9);
            assert_memory_equal(back.data, data, n * 9);
            buf_release(&back);
            buf_release(&plain);
            buf_release(&gz);
        }
    }

    struct buf not_gzip;
    buf_init(&not_gzip, 64);
    assert_int_equal(buf_append(&not_gzip, "\xe9\x01\x02\x40xxxxxxxxxxxxxxxxxxxx", 24), 0);
    assert_int_equal(gzip_align4(&not_gzip), -EINVAL);
    buf_release(&not_gzip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unsigned_product_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signing_product_never_unsigned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signing_a_gzip_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_presigned_must_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esp32_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secure_boot_forms, setup, teardown),
        cmocka_unit_test(test_gzip_align4_every_residue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
