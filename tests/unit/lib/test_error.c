/* Unit tests for lib/error.c: every code has its own message; the numbers never move. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "otac/error.h"

static void test_codes_are_stable(void **state)
{
    /* The ABI: these numbers are fixed forever. */
    assert_int_equal(OTAC_OK, 0);
    assert_int_equal(OTAC_E_INVAL, -1);
    assert_int_equal(OTAC_E_STATE, -2);
    assert_int_equal(OTAC_E_KEY_PARSE, -3);
    assert_int_equal(OTAC_E_KEY_UNSUPPORTED, -4);
    assert_int_equal(OTAC_E_KEY_FORMAT, -5);
    assert_int_equal(OTAC_E_TRUNCATED, -6);
    assert_int_equal(OTAC_E_SIG_LENGTH, -7);
    assert_int_equal(OTAC_E_SIG_BLOCK, -8);
    assert_int_equal(OTAC_E_SIG_MISMATCH, -9);
    assert_int_equal(OTAC_E_BUFFER, -10);
    assert_int_equal(OTAC_E_HTTP, -11);
    assert_int_equal(OTAC_E_STATUS, -12);
    assert_int_equal(OTAC_E_NO_SIZE, -13);
    assert_int_equal(OTAC_E_NO_SPACE, -14);
    assert_int_equal(OTAC_E_MAGIC, -15);
    assert_int_equal(OTAC_E_FLASH_SIZE, -16);
    assert_int_equal(OTAC_E_MD5, -17);
    assert_int_equal(OTAC_E_RESUME, -18);
    assert_int_equal(OTAC_E_CUT, -19);
    assert_int_equal(OTAC_E_IO, -20);
    assert_int_equal(OTAC_E_TIMEOUT, -21);
    assert_int_equal(OTAC_E_FLASH, -22);
    assert_int_equal(OTAC_E_RECORD, -23);
}

static void test_strerror(void **state)
{
    const char *seen[24];
    for (int code = 0; code >= OTAC_E_RECORD; code--) {
        const char *text = otac_strerror(code);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
        assert_string_not_equal(text, "unknown error");
        for (int j = 0; j > code; j--)
            assert_string_not_equal(seen[-j], text);
        seen[-code] = text;
    }
    static const int unknown[] = {1, 42, OTAC_E_RECORD - 1, -1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        assert_string_equal(otac_strerror(unknown[i]), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_are_stable),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
