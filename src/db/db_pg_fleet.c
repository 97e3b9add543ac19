/*
 * The fleet control tables of db_fleet.h on PostgreSQL (migration 004),
 * function for function beside db_sqlite_fleet.c: channel settings,
 * groups and their MAC lists, pins and holds, deployments and withdrawn
 * releases, rollouts, each device's standing in a rollout and its bounded
 * history. db_device_get, though declared in db_fleet.h, is
 * db_pg_devices.c's, beside the registry's other reads of a device row (as
 * db_sqlite_device_get is db_sqlite_devices.c's).
 *
 * Where it differs from SQLite, and why: SQLite's BEGIN IMMEDIATE let one
 * writer at a time in; here several otad nodes write at once under READ
 * COMMITTED, so
 * - every write runs in db_pg_transaction, which retries the whole
 *   transaction up to DB_PG_ATTEMPTS times on -EAGAIN (a deadlock or
 *   serialization failure with another node), -EIO once every attempt lost;
 * - db_fleet_events_apply and db_rollout_mark_silent first lock the
 *   registry rows of the batch's devices (SELECT ... ORDER BY product_id,
 *   mac FOR NO KEY UPDATE, one statement, key order): two nodes applying
 *   events of the same devices then take turns device by device and never
 *   deadlock, a history line's seq (max + 1) is never taken twice, and the
 *   counters (interruptions = interruptions + 1, an outcome set in one
 *   UPDATE) come out exactly as if one node had applied both batches. A
 *   device without a registry row gets no rollout row (its OFFER is
 *   skipped), so nothing of it is left unlocked; a history seq taken twice
 *   all the same (a row that appeared meanwhile) is -EAGAIN and retried;
 * - db_fleet_events_apply sends its whole batch in one pipeline (libpq's
 *   pipeline mode: the lock, one statement per event, one trim of the
 *   batch's histories), so a batch costs BEGIN, the pipeline and COMMIT,
 *   three round trips whatever its size, where SQLite's loop makes up to
 *   three calls per event. The event's statement writes its history line
 *   itself (a data-modifying CTE), since nothing can be asked between two
 *   statements of a pipeline, and the four kinds share one statement text,
 *   parsed once per batch (fleet_event_sql);
 * - db_rollout_mark_silent marks with "AND outcome = 1" and reports only
 *   the rows it changed (another node may have marked one first, or the
 *   device reported);
 * - db_rollout_insert locks the product's row (FOR NO KEY UPDATE) before it
 *   supersedes, so two nodes starting rollouts on one channel cannot both
 *   stay active;
 * - db_channel_put reads created_ms back from its upsert (RETURNING);
 *   db_group_macs_change writes the MACs as one sorted array; withdrawals
 *   go in id order; the group's row is held (FOR KEY SHARE) while its MACs
 *   change.
 * The SQL: $n parameters with their types where PostgreSQL cannot infer
 * them ("$1::bigint IS NULL"), COALESCE, RETURNING id, ON CONFLICT DO
 * NOTHING for INSERT OR IGNORE. The generation is bumped exactly where the
 * SQLite file bumps it. Product settings are db_pg_products.c's, the
 * learned interval db_pg_devices.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db_fleet.h"
#include "db/pg_internal.h"

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
    "r.id, r.product_id, r.channel, r.release_id, COALESCE(rel.version, ''), r.mode, r.kind, "     \
    "r.state, r.plan, r.stage, r.stage_started_ms, r.paused_ms, r.salt0, r.salt1, "                \
    "r.from_release_id, r.ack_failed, r.reason, r.actor, r.created_ms, r.updated_ms, "             \
    "r.ack_silent"
#define ROLLOUT_DEVICE_COLUMNS                                                                     \
    "d.rollout_id, d.product_id, d.mac, d.stage, d.outcome, d.from_release_id, d.from_version, "   \
    "d.offered_ms, d.served_ms, d.outcome_ms, d.deadline_ms, d.interruptions"

/* A replaced channel keeps the time it was first set: RETURNING reads it back. */
static const char channel_put_sql[] =
    "INSERT INTO channels (" CHANNEL_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (product_id, name) DO UPDATE SET deploy = excluded.deploy, "
    "on_new = excluded.on_new, plan = excluded.plan, window_start = excluded.window_start, "
    "window_end = excluded.window_end, window_tz = excluded.window_tz RETURNING created_ms";
static const char channel_get_sql[] =
    "SELECT " CHANNEL_COLUMNS " FROM channels WHERE product_id = $1 AND name = $2";
static const char channel_list_sql[] = "SELECT " CHANNEL_COLUMNS " FROM channels "
                                       "WHERE $1::bigint IS NULL OR product_id = $1::bigint "
                                       "ORDER BY product_id, name";
static const char channel_delete_sql[] = "DELETE FROM channels WHERE product_id = $1 AND name = $2";

static const char group_insert_sql[] =
    "INSERT INTO device_groups (product_id, name, channel, match, value, priority, has_window, "
    "window_start, window_end, window_tz, created_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
static const char group_update_sql[] =
    "UPDATE device_groups SET name = $2, channel = $3, match = $4, value = $5, priority = $6, "
    "has_window = $7, window_start = $8, window_end = $9, window_tz = $10 WHERE id = $1";
static const char group_delete_macs_sql[] =
    "DELETE FROM group_macs WHERE group_id = "
    "(SELECT id FROM device_groups WHERE product_id = $1 AND name = $2)";
static const char group_delete_sql[] =
    "DELETE FROM device_groups WHERE product_id = $1 AND name = $2";
static const char group_get_sql[] =
    "SELECT " GROUP_COLUMNS " FROM device_groups WHERE product_id = $1 AND name = $2";
static const char group_list_sql[] = "SELECT " GROUP_COLUMNS " FROM device_groups "
                                     "WHERE $1::bigint IS NULL OR product_id = $1::bigint "
                                     "ORDER BY product_id, name";
/* The group stays while its MACs change: a delete waits for this transaction. */
static const char group_exists_sql[] = "SELECT id FROM device_groups WHERE id = $1 FOR KEY SHARE";
static const char group_macs_add_sql[] =
    "INSERT INTO group_macs (group_id, mac) SELECT $1, m FROM unnest($2::bigint[]) AS m "
    "ORDER BY m ON CONFLICT DO NOTHING";
static const char group_macs_remove_sql[] =
    "DELETE FROM group_macs WHERE group_id = $1 AND mac = ANY($2::bigint[])";
static const char group_mac_list_sql[] =
    "SELECT mac, group_id FROM group_macs "
    "WHERE $1::bigint IS NULL OR group_id = $1::bigint ORDER BY mac, group_id";

/* A pin names a release of its own product, or none (a hold): else no row is written. */
static const char pin_put_sql[] =
    "INSERT INTO pins (product_id, mac, release_id, note, created_ms) "
    "SELECT $1::bigint, $2::bigint, $3::bigint, $4::text, $5::bigint "
    "WHERE $3::bigint IS NULL OR EXISTS "
    "(SELECT 1 FROM releases WHERE id = $3::bigint AND product_id = $1::bigint) "
    "ON CONFLICT (product_id, mac) DO UPDATE SET release_id = excluded.release_id, "
    "note = excluded.note, created_ms = excluded.created_ms";
static const char pin_delete_sql[] = "DELETE FROM pins WHERE product_id = $1 AND mac = $2";
static const char pin_list_sql[] =
    "SELECT p.product_id, p.mac, COALESCE(p.release_id, 0), COALESCE(r.version, ''), "
    "COALESCE(r.mode, 0), p.note, p.created_ms FROM pins p "
    "LEFT JOIN releases r ON r.id = p.release_id "
    "WHERE $1::bigint IS NULL OR p.product_id = $1::bigint ORDER BY p.product_id, p.mac";

static const char deployment_set_sql[] =
    "INSERT INTO deployments (product_id, channel, mode, release_id, updated_ms) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (product_id, channel, mode) DO UPDATE SET "
    "release_id = excluded.release_id, updated_ms = excluded.updated_ms";
static const char deployment_list_sql[] =
    "SELECT product_id, channel, mode, COALESCE(release_id, 0), updated_ms FROM deployments "
    "WHERE $1::bigint IS NULL OR product_id = $1::bigint ORDER BY product_id, channel, mode";
static const char release_withdraw_sql[] = "UPDATE releases SET withdrawn_ms = $2 WHERE id = $1";
static const char withdrawn_list_sql[] = "SELECT id FROM releases WHERE withdrawn_ms != 0 "
                                         "AND ($1::bigint IS NULL OR product_id = $1::bigint) "
                                         "ORDER BY id";

static const char rollout_insert_sql[] =
    "INSERT INTO rollouts (product_id, channel, release_id, mode, kind, state, plan, "
    "interval_s, stage, stage_started_ms, paused_ms, salt0, salt1, from_release_id, "
    "ack_failed, reason, actor, created_ms, updated_ms, ack_silent) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
    "$18, $19, $20) RETURNING id";
/* Taken before a supersede: one node at a time starts a rollout of the product. */
static const char rollout_lock_product_sql[] =
    "SELECT id FROM products WHERE id = $1 FOR NO KEY UPDATE";
static const char rollout_supersede_sql[] =
    "UPDATE rollouts SET state = 5, reason = $5, updated_ms = $6 "
    "WHERE product_id = $1 AND channel = $2 AND mode = $3 AND id != $4 "
    "AND state IN " ACTIVE_STATES;
static const char rollout_update_sql[] =
    "UPDATE rollouts SET state = $2, stage = $3, stage_started_ms = $4, paused_ms = $5, "
    "ack_failed = $6, reason = $7, updated_ms = $8, ack_silent = $9 "
    "WHERE id = $1 AND state = $10 AND stage = $11";
static const char rollout_get_sql[] = "SELECT " ROLLOUT_COLUMNS " FROM rollouts r "
                                      "LEFT JOIN releases rel ON rel.id = r.release_id "
                                      "WHERE r.id = $1";
static const char rollout_list_sql[] =
    "SELECT " ROLLOUT_COLUMNS " FROM rollouts r LEFT JOIN releases rel ON rel.id = r.release_id "
    "WHERE ($1::bigint IS NULL OR r.product_id = $1::bigint) "
    "AND ($2::bigint = 0 OR r.state IN " LISTED_STATES ") ORDER BY r.id DESC";
static const char rollout_counts_sql[] =
    "SELECT stage, outcome, count(*), sum(interruptions) FROM rollout_devices "
    "WHERE rollout_id = $1 GROUP BY stage, outcome";
static const char rollout_devices_open_sql[] =
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "JOIN rollouts r ON r.id = d.rollout_id "
    "WHERE (r.state IN " COUNTED_STATES " AND d.outcome != 3) OR d.outcome = 4 "
    "ORDER BY d.rollout_id, d.mac";
static const char rollout_device_get_sql[] =
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "WHERE d.rollout_id = $1 AND d.mac = $2";
static const char rollout_device_last_sql[] =
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "WHERE d.product_id = $1 AND d.mac = $2 ORDER BY d.offered_ms DESC, d.rollout_id DESC "
    "LIMIT 1";
static const char rollout_failed_macs_sql[] =
    "SELECT mac FROM rollout_devices WHERE rollout_id = $1 AND outcome = 4 ORDER BY mac";
static const char rollout_silent_due_sql[] =
    "SELECT " ROLLOUT_DEVICE_COLUMNS " FROM rollout_devices d "
    "JOIN rollouts r ON r.id = d.rollout_id WHERE d.outcome = 1 AND d.deadline_ms < $1 "
    "AND r.state IN " COUNTED_STATES " ORDER BY d.deadline_ms, d.rollout_id, d.mac";
/* Only a row still served: another node may have marked it, or the device reported. */
static const char rollout_silent_mark_sql[] =
    "UPDATE rollout_devices SET outcome = 5, outcome_ms = $3 "
    "WHERE rollout_id = $1 AND mac = $2 AND outcome = 1";

/*
 * The registry rows of a batch's devices ($1 products, $2 MACs), locked in
 * key order: whoever holds them is the one node writing those devices'
 * rollout rows and history (the head comment).
 */
static const char devices_lock_sql[] = "SELECT 1 FROM devices WHERE (product_id, mac) IN "
                                       "(SELECT * FROM unnest($1::bigint[], $2::bigint[])) "
                                       "ORDER BY product_id, mac FOR NO KEY UPDATE";

/*
 * Any event of db_fleet_events_apply, one statement parsed once per batch
 * and run for each event in one pipeline: $1 rollout, $2 MAC, $3 product,
 * $4 at_ms, $5 the version for the history, $6 an OFFER's stage, $7 its
 * from_release_id, $8 the kind, $9 the outcome the row (and its line)
 * takes, $10 the connection's deadline margin. One text for the four kinds is what lets the server
 * parse it once (an unnamed statement holds one text; db_pg_pipeline_prepare): per kind it writes
 * what SQLite's statement of that kind writes and leaves the rest, the other kind's part matching
 * no row.
 * - OFFER ($8 = 0): the row is created or set back to offered. The device
 *   starts from what the registry row says it runs (written before the
 *   events in the flusher's batch), else the version of the release it ran.
 * - SERVED (1): outcome and served_ms; the deadline is 3 learned intervals
 *   once there are 3, else 3 of the plan's; + the margin (5 min unless set).
 * - CUT (2): outcome, interruptions + 1. OUTCOME (3): outcome, outcome_ms.
 * The event's RETURNING feeds its history line: a line only when the event
 * changed a row, which SQLite's loop decides from sqlite3_changes() and a
 * pipeline cannot ask between statements. The line is numbered after the
 * device's others of the same millisecond, earlier events of the batch
 * included.
 */
static const char fleet_event_sql[] =
    "WITH offered AS ("
    "INSERT INTO rollout_devices (rollout_id, mac, product_id, stage, outcome, "
    "from_release_id, from_version, offered_ms) "
    "SELECT id, $2::bigint, product_id, $6::bigint, 0, $7::bigint, COALESCE("
    "(SELECT version FROM devices WHERE product_id = $3::bigint AND mac = $2::bigint), "
    "(SELECT version FROM releases WHERE id = $7::bigint), ''), $4::bigint "
    "FROM rollouts WHERE $8::bigint = 0 AND id = $1::bigint AND product_id = $3::bigint "
    "AND EXISTS (SELECT 1 FROM devices WHERE product_id = $3::bigint AND mac = $2::bigint) "
    "ON CONFLICT (rollout_id, mac) DO UPDATE SET outcome = 0, offered_ms = excluded.offered_ms "
    "RETURNING 1), "
    "updated AS (UPDATE rollout_devices SET outcome = $9::bigint, "
    "served_ms = CASE WHEN $8::bigint = 1 THEN $4::bigint ELSE served_ms END, "
    "deadline_ms = CASE WHEN $8::bigint = 1 THEN $4::bigint + 3 * COALESCE("
    "(SELECT interval_ms FROM devices v WHERE v.product_id = $3::bigint AND v.mac = $2::bigint "
    "AND v.intervals >= 3), "
    "(SELECT interval_s * 1000 FROM rollouts WHERE id = $1::bigint)) + $10::bigint "
    "ELSE deadline_ms END, "
    "interruptions = interruptions + CASE WHEN $8::bigint = 2 THEN 1 ELSE 0 END, "
    "outcome_ms = CASE WHEN $8::bigint = 3 THEN $4::bigint ELSE outcome_ms END "
    "WHERE $8::bigint != 0 AND rollout_id = $1::bigint AND mac = $2::bigint "
    "AND product_id = $3::bigint RETURNING 1) "
    "INSERT INTO device_events (product_id, mac, at_ms, seq, kind, rollout_id, version, outcome) "
    "SELECT $3::bigint, $2::bigint, $4::bigint, COALESCE((SELECT max(seq) + 1 FROM device_events "
    "WHERE product_id = $3::bigint AND mac = $2::bigint AND at_ms = $4::bigint), 0), $8::bigint, "
    "$1::bigint, $5::text, $9::bigint "
    "FROM (SELECT 1 FROM offered UNION ALL SELECT 1 FROM updated) AS changed";
_Static_assert(FLEET_EVENT_OFFER == 0 && FLEET_EVENT_SERVED == 1 && FLEET_EVENT_CUT == 2 &&
                   FLEET_EVENT_OUTCOME == 3,
               "event kinds as the SQL names them");

/*
 * Keeps the newest $3 + 1 lines of each device of the batch ($1 products,
 * $2 MACs, each device once), after all its events: history_trim_sql's
 * DELETE for many devices at once, each device's oldest line kept found
 * once (one short index walk), not once per line. Trimming once at the end
 * keeps exactly the lines trimming after each line would
 * (fleet_events_apply_locked).
 */
static const char history_trim_batch_sql[] =
    "DELETE FROM device_events e USING (SELECT d.product_id, d.mac, c.at_ms, c.seq "
    "FROM unnest($1::bigint[], $2::bigint[]) AS d (product_id, mac) "
    "CROSS JOIN LATERAL (SELECT at_ms, seq FROM device_events k "
    "WHERE k.product_id = d.product_id AND k.mac = d.mac "
    "ORDER BY at_ms DESC, seq DESC LIMIT 1 OFFSET $3::bigint) AS c) AS cut "
    "WHERE e.product_id = cut.product_id AND e.mac = cut.mac "
    "AND (e.at_ms, e.seq) < (cut.at_ms, cut.seq)";

/* A history line, numbered after the device's others of the same millisecond. */
static const char history_add_sql[] =
    "INSERT INTO device_events (product_id, mac, at_ms, seq, kind, rollout_id, version, outcome) "
    "VALUES ($1, $2, $3, COALESCE((SELECT max(seq) + 1 FROM device_events "
    "WHERE product_id = $1 AND mac = $2 AND at_ms = $3), 0), $4, $5, $6, $7)";
/* Keeps the device's newest $3 + 1 lines. */
static const char history_trim_sql[] =
    "DELETE FROM device_events WHERE product_id = $1 AND mac = $2 AND (at_ms, seq) < "
    "(SELECT at_ms, seq FROM device_events WHERE product_id = $1 AND mac = $2 "
    "ORDER BY at_ms DESC, seq DESC LIMIT 1 OFFSET $3)";
static const char history_list_sql[] =
    "SELECT at_ms, kind, rollout_id, version, outcome FROM device_events "
    "WHERE product_id = $1 AND mac = $2 ORDER BY at_ms DESC, seq DESC LIMIT $3";

/* --- shared --- */

/* Binds ID as the next parameter, NULL when 0 (no release, every product). */
static void param_id_or_null(struct db_pg_params *p, int64_t id)
{
    if (id)
        db_pg_param_int(p, id);
    else
        db_pg_param_text(p, NULL);
}

/* Runs list query SQL with KEY as $1 (0: NULL, every product) and collects its rows. */
static int fleet_list(struct db *db, const char *sql, int64_t key, size_t elem, db_pg_fill_fn fill,
                      void **ret_items, size_t *ret_count, const char *what)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    param_id_or_null(&p, key);
    int r = db_pg_collect_rows(pg, sql, &p, elem, fill, ret_items, ret_count, what);
    db_pg_unlock(pg);
    return r;
}

/* Binds ($1, $2) = (KEY, TEXT) to SQL, reads one row into OUT with FILL. */
static int fleet_get_by_name(struct db *db, const char *sql, int64_t key, const char *text,
                             db_pg_fill_fn fill, void *out, const char *what)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, key);
    db_pg_param_text(&p, text);
    int r = db_pg_get(pg, sql, &p, fill, out, what);
    db_pg_unlock(pg);
    return r;
}

/* Column COL as a plan: the defaults under what the stored text says. */
static void column_plan(const PGresult *res, int row, int col, struct rollout_plan *plan,
                        const char *whose)
{
    char text[ROLLOUT_PLAN_TEXT_BYTES];
    struct reason why;
    rollout_plan_default(plan);
    db_pg_text(res, row, col, text, sizeof(text));
    if (rollout_plan_parse(plan, text, &why) < 0) {
        log_error("database: %s: stored plan '%s': %s; using the defaults", whose, text, why.text);
        rollout_plan_default(plan);
    }
}

static void column_window(const PGresult *res, int row, int col, struct fleet_window *w)
{
    int64_t start = db_pg_int(res, row, col), end = db_pg_int(res, row, col + 1);
    w->start_min = start >= 0 && start < 1440 ? (uint16_t)start : 0;
    w->end_min = end >= 0 && end < 1440 ? (uint16_t)end : 0;
    db_pg_text(res, row, col + 2, w->tz, sizeof(w->tz));
}

static void param_window(struct db_pg_params *p, const struct fleet_window *w)
{
    db_pg_param_int(p, w->start_min);
    db_pg_param_int(p, w->end_min);
    db_pg_param_text(p, w->tz);
}

static enum fw_mode column_mode(const PGresult *res, int row, int col)
{
    return db_pg_int(res, row, col) == FW_MODE_FS ? FW_MODE_FS : FW_MODE_SKETCH;
}

/* Ascending, for the key order of a batch. */
static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* --- channels --- */

static int channel_put_locked(struct db_pg *pg, void *arg)
{
    struct channel *c = arg;
    char plan[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(&c->plan, plan, sizeof(plan));
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, c->product_id);
    db_pg_param_text(&p, c->name);
    db_pg_param_int(&p, (int64_t)c->deploy);
    db_pg_param_int(&p, (int64_t)c->on_new);
    db_pg_param_text(&p, plan);
    param_window(&p, &c->window);
    db_pg_param_int(&p, time_now_ms());
    return db_pg_get(pg, channel_put_sql, &p, db_pg_fill_int64, &c->created_ms, "put channel");
}

int db_pg_channel_put(struct db *db, struct channel *c)
{
    return db_pg_transaction(db, channel_put_locked, c, true, "put channel");
}

static void fill_channel(const PGresult *res, int row, void *out)
{
    struct channel *c = out;
    memset(c, 0, sizeof(*c));
    c->product_id = db_pg_int(res, row, 0);
    db_pg_text(res, row, 1, c->name, sizeof(c->name));
    int64_t deploy = db_pg_int(res, row, 2);
    c->deploy =
        deploy >= 0 && deploy <= DEPLOY_MANUAL ? (enum deploy_policy)deploy : DEPLOY_IMMEDIATE;
    c->on_new = db_pg_int(res, row, 3) == ON_NEW_QUEUE ? ON_NEW_QUEUE : ON_NEW_SUPERSEDE;
    column_plan(res, row, 4, &c->plan, c->name);
    column_window(res, row, 5, &c->window);
    c->created_ms = db_pg_int(res, row, 8);
}

int db_pg_channel_get(struct db *db, int64_t product_id, const char *name, struct channel *ret)
{
    return fleet_get_by_name(db, channel_get_sql, product_id, name, fill_channel, ret,
                             "get channel");
}

int db_pg_channel_list(struct db *db, int64_t product_id, struct channel **ret, size_t *ret_count)
{
    return fleet_list(db, channel_list_sql, product_id, sizeof(struct channel), fill_channel,
                      (void **)ret, ret_count, "list channels");
}

struct name_key {
    int64_t product_id;
    const char *name;
};

static int channel_delete_locked(struct db_pg *pg, void *arg)
{
    const struct name_key *k = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, k->product_id);
    db_pg_param_text(&p, k->name);
    return db_pg_run_one(pg, channel_delete_sql, &p, "delete channel");
}

int db_pg_channel_delete(struct db *db, int64_t product_id, const char *name)
{
    struct name_key k = {product_id, name};
    return db_pg_transaction(db, channel_delete_locked, &k, true, "delete channel");
}

/* --- groups --- */

/* G's fields after $1 (the id or the product), for group_insert_sql and group_update_sql. */
static void group_params(struct db_pg_params *p, const struct group *g)
{
    db_pg_param_text(p, g->name);
    db_pg_param_text(p, g->channel);
    db_pg_param_int(p, (int64_t)g->match);
    db_pg_param_text(p, g->value);
    db_pg_param_int(p, g->priority);
    db_pg_param_int(p, g->has_window);
    param_window(p, &g->window);
}

static int group_insert_locked(struct db_pg *pg, void *arg)
{
    struct group *g = arg;
    int64_t now = time_now_ms(), id;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, g->product_id);
    group_params(&p, g);
    db_pg_param_int(&p, now);
    int err = db_pg_get(pg, group_insert_sql, &p, db_pg_fill_int64, &id, "insert group");
    if (err == 0) {
        g->id = id;
        g->created_ms = now;
    }
    return err;
}

int db_pg_group_insert(struct db *db, struct group *g)
{
    return db_pg_transaction(db, group_insert_locked, g, true, "insert group");
}

static int group_update_locked(struct db_pg *pg, void *arg)
{
    const struct group *g = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, g->id);
    group_params(&p, g);
    return db_pg_run_one(pg, group_update_sql, &p, "update group");
}

int db_pg_group_update(struct db *db, const struct group *g)
{
    return db_pg_transaction(db, group_update_locked, (void *)g, true, "update group");
}

static int group_delete_locked(struct db_pg *pg, void *arg)
{
    const struct name_key *k = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, k->product_id);
    db_pg_param_text(&p, k->name);
    int err = db_pg_run(pg, group_delete_macs_sql, &p, "delete group macs");
    if (err == 0)
        err = db_pg_run_one(pg, group_delete_sql, &p, "delete group");
    return err;
}

int db_pg_group_delete(struct db *db, int64_t product_id, const char *name)
{
    struct name_key k = {product_id, name};
    return db_pg_transaction(db, group_delete_locked, &k, true, "delete group");
}

static void fill_group(const PGresult *res, int row, void *out)
{
    struct group *g = out;
    memset(g, 0, sizeof(*g));
    g->id = db_pg_int(res, row, 0);
    g->product_id = db_pg_int(res, row, 1);
    db_pg_text(res, row, 2, g->name, sizeof(g->name));
    db_pg_text(res, row, 3, g->channel, sizeof(g->channel));
    int64_t match = db_pg_int(res, row, 4);
    g->match = match >= 0 && match < GROUP_MATCH_COUNT ? (enum group_match)match : GROUP_MATCH_MACS;
    db_pg_text(res, row, 5, g->value, sizeof(g->value));
    g->priority = (int)db_pg_int(res, row, 6);
    g->has_window = db_pg_int(res, row, 7) != 0;
    column_window(res, row, 8, &g->window);
    g->created_ms = db_pg_int(res, row, 11);
}

int db_pg_group_get(struct db *db, int64_t product_id, const char *name, struct group *ret)
{
    return fleet_get_by_name(db, group_get_sql, product_id, name, fill_group, ret, "get group");
}

int db_pg_group_list(struct db *db, int64_t product_id, struct group **ret, size_t *ret_count)
{
    return fleet_list(db, group_list_sql, product_id, sizeof(struct group), fill_group,
                      (void **)ret, ret_count, "list groups");
}

struct group_macs_change {
    int64_t group_id;
    const int64_t *macs; /* sorted */
    size_t count;
    bool add;
};

static int group_macs_change_locked(struct db_pg *pg, void *arg)
{
    const struct group_macs_change *c = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, c->group_id);
    int64_t id;
    int err = db_pg_get(pg, group_exists_sql, &p, db_pg_fill_int64, &id, "find group");
    if (err < 0 || c->count == 0)
        return err;
    struct db_pg_array macs;
    db_pg_array_init(&macs);
    for (size_t i = 0; i < c->count; i++)
        db_pg_array_add_int(&macs, c->macs[i]);
    err = db_pg_param_array(&p, &macs);
    if (err == 0)
        err = db_pg_run(pg, c->add ? group_macs_add_sql : group_macs_remove_sql, &p,
                        "change group macs");
    db_pg_array_free(&macs);
    return err;
}

int db_pg_group_macs_change(struct db *db, int64_t group_id, const uint64_t *macs, size_t count,
                            bool add)
{
    /* A MAC is 48 bits: as an int64_t it sorts and reads the same as a uint64_t. */
    int64_t *sorted = count ? malloc(count * sizeof(*sorted)) : NULL;
    if (count && !sorted)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++)
        sorted[i] = (int64_t)macs[i];
    if (count)
        qsort(sorted, count, sizeof(*sorted), compare_int64);
    struct group_macs_change c = {group_id, sorted, count, add};
    int err = db_pg_transaction(db, group_macs_change_locked, &c, true, "change group MACs");
    free(sorted);
    return err;
}

struct group_mac {
    uint64_t mac;
    int64_t group_id;
};

static void fill_group_mac(const PGresult *res, int row, void *out)
{
    struct group_mac *m = out;
    m->mac = (uint64_t)db_pg_int(res, row, 0);
    m->group_id = db_pg_int(res, row, 1);
}

int db_pg_group_macs_list(struct db *db, int64_t group_id, uint64_t **ret_macs,
                          int64_t **ret_group_ids, size_t *ret_count)
{
    struct group_mac *rows = NULL;
    size_t count = 0;
    int r = fleet_list(db, group_mac_list_sql, group_id, sizeof(*rows), fill_group_mac,
                       (void **)&rows, &count, "list group macs");
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

static int pin_put_locked(struct db_pg *pg, void *arg)
{
    struct pin *pin = arg;
    int64_t now = time_now_ms();
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, pin->product_id);
    db_pg_param_int(&p, (int64_t)pin->mac);
    param_id_or_null(&p, pin->release_id);
    db_pg_param_text(&p, pin->note);
    db_pg_param_int(&p, now);
    int err = db_pg_run_one(pg, pin_put_sql, &p, "put pin"); /* no row: not the product's */
    if (err == 0)
        pin->created_ms = now;
    return err;
}

int db_pg_pin_put(struct db *db, struct pin *p)
{
    return db_pg_transaction(db, pin_put_locked, p, true, "put pin");
}

struct mac_key {
    int64_t key;
    uint64_t mac;
};

static int pin_delete_locked(struct db_pg *pg, void *arg)
{
    const struct mac_key *k = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, k->key);
    db_pg_param_int(&p, (int64_t)k->mac);
    return db_pg_run_one(pg, pin_delete_sql, &p, "delete pin");
}

int db_pg_pin_delete(struct db *db, int64_t product_id, uint64_t mac)
{
    struct mac_key k = {product_id, mac};
    return db_pg_transaction(db, pin_delete_locked, &k, true, "delete pin");
}

static void fill_pin(const PGresult *res, int row, void *out)
{
    struct pin *p = out;
    memset(p, 0, sizeof(*p));
    p->product_id = db_pg_int(res, row, 0);
    p->mac = (uint64_t)db_pg_int(res, row, 1);
    p->release_id = db_pg_int(res, row, 2);
    db_pg_text(res, row, 3, p->version, sizeof(p->version));
    p->mode = column_mode(res, row, 4);
    db_pg_text(res, row, 5, p->note, sizeof(p->note));
    p->created_ms = db_pg_int(res, row, 6);
}

int db_pg_pin_list(struct db *db, int64_t product_id, struct pin **ret, size_t *ret_count)
{
    return fleet_list(db, pin_list_sql, product_id, sizeof(struct pin), fill_pin, (void **)ret,
                      ret_count, "list pins");
}

/* --- deployments and withdrawals --- */

static int deployment_set_locked(struct db_pg *pg, void *arg)
{
    const struct deployment *d = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, d->product_id);
    db_pg_param_text(&p, d->channel);
    db_pg_param_int(&p, (int64_t)d->mode);
    param_id_or_null(&p, d->release_id);
    db_pg_param_int(&p, d->updated_ms);
    return db_pg_run(pg, deployment_set_sql, &p, "set deployment");
}

int db_pg_deployment_set(struct db *db, int64_t product_id, const char *channel, enum fw_mode mode,
                         int64_t release_id)
{
    struct deployment d = {.product_id = product_id,
                           .mode = mode,
                           .release_id = release_id,
                           .updated_ms = time_now_ms()};
    if (str_copy(d.channel, sizeof(d.channel), channel) < 0)
        return -EINVAL; /* the service checks names: a longer one is a caller's bug */
    return db_pg_transaction(db, deployment_set_locked, &d, true, "set deployment");
}

static void fill_deployment(const PGresult *res, int row, void *out)
{
    struct deployment *d = out;
    memset(d, 0, sizeof(*d));
    d->product_id = db_pg_int(res, row, 0);
    db_pg_text(res, row, 1, d->channel, sizeof(d->channel));
    d->mode = column_mode(res, row, 2);
    d->release_id = db_pg_int(res, row, 3);
    d->updated_ms = db_pg_int(res, row, 4);
}

int db_pg_deployment_list(struct db *db, int64_t product_id, struct deployment **ret,
                          size_t *ret_count)
{
    return fleet_list(db, deployment_list_sql, product_id, sizeof(struct deployment),
                      fill_deployment, (void **)ret, ret_count, "list deployments");
}

struct withdraw {
    const int64_t *ids; /* sorted */
    size_t count;
    int64_t at_ms;
};

static int release_withdraw_locked(struct db_pg *pg, void *arg)
{
    const struct withdraw *w = arg;
    int err = 0;
    for (size_t i = 0; err == 0 && i < w->count; i++) {
        struct db_pg_params p;
        db_pg_params_init(&p);
        db_pg_param_int(&p, w->ids[i]);
        db_pg_param_int(&p, w->at_ms);
        err = db_pg_run_one(pg, release_withdraw_sql, &p, "withdraw release");
    }
    return err;
}

int db_pg_release_withdraw(struct db *db, const int64_t *ids, size_t count, int64_t at_ms)
{
    int64_t *sorted = count ? malloc(count * sizeof(*sorted)) : NULL;
    if (count && !sorted)
        return -ENOMEM;
    if (count) {
        memcpy(sorted, ids, count * sizeof(*sorted));
        qsort(sorted, count, sizeof(*sorted), compare_int64);
    }
    struct withdraw w = {sorted, count, at_ms};
    int err = db_pg_transaction(db, release_withdraw_locked, &w, true, "withdraw releases");
    free(sorted);
    return err;
}

int db_pg_withdrawn_list(struct db *db, int64_t product_id, int64_t **ret_ids, size_t *ret_count)
{
    return fleet_list(db, withdrawn_list_sql, product_id, sizeof(int64_t), db_pg_fill_int64,
                      (void **)ret_ids, ret_count, "list withdrawn releases");
}

/* --- rollouts --- */

struct rollout_insert_arg {
    struct rollout *r;
    bool supersede;
};

static int rollout_insert_locked(struct db_pg *pg, void *arg)
{
    struct rollout_insert_arg *a = arg;
    struct rollout *r = a->r;
    struct db_pg_params p;
    int err;
    if (a->supersede) {
        int64_t locked;
        db_pg_params_init(&p);
        db_pg_param_int(&p, r->product_id);
        err =
            db_pg_get(pg, rollout_lock_product_sql, &p, db_pg_fill_int64, &locked, "lock product");
        if (err < 0)
            return err; /* -ENOENT: no such product, as the insert's foreign key would say */
    }
    char plan[ROLLOUT_PLAN_TEXT_BYTES];
    rollout_plan_format(&r->plan, plan, sizeof(plan));
    db_pg_params_init(&p);
    db_pg_param_int(&p, r->product_id);
    db_pg_param_text(&p, r->channel);
    db_pg_param_int(&p, r->release_id);
    db_pg_param_int(&p, (int64_t)r->mode);
    db_pg_param_int(&p, (int64_t)r->kind);
    db_pg_param_int(&p, (int64_t)r->state);
    db_pg_param_text(&p, plan);
    db_pg_param_int(&p, r->plan.interval_s);
    db_pg_param_int(&p, (int64_t)r->stage);
    db_pg_param_int(&p, r->stage_started_ms);
    db_pg_param_int(&p, r->paused_ms);
    db_pg_param_int(&p, (int64_t)r->salt[0]);
    db_pg_param_int(&p, (int64_t)r->salt[1]);
    param_id_or_null(&p, r->from_release_id);
    db_pg_param_int(&p, r->ack_failed);
    db_pg_param_text(&p, r->reason);
    db_pg_param_text(&p, r->actor);
    db_pg_param_int(&p, r->created_ms);
    db_pg_param_int(&p, r->updated_ms);
    db_pg_param_int(&p, r->ack_silent);
    int64_t id;
    err = db_pg_get(pg, rollout_insert_sql, &p, db_pg_fill_int64, &id, "insert rollout");
    if (err < 0)
        return err == -EEXIST ? -EIO : err; /* no unique key but the id: not a taken name */
    if (a->supersede) {
        char reason[FLEET_REASON_BYTES + 1];
        snprintf(reason, sizeof(reason), "superseded by rollout %lld", (long long)id);
        db_pg_params_init(&p);
        db_pg_param_int(&p, r->product_id);
        db_pg_param_text(&p, r->channel);
        db_pg_param_int(&p, (int64_t)r->mode);
        db_pg_param_int(&p, id);
        db_pg_param_text(&p, reason);
        db_pg_param_int(&p, r->created_ms);
        if ((err = db_pg_run(pg, rollout_supersede_sql, &p, "supersede rollouts")) < 0)
            return err;
    }
    r->id = id;
    return 0;
}

int db_pg_rollout_insert(struct db *db, struct rollout *r, bool supersede)
{
    struct rollout_insert_arg a = {r, supersede};
    int e = db_pg_transaction(db, rollout_insert_locked, &a, true, "insert rollout");
    if (e == 0) {
        r->read_state = r->state;
        r->read_stage = r->stage;
    }
    return e;
}

static int rollout_update_locked(struct db_pg *pg, void *arg)
{
    const struct rollout *r = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, r->id);
    db_pg_param_int(&p, (int64_t)r->state);
    db_pg_param_int(&p, (int64_t)r->stage);
    db_pg_param_int(&p, r->stage_started_ms);
    db_pg_param_int(&p, r->paused_ms);
    db_pg_param_int(&p, r->ack_failed);
    db_pg_param_text(&p, r->reason);
    db_pg_param_int(&p, r->updated_ms);
    db_pg_param_int(&p, r->ack_silent);
    db_pg_param_int(&p, (int64_t)r->read_state);
    db_pg_param_int(&p, (int64_t)r->read_stage);
    int e = db_pg_run_one(pg, rollout_update_sql, &p, "update rollout");
    if (e == -ENOENT) { /* no such rollout, or it changed since it was read */
        db_pg_params_init(&p);
        db_pg_param_int(&p, r->id);
        int64_t found = 0;
        if (db_pg_get(pg, "SELECT 1 FROM rollouts WHERE id = $1", &p, db_pg_fill_int64, &found,
                      "find rollout") == 0)
            e = -ESTALE;
    }
    return e;
}

int db_pg_rollout_update(struct db *db, struct rollout *r)
{
    int e = db_pg_transaction(db, rollout_update_locked, r, true, "update rollout");
    if (e == 0) {
        r->read_state = r->state;
        r->read_stage = r->stage;
    }
    return e;
}

static void fill_rollout(const PGresult *res, int row, void *out)
{
    struct rollout *r = out;
    memset(r, 0, sizeof(*r));
    r->id = db_pg_int(res, row, 0);
    r->product_id = db_pg_int(res, row, 1);
    db_pg_text(res, row, 2, r->channel, sizeof(r->channel));
    r->release_id = db_pg_int(res, row, 3);
    db_pg_text(res, row, 4, r->version, sizeof(r->version));
    r->mode = column_mode(res, row, 5);
    int64_t kind = db_pg_int(res, row, 6), state = db_pg_int(res, row, 7);
    r->kind = kind >= 0 && kind <= ROLLOUT_REVERT ? (enum rollout_kind)kind : ROLLOUT_NORMAL;
    /* A state a newer otad wrote is none this one would offer from. */
    r->state =
        state >= 0 && state < ROLLOUT_STATE_COUNT ? (enum rollout_state)state : ROLLOUT_ABORTED;
    char whose[32];
    snprintf(whose, sizeof(whose), "rollout %lld", (long long)r->id);
    column_plan(res, row, 8, &r->plan, whose);
    int64_t stage = db_pg_int(res, row, 9);
    r->stage = stage >= 0 && stage < (int64_t)r->plan.stage_count ? (unsigned)stage : 0;
    r->stage_started_ms = db_pg_int(res, row, 10);
    r->paused_ms = db_pg_int(res, row, 11);
    r->salt[0] = (uint64_t)db_pg_int(res, row, 12);
    r->salt[1] = (uint64_t)db_pg_int(res, row, 13);
    r->from_release_id = db_pg_int(res, row, 14);
    r->ack_failed = (uint32_t)db_pg_int(res, row, 15);
    db_pg_text(res, row, 16, r->reason, sizeof(r->reason));
    db_pg_text(res, row, 17, r->actor, sizeof(r->actor));
    r->created_ms = db_pg_int(res, row, 18);
    r->updated_ms = db_pg_int(res, row, 19);
    r->ack_silent = (uint32_t)db_pg_int(res, row, 20);
    r->read_state = r->state;
    r->read_stage = r->stage;
}

int db_pg_rollout_get(struct db *db, int64_t id, struct rollout *ret)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    int r = db_pg_get(pg, rollout_get_sql, &p, fill_rollout, ret, "get rollout");
    db_pg_unlock(pg);
    return r;
}

int db_pg_rollout_list(struct db *db, int64_t product_id, bool active_only, struct rollout **ret,
                       size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    param_id_or_null(&p, product_id);
    db_pg_param_int(&p, active_only);
    int r = db_pg_collect_rows(pg, rollout_list_sql, &p, sizeof(struct rollout), fill_rollout,
                               (void **)ret, ret_count, "list rollouts");
    db_pg_unlock(pg);
    return r;
}

int db_pg_rollout_counts(struct db *db, int64_t rollout_id, struct rollout_counts *ret_stages,
                         unsigned stage_count, struct rollout_counts *ret_total)
{
    struct rollout_counts total;
    memset(&total, 0, sizeof(total));
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, rollout_id);
    PGresult *res;
    int r = db_pg_exec(pg, rollout_counts_sql, &p, "count rollout devices", &res);
    db_pg_unlock(pg);
    if (r < 0)
        return r;
    if (ret_stages)
        memset(ret_stages, 0, stage_count * sizeof(*ret_stages));
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t stage = db_pg_int(res, row, 0), outcome = db_pg_int(res, row, 1);
        uint64_t n = (uint64_t)db_pg_int(res, row, 2);
        uint64_t cuts = (uint64_t)db_pg_int(res, row, 3); /* sum(): NUMERIC, integer text */
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
    PQclear(res);
    if (ret_total)
        *ret_total = total;
    return 0;
}

static void fill_rollout_device(const PGresult *res, int row, void *out)
{
    struct rollout_device *d = out;
    memset(d, 0, sizeof(*d));
    d->rollout_id = db_pg_int(res, row, 0);
    d->product_id = db_pg_int(res, row, 1);
    d->mac = (uint64_t)db_pg_int(res, row, 2);
    d->stage = (unsigned)db_pg_int(res, row, 3);
    int64_t outcome = db_pg_int(res, row, 4);
    d->outcome =
        outcome >= 0 && outcome < OUTCOME_COUNT ? (enum device_outcome)outcome : OUTCOME_OFFERED;
    d->from_release_id = db_pg_int(res, row, 5);
    db_pg_text(res, row, 6, d->from_version, sizeof(d->from_version));
    d->offered_ms = db_pg_int(res, row, 7);
    d->served_ms = db_pg_int(res, row, 8);
    d->outcome_ms = db_pg_int(res, row, 9);
    d->deadline_ms = db_pg_int(res, row, 10);
    d->interruptions = (uint32_t)db_pg_int(res, row, 11);
}

int db_pg_rollout_devices_open(struct db *db, struct rollout_device **ret, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_collect_rows(pg, rollout_devices_open_sql, NULL, sizeof(struct rollout_device),
                               fill_rollout_device, (void **)ret, ret_count,
                               "list open rollout devices");
    db_pg_unlock(pg);
    return r;
}

/* SQL for one device row by ($1 KEY, $2 MAC). */
static int rollout_device_one(struct db *db, const char *sql, int64_t key, uint64_t mac,
                              struct rollout_device *ret)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, key);
    db_pg_param_int(&p, (int64_t)mac);
    int r = db_pg_get(pg, sql, &p, fill_rollout_device, ret, "get rollout device");
    db_pg_unlock(pg);
    return r;
}

int db_pg_rollout_device_get(struct db *db, int64_t rollout_id, uint64_t mac,
                             struct rollout_device *ret)
{
    return rollout_device_one(db, rollout_device_get_sql, rollout_id, mac, ret);
}

int db_pg_rollout_device_last(struct db *db, int64_t product_id, uint64_t mac,
                              struct rollout_device *ret)
{
    return rollout_device_one(db, rollout_device_last_sql, product_id, mac, ret);
}

int db_pg_rollout_failed_macs(struct db *db, int64_t rollout_id, uint64_t **ret_macs,
                              size_t *ret_count)
{
    /* A MAC is 48 bits: as an int64_t column it reads the same as a uint64_t. */
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_list(pg, rollout_failed_macs_sql, rollout_id, sizeof(uint64_t), db_pg_fill_int64,
                       (void **)ret_macs, ret_count, "list failed devices");
    db_pg_unlock(pg);
    return r;
}

/* --- history and events --- */

/* A device of a batch, for the key order of devices_lock. */
struct device_key {
    int64_t product_id, mac;
};

static int compare_device_key(const void *a, const void *b)
{
    const struct device_key *x = a, *y = b;
    if (x->product_id != y->product_id)
        return (x->product_id > y->product_id) - (x->product_id < y->product_id);
    return (x->mac > y->mac) - (x->mac < y->mac);
}

/*
 * The COUNT devices at KEYS (sorted here, in place) in key order, each
 * once, as two array parameters of P (products, MACs): ARRAYS[0] and
 * ARRAYS[1], which must outlive P's statement (the caller frees both, built
 * or not). -ENOMEM.
 */
static int device_key_arrays(struct device_key *keys, size_t count, struct db_pg_array arrays[2],
                             struct db_pg_params *p)
{
    qsort(keys, count, sizeof(*keys), compare_device_key);
    db_pg_array_init(&arrays[0]);
    db_pg_array_init(&arrays[1]);
    for (size_t i = 0; i < count; i++) {
        if (i > 0 && compare_device_key(&keys[i - 1], &keys[i]) == 0)
            continue;
        db_pg_array_add_int(&arrays[0], keys[i].product_id);
        db_pg_array_add_int(&arrays[1], keys[i].mac);
    }
    int err = db_pg_param_array(p, &arrays[0]);
    return err == 0 ? db_pg_param_array(p, &arrays[1]) : err;
}

/*
 * Locks the registry rows of the COUNT devices at KEYS (sorted here, in
 * place) in key order, until the transaction ends. A device without a row
 * is not locked: it has no rollout rows to write.
 */
static int devices_lock(struct db_pg *pg, struct device_key *keys, size_t count)
{
    if (count == 0)
        return 0;
    struct db_pg_array arrays[2];
    struct db_pg_params p;
    db_pg_params_init(&p);
    int err = device_key_arrays(keys, count, arrays, &p);
    if (err == 0)
        err = db_pg_run(pg, devices_lock_sql, &p, "lock devices");
    db_pg_array_free(&arrays[0]);
    db_pg_array_free(&arrays[1]);
    return err;
}

/* Adds a line to the history of MAC of PRODUCT_ID and drops its lines past FLEET_HISTORY_MAX. */
static int history_write(struct db_pg *pg, int64_t product_id, uint64_t mac, int64_t at_ms,
                         enum fleet_event_kind kind, int64_t rollout_id, const char *version,
                         enum device_outcome outcome)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, (int64_t)mac);
    db_pg_param_int(&p, at_ms);
    db_pg_param_int(&p, (int64_t)kind);
    db_pg_param_int(&p, rollout_id);
    db_pg_param_text(&p, version);
    db_pg_param_int(&p, (int64_t)outcome);
    int err = db_pg_run(pg, history_add_sql, &p, "add history");
    if (err < 0)
        /* A seq another node took (a device that had no row to lock): try it all again. */
        return err == -EEXIST ? -EAGAIN : err;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, (int64_t)mac);
    db_pg_param_int(&p, (int64_t)FLEET_HISTORY_MAX - 1);
    return db_pg_run(pg, history_trim_sql, &p, "trim history");
}

/*
 * Runs fleet_event_sql for E in PL: its event and, when that changes a row,
 * its history line. An event of no row changes nothing; one this otad does
 * not know is not sent.
 */
static void fleet_event_send(struct db_pg_pipeline *pl, const struct fleet_event *e,
                             int64_t deadline_margin_ms)
{
    /* What the device's standing becomes, by kind (an OUTCOME's is its own). */
    static const enum device_outcome outcome_of[] = {
        [FLEET_EVENT_OFFER] = OUTCOME_OFFERED,
        [FLEET_EVENT_SERVED] = OUTCOME_SERVED,
        [FLEET_EVENT_CUT] = OUTCOME_INTERRUPTED,
        [FLEET_EVENT_OUTCOME] = OUTCOME_OFFERED,
    };
    if ((unsigned)e->kind >= ARRAY_SIZE(outcome_of) ||
        (e->kind == FLEET_EVENT_OUTCOME && (unsigned)e->outcome >= OUTCOME_COUNT))
        return; /* not an event this otad knows: skipped, as one of no row */
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, e->rollout_id);
    db_pg_param_int(&p, (int64_t)e->mac);
    db_pg_param_int(&p, e->product_id);
    db_pg_param_int(&p, e->at_ms);
    db_pg_param_text(&p, e->version);
    db_pg_param_int(&p, (int64_t)e->stage);
    param_id_or_null(&p, e->kind == FLEET_EVENT_OFFER ? e->from_release_id : 0);
    db_pg_param_int(&p, (int64_t)e->kind);
    db_pg_param_int(&p,
                    (int64_t)(e->kind == FLEET_EVENT_OUTCOME ? e->outcome : outcome_of[e->kind]));
    db_pg_param_int(&p, deadline_margin_ms);
    db_pg_pipeline_send_prepared(pl, &p);
}

/* A db_pg_check_fn for the pipeline of fleet_events_apply_locked. */
static int fleet_event_check(void *arg, size_t index, const PGresult *res, int err)
{
    (void)arg;
    (void)index;
    if (err != -EEXIST && err != -ENOENT)
        return err; /* 0, or logged already */
    const char *table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    if (err == -EEXIST && table && strcmp(table, "device_events") == 0)
        /* A seq another node took (a device that had no row to lock): try it all again. */
        return -EAGAIN;
    log_error("database: apply fleet events: %s", PQresultErrorMessage(res));
    return -EIO;
}

struct events {
    const struct fleet_event *list;
    size_t count;
    struct device_key *keys; /* COUNT of them, for device_key_arrays */
    struct db_batch *mark;   /* NULL: unmarked */
};

/*
 * The batch in one pipeline, in the transaction db_pg_transaction began:
 * the devices' lock, fleet_event_sql parsed, then run for each event in
 * order, one trim of every device's history. BEGIN, the pipeline and
 * COMMIT are three round trips whatever the batch's size.
 *
 * Why one trim at the end keeps what a trim after each line keeps: a line
 * that falls out of a device's newest FLEET_HISTORY_MAX stays out (lines
 * are only added), so the survivors are the same set; and a line's seq
 * (max + 1 in its millisecond) could differ only when every older line of
 * its millisecond had been trimmed already, and then it is older than the
 * FLEET_HISTORY_MAX lines kept and is trimmed too, either way. A device of
 * the batch that got no line has at most FLEET_HISTORY_MAX already (every
 * writer trims), so the trim leaves it alone.
 */
static int fleet_events_apply_locked(struct db_pg *pg, void *arg)
{
    const struct events *ev = arg;
    for (size_t i = 0; i < ev->count; i++)
        ev->keys[i] = (struct device_key){ev->list[i].product_id, (int64_t)ev->list[i].mac};
    /* The batch's mark first (db_pg_batch_mark): -EALREADY, nothing sent, when it committed. */
    int err = ev->mark ? db_pg_batch_mark(pg, ev->mark) : 0;
    if (err < 0)
        return err;
    struct db_pg_array arrays[2];
    struct db_pg_params devices;
    db_pg_params_init(&devices);
    err = device_key_arrays(ev->keys, ev->count, arrays, &devices);
    if (err == 0) {
        struct db_pg_pipeline pl;
        db_pg_pipeline_start(&pl, pg, "apply fleet events");
        db_pg_pipeline_send(&pl, devices_lock_sql, &devices);
        db_pg_pipeline_prepare(&pl, fleet_event_sql);
        for (size_t i = 0; i < ev->count; i++)
            fleet_event_send(&pl, &ev->list[i], pg->db.fleet_timing.deadline_margin_ms);
        db_pg_param_int(&devices, (int64_t)FLEET_HISTORY_MAX - 1);
        db_pg_pipeline_send(&pl, history_trim_batch_sql, &devices);
        /* A failure needs no catalog rebuild: the check-in path's tracker already knows it. */
        err = db_pg_pipeline_finish(&pl, fleet_event_check, NULL);
    }
    db_pg_array_free(&arrays[0]);
    db_pg_array_free(&arrays[1]);
    return err;
}

int db_pg_fleet_events_apply(struct db *db, const struct fleet_event *events, size_t count,
                             struct db_batch *batch)
{
    if (count == 0)
        return 0;
    struct events ev = {events, count, calloc(count, sizeof(struct device_key)), batch};
    if (!ev.keys)
        return -ENOMEM;
    int err = db_pg_transaction(db, fleet_events_apply_locked, &ev, false, "apply fleet events");
    free(ev.keys);
    return err;
}

struct silent {
    int64_t now_ms;
    struct rollout_device *ret;
    size_t max, count;
};

static int rollout_mark_silent_locked(struct db_pg *pg, void *arg)
{
    struct silent *a = arg;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, a->now_ms);
    struct rollout_device *due = NULL;
    struct device_key *keys = NULL;
    size_t count = 0, marked = 0;
    int err = db_pg_collect_rows(pg, rollout_silent_due_sql, &p, sizeof(*due), fill_rollout_device,
                                 (void **)&due, &count, "find silent devices");
    if (err == 0 && count && !(keys = calloc(count, sizeof(*keys))))
        err = -ENOMEM;
    for (size_t i = 0; err == 0 && i < count; i++)
        keys[i] = (struct device_key){due[i].product_id, (int64_t)due[i].mac};
    if (err == 0)
        err = devices_lock(pg, keys, count);
    for (size_t i = 0; err == 0 && i < count; i++) {
        struct rollout_device *d = &due[i];
        db_pg_params_init(&p);
        db_pg_param_int(&p, d->rollout_id);
        db_pg_param_int(&p, (int64_t)d->mac);
        db_pg_param_int(&p, a->now_ms);
        err = db_pg_run_one(pg, rollout_silent_mark_sql, &p, "mark silent");
        if (err == -ENOENT) {
            err = 0; /* no longer served: another node marked it, or the device reported */
            continue;
        }
        if (err == 0)
            err = history_write(pg, d->product_id, d->mac, a->now_ms, FLEET_EVENT_OUTCOME,
                                d->rollout_id, "", OUTCOME_SILENT);
        d->outcome = OUTCOME_SILENT;
        d->outcome_ms = a->now_ms;
        due[marked++] = *d; /* the marked ones, in their order */
    }
    if (err == 0) {
        if (a->ret && marked)
            memcpy(a->ret, due, (marked < a->max ? marked : a->max) * sizeof(*due));
        a->count = marked;
    }
    free(keys);
    free(due);
    return err;
}

int db_pg_rollout_mark_silent(struct db *db, int64_t now_ms, struct rollout_device *ret, size_t max,
                              size_t *ret_count)
{
    struct silent a = {now_ms, ret, max, 0};
    int err =
        db_pg_transaction(db, rollout_mark_silent_locked, &a, false, "mark silent rollout devices");
    if (err == 0)
        *ret_count = a.count;
    return err;
}

static void fill_device_event(const PGresult *res, int row, void *out)
{
    struct device_event *e = out;
    memset(e, 0, sizeof(*e));
    e->at_ms = db_pg_int(res, row, 0);
    int64_t kind = db_pg_int(res, row, 1), outcome = db_pg_int(res, row, 4);
    e->kind = kind >= 0 && kind <= FLEET_EVENT_OUTCOME ? (enum fleet_event_kind)kind
                                                       : FLEET_EVENT_OUTCOME;
    e->rollout_id = db_pg_int(res, row, 2);
    db_pg_text(res, row, 3, e->version, sizeof(e->version));
    e->outcome =
        outcome >= 0 && outcome < OUTCOME_COUNT ? (enum device_outcome)outcome : OUTCOME_OFFERED;
}

int db_pg_device_history(struct db *db, int64_t product_id, uint64_t mac, struct device_event *ret,
                         size_t max, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, product_id);
    db_pg_param_int(&p, (int64_t)mac);
    db_pg_param_int(&p, (int64_t)(max < INT64_MAX ? max : INT64_MAX));
    PGresult *res;
    int r = db_pg_exec(pg, history_list_sql, &p, "read history", &res);
    db_pg_unlock(pg);
    if (r < 0)
        return r;
    size_t n = 0;
    for (int row = 0; row < PQntuples(res) && n < max; row++)
        fill_device_event(res, row, &ret[n++]);
    PQclear(res);
    *ret_count = n;
    return 0;
}
