/*
 * libFuzzer target for src/http/manifest.c's readers and writers. The input
 * is split at '\n' into an esp32FOTA device id, a Host header, a product
 * name and a version. Checks: a device id accepted is below 2^48 and its MAC,
 * read back as a little-endian number, is the id again; a Host accepted
 * goes into the image URL whole, right after the scheme, and holds nothing
 * that ends an authority ('/', '?', '#', '@'); a URL that fits is exactly
 * its parts; ESPHome's and esp32FOTA's manifests of printable ASCII strings
 * are always made, and carry those strings back.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/manifest.h"

#define FUZZ_MAX_INPUT 2048
#define FUZZ_FIELDS    4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

static void check_device_id(const char *text)
{
    uint64_t mac;
    if (manifest_device_id_mac(text, &mac) != 0)
        return;
    if (mac >> 48)
        abort();
    uint64_t id = 0;
    for (int i = 0; i < 6; i++) /* MAC byte i (the highest first) is byte i of the number */
        id |= ((mac >> (8 * (5 - i))) & 0xff) << (8 * i);
    char back[24];
    snprintf(back, sizeof(back), "%" PRIu64, id);
    if (strcmp(back, text) != 0)
        abort();
}

static void check_location(const char *host, const char *product, const char *version)
{
    char out[512];
    if (!manifest_host_valid(host))
        return;
    if (strpbrk(host, "/?#@ "))
        abort();
    if (manifest_image_location(product, version, 0x0123456789ab, true, host, true, out,
                                sizeof(out)) != 0)
        return;
    char want[512];
    snprintf(want, sizeof(want), "https://%s/images/%s/%s?mac=0123456789AB", host, product,
             version);
    if (strcmp(out, want) != 0)
        abort();
}

static void check_json(const char *product, const char *version, const char *path)
{
    if (!printable(product) || !printable(version) || !printable(path))
        return;
    struct manifest_build b = {.chip = "ESP32-S3", .path = path, .md5 = "00"};
    json_t *j = manifest_esphome_json(product, version, &b);
    json_t *ota = json_object_get(json_array_get(json_object_get(j, "builds"), 0), "ota");
    if (!j || strcmp(json_string_value(json_object_get(j, "version")), version) != 0 ||
        strcmp(json_string_value(json_object_get(ota, "path")), path) != 0)
        abort();
    json_decref(j);
    j = manifest_esp32fota_json(product, version, path);
    if (!j || json_array_size(j) != 1 ||
        strcmp(json_string_value(json_object_get(json_array_get(j, 0), "type")), product) != 0)
        abort();
    json_decref(j);
    (void)manifest_esphome_takes_as_url(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    const char *field[FUZZ_FIELDS] = {"", "", "", ""};
    char *p = text;
    for (int i = 0; i < FUZZ_FIELDS && p; i++) {
        field[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = 0;
    }
    check_device_id(field[0]);
    check_location(field[1], field[2], field[3]);
    check_json(field[2], field[3], field[1]);
    free(text);
    return 0;
}
