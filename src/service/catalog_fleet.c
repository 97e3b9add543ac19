/*
 * The catalog's fleet control part (catalog.h, docs/FLEET.md): channel
 * settings, groups and their MACs, pins and holds, active rollouts,
 * deployments and withdrawn releases of one product, loaded with the rest
 * of the catalog and sorted so that a check-in's lookups are binary
 * searches.
 */
#include "service/catalog.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tz.h"
#include "db/db_fleet.h"

void catalog_fleet_free(struct catalog_product *p)
{
    free(p->channels);
    free(p->groups);
    free(p->group_macs);
    free(p->pins);
    free(p->rollouts);
    free(p->deployments);
    p->channels = NULL;
    p->groups = NULL;
    p->group_macs = NULL;
    p->pins = NULL;
    p->rollouts = NULL;
    p->deployments = NULL;
    p->channel_count = p->group_count = p->group_mac_count = p->pin_count = p->rollout_count =
        p->deployment_count = 0;
}

static bool window_set(const struct fleet_window *w)
{
    return w->start_min != w->end_min;
}

/* The zone named NAME, loaded once per catalog; NULL for UTC or one that cannot be loaded. */
static const struct tz *zone(struct catalog *cat, const char *name)
{
    if (!name[0] || strcmp(name, "UTC") == 0)
        return NULL;
    for (size_t i = 0; i < cat->zone_count; i++)
        if (strcmp(tz_name(cat->zones[i]), name) == 0)
            return cat->zones[i];
    struct tz *tz = NULL;
    int r = tz_load(name, &tz);
    if (r < 0) {
        log_warn("time zone %s: %s; its window is read in UTC", name, strerror(-r));
        return NULL;
    }
    struct tz **zones = realloc(cat->zones, (cat->zone_count + 1) * sizeof(*zones));
    if (!zones) {
        tz_free(tz);
        return NULL;
    }
    cat->zones = zones;
    cat->zones[cat->zone_count++] = tz;
    return tz;
}

static int channel_cmp(const void *a, const void *b)
{
    return strcmp(((const struct catalog_channel *)a)->channel.name,
                  ((const struct catalog_channel *)b)->channel.name);
}

static int group_cmp(const void *a, const void *b)
{
    const struct group *x = &((const struct catalog_group *)a)->group;
    const struct group *y = &((const struct catalog_group *)b)->group;
    if (x->match != y->match)
        return x->match < y->match ? -1 : 1;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int group_mac_cmp(const void *a, const void *b)
{
    const struct catalog_group_mac *x = a, *y = b;
    if (x->mac != y->mac)
        return x->mac < y->mac ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group; /* groups are in precedence order */
}

static int pin_cmp(const void *a, const void *b)
{
    const struct catalog_pin *x = a, *y = b;
    return x->mac < y->mac ? -1 : x->mac > y->mac;
}

static int load_channels(struct catalog *cat, struct db *db, struct catalog_product *cp)
{
    struct channel *rows = NULL;
    size_t n = 0;
    int r = db_channel_list(db, cp->product.id, &rows, &n);
    if (r < 0)
        return r;
    cp->channels = calloc(n ? n : 1, sizeof(*cp->channels));
    if (!cp->channels) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        cp->channels[i].channel = rows[i];
        cp->channels[i].configured = true;
        cp->channels[i].tz = zone(cat, rows[i].window.tz);
        if (window_set(&rows[i].window))
            cp->fleet_rules = true;
    }
    cp->channel_count = n;
    free(rows);
    qsort(cp->channels, n, sizeof(*cp->channels), channel_cmp);
    return 0;
}

int catalog_mac_prefix_parse(const char *text, uint64_t *ret_prefix, unsigned *ret_bits)
{
    uint64_t v = 0;
    unsigned octets = 0;
    const char *p = text;
    for (;;) {
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || octets == 5)
            return -EINVAL;
        char hex[3] = {p[0], p[1], 0};
        v = v << 8 | strtoul(hex, NULL, 16);
        octets++;
        p += 2;
        if (!*p)
            break;
        if (*p != ':' && *p != '-')
            return -EINVAL;
        p++;
    }
    *ret_bits = octets * 8;
    *ret_prefix = v << (48 - octets * 8);
    return 0;
}

static int load_groups(struct catalog *cat, struct db *db, struct catalog_product *cp)
{
    struct group *rows = NULL;
    size_t n = 0;
    int r = db_group_list(db, cp->product.id, &rows, &n);
    if (r < 0)
        return r;
    cp->groups = calloc(n ? n : 1, sizeof(*cp->groups));
    if (!cp->groups) {
        free(rows);
        return -ENOMEM;
    }
    bool lists = false;
    for (size_t i = 0; i < n; i++) {
        cp->groups[i].group = rows[i];
        cp->groups[i].tz = rows[i].has_window ? zone(cat, rows[i].window.tz) : NULL;
        if (rows[i].match == GROUP_MATCH_MAC_PREFIX &&
            catalog_mac_prefix_parse(rows[i].value, &cp->groups[i].mac_prefix,
                                     &cp->groups[i].prefix_bits) < 0)
            log_warn("group %s: MAC prefix '%s' is not valid; it matches no device", rows[i].name,
                     rows[i].value);
        if (rows[i].match == GROUP_MATCH_CHIP_SIZE)
            cp->groups[i].chip_size = strtoull(rows[i].value, NULL, 10);
        lists |= rows[i].match == GROUP_MATCH_MACS;
    }
    cp->group_count = n;
    free(rows);
    qsort(cp->groups, n, sizeof(*cp->groups), group_cmp);
    if (n)
        cp->fleet_rules = true;
    if (!lists)
        return 0;

    for (size_t g = 0; g < cp->group_count; g++) {
        const struct catalog_group *cg = &cp->groups[g];
        if (cg->group.match != GROUP_MATCH_MACS)
            continue;
        uint64_t *macs = NULL;
        size_t m = 0;
        if ((r = db_group_macs_list(db, cg->group.id, &macs, NULL, &m)) < 0)
            return r;
        struct catalog_group_mac *all =
            realloc(cp->group_macs, (cp->group_mac_count + m + 1) * sizeof(*all));
        if (!all) {
            free(macs);
            return -ENOMEM;
        }
        cp->group_macs = all;
        for (size_t i = 0; i < m; i++)
            cp->group_macs[cp->group_mac_count++] = (struct catalog_group_mac){macs[i], cg};
        free(macs);
    }
    qsort(cp->group_macs, cp->group_mac_count, sizeof(*cp->group_macs), group_mac_cmp);
    return 0;
}

static int load_pins(struct db *db, struct catalog_product *cp)
{
    struct pin *rows = NULL;
    size_t n = 0;
    int r = db_pin_list(db, cp->product.id, &rows, &n);
    if (r < 0)
        return r;
    cp->pins = calloc(n ? n : 1, sizeof(*cp->pins));
    if (!cp->pins) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct catalog_release *rel =
            rows[i].release_id ? catalog_release_by_id(cp, rows[i].release_id) : NULL;
        if (rows[i].release_id && !rel)
            continue; /* cannot happen: a pin names a release that exists */
        cp->pins[cp->pin_count++] = (struct catalog_pin){rows[i].mac, rel};
    }
    free(rows);
    qsort(cp->pins, cp->pin_count, sizeof(*cp->pins), pin_cmp);
    if (cp->pin_count)
        cp->fleet_rules = true;
    return 0;
}

static int load_rollouts(struct db *db, struct catalog_product *cp)
{
    struct rollout *rows = NULL;
    size_t n = 0;
    int r = db_rollout_list(db, cp->product.id, true, &rows, &n);
    if (r < 0)
        return r;
    cp->rollouts = calloc(n ? n : 1, sizeof(*cp->rollouts));
    if (!cp->rollouts) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!rollout_state_active(rows[i].state))
            continue; /* queued ones offer nothing yet */
        const struct catalog_release *rel = catalog_release_by_id(cp, rows[i].release_id);
        if (!rel)
            continue;
        struct catalog_rollout *cr = &cp->rollouts[cp->rollout_count++];
        cr->rollout = rows[i];
        cr->release = rel;
        cr->from =
            rows[i].from_release_id ? catalog_release_by_id(cp, rows[i].from_release_id) : NULL;
    }
    free(rows);
    if (cp->rollout_count)
        cp->fleet_rules = true;
    return 0;
}

static int load_deployments(struct db *db, struct catalog_product *cp)
{
    int r = db_deployment_list(db, cp->product.id, &cp->deployments, &cp->deployment_count);
    if (r < 0)
        return r;
    int64_t *ids = NULL;
    size_t n = 0;
    if ((r = db_withdrawn_list(db, cp->product.id, &ids, &n)) < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct catalog_release *rel = (struct catalog_release *)catalog_release_by_id(cp, ids[i]);
        if (rel) {
            rel->withdrawn = true;
            cp->fleet_rules = true;
        }
    }
    free(ids);
    return 0;
}

int catalog_fleet_load(struct catalog *cat, struct db *db, struct catalog_product *cp)
{
    int r;
    if ((r = load_channels(cat, db, cp)) < 0 || (r = load_groups(cat, db, cp)) < 0 ||
        (r = load_pins(db, cp)) < 0 || (r = load_rollouts(db, cp)) < 0 ||
        (r = load_deployments(db, cp)) < 0)
        return r;
    return 0;
}

const struct catalog_channel *catalog_channel(const struct catalog_product *p, const char *name)
{
    size_t lo = 0, hi = p->channel_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, p->channels[mid].channel.name);
        if (c == 0)
            return &p->channels[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct catalog_group *catalog_group_by_mac(const struct catalog_product *p, uint64_t mac)
{
    /* The first entry with MAC: the lowest bound, which is the group that comes first. */
    size_t lo = 0, hi = p->group_mac_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->group_macs[mid].mac < mac)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->group_mac_count && p->group_macs[lo].mac == mac ? p->group_macs[lo].group : NULL;
}

const struct catalog_pin *catalog_pin(const struct catalog_product *p, uint64_t mac)
{
    struct catalog_pin key = {mac, NULL};
    return bsearch(&key, p->pins, p->pin_count, sizeof(key), pin_cmp);
}

const struct catalog_rollout *catalog_rollout(const struct catalog_product *p, const char *channel,
                                              enum fw_mode mode)
{
    for (size_t i = 0; i < p->rollout_count; i++)
        if (p->rollouts[i].rollout.mode == mode &&
            strcmp(p->rollouts[i].rollout.channel, channel) == 0)
            return &p->rollouts[i];
    return NULL;
}
