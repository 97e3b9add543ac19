/* Unit tests for lib/version.c: the library reports the version its header gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "otac/version.h"

static void test_version_matches_the_header(void **state)
{
    assert_int_equal(otac_version(), OTAC_VERSION_HEX);
    assert_int_equal(otac_version() >> 16, OTAC_VERSION_MAJOR);
    assert_int_equal((otac_version() >> 8) & 0xff, OTAC_VERSION_MINOR);
    assert_int_equal(otac_version() & 0xff, OTAC_VERSION_PATCH);
    assert_string_equal(otac_version_string(), OTAC_VERSION_STRING);

    char expected[32];
    snprintf(expected, sizeof(expected), "%d.%d.%d", OTAC_VERSION_MAJOR, OTAC_VERSION_MINOR,
             OTAC_VERSION_PATCH);
    assert_string_equal(otac_version_string(), expected);
    assert_ptr_equal(otac_version_string(), otac_version_string());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_matches_the_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
