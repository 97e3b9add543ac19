/*
 * Device traffic (service.h): the check-in decided from the catalog alone
 * and queued to the registry, the image URL's form, and the registry's
 * read side. Nothing here touches the database on a check-in.
 */
#include "service/service.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/catalog.h"
#include "service/compat.h"
#include "service/decide.h"
#include "service/partial.h"
#include "service/present.h"
#include "service/registry.h"
#include "service/service_fleet.h"
#include "service/service_internal.h"
#include "service/service_metrics.h"
#include "service/targeting.h"
#include "service/tracker.h"

/*
 * Logs ISSUE once per product and catalog (so again after a release or a
 * setting changes): a stuck fleet must not flood the log, nor go unseen.
 * The device whose check-in met it first (REPORT) and the release it was
 * offered or refused (D) go with it, in words and as journal fields.
 */
static void warn_delivery_issue(const struct catalog_product *cp, enum delivery_issue issue,
                                const struct device_report *report, const struct decision *d)
{
    unsigned bit = 1u << issue;
    if (!cp->issues_logged || atomic_load_explicit(cp->issues_logged, memory_order_relaxed) & bit ||
        atomic_fetch_or_explicit(cp->issues_logged, bit, memory_order_relaxed) & bit)
        return;
    char fix[512];
    delivery_issue_fix_for(issue, cp->product.name, fix, sizeof(fix));
    char mac[18] = "";
    if (report->has_sta_mac)
        mac_format(report->sta_mac, mac);
    log_warn_about(
        &(struct log_fields){.product = cp->product.name, .device_mac = mac, .release = d->version},
        "product %s: %s (%s; first met by device %s); fix: %s", cp->product.name,
        delivery_issue_message(issue), delivery_issue_code(issue), mac[0] ? mac : "without a MAC",
        fix);
}

/*
 * Takes a download slot of the node's cap and of the product's (docs/FLEET.md,
 * herd control) into T: false, and nothing taken, when either is full.
 * Nothing is counted when neither has a cap.
 */
static bool take_download_slot(struct service *svc, const struct catalog_product *cp,
                               struct delivery_ticket *t)
{
    /* On several nodes each cap is the cluster's: this node takes its share. */
    unsigned node_cap = service_download_share(svc, (unsigned)svc->config.max_downloads);
    unsigned product_cap = service_download_share(svc, cp->product.fleet.max_downloads);
    if (!node_cap && !product_cap)
        return true;
    unsigned node = atomic_fetch_add_explicit(&svc->node_downloads, 1, memory_order_relaxed);
    if (node_cap && node >= node_cap) {
        atomic_fetch_sub_explicit(&svc->node_downloads, 1, memory_order_relaxed);
        return false;
    }
    t->holds_slot = true;
    if (!cp->downloads)
        return true; /* a product built by hand has no counter: the node's cap alone */
    unsigned product = atomic_fetch_add_explicit(cp->downloads, 1, memory_order_relaxed);
    if (product_cap && product >= product_cap) {
        atomic_fetch_sub_explicit(cp->downloads, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&svc->node_downloads, 1, memory_order_relaxed);
        t->holds_slot = false;
        return false;
    }
    t->holds_product_slot = true;
    return true;
}

/*
 * Counts a body in flight against the node's and CP's caps into T without
 * refusing it: a manifest client's image, which its manifest poll admitted
 * (take_download_slot) on the bodies in flight then. Nothing is counted
 * when neither has a cap.
 */
static void count_download_slot(struct service *svc, const struct catalog_product *cp,
                                struct delivery_ticket *t)
{
    unsigned node_cap = service_download_share(svc, (unsigned)svc->config.max_downloads);
    unsigned product_cap = service_download_share(svc, cp->product.fleet.max_downloads);
    if (!node_cap && !product_cap)
        return;
    atomic_fetch_add_explicit(&svc->node_downloads, 1, memory_order_relaxed);
    t->holds_slot = true;
    t->product_id = cp->product.id;
    if (cp->downloads) {
        atomic_fetch_add_explicit(cp->downloads, 1, memory_order_relaxed);
        t->holds_product_slot = true;
    }
}

static void give_download_slot(struct service *svc, const struct delivery_ticket *t)
{
    atomic_fetch_sub_explicit(&svc->node_downloads, 1, memory_order_relaxed);
    /* The counter it was taken from: counters are never freed, and found again by product. */
    atomic_uint *c = t->holds_product_slot ? service_download_counter(svc, t->product_id) : NULL;
    if (c)
        atomic_fetch_sub_explicit(c, 1, memory_order_relaxed);
}

/* A decision to offer becomes "nothing now" (304): the window is shut, or the cap is reached. */
static void hold_back(struct decision *d, const char *why)
{
    d->kind = DECISION_CURRENT;
    d->release_id = 0;
    d->version[0] = 0;
    snprintf(d->reason, sizeof(d->reason), "%s", why);
}

static void queue_event(struct service *svc, const struct fleet_event *ev)
{
    if (svc->registry)
        registry_fleet_event(svc->registry, ev);
}

/*
 * The fleet events one check-in decides (the outcome it observes, the offer
 * it makes), held until its device record is queued: a flush between the two
 * would apply an offer of a new device before the device's row exists, and
 * the offer (with everything after it) would be lost.
 */
struct checkin_events {
    struct fleet_event ev[2];
    unsigned count;
};

static void hold_event(struct checkin_events *held, const struct fleet_event *ev)
{
    if (held->count < sizeof(held->ev) / sizeof(held->ev[0]))
        held->ev[held->count++] = *ev;
}

/*
 * Fleet control around the decision (docs/FLEET.md): the outcome this
 * check-in decides, the target, and after the decision the window, the
 * download cap and the rollout's offer.
 */
static void decide_with_fleet(struct service *svc, const struct catalog_product *cp,
                              const struct device_report *report, const struct checkin_context *ctx,
                              struct decision *d, struct device_record *rec,
                              struct checkin_events *held)
{
    uint64_t mac = report->has_sta_mac ? mac_to_u64(report->sta_mac) : 0;
    int64_t now = service_now_ms(svc);
    /* A continuation is decided as its check-in was; the offer event came with that one. */
    bool record = !ctx->continuation;
    enum fw_mode mode = decide_mode(report);
    const struct catalog_release *running = NULL;
    bool tracked = svc->tracker && !tracker_empty(svc->tracker);
    if (mac && (tracked || cp->rollout_count))
        running = decide_running(cp, report, mode); /* a revert applies by what it runs */
    if (mac && tracked) {
        struct fleet_event ev;
        if (tracker_observe(svc->tracker, cp->product.id, mac, mode,
                            running ? running->release.id : 0, now, &ev)) {
            str_copy(ev.version, sizeof(ev.version), report->version);
            hold_event(held, &ev);
        }
    }
    struct target_choice choice;
    target_choose(cp, report, mac, mode, running, svc->tracker, now, &choice);
    /* Recorded with the check-in: the device list filters by them (migration 009). */
    str_copy(rec->channel, sizeof(rec->channel), choice.channel ? choice.channel : "");
    str_copy(rec->group, sizeof(rec->group), choice.group ? choice.group->group.name : "");
    struct decide_request req = {
        .report = report,
        .channel = choice.channel,
        .legacy_alias = ctx->legacy_alias,
        .has_target = true,
        .target = choice.target,
        .exact = choice.exact,
    };
    decide(cp, &req, d);
    if (d->kind != DECISION_UPDATE)
        return;
    if (choice.held || !choice.window_open) {
        hold_back(d, choice.held ? "held: nothing is offered to this device"
                                 : "outside the maintenance window");
        return;
    }
    struct delivery_ticket *t = &d->ticket;
    if (!take_download_slot(svc, cp, t)) {
        metric_inc(&metric_downloads_refused, (const char *[]){cp->product.name});
        hold_back(d, "the download cap is reached: checks again later");
        return;
    }
    t->product_id = cp->product.id;
    t->mac = mac;
    t->release_id = d->release_id;
    if (!choice.admitted || !mac || !svc->tracker)
        return;
    /*
     * A rollout's offer is tracked until the device comes back. Outside a
     * rollout an offer is not: a device that comes back on what it ran is
     * offered again at its next check-in, as before fleet control
     * (docs/FLEET.md).
     */
    const struct rollout *ro = &choice.rollout->rollout;
    struct standing s = {
        .product_id = cp->product.id,
        .mac = mac,
        .rollout_id = ro->id,
        .release_id = ro->release_id,
        .mode = ro->mode,
        .stage = ro->stage,
    };
    if (tracker_offer(svc->tracker, &s) < 0)
        return;
    t->rollout_id = ro->id;
    t->mode = ro->mode;
    t->stage = ro->stage;
    struct fleet_event ev = {
        .kind = FLEET_EVENT_OFFER,
        .product_id = cp->product.id,
        .mac = mac,
        .rollout_id = ro->id,
        .release_id = ro->release_id,
        .stage = ro->stage,
        .from_release_id = running ? running->release.id : 0,
        .at_ms = now,
    };
    str_copy(ev.version, sizeof(ev.version), report->version);
    if (record)
        hold_event(held, &ev);
}

/* A product that requires HTTPS, asked over plain HTTP: 403 with the reason, never an image. */
static void refuse_plain_http(const struct catalog_product *cp, struct decision *d)
{
    memset(d, 0, sizeof(*d));
    d->kind = DECISION_REFUSED;
    snprintf(d->reason, sizeof(d->reason),
             "product %s requires HTTPS: check in on the server's https:// address",
             cp->product.name);
}

/* The answer a decision of KIND gets from update.c. */
static int checkin_status(enum decision_kind kind)
{
    switch (kind) {
    case DECISION_CURRENT:
        return 304;
    case DECISION_REFUSED:
        return 403;
    case DECISION_UNKNOWN:
        return 404;
    default:
        return 200;
    }
}

/* Counts a check-in of CP (NULL: no such product) in CHANNEL answered STATUS. */
static void count_checkin(const struct catalog_product *cp, const char *channel, int status)
{
    static const char *const names[] = {"200", "304", "400", "403", "404"};
    const char *text = status == 304   ? names[1]
                       : status == 400 ? names[2]
                       : status == 403 ? names[3]
                       : status == 404 ? names[4]
                                       : names[0];
    metric_inc(&metric_checkins, (const char *[]){cp ? cp->product.name : "", channel, text});
}

/* The ticket's metrics: a body in flight, to be counted when it ends (service_delivery_done). */
static void ticket_count(struct delivery_ticket *t, const char *product, uint64_t bytes, bool whole)
{
    t->in_flight = true;
    t->bytes = bytes;
    t->served = whole ? metric_series(&metric_images_served, (const char *[]){product}) : NULL;
    metric_gauge_add(&metric_downloads_active, NULL, 1);
}

/* How a check-in came: the stock check-in, or a manifest client's poll (service_manifest). */
enum checkin_via {
    VIA_CHECKIN = 0,
    VIA_MANIFEST,         /* the image is fetched by a second request, without identity */
    VIA_MANIFEST_NUMERIC, /* and the client reads only dotted numbers as versions (esp32FOTA) */
};

/*
 * Whether VERSION reads the same to a client that knows only dotted
 * numbers (esp32FOTA's semver_parse_version, docs/PROTOCOL.md "esp32FOTA"):
 * one to three groups of one to nine decimal digits. Anything else it reads
 * as 0.0.0 (or, for a fourth group, drops it), so it would never install it.
 */
static bool version_numeric(const char *version)
{
    unsigned groups = 0;
    const char *p = version;
    for (;;) {
        size_t digits = 0;
        while (p[digits] >= '0' && p[digits] <= '9')
            digits++;
        if (digits == 0 || digits > 9 || ++groups > 3)
            return false;
        p += digits;
        if (*p == 0)
            return true;
        if (*p++ != '.')
            return false;
    }
}

/*
 * A manifest poll's offer (VIA is not VIA_CHECKIN): the manifest is not the
 * image, so the download slot the decision took is given back at once (the
 * image request carries no identity), while a rollout's offer stays open
 * for the device's next poll to decide. An offer the client cannot read is
 * refused before the registry or the rollout's counters hear of it (the
 * tracker keeps its open standing in memory: only a device that runs that
 * release could decide it, and it is offered again, and refused, at the
 * next poll).
 */
static void manifest_offer(struct service *svc, enum checkin_via via, struct decision *d,
                           struct checkin_events *held)
{
    struct delivery_ticket slot = d->ticket;
    slot.rollout_id = 0;
    service_delivery_done(svc, &slot, false);
    memset(&d->ticket, 0, sizeof(d->ticket));
    if (via != VIA_MANIFEST_NUMERIC || version_numeric(d->version))
        return;
    char version[sizeof(d->version)];
    str_copy(version, sizeof(version), d->version);
    memset(d, 0, sizeof(*d));
    d->kind = DECISION_REFUSED;
    snprintf(d->reason, sizeof(d->reason),
             "release %.48s is not a dotted number (1.2.3): esp32FOTA would read it as 0.0.0 "
             "and never install it",
             version);
    unsigned kept = 0;
    for (unsigned i = 0; i < held->count; i++)
        if (held->ev[i].kind != FLEET_EVENT_OFFER)
            held->ev[kept++] = held->ev[i];
    held->count = kept;
}

/* The variant of CP whose blob is SHA256, with its release in *RET_RELEASE; NULL if none. */
static const struct variant *variant_by_sha256(const struct catalog_product *cp, const char *sha256,
                                               const struct release **ret_release)
{
    for (size_t i = 0; i < cp->release_count; i++) {
        const struct release *rel = &cp->releases[i].release;
        for (unsigned v = 0; v < rel->variant_count; v++)
            if (strcmp(rel->variants[v].sha256, sha256) == 0) {
                *ret_release = rel;
                return &rel->variants[v];
            }
    }
    return NULL;
}

/*
 * An ESP-IDF download in ranges (partial.h) stays one image: the range from
 * byte 0 pins the form offered; a later range whose check-in now decides
 * another form (a publish, a promotion, a halt in between) is sent from the
 * pinned one, which is not the new offer's to count. When the pinned form
 * is no longer published, the range is refused and the device starts over.
 */
static void keep_download_whole(struct service *svc, const struct catalog_product *cp,
                                const struct device_report *report,
                                const struct checkin_context *ctx, struct decision *d)
{
    uint64_t mac = mac_to_u64(report->sta_mac);
    int64_t now = service_now_ms(svc);
    if (!ctx->continuation) {
        partial_download_begin(svc->partial, cp->product.id, mac, d->variant.sha256, now);
        return;
    }
    char pinned[SHA256_HEX_LEN + 1];
    if (!partial_download_pinned(svc->partial, cp->product.id, mac, now, pinned) ||
        strcmp(pinned, d->variant.sha256) == 0)
        return;
    const struct release *rel = NULL;
    const struct variant *v = variant_by_sha256(cp, pinned, &rel);
    if (v) {
        d->variant = *v;
        d->release_id = rel->id;
        str_copy(d->version, sizeof(d->version), rel->version);
        d->ticket.rollout_id = 0; /* the bytes of an earlier offer: not this one's download */
        d->ticket.release_id = rel->id;
        return;
    }
    struct delivery_ticket slot = d->ticket;
    slot.rollout_id = 0;
    service_delivery_done(svc, &slot, false);
    memset(d, 0, sizeof(*d));
    d->kind = DECISION_REFUSED;
    snprintf(d->reason, sizeof(d->reason),
             "the image this download began on is no longer published: start it again");
}

/* One check-in or manifest poll with identity: decided, counted, recorded (service_checkin). */
static void checkin_run(struct service *svc, const char *product,
                        const struct device_report *report, const struct checkin_context *ctx,
                        enum checkin_via via, struct decision *ret_decision)
{
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    struct device_record rec;
    struct checkin_events held = {.count = 0};
    rec.channel[0] = rec.group[0] = 0;
    if (cp && cp->product.fleet.require_https && !ctx->tls) {
        refuse_plain_http(cp, ret_decision);
    } else if (cp) {
        decide_with_fleet(svc, cp, report, ctx, ret_decision, &rec, &held);
    } else {
        struct decide_request req = {
            .report = report, .channel = "", .legacy_alias = ctx->legacy_alias};
        decide(NULL, &req, ret_decision);
    }
    if (cp && via != VIA_CHECKIN && ret_decision->kind == DECISION_UPDATE)
        manifest_offer(svc, via, ret_decision, &held);
    if (cp && via == VIA_CHECKIN && report->idf && report->has_sta_mac &&
        ret_decision->kind == DECISION_UPDATE)
        keep_download_whole(svc, cp, report, ctx, ret_decision);
    if (cp && ret_decision->issue != DELIVERY_OK)
        warn_delivery_issue(cp, ret_decision->issue, report, ret_decision);
    if (!ctx->continuation)
        count_checkin(cp, rec.channel, checkin_status(ret_decision->kind));
    if (cp && via == VIA_CHECKIN && ret_decision->kind == DECISION_UPDATE)
        ticket_count(&ret_decision->ticket, cp->product.name, ret_decision->variant.size, true);

    if (cp && report->has_sta_mac && svc->registry && !ctx->continuation) {
        rec.interval_ms = 0;
        rec.product_id = cp->product.id;
        rec.report = *report;
        str_copy(rec.remote_addr, sizeof(rec.remote_addr),
                 ctx->remote_addr ? ctx->remote_addr : "");
        rec.last_seen_ms = service_now_ms(svc);
        rec.first_seen_ms = rec.last_seen_ms;
        rec.checkins = 1;
        rec.last_status = checkin_status(ret_decision->kind);
        rec.last_offered[0] = 0;
        rec.last_key[0] = 0;
        rec.issue = ret_decision->issue;
        rec.has_secure_version_max = report->has_secure_version;
        rec.secure_version_max = report->has_secure_version ? report->secure_version : 0;
        if (ret_decision->kind == DECISION_UPDATE) {
            str_copy(rec.last_offered, sizeof(rec.last_offered), ret_decision->version);
            str_copy(rec.last_key, sizeof(rec.last_key), ret_decision->signed_by);
        }
        registry_record(svc->registry, &rec);
    }
    /* After the record: a batch that holds these events holds the device's row too. */
    for (unsigned i = 0; i < held.count; i++)
        queue_event(svc, &held.ev[i]);
    catalog_unref(cat);
}

void service_checkin(struct service *svc, const char *product, const struct device_report *report,
                     const struct checkin_context *ctx, struct decision *ret_decision)
{
    checkin_run(svc, product, report, ctx, VIA_CHECKIN, ret_decision);
}

/*
 * A manifest poll without identity: the release CP deploys on the channel
 * REPORT's query may choose (what a device in no rollout stage is
 * offered); nothing is recorded, no window or cap applies.
 */
static void manifest_by_channel(struct service *svc, const struct catalog_product *cp,
                                const struct device_report *report, bool numeric,
                                struct decision *d)
{
    struct target_choice choice;
    target_choose(cp, report, 0, FW_MODE_SKETCH, NULL, NULL, service_now_ms(svc), &choice);
    memset(d, 0, sizeof(*d));
    if (!choice.target) {
        d->kind = DECISION_UNKNOWN;
        snprintf(d->reason, sizeof(d->reason), "nothing is published on channel %s of %s",
                 choice.channel, cp->product.name);
    } else if (numeric && !version_numeric(choice.target->release.version)) {
        d->kind = DECISION_REFUSED;
        snprintf(d->reason, sizeof(d->reason),
                 "release %.48s is not a dotted number (1.2.3): esp32FOTA would read it as 0.0.0 "
                 "and never install it",
                 choice.target->release.version);
    } else {
        d->kind = DECISION_UPDATE;
        d->release_id = choice.target->release.id;
        str_copy(d->version, sizeof(d->version), choice.target->release.version);
    }
    count_checkin(cp, choice.channel, checkin_status(d->kind));
}

void service_manifest(struct service *svc, const char *product, const struct manifest_request *req,
                      struct decision *ret_decision)
{
    enum checkin_via via = req->numeric_versions ? VIA_MANIFEST_NUMERIC : VIA_MANIFEST;
    if (req->report->has_sta_mac) {
        checkin_run(svc, product, req->report, &req->checkin, via, ret_decision);
        return;
    }
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    if (!cp) {
        memset(ret_decision, 0, sizeof(*ret_decision));
        ret_decision->kind = DECISION_UNKNOWN;
        snprintf(ret_decision->reason, sizeof(ret_decision->reason), "no such product");
        count_checkin(NULL, "", 404);
    } else if (cp->product.fleet.require_https && !req->checkin.tls) {
        refuse_plain_http(cp, ret_decision);
        count_checkin(cp, "", 403);
    } else {
        manifest_by_channel(svc, cp, req->report, req->numeric_versions, ret_decision);
    }
    catalog_unref(cat);
}

void service_checkin_malformed(struct service *svc, const char *product)
{
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    count_checkin(cp, "", 400);
    catalog_unref(cat);
}

void service_delivery_range(struct delivery_ticket *t, uint64_t bytes, bool ends_image)
{
    t->bytes = bytes;
    if (ends_image)
        return;
    t->rollout_id = 0;
    t->served = NULL;
}

void service_image_ticket(struct service *svc, const char *product, uint64_t bytes, bool whole,
                          struct delivery_ticket *ret_ticket)
{
    memset(ret_ticket, 0, sizeof(*ret_ticket));
    ticket_count(ret_ticket, product, bytes, whole);
}

void service_image_ticket_device(struct service *svc, const char *product, const char *version,
                                 uint64_t mac, uint64_t bytes, struct delivery_ticket *ret_ticket)
{
    service_image_ticket(svc, product, bytes, true, ret_ticket);
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    if (cp)
        count_download_slot(svc, cp, ret_ticket);
    const struct catalog_release *rel =
        cp ? catalog_release_by_version(cp, FW_MODE_SKETCH, version) : NULL;
    struct standing s;
    if (rel && mac && svc->tracker && !tracker_empty(svc->tracker) &&
        tracker_get(svc->tracker, cp->product.id, mac, FW_MODE_SKETCH, &s) &&
        s.release_id == rel->release.id &&
        (s.outcome == OUTCOME_OFFERED || s.outcome == OUTCOME_INTERRUPTED)) {
        ret_ticket->product_id = cp->product.id;
        ret_ticket->mac = mac;
        ret_ticket->rollout_id = s.rollout_id;
        ret_ticket->release_id = s.release_id;
        ret_ticket->mode = s.mode;
        ret_ticket->stage = s.stage;
    }
    catalog_unref(cat);
}

void service_delivery_done(struct service *svc, const struct delivery_ticket *t, bool complete)
{
    if (t->in_flight) {
        metric_gauge_add(&metric_downloads_active, NULL, -1);
        if (complete) {
            metric_add(&metric_image_bytes, NULL, t->bytes);
            if (t->served)
                atomic_fetch_add_explicit(&t->served->value, 1, memory_order_relaxed);
        }
    }
    if (t->holds_slot)
        give_download_slot(svc, t);
    if (!t->rollout_id || !svc->tracker ||
        !tracker_delivered(svc->tracker, t->product_id, t->mac, t->mode, t->rollout_id, complete))
        return;
    struct fleet_event ev = {
        .kind = complete ? FLEET_EVENT_SERVED : FLEET_EVENT_CUT,
        .product_id = t->product_id,
        .mac = t->mac,
        .rollout_id = t->rollout_id,
        .release_id = t->release_id,
        .stage = t->stage,
        .at_ms = service_now_ms(svc),
    };
    queue_event(svc, &ev);
}

int service_image_find(struct service *svc, const char *product, const char *version,
                       enum fw_mode mode, struct variant *ret_variant)
{
    struct catalog *cat = service_catalog_get(svc);
    int r = -ENOENT;
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    const struct catalog_release *rel = cp ? catalog_release_by_version(cp, mode, version) : NULL;
    if (rel) {
        /* No report: a device with Chip-ID that runs nothing known (compat.h). */
        struct device_capability cap;
        struct form_choice choice;
        compat_capability(&cp->product, NULL, false, &cap);
        compat_choose(&cp->product, &rel->release, &cap, &choice);
        if (choice.variant) {
            *ret_variant = *choice.variant;
            r = 0;
        }
    }
    catalog_unref(cat);
    return r;
}

/* The byte an esptool image starts with, and where an ESP32 image's header keeps its chip id. */
#define IMAGE_MAGIC      0xE9
#define IMAGE_CHIP_ID_AT 12
#define IMAGE_HEAD_BYTES 16

/*
 * The ESP32 family VARIANT's image is for, read from its stored header: the
 * bytes the image URL serves, so the name can never disagree with them.
 */
static int variant_chip(struct service *svc, const struct variant *variant, const char **ret_chip)
{
    int fd;
    int r = service_blob_open(svc, variant, &fd);
    if (r < 0)
        return r;
    uint8_t head[IMAGE_HEAD_BYTES];
    ssize_t n = pread(fd, head, sizeof(head), 0);
    r = n < 0 ? -errno : 0;
    close(fd);
    if (r < 0) {
        log_error("blob %s: reading its header: %s", variant->sha256, strerror(-r));
        return r;
    }
    const char *chip =
        n == (ssize_t)sizeof(head) && head[0] == IMAGE_MAGIC
            ? esp_chip_name((uint16_t)(head[IMAGE_CHIP_ID_AT] | head[IMAGE_CHIP_ID_AT + 1] << 8))
            : NULL;
    if (!chip) {
        log_error("blob %s: not an ESP32 image of a known chip", variant->sha256);
        return -EBADMSG;
    }
    *ret_chip = chip;
    return 0;
}

int service_manifest_image(struct service *svc, const char *product, const char *version,
                           struct manifest_image *ret_image)
{
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    enum platform platform = cp ? cp->product.platform : PLATFORM_ESP8266;
    catalog_unref(cat);
    struct manifest_image image = {.platform = platform, .chip = "ESP8266"};
    int r = service_image_find(svc, product, version, FW_MODE_SKETCH, &image.variant);
    if (r < 0)
        return r;
    if (platform == PLATFORM_ESP32 && (r = variant_chip(svc, &image.variant, &image.chip)) < 0)
        return r;
    *ret_image = image;
    return 0;
}

bool service_product_requires_https(struct service *svc, const char *product)
{
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    bool required = cp && cp->product.fleet.require_https;
    catalog_unref(cat);
    return required;
}

int service_device_list(struct service *svc, const char *product, size_t limit, size_t offset,
                        struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total,
                        struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if (limit > LIMIT_API_PAGE_ROWS)
        limit = LIMIT_API_PAGE_ROWS;
    return db_device_list(svc->db, p.id, limit, offset, ret_devices, ret_count, ret_total);
}

int service_registry_flush(struct service *svc)
{
    return svc->registry ? registry_flush(svc->registry) : 0;
}
