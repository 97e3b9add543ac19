/*
 * Unit tests for src/db/db_sqlite_devices.c and, built with
 * DB_ENV_POSTGRESQL, db_pg_devices.c: the batch's semantics (test_db_sqlite.c
 * has the first ones), the check-in
 * interval each known device's record teaches (gaps under 30 s ignored,
 * or under the connection's interval_min_gap_ms, the first gap as it is,
 * then a mean moved a quarter of the way), with no statement of its own,
 * and db_device_get. And what the dashboard reads
 * (migration 009): the channel and group recorded with a check-in, also
 * when only they change; pages by keyset and their filters; and the plan
 * of every page query shape, which must walk an index (a SCAN of devices
 * would make the last page of a million cost a million rows). And the
 * multi-node case: two connections recording the same devices at once
 * both count. On PostgreSQL the batch must be a constant number of
 * statements, whatever its size (libpq's trace counts them).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "db/db_fleet.h"
#include "env.h"

/*
 * Adds product NAME. On PostgreSQL with SQL of its own: the products are
 * ported in db_pg_products.c, and these tests are about the devices.
 */
static struct product devices_product(struct db *db, const char *name)
{
#ifdef DB_ENV_POSTGRESQL
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, name);
    strcpy(p.default_channel, "stable");
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO products (name, platform, default_channel, created_ms) "
             "VALUES ('%s', 0, 'stable', 1) RETURNING id",
             name);
    p.id = db_env_int(db, sql);
    return p;
#else
    return db_env_product(db, name);
#endif
}

/* Device 18:FE:AA:00:00:01's learned interval and its count of gaps. */
static void device_interval(struct db *db, int64_t product_id, int64_t *ret_interval_ms,
                            int64_t *ret_intervals)
{
    struct device_record d;
    assert_int_equal(
        db_device_get(db, product_id, 0x18FEAA000001ULL, &d, ret_interval_ms, ret_intervals), 0);
}

/* A check-in of device 18:FE:AA:00:00:01 at a time, and what it has learned after it. */
struct interval_step {
    int64_t seen_ms;
    int64_t interval_ms, intervals;
};

/* Records the device's check-ins at STEPS' times in order, holding each to what it learned. */
static void record_interval_steps(struct db *db, int64_t product_id,
                                  const struct interval_step *steps, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct device_record d = db_env_device(product_id, 1, "1.0.0");
        d.last_seen_ms = steps[i].seen_ms;
        assert_int_equal(db_devices_record(db, &d, 1, NULL, NULL, NULL, NULL), 0);
        int64_t interval = -1, intervals = -1;
        device_interval(db, product_id, &interval, &intervals);
        if (interval != steps[i].interval_ms || intervals != steps[i].intervals)
            fail_msg("step %zu: interval %lld (want %lld), intervals %lld (want %lld)", i,
                     (long long)interval, (long long)steps[i].interval_ms, (long long)intervals,
                     (long long)steps[i].intervals);
    }
}

static void test_interval_learned(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    static const struct interval_step steps[] = {
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
    record_interval_steps(e->db, p.id, steps, sizeof(steps) / sizeof(steps[0]));
    /* The other fields are written as before. */
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 11);
    db_env_assert_idle(e->db);
}

/*
 * Fast time (the interval_min_gap_ms setting): with the shortest interval
 * at 1 s, a device that checks in every 2 s learns its 2 s, and a gap
 * under the setting still teaches nothing; the setting is the
 * connection's, so another connection keeps the 30 s default.
 */
static void test_interval_min_gap_is_the_connections(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct db_fleet_timing fast = {.deadline_margin_ms = 2000, .interval_min_gap_ms = 1000};
    db_set_fleet_timing(e->db, &fast);
    static const struct interval_step steps[] = {
        {1000, 0, 0},    /* new: no gap yet */
        {1999, 0, 0},    /* 999 ms: under the setting, not an interval */
        {3999, 2000, 1}, /* 2 s: an interval now (under 30 s, it was not before) */
        {5999, 2000, 2}, /* (3 x 2000 + 2000) / 4 */
        {6999, 1750, 3}, /* exactly 1 s counts: (3 x 2000 + 1000) / 4 */
        {8999, 1812, 4}, /* (3 x 1750 + 2000) / 4, rounded down */
        {9998, 1812, 4}, /* 999 ms again: ignored */
    };
    record_interval_steps(e->db, p.id, steps, sizeof(steps) / sizeof(steps[0]));
    /* A connection opened without the setting: 2 s gaps are retries again. */
    struct db *other = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &other), 0);
    struct device_record d = db_env_device(p.id, 1, "1.0.0");
    d.last_seen_ms = 11998; /* 2 s after the last */
    assert_int_equal(db_devices_record(other, &d, 1, NULL, NULL, NULL, NULL), 0);
    db_close(other);
    int64_t interval = -1, count = -1;
    device_interval(e->db, p.id, &interval, &count);
    assert_int_equal(interval, 1812);
    assert_int_equal(count, 4);
    db_env_assert_idle(e->db);
}

#ifndef DB_ENV_POSTGRESQL
static int count_statement(unsigned type, void *ctx, void *p, void *x)
{
    (*(unsigned *)ctx)++;
    return 0;
}

/* Learning costs no statement: a known device is still one UPDATE, in one batch with others. */
static void test_interval_in_batch(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct device_record batch[2] = {db_env_device(p.id, 1, "1.0.0"),
                                     db_env_device(p.id, 2, "1.0.0")};
    assert_int_equal(db_devices_record(e->db, batch, 2, NULL, NULL, NULL, NULL), 0);
    batch[0].last_seen_ms += 90000;
    batch[1].last_seen_ms += 5000;
    struct db_sqlite *sq = db_sqlite_of(e->db);
    unsigned statements = 0;
    sqlite3_trace_v2(sq->conn, SQLITE_TRACE_STMT, count_statement, &statements);
    size_t rows = 0;
    assert_int_equal(db_devices_record(e->db, batch, 2, NULL, NULL, NULL, &rows), 0);
    sqlite3_trace_v2(sq->conn, 0, NULL, NULL);
    assert_int_equal(rows, 2);
    assert_int_equal(statements, 4); /* BEGIN, one UPDATE per device, COMMIT */
    assert_int_equal(
        db_env_int(e->db, "SELECT interval_ms FROM devices WHERE mac = 0x18FEAA000001"), 90000);
    assert_int_equal(db_env_int(e->db, "SELECT intervals FROM devices WHERE mac = 0x18FEAA000002"),
                     0);
    db_env_assert_idle(e->db);
}

#else
/* Statements sent on DB's connection while libpq traced it into TRACE (each is one Parse). */
static unsigned traced_statements(FILE *trace)
{
    rewind(trace);
    char line[512];
    unsigned n = 0;
    bool line_start = true;
    while (fgets(line, sizeof(line), trace)) {
        if (line_start && strncmp(line, "F\t", 2) == 0 && strstr(line, "\tParse\t"))
            n++;
        line_start = strchr(line, '\n') != NULL;
    }
    return n;
}

/* Records BATCH (COUNT devices) on DB and returns how many statements that sent. */
static unsigned record_counting_statements(struct db *db, const struct device_record *batch,
                                           size_t count, db_device_admit_fn admit, void *ctx,
                                           size_t *ret_rows)
{
    struct db_pg *pg = db_pg_of(db);
    FILE *trace = tmpfile();
    assert_non_null(trace);
    PQtrace(pg->conn, trace);
    PQsetTraceFlags(pg->conn, PQTRACE_SUPPRESS_TIMESTAMPS);
    assert_int_equal(db_devices_record(db, batch, count, admit, ctx, NULL, ret_rows), 0);
    PQuntrace(pg->conn);
    unsigned n = traced_statements(trace);
    fclose(trace);
    return n;
}

static bool admit_all(void *ctx, const struct device_record *record)
{
    (void)record;
    (*(unsigned *)ctx)++;
    return true;
}

/*
 * A batch is BEGIN, one SELECT of the devices it knows, one upsert and
 * COMMIT, for two devices or for 2000; learning the interval costs nothing
 * more.
 */
static void test_interval_in_batch(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct device_record batch[2] = {db_env_device(p.id, 1, "1.0.0"),
                                     db_env_device(p.id, 2, "1.0.0")};
    assert_int_equal(db_devices_record(e->db, batch, 2, NULL, NULL, NULL, NULL), 0);
    batch[0].last_seen_ms += 90000;
    batch[1].last_seen_ms += 5000;
    size_t rows = 0;
    unsigned asked = 0;
    assert_int_equal(record_counting_statements(e->db, batch, 2, admit_all, &asked, &rows), 4);
    assert_int_equal(rows, 2);
    assert_int_equal(asked, 0); /* both are known */
    assert_int_equal(
        db_env_int(
            e->db,
            "SELECT interval_ms FROM devices WHERE mac = 27482052886529 /* 18:FE:AA:00:00:01 */"),
        90000);
    assert_int_equal(db_env_int(e->db, "SELECT intervals FROM devices WHERE mac = 27482052886530"),
                     0);

    /* 2000 devices, the first 1000 known, the rest new: still four statements. */
    enum { BIG = 2000 };
    struct device_record *big = calloc(BIG, sizeof(*big));
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++) {
        big[i] = db_env_device(p.id, 0, "1.0.0");
        big[i].report.sta_mac[3] = 1;
        big[i].report.sta_mac[4] = (uint8_t)(i >> 8);
        big[i].report.sta_mac[5] = (uint8_t)i;
    }
    assert_int_equal(db_devices_record(e->db, big, BIG / 2, NULL, NULL, NULL, NULL), 0);
    asked = 0;
    assert_int_equal(record_counting_statements(e->db, big, BIG, admit_all, &asked, &rows), 4);
    assert_int_equal(rows, BIG);
    assert_int_equal(asked, BIG / 2);
    /* Without ADMIT there is nothing to ask: no SELECT. */
    assert_int_equal(record_counting_statements(e->db, big, BIG, NULL, NULL, &rows), 3);
    assert_int_equal(db_env_int(e->db, "SELECT sum(checkins) FROM devices"), 4 + BIG / 2 + 2 * BIG);
    free(big);
    db_env_assert_idle(e->db);
}
#endif

static void test_device_get(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct product q = devices_product(e->db, "gate");
    struct device_record d = db_env_device(p.id, 7, "2.1.0");
    d.last_status = 200;
    strcpy(d.last_offered, "2.2.0");
    strcpy(d.remote_addr, "192.0.2.7");
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL, NULL), 0);
    d.last_seen_ms = 61000;
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL, NULL), 0);

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

/* What ADMIT was asked: how many times, and about which devices (their MACs' last bytes). */
struct admit_log {
    unsigned asked;
    char macs[64];
};

/* ADMIT for test_batch_semantics: logs its calls, lets in all but 404s. */
static bool admit_unless_404(void *ctx, const struct device_record *record)
{
    struct admit_log *log = ctx;
    log->asked++;
    size_t len = strlen(log->macs);
    snprintf(log->macs + len, sizeof(log->macs) - len, "%s%u", len ? "," : "",
             (unsigned)record->report.sta_mac[5]);
    return record->last_status != 404;
}

/*
 * db.h's contract for a batch, on one batch that has it all: a device twice
 * (in the batch's order: fields replaced, last_offered and last_key only by
 * non-empty ones, check-ins added, first seen kept), a record without an
 * STA MAC, one of a missing product, and new devices ADMIT refuses, once or
 * for good. ADMIT is asked about devices without a row only.
 */
/* DEVICE's row: its last reported secure_version and the highest, -1 for NULL. */
static void secure_versions(struct db *db, int64_t product_id, uint64_t mac, int64_t *ret_reported,
                            int64_t *ret_highest)
{
    struct device_record d;
    int64_t interval, intervals;
    assert_int_equal(db_device_get(db, product_id, mac, &d, &interval, &intervals), 0);
    *ret_reported = d.report.has_secure_version ? (int64_t)d.report.secure_version : -1;
    *ret_highest = d.has_secure_version_max ? (int64_t)d.secure_version_max : -1;
}

/*
 * The anti-rollback counter (migration 011 / 015): the last value reported
 * is kept as reported, the highest ever rules, a check-in without one
 * changes neither; a batch naming a device twice keeps the higher; the
 * product's maximum reads the highest of its devices.
 */
static void test_secure_version(void **state)
{
    struct db *db = ((struct db_env *)*state)->db;
    struct product p = devices_product(db, "anti");
    struct product other = devices_product(db, "other");
    bool known = true;
    uint32_t max = 99;
    assert_int_equal(db_device_secure_version_max(db, p.id, &known, &max), 0);
    assert_false(known);
    assert_int_equal(max, 0);

    static const struct {
        bool has;
        uint32_t value;
        int64_t reported, highest;
    } steps[] = {
        {false, 0, -1, -1},                  /* an Arduino check-in: nothing yet */
        {true, 3, 3, 3},    {true, 2, 2, 3}, /* lower: kept as reported, the maximum rules */
        {false, 0, 2, 3},                    /* none: both stay */
        {true, 0, 0, 3},    {true, 5, 5, 5},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct device_record d = db_env_device(p.id, 1, "1.0.0");
        d.last_seen_ms = 1000 + (int64_t)i;
        d.report.has_secure_version = steps[i].has;
        d.report.secure_version = steps[i].value;
        assert_int_equal(db_devices_record(db, &d, 1, NULL, NULL, NULL, NULL), 0);
        int64_t reported, highest;
        secure_versions(db, p.id, 0x18FEAA000001ULL, &reported, &highest);
        if (reported != steps[i].reported || highest != steps[i].highest)
            fail_msg("step %zu: reported %lld (want %lld), highest %lld (want %lld)", i,
                     (long long)reported, (long long)steps[i].reported, (long long)highest,
                     (long long)steps[i].highest);
    }

    /* One batch: device 2 twice (7, then 4), device 3 with the registry's merged maximum. */
    struct device_record batch[3] = {db_env_device(p.id, 2, "1.0.0"),
                                     db_env_device(p.id, 2, "1.0.0"),
                                     db_env_device(p.id, 3, "1.0.0")};
    batch[0].report.has_secure_version = true;
    batch[0].report.secure_version = 7;
    batch[1].report.has_secure_version = true;
    batch[1].report.secure_version = 4;
    batch[2].report.has_secure_version = true;
    batch[2].report.secure_version = 1;
    batch[2].has_secure_version_max = true; /* merged in memory: 6 then 1 */
    batch[2].secure_version_max = 6;
    assert_int_equal(db_devices_record(db, batch, 3, NULL, NULL, NULL, NULL), 0);
    int64_t reported, highest;
    secure_versions(db, p.id, 0x18FEAA000002ULL, &reported, &highest);
    assert_int_equal(reported, 4);
    assert_int_equal(highest, 7);
    secure_versions(db, p.id, 0x18FEAA000003ULL, &reported, &highest);
    assert_int_equal(reported, 1);
    assert_int_equal(highest, 6);

    assert_int_equal(db_device_secure_version_max(db, p.id, &known, &max), 0);
    assert_true(known);
    assert_int_equal(max, 7);
    assert_int_equal(db_device_secure_version_max(db, other.id, &known, &max), 0);
    assert_false(known);
}

static void test_batch_semantics(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct device_record batch[8];
    batch[0] = db_env_device(p.id, 1, "1.0.0"); /* new, admitted */
    batch[0].report.has_ap_mac = true;
    memcpy(batch[0].report.ap_mac, (uint8_t[]){0x1a, 0xfe, 0xaa, 0, 0, 1}, 6);
    strcpy(batch[0].last_offered, "1.1.0");
    strcpy(batch[0].last_key, "k1");
    strcpy(batch[0].report.user_agent, "ESP8266-http-Update");
    batch[1] = db_env_device(p.id, 2, "1.0.0"); /* new, admitted */
    batch[2] = db_env_device(p.id, 1, "1.1.0"); /* device 1 again: an update */
    batch[2].first_seen_ms = 5000;              /* not read: the row has one */
    batch[2].last_seen_ms = 70000;
    batch[2].checkins = 3;
    batch[3] = db_env_device(p.id, 3, "1.0.0"); /* without an STA MAC */
    batch[3].report.has_sta_mac = false;
    batch[4] = db_env_device(p.id + 77, 4, "1.0.0"); /* a product that is not there */
    batch[5] = db_env_device(p.id, 5, "1.0.0");      /* refused */
    batch[5].last_status = 404;
    batch[6] = db_env_device(p.id, 6, "1.0.0"); /* refused, then let in with its next record */
    batch[6].last_status = 404;
    batch[7] = db_env_device(p.id, 6, "1.2.0");
    batch[7].last_seen_ms = 3000;
    struct admit_log log = {0};
    size_t rows = 0;
    assert_int_equal(db_devices_record(e->db, batch, 8, admit_unless_404, &log, NULL, &rows), 0);
    /*
     * Asked in the batch's order: 1, 2, the missing product's 4, 5, 6 and 6
     * again; not about 1's update nor the record without an STA MAC.
     */
    assert_int_equal(log.asked, 6);
    assert_string_equal(log.macs, "1,2,4,5,6,6");
    assert_int_equal(rows, 4); /* 1 twice, 2, 6 once */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 3);

    struct device_record d;
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000001ULL, &d, NULL, NULL), 0);
    assert_string_equal(d.report.version, "1.1.0");
    assert_string_equal(d.last_offered, "1.1.0"); /* kept: the update had none */
    assert_string_equal(d.last_key, "k1");
    assert_false(d.report.has_ap_mac); /* replaced: the update had none */
    assert_string_equal(d.report.user_agent, "");
    assert_int_equal(d.checkins, 4);
    assert_int_equal(d.first_seen_ms, 1000);
    assert_int_equal(d.last_seen_ms, 70000);
    assert_int_equal(d.interval_ms, 69000);
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000006ULL, &d, NULL, NULL), 0);
    assert_string_equal(d.report.version, "1.2.0");
    assert_int_equal(d.checkins, 1);
    assert_int_equal(d.first_seen_ms, 1000);
    assert_int_equal(d.last_status, 304);
    assert_int_equal(db_device_get(e->db, p.id, 0x18FEAA000005ULL, &d, NULL, NULL), -ENOENT);

    /* Known devices are not asked about; a new one is, again. */
    batch[5].last_status = 200;
    struct device_record again[3] = {batch[0], batch[1], batch[5]};
    memset(&log, 0, sizeof(log));
    assert_int_equal(db_devices_record(e->db, again, 3, admit_unless_404, &log, NULL, &rows), 0);
    assert_string_equal(log.macs, "5");
    assert_int_equal(rows, 3);
    /* An empty batch, and one with nothing to write, write nothing. */
    assert_int_equal(db_devices_record(e->db, batch, 0, NULL, NULL, NULL, &rows), 0);
    assert_int_equal(rows, 0);
    assert_int_equal(db_devices_record(e->db, &batch[3], 2, NULL, NULL, NULL, &rows), 0);
    assert_int_equal(rows, 0);

    /* The whole list, in MAC order, with a limit of "no limit". */
    struct device_record *list = NULL;
    size_t n = 0;
    uint64_t total = 0;
    assert_int_equal(db_device_list(e->db, p.id, SIZE_MAX, 1, &list, &n, &total), 0);
    assert_int_equal(total, 4);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].report.sta_mac[5], 2);
    assert_int_equal(list[2].report.sta_mac[5], 6);
    assert_string_equal(list[2].channel, "");
    free(list);
    db_env_assert_idle(e->db);
}

/* Places in MAC order (db_device_nth_mac), and the counts per version and per issue. */
static void test_nth_mac_and_counts(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct product q = devices_product(e->db, "gate");
    /* Devices 2, 4, 6, 8 on 1.0.0, 1.0.0, 1.1.0 and none; 6 seen at 90000 ms. Gate's 3. */
    for (uint8_t n = 2; n <= 8; n += 2) {
        struct device_record d = db_env_device(p.id, n, n <= 4 ? "1.0.0" : n == 6 ? "1.1.0" : "");
        if (n == 6)
            d.last_seen_ms = 90000;
        d.issue = n == 4 ? DELIVERY_NOT_SIGNED : n == 8 ? DELIVERY_NO_LEGACY_FORM : DELIVERY_OK;
        assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL, NULL), 0);
    }
    struct device_record other = db_env_device(q.id, 3, "1.0.0");
    other.issue = DELIVERY_NOT_SIGNED;
    assert_int_equal(db_devices_record(e->db, &other, 1, NULL, NULL, NULL, NULL), 0);

    uint64_t mac = 0;
    assert_int_equal(db_device_nth_mac(e->db, p.id, 0x18FEAA000004ULL, false, 0, &mac), 0);
    assert_int_equal(mac, 0x18FEAA000004ULL);
    assert_int_equal(db_device_nth_mac(e->db, p.id, 0x18FEAA000003ULL, false, 1, &mac), 0);
    assert_int_equal(mac, 0x18FEAA000006ULL);
    assert_int_equal(db_device_nth_mac(e->db, p.id, 0x18FEAA000007ULL, true, 2, &mac), 0);
    assert_int_equal(mac, 0x18FEAA000002ULL);
    mac = 42;
    assert_int_equal(db_device_nth_mac(e->db, p.id, 0x18FEAA000007ULL, true, 3, &mac), -ENOENT);
    assert_int_equal(db_device_nth_mac(e->db, p.id, 0, false, 4, &mac), -ENOENT);
    assert_int_equal(mac, 42);

    uint64_t counts[DELIVERY_ISSUE_COUNT];
    memset(counts, 0xff, sizeof(counts));
    assert_int_equal(db_device_issue_counts(e->db, p.id, counts), 0);
    assert_int_equal(counts[DELIVERY_OK], 0);
    assert_int_equal(counts[DELIVERY_NOT_SIGNED], 1);
    assert_int_equal(counts[DELIVERY_NO_LEGACY_FORM], 1);
    assert_int_equal(counts[DELIVERY_REFUSED_BY_SOME], 0);

    /* Day from 50000 ms, now 24 h + 60 s: the last 24 h begin at 60000 ms. */
    struct version_count *v = NULL;
    size_t n = 0;
    assert_int_equal(db_device_version_counts(e->db, p.id, 50000, 86460000, &v, &n), 0);
    assert_int_equal(n, 3);
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].version, "1.0.0") == 0) {
            seen |= 1;
            assert_int_equal(v[i].devices, 2);
            assert_int_equal(v[i].seen_day, 0);
            assert_int_equal(v[i].seen_24h, 0);
            assert_int_equal(v[i].quiet, 2);
        } else if (strcmp(v[i].version, "1.1.0") == 0) {
            seen |= 2;
            assert_int_equal(v[i].devices, 1);
            assert_int_equal(v[i].seen_day, 1);
            assert_int_equal(v[i].seen_24h, 1);
            assert_int_equal(v[i].quiet, 0);
        } else {
            seen |= 4;
            assert_string_equal(v[i].version, "");
            assert_int_equal(v[i].devices, 1);
        }
    }
    assert_int_equal(seen, 7);
    free(v);
    db_env_assert_idle(e->db);
}

/* A day's rows replace the day's, old days are dropped, and the list's order. */
static void test_version_days(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct version_day day1[] = {{0, "1.0.0", 5}, {0, "1.1.0", 9}, {0, "other", 5}};
    struct version_day day2[] = {{0, "1.1.0", 12}};
    struct version_day day3[] = {{0, "1.2.0", 1}, {0, "1.1.0", 7}};
    assert_int_equal(db_version_day_put(e->db, p.id, 100, day1, 3, 0), 0);
    assert_int_equal(db_version_day_put(e->db, p.id, 101, day2, 1, 0), 0);
    assert_int_equal(db_version_day_put(e->db, p.id, 102, day3, 2, 0), 0);
    assert_int_equal(db_version_day_put(e->db, p.id, 102, day3, 1, 0), 0); /* replaced */
    struct version_day *rows = NULL;
    size_t n = 0;
    assert_int_equal(db_version_day_list(e->db, p.id, 100, &rows, &n), 0);
    assert_int_equal(n, 5);
    /* Oldest day first, the most devices first, ties by version. */
    static const struct {
        int64_t day;
        const char *version;
        uint64_t devices;
    } want[] = {{100, "1.1.0", 9},
                {100, "1.0.0", 5},
                {100, "other", 5},
                {101, "1.1.0", 12},
                {102, "1.2.0", 1}};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].day, want[i].day);
        assert_string_equal(rows[i].version, want[i].version);
        assert_int_equal(rows[i].devices, want[i].devices);
    }
    free(rows);
    /* Writing day 103 drops the days before 102; a day with no rows is empty. */
    assert_int_equal(db_version_day_put(e->db, p.id, 103, NULL, 0, 102), 0);
    assert_int_equal(db_version_day_list(e->db, p.id, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].day, 102);
    free(rows);
    db_env_assert_idle(e->db);
}

/* --- several nodes --- */

#define NODE_DEVICES 300
#define NODE_ROUNDS  8

/* One node: its own connection to the test's database, writing the shared devices. */
struct node {
    const char *location;
    int64_t product_id;
    bool descending; /* gives its batch in the other order */
    size_t rows;
    int err;
};

/* Check-ins of devices 18:FE:AA:00:01:00 on, and a version day, NODE_ROUNDS times. */
static void *node_main(void *arg)
{
    struct node *node = arg;
    struct db *db = NULL;
    if ((node->err = db_open(node->location, DB_DURABLE, &db)) < 0)
        return NULL;
    struct device_record *batch = calloc(NODE_DEVICES, sizeof(*batch));
    if (!batch) {
        node->err = -ENOMEM;
        db_close(db);
        return NULL;
    }
    for (size_t i = 0; i < NODE_DEVICES; i++) {
        size_t k = node->descending ? NODE_DEVICES - 1 - i : i;
        batch[i] = db_env_device(node->product_id, (uint8_t)k, "1.0.0");
        batch[i].report.sta_mac[4] = 1 + (uint8_t)(k >> 8);
        batch[i].checkins = 2;
    }
    struct version_day day[2] = {{0, "1.0.0", 1}, {0, "a", 1}};
    if (node->descending)
        strcpy(day[1].version, "b");
    struct admit_log log = {0};
    for (int round = 0; round < NODE_ROUNDS && node->err == 0; round++) {
        size_t rows = 0;
        for (size_t i = 0; i < NODE_DEVICES; i++)
            batch[i].last_seen_ms = 1000 + round;
        node->err = db_devices_record(db, batch, NODE_DEVICES, admit_unless_404, &log, NULL, &rows);
        node->rows += rows;
        if (node->err == 0)
            node->err = db_version_day_put(db, node->product_id, 7, day, 2, 0);
    }
    free(batch);
    db_close(db);
    return NULL;
}

/*
 * Two nodes (two connections, two threads) record the same devices at the
 * same time, new ones and then known ones, in opposite orders, and replace
 * the same version day: every check-in counts, no batch fails, and the day
 * is one node's, whole.
 */
static void test_two_nodes(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct node nodes[2] = {{.location = e->path, .product_id = p.id},
                            {.location = e->path, .product_id = p.id, .descending = true}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, node_main, &nodes[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(nodes[i].err, 0);
        assert_int_equal(nodes[i].rows, NODE_DEVICES * NODE_ROUNDS);
    }
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), NODE_DEVICES);
    assert_int_equal(db_env_int(e->db, "SELECT min(checkins) FROM devices"), 2 * 2 * NODE_ROUNDS);
    assert_int_equal(db_env_int(e->db, "SELECT max(checkins) FROM devices"), 2 * 2 * NODE_ROUNDS);
    assert_int_equal(db_env_int(e->db, "SELECT min(first_seen_ms) FROM devices"), 1000);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM version_days"), 2);
    assert_int_equal(
        db_env_int(e->db, "SELECT count(*) FROM version_days WHERE version IN ('a', 'b')"), 1);

    /* Interleaved writes from two connections, one after the other: the exact sum. */
    struct db *second = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &second), 0);
    struct device_record d = db_env_device(p.id, 200, "2.0.0");
    for (int i = 0; i < 6; i++) {
        d.last_seen_ms = 1000 + 40000 * i;
        d.checkins = i + 1;
        assert_int_equal(db_devices_record(i % 2 ? second : e->db, &d, 1, NULL, NULL, NULL, NULL),
                         0);
    }
    struct device_record got;
    int64_t interval = 0, intervals = 0;
    assert_int_equal(
        db_device_get(second, p.id, 0x18FEAA000000ULL | 200, &got, &interval, &intervals), 0);
    assert_int_equal(got.checkins, 21);
    assert_int_equal(got.last_seen_ms, 201000);
    assert_int_equal(interval, 40000);
    assert_int_equal(intervals, 5);
    db_env_assert_idle(second);
    db_close(second);
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
    struct product p = devices_product(e->db, "door");
    /* 1-6: 1-3 on 1.0.0 (200), 4-6 on 1.1.0 (304); 5 and 6 in group lab on beta. */
    for (uint8_t n = 1; n <= 6; n++) {
        struct device_record d = db_env_device(p.id, n, n <= 3 ? "1.0.0" : "1.1.0");
        d.last_status = n <= 3 ? 200 : 304;
        strcpy(d.channel, n >= 5 ? "beta" : "stable");
        strcpy(d.group, n >= 5 ? "lab" : "");
        assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL, NULL), 0);
    }
    /* Only the group changes for device 4: the full update writes it (the same-row path does not
     * match). */
    struct device_record d4 = db_env_device(p.id, 4, "1.1.0");
    strcpy(d4.channel, "beta");
    strcpy(d4.group, "lab");
    d4.last_seen_ms = 5000;
    assert_int_equal(db_devices_record(e->db, &d4, 1, NULL, NULL, NULL, NULL), 0);

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

#ifndef DB_ENV_POSTGRESQL
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

#else
/*
 * The plan PostgreSQL makes for page query SQL of FILTER, with its values,
 * as text into OUT.
 */
static void explain_page(struct db *db, int64_t product_id, const struct device_filter *f,
                         const char *sql, char *out, size_t size)
{
    char explain[4096], numbers[6][24];
    snprintf(explain, sizeof(explain), "EXPLAIN %s", sql);
    snprintf(numbers[0], sizeof(numbers[0]), "%lld", (long long)product_id);
    snprintf(numbers[1], sizeof(numbers[1]), "%llu", (unsigned long long)f->mac_min);
    snprintf(numbers[2], sizeof(numbers[2]), "%llu", (unsigned long long)f->mac_max);
    snprintf(numbers[3], sizeof(numbers[3]), "%d", 50);
    snprintf(numbers[4], sizeof(numbers[4]), "%d", f->status);
    snprintf(numbers[5], sizeof(numbers[5]), "%lld", (long long)f->now_ms);
    const char *values[10] = {numbers[0],
                              numbers[1],
                              numbers[2],
                              numbers[3],
                              f->version,
                              f->channel,
                              f->group,
                              f->status ? numbers[4] : NULL,
                              f->quiet ? numbers[5] : NULL,
                              f->version_part};
    struct db_pg *pg = db_pg_of(db);
    pthread_mutex_lock(&pg->lock);
    PGresult *res = PQexecParams(pg->conn, explain, 10, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", explain, PQresultErrorMessage(res));
    out[0] = 0;
    for (int i = 0; i < PQntuples(res); i++)
        snprintf(out + strlen(out), size - strlen(out), "%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    pthread_mutex_unlock(&pg->lock);
}

/*
 * With a fleet's worth of statistics (ANALYZE of 6000 devices in 2
 * products), every page shape reads through the index its filter names,
 * never a Seq Scan; a page that walks the primary key does so in MAC order,
 * without a Sort (that sort would read every device of the product to
 * return the first 50). Over a filter's index PostgreSQL may sort the few
 * rows it expects instead of walking them in order: its choice, by cost.
 */
static void test_page_plans_walk_an_index(void **state)
{
    struct db_env *e = *state;
    struct product p = devices_product(e->db, "door");
    struct product q = devices_product(e->db, "gate");
    enum { FLEET = 3000 };
    struct device_record *fleet = calloc(FLEET, sizeof(*fleet));
    assert_non_null(fleet);
    for (int product = 0; product < 2; product++) {
        for (size_t i = 0; i < FLEET; i++) {
            char version[16];
            snprintf(version, sizeof(version), "1.%zu.0", i % 40);
            fleet[i] = db_env_device(product ? q.id : p.id, (uint8_t)i, version);
            fleet[i].report.sta_mac[4] = (uint8_t)(i >> 8);
            snprintf(fleet[i].channel, sizeof(fleet[i].channel), "ch%zu", i % 12);
            snprintf(fleet[i].group, sizeof(fleet[i].group), "g%zu", i % 30);
            fleet[i].last_status = i % 50 == 0 ? 200 : i % 7 == 0 ? 404 : 304;
        }
        assert_int_equal(db_devices_record(e->db, fleet, FLEET, NULL, NULL, NULL, NULL), 0);
    }
    free(fleet);
    db_env_exec(e->db, "ANALYZE devices");
    static const struct {
        const char *shape;
        struct device_filter filter;
        const char *index; /* the index the walk must use */
    } shapes[] = {
        {"no filter", {.mac_max = MAC_ALL}, "devices_pkey"},
        {"q: a MAC prefix",
         {.mac_min = 0x18FEAA000100ULL, .mac_max = 0x18FEAA0001FFULL},
         "devices_pkey"},
        {"q: a version part", {.mac_max = MAC_ALL, .version_part = "1.2"}, "devices_pkey"},
        {"quiet", {.mac_max = MAC_ALL, .quiet = true, .now_ms = 1}, "devices_pkey"},
        {"version", {.mac_max = MAC_ALL, .version = "1.2.0"}, "devices_by_version"},
        {"version and quiet",
         {.mac_max = MAC_ALL, .version = "1.2.0", .quiet = true},
         "devices_by_version"},
        {"group", {.mac_max = MAC_ALL, .group = "g7"}, "devices_by_group"},
        {"group and channel",
         {.mac_max = MAC_ALL, .group = "g7", .channel = "ch1"},
         "devices_by_group"},
        {"channel", {.mac_max = MAC_ALL, .channel = "ch3"}, "devices_by_channel"},
        {"channel and outcome",
         {.mac_max = MAC_ALL, .channel = "ch3", .status = 304},
         "devices_by_channel"},
        {"outcome", {.mac_max = MAC_ALL, .status = 200}, "devices_by_status"},
        {"outcome and q",
         {.mac_min = 1, .mac_max = 2, .status = 200, .version_part = "x"},
         "devices_by_status"},
    };
    char plan[8192];
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        for (int backward = 0; backward < 2; backward++) {
            const char *sql = db_pg_device_page_sql(&shapes[i].filter, backward, false);
            explain_page(e->db, p.id, &shapes[i].filter, sql, plan, sizeof(plan));
            bool by_mac = strcmp(shapes[i].index, "devices_pkey") == 0;
            if (strstr(plan, "Seq Scan") || (by_mac && strstr(plan, "Sort")) ||
                !strstr(plan, shapes[i].index))
                fail_msg("%s%s: not a walk of %s:\n%s", shapes[i].shape,
                         backward ? " (backward)" : "", shapes[i].index, plan);
        }
        /* The count is a walk of every matching device (callers bound it): any plan runs. */
        const char *count = db_pg_device_page_sql(&shapes[i].filter, false, true);
        explain_page(e->db, p.id, &shapes[i].filter, count, plan, sizeof(plan));
    }
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_interval_learned, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_interval_min_gap_is_the_connections, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_interval_in_batch, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_device_get, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_secure_version, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_page_filters, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_page_plans_walk_an_index, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_batch_semantics, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_nth_mac_and_counts, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_version_days, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
