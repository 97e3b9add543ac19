/* Unit tests for sim/latency.c: exact small values, 3.2 % buckets above, percentiles by rank. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "latency.h"

static struct latency_histogram h;

static void test_empty_is_zero(void **state)
{
    latency_init(&h);
    assert_int_equal(latency_percentile(&h, 50), 0);
    assert_int_equal(latency_percentile(&h, 99), 0);
}

/* Under 64 us every value has its own bucket: percentiles are exact, by rank. */
static void test_small_values_exact(void **state)
{
    latency_init(&h);
    for (uint64_t v = 1; v <= 50; v++)
        latency_add(&h, v);
    assert_int_equal(h.count, 50);
    assert_int_equal(latency_percentile(&h, 50), 25);  /* rank 25 */
    assert_int_equal(latency_percentile(&h, 99), 50);  /* rank ceil(49.5) = 50 */
    assert_int_equal(latency_percentile(&h, 2), 1);    /* rank 1 */
    assert_int_equal(latency_percentile(&h, 0.1), 1);  /* at least rank 1 */
    assert_int_equal(latency_percentile(&h, 100), 50); /* the largest */
}

/* One value at a time: its percentile is the upper end of its bucket, never below it and
 * within 1/32 above it. */
static void test_bucket_bounds(void **state)
{
    static const uint64_t values[] = {
        0,    31,   32,   63,     64,     65,      100,        1000,
        1023, 1024, 4999, 123456, 999999, 8000000, 1ull << 39, (1ull << 40) - 1};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        latency_init(&h);
        latency_add(&h, values[i]);
        uint64_t p = latency_percentile(&h, 50);
        assert_true(p >= values[i]);
        assert_true(p - values[i] <= values[i] / 32);
    }
    latency_init(&h);
    latency_add(&h, 64);
    assert_int_equal(latency_percentile(&h, 50), 65); /* 64 and 65 share a bucket */
    latency_init(&h);
    latency_add(&h, 1000);
    assert_int_equal(latency_percentile(&h, 50), 1007); /* 992..1007 */
}

/* Past 2^40 us everything lands in the last bucket, counted, not lost. */
static void test_huge_values_in_last_bucket(void **state)
{
    latency_init(&h);
    latency_add(&h, UINT64_MAX);
    latency_add(&h, 1ull << 40);
    assert_int_equal(h.count, 2);
    assert_int_equal(h.buckets[LATENCY_BUCKETS - 1], 2);
    assert_int_equal(latency_percentile(&h, 50), (1ull << 40) - 1);
}

/* A realistic mix: 98 fast answers, 2 slow ones. p50 is fast, p99 slow, each within 3.2 %. */
static void test_percentiles_of_a_mix(void **state)
{
    latency_init(&h);
    for (int i = 0; i < 98; i++)
        latency_add(&h, 300 + (uint64_t)i);
    latency_add(&h, 40000);
    latency_add(&h, 90000);
    uint64_t p50 = latency_percentile(&h, 50); /* rank 50: 349 */
    assert_true(p50 >= 349 && p50 <= 349 + 349 / 32);
    uint64_t p99 = latency_percentile(&h, 99); /* rank 99: 40000 */
    assert_true(p99 >= 40000 && p99 <= 40000 + 40000 / 32);
    assert_true(latency_percentile(&h, 100) >= 90000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_is_zero),
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_bucket_bounds),
        cmocka_unit_test(test_huge_values_in_last_bucket),
        cmocka_unit_test(test_percentiles_of_a_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
