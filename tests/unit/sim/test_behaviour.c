/* Unit tests for sim/behaviour.c: the --fail grammar, its refusals, and the draws' shares. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "behaviour.h"

static void test_rules_parse(void **state)
{
    struct behaviour b;
    char err[200];
    behaviour_init(&b, 1);
    assert_int_equal(behaviour_add(&b, "2.4.0:boot:20%:chip=1M", err, sizeof(err)), 0);
    assert_int_equal(behaviour_add(&b, "*:brick:0.5", err, sizeof(err)), 0);
    assert_int_equal(behaviour_add(&b, "3.0.0:cut:100%:chip=4M,client=esp32", err, sizeof(err)), 0);
    assert_int_equal(behaviour_add(&b, "*:space:2.25%", err, sizeof(err)), 0);
    assert_int_equal(b.count, 4);
    assert_string_equal(b.rules[0].version, "2.4.0");
    assert_int_equal(b.rules[0].kind, FAULT_BOOT);
    assert_int_equal(b.rules[0].basis_points, 2000);
    assert_int_equal(b.rules[0].chip_size, 1u << 20);
    assert_int_equal(b.rules[0].client, 0);
    assert_int_equal(b.rules[1].basis_points, 50);
    assert_int_equal(b.rules[2].client, OTAC_CLIENT_ESP32);
    assert_int_equal(b.rules[2].chip_size, 4u << 20);
    assert_int_equal(b.rules[2].basis_points, 10000);
    assert_int_equal(b.rules[3].basis_points, 225);
}

static void test_bad_rules_are_refused_with_a_reason(void **state)
{
    static const char *const bad[] = {
        "",
        "2.4.0",
        "2.4.0:boot",
        ":boot:20%",
        "2.4.0:explode:20%",
        "2.4.0:boot:101%",
        "2.4.0:boot:-1",
        "2.4.0:boot:20%%",
        "2.4.0:boot:1.234",
        "2.4.0:boot:.5",
        "2.4.0:boot:abc",
        "2.4.0:boot:20%:chip=3X",
        "2.4.0:boot:20%:client=esp99",
        "2.4.0:boot:20%:color=red",
        "2.4.0:boot:20%:chip",
        "2.4.0:boot:20%:chip=1M:extra",
        "2.4.0:space:5%",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct behaviour b;
        char err[200] = "";
        behaviour_init(&b, 1);
        int r = behaviour_add(&b, bad[i], err, sizeof(err));
        if (r != -EINVAL)
            fail_msg("'%s' was taken (%d)", bad[i], r);
        assert_true(strlen(err) > 0);
        assert_int_equal(b.count, 0);
    }
}

static void test_too_many_rules(void **state)
{
    struct behaviour b;
    char err[200];
    behaviour_init(&b, 1);
    for (unsigned i = 0; i < BEHAVIOUR_RULES_MAX; i++)
        assert_int_equal(behaviour_add(&b, "*:boot:1", err, sizeof(err)), 0);
    assert_int_equal(behaviour_add(&b, "*:boot:1", err, sizeof(err)), -ENOSPC);
}

/* Over 20,000 devices a 20 % rule hits close to 20 %, only the filtered ones, only its version. */
static void test_shares_and_filters(void **state)
{
    struct behaviour b;
    char err[200];
    behaviour_init(&b, 42);
    assert_int_equal(behaviour_add(&b, "2.4.0:boot:20%:chip=1M", err, sizeof(err)), 0);
    assert_int_equal(behaviour_add(&b, "2.4.0:brick:5%:chip=1M", err, sizeof(err)), 0);
    unsigned boot = 0, brick = 0, other_chip = 0, other_version = 0;
    for (uint32_t d = 0; d < 20000; d++) {
        struct device_traits one = {
            .index = d, .client = OTAC_CLIENT_ESP8266_3_1, .chip_size = 1u << 20};
        struct device_traits four = one;
        four.chip_size = 4u << 20;
        enum fault f = behaviour_on_install(&b, &one, "2.4.0");
        boot += f == FAULT_BOOT;
        brick += f == FAULT_BRICK;
        other_chip += behaviour_on_install(&b, &four, "2.4.0") != FAULT_NONE;
        other_version += behaviour_on_install(&b, &one, "2.4.1") != FAULT_NONE;
        /* The same device and version always draws the same. */
        assert_int_equal(behaviour_on_install(&b, &one, "2.4.0"), f);
    }
    assert_in_range(boot, 3700, 4300);
    assert_in_range(brick, 800, 1200);
    assert_int_equal(other_chip, 0);
    assert_int_equal(other_version, 0);
}

static void test_cut_draws_per_attempt_and_space_per_device(void **state)
{
    struct behaviour b;
    char err[200];
    behaviour_init(&b, 3);
    assert_int_equal(behaviour_add(&b, "*:cut:50%", err, sizeof(err)), 0);
    assert_int_equal(behaviour_add(&b, "*:space:10%:client=2.4", err, sizeof(err)), 0);
    unsigned cuts = 0, changed = 0, small = 0, small_other_client = 0;
    for (uint32_t d = 0; d < 10000; d++) {
        struct device_traits t = {
            .index = d, .client = OTAC_CLIENT_ESP8266_2_4, .chip_size = 4u << 20};
        int first = behaviour_cuts(&b, &t, "1.1.0", 0);
        cuts += first;
        changed += first != behaviour_cuts(&b, &t, "1.1.0", 1);
        small += behaviour_small_space(&b, &t);
        t.client = OTAC_CLIENT_ESP32;
        small_other_client += behaviour_small_space(&b, &t);
        assert_false(behaviour_on_install(&b, &t, "1.1.0"));
    }
    assert_in_range(cuts, 4700, 5300);
    assert_in_range(changed, 4500, 5500); /* a new download, a new draw */
    assert_in_range(small, 850, 1150);
    assert_int_equal(small_other_client, 0);
}

static void test_seed_changes_the_devices_hit(void **state)
{
    struct behaviour a, b;
    char err[200];
    behaviour_init(&a, 1);
    behaviour_init(&b, 2);
    behaviour_add(&a, "*:boot:50%", err, sizeof(err));
    behaviour_add(&b, "*:boot:50%", err, sizeof(err));
    unsigned differ = 0;
    for (uint32_t d = 0; d < 1000; d++) {
        struct device_traits t = {
            .index = d, .client = OTAC_CLIENT_ESP8266_3_1, .chip_size = 4u << 20};
        differ += behaviour_on_install(&a, &t, "2.0.0") != behaviour_on_install(&b, &t, "2.0.0");
    }
    assert_in_range(differ, 400, 600);
}

static void test_sizes_and_clients(void **state)
{
    uint64_t n;
    assert_int_equal(size_parse("1M", &n), 0);
    assert_int_equal(n, 1048576);
    assert_int_equal(size_parse("512K", &n), 0);
    assert_int_equal(n, 524288);
    assert_int_equal(size_parse("4096", &n), 0);
    assert_int_equal(n, 4096);
    assert_int_equal(size_parse("0", &n), -EINVAL);
    assert_int_equal(size_parse("1G", &n), -EINVAL);
    assert_int_equal(size_parse("M", &n), -EINVAL);
    enum otac_client c;
    assert_int_equal(client_parse("2.7", &c), 0);
    assert_int_equal(c, OTAC_CLIENT_ESP8266_2_7);
    assert_string_equal(client_name(OTAC_CLIENT_ESP32), "esp32");
    assert_int_equal(client_parse("esp-idf", &c), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_parse),
        cmocka_unit_test(test_bad_rules_are_refused_with_a_reason),
        cmocka_unit_test(test_too_many_rules),
        cmocka_unit_test(test_shares_and_filters),
        cmocka_unit_test(test_cut_draws_per_attempt_and_space_per_device),
        cmocka_unit_test(test_seed_changes_the_devices_hit),
        cmocka_unit_test(test_sizes_and_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
