/*
 * Unit tests for src/http/tls.c: which files are loaded (the data folder's,
 * or comma-separated lists), the key file's mode, a key that is not the
 * certificate's, a reload that swaps the set while a session holds the old
 * one, and a failed reload that changes nothing. Certificates are made here
 * with GnuTLS, self-signed, in a temporary folder.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "../support/fixture.h"
#include "http/tls.h"

struct tls_env {
    char dir[64];
    struct config config;
};

static int env_setup(void **state)
{
    struct tls_env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0 || fixture_config(&e->config, e->dir) < 0)
        return -1;
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct tls_env *e = *state;
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static void write_file(const char *path, const gnutls_datum_t *d, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* A self-signed certificate for NAME (ECDSA P-256, or RSA) as DIR/STEM.pem and DIR/STEM.key. */
static void make_pair(const char *dir, const char *stem, const char *name, bool rsa)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         key, rsa ? GNUTLS_PK_RSA : GNUTLS_PK_ECDSA,
                         rsa ? 2048 : GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    gnutls_x509_crt_set_version(crt, 3);
    unsigned char serial[8] = {1, 2, 3, 4, 5, 6, 7, (unsigned char)rand()};
    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
    gnutls_x509_crt_set_activation_time(crt, time(NULL) - 60);
    gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 86400 * 30);
    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name, strlen(name));
    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, strlen(name),
                                         GNUTLS_FSAN_SET);
    gnutls_x509_crt_set_key(crt, key);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t pem;
    char path[256];
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, stem);
    write_file(path, &pem, 0644);
    gnutls_free(pem.data);
    assert_int_equal(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem), 0);
    snprintf(path, sizeof(path), "%s/%s.key", dir, stem);
    write_file(path, &pem, 0600);
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

static void tls_dir(const struct tls_env *e, char out[128])
{
    snprintf(out, 128, "%s/tls", e->dir);
    mkdir(out, 0700);
}

static void path_in(char out[256], const char *dir, const char *name)
{
    snprintf(out, 256, "%s/%s", dir, name);
}

/* The first certificate's common name in the startup PEM: which pair is loaded. */
static void assert_startup_cn(struct tls_server *tls, const char *cn)
{
    const char *cert, *key;
    tls_server_startup_pem(tls, &cert, &key);
    assert_non_null(cert);
    assert_non_null(strstr(key, "PRIVATE KEY"));
    gnutls_x509_crt_t crt;
    gnutls_datum_t d = {(unsigned char *)cert, (unsigned)strlen(cert)};
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    char got[64];
    size_t n = sizeof(got);
    assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, got, &n),
                     0);
    assert_string_equal(got, cn);
    gnutls_x509_crt_deinit(crt);
}

static void test_the_data_folders_pairs(void **state)
{
    struct tls_env *e = *state;
    struct tls_server *tls = NULL;
    assert_int_equal(tls_server_new(&e->config, &tls), -ENOENT); /* nothing made yet */
    char dir[128];
    tls_dir(e, dir);
    make_pair(dir, "server", "ecdsa.test", false);
    assert_int_equal(tls_server_new(&e->config, &tls), 0);
    assert_startup_cn(tls, "ecdsa.test");
    tls_server_free(tls);
    /* With an RSA pair beside it both load; a broken RSA pair fails the whole load. */
    make_pair(dir, "server-rsa", "rsa.test", true);
    assert_int_equal(tls_server_new(&e->config, &tls), 0);
    tls_server_free(tls);
    make_pair(dir, "other", "other.test", true);
    char from[256], to[256];
    path_in(from, dir, "other.key");
    path_in(to, dir, "server-rsa.key");
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(tls_server_new(&e->config, &tls), -EINVAL);
    /* An RSA certificate without its key is not a pair: the ECDSA one serves alone. */
    unlink(to);
    assert_int_equal(tls_server_new(&e->config, &tls), 0);
    tls_server_free(tls);
}

static void test_key_mode(void **state)
{
    struct tls_env *e = *state;
    char dir[128], key[256];
    tls_dir(e, dir);
    make_pair(dir, "server", "a.test", false);
    path_in(key, dir, "server.key");
    struct tls_server *tls = NULL;
    static const struct {
        mode_t mode;
        int expect;
    } cases[] = {{0600, 0}, {0640, 0}, {0604, -EPERM}, {0602, -EPERM}, {0644, -EPERM}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(chmod(key, cases[i].mode), 0);
        assert_int_equal(tls_server_new(&e->config, &tls), cases[i].expect);
        tls_server_free(tls);
        tls = NULL;
    }
    /* A symbolic link is judged by the file it points to (certbot's live/ folder). */
    char link_path[256];
    path_in(link_path, e->dir, "key-link");
    assert_int_equal(symlink(key, link_path), 0);
    char cert[256];
    path_in(cert, dir, "server.pem");
    snprintf(e->config.tls_cert, sizeof(e->config.tls_cert), "%s", cert);
    snprintf(e->config.tls_key, sizeof(e->config.tls_key), "%s", link_path);
    assert_int_equal(tls_server_new(&e->config, &tls), -EPERM); /* still 0644 */
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(tls_server_new(&e->config, &tls), 0);
    tls_server_free(tls);
}

static void test_explicit_lists(void **state)
{
    struct tls_env *e = *state;
    char dir[128];
    tls_dir(e, dir);
    make_pair(dir, "one", "one.test", false);
    make_pair(dir, "two", "two.test", true);
    struct tls_server *tls = NULL;
    snprintf(e->config.tls_cert, sizeof(e->config.tls_cert), "%s/two.pem , %s/one.pem", dir, dir);
    snprintf(e->config.tls_key, sizeof(e->config.tls_key), "%s/two.key,%s/one.key", dir, dir);
    assert_int_equal(tls_server_new(&e->config, &tls), 0);
    assert_startup_cn(tls, "two.test");
    tls_server_free(tls);
    /* Keys in the wrong order: the first does not belong to its certificate. */
    snprintf(e->config.tls_key, sizeof(e->config.tls_key), "%s/one.key,%s/two.key", dir, dir);
    assert_int_equal(tls_server_new(&e->config, &tls), -EINVAL);
    /* One key for two certificates; a certificate without a key; too many files. */
    snprintf(e->config.tls_key, sizeof(e->config.tls_key), "%s/two.key", dir);
    assert_int_equal(tls_server_new(&e->config, &tls), -EINVAL);
    e->config.tls_key[0] = 0;
    assert_int_equal(tls_server_new(&e->config, &tls), -EINVAL);
    snprintf(e->config.tls_cert, sizeof(e->config.tls_cert), "a,b,c,d,e");
    snprintf(e->config.tls_key, sizeof(e->config.tls_key), "a,b,c,d,e");
    assert_int_equal(tls_server_new(&e->config, &tls), -EINVAL);
}

/* A new GnuTLS server session, as libmicrohttpd makes one per connection. */
static gnutls_session_t server_session(void)
{
    gnutls_session_t s;
    assert_int_equal(gnutls_init(&s, GNUTLS_SERVER), 0);
    return s;
}

static void test_reload_swaps_under_sessions(void **state)
{
    struct tls_env *e = *state;
    char dir[128];
    tls_dir(e, dir);
    make_pair(dir, "server", "before.test", false);
    struct tls_server *tls = NULL;
    assert_int_equal(tls_server_new(&e->config, &tls), 0);
    gnutls_session_t old_session = server_session();
    struct tls_credentials *old_set = tls_session_begin(tls, old_session);
    assert_non_null(old_set);

    make_pair(dir, "server", "after.test", false);
    assert_int_equal(tls_server_reload(tls), 0);
    gnutls_session_t new_session = server_session();
    struct tls_credentials *new_set = tls_session_begin(tls, new_session);
    assert_non_null(new_set);
    assert_ptr_not_equal(old_set, new_set);
    tls_session_ready(new_session); /* nothing negotiated: nothing to hold */

    /* A reload that fails (a key that is not the certificate's) changes nothing. */
    make_pair(dir, "other", "other.test", false);
    char from[256], to[256];
    path_in(from, dir, "other.key");
    path_in(to, dir, "server.key");
    assert_int_equal(rename(from, to), 0);
    assert_true(tls_server_reload(tls) < 0);
    gnutls_session_t third = server_session();
    assert_ptr_equal(tls_session_begin(tls, third), new_set);

    /* The old set lives until its last session ends; the server may go first (ASan checks). */
    gnutls_deinit(old_session);
    tls_session_end(old_set);
    tls_server_free(tls);
    gnutls_deinit(new_session);
    tls_session_end(new_set);
    gnutls_deinit(third);
    tls_session_end(new_set);
    tls_session_end(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_data_folders_pairs, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_key_mode, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_explicit_lists, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reload_swaps_under_sessions, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
