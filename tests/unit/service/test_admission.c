/*
 * Unit tests for src/service/admission.c: the per-address allowance in
 * one-minute windows (IPv4, IPv6 by /64, IPv4-mapped as IPv4, unparseable
 * addresses as one), the per-product maximum from a count the caller
 * supplies, refusals that count nothing, and the bounded address table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "service/admission.h"

static struct admission *limiter(uint64_t per_addr, uint64_t per_product, size_t max_addrs)
{
    struct admission_limits limits = {.new_per_addr_per_minute = per_addr,
                                      .max_per_product = per_product};
    struct admission *a;
    assert_int_equal(admission_new(&limits, max_addrs, &a), 0);
    return a;
}

static void test_per_address_allowance_per_window(void **state)
{
    struct admission *a = limiter(3, 0, 100);
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(admission_check(a, 1, "192.0.2.1", t + i), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "192.0.2.1", t + 10), ADMISSION_ADDR_RATE);
    /* Any product: the allowance is the address's. */
    assert_int_equal(admission_check(a, 2, "192.0.2.1", t + 11), ADMISSION_ADDR_RATE);
    /* Other addresses are counted apart. */
    assert_int_equal(admission_check(a, 1, "192.0.2.2", t + 12), ADMISSION_OK);
    /* Still the same window one millisecond before its end; a new one after. */
    assert_int_equal(admission_check(a, 1, "192.0.2.1", t + ADMISSION_WINDOW_MS - 1),
                     ADMISSION_ADDR_RATE);
    assert_int_equal(admission_check(a, 1, "192.0.2.1", t + ADMISSION_WINDOW_MS), ADMISSION_OK);
    admission_free(a);
}

static void test_address_keys(void **state)
{
    struct admission *a = limiter(2, 0, 100);
    /* One IPv6 /64 is one address. */
    assert_int_equal(admission_check(a, 1, "2001:db8:1:2::1", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "2001:db8:1:2:ffff::9", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "2001:db8:1:2::77", 0), ADMISSION_ADDR_RATE);
    assert_int_equal(admission_check(a, 1, "2001:db8:1:3::1", 0), ADMISSION_OK);
    /* An IPv4-mapped address is its IPv4 address. */
    assert_int_equal(admission_check(a, 1, "198.51.100.4", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "::ffff:198.51.100.4", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "198.51.100.4", 0), ADMISSION_ADDR_RATE);
    /* Whatever does not parse shares one allowance. */
    assert_int_equal(admission_check(a, 1, "", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "not an address", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 1, "unix:/run/otad", 0), ADMISSION_ADDR_RATE);
    admission_free(a);
}

static void test_product_maximum(void **state)
{
    struct admission *a = limiter(0, 3, 100);
    assert_true(admission_needs_count(a, 7));
    /* Not counted yet: not capped (the caller reads the count first). */
    assert_int_equal(admission_check(a, 7, "192.0.2.1", 0), ADMISSION_OK);
    assert_int_equal(admission_set_devices(a, 7, 1), 0);
    assert_false(admission_needs_count(a, 7));
    assert_true(admission_needs_count(a, 8));
    assert_int_equal(admission_check(a, 7, "192.0.2.1", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 7, "192.0.2.2", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 7, "192.0.2.3", 0), ADMISSION_PRODUCT_FULL);
    /* Another product has its own count. */
    assert_int_equal(admission_set_devices(a, 8, 0), 0);
    assert_int_equal(admission_check(a, 8, "192.0.2.3", 0), ADMISSION_OK);
    /* After a failed commit the counts are read again. */
    admission_forget_counts(a);
    assert_true(admission_needs_count(a, 7));
    assert_int_equal(admission_set_devices(a, 7, 2), 0);
    assert_int_equal(admission_check(a, 7, "192.0.2.3", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 7, "192.0.2.3", 0), ADMISSION_PRODUCT_FULL);
    admission_free(a);

    /* Without a maximum no count is needed. */
    a = limiter(0, 0, 100);
    assert_false(admission_needs_count(a, 7));
    admission_free(a);
}

static void test_refusal_counts_nothing(void **state)
{
    struct admission *a = limiter(2, 3, 100);
    assert_int_equal(admission_set_devices(a, 1, 3), 0);
    assert_int_equal(admission_set_devices(a, 2, 0), 0);
    /* Refused for the product: the address keeps its allowance. */
    assert_int_equal(admission_check(a, 1, "192.0.2.1", 0), ADMISSION_PRODUCT_FULL);
    assert_int_equal(admission_check(a, 1, "192.0.2.1", 0), ADMISSION_PRODUCT_FULL);
    assert_int_equal(admission_check(a, 2, "192.0.2.1", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 2, "192.0.2.1", 0), ADMISSION_OK);
    /* Refused for the address: the product keeps its room. */
    assert_int_equal(admission_check(a, 2, "192.0.2.1", 0), ADMISSION_ADDR_RATE);
    assert_int_equal(admission_check(a, 2, "192.0.2.9", 0), ADMISSION_OK);
    assert_int_equal(admission_check(a, 2, "192.0.2.9", 0), ADMISSION_PRODUCT_FULL);
    admission_free(a);
}

static void test_address_table_is_bounded(void **state)
{
    /* 200 addresses fit (the table grows past its first size); the 201st waits for the window. */
    struct admission *a = limiter(1, 0, 200);
    char addr[32];
    for (int i = 0; i < 200; i++) {
        snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 250, i % 250 + 1);
        assert_int_equal(admission_check(a, 1, addr, 5), ADMISSION_OK);
    }
    for (int i = 0; i < 200; i++) { /* each is still known, and spent */
        snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 250, i % 250 + 1);
        assert_int_equal(admission_check(a, 1, addr, 6), ADMISSION_ADDR_RATE);
    }
    assert_int_equal(admission_check(a, 1, "10.9.9.9", 7), ADMISSION_ADDR_TABLE);
    assert_int_equal(admission_check(a, 1, "10.9.9.9", 5 + ADMISSION_WINDOW_MS), ADMISSION_OK);
    admission_free(a);
}

static void test_unlimited_and_invalid(void **state)
{
    struct admission *a = limiter(0, 0, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(admission_check(a, 1, "192.0.2.1", i), ADMISSION_OK);
    admission_free(a);
    admission_free(NULL);
    struct admission_limits limits = {0};
    assert_int_equal(admission_new(&limits, 0, &a), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_address_allowance_per_window),
        cmocka_unit_test(test_address_keys),
        cmocka_unit_test(test_product_maximum),
        cmocka_unit_test(test_refusal_counts_nothing),
        cmocka_unit_test(test_address_table_is_bounded),
        cmocka_unit_test(test_unlimited_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
