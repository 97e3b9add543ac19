/* Unit tests for src/sources/backoff.c: rate-limit headers and when to ask again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/limits.h"
#include "core/util.h"
#include "sources/backoff.h"

#define NOW 1700000000000LL /* ms */

static void feed(struct github_rate *rate, const char *line)
{
    github_rate_header(rate, line, strlen(line));
}

static void test_header_value(void **state)
{
    const char *v;
    size_t n;
    const char *line = "ETag: W/\"abc\"  \r\n";
    assert_true(github_header_value(line, strlen(line), "etag", &v, &n));
    assert_int_equal(n, 7);
    assert_memory_equal(v, "W/\"abc\"", 7);
    line = "x-ratelimit-remaining:57\r\n";
    assert_true(github_header_value(line, strlen(line), "X-RateLimit-Remaining", &v, &n));
    assert_int_equal(n, 2);
    line = "x-ratelimit-remaining-extra: 1\r\n";
    assert_false(github_header_value(line, strlen(line), "x-ratelimit-remaining", &v, &n));
    line = "etag\r\n";
    assert_false(github_header_value(line, strlen(line), "etag", &v, &n));
    line = "Retry-After:\r\n";
    assert_true(github_header_value(line, strlen(line), "retry-after", &v, &n));
    assert_int_equal(n, 0);
}

static void test_rate_headers(void **state)
{
    struct github_rate r;
    github_rate_init(&r);
    assert_true(r.limit == -1 && r.remaining == -1 && r.reset_s == -1 && r.retry_after_s == -1);
    feed(&r, "HTTP/1.1 200 OK\r\n");
    feed(&r, "x-ratelimit-limit: 60\r\n");
    feed(&r, "X-RateLimit-Remaining: 0\r\n");
    feed(&r, "x-ratelimit-reset: 1700003600\r\n");
    feed(&r, "x-ratelimit-used: 60\r\n");
    feed(&r, "Retry-After: 120\r\n");
    assert_int_equal(r.limit, 60);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_s, 1700003600);
    assert_int_equal(r.retry_after_s, 120);
    /* Malformed values leave what we had. */
    feed(&r, "x-ratelimit-remaining: -3\r\n");
    feed(&r, "x-ratelimit-limit: 6o\r\n");
    feed(&r, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
    feed(&r, "x-ratelimit-reset: 99999999999999999999999\r\n");
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.limit, 60);
    assert_int_equal(r.retry_after_s, 120);
    assert_int_equal(r.reset_s, 1700003600);
}

static struct github_rate rate(int64_t limit, int64_t remaining, int64_t reset_s,
                               int64_t retry_after_s)
{
    return (struct github_rate){limit, remaining, reset_s, retry_after_s};
}

static void test_rate_limited(void **state)
{
    struct github_rate none = rate(-1, -1, -1, -1);
    struct github_rate spent = rate(60, 0, NOW / 1000 + 600, -1);
    struct github_rate left = rate(60, 12, NOW / 1000 + 600, -1);
    struct github_rate secondary = rate(5000, 4000, -1, 60);
    assert_true(github_rate_limited(429, &none));
    assert_true(github_rate_limited(403, &spent));
    assert_true(github_rate_limited(403, &secondary));
    assert_false(github_rate_limited(403, &left)); /* a permission problem */
    assert_false(github_rate_limited(200, &spent));
    assert_false(github_rate_limited(500, &none));
}

static void test_not_before(void **state)
{
    const int64_t cap = NOW + (int64_t)LIMIT_GITHUB_WAIT_MAX_S * 1000;
    const int64_t minute = (int64_t)LIMIT_GITHUB_SECONDARY_WAIT_S * 1000;
    struct github_rate r;

    /* Budget spent: nothing before the reset (plus a second for clock skew), whatever the status.
     */
    r = rate(60, 0, NOW / 1000 + 600, -1);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 1), NOW + 601000);
    assert_int_equal(github_not_before_ms(200, &r, NOW, 0), NOW + 601000);
    assert_int_equal(github_not_before_ms(304, &r, NOW, 0), NOW + 601000);
    /* A reset already past (clocks differ): a minute. */
    r = rate(60, 0, NOW / 1000 - 10, -1);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 1), NOW + minute);
    /* A reset a day ahead is not believed beyond the cap. */
    r = rate(60, 0, NOW / 1000 + 86400, -1);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 1), cap);

    /* Retry-After wins, on 403/429 and on 5xx. */
    r = rate(-1, -1, -1, 90);
    assert_int_equal(github_not_before_ms(429, &r, NOW, 1), NOW + 90000);
    assert_int_equal(github_not_before_ms(503, &r, NOW, 1), NOW + 90000);
    r = rate(-1, -1, -1, 1000000);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 1), cap);

    /* Absurd values from a hostile or broken API are not believed: no overflow, no lifted gate. */
    struct github_rate huge = rate(-1, -1, -1, -1);
    feed(&huge, "Retry-After: 9223372036854775");
    feed(&huge, "x-ratelimit-reset: 9223372036854775");
    assert_true(huge.retry_after_s < 0);
    assert_true(huge.reset_s < 0);
    feed(&huge, "Retry-After: 4102531200");
    assert_int_equal(github_not_before_ms(429, &huge, NOW, 1), cap);

    /* A 403/429 that names no time: a minute, doubling with each consecutive failure, capped. */
    r = rate(-1, -1, -1, -1);
    assert_int_equal(github_not_before_ms(429, &r, NOW, 1), NOW + minute);
    assert_int_equal(github_not_before_ms(429, &r, NOW, 2), NOW + 2 * minute);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 3), NOW + 4 * minute);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 7), NOW + 64 * minute);
    assert_int_equal(github_not_before_ms(403, &r, NOW, 50), NOW + 64 * minute); /* < the cap */
    assert_true(NOW + 64 * minute <= cap);

    /* Nothing to wait for. */
    r = rate(60, 41, NOW / 1000 + 600, -1);
    assert_int_equal(github_not_before_ms(200, &r, NOW, 0), 0);
    assert_int_equal(github_not_before_ms(304, &r, NOW, 0), 0);
    assert_int_equal(github_not_before_ms(500, &r, NOW, 3),
                     0); /* a 5xx is a failure, not a limit */
    r = rate(-1, -1, -1, 30);
    assert_int_equal(github_not_before_ms(200, &r, NOW, 0),
                     0); /* Retry-After on a 200 means nothing */
}

static void test_retry_at(void **state)
{
    const int64_t base = (int64_t)LIMIT_GITHUB_RETRY_BASE_S * 1000;
    const int64_t cap = (int64_t)LIMIT_GITHUB_RETRY_MAX_S * 1000;
    assert_int_equal(github_retry_at_ms(NOW, 1, 300), NOW + base);
    assert_int_equal(github_retry_at_ms(NOW, 2, 300), NOW + 2 * base);
    assert_int_equal(github_retry_at_ms(NOW, 3, 300), NOW + 4 * base);
    assert_int_equal(github_retry_at_ms(NOW, 4, 300), NOW + 8 * base);
    /* Past the poll interval: a failing API or storage host is not asked every interval. */
    assert_int_equal(github_retry_at_ms(NOW, 5, 300), NOW + 16 * base);
    assert_int_equal(github_retry_at_ms(NOW, 6, 300), NOW + 32 * base);
    assert_int_equal(github_retry_at_ms(NOW, 7, 300), NOW + cap); /* 64 x 30 s is past the cap */
    assert_int_equal(github_retry_at_ms(NOW, 1000, 300), NOW + cap);
    assert_int_equal(github_retry_at_ms(NOW, INT64_MAX, 300), NOW + cap); /* no overflow */
    /* A short interval starts shorter, and still backs off. */
    assert_int_equal(github_retry_at_ms(NOW, 1, 5), NOW + 5000);
    assert_int_equal(github_retry_at_ms(NOW, 2, 5), NOW + 10000);
    assert_int_equal(github_retry_at_ms(NOW, 4, 2), NOW + 16000);
    assert_int_equal(github_retry_at_ms(NOW, 30, 2), NOW + cap);
    /* A long interval retries sooner than the next regular poll. */
    assert_int_equal(github_retry_at_ms(NOW, 1, 86400), NOW + base);
    assert_int_equal(github_retry_at_ms(NOW, 40, 86400), NOW + cap);
    /* No interval (0): the base. */
    assert_int_equal(github_retry_at_ms(NOW, 1, 0), NOW + base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_value), cmocka_unit_test(test_rate_headers),
        cmocka_unit_test(test_rate_limited), cmocka_unit_test(test_not_before),
        cmocka_unit_test(test_retry_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
