/* Unit tests for src/http/device_headers.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "core/util.h"
#include "http/device_headers.h"

/* A request as the HTTP layer would hand it over, built header by header. */
static void req_init(struct http_request *req)
{
    memset(req, 0, sizeof(*req));
    req->method = "GET";
    req->path = "/update";
    req->remote_addr = "127.0.0.1";
    req->http10 = true;
}

static void add_header(struct http_request *req, const char *name, const char *value)
{
    assert_true(req->header_count < LIMIT_HEADERS_PER_REQUEST);
    req->headers[req->header_count++] = (struct http_pair){name, value};
}

static void add_query(struct http_request *req, const char *name, const char *value)
{
    assert_true(req->query_count < LIMIT_QUERY_ARGS_PER_REQUEST);
    req->query[req->query_count++] = (struct http_pair){name, value};
}

static void assert_mac(const uint8_t mac[6], const char *expect)
{
    char text[18];
    device_mac_format(mac, text);
    assert_string_equal(text, expect);
}

static int parse(const struct http_request *req, struct device_report *rep, struct reason *why)
{
    memset(rep, 0xAA, sizeof(*rep));
    memset(why, 0, sizeof(*why));
    return device_report_parse(req, rep, why);
}

/* Parses REQ, expecting -EINVAL with exactly REASON, and the report untouched. */
static void assert_refused(const struct http_request *req, const char *reason)
{
    struct device_report rep;
    struct reason why;
    int r = parse(req, &rep, &why);
    if (r != -EINVAL)
        fail_msg("expected -EINVAL (%s), got %d", reason, r);
    if (strcmp(why.text, reason) != 0)
        fail_msg("reason \"%s\", expected \"%s\"", why.text, reason);
    const uint8_t *p = (const uint8_t *)&rep;
    for (size_t i = 0; i < sizeof(rep); i++)
        assert_int_equal(p[i], 0xAA);
}

/* ESP8266 core 2.4.x: no Chip-ID, no Content-Length; md5 and mode present. */
static void esp8266_core24(struct http_request *req, bool with_version)
{
    req_init(req);
    add_header(req, "Host", "ota.example.org");
    add_header(req, "User-Agent", "ESP8266-http-Update");
    add_header(req, "Connection", "close");
    add_header(req, "x-ESP8266-STA-MAC", "5C:CF:7F:01:02:03");
    add_header(req, "x-ESP8266-AP-MAC", "5E:CF:7F:01:02:03");
    add_header(req, "x-ESP8266-free-space", "679936");
    add_header(req, "x-ESP8266-sketch-size", "364080");
    add_header(req, "x-ESP8266-sketch-md5", "0f343b0931126a20f133d67c2b018a3b");
    add_header(req, "x-ESP8266-chip-size", "4194304");
    add_header(req, "x-ESP8266-sdk-version", "2.2.1(cfd48f3)");
    add_header(req, "x-ESP8266-mode", "sketch");
    if (with_version)
        add_header(req, "x-ESP8266-version", "1.0.2");
}

/* ESP8266 core 2.7.x: Chip-ID (2.6.0+) and Content-Length: 0. */
static void esp8266_core27(struct http_request *req)
{
    req_init(req);
    add_header(req, "Host", "ota.example.org:8080");
    add_header(req, "User-Agent", "ESP8266-http-Update");
    add_header(req, "Connection", "close");
    add_header(req, "x-ESP8266-Chip-ID", "1458415");
    add_header(req, "x-ESP8266-STA-MAC", "2C:3A:E8:16:40:EF");
    add_header(req, "x-ESP8266-AP-MAC", "2E:3A:E8:16:40:EF");
    add_header(req, "x-ESP8266-free-space", "2801664");
    add_header(req, "x-ESP8266-sketch-size", "342288");
    add_header(req, "x-ESP8266-sketch-md5", "c2f9bd1a7be8e8e0d6f1e3b7a5f5e4d3");
    add_header(req, "x-ESP8266-chip-size", "4194304");
    add_header(req, "x-ESP8266-sdk-version", "2.2.2-dev(38a443e)");
    add_header(req, "x-ESP8266-mode", "sketch");
    add_header(req, "x-ESP8266-version", "DOOR-7-g14f53a19");
    add_header(req, "Content-Length", "0");
}

/* ESP8266 core 3.1.x, the reference §1.1 request (with Authorization). */
static void esp8266_core31(struct http_request *req)
{
    req_init(req);
    add_header(req, "Host", "ota.example.org");
    add_header(req, "User-Agent", "ESP8266-http-Update");
    add_header(req, "Authorization", "Basic dXNlcjpwYXNz");
    add_header(req, "Connection", "close");
    add_header(req, "x-ESP8266-Chip-ID", "10468123");
    add_header(req, "x-ESP8266-STA-MAC", "18:FE:AA:AA:AA:AA");
    add_header(req, "x-ESP8266-AP-MAC", "1A:FE:AA:AA:AA:AA");
    add_header(req, "x-ESP8266-free-space", "671744");
    add_header(req, "x-ESP8266-sketch-size", "373940");
    add_header(req, "x-ESP8266-sketch-md5", "a56f8ef78a0bebd812f62067daf1408a");
    add_header(req, "x-ESP8266-chip-size", "4194304");
    add_header(req, "x-ESP8266-sdk-version", "2.2.2-dev(38a443e)");
    add_header(req, "x-ESP8266-mode", "sketch");
    add_header(req, "x-ESP8266-version", "DOOR-7-g14f53a19");
    add_header(req, "Content-Length", "0");
}

#define SHA_UPPER "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define SHA_LOWER "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* arduino-esp32 2.x: Cache-Control first, sha256 uppercase, no Chip-ID, no Content-Length. */
static void esp32_core2(struct http_request *req)
{
    req_init(req);
    add_header(req, "Host", "ota.example.org");
    add_header(req, "User-Agent", "ESP32-http-Update");
    add_header(req, "Connection", "close");
    add_header(req, "Cache-Control", "no-cache");
    add_header(req, "x-ESP32-STA-MAC", "24:0A:C4:12:34:56");
    add_header(req, "x-ESP32-AP-MAC", "24:0A:C4:12:34:57");
    add_header(req, "x-ESP32-free-space", "1966080");
    add_header(req, "x-ESP32-sketch-size", "912336");
    add_header(req, "x-ESP32-sketch-md5", "5d41402abc4b2a76b9719d911017c592");
    add_header(req, "x-ESP32-sketch-sha256", SHA_UPPER);
    add_header(req, "x-ESP32-chip-size", "4194304");
    add_header(req, "x-ESP32-sdk-version", "v4.4.4");
    add_header(req, "x-ESP32-mode", "sketch");
    add_header(req, "x-ESP32-version", "v2.3.0");
}

/* arduino-esp32 3.x: adds BASE-MAC; a chip without Wi-Fi (ESP32-H2) sends no STA/AP MAC. */
static void esp32_core3(struct http_request *req, bool wifi)
{
    req_init(req);
    add_header(req, "Host", "ota.example.org");
    add_header(req, "User-Agent", "ESP32-http-Update");
    add_header(req, "Connection", "close");
    add_header(req, "Cache-Control", "no-cache");
    if (wifi) {
        add_header(req, "x-ESP32-STA-MAC", "DC:54:75:C1:00:10");
        add_header(req, "x-ESP32-AP-MAC", "DC:54:75:C1:00:11");
    }
    add_header(req, "x-ESP32-BASE-MAC", "DC:54:75:C1:00:0C");
    add_header(req, "x-ESP32-free-space", "3342336");
    add_header(req, "x-ESP32-sketch-size", "1051024");
    add_header(req, "x-ESP32-sketch-md5", "7215ee9c7d9dc229d2921a40e899ec5f");
    add_header(req, "x-ESP32-sketch-sha256", SHA_UPPER);
    add_header(req, "x-ESP32-chip-size", "8388608");
    add_header(req, "x-ESP32-sdk-version", "v5.1.4-497-gdc859c1e67-dirty");
    add_header(req, "x-ESP32-mode", "spiffs");
    add_header(req, "x-ESP32-version", "3.0.1-rc.2");
}

static void test_esp8266_core24(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    esp8266_core24(&req, true);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP8266);
    assert_true(rep.platform_known);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "5C:CF:7F:01:02:03");
    assert_true(rep.has_ap_mac);
    assert_mac(rep.ap_mac, "5E:CF:7F:01:02:03");
    assert_false(rep.has_chip_id);
    assert_true(rep.chip_id == 0);
    assert_true(rep.has_free_space);
    assert_true(rep.free_space == 679936);
    assert_true(rep.has_sketch_size);
    assert_true(rep.sketch_size == 364080);
    assert_true(rep.has_chip_size);
    assert_true(rep.chip_size == 4194304);
    assert_string_equal(rep.sketch_md5, "0f343b0931126a20f133d67c2b018a3b");
    assert_string_equal(rep.sketch_sha256, "");
    assert_string_equal(rep.sdk_version, "2.2.1(cfd48f3)");
    assert_true(rep.has_mode);
    assert_int_equal(rep.mode, REPORT_MODE_SKETCH);
    assert_string_equal(rep.version, "1.0.2");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);
    assert_string_equal(rep.user_agent, "ESP8266-http-Update");

    /* no currentVersion passed: the header is absent */
    esp8266_core24(&req, false);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "");
    assert_int_equal(rep.version_source, VERSION_SOURCE_NONE);
    assert_true(rep.has_sta_mac);
}

static void test_esp8266_core27(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    esp8266_core27(&req);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP8266);
    assert_true(rep.platform_known);
    assert_true(rep.has_chip_id);
    assert_true(rep.chip_id == 1458415);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "2C:3A:E8:16:40:EF");
    assert_true(rep.has_ap_mac);
    assert_mac(rep.ap_mac, "2E:3A:E8:16:40:EF");
    assert_true(rep.has_free_space);
    assert_true(rep.free_space == 2801664);
    assert_true(rep.has_sketch_size);
    assert_true(rep.sketch_size == 342288);
    assert_true(rep.has_chip_size);
    assert_true(rep.chip_size == 4194304);
    assert_string_equal(rep.sketch_md5, "c2f9bd1a7be8e8e0d6f1e3b7a5f5e4d3");
    assert_string_equal(rep.sketch_sha256, "");
    assert_string_equal(rep.sdk_version, "2.2.2-dev(38a443e)");
    assert_true(rep.has_mode);
    assert_int_equal(rep.mode, REPORT_MODE_SKETCH);
    assert_string_equal(rep.version, "DOOR-7-g14f53a19");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);
    assert_string_equal(rep.user_agent, "ESP8266-http-Update");
}

static void test_esp8266_core31(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    esp8266_core31(&req);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP8266);
    assert_true(rep.platform_known);
    assert_true(rep.has_chip_id);
    assert_true(rep.chip_id == 10468123);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "18:FE:AA:AA:AA:AA");
    assert_true(rep.has_ap_mac);
    assert_mac(rep.ap_mac, "1A:FE:AA:AA:AA:AA");
    assert_true(rep.has_free_space);
    assert_true(rep.free_space == 671744);
    assert_true(rep.has_sketch_size);
    assert_true(rep.sketch_size == 373940);
    assert_true(rep.has_chip_size);
    assert_true(rep.chip_size == 4194304);
    assert_string_equal(rep.sketch_md5, "a56f8ef78a0bebd812f62067daf1408a");
    assert_string_equal(rep.sketch_sha256, "");
    assert_string_equal(rep.sdk_version, "2.2.2-dev(38a443e)");
    assert_true(rep.has_mode);
    assert_int_equal(rep.mode, REPORT_MODE_SKETCH);
    assert_string_equal(rep.version, "DOOR-7-g14f53a19");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);
    assert_string_equal(rep.user_agent, "ESP8266-http-Update");
}

static void test_esp8266_modes(void **state)
{
    static const struct {
        const char *value;
        enum report_mode mode;
    } cases[] = {
        {"sketch", REPORT_MODE_SKETCH},     {"spiffs", REPORT_MODE_FS},
        {"version", REPORT_MODE_VERSION},   {"SPIFFS", REPORT_MODE_FS},
        {" version ", REPORT_MODE_VERSION},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        struct device_report rep;
        struct reason why;
        esp8266_core24(&req, false);
        req.headers[10].value = cases[i].value;
        assert_string_equal(req.headers[10].name, "x-ESP8266-mode");
        assert_int_equal(parse(&req, &rep, &why), 0);
        assert_true(rep.has_mode);
        assert_int_equal(rep.mode, cases[i].mode);
    }
}

static void test_esp32_core2(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    esp32_core2(&req);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP32);
    assert_true(rep.platform_known);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "24:0A:C4:12:34:56");
    assert_true(rep.has_ap_mac);
    assert_mac(rep.ap_mac, "24:0A:C4:12:34:57");
    assert_false(rep.has_chip_id);
    assert_true(rep.has_free_space);
    assert_true(rep.free_space == 1966080);
    assert_true(rep.has_sketch_size);
    assert_true(rep.sketch_size == 912336);
    assert_true(rep.has_chip_size);
    assert_true(rep.chip_size == 4194304);
    assert_string_equal(rep.sketch_md5, "5d41402abc4b2a76b9719d911017c592");
    assert_string_equal(rep.sketch_sha256, SHA_LOWER); /* stored lowercase */
    assert_string_equal(rep.sdk_version, "v4.4.4");
    assert_true(rep.has_mode);
    assert_int_equal(rep.mode, REPORT_MODE_SKETCH);
    assert_string_equal(rep.version, "v2.3.0");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);
    assert_string_equal(rep.user_agent, "ESP32-http-Update");
}

static void test_esp32_core3(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;

    /* with Wi-Fi: STA-MAC wins, BASE-MAC is ignored */
    esp32_core3(&req, true);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP32);
    assert_true(rep.platform_known);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "DC:54:75:C1:00:10");
    assert_true(rep.has_ap_mac);
    assert_mac(rep.ap_mac, "DC:54:75:C1:00:11");
    assert_false(rep.has_chip_id);
    assert_true(rep.has_free_space);
    assert_true(rep.free_space == 3342336);
    assert_true(rep.has_sketch_size);
    assert_true(rep.sketch_size == 1051024);
    assert_true(rep.has_chip_size);
    assert_true(rep.chip_size == 8388608);
    assert_string_equal(rep.sketch_md5, "7215ee9c7d9dc229d2921a40e899ec5f");
    assert_string_equal(rep.sketch_sha256, SHA_LOWER);
    assert_string_equal(rep.sdk_version, "v5.1.4-497-gdc859c1e67-dirty");
    assert_true(rep.has_mode);
    assert_int_equal(rep.mode, REPORT_MODE_FS);
    assert_string_equal(rep.version, "3.0.1-rc.2");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);
    assert_string_equal(rep.user_agent, "ESP32-http-Update");

    /* without Wi-Fi: the base MAC identifies the device */
    esp32_core3(&req, false);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "DC:54:75:C1:00:0C");
    assert_false(rep.has_ap_mac);
    assert_int_equal(rep.platform, PLATFORM_ESP32);

    /* a malformed base MAC is refused even when STA-MAC is there */
    esp32_core3(&req, true);
    req.headers[6].value = "DC:54:75:C1:00";
    assert_string_equal(req.headers[6].name, "x-ESP32-BASE-MAC");
    assert_refused(&req,
                   "x-ESP32-BASE-MAC \"DC:54:75:C1:00\" is not a MAC address (AA:BB:CC:DD:EE:FF)");
}

static void test_no_identity(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;

    /* the legacy EmonESP call: GET /esp/firmware.php, nothing else */
    req_init(&req);
    req.path = "/esp/firmware.php";
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_false(rep.platform_known);
    assert_int_equal(rep.platform, PLATFORM_ESP8266);
    assert_false(rep.has_sta_mac || rep.has_ap_mac || rep.has_chip_id || rep.has_free_space ||
                 rep.has_sketch_size || rep.has_chip_size || rep.has_mode);
    assert_int_equal(rep.mode, REPORT_MODE_SKETCH);
    assert_string_equal(rep.sketch_md5, "");
    assert_string_equal(rep.sketch_sha256, "");
    assert_string_equal(rep.sdk_version, "");
    assert_string_equal(rep.version, "");
    assert_int_equal(rep.version_source, VERSION_SOURCE_NONE);
    assert_string_equal(rep.user_agent, "");

    /* ... and with an empty ?tag=: still "tell me the latest" */
    add_query(&req, "tag", "");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "");
    assert_int_equal(rep.version_source, VERSION_SOURCE_NONE);

    /* the 2016 proxy form with a tag */
    req_init(&req);
    add_header(&req, "User-Agent", "ESP8266HTTPClient");
    add_query(&req, "tag", "2.1.0");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_false(rep.platform_known);
    assert_string_equal(rep.version, "2.1.0");
    assert_int_equal(rep.version_source, VERSION_SOURCE_TAG_QUERY);
    assert_string_equal(rep.user_agent, "ESP8266HTTPClient");
}

static void test_platform_from_user_agent(void **state)
{
    static const struct {
        const char *ua;
        bool known;
        enum platform platform;
    } cases[] = {
        {"ESP8266-http-Update", true, PLATFORM_ESP8266},
        {"ESP32-http-Update", true, PLATFORM_ESP32},
        {"esp32-http-update", true, PLATFORM_ESP32},
        {"ESP8266HTTPClient", false, PLATFORM_ESP8266},
        {"ESP32HTTPClient", false, PLATFORM_ESP8266},
        {"curl/8.5.0", false, PLATFORM_ESP8266},
        {"", false, PLATFORM_ESP8266},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        struct device_report rep;
        struct reason why;
        req_init(&req);
        add_header(&req, "User-Agent", cases[i].ua);
        assert_int_equal(parse(&req, &rep, &why), 0);
        assert_int_equal(rep.platform_known, cases[i].known);
        assert_int_equal(rep.platform, cases[i].platform);
        assert_string_equal(rep.user_agent, cases[i].ua);
    }

    /* the header family wins over a contradicting user agent */
    struct http_request req;
    struct device_report rep;
    struct reason why;
    req_init(&req);
    add_header(&req, "User-Agent", "ESP8266-http-Update");
    add_header(&req, "x-ESP32-STA-MAC", "24:0A:C4:12:34:56");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP32);
    assert_true(rep.platform_known);
}

static void test_user_agent_copy(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    char long_ua[300];
    memset(long_ua, 'u', sizeof(long_ua) - 1);
    long_ua[sizeof(long_ua) - 1] = 0;

    req_init(&req);
    add_header(&req, "User-Agent", long_ua);
    assert_int_equal(parse(&req, &rep, &why), 0); /* not identity: truncated, not refused */
    assert_int_equal(strlen(rep.user_agent), LIMIT_USER_AGENT_BYTES);
    assert_memory_equal(rep.user_agent, long_ua, LIMIT_USER_AGENT_BYTES);

    req_init(&req);
    add_header(&req, "User-Agent", " \tESP8266-http-Update\t ");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.user_agent, "ESP8266-http-Update");
    assert_true(rep.platform_known);

    req_init(&req);
    add_header(&req, "User-Agent",
               "a\x01"
               "b\xc3\xa9");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.user_agent, "a?b??");
}

static void test_version_sources(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;

    /* header beats ?tag= beats ?version= */
    esp8266_core24(&req, true);
    add_query(&req, "tag", "9.9.9");
    add_query(&req, "version", "8.8.8");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "1.0.2");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);

    esp8266_core24(&req, false);
    add_query(&req, "version", "8.8.8");
    add_query(&req, "tag", "9.9.9");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "9.9.9");
    assert_int_equal(rep.version_source, VERSION_SOURCE_TAG_QUERY);

    esp8266_core24(&req, false);
    add_query(&req, "version", "8.8.8");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "8.8.8");
    assert_int_equal(rep.version_source, VERSION_SOURCE_VERSION_QUERY);

    /* empty values count as absent */
    esp8266_core24(&req, false);
    add_header(&req, "x-ESP8266-version", " ");
    add_query(&req, "tag", "");
    add_query(&req, "version", "8.8.8");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "8.8.8");
    assert_int_equal(rep.version_source, VERSION_SOURCE_VERSION_QUERY);

    esp8266_core24(&req, false);
    add_query(&req, "tag", "");
    add_query(&req, "version", "");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "");
    assert_int_equal(rep.version_source, VERSION_SOURCE_NONE);

    /* query names are case-sensitive */
    esp8266_core24(&req, false);
    add_query(&req, "Tag", "1.0");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.version_source, VERSION_SOURCE_NONE);

    /* blanks around the value are not part of it */
    esp8266_core24(&req, false);
    add_header(&req, "x-ESP8266-version", "\t v1.2 \t");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, "v1.2");
}

static void test_version_limits(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    char v64[65], v65[66];
    memset(v64, '7', 64);
    v64[64] = 0;
    memset(v65, '7', 65);
    v65[65] = 0;

    esp8266_core24(&req, false);
    add_header(&req, "x-ESP8266-version", v64);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.version, v64);

    esp8266_core24(&req, false);
    add_header(&req, "x-ESP8266-version", v65);
    assert_refused(&req, "x-ESP8266-version is 65 bytes; at most 64 are accepted");

    esp32_core2(&req);
    req.headers[13].value = v65;
    assert_refused(&req, "x-ESP32-version is 65 bytes; at most 64 are accepted");

    req_init(&req);
    add_query(&req, "tag", v65);
    assert_refused(&req, "?tag= is 65 bytes; at most 64 are accepted");

    req_init(&req);
    add_query(&req, "version", v65);
    assert_refused(&req, "?version= is 65 bytes; at most 64 are accepted");

    /* versions are printable ASCII: they end up in the database, logs and JSON */
    req_init(&req);
    add_query(&req, "tag", "1.0\n");
    assert_refused(&req, "?tag= has byte 0x0a at 3; only printable ASCII is accepted");
    esp8266_core24(&req, false);
    add_header(&req, "x-ESP8266-version", "1.0-\xc3\xa9");
    assert_refused(&req, "x-ESP8266-version has byte 0xc3 at 4; only printable ASCII is accepted");
}

static void test_sdk_version_limits(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    char s64[65], s65[66];
    memset(s64, 's', 64);
    s64[64] = 0;
    memset(s65, 's', 65);
    s65[65] = 0;

    esp8266_core24(&req, false);
    req.headers[9].value = s64;
    assert_string_equal(req.headers[9].name, "x-ESP8266-sdk-version");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.sdk_version, s64);

    req.headers[9].value = s65;
    assert_refused(&req, "x-ESP8266-sdk-version is 65 bytes; at most 64 are accepted");

    req.headers[9].value = "2.2.1\x7f";
    assert_refused(&req, "x-ESP8266-sdk-version has byte 0x7f at 5; only printable ASCII is "
                         "accepted");
}

struct bad_value {
    const char *suffix;
    const char *value;
    const char *reason;
};

/* Replaces the ESP8266 2.7 request's header x-ESP8266-SUFFIX with VALUE and expects REASON. */
static void check_bad_values(const struct bad_value *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct http_request req;
        char name[64];
        snprintf(name, sizeof(name), "x-ESP8266-%s", cases[i].suffix);
        esp8266_core27(&req);
        bool replaced = false;
        for (unsigned h = 0; h < req.header_count; h++) {
            if (strcmp(req.headers[h].name, name) == 0) {
                req.headers[h].value = cases[i].value;
                replaced = true;
            }
        }
        assert_true(replaced);
        assert_refused(&req, cases[i].reason);
    }
}

static void test_bad_macs(void **state)
{
    static const struct bad_value cases[] = {
        {"STA-MAC", "zz", "x-ESP8266-STA-MAC \"zz\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "", "x-ESP8266-STA-MAC \"\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18-FE-AA-AA-AA-AA",
         "x-ESP8266-STA-MAC \"18-FE-AA-AA-AA-AA\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18:FE:AA:AA:AA",
         "x-ESP8266-STA-MAC \"18:FE:AA:AA:AA\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18:FE:AA:AA:AA:AA:BB",
         "x-ESP8266-STA-MAC \"18:FE:AA:AA:AA:AA:BB\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18:FE:AA:AA:AA:AG",
         "x-ESP8266-STA-MAC \"18:FE:AA:AA:AA:AG\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18:FE:AA:AA:AAA:A",
         "x-ESP8266-STA-MAC \"18:FE:AA:AA:AAA:A\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18FEAAAAAAAA",
         "x-ESP8266-STA-MAC \"18FEAAAAAAAA\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"STA-MAC", "18:FE:AA:AA:AA: A",
         "x-ESP8266-STA-MAC \"18:FE:AA:AA:AA: A\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"AP-MAC", "\"1A:FE:AA:AA:AA:AA\"",
         "x-ESP8266-AP-MAC \"?1A:FE:AA:AA:AA:AA?\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"AP-MAC", "1A:FE:AA:AA:AA:AA\x01",
         "x-ESP8266-AP-MAC \"1A:FE:AA:AA:AA:AA?\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {"AP-MAC", "0123456789012345678901234567890123456789012345",
         "x-ESP8266-AP-MAC \"0123456789012345678901234567890123456789...\" is not a MAC "
         "address (AA:BB:CC:DD:EE:FF)"},
    };
    check_bad_values(cases, ARRAY_SIZE(cases));
}

static void test_good_macs(void **state)
{
    static const struct {
        const char *value;
        const char *formatted;
    } cases[] = {
        {"18:FE:AA:AA:AA:AA", "18:FE:AA:AA:AA:AA"},
        {"18:fe:aa:0b:cc:dd", "18:FE:AA:0B:CC:DD"},
        {" 00:00:00:00:00:00\t", "00:00:00:00:00:00"},
        {"FF:FF:FF:FF:FF:FF", "FF:FF:FF:FF:FF:FF"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        struct device_report rep;
        struct reason why;
        esp8266_core31(&req);
        req.headers[5].value = cases[i].value;
        assert_string_equal(req.headers[5].name, "x-ESP8266-STA-MAC");
        assert_int_equal(parse(&req, &rep, &why), 0);
        assert_true(rep.has_sta_mac);
        assert_mac(rep.sta_mac, cases[i].formatted);
    }
}

static void test_bad_numbers(void **state)
{
    static const struct bad_value cases[] = {
        {"free-space", "", "x-ESP8266-free-space \"\" is not a decimal number"},
        {"free-space", "-1", "x-ESP8266-free-space \"-1\" is not a decimal number"},
        {"free-space", "+1", "x-ESP8266-free-space \"+1\" is not a decimal number"},
        {"free-space", "1 2", "x-ESP8266-free-space \"1 2\" is not a decimal number"},
        {"free-space", "0x10", "x-ESP8266-free-space \"0x10\" is not a decimal number"},
        {"free-space", "01", "x-ESP8266-free-space \"01\" is not a decimal number"},
        {"free-space", "1.5", "x-ESP8266-free-space \"1.5\" is not a decimal number"},
        {"free-space", "4294967297", "x-ESP8266-free-space \"4294967297\" is above 4294967296"},
        {"free-space", "18446744073709551616",
         "x-ESP8266-free-space \"18446744073709551616\" is above 4294967296"},
        {"free-space", "999999999999999999999999",
         "x-ESP8266-free-space \"999999999999999999999999\" is above 4294967296"},
        {"free-space", "99999999999999999999999x",
         "x-ESP8266-free-space \"99999999999999999999999x\" is not a decimal number"},
        {"sketch-size", "abc", "x-ESP8266-sketch-size \"abc\" is not a decimal number"},
        {"sketch-size", "4294967297", "x-ESP8266-sketch-size \"4294967297\" is above 4294967296"},
        {"chip-size", "4M", "x-ESP8266-chip-size \"4M\" is not a decimal number"},
        {"chip-size", "99999999999", "x-ESP8266-chip-size \"99999999999\" is above 4294967296"},
        {"Chip-ID", "0x00ABCDEF", "x-ESP8266-Chip-ID \"0x00ABCDEF\" is not a decimal number"},
        {"Chip-ID", "18446744073709551616",
         "x-ESP8266-Chip-ID \"18446744073709551616\" is above 18446744073709551615"},
    };
    check_bad_values(cases, ARRAY_SIZE(cases));
}

static void test_good_numbers(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    esp8266_core27(&req);
    req.headers[3].value = "0";           /* Chip-ID */
    req.headers[6].value = " 4294967296"; /* free-space: 2^32 is let through */
    req.headers[7].value = "0\t";         /* sketch-size */
    req.headers[9].value = "16777216";    /* chip-size */
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_true(rep.has_chip_id && rep.chip_id == 0);
    assert_true(rep.has_free_space && rep.free_space == UINT64_C(4294967296));
    assert_true(rep.has_sketch_size && rep.sketch_size == 0);
    assert_true(rep.has_chip_size && rep.chip_size == 16777216);

    req.headers[3].value = "18446744073709551615";
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_true(rep.chip_id == UINT64_MAX);
}

static void test_digests(void **state)
{
    static const struct bad_value cases[] = {
        {"sketch-md5", "a56f8ef78a0bebd812f62067daf1408",
         "x-ESP8266-sketch-md5 \"a56f8ef78a0bebd812f62067daf1408\" is not 32 hex digits"},
        {"sketch-md5", "a56f8ef78a0bebd812f62067daf1408aa",
         "x-ESP8266-sketch-md5 \"a56f8ef78a0bebd812f62067daf1408aa\" is not 32 hex digits"},
        {"sketch-md5", "g56f8ef78a0bebd812f62067daf1408a",
         "x-ESP8266-sketch-md5 \"g56f8ef78a0bebd812f62067daf1408a\" is not 32 hex digits"},
        {"sketch-md5", "", "x-ESP8266-sketch-md5 \"\" is not 32 hex digits"},
        {"sketch-md5", "a56f8ef7 8a0bebd812f62067daf1408",
         "x-ESP8266-sketch-md5 \"a56f8ef7 8a0bebd812f62067daf1408\" is not 32 hex digits"},
    };
    check_bad_values(cases, ARRAY_SIZE(cases));

    struct http_request req;
    struct device_report rep;
    struct reason why;
    esp8266_core31(&req);
    req.headers[9].value = " A56F8EF78A0BEBD812F62067DAF1408A ";
    assert_string_equal(req.headers[9].name, "x-ESP8266-sketch-md5");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.sketch_md5, "a56f8ef78a0bebd812f62067daf1408a");

    esp32_core2(&req);
    req.headers[9].value = SHA_LOWER "0";
    assert_refused(&req, "x-ESP32-sketch-sha256 \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b...\" "
                         "is not 64 hex digits");
    req.headers[9].value = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A0";
    assert_refused(&req, "x-ESP32-sketch-sha256 \"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B...\" "
                         "is not 64 hex digits");
    req.headers[9].value = SHA_LOWER;
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.sketch_sha256, SHA_LOWER);
}

static void test_bad_mode(void **state)
{
    static const struct bad_value cases[] = {
        {"mode", "fs", "x-ESP8266-mode \"fs\" is not sketch, spiffs or version"},
        {"mode", "littlefs", "x-ESP8266-mode \"littlefs\" is not sketch, spiffs or version"},
        {"mode", "", "x-ESP8266-mode \"\" is not sketch, spiffs or version"},
        {"mode", "sketch2", "x-ESP8266-mode \"sketch2\" is not sketch, spiffs or version"},
        {"mode", "sketc", "x-ESP8266-mode \"sketc\" is not sketch, spiffs or version"},
    };
    check_bad_values(cases, ARRAY_SIZE(cases));
}

static void test_duplicates(void **state)
{
    static const char *const suffixes[] = {
        "STA-MAC",    "AP-MAC",    "Chip-ID",     "free-space", "sketch-size",
        "sketch-md5", "chip-size", "sdk-version", "mode",       "version",
    };
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        struct http_request req;
        char name[64], expect[128];
        esp8266_core31(&req);
        /* the same value again, under a differently cased name */
        snprintf(name, sizeof(name), "X-esp8266-%s", suffixes[i]);
        const char *value = NULL;
        for (unsigned h = 0; h < req.header_count; h++)
            if (strcasecmp(req.headers[h].name, name) == 0)
                value = req.headers[h].value;
        assert_non_null(value);
        add_header(&req, name, value);
        snprintf(expect, sizeof(expect), "x-ESP8266-%s appears 2 times; a device sends it once",
                 suffixes[i]);
        assert_refused(&req, expect);
    }

    struct http_request req;
    esp32_core3(&req, true);
    add_header(&req, "x-ESP32-BASE-MAC", "DC:54:75:C1:00:0C");
    add_header(&req, "x-ESP32-BASE-MAC", "DC:54:75:C1:00:0C");
    assert_refused(&req, "x-ESP32-BASE-MAC appears 3 times; a device sends it once");

    esp32_core2(&req);
    add_header(&req, "x-esp32-sketch-sha256", SHA_UPPER);
    assert_refused(&req, "x-ESP32-sketch-sha256 appears 2 times; a device sends it once");

    /* headers we do not know may repeat */
    struct device_report rep;
    struct reason why;
    esp8266_core31(&req);
    add_header(&req, "x-ESP8266-future", "1");
    add_header(&req, "x-ESP8266-future", "2");
    add_header(&req, "User-Agent", "second");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.user_agent, "ESP8266-http-Update");
}

static void test_both_families(void **state)
{
    struct http_request req;
    esp8266_core31(&req);
    add_header(&req, "x-ESP32-STA-MAC", "24:0A:C4:12:34:56");
    assert_refused(&req, "the request carries both x-ESP8266-* and x-ESP32-* headers");

    esp32_core2(&req);
    add_header(&req, "X-ESP8266-FUTURE", "");
    assert_refused(&req, "the request carries both x-ESP8266-* and x-ESP32-* headers");

    /* The ESP-IDF family, found past the prefix all three share, in any case. */
    esp8266_core31(&req);
    add_header(&req, "X-esp-IDF-MAC", "24:0A:C4:12:34:56");
    assert_refused(&req, "the request carries both x-ESP8266-* and x-ESP-IDF-* headers");
}

static void test_header_names_case_insensitive(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    req_init(&req);
    add_header(&req, "X-ESP8266-STA-MAC", "18:FE:AA:AA:AA:AA");
    add_header(&req, "x-esp8266-ap-mac", "1A:FE:AA:AA:AA:AA");
    add_header(&req, "X-Esp8266-Free-Space", "671744");
    add_header(&req, "X-ESP8266-VERSION", "1.2.3");
    add_header(&req, "user-agent", "ESP8266-http-Update");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.platform, PLATFORM_ESP8266);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "18:FE:AA:AA:AA:AA");
    assert_true(rep.has_ap_mac);
    assert_true(rep.has_free_space && rep.free_space == 671744);
    assert_string_equal(rep.version, "1.2.3");
    assert_string_equal(rep.user_agent, "ESP8266-http-Update");
    /* absent headers stay absent */
    assert_false(rep.has_chip_id || rep.has_sketch_size || rep.has_chip_size || rep.has_mode);
    assert_string_equal(rep.sketch_md5, "");
    assert_string_equal(rep.sdk_version, "");
}

static void test_null_reason(void **state)
{
    struct http_request req;
    struct device_report rep;
    esp8266_core31(&req);
    assert_int_equal(device_report_parse(&req, &rep, NULL), 0);
    req.headers[5].value = "bad";
    assert_int_equal(device_report_parse(&req, &rep, NULL), -EINVAL);
}

static void test_mac_format(void **state)
{
    static const struct {
        uint8_t mac[6];
        const char *text;
    } cases[] = {
        {{0, 0, 0, 0, 0, 0}, "00:00:00:00:00:00"},
        {{0x18, 0xfe, 0xaa, 0x0b, 0xc0, 0xff}, "18:FE:AA:0B:C0:FF"},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "FF:FF:FF:FF:FF:FF"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char out[18];
        memset(out, 'x', sizeof(out));
        device_mac_format(cases[i].mac, out);
        assert_string_equal(out, cases[i].text);
    }
}

/* An ESP-IDF app with the snippet of docs/ESP-IDF.md: esp_http_client over HTTP/1.1. */
static void idf_app(struct http_request *req)
{
    req_init(req);
    req->http10 = false;
    add_header(req, "User-Agent", "ESP32 HTTP Client/1.0");
    add_header(req, "Host", "ota.example.org");
    add_header(req, "x-ESP-IDF-MAC", "24:0a:c4:12:34:56");
    add_header(req, "x-ESP-IDF-version", "1.4.0");
    add_header(req, "x-ESP-IDF-elf-sha256",
               "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
    add_header(req, "x-ESP-IDF-chip", "esp32s3");
    add_header(req, "x-ESP-IDF-chip-revision", "2");
    add_header(req, "x-ESP-IDF-secure-version", "3");
    add_header(req, "x-ESP-IDF-free-space", "1638400");
}

static void test_idf_app(void **state)
{
    struct http_request req;
    struct device_report rep;
    struct reason why;
    idf_app(&req);
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_true(rep.idf);
    assert_true(rep.platform_known);
    assert_int_equal(rep.platform, PLATFORM_ESP32);
    assert_true(rep.has_sta_mac);
    assert_mac(rep.sta_mac, "24:0A:C4:12:34:56");
    assert_false(rep.has_ap_mac);
    assert_string_equal(rep.version, "1.4.0");
    assert_int_equal(rep.version_source, VERSION_SOURCE_HEADER);
    assert_string_equal(rep.elf_sha256,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_true(rep.has_chip);
    assert_int_equal(rep.idf_chip_id, 9);
    assert_true(rep.has_chip_revision);
    assert_int_equal(rep.chip_revision, 2);
    assert_true(rep.has_secure_version);
    assert_int_equal(rep.secure_version, 3);
    assert_true(rep.has_free_space);
    assert_int_equal(rep.free_space, 1638400);
    assert_int_equal(rep.mode, REPORT_MODE_SKETCH);
    assert_false(rep.has_chip_id);
    assert_string_equal(rep.sketch_md5, "");
    assert_string_equal(rep.user_agent, "ESP32 HTTP Client/1.0");

    /* Only the MAC: every other field absent, nothing made up. */
    req_init(&req);
    add_header(&req, "X-Esp-Idf-Mac", "24:0A:C4:00:00:01");
    add_query(&req, "version", "2.0.0");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_true(rep.idf);
    assert_int_equal(rep.platform, PLATFORM_ESP32);
    assert_false(rep.has_chip);
    assert_false(rep.has_chip_revision);
    assert_false(rep.has_secure_version);
    assert_false(rep.has_free_space);
    assert_string_equal(rep.elf_sha256, "");
    assert_string_equal(rep.version, "2.0.0");
    assert_int_equal(rep.version_source, VERSION_SOURCE_VERSION_QUERY);

    /* esp_app_get_elf_sha256 with the default CONFIG_APP_RETRIEVE_LEN_ELF_SHA: 9 digits. */
    idf_app(&req);
    req.headers[4].value = "6d9e6c4f3";
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.elf_sha256, "6d9e6c4f3");

    /* A User-Agent of esp_http_client alone says nothing: no family, no platform. */
    req_init(&req);
    add_header(&req, "User-Agent", "ESP32 HTTP Client/1.0");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_false(rep.idf);
    assert_false(rep.platform_known);
}

static void test_idf_chips(void **state)
{
    static const struct {
        const char *name;
        uint16_t id;
    } chips[] = {
        {"esp32", 0},    {"esp32s2", 2},  {"esp32c3", 5},   {"esp32s3", 9},
        {"esp32c2", 12}, {"esp32c6", 13}, {"esp32h2", 16},  {"esp32p4", 18},
        {"esp32c5", 23}, {"ESP32-S3", 9}, {" esp32c3 ", 5},
    };
    for (size_t i = 0; i < ARRAY_SIZE(chips); i++) {
        struct http_request req;
        struct device_report rep;
        struct reason why;
        idf_app(&req);
        req.headers[5].value = chips[i].name;
        assert_int_equal(parse(&req, &rep, &why), 0);
        assert_true(rep.has_chip);
        assert_int_equal(rep.idf_chip_id, chips[i].id);
    }
}

static void test_idf_refused(void **state)
{
    static const struct {
        unsigned header; /* index in idf_app's request */
        const char *value;
        const char *reason;
    } cases[] = {
        {2, "24:0A:C4:12:34",
         "x-ESP-IDF-MAC \"24:0A:C4:12:34\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {2, "240AC4123456",
         "x-ESP-IDF-MAC \"240AC4123456\" is not a MAC address (AA:BB:CC:DD:EE:FF)"},
        {3, "1.0\x01", "x-ESP-IDF-version has byte 0x01 at 3; only printable ASCII is accepted"},
        {4, "0123456", "x-ESP-IDF-elf-sha256 \"0123456\" is not 8 to 64 hex digits"},
        {4, "0123456g9", "x-ESP-IDF-elf-sha256 \"0123456g9\" is not 8 to 64 hex digits"},
        {4, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
         "x-ESP-IDF-elf-sha256 \"0123456789abcdef0123456789abcdef01234567...\" is not 8 to 64 hex "
         "digits"},
        {5, "esp8266",
         "x-ESP-IDF-chip \"esp8266\" is not a chip otad knows (esp32, esp32s2, esp32s3, esp32c2, "
         "esp32c3, esp32c5, esp32c6, esp32h2, esp32p4)"},
        {5, "",
         "x-ESP-IDF-chip \"\" is not a chip otad knows (esp32, esp32s2, esp32s3, esp32c2, "
         "esp32c3, esp32c5, esp32c6, esp32h2, esp32p4)"},
        {6, "v0.2", "x-ESP-IDF-chip-revision \"v0.2\" is not a decimal number"},
        {6, "65536", "x-ESP-IDF-chip-revision \"65536\" is above 65535"},
        {7, "-1", "x-ESP-IDF-secure-version \"-1\" is not a decimal number"},
        {7, "4294967296", "x-ESP-IDF-secure-version \"4294967296\" is above 4294967295"},
        {8, "1.5M", "x-ESP-IDF-free-space \"1.5M\" is not a decimal number"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        idf_app(&req);
        req.headers[cases[i].header].value = cases[i].value;
        assert_refused(&req, cases[i].reason);
    }

    /* The limits themselves are taken. */
    struct http_request req;
    struct device_report rep;
    struct reason why;
    idf_app(&req);
    req.headers[6].value = "65535";
    req.headers[7].value = "4294967295";
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_int_equal(rep.chip_revision, 65535);
    assert_int_equal(rep.secure_version, 4294967295u);

    /* Each header once. */
    static const char *const names[] = {
        "x-ESP-IDF-MAC",        "x-ESP-IDF-version",       "x-ESP-IDF-elf-sha256",
        "x-ESP-IDF-chip",       "x-ESP-IDF-chip-revision", "x-ESP-IDF-secure-version",
        "x-ESP-IDF-free-space",
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char expect[96];
        idf_app(&req);
        add_header(&req, names[i], req.headers[2 + i].value);
        snprintf(expect, sizeof(expect), "%s appears 2 times; a device sends it once", names[i]);
        assert_refused(&req, expect);
    }
}

static void test_idf_mixed_families(void **state)
{
    struct http_request req;
    idf_app(&req);
    add_header(&req, "x-ESP32-STA-MAC", "24:0A:C4:12:34:56");
    assert_refused(&req, "the request carries both x-ESP32-* and x-ESP-IDF-* headers");
    idf_app(&req);
    add_header(&req, "X-ESP8266-version", "1.0");
    assert_refused(&req, "the request carries both x-ESP8266-* and x-ESP-IDF-* headers");

    /* An Arduino family's own suffix under the IDF prefix means nothing: ignored. */
    struct device_report rep;
    struct reason why;
    idf_app(&req);
    add_header(&req, "x-ESP-IDF-sketch-md5", "not even hex");
    add_header(&req, "x-ESP-IDF-STA-MAC", "zz");
    add_header(&req, "x-ESP-IDF-future", "");
    assert_int_equal(parse(&req, &rep, &why), 0);
    assert_string_equal(rep.sketch_md5, "");
    assert_mac(rep.sta_mac, "24:0A:C4:12:34:56");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_esp8266_core24),
        cmocka_unit_test(test_esp8266_core27),
        cmocka_unit_test(test_esp8266_core31),
        cmocka_unit_test(test_esp8266_modes),
        cmocka_unit_test(test_esp32_core2),
        cmocka_unit_test(test_esp32_core3),
        cmocka_unit_test(test_no_identity),
        cmocka_unit_test(test_platform_from_user_agent),
        cmocka_unit_test(test_user_agent_copy),
        cmocka_unit_test(test_version_sources),
        cmocka_unit_test(test_version_limits),
        cmocka_unit_test(test_sdk_version_limits),
        cmocka_unit_test(test_bad_macs),
        cmocka_unit_test(test_good_macs),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_good_numbers),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_bad_mode),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_both_families),
        cmocka_unit_test(test_header_names_case_insensitive),
        cmocka_unit_test(test_null_reason),
        cmocka_unit_test(test_mac_format),
        cmocka_unit_test(test_idf_app),
        cmocka_unit_test(test_idf_chips),
        cmocka_unit_test(test_idf_refused),
        cmocka_unit_test(test_idf_mixed_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
