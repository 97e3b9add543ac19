/*
 * Unit tests for src/db/db_sqlite.c: migrations (a new database, an old one
 * brought up to date, one written by a newer otad refused), how constraint
 * violations map to errors, the rollback of a transaction whose COMMIT
 * fails, and the device upsert.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "db/db.h"
#include "db/db_sources.h"
#include "db/sqlite_internal.h"

struct env {
    char dir[64];
    char path[128];
    struct db *db;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(fixture_tmpdir(e->dir), 0);
    snprintf(e->path, sizeof(e->path), "%s/%s", e->dir, DB_FILE_NAME);
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
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

/* One integer from SQL on the test's own look at the connection. */
static int64_t query_int(struct db *db, const char *sql)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(sq->conn, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static struct product add_product(struct db *db, const char *name)
{
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, name);
    strcpy(p.default_channel, "stable");
    assert_int_equal(db_product_insert(db, &p), 0);
    return p;
}

static struct release release_for(int64_t product_id, const char *version)
{
    struct release r;
    memset(&r, 0, sizeof(r));
    r.product_id = product_id;
    strcpy(r.version, version);
    strcpy(r.channel, "stable");
    strcpy(r.source, "cli");
    strcpy(r.md5, "0123456789abcdef0123456789abcdef");
    memset(r.sha256, 'a', SHA256_HEX_LEN);
    r.size = 1000;
    r.variants[0] = (struct variant){.kind = VARIANT_PLAIN, .size = 1000};
    memcpy(r.variants[0].sha256, r.sha256, sizeof(r.sha256));
    memcpy(r.variants[0].md5, r.md5, sizeof(r.md5));
    r.variant_count = 1;
    return r;
}

static void test_migrations(void **state)
{
    struct env *e = *state;
    int64_t applied = query_int(e->db, "PRAGMA user_version");
    assert_true(applied >= 3); /* 001 initial, 002 sources, 003 delivery, ... */
    db_close(e->db);
    e->db = NULL;
    /* Opening again applies nothing and keeps the data. */
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
    assert_int_equal(query_int(e->db, "PRAGMA user_version"), applied);
    add_product(e->db, "kept");
    db_close(e->db);
    e->db = NULL;

    /* A database written by a newer otad (a migration this one does not know) is refused. */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(e->path, &raw), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)applied + 1);
    assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    struct db *newer = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &newer), -EPROTO);
    assert_null(newer);

    /* Put back, the data is still there. */
    assert_int_equal(sqlite3_open(e->path, &raw), SQLITE_OK);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)applied);
    assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
    struct product p;
    assert_int_equal(db_product_get(e->db, "kept", &p), 0);
}

/* UNIQUE / PRIMARY KEY is "taken"; FOREIGN KEY is "not there"; nothing else is either. */
static void test_constraint_mapping(void **state)
{
    struct env *e = *state;
    struct product p = add_product(e->db, "door");
    struct product again = p;
    assert_int_equal(db_product_insert(e->db, &again), -EEXIST); /* UNIQUE name */

    struct release r = release_for(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &r, NULL, 0), 0);
    struct release same = release_for(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &same, NULL, 0), -EEXIST);

    struct source src;
    memset(&src, 0, sizeof(src));
    src.product_id = 999; /* no such product */
    strcpy(src.owner, "o");
    strcpy(src.repo, "r");
    strcpy(src.asset_glob, "*.bin");
    strcpy(src.api_url, "https://api.github.com");
    assert_int_equal(db_source_insert(e->db, &src), -ENOENT);
    src.product_id = p.id;
    assert_int_equal(db_source_insert(e->db, &src), 0);
    struct source twice = src;
    assert_int_equal(db_source_insert(e->db, &twice), -EEXIST); /* same owner/repo */

    /* A NOT NULL violation is our bug, not a taken name: -EIO, logged. */
    struct db_sqlite *sq = db_sqlite_of(e->db);
    pthread_mutex_lock(&sq->lock);
    int rc = sqlite3_exec(sq->conn, "INSERT INTO meta (key, value) VALUES ('x', NULL)", NULL, NULL,
                          NULL);
    assert_int_equal(db_sqlite_result(sq, rc, "test insert"), -EIO);
    pthread_mutex_unlock(&sq->lock);
}

static struct device_record device(int64_t product_id, uint8_t last_mac_byte, const char *version)
{
    struct device_record d;
    memset(&d, 0, sizeof(d));
    d.product_id = product_id;
    d.report.has_sta_mac = true;
    uint8_t mac[6] = {0x18, 0xfe, 0xaa, 0, 0, last_mac_byte};
    memcpy(d.report.sta_mac, mac, 6);
    strcpy(d.report.version, version);
    d.last_seen_ms = 1000;
    d.first_seen_ms = 1000;
    d.last_status = 304;
    d.checkins = 1;
    return d;
}

/*
 * A COMMIT that fails (here: a foreign key checked only at COMMIT) must be
 * rolled back: nothing of the transaction stays, and the connection takes
 * the next transaction.
 */
static void test_failed_commit_is_rolled_back(void **state)
{
    struct env *e = *state;
    struct product p = add_product(e->db, "door");
    struct db_sqlite *sq = db_sqlite_of(e->db);
    pthread_mutex_lock(&sq->lock);
    assert_int_equal(sqlite3_exec(sq->conn, "PRAGMA defer_foreign_keys = ON", NULL, NULL, NULL),
                     SQLITE_OK);
    pthread_mutex_unlock(&sq->lock);
    /* The second names a product that is not there: every statement passes, the COMMIT not. */
    struct device_record batch[2] = {device(p.id, 1, "1.0.0"), device(p.id + 1000, 2, "1.0.0")};
    assert_true(db_devices_record(e->db, batch, 2, NULL, NULL, NULL) < 0);
    assert_true(sqlite3_get_autocommit(sq->conn)); /* no transaction left open */
    assert_int_equal(query_int(e->db, "SELECT count(*) FROM devices"), 0);
    /* The connection works on. */
    assert_int_equal(db_devices_record(e->db, batch, 1, NULL, NULL, NULL), 0);
    assert_int_equal(query_int(e->db, "SELECT count(*) FROM devices"), 1);
    struct release fine = release_for(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &fine, NULL, 0), 0);
}

static void test_device_upsert(void **state)
{
    struct env *e = *state;
    struct product p = add_product(e->db, "door");
    struct device_record batch[3] = {device(p.id, 1, "1.0.0"), device(p.id, 2, "1.0.0"),
                                     device(p.id, 1, "1.1.0")};
    batch[2].last_seen_ms = 2000;
    batch[2].last_status = 200;
    strcpy(batch[2].last_offered, "1.1.0");
    batch[2].issue = DELIVERY_NO_LEGACY_FORM;
    assert_int_equal(db_devices_record(e->db, batch, 3, NULL, NULL, NULL), 0);
    struct device_record *list = NULL;
    size_t n = 0;
    uint64_t total = 0;
    assert_int_equal(db_device_list(e->db, p.id, 10, 0, &list, &n, &total), 0);
    assert_int_equal(total, 2);
    assert_int_equal(n, 2);
    /* Ordered by MAC: ...:01 first, its fields those of its last check-in. */
    assert_int_equal(list[0].report.sta_mac[5], 1);
    assert_string_equal(list[0].report.version, "1.1.0");
    assert_int_equal(list[0].checkins, 2);
    assert_int_equal(list[0].first_seen_ms, 1000);
    assert_int_equal(list[0].last_seen_ms, 2000);
    assert_int_equal(list[0].last_status, 200);
    assert_string_equal(list[0].last_offered, "1.1.0");
    assert_int_equal(list[0].issue, DELIVERY_NO_LEGACY_FORM);
    assert_int_equal(list[1].checkins, 1);
    free(list);
    uint64_t counts[DELIVERY_ISSUE_COUNT];
    assert_int_equal(db_device_issue_counts(e->db, p.id, counts), 0);
    assert_int_equal(counts[DELIVERY_NO_LEGACY_FORM], 1);
    assert_int_equal(counts[DELIVERY_OK], 0);

    /* A record for a product that is not there is skipped, not a failed batch. */
    struct device_record stray = device(p.id + 77, 9, "1.0.0");
    assert_int_equal(db_devices_record(e->db, &stray, 1, NULL, NULL, NULL), 0);
    assert_int_equal(query_int(e->db, "SELECT count(*) FROM devices"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraint_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_is_rolled_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_upsert, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
