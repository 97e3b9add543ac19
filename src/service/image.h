/*
 * Firmware image validation at ingest: is this an image the named platform
 * can boot, and what does its header say? Works on bytes in memory; never
 * trusts a length field without checking it against the data.
 *
 * ESP8266 (esptool image v1): byte 0 magic 0xE9, byte 1 segment count,
 * byte 2 flash mode (0 QIO, 1 QOUT, 2 DIO, 3 DOUT), byte 3 high nibble the
 * flash-size code (0=512K 1=256K 2=1M 3=2M 4=4M 5=2M-c1 6=4M-c1 8=8M 9=16M),
 * low nibble the flash frequency; a gzip image (1F 8B) is inflated and its
 * content checked the same way.
 * ESP32 (esptool image with the 24-byte extended header): magic 0xE9,
 * segment count, flash mode/size, chip id (LE16 at 12), hash-appended flag
 * (byte 23); segments must lie within the data. A sketch built by ESP-IDF
 * (arduino-esp32 included) starts its first segment with the 256-byte app
 * descriptor, esp_app_desc_t (docs/PROTOCOL.md, "The app descriptor"):
 * read into image_info.app, and refused when it is there but malformed.
 */
#ifndef OTAD_SERVICE_IMAGE_H
#define OTAD_SERVICE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"
#include "model/model.h"

struct image_info {
    enum platform platform;
    bool gzip;             /* the data was gzip; the fields below describe its content */
    uint64_t content_size; /* bytes of the (inflated) image */
    unsigned segment_count;
    uint8_t flash_mode;      /* byte 2 */
    uint8_t flash_size_code; /* byte 3 >> 4 */
    /* Bytes the code stands for; 0 when it does not constrain (ESP8266 codes 5
     * and 6, and always on ESP32, whose updater does not check it). */
    uint64_t flash_size;
    uint16_t esp32_chip_id; /* ESP32 only */
    /* ESP32 only: byte 23 is non-zero, so the 32 bytes after the padded
     * segments are the image's SHA-256 (a signature block may follow them). */
    bool esp32_hash_appended;
    uint64_t esp32_hash_offset; /* where that SHA-256 starts (after the padded segments) */
    struct app_desc app;        /* ESP32 sketches: the app descriptor; app.present false if none */
};

/*
 * Checks that DATA (LEN bytes, as it would be served) is a bootable image for
 * PLATFORM and describes it in *ret_info (written only on success). FS-mode
 * images (filesystem blobs) have no header to check: pass MODE=FW_MODE_FS
 * and only emptiness is refused (the caller applies the upload ceiling);
 * gzip is not looked for there, so info->gzip stays false. A gzip image is
 * accepted for ESP8266 sketches only; its inflated content must itself be a
 * valid, non-gzip image (inflated size capped at LIMIT_GUNZIP_BYTES), and
 * reasons about it start with "the gzip content: ". Segments must lie within
 * the data; checksums and the appended SHA-256 are not verified. An ESP32
 * sketch's app descriptor is read as image_app_desc does; its refusals
 * are this function's.
 * Returns 0, or -EBADMSG with a reason that names what is wrong ("byte 0 is
 * 0x7f; an ESP8266 image starts with 0xE9 (or 1F 8B for gzip)"), or -ENOMEM.
 */
int image_inspect(enum platform platform, enum fw_mode mode, const uint8_t *data, size_t len,
                  struct image_info *ret_info, struct reason *why);

/*
 * The app descriptor of the ESP32 image DATA (LEN bytes) into *RET_APP
 * (written only on success), with the chip id and chip revisions of its
 * extended header. The image's header and segment table must already have
 * been checked (image_inspect does both). No magic word 0xABCD5432 at
 * offset 32, the start of the first segment, is an image without one
 * (arduino-esp32 before IDF 3.2, non-IDF builds): 0 with app.present
 * false. With the magic, -EBADMSG and a reason naming the field when the
 * first segment ends inside the 256 bytes, a string (version, project,
 * time, date, IDF version) has no NUL in its field or a byte outside
 * printable ASCII before it, secure_version is above 32 (the widest
 * anti-rollback eFuse field, ESP32's) or the minimum chip revision is above
 * a set maximum.
 */
int image_app_desc(const uint8_t *data, size_t len, struct app_desc *ret_app, struct reason *why);

/* Bytes a flash-size code stands for on the ESP8266 (0 for codes that do not constrain). */
uint64_t image_esp8266_flash_size(uint8_t code);

#endif
