/*
 * Fleet control, as the service offers it to the HTTP API and the CLI
 * (docs/FLEET.md): channels, groups, pins and holds, rollouts and the
 * answer to "why does this device get what it gets". The rules live in
 * service/rollout.h (stages, buckets, halting, promotion) and
 * service/targeting.h (which channel, which release); the rollout
 * controller (service/controller.h) moves rollouts on by itself.
 *
 * Errors and conventions as in service.h: -EINVAL with WHY for bad input,
 * -ENOENT for no such product / channel / group / release / rollout /
 * device, -EEXIST for a taken name, -EALREADY for an action the rollout's
 * state does not allow (pausing a paused one), -EIO. Every function may be
 * called from any thread; every one may block on the database.
 */
#ifndef OTAD_SERVICE_SERVICE_FLEET_H
#define OTAD_SERVICE_SERVICE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"
#include "model/fleet.h"
#include "model/model.h"
#include "service/service.h"

/* --- product settings --- */

/* Replaces PRODUCT's fleet settings (what devices may choose, its download cap). */
int service_product_set_fleet(struct service *svc, const char *product,
                              const struct product_fleet *fleet, struct reason *why);

/* --- channels --- */

/* A channel as the service shows it: its settings and what it offers now. */
struct channel_view {
    struct channel channel;
    bool configured;                                /* has settings of its own (else defaults) */
    char deployed[LIMIT_RELEASE_VERSION_BYTES + 1]; /* sketch release offered outside rollouts */
    char latest[LIMIT_RELEASE_VERSION_BYTES + 1];   /* greatest sketch release published to it */
    int64_t active_rollout_id;                      /* 0 when none */
};

/*
 * Every channel of PRODUCT: those with settings, those releases were
 * published to, and the default channel, by name; free() *RET.
 */
int service_channel_list(struct service *svc, const char *product, struct channel_view **ret,
                         size_t *ret_count, struct reason *why);
/* Channel NAME of PRODUCT (defaults when it has no settings of its own). -EINVAL for a bad name. */
int service_channel_get(struct service *svc, const char *product, const char *name,
                        struct channel_view *ret, struct reason *why);
/*
 * Replaces the settings of channel C->name of PRODUCT with C (product_id
 * and created_ms are filled here). The plan must be valid (stages
 * ascending to 100 %, ramp <= soak), the window's time zone known.
 */
int service_channel_set(struct service *svc, const char *product, struct channel *c,
                        struct reason *why);
/* Drops channel NAME's settings (back to defaults). -ENOENT when it had none. */
int service_channel_reset(struct service *svc, const char *product, const char *name,
                          struct reason *why);

/* --- groups --- */

/*
 * Adds group G to PRODUCT (G->product_id, id, created_ms filled). Its value
 * must suit its match (a MAC prefix of 1 to 5 octets, a chip size in bytes,
 * a non-empty text); a query group needs the product to allow ?group=.
 */
int service_group_add(struct service *svc, const char *product, struct group *g,
                      struct reason *why);
/* Replaces group G->name's settings. -ENOENT. */
int service_group_update(struct service *svc, const char *product, struct group *g,
                         struct reason *why);
int service_group_delete(struct service *svc, const char *product, const char *name,
                         struct reason *why);
/* Groups of PRODUCT by kind, priority, name; with MAC counts in RET_MAC_COUNTS (may be NULL). */
int service_group_list(struct service *svc, const char *product, struct group **ret,
                       uint64_t **ret_mac_counts, size_t *ret_count, struct reason *why);
/* Group NAME and its MACs (free() *RET_MACS; may be NULL). */
int service_group_get(struct service *svc, const char *product, const char *name, struct group *ret,
                      uint64_t **ret_macs, size_t *ret_mac_count, struct reason *why);
/* Adds (ADD) or removes COUNT MACs of a MAC-list group. -EINVAL for another kind of group. */
int service_group_macs(struct service *svc, const char *product, const char *name,
                       const uint64_t *macs, size_t count, bool add, struct reason *why);

/* --- pins and holds --- */

/*
 * Pins device MAC of PRODUCT to release VERSION (MODE), or holds it when
 * VERSION is NULL. NOTE may be NULL. A pin is the one rule above every
 * other: the device is offered exactly that release, older or newer.
 */
int service_pin_set(struct service *svc, const char *product, uint64_t mac, const char *version,
                    enum fw_mode mode, const char *note, struct reason *why);
int service_pin_clear(struct service *svc, const char *product, uint64_t mac, struct reason *why);
int service_pin_list(struct service *svc, const char *product, struct pin **ret, size_t *ret_count,
                     struct reason *why);

/* --- rollouts --- */

struct rollout_request {
    const char *product;
    const char *version;
    enum fw_mode mode;
    const char *channel;             /* NULL: the release's channel */
    const struct rollout_plan *plan; /* NULL: the channel's */
    bool rollback;                   /* an older release on purpose (past downgrade protection) */
    const char *actor;               /* who: a token name, "cli", "github" */
};

/*
 * Starts a rollout of REQ->version to its channel. An active rollout of the
 * channel is superseded, or the new one queued, as the channel's policy
 * says. A release older than the channel's without ROLLBACK is -EINVAL
 * (WHY says to use rollback); the same release as the active rollout's is
 * -EEXIST.
 */
int service_rollout_start(struct service *svc, const struct rollout_request *req,
                          struct rollout *ret, struct reason *why);

enum rollout_action {
    ROLLOUT_ACTION_PAUSE = 0,
    ROLLOUT_ACTION_RESUME = 1, /* a paused or halted one; a resumed halt forgets its failures */
    ROLLOUT_ACTION_ABORT = 2,
    ROLLOUT_ACTION_PROMOTE = 3, /* to the next stage now, soaked or not (the last: completes) */
    ROLLOUT_ACTION_HALT = 4,    /* by hand, as a threshold would */
    ROLLOUT_ACTION_REVERT = 5,  /* a halted or aborted one: offers the channel's release back */
};
const char *rollout_action_name(enum rollout_action a);
int rollout_action_parse(const char *s, enum rollout_action *ret);

/* Applies ACTION to rollout ID of PRODUCT; REASON (may be NULL) is recorded. */
int service_rollout_act(struct service *svc, const char *product, int64_t id,
                        enum rollout_action action, const char *actor, const char *reason,
                        struct rollout *ret, struct reason *why);

/* A rollout with its counters and where its admission stands now. */
struct rollout_status {
    struct rollout rollout;
    struct rollout_counts total;
    struct rollout_counts stages[FLEET_STAGES_MAX];
    uint16_t admitted_bp; /* share of the channel's devices admitted now (ramp included) */
    int64_t soak_left_ms; /* until the current stage may be promoted; 0 when soaked */
    char next[FLEET_REASON_BYTES + 1]; /* what it waits for, in words */
};

/*
 * The active rollouts (running, paused, halted) of every product as the
 * serving catalog holds them, without reading the database: calls FN once
 * per rollout with its product's name and the rollout (both borrowed for
 * the call). Returns how many there were. For a caller that must never wait
 * on the database: `otad serve`'s supervisor thread, which also feeds the
 * watchdog (cli/supervise.c).
 */
size_t service_active_rollouts_each(struct service *svc,
                                    void (*fn)(void *ctx, const char *product,
                                               const struct rollout *rollout),
                                    void *ctx);

/* Rollouts of PRODUCT newest first (ACTIVE_ONLY: running, paused, halted, queued); free(). */
int service_rollout_list(struct service *svc, const char *product, bool active_only,
                         struct rollout_status **ret, size_t *ret_count, struct reason *why);
int service_rollout_get(struct service *svc, const char *product, int64_t id,
                        struct rollout_status *ret, struct reason *why);

/*
 * Runs the rollout controller's work once now (silence deadlines, halts,
 * promotions, queued starts) at the service's clock; the serving daemon does
 * it every second by itself. For tests and `otad rollout tick`.
 */
int service_fleet_tick(struct service *svc);

/* --- devices --- */

/* Why a device gets what it gets: the answer of `otad device show` (docs/FLEET.md). */
struct device_why {
    struct device_record device; /* the last check-in as recorded */
    bool known;                  /* has a registry row */
    int64_t interval_ms;         /* learned check-in interval, 0 until learned */
    char channel[LIMIT_CHANNEL_NAME_BYTES + 1];
    char channel_rule[FLEET_REASON_BYTES + 1]; /* "group lab (MAC list)", "default channel" */
    bool pinned, held;
    int64_t rollout_id; /* the channel's active rollout, 0 when none */
    unsigned stage;
    uint16_t bucket; /* 0..9999 in that rollout */
    bool admitted;
    bool window_open;
    char target[LIMIT_RELEASE_VERSION_BYTES + 1]; /* what it would be offered now ("" nothing) */
    char decision[FLEET_REASON_BYTES + 1];        /* what its next check-in would get, in words */
    bool has_standing;
    struct rollout_device standing; /* its row in the newest rollout that offered it something */
    struct device_event history[FLEET_HISTORY_MAX];
    size_t history_count;
};

/* Device MAC of PRODUCT, evaluated against the current catalog at the service's clock. */
int service_device_show(struct service *svc, const char *product, uint64_t mac,
                        struct device_why *ret, struct reason *why);

/* --- the download that follows a check-in --- */

/*
 * The body of a check-in's 200 (or an /images/ body) has ended: COMPLETE
 * when every byte was sent. Releases the download slot the decision took,
 * records served or interrupted for a rollout's offer, and counts the body
 * in the metrics (docs/METRICS.md). Every ticket service_checkin or
 * service_image_ticket made ends here exactly once. Never blocks; any thread.
 */
void service_delivery_done(struct service *svc, const struct delivery_ticket *ticket,
                           bool complete);

/*
 * A ticket for an /images/ body of PRODUCT (a catalog product's name, as
 * service_image_find found it) of BYTES bytes; WHOLE: the whole image (a
 * 200, not a 206). It holds no slot and no rollout: service_delivery_done
 * only counts it. Never fails.
 */
void service_image_ticket(struct service *svc, const char *product, uint64_t bytes, bool whole,
                          struct delivery_ticket *ret_ticket);

/*
 * service_image_ticket for a whole /images/ body of PRODUCT's release
 * VERSION fetched by device MAC (the ?mac= a manifest puts in the image
 * URL it names: docs/PROTOCOL.md, "Manifest clients"): when the device's
 * open rollout standing offers exactly that release, the ticket carries
 * the offer, so the body's end records it served or interrupted, as a
 * check-in's 200 would, and the device's next poll on anything else is a
 * failure. The body counts against the download caps while it is sent
 * (the manifest poll that named it admitted it: it is never refused here),
 * so later polls see it in flight. Never fails.
 */
void service_image_ticket_device(struct service *svc, const char *product, const char *version,
                                 uint64_t mac, uint64_t bytes, struct delivery_ticket *ret_ticket);

/*
 * Counts a check-in of PRODUCT answered 400 (a malformed identity header,
 * http/update.c) in otad_checkins_total; the product label is empty unless
 * PRODUCT is in the catalog. Takes a catalog reference only.
 */
void service_checkin_malformed(struct service *svc, const char *product);

/*
 * Replaces the clock fleet control reads (milliseconds since the epoch):
 * for tests that drive days of a rollout in seconds. NULL restores the wall
 * clock. Call before any check-in.
 */
void service_set_clock(struct service *svc, int64_t (*now_ms)(void *ctx), void *ctx);

#endif
