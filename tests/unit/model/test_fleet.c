/*
 * Unit tests for src/model/fleet.c: the enumerations' names both ways, the
 * default plan (docs/FLEET.md's table), every plan setting with good and
 * bad values (the plan untouched on failure, a reason that names the key),
 * the stored form read back to the same plan, windows and MAC addresses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "model/fleet.h"

/* Field by field: structs assigned from literals may differ in their padding. */
static void assert_plan_equal(const struct rollout_plan *a, const struct rollout_plan *b)
{
    assert_int_equal(a->stage_count, b->stage_count);
    for (unsigned i = 0; i < FLEET_STAGES_MAX; i++)
        assert_int_equal(a->stages_bp[i], b->stages_bp[i]);
    assert_int_equal(a->soak_s, b->soak_s);
    assert_int_equal(a->ramp_s, b->ramp_s);
    assert_int_equal(a->fail_max, b->fail_max);
    assert_int_equal(a->fail_bp, b->fail_bp);
    assert_int_equal(a->fail_min_served, b->fail_min_served);
    assert_int_equal(a->count_silent, b->count_silent);
    assert_int_equal(a->promote_min, b->promote_min);
    assert_int_equal(a->promote_bp, b->promote_bp);
    assert_int_equal(a->interval_s, b->interval_s);
    assert_int_equal(a->revert_on_halt, b->revert_on_halt);
}

static void test_names(void **state)
{
    static const char *const deploy[] = {"immediate", "rollout", "manual"};
    for (unsigned i = 0; i < ARRAY_SIZE(deploy); i++) {
        enum deploy_policy p = (enum deploy_policy)99;
        assert_string_equal(deploy_policy_name((enum deploy_policy)i), deploy[i]);
        assert_int_equal(deploy_policy_parse(deploy[i], &p), 0);
        assert_int_equal(p, i);
    }
    static const char *const on_new[] = {"supersede", "queue"};
    for (unsigned i = 0; i < ARRAY_SIZE(on_new); i++) {
        enum supersede_policy p = (enum supersede_policy)99;
        assert_string_equal(supersede_policy_name((enum supersede_policy)i), on_new[i]);
        assert_int_equal(supersede_policy_parse(on_new[i], &p), 0);
        assert_int_equal(p, i);
    }
    static const char *const match[GROUP_MATCH_COUNT] = {"macs",      "mac-prefix", "query",
                                                         "chip-size", "sdk",        "core"};
    for (unsigned i = 0; i < GROUP_MATCH_COUNT; i++) {
        enum group_match m = (enum group_match)99;
        assert_string_equal(group_match_name((enum group_match)i), match[i]);
        assert_int_equal(group_match_parse(match[i], &m), 0);
        assert_int_equal(m, i);
    }
    /* Unknown, empty or differently cased names are refused and write nothing. */
    static const char *const bad[] = {"", "Immediate", "queue ", "mac_prefix", "unknown"};
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        enum deploy_policy p = (enum deploy_policy)99;
        enum supersede_policy q = (enum supersede_policy)99;
        enum group_match m = (enum group_match)99;
        assert_int_equal(deploy_policy_parse(bad[i], &p), -EINVAL);
        assert_int_equal(supersede_policy_parse(bad[i], &q), -EINVAL);
        assert_int_equal(group_match_parse(bad[i], &m), -EINVAL);
        assert_int_equal(p, 99);
        assert_int_equal(q, 99);
        assert_int_equal(m, 99);
    }

    static const char *const states[ROLLOUT_STATE_COUNT] = {
        "running", "paused", "halted", "aborted", "completed", "superseded", "queued"};
    static const bool active[ROLLOUT_STATE_COUNT] = {true, true, true, false, false, false, false};
    for (unsigned i = 0; i < ROLLOUT_STATE_COUNT; i++) {
        assert_string_equal(rollout_state_name((enum rollout_state)i), states[i]);
        assert_int_equal(rollout_state_active((enum rollout_state)i), active[i]);
    }
    assert_false(rollout_state_active((enum rollout_state)ROLLOUT_STATE_COUNT));
    static const char *const outcomes[OUTCOME_COUNT] = {"offered",   "served", "interrupted",
                                                        "succeeded", "failed", "silent"};
    for (unsigned i = 0; i < OUTCOME_COUNT; i++)
        assert_string_equal(device_outcome_name((enum device_outcome)i), outcomes[i]);
    assert_string_equal(rollout_kind_name(ROLLOUT_NORMAL), "normal");
    assert_string_equal(rollout_kind_name(ROLLOUT_ROLLBACK), "rollback");
    assert_string_equal(rollout_kind_name(ROLLOUT_REVERT), "revert");
    assert_string_equal(fleet_event_kind_name(FLEET_EVENT_OFFER), "offer");
    assert_string_equal(fleet_event_kind_name(FLEET_EVENT_SERVED), "served");
    assert_string_equal(fleet_event_kind_name(FLEET_EVENT_CUT), "cut");
    assert_string_equal(fleet_event_kind_name(FLEET_EVENT_OUTCOME), "outcome");
    /* A number read from a newer database is named, never indexed past a table. */
    assert_string_equal(rollout_state_name((enum rollout_state)42), "unknown");
    assert_string_equal(rollout_kind_name((enum rollout_kind)3), "unknown");
    assert_string_equal(device_outcome_name((enum device_outcome)OUTCOME_COUNT), "unknown");
    assert_string_equal(fleet_event_kind_name((enum fleet_event_kind)4), "unknown");
    assert_string_equal(group_match_name((enum group_match)GROUP_MATCH_COUNT), "unknown");
    assert_string_equal(deploy_policy_name((enum deploy_policy)3), "unknown");
    assert_string_equal(supersede_policy_name((enum supersede_policy)2), "unknown");
}

static void test_plan_default(void **state)
{
    struct rollout_plan p;
    memset(&p, 0xa5, sizeof(p));
    rollout_plan_default(&p);
    static const uint16_t stages[] = {100, 1000, 5000, 10000};
    assert_int_equal(p.stage_count, ARRAY_SIZE(stages));
    for (unsigned i = 0; i < FLEET_STAGES_MAX; i++)
        assert_int_equal(p.stages_bp[i], i < ARRAY_SIZE(stages) ? stages[i] : 0);
    assert_int_equal(p.soak_s, 3600);
    assert_int_equal(p.ramp_s, 900);
    assert_int_equal(p.fail_max, 50);
    assert_int_equal(p.fail_bp, 500);
    assert_int_equal(p.fail_min_served, 20);
    assert_true(p.count_silent);
    assert_int_equal(p.promote_min, 10);
    assert_int_equal(p.promote_bp, 9000);
    assert_int_equal(p.interval_s, 3600);
    assert_false(p.revert_on_halt);

    char text[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(&p, text, sizeof(text));
    assert_string_equal(text, "stages=1,10,50,100;soak=1h;ramp=15m;interval=1h;fail_max=50;"
                              "fail_percent=5;min_served=20;count_silent=yes;promote_min=10;"
                              "promote_percent=90;revert_on_halt=no");
}

static void test_plan_set_good(void **state)
{
    static const struct {
        const char *key, *value;
        const char *formatted; /* the setting as rollout_plan_format writes it back */
    } cases[] = {
        {"stages", "100", "stages=100;"},
        {"stages", "0.01,0.5,12.25,100", "stages=0.01,0.5,12.25,100;"},
        {"stages", "1,2,3,4,5,6,7,100", "stages=1,2,3,4,5,6,7,100;"},
        {"stages", "5,100.00", "stages=5,100;"},
        {"soak", "15m", "soak=15m;"},
        {"interval", "90", "interval=90s;"},
        {"interval", "90s", "interval=90s;"},
        {"interval", "120s", "interval=2m;"},
        {"soak", "2h", "soak=2h;"},
        {"soak", "3d", "soak=3d;"},
        {"soak", "48h", "soak=2d;"},
        {"soak", "366d", "soak=366d;"},
        {"ramp", "0", "ramp=0;"},
        {"ramp", "1h", "ramp=1h;"},
        {"interval", "10m", "interval=10m;"},
        {"interval", "0", "interval=0;"},
        {"fail_max", "0", "fail_max=0;"},
        {"fail_max", "4294967295", "fail_max=4294967295;"},
        {"fail_percent", "0", "fail_percent=0;"},
        {"fail_percent", "2.5", "fail_percent=2.5;"},
        {"fail_percent", "100", "fail_percent=100;"},
        {"min_served", "7", "min_served=7;"},
        {"count_silent", "no", "count_silent=no;"},
        {"count_silent", "yes", "count_silent=yes;"},
        {"promote_min", "1", "promote_min=1;"},
        {"promote_percent", "99.99", "promote_percent=99.99;"},
        {"revert_on_halt", "yes", "revert_on_halt=yes"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct rollout_plan p;
        rollout_plan_default(&p);
        struct reason why = {""};
        if (rollout_plan_set(&p, cases[i].key, cases[i].value, &why) != 0)
            fail_msg("%s=%s: %s", cases[i].key, cases[i].value, why.text);
        char text[ROLLOUT_PLAN_TEXT_BYTES];
        rollout_plan_format(&p, text, sizeof(text));
        if (!strstr(text, cases[i].formatted))
            fail_msg("%s=%s: '%s' not in '%s'", cases[i].key, cases[i].value, cases[i].formatted,
                     text);
    }
}

static void test_plan_set_bad(void **state)
{
    static const struct {
        const char *key, *value;
        const char *why; /* a part of the reason */
    } cases[] = {
        {"stages", "", "stages"},
        {"stages", "1,,100", "stages"},
        {"stages", "1,10,50", "last stage must be 100"},
        {"stages", "10,5,100", "ascending"},
        {"stages", "10,10,100", "ascending"},
        {"stages", "0,100", "0 %"},
        {"stages", "1,2,3,4,5,6,7,8,100", "at most 8"},
        {"stages", "1.234,100", "'1.234'"},
        {"stages", "1.,100", "'1.'"},
        {"stages", ".5,100", "'.5'"},
        {"stages", "1%,100", "'1%'"},
        {"stages", "50,100.01", "'100.01'"},
        {"stages", "50,1000", "'1000'"},
        {"stages", "-1,100", "'-1'"},
        {"stages", "1,100,", "stages"},
        {"soak", "", "soak"},
        {"soak", "1w", "'1w'"},
        {"soak", "h", "'h'"},
        {"soak", "1hh", "'1hh'"},
        {"soak", "1.5h", "'1.5h'"},
        {"soak", "-1", "'-1'"},
        {"soak", "01h", "'01h'"},
        {"soak", "367d", "at most 366d"},
        {"soak", "99999999999999999999999d", "soak"},
        {"soak", "10m", "ramp (15m) is longer than soak (10m)"},
        {"ramp", "2h", "ramp (2h) is longer than soak (1h)"},
        {"interval", "1 h", "interval"},
        {"fail_max", "-1", "fail_max"},
        {"fail_max", "4294967296", "fail_max"},
        {"fail_max", "ten", "fail_max"},
        {"fail_percent", "100.5", "fail_percent"},
        {"fail_percent", "5%", "fail_percent"},
        {"min_served", "", "min_served"},
        {"count_silent", "true", "count_silent: 'true' is not yes or no"},
        {"count_silent", "YES", "count_silent"},
        {"promote_min", "1.5", "promote_min"},
        {"promote_percent", "", "promote_percent"},
        {"revert_on_halt", "1", "revert_on_halt"},
        {"stage", "100", "unknown plan setting 'stage'"},
        {"", "1", "unknown plan setting"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct rollout_plan p, before;
        rollout_plan_default(&p);
        before = p;
        struct reason why = {""};
        int r = rollout_plan_set(&p, cases[i].key, cases[i].value, &why);
        if (r != -EINVAL)
            fail_msg("%s=%s: %d", cases[i].key, cases[i].value, r);
        if (!strstr(why.text, cases[i].why))
            fail_msg("%s=%s: '%s' not in '%s'", cases[i].key, cases[i].value, cases[i].why,
                     why.text);
        assert_plan_equal(&p, &before); /* untouched */
        /* WHY may be NULL. */
        assert_int_equal(rollout_plan_set(&p, cases[i].key, cases[i].value, NULL), -EINVAL);
    }
}

static void test_plan_parse(void **state)
{
    struct rollout_plan p;
    rollout_plan_default(&p);
    struct reason why = {""};
    /* Order does not matter for ramp <= soak: the check is on the whole. */
    assert_int_equal(rollout_plan_parse(&p, "ramp=2h;soak=3h;stages=5,100", &why), 0);
    assert_int_equal(p.ramp_s, 7200);
    assert_int_equal(p.soak_s, 10800);
    assert_int_equal(p.stage_count, 2);
    assert_int_equal(p.stages_bp[0], 500);
    assert_int_equal(p.stages_bp[1], 10000);
    assert_int_equal(p.stages_bp[2], 0);
    /* Over the plan given: what is not named stays; empty parts are nothing. */
    assert_int_equal(p.fail_max, 50);
    assert_int_equal(rollout_plan_parse(&p, "", &why), 0);
    assert_int_equal(rollout_plan_parse(&p, ";fail_max=3;;", &why), 0);
    assert_int_equal(p.fail_max, 3);
    assert_int_equal(rollout_plan_parse(&p, "fail_max=4;fail_max=5", &why), 0);
    assert_int_equal(p.fail_max, 5);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"soak", "'soak' is not key=value"},
        {"=1h", "is not a plan setting"},
        {"soak=1h;ramp", "'ramp' is not key=value"},
        {"soak=1h;nope=1", "unknown plan setting 'nope'"},
        {"soak=10m", "ramp (2h) is longer than soak (10m)"},
        {"soak=1h;ramp=2h;soak=3h;soak=1h", "ramp (2h) is longer than soak (1h)"},
        {"a_key_longer_than_any_setting=1", "is not a plan setting"},
        {"stages=1,10", "last stage must be 100"},
        {"soak = 1h", "unknown plan setting 'soak '"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct rollout_plan before = p;
        memset(&why, 0, sizeof(why));
        assert_int_equal(rollout_plan_parse(&p, bad[i].text, &why), -EINVAL);
        if (!strstr(why.text, bad[i].why))
            fail_msg("'%s': '%s' not in '%s'", bad[i].text, bad[i].why, why.text);
        assert_plan_equal(&p, &before);
    }
    /* A value longer than any stored plan is refused, not cut. */
    char big[ROLLOUT_PLAN_TEXT_BYTES + 32] = "stages=";
    memset(big + 7, '1', sizeof(big) - 8);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(rollout_plan_parse(&p, big, &why), -EINVAL);
    assert_non_null(strstr(why.text, "too long"));
}

static void test_plan_round_trip(void **state)
{
    struct rollout_plan plans[4];
    rollout_plan_default(&plans[0]);
    plans[1] = (struct rollout_plan){
        .stages_bp = {1, 25, 999, 1001, 5050, 7777, 9999, 10000},
        .stage_count = 8,
        .soak_s = 86400 * 366,
        .ramp_s = 61,
        .fail_max = UINT32_MAX,
        .fail_bp = 1,
        .fail_min_served = 0,
        .count_silent = false,
        .promote_min = 0,
        .promote_bp = 10000,
        .interval_s = 0,
        .revert_on_halt = true,
    };
    plans[2] = (struct rollout_plan){
        .stages_bp = {10000}, .stage_count = 1, .soak_s = 0, .ramp_s = 0, .interval_s = 59};
    plans[3] = plans[0];
    plans[3].soak_s = 5400; /* 90m */
    plans[3].ramp_s = 3599;
    for (size_t i = 0; i < ARRAY_SIZE(plans); i++) {
        char text[ROLLOUT_PLAN_TEXT_BYTES];
        rollout_plan_format(&plans[i], text, sizeof(text));
        struct rollout_plan back;
        memset(&back, 0, sizeof(back));
        rollout_plan_default(&back);
        struct reason why = {""};
        if (rollout_plan_parse(&back, text, &why) != 0)
            fail_msg("plan %zu: '%s': %s", i, text, why.text);
        assert_plan_equal(&back, &plans[i]);
    }
    /* A short buffer gets a cut, terminated text, never an overrun. */
    char small[16];
    memset(small, 'x', sizeof(small));
    rollout_plan_format(&plans[1], small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_window(void **state)
{
    static const struct {
        const char *in;
        int start, end;
        const char *formatted; /* with tz "Europe/Berlin" */
    } good[] = {
        {"", 0, 0, "always"},
        {"always", 0, 0, "always"},
        {"02:00-05:00", 120, 300, "02:00-05:00 Europe/Berlin"},
        {"22:00-04:30", 1320, 270, "22:00-04:30 Europe/Berlin"},
        {"00:00-23:59", 0, 1439, "00:00-23:59 Europe/Berlin"},
        {"22:00-24:00", 1320, 0, "22:00-00:00 Europe/Berlin"},
        {"00:00-24:00", 0, 0, "always"},
        {"23:59-00:00", 1439, 0, "23:59-00:00 Europe/Berlin"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct fleet_window w = {.start_min = 7, .end_min = 9, .tz = "Europe/Berlin"};
        struct reason why = {""};
        if (fleet_window_parse_hours(good[i].in, &w, &why) != 0)
            fail_msg("'%s': %s", good[i].in, why.text);
        assert_int_equal(w.start_min, good[i].start);
        assert_int_equal(w.end_min, good[i].end);
        assert_string_equal(w.tz, "Europe/Berlin"); /* left as it was */
        char text[96];
        fleet_window_format(&w, text, sizeof(text));
        assert_string_equal(text, good[i].formatted);
    }
    static const char *const bad[] = {
        "Always",      "02:00",        "02:00-05:00 ", "2:00-05:00",  "02:00-5:00",
        "02:00_05:00", "24:00-05:00",  "02:60-05:00",  "02:00-24:01", "25:00-26:00",
        "02:00-02:00", "aa:bb-cc:dd",  "02:00--5:00",  "02-00-05-00", "02:00-05:00-06:00",
        "0200-0500",   "02:00 -05:00",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct fleet_window w = {.start_min = 7, .end_min = 9};
        struct reason why = {""};
        if (fleet_window_parse_hours(bad[i], &w, &why) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(w.start_min, 7);
        assert_int_equal(w.end_min, 9);
        assert_non_null(strstr(why.text, "window"));
    }
    struct fleet_window utc = {.start_min = 60, .end_min = 120};
    char text[96];
    fleet_window_format(&utc, text, sizeof(text));
    assert_string_equal(text, "01:00-02:00 UTC"); /* no zone: UTC */
}

static void test_mac(void **state)
{
    static const struct {
        const char *in;
        uint64_t mac;
    } good[] = {
        {"18:FE:34:00:00:01", 0x18FE34000001ULL},
        {"18:fe:34:00:00:01", 0x18FE34000001ULL},
        {"18-FE-34-a0-0B-01", 0x18FE34A00B01ULL},
        {"18fe34A00b01", 0x18FE34A00B01ULL},
        {"00:00:00:00:00:00", 0},
        {"FF:FF:FF:FF:FF:FF", 0xFFFFFFFFFFFFULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        uint64_t mac = 1;
        assert_int_equal(mac_text_parse(good[i].in, &mac), 0);
        assert_true(mac == good[i].mac);
    }
    static const char *const bad[] = {
        "",
        "18:FE:34:00:00",
        "18:FE:34:00:00:01:02",
        "18:FE:34-00:00:01",
        "18.FE.34.00.00.01",
        "18:FE:34:00:00:0G",
        "18FE34:000001",
        "18fe34a00b0",
        "18fe34a00b011",
        " 18:FE:34:00:00:01",
        "18:FE:34:00:00:01 ",
        "1:8FE:34:00:00:01",
        "18::FE:34:00:00:1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        uint64_t mac = 1;
        if (mac_text_parse(bad[i], &mac) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(mac == 1);
    }

    char out[18];
    mac_u64_format(0x18FE34A00B01ULL, out);
    assert_string_equal(out, "18:FE:34:A0:0B:01");
    mac_u64_format(0, out);
    assert_string_equal(out, "00:00:00:00:00:00");

    const uint8_t bytes[6] = {0x18, 0xfe, 0x34, 0xa0, 0x0b, 0x01};
    assert_true(mac_to_u64(bytes) == 0x18FE34A00B01ULL);
    uint8_t back[6];
    mac_from_u64(0x18FE34A00B01ULL, back);
    assert_memory_equal(back, bytes, 6);
    /* Bits above the 48 are not a MAC's: they do not leak into the bytes. */
    mac_from_u64(0xFFFF18FE34A00B01ULL, back);
    assert_memory_equal(back, bytes, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_plan_default),
        cmocka_unit_test(test_plan_set_good), cmocka_unit_test(test_plan_set_bad),
        cmocka_unit_test(test_plan_parse),    cmocka_unit_test(test_plan_round_trip),
        cmocka_unit_test(test_window),        cmocka_unit_test(test_mac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
