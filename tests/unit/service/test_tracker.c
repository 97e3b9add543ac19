/*
 * Unit tests for src/service/tracker.c: outcomes decided by the next
 * check-in, failures remembered, the body's end, silence, dropping a
 * rollout, and the table under many devices and threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "service/tracker.h"

static struct standing offer(uint64_t mac, int64_t rollout)
{
    return (struct standing){
        .product_id = 1, .mac = mac, .rollout_id = rollout, .release_id = 10, .stage = 0};
}

static void test_served_then_new_release_succeeds(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(&t), 0);
    struct standing s = offer(5, 3);
    assert_int_equal(tracker_offer(t, &s), 0);
    struct fleet_event ev;
    /* A filesystem check-in judges nothing about a sketch offer. */
    assert_int_equal(tracker_delivered(t, 1, 5, 3, true), true);
    assert_false(tracker_observe(t, 1, 5, FW_MODE_FS, 9, 100, &ev));
    s.outcome = OUTCOME_OFFERED;
    assert_int_equal(tracker_offer(t, &s), 0);
    /* Offered, not yet served: an old-version check-in decides nothing. */
    assert_false(tracker_observe(t, 1, 5, FW_MODE_SKETCH, 9, 100, &ev));
    assert_true(tracker_delivered(t, 1, 5, 3, true));
    assert_true(tracker_observe(t, 1, 5, FW_MODE_SKETCH, 10, 200, &ev));
    assert_int_equal(ev.kind, FLEET_EVENT_OUTCOME);
    assert_int_equal(ev.outcome, OUTCOME_SUCCEEDED);
    assert_int_equal(ev.rollout_id, 3);
    assert_int_equal(ev.at_ms, 200);
    /* A success is final: forgotten. */
    assert_int_equal(tracker_count(t), 0);
    tracker_free(t);
}

static void test_served_then_old_release_fails_and_is_remembered(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(&t), 0);
    struct standing s = offer(6, 3);
    tracker_offer(t, &s);
    tracker_delivered(t, 1, 6, 3, true);
    struct fleet_event ev;
    assert_true(tracker_observe(t, 1, 6, FW_MODE_SKETCH, 9, 100, &ev));
    assert_int_equal(ev.outcome, OUTCOME_FAILED);
    assert_true(tracker_failed(t, 1, 6, 3));
    assert_false(tracker_failed(t, 1, 6, 4));
    assert_false(tracker_observe(t, 1, 6, FW_MODE_SKETCH, 9, 200, &ev)); /* already failed */
    /* It gets the release some other way later: the truth wins. */
    assert_true(tracker_observe(t, 1, 6, FW_MODE_SKETCH, 10, 300, &ev));
    assert_int_equal(ev.outcome, OUTCOME_SUCCEEDED);
    tracker_free(t);
}

static void test_cut_off_is_interrupted_and_not_judged(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(&t), 0);
    struct standing s = offer(7, 3);
    tracker_offer(t, &s);
    assert_true(tracker_delivered(t, 1, 7, 3, false));
    struct standing got;
    assert_true(tracker_get(t, 1, 7, &got));
    assert_int_equal(got.outcome, OUTCOME_INTERRUPTED);
    struct fleet_event ev;
    assert_false(
        tracker_observe(t, 1, 7, FW_MODE_SKETCH, 9, 100, &ev)); /* old version: no failure */
    assert_false(tracker_delivered(t, 1, 7, 4, true));          /* another rollout's body */
    tracker_free(t);
}

static void test_silent_then_back(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(&t), 0);
    struct standing s = offer(8, 3);
    tracker_offer(t, &s);
    tracker_delivered(t, 1, 8, 3, true);
    tracker_mark_silent(t, 1, 8, 3);
    struct standing got;
    assert_true(tracker_get(t, 1, 8, &got));
    assert_int_equal(got.outcome, OUTCOME_SILENT);
    struct fleet_event ev;
    assert_true(tracker_observe(t, 1, 8, FW_MODE_SKETCH, 9, 100, &ev));
    assert_int_equal(ev.outcome, OUTCOME_FAILED);
    tracker_free(t);
}

static void test_growth_and_erase(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(&t), 0);
    for (uint64_t mac = 1; mac <= 20000; mac++) {
        struct standing s = offer(mac, mac % 2 ? 3 : 4);
        assert_int_equal(tracker_offer(t, &s), 0);
    }
    assert_int_equal(tracker_count(t), 20000);
    /* Half of them succeed: forgotten, and every other one still found. */
    struct fleet_event ev;
    for (uint64_t mac = 1; mac <= 20000; mac += 2) {
        assert_true(tracker_delivered(t, 1, mac, 3, true));
        assert_true(tracker_observe(t, 1, mac, FW_MODE_SKETCH, 10, 1, &ev));
    }
    assert_int_equal(tracker_count(t), 10000);
    struct standing got;
    for (uint64_t mac = 1; mac <= 20000; mac++)
        assert_int_equal(tracker_get(t, 1, mac, &got), mac % 2 == 0);
    /* Another product's device with the same MAC is another device. */
    assert_false(tracker_get(t, 2, 2, &got));
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
        struct standing s = offer(w->base + i, 3);
        tracker_offer(w->t, &s);
        tracker_delivered(w->t, 1, w->base + i, 3, true);
        tracker_observe(w->t, 1, w->base + i, FW_MODE_SKETCH, i % 2 ? 10 : 9, 1, &ev);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct tracker *t;
    assert_int_equal(tracker_new(&t), 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){t, (uint64_t)i * 100000};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tracker_count(t), 4 * 2500); /* the failures stay */
    tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_then_new_release_succeeds),
        cmocka_unit_test(test_served_then_old_release_fails_and_is_remembered),
        cmocka_unit_test(test_cut_off_is_interrupted_and_not_judged),
        cmocka_unit_test(test_silent_then_back),
        cmocka_unit_test(test_growth_and_erase),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
