/*
 * The database side of release sources (src/sources/): each source's
 * settings, its poll state, the tags it has dealt with and the webhook
 * deliveries already seen. Like db.h it speaks in plain structs, never in
 * SQL; db_sqlite_sources.c is the SQLite implementation, on the same
 * connection (struct db) as the rest.
 *
 * What is never stored: a token or a webhook secret. A source names the
 * file or the environment variable that holds one; src/sources/ reads it
 * when it needs it.
 *
 * Errors as in db.h: -ENOENT (no such row), -EEXIST (taken), -EIO (logged
 * here with SQLite's message), -ENOMEM.
 */
#ifndef OTAD_DB_DB_SOURCES_H
#define OTAD_DB_DB_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "db/db.h"

/* A GitHub release source: what to watch and how to map it to a product. */
struct source {
    int64_t id;
    int64_t product_id;
    char product[LIMIT_PRODUCT_NAME_BYTES + 1]; /* filled by reads; ignored by insert */
    char owner[LIMIT_GITHUB_OWNER_BYTES + 1];
    char repo[LIMIT_GITHUB_REPO_BYTES + 1];
    char asset_glob[LIMIT_GITHUB_GLOB_BYTES + 1];
    char token_file[LIMIT_SOURCE_PATH_BYTES + 1];          /* "" = none */
    char token_env[LIMIT_SOURCE_ENV_NAME_BYTES + 1];       /* variable name, "" = none */
    char secret_file[LIMIT_SOURCE_PATH_BYTES + 1];         /* webhook secret, "" = none */
    char secret_env[LIMIT_SOURCE_ENV_NAME_BYTES + 1];      /* variable name, "" = none */
    char prerelease_channel[LIMIT_CHANNEL_NAME_BYTES + 1]; /* "" = pre-releases ignored */
    char api_url[LIMIT_GITHUB_API_URL_BYTES + 1];          /* no trailing slash */
    uint64_t poll_interval_s;                              /* 0 = the configured default */
    int64_t created_ms;
};

/* What the poller knows about a source. Times are ms since the epoch; 0 = never. */
struct source_state {
    char etag[LIMIT_GITHUB_ETAG_BYTES + 1]; /* of the last page fully dealt with; "" = none */
    int64_t last_poll_ms;
    int64_t last_change_ms;                    /* last ingest */
    char last_tag[LIMIT_GITHUB_TAG_BYTES + 1]; /* the tag ingested then */
    int64_t last_error_ms;
    char last_error[256];   /* our words only (a status, a fixed reason), never upstream text */
    int64_t failures;       /* consecutive failed polls (drives the retry backoff) */
    int64_t rate_limit;     /* x-ratelimit-limit as last seen; -1 = unknown */
    int64_t rate_remaining; /* x-ratelimit-remaining as last seen; -1 = unknown */
    int64_t rate_reset_ms;  /* x-ratelimit-reset; 0 = unknown */
    int64_t next_poll_ms;   /* the regular schedule */
    int64_t not_before_ms;  /* no request before this (rate limit, Retry-After) */
    int64_t api_calls;      /* requests sent to the API, ever */
};

/* How a tag was dealt with. Stored: never renumber. */
enum source_tag_status {
    SOURCE_TAG_INGESTED = 1, /* published (or found already published with the same bytes) */
    SOURCE_TAG_REFUSED = 2,  /* will not be retried: invalid image, conflict, too large, ... */
    SOURCE_TAG_FAILED = 3,   /* a download or publish failed; retried while it is the newest */
};

struct source_tag {
    char tag[LIMIT_GITHUB_TAG_BYTES + 1];
    enum source_tag_status status;
    int64_t attempts;
    char version[LIMIT_RELEASE_VERSION_BYTES + 1]; /* as published, "" when not */
    char detail[256];                              /* why, for REFUSED and FAILED */
    int64_t updated_ms;
};

struct source_row {
    struct source source;
    struct source_state state;
    /*
     * Filled by reads, from the tag records: the tag refused most recently,
     * with why (detail) and when (updated_ms); tag "" when none was. The
     * operator's answer to "why did this tag not become a release".
     */
    struct source_tag last_refused;
};

/*
 * Adds source S (S->product_id must name a product) with an empty state, in
 * one transaction; writes S->id and S->created_ms. -EEXIST when the product
 * already has a source for the same owner/repo (compared without case).
 */
int db_source_insert(struct db *db, struct source *s);

/* Deletes source ID with its state and tags. -ENOENT when there is none. */
int db_source_delete(struct db *db, int64_t id);

/* Source ID with its state. -ENOENT when there is none. */
int db_source_get(struct db *db, int64_t id, struct source_row *ret_row);

/* All sources with their state, by id; the caller frees *ret_rows with free(). */
int db_source_list(struct db *db, struct source_row **ret_rows, size_t *ret_count);

/* Replaces the state of source ID. -ENOENT when there is no such source. */
int db_source_state_save(struct db *db, int64_t id, const struct source_state *state);

/*
 * Moves not_before_ms of every source that shares S's credentials (same API
 * URL, same token file and variable) to at least NOT_BEFORE_MS: GitHub's
 * rate limit belongs to the token, or to our address when there is none.
 */
int db_source_gate_siblings(struct db *db, const struct source *s, int64_t not_before_ms);

/* The record of TAG for SOURCE_ID. -ENOENT when the tag was never dealt with. */
int db_source_tag_get(struct db *db, int64_t source_id, const char *tag,
                      struct source_tag *ret_tag);

/* Inserts or replaces the record of T->tag for SOURCE_ID. */
int db_source_tag_put(struct db *db, int64_t source_id, const struct source_tag *t);

/*
 * Remembers webhook delivery DELIVERY (an X-GitHub-Delivery GUID) received at
 * NOW_MS and forgets those older than KEEP_MS. Returns 0 for a new delivery,
 * -EEXIST for one already seen.
 */
int db_webhook_delivery_record(struct db *db, const char *delivery, int64_t now_ms,
                               int64_t keep_ms);

#endif
