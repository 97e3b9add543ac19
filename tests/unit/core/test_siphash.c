/* Unit tests for src/core/siphash.c: the reference test vectors of SipHash-2-4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/siphash.h"

/* Key 00 01 .. 0f, message 00 01 .. (len-1): the paper's appendix and the reference vectors. */
static uint64_t reference(size_t len)
{
    uint8_t msg[64] = {0};
    for (size_t i = 0; i < len; i++)
        msg[i] = (uint8_t)i;
    const uint64_t key[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    return siphash24(key, msg, len);
}

static void test_reference_vectors(void **state)
{
    assert_int_equal(reference(0), 0x726fdb47dd0e0e31ull);
    assert_int_equal(reference(1), 0x74f839c593dc67fdull);
    assert_int_equal(reference(8), 0x93f5f5799a932462ull);
    assert_int_equal(reference(15), 0xa129ca6149be45e5ull);
    assert_int_equal(reference(63), 0x958a324ceb064572ull);
}

static void test_key_changes_everything(void **state)
{
    const uint8_t msg[14] = {1, 2, 3};
    const uint64_t a[2] = {1, 2}, b[2] = {1, 3};
    assert_int_not_equal(siphash24(a, msg, sizeof(msg)), siphash24(b, msg, sizeof(msg)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_key_changes_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
