/*
 * For the SQLite backend's files only (db_sqlite*.c; nothing outside src/db/
 * includes this): the connection with its lock and its statement cache, and
 * the one set of helpers every file uses to run a statement, read rows and
 * end a transaction. db_sqlite.c owns the connection (open, durability,
 * migrations, the generation, the integrity check) and these helpers; each
 * other file owns one entity's tables and every SQL string about them:
 * db_sqlite_products.c, db_sqlite_releases.c, db_sqlite_tokens.c,
 * db_sqlite_devices.c, db_sqlite_sources.c, db_sqlite_fleet.c, db_sqlite_audit.c,
 * db_sqlite_notify.c.
 *
 * The PostgreSQL backend (pg_internal.h) mirrors the split file for file
 * (db_pg_<entity>.c). Its statements are not cached: the server parses
 * each one, which costs nothing off the check-in path and works through a
 * pooler. Here a statement is named by a slot fixed at compile time (enum
 * db_sqlite_slot, one range per file): the cache is one array sized by the
 * compiler, with nothing to look up on the registry flusher's path.
 */
#ifndef OTAD_DB_SQLITE_INTERNAL_H
#define OTAD_DB_SQLITE_INTERNAL_H

#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "db/backend.h"

/*
 * Every cached statement of the backend, one range per file. A file names
 * its statements here and writes their SQL beside the code that binds them
 * (a struct db_sqlite_query per statement).
 */
enum db_sqlite_slot {
    /* db_sqlite.c: transactions and the generation */
    DB_SLOT_BEGIN,
    DB_SLOT_GENERATION,
    DB_SLOT_GENERATION_BUMP,
    /* db_sqlite_products.c */
    DB_SLOT_PRODUCT_INSERT,
    DB_SLOT_PRODUCT_GET,
    DB_SLOT_PRODUCT_LIST,
    DB_SLOT_PRODUCT_SET_SIGNING,
    DB_SLOT_PRODUCT_SET_FLEET,
    DB_SLOT_PRODUCT_KEY_ADD,
    DB_SLOT_PRODUCT_KEY_LIST,
    /* db_sqlite_releases.c */
    DB_SLOT_RELEASE_NEXT_SEQ,
    DB_SLOT_RELEASE_BUMP_SEQ,
    DB_SLOT_RELEASE_INSERT,
    DB_SLOT_RELEASE_GET,
    DB_SLOT_RELEASE_LIST,
    DB_SLOT_RELEASE_SET_SIGNED_BY,
    DB_SLOT_VARIANT_INSERT,
    DB_SLOT_VARIANT_ADD,
    DB_SLOT_VARIANT_LIST,
    DB_SLOT_DIGEST_INSERT,
    DB_SLOT_DIGEST_LIST,
    /* db_sqlite_tokens.c */
    DB_SLOT_TOKEN_INSERT,
    DB_SLOT_TOKEN_FIND,
    DB_SLOT_TOKEN_LIST,
    DB_SLOT_TOKEN_REVOKE,
    DB_SLOT_SESSION_INSERT,
    DB_SLOT_SESSION_TRIM,
    DB_SLOT_SESSION_PRUNE,
    DB_SLOT_SESSION_FIND,
    DB_SLOT_SESSION_TOUCH,
    DB_SLOT_SESSION_DELETE,
    DB_SLOT_SESSION_LIST,
    /* db_sqlite_devices.c */
    DB_SLOT_DEVICE_UPDATE,
    DB_SLOT_DEVICE_UPDATE_SAME,
    DB_SLOT_DEVICE_UPDATE_SAME_PLAIN,
    DB_SLOT_DEVICE_UPSERT,
    DB_SLOT_DEVICE_LIST,
    DB_SLOT_DEVICE_COUNT,
    DB_SLOT_DEVICE_ISSUES,
    DB_SLOT_DEVICE_SECURE_VERSION_MAX,
    DB_SLOT_DEVICE_GET,
    DB_SLOT_DEVICE_NTH_MAC,
    DB_SLOT_DEVICE_NTH_MAC_DESC,
    DB_SLOT_DEVICE_PAGE_MAC,
    DB_SLOT_DEVICE_PAGE_MAC_DESC,
    DB_SLOT_DEVICE_COUNT_MAC,
    DB_SLOT_DEVICE_PAGE_VERSION,
    DB_SLOT_DEVICE_PAGE_VERSION_DESC,
    DB_SLOT_DEVICE_COUNT_VERSION,
    DB_SLOT_DEVICE_PAGE_GROUP,
    DB_SLOT_DEVICE_PAGE_GROUP_DESC,
    DB_SLOT_DEVICE_COUNT_GROUP,
    DB_SLOT_DEVICE_PAGE_CHANNEL,
    DB_SLOT_DEVICE_PAGE_CHANNEL_DESC,
    DB_SLOT_DEVICE_COUNT_CHANNEL,
    DB_SLOT_DEVICE_PAGE_STATUS,
    DB_SLOT_DEVICE_PAGE_STATUS_DESC,
    DB_SLOT_DEVICE_COUNT_STATUS,
    DB_SLOT_DEVICE_VERSION_COUNTS,
    DB_SLOT_VERSION_DAYS_DELETE,
    DB_SLOT_VERSION_DAYS_INSERT,
    DB_SLOT_VERSION_DAYS_TRIM,
    DB_SLOT_VERSION_DAYS_LIST,
    /* db_sqlite_sources.c */
    DB_SLOT_SOURCE_INSERT,
    DB_SLOT_SOURCE_STATE_INSERT,
    DB_SLOT_SOURCE_DELETE_TAGS,
    DB_SLOT_SOURCE_DELETE_STATE,
    DB_SLOT_SOURCE_DELETE,
    DB_SLOT_SOURCE_GET,
    DB_SLOT_SOURCE_LIST,
    DB_SLOT_SOURCE_STATE_SAVE,
    DB_SLOT_SOURCE_GATE,
    DB_SLOT_SOURCE_TAG_GET,
    DB_SLOT_SOURCE_TAG_PUT,
    DB_SLOT_WEBHOOK_FORGET,
    DB_SLOT_WEBHOOK_RECORD,
    /* db_sqlite_fleet.c */
    DB_SLOT_CHANNEL_PUT,
    DB_SLOT_CHANNEL_CREATED,
    DB_SLOT_CHANNEL_GET,
    DB_SLOT_CHANNEL_LIST,
    DB_SLOT_CHANNEL_DELETE,
    DB_SLOT_GROUP_INSERT,
    DB_SLOT_GROUP_UPDATE,
    DB_SLOT_GROUP_DELETE_MACS,
    DB_SLOT_GROUP_DELETE,
    DB_SLOT_GROUP_GET,
    DB_SLOT_GROUP_LIST,
    DB_SLOT_GROUP_EXISTS,
    DB_SLOT_GROUP_MAC_ADD,
    DB_SLOT_GROUP_MAC_REMOVE,
    DB_SLOT_GROUP_MAC_LIST,
    DB_SLOT_PIN_PUT,
    DB_SLOT_PIN_DELETE,
    DB_SLOT_PIN_LIST,
    DB_SLOT_DEPLOYMENT_SET,
    DB_SLOT_DEPLOYMENT_LIST,
    DB_SLOT_RELEASE_WITHDRAW,
    DB_SLOT_WITHDRAWN_LIST,
    DB_SLOT_ROLLOUT_INSERT,
    DB_SLOT_ROLLOUT_SUPERSEDE,
    DB_SLOT_ROLLOUT_UPDATE,
    DB_SLOT_ROLLOUT_EXISTS,
    DB_SLOT_ROLLOUT_GET,
    DB_SLOT_ROLLOUT_LIST,
    DB_SLOT_ROLLOUT_COUNTS,
    DB_SLOT_ROLLOUT_DEVICES_OPEN,
    DB_SLOT_ROLLOUT_DEVICE_GET,
    DB_SLOT_ROLLOUT_DEVICE_LAST,
    DB_SLOT_ROLLOUT_FAILED_MACS,
    DB_SLOT_ROLLOUT_SILENT_DUE,
    DB_SLOT_ROLLOUT_SILENT_MARK,
    DB_SLOT_FLEET_OFFER,
    DB_SLOT_FLEET_SERVED,
    DB_SLOT_FLEET_CUT,
    DB_SLOT_FLEET_OUTCOME,
    DB_SLOT_HISTORY_ADD,
    DB_SLOT_HISTORY_TRIM,
    DB_SLOT_HISTORY_LIST,
    /* db_sqlite_audit.c */
    DB_SLOT_AUDIT_INSERT,
    DB_SLOT_AUDIT_LIST,
    DB_SLOT_AUDIT_TRIM,
    /* db_sqlite_notify.c */
    DB_SLOT_NOTIFY_RECEIVER_INSERT,
    DB_SLOT_NOTIFY_RECEIVER_DELETE_DELIVERIES,
    DB_SLOT_NOTIFY_RECEIVER_DELETE,
    DB_SLOT_NOTIFY_RECEIVER_GET,
    DB_SLOT_NOTIFY_RECEIVER_LIST,
    DB_SLOT_NOTIFY_RECEIVER_DISABLE,
    DB_SLOT_NOTIFY_FAIL_PENDING,
    DB_SLOT_NOTIFY_DELIVERY_INSERT,
    DB_SLOT_NOTIFY_DELIVERY_HEADS,
    DB_SLOT_NOTIFY_DELIVERY_UPDATE,
    DB_SLOT_NOTIFY_DELIVERY_LIST,
    DB_SLOT_NOTIFY_PRUNE_OLD,
    DB_SLOT_NOTIFY_PRUNE_MANY,
    DB_SLOT_COUNT
};

/* A statement of the cache: its slot and its SQL. Both static: the cache keeps the pointer. */
struct db_sqlite_query {
    enum db_sqlite_slot slot;
    const char *sql;
};

struct db_sqlite {
    struct db db;         /* first: db.h's handle is one SQLite connection */
    sqlite3 *conn;        /* opened with SQLITE_OPEN_NOMUTEX: hold lock around every use */
    pthread_mutex_t lock; /* serializes the connection */
    struct {
        const struct db_sqlite_query *query; /* the query prepared in the slot, NULL: none yet */
        sqlite3_stmt *stmt;                  /* owned; finalized by db_close */
    } cache[DB_SLOT_COUNT];
};

/* The backend's operations (backend.h), each defined in the file of its entity. */
#define DB_SQLITE_DECLARE(name, params, args) int db_sqlite_##name params;
DB_OPERATIONS(DB_SQLITE_DECLARE)
#undef DB_SQLITE_DECLARE

/* The connection behind DB (borrowed). */
struct db_sqlite *db_sqlite_of(struct db *db);

/*
 * Takes DB's connection lock and returns its connection: every db_* call
 * holds it from its first statement to its last, then db_sqlite_unlock.
 */
struct db_sqlite *db_sqlite_lock(struct db *db);
void db_sqlite_unlock(struct db_sqlite *sq);

/* Logs WHAT with SQLite's last message and returns -EIO. Call with the lock held. */
int db_sqlite_fail(struct db_sqlite *sq, const char *what);

/*
 * The result of a step (or exec) that returned RC, before the statement is
 * reset: 0 for SQLITE_DONE / SQLITE_OK; -EEXIST for a UNIQUE or PRIMARY KEY
 * violation (a taken name or version); -ENOENT for a FOREIGN KEY one (the
 * row names a product or source that is not there); anything else, other
 * constraints included (NOT NULL, CHECK: our bug), is logged with WHAT and
 * is -EIO. Call with the lock held.
 */
int db_sqlite_result(struct db_sqlite *sq, int rc, const char *what);

/* db_sqlite_stmt's first use of a slot: prepares Q into it. NULL after logging. */
sqlite3_stmt *db_sqlite_prepare(struct db_sqlite *sq, const struct db_sqlite_query *q);

/*
 * The cached statement of Q on SQ, prepared on first use, reset and with no
 * parameter bound; borrowed (the cache finalizes it). NULL after logging
 * when it does not prepare. Two queries in one slot are a programmer's
 * error (asserted). Call with the lock held; reset the statement before
 * unlocking (the helpers below do), or a read would keep its snapshot.
 * Inline: the registry flusher takes a statement per device it writes.
 */
static inline sqlite3_stmt *db_sqlite_stmt(struct db_sqlite *sq, const struct db_sqlite_query *q)
{
    assert(q->slot < DB_SLOT_COUNT);
    sqlite3_stmt *s = sq->cache[q->slot].stmt;
    if (!s)
        return db_sqlite_prepare(sq, q);
    assert(sq->cache[q->slot].query == q); /* one query per slot */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/*
 * Steps S, a statement that returns no rows, and resets it. Returns its
 * db_sqlite_result (WHAT names it in the log).
 */
int db_sqlite_run(struct db_sqlite *sq, sqlite3_stmt *s, const char *what);

/* As db_sqlite_run, and -ENOENT when the statement changed no row (an UPDATE of no row). */
int db_sqlite_run_one(struct db_sqlite *sq, sqlite3_stmt *s, const char *what);

/* Runs Q, which takes no parameters and returns no rows, as db_sqlite_run does. */
int db_sqlite_exec(struct db_sqlite *sq, const struct db_sqlite_query *q);

/* Converts the current row of S into the item at OUT. */
typedef void (*db_sqlite_fill_fn)(sqlite3_stmt *s, void *out);

/* A db_sqlite_fill_fn for a row whose first column is an integer: OUT is an int64_t. */
void db_sqlite_fill_int64(sqlite3_stmt *s, void *out);

/*
 * Steps S (bound by the caller) for one row, converts it into OUT with FILL
 * and resets S. Returns 0, -ENOENT when there is no row (OUT untouched), or
 * -EIO after logging WHAT.
 */
int db_sqlite_get(struct db_sqlite *sq, sqlite3_stmt *s, db_sqlite_fill_fn fill, void *out,
                  const char *what);

/*
 * Collects the rows of S (bound by the caller) into a new array of
 * ELEM-sized items, each converted by FILL, and resets S. The array is the
 * caller's to free (NULL when there is no row). Returns 0, -ENOMEM or -EIO
 * (logged); *RET_ITEMS and *RET_COUNT are written only on success.
 */
int db_sqlite_collect_rows(struct db_sqlite *sq, sqlite3_stmt *s, size_t elem,
                           db_sqlite_fill_fn fill, void **ret_items, size_t *ret_count);

/* Runs list query Q, binding KEY as ?1 unless it is 0, and collects its rows as above. */
int db_sqlite_list(struct db_sqlite *sq, const struct db_sqlite_query *q, int64_t key, size_t elem,
                   db_sqlite_fill_fn fill, void **ret_items, size_t *ret_count);

/* Opens a write transaction (BEGIN IMMEDIATE); end it with db_sqlite_finish. */
int db_sqlite_begin(struct db_sqlite *sq);

/*
 * Ends the transaction begun on SQ: COMMIT when ERR is 0, and ROLLBACK when
 * ERR is not or when the COMMIT fails (a failed COMMIT leaves the
 * transaction open). Returns ERR, or the COMMIT's error. Call with the lock
 * held.
 */
int db_sqlite_finish(struct db_sqlite *sq, int err);

/*
 * Bumps the catalog's generation (db_generation): every write a check-in
 * must see (a product, its settings, a release) does, in its transaction.
 */
int db_sqlite_generation_bump(struct db_sqlite *sq);

/* Binds TEXT as parameter I of S (not copied: it must outlive the step), NULL when empty. */
void db_sqlite_bind_text_or_null(sqlite3_stmt *s, int i, const char *text);

/* Copies column I of S into OUT (SIZE bytes): "" when NULL or when it does not fit. */
void db_sqlite_column_text(sqlite3_stmt *s, int i, char *out, size_t size);

/*
 * The SQL of the device page query (db_device_page) that FILTER chooses,
 * in MAC order or BACKWARD, or of its count (COUNT): for the unit test that
 * checks each shape's plan walks an index. Static.
 */
const char *db_sqlite_device_page_sql(const struct device_filter *filter, bool backward,
                                      bool count);

/*
 * Opens the SQLite file PATH, which the caller found existing, for reading
 * and writing without creating it (no schema check, no migration): what
 * `otad migrate` and `otad backup`/`restore` read from (db_backup.c). Returns 0 with
 * *RET_CONN, or -EIO with WHY saying why.
 */
int db_sqlite_open_existing(const char *path, sqlite3 **ret_conn, struct reason *why);

/*
 * Takes an exclusive lock on the database of CONN (opened on PATH, which
 * the messages name) without waiting, and leaves a transaction open that
 * keeps it until CONN closes: PRAGMA locking_mode = EXCLUSIVE, then BEGIN
 * EXCLUSIVE. Every other open connection in WAL mode holds a shared lock
 * on the file, so this fails while any process has the database open: a
 * running otad. Returns 0, -EBUSY (in use), or -EIO; WHY says which.
 * `otad migrate` (db_copy.c) and `otad restore` (db_backup.c) share it.
 */
int db_sqlite_lock_exclusive(sqlite3 *conn, const char *path, struct reason *why);

#endif
