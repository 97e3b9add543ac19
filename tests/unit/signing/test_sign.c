/*
 * Unit tests for src/signing/sign.c. The ESP8266 signatures are compared
 * byte for byte with what the openssl command line makes at test time
 * (`openssl dgst -sha256 -sign`, and `openssl pkeyutl -sign` over the raw
 * digest for the legacy form); ESP32 signatures are checked by `openssl dgst
 * -verify` with the exact maximum salt. Then signing_verify: every format and
 * key round-trips, with and without auto-detection, and every kind of damage
 * is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/reason.h"
#include "core/digest.h"
#include "signing/signing.h"
#include "support.h"

enum { K_RSA2048, K_RSA3072, K_RSA4096, K_P256, K_P384, K_OPENSSL_RSA2048, K_COUNT };

static const char *const key_names[K_COUNT] = {
    "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384", "openssl-rsa-2048",
};

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

static const char *public_path(const struct fixture *f, int k)
{
    return test_path("%s/%s.pub", f->keys, key_names[k]);
}

static int group_setup(void **state)
{
    static const enum signing_key_type types[] = {
        SIGNING_KEY_RSA_2048,   SIGNING_KEY_RSA_3072,   SIGNING_KEY_RSA_4096,
        SIGNING_KEY_ECDSA_P256, SIGNING_KEY_ECDSA_P384,
    };
    struct fixture *f = calloc(1, sizeof(*f));
    struct reason why = {""};
    f->dir = test_tmpdir_new();
    f->keys = strdup(test_path("%s/keys", f->dir));
    for (int k = 0; k < K_OPENSSL_RSA2048; k++)
        if (signing_key_generate(f->keys, key_names[k], types[k], NULL, &why) < 0)
            return -1;
    /* One key made by openssl itself, not by otad. */
    if (test_run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '%s' "
                 "2>/dev/null && chmod 600 '%s' && openssl pkey -in '%s' -pubout -out '%s'",
                 private_path(f, K_OPENSSL_RSA2048), private_path(f, K_OPENSSL_RSA2048),
                 private_path(f, K_OPENSSL_RSA2048), public_path(f, K_OPENSSL_RSA2048)) != 0)
        return -1;
    for (int k = 0; k < K_COUNT; k++) {
        if (signing_key_load_private(private_path(f, k), &f->priv[k], &why) < 0 ||
            signing_key_load_public(public_path(f, k), &f->pub[k], &why) < 0)
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

static size_t sig_len_of(const struct signing_key *key)
{
    struct signing_key_info info;
    signing_key_info(key, &info);
    return info.sig_len;
}

static bool is_rsa(int k)
{
    return k != K_P256 && k != K_P384;
}

/* Signs PAYLOAD into a new buffer, asserting success. */
static struct buf sign_ok(const struct signing_key *key, enum signing_format format,
                          enum signing_hash hash, const uint8_t *payload, size_t len)
{
    struct buf out;
    struct reason why = {""};
    buf_init(&out, 1024 * 1024);
    int r = signing_sign(key, format, hash, payload, len, &out, &why);
    if (r < 0)
        fail_msg("signing_sign: %s", why.text);
    return out;
}

static const size_t payload_sizes[] = {1, 3, 1000, 4096, 65537};

static void test_format_and_hash_names(void **state)
{
    static const char *const formats[] = {"auto", "esp8266", "esp8266-legacy", "esp32"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        enum signing_format f;
        assert_int_equal(signing_format_parse(formats[i], &f), 0);
        assert_string_equal(signing_format_name(f), formats[i]);
    }
    static const char *const hashes[] = {"auto", "sha256", "sha384", "sha512"};
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        enum signing_hash h;
        assert_int_equal(signing_hash_parse(hashes[i], &h), 0);
        assert_string_equal(signing_hash_name(h), hashes[i]);
    }
    enum signing_format f = SIGNING_FORMAT_ESP32;
    enum signing_hash h = SIGNING_HASH_SHA512;
    assert_int_equal(signing_format_parse("ESP8266", &f), -EINVAL);
    assert_int_equal(signing_format_parse("esp8266-new", &f), -EINVAL);
    assert_int_equal(signing_format_parse("", &f), -EINVAL);
    assert_int_equal(signing_hash_parse("sha1", &h), -EINVAL);
    assert_int_equal(signing_hash_parse("md5", &h), -EINVAL);
    assert_int_equal(f, SIGNING_FORMAT_ESP32);
    assert_int_equal(h, SIGNING_HASH_SHA512);
    assert_null(signing_format_name((enum signing_format)7));
    assert_null(signing_hash_name((enum signing_hash)7));
}

/*
 * esp8266: payload | the exact bytes of `openssl dgst -sha256 -sign KEY` |
 * LE32 of their length, for every RSA key (one made by openssl itself).
 */
static void test_esp8266_byte_identical_to_openssl_dgst(void **state)
{
    struct fixture *f = *state;
    static const int keys[] = {K_RSA2048, K_RSA3072, K_RSA4096, K_OPENSSL_RSA2048};
    for (size_t ki = 0; ki < sizeof(keys) / sizeof(keys[0]); ki++) {
        int k = keys[ki];
        for (size_t si = 0; si < sizeof(payload_sizes) / sizeof(payload_sizes[0]); si++) {
            size_t len = payload_sizes[si];
            uint8_t *payload = test_payload(len, (uint32_t)(k * 100 + si));
            const char *payload_path = test_path("%s/payload.bin", f->dir);
            const char *sig_path = test_path("%s/payload.sig", f->dir);
            test_write_file(payload_path, payload, len);
            assert_int_equal(test_run("openssl dgst -sha256 -sign '%s' -out '%s' '%s'",
                                      private_path(f, k), sig_path, payload_path),
                             0);
            size_t sig_len;
            uint8_t *sig = test_read_file(sig_path, &sig_len);
            assert_int_equal(sig_len, sig_len_of(f->priv[k]));

            struct buf out =
                sign_ok(f->priv[k], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO, payload, len);
            assert_int_equal(out.len, len + sig_len + 4);
            assert_memory_equal(out.data, payload, len);
            assert_memory_equal(out.data + len, sig, sig_len);
            const uint8_t word[4] = {(uint8_t)sig_len, (uint8_t)(sig_len >> 8), 0, 0};
            assert_memory_equal(out.data + len + sig_len, word, 4);

            /* Explicit SHA-256 gives the same bytes. */
            struct buf again =
                sign_ok(f->priv[k], SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA256, payload, len);
            assert_int_equal(again.len, out.len);
            assert_memory_equal(again.data, out.data, out.len);

            buf_release(&again);
            buf_release(&out);
            free(sig);
            free(payload);
        }
    }
}

/* esp8266-legacy: PKCS#1 type 1 over the raw digest, as `openssl pkeyutl -sign` (rsautl). */
static void test_esp8266_legacy_byte_identical_to_openssl_raw(void **state)
{
    struct fixture *f = *state;
    static const int keys[] = {K_RSA2048, K_RSA4096, K_OPENSSL_RSA2048};
    for (size_t ki = 0; ki < sizeof(keys) / sizeof(keys[0]); ki++) {
        int k = keys[ki];
        size_t len = 5000 + ki;
        uint8_t *payload = test_payload(len, (uint32_t)k);
        const char *payload_path = test_path("%s/payload.bin", f->dir);
        const char *digest_path = test_path("%s/payload.sha256", f->dir);
        const char *sig_path = test_path("%s/payload.sig", f->dir);
        test_write_file(payload_path, payload, len);
        assert_int_equal(test_run("openssl dgst -sha256 -binary -out '%s' '%s' && "
                                  "openssl pkeyutl -sign -inkey '%s' -in '%s' -out '%s'",
                                  digest_path, payload_path, private_path(f, k), digest_path,
                                  sig_path),
                         0);
        size_t sig_len;
        uint8_t *sig = test_read_file(sig_path, &sig_len);

        struct buf out =
            sign_ok(f->priv[k], SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_AUTO, payload, len);
        assert_int_equal(out.len, len + sig_len + 4);
        assert_memory_equal(out.data, payload, len);
        assert_memory_equal(out.data + len, sig, sig_len);
        assert_int_equal(out.data[out.len - 4] | out.data[out.len - 3] << 8, sig_len);

        /* And it differs from the new form. */
        struct buf new_form =
            sign_ok(f->priv[k], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO, payload, len);
        assert_memory_not_equal(new_form.data + len, out.data + len, sig_len);
        buf_release(&new_form);
        buf_release(&out);
        free(sig);
        free(payload);
    }
}

static int md_size(enum signing_hash hash)
{
    return hash == SIGNING_HASH_SHA256 ? 32 : hash == SIGNING_HASH_SHA384 ? 48 : 64;
}

/*
 * esp32: payload | signature | zeros to 512 bytes. openssl checks the RSA-PSS
 * signature with MGF1 of the same hash and a salt of exactly emLen - hLen - 2,
 * and the ECDSA DER signature, for every key and hash.
 */
static void test_esp32_checked_by_openssl(void **state)
{
    struct fixture *f = *state;
    static const enum signing_hash hashes[] = {SIGNING_HASH_SHA256, SIGNING_HASH_SHA384,
                                               SIGNING_HASH_SHA512};
    for (int k = 0; k < K_COUNT; k++) {
        for (size_t hi = 0; hi < 3; hi++) {
            enum signing_hash hash = hashes[hi];
            size_t len = 3000 + (size_t)k * 7 + hi;
            uint8_t *payload = test_payload(len, (uint32_t)(k * 10 + hi));
            struct buf out = sign_ok(f->priv[k], SIGNING_FORMAT_ESP32, hash, payload, len);
            assert_int_equal(out.len, len + 512);
            assert_memory_equal(out.data, payload, len);

            const uint8_t *block = out.data + len;
            size_t sig_len;
            if (is_rsa(k)) {
                sig_len = sig_len_of(f->priv[k]);
            } else {
                assert_int_equal(block[0], 0x30);
                assert_true(block[1] < 0x80);
                sig_len = 2u + block[1];
            }
            for (size_t i = sig_len; i < 512; i++)
                assert_int_equal(block[i], 0);

            const char *payload_path = test_path("%s/payload.bin", f->dir);
            const char *sig_path = test_path("%s/payload.sig", f->dir);
            test_write_file(payload_path, payload, len);
            test_write_file(sig_path, block, sig_len);
            const char *md = signing_hash_name(hash);
            if (is_rsa(k)) {
                int salt = (int)sig_len - md_size(hash) - 2;
                assert_int_equal(test_run("openssl dgst -%s -verify '%s' -sigopt "
                                          "rsa_padding_mode:pss -sigopt rsa_pss_saltlen:%d "
                                          "-sigopt rsa_mgf1_md:%s -signature '%s' '%s' "
                                          ">/dev/null",
                                          md, public_path(f, k), salt, md, sig_path, payload_path),
                                 0);
                /* The salt is not shorter: a hash-length salt does not verify. */
                assert_int_not_equal(test_run("openssl dgst -%s -verify '%s' -sigopt "
                                              "rsa_padding_mode:pss -sigopt rsa_pss_saltlen:%d "
                                              "-sigopt rsa_mgf1_md:%s -signature '%s' '%s' "
                                              ">/dev/null 2>&1",
                                              md, public_path(f, k), md_size(hash), md, sig_path,
                                              payload_path),
                                     0);
            } else {
                assert_int_equal(test_run("openssl dgst -%s -verify '%s' -signature '%s' '%s' "
                                          ">/dev/null",
                                          md, public_path(f, k), sig_path, payload_path),
                                 0);
            }
            buf_release(&out);
            free(payload);
        }
    }
}

static void test_sign_refusals(void **state)
{
    struct fixture *f = *state;
    uint8_t payload[100];
    memset(payload, 0xe9, sizeof(payload));
    struct reason why = {""};
    struct buf out;
    buf_init(&out, 4096);

    /* ECDSA cannot make ESP8266 images (reference 7.2). */
    for (int k = K_P256; k <= K_P384; k++) {
        assert_int_equal(signing_sign(f->priv[k], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                      payload, sizeof(payload), &out, &why),
                         -EINVAL);
        assert_non_null(strstr(why.text, "need an rsa key"));
        assert_int_equal(signing_sign(f->priv[k], SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_AUTO,
                                      payload, sizeof(payload), &out, &why),
                         -EINVAL);
    }
    /* ESP8266 images are SHA-256 only. */
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_SHA384,
                                  payload, sizeof(payload), &out, &why),
                     -EINVAL);
    assert_non_null(strstr(why.text, "sha256"));
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266_LEGACY,
                                  SIGNING_HASH_SHA512, payload, sizeof(payload), &out, &why),
                     -EINVAL);
    /* A format must be chosen; the hash must be known. */
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO,
                                  payload, sizeof(payload), &out, &why),
                     -EINVAL);
    assert_int_equal(signing_sign(f->priv[K_RSA2048], (enum signing_format)9, SIGNING_HASH_AUTO,
                                  payload, sizeof(payload), &out, &why),
                     -EINVAL);
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_ESP32, (enum signing_hash)9,
                                  payload, sizeof(payload), &out, &why),
                     -EINVAL);
    /* A public key cannot sign; an empty payload is not signed. */
    assert_int_equal(signing_sign(f->pub[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                  payload, sizeof(payload), &out, &why),
                     -EINVAL);
    assert_non_null(strstr(why.text, "private key"));
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                  payload, 0, &out, &why),
                     -EINVAL);
    assert_int_equal(out.len, 0);

    /* Past the buffer's ceiling: -E2BIG and nothing appended. */
    struct buf small;
    buf_init(&small, sizeof(payload) + 256 + 3);
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                  payload, sizeof(payload), &small, &why),
                     -E2BIG);
    assert_int_equal(small.len, 0);
    buf_release(&small);

    /* Appends after what OUT holds. */
    assert_int_equal(buf_append(&out, "x", 1), 0);
    assert_int_equal(signing_sign(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                  payload, sizeof(payload), &out, &why),
                     0);
    assert_int_equal(out.len, 1 + sizeof(payload) + 256 + 4);
    assert_int_equal(out.data[0], 'x');
    buf_release(&out);
}

/* Every format, key and hash: signed by otad, verified by signing_verify, explicit and auto. */
static void test_verify_round_trip(void **state)
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
    for (int k = 0; k < K_COUNT; k++) {
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            if (!is_rsa(k) && cases[c].format != SIGNING_FORMAT_ESP32)
                continue;
            size_t len = 777 + c;
            uint8_t *payload = test_payload(len, (uint32_t)(k + c));
            struct buf out = sign_ok(f->priv[k], cases[c].format, cases[c].hash, payload, len);
            struct signing_verdict v;
            struct reason why = {""};

            /* Public and private keys; explicit format and hash; auto for both. */
            const struct signing_key *keys[] = {f->pub[k], f->priv[k]};
            for (size_t ki = 0; ki < 2; ki++) {
                assert_int_equal(signing_verify(keys[ki], cases[c].format, cases[c].hash, out.data,
                                                out.len, &v, &why),
                                 0);
                assert_int_equal(signing_verify(keys[ki], SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO,
                                                out.data, out.len, &v, &why),
                                 0);
                assert_int_equal(v.format, cases[c].format);
                assert_int_equal(v.hash, cases[c].hash);
                assert_int_equal(v.payload_len, len);
                assert_int_equal(v.sig_len,
                                 is_rsa(k) ? sig_len_of(f->pub[k]) : 2u + out.data[len + 1]);
            }
            if (cases[c].hash == SIGNING_HASH_SHA256) {
                char hex[65];
                digest_sha256_hex(payload, len, hex);
                assert_string_equal(v.digest, hex);
            } else {
                assert_int_equal(strlen(v.digest), 2 * (size_t)md_size(cases[c].hash));
            }
            buf_release(&out);
            free(payload);
        }
    }
}

/* Copies IMAGE, flips one byte at OFFSET, and expects every verification to refuse it. */
static void assert_refused(const struct signing_key *key, enum signing_format format,
                           const uint8_t *image, size_t len, const char *what)
{
    struct signing_verdict v;
    struct reason why = {""};
    int explicit_r = signing_verify(key, format, SIGNING_HASH_AUTO, image, len, &v, &why);
    int auto_r = signing_verify(key, SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO, image, len, &v, &why);
    if (explicit_r != -EBADMSG || auto_r != -EBADMSG)
        fail_msg("%s (%s): accepted or wrong error (%d, %d)", what, signing_format_name(format),
                 explicit_r, auto_r);
    assert_true(why.text[0] != 0);
}

static void assert_flip_refused(const struct signing_key *key, enum signing_format format,
                                const struct buf *image, size_t offset, const char *what)
{
    uint8_t *copy = malloc(image->len);
    memcpy(copy, image->data, image->len);
    copy[offset] ^= 0x01;
    assert_refused(key, format, copy, image->len, what);
    copy[offset] ^= 0x81;
    assert_refused(key, format, copy, image->len, what);
    free(copy);
}

static void test_verify_refuses_damage(void **state)
{
    struct fixture *f = *state;
    static const struct {
        int key;
        enum signing_format format;
    } cases[] = {
        {K_RSA2048, SIGNING_FORMAT_ESP8266},
        {K_RSA4096, SIGNING_FORMAT_ESP8266},
        {K_RSA2048, SIGNING_FORMAT_ESP8266_LEGACY},
        {K_RSA3072, SIGNING_FORMAT_ESP32},
        {K_RSA4096, SIGNING_FORMAT_ESP32},
        {K_P256, SIGNING_FORMAT_ESP32},
        {K_P384, SIGNING_FORMAT_ESP32},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int k = cases[c].key;
        enum signing_format format = cases[c].format;
        size_t len = 4000;
        uint8_t *payload = test_payload(len, (uint32_t)c);
        struct buf out = sign_ok(f->priv[k], format, SIGNING_HASH_AUTO, payload, len);
        const struct signing_key *pub = f->pub[k];
        size_t sig_len = format == SIGNING_FORMAT_ESP32 ? 2u + out.data[len + 1] : 0;
        if (is_rsa(k))
            sig_len = sig_len_of(pub);

        /* One flipped byte: start, middle, end of payload, signature, trailer or padding. */
        assert_flip_refused(pub, format, &out, 0, "first byte");
        assert_flip_refused(pub, format, &out, len / 2, "middle byte");
        assert_flip_refused(pub, format, &out, len - 1, "last payload byte");
        assert_flip_refused(pub, format, &out, len, "first signature byte");
        assert_flip_refused(pub, format, &out, len + sig_len / 2, "middle signature byte");
        assert_flip_refused(pub, format, &out, len + sig_len - 1, "last signature byte");
        assert_flip_refused(pub, format, &out, out.len - 1, "last byte");
        if (format != SIGNING_FORMAT_ESP32)
            assert_flip_refused(pub, format, &out, out.len - 4, "length word");

        /* Truncated anywhere, and one byte too many. */
        static const size_t cuts[] = {1, 2, 4, 100, 511, 512, 513};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
            assert_refused(pub, format, out.data, out.len - cuts[i], "truncated");
        assert_refused(pub, format, out.data, 0, "empty");
        assert_refused(pub, format, out.data, 3, "three bytes");
        assert_refused(pub, format, out.data, len, "payload only");
        uint8_t *longer = malloc(out.len + 1);
        memcpy(longer, out.data, out.len);
        longer[out.len] = 0;
        assert_refused(pub, format, longer, out.len + 1, "extra byte");
        free(longer);

        /* Another key, of the same type where there is one. */
        int other = k == K_RSA2048 ? K_OPENSSL_RSA2048 : k == K_P256 ? K_P384 : K_RSA2048;
        struct signing_verdict v;
        struct reason why = {""};
        assert_int_equal(signing_verify(f->pub[other], SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO,
                                        out.data, out.len, &v, &why),
                         -EBADMSG);
        assert_int_equal(
            signing_verify(f->pub[other], format, SIGNING_HASH_AUTO, out.data, out.len, &v, &why),
            -EBADMSG);
        buf_release(&out);
        free(payload);
    }
}

static void test_verify_refuses_wrong_length_word(void **state)
{
    struct fixture *f = *state;
    size_t len = 1024;
    uint8_t *payload = test_payload(len, 5);
    struct signing_verdict v;
    struct reason why = {""};

    /* RSA-4096 with the constant 00 01 00 00 that signing.py wrote before core 3.1.0. */
    struct buf out =
        sign_ok(f->priv[K_RSA4096], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO, payload, len);
    memcpy(out.data + out.len - 4, "\x00\x01\x00\x00", 4);
    assert_int_equal(signing_verify(f->pub[K_RSA4096], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                    out.data, out.len, &v, &why),
                     -EBADMSG);
    assert_non_null(strstr(why.text, "length word says 256"));
    assert_int_equal(signing_verify(f->pub[K_RSA4096], SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO,
                                    out.data, out.len, &v, &why),
                     -EBADMSG);
    buf_release(&out);

    /* RSA-2048 image whose word claims 512 or 0 or 2^32-1. */
    static const uint8_t words[][4] = {
        {0x00, 0x02, 0x00, 0x00}, {0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {0x00, 0x01, 0x00, 0x01}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        out = sign_ok(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO, payload, len);
        memcpy(out.data + out.len - 4, words[i], 4);
        assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP8266,
                                        SIGNING_HASH_AUTO, out.data, out.len, &v, &why),
                         -EBADMSG);
        assert_non_null(strstr(why.text, "length word"));
        assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO,
                                        out.data, out.len, &v, &why),
                         -EBADMSG);
        buf_release(&out);
    }
    free(payload);
}

/* The two ESP8266 generations refuse each other's files (reference 7.3). */
static void test_verify_legacy_and_new_are_incompatible(void **state)
{
    struct fixture *f = *state;
    size_t len = 2048;
    uint8_t *payload = test_payload(len, 9);
    struct signing_verdict v;
    struct reason why = {""};

    struct buf legacy =
        sign_ok(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266_LEGACY, SIGNING_HASH_AUTO, payload, len);
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                    legacy.data, legacy.len, &v, &why),
                     -EBADMSG);
    assert_non_null(strstr(why.text, "esp8266-legacy form"));
    /* Auto-detection still names it. */
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_AUTO, SIGNING_HASH_AUTO,
                                    legacy.data, legacy.len, &v, &why),
                     0);
    assert_int_equal(v.format, SIGNING_FORMAT_ESP8266_LEGACY);

    struct buf modern =
        sign_ok(f->priv[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO, payload, len);
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP8266_LEGACY,
                                    SIGNING_HASH_AUTO, modern.data, modern.len, &v, &why),
                     -EBADMSG);
    assert_non_null(strstr(why.text, "esp8266 form"));

    /* An ESP32 image is no ESP8266 image and the reverse. */
    struct buf esp32 =
        sign_ok(f->priv[K_RSA2048], SIGNING_FORMAT_ESP32, SIGNING_HASH_AUTO, payload, len);
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                    esp32.data, esp32.len, &v, &why),
                     -EBADMSG);
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP32, SIGNING_HASH_AUTO,
                                    modern.data, modern.len, &v, &why),
                     -EBADMSG);

    /* ESP32 with the wrong hash. */
    struct buf sha384 =
        sign_ok(f->priv[K_P256], SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA384, payload, len);
    assert_int_equal(signing_verify(f->pub[K_P256], SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256,
                                    sha384.data, sha384.len, &v, &why),
                     -EBADMSG);
    assert_int_equal(signing_verify(f->pub[K_P256], SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA384,
                                    sha384.data, sha384.len, &v, &why),
                     0);

    /* ECDSA keys are refused for the ESP8266 formats. */
    assert_int_equal(signing_verify(f->pub[K_P256], SIGNING_FORMAT_ESP8266, SIGNING_HASH_AUTO,
                                    sha384.data, sha384.len, &v, &why),
                     -EINVAL);
    assert_non_null(strstr(why.text, "need an rsa key"));

    buf_release(&sha384);
    buf_release(&esp32);
    buf_release(&modern);
    buf_release(&legacy);
    free(payload);
}

/* A salt shorter than the maximum verifies in OpenSSL's lenient mode, never here. */
static void test_verify_demands_max_salt(void **state)
{
    struct fixture *f = *state;
    size_t len = 600;
    uint8_t *payload = test_payload(len, 11);
    const char *payload_path = test_path("%s/salt.bin", f->dir);
    const char *sig_path = test_path("%s/salt.sig", f->dir);
    test_write_file(payload_path, payload, len);
    assert_int_equal(test_run("openssl dgst -sha256 -sign '%s' -sigopt rsa_padding_mode:pss "
                              "-sigopt rsa_pss_saltlen:32 -out '%s' '%s'",
                              private_path(f, K_RSA2048), sig_path, payload_path),
                     0);
    size_t sig_len;
    uint8_t *sig = test_read_file(sig_path, &sig_len);
    uint8_t *image = calloc(1, len + 512);
    memcpy(image, payload, len);
    memcpy(image + len, sig, sig_len);
    struct signing_verdict v;
    struct reason why = {""};
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256,
                                    image, len + 512, &v, &why),
                     -EBADMSG);

    /* The same with the maximum salt, made by openssl, verifies. */
    assert_int_equal(test_run("openssl dgst -sha256 -sign '%s' -sigopt rsa_padding_mode:pss "
                              "-sigopt rsa_pss_saltlen:max -out '%s' '%s'",
                              private_path(f, K_RSA2048), sig_path, payload_path),
                     0);
    free(sig);
    sig = test_read_file(sig_path, &sig_len);
    memcpy(image + len, sig, sig_len);
    assert_int_equal(signing_verify(f->pub[K_RSA2048], SIGNING_FORMAT_ESP32, SIGNING_HASH_SHA256,
                                    image, len + 512, &v, &why),
                     0);
    free(image);
    free(sig);
    free(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_hash_names),
        cmocka_unit_test(test_esp8266_byte_identical_to_openssl_dgst),
        cmocka_unit_test(test_esp8266_legacy_byte_identical_to_openssl_raw),
        cmocka_unit_test(test_esp32_checked_by_openssl),
        cmocka_unit_test(test_sign_refusals),
        cmocka_unit_test(test_verify_round_trip),
        cmocka_unit_test(test_verify_refuses_damage),
        cmocka_unit_test(test_verify_refuses_wrong_length_word),
        cmocka_unit_test(test_verify_legacy_and_new_are_incompatible),
        cmocka_unit_test(test_verify_demands_max_salt),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
