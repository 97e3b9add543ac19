/*
 * Unit tests for src/service/backup.c, the part that is decisions and not
 * I/O: the name of a dated backup, and which entries of a rotation folder
 * `otad backup --in DIR --keep N` removes (never anything that is not a
 * backup by name, never the newest N, a .partial only when a newer whole
 * backup exists). The copies themselves are tests/e2e/test_backup.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "service/backup.h"

static void test_rotation_name(void **state)
{
    (void)state;
    char name[32];
    backup_rotation_name(1795921200000LL, name, sizeof(name)); /* 2026-11-29T03:00:00Z */
    assert_string_equal(name, "otad-20261129T030000Z");
    backup_rotation_name(0, name, sizeof(name));
    assert_string_equal(name, "otad-19700101T000000Z");
}

/* Runs the pick over NAMES and compares what it marks with WANT ("1" marked, "0" kept). */
static void pick_case(const char *const *names, size_t count, size_t keep, const char *want)
{
    bool remove[16];
    assert_true(count <= ARRAY_SIZE(remove) && strlen(want) == count);
    size_t marked = backup_rotation_pick(names, count, keep, remove);
    size_t want_marked = 0;
    for (size_t i = 0; i < count; i++) {
        if (remove[i] != (want[i] == '1'))
            fail_msg("keep %zu: \"%s\" %s, wanted %s", keep, names[i],
                     remove[i] ? "removed" : "kept", want[i] == '1' ? "removed" : "kept");
        want_marked += want[i] == '1';
    }
    assert_int_equal(marked, want_marked);
}

static void test_rotation_keeps_the_newest(void **state)
{
    (void)state;
    /* Any order in, by name (which is by time) out. */
    static const char *const names[] = {
        "otad-20261127T030000Z", "otad-20261129T030000Z", "otad-20261125T030000Z",
        "otad-20261128T030000Z", "otad-20261126T030000Z",
    };
    pick_case(names, 5, 7, "00000");
    pick_case(names, 5, 5, "00000");
    pick_case(names, 5, 3, "00101");
    pick_case(names, 5, 1, "10111");
}

static void test_rotation_leaves_what_is_no_backup(void **state)
{
    (void)state;
    static const char *const names[] = {
        ".",
        "..",
        "notes.txt",
        "otad-2026-11-01",           /* another naming: not ours */
        "otad-20261101T030000",      /* no Z */
        "otad-20261101X030000Z",     /* no T */
        "otad-2026110aT030000Z",     /* not a digit */
        "otad-20261101T030000Z.old", /* a suffix that is not .partial */
        "xotad-20261101T030000Z",
        "otad-20261129T030000Z",
    };
    pick_case(names, ARRAY_SIZE(names), 1, "0000000000");
}

static void test_rotation_removes_stale_partials_only(void **state)
{
    (void)state;
    static const char *const names[] = {
        "otad-20261127T030000Z.partial", /* older than the newest whole one: an interrupted run */
        "otad-20261128T030000Z",
        "otad-20261129T030000Z.partial", /* newer than any whole one: maybe running */
    };
    pick_case(names, 3, 7, "100");
    /* No whole backup at all: no partial is known to be stale. */
    static const char *const only_partials[] = {"otad-20261127T030000Z.partial"};
    pick_case(only_partials, 1, 1, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_name),
        cmocka_unit_test(test_rotation_keeps_the_newest),
        cmocka_unit_test(test_rotation_leaves_what_is_no_backup),
        cmocka_unit_test(test_rotation_removes_stale_partials_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
