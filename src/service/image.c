/*
 * Image validation at ingest (image.h): reads the esptool header of an
 * uploaded image, walks its segment table against the bytes actually there,
 * and explains a refusal in terms of the offending byte. It decides whether
 * a device could boot the image, not whether a device may have it; it never
 * writes, stores or signs anything. A gzip image is inflated into a
 * temporary buffer, checked, and the buffer freed before returning.
 */
#include "service/image.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>

#include "core/buf.h"
#include "core/gzip.h"
#include "core/limits.h"
#include "core/util.h"

#define ESP_IMAGE_MAGIC        0xE9
#define ESP_MAX_SEGMENTS       16
#define ESP_FLASH_MODES        4  /* QIO, QOUT, DIO, DOUT */
#define ESP_HEADER_BYTES       8  /* magic, segments, mode, size/freq, entry */
#define ESP32_HEADER_BYTES     24 /* plus the extended header */
#define ESP32_CHIP_ID_OFFSET   12 /* LE16 */
#define ESP32_HASH_FLAG_OFFSET 23
#define SEGMENT_HEADER_BYTES   8 /* LE32 load address, LE32 length */
#define SHA256_BYTES           32

uint64_t image_esp8266_flash_size(uint8_t code)
{
    /* ESP.magicFlashChipSize: codes 5 and 6 (2M/4M "c1" maps) give 0 there too. */
    switch (code) {
    case 0:
        return 512u * 1024u;
    case 1:
        return 256u * 1024u;
    case 2:
        return 1024u * 1024u;
    case 3:
        return 2u * 1024u * 1024u;
    case 4:
        return 4u * 1024u * 1024u;
    case 8:
        return 8u * 1024u * 1024u;
    case 9:
        return 16u * 1024u * 1024u;
    default:
        return 0;
    }
}

static bool esp8266_flash_code_known(uint8_t code)
{
    return code <= 6 || code == 8 || code == 9;
}

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Walks COUNT segments starting at OFFSET. Each must lie wholly within LEN
 * bytes. Stores the offset just past the last one in *ret_end. WHAT prefixes
 * the reason ("" or "the gzip content: ").
 */
static int walk_segments(const uint8_t *data, size_t len, size_t offset, unsigned count,
                         const char *what, size_t *ret_end, struct reason *why)
{
    for (unsigned i = 0; i < count; i++) {
        if (len - offset < SEGMENT_HEADER_BYTES)
            return reason_set(why, -EBADMSG,
                              "%ssegment %u of %u: its header at offset %zu runs past the end "
                              "of the %zu-byte image",
                              what, i + 1, count, offset, len);
        uint32_t seg_len = read_le32(data + offset + 4);
        offset += SEGMENT_HEADER_BYTES;
        if (seg_len > len - offset)
            return reason_set(why, -EBADMSG,
                              "%ssegment %u of %u: %" PRIu32 " bytes at offset %zu run past the "
                              "end of the %zu-byte image",
                              what, i + 1, count, seg_len, offset, len);
        offset += seg_len;
    }
    *ret_end = offset;
    return 0;
}

/* Checks a plain (not gzip) ESP8266 sketch. WHAT as for walk_segments. */
static int inspect_esp8266(const uint8_t *data, size_t len, const char *what,
                           struct image_info *info, struct reason *why)
{
    if (len == 0)
        return reason_set(why, -EBADMSG, "%sthe image is empty", what);
    if (data[0] != ESP_IMAGE_MAGIC)
        return reason_set(why, -EBADMSG, "%sbyte 0 is 0x%02x; an ESP8266 image starts with 0xE9%s",
                          what, data[0], *what ? "" : " (or 1F 8B for gzip)");
    if (len < LIMIT_IMAGE_MIN_BYTES)
        return reason_set(why, -EBADMSG,
                          "%sthe image is %zu bytes; an ESP8266 image has at least %u", what, len,
                          LIMIT_IMAGE_MIN_BYTES);
    unsigned count = data[1];
    if (count < 1 || count > ESP_MAX_SEGMENTS)
        return reason_set(why, -EBADMSG,
                          "%sbyte 1 (segment count) is %u; an ESP8266 image has 1 to %u segments",
                          what, count, ESP_MAX_SEGMENTS);
    if (data[2] >= ESP_FLASH_MODES)
        return reason_set(why, -EBADMSG,
                          "%sbyte 2 (flash mode) is %u; expected 0 (QIO), 1 (QOUT), 2 (DIO) or "
                          "3 (DOUT)",
                          what, data[2]);
    uint8_t code = data[3] >> 4;
    if (!esp8266_flash_code_known(code))
        return reason_set(why, -EBADMSG,
                          "%sbyte 3 (flash size) has code %u in its high nibble; known codes are "
                          "0-6, 8 and 9",
                          what, code);
    size_t end;
    int r = walk_segments(data, len, ESP_HEADER_BYTES, count, what, &end, why);
    if (r < 0)
        return r;

    info->content_size = len;
    info->segment_count = count;
    info->flash_mode = data[2];
    info->flash_size_code = code;
    info->flash_size = image_esp8266_flash_size(code);
    return 0;
}

/* Inflates a gzip ESP8266 sketch and checks what is inside. */
static int inspect_esp8266_gzip(const uint8_t *data, size_t len, struct image_info *info,
                                struct reason *why)
{
    struct buf content;
    buf_init(&content, LIMIT_GUNZIP_BYTES);
    int r = gzip_inflate(data, len, &content);
    if (r == -E2BIG)
        r = reason_set(why, -EBADMSG, "the gzip image inflates to more than %u bytes",
                       LIMIT_GUNZIP_BYTES);
    else if (r == -EBADMSG)
        r = reason_set(why, -EBADMSG,
                       "the gzip image is corrupt or truncated (or has bytes after its end)");
    else if (r == -ENOMEM)
        r = reason_set(why, -ENOMEM, "out of memory inflating the gzip image");
    if (r < 0)
        goto out;

    r = inspect_esp8266(content.data, content.len, "the gzip content: ", info, why);
    if (r == 0)
        info->gzip = true;
out:
    buf_release(&content);
    return r;
}

static int inspect_esp32(const uint8_t *data, size_t len, struct image_info *info,
                         struct reason *why)
{
    if (len == 0)
        return reason_set(why, -EBADMSG, "the image is empty");
    if (gzip_is_gzip(data, len))
        return reason_set(why, -EBADMSG,
                          "the image is gzip (1F 8B); ESP32 devices accept only a plain image "
                          "starting with 0xE9");
    if (data[0] != ESP_IMAGE_MAGIC)
        return reason_set(why, -EBADMSG, "byte 0 is 0x%02x; an ESP32 image starts with 0xE9",
                          data[0]);
    if (len < ESP32_HEADER_BYTES)
        return reason_set(why, -EBADMSG,
                          "the image is %zu bytes; an ESP32 image header alone is %u", len,
                          ESP32_HEADER_BYTES);
    unsigned count = data[1];
    if (count < 1 || count > ESP_MAX_SEGMENTS)
        return reason_set(why, -EBADMSG,
                          "byte 1 (segment count) is %u; an ESP32 image has 1 to %u segments",
                          count, ESP_MAX_SEGMENTS);
    uint16_t chip = (uint16_t)(data[ESP32_CHIP_ID_OFFSET] | data[ESP32_CHIP_ID_OFFSET + 1] << 8);
    if (!esp_chip_name(chip))
        return reason_set(why, -EBADMSG,
                          "bytes 12-13 (chip id) are %u, not a known chip (0 ESP32, 2 S2, 5 C3, "
                          "9 S3, 12 C2, 13 C6, 16 H2, 18 P4, 23 C5)",
                          chip);
    size_t end;
    int r = walk_segments(data, len, ESP32_HEADER_BYTES, count, "", &end, why);
    if (r < 0)
        return r;
    /* The bootloader treats any non-zero flag as "hash appended". */
    bool hashed = data[ESP32_HASH_FLAG_OFFSET] != 0;
    if (hashed) {
        /* esptool pads with zeros so the checksum byte ends a 16-byte block. */
        size_t padded = (end + 1 + 15) & ~(size_t)15;
        if (padded > len || len - padded < SHA256_BYTES)
            return reason_set(why, -EBADMSG,
                              "byte 23 says a 32-byte SHA-256 is appended, but the image has %zu "
                              "bytes after its padded segments (which end at offset %zu)",
                              padded > len ? 0 : len - padded, padded);
    }

    info->content_size = len;
    info->segment_count = count;
    info->flash_mode = data[2];
    info->flash_size_code = data[3] >> 4;
    info->flash_size = 0; /* HTTPUpdate does not check it */
    info->esp32_chip_id = chip;
    info->esp32_hash_appended = hashed;
    info->esp32_hash_offset = hashed ? (end + 1 + 15) & ~(size_t)15 : 0;
    info->esp32_image_end = ((end + 1 + 15) & ~(size_t)15) + (hashed ? SHA256_BYTES : 0);
    if (info->esp32_image_end > len) /* a checksum cut short: the data ends the image */
        info->esp32_image_end = len;
    return 0;
}

int image_inspect(enum platform platform, enum fw_mode mode, const uint8_t *data, size_t len,
                  struct image_info *ret_info, struct reason *why)
{
    assert(data || len == 0);
    assert(ret_info);
    struct image_info info = {.platform = platform};
    int r;

    if (mode == FW_MODE_FS) {
        /* A filesystem blob (SPIFFS, LittleFS) has no header the updater checks. */
        if (len == 0)
            return reason_set(why, -EBADMSG, "the filesystem image is empty");
        /* The Updater writes a filesystem image to flash as it arrives: compressed would stay so.
         */
        if (gzip_is_gzip(data, len))
            return reason_set(why, -EBADMSG,
                              "the filesystem image is gzip-compressed; devices write filesystem "
                              "images to flash as they are, so upload it uncompressed");
        info.content_size = len;
        *ret_info = info;
        return 0;
    }

    if (platform == PLATFORM_ESP32)
        r = inspect_esp32(data, len, &info, why);
    else if (gzip_is_gzip(data, len))
        r = inspect_esp8266_gzip(data, len, &info, why);
    else
        r = inspect_esp8266(data, len, "", &info, why);
    if (r < 0)
        return r;
    *ret_info = info;
    return 0;
}
