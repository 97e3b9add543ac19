/*
 * One-shot gzip (RFC 1952) over zlib for gzip.h: inflating an uploaded .gz
 * image to check what is inside, and deflating a plain image into the gzip
 * variant served to ESP8266 cores >= 2.7. Output goes through struct buf, so
 * its ceiling is the caller's; this file owns only zlib's stream state, which
 * never outlives a call.
 */
#include "core/gzip.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>

/* Output is produced in pieces of this size, then appended to the buf. */
#define GZIP_CHUNK_BYTES (16u * 1024u)

/* windowBits for zlib: the largest window, plus 16 for the gzip wrapper. */
#define GZIP_WINDOW_BITS (MAX_WBITS + 16)

/* The OS byte of the header we write (3 = Unix), whatever the host. */
#define GZIP_OS_UNIX 3

bool gzip_is_gzip(const uint8_t *data, size_t len)
{
    return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

/* Gives zlib the next piece of input: avail_in is a uInt, the input a size_t. */
static void feed_input(z_stream *z, const uint8_t **next, size_t *left)
{
    if (z->avail_in > 0 || *left == 0)
        return;
    size_t n = *left < UINT_MAX ? *left : UINT_MAX;
    z->next_in = (Bytef *)(uintptr_t)*next; /* zlib does not write through it */
    z->avail_in = (uInt)n;
    *next += n;
    *left -= n;
}

int gzip_inflate(const uint8_t *data, size_t len, struct buf *out)
{
    uint8_t chunk[GZIP_CHUNK_BYTES];
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, GZIP_WINDOW_BITS) != Z_OK)
        return -ENOMEM;

    const uint8_t *next = data;
    size_t left = len;
    int r;
    for (;;) {
        feed_input(&z, &next, &left);
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t produced = sizeof(chunk) - z.avail_out;
        if (produced > 0) {
            r = buf_append(out, chunk, produced);
            if (r < 0)
                goto finish;
        }
        if (zr == Z_STREAM_END) {
            /* One member only: trailing bytes (a second member, junk) are refused. */
            r = (z.avail_in > 0 || left > 0) ? -EBADMSG : 0;
            goto finish;
        }
        if (zr == Z_MEM_ERROR) {
            r = -ENOMEM;
            goto finish;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
            r = -EBADMSG; /* input ended before the member did */
            goto finish;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            r = -EBADMSG; /* Z_DATA_ERROR: bad header, data or CRC */
            goto finish;
        }
    }
finish:
    inflateEnd(&z);
    return r;
}

int gzip_deflate(const uint8_t *data, size_t len, struct buf *out)
{
    uint8_t chunk[GZIP_CHUNK_BYTES];
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -ENOMEM;

    /* Set explicitly so the bytes do not depend on zlib's build: no name, mtime 0. */
    gz_header header;
    memset(&header, 0, sizeof(header));
    header.os = GZIP_OS_UNIX;
    int r = 0;
    if (deflateSetHeader(&z, &header) != Z_OK) {
        r = -ENOMEM;
        goto finish;
    }

    const uint8_t *next = data;
    size_t left = len;
    for (;;) {
        feed_input(&z, &next, &left);
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        int flush = (left == 0) ? Z_FINISH : Z_NO_FLUSH;
        int zr = deflate(&z, flush);
        if (zr == Z_STREAM_ERROR) {
            r = -ENOMEM;
            goto finish;
        }
        size_t produced = sizeof(chunk) - z.avail_out;
        if (produced > 0) {
            r = buf_append(out, chunk, produced);
            if (r < 0)
                goto finish;
        }
        if (zr == Z_STREAM_END)
            break;
    }
finish:
    deflateEnd(&z);
    return r;
}

const char *gzip_zlib_version(void)
{
    return zlibVersion();
}
