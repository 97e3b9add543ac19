/*
 * Unit tests for src/core/cpus.c: cpu.max and /proc/self/cgroup texts, and a
 * cgroup tree made of plain folders (no real cgroup needed).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/cpus.h"
#include "core/util.h"

static void test_from_cpu_max(void **state)
{
    static const struct {
        const char *text;
        unsigned cpus;
    } cases[] = {
        {"max 100000\n", 0},
        {"max 100000", 0},
        {"100000 100000\n", 1},
        {"50000 100000\n", 1},  /* half a CPU still needs one thread */
        {"150000 100000\n", 2}, /* rounded up */
        {"200000 100000\n", 2},
        {"400000 50000\n", 8},
        {"1 1000000\n", 1},
        {"", 0},
        {"garbage\n", 0},
        {"100000\n", 0},   /* no period */
        {"100000 0\n", 0}, /* a zero period is malformed */
        {"0 100000\n", 0},
        {"-5 100000\n", 0},
        {"18446744073709551615 1\n", UINT_MAX},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (cpus_from_cpu_max(cases[i].text) != cases[i].cpus)
            fail_msg("\"%s\": got %u, expected %u", cases[i].text, cpus_from_cpu_max(cases[i].text),
                     cases[i].cpus);
}

static void test_cgroup_path(void **state)
{
    char path[64];
    assert_int_equal(cpus_cgroup_path("0::/system.slice/otad.service\n", path, sizeof(path)), 0);
    assert_string_equal(path, "/system.slice/otad.service");
    /* Hybrid hierarchy: v1 lines first, the v2 line last. */
    assert_int_equal(
        cpus_cgroup_path("12:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c/d\n", path, sizeof(path)), 0);
    assert_string_equal(path, "/c/d");
    assert_int_equal(cpus_cgroup_path("0::/\n", path, sizeof(path)), 0);
    assert_string_equal(path, "/");
    assert_int_equal(cpus_cgroup_path("0::/x", path, sizeof(path)), 0); /* no final newline */
    assert_string_equal(path, "/x");
    assert_int_equal(cpus_cgroup_path("4:memory:/x\n3:cpu:/\n", path, sizeof(path)), -ENOENT);
    assert_int_equal(cpus_cgroup_path("", path, sizeof(path)), -ENOENT);
    char tiny[4];
    assert_int_equal(cpus_cgroup_path("0::/long/path\n", tiny, sizeof(tiny)), -ENAMETOOLONG);
}

static void write_cpu_max(const char *root, const char *dir, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s%s", root, dir);
    assert_int_equal(dir_create_all(path, 0700), 0);
    snprintf(path, sizeof(path), "%s%s/cpu.max", root, dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_cgroup_quota_walks_up(void **state)
{
    char root[64];
    assert_int_equal(fixture_tmpdir(root), 0);
    /* No cpu.max anywhere: no limit. */
    assert_int_equal(cpus_cgroup_quota(root, "/nowhere/at/all"), 0);
    write_cpu_max(root, "/system.slice/otad.service", "max 100000\n");
    assert_int_equal(cpus_cgroup_quota(root, "/system.slice/otad.service"), 0);
    /* A parent's quota binds its child. */
    write_cpu_max(root, "/system.slice", "300000 100000\n");
    assert_int_equal(cpus_cgroup_quota(root, "/system.slice/otad.service"), 3);
    assert_int_equal(cpus_cgroup_quota(root, "/system.slice/otad.service/"), 3);
    /* The smaller of the two wins, wherever it is. */
    write_cpu_max(root, "/system.slice/otad.service", "150000 100000\n");
    assert_int_equal(cpus_cgroup_quota(root, "/system.slice/otad.service"), 2);
    write_cpu_max(root, "/system.slice", "100000 100000\n");
    assert_int_equal(cpus_cgroup_quota(root, "/system.slice/otad.service"), 1);
    /* A container's own namespace: "0::/" and the quota at the mount's root. */
    write_cpu_max(root, "", "200000 100000\n");
    assert_int_equal(cpus_cgroup_quota(root, "/"), 2);
    fixture_rmdir(root);
}

static void test_usable(void **state)
{
    assert_int_equal(cpus_usable(8, 0), 8); /* no quota */
    assert_int_equal(cpus_usable(8, 2), 2); /* quota below the mask */
    assert_int_equal(cpus_usable(1, 4), 1); /* taskset -c 0 on a 4-CPU quota */
    assert_int_equal(cpus_usable(0, 3), 3); /* mask unreadable */
    assert_int_equal(cpus_usable(0, 0), 1); /* nothing known: still one */
}

static void test_budget_of_this_process(void **state)
{
    /* The real reading: whatever the machine, at least one CPU and never more than the mask. */
    struct cpus_budget b;
    cpus_budget_read(&b);
    assert_true(b.usable >= 1);
    if (b.affinity)
        assert_true(b.usable <= b.affinity);
    if (b.quota)
        assert_true(b.usable <= b.quota);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_cpu_max),           cmocka_unit_test(test_cgroup_path),
        cmocka_unit_test(test_cgroup_quota_walks_up),  cmocka_unit_test(test_usable),
        cmocka_unit_test(test_budget_of_this_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
