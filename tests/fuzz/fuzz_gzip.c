/*
 * libFuzzer target for src/core/gzip.c. Inflates the input under a 1 MiB
 * ceiling; whatever inflates must deflate and inflate back to the same
 * bytes. The input itself must also survive deflate then inflate.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/gzip.h"

#define FUZZ_CEILING (1024u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Deflates DATA, inflates the result, and aborts unless the bytes come back. */
static void roundtrip(const uint8_t *data, size_t len)
{
    struct buf gz, back;
    buf_init(&gz, 2 * len + 1024);
    buf_init(&back, len);
    if (gzip_deflate(data, len, &gz) != 0)
        abort();
    if (!gzip_is_gzip(gz.data, gz.len))
        abort();
    if (gzip_inflate(gz.data, gz.len, &back) != 0)
        abort();
    if (back.len != len || (len && memcmp(back.data, data, len) != 0))
        abort();
    buf_release(&gz);
    buf_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out;
    buf_init(&out, FUZZ_CEILING);
    int r = gzip_inflate(data, size, &out);
    if (r == 0) {
        if (out.len > FUZZ_CEILING)
            abort();
        roundtrip(out.data, out.len);
    } else if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM) {
        abort();
    }
    buf_release(&out);
    if (size <= 64u * 1024u)
        roundtrip(data, size);
    return 0;
}
