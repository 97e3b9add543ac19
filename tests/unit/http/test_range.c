/* Unit tests for src/http/range.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/util.h"
#include "http/range.h"

#define N RANGE_NONE
#define P RANGE_PARTIAL
#define U RANGE_UNSATISFIABLE

struct range_case {
    const char *header;
    uint64_t size;
    enum range_result result;
    uint64_t first, last; /* for RANGE_PARTIAL */
};

static void run_cases(const struct range_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct range_case *c = &cases[i];
        struct byte_range r = {12345, 54321};
        enum range_result got = range_parse(c->header, c->size, &r);
        if (got != c->result)
            fail_msg("case %zu \"%s\" size %llu: result %d, expected %d", i,
                     c->header ? c->header : "(null)", (unsigned long long)c->size, got, c->result);
        if (got == RANGE_PARTIAL) {
            if (r.first != c->first || r.last != c->last)
                fail_msg("case %zu \"%s\": [%llu, %llu], expected [%llu, %llu]", i, c->header,
                         (unsigned long long)r.first, (unsigned long long)r.last,
                         (unsigned long long)c->first, (unsigned long long)c->last);
        } else if (r.first != 12345 || r.last != 54321) {
            fail_msg("case %zu \"%s\": range written without RANGE_PARTIAL", i,
                     c->header ? c->header : "(null)");
        }
    }
}

static void test_single_ranges(void **state)
{
    static const struct range_case cases[] = {
        {"bytes=0-0", 100, P, 0, 0},      {"bytes=0-99", 100, P, 0, 99},
        {"bytes=10-19", 100, P, 10, 19},  {"bytes=99-99", 100, P, 99, 99},
        {"bytes=10-", 100, P, 10, 99},    {"bytes=0-", 100, P, 0, 99},
        {"bytes=99-", 100, P, 99, 99},    {"bytes=5-5", 100, P, 5, 5},
        {"bytes=007-010", 100, P, 7, 10}, /* leading zeros are digits too */
        {"bytes=0-0", 1, P, 0, 0},        {"bytes=0-", 1, P, 0, 0},
        {"bytes=-1", 1, P, 0, 0},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_clamping(void **state)
{
    static const struct range_case cases[] = {
        /* esp_https_ota's first request may end one past the last byte */
        {"bytes=10-100", 100, P, 10, 99},
        {"bytes=0-100", 100, P, 0, 99},
        {"bytes=65536-131072", 100000, P, 65536, 99999},
        {"bytes=0-18446744073709551615", 100, P, 0, 99},
        {"bytes=0-99999999999999999999999", 100, P, 0, 99}, /* beyond 2^64 */
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_suffix(void **state)
{
    static const struct range_case cases[] = {
        {"bytes=-10", 100, P, 90, 99}, {"bytes=-1", 100, P, 99, 99},
        {"bytes=-100", 100, P, 0, 99}, {"bytes=-500", 100, P, 0, 99},
        {"bytes=-99", 100, P, 1, 99},  {"bytes=-99999999999999999999999", 100, P, 0, 99},
        {"bytes=-0", 100, U, 0, 0},    {"bytes=-000", 100, U, 0, 0},
        {"bytes=-", 100, N, 0, 0},     {"bytes=--1", 100, N, 0, 0},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_unsatisfiable(void **state)
{
    static const struct range_case cases[] = {
        {"bytes=100-", 100, U, 0, 0},
        {"bytes=100-200", 100, U, 0, 0},
        {"bytes=1000-", 100, U, 0, 0},
        {"bytes=18446744073709551615-", 100, U, 0, 0},
        {"bytes=18446744073709551616-", 100, U, 0, 0}, /* beyond 2^64: past any body */
        {"bytes=18446744073709551615-", UINT64_MAX, U, 0, 0},
        /* an empty body satisfies nothing */
        {"bytes=0-0", 0, U, 0, 0},
        {"bytes=0-", 0, U, 0, 0},
        {"bytes=-1", 0, U, 0, 0},
        {"bytes=-0", 0, U, 0, 0},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_huge_sizes(void **state)
{
    static const struct range_case cases[] = {
        {"bytes=0-", UINT64_MAX, P, 0, UINT64_MAX - 1},
        {"bytes=-1", UINT64_MAX, P, UINT64_MAX - 1, UINT64_MAX - 1},
        {"bytes=18446744073709551614-", UINT64_MAX, P, UINT64_MAX - 1, UINT64_MAX - 1},
        {"bytes=0-18446744073709551615", UINT64_MAX, P, 0, UINT64_MAX - 1},
        {"bytes=-18446744073709551615", UINT64_MAX, P, 0, UINT64_MAX - 1},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_ignored(void **state)
{
    static const struct range_case cases[] = {
        {NULL, 100, N, 0, 0},
        {"", 100, N, 0, 0},
        {"bytes=", 100, N, 0, 0},
        {"bytes", 100, N, 0, 0},
        {"bytes=5-3", 100, N, 0, 0}, /* last < first: invalid, not unsatisfiable */
        {"bytes=5-3", 0, N, 0, 0},
        {"bytes=0-1,5-6", 100, N, 0, 0}, /* several ranges: whole body */
        {"bytes=0-1, 5-6", 100, N, 0, 0},
        {"bytes=-1,0-0", 100, N, 0, 0},
        {"bytes=0-1,junk", 100, N, 0, 0},
        {"items=0-1", 100, N, 0, 0},
        {"byte=0-1", 100, N, 0, 0},
        {"bytesx=0-1", 100, N, 0, 0},
        {"bytes 0-1", 100, N, 0, 0},
        {"bytes = 0-1", 100, N, 0, 0}, /* no whitespace around '=' in the grammar */
        {"bytes= 0 -1", 100, N, 0, 0}, /* nor inside a range-spec */
        {"bytes=0- 1", 100, N, 0, 0},
        {"bytes=0", 100, N, 0, 0},
        {"bytes=a-b", 100, N, 0, 0},
        {"bytes=0x10-", 100, N, 0, 0},
        {"bytes=+1-2", 100, N, 0, 0},
        {"bytes=1-2-3", 100, N, 0, 0},
        {"bytes=1-2;", 100, N, 0, 0},
        {"bytes=1-2\r\n", 100, N, 0, 0},
        {"bytes=,", 100, N, 0, 0},
        {"bytes=, ,", 100, N, 0, 0},
        {"bytes=-", 0, N, 0, 0},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_whitespace_and_case(void **state)
{
    static const struct range_case cases[] = {
        {"Bytes=0-0", 100, P, 0, 0},
        {"BYTES=1-2", 100, P, 1, 2},
        {" bytes=1-2", 100, P, 1, 2},
        {"bytes=1-2 ", 100, P, 1, 2},
        {"bytes=\t1-2\t", 100, P, 1, 2},
        {"bytes= 1-2", 100, P, 1, 2},
        /* empty list elements are allowed and ignored (RFC 9110 §5.6.1) */
        {"bytes=1-2,", 100, P, 1, 2},
        {"bytes=,1-2", 100, P, 1, 2},
        {"bytes= , 1-2 , ", 100, P, 1, 2},
        {"bytes=,,-5,,", 100, P, 95, 99},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

static void test_esp_https_ota_sequence(void **state)
{
    /* partial_http_download on a 150000-byte image with 64 KiB requests */
    static const struct range_case cases[] = {
        {"bytes=0-0", 150000, P, 0, 0},
        {"bytes=0-65535", 150000, P, 0, 65535},
        {"bytes=65536-131071", 150000, P, 65536, 131071},
        {"bytes=131072-", 150000, P, 131072, 149999},
        {"bytes=131072-150000", 150000, P, 131072, 149999},
        /* resumption after a reboot */
        {"bytes=4096-", 150000, P, 4096, 149999},
        {"bytes=150000-", 150000, U, 0, 0},
    };
    run_cases(cases, ARRAY_SIZE(cases));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_ranges),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_suffix),
        cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_huge_sizes),
        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_whitespace_and_case),
        cmocka_unit_test(test_esp_https_ota_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
