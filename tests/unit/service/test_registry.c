/*
 * Unit tests for src/service/registry.c: every queued check-in reaches the
 * database, repeated devices update one row, a full queue makes room instead
 * of dropping, and stopping commits what is still queued.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "db/db.h"
#include "service/registry.h"

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

static struct device_record record_for(const struct env *e, uint32_t n, const char *version)
{
    struct device_record r;
    memset(&r, 0, sizeof(r));
    r.product_id = e->product_id;
    r.report.has_sta_mac = true;
    r.report.sta_mac[3] = (uint8_t)(n >> 16);
    r.report.sta_mac[4] = (uint8_t)(n >> 8);
    r.report.sta_mac[5] = (uint8_t)n;
    strcpy(r.report.version, version);
    r.last_seen_ms = 1000 + n;
    r.last_status = 304;
    return r;
}

/* The devices' total check-ins as the database has them. */
static int64_t checkins_in_db(struct env *e, uint64_t *ret_devices)
{
    struct device_record *list;
    size_t n;
    uint64_t total;
    int64_t sum = 0;
    for (size_t offset = 0;; offset += n) {
        assert_int_equal(db_device_list(e->db, e->product_id, 1000, offset, &list, &n, &total), 0);
        for (size_t i = 0; i < n; i++)
            sum += list[i].checkins;
        free(list);
        if (n == 0)
            break;
    }
    *ret_devices = total;
    return sum;
}

static void test_every_checkin_is_committed(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 1000, 1 << 16, &reg), 0);
    for (uint32_t i = 0; i < 3000; i++) {
        struct device_record r = record_for(e, i % 1000, "1.0.0");
        assert_int_equal(registry_record(reg, &r), 0);
    }
    assert_int_equal(registry_flush(reg), 0);
    uint64_t devices;
    assert_int_equal(checkins_in_db(e, &devices), 3000);
    assert_int_equal(devices, 1000);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.recorded, 3000);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.failed, 0);
    registry_stop(reg);
}

static void test_repeat_updates_one_row(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10, 64, &reg), 0);
    struct device_record r = record_for(e, 7, "1.0.0");
    assert_int_equal(registry_record(reg, &r), 0);
    assert_int_equal(registry_flush(reg), 0);
    r = record_for(e, 7, "1.0.1");
    r.last_status = 200;
    strcpy(r.last_offered, "1.0.2");
    assert_int_equal(registry_record(reg, &r), 0);
    registry_stop(reg); /* stopping commits what is queued */

    struct device_record *list;
    size_t n;
    uint64_t total;
    assert_int_equal(db_device_list(e->db, e->product_id, 10, 0, &list, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(list[0].checkins, 2);
    assert_string_equal(list[0].report.version, "1.0.1");
    assert_int_equal(list[0].last_status, 200);
    assert_string_equal(list[0].last_offered, "1.0.2");
    assert_int_equal(list[0].first_seen_ms, 1007);
    free(list);
}

static void test_full_queue_makes_room(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    /* A queue of 8 and a long interval: a full queue must trigger a commit, not a drop. */
    assert_int_equal(registry_start(e->path, 1000, 8, &reg), 0);
    for (uint32_t i = 0; i < 200; i++) {
        struct device_record r = record_for(e, i, "2.0.0");
        assert_int_equal(registry_record(reg, &r), 0);
    }
    registry_stop(reg);
    uint64_t devices;
    assert_int_equal(checkins_in_db(e, &devices), 200);
    assert_int_equal(devices, 200);
}

static void test_records_without_mac_are_skipped(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10, 64, &reg), 0);
    struct device_record r = record_for(e, 1, "1.0.0");
    r.report.has_sta_mac = false;
    assert_int_equal(registry_record(reg, &r), 0);
    assert_int_equal(registry_flush(reg), 0);
    uint64_t devices;
    assert_int_equal(checkins_in_db(e, &devices), 0);
    assert_int_equal(devices, 0);
    registry_stop(reg);
    registry_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_checkin_is_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_updates_one_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_makes_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_without_mac_are_skipped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
