/*
 * Fleet control's operations (service_fleet.h): channel settings, groups,
 * pins and holds, starting and steering rollouts, and "why does this device
 * get what it gets". Each write is checked here, stored through
 * db_fleet.h, and shown to check-ins by rebuilding the catalog.
 */
#include "service/service_fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tz.h"
#include "core/util.h"
#include "db/db_fleet.h"
#include "service/catalog.h"
#include "service/controller.h"
#include "service/decide.h"
#include "service/rollout.h"
#include "service/service_internal.h"
#include "service/targeting.h"
#include "service/tracker.h"

static const char *const action_names[] = {"pause", "resume", "abort", "promote", "halt", "revert"};

const char *rollout_action_name(enum rollout_action a)
{
    return (unsigned)a < sizeof(action_names) / sizeof(*action_names) ? action_names[a] : "?";
}

int rollout_action_parse(const char *s, enum rollout_action *ret)
{
    for (unsigned i = 0; i < sizeof(action_names) / sizeof(*action_names); i++) {
        if (strcmp(s, action_names[i]) == 0) {
            *ret = (enum rollout_action)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* A write stands: show it to check-ins now. Returns R. */
static int written(struct service *svc, int r, const char *what)
{
    if (r == 0)
        service_refresh_after_write(svc, what);
    return r;
}

static int db_failed(struct reason *why, int r, const char *what)
{
    if (r == -ENOMEM)
        return reason_set(why, r, "out of memory");
    return reason_set(why, r < 0 ? r : -EIO, "cannot %s", what);
}

/* --- product settings --- */

int service_product_set_fleet(struct service *svc, const char *product,
                              const struct product_fleet *fleet, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if ((r = db_product_set_fleet(svc->db, p.id, fleet)) < 0)
        return db_failed(why, r, "store the product's fleet settings");
    return written(svc, 0, "fleet settings");
}

/* --- channels --- */

static int check_window(const struct fleet_window *w, const char *whose, struct reason *why)
{
    if (w->start_min >= 1440 || w->end_min >= 1440)
        return reason_set(why, -EINVAL, "%s window: hours must be 00:00 to 23:59", whose);
    if (!w->tz[0] || strcmp(w->tz, "UTC") == 0)
        return 0;
    struct tz *tz = NULL;
    int r = tz_load(w->tz, &tz);
    tz_free(tz);
    if (r == -ENOENT)
        return reason_set(why, -EINVAL, "%s window: no time zone named \"%s\" on this system",
                          whose, w->tz);
    if (r < 0)
        return reason_set(why, -EINVAL, "%s window: time zone \"%s\": %s", whose, w->tz,
                          strerror(-r));
    return 0;
}

static int check_plan(const struct rollout_plan *p, struct reason *why)
{
    /* The codec checks each field; a plan built in code is checked whole here. */
    if (p->stage_count == 0 || p->stage_count > FLEET_STAGES_MAX)
        return reason_set(why, -EINVAL, "a plan needs 1 to %u stages", FLEET_STAGES_MAX);
    for (unsigned i = 0; i < p->stage_count; i++)
        if (p->stages_bp[i] == 0 || p->stages_bp[i] > FLEET_BP_ALL ||
            (i && p->stages_bp[i] <= p->stages_bp[i - 1]))
            return reason_set(why, -EINVAL, "stages must grow, each above 0 %% and at most 100 %%");
    if (p->stages_bp[p->stage_count - 1] != FLEET_BP_ALL)
        return reason_set(why, -EINVAL, "the last stage must be 100 %%");
    if (p->soak_s < 0 || p->ramp_s < 0 || p->ramp_s > p->soak_s)
        return reason_set(why, -EINVAL, "the ramp (%llds) must not be longer than the soak (%llds)",
                          (long long)p->ramp_s, (long long)p->soak_s);
    if (p->fail_bp > FLEET_BP_ALL || p->promote_bp > FLEET_BP_ALL)
        return reason_set(why, -EINVAL, "percentages are 0 to 100");
    if (p->interval_s <= 0)
        return reason_set(why, -EINVAL, "the check-in interval must be positive");
    return 0;
}

/* The deployed and greatest sketch releases of channel NAME, and its active rollout. */
static void channel_fill(struct service *svc, const struct product *p, struct channel_view *v)
{
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, p->name) : NULL;
    if (cp) {
        const struct catalog_target *t = catalog_target_entry(cp, v->channel.name, FW_MODE_SKETCH);
        if (t && t->release)
            str_copy(v->deployed, sizeof(v->deployed), t->release->release.version);
        if (t && t->greatest)
            str_copy(v->latest, sizeof(v->latest), t->greatest->release.version);
        const struct catalog_rollout *ro = catalog_rollout(cp, v->channel.name, FW_MODE_SKETCH);
        if (ro)
            v->active_rollout_id = ro->rollout.id;
    }
    catalog_unref(cat);
}

int service_channel_get(struct service *svc, const char *product, const char *name,
                        struct channel_view *ret, struct reason *why)
{
    if (!service_name_valid(name, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -", name,
                          LIMIT_CHANNEL_NAME_BYTES);
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    if ((r = fleet_channel_settings(svc, p.id, name, &ret->channel, &ret->configured)) < 0)
        return db_failed(why, r, "read the channel");
    channel_fill(svc, &p, ret);
    return 0;
}

static bool has_channel(const struct channel_view *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].channel.name, name) == 0)
            return true;
    return false;
}

static int view_cmp(const void *a, const void *b)
{
    return strcmp(((const struct channel_view *)a)->channel.name,
                  ((const struct channel_view *)b)->channel.name);
}

int service_channel_list(struct service *svc, const char *product, struct channel_view **ret,
                         size_t *ret_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    struct channel *rows = NULL;
    size_t n = 0;
    if ((r = db_channel_list(svc->db, p.id, &rows, &n)) < 0)
        return db_failed(why, r, "read channels");
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, p.name) : NULL;
    size_t max = n + 1 + (cp ? cp->target_count : 0);
    struct channel_view *v = calloc(max, sizeof(*v));
    size_t count = 0;
    if (!v) {
        catalog_unref(cat);
        free(rows);
        return reason_set(why, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[count].channel = rows[i];
        v[count++].configured = true;
    }
    const char *names[1 + 64];
    size_t nnames = 0;
    names[nnames++] = p.default_channel;
    for (size_t k = 0; cp && k < cp->target_count && nnames < 65; k++)
        names[nnames++] = cp->targets[k].channel;
    for (size_t i = 0; i < nnames; i++) {
        if (has_channel(v, count, names[i]))
            continue;
        fleet_channel_settings(svc, p.id, names[i], &v[count].channel, NULL);
        count++;
    }
    catalog_unref(cat);
    free(rows);
    for (size_t i = 0; i < count; i++)
        channel_fill(svc, &p, &v[i]);
    qsort(v, count, sizeof(*v), view_cmp);
    *ret = v;
    *ret_count = count;
    return 0;
}

int service_channel_set(struct service *svc, const char *product, struct channel *c,
                        struct reason *why)
{
    if (!service_name_valid(c->name, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -",
                          c->name, LIMIT_CHANNEL_NAME_BYTES);
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if ((r = check_plan(&c->plan, why)) < 0 ||
        (r = check_window(&c->window, "the channel's", why)) < 0)
        return r;
    c->product_id = p.id;
    pthread_mutex_lock(&svc->fleet_lock);
    /* Staging from now on: freeze what the channel offers before anything new is published. */
    if (c->deploy != DEPLOY_IMMEDIATE) {
        if ((r = fleet_before_publish(svc, p.id, c->name, FW_MODE_SKETCH)) == 0)
            r = fleet_before_publish(svc, p.id, c->name, FW_MODE_FS);
    }
    if (r == 0)
        r = db_channel_put(svc->db, c);
    pthread_mutex_unlock(&svc->fleet_lock);
    if (r < 0)
        return db_failed(why, r, "store the channel");
    return written(svc, 0, "channel settings");
}

int service_channel_reset(struct service *svc, const char *product, const char *name,
                          struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    r = db_channel_delete(svc->db, p.id, name);
    if (r == -ENOENT)
        return reason_set(why, r, "channel %s of %s has no settings of its own", name, product);
    if (r < 0)
        return db_failed(why, r, "delete the channel's settings");
    return written(svc, 0, "channel reset");
}

/* --- groups --- */

static int check_group(const struct product *p, const struct group *g, struct reason *why)
{
    if (!service_name_valid(g->name, FLEET_GROUP_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "group name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -", g->name,
                          FLEET_GROUP_NAME_BYTES);
    if (!service_name_valid(g->channel, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL,
                          "channel name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -",
                          g->channel, LIMIT_CHANNEL_NAME_BYTES);
    uint64_t prefix;
    unsigned bits;
    char *end = NULL;
    switch (g->match) {
    case GROUP_MATCH_MACS:
        if (g->value[0])
            return reason_set(why, -EINVAL,
                              "a MAC-list group takes its MACs with --macs, not a value");
        break;
    case GROUP_MATCH_MAC_PREFIX:
        if (catalog_mac_prefix_parse(g->value, &prefix, &bits) < 0)
            return reason_set(why, -EINVAL, "MAC prefix \"%s\" must be 1 to 5 octets like 18:FE:34",
                              g->value);
        break;
    case GROUP_MATCH_QUERY:
        if (!service_name_valid(g->value, LIMIT_CHANNEL_NAME_BYTES))
            return reason_set(why, -EINVAL,
                              "the ?group= value \"%s\" must be 1-%u characters of a-z 0-9 . _ -",
                              g->value, LIMIT_CHANNEL_NAME_BYTES);
        if (!p->fleet.group_query)
            return reason_set(why, -EINVAL,
                              "product %s does not let devices choose a group: turn on its "
                              "group query first",
                              p->name);
        break;
    case GROUP_MATCH_CHIP_SIZE:
        if (!g->value[0] || strtoull(g->value, &end, 10) == 0 || *end)
            return reason_set(why, -EINVAL, "chip size \"%s\" must be a number of bytes", g->value);
        break;
    case GROUP_MATCH_SDK:
    case GROUP_MATCH_CORE:
        if (!g->value[0] || !text_valid_utf8(g->value))
            return reason_set(why, -EINVAL, "a %s group needs a version prefix",
                              group_match_name(g->match));
        break;
    }
    return check_window(&g->window, "the group's", why);
}

int service_group_add(struct service *svc, const char *product, struct group *g, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0 || (r = check_group(&p, g, why)) < 0)
        return r;
    g->product_id = p.id;
    r = db_group_insert(svc->db, g);
    if (r == -EEXIST)
        return reason_set(why, r, "%s already has a group named %s", product, g->name);
    if (r < 0)
        return db_failed(why, r, "store the group");
    return written(svc, 0, "group");
}

int service_group_update(struct service *svc, const char *product, struct group *g,
                         struct reason *why)
{
    struct product p;
    struct group old;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0 || (r = check_group(&p, g, why)) < 0)
        return r;
    if ((r = db_group_get(svc->db, p.id, g->name, &old)) < 0)
        return r == -ENOENT ? reason_set(why, r, "%s has no group named %s", product, g->name)
                            : db_failed(why, r, "read the group");
    if (old.match != g->match && old.match == GROUP_MATCH_MACS)
        return reason_set(why, -EINVAL, "a MAC-list group stays one: delete it and add another");
    g->id = old.id;
    g->product_id = p.id;
    g->created_ms = old.created_ms;
    if ((r = db_group_update(svc->db, g)) < 0)
        return db_failed(why, r, "store the group");
    return written(svc, 0, "group");
}

int service_group_delete(struct service *svc, const char *product, const char *name,
                         struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    r = db_group_delete(svc->db, p.id, name);
    if (r == -ENOENT)
        return reason_set(why, r, "%s has no group named %s", product, name);
    if (r < 0)
        return db_failed(why, r, "delete the group");
    return written(svc, 0, "group deleted");
}

int service_group_list(struct service *svc, const char *product, struct group **ret,
                       uint64_t **ret_mac_counts, size_t *ret_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    struct group *g = NULL;
    size_t n = 0;
    if ((r = db_group_list(svc->db, p.id, &g, &n)) < 0)
        return db_failed(why, r, "read groups");
    if (ret_mac_counts) {
        uint64_t *counts = calloc(n ? n : 1, sizeof(*counts));
        if (!counts) {
            free(g);
            return reason_set(why, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            if (g[i].match != GROUP_MATCH_MACS)
                continue;
            uint64_t *macs = NULL;
            size_t m = 0;
            if (db_group_macs_list(svc->db, g[i].id, &macs, NULL, &m) == 0)
                counts[i] = m;
            free(macs);
        }
        *ret_mac_counts = counts;
    }
    *ret = g;
    *ret_count = n;
    return 0;
}

int service_group_get(struct service *svc, const char *product, const char *name, struct group *ret,
                      uint64_t **ret_macs, size_t *ret_mac_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if ((r = db_group_get(svc->db, p.id, name, ret)) < 0)
        return r == -ENOENT ? reason_set(why, r, "%s has no group named %s", product, name)
                            : db_failed(why, r, "read the group");
    if (ret_macs) {
        *ret_macs = NULL;
        *ret_mac_count = 0;
        if (ret->match == GROUP_MATCH_MACS &&
            (r = db_group_macs_list(svc->db, ret->id, ret_macs, NULL, ret_mac_count)) < 0)
            return db_failed(why, r, "read the group's MACs");
    }
    return 0;
}

int service_group_macs(struct service *svc, const char *product, const char *name,
                       const uint64_t *macs, size_t count, bool add, struct reason *why)
{
    struct group g;
    int r = service_group_get(svc, product, name, &g, NULL, NULL, why);
    if (r < 0)
        return r;
    if (g.match != GROUP_MATCH_MACS)
        return reason_set(why, -EINVAL, "group %s is a %s group: it has no MAC list", name,
                          group_match_name(g.match));
    if (count > LIMIT_GROUP_MACS_PER_CALL)
        return reason_set(why, -EINVAL, "at most %u MACs at once", LIMIT_GROUP_MACS_PER_CALL);
    if ((r = db_group_macs_change(svc->db, g.id, macs, count, add)) < 0)
        return db_failed(why, r, "store the group's MACs");
    return written(svc, 0, "group MACs");
}

/* --- pins --- */

int service_pin_set(struct service *svc, const char *product, uint64_t mac, const char *version,
                    enum fw_mode mode, const char *note, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    struct pin pin = {.product_id = p.id, .mac = mac, .mode = mode};
    if (note && (strlen(note) > FLEET_REASON_BYTES || !text_valid_utf8(note)))
        return reason_set(why, -EINVAL, "a note is up to %u bytes of text", FLEET_REASON_BYTES);
    str_copy(pin.note, sizeof(pin.note), note ? note : "");
    if (version) {
        struct release rel;
        if ((r = db_release_get(svc->db, p.id, mode, version, &rel)) < 0)
            return r == -ENOENT ? reason_set(why, r, "%s has no %s release %s", product,
                                             fw_mode_name(mode), version)
                                : db_failed(why, r, "read the release");
        free(rel.notes);
        pin.release_id = rel.id;
        str_copy(pin.version, sizeof(pin.version), rel.version);
    }
    if ((r = db_pin_put(svc->db, &pin)) < 0)
        return db_failed(why, r, "store the pin");
    char m[18];
    mac_u64_format(mac, m);
    log_info("fleet: %s %s %s%s", product, m, version ? "pinned to " : "held",
             version ? version : "");
    return written(svc, 0, "pin");
}

int service_pin_clear(struct service *svc, const char *product, uint64_t mac, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    r = db_pin_delete(svc->db, p.id, mac);
    if (r == -ENOENT) {
        char m[18];
        mac_u64_format(mac, m);
        return reason_set(why, r, "device %s of %s is neither pinned nor held", m, product);
    }
    if (r < 0)
        return db_failed(why, r, "delete the pin");
    return written(svc, 0, "pin cleared");
}

int service_pin_list(struct service *svc, const char *product, struct pin **ret, size_t *ret_count,
                     struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if ((r = db_pin_list(svc->db, p.id, ret, ret_count)) < 0)
        return db_failed(why, r, "read pins");
    return 0;
}

/* --- rollouts --- */

/* Active rollouts of (CHANNEL, MODE) of PRODUCT_ID into IDS (up to MAX); their number. */
static size_t active_on_channel(struct service *svc, int64_t product_id, const char *channel,
                                enum fw_mode mode, struct rollout *ret, size_t max)
{
    struct rollout *all = NULL;
    size_t n = 0, k = 0;
    if (db_rollout_list(svc->db, product_id, true, &all, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (all[i].mode == mode && strcmp(all[i].channel, channel) == 0 &&
            rollout_state_active(all[i].state) && k < max)
            ret[k++] = all[i];
    free(all);
    return k;
}

/* Inserts R (fleet_lock held), superseding or queueing as ON_NEW says. */
static int insert_rollout(struct service *svc, struct rollout *r, enum supersede_policy on_new)
{
    struct rollout active[8];
    size_t nactive = active_on_channel(svc, r->product_id, r->channel, r->mode, active, 8);
    if (nactive && on_new == ON_NEW_QUEUE)
        r->state = ROLLOUT_QUEUED;
    int ret = db_rollout_insert(svc->db, r, on_new == ON_NEW_SUPERSEDE);
    if (ret < 0)
        return ret;
    if (on_new == ON_NEW_SUPERSEDE)
        for (size_t i = 0; i < nactive; i++) {
            log_info("fleet: rollout %lld (%s on %s) superseded by rollout %lld",
                     (long long)active[i].id, active[i].version, active[i].channel,
                     (long long)r->id);
        }
    log_info_about(&(struct log_fields){.release = r->version, .rollout_id = r->id},
                   "fleet: rollout %lld: %s %s %s on %s, %s, by %s", (long long)r->id,
                   rollout_kind_name(r->kind), fw_mode_name(r->mode), r->version, r->channel,
                   r->state == ROLLOUT_QUEUED ? "queued" : "started", r->actor);
    return 0;
}

static void new_rollout(struct service *svc, const struct product *p, const struct release *rel,
                        const char *channel, const struct rollout_plan *plan,
                        enum rollout_kind kind, const char *actor, struct rollout *r)
{
    int64_t now = service_now_ms(svc);
    memset(r, 0, sizeof(*r));
    r->product_id = p->id;
    str_copy(r->channel, sizeof(r->channel), channel);
    r->release_id = rel->id;
    str_copy(r->version, sizeof(r->version), rel->version);
    r->mode = rel->mode;
    r->kind = kind;
    r->state = ROLLOUT_RUNNING;
    r->plan = *plan;
    r->stage_started_ms = now;
    if (random_bytes(r->salt, sizeof(r->salt)) < 0) {
        r->salt[0] = (uint64_t)now ^ 0x9e3779b97f4a7c15ull;
        r->salt[1] = hash_mix64((uint64_t)rel->id ^ (uint64_t)now);
    }
    str_copy(r->actor, sizeof(r->actor), actor && *actor ? actor : "unknown");
    r->created_ms = now;
    r->updated_ms = now;
}

int service_rollout_start(struct service *svc, const struct rollout_request *req,
                          struct rollout *ret, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, req->product, &p, why);
    if (r < 0)
        return r;
    struct release rel;
    if ((r = db_release_get(svc->db, p.id, req->mode, req->version, &rel)) < 0)
        return r == -ENOENT ? reason_set(why, r, "%s has no %s release %s", p.name,
                                         fw_mode_name(req->mode), req->version)
                            : db_failed(why, r, "read the release");
    free(rel.notes);
    const char *channel = req->channel ? req->channel : rel.channel;
    if (!service_name_valid(channel, LIMIT_CHANNEL_NAME_BYTES))
        return reason_set(why, -EINVAL, "channel name \"%.32s\" is not valid", channel);
    struct channel ch;
    if ((r = fleet_channel_settings(svc, p.id, channel, &ch, NULL)) < 0)
        return db_failed(why, r, "read the channel");
    struct rollout_plan plan = req->plan ? *req->plan : ch.plan;
    if ((r = check_plan(&plan, why)) < 0)
        return r;

    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, p.name) : NULL;
    const struct catalog_release *target = cp ? catalog_release_by_id(cp, rel.id) : NULL;
    const struct catalog_release *deployed = cp ? catalog_target(cp, channel, rel.mode) : NULL;
    const struct catalog_rollout *running = cp ? catalog_rollout(cp, channel, rel.mode) : NULL;
    int order = target && deployed ? release_order(target, deployed) : 1;
    bool same_as_running = running && running->rollout.release_id == rel.id;
    catalog_unref(cat);
    if (same_as_running)
        return reason_set(why, -EEXIST, "release %s is already rolling out on %s", rel.version,
                          channel);
    if (order == 0 && !req->rollback)
        return reason_set(why, -EALREADY, "release %s is what channel %s offers already",
                          rel.version, channel);
    if (order < 0 && !req->rollback)
        return reason_set(why, -EINVAL,
                          "release %s is older than %s, which channel %s offers: roll it out as "
                          "a rollback to offer it to devices on newer releases",
                          rel.version, deployed ? deployed->release.version : "?", channel);

    struct rollout ro;
    new_rollout(svc, &p, &rel, channel, &plan, req->rollback ? ROLLOUT_ROLLBACK : ROLLOUT_NORMAL,
                req->actor, &ro);
    pthread_mutex_lock(&svc->fleet_lock);
    r = fleet_before_publish(svc, p.id, channel, rel.mode); /* a staged channel from now on */
    if (r == 0)
        r = insert_rollout(svc, &ro, ch.on_new);
    pthread_mutex_unlock(&svc->fleet_lock);
    if (r < 0)
        return db_failed(why, r, "store the rollout");
    written(svc, 0, "rollout start");
    if (ret)
        *ret = ro;
    return 0;
}

int fleet_revert(struct service *svc, const char *product, const struct rollout *halted,
                 const char *actor, struct rollout *ret, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, p.name) : NULL;
    const struct catalog_release *back =
        cp ? catalog_target(cp, halted->channel, halted->mode) : NULL;
    struct release rel = back ? back->release : (struct release){0};
    catalog_unref(cat);
    if (!back || rel.id == halted->release_id)
        return reason_set(why, -ENOENT,
                          "channel %s offered nothing before %s: there is no release to revert to",
                          halted->channel, halted->version);
    struct rollout_plan plan = halted->plan;
    plan.stages_bp[0] = FLEET_BP_ALL;
    plan.stage_count = 1;
    if (plan.ramp_s > plan.soak_s)
        plan.ramp_s = plan.soak_s;
    struct rollout ro;
    new_rollout(svc, &p, &rel, halted->channel, &plan, ROLLOUT_REVERT, actor, &ro);
    ro.from_release_id = halted->release_id;
    pthread_mutex_lock(&svc->fleet_lock);
    r = insert_rollout(svc, &ro, ON_NEW_SUPERSEDE);
    pthread_mutex_unlock(&svc->fleet_lock);
    if (r < 0)
        return db_failed(why, r, "store the revert");
    written(svc, 0, "revert");
    if (ret)
        *ret = ro;
    return 0;
}

/* Rollout ID of product P (fleet_lock held by the caller or not: a read). */
static int rollout_of(struct service *svc, const struct product *p, int64_t id, struct rollout *ret,
                      struct reason *why)
{
    int r = db_rollout_get(svc->db, id, ret);
    if (r == 0 && ret->product_id != p->id)
        r = -ENOENT;
    if (r == -ENOENT)
        return reason_set(why, r, "%s has no rollout %lld", p->name, (long long)id);
    return r < 0 ? db_failed(why, r, "read the rollout") : 0;
}

static int refuse_state(struct reason *why, const struct rollout *r, enum rollout_action a)
{
    return reason_set(why, -EALREADY, "rollout %lld is %s: it cannot be %s", (long long)r->id,
                      rollout_state_name(r->state),
                      a == ROLLOUT_ACTION_PAUSE     ? "paused"
                      : a == ROLLOUT_ACTION_RESUME  ? "resumed"
                      : a == ROLLOUT_ACTION_ABORT   ? "aborted"
                      : a == ROLLOUT_ACTION_PROMOTE ? "promoted"
                      : a == ROLLOUT_ACTION_HALT    ? "halted"
                                                    : "reverted");
}

/* Acknowledges R's failures and silences so far: a resume or a promotion after a halt. */
static int acknowledge(struct service *svc, struct rollout *r, struct reason *why)
{
    struct rollout_counts total;
    int e = db_rollout_counts(svc->db, r->id, NULL, 0, &total);
    if (e < 0)
        return db_failed(why, e, "count the rollout's devices");
    r->ack_failed = (uint32_t)total.by_outcome[OUTCOME_FAILED];
    r->ack_silent = (uint32_t)total.by_outcome[OUTCOME_SILENT];
    return 0;
}

/* Applies A to R (fleet_lock held). */
static int act_locked(struct service *svc, struct rollout *r, enum rollout_action a,
                      const char *actor, const char *reason, struct reason *why)
{
    int64_t now = service_now_ms(svc);
    char text[FLEET_REASON_BYTES + 1];
    snprintf(text, sizeof(text), "%s by %s%s%s", rollout_action_name(a), actor,
             reason && *reason ? ": " : "", reason ? reason : "");
    switch (a) {
    case ROLLOUT_ACTION_PAUSE:
        if (r->state != ROLLOUT_RUNNING)
            return refuse_state(why, r, a);
        r->state = ROLLOUT_PAUSED;
        r->paused_ms = now;
        break;
    case ROLLOUT_ACTION_RESUME:
        if (r->state != ROLLOUT_PAUSED && r->state != ROLLOUT_HALTED)
            return refuse_state(why, r, a);
        if (r->state == ROLLOUT_HALTED) {
            /* The failures so far are acknowledged and the stage soaks again. */
            int e = acknowledge(svc, r, why);
            if (e < 0)
                return e;
            r->stage_started_ms = now;
        } else {
            r->stage_started_ms += now - r->paused_ms; /* paused time does not soak */
        }
        r->state = ROLLOUT_RUNNING;
        r->paused_ms = 0;
        break;
    case ROLLOUT_ACTION_ABORT:
        if (!rollout_state_active(r->state) && r->state != ROLLOUT_QUEUED)
            return refuse_state(why, r, a);
        r->state = ROLLOUT_ABORTED;
        r->paused_ms = 0;
        break;
    case ROLLOUT_ACTION_PROMOTE:
        if (!rollout_state_active(r->state))
            return refuse_state(why, r, a);
        /* By hand a halted stage moves on too, its failures acknowledged: no halt again at once. */
        if (r->state == ROLLOUT_HALTED) {
            int e = acknowledge(svc, r, why);
            if (e < 0)
                return e;
        }
        r->state = ROLLOUT_RUNNING;
        r->paused_ms = 0;
        return fleet_rollout_transition(
            svc, r, r->stage + 1 >= r->plan.stage_count ? VERDICT_COMPLETE : VERDICT_PROMOTE, text);
    case ROLLOUT_ACTION_HALT:
        if (r->state != ROLLOUT_RUNNING && r->state != ROLLOUT_PAUSED)
            return refuse_state(why, r, a);
        return fleet_rollout_transition(svc, r, VERDICT_HALT, text);
    case ROLLOUT_ACTION_REVERT:
        return -ENOTSUP; /* by service_rollout_act, without the lock */
    }
    str_copy(r->reason, sizeof(r->reason), text);
    r->updated_ms = now;
    int e = db_rollout_update(svc->db, r);
    if (e == 0)
        log_info("fleet: rollout %lld (%s on %s): %s", (long long)r->id, r->version, r->channel,
                 text);
    return e;
}

int service_rollout_act(struct service *svc, const char *product, int64_t id,
                        enum rollout_action action, const char *actor, const char *reason,
                        struct rollout *ret, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if (reason && (strlen(reason) > FLEET_REASON_BYTES / 2 || !text_valid_utf8(reason)))
        return reason_set(why, -EINVAL, "a reason is up to %u bytes of text",
                          FLEET_REASON_BYTES / 2);
    actor = actor && *actor ? actor : "unknown";
    struct rollout ro;
    if (action == ROLLOUT_ACTION_REVERT) {
        if ((r = rollout_of(svc, &p, id, &ro, why)) < 0)
            return r;
        if (ro.state != ROLLOUT_HALTED && ro.state != ROLLOUT_ABORTED)
            return refuse_state(why, &ro, action);
        if (ro.kind == ROLLOUT_REVERT)
            return reason_set(why, -EINVAL, "rollout %lld is itself a revert", (long long)id);
        /* Never supersede a newer rollout of the channel to revert an old one. */
        struct rollout active[1];
        if (active_on_channel(svc, p.id, ro.channel, ro.mode, active, 1) && active[0].id != ro.id)
            return reason_set(why, -EALREADY,
                              "rollout %lld of %s is active on channel %s: revert is for the "
                              "channel's latest rollout",
                              (long long)active[0].id, active[0].version, ro.channel);
        return fleet_revert(svc, p.name, &ro, actor, ret, why);
    }
    pthread_mutex_lock(&svc->fleet_lock);
    r = rollout_of(svc, &p, id, &ro, why);
    if (r == 0) {
        struct reason detail = {""};
        r = act_locked(svc, &ro, action, actor, reason, &detail);
        if (r < 0)
            *why = detail.text[0] ? detail : *why;
        if (r < 0 && !detail.text[0])
            db_failed(why, r, "change the rollout");
    }
    pthread_mutex_unlock(&svc->fleet_lock);
    if (r < 0)
        return r;
    written(svc, 0, "rollout change");
    if (ret)
        *ret = ro;
    return 0;
}

static int status_of(struct service *svc, const struct rollout *r, struct rollout_status *s)
{
    memset(s, 0, sizeof(*s));
    s->rollout = *r;
    int e = db_rollout_counts(svc->db, r->id, s->stages, r->plan.stage_count, &s->total);
    if (e < 0)
        return e;
    int64_t now = service_now_ms(svc);
    s->admitted_bp = rollout_admitted_bp(r, now);
    s->soak_left_ms = rollout_state_active(r->state) ? rollout_soak_left_ms(r, now) : 0;
    if (r->state == ROLLOUT_RUNNING)
        rollout_evaluate(r, &s->total, &s->stages[r->stage], now, s->next, sizeof(s->next));
    else
        snprintf(s->next, sizeof(s->next), "%s%s%.*s", rollout_state_name(r->state),
                 r->reason[0] ? ": " : "", (int)(sizeof(s->next) / 2), r->reason);
    return 0;
}

int service_rollout_list(struct service *svc, const char *product, bool active_only,
                         struct rollout_status **ret, size_t *ret_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    struct rollout *rows = NULL;
    size_t n = 0;
    if ((r = db_rollout_list(svc->db, p.id, active_only, &rows, &n)) < 0)
        return db_failed(why, r, "read rollouts");
    struct rollout_status *st = calloc(n ? n : 1, sizeof(*st));
    if (!st) {
        free(rows);
        return reason_set(why, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if ((r = status_of(svc, &rows[i], &st[i])) < 0) {
            free(rows);
            free(st);
            return db_failed(why, r, "count the rollout's devices");
        }
    }
    free(rows);
    *ret = st;
    *ret_count = n;
    return 0;
}

int service_rollout_get(struct service *svc, const char *product, int64_t id,
                        struct rollout_status *ret, struct reason *why)
{
    struct product p;
    struct rollout ro;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0 || (r = rollout_of(svc, &p, id, &ro, why)) < 0)
        return r;
    if ((r = status_of(svc, &ro, ret)) < 0)
        return db_failed(why, r, "count the rollout's devices");
    return 0;
}

/* --- devices --- */

int service_device_show(struct service *svc, const char *product, uint64_t mac,
                        struct device_why *ret, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    int64_t intervals = 0;
    r = db_device_get(svc->db, p.id, mac, &ret->device, &ret->interval_ms, &intervals);
    if (r < 0 && r != -ENOENT)
        return db_failed(why, r, "read the device");
    ret->known = r == 0;
    mac_from_u64(mac, ret->device.report.sta_mac);
    ret->device.report.has_sta_mac = true;
    if (intervals < 3)
        ret->interval_ms = 0;
    /* The device as its last check-in described it; an unknown one as a bare STA MAC. */
    struct device_report rep = ret->known ? ret->device.report : (struct device_report){0};
    mac_from_u64(mac, rep.sta_mac);
    rep.has_sta_mac = true;

    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, p.name) : NULL;
    if (cp) {
        int64_t now = service_now_ms(svc);
        enum fw_mode mode = decide_mode(&rep);
        const struct catalog_release *running = decide_running(cp, &rep, mode);
        struct target_choice c;
        target_choose(cp, &rep, mac, mode, running, svc->tracker, now, &c);
        str_copy(ret->channel, sizeof(ret->channel), c.channel);
        target_channel_rule(cp, &c, ret->channel_rule, sizeof(ret->channel_rule));
        ret->held = c.held;
        ret->pinned = c.pin && !c.held;
        if (c.rollout) {
            ret->rollout_id = c.rollout->rollout.id;
            ret->stage = c.rollout->rollout.stage;
            ret->bucket = c.bucket;
        }
        ret->admitted = c.admitted;
        ret->window_open = c.window_open;
        if (c.target)
            str_copy(ret->target, sizeof(ret->target), c.target->release.version);
        struct decide_request req = {
            .report = &rep,
            .channel = c.channel,
            .has_target = true,
            .target = c.target,
            .exact = c.exact,
            /* The registry's highest: a device's eFuse never goes back (docs/SECURITY.md). */
            .has_secure_version_known = ret->known && ret->device.has_secure_version_max,
            .secure_version_known = ret->device.secure_version_max,
        };
        struct decision d;
        decide(cp, &req, &d);
        if (c.held)
            snprintf(ret->decision, sizeof(ret->decision), "304: held, nothing is offered");
        else if (d.kind == DECISION_UPDATE && !c.window_open)
            snprintf(ret->decision, sizeof(ret->decision),
                     "304 now (outside the maintenance window); %s later", d.version);
        else if (d.kind == DECISION_UPDATE)
            snprintf(ret->decision, sizeof(ret->decision), "200: %s (%s)%s", d.version,
                     variant_kind_name(d.variant.kind),
                     c.admitted ? ", admitted by the rollout" : "");
        else if (d.kind == DECISION_CURRENT)
            snprintf(ret->decision, sizeof(ret->decision), "304: %s",
                     c.failed ? "it failed this rollout: never offered it again"
                     : c.rollout && !c.admitted && c.rollout->rollout.state == ROLLOUT_RUNNING
                         ? "not admitted yet (bucket above the share admitted), current otherwise"
                         : "current");
        else
            snprintf(ret->decision, sizeof(ret->decision), "%s",
                     d.reason[0] ? d.reason : "nothing to offer");
        if (cp->product.fleet.require_https) {
            size_t n = strlen(ret->decision);
            snprintf(ret->decision + n, sizeof(ret->decision) - n,
                     "; over plain HTTP: 403 (the product requires HTTPS)");
        }
    }
    catalog_unref(cat);
    if (db_rollout_device_last(svc->db, p.id, mac, &ret->standing) == 0)
        ret->has_standing = true;
    if ((r = db_device_history(svc->db, p.id, mac, ret->history, FLEET_HISTORY_MAX,
                               &ret->history_count)) < 0)
        return db_failed(why, r, "read the device's history");
    if (!ret->known && !ret->has_standing) {
        char m[18];
        mac_u64_format(mac, m);
        return reason_set(why, -ENOENT, "%s has never seen device %s", p.name, m);
    }
    return 0;
}

size_t service_active_rollouts_each(struct service *svc,
                                    void (*fn)(void *ctx, const char *product,
                                               const struct rollout *rollout),
                                    void *ctx)
{
    struct catalog *catalog = service_catalog_get(svc);
    size_t count = 0;
    for (size_t p = 0; catalog && p < catalog->product_count; p++) {
        const struct catalog_product *cp = &catalog->products[p];
        for (size_t i = 0; i < cp->rollout_count; i++, count++)
            fn(ctx, cp->product.name, &cp->rollouts[i].rollout);
    }
    catalog_unref(catalog);
    return count;
}
