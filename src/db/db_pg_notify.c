/*
 * The PostgreSQL implementation of db_notify.h, side by side with
 * db_sqlite_notify.c (same names, same order): the notify_receivers and
 * notify_deliveries tables of migration 007. It owns their SQL; what to
 * send and when is src/notify/.
 *
 * Where it differs from SQLite, and why:
 *   - Ids come from INSERT ... RETURNING id, not last_insert_rowid.
 *   - db_notify_deliveries_due reads the heads with FOR UPDATE OF d SKIP
 *     LOCKED (a call at the same moment on another connection skips the rows
 *     this one holds instead of waiting for them) and claims nothing: on
 *     several nodes only the leader sends (notify.c), and it keeps its own
 *     attempts in flight apart, as on SQLite. A leader that dies mid-attempt
 *     leaves the delivery pending; the next leader sends it at once (a
 *     receiver may then see it twice, under one delivery id).
 *   - receiver_list counts with count(*) (a BIGINT here) and finds the
 *     newest delivery with max(id), as SQLite.
 *
 * Concurrency otherwise: receiver_delete and receiver_disable are one
 * transaction each, deliveries_insert is one transaction for the batch
 * (a receiver deleted meanwhile is a foreign key: -ENOENT), and the prune
 * DELETEs are single statements; every transaction and multi-row statement
 * is retried up to DB_PG_ATTEMPTS times on -EAGAIN (a deadlock between two
 * nodes' batches). delivery_update is one UPDATE of one row by id.
 */
#include "db/db_notify.h"
#include "db/pg_internal.h"

#include <errno.h>
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

static const char receiver_insert[] =
    "INSERT INTO notify_receivers (name, url, events, format, secret, created_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
static const char receiver_delete_deliveries[] =
    "DELETE FROM notify_deliveries WHERE receiver_id = $1";
static const char receiver_delete[] = "DELETE FROM notify_receivers WHERE id = $1";
static const char receiver_get[] =
    "SELECT " RECEIVER_COLUMNS " FROM notify_receivers r WHERE r.id = $1";
/* With the newest delivery (NULLs when none) and the count of pending ones. */
static const char receiver_list[] =
    "SELECT " RECEIVER_COLUMNS ", " DELIVERY_COLUMNS ", "
    "(SELECT count(*) FROM notify_deliveries p WHERE p.receiver_id = r.id AND p.state = 0) "
    "FROM notify_receivers r LEFT JOIN notify_deliveries d ON d.id = "
    "(SELECT max(x.id) FROM notify_deliveries x WHERE x.receiver_id = r.id) "
    "ORDER BY r.id LIMIT $1";
static const char receiver_disable[] = "UPDATE notify_receivers SET disabled = 1 WHERE id = $1";
static const char receiver_fail_pending[] =
    "UPDATE notify_deliveries SET state = 2, error = $2, updated_ms = $3 "
    "WHERE receiver_id = $1 AND state = 0";
static const char delivery_insert[] =
    "INSERT INTO notify_deliveries (uuid, receiver_id, event, product, body, state, attempts, "
    "next_ms, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $8) RETURNING id";
/*
 * Each enabled receiver's oldest pending delivery: at most one per receiver,
 * in order, locked (see the head comment). d.state = 0 on the locked row
 * itself: a head another node finished meanwhile is read again and dropped.
 */
static const char delivery_heads[] =
    "SELECT " DELIVERY_COLUMNS
    ", d.body FROM notify_receivers r JOIN notify_deliveries d ON d.id = "
    "(SELECT min(x.id) FROM notify_deliveries x WHERE x.receiver_id = r.id AND x.state = 0) "
    "WHERE r.disabled = 0 AND d.state = 0 ORDER BY d.next_ms, d.id FOR UPDATE OF d SKIP LOCKED";
static const char delivery_update[] =
    "UPDATE notify_deliveries SET state = $2, attempts = $3, next_ms = $4, status = $5, "
    "error = $6, updated_ms = $7 WHERE id = $1";
static const char delivery_list[] = "SELECT " DELIVERY_COLUMNS " FROM notify_deliveries d "
                                    "WHERE d.receiver_id = $1 ORDER BY d.id DESC LIMIT $2";
static const char prune_old[] =
    "DELETE FROM notify_deliveries WHERE state != 0 AND updated_ms < $1";
static const char prune_many[] =
    "DELETE FROM notify_deliveries WHERE state != 0 AND id NOT IN "
    "(SELECT id FROM notify_deliveries WHERE state != 0 ORDER BY id DESC LIMIT $1)";

/* Columns I.. of row ROW of RES as a receiver. Returns the next column. */
static int fill_receiver_at(const PGresult *res, int row, int i, struct notify_receiver *r)
{
    memset(r, 0, sizeof(*r));
    r->id = db_pg_int(res, row, i++);
    db_pg_text(res, row, i++, r->name, sizeof(r->name));
    db_pg_text(res, row, i++, r->url, sizeof(r->url));
    db_pg_text(res, row, i++, r->events, sizeof(r->events));
    r->format =
        db_pg_int(res, row, i++) == NOTIFY_FORMAT_SLACK ? NOTIFY_FORMAT_SLACK : NOTIFY_FORMAT_JSON;
    db_pg_text(res, row, i++, r->secret, sizeof(r->secret));
    r->has_secret = r->secret[0] != 0;
    r->disabled = db_pg_int(res, row, i++) != 0;
    r->created_ms = db_pg_int(res, row, i++);
    return i;
}

/* Columns I.. of row ROW of RES as a delivery (no body). Returns the next column. */
static int fill_delivery_at(const PGresult *res, int row, int i, struct notify_delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->id = db_pg_int(res, row, i++);
    db_pg_text(res, row, i++, d->uuid, sizeof(d->uuid));
    d->receiver_id = db_pg_int(res, row, i++);
    db_pg_text(res, row, i++, d->event, sizeof(d->event));
    db_pg_text(res, row, i++, d->product, sizeof(d->product));
    int64_t state = db_pg_int(res, row, i++);
    d->state = state == NOTIFY_DELIVERED ? NOTIFY_DELIVERED
               : state == NOTIFY_FAILED  ? NOTIFY_FAILED
                                         : NOTIFY_PENDING;
    d->attempts = db_pg_int(res, row, i++);
    d->next_ms = db_pg_int(res, row, i++);
    d->status = db_pg_int(res, row, i++);
    db_pg_text(res, row, i++, d->error, sizeof(d->error));
    d->created_ms = db_pg_int(res, row, i++);
    d->updated_ms = db_pg_int(res, row, i++);
    return i;
}

static void fill_receiver(const PGresult *res, int row, void *out)
{
    fill_receiver_at(res, row, 0, out);
}

static void fill_receiver_row(const PGresult *res, int row, void *out)
{
    struct notify_receiver_row *rr = out;
    int i = fill_receiver_at(res, row, 0, &rr->receiver);
    rr->has_last = !db_pg_is_null(res, row, i);
    i = fill_delivery_at(res, row, i, &rr->last);
    rr->pending = db_pg_int(res, row, i);
}

static void fill_delivery(const PGresult *res, int row, void *out)
{
    fill_delivery_at(res, row, 0, out);
}

int db_pg_notify_receiver_insert(struct db *db, struct notify_receiver *r)
{
    int64_t now = time_now_ms();
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, r->name);
    db_pg_param_text(&p, r->url);
    db_pg_param_text(&p, r->events);
    db_pg_param_int(&p, r->format);
    db_pg_param_text(&p, r->secret);
    db_pg_param_int(&p, now);
    int64_t id = 0;
    int ret =
        db_pg_get(pg, receiver_insert, &p, db_pg_fill_int64, &id, "insert notification receiver");
    db_pg_unlock(pg);
    if (ret == 0) {
        r->id = id;
        r->created_ms = now;
    }
    return ret;
}

/* The body of db_notify_receiver_delete's transaction: ARG is the receiver's id (int64_t). */
static int receiver_delete_locked(struct db_pg *pg, void *arg)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, *(const int64_t *)arg);
    int r = db_pg_run(pg, receiver_delete_deliveries, &p, "delete notification deliveries");
    if (r < 0)
        return r;
    return db_pg_run_one(pg, receiver_delete, &p, "delete notification receiver");
}

int db_pg_notify_receiver_delete(struct db *db, int64_t id)
{
    return db_pg_transaction(db, receiver_delete_locked, &id, false,
                             "delete notification receiver");
}

int db_pg_notify_receiver_get(struct db *db, int64_t id, struct notify_receiver *ret)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    int r = db_pg_get(pg, receiver_get, &p, fill_receiver, ret, "read notification receiver");
    db_pg_unlock(pg);
    return r;
}

int db_pg_notify_receiver_list(struct db *db, struct notify_receiver_row **ret_rows,
                               size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r =
        db_pg_list(pg, receiver_list, LIMIT_NOTIFY_RECEIVERS, sizeof(**ret_rows), fill_receiver_row,
                   (void **)ret_rows, ret_count, "list notification receivers");
    db_pg_unlock(pg);
    return r;
}

/* db_notify_receiver_disable's inputs, for its transaction's body. */
struct receiver_disable {
    int64_t id;
    const char *error;
    int64_t now_ms;
};

static int receiver_disable_locked(struct db_pg *pg, void *arg)
{
    const struct receiver_disable *a = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, a->id);
    int r = db_pg_run_one(pg, receiver_disable, &p, "disable notification receiver");
    if (r < 0)
        return r;
    db_pg_param_text(&p, a->error);
    db_pg_param_int(&p, a->now_ms);
    return db_pg_run(pg, receiver_fail_pending, &p, "fail pending notification deliveries");
}

int db_pg_notify_receiver_disable(struct db *db, int64_t id, const char *error, int64_t now_ms)
{
    struct receiver_disable a = {id, error, now_ms};
    return db_pg_transaction(db, receiver_disable_locked, &a, false,
                             "disable notification receiver");
}

/* db_notify_deliveries_insert's batch: the N deliveries D, their ids into IDS. */
struct deliveries_insert {
    const struct notify_delivery *d;
    size_t n;
    int64_t now;
    int64_t *ids;
};

/* Inserts the batch; its ids go to IDS (written to D only once the batch commits). */
static int deliveries_insert_locked(struct db_pg *pg, void *arg)
{
    const struct deliveries_insert *a = arg;
    const struct notify_delivery *d = a->d;
    for (size_t i = 0; i < a->n; i++) {
        struct db_pg_params p;
        db_pg_params_init(&p);
        db_pg_param_text(&p, d[i].uuid);
        db_pg_param_int(&p, d[i].receiver_id);
        db_pg_param_text(&p, d[i].event);
        db_pg_param_text(&p, d[i].product);
        db_pg_param_text(&p, d[i].body ? d[i].body : "");
        db_pg_param_int(&p, d[i].next_ms);
        db_pg_param_int(&p, d[i].created_ms);
        db_pg_param_int(&p, a->now);
        int r = db_pg_get(pg, delivery_insert, &p, db_pg_fill_int64, &a->ids[i],
                          "insert notification delivery");
        if (r < 0)
            return r;
    }
    return 0;
}

int db_pg_notify_deliveries_insert(struct db *db, struct notify_delivery *d, size_t n)
{
    int64_t *ids = calloc(n ? n : 1, sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    int64_t now = time_now_ms();
    struct deliveries_insert a = {d, n, now, ids};
    int r = db_pg_transaction(db, deliveries_insert_locked, &a, false,
                              "insert notification deliveries");
    for (size_t i = 0; r == 0 && i < n; i++) {
        d[i].id = ids[i];
        d[i].updated_ms = now;
    }
    free(ids);
    return r;
}

/* Frees the bodies of the N deliveries D, not D. */
static void free_bodies(struct notify_delivery *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].body);
        d[i].body = NULL;
    }
}

/* SIZE as a LIMIT: PostgreSQL refuses a negative one, where SQLite read -1 as none. */
static int64_t limit_of(size_t size)
{
    return size > (size_t)INT64_MAX ? INT64_MAX : (int64_t)size;
}

/*
 * The heads of the receivers' queues, with bodies, sorted by next_ms; the
 * due ones (at most LIMIT) into OUT. In the caller's transaction.
 */
static int heads_locked(struct db_pg *pg, int64_t now_ms, size_t limit, struct notify_delivery *out,
                        size_t *ret_count, int64_t *ret_next_ms)
{
    PGresult *res;
    int r = db_pg_exec(pg, delivery_heads, NULL, "read due notification deliveries", &res);
    if (r < 0)
        return r;
    size_t n = 0;
    int64_t next = 0;
    int rows = PQntuples(res);
    for (int row = 0; row < rows; row++) {
        struct notify_delivery d;
        int i = fill_delivery_at(res, row, 0, &d);
        if (d.next_ms > now_ms) {
            if (!next || d.next_ms < next)
                next = d.next_ms;
            continue;
        }
        if (n == limit) { /* due, but for the next pass: which is at once */
            next = now_ms;
            continue;
        }
        if (!(d.body = strdup(PQgetvalue(res, row, i)))) {
            r = -ENOMEM;
            break;
        }
        out[n++] = d;
    }
    PQclear(res);
    if (r < 0) {
        free_bodies(out, n);
        return r;
    }
    *ret_count = n;
    *ret_next_ms = next;
    return 0;
}

/* db_notify_deliveries_due's read: its inputs, and the N due deliveries read into OUT. */
struct deliveries_due {
    int64_t now_ms;
    size_t limit;
    struct notify_delivery *out; /* LIMIT of them */
    size_t n;
    int64_t next_ms;
};

static int deliveries_due_locked(struct db_pg *pg, void *arg)
{
    struct deliveries_due *a = arg;
    /* An earlier attempt's read whose commit failed: nothing of it is handed out. */
    free_bodies(a->out, a->n);
    a->n = 0;
    a->next_ms = 0;
    return heads_locked(pg, a->now_ms, a->limit, a->out, &a->n, &a->next_ms);
}

int db_pg_notify_deliveries_due(struct db *db, int64_t now_ms, size_t limit,
                                struct notify_delivery **ret, size_t *ret_count,
                                int64_t *ret_next_ms)
{
    struct notify_delivery *out = calloc(limit ? limit : 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    struct deliveries_due a = {now_ms, limit, out, 0, 0};
    int r =
        db_pg_transaction(db, deliveries_due_locked, &a, false, "read due notification deliveries");
    if (r < 0) { /* the read's commit failed, if it got that far: nothing is handed out */
        free_bodies(out, a.n);
        free(out);
        return r;
    }
    *ret = out;
    *ret_count = a.n;
    *ret_next_ms = a.next_ms;
    return 0;
}

int db_pg_notify_delivery_update(struct db *db, const struct notify_delivery *d)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, d->id);
    db_pg_param_int(&p, d->state);
    db_pg_param_int(&p, d->attempts);
    db_pg_param_int(&p, d->next_ms);
    db_pg_param_int(&p, d->status);
    db_pg_param_text(&p, d->error);
    db_pg_param_int(&p, d->updated_ms);
    int r = db_pg_run_one(pg, delivery_update, &p, "update notification delivery");
    db_pg_unlock(pg);
    return r;
}

int db_pg_notify_delivery_list(struct db *db, int64_t receiver_id, size_t limit,
                               struct notify_delivery **ret, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, receiver_id);
    db_pg_param_int(&p, limit_of(limit));
    int r = db_pg_collect_rows(pg, delivery_list, &p, sizeof(**ret), fill_delivery, (void **)ret,
                               ret_count, "list notification deliveries");
    db_pg_unlock(pg);
    return r;
}

/* Runs prune statement SQL with integer $1 = V, again when it deadlocked with another node's. */
static int prune_run(struct db_pg *pg, const char *sql, int64_t v, const char *what)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, v);
    return db_pg_run_retried(pg, sql, &p, what);
}

int db_pg_notify_prune(struct db *db, int64_t before_ms, size_t keep)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = prune_run(pg, prune_old, before_ms, "prune old notification deliveries");
    if (r == 0)
        r = prune_run(pg, prune_many, limit_of(keep), "prune notification deliveries");
    db_pg_unlock(pg);
    return r;
}
