/*
 * Unit tests for lib/verify.c, the device-side check on BearSSL. Images are
 * signed by otad (src/signing/) and, separately, put together from the
 * openssl command line alone; both must verify here for every format and
 * every key type the format takes, whole or streamed in chunks of any size.
 * Then every kind of damage and misuse is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/reason.h"
#include "otac/verify.h"
#include "signing/signing.h"
#include "../signing/support.h"
#include "signed.h"

enum { K_RSA2048, K_RSA3072, K_RSA4096, K_P256, K_P384, K_OTHER2048, K_COUNT };

static const char *const key_names[K_COUNT] = {
    "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384", "other-2048",
};
static const enum signing_key_type key_types[K_COUNT] = {
    SIGNING_KEY_RSA_2048,   SIGNING_KEY_RSA_3072,   SIGNING_KEY_RSA_4096,
    SIGNING_KEY_ECDSA_P256, SIGNING_KEY_ECDSA_P384, SIGNING_KEY_RSA_2048,
};

struct fixture {
    char *dir;
    char *keys;
    struct signing_key *priv[K_COUNT];
    struct otac_pubkey pub[K_COUNT]; /* parsed from the NAME.pub files */
};

static bool is_rsa(int k)
{
    return k != K_P256 && k != K_P384;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    f->keys = strdup(test_path("%s/keys", f->dir));
    for (int k = 0; k < K_COUNT; k++)
        if (signed_key_new(f->keys, key_names[k], key_types[k], &f->priv[k], &f->pub[k]) < 0)
            return -1;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    for (int k = 0; k < K_COUNT; k++)
        signing_key_free(f->priv[k]);
    free(f->keys);
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

static enum otac_format otac_format_of(enum signing_format format)
{
    switch (format) {
    case SIGNING_FORMAT_ESP8266:
        return OTAC_FORMAT_ESP8266;
    case SIGNING_FORMAT_ESP8266_LEGACY:
        return OTAC_FORMAT_ESP8266_LEGACY;
    default:
        return OTAC_FORMAT_ESP32;
    }
}

static enum otac_hash otac_hash_of(enum signing_hash hash)
{
    return hash == SIGNING_HASH_SHA384   ? OTAC_HASH_SHA384
           : hash == SIGNING_HASH_SHA512 ? OTAC_HASH_SHA512
                                         : OTAC_HASH_SHA256;
}

/* Feeds IMAGE in chunks of CHUNK bytes (0: all at once) and finishes. */
static int verify_chunked(const struct otac_pubkey *key, enum otac_format format,
                          enum otac_hash hash, const uint8_t *image, size_t len, size_t chunk,
                          uint64_t *ret_payload_len)
{
    struct otac_verify v;
    int r = otac_verify_init(&v, key, format, hash);
    if (r != OTAC_OK)
        return r;
    for (size_t at = 0; at < len;) {
        size_t n = chunk == 0 || chunk > len - at ? len - at : chunk;
        r = otac_verify_update(&v, image + at, n);
        if (r != OTAC_OK)
            return r;
        at += n;
    }
    return otac_verify_finish(&v, ret_payload_len);
}

/* Every format with every key type it takes, every hash, signed by otad. */
static void test_otad_images_verify(void **state)
{
    struct fixture *f = *state;
    static const struct {
        enum signing_format format;
        enum signing_hash hash;
    } cases[] = {
        {SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256},
        {SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_SHA256},
        {SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256},
        {SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA384},
        {SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA512},
    };
    static const size_t sizes[] = {1, 4, 515, 517, 5000};
    static const size_t chunks[] = {0, 1, 3, 64, 511, 512, 513, 4096};
    for (int k = 0; k < K_OTHER2048; k++) {
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            if (!is_rsa(k) && cases[c].format != SIGNING_FORMAT_ESP32)
                continue;
            for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                uint8_t *payload = test_payload(sizes[s], (uint32_t)(k * 100 + c * 10 + s));
                struct buf image =
                    signed_image(f->priv[k], cases[c].format, cases[c].hash, payload, sizes[s]);
                for (size_t ch = 0; ch < sizeof(chunks) / sizeof(chunks[0]); ch++) {
                    uint64_t payload_len = 0;
                    int r = verify_chunked(&f->pub[k], otac_format_of(cases[c].format),
                                           otac_hash_of(cases[c].hash), image.data, image.len,
                                           chunks[ch], &payload_len);
                    if (r != OTAC_OK)
                        fail_msg("%s %s %s, %zu bytes in chunks of %zu: %s", key_names[k],
                                 signing_format_name(cases[c].format),
                                 signing_hash_name(cases[c].hash), sizes[s], chunks[ch],
                                 otac_strerror(r));
                    assert_int_equal(payload_len, sizes[s]);
                }
                buf_release(&image);
                free(payload);
            }
        }
    }
}

/* Runs an openssl command that writes SIG_PATH and returns the bytes. */
static uint8_t *openssl_sign(const char *command, const char *sig_path, size_t *ret_len)
{
    assert_int_equal(test_run("%s", command), 0);
    return test_read_file(sig_path, ret_len);
}

/* Images assembled from the openssl command line alone verify too. */
static void test_openssl_images_verify(void **state)
{
    struct fixture *f = *state;
    const char *payload_path = test_path("%s/p.bin", f->dir);
    const char *digest_path = test_path("%s/p.sha256", f->dir);
    const char *sig_path = test_path("%s/p.sig", f->dir);
    char command[4 * PATH_MAX];
    size_t len = 4321;
    uint8_t *payload = test_payload(len, 77);
    test_write_file(payload_path, payload, len);
    uint8_t *image = calloc(1, len + 1024);
    memcpy(image, payload, len);

    for (int k = 0; k < K_OTHER2048; k++) {
        const char *key_path = test_path("%s/%s.key", f->keys, key_names[k]);
        size_t sig_len;
        uint8_t *sig;
        uint64_t payload_len = 0;

        if (is_rsa(k)) {
            /* esp8266: what signing.py does, `openssl dgst -sha256 -sign`, plus LE32. */
            snprintf(command, sizeof(command), "openssl dgst -sha256 -sign '%s' -out '%s' '%s'",
                     key_path, sig_path, payload_path);
            sig = openssl_sign(command, sig_path, &sig_len);
            memcpy(image + len, sig, sig_len);
            uint8_t word[4] = {(uint8_t)sig_len, (uint8_t)(sig_len >> 8), 0, 0};
            memcpy(image + len + sig_len, word, 4);
            assert_int_equal(otac_verify_image(&f->pub[k], OTAC_FORMAT_ESP8266, OTAC_HASH_SHA256,
                                               image, len + sig_len + 4, &payload_len),
                             OTAC_OK);
            assert_int_equal(payload_len, len);
            free(sig);

            /* esp8266-legacy: `rsautl -sign` over the raw digest. */
            snprintf(command, sizeof(command),
                     "openssl dgst -sha256 -binary -out '%s' '%s' && "
                     "openssl pkeyutl -sign -inkey '%s' -in '%s' -out '%s'",
                     digest_path, payload_path, key_path, digest_path, sig_path);
            sig = openssl_sign(command, sig_path, &sig_len);
            memcpy(image + len, sig, sig_len);
            assert_int_equal(otac_verify_image(&f->pub[k], OTAC_FORMAT_ESP8266_LEGACY,
                                               OTAC_HASH_SHA256, image, len + sig_len + 4,
                                               &payload_len),
                             OTAC_OK);
            free(sig);

            /* esp32: what bin_signing.py does, PSS with MGF1 and the maximum salt. */
            snprintf(command, sizeof(command),
                     "openssl dgst -sha384 -sign '%s' -sigopt rsa_padding_mode:pss -sigopt "
                     "rsa_pss_saltlen:max -sigopt rsa_mgf1_md:sha384 -out '%s' '%s'",
                     key_path, sig_path, payload_path);
        } else {
            snprintf(command, sizeof(command), "openssl dgst -sha384 -sign '%s' -out '%s' '%s'",
                     key_path, sig_path, payload_path);
        }
        sig = openssl_sign(command, sig_path, &sig_len);
        memset(image + len, 0, 512);
        memcpy(image + len, sig, sig_len);
        assert_int_equal(otac_verify_image(&f->pub[k], OTAC_FORMAT_ESP32, OTAC_HASH_SHA384, image,
                                           len + 512, &payload_len),
                         OTAC_OK);
        assert_int_equal(payload_len, len);
        /* Under another hash it does not. */
        assert_int_equal(otac_verify_image(&f->pub[k], OTAC_FORMAT_ESP32, OTAC_HASH_SHA256, image,
                                           len + 512, &payload_len),
                         OTAC_E_SIG_MISMATCH);
        free(sig);
    }
    free(image);
    free(payload);
}

/* A PSS salt shorter than the maximum is refused, as mbedTLS 3.x devices refuse it. */
static void test_pss_needs_max_salt(void **state)
{
    struct fixture *f = *state;
    const char *payload_path = test_path("%s/s.bin", f->dir);
    const char *sig_path = test_path("%s/s.sig", f->dir);
    size_t len = 999;
    uint8_t *payload = test_payload(len, 3);
    test_write_file(payload_path, payload, len);
    static const char *const salts[] = {"0", "32", "221", "digest"};
    for (size_t i = 0; i < sizeof(salts) / sizeof(salts[0]); i++) {
        assert_int_equal(test_run("openssl dgst -sha256 -sign '%s/rsa-2048.key' -sigopt "
                                  "rsa_padding_mode:pss -sigopt rsa_pss_saltlen:%s -out '%s' '%s'",
                                  f->keys, salts[i], sig_path, payload_path),
                         0);
        size_t sig_len;
        uint8_t *sig = test_read_file(sig_path, &sig_len);
        uint8_t *image = calloc(1, len + 512);
        memcpy(image, payload, len);
        memcpy(image + len, sig, sig_len);
        assert_int_equal(otac_verify_image(&f->pub[K_RSA2048], OTAC_FORMAT_ESP32, OTAC_HASH_SHA256,
                                           image, len + 512, NULL),
                         OTAC_E_SIG_MISMATCH);
        free(image);
        free(sig);
    }
    free(payload);
}

static int verify_whole(const struct otac_pubkey *key, enum otac_format format,
                        const uint8_t *image, size_t len)
{
    uint64_t payload_len = 12345;
    int r = otac_verify_image(key, format, OTAC_HASH_SHA256, image, len, &payload_len);
    if (r != OTAC_OK)
        assert_int_equal(payload_len, 12345); /* untouched on failure */
    return r;
}

/* Flips bit patterns at OFFSET; every result must be a refusal (EXPECT, or any when 0). */
static void assert_flip_refused(const struct otac_pubkey *key, enum otac_format format,
                                const struct buf *image, size_t offset, int expect,
                                const char *what)
{
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    uint8_t *copy = malloc(image->len);
    for (size_t m = 0; m < sizeof(masks); m++) {
        memcpy(copy, image->data, image->len);
        copy[offset] ^= masks[m];
        int r = verify_whole(key, format, copy, image->len);
        if (r == OTAC_OK || (expect != 0 && r != expect))
            fail_msg("%s at %zu (mask %02x): %s", what, offset, masks[m], otac_strerror(r));
    }
    free(copy);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    static const struct {
        int key;
        enum signing_format format;
    } cases[] = {
        {K_RSA2048, SIGNING_FORMAT_ESP8266},
        {K_RSA3072, SIGNING_FORMAT_ESP8266},
        {K_RSA4096, SIGNING_FORMAT_ESP8266},
        {K_RSA2048, SIGNING_FORMAT_ESP8266_LEGACY},
        {K_RSA4096, SIGNING_FORMAT_ESP8266_LEGACY},
        {K_RSA2048, SIGNING_FORMAT_ESP32},
        {K_RSA4096, SIGNING_FORMAT_ESP32},
        {K_P256, SIGNING_FORMAT_ESP32},
        {K_P384, SIGNING_FORMAT_ESP32},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int k = cases[c].key;
        enum otac_format format = otac_format_of(cases[c].format);
        const struct otac_pubkey *key = &f->pub[k];
        size_t len = 3000;
        uint8_t *payload = test_payload(len, (uint32_t)(c + 1));
        struct buf image =
            signed_image(f->priv[k], cases[c].format, SIGNING_HASH_SHA256, payload, len);
        assert_int_equal(verify_whole(key, format, image.data, image.len), OTAC_OK);
        bool esp8266 = format != OTAC_FORMAT_ESP32;
        size_t sig_len = is_rsa(k) ? key->rsa.n_len : 2u + image.data[len + 1];

        /* One flipped byte anywhere in the payload: the digest differs. */
        assert_flip_refused(key, format, &image, 0, OTAC_E_SIG_MISMATCH, "payload start");
        assert_flip_refused(key, format, &image, len / 2, OTAC_E_SIG_MISMATCH, "payload middle");
        assert_flip_refused(key, format, &image, len - 1, OTAC_E_SIG_MISMATCH, "payload end");
        /* In the signature. */
        assert_flip_refused(key, format, &image, len + 1, 0, "signature start");
        assert_flip_refused(key, format, &image, len + sig_len / 2, 0, "signature middle");
        assert_flip_refused(key, format, &image, len + sig_len - 1, 0, "signature end");
        /* In the trailer: the length word, or the ESP32 zero padding. */
        if (esp8266) {
            for (size_t i = 0; i < 4; i++)
                assert_flip_refused(key, format, &image, image.len - 4 + i, OTAC_E_SIG_LENGTH,
                                    "length word");
        } else if (sig_len < 512) {
            assert_flip_refused(key, format, &image, len + sig_len, OTAC_E_SIG_BLOCK, "padding");
            assert_flip_refused(key, format, &image, image.len - 1, OTAC_E_SIG_BLOCK,
                                "padding end");
        }

        /* Truncated, at any point; and an image that is all trailer. */
        static const size_t cuts[] = {1, 3, 4, 5, 255, 256, 511, 512, 513};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
            assert_int_not_equal(verify_whole(key, format, image.data, image.len - cuts[i]),
                                 OTAC_OK);
        size_t hold = esp8266 ? key->rsa.n_len + 4 : 512;
        assert_int_equal(verify_whole(key, format, image.data + image.len - hold, hold),
                         OTAC_E_TRUNCATED);
        assert_int_equal(verify_whole(key, format, image.data, 0), OTAC_E_TRUNCATED);
        assert_int_equal(verify_whole(key, format, image.data, hold - 1), OTAC_E_TRUNCATED);

        /* One byte more at the end, or at the start. */
        uint8_t *longer = calloc(1, image.len + 1);
        memcpy(longer, image.data, image.len);
        assert_int_not_equal(verify_whole(key, format, longer, image.len + 1), OTAC_OK);
        memcpy(longer + 1, image.data, image.len);
        longer[0] = 0xe9;
        assert_int_not_equal(verify_whole(key, format, longer, image.len + 1), OTAC_OK);
        free(longer);

        /* The wrong key: same size gives a mismatch, another size a bad length word. */
        if (is_rsa(k)) {
            int other = k == K_RSA2048 ? K_OTHER2048 : K_RSA2048;
            int r = verify_whole(&f->pub[other], format, image.data, image.len);
            if (esp8266)
                assert_int_equal(r, k == K_RSA2048 ? OTAC_E_SIG_MISMATCH : OTAC_E_SIG_LENGTH);
            else
                assert_int_not_equal(r, OTAC_OK);
        } else {
            int other = k == K_P256 ? K_P384 : K_P256;
            assert_int_not_equal(verify_whole(&f->pub[other], format, image.data, image.len),
                                 OTAC_OK);
            assert_int_not_equal(verify_whole(&f->pub[K_RSA2048], format, image.data, image.len),
                                 OTAC_OK);
        }
        buf_release(&image);
        free(payload);
    }
}

static void test_wrong_length_word(void **state)
{
    struct fixture *f = *state;
    size_t len = 2000;
    uint8_t *payload = test_payload(len, 8);
    /* RSA-4096 with the constant 256 that signing.py wrote before core 3.1.0. */
    struct buf image =
        signed_image(f->priv[K_RSA4096], SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, payload, len);
    memcpy(image.data + image.len - 4, "\x00\x01\x00\x00", 4);
    assert_int_equal(verify_whole(&f->pub[K_RSA4096], OTAC_FORMAT_ESP8266, image.data, image.len),
                     OTAC_E_SIG_LENGTH);
    buf_release(&image);

    static const uint8_t words[][4] = {
        {0x00, 0x02, 0x00, 0x00}, {0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {0x00, 0x01, 0x00, 0x01}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        image = signed_image(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256,
                             payload, len);
        memcpy(image.data + image.len - 4, words[i], 4);
        assert_int_equal(
            verify_whole(&f->pub[K_RSA2048], OTAC_FORMAT_ESP8266, image.data, image.len),
            OTAC_E_SIG_LENGTH);
        buf_release(&image);
    }
    free(payload);
}

/* Legacy images to a >= 2.6 verifier and the reverse are refused (reference 7.3). */
static void test_legacy_and_new_refuse_each_other(void **state)
{
    struct fixture *f = *state;
    static const int keys[] = {K_RSA2048, K_RSA3072, K_RSA4096};
    size_t len = 1500;
    uint8_t *payload = test_payload(len, 21);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int k = keys[i];
        struct buf legacy = signed_image(f->priv[k], SIGNING_FORMAT_ESP8266_LEGACY,
                                         SIGNING_HASH_SHA256, payload, len);
        struct buf modern =
            signed_image(f->priv[k], SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, payload, len);
        assert_int_equal(verify_whole(&f->pub[k], OTAC_FORMAT_ESP8266, legacy.data, legacy.len),
                         OTAC_E_SIG_MISMATCH);
        assert_int_equal(
            verify_whole(&f->pub[k], OTAC_FORMAT_ESP8266_LEGACY, modern.data, modern.len),
            OTAC_E_SIG_MISMATCH);
        assert_int_equal(verify_whole(&f->pub[k], OTAC_FORMAT_ESP8266, modern.data, modern.len),
                         OTAC_OK);
        assert_int_equal(
            verify_whole(&f->pub[k], OTAC_FORMAT_ESP8266_LEGACY, legacy.data, legacy.len), OTAC_OK);
        /* And neither is an ESP32 image. */
        assert_int_not_equal(verify_whole(&f->pub[k], OTAC_FORMAT_ESP32, modern.data, modern.len),
                             OTAC_OK);
        buf_release(&modern);
        buf_release(&legacy);
    }
    free(payload);
}

static void test_init_refusals(void **state)
{
    struct fixture *f = *state;
    struct otac_verify v;

    /* ECDSA cannot verify ESP8266 images (reference 7.2). */
    assert_int_equal(otac_verify_init(&v, &f->pub[K_P256], OTAC_FORMAT_ESP8266, OTAC_HASH_SHA256),
                     OTAC_E_KEY_FORMAT);
    assert_int_equal(
        otac_verify_init(&v, &f->pub[K_P384], OTAC_FORMAT_ESP8266_LEGACY, OTAC_HASH_SHA256),
        OTAC_E_KEY_FORMAT);
    /* ESP8266 is SHA-256 only. */
    assert_int_equal(
        otac_verify_init(&v, &f->pub[K_RSA2048], OTAC_FORMAT_ESP8266, OTAC_HASH_SHA384),
        OTAC_E_INVAL);
    /* Unknown values and NULLs. */
    assert_int_equal(
        otac_verify_init(&v, &f->pub[K_RSA2048], (enum otac_format)0, OTAC_HASH_SHA256),
        OTAC_E_INVAL);
    assert_int_equal(
        otac_verify_init(&v, &f->pub[K_RSA2048], (enum otac_format)4, OTAC_HASH_SHA256),
        OTAC_E_INVAL);
    assert_int_equal(otac_verify_init(&v, &f->pub[K_RSA2048], OTAC_FORMAT_ESP32, (enum otac_hash)0),
                     OTAC_E_INVAL);
    assert_int_equal(otac_verify_init(&v, NULL, OTAC_FORMAT_ESP32, OTAC_HASH_SHA256), OTAC_E_INVAL);
    assert_int_equal(
        otac_verify_init(NULL, &f->pub[K_RSA2048], OTAC_FORMAT_ESP32, OTAC_HASH_SHA256),
        OTAC_E_INVAL);
    /* A key struct filled by hand with nonsense. */
    struct otac_pubkey bad = f->pub[K_RSA2048];
    bad.rsa.n_len = 0;
    assert_int_equal(otac_verify_init(&v, &bad, OTAC_FORMAT_ESP32, OTAC_HASH_SHA256),
                     OTAC_E_KEY_UNSUPPORTED);
    bad = f->pub[K_P256];
    bad.ec.q_len = 97;
    assert_int_equal(otac_verify_init(&v, &bad, OTAC_FORMAT_ESP32, OTAC_HASH_SHA256),
                     OTAC_E_KEY_UNSUPPORTED);
    bad.type = (enum otac_key_type)7;
    assert_int_equal(otac_verify_init(&v, &bad, OTAC_FORMAT_ESP32, OTAC_HASH_SHA256),
                     OTAC_E_KEY_UNSUPPORTED);
    /* A failed init leaves V unusable. */
    assert_int_equal(otac_verify_update(&v, "x", 1), OTAC_E_STATE);
    assert_int_equal(otac_verify_finish(&v, NULL), OTAC_E_STATE);
}

static void test_call_order(void **state)
{
    struct fixture *f = *state;
    struct otac_verify v;
    memset(&v, 0, sizeof(v));
    assert_int_equal(otac_verify_update(&v, "x", 1), OTAC_E_STATE);
    assert_int_equal(otac_verify_finish(&v, NULL), OTAC_E_STATE);
    assert_int_equal(otac_verify_update(NULL, "x", 1), OTAC_E_INVAL);
    assert_int_equal(otac_verify_finish(NULL, NULL), OTAC_E_INVAL);

    size_t len = 100;
    uint8_t *payload = test_payload(len, 1);
    struct buf image =
        signed_image(f->priv[K_P256], SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256, payload, len);
    assert_int_equal(otac_verify_init(&v, &f->pub[K_P256], OTAC_FORMAT_ESP32, OTAC_HASH_SHA256),
                     OTAC_OK);
    assert_int_equal(otac_verify_update(&v, NULL, 0), OTAC_OK);
    assert_int_equal(otac_verify_update(&v, NULL, 1), OTAC_E_INVAL);
    assert_int_equal(otac_verify_update(&v, image.data, image.len), OTAC_OK);
    assert_int_equal(otac_verify_update(&v, NULL, 0), OTAC_OK);
    uint64_t payload_len = 0;
    assert_int_equal(otac_verify_finish(&v, &payload_len), OTAC_OK);
    assert_int_equal(payload_len, len);
    /* Finished: no more data, no second verdict. */
    assert_int_equal(otac_verify_update(&v, "x", 1), OTAC_E_STATE);
    assert_int_equal(otac_verify_finish(&v, &payload_len), OTAC_E_STATE);
    /* Re-initialised, it works again. */
    assert_int_equal(otac_verify_init(&v, &f->pub[K_P256], OTAC_FORMAT_ESP32, OTAC_HASH_SHA256),
                     OTAC_OK);
    assert_int_equal(otac_verify_update(&v, image.data, image.len), OTAC_OK);
    assert_int_equal(otac_verify_finish(&v, NULL), OTAC_OK);
    buf_release(&image);
    free(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otad_images_verify),
        cmocka_unit_test(test_openssl_images_verify),
        cmocka_unit_test(test_pss_needs_max_salt),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_wrong_length_word),
        cmocka_unit_test(test_legacy_and_new_refuse_each_other),
        cmocka_unit_test(test_init_refusals),
        cmocka_unit_test(test_call_order),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
