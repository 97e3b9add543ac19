/*
 * Unit tests for src/sources/fetch.c: the GitHub API requests and asset
 * downloads over libcurl, against a scripted server on 127.0.0.1
 * (loopback.h). What is asserted: the headers sent (and the token never
 * sent to storage), bodies and their caps, the redirect rules, and that
 * every failure is -errno with a reason in our words, never the peer's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "loopback.h"
#include "sources/fetch.h"

#define TOKEN "ghp_unitTokenNeverToStorage"
#define ASSET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" /* 64 bytes */

/* The request line's target of HEAD into OUT. */
static void target_of(const char *head, char *out, size_t size)
{
    const char *sp = strchr(head, ' ');
    size_t n = sp ? strcspn(sp + 1, " ") : 0;
    snprintf(out, size, "%.*s", (int)n, sp ? sp + 1 : "");
}

static char *respond(struct loopback *lb, const char *head, size_t *ret_len)
{
    char target[256], value[256], headers[512];
    target_of(head, target, sizeof(target));
    const char *rate = "x-ratelimit-limit: 5000\r\nx-ratelimit-remaining: 4321\r\n"
                       "x-ratelimit-reset: 1900000000\r\n";
    if (strcmp(target, "/page") == 0) {
        if (loopback_header(head, "If-None-Match", value, sizeof(value)) &&
            strcmp(value, "\"v1\"") == 0)
            return loopback_reply(304, rate, "", 0, ret_len);
        snprintf(headers, sizeof(headers), "%sETag: \"v1\"\r\n", rate);
        return loopback_reply(200, headers, "[]", 2, ret_len);
    }
    if (strcmp(target, "/big") == 0) {
        static char big[2000];
        memset(big, 'x', sizeof(big));
        return loopback_reply(200, "", big, sizeof(big), ret_len);
    }
    if (strcmp(target, "/refused") == 0) {
        const char *msg = "{\"message\":\"upstream words, token " TOKEN "\"}";
        return loopback_reply(401, rate, msg, strlen(msg), ret_len);
    }
    if (strncmp(target, "/asset/", 7) == 0) {
        const char *what = target + 7;
        if (strcmp(what, "direct") == 0)
            return loopback_reply(200, rate, ASSET, 64, ret_len);
        if (strcmp(what, "limited") == 0)
            return loopback_reply(403,
                                  "x-ratelimit-remaining: 0\r\nx-ratelimit-reset: 1900000000\r\n",
                                  "{}", 2, ret_len);
        if (strcmp(what, "nolocation") == 0)
            return loopback_reply(302, rate, "", 0, ret_len);
        if (strcmp(what, "missing") == 0)
            return loopback_reply(404, rate, "{}", 2, ret_len);
        snprintf(headers, sizeof(headers),
                 "%sLocation: http://127.0.0.1:%u/storage/%s?X-Amz-Signature=secretsig\r\n", rate,
                 lb->port, what);
        return loopback_reply(302, headers, "redirecting", 11, ret_len);
    }
    if (strncmp(target, "/storage/", 9) == 0) {
        if (loopback_header(head, "Authorization", value, sizeof(value)))
            return loopback_reply(400, "", "auth", 4, ret_len); /* the test fails on it below */
        const char *what = target + 9;
        if (strncmp(what, "ok", 2) == 0)
            return loopback_reply(200, "", ASSET, 64, ret_len);
        if (strncmp(what, "short", 5) == 0)
            return loopback_reply(200, "", ASSET, 60, ret_len);
        if (strncmp(what, "long", 4) == 0)
            return loopback_reply(200, "", ASSET ASSET, 128, ret_len);
        const char *err = "<Error>storage-internal detail</Error>";
        return loopback_reply(503, "", err, strlen(err), ret_len);
    }
    return loopback_reply(404, "", "", 0, ret_len);
}

static int setup(void **state)
{
    static struct loopback lb;
    assert_int_equal(fetch_global_init(), 0);
    assert_int_equal(loopback_start(&lb, respond, NULL), 0);
    *state = &lb;
    return 0;
}

static int teardown(void **state)
{
    loopback_stop(*state);
    fetch_global_cleanup();
    return 0;
}

static void url_of(struct loopback *lb, const char *path, char *out, size_t size)
{
    snprintf(out, size, "http://127.0.0.1:%u%s", lb->port, path);
}

static void test_api_get_headers_etag_and_rate(void **state)
{
    struct loopback *lb = *state;
    char url[128], head[LOOPBACK_HEAD_BYTES], value[256];
    url_of(lb, "/page", url, sizeof(url));
    struct fetch_request req = {.url = url, .token = TOKEN, .max_body = 1000};
    struct fetch_response resp;
    struct reason why = {""};
    assert_int_equal(fetch_api_get(&req, &resp, &why), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 2);
    assert_string_equal(resp.etag, "\"v1\"");
    assert_int_equal(resp.rate.limit, 5000);
    assert_int_equal(resp.rate.remaining, 4321);
    assert_int_equal(resp.rate.reset_s, 1900000000);
    fetch_response_release(&resp);

    loopback_head(lb, 0, head);
    assert_true(strncmp(head, "GET /page HTTP/1.1\r\n", 20) == 0);
    assert_true(loopback_header(head, "Authorization", value, sizeof(value)));
    assert_string_equal(value, "Bearer " TOKEN);
    assert_true(loopback_header(head, "Accept", value, sizeof(value)));
    assert_string_equal(value, "application/vnd.github+json");
    assert_true(loopback_header(head, "X-GitHub-Api-Version", value, sizeof(value)));
    assert_string_equal(value, "2022-11-28");
    assert_true(loopback_header(head, "User-Agent", value, sizeof(value)));
    assert_true(strncmp(value, "otad/", 5) == 0);
    assert_false(loopback_header(head, "If-None-Match", value, sizeof(value)));

    /* Conditional: the ETag goes back, a 304 comes with no body. Anonymous: no Authorization. */
    req.if_none_match = "\"v1\"";
    req.token = NULL;
    assert_int_equal(fetch_api_get(&req, &resp, &why), 0);
    assert_int_equal(resp.status, 304);
    assert_int_equal(resp.body.len, 0);
    fetch_response_release(&resp);
    loopback_head(lb, 1, head);
    assert_false(loopback_header(head, "Authorization", value, sizeof(value)));
}

static void test_api_get_failures(void **state)
{
    struct loopback *lb = *state;
    char url[128];
    struct fetch_response resp;
    struct reason why = {""};

    /* A refusal is a response: the caller sees the status (and decides what to show). */
    url_of(lb, "/refused", url, sizeof(url));
    struct fetch_request req = {.url = url, .max_body = 1000};
    assert_int_equal(fetch_api_get(&req, &resp, &why), 0);
    assert_int_equal(resp.status, 401);
    fetch_response_release(&resp);

    url_of(lb, "/big", url, sizeof(url));
    assert_int_equal(fetch_api_get(&req, &resp, &why), -EFBIG);
    assert_non_null(strstr(why.text, "larger than 1000 bytes"));

    /* Nothing listens on port 1. */
    req.url = "http://127.0.0.1:1/page";
    assert_int_equal(fetch_api_get(&req, &resp, &why), -ECONNREFUSED);
    assert_null(strstr(why.text, "127.0.0.1")); /* libcurl's fixed text, not its detail */

    atomic_bool cancel = true;
    url_of(lb, "/page", url, sizeof(url));
    req.url = url;
    req.cancel = &cancel;
    assert_int_equal(fetch_api_get(&req, &resp, &why), -ECANCELED);
}

static void test_asset_redirect_drops_the_token(void **state)
{
    struct loopback *lb = *state;
    char url[128], head[LOOPBACK_HEAD_BYTES], value[256];
    url_of(lb, "/asset/ok", url, sizeof(url));
    struct fetch_asset fa;
    struct reason why = {""};
    assert_int_equal(fetch_asset_get(url, TOKEN, 64, true, NULL, &fa, &why), 0);
    assert_int_equal(fa.image.len, 64);
    assert_memory_equal(fa.image.data, ASSET, 64);
    assert_int_equal(fa.api_status, 302);
    assert_int_equal(fa.api_calls, 1);
    assert_int_equal(fa.rate.remaining, 4321);
    fetch_asset_release(&fa);
    assert_int_equal(loopback_count(lb), 2);
    loopback_head(lb, 0, head);
    assert_true(loopback_header(head, "Authorization", value, sizeof(value)));
    assert_true(loopback_header(head, "Accept", value, sizeof(value)));
    assert_string_equal(value, "application/octet-stream");
    loopback_head(lb, 1, head);
    assert_true(strncmp(head, "GET /storage/ok?X-Amz-Signature=secretsig ", 42) == 0);
    assert_false(loopback_header(head, "Authorization", value, sizeof(value)));

    /* 200 with the bytes, no redirect: one request. */
    url_of(lb, "/asset/direct", url, sizeof(url));
    assert_int_equal(fetch_asset_get(url, TOKEN, 64, true, NULL, &fa, &why), 0);
    assert_int_equal(fa.image.len, 64);
    assert_int_equal(fa.api_status, 200);
    fetch_asset_release(&fa);
    assert_int_equal(loopback_count(lb), 3);
}

static void test_asset_failures_in_our_words(void **state)
{
    struct loopback *lb = *state;
    static const struct {
        const char *path;
        bool allow_http;
        int r;
        const char *reason; /* the whole reason: nothing of the peer's */
    } cases[] = {
        {"/asset/down", true, -EPROTO, "storage answered 503"},
        {"/asset/short", true, -EBADMSG, "received 60 bytes of an asset the API says has 64"},
        {"/asset/long", true, -EFBIG, "storage: the body is larger than 64 bytes"},
        {"/asset/ok", false, -EPROTO, "the asset redirect is not https"},
        {"/asset/nolocation", true, -EPROTO, "the API's asset redirect has no usable Location"},
        {"/asset/missing", true, -EPROTO, "the API answered 404 for the asset"},
        {"/asset/limited", true, -EBUSY, "the API refused the asset download: rate limit"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char url[128];
        url_of(lb, cases[i].path, url, sizeof(url));
        struct fetch_asset fa;
        struct reason why = {""};
        int r = fetch_asset_get(url, TOKEN, 64, cases[i].allow_http, NULL, &fa, &why);
        if (r != cases[i].r || strcmp(why.text, cases[i].reason) != 0)
            fail_msg("%s: %d \"%s\", expected %d \"%s\"", cases[i].path, r, why.text, cases[i].r,
                     cases[i].reason);
        assert_int_equal(fa.image.len, 0); /* nothing kept of a failed download */
        assert_int_equal(fa.api_calls, 1);
        fetch_asset_release(&fa);
    }
    /* The rate limit's reset is reported for the gate. */
    char url[128];
    url_of(lb, "/asset/limited", url, sizeof(url));
    struct fetch_asset fa;
    struct reason why = {""};
    assert_int_equal(fetch_asset_get(url, NULL, 64, true, NULL, &fa, &why), -EBUSY);
    assert_int_equal(fa.rate.remaining, 0);
    assert_int_equal(fa.rate.reset_s, 1900000000);
    assert_int_equal(fa.api_status, 403);
    fetch_asset_release(&fa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_get_headers_etag_and_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_get_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asset_redirect_drops_the_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asset_failures_in_our_words, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
