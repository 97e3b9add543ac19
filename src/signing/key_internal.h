/*
 * The struct behind the opaque struct signing_key, shared by keys.c (which
 * makes and loads keys), sign.c (which signs with them) and pki.c (which
 * issues certificates for them). Nothing outside
 * src/signing/ includes this header.
 */
#ifndef OTAD_SIGNING_KEY_INTERNAL_H
#define OTAD_SIGNING_KEY_INTERNAL_H

#include <openssl/evp.h>

#include "signing/signing.h"

struct signing_key {
    EVP_PKEY *pkey;               /* owned; holds the private half when info.private_key */
    struct signing_key_info info; /* computed once, at load */
};

/*
 * Wraps PKEY (ownership taken, freed on failure) in a new struct signing_key
 * after checking it is a type otad takes (RSA 2048 to 4096 bits, ECDSA P-256
 * or P-384), and computes its description. DISPLAY names the key's origin
 * in reasons. Returns 0, -ENOTSUP (another type or size), -EIO or -ENOMEM.
 */
int signing_key_wrap(EVP_PKEY *pkey, bool private_key, const char *display,
                     struct signing_key **ret_key, struct reason *why);

/* A fresh key of TYPE (caller frees), or NULL when OpenSSL failed or TYPE is out of range. */
EVP_PKEY *signing_pkey_generate(enum signing_key_type type);

/*
 * Fills WHY with WHAT and, when OpenSSL queued one, the reason string of its
 * last error (library text, never key material), clears OpenSSL's error
 * queue and returns ERR.
 */
int signing_openssl_reason(struct reason *why, int err, const char *what);

/* Whether S is a C identifier of 1 to MAX_LEN characters (the names a generated header declares).
 */
bool signing_c_identifier(const char *s, size_t max_len);

#endif
