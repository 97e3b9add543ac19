/* Unit tests for src/service/events.c: the bounded event queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <pthread.h>

#include "core/util.h"
#include "service/events.h"

static json_t *numbered(int n)
{
    return json_pack("{s:i}", "n", n);
}

static void test_names_round_trip(void **state)
{
    for (unsigned k = 0; k < EVENT_KIND_COUNT; k++) {
        enum event_kind back;
        assert_int_equal(event_kind_parse(event_kind_name((enum event_kind)k), &back), 0);
        assert_int_equal(back, k);
    }
    enum event_kind kind;
    assert_int_equal(event_kind_parse("rollout.*", &kind), -ENOENT);
    assert_int_equal(event_kind_parse("", &kind), -ENOENT);
    assert_string_equal(event_kind_name(EVENT_ROLLOUT_HALTED), "rollout.halted");
    assert_string_equal(event_kind_name((enum event_kind)99), "?");
}

static void test_fifo_and_fields(void **state)
{
    struct events *q;
    assert_int_equal(events_new(4, &q), 0);
    int64_t before = time_now_ms();
    assert_int_equal(events_emit(q, EVENT_RELEASE_PUBLISHED, "door", numbered(1)), 0);
    assert_int_equal(events_emit(q, EVENT_ROLLOUT_HALTED, NULL, numbered(2)), 0);
    assert_int_equal(events_emit(q, EVENT_PING, "", NULL), 0);
    struct event ev;
    assert_int_equal(events_take(q, &ev, 0), 1);
    assert_int_equal(ev.kind, EVENT_RELEASE_PUBLISHED);
    assert_string_equal(ev.product, "door");
    assert_string_equal(ev.data, "{\"n\":1}");
    assert_true(ev.at_ms >= before && ev.at_ms <= time_now_ms());
    assert_int_equal(events_take(q, &ev, 0), 1);
    assert_int_equal(ev.kind, EVENT_ROLLOUT_HALTED);
    assert_string_equal(ev.product, "");
    assert_int_equal(events_take(q, &ev, 0), 1);
    assert_string_equal(ev.data, "{}"); /* NULL data is an empty object */
    assert_int_equal(events_take(q, &ev, 0), 0);
    events_free(q);
}

/* A full queue refuses, counts, and keeps the oldest events; it takes again once drained. */
static void test_bound_and_drops_counted(void **state)
{
    struct events *q;
    assert_int_equal(events_new(3, &q), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(events_emit(q, EVENT_ROLLOUT_PROMOTED, "p", numbered(i)), 0);
    assert_int_equal(events_emit(q, EVENT_ROLLOUT_PROMOTED, "p", numbered(3)), -ENOBUFS);
    assert_int_equal(events_emit(q, EVENT_ROLLOUT_PROMOTED, "p", numbered(4)), -ENOBUFS);
    struct events_stats st;
    events_stats(q, &st);
    assert_int_equal(st.emitted, 3);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.queued, 3);
    struct event ev;
    assert_int_equal(events_take(q, &ev, 0), 1);
    assert_string_equal(ev.data, "{\"n\":0}"); /* the oldest stayed, the newest were dropped */
    /* The ring wraps: room for one more. */
    assert_int_equal(events_emit(q, EVENT_ROLLOUT_PROMOTED, "p", numbered(5)), 0);
    for (int want = 1; want <= 3; want++) {
        assert_int_equal(events_take(q, &ev, 0), 1);
        int expect = want == 3 ? 5 : want;
        char text[16];
        snprintf(text, sizeof(text), "{\"n\":%d}", expect);
        assert_string_equal(ev.data, text);
    }
    events_stats(q, &st);
    assert_int_equal(st.emitted, 4);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.queued, 0);
    events_free(q);
}

/* An event larger than a slot is refused whole (never cut) and counted. */
static void test_oversized_data_dropped(void **state)
{
    struct events *q;
    assert_int_equal(events_new(2, &q), 0);
    char big[LIMIT_EVENT_DATA_BYTES];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(events_emit(q, EVENT_SOURCE_FAILING, "p", json_pack("{s:s}", "e", big)),
                     -EFBIG);
    struct events_stats st;
    events_stats(q, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.queued, 0);
    /* Just fitting: LIMIT - 1 bytes of JSON. */
    big[LIMIT_EVENT_DATA_BYTES - 1 - 8] = 0; /* {"e":"..."} adds 8 */
    assert_int_equal(events_emit(q, EVENT_SOURCE_FAILING, "p", json_pack("{s:s}", "e", big)), 0);
    struct event ev;
    assert_int_equal(events_take(q, &ev, 0), 1);
    assert_int_equal(strlen(ev.data), LIMIT_EVENT_DATA_BYTES - 1);
    events_free(q);
}

static void test_null_queue_is_a_no_op(void **state)
{
    assert_int_equal(events_emit(NULL, EVENT_PING, "p", numbered(1)), 0);
    events_free(NULL);
    struct events *q;
    assert_int_equal(events_new(0, &q), -EINVAL);
}

struct taker {
    struct events *q;
    int took;
    struct event ev;
};

static void *take_waiting(void *arg)
{
    struct taker *t = arg;
    t->took = events_take(t->q, &t->ev, 10000);
    return NULL;
}

/* A waiting taker gets an event emitted from another thread, and a wake ends a wait. */
static void test_wait_and_wake(void **state)
{
    struct events *q;
    assert_int_equal(events_new(2, &q), 0);
    struct taker t = {.q = q};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, take_waiting, &t), 0);
    assert_int_equal(events_emit(q, EVENT_ROLLOUT_COMPLETED, "p", numbered(7)), 0);
    pthread_join(th, NULL);
    assert_int_equal(t.took, 1);
    assert_string_equal(t.ev.data, "{\"n\":7}");

    int64_t t0 = time_mono_ms();
    t.took = -1;
    assert_int_equal(pthread_create(&th, NULL, take_waiting, &t), 0);
    events_wake(q); /* before or during the wait: either way it returns without an event */
    pthread_join(th, NULL);
    assert_int_equal(t.took, 0);
    assert_true(time_mono_ms() - t0 < 9000);
    /* A timed wait with nothing queued returns 0. */
    assert_int_equal(events_take(q, &t.ev, 20), 0);
    events_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_fifo_and_fields),
        cmocka_unit_test(test_bound_and_drops_counted),
        cmocka_unit_test(test_oversized_data_dropped),
        cmocka_unit_test(test_null_queue_is_a_no_op),
        cmocka_unit_test(test_wait_and_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
