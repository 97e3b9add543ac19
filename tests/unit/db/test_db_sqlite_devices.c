/*
 * Unit tests for src/db/db_sqlite_devices.c, the parts fleet control adds
 * (the batch writes themselves are in test_db_sqlite.c): the check-in
 * interval each known device's record teaches (gaps under 30 s ignored,
 * the first gap as it is, then a mean moved a quarter of the way), with no
 * statement of its own, and db_device_get. And what the dashboard reads
 * (migration 009): the channel and group recorded with a check-in, also
 * when only they change; pages by keyset and their filters; and the plan
 * of every page query shape, which must walk an index (a SCAN of devices
 * would make the last page of a million cost a million rows).
 */
#include <errno.h>

#include "db/db_fleet.h"
#include "env.h"

/* Device 18:FE:AA:00:00:01's learned interval and its count of gaps. */
static void device_interval(struct db *db, int64_t product_id, int64_t *ret_interval_ms,
                            int64_t *ret_intervals)
{
    struct device_record d;
    assert_int_equal(
        db_device_get(db, product_id, 0x18FEAA000001ULL, &d, ret_interval_ms, ret_intervals), 0);
}

static void test_interval_learned(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    static const struct {
        int64_t seen_ms;
        int64_t interval_ms, intervals; /* after this check-in */
    } steps[] = {
        {1000, 0, 0},                      /* new: no gap yet */
        {11000, 0, 0},                     /* 10 s: a retry, not an interval */
        {40999, 0, 0},                     /* 29.999 s: still not */
        {100999, 60000, 1},                /* the first gap stands as it is */
        {120999, 60000, 1},                /* 20 s: ignored */
        {220999, 70000, 2},                /* (3 x 60000 + 100000) / 4 */
        {100000, 70000, 2},                /* the clock stepped back: ignored */
        {130000, 60000, 3},                /* (3 x 70000 + 30000) / 4: exactly 30 s counts */
        {3730000, 945000, 4},              /* an hour: (3 x 60000 + 3600000) / 4 */
        {3730000 + 945000, 945000, 5},     /* a gap equal to the mean keeps it */
        {3730000 + 945000 + 1, 945000, 5}, /* a duplicate a millisecond later */
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct device_record d = db_env_device(p.id, 1, "1.0.0");
        d.last_seen_ms = steps[i].seen_ms;
        assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL), 0);
        int64_t interval = -1, count = -1;
        device_interval(e->db, p.id, &interval, &count);
        if (interval != steps[i].interval_ms || count != steps[i].intervals)
            fail_msg("step %zu: interval %lld (want %lld), intervals %lld (want %lld)", i,
                     (long long)interval, (long long)steps[i].interval_ms, (long long)count,
                     (long long)steps[i].intervals);
    }
    /* The other fields are written as before. */
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 11);
    db_env_assert_idle(e->db);
}

static int count_statement(unsigned type, void *ctx, void *p, void *x)
{
    (*(unsigned *)ctx)++;
    return 0;
}

/* Learning costs no statement: a known device is still one UPDATE, in one batch with others. */
static void test_interval_in_batch(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct device_record batch[2] = {db_env_device(p.id, 1, "1.0.0"),
                                     db_env_device(p.id, 2, "1.0.0")};
    assert_int_equal(db_devices_record(e->db, batch, 2, NULL, NULL, NULL), 0);
    batch[0].last_seen_ms += 90000;
    batch[1].last_seen_ms += 5000;
    struct db_sqlite *sq = db_sqlite_of(e->db);
    unsigned statements = 0;
    sqlite3_trace_v2(sq->conn, SQLITE_TRACE_STMT, count_statement, &statements);
    size_t rows = 0;
    assert_int_equal(db_devices_record(e->db, batch, 2, NULL, NULL, &rows), 0);
    sqlite3_trace_v2(sq->conn, 0, NULL, NULL);
    assert_int_equal(rows, 2);
    assert_int_equal(statements, 4); /* BEGIN, one UPDATE per device, COMMIT */
    assert_int_equal(
        db_env_int(e->db, "SELECT interval_ms FROM devices WHERE mac = 0x18FEAA000001"), 90000);
    assert_int_equal(db_env_int(e->db, "SELECT intervals FROM devices WHERE mac = 0x18FEAA000002"),
                     0);
    db_env_assert_idle(e->db);
}

static void test_device_get(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct product q = db_env_product(e->db, "gate");
    struct device_record d = db_env_device(p.id, 7, "2.1.0");
    d.last_status = 200;
    strcpy(d.last_offered, "2.2.0");
    strcpy(d.remote_addr, "192.0.2.7");
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL), 0);
    d.last_seen_ms = 61000;
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL), 0);

    struct device_record got;
    memset(&got, 0, sizeof(got));
    int64_t interval = -1, count = -1;
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000007ULL, &got, &interval, &count), 0);
    assert_int_equal(got.product_id, p.id);
    assert_true(got.report.has_sta_mac);
    static const uint8_t mac[6] = {0x18, 0xfe, 0xaa, 0, 0, 7};
    assert_memory_equal(got.report.sta_mac, mac, 6);
    assert_string_equal(got.report.version, "2.1.0");
    assert_string_equal(got.last_offered, "2.2.0");
    assert_string_equal(got.remote_addr, "192.0.2.7");
    assert_int_equal(got.last_status, 200);
    assert_int_equal(got.first_seen_ms, 1000);
    assert_int_equal(got.last_seen_ms, 61000);
    assert_int_equal(got.checkins, 2);
    assert_int_equal(interval, 60000);
    assert_int_equal(count, 1);
    /* The interval's out-parameters may be NULL. */
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000007ULL, &got, NULL, NULL), 0);

    /* Another MAC, another product: -ENOENT, nothing written. */
    got.checkins = 99;
    interval = count = -1;
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000008ULL, &got, &interval, &count),
                     -ENOENT);
    assert_int_equal(db_device_get(e->db, q.id, 0x18FEAA000007ULL, &got, &interval, &count),
                     -ENOENT);
    assert_int_equal(got.checkins, 99);
    assert_int_equal(interval, -1);
    assert_int_equal(count, -1);
    db_env_assert_idle(e->db);
}

#define MAC_ALL 0xFFFFFFFFFFFFULL

/* MACs of a page, as their last byte, into OUT ("1,2,3"). */
static void page_macs(struct db *db, int64_t product_id, const struct device_filter *f,
                      bool backward, size_t limit, char *out, size_t size)
{
    struct device_record *list = NULL;
    size_t n = 0;
    assert_int_equal(db_device_page(db, product_id, f, backward, limit, &list, &n), 0);
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%u", i ? "," : "",
                 (unsigned)list[i].report.sta_mac[5]);
    free(list);
}

static void test_page_filters(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    /* 1-6: 1-3 on 1.0.0 (200), 4-6 on 1.1.0 (304); 5 and 6 in group lab on beta. */
    for (uint8_t n = 1; n <= 6; n++) {
        struct device_record d = db_env_device(p.id, n, n <= 3 ? "1.0.0" : "1.1.0");
        d.last_status = n <= 3 ? 200 : 304;
        strcpy(d.channel, n >= 5 ? "beta" : "stable");
        strcpy(d.group, n >= 5 ? "lab" : "");
        assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL), 0);
    }
    /* Only the group changes for device 4: the full update writes it (the same-row path does not
     * match). */
    struct device_record d4 = db_env_device(p.id, 4, "1.1.0");
    strcpy(d4.channel, "beta");
    strcpy(d4.group, "lab");
    d4.last_seen_ms = 5000;
    assert_int_equal(db_devices_record(e->db, &d4, 1, NULL, NULL, NULL), 0);

    char got[64];
    struct device_filter all = {.mac_max = MAC_ALL};
    page_macs(e->db, p.id, &all, false, 10, got, sizeof(got));
    assert_string_equal(got, "1,2,3,4,5,6");
    page_macs(e->db, p.id, &all, true, 2, got, sizeof(got));
    assert_string_equal(got, "6,5");
    struct device_filter f = all;
    f.group = "lab";
    page_macs(e->db, p.id, &f, false, 10, got, sizeof(got));
    assert_string_equal(got, "4,5,6");
    f = all;
    f.channel = "stable";
    page_macs(e->db, p.id, &f, false, 10, got, sizeof(got));
    assert_string_equal(got, "1,2,3");
    f = all;
    f.version = "1.1.0";
    f.mac_min = 0x18FEAA000005ULL; /* a keyset bound */
    page_macs(e->db, p.id, &f, false, 10, got, sizeof(got));
    assert_string_equal(got, "5,6");
    f = all;
    f.status = 200;
    f.version_part = ".0.";
    page_macs(e->db, p.id, &f, false, 10, got, sizeof(got));
    assert_string_equal(got, "1,2,3");
    /* Quiet at 24 h + 2 s: everyone but device 4 (seen at 5000 ms; none has an interval). */
    f = all;
    f.quiet = true;
    f.now_ms = 24 * 3600 * 1000LL + 2000;
    page_macs(e->db, p.id, &f, false, 10, got, sizeof(got));
    assert_string_equal(got, "1,2,3,5,6");
    uint64_t count = 0;
    assert_int_equal(db_device_count(e->db, p.id, &f, &count), 0);
    assert_int_equal(count, 5);
    struct device_record d;
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000004ULL, &d, NULL, NULL), 0);
    assert_string_equal(d.channel, "beta");
    assert_string_equal(d.group, "lab");
    assert_int_equal(d.last_seen_ms, 5000);
    db_env_assert_idle(e->db);
}

/* Fails unless every step of the plan of SQL searches an index, and a page needs no sort. */
static void assert_walks_index(struct db *db, const char *sql, bool page, const char *shape)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    char explain[4096];
    snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(sq->conn, explain, -1, &s, NULL), SQLITE_OK);
    int steps = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        steps++;
        if (strncmp(detail, "SCAN", 4) == 0 || (page && strstr(detail, "TEMP B-TREE")) ||
            !strstr(detail, "SEARCH devices USING"))
            fail_msg("%s: the plan says \"%s\"", shape, detail);
    }
    sqlite3_finalize(s);
    assert_true(steps > 0);
}

static void test_page_plans_walk_an_index(void **state)
{
    struct db_env *e = *state;
    static const struct {
        const char *shape;
        struct device_filter filter;
        const char *index; /* the index the walk must use */
    } shapes[] = {
        {"no filter", {.mac_max = MAC_ALL}, "PRIMARY KEY"},
        {"q: a MAC prefix",
         {.mac_min = 0x18FE34000000ULL, .mac_max = 0x18FE34FFFFFFULL},
         "PRIMARY KEY"},
        {"q: a version part", {.mac_max = MAC_ALL, .version_part = "1.2"}, "PRIMARY KEY"},
        {"quiet", {.mac_max = MAC_ALL, .quiet = true, .now_ms = 1}, "PRIMARY KEY"},
        {"version", {.mac_max = MAC_ALL, .version = "1.2.0"}, "devices_by_version"},
        {"version and quiet",
         {.mac_max = MAC_ALL, .version = "1.2.0", .quiet = true},
         "devices_by_version"},
        {"group", {.mac_max = MAC_ALL, .group = "lab"}, "devices_by_group"},
        {"group and channel",
         {.mac_max = MAC_ALL, .group = "lab", .channel = "beta"},
         "devices_by_group"},
        {"channel", {.mac_max = MAC_ALL, .channel = "beta"}, "devices_by_channel"},
        {"channel and outcome",
         {.mac_max = MAC_ALL, .channel = "beta", .status = 304},
         "devices_by_channel"},
        {"outcome", {.mac_max = MAC_ALL, .status = 304}, "devices_by_status"},
        {"outcome and q",
         {.mac_min = 1, .mac_max = 2, .status = 200, .version_part = "x"},
         "devices_by_status"},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        for (int kind = 0; kind < 3; kind++) { /* forward, backward, count */
            const char *sql = db_sqlite_device_page_sql(&shapes[i].filter, kind == 1, kind == 2);
            assert_walks_index(e->db, sql, kind < 2, shapes[i].shape);
            struct db_sqlite *sq = db_sqlite_of(e->db);
            char explain[4096];
            snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
            sqlite3_stmt *s;
            assert_int_equal(sqlite3_prepare_v2(sq->conn, explain, -1, &s, NULL), SQLITE_OK);
            assert_int_equal(sqlite3_step(s), SQLITE_ROW);
            const char *detail = (const char *)sqlite3_column_text(s, 3);
            if (!strstr(detail, shapes[i].index))
                fail_msg("%s: walks \"%s\", not %s", shapes[i].shape, detail, shapes[i].index);
            sqlite3_finalize(s);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_interval_learned, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_interval_in_batch, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_device_get, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_page_filters, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_page_plans_walk_an_index, db_env_setup,
                                        db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
