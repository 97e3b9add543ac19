/*
 * Unit tests for src/db/db_sqlite.c: migrations (a new database, an old one
 * brought up to date, one written by a newer otad refused), how constraint
 * violations map to errors, the statement cache and the helpers the entity
 * files share, the rollback of a transaction whose COMMIT fails, and the
 * device upsert.
 */
#include <errno.h>

#include "db/db_sources.h"
#include "env.h"

static void test_migrations(void **state)
{
    struct db_env *e = *state;
    int64_t applied = db_env_int(e->db, "PRAGMA user_version");
    assert_true(applied >= 3); /* 001 initial, 002 sources, 003 delivery, ... */
    db_close(e->db);
    e->db = NULL;
    /* Opening again applies nothing and keeps the data. */
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
    assert_int_equal(db_env_int(e->db, "PRAGMA user_version"), applied);
    db_env_product(e->db, "kept");
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
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct product again = p;
    assert_int_equal(db_product_insert(e->db, &again), -EEXIST); /* UNIQUE name */

    struct release r = db_env_release(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &r, NULL, 0), 0);
    struct release same = db_env_release(p.id, "1.0.0");
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

/* Each statement in order, on one database, and the -errno db_sqlite_result makes of it. */
static void test_result_mapping(void **state)
{
    struct db_env *e = *state;
    db_env_product(e->db, "door");
    db_env_exec(e->db, "CREATE TEMP TABLE positive (x INTEGER CHECK (x > 0))");
    static const struct {
        const char *sql;
        int expected;
    } cases[] = {
        {"SELECT 1", 0},
        {"INSERT INTO tokens (name, scope, hash, created_ms) VALUES ('a', 0, 'h1', 1)", 0},
        /* UNIQUE and PRIMARY KEY: taken */
        {"INSERT INTO tokens (name, scope, hash, created_ms) VALUES ('b', 0, 'h1', 1)", -EEXIST},
        {"INSERT INTO products (name, platform, default_channel, created_ms) "
         "VALUES ('door', 0, 'stable', 1)",
         -EEXIST},
        {"INSERT INTO meta (key, value) VALUES ('catalog_generation', 7)", -EEXIST},
        {"INSERT INTO tokens (id, name, scope, hash, created_ms) VALUES (1, 'c', 0, 'h2', 1)",
         -EEXIST},
        /* FOREIGN KEY: names a row that is not there */
        {"INSERT INTO product_keys (product_id, key_name, fingerprint, added_ms) "
         "VALUES (999, 'k', 'f', 1)",
         -ENOENT},
        {"INSERT INTO variants (release_id, kind, sha256, md5, size) VALUES (999, 0, 's', 'm', 1)",
         -ENOENT},
        {"INSERT INTO source_state (source_id) VALUES (999)", -ENOENT},
        /* any other constraint, or any other failure: our bug, -EIO */
        {"INSERT INTO meta (key, value) VALUES ('x', NULL)", -EIO},
        {"INSERT INTO positive (x) VALUES (-1)", -EIO},
        {"INSERT INTO nowhere VALUES (1)", -EIO},
        {"SELEC 1", -EIO},
        {"INSERT INTO positive (x) VALUES (1)", 0},
    };
    struct db_sqlite *sq = db_sqlite_of(e->db);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pthread_mutex_lock(&sq->lock);
        int rc = sqlite3_exec(sq->conn, cases[i].sql, NULL, NULL, NULL);
        int r = db_sqlite_result(sq, rc, "test");
        pthread_mutex_unlock(&sq->lock);
        if (r != cases[i].expected)
            fail_msg("%s: %d, expected %d", cases[i].sql, r, cases[i].expected);
    }
}

/* Test queries, in slots of statements this test never runs otherwise. */
static const struct db_sqlite_query test_count = {DB_SLOT_WEBHOOK_FORGET,
                                                  "SELECT count(*) FROM products WHERE id > ?1"};
static const struct db_sqlite_query test_bad = {DB_SLOT_WEBHOOK_RECORD, "SELEC nothing"};
static const struct db_sqlite_query test_rename = {DB_SLOT_SOURCE_GATE,
                                                   "UPDATE products SET name = ?2 WHERE name = ?1"};
static const struct db_sqlite_query test_name = {DB_SLOT_SOURCE_TAG_GET,
                                                 "SELECT name FROM products WHERE id = ?1"};

static void fill_name(sqlite3_stmt *s, void *out)
{
    db_sqlite_column_text(s, 0, out, 8);
}

/*
 * A slot holds its statement for the connection's life: the same query gets
 * the same statement back, reset and unbound, even one left running; a
 * query that does not prepare leaves its slot empty.
 */
static void test_statement_cache(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct db_sqlite *sq = db_sqlite_lock(e->db);
    sqlite3_stmt *s = db_sqlite_stmt(sq, &test_count);
    assert_non_null(s);
    assert_ptr_equal(sq->cache[DB_SLOT_WEBHOOK_FORGET].stmt, s);
    assert_ptr_equal(sq->cache[DB_SLOT_WEBHOOK_FORGET].query, &test_count);
    sqlite3_bind_int64(s, 1, 0);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW); /* left running on purpose */
    assert_ptr_equal(db_sqlite_stmt(sq, &test_count), s);
    assert_false(sqlite3_stmt_busy(s));
    int64_t n = -1;
    assert_int_equal(db_sqlite_get(sq, s, db_sqlite_fill_int64, &n, "count"), 0);
    assert_int_equal(n, 0); /* ?1 unbound: NULL, no id is greater */
    s = db_sqlite_stmt(sq, &test_count);
    sqlite3_bind_int64(s, 1, 0);
    assert_int_equal(db_sqlite_get(sq, s, db_sqlite_fill_int64, &n, "count"), 0);
    assert_int_equal(n, 1);

    assert_null(db_sqlite_stmt(sq, &test_bad));
    assert_null(sq->cache[DB_SLOT_WEBHOOK_RECORD].stmt);

    char name[8];
    s = db_sqlite_stmt(sq, &test_name);
    sqlite3_bind_int64(s, 1, p.id);
    assert_int_equal(db_sqlite_get(sq, s, fill_name, name, "name"), 0);
    assert_string_equal(name, "door");
    s = db_sqlite_stmt(sq, &test_name);
    sqlite3_bind_int64(s, 1, p.id + 1);
    strcpy(name, "kept");
    assert_int_equal(db_sqlite_get(sq, s, fill_name, name, "name"), -ENOENT);
    assert_string_equal(name, "kept"); /* untouched */
    db_sqlite_unlock(sq);
    db_env_assert_idle(e->db);
}

/* db_sqlite_run_one: a change is 0, no change -ENOENT, other failures as db_sqlite_result. */
static void test_run_one(void **state)
{
    struct db_env *e = *state;
    db_env_product(e->db, "door");
    db_env_product(e->db, "gate");
    static const struct {
        const char *from, *to;
        int expected;
    } cases[] = {
        {"door", "hall", 0},  {"door", "yard", -ENOENT}, {"hall", "gate", -EEXIST},
        {"hall", "door", 0},  {"", "x", -ENOENT},        {"gate", "gate", 0},
        {"gate", NULL, -EIO}, /* NOT NULL */
    };
    struct db_sqlite *sq = db_sqlite_lock(e->db);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sqlite3_stmt *s = db_sqlite_stmt(sq, &test_rename);
        assert_non_null(s);
        sqlite3_bind_text(s, 1, cases[i].from, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, cases[i].to, -1, SQLITE_STATIC);
        if (db_sqlite_run_one(sq, s, "rename") != cases[i].expected)
            fail_msg("%s -> %s: expected %d", cases[i].from, cases[i].to ? cases[i].to : "NULL",
                     cases[i].expected);
    }
    db_sqlite_unlock(sq);
    db_env_assert_idle(e->db);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM products WHERE name IN "
                                       "('door', 'gate')"),
                     2);
}

/*
 * A COMMIT that fails (here: a foreign key checked only at COMMIT) must be
 * rolled back: nothing of the transaction stays, and the connection takes
 * the next transaction.
 */
static void test_failed_commit_is_rolled_back(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct db_sqlite *sq = db_sqlite_of(e->db);
    pthread_mutex_lock(&sq->lock);
    assert_int_equal(sqlite3_exec(sq->conn, "PRAGMA defer_foreign_keys = ON", NULL, NULL, NULL),
                     SQLITE_OK);
    pthread_mutex_unlock(&sq->lock);
    /* The second names a product that is not there: every statement passes, the COMMIT not. */
    struct device_record batch[2] = {db_env_device(p.id, 1, "1.0.0"),
                                     db_env_device(p.id + 1000, 2, "1.0.0")};
    assert_true(db_devices_record(e->db, batch, 2, NULL, NULL, NULL) < 0);
    assert_true(sqlite3_get_autocommit(sq->conn)); /* no transaction left open */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 0);
    /* The connection works on. */
    assert_int_equal(db_devices_record(e->db, batch, 1, NULL, NULL, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 1);
    struct release fine = db_env_release(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &fine, NULL, 0), 0);
}

static void test_device_upsert(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct device_record batch[3] = {db_env_device(p.id, 1, "1.0.0"),
                                     db_env_device(p.id, 2, "1.0.0"),
                                     db_env_device(p.id, 1, "1.1.0")};
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
    struct device_record stray = db_env_device(p.id + 77, 9, "1.0.0");
    assert_int_equal(db_devices_record(e->db, &stray, 1, NULL, NULL, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 2);
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_constraint_mapping, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_result_mapping, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_run_one, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_is_rolled_back, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_device_upsert, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
