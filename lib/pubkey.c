/*
 * Public keys for the verifier: PEM through BearSSL's PEM decoder, then a
 * small DER walker for SubjectPublicKeyInfo and PKCS#1 RSAPublicKey (BearSSL
 * 0.6 decodes private keys and certificates, not bare public keys).
 *
 * The walker reads definite-length DER only, and every read is checked
 * against the bytes left in the enclosing element, so any input, however
 * hostile, ends in OTAC_OK or an error without reading outside it. It
 * understands exactly the shapes below and refuses everything else:
 *
 *   SubjectPublicKeyInfo ::= SEQUENCE {
 *       algorithm SEQUENCE { OID rsaEncryption, NULL (or absent) }
 *                | SEQUENCE { OID id-ecPublicKey, OID prime256v1 | secp384r1 },
 *       subjectPublicKey BIT STRING (0 unused bits) }
 *   RSAPublicKey ::= SEQUENCE { INTEGER n, INTEGER e }
 */
#include "otac/verify.h"

#include <stdbool.h>
#include <string.h>

#define TAG_INTEGER    0x02
#define TAG_BIT_STRING 0x03
#define TAG_NULL       0x05
#define TAG_OID        0x06
#define TAG_SEQUENCE   0x30

/* Object identifiers, contents only (no tag, no length). */
static const uint8_t oid_rsa_encryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_prime256v1[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_secp384r1[] = {0x2b, 0x81, 0x04, 0x00, 0x22};

/* A view of DER bytes still to be read; reads never go past p + len. */
struct der {
    const uint8_t *p;
    size_t len;
};

/*
 * Takes one element with tag TAG from the front of D: stores its contents in
 * *ret_body and advances D past it. Lengths must be definite, minimally
 * encoded and at most two bytes long (no public key we take needs more).
 * Returns 0, or -1 when the element is missing, another tag or overruns D.
 */
static int der_take(struct der *d, uint8_t tag, struct der *ret_body)
{
    if (d->len < 2 || d->p[0] != tag)
        return -1;
    size_t len = d->p[1];
    size_t header = 2;
    if (len & 0x80) {
        size_t count = len & 0x7f;
        if (count == 0 || count > 2 || d->len - 2 < count)
            return -1;
        len = 0;
        for (size_t i = 0; i < count; i++)
            len = (len << 8) | d->p[2 + i];
        if (len < 0x80 || (count == 2 && len < 0x100))
            return -1;
        header += count;
    }
    if (len > d->len - header)
        return -1;
    ret_body->p = d->p + header;
    ret_body->len = len;
    d->p += header + len;
    d->len -= header + len;
    return 0;
}

static bool der_is(struct der d, const uint8_t *value, size_t len)
{
    return d.len == len && memcmp(d.p, value, len) == 0;
}

/* A DER INTEGER that is positive and minimally encoded. */
static bool der_positive_integer(struct der d)
{
    if (d.len == 0 || (d.p[0] & 0x80))
        return false;
    return !(d.len > 1 && d.p[0] == 0 && !(d.p[1] & 0x80));
}

static void strip_leading_zeros(const uint8_t **p, size_t *len)
{
    while (*len > 0 && **p == 0) {
        (*p)++;
        (*len)--;
    }
}

int otac_pubkey_init_rsa(struct otac_pubkey *ret_key, const uint8_t *n, size_t n_len,
                         const uint8_t *e, size_t e_len)
{
    if (!ret_key || !n || !e)
        return OTAC_E_INVAL;
    strip_leading_zeros(&n, &n_len);
    strip_leading_zeros(&e, &e_len);
    /* Bit length of n: the top byte is nonzero after stripping. */
    size_t bits = n_len * 8;
    for (uint8_t top = n_len ? n[0] : 0x80; !(top & 0x80); top <<= 1)
        bits--;
    if (n_len == 0 || bits < OTAC_RSA_MIN_BITS || n_len > OTAC_RSA_MAX_BYTES || !(n[n_len - 1] & 1))
        return OTAC_E_KEY_UNSUPPORTED;
    if (e_len == 0 || e_len > OTAC_RSA_MAX_E_BYTES || !(e[e_len - 1] & 1))
        return OTAC_E_KEY_UNSUPPORTED;
    ret_key->type = OTAC_KEY_RSA;
    memcpy(ret_key->rsa.n, n, n_len);
    ret_key->rsa.n_len = n_len;
    memcpy(ret_key->rsa.e, e, e_len);
    ret_key->rsa.e_len = e_len;
    return OTAC_OK;
}

int otac_pubkey_init_ec(struct otac_pubkey *ret_key, enum otac_curve curve, const uint8_t *q,
                        size_t q_len)
{
    if (!ret_key || !q)
        return OTAC_E_INVAL;
    size_t want;
    switch (curve) {
    case OTAC_CURVE_P256:
        want = 65;
        break;
    case OTAC_CURVE_P384:
        want = 97;
        break;
    default:
        return OTAC_E_KEY_UNSUPPORTED;
    }
    if (q_len != want || q[0] != 0x04)
        return OTAC_E_KEY_UNSUPPORTED;
    ret_key->type = OTAC_KEY_EC;
    ret_key->ec.curve = curve;
    memcpy(ret_key->ec.q, q, q_len);
    ret_key->ec.q_len = q_len;
    return OTAC_OK;
}

/* RSAPublicKey: the whole of IN must be that one SEQUENCE. */
static int parse_rsa_public_key(struct otac_pubkey *ret_key, struct der in)
{
    struct der seq, n, e;
    if (der_take(&in, TAG_SEQUENCE, &seq) < 0 || in.len != 0)
        return OTAC_E_KEY_PARSE;
    if (der_take(&seq, TAG_INTEGER, &n) < 0 || der_take(&seq, TAG_INTEGER, &e) < 0 || seq.len != 0)
        return OTAC_E_KEY_PARSE;
    if (!der_positive_integer(n) || !der_positive_integer(e))
        return OTAC_E_KEY_PARSE;
    return otac_pubkey_init_rsa(ret_key, n.p, n.len, e.p, e.len);
}

/* SubjectPublicKeyInfo: the whole of IN must be that one SEQUENCE. */
static int parse_spki(struct otac_pubkey *ret_key, struct der in)
{
    struct der spki, algorithm, key, oid;
    if (der_take(&in, TAG_SEQUENCE, &spki) < 0 || in.len != 0)
        return OTAC_E_KEY_PARSE;
    if (der_take(&spki, TAG_SEQUENCE, &algorithm) < 0 ||
        der_take(&spki, TAG_BIT_STRING, &key) < 0 || spki.len != 0)
        return OTAC_E_KEY_PARSE;
    if (der_take(&algorithm, TAG_OID, &oid) < 0)
        return OTAC_E_KEY_PARSE;
    /* The key is a whole number of bytes: no unused bits. */
    if (key.len < 1 || key.p[0] != 0)
        return OTAC_E_KEY_PARSE;
    key.p++;
    key.len--;

    if (der_is(oid, oid_rsa_encryption, sizeof(oid_rsa_encryption))) {
        struct der null;
        if (algorithm.len != 0 &&
            (der_take(&algorithm, TAG_NULL, &null) < 0 || null.len != 0 || algorithm.len != 0))
            return OTAC_E_KEY_PARSE;
        return parse_rsa_public_key(ret_key, key);
    }
    if (der_is(oid, oid_ec_public_key, sizeof(oid_ec_public_key))) {
        struct der curve;
        /* Only a named curve; explicit or implicit parameters are not taken. */
        if (algorithm.len == 0 || algorithm.p[0] != TAG_OID)
            return OTAC_E_KEY_UNSUPPORTED;
        if (der_take(&algorithm, TAG_OID, &curve) < 0 || algorithm.len != 0)
            return OTAC_E_KEY_PARSE;
        if (der_is(curve, oid_prime256v1, sizeof(oid_prime256v1)))
            return otac_pubkey_init_ec(ret_key, OTAC_CURVE_P256, key.p, key.len);
        if (der_is(curve, oid_secp384r1, sizeof(oid_secp384r1)))
            return otac_pubkey_init_ec(ret_key, OTAC_CURVE_P384, key.p, key.len);
        return OTAC_E_KEY_UNSUPPORTED;
    }
    return OTAC_E_KEY_UNSUPPORTED;
}

/* DER input: SubjectPublicKeyInfo, else a bare RSAPublicKey. */
static int parse_der(struct otac_pubkey *ret_key, const uint8_t *data, size_t len)
{
    struct der in = {data, len};
    int r = parse_spki(ret_key, in);
    if (r == OTAC_E_KEY_PARSE)
        r = parse_rsa_public_key(ret_key, in);
    return r;
}

/* Where the PEM decoder puts the bytes of the object we keep. */
struct pem_sink {
    uint8_t *data;
    size_t len;
    size_t max;
    bool overflow;
};

static void pem_sink_append(void *ctx, const void *src, size_t len)
{
    struct pem_sink *sink = ctx;
    if (sink->overflow || len > sink->max - sink->len) {
        sink->overflow = true;
        return;
    }
    memcpy(sink->data + sink->len, src, len);
    sink->len += len;
}

/*
 * True when the PEM object NAME is WANT. BearSSL drops the trailing dashes of
 * a banner only when they end the line, so with CRLF line ends they stay.
 */
static bool pem_name_is(const char *name, const char *want)
{
    size_t len = strlen(name);
    while (len > 0 && (name[len - 1] == '-' || (unsigned char)name[len - 1] <= ' '))
        len--;
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/*
 * Decodes the first "PUBLIC KEY" or "RSA PUBLIC KEY" object of the PEM text
 * DATA into OUT (MAX bytes). Other objects are skipped. Returns 0 and the
 * length, or OTAC_E_KEY_PARSE (none found, bad Base64, too large).
 */
static int pem_decode(const uint8_t *data, size_t len, uint8_t *out, size_t max, size_t *ret_len)
{
    static const uint8_t eol = '\n';
    br_pem_decoder_context pem;
    struct pem_sink sink = {out, 0, max, false};
    bool keeping = false;
    bool eol_fed = false;

    br_pem_decoder_init(&pem);
    for (;;) {
        if (len == 0) {
            /* The decoder sees an END line only once a newline ends it. */
            if (eol_fed)
                return OTAC_E_KEY_PARSE;
            data = &eol;
            len = 1;
            eol_fed = true;
        }
        size_t used = br_pem_decoder_push(&pem, data, len);
        data += used;
        len -= used;
        switch (br_pem_decoder_event(&pem)) {
        case BR_PEM_BEGIN_OBJ: {
            const char *name = br_pem_decoder_name(&pem);
            keeping = pem_name_is(name, "PUBLIC KEY") || pem_name_is(name, "RSA PUBLIC KEY");
            br_pem_decoder_setdest(&pem, keeping ? pem_sink_append : NULL, &sink);
            break;
        }
        case BR_PEM_END_OBJ:
            if (keeping) {
                if (sink.overflow)
                    return OTAC_E_KEY_PARSE;
                *ret_len = sink.len;
                return 0;
            }
            break;
        case BR_PEM_ERROR:
            if (keeping)
                return OTAC_E_KEY_PARSE;
            break;
        default:
            break;
        }
    }
}

int otac_pubkey_parse(struct otac_pubkey *ret_key, const void *data, size_t len)
{
    if (!ret_key || !data)
        return OTAC_E_INVAL;
    const uint8_t *p = data;
    if (len == 0)
        return OTAC_E_KEY_PARSE;
    /*
     * DER starts with a SEQUENCE tag; so does text starting with '0', hence
     * the fallback. DER is taken whole: its last byte may be 0x00.
     */
    if (p[0] == TAG_SEQUENCE) {
        int r = parse_der(ret_key, p, len);
        if (r != OTAC_E_KEY_PARSE)
            return r;
    }
    /* C arrays of PEM text often carry the terminating NUL. */
    while (len > 0 && p[len - 1] == 0)
        len--;
    if (len == 0)
        return OTAC_E_KEY_PARSE;

    uint8_t der[OTAC_PUBKEY_DER_MAX];
    size_t der_len = 0;
    int r = pem_decode(p, len, der, sizeof(der), &der_len);
    if (r < 0)
        return r;
    return parse_der(ret_key, der, der_len);
}
