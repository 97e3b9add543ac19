/* Unit tests for src/core/gzip.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/gzip.h"
#include "core/util.h"

/* `printf 'hello\n' | gzip -n`: header flags 0, mtime 0, XFL 0, OS 3. */
static const uint8_t hello_gz[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd,
    0xc9, 0xc9, 0xe7, 0x02, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00,
};

/* Deterministic filler that deflate cannot shrink much. */
static void fill_pseudo_random(uint8_t *p, size_t len, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static void test_is_gzip(void **state)
{
    static const struct {
        uint8_t bytes[3];
        size_t len;
        bool gzip;
    } cases[] = {
        {{0}, 0, false},          {{0x1f}, 1, false},
        {{0x1f, 0x8b}, 2, true},  {{0x1f, 0x8b, 0x08}, 3, true},
        {{0x1f, 0x8c}, 2, false}, {{0x8b, 0x1f}, 2, false},
        {{0xe9, 0x01}, 2, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(gzip_is_gzip(cases[i].bytes, cases[i].len), cases[i].gzip);
}

static void test_inflate_known_vector(void **state)
{
    struct buf out;
    buf_init(&out, 1024);
    assert_int_equal(gzip_inflate(hello_gz, sizeof(hello_gz), &out), 0);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "hello\n", 6);
    buf_release(&out);
}

static void test_inflate_appends(void **state)
{
    struct buf out;
    buf_init(&out, 1024);
    assert_int_equal(buf_append_str(&out, "abc"), 0);
    assert_int_equal(gzip_inflate(hello_gz, sizeof(hello_gz), &out), 0);
    assert_string_equal((const char *)out.data, "abchello\n");
    buf_release(&out);
}

static void test_inflate_refuses_bad_streams(void **state)
{
    uint8_t bad[sizeof(hello_gz) + 8];
    struct buf out;
    buf_init(&out, 1024);

    /* every truncation, including the empty input */
    for (size_t n = 0; n < sizeof(hello_gz); n++) {
        buf_reset(&out);
        if (gzip_inflate(hello_gz, n, &out) != -EBADMSG)
            fail_msg("prefix of %zu bytes was not refused", n);
    }

    static const struct {
        size_t offset;
        uint8_t value;
    } flips[] = {
        {0, 0x1e},  /* magic */
        {1, 0x8c},  /* magic */
        {2, 0x07},  /* compression method */
        {18, 0x21}, /* CRC-32 */
        {22, 0x07}, /* ISIZE */
        {10, 0xff}, /* deflate data */
    };
    for (size_t i = 0; i < ARRAY_SIZE(flips); i++) {
        memcpy(bad, hello_gz, sizeof(hello_gz));
        bad[flips[i].offset] = flips[i].value;
        buf_reset(&out);
        if (gzip_inflate(bad, sizeof(hello_gz), &out) != -EBADMSG)
            fail_msg("byte %zu set to 0x%02x was not refused", flips[i].offset, flips[i].value);
    }

    /* bytes after the member */
    memcpy(bad, hello_gz, sizeof(hello_gz));
    bad[sizeof(hello_gz)] = 0;
    buf_reset(&out);
    assert_int_equal(gzip_inflate(bad, sizeof(hello_gz) + 1, &out), -EBADMSG);

    /* a second member */
    uint8_t two[2 * sizeof(hello_gz)];
    memcpy(two, hello_gz, sizeof(hello_gz));
    memcpy(two + sizeof(hello_gz), hello_gz, sizeof(hello_gz));
    buf_reset(&out);
    assert_int_equal(gzip_inflate(two, sizeof(two), &out), -EBADMSG);

    /* a zlib (RFC 1950) stream is not gzip */
    static const uint8_t zlib_hello[] = {0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
                                         0xe7, 0x02, 0x00, 0x08, 0x4b, 0x02, 0x1f};
    buf_reset(&out);
    assert_int_equal(gzip_inflate(zlib_hello, sizeof(zlib_hello), &out), -EBADMSG);

    /* plain text */
    buf_reset(&out);
    assert_int_equal(gzip_inflate((const uint8_t *)"hello, world", 12, &out), -EBADMSG);
    buf_release(&out);
}

static void test_inflate_ceiling(void **state)
{
    struct buf out;
    /* exactly enough */
    buf_init(&out, 6);
    assert_int_equal(gzip_inflate(hello_gz, sizeof(hello_gz), &out), 0);
    assert_int_equal(out.len, 6);
    buf_release(&out);
    /* one short */
    buf_init(&out, 5);
    assert_int_equal(gzip_inflate(hello_gz, sizeof(hello_gz), &out), -E2BIG);
    assert_true(out.failed);
    assert_null(out.data);
    buf_release(&out);
}

static void test_inflate_bomb_is_stopped(void **state)
{
    /* 8 MiB of zeros deflates to a few KiB; a 1 MiB ceiling must stop it. */
    size_t big = 8u * 1024u * 1024u;
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    struct buf gz, out;
    buf_init(&gz, big);
    assert_int_equal(gzip_deflate(zeros, big, &gz), 0);
    assert_true(gz.len < 64u * 1024u);
    buf_init(&out, 1024u * 1024u);
    assert_int_equal(gzip_inflate(gz.data, gz.len, &out), -E2BIG);
    buf_release(&out);
    buf_release(&gz);
    free(zeros);
}

static void test_deflate_header_is_fixed(void **state)
{
    struct buf gz;
    buf_init(&gz, 1024);
    assert_int_equal(gzip_deflate((const uint8_t *)"hello\n", 6, &gz), 0);
    /* magic, deflate, no flags, mtime 0, XFL 2 (best), OS 3 (Unix) */
    static const uint8_t header[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03};
    assert_true(gz.len > sizeof(header));
    assert_memory_equal(gz.data, header, sizeof(header));
    /* same deflate stream and trailer as `gzip -n -9` gives */
    assert_int_equal(gz.len, sizeof(hello_gz));
    assert_memory_equal(gz.data + 10, hello_gz + 10, sizeof(hello_gz) - 10);
    buf_release(&gz);

    /* the empty input still gives a complete member */
    buf_init(&gz, 1024);
    assert_int_equal(gzip_deflate(NULL, 0, &gz), 0);
    assert_int_equal(gz.len, 20);
    struct buf out;
    buf_init(&out, 16);
    assert_int_equal(gzip_inflate(gz.data, gz.len, &out), 0);
    assert_int_equal(out.len, 0);
    buf_release(&out);
    buf_release(&gz);
}

static void test_roundtrip(void **state)
{
    static const size_t sizes[] = {1, 15, 16, 4095, 4096, 16384, 16385, 100000, 1u << 20};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        size_t n = sizes[i];
        uint8_t *in = malloc(n);
        assert_non_null(in);
        fill_pseudo_random(in, n, (uint32_t)(i + 1));
        if (i % 2)
            memset(in, 'a', n / 2); /* half compressible */

        struct buf gz, again, out;
        buf_init(&gz, 2 * n + 1024);
        buf_init(&again, 2 * n + 1024);
        buf_init(&out, n);
        assert_int_equal(gzip_deflate(in, n, &gz), 0);
        assert_true(gzip_is_gzip(gz.data, gz.len));
        /* deterministic */
        assert_int_equal(gzip_deflate(in, n, &again), 0);
        assert_int_equal(gz.len, again.len);
        assert_memory_equal(gz.data, again.data, gz.len);
        assert_int_equal(gzip_inflate(gz.data, gz.len, &out), 0);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, in, n);
        buf_release(&gz);
        buf_release(&again);
        buf_release(&out);
        free(in);
    }
}

static void test_deflate_ceiling(void **state)
{
    uint8_t in[4096];
    fill_pseudo_random(in, sizeof(in), 7);
    struct buf gz;
    buf_init(&gz, 100); /* random data does not shrink to 100 bytes */
    assert_int_equal(gzip_deflate(in, sizeof(in), &gz), -E2BIG);
    assert_true(gz.failed);
    buf_release(&gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_gzip),
        cmocka_unit_test(test_inflate_known_vector),
        cmocka_unit_test(test_inflate_appends),
        cmocka_unit_test(test_inflate_refuses_bad_streams),
        cmocka_unit_test(test_inflate_ceiling),
        cmocka_unit_test(test_inflate_bomb_is_stopped),
        cmocka_unit_test(test_deflate_header_is_fixed),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_deflate_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
