/*
 * What the dashboard reads (docs/API.md, "Devices", "Version history",
 * "Overview"): a page of the device list by keyset over the MAC, the
 * product's figures from service/dashboard.c, its version history. Reads
 * only; the writes are the registry's and the dashboard thread's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/db.h"
#include "service/dashboard.h"
#include "service/service_internal.h"

#define MAC_MAX 0xFFFFFFFFFFFFULL

int service_fleet_summary(struct service *svc, const struct product *product,
                          struct fleet_summary *ret)
{
    if (svc->dashboard && dashboard_get(svc->dashboard, product->id, ret) == 0)
        return 0;
    return dashboard_compute(svc->db, product->id, service_now_ms(svc), ret);
}

static bool filtered(const struct device_filter *f)
{
    return f->mac_min != 0 || f->mac_max != MAC_MAX || (f->version && f->version[0]) ||
           (f->channel && f->channel[0]) || (f->group && f->group[0]) || f->status || f->quiet ||
           (f->version_part && f->version_part[0]);
}

/* Whether one device FILTER keeps lies in MIN..MAX. */
static int any_between(struct service *svc, int64_t product_id, const struct device_filter *filter,
                       uint64_t min, uint64_t max, bool *ret_any)
{
    if (min > max) {
        *ret_any = false;
        return 0;
    }
    struct device_filter f = *filter;
    f.mac_min = min;
    f.mac_max = max;
    struct device_record *one = NULL;
    size_t n = 0;
    int r = db_device_page(svc->db, product_id, &f, false, 1, &one, &n);
    free(one);
    if (r == 0)
        *ret_any = n > 0;
    return r;
}

/* The total of the page (service.h): exact when cheap, else the last count or unknown. */
static int page_total(struct service *svc, const struct product *p, const struct device_filter *f,
                      struct device_page *page)
{
    struct fleet_summary *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    int r = service_fleet_summary(svc, p, s);
    if (r == 0 && s->devices <= LIMIT_EXACT_DEVICE_COUNT) {
        r = db_device_count(svc->db, p->id, f, &page->total);
        page->has_total = r == 0;
    } else if (r == 0 && !filtered(f)) {
        page->total = s->devices;
        page->has_total = page->total_estimated = true;
    }
    free(s);
    return r;
}

/*
 * Whether F keeps devices that no single index walk finds in order: quiet,
 * a part of a version, or more than one of the indexed filters (version,
 * group, channel, answer). Such a page walks at most LIMIT_DEVICE_PAGE_SCAN
 * devices (bounded_range).
 */
static bool needs_bounded_walk(const struct device_filter *f)
{
    unsigned indexed = (f->version && f->version[0]) + (f->group && f->group[0]) +
                       (f->channel && f->channel[0]) + (f->status != 0);
    return f->quiet || (f->version_part && f->version_part[0]) || indexed > 1;
}

/*
 * Narrows RANGE to the LIMIT_DEVICE_PAGE_SCAN devices from its start (its
 * end, BACKWARD) and returns where it then ends (starts), 0 when the
 * devices on that side are fewer and RANGE is whole.
 */
static int bounded_range(struct service *svc, int64_t product_id, struct device_filter *range,
                         bool backward, uint64_t *ret_cut)
{
    uint64_t from = backward ? range->mac_max : range->mac_min, mac = 0;
    *ret_cut = 0;
    int r =
        db_device_nth_mac(svc->db, product_id, from, backward, LIMIT_DEVICE_PAGE_SCAN - 1, &mac);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (!backward && mac < range->mac_max)
        *ret_cut = range->mac_max = mac;
    else if (backward && mac > range->mac_min)
        *ret_cut = range->mac_min = mac;
    return 0;
}

static void reverse(struct device_record *d, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        struct device_record t = d[i];
        d[i] = d[n - 1 - i];
        d[n - 1 - i] = t;
    }
}

int service_device_page(struct service *svc, const char *product,
                        const struct device_page_request *req, struct device_page *ret_page,
                        struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    struct device_filter f = req->filter;
    f.now_ms = service_now_ms(svc);
    size_t limit = req->limit < 1                     ? 1
                   : req->limit > LIMIT_API_PAGE_ROWS ? LIMIT_API_PAGE_ROWS
                                                      : req->limit;
    struct device_page page = {0};
    bool backward = req->from == DEVICE_PAGE_BEFORE || req->from == DEVICE_PAGE_LAST;
    /* The MACs this page may take; the other side is asked for one device only. */
    struct device_filter range = f;
    bool empty = false;
    if (req->from == DEVICE_PAGE_AFTER) {
        empty = req->mac >= MAC_MAX;
        if (!empty && req->mac + 1 > range.mac_min)
            range.mac_min = req->mac + 1;
    } else if (req->from == DEVICE_PAGE_BEFORE) {
        empty = req->mac == 0;
        if (!empty && req->mac - 1 < range.mac_max)
            range.mac_max = req->mac - 1;
    }
    empty = empty || range.mac_min > range.mac_max;
    /*
     * The total first, the page after: devices are only ever added, so the
     * page shows at least every device the total counted (the other order
     * could give a total of 5 with the 5 missing from a page read before
     * their commit).
     */
    if (r == 0)
        r = page_total(svc, &p, &f, &page);
    bool bounded = needs_bounded_walk(&f);
    uint64_t cut = 0;
    if (r == 0 && !empty && bounded)
        r = bounded_range(svc, p.id, &range, backward, &cut);
    if (!empty && r == 0)
        r = db_device_page(svc->db, p.id, &range, backward, limit + 1, &page.devices, &page.count);
    if (r < 0)
        return r;
    if (page.count > limit) {
        page.count = limit;
        *(backward ? &page.has_prev : &page.has_next) = true;
    } else if (cut) { /* the walk stopped before the page was full: more may match past it */
        *(backward ? &page.has_prev : &page.has_next) = true;
        *(backward ? &page.prev_before : &page.next_after) = cut;
    }
    if (backward)
        reverse(page.devices, page.count);
    /*
     * A device on the side the page did not walk: before an AFTER page, after
     * a BEFORE one. A bounded filter's answer would be another unbounded
     * walk: any device of the product there is taken as a maybe.
     */
    struct device_filter probe = f;
    if (bounded) {
        memset(&probe, 0, sizeof(probe));
        probe.mac_min = f.mac_min;
        probe.mac_max = f.mac_max;
    }
    if (r == 0 && req->from == DEVICE_PAGE_AFTER)
        r = any_between(svc, p.id, &probe, f.mac_min, req->mac < f.mac_max ? req->mac : f.mac_max,
                        &page.has_prev);
    else if (r == 0 && req->from == DEVICE_PAGE_BEFORE)
        r = any_between(svc, p.id, &probe, req->mac > f.mac_min ? req->mac : f.mac_min, f.mac_max,
                        &page.has_next);
    if (r < 0) {
        free(page.devices);
        return r;
    }
    *ret_page = page;
    return 0;
}

int service_version_history(struct service *svc, const char *product, unsigned days,
                            struct version_day **ret_rows, size_t *ret_count, struct reason *why)
{
    struct product p;
    int r = service_product_get(svc, product, &p, why);
    if (r < 0)
        return r;
    if (days < 1)
        days = 1;
    if (days > LIMIT_VERSION_HISTORY_DAYS)
        days = LIMIT_VERSION_HISTORY_DAYS;
    struct fleet_summary *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    if ((r = service_fleet_summary(svc, &p, s)) < 0) {
        free(s);
        return r;
    }
    int64_t today = dashboard_day(s->computed_ms);
    struct version_day *rows = NULL;
    size_t n = 0;
    r = db_version_day_list(svc->db, p.id, today - (int64_t)days + 1, &rows, &n);
    if (r < 0) {
        free(s);
        return r;
    }
    /* The stored days before today, then today as counted last (the table has it hourly). */
    size_t kept = 0;
    while (kept < n && rows[kept].day < today)
        kept++;
    struct version_day *all = realloc(rows, (kept + s->today_count + 1) * sizeof(*all));
    if (!all) {
        free(rows);
        free(s);
        return -ENOMEM;
    }
    memcpy(all + kept, s->today, s->today_count * sizeof(*all));
    *ret_rows = all;
    *ret_count = kept + s->today_count;
    free(s);
    return 0;
}
