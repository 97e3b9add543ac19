/*
 * The dashboard's figures (docs/API.md, "Overview", "Version history"),
 * kept cheap at a million devices: per product, the devices, those seen in
 * 24 hours, the quiet ones and the devices per version, counted by one pass
 * over the product's rows on a thread and a connection of their own, and
 * answered from memory. The pass repeats 50 times its own duration after
 * it ended (at least a second, at most five minutes apart), so it costs a
 * database about 2% of one core however large the fleet. Today's devices
 * per version are written to the version history (version_days) at most
 * once an hour and when the service stops; past days stay as written.
 * Days are UTC days.
 *
 * Locks: dashboard.lock guards the figures (copied in and out, never held
 * across a database call), taken with no other lock held.
 */
#ifndef OTAD_SERVICE_DASHBOARD_H
#define OTAD_SERVICE_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* One product's figures at COMPUTED_MS. */
struct fleet_summary {
    int64_t product_id;
    uint64_t devices, seen_24h, quiet;
    /* The versions with the most devices first; past LIMIT_SUMMARY_VERSIONS, "other" holds the
     * rest. */
    struct version_count versions[LIMIT_SUMMARY_VERSIONS + 1];
    size_t version_count;
    /* The devices seen today (UTC) per version, the most first, "other" last, as versions. */
    struct version_day today[LIMIT_SUMMARY_VERSIONS + 1];
    size_t today_count;
    int64_t computed_ms;
};

struct db;
struct dashboard;

/* The UTC day (days since 1970-01-01) of AT_MS, and the instant that day starts. */
int64_t dashboard_day(int64_t at_ms);

/*
 * Counts PRODUCT_ID's devices on DB at NOW_MS into *RET (one pass over its
 * rows). Returns 0 or -EIO (-ENOMEM).
 */
int dashboard_compute(struct db *db, int64_t product_id, int64_t now_ms, struct fleet_summary *ret);

/*
 * Starts the thread that keeps every product's figures, on its own
 * connection to DB_PATH (STATEMENT_TIMEOUT_MS bounding its waits for a
 * lock, DB_TIMEOUT_LOCK_WAITS as db_open_timed says),
 * reading the time from NOW(CTX) (borrowed; the service's clock). Returns 0
 * with *RET_DASHBOARD, or -errno.
 */
int dashboard_start(const char *db_path, unsigned statement_timeout_ms, int64_t (*now)(void *ctx),
                    void *ctx, struct dashboard **ret_dashboard);

/*
 * PRODUCT_ID's last figures into *RET. -ENOENT when none yet (the first pass
 * has not reached it: the caller counts with dashboard_compute).
 */
int dashboard_get(struct dashboard *dashboard, int64_t product_id, struct fleet_summary *ret);

/* Stops the thread after writing today's version history once more. NULL-safe. */
void dashboard_stop(struct dashboard *dashboard);

#endif
