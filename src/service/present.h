/*
 * JSON presentation of the model (products, releases, devices, tokens), the
 * one shape shared by the HTTP API and the CLI's --json output. Field names
 * are part of the API: add, never rename.
 */
#ifndef OTAD_SERVICE_PRESENT_H
#define OTAD_SERVICE_PRESENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Each returns a new JSON object (the caller owns the reference), or NULL on allocation failure. */
json_t *present_product(const struct product *p);
json_t *present_release(const struct release *r, const char *product_name);
json_t *present_device(const struct device_record *d);
/*
 * D as the device list shows it at NOW_MS: present_device with "channel" and
 * "group" (its last check-in's, null when none), "outcome" (its last
 * check-in's answer, checkin_answer_name), "quiet" and "interval_s".
 */
json_t *present_device_listed(const struct device_record *d, int64_t now_ms);
json_t *present_token(const struct token *t);
/*
 * An audit log entry (docs/API.md, "Audit log"): its parameters as the JSON
 * object they were recorded as ({} when none or unreadable).
 */
json_t *present_audit_entry(const struct audit_entry *e);

/* A dashboard session for the admin: never its cookie (which is not stored). */
json_t *present_session(const struct session_record *s);

/*
 * The delivery issues with a non-zero count, as [{"code", "devices",
 * "message", "fix"}], the fix naming PRODUCT_NAME (docs/SIGNING.md).
 */
json_t *present_delivery_issues(const uint64_t counts[DELIVERY_ISSUE_COUNT],
                                const char *product_name);

/* The fix of ISSUE (compat.h) with the product's name in place, into OUT (SIZE bytes). */
void delivery_issue_fix_for(enum delivery_issue issue, const char *product_name, char *out,
                            size_t size);

/*
 * What a publish did to its product's anti-rollback budget
 * (docs/SECURITY.md, "Anti-rollback"): {"from", "to", "chip", "efuse_bits",
 * "bumps_left", "bumps_left_after", "highest_release", "highest_device"
 * (null: none reported), "warning"}.
 */
struct secure_version_bump;
json_t *present_secure_version_bump(const struct secure_version_bump *b);

/* A key a product has signed with; ACTIVE_NAME marks the active one. */
struct product_key;
json_t *present_product_key(const struct product_key *k, const char *active_name);

#endif
