/*
 * Device traffic (service.h): the check-in decided from the catalog alone
 * and queued to the registry, the image URL's form, and the registry's
 * read side. Nothing here touches the database on a check-in.
 */
#include "service/service.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "service/catalog.h"
#include "service/compat.h"
#include "service/decide.h"
#include "service/present.h"
#include "service/registry.h"
#include "service/service_internal.h"

/*
 * Logs ISSUE once per product and catalog (so again after a release or a
 * setting changes): a stuck fleet must not flood the log, nor go unseen.
 */
static void warn_delivery_issue(const struct catalog_product *cp, enum delivery_issue issue)
{
    unsigned bit = 1u << issue;
    if (!cp->issues_logged || atomic_load_explicit(cp->issues_logged, memory_order_relaxed) & bit ||
        atomic_fetch_or_explicit(cp->issues_logged, bit, memory_order_relaxed) & bit)
        return;
    char fix[512];
    delivery_issue_fix_for(issue, cp->product.name, fix, sizeof(fix));
    log_warn("product %s: %s (%s); fix: %s", cp->product.name, delivery_issue_message(issue),
             delivery_issue_code(issue), fix);
}

void service_checkin(struct service *svc, const char *product, const struct device_report *report,
                     const struct checkin_context *ctx, struct decision *ret_decision)
{
    struct catalog *cat = service_catalog_get(svc);
    const struct catalog_product *cp = cat ? catalog_product(cat, product) : NULL;
    struct decide_request req = {
        .report = report,
        .channel = cp ? cp->product.default_channel : "",
        .legacy_alias = ctx->legacy_alias,
    };
    decide(cp, &req, ret_decision);
    if (cp && ret_decision->issue != DELIVERY_OK)
        warn_delivery_issue(cp, ret_decision->issue);

    if (cp && report->has_sta_mac && svc->registry) {
        struct device_record rec;
        rec.product_id = cp->product.id;
        rec.report = *report;
        str_copy(rec.remote_addr, sizeof(rec.remote_addr),
                 ctx->remote_addr ? ctx->remote_addr : "");
        rec.last_seen_ms = time_now_ms();
        rec.first_seen_ms = rec.last_seen_ms;
        rec.checkins = 1;
        switch (ret_decision->kind) {
        case DECISION_CURRENT:
            rec.last_status = 304;
            break;
        case DECISION_REFUSED:
            rec.last_status = 403;
            break;
        case DECISION_UNKNOWN:
            rec.last_status = 404;
            break;
        default:
            rec.last_status = 200;
        }
        rec.last_offered[0] = 0;
        rec.last_key[0] = 0;
        rec.issue = ret_decision->issue;
        if (ret_decision->kind == DECISION_UPDATE) {
            str_copy(rec.last_offered, sizeof(rec.last_offered), ret_decision->version);
            str_copy(rec.last_key, sizeof(rec.last_key), ret_decision->signed_by);
        }
        registry_record(svc->registry, &rec);
    }
    catalog_unref(cat);
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
