/*
 * What fleet control must remember per device between its check-ins, in
 * memory (docs/FLEET.md, "Outcomes"):
 * - its open standing in a rollout, one per mode (sketch, filesystem):
 *   offered, served, interrupted or silent. The device's next check-in of
 *   that mode decides the outcome; the download's end moves it to served or
 *   interrupted. A success is final and forgotten here (the database keeps
 *   it).
 * - every release it failed (came back on something else after being
 *   served), kept apart from the standings so that no later offer, rollout
 *   or mode can overwrite it: a device is never offered again a release it
 *   failed, by a rollout or as its channel's release.
 * Memory follows the devices in flight and the failures, not the fleet,
 * and is bounded (LIMIT_TRACKER_ENTRIES): past it a new offer is not
 * tracked (and not counted) rather than the table growing.
 *
 * The database holds the same facts (rollout_devices), written through the
 * registry's batches; the service rebuilds this from it at start.
 *
 * Threads: every call may come from any thread at once. The table is split
 * in stripes, each with its own mutex held for one lookup: no call blocks
 * on anything else, none allocates but a new entry when its stripe grows.
 */
#ifndef OTAD_SERVICE_TRACKER_H
#define OTAD_SERVICE_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/fleet.h"

struct tracker;

/* One device's standing in a rollout (or, with OUTCOME_FAILED, a release it failed). */
struct standing {
    int64_t product_id;
    uint64_t mac;
    int64_t rollout_id;
    int64_t release_id; /* what the rollout offers it */
    enum fw_mode mode;  /* of that release: only a check-in of this mode judges it */
    unsigned stage;
    enum device_outcome outcome;
};

/* A new, empty tracker holding at most MAX_ENTRIES entries. -ENOMEM. */
int tracker_new(size_t max_entries, struct tracker **ret);
/* NULL-safe. */
void tracker_free(struct tracker *t);

/*
 * Adds S, loading at start: a failure (S->outcome OUTCOME_FAILED) as a
 * release the device failed, anything else as its open standing of
 * S->mode (replacing one). -ENOMEM, -ENOBUFS past the bound.
 */
int tracker_put(struct tracker *t, const struct standing *s);

/* True when no device has an entry: a check-in need not look. Lock-free. */
bool tracker_empty(struct tracker *t);

/* The device's open standing of MODE into *RET: true, or false when it has none. */
bool tracker_get(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                 struct standing *ret);

/*
 * The device checked in for MODE running RUNNING_RELEASE_ID (0: not a
 * release otad knows). When its standing of MODE is decided by this, fills
 * *RET_EVENT (kind FLEET_EVENT_OUTCOME, at NOW_MS) and returns true:
 * - running the rollout's release: succeeded (the standing is forgotten);
 * - served or silent, running anything else: failed (the standing is
 *   forgotten, the failure kept).
 * Otherwise returns false and changes nothing.
 */
bool tracker_observe(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                     int64_t running_release_id, int64_t now_ms, struct fleet_event *ret_event);

/* True when the device failed release RELEASE_ID (in any rollout, ended or not). */
bool tracker_failed(struct tracker *t, int64_t product_id, uint64_t mac, int64_t release_id);

/*
 * A rollout offered the device its release: its standing of S->mode
 * becomes S, offered (any previous one of that mode replaced). -ENOMEM,
 * -ENOBUFS past the bound (the offer is then not tracked).
 */
int tracker_offer(struct tracker *t, const struct standing *s);

/*
 * The offer's body ended: served when COMPLETE, else interrupted. False
 * when the device's standing of MODE is not that rollout's offer (nothing
 * changed).
 */
bool tracker_delivered(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                       int64_t rollout_id, bool complete);

/* The device missed its deadline in ROLLOUT_ID: silent, when it was served there. */
void tracker_mark_silent(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id);

/*
 * The device's standing of MODE in ROLLOUT_ID was decided elsewhere (another
 * node): it is forgotten, when it is that rollout's. A failure is recorded
 * with tracker_put.
 */
void tracker_close(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                   int64_t rollout_id);

/* Entries held now: open standings and failures (for the operator's view and tests). */
size_t tracker_count(struct tracker *t);

#endif
