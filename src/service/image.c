/*
 * Image validation at ingest (image.h): reads the esptool header of an
 * uploaded image, walks its segment table against the bytes actually there,
 * and explains a refusal in terms of the offending byte. It decides whether
 * a device could boot the image, not whether a device may have it; it never
 * writes, stores or signs anything. A gzip image is inflated into a
 * temporary buffer, checked, and the buffer freed before returning. An
 * ESP32 sketch's app descriptor (esp_app_desc_t) is read here too, because
 * a malformed one is a refusal like a bad segment table.
 */
#include "service/image.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

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

/*
 * esp_app_desc_t (ESP-IDF components/esp_app_format; docs/PROTOCOL.md, "The
 * app descriptor"): 256 bytes at the start of the first segment.
 */
#define APP_DESC_OFFSET         (ESP32_HEADER_BYTES + SEGMENT_HEADER_BYTES)
#define APP_DESC_BYTES          256
#define APP_DESC_MAGIC          0xABCD5432u
#define APP_DESC_SECURE_VERSION 4 /* LE32 */
#define APP_DESC_ELF_SHA256     144
#define APP_DESC_SECURE_MAX     32 /* ESP32's anti-rollback field: 32 bits, the widest */
#define APP_DESC_FRAMEWORK      "arduino-lib-builder"
/* The extended header's chip revisions, major * 100 + minor, LE16. */
#define ESP32_MIN_REV_LEGACY_OFFSET 14 /* one byte, the major revision: images before IDF 5.0 */
#define ESP32_MIN_REV_FULL_OFFSET   15
#define ESP32_MAX_REV_FULL_OFFSET   17
#define ESP32_REV_UNSET             0xFFFF /* esptool's default maximum: no maximum */

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

static uint16_t read_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* The descriptor's fields in the order they lie, for reasons that name where it ends. */
static const struct app_desc_field {
    unsigned offset, size;
    const char *name;
} app_desc_fields[] = {
    {0, 4, "magic_word"},
    {4, 4, "secure_version"},
    {8, 8, "reserv1"},
    {16, 32, "version"},
    {48, 32, "project_name"},
    {80, 16, "time"},
    {96, 16, "date"},
    {112, 32, "idf_ver"},
    {144, 32, "app_elf_sha256"},
    {176, 2, "min_efuse_blk_rev_full"},
    {178, 2, "max_efuse_blk_rev_full"},
    {180, 1, "mmu_page_size"},
    {181, 75, "the reserved bytes"},
};

/* The field of the descriptor byte OFFSET falls in. */
static const char *app_desc_field_at(size_t offset)
{
    for (size_t i = 0; i < ARRAY_SIZE(app_desc_fields); i++)
        if (offset < app_desc_fields[i].offset + app_desc_fields[i].size)
            return app_desc_fields[i].name;
    return "the reserved bytes";
}

/*
 * Copies the string field NAME (SIZE bytes at FIELD) into OUT (SIZE + 1
 * bytes): it must end with a NUL inside the field, and every byte before the
 * NUL must be printable ASCII. What follows the NUL is not looked at (the
 * build pads with zeros, but nothing reads it).
 */
static int app_desc_string(const uint8_t *field, size_t size, const char *name, char *out,
                           struct reason *why)
{
    const uint8_t *nul = memchr(field, 0, size);
    if (!nul)
        return reason_set(why, -EBADMSG,
                          "the app descriptor's %s has no NUL in its %zu bytes (a cut or "
                          "overwritten descriptor)",
                          name, size);
    size_t n = (size_t)(nul - field);
    for (size_t i = 0; i < n; i++)
        if (field[i] < 0x20 || field[i] > 0x7e)
            return reason_set(why, -EBADMSG,
                              "the app descriptor's %s has byte 0x%02x at position %zu; it must "
                              "be printable ASCII",
                              name, field[i], i);
    memcpy(out, field, n);
    out[n] = 0;
    return 0;
}

int image_app_desc(const uint8_t *data, size_t len, struct app_desc *ret_app, struct reason *why)
{
    assert(data && ret_app);
    struct app_desc app = {0};
    /* The first segment's length was checked against LEN by walk_segments; check it again. */
    if (len < APP_DESC_OFFSET) {
        *ret_app = app;
        return 0;
    }
    size_t first_len = read_le32(data + ESP32_HEADER_BYTES + 4);
    if (first_len > len - APP_DESC_OFFSET)
        first_len = len - APP_DESC_OFFSET;
    /* Fewer than 4 bytes cannot hold the magic word: an image without a descriptor. */
    if (first_len < 4 || read_le32(data + APP_DESC_OFFSET) != APP_DESC_MAGIC) {
        *ret_app = app;
        return 0;
    }
    if (first_len < APP_DESC_BYTES)
        return reason_set(why, -EBADMSG,
                          "the first segment is %zu bytes, so it ends inside the %u-byte app "
                          "descriptor it starts with (in its %s)",
                          first_len, APP_DESC_BYTES, app_desc_field_at(first_len));
    const uint8_t *d = data + APP_DESC_OFFSET;
    int r;
    if ((r = app_desc_string(d + 16, APP_DESC_STRING_BYTES, "version", app.version, why)) < 0 ||
        (r = app_desc_string(d + 48, APP_DESC_STRING_BYTES, "project_name", app.project, why)) <
            0 ||
        (r = app_desc_string(d + 80, APP_DESC_DATE_BYTES, "time", app.build_time, why)) < 0 ||
        (r = app_desc_string(d + 96, APP_DESC_DATE_BYTES, "date", app.build_date, why)) < 0 ||
        (r = app_desc_string(d + 112, APP_DESC_STRING_BYTES, "idf_ver", app.idf_version, why)) < 0)
        return r;
    app.secure_version = read_le32(d + APP_DESC_SECURE_VERSION);
    if (app.secure_version > APP_DESC_SECURE_MAX)
        return reason_set(why, -EBADMSG,
                          "the app descriptor's secure_version is %" PRIu32 "; no chip's "
                          "anti-rollback eFuse field holds more than %u, so no device could "
                          "record it",
                          app.secure_version, APP_DESC_SECURE_MAX);
    hex_encode(d + APP_DESC_ELF_SHA256, SHA256_BYTES, app.elf_sha256);
    app.chip_id = read_le16(data + ESP32_CHIP_ID_OFFSET);
    /*
     * 0 means unbounded in both fields here. The header's minimum: 0 is no
     * minimum. Its maximum: esptool writes 0xFFFF when the build sets none,
     * and 0 is an image from before the fields (IDF < 5.0), whose minimum is
     * then the legacy one-byte major revision at byte 14; the boot loader
     * checks the maximum only when it is neither (IS_MAX_REV_SET).
     */
    uint16_t min_rev = read_le16(data + ESP32_MIN_REV_FULL_OFFSET);
    uint16_t max_rev = read_le16(data + ESP32_MAX_REV_FULL_OFFSET);
    if (max_rev == 0)
        min_rev = (uint16_t)(data[ESP32_MIN_REV_LEGACY_OFFSET] * 100u);
    if (max_rev == ESP32_REV_UNSET)
        max_rev = 0;
    if (max_rev && min_rev > max_rev)
        return reason_set(why, -EBADMSG,
                          "bytes 15-18 give chip revisions from v%u.%u to v%u.%u: no chip can "
                          "boot the image",
                          min_rev / 100u, min_rev % 100u, max_rev / 100u, max_rev % 100u);
    app.min_chip_rev = min_rev;
    app.max_chip_rev = max_rev;
    app.present = true;
    app.framework = strcmp(app.project, APP_DESC_FRAMEWORK) == 0;
    *ret_app = app;
    return 0;
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
    struct app_desc app;
    if ((r = image_app_desc(data, len, &app, why)) < 0)
        return r;

    info->content_size = len;
    info->segment_count = count;
    info->flash_mode = data[2];
    info->flash_size_code = data[3] >> 4;
    info->flash_size = 0; /* HTTPUpdate does not check it */
    info->esp32_chip_id = chip;
    info->esp32_hash_appended = hashed;
    info->esp32_hash_offset = hashed ? (end + 1 + 15) & ~(size_t)15 : 0;
    info->app = app;
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
