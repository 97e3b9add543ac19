/*
 * The requests of the stock update clients, byte for byte: ESP8266httpUpdate
 * of the ESP8266 cores 2.4, 2.7 and 3.1, arduino-esp32 3.x HTTPUpdate, and
 * esp_https_ota's GET and its Range resume (docs/PROTOCOL.md, "The device
 * library's requests", has the table; docs/reference/stock-clients.md §1-2
 * the sources). This file owns the bytes only: which client a device is, and
 * what it reports, are the caller's.
 *
 * Every argument is checked before a byte is written, so OTAC_E_INVAL wins
 * over OTAC_E_BUFFER. Numbers are written by a small digit helper: snprintf
 * is not on every chip's C library, and this library calls nothing it does
 * not need.
 */
#include "otac/request.h"

#include <string.h>

/* Where a request is written: BUF of CAP bytes, LEN used; FULL once a write did not fit. */
struct writer {
    char *buf;
    size_t cap;
    size_t len;
    int full;
};

static void put_bytes(struct writer *w, const char *bytes, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
}

static void put(struct writer *w, const char *text)
{
    put_bytes(w, text, strlen(text));
}

/* VALUE in decimal, without leading zeros. */
static void put_decimal(struct writer *w, uint64_t value)
{
    char digits[20]; /* 2^64 - 1 has 20 */
    size_t n = sizeof(digits);
    do {
        digits[--n] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    put_bytes(w, digits + n, sizeof(digits) - n);
}

/* "NAME: VALUE\r\n" */
static void put_header(struct writer *w, const char *name, const char *value)
{
    put(w, name);
    put(w, ": ");
    put(w, value);
    put(w, "\r\n");
}

static void put_header_decimal(struct writer *w, const char *name, uint64_t value)
{
    put(w, name);
    put(w, ": ");
    put_decimal(w, value);
    put(w, "\r\n");
}

static void put_header_mac(struct writer *w, const char *name, const uint8_t mac[6])
{
    char text[18];
    otac_mac_format(mac, text);
    put_header(w, name, text);
}

/* "NAME: VALUE\r\n" with VALUE's a-f in uppercase (the ESP32's sketch SHA-256, §2). */
static void put_header_upper(struct writer *w, const char *name, const char *value)
{
    put(w, name);
    put(w, ": ");
    for (const char *c = value; *c; c++) {
        char up = (*c >= 'a' && *c <= 'f') ? (char)(*c - 'a' + 'A') : *c;
        put_bytes(w, &up, 1);
    }
    put(w, "\r\n");
}

/*
 * "GET TARGET HTTP/1.MINOR\r\n"; an empty target goes out as "/", as
 * ESP8266HTTPClient and esp_http_client send it.
 */
static void put_request_line(struct writer *w, const char *target, char minor)
{
    const char version[] = {' ', 'H', 'T', 'T', 'P', '/', '1', '.', minor, '\r', '\n'};
    put(w, "GET ");
    put(w, target[0] ? target : "/");
    put_bytes(w, version, sizeof(version));
}

/* "Host: HOST[:PORT]\r\n": the port is left out when it is 80 or 443 (§1.1). */
static void put_host(struct writer *w, const char *host, uint16_t port)
{
    put(w, "Host: ");
    put(w, host);
    if (port != 80 && port != 443) {
        put(w, ":");
        put_decimal(w, port);
    }
    put(w, "\r\n");
}

/* A header value or request-target must not end the line it is on. */
static int text_fits_a_line(const char *text)
{
    return text && !strpbrk(text, "\r\n");
}

/* A fixed-size text field of the identity: NUL-terminated inside its array, no CR or LF. */
static int field_fits_a_line(const char *field, size_t size)
{
    return memchr(field, '\0', size) && text_fits_a_line(field);
}

static int identity_is_valid(const struct otac_identity *id)
{
    switch (id->client) {
    case OTAC_CLIENT_ESP8266_2_4:
    case OTAC_CLIENT_ESP8266_2_7:
    case OTAC_CLIENT_ESP8266_3_1:
    case OTAC_CLIENT_ESP32:
    case OTAC_CLIENT_ESP_IDF:
        break;
    default:
        return 0;
    }
    return field_fits_a_line(id->sketch_md5, sizeof(id->sketch_md5)) &&
           field_fits_a_line(id->sketch_sha256, sizeof(id->sketch_sha256)) &&
           field_fits_a_line(id->sdk_version, sizeof(id->sdk_version)) &&
           field_fits_a_line(id->version, sizeof(id->version));
}

static const char *mode_name(enum otac_mode mode)
{
    /* updateFS() and updateSpiffs() both send "spiffs", also for LittleFS (§2). */
    return mode == OTAC_MODE_FS ? "spiffs" : "sketch";
}

/*
 * ESP8266httpUpdate (§1.1, §2): Host, User-Agent, [Authorization on 3.x],
 * Connection, [Authorization before 3.0], then the x-ESP8266-* headers in the
 * order the updater adds them; 2.6.0 and later add x-ESP8266-Chip-ID first
 * and Content-Length: 0 last.
 */
static void put_esp8266(struct writer *w, const struct otac_identity *id, enum otac_mode mode,
                        const char *authorization)
{
    int since_2_6 = id->client != OTAC_CLIENT_ESP8266_2_4;
    int since_3_0 = id->client == OTAC_CLIENT_ESP8266_3_1;

    put_header(w, "User-Agent", "ESP8266-http-Update");
    if (authorization && since_3_0)
        put_header(w, "Authorization", authorization);
    put_header(w, "Connection", "close");
    if (authorization && !since_3_0)
        put_header(w, "Authorization", authorization);
    if (since_2_6)
        put_header_decimal(w, "x-ESP8266-Chip-ID", id->chip_id);
    put_header_mac(w, "x-ESP8266-STA-MAC", id->sta_mac);
    put_header_mac(w, "x-ESP8266-AP-MAC", id->ap_mac);
    put_header_decimal(w, "x-ESP8266-free-space", id->free_space);
    put_header_decimal(w, "x-ESP8266-sketch-size", id->sketch_size);
    if (id->sketch_md5[0])
        put_header(w, "x-ESP8266-sketch-md5", id->sketch_md5);
    put_header_decimal(w, "x-ESP8266-chip-size", id->chip_size);
    put_header(w, "x-ESP8266-sdk-version", id->sdk_version);
    put_header(w, "x-ESP8266-mode", mode_name(mode));
    if (id->version[0])
        put_header(w, "x-ESP8266-version", id->version);
    if (since_2_6)
        put_header(w, "Content-Length", "0");
}

/*
 * arduino-esp32 3.x HTTPUpdate (§1.2; the 3.3.8 capture): Host, User-Agent, Connection,
 * [Authorization], then Cache-Control: no-cache and the x-ESP32-* headers
 * (BASE-MAC first, the SHA-256 in uppercase); no Content-Length on a GET.
 */
static void put_esp32(struct writer *w, const struct otac_identity *id, enum otac_mode mode,
                      const char *authorization)
{
    put_header(w, "User-Agent", "ESP32-http-Update");
    put_header(w, "Connection", "close");
    if (authorization)
        put_header(w, "Authorization", authorization);
    put_header(w, "Cache-Control", "no-cache");
    put_header_mac(w, "x-ESP32-BASE-MAC", id->base_mac);
    put_header_mac(w, "x-ESP32-STA-MAC", id->sta_mac);
    put_header_mac(w, "x-ESP32-AP-MAC", id->ap_mac);
    put_header_decimal(w, "x-ESP32-free-space", id->free_space);
    put_header_decimal(w, "x-ESP32-sketch-size", id->sketch_size);
    if (id->sketch_md5[0])
        put_header(w, "x-ESP32-sketch-md5", id->sketch_md5);
    if (id->sketch_sha256[0])
        put_header_upper(w, "x-ESP32-sketch-sha256", id->sketch_sha256);
    put_header_decimal(w, "x-ESP32-chip-size", id->chip_size);
    put_header(w, "x-ESP32-sdk-version", id->sdk_version);
    put_header(w, "x-ESP32-mode", mode_name(mode));
    if (id->version[0])
        put_header(w, "x-ESP32-version", id->version);
}

/* Ends the head, and hands out its length when the whole of it fitted. */
static int finish(struct writer *w, size_t *ret_len)
{
    put(w, "\r\n");
    if (w->full)
        return OTAC_E_BUFFER;
    *ret_len = w->len;
    return OTAC_OK;
}

int otac_request_checkin(char *buf, size_t cap, size_t *ret_len, const struct otac_identity *id,
                         enum otac_mode mode, const char *host, uint16_t port, const char *target,
                         const char *authorization)
{
    if (!buf || !ret_len || !id || !identity_is_valid(id))
        return OTAC_E_INVAL;
    if (mode != OTAC_MODE_SKETCH && mode != OTAC_MODE_FS)
        return OTAC_E_INVAL;
    if (!text_fits_a_line(host) || !host[0] || !text_fits_a_line(target))
        return OTAC_E_INVAL;
    if (authorization && !text_fits_a_line(authorization))
        return OTAC_E_INVAL;
    if (authorization && !authorization[0])
        authorization = NULL; /* the stock clients send no header for an empty one */

    struct writer w = {buf, cap, 0, 0};
    if (id->client == OTAC_CLIENT_ESP_IDF) {
        /*
         * esp_http_client (the v5.5.5 capture): User-Agent and Host are set when the
         * client is made, Authorization when the request is prepared; its
         * headers go out in the order they were set.
         */
        put_request_line(&w, target, '1');
        put_header(&w, "User-Agent", "ESP32 HTTP Client/1.0");
        put_host(&w, host, port);
        if (authorization)
            put_header(&w, "Authorization", authorization);
        return finish(&w, ret_len);
    }
    put_request_line(&w, target, '0');
    put_host(&w, host, port);
    if (id->client == OTAC_CLIENT_ESP32)
        put_esp32(&w, id, mode, authorization);
    else
        put_esp8266(&w, id, mode, authorization);
    return finish(&w, ret_len);
}

int otac_request_resume(char *buf, size_t cap, size_t *ret_len, const char *host, uint16_t port,
                        const char *target, const char *authorization, uint64_t from)
{
    if (!buf || !ret_len || !text_fits_a_line(host) || !host[0] || !text_fits_a_line(target))
        return OTAC_E_INVAL;
    if (authorization && !text_fits_a_line(authorization))
        return OTAC_E_INVAL;

    /* esp_https_ota sets Range after the client's own User-Agent and Host (inferred). */
    struct writer w = {buf, cap, 0, 0};
    put_request_line(&w, target, '1');
    put_header(&w, "User-Agent", "ESP32 HTTP Client/1.0");
    put_host(&w, host, port);
    put(&w, "Range: bytes=");
    put_decimal(&w, from);
    put(&w, "-\r\n");
    if (authorization && authorization[0])
        put_header(&w, "Authorization", authorization); /* as on the first GET: set last */
    return finish(&w, ret_len);
}

void otac_mac_format(const uint8_t mac[6], char out[18])
{
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 6; i++) {
        out[3 * i] = hex[mac[i] >> 4];
        out[3 * i + 1] = hex[mac[i] & 0x0f];
        out[3 * i + 2] = i < 5 ? ':' : '\0';
    }
}

/* The value of hex digit C, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int otac_mac_parse(const char *text, uint8_t mac[6])
{
    if (!text || !mac)
        return OTAC_E_INVAL;
    uint8_t parsed[6];
    char separator = '\0';
    for (int i = 0; i < 6; i++) {
        /* Each byte is read only after the one before it proved not to be the end. */
        const char *pair = text + 3 * i;
        int high = hex_value(pair[0]);
        int low = high < 0 ? -1 : hex_value(pair[1]);
        if (low < 0)
            return OTAC_E_INVAL;
        parsed[i] = (uint8_t)(high << 4 | low);
        if (i == 0 && (pair[2] == ':' || pair[2] == '-'))
            separator = pair[2];
        if (pair[2] != (i < 5 ? separator : '\0') || (i < 5 && !separator))
            return OTAC_E_INVAL;
    }
    memcpy(mac, parsed, sizeof(parsed));
    return OTAC_OK;
}
