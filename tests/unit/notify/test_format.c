/* Unit tests for src/notify/format.c: patterns, URLs, bodies, signature, retry schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"
#include "notify/format.h"

static struct event make_event(enum event_kind kind, const char *product, const char *data)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.at_ms = 1795935480000LL; /* 2026-11-29T06:58:00Z */
    str_copy(ev.product, sizeof(ev.product), product);
    str_copy(ev.data, sizeof(ev.data), data);
    return ev;
}

static void test_patterns_join_and_match(void **state)
{
    char out[256];
    struct reason why = {""};
    const char *ok[] = {"rollout.*", "release.published", "source.failing"};
    assert_int_equal(notify_patterns_join(ok, 3, out, sizeof(out), &why), 0);
    assert_string_equal(out, "rollout.*,release.published,source.failing");
    assert_true(notify_patterns_match(out, "rollout.halted"));
    assert_true(notify_patterns_match(out, "rollout.completed"));
    assert_true(notify_patterns_match(out, "release.published"));
    assert_true(notify_patterns_match(out, "source.failing"));
    assert_false(notify_patterns_match(out, "source.recovered"));
    assert_false(notify_patterns_match(out, "ping"));
    assert_false(notify_patterns_match(out, "rollout")); /* a family needs its member */
    const char *all[] = {"*"};
    assert_int_equal(notify_patterns_join(all, 1, out, sizeof(out), &why), 0);
    assert_true(notify_patterns_match(out, "source.recovered"));
    assert_false(notify_patterns_match("", "rollout.halted"));
}

static void test_patterns_refused(void **state)
{
    char out[256];
    struct reason why = {""};
    const char *cases[][2] = {
        {"rollout.paused", NULL},
        {"ping", NULL},
        {"rollout", NULL},
        {"nothing.*", NULL},
        {".*", NULL},
        {"", NULL},
        {"*.*", NULL},
        {"Rollout.halted", NULL},
        {"rollout.*", "rollout.*"}, /* twice */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cases[i][1] ? 2 : 1;
        why.text[0] = 0;
        assert_int_equal(notify_patterns_join(cases[i], n, out, sizeof(out), &why), -EINVAL);
        assert_true(why.text[0] != 0);
    }
    assert_int_equal(notify_patterns_join(NULL, 0, out, sizeof(out), &why), -EINVAL);
    const char *many[LIMIT_NOTIFY_PATTERNS + 1];
    for (size_t i = 0; i <= LIMIT_NOTIFY_PATTERNS; i++)
        many[i] = "*";
    assert_int_equal(notify_patterns_join(many, LIMIT_NOTIFY_PATTERNS + 1, out, sizeof(out), &why),
                     -EINVAL);
}

static void test_url_check(void **state)
{
    struct reason why = {""};
    const char *good[] = {"http://127.0.0.1:8000/hook", "https://hooks.slack.com/services/T/B/X",
                          "https://example.com", "http://[::1]:9/x?y=1"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(notify_url_check(good[i], &why), 0);
    const char *bad[] = {"ftp://example.com/x",
                         "file:///etc/passwd",
                         "gopher://x",
                         "https://",
                         "http:///path",
                         "example.com/hook",
                         "https://exa mple.com",
                         "https://u:p@host/x",
                         "HTTPS://host",
                         "http://host/\x01",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why.text[0] = 0;
        assert_int_equal(notify_url_check(bad[i], &why), -EINVAL);
        assert_true(why.text[0] != 0);
    }
    char longer[LIMIT_NOTIFY_URL_BYTES + 2];
    memset(longer, 'a', sizeof(longer) - 1);
    memcpy(longer, "https://", 8);
    longer[sizeof(longer) - 1] = 0;
    assert_int_equal(notify_url_check(longer, &why), -EINVAL);
}

static void test_uuid_form(void **state)
{
    char a[37], b[37];
    assert_int_equal(notify_uuid(a), 0);
    assert_int_equal(notify_uuid(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_true(hex_digit_value(a[i]) >= 0 && !(a[i] >= 'A' && a[i] <= 'F'));
    }
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
}

static void test_json_body(void **state)
{
    struct event ev = make_event(EVENT_RELEASE_PUBLISHED, "sensor",
                                 "{\"version\":\"2.4.0\",\"forms\":[\"plain\",\"gzip\"]}");
    char *body = notify_body_json("0b6f3c3e-5d1a-4f8e-9a51-3f1d2c7e8a90", &ev);
    assert_non_null(body);
    assert_string_equal(body, "{\"id\":\"0b6f3c3e-5d1a-4f8e-9a51-3f1d2c7e8a90\",\"event\":"
                              "\"release.published\",\"at\":\"2026-11-29T06:58:00Z\",\"product\":"
                              "\"sensor\",\"data\":{\"version\":\"2.4.0\",\"forms\":[\"plain\","
                              "\"gzip\"]}}");
    free(body);
    struct event none = make_event(EVENT_PING, "", "{}");
    body = notify_body_json("u", &none);
    assert_non_null(strstr(body, "\"product\":null"));
    free(body);
    struct event broken = make_event(EVENT_PING, "", "[1]");
    assert_null(notify_body_json("u", &broken)); /* data must be an object */
}

static void slack_is(enum event_kind kind, const char *product, const char *data, const char *want)
{
    struct event ev = make_event(kind, product, data);
    char text[512];
    notify_slack_text(&ev, text, sizeof(text));
    assert_string_equal(text, want);
}

static void test_slack_text(void **state)
{
    slack_is(EVENT_ROLLOUT_HALTED, "sensor",
             "{\"rollout\":12,\"version\":\"2.4.0\",\"stage\":1,\"reason\":\"x\","
             "\"counters\":{\"offered\":40,\"failed\":9}}",
             ":warning: rollout 12 of sensor 2.4.0 halted at stage 1: 9 of 40 failed (22 %)");
    slack_is(EVENT_ROLLOUT_HALTED, "sensor",
             "{\"rollout\":3,\"version\":\"1.0\",\"stage\":2,\"reason\":\"5 silent > 2\","
             "\"counters\":{\"offered\":40,\"failed\":0}}",
             ":warning: rollout 3 of sensor 1.0 halted at stage 2: 5 silent &gt; 2");
    slack_is(EVENT_ROLLOUT_PROMOTED, "sensor",
             "{\"rollout\":12,\"version\":\"2.4.0\",\"stage\":2,\"stages\":4,\"percent\":10.0}",
             ":arrow_forward: rollout 12 of sensor 2.4.0 promoted to stage 2 of 4 (10 %)");
    slack_is(EVENT_ROLLOUT_COMPLETED, "sensor",
             "{\"rollout\":12,\"version\":\"2.4.0\",\"channel\":\"stable\"}",
             ":white_check_mark: rollout 12 of sensor 2.4.0 completed: channel stable runs it");
    slack_is(EVENT_RELEASE_PUBLISHED, "sensor",
             "{\"version\":\"2.4.0\",\"channel\":\"stable\",\"source\":\"github\","
             "\"forms\":[\"plain\",\"signed\",\"gzip\"]}",
             ":package: sensor 2.4.0 published on stable from github (plain, signed, gzip)");
    slack_is(EVENT_SOURCE_FAILING, "door",
             "{\"repository\":\"acme/door-fw\",\"error\":\"the GitHub API failed: HTTP 503\"}",
             ":x: source acme/door-fw of door is failing: the GitHub API failed: HTTP 503");
    slack_is(EVENT_SOURCE_RECOVERED, "door", "{\"repository\":\"acme/door-fw\"}",
             ":white_check_mark: source acme/door-fw of door works again");
    slack_is(EVENT_PING, "", "{\"receiver\":\"a<b&c\"}",
             ":wave: otad test notification to a&lt;b&amp;c");
    /* Cut, never overflowing, when the room is short. */
    struct event ev = make_event(EVENT_PING, "", "{\"receiver\":\"ops\"}");
    char small[8];
    notify_slack_text(&ev, small, sizeof(small));
    assert_string_equal(small, ":wave: ");
    char *body = notify_body_slack(&ev);
    assert_string_equal(body, "{\"text\":\":wave: otad test notification to ops\"}");
    free(body);
    /* A line cut inside a two-byte character still makes a body: one of two alignments is. */
    static const char *const repositories[] = {"a/b", "a/bc"};
    for (size_t k = 0; k < ARRAY_SIZE(repositories); k++) {
        char data[3000];
        int n =
            snprintf(data, sizeof(data), "{\"repository\":\"%s\",\"error\":\"", repositories[k]);
        for (int i = 0; i < 1400; i++, n += 2)
            memcpy(data + n, "\xc3\xa9", 2);
        snprintf(data + n, sizeof(data) - (size_t)n, "\"}");
        struct event failing = make_event(EVENT_SOURCE_FAILING, "door", data);
        body = notify_body_slack(&failing);
        assert_non_null(body);
        free(body);
    }
}

/* GitHub's own example (docs: validating webhook deliveries): the same HMAC, the same form. */
static void test_signature(void **state)
{
    char sig[72];
    const char *body = "Hello, World!";
    notify_signature("It's a Secret to Everybody", body, strlen(body), sig);
    assert_string_equal(sig,
                        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    notify_signature("It's a Secret to Everybody", "Hello, World?", 13, sig);
    assert_string_not_equal(
        sig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

static void test_backoff_schedule(void **state)
{
    /* 10 s, 30 s, 1 min, 5 min, 15 min, 1 h, then 1 h: without jitter. */
    const int64_t want[] = {10000, 30000, 60000, 300000, 900000, 3600000, 3600000, 3600000};
    for (int64_t a = 1; a <= 8; a++)
        assert_int_equal(notify_backoff_ms(10000, a, 0), want[a - 1]);
    /* Jitter: up to a quarter more, never less. */
    assert_int_equal(notify_backoff_ms(10000, 1, UINT32_MAX), 12500);
    assert_int_equal(notify_backoff_ms(10000, 2, UINT32_MAX / 2), 30000 + 3749);
    /* The base scales the whole schedule (tests use a short one). */
    assert_int_equal(notify_backoff_ms(100, 1, 0), 100);
    assert_int_equal(notify_backoff_ms(100, 3, 0), 600);
    assert_int_equal(notify_backoff_ms(10000, 0, 0), 10000); /* defensive: as the first */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_join_and_match),
        cmocka_unit_test(test_patterns_refused),
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_uuid_form),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_slack_text),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_backoff_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
