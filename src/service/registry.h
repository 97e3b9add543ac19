/*
 * The device registry's write path: check-ins are kept in memory, one
 * pending record per device (product, STA MAC) holding its latest check-in
 * and how many it stands for, and a flusher thread commits them in one
 * transaction every flush interval, on a database connection of its own. A
 * storm of check-ins costs one commit per interval and one row write per
 * device per interval, not one per request; what is pending is bounded by
 * the fleet, not by the request rate.
 *
 * Recording never blocks a caller on the database or on the flusher: past
 * MAX_PENDING distinct devices in one interval, the full table is handed to
 * the flusher at once, and if it is still busy with the previous one the
 * check-in is dropped and counted (registry_stats, and the log).
 *
 * Growth limits (admission.h): the flusher decides, against the database,
 * whether a device is new; a new device gets its row only within the
 * per-address and per-product limits. Known devices are always recorded.
 * A product's device count is read once, when its first new device arrives
 * (that device is committed right after the count, in the same interval).
 * Refusals are counted and logged at most once a minute.
 *
 * What a crash can lose: check-ins pending since the last commit (at most
 * one flush interval, 250 ms by default); commits are crash-safe for otad
 * (WAL, synchronous=NORMAL) but the last commits before a power loss may be
 * lost. Releases and tokens are committed durably elsewhere.
 *
 * Thread-safety: registry_record, registry_flush and registry_stats may be
 * called from any thread at once; registry_start and registry_stop once.
 */
#ifndef OTAD_SERVICE_REGISTRY_H
#define OTAD_SERVICE_REGISTRY_H

#include <stdint.h>

#include "db/db.h"
#include "model/fleet.h"
#include "model/model.h"

struct registry;

/* The registry's growth limits (0 means unlimited) and how its connection is set up. */
struct registry_limits {
    uint64_t new_devices_per_addr_per_minute;
    uint64_t max_devices_per_product;
    unsigned statement_timeout_ms; /* the registry connection's lock-wait timeout (db_open_timed);
                                      0: none */
    /*
     * The times its commits use: the learned interval and a served device's
     * deadline (db_set_fleet_timing; borrowed, read once by registry_start).
     * NULL: the database's defaults.
     */
    const struct db_fleet_timing *fleet_timing;
};

/*
 * Starts a registry that commits to DB_PATH every FLUSH_MS milliseconds,
 * holding at most MAX_PENDING (> 0) distinct devices between commits, with
 * LIMITS (copied; NULL: unlimited). Returns 0 with a new registry, or -errno
 * (-EINVAL for MAX_PENDING 0).
 */
int registry_start(const char *db_path, unsigned flush_ms, size_t max_pending,
                   const struct registry_limits *limits, struct registry **ret_registry);

/*
 * Records one check-in (copied). RECORD->checkins < 1 counts as 1 and
 * RECORD->first_seen_ms 0 as its last_seen_ms. A device already pending has
 * its record replaced by this one (its last offered version and key kept
 * when this one offered nothing, as the database does) and its count
 * raised. Never waits for the flusher or the database. Returns 0, or
 * -ENOBUFS when dropped (counted).
 */
int registry_record(struct registry *registry, const struct device_record *record);

/*
 * Queues fleet control's EVENT (copied; model/fleet.h) to be committed, in
 * the order queued, with the next batch, after its device rows. Never waits
 * for the flusher or the database. Returns 0, or -ENOBUFS past
 * LIMIT_FLEET_EVENTS_PENDING events in one interval (dropped, counted).
 */
int registry_fleet_event(struct registry *registry, const struct fleet_event *event);

/*
 * Commits everything recorded so far and waits until it is committed.
 * Returns 0, -EIO when a commit in that time failed, or -ENOTCONN at once
 * while the database is away (the flusher holds what it could not write:
 * registry_stop then gives it up, counted lost).
 */
int registry_flush(struct registry *registry);

/*
 * Counters since start, in check-ins unless said otherwise. Once
 * registry_flush returned, every check-in passed to registry_record is in
 * exactly one of recorded, dropped, failed, refused_addr, refused_product.
 */
struct registry_stats {
    uint64_t recorded;        /* committed (coalesced ones included) */
    uint64_t coalesced;       /* merged into a device's pending record: no row write of their own */
    uint64_t dropped;         /* lost: MAX_PENDING devices were pending and the flusher was busy */
    uint64_t failed;          /* lost to a database error */
    uint64_t refused_addr;    /* of new devices not given a row: their address's limit */
    uint64_t refused_product; /* of new devices not given a row: their product's maximum */
    uint64_t commits;         /* transactions */
    uint64_t rows;            /* device rows written (updated or added) */
    uint64_t events;          /* fleet events committed */
    uint64_t events_dropped;  /* fleet events lost: too many in one interval */
    uint64_t events_failed;   /* fleet events lost to a database error */
};
void registry_stats(struct registry *registry, struct registry_stats *ret_stats);

/* Commits what is pending, stops the thread and frees. NULL-safe. */
void registry_stop(struct registry *registry);

#endif
