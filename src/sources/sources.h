/*
 * Release sources: GitHub repositories whose releases become otad releases
 * with no step in between. This module sits beside src/http/ as a caller of
 * the service: everything it fetches ends in service_publish (validation,
 * storing, signing), exactly like an upload. The service never calls it.
 *
 * It owns: the sources' settings and state (its own database connection,
 * db_sources.h), reading tokens and webhook secrets (from a file or an
 * environment variable named per source; never stored, never logged), the
 * poller (one background thread in SOURCES_SERVING mode that asks GitHub
 * serially, with conditional requests, inside the rate limits, never
 * because a device checked in), and what a webhook delivery triggers (a
 * background sync of the sources it names; the HTTP handler answers at
 * once). `otad source sync` runs the same sync in the foreground.
 *
 * Per sync of one source: one conditional request for its releases (the
 * list, or `releases/latest` when pre-releases are ignored); for each
 * channel's newest release not yet dealt with, one API request for the
 * asset (the 302 to storage is followed without the token), the size
 * checked against the API's, then service_publish with source "github",
 * the version from the tag and the release body as notes. A tag is dealt
 * with once: ingested, or refused for good, which the status shows
 * (last_refused). A failure that trying again can mend (a 5xx, a storage
 * outage, a truncated download) leaves nothing and is retried with backoff
 * for as long as it lasts and the tag is its channel's newest; the status
 * says which tag, which attempt and when the next is.
 *
 * Threads: every call may be made from any thread once sources_open
 * returned; they serialize where they share state (internal.h lists what).
 * sources_close must not race with any other call.
 *
 * Errors: -EINVAL (bad settings), -ENOENT (no such product or source),
 * -EEXIST (the product already watches that repository), -ENOSPC (too many
 * sources), -EPERM (a webhook whose signature matches no source), -EFBIG,
 * -EOPNOTSUPP (a background request without the poller), -EIO / -ENOMEM.
 * Each refusal comes with a one-line reason.
 */
#ifndef OTAD_SOURCES_SOURCES_H
#define OTAD_SOURCES_SOURCES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/reason.h"
#include "model/source.h"
#include "service/service.h"

struct sources;

/* The poller rereads the source list at least this often (sources added by the CLI). */
#define SOURCES_IDLE_S 30

enum sources_mode {
    SOURCES_LOCAL,   /* a CLI command: syncs run in the caller's thread */
    SOURCES_SERVING, /* the daemon: the poller thread runs, webhooks queue syncs */
};

/*
 * Opens the sources of the data folder CONFIG names (the service's database
 * file, on a connection of our own) for SVC (borrowed; it must outlive the
 * sources), and in SOURCES_SERVING mode starts the poller. Call after
 * service_open; CONFIG is copied. Returns 0 with a new handle, or -errno
 * after logging why.
 */
int sources_open(const struct config *config, struct service *svc, enum sources_mode mode,
                 struct sources **ret_sources);

/*
 * Stops the poller (a transfer in flight is aborted) and frees. Call before
 * service_close. NULL-safe.
 */
void sources_close(struct sources *sources);

/* What `otad source add` asks for. Strings are borrowed; NULL means the default. */
struct source_spec {
    const char *product;            /* required */
    const char *repository;         /* required: "owner/repo" */
    const char *asset_glob;         /* default GITHUB_ASSET_GLOB_DEFAULT */
    const char *token_file;         /* at most one of token_file, token_env */
    const char *token_env;          /* a variable NAME */
    const char *secret_file;        /* webhook secret; at most one of secret_file, secret_env */
    const char *secret_env;         /* a variable NAME */
    const char *prerelease_channel; /* default "beta"; "none" or "" ignores pre-releases */
    const char *api_url;            /* default GITHUB_API_URL_DEFAULT */
    uint64_t poll_interval_s;       /* 0: the configured github_poll_interval_s */
};

/*
 * Adds a source after checking SPEC (the product exists, names are as
 * GitHub allows, the API URL is https or loopback http, at most one token
 * and one secret reference). Writes the stored source, with its empty
 * state, to RET_ROW (may be NULL). A running server picks it up within
 * SOURCES_IDLE_S. -EINVAL, -ENOENT, -EEXIST, -ENOSPC, -EIO.
 */
int sources_add(struct sources *sources, const struct source_spec *spec, struct source_row *ret_row,
                struct reason *why);

/* Removes source ID with its state and tag records (releases stay). -ENOENT. */
int sources_remove(struct sources *sources, int64_t id, struct reason *why);

/* Source ID with its state. -ENOENT. */
int sources_get(struct sources *sources, int64_t id, struct source_row *ret_row,
                struct reason *why);

/* All sources with their state, by id; the caller frees *ret_rows with free(). */
int sources_list(struct sources *sources, struct source_row **ret_rows, size_t *ret_count);

/*
 * ROW as JSON (a new reference, or NULL when out of memory): settings (the
 * token and secret as where they are read from, never their values) and
 * status: last poll, last change, last error (our words, never upstream
 * text: read tokens see it), rate limit, next poll, API requests sent, and
 * the last refused tag with why. The one shape of the API and of
 * `otad source list --json`.
 */
json_t *sources_present(const struct sources *sources, const struct source_row *row);

/* What one sync did. */
struct sources_sync_result {
    int64_t source_id;
    unsigned api_calls; /* requests sent to the API in this sync */
    unsigned ingested;  /* releases published */
    unsigned refused;   /* releases refused for good in this sync (message says why) */
    unsigned waiting;   /* newest releases whose asset is not there (yet) */
    bool not_modified;  /* the API answered 304 */
    bool rate_limited;  /* no request was sent: the rate limit forbids it until later */
    bool failed;        /* the sync failed (see message; it is retried with backoff) */
    char message[256];  /* one line, what happened */
};

/*
 * Syncs source ID (0: every source) now, in the caller's thread, ignoring
 * the schedule but not the rate limit (a gated source reports rate_limited
 * and sends nothing). *RET_RESULTS (the caller frees it) gets one result per
 * source. Returns 0 even when a sync failed (see each result), -ENOENT for
 * an unknown ID, -EIO / -ENOMEM.
 */
int sources_sync(struct sources *sources, int64_t id, struct sources_sync_result **ret_results,
                 size_t *ret_count, struct reason *why);

/*
 * Asks the poller to sync source ID soon (as soon as the rate limit allows).
 * Returns at once. -ENOENT, -EOPNOTSUPP (not SOURCES_SERVING).
 */
int sources_request_sync(struct sources *sources, int64_t id, struct reason *why);

/*
 * Wakes the poller and blocks until it has finished a whole round that
 * began after this call (every source that was due then, the requests made
 * before this call included, synced once), or TIMEOUT_MS passed. The hook
 * tests use instead of sleeping. Returns 0, -ETIMEDOUT, or -EOPNOTSUPP
 * (not SOURCES_SERVING).
 */
int sources_poll_settle(struct sources *sources, int64_t timeout_ms);

/*
 * Admits a webhook delivery whose body of BYTES (its Content-Length) is
 * about to be read: 0 when the bytes admitted and not yet left stay within
 * LIMIT_WEBHOOK_BYTES_IN_FLIGHT (then call sources_webhook_leave with the
 * same BYTES once the request is over, however it ends), -EBUSY otherwise
 * (logged once per episode). Lock-free; any thread.
 */
int sources_webhook_admit(struct sources *sources, uint64_t bytes);

/* Gives back what sources_webhook_admit admitted. */
void sources_webhook_leave(struct sources *sources, uint64_t bytes);

/* One webhook delivery as the HTTP handler received it. All borrowed. */
struct sources_delivery {
    const char *event;       /* X-GitHub-Event; may be NULL */
    const char *delivery;    /* X-GitHub-Delivery; may be NULL */
    const char *signature;   /* X-Hub-Signature-256; may be NULL */
    bool form_encoded;       /* Content-Type application/x-www-form-urlencoded */
    const char *remote_addr; /* for the log */
    const uint8_t *body;     /* the raw body, exactly as received */
    size_t body_len;
};

enum sources_hook_result {
    SOURCES_HOOK_QUEUED,    /* a sync of the sources it names is queued */
    SOURCES_HOOK_IGNORED,   /* valid, but nothing to do (event, action, draft, repository) */
    SOURCES_HOOK_DUPLICATE, /* this delivery was seen before */
    SOURCES_HOOK_PONG,      /* GitHub's ping when a hook is created */
};

/*
 * Handles one delivery: the body must be at most LIMIT_WEBHOOK_BODY_BYTES
 * (-EFBIG) and carry an X-Hub-Signature-256 that the webhook secret of at
 * least one source verifies (-EPERM otherwise, logged with the peer; each
 * secret is read once and kept until it changes, and one HMAC is computed
 * per distinct secret). Then
 * a ping is PONG; a release event that is published, released or
 * prereleased, not a draft, for a repository those sources watch queues a
 * background sync of them (QUEUED; re-queried while its asset is not
 * uploaded yet); a delivery id seen before is DUPLICATE; the rest is
 * IGNORED with the reason in WHY. -EINVAL for a malformed release payload,
 * -EAGAIN without the poller (not otad serve).
 */
int sources_webhook(struct sources *sources, const struct sources_delivery *delivery,
                    enum sources_hook_result *ret_result, struct reason *why);

#endif
