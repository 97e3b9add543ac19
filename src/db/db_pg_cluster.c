/*
 * What several nodes on one PostgreSQL database share beyond the tables
 * (db.h, "Several nodes"): the catalog's change notifications (LISTEN on
 * DB_PG_CATALOG_CHANNEL; db_pg_generation_bump NOTIFYs), the leader's lock
 * (a session-level advisory lock: held for as long as the connection lives,
 * released by the server when it dies) and the nodes' heartbeats (table
 * nodes). A node keeps one connection for these alone.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/pg_internal.h"

int db_pg_listen_catalog(struct db *db)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_run(pg, "LISTEN " DB_PG_CATALOG_CHANNEL, NULL, "listen for catalog changes");
    pg->listening = r == 0;
    db_pg_unlock(pg);
    return r;
}

/* Takes every notification libpq has read; true when there was one. */
static bool drain_notifications(struct db_pg *pg)
{
    bool any = false;
    PGnotify *n;
    while ((n = PQnotifies(pg->conn))) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

int db_pg_wait_catalog(struct db *db, unsigned timeout_ms, bool *ret_changed)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    if (!pg->listening) { /* connected again since: the caller listens again */
        db_pg_unlock(pg);
        return -ENOTCONN;
    }
    /* This connection is the waiter's alone: holding its lock while waiting blocks nobody. */
    bool changed = drain_notifications(pg);
    int r = 0;
    if (!changed) {
        struct pollfd pfd = {.fd = PQsocket(pg->conn), .events = POLLIN};
        int n = pfd.fd >= 0 ? poll(&pfd, 1, (int)timeout_ms) : -1;
        if (n < 0 && errno != EINTR) {
            r = -ENOTCONN;
        } else if (n > 0) {
            if (!PQconsumeInput(pg->conn) || PQstatus(pg->conn) != CONNECTION_OK) {
                log_warn("database: the connection that listens for catalog changes was lost");
                r = -ENOTCONN;
            } else {
                changed = drain_notifications(pg);
            }
        }
    }
    db_pg_unlock(pg);
    if (r == 0)
        *ret_changed = changed;
    return r;
}

int db_pg_leader_hold(struct db *db, bool *ret_leader)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r;
    if (pg->leader) {
        /* Still connected is still leading: the lock lives as long as the session. */
        r = db_pg_run(pg, "SELECT 1", NULL, "check the leader's session");
    } else {
        struct db_pg_params p;
        db_pg_params_init(&p);
        db_pg_param_int(&p, DB_PG_LOCK_CLASS);
        db_pg_param_int(&p, DB_PG_LOCK_LEADER);
        int64_t got = 0;
        r = db_pg_get(pg, "SELECT pg_try_advisory_lock($1::int, $2::int)::int", &p,
                      db_pg_fill_int64, &got, "try the leader's lock");
        if (r == 0)
            pg->leader = got == 1;
    }
    if (r < 0)
        pg->leader = false;
    else
        *ret_leader = pg->leader;
    db_pg_unlock(pg);
    return r;
}

int db_pg_leader_release(struct db *db)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = 0;
    if (pg->leader) {
        struct db_pg_params p;
        db_pg_params_init(&p);
        db_pg_param_int(&p, DB_PG_LOCK_CLASS);
        db_pg_param_int(&p, DB_PG_LOCK_LEADER);
        r = db_pg_run(pg, "SELECT pg_advisory_unlock($1::int, $2::int)", &p,
                      "let the leader's lock go");
        pg->leader = false;
    }
    db_pg_unlock(pg);
    return r;
}

int db_pg_node_beat(struct db *db, const struct node_status *node, int64_t live_ms,
                    unsigned *ret_live)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, node->name);
    db_pg_param_int(&p, node->started_ms);
    db_pg_param_text(&p, node->version);
    db_pg_param_text(&p, node->address);
    if (node->leader_since_ms)
        db_pg_param_int(&p, node->leader_since_ms);
    else
        db_pg_param_text(&p, NULL);
    int r = db_pg_run(pg,
                      "INSERT INTO nodes (name, started_ms, seen_ms, version, address, "
                      "leader_since_ms) VALUES ($1, $2, " DB_PG_NOW_MS ", $3, $4, $5) "
                      "ON CONFLICT (name) DO UPDATE SET started_ms = EXCLUDED.started_ms, "
                      "seen_ms = EXCLUDED.seen_ms, version = EXCLUDED.version, "
                      "address = EXCLUDED.address, leader_since_ms = EXCLUDED.leader_since_ms",
                      &p, "record the node's heartbeat");
    if (r == 0 && node->leader_since_ms) {
        /* Only the lock's holder gets here: a leader that died or stopped leads no more. */
        db_pg_params_init(&p);
        db_pg_param_text(&p, node->name);
        r = db_pg_run(pg,
                      "UPDATE nodes SET leader_since_ms = NULL "
                      "WHERE name <> $1 AND leader_since_ms IS NOT NULL",
                      &p, "clear the former leader's row");
    }
    int64_t live = 0;
    if (r == 0) {
        /* Measured from this node's seen_ms just written: one clock, the database's. */
        db_pg_params_init(&p);
        db_pg_param_int(&p, live_ms);
        db_pg_param_text(&p, node->name);
        r = db_pg_get(pg,
                      "SELECT count(*) FROM nodes WHERE name = $2 OR seen_ms >= "
                      "(SELECT seen_ms FROM nodes WHERE name = $2) - $1",
                      &p, db_pg_fill_int64, &live, "count the nodes");
    }
    db_pg_unlock(pg);
    if (r == 0)
        *ret_live = live > 0 ? (unsigned)live : 1;
    return r;
}

static void fill_node(const PGresult *res, int row, void *out)
{
    struct node_status *n = out;
    db_pg_text(res, row, 0, n->name, sizeof(n->name));
    db_pg_text(res, row, 1, n->version, sizeof(n->version));
    db_pg_text(res, row, 2, n->address, sizeof(n->address));
    n->started_ms = db_pg_int(res, row, 3);
    n->seen_ms = db_pg_int(res, row, 4);
    n->leader_since_ms = db_pg_int(res, row, 5);
}

int db_pg_node_list(struct db *db, struct node_status **ret_nodes, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    void *items = NULL;
    size_t n = 0;
    int r = db_pg_collect_rows(pg,
                               "SELECT name, version, address, started_ms, seen_ms, "
                               "leader_since_ms FROM nodes ORDER BY name",
                               NULL, sizeof(struct node_status), fill_node, &items, &n,
                               "list the nodes");
    db_pg_unlock(pg);
    if (r == 0) {
        *ret_nodes = items;
        *ret_count = n;
    }
    return r;
}

static void fill_change(const PGresult *res, int row, void *out)
{
    struct rollout_device_change *c = out;
    c->device.rollout_id = db_pg_int(res, row, 0);
    c->device.product_id = db_pg_int(res, row, 1);
    c->device.mac = (uint64_t)db_pg_int(res, row, 2);
    c->device.stage = (unsigned)db_pg_int(res, row, 3);
    c->device.outcome = (enum device_outcome)db_pg_int(res, row, 4);
    c->release_id = db_pg_int(res, row, 5);
    c->mode = (enum fw_mode)db_pg_int(res, row, 6);
}

/* Nothing seen yet: a snapshot in which no transaction has committed. */
#define SNAPSHOT_NONE "1:1:"

/*
 * The rows written by transactions committed in $2 and not in $1, past the
 * key ($3 writer, $4 rollout, $5 MAC), in key order. A read starts at
 * ($1's xmin, -1, -1): every older writer had ended when $1 was taken, so
 * the index range starts there (one lower bound, which the planner uses).
 */
static const char changes_sql[] =
    "SELECT d.rollout_id, d.product_id, d.mac, d.stage, d.outcome, r.release_id, r.mode, "
    "d.change_xid::text::bigint FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id "
    "WHERE (d.change_xid, d.rollout_id, d.mac) > ($3::text::xid8, $4::bigint, $5::bigint) "
    "AND NOT pg_visible_in_snapshot(d.change_xid, $1::pg_snapshot) "
    "AND pg_visible_in_snapshot(d.change_xid, $2::pg_snapshot) "
    "AND (r.state IN " DB_SQL_ROLLOUTS_COUNTED " OR d.outcome = 4) "
    "ORDER BY d.change_xid, d.rollout_id, d.mac LIMIT $6";

/*
 * Starts a read: what has committed now is what it reads up to, from the
 * xmin of what was seen. Transaction ids that went backwards (a crash
 * lost the last commits, which synchronous_commit = off allows, or a
 * failover to a standby that was behind) would be taken again by new
 * writers and pass for seen: then everything is read again.
 */
static int changes_begin(struct db_pg *pg, struct rollout_changes_cursor *cursor)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, cursor->seen[0] ? cursor->seen : SNAPSHOT_NONE);
    PGresult *res;
    int r =
        db_pg_exec(pg,
                   "SELECT pg_current_snapshot()::text, "
                   "pg_snapshot_xmin($1::pg_snapshot)::text::bigint, "
                   "pg_snapshot_xmax(pg_current_snapshot()) < pg_snapshot_xmax($1::pg_snapshot)",
                   &p, "take a snapshot", &res);
    if (r < 0)
        return r;
    const char *now = PQgetvalue(res, 0, 0);
    int64_t xmin = db_pg_int(res, 0, 1);
    if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
        log_warn("db: the database's transaction ids went backwards (a crash or a failover "
                 "lost its last commits): reading every rollout change again");
        cursor->seen[0] = 0;
        xmin = 1;
    }
    if (strlen(now) >= sizeof(cursor->upto)) {
        log_error("db: the snapshot is %zu bytes, too many transactions in flight to follow "
                  "the rollouts' changes (at most %u bytes)",
                  strlen(now), DB_SNAPSHOT_TEXT_BYTES - 1);
        r = -EOVERFLOW;
    } else {
        memcpy(cursor->upto, now, strlen(now) + 1);
        cursor->after_writer = xmin;
        cursor->after_rollout_id = -1;
        cursor->after_mac = UINT64_MAX; /* -1 as the bigint bound */
    }
    PQclear(res);
    return r;
}

int db_pg_rollout_device_changes(struct db *db, struct rollout_changes_cursor *cursor, size_t limit,
                                 struct rollout_device_change **ret, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = cursor->upto[0] ? 0 : changes_begin(pg, cursor);
    PGresult *res = NULL;
    if (r == 0) {
        struct db_pg_params p;
        db_pg_params_init(&p);
        db_pg_param_text(&p, cursor->seen[0] ? cursor->seen : SNAPSHOT_NONE);
        db_pg_param_text(&p, cursor->upto);
        db_pg_param_int(&p, cursor->after_writer);
        db_pg_param_int(&p, cursor->after_rollout_id);
        db_pg_param_int(&p, (int64_t)cursor->after_mac);
        db_pg_param_int(&p, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
        r = db_pg_exec(pg, changes_sql, &p, "read the rollouts' changed devices", &res);
    }
    db_pg_unlock(pg);
    if (r < 0)
        return r;
    size_t n = (size_t)PQntuples(res);
    struct rollout_device_change *rows = n ? calloc(n, sizeof(*rows)) : NULL;
    if (n && !rows) {
        PQclear(res);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        fill_change(res, (int)i, &rows[i]);
    if (n > 0) {
        cursor->after_writer = db_pg_int(res, (int)n - 1, 7);
        cursor->after_rollout_id = rows[n - 1].device.rollout_id;
        cursor->after_mac = rows[n - 1].device.mac;
    }
    if (n < limit) { /* all read up to the snapshot: the next call starts from it */
        memcpy(cursor->seen, cursor->upto, sizeof(cursor->seen));
        cursor->upto[0] = 0;
    }
    PQclear(res);
    *ret = rows;
    *ret_count = n;
    return 0;
}
