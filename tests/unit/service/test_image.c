/* Unit tests for src/service/image.c: headers, segments, gzip, and the ESP32 app descriptor. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/gzip.h"
#include "core/limits.h"
#include "core/util.h"
#include "service/image.h"
#include "../support/app_desc_assert.h"

#define MiB (1024u * 1024u)

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/*
 * Writes an esptool-style image of exactly SIZE bytes (a multiple of 16) into
 * OUT: HEADER_LEN header bytes (8 for ESP8266, 24 for ESP32), SEGMENTS
 * segments sharing the room, padding and the checksum byte, then for
 * HASH a 32-byte trailer (not a real digest: image.c does not check it).
 */
static void make_image(uint8_t *out, size_t size, size_t header_len, unsigned segments, bool hash)
{
    memset(out, 0, size);
    out[0] = 0xE9;
    out[1] = (uint8_t)segments;
    out[2] = 2;    /* DIO */
    out[3] = 0x40; /* 4M, 40 MHz */
    put_le32(out + 4, 0x40100004);
    if (header_len == 24) {
        out[8] = 0xEE;
        out[23] = hash ? 1 : 0;
    }
    size_t body = size - (hash ? 32 : 0);
    size_t data = body - header_len - 8 * segments - 4; /* 3 padding bytes and the checksum */
    size_t off = header_len;
    uint8_t checksum = 0xEF;
    for (unsigned i = 0; i < segments; i++) {
        uint32_t len = (uint32_t)(i == segments - 1 ? data - (data / segments / 4 * 4) * i
                                                    : data / segments / 4 * 4);
        put_le32(out + off, 0x40100000 + 0x1000 * i);
        put_le32(out + off + 4, len);
        off += 8;
        for (uint32_t j = 0; j < len; j++) {
            out[off + j] = (uint8_t)(j * 31 + i);
            checksum ^= out[off + j];
        }
        off += len;
    }
    assert_int_equal(off, body - 4);
    out[body - 1] = checksum;
}

static void make_esp8266(uint8_t *out, size_t size, unsigned segments)
{
    make_image(out, size, 8, segments, false);
}

static void make_esp32(uint8_t *out, size_t size, unsigned segments, uint16_t chip, bool hash)
{
    make_image(out, size, 24, segments, hash);
    out[12] = (uint8_t)chip;
    out[13] = (uint8_t)(chip >> 8);
}

/* Offset of segment I's header in an image made above (walking the lengths). */
static size_t segment_offset(const uint8_t *img, size_t header_len, unsigned i)
{
    size_t off = header_len;
    for (unsigned k = 0; k < i; k++)
        off += 8 + (size_t)(img[off + 4] | img[off + 5] << 8 | img[off + 6] << 16 |
                            (uint32_t)img[off + 7] << 24);
    return off;
}

static int inspect(enum platform p, enum fw_mode m, const uint8_t *data, size_t len,
                   struct image_info *info, struct reason *why)
{
    memset(info, 0xAA, sizeof(*info));
    memset(why, 0, sizeof(*why));
    return image_inspect(p, m, data, len, info, why);
}

/* The info must be untouched (still 0xAA filled) after a refusal. */
static void assert_info_untouched(const struct image_info *info)
{
    const uint8_t *p = (const uint8_t *)info;
    for (size_t i = 0; i < sizeof(*info); i++)
        assert_int_equal(p[i], 0xAA);
}

static void assert_refused(enum platform p, const uint8_t *data, size_t len, const char *reason)
{
    struct image_info info;
    struct reason why;
    int r = inspect(p, FW_MODE_SKETCH, data, len, &info, &why);
    if (r != -EBADMSG)
        fail_msg("expected -EBADMSG (%s), got %d", reason, r);
    if (!strstr(why.text, reason))
        fail_msg("reason \"%s\" does not contain \"%s\"", why.text, reason);
    assert_info_untouched(&info);
}

static void test_flash_size_codes(void **state)
{
    static const struct {
        uint8_t code;
        uint64_t bytes;
    } cases[] = {
        {0, 512u * 1024u},
        {1, 256u * 1024u},
        {2, 1 * MiB},
        {3, 2 * MiB},
        {4, 4 * MiB},
        {5, 0},
        {6, 0},
        {7, 0},
        {8, 8 * MiB},
        {9, 16 * MiB},
        {10, 0},
        {15, 0},
        {255, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_true(image_esp8266_flash_size(cases[i].code) == cases[i].bytes);
}

static void test_esp8266_valid(void **state)
{
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    static const unsigned segments[] = {1, 2, 3, 16};
    for (size_t i = 0; i < ARRAY_SIZE(segments); i++) {
        make_esp8266(img, sizeof(img), segments[i]);
        assert_int_equal(inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, &why),
                         0);
        assert_int_equal(info.platform, PLATFORM_ESP8266);
        assert_false(info.gzip);
        assert_true(info.content_size == sizeof(img));
        assert_int_equal(info.segment_count, segments[i]);
        assert_int_equal(info.flash_mode, 2);
        assert_int_equal(info.flash_size_code, 4);
        assert_true(info.flash_size == 4 * MiB);
        assert_int_equal(info.esp32_chip_id, 0);
        assert_false(info.esp32_hash_appended);
    }
}

static void test_esp8266_smallest(void **state)
{
    /* 16 bytes: the header and one empty segment */
    uint8_t img[16] = {0xE9, 1, 0, 0x20, 0, 0, 0x10, 0x40, 0, 0, 0x10, 0x40, 0, 0, 0, 0};
    struct image_info info;
    struct reason why;
    assert_int_equal(inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, 16, &info, &why), 0);
    assert_int_equal(info.segment_count, 1);
    assert_int_equal(info.flash_size_code, 2);
    assert_true(info.flash_size == 1 * MiB);
    assert_refused(PLATFORM_ESP8266, img, 15,
                   "the image is 15 bytes; an ESP8266 image has at least 16");
    assert_refused(PLATFORM_ESP8266, img, 1,
                   "the image is 1 bytes; an ESP8266 image has at least 16");
    assert_refused(PLATFORM_ESP8266, img, 0, "the image is empty");
    assert_refused(PLATFORM_ESP8266, NULL, 0, "the image is empty");
}

static void test_esp8266_header_fields(void **state)
{
    uint8_t img[256];
    struct image_info info;
    struct reason why;

    /* every flash mode 0-3, every flash-size code */
    for (unsigned mode = 0; mode < 256; mode++) {
        make_esp8266(img, sizeof(img), 1);
        img[2] = (uint8_t)mode;
        int r = inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, &why);
        if (mode <= 3) {
            assert_int_equal(r, 0);
            assert_int_equal(info.flash_mode, mode);
        } else {
            assert_int_equal(r, -EBADMSG);
        }
    }
    for (unsigned code = 0; code < 16; code++) {
        for (unsigned freq = 0; freq < 16; freq += 15) {
            make_esp8266(img, sizeof(img), 1);
            img[3] = (uint8_t)(code << 4 | freq);
            int r = inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, &why);
            bool known = code <= 6 || code == 8 || code == 9;
            if (!known) {
                assert_int_equal(r, -EBADMSG);
                continue;
            }
            assert_int_equal(r, 0);
            assert_int_equal(info.flash_size_code, code);
            assert_true(info.flash_size == image_esp8266_flash_size((uint8_t)code));
        }
    }

    make_esp8266(img, sizeof(img), 1);
    img[0] = 0x7f;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "byte 0 is 0x7f; an ESP8266 image starts with 0xE9 (or 1F 8B for gzip)");
    img[0] = 0x1f; /* half a gzip magic */
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "byte 0 is 0x1f; an ESP8266 image starts with 0xE9 (or 1F 8B for gzip)");
    img[0] = 0xEA; /* the second header of a two-part image is not a first byte */
    assert_refused(PLATFORM_ESP8266, img, sizeof(img), "byte 0 is 0xea;");

    make_esp8266(img, sizeof(img), 1);
    img[1] = 0;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "byte 1 (segment count) is 0; an ESP8266 image has 1 to 16 segments");
    img[1] = 17;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img), "byte 1 (segment count) is 17;");

    make_esp8266(img, sizeof(img), 1);
    img[2] = 4;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "byte 2 (flash mode) is 4; expected 0 (QIO), 1 (QOUT), 2 (DIO) or 3 (DOUT)");

    make_esp8266(img, sizeof(img), 1);
    img[3] = 0x70;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "byte 3 (flash size) has code 7 in its high nibble; known codes are 0-6, 8 "
                   "and 9");
    img[3] = 0xF0;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img), "byte 3 (flash size) has code 15");
}

static void test_esp8266_segments_must_fit(void **state)
{
    uint8_t img[512];
    struct image_info info;
    struct reason why;

    /* segments that end exactly at the end of the data are fine (no checksum needed) */
    make_esp8266(img, sizeof(img), 2);
    size_t last = segment_offset(img, 8, 1);
    put_le32(img + last + 4, (uint32_t)(sizeof(img) - last - 8));
    assert_int_equal(inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);

    /* one byte more is past the end */
    put_le32(img + last + 4, (uint32_t)(sizeof(img) - last - 8 + 1));
    assert_refused(PLATFORM_ESP8266, img, sizeof(img), "segment 2 of 2: ");
    assert_refused(PLATFORM_ESP8266, img, sizeof(img), "run past the end of the 512-byte image");

    /* a huge length must not wrap around */
    put_le32(img + last + 4, 0xFFFFFFFFu);
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "segment 2 of 2: 4294967295 bytes at offset");
    put_le32(img + last + 4, 0xFFFFFFF8u);
    assert_refused(PLATFORM_ESP8266, img, sizeof(img), "segment 2 of 2:");

    /* the header says 3 segments, the data ends after 2 */
    make_esp8266(img, sizeof(img), 2);
    put_le32(img + last + 4, (uint32_t)(sizeof(img) - last - 8));
    img[1] = 3;
    assert_refused(PLATFORM_ESP8266, img, sizeof(img),
                   "segment 3 of 3: its header at offset 512 runs past the end of the 512-byte "
                   "image");

    /* a header cut in the middle */
    make_esp8266(img, sizeof(img), 1);
    put_le32(img + 12, 0);
    img[1] = 2; /* second header at 16; give it only 4 bytes */
    assert_refused(PLATFORM_ESP8266, img, 20, "segment 2 of 2: its header at offset 16");

    /* truncated upload: the first segment is cut */
    make_esp8266(img, sizeof(img), 1);
    assert_refused(PLATFORM_ESP8266, img, 100, "segment 1 of 1: 492 bytes at offset 16 run past");
}

static void test_esp8266_gzip(void **state)
{
    static uint8_t img[8192];
    make_esp8266(img, sizeof(img), 3);
    img[3] = 0x20; /* 1M */
    struct buf gz;
    buf_init(&gz, 2 * sizeof(img));
    assert_int_equal(gzip_deflate(img, sizeof(img), &gz), 0);

    struct image_info info;
    struct reason why;
    assert_int_equal(inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, gz.data, gz.len, &info, &why), 0);
    assert_true(info.gzip);
    assert_true(info.content_size == sizeof(img)); /* the inflated size */
    assert_int_equal(info.segment_count, 3);
    assert_int_equal(info.flash_mode, 2);
    assert_int_equal(info.flash_size_code, 2);
    assert_true(info.flash_size == 1 * MiB);

    /* the gzip variant is for ESP8266 only */
    assert_refused(PLATFORM_ESP32, gz.data, gz.len,
                   "the image is gzip (1F 8B); ESP32 devices accept only a plain image starting "
                   "with 0xE9");

    /* truncated */
    assert_refused(PLATFORM_ESP8266, gz.data, gz.len - 1,
                   "the gzip image is corrupt or truncated (or has bytes after its end)");
    assert_refused(PLATFORM_ESP8266, gz.data, 2, "the gzip image is corrupt or truncated");
    buf_release(&gz);

    /* content that is not an image */
    img[0] = 0x7f;
    buf_init(&gz, 2 * sizeof(img));
    assert_int_equal(gzip_deflate(img, sizeof(img), &gz), 0);
    assert_refused(PLATFORM_ESP8266, gz.data, gz.len,
                   "the gzip content: byte 0 is 0x7f; an ESP8266 image starts with 0xE9");
    img[0] = 0xE9;

    /* gzip inside gzip */
    struct buf gz2;
    buf_init(&gz2, 4 * sizeof(img));
    buf_reset(&gz);
    assert_int_equal(gzip_deflate(img, sizeof(img), &gz), 0);
    assert_int_equal(gzip_deflate(gz.data, gz.len, &gz2), 0);
    assert_refused(PLATFORM_ESP8266, gz2.data, gz2.len, "the gzip content: byte 0 is 0x1f");
    buf_release(&gz2);

    /* content with a bad segment */
    img[1] = 16;
    buf_reset(&gz);
    assert_int_equal(gzip_deflate(img, sizeof(img), &gz), 0);
    assert_refused(PLATFORM_ESP8266, gz.data, gz.len, "the gzip content: segment 4 of 16");

    /* tiny content */
    buf_reset(&gz);
    assert_int_equal(gzip_deflate(img, 8, &gz), 0);
    assert_refused(PLATFORM_ESP8266, gz.data, gz.len,
                   "the gzip content: the image is 8 bytes; an ESP8266 image has at least 16");
    buf_reset(&gz);
    assert_int_equal(gzip_deflate(NULL, 0, &gz), 0);
    assert_refused(PLATFORM_ESP8266, gz.data, gz.len, "the gzip content: the image is empty");
    buf_release(&gz);
}

static void test_esp8266_gzip_bomb(void **state)
{
    /* A valid header followed by zeros, inflating to one byte over the cap. */
    size_t n = LIMIT_GUNZIP_BYTES + 1;
    uint8_t *big = calloc(1, n);
    assert_non_null(big);
    make_esp8266(big, 64, 1);
    struct buf gz;
    buf_init(&gz, 1 * MiB);
    assert_int_equal(gzip_deflate(big, n, &gz), 0);
    free(big);
    assert_refused(PLATFORM_ESP8266, gz.data, gz.len, "the gzip image inflates to more than");
    buf_release(&gz);
}

static void test_fs_mode(void **state)
{
    struct image_info info;
    struct reason why;
    static const uint8_t blobs[][4] = {
        {0x00, 0x00, 0x00, 0x00},
        {0x1f, 0x00, 0x08, 0x00},
        {0xE9, 0x00, 0x00, 0x00},
        {'h', 'e', 'l', 'l'},
    };
    for (size_t i = 0; i < ARRAY_SIZE(blobs); i++) {
        for (size_t len = 1; len <= 4; len++) {
            for (int p = PLATFORM_ESP8266; p <= PLATFORM_ESP32; p++) {
                assert_int_equal(inspect((enum platform)p, FW_MODE_FS, blobs[i], len, &info, &why),
                                 0);
                assert_int_equal(info.platform, p);
                assert_false(info.gzip); /* not looked at: FS blobs are written as they are */
                assert_true(info.content_size == len);
                assert_int_equal(info.segment_count, 0);
                assert_true(info.flash_size == 0);
            }
        }
    }
    assert_int_equal(inspect(PLATFORM_ESP8266, FW_MODE_FS, NULL, 0, &info, &why), -EBADMSG);
    assert_string_equal(why.text, "the filesystem image is empty");
    assert_info_untouched(&info);
    /* A gzip filesystem image would be flashed compressed: refused, on both platforms. */
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00};
    for (int p = PLATFORM_ESP8266; p <= PLATFORM_ESP32; p++) {
        assert_int_equal(inspect((enum platform)p, FW_MODE_FS, gz, sizeof(gz), &info, &why),
                         -EBADMSG);
        assert_non_null(strstr(why.text, "gzip"));
    }
}

static void test_esp32_valid(void **state)
{
    static const uint16_t chips[] = {0, 2, 5, 9, 12, 13, 16, 18, 23};
    uint8_t img[2048];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(chips); i++) {
        for (int hash = 0; hash <= 1; hash++) {
            make_esp32(img, sizeof(img), 4, chips[i], hash);
            assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why),
                             0);
            assert_int_equal(info.platform, PLATFORM_ESP32);
            assert_false(info.gzip);
            assert_true(info.content_size == sizeof(img));
            assert_int_equal(info.segment_count, 4);
            assert_int_equal(info.flash_mode, 2);
            assert_int_equal(info.flash_size_code, 4);
            assert_true(info.flash_size == 0); /* HTTPUpdate does not check it */
            assert_int_equal(info.esp32_chip_id, chips[i]);
            assert_int_equal(info.esp32_hash_appended, hash);
            assert_false(info.app.present); /* no magic word at offset 32 */
        }
    }
}

static void test_esp32_refusals(void **state)
{
    uint8_t img[512];
    make_esp32(img, sizeof(img), 1, 0, false);
    img[0] = 0x7f;
    assert_refused(PLATFORM_ESP32, img, sizeof(img),
                   "byte 0 is 0x7f; an ESP32 image starts with 0xE9");
    assert_refused(PLATFORM_ESP32, img, 0, "the image is empty");

    make_esp32(img, sizeof(img), 1, 0, false);
    assert_refused(PLATFORM_ESP32, img, 23,
                   "the image is 23 bytes; an ESP32 image header alone is 24");
    assert_refused(PLATFORM_ESP32, img, 16, "the image is 16 bytes;");
    assert_refused(PLATFORM_ESP32, img, 1, "the image is 1 bytes;");

    img[1] = 0;
    assert_refused(PLATFORM_ESP32, img, sizeof(img),
                   "byte 1 (segment count) is 0; an ESP32 image has 1 to 16 segments");
    img[1] = 17;
    assert_refused(PLATFORM_ESP32, img, sizeof(img), "byte 1 (segment count) is 17;");

    static const uint16_t unknown[] = {1,  3,  4,  6,  7,  8,  10,    11,    14,
                                       15, 17, 19, 20, 22, 24, 0x100, 0xFFFF};
    for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
        char expect[64];
        snprintf(expect, sizeof(expect), "bytes 12-13 (chip id) are %u, not a known chip",
                 unknown[i]);
        make_esp32(img, sizeof(img), 1, unknown[i], false);
        assert_refused(PLATFORM_ESP32, img, sizeof(img), expect);
    }

    /* an ESP8266 image (no extended header) read as ESP32: chip id bytes are segment data */
    uint8_t e8[512];
    make_esp8266(e8, sizeof(e8), 1);
    assert_refused(PLATFORM_ESP32, e8, sizeof(e8), "bytes 12-13 (chip id) are");

    /* segments walked from offset 24 */
    make_esp32(img, sizeof(img), 2, 9, false);
    size_t last = segment_offset(img, 24, 1);
    put_le32(img + last + 4, (uint32_t)(sizeof(img) - last - 8 + 1));
    assert_refused(PLATFORM_ESP32, img, sizeof(img), "segment 2 of 2: ");
    put_le32(img + last + 4, 0xFFFFFFFFu);
    assert_refused(PLATFORM_ESP32, img, sizeof(img), "segment 2 of 2: 4294967295 bytes");
    make_esp32(img, sizeof(img), 1, 9, false);
    img[1] = 2;
    assert_refused(PLATFORM_ESP32, img, sizeof(img), "segment 2 of 2: its header at offset");
}

static void test_esp32_hash_appended(void **state)
{
    uint8_t img[1024];
    struct image_info info;
    struct reason why;

    make_esp32(img, sizeof(img), 2, 5, true);
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_true(info.esp32_hash_appended);
    assert_int_equal(info.esp32_hash_offset, 992); /* right after the padded segments */

    /* one byte of the digest missing */
    assert_refused(PLATFORM_ESP32, img, sizeof(img) - 1,
                   "byte 23 says a 32-byte SHA-256 is appended, but the image has 31 bytes "
                   "after its padded segments (which end at offset 992)");
    /* only the padded segments */
    assert_refused(PLATFORM_ESP32, img, sizeof(img) - 32, "the image has 0 bytes after");
    /* not even the checksum byte */
    assert_refused(PLATFORM_ESP32, img, sizeof(img) - 33, "the image has 0 bytes after");

    /* extra bytes after the digest (a signature block, say) are fine */
    uint8_t longer[1024 + 512];
    memset(longer, 0x5a, sizeof(longer));
    memcpy(longer, img, sizeof(img));
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, longer, sizeof(longer), &info, &why),
                     0);
    assert_int_equal(info.esp32_hash_offset, 992); /* not the last 32 bytes */

    /* the same image without the flag needs no digest */
    img[23] = 0;
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img) - 32, &info, &why),
                     0);
    assert_false(info.esp32_hash_appended);

    /* the bootloader reads any non-zero byte 23 as set */
    img[23] = 2;
    assert_refused(PLATFORM_ESP32, img, sizeof(img) - 32, "byte 23 says");
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_true(info.esp32_hash_appended);
}

/* --- the app descriptor (esp_app_desc_t at offset 32) --- */

#define DESC 32 /* where the descriptor starts: the first segment's data */

/* What put_desc writes; NULL strings are left as the zeros memset gave. */
struct desc_spec {
    uint32_t secure_version;
    const char *version, *project, *time, *date, *idf;
};

static void put_field(uint8_t *img, size_t offset, const char *text)
{
    if (text)
        memcpy(img + DESC + offset, text, strlen(text));
}

/* Writes a descriptor at offset 32 of IMG; its ELF SHA-256 is the bytes 0xA0, 0xA1 ... 0xBF. */
static void put_desc(uint8_t *img, const struct desc_spec *spec)
{
    memset(img + DESC, 0, 256);
    put_le32(img + DESC, 0xABCD5432u);
    put_le32(img + DESC + 4, spec->secure_version);
    put_field(img, 16, spec->version);
    put_field(img, 48, spec->project);
    put_field(img, 80, spec->time);
    put_field(img, 96, spec->date);
    put_field(img, 112, spec->idf);
    for (unsigned i = 0; i < 32; i++)
        img[DESC + 144 + i] = (uint8_t)(0xA0 + i);
    img[DESC + 180] = 16; /* mmu_page_size: 64 KiB */
}

static const struct desc_spec idf_app = {3,          "2.1.0",       "door-controller",
                                         "12:34:56", "Mar  4 2026", "v5.2.1"};

/* Sets the extended header's chip revisions: legacy byte 14, LE16 at 15 and at 17. */
static void put_revs(uint8_t *img, uint8_t legacy, uint16_t min, uint16_t max)
{
    img[14] = legacy;
    img[15] = (uint8_t)min;
    img[16] = (uint8_t)(min >> 8);
    img[17] = (uint8_t)max;
    img[18] = (uint8_t)(max >> 8);
}

/*
 * An ESP32 image of SIZE bytes with two segments, the first FIRST_LEN bytes
 * long (its header at 24, its data at 32), the second the rest; DESC, when
 * not NULL, is written at 32 before the second segment's header, which it
 * may then overlap.
 */
static void make_esp32_first(uint8_t *img, size_t size, size_t first_len,
                             const struct desc_spec *desc)
{
    make_esp32(img, size, 1, 0, false);
    if (desc)
        put_desc(img, desc);
    img[1] = 2;
    put_le32(img + 24, 0x3F400020);
    put_le32(img + 28, (uint32_t)first_len);
    size_t second = DESC + first_len;
    put_le32(img + second, 0x3FFB0000);
    put_le32(img + second + 4, (uint32_t)(size - second - 8 - 4)); /* 3 padding, checksum */
}

static void assert_app(const struct image_info *info, const struct desc_spec *spec, uint16_t chip)
{
    assert_true(info->app.present);
    assert_false(info->app.framework);
    assert_string_equal(info->app.version, spec->version);
    assert_string_equal(info->app.project, spec->project);
    assert_string_equal(info->app.build_time, spec->time);
    assert_string_equal(info->app.build_date, spec->date);
    assert_string_equal(info->app.idf_version, spec->idf);
    assert_int_equal(info->app.secure_version, spec->secure_version);
    assert_string_equal(info->app.elf_sha256,
                        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
    assert_int_equal(info->app.chip_id, chip);
}

static void test_app_desc_every_chip(void **state)
{
    static const uint16_t chips[] = {0, 2, 5, 9, 12, 13, 16, 18, 23};
    uint8_t img[2048];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(chips); i++) {
        for (int hash = 0; hash <= 1; hash++) {
            make_esp32(img, sizeof(img), 3, chips[i], hash);
            put_desc(img, &idf_app);
            put_revs(img, 1, 101, 399);
            assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why),
                             0);
            assert_app(&info, &idf_app, chips[i]);
            assert_int_equal(info.app.min_chip_rev, 101);
            assert_int_equal(info.app.max_chip_rev, 399);
            assert_int_equal(info.esp32_chip_id, chips[i]);
            /* the same bytes read alone */
            struct app_desc app;
            assert_int_equal(image_app_desc(img, sizeof(img), &app, &why), 0);
            assert_app_equal(&app, &info.app);
        }
    }
}

static void test_app_desc_chip_revisions(void **state)
{
    static const struct {
        uint8_t legacy;
        uint16_t min, max;
        uint16_t want_min, want_max; /* 0: unbounded */
    } cases[] = {
        {0, 0, 0xFFFF, 0, 0},     /* esptool's defaults: no bound either way */
        {3, 300, 0xFFFF, 300, 0}, /* a minimum only */
        {0, 0, 199, 0, 199},      /* a maximum only */
        {1, 100, 100, 100, 100},  /* exactly one revision */
        {3, 0, 0, 300, 0},        /* before IDF 5.0: the legacy major byte is the minimum */
        {0, 0, 0, 0, 0},          {2, 301, 0xFFFF, 301, 0}, /* the full field wins once it exists */
    };
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        make_esp32(img, sizeof(img), 1, 9, false);
        put_desc(img, &idf_app);
        put_revs(img, cases[i].legacy, cases[i].min, cases[i].max);
        assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
        assert_int_equal(info.app.min_chip_rev, cases[i].want_min);
        assert_int_equal(info.app.max_chip_rev, cases[i].want_max);
    }
    /* a range no chip is in */
    make_esp32(img, sizeof(img), 1, 9, false);
    put_desc(img, &idf_app);
    put_revs(img, 3, 300, 299);
    assert_refused(
        PLATFORM_ESP32, img, sizeof(img),
        "bytes 15-18 give chip revisions from v3.0 to v2.99: no chip can boot the image");
}

static void test_app_desc_absent(void **state)
{
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    /* no magic: an image from before IDF 3.2, or not built by IDF */
    make_esp32(img, sizeof(img), 2, 0, false);
    put_revs(img, 1, 100, 300);
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_false(info.app.present);
    assert_int_equal(info.app.min_chip_rev, 0); /* every field zero without a descriptor */
    assert_int_equal(info.app.chip_id, 0);
    assert_string_equal(info.app.version, "");
    /* the magic byte-swapped is not the magic */
    put_desc(img, &idf_app);
    put_le32(img + DESC, 0x3254CDABu);
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_false(info.app.present);
    /* a first segment of 0-3 bytes cannot hold the magic, whatever follows it */
    for (size_t first = 0; first < 4; first++) {
        make_esp32_first(img, sizeof(img), first, NULL);
        memcpy(img + DESC, "\x32\x54\xcd\xab", first); /* the magic's first bytes, cut */
        if (first == 0)
            put_le32(img + DESC, 0xABCD5432u); /* the second segment's load address */
        assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
        assert_false(info.app.present);
    }
    /* ESP8266 images have no descriptor, even with the magic at 32 */
    make_esp8266(img, sizeof(img), 1);
    put_le32(img + DESC, 0xABCD5432u);
    assert_int_equal(inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_false(info.app.present);
    /* filesystem images are not looked into */
    make_esp32(img, sizeof(img), 1, 0, false);
    put_desc(img, &(struct desc_spec){0, NULL, NULL, NULL, NULL, NULL});
    memset(img + DESC + 16, 'x', 32); /* would be refused in a sketch */
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_FS, img, sizeof(img), &info, &why), 0);
    assert_false(info.app.present);
    /* image_app_desc on bytes too short to reach offset 32 */
    struct app_desc app;
    assert_int_equal(image_app_desc(img, 31, &app, &why), 0);
    assert_false(app.present);
}

static void test_app_desc_cut(void **state)
{
    /* The first segment ending inside each field of the descriptor. */
    static const struct {
        size_t first_len;
        const char *field;
    } cuts[] = {
        {4, "secure_version"},
        {7, "secure_version"},
        {8, "reserv1"},
        {16, "version"},
        {47, "version"},
        {48, "project_name"},
        {80, "time"},
        {96, "date"},
        {112, "idf_ver"},
        {143, "idf_ver"},
        {144, "app_elf_sha256"},
        {176, "min_efuse_blk_rev_full"},
        {178, "max_efuse_blk_rev_full"},
        {180, "mmu_page_size"},
        {181, "the reserved bytes"},
        {252, "the reserved bytes"},
    };
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
        char expect[160];
        snprintf(expect, sizeof(expect),
                 "the first segment is %zu bytes, so it ends inside the 256-byte app descriptor "
                 "it starts with (in its %s)",
                 cuts[i].first_len, cuts[i].field);
        make_esp32_first(img, sizeof(img), cuts[i].first_len, &idf_app);
        assert_refused(PLATFORM_ESP32, img, sizeof(img), expect);
    }
    /* 256 bytes exactly is whole */
    make_esp32_first(img, sizeof(img), 256, &idf_app);
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_app(&info, &idf_app, 0);

    /* the image itself cut inside the descriptor: the segment walk refuses it first */
    make_esp32(img, sizeof(img), 1, 0, false);
    put_desc(img, &idf_app);
    for (size_t len = DESC; len < DESC + 256; len += 37)
        assert_refused(PLATFORM_ESP32, img, len, "segment 1 of 1: ");
}

static void test_app_desc_strings(void **state)
{
    static const struct {
        size_t offset, size;
        const char *name;
    } fields[] = {
        {16, 32, "version"}, {48, 32, "project_name"}, {80, 16, "time"},
        {96, 16, "date"},    {112, 32, "idf_ver"},
    };
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        char expect[128];
        /* no NUL inside the field: the next field's first byte would be read as its end */
        make_esp32(img, sizeof(img), 1, 0, false);
        put_desc(img, &idf_app);
        memset(img + DESC + fields[i].offset, '7', fields[i].size);
        snprintf(expect, sizeof(expect), "the app descriptor's %s has no NUL in its %zu bytes",
                 fields[i].name, fields[i].size);
        assert_refused(PLATFORM_ESP32, img, sizeof(img), expect);
        /* a NUL as the field's last byte is enough: the longest string fits */
        img[DESC + fields[i].offset + fields[i].size - 1] = 0;
        assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
        /* control bytes, DEL and bytes above ASCII before the NUL */
        static const uint8_t bad[] = {0x01, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0xff};
        for (size_t b = 0; b < ARRAY_SIZE(bad); b++) {
            make_esp32(img, sizeof(img), 1, 0, false);
            put_desc(img, &idf_app);
            memcpy(img + DESC + fields[i].offset, "ab\0", 3);
            img[DESC + fields[i].offset + 1] = bad[b];
            snprintf(expect, sizeof(expect),
                     "the app descriptor's %s has byte 0x%02x at position 1; it must be "
                     "printable ASCII",
                     fields[i].name, bad[b]);
            assert_refused(PLATFORM_ESP32, img, sizeof(img), expect);
        }
        /* what follows the NUL is not read */
        make_esp32(img, sizeof(img), 1, 0, false);
        put_desc(img, &idf_app);
        memcpy(img + DESC + fields[i].offset, "ok\0\x01\xff", 5);
        assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
        assert_true(info.app.present);
    }
    /* empty strings are fine (a reproducible build leaves time and date out) */
    make_esp32(img, sizeof(img), 1, 0, false);
    put_desc(img, &(struct desc_spec){0, "", "", "", "", ""});
    assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
    assert_true(info.app.present);
    assert_string_equal(info.app.version, "");
    assert_string_equal(info.app.build_date, "");
}

static void test_app_desc_secure_version(void **state)
{
    static const struct {
        uint32_t secure_version;
        bool accepted;
    } cases[] = {{0, true},   {1, true},      {16, true},          {32, true},
                 {33, false}, {0x100, false}, {0xFFFFFFFFu, false}};
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct desc_spec spec = idf_app;
        spec.secure_version = cases[i].secure_version;
        make_esp32(img, sizeof(img), 1, 13, false);
        put_desc(img, &spec);
        if (cases[i].accepted) {
            assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why),
                             0);
            assert_int_equal(info.app.secure_version, cases[i].secure_version);
        } else {
            char expect[128];
            snprintf(expect, sizeof(expect),
                     "the app descriptor's secure_version is %u; no chip's anti-rollback eFuse "
                     "field holds more than 32",
                     (unsigned)cases[i].secure_version);
            assert_refused(PLATFORM_ESP32, img, sizeof(img), expect);
        }
    }
}

static void test_app_desc_framework(void **state)
{
    static const struct {
        const char *project;
        bool framework;
    } cases[] = {
        {"arduino-lib-builder", true},
        {"arduino-lib-builder2", false},
        {"Arduino-lib-builder", false},
        {"arduino-lib-builde", false},
        {"", false},
    };
    uint8_t img[1024];
    struct image_info info;
    struct reason why;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct desc_spec spec = {
            0, "esp-idf: v4.4.6 3572900934", cases[i].project, "10:20:30", "Jan  9 2024", "v4.4.6"};
        make_esp32(img, sizeof(img), 1, 0, false);
        put_desc(img, &spec);
        assert_int_equal(inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, sizeof(img), &info, &why), 0);
        assert_true(info.app.present);
        assert_int_equal(info.app.framework, cases[i].framework);
        assert_string_equal(info.app.version, "esp-idf: v4.4.6 3572900934"); /* kept as it is */
    }
}

static void test_null_reason(void **state)
{
    uint8_t img[64];
    struct image_info info;
    make_esp8266(img, sizeof(img), 1);
    assert_int_equal(image_inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, NULL),
                     0);
    img[0] = 0;
    assert_int_equal(image_inspect(PLATFORM_ESP8266, FW_MODE_SKETCH, img, sizeof(img), &info, NULL),
                     -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_size_codes),
        cmocka_unit_test(test_esp8266_valid),
        cmocka_unit_test(test_esp8266_smallest),
        cmocka_unit_test(test_esp8266_header_fields),
        cmocka_unit_test(test_esp8266_segments_must_fit),
        cmocka_unit_test(test_esp8266_gzip),
        cmocka_unit_test(test_esp8266_gzip_bomb),
        cmocka_unit_test(test_fs_mode),
        cmocka_unit_test(test_esp32_valid),
        cmocka_unit_test(test_esp32_refusals),
        cmocka_unit_test(test_esp32_hash_appended),
        cmocka_unit_test(test_app_desc_every_chip),
        cmocka_unit_test(test_app_desc_chip_revisions),
        cmocka_unit_test(test_app_desc_absent),
        cmocka_unit_test(test_app_desc_cut),
        cmocka_unit_test(test_app_desc_strings),
        cmocka_unit_test(test_app_desc_secure_version),
        cmocka_unit_test(test_app_desc_framework),
        cmocka_unit_test(test_null_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
