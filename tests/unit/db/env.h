/*
 * What the tests of src/db/ share: a fresh database (cmocka setup and
 * teardown), an integer read on the test's own look at the connection, a
 * product, a release and a device to build on, and the check that no
 * statement or transaction was left open after a call (a read left open
 * would pin the connection's snapshot). Header-only.
 *
 * Two backends: built as is, a test runs on SQLite in a temporary data
 * folder; built with DB_ENV_POSTGRESQL (the *_pg executables, suite
 * unit-pg), on a fresh PostgreSQL database created for each test in the
 * cluster whose URL is in OTAD_TEST_POSTGRESQL (tests/run starts a
 * throwaway one with tests/tools/pgcluster.py) and dropped after it. A test
 * about one backend's own machinery stays inside #ifndef / #ifdef
 * DB_ENV_POSTGRESQL.
 */
#ifndef OTAD_TESTS_DB_ENV_H
#define OTAD_TESTS_DB_ENV_H

#include <pthread.h>
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
#ifdef DB_ENV_POSTGRESQL
#include <libpq-fe.h>
#include <unistd.h>

#include "db/pg_internal.h"
#else
#include "db/sqlite_internal.h"
#endif

struct db_env {
    char dir[64];
    char path[512]; /* the SQLite file, or the PostgreSQL URL of the test's database */
    struct db *db;
    char pg_name[64]; /* the test's PostgreSQL database */
};

#ifdef DB_ENV_POSTGRESQL
/* Runs SQL on the cluster's own database (OTAD_TEST_POSTGRESQL), outside any test's database. */
static inline void db_env_cluster_exec(const char *sql)
{
    const char *base = getenv("OTAD_TEST_POSTGRESQL");
    if (!base)
        fail_msg("OTAD_TEST_POSTGRESQL is not set: run these through tests/run unit-pg");
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot reach %s: %s", base, PQerrorMessage(c));
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}
#endif

/* A fresh, empty database's location into E->path. */
static inline void db_env_create(struct db_env *e)
{
#ifdef DB_ENV_POSTGRESQL
    static unsigned counter;
    snprintf(e->pg_name, sizeof(e->pg_name), "otad_unit_%d_%u", (int)getpid(), counter++);
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", e->pg_name);
    db_env_cluster_exec(sql);
    const char *base = getenv("OTAD_TEST_POSTGRESQL");
    const char *slash = strrchr(base, '/');
    assert_non_null(slash);
    snprintf(e->path, sizeof(e->path), "%.*s/%s", (int)(slash - base), base, e->pg_name);
#else
    snprintf(e->path, sizeof(e->path), "%s/%s", e->dir, DB_FILE_NAME);
#endif
}

static inline int db_env_setup(void **state)
{
    struct db_env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(fixture_tmpdir(e->dir), 0);
    db_env_create(e);
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0);
    *state = e;
    return 0;
}

static inline int db_env_teardown(void **state)
{
    struct db_env *e = *state;
    db_close(e->db);
#ifdef DB_ENV_POSTGRESQL
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", e->pg_name);
    db_env_cluster_exec(sql);
#endif
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

#ifdef DB_ENV_POSTGRESQL
/* One integer from SQL on the test's own look at the connection. */
static inline int64_t db_env_int(struct db *db, const char *sql)
{
    struct db_pg *pg = db_pg_of(db);
    pthread_mutex_lock(&pg->lock);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    pthread_mutex_unlock(&pg->lock);
    return v;
}

/* Runs SQL (statements without rows) on DB's connection, as a test's own writes. */
static inline void db_env_exec(struct db *db, const char *sql)
{
    struct db_pg *pg = db_pg_of(db);
    pthread_mutex_lock(&pg->lock);
    PGresult *res = PQexec(pg->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    pthread_mutex_unlock(&pg->lock);
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

/* No call left a transaction open on DB's connection, nor its pipeline mode on. */
static inline void db_env_assert_idle(struct db *db)
{
    struct db_pg *pg = db_pg_of(db);
    assert_int_equal(PQtransactionStatus(pg->conn), PQTRANS_IDLE);
    assert_int_equal(PQpipelineStatus(pg->conn), PQ_PIPELINE_OFF);
    assert_false(pg->in_transaction);
}
#else
/* One integer from SQL on the test's own look at the connection. */
static inline int64_t db_env_int(struct db *db, const char *sql)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(sq->conn, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Runs SQL (statements without rows) on DB's connection, as a test's own writes. */
static inline void db_env_exec(struct db *db, const char *sql)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    pthread_mutex_lock(&sq->lock);
    int rc = sqlite3_exec(sq->conn, sql, NULL, NULL, NULL);
    pthread_mutex_unlock(&sq->lock);
    assert_int_equal(rc, SQLITE_OK);
}

/* Every statement in DB's cache is reset: no call left one running. */
static inline void db_env_assert_idle(struct db *db)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    for (int i = 0; i < DB_SLOT_COUNT; i++)
        if (sq->cache[i].stmt && sqlite3_stmt_busy(sq->cache[i].stmt))
            fail_msg("statement in slot %d left running: %s", i, sq->cache[i].query->sql);
    assert_true(sqlite3_get_autocommit(sq->conn)); /* and no transaction left open */
}
#endif

/* The catalog's generation, read through db.h. */
static inline int64_t db_env_generation(struct db *db)
{
    int64_t g = -1;
    assert_int_equal(db_generation(db, &g), 0);
    return g;
}

/* One node of db_env_two_nodes: its own connection and its number (0 or 1). */
typedef void (*db_env_node_fn)(struct db *db, int node, void *ctx);

struct db_env_node {
    struct db *db;
    int node;
    db_env_node_fn fn;
    void *ctx;
    pthread_barrier_t *start;
};

static inline void *db_env_node_main(void *arg)
{
    struct db_env_node *n = arg;
    pthread_barrier_wait(n->start);
    n->fn(n->db, n->node, n->ctx);
    return NULL;
}

/*
 * The multi-node case: runs FN(db, 0, CTX) on E's connection and FN(db, 1,
 * CTX) on a second one opened on the same database, each in its own thread,
 * started together so that their writes interleave; returns when both are
 * done (the second connection closed). FN asserts only through counters in
 * CTX (cmocka's asserts are not for other threads): the caller checks them.
 */
static inline void db_env_two_nodes(struct db_env *e, db_env_node_fn fn, void *ctx)
{
    struct db *second = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &second), 0);
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    struct db_env_node nodes[2] = {{e->db, 0, fn, ctx, &start}, {second, 1, fn, ctx, &start}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, db_env_node_main, &nodes[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&start);
    db_close(second);
}

/* Adds ESP8266 product NAME on channel "stable" and returns it as stored. */
static inline struct product db_env_product(struct db *db, const char *name)
{
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, name);
    strcpy(p.default_channel, "stable");
    assert_int_equal(db_product_insert(db, &p), 0);
    return p;
}

/* A sketch release VERSION of PRODUCT_ID with one plain variant, not yet stored. */
static inline struct release db_env_release(int64_t product_id, const char *version)
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

/* A check-in of device 18:FE:AA:00:00:LAST_MAC_BYTE of PRODUCT_ID on VERSION, seen at 1000 ms. */
static inline struct device_record db_env_device(int64_t product_id, uint8_t last_mac_byte,
                                                 const char *version)
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

#endif
