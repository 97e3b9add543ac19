/*
 * Unit tests for the endpoints (src/http/router.c, update.c, api.c,
 * errors.c) without a socket: plain requests in, plain replies out, with a
 * real service on a temporary data folder.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/util.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "core/digest.h"

struct env {
    char dir[64];
    struct config config;
    struct service *svc;
    struct http_context ctx;
    uint8_t img[8192];
    char md5[33];
    char admin[128], reader[128];
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0 || fixture_config(&e->config, e->dir) < 0)
        return -1;
    e->config.alias_count = 1;
    strcpy(e->config.aliases[0].path, "/esp/firmware.php");
    strcpy(e->config.aliases[0].product, "emonesp");
    if (service_open(&e->config, SERVICE_SERVING, &e->svc) < 0)
        return -1;
    e->ctx = (struct http_context){.svc = e->svc, .config = &e->config};
    struct reason why;
    if (service_product_add(e->svc, "emonesp", PLATFORM_ESP8266, NULL, NULL, &why) < 0)
        return -1;
    fixture_esp8266_image(e->img, sizeof(e->img), 4, 7);
    digest_md5_hex(e->img, sizeof(e->img), e->md5);
    struct publish_request req = {.product = "emonesp",
                                  .version = "1.0.2",
                                  .image = e->img,
                                  .image_len = sizeof(e->img),
                                  .source = "test"};
    if (service_publish(e->svc, &req, NULL, NULL, &why) < 0)
        return -1;
    char secret[SERVICE_TOKEN_LEN + 1];
    int64_t id;
    if (service_token_create(e->svc, "a", TOKEN_SCOPE_ADMIN, secret, &id, &why) < 0)
        return -1;
    snprintf(e->admin, sizeof(e->admin), "Bearer %s", secret);
    if (service_token_create(e->svc, "r", TOKEN_SCOPE_READ, secret, &id, &why) < 0)
        return -1;
    snprintf(e->reader, sizeof(e->reader), "Bearer %s", secret);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    service_close(e->svc);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static void request_init(struct http_request *req, const char *method, const char *path)
{
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->path = path;
    req->remote_addr = "127.0.0.1";
}

static void add_header(struct http_request *req, const char *name, const char *value)
{
    req->headers[req->header_count++] = (struct http_pair){name, value};
}

static void add_query(struct http_request *req, const char *name, const char *value)
{
    req->query[req->query_count++] = (struct http_pair){name, value};
}

static const char *reply_header(const struct http_reply *r, const char *name)
{
    for (unsigned i = 0; i < r->header_count; i++)
        if (str_eq_nocase(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

static const char *reply_body(const struct http_reply *r)
{
    return r->body.data ? (const char *)r->body.data : r->static_body ? r->static_body : "";
}

static void test_checkin_update_and_current(void **state)
{
    struct env *e = *state;
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "GET", "/update/emonesp");
    add_header(&req, "User-Agent", "ESP8266-http-Update");
    add_header(&req, "x-ESP8266-STA-MAC", "18:FE:AA:AA:AA:AA");
    add_header(&req, "x-ESP8266-version", "1.0.1");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "application/octet-stream");
    assert_string_equal(reply_header(&reply, "x-MD5"), e->md5);
    assert_string_equal(reply_header(&reply, "x-version"), "1.0.2");
    assert_true(http_reply_has_file(&reply));
    assert_int_equal(reply.fd_offset, 0);
    assert_int_equal(reply.fd_length, sizeof(e->img));
    uint8_t sent[sizeof(e->img)];
    assert_int_equal(pread(reply.fd, sent, sizeof(sent), 0), (ssize_t)sizeof(sent));
    assert_memory_equal(sent, e->img, sizeof(sent));
    http_reply_release(&reply);

    req.headers[2].value = "1.0.2";
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 304);
    assert_false(http_reply_has_file(&reply));
    assert_int_equal(reply.static_len, 0);
    http_reply_release(&reply);
}

static void test_legacy_alias_forms(void **state)
{
    struct env *e = *state;
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "GET", "/esp/firmware.php");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/plain");
    assert_string_equal(reply_body(&reply), "1.0.2"); /* no newline: the page shows it as is */
    http_reply_release(&reply);

    add_query(&req, "tag", "1.0.0");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    assert_true(http_reply_has_file(&reply));
    http_reply_release(&reply);

    req.query[0].value = "1.0.2";
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 304);
    http_reply_release(&reply);
}

static void test_device_errors(void **state)
{
    struct env *e = *state;
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "GET", "/update/emonesp");
    add_header(&req, "x-ESP8266-STA-MAC", "not-a-mac");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 400);
    assert_non_null(strstr(reply_body(&reply), "STA-MAC"));
    http_reply_release(&reply);

    request_init(&req, "GET", "/update/ghost");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 404);
    http_reply_release(&reply);

    request_init(&req, "POST", "/update/emonesp");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply_header(&reply, "Allow"), "GET, HEAD");
    http_reply_release(&reply);

    request_init(&req, "GET", "/update/emonesp");
    add_header(&req, "x-ESP8266-version", "1.0.0");
    add_header(&req, "x-ESP8266-free-space", "4096");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 403);
    assert_non_null(strstr(reply_body(&reply), "free sketch space"));
    http_reply_release(&reply);
}

static void test_image_ranges(void **state)
{
    struct env *e = *state;
    struct http_request req;
    struct http_reply reply;
    char end_plus_one[64];
    snprintf(end_plus_one, sizeof(end_plus_one), "bytes=100-%zu", sizeof(e->img));
    static const struct {
        const char *range;
        int status;
        uint64_t offset, length;
    } cases[] = {
        {NULL, 200, 0, 8192},         {"bytes=0-0", 206, 0, 1},   {"bytes=100-", 206, 100, 8092},
        {"bytes=-10", 206, 8182, 10}, {"bytes=8192-", 416, 0, 0}, {"bytes=0-1,4-5", 200, 0, 8192},
        {"garbage", 200, 0, 8192},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        request_init(&req, "GET", "/images/emonesp/1.0.2");
        if (cases[i].range)
            add_header(&req, "Range", cases[i].range);
        http_reply_init(&reply);
        http_route(&e->ctx, &req, &reply);
        if (reply.status != cases[i].status)
            fail_msg("range %s: status %d, want %d", cases[i].range, reply.status, cases[i].status);
        if (cases[i].status != 416) {
            assert_int_equal(reply.fd_offset, cases[i].offset);
            assert_int_equal(reply.fd_length, cases[i].length);
            assert_string_equal(reply_header(&reply, "Accept-Ranges"), "bytes");
        } else {
            assert_string_equal(reply_header(&reply, "Content-Range"), "bytes */8192");
        }
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
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 206);
    assert_string_equal(reply_header(&reply, "Content-Range"), "bytes 100-8191/8192");
    http_reply_release(&reply);

    request_init(&req, "GET", "/images/emonesp/9.9.9");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 404);
    http_reply_release(&reply);
}

static json_t *reply_json(const struct http_reply *r)
{
    json_error_t err;
    return json_loads(reply_body(r), 0, &err);
}

static void test_api_auth_and_errors(void **state)
{
    struct env *e = *state;
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "GET", "/api/v1/products");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 401);
    assert_non_null(reply_header(&reply, "WWW-Authenticate"));
    json_t *j = reply_json(&reply);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "unauthorized");
    json_decref(j);
    http_reply_release(&reply);

    add_header(&req, "Authorization", e->reader);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    j = reply_json(&reply);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "products"), 0), "name")),
                        "emonesp");
    json_decref(j);
    http_reply_release(&reply);

    /* A read token may not create products. */
    request_init(&req, "POST", "/api/v1/products");
    add_header(&req, "Authorization", e->reader);
    const char *body = "{\"name\":\"door\",\"platform\":\"esp32\"}";
    req.body = (const uint8_t *)body;
    req.body_len = strlen(body);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);

    req.headers[0].value = e->admin;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 201);
    http_reply_release(&reply);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 409);
    http_reply_release(&reply);

    const char *bad_bodies[] = {"{", "[]", "{\"name\":1,\"platform\":\"esp32\"}",
                                "{\"name\":\"x\",\"platform\":\"avr\"}"};
    for (size_t i = 0; i < ARRAY_SIZE(bad_bodies); i++) {
        req.body = (const uint8_t *)bad_bodies[i];
        req.body_len = strlen(bad_bodies[i]);
        http_reply_init(&reply);
        http_route(&e->ctx, &req, &reply);
        if (reply.status != 400)
            fail_msg("body %s: status %d", bad_bodies[i], reply.status);
        http_reply_release(&reply);
    }
}

static void test_upload_prechecks(void **state)
{
    struct env *e = *state;
    struct http_request req;
    struct http_reply reply;
    struct http_body_hold hold;
    uint64_t max = 0;
    request_init(&req, "POST", "/api/v1/products/emonesp/releases");
    http_reply_init(&reply);
    assert_false(http_route_accepts_body(&e->ctx, &req, 100, &max, &hold, &reply));
    assert_int_equal(reply.status, 401);
    http_reply_release(&reply);

    add_header(&req, "Authorization", e->reader);
    http_reply_init(&reply);
    assert_false(http_route_accepts_body(&e->ctx, &req, 100, &max, &hold, &reply));
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);

    req.headers[0].value = e->admin;
    http_reply_init(&reply);
    assert_true(http_route_accepts_body(&e->ctx, &req, 100, &max, &hold, &reply));
    assert_true(max >= e->config.max_upload_bytes); /* the image plus multipart fields */
    assert_null(hold.release);                      /* an upload holds nothing to release */
    assert_false(http_route_accepts_body(&e->ctx, &req, 1ull << 40, &max, &hold, &reply));
    assert_int_equal(reply.status, 413);
    http_reply_release(&reply);

    request_init(&req, "POST", "/update/emonesp");
    http_reply_init(&reply);
    assert_false(http_route_accepts_body(&e->ctx, &req, 10, &max, &hold, &reply));
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply_header(&reply, "Allow"), "GET, HEAD");
    http_reply_release(&reply);
}

static void test_healthz_methods(void **state)
{
    struct env *e = *state;
    static const struct {
        const char *method;
        int status;
    } cases[] = {{"GET", 200}, {"HEAD", 200}, {"DELETE", 405}, {"OPTIONS", 405}, {"BREW", 405}};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        struct http_reply reply;
        request_init(&req, cases[i].method, "/healthz");
        http_reply_init(&reply);
        http_route(&e->ctx, &req, &reply);
        assert_int_equal(reply.status, cases[i].status);
        if (cases[i].status == 405)
            assert_string_equal(reply_header(&reply, "Allow"), "GET, HEAD");
        else
            assert_string_equal(reply_body(&reply), "ok\n");
        http_reply_release(&reply);
    }
    /* A body (POST, PUT) is refused before it is read, with the same Allow. */
    struct http_request req;
    struct http_reply reply;
    uint64_t max = 0;
    struct http_body_hold hold = {0};
    request_init(&req, "POST", "/healthz");
    http_reply_init(&reply);
    assert_false(http_route_accepts_body(&e->ctx, &req, 0, &max, &hold, &reply));
    assert_null(hold.release); /* a refused body holds nothing */
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply_header(&reply, "Allow"), "GET, HEAD");
    http_reply_release(&reply);
}

static void test_error_table(void **state)
{
    static const struct {
        int err, status;
        const char *code;
    } cases[] = {
        {-EINVAL, 400, "bad_request"},    {-EPERM, 401, "unauthorized"},
        {-EACCES, 403, "forbidden"},      {-ENOENT, 404, "not_found"},
        {-EEXIST, 409, "conflict"},       {-EFBIG, 413, "too_large"},
        {-EBADMSG, 422, "image_invalid"}, {-EIO, 500, "internal"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_error e = http_error_for(cases[i].err);
        assert_int_equal(e.status, cases[i].status);
        assert_string_equal(e.code, cases[i].code);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkin_update_and_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_alias_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_auth_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_prechecks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_methods, setup, teardown),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
