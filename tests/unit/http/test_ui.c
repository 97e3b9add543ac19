/*
 * Unit tests for src/http/ui.c: the embedded dashboard's files looked up by
 * hashed and plain name, their ETags, caching, gzip and 304s, the pages'
 * answer (index.html), and 404 for an unknown asset, both through the
 * handlers and through the route table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/ui.h"
#include "http_env.h"

static const struct ui_asset *asset_named(const char *name)
{
    for (size_t i = 0; i < ui_asset_count; i++)
        if (strcmp(ui_assets[i].name, name) == 0)
            return &ui_assets[i];
    fail_msg("no embedded %s", name);
    return NULL;
}

/* Routes a GET (or METHOD) of PATH with the headers given as name, value, ..., NULL. */
static int get(struct http_env *e, const char *method, const char *path, struct http_reply *reply,
               ...)
{
    struct http_request req;
    request_init(&req, method, path);
    va_list ap;
    va_start(ap, reply);
    for (const char *name; (name = va_arg(ap, const char *));)
        add_header(&req, name, va_arg(ap, const char *));
    va_end(ap);
    http_reply_init(reply);
    http_route(&e->ctx, &req, reply);
    return reply->status;
}

static void test_table(void **state)
{
    /* Every file of web/ is there, with a hashed name (but index.html) and a strong ETag. */
    const char *names[] = {"index.html", "app.js", "chart.js", "app.css", "icon.svg"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        const struct ui_asset *a = asset_named(names[i]);
        assert_true(a->size > 0);
        assert_int_equal(strlen(a->etag), 14); /* a quoted 12-hex hash, never W/ */
        assert_int_equal(a->etag[0], '"');
        if (strcmp(names[i], "index.html") == 0) {
            assert_null(a->hashed_name);
            continue;
        }
        /* "app.js" -> "app.<the ETag's hash>.js" */
        char want[64];
        const char *dot = strrchr(a->name, '.');
        snprintf(want, sizeof(want), "%.*s.%.12s%s", (int)(dot - a->name), a->name, a->etag + 1,
                 dot);
        assert_string_equal(a->hashed_name, want);
        if (a->gzip_data) {
            assert_true(a->gzip_size < a->size);
            assert_true(a->gzip_data[0] == 0x1f && a->gzip_data[1] == 0x8b);
            assert_string_not_equal(a->gzip_etag, a->etag);
        }
    }
    /* index.html names the assets by their hashed names only. */
    const struct ui_asset *index = asset_named("index.html");
    char *html = strndup((const char *)index->data, index->size);
    assert_non_null(strstr(html, asset_named("app.js")->hashed_name));
    assert_non_null(strstr(html, asset_named("app.css")->hashed_name));
    assert_null(strstr(html, "/ui/assets/app.js\""));
    assert_null(strstr(html, "<style"));
    assert_null(strstr(html, "style="));
    free(html);
    /* A module names the modules it imports by their hashed names too. */
    const struct ui_asset *app = asset_named("app.js");
    char *js = strndup((const char *)app->data, app->size);
    assert_non_null(strstr(js, asset_named("chart.js")->hashed_name));
    assert_null(strstr(js, "/ui/assets/chart.js\""));
    free(js);
}

static void test_lookup(void **state)
{
    const struct ui_asset *app = asset_named("app.js");
    bool hashed = false;
    assert_ptr_equal(ui_asset_find(app->hashed_name, &hashed), app);
    assert_true(hashed);
    assert_ptr_equal(ui_asset_find("app.js", &hashed), app);
    assert_false(hashed);
    assert_ptr_equal(ui_asset_find("app.js", NULL), app);
    const char *unknown[] = {"",       "index.html", "app",       "app.000000000000.js",
                             "APP.JS", "app.js/",    "../app.js", "app.js.gz"};
    for (size_t i = 0; i < ARRAY_SIZE(unknown); i++)
        if (ui_asset_find(unknown[i], &hashed))
            fail_msg("\"%s\" found", unknown[i]);
}

static void test_assets(void **state)
{
    struct http_env *e = *state;
    const struct ui_asset *app = asset_named("app.js");
    const struct ui_asset *css = asset_named("app.css");
    char path[128];
    struct http_reply r;

    /* By hashed name: immutable, its ETag, its bytes and content type. */
    snprintf(path, sizeof(path), "/ui/assets/%s", app->hashed_name);
    assert_int_equal(get(e, "GET", path, &r, NULL), 200);
    assert_string_equal(r.content_type, "text/javascript; charset=utf-8");
    assert_string_equal(reply_header(&r, "ETag"), app->etag);
    assert_non_null(strstr(reply_header(&r, "Cache-Control"), "immutable"));
    assert_int_equal(r.static_len, app->size);
    assert_memory_equal(r.static_body, app->data, app->size);
    assert_null(reply_header(&r, "Content-Encoding"));
    http_reply_release(&r);

    /* By plain name: revalidated every time. */
    assert_int_equal(get(e, "GET", "/ui/assets/app.css", &r, NULL), 200);
    assert_string_equal(r.content_type, "text/css; charset=utf-8");
    assert_string_equal(reply_header(&r, "Cache-Control"), "no-cache");
    assert_string_equal(reply_header(&r, "ETag"), css->etag);
    http_reply_release(&r);
    assert_int_equal(get(e, "HEAD", "/ui/assets/icon.svg", &r, NULL), 200);
    assert_string_equal(r.content_type, "image/svg+xml");
    http_reply_release(&r);

    /* gzip when accepted (and smaller), with its own ETag; never when refused with q=0. */
    assert_non_null(app->gzip_data);
    assert_int_equal(get(e, "GET", path, &r, "Accept-Encoding", "deflate, gzip;q=0.5", NULL), 200);
    assert_string_equal(reply_header(&r, "Content-Encoding"), "gzip");
    assert_string_equal(reply_header(&r, "ETag"), app->gzip_etag);
    assert_string_equal(reply_header(&r, "Vary"), "Accept-Encoding");
    assert_int_equal(r.static_len, app->gzip_size);
    http_reply_release(&r);
    const char *refusals[] = {"gzip;q=0", "gzip; q=0.0", "br", "deflate, identity", "gzipx", ""};
    for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
        assert_int_equal(get(e, "GET", path, &r, "Accept-Encoding", refusals[i], NULL), 200);
        if (reply_header(&r, "Content-Encoding"))
            fail_msg("gzip for Accept-Encoding \"%s\"", refusals[i]);
        http_reply_release(&r);
    }

    /* If-None-Match: 304 with the ETag and no body; another tag gets the file. */
    char weak[64], list[96];
    snprintf(weak, sizeof(weak), "W/%s", app->etag);
    snprintf(list, sizeof(list), "\"nope\", %s", app->etag);
    const char *matches[] = {app->etag, weak, list, "*"};
    for (size_t i = 0; i < ARRAY_SIZE(matches); i++) {
        assert_int_equal(get(e, "GET", path, &r, "If-None-Match", matches[i], NULL), 304);
        assert_string_equal(reply_header(&r, "ETag"), app->etag);
        assert_int_equal(r.static_len, 0);
        http_reply_release(&r);
    }
    assert_int_equal(get(e, "GET", path, &r, "If-None-Match", "\"0123456789ab\"", NULL), 200);
    http_reply_release(&r);
    /* The plain form's tag does not validate the gzip form. */
    assert_int_equal(
        get(e, "GET", path, &r, "If-None-Match", app->etag, "Accept-Encoding", "gzip", NULL), 200);
    http_reply_release(&r);

    /* Unknown assets: 404, never the page. */
    const char *missing[] = {"/ui/assets/nope.js",
                             "/ui/assets/app.000000000000.js",
                             "/ui/assets/index.html",
                             "/ui/assets/",
                             "/ui/assets",
                             "/ui/assets/app.js/x"};
    for (size_t i = 0; i < ARRAY_SIZE(missing); i++) {
        if (get(e, "GET", missing[i], &r, NULL) != 404)
            fail_msg("%s: %d", missing[i], r.status);
        http_reply_release(&r);
    }
    /* Files take GET and HEAD only. */
    assert_int_equal(get(e, "POST", path, &r, NULL), 405);
    http_reply_release(&r);
}

static void test_pages(void **state)
{
    struct http_env *e = *state;
    const struct ui_asset *index = asset_named("index.html");
    const char *pages[] = {"/", "/ui", "/ui/", "/ui/devices", "/ui/products/emonesp/devices/x"};
    struct http_reply r;
    for (size_t i = 0; i < ARRAY_SIZE(pages); i++) {
        if (get(e, "GET", pages[i], &r, NULL) != 200)
            fail_msg("%s: %d", pages[i], r.status);
        assert_string_equal(r.content_type, "text/html; charset=utf-8");
        assert_string_equal(reply_header(&r, "Cache-Control"), "no-cache");
        assert_string_equal(reply_header(&r, "ETag"), index->etag);
        assert_memory_equal(r.static_body, index->data, index->size);
        http_reply_release(&r);
    }
    assert_int_equal(get(e, "GET", "/ui/devices", &r, "If-None-Match", index->etag, NULL), 304);
    http_reply_release(&r);
    assert_int_equal(get(e, "DELETE", "/", &r, NULL), 405);
    http_reply_release(&r);
    /* The API and the devices' paths are not the dashboard's. */
    assert_int_equal(get(e, "GET", "/api/v1/nope", &r, NULL), 404);
    assert_non_null(strstr(reply_body(&r), "not_found"));
    http_reply_release(&r);
    assert_int_equal(get(e, "GET", "/uix", &r, NULL), 404);
    http_reply_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test_setup_teardown(test_assets, http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_pages, http_env_setup, http_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
