/*
 * A rollout's rules, pure (docs/FLEET.md): a device's bucket, the share a
 * rollout admits at an instant (stages and ramp), how long a stage still
 * soaks, and the verdict on a rollout's counters: halt, promote, complete
 * or wait. No clock, no database: callers pass the time, which is how the
 * tests drive days of a rollout in milliseconds. Thread-safe.
 */
#ifndef OTAD_SERVICE_ROLLOUT_H
#define OTAD_SERVICE_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#include "model/fleet.h"

/* Device MAC's bucket in a rollout keyed by SALT: 0..FLEET_BP_ALL-1, stable for the rollout. */
uint16_t rollout_bucket(const uint64_t salt[2], int64_t product_id, uint64_t mac);

/*
 * The share (basis points) R admits at NOW_MS: the previous stage's share
 * growing linearly to the current stage's over the plan's ramp. A paused or
 * halted rollout stands at the share it had when it stopped; any other
 * state that is not running admits 0.
 */
uint16_t rollout_admitted_bp(const struct rollout *r, int64_t now_ms);

/* Milliseconds until R's current stage has soaked (time paused excluded); 0 when it has. */
int64_t rollout_soak_left_ms(const struct rollout *r, int64_t now_ms);

enum rollout_verdict {
    VERDICT_WAIT = 0, /* nothing to do yet (REASON says what it waits for) */
    VERDICT_HALT,     /* a threshold tripped (REASON says which) */
    VERDICT_PROMOTE,  /* to the next stage */
    VERDICT_COMPLETE, /* the last stage passed */
};

/*
 * The verdict on running rollout R at NOW_MS, and why, in REASON (SIZE
 * bytes). Not running: VERDICT_WAIT. Halting is judged first, on TOTAL
 * (every stage so far: a device of an earlier stage that fails late still
 * counts), less what a resume acknowledged (R->ack_failed, R->ack_silent);
 * promotion on STAGE, the counters of the devices first offered in the
 * current stage (docs/FLEET.md).
 */
enum rollout_verdict rollout_evaluate(const struct rollout *r, const struct rollout_counts *total,
                                      const struct rollout_counts *stage, int64_t now_ms,
                                      char *reason, size_t size);

/* Failed devices as the thresholds count them: failed (+ silent), each less its acknowledged. */
uint64_t rollout_failures(const struct rollout *r, const struct rollout_counts *total);

/*
 * Devices served, as thresholds and promotion count them: every device the
 * rollout sent a whole body to, whatever became of it since.
 */
uint64_t rollout_served(const struct rollout_counts *total);

#endif
