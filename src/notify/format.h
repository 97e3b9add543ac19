/*
 * What the notification layer decides without any I/O, so that it can be
 * unit-tested: which events a receiver's patterns take, whether a URL may
 * be a receiver, the bodies (otad's JSON, Slack's {"text"}), the signature
 * header and the retry schedule. docs/NOTIFICATIONS.md is the contract.
 */
#ifndef OTAD_NOTIFY_FORMAT_H
#define OTAD_NOTIFY_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"
#include "service/events.h"

/*
 * Checks the N event patterns PATTERNS (an event's name, "family.*" for
 * every event of a family, or "*") and joins them with commas into OUT
 * (SIZE bytes). "ping" is not a pattern: a test reaches its receiver
 * whatever it subscribes to. -EINVAL with WHY for an empty list, a
 * duplicate, too many, or a name that is no event.
 */
int notify_patterns_join(const char *const *patterns, size_t n, char *out, size_t size,
                         struct reason *why);

/* Whether JOINED (as notify_patterns_join wrote it) takes event NAME. */
bool notify_patterns_match(const char *joined, const char *name);

/*
 * Checks URL as a receiver: http:// or https:// followed by a host, at
 * most LIMIT_NOTIFY_URL_BYTES, printable ASCII without blanks. -EINVAL with
 * WHY. The host itself is whatever the admin chose (see NOTIFICATIONS.md).
 */
int notify_url_check(const char *url, struct reason *why);

/* A random version-4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"). -errno from random_bytes. */
int notify_uuid(char out[37]);

/*
 * The JSON body of EV for delivery UUID: {"id", "event", "at" (RFC 3339),
 * "product" (null when none), "data"}. A new string (free()), or NULL when
 * out of memory or when EV's data is not a JSON object.
 */
char *notify_body_json(const char *uuid, const struct event *ev);

/*
 * The one-line summary of EV a person reads in Slack, with Slack's three
 * characters escaped (& < >), into OUT (SIZE bytes; cut when longer).
 */
void notify_slack_text(const struct event *ev, char *out, size_t size);

/* The Slack body of EV: {"text": notify_slack_text}. A new string (free()), or NULL. */
char *notify_body_slack(const struct event *ev);

/*
 * X-Otad-Signature-256's value for BODY (LEN bytes) under SECRET:
 * "sha256=" and the lowercase hex of HMAC-SHA256, GitHub's form.
 */
void notify_signature(const char *secret, const void *body, size_t len, char out[72]);

/*
 * The delay before attempt ATTEMPTS + 1 after ATTEMPTS (>= 1) failed: BASE_MS
 * times 1, 3, 6, 30, 90, 360 (10 s, 30 s, 1 min, 5 min, 15 min, 1 h from the
 * default base), the last repeated, plus a jitter of up to a quarter taken
 * from RANDOM (any 32-bit value; 0 adds none), so that receivers that
 * failed together are not retried together.
 */
int64_t notify_backoff_ms(uint64_t base_ms, int64_t attempts, uint32_t random);

#endif
