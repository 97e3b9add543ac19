/* Unit tests for src/core/version.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/util.h"
#include "core/version.h"

static void test_is_semver(void **state)
{
    static const struct {
        const char *in;
        bool semver;
    } cases[] = {
        /* accepted */
        {"1", true},
        {"1.2", true},
        {"1.2.3", true},
        {"0.0.0", true},
        {"v1.0.2", true},
        {"V1.0.2", true},
        {"v2", true},
        {"10.20.30", true},
        {"1.0.0-alpha", true},
        {"1.0.0-alpha.1", true},
        {"1.0.0-0.3.7", true},
        {"1.0.0-x.7.z.92", true},
        {"1.0.0-x-y-z.--a", true},
        {"1.0.0-rc-1", true},
        {"1.0.0-0a", true},
        {"1.0.0+20130313144700", true},
        {"1.0.0-beta+exp.sha.5114f85", true},
        {"1.0.0+21AF26D3----117B344092BD", true},
        {"1.0.0+001", true}, /* build metadata may have leading zeros */
        {"1.2-rc1", true},
        {"20240105", true},
        {"2024.1.5", true},
        {"18446744073709551615.0.0", true},
        {"1.0.0-18446744073709551615", true},
        {"v1.2.3-dirty", true},
        /* refused */
        {NULL, false},
        {"", false},
        {"v", false},
        {"V", false},
        {"vv1", false},
        {"x1.0", false},
        {"DOOR-7-g14f53a19", false},
        {"2024-01-05", false},               /* a date: "01-05" is digits and hyphens */
        {"2024-1-5", false},                 /* same, without zero padding */
        {"2024.01.05", false},               /* leading zeros */
        {"v1.2.3-4-g14f53a19", false},       /* git describe */
        {"v1.2.3-4-g14f53a19-dirty", false}, /* git describe --dirty */
        {"1.2.3-0-gabcd", false},
        {"1.0.0-1-2", false},
        {"01", false},
        {"1.02", false},
        {"1.0.00", false},
        {"1.2.3.4", false},
        {"1.", false},
        {"1..2", false},
        {".1", false},
        {"1.0.0-", false},
        {"1.0.0+", false},
        {"1.0.0-+x", false},
        {"1.0.0-a..b", false},
        {"1.0.0-a.", false},
        {"1.0.0-.a", false},
        {"1.0.0-01", false}, /* numeric pre-release identifier with a leading zero */
        {"1.0.0-a_b", false},
        {"1.0.0+a+b", false},
        {"1.0.0+a..b", false},
        {"1.0.0+a b", false},
        {" 1.0.0", false},
        {"1.0.0 ", false},
        {"1.0.0\n", false},
        {"-1.0.0", false},
        {"+1.0.0", false},
        {"1.0.0-\xc3\xa9", false},
        {"18446744073709551616", false},       /* beyond uint64 */
        {"1.99999999999999999999.0", false},   /* beyond uint64 */
        {"1.0.0-18446744073709551616", false}, /* numeric identifier beyond uint64 */
        {"latest", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (version_is_semver(cases[i].in) != cases[i].semver)
            fail_msg("case %zu \"%s\": expected %s", i, cases[i].in ? cases[i].in : "(null)",
                     cases[i].semver ? "semver" : "not semver");
    }
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static void test_compare(void **state)
{
    static const struct {
        const char *a;
        const char *b;
        int cmp;
    } cases[] = {
        {"1.0.2", "v1.0.2", 0},
        {"1", "1.0.0", 0},
        {"1.0", "1.0.0", 0},
        {"v1", "V1.0", 0},
        {"1.0.0+build.1", "1.0.0+build.2", 0},
        {"1.0.0-rc.1+a", "1.0.0-rc.1+b", 0},
        {"1.0.0", "1.0.1", -1},
        {"1.0.9", "1.0.10", -1},
        {"1.9.0", "1.10.0", -1},
        {"1.10.0", "2.0.0", -1},
        {"2", "1.99.99", 1},
        {"0.0.1", "0.0.0", 1},
        {"18446744073709551615", "18446744073709551614", 1},
        /* semver 2.0 §11 example chain, each below the next */
        {"1.0.0-alpha", "1.0.0-alpha.1", -1},
        {"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
        {"1.0.0-alpha.beta", "1.0.0-beta", -1},
        {"1.0.0-beta", "1.0.0-beta.2", -1},
        {"1.0.0-beta.2", "1.0.0-beta.11", -1},
        {"1.0.0-beta.11", "1.0.0-rc.1", -1},
        {"1.0.0-rc.1", "1.0.0", -1},
        /* pre-release details */
        {"1.0.0", "1.0.0-rc.1", 1},
        {"1.0.0-2", "1.0.0-10", -1},
        {"1.0.0-10", "1.0.0-a", -1}, /* numeric < alphanumeric */
        {"1.0.0-a", "1.0.0-10", 1},
        {"1.0.0-Z", "1.0.0-a", -1}, /* ASCII order */
        {"1.0.0-a", "1.0.0-aa", -1},
        {"1.0.0-ab", "1.0.0-b", -1},
        {"1.0.0-rc.1", "1.0.0-rc.1", 0},
        {"1.0.0-rc.1.0", "1.0.0-rc.1", 1},
        {"1.0.0-0", "1.0.0-0a", -1},
        {"1.0.0-18446744073709551615", "1.0.0-18446744073709551614", 1},
        {"1.0.0-alpha", "0.9.9", 1},
        {"1.2-rc1", "1.2.0", -1},
        {"v1.2.3-dirty", "1.2.3", -1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int c = 99;
        assert_int_equal(version_compare(cases[i].a, cases[i].b, &c), 0);
        if (sign(c) != cases[i].cmp)
            fail_msg("case %zu: \"%s\" vs \"%s\" gave %d, expected %d", i, cases[i].a, cases[i].b,
                     c, cases[i].cmp);
        /* and the other way round */
        assert_int_equal(version_compare(cases[i].b, cases[i].a, &c), 0);
        if (sign(c) != -cases[i].cmp)
            fail_msg("case %zu reversed: \"%s\" vs \"%s\" gave %d", i, cases[i].b, cases[i].a, c);
    }
}

static void test_compare_refuses_non_semver(void **state)
{
    static const char *const bad[] = {
        "DOOR-7-g14f53a19", "2024-01-05", "", "v1.2.3-4-g14f53a19", "1.0.0-01", "latest",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int c = 1234;
        assert_int_equal(version_compare(bad[i], "1.0.0", &c), -EINVAL);
        assert_int_equal(c, 1234); /* nothing written */
        assert_int_equal(version_compare("1.0.0", bad[i], &c), -EINVAL);
        assert_int_equal(c, 1234);
    }
    int c = 1234;
    assert_int_equal(version_compare(NULL, "1.0.0", &c), -EINVAL);
    assert_int_equal(version_compare("1.0.0", NULL, &c), -EINVAL);
    assert_int_equal(c, 1234);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_semver),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_compare_refuses_non_semver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
