/*
 * Fixtures shared by the device library's image tests (test_image,
 * test_verify, test_session, test_client): a key pair made by otad's signer
 * (src/signing) with its public half parsed as the device parses it, an image
 * signed by that signer, and an MD5 in the 32 hex digits x-MD5 carries. The
 * in-memory port is memport.h's; the temporary folder, file I/O and payloads
 * are ../signing/support.h's. Header-only (static inline functions) so each
 * test binary stays one source file; include it after cmocka.h, whose
 * fail_msg it reports with.
 */
#ifndef OTAD_TESTS_LIB_SIGNED_H
#define OTAD_TESTS_LIB_SIGNED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <bearssl.h>

#include "core/buf.h"
#include "core/reason.h"
#include "otac/verify.h"
#include "signing/signing.h"
#include "../signing/support.h"

/* The ceiling on a signed image these tests make: the largest payload plus its trailer. */
#define SIGNED_IMAGE_MAX (4u * 1024u * 1024u)

/* Writes the MD5 of LEN bytes at DATA to OUT as 32 lower-case hex digits and a NUL. */
static inline void signed_md5_hex(const void *data, size_t len, char out[33])
{
    br_md5_context c;
    uint8_t d[16];
    br_md5_init(&c);
    br_md5_update(&c, data, len);
    br_md5_out(&c, d);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/*
 * Generates key NAME of TYPE in folder DIR (NAME.pub beside it) with otad's
 * signer and parses NAME.pub as the device does. On success *RET_PRIV is the
 * caller's (signing_key_free) and *RET_PUB is filled; returns 0. Returns -1
 * if either step fails, with nothing to free.
 */
static inline int signed_key_new(const char *dir, const char *name, enum signing_key_type type,
                                 struct signing_key **ret_priv, struct otac_pubkey *ret_pub)
{
    struct reason why = {""};
    struct signing_key *priv;
    if (signing_key_generate(dir, name, type, &priv, &why) < 0)
        return -1;
    size_t len;
    uint8_t *pem = test_read_file(test_path("%s/%s.pub", dir, name), &len);
    int r = otac_pubkey_parse(ret_pub, pem, len);
    free(pem);
    if (r != OTAC_OK) {
        signing_key_free(priv);
        return -1;
    }
    *ret_priv = priv;
    return 0;
}

/*
 * PAYLOAD (LEN bytes) signed with KEY in FORMAT over HASH, as otad serves it;
 * the caller releases the buffer (buf_release). Fails the test if signing
 * fails.
 */
static inline struct buf signed_image(const struct signing_key *key, enum signing_format format,
                                      enum signing_hash hash, const uint8_t *payload, size_t len)
{
    struct buf out;
    struct reason why = {""};
    buf_init(&out, SIGNED_IMAGE_MAX);
    if (signing_sign(key, format, hash, payload, len, &out, &why) < 0)
        fail_msg("signing_sign: %s", why.text);
    return out;
}

#endif
