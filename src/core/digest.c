/* Digests through libcrypto's one-shot EVP interface. */
#include "core/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/util.h"

void digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_BYTES])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void digest_md5(const void *data, size_t len, uint8_t out[DIGEST_MD5_BYTES])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

void digest_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t d[DIGEST_SHA256_BYTES];
    digest_sha256(data, len, d);
    hex_encode(d, sizeof(d), out);
}

void digest_md5_hex(const void *data, size_t len, char out[33])
{
    uint8_t d[DIGEST_MD5_BYTES];
    digest_md5(data, len, d);
    hex_encode(d, sizeof(d), out);
}

void digest_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[DIGEST_SHA256_BYTES])
{
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

bool digest_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

const char *digest_openssl_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION_STRING);
}
