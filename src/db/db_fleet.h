/*
 * The database side of fleet control (docs/FLEET.md): channel settings,
 * groups with their MAC lists, pins and holds, deployments (what each
 * channel offers outside a rollout), withdrawn releases, rollouts, each
 * device's row in a rollout and a bounded history per device, and the
 * learned check-in interval. Like db.h it speaks in the model's structs
 * (model/fleet.h), never in SQL; db_sqlite_fleet.c implements it on the
 * same connection (struct db) as the rest.
 *
 * Every write that check-ins must see (channels, groups, pins,
 * deployments, withdrawals, rollout state) bumps the catalog generation in
 * the same transaction. Rollout device rows and events do not: the
 * check-in path keeps who failed in memory (service/tracker.h).
 *
 * Errors as in db.h: -ENOENT (no such row), -EEXIST (taken), -EIO (logged
 * here with SQLite's message), -ENOMEM.
 */
#ifndef OTAD_DB_DB_FLEET_H
#define OTAD_DB_DB_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fleet.h"

/* --- product settings --- */

/* Replaces the fleet settings of product PRODUCT_ID. -ENOENT. Bumps the generation. */
int db_product_set_fleet(struct db *db, int64_t product_id, const struct product_fleet *f);

/* --- channels --- */

/* Inserts or replaces channel C (by product and name); sets C->created_ms when new. */
int db_channel_put(struct db *db, struct channel *c);
/* Channel NAME of PRODUCT_ID. -ENOENT when it has no row (the caller applies defaults). */
int db_channel_get(struct db *db, int64_t product_id, const char *name, struct channel *ret);
/* Channel rows of PRODUCT_ID (0: of every product) by product and name; free() the array. */
int db_channel_list(struct db *db, int64_t product_id, struct channel **ret, size_t *ret_count);
/* Deletes channel NAME's row (its settings; releases keep their channel name). -ENOENT. */
int db_channel_delete(struct db *db, int64_t product_id, const char *name);

/* --- groups --- */

/* Adds group G; writes G->id and G->created_ms. -EEXIST for a taken name in the product. */
int db_group_insert(struct db *db, struct group *g);
/* Replaces group G->id's fields but its id, product and MAC list. -ENOENT. */
int db_group_update(struct db *db, const struct group *g);
/* Deletes group NAME of PRODUCT_ID and its MAC list. -ENOENT. */
int db_group_delete(struct db *db, int64_t product_id, const char *name);
/* Group NAME of PRODUCT_ID. -ENOENT. */
int db_group_get(struct db *db, int64_t product_id, const char *name, struct group *ret);
/* Groups of PRODUCT_ID (0: every product) by product and name; free() the array. */
int db_group_list(struct db *db, int64_t product_id, struct group **ret, size_t *ret_count);
/* Adds (ADD true) or removes the COUNT MACS of group GROUP_ID, in one transaction. -ENOENT. */
int db_group_macs_change(struct db *db, int64_t group_id, const uint64_t *macs, size_t count,
                         bool add);
/*
 * The MACs of GROUP_ID ascending (0: of every group, then RET_GROUP_IDS, if
 * not NULL, receives the group of each); free() the arrays.
 */
int db_group_macs_list(struct db *db, int64_t group_id, uint64_t **ret_macs,
                       int64_t **ret_group_ids, size_t *ret_count);

/* --- pins and holds --- */

/* Inserts or replaces pin P (release_id 0: a hold); sets P->created_ms. -ENOENT (release). */
int db_pin_put(struct db *db, struct pin *p);
/* Deletes the pin or hold of MAC. -ENOENT. */
int db_pin_delete(struct db *db, int64_t product_id, uint64_t mac);
/* Pins of PRODUCT_ID (0: every product) by product and MAC, version and mode filled; free(). */
int db_pin_list(struct db *db, int64_t product_id, struct pin **ret, size_t *ret_count);

/* --- deployments and withdrawals --- */

/* Sets what CHANNEL (MODE) offers outside a rollout; RELEASE_ID 0: nothing. */
int db_deployment_set(struct db *db, int64_t product_id, const char *channel, enum fw_mode mode,
                      int64_t release_id);
/* Every deployment row of PRODUCT_ID (0: every product); free() the array. */
int db_deployment_list(struct db *db, int64_t product_id, struct deployment **ret,
                       size_t *ret_count);
/* Marks the COUNT releases IDS withdrawn at AT_MS (0: no longer withdrawn). */
int db_release_withdraw(struct db *db, const int64_t *ids, size_t count, int64_t at_ms);
/* IDs of PRODUCT_ID's withdrawn releases (0: every product); free(). */
int db_withdrawn_list(struct db *db, int64_t product_id, int64_t **ret_ids, size_t *ret_count);

/* --- rollouts --- */

/*
 * Adds rollout R; writes R->id. When SUPERSEDE is true, every active
 * (running, paused, halted) rollout of the same product, channel and mode
 * becomes superseded with reason "superseded by rollout N", in the same
 * transaction.
 */
int db_rollout_insert(struct db *db, struct rollout *r, bool supersede);
/*
 * Replaces the mutable fields of rollout R->id (state, stage, times, ack,
 * reason), only while the stored row still holds R->read_state and
 * R->read_stage (what R was read with; set again on success). -ENOENT when
 * there is no such rollout; -ESTALE when another node or command changed
 * it meanwhile (nothing written: read it again and decide again).
 */
int db_rollout_update(struct db *db, struct rollout *r);
/* Rollout ID. -ENOENT. */
int db_rollout_get(struct db *db, int64_t id, struct rollout *ret);
/*
 * Rollouts of PRODUCT_ID (0: every product), newest first; only active and
 * queued ones when ACTIVE_ONLY; free() the array.
 */
int db_rollout_list(struct db *db, int64_t product_id, bool active_only, struct rollout **ret,
                    size_t *ret_count);

/*
 * Counters of rollout ROLLOUT_ID: RET_STAGES[i] for stage i < STAGE_COUNT
 * (may be NULL) and *RET_TOTAL for all stages.
 */
int db_rollout_counts(struct db *db, int64_t rollout_id, struct rollout_counts *ret_stages,
                      unsigned stage_count, struct rollout_counts *ret_total);

/*
 * What the check-in path tracks in memory (service/tracker.h): the devices
 * of every active or superseded rollout (a superseded one's devices are
 * still counted) whose standing is not final yet (offered,
 * served, interrupted, silent), and every device that failed a rollout,
 * active or not (it is never offered that release again). By rollout, then
 * MAC. free() the array.
 */
int db_rollout_devices_open(struct db *db, struct rollout_device **ret, size_t *ret_count);

/* The row of MAC in ROLLOUT_ID. -ENOENT. */
int db_rollout_device_get(struct db *db, int64_t rollout_id, uint64_t mac,
                          struct rollout_device *ret);
/* The newest row of MAC in any rollout of PRODUCT_ID. -ENOENT. */
int db_rollout_device_last(struct db *db, int64_t product_id, uint64_t mac,
                           struct rollout_device *ret);
/* MACs of ROLLOUT_ID that failed, ascending; free(). */
int db_rollout_failed_macs(struct db *db, int64_t rollout_id, uint64_t **ret_macs,
                           size_t *ret_count);

/*
 * Marks silent every served device of an active or superseded rollout whose deadline is
 * before NOW_MS; writes up to MAX of them to RET (may be NULL), earliest
 * deadline first, and how many were marked (which may exceed MAX) to
 * *RET_COUNT. One transaction; each gets a history line.
 */
int db_rollout_mark_silent(struct db *db, int64_t now_ms, struct rollout_device *ret, size_t max,
                           size_t *ret_count);

/*
 * Applies COUNT fleet events in order, in one transaction (called by the
 * registry flusher after its device rows, on its own connection):
 * - OFFER: the device's row in the rollout is created (stage, from, offered_ms)
 *   or, when it has one, set back to offered; a device without a registry
 *   row (one the registry's limits refused) gets none;
 * - SERVED: outcome served at at_ms, its deadline at_ms + 3 x its learned
 *   interval (devices.interval_ms once it has 3 intervals, else the plan's
 *   interval_s) + the connection's deadline margin (db_set_fleet_timing:
 *   5 minutes unless set);
 * - CUT: outcome interrupted, interruptions + 1;
 * - OUTCOME: the outcome given, at at_ms.
 * Each event also adds a line to the device's history, which keeps its
 * newest FLEET_HISTORY_MAX lines. An event of a rollout or device that is
 * not there is skipped. BATCH (may be NULL) as struct db_batch (db.h) says.
 * Returns 0, -EALREADY (BATCH committed before: nothing done) or -EIO
 * (rolled back).
 */
int db_fleet_events_apply(struct db *db, const struct fleet_event *events, size_t count,
                          struct db_batch *batch);

/* The newest MAX history lines of MAC, newest first, into RET; *RET_COUNT. */
int db_device_history(struct db *db, int64_t product_id, uint64_t mac, struct device_event *ret,
                      size_t max, size_t *ret_count);

/* One device's registry row (the last check-in). -ENOENT. */
int db_device_get(struct db *db, int64_t product_id, uint64_t mac, struct device_record *ret,
                  int64_t *ret_interval_ms, int64_t *ret_intervals);

/* The longest snapshot a change cursor holds: "xmin:xmax:" and the transactions in flight. */
#define DB_SNAPSHOT_TEXT_BYTES 32768u

/*
 * Where a node's reading of the rollout changes stands (several nodes on
 * PostgreSQL). Zeroed before the first read, then only
 * db_rollout_device_changes writes it. SEEN is the snapshot whose committed
 * changes were all read ("" for none); a read in progress reads those
 * committed in UPTO and not in SEEN, in the order of (writer, rollout, MAC),
 * past AFTER_*.
 */
struct rollout_changes_cursor {
    char seen[DB_SNAPSHOT_TEXT_BYTES];
    char upto[DB_SNAPSHOT_TEXT_BYTES]; /* "" between reads */
    int64_t after_writer, after_rollout_id;
    uint64_t after_mac;
};

/*
 * Several nodes (PostgreSQL; SQLite answers -EOPNOTSUPP): up to LIMIT rows
 * of rollout_devices that any node changed (inserted or updated) in
 * transactions CURSOR had not yet seen committed, with their rollout's
 * release and mode, into *RET (free()) and *RET_COUNT, and CURSOR moved
 * past them. Call again until *RET_COUNT < LIMIT to read all the changes
 * committed when the reading began; changes committed later are read by
 * the next call after that. Every committed change is read once however
 * late its transaction commits (a row changed again is read in its newest
 * form only). The rows are those db_rollout_devices_open would list (of
 * rollouts still counted, or failed), so a first read sets no standing of
 * a rollout that ended. -ENOTCONN; -EOVERFLOW when the database's snapshot
 * does not fit DB_SNAPSHOT_TEXT_BYTES (so many transactions in flight: the
 * next call tries again).
 */
int db_rollout_device_changes(struct db *db, struct rollout_changes_cursor *cursor, size_t limit,
                              struct rollout_device_change **ret, size_t *ret_count);

#endif
