/*
 * For src/db/ only: what a backend is. db.h and its companions (db_fleet.h,
 * db_sources.h, db_notify.h, db_audit.h) declare the functions the rest of
 * otad calls; db.c forwards each to the backend the handle was opened with,
 * through the operations table below. A backend (db_sqlite*.c, db_pg*.c)
 * defines db_<backend>_<operation> for every operation, with the signature
 * listed here, and its handle begins with a struct db.
 *
 * DB_OPERATIONS is the one list: X(name, parameters, arguments) per
 * operation. It expands to the table's members, to db.c's forwarding
 * functions and to each backend's declarations, so the compiler checks that
 * a backend implements every operation with the declared signature (db.c's
 * forwarders are the definitions of db.h's prototypes).
 */
#ifndef OTAD_DB_BACKEND_H
#define OTAD_DB_BACKEND_H

#include "db/db.h"
#include "db/db_audit.h"
#include "db/db_fleet.h"
#include "db/db_notify.h"
#include "db/db_sources.h"

/* Every operation after db_open, except db_close (struct db_ops's close), one per function. */
// clang-format off
#define DB_OPERATIONS(X) \
    /* db.h */ \
    X(integrity_check, (struct db *db, bool quick, struct reason *why), (db, quick, why)) \
    X(generation, (struct db *db, int64_t *ret_generation), (db, ret_generation)) \
    X(product_insert, (struct db *db, struct product *p), (db, p)) \
    X(product_get, (struct db *db, const char *name, struct product *ret_product), (db, name, ret_product)) \
    X(product_list, (struct db *db, struct product **ret_products, size_t *ret_count), (db, ret_products, ret_count)) \
    X(product_set_signing, (struct db *db, int64_t product_id, const struct product_signing *s), (db, product_id, s)) \
    X(product_key_add, (struct db *db, int64_t product_id, const char *name, const char *fingerprint), (db, product_id, name, fingerprint)) \
    X(product_key_list, (struct db *db, int64_t product_id, struct product_key **ret_keys, size_t *ret_count), (db, product_id, ret_keys, ret_count)) \
    X(release_insert, (struct db *db, struct release *r, const char *const *digests, size_t digest_count), (db, r, digests, digest_count)) \
    X(release_add_variants, (struct db *db, int64_t release_id, const struct variant *v, unsigned count, const char *signed_by), (db, release_id, v, count, signed_by)) \
    X(release_get, (struct db *db, int64_t product_id, enum fw_mode mode, const char *version, struct release *ret_release), (db, product_id, mode, version, ret_release)) \
    X(release_list, (struct db *db, int64_t product_id, struct release **ret_releases, size_t *ret_count), (db, product_id, ret_releases, ret_count)) \
    X(digest_list, (struct db *db, int64_t product_id, struct release_digest **ret_digests, size_t *ret_count), (db, product_id, ret_digests, ret_count)) \
    X(token_insert, (struct db *db, const char *name, enum token_scope scope, const char *hash_hex, int64_t *ret_id), (db, name, scope, hash_hex, ret_id)) \
    X(token_find, (struct db *db, const char *hash_hex, struct token *ret_token), (db, hash_hex, ret_token)) \
    X(token_list, (struct db *db, struct token **ret_tokens, size_t *ret_count), (db, ret_tokens, ret_count)) \
    X(token_revoke, (struct db *db, int64_t id), (db, id)) \
    X(session_insert, (struct db *db, const struct session_record *rec, const char *hash_hex, unsigned keep, int64_t *ret_id), (db, rec, hash_hex, keep, ret_id)) \
    X(session_find, (struct db *db, const char *hash_hex, struct session_record *ret_session), (db, hash_hex, ret_session)) \
    X(session_touch, (struct db *db, int64_t id, int64_t now_ms), (db, id, now_ms)) \
    X(session_delete, (struct db *db, int64_t id), (db, id)) \
    X(session_prune, (struct db *db, int64_t idle_before_ms, int64_t created_before_ms), (db, idle_before_ms, created_before_ms)) \
    X(session_list, (struct db *db, struct session_record **ret_sessions, size_t *ret_count), (db, ret_sessions, ret_count)) \
    X(devices_record, (struct db *db, const struct device_record *records, size_t count, db_device_admit_fn admit, void *ctx, struct db_batch *batch, size_t *ret_rows), (db, records, count, admit, ctx, batch, ret_rows)) \
    X(device_list, (struct db *db, int64_t product_id, size_t limit, size_t offset, struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total), (db, product_id, limit, offset, ret_devices, ret_count, ret_total)) \
    X(device_issue_counts, (struct db *db, int64_t product_id, uint64_t ret_counts[DELIVERY_ISSUE_COUNT]), (db, product_id, ret_counts)) \
    X(device_secure_version_max, (struct db *db, int64_t product_id, bool *ret_known, uint32_t *ret_max), (db, product_id, ret_known, ret_max)) \
    X(device_page, (struct db *db, int64_t product_id, const struct device_filter *filter, bool backward, size_t limit, struct device_record **ret_devices, size_t *ret_count), (db, product_id, filter, backward, limit, ret_devices, ret_count)) \
    X(device_nth_mac, (struct db *db, int64_t product_id, uint64_t from, bool backward, uint64_t n, uint64_t *ret_mac), (db, product_id, from, backward, n, ret_mac)) \
    X(device_count, (struct db *db, int64_t product_id, const struct device_filter *filter, uint64_t *ret_count), (db, product_id, filter, ret_count)) \
    X(device_version_counts, (struct db *db, int64_t product_id, int64_t day_start_ms, int64_t now_ms, struct version_count **ret_counts, size_t *ret_count), (db, product_id, day_start_ms, now_ms, ret_counts, ret_count)) \
    X(version_day_put, (struct db *db, int64_t product_id, int64_t day, const struct version_day *rows, size_t count, int64_t keep_from_day), (db, product_id, day, rows, count, keep_from_day)) \
    X(blob_put, (struct db *db, const char *sha256, const uint8_t *data, size_t len), (db, sha256, data, len)) \
    X(blob_get, (struct db *db, const char *sha256, size_t max, uint8_t **ret_data, size_t *ret_len), (db, sha256, max, ret_data, ret_len)) \
    X(blob_prune, (struct db *db, int64_t created_before_ms, size_t *ret_deleted), (db, created_before_ms, ret_deleted)) \
    X(rollout_device_changes, (struct db *db, struct rollout_changes_cursor *cursor, size_t limit, struct rollout_device_change **ret, size_t *ret_count), (db, cursor, limit, ret, ret_count)) \
    X(listen_catalog, (struct db *db), (db)) \
    X(wait_catalog, (struct db *db, unsigned timeout_ms, bool *ret_changed), (db, timeout_ms, ret_changed)) \
    X(leader_hold, (struct db *db, bool *ret_leader), (db, ret_leader)) \
    X(leader_release, (struct db *db), (db)) \
    X(node_beat, (struct db *db, const struct node_status *node, int64_t live_ms, unsigned *ret_live), (db, node, live_ms, ret_live)) \
    X(node_list, (struct db *db, struct node_status **ret_nodes, size_t *ret_count), (db, ret_nodes, ret_count)) \
    X(version_day_list, (struct db *db, int64_t product_id, int64_t from_day, struct version_day **ret_rows, size_t *ret_count), (db, product_id, from_day, ret_rows, ret_count)) \
    /* db_audit.h */ \
    X(audit_insert, (struct db *db, const struct audit_entry *e, int64_t *ret_id), (db, e, ret_id)) \
    X(audit_list, (struct db *db, const struct audit_filter *filter, size_t limit, struct audit_entry **ret_entries, size_t *ret_count), (db, filter, limit, ret_entries, ret_count)) \
    X(audit_trim, (struct db *db, int64_t cutoff_ms, size_t batch, size_t *ret_deleted), (db, cutoff_ms, batch, ret_deleted)) \
    /* db_fleet.h */ \
    X(product_set_fleet, (struct db *db, int64_t product_id, const struct product_fleet *f), (db, product_id, f)) \
    X(channel_put, (struct db *db, struct channel *c), (db, c)) \
    X(channel_get, (struct db *db, int64_t product_id, const char *name, struct channel *ret), (db, product_id, name, ret)) \
    X(channel_list, (struct db *db, int64_t product_id, struct channel **ret, size_t *ret_count), (db, product_id, ret, ret_count)) \
    X(channel_delete, (struct db *db, int64_t product_id, const char *name), (db, product_id, name)) \
    X(group_insert, (struct db *db, struct group *g), (db, g)) \
    X(group_update, (struct db *db, const struct group *g), (db, g)) \
    X(group_delete, (struct db *db, int64_t product_id, const char *name), (db, product_id, name)) \
    X(group_get, (struct db *db, int64_t product_id, const char *name, struct group *ret), (db, product_id, name, ret)) \
    X(group_list, (struct db *db, int64_t product_id, struct group **ret, size_t *ret_count), (db, product_id, ret, ret_count)) \
    X(group_macs_change, (struct db *db, int64_t group_id, const uint64_t *macs, size_t count, bool add), (db, group_id, macs, count, add)) \
    X(group_macs_list, (struct db *db, int64_t group_id, uint64_t **ret_macs, int64_t **ret_group_ids, size_t *ret_count), (db, group_id, ret_macs, ret_group_ids, ret_count)) \
    X(pin_put, (struct db *db, struct pin *p), (db, p)) \
    X(pin_delete, (struct db *db, int64_t product_id, uint64_t mac), (db, product_id, mac)) \
    X(pin_list, (struct db *db, int64_t product_id, struct pin **ret, size_t *ret_count), (db, product_id, ret, ret_count)) \
    X(deployment_set, (struct db *db, int64_t product_id, const char *channel, enum fw_mode mode, int64_t release_id), (db, product_id, channel, mode, release_id)) \
    X(deployment_list, (struct db *db, int64_t product_id, struct deployment **ret, size_t *ret_count), (db, product_id, ret, ret_count)) \
    X(release_withdraw, (struct db *db, const int64_t *ids, size_t count, int64_t at_ms), (db, ids, count, at_ms)) \
    X(withdrawn_list, (struct db *db, int64_t product_id, int64_t **ret_ids, size_t *ret_count), (db, product_id, ret_ids, ret_count)) \
    X(rollout_insert, (struct db *db, struct rollout *r, bool supersede), (db, r, supersede)) \
    X(rollout_update, (struct db *db, struct rollout *r), (db, r)) \
    X(rollout_get, (struct db *db, int64_t id, struct rollout *ret), (db, id, ret)) \
    X(rollout_list, (struct db *db, int64_t product_id, bool active_only, struct rollout **ret, size_t *ret_count), (db, product_id, active_only, ret, ret_count)) \
    X(rollout_counts, (struct db *db, int64_t rollout_id, struct rollout_counts *ret_stages, unsigned stage_count, struct rollout_counts *ret_total), (db, rollout_id, ret_stages, stage_count, ret_total)) \
    X(rollout_devices_open, (struct db *db, struct rollout_device **ret, size_t *ret_count), (db, ret, ret_count)) \
    X(rollout_device_get, (struct db *db, int64_t rollout_id, uint64_t mac, struct rollout_device *ret), (db, rollout_id, mac, ret)) \
    X(rollout_device_last, (struct db *db, int64_t product_id, uint64_t mac, struct rollout_device *ret), (db, product_id, mac, ret)) \
    X(rollout_failed_macs, (struct db *db, int64_t rollout_id, uint64_t **ret_macs, size_t *ret_count), (db, rollout_id, ret_macs, ret_count)) \
    X(rollout_mark_silent, (struct db *db, int64_t now_ms, struct rollout_device *ret, size_t max, size_t *ret_count), (db, now_ms, ret, max, ret_count)) \
    X(fleet_events_apply, (struct db *db, const struct fleet_event *events, size_t count, struct db_batch *batch), (db, events, count, batch)) \
    X(device_history, (struct db *db, int64_t product_id, uint64_t mac, struct device_event *ret, size_t max, size_t *ret_count), (db, product_id, mac, ret, max, ret_count)) \
    X(device_get, (struct db *db, int64_t product_id, uint64_t mac, struct device_record *ret, int64_t *ret_interval_ms, int64_t *ret_intervals), (db, product_id, mac, ret, ret_interval_ms, ret_intervals)) \
    /* db_notify.h */ \
    X(notify_receiver_insert, (struct db *db, struct notify_receiver *r), (db, r)) \
    X(notify_receiver_delete, (struct db *db, int64_t id), (db, id)) \
    X(notify_receiver_get, (struct db *db, int64_t id, struct notify_receiver *ret), (db, id, ret)) \
    X(notify_receiver_list, (struct db *db, struct notify_receiver_row **ret_rows, size_t *ret_count), (db, ret_rows, ret_count)) \
    X(notify_receiver_disable, (struct db *db, int64_t id, const char *error, int64_t now_ms), (db, id, error, now_ms)) \
    X(notify_deliveries_insert, (struct db *db, struct notify_delivery *d, size_t n), (db, d, n)) \
    X(notify_deliveries_due, (struct db *db, int64_t now_ms, size_t limit, struct notify_delivery **ret, size_t *ret_count, int64_t *ret_next_ms), (db, now_ms, limit, ret, ret_count, ret_next_ms)) \
    X(notify_delivery_update, (struct db *db, const struct notify_delivery *d), (db, d)) \
    X(notify_delivery_list, (struct db *db, int64_t receiver_id, size_t limit, struct notify_delivery **ret, size_t *ret_count), (db, receiver_id, limit, ret, ret_count)) \
    X(notify_prune, (struct db *db, int64_t before_ms, size_t keep), (db, before_ms, keep)) \
    /* db_sources.h */ \
    X(source_insert, (struct db *db, struct source *s), (db, s)) \
    X(source_delete, (struct db *db, int64_t id), (db, id)) \
    X(source_get, (struct db *db, int64_t id, struct source_row *ret_row), (db, id, ret_row)) \
    X(source_list, (struct db *db, struct source_row **ret_rows, size_t *ret_count), (db, ret_rows, ret_count)) \
    X(source_state_save, (struct db *db, int64_t id, const struct source_state *state), (db, id, state)) \
    X(source_gate_siblings, (struct db *db, const struct source *s, int64_t not_before_ms), (db, s, not_before_ms)) \
    X(source_tag_get, (struct db *db, int64_t source_id, const char *tag, struct source_tag *ret_tag), (db, source_id, tag, ret_tag)) \
    X(source_tag_put, (struct db *db, int64_t source_id, const struct source_tag *t), (db, source_id, t)) \
    X(webhook_delivery_record, (struct db *db, const char *delivery, int64_t now_ms, int64_t keep_ms), (db, delivery, now_ms, keep_ms))
// clang-format on

/*
 * The rollout states whose devices are still followed (enum rollout_state:
 * running, paused, halted, and superseded, still counted), as an SQL list
 * for either backend.
 */
#define DB_SQL_ROLLOUTS_COUNTED "(0, 1, 2, 5)"

/* A backend: its name (for the log) and its operations. */
struct db_ops {
    const char *name;
    void (*close)(struct db *db);
#define DB_OPERATION_MEMBER(name, params, args) int(*name) params;
    DB_OPERATIONS(DB_OPERATION_MEMBER)
#undef DB_OPERATION_MEMBER
};

/*
 * The start of every backend's handle: db.c reads the operations from it;
 * the backends read the fleet timing (db_set_fleet_timing) into their SQL's
 * parameters.
 */
struct db {
    const struct db_ops *ops;
    struct db_fleet_timing fleet_timing;
};

/* The SQLite backend (db_sqlite.c): PATH is a file. */
int db_sqlite_open(const char *path, enum db_durability durability, struct db **ret_db);
extern const struct db_ops db_sqlite_ops;

/*
 * The PostgreSQL backend (db_pg.c), when built (OTAD_WITH_POSTGRESQL): URL is a libpq URI;
 * TIMEOUT_MS and SCOPE as db_open_timed says.
 */
int db_pg_open(const char *url, enum db_durability durability, unsigned timeout_ms,
               enum db_timeout_scope scope, struct db **ret_db);
extern const struct db_ops db_pg_ops;

#endif
