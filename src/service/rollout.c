/* A rollout's rules (rollout.h, docs/FLEET.md). */
#include "service/rollout.h"

#include <stdio.h>

#include "core/siphash.h"

uint16_t rollout_bucket(const uint64_t salt[2], int64_t product_id, uint64_t mac)
{
    uint8_t msg[14];
    for (unsigned i = 0; i < 8; i++)
        msg[i] = (uint8_t)((uint64_t)product_id >> (8 * i));
    for (unsigned i = 0; i < 6; i++)
        msg[8 + i] = (uint8_t)(mac >> (8 * i));
    /* 2^64 is not a multiple of 10,000; the bias is below 10^-15. */
    return (uint16_t)(siphash24(salt, msg, sizeof(msg)) % FLEET_BP_ALL);
}

/* Time R's current stage has run, paused time excluded. */
static int64_t stage_elapsed_ms(const struct rollout *r, int64_t now_ms)
{
    int64_t until = r->paused_ms ? r->paused_ms : now_ms;
    int64_t elapsed = until - r->stage_started_ms;
    return elapsed > 0 ? elapsed : 0;
}

uint16_t rollout_admitted_bp(const struct rollout *r, int64_t now_ms)
{
    if (r->state != ROLLOUT_RUNNING && r->state != ROLLOUT_PAUSED && r->state != ROLLOUT_HALTED)
        return 0;
    if (r->plan.stage_count == 0 || r->stage >= r->plan.stage_count)
        return FLEET_BP_ALL;
    uint32_t to = r->plan.stages_bp[r->stage];
    uint32_t from = r->stage ? r->plan.stages_bp[r->stage - 1] : 0;
    int64_t ramp_ms = r->plan.ramp_s * 1000;
    int64_t elapsed = stage_elapsed_ms(r, now_ms);
    if (ramp_ms <= 0 || elapsed >= ramp_ms || to <= from)
        return (uint16_t)to;
    return (uint16_t)(from + (uint64_t)(to - from) * (uint64_t)elapsed / (uint64_t)ramp_ms);
}

int64_t rollout_soak_left_ms(const struct rollout *r, int64_t now_ms)
{
    int64_t left = r->plan.soak_s * 1000 - stage_elapsed_ms(r, now_ms);
    return left > 0 ? left : 0;
}

uint64_t rollout_served(const struct rollout_counts *t)
{
    return t->by_outcome[OUTCOME_SERVED] + t->by_outcome[OUTCOME_SUCCEEDED] +
           t->by_outcome[OUTCOME_FAILED] + t->by_outcome[OUTCOME_SILENT];
}

/* A - B, or 0 below it. */
static uint64_t above(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

uint64_t rollout_failures(const struct rollout *r, const struct rollout_counts *t)
{
    /* Each kind against its own acknowledgement: a silent device that comes back hides nothing. */
    uint64_t n = above(t->by_outcome[OUTCOME_FAILED], r->ack_failed);
    if (r->plan.count_silent)
        n += above(t->by_outcome[OUTCOME_SILENT], r->ack_silent);
    return n;
}

enum rollout_verdict rollout_evaluate(const struct rollout *r, const struct rollout_counts *total,
                                      const struct rollout_counts *stage, int64_t now_ms,
                                      char *reason, size_t size)
{
    const struct rollout_plan *p = &r->plan;
    if (r->state != ROLLOUT_RUNNING) {
        snprintf(reason, size, "%s", rollout_state_name(r->state));
        return VERDICT_WAIT;
    }
    uint64_t served = rollout_served(total);
    uint64_t failures = rollout_failures(r, total);
    const char *what = p->count_silent ? "failed or silent" : "failed";
    if (p->fail_max && failures >= p->fail_max) {
        snprintf(reason, size, "%llu devices %s (the limit is %u)", (unsigned long long)failures,
                 what, p->fail_max);
        return VERDICT_HALT;
    }
    if (served && served >= p->fail_min_served &&
        failures * FLEET_BP_ALL >= (uint64_t)p->fail_bp * served && p->fail_bp) {
        snprintf(reason, size, "%llu of %llu served devices %s (%.2f %%; the limit is %.2f %%)",
                 (unsigned long long)failures, (unsigned long long)served, what,
                 100.0 * (double)failures / (double)served, p->fail_bp / 100.0);
        return VERDICT_HALT;
    }
    int64_t soak_left = rollout_soak_left_ms(r, now_ms);
    if (soak_left > 0) {
        snprintf(reason, size, "soaking: %lld s left in stage %u",
                 (long long)(soak_left + 999) / 1000, r->stage + 1);
        return VERDICT_WAIT;
    }
    /* The stage's own devices (first offered in it) must have come back on the new release. */
    uint64_t stage_served = rollout_served(stage);
    uint64_t succeeded = stage->by_outcome[OUTCOME_SUCCEEDED];
    /* Offered devices must come back succeeded: a stage whose bodies all broke off waits. */
    uint64_t need = p->promote_min < stage->offered ? p->promote_min : stage->offered;
    uint64_t need_share =
        ((uint64_t)p->promote_bp * stage_served + FLEET_BP_ALL - 1) / FLEET_BP_ALL;
    if (need_share > need)
        need = need_share;
    if (succeeded < need) {
        snprintf(reason, size,
                 "waiting for devices to come back: %llu of %llu served in stage %u succeeded, "
                 "%llu needed",
                 (unsigned long long)succeeded, (unsigned long long)stage_served, r->stage + 1,
                 (unsigned long long)need);
        return VERDICT_WAIT;
    }
    if (r->stage + 1 >= p->stage_count) {
        snprintf(reason, size,
                 "the last stage soaked and %llu of its %llu served devices succeeded",
                 (unsigned long long)succeeded, (unsigned long long)stage_served);
        return VERDICT_COMPLETE;
    }
    snprintf(reason, size, "stage %u soaked and %llu of %llu served devices succeeded",
             r->stage + 1, (unsigned long long)succeeded, (unsigned long long)served);
    return VERDICT_PROMOTE;
}
