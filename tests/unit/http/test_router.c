/*
 * Unit tests for the route table (src/http/router.c) and the endpoints
 * behind it (api.c, api_sources.c, hooks.c, errors.c; update.c's handlers
 * have test_update.c) without a socket: plain requests in, plain replies
 * out, with a real service on a temporary data folder.
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

#include "http/errors.h"
#include "http_env.h"
#include "service/audit.h"
#include "sources/sources.h"

static void test_checkin_update_and_current(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    esp8266_checkin_init(&req, "18:FE:AA:AA:AA:AA", "1.0.1");
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
    struct http_env *e = *state;
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
    struct http_env *e = *state;
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

static void test_api_auth_and_errors(void **state)
{
    struct http_env *e = *state;
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
    struct http_env *e = *state;
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
    struct http_env *e = *state;
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

/* A request for METHOD and PATH with the Authorization AUTH (none when NULL). */
static void request_with(struct http_request *req, const char *method, const char *path,
                         const char *auth)
{
    request_init(req, method, path);
    if (auth)
        add_header(req, "Authorization", auth);
}

/* Routes a bodyless request; returns the status. The reply is the caller's to release. */
static int route(struct http_env *e, const char *method, const char *path, const char *auth,
                 struct http_reply *reply)
{
    struct http_request req;
    request_with(&req, method, path, auth);
    http_reply_init(reply);
    http_route(&e->ctx, &req, reply);
    return reply->status;
}

/* Asks whether a body of DECLARED bytes may come; on a refusal the reply holds it. */
static bool accepts(struct http_env *e, const char *method, const char *path, const char *auth,
                    uint64_t declared, uint64_t *ret_max, struct http_body_hold *ret_hold,
                    struct http_reply *reply)
{
    struct http_request req;
    request_with(&req, method, path, auth);
    http_reply_init(reply);
    return http_route_accepts_body(&e->ctx, &req, declared, ret_max, ret_hold, reply);
}

static void test_route_table_methods(void **state)
{
    struct http_env *e = *state;
    /* A method none of a path's rows take: 405 with their methods together, before any token. */
    static const struct {
        const char *method, *path, *allow;
        bool json;
    } cases[] = {
        {"POST", "/update/emonesp", "GET, HEAD", false},
        {"DELETE", "/esp/firmware.php", "GET, HEAD", false},
        {"PUT", "/images/emonesp/1.0.2", "GET, HEAD", false},
        {"OPTIONS", "/healthz", "GET, HEAD", false},
        {"GET", "/hooks/github", "POST", true},
        {"PUT", "/api/v1/products", "GET, HEAD, POST", true},
        {"POST", "/api/v1/products/emonesp", "GET, HEAD, PATCH", true},
        {"PATCH", "/api/v1/products/emonesp/releases", "GET, HEAD, POST", true},
        {"POST", "/api/v1/products/emonesp/devices", "GET, HEAD", true},
        {"DELETE", "/api/v1/sources", "GET, HEAD", true},
        {"POST", "/api/v1/sources/7", "GET, HEAD", true},
        {"GET", "/api/v1/sources/7/sync", "POST", true},
        {"BREW", "/api/v1/products", "GET, HEAD, POST", true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_reply reply;
        uint64_t max = 0;
        struct http_body_hold hold;
        for (int body = 0; body <= 1; body++) {
            bool ok =
                body ? accepts(e, cases[i].method, cases[i].path, NULL, 10, &max, &hold, &reply)
                     : (route(e, cases[i].method, cases[i].path, NULL, &reply), false);
            if (ok || reply.status != 405)
                fail_msg("%s %s (body %d): status %d", cases[i].method, cases[i].path, body,
                         reply.status);
            const char *allow = reply_header(&reply, "Allow");
            if (!allow || strcmp(allow, cases[i].allow) != 0)
                fail_msg("%s %s: Allow %s, want %s", cases[i].method, cases[i].path,
                         allow ? allow : "none", cases[i].allow);
            json_t *j = reply_json(&reply);
            if (cases[i].json)
                assert_string_equal(error_code(j), "method_not_allowed");
            else
                assert_null(j); /* a device gets a line of text */
            json_decref(j);
            http_reply_release(&reply);
        }
    }
}

static void test_route_table_misses(void **state)
{
    struct http_env *e = *state;
    static const struct {
        const char *path, *text; /* text: the device's line, or NULL for a JSON not_found */
    } cases[] = {
        {"/update/", "no such product\n"},
        {"/update/emonesp/", "no such product\n"},
        {"/update/emonesp/x", "no such product\n"},
        {"/images/emonesp", "no such release\n"},
        {"/images/emonesp/1.0.2/", "no such release\n"},
        {"/esp/firmware.php/", "not found\n"},
        {"/healthz/", "not found\n"},
        {"//", "not found\n"},
        {"/uix", "not found\n"},
        {"/ui/assets/nope.js", "no such asset\n"},
        {"/api/v1/", NULL},
        {"/api/v1/product", NULL},
        {"/api/v1/products/", NULL},
        {"/api/v1/products/emonesp/", NULL},
        {"/api/v1/products/emonesp/keys", NULL},
        {"/api/v1/sourcesx", NULL},
        {"/api/v1/sources/0", NULL},
        {"/api/v1/sources/-1", NULL},
        {"/api/v1/sources/abc", NULL},
        {"/api/v1/sources/99999999999999999999", NULL},
        {"/api/v1/sources/1/", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_reply reply;
        if (route(e, "GET", cases[i].path, e->admin, &reply) != 404)
            fail_msg("%s: status %d", cases[i].path, reply.status);
        assert_null(reply_header(&reply, "Allow"));
        if (cases[i].text) {
            assert_string_equal(reply_body(&reply), cases[i].text);
        } else {
            json_t *j = reply_json(&reply);
            assert_string_equal(error_code(j), "not_found");
            json_decref(j);
        }
        http_reply_release(&reply);
    }
    /* A segment longer than its field is no match: the API's own 404, not the product's. */
    char path[128];
    int n = snprintf(path, sizeof(path), "/api/v1/products/%0*d", LIMIT_PRODUCT_NAME_BYTES + 1, 0);
    for (int fits = 0; fits <= 1; fits++) {
        struct http_reply reply;
        assert_int_equal(route(e, "GET", path, e->admin, &reply), 404);
        json_t *j = reply_json(&reply);
        const char *message =
            json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if ((strcmp(message, "no such API endpoint") == 0) == fits)
            fail_msg("%zu bytes of product name: %s", strlen(path) - 17, message);
        json_decref(j);
        http_reply_release(&reply);
        path[--n] = 0; /* LIMIT_PRODUCT_NAME_BYTES: routed, and no such product */
    }
}

static void test_route_table_tokens_before_bodies(void **state)
{
    struct http_env *e = *state;
    static const struct {
        const char *method, *path;
        bool reader_may; /* a read token is enough */
    } cases[] = {
        {"GET", "/api/v1/products", true},
        {"GET", "/api/v1/products/emonesp/devices", true},
        {"POST", "/api/v1/products", false},
        {"PATCH", "/api/v1/products/emonesp", false},
        {"POST", "/api/v1/products/emonesp/releases", false},
        {"POST", "/api/v1/sources/1/sync", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool body = strcmp(cases[i].method, "GET") != 0;
        struct http_reply reply;
        uint64_t max = 0;
        struct http_body_hold hold;
        int status =
            body ? (accepts(e, cases[i].method, cases[i].path, NULL, 2, &max, &hold, &reply),
                    reply.status)
                 : route(e, cases[i].method, cases[i].path, NULL, &reply);
        if (status != 401)
            fail_msg("%s %s without a token: %d", cases[i].method, cases[i].path, status);
        assert_string_equal(reply_header(&reply, "WWW-Authenticate"), "Bearer realm=\"otad\"");
        http_reply_release(&reply);
        status =
            body ? (accepts(e, cases[i].method, cases[i].path, e->reader, 2, &max, &hold, &reply)
                        ? 0
                        : reply.status)
                 : route(e, cases[i].method, cases[i].path, e->reader, &reply);
        if (cases[i].reader_may ? status != 200 : status != 403)
            fail_msg("%s %s with a read token: %d", cases[i].method, cases[i].path, status);
        http_reply_release(&reply);
    }
}

static void test_route_table_body_ceilings(void **state)
{
    struct http_env *e = *state;
    static const struct {
        const char *method, *path;
        uint64_t ceiling; /* 0: none; UINT64_MAX: the upload setting plus the form */
    } cases[] = {
        {"POST", "/api/v1/products", LIMIT_JSON_BODY_BYTES},
        {"PATCH", "/api/v1/products/emonesp", LIMIT_JSON_BODY_BYTES},
        {"POST", "/api/v1/products/emonesp/releases", UINT64_MAX},
        {"POST", "/api/v1/sources/1/sync", LIMIT_JSON_BODY_BYTES},
        {"GET", "/api/v1/products", 0},
        {"GET", "/update/emonesp", 0},
        {"GET", "/esp/firmware.php", 0},
        {"HEAD", "/images/emonesp/1.0.2", 0},
        {"GET", "/healthz", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t ceiling = cases[i].ceiling == UINT64_MAX
                               ? e->config.max_upload_bytes + LIMIT_MULTIPART_OVERHEAD_BYTES
                               : cases[i].ceiling;
        bool json = strncmp(cases[i].path, "/api/", 5) == 0;
        struct http_reply reply;
        struct http_body_hold hold;
        uint64_t max = 0;
        /* At the ceiling (and without a length: the ceiling bounds the buffer), then past it. */
        if (ceiling) {
            uint64_t fits[] = {ceiling, UINT64_MAX};
            for (size_t k = 0; k < ARRAY_SIZE(fits); k++) {
                max = 0;
                if (!accepts(e, cases[i].method, cases[i].path, e->admin, fits[k], &max, &hold,
                             &reply))
                    fail_msg("%s %s: %d at the ceiling", cases[i].method, cases[i].path,
                             reply.status);
                assert_int_equal(max, ceiling);
                assert_null(hold.release);
                http_reply_release(&reply);
            }
        }
        uint64_t past[] = {ceiling + 1, ceiling ? 1ull << 40 : UINT64_MAX};
        for (size_t k = 0; k < ARRAY_SIZE(past); k++) {
            if (accepts(e, cases[i].method, cases[i].path, e->admin, past[k], &max, &hold,
                        &reply) ||
                reply.status != 413)
                fail_msg("%s %s: %d past the ceiling", cases[i].method, cases[i].path,
                         reply.status);
            json_t *j = reply_json(&reply);
            if (json)
                assert_string_equal(error_code(j), "too_large");
            else
                assert_string_equal(reply_body(&reply), "this path takes no body\n");
            json_decref(j);
            http_reply_release(&reply);
        }
    }
}

static void test_webhook_admission_holds_until_released(void **state)
{
    struct http_env *e = *state;
    struct http_reply reply;
    struct http_body_hold hold;
    uint64_t max = 0;
    /* Without sources: the length rules still hold, nothing is held, the handler says 503. */
    assert_false(accepts(e, "POST", "/hooks/github", NULL, UINT64_MAX, &max, &hold, &reply));
    assert_int_equal(reply.status, 411);
    http_reply_release(&reply);
    assert_false(accepts(e, "POST", "/hooks/github", NULL, LIMIT_WEBHOOK_BODY_BYTES + 1, &max,
                         &hold, &reply));
    assert_int_equal(reply.status, 413);
    http_reply_release(&reply);
    assert_true(accepts(e, "POST", "/hooks/github", NULL, 100, &max, &hold, &reply));
    assert_int_equal(max, LIMIT_WEBHOOK_BODY_BYTES);
    assert_null(hold.release);
    http_reply_release(&reply);
    assert_int_equal(route(e, "POST", "/hooks/github", NULL, &reply), 503);
    http_reply_release(&reply);
    assert_int_equal(route(e, "GET", "/api/v1/sources", e->reader, &reply), 503);
    http_reply_release(&reply);

    /* With sources: each admitted body holds its bytes until its request ends. */
    struct sources *sources;
    assert_int_equal(sources_open(&e->config, e->svc, SOURCES_LOCAL, &sources), 0);
    e->ctx.sources = sources;
    enum { BODIES = LIMIT_WEBHOOK_BYTES_IN_FLIGHT / LIMIT_WEBHOOK_BODY_BYTES };
    struct http_body_hold holds[BODIES];
    for (unsigned i = 0; i < BODIES; i++) {
        assert_true(accepts(e, "POST", "/hooks/github", NULL, LIMIT_WEBHOOK_BODY_BYTES, &max,
                            &holds[i], &reply));
        assert_non_null(holds[i].release);
        assert_int_equal(holds[i].amount, LIMIT_WEBHOOK_BODY_BYTES);
        assert_int_equal(max, LIMIT_WEBHOOK_BODY_BYTES);
        http_reply_release(&reply);
    }
    memset(&hold, 0xa5, sizeof(hold));
    assert_false(accepts(e, "POST", "/hooks/github", NULL, 1, &max, &hold, &reply));
    assert_int_equal(reply.status, 503);
    assert_string_equal(reply_header(&reply, "Retry-After"), "10");
    json_t *j = reply_json(&reply);
    assert_string_equal(error_code(j), "busy");
    json_decref(j);
    assert_null(hold.release); /* a refusal holds nothing */
    http_reply_release(&reply);
    holds[0].release(holds[0].arg, holds[0].amount);
    assert_true(accepts(e, "POST", "/hooks/github", NULL, LIMIT_WEBHOOK_BODY_BYTES, &max, &holds[0],
                        &reply));
    http_reply_release(&reply);
    for (unsigned i = 0; i < BODIES; i++)
        holds[i].release(holds[i].arg, holds[i].amount);
    assert_true(
        accepts(e, "POST", "/hooks/github", NULL, LIMIT_WEBHOOK_BODY_BYTES, &max, &hold, &reply));
    hold.release(hold.arg, hold.amount);
    http_reply_release(&reply);
    e->ctx.sources = NULL;
    sources_close(sources);
}

/* api_tls_only keeps the JSON routes (API, webhook) to the TLS listener; devices are untouched. */
static void test_api_tls_only(void **state)
{
    struct http_env *e = *state;
    e->config.api_tls_only = 1;
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "GET", "/api/v1/products");
    add_header(&req, "Authorization", e->admin);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 403);
    json_t *j = reply_json(&reply);
    assert_string_equal(error_code(j), "tls_required");
    json_decref(j);
    http_reply_release(&reply);

    req.tls = true;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    http_reply_release(&reply);

    /* The webhook is refused before its body is read. */
    request_init(&req, "POST", "/hooks/github");
    uint64_t max = 0;
    struct http_body_hold hold;
    http_reply_init(&reply);
    assert_false(http_route_accepts_body(&e->ctx, &req, 10, &max, &hold, &reply));
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);

    /* Devices keep plain HTTP: the product does not require HTTPS. */
    esp8266_checkin_init(&req, "18:FE:AA:AA:AA:AB", "1.0.1");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    http_reply_release(&reply);
}

/* GET /metrics as metrics_token says, and api_tls_only only when it takes a token. */
static int metrics_status(struct http_env *e, const char *authorization, bool tls)
{
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "GET", "/metrics");
    req.tls = tls;
    if (authorization)
        add_header(&req, "Authorization", authorization);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    int status = reply.status;
    if (status == 200) {
        assert_string_equal(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert_int_equal(buf_append(&reply.body, "", 1), 0);
        assert_non_null(
            strstr((const char *)reply.body.data, "# TYPE otad_checkins_total counter\n"));
        assert_non_null(strstr((const char *)reply.body.data, "\nprocess_open_fds "));
    }
    http_reply_release(&reply);
    return status;
}

static void test_metrics_token(void **state)
{
    struct http_env *e = *state;
    assert_string_equal(e->config.metrics_token, "read"); /* the default */
    assert_int_equal(metrics_status(e, NULL, false), 401);
    assert_int_equal(metrics_status(e, "Bearer otad_wrong", false), 401);
    assert_int_equal(metrics_status(e, e->reader, false), 200);
    assert_int_equal(metrics_status(e, e->admin, false), 200);
    e->config.api_tls_only = 1; /* a token never travels over plain HTTP then */
    assert_int_equal(metrics_status(e, e->reader, false), 403);
    assert_int_equal(metrics_status(e, e->reader, true), 200);
    strcpy(e->config.metrics_token, "none");
    assert_int_equal(metrics_status(e, NULL, false), 200); /* no token: nothing to keep off */
    e->config.api_tls_only = 0;
    assert_int_equal(metrics_status(e, NULL, false), 200);
}

/* A product with require_https: its check-ins and image URL over plain HTTP get 403, never a file.
 */
static void test_product_requires_https(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    request_init(&req, "PATCH", "/api/v1/products/emonesp");
    add_header(&req, "Authorization", e->admin);
    static const char body[] = "{\"fleet\": {\"require_https\": true}}";
    req.body = (const uint8_t *)body;
    req.body_len = sizeof(body) - 1;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    json_t *j = reply_json(&reply);
    assert_true(json_is_true(
        json_object_get(json_object_get(json_object_get(j, "product"), "fleet"), "require_https")));
    json_decref(j);
    http_reply_release(&reply);

    esp8266_checkin_init(&req, "18:FE:AA:AA:AA:AC", "1.0.1");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 403);
    assert_false(http_reply_has_file(&reply));
    assert_non_null(strstr(reply_body(&reply), "requires HTTPS"));
    http_reply_release(&reply);
    req.tls = true;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    assert_true(http_reply_has_file(&reply));
    http_reply_release(&reply);

    request_init(&req, "GET", "/images/emonesp/1.0.2");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 403);
    assert_false(http_reply_has_file(&reply));
    http_reply_release(&reply);
    req.tls = true;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    http_reply_release(&reply);

    /* A product that does not exist is not "requiring" anything: the usual 404. */
    request_init(&req, "GET", "/images/nothing/1.0.0");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 404);
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

/* The audit log's entries, newest first, into *RET (free with audit_entry_list_free). */
static size_t audit_entries(struct http_env *e, struct audit_entry **ret)
{
    struct audit_filter all = {0};
    struct reason why = {""};
    size_t n = 0;
    assert_int_equal(service_audit_list(e->svc, &all, 100, ret, &n, &why), 0);
    return n;
}

static void audit_request(struct http_request *req, const char *method, const char *path,
                          const char *token, const char *body)
{
    request_init(req, method, path);
    req->remote_addr = "192.0.2.9";
    if (token)
        add_header(req, "Authorization", token);
    if (body) {
        req->body = (const uint8_t *)body;
        req->body_len = strlen(body);
    }
}

/*
 * The router writes one entry per admin request that reaches a route's
 * handler, whatever it answers, from the route table: the action, the
 * product and object from the path or the handler, the actor and address;
 * one for a valid token of too small a scope, whether refused before the
 * body or before the handler; none for a read, no token, or no route.
 */
static void test_router_writes_the_audit_log(void **state)
{
    struct http_env *e = *state;
    struct http_request req;
    struct http_reply reply;
    struct audit_entry *got;
    size_t n;

    audit_request(&req, "PUT", "/api/v1/products/emonesp/channels/beta", e->admin,
                  "{\"deploy\": \"manual\", \"tz\": \"UTC\"}");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    http_reply_release(&reply);
    assert_int_equal(n = audit_entries(e, &got), 1);
    assert_string_equal(got[0].action, "channel.put");
    assert_string_equal(got[0].product, "emonesp");
    assert_string_equal(got[0].object, "beta");
    assert_string_equal(got[0].params, "{\"deploy\":\"manual\",\"tz\":\"UTC\"}");
    assert_int_equal(got[0].actor.via, ACTOR_VIA_API);
    assert_string_equal(got[0].actor.name, "a");
    assert_true(got[0].actor.token_id > 0);
    assert_string_equal(got[0].actor.address, "192.0.2.9");
    assert_true(got[0].ok);
    assert_int_equal(got[0].status, 200);
    audit_entry_list_free(got, n);

    /* A handler's refusal is recorded with its status, code and reason. */
    audit_request(&req, "POST", "/api/v1/products/emonesp/rollouts/77/promote", e->admin, NULL);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 404);
    http_reply_release(&reply);
    assert_int_equal(n = audit_entries(e, &got), 2);
    assert_string_equal(got[0].action, "rollout.promote");
    assert_string_equal(got[0].object, "77");
    assert_false(got[0].ok);
    assert_int_equal(got[0].status, 404);
    assert_string_equal(got[0].error, "not_found");
    assert_true(got[0].reason[0] != 0);
    audit_entry_list_free(got, n);

    /* A new product names itself; a route without {product} names none. */
    audit_request(&req, "POST", "/api/v1/products", e->admin,
                  "{\"name\": \"lamp\", \"platform\": \"esp32\"}");
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 201);
    http_reply_release(&reply);
    assert_int_equal(n = audit_entries(e, &got), 3);
    assert_string_equal(got[0].action, "product.create");
    assert_string_equal(got[0].product, "lamp");
    assert_string_equal(got[0].object, "");
    audit_entry_list_free(got, n);

    /* Denied: before the body is read, and before the handler; each once. */
    audit_request(&req, "PUT", "/api/v1/products/emonesp/channels/beta", e->reader, "{}");
    uint64_t max = 0;
    struct http_body_hold hold;
    http_reply_init(&reply);
    assert_false(http_route_accepts_body(&e->ctx, &req, 2, &max, &hold, &reply));
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);
    audit_request(&req, "DELETE", "/api/v1/products/emonesp/pins/18:FE:34:00:00:01", e->reader,
                  NULL);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 403);
    http_reply_release(&reply);
    assert_int_equal(n = audit_entries(e, &got), 5);
    assert_string_equal(got[0].action, "pin.delete");
    assert_string_equal(got[0].object, "18:FE:34:00:00:01");
    assert_string_equal(got[0].actor.name, "r");
    assert_int_equal(got[0].status, 403);
    assert_string_equal(got[1].action, "channel.put");
    assert_string_equal(got[1].actor.name, "r");
    assert_null(got[1].params); /* its body was never read */
    audit_entry_list_free(got, n);

    /* Admitted before its body, then handled: one entry, the handler's. */
    audit_request(&req, "PATCH", "/api/v1/products/emonesp", e->admin,
                  "{\"fleet\": {\"max_downloads\": 3}}");
    http_reply_init(&reply);
    assert_true(http_route_accepts_body(&e->ctx, &req, req.body_len, &max, &hold, &reply));
    http_reply_release(&reply);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 200);
    http_reply_release(&reply);
    assert_int_equal(n = audit_entries(e, &got), 6);
    assert_string_equal(got[0].action, "product.update");
    assert_string_equal(got[0].params, "{\"fleet\":{\"max_downloads\":3}}");
    audit_entry_list_free(got, n);

    /* Not actions: a read (even of the log), no token, a bad token, no route, a wrong method. */
    static const struct {
        const char *method, *path;
        bool token;
    } none[] = {
        {"GET", "/api/v1/products", true},
        {"GET", "/api/v1/audit", true},
        {"PUT", "/api/v1/products/emonesp/channels/beta", false},
        {"POST", "/api/v1/nothing", true},
        {"DELETE", "/api/v1/audit", true},
        {"PATCH", "/api/v1/products/emonesp/rollouts", true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(none); i++) {
        audit_request(&req, none[i].method, none[i].path, none[i].token ? e->admin : NULL, NULL);
        http_reply_init(&reply);
        http_route(&e->ctx, &req, &reply);
        http_reply_release(&reply);
    }
    audit_request(&req, "PUT", "/api/v1/products/emonesp/channels/beta",
                  "Bearer otad_0000000000000000000000000000000000000000000000000000000000000000",
                  NULL);
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    assert_int_equal(reply.status, 401);
    http_reply_release(&reply);
    assert_int_equal(n = audit_entries(e, &got), 6);
    audit_entry_list_free(got, n);
}

/* The session cookie among others, in the forms browsers send; absent or too long: none. */
static void test_session_cookie_parsing(void **state)
{
    static const struct {
        const char *header, *want; /* want NULL: no cookie */
    } cases[] = {
        {"otad_session=abc", "abc"},
        {"theme=dark; otad_session=abc", "abc"},
        {"theme=dark;otad_session=abc; x=1", "abc"},
        {"otad_session=abc ; x=1", "abc"},
        {"xotad_session=abc", NULL},
        {"otad_sessions=abc", NULL},
        {"otad_session", NULL},
        {"theme=dark", NULL},
        {"otad_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL},
        {NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        request_init(&req, "GET", "/api/v1/products");
        if (cases[i].header)
            add_header(&req, "Cookie", cases[i].header);
        char out[SERVICE_SESSION_COOKIE_LEN + 2];
        bool found = http_session_cookie(&req, out, sizeof(out));
        if (!cases[i].want) {
            assert_false(found);
            continue;
        }
        assert_true(found);
        assert_string_equal(out, cases[i].want);
    }
}

/* Origin and Sec-Fetch-Site against Host: only this server's own pages pass. */
static void test_same_origin(void **state)
{
    static const struct {
        const char *host, *origin, *site;
        bool ok;
    } cases[] = {
        {"otad.lan:8080", NULL, NULL, true},
        {"otad.lan:8080", "http://otad.lan:8080", NULL, true},
        {"otad.lan:8080", "https://otad.lan:8080", "same-origin", true},
        {"otad.lan:8080", "HTTP://OTAD.LAN:8080", NULL, true},
        {"otad.lan:8080", NULL, "none", true},
        {"otad.lan:8080", "http://evil.example", NULL, false},
        {"otad.lan:8080", "http://otad.lan:8081", NULL, false},
        {"otad.lan:8080", "http://otad.lan", NULL, false},
        {"otad.lan:8080", "http://otad.lan:8080.evil.example", NULL, false},
        {"otad.lan:8080", "null", NULL, false},
        {"otad.lan:8080", NULL, "cross-site", false},
        {"otad.lan:8080", "http://otad.lan:8080", "same-site", false},
        {NULL, "http://otad.lan:8080", NULL, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_request req;
        request_init(&req, "POST", "/api/v1/products");
        if (cases[i].host)
            add_header(&req, "Host", cases[i].host);
        if (cases[i].origin)
            add_header(&req, "Origin", cases[i].origin);
        if (cases[i].site)
            add_header(&req, "Sec-Fetch-Site", cases[i].site);
        if (http_same_origin(&req) != cases[i].ok)
            fail_msg("case %zu: %s / %s / %s", i, cases[i].host, cases[i].origin, cases[i].site);
    }
}

/* A GET of the API's JSON gets an ETag, and If-None-Match naming it a bodyless 304. */
static void test_etag_and_if_none_match(void **state)
{
    struct http_env *e = *state;
    struct http_reply reply;
    assert_int_equal(route(e, "GET", "/api/v1/products", e->reader, &reply), 200);
    const char *etag = reply_header(&reply, "ETag");
    assert_non_null(etag);
    assert_int_equal(strlen(etag), 66);
    char tag[80], list[200];
    snprintf(tag, sizeof(tag), "%s", etag);
    http_reply_release(&reply);
    const char *matching[] = {tag, "*", list, list + 3};
    snprintf(list, sizeof(list), "W/\"x\", W/%s", tag);
    for (size_t i = 0; i < ARRAY_SIZE(matching); i++) {
        struct http_request req;
        request_with(&req, "GET", "/api/v1/products", e->reader);
        add_header(&req, "If-None-Match", matching[i]);
        http_reply_init(&reply);
        http_route(&e->ctx, &req, &reply);
        assert_int_equal(reply.status, 304);
        assert_int_equal(reply.body.len, 0);
        assert_string_equal(reply_header(&reply, "ETag"), tag);
        http_reply_release(&reply);
    }
    /* Neither another tag nor a "*" inside a list (only the whole value "*" matches any). */
    static const char *const other[] = {"\"0000\"", "W/\"abc\", *x", "\"a\", *", "*x"};
    for (size_t i = 0; i < ARRAY_SIZE(other); i++) {
        struct http_request req;
        request_with(&req, "GET", "/api/v1/products", e->reader);
        add_header(&req, "If-None-Match", other[i]);
        http_reply_init(&reply);
        http_route(&e->ctx, &req, &reply);
        assert_int_equal(reply.status, 200);
        http_reply_release(&reply);
    }
    /* Errors and device answers carry none. */
    assert_int_equal(route(e, "GET", "/api/v1/products/nothing", e->reader, &reply), 404);
    assert_null(reply_header(&reply, "ETag"));
    http_reply_release(&reply);
    assert_int_equal(route(e, "GET", "/images/emonesp/1.0.2", NULL, &reply), 200);
    assert_null(reply_header(&reply, "Cache-Control"));
    http_reply_release(&reply);
    /* Which paths are a device's. */
    assert_true(http_path_is_device(&e->ctx, "/update/emonesp"));
    assert_true(http_path_is_device(&e->ctx, "/images/emonesp/1.0.2"));
    assert_true(http_path_is_device(&e->ctx, "/esp/firmware.php"));
    assert_false(http_path_is_device(&e->ctx, "/api/v1/products"));
    assert_false(http_path_is_device(&e->ctx, "/"));
    assert_false(http_path_is_device(&e->ctx, "/healthz"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_writes_the_audit_log, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_checkin_update_and_current, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_legacy_alias_forms, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_device_errors, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_api_auth_and_errors, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_upload_prechecks, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_healthz_methods, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_route_table_methods, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_route_table_misses, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_route_table_tokens_before_bodies, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_route_table_body_ceilings, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_admission_holds_until_released, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test_setup_teardown(test_api_tls_only, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_token, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_product_requires_https, http_env_setup,
                                        http_env_teardown),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_session_cookie_parsing),
        cmocka_unit_test(test_same_origin),
        cmocka_unit_test_setup_teardown(test_etag_and_if_none_match, http_env_setup,
                                        http_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
