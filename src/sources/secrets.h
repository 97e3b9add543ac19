/*
 * The tokens and webhook secrets of the sources. A source names where one
 * is (a file, or an environment variable); this module reads it there and
 * nowhere else. Values are never stored in the database, never logged, and
 * never put into a reason (which says where, never what).
 *
 * Tokens are read for each sync (one every few minutes). Webhook secrets
 * are kept in a cache, because every delivery, authentic or not, has to be
 * checked against them before anything else: each secret is read once and
 * read again only when its source's reference changes (a source added or
 * removed) or its file changes (size, times, inode), and a delivery costs
 * one HMAC over its body per distinct secret value, however many sources
 * share it.
 */
#ifndef OTAD_SOURCES_SECRETS_H
#define OTAD_SOURCES_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/reason.h"
#include "model/source.h"

/*
 * Reads a token (TOKEN true: printable ASCII only, it goes into a header)
 * or a webhook secret from FILE or, when FILE is "", the variable ENV (as
 * CONFIG's environment has it) into OUT (SIZE bytes, NUL-terminated),
 * trailing blanks and line ends removed. WHAT names it in reasons ("token").
 * Returns its length; -ENOENT when FILE and ENV are both "" (none
 * configured); -EINVAL (unset, empty, control characters in a token),
 * -E2BIG, or a file error, with WHY. Wipes every copy it made but OUT.
 */
int sources_secret_read(const struct config *config, const char *file, const char *env, bool token,
                        char *out, size_t size, const char *what, struct reason *why);

/* The webhook secrets, by reference. Opaque. */
struct secret_cache;

/*
 * A new, empty cache reading through CONFIG (borrowed: it must outlive the
 * cache). Returns 0 or -ENOMEM.
 */
int secret_cache_new(const struct config *config, struct secret_cache **ret_cache);

/* Wipes every secret and frees. NULL-safe. */
void secret_cache_free(struct secret_cache *cache);

/* What a verification found, for the refusal's log line. */
struct secret_verdict {
    size_t with_secret; /* sources with a webhook secret configured */
    size_t matched;     /* of them, those whose secret verifies the signature */
};

/*
 * Checks the X-Hub-Signature-256 value SIGNATURE (may be NULL: nothing
 * matches) over BODY (LEN bytes) against the webhook secret of each of the
 * N sources in ROWS, and sets MATCHED[i] (N entries) for each source whose
 * secret verifies it. Loads what is missing or changed, forgets secrets no
 * source names any more. A secret that cannot be read matches nothing and
 * is logged once (again when the reason changes). Thread-safe: calls are
 * serialized on the cache's own lock, held through the HMACs. Returns 0
 * with *RET_VERDICT, or -ENOMEM (nothing matched).
 */
int secret_cache_verify(struct secret_cache *cache, const struct source_row *rows, size_t n,
                        const uint8_t *body, size_t len, const char *signature, bool *matched,
                        struct secret_verdict *ret_verdict);

/* What the cache has done since it was made (for tests and the log). */
struct secret_cache_stats {
    uint64_t loads; /* secrets read from a file or the environment */
    uint64_t hmacs; /* HMACs computed over a delivery's body */
    size_t held;    /* secrets held now */
};

/* Fills *RET_STATS. Thread-safe. */
void secret_cache_stats(struct secret_cache *cache, struct secret_cache_stats *ret_stats);

#endif
