/*
 * Unit tests for src/signing/pki.c: the fleet CA (its constraints, never
 * replaced without force), server certificates checked with OpenSSL's own
 * X509_verify_cert against the CA (names included), renewals that keep the
 * key and --new-key that does not, the refusals, importing a certificate
 * made elsewhere, key files that no other user can read, and the C header
 * for sketches compiled by the host's compilers and checked against the
 * openssl command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/reason.h"
#include "core/tls_paths.h"
#include "signing/pki.h"
#include "support.h"

struct fixture {
    char *dir;          /* temporary folder, removed at teardown */
    char tls[PATH_MAX]; /* dir/data/tls: the folder `otad tls` uses */
    char ca_cert[PATH_MAX];
    char ca_key[PATH_MAX];
    char cert[PATH_MAX];
    char key[PATH_MAX];
    char rsa_cert[PATH_MAX];
    char rsa_key[PATH_MAX];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir_new();
    const char *data = test_path("%s/data", f->dir);
    assert_int_equal(tls_path(f->tls, sizeof(f->tls), data, NULL), 0);
    assert_int_equal(tls_path(f->ca_cert, sizeof(f->ca_cert), data, TLS_CA_CERT), 0);
    assert_int_equal(tls_path(f->ca_key, sizeof(f->ca_key), data, TLS_CA_KEY), 0);
    assert_int_equal(tls_path(f->cert, sizeof(f->cert), data, TLS_SERVER_CERT), 0);
    assert_int_equal(tls_path(f->key, sizeof(f->key), data, TLS_SERVER_KEY), 0);
    assert_int_equal(tls_path(f->rsa_cert, sizeof(f->rsa_cert), data, TLS_SERVER_RSA_CERT), 0);
    assert_int_equal(tls_path(f->rsa_key, sizeof(f->rsa_key), data, TLS_SERVER_RSA_KEY), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
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

/* Every certificate of the PEM file at PATH, with OpenSSL's own reader. */
static STACK_OF(X509) * read_certs(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_X509(fp, NULL, NULL, NULL)))
        sk_X509_push(certs, x);
    ERR_clear_error();
    fclose(fp);
    assert_true(sk_X509_num(certs) > 0);
    return certs;
}

static X509 *read_cert(const char *path)
{
    STACK_OF(X509) *certs = read_certs(path);
    X509 *x = sk_X509_shift(certs);
    sk_X509_pop_free(certs, X509_free);
    return x;
}

/*
 * OpenSSL's verdict on the chain at CHAIN_PATH (leaf first) against the
 * single trusted certificate at CA_PATH, as a TLS client: serverAuth and,
 * when HOST is not NULL, the name (an IP when IP).
 */
static int openssl_verify(const char *chain_path, const char *ca_path, const char *host, bool ip)
{
    STACK_OF(X509) *chain = read_certs(chain_path);
    X509 *leaf = sk_X509_shift(chain);
    X509 *ca = read_cert(ca_path);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, chain), 1);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    if (host && ip)
        assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(param, host), 1);
    else if (host)
        assert_int_equal(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
    int ok = X509_verify_cert(ctx);
    int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    ERR_clear_error();
    return err;
}

/* Whether extension NID of X is marked critical (-1: absent). */
static int ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int64_t asn1_seconds(const ASN1_TIME *t)
{
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
    return (int64_t)timegm(&tm);
}

static void make_ca(struct fixture *f, enum signing_key_type type)
{
    struct pki_ca_params params = {.key_type = type};
    struct reason why = {""};
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), 0);
}

static const char *const test_hosts[] = {"ota.example.net", "otad.local"};
static const char *const test_ips[] = {"192.0.2.7", "2001:db8::7"};

/* Issues server.pem/server.key (ECDSA) or the RSA pair under the fleet CA. */
static struct pki_issued issue(struct fixture *f, bool rsa, bool new_key, unsigned days)
{
    struct pki_server_params params = {
        .ca_cert_path = f->ca_cert,
        .ca_key_path = f->ca_key,
        .hosts = test_hosts,
        .host_count = 2,
        .ips = test_ips,
        .ip_count = 2,
        .days = days,
        .key_type = rsa ? SIGNING_KEY_RSA_2048 : SIGNING_KEY_ECDSA_P256,
        .new_key = new_key,
        .cert_path = rsa ? f->rsa_cert : f->cert,
        .key_path = rsa ? f->rsa_key : f->key,
    };
    struct pki_issued issued = {true, true};
    struct reason why = {""};
    int r = pki_server_issue(&params, &issued, &why);
    if (r != 0)
        fprintf(stderr, "pki_server_issue: %s\n", why.text);
    assert_int_equal(r, 0);
    return issued;
}

static void leaf_info(const char *path, struct pki_cert_info *ret)
{
    struct pki_chain *chain = NULL;
    struct reason why = {""};
    assert_int_equal(pki_chain_load(path, &chain, &why), 0);
    assert_int_equal(pki_chain_info(chain, 0, ret, &why), 0);
    pki_chain_free(chain);
}

static void test_ca_constraints(void **state)
{
    struct fixture *f = *state;
    time_t before = time(NULL);
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    assert_int_equal(file_mode(f->ca_key), 0600);
    assert_int_equal(file_mode(f->ca_cert), 0644);
    assert_int_equal(file_mode(f->tls), 0700);

    X509 *ca = read_cert(f->ca_cert);
    assert_int_equal(X509_get_version(ca), X509_VERSION_3);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_self_signed(ca, 1), 1);
    assert_int_equal(ext_critical(ca, NID_basic_constraints), 1);
    assert_int_equal(X509_get_pathlen(ca), 0);
    assert_int_equal(ext_critical(ca, NID_key_usage), 1);
    assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(ca));
    assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);

    /* 16 random bytes of serial, positive. */
    const ASN1_INTEGER *serial = X509_get0_serialNumber(ca);
    assert_int_equal(ASN1_STRING_length(serial), 16);
    assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER);

    /* Twenty years from now, starting an hour early. */
    int64_t not_before = asn1_seconds(X509_get0_notBefore(ca));
    int64_t not_after = asn1_seconds(X509_get0_notAfter(ca));
    assert_true(not_before <= before - 3590 && not_before >= before - 3610);
    assert_true(not_after >= before + 7305LL * 86400 - 5 &&
                not_after <= before + 7305LL * 86400 + 60);

    /* CN "otad fleet CA <hostname>". */
    char cn[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
    assert_int_equal(strncmp(cn, "otad fleet CA", 13), 0);
    assert_true(strlen(cn) <= PKI_NAME_MAX);

    /* The command line agrees, and the key is the certificate's. */
    assert_int_equal(
        test_run("openssl verify -CAfile '%s' '%s' >/dev/null 2>&1", f->ca_cert, f->ca_cert), 0);
    struct pki_chain *chain = NULL;
    struct reason why = {""};
    assert_int_equal(pki_chain_load(f->ca_cert, &chain, &why), 0);
    assert_int_equal(pki_chain_key_matches(chain, f->ca_key, &why), 0);
    struct pki_cert_info info;
    assert_int_equal(pki_chain_info(chain, 0, &info, &why), 0);
    assert_true(info.ca);
    assert_true(info.self_signed);
    assert_string_equal(info.key_type, "ecdsa-p256");
    assert_string_equal(info.sans, "");
    pki_chain_free(chain);
    X509_free(ca);
}

static void test_ca_never_replaced_without_force(void **state)
{
    struct fixture *f = *state;
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    size_t len1, len2;
    uint8_t *cert1 = test_read_file(f->ca_cert, &len1);
    uint8_t *key1 = test_read_file(f->ca_key, &len2);

    struct pki_ca_params params = {.key_type = SIGNING_KEY_ECDSA_P256};
    struct reason why = {""};
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), -EEXIST);
    size_t l1, l2;
    uint8_t *cert2 = test_read_file(f->ca_cert, &l1);
    uint8_t *key2 = test_read_file(f->ca_key, &l2);
    assert_int_equal(l1, len1);
    assert_memory_equal(cert1, cert2, len1);
    assert_int_equal(l2, len2);
    assert_memory_equal(key1, key2, len2);
    free(cert2);
    free(key2);

    /* A lone key blocks too, and no certificate appears beside it. */
    unlink(f->ca_cert);
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), -EEXIST);
    assert_int_equal(access(f->ca_cert, F_OK), -1);
    test_write_file(f->ca_cert, cert1, len1);

    /* With force both are replaced, the key still 0600; no temporary file is left. */
    params.force = true;
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), 0);
    cert2 = test_read_file(f->ca_cert, &l1);
    key2 = test_read_file(f->ca_key, &l2);
    assert_false(l1 == len1 && memcmp(cert1, cert2, len1) == 0);
    assert_false(l2 == len2 && memcmp(key1, key2, len2) == 0);
    assert_int_equal(file_mode(f->ca_key), 0600);
    assert_int_equal(test_run("test $(ls -A '%s' | wc -l) -eq 2", f->tls), 0);
    free(cert1);
    free(key1);
    free(cert2);
    free(key2);
}

static void test_ca_params(void **state)
{
    struct fixture *f = *state;
    struct reason why = {""};
    char long_name[PKI_NAME_MAX + 2];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    static const char bad_utf8[] = {'c', 'a', (char)0xff, 0};
    const char *bad_names[] = {"", long_name, bad_utf8};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        struct pki_ca_params params = {.common_name = bad_names[i]};
        assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), -EINVAL);
    }
    struct pki_ca_params too_long = {.days = PKI_DAYS_MAX + 1};
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &too_long, &why), -EINVAL);
    assert_int_equal(access(f->ca_cert, F_OK), -1);
    assert_int_equal(access(f->ca_key, F_OK), -1);

    /* A name, a validity and an RSA key as asked. */
    long_name[PKI_NAME_MAX] = 0;
    struct pki_ca_params params = {
        .common_name = long_name, .days = 30, .key_type = SIGNING_KEY_RSA_3072};
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), 0);
    struct pki_cert_info info;
    leaf_info(f->ca_cert, &info);
    assert_string_equal(info.key_type, "rsa-3072");
    assert_string_equal(info.subject + 3, long_name);
    assert_true(info.not_after - info.not_before >= 30 * 86400 + 3590 &&
                info.not_after - info.not_before <= 30 * 86400 + 3700);
    X509 *ca = read_cert(f->ca_cert);
    assert_int_equal(X509_get_signature_nid(ca), NID_sha256WithRSAEncryption);
    X509_free(ca);
}

static void test_server_certificates_verify(void **state)
{
    struct fixture *f = *state;
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    time_t now = time(NULL);
    for (int rsa = 0; rsa <= 1; rsa++) {
        struct pki_issued issued = issue(f, rsa, false, 0);
        assert_true(issued.key_created);
        assert_false(issued.clamped);
        const char *cert = rsa ? f->rsa_cert : f->cert;
        const char *key = rsa ? f->rsa_key : f->key;
        assert_int_equal(file_mode(key), 0600);
        assert_int_equal(file_mode(cert), 0644);

        /* OpenSSL accepts it for every name, and no other name. */
        for (size_t i = 0; i < 2; i++) {
            assert_int_equal(openssl_verify(cert, f->ca_cert, test_hosts[i], false), X509_V_OK);
            assert_int_equal(openssl_verify(cert, f->ca_cert, test_ips[i], true), X509_V_OK);
        }
        assert_int_equal(openssl_verify(cert, f->ca_cert, "evil.example.net", false),
                         X509_V_ERR_HOSTNAME_MISMATCH);
        assert_int_equal(openssl_verify(cert, f->ca_cert, "192.0.2.8", true),
                         X509_V_ERR_IP_ADDRESS_MISMATCH);
        assert_int_equal(
            test_run("openssl verify -CAfile '%s' '%s' >/dev/null 2>&1", f->ca_cert, cert), 0);

        /* The chain is the leaf, then the CA exactly. */
        STACK_OF(X509) *chain = read_certs(cert);
        assert_int_equal(sk_X509_num(chain), 2);
        X509 *leaf = sk_X509_value(chain, 0);
        X509 *ca = read_cert(f->ca_cert);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 1), ca), 0);

        /* Its extensions. */
        assert_int_equal(X509_check_ca(leaf), 0);
        assert_int_equal(ext_critical(leaf, NID_basic_constraints), 1);
        assert_int_equal(ext_critical(leaf, NID_key_usage), 1);
        assert_int_equal(X509_get_key_usage(leaf),
                         rsa ? KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT : KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
        assert_non_null(X509_get0_subject_key_id(leaf));
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
        assert_non_null(aki);
        assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca)), 0);
        assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(leaf)), 16);
        char cn[128];
        X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
        assert_string_equal(cn, test_hosts[0]);

        /* 397 days by default. */
        int64_t not_after = asn1_seconds(X509_get0_notAfter(leaf));
        assert_true(not_after >= now + 397LL * 86400 - 5 && not_after <= now + 397LL * 86400 + 60);

        /* What the module says of it. */
        struct pki_cert_info info;
        leaf_info(cert, &info);
        assert_string_equal(info.key_type, rsa ? "rsa-2048" : "ecdsa-p256");
        assert_string_equal(info.sans, "DNS:ota.example.net, DNS:otad.local, IP:192.0.2.7, "
                                       "IP:2001:db8::7");
        assert_string_equal(info.subject, "CN=ota.example.net");
        assert_false(info.ca);
        struct pki_chain *c = NULL, *anchors = NULL;
        struct reason why = {""};
        assert_int_equal(pki_chain_load(cert, &c, &why), 0);
        assert_int_equal(pki_chain_load(f->ca_cert, &anchors, &why), 0);
        assert_int_equal(pki_chain_length(c), 2);
        assert_int_equal(pki_chain_verify(c, anchors, "otad.local", &why), 0);
        assert_int_equal(pki_chain_verify(c, anchors, "2001:db8::7", &why), 0);
        assert_int_equal(pki_chain_verify(c, anchors, NULL, &why), 0);
        assert_int_equal(pki_chain_verify(c, anchors, "other.example.net", &why), -EBADMSG);
        assert_non_null(strstr(why.text, "mismatch"));
        assert_true(pki_chain_issued_by(c, anchors));
        assert_int_equal(pki_chain_key_matches(c, key, &why), 0);
        assert_int_equal(pki_chain_key_matches(c, f->ca_key, &why), -EKEYREJECTED);
        pki_chain_free(anchors);
        pki_chain_free(c);
        X509_free(ca);
        sk_X509_pop_free(chain, X509_free);
    }

    /* Another CA neither issued nor verifies them. */
    char other_cert[PATH_MAX], other_key[PATH_MAX];
    snprintf(other_cert, sizeof(other_cert), "%s/other.pem", f->dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", f->dir);
    struct pki_ca_params params = {.common_name = "other"};
    struct reason why = {""};
    assert_int_equal(pki_ca_create(other_cert, other_key, &params, &why), 0);
    assert_int_equal(openssl_verify(f->cert, other_cert, NULL, false),
                     X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN); /* the fleet CA, untrusted */
    struct pki_chain *c = NULL, *other = NULL;
    assert_int_equal(pki_chain_load(f->cert, &c, &why), 0);
    assert_int_equal(pki_chain_load(other_cert, &other, &why), 0);
    assert_false(pki_chain_issued_by(c, other));
    assert_int_equal(pki_chain_verify(c, other, NULL, &why), -EBADMSG);
    pki_chain_free(other);
    pki_chain_free(c);
}

/*
 * A name longer than a CN may be (64 characters) is still issued: the CN is
 * the first name that fits, and with none the subject is empty and the
 * subjectAltName critical (RFC 5280 §4.2.1.6). OpenSSL accepts it by name.
 */
static void test_long_host_names(void **state)
{
    struct fixture *f = *state;
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    char long_name[128];
    memset(long_name, 'a', 63);
    strcpy(long_name + 63, ".long-label-for-a-test.example.net"); /* 97 characters */
    const char *const both[] = {long_name, "short.example.net"};
    const char *const only_long[] = {long_name};
    for (int alone = 0; alone <= 1; alone++) {
        struct pki_server_params params = {
            .ca_cert_path = f->ca_cert,
            .ca_key_path = f->ca_key,
            .hosts = alone ? only_long : both,
            .host_count = alone ? 1 : 2,
            .key_type = SIGNING_KEY_ECDSA_P256,
            .cert_path = f->cert,
            .key_path = f->key,
        };
        struct pki_issued issued = {true, true};
        struct reason why = {""};
        assert_int_equal(pki_server_issue(&params, &issued, &why), 0);
        assert_int_equal(openssl_verify(f->cert, f->ca_cert, long_name, false), X509_V_OK);
        X509 *leaf = read_cert(f->cert);
        X509_NAME *subject = X509_get_subject_name(leaf);
        char cn[80] = "";
        X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn));
        assert_string_equal(cn, alone ? "" : "short.example.net");
        assert_int_equal(ext_critical(leaf, NID_subject_alt_name), alone ? 1 : 0);
        X509_free(leaf);
    }
}

static void test_renewal_keeps_the_key(void **state)
{
    struct fixture *f = *state;
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    for (int rsa = 0; rsa <= 1; rsa++) {
        const char *cert = rsa ? f->rsa_cert : f->cert;
        struct pki_cert_info first, renewed, rekeyed;
        assert_true(issue(f, rsa, false, 0).key_created);
        leaf_info(cert, &first);
        size_t key_len1, key_len2;
        uint8_t *key1 = test_read_file(rsa ? f->rsa_key : f->key, &key_len1);

        /* A renewal: the same public key, a new certificate. */
        assert_false(issue(f, rsa, false, 30).key_created);
        leaf_info(cert, &renewed);
        assert_string_equal(renewed.spki_sha256, first.spki_sha256);
        assert_string_not_equal(renewed.serial, first.serial);
        assert_memory_not_equal(renewed.sha1, first.sha1, PKI_SHA1_LEN);
        assert_true(renewed.not_after < first.not_after);
        uint8_t *key2 = test_read_file(rsa ? f->rsa_key : f->key, &key_len2);
        assert_int_equal(key_len1, key_len2);
        assert_memory_equal(key1, key2, key_len1);
        free(key2);
        assert_int_equal(openssl_verify(cert, f->ca_cert, test_hosts[0], false), X509_V_OK);

        /* --new-key: a new public key. */
        assert_true(issue(f, rsa, true, 0).key_created);
        leaf_info(cert, &rekeyed);
        assert_string_not_equal(rekeyed.spki_sha256, first.spki_sha256);
        assert_int_equal(file_mode(rsa ? f->rsa_key : f->key), 0600);
        assert_int_equal(openssl_verify(cert, f->ca_cert, test_hosts[1], false), X509_V_OK);
        free(key1);
    }
    /* No temporary file is left beside them. */
    assert_int_equal(test_run("test $(ls -A '%s' | wc -l) -eq 6", f->tls), 0);
}

static void test_issue_refusals(void **state)
{
    struct fixture *f = *state;
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    struct reason why = {""};
    struct pki_server_params base = {
        .ca_cert_path = f->ca_cert,
        .ca_key_path = f->ca_key,
        .key_type = SIGNING_KEY_ECDSA_P256,
        .cert_path = f->cert,
        .key_path = f->key,
    };

    /* Names. */
    struct pki_server_params p = base;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    static const char *const bad_hosts[] = {
        "a..b", "-a.example",   "a-.example", "a_b.example", "*.com",           "a.example.",
        "",     "192.0.2.1/24", "192.0.2.1",  "a b",         "*.*.example.com", "é.example"};
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        p = base;
        p.hosts = &bad_hosts[i];
        p.host_count = 1;
        assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    }
    static const char *const bad_ips[] = {"256.0.0.1", "ota.example.net", "1.2.3", "::g"};
    for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
        p = base;
        p.ips = &bad_ips[i];
        p.ip_count = 1;
        assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    }
    const char *many[PKI_SAN_MAX + 1];
    for (size_t i = 0; i <= PKI_SAN_MAX; i++)
        many[i] = "ota.example.net";
    p = base;
    p.hosts = many;
    p.host_count = PKI_SAN_MAX + 1;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    p = base;
    p.hosts = test_hosts;
    p.host_count = 1;
    p.days = PKI_DAYS_MAX + 1;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    p.days = 0;
    p.key_type = SIGNING_KEY_ECDSA_P384;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    assert_int_equal(access(f->cert, F_OK), -1);
    assert_int_equal(access(f->key, F_OK), -1);

    /* A wildcard and an address alone are fine; the address is then the CN. */
    static const char *const wildcard[] = {"*.ota.example.net"};
    p = base;
    p.hosts = wildcard;
    p.host_count = 1;
    assert_int_equal(pki_server_issue(&p, NULL, &why), 0);
    assert_int_equal(openssl_verify(f->cert, f->ca_cert, "a.ota.example.net", false), X509_V_OK);
    p = base;
    p.ips = test_ips;
    p.ip_count = 1;
    assert_int_equal(pki_server_issue(&p, NULL, &why), 0);
    struct pki_cert_info info;
    leaf_info(f->cert, &info);
    assert_string_equal(info.subject, "CN=192.0.2.7");

    /* The kept key must be of the algorithm asked for. */
    p.key_type = SIGNING_KEY_RSA_2048;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    assert_non_null(strstr(why.text, "--new-key"));

    /* A key other users can read is refused, and left alone. */
    p.key_type = SIGNING_KEY_ECDSA_P256;
    assert_int_equal(chmod(f->key, 0644), 0);
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EPERM);
    assert_int_equal(file_mode(f->key), 0644);
    assert_int_equal(chmod(f->key, 0600), 0);

    /* The CA: a key of another, a certificate that is no CA, none at all. */
    p.ca_key_path = f->key;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    p.ca_key_path = f->ca_key;
    p.ca_cert_path = f->cert;
    assert_int_equal(pki_server_issue(&p, NULL, &why), -EINVAL);
    p.ca_cert_path = test_path("%s/none.pem", f->dir);
    assert_int_equal(pki_server_issue(&p, NULL, &why), -ENOENT);
}

/* A server certificate never outlives its CA. */
static void test_validity_clamped_to_the_ca(void **state)
{
    struct fixture *f = *state;
    struct pki_ca_params params = {.days = 10};
    struct reason why = {""};
    assert_int_equal(pki_ca_create(f->ca_cert, f->ca_key, &params, &why), 0);
    struct pki_issued issued = issue(f, false, false, 0);
    assert_true(issued.clamped);
    struct pki_cert_info ca, leaf;
    leaf_info(f->ca_cert, &ca);
    leaf_info(f->cert, &leaf);
    assert_int_equal(leaf.not_after, ca.not_after);
    assert_false(issue(f, false, false, 5).clamped);
}

static void test_import(void **state)
{
    struct fixture *f = *state;
    /* A "public" chain: a root, an intermediate, a leaf, made by the openssl command line. */
    assert_int_equal(
        test_run(
            "cd '%s' && { "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout root.key -out root.pem -subj /CN=root -days 30 "
            "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign && "
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key "
            "-out int.csr -subj /CN=intermediate && "
            "printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign\\n' "
            "> int.ext && "
            "openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial "
            "-out int.pem -days 30 -extfile int.ext && "
            "openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr "
            "-subj /CN=ota.example.org && "
            "printf 'subjectAltName=DNS:ota.example.org\\nextendedKeyUsage=serverAuth\\n' "
            "> leaf.ext && "
            "openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial "
            "-out leaf.pem -days 30 -extfile leaf.ext && "
            "cat leaf.pem int.pem > fullchain.pem && cat int.pem leaf.pem > reversed.pem && "
            "openssl pkey -in leaf.key -aes128 -passout pass:x -out encrypted.key && "
            "chmod 640 leaf.key; } >/dev/null 2>&1",
            f->dir),
        0);
    const char *chain = test_path("%s/fullchain.pem", f->dir);
    const char *leaf_key = test_path("%s/leaf.key", f->dir);
    struct reason why = {""};

    /* Refusals leave nothing in place. */
    assert_int_equal(
        pki_server_import(chain, test_path("%s/int.key", f->dir), f->cert, f->key, &why),
        -EKEYREJECTED);
    assert_int_equal(
        pki_server_import(test_path("%s/reversed.pem", f->dir), leaf_key, f->cert, f->key, &why),
        -EKEYREJECTED);
    assert_int_equal(
        pki_server_import(test_path("%s/encrypted.key", f->dir), leaf_key, f->cert, f->key, &why),
        -EINVAL);
    assert_int_equal(
        pki_server_import(chain, test_path("%s/encrypted.key", f->dir), f->cert, f->key, &why),
        -EINVAL);
    assert_non_null(strstr(why.text, "encrypted"));
    test_run("cd '%s' && cat leaf.pem root.pem > gap.pem", f->dir);
    assert_int_equal(
        pki_server_import(test_path("%s/gap.pem", f->dir), leaf_key, f->cert, f->key, &why),
        -EINVAL);
    assert_int_equal(access(f->cert, F_OK), -1);
    assert_int_equal(access(f->key, F_OK), -1);

    /* A group-readable key is copied in as 0600; the chain as it was. */
    assert_int_equal(pki_server_import(chain, leaf_key, f->cert, f->key, &why), 0);
    assert_int_equal(file_mode(f->key), 0600);
    assert_int_equal(file_mode(f->cert), 0644);
    assert_int_equal(test_run("cmp -s '%s' '%s'", chain, f->cert), 0);
    assert_int_equal(test_run("cd '%s' && openssl pkey -in leaf.key -pubout > a.pub && "
                              "openssl pkey -in '%s' -pubout > b.pub && cmp -s a.pub b.pub",
                              f->dir, f->key),
                     0);
    struct pki_chain *c = NULL, *root = NULL;
    assert_int_equal(pki_chain_load(f->cert, &c, &why), 0);
    assert_int_equal(pki_chain_key_matches(c, f->key, &why), 0);
    assert_int_equal(pki_chain_load(test_path("%s/root.pem", f->dir), &root, &why), 0);
    assert_int_equal(pki_chain_verify(c, root, "ota.example.org", &why), 0);
    assert_true(pki_chain_issued_by(c, root));
    pki_chain_free(root);
    pki_chain_free(c);
}

static void test_chain_load_refusals(void **state)
{
    struct fixture *f = *state;
    struct pki_chain *c = NULL;
    struct reason why = {""};
    const char *path = test_path("%s/x.pem", f->dir);
    assert_int_equal(pki_chain_load(path, &c, &why), -ENOENT);
    test_write_file(path, "", 0);
    assert_int_equal(pki_chain_load(path, &c, &why), -EINVAL);
    test_write_file(path, "hello\n", 6);
    assert_int_equal(pki_chain_load(path, &c, &why), -EINVAL);
    static const char broken[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    test_write_file(path, broken, sizeof(broken) - 1);
    assert_int_equal(pki_chain_load(path, &c, &why), -EINVAL);
    assert_null(c);

    /* Text around the blocks is fine; more than PKI_CHAIN_MAX certificates is not. */
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    size_t len;
    uint8_t *pem = test_read_file(f->ca_cert, &len);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "subject=whatever\n%s", (const char *)pem);
    fclose(fp);
    assert_int_equal(pki_chain_load(path, &c, &why), 0);
    assert_int_equal(pki_chain_length(c), 1);
    pki_chain_free(c);
    c = NULL;
    fp = fopen(path, "w");
    for (unsigned i = 0; i <= PKI_CHAIN_MAX; i++)
        fwrite(pem, 1, len, fp);
    fclose(fp);
    assert_int_equal(pki_chain_load(path, &c, &why), -EINVAL);
    free(pem);
}

/* The text after "PREFIX=" in the one-line file at PATH, colons kept; caller frees. */
static char *read_value(const char *path)
{
    size_t len;
    char *text = (char *)test_read_file(path, &len);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = 0;
    char *eq = strchr(text, '=');
    char *value = strdup(eq ? eq + 1 : text);
    free(text);
    return value;
}

/*
 * The header compiles as C++ (Arduino sketches) and as GNU C (ESP-IDF), and
 * a program built from it prints exactly what the openssl command line
 * finds in the files: the CA's PEM, each leaf's SHA-1 and SHA-256 and its
 * public key.
 */
static void test_export_header(void **state)
{
    struct fixture *f = *state;
    make_ca(f, SIGNING_KEY_ECDSA_P256);
    issue(f, false, false, 0);
    issue(f, true, false, 0);
    struct pki_chain *ca = NULL, *server = NULL, *rsa = NULL;
    struct reason why = {""};
    assert_int_equal(pki_chain_load(f->ca_cert, &ca, &why), 0);
    assert_int_equal(pki_chain_load(f->cert, &server, &why), 0);
    assert_int_equal(pki_chain_load(f->rsa_cert, &rsa, &why), 0);
    struct pki_export_leaf leaves[] = {{server, "OTAD_SERVER", TLS_SERVER_CERT},
                                       {rsa, "OTAD_SERVER_RSA", TLS_SERVER_RSA_CERT}};
    struct buf out;
    buf_init(&out, 256 * 1024);
    assert_int_equal(pki_export_header(ca, true, leaves, 2, &out, &why), 0);
    const char *text = (const char *)out.data;
    assert_non_null(strstr(text, "static const char OTAD_FLEET_CA[] PROGMEM = R\"PEM(-----BEGIN"));
    assert_non_null(strstr(text, "static const uint8_t OTAD_SERVER_SHA1[20] = {"));
    assert_non_null(strstr(text, "static const uint8_t OTAD_SERVER_RSA_SHA1[20] = {"));
    assert_non_null(strstr(text, "static const char OTAD_SERVER_PUBKEY[] PROGMEM"));
    assert_non_null(strstr(text, "static const char OTAD_SERVER_RSA_PUBKEY[] PROGMEM"));
    assert_non_null(strstr(text, "#ifndef PROGMEM"));
    assert_non_null(strstr(text, "setTrustAnchors"));
    assert_non_null(strstr(text, "setKnownKey"));
    assert_non_null(strstr(text, "setFingerprint"));
    assert_non_null(strstr(text, "setCACert"));
    assert_non_null(strstr(text, "renewal"));
    assert_null(strstr(text, "PRIVATE"));
    test_write_file(test_path("%s/otad_tls.h", f->dir), out.data, out.len);

    static const char program[] =
        "#include <stdio.h>\n"
        "#include \"otad_tls.h\"\n"
        "static void hex(const char *path, const uint8_t *p, unsigned n)\n"
        "{\n"
        "    FILE *f = fopen(path, \"w\");\n"
        "    for (unsigned i = 0; i < n; i++)\n"
        "        fprintf(f, \"%02X%s\", p[i], i + 1 < n ? \":\" : \"\\n\");\n"
        "    fclose(f);\n"
        "}\n"
        "static void text(const char *path, const char *s)\n"
        "{\n"
        "    FILE *f = fopen(path, \"w\");\n"
        "    fputs(s, f);\n"
        "    fclose(f);\n"
        "}\n"
        "int main(void)\n"
        "{\n"
        "    text(\"ca.out\", OTAD_FLEET_CA);\n"
        "    hex(\"sha1.out\", OTAD_SERVER_SHA1, sizeof(OTAD_SERVER_SHA1));\n"
        "    hex(\"sha256.out\", OTAD_SERVER_SHA256, sizeof(OTAD_SERVER_SHA256));\n"
        "    text(\"pub.out\", OTAD_SERVER_PUBKEY);\n"
        "    hex(\"rsa-sha1.out\", OTAD_SERVER_RSA_SHA1, sizeof(OTAD_SERVER_RSA_SHA1));\n"
        "    text(\"rsa-pub.out\", OTAD_SERVER_RSA_PUBKEY);\n"
        "    return 0;\n"
        "}\n";
    test_write_file(test_path("%s/main.c", f->dir), program, sizeof(program) - 1);
    assert_int_equal(test_run("cd '%s' && c++ -std=c++11 -Wall -Wextra -Werror -x c++ -o hprog "
                              "main.c && cc -std=gnu11 -Wall -Wextra -Werror -o hprog-c main.c",
                              f->dir),
                     0);
    for (int c_build = 0; c_build <= 1; c_build++) {
        assert_int_equal(
            test_run("cd '%s' && rm -f *.out && ./%s", f->dir, c_build ? "hprog-c" : "hprog"), 0);
        /* The CA, byte for byte. */
        assert_int_equal(test_run("cmp -s '%s/ca.out' '%s'", f->dir, f->ca_cert), 0);
        /* The fingerprints, as `openssl x509 -fingerprint` prints them. */
        static const struct {
            const char *out;
            const char *digest;
            bool rsa;
        } fps[] = {{"sha1.out", "sha1", false},
                   {"sha256.out", "sha256", false},
                   {"rsa-sha1.out", "sha1", true}};
        for (size_t i = 0; i < sizeof(fps) / sizeof(fps[0]); i++) {
            const char *expected_path = test_path("%s/expected-%zu", f->dir, i);
            assert_int_equal(test_run("openssl x509 -in '%s' -noout -fingerprint -%s > '%s'",
                                      fps[i].rsa ? f->rsa_cert : f->cert, fps[i].digest,
                                      expected_path),
                             0);
            char *expected = read_value(expected_path);
            char *got = read_value(test_path("%s/%s", f->dir, fps[i].out));
            assert_string_equal(got, expected);
            free(expected);
            free(got);
        }
        /* The public keys, as `openssl x509 -pubkey` prints them. */
        assert_int_equal(test_run("cd '%s' && openssl x509 -in '%s' -noout -pubkey | cmp -s - "
                                  "pub.out && openssl x509 -in '%s' -noout -pubkey | cmp -s - "
                                  "rsa-pub.out",
                                  f->dir, f->cert, f->rsa_cert),
                         0);
    }

    /* One leaf and a chain's top: no RSA names, and the comment says it is no fleet CA. */
    buf_reset(&out);
    assert_int_equal(pki_export_header(server, false, leaves, 1, &out, &why), 0);
    text = (const char *)out.data;
    assert_null(strstr(text, "OTAD_SERVER_RSA"));
    assert_non_null(strstr(text, "Not an otad fleet CA"));
    assert_non_null(strstr(text, "OTAD_FLEET_CA"));

    /* Bad identifiers are refused. */
    struct pki_export_leaf bad = {server, "1X", TLS_SERVER_CERT};
    assert_int_equal(pki_export_header(ca, true, &bad, 1, &out, &why), -EINVAL);
    bad.ident = "A-B";
    assert_int_equal(pki_export_header(ca, true, &bad, 1, &out, &why), -EINVAL);

    buf_release(&out);
    pki_chain_free(rsa);
    pki_chain_free(server);
    pki_chain_free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_never_replaced_without_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_certificates_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_host_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_keeps_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validity_clamped_to_the_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_load_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_header, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
