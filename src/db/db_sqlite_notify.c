/*
 * The SQLite implementation of db_notify.h: the notify_receivers and
 * notify_deliveries tables of migration 007. A few statements an hour in a
 * quiet fleet; they use the connection's statement cache and helpers like
 * every other backend file (sqlite_internal.h).
 */
#include "db/db_notify.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

_Static_assert(NOTIFY_PENDING == 0 && NOTIFY_DELIVERED == 1 && NOTIFY_FAILED == 2,
               "the SQL below names the states by number");

#define RECEIVER_COLUMNS                                                                           \
    "r.id, r.name, r.url, r.events, r.format, r.secret, r.disabled, r.created_ms"
#define DELIVERY_COLUMNS                                                                           \
    "d.id, d.uuid, d.receiver_id, d.event, d.product, d.state, d.attempts, d.next_ms, d.status, "  \
    "d.error, d.created_ms, d.updated_ms"

static const struct db_sqlite_query receiver_insert = {
    DB_SLOT_NOTIFY_RECEIVER_INSERT,
    "INSERT INTO notify_receivers (name, url, events, format, secret, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
static const struct db_sqlite_query receiver_delete_deliveries = {
    DB_SLOT_NOTIFY_RECEIVER_DELETE_DELIVERIES,
    "DELETE FROM notify_deliveries WHERE receiver_id = ?1"};
static const struct db_sqlite_query receiver_delete = {
    DB_SLOT_NOTIFY_RECEIVER_DELETE, "DELETE FROM notify_receivers WHERE id = ?1"};
static const struct db_sqlite_query receiver_get = {DB_SLOT_NOTIFY_RECEIVER_GET,
                                                    "SELECT " RECEIVER_COLUMNS
                                                    " FROM notify_receivers r WHERE r.id = ?1"};
/* With the newest delivery (NULLs when none) and the count of pending ones. */
static const struct db_sqlite_query receiver_list = {
    DB_SLOT_NOTIFY_RECEIVER_LIST,
    "SELECT " RECEIVER_COLUMNS ", " DELIVERY_COLUMNS ", "
    "(SELECT count(*) FROM notify_deliveries p WHERE p.receiver_id = r.id AND p.state = 0) "
    "FROM notify_receivers r LEFT JOIN notify_deliveries d ON d.id = "
    "(SELECT max(x.id) FROM notify_deliveries x WHERE x.receiver_id = r.id) "
    "ORDER BY r.id LIMIT ?1"};
static const struct db_sqlite_query receiver_disable = {
    DB_SLOT_NOTIFY_RECEIVER_DISABLE, "UPDATE notify_receivers SET disabled = 1 WHERE id = ?1"};
static const struct db_sqlite_query receiver_fail_pending = {
    DB_SLOT_NOTIFY_FAIL_PENDING,
    "UPDATE notify_deliveries SET state = 2, error = ?2, updated_ms = ?3 "
    "WHERE receiver_id = ?1 AND state = 0"};
static const struct db_sqlite_query delivery_insert = {
    DB_SLOT_NOTIFY_DELIVERY_INSERT,
    "INSERT INTO notify_deliveries (uuid, receiver_id, event, product, body, state, attempts, "
    "next_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?8)"};
/* Each enabled receiver's oldest pending delivery: at most one per receiver, in order. */
static const struct db_sqlite_query delivery_heads = {
    DB_SLOT_NOTIFY_DELIVERY_HEADS,
    "SELECT " DELIVERY_COLUMNS
    ", d.body FROM notify_receivers r JOIN notify_deliveries d ON d.id = "
    "(SELECT min(x.id) FROM notify_deliveries x WHERE x.receiver_id = r.id AND x.state = 0) "
    "WHERE r.disabled = 0 ORDER BY d.next_ms, d.id"};
static const struct db_sqlite_query delivery_update = {
    DB_SLOT_NOTIFY_DELIVERY_UPDATE,
    "UPDATE notify_deliveries SET state = ?2, attempts = ?3, next_ms = ?4, status = ?5, "
    "error = ?6, updated_ms = ?7 WHERE id = ?1"};
static const struct db_sqlite_query delivery_list = {
    DB_SLOT_NOTIFY_DELIVERY_LIST, "SELECT " DELIVERY_COLUMNS " FROM notify_deliveries d "
                                  "WHERE d.receiver_id = ?1 ORDER BY d.id DESC LIMIT ?2"};
static const struct db_sqlite_query prune_old = {
    DB_SLOT_NOTIFY_PRUNE_OLD, "DELETE FROM notify_deliveries WHERE state != 0 AND updated_ms < ?1"};
static const struct db_sqlite_query prune_many = {
    DB_SLOT_NOTIFY_PRUNE_MANY,
    "DELETE FROM notify_deliveries WHERE state != 0 AND id NOT IN "
    "(SELECT id FROM notify_deliveries WHERE state != 0 ORDER BY id DESC LIMIT ?1)"};

/* Columns FIRST.. of S as a receiver. Returns the next column. */
static int fill_receiver_at(sqlite3_stmt *s, int i, struct notify_receiver *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, r->name, sizeof(r->name));
    db_sqlite_column_text(s, i++, r->url, sizeof(r->url));
    db_sqlite_column_text(s, i++, r->events, sizeof(r->events));
    r->format = sqlite3_column_int64(s, i++) == NOTIFY_FORMAT_SLACK ? NOTIFY_FORMAT_SLACK
                                                                    : NOTIFY_FORMAT_JSON;
    db_sqlite_column_text(s, i++, r->secret, sizeof(r->secret));
    r->has_secret = r->secret[0] != 0;
    r->disabled = sqlite3_column_int64(s, i++) != 0;
    r->created_ms = sqlite3_column_int64(s, i++);
    return i;
}

/* Columns FIRST.. of S as a delivery (no body). Returns the next column. */
static int fill_delivery_at(sqlite3_stmt *s, int i, struct notify_delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, d->uuid, sizeof(d->uuid));
    d->receiver_id = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, d->event, sizeof(d->event));
    db_sqlite_column_text(s, i++, d->product, sizeof(d->product));
    int64_t state = sqlite3_column_int64(s, i++);
    d->state = state == NOTIFY_DELIVERED ? NOTIFY_DELIVERED
               : state == NOTIFY_FAILED  ? NOTIFY_FAILED
                                         : NOTIFY_PENDING;
    d->attempts = sqlite3_column_int64(s, i++);
    d->next_ms = sqlite3_column_int64(s, i++);
    d->status = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, d->error, sizeof(d->error));
    d->created_ms = sqlite3_column_int64(s, i++);
    d->updated_ms = sqlite3_column_int64(s, i++);
    return i;
}

static void fill_receiver(sqlite3_stmt *s, void *out)
{
    fill_receiver_at(s, 0, out);
}

static void fill_receiver_row(sqlite3_stmt *s, void *out)
{
    struct notify_receiver_row *row = out;
    int i = fill_receiver_at(s, 0, &row->receiver);
    row->has_last = sqlite3_column_type(s, i) != SQLITE_NULL;
    i = fill_delivery_at(s, i, &row->last);
    row->pending = sqlite3_column_int64(s, i);
}

static void fill_delivery(sqlite3_stmt *s, void *out)
{
    fill_delivery_at(s, 0, out);
}

int db_sqlite_notify_receiver_insert(struct db *db, struct notify_receiver *r)
{
    int64_t now = time_now_ms();
    struct db_sqlite *sq = db_sqlite_lock(db);
    int ret = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &receiver_insert);
    if (s) {
        sqlite3_bind_text(s, 1, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, r->url, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, r->events, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, r->format);
        sqlite3_bind_text(s, 5, r->secret, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, now);
        ret = db_sqlite_run(sq, s, "insert notification receiver");
        if (ret == 0) {
            r->id = sqlite3_last_insert_rowid(sq->conn);
            r->created_ms = now;
        }
    }
    db_sqlite_unlock(sq);
    return ret;
}

static int receiver_delete_locked(struct db_sqlite *sq, int64_t id)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &receiver_delete_deliveries);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, id);
    int r = db_sqlite_run(sq, s, "delete notification deliveries");
    if (r < 0)
        return r;
    if (!(s = db_sqlite_stmt(sq, &receiver_delete)))
        return -EIO;
    sqlite3_bind_int64(s, 1, id);
    return db_sqlite_run_one(sq, s, "delete notification receiver");
}

int db_sqlite_notify_receiver_delete(struct db *db, int64_t id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_begin(sq);
    if (r == 0)
        r = db_sqlite_finish(sq, receiver_delete_locked(sq, id));
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_notify_receiver_get(struct db *db, int64_t id, struct notify_receiver *ret)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &receiver_get);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        r = db_sqlite_get(sq, s, fill_receiver, ret, "read notification receiver");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_notify_receiver_list(struct db *db, struct notify_receiver_row **ret_rows,
                                   size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &receiver_list, LIMIT_NOTIFY_RECEIVERS, sizeof(**ret_rows),
                           fill_receiver_row, (void **)ret_rows, ret_count);
    db_sqlite_unlock(sq);
    return r;
}

static int receiver_disable_locked(struct db_sqlite *sq, int64_t id, const char *error,
                                   int64_t now_ms)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &receiver_disable);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, id);
    int r = db_sqlite_run_one(sq, s, "disable notification receiver");
    if (r < 0)
        return r;
    if (!(s = db_sqlite_stmt(sq, &receiver_fail_pending)))
        return -EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now_ms);
    return db_sqlite_run(sq, s, "fail pending notification deliveries");
}

int db_sqlite_notify_receiver_disable(struct db *db, int64_t id, const char *error, int64_t now_ms)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_begin(sq);
    if (r == 0)
        r = db_sqlite_finish(sq, receiver_disable_locked(sq, id, error, now_ms));
    db_sqlite_unlock(sq);
    return r;
}

static int deliveries_insert_locked(struct db_sqlite *sq, struct notify_delivery *d, size_t n)
{
    int64_t now = time_now_ms();
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = db_sqlite_stmt(sq, &delivery_insert);
        if (!s)
            return -EIO;
        sqlite3_bind_text(s, 1, d[i].uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, d[i].receiver_id);
        sqlite3_bind_text(s, 3, d[i].event, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, d[i].product, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, d[i].body ? d[i].body : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, d[i].next_ms);
        sqlite3_bind_int64(s, 7, d[i].created_ms);
        sqlite3_bind_int64(s, 8, now);
        int r = db_sqlite_run(sq, s, "insert notification delivery");
        if (r < 0)
            return r;
        d[i].id = sqlite3_last_insert_rowid(sq->conn);
        d[i].updated_ms = now;
    }
    return 0;
}

int db_sqlite_notify_deliveries_insert(struct db *db, struct notify_delivery *d, size_t n)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_begin(sq);
    if (r == 0)
        r = db_sqlite_finish(sq, deliveries_insert_locked(sq, d, n));
    db_sqlite_unlock(sq);
    return r;
}

/* The heads of the receivers' queues, with bodies; sorted by next_ms. */
static int heads_locked(struct db_sqlite *sq, int64_t now_ms, size_t limit,
                        struct notify_delivery *out, size_t *ret_count, int64_t *ret_next_ms)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &delivery_heads);
    if (!s)
        return -EIO;
    size_t n = 0;
    int64_t next = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct notify_delivery d;
        int i = fill_delivery_at(s, 0, &d);
        if (d.next_ms > now_ms) {
            if (!next || d.next_ms < next)
                next = d.next_ms;
            continue;
        }
        if (n == limit) { /* due, but for the next pass: which is at once */
            next = now_ms;
            continue;
        }
        const unsigned char *body = sqlite3_column_text(s, i);
        if (!(d.body = strdup(body ? (const char *)body : ""))) {
            sqlite3_reset(s);
            db_notify_deliveries_free(out, n);
            return -ENOMEM;
        }
        out[n++] = d;
    }
    int r = db_sqlite_result(sq, rc, "read due notification deliveries");
    sqlite3_reset(s);
    if (r < 0) {
        db_notify_deliveries_free(out, n);
        return r;
    }
    *ret_count = n;
    *ret_next_ms = next;
    return 0;
}

int db_sqlite_notify_deliveries_due(struct db *db, int64_t now_ms, size_t limit,
                                    struct notify_delivery **ret, size_t *ret_count,
                                    int64_t *ret_next_ms)
{
    struct notify_delivery *out = calloc(limit ? limit : 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    size_t n = 0;
    int64_t next = 0;
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = heads_locked(sq, now_ms, limit, out, &n, &next);
    db_sqlite_unlock(sq);
    if (r < 0) {
        free(out);
        return r;
    }
    *ret = out;
    *ret_count = n;
    *ret_next_ms = next;
    return 0;
}

int db_sqlite_notify_delivery_update(struct db *db, const struct notify_delivery *d)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &delivery_update);
    if (s) {
        sqlite3_bind_int64(s, 1, d->id);
        sqlite3_bind_int64(s, 2, d->state);
        sqlite3_bind_int64(s, 3, d->attempts);
        sqlite3_bind_int64(s, 4, d->next_ms);
        sqlite3_bind_int64(s, 5, d->status);
        sqlite3_bind_text(s, 6, d->error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, d->updated_ms);
        r = db_sqlite_run_one(sq, s, "update notification delivery");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_notify_delivery_list(struct db *db, int64_t receiver_id, size_t limit,
                                   struct notify_delivery **ret, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &delivery_list);
    if (s) {
        sqlite3_bind_int64(s, 1, receiver_id);
        sqlite3_bind_int64(s, 2, (int64_t)limit);
        r = db_sqlite_collect_rows(sq, s, sizeof(**ret), fill_delivery, (void **)ret, ret_count);
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_notify_prune(struct db *db, int64_t before_ms, size_t keep)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &prune_old);
    if (s) {
        sqlite3_bind_int64(s, 1, before_ms);
        r = db_sqlite_run(sq, s, "prune old notification deliveries");
    }
    if (r == 0 && (s = db_sqlite_stmt(sq, &prune_many))) {
        sqlite3_bind_int64(s, 1, (int64_t)keep);
        r = db_sqlite_run(sq, s, "prune notification deliveries");
    }
    db_sqlite_unlock(sq);
    return r;
}
