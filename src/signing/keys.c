/*
 * Signing keys: generation, the key files, loading, description and export.
 * A private key file is the only secret otad keeps on disk, so this file
 * refuses one that another user could read, never prompts for a passphrase,
 * holds PEM text of private keys only in buffers it wipes, and never puts key
 * bytes in a reason. Signing and verifying with a loaded key is in sign.c.
 */
#include "signing/signing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "core/digest.h"
#include "signing/key_internal.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 4096 /* the largest BearSSL (the devices' verifier) takes */
#define C_IDENT_MAX  64u

static const char *const format_names[] = {
    [SIGNING_FORMAT_AUTO] = "auto",
    [SIGNING_FORMAT_ESP8266] = "esp8266",
    [SIGNING_FORMAT_ESP8266_LEGACY] = "esp8266-legacy",
    [SIGNING_FORMAT_ESP32] = "esp32",
};

static const char *const hash_names[] = {
    [SIGNING_HASH_AUTO] = "auto",
    [SIGNING_HASH_SHA256] = "sha256",
    [SIGNING_HASH_SHA384] = "sha384",
    [SIGNING_HASH_SHA512] = "sha512",
};

static const char *const key_type_names[] = {
    [SIGNING_KEY_RSA_2048] = "rsa-2048",     [SIGNING_KEY_RSA_3072] = "rsa-3072",
    [SIGNING_KEY_RSA_4096] = "rsa-4096",     [SIGNING_KEY_ECDSA_P256] = "ecdsa-p256",
    [SIGNING_KEY_ECDSA_P384] = "ecdsa-p384",
};

/* Looks NAME up in a table of COUNT names; returns its index or -EINVAL. */
static int name_index(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; name && i < count; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -EINVAL;
}

const char *signing_format_name(enum signing_format format)
{
    return (unsigned)format < ARRAY_SIZE(format_names) ? format_names[format] : NULL;
}

int signing_format_parse(const char *name, enum signing_format *ret_format)
{
    int i = name_index(format_names, ARRAY_SIZE(format_names), name);
    if (i < 0)
        return i;
    *ret_format = (enum signing_format)i;
    return 0;
}

const char *signing_hash_name(enum signing_hash hash)
{
    return (unsigned)hash < ARRAY_SIZE(hash_names) ? hash_names[hash] : NULL;
}

int signing_hash_parse(const char *name, enum signing_hash *ret_hash)
{
    int i = name_index(hash_names, ARRAY_SIZE(hash_names), name);
    if (i < 0)
        return i;
    *ret_hash = (enum signing_hash)i;
    return 0;
}

const char *signing_key_type_name(enum signing_key_type type)
{
    return (unsigned)type < ARRAY_SIZE(key_type_names) ? key_type_names[type] : NULL;
}

int signing_key_type_parse(const char *name, enum signing_key_type *ret_type)
{
    int i = name_index(key_type_names, ARRAY_SIZE(key_type_names), name);
    if (i < 0)
        return i;
    *ret_type = (enum signing_key_type)i;
    return 0;
}

bool signing_key_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > SIGNING_KEY_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

int signing_key_path(char *out, size_t size, const char *keys_dir, const char *name,
                     bool private_key)
{
    if (!signing_key_name_valid(name))
        return -EINVAL;
    int n = snprintf(out, size, "%s/%s.%s", keys_dir, name, private_key ? "key" : "pub");
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return 0;
}

int signing_openssl_reason(struct reason *why, int err, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *detail = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (detail)
        return reason_set(why, err, "%s: %s", what, detail);
    return reason_set(why, err, "%s", what);
}

int signing_key_wrap(EVP_PKEY *pkey, bool private_key, const char *display,
                     struct signing_key **ret_key, struct reason *why)
{
    struct signing_key *key = NULL;
    unsigned char *der = NULL;
    int r;

    key = calloc(1, sizeof(*key));
    if (!key) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto fail;
    }
    key->pkey = pkey;
    pkey = NULL;
    struct signing_key_info *info = &key->info;
    info->private_key = private_key;
    info->bits = (unsigned)EVP_PKEY_get_bits(key->pkey);
    info->sig_len = (size_t)EVP_PKEY_get_size(key->pkey);

    if (EVP_PKEY_is_a(key->pkey, "RSA")) {
        if (info->bits < RSA_MIN_BITS || info->bits > RSA_MAX_BITS) {
            r = reason_set(why, -ENOTSUP,
                           "%s is an rsa-%u key; otad takes rsa keys of %d to %d bits", display,
                           info->bits, RSA_MIN_BITS, RSA_MAX_BITS);
            goto fail;
        }
        info->rsa = true;
        snprintf(info->type, sizeof(info->type), "rsa-%u", info->bits);
    } else if (EVP_PKEY_is_a(key->pkey, "EC")) {
        char group[64] = "";
        if (!EVP_PKEY_get_utf8_string_param(key->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), NULL)) {
            r = signing_openssl_reason(why, -ENOTSUP, "ecdsa key without a named curve");
            goto fail;
        }
        int nid = OBJ_sn2nid(group);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(group);
        if (nid == NID_X9_62_prime256v1) {
            snprintf(info->type, sizeof(info->type), "ecdsa-p256");
        } else if (nid == NID_secp384r1) {
            snprintf(info->type, sizeof(info->type), "ecdsa-p384");
        } else {
            r = reason_set(why, -ENOTSUP,
                           "%s is an ecdsa key on curve '%s'; otad takes p-256 and p-384", display,
                           group);
            goto fail;
        }
        /* Devices (BearSSL, mbedTLS) read uncompressed points. */
        if (!EVP_PKEY_set_utf8_string_param(key->pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                            OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED)) {
            r = signing_openssl_reason(why, -EIO, "cannot set the ecdsa point format");
            goto fail;
        }
    } else {
        r = reason_set(why, -ENOTSUP,
                       "%s is a '%s' key; otad takes rsa (2048 to 4096 bits) and ecdsa "
                       "p-256 / p-384",
                       display, EVP_PKEY_get0_type_name(key->pkey));
        goto fail;
    }

    int der_len = i2d_PUBKEY(key->pkey, &der);
    if (der_len <= 0) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the public key");
        goto fail;
    }
    digest_sha256_hex(der, (size_t)der_len, info->fingerprint);
    OPENSSL_free(der);
    *ret_key = key;
    return 0;

fail:
    OPENSSL_free(der);
    signing_key_free(key);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return r;
}

void signing_key_free(struct signing_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL wipes private components it frees */
    free(key);
}

void signing_key_info(const struct signing_key *key, struct signing_key_info *ret_info)
{
    *ret_info = key->info;
}

/* OpenSSL's passphrase callback: otad never prompts, so an encrypted key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    return -1;
}

/*
 * Reads the private key file at PATH after checking who can read it.
 * On success *RET_DATA (NUL-terminated, caller wipes and frees) and *RET_LEN.
 */
static int read_private_file(const char *path, uint8_t **ret_data, size_t *ret_len,
                             struct reason *why)
{
    uint8_t *data = NULL;
    struct stat st;
    size_t len = 0;
    int r;

    /* O_NONBLOCK: a FIFO planted at PATH must not hang us before the S_ISREG check. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        r = -errno;
        return reason_set(why, r, "cannot open private key '%s': %s", path, strerror(-r));
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        reason_set(why, r, "cannot stat private key '%s': %s", path, strerror(-r));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = reason_set(why, -EINVAL, "private key '%s' is not a regular file", path);
        goto out;
    }
    if (st.st_uid != geteuid()) {
        r = reason_set(why, -EPERM,
                       "private key '%s' belongs to uid %u, not to uid %u that runs otad; "
                       "otad uses only its own private keys",
                       path, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if (st.st_mode & 077) {
        r = reason_set(why, -EPERM,
                       "private key '%s' has mode %04o, so other users can reach it; otad "
                       "refuses it (run: chmod 600 '%s')",
                       path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if ((uint64_t)st.st_size > SIGNING_KEY_FILE_MAX) {
        r = reason_set(why, -EFBIG, "private key '%s' is larger than %u bytes", path,
                       SIGNING_KEY_FILE_MAX);
        goto out;
    }
    data = malloc((size_t)st.st_size + 1);
    if (!data) {
        r = reason_set(why, -ENOMEM, "out of memory");
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            reason_set(why, r, "cannot read private key '%s': %s", path, strerror(-r));
            goto out;
        }
        len += (size_t)n;
    }
    data[len] = 0;
    *ret_data = data;
    *ret_len = len;
    data = NULL;
    r = 0;
out:
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    close(fd);
    return r;
}

int signing_key_load_private(const char *path, struct signing_key **ret_key, struct reason *why)
{
    uint8_t *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    int r;

    r = read_private_file(path, &data, &len, why);
    if (r < 0)
        return r;
    bio = BIO_new_mem_buf(data, (int)len);
    if (!bio) {
        r = signing_openssl_reason(why, -ENOMEM, "out of memory");
        goto out;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (!pkey) {
        ERR_clear_error();
        if (strstr((const char *)data, "ENCRYPTED"))
            r = reason_set(why, -EINVAL,
                           "private key '%s' is encrypted; otad takes an unencrypted key "
                           "protected by mode 0600",
                           path);
        else
            r = reason_set(why, -EINVAL, "'%s' is not a PEM private key", path);
        goto out;
    }
    char display[PATH_MAX + 16];
    snprintf(display, sizeof(display), "'%s'", path);
    r = signing_key_wrap(pkey, true, display, ret_key, why);
out:
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    return r;
}

/* Parses public PEM text; DISPLAY names its origin in reasons. */
static int load_public_pem(const void *pem, size_t len, const char *display,
                           struct signing_key **ret_key, struct reason *why)
{
    if (len > SIGNING_KEY_FILE_MAX)
        return reason_set(why, -EFBIG, "%s is larger than %u bytes", display, SIGNING_KEY_FILE_MAX);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return signing_openssl_reason(why, -ENOMEM, "out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!pkey) {
        ERR_clear_error();
        return reason_set(why, -EINVAL, "%s holds no PEM public key (\"BEGIN PUBLIC KEY\")",
                          display);
    }
    return signing_key_wrap(pkey, false, display, ret_key, why);
}

int signing_key_load_public(const char *path, struct signing_key **ret_key, struct reason *why)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int r = file_read_all(path, SIGNING_KEY_FILE_MAX, &data, &len);
    if (r == -EFBIG)
        return reason_set(why, r, "public key '%s' is larger than %u bytes", path,
                          SIGNING_KEY_FILE_MAX);
    if (r < 0)
        return reason_set(why, r, "cannot read public key '%s': %s", path, strerror(-r));
    char display[PATH_MAX + 16];
    snprintf(display, sizeof(display), "'%s'", path);
    r = load_public_pem(data, len, display, ret_key, why);
    free(data);
    return r;
}

int signing_key_from_pem(const void *pem, size_t len, struct signing_key **ret_key,
                         struct reason *why)
{
    return load_public_pem(pem, len, "the key", ret_key, why);
}

EVP_PKEY *signing_pkey_generate(enum signing_key_type type)
{
    switch (type) {
    case SIGNING_KEY_RSA_2048:
        return EVP_RSA_gen(2048);
    case SIGNING_KEY_RSA_3072:
        return EVP_RSA_gen(3072);
    case SIGNING_KEY_RSA_4096:
        return EVP_RSA_gen(4096);
    case SIGNING_KEY_ECDSA_P256:
        return EVP_EC_gen("P-256");
    case SIGNING_KEY_ECDSA_P384:
        return EVP_EC_gen("P-384");
    }
    return NULL;
}

/* Fails with -EEXIST unless nothing is at PATH. */
static int check_absent(const char *path, struct reason *why)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return reason_set(why, -EEXIST, "'%s' already exists; otad never overwrites a key", path);
    if (errno != ENOENT) {
        int r = -errno;
        return reason_set(why, r, "cannot check '%s': %s", path, strerror(-r));
    }
    return 0;
}

/* Writes the public PEM of KEY to a new memory BIO. */
static BIO *public_pem_bio(const struct signing_key *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && !PEM_write_bio_PUBKEY(bio, key->pkey)) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

int signing_key_generate(const char *keys_dir, const char *name, enum signing_key_type type,
                         struct signing_key **ret_key, struct reason *why)
{
    char private_path[PATH_MAX], public_path[PATH_MAX];
    struct signing_key *key = NULL;
    BIO *private_bio = NULL, *public_bio = NULL;
    bool private_written = false;
    char *pem;
    long pem_len;
    int r;

    if (!signing_key_name_valid(name))
        return reason_set(why, -EINVAL,
                          "invalid key name '%s': use 1 to %u letters, digits, '.', '_' or '-', "
                          "not starting with '.' or '-'",
                          name ? name : "", SIGNING_KEY_NAME_MAX);
    const char *type_name = signing_key_type_name(type);
    if (!type_name)
        return reason_set(why, -EINVAL, "unknown key type");
    if (signing_key_path(private_path, sizeof(private_path), keys_dir, name, true) < 0 ||
        signing_key_path(public_path, sizeof(public_path), keys_dir, name, false) < 0)
        return reason_set(why, -ENAMETOOLONG, "keys folder path '%s' is too long", keys_dir);
    r = dir_create_all(keys_dir, 0700);
    if (r < 0)
        return reason_set(why, r, "cannot create keys folder '%s': %s", keys_dir, strerror(-r));
    r = check_absent(private_path, why);
    if (r < 0)
        return r;
    r = check_absent(public_path, why);
    if (r < 0)
        return r;

    EVP_PKEY *pkey = signing_pkey_generate(type);
    if (!pkey)
        return signing_openssl_reason(why, -EIO, "key generation failed");
    r = signing_key_wrap(pkey, true, type_name, &key, why);
    if (r < 0)
        return r;

    /* The private PEM lives only in a buffer that is wiped when freed. */
    private_bio = BIO_new(BIO_s_secmem());
    if (!private_bio ||
        !PEM_write_bio_PrivateKey(private_bio, key->pkey, NULL, NULL, 0, NULL, NULL)) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the private key");
        goto out;
    }
    pem_len = BIO_get_mem_data(private_bio, &pem);
    r = file_write_atomic(private_path, pem, (size_t)pem_len, 0600);
    if (r < 0) {
        reason_set(why, r, "cannot write '%s': %s", private_path, strerror(-r));
        goto out;
    }
    private_written = true;

    public_bio = public_pem_bio(key);
    if (!public_bio) {
        r = signing_openssl_reason(why, -EIO, "cannot encode the public key");
        goto out;
    }
    pem_len = BIO_get_mem_data(public_bio, &pem);
    r = file_write_atomic(public_path, pem, (size_t)pem_len, 0644);
    if (r < 0) {
        reason_set(why, r, "cannot write '%s': %s", public_path, strerror(-r));
        goto out;
    }
    if (ret_key) {
        *ret_key = key;
        key = NULL;
    }
    r = 0;
out:
    /* A key without its public half is removed, so a retry starts clean. */
    if (r < 0 && private_written)
        unlink(private_path);
    BIO_free(public_bio);
    BIO_free(private_bio);
    signing_key_free(key);
    return r;
}

int signing_key_export_pem(const struct signing_key *key, struct buf *out, struct reason *why)
{
    BIO *bio = public_pem_bio(key);
    if (!bio)
        return signing_openssl_reason(why, -EIO, "cannot encode the public key");
    char *pem;
    long len = BIO_get_mem_data(bio, &pem);
    int r = buf_append(out, pem, (size_t)len);
    BIO_free(bio);
    if (r < 0)
        return reason_set(why, r, "cannot hold the public key: %s", strerror(-r));
    return 0;
}

/*
 * Whether the first 64-character base64 line of a PEM body made from DER
 * (LEN bytes) occurs in IMAGE. A PEM writer breaks lines every 64
 * characters, so that line is base64 of DER's first 48 bytes whoever wrote
 * the PEM; for an RSA key those bytes include its modulus, unique to it.
 */
static bool pem_first_line_in(const unsigned char *der, int len, const uint8_t *image,
                              size_t image_len)
{
    unsigned char line[65];
    if (len < 48 || EVP_EncodeBlock(line, der, 48) != 64)
        return false;
    return memmem(image, image_len, line, 64) != NULL;
}

bool signing_key_embedded_in(const struct signing_key *key, const uint8_t *image, size_t len)
{
    bool found = false;
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key->pkey, &der);
    if (n > 0)
        found = pem_first_line_in(der, n, image, len);
    OPENSSL_free(der);
    if (!found && EVP_PKEY_get_base_id(key->pkey) == EVP_PKEY_RSA) {
        der = NULL;
        /* PKCS#1 RSAPublicKey: what Python's cryptography writes as public.key
         * (PublicFormat.PKCS1). */
        OSSL_ENCODER_CTX *ctx = OSSL_ENCODER_CTX_new_for_pkey(key->pkey, EVP_PKEY_PUBLIC_KEY, "DER",
                                                              "type-specific", NULL);
        size_t dlen = 0;
        if (ctx && OSSL_ENCODER_to_data(ctx, &der, &dlen) == 1 && dlen <= INT_MAX)
            found = pem_first_line_in(der, (int)dlen, image, len);
        OSSL_ENCODER_CTX_free(ctx);
        OPENSSL_free(der);
    }
    return found;
}

bool signing_c_identifier(const char *s, size_t max_len)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > max_len || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* The usage lines of the header comment, by key type. Returns 0 or the error of buf_printf. */
static int print_usage_comment(struct buf *out, const struct signing_key *key, const char *ident)
{
    if (key->info.rsa) {
        return buf_printf(
            out,
            " *   ESP8266 (core >= 2.6, `otad sign --format esp8266`):\n"
            " *     BearSSL::PublicKey signPubKey(%s, %s_len);\n"
            " *     BearSSL::HashSHA256 hash;\n"
            " *     BearSSL::SigningVerifier sign(&signPubKey);\n"
            " *     Update.installSignature(&hash, &sign);\n"
            " *   ESP32 (arduino-esp32 >= 3.3 with -DUPDATE_SIGN, `--format esp32`):\n"
            " *     UpdaterRSAVerifier sign(%s, %s_len, HASH_SHA256);\n"
            " *     Update.installSignature(&sign);\n",
            ident, ident, ident, ident);
    } else {
        return buf_printf(
            out,
            " *   ESP32 (arduino-esp32 >= 3.3 with -DUPDATE_SIGN, `--format esp32`):\n"
            " *     UpdaterECDSAVerifier sign(%s, %s_len, HASH_SHA256);\n"
            " *     Update.installSignature(&sign);\n"
            " *   (ESP8266 updaters cannot check ECDSA images; use an RSA key there.)\n",
            ident, ident);
    }
}

int signing_key_export_c(const struct signing_key *key, const char *name, const char *ident,
                         struct buf *out, struct reason *why)
{
    if (!signing_c_identifier(ident, C_IDENT_MAX))
        return reason_set(why, -EINVAL, "'%s' is not a C identifier of at most %u bytes",
                          ident ? ident : "", C_IDENT_MAX);
    BIO *bio = public_pem_bio(key);
    if (!bio)
        return signing_openssl_reason(why, -EIO, "cannot encode the public key");
    char *pem;
    long pem_len = BIO_get_mem_data(bio, &pem);

    int r = buf_printf(out,
                       "/*\n"
                       " * Public key%s%s%s for signed firmware updates, written by otad %s\n"
                       " * (`otad key export --format c`).\n"
                       " * Type %s; SHA-256 of its DER SubjectPublicKeyInfo:\n"
                       " * %s\n"
                       " *\n"
                       " * The array holds the PEM text and a terminating NUL; its _len counts\n"
                       " * the NUL, which mbedTLS's PEM parser (ESP32) requires and BearSSL\n"
                       " * (ESP8266) ignores.\n"
                       " * Include it in one source file (a sketch's .ino); a public key is not\n"
                       " * secret, so this file may be committed.\n"
                       " *\n",
                       name ? " \"" : "", name ? name : "", name ? "\"" : "", OTAD_VERSION,
                       key->info.type, key->info.fingerprint);
    if (r == 0)
        r = print_usage_comment(out, key, ident);
    if (r == 0)
        r = buf_printf(out,
                       " */\n"
                       "#include <stddef.h>\n"
                       "#include <stdint.h>\n"
                       "\n"
                       "const uint8_t %s[] = {",
                       ident);
    for (long i = 0; r == 0 && i <= pem_len; i++) {
        uint8_t byte = i < pem_len ? (uint8_t)pem[i] : 0;
        r = buf_printf(out, "%s0x%02x,", i % 12 == 0 ? "\n    " : " ", byte);
    }
    if (r == 0)
        r = buf_printf(out, "\n};\nconst size_t %s_len = sizeof(%s);\n", ident, ident);
    BIO_free(bio);
    if (r < 0)
        return reason_set(why, -E2BIG, "cannot hold the C header");
    return 0;
}
