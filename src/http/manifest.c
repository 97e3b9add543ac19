/*
 * The manifest endpoints (docs/PROTOCOL.md, "ESPHome" and "esp32FOTA"):
 * GET|HEAD /manifest/esphome/{product}.json and
 * /manifest/esp32fota/{product}.json. This file owns the clients' JSON and
 * the identity their query carries (?mac=, esp32FOTA's ?id=, ?version=,
 * ?channel=, ?group=, ?type=); what the manifest names is the service's
 * decision (service_manifest: per device with a MAC, per channel without),
 * and the image it points at is what /images/{product}/{version} serves,
 * with the MD5 of exactly those bytes. It never sends the image itself.
 */
#include "http/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "http/device_headers.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "model/fleet.h"
#include "service/service_fleet.h"

/* The two clients: how each reads a manifest. */
enum manifest_client { CLIENT_ESPHOME, CLIENT_ESP32FOTA };

/* How much of a bad query value a reason quotes. */
#define QUOTE_BYTES 40

/* "/images/" + product + "/" + version + "?mac=" + 12 digits, after "https://" and a Host. */
#define LOCATION_BYTES                                                                             \
    (8 + 255 + 8 + LIMIT_PRODUCT_NAME_BYTES + 1 + LIMIT_RELEASE_VERSION_BYTES + 1)

/* The largest device id: a MAC has 48 bits. */
#define DEVICE_ID_MAX ((UINT64_C(1) << 48) - 1)

json_t *manifest_esphome_json(const char *name, const char *version,
                              const struct manifest_build *build)
{
    json_t *builds = json_array();
    if (build)
        json_array_append_new(builds, json_pack("{s:s, s:{s:s, s:s}}", "chipFamily", build->chip,
                                                "ota", "path", build->path, "md5", build->md5));
    if (!builds || (build && json_array_size(builds) != 1)) {
        json_decref(builds);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:o}", "name", name, "version", version, "builds", builds);
}

json_t *manifest_esp32fota_json(const char *type, const char *version, const char *url)
{
    json_t *entries = json_array();
    if (entries && url &&
        json_array_append_new(entries, json_pack("{s:s, s:s, s:s}", "type", type, "version",
                                                 version, "url", url)) < 0) {
        json_decref(entries);
        return NULL;
    }
    return entries;
}

bool manifest_host_valid(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        if (!ok)
            return false;
    }
    return true;
}

int manifest_image_location(const char *product, const char *version, uint64_t mac, bool absolute,
                            const char *host, bool tls, char *out, size_t size)
{
    char query[32] = "";
    if (mac)
        snprintf(query, sizeof(query), "?mac=%012" PRIX64, mac);
    int n = absolute ? snprintf(out, size, "%s://%s/images/%s/%s%s", tls ? "https" : "http", host,
                                product, version, query)
                     : snprintf(out, size, "/images/%s/%s%s", product, version, query);
    if (n < 0 || (size_t)n >= size) {
        if (size)
            out[0] = 0;
        return -ENAMETOOLONG;
    }
    return 0;
}

bool manifest_esphome_takes_as_url(const char *path)
{
    return strstr(path, "http") != NULL;
}

int manifest_device_id_mac(const char *text, uint64_t *ret_mac)
{
    uint64_t id;
    if (parse_u64(text, DEVICE_ID_MAX, &id) < 0)
        return -EINVAL;
    uint64_t mac = 0;
    for (int i = 0; i < 6; i++) /* byte i of the number is MAC byte i */
        mac = mac << 8 | ((id >> (8 * i)) & 0xff);
    *ret_mac = mac;
    return 0;
}

/* Writes V as a reason may quote it into OUT: bounded, non-printable bytes as '?'. */
static void quote(const char *v, char out[QUOTE_BYTES + 4])
{
    size_t n = 0;
    for (; v[n] && n < QUOTE_BYTES; n++)
        out[n] = v[n] >= 0x20 && v[n] < 0x7f && v[n] != '"' ? v[n] : '?';
    if (v[n]) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

/* A 400 naming the query argument NAME whose VALUE is wrong, and what it should be. */
static void refuse_arg(struct http_reply *reply, const char *name, const char *value,
                       const char *expected)
{
    char q[QUOTE_BYTES + 4], text[256];
    quote(value, q);
    snprintf(text, sizeof(text), "?%s=\"%s\" is not %s", name, q, expected);
    http_reply_text(reply, 400, text);
}

/*
 * The device's identity from REQ's query into *REPORT (device_report_parse
 * read the rest: ?version=, ?channel=, ?group=, the User-Agent): ?mac=, or
 * for esp32FOTA its ?id=. A MAC needs a version: the manifest must name
 * what the device should keep when it is current. False with REPLY filled
 * (400) when the query is malformed.
 */
static bool read_identity(const struct http_request *req, enum manifest_client client,
                          struct device_report *report, struct http_reply *reply)
{
    const char *mac_arg = http_request_query(req, "mac");
    const char *id_arg = client == CLIENT_ESP32FOTA ? http_request_query(req, "id") : NULL;
    uint64_t mac;
    if (mac_arg && id_arg) {
        http_reply_static(reply, 400, "give ?mac= or ?id=, not both\n");
        return false;
    }
    if (mac_arg && (mac_text_parse(mac_arg, &mac) < 0 || mac == 0)) {
        refuse_arg(reply, "mac", mac_arg, "a MAC address (AA:BB:CC:DD:EE:FF or 12 hex digits)");
        return false;
    }
    if (id_arg && (manifest_device_id_mac(id_arg, &mac) < 0 || mac == 0)) {
        refuse_arg(reply, "id", id_arg,
                   "an esp32FOTA device id (ESP.getEfuseMac() in decimal, below 2^48)");
        return false;
    }
    if (mac_arg || id_arg) {
        mac_from_u64(mac, report->sta_mac);
        report->has_sta_mac = true;
    }
    if (report->has_sta_mac && !report->version[0]) {
        http_reply_static(reply, 400,
                          "a manifest asked for one device needs ?version= (the version it "
                          "runs) beside its MAC\n");
        return false;
    }
    return true;
}

/* The firmware type esp32FOTA compares exactly: ?type=, else the product's name. */
static bool read_type(const struct http_request *req, const char *product, const char **ret_type,
                      struct http_reply *reply)
{
    const char *type = http_request_query(req, "type");
    if (!type) {
        *ret_type = product;
        return true;
    }
    bool ok = type[0] && strlen(type) <= LIMIT_MANIFEST_TYPE_BYTES;
    for (const char *p = type; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f;
    if (!ok) {
        refuse_arg(reply, "type", type, "1 to 64 printable characters without blanks");
        return false;
    }
    *ret_type = type;
    return true;
}

/*
 * Where the manifest points the device for VERSION, into OUT: esp32FOTA
 * needs an absolute URL; ESPHome resolves a root-relative path against the
 * manifest's own scheme, host and port (the way it reached us, through any
 * balancer), so it gets one, unless it would take the path for a URL.
 * False with REPLY filled when an absolute URL is needed and the Host
 * header cannot give it.
 */
static bool image_location(const struct http_request *req, enum manifest_client client,
                           const char *product, const char *version, uint64_t mac, char *out,
                           size_t size, struct http_reply *reply)
{
    int r = manifest_image_location(product, version, mac, false, NULL, false, out, size);
    bool absolute = client == CLIENT_ESP32FOTA || manifest_esphome_takes_as_url(out);
    const char *host = http_request_header(req, "Host");
    if (r == 0 && absolute) {
        if (!host || !manifest_host_valid(host)) {
            http_reply_static(reply, 400,
                              "a Host header (name or address, optional port) is needed to name "
                              "the image URL\n");
            return false;
        }
        r = manifest_image_location(product, version, mac, true, host, req->tls, out, size);
    }
    if (r < 0) {
        http_reply_static(reply, 500, "the image URL does not fit\n");
        return false;
    }
    return true;
}

static void handle_manifest(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, enum manifest_client client,
                            struct http_reply *reply)
{
    struct device_report report;
    struct reason why = {""};
    if (device_report_parse(req, &report, &why) < 0) {
        service_checkin_malformed(ctx->svc, args->product);
        http_reply_text(reply, 400, why.text);
        return;
    }
    const char *type = NULL;
    if (!read_identity(req, client, &report, reply) ||
        (client == CLIENT_ESP32FOTA && !read_type(req, args->product, &type, reply)))
        return;

    struct manifest_request mreq = {
        .report = &report,
        .checkin = {.remote_addr = req->remote_addr, .legacy_alias = false, .tls = req->tls},
        .numeric_versions = client == CLIENT_ESP32FOTA,
    };
    struct decision d;
    service_manifest(ctx->svc, args->product, &mreq, &d);
    if (d.kind == DECISION_REFUSED || d.kind == DECISION_UNKNOWN) {
        http_reply_text(reply, d.kind == DECISION_REFUSED ? 403 : 404, d.reason);
        return;
    }
    /* ESPHome installs whatever version differs: a current device is named its own. */
    bool current = d.kind == DECISION_CURRENT;
    const char *version = current ? report.version : d.version;

    struct manifest_image image;
    int r = service_manifest_image(ctx->svc, args->product, version, &image);
    bool has_image = r == 0;
    if (r == -EAGAIN) {
        http_reply_static(reply, 503, "image being fetched; retry later\n");
        http_reply_header(reply, "Retry-After", "10");
        return;
    }
    if (r < 0 && !(r == -ENOENT && current)) {
        char text[160];
        if (r == -ENOENT)
            snprintf(text, sizeof(text), "release %s has no form the image URL serves", version);
        else
            snprintf(text, sizeof(text), "stored image of release %s unavailable", version);
        http_reply_text(reply, r == -ENOENT ? 403 : 500, text);
        return;
    }
    char location[LOCATION_BYTES];
    uint64_t mac = report.has_sta_mac ? mac_to_u64(report.sta_mac) : 0;
    if (has_image && !image_location(req, client, args->product, version, mac, location,
                                     sizeof(location), reply))
        return;

    json_t *root;
    if (client == CLIENT_ESPHOME) {
        struct manifest_build build = {
            .chip = image.chip, .path = location, .md5 = image.variant.md5};
        root = manifest_esphome_json(args->product, version, has_image ? &build : NULL);
    } else {
        root = manifest_esp32fota_json(type, version, has_image ? location : NULL);
    }
    http_reply_json(reply, 200, root);
    http_reply_header(reply, "Cache-Control", "no-store");
}

void http_handle_manifest_esphome(const struct http_context *ctx, const struct http_request *req,
                                  const struct http_route_args *args, struct http_reply *reply)
{
    handle_manifest(ctx, req, args, CLIENT_ESPHOME, reply);
}

void http_handle_manifest_esp32fota(const struct http_context *ctx, const struct http_request *req,
                                    const struct http_route_args *args, struct http_reply *reply)
{
    handle_manifest(ctx, req, args, CLIENT_ESP32FOTA, reply);
}
