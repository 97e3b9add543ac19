/*
 * The struct behind the opaque struct signing_key, shared by keys.c (which
 * makes and loads keys) and sign.c (which uses them). Nothing outside
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
 * Fills WHY with WHAT and, when OpenSSL queued one, the reason string of its
 * last error (library text, never key material), clears OpenSSL's error
 * queue and returns ERR.
 */
int signing_openssl_reason(struct reason *why, int err, const char *what);

#endif
