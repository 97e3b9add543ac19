/*
 * Unit tests for src/service/tracker.c: outcomes decided by the next
 * check-in of the offer's mode, failures kept apart from standings (no
 * later offer, rollout or mode overwrites them), the body's end, silence,
 * the bound, and the table under many devices and threads.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "service/tracker.h"

#define MANY 1000000

static struct standing offer(uint64_t mac, int64_t rollout, int64_t release, enum fw_mode mode)
{
    return (struct standing){.product_id = 1,
                             .mac = mac,
                             .rollout_id = rollout,
                             .release_id = release,
                             .mode = mode,
                             .stage = 0};
}

static void test_served_then_new_release_succeeds(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(MANY, &t), 0);
    assert_true(tracker_empty(t));
    struct standing s = offer(5, 3, 10, FW_MODE_SKETCH);
    assert_int_equal(tracker_offer(t, &s), 0);
    assert_false(tracker_empty(t));
    struct fleet_event ev;
    /* Offered, not yet served: an old-version check-in decides nothing. */
    assert_false(tracker_observe(t, 1, 5, FW_MODE_SKETCH, 9, 100, &ev));
    assert_true(tracker_delivered(t, 1, 5, FW_MODE_SKETCH, 3, true));
    /* A filesystem check-in judges nothing about a sketch offer. */
    assert_false(tracker_observe(t, 1, 5, FW_MODE_FS, 9, 100, &ev));
    assert_true(tracker_observe(t, 1, 5, FW_MODE_SKETCH, 10, 200, &ev));
    assert_int_equal(ev.kind, FLEET_EVENT_OUTCOME);
    assert_int_equal(ev.outcome, OUTCOME_SUCCEEDED);
    assert_int_equal(ev.rollout_id, 3);
    assert_int_equal(ev.at_ms, 200);
    /* A success is final: forgotten. */
    assert_int_equal(tracker_count(t), 0);
    tracker_free(t);
}

static void test_failure_is_kept_apart_from_later_offers(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(MANY, &t), 0);
    struct standing s = offer(6, 3, 10, FW_MODE_SKETCH);
    tracker_offer(t, &s);
    tracker_delivered(t, 1, 6, FW_MODE_SKETCH, 3, true);
    struct fleet_event ev;
    assert_true(tracker_observe(t, 1, 6, FW_MODE_SKETCH, 9, 100, &ev));
    assert_int_equal(ev.outcome, OUTCOME_FAILED);
    assert_true(tracker_failed(t, 1, 6, 10));
    assert_false(tracker_failed(t, 1, 6, 11));
    assert_false(tracker_observe(t, 1, 6, FW_MODE_SKETCH, 9, 200, &ev)); /* nothing open now */
    /* Another rollout of another release, and a filesystem offer: the failure of 10 stays. */
    struct standing next = offer(6, 4, 11, FW_MODE_SKETCH), fs = offer(6, 5, 20, FW_MODE_FS);
    tracker_offer(t, &next);
    tracker_offer(t, &fs);
    assert_true(tracker_failed(t, 1, 6, 10));
    tracker_delivered(t, 1, 6, FW_MODE_SKETCH, 4, true);
    assert_true(tracker_observe(t, 1, 6, FW_MODE_SKETCH, 9, 300, &ev));
    assert_true(tracker_failed(t, 1, 6, 10));
    assert_true(tracker_failed(t, 1, 6, 11));
    struct standing got;
    assert_true(tracker_get(t, 1, 6, FW_MODE_FS, &got));
    assert_int_equal(got.release_id, 20);
    tracker_free(t);
}

static void test_cut_off_is_interrupted_and_not_judged(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(MANY, &t), 0);
    struct standing s = offer(7, 3, 10, FW_MODE_SKETCH);
    tracker_offer(t, &s);
    assert_true(tracker_delivered(t, 1, 7, FW_MODE_SKETCH, 3, false));
    struct standing got;
    assert_true(tracker_get(t, 1, 7, FW_MODE_SKETCH, &got));
    assert_int_equal(got.outcome, OUTCOME_INTERRUPTED);
    struct fleet_event ev;
    assert_false(tracker_observe(t, 1, 7, FW_MODE_SKETCH, 9, 100, &ev)); /* no failure */
    assert_false(tracker_delivered(t, 1, 7, FW_MODE_SKETCH, 4, true));   /* another rollout's */
    assert_false(tracker_delivered(t, 1, 7, FW_MODE_FS, 3, true));       /* another mode's */
    tracker_free(t);
}

static void test_silent_then_back(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(MANY, &t), 0);
    struct standing s = offer(8, 3, 10, FW_MODE_FS);
    tracker_offer(t, &s);
    tracker_delivered(t, 1, 8, FW_MODE_FS, 3, true);
    tracker_mark_silent(t, 1, 8, 3);
    struct standing got;
    assert_true(tracker_get(t, 1, 8, FW_MODE_FS, &got));
    assert_int_equal(got.outcome, OUTCOME_SILENT);
    struct fleet_event ev;
    assert_true(tracker_observe(t, 1, 8, FW_MODE_FS, 9, 100, &ev));
    assert_int_equal(ev.outcome, OUTCOME_FAILED);
    tracker_free(t);
}

static void test_growth_erase_and_bound(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(20000, &t), 0);
    for (uint64_t mac = 1; mac <= 20000; mac++) {
        struct standing s = offer(mac, 3, 10, FW_MODE_SKETCH);
        assert_int_equal(tracker_offer(t, &s), 0);
    }
    assert_int_equal(tracker_count(t), 20000);
    struct standing over = offer(20001, 3, 10, FW_MODE_SKETCH);
    assert_int_equal(tracker_offer(t, &over), -ENOBUFS);
    /* Replacing a device's own standing is not growth. */
    struct standing again = offer(5, 4, 11, FW_MODE_SKETCH);
    assert_int_equal(tracker_offer(t, &again), 0);
    /* Half of them succeed: forgotten, and every other one still found. */
    struct fleet_event ev;
    for (uint64_t mac = 1; mac <= 20000; mac += 2) {
        assert_true(tracker_delivered(t, 1, mac, FW_MODE_SKETCH, mac == 5 ? 4 : 3, true));
        assert_true(tracker_observe(t, 1, mac, FW_MODE_SKETCH, mac == 5 ? 11 : 10, 1, &ev));
    }
    assert_int_equal(tracker_count(t), 10000);
    struct standing got;
    for (uint64_t mac = 1; mac <= 20000; mac++)
        assert_int_equal(tracker_get(t, 1, mac, FW_MODE_SKETCH, &got), mac % 2 == 0);
    /* Another product's device with the same MAC is another device. */
    assert_false(tracker_get(t, 2, 2, FW_MODE_SKETCH, &got));
    tracker_free(t);
}

struct worker {
    struct tracker *t;
    uint64_t base;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct fleet_event ev;
    for (uint64_t i = 0; i < 5000; i++) {
        struct standing s = offer(w->base + i, 3, 10, FW_MODE_SKETCH);
        tracker_offer(w->t, &s);
        tracker_delivered(w->t, 1, w->base + i, FW_MODE_SKETCH, 3, true);
        tracker_observe(w->t, 1, w->base + i, FW_MODE_SKETCH, i % 2 ? 10 : 9, 1, &ev);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(MANY, &t), 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){t, (uint64_t)i * 100000};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tracker_count(t), 4 * 2500); /* the failures stay */
    for (int i = 0; i < 4; i++)
        for (uint64_t k = 0; k < 5000; k++)
            assert_int_equal(tracker_failed(t, 1, (uint64_t)i * 100000 + k, 10), k % 2 == 0);
    tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_then_new_release_succeeds),
        cmocka_unit_test(test_failure_is_kept_apart_from_later_offers),
        cmocka_unit_test(test_cut_off_is_interrupted_and_not_judged),
        cmocka_unit_test(test_silent_then_back),
        cmocka_unit_test(test_growth_erase_and_bound),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
