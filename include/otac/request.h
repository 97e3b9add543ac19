/*
 * What a device says about itself, and the request a stock updater sends
 * with it, byte for byte (docs/PROTOCOL.md; the stock clients' own code).
 *
 *   OTAC_CLIENT_ESP8266_2_4  ESP8266httpUpdate, cores 2.4 / 2.5: Host,
 *                            User-Agent, Connection, x-ESP8266-* (sketch-md5
 *                            included), no Chip-ID, no Content-Length
 *   OTAC_CLIENT_ESP8266_2_7  cores 2.6 / 2.7: + x-ESP8266-Chip-ID first,
 *                            Content-Length: 0 last
 *   OTAC_CLIENT_ESP8266_3_1  cores 3.x: the same set and order as 2.7
 *   OTAC_CLIENT_ESP32        arduino-esp32 3.x HTTPUpdate: Cache-Control:
 *                            no-cache, x-ESP32-BASE-MAC, x-ESP32-*, sketch
 *                            SHA-256 in uppercase, no Content-Length
 *   OTAC_CLIENT_ESP_IDF      esp_https_ota: a plain HTTP/1.1 GET of the image
 *                            URL (User-Agent, Host; Range when resuming), no
 *                            identity headers
 *
 * Authorization, when given, goes where each client puts it: after
 * User-Agent on ESP8266 3.x, after Connection on ESP8266 2.4 / 2.7 and
 * arduino-esp32, after Host on ESP-IDF (esp_http_client adds it last, when
 * the request is prepared).
 *
 * The Arduino clients send HTTP/1.0 with Connection: close; the request-target
 * goes out verbatim (no leading slash added, nothing percent-encoded; an empty
 * one is sent as "/", as ESP8266HTTPClient and esp_http_client do), and Host
 * carries ":PORT" unless the port is 80 or 443.
 */
#ifndef OTAC_REQUEST_H
#define OTAC_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "otac/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTAC_VERSION_MAX 64u /* bytes of a firmware version, without the NUL */
#define OTAC_SDK_MAX     64u /* bytes of an SDK version string, without the NUL */
/*
 * A buffer this large holds any request built here whose host, target and
 * authorization take at most OTAC_REQUEST_ARGS_MAX bytes together.
 */
#define OTAC_REQUEST_MAX      1536u
#define OTAC_REQUEST_ARGS_MAX 800u

enum otac_client {
    OTAC_CLIENT_ESP8266_2_4 = 1,
    OTAC_CLIENT_ESP8266_2_7 = 2,
    OTAC_CLIENT_ESP8266_3_1 = 3,
    OTAC_CLIENT_ESP32 = 4,
    OTAC_CLIENT_ESP_IDF = 5,
};

/* What is updated: the application, or the filesystem image ("spiffs"). */
enum otac_mode {
    OTAC_MODE_SKETCH = 1,
    OTAC_MODE_FS = 2,
};

/*
 * A device's report, held by value. Text fields are NUL-terminated; an empty
 * one leaves its header out where the stock client would (version, MD5,
 * SHA-256). MACs are six bytes, sent as uppercase "AA:BB:CC:DD:EE:FF".
 */
struct otac_identity {
    enum otac_client client;
    uint8_t sta_mac[6];
    uint8_t ap_mac[6];
    uint8_t base_mac[6];                /* ESP32 only */
    uint32_t chip_id;                   /* ESP8266 >= 2.6 only */
    uint64_t free_space;                /* free sketch space in bytes */
    uint64_t sketch_size;               /* the running image's size */
    uint64_t chip_size;                 /* flash chip size in bytes */
    char sketch_md5[33];                /* lowercase hex of the running image */
    char sketch_sha256[65];             /* ESP32: hex, sent in uppercase */
    char sdk_version[OTAC_SDK_MAX + 1]; /* system_get_sdk_version(), the IDF version */
    char version[OTAC_VERSION_MAX + 1]; /* the firmware's own version */
};

/*
 * Writes the check-in ID's client sends to HOST:PORT for TARGET (the
 * request-target as the sketch wrote it, query included) in MODE, into BUF of
 * CAP bytes, and sets *RET_LEN. AUTHORIZATION is the whole header value
 * ("Basic ...") or NULL. For OTAC_CLIENT_ESP_IDF it is the plain GET of
 * TARGET (MODE is not sent). No NUL is appended.
 * Returns OTAC_OK, OTAC_E_INVAL (NULL, unknown client or mode, a field or
 * argument holding CR, LF or NUL) or OTAC_E_BUFFER.
 */
int otac_request_checkin(char *buf, size_t cap, size_t *ret_len, const struct otac_identity *id,
                         enum otac_mode mode, const char *host, uint16_t port, const char *target,
                         const char *authorization);

/*
 * Writes esp_https_ota's request for the rest of an image: GET TARGET with
 * "Range: bytes=FROM-" (HTTP/1.1, User-Agent, Host, Range, then
 * Authorization when AUTHORIZATION is not NULL or empty: esp_http_client
 * adds it to every request it prepares, as to the first GET). Same
 * arguments, returns and errors as otac_request_checkin.
 */
int otac_request_resume(char *buf, size_t cap, size_t *ret_len, const char *host, uint16_t port,
                        const char *target, const char *authorization, uint64_t from);

/* "AA:BB:CC:DD:EE:FF" (uppercase) into OUT, which must hold 18 bytes. */
void otac_mac_format(const uint8_t mac[6], char out[18]);

/*
 * Parses "AA:BB:CC:DD:EE:FF" (either case, ':' or '-') into MAC.
 * Returns OTAC_OK or OTAC_E_INVAL.
 */
int otac_mac_parse(const char *text, uint8_t mac[6]);

#ifdef __cplusplus
}
#endif

#endif
