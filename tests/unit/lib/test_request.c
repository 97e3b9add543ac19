/*
 * Unit tests for lib/request.c: the captures of docs/PROTOCOL.md ("The device
 * library's requests") byte for byte, every client's header set and order,
 * MACs, the refusals, and a buffer too small at every length.
 * tests/e2e/test_otac_wire.py holds the same requests against
 * tests/e2e/devices.py for random devices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "otac/request.h"

/* The §1.1 device: an ESP8266 on core 3.1 that passed a version. */
static struct otac_identity esp8266_device(enum otac_client client)
{
    struct otac_identity id = {
        .client = client,
        .sta_mac = {0x18, 0xFE, 0xAA, 0xAA, 0xAA, 0xAA},
        .ap_mac = {0x1A, 0xFE, 0xAA, 0xAA, 0xAA, 0xAA},
        .chip_id = 10468123,
        .free_space = 671744,
        .sketch_size = 373940,
        .chip_size = 4194304,
    };
    strcpy(id.sketch_md5, "a56f8ef78a0bebd812f62067daf1408a");
    strcpy(id.sdk_version, "2.2.2-dev(38a443e)");
    strcpy(id.version, "DOOR-7-g14f53a19");
    return id;
}

/* The device of the arduino-esp32 3.3.8 capture (docs/PROTOCOL.md). */
static struct otac_identity esp32_device(void)
{
    struct otac_identity id = {
        .client = OTAC_CLIENT_ESP32,
        .base_mac = {0xDE, 0xBA, 0x7A, 0xB1, 0x00, 0x01},
        .sta_mac = {0xDE, 0xBA, 0x7A, 0xB1, 0x00, 0x01},
        .ap_mac = {0x24, 0x0A, 0xC4, 0x00, 0x00, 0x02},
        .free_space = 1966080,
        .sketch_size = 912345,
        .chip_size = 4194304,
    };
    strcpy(id.sketch_md5, "0123456789abcdef0123456789abcdef");
    /* Given in lowercase: the client sends it in uppercase (§2). */
    strcpy(id.sketch_sha256, "acd22e1c777fdae959eee85b496b822519941c05185697b3aeab759f6aae9a3a");
    strcpy(id.sdk_version, "v5.5.1");
    strcpy(id.version, "1.0.0");
    return id;
}

/* Builds the check-in and compares it with EXPECTED, byte for byte. */
static void assert_checkin(const struct otac_identity *id, enum otac_mode mode, const char *host,
                           uint16_t port, const char *target, const char *authorization,
                           const char *expected)
{
    char buf[OTAC_REQUEST_MAX];
    size_t len = 0;
    assert_int_equal(
        otac_request_checkin(buf, sizeof(buf), &len, id, mode, host, port, target, authorization),
        OTAC_OK);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
}

static void test_esp8266_3_1_is_the_capture(void **state)
{
    struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_3_1);
    assert_checkin(&id, OTAC_MODE_SKETCH, "ota.example.org", 80, "/fw/update.php?x=1", NULL,
                   "GET /fw/update.php?x=1 HTTP/1.0\r\n"
                   "Host: ota.example.org\r\n"
                   "User-Agent: ESP8266-http-Update\r\n"
                   "Connection: close\r\n"
                   "x-ESP8266-Chip-ID: 10468123\r\n"
                   "x-ESP8266-STA-MAC: 18:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-AP-MAC: 1A:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-free-space: 671744\r\n"
                   "x-ESP8266-sketch-size: 373940\r\n"
                   "x-ESP8266-sketch-md5: a56f8ef78a0bebd812f62067daf1408a\r\n"
                   "x-ESP8266-chip-size: 4194304\r\n"
                   "x-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n"
                   "x-ESP8266-mode: sketch\r\n"
                   "x-ESP8266-version: DOOR-7-g14f53a19\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");
}

static void test_esp8266_3_1_authorization_follows_user_agent(void **state)
{
    struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_3_1);
    id.version[0] = '\0';
    assert_checkin(&id, OTAC_MODE_FS, "10.0.0.2", 8080, "file.bin", "Basic dXNlcjpwYXNz",
                   "GET file.bin HTTP/1.0\r\n"
                   "Host: 10.0.0.2:8080\r\n"
                   "User-Agent: ESP8266-http-Update\r\n"
                   "Authorization: Basic dXNlcjpwYXNz\r\n"
                   "Connection: close\r\n"
                   "x-ESP8266-Chip-ID: 10468123\r\n"
                   "x-ESP8266-STA-MAC: 18:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-AP-MAC: 1A:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-free-space: 671744\r\n"
                   "x-ESP8266-sketch-size: 373940\r\n"
                   "x-ESP8266-sketch-md5: a56f8ef78a0bebd812f62067daf1408a\r\n"
                   "x-ESP8266-chip-size: 4194304\r\n"
                   "x-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n"
                   "x-ESP8266-mode: spiffs\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");
}

static void test_esp8266_2_7_authorization_follows_connection(void **state)
{
    struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_2_7);
    assert_checkin(&id, OTAC_MODE_SKETCH, "ota.example.org", 443, "/u", "Basic YTpi",
                   "GET /u HTTP/1.0\r\n"
                   "Host: ota.example.org\r\n"
                   "User-Agent: ESP8266-http-Update\r\n"
                   "Connection: close\r\n"
                   "Authorization: Basic YTpi\r\n"
                   "x-ESP8266-Chip-ID: 10468123\r\n"
                   "x-ESP8266-STA-MAC: 18:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-AP-MAC: 1A:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-free-space: 671744\r\n"
                   "x-ESP8266-sketch-size: 373940\r\n"
                   "x-ESP8266-sketch-md5: a56f8ef78a0bebd812f62067daf1408a\r\n"
                   "x-ESP8266-chip-size: 4194304\r\n"
                   "x-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n"
                   "x-ESP8266-mode: sketch\r\n"
                   "x-ESP8266-version: DOOR-7-g14f53a19\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");
}

static void test_esp8266_2_4_has_no_chip_id_nor_content_length(void **state)
{
    struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_2_4);
    strcpy(id.sdk_version, "2.2.1(cfd48f3)");
    assert_checkin(&id, OTAC_MODE_SKETCH, "h", 18420, "/update/door", "Basic YTpi",
                   "GET /update/door HTTP/1.0\r\n"
                   "Host: h:18420\r\n"
                   "User-Agent: ESP8266-http-Update\r\n"
                   "Connection: close\r\n"
                   "Authorization: Basic YTpi\r\n"
                   "x-ESP8266-STA-MAC: 18:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-AP-MAC: 1A:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-free-space: 671744\r\n"
                   "x-ESP8266-sketch-size: 373940\r\n"
                   "x-ESP8266-sketch-md5: a56f8ef78a0bebd812f62067daf1408a\r\n"
                   "x-ESP8266-chip-size: 4194304\r\n"
                   "x-ESP8266-sdk-version: 2.2.1(cfd48f3)\r\n"
                   "x-ESP8266-mode: sketch\r\n"
                   "x-ESP8266-version: DOOR-7-g14f53a19\r\n"
                   "\r\n");
}

static void test_esp8266_leaves_out_an_empty_md5_and_version(void **state)
{
    struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_2_7);
    id.sketch_md5[0] = '\0';
    id.version[0] = '\0';
    id.chip_id = 0;
    id.free_space = 0;
    id.sketch_size = UINT64_MAX;
    id.chip_size = 1;
    assert_checkin(&id, OTAC_MODE_SKETCH, "h", 80, "", "",
                   "GET / HTTP/1.0\r\n"
                   "Host: h\r\n"
                   "User-Agent: ESP8266-http-Update\r\n"
                   "Connection: close\r\n"
                   "x-ESP8266-Chip-ID: 0\r\n"
                   "x-ESP8266-STA-MAC: 18:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-AP-MAC: 1A:FE:AA:AA:AA:AA\r\n"
                   "x-ESP8266-free-space: 0\r\n"
                   "x-ESP8266-sketch-size: 18446744073709551615\r\n"
                   "x-ESP8266-chip-size: 1\r\n"
                   "x-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n"
                   "x-ESP8266-mode: sketch\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");
}

static void test_esp32_is_the_capture(void **state)
{
    struct otac_identity id = esp32_device();
    assert_checkin(&id, OTAC_MODE_SKETCH, "127.0.0.1", 18420, "/update/e32", NULL,
                   "GET /update/e32 HTTP/1.0\r\n"
                   "Host: 127.0.0.1:18420\r\n"
                   "User-Agent: ESP32-http-Update\r\n"
                   "Connection: close\r\n"
                   "Cache-Control: no-cache\r\n"
                   "x-ESP32-BASE-MAC: DE:BA:7A:B1:00:01\r\n"
                   "x-ESP32-STA-MAC: DE:BA:7A:B1:00:01\r\n"
                   "x-ESP32-AP-MAC: 24:0A:C4:00:00:02\r\n"
                   "x-ESP32-free-space: 1966080\r\n"
                   "x-ESP32-sketch-size: 912345\r\n"
                   "x-ESP32-sketch-md5: 0123456789abcdef0123456789abcdef\r\n"
                   "x-ESP32-sketch-sha256: "
                   "ACD22E1C777FDAE959EEE85B496B822519941C05185697B3AEAB759F6AAE9A3A\r\n"
                   "x-ESP32-chip-size: 4194304\r\n"
                   "x-ESP32-sdk-version: v5.5.1\r\n"
                   "x-ESP32-mode: sketch\r\n"
                   "x-ESP32-version: 1.0.0\r\n"
                   "\r\n");
}

static void test_esp32_spiffs_without_digests_and_version(void **state)
{
    struct otac_identity id = esp32_device();
    id.sketch_md5[0] = '\0';
    id.sketch_sha256[0] = '\0';
    id.version[0] = '\0';
    assert_checkin(&id, OTAC_MODE_FS, "ota", 443, "/fs?a=b c", "Basic YTpi",
                   "GET /fs?a=b c HTTP/1.0\r\n"
                   "Host: ota\r\n"
                   "User-Agent: ESP32-http-Update\r\n"
                   "Connection: close\r\n"
                   "Authorization: Basic YTpi\r\n"
                   "Cache-Control: no-cache\r\n"
                   "x-ESP32-BASE-MAC: DE:BA:7A:B1:00:01\r\n"
                   "x-ESP32-STA-MAC: DE:BA:7A:B1:00:01\r\n"
                   "x-ESP32-AP-MAC: 24:0A:C4:00:00:02\r\n"
                   "x-ESP32-free-space: 1966080\r\n"
                   "x-ESP32-sketch-size: 912345\r\n"
                   "x-ESP32-chip-size: 4194304\r\n"
                   "x-ESP32-sdk-version: v5.5.1\r\n"
                   "x-ESP32-mode: spiffs\r\n"
                   "\r\n");
}

static void test_esp_idf_is_the_capture(void **state)
{
    struct otac_identity id = esp32_device();
    id.client = OTAC_CLIENT_ESP_IDF;
    assert_checkin(&id, OTAC_MODE_SKETCH, "127.0.0.1", 18421, "/images/p/1.0.1", NULL,
                   "GET /images/p/1.0.1 HTTP/1.1\r\n"
                   "User-Agent: ESP32 HTTP Client/1.0\r\n"
                   "Host: 127.0.0.1:18421\r\n"
                   "\r\n");
    /* MODE is not sent; Authorization comes last, as esp_http_client adds it. */
    assert_checkin(&id, OTAC_MODE_FS, "ota", 80, "/i", "Basic YTpi",
                   "GET /i HTTP/1.1\r\n"
                   "User-Agent: ESP32 HTTP Client/1.0\r\n"
                   "Host: ota\r\n"
                   "Authorization: Basic YTpi\r\n"
                   "\r\n");
}

static void test_resume(void **state)
{
    char buf[256];
    size_t len = 0;
    const char *expected = "GET /images/p/1.0.1 HTTP/1.1\r\n"
                           "User-Agent: ESP32 HTTP Client/1.0\r\n"
                           "Host: 127.0.0.1:18421\r\n"
                           "Range: bytes=100000-\r\n"
                           "\r\n";
    assert_int_equal(otac_request_resume(buf, sizeof(buf), &len, "127.0.0.1", 18421,
                                         "/images/p/1.0.1", NULL, 100000),
                     OTAC_OK);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);

    expected = "GET / HTTP/1.1\r\n"
               "User-Agent: ESP32 HTTP Client/1.0\r\n"
               "Host: h\r\n"
               "Range: bytes=0-\r\n"
               "\r\n";
    assert_int_equal(otac_request_resume(buf, sizeof(buf), &len, "h", 443, "", NULL, 0), OTAC_OK);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
    assert_int_equal(otac_request_resume(buf, sizeof(buf), &len, "h", 443, "", "", 0), OTAC_OK);
    assert_int_equal(len, strlen(expected)); /* an empty one is none */
    assert_memory_equal(buf, expected, len);

    /* Authorization, as on the first GET, last: esp_http_client adds it when it prepares one. */
    expected = "GET /i HTTP/1.1\r\n"
               "User-Agent: ESP32 HTTP Client/1.0\r\n"
               "Host: h:8080\r\n"
               "Range: bytes=7-\r\n"
               "Authorization: Basic dTpw\r\n"
               "\r\n";
    assert_int_equal(otac_request_resume(buf, sizeof(buf), &len, "h", 8080, "/i", "Basic dTpw", 7),
                     OTAC_OK);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
    assert_int_equal(
        otac_request_resume(buf, sizeof(buf), &len, "h", 8080, "/i", "Basic\r\nX: y", 7),
        OTAC_E_INVAL);
}

static void test_host_port(void **state)
{
    static const struct {
        uint16_t port;
        const char *host_line;
    } cases[] = {
        {80, "Host: h\r\n"},          {443, "Host: h\r\n"},         {0, "Host: h:0\r\n"},
        {1, "Host: h:1\r\n"},         {8080, "Host: h:8080\r\n"},   {8443, "Host: h:8443\r\n"},
        {65535, "Host: h:65535\r\n"}, {10000, "Host: h:10000\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_3_1);
        char buf[OTAC_REQUEST_MAX];
        size_t len = 0;
        assert_int_equal(otac_request_checkin(buf, sizeof(buf), &len, &id, OTAC_MODE_SKETCH, "h",
                                              cases[i].port, "/", NULL),
                         OTAC_OK);
        const char *line = buf + strlen("GET / HTTP/1.0\r\n");
        assert_memory_equal(line, cases[i].host_line, strlen(cases[i].host_line));
        assert_int_equal(line[strlen(cases[i].host_line)], 'U'); /* User-Agent follows */
    }
}

static const enum otac_client every_client[] = {
    OTAC_CLIENT_ESP8266_2_4, OTAC_CLIENT_ESP8266_2_7, OTAC_CLIENT_ESP8266_3_1,
    OTAC_CLIENT_ESP32,       OTAC_CLIENT_ESP_IDF,
};
#define CLIENTS (sizeof(every_client) / sizeof(every_client[0]))

static int checkin(const struct otac_identity *id, enum otac_mode mode, const char *host,
                   const char *target, const char *authorization)
{
    char buf[OTAC_REQUEST_MAX];
    size_t len = 12345;
    int rc =
        otac_request_checkin(buf, sizeof(buf), &len, id, mode, host, 80, target, authorization);
    if (rc != OTAC_OK)
        assert_int_equal(len, 12345); /* written only on success */
    return rc;
}

static void test_refuses_line_breaks_in_every_field(void **state)
{
    static const char *breakers[] = {"\r", "\n", "\r\n", "x\ry", "x\nInjected: 1"};
    for (size_t c = 0; c < CLIENTS; c++) {
        for (size_t b = 0; b < sizeof(breakers) / sizeof(breakers[0]); b++) {
            const char *bad = breakers[b];
            struct otac_identity good = esp8266_device(every_client[c]);
            struct otac_identity id;

            assert_int_equal(checkin(&good, OTAC_MODE_SKETCH, "h", "/t", "Basic x"), OTAC_OK);
            assert_int_equal(checkin(&good, OTAC_MODE_SKETCH, bad, "/t", NULL), OTAC_E_INVAL);
            assert_int_equal(checkin(&good, OTAC_MODE_SKETCH, "h", bad, NULL), OTAC_E_INVAL);
            assert_int_equal(checkin(&good, OTAC_MODE_SKETCH, "h", "/t", bad), OTAC_E_INVAL);

            id = good;
            strcpy(id.sketch_md5, bad);
            assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
            id = good;
            strcpy(id.sketch_sha256, bad);
            assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
            id = good;
            strcpy(id.sdk_version, bad);
            assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
            id = good;
            strcpy(id.version, bad);
            assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
        }
    }
    char buf[256];
    size_t len;
    assert_int_equal(otac_request_resume(buf, sizeof(buf), &len, "h\r", 80, "/t", NULL, 1),
                     OTAC_E_INVAL);
    assert_int_equal(otac_request_resume(buf, sizeof(buf), &len, "h", 80, "/t\n", NULL, 1),
                     OTAC_E_INVAL);
}

/* A text field that fills its array without a NUL would be read past its end: refused. */
static void test_refuses_fields_without_their_nul(void **state)
{
    for (size_t c = 0; c < CLIENTS; c++) {
        struct otac_identity good = esp8266_device(every_client[c]);
        struct otac_identity id;

        id = good;
        memset(id.sketch_md5, 'a', sizeof(id.sketch_md5));
        assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
        id = good;
        memset(id.sketch_sha256, 'a', sizeof(id.sketch_sha256));
        assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
        id = good;
        memset(id.sdk_version, 'a', sizeof(id.sdk_version));
        assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);
        id = good;
        memset(id.version, 'a', sizeof(id.version));
        assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_E_INVAL);

        /* The longest each field holds is fine. */
        id = good;
        memset(id.version, 'v', OTAC_VERSION_MAX);
        id.version[OTAC_VERSION_MAX] = '\0';
        memset(id.sdk_version, 's', OTAC_SDK_MAX);
        id.sdk_version[OTAC_SDK_MAX] = '\0';
        assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/t", NULL), OTAC_OK);
    }
}

static void test_refuses_bad_arguments(void **state)
{
    struct otac_identity id = esp8266_device(OTAC_CLIENT_ESP8266_3_1);
    char buf[OTAC_REQUEST_MAX];
    size_t len;

    assert_int_equal(
        otac_request_checkin(NULL, sizeof(buf), &len, &id, OTAC_MODE_SKETCH, "h", 80, "/", NULL),
        OTAC_E_INVAL);
    assert_int_equal(
        otac_request_checkin(buf, sizeof(buf), NULL, &id, OTAC_MODE_SKETCH, "h", 80, "/", NULL),
        OTAC_E_INVAL);
    assert_int_equal(
        otac_request_checkin(buf, sizeof(buf), &len, NULL, OTAC_MODE_SKETCH, "h", 80, "/", NULL),
        OTAC_E_INVAL);
    assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, NULL, "/", NULL), OTAC_E_INVAL);
    assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "", "/", NULL), OTAC_E_INVAL);
    assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", NULL, NULL), OTAC_E_INVAL);
    assert_int_equal(checkin(&id, (enum otac_mode)0, "h", "/", NULL), OTAC_E_INVAL);
    assert_int_equal(checkin(&id, (enum otac_mode)3, "h", "/", NULL), OTAC_E_INVAL);
    id.client = (enum otac_client)0;
    assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/", NULL), OTAC_E_INVAL);
    id.client = (enum otac_client)6;
    assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/", NULL), OTAC_E_INVAL);

    assert_int_equal(otac_request_resume(NULL, 10, &len, "h", 80, "/", NULL, 0), OTAC_E_INVAL);
    assert_int_equal(otac_request_resume(buf, 10, NULL, "h", 80, "/", NULL, 0), OTAC_E_INVAL);
    assert_int_equal(otac_request_resume(buf, 10, &len, NULL, 80, "/", NULL, 0), OTAC_E_INVAL);
    assert_int_equal(otac_request_resume(buf, 10, &len, "", 80, "/", NULL, 0), OTAC_E_INVAL);
    assert_int_equal(otac_request_resume(buf, 10, &len, "h", 80, NULL, NULL, 0), OTAC_E_INVAL);
    /* A bad argument is reported before a buffer too small. */
    assert_int_equal(otac_request_resume(buf, 0, &len, "h", 80, NULL, NULL, 0), OTAC_E_INVAL);
    assert_int_equal(checkin(&id, OTAC_MODE_SKETCH, "h", "/", NULL), OTAC_E_INVAL);
}

/* Every capacity short of the request is OTAC_E_BUFFER, without a byte past the capacity. */
static void test_buffer_too_small_at_every_length(void **state)
{
    for (size_t c = 0; c < CLIENTS; c++) {
        struct otac_identity id = esp8266_device(every_client[c]);
        strcpy(id.sketch_sha256, "ab");
        char full[OTAC_REQUEST_MAX];
        size_t need = 0;
        assert_int_equal(otac_request_checkin(full, sizeof(full), &need, &id, OTAC_MODE_SKETCH,
                                              "host", 8080, "/t", "Basic x"),
                         OTAC_OK);
        for (size_t cap = 0; cap <= need; cap++) {
            char buf[OTAC_REQUEST_MAX + 1];
            size_t len = 777;
            memset(buf, 0x5a, sizeof(buf));
            int rc = otac_request_checkin(buf, cap, &len, &id, OTAC_MODE_SKETCH, "host", 8080, "/t",
                                          "Basic x");
            if (cap < need) {
                assert_int_equal(rc, OTAC_E_BUFFER);
                assert_int_equal(len, 777);
            } else {
                assert_int_equal(rc, OTAC_OK);
                assert_int_equal(len, need);
                assert_memory_equal(buf, full, need);
            }
            for (size_t i = cap; i < sizeof(buf); i++)
                assert_int_equal((unsigned char)buf[i], 0x5a);
        }
    }

    char full[128], buf[128];
    size_t need = 0, len;
    assert_int_equal(otac_request_resume(full, sizeof(full), &need, "h", 1, "/i", NULL, 99),
                     OTAC_OK);
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(otac_request_resume(buf, cap, &len, "h", 1, "/i", NULL, 99),
                         OTAC_E_BUFFER);
    assert_int_equal(otac_request_resume(buf, need, &len, "h", 1, "/i", NULL, 99), OTAC_OK);
    assert_int_equal(len, need);
}

/* The promise of OTAC_REQUEST_MAX: every field at its longest, OTAC_REQUEST_ARGS_MAX of arguments.
 */
static void test_request_max_holds_the_longest(void **state)
{
    char host[256], target[OTAC_REQUEST_ARGS_MAX], authorization[OTAC_REQUEST_ARGS_MAX];
    size_t host_len = 255, target_len = 300;
    size_t authorization_len = OTAC_REQUEST_ARGS_MAX - host_len - target_len;
    memset(host, 'h', host_len);
    host[host_len] = '\0';
    memset(target, 't', target_len);
    target[target_len] = '\0';
    memset(authorization, 'a', authorization_len);
    authorization[authorization_len] = '\0';

    for (size_t c = 0; c < CLIENTS; c++) {
        struct otac_identity id = esp8266_device(every_client[c]);
        id.chip_id = UINT32_MAX;
        id.free_space = id.sketch_size = id.chip_size = UINT64_MAX;
        memset(id.sketch_md5, 'f', 32);
        memset(id.sketch_sha256, 'f', 64);
        memset(id.sdk_version, 's', OTAC_SDK_MAX);
        memset(id.version, 'v', OTAC_VERSION_MAX);
        char buf[OTAC_REQUEST_MAX];
        size_t len;
        for (int mode = OTAC_MODE_SKETCH; mode <= OTAC_MODE_FS; mode++)
            assert_int_equal(otac_request_checkin(buf, sizeof(buf), &len, &id, (enum otac_mode)mode,
                                                  host, 65535, target, authorization),
                             OTAC_OK);
    }
    char buf[OTAC_REQUEST_MAX];
    size_t len;
    assert_int_equal(
        otac_request_resume(buf, sizeof(buf), &len, host, 65535, target, authorization, UINT64_MAX),
        OTAC_OK);
}

static void test_mac_format(void **state)
{
    char out[18];
    otac_mac_format((const uint8_t[6]){0x18, 0xfe, 0x0a, 0x00, 0xff, 0x9c}, out);
    assert_string_equal(out, "18:FE:0A:00:FF:9C");
    otac_mac_format((const uint8_t[6]){0}, out);
    assert_string_equal(out, "00:00:00:00:00:00");
}

static void test_mac_parse(void **state)
{
    static const struct {
        const char *text;
        uint8_t mac[6];
    } good[] = {
        {"18:FE:0A:00:FF:9C", {0x18, 0xfe, 0x0a, 0x00, 0xff, 0x9c}},
        {"18:fe:0a:00:ff:9c", {0x18, 0xfe, 0x0a, 0x00, 0xff, 0x9c}},
        {"18-Fe-0A-00-fF-9c", {0x18, 0xfe, 0x0a, 0x00, 0xff, 0x9c}},
        {"00:00:00:00:00:00", {0}},
        {"FF:FF:FF:FF:FF:FF", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
        assert_int_equal(otac_mac_parse(good[i].text, mac), OTAC_OK);
        assert_memory_equal(mac, good[i].mac, 6);
        char back[18];
        otac_mac_format(mac, back);
        assert_true(strlen(back) == 17);
    }

    static const char *bad[] = {
        "",
        "1",
        "18",
        "18:",
        "18:FE:0A:00:FF",
        "18:FE:0A:00:FF:",
        "18:FE:0A:00:FF:9",
        "18:FE:0A:00:FF:9C:",
        "18:FE:0A:00:FF:9C0",
        "18:FE:0A:00:FF:9C ",
        " 18:FE:0A:00:FF:9C",
        "18:FE-0A:00:FF:9C", /* separators mixed */
        "18.FE.0A.00.FF.9C",
        "18FE0A00FF9C",
        "18:FE:0A:00:FF:9G",
        "G8:FE:0A:00:FF:9C",
        "18::FE:0A:00:FF:9C",
        "1:8FE:0A:00:FF:9C",
        "+1:FE:0A:00:FF:9C",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
        assert_int_equal(otac_mac_parse(bad[i], mac), OTAC_E_INVAL);
        assert_memory_equal(mac, ((const uint8_t[6]){1, 2, 3, 4, 5, 6}), 6); /* untouched */
    }
    uint8_t mac[6];
    assert_int_equal(otac_mac_parse(NULL, mac), OTAC_E_INVAL);
    assert_int_equal(otac_mac_parse("18:FE:0A:00:FF:9C", NULL), OTAC_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_esp8266_3_1_is_the_capture),
        cmocka_unit_test(test_esp8266_3_1_authorization_follows_user_agent),
        cmocka_unit_test(test_esp8266_2_7_authorization_follows_connection),
        cmocka_unit_test(test_esp8266_2_4_has_no_chip_id_nor_content_length),
        cmocka_unit_test(test_esp8266_leaves_out_an_empty_md5_and_version),
        cmocka_unit_test(test_esp32_is_the_capture),
        cmocka_unit_test(test_esp32_spiffs_without_digests_and_version),
        cmocka_unit_test(test_esp_idf_is_the_capture),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_refuses_line_breaks_in_every_field),
        cmocka_unit_test(test_refuses_fields_without_their_nul),
        cmocka_unit_test(test_refuses_bad_arguments),
        cmocka_unit_test(test_buffer_too_small_at_every_length),
        cmocka_unit_test(test_request_max_holds_the_longest),
        cmocka_unit_test(test_mac_format),
        cmocka_unit_test(test_mac_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
