/* tls_client_bearssl: an ESP8266 stand-in on BearSSL (Debian's libbearssl 0.6).
 *
 * Behaves like the ESP8266 Arduino core's BearSSL::WiFiClientSecure: one
 * br_ssl_client_context, an input and an output buffer of the sizes
 * setBufferSizes() would give, the cipher suites of a chosen profile, and one
 * of the core's ways to trust the server (setTrustAnchors with a CA,
 * setFingerprint, setKnownKey, setInsecure). Over each connection it sends
 * one HTTP/1.1 GET as ESP8266HTTPClient would and prints one JSON object:
 * what was negotiated (seen both through BearSSL and on the wire), the
 * response, the MD5 of its body, the heap the client allocated for TLS and
 * the peak stack BearSSL used.
 *
 * The stack: the ESP8266 runs BearSSL on a separate stack of its own
 * (StackThunk, a few KB). Here every BearSSL call that can run the engine
 * (reset, the four *_ack calls, flush, close) runs on a dedicated thread
 * whose stack is painted before the connection; the deepest painted word
 * overwritten, measured from the frame that makes the call, is what BearSSL
 * (and the X.509 class it calls back) needed. The figures are those of this
 * 64-bit host: pointers and size_t are 8 bytes, so the contexts and frames
 * are larger than on the 32-bit ESP8266.
 *
 * BearSSL implements TLS 1.0 to 1.2 and never TLS 1.3; --tls12-only only
 * narrows the range to 1.2.
 */
#include "tls_tool.h"

#include "otac/port_posix.h"

#include <bearssl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ENGINE_STACK_SIZE (256 * 1024)
#define STACK_PAINT       0x5AA5C33Cu
#define MAX_IN_OVERHEAD   325 /* BearSSL's record overheads (ssl_engine.c), as the core uses */
#define MAX_OUT_OVERHEAD  85

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

enum auth { AUTH_NONE, AUTH_CA, AUTH_FINGERPRINT, AUTH_KNOWN_KEY, AUTH_INSECURE };
enum profile { PROFILE_FULL, PROFILE_ESP8266, PROFILE_REDUCED_RSA };

static const char *const auth_names[] = {"none", "ca", "fingerprint", "known-key", "insecure"};
static const char *const profile_names[] = {"full", "esp8266-default", "reduced-rsa"};

/* The ESP8266 core's default list (WiFiClientSecureBearSSL.cpp, suites_P,
 * "All SSL ciphers" build): the same suites, in the same order, as BearSSL's
 * ssl_client_full.c, set up by its own init (renegotiation refused). */
static const uint16_t esp8266_suites[] = {
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_CCM,
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8,
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
    BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
    BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
    BR_TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384,
    BR_TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384,
    BR_TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA,
    BR_TLS_ECDH_RSA_WITH_AES_128_CBC_SHA,
    BR_TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA,
    BR_TLS_ECDH_RSA_WITH_AES_256_CBC_SHA,
    BR_TLS_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_RSA_WITH_AES_128_CCM,
    BR_TLS_RSA_WITH_AES_256_CCM,
    BR_TLS_RSA_WITH_AES_128_CCM_8,
    BR_TLS_RSA_WITH_AES_256_CCM_8,
    BR_TLS_RSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_RSA_WITH_AES_256_CBC_SHA256,
    BR_TLS_RSA_WITH_AES_128_CBC_SHA,
    BR_TLS_RSA_WITH_AES_256_CBC_SHA,
    BR_TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA,
    BR_TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
    BR_TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA,
    BR_TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA,
    BR_TLS_RSA_WITH_3DES_EDE_CBC_SHA,
};

/* setCiphersLessSecure() (faster_suites_P): RSA key exchange, AES-CBC, in the
 * core's order; the same four suites a "Basic SSL ciphers" build offers. */
static const uint16_t reduced_rsa_suites[] = {
    BR_TLS_RSA_WITH_AES_256_CBC_SHA256,
    BR_TLS_RSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_RSA_WITH_AES_256_CBC_SHA,
    BR_TLS_RSA_WITH_AES_128_CBC_SHA,
};

/* ---- Names -------------------------------------------------------------- */

#define S(name)                                                                                    \
    {                                                                                              \
        BR_##name, #name                                                                           \
    }
static const struct {
    unsigned id;
    const char *name;
} suite_names[] = {
    S(TLS_NULL_WITH_NULL_NULL),
    S(TLS_RSA_WITH_NULL_MD5),
    S(TLS_RSA_WITH_NULL_SHA),
    S(TLS_RSA_WITH_NULL_SHA256),
    S(TLS_RSA_WITH_RC4_128_MD5),
    S(TLS_RSA_WITH_RC4_128_SHA),
    S(TLS_RSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_RSA_WITH_AES_128_CBC_SHA),
    S(TLS_RSA_WITH_AES_256_CBC_SHA),
    S(TLS_RSA_WITH_AES_128_CBC_SHA256),
    S(TLS_RSA_WITH_AES_256_CBC_SHA256),
    S(TLS_ECDH_ECDSA_WITH_NULL_SHA),
    S(TLS_ECDH_ECDSA_WITH_RC4_128_SHA),
    S(TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDHE_ECDSA_WITH_NULL_SHA),
    S(TLS_ECDHE_ECDSA_WITH_RC4_128_SHA),
    S(TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDH_RSA_WITH_NULL_SHA),
    S(TLS_ECDH_RSA_WITH_RC4_128_SHA),
    S(TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDH_RSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDH_RSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDHE_RSA_WITH_NULL_SHA),
    S(TLS_ECDHE_RSA_WITH_RC4_128_SHA),
    S(TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384),
    S(TLS_RSA_WITH_AES_128_GCM_SHA256),
    S(TLS_RSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    S(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    S(TLS_RSA_WITH_AES_128_CCM),
    S(TLS_RSA_WITH_AES_256_CCM),
    S(TLS_RSA_WITH_AES_128_CCM_8),
    S(TLS_RSA_WITH_AES_256_CCM_8),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CCM),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CCM),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8),
};
#undef S

static const char *suite_name(unsigned id)
{
    for (size_t k = 0; k < sizeof(suite_names) / sizeof(suite_names[0]); k++)
        if (suite_names[k].id == id)
            return suite_names[k].name;
    return "unknown";
}

#define E(name)                                                                                    \
    {                                                                                              \
        name, #name                                                                                \
    }
static const struct {
    int code;
    const char *name;
} error_names[] = {
    E(BR_ERR_OK),
    E(BR_ERR_BAD_PARAM),
    E(BR_ERR_BAD_STATE),
    E(BR_ERR_UNSUPPORTED_VERSION),
    E(BR_ERR_BAD_VERSION),
    E(BR_ERR_BAD_LENGTH),
    E(BR_ERR_TOO_LARGE),
    E(BR_ERR_BAD_MAC),
    E(BR_ERR_NO_RANDOM),
    E(BR_ERR_UNKNOWN_TYPE),
    E(BR_ERR_UNEXPECTED),
    E(BR_ERR_BAD_CCS),
    E(BR_ERR_BAD_ALERT),
    E(BR_ERR_BAD_HANDSHAKE),
    E(BR_ERR_OVERSIZED_ID),
    E(BR_ERR_BAD_CIPHER_SUITE),
    E(BR_ERR_BAD_COMPRESSION),
    E(BR_ERR_BAD_FRAGLEN),
    E(BR_ERR_BAD_SECRENEG),
    E(BR_ERR_EXTRA_EXTENSION),
    E(BR_ERR_BAD_SNI),
    E(BR_ERR_BAD_HELLO_DONE),
    E(BR_ERR_LIMIT_EXCEEDED),
    E(BR_ERR_BAD_FINISHED),
    E(BR_ERR_RESUME_MISMATCH),
    E(BR_ERR_INVALID_ALGORITHM),
    E(BR_ERR_BAD_SIGNATURE),
    E(BR_ERR_WRONG_KEY_USAGE),
    E(BR_ERR_NO_CLIENT_AUTH),
    E(BR_ERR_IO),
    E(BR_ERR_X509_INVALID_VALUE),
    E(BR_ERR_X509_TRUNCATED),
    E(BR_ERR_X509_EMPTY_CHAIN),
    E(BR_ERR_X509_INNER_TRUNC),
    E(BR_ERR_X509_BAD_TAG_CLASS),
    E(BR_ERR_X509_BAD_TAG_VALUE),
    E(BR_ERR_X509_INDEFINITE_LENGTH),
    E(BR_ERR_X509_EXTRA_ELEMENT),
    E(BR_ERR_X509_UNEXPECTED),
    E(BR_ERR_X509_NOT_CONSTRUCTED),
    E(BR_ERR_X509_NOT_PRIMITIVE),
    E(BR_ERR_X509_PARTIAL_BYTE),
    E(BR_ERR_X509_BAD_BOOLEAN),
    E(BR_ERR_X509_OVERFLOW),
    E(BR_ERR_X509_BAD_DN),
    E(BR_ERR_X509_BAD_TIME),
    E(BR_ERR_X509_UNSUPPORTED),
    E(BR_ERR_X509_LIMIT_EXCEEDED),
    E(BR_ERR_X509_WRONG_KEY_TYPE),
    E(BR_ERR_X509_BAD_SIGNATURE),
    E(BR_ERR_X509_TIME_UNKNOWN),
    E(BR_ERR_X509_EXPIRED),
    E(BR_ERR_X509_DN_MISMATCH),
    E(BR_ERR_X509_BAD_SERVER_NAME),
    E(BR_ERR_X509_CRITICAL_EXTENSION),
    E(BR_ERR_X509_NOT_CA),
    E(BR_ERR_X509_FORBIDDEN_KEY_USAGE),
    E(BR_ERR_X509_WEAK_PUBLIC_KEY),
    E(BR_ERR_X509_NOT_TRUSTED),
};
#undef E

/* BearSSL's name of error ERR into BUF: fatal alerts as BASE+alert. */
static const char *error_name(int err, char *buf, size_t size)
{
    const char *base = NULL;
    int alert = -1;
    if (err >= BR_ERR_SEND_FATAL_ALERT) {
        base = "BR_ERR_SEND_FATAL_ALERT";
        alert = err - BR_ERR_SEND_FATAL_ALERT;
    } else if (err >= BR_ERR_RECV_FATAL_ALERT) {
        base = "BR_ERR_RECV_FATAL_ALERT";
        alert = err - BR_ERR_RECV_FATAL_ALERT;
    }
    if (base) {
        snprintf(buf, size, "%s+%d", base, alert);
        return buf;
    }
    for (size_t k = 0; k < sizeof(error_names) / sizeof(error_names[0]); k++)
        if (error_names[k].code == err)
            return error_names[k].name;
    snprintf(buf, size, "BR_ERR_%d", err);
    return buf;
}

/* ---- Options ------------------------------------------------------------ */

struct options {
    struct tool_opts common;
    enum auth auth;
    unsigned char fingerprint[20];
    const char *known_key_file;
    int bufsize_in, bufsize_out; /* the sizes given to setBufferSizes() */
    enum profile profile;
};

static const char usage[] =
    "usage: tls_client_bearssl --port N (--ca FILE | --fingerprint SHA1HEX | --known-key PEM |\n"
    "                          --insecure) [options]\n"
    "An ESP8266 (BearSSL::WiFiClientSecure) stand-in: one JSON object per connection on stdout.\n"
    "%s"
    "  --fingerprint HEX      accept only a leaf certificate with this SHA-1 (setFingerprint)\n"
    "  --known-key PEM        accept only this public key (setKnownKey); PUBLIC KEY or "
    "CERTIFICATE\n"
    "  --insecure             accept any certificate (setInsecure)\n"
    "  --bufsize N            setBufferSizes(N, N): buffers of N+325 in, N+85 out (512..16384)\n"
    "  --bufsize-out N        the output size alone (default: --bufsize, else the core's 512)\n"
    "                         (without either: setBufferSizes(16384, 512), the core's default)\n"
    "  --profile P            full | esp8266-default (default) | reduced-rsa\n"
    "BearSSL speaks TLS 1.0-1.2 and never TLS 1.3; --tls12-only narrows that to 1.2.\n"
    "Exit status: 0 when every connection did what was asked, 1 otherwise, 2 on bad usage.\n";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads a SHA-1 as setFingerprint() does: 40 hex digits, ':' or ' ' between bytes. */
static void parse_fingerprint(const char *s, unsigned char out[20])
{
    size_t n = 0;
    while (*s) {
        if (*s == ':' || *s == ' ') {
            s++;
            continue;
        }
        int hi = hexval(s[0]), lo = s[1] ? hexval(s[1]) : -1;
        if (hi < 0 || lo < 0 || n == 20)
            tool_die(2, "--fingerprint: expected 20 bytes in hex");
        out[n++] = (unsigned char)(hi << 4 | lo);
        s += 2;
    }
    if (n != 20)
        tool_die(2, "--fingerprint: expected 20 bytes in hex, got %zu", n);
}

static int parse_bufsize(const char *opt, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 1 << 20)
        tool_die(2, "%s: expected a byte count, got '%s'", opt, s);
    /* setBufferSizes() clamps to 512..16384. */
    return v < 512 ? 512 : v > 16384 ? 16384 : (int)v;
}

static void parse_options(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    tool_opts_init(&o->common, "ESP8266-http-Update");
    o->profile = PROFILE_ESP8266;
    int nauth = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage, tool_common_usage);
            exit(0);
        }
        if (tool_opts_parse(&o->common, argc, argv, &i))
            continue;
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--insecure") == 0) {
            o->auth = AUTH_INSECURE;
            nauth++;
            continue;
        }
        if (!val)
            tool_die(2, "unknown option or missing value: %s (see --help)", a);
        if (strcmp(a, "--fingerprint") == 0) {
            parse_fingerprint(val, o->fingerprint);
            o->auth = AUTH_FINGERPRINT;
            nauth++;
        } else if (strcmp(a, "--known-key") == 0) {
            o->known_key_file = val;
            o->auth = AUTH_KNOWN_KEY;
            nauth++;
        } else if (strcmp(a, "--bufsize") == 0) {
            o->bufsize_in = parse_bufsize(a, val);
        } else if (strcmp(a, "--bufsize-out") == 0) {
            o->bufsize_out = parse_bufsize(a, val);
        } else if (strcmp(a, "--profile") == 0) {
            size_t k;
            for (k = 0; k < 3 && strcmp(val, profile_names[k]) != 0; k++)
                ;
            if (k == 3)
                tool_die(2, "--profile: expected full, esp8266-default or reduced-rsa");
            o->profile = (enum profile)k;
        } else {
            tool_die(2, "unknown option: %s (see --help)", a);
        }
        i++;
    }
    tool_opts_check(&o->common);
    if (o->common.ca_file) {
        o->auth = AUTH_CA;
        nauth++;
    }
    if (nauth != 1)
        tool_die(2, "give exactly one of --ca, --fingerprint, --known-key, --insecure");
    if (o->bufsize_out == 0)
        o->bufsize_out = o->bufsize_in ? o->bufsize_in : 512;
    if (o->bufsize_in == 0)
        o->bufsize_in = 16384;
}

/* ---- Heap accounting ---------------------------------------------------- */

/* What the client allocates for TLS; BearSSL itself never allocates. */
struct heap {
    size_t ssl_context, x509_context, iobuf_in, iobuf_out, trust_anchors;
};

static void *counted_alloc(size_t n, size_t *counter)
{
    void *p = calloc(1, n);
    if (!p)
        tool_die(1, "out of memory (%zu bytes)", n);
    *counter += n;
    return p;
}

/* ---- Trust: anchors from PEM, the known key ----------------------------- */

struct blob {
    unsigned char *p;
    size_t len, cap;
};

static void blob_append(void *ctx, const void *data, size_t len)
{
    struct blob *b = ctx;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            tool_die(1, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void discard(void *ctx, const void *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
}

static struct blob read_file(const char *path)
{
    struct blob b = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        tool_die(2, "%s: %s", path, strerror(errno));
    unsigned char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        blob_append(&b, chunk, n);
    fclose(f);
    return b;
}

/* Calls FN for each PEM object of FILE with its name and DER bytes. */
static void pem_objects(const char *path, void (*fn)(void *, const char *, struct blob *),
                        void *ctx)
{
    struct blob text = read_file(path);
    blob_append(&text, "\n", 1); /* the decoder needs a final newline */
    br_pem_decoder_context pc;
    br_pem_decoder_init(&pc);
    struct blob der = {0};
    char name[128] = "";
    int objects = 0;
    const unsigned char *p = text.p;
    size_t left = text.len;
    while (left > 0) {
        size_t n = br_pem_decoder_push(&pc, p, left);
        p += n;
        left -= n;
        switch (br_pem_decoder_event(&pc)) {
        case BR_PEM_BEGIN_OBJ:
            snprintf(name, sizeof(name), "%s", br_pem_decoder_name(&pc));
            der.len = 0;
            br_pem_decoder_setdest(&pc, blob_append, &der);
            break;
        case BR_PEM_END_OBJ:
            fn(ctx, name, &der);
            br_pem_decoder_setdest(&pc, discard, NULL);
            objects++;
            break;
        case BR_PEM_ERROR:
            tool_die(2, "%s: not valid PEM", path);
        default:
            break;
        }
    }
    if (objects == 0)
        tool_die(2, "%s: no PEM object", path);
    free(der.p);
    free(text.p);
}

static bool is_cert_name(const char *name)
{
    return strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0;
}

/* Deep copy of a decoded public key into counted memory. */
static void copy_pkey(br_x509_pkey *dst, const br_x509_pkey *src, size_t *counter)
{
    *dst = *src;
    if (src->key_type == BR_KEYTYPE_RSA) {
        unsigned char *n = counted_alloc(src->key.rsa.nlen, counter);
        unsigned char *e = counted_alloc(src->key.rsa.elen, counter);
        memcpy(n, src->key.rsa.n, src->key.rsa.nlen);
        memcpy(e, src->key.rsa.e, src->key.rsa.elen);
        dst->key.rsa.n = n;
        dst->key.rsa.e = e;
    } else {
        unsigned char *q = counted_alloc(src->key.ec.qlen, counter);
        memcpy(q, src->key.ec.q, src->key.ec.qlen);
        dst->key.ec.q = q;
    }
}

static void free_pkey(br_x509_pkey *k)
{
    if (k->key_type == BR_KEYTYPE_RSA) {
        free(k->key.rsa.n);
        free(k->key.rsa.e);
    } else {
        free(k->key.ec.q);
    }
}

/* The --ca file's anchors, loaded by the POSIX port's loader (lib/port/posix.c), the one
 * copy of that logic: a device built on the otac library trusts exactly what this does. */
struct anchors {
    br_x509_trust_anchor *ta;
    size_t n;
    size_t bytes; /* what they take on the heap: the array, each DN and key */
};

static void load_anchors(struct anchors *a, const char *path)
{
    memset(a, 0, sizeof(*a));
    int err = otac_posix_trust_load(path, &a->ta, &a->n);
    if (err < 0)
        tool_die(2, "--ca %s: %s", path,
                 err == OTAC_E_KEY_PARSE ? "no CERTIFICATE in it, or one that does not decode"
                                         : "cannot be read");
    a->bytes = a->n * sizeof(*a->ta);
    for (size_t k = 0; k < a->n; k++) {
        const br_x509_pkey *pk = &a->ta[k].pkey;
        a->bytes += a->ta[k].dn.len;
        a->bytes +=
            pk->key_type == BR_KEYTYPE_RSA ? pk->key.rsa.nlen + pk->key.rsa.elen : pk->key.ec.qlen;
    }
}

static void free_anchors(struct anchors *a)
{
    otac_posix_trust_free(a->ta, a->n);
}

/* A small DER reader for SubjectPublicKeyInfo. */
struct der {
    const unsigned char *p;
    size_t left;
};

static bool der_next(struct der *d, unsigned tag, struct der *ret_inner)
{
    if (d->left < 2 || d->p[0] != tag)
        return false;
    size_t len = d->p[1], hdr = 2;
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        if (nb == 0 || nb > 3 || d->left < 2 + nb)
            return false;
        len = 0;
        for (size_t k = 0; k < nb; k++)
            len = len << 8 | d->p[2 + k];
        hdr += nb;
    }
    if (d->left - hdr < len)
        return false;
    ret_inner->p = d->p + hdr;
    ret_inner->left = len;
    d->p += hdr + len;
    d->left -= hdr + len;
    return true;
}

static bool der_oid_is(const struct der *oid, const unsigned char *want, size_t n)
{
    return oid->left == n && memcmp(oid->p, want, n) == 0;
}

struct known_key {
    br_x509_pkey key; /* points into counted memory */
    size_t bytes;
    bool set;
};

static void set_known_key(void *ctx, const char *name, struct blob *der)
{
    static const unsigned char oid_rsa[] = {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01};
    static const unsigned char oid_ec[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01};
    static const unsigned char oid_p256[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
    static const unsigned char oid_p384[] = {0x2B, 0x81, 0x04, 0x00, 0x22};
    static const unsigned char oid_p521[] = {0x2B, 0x81, 0x04, 0x00, 0x23};
    struct known_key *kk = ctx;
    if (kk->set)
        return;
    if (is_cert_name(name)) {
        br_x509_decoder_context dc;
        br_x509_decoder_init(&dc, NULL, NULL);
        br_x509_decoder_push(&dc, der->p, der->len);
        const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
        if (!pk)
            tool_die(2, "--known-key: the certificate does not decode");
        copy_pkey(&kk->key, pk, &kk->bytes);
        kk->set = true;
        return;
    }
    if (strcmp(name, "PUBLIC KEY") != 0)
        return;
    struct der top = {der->p, der->len}, spki, alg, oid, bits, params;
    if (!der_next(&top, 0x30, &spki) || !der_next(&spki, 0x30, &alg) ||
        !der_next(&alg, 0x06, &oid) || !der_next(&spki, 0x03, &bits) || bits.left < 1 ||
        bits.p[0] != 0)
        tool_die(2, "--known-key: PUBLIC KEY is not a SubjectPublicKeyInfo");
    bits.p++;
    bits.left--;
    br_x509_pkey pk;
    memset(&pk, 0, sizeof(pk));
    if (der_oid_is(&oid, oid_rsa, sizeof(oid_rsa))) {
        struct der seq, n, e;
        if (!der_next(&bits, 0x30, &seq) || !der_next(&seq, 0x02, &n) || !der_next(&seq, 0x02, &e))
            tool_die(2, "--known-key: malformed RSA key");
        while (n.left > 1 && n.p[0] == 0) {
            n.p++;
            n.left--;
        }
        pk.key_type = BR_KEYTYPE_RSA;
        pk.key.rsa.n = (unsigned char *)n.p;
        pk.key.rsa.nlen = n.left;
        pk.key.rsa.e = (unsigned char *)e.p;
        pk.key.rsa.elen = e.left;
    } else if (der_oid_is(&oid, oid_ec, sizeof(oid_ec)) && der_next(&alg, 0x06, &params)) {
        pk.key_type = BR_KEYTYPE_EC;
        if (der_oid_is(&params, oid_p256, sizeof(oid_p256)))
            pk.key.ec.curve = BR_EC_secp256r1;
        else if (der_oid_is(&params, oid_p384, sizeof(oid_p384)))
            pk.key.ec.curve = BR_EC_secp384r1;
        else if (der_oid_is(&params, oid_p521, sizeof(oid_p521)))
            pk.key.ec.curve = BR_EC_secp521r1;
        else
            tool_die(2, "--known-key: an EC curve other than P-256, P-384, P-521");
        pk.key.ec.q = (unsigned char *)bits.p;
        pk.key.ec.qlen = bits.left;
    } else {
        tool_die(2, "--known-key: neither an RSA nor an EC key");
    }
    copy_pkey(&kk->key, &pk, &kk->bytes);
    kk->set = true;
}

/* ---- The fingerprint / insecure X.509 class ----------------------------- */

/* Like the core's br_x509_insecure_context: decodes only the first (leaf)
 * certificate for its key, hashes it with SHA-1, and accepts it when no
 * fingerprint is set (setInsecure) or the SHA-1 matches (setFingerprint).
 * No chain, no date, no name: the core checks none of them in these modes. */
struct x509_leaf {
    const br_x509_class *vtable;
    bool check_fingerprint;
    unsigned char fingerprint[20];
    unsigned certs;
    bool leaf_done;
    br_sha1_context sha1;
    br_x509_decoder_context decoder;
};

static void leaf_start_chain(const br_x509_class **ctx, const char *server_name)
{
    struct x509_leaf *x = (struct x509_leaf *)(void *)ctx;
    (void)server_name;
    x->certs = 0;
    x->leaf_done = false;
    br_sha1_init(&x->sha1);
    br_x509_decoder_init(&x->decoder, NULL, NULL);
}

static void leaf_start_cert(const br_x509_class **ctx, uint32_t length)
{
    struct x509_leaf *x = (struct x509_leaf *)(void *)ctx;
    (void)length;
    x->certs++;
}

static void leaf_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    struct x509_leaf *x = (struct x509_leaf *)(void *)ctx;
    if (x->leaf_done)
        return;
    br_sha1_update(&x->sha1, buf, len);
    br_x509_decoder_push(&x->decoder, buf, len);
}

static void leaf_end_cert(const br_x509_class **ctx)
{
    struct x509_leaf *x = (struct x509_leaf *)(void *)ctx;
    x->leaf_done = true;
}

static unsigned leaf_end_chain(const br_x509_class **ctx)
{
    struct x509_leaf *x = (struct x509_leaf *)(void *)ctx;
    if (x->certs == 0)
        return BR_ERR_X509_EMPTY_CHAIN;
    int err = br_x509_decoder_last_error(&x->decoder);
    if (err != 0)
        return (unsigned)err;
    if (!br_x509_decoder_get_pkey(&x->decoder))
        return BR_ERR_X509_TRUNCATED;
    unsigned char got[br_sha1_SIZE];
    br_sha1_out(&x->sha1, got);
    if (x->check_fingerprint && memcmp(got, x->fingerprint, sizeof(got)) != 0)
        return BR_ERR_X509_NOT_TRUSTED;
    return 0;
}

static const br_x509_pkey *leaf_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    struct x509_leaf *x = (struct x509_leaf *)(void *)ctx;
    if (usages)
        *usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
    return br_x509_decoder_get_pkey(&x->decoder);
}

static const br_x509_class x509_leaf_vtable = {
    sizeof(struct x509_leaf), leaf_start_chain, leaf_start_cert, leaf_append, leaf_end_cert,
    leaf_end_chain,           leaf_get_pkey,
};

/* ---- The engine thread: BearSSL on a painted stack ---------------------- */

enum engine_op {
    OP_RESET,
    OP_SENDREC_ACK,
    OP_RECVREC_ACK,
    OP_SENDAPP_ACK,
    OP_RECVAPP_ACK,
    OP_FLUSH,
    OP_CLOSE,
};

struct engine_thread {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *stack;
    size_t stack_size;
    uintptr_t base; /* the dispatcher's frame: every call starts below it */
    bool started;
    bool pending, quit;
    enum engine_op op;
    br_ssl_client_context *cc;
    const char *server_name;
    size_t len;
    int ret;
};

static __attribute__((noinline)) int engine_run(struct engine_thread *t)
{
    br_ssl_engine_context *eng = &t->cc->eng;
    switch (t->op) {
    case OP_RESET:
        return br_ssl_client_reset(t->cc, t->server_name, (int)t->len);
    case OP_SENDREC_ACK:
        br_ssl_engine_sendrec_ack(eng, t->len);
        return 0;
    case OP_RECVREC_ACK:
        br_ssl_engine_recvrec_ack(eng, t->len);
        return 0;
    case OP_SENDAPP_ACK:
        br_ssl_engine_sendapp_ack(eng, t->len);
        return 0;
    case OP_RECVAPP_ACK:
        br_ssl_engine_recvapp_ack(eng, t->len);
        return 0;
    case OP_FLUSH:
        br_ssl_engine_flush(eng, (int)t->len);
        return 0;
    case OP_CLOSE:
        br_ssl_engine_close(eng);
        return 0;
    }
    return -1;
}

/* Paints the stack again below the caller: whatever ran on this thread
 * before the dispatcher (a sanitizer's thread start runs deep) must not
 * count. A leaf without calls, so nothing it uses lies below the margin. */
__attribute__((noinline, no_sanitize_address)) static void engine_repaint(struct engine_thread *t)
{
    uintptr_t stop = (uintptr_t)__builtin_frame_address(0) - 1024;
    volatile uint32_t *w = (volatile uint32_t *)(void *)t->stack;
    while ((uintptr_t)w < stop)
        *w++ = STACK_PAINT;
}

static void *engine_main(void *arg)
{
    struct engine_thread *t = arg;
    pthread_mutex_lock(&t->mu);
    t->base = (uintptr_t)__builtin_frame_address(0);
    engine_repaint(t);
    t->started = true;
    pthread_cond_broadcast(&t->cv);
    for (;;) {
        while (!t->pending && !t->quit)
            pthread_cond_wait(&t->cv, &t->mu);
        if (t->quit)
            break;
        t->ret = engine_run(t);
        t->pending = false;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* The deepest use of the painted stack so far, in bytes below the
 * dispatcher's frame. Reads memory ASan knows nothing about. */
__attribute__((no_sanitize_address)) static size_t engine_stack_used(struct engine_thread *t)
{
    pthread_mutex_lock(&t->mu); /* the thread is idle while we hold it */
    const volatile uint32_t *w = (const volatile uint32_t *)(void *)t->stack;
    size_t nwords = t->stack_size / sizeof(uint32_t), k = 0;
    while (k < nwords && w[k] == STACK_PAINT)
        k++;
    uintptr_t lowest = (uintptr_t)(t->stack + k * sizeof(uint32_t));
    size_t used = t->base > lowest ? (size_t)(t->base - lowest) : 0;
    pthread_mutex_unlock(&t->mu);
    return used;
}

static void engine_start(struct engine_thread *t, br_ssl_client_context *cc)
{
    memset(t, 0, sizeof(*t));
    t->cc = cc;
    t->stack_size = ENGINE_STACK_SIZE;
    void *stack;
    if (posix_memalign(&stack, 4096, t->stack_size) != 0)
        tool_die(1, "out of memory (engine stack)");
    t->stack = stack;
    uint32_t *w = stack;
    for (size_t k = 0; k < t->stack_size / sizeof(uint32_t); k++)
        w[k] = STACK_PAINT;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pthread_attr_setstack(&attr, t->stack, t->stack_size) != 0 ||
        pthread_create(&t->tid, &attr, engine_main, t) != 0)
        tool_die(1, "cannot start the engine thread");
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&t->mu);
    while (!t->started)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void engine_stop(struct engine_thread *t)
{
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->tid, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t->stack);
    t->stack = NULL;
}

static int engine_call(struct engine_thread *t, enum engine_op op, size_t len)
{
    pthread_mutex_lock(&t->mu);
    t->op = op;
    t->len = len;
    t->pending = true;
    pthread_cond_broadcast(&t->cv);
    while (t->pending)
        pthread_cond_wait(&t->cv, &t->mu);
    int ret = t->ret;
    pthread_mutex_unlock(&t->mu);
    return ret;
}

/* ---- One connection ----------------------------------------------------- */

struct conn {
    const struct options *o;
    br_ssl_client_context *cc;
    br_ssl_engine_context *eng;
    struct engine_thread engine;
    int fd;
    struct tool_wire wire;
    bool tcp_eof;
    int io_error; /* -errno of a failed send or recv */
    br_md5_context md5;
};

/* Runs the engine until its state has TARGET, moving records to and from
 * the socket like BearSSL's ssl_io.c and the core's _run_until(). Returns 0,
 * or -1 when the engine closed or failed, or the socket did. */
static int run_until(struct conn *c, unsigned target)
{
    for (;;) {
        unsigned st = br_ssl_engine_current_state(c->eng);
        if (st & BR_SSL_CLOSED)
            return -1;
        if (st & BR_SSL_SENDREC) {
            size_t len;
            unsigned char *buf = br_ssl_engine_sendrec_buf(c->eng, &len);
            int r = tool_send_all(c->fd, buf, len);
            if (r < 0) {
                c->io_error = r;
                return -1;
            }
            tool_wire_feed(&c->wire, true, buf, len);
            engine_call(&c->engine, OP_SENDREC_ACK, len);
            continue;
        }
        if (st & target)
            return 0;
        if (st & BR_SSL_RECVAPP)
            return -1; /* application data to read while we want to write */
        if (st & BR_SSL_RECVREC) {
            size_t len;
            unsigned char *buf = br_ssl_engine_recvrec_buf(c->eng, &len);
            long n = tool_recv(c->fd, buf, len);
            if (n <= 0) {
                if (n == 0)
                    c->tcp_eof = true;
                else
                    c->io_error = (int)n;
                return -1;
            }
            tool_wire_feed(&c->wire, false, buf, (size_t)n);
            engine_call(&c->engine, OP_RECVREC_ACK, (size_t)n);
            continue;
        }
        engine_call(&c->engine, OP_FLUSH, 0);
    }
}

static int send_request(struct conn *c, const unsigned char *req, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (run_until(c, BR_SSL_SENDAPP) < 0)
            return -1;
        size_t room;
        unsigned char *buf = br_ssl_engine_sendapp_buf(c->eng, &room);
        size_t n = len - off < room ? len - off : room;
        memcpy(buf, req + off, n);
        engine_call(&c->engine, OP_SENDAPP_ACK, n);
        off += n;
    }
    engine_call(&c->engine, OP_FLUSH, 0);
    return run_until(c, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
}

static void on_body(void *ctx, const unsigned char *p, size_t n)
{
    struct conn *c = ctx;
    br_md5_update(&c->md5, p, n);
}

/* Reads the response into H. */
static void read_response(struct conn *c, struct tool_http *h)
{
    while (!h->done) {
        if (run_until(c, BR_SSL_RECVAPP) < 0)
            break;
        size_t len;
        unsigned char *buf = br_ssl_engine_recvapp_buf(c->eng, &len);
        tool_http_feed(h, buf, len);
        engine_call(&c->engine, OP_RECVAPP_ACK, len); /* bytes past the body are dropped */
    }
    /* Without Content-Length the body ends with the connection: a
     * close_notify, or (as the core also accepts) the TCP close. */
    if (!h->done && br_ssl_engine_last_error(c->eng) == BR_ERR_OK && c->io_error == 0 &&
        (c->tcp_eof || (br_ssl_engine_current_state(c->eng) & BR_SSL_CLOSED)))
        tool_http_eof(h);
}

/* Sends close_notify without waiting for the server's (the core's stop()
 * does not wait either). */
static void close_tls(struct conn *c)
{
    if (c->io_error || c->tcp_eof || (br_ssl_engine_current_state(c->eng) & BR_SSL_CLOSED))
        return;
    engine_call(&c->engine, OP_CLOSE, 0);
    unsigned st = br_ssl_engine_current_state(c->eng);
    if (st & BR_SSL_SENDREC) {
        size_t len;
        unsigned char *buf = br_ssl_engine_sendrec_buf(c->eng, &len);
        if (tool_send_all(c->fd, buf, len) == 0) {
            tool_wire_feed(&c->wire, true, buf, len);
            engine_call(&c->engine, OP_SENDREC_ACK, len);
        }
    }
}

struct client {
    struct options o;
    struct anchors anchors;
    struct known_key known_key;
    br_ssl_session_parameters session;
    int session_mfl; /* the fragment limit negotiated with that session */
    bool have_session;
    unsigned char *request;
    size_t request_len;
};

/* Sets CC up for the profile, the way each profile's real client does. */
static void init_profile(const struct options *o, br_ssl_client_context *cc,
                         br_x509_minimal_context *xm, const struct anchors *a)
{
    if (o->profile == PROFILE_FULL) {
        /* br_ssl_client_init_full wants a minimal X.509 context even when
         * another class will be installed; it then goes unused. */
        static br_x509_minimal_context unused;
        br_ssl_client_init_full(cc, xm ? xm : &unused, a ? a->ta : NULL, a ? a->n : 0);
        return;
    }
    /* The core's br_ssl_client_base_init(). */
    const uint16_t *suites = o->profile == PROFILE_ESP8266 ? esp8266_suites : reduced_rsa_suites;
    size_t n = o->profile == PROFILE_ESP8266 ? sizeof(esp8266_suites) / sizeof(uint16_t)
                                             : sizeof(reduced_rsa_suites) / sizeof(uint16_t);
    br_ssl_engine_context *eng = &cc->eng;
    br_ssl_client_zero(cc);
    br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
    br_ssl_engine_set_versions(eng, BR_TLS10, BR_TLS12);
    br_ssl_engine_set_suites(eng, suites, n);
    br_ssl_client_set_default_rsapub(cc);
    br_ssl_engine_set_default_rsavrfy(eng);
    br_ssl_engine_set_default_ecdsa(eng);
    br_ssl_engine_set_hash(eng, br_md5_ID, &br_md5_vtable);
    br_ssl_engine_set_hash(eng, br_sha1_ID, &br_sha1_vtable);
    br_ssl_engine_set_hash(eng, br_sha224_ID, &br_sha224_vtable);
    br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
    br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
    br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
    br_ssl_engine_set_prf10(eng, &br_tls10_prf);
    br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
    br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
    br_ssl_engine_set_default_aes_cbc(eng);
    br_ssl_engine_set_default_aes_gcm(eng);
    br_ssl_engine_set_default_aes_ccm(eng);
    br_ssl_engine_set_default_des_cbc(eng);
    br_ssl_engine_set_default_chapol(eng);
    if (xm) {
        /* The core's _installClientX509Validator() for trust anchors. */
        br_x509_minimal_init(xm, &br_sha256_vtable, a->ta, a->n);
        br_x509_minimal_set_rsa(xm, br_ssl_engine_get_rsavrfy(eng));
        br_x509_minimal_set_ecdsa(xm, br_ssl_engine_get_ec(eng), br_ssl_engine_get_ecdsa(eng));
        br_x509_minimal_set_hash(xm, br_md5_ID, &br_md5_vtable);
        br_x509_minimal_set_hash(xm, br_sha1_ID, &br_sha1_vtable);
        br_x509_minimal_set_hash(xm, br_sha224_ID, &br_sha224_vtable);
        br_x509_minimal_set_hash(xm, br_sha256_ID, &br_sha256_vtable);
        br_x509_minimal_set_hash(xm, br_sha384_ID, &br_sha384_vtable);
        br_x509_minimal_set_hash(xm, br_sha512_ID, &br_sha512_vtable);
        br_ssl_engine_set_x509(eng, &xm->vtable);
    }
}

static void json_error(struct tool_json *j, int err, const char *detail)
{
    char buf[48];
    tool_json_begin(j, "error");
    tool_json_int(j, "code", err);
    tool_json_str(j, "name", error_name(err, buf, sizeof(buf)));
    tool_json_str(j, "detail", detail);
    tool_json_end(j);
}

/* Runs connection INDEX (0-based); prints its JSON. Returns true when it
 * did what was asked, else false with the reason on stderr. */
static bool run_connection(struct client *cl, int index)
{
    const struct options *o = &cl->o;
    struct heap heap = {0};
    struct conn c;
    memset(&c, 0, sizeof(c));
    c.o = o;
    c.fd = -1;
    br_md5_init(&c.md5);

    /* What the core's _connectSSL() allocates, in its order. */
    c.cc = counted_alloc(sizeof(br_ssl_client_context), &heap.ssl_context);
    c.eng = &c.cc->eng;
    size_t in_len = (size_t)o->bufsize_in + MAX_IN_OVERHEAD;
    size_t out_len = (size_t)o->bufsize_out + MAX_OUT_OVERHEAD;
    unsigned char *iobuf_in = counted_alloc(in_len, &heap.iobuf_in);
    unsigned char *iobuf_out = counted_alloc(out_len, &heap.iobuf_out);
    void *x509 = NULL;
    switch (o->auth) {
    case AUTH_CA:
        x509 = counted_alloc(sizeof(br_x509_minimal_context), &heap.x509_context);
        init_profile(o, c.cc, x509, &cl->anchors);
        heap.trust_anchors = cl->anchors.bytes;
        break;
    case AUTH_KNOWN_KEY: {
        br_x509_knownkey_context *kc =
            counted_alloc(sizeof(br_x509_knownkey_context), &heap.x509_context);
        init_profile(o, c.cc, NULL, NULL);
        if (cl->known_key.key.key_type == BR_KEYTYPE_RSA)
            br_x509_knownkey_init_rsa(kc, &cl->known_key.key.key.rsa,
                                      BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN);
        else
            br_x509_knownkey_init_ec(kc, &cl->known_key.key.key.ec,
                                     BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN);
        br_ssl_engine_set_x509(c.eng, &kc->vtable);
        heap.trust_anchors = cl->known_key.bytes;
        x509 = kc;
        break;
    }
    default: {
        struct x509_leaf *xl = counted_alloc(sizeof(struct x509_leaf), &heap.x509_context);
        init_profile(o, c.cc, NULL, NULL);
        xl->vtable = &x509_leaf_vtable;
        xl->check_fingerprint = o->auth == AUTH_FINGERPRINT;
        memcpy(xl->fingerprint, o->fingerprint, sizeof(xl->fingerprint));
        br_ssl_engine_set_x509(c.eng, &xl->vtable);
        x509 = xl;
        break;
    }
    }
    if (o->common.tls12_only)
        br_ssl_engine_set_versions(c.eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_buffers_bidi(c.eng, iobuf_in, in_len, iobuf_out, out_len);
    /* What BearSSL will announce: max_fragment_length is sent whenever the
     * buffers hold less than 16384-byte records (ssl_engine.c). */
    unsigned buffer_limit = 1u << c.eng->log_max_frag_len;
    bool resume = cl->have_session;
    if (resume)
        br_ssl_engine_set_session_parameters(c.eng, &cl->session);

    bool ok = false, handshake_ok = false;
    const char *why = NULL;
    char detail[160] = "";
    struct tool_http http;
    tool_http_init(&http, on_body, &c);
    size_t stack_idle = 0, stack_handshake = 0, stack_total = 0;

    c.fd = tool_connect(o->common.host, o->common.port, o->common.timeout_ms);
    if (c.fd < 0) {
        snprintf(detail, sizeof(detail), "connect to %s:%d: %s", o->common.host, o->common.port,
                 strerror(-c.fd));
        why = detail;
        c.io_error = c.fd;
        goto report;
    }
    engine_start(&c.engine, c.cc);
    stack_idle = engine_stack_used(&c.engine);
    c.engine.server_name = o->common.server_name;
    if (!engine_call(&c.engine, OP_RESET, resume ? 1 : 0)) {
        why = "br_ssl_client_reset failed";
        goto report_engine;
    }
    if (run_until(&c, BR_SSL_SENDAPP) < 0) {
        why = "handshake failed";
        goto report_engine;
    }
    handshake_ok = true;
    stack_handshake = engine_stack_used(&c.engine);
    if (cl->request) {
        if (send_request(&c, cl->request, cl->request_len) < 0) {
            why = "sending the request failed";
            goto report_engine;
        }
        read_response(&c, &http);
        if (!http.head_done)
            why = "no complete response head";
        else if (http.head_too_large)
            why = "the response head is too large";
        else if (!http.done)
            why = "the body ended early";
    }
    close_tls(&c);
    ok = why == NULL;
report_engine:
    stack_total = engine_stack_used(&c.engine);
    engine_stop(&c.engine);
report:;
    br_ssl_session_parameters sp;
    br_ssl_engine_get_session_parameters(c.eng, &sp);
    int err = br_ssl_engine_last_error(c.eng);
    bool resumed = handshake_ok && tool_wire_resumed(&c.wire);
    if (ok && index > 0 && o->common.require_resume && !resumed) {
        ok = false;
        why = "the session was not resumed";
    }

    struct tool_json j;
    tool_json_init(&j);
    tool_json_begin(&j, NULL);
    tool_json_str(&j, "tool", "bearssl");
    tool_json_int(&j, "connection", index + 1);
    tool_json_str(&j, "handshake", handshake_ok ? "ok" : "failed");
    if (c.io_error && err == BR_ERR_OK) {
        snprintf(detail, sizeof(detail), "%s", strerror(-c.io_error));
        json_error(&j, BR_ERR_IO, detail);
    } else if (c.tcp_eof && err == BR_ERR_OK && !ok) {
        json_error(&j, BR_ERR_IO, "the server closed the connection");
    } else {
        json_error(&j, err, NULL);
    }
    tool_json_str(&j, "version",
                  handshake_ok ? tool_version_name(br_ssl_engine_get_version(c.eng)) : NULL);
    if (handshake_ok) {
        char cipher[96];
        snprintf(cipher, sizeof(cipher), "0x%04X %s", sp.cipher_suite, suite_name(sp.cipher_suite));
        tool_json_str(&j, "cipher", cipher);
    } else {
        tool_json_null(&j, "cipher");
    }
    tool_json_bool(&j, "resume_offered", resume);
    tool_json_bool(&j, "resumed", resumed);
    /* The limit in force: the echoed max_fragment_length when the server
     * accepted it, else 16384. wire.* shows what each side sent. */
    int mfl = c.wire.server_hello.seen ? tool_wire_mfl(&c.wire, resume ? cl->session_mfl : 0)
                                       : (int)buffer_limit;
    tool_json_int(&j, "max_frag_len", mfl);
    if (buffer_limit < 16384)
        tool_json_int(&j, "max_frag_len_offered", buffer_limit);
    else
        tool_json_null(&j, "max_frag_len_offered");
    if (handshake_ok)
        tool_json_bool(&j, "max_frag_len_respected", tool_wire_records_fit(&c.wire, mfl));
    else
        tool_json_null(&j, "max_frag_len_respected");
    tool_json_str(&j, "profile", profile_names[o->profile]);
    tool_json_str(&j, "auth", auth_names[o->auth]);
    tool_json_http(&j, &http);
    if (http.head_done) {
        unsigned char digest[br_md5_SIZE];
        br_md5_out(&c.md5, digest);
        tool_json_hex(&j, "body_md5", digest, sizeof(digest));
    } else {
        tool_json_null(&j, "body_md5");
    }
    tool_json_bool(&j, "body_complete", http.done && !http.head_too_large);
    tool_json_str(&j, "closed_by",
                  c.tcp_eof                                              ? "tcp_eof"
                  : (br_ssl_engine_current_state(c.eng) & BR_SSL_CLOSED) ? "tls_close"
                                                                         : NULL);
    tool_json_begin(&j, "heap");
    tool_json_int(&j, "ssl_context", (long long)heap.ssl_context);
    tool_json_int(&j, "x509_context", (long long)heap.x509_context);
    tool_json_int(&j, "iobuf_in", (long long)heap.iobuf_in);
    tool_json_int(&j, "iobuf_out", (long long)heap.iobuf_out);
    tool_json_int(&j, "trust_anchors", (long long)heap.trust_anchors);
    tool_json_int(&j, "total",
                  (long long)(heap.ssl_context + heap.x509_context + heap.iobuf_in +
                              heap.iobuf_out + heap.trust_anchors));
    tool_json_end(&j);
    tool_json_begin(&j, "stack");
    tool_json_int(&j, "handshake", (long long)stack_handshake);
    tool_json_int(&j, "connection", (long long)stack_total);
    tool_json_int(&j, "idle", (long long)stack_idle);
    tool_json_int(&j, "thread_stack", ENGINE_STACK_SIZE);
    tool_json_bool(&j, "sanitized", SANITIZED);
    tool_json_end(&j);
    tool_json_int(&j, "word_bits", (long long)(sizeof(void *) * 8));
    tool_json_wire(&j, &c.wire);
    tool_json_end(&j);
    tool_json_print(&j);
    tool_json_release(&j);

    if (!ok) {
        char buf[48];
        tool_warn("connection %d: %s (%s%s%s)", index + 1, why ? why : "failed",
                  error_name(err, buf, sizeof(buf)), detail[0] ? ": " : "", detail);
    }
    /* Like the core's stop(): keep the session for the next connect(). */
    if (handshake_ok) {
        cl->session = sp;
        cl->session_mfl = mfl;
        cl->have_session = true;
    }
    if (c.fd >= 0)
        close(c.fd);
    tool_wire_release(&c.wire);
    free(x509);
    free(iobuf_in);
    free(iobuf_out);
    free(c.cc);
    return ok;
}

int main(int argc, char **argv)
{
    /* Resolve every symbol now: lazy binding would run the dynamic linker on
     * the engine's stack the first time each BearSSL function is called, and
     * its frames (an XSAVE area among them) would count as BearSSL's. The
     * ESP8266 has no dynamic linker. If the exec fails, go on regardless. */
    const char *bind_now = getenv("LD_BIND_NOW");
    if (!bind_now || !*bind_now) {
        setenv("LD_BIND_NOW", "1", 1);
        execv("/proc/self/exe", argv);
    }
    struct client cl;
    memset(&cl, 0, sizeof(cl));
    tool_set_prog(argv[0]);
    parse_options(&cl.o, argc, argv);
    if (cl.o.auth == AUTH_CA)
        load_anchors(&cl.anchors, cl.o.common.ca_file);
    if (cl.o.auth == AUTH_KNOWN_KEY) {
        pem_objects(cl.o.known_key_file, set_known_key, &cl.known_key);
        if (!cl.known_key.set)
            tool_die(2, "--known-key %s: no PUBLIC KEY or CERTIFICATE in it", cl.o.known_key_file);
    }
    if (cl.o.common.request_file || cl.o.common.path)
        cl.request = tool_build_request(&cl.o.common, &cl.request_len);
    int failed = 0;
    for (int k = 0; k < cl.o.common.connections; k++)
        if (!run_connection(&cl, k))
            failed++;
    free(cl.request);
    if (cl.o.auth == AUTH_CA)
        free_anchors(&cl.anchors);
    if (cl.known_key.set)
        free_pkey(&cl.known_key.key);
    return failed ? 1 : 0;
}
