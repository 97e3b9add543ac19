/*
 * The database side of outgoing notifications (src/notify/): the receivers
 * and one delivery row per (event, receiver). Like db.h it speaks in the
 * model's plain structs (model/notify.h), never in SQL;
 * db_sqlite_notify.c is the SQLite implementation, on the same connection
 * (struct db) as the rest.
 *
 * Errors as in db.h: -ENOENT (no such row), -EEXIST (taken), -EIO (logged
 * here with SQLite's message), -ENOMEM.
 */
#ifndef OTAD_DB_DB_NOTIFY_H
#define OTAD_DB_DB_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "model/notify.h"

/* Adds receiver R; writes R->id and R->created_ms. -EEXIST when its name is taken. */
int db_notify_receiver_insert(struct db *db, struct notify_receiver *r);

/* Deletes receiver ID and its deliveries, in one transaction. -ENOENT when there is none. */
int db_notify_receiver_delete(struct db *db, int64_t id);

/* Receiver ID (with its secret). -ENOENT. */
int db_notify_receiver_get(struct db *db, int64_t id, struct notify_receiver *ret);

/*
 * Every receiver by id, each with its newest delivery and its count of
 * pending ones; the caller frees *RET_ROWS with free(). At most
 * LIMIT_NOTIFY_RECEIVERS rows.
 */
int db_notify_receiver_list(struct db *db, struct notify_receiver_row **ret_rows,
                            size_t *ret_count);

/* Marks receiver ID disabled (a 410 Gone) and fails its pending deliveries with ERROR. */
int db_notify_receiver_disable(struct db *db, int64_t id, const char *error, int64_t now_ms);

/*
 * Stores the N deliveries D (pending, each with its body) in one
 * transaction; writes each one's id. -ENOENT when a receiver is gone.
 */
int db_notify_deliveries_insert(struct db *db, struct notify_delivery *d, size_t n);

/*
 * The deliveries to send now: each enabled receiver's oldest pending
 * delivery (a receiver's deliveries go out one at a time, in order) whose
 * next_ms is at most NOW_MS, at most LIMIT rows, earliest due first, with
 * their bodies. *RET_NEXT_MS gets the earliest next_ms of the oldest
 * pending deliveries not due yet (0 when none). Free with
 * db_notify_deliveries_free.
 *
 * Nothing is claimed: one sender reads these (on several nodes, the
 * leader's), and it keeps its own attempts in flight apart.
 */
int db_notify_deliveries_due(struct db *db, int64_t now_ms, size_t limit,
                             struct notify_delivery **ret, size_t *ret_count, int64_t *ret_next_ms);

/* Frees N deliveries read by this module, their bodies included. NULL-safe. */
void db_notify_deliveries_free(struct notify_delivery *d, size_t n);

/* Stores D's state, attempts, next_ms, status, error and updated_ms. -ENOENT when it is gone. */
int db_notify_delivery_update(struct db *db, const struct notify_delivery *d);

/* Receiver ID's LIMIT newest deliveries (without bodies), newest first; free with free(). */
int db_notify_delivery_list(struct db *db, int64_t receiver_id, size_t limit,
                            struct notify_delivery **ret, size_t *ret_count);

/*
 * Deletes finished (delivered or failed) deliveries last changed before
 * BEFORE_MS, and the oldest finished ones beyond KEEP. Pending ones stay.
 */
int db_notify_prune(struct db *db, int64_t before_ms, size_t keep);

#endif
