/*
 * libFuzzer target for the app descriptor reader of src/service/image.c
 * (image_app_desc, and image_inspect on ESP32 sketches). The input is
 * framed so that most runs reach the descriptor: byte 0 picks a known chip,
 * bytes 1-5 are the extended header's chip revisions (byte 14, LE16 at 15,
 * LE16 at 17), bytes 6-7 the first segment's length (LE16), byte 8 bit 0
 * writes the magic word over the segment's first four bytes; the rest is
 * the segment's data. The image is an allocation of exactly its size, so a
 * read past it is caught. Checks what image.h promises: on success the
 * descriptor's strings are printable and terminated, secure_version is at
 * most 32, the ELF SHA-256 is 64 lowercase hex digits, a set maximum chip
 * revision is not below the minimum, and the framework flag matches the
 * project; on failure there is a reason and the output is untouched.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME_BYTES 9

static const uint16_t chips[] = {0, 2, 5, 9, 12, 13, 16, 18, 23};

static bool all_bytes(const void *p, size_t len, uint8_t v)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i] != v)
            return false;
    return true;
}

/* S (SIZE bytes of storage) ends with a NUL inside it and is printable ASCII before. */
static bool printable(const char *s, size_t size)
{
    const char *nul = memchr(s, 0, size);
    if (!nul)
        return false;
    for (const char *p = s; p < nul; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

/* CHIP_CHECKED: the image's header was checked, so its chip id is a known one. */
static void check_app(const struct app_desc *app, bool chip_checked)
{
    if (!app->present) { /* every field zero without a descriptor */
        if (app->framework || app->project[0] || app->version[0] || app->idf_version[0] ||
            app->build_date[0] || app->build_time[0] || app->elf_sha256[0] || app->secure_version ||
            app->chip_id || app->min_chip_rev || app->max_chip_rev)
            abort();
        return;
    }
    if (!printable(app->version, sizeof(app->version)) ||
        !printable(app->project, sizeof(app->project)) ||
        !printable(app->idf_version, sizeof(app->idf_version)) ||
        !printable(app->build_date, sizeof(app->build_date)) ||
        !printable(app->build_time, sizeof(app->build_time)))
        abort();
    if (app->secure_version > 32)
        abort();
    if (strlen(app->elf_sha256) != 64 || strspn(app->elf_sha256, "0123456789abcdef") != 64)
        abort();
    if (app->max_chip_rev && app->min_chip_rev > app->max_chip_rev)
        abort();
    if (app->framework != (strcmp(app->project, "arduino-lib-builder") == 0))
        abort();
    if (chip_checked && !esp_chip_name(app->chip_id))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FRAME_BYTES)
        return 0;
    size_t body = size - FRAME_BYTES;
    size_t len = 24 + 8 + body + 4; /* header, segment header, data, padding and checksum */
    uint8_t *img = calloc(1, len);
    if (!img)
        abort();
    img[0] = 0xE9;
    img[1] = 1;
    img[2] = 2;
    img[3] = 0x20;
    uint16_t chip = chips[data[0] % (sizeof(chips) / sizeof(chips[0]))];
    img[12] = (uint8_t)chip;
    img[13] = (uint8_t)(chip >> 8);
    memcpy(img + 14, data + 1, 5);
    /* The segment's length: from the input, at most what is there. */
    size_t first = (size_t)(data[6] | data[7] << 8);
    if (first > body)
        first = body;
    img[28] = (uint8_t)first;
    img[29] = (uint8_t)(first >> 8);
    memcpy(img + 32, data + FRAME_BYTES, body);
    if ((data[8] & 1) && body >= 4)
        memcpy(img + 32, "\x32\x54\xcd\xab", 4);

    struct image_info info;
    struct reason why = {""};
    memset(&info, 0xA5, sizeof(info));
    int r = image_inspect(PLATFORM_ESP32, FW_MODE_SKETCH, img, len, &info, &why);
    if (r == 0) {
        if (info.esp32_chip_id != chip)
            abort();
        check_app(&info.app, true);
    } else if (r != -EBADMSG || why.text[0] == 0 || !all_bytes(&info, sizeof(info), 0xA5)) {
        abort();
    }

    /* The reader alone, on the raw input: never a read past it, whatever its header says. */
    uint8_t *raw = malloc(size);
    if (!raw)
        abort();
    memcpy(raw, data, size);
    struct app_desc app;
    memset(&app, 0xA5, sizeof(app));
    why.text[0] = 0;
    r = image_app_desc(raw, size, &app, &why);
    if (r == 0)
        check_app(&app, false);
    else if (r != -EBADMSG || why.text[0] == 0 || !all_bytes(&app, sizeof(app), 0xA5))
        abort();
    free(raw);
    free(img);
    return 0;
}
