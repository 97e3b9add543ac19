/*
 * Unit tests for the manifest endpoints (src/http/manifest.c): the JSON
 * writers field by field, then every manifest read back as each client
 * reads it (ESPHome's http_request update, esp32FOTA's checkJSONManifest,
 * re-stated here from their documented behaviour, docs/PROTOCOL.md), on a
 * real service (http_env.h: the ESP8266 product emonesp, release 1.0.2)
 * with an ESP32-S3 product added; the image a manifest names is fetched
 * through http_handle_image and its bytes hashed, so the MD5 is proved to
 * be that of the bytes served.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/manifest.h"
#include "http_env.h"
#include "service/service_fleet.h"

/* --- the clients, as their documentation and code describe them --- */

/* What ESPHome took from a manifest: NULL fields when it rejects it. */
struct esphome_view {
    bool valid;
    char version[80];
    char url[512];
    char md5[40];
};

/*
 * ESPHome's reading: name, version (strings) and builds (an array) are
 * required; every build needs a string chipFamily; the first whose
 * chipFamily equals VARIANT exactly must have ota.path and ota.md5
 * strings. The path is used as-is when it contains "http"; one starting
 * with '/' goes after SOURCE's scheme://host[:port]; any other after
 * SOURCE's last '/'.
 */
static struct esphome_view esphome_read(const char *body, const char *variant, const char *source)
{
    struct esphome_view v = {.valid = false};
    json_error_t err;
    json_t *root = json_loads(body, 0, &err);
    if (!json_is_string(json_object_get(root, "name")) ||
        !json_is_string(json_object_get(root, "version")) ||
        !json_is_array(json_object_get(root, "builds")))
        goto out;
    json_t *build;
    size_t i;
    json_array_foreach(json_object_get(root, "builds"), i, build)
    {
        json_t *chip = json_object_get(build, "chipFamily");
        if (!json_is_string(chip))
            goto out;
        if (strcmp(json_string_value(chip), variant) != 0)
            continue;
        json_t *ota = json_object_get(build, "ota");
        const char *path = json_string_value(json_object_get(ota, "path"));
        const char *md5 = json_string_value(json_object_get(ota, "md5"));
        if (!path || !md5)
            goto out;
        if (strstr(path, "http")) {
            snprintf(v.url, sizeof(v.url), "%s", path);
        } else if (path[0] == '/') {
            const char *end = strchr(source + 8, '/');
            snprintf(v.url, sizeof(v.url), "%.*s%s", (int)(end - source), source, path);
        } else {
            const char *end = strrchr(source, '/');
            snprintf(v.url, sizeof(v.url), "%.*s%s", (int)(end - source + 1), source, path);
        }
        snprintf(v.md5, sizeof(v.md5), "%s", md5);
        snprintf(v.version, sizeof(v.version), "%s",
                 json_string_value(json_object_get(root, "version")));
        v.valid = true;
        break;
    }
out:
    json_decref(root);
    return v;
}

/* esp32FOTA's version: three numbers, 0.0.0 for what its parser refuses. */
struct semver {
    long major, minor, patch;
};

/*
 * esp32FOTA's semver_parse_version: up to four '.'-separated slices, each
 * read with strtol, which must end at the '.' or the end; a failure gives
 * 0.0.0 (SemverClass's fallback).
 */
static struct semver semver_read(const char *text)
{
    struct semver v = {0, 0, 0};
    const char *slice = text;
    for (int index = 1; slice && index <= 4; index++) {
        const char *next = strchr(slice, '.');
        char *end;
        long value = strtol(slice, &end, 10);
        if (end != next && *end != 0)
            return (struct semver){0, 0, 0};
        if (index == 1)
            v.major = value;
        else if (index == 2)
            v.minor = value;
        else if (index == 3)
            v.patch = value;
        slice = next ? next + 1 : NULL;
    }
    return v;
}

static int semver_cmp(struct semver a, struct semver b)
{
    if (a.major != b.major)
        return a.major < b.major ? -1 : 1;
    if (a.minor != b.minor)
        return a.minor < b.minor ? -1 : 1;
    if (a.patch != b.patch)
        return a.patch < b.patch ? -1 : 1;
    return 0;
}

/*
 * esp32FOTA's reading: an object or an array of them; the first whose type
 * equals TYPE exactly, has a url, and whose version (an integer up to 65535
 * read as MAJOR.0.0, or a string) is strictly above RUNNING wins. Returns
 * its url, or NULL for no update.
 */
static const char *fota_read(json_t *root, const char *type, const char *running)
{
    json_t *entry;
    size_t i;
    json_t *one = json_is_array(root) ? NULL : root;
    size_t n = one ? 1 : json_array_size(root);
    for (i = 0; i < n; i++) {
        entry = one ? one : json_array_get(root, i);
        const char *t = json_string_value(json_object_get(entry, "type"));
        assert_non_null(t); /* a missing type crashes the client (strcmp on NULL) */
        if (strcmp(t, type) != 0)
            continue;
        json_t *jv = json_object_get(entry, "version");
        struct semver v = {0, 0, 0};
        if (json_is_integer(jv) && json_integer_value(jv) >= 0 && json_integer_value(jv) <= 65535)
            v.major = (long)json_integer_value(jv);
        else if (json_is_string(jv))
            v = semver_read(json_string_value(jv));
        const char *url = json_string_value(json_object_get(entry, "url"));
        if (url && semver_cmp(v, semver_read(running)) > 0)
            return url;
    }
    return NULL;
}

/* --- the environment: emonesp (ESP8266, 1.0.2) and an ESP32-S3 product "s3" --- */

#define S3_CHIP_ID 9

/* A minimal ESP32 image of SIZE bytes: the 24-byte header, one segment, the checksum. */
static void make_esp32(uint8_t *out, size_t size, uint16_t chip, uint8_t fill)
{
    memset(out, 0, size);
    out[0] = 0xE9;
    out[1] = 1;
    out[2] = 2;
    out[3] = 0x20;
    out[12] = (uint8_t)chip;
    out[13] = (uint8_t)(chip >> 8);
    uint32_t len = (uint32_t)(size - 24 - 8 - 16);
    out[24 + 4] = (uint8_t)len;
    out[24 + 5] = (uint8_t)(len >> 8);
    uint8_t checksum = 0xEF;
    for (uint32_t j = 0; j < len; j++) {
        out[32 + j] = (uint8_t)(j * 7 + fill);
        checksum ^= out[32 + j];
    }
    out[size - 1] = checksum;
}

static int setup(void **state)
{
    if (http_env_setup(state) < 0)
        return -1;
    struct http_env *e = *state;
    struct reason why;
    if (service_product_add(e->svc, "s3", PLATFORM_ESP32, NULL, NULL, &why) < 0)
        return -1;
    static uint8_t img[4096];
    make_esp32(img, sizeof(img), S3_CHIP_ID, 1);
    struct publish_request req = {
        .product = "s3", .version = "2.1.0", .image = img, .image_len = sizeof(img), .source = "t"};
    if (service_publish(e->svc, &req, NULL, NULL, &why) < 0) {
        fprintf(stderr, "publish: %s\n", why.text);
        return -1;
    }
    return 0;
}

static void manifest(struct http_env *e, struct http_request *req, bool esphome,
                     const char *product, struct http_reply *reply)
{
    struct http_route_args args;
    memset(&args, 0, sizeof(args));
    strcpy(args.product, product);
    http_reply_init(reply);
    if (esphome)
        http_handle_manifest_esphome(&e->ctx, req, &args, reply);
    else
        http_handle_manifest_esp32fota(&e->ctx, req, &args, reply);
}

/* A poll as ESPHome sends it (§1.2.2): Host, its User-Agent, no identity header. */
static void esphome_init(struct http_request *req, const char *path)
{
    request_init(req, "GET", path);
    add_header(req, "Host", "otad.test:8080");
    add_header(req, "User-Agent", "ESPHome/2025.11.0 (https://esphome.io)");
    add_header(req, "Connection", "keep-alive");
    add_header(req, "Accept-Encoding", "identity;q=1,chunked;q=0.1,*;q=0");
}

static void fota_init(struct http_request *req, const char *path)
{
    request_init(req, "GET", path);
    add_header(req, "Host", "otad.test:8080");
    add_header(req, "User-Agent", "ESP32HTTPClient");
    add_header(req, "Connection", "keep-alive");
    add_header(req, "Accept-Encoding", "identity;q=1,chunked;q=0.1,*;q=0");
}

/* The MD5 of what GET /images/PRODUCT/VERSION sends, into OUT[33]. */
static void served_md5(struct http_env *e, const char *product, const char *version, char out[33])
{
    struct http_request req;
    request_init(&req, "GET", "/images/x/y");
    struct http_route_args args;
    memset(&args, 0, sizeof(args));
    strcpy(args.product, product);
    strcpy(args.version, version);
    struct http_reply reply;
    http_reply_init(&reply);
    http_handle_image(&e->ctx, &req, &args, &reply);
    assert_int_equal(reply.status, 200);
    assert_true(http_reply_has_file(&reply));
    static uint8_t bytes[16384];
    assert_true(reply.fd_length <= sizeof(bytes));
    ssize_t n = pread(reply.fd, bytes, (size_t)reply.fd_length, (off_t)reply.fd_offset);
    assert_int_equal(n, (ssize_t)reply.fd_length);
    digest_md5_hex(bytes, (size_t)n, out);
    if (reply.has_ticket)
        service_delivery_done(e->svc, &reply.ticket, true);
    http_reply_release(&reply);
}

/* --- the writers, field by field --- */

static void test_esphome_json_fields(void **state)
{
    (void)state;
    struct manifest_build b = {.chip = "ESP32-C3", .path = "/images/p/1.2.3", .md5 = "00ff"};
    json_t *j = manifest_esphome_json("p", "1.2.3", &b);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "p");
    assert_string_equal(json_string_value(json_object_get(j, "version")), "1.2.3");
    json_t *builds = json_object_get(j, "builds");
    assert_int_equal(json_array_size(builds), 1);
    json_t *b0 = json_array_get(builds, 0);
    assert_int_equal(json_object_size(b0), 2);
    assert_string_equal(json_string_value(json_object_get(b0, "chipFamily")), "ESP32-C3");
    json_t *ota = json_object_get(b0, "ota");
    assert_int_equal(json_object_size(ota), 2);
    assert_string_equal(json_string_value(json_object_get(ota, "path")), "/images/p/1.2.3");
    assert_string_equal(json_string_value(json_object_get(ota, "md5")), "00ff");
    json_decref(j);

    j = manifest_esphome_json("p", "1.0.0", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "builds")), 0);
    assert_true(json_is_array(json_object_get(j, "builds")));
    json_decref(j);
}

static void test_esp32fota_json_fields(void **state)
{
    (void)state;
    json_t *j = manifest_esp32fota_json("door", "1.2.3", "http://h/images/door/1.2.3");
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *e = json_array_get(j, 0);
    assert_int_equal(json_object_size(e), 3);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "door");
    assert_true(json_is_string(json_object_get(e, "version"))); /* never an integer */
    assert_string_equal(json_string_value(json_object_get(e, "version")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(e, "url")), "http://h/images/door/1.2.3");
    json_decref(j);
    j = manifest_esp32fota_json("door", "1.2.3", NULL);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

static void test_location_and_host(void **state)
{
    (void)state;
    char out[300];
    assert_int_equal(manifest_image_location("p", "1.0", 0, false, NULL, false, out, sizeof(out)),
                     0);
    assert_string_equal(out, "/images/p/1.0");
    assert_int_equal(
        manifest_image_location("p", "1.0", 0, true, "h:8080", false, out, sizeof(out)), 0);
    assert_string_equal(out, "http://h:8080/images/p/1.0");
    assert_int_equal(
        manifest_image_location("p", "1.0", 0, true, "[::1]:8443", true, out, sizeof(out)), 0);
    assert_string_equal(out, "https://[::1]:8443/images/p/1.0");
    assert_int_equal(manifest_image_location("p", "1.0", UINT64_C(0x18FEAA0000A1), false, NULL,
                                             false, out, sizeof(out)),
                     0);
    assert_string_equal(out, "/images/p/1.0?mac=18FEAA0000A1");
    assert_int_equal(manifest_image_location("p", "1.0", 0, true, "h", false, out, 10),
                     -ENAMETOOLONG);
    assert_string_equal(out, "");

    assert_true(manifest_host_valid("otad.example.org"));
    assert_true(manifest_host_valid("10.0.0.1:8080"));
    assert_false(manifest_host_valid(""));
    assert_false(manifest_host_valid("evil.example/x?"));
    assert_false(manifest_host_valid("user@evil.example"));
    assert_false(manifest_host_valid("a b"));
    char long_host[300];
    memset(long_host, 'a', 256);
    long_host[256] = 0;
    assert_false(manifest_host_valid(long_host));

    assert_true(manifest_esphome_takes_as_url("/images/httpd/1.0"));
    assert_true(manifest_esphome_takes_as_url("/images/p/http-1"));
    assert_false(manifest_esphome_takes_as_url("/images/p/1.0"));
}

static void test_device_id(void **state)
{
    (void)state;
    uint64_t mac;
    /* MAC 24:0A:C4:12:34:56 as ESP.getEfuseMac() reads it: 0x563412C40A24. */
    assert_int_equal(manifest_device_id_mac("94781653125668", &mac), 0);
    assert_int_equal(mac, UINT64_C(0x240AC4123456));
    assert_int_equal(manifest_device_id_mac("0", &mac), 0);
    assert_int_equal(mac, 0);
    assert_int_equal(manifest_device_id_mac("281474976710655", &mac), 0); /* 2^48 - 1 */
    assert_int_equal(mac, UINT64_C(0xFFFFFFFFFFFF));
    assert_int_equal(manifest_device_id_mac("281474976710656", &mac), -EINVAL);
    assert_int_equal(manifest_device_id_mac("-1", &mac), -EINVAL);
    assert_int_equal(manifest_device_id_mac("12ab", &mac), -EINVAL);
    assert_int_equal(manifest_device_id_mac("", &mac), -EINVAL);
    assert_int_equal(manifest_device_id_mac(" 1", &mac), -EINVAL);
}

/* The reimplemented clients themselves, on the inputs their documentation names. */
static void test_client_rules(void **state)
{
    (void)state;
    struct semver v = semver_read("1.2.3");
    assert_true(v.major == 1 && v.minor == 2 && v.patch == 3);
    v = semver_read("v1.2.0");
    assert_true(v.major == 0 && v.minor == 0 && v.patch == 0);
    v = semver_read("1.2.0-rc1");
    assert_true(v.major == 0 && v.minor == 0 && v.patch == 0);
    struct esphome_view ev = esphome_read(
        "{\"name\":\"p\",\"version\":\"1\",\"builds\":[{\"chipFamily\":\"ESP32\",\"ota\":{\"path\":"
        "\"fw.bin\",\"md5\":\"m\"}}]}",
        "ESP32", "http://h:1/a/b.json");
    assert_true(ev.valid);
    assert_string_equal(ev.url, "http://h:1/a/fw.bin");
    ev = esphome_read("{\"name\":\"p\",\"version\":\"1\",\"builds\":[{\"ota\":{}}]}", "ESP32",
                      "http://h/m.json");
    assert_false(ev.valid); /* a build without chipFamily rejects the manifest */
}

/* --- the endpoints --- */

/* Per channel, ESPHome on an ESP8266 product: the channel's release, the bytes served. */
static void test_esphome_channel(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/emonesp.json");
    manifest(e, &req, true, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "application/json");
    assert_string_equal(reply_header(&reply, "Cache-Control"), "no-store");
    assert_false(http_reply_has_file(&reply));
    json_t *j = reply_json(&reply);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "emonesp");
    json_decref(j);
    struct esphome_view v = esphome_read(reply_body(&reply), "ESP8266",
                                         "http://otad.test:8080/manifest/esphome/emonesp.json");
    assert_true(v.valid);
    assert_string_equal(v.version, "1.0.2");
    assert_string_equal(v.url, "http://otad.test:8080/images/emonesp/1.0.2");
    char md5[33];
    served_md5(e, "emonesp", "1.0.2", md5);
    assert_string_equal(v.md5, md5);
    assert_string_equal(v.md5, e->md5);
    /* ESPHome compares chipFamily exactly: another spelling finds no build. */
    assert_false(esphome_read(reply_body(&reply), "esp8266", "http://h/m.json").valid);
    http_reply_release(&reply);
}

/* An ESP32-S3 product: chipFamily from the stored image's header. */
static void test_esphome_chip_family(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/s3.json");
    manifest(e, &req, true, "s3", &reply);
    assert_int_equal(reply.status, 200);
    struct esphome_view v =
        esphome_read(reply_body(&reply), "ESP32-S3", "https://o/manifest/esphome/s3.json");
    assert_true(v.valid);
    assert_string_equal(v.version, "2.1.0");
    assert_string_equal(v.url, "https://o/images/s3/2.1.0");
    char md5[33];
    served_md5(e, "s3", "2.1.0", md5);
    assert_string_equal(v.md5, md5);
    assert_false(esphome_read(reply_body(&reply), "ESP32", "https://o/m.json").valid);
    http_reply_release(&reply);
}

/* Per device: current names the device's own version; behind names the release. */
static void test_esphome_per_device(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/emonesp.json");
    add_query(&req, "mac", "18:FE:AA:AA:AA:10");
    add_query(&req, "version", "1.0.2");
    manifest(e, &req, true, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    struct esphome_view v = esphome_read(reply_body(&reply), "ESP8266", "http://h/m.json");
    assert_true(v.valid);
    assert_string_equal(v.version, "1.0.2"); /* equal: ESPHome offers nothing */
    http_reply_release(&reply);

    esphome_init(&req, "/manifest/esphome/emonesp.json");
    add_query(&req, "mac", "18feaaaaaa11");
    add_query(&req, "version", "0.9.0");
    manifest(e, &req, true, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    v = esphome_read(reply_body(&reply), "ESP8266", "http://h/m.json");
    assert_string_equal(v.version, "1.0.2");
    assert_string_equal(v.url, "http://h/images/emonesp/1.0.2?mac=18FEAAAAAA11");
    http_reply_release(&reply);

    /* The image URL takes that ?mac= (and refuses a malformed one). */
    struct http_route_args args;
    memset(&args, 0, sizeof(args));
    strcpy(args.product, "emonesp");
    strcpy(args.version, "1.0.2");
    request_init(&req, "GET", "/images/emonesp/1.0.2");
    add_query(&req, "mac", "18FEAAAAAA11");
    http_reply_init(&reply);
    http_handle_image(&e->ctx, &req, &args, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply_header(&reply, "x-MD5"), e->md5);
    service_delivery_done(e->svc, &reply.ticket, true);
    http_reply_release(&reply);
    request_init(&req, "GET", "/images/emonesp/1.0.2");
    add_query(&req, "mac", "18FEAAAAAA1");
    http_reply_init(&reply);
    http_handle_image(&e->ctx, &req, &args, &reply);
    assert_int_equal(reply.status, 400);
    http_reply_release(&reply);

    /* Current on a version otad never published: its own version, no build to install. */
    esphome_init(&req, "/manifest/esphome/emonesp.json");
    add_query(&req, "mac", "18:FE:AA:AA:AA:12");
    add_query(&req, "version", "9.0.0");
    manifest(e, &req, true, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    json_t *j = reply_json(&reply);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "9.0.0");
    assert_int_equal(json_array_size(json_object_get(j, "builds")), 0);
    json_decref(j);
    http_reply_release(&reply);

    /* The devices are in the registry, with the client's User-Agent. */
    assert_int_equal(service_registry_flush(e->svc), 0);
    struct device_record *devs = NULL;
    size_t count = 0;
    uint64_t total = 0;
    struct reason why;
    assert_int_equal(service_device_list(e->svc, "emonesp", 100, 0, &devs, &count, &total, &why),
                     0);
    assert_int_equal(count, 3);
    bool seen = false;
    for (size_t i = 0; i < count; i++) {
        assert_string_equal(devs[i].report.user_agent, "ESPHome/2025.11.0 (https://esphome.io)");
        if (devs[i].report.sta_mac[5] == 0x11) {
            seen = true;
            assert_string_equal(devs[i].report.version, "0.9.0");
            assert_string_equal(devs[i].last_offered, "1.0.2");
        }
    }
    assert_true(seen);
    free(devs);
}

/* esp32FOTA: the type, the absolute URL from Host, the version it parses. */
static void test_esp32fota(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    fota_init(&req, "/manifest/esp32fota/s3.json");
    manifest(e, &req, false, "s3", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "application/json");
    assert_string_equal(reply_header(&reply, "Cache-Control"), "no-store");
    json_t *j = reply_json(&reply);
    assert_string_equal(fota_read(j, "s3", "2.0.9"), "http://otad.test:8080/images/s3/2.1.0");
    assert_null(fota_read(j, "s3", "2.1.0")); /* not strictly newer */
    assert_null(fota_read(j, "S3", "0.0.1")); /* the type is compared exactly */
    json_decref(j);
    http_reply_release(&reply);

    /* ?type= and over TLS: https. */
    fota_init(&req, "/manifest/esp32fota/s3.json");
    req.tls = true;
    add_query(&req, "type", "esp32-fota-http");
    manifest(e, &req, false, "s3", &reply);
    j = reply_json(&reply);
    assert_string_equal(fota_read(j, "esp32-fota-http", "1"),
                        "https://otad.test:8080/images/s3/2.1.0");
    json_decref(j);
    http_reply_release(&reply);

    /* Device-id mode: the registry has it under its MAC. */
    fota_init(&req, "/manifest/esp32fota/s3.json");
    add_query(&req, "id", "94781653125668");
    add_query(&req, "version", "2.0.0");
    manifest(e, &req, false, "s3", &reply);
    assert_int_equal(reply.status, 200);
    j = reply_json(&reply);
    assert_non_null(fota_read(j, "s3", "2.0.0"));
    json_decref(j);
    http_reply_release(&reply);
    assert_int_equal(service_registry_flush(e->svc), 0);
    struct device_record *devs = NULL;
    size_t count = 0;
    uint64_t total = 0;
    struct reason why;
    assert_int_equal(service_device_list(e->svc, "s3", 100, 0, &devs, &count, &total, &why), 0);
    assert_int_equal(count, 1);
    char mac[18];
    mac_format(devs[0].report.sta_mac, mac);
    assert_string_equal(mac, "24:0A:C4:12:34:56");
    free(devs);

    char md5[33];
    served_md5(e, "s3", "2.1.0", md5); /* the URL serves */
}

/* A version esp32FOTA would read as 0.0.0 is refused, never named. */
static void test_esp32fota_unreadable_version(void **state)
{
    struct http_env *e = *state;
    struct reason why;
    static uint8_t img[4096];
    make_esp32(img, sizeof(img), S3_CHIP_ID, 2);
    struct publish_request pub = {.product = "s3",
                                  .version = "2.2.0-rc1",
                                  .image = img,
                                  .image_len = sizeof(img),
                                  .source = "t"};
    assert_int_equal(service_publish(e->svc, &pub, NULL, NULL, &why), 0);
    struct http_request req;
    struct http_reply reply;
    fota_init(&req, "/manifest/esp32fota/s3.json");
    manifest(e, &req, false, "s3", &reply);
    assert_int_equal(reply.status, 403);
    assert_non_null(strstr(reply_body(&reply), "2.2.0-rc1"));
    assert_non_null(strstr(reply_body(&reply), "0.0.0"));
    http_reply_release(&reply);
    fota_init(&req, "/manifest/esp32fota/s3.json");
    add_query(&req, "mac", "24:0A:C4:00:00:09");
    add_query(&req, "version", "2.1.0");
    manifest(e, &req, false, "s3", &reply);
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);
    /* ESPHome compares strings: the same release is fine there. */
    esphome_init(&req, "/manifest/esphome/s3.json");
    manifest(e, &req, true, "s3", &reply);
    assert_int_equal(reply.status, 200);
    struct esphome_view v = esphome_read(reply_body(&reply), "ESP32-S3", "http://h/m.json");
    assert_string_equal(v.version, "2.2.0-rc1");
    http_reply_release(&reply);

    /* Each published in turn becomes the target (a non-semver version goes by sequence). */
    static const struct {
        const char *version;
        int status;
    } targets[] = {
        {"3.0.0.1", 403}, /* a fourth number esp32FOTA would drop */
        {"v4.0.0", 403},  /* a 'v' it reads as 0.0.0 */
        {"4.1.0+b7", 403},
        {"5.0", 200}, /* one to three numbers: read as 5.0.0 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
        make_esp32(img, sizeof(img), S3_CHIP_ID, (uint8_t)(10 + i));
        pub.version = targets[i].version;
        assert_int_equal(service_publish(e->svc, &pub, NULL, NULL, &why), 0);
        fota_init(&req, "/manifest/esp32fota/s3.json");
        manifest(e, &req, false, "s3", &reply);
        if (reply.status != targets[i].status)
            fail_msg("%s: %d %s", targets[i].version, reply.status, reply_body(&reply));
        if (reply.status == 200) {
            json_t *j = reply_json(&reply);
            assert_non_null(fota_read(j, "s3", "4.9.9"));
            assert_null(fota_read(j, "s3", "5.0.0"));
            json_decref(j);
        }
        http_reply_release(&reply);
    }
}

/* One ESPHome poll of emonesp by device N on VERSION: the version its manifest names. */
static void poll_named(struct http_env *e, int n, const char *version, char *out, size_t size)
{
    char mac[18];
    snprintf(mac, sizeof(mac), "18:FE:AA:AA:AB:%02X", n);
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/emonesp.json");
    add_query(&req, "mac", mac);
    add_query(&req, "version", version);
    manifest(e, &req, true, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    json_t *j = reply_json(&reply);
    snprintf(out, size, "%s", json_string_value(json_object_get(j, "version")));
    json_decref(j);
    http_reply_release(&reply);
}

/*
 * The download cap: a manifest takes no slot, the image it names does while it is
 * sent, and a poll while the cap is full is told to stay where it is.
 */
static void test_download_cap(void **state)
{
    struct http_env *e = *state;
    struct reason why;
    struct product_fleet f = {.max_downloads = 1};
    assert_int_equal(service_product_set_fleet(e->svc, "emonesp", &f, &why), 0);
    char named[80];
    poll_named(e, 1, "1.0.0", named, sizeof(named));
    assert_string_equal(named, "1.0.2");
    poll_named(e, 2, "1.0.0", named, sizeof(named)); /* the manifest held no slot */
    assert_string_equal(named, "1.0.2");
    /* Device 1 fetches its image: that body fills the cap while it is sent. */
    struct http_route_args args;
    memset(&args, 0, sizeof(args));
    strcpy(args.product, "emonesp");
    strcpy(args.version, "1.0.2");
    struct http_request req;
    request_init(&req, "GET", "/images/emonesp/1.0.2");
    add_query(&req, "mac", "18FEAAAAAB01");
    struct http_reply image;
    http_reply_init(&image);
    http_handle_image(&e->ctx, &req, &args, &image);
    assert_int_equal(image.status, 200);
    assert_true(image.ticket.holds_slot);
    poll_named(e, 2, "1.0.0", named, sizeof(named));
    assert_string_equal(named, "1.0.0"); /* held back: its own version, nothing to install */
    service_delivery_done(e->svc, &image.ticket, true);
    http_reply_release(&image);
    poll_named(e, 2, "1.0.0", named, sizeof(named));
    assert_string_equal(named, "1.0.2");
}

/* Bad identity: a 400 naming the argument; an unknown product: 404. */
static void test_refusals(void **state)
{
    struct http_env *e = *state;
    static const struct {
        bool esphome;
        const char *name, *value, *name2, *value2;
        int status;
        const char *needle;
    } cases[] = {
        {true, "mac", "18:FE:AA", "version", "1", 400, "?mac="},
        {true, "mac", "zz:FE:AA:AA:AA:AA", "version", "1", 400, "?mac="},
        {true, "mac", "00:00:00:00:00:00", "version", "1", 400, "?mac="},
        {true, "mac", "18:FE:AA:AA:AA:AA", NULL, NULL, 400, "?version="},
        {false, "id", "12x", "version", "1", 400, "?id="},
        {false, "id", "281474976710656", "version", "1", 400, "?id="},
        {false, "id", "5", "mac", "18:FE:AA:AA:AA:AA", 400, "not both"},
        {false, "type", "a b", NULL, NULL, 400, "?type="},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        struct http_reply reply;
        esphome_init(&req, "/manifest/x");
        add_query(&req, cases[i].name, cases[i].value);
        if (cases[i].name2)
            add_query(&req, cases[i].name2, cases[i].value2);
        manifest(e, &req, cases[i].esphome, "emonesp", &reply);
        if (reply.status != cases[i].status || !strstr(reply_body(&reply), cases[i].needle))
            fail_msg("case %zu: %d %s", i, reply.status, reply_body(&reply));
        http_reply_release(&reply);
    }
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/nope.json");
    manifest(e, &req, true, "nope", &reply);
    assert_int_equal(reply.status, 404);
    assert_string_equal(reply_body(&reply), "no such product\n");
    http_reply_release(&reply);
    /* esp32FOTA needs Host for its absolute URL. */
    request_init(&req, "GET", "/manifest/esp32fota/s3.json");
    manifest(e, &req, false, "s3", &reply);
    assert_int_equal(reply.status, 400);
    assert_non_null(strstr(reply_body(&reply), "Host"));
    http_reply_release(&reply);
}

/* A product whose image path holds "http": ESPHome gets the absolute URL. */
static void test_esphome_http_in_path(void **state)
{
    struct http_env *e = *state;
    struct reason why;
    assert_int_equal(service_product_add(e->svc, "httpd", PLATFORM_ESP8266, NULL, NULL, &why), 0);
    struct publish_request pub = {.product = "httpd",
                                  .version = "1.0.0",
                                  .image = e->img,
                                  .image_len = sizeof(e->img),
                                  .source = "t"};
    assert_int_equal(service_publish(e->svc, &pub, NULL, NULL, &why), 0);
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/httpd.json");
    manifest(e, &req, true, "httpd", &reply);
    assert_int_equal(reply.status, 200);
    struct esphome_view v = esphome_read(reply_body(&reply), "ESP8266",
                                         "http://otad.test:8080/manifest/esphome/httpd.json");
    assert_string_equal(v.url, "http://otad.test:8080/images/httpd/1.0.0");
    http_reply_release(&reply);
}

/* The routes: {product}.json takes the name without its suffix, through http_route. */
static void test_routes(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    esphome_init(&req, "/manifest/esphome/emonesp.json");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    http_reply_release(&reply);
    esphome_init(&req, "/manifest/esphome/emonesp");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 404);
    http_reply_release(&reply);
    esphome_init(&req, "/manifest/esphome/.json");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 404);
    http_reply_release(&reply);
    fota_init(&req, "/manifest/esp32fota/s3.json");
    req.method = "POST";
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 405);
    http_reply_release(&reply);
    assert_true(http_path_is_device(&e->ctx, "/manifest/esphome/x.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_esphome_json_fields),
        cmocka_unit_test(test_esp32fota_json_fields),
        cmocka_unit_test(test_location_and_host),
        cmocka_unit_test(test_device_id),
        cmocka_unit_test(test_client_rules),
        cmocka_unit_test_setup_teardown(test_esphome_channel, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_esphome_chip_family, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_esphome_per_device, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_esp32fota, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_esp32fota_unreadable_version, setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_esphome_http_in_path, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_download_cap, setup, http_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
