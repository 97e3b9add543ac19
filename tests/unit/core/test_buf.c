/* Unit tests for src/core/buf.c: growth, the ceiling, detach. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_append_grows_and_terminates(void **state)
{
    struct buf b;
    buf_init(&b, 1000);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_append(&b, "ab", 2), 0);
    assert_int_equal(b.len, 200);
    assert_int_equal(b.data[200], 0);
    assert_int_equal(memcmp(b.data, "abab", 4), 0);
    buf_release(&b);
}

static void test_ceiling_is_exact(void **state)
{
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_append(&b, "x", 1), -E2BIG);
    assert_null(b.data);
    assert_true(b.failed);
    /* Once failed, every append fails: an ignored error cannot grow it. */
    assert_int_equal(buf_append(&b, "", 0), -E2BIG);
    buf_reset(&b);
    assert_int_equal(buf_append(&b, "ok", 2), 0);
    buf_release(&b);
}

static void test_printf_and_detach(void **state)
{
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_printf(&b, "%s=%d", "n", 42), 0);
    assert_string_equal((char *)b.data, "n=42");
    size_t len = 0;
    uint8_t *d = buf_detach(&b, &len);
    assert_int_equal(len, 4);
    assert_string_equal((char *)d, "n=42");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(d);
    assert_int_equal(buf_printf(&b, "%0100d", 1), -E2BIG);
    buf_release(&b);
    buf_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows_and_terminates),
        cmocka_unit_test(test_ceiling_is_exact),
        cmocka_unit_test(test_printf_and_detach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
