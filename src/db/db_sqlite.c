/*
 * The SQLite backend of db.h: one file in the data folder, WAL journal,
 * numbered migrations embedded at build time (PRAGMA user_version counts the
 * ones applied). Statements are prepared once per connection and reused.
 * This file owns every SQL string and every sqlite3 call in the daemon.
 */
#include "db/db.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

extern const char *const sqlite_migrations[];
extern const size_t sqlite_migrations_count;

enum stmt_id {
    STMT_GENERATION,
    STMT_GENERATION_BUMP,
    STMT_PRODUCT_INSERT,
    STMT_PRODUCT_GET,
    STMT_PRODUCT_LIST,
    STMT_PRODUCT_NEXT_SEQ,
    STMT_PRODUCT_BUMP_SEQ,
    STMT_RELEASE_INSERT,
    STMT_RELEASE_GET,
    STMT_RELEASE_LIST,
    STMT_VARIANT_INSERT,
    STMT_VARIANT_LIST,
    STMT_DIGEST_INSERT,
    STMT_DIGEST_LIST,
    STMT_TOKEN_INSERT,
    STMT_TOKEN_FIND,
    STMT_TOKEN_LIST,
    STMT_TOKEN_REVOKE,
    STMT_DEVICE_UPDATE,
    STMT_DEVICE_UPSERT,
    STMT_DEVICE_LIST,
    STMT_DEVICE_COUNT,
    STMT_DEVICE_ISSUES,
    STMT_PRODUCT_SET_SIGNING,
    STMT_PRODUCT_KEY_ADD,
    STMT_PRODUCT_KEY_LIST,
    STMT_VARIANT_ADD,
    STMT_RELEASE_SET_SIGNED_BY,
    STMT_BEGIN,
    STMT_COUNT
};

#define PRODUCT_COLUMNS                                                                            \
    "id, name, platform, default_channel, created_ms, signing, signing_key, sign_legacy, gzip, "   \
    "esp32_hash, core_min"
#define RELEASE_COLUMNS                                                                            \
    "id, product_id, seq, version, channel, mode, size, md5, sha256, created_ms, source, notes, "  \
    "flash_size, signed_by, verifier_key"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_GENERATION] = "SELECT value FROM meta WHERE key = 'catalog_generation'",
    [STMT_GENERATION_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'catalog_generation'",
    [STMT_PRODUCT_INSERT] = "INSERT INTO products (name, platform, default_channel, created_ms, "
                            "sign_legacy) VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_PRODUCT_GET] = "SELECT " PRODUCT_COLUMNS " FROM products WHERE name = ?1",
    [STMT_PRODUCT_LIST] = "SELECT " PRODUCT_COLUMNS " FROM products ORDER BY name",
    [STMT_PRODUCT_SET_SIGNING] = "UPDATE products SET signing = ?2, signing_key = ?3, "
                                 "sign_legacy = ?4, gzip = ?5, esp32_hash = ?6, core_min = ?7 "
                                 "WHERE id = ?1",
    [STMT_PRODUCT_KEY_ADD] = "INSERT OR IGNORE INTO product_keys (product_id, key_name, "
                             "fingerprint, added_ms) VALUES (?1, ?2, ?3, ?4)",
    [STMT_PRODUCT_KEY_LIST] = "SELECT key_name, fingerprint, added_ms FROM product_keys "
                              "WHERE product_id = ?1 ORDER BY added_ms, key_name",
    [STMT_PRODUCT_NEXT_SEQ] = "SELECT next_seq FROM products WHERE id = ?1",
    [STMT_PRODUCT_BUMP_SEQ] = "UPDATE products SET next_seq = next_seq + 1 WHERE id = ?1",
    [STMT_RELEASE_INSERT] =
        "INSERT INTO releases (product_id, seq, version, channel, mode, size, md5, sha256, "
        "created_ms, source, notes, flash_size, signed_by, verifier_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [STMT_RELEASE_GET] = "SELECT " RELEASE_COLUMNS " FROM releases "
                         "WHERE product_id = ?1 AND mode = ?2 AND version = ?3",
    [STMT_RELEASE_LIST] = "SELECT " RELEASE_COLUMNS " FROM releases WHERE product_id = ?1 "
                          "ORDER BY seq DESC",
    [STMT_VARIANT_INSERT] = "INSERT INTO variants (release_id, kind, sha256, md5, size) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_VARIANT_LIST] = "SELECT kind, sha256, md5, size FROM variants WHERE release_id = ?1 "
                          "ORDER BY kind",
    [STMT_DIGEST_INSERT] = "INSERT OR IGNORE INTO installed_digests (release_id, digest) "
                           "VALUES (?1, ?2)",
    [STMT_DIGEST_LIST] = "SELECT d.release_id, d.digest FROM installed_digests d "
                         "JOIN releases r ON r.id = d.release_id WHERE r.product_id = ?1",
    [STMT_TOKEN_INSERT] = "INSERT INTO tokens (name, scope, hash, created_ms) "
                          "VALUES (?1, ?2, ?3, ?4)",
    [STMT_TOKEN_FIND] = "SELECT id, name, scope, created_ms, revoked_ms FROM tokens "
                        "WHERE hash = ?1",
    [STMT_TOKEN_LIST] = "SELECT id, name, scope, created_ms, revoked_ms FROM tokens ORDER BY id",
    [STMT_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
    /* Both take device_bind's parameters (?20 first_seen, unused by the update; ?21 check-ins). */
    [STMT_DEVICE_UPDATE] =
        "UPDATE devices SET ap_mac = ?3, chip_id = ?4, sdk_version = ?5, sketch_size = ?6, "
        "sketch_md5 = ?7, free_space = ?8, chip_size = ?9, version = ?10, mode = ?11, "
        "user_agent = ?12, remote_addr = ?13, last_seen_ms = ?14, last_status = ?15, "
        "last_offered = coalesce(?16, last_offered), last_key = coalesce(?17, last_key), "
        "core_version = ?18, delivery_issue = ?19, checkins = checkins + ?21 "
        "WHERE product_id = ?1 AND mac = ?2",
    [STMT_DEVICE_UPSERT] =
        "INSERT INTO devices (product_id, mac, ap_mac, chip_id, sdk_version, sketch_size, "
        "sketch_md5, free_space, chip_size, version, mode, user_agent, remote_addr, "
        "first_seen_ms, last_seen_ms, last_status, last_offered, last_key, core_version, "
        "delivery_issue, checkins) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?20, ?14, ?15, ?16, ?17, "
        "?18, ?19, ?21) "
        "ON CONFLICT (product_id, mac) DO UPDATE SET ap_mac = excluded.ap_mac, "
        "chip_id = excluded.chip_id, sdk_version = excluded.sdk_version, "
        "sketch_size = excluded.sketch_size, sketch_md5 = excluded.sketch_md5, "
        "free_space = excluded.free_space, chip_size = excluded.chip_size, "
        "version = excluded.version, mode = excluded.mode, user_agent = excluded.user_agent, "
        "remote_addr = excluded.remote_addr, last_seen_ms = excluded.last_seen_ms, "
        "last_status = excluded.last_status, "
        "last_offered = coalesce(excluded.last_offered, last_offered), "
        "last_key = coalesce(excluded.last_key, last_key), core_version = excluded.core_version, "
        "delivery_issue = excluded.delivery_issue, checkins = checkins + excluded.checkins",
    [STMT_DEVICE_LIST] =
        "SELECT mac, ap_mac, chip_id, sdk_version, sketch_size, sketch_md5, free_space, "
        "chip_size, version, mode, user_agent, remote_addr, first_seen_ms, last_seen_ms, "
        "last_status, last_offered, checkins, last_key, core_version, delivery_issue "
        "FROM devices WHERE product_id = ?1 "
        "ORDER BY mac LIMIT ?2 OFFSET ?3",
    [STMT_DEVICE_COUNT] = "SELECT count(*) FROM devices WHERE product_id = ?1",
    [STMT_DEVICE_ISSUES] = "SELECT delivery_issue, count(*) FROM devices "
                           "WHERE product_id = ?1 AND delivery_issue != 0 "
                           "GROUP BY delivery_issue ORDER BY delivery_issue",
    [STMT_VARIANT_ADD] = "INSERT OR IGNORE INTO variants (release_id, kind, sha256, md5, size) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_RELEASE_SET_SIGNED_BY] = "UPDATE releases SET signed_by = ?2 WHERE id = ?1",
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
};

struct db {
    struct db_sqlite base;           /* first: db_sqlite_of() casts */
    sqlite3_stmt *stmts[STMT_COUNT]; /* prepared on first use */
};

struct db_sqlite *db_sqlite_of(struct db *db)
{
    return &db->base;
}

int db_sqlite_fail(struct db_sqlite *sq, const char *what)
{
    log_error("database: %s: %s", what, sqlite3_errmsg(sq->conn));
    return -EIO;
}

static int db_fail(struct db *db, const char *what)
{
    log_error("database: %s: %s", what, sqlite3_errmsg(db->base.conn));
    return -EIO;
}

/* Returns the prepared statement ID, reset and unbound, or NULL after logging. */
static sqlite3_stmt *stmt_get(struct db *db, enum stmt_id id)
{
    sqlite3_stmt *s = db->stmts[id];
    if (!s) {
        if (sqlite3_prepare_v3(db->base.conn, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s,
                               NULL) != SQLITE_OK) {
            db_fail(db, "prepare");
            return NULL;
        }
        db->stmts[id] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
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

/* Steps S to completion (a statement that returns no rows). */
static int stmt_run(struct db *db, sqlite3_stmt *s, const char *what)
{
    int r = db_sqlite_result(&db->base, sqlite3_step(s), what);
    sqlite3_reset(s);
    return r;
}

static int exec_simple(struct db *db, enum stmt_id id)
{
    sqlite3_stmt *s = stmt_get(db, id);
    if (!s)
        return -EIO;
    return stmt_run(db, s, stmt_sql[id]);
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *text)
{
    if (text && *text)
        sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void column_text(sqlite3_stmt *s, int i, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t || str_copy(out, size, (const char *)t) < 0)
        out[0] = 0;
}

/* The number of migrations applied (PRAGMA user_version), or -1 after logging. */
static int schema_version(struct db *db)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->base.conn, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, "read schema version"), -1;
    int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (v < 0)
        db_fail(db, "read schema version");
    return v;
}

/*
 * Applies the missing migrations, each in its own write transaction that
 * first re-reads the schema version, so two processes opening a new data
 * folder at once apply each migration exactly once.
 */
static int migrate(struct db *db)
{
    for (;;) {
        char *err = NULL;
        if (sqlite3_exec(db->base.conn, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) {
            log_error("database: cannot start a migration: %s", err ? err : "?");
            sqlite3_free(err);
            return -EIO;
        }
        int applied = schema_version(db);
        if (applied < 0 || (size_t)applied > sqlite_migrations_count) {
            sqlite3_exec(db->base.conn, "ROLLBACK", NULL, NULL, NULL);
            if (applied < 0)
                return -EIO;
            log_error("database: schema version %d is newer than this otad knows (%zu)", applied,
                      sqlite_migrations_count);
            return -EPROTO;
        }
        if ((size_t)applied == sqlite_migrations_count) {
            sqlite3_exec(db->base.conn, "COMMIT", NULL, NULL, NULL);
            return 0;
        }
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", applied + 1);
        if (sqlite3_exec(db->base.conn, sqlite_migrations[applied], NULL, NULL, &err) !=
                SQLITE_OK ||
            sqlite3_exec(db->base.conn, pragma, NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(db->base.conn, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
            log_error("database: migration %d failed: %s", applied + 1, err ? err : "?");
            sqlite3_free(err);
            sqlite3_exec(db->base.conn, "ROLLBACK", NULL, NULL, NULL);
            return -EIO;
        }
        log_info("database: applied migration %d", applied + 1);
    }
}

int db_open(const char *path, enum db_durability durability, struct db **ret_db)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    int r = -pthread_mutex_init(&db->base.lock, NULL);
    if (r < 0) {
        free(db);
        return r;
    }
    r = -EIO;
    if (sqlite3_open_v2(path, &db->base.conn,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        log_error("database: cannot open \"%s\": %s", path,
                  db->base.conn ? sqlite3_errmsg(db->base.conn) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db->base.conn, 10000);
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
    if (sqlite3_exec(db->base.conn, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        log_error("database: cannot configure \"%s\": %s", path, err ? err : "?");
        sqlite3_free(err);
        goto fail;
    }
    r = migrate(db);
    if (r < 0)
        goto fail;
    *ret_db = db;
    return 0;
fail:
    db_close(db);
    return r;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(db->stmts[i]);
    sqlite3_close(db->base.conn);
    pthread_mutex_destroy(&db->base.lock);
    free(db);
}

int db_integrity_check(struct db *db, struct reason *why)
{
    pthread_mutex_lock(&db->base.lock);
    sqlite3_stmt *s;
    int r = 0;
    if (sqlite3_prepare_v2(db->base.conn, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK) {
        r = db_fail(db, "integrity check");
        goto out;
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        r = reason_set(why, -EIO, "integrity check returned nothing");
    } else {
        const char *verdict = (const char *)sqlite3_column_text(s, 0);
        if (!verdict || strcmp(verdict, "ok") != 0)
            r = reason_set(why, -EIO, "integrity check: %s", verdict ? verdict : "?");
    }
    sqlite3_finalize(s);
out:
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_generation(struct db *db, int64_t *ret_generation)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_GENERATION);
    if (s && sqlite3_step(s) == SQLITE_ROW) {
        *ret_generation = sqlite3_column_int64(s, 0);
        r = 0;
    } else if (s) {
        db_fail(db, "read generation");
    }
    if (s)
        sqlite3_reset(s);
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_product_insert(struct db *db, struct product *p)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_PRODUCT_INSERT);
    if (s) {
        int64_t now = time_now_ms();
        sqlite3_bind_text(s, 1, p->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, (int)p->platform);
        sqlite3_bind_text(s, 3, p->default_channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, now);
        sqlite3_bind_int(s, 5, p->signing.legacy);
        r = stmt_run(db, s, "insert product");
        if (r == 0) {
            p->id = sqlite3_last_insert_rowid(db->base.conn);
            p->created_ms = now;
            /* Readers (a running server, other nodes) rebuild their catalog on this. */
            r = exec_simple(db, STMT_GENERATION_BUMP);
        }
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

static void product_from_row(sqlite3_stmt *s, struct product *p)
{
    memset(p, 0, sizeof(*p));
    p->id = sqlite3_column_int64(s, 0);
    column_text(s, 1, p->name, sizeof(p->name));
    p->platform = sqlite3_column_int(s, 2) == PLATFORM_ESP32 ? PLATFORM_ESP32 : PLATFORM_ESP8266;
    column_text(s, 3, p->default_channel, sizeof(p->default_channel));
    p->created_ms = sqlite3_column_int64(s, 4);
    p->signing.required = sqlite3_column_int(s, 5) != 0;
    column_text(s, 6, p->signing.key, sizeof(p->signing.key));
    p->signing.legacy = sqlite3_column_int(s, 7) != 0;
    p->signing.gzip = sqlite3_column_int(s, 8) != 0;
    column_text(s, 9, p->signing.esp32_hash, sizeof(p->signing.esp32_hash));
    column_text(s, 10, p->signing.core_min, sizeof(p->signing.core_min));
}

int db_product_set_signing(struct db *db, int64_t product_id, const struct product_signing *sg)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_PRODUCT_SET_SIGNING);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int(s, 2, sg->required);
        bind_text_or_null(s, 3, sg->key);
        sqlite3_bind_int(s, 4, sg->legacy);
        sqlite3_bind_int(s, 5, sg->gzip);
        sqlite3_bind_text(s, 6, sg->esp32_hash[0] ? sg->esp32_hash : "sha256", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, sg->core_min, -1, SQLITE_STATIC);
        r = stmt_run(db, s, "set product signing");
        if (r == 0 && sqlite3_changes(db->base.conn) == 0)
            r = -ENOENT;
        if (r == 0)
            r = exec_simple(db, STMT_GENERATION_BUMP);
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_product_key_add(struct db *db, int64_t product_id, const char *name, const char *fingerprint)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_PRODUCT_KEY_ADD);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, time_now_ms());
        r = stmt_run(db, s, "add product key");
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

static void fill_product_key(sqlite3_stmt *s, void *out)
{
    struct product_key *k = out;
    memset(k, 0, sizeof(*k));
    column_text(s, 0, k->name, sizeof(k->name));
    column_text(s, 1, k->fingerprint, sizeof(k->fingerprint));
    k->added_ms = sqlite3_column_int64(s, 2);
}

static int list_rows_locked(struct db *db, enum stmt_id id, int64_t key, size_t elem,
                            void (*fill)(sqlite3_stmt *, void *), void **ret_items,
                            size_t *ret_count);

int db_product_key_list(struct db *db, int64_t product_id, struct product_key **ret_keys,
                        size_t *ret_count)
{
    pthread_mutex_lock(&db->base.lock);
    int r = list_rows_locked(db, STMT_PRODUCT_KEY_LIST, product_id, sizeof(struct product_key),
                             fill_product_key, (void **)ret_keys, ret_count);
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_product_get(struct db *db, const char *name, struct product *ret_product)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_PRODUCT_GET);
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            product_from_row(s, ret_product);
            r = 0;
        } else if (rc == SQLITE_DONE) {
            r = -ENOENT;
        } else {
            r = db_fail(db, "get product");
        }
        sqlite3_reset(s);
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

/*
 * Collects the rows of S into a growing array of ELEM-sized items, converting
 * each with FILL. The caller holds the lock and has bound S.
 */
static int collect_rows(struct db *db, sqlite3_stmt *s, size_t elem,
                        void (*fill)(sqlite3_stmt *, void *), void **ret_items, size_t *ret_count)
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
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(items);
        return db_fail(db, "read rows");
    }
    *ret_items = items;
    *ret_count = count;
    return 0;
}

/*
 * Runs list statement ID (binding KEY as ?1 unless it is 0) and collects its
 * rows as collect_rows does. The caller holds the lock.
 */
static int list_rows_locked(struct db *db, enum stmt_id id, int64_t key, size_t elem,
                            void (*fill)(sqlite3_stmt *, void *), void **ret_items,
                            size_t *ret_count)
{
    sqlite3_stmt *s = stmt_get(db, id);
    if (!s)
        return -EIO;
    if (key)
        sqlite3_bind_int64(s, 1, key);
    return collect_rows(db, s, elem, fill, ret_items, ret_count);
}

static void fill_product(sqlite3_stmt *s, void *out)
{
    product_from_row(s, out);
}

int db_product_list(struct db *db, struct product **ret_products, size_t *ret_count)
{
    pthread_mutex_lock(&db->base.lock);
    int r = list_rows_locked(db, STMT_PRODUCT_LIST, 0, sizeof(struct product), fill_product,
                             (void **)ret_products, ret_count);
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

static int release_insert_locked(struct db *db, struct release *r, const char *const *digests,
                                 size_t digest_count)
{
    sqlite3_stmt *s = stmt_get(db, STMT_PRODUCT_NEXT_SEQ);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->product_id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? -ENOENT : db_fail(db, "next sequence");
    }
    int64_t seq = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);

    s = stmt_get(db, STMT_PRODUCT_BUMP_SEQ);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->product_id);
    int err = stmt_run(db, s, "bump sequence");
    if (err < 0)
        return err;

    s = stmt_get(db, STMT_RELEASE_INSERT);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->product_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_text(s, 3, r->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, (int)r->mode);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)r->size);
    sqlite3_bind_text(s, 7, r->md5, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, r->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, r->created_ms);
    sqlite3_bind_text(s, 10, r->source, -1, SQLITE_STATIC);
    bind_text_or_null(s, 11, r->notes);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)r->flash_size);
    bind_text_or_null(s, 13, r->signed_by);
    sqlite3_bind_text(s, 14, r->verifier_key, -1, SQLITE_STATIC);
    err = stmt_run(db, s, "insert release");
    if (err < 0)
        return err;
    int64_t id = sqlite3_last_insert_rowid(db->base.conn);

    for (unsigned i = 0; i < r->variant_count; i++) {
        const struct variant *v = &r->variants[i];
        s = stmt_get(db, STMT_VARIANT_INSERT);
        if (!s)
            return -EIO;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int(s, 2, (int)v->kind);
        sqlite3_bind_text(s, 3, v->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, v->md5, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)v->size);
        err = stmt_run(db, s, "insert variant");
        if (err < 0)
            return err == -EEXIST ? -EIO : err;
    }
    for (size_t i = 0; i < digest_count; i++) {
        s = stmt_get(db, STMT_DIGEST_INSERT);
        if (!s)
            return -EIO;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, digests[i], -1, SQLITE_STATIC);
        err = stmt_run(db, s, "insert digest");
        if (err < 0)
            return err == -EEXIST ? -EIO : err;
    }
    err = exec_simple(db, STMT_GENERATION_BUMP);
    if (err < 0)
        return err;
    r->id = id;
    r->seq = seq;
    return 0;
}

int db_release_insert(struct db *db, struct release *r, const char *const *digests,
                      size_t digest_count)
{
    pthread_mutex_lock(&db->base.lock);
    int err = exec_simple(db, STMT_BEGIN);
    if (err == 0)
        err = db_sqlite_finish(&db->base, release_insert_locked(db, r, digests, digest_count));
    pthread_mutex_unlock(&db->base.lock);
    return err;
}

static int release_add_variants_locked(struct db *db, int64_t release_id, const struct variant *v,
                                       unsigned count, const char *signed_by)
{
    sqlite3_stmt *s = stmt_get(db, STMT_RELEASE_SET_SIGNED_BY);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, release_id);
    bind_text_or_null(s, 2, signed_by);
    int err = stmt_run(db, s, "set release signer");
    if (err == 0 && sqlite3_changes(db->base.conn) == 0)
        err = -ENOENT;
    for (unsigned i = 0; err == 0 && i < count; i++) {
        if (!(s = stmt_get(db, STMT_VARIANT_ADD)))
            return -EIO;
        sqlite3_bind_int64(s, 1, release_id);
        sqlite3_bind_int(s, 2, (int)v[i].kind);
        sqlite3_bind_text(s, 3, v[i].sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, v[i].md5, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)v[i].size);
        err = stmt_run(db, s, "add variant");
    }
    return err == 0 ? exec_simple(db, STMT_GENERATION_BUMP) : err;
}

int db_release_add_variants(struct db *db, int64_t release_id, const struct variant *v,
                            unsigned count, const char *signed_by)
{
    pthread_mutex_lock(&db->base.lock);
    int err = exec_simple(db, STMT_BEGIN);
    if (err == 0)
        err = db_sqlite_finish(&db->base,
                               release_add_variants_locked(db, release_id, v, count, signed_by));
    pthread_mutex_unlock(&db->base.lock);
    return err;
}

static void release_from_row(sqlite3_stmt *s, void *out)
{
    struct release *r = out;
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->product_id = sqlite3_column_int64(s, 1);
    r->seq = sqlite3_column_int64(s, 2);
    column_text(s, 3, r->version, sizeof(r->version));
    column_text(s, 4, r->channel, sizeof(r->channel));
    r->mode = sqlite3_column_int(s, 5) == FW_MODE_FS ? FW_MODE_FS : FW_MODE_SKETCH;
    r->size = (uint64_t)sqlite3_column_int64(s, 6);
    column_text(s, 7, r->md5, sizeof(r->md5));
    column_text(s, 8, r->sha256, sizeof(r->sha256));
    r->created_ms = sqlite3_column_int64(s, 9);
    column_text(s, 10, r->source, sizeof(r->source));
    const unsigned char *notes = sqlite3_column_text(s, 11);
    r->notes = notes ? strdup((const char *)notes) : NULL;
    r->flash_size = (uint64_t)sqlite3_column_int64(s, 12);
    column_text(s, 13, r->signed_by, sizeof(r->signed_by));
    column_text(s, 14, r->verifier_key, sizeof(r->verifier_key));
}

static int variants_load_locked(struct db *db, struct release *r)
{
    sqlite3_stmt *s = stmt_get(db, STMT_VARIANT_LIST);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->id);
    r->variant_count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && r->variant_count < VARIANT_KIND_COUNT) {
        struct variant *v = &r->variants[r->variant_count++];
        int kind = sqlite3_column_int(s, 0);
        v->kind = kind >= 0 && kind < VARIANT_KIND_COUNT ? (enum variant_kind)kind : VARIANT_PLAIN;
        column_text(s, 1, v->sha256, sizeof(v->sha256));
        column_text(s, 2, v->md5, sizeof(v->md5));
        v->size = (uint64_t)sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(db, "read variants");
    return 0;
}

int db_release_get(struct db *db, int64_t product_id, enum fw_mode mode, const char *version,
                   struct release *ret_release)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_RELEASE_GET);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int(s, 2, (int)mode);
        sqlite3_bind_text(s, 3, version, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        struct release rel;
        if (rc == SQLITE_ROW) {
            release_from_row(s, &rel);
            sqlite3_reset(s);
            r = variants_load_locked(db, &rel);
            if (r == 0)
                *ret_release = rel;
            else
                free(rel.notes);
        } else {
            sqlite3_reset(s);
            r = rc == SQLITE_DONE ? -ENOENT : db_fail(db, "get release");
        }
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_release_list(struct db *db, int64_t product_id, struct release **ret_releases,
                    size_t *ret_count)
{
    pthread_mutex_lock(&db->base.lock);
    struct release *list = NULL;
    size_t count = 0;
    int r = list_rows_locked(db, STMT_RELEASE_LIST, product_id, sizeof(struct release),
                             release_from_row, (void **)&list, &count);
    for (size_t i = 0; r == 0 && i < count; i++)
        r = variants_load_locked(db, &list[i]);
    pthread_mutex_unlock(&db->base.lock);
    if (r < 0) {
        release_list_free(list, count);
        return r;
    }
    *ret_releases = list;
    *ret_count = count;
    return 0;
}

static void fill_digest(sqlite3_stmt *s, void *out)
{
    struct release_digest *d = out;
    d->release_id = sqlite3_column_int64(s, 0);
    column_text(s, 1, d->digest, sizeof(d->digest));
}

int db_digest_list(struct db *db, int64_t product_id, struct release_digest **ret_digests,
                   size_t *ret_count)
{
    pthread_mutex_lock(&db->base.lock);
    int r = list_rows_locked(db, STMT_DIGEST_LIST, product_id, sizeof(struct release_digest),
                             fill_digest, (void **)ret_digests, ret_count);
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_token_insert(struct db *db, const char *name, enum token_scope scope, const char *hash_hex,
                    int64_t *ret_id)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_TOKEN_INSERT);
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, (int)scope);
        sqlite3_bind_text(s, 3, hash_hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, time_now_ms());
        r = stmt_run(db, s, "insert token");
        if (r == 0)
            *ret_id = sqlite3_last_insert_rowid(db->base.conn);
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

static void fill_token(sqlite3_stmt *s, void *out)
{
    struct token *t = out;
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(s, 0);
    column_text(s, 1, t->name, sizeof(t->name));
    int scope = sqlite3_column_int(s, 2);
    t->scope = scope == TOKEN_SCOPE_ADMIN     ? TOKEN_SCOPE_ADMIN
               : scope == TOKEN_SCOPE_PUBLISH ? TOKEN_SCOPE_PUBLISH
                                              : TOKEN_SCOPE_READ;
    t->created_ms = sqlite3_column_int64(s, 3);
    t->revoked_ms = sqlite3_column_int64(s, 4);
}

int db_token_find(struct db *db, const char *hash_hex, struct token *ret_token)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_TOKEN_FIND);
    if (s) {
        sqlite3_bind_text(s, 1, hash_hex, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            fill_token(s, ret_token);
            r = 0;
        } else {
            r = rc == SQLITE_DONE ? -ENOENT : db_fail(db, "find token");
        }
        sqlite3_reset(s);
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_token_list(struct db *db, struct token **ret_tokens, size_t *ret_count)
{
    pthread_mutex_lock(&db->base.lock);
    int r = list_rows_locked(db, STMT_TOKEN_LIST, 0, sizeof(struct token), fill_token,
                             (void **)ret_tokens, ret_count);
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_token_revoke(struct db *db, int64_t id)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_TOKEN_REVOKE);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, time_now_ms());
        r = stmt_run(db, s, "revoke token");
        if (r == 0 && sqlite3_changes(db->base.conn) == 0)
            r = -ENOENT;
    }
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

static int64_t mac_to_int(const uint8_t mac[6])
{
    int64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | mac[i];
    return v;
}

static void mac_from_int(int64_t v, uint8_t mac[6])
{
    for (int i = 5; i >= 0; i--) {
        mac[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static const char *report_mode_name(enum report_mode m)
{
    return m == REPORT_MODE_FS ? "spiffs" : m == REPORT_MODE_VERSION ? "version" : "sketch";
}

/* Binds D to STMT_DEVICE_UPDATE or STMT_DEVICE_UPSERT. */
static void device_bind(sqlite3_stmt *s, const struct device_record *d)
{
    const struct device_report *rep = &d->report;
    sqlite3_bind_int64(s, 1, d->product_id);
    sqlite3_bind_int64(s, 2, mac_to_int(rep->sta_mac));
    if (rep->has_ap_mac)
        sqlite3_bind_int64(s, 3, mac_to_int(rep->ap_mac));
    if (rep->has_chip_id)
        sqlite3_bind_int64(s, 4, (sqlite3_int64)rep->chip_id);
    bind_text_or_null(s, 5, rep->sdk_version);
    if (rep->has_sketch_size)
        sqlite3_bind_int64(s, 6, (sqlite3_int64)rep->sketch_size);
    bind_text_or_null(s, 7, rep->sketch_md5);
    if (rep->has_free_space)
        sqlite3_bind_int64(s, 8, (sqlite3_int64)rep->free_space);
    if (rep->has_chip_size)
        sqlite3_bind_int64(s, 9, (sqlite3_int64)rep->chip_size);
    bind_text_or_null(s, 10, rep->version);
    sqlite3_bind_text(s, 11, report_mode_name(rep->mode), -1, SQLITE_STATIC);
    bind_text_or_null(s, 12, rep->user_agent);
    bind_text_or_null(s, 13, d->remote_addr);
    sqlite3_bind_int64(s, 14, d->last_seen_ms);
    sqlite3_bind_int(s, 15, d->last_status);
    bind_text_or_null(s, 16, d->last_offered);
    bind_text_or_null(s, 17, d->last_key);
    bind_text_or_null(s, 18, rep->core_version);
    sqlite3_bind_int(s, 19, (int)d->issue);
    sqlite3_bind_int64(s, 20, d->first_seen_ms ? d->first_seen_ms : d->last_seen_ms);
    sqlite3_bind_int64(s, 21, d->checkins > 1 ? d->checkins : 1);
}

/*
 * Writes D: an update of its row when it has one (the common case: one
 * B-tree search), else a new row when ADMIT allows. Adds the rows written
 * to *ROWS.
 */
static int device_write_locked(struct db *db, const struct device_record *d,
                               db_device_admit_fn admit, void *ctx, size_t *rows)
{
    sqlite3_stmt *s = stmt_get(db, STMT_DEVICE_UPDATE);
    if (!s)
        return -EIO;
    device_bind(s, d);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(db, "record device");
    if (sqlite3_changes(db->base.conn) > 0) {
        (*rows)++;
        return 0;
    }
    if (admit && !admit(ctx, d))
        return 0;
    /* An upsert, not an insert: another process may have added the row since. */
    if (!(s = stmt_get(db, STMT_DEVICE_UPSERT)))
        return -EIO;
    device_bind(s, d);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        (*rows)++;
        return 0;
    }
    if (rc == SQLITE_CONSTRAINT) /* the product was never stored: skip the record */
        return 0;
    return db_fail(db, "record device");
}

int db_devices_record(struct db *db, const struct device_record *records, size_t count,
                      db_device_admit_fn admit, void *ctx, size_t *ret_rows)
{
    size_t rows = 0;
    pthread_mutex_lock(&db->base.lock);
    int err = exec_simple(db, STMT_BEGIN);
    if (err < 0)
        goto out;
    for (size_t i = 0; err == 0 && i < count; i++)
        if (records[i].report.has_sta_mac)
            err = device_write_locked(db, &records[i], admit, ctx, &rows);
    err = db_sqlite_finish(&db->base, err);
out:
    pthread_mutex_unlock(&db->base.lock);
    if (err == 0 && ret_rows)
        *ret_rows = rows;
    return err;
}

static void fill_device(sqlite3_stmt *s, void *out)
{
    struct device_record *d = out;
    memset(d, 0, sizeof(*d));
    struct device_report *rep = &d->report;
    rep->has_sta_mac = true;
    mac_from_int(sqlite3_column_int64(s, 0), rep->sta_mac);
    if ((rep->has_ap_mac = sqlite3_column_type(s, 1) != SQLITE_NULL))
        mac_from_int(sqlite3_column_int64(s, 1), rep->ap_mac);
    if ((rep->has_chip_id = sqlite3_column_type(s, 2) != SQLITE_NULL))
        rep->chip_id = (uint64_t)sqlite3_column_int64(s, 2);
    column_text(s, 3, rep->sdk_version, sizeof(rep->sdk_version));
    if ((rep->has_sketch_size = sqlite3_column_type(s, 4) != SQLITE_NULL))
        rep->sketch_size = (uint64_t)sqlite3_column_int64(s, 4);
    column_text(s, 5, rep->sketch_md5, sizeof(rep->sketch_md5));
    if ((rep->has_free_space = sqlite3_column_type(s, 6) != SQLITE_NULL))
        rep->free_space = (uint64_t)sqlite3_column_int64(s, 6);
    if ((rep->has_chip_size = sqlite3_column_type(s, 7) != SQLITE_NULL))
        rep->chip_size = (uint64_t)sqlite3_column_int64(s, 7);
    column_text(s, 8, rep->version, sizeof(rep->version));
    char mode[16];
    column_text(s, 9, mode, sizeof(mode));
    rep->mode = strcmp(mode, "spiffs") == 0    ? REPORT_MODE_FS
                : strcmp(mode, "version") == 0 ? REPORT_MODE_VERSION
                                               : REPORT_MODE_SKETCH;
    column_text(s, 10, rep->user_agent, sizeof(rep->user_agent));
    column_text(s, 11, d->remote_addr, sizeof(d->remote_addr));
    d->first_seen_ms = sqlite3_column_int64(s, 12);
    d->last_seen_ms = sqlite3_column_int64(s, 13);
    d->last_status = sqlite3_column_int(s, 14);
    column_text(s, 15, d->last_offered, sizeof(d->last_offered));
    d->checkins = sqlite3_column_int64(s, 16);
    column_text(s, 17, d->last_key, sizeof(d->last_key));
    column_text(s, 18, rep->core_version, sizeof(rep->core_version));
    int issue = sqlite3_column_int(s, 19);
    d->issue = issue > 0 && issue < DELIVERY_ISSUE_COUNT ? (enum delivery_issue)issue : DELIVERY_OK;
}

int db_device_list(struct db *db, int64_t product_id, size_t limit, size_t offset,
                   struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total)
{
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_DEVICE_COUNT);
    uint64_t total = 0;
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        if (sqlite3_step(s) == SQLITE_ROW) {
            total = (uint64_t)sqlite3_column_int64(s, 0);
            r = 0;
        } else {
            r = db_fail(db, "count devices");
        }
        sqlite3_reset(s);
    }
    if (r == 0) {
        s = stmt_get(db, STMT_DEVICE_LIST);
        r = -EIO;
        if (s) {
            sqlite3_bind_int64(s, 1, product_id);
            sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
            sqlite3_bind_int64(s, 3, (sqlite3_int64)offset);
            r = collect_rows(db, s, sizeof(struct device_record), fill_device, (void **)ret_devices,
                             ret_count);
        }
    }
    if (r == 0)
        *ret_total = total;
    pthread_mutex_unlock(&db->base.lock);
    return r;
}

int db_device_issue_counts(struct db *db, int64_t product_id,
                           uint64_t ret_counts[DELIVERY_ISSUE_COUNT])
{
    uint64_t counts[DELIVERY_ISSUE_COUNT] = {0};
    pthread_mutex_lock(&db->base.lock);
    int r = -EIO;
    sqlite3_stmt *s = stmt_get(db, STMT_DEVICE_ISSUES);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int issue = sqlite3_column_int(s, 0);
            if (issue > 0 && issue < DELIVERY_ISSUE_COUNT)
                counts[issue] = (uint64_t)sqlite3_column_int64(s, 1);
        }
        r = rc == SQLITE_DONE ? 0 : db_fail(db, "count devices by delivery issue");
        sqlite3_reset(s);
    }
    pthread_mutex_unlock(&db->base.lock);
    if (r == 0)
        memcpy(ret_counts, counts, sizeof(counts));
    return r;
}
