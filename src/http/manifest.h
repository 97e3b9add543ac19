/*
 * The manifests two stock update clients poll (docs/PROTOCOL.md, "ESPHome"
 * and "esp32FOTA"): the JSON each expects, field by field, and where the
 * image it names lives. Pure: no service, no request beyond the one given,
 * so every field is unit-tested against the clients' own rules. The
 * handlers that decide what a manifest names are in manifest.c.
 */
#ifndef OTAD_HTTP_MANIFEST_H
#define OTAD_HTTP_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http/request.h"

/* One build of an ESPHome manifest: the image for one chip family. Borrowed strings. */
struct manifest_build {
    const char *chip; /* chipFamily, exactly as ESPHome spells the variant: "ESP32-S3" */
    const char *path; /* ota.path: root-relative ("/images/...") or an absolute URL */
    const char *md5;  /* ota.md5: lowercase hex of the exact bytes PATH serves */
};

/*
 * ESPHome's manifest (the ESP Web Tools format it reads):
 * {"name": NAME, "version": VERSION, "builds": [{"chipFamily": ..., "ota":
 * {"path": ..., "md5": ...}}]}, with "builds": [] when BUILD is NULL (the
 * device then installs nothing). A new reference (the caller owns it), or
 * NULL when out of memory.
 */
json_t *manifest_esphome_json(const char *name, const char *version,
                              const struct manifest_build *build);

/*
 * esp32FOTA's manifest: an array of one entry [{"type": TYPE, "version":
 * VERSION, "url": URL}], or [] when URL is NULL (no entry matches the
 * sketch's type: it installs nothing). VERSION goes out as a string. A new
 * reference, or NULL when out of memory.
 */
json_t *manifest_esp32fota_json(const char *type, const char *version, const char *url);

/*
 * Whether HOST, a request's Host header, can stand in a URL as it is: a
 * name or address with an optional port, at most 255 bytes of letters,
 * digits, '.', '-', ':', '[' and ']'. Anything else could smuggle a path or
 * a userinfo part into the URL a device fetches.
 */
bool manifest_host_valid(const char *host);

/*
 * Writes into OUT (SIZE bytes) where a device fetches release VERSION of
 * PRODUCT: "/images/PRODUCT/VERSION", or with ABSOLUTE the same path after
 * "http://HOST" or, when TLS (the request came over the HTTPS listener),
 * "https://HOST"; for device MAC (0: none) followed by "?mac=" and its 12
 * hex digits, so the image request tells the rollout which device
 * downloads. HOST must be manifest_host_valid. Returns 0, or -ENAMETOOLONG
 * when it does not fit.
 */
int manifest_image_location(const char *product, const char *version, uint64_t mac, bool absolute,
                            const char *host, bool tls, char *out, size_t size);

/*
 * Whether ESPHome would take PATH as a URL of its own rather than resolve
 * it against the manifest's: it does so for any path that contains "http"
 * anywhere (a product named "httpd" included), so such a path must be sent
 * absolute.
 */
bool manifest_esphome_takes_as_url(const char *path);

/*
 * The 48-bit MAC an esp32FOTA device-id stands for: ?id= is the decimal
 * value of ESP.getEfuseMac(), the six bytes of the base MAC read as a
 * little-endian number, so the first MAC byte is the lowest. TEXT is the
 * decimal, no sign, no blanks, below 2^48. Returns 0 with the MAC as the
 * registry's number (first byte highest), or -EINVAL.
 */
int manifest_device_id_mac(const char *text, uint64_t *ret_mac);

#endif
