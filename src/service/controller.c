/*
 * The rollout controller (docs/FLEET.md): what moves rollouts on with
 * nobody watching. Every second the refresher thread calls fleet_tick:
 * devices past their deadline become silent, each running rollout is
 * judged (rollout.h) and halted, promoted or completed, and a queued
 * rollout starts when its channel is free. Also here: the tracker's life,
 * starting rollouts (by hand or when a release is published to a channel
 * that deploys by rollout), and what completing one changes (the deployed
 * release, withdrawn releases).
 *
 * Locks: fleet_lock makes one tick or one rollout change at a time; it is
 * taken before the database's own lock and never while holding
 * catalog_lock (docs/ARCHITECTURE.md, lock order).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/db_fleet.h"
#include "service/audit.h"
#include "service/catalog.h"
#include "service/controller.h"
#include "service/events.h"
#include "service/rollout.h"
#include "service/service_fleet.h"
#include "service/service_internal.h"
#include "service/service_metrics.h"
#include "service/tracker.h"

/* Silent devices taken from one tick's query into the tracker (the rest are the same to it). */
#define SILENT_BATCH 1024

int64_t service_now_ms(struct service *svc)
{
    return svc->clock ? svc->clock(svc->clock_ctx) : time_now_ms();
}

void service_set_clock(struct service *svc, int64_t (*now_ms)(void *ctx), void *ctx)
{
    svc->clock = now_ms;
    svc->clock_ctx = ctx;
}

atomic_uint *service_download_counter(struct service *svc, int64_t product_id)
{
    atomic_uint *found = NULL;
    pthread_mutex_lock(&svc->counters_lock);
    for (size_t i = 0; i < svc->counter_count && !found; i++)
        if (svc->counters[i]->product_id == product_id)
            found = &svc->counters[i]->in_flight;
    if (!found) {
        struct download_counter *c = calloc(1, sizeof(*c));
        struct download_counter **all =
            c ? realloc(svc->counters, (svc->counter_count + 1) * sizeof(*all)) : NULL;
        if (all) {
            c->product_id = product_id;
            atomic_init(&c->in_flight, 0);
            svc->counters = all;
            svc->counters[svc->counter_count++] = c;
            found = &c->in_flight;
        } else {
            free(c);
        }
    }
    pthread_mutex_unlock(&svc->counters_lock);
    return found;
}

int fleet_open(struct service *svc)
{
    int r = -pthread_mutex_init(&svc->fleet_lock, NULL);
    if (r < 0)
        return r;
    if ((r = -pthread_mutex_init(&svc->counters_lock, NULL)) < 0) {
        pthread_mutex_destroy(&svc->fleet_lock);
        return r;
    }
    if ((r = tracker_new(LIMIT_TRACKER_ENTRIES, &svc->tracker)) < 0) {
        fleet_close(svc);
        return r;
    }
    /* What the check-in path must know of open standings and failures, from before a restart. */
    struct rollout *rollouts = NULL;
    size_t nrollouts = 0;
    struct rollout_device *rows = NULL;
    size_t nrows = 0;
    if ((r = db_rollout_list(svc->db, 0, false, &rollouts, &nrollouts)) < 0 ||
        (r = db_rollout_devices_open(svc->db, &rows, &nrows)) < 0)
        goto out;
    for (size_t i = 0; i < nrows; i++) {
        const struct rollout *ro = NULL;
        for (size_t k = 0; k < nrollouts && !ro; k++)
            if (rollouts[k].id == rows[i].rollout_id)
                ro = &rollouts[k];
        if (!ro)
            continue;
        struct standing s = {
            .product_id = ro->product_id,
            .mac = rows[i].mac,
            .rollout_id = ro->id,
            .release_id = ro->release_id,
            .mode = ro->mode,
            .stage = rows[i].stage,
            .outcome = rows[i].outcome,
        };
        if ((r = tracker_put(svc->tracker, &s)) < 0)
            goto out;
    }
    if (nrows)
        log_info("fleet: %zu devices in flight in rollouts, or failed one", nrows);
out:
    free(rollouts);
    free(rows);
    if (r < 0)
        fleet_close(svc);
    return r;
}

void fleet_close(struct service *svc)
{
    tracker_free(svc->tracker);
    svc->tracker = NULL;
    for (size_t i = 0; i < svc->counter_count; i++)
        free(svc->counters[i]);
    free(svc->counters);
    pthread_mutex_destroy(&svc->counters_lock);
    pthread_mutex_destroy(&svc->fleet_lock);
}

int fleet_channel_settings(struct service *svc, int64_t product_id, const char *name,
                           struct channel *ret, bool *ret_configured)
{
    int r = db_channel_get(svc->db, product_id, name, ret);
    if (r == -ENOENT) {
        memset(ret, 0, sizeof(*ret));
        ret->product_id = product_id;
        str_copy(ret->name, sizeof(ret->name), name);
        ret->deploy = DEPLOY_IMMEDIATE;
        ret->on_new = ON_NEW_SUPERSEDE;
        rollout_plan_default(&ret->plan);
        if (ret_configured)
            *ret_configured = false;
        return 0;
    }
    if (r == 0 && ret_configured)
        *ret_configured = true;
    return r;
}

/* The deployment row of (CHANNEL, MODE): 1 with *RET_RELEASE_ID, 0 when it has none, -errno. */
static int deployment_of(struct service *svc, int64_t product_id, const char *channel,
                         enum fw_mode mode, int64_t *ret_release_id)
{
    struct deployment *rows = NULL;
    size_t n = 0;
    int r = db_deployment_list(svc->db, product_id, &rows, &n);
    if (r < 0)
        return r;
    r = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].mode == mode && strcmp(rows[i].channel, channel) == 0) {
            *ret_release_id = rows[i].release_id;
            r = 1;
            break;
        }
    }
    free(rows);
    return r;
}

int fleet_before_publish(struct service *svc, int64_t product_id, const char *channel,
                         enum fw_mode mode)
{
    struct channel ch;
    int r = fleet_channel_settings(svc, product_id, channel, &ch, NULL);
    if (r < 0 || ch.deploy == DEPLOY_IMMEDIATE)
        return r;
    int64_t deployed = 0;
    if ((r = deployment_of(svc, product_id, channel, mode, &deployed)) != 0)
        return r < 0 ? r : 0;
    /* No row yet: freeze what the channel offers now (its greatest release, or nothing). */
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = NULL;
    for (size_t i = 0; cat && i < cat->product_count && !cp; i++)
        if (cat->products[i].product.id == product_id)
            cp = &cat->products[i];
    const struct catalog_release *now = cp ? catalog_target(cp, channel, mode) : NULL;
    r = db_deployment_set(svc->db, product_id, channel, mode, now ? now->release.id : 0);
    catalog_unref(cat);
    return r;
}

/* The catalog's product with ID (a reference held in *RET_CAT: unref it), or NULL. */
static const struct catalog_product *catalog_product_by_id(struct service *svc, int64_t id,
                                                           struct catalog **ret_cat)
{
    struct catalog *cat = service_catalog_get(svc);
    *ret_cat = cat;
    for (size_t i = 0; cat && i < cat->product_count; i++)
        if (cat->products[i].product.id == id)
            return &cat->products[i];
    return NULL;
}

/* The name of product ID into OUT ("" when the catalog has none). */
static void product_name_by_id(struct service *svc, int64_t id,
                               char out[LIMIT_PRODUCT_NAME_BYTES + 1])
{
    struct catalog *cat;
    const struct catalog_product *cp = catalog_product_by_id(svc, id, &cat);
    out[0] = 0;
    if (cp)
        str_copy(out, LIMIT_PRODUCT_NAME_BYTES + 1, cp->product.name);
    catalog_unref(cat);
}

/*
 * Records in the audit log a move the controller made by itself (VERB:
 * "halt", "promote", "complete", "start" for a queued rollout, "revert"
 * after a halt), as via system (docs/AUDIT.md), with RESULT (0 or -errno);
 * PARAM (stolen, may be NULL) adds to what is kept. An operator's action is
 * recorded where it came in.
 */
static void audit_controller(struct service *svc, const struct rollout *r, const char *verb,
                             int result, const char *reason, json_t *param)
{
    static const struct actor controller = {
        .via = ACTOR_VIA_SYSTEM, .name = "controller", .address = "local"};
    char product[LIMIT_PRODUCT_NAME_BYTES + 1], action[LIMIT_AUDIT_ACTION_BYTES + 1], id[24];
    product_name_by_id(svc, r->product_id, product);
    snprintf(action, sizeof(action), "rollout.%s", verb);
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    json_t *params = json_pack("{s:s,s:s,s:i,s:s}", "version", r->version, "channel", r->channel,
                               "stage", (int)r->stage + 1, "reason", reason ? reason : "");
    if (params && json_is_object(param))
        json_object_update(params, param);
    json_decref(param);
    struct audit_note note = {.actor = &controller,
                              .action = action,
                              .product = product,
                              .object = id,
                              .params = params,
                              .result = result,
                              .reason = reason};
    service_audit_record(svc, &note); /* logs its own failure */
    json_decref(params);
}

void fleet_after_publish(struct service *svc, const struct release *published, const char *actor)
{
    struct channel ch;
    int r = fleet_channel_settings(svc, published->product_id, published->channel, &ch, NULL);
    if (r < 0) {
        log_warn("fleet: cannot read channel %s after publishing %s: %s", published->channel,
                 published->version, strerror(-r));
        return;
    }
    if (ch.deploy == DEPLOY_MANUAL)
        return;
    if (ch.deploy == DEPLOY_IMMEDIATE) {
        /* A row left by an earlier rollout: the new release replaces it when it is greater. */
        int64_t deployed = 0;
        if (deployment_of(svc, published->product_id, published->channel, published->mode,
                          &deployed) <= 0)
            return;
        struct catalog *cat;
        const struct catalog_product *cp = catalog_product_by_id(svc, published->product_id, &cat);
        const struct catalog_target *t =
            cp ? catalog_target_entry(cp, published->channel, published->mode) : NULL;
        if (t && t->greatest && t->greatest->release.id == published->id &&
            db_deployment_set(svc->db, published->product_id, published->channel, published->mode,
                              published->id) == 0)
            service_refresh_after_write(svc, "deploy");
        catalog_unref(cat);
        return;
    }
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    product_name_by_id(svc, published->product_id, product);
    struct rollout_request req = {
        .product = product,
        .version = published->version,
        .mode = published->mode,
        .channel = published->channel,
        .actor = actor,
    };
    struct reason why = {""};
    struct rollout ro;
    if ((r = service_rollout_start(svc, &req, &ro, &why)) < 0)
        log_warn("fleet: %s %s: no rollout started on channel %s: %s", product, published->version,
                 published->channel, why.text);
}

/* Withdraws the releases of R's channel and mode ordered above R's release (a completed rollback).
 */
static int withdraw_above(struct service *svc, const struct rollout *r)
{
    struct catalog *cat;
    const struct catalog_product *cp = catalog_product_by_id(svc, r->product_id, &cat);
    const struct catalog_release *base = cp ? catalog_release_by_id(cp, r->release_id) : NULL;
    int ret = 0;
    if (base) {
        int64_t *ids = calloc(cp->release_count ? cp->release_count : 1, sizeof(*ids));
        size_t n = 0;
        if (!ids) {
            ret = -ENOMEM;
        } else {
            for (size_t i = 0; i < cp->release_count; i++) {
                const struct catalog_release *x = &cp->releases[i];
                if (x->release.mode == r->mode && strcmp(x->release.channel, r->channel) == 0 &&
                    release_order(x, base) > 0)
                    ids[n++] = x->release.id;
            }
            ret = n ? db_release_withdraw(svc->db, ids, n, service_now_ms(svc)) : 0;
            free(ids);
        }
    }
    catalog_unref(cat);
    return ret;
}

/* R's last stage passed: its release becomes the channel's. fleet_lock held. */
static int complete(struct service *svc, struct rollout *r, const char *reason)
{
    /*
     * The rollout first: it is written only while still as read, so a halt
     * another node or command made meanwhile stops the channel from moving
     * to a release just halted (-ESTALE, nothing moved).
     */
    r->state = ROLLOUT_COMPLETED;
    r->paused_ms = 0;
    str_copy(r->reason, sizeof(r->reason), reason);
    r->updated_ms = service_now_ms(svc);
    int ret = db_rollout_update(svc->db, r);
    if (ret == 0)
        ret = db_deployment_set(svc->db, r->product_id, r->channel, r->mode, r->release_id);
    if (ret == 0 && r->kind == ROLLOUT_ROLLBACK)
        ret = withdraw_above(svc, r);
    if (ret == 0 && r->kind == ROLLOUT_REVERT && r->from_release_id)
        ret = db_release_withdraw(svc->db, &r->from_release_id, 1, service_now_ms(svc));
    if (ret < 0)
        return ret;
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    product_name_by_id(svc, r->product_id, product);
    log_info_about(
        &(struct log_fields){.product = product, .release = r->version, .rollout_id = r->id},
        "fleet: rollout %lld (%s %s on %s) completed: %s", (long long)r->id,
        rollout_kind_name(r->kind), r->version, r->channel, reason);
    return 0;
}

/* fleet_rollout_transition's change itself. */
static int rollout_change(struct service *svc, struct rollout *r, enum rollout_verdict verdict,
                          const char *reason)
{
    int64_t now = service_now_ms(svc);
    switch (verdict) {
    case VERDICT_WAIT:
        return 0;
    case VERDICT_HALT:
        r->state = ROLLOUT_HALTED;
        r->paused_ms = now;
        str_copy(r->reason, sizeof(r->reason), reason);
        r->updated_ms = now;
        char product[LIMIT_PRODUCT_NAME_BYTES + 1];
        product_name_by_id(svc, r->product_id, product);
        log_warn_about(
            &(struct log_fields){.product = product, .release = r->version, .rollout_id = r->id},
            "fleet: rollout %lld (%s on %s) halted at stage %u: %s", (long long)r->id, r->version,
            r->channel, r->stage + 1, reason);
        metric_inc(&metric_rollouts_halted, (const char *[]){product, r->channel});
        return db_rollout_update(svc->db, r);
    case VERDICT_PROMOTE:
        r->stage++;
        r->stage_started_ms = now;
        r->paused_ms = 0;
        r->reason[0] = 0;
        r->updated_ms = now;
        log_info_about(&(struct log_fields){.release = r->version, .rollout_id = r->id},
                       "fleet: rollout %lld (%s on %s) promoted to stage %u (%.2f %%): %s",
                       (long long)r->id, r->version, r->channel, r->stage + 1,
                       r->plan.stages_bp[r->stage] / 100.0, reason);
        return db_rollout_update(svc->db, r);
    case VERDICT_COMPLETE:
        return complete(svc, r, reason);
    }
    return 0;
}

/* R's counters of STAGE as the events' JSON ({} when they cannot be read). */
static json_t *stage_counters_json(struct service *svc, const struct rollout *r, unsigned stage)
{
    struct rollout_counts stages[FLEET_STAGES_MAX], total;
    if (stage >= FLEET_STAGES_MAX ||
        db_rollout_counts(svc->db, r->id, stages, r->plan.stage_count, &total) < 0)
        return json_object();
    const struct rollout_counts *c = &stages[stage];
    json_t *o = json_pack("{s:I,s:I}", "offered", (json_int_t)c->offered, "interruptions",
                          (json_int_t)c->interruptions);
    for (unsigned k = 0; o && k < OUTCOME_COUNT; k++)
        if (k != OUTCOME_OFFERED) /* "offered" counts every device offered, whatever became */
            json_object_set_new(o, device_outcome_name((enum device_outcome)k),
                                json_integer((json_int_t)c->by_outcome[k]));
    return o;
}

/*
 * Tells the notification layer what R's transition VERDICT did (after it
 * was stored): halted with the stage's counters, promoted to which stage,
 * completed. Only queues (events.h): a receiver never slows the controller.
 */
static void rollout_event(struct service *svc, const struct rollout *r,
                          enum rollout_verdict verdict, const char *reason)
{
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    product_name_by_id(svc, r->product_id, product);
    json_t *data = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:s}", "rollout", (json_int_t)r->id,
                             "version", r->version, "channel", r->channel, "mode",
                             fw_mode_name(r->mode), "kind", rollout_kind_name(r->kind), "stage",
                             (json_int_t)r->stage + 1, "reason", reason ? reason : "");
    enum event_kind kind = EVENT_ROLLOUT_COMPLETED;
    if (data && verdict == VERDICT_HALT) {
        kind = EVENT_ROLLOUT_HALTED;
        json_object_set_new(data, "stages", json_integer((json_int_t)r->plan.stage_count));
        json_object_set_new(data, "counters", stage_counters_json(svc, r, r->stage));
    } else if (data && verdict == VERDICT_PROMOTE) {
        kind = EVENT_ROLLOUT_PROMOTED;
        json_object_set_new(data, "stages", json_integer((json_int_t)r->plan.stage_count));
        json_object_set_new(data, "percent", json_real(r->plan.stages_bp[r->stage] / 100.0));
    }
    if (events_emit(svc->events, kind, product, data) < 0)
        log_warn("fleet: rollout %lld: the %s event was dropped (the event queue is full)",
                 (long long)r->id, event_kind_name(kind));
}

int fleet_rollout_transition(struct service *svc, struct rollout *r, enum rollout_verdict verdict,
                             const char *reason)
{
    int ret = rollout_change(svc, r, verdict, reason);
    if (ret == 0 && verdict != VERDICT_WAIT)
        rollout_event(svc, r, verdict, reason);
    return ret;
}

/* Starts queued rollout R when nothing is active on its channel. 1 when started. */
static int start_queued(struct service *svc, struct rollout *r, const struct rollout *all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (all[i].id != r->id && all[i].product_id == r->product_id && all[i].mode == r->mode &&
            rollout_state_active(all[i].state) && strcmp(all[i].channel, r->channel) == 0)
            return 0;
    /* The oldest queued one goes first. */
    for (size_t i = 0; i < n; i++)
        if (all[i].id < r->id && all[i].state == ROLLOUT_QUEUED &&
            all[i].product_id == r->product_id && all[i].mode == r->mode &&
            strcmp(all[i].channel, r->channel) == 0)
            return 0;
    int64_t now = service_now_ms(svc);
    r->state = ROLLOUT_RUNNING;
    r->stage = 0;
    r->stage_started_ms = now;
    r->updated_ms = now;
    int ret = db_rollout_update(svc->db, r);
    if (ret == 0) {
        log_info("fleet: queued rollout %lld (%s on %s) started", (long long)r->id, r->version,
                 r->channel);
        audit_controller(svc, r, "start", 0, "the channel's running rollout ended", NULL);
    }
    return ret < 0 ? ret : 1;
}

static void start_revert_after_halt(struct service *svc, const struct rollout *halted)
{
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    product_name_by_id(svc, halted->product_id, product);
    struct reason why = {""};
    struct rollout rev;
    int r = fleet_revert(svc, product, halted, "controller", &rev, &why);
    if (r < 0)
        log_warn("fleet: rollout %lld halted; its revert did not start: %s", (long long)halted->id,
                 why.text);
    audit_controller(svc, halted, "revert", r, r < 0 ? why.text : "revert_on_halt",
                     r < 0 ? NULL : json_pack("{s:I}", "revert_id", (json_int_t)rev.id));
}

int fleet_tick(struct service *svc)
{
    pthread_mutex_lock(&svc->fleet_lock);
    int64_t now = service_now_ms(svc);
    bool changed = false;
    struct rollout_device silent[SILENT_BATCH];
    size_t nsilent = 0;
    int r = db_rollout_mark_silent(svc->db, now, silent, SILENT_BATCH, &nsilent);
    if (r == 0) {
        for (size_t i = 0; i < nsilent && i < SILENT_BATCH; i++)
            tracker_mark_silent(svc->tracker, silent[i].product_id, silent[i].mac,
                                silent[i].rollout_id);
    }
    struct rollout *all = NULL;
    size_t n = 0;
    if (r == 0)
        r = db_rollout_list(svc->db, 0, true, &all, &n);
    /* Reverts start after the pass, without fleet_lock held over the rest of it. */
    struct rollout *revert = calloc(n ? n : 1, sizeof(*revert));
    size_t nrevert = 0;
    if (!revert && r == 0)
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct rollout *ro = &all[i];
        if (ro->state == ROLLOUT_QUEUED) {
            int s = start_queued(svc, ro, all, n);
            r = s < 0 ? s : 0;
            changed |= s > 0;
            continue;
        }
        if (ro->state != ROLLOUT_RUNNING)
            continue;
        struct rollout_counts stages[FLEET_STAGES_MAX], total;
        if ((r = db_rollout_counts(svc->db, ro->id, stages, ro->plan.stage_count, &total)) < 0)
            break;
        char reason[FLEET_REASON_BYTES + 1];
        enum rollout_verdict v =
            rollout_evaluate(ro, &total, &stages[ro->stage], now, reason, sizeof(reason));
        if (v == VERDICT_WAIT)
            continue;
        if ((r = fleet_rollout_transition(svc, ro, v, reason)) == -ESTALE) {
            /* Another node or command changed it since this pass read it: the next pass decides. */
            log_info("fleet: rollout %lld changed meanwhile; decided again at the next pass",
                     (long long)ro->id);
            r = 0;
            changed = true;
            continue;
        }
        if (r < 0)
            break;
        audit_controller(svc, ro,
                         v == VERDICT_HALT      ? "halt"
                         : v == VERDICT_PROMOTE ? "promote"
                                                : "complete",
                         0, reason, NULL);
        changed = true;
        if (v == VERDICT_HALT && ro->plan.revert_on_halt)
            revert[nrevert++] = *ro;
    }
    free(all);
    pthread_mutex_unlock(&svc->fleet_lock);
    if (changed)
        service_refresh_after_write(svc, "rollout change");
    for (size_t i = 0; i < nrevert; i++)
        start_revert_after_halt(svc, &revert[i]);
    free(revert);
    if (r < 0)
        log_warn("fleet: the rollout controller's pass failed (the next one retries): %s",
                 strerror(-r));
    return r;
}

int service_fleet_tick(struct service *svc)
{
    return fleet_tick(svc);
}
