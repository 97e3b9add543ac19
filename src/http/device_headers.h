/*
 * Reading a device's identity from a check-in request: the x-ESP8266-*,
 * x-ESP32-* or x-ESP-IDF-* headers (names case-insensitive), the
 * User-Agent, and the version from the header or from ?tag= / ?version=.
 * Formats per docs/PROTOCOL.md ("Request headers", "ESP-IDF check-in").
 */
#ifndef OTAD_HTTP_DEVICE_HEADERS_H
#define OTAD_HTTP_DEVICE_HEADERS_H

#include "core/reason.h"
#include "http/request.h"
#include "model/model.h"

/*
 * Fills *ret_report from REQ. Absent headers are fine (older cores send
 * fewer). Present ones must be well formed: MACs as six hex pairs separated
 * by ':' (either case), decimal numbers without sign or blanks (at most
 * 2^32 for sizes), sketch-md5 as 32 hex digits, sketch-sha256 as 64, mode
 * one of sketch / spiffs / version, strings within their limits, and no
 * identity header twice. The version comes from the header, else ?tag=,
 * else ?version=.
 * Details: blanks (space, tab) around values are ignored; the mode word is
 * matched case-insensitively; version and sdk-version must be printable
 * ASCII; an empty version header or query value counts as absent (an empty
 * ?tag= asks for the latest). Headers of both families in one request are
 * refused (any two of x-ESP8266-*, x-ESP32-*, x-ESP-IDF-*).
 * The ESP-IDF family sets report->idf and the platform ESP32: x-ESP-IDF-MAC
 * goes to sta_mac, x-ESP-IDF-elf-sha256 (8 to 64 hex digits: a prefix of
 * the ELF SHA-256, as esp_app_get_elf_sha256 cuts it) to elf_sha256,
 * x-ESP-IDF-chip (a target name esp_chip_parse knows, "esp32s3") to
 * idf_chip_id, x-ESP-IDF-chip-revision (decimal, at most 65535) to
 * chip_revision, x-ESP-IDF-secure-version (decimal, at most 2^32 - 1) to
 * secure_version, x-ESP-IDF-free-space to free_space; the Arduino
 * families' other headers mean nothing under that prefix and are ignored.
 * x-ESP32-BASE-MAC (arduino-esp32 3.x) is checked like any MAC and
 * stands in for the STA MAC only when there is none. The platform comes from
 * the header family, else from a User-Agent starting with
 * "ESP8266-http-Update" / "ESP32-http-Update" (platform_known false
 * otherwise). The User-Agent is copied cut to its field, non-printable
 * bytes as '?'; it is never a reason to refuse. *ret_report is written only
 * on success.
 * Returns 0, or -EINVAL with a reason naming the header ("x-ESP8266-STA-MAC
 * \"zz\" is not a MAC address").
 */
int device_report_parse(const struct http_request *req, struct device_report *ret_report,
                        struct reason *why);

/* Formats a MAC as "AA:BB:CC:DD:EE:FF" into OUT[18]; the same as mac_format in util.h. */
void device_mac_format(const uint8_t mac[6], char out[18]);

#endif
