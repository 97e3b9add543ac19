/*
 * TLS certificates: the fleet CA, the server certificates it issues, public
 * certificates taken as they are, and what devices pin (pki.h says why).
 * Keys are made and loaded by keys.c (struct signing_key); this file builds
 * and checks X.509 certificates, puts files in place so that a private key
 * is never readable by another user, and writes the C header for sketches.
 */
#include "signing/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/digest.h"
#include "core/util.h"
#include "signing/key_internal.h"

#define SERIAL_BYTES    16
#define BACKDATE_S      3600L /* certificates start an hour early, for devices whose clocks lag */
#define IDENT_MAX       32u
#define DEFAULT_CA_NAME "otad fleet CA"

struct pki_chain {
    STACK_OF(X509) * certs; /* owned; at least one */
};

/* ---------------------------------------------------------------------------
 * Files put in place: written beside their final name, then renamed. */

/* A file written under a temporary name in its final folder, not yet in place. */
struct staged {
    char tmp[PATH_MAX]; /* "" when nothing is staged */
    const char *path;   /* borrowed: the final name */
};

/* Writes into OUT the folder of PATH ("." when it has none). */
static int folder_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return str_copy(out, size, ".");
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= size)
        return -ENAMETOOLONG;
    memcpy(out, path, len);
    out[len] = 0;
    return 0;
}

/*
 * Writes LEN bytes of DATA to a new temporary file beside PATH: created
 * O_EXCL with mode 0600 (so a key is never readable by others, whatever
 * MODE), written, fsynced, then given MODE. Creates PATH's folder (0700)
 * when missing. Nothing is left behind on failure.
 */
static int stage(struct staged *s, const char *path, const void *data, size_t len, unsigned mode,
                 struct reason *why)
{
    char dir[PATH_MAX];
    uint32_t nonce = 0;
    int r, fd;

    s->tmp[0] = 0;
    s->path = path;
    if (folder_of(path, dir, sizeof(dir)) < 0)
        return reason_set(why, -ENAMETOOLONG, "path '%s' is too long", path);
    r = dir_create_all(dir, 0700);
    if (r < 0)
        return reason_set(why, r, "cannot create folder '%s': %s", dir, strerror(-r));
    if (random_bytes(&nonce, sizeof(nonce)) < 0)
        nonce = (uint32_t)getpid();
    int n = snprintf(s->tmp, sizeof(s->tmp), "%s.tmp-%08x", path, (unsigned)nonce);
    if (n < 0 || (size_t)n >= sizeof(s->tmp)) {
        s->tmp[0] = 0;
        return reason_set(why, -ENAMETOOLONG, "path '%s' is too long", path);
    }
    fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        s->tmp[0] = 0;
        return reason_set(why, r, "cannot create '%s': %s", path, strerror(-r));
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            r = -errno;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        r = -errno;
        goto fail;
    }
    r = close(fd);
    fd = -1;
    if (r < 0) {
        r = -errno;
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(s->tmp);
    s->tmp[0] = 0;
    return reason_set(why, r, "cannot write '%s': %s", path, strerror(-r));
}

/* Removes a staged file that was not put in place. */
static void unstage(struct staged *s)
{
    if (s->tmp[0])
        unlink(s->tmp);
    s->tmp[0] = 0;
}

/*
 * Puts COUNT staged files in place, in order: renamed over what is there
 * when REPLACE, else hard-linked to their names, which fails with -EEXIST
 * if a name exists (and the files linked before it are removed again).
 * Then fsyncs each folder. Every staged file is gone afterwards.
 */
static int commit(struct staged *files, size_t count, bool replace, struct reason *why)
{
    int r = 0;
    size_t done = 0;
    for (; done < count; done++) {
        struct staged *s = &files[done];
        if (replace) {
            if (rename(s->tmp, s->path) < 0) {
                r = -errno;
                break;
            }
        } else {
            if (link(s->tmp, s->path) < 0) {
                r = -errno;
                break;
            }
            unlink(s->tmp);
        }
        s->tmp[0] = 0;
    }
    if (r < 0) {
        const char *path = files[done].path;
        if (r == -EEXIST)
            reason_set(why, r, "'%s' already exists", path);
        else
            reason_set(why, r, "cannot put '%s' in place: %s", path, strerror(-r));
        if (!replace)
            for (size_t i = 0; i < done; i++)
                unlink(files[i].path);
        for (size_t i = 0; i < count; i++)
            unstage(&files[i]);
        return r;
    }
    for (size_t i = 0; i < count; i++) {
        char dir[PATH_MAX];
        if (folder_of(files[i].path, dir, sizeof(dir)) == 0 && (r = dir_fsync(dir)) < 0)
            return reason_set(why, r, "cannot sync folder '%s': %s", dir, strerror(-r));
    }
    return 0;
}

/* Fails with -EEXIST when something is at PATH. */
static int check_absent(const char *path, const char *what, struct reason *why)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return reason_set(why, -EEXIST, "%s '%s' already exists", what, path);
    if (errno != ENOENT) {
        int r = -errno;
        return reason_set(why, r, "cannot check '%s': %s", path, strerror(-r));
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * PEM text in memory. */

/* The PKCS#8 PEM of PKEY's private half in a BIO that wipes itself when freed. */
static BIO *private_pem(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio && !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

/* Appends what BIO holds to OUT. */
static int append_bio(struct buf *out, BIO *bio, const char *what, struct reason *why)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int r = buf_append(out, data, (size_t)len);
    if (r < 0)
        return reason_set(why, r, "cannot hold %s: %s", what, strerror(-r));
    return 0;
}

/* The PEM of every certificate of CERTS, in order, appended to a new memory BIO. */
static BIO *certs_pem(STACK_OF(X509) * certs)
{
    BIO *bio = BIO_new(BIO_s_mem());
    for (int i = 0; bio && i < sk_X509_num(certs); i++) {
        if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i))) {
            BIO_free(bio);
            return NULL;
        }
    }
    return bio;
}

/* ---------------------------------------------------------------------------
 * Reading certificates. */

/* Parses LEN bytes of PEM into a new chain; DISPLAY names the origin in reasons. */
static int chain_parse(const void *pem, size_t len, const char *display,
                       struct pki_chain **ret_chain, struct reason *why)
{
    struct pki_chain *chain = NULL;
    BIO *bio = NULL;
    int r;

    chain = calloc(1, sizeof(*chain));
    if (!chain || !(chain->certs = sk_X509_new_null())) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto fail;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto fail;
    }
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            bool end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            ERR_clear_error();
            if (!end) {
                r = reason_set(why, -EINVAL, "certificate %d of %s does not parse",
                               sk_X509_num(chain->certs) + 1, display);
                goto fail;
            }
            break;
        }
        if (sk_X509_num(chain->certs) >= (int)PKI_CHAIN_MAX) {
            X509_free(x);
            r = reason_set(why, -EINVAL, "%s holds more than %u certificates", display,
                           PKI_CHAIN_MAX);
            goto fail;
        }
        if (!sk_X509_push(chain->certs, x)) {
            X509_free(x);
            r = reason_set(why, -ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (sk_X509_num(chain->certs) == 0) {
        r = reason_set(why, -EINVAL, "%s holds no PEM certificate (\"BEGIN CERTIFICATE\")",
                       display);
        goto fail;
    }
    BIO_free(bio);
    *ret_chain = chain;
    return 0;
fail:
    BIO_free(bio);
    pki_chain_free(chain);
    ERR_clear_error();
    return r;
}

int pki_chain_load(const char *path, struct pki_chain **ret_chain, struct reason *why)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int r = file_read_all(path, PKI_CHAIN_FILE_MAX, &data, &len);
    if (r == -EFBIG)
        return reason_set(why, r, "'%s' is larger than %u bytes", path, PKI_CHAIN_FILE_MAX);
    if (r < 0)
        return reason_set(why, r, "cannot read '%s': %s", path, strerror(-r));
    char display[PATH_MAX + 8];
    snprintf(display, sizeof(display), "'%s'", path);
    r = chain_parse(data, len, display, ret_chain, why);
    free(data);
    return r;
}

void pki_chain_free(struct pki_chain *chain)
{
    if (!chain)
        return;
    sk_X509_pop_free(chain->certs, X509_free);
    free(chain);
}

size_t pki_chain_length(const struct pki_chain *chain)
{
    return (size_t)sk_X509_num(chain->certs);
}

static X509 *chain_cert(const struct pki_chain *chain, size_t index)
{
    return sk_X509_value(chain->certs, (int)index);
}

/* ---------------------------------------------------------------------------
 * Describing certificates. */

/* PKEY's type as `otad key` names it ("ecdsa-p256", "rsa-2048"), else OpenSSL's name. */
static void key_type_of(EVP_PKEY *pkey, char *out, size_t size)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        snprintf(out, size, "rsa-%d", EVP_PKEY_get_bits(pkey));
        return;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL);
        int nid = OBJ_sn2nid(group);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(group);
        if (nid == NID_X9_62_prime256v1)
            snprintf(out, size, "ecdsa-p256");
        else if (nid == NID_secp384r1)
            snprintf(out, size, "ecdsa-p384");
        else
            snprintf(out, size, "ecdsa-%s", group[0] ? group : "unknown");
        ERR_clear_error();
        return;
    }
    const char *name = EVP_PKEY_get0_type_name(pkey);
    snprintf(out, size, "%s", name ? name : "unknown");
}

/* NAME on one line (RFC 2253, UTF-8 kept) into OUT, cut to SIZE. */
static void name_text(const X509_NAME *name, char *out, size_t size)
{
    out[0] = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        size_t n = (size_t)len < size - 1 ? (size_t)len : size - 1;
        memcpy(out, data, n);
        out[n] = 0;
    }
    BIO_free(bio);
}

/* Appends TEXT to OUT (SIZE bytes, NUL-terminated), printable ASCII only; cut with "...". */
static void append_text(char *out, size_t size, const char *text, size_t len)
{
    size_t n = strlen(out);
    for (size_t i = 0; i < len; i++) {
        if (n + 4 >= size) {
            memcpy(out + (size - 4), "...", 4);
            return;
        }
        char c = text[i];
        out[n++] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    out[n] = 0;
}

/* X's subjectAltName as "DNS:a, IP:b" into OUT. */
static void sans_text(X509 *x, char *out, size_t size)
{
    out[0] = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const char *sep = out[0] ? ", " : "";
        if (gn->type == GEN_DNS) {
            const ASN1_STRING *s = gn->d.dNSName;
            append_text(out, size, sep, strlen(sep));
            append_text(out, size, "DNS:", 4);
            append_text(out, size, (const char *)ASN1_STRING_get0_data(s),
                        (size_t)ASN1_STRING_length(s));
        } else if (gn->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = gn->d.iPAddress;
            char ip[INET6_ADDRSTRLEN] = "?";
            int len = ASN1_STRING_length(s);
            if (len == 4 || len == 16)
                inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), ip, sizeof(ip));
            append_text(out, size, sep, strlen(sep));
            append_text(out, size, "IP:", 3);
            append_text(out, size, ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(names);
    ERR_clear_error();
}

/* An ASN.1 time as seconds since the epoch (0 when it cannot be read). */
static int64_t time_of(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* "AA:BB:..." of LEN bytes into OUT (3 * LEN bytes). */
static void colon_hex(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[3 * i] = digits[data[i] >> 4];
        out[3 * i + 1] = digits[data[i] & 15];
        out[3 * i + 2] = i + 1 < len ? ':' : 0;
    }
}

/* Fills *RET_INFO for X. */
static int cert_info(X509 *x, struct pki_cert_info *ret_info, struct reason *why)
{
    struct pki_cert_info info;
    unsigned char *der = NULL;
    unsigned n1 = 0, n256 = 0;
    memset(&info, 0, sizeof(info));

    name_text(X509_get_subject_name(x), info.subject, sizeof(info.subject));
    name_text(X509_get_issuer_name(x), info.issuer, sizeof(info.issuer));
    sans_text(x, info.sans, sizeof(info.sans));
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = serial ? BN_bn2hex(serial) : NULL;
    if (hex)
        snprintf(info.serial, sizeof(info.serial), "%s", hex);
    OPENSSL_free(hex);
    BN_free(serial);
    info.not_before = time_of(X509_get0_notBefore(x));
    info.not_after = time_of(X509_get0_notAfter(x));
    EVP_PKEY *pkey = X509_get0_pubkey(x);
    if (pkey)
        key_type_of(pkey, info.key_type, sizeof(info.key_type));
    info.ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
    info.self_signed = X509_self_signed(x, 1) == 1;
    if (!X509_digest(x, EVP_sha1(), info.sha1, &n1) ||
        !X509_digest(x, EVP_sha256(), info.sha256, &n256) || n1 != PKI_SHA1_LEN ||
        n256 != PKI_SHA256_LEN)
        return signing_openssl_reason(why, -EIO, "cannot hash the certificate");
    colon_hex(info.sha1, PKI_SHA1_LEN, info.sha1_text);
    colon_hex(info.sha256, PKI_SHA256_LEN, info.sha256_text);
    int der_len = pkey ? i2d_PUBKEY(pkey, &der) : -1;
    if (der_len <= 0)
        return signing_openssl_reason(why, -EIO, "cannot encode the certificate's public key");
    digest_sha256_hex(der, (size_t)der_len, info.spki_sha256);
    OPENSSL_free(der);
    ERR_clear_error();
    *ret_info = info;
    return 0;
}

int pki_chain_info(const struct pki_chain *chain, size_t index, struct pki_cert_info *ret_info,
                   struct reason *why)
{
    return cert_info(chain_cert(chain, index), ret_info, why);
}

int pki_chain_cert_pem(const struct pki_chain *chain, size_t index, struct buf *out,
                       struct reason *why)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_X509(bio, chain_cert(chain, index))) {
        BIO_free(bio);
        return signing_openssl_reason(why, -EIO, "cannot encode the certificate");
    }
    int r = append_bio(out, bio, "the certificate", why);
    BIO_free(bio);
    return r;
}

int pki_chain_pubkey_pem(const struct pki_chain *chain, size_t index, struct buf *out,
                         struct reason *why)
{
    EVP_PKEY *pkey = X509_get0_pubkey(chain_cert(chain, index));
    BIO *bio = BIO_new(BIO_s_mem());
    if (!pkey || !bio || !PEM_write_bio_PUBKEY(bio, pkey)) {
        BIO_free(bio);
        return signing_openssl_reason(why, -EIO, "cannot encode the public key");
    }
    int r = append_bio(out, bio, "the public key", why);
    BIO_free(bio);
    return r;
}

/* ---------------------------------------------------------------------------
 * Checking certificates. */

/*
 * Verifies LEAF through UNTRUSTED (may be NULL) to one of TRUSTED as a TLS
 * client would, with HOST (NULL: no name check).
 */
static int verify_leaf(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * trusted,
                       const char *host, struct reason *why)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int r;

    if (!store || !ctx) {
        r = signing_openssl_reason(why, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(trusted); i++) {
        if (!X509_STORE_add_cert(store, sk_X509_value(trusted, i))) {
            r = signing_openssl_reason(why, -EIO, "cannot use the trust anchor");
            goto out;
        }
    }
    if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        r = signing_openssl_reason(why, -EIO, "cannot set up the verification");
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    /* A trust anchor need not be a root, as in BearSSL. */
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (host) {
        unsigned char addr[16];
        bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                    : X509_VERIFY_PARAM_set1_host(param, host, 0);
        if (!ok) {
            r = signing_openssl_reason(why, -EIO, "cannot set the name to check");
            goto out;
        }
    }
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        r = reason_set(why, -EBADMSG, "%s (certificate %d of the chain)",
                       X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(ctx) + 1);
        goto out;
    }
    r = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return r;
}

int pki_chain_verify(const struct pki_chain *chain, const struct pki_chain *anchors,
                     const char *host, struct reason *why)
{
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    if (!untrusted)
        return reason_set(why, -ENOMEM, "out of memory");
    int r = 0;
    for (int i = 1; i < sk_X509_num(chain->certs) && r == 0; i++)
        if (!sk_X509_push(untrusted, sk_X509_value(chain->certs, i)))
            r = reason_set(why, -ENOMEM, "out of memory");
    if (r == 0)
        r = verify_leaf(chain_cert(chain, 0), untrusted, anchors->certs, host, why);
    sk_X509_free(untrusted); /* the certificates stay the chain's */
    return r;
}

bool pki_chain_issued_by(const struct pki_chain *chain, const struct pki_chain *anchors)
{
    X509 *anchor = chain_cert(anchors, 0);
    EVP_PKEY *anchor_key = X509_get0_pubkey(anchor);
    bool found = false;
    for (size_t i = 0; !found && i < pki_chain_length(chain); i++) {
        X509 *x = chain_cert(chain, i);
        found =
            X509_cmp(x, anchor) == 0 || (anchor_key && X509_check_issued(anchor, x) == X509_V_OK &&
                                         X509_verify(x, anchor_key) == 1);
    }
    ERR_clear_error();
    return found;
}

int pki_chain_key_matches(const struct pki_chain *chain, const char *key_path, struct reason *why)
{
    struct signing_key *key = NULL;
    int r = signing_key_load_private(key_path, &key, why);
    if (r < 0)
        return r;
    if (X509_check_private_key(chain_cert(chain, 0), key->pkey) != 1)
        r = reason_set(why, -EKEYREJECTED, "'%s' is not the key of the certificate", key_path);
    signing_key_free(key);
    ERR_clear_error();
    return r;
}

/* ---------------------------------------------------------------------------
 * Making certificates. */

static bool days_valid(unsigned days)
{
    return days >= 1 && days <= PKI_DAYS_MAX;
}

/* Version 3, a random positive serial of SERIAL_BYTES, valid from an hour ago for DAYS. */
static int cert_start(X509 *x, unsigned days, struct reason *why)
{
    unsigned char serial[SERIAL_BYTES];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return signing_openssl_reason(why, -EIO, "no random bytes for the serial");
    /* Positive, and the top byte non-zero so the DER integer keeps all 16 bytes. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    bool ok = bn && X509_set_version(x, X509_VERSION_3) &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_S) &&
              X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL);
    BN_free(bn);
    if (!ok)
        return signing_openssl_reason(why, -EIO, "cannot set the serial and dates");
    return 0;
}

/* Adds the extension NID with VALUE (OpenSSL's config syntax; never user input) to X. */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct reason *why)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ext || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        return signing_openssl_reason(why, -EIO, "cannot add a certificate extension");
    }
    X509_EXTENSION_free(ext);
    return 0;
}

/* Sets X's subject to CN=NAME. */
static int set_subject_cn(X509 *x, const char *name, struct reason *why)
{
    X509_NAME *subject = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1,
                                    -1, 0))
        return signing_openssl_reason(why, -EINVAL, "cannot use that name as a CN");
    return 0;
}

/* "otad fleet CA HOSTNAME", cut to PKI_NAME_MAX bytes; without the host name when it is odd. */
static void default_ca_name(char *out, size_t size)
{
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0] || !text_valid_utf8(host)) {
        snprintf(out, size, "%s", DEFAULT_CA_NAME);
        return;
    }
    size_t room = PKI_NAME_MAX - (sizeof(DEFAULT_CA_NAME) - 1) - 1;
    host[room] = 0;
    snprintf(out, size, "%s %s", DEFAULT_CA_NAME, host);
}

static bool key_type_is_rsa(enum signing_key_type type)
{
    return type == SIGNING_KEY_RSA_2048 || type == SIGNING_KEY_RSA_3072 ||
           type == SIGNING_KEY_RSA_4096;
}

int pki_ca_create(const char *cert_path, const char *key_path, const struct pki_ca_params *params,
                  struct reason *why)
{
    char name[PKI_NAME_MAX + 1];
    unsigned days = params->days ? params->days : PKI_CA_DAYS_DEFAULT;
    struct staged files[2] = {{"", NULL}, {"", NULL}};
    struct signing_key *key = NULL;
    BIO *key_bio = NULL, *cert_bio = NULL;
    X509 *x = NULL;
    int r;

    if (params->common_name) {
        size_t len = strlen(params->common_name);
        if (len == 0 || len > PKI_NAME_MAX || !text_valid_utf8(params->common_name))
            return reason_set(why, -EINVAL, "a CA name must be 1 to %u bytes of text, not '%s'",
                              PKI_NAME_MAX, params->common_name);
        snprintf(name, sizeof(name), "%s", params->common_name);
    } else {
        default_ca_name(name, sizeof(name));
    }
    if (!days_valid(days))
        return reason_set(why, -EINVAL, "days must be 1 to %u", PKI_DAYS_MAX);
    if (!signing_key_type_name(params->key_type))
        return reason_set(why, -EINVAL, "unknown key type");
    if (!params->force) {
        if ((r = check_absent(cert_path, "a CA certificate", why)) < 0 ||
            (r = check_absent(key_path, "a CA key", why)) < 0)
            return r;
    }

    EVP_PKEY *pkey = signing_pkey_generate(params->key_type);
    if (!pkey)
        return signing_openssl_reason(why, -EIO, "key generation failed");
    r = signing_key_wrap(pkey, true, signing_key_type_name(params->key_type), &key, why);
    if (r < 0)
        return r;

    x = X509_new();
    if (!x) {
        r = signing_openssl_reason(why, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = cert_start(x, days, why)) < 0 || (r = set_subject_cn(x, name, why)) < 0)
        goto out;
    if (!X509_set_issuer_name(x, X509_get_subject_name(x)) || !X509_set_pubkey(x, key->pkey)) {
        r = signing_openssl_reason(why, -EIO, "cannot build the certificate");
        goto out;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if ((r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", why)) < 0 ||
        (r = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", why)) < 0 ||
        (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash", why)) < 0)
        goto out;
    if (X509_sign(x, key->pkey, EVP_sha256()) <= 0) {
        r = signing_openssl_reason(why, -EIO, "cannot sign the CA certificate");
        goto out;
    }

    key_bio = private_pem(key->pkey);
    cert_bio = BIO_new(BIO_s_mem());
    if (!key_bio || !cert_bio || !PEM_write_bio_X509(cert_bio, x)) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the CA");
        goto out;
    }
    char *data;
    long len = BIO_get_mem_data(key_bio, &data);
    if ((r = stage(&files[0], key_path, data, (size_t)len, 0600, why)) < 0)
        goto out;
    len = BIO_get_mem_data(cert_bio, &data);
    if ((r = stage(&files[1], cert_path, data, (size_t)len, 0644, why)) < 0)
        goto out;
    r = commit(files, 2, params->force, why);
out:
    unstage(&files[0]);
    unstage(&files[1]);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    X509_free(x);
    signing_key_free(key);
    ERR_clear_error();
    return r;
}

/*
 * True when NAME can be a DNS name in a certificate: labels of letters,
 * digits and inner hyphens, 1 to 63 bytes each, at most PKI_HOST_MAX bytes
 * in all, no trailing dot; or "*." (a wildcard) and at least two labels.
 */
static bool host_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > PKI_HOST_MAX)
        return false;
    const char *p = name;
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    size_t labels = 0;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-')
            return false;
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-'))
                return false;
        }
        labels++;
        p += n;
        if (*p == '.') {
            p++;
            if (!*p)
                return false; /* a trailing dot */
        }
    }
    return labels >= (name[0] == '*' ? 2u : 1u);
}

/* Adds one name of TYPE (GEN_DNS or GEN_IPADD) with LEN bytes of DATA to NAMES. */
static int add_name(GENERAL_NAMES *names, int type, const void *data, int len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *s = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
    if (!gn || !s || !ASN1_STRING_set(s, data, len)) {
        ASN1_STRING_free(s);
        GENERAL_NAME_free(gn);
        return -ENOMEM;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    if (!sk_GENERAL_NAME_push(names, gn)) {
        GENERAL_NAME_free(gn);
        return -ENOMEM;
    }
    return 0;
}

/*
 * Adds the subjectAltName of PARAMS (already checked) to X: critical when
 * the subject is empty (RFC 5280 §4.2.1.6), which CRITICAL says.
 */
static int add_sans(X509 *x, const struct pki_server_params *params, bool critical,
                    struct reason *why)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    int r = names ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < params->host_count; i++)
        r = add_name(names, GEN_DNS, params->hosts[i], (int)strlen(params->hosts[i]));
    for (size_t i = 0; r == 0 && i < params->ip_count; i++) {
        unsigned char addr[16];
        int len = 4;
        if (inet_pton(AF_INET, params->ips[i], addr) != 1) {
            inet_pton(AF_INET6, params->ips[i], addr);
            len = 16;
        }
        r = add_name(names, GEN_IPADD, addr, len);
    }
    if (r == 0 && !X509_add1_ext_i2d(x, NID_subject_alt_name, names, critical, X509V3_ADD_DEFAULT))
        r = -EIO;
    GENERAL_NAMES_free(names);
    if (r < 0)
        return signing_openssl_reason(why, r, "cannot add the subjectAltName");
    return 0;
}

/* Checks the names of PARAMS: at least one, at most PKI_SAN_MAX, each well formed. */
static int check_names(const struct pki_server_params *params, struct reason *why)
{
    if (params->host_count + params->ip_count == 0)
        return reason_set(why, -EINVAL, "a server certificate needs a host name or an address");
    if (params->host_count + params->ip_count > PKI_SAN_MAX)
        return reason_set(why, -EINVAL, "at most %u host names and addresses", PKI_SAN_MAX);
    for (size_t i = 0; i < params->host_count; i++) {
        unsigned char addr[16];
        if (inet_pton(AF_INET, params->hosts[i], addr) == 1)
            return reason_set(why, -EINVAL,
                              "'%s' is an address: give it with --ip, which clients check "
                              "addresses against",
                              params->hosts[i]);
        if (!host_valid(params->hosts[i]))
            return reason_set(why, -EINVAL,
                              "'%s' is not a DNS name (letters, digits, '-' and dots; "
                              "an address goes to --ip)",
                              params->hosts[i]);
    }
    for (size_t i = 0; i < params->ip_count; i++) {
        unsigned char addr[16];
        if (inet_pton(AF_INET, params->ips[i], addr) != 1 &&
            inet_pton(AF_INET6, params->ips[i], addr) != 1)
            return reason_set(why, -EINVAL, "'%s' is not an IPv4 or IPv6 address", params->ips[i]);
    }
    return 0;
}

/*
 * The server key: the one at PARAMS->key_path when there is one and no new
 * key is asked for (it must be of key_type's algorithm), else a new one.
 */
static int server_key(const struct pki_server_params *params, struct signing_key **ret_key,
                      bool *ret_created, struct reason *why)
{
    bool want_rsa = key_type_is_rsa(params->key_type);
    struct stat st;
    if (!params->new_key && lstat(params->key_path, &st) == 0) {
        int r = signing_key_load_private(params->key_path, ret_key, why);
        if (r < 0)
            return r;
        struct signing_key_info info;
        signing_key_info(*ret_key, &info);
        if (info.rsa != want_rsa) {
            signing_key_free(*ret_key);
            *ret_key = NULL;
            return reason_set(why, -EINVAL,
                              "'%s' is an %s key, not %s; give --new-key to replace it",
                              params->key_path, info.type, want_rsa ? "rsa" : "ecdsa");
        }
        *ret_created = false;
        return 0;
    }
    EVP_PKEY *pkey = signing_pkey_generate(params->key_type);
    if (!pkey)
        return signing_openssl_reason(why, -EIO, "key generation failed");
    *ret_created = true;
    return signing_key_wrap(pkey, true, signing_key_type_name(params->key_type), ret_key, why);
}

int pki_server_issue(const struct pki_server_params *params, struct pki_issued *ret_issued,
                     struct reason *why)
{
    unsigned days = params->days ? params->days : PKI_SERVER_DAYS_DEFAULT;
    struct staged files[2] = {{"", NULL}, {"", NULL}};
    struct pki_chain *ca = NULL;
    struct signing_key *ca_key = NULL, *key = NULL;
    struct pki_issued issued = {false, false};
    BIO *key_bio = NULL, *cert_bio = NULL;
    STACK_OF(X509) *chain = NULL;
    X509 *x = NULL;
    int r;

    if ((r = check_names(params, why)) < 0)
        return r;
    if (!days_valid(days))
        return reason_set(why, -EINVAL, "days must be 1 to %u", PKI_DAYS_MAX);
    if (params->key_type != SIGNING_KEY_ECDSA_P256 && params->key_type != SIGNING_KEY_RSA_2048)
        return reason_set(why, -EINVAL, "a server key is ecdsa-p256 or rsa-2048");

    if ((r = pki_chain_load(params->ca_cert_path, &ca, why)) < 0 ||
        (r = signing_key_load_private(params->ca_key_path, &ca_key, why)) < 0)
        goto out;
    X509 *ca_cert = chain_cert(ca, 0);
    if (X509_check_ca(ca_cert) != 1) {
        r = reason_set(why, -EINVAL, "'%s' is not a CA certificate (basicConstraints CA:TRUE)",
                       params->ca_cert_path);
        goto out;
    }
    if (X509_check_private_key(ca_cert, ca_key->pkey) != 1) {
        r = reason_set(why, -EINVAL, "'%s' is not the key of '%s'", params->ca_key_path,
                       params->ca_cert_path);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(ca_cert)) <= 0) {
        r = reason_set(why, -EKEYEXPIRED, "the CA '%s' has expired", params->ca_cert_path);
        goto out;
    }
    if ((r = server_key(params, &key, &issued.key_created, why)) < 0)
        goto out;

    x = X509_new();
    if (!x) {
        r = signing_openssl_reason(why, -ENOMEM, "out of memory");
        goto out;
    }
    /*
     * The CN is the first name that fits X.520's 64 characters; clients
     * check the subjectAltName, which holds every name. With none short
     * enough the subject stays empty (RFC 5280 allows it with a SAN).
     */
    const char *cn = NULL;
    for (size_t i = 0; !cn && i < params->host_count; i++)
        if (strlen(params->hosts[i]) <= 64)
            cn = params->hosts[i];
    if (!cn && params->ip_count > 0)
        cn = params->ips[0];
    if ((r = cert_start(x, days, why)) < 0 || (cn && (r = set_subject_cn(x, cn, why)) < 0))
        goto out;
    if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca_cert)) > 0) {
        if (!X509_set1_notAfter(x, X509_get0_notAfter(ca_cert))) {
            r = signing_openssl_reason(why, -EIO, "cannot set the dates");
            goto out;
        }
        issued.clamped = true;
    }
    if (!X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) ||
        !X509_set_pubkey(x, key->pkey)) {
        r = signing_openssl_reason(why, -EIO, "cannot build the certificate");
        goto out;
    }
    bool rsa = key_type_is_rsa(params->key_type);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca_cert, x, NULL, NULL, 0);
    if ((r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", why)) < 0 ||
        (r = add_ext(x, &ctx, NID_key_usage,
                     rsa ? "critical,digitalSignature,keyEncipherment"
                         : "critical,digitalSignature",
                     why)) < 0 ||
        (r = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth", why)) < 0 ||
        (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash", why)) < 0 ||
        (r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid", why)) < 0 ||
        (r = add_sans(x, params, cn == NULL, why)) < 0)
        goto out;
    if (X509_sign(x, ca_key->pkey, EVP_sha256()) <= 0) {
        r = signing_openssl_reason(why, -EIO, "cannot sign the server certificate");
        goto out;
    }

    /* Check our own output as a device would, before anyone is served it. */
    chain = sk_X509_new_null();
    if (!chain || !sk_X509_push(chain, x)) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto out;
    }
    struct reason verdict = {""};
    if (verify_leaf(x, NULL, ca->certs, cn, &verdict) < 0) {
        r = reason_set(why, -EIO, "the new certificate does not verify against '%s': %s",
                       params->ca_cert_path, verdict.text);
        goto out;
    }
    for (size_t i = 0; i < pki_chain_length(ca); i++) {
        if (!sk_X509_push(chain, chain_cert(ca, i))) {
            r = reason_set(why, -ENOMEM, "out of memory");
            goto out;
        }
    }
    cert_bio = certs_pem(chain);
    if (!cert_bio) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the chain");
        goto out;
    }
    char *data;
    long len;
    size_t count = 0;
    if (issued.key_created) {
        key_bio = private_pem(key->pkey);
        if (!key_bio) {
            r = signing_openssl_reason(why, -EIO, "cannot encode the key");
            goto out;
        }
        len = BIO_get_mem_data(key_bio, &data);
        if ((r = stage(&files[count++], params->key_path, data, (size_t)len, 0600, why)) < 0)
            goto out;
    }
    len = BIO_get_mem_data(cert_bio, &data);
    if ((r = stage(&files[count++], params->cert_path, data, (size_t)len, 0644, why)) < 0)
        goto out;
    r = commit(files, count, true, why);
    if (r == 0 && ret_issued)
        *ret_issued = issued;
out:
    unstage(&files[0]);
    unstage(&files[1]);
    sk_X509_free(chain); /* the certificates are X's and the CA chain's */
    BIO_free(cert_bio);
    BIO_free(key_bio);
    X509_free(x);
    signing_key_free(key);
    signing_key_free(ca_key);
    pki_chain_free(ca);
    ERR_clear_error();
    return r;
}

/* OpenSSL's passphrase callback: otad never prompts, so an encrypted key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    return -1;
}

/* Loads the unencrypted PEM private key at PATH for copying (any mode we can read). */
static int load_key_to_copy(const char *path, struct signing_key **ret_key, struct reason *why)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int r = file_read_all(path, SIGNING_KEY_FILE_MAX, &data, &len);
    if (r == -EFBIG)
        return reason_set(why, r, "private key '%s' is larger than %u bytes", path,
                          SIGNING_KEY_FILE_MAX);
    if (r < 0)
        return reason_set(why, r, "cannot read private key '%s': %s", path, strerror(-r));
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!pkey && strstr((const char *)data, "ENCRYPTED")) {
        r = reason_set(why, -EINVAL, "private key '%s' is encrypted; decrypt it first", path);
    } else if (!pkey) {
        r = reason_set(why, -EINVAL, "'%s' is not a PEM private key", path);
    } else {
        char display[PATH_MAX + 8];
        snprintf(display, sizeof(display), "'%s'", path);
        r = signing_key_wrap(pkey, true, display, ret_key, why);
    }
    OPENSSL_cleanse(data, len);
    free(data);
    return r;
}

int pki_server_import(const char *chain_path, const char *key_path, const char *cert_dest,
                      const char *key_dest, struct reason *why)
{
    struct staged files[2] = {{"", NULL}, {"", NULL}};
    struct pki_chain *chain = NULL;
    struct signing_key *key = NULL;
    BIO *key_bio = NULL, *cert_bio = NULL;
    int r;

    if ((r = pki_chain_load(chain_path, &chain, why)) < 0 ||
        (r = load_key_to_copy(key_path, &key, why)) < 0)
        goto out;
    if (X509_check_private_key(chain_cert(chain, 0), key->pkey) != 1) {
        r = reason_set(why, -EKEYREJECTED,
                       "'%s' is not the key of the first certificate of '%s' (the leaf must "
                       "come first, as in fullchain.pem)",
                       key_path, chain_path);
        goto out;
    }
    for (size_t i = 0; i + 1 < pki_chain_length(chain); i++) {
        if (X509_check_issued(chain_cert(chain, i + 1), chain_cert(chain, i)) != X509_V_OK) {
            r = reason_set(why, -EINVAL,
                           "certificate %zu of '%s' is not issued by certificate %zu: give the "
                           "chain in order, the leaf first",
                           i + 1, chain_path, i + 2);
            goto out;
        }
    }
    key_bio = private_pem(key->pkey);
    cert_bio = certs_pem(chain->certs);
    if (!key_bio || !cert_bio) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the certificate and key");
        goto out;
    }
    char *data;
    long len = BIO_get_mem_data(key_bio, &data);
    if ((r = stage(&files[0], key_dest, data, (size_t)len, 0600, why)) < 0)
        goto out;
    len = BIO_get_mem_data(cert_bio, &data);
    if ((r = stage(&files[1], cert_dest, data, (size_t)len, 0644, why)) < 0)
        goto out;
    r = commit(files, 2, true, why);
out:
    unstage(&files[0]);
    unstage(&files[1]);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    signing_key_free(key);
    pki_chain_free(chain);
    ERR_clear_error();
    return r;
}

/* ---------------------------------------------------------------------------
 * The C header for sketches. */

/* "2046-05-01" for T into OUT[11]. */
static void date_text(int64_t t, char out[11])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 11, "%Y-%m-%d", &tm))
        snprintf(out, 11, "?");
}

/* Appends "static const uint8_t IDENT_SUFFIX[LEN] = {...};". */
static int print_bytes(struct buf *out, const char *ident, const char *suffix, const uint8_t *data,
                       size_t len)
{
    int r = buf_printf(out, "static const uint8_t %s_%s[%zu] = {", ident, suffix, len);
    for (size_t i = 0; r == 0 && i < len; i++)
        r = buf_printf(out, "%s0x%02X,", i % 10 == 0 ? "\n    " : " ", data[i]);
    if (r == 0)
        r = buf_printf(out, "\n};\n");
    return r;
}

/* Appends "static const char NAME[] PROGMEM = R"PEM(...)PEM";" with the PEM in PEM. */
static int print_pem(struct buf *out, const char *name, const struct buf *pem)
{
    return buf_printf(out, "static const char %s[] PROGMEM = R\"PEM(%.*s)PEM\";\n", name,
                      (int)pem->len, (const char *)pem->data);
}

/* The part of the header for the anchor. */
static int print_anchor(struct buf *out, const struct pki_chain *anchor, bool fleet_ca,
                        struct reason *why)
{
    struct pki_cert_info info;
    struct buf pem;
    char until[11];
    size_t top = pki_chain_length(anchor) - 1;
    int r;

    buf_init(&pem, 64u * 1024u);
    if ((r = pki_chain_info(anchor, top, &info, why)) < 0 ||
        (r = pki_chain_cert_pem(anchor, top, &pem, why)) < 0)
        goto out;
    date_text(info.not_after, until);
    if (fleet_ca)
        r = buf_printf(out,
                       "/*\n"
                       " * The fleet CA: %s, %s, valid until %s.\n"
                       " * Survives every `otad tls cert` renewal, with or without --new-key;\n"
                       " * only `otad tls ca init --force` replaces it.\n",
                       info.subject, info.key_type, until);
    else
        r = buf_printf(out,
                       "/*\n"
                       " * Not an otad fleet CA: the top certificate of the server's chain,\n"
                       " * %s (%s), issued by %s, valid until %s.\n"
                       " * It works while the issuer keeps issuing under it; public CAs change\n"
                       " * their intermediates now and then, so prefer their root certificate.\n",
                       info.subject, info.key_type, info.issuer, until);
    if (r == 0)
        r = buf_printf(out, " *   ESP8266: BearSSL::X509List otadCA(OTAD_FLEET_CA);\n"
                            " *            client.setTrustAnchors(&otadCA);\n"
                            " *            (dates are checked: set the clock first, configTime)\n"
                            " *   ESP32:   client.setCACert(OTAD_FLEET_CA);\n"
                            " *   ESP-IDF: .cert_pem = OTAD_FLEET_CA\n"
                            " */\n");
    if (r == 0)
        r = print_pem(out, "OTAD_FLEET_CA", &pem);
out:
    buf_release(&pem);
    return r;
}

/*
 * Appends TEXT (a list "a, b, c") to OUT as comment lines that start with
 * PREFIX and stay within 78 columns where the items allow.
 */
static int print_wrapped(struct buf *out, const char *prefix, const char *text)
{
    size_t col = strlen(prefix);
    int r = buf_printf(out, "%s", prefix);
    const char *p = text;
    bool first = true;
    while (r == 0 && *p) {
        const char *comma = strstr(p, ", ");
        size_t n = comma ? (size_t)(comma - p) + 1 : strlen(p);
        if (!first && col + 1 + n > 78) {
            r = buf_printf(out, "\n *  ");
            col = 5;
        }
        if (r == 0)
            r = buf_printf(out, " %.*s", (int)n, p);
        col += 1 + n;
        first = false;
        p += n;
        while (*p == ' ')
            p++;
    }
    if (r == 0)
        r = buf_printf(out, "\n");
    return r;
}

/* The part of the header for one server certificate. */
static int print_leaf(struct buf *out, const struct pki_export_leaf *leaf, struct reason *why)
{
    struct pki_cert_info info;
    struct buf pem;
    char until[11], name[IDENT_MAX + 16];
    int r;

    buf_init(&pem, 64u * 1024u);
    if ((r = pki_chain_info(leaf->chain, 0, &info, why)) < 0 ||
        (r = pki_chain_pubkey_pem(leaf->chain, 0, &pem, why)) < 0)
        goto out;
    date_text(info.not_after, until);
    bool ec = strncmp(info.key_type, "ecdsa", 5) == 0;
    r = buf_printf(out,
                   "\n"
                   "/*\n"
                   " * %s: %s, %s, valid until %s,\n",
                   leaf->file, info.subject, info.key_type, until);
    if (r == 0)
        r = print_wrapped(out, " * for", info.sans[0] ? info.sans : "no subjectAltName");
    if (r == 0)
        r = buf_printf(out,
                       " *\n"
                       " * %s_SHA1 and _SHA256 pin the certificate itself. It changes\n"
                       " * at every renewal: a device that pins it needs new firmware first.\n"
                       " *   SHA1   %s\n"
                       " *   SHA256 %s\n"
                       " *   ESP8266: client.setFingerprint(%s_SHA1);\n"
                       " *   ESP32:   after connect(), client.getFingerprintSHA256(fp) equals\n"
                       " *            %s_SHA256\n"
                       " */\n",
                       leaf->ident, info.sha1_text, info.sha256_text, leaf->ident, leaf->ident);
    if (r == 0)
        r = print_bytes(out, leaf->ident, "SHA1", info.sha1, PKI_SHA1_LEN);
    if (r == 0)
        r = print_bytes(out, leaf->ident, "SHA256", info.sha256, PKI_SHA256_LEN);
    if (r == 0)
        r = buf_printf(out,
                       "/*\n"
                       " * %s_PUBKEY: the server's public key (%s). `otad tls cert`\n"
                       " * keeps the key when it renews, unless --new-key.\n"
                       " *   ESP8266: BearSSL::PublicKey otadKey(%s_PUBKEY);\n"
                       " *            client.setKnownKey(&otadKey);%s\n"
                       " */\n",
                       leaf->ident, info.key_type, leaf->ident,
                       ec ? "\n *            (not in BearSSL's basic SSL build: no ECDSA there)"
                          : "");
    snprintf(name, sizeof(name), "%s_PUBKEY", leaf->ident);
    if (r == 0)
        r = print_pem(out, name, &pem);
out:
    buf_release(&pem);
    return r;
}

int pki_export_header(const struct pki_chain *anchor, bool fleet_ca,
                      const struct pki_export_leaf *leaves, size_t leaf_count, struct buf *out,
                      struct reason *why)
{
    struct reason inner = {""};
    struct pki_cert_info top;
    if (pki_chain_info(anchor, pki_chain_length(anchor) - 1, &top, why) < 0)
        return -EIO;
    bool anchor_ec = strncmp(top.key_type, "ecdsa", 5) == 0;
    for (size_t i = 0; i < leaf_count; i++)
        if (!signing_c_identifier(leaves[i].ident, IDENT_MAX))
            return reason_set(why, -EINVAL, "'%s' is not a C identifier of at most %u bytes",
                              leaves[i].ident ? leaves[i].ident : "", IDENT_MAX);
    int r = buf_printf(out,
                       "/*\n"
                       " * How devices trust otad's HTTPS server, written by otad %s\n"
                       " * (`otad tls export --format header`). Include it in one source file\n"
                       " * of a sketch (C++, or GNU C: the PEM texts are raw string literals).\n"
                       " * Nothing here is secret.\n"
                       " *\n"
                       " * Pin one of: the CA (OTAD_FLEET_CA), the server's public key\n"
                       " * (..._PUBKEY) or its certificate (..._SHA1). Which survives what is\n"
                       " * said at each; docs/TLS.md has the whole story.\n"
                       " */\n"
                       "#ifndef OTAD_TLS_TRUST_H\n"
                       "#define OTAD_TLS_TRUST_H\n"
                       "\n"
                       "#include <stdint.h>\n"
                       "\n"
                       "#ifndef PROGMEM\n"
                       "#define PROGMEM\n"
                       "#endif\n"
                       "\n",
                       OTAD_VERSION);
    if (r == 0)
        r = print_anchor(out, anchor, fleet_ca, &inner);
    if (r == 0 && leaf_count > 1)
        r = buf_printf(out,
                       "\n"
                       "/*\n"
                       " * The server has %zu certificates and shows the one that suits the\n"
                       " * client's cipher suites: a client that offers only RSA key exchange\n"
                       " * (setCiphersLessSecure(), or BearSSL's basic SSL build) gets the RSA\n"
                       " * one. Trusting the CA covers both.%s\n"
                       " */\n",
                       leaf_count,
                       anchor_ec ? "\n * Except that BearSSL's basic SSL build cannot check "
                                   "ECDSA\n * signatures: firmware built with it cannot use "
                                   "this ECDSA CA and\n * pins OTAD_SERVER_RSA_PUBKEY instead "
                                   "(or make an RSA CA:\n * otad tls ca init --rsa)."
                                 : "");
    for (size_t i = 0; r == 0 && i < leaf_count; i++)
        r = print_leaf(out, &leaves[i], &inner);
    if (r == 0)
        r = buf_printf(out, "\n#endif\n");
    if (r < 0 && inner.text[0])
        return reason_set(why, r, "%s", inner.text);
    if (r < 0)
        return reason_set(why, r, "cannot hold the C header");
    return 0;
}
