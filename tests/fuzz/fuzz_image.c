/*
 * libFuzzer target for src/service/image.c. Input byte 0 picks the platform
 * (bit 0) and the mode (bit 1); the rest is the image, copied to an
 * allocation of exactly its size so any read past it is caught. Checks what
 * image.h promises: on success the description matches the data, on failure
 * there is a reason and *ret_info is untouched.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "service/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_bytes(const void *p, size_t len, uint8_t v)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i] != v)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum platform platform = (data[0] & 1) ? PLATFORM_ESP32 : PLATFORM_ESP8266;
    enum fw_mode mode = (data[0] & 2) ? FW_MODE_FS : FW_MODE_SKETCH;
    size_t len = size - 1;
    uint8_t *img = malloc(len ? len : 1);
    if (!img)
        abort();
    if (len)
        memcpy(img, data + 1, len);

    struct image_info info;
    struct reason why = {""};
    memset(&info, 0xA5, sizeof(info));
    int r = image_inspect(platform, mode, len ? img : NULL, len, &info, &why);
    if (r == 0) {
        if (info.platform != platform)
            abort();
        if (!info.gzip && info.content_size != len)
            abort();
        if (info.gzip && (platform != PLATFORM_ESP8266 || mode != FW_MODE_SKETCH ||
                          info.content_size > LIMIT_GUNZIP_BYTES))
            abort();
        if (mode == FW_MODE_SKETCH) {
            if (info.segment_count < 1 || info.segment_count > 16)
                abort();
            if (platform == PLATFORM_ESP8266 &&
                (info.flash_mode > 3 ||
                 info.flash_size != image_esp8266_flash_size(info.flash_size_code)))
                abort();
            if (platform == PLATFORM_ESP32 && info.flash_size != 0)
                abort();
        }
    } else {
        if (r != -EBADMSG && r != -ENOMEM)
            abort();
        if (why.text[0] == 0 || !all_bytes(&info, sizeof(info), 0xA5))
            abort();
    }
    free(img);
    return 0;
}
