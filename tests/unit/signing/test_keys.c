/*
 * Unit tests for src/signing/keys.c: generation and the key files (modes,
 * never overwriting), the 0600 rule for private keys, loading keys made by
 * the openssl command line, fingerprints checked against openssl, and the
 * PEM and C-header exports (the header is compiled and run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/reason.h"
#include "otac/verify.h"
#include "signing/signing.h"
#include "support.h"

struct fixture {
    char *dir;  /* temporary folder, removed at teardown */
    char *keys; /* dir/keys */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    f->keys = strdup(test_path("%s/keys", f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->keys);
    test_tmpdir_free(f->dir);
    free(f);
    return 0;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* The SHA-256 of the DER SubjectPublicKeyInfo, as the openssl command line computes it. */
static void openssl_fingerprint(const char *dir, const char *pub_path, char out[65])
{
    const char *fp_path = test_path("%s/fp.txt", dir);
    assert_int_equal(test_run("openssl pkey -pubin -in '%s' -outform DER 2>/dev/null | "
                              "openssl dgst -sha256 -r > '%s'",
                              pub_path, fp_path),
                     0);
    size_t len;
    uint8_t *text = test_read_file(fp_path, &len);
    assert_true(len >= 64);
    memcpy(out, text, 64);
    out[64] = 0;
    free(text);
}

static void test_names(void **state)
{
    static const char *const types[] = {"rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256",
                                        "ecdsa-p384"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        enum signing_key_type t;
        assert_int_equal(signing_key_type_parse(types[i], &t), 0);
        assert_string_equal(signing_key_type_name(t), types[i]);
    }
    enum signing_key_type t = SIGNING_KEY_RSA_3072;
    assert_int_equal(signing_key_type_parse("rsa-1024", &t), -EINVAL);
    assert_int_equal(signing_key_type_parse("RSA-2048", &t), -EINVAL);
    assert_int_equal(signing_key_type_parse(NULL, &t), -EINVAL);
    assert_int_equal(t, SIGNING_KEY_RSA_3072);
    assert_null(signing_key_type_name((enum signing_key_type)99));

    static const struct {
        const char *name;
        bool ok;
    } names[] = {
        {"rsa-2048", true}, {"prod.2026_a", true}, {"A", true},     {"", false},
        {".hidden", false}, {"-x", false},         {"a/b", false},  {"../x", false},
        {"a b", false},     {"é", false},          {"a\nb", false},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(signing_key_name_valid(names[i].name), names[i].ok);
    assert_false(signing_key_name_valid(NULL));
    char long_name[SIGNING_KEY_NAME_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    assert_false(signing_key_name_valid(long_name));
    long_name[SIGNING_KEY_NAME_MAX] = 0;
    assert_true(signing_key_name_valid(long_name));

    char path[64];
    assert_int_equal(signing_key_path(path, sizeof(path), "/k", "a", true), 0);
    assert_string_equal(path, "/k/a.key");
    assert_int_equal(signing_key_path(path, sizeof(path), "/k", "a", false), 0);
    assert_string_equal(path, "/k/a.pub");
    assert_int_equal(signing_key_path(path, sizeof(path), "/k", "../a", false), -EINVAL);
    assert_int_equal(signing_key_path(path, 8, "/k", "abcd", false), -ENAMETOOLONG);
}

static void test_generate_every_type(void **state)
{
    struct fixture *f = *state;
    static const struct {
        enum signing_key_type type;
        const char *name;
        unsigned bits;
        bool rsa;
        size_t sig_len; /* RSA: exact; ECDSA: the DER maximum OpenSSL reports */
    } cases[] = {
        {SIGNING_KEY_RSA_2048, "rsa-2048", 2048, true, 256},
        {SIGNING_KEY_RSA_3072, "rsa-3072", 3072, true, 384},
        {SIGNING_KEY_RSA_4096, "rsa-4096", 4096, true, 512},
        {SIGNING_KEY_ECDSA_P256, "ecdsa-p256", 256, false, 72},
        {SIGNING_KEY_ECDSA_P384, "ecdsa-p384", 384, false, 104},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct signing_key *key = NULL;
        struct reason why = {""};
        assert_int_equal(signing_key_generate(f->keys, cases[i].name, cases[i].type, &key, &why),
                         0);
        const char *private_path = test_path("%s/%s.key", f->keys, cases[i].name);
        const char *public_path = test_path("%s/%s.pub", f->keys, cases[i].name);
        assert_int_equal(file_mode(private_path), 0600);
        assert_int_equal(file_mode(public_path), 0644);
        assert_int_equal(file_mode(f->keys), 0700);

        struct signing_key_info info;
        signing_key_info(key, &info);
        assert_string_equal(info.type, cases[i].name);
        assert_int_equal(info.bits, cases[i].bits);
        assert_int_equal(info.rsa, cases[i].rsa);
        assert_true(info.private_key);
        assert_int_equal(info.sig_len, cases[i].sig_len);

        /* The fingerprint is what openssl computes over the public file. */
        char expected[65];
        openssl_fingerprint(f->dir, public_path, expected);
        assert_string_equal(info.fingerprint, expected);

        /* Both files load back to the same key. */
        struct signing_key *priv = NULL, *pub = NULL;
        assert_int_equal(signing_key_load_private(private_path, &priv, &why), 0);
        assert_int_equal(signing_key_load_public(public_path, &pub, &why), 0);
        struct signing_key_info pinfo, uinfo;
        signing_key_info(priv, &pinfo);
        signing_key_info(pub, &uinfo);
        assert_string_equal(pinfo.fingerprint, expected);
        assert_string_equal(uinfo.fingerprint, expected);
        assert_true(pinfo.private_key);
        assert_false(uinfo.private_key);
        assert_string_equal(uinfo.type, cases[i].name);

        /* The private file is what openssl reads as a private key of that type. */
        assert_int_equal(test_run("openssl pkey -in '%s' -noout 2>/dev/null", private_path), 0);

        signing_key_free(pub);
        signing_key_free(priv);
        signing_key_free(key);
    }
}

static void test_generate_never_overwrites(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    assert_int_equal(signing_key_generate(f->keys, "k", SIGNING_KEY_ECDSA_P256, NULL, &why), 0);
    size_t before_len, after_len;
    uint8_t *before = test_read_file(test_path("%s/k.key", f->keys), &before_len);

    assert_int_equal(signing_key_generate(f->keys, "k", SIGNING_KEY_ECDSA_P256, NULL, &why),
                     -EEXIST);
    assert_non_null(strstr(why.text, "already exists"));
    uint8_t *after = test_read_file(test_path("%s/k.key", f->keys), &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);

    /* A lone public file also blocks the name, and no private file appears. */
    test_write_file(test_path("%s/lone.pub", f->keys), "x", 1);
    assert_int_equal(signing_key_generate(f->keys, "lone", SIGNING_KEY_ECDSA_P256, NULL, &why),
                     -EEXIST);
    assert_int_equal(access(test_path("%s/lone.key", f->keys), F_OK), -1);

    /* Bad names and types write nothing. */
    assert_int_equal(signing_key_generate(f->keys, "../evil", SIGNING_KEY_ECDSA_P256, NULL, &why),
                     -EINVAL);
    assert_int_equal(access(test_path("%s/evil.key", f->dir), F_OK), -1);
    assert_int_equal(signing_key_generate(f->keys, "t", (enum signing_key_type)42, NULL, &why),
                     -EINVAL);
    assert_int_equal(access(test_path("%s/t.key", f->keys), F_OK), -1);
}

static void test_private_key_mode_enforced(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    struct signing_key *key = NULL;
    assert_int_equal(signing_key_generate(f->keys, "m", SIGNING_KEY_ECDSA_P256, NULL, &why), 0);
    const char *path = test_path("%s/m.key", f->keys);

    static const struct {
        mode_t mode;
        int r;
    } cases[] = {
        {0644, -EPERM}, {0640, -EPERM}, {0604, -EPERM}, {0660, -EPERM}, {0610, -EPERM},
        {0601, -EPERM}, {0700, 0},      {0400, 0},      {0600, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(chmod(path, cases[i].mode), 0);
        key = NULL;
        why.text[0] = 0;
        assert_int_equal(signing_key_load_private(path, &key, &why), cases[i].r);
        if (cases[i].r == 0) {
            assert_non_null(key);
            signing_key_free(key);
        } else {
            assert_null(key); /* untouched on failure */
            assert_non_null(strstr(why.text, "chmod 600"));
            assert_non_null(strstr(why.text, path));
        }
    }

    /* Owned by someone else: refused even with mode 0600 (needs root to set up). */
    if (geteuid() == 0) {
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(chown(path, 1, 1), 0);
        assert_int_equal(signing_key_load_private(path, &key, &why), -EPERM);
        assert_non_null(strstr(why.text, "belongs to uid 1"));
        assert_int_equal(chown(path, 0, 0), 0);
    }

    /* A directory, a missing file. */
    assert_int_equal(signing_key_load_private(f->keys, &key, &why), -EINVAL);
    assert_int_equal(signing_key_load_private(test_path("%s/none.key", f->keys), &key, &why),
                     -ENOENT);
}

/* Writes a key made by the openssl command line to DIR/NAME with mode 0600. */
static const char *openssl_key(const char *dir, const char *name, const char *command)
{
    const char *path = test_path("%s/%s", dir, name);
    assert_int_equal(test_run("{ %s -out '%s'; } 2>/dev/null", command, path), 0);
    assert_int_equal(chmod(path, 0600), 0);
    return path;
}

static void test_load_openssl_made_keys(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    struct signing_key *key = NULL;
    struct signing_key_info info;

    /* Traditional "RSA PRIVATE KEY" PEM. */
    const char *path = openssl_key(f->dir, "trad.key",
                                   "openssl genpkey -algorithm RSA -pkeyopt "
                                   "rsa_keygen_bits:2048 -outform PEM | openssl rsa "
                                   "-traditional");
    assert_int_equal(signing_key_load_private(path, &key, &why), 0);
    signing_key_info(key, &info);
    assert_string_equal(info.type, "rsa-2048");
    signing_key_free(key);

    /* `openssl ecparam -genkey` writes an EC PARAMETERS block first. */
    path = openssl_key(f->dir, "ec.key", "openssl ecparam -name prime256v1 -genkey");
    assert_int_equal(signing_key_load_private(path, &key, &why), 0);
    signing_key_info(key, &info);
    assert_string_equal(info.type, "ecdsa-p256");
    signing_key_free(key);

    /* An odd RSA size inside the range is taken. */
    path = openssl_key(f->dir, "r2560.key",
                       "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2560");
    assert_int_equal(signing_key_load_private(path, &key, &why), 0);
    signing_key_info(key, &info);
    assert_string_equal(info.type, "rsa-2560");
    assert_int_equal(info.sig_len, 320);
    signing_key_free(key);
}

static void test_load_refusals(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    struct signing_key *key = NULL;

    static const struct {
        const char *name;
        const char *command;
        int r;
        const char *says;
    } cases[] = {
        {"rsa1024.key", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024", -ENOTSUP,
         "rsa-1024"},
        {"ed25519.key", "openssl genpkey -algorithm ED25519", -ENOTSUP, "ED25519"},
        {"k1.key", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1", -ENOTSUP,
         "secp256k1"},
        {"enc.key",
         "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:pw",
         -EINVAL, "encrypted"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = openssl_key(f->dir, cases[i].name, cases[i].command);
        why.text[0] = 0;
        assert_int_equal(signing_key_load_private(path, &key, &why), cases[i].r);
        assert_non_null(strstr(why.text, cases[i].says));
        /* A reason never carries PEM text. */
        assert_null(strstr(why.text, "-----"));
    }

    /* Garbage, and a public key where a private one belongs. */
    const char *junk = test_path("%s/junk.key", f->dir);
    test_write_file(junk, "not a key\n", 10);
    chmod(junk, 0600);
    assert_int_equal(signing_key_load_private(junk, &key, &why), -EINVAL);
    assert_int_equal(signing_key_load_public(junk, &key, &why), -EINVAL);
    assert_int_equal(signing_key_generate(f->keys, "p", SIGNING_KEY_ECDSA_P384, NULL, &why), 0);
    const char *pub = test_path("%s/p.pub", f->keys);
    chmod(pub, 0600);
    assert_int_equal(signing_key_load_private(pub, &key, &why), -EINVAL);
    chmod(pub, 0644);

    /* A private key is not a public PEM. */
    size_t len;
    uint8_t *pem = test_read_file(test_path("%s/p.key", f->keys), &len);
    assert_int_equal(signing_key_from_pem(pem, len, &key, &why), -EINVAL);
    free(pem);

    /* Oversized files. */
    const char *big = test_path("%s/big.key", f->dir);
    uint8_t *zeros = calloc(1, SIGNING_KEY_FILE_MAX + 1);
    test_write_file(big, zeros, SIGNING_KEY_FILE_MAX + 1);
    free(zeros);
    chmod(big, 0600);
    assert_int_equal(signing_key_load_private(big, &key, &why), -EFBIG);
    assert_int_equal(signing_key_load_public(big, &key, &why), -EFBIG);
}

static void test_public_from_bytes(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    struct signing_key *gen = NULL, *key = NULL;
    assert_int_equal(signing_key_generate(f->keys, "b", SIGNING_KEY_RSA_2048, &gen, &why), 0);
    size_t len;
    uint8_t *pem = test_read_file(test_path("%s/b.pub", f->keys), &len);
    assert_int_equal(signing_key_from_pem(pem, len, &key, &why), 0);
    struct signing_key_info a, b;
    signing_key_info(gen, &a);
    signing_key_info(key, &b);
    assert_string_equal(a.fingerprint, b.fingerprint);
    assert_false(b.private_key);
    signing_key_free(key);
    key = NULL;
    /* Cut short: refused. */
    assert_int_equal(signing_key_from_pem(pem, len / 2, &key, &why), -EINVAL);
    assert_null(key);
    free(pem);
    signing_key_free(gen);
}

static void test_export_pem(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    struct signing_key *key = NULL;
    assert_int_equal(signing_key_generate(f->keys, "e", SIGNING_KEY_ECDSA_P256, &key, &why), 0);
    struct buf out;
    buf_init(&out, 4096);
    assert_int_equal(signing_key_export_pem(key, &out, &why), 0);
    size_t len;
    uint8_t *file = test_read_file(test_path("%s/e.pub", f->keys), &len);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, file, len);
    assert_non_null(strstr((char *)out.data, "-----BEGIN PUBLIC KEY-----\n"));
    free(file);

    /* A ceiling too small for it. */
    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(signing_key_export_pem(key, &small, &why), -E2BIG);
    buf_release(&small);
    buf_release(&out);
    signing_key_free(key);
}

/* Whether a firmware image carries a key: its PEM text, SubjectPublicKeyInfo or RSA PKCS#1. */
static void test_key_embedded_in_image(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    struct signing_key *key = NULL, *other = NULL;
    assert_int_equal(signing_key_generate(f->keys, "fw", SIGNING_KEY_RSA_2048, &key, &why), 0);
    assert_int_equal(signing_key_generate(f->keys, "o", SIGNING_KEY_RSA_2048, &other, &why), 0);
    size_t pem_len;
    uint8_t *pem = test_read_file(test_path("%s/fw.pub", f->keys), &pem_len);
    /* What openssl (and Python's cryptography, PublicFormat.PKCS1) writes as RSA PUBLIC KEY. */
    assert_int_equal(test_run("openssl rsa -pubin -in %s/fw.pub -RSAPublicKey_out -out %s/fw.rsa "
                              "2>/dev/null",
                              f->keys, f->keys),
                     0);
    size_t rsa_len;
    uint8_t *rsa = test_read_file(test_path("%s/fw.rsa", f->keys), &rsa_len);
    assert_non_null(strstr((char *)rsa, "BEGIN RSA PUBLIC KEY"));

    static uint8_t image[65536];
    for (size_t i = 0; i < sizeof(image); i++)
        image[i] = (uint8_t)(i * 131 + 7);
    assert_false(signing_key_embedded_in(key, image, sizeof(image)));
    memcpy(image + 30000, pem, pem_len); /* as the core's signing build embeds public.key */
    assert_true(signing_key_embedded_in(key, image, sizeof(image)));
    assert_false(signing_key_embedded_in(other, image, sizeof(image)));
    for (size_t i = 0; i < sizeof(image); i++)
        image[i] = (uint8_t)(i * 131 + 7);
    memcpy(image + 12345, rsa, rsa_len);
    assert_true(signing_key_embedded_in(key, image, sizeof(image)));
    assert_false(signing_key_embedded_in(key, image, 12345 + 40)); /* cut before the line */
    free(pem);
    free(rsa);
    signing_key_free(key);
    signing_key_free(other);
}

/*
 * The C header compiles, and a program built from it prints exactly the PEM
 * (the array holds the PEM and a NUL; _len counts the NUL). The bytes also
 * parse with the device library's key decoder.
 */
static void test_export_c_header(void **state)
{
    struct fixture *f = *state;
    static const enum signing_key_type types[] = {SIGNING_KEY_RSA_2048, SIGNING_KEY_ECDSA_P384};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct reason why = {""};
        struct signing_key *key = NULL;
        const char *name = i == 0 ? "c-rsa" : "c-ec";
        assert_int_equal(signing_key_generate(f->keys, name, types[i], &key, &why), 0);

        struct buf out;
        buf_init(&out, 64 * 1024);
        assert_int_equal(signing_key_export_c(key, name, "pubkey_test", &out, &why), 0);
        const char *text = (const char *)out.data;
        assert_non_null(strstr(text, "const uint8_t pubkey_test[] = {"));
        assert_non_null(strstr(text, "const size_t pubkey_test_len = sizeof(pubkey_test);"));
        struct signing_key_info info;
        signing_key_info(key, &info);
        assert_non_null(strstr(text, info.fingerprint));
        assert_non_null(strstr(text, i == 0 ? "UpdaterRSAVerifier" : "UpdaterECDSAVerifier"));
        assert_int_equal(strstr(text, "BearSSL::PublicKey") != NULL, i == 0);

        const char *header = test_path("%s/key.h", f->dir);
        test_write_file(header, out.data, out.len);
        static const char program[] =
            "#include <stdio.h>\n"
            "#include \"key.h\"\n"
            "int main(void)\n"
            "{\n"
            "    if (pubkey_test_len < 1 || pubkey_test[pubkey_test_len - 1] != 0)\n"
            "        return 3;\n"
            "    fwrite(pubkey_test, 1, pubkey_test_len - 1, stdout);\n"
            "    return 0;\n"
            "}\n";
        test_write_file(test_path("%s/main.c", f->dir), program, sizeof(program) - 1);
        assert_int_equal(test_run("cd '%s' && cc -std=c11 -Wall -Werror -o keyprog main.c && "
                                  "./keyprog > printed.pem",
                                  f->dir),
                         0);
        size_t printed_len, pub_len;
        uint8_t *printed = test_read_file(test_path("%s/printed.pem", f->dir), &printed_len);
        uint8_t *pub = test_read_file(test_path("%s/%s.pub", f->keys, name), &pub_len);
        assert_int_equal(printed_len, pub_len);
        assert_memory_equal(printed, pub, pub_len);

        struct otac_pubkey device_key;
        assert_int_equal(otac_pubkey_parse(&device_key, printed, printed_len + 1), OTAC_OK);
        assert_int_equal(device_key.type, i == 0 ? OTAC_KEY_RSA : OTAC_KEY_EC);

        free(printed);
        free(pub);
        /* Not an identifier: refused. */
        assert_int_equal(signing_key_export_c(key, name, "9lives", &out, &why), -EINVAL);
        assert_int_equal(signing_key_export_c(key, name, "a-b", &out, &why), -EINVAL);
        buf_release(&out);
        signing_key_free(key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_generate_every_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_key_mode_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_openssl_made_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_from_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_embedded_in_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_c_header, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
