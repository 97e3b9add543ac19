/*
 * Unit tests for src/service/dashboard.c: one product's figures from its
 * rows (devices, seen in 24 hours, quiet by the learned interval or 24 h,
 * the versions with the most devices first and "other" past sixteen,
 * today's versions the same way), UTC days before 1970 too, and the thread:
 * it counts every product, and writes today's version history when it
 * stops, trimming the days past the kept ones.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/log.h"
#include "db/db.h"
#include "service/dashboard.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define NOW    (20000 * DAY_MS + 12 * 3600 * 1000LL) /* noon UTC, day 20000 */

struct env {
    char dir[64];
    char path[128];
    struct db *db;
    int64_t product_id;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0)
        return -1;
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(e->path, sizeof(e->path), "%s/otad.db", e->dir);
    if (db_open(e->path, DB_DURABLE, &e->db) < 0)
        return -1;
    struct product p = {.platform = PLATFORM_ESP8266};
    strcpy(p.name, "demo");
    strcpy(p.default_channel, "stable");
    if (db_product_insert(e->db, &p) < 0)
        return -1;
    e->product_id = p.id;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    db_close(e->db);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

/* Device N on VERSION, last seen AGO_MS before NOW. */
static void device(struct env *e, uint32_t n, const char *version, int64_t ago_ms)
{
    struct device_record r;
    memset(&r, 0, sizeof(r));
    r.product_id = e->product_id;
    r.report.has_sta_mac = true;
    r.report.sta_mac[4] = (uint8_t)(n >> 8);
    r.report.sta_mac[5] = (uint8_t)n;
    strcpy(r.report.version, version);
    r.last_seen_ms = r.first_seen_ms = NOW - ago_ms;
    r.last_status = 304;
    assert_int_equal(db_devices_record(e->db, &r, 1, NULL, NULL, NULL, NULL), 0);
}

static void test_day(void **state)
{
    (void)state;
    assert_int_equal(dashboard_day(0), 0);
    assert_int_equal(dashboard_day(DAY_MS - 1), 0);
    assert_int_equal(dashboard_day(DAY_MS), 1);
    assert_int_equal(dashboard_day(-1), -1); /* 1969-12-31 */
    assert_int_equal(dashboard_day(-DAY_MS), -1);
    assert_int_equal(dashboard_day(NOW), 20000);
}

static void test_figures(void **state)
{
    struct env *e = *state;
    device(e, 1, "1.0.0", 1000);               /* today */
    device(e, 2, "1.0.0", 13 * 3600 * 1000LL); /* yesterday, within 24 h */
    device(e, 3, "1.1.0", 25 * 3600 * 1000LL); /* quiet: no interval, over 24 h */
    device(e, 4, "", 60 * 1000);               /* no version */
    struct fleet_summary s;
    assert_int_equal(dashboard_compute(e->db, e->product_id, NOW, &s), 0);
    assert_int_equal(s.devices, 4);
    assert_int_equal(s.seen_24h, 3);
    assert_int_equal(s.quiet, 1);
    assert_int_equal(s.computed_ms, NOW);
    assert_int_equal(s.version_count, 3);
    assert_string_equal(s.versions[0].version, "1.0.0");
    assert_int_equal(s.versions[0].devices, 2);
    assert_string_equal(s.versions[1].version, ""); /* ties by name */
    assert_string_equal(s.versions[2].version, "1.1.0");
    /* Today (day 20000, from midnight UTC): devices 1 and 4 only. */
    assert_int_equal(s.today_count, 2);
    assert_string_equal(s.today[0].version, "");
    assert_int_equal(s.today[0].day, 20000);
    assert_string_equal(s.today[1].version, "1.0.0");
    assert_int_equal(s.today[1].devices, 1);
}

static void test_other_past_sixteen_versions(void **state)
{
    struct env *e = *state;
    /* Versions 1..20 with 20..1 devices (version v has 21 - v), all seen today. */
    uint32_t n = 0;
    for (int v = 1; v <= 20; v++)
        for (int k = 0; k < 21 - v; k++) {
            char version[16];
            snprintf(version, sizeof(version), "1.%d.0", v);
            device(e, ++n, version, 1000);
        }
    struct fleet_summary s;
    assert_int_equal(dashboard_compute(e->db, e->product_id, NOW, &s), 0);
    assert_int_equal(s.devices, n);
    assert_int_equal(s.version_count, LIMIT_SUMMARY_VERSIONS + 1);
    assert_string_equal(s.versions[0].version, "1.1.0");
    assert_int_equal(s.versions[0].devices, 20);
    assert_string_equal(s.versions[15].version, "1.16.0");
    assert_string_equal(s.versions[16].version, "other");
    assert_int_equal(s.versions[16].devices, 4 + 3 + 2 + 1); /* 1.17.0 to 1.20.0 */
    assert_int_equal(s.today_count, LIMIT_SUMMARY_VERSIONS + 1);
    assert_string_equal(s.today[16].version, "other");
    assert_int_equal(s.today[16].devices, 10);
}

static int64_t fixed_now(void *ctx)
{
    (void)ctx;
    return NOW;
}

static void test_thread_counts_and_writes_history_at_stop(void **state)
{
    struct env *e = *state;
    device(e, 1, "1.0.0", 1000);
    device(e, 2, "1.1.0", 2000);
    /* A day past the kept ones, and yesterday. */
    struct version_day old = {.version = "0.1.0", .devices = 7};
    assert_int_equal(db_version_day_put(e->db, e->product_id, 20000 - 400, &old, 1, 20000 - 1000),
                     0);
    assert_int_equal(db_version_day_put(e->db, e->product_id, 20000 - 1, &old, 1, 0), 0);
    struct dashboard *d = NULL;
    assert_int_equal(dashboard_start(e->path, 0, fixed_now, NULL, &d), 0);
    struct fleet_summary s;
    int r = -ENOENT;
    for (int i = 0; i < 500 && r == -ENOENT; i++) {
        r = dashboard_get(d, e->product_id, &s);
        if (r == -ENOENT) {
            struct timespec ms = {0, 10 * 1000000L};
            nanosleep(&ms, NULL);
        }
    }
    assert_int_equal(r, 0);
    assert_int_equal(s.devices, 2);
    assert_int_equal(dashboard_get(d, e->product_id + 1, &s), -ENOENT);
    dashboard_stop(d);
    dashboard_stop(NULL);
    struct version_day *rows = NULL;
    size_t n = 0;
    assert_int_equal(db_version_day_list(e->db, e->product_id, 0, &rows, &n), 0);
    assert_int_equal(n, 3); /* yesterday, and today's two versions; day 19600 trimmed */
    assert_int_equal(rows[0].day, 20000 - 1);
    assert_int_equal(rows[1].day, 20000);
    assert_int_equal(rows[2].day, 20000);
    assert_int_equal(rows[1].devices, 1);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day),
        cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_past_sixteen_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_counts_and_writes_history_at_stop, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
