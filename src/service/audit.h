/*
 * The audit log (docs/AUDIT.md): one entry per admin action, whoever asked
 * (the API through the route table, the CLI through one helper, the GitHub
 * source's publishes). Entries are appended and read; the only delete is
 * the retention pass the refresher thread runs. Nothing on a check-in's
 * path calls here: a write takes the service connection's lock, which a
 * check-in never takes.
 */
#ifndef OTAD_SERVICE_AUDIT_H
#define OTAD_SERVICE_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/reason.h"
#include "model/model.h"

struct service;

/* One admin action as its caller saw it end, for service_audit_record. */
struct audit_note {
    const struct actor *actor; /* borrowed; who did it */
    const char *action;        /* "rollout.pause": the verb's stable name */
    const char *product;       /* NULL or "": none */
    const char *object;        /* the object's key in the product: version, channel, id, MAC */
    /*
     * The parameters the caller chose to record, borrowed (NULL: none).
     * Only what the action's caller picks goes in: never a token, a
     * secret, key material or an Authorization value.
     */
    const json_t *params;
    int result;         /* 0 (or above) took effect, else -errno */
    int status;         /* the HTTP status answered (decides ok when set); 0 outside HTTP */
    const char *code;   /* the API's error code ("not_found") in place of RESULT's name, or NULL */
    const char *reason; /* why it failed (NULL or ""); ignored when it took effect */
};

/*
 * Appends NOTE to the audit log, stamped now. Fields longer than their
 * column's limit are cut; parameters past LIMIT_AUDIT_PARAMS_BYTES become
 * {"truncated": true}. A failure is logged here (the action itself stands)
 * and returned: -EIO, -ENOMEM.
 */
int service_audit_record(struct service *svc, const struct audit_note *note);

/*
 * Applies one filter of a listing, as the API's query and the CLI's options
 * name them, to *F: since / until (RFC 3339 UTC such as
 * "2026-11-29T07:00:00Z", or milliseconds since the epoch), actor, action
 * (a prefix), product, outcome (ok | failed), before (an entry id). VALUE
 * is borrowed by *F for as long as F is used. -EINVAL with WHY for an
 * unknown NAME or a bad value.
 */
int service_audit_filter_set(struct audit_filter *f, const char *name, const char *value,
                             struct reason *why);

/*
 * Up to LIMIT (1 to LIMIT_API_PAGE_ROWS) entries passing FILTER, newest
 * first; free them with audit_entry_list_free. -EINVAL (a limit out of
 * range), -EIO, -ENOMEM.
 */
int service_audit_list(struct service *svc, const struct audit_filter *filter, size_t limit,
                       struct audit_entry **ret_entries, size_t *ret_count, struct reason *why);

/*
 * The retention pass: deletes entries older than audit_retention_days
 * before NOW_MS, in batches of BATCH (each its own short transaction), at
 * most MAX_BATCHES of them (the next pass goes on). Does nothing when the
 * setting is 0. Writes how many went to *RET_DELETED (may be NULL).
 * Returns 0 or -EIO (logged).
 */
int service_audit_retain(struct service *svc, int64_t now_ms, size_t batch, size_t max_batches,
                         size_t *ret_deleted);

#endif
