/*
 * GitHub's `release` webhook, the pure part: the X-Hub-Signature-256 check
 * (HMAC-SHA256 under the hook's secret over the raw body exactly as
 * received, compared in constant time) and the few payload fields otad acts
 * on. What to do with a delivery (which source, replay protection, the
 * background fetch) is sources.c's. Unit-tested with GitHub's documented
 * test vector in tests/unit/sources/test_webhook.c.
 */
#ifndef OTAD_SOURCES_WEBHOOK_H
#define OTAD_SOURCES_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/reason.h"

/*
 * True when HEADER is "sha256=" followed by the 64 hex digits (either case)
 * of HMAC-SHA256(SECRET, BODY). The comparison takes the same time wherever
 * the digests differ. A NULL or malformed HEADER is false.
 */
bool github_signature_valid(const uint8_t *secret, size_t secret_len, const uint8_t *body,
                            size_t body_len, const char *header);

/* The fields of a `release` event otad reads. */
struct github_event {
    char action[32];                                                         /* "published", ... */
    char repository[LIMIT_GITHUB_OWNER_BYTES + LIMIT_GITHUB_REPO_BYTES + 2]; /* full_name */
    char tag[LIMIT_GITHUB_TAG_BYTES + 1];
    bool draft;
    bool prerelease;
};

/*
 * Parses the payload BODY (LEN bytes): JSON, or with FORM_ENCODED the
 * `payload=<percent-encoded JSON>` form GitHub sends for
 * application/x-www-form-urlencoded hooks. Fills *RET_EVENT and returns 0,
 * or -EBADMSG with WHY when the body is not a release event (not JSON, no
 * action, repository.full_name or release.tag_name, or a value too long).
 */
int github_event_parse(const uint8_t *body, size_t len, bool form_encoded,
                       struct github_event *ret_event, struct reason *why);

/*
 * True for the actions otad acts on: published, released, prereleased, on a
 * release that is not a draft. (One release fires several of them; handling
 * is idempotent per tag, so acting on each is harmless.)
 */
bool github_event_actionable(const struct github_event *event);

#endif
