/*
 * Unit tests for src/sources/sync.c: one sync of a source, in the
 * foreground (sources_sync), against a fake GitHub API and storage host on
 * 127.0.0.1 (loopback.h). What is asserted: a refused release shows in the
 * status with why; a failed download of the newest tag is retried on a
 * growing backoff, past the old five attempts, and says so; what the
 * status keeps is our own text, never the API's message.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "env.h"

#define LEAK "ghp_upstreamWordsThatMustNotBeKept"

/* What the fake GitHub serves: one release (or none), its assets, and its failures. */
struct fake {
    char tag[200];       /* "" = no release */
    uint8_t image[4096]; /* every asset's bytes */
    size_t image_len;
    const char *asset_names[2]; /* assets of the release */
    size_t asset_count;
    int api_status;     /* 0 = the page; else this status and an upstream message */
    int storage_status; /* 0 = the bytes; else this status */
};

static char *respond(struct loopback *lb, const char *head, size_t *ret_len)
{
    struct fake *f = lb->user;
    char target[256], location[320];
    const char *sp = strchr(head, ' ');
    snprintf(target, sizeof(target), "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
    if (strncmp(target, "/repos/acme/door/releases?", 26) == 0) {
        if (f->api_status) {
            const char *msg = "{\"message\":\"" LEAK "\"}";
            return loopback_reply(f->api_status, "", msg, strlen(msg), ret_len);
        }
        json_t *page = json_array();
        if (f->tag[0]) {
            json_t *assets = json_array();
            for (size_t i = 0; i < f->asset_count; i++)
                json_array_append_new(assets,
                                      json_pack("{s:I,s:s,s:I,s:s}", "id", (json_int_t)(10 + i),
                                                "name", f->asset_names[i], "size",
                                                (json_int_t)f->image_len, "state", "uploaded"));
            json_array_append_new(page,
                                  json_pack("{s:s,s:b,s:b,s:s,s:o}", "tag_name", f->tag, "draft", 0,
                                            "prerelease", 0, "body", "notes", "assets", assets));
        }
        char *text = json_dumps(page, 0);
        json_decref(page);
        char *out =
            loopback_reply(200, "x-ratelimit-remaining: 4000\r\n", text, strlen(text), ret_len);
        free(text);
        return out;
    }
    if (strncmp(target, "/repos/acme/door/releases/assets/", 33) == 0) {
        snprintf(location, sizeof(location), "Location: http://127.0.0.1:%u/storage/%s\r\n",
                 lb->port, target + 33);
        return loopback_reply(302, location, "", 0, ret_len);
    }
    if (strncmp(target, "/storage/", 9) == 0) {
        if (f->storage_status)
            return loopback_reply(f->storage_status, "", LEAK, strlen(LEAK), ret_len);
        return loopback_reply(200, "", f->image, f->image_len, ret_len);
    }
    return loopback_reply(404, "", "", 0, ret_len);
}

struct env {
    struct sources_env base;
    struct fake fake;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    sources_env_open(&e->base, SOURCES_LOCAL, respond, &e->fake);
    sources_env_add(&e->base, NULL);
    e->fake.image_len = sizeof(e->fake.image);
    fixture_esp8266_image(e->fake.image, e->fake.image_len, 4, 1);
    e->fake.asset_names[0] = "firmware.bin";
    e->fake.asset_count = 1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    sources_env_close(&e->base);
    free(e);
    return 0;
}

/* One foreground sync of the source: its result, and the source as stored after it. */
static struct sources_sync_result sync_once(struct env *e, struct source_row *ret_row)
{
    struct sources_sync_result *results, res;
    size_t n;
    struct reason why = {""};
    assert_int_equal(sources_sync(e->base.sources, e->base.id, &results, &n, &why), 0);
    assert_int_equal(n, 1);
    res = results[0];
    free(results);
    assert_int_equal(sources_get(e->base.sources, e->base.id, ret_row, &why), 0);
    return res;
}

static void test_a_refused_release_shows_in_the_status(void **state)
{
    struct env *e = *state;
    struct source_row row;
    str_copy(e->fake.tag, sizeof(e->fake.tag), "v1.0.0");
    e->fake.image[0] = 0x00; /* not an image */
    struct sources_sync_result res = sync_once(e, &row);
    assert_int_equal(res.refused, 1);
    assert_false(res.failed);
    assert_non_null(strstr(res.message, "refused v1.0.0: byte 0 is 0x00"));
    assert_string_equal(row.last_refused.tag, "v1.0.0");
    assert_non_null(strstr(row.last_refused.detail, "byte 0 is 0x00"));
    assert_true(row.last_refused.updated_ms > 0);
    assert_int_equal(row.state.failures, 0); /* not a failure to poll: no backoff */
    assert_string_equal(row.state.last_error, "");

    json_t *j = sources_present(e->base.sources, &row);
    json_t *refused = json_object_get(json_object_get(j, "status"), "last_refused");
    assert_string_equal(json_string_value(json_object_get(refused, "tag")), "v1.0.0");
    assert_non_null(strstr(json_string_value(json_object_get(refused, "reason")), "0xE9"));
    assert_true(json_is_string(json_object_get(refused, "at")));
    json_decref(j);

    /* Dealt with: the next sync leaves it alone, and the status still says why. */
    res = sync_once(e, &row);
    assert_int_equal(res.refused, 0);
    assert_string_equal(row.last_refused.tag, "v1.0.0");

    /* A newer refusal replaces it: two assets match the pattern. */
    e->fake.image[0] = 0xE9;
    str_copy(e->fake.tag, sizeof(e->fake.tag), "v1.1.0");
    e->fake.asset_names[1] = "firmware-debug.bin";
    e->fake.asset_count = 2;
    res = sync_once(e, &row);
    assert_int_equal(res.refused, 1);
    assert_string_equal(row.last_refused.tag, "v1.1.0");
    assert_non_null(strstr(row.last_refused.detail, "both match"));
}

static void test_the_newest_tag_is_retried_with_backoff(void **state)
{
    struct env *e = *state;
    struct source_row row;
    str_copy(e->fake.tag, sizeof(e->fake.tag), "v1.0.0");
    e->fake.storage_status = 503;
    int64_t last_wait = 0;
    for (int attempt = 1; attempt <= 8; attempt++) {
        struct sources_sync_result res = sync_once(e, &row);
        char expect[64];
        snprintf(expect, sizeof(expect), "retrying tag v1.0.0 (attempt %d, next in ", attempt);
        assert_true(res.failed);
        assert_int_equal(res.refused, 0); /* never given up */
        assert_true(strncmp(row.state.last_error, expect, strlen(expect)) == 0);
        assert_non_null(strstr(row.state.last_error, "): storage answered 503"));
        assert_int_equal(row.state.failures, attempt);
        assert_string_equal(row.last_refused.tag, "");
        int64_t wait = row.state.next_poll_ms - row.state.last_poll_ms;
        assert_true(wait >= last_wait); /* growing, then capped */
        assert_true(wait <= (int64_t)LIMIT_GITHUB_RETRY_MAX_S * 1000 + 1000);
        last_wait = wait;
    }
    assert_true(last_wait >= (int64_t)LIMIT_GITHUB_RETRY_MAX_S * 1000 - 1000);
    assert_true(last_wait > (int64_t)e->base.config.github_poll_interval_s * 1000);

    /* A newer tag comes while storage is still down: it is the one retried now. */
    str_copy(e->fake.tag, sizeof(e->fake.tag), "v1.1.0");
    struct sources_sync_result res = sync_once(e, &row);
    assert_true(strncmp(row.state.last_error, "retrying tag v1.1.0 (attempt 1, next in ", 40) == 0);
    e->fake.storage_status = 0;
    res = sync_once(e, &row);
    assert_int_equal(res.ingested, 1);
    assert_false(res.failed);
    assert_int_equal(row.state.failures, 0);
    assert_string_equal(row.state.last_tag, "v1.1.0");
    struct release *rels;
    size_t n;
    struct reason why = {""};
    assert_int_equal(service_release_list(e->base.svc, "door", &rels, &n, &why), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rels[0].version, "1.1.0");
    release_list_free(rels, n);
}

static void test_the_status_keeps_our_words_only(void **state)
{
    struct env *e = *state;
    struct source_row row;
    str_copy(e->fake.tag, sizeof(e->fake.tag), "v1.0.0");
    static const struct {
        int status;
        const char *last_error;
    } cases[] = {
        {502, "the GitHub API failed: HTTP 502 (next try in 30 s)"},
        {401, "the GitHub API refused the request: HTTP 401 (next try in 60 s)"},
        {404, "the GitHub API refused the request: HTTP 404 (next try in 2 min)"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        e->fake.api_status = cases[i].status;
        struct sources_sync_result res = sync_once(e, &row);
        assert_true(res.failed);
        assert_string_equal(row.state.last_error, cases[i].last_error);
        assert_null(strstr(res.message, LEAK));
    }
    e->fake.api_status = 0;
    e->fake.storage_status = 500; /* its body is upstream text too */
    struct sources_sync_result res = sync_once(e, &row);
    assert_non_null(strstr(row.state.last_error, "storage answered 500"));
    json_t *j = sources_present(e->base.sources, &row);
    char *text = json_dumps(j, 0);
    assert_null(strstr(text, LEAK));
    assert_null(strstr(res.message, LEAK));
    free(text);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_refused_release_shows_in_the_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_newest_tag_is_retried_with_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_status_keeps_our_words_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
