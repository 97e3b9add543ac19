/*
 * Unit tests for src/signing/secure_boot.c, held to an independent
 * implementation: tests/tools/sbv2_reference.py (Python's cryptography, written
 * from docs/SIGNING.md's layout, no otad code) verifies every sector otad
 * makes, rebuilds each block from its signature byte for byte (RSA-PSS and
 * ECDSA are randomised, so the signature is the one field two signers cannot
 * share), computes the key digests, and signs images otad must accept. Then
 * the damage otad must refuse: a byte of the image, of its padding, of a
 * block, of its CRC, of the sector's tail, and a block whose key was swapped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/reason.h"
#include "signing/secure_boot.h"
#include "signing/signing.h"
#include "support.h"

/* Exits 0 when content, 3 when it refuses, anything else when it broke. */
#define REFERENCE "python3 " TEST_TOOLS_DIR "/sbv2_reference.py"
#define REFUSED   3

enum { K_RSA3072, K_P256, K_P384, K_RSA3072_B, K_RSA2048, K_COUNT };

static const char *const key_names[K_COUNT] = {"rsa-3072", "ecdsa-p256", "ecdsa-p384", "rsa-3072-b",
                                               "rsa-2048"};
static const enum signing_key_type key_types[K_COUNT] = {
    SIGNING_KEY_RSA_3072, SIGNING_KEY_ECDSA_P256, SIGNING_KEY_ECDSA_P384, SIGNING_KEY_RSA_3072,
    SIGNING_KEY_RSA_2048};

struct fixture {
    char *dir;
    char *keys;
    struct signing_key *priv[K_COUNT];
    struct signing_key *pub[K_COUNT];
};

static const char *private_path(const struct fixture *f, int k)
{
    return test_path("%s/%s.key", f->keys, key_names[k]);
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct reason why = {""};
    f->dir = test_tmpdir_new();
    f->keys = strdup(test_path("%s/keys", f->dir));
    for (int k = 0; k < K_COUNT; k++) {
        if (signing_key_generate(f->keys, key_names[k], key_types[k], &f->priv[k], &why) < 0 ||
            signing_key_load_public(test_path("%s/%s.pub", f->keys, key_names[k]), &f->pub[k],
                                    &why) < 0)
            return -1;
    }
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    for (int k = 0; k < K_COUNT; k++) {
        signing_key_free(f->priv[k]);
        signing_key_free(f->pub[k]);
    }
    free(f->keys);
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* Signs LEN bytes of IMAGE with the keys KS (COUNT of them), asserting success. */
static struct buf sign_ok(struct fixture *f, const int *ks, size_t count, const uint8_t *image,
                          size_t len)
{
    const struct signing_key *keys[SECURE_BOOT_MAX_BLOCKS + 1];
    for (size_t i = 0; i < count; i++)
        keys[i] = f->priv[ks[i]];
    struct buf out;
    struct reason why = {""};
    buf_init(&out, 4 * 1024 * 1024);
    if (secure_boot_sign(keys, count, image, len, &out, &why) < 0)
        fail_msg("secure_boot_sign: %s", why.text);
    return out;
}

/* The reference's key digest of key K (its public PEM), into OUT. */
static void reference_digest(struct fixture *f, int k, char out[SECURE_BOOT_DIGEST_HEX])
{
    const char *file = test_path("%s/digest.txt", f->dir);
    assert_int_equal(test_run(REFERENCE " digest '%s/%s.pub' > '%s'", f->keys, key_names[k], file),
                     0);
    size_t len;
    uint8_t *text = test_read_file(file, &len);
    assert_true(len >= 64);
    memcpy(out, text, 64);
    out[64] = 0;
    free(text);
}

static void otad_digest(struct fixture *f, int k, char out[SECURE_BOOT_DIGEST_HEX])
{
    struct reason why = {""};
    if (secure_boot_key_digest(f->pub[k], out, &why) < 0)
        fail_msg("secure_boot_key_digest: %s", why.text);
}

/* Runs the reference's verify on DATA; returns its exit status. EXTRA is appended as is. */
static int reference_verify(struct fixture *f, const uint8_t *data, size_t len, const char *extra)
{
    const char *file = test_path("%s/signed.bin", f->dir);
    test_write_file(file, data, len);
    return test_run(REFERENCE " verify '%s' %s >/dev/null 2>&1", file, extra);
}

static void test_key_digests_match_the_reference(void **state)
{
    struct fixture *f = *state;
    for (int k = K_RSA3072; k <= K_RSA3072_B; k++) {
        char ours[SECURE_BOOT_DIGEST_HEX], theirs[SECURE_BOOT_DIGEST_HEX], from_private[65];
        otad_digest(f, k, ours);
        reference_digest(f, k, theirs);
        assert_string_equal(ours, theirs);
        struct reason why = {""};
        assert_int_equal(secure_boot_key_digest(f->priv[k], from_private, &why), 0);
        assert_string_equal(ours, from_private);
        assert_true(secure_boot_key_usable(f->pub[k]));
    }
    char a[SECURE_BOOT_DIGEST_HEX], b[SECURE_BOOT_DIGEST_HEX];
    otad_digest(f, K_RSA3072, a);
    otad_digest(f, K_RSA3072_B, b);
    assert_string_not_equal(a, b);

    struct reason why = {""};
    char digest[SECURE_BOOT_DIGEST_HEX];
    assert_int_equal(secure_boot_key_digest(f->pub[K_RSA2048], digest, &why), -ENOTSUP);
    assert_non_null(strstr(why.text, "rsa-2048"));
    assert_false(secure_boot_key_usable(f->pub[K_RSA2048]));
}

/* Each key type, several image lengths (one already a multiple of 4096). */
static void test_each_scheme_verified_and_rebuilt_by_the_reference(void **state)
{
    struct fixture *f = *state;
    static const size_t lengths[] = {1, 4095, 4096, 70001};
    for (int k = K_RSA3072; k <= K_P384; k++) {
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
            size_t len = lengths[i];
            uint8_t *image = test_payload(len, (uint32_t)(k * 10 + i));
            struct buf out = sign_ok(f, &k, 1, image, len);
            size_t padded = (len + 4095) / 4096 * 4096;
            assert_int_equal(out.len, padded + SECURE_BOOT_SECTOR);
            assert_memory_equal(out.data, image, len);
            for (size_t j = len; j < padded; j++)
                assert_int_equal(out.data[j], 0xFF);

            char digest[SECURE_BOOT_DIGEST_HEX];
            otad_digest(f, k, digest);
            const char *image_file = test_path("%s/image.bin", f->dir);
            test_write_file(image_file, image, len);
            char extra[256];
            snprintf(extra, sizeof(extra), "--blocks 1 --digest %s --image '%s'", digest,
                     image_file);
            assert_int_equal(reference_verify(f, out.data, out.len, extra), 0);
            assert_int_equal(test_run(REFERENCE " reencode '%s/signed.bin' >/dev/null", f->dir), 0);

            struct secure_boot_verdict verdict;
            struct reason why = {""};
            if (secure_boot_verify(out.data, out.len, &verdict, &why) < 0)
                fail_msg("secure_boot_verify: %s", why.text);
            assert_int_equal(verdict.block_count, 1);
            assert_int_equal(verdict.signed_len, padded);
            assert_string_equal(verdict.blocks[0].scheme, key_names[k]);
            assert_string_equal(verdict.blocks[0].key_digest, digest);
            buf_release(&out);
            free(image);
        }
    }
}

static void test_three_blocks_for_rotation(void **state)
{
    struct fixture *f = *state;
    const int ks[] = {K_RSA3072, K_P256, K_P384};
    uint8_t *image = test_payload(150000, 7);
    struct buf out = sign_ok(f, ks, 3, image, 150000);
    char digests[3][SECURE_BOOT_DIGEST_HEX], extra[512];
    for (int i = 0; i < 3; i++)
        otad_digest(f, ks[i], digests[i]);
    snprintf(extra, sizeof(extra), "--blocks 3 --digest %s --digest %s --digest %s", digests[0],
             digests[1], digests[2]);
    assert_int_equal(reference_verify(f, out.data, out.len, extra), 0);
    assert_int_equal(test_run(REFERENCE " reencode '%s/signed.bin' >/dev/null", f->dir), 0);
    /* The reference must be able to say no: the digests in another order are refused. */
    snprintf(extra, sizeof(extra), "--blocks 3 --digest %s --digest %s --digest %s", digests[1],
             digests[0], digests[2]);
    assert_int_equal(reference_verify(f, out.data, out.len, extra), REFUSED);

    struct secure_boot_verdict verdict;
    struct reason why = {""};
    assert_int_equal(secure_boot_verify(out.data, out.len, &verdict, &why), 0);
    assert_int_equal(verdict.block_count, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(verdict.blocks[i].key_digest, digests[i]);
        assert_string_equal(verdict.blocks[i].scheme, key_names[ks[i]]);
    }
    /* 3 blocks fill 3648 bytes; the last 448 of the sector stay 0xFF. */
    for (size_t j = out.len - 448; j < out.len; j++)
        assert_int_equal(out.data[j], 0xFF);
    buf_release(&out);
    free(image);
}

static void test_images_signed_by_the_reference_verify(void **state)
{
    struct fixture *f = *state;
    uint8_t *image = test_payload(9000, 3);
    const char *image_file = test_path("%s/ref-image.bin", f->dir);
    const char *signed_file = test_path("%s/ref-signed.bin", f->dir);
    test_write_file(image_file, image, 9000);
    assert_int_equal(test_run(REFERENCE " sign --key '%s' --key '%s' --key '%s' '%s' '%s'",
                              private_path(f, K_P384), private_path(f, K_RSA3072),
                              private_path(f, K_P256), image_file, signed_file),
                     0);
    size_t len;
    uint8_t *data = test_read_file(signed_file, &len);
    struct secure_boot_verdict verdict;
    struct reason why = {""};
    if (secure_boot_verify(data, len, &verdict, &why) < 0)
        fail_msg("secure_boot_verify: %s", why.text);
    assert_int_equal(verdict.block_count, 3);
    char digest[SECURE_BOOT_DIGEST_HEX];
    otad_digest(f, K_P384, digest);
    assert_string_equal(verdict.blocks[0].key_digest, digest);
    otad_digest(f, K_RSA3072, digest);
    assert_string_equal(verdict.blocks[1].key_digest, digest);
    otad_digest(f, K_P256, digest);
    assert_string_equal(verdict.blocks[2].key_digest, digest);
    free(data);
    free(image);
}

/* Flips byte AT of a copy of SIGNED; both verifiers must refuse it. */
static void assert_damage_refused(struct fixture *f, const struct buf *signed_image, size_t at,
                                  const char *what)
{
    uint8_t *copy = malloc(signed_image->len);
    memcpy(copy, signed_image->data, signed_image->len);
    copy[at] ^= 0x01;
    struct secure_boot_verdict verdict;
    struct reason why = {""};
    if (secure_boot_verify(copy, signed_image->len, &verdict, &why) != -EBADMSG)
        fail_msg("%s: accepted", what);
    assert_true(why.text[0]);
    if (reference_verify(f, copy, signed_image->len, "") != REFUSED)
        fail_msg("%s: the reference accepted it", what);
    free(copy);
}

static void test_damage_refused(void **state)
{
    struct fixture *f = *state;
    for (int k = K_RSA3072; k <= K_P384; k++) {
        uint8_t *image = test_payload(5000, 40 + (uint32_t)k);
        struct buf out = sign_ok(f, &k, 1, image, 5000);
        size_t sector = out.len - SECURE_BOOT_SECTOR;
        size_t sig_at = k == K_RSA3072 ? 812 : k == K_P256 ? 101 : 149;
        assert_damage_refused(f, &out, 100, "a byte of the image");
        assert_damage_refused(f, &out, 6000, "a byte of the 0xFF padding");
        assert_damage_refused(f, &out, sector + 1, "the block's version");
        assert_damage_refused(f, &out, sector + 10, "the block's image digest");
        assert_damage_refused(f, &out, sector + 40, "the block's public key");
        assert_damage_refused(f, &out, sector + sig_at + 5, "the block's signature");
        assert_damage_refused(f, &out, sector + SECURE_BOOT_BLOCK_CRC, "the block's crc");
        assert_damage_refused(f, &out, sector + SECURE_BOOT_BLOCK_CRC + 8, "the zero tail");
        assert_damage_refused(f, &out, sector + 2000, "the sector's 0xFF tail");
        /* A cut file is no sector at all. */
        struct secure_boot_verdict verdict;
        struct reason why = {""};
        assert_int_equal(secure_boot_verify(out.data, out.len - 1, &verdict, &why), -EBADMSG);
        assert_int_equal(secure_boot_verify(out.data, out.len - SECURE_BOOT_SECTOR, &verdict, &why),
                         -EBADMSG);
        buf_release(&out);
        free(image);
    }
}

/*
 * The wrong key: a block whose key part is replaced by another key's (and
 * its CRC fixed up) carries that key's digest but a signature it did not
 * make. Refused by both.
 */
static void test_block_with_another_key_refused(void **state)
{
    struct fixture *f = *state;
    int k = K_RSA3072;
    uint8_t *image = test_payload(3000, 9);
    struct buf out = sign_ok(f, &k, 1, image, 3000);
    int other = K_RSA3072_B;
    struct buf decoy = sign_ok(f, &other, 1, image, 3000);
    size_t sector = out.len - SECURE_BOOT_SECTOR;
    memcpy(out.data + sector + 36, decoy.data + sector + 36, 776); /* n, e, rinv, m' */
    uint32_t crc = (uint32_t)crc32(0L, out.data + sector, SECURE_BOOT_BLOCK_CRC);
    for (int i = 0; i < 4; i++)
        out.data[sector + SECURE_BOOT_BLOCK_CRC + i] = (uint8_t)(crc >> (8 * i));
    struct secure_boot_verdict verdict;
    struct reason why = {""};
    assert_int_equal(secure_boot_verify(out.data, out.len, &verdict, &why), -EBADMSG);
    assert_non_null(strstr(why.text, "does not verify"));
    assert_int_equal(reference_verify(f, out.data, out.len, ""), REFUSED);

    /* A valid image signed by another key than the one a device trusts: its digest says so. */
    assert_int_equal(secure_boot_verify(decoy.data, decoy.len, &verdict, &why), 0);
    char trusted[SECURE_BOOT_DIGEST_HEX];
    otad_digest(f, K_RSA3072, trusted);
    assert_string_not_equal(verdict.blocks[0].key_digest, trusted);
    char extra[128];
    snprintf(extra, sizeof(extra), "--digest %s", trusted);
    assert_int_equal(reference_verify(f, decoy.data, decoy.len, extra), REFUSED);
    buf_release(&decoy);
    buf_release(&out);
    free(image);
}

static void test_sign_refusals(void **state)
{
    struct fixture *f = *state;
    uint8_t image[100] = {0xE9};
    struct buf out;
    struct reason why = {""};
    buf_init(&out, 1024 * 1024);
    const struct signing_key *four[4] = {f->priv[0], f->priv[1], f->priv[2], f->priv[3]};
    assert_int_equal(secure_boot_sign(four, 0, image, sizeof(image), &out, &why), -EINVAL);
    assert_int_equal(secure_boot_sign(four, 4, image, sizeof(image), &out, &why), -EINVAL);
    assert_int_equal(secure_boot_sign(four, 1, image, 0, &out, &why), -EINVAL);
    const struct signing_key *pub[1] = {f->pub[K_RSA3072]};
    assert_int_equal(secure_boot_sign(pub, 1, image, sizeof(image), &out, &why), -EINVAL);
    const struct signing_key *small[1] = {f->priv[K_RSA2048]};
    assert_int_equal(secure_boot_sign(small, 1, image, sizeof(image), &out, &why), -ENOTSUP);
    assert_int_equal(out.len, 0);
    struct buf tight;
    buf_init(&tight, 4096 + 4095);
    assert_int_equal(secure_boot_sign(four, 1, image, sizeof(image), &tight, &why), -E2BIG);
    assert_int_equal(tight.len, 0);
    buf_release(&tight);
    buf_release(&out);
    assert_int_equal(secure_boot_sector_offset(0), 0);
    assert_int_equal(secure_boot_sector_offset(1), 4096);
    assert_int_equal(secure_boot_sector_offset(4096), 4096);
    assert_int_equal(secure_boot_sector_offset(4097), 8192);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_digests_match_the_reference),
        cmocka_unit_test(test_each_scheme_verified_and_rebuilt_by_the_reference),
        cmocka_unit_test(test_three_blocks_for_rotation),
        cmocka_unit_test(test_images_signed_by_the_reference_verify),
        cmocka_unit_test(test_damage_refused),
        cmocka_unit_test(test_block_with_another_key_refused),
        cmocka_unit_test(test_sign_refusals),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
