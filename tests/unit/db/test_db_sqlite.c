/*
 * Unit tests for src/db/db_sqlite.c, and built with DB_ENV_POSTGRESQL for
 * src/db/db_pg.c: migrations (a new database, an old one brought up to
 * date, one written by a newer otad refused; on PostgreSQL also two nodes
 * opening a fresh database at once), how constraint violations map to
 * errors, the statement cache (SQLite) and the helpers the entity files
 * share, a real deadlock between two nodes run again (PostgreSQL), the
 * rollback of a transaction whose COMMIT fails, and the device upsert.
 */
#include <errno.h>

#include "core/util.h"
#include "db/db_fleet.h"
#include "db/db_sources.h"
#include "env.h"

#ifndef DB_ENV_POSTGRESQL

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
#else
extern const unsigned pg_migrations_numbers[];
extern const size_t pg_migrations_count;

/* Runs SQL on the database at URL through a connection of its own. */
static void pg_exec_at(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot reach %s: %s", url, PQerrorMessage(c));
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}

static void test_migrations(void **state)
{
    struct db_env *e = *state;
    int64_t applied = db_env_int(e->db, "SELECT max(version) FROM schema_migrations");
    assert_int_equal(applied, (int64_t)pg_migrations_numbers[pg_migrations_count - 1]);
    int64_t count = db_env_int(e->db, "SELECT count(*) FROM schema_migrations");
    assert_int_equal(count, (int64_t)pg_migrations_count);
    db_close(e->db);
    e->db = NULL;
    /* Opening again applies nothing and keeps the data. */
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM schema_migrations"), count);
    db_env_product(e->db, "kept");
    db_close(e->db);
    e->db = NULL;

    /* A database migrated by a newer otad (a migration this one does not know) is refused. */
    char sql[128];
    snprintf(sql, sizeof(sql),
             "INSERT INTO schema_migrations (version, applied_ms) VALUES (%lld, 0)",
             (long long)applied + 1);
    pg_exec_at(e->path, sql);
    struct db *newer = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &newer), -EPROTO);
    assert_null(newer);

    /* Put back, the data is still there. */
    snprintf(sql, sizeof(sql), "DELETE FROM schema_migrations WHERE version = %lld",
             (long long)applied + 1);
    pg_exec_at(e->path, sql);
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
    struct product p;
    assert_int_equal(db_product_get(e->db, "kept", &p), 0);
}

struct first_open {
    const char *url;
    struct db *db;
    int result;
    pthread_barrier_t *start;
};

static void *first_open_main(void *arg)
{
    struct first_open *o = arg;
    pthread_barrier_wait(o->start);
    o->result = db_open(o->url, DB_DURABLE, &o->db);
    return NULL;
}

/*
 * Two nodes opening a fresh database at once: both succeed, and each
 * migration was applied once (its row once, migration 001's generation row
 * once): the second waited for the first's advisory lock, then found
 * nothing to do.
 */
static void test_concurrent_first_open(void **state)
{
    (void)state;
    struct db_env fresh;
    memset(&fresh, 0, sizeof(fresh));
    db_env_create(&fresh);
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    struct first_open opens[2] = {{fresh.path, NULL, -1, &start}, {fresh.path, NULL, -1, &start}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, first_open_main, &opens[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&start);
    assert_int_equal(opens[0].result, 0);
    assert_int_equal(opens[1].result, 0);
    for (int i = 0; i < 2; i++) {
        struct db *db = opens[i].db;
        assert_int_equal(db_env_int(db, "SELECT count(*) FROM schema_migrations"),
                         (int64_t)pg_migrations_count);
        assert_int_equal(db_env_int(db, "SELECT count(DISTINCT version) FROM schema_migrations"),
                         (int64_t)pg_migrations_count);
        assert_int_equal(db_env_int(db, "SELECT max(version) FROM schema_migrations"),
                         (int64_t)pg_migrations_numbers[pg_migrations_count - 1]);
        assert_int_equal(db_env_int(db, "SELECT count(*) FROM meta"), 1);
        assert_int_equal(db_env_generation(db), 1);
    }
    /* Both work on the one schema. */
    struct product p = db_env_product(opens[0].db, "door");
    struct product got;
    assert_int_equal(db_product_get(opens[1].db, "door", &got), 0);
    assert_int_equal(got.id, p.id);
    db_close(opens[0].db);
    db_close(opens[1].db);
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", fresh.pg_name);
    db_env_cluster_exec(sql);
}
#endif

/* Runs SQL on DB's connection and returns the -errno the backend makes of how it ended. */
static int run_sql(struct db *db, const char *sql)
{
#ifdef DB_ENV_POSTGRESQL
    struct db_pg *pg = db_pg_lock(db);
    assert_non_null(pg);
    int r = db_pg_run(pg, sql, NULL, "test");
    db_pg_unlock(pg);
#else
    struct db_sqlite *sq = db_sqlite_of(db);
    pthread_mutex_lock(&sq->lock);
    int rc = sqlite3_exec(sq->conn, sql, NULL, NULL, NULL);
    int r = db_sqlite_result(sq, rc, "test");
    pthread_mutex_unlock(&sq->lock);
#endif
    return r;
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
    struct release orphan = db_env_release(p.id + 100, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &orphan, NULL, 0), -ENOENT); /* no product */

    assert_int_equal(db_product_key_add(e->db, p.id + 100, "k", "ff"), -ENOENT); /* FOREIGN KEY */
    int64_t token_id = 0;
    assert_int_equal(db_token_insert(e->db, "t", TOKEN_SCOPE_READ, "h1", &token_id), 0);
    assert_int_equal(db_token_insert(e->db, "u", TOKEN_SCOPE_READ, "h1", &token_id), -EEXIST);

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
    assert_int_equal(run_sql(e->db, "INSERT INTO meta (key, value) VALUES ('x', NULL)"), -EIO);
}

/*
 * Each statement in order, on one database, and the -errno the backend
 * makes of it (db_sqlite_result; db_pg_exec from the SQLSTATE).
 */
static void test_result_mapping(void **state)
{
    struct db_env *e = *state;
    db_env_product(e->db, "door");
    db_env_exec(e->db, "CREATE TEMP TABLE positive (x BIGINT CHECK (x > 0))");
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
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = run_sql(e->db, cases[i].sql);
        if (r != cases[i].expected)
            fail_msg("%s: %d, expected %d", cases[i].sql, r, cases[i].expected);
    }
    db_env_assert_idle(e->db);
}

#ifndef DB_ENV_POSTGRESQL

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

/* Renames product FROM to TO with the backend's run_one. */
static int rename_one(struct db *db, const char *from, const char *to)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    sqlite3_stmt *s = db_sqlite_stmt(sq, &test_rename);
    assert_non_null(s);
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    int r = db_sqlite_run_one(sq, s, "rename");
    db_sqlite_unlock(sq);
    return r;
}
#else
static void fill_name(const PGresult *res, int row, void *out)
{
    db_pg_text(res, row, 0, out, 8);
}

/*
 * The helpers the entity files share, on PostgreSQL (no statement cache
 * here): db_pg_get leaves OUT untouched without a row, db_pg_list binds its
 * key only when it is not 0, db_pg_collect_rows gives NULL and 0 for no
 * rows, and an array parameter reads back through unnest.
 */
static void test_pg_helpers(void **state)
{
    struct db_env *e = *state;
    struct product door = db_env_product(e->db, "door");
    db_env_product(e->db, "gate");
    struct db_pg *pg = db_pg_lock(e->db);
    assert_non_null(pg);
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, door.id);
    char name[8];
    assert_int_equal(
        db_pg_get(pg, "SELECT name FROM products WHERE id = $1", &p, fill_name, name, "name"), 0);
    assert_string_equal(name, "door");
    db_pg_params_init(&p);
    db_pg_param_int(&p, door.id + 100);
    strcpy(name, "kept");
    assert_int_equal(
        db_pg_get(pg, "SELECT name FROM products WHERE id = $1", &p, fill_name, name, "name"),
        -ENOENT);
    assert_string_equal(name, "kept"); /* untouched */

    int64_t *ids = (int64_t *)1;
    size_t n = 7;
    assert_int_equal(db_pg_list(pg, "SELECT id FROM products ORDER BY id", 0, sizeof(int64_t),
                                db_pg_fill_int64, (void **)&ids, &n, "ids"),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], door.id);
    free(ids);
    assert_int_equal(db_pg_list(pg, "SELECT id FROM products WHERE id > $1", door.id + 100,
                                sizeof(int64_t), db_pg_fill_int64, (void **)&ids, &n, "ids"),
                     0);
    assert_int_equal(n, 0);
    assert_null(ids);

    struct db_pg_array a;
    db_pg_array_init(&a);
    db_pg_array_add_text(&a, "a\"b");
    db_pg_array_add_text(&a, NULL);
    db_pg_array_add_text(&a, "c\\d");
    db_pg_params_init(&p);
    assert_int_equal(db_pg_param_array(&p, &a), 0);
    int64_t count = 0;
    assert_int_equal(db_pg_get(pg,
                               "SELECT count(*) FROM unnest($1::text[]) AS t(x) "
                               "WHERE x IN ('a\"b', 'c\\d') OR x IS NULL",
                               &p, db_pg_fill_int64, &count, "unnest"),
                     0);
    assert_int_equal(count, 3);
    db_pg_array_free(&a);
    db_pg_unlock(pg);
    db_env_assert_idle(e->db);
}

/* Renames product FROM to TO with the backend's run_one. */
static int rename_one(struct db *db, const char *from, const char *to)
{
    struct db_pg *pg = db_pg_lock(db);
    assert_non_null(pg);
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, from);
    db_pg_param_text(&p, to);
    int r = db_pg_run_one(pg, "UPDATE products SET name = $2 WHERE name = $1", &p, "rename");
    db_pg_unlock(pg);
    return r;
}

/* One of two nodes in the deadlock test (CTX): it locks its own row, then the other's. */
struct deadlock_node {
    const char *path;
    int64_t first, second; /* the keys it locks, in that order */
    pthread_barrier_t *both_hold;
    int attempts, result;
};

static int deadlock_body(struct db_pg *pg, void *arg)
{
    struct deadlock_node *n = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, n->first);
    int err = db_pg_run(pg, "UPDATE deadlock SET v = v + 1 WHERE k = $1", &p, "lock the first");
    if (err < 0)
        return err;
    if (n->attempts++ == 0) /* the first time, wait until the other holds its row too */
        pthread_barrier_wait(n->both_hold);
    db_pg_params_init(&p);
    db_pg_param_int(&p, n->second);
    return db_pg_run(pg, "UPDATE deadlock SET v = v + 1 WHERE k = $1", &p, "lock the second");
}

static void *deadlock_main(void *arg)
{
    struct deadlock_node *n = arg;
    struct db *db = NULL;
    n->result = db_open(n->path, DB_DURABLE, &db);
    if (n->result == 0)
        n->result = db_pg_transaction(db, deadlock_body, n, false, "deadlock test");
    db_close(db);
    return NULL;
}

/*
 * A real deadlock between two nodes: PostgreSQL ends one transaction
 * (40P01), db_pg_transaction runs it again, and both commit, each exactly
 * once (the rows count one increment of each).
 */
static void test_pg_deadlock_is_retried(void **state)
{
    struct db_env *e = *state;
    PGconn *c = PQconnectdb(e->path);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, "CREATE TABLE deadlock (k BIGINT PRIMARY KEY, v BIGINT NOT NULL); "
                              "INSERT INTO deadlock VALUES (1, 0), (2, 0)");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    pthread_barrier_t both_hold;
    assert_int_equal(pthread_barrier_init(&both_hold, NULL, 2), 0);
    struct deadlock_node nodes[2] = {{e->path, 1, 2, &both_hold, 0, 1},
                                     {e->path, 2, 1, &both_hold, 0, 1}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, deadlock_main, &nodes[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&both_hold);
    assert_int_equal(nodes[0].result, 0);
    assert_int_equal(nodes[1].result, 0);
    /* At least one lost and ran again (PostgreSQL may end a retry too, while the winner holds on).
     */
    int attempts = nodes[0].attempts + nodes[1].attempts;
    assert_true(attempts >= 3 && attempts <= 2 * DB_PG_ATTEMPTS);
    res = PQexec(c, "SELECT sum(v) FILTER (WHERE k = 1), sum(v) FILTER (WHERE k = 2) "
                    "FROM deadlock");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "2");
    assert_string_equal(PQgetvalue(res, 0, 1), "2");
    PQclear(res);
    PQfinish(c);
    db_env_assert_idle(e->db);
}
#endif

/* run_one: a change is 0, no change -ENOENT, other failures as the backend's result mapping. */
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
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (rename_one(e->db, cases[i].from, cases[i].to) != cases[i].expected)
            fail_msg("%s -> %s: expected %d", cases[i].from, cases[i].to ? cases[i].to : "NULL",
                     cases[i].expected);
    }
    db_env_assert_idle(e->db);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM products WHERE name IN "
                                       "('door', 'gate')"),
                     2);
}

#ifndef DB_ENV_POSTGRESQL /* on PostgreSQL: test_pg_failed_commit_is_rolled_back */
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
    assert_true(db_devices_record(e->db, batch, 2, NULL, NULL, NULL, NULL) < 0);
    assert_true(sqlite3_get_autocommit(sq->conn)); /* no transaction left open */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 0);
    /* The connection works on. */
    assert_int_equal(db_devices_record(e->db, batch, 1, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 1);
    struct release fine = db_env_release(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &fine, NULL, 0), 0);
}
#else
/*
 * A COMMIT that fails (here: a unique constraint checked only at COMMIT)
 * is rolled back by db_pg_finish: nothing of the transaction stays, no
 * transaction is left open, and the connection takes the next one.
 */
static void test_failed_commit_is_rolled_back(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    db_env_exec(e->db, "CREATE TEMP TABLE once (x BIGINT UNIQUE DEFERRABLE INITIALLY DEFERRED)");
    struct db_pg *pg = db_pg_lock(e->db);
    assert_non_null(pg);
    assert_int_equal(db_pg_begin(pg), 0);
    assert_int_equal(db_pg_run(pg, "INSERT INTO once (x) VALUES (1)", NULL, "test"), 0);
    assert_int_equal(db_pg_run(pg, "INSERT INTO once (x) VALUES (1)", NULL, "test"), 0);
    assert_int_equal(db_pg_finish(pg, 0), -EEXIST); /* every statement passed, the COMMIT not */
    db_pg_unlock(pg);
    db_env_assert_idle(e->db);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM once"), 0);
    /* The connection works on. */
    pg = db_pg_lock(e->db);
    assert_int_equal(db_pg_begin(pg), 0);
    assert_int_equal(db_pg_run(pg, "INSERT INTO once (x) VALUES (1)", NULL, "test"), 0);
    assert_int_equal(db_pg_finish(pg, 0), 0);
    db_pg_unlock(pg);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM once"), 1);
    struct release fine = db_env_release(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &fine, NULL, 0), 0);
    db_env_assert_idle(e->db);
}
#endif

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
    assert_int_equal(db_devices_record(e->db, batch, 3, NULL, NULL, NULL, NULL), 0);
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
    assert_int_equal(db_devices_record(e->db, &stray, 1, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM devices"), 2);
    db_env_assert_idle(e->db);
}

#ifdef DB_ENV_POSTGRESQL
/* A connection of the test's own to E's database, as an operator's psql would be. */
static PGconn *operator_connect(const struct db_env *e)
{
    PGconn *c = PQconnectdb(e->path);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot reach %s: %s", e->path, PQerrorMessage(c));
    return c;
}

static void operator_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

/*
 * A table an operator's transaction locks: a read and a write on a
 * connection with a statement timeout, or with a lock-wait timeout, give
 * up with -ETIMEDOUT (rolled back, the connection usable), and work once
 * the lock is gone. A slow statement that waits for no lock fails only
 * under the statement timeout.
 */
static void timeout_scope(struct db_env *e, enum db_timeout_scope scope)
{
    struct db *timed = NULL;
    assert_int_equal(db_open_timed(e->path, DB_DURABLE, 200, scope, &timed), 0);
    PGconn *op = operator_connect(e);
    operator_exec(op, "BEGIN");
    operator_exec(op, "LOCK TABLE products IN ACCESS EXCLUSIVE MODE");

    int64_t began = time_mono_ms();
    struct product got;
    assert_int_equal(db_product_get(timed, "door", &got), -ETIMEDOUT);
    struct product p = {.platform = PLATFORM_ESP8266};
    strcpy(p.name, scope == DB_TIMEOUT_STATEMENTS ? "lamp" : "bulb");
    strcpy(p.default_channel, "stable");
    assert_int_equal(db_product_insert(timed, &p), -ETIMEDOUT); /* in a transaction: rolled back */
    int64_t took = time_mono_ms() - began;
    if (took > 3000)
        fail_msg("two statements behind a lock took %lld ms with a 200 ms timeout",
                 (long long)took);
    db_env_assert_idle(timed);

    operator_exec(op, "ROLLBACK");
    assert_int_equal(db_product_get(timed, "door", &got), 0);
    assert_int_equal(db_product_insert(timed, &p), 0);
    PQfinish(op);
    struct db_pg *pg = db_pg_lock(timed);
    assert_non_null(pg);
    int slow = db_pg_run(pg, "SELECT pg_sleep(0.4)", NULL, "a slow statement");
    db_pg_unlock(pg);
    assert_int_equal(slow, scope == DB_TIMEOUT_STATEMENTS ? -ETIMEDOUT : 0);
    assert_int_equal(db_product_get(timed, "door", &got), 0); /* and usable */
    db_close(timed);
}

static void test_pg_statement_timeout(void **state)
{
    struct db_env *e = *state;
    db_env_product(e->db, "door");
    timeout_scope(e, DB_TIMEOUT_STATEMENTS);
    timeout_scope(e, DB_TIMEOUT_LOCK_WAITS);
}

struct migration_lock {
    PGconn *op;
    unsigned hold_ms;
};

static void *release_later(void *arg)
{
    struct migration_lock *m = arg;
    usleep(m->hold_ms * 1000);
    operator_exec(m->op, "SELECT pg_advisory_unlock(1869898084, 1)");
    return NULL;
}

/* Migrations run without the timeout: waiting for another node's migration is no failure. */
static void test_pg_migrations_have_no_statement_timeout(void **state)
{
    struct db_env *e = *state;
    struct migration_lock m = {operator_connect(e), 800};
    operator_exec(m.op, "SELECT pg_advisory_lock(1869898084, 1)"); /* DB_PG_LOCK_MIGRATE */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &m), 0);
    struct db *timed = NULL;
    int64_t began = time_mono_ms();
    assert_int_equal(db_open_timed(e->path, DB_DURABLE, 100, DB_TIMEOUT_STATEMENTS, &timed), 0);
    assert_true(time_mono_ms() - began >= 500); /* it waited, past its 100 ms */
    pthread_join(t, NULL);
    /* The session has its timeout again after the migrations. */
    assert_int_equal(db_env_int(timed, "SELECT setting::bigint FROM pg_settings "
                                       "WHERE name = 'statement_timeout'"),
                     100);
    db_close(timed);
    PQfinish(m.op);
}

/*
 * A marked batch applies once: the same mark again (a retry after a lost
 * COMMIT reply) is -EALREADY and changes nothing, and so is an older one;
 * the next applies. A writer's first batch deletes the marks not written
 * for a week, by when they were written: a writer that started long ago
 * but wrote lately keeps its mark, and its retry is still recognized.
 */
static void test_pg_batch_marks(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct device_record d = db_env_device(p.id, 1, "1.0.0");
    d.checkins = 2;
    int64_t now = time_now_ms();
    /* Gone a week and a day; and a writer started 8 days ago that committed seq 500 a second ago.
     */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO registry_batches VALUES ('1000:0000000000000001', 9, %lld), "
             "('%lld:0000000000000002', 500, %lld)",
             (long long)(now - 8 * 24 * 3600 * 1000LL), (long long)(now - 8 * 24 * 3600 * 1000LL),
             (long long)(now - 1000));
    db_env_exec(e->db, sql);
    struct db_batch mark = {.started_ms = now, .nonce = 0xabc, .seq = 1};
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, &mark, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM registry_batches"), 2);
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 2);
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, &mark, NULL), -EALREADY);
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 2);
    db_env_assert_idle(e->db);
    struct db_batch old_writer = {
        .started_ms = now - 8 * 24 * 3600 * 1000LL, .nonce = 2, .seq = 500};
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, &old_writer, NULL), -EALREADY);
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 2);
    mark.seq = 2;
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, &mark, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 4);
    struct fleet_event none = {0};
    assert_int_equal(db_fleet_events_apply(e->db, &none, 1, &mark), -EALREADY);
    mark.seq = 1;
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, &mark, NULL), -EALREADY);
    /* Another writer's seq 2 is its own. */
    struct db_batch other = {.started_ms = now, .nonce = 0xdef, .seq = 2};
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, &other, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 6);
    /* Unmarked: always applied. */
    assert_int_equal(db_devices_record(e->db, &d, 1, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(db_env_int(e->db, "SELECT checkins FROM devices"), 8);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM registry_batches"), 3);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_constraint_mapping, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_result_mapping, db_env_setup, db_env_teardown),
#ifdef DB_ENV_POSTGRESQL
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_pg_helpers, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_pg_deadlock_is_retried, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_pg_statement_timeout, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrations_have_no_statement_timeout, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_pg_batch_marks, db_env_setup, db_env_teardown),
#else
        cmocka_unit_test_setup_teardown(test_statement_cache, db_env_setup, db_env_teardown),
#endif
        cmocka_unit_test_setup_teardown(test_run_one, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_is_rolled_back, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_device_upsert, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
