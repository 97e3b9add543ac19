/*
 * Unit tests for src/service/registry.c: every recorded check-in reaches the
 * database, repeated devices update one row (coalesced between commits with
 * their count kept), a full table is committed at once instead of making
 * anyone wait, a check-in past both tables is dropped and counted without
 * waiting, new devices are limited per address and per product while known
 * ones are always recorded, and stopping commits what is still pending.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <time.h>

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
    assert_int_equal(registry_start(e->path, 1000, 1 << 16, NULL, &reg), 0);
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
    /* Each check-in either wrote its device's row or was merged into a pending one. */
    assert_int_equal(st.rows + st.coalesced, 3000);
    registry_stop(reg);
}

static void test_repeat_updates_one_row(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10, 64, NULL, &reg), 0);
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

/* Waits up to TIMEOUT_MS until at least WANT check-ins were committed; true when they were. */
static bool wait_recorded(struct registry *reg, uint64_t want, int timeout_ms)
{
    for (int waited = 0;; waited++) {
        struct registry_stats st;
        registry_stats(reg, &st);
        if (st.recorded >= want)
            return true;
        if (waited >= timeout_ms)
            return false;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

static double elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) * 1e3 +
           (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void test_full_queue_makes_room(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    /*
     * A table of 8 devices and an interval of 10 s: a full table must be
     * committed at once, not at the end of the interval and not by dropping.
     * Before each device the test lets the flusher finish what was handed
     * over before (all but the last 8 devices committed): a producer that
     * does not outrun the database loses nothing.
     */
    assert_int_equal(registry_start(e->path, 10000, 8, NULL, &reg), 0);
    for (uint32_t i = 0; i < 200; i++) {
        if (i >= 8)
            assert_true(wait_recorded(reg, i - 8, 2000));
        struct device_record r = record_for(e, i, "2.0.0");
        assert_int_equal(registry_record(reg, &r), 0);
    }
    assert_int_equal(registry_flush(reg), 0);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.recorded, 200);
    assert_int_equal(st.dropped, 0);
    assert_true(st.commits >= 200 / 8);
    registry_stop(reg);
    uint64_t devices;
    assert_int_equal(checkins_in_db(e, &devices), 200);
    assert_int_equal(devices, 200);
}

static void test_full_tables_drop_without_waiting(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10000, 8, NULL, &reg), 0);
    /* Another connection holds the write lock: the flusher cannot commit. */
    sqlite3 *blocker;
    assert_int_equal(sqlite3_open(e->path, &blocker), SQLITE_OK);
    assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    /* 0-7 fill a table, 8 hands it to the (stuck) flusher, 8-15 fill the other one. */
    for (uint32_t i = 0; i < 16; i++) {
        struct device_record r = record_for(e, i, "1.0.0");
        assert_int_equal(registry_record(reg, &r), 0);
    }
    /* Both tables are the flusher's: a new device is dropped at once, never waited for. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint32_t i = 16; i < 20; i++) {
        struct device_record r = record_for(e, i, "1.0.0");
        assert_int_equal(registry_record(reg, &r), -ENOBUFS);
    }
    assert_true(elapsed_ms(&t0) < 500);
    /* A device already pending is not new: its check-in is coalesced, not dropped. */
    struct device_record again = record_for(e, 15, "1.0.1");
    assert_int_equal(registry_record(reg, &again), 0);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.coalesced, 1);

    assert_int_equal(sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(blocker);
    assert_int_equal(registry_flush(reg), 0);
    registry_stats(reg, &st);
    assert_int_equal(st.recorded, 17);
    assert_int_equal(st.rows, 16);
    assert_int_equal(st.dropped, 4);
    registry_stop(reg);
    uint64_t devices;
    assert_int_equal(checkins_in_db(e, &devices), 17);
    assert_int_equal(devices, 16);
}

static void test_coalesced_checkins_count_and_keep_first_seen(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10000, 64, NULL, &reg), 0);
    /* Five check-ins of one device within one interval: one row write. */
    for (uint32_t i = 0; i < 5; i++) {
        struct device_record r = record_for(e, 3, i < 4 ? "1.0.0" : "1.0.1");
        r.last_seen_ms = 5000 + i;
        r.first_seen_ms = 0;
        if (i == 1) { /* offered an update once; later check-ins offered nothing */
            r.last_status = 200;
            strcpy(r.last_offered, "1.0.1");
            strcpy(r.last_key, "ab12");
        }
        assert_int_equal(registry_record(reg, &r), 0);
    }
    assert_int_equal(registry_flush(reg), 0);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.recorded, 5);
    assert_int_equal(st.coalesced, 4);
    assert_int_equal(st.rows, 1);
    assert_int_equal(st.commits, 1);

    /* A second interval adds its count to the row. */
    struct device_record r = record_for(e, 3, "1.0.1");
    r.last_seen_ms = 9000;
    r.checkins = 3; /* a caller may pass a record that stands for several */
    assert_int_equal(registry_record(reg, &r), 0);
    registry_stop(reg);

    struct device_record *list;
    size_t n;
    uint64_t total;
    assert_int_equal(db_device_list(e->db, e->product_id, 10, 0, &list, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(list[0].checkins, 8);
    assert_int_equal(list[0].first_seen_ms, 5000);
    assert_int_equal(list[0].last_seen_ms, 9000);
    assert_string_equal(list[0].report.version, "1.0.1");
    assert_int_equal(list[0].last_status, 304);
    assert_string_equal(list[0].last_offered, "1.0.1");
    assert_string_equal(list[0].last_key, "ab12");
    free(list);
}

/*
 * The anti-rollback counter through the pending table (docs/SECURITY.md,
 * "Anti-rollback"): check-ins of one device reporting 3, then 2, then none
 * within one interval commit the last reported value (2) and the highest
 * (3), as the database would have kept them one by one.
 */
static void test_coalesced_checkins_keep_the_highest_secure_version(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10000, 64, NULL, &reg), 0);
    static const struct {
        bool has;
        uint32_t value;
    } reports[] = {{true, 3}, {true, 2}, {false, 0}};
    for (uint32_t i = 0; i < 3; i++) {
        struct device_record r = record_for(e, 4, "1.0.0");
        r.last_seen_ms = 5000 + i;
        r.report.has_secure_version = reports[i].has;
        r.report.secure_version = reports[i].value;
        r.has_secure_version_max = reports[i].has; /* as service_checkin fills it */
        r.secure_version_max = reports[i].value;
        assert_int_equal(registry_record(reg, &r), 0);
    }
    assert_int_equal(registry_flush(reg), 0);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.rows, 1);
    registry_stop(reg);
    struct device_record *list;
    size_t n;
    uint64_t total;
    assert_int_equal(db_device_list(e->db, e->product_id, 10, 0, &list, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_true(list[0].report.has_secure_version);
    assert_int_equal(list[0].report.secure_version, 2);
    assert_true(list[0].has_secure_version_max);
    assert_int_equal(list[0].secure_version_max, 3);
    free(list);
}

static struct device_record record_from(const struct env *e, uint32_t n, const char *addr)
{
    struct device_record r = record_for(e, n, "1.0.0");
    strcpy(r.remote_addr, addr);
    return r;
}

/* The row of device N, or checkins -1 when it has none. */
static int64_t checkins_of(struct env *e, uint32_t n)
{
    struct device_record *list;
    size_t count;
    uint64_t total;
    int64_t found = -1;
    assert_int_equal(db_device_list(e->db, e->product_id, 1000, 0, &list, &count, &total), 0);
    struct device_record want = record_for(e, n, "");
    for (size_t i = 0; i < count; i++)
        if (memcmp(list[i].report.sta_mac, want.report.sta_mac, 6) == 0)
            found = list[i].checkins;
    free(list);
    return found;
}

static void test_new_devices_limited_per_address(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    struct registry_limits limits = {.new_devices_per_addr_per_minute = 5};
    assert_int_equal(registry_start(e->path, 10000, 64, &limits, &reg), 0);
    struct device_record known = record_from(e, 1000, "192.0.2.9");
    assert_int_equal(registry_record(reg, &known), 0);
    assert_int_equal(registry_flush(reg), 0);

    /* One address spoofs ten MACs: five become devices. */
    for (uint32_t i = 0; i < 10; i++) {
        struct device_record r = record_from(e, i, "192.0.2.1");
        assert_int_equal(registry_record(reg, &r), 0); /* recording is decided later */
    }
    assert_int_equal(registry_flush(reg), 0);
    uint64_t devices;
    checkins_in_db(e, &devices);
    assert_int_equal(devices, 6);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.refused_addr, 5);
    assert_int_equal(st.refused_product, 0);

    /* A known device from that address is recorded; its new ones still are not. */
    known = record_from(e, 1000, "192.0.2.1");
    assert_int_equal(registry_record(reg, &known), 0);
    struct device_record refused = record_from(e, 9, "192.0.2.1");
    assert_int_equal(registry_record(reg, &refused), 0);
    /* Another address has its own allowance, and so has another IPv6 /64. */
    struct device_record other = record_from(e, 20, "192.0.2.2");
    assert_int_equal(registry_record(reg, &other), 0);
    struct device_record v6 = record_from(e, 21, "2001:db8:0:1::7");
    assert_int_equal(registry_record(reg, &v6), 0);
    assert_int_equal(registry_flush(reg), 0);
    assert_int_equal(checkins_of(e, 1000), 2);
    assert_int_equal(checkins_of(e, 9), -1);
    assert_int_equal(checkins_of(e, 20), 1);
    assert_int_equal(checkins_of(e, 21), 1);
    registry_stats(reg, &st);
    assert_int_equal(st.refused_addr, 6);
    assert_int_equal(st.recorded + st.refused_addr + st.refused_product + st.dropped + st.failed,
                     15);
    registry_stop(reg);
}

static void test_product_maximum(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    struct registry_limits limits = {.max_devices_per_product = 3};
    assert_int_equal(registry_start(e->path, 10000, 64, &limits, &reg), 0);
    for (uint32_t i = 0; i < 5; i++) {
        struct device_record r = record_from(e, i, "192.0.2.1");
        assert_int_equal(registry_record(reg, &r), 0);
    }
    assert_int_equal(registry_flush(reg), 0);
    uint64_t devices;
    checkins_in_db(e, &devices);
    assert_int_equal(devices, 3);
    struct registry_stats st;
    registry_stats(reg, &st);
    assert_int_equal(st.refused_product, 2);
    assert_int_equal(st.refused_addr, 0);
    registry_stop(reg);

    /* A new process counts the rows already there; known devices are still recorded. */
    assert_int_equal(registry_start(e->path, 10000, 64, &limits, &reg), 0);
    struct device_record fresh = record_from(e, 7, "192.0.2.3");
    assert_int_equal(registry_record(reg, &fresh), 0);
    struct device_record known = record_from(e, 0, "192.0.2.3");
    assert_int_equal(registry_record(reg, &known), 0);
    assert_int_equal(registry_flush(reg), 0);
    registry_stats(reg, &st);
    assert_int_equal(st.refused_product, 1);
    assert_int_equal(st.recorded, 1);
    registry_stop(reg);
    assert_int_equal(checkins_of(e, 7), -1);
    assert_int_equal(checkins_of(e, 0), 2);

    /* 0 means unlimited. */
    limits.max_devices_per_product = 0;
    assert_int_equal(registry_start(e->path, 10000, 64, &limits, &reg), 0);
    assert_int_equal(registry_record(reg, &fresh), 0);
    registry_stop(reg);
    assert_int_equal(checkins_of(e, 7), 1);
}

static void test_records_without_mac_are_skipped(void **state)
{
    struct env *e = *state;
    struct registry *reg;
    assert_int_equal(registry_start(e->path, 10, 64, NULL, &reg), 0);
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
        cmocka_unit_test_setup_teardown(test_coalesced_checkins_keep_the_highest_secure_version,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_makes_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_tables_drop_without_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesced_checkins_count_and_keep_first_seen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_devices_limited_per_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_product_maximum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_without_mac_are_skipped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
