/*
 * The audit log (audit.h): recording an admin action as one entry, the
 * filters of a listing, the listing, and the retention pass. What each
 * action records is chosen by its caller (the route's handler, the CLI
 * command, the GitHub sync); this file only stamps, bounds and stores it.
 */
#include "service/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db_audit.h"
#include "service/service_internal.h"

#define MS_PER_DAY (86400 * 1000LL)

/* The errno names an entry records: the ones the service returns, and a number for the rest. */
static void error_name(int err, char *out, size_t size)
{
    static const struct {
        int err;
        const char *name;
    } names[] = {
        {EINVAL, "EINVAL"},       {EBADMSG, "EBADMSG"},
        {ENOENT, "ENOENT"},       {EEXIST, "EEXIST"},
        {EFBIG, "EFBIG"},         {EPERM, "EPERM"},
        {EACCES, "EACCES"},       {EKEYREJECTED, "EKEYREJECTED"},
        {ENOKEY, "ENOKEY"},       {EIO, "EIO"},
        {ENOMEM, "ENOMEM"},       {EBUSY, "EBUSY"},
        {EAGAIN, "EAGAIN"},       {ENOSPC, "ENOSPC"},
        {ECANCELED, "ECANCELED"}, {ENOTSUP, "ENOTSUP"},
        {ETIMEDOUT, "ETIMEDOUT"}, {EPROTO, "EPROTO"},
        {EDQUOT, "EDQUOT"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (names[i].err == err) {
            snprintf(out, size, "%s", names[i].name);
            return;
        }
    snprintf(out, size, "E%d", err);
}

/* Copies SRC into OUT, cut to fit (an entry keeps what fits rather than nothing). */
/* SRC cut to SIZE, made printable: a path's product or a reason may hold any byte a peer sent. */
static void copy_cut(char *out, size_t size, const char *src)
{
    snprintf(out, size, "%s", src ? src : "");
    str_printable(out);
}

int service_audit_record(struct service *svc, const struct audit_note *note)
{
    struct audit_entry e = {0};
    e.at_ms = time_now_ms();
    e.actor = *note->actor;
    str_printable(e.actor.name);
    str_printable(e.actor.address);
    copy_cut(e.action, sizeof(e.action), note->action);
    copy_cut(e.product, sizeof(e.product), note->product);
    copy_cut(e.object, sizeof(e.object), note->object);
    e.status = note->status;
    e.ok = note->status ? note->status < 400 : note->result >= 0;
    if (!e.ok) {
        if (note->code && *note->code)
            copy_cut(e.error, sizeof(e.error), note->code);
        else if (note->result < 0)
            error_name(-note->result, e.error, sizeof(e.error));
        copy_cut(e.reason, sizeof(e.reason), note->reason);
    }
    char *params = NULL;
    if (note->params && json_object_size(note->params) > 0) {
        params = json_dumps(note->params, JSON_COMPACT | JSON_SORT_KEYS);
        if (params && strlen(params) > LIMIT_AUDIT_PARAMS_BYTES) {
            free(params);
            params = strdup("{\"truncated\":true}");
        }
        if (!params)
            log_warn("audit: no memory for the parameters of %s", e.action);
    }
    e.params = params;
    int r = db_audit_insert(svc->db, &e, NULL);
    if (r < 0)
        log_error("audit: cannot record %s by %s \"%s\": %s", e.action, actor_via_name(e.actor.via),
                  e.actor.name, strerror(-r));
    free(params);
    return r;
}

/* "2026-11-29T07:00:00Z" (fraction of a second allowed, UTC only) or milliseconds since the epoch.
 */
static int time_parse(const char *text, int64_t *ret_ms)
{
    uint64_t ms;
    if (parse_u64(text, INT64_MAX, &ms) == 0) {
        *ret_ms = (int64_t)ms;
        return 0;
    }
    struct tm tm = {0};
    int consumed = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
        consumed != 19)
        return -EINVAL;
    const char *rest = text + consumed;
    int64_t frac_ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*rest - '0');
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (strcmp(rest, "Z") != 0 || tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *ret_ms = (int64_t)t * 1000 + frac_ms;
    return 0;
}

int service_audit_filter_set(struct audit_filter *f, const char *name, const char *value,
                             struct reason *why)
{
    if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
        int64_t ms;
        if (time_parse(value, &ms) < 0)
            return reason_set(why, -EINVAL,
                              "%s takes an RFC 3339 UTC time (2026-11-29T07:00:00Z) or "
                              "milliseconds since the epoch",
                              name);
        if (name[0] == 's')
            f->since_ms = ms;
        else
            f->until_ms = ms;
        return 0;
    }
    if (strcmp(name, "before") == 0) {
        uint64_t id;
        if (parse_u64(value, INT64_MAX, &id) < 0 || id == 0)
            return reason_set(why, -EINVAL, "before takes an entry id, a whole number above 0");
        f->before_id = (int64_t)id;
        return 0;
    }
    if (strcmp(name, "outcome") == 0) {
        if (strcmp(value, "ok") == 0)
            f->outcome = 1;
        else if (strcmp(value, "failed") == 0)
            f->outcome = -1;
        else
            return reason_set(why, -EINVAL, "outcome takes ok or failed");
        return 0;
    }
    const char **text = strcmp(name, "actor") == 0     ? &f->actor
                        : strcmp(name, "action") == 0  ? &f->action_prefix
                        : strcmp(name, "product") == 0 ? &f->product
                                                       : NULL;
    if (!text)
        return reason_set(why, -EINVAL,
                          "unknown filter \"%.40s\" (since, until, actor, action, product, "
                          "outcome, before)",
                          name);
    if (strlen(value) > LIMIT_AUDIT_FILTER_BYTES)
        return reason_set(why, -EINVAL, "%s is longer than %u bytes", name,
                          LIMIT_AUDIT_FILTER_BYTES);
    *text = value;
    return 0;
}

int service_audit_list(struct service *svc, const struct audit_filter *filter, size_t limit,
                       struct audit_entry **ret_entries, size_t *ret_count, struct reason *why)
{
    if (limit < 1 || limit > LIMIT_API_PAGE_ROWS)
        return reason_set(why, -EINVAL, "limit takes 1 to %u", LIMIT_API_PAGE_ROWS);
    int r = db_audit_list(svc->db, filter, limit, ret_entries, ret_count);
    return r < 0 ? reason_set(why, r, "cannot read the audit log") : 0;
}

int service_audit_retain(struct service *svc, int64_t now_ms, size_t batch, size_t max_batches,
                         size_t *ret_deleted)
{
    size_t total = 0;
    int r = 0;
    if (svc->config.audit_retention_days) {
        int64_t cutoff = now_ms - (int64_t)svc->config.audit_retention_days * MS_PER_DAY;
        for (size_t i = 0; i < max_batches; i++) {
            size_t deleted = 0;
            if ((r = db_audit_trim(svc->db, cutoff, batch, &deleted)) < 0)
                break;
            total += deleted;
            if (deleted < batch)
                break;
        }
        if (total)
            log_info("audit: %zu entries older than %llu days deleted", total,
                     (unsigned long long)svc->config.audit_retention_days);
    }
    if (ret_deleted)
        *ret_deleted = total;
    return r;
}
