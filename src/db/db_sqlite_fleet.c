/*
 * The fleet control tables of db_fleet.h on SQLite (migration 004):
 * channel settings (channels), groups and their MAC lists (device_groups,
 * group_macs), pins and holds (pins), deployments and withdrawn releases
 * (deployments, releases.withdrawn_ms), rollouts (rollouts), each device's
 * standing in a rollout (rollout_devices) and its bounded history
 * (device_events). A plan is stored as its text (model/fleet.h), and a
 * rollout's interval again as a number, for the SQL of a deadline.
 *
 * Every write a check-in must see runs in one transaction with the
 * generation bump (fleet_write); rollout device rows and their history do
 * not move the generation, except when a failure is recorded. Product
 * settings are db_sqlite_products.c's, the learned interval
 * db_sqlite_devices.c's.
 */
#include "db/db_fleet.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* The SQL below names states and outcomes by their stored numbers (model/fleet.h). */
_Static_assert(ROLLOUT_RUNNING == 0 && ROLLOUT_PAUSED == 1 && ROLLOUT_HALTED == 2 &&
                   ROLLOUT_SUPERSEDED == 5 && ROLLOUT_QUEUED == 6,
               "rollout states as the SQL names them");
_Static_assert(OUTCOME_OFFERED == 0 && OUTCOME_SERVED == 1 && OUTCOME_INTERRUPTED == 2 &&
                   OUTCOME_SUCCEEDED == 3 && OUTCOME_FAILED == 4 && OUTCOME_SILENT == 5,
               "outcomes as the SQL names them");

/* The states of rollout_state_active, and with queued ones: db_rollout_list's ACTIVE_ONLY. */
#define ACTIVE_STATES "(0, 1, 2)"
#define LISTED_STATES "(0, 1, 2, 6)"
/* Whose devices are still followed: the active ones, and superseded ones (still counted). */
#define COUNTED_STATES DB_SQL_ROLLOUTS_COUNTED

#define CHANNEL_COLUMNS                                                                            \
    "product_id, name, deploy, on_new, plan, window_start, window_end, window_tz, created_ms"
#define GROUP_COLUMNS                                                                              \
    "id, product_id, name, channel, match, value, priority, has_window, window_start, "            \
    "window_end, window_tz, created_ms"
#define ROLLOUT_COLUMNS                                                                            \
    "r.id, r.product_id, r.channel, r.release_id, coalesce(rel.version, ''), r.mode, r.kind, "     \
    "r.state, r.plan, r.stage, r.stage_started_ms, r.paused_ms, r.salt0, r.salt1, "                \
    "r.from_release_id, r.ack_failed, r.reason, r.actor, r.created_ms, r.updated_ms, "             \
    "r.ack_silent"
#define ROLLOUT_DEVICE_COLUMNS                                                                     \
    "d.rollout_id, d.product_id, d.mac, d.stage, d.outcome, d.from_release_id, d.from_version, "   \
    "d.offered_ms, d.served_ms, d.outcome_ms, d.deadline_ms, d.interruptions"

static const struct db_sqlite_query channel_put = {
    DB_SLOT_CHANNEL_PUT,
    "INSERT INTO channels (" CHANNEL_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT (product_id, name) DO UPDATE SET deploy = excluded.deploy, "
    "on_new = excluded.on_new, plan = excluded.plan, window_start = excluded.window_start, "
    "window_end = excluded.window_end, window_tz = excluded.window_tz"};
static const struct db_sqlite_query channel_created = {
    DB_SLOT_CHANNEL_CREATED, "SELECT created_ms FROM channels WHERE product_id = ?1 AND name = ?2"};
static const struct db_sqlite_query channel_get = {
    DB_SLOT_CHANNEL_GET,
    "SELECT " CHANNEL_COLUMNS " FROM channels WHERE product_id = ?1 AND name = ?2"};
static const struct db_sqlite_query channel_list = {
    DB_SLOT_CHANNEL_LIST, "SELECT " CHANNEL_COLUMNS " FROM channels "
                          "WHERE ?1 IS NULL OR product_id = ?1 ORDER BY product_id, name"};
static const struct db_sqlite_query channel_delete = {
    DB_SLOT_CHANNEL_DELETE, "DELETE FROM channels WHERE product_id = ?1 AND name = ?2"};

static const struct db_sqlite_query group_insert = {
    DB_SLOT_GROUP_INSERT,
    "INSERT INTO device_groups (product_id, name, channel, match, value, priority, has_window, "
    "window_start, window_end, window_tz, created_ms) "
    "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"};
static const struct db_sqlite_query group_update = {
    DB_SLOT_GROUP_UPDATE,
    "UPDATE device_groups SET name = ?3, channel = ?4, match = ?5, value = ?6, priority = ?7, "
    "has_window = ?8, window_start = ?9, window_end = ?10, window_tz = ?11 WHERE id = ?1"};
static const struct db_sqlite_query group_delete_macs = {
    DB_SLOT_GROUP_DELETE_MACS,
    "DELETE FROM group_macs WHERE group_id = "
    "(SELECT id FROM device_groups WHERE product_id = ?1 AND name = ?2)"};
static const struct db_sqlite_query group_delete = {
    DB_SLOT_GROUP_DELETE, "DELETE FROM device_groups WHERE product_id = ?1 AND name = ?2"};
static const struct db_sqlite_query group_get = {
    DB_SLOT_GROUP_GET,
    "SELECT " GROUP_COLUMNS " FROM device_groups WHERE product_id = ?1 AND name = ?2"};
static const struct db_sqlite_query group_list = {
    DB_SLOT_GROUP_LIST, "SELECT " GROUP_COLUMNS " FROM device_groups "
                        "WHERE ?1 IS NULL OR product_id = ?1 ORDER BY product_id, name"};
static const struct db_sqlite_query group_exists = {DB_SLOT_GROUP_EXISTS,
                                                    "SELECT id FROM device_groups WHERE id = ?1"};
static const struct db_sqlite_query group_mac_add = {
    DB_SLOT_GROUP_MAC_ADD, "INSERT OR IGNORE INTO group_macs (group_id, mac) VALUES (?1, ?2)"};
static const struct db_sqlite_query group_mac_remove = {
    DB_SLOT_GROUP_MAC_REMOVE, "DELETE FROM group_macs WHERE group_id = ?1 AND mac = ?2"};
static const struct db_sqlite_query group_mac_list = {
    DB_SLOT_GROUP_MAC_LIST, "SELECT mac, group_id FROM group_macs "
                            "WHERE ?1 IS NULL OR group_id = ?1 ORDER BY mac, group_id"};

/* A pin names a release of its own product, or none (a hold): else no row is written. */
static const struct db_sqlite_query pin_put = {
    DB_SLOT_PIN_PUT,
    "INSERT INTO pins (product_id, mac, release_id, note, created_ms) "
    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE ?3 IS NULL OR EXISTS "
    "(SELECT 1 FROM releases WHERE id = ?3 AND product_id = ?1) "
    "ON CONFLICT (product_id, mac) DO UPDATE SET release_id = excluded.release_id, "
    "note = excluded.note, created_ms = excluded.created_ms"};
static const struct db_sqlite_query pin_delete = {
    DB_SLOT_PIN_DELETE, "DELETE FROM pins WHERE product_id = ?1 AND mac = ?2"};
static const struct db_sqlite_query pin_list = {
    DB_SLOT_PIN_LIST,
    "SELECT p.product_id, p.mac, coalesce(p.release_id, 0), coalesce(r.version, ''), "
    "coalesce(r.mode, 0), p.note, p.created_ms FROM pins p "
    "LEFT JOIN releases r ON r.id = p.release_id "
    "WHERE ?1 IS NULL OR p.product_id = ?1 ORDER BY p.product_id, p.mac"};

static const struct db_sqlite_query deployment_set = {
    DB_SLOT_DEPLOYMENT_SET,
    "INSERT INTO deployments (product_id, channel, mode, release_id, updated_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (product_id, channel, mode) DO UPDATE SET "
    "release_id = excluded.release_id, updated_ms = excluded.updated_ms"};
static const struct db_sqlite_query deployment_list = {
    DB_SLOT_DEPLOYMENT_LIST,
    "SELECT product_id, channel, mode, coalesce(release_id, 0), updated_ms FROM deployments "
    "WHERE ?1 IS NULL OR product_id = ?1 ORDER BY product_id, channel, mode"};
static const struct db_sqlite_query release_withdraw = {
    DB_SLOT_RELEASE_WITHDRAW, "UPDATE releases SET withdrawn_ms = ?2 WHERE id = ?1"};
static const struct db_sqlite_query withdrawn_list = {
    DB_SLOT_WITHDRAWN_LIST, "SELECT id FROM releases WHERE withdrawn_ms != 0 "
                            "AND (?1 IS NULL OR product_id = ?1) ORDER BY id"};

static const struct db_sqlite_query rollout_insert = {
    DB_SLOT_ROLLOUT_INSERT,
    "INSERT INTO rollouts (product_id, channel, release_id, mode, kind, state, plan, "
    "interval_s, stage, stage_started_ms, paused_ms, salt0, salt1, from_release_id, "
    "ack_failed, reason, actor, created_ms, updated_ms, ack_silent) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
    "?18, ?19, ?20)"};
static const struct db_sqlite_query rollout_supersede = {
    DB_SLOT_ROLLOUT_SUPERSEDE, "UPDATE rollouts SET state = 5, reason = ?5, updated_ms = ?6 "
                               "WHERE product_id = ?1 AND channel = ?2 AND mode = ?3 AND id != ?4 "
                               "AND state IN " ACTIVE_STATES};
static const struct db_sqlite_query rollout_update = {
    DB_SLOT_ROLLOUT_UPDATE,
    "UPDATE rollouts SET state = ?2, stage = ?3, stage_started_ms = ?4, paused_ms = ?5, "
    "ack_failed = ?6, reason = ?7, updated_ms = ?8, ack_silent = ?9 "
    "WHERE id = ?1 AND state = ?10 AND stage = ?11"};
static const struct db_sqlite_query rollout_exists = {DB_SLOT_ROLLOUT_EXISTS,
                                                      "SELECT 1 FROM rollouts WHERE id = ?1"};
static const struct db_sqlite_query rollout_get = {
    DB_SLOT_ROLLOUT_GET, "SELECT " ROLLOUT_COLUMNS " FROM rollouts r "
                         "LEFT JOIN releases rel ON rel.id = r.release_id WHERE r.id = ?1"};
static const struct db_sqlite_query rollout_list = {
    DB_SLOT_ROLLOUT_LIST,
    "SELECT " ROLLOUT_COLUMNS " FROM rollouts r LEFT JOIN releases rel ON rel.id = r.release_id "
    "WHERE (?1 IS NULL OR r.product_id = ?1) AND (?2 = 0 OR r.state IN " LISTED_STATES ") "
    "ORDER BY r.id DESC"};
static const struct db_sqlite_query rollout_counts = {
    DB_SLOT_ROLLOUT_COUNTS,
    "SELECT stage, outcome, count(*), sum(interruptions) FROM rollout_devices "
    "WHERE rollout_id = ?1 GROUP BY stage, outcome"};
static const struct db_sqlite_query rollout_devices_open = {
    DB_SLOT_ROLLOUT_DEVICES_OPEN,
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "JOIN rollouts r ON r.id = d.rollout_id "
    "WHERE (r.state IN " COUNTED_STATES " AND d.outcome != 3) OR d.outcome = 4 "
    "ORDER BY d.rollout_id, d.mac"};
static const struct db_sqlite_query rollout_device_get = {
    DB_SLOT_ROLLOUT_DEVICE_GET, "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
                                "WHERE d.rollout_id = ?1 AND d.mac = ?2"};
static const struct db_sqlite_query rollout_device_last = {
    DB_SLOT_ROLLOUT_DEVICE_LAST,
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "WHERE d.product_id = ?1 AND d.mac = ?2 ORDER BY d.offered_ms DESC, d.rollout_id DESC "
    "LIMIT 1"};
static const struct db_sqlite_query rollout_failed_macs = {
    DB_SLOT_ROLLOUT_FAILED_MACS,
    "SELECT mac FROM rollout_devices WHERE rollout_id = ?1 AND outcome = 4 ORDER BY mac"};
static const struct db_sqlite_query rollout_silent_due = {
    DB_SLOT_ROLLOUT_SILENT_DUE,
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "JOIN rollouts r ON r.id = d.rollout_id WHERE d.outcome = 1 AND d.deadline_ms < ?1 "
    "AND r.state IN " COUNTED_STATES " ORDER BY d.deadline_ms, d.rollout_id, d.mac"};
static const struct db_sqlite_query rollout_silent_mark = {
    DB_SLOT_ROLLOUT_SILENT_MARK, "UPDATE rollout_devices SET outcome = 5, outcome_ms = ?3 "
                                 "WHERE rollout_id = ?1 AND mac = ?2 AND outcome = 1"};

/*
 * The events of db_fleet_events_apply: ?1 rollout, ?2 MAC, ?3 product, ?4
 * at_ms. An OFFER's device starts from what the registry row says it runs
 * (written before the events in the flusher's batch), else the version of
 * the release it ran.
 */
static const struct db_sqlite_query fleet_offer = {
    DB_SLOT_FLEET_OFFER,
    "INSERT INTO rollout_devices (rollout_id, mac, product_id, stage, outcome, "
    "from_release_id, from_version, offered_ms) "
    "SELECT id, ?2, product_id, ?5, 0, ?6, coalesce("
    "(SELECT version FROM devices WHERE product_id = ?3 AND mac = ?2), "
    "(SELECT version FROM releases WHERE id = ?6), '') , ?4 "
    "FROM rollouts WHERE id = ?1 AND product_id = ?3 "
    "AND EXISTS (SELECT 1 FROM devices WHERE product_id = ?3 AND mac = ?2) "
    "ON CONFLICT (rollout_id, mac) DO UPDATE SET outcome = 0, offered_ms = excluded.offered_ms"};
/*
 * The deadline: 3 learned intervals once there are 3, else 3 of the plan's;
 * + ?5, the connection's deadline margin (docs/FLEET.md, "Outcomes").
 */
static const struct db_sqlite_query fleet_served = {
    DB_SLOT_FLEET_SERVED,
    "UPDATE rollout_devices SET outcome = 1, served_ms = ?4, deadline_ms = ?4 + 3 * coalesce("
    "(SELECT interval_ms FROM devices v WHERE v.product_id = ?3 AND v.mac = ?2 "
    "AND v.intervals >= 3), "
    "(SELECT interval_s * 1000 FROM rollouts WHERE id = ?1)) + ?5 "
    "WHERE rollout_id = ?1 AND mac = ?2 AND product_id = ?3"};
static const struct db_sqlite_query fleet_cut = {
    DB_SLOT_FLEET_CUT, "UPDATE rollout_devices SET outcome = 2, interruptions = interruptions + 1 "
                       "WHERE rollout_id = ?1 AND mac = ?2 AND product_id = ?3"};
static const struct db_sqlite_query fleet_outcome = {
    DB_SLOT_FLEET_OUTCOME, "UPDATE rollout_devices SET outcome = ?5, outcome_ms = ?4 "
                           "WHERE rollout_id = ?1 AND mac = ?2 AND product_id = ?3"};

/* A history line, numbered after the device's others of the same millisecond. */
static const struct db_sqlite_query history_add = {
    DB_SLOT_HISTORY_ADD,
    "INSERT INTO device_events (product_id, mac, at_ms, seq, kind, rollout_id, version, outcome) "
    "VALUES (?1, ?2, ?3, coalesce((SELECT max(seq) + 1 FROM device_events "
    "WHERE product_id = ?1 AND mac = ?2 AND at_ms = ?3), 0), ?4, ?5, ?6, ?7)"};
/* Keeps the device's newest ?3 + 1 lines. */
static const struct db_sqlite_query history_trim = {
    DB_SLOT_HISTORY_TRIM,
    "DELETE FROM device_events WHERE product_id = ?1 AND mac = ?2 AND (at_ms, seq) < "
    "(SELECT at_ms, seq FROM device_events WHERE product_id = ?1 AND mac = ?2 "
    "ORDER BY at_ms DESC, seq DESC LIMIT 1 OFFSET ?3)"};
static const struct db_sqlite_query history_list = {
    DB_SLOT_HISTORY_LIST, "SELECT at_ms, kind, rollout_id, version, outcome FROM device_events "
                          "WHERE product_id = ?1 AND mac = ?2 "
                          "ORDER BY at_ms DESC, seq DESC LIMIT ?3"};

/* --- shared --- */

/* A write's body, run by fleet_write inside its transaction. */
typedef int (*fleet_write_fn)(struct db_sqlite *sq, void *arg);

/*
 * Runs FN(ARG) in one transaction on DB, with the generation bumped when
 * BUMP (a write check-ins must see); everything or nothing is written.
 */
static int fleet_write(struct db *db, fleet_write_fn fn, void *arg, bool bump)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int err = db_sqlite_begin(sq);
    if (err == 0) {
        int r = fn(sq, arg);
        if (r == 0 && bump)
            r = db_sqlite_generation_bump(sq);
        err = db_sqlite_finish(sq, r);
    }
    db_sqlite_unlock(sq);
    return err;
}

/* Runs list query Q with KEY as ?1 (0: NULL, every product) and collects its rows. */
static int fleet_list(struct db *db, const struct db_sqlite_query *q, int64_t key, size_t elem,
                      db_sqlite_fill_fn fill, void **ret_items, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, q, key, elem, fill, ret_items, ret_count);
    db_sqlite_unlock(sq);
    return r;
}

/* Binds (?1, ?2) = (KEY, TEXT) to Q, steps it for one row into OUT with FILL. */
static int fleet_get_by_name(struct db *db, const struct db_sqlite_query *q, int64_t key,
                             const char *text, db_sqlite_fill_fn fill, void *out, const char *what)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, q);
    if (s) {
        sqlite3_bind_int64(s, 1, key);
        sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
        r = db_sqlite_get(sq, s, fill, out, what);
    }
    db_sqlite_unlock(sq);
    return r;
}

/* Column I as a plan: the defaults under what the stored text says. */
static void column_plan(sqlite3_stmt *s, int i, struct rollout_plan *plan, const char *whose)
{
    char text[ROLLOUT_PLAN_TEXT_BYTES];
    struct reason why;
    rollout_plan_default(plan);
    db_sqlite_column_text(s, i, text, sizeof(text));
    if (rollout_plan_parse(plan, text, &why) < 0) {
        log_error("database: %s: stored plan '%s': %s; using the defaults", whose, text, why.text);
        rollout_plan_default(plan);
    }
}

static void column_window(sqlite3_stmt *s, int i, struct fleet_window *w)
{
    int64_t start = sqlite3_column_int64(s, i), end = sqlite3_column_int64(s, i + 1);
    w->start_min = start >= 0 && start < 1440 ? (uint16_t)start : 0;
    w->end_min = end >= 0 && end < 1440 ? (uint16_t)end : 0;
    db_sqlite_column_text(s, i + 2, w->tz, sizeof(w->tz));
}

static void bind_window(sqlite3_stmt *s, int i, const struct fleet_window *w)
{
    sqlite3_bind_int(s, i, w->start_min);
    sqlite3_bind_int(s, i + 1, w->end_min);
    sqlite3_bind_text(s, i + 2, w->tz, -1, SQLITE_STATIC);
}

/* Binds ID as parameter I, NULL when 0 (no release). */
static void bind_id_or_null(sqlite3_stmt *s, int i, int64_t id)
{
    if (id)
        sqlite3_bind_int64(s, i, id);
    else
        sqlite3_bind_null(s, i);
}

static enum fw_mode column_mode(sqlite3_stmt *s, int i)
{
    return sqlite3_column_int(s, i) == FW_MODE_FS ? FW_MODE_FS : FW_MODE_SKETCH;
}

/* --- channels --- */

static int channel_put_locked(struct db_sqlite *sq, void *arg)
{
    struct channel *c = arg;
    char plan[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(&c->plan, plan, sizeof(plan));
    sqlite3_stmt *s = db_sqlite_stmt(sq, &channel_put);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, c->product_id);
    sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)c->deploy);
    sqlite3_bind_int(s, 4, (int)c->on_new);
    sqlite3_bind_text(s, 5, plan, -1, SQLITE_STATIC);
    bind_window(s, 6, &c->window);
    sqlite3_bind_int64(s, 9, time_now_ms());
    int err = db_sqlite_run(sq, s, "put channel");
    if (err < 0)
        return err;
    /* A replaced channel keeps the time it was first set. */
    if (!(s = db_sqlite_stmt(sq, &channel_created)))
        return -EIO;
    sqlite3_bind_int64(s, 1, c->product_id);
    sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
    return db_sqlite_get(sq, s, db_sqlite_fill_int64, &c->created_ms, "read channel");
}

int db_sqlite_channel_put(struct db *db, struct channel *c)
{
    return fleet_write(db, channel_put_locked, c, true);
}

static void fill_channel(sqlite3_stmt *s, void *out)
{
    struct channel *c = out;
    memset(c, 0, sizeof(*c));
    c->product_id = sqlite3_column_int64(s, 0);
    db_sqlite_column_text(s, 1, c->name, sizeof(c->name));
    c->deploy = (unsigned)sqlite3_column_int(s, 2) <= DEPLOY_MANUAL
                    ? (enum deploy_policy)sqlite3_column_int(s, 2)
                    : DEPLOY_IMMEDIATE;
    c->on_new = sqlite3_column_int(s, 3) == ON_NEW_QUEUE ? ON_NEW_QUEUE : ON_NEW_SUPERSEDE;
    column_plan(s, 4, &c->plan, c->name);
    column_window(s, 5, &c->window);
    c->created_ms = sqlite3_column_int64(s, 8);
}

int db_sqlite_channel_get(struct db *db, int64_t product_id, const char *name, struct channel *ret)
{
    return fleet_get_by_name(db, &channel_get, product_id, name, fill_channel, ret, "get channel");
}

int db_sqlite_channel_list(struct db *db, int64_t product_id, struct channel **ret,
                           size_t *ret_count)
{
    return fleet_list(db, &channel_list, product_id, sizeof(struct channel), fill_channel,
                      (void **)ret, ret_count);
}

struct name_key {
    int64_t product_id;
    const char *name;
};

static int channel_delete_locked(struct db_sqlite *sq, void *arg)
{
    const struct name_key *k = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &channel_delete);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, k->product_id);
    sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
    return db_sqlite_run_one(sq, s, "delete channel");
}

int db_sqlite_channel_delete(struct db *db, int64_t product_id, const char *name)
{
    struct name_key k = {product_id, name};
    return fleet_write(db, channel_delete_locked, &k, true);
}

/* --- groups --- */

/* Binds G's fields to group_insert or group_update (?1 id, ?12 created_ms). */
static void group_bind(sqlite3_stmt *s, const struct group *g, int64_t created_ms)
{
    sqlite3_bind_int64(s, 1, g->id);
    sqlite3_bind_int64(s, 2, g->product_id);
    sqlite3_bind_text(s, 3, g->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, g->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, (int)g->match);
    sqlite3_bind_text(s, 6, g->value, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, g->priority);
    sqlite3_bind_int(s, 8, g->has_window);
    bind_window(s, 9, &g->window);
    sqlite3_bind_int64(s, 12, created_ms);
}

static int group_insert_locked(struct db_sqlite *sq, void *arg)
{
    struct group *g = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &group_insert);
    if (!s)
        return -EIO;
    int64_t now = time_now_ms();
    group_bind(s, g, now);
    int err = db_sqlite_run(sq, s, "insert group");
    if (err == 0) {
        g->id = sqlite3_last_insert_rowid(sq->conn);
        g->created_ms = now;
    }
    return err;
}

int db_sqlite_group_insert(struct db *db, struct group *g)
{
    return fleet_write(db, group_insert_locked, g, true);
}

static int group_update_locked(struct db_sqlite *sq, void *arg)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &group_update);
    if (!s)
        return -EIO;
    group_bind(s, arg, 0);
    return db_sqlite_run_one(sq, s, "update group");
}

int db_sqlite_group_update(struct db *db, const struct group *g)
{
    return fleet_write(db, group_update_locked, (void *)g, true);
}

static int group_delete_locked(struct db_sqlite *sq, void *arg)
{
    const struct name_key *k = arg;
    const struct db_sqlite_query *steps[] = {&group_delete_macs, &group_delete};
    int err = 0;
    for (size_t i = 0; err == 0 && i < ARRAY_SIZE(steps); i++) {
        sqlite3_stmt *s = db_sqlite_stmt(sq, steps[i]);
        if (!s)
            return -EIO;
        sqlite3_bind_int64(s, 1, k->product_id);
        sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
        err = steps[i] == &group_delete ? db_sqlite_run_one(sq, s, "delete group")
                                        : db_sqlite_run(sq, s, "delete group macs");
    }
    return err;
}

int db_sqlite_group_delete(struct db *db, int64_t product_id, const char *name)
{
    struct name_key k = {product_id, name};
    return fleet_write(db, group_delete_locked, &k, true);
}

static void fill_group(sqlite3_stmt *s, void *out)
{
    struct group *g = out;
    memset(g, 0, sizeof(*g));
    g->id = sqlite3_column_int64(s, 0);
    g->product_id = sqlite3_column_int64(s, 1);
    db_sqlite_column_text(s, 2, g->name, sizeof(g->name));
    db_sqlite_column_text(s, 3, g->channel, sizeof(g->channel));
    int match = sqlite3_column_int(s, 4);
    g->match = match >= 0 && match < GROUP_MATCH_COUNT ? (enum group_match)match : GROUP_MATCH_MACS;
    db_sqlite_column_text(s, 5, g->value, sizeof(g->value));
    g->priority = sqlite3_column_int(s, 6);
    g->has_window = sqlite3_column_int(s, 7) != 0;
    column_window(s, 8, &g->window);
    g->created_ms = sqlite3_column_int64(s, 11);
}

int db_sqlite_group_get(struct db *db, int64_t product_id, const char *name, struct group *ret)
{
    return fleet_get_by_name(db, &group_get, product_id, name, fill_group, ret, "get group");
}

int db_sqlite_group_list(struct db *db, int64_t product_id, struct group **ret, size_t *ret_count)
{
    return fleet_list(db, &group_list, product_id, sizeof(struct group), fill_group, (void **)ret,
                      ret_count);
}

struct group_macs_change {
    int64_t group_id;
    const uint64_t *macs;
    size_t count;
    bool add;
};

static int group_macs_change_locked(struct db_sqlite *sq, void *arg)
{
    const struct group_macs_change *c = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &group_exists);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, c->group_id);
    int64_t id;
    int err = db_sqlite_get(sq, s, db_sqlite_fill_int64, &id, "find group");
    for (size_t i = 0; err == 0 && i < c->count; i++) {
        if (!(s = db_sqlite_stmt(sq, c->add ? &group_mac_add : &group_mac_remove)))
            return -EIO;
        sqlite3_bind_int64(s, 1, c->group_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)c->macs[i]);
        err = db_sqlite_run(sq, s, "change group macs");
    }
    return err;
}

int db_sqlite_group_macs_change(struct db *db, int64_t group_id, const uint64_t *macs, size_t count,
                                bool add)
{
    struct group_macs_change c = {group_id, macs, count, add};
    return fleet_write(db, group_macs_change_locked, &c, true);
}

struct group_mac {
    uint64_t mac;
    int64_t group_id;
};

static void fill_group_mac(sqlite3_stmt *s, void *out)
{
    struct group_mac *m = out;
    m->mac = (uint64_t)sqlite3_column_int64(s, 0);
    m->group_id = sqlite3_column_int64(s, 1);
}

int db_sqlite_group_macs_list(struct db *db, int64_t group_id, uint64_t **ret_macs,
                              int64_t **ret_group_ids, size_t *ret_count)
{
    struct group_mac *rows = NULL;
    size_t count = 0;
    int r = fleet_list(db, &group_mac_list, group_id, sizeof(*rows), fill_group_mac, (void **)&rows,
                       &count);
    if (r < 0)
        return r;
    uint64_t *macs = count ? malloc(count * sizeof(*macs)) : NULL;
    int64_t *ids = count && ret_group_ids ? malloc(count * sizeof(*ids)) : NULL;
    if (count && (!macs || (ret_group_ids && !ids))) {
        free(rows);
        free(macs);
        free(ids);
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        macs[i] = rows[i].mac;
        if (ids)
            ids[i] = rows[i].group_id;
    }
    free(rows);
    *ret_macs = macs;
    if (ret_group_ids)
        *ret_group_ids = ids;
    *ret_count = count;
    return 0;
}

/* --- pins and holds --- */

static int pin_put_locked(struct db_sqlite *sq, void *arg)
{
    struct pin *p = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &pin_put);
    if (!s)
        return -EIO;
    int64_t now = time_now_ms();
    sqlite3_bind_int64(s, 1, p->product_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)p->mac);
    bind_id_or_null(s, 3, p->release_id);
    sqlite3_bind_text(s, 4, p->note, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now);
    int err = db_sqlite_run_one(sq, s, "put pin"); /* no row: the release is not the product's */
    if (err == 0)
        p->created_ms = now;
    return err;
}

int db_sqlite_pin_put(struct db *db, struct pin *p)
{
    return fleet_write(db, pin_put_locked, p, true);
}

struct mac_key {
    int64_t key;
    uint64_t mac;
};

static int pin_delete_locked(struct db_sqlite *sq, void *arg)
{
    const struct mac_key *k = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &pin_delete);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, k->key);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)k->mac);
    return db_sqlite_run_one(sq, s, "delete pin");
}

int db_sqlite_pin_delete(struct db *db, int64_t product_id, uint64_t mac)
{
    struct mac_key k = {product_id, mac};
    return fleet_write(db, pin_delete_locked, &k, true);
}

static void fill_pin(sqlite3_stmt *s, void *out)
{
    struct pin *p = out;
    memset(p, 0, sizeof(*p));
    p->product_id = sqlite3_column_int64(s, 0);
    p->mac = (uint64_t)sqlite3_column_int64(s, 1);
    p->release_id = sqlite3_column_int64(s, 2);
    db_sqlite_column_text(s, 3, p->version, sizeof(p->version));
    p->mode = column_mode(s, 4);
    db_sqlite_column_text(s, 5, p->note, sizeof(p->note));
    p->created_ms = sqlite3_column_int64(s, 6);
}

int db_sqlite_pin_list(struct db *db, int64_t product_id, struct pin **ret, size_t *ret_count)
{
    return fleet_list(db, &pin_list, product_id, sizeof(struct pin), fill_pin, (void **)ret,
                      ret_count);
}

/* --- deployments and withdrawals --- */

static int deployment_set_locked(struct db_sqlite *sq, void *arg)
{
    const struct deployment *d = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &deployment_set);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, d->product_id);
    sqlite3_bind_text(s, 2, d->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)d->mode);
    bind_id_or_null(s, 4, d->release_id);
    sqlite3_bind_int64(s, 5, d->updated_ms);
    return db_sqlite_run(sq, s, "set deployment");
}

int db_sqlite_deployment_set(struct db *db, int64_t product_id, const char *channel,
                             enum fw_mode mode, int64_t release_id)
{
    struct deployment d = {.product_id = product_id,
                           .mode = mode,
                           .release_id = release_id,
                           .updated_ms = time_now_ms()};
    if (str_copy(d.channel, sizeof(d.channel), channel) < 0)
        return -EINVAL; /* the service checks names: a longer one is a caller's bug */
    return fleet_write(db, deployment_set_locked, &d, true);
}

static void fill_deployment(sqlite3_stmt *s, void *out)
{
    struct deployment *d = out;
    memset(d, 0, sizeof(*d));
    d->product_id = sqlite3_column_int64(s, 0);
    db_sqlite_column_text(s, 1, d->channel, sizeof(d->channel));
    d->mode = column_mode(s, 2);
    d->release_id = sqlite3_column_int64(s, 3);
    d->updated_ms = sqlite3_column_int64(s, 4);
}

int db_sqlite_deployment_list(struct db *db, int64_t product_id, struct deployment **ret,
                              size_t *ret_count)
{
    return fleet_list(db, &deployment_list, product_id, sizeof(struct deployment), fill_deployment,
                      (void **)ret, ret_count);
}

struct withdraw {
    const int64_t *ids;
    size_t count;
    int64_t at_ms;
};

static int release_withdraw_locked(struct db_sqlite *sq, void *arg)
{
    const struct withdraw *w = arg;
    int err = 0;
    for (size_t i = 0; err == 0 && i < w->count; i++) {
        sqlite3_stmt *s = db_sqlite_stmt(sq, &release_withdraw);
        if (!s)
            return -EIO;
        sqlite3_bind_int64(s, 1, w->ids[i]);
        sqlite3_bind_int64(s, 2, w->at_ms);
        err = db_sqlite_run_one(sq, s, "withdraw release");
    }
    return err;
}

int db_sqlite_release_withdraw(struct db *db, const int64_t *ids, size_t count, int64_t at_ms)
{
    struct withdraw w = {ids, count, at_ms};
    return fleet_write(db, release_withdraw_locked, &w, true);
}

int db_sqlite_withdrawn_list(struct db *db, int64_t product_id, int64_t **ret_ids,
                             size_t *ret_count)
{
    return fleet_list(db, &withdrawn_list, product_id, sizeof(int64_t), db_sqlite_fill_int64,
                      (void **)ret_ids, ret_count);
}

/* --- rollouts --- */

struct rollout_insert_arg {
    struct rollout *r;
    bool supersede;
};

static int rollout_insert_locked(struct db_sqlite *sq, void *arg)
{
    struct rollout_insert_arg *a = arg;
    struct rollout *r = a->r;
    char plan[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(&r->plan, plan, sizeof(plan));
    sqlite3_stmt *s = db_sqlite_stmt(sq, &rollout_insert);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->product_id);
    sqlite3_bind_text(s, 2, r->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, r->release_id);
    sqlite3_bind_int(s, 4, (int)r->mode);
    sqlite3_bind_int(s, 5, (int)r->kind);
    sqlite3_bind_int(s, 6, (int)r->state);
    sqlite3_bind_text(s, 7, plan, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, r->plan.interval_s);
    sqlite3_bind_int(s, 9, (int)r->stage);
    sqlite3_bind_int64(s, 10, r->stage_started_ms);
    sqlite3_bind_int64(s, 11, r->paused_ms);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)r->salt[0]);
    sqlite3_bind_int64(s, 13, (sqlite3_int64)r->salt[1]);
    bind_id_or_null(s, 14, r->from_release_id);
    sqlite3_bind_int64(s, 15, r->ack_failed);
    sqlite3_bind_text(s, 16, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 17, r->actor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 18, r->created_ms);
    sqlite3_bind_int64(s, 19, r->updated_ms);
    sqlite3_bind_int64(s, 20, r->ack_silent);
    int err = db_sqlite_run(sq, s, "insert rollout");
    if (err < 0)
        return err == -EEXIST ? -EIO : err; /* no unique key but the id: not a taken name */
    int64_t id = sqlite3_last_insert_rowid(sq->conn);
    if (a->supersede) {
        char reason[FLEET_REASON_BYTES + 1];
        snprintf(reason, sizeof(reason), "superseded by rollout %lld", (long long)id);
        if (!(s = db_sqlite_stmt(sq, &rollout_supersede)))
            return -EIO;
        sqlite3_bind_int64(s, 1, r->product_id);
        sqlite3_bind_text(s, 2, r->channel, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, (int)r->mode);
        sqlite3_bind_int64(s, 4, id);
        sqlite3_bind_text(s, 5, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 6, r->created_ms);
        if ((err = db_sqlite_run(sq, s, "supersede rollouts")) < 0)
            return err;
    }
    r->id = id;
    return 0;
}

int db_sqlite_rollout_insert(struct db *db, struct rollout *r, bool supersede)
{
    struct rollout_insert_arg a = {r, supersede};
    int e = fleet_write(db, rollout_insert_locked, &a, true);
    if (e == 0) {
        r->read_state = r->state;
        r->read_stage = r->stage;
    }
    return e;
}

static int rollout_update_locked(struct db_sqlite *sq, void *arg)
{
    const struct rollout *r = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &rollout_update);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int(s, 2, (int)r->state);
    sqlite3_bind_int(s, 3, (int)r->stage);
    sqlite3_bind_int64(s, 4, r->stage_started_ms);
    sqlite3_bind_int64(s, 5, r->paused_ms);
    sqlite3_bind_int64(s, 6, r->ack_failed);
    sqlite3_bind_text(s, 7, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, r->updated_ms);
    sqlite3_bind_int64(s, 9, r->ack_silent);
    sqlite3_bind_int(s, 10, (int)r->read_state);
    sqlite3_bind_int(s, 11, (int)r->read_stage);
    int e = db_sqlite_run_one(sq, s, "update rollout");
    if (e == -ENOENT) { /* no such rollout, or it changed since it was read */
        sqlite3_stmt *g = db_sqlite_stmt(sq, &rollout_exists);
        if (g) {
            sqlite3_bind_int64(g, 1, r->id);
            int64_t found = 0;
            if (db_sqlite_get(sq, g, db_sqlite_fill_int64, &found, "find rollout") == 0)
                e = -ESTALE;
        }
    }
    return e;
}

int db_sqlite_rollout_update(struct db *db, struct rollout *r)
{
    int e = fleet_write(db, rollout_update_locked, r, true);
    if (e == 0) {
        r->read_state = r->state;
        r->read_stage = r->stage;
    }
    return e;
}

static void fill_rollout(sqlite3_stmt *s, void *out)
{
    struct rollout *r = out;
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->product_id = sqlite3_column_int64(s, 1);
    db_sqlite_column_text(s, 2, r->channel, sizeof(r->channel));
    r->release_id = sqlite3_column_int64(s, 3);
    db_sqlite_column_text(s, 4, r->version, sizeof(r->version));
    r->mode = column_mode(s, 5);
    int kind = sqlite3_column_int(s, 6), state = sqlite3_column_int(s, 7);
    r->kind = kind >= 0 && kind <= ROLLOUT_REVERT ? (enum rollout_kind)kind : ROLLOUT_NORMAL;
    /* A state a newer otad wrote is none this one would offer from. */
    r->state =
        state >= 0 && state < ROLLOUT_STATE_COUNT ? (enum rollout_state)state : ROLLOUT_ABORTED;
    char whose[32];
    snprintf(whose, sizeof(whose), "rollout %lld", (long long)r->id);
    column_plan(s, 8, &r->plan, whose);
    int64_t stage = sqlite3_column_int64(s, 9);
    r->stage = stage >= 0 && stage < (int64_t)r->plan.stage_count ? (unsigned)stage : 0;
    r->stage_started_ms = sqlite3_column_int64(s, 10);
    r->paused_ms = sqlite3_column_int64(s, 11);
    r->salt[0] = (uint64_t)sqlite3_column_int64(s, 12);
    r->salt[1] = (uint64_t)sqlite3_column_int64(s, 13);
    r->from_release_id = sqlite3_column_int64(s, 14);
    r->ack_failed = (uint32_t)sqlite3_column_int64(s, 15);
    db_sqlite_column_text(s, 16, r->reason, sizeof(r->reason));
    db_sqlite_column_text(s, 17, r->actor, sizeof(r->actor));
    r->created_ms = sqlite3_column_int64(s, 18);
    r->updated_ms = sqlite3_column_int64(s, 19);
    r->ack_silent = (uint32_t)sqlite3_column_int64(s, 20);
    r->read_state = r->state;
    r->read_stage = r->stage;
}

int db_sqlite_rollout_get(struct db *db, int64_t id, struct rollout *ret)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &rollout_get);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        r = db_sqlite_get(sq, s, fill_rollout, ret, "get rollout");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_rollout_list(struct db *db, int64_t product_id, bool active_only,
                           struct rollout **ret, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &rollout_list);
    if (s) {
        bind_id_or_null(s, 1, product_id);
        sqlite3_bind_int(s, 2, active_only);
        r = db_sqlite_collect_rows(sq, s, sizeof(struct rollout), fill_rollout, (void **)ret,
                                   ret_count);
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_rollout_counts(struct db *db, int64_t rollout_id, struct rollout_counts *ret_stages,
                             unsigned stage_count, struct rollout_counts *ret_total)
{
    struct rollout_counts total;
    memset(&total, 0, sizeof(total));
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &rollout_counts);
    if (s) {
        if (ret_stages)
            memset(ret_stages, 0, stage_count * sizeof(*ret_stages));
        sqlite3_bind_int64(s, 1, rollout_id);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t stage = sqlite3_column_int64(s, 0);
            int outcome = sqlite3_column_int(s, 1);
            uint64_t n = (uint64_t)sqlite3_column_int64(s, 2);
            uint64_t cuts = (uint64_t)sqlite3_column_int64(s, 3);
            struct rollout_counts *one[2] = {&total, NULL};
            if (ret_stages && stage >= 0 && stage < (int64_t)stage_count)
                one[1] = &ret_stages[stage];
            for (int i = 0; i < 2 && one[i]; i++) {
                one[i]->offered += n;
                if (outcome >= 0 && outcome < OUTCOME_COUNT)
                    one[i]->by_outcome[outcome] += n;
                one[i]->interruptions += cuts;
            }
        }
        r = rc == SQLITE_DONE ? 0 : db_sqlite_fail(sq, "count rollout devices");
        sqlite3_reset(s);
    }
    db_sqlite_unlock(sq);
    if (r == 0 && ret_total)
        *ret_total = total;
    return r;
}

static void fill_rollout_device(sqlite3_stmt *s, void *out)
{
    struct rollout_device *d = out;
    memset(d, 0, sizeof(*d));
    d->rollout_id = sqlite3_column_int64(s, 0);
    d->product_id = sqlite3_column_int64(s, 1);
    d->mac = (uint64_t)sqlite3_column_int64(s, 2);
    d->stage = (unsigned)sqlite3_column_int(s, 3);
    int outcome = sqlite3_column_int(s, 4);
    d->outcome =
        outcome >= 0 && outcome < OUTCOME_COUNT ? (enum device_outcome)outcome : OUTCOME_OFFERED;
    d->from_release_id = sqlite3_column_int64(s, 5);
    db_sqlite_column_text(s, 6, d->from_version, sizeof(d->from_version));
    d->offered_ms = sqlite3_column_int64(s, 7);
    d->served_ms = sqlite3_column_int64(s, 8);
    d->outcome_ms = sqlite3_column_int64(s, 9);
    d->deadline_ms = sqlite3_column_int64(s, 10);
    d->interruptions = (uint32_t)sqlite3_column_int64(s, 11);
}

int db_sqlite_rollout_devices_open(struct db *db, struct rollout_device **ret, size_t *ret_count)
{
    return fleet_list(db, &rollout_devices_open, 0, sizeof(struct rollout_device),
                      fill_rollout_device, (void **)ret, ret_count);
}

/* Q for one device row by (?1 KEY, ?2 MAC). */
static int rollout_device_one(struct db *db, const struct db_sqlite_query *q, int64_t key,
                              uint64_t mac, struct rollout_device *ret)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, q);
    if (s) {
        sqlite3_bind_int64(s, 1, key);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)mac);
        r = db_sqlite_get(sq, s, fill_rollout_device, ret, "get rollout device");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_rollout_device_get(struct db *db, int64_t rollout_id, uint64_t mac,
                                 struct rollout_device *ret)
{
    return rollout_device_one(db, &rollout_device_get, rollout_id, mac, ret);
}

int db_sqlite_rollout_device_last(struct db *db, int64_t product_id, uint64_t mac,
                                  struct rollout_device *ret)
{
    return rollout_device_one(db, &rollout_device_last, product_id, mac, ret);
}

int db_sqlite_rollout_failed_macs(struct db *db, int64_t rollout_id, uint64_t **ret_macs,
                                  size_t *ret_count)
{
    /* A MAC is 48 bits: as an int64_t column it reads the same as a uint64_t. */
    return fleet_list(db, &rollout_failed_macs, rollout_id, sizeof(uint64_t), db_sqlite_fill_int64,
                      (void **)ret_macs, ret_count);
}

/* --- history and events --- */

/* Adds a line to the history of MAC of PRODUCT_ID and drops its lines past FLEET_HISTORY_MAX. */
static int history_write(struct db_sqlite *sq, int64_t product_id, uint64_t mac, int64_t at_ms,
                         enum fleet_event_kind kind, int64_t rollout_id, const char *version,
                         enum device_outcome outcome)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &history_add);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, product_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)mac);
    sqlite3_bind_int64(s, 3, at_ms);
    sqlite3_bind_int(s, 4, (int)kind);
    sqlite3_bind_int64(s, 5, rollout_id);
    sqlite3_bind_text(s, 6, version, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, (int)outcome);
    int err = db_sqlite_run(sq, s, "add history");
    if (err < 0)
        return err == -EEXIST ? -EIO : err;
    if (!(s = db_sqlite_stmt(sq, &history_trim)))
        return -EIO;
    sqlite3_bind_int64(s, 1, product_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)mac);
    sqlite3_bind_int(s, 3, (int)FLEET_HISTORY_MAX - 1);
    return db_sqlite_run(sq, s, "trim history");
}

/* Applies E. An event of no row changes nothing. */
static int fleet_event_apply(struct db_sqlite *sq, const struct fleet_event *e)
{
    static const struct {
        const struct db_sqlite_query *q;
        enum device_outcome outcome; /* what the device's standing becomes */
    } by_kind[] = {
        [FLEET_EVENT_OFFER] = {&fleet_offer, OUTCOME_OFFERED},
        [FLEET_EVENT_SERVED] = {&fleet_served, OUTCOME_SERVED},
        [FLEET_EVENT_CUT] = {&fleet_cut, OUTCOME_INTERRUPTED},
        [FLEET_EVENT_OUTCOME] = {&fleet_outcome, OUTCOME_OFFERED},
    };
    if ((unsigned)e->kind >= ARRAY_SIZE(by_kind) ||
        (e->kind == FLEET_EVENT_OUTCOME && (unsigned)e->outcome >= OUTCOME_COUNT))
        return 0; /* not an event this otad knows: skipped, as one of no row */
    enum device_outcome outcome =
        e->kind == FLEET_EVENT_OUTCOME ? e->outcome : by_kind[e->kind].outcome;
    sqlite3_stmt *s = db_sqlite_stmt(sq, by_kind[e->kind].q);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, e->rollout_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)e->mac);
    sqlite3_bind_int64(s, 3, e->product_id);
    sqlite3_bind_int64(s, 4, e->at_ms);
    if (e->kind == FLEET_EVENT_OFFER) {
        sqlite3_bind_int(s, 5, (int)e->stage);
        bind_id_or_null(s, 6, e->from_release_id);
    } else if (e->kind == FLEET_EVENT_SERVED) {
        sqlite3_bind_int64(s, 5, sq->db.fleet_timing.deadline_margin_ms);
    } else if (e->kind == FLEET_EVENT_OUTCOME) {
        sqlite3_bind_int(s, 5, (int)outcome);
    }
    int err = db_sqlite_run(sq, s, "apply fleet event");
    if (err < 0)
        return err == -EEXIST ? -EIO : err;
    if (sqlite3_changes(sq->conn) == 0)
        return 0; /* no such rollout or row */
    return history_write(sq, e->product_id, e->mac, e->at_ms, e->kind, e->rollout_id, e->version,
                         outcome);
}

struct events {
    const struct fleet_event *list;
    size_t count;
};

static int fleet_events_apply_locked(struct db_sqlite *sq, void *arg)
{
    const struct events *ev = arg;
    int err = 0;
    /* A failure needs no catalog rebuild: the check-in path's tracker already knows it. */
    for (size_t i = 0; err == 0 && i < ev->count; i++)
        err = fleet_event_apply(sq, &ev->list[i]);
    return err;
}

int db_sqlite_fleet_events_apply(struct db *db, const struct fleet_event *events, size_t count,
                                 struct db_batch *batch)
{
    (void)batch; /* in-process: a COMMIT's outcome is never unknown */
    struct events ev = {events, count};
    return fleet_write(db, fleet_events_apply_locked, &ev, false);
}

struct silent {
    int64_t now_ms;
    struct rollout_device *ret;
    size_t max, count;
};

static int rollout_mark_silent_locked(struct db_sqlite *sq, void *arg)
{
    struct silent *a = arg;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &rollout_silent_due);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, a->now_ms);
    struct rollout_device *due = NULL;
    size_t count = 0;
    int err =
        db_sqlite_collect_rows(sq, s, sizeof(*due), fill_rollout_device, (void **)&due, &count);
    for (size_t i = 0; err == 0 && i < count; i++) {
        struct rollout_device *d = &due[i];
        if (!(s = db_sqlite_stmt(sq, &rollout_silent_mark))) {
            err = -EIO;
            break;
        }
        sqlite3_bind_int64(s, 1, d->rollout_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)d->mac);
        sqlite3_bind_int64(s, 3, a->now_ms);
        err = db_sqlite_run(sq, s, "mark silent");
        if (err == 0)
            err = history_write(sq, d->product_id, d->mac, a->now_ms, FLEET_EVENT_OUTCOME,
                                d->rollout_id, "", OUTCOME_SILENT);
        d->outcome = OUTCOME_SILENT;
        d->outcome_ms = a->now_ms;
    }
    if (err == 0) {
        if (a->ret && count)
            memcpy(a->ret, due, (count < a->max ? count : a->max) * sizeof(*due));
        a->count = count;
    }
    free(due);
    return err;
}

int db_sqlite_rollout_mark_silent(struct db *db, int64_t now_ms, struct rollout_device *ret,
                                  size_t max, size_t *ret_count)
{
    struct silent a = {now_ms, ret, max, 0};
    int err = fleet_write(db, rollout_mark_silent_locked, &a, false);
    if (err == 0)
        *ret_count = a.count;
    return err;
}

int db_sqlite_device_history(struct db *db, int64_t product_id, uint64_t mac,
                             struct device_event *ret, size_t max, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    size_t n = 0;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &history_list);
    if (s) {
        sqlite3_bind_int64(s, 1, product_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)mac);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)(max < INT64_MAX ? max : INT64_MAX));
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < max) {
            struct device_event *e = &ret[n++];
            memset(e, 0, sizeof(*e));
            e->at_ms = sqlite3_column_int64(s, 0);
            int kind = sqlite3_column_int(s, 1), outcome = sqlite3_column_int(s, 4);
            e->kind = kind >= 0 && kind <= FLEET_EVENT_OUTCOME ? (enum fleet_event_kind)kind
                                                               : FLEET_EVENT_OUTCOME;
            e->rollout_id = sqlite3_column_int64(s, 2);
            db_sqlite_column_text(s, 3, e->version, sizeof(e->version));
            e->outcome = outcome >= 0 && outcome < OUTCOME_COUNT ? (enum device_outcome)outcome
                                                                 : OUTCOME_OFFERED;
        }
        r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_sqlite_fail(sq, "read history");
        sqlite3_reset(s);
    }
    db_sqlite_unlock(sq);
    if (r == 0)
        *ret_count = n;
    return r;
}
