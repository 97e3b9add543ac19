/* Unit tests for sim/heap.c: timers come out in due order, move and vanish by id. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "heap.h"

static void test_pops_in_due_order_ties_by_id(void **state)
{
    struct timer_heap h;
    assert_int_equal(timer_heap_init(&h, 8), 0);
    static const uint64_t due[8] = {50, 10, 30, 10, 70, 0, 30, 20};
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal(timer_heap_set(&h, i, due[i]), 0);
    static const uint32_t order[8] = {5, 1, 3, 7, 2, 6, 0, 4};
    struct timer_entry e;
    for (int i = 0; i < 8; i++) {
        assert_true(timer_heap_pop_due(&h, 1000, &e));
        assert_int_equal(e.id, order[i]);
        assert_int_equal(e.due, due[order[i]]);
    }
    assert_false(timer_heap_pop_due(&h, 1000, &e));
    assert_false(timer_heap_peek(&h, &e));
    timer_heap_release(&h);
}

static void test_not_due_stays(void **state)
{
    struct timer_heap h;
    assert_int_equal(timer_heap_init(&h, 2), 0);
    timer_heap_set(&h, 0, 100);
    struct timer_entry e;
    assert_false(timer_heap_pop_due(&h, 99, &e));
    assert_true(timer_heap_peek(&h, &e));
    assert_int_equal(e.id, 0);
    assert_true(timer_heap_pop_due(&h, 100, &e));
    timer_heap_release(&h);
}

static void test_set_moves_and_remove_forgets(void **state)
{
    struct timer_heap h;
    assert_int_equal(timer_heap_init(&h, 4), 0);
    timer_heap_set(&h, 0, 10);
    timer_heap_set(&h, 1, 20);
    timer_heap_set(&h, 2, 30);
    timer_heap_set(&h, 3, 40);
    timer_heap_set(&h, 3, 5);  /* earlier */
    timer_heap_set(&h, 0, 35); /* later */
    timer_heap_remove(&h, 1);
    timer_heap_remove(&h, 1); /* twice: nothing */
    uint64_t due;
    assert_false(timer_heap_has(&h, 1, &due));
    assert_true(timer_heap_has(&h, 0, &due));
    assert_int_equal(due, 35);
    assert_int_equal(h.count, 3);
    struct timer_entry e;
    uint32_t want[3] = {3, 2, 0};
    for (int i = 0; i < 3; i++) {
        assert_true(timer_heap_pop_due(&h, 100, &e));
        assert_int_equal(e.id, want[i]);
    }
    assert_int_equal(timer_heap_set(&h, 4, 1), -EINVAL);
    timer_heap_release(&h);
    timer_heap_release(&h); /* twice is safe */
}

/* Many random operations against a plain array: the heap's minimum is always the true one. */
static void test_random_operations_match_a_scan(void **state)
{
    enum { N = 500 };
    struct timer_heap h;
    uint64_t shadow[N];
    int present[N] = {0};
    assert_int_equal(timer_heap_init(&h, N), 0);
    srand(7);
    for (int step = 0; step < 20000; step++) {
        uint32_t id = (uint32_t)rand() % N;
        int op = rand() % 4;
        if (op < 2) {
            shadow[id] = (uint64_t)(rand() % 1000);
            present[id] = 1;
            timer_heap_set(&h, id, shadow[id]);
        } else if (op == 2) {
            present[id] = 0;
            timer_heap_remove(&h, id);
        } else {
            int best = -1;
            for (int i = 0; i < N; i++)
                if (present[i] && (best < 0 || shadow[i] < shadow[best]))
                    best = i;
            struct timer_entry e;
            if (best < 0) {
                assert_false(timer_heap_peek(&h, &e));
                continue;
            }
            assert_true(timer_heap_pop_due(&h, UINT64_MAX, &e));
            assert_int_equal(e.due, shadow[best]);
            assert_true(present[e.id] && shadow[e.id] == e.due);
            present[e.id] = 0;
        }
    }
    timer_heap_release(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pops_in_due_order_ties_by_id),
        cmocka_unit_test(test_not_due_stays),
        cmocka_unit_test(test_set_moves_and_remove_forgets),
        cmocka_unit_test(test_random_operations_match_a_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
