/* Unit tests for src/cli/supervise.c: the STATUS= line systemctl status shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/supervise.h"

static const struct supervise_rollout rollouts[] = {
    {"door", "2.0.0", 2, 4, "running"}, {"lamp", "1.1.0", 1, 3, "paused"},
    {"gate", "0.9.1", 3, 3, "halted"},  {"fan", "5.0.0", 1, 2, "queued"},
    {"pump", "1.0.0", 1, 2, "running"},
};

static void test_no_rollouts(void **state)
{
    (void)state;
    char out[256];
    size_t n = supervise_status_text(0, NULL, 0, out, sizeof(out));
    assert_string_equal(out, "STATUS=0.0 check-ins/s; no active rollouts");
    assert_int_equal(n, strlen(out));
}

static void test_some_rollouts(void **state)
{
    (void)state;
    char out[256];
    supervise_status_text(12.46, rollouts, 1, out, sizeof(out));
    assert_string_equal(out,
                        "STATUS=12.5 check-ins/s; 1 active rollout: door@2.0.0 stage 2/4 running");
    supervise_status_text(3, rollouts, 2, out, sizeof(out));
    assert_string_equal(out, "STATUS=3.0 check-ins/s; 2 active rollouts: door@2.0.0 stage 2/4 "
                             "running, lamp@1.1.0 stage 1/3 paused");
}

/* The first SUPERVISE_STATUS_ROLLOUTS are named, the rest counted. */
static void test_more_rollouts(void **state)
{
    (void)state;
    char out[256];
    supervise_status_text(0.5, rollouts, 5, out, sizeof(out));
    assert_string_equal(out, "STATUS=0.5 check-ins/s; 5 active rollouts: door@2.0.0 stage 2/4 "
                             "running, lamp@1.1.0 stage 1/3 paused, gate@0.9.1 stage 3/3 halted, "
                             "+2 more");
}

/* Too small a buffer: cut at a whole rollout, always terminated. */
static void test_cut(void **state)
{
    (void)state;
    char out[80];
    size_t n = supervise_status_text(1, rollouts, 2, out, sizeof(out));
    assert_string_equal(out,
                        "STATUS=1.0 check-ins/s; 2 active rollouts: door@2.0.0 stage 2/4 running");
    assert_int_equal(n, strlen(out));
    char tiny[8];
    assert_int_equal(supervise_status_text(1, rollouts, 2, tiny, sizeof(tiny)), 0);
    assert_string_equal(tiny, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_rollouts),
        cmocka_unit_test(test_some_rollouts),
        cmocka_unit_test(test_more_rollouts),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
