/* Which channel, which release (targeting.h, docs/FLEET.md). */
#include "service/targeting.h"

#include <stdio.h>
#include <string.h>

#include "core/tz.h"
#include "service/rollout.h"
#include "service/tracker.h"

bool target_window_open(const struct fleet_window *w, const struct tz *tz, int64_t now_ms)
{
    if (w->start_min == w->end_min)
        return true;
    int minute = tz ? tz_local_minute(tz, now_ms) : (int)((now_ms / 60000) % 1440);
    if (w->start_min < w->end_min)
        return minute >= w->start_min && minute < w->end_min;
    return minute >= w->start_min || minute < w->end_min; /* across midnight */
}

static bool has_prefix(const char *s, const char *prefix)
{
    return prefix[0] && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The first group of KIND (groups are sorted by kind, then precedence) that matches. */
static const struct catalog_group *first_match(const struct catalog_product *p,
                                               enum group_match kind,
                                               const struct device_report *rep, uint64_t mac)
{
    for (size_t i = 0; i < p->group_count; i++) {
        const struct catalog_group *g = &p->groups[i];
        if (g->group.match != kind)
            continue;
        switch (kind) {
        case GROUP_MATCH_MACS:
            break; /* by catalog_group_by_mac */
        case GROUP_MATCH_MAC_PREFIX:
            if (mac && g->prefix_bits &&
                mac >> (48 - g->prefix_bits) == g->mac_prefix >> (48 - g->prefix_bits))
                return g;
            break;
        case GROUP_MATCH_QUERY:
            if (rep->query_group[0] && strcmp(rep->query_group, g->group.value) == 0)
                return g;
            break;
        case GROUP_MATCH_CHIP_SIZE:
            if (rep->has_chip_size && rep->chip_size == g->chip_size)
                return g;
            break;
        case GROUP_MATCH_SDK:
            if (has_prefix(rep->sdk_version, g->group.value))
                return g;
            break;
        case GROUP_MATCH_CORE:
            if (has_prefix(rep->core_version, g->group.value))
                return g;
            break;
        }
    }
    return NULL;
}

/* True when the product knows channel NAME: releases, a deployment or settings of its own. */
static bool channel_known(const struct catalog_product *p, const char *name)
{
    if (catalog_channel(p, name))
        return true;
    for (size_t k = 0; k < p->target_count; k++)
        if (strcmp(p->targets[k].channel, name) == 0)
            return true;
    return false;
}

static void choose_channel(const struct catalog_product *p, const struct device_report *rep,
                           uint64_t mac, struct target_choice *c)
{
    c->channel = p->product.default_channel;
    if (!p->group_count && !p->product.fleet.channel_query)
        return;
    const struct catalog_group *g = mac ? catalog_group_by_mac(p, mac) : NULL;
    if (!g)
        g = first_match(p, GROUP_MATCH_MAC_PREFIX, rep, mac);
    if (!g && p->product.fleet.channel_query && rep->query_channel[0] &&
        channel_known(p, rep->query_channel)) {
        c->channel = rep->query_channel;
        c->by_query = true;
        return;
    }
    if (!g && p->product.fleet.group_query)
        g = first_match(p, GROUP_MATCH_QUERY, rep, mac);
    for (enum group_match k = GROUP_MATCH_CHIP_SIZE; !g && k <= GROUP_MATCH_CORE; k++)
        g = first_match(p, k, rep, mac);
    if (g) {
        c->group = g;
        c->channel = g->group.channel;
    }
}

static bool window_open_for(const struct catalog_product *p, const struct target_choice *c,
                            int64_t now_ms)
{
    if (c->group && c->group->group.has_window)
        return target_window_open(&c->group->group.window, c->group->tz, now_ms);
    const struct catalog_channel *ch = catalog_channel(p, c->channel);
    return ch ? target_window_open(&ch->channel.window, ch->tz, now_ms) : true;
}

/* Whether ROLLOUT offers its release to a device running RUNNING. */
static bool rollout_applies(const struct catalog_rollout *ro, const struct catalog_release *running)
{
    switch (ro->rollout.kind) {
    case ROLLOUT_NORMAL:
    case ROLLOUT_ROLLBACK:
        return true;
    case ROLLOUT_REVERT:
        /* Only to those that took the halted release. */
        return running && ro->from && running == ro->from;
    }
    return false;
}

/* A device that failed the release it would be offered is offered nothing (docs/FLEET.md). */
static void refuse_failed(const struct catalog_product *p, uint64_t mac, struct tracker *tracker,
                          struct target_choice *c)
{
    if (mac && tracker && c->target && !tracker_empty(tracker) &&
        tracker_failed(tracker, p->product.id, mac, c->target->release.id)) {
        c->failed = true;
        c->target = NULL;
    }
}

void target_choose(const struct catalog_product *p, const struct device_report *rep, uint64_t mac,
                   enum fw_mode mode, const struct catalog_release *running,
                   struct tracker *tracker, int64_t now_ms, struct target_choice *c)
{
    memset(c, 0, sizeof(*c));
    c->window_open = true;
    c->channel = p->product.default_channel;
    if (!p->fleet_rules && !p->product.fleet.channel_query) {
        c->target = catalog_target(p, c->channel, mode);
        refuse_failed(p, mac, tracker, c);
        return;
    }
    c->pin = mac ? catalog_pin(p, mac) : NULL;
    choose_channel(p, rep, mac, c);
    c->window_open = window_open_for(p, c, now_ms);
    if (c->pin) {
        c->held = !c->pin->release;
        /* A pin of the other mode leaves this one to the channel. */
        if (c->held || c->pin->release->release.mode == mode) {
            c->target = c->pin->release;
            c->exact = true;
            return;
        }
    }
    c->target = catalog_target(p, c->channel, mode);
    const struct catalog_rollout *ro = catalog_rollout(p, c->channel, mode);
    if (!ro) {
        refuse_failed(p, mac, tracker, c);
        return;
    }
    c->rollout = ro;
    c->admitted_bp = rollout_admitted_bp(&ro->rollout, now_ms);
    if (mac)
        c->bucket = rollout_bucket(ro->rollout.salt, p->product.id, mac);
    if (!mac || ro->rollout.state != ROLLOUT_RUNNING || c->bucket >= c->admitted_bp ||
        !rollout_applies(ro, running)) {
        refuse_failed(p, mac, tracker, c);
        return;
    }
    if (tracker && tracker_failed(tracker, p->product.id, mac, ro->release->release.id)) {
        c->failed = true;
        refuse_failed(p, mac, tracker, c); /* nor the channel's release, if it failed that too */
        return;
    }
    c->admitted = true;
    c->target = ro->release;
    c->exact = ro->rollout.kind != ROLLOUT_NORMAL;
}

void target_channel_rule(const struct catalog_product *p, const struct target_choice *c, char *buf,
                         size_t size)
{
    static const char *const kinds[GROUP_MATCH_COUNT] = {
        "its MAC is listed", "MAC prefix",  "?group= query",
        "chip size",         "SDK version", "core version",
    };
    if (c->group)
        snprintf(buf, size, "group %s (%s %s)", c->group->group.name, kinds[c->group->group.match],
                 c->group->group.value);
    else if (c->by_query)
        snprintf(buf, size, "?channel=%s (the product lets devices choose)", c->channel);
    else
        snprintf(buf, size, "the product's default channel (%s)", p->product.default_channel);
}
