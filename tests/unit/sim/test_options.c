/* Unit tests for sim/options.c: defaults, every kind of value, and each refusal's message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

static struct sim_options opt;
static char err[512];

static int parse(const char *first, ...)
{
    char *argv[64] = {"otad-sim"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    err[0] = '\0';
    FILE *null = fopen("/dev/null", "w");
    int r = options_parse(&opt, argc, argv, err, sizeof(err), null);
    fclose(null);
    return r;
}

static void test_defaults(void **state)
{
    assert_int_equal(parse("--servers", "http://127.0.0.1:8080/update/demo", NULL), 0);
    assert_int_equal(opt.server_count, 1);
    assert_string_equal(opt.servers[0].host, "127.0.0.1");
    assert_int_equal(opt.servers[0].port, 8080);
    assert_string_equal(opt.servers[0].target, "/update/demo");
    assert_int_equal(opt.devices, 100);
    assert_int_equal(opt.interval_ms, 3600000);
    assert_int_equal(opt.timeout_ms, 8000);
    assert_true(opt.time_scale == 1.0);
    assert_string_equal(opt.version, "1.0.0");
    assert_int_equal(opt.behaviour.count, 0);
    assert_int_equal(opt.progress, -1);
}

static void test_values(void **state)
{
    assert_int_equal(parse("--servers=http://a:1/u/p?x=1,http://[::1]:2/u/q,http://b/", "--devices",
                           "2000", "--interval", "90s", "--duration=2h", "--time-scale", "60",
                           "--reboot", "1500ms", "--first-checkins", "2s", "--clients",
                           "2.4:1,esp32:3", "--chips", "1M:2,4M:1", "--mac-prefix", "18:fe:aa",
                           "--fail", "1.1.0:boot:20%:chip=1M", "--fail", "*:cut:5", "--seed", "9",
                           "--timeline", "/tmp/x.csv", "--progress", "off", NULL),
                     0);
    assert_int_equal(opt.server_count, 3);
    assert_string_equal(opt.servers[0].target, "/u/p?x=1");
    assert_string_equal(opt.servers[1].host, "::1");
    assert_int_equal(opt.servers[1].port, 2);
    assert_int_equal(opt.servers[2].port, 80);
    assert_string_equal(opt.servers[2].target, "/");
    assert_int_equal(opt.devices, 2000);
    assert_int_equal(opt.interval_ms, 90000);
    assert_int_equal(opt.duration_ms, 7200000);
    assert_true(opt.time_scale == 60.0);
    assert_int_equal(opt.reboot_ms, 1500);
    assert_int_equal(opt.first_ms, 2000);
    assert_int_equal(opt.client_weight[0], 1);
    assert_int_equal(opt.client_weight[1], 0);
    assert_int_equal(opt.client_weight[3], 3);
    assert_int_equal(opt.chip_count, 2);
    assert_int_equal(opt.chips[0].size, 1u << 20);
    assert_int_equal(opt.chips[0].weight, 2);
    assert_int_equal(opt.mac_prefix[0], 0x18);
    assert_int_equal(opt.mac_prefix[2], 0xaa);
    assert_int_equal(opt.behaviour.count, 2);
    /* The seed given after the rules still keys their draws. */
    assert_int_equal(opt.behaviour.seed, 9);
    assert_string_equal(opt.timeline, "/tmp/x.csv");
    assert_int_equal(opt.progress, 0);
}

static void test_refusals_name_the_flag(void **state)
{
    static const struct {
        const char *flag, *value, *says;
    } bad[] = {
        {"--devices", "9", "--devices"},
        {"--devices", "100001", "--devices"},
        {"--devices", "1e3", "--devices"},
        {"--interval", "10x", "--interval"},
        {"--interval", "50ms", "--interval"},
        {"--duration", "0", "--duration"},
        {"--first-checkins", "0", "--first-checkins"},
        {"--time-scale", "0", "--time-scale"},
        {"--time-scale", "fast", "--time-scale"},
        {"--jitter", "101", "--jitter"},
        {"--clients", "2.4:1,esp8266:2", "--clients"},
        {"--clients", "2.4:0", "--clients"},
        {"--chips", "3Q", "--chips"},
        {"--chips", "64K", "--chips"},
        {"--mac-prefix", "18:FE", "--mac-prefix"},
        {"--fail", "1.1.0:melt:5%", "--fail"},
        {"--progress", "maybe", "--progress"},
        {"--max-connections", "0", "--max-connections"},
        {"--servers", "ftp://x/", "--servers"},
        {"--servers", "http://:80/", "--servers"},
        {"--servers", "http://h:99999/", "--servers"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse("--servers", "http://127.0.0.1:1/update/p", bad[i].flag, bad[i].value, NULL);
        if (r != -EINVAL || !strstr(err, bad[i].says))
            fail_msg("%s %s: %d, '%s'", bad[i].flag, bad[i].value, r, err);
    }
    assert_int_equal(parse("--devices", "10", NULL), -EINVAL);
    assert_non_null(strstr(err, "--servers is required"));
    assert_int_equal(parse("--servers", "https://h/u/p", NULL), -EINVAL);
    assert_non_null(strstr(err, "--ca"));
    assert_int_equal(parse("--servers", "http://h/", "--bogus", "1", NULL), -EINVAL);
    assert_non_null(strstr(err, "unknown flag '--bogus'"));
    assert_int_equal(parse("--servers", "http://h/", "stray", NULL), -EINVAL);
    assert_int_equal(parse("--servers", "http://h/", "--devices", NULL), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(parse("--servers", "http://h/", "--help=1", NULL), -EINVAL);
}

static void test_resolve(void **state)
{
    assert_int_equal(parse("--servers", "https://otad.test:8443/update/p", "--ca", "/tmp/ca.pem",
                           "--resolve", "otad.test:127.0.0.1", NULL),
                     0);
    assert_int_equal(opt.resolve_count, 1);
    assert_string_equal(opt.resolve[0].name, "otad.test");
    assert_string_equal(opt.resolve[0].address, "127.0.0.1");
    assert_true(opt.servers[0].tls);
    assert_int_equal(opt.servers[0].port, 8443);
    assert_int_equal(parse("--servers", "http://h/", "--resolve", "nocolon", NULL), -EINVAL);
    assert_non_null(strstr(err, "--resolve"));
    assert_int_equal(parse("--servers", "http://h/", "--resolve", ":1.2.3.4", NULL), -EINVAL);
    assert_int_equal(parse("--servers", "http://h/", "--resolve", "h:", NULL), -EINVAL);
}

static void test_help_and_version(void **state)
{
    assert_int_equal(parse("--help", NULL), 1);
    assert_int_equal(parse("--version", NULL), 2);
}

static void test_durations(void **state)
{
    uint64_t ms;
    assert_int_equal(duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(duration_parse("30", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(duration_parse("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(duration_parse("2d", &ms), 0);
    assert_int_equal(ms, 172800000);
    assert_int_equal(duration_parse("1.5s", &ms), -EINVAL);
    assert_int_equal(duration_parse("-1s", &ms), -EINVAL);
    assert_int_equal(duration_parse("s", &ms), -EINVAL);
    assert_int_equal(duration_parse("99999999999999999999", &ms), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals_name_the_flag),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
