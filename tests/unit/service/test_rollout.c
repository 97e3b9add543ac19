/*
 * Unit tests for src/service/rollout.c: buckets, admission with the ramp,
 * the soak, and every verdict (halt by count and by share, promotion,
 * completion, waiting) at their edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service/rollout.h"

#define S 1000ll

static struct rollout running(void)
{
    struct rollout r;
    memset(&r, 0, sizeof(r));
    rollout_plan_default(&r.plan);
    r.state = ROLLOUT_RUNNING;
    r.stage_started_ms = 1000000;
    r.salt[0] = 42;
    r.salt[1] = 7;
    return r;
}

static void test_buckets_are_uniform_stable_and_keyed(void **state)
{
    uint64_t salt_a[2] = {1, 2}, salt_b[2] = {3, 4};
    unsigned below_1 = 0, below_10 = 0, both = 0;
    for (uint64_t mac = 0; mac < 100000; mac++) {
        uint16_t a = rollout_bucket(salt_a, 1, mac);
        assert_true(a < FLEET_BP_ALL);
        assert_int_equal(a, rollout_bucket(salt_a, 1, mac));
        below_1 += a < 100;
        below_10 += a < 1000;
        both += a < 100 && rollout_bucket(salt_b, 1, mac) < 100;
    }
    assert_in_range(below_1, 900, 1100);    /* 1 % +- 0.1 % */
    assert_in_range(below_10, 9700, 10300); /* 10 % +- 0.3 % */
    assert_true(both < 40);                 /* another rollout draws other first devices */
    /* The product is part of the key. */
    unsigned same = 0;
    for (uint64_t mac = 0; mac < 1000; mac++)
        same += rollout_bucket(salt_a, 1, mac) == rollout_bucket(salt_a, 2, mac);
    assert_true(same < 5);
}

static void test_admission_ramps_within_a_stage(void **state)
{
    struct rollout r = running();
    int64_t t0 = r.stage_started_ms;
    assert_int_equal(rollout_admitted_bp(&r, t0), 0);
    assert_int_equal(rollout_admitted_bp(&r, t0 + r.plan.ramp_s * S / 2), 50);
    assert_int_equal(rollout_admitted_bp(&r, t0 + r.plan.ramp_s * S), 100);
    assert_int_equal(rollout_admitted_bp(&r, t0 + 10 * r.plan.ramp_s * S), 100);
    r.stage = 1; /* 1 % -> 10 % */
    assert_int_equal(rollout_admitted_bp(&r, t0), 100);
    assert_int_equal(rollout_admitted_bp(&r, t0 + r.plan.ramp_s * S / 2), 550);
    r.plan.ramp_s = 0;
    assert_int_equal(rollout_admitted_bp(&r, t0), 1000);
    r.state = ROLLOUT_ABORTED;
    assert_int_equal(rollout_admitted_bp(&r, t0), 0);
}

static void test_paused_time_does_not_soak(void **state)
{
    struct rollout r = running();
    int64_t t0 = r.stage_started_ms;
    assert_int_equal(rollout_soak_left_ms(&r, t0), r.plan.soak_s * S);
    r.state = ROLLOUT_PAUSED;
    r.paused_ms = t0 + 600 * S;
    assert_int_equal(rollout_soak_left_ms(&r, t0 + 100000 * S), (r.plan.soak_s - 600) * S);
    assert_int_equal(rollout_admitted_bp(&r, t0 + 100000 * S), 100 * 600 / 900);
}

static enum rollout_verdict verdict(const struct rollout *r, uint64_t offered, uint64_t served,
                                    uint64_t succeeded, uint64_t failed, uint64_t silent,
                                    int64_t at)
{
    struct rollout_counts c;
    memset(&c, 0, sizeof(c));
    c.offered = offered;
    c.by_outcome[OUTCOME_SERVED] = served;
    c.by_outcome[OUTCOME_SUCCEEDED] = succeeded;
    c.by_outcome[OUTCOME_FAILED] = failed;
    c.by_outcome[OUTCOME_SILENT] = silent;
    char reason[FLEET_REASON_BYTES + 1];
    return rollout_evaluate(r, &c, &c, at, reason, sizeof(reason));
}

static void test_halts_on_share_after_min_served(void **state)
{
    struct rollout r = running();
    int64_t t = r.stage_started_ms + 60 * S;
    /* 4 of 10 failed: 40 %, but under min_served (20): no halt yet. */
    assert_int_equal(verdict(&r, 10, 0, 6, 4, 0, t), VERDICT_WAIT);
    /* 1 of 20 failed: exactly 5 % -> halt. */
    assert_int_equal(verdict(&r, 20, 0, 19, 1, 0, t), VERDICT_HALT);
    assert_int_equal(verdict(&r, 21, 0, 21, 0, 0, t), VERDICT_WAIT);
    /* Silence counts when configured, not otherwise. */
    assert_int_equal(verdict(&r, 40, 0, 38, 0, 2, t), VERDICT_HALT);
    r.plan.count_silent = false;
    assert_int_equal(verdict(&r, 40, 0, 38, 0, 2, t), VERDICT_WAIT);
}

static void test_halts_on_absolute_count(void **state)
{
    struct rollout r = running();
    int64_t t = r.stage_started_ms;
    assert_int_equal(verdict(&r, 5000, 0, 4951, 49, 0, t), VERDICT_WAIT);
    assert_int_equal(verdict(&r, 5000, 0, 4950, 50, 0, t), VERDICT_HALT);
    /* Failures acknowledged by a resume do not count again. */
    r.ack_failed = 50;
    assert_int_equal(verdict(&r, 5000, 0, 4950, 50, 0, t), VERDICT_WAIT);
    /* Each kind against its own acknowledgement: silent ones that came back hide no failure. */
    r.ack_failed = 10;
    r.ack_silent = 40;
    assert_int_equal(verdict(&r, 5000, 0, 4950, 59, 0, t), VERDICT_WAIT);
    assert_int_equal(verdict(&r, 5000, 0, 4950, 60, 0, t), VERDICT_HALT);
}

static void test_promotion_judges_the_stage_halting_the_whole(void **state)
{
    struct rollout r = running();
    r.stage = 1;
    int64_t soaked = r.stage_started_ms + r.plan.soak_s * S;
    struct rollout_counts total, stage;
    memset(&total, 0, sizeof(total));
    memset(&stage, 0, sizeof(stage));
    /* Stage 1's hundred succeeded; stage 2 offered fifty, three came back so far. */
    total.offered = 150;
    total.by_outcome[OUTCOME_SUCCEEDED] = 103;
    total.by_outcome[OUTCOME_SERVED] = 47;
    stage.offered = 50;
    stage.by_outcome[OUTCOME_SUCCEEDED] = 3;
    stage.by_outcome[OUTCOME_SERVED] = 47;
    char reason[FLEET_REASON_BYTES + 1];
    assert_int_equal(rollout_evaluate(&r, &total, &stage, soaked, reason, sizeof(reason)),
                     VERDICT_WAIT);
    assert_non_null(strstr(reason, "stage 2"));
    stage.by_outcome[OUTCOME_SUCCEEDED] = 45;
    stage.by_outcome[OUTCOME_SERVED] = 5;
    assert_int_equal(rollout_evaluate(&r, &total, &stage, soaked, reason, sizeof(reason)),
                     VERDICT_PROMOTE);
    /* A late failure of an earlier stage's device counts for the halt. */
    total.by_outcome[OUTCOME_FAILED] = 50;
    assert_int_equal(rollout_evaluate(&r, &total, &stage, soaked, reason, sizeof(reason)),
                     VERDICT_HALT);
}

static void test_promotes_when_soaked_and_healthy(void **state)
{
    struct rollout r = running();
    int64_t soaked = r.stage_started_ms + r.plan.soak_s * S;
    assert_int_equal(verdict(&r, 100, 0, 100, 0, 0, soaked - 1), VERDICT_WAIT);
    assert_int_equal(verdict(&r, 100, 0, 100, 0, 0, soaked), VERDICT_PROMOTE);
    /* 89 of 100 served back: below 90 % -> wait. */
    assert_int_equal(verdict(&r, 100, 11, 89, 0, 0, soaked), VERDICT_WAIT);
    assert_int_equal(verdict(&r, 100, 10, 90, 0, 0, soaked), VERDICT_PROMOTE);
    /* Few devices: all offered must be back (min 10 or all of them). */
    assert_int_equal(verdict(&r, 3, 1, 2, 0, 0, soaked), VERDICT_WAIT);
    assert_int_equal(verdict(&r, 3, 0, 3, 0, 0, soaked), VERDICT_PROMOTE);
    /* Offered but every body broke off: nothing came back, so it waits. */
    assert_int_equal(verdict(&r, 5, 0, 0, 0, 0, soaked), VERDICT_WAIT);
    /* Nobody admitted: promoted once soaked. */
    assert_int_equal(verdict(&r, 0, 0, 0, 0, 0, soaked), VERDICT_PROMOTE);
    r.stage = r.plan.stage_count - 1;
    assert_int_equal(verdict(&r, 100, 0, 100, 0, 0, soaked), VERDICT_COMPLETE);
    r.state = ROLLOUT_PAUSED;
    assert_int_equal(verdict(&r, 100, 0, 100, 0, 0, soaked), VERDICT_WAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_are_uniform_stable_and_keyed),
        cmocka_unit_test(test_admission_ramps_within_a_stage),
        cmocka_unit_test(test_paused_time_does_not_soak),
        cmocka_unit_test(test_halts_on_share_after_min_served),
        cmocka_unit_test(test_halts_on_absolute_count),
        cmocka_unit_test(test_promotes_when_soaked_and_healthy),
        cmocka_unit_test(test_promotion_judges_the_stage_halting_the_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
