/*
 * libFuzzer target for src/http/device_headers.c. The input is lines: a line
 * starting with '?' is a query argument "name=value", any other line a
 * header "name:value" (no colon: an empty value). The request is parsed,
 * and on success the report must be what device_headers.h describes:
 * terminated strings, lowercase digests of the right length, a version
 * source exactly when there is a version, the ESP-IDF fields only from the
 * x-ESP-IDF-* family and well formed. On failure, a reason and an
 * untouched report.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/device_headers.h"

#define FUZZ_MAX_INPUT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool lower_hex_or_empty(const char *s, size_t digits)
{
    size_t n = strlen(s);
    if (n == 0)
        return true;
    if (n != digits)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The ESP-IDF family's ELF SHA-256: empty, or 8 to 64 lowercase hex digits. */
static bool lower_hex_prefix_or_empty(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return true;
    if (n < 8 || n > SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, 0, size) != NULL;
}

static void check_report(const struct device_report *rep)
{
    if (!terminated(rep->sketch_md5, sizeof(rep->sketch_md5)) ||
        !terminated(rep->sketch_sha256, sizeof(rep->sketch_sha256)) ||
        !terminated(rep->sdk_version, sizeof(rep->sdk_version)) ||
        !terminated(rep->version, sizeof(rep->version)) ||
        !terminated(rep->user_agent, sizeof(rep->user_agent)) ||
        !terminated(rep->elf_sha256, sizeof(rep->elf_sha256)))
        abort();
    /* The ESP-IDF family: its fields only with it, an ESP32, a chip esp_chip_name knows. */
    if (!rep->idf &&
        (rep->has_chip || rep->has_chip_revision || rep->has_secure_version || rep->elf_sha256[0]))
        abort();
    if (rep->idf && (rep->platform != PLATFORM_ESP32 || !rep->platform_known || rep->has_mode ||
                     rep->has_ap_mac || rep->has_chip_id || rep->sketch_md5[0]))
        abort();
    if (rep->has_chip && !esp_chip_name(rep->idf_chip_id))
        abort();
    if (!lower_hex_prefix_or_empty(rep->elf_sha256))
        abort();
    if (!lower_hex_or_empty(rep->sketch_md5, MD5_HEX_LEN) ||
        !lower_hex_or_empty(rep->sketch_sha256, SHA256_HEX_LEN))
        abort();
    if ((rep->version[0] != 0) != (rep->version_source != VERSION_SOURCE_NONE))
        abort();
    if (rep->has_free_space && rep->free_space > (UINT64_C(1) << 32))
        abort();
    if (rep->mode != REPORT_MODE_SKETCH && !rep->has_mode)
        abort();
    char mac[18];
    device_mac_format(rep->sta_mac, mac);
    if (strlen(mac) != 17)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = 0;

    struct http_request req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/update";
    req.remote_addr = "";
    char *line = text;
    while (line) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (line[0] == '?') {
            char *eq = strchr(line + 1, '=');
            if (eq)
                *eq++ = 0;
            if (req.query_count < LIMIT_QUERY_ARGS_PER_REQUEST)
                req.query[req.query_count++] = (struct http_pair){line + 1, eq ? eq : ""};
        } else {
            char *colon = strchr(line, ':');
            if (colon)
                *colon++ = 0;
            if (req.header_count < LIMIT_HEADERS_PER_REQUEST)
                req.headers[req.header_count++] = (struct http_pair){line, colon ? colon : ""};
        }
        line = next;
    }

    struct device_report rep;
    struct reason why = {""};
    memset(&rep, 0xA5, sizeof(rep));
    int r = device_report_parse(&req, &rep, &why);
    if (r == 0) {
        check_report(&rep);
    } else {
        if (r != -EINVAL || why.text[0] == 0)
            abort();
        const uint8_t *p = (const uint8_t *)&rep;
        for (size_t i = 0; i < sizeof(rep); i++)
            if (p[i] != 0xA5)
                abort();
    }
    free(text);
    return 0;
}
