/*
 * Unit tests for the device endpoints (src/http/update.c) without the
 * network: http_handle_update and http_handle_image called as the route
 * table calls them, on a real service with one release (http_env.h), and
 * the replies read as the server adapter would send them: the status, the
 * headers, and the body as a range of the stored blob (its length is the
 * Content-Length) or bytes. The methods are the route table's: the 405s go
 * through http_route.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_env.h"
#include "signing/signing.h"

/* A check-in as the stock ESP8266httpUpdate sends it, reporting VERSION (none when NULL). */
static void checkin_init(struct http_request *req, const char *method, const char *version)
{
    request_init(req, method, "/update/emonesp");
    add_header(req, "User-Agent", "ESP8266-http-Update");
    add_header(req, "x-ESP8266-STA-MAC", "18:FE:AA:AA:AA:01");
    add_header(req, "x-ESP8266-free-space", "1044480");
    add_header(req, "x-ESP8266-chip-size", "4194304");
    if (version)
        add_header(req, "x-ESP8266-version", version);
}

static void update(struct http_env *e, const struct http_request *req, const char *product,
                   struct http_reply *reply)
{
    struct http_route_args args = {.legacy_alias = false};
    strcpy(args.product, product);
    http_reply_init(reply);
    http_handle_update(&e->ctx, req, &args, reply);
}

static void image(struct http_env *e, const struct http_request *req, const char *product,
                  const char *version, struct http_reply *reply)
{
    struct http_route_args args;
    strcpy(args.product, product);
    strcpy(args.version, version);
    http_reply_init(reply);
    http_handle_image(&e->ctx, req, &args, reply);
}

/* Reads the whole body a file reply would send: fd_length bytes from fd_offset. */
static size_t read_sent(const struct http_reply *reply, uint8_t *out, size_t size)
{
    assert_true(http_reply_has_file(reply));
    assert_true(reply->fd_length <= size);
    ssize_t n = pread(reply->fd, out, (size_t)reply->fd_length, (off_t)reply->fd_offset);
    assert_int_equal(n, (ssize_t)reply->fd_length);
    return (size_t)n;
}

/*
 * Checks REQ in on PRODUCT and expects STATUS with a refusal's body: one
 * line of text, the reason (saying NEEDLE), ending in one newline.
 */
static void assert_refusal(struct http_env *e, const struct http_request *req, const char *product,
                           int status, const char *needle)
{
    struct http_reply reply;
    update(e, req, product, &reply);
    if (reply.status != status)
        fail_msg("%s: status %d, want %d", needle, reply.status, status);
    const char *body = reply_body(&reply);
    size_t n = strlen(body);
    assert_true(n > 1);
    assert_int_equal(body[n - 1], '\n');
    assert_ptr_equal(strchr(body, '\n'), body + n - 1);
    if (!strstr(body, needle))
        fail_msg("reason \"%s\" does not say \"%s\"", body, needle);
    assert_string_equal(reply.content_type, "text/plain; charset=utf-8");
    assert_false(http_reply_has_file(&reply));
    http_reply_release(&reply);
}

static void test_current_device_gets_an_empty_304(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    /* By version, and by the sketch's MD5 alone (the Updater's own report). */
    checkin_init(&req, "GET", "1.0.2");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 304);
    http_reply_release(&reply);
    checkin_init(&req, "GET", NULL);
    add_header(&req, "x-ESP8266-sketch-md5", e->md5);
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 304);
    /* Nothing at all: the adapter then sends its one shared 304. */
    assert_int_equal(reply.header_count, 0);
    assert_null(reply.content_type);
    assert_false(http_reply_has_file(&reply));
    assert_int_equal(reply.static_len, 0);
    assert_int_equal(reply.body.len, 0);
    http_reply_release(&reply);
}

static void test_older_device_gets_the_exact_image(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    checkin_init(&req, "GET", "1.0.1");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "application/octet-stream");
    /* Content-Length is the range sent: the whole blob, exactly the published bytes. */
    assert_int_equal(reply.fd_offset, 0);
    assert_int_equal(reply.fd_length, sizeof(e->img));
    struct stat st;
    assert_int_equal(fstat(reply.fd, &st), 0);
    assert_int_equal(st.st_size, sizeof(e->img));
    uint8_t sent[sizeof(e->img)];
    size_t n = read_sent(&reply, sent, sizeof(sent));
    assert_memory_equal(sent, e->img, n);
    /* One x-MD5, lowercase, of exactly the bytes sent; the version they are. */
    char md5[33];
    digest_md5_hex(sent, n, md5);
    assert_int_equal(reply_header_count(&reply, "x-MD5"), 1);
    assert_string_equal(reply_header(&reply, "x-MD5"), md5);
    assert_string_equal(reply_header(&reply, "x-version"), "1.0.2");
    http_reply_release(&reply);

    /* HEAD: the same status and headers, the same Content-Length (the adapter sends no body). */
    struct http_reply head;
    checkin_init(&req, "HEAD", "1.0.1");
    update(e, &req, "emonesp", &head);
    checkin_init(&req, "GET", "1.0.1");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(head.status, reply.status);
    assert_int_equal(head.fd_length, reply.fd_length);
    assert_int_equal(head.header_count, reply.header_count);
    for (unsigned i = 0; i < head.header_count; i++) {
        assert_string_equal(head.headers[i].name, reply.headers[i].name);
        assert_string_equal(head.headers[i].value, reply.headers[i].value);
    }
    http_reply_release(&head);
    http_reply_release(&reply);
}

/*
 * Range, ETag and ?answer= belong to the ESP-IDF check-in (docs/PROTOCOL.md):
 * an Arduino updater that sent them would still get "The 200", whole.
 */
static void test_arduino_answer_ignores_range_and_answer(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    checkin_init(&req, "GET", "1.0.1");
    add_header(&req, "Range", "bytes=100-");
    add_query(&req, "answer", "redirect");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.fd_offset, 0);
    assert_int_equal(reply.fd_length, sizeof(e->img));
    assert_null(reply_header(&reply, "Content-Range"));
    assert_null(reply_header(&reply, "ETag"));
    assert_null(reply_header(&reply, "Location"));
    assert_non_null(reply_header(&reply, "x-MD5"));
    http_reply_release(&reply);
}

/* The ESP-IDF family is an ESP32 app: refused an ESP8266 product's image before any range. */
static void test_idf_family_on_an_esp8266_product(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    request_init(&req, "GET", "/update/emonesp");
    add_header(&req, "User-Agent", "ESP32 HTTP Client/1.0");
    add_header(&req, "x-ESP-IDF-MAC", "24:0A:C4:00:00:01");
    add_header(&req, "x-ESP-IDF-version", "1.0.1");
    add_header(&req, "Range", "bytes=0-16383");
    assert_refusal(e, &req, "emonesp", 403, "the device is an esp32");
    request_init(&req, "GET", "/update/emonesp");
    add_header(&req, "x-ESP-IDF-MAC", "24:0A:C4:00:00:01");
    add_header(&req, "x-ESP8266-version", "1.0.1");
    assert_refusal(e, &req, "emonesp", 400, "both x-ESP8266-* and x-ESP-IDF-* headers");
}

static void test_refusals_are_403_with_the_reason(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    /* 8 KiB does not fit in 4 KiB of free sketch space. */
    checkin_init(&req, "GET", "1.0.0");
    req.headers[2].value = "4096";
    assert_refusal(e, &req, "emonesp", 403, "free sketch space");

    /* An image for a 4M flash does not go to a 1M chip. */
    checkin_init(&req, "GET", "1.0.0");
    req.headers[3].value = "1048576";
    assert_refusal(e, &req, "emonesp", 403, "flash");

    /* An ESP32 never gets an ESP8266 image. */
    request_init(&req, "GET", "/update/emonesp");
    add_header(&req, "User-Agent", "ESP32-http-Update");
    add_header(&req, "x-ESP32-STA-MAC", "24:0A:C4:00:00:01");
    add_header(&req, "x-ESP32-version", "1.0.0");
    assert_refusal(e, &req, "emonesp", 403, "esp32");
}

static void test_unknown_and_malformed(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    checkin_init(&req, "GET", "1.0.0");
    assert_refusal(e, &req, "ghost", 404, "no such product");

    /* A product with nothing published: "?version" has nothing to name. */
    struct reason why;
    assert_int_equal(service_product_add(e->svc, "door", PLATFORM_ESP8266, NULL, NULL, &why), 0);
    checkin_init(&req, "GET", "1.0.0");
    add_header(&req, "x-ESP8266-mode", "version");
    assert_refusal(e, &req, "door", 404, "nothing published");

    checkin_init(&req, "GET", "1.0.0");
    req.headers[1].value = "18:FE:AA";
    assert_refusal(e, &req, "emonesp", 400, "STA-MAC");
}

static void test_mode_version_names_the_target(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    /* getAvailableVersion(): 200, x-version and the x-MD5 of the form it would get, no body. */
    checkin_init(&req, "GET", "1.0.2");
    add_header(&req, "x-ESP8266-mode", "version");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply_header(&reply, "x-version"), "1.0.2");
    assert_string_equal(reply_header(&reply, "x-MD5"), e->md5);
    assert_false(http_reply_has_file(&reply));
    assert_int_equal(reply.static_len, 0);
    assert_int_equal(reply.body.len, 0);
    http_reply_release(&reply);

    /*
     * The product now signs, and 1.0.2 was published before it did: no form
     * may be served. A check-in is refused; "?version" still answers, with no
     * x-MD5 at all (an empty one fails the device's update with -105).
     */
    char keys[128];
    snprintf(keys, sizeof(keys), "%s/keys", e->dir);
    struct signing_key *key;
    struct reason why;
    assert_int_equal(signing_key_generate(keys, "fleet", SIGNING_KEY_RSA_2048, &key, &why), 0);
    signing_key_free(key);
    struct product_signing s = {.required = true};
    strcpy(s.key, "fleet");
    assert_int_equal(service_product_set_signing(e->svc, "emonesp", &s, &why), 0);
    checkin_init(&req, "GET", "1.0.0");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);
    checkin_init(&req, "GET", "1.0.0");
    add_header(&req, "x-ESP8266-mode", "version");
    update(e, &req, "emonesp", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply_header(&reply, "x-version"), "1.0.2");
    assert_int_equal(reply_header_count(&reply, "x-MD5"), 0);
    assert_false(http_reply_has_file(&reply));
    http_reply_release(&reply);
}

static void test_alias_latest_text(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    struct http_route_args args = {.product = "emonesp", .legacy_alias = true};
    /* The EmonESP page asks the legacy path with no tag: the version, no newline. */
    request_init(&req, "GET", "/esp/firmware.php");
    http_reply_init(&reply);
    http_handle_update(&e->ctx, &req, &args, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/plain");
    assert_int_equal(reply.body.len, 5);
    assert_memory_equal(reply.body.data, "1.0.2", 5);
    http_reply_release(&reply);
    /* The same request on /update/{product} is a check-in with nothing to compare: 304. */
    args.legacy_alias = false;
    http_reply_init(&reply);
    http_handle_update(&e->ctx, &req, &args, &reply);
    assert_int_equal(reply.status, 304);
    http_reply_release(&reply);
}

static void test_image_whole(void **state)
{
    struct http_env *e = *state;
    static const char *const methods[] = {"GET", "HEAD"};
    for (size_t m = 0; m < ARRAY_SIZE(methods); m++) {
        struct http_request req;
        struct http_reply reply;
        request_init(&req, methods[m], "/images/emonesp/1.0.2");
        image(e, &req, "emonesp", "1.0.2", &reply);
        assert_int_equal(reply.status, 200);
        assert_string_equal(reply.content_type, "application/octet-stream");
        assert_int_equal(reply.fd_offset, 0);
        assert_int_equal(reply.fd_length, sizeof(e->img));
        uint8_t sent[sizeof(e->img)];
        assert_memory_equal(sent, e->img, read_sent(&reply, sent, sizeof(sent)));
        assert_string_equal(reply_header(&reply, "x-MD5"), e->md5);
        assert_string_equal(reply_header(&reply, "Accept-Ranges"), "bytes");
        char sha[65], etag[68];
        digest_sha256_hex(e->img, sizeof(e->img), sha);
        snprintf(etag, sizeof(etag), "\"%s\"", sha);
        assert_string_equal(reply_header(&reply, "ETag"), etag);
        http_reply_release(&reply);
    }
}

static void test_image_ranges(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    char end_plus_one[64];
    snprintf(end_plus_one, sizeof(end_plus_one), "bytes=100-%zu", sizeof(e->img));
    static const struct {
        const char *range;
        int status;
        uint64_t offset, length;
        const char *content_range;
    } cases[] = {
        {NULL, 200, 0, 8192, NULL},
        {"bytes=0-0", 206, 0, 1, "bytes 0-0/8192"},
        {"bytes=100-", 206, 100, 8092, "bytes 100-8191/8192"},
        {"bytes=-10", 206, 8182, 10, "bytes 8182-8191/8192"},
        {"bytes=8191-8191", 206, 8191, 1, "bytes 8191-8191/8192"},
        {"bytes=8192-", 416, 0, 0, "bytes */8192"},
        {"bytes=9000-9001", 416, 0, 0, "bytes */8192"},
        {"bytes=0-1,4-5", 200, 0, 8192, NULL},
        {"garbage", 200, 0, 8192, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        request_init(&req, "GET", "/images/emonesp/1.0.2");
        if (cases[i].range)
            add_header(&req, "Range", cases[i].range);
        image(e, &req, "emonesp", "1.0.2", &reply);
        if (reply.status != cases[i].status)
            fail_msg("range %s: status %d, want %d", cases[i].range, reply.status, cases[i].status);
        if (cases[i].status != 416) {
            assert_int_equal(reply.fd_offset, cases[i].offset);
            assert_int_equal(reply.fd_length, cases[i].length);
            assert_string_equal(reply_header(&reply, "Accept-Ranges"), "bytes");
            uint8_t sent[sizeof(e->img)];
            size_t n = read_sent(&reply, sent, sizeof(sent));
            assert_memory_equal(sent, e->img + cases[i].offset, n);
        } else {
            assert_false(http_reply_has_file(&reply));
        }
        const char *cr = reply_header(&reply, "Content-Range");
        if (cases[i].content_range)
            assert_string_equal(cr, cases[i].content_range);
        else
            assert_null(cr);
        /* x-MD5 only when it covers exactly the bytes sent. */
        if (cases[i].status == 200)
            assert_string_equal(reply_header(&reply, "x-MD5"), e->md5);
        else
            assert_null(reply_header(&reply, "x-MD5"));
        http_reply_release(&reply);
    }
    /* The esp_https_ota first request: end one past the last byte, clamped (§9). */
    request_init(&req, "GET", "/images/emonesp/1.0.2");
    add_header(&req, "Range", end_plus_one);
    image(e, &req, "emonesp", "1.0.2", &reply);
    assert_int_equal(reply.status, 206);
    assert_string_equal(reply_header(&reply, "Content-Range"), "bytes 100-8191/8192");
    http_reply_release(&reply);
}

static void test_image_mode_and_404(void **state)
{
    struct http_env *e = *state;
    static const struct {
        const char *product, *version, *mode;
        int status;
        const char *body;
    } cases[] = {
        {"emonesp", "1.0.2", "sketch", 200, NULL},
        {"emonesp", "1.0.2", "fs", 404, "no such release\n"},
        {"emonesp", "1.0.2", "firmware", 400, "mode must be sketch or fs\n"},
        {"emonesp", "1.0.2", "", 400, "mode must be sketch or fs\n"},
        {"emonesp", "9.9.9", NULL, 404, "no such release\n"},
        {"ghost", "1.0.2", NULL, 404, "no such release\n"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        struct http_reply reply;
        request_init(&req, "GET", "/images/x/y");
        if (cases[i].mode)
            add_query(&req, "mode", cases[i].mode);
        image(e, &req, cases[i].product, cases[i].version, &reply);
        if (reply.status != cases[i].status)
            fail_msg("%s %s mode %s: %d", cases[i].product, cases[i].version, cases[i].mode,
                     reply.status);
        if (cases[i].body) {
            assert_string_equal(reply_body(&reply), cases[i].body);
            assert_false(http_reply_has_file(&reply));
        }
        http_reply_release(&reply);
    }
}

/* The methods are the route table's: anything but GET and HEAD is 405 before a handler runs. */
static void test_device_paths_allow_get_and_head(void **state)
{
    struct http_env *e = *state;
    static const char *const paths[] = {"/update/emonesp", "/esp/firmware.php",
                                        "/images/emonesp/1.0.2"};
    static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"};
    for (size_t p = 0; p < ARRAY_SIZE(paths); p++) {
        for (size_t m = 0; m < ARRAY_SIZE(methods); m++) {
            struct http_request req;
            struct http_reply reply;
            request_init(&req, methods[m], paths[p]);
            add_header(&req, "x-ESP8266-version", "1.0.0");
            http_reply_init(&reply);
            http_route(&e->ctx, &req, &reply);
            if (reply.status != 405)
                fail_msg("%s %s: %d", methods[m], paths[p], reply.status);
            assert_string_equal(reply_header(&reply, "Allow"), "GET, HEAD");
            assert_false(http_reply_has_file(&reply));
            assert_null(reply_header(&reply, "x-MD5"));
            http_reply_release(&reply);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_device_gets_an_empty_304, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_older_device_gets_the_exact_image, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_arduino_answer_ignores_range_and_answer,
                                        http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_idf_family_on_an_esp8266_product, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_are_403_with_the_reason, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_malformed, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_mode_version_names_the_target, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_alias_latest_text, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_image_whole, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_image_ranges, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_image_mode_and_404, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_device_paths_allow_get_and_head, http_env_setup,
                                        http_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
