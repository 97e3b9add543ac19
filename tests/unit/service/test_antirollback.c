/*
 * Unit tests for src/service/antirollback.c: the SECURE_VERSION eFuse
 * field's width per chip (ESP-IDF's esp_efuse_table.csv of each), and the
 * judgement of a publish against the product's highest known values: no
 * bump, a bump refused with its figures, a bump confirmed with its
 * warning, a value the field cannot hold.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"
#include "service/antirollback.h"

static void test_budget_per_chip(void **state)
{
    static const struct {
        const char *chip;
        unsigned bits;
    } chips[] = {
        {"esp32", 32},   {"esp32s2", 16}, {"esp32s3", 16}, {"esp32c3", 16}, {"esp32c2", 4},
        {"esp32c6", 16}, {"esp32h2", 16}, {"esp32p4", 16}, {"esp32c5", 16},
    };
    for (size_t i = 0; i < sizeof(chips) / sizeof(chips[0]); i++) {
        uint16_t id;
        assert_int_equal(esp_chip_parse(chips[i].chip, &id), 0);
        if (antirollback_efuse_bits(id) != chips[i].bits)
            fail_msg("%s: %u bits, want %u", chips[i].chip, antirollback_efuse_bits(id),
                     chips[i].bits);
        /* Bumps left are the field's width less the highest known: none known, all of it. */
        struct secure_version_bump b;
        struct reason why = {""};
        assert_int_equal(antirollback_judge(id, 1, 0, false, 0, true, &b, &why), 0);
        assert_int_equal(b.left, chips[i].bits);
        assert_int_equal(b.left_after, chips[i].bits - 1);
    }
    assert_int_equal(antirollback_efuse_bits(1), 0); /* not a chip otad knows */
}

static void test_no_bump(void **state)
{
    struct secure_version_bump b;
    struct reason why = {""};
    /* The same secure_version as the earlier releases, or lower: nothing burnt, no flag needed. */
    assert_int_equal(antirollback_judge(0, 3, 3, true, 3, false, &b, &why), 0);
    assert_false(b.raised);
    assert_string_equal(b.warning, "");
    assert_int_equal(b.left, 29);
    assert_int_equal(antirollback_judge(0, 2, 3, false, 0, false, &b, &why), 0);
    assert_false(b.raised);
    assert_int_equal(b.left_after, 29); /* the field already holds 3 somewhere */
}

static void test_bump_refused_then_confirmed(void **state)
{
    uint16_t s3;
    assert_int_equal(esp_chip_parse("ESP32-S3", &s3), 0);
    struct secure_version_bump b;
    struct reason why = {""};
    /* Releases reached 2, devices reported up to 3; the release says 4. */
    assert_int_equal(antirollback_judge(s3, 4, 2, true, 3, false, &b, &why), -EDQUOT);
    assert_true(b.raised);
    assert_int_equal(b.from, 2);
    assert_int_equal(b.to, 4);
    assert_int_equal(b.efuse_bits, 16);
    assert_int_equal(b.left, 13);       /* 16 - max(2, 3) */
    assert_int_equal(b.left_after, 12); /* 16 - 4 */
    assert_string_equal(b.chip, "ESP32-S3");
    assert_non_null(strstr(why.text, "secure_version 2 -> 4"));
    assert_non_null(strstr(why.text, "irreversibly"));
    assert_non_null(strstr(why.text, "13 bumps left, 12 after"));
    assert_non_null(strstr(why.text, "releases 2, devices 3"));
    assert_non_null(strstr(why.text, "allow_secure_version_bump=true"));
    assert_non_null(strstr(why.text, "--allow-secure-version-bump"));
    assert_true(strlen(why.text) < sizeof(why.text) - 1); /* whole, not cut */

    why.text[0] = 0;
    assert_int_equal(antirollback_judge(s3, 4, 2, false, 0, true, &b, &why), 0);
    assert_true(b.raised);
    assert_string_equal(why.text, "");
    assert_non_null(strstr(b.warning, "secure_version 2 -> 4"));
    assert_non_null(strstr(b.warning, "14 bumps left, 12 after"));
    assert_non_null(strstr(b.warning, "devices none reported"));
}

static void test_beyond_the_field(void **state)
{
    uint16_t c2;
    assert_int_equal(esp_chip_parse("esp32c2", &c2), 0);
    struct secure_version_bump b;
    struct reason why = {""};
    assert_int_equal(antirollback_judge(c2, 4, 3, false, 0, true, &b, &why), 0);
    assert_int_equal(b.left_after, 0);
    assert_int_equal(antirollback_judge(c2, 5, 3, false, 0, true, &b, &why), -EINVAL);
    assert_non_null(strstr(why.text, "4-bit"));
    assert_int_equal(antirollback_judge(1, 1, 0, false, 0, true, &b, &why), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_per_chip),
        cmocka_unit_test(test_no_bump),
        cmocka_unit_test(test_bump_refused_then_confirmed),
        cmocka_unit_test(test_beyond_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
