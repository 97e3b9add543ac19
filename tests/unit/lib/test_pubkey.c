/*
 * Unit tests for lib/pubkey.c: public keys written by the openssl command
 * line (PEM and DER, SubjectPublicKeyInfo and PKCS#1) decode to the numbers
 * openssl prints; keys the library does not take are refused as unsupported;
 * and malformed input of every kind (each truncation, each flipped byte,
 * bad lengths, oversize PEM) ends in an error, never a crash or an overread
 * (run under ASan in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "otac/verify.h"
#include "../signing/support.h"

struct fixture {
    char *dir;
};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    /* One private key per kind, and its public forms. */
    static const struct {
        const char *name;
        const char *genpkey;
    } keys[] = {
        {"rsa2048", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"},
        {"rsa4096", "-algorithm RSA -pkeyopt rsa_keygen_bits:4096"},
        {"rsa1024", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024"},
        {"rsa3", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3"},
        {"p256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"},
        {"p384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384"},
        {"k1", "-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1"},
        {"ed25519", "-algorithm ED25519"},
        {"pss", "-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (test_run("cd '%s' && openssl genpkey %s -out %s.key 2>/dev/null && "
                     "openssl pkey -in %s.key -pubout -out %s.pem && "
                     "openssl pkey -in %s.key -pubout -outform DER -out %s.der",
                     f->dir, keys[i].genpkey, keys[i].name, keys[i].name, keys[i].name,
                     keys[i].name, keys[i].name) != 0)
            return -1;
    }
    /* PKCS#1 RSAPublicKey, and a compressed EC point. */
    if (test_run("cd '%s' && openssl rsa -in rsa2048.key -RSAPublicKey_out -out rsa2048.p1.pem "
                 "2>/dev/null && openssl rsa -in rsa2048.key -RSAPublicKey_out -outform DER "
                 "-out rsa2048.p1.der 2>/dev/null && openssl ec -in p256.key -pubout "
                 "-conv_form compressed -out p256c.pem 2>/dev/null",
                 f->dir) != 0)
        return -1;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

static int parse_file(const struct fixture *f, const char *name, struct otac_pubkey *key)
{
    size_t len;
    uint8_t *data = test_read_file(test_path("%s/%s", f->dir, name), &len);
    int r = otac_pubkey_parse(key, data, len);
    free(data);
    return r;
}

/* Decodes the hex that follows PREFIX in the openssl output file OUT. */
static size_t read_openssl_hex(const char *path, const char *prefix, uint8_t *out, size_t max)
{
    size_t len;
    uint8_t *text = test_read_file(path, &len);
    char *at = strstr((char *)text, prefix);
    assert_non_null(at);
    at += strlen(prefix);
    size_t n = 0;
    while (n < max && at[0] && at[1] && at[0] != '\n') {
        unsigned byte;
        assert_int_equal(sscanf(at, "%2x", &byte), 1);
        out[n++] = (uint8_t)byte;
        at += 2;
    }
    free(text);
    return n;
}

static void test_rsa_matches_openssl(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *name;
        size_t n_len;
    } keys[] = {{"rsa2048", 256}, {"rsa4096", 512}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *modulus_path = test_path("%s/%s.modulus", f->dir, keys[i].name);
        assert_int_equal(test_run("openssl rsa -pubin -in '%s/%s.pem' -noout -modulus > '%s'",
                                  f->dir, keys[i].name, modulus_path),
                         0);
        uint8_t modulus[512];
        assert_int_equal(read_openssl_hex(modulus_path, "Modulus=", modulus, sizeof(modulus)),
                         keys[i].n_len);

        struct otac_pubkey pem, der;
        assert_int_equal(parse_file(f, test_path("%s.pem", keys[i].name), &pem), OTAC_OK);
        assert_int_equal(parse_file(f, test_path("%s.der", keys[i].name), &der), OTAC_OK);
        assert_int_equal(pem.type, OTAC_KEY_RSA);
        assert_int_equal(pem.rsa.n_len, keys[i].n_len);
        assert_memory_equal(pem.rsa.n, modulus, keys[i].n_len);
        assert_int_equal(pem.rsa.e_len, 3);
        assert_memory_equal(pem.rsa.e, "\x01\x00\x01", 3);
        assert_int_equal(der.rsa.n_len, pem.rsa.n_len);
        assert_memory_equal(der.rsa.n, pem.rsa.n, pem.rsa.n_len);
    }

    /* PKCS#1 "RSA PUBLIC KEY", PEM and DER, is the same key. */
    struct otac_pubkey spki, p1pem, p1der;
    assert_int_equal(parse_file(f, "rsa2048.pem", &spki), OTAC_OK);
    assert_int_equal(parse_file(f, "rsa2048.p1.pem", &p1pem), OTAC_OK);
    assert_int_equal(parse_file(f, "rsa2048.p1.der", &p1der), OTAC_OK);
    assert_memory_equal(p1pem.rsa.n, spki.rsa.n, spki.rsa.n_len);
    assert_memory_equal(p1der.rsa.n, spki.rsa.n, spki.rsa.n_len);

    /* Exponent 3. */
    struct otac_pubkey e3;
    assert_int_equal(parse_file(f, "rsa3.pem", &e3), OTAC_OK);
    assert_int_equal(e3.rsa.e_len, 1);
    assert_int_equal(e3.rsa.e[0], 3);
}

static void test_ec_matches_openssl(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *name;
        enum otac_curve curve;
        size_t q_len;
    } keys[] = {{"p256", OTAC_CURVE_P256, 65}, {"p384", OTAC_CURVE_P384, 97}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct otac_pubkey key;
        assert_int_equal(parse_file(f, test_path("%s.pem", keys[i].name), &key), OTAC_OK);
        assert_int_equal(key.type, OTAC_KEY_EC);
        assert_int_equal(key.ec.curve, keys[i].curve);
        assert_int_equal(key.ec.q_len, keys[i].q_len);
        /* The point is the tail of the DER SubjectPublicKeyInfo. */
        size_t der_len;
        uint8_t *der = test_read_file(test_path("%s/%s.der", f->dir, keys[i].name), &der_len);
        assert_memory_equal(key.ec.q, der + der_len - keys[i].q_len, keys[i].q_len);
        assert_int_equal(key.ec.q[0], 0x04);
        struct otac_pubkey from_der;
        assert_int_equal(otac_pubkey_parse(&from_der, der, der_len), OTAC_OK);
        assert_memory_equal(from_der.ec.q, key.ec.q, key.ec.q_len);
        free(der);
    }
}

static void test_unsupported_keys(void **state)
{
    struct fixture *f = *state;
    static const char *const files[] = {
        "rsa1024.pem", "rsa1024.der", "k1.pem",    "ed25519.pem",
        "ed25519.der", "pss.pem",     "p256c.pem",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct otac_pubkey key, untouched;
        memset(&key, 0xaa, sizeof(key));
        memset(&untouched, 0xaa, sizeof(untouched));
        int r = parse_file(f, files[i], &key);
        if (r != OTAC_E_KEY_UNSUPPORTED)
            fail_msg("%s: %s", files[i], otac_strerror(r));
        assert_memory_equal(&key, &untouched, sizeof(key));
    }
}

/*
 * DER is taken whole, even when its last byte is 0x00 (a key's last byte is
 * random): only PEM text has trailing NULs stripped. An Ed25519 key whose
 * last byte is 0 is unsupported, not malformed.
 */
static void test_der_ending_in_zero(void **state)
{
    (void)state;
    uint8_t der[44] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    for (size_t i = 12; i < sizeof(der) - 1; i++)
        der[i] = (uint8_t)(i * 7 + 1);
    der[sizeof(der) - 1] = 0x00;
    struct otac_pubkey key;
    assert_int_equal(otac_pubkey_parse(&key, der, sizeof(der)), OTAC_E_KEY_UNSUPPORTED);
    der[sizeof(der) - 1] = 0x01;
    assert_int_equal(otac_pubkey_parse(&key, der, sizeof(der)), OTAC_E_KEY_UNSUPPORTED);
}

/* Text around the PEM, CRLF line ends, a missing final newline, trailing NULs. */
static void test_pem_variants(void **state)
{
    struct fixture *f = *state;
    size_t len;
    uint8_t *pem = test_read_file(test_path("%s/p256.pem", f->dir), &len);
    struct otac_pubkey ref, key;
    assert_int_equal(otac_pubkey_parse(&ref, pem, len), OTAC_OK);

    char text[4096];
    /* Another object first, and prose around. */
    size_t key_len;
    uint8_t *priv = test_read_file(test_path("%s/rsa2048.key", f->dir), &key_len);
    int n = snprintf(text, sizeof(text), "my key:\n%s\n%s\ntrailing words\n", (char *)priv,
                     (char *)pem);
    assert_int_equal(otac_pubkey_parse(&key, text, (size_t)n), OTAC_OK);
    assert_memory_equal(key.ec.q, ref.ec.q, ref.ec.q_len);
    free(priv);

    /* CRLF. */
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (pem[i] == '\n')
            text[out++] = '\r';
        text[out++] = (char)pem[i];
    }
    assert_int_equal(otac_pubkey_parse(&key, text, out), OTAC_OK);

    /* No final newline; then a NUL, as the exported C arrays carry. */
    assert_int_equal(otac_pubkey_parse(&key, pem, len - 1), OTAC_OK);
    memcpy(text, pem, len);
    text[len] = 0;
    text[len + 1] = 0;
    assert_int_equal(otac_pubkey_parse(&key, text, len + 2), OTAC_OK);
    assert_memory_equal(key.ec.q, ref.ec.q, ref.ec.q_len);

    /* A private key alone is no public key. */
    priv = test_read_file(test_path("%s/p256.key", f->dir), &key_len);
    assert_int_equal(otac_pubkey_parse(&key, priv, key_len), OTAC_E_KEY_PARSE);
    free(priv);

    /* Bad Base64 inside the object, a cut-off object. */
    memcpy(text, pem, len);
    text[40] = '*';
    assert_int_equal(otac_pubkey_parse(&key, text, len), OTAC_E_KEY_PARSE);
    assert_int_equal(otac_pubkey_parse(&key, pem, len / 2), OTAC_E_KEY_PARSE);
    free(pem);

    /* An object that decodes to more than OTAC_PUBKEY_DER_MAX bytes. */
    size_t at = (size_t)snprintf(text, sizeof(text), "-----BEGIN PUBLIC KEY-----\n");
    for (size_t i = 0; i < 1500 / 3 * 4 / 64 + 1; i++)
        at += (size_t)snprintf(
            text + at, sizeof(text) - at, "%.64s\n",
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAMIIBIjANBgkqhkiG9w0BAQEFAAOC");
    at += (size_t)snprintf(text + at, sizeof(text) - at, "-----END PUBLIC KEY-----\n");
    assert_int_equal(otac_pubkey_parse(&key, text, at), OTAC_E_KEY_PARSE);

    /* Nothing, NULLs. */
    assert_int_equal(otac_pubkey_parse(&key, "", 0), OTAC_E_KEY_PARSE);
    assert_int_equal(otac_pubkey_parse(&key, "\0\0", 2), OTAC_E_KEY_PARSE);
    assert_int_equal(otac_pubkey_parse(&key, "hello", 5), OTAC_E_KEY_PARSE);
    assert_int_equal(otac_pubkey_parse(NULL, "x", 1), OTAC_E_INVAL);
    assert_int_equal(otac_pubkey_parse(&key, NULL, 1), OTAC_E_INVAL);
}

static bool is_refusal(int r)
{
    return r == OTAC_E_KEY_PARSE || r == OTAC_E_KEY_UNSUPPORTED;
}

/* Every proper prefix of a DER key is refused; so is anything appended. */
static void test_der_truncations(void **state)
{
    struct fixture *f = *state;
    static const char *const files[] = {"rsa2048.der", "rsa4096.der", "p256.der", "p384.der",
                                        "rsa2048.p1.der"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len;
        uint8_t *der = test_read_file(test_path("%s/%s", f->dir, files[i]), &len);
        struct otac_pubkey key;
        for (size_t cut = 0; cut < len; cut++) {
            /* An exact-size heap copy, so ASan sees any read past the end. */
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, der, cut);
            int r = otac_pubkey_parse(&key, copy, cut);
            if (!is_refusal(r))
                fail_msg("%s cut to %zu: %d", files[i], cut, r);
            free(copy);
        }
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, der, len);
        longer[len] = 0x05;
        assert_int_equal(otac_pubkey_parse(&key, longer, len + 1), OTAC_E_KEY_PARSE);
        free(longer);
        free(der);
    }
}

/* Every single-byte change of a DER key gives a result, never a crash or overread. */
static void test_der_mutations(void **state)
{
    struct fixture *f = *state;
    static const char *const files[] = {"rsa2048.der", "p256.der", "p384.der", "rsa2048.p1.der"};
    static const uint8_t values[] = {0x00, 0x01, 0x02, 0x30, 0x7f, 0x80, 0x81, 0x82, 0x83, 0xff};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len;
        uint8_t *der = test_read_file(test_path("%s/%s", f->dir, files[i]), &len);
        uint8_t *copy = malloc(len);
        for (size_t at = 0; at < len; at++) {
            for (size_t v = 0; v < sizeof(values); v++) {
                memcpy(copy, der, len);
                copy[at] = values[v];
                struct otac_pubkey key;
                int r = otac_pubkey_parse(&key, copy, len);
                assert_true(r == OTAC_OK || is_refusal(r));
            }
        }
        free(copy);
        free(der);
    }
}

/* Hand-made DER: the length rules of the walker. */
static void test_der_lengths(void **state)
{
    struct otac_pubkey key;
    static const struct {
        const char *what;
        uint8_t der[8];
        size_t len;
    } cases[] = {
        {"indefinite length", {0x30, 0x80, 0x00, 0x00}, 4},
        {"non-minimal long form", {0x30, 0x81, 0x02, 0x02, 0x00}, 5},
        {"three length bytes", {0x30, 0x83, 0x00, 0x00, 0x02}, 5},
        {"length past the end", {0x30, 0x05, 0x02, 0x01, 0x01}, 5},
        {"long form past the end", {0x30, 0x82, 0xff, 0xff}, 4},
        {"length byte missing", {0x30, 0x81}, 2},
        {"empty sequence", {0x30, 0x00}, 2},
        {"negative integers", {0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x83}, 8},
        {"zero-length integers", {0x30, 0x04, 0x02, 0x00, 0x02, 0x00}, 6},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *copy = malloc(cases[i].len);
        memcpy(copy, cases[i].der, cases[i].len);
        int r = otac_pubkey_parse(&key, copy, cases[i].len);
        if (r != OTAC_E_KEY_PARSE)
            fail_msg("%s: %d", cases[i].what, r);
        free(copy);
    }
}

static void test_init_raw(void **state)
{
    struct otac_pubkey key;
    uint8_t n[258];
    memset(n, 0xc5, sizeof(n));
    n[0] = 0;
    n[1] = 0; /* leading zeros are dropped */
    n[257] |= 1;
    const uint8_t e[] = {0x00, 0x01, 0x00, 0x01};
    assert_int_equal(otac_pubkey_init_rsa(&key, n, sizeof(n), e, sizeof(e)), OTAC_OK);
    assert_int_equal(key.rsa.n_len, 256);
    assert_int_equal(key.rsa.e_len, 3);

    /* 2047 bits, even modulus, even or long exponent, more than 4096 bits. */
    uint8_t small[256];
    memset(small, 0x55, sizeof(small));
    small[0] = 0x7f;
    assert_int_equal(otac_pubkey_init_rsa(&key, small, sizeof(small), e, sizeof(e)),
                     OTAC_E_KEY_UNSUPPORTED);
    n[257] &= 0xfe;
    assert_int_equal(otac_pubkey_init_rsa(&key, n, sizeof(n), e, sizeof(e)),
                     OTAC_E_KEY_UNSUPPORTED);
    n[257] |= 1;
    const uint8_t even[] = {0x02};
    assert_int_equal(otac_pubkey_init_rsa(&key, n, sizeof(n), even, 1), OTAC_E_KEY_UNSUPPORTED);
    uint8_t long_e[9];
    memset(long_e, 1, sizeof(long_e));
    assert_int_equal(otac_pubkey_init_rsa(&key, n, sizeof(n), long_e, sizeof(long_e)),
                     OTAC_E_KEY_UNSUPPORTED);
    uint8_t huge[513];
    memset(huge, 0xff, sizeof(huge));
    assert_int_equal(otac_pubkey_init_rsa(&key, huge, sizeof(huge), e, sizeof(e)),
                     OTAC_E_KEY_UNSUPPORTED);
    assert_int_equal(otac_pubkey_init_rsa(&key, NULL, 0, e, sizeof(e)), OTAC_E_INVAL);

    uint8_t q[97] = {0x04};
    assert_int_equal(otac_pubkey_init_ec(&key, OTAC_CURVE_P256, q, 65), OTAC_OK);
    assert_int_equal(otac_pubkey_init_ec(&key, OTAC_CURVE_P384, q, 97), OTAC_OK);
    assert_int_equal(otac_pubkey_init_ec(&key, OTAC_CURVE_P256, q, 97), OTAC_E_KEY_UNSUPPORTED);
    assert_int_equal(otac_pubkey_init_ec(&key, (enum otac_curve)25, q, 65), OTAC_E_KEY_UNSUPPORTED);
    q[0] = 0x02;
    assert_int_equal(otac_pubkey_init_ec(&key, OTAC_CURVE_P256, q, 33), OTAC_E_KEY_UNSUPPORTED);
    assert_int_equal(otac_pubkey_init_ec(&key, OTAC_CURVE_P256, NULL, 65), OTAC_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_matches_openssl),
        cmocka_unit_test(test_ec_matches_openssl),
        cmocka_unit_test(test_unsupported_keys),
        cmocka_unit_test(test_der_ending_in_zero),
        cmocka_unit_test(test_pem_variants),
        cmocka_unit_test(test_der_truncations),
        cmocka_unit_test(test_der_mutations),
        cmocka_unit_test(test_der_lengths),
        cmocka_unit_test(test_init_raw),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
