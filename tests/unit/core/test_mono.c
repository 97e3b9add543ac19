/* Unit tests for src/core/mono.c: deadlines and condition variables on CLOCK_MONOTONIC. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "core/mono.h"

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ms_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

static void test_deadline(void **state)
{
    struct timespec ts;
    int64_t before = mono_now_ms();
    mono_deadline_ms(&ts, 1500);
    int64_t after = mono_now_ms();
    assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    assert_true(ms_of(&ts) >= before + 1500 && ms_of(&ts) <= after + 1500);
    /* Carrying into tv_sec, and a negative delay meaning now. */
    for (int64_t ms = 0; ms < 2000; ms += 7) {
        mono_deadline_ms(&ts, ms);
        assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    }
    before = mono_now_ms();
    mono_deadline_ms(&ts, -5000);
    assert_true(ms_of(&ts) >= before && ms_of(&ts) <= mono_now_ms());
}

static void test_timed_wait_waits_on_the_monotonic_clock(void **state)
{
    /*
     * A condition variable on the wall clock would take this monotonic
     * deadline (seconds since boot) for a time decades ago and return at
     * once; on the monotonic clock it waits the 60 ms.
     */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond;
    assert_int_equal(mono_cond_init(&cond), 0);
    pthread_mutex_lock(&lock);
    int64_t t0 = mono_now_ms();
    struct timespec ts;
    mono_deadline_ms(&ts, 60);
    int r;
    do
        r = pthread_cond_timedwait(&cond, &lock, &ts);
    while (r == 0); /* spurious wake-ups */
    int64_t waited = mono_now_ms() - t0;
    pthread_mutex_unlock(&lock);
    assert_int_equal(r, ETIMEDOUT);
    assert_true(waited >= 55);
    assert_true(waited < 5000);
    pthread_cond_destroy(&cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_timed_wait_waits_on_the_monotonic_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
