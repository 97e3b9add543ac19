/*
 * The SQLite backend of db.h, its connection: one file in the data folder,
 * WAL journal, the durability each opener asks for, numbered migrations
 * embedded at build time (PRAGMA user_version counts the ones applied), the
 * catalog's generation and the integrity check. It also holds the helpers
 * every backend file shares (sqlite_internal.h): the statement cache (each
 * statement prepared once per connection and reused), running a statement,
 * reading rows, ending a transaction and mapping SQLite's errors to -errno.
 * Each entity's SQL lives in its own file (db_sqlite_<entity>.c).
 */
#include "db/sqlite_internal.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

extern const char *const sqlite_migrations[];
extern const unsigned sqlite_migrations_numbers[];
extern const size_t sqlite_migrations_count;

static const struct db_sqlite_query begin_query = {DB_SLOT_BEGIN, "BEGIN IMMEDIATE"};
static const struct db_sqlite_query generation_query = {
    DB_SLOT_GENERATION, "SELECT value FROM meta WHERE key = 'catalog_generation'"};
static const struct db_sqlite_query generation_bump_query = {
    DB_SLOT_GENERATION_BUMP, "UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation'"};

struct db_sqlite *db_sqlite_of(struct db *db)
{
    assert(db->ops == &db_sqlite_ops);
    return (struct db_sqlite *)db;
}

struct db_sqlite *db_sqlite_lock(struct db *db)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    pthread_mutex_lock(&sq->lock);
    return sq;
}

void db_sqlite_unlock(struct db_sqlite *sq)
{
    pthread_mutex_unlock(&sq->lock);
}

int db_sqlite_fail(struct db_sqlite *sq, const char *what)
{
    log_error("database: %s: %s", what, sqlite3_errmsg(sq->conn));
    return -EIO;
}

sqlite3_stmt *db_sqlite_prepare(struct db_sqlite *sq, const struct db_sqlite_query *q)
{
    assert(q->slot < DB_SLOT_COUNT && !sq->cache[q->slot].stmt);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v3(sq->conn, q->sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
        SQLITE_OK) {
        db_sqlite_fail(sq, "prepare");
        return NULL;
    }
    sq->cache[q->slot].query = q;
    sq->cache[q->slot].stmt = s;
    return s;
}

int db_sqlite_result(struct db_sqlite *sq, int rc, const char *what)
{
    if (rc == SQLITE_DONE || rc == SQLITE_OK)
        return 0;
    if (rc == SQLITE_CONSTRAINT) {
        int ext = sqlite3_extended_errcode(sq->conn);
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            return -EEXIST;
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            return -ENOENT;
    }
    return db_sqlite_fail(sq, what);
}

int db_sqlite_run(struct db_sqlite *sq, sqlite3_stmt *s, const char *what)
{
    int r = db_sqlite_result(sq, sqlite3_step(s), what);
    sqlite3_reset(s);
    return r;
}

int db_sqlite_run_one(struct db_sqlite *sq, sqlite3_stmt *s, const char *what)
{
    int r = db_sqlite_run(sq, s, what);
    if (r == 0 && sqlite3_changes(sq->conn) == 0)
        r = -ENOENT;
    return r;
}

int db_sqlite_exec(struct db_sqlite *sq, const struct db_sqlite_query *q)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, q);
    if (!s)
        return -EIO;
    return db_sqlite_run(sq, s, q->sql);
}

void db_sqlite_fill_int64(sqlite3_stmt *s, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(s, 0);
}

int db_sqlite_get(struct db_sqlite *sq, sqlite3_stmt *s, db_sqlite_fill_fn fill, void *out,
                  const char *what)
{
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_sqlite_fail(sq, what);
    if (r == 0)
        fill(s, out);
    sqlite3_reset(s);
    return r;
}

int db_sqlite_collect_rows(struct db_sqlite *sq, sqlite3_stmt *s, size_t elem,
                           db_sqlite_fill_fn fill, void **ret_items, size_t *ret_count)
{
    size_t count = 0, cap = 0;
    uint8_t *items = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint8_t *n = realloc(items, ncap * elem);
            if (!n) {
                free(items);
                sqlite3_reset(s);
                return -ENOMEM;
            }
            items = n;
            cap = ncap;
        }
        fill(s, items + count * elem);
        count++;
    }
    if (rc != SQLITE_DONE) {
        db_sqlite_fail(sq, "read rows");
        sqlite3_reset(s);
        free(items);
        return -EIO;
    }
    sqlite3_reset(s);
    *ret_items = items;
    *ret_count = count;
    return 0;
}

int db_sqlite_list(struct db_sqlite *sq, const struct db_sqlite_query *q, int64_t key, size_t elem,
                   db_sqlite_fill_fn fill, void **ret_items, size_t *ret_count)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, q);
    if (!s)
        return -EIO;
    if (key)
        sqlite3_bind_int64(s, 1, key);
    return db_sqlite_collect_rows(sq, s, elem, fill, ret_items, ret_count);
}

int db_sqlite_begin(struct db_sqlite *sq)
{
    return db_sqlite_exec(sq, &begin_query);
}

int db_sqlite_finish(struct db_sqlite *sq, int err)
{
    if (err == 0) {
        err = db_sqlite_result(sq, sqlite3_exec(sq->conn, "COMMIT", NULL, NULL, NULL), "commit");
        if (err == 0)
            return 0;
    }
    if (!sqlite3_get_autocommit(sq->conn))
        sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

int db_sqlite_generation_bump(struct db_sqlite *sq)
{
    return db_sqlite_exec(sq, &generation_bump_query);
}

void db_sqlite_bind_text_or_null(sqlite3_stmt *s, int i, const char *text)
{
    if (text && *text)
        sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

void db_sqlite_column_text(sqlite3_stmt *s, int i, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t || str_copy(out, size, (const char *)t) < 0)
        out[0] = 0;
}

/* The number of the newest migration applied (PRAGMA user_version), or -1 after logging. */
static int schema_version(struct db_sqlite *sq)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(sq->conn, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_sqlite_fail(sq, "read schema version"), -1;
    int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (v < 0)
        db_sqlite_fail(sq, "read schema version");
    return v;
}

/* The number of the newest migration this otad has. */
static int db_sqlite_schema_latest(void)
{
    return (int)sqlite_migrations_numbers[sqlite_migrations_count - 1];
}

/*
 * Applies the missing migrations, each in its own write transaction that
 * first re-reads the schema version, so two processes opening a new data
 * folder at once apply each migration exactly once. The version is the
 * number of the newest migration applied; the numbers may have gaps
 * (embed_sql.py), and the next one applied is the first numbered above it.
 */
static int migrate(struct db_sqlite *sq)
{
    for (;;) {
        char *err = NULL;
        if (sqlite3_exec(sq->conn, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) {
            log_error("database: cannot start a migration: %s", err ? err : "?");
            sqlite3_free(err);
            return -EIO;
        }
        int applied = schema_version(sq);
        if (applied < 0 || applied > db_sqlite_schema_latest()) {
            sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
            if (applied < 0)
                return -EIO;
            log_error("database: schema version %d is newer than this otad knows (%d)", applied,
                      db_sqlite_schema_latest());
            return -EPROTO;
        }
        if (applied == db_sqlite_schema_latest()) {
            sqlite3_exec(sq->conn, "COMMIT", NULL, NULL, NULL);
            return 0;
        }
        size_t next = 0;
        while (sqlite_migrations_numbers[next] <= (unsigned)applied)
            next++;
        unsigned number = sqlite_migrations_numbers[next];
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %u", number);
        if (sqlite3_exec(sq->conn, sqlite_migrations[next], NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(sq->conn, pragma, NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(sq->conn, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
            log_error("database: migration %u failed: %s", number, err ? err : "?");
            sqlite3_free(err);
            sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
            return -EIO;
        }
        log_info("database: applied migration %u", number);
    }
}

static void sqlite_close(struct db *db)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    for (int i = 0; i < DB_SLOT_COUNT; i++)
        sqlite3_finalize(sq->cache[i].stmt);
    sqlite3_close(sq->conn);
    pthread_mutex_destroy(&sq->lock);
    free(sq);
}

int db_sqlite_open(const char *path, enum db_durability durability, struct db **ret_db)
{
    struct db_sqlite *sq = calloc(1, sizeof(*sq));
    if (!sq)
        return -ENOMEM;
    sq->db.ops = &db_sqlite_ops;
    int r = -pthread_mutex_init(&sq->lock, NULL);
    if (r < 0) {
        free(sq);
        return r;
    }
    r = -EIO;
    if (sqlite3_open_v2(path, &sq->conn,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        log_error("database: cannot open \"%s\": %s", path,
                  sq->conn ? sqlite3_errmsg(sq->conn) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(sq->conn, 10000);
    /*
     * 1 KiB pages, set before the first table exists (a no-op afterwards):
     * registry upserts land on random pages of a large table, and each commit
     * writes every page it touched to the WAL; smaller pages write less
     * (bench: a quarter less flusher CPU at 1,000,000 devices).
     */
    const char *pragmas = durability == DB_DURABLE
                              ? "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; "
                                "PRAGMA synchronous = FULL; "
                                "PRAGMA foreign_keys = ON;"
                              : "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; "
                                "PRAGMA synchronous = NORMAL; "
                                "PRAGMA foreign_keys = ON;";
    char *err = NULL;
    if (sqlite3_exec(sq->conn, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        log_error("database: cannot configure \"%s\": %s", path, err ? err : "?");
        sqlite3_free(err);
        goto fail;
    }
    r = migrate(sq);
    if (r < 0)
        goto fail;
    *ret_db = &sq->db;
    return 0;
fail:
    sqlite_close(&sq->db);
    return r;
}

int db_sqlite_integrity_check(struct db *db, bool quick, struct reason *why)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    sqlite3_stmt *s;
    int r = 0;
    /* Not cached: it runs once, from otad check, restore or store verify. */
    if (sqlite3_prepare_v2(sq->conn, quick ? "PRAGMA quick_check" : "PRAGMA integrity_check", -1,
                           &s, NULL) != SQLITE_OK) {
        r = reason_set(why, -EIO, "integrity check: %s", sqlite3_errmsg(sq->conn));
        goto out;
    }
    /* One row "ok", or one row per finding: the first few go into WHY. */
    char findings[sizeof(why->text)] = "";
    size_t len = 0;
    unsigned rows = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *verdict = (const char *)sqlite3_column_text(s, 0);
        if (rows++ == 0 && verdict && strcmp(verdict, "ok") == 0)
            break;
        if (len < sizeof(findings))
            len += (size_t)snprintf(findings + len, sizeof(findings) - len, "%s%s", len ? "; " : "",
                                    verdict ? verdict : "?");
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = reason_set(why, -EIO, "integrity check: %s", sqlite3_errmsg(sq->conn));
    else if (rows == 0)
        r = reason_set(why, -EIO, "integrity check returned nothing");
    else if (findings[0])
        r = reason_set(why, -EIO, "integrity check: %s", findings);
    sqlite3_finalize(s);
out:
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_generation(struct db *db, int64_t *ret_generation)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &generation_query);
    if (s)
        r = db_sqlite_get(sq, s, db_sqlite_fill_int64, ret_generation, "read generation");
    if (r == -ENOENT) { /* migration 001 writes the row: a damaged database */
        log_error("database: read generation: no catalog_generation row");
        r = -EIO;
    }
    db_sqlite_unlock(sq);
    return r;
}

const struct db_ops db_sqlite_ops = {.name = "SQLite",
                                     .close = sqlite_close,
#define DB_SQLITE_OPERATION(name, params, args) .name = db_sqlite_##name,
                                     DB_OPERATIONS(DB_SQLITE_OPERATION)
#undef DB_SQLITE_OPERATION
};

/* The store in the data folder holds the blobs of a single node: nothing goes into SQLite. */
int db_sqlite_blob_put(struct db *db, const char *sha256, const uint8_t *data, size_t len)
{
    (void)db;
    (void)sha256;
    (void)data;
    (void)len;
    return -EOPNOTSUPP;
}

int db_sqlite_blob_get(struct db *db, const char *sha256, size_t max, uint8_t **ret_data,
                       size_t *ret_len)
{
    (void)db;
    (void)sha256;
    (void)max;
    (void)ret_data;
    (void)ret_len;
    return -EOPNOTSUPP;
}

int db_sqlite_blob_prune(struct db *db, int64_t created_before_ms, size_t *ret_deleted)
{
    (void)db;
    (void)created_before_ms;
    (void)ret_deleted;
    return -EOPNOTSUPP;
}

/* One node on SQLite: it leads, and no other node writes the catalog. */
int db_sqlite_listen_catalog(struct db *db)
{
    (void)db;
    return -EOPNOTSUPP;
}

int db_sqlite_wait_catalog(struct db *db, unsigned timeout_ms, bool *ret_changed)
{
    (void)db;
    (void)timeout_ms;
    (void)ret_changed;
    return -EOPNOTSUPP;
}

int db_sqlite_leader_hold(struct db *db, bool *ret_leader)
{
    (void)db;
    (void)ret_leader;
    return -EOPNOTSUPP;
}

int db_sqlite_leader_release(struct db *db)
{
    (void)db;
    return -EOPNOTSUPP;
}

int db_sqlite_node_beat(struct db *db, const struct node_status *node, int64_t live_ms,
                        unsigned *ret_live)
{
    (void)db;
    (void)node;
    (void)live_ms;
    (void)ret_live;
    return -EOPNOTSUPP;
}

int db_sqlite_node_list(struct db *db, struct node_status **ret_nodes, size_t *ret_count)
{
    (void)db;
    (void)ret_nodes;
    (void)ret_count;
    return -EOPNOTSUPP;
}

int db_sqlite_rollout_device_changes(struct db *db, struct rollout_changes_cursor *cursor,
                                     size_t limit, struct rollout_device_change **ret,
                                     size_t *ret_count)
{
    (void)db;
    (void)cursor;
    (void)limit;
    (void)ret;
    (void)ret_count;
    return -EOPNOTSUPP;
}

const char *db_sqlite_library_version(void)
{
    return sqlite3_libversion();
}
