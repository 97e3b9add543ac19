/*
 * Each device's open standing in a rollout, in memory (docs/FLEET.md,
 * "Outcomes"): offered, served, interrupted, silent or failed. A check-in
 * reads it to decide an outcome (the device came back on the new release,
 * or on something else) and to never offer a device what it already
 * failed; the download's end moves it to served or interrupted. Only open
 * standings and failures are kept: a success is final and forgotten here
 * (the database keeps it), so memory follows the devices in flight, not
 * the fleet.
 *
 * The database holds the same facts (rollout_devices), written through
 * the registry's batches; tracker_load rebuilds this from it at start.
 *
 * Threads: every call may come from any thread at once. The table is split
 * in stripes, each with its own mutex held for one lookup: no call blocks
 * on anything else, none allocates but tracker_offer when its stripe grows.
 */
#ifndef OTAD_SERVICE_TRACKER_H
#define OTAD_SERVICE_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/fleet.h"

struct tracker;

/* One device's standing. */
struct standing {
    int64_t product_id;
    uint64_t mac;
    int64_t rollout_id;
    int64_t release_id; /* what the rollout offers it */
    enum fw_mode mode;  /* of that release: only a check-in of this mode judges it */
    unsigned stage;
    enum device_outcome outcome;
};

/* A new, empty tracker. -ENOMEM. */
int tracker_new(struct tracker **ret);
/* NULL-safe. */
void tracker_free(struct tracker *t);

/* Adds standing S (replacing the device's). Loading at start. -ENOMEM. */
int tracker_put(struct tracker *t, const struct standing *s);

/* True when no device has a standing: a check-in need not look. Lock-free. */
bool tracker_empty(struct tracker *t);

/* The device's standing into *RET: true, or false when it has none. */
bool tracker_get(struct tracker *t, int64_t product_id, uint64_t mac, struct standing *ret);

/*
 * The device checked in for MODE running RUNNING_RELEASE_ID (0: not a
 * release otad knows). A check-in of the other mode (a sketch that also
 * asks for its filesystem) decides nothing. When its standing is served, silent, interrupted,
 * offered or failed and this decides it, fills *RET_EVENT (kind FLEET_EVENT_OUTCOME, at NOW_MS) and
 * returns true:
 * - running the rollout's release: succeeded (forgotten here);
 * - served or silent, running anything else: failed (kept, so never offered again).
 * Otherwise returns false and changes nothing.
 */
bool tracker_observe(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                     int64_t running_release_id, int64_t now_ms, struct fleet_event *ret_event);

/* True when the device failed rollout ROLLOUT_ID. */
bool tracker_failed(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id);

/* True when the device failed a rollout of release RELEASE_ID (whatever became of the rollout). */
bool tracker_failed_release(struct tracker *t, int64_t product_id, uint64_t mac,
                            int64_t release_id);

/* The rollout offered the device its release: standing offered (any previous one replaced).
 * -ENOMEM. */
int tracker_offer(struct tracker *t, const struct standing *s);

/*
 * The offer's body ended: served when COMPLETE, else interrupted. False
 * when the device's standing is not that rollout's offer (nothing changed).
 */
bool tracker_delivered(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id,
                       bool complete);

/* The device missed its deadline in ROLLOUT_ID: silent, when it was served there. */
void tracker_mark_silent(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id);

/* Standings held now (for the operator's view and tests). */
size_t tracker_count(struct tracker *t);

#endif
