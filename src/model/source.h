/*
 * The model of a release source (src/sources/): a GitHub repository watched
 * for releases of a product, what its poller knows, and how each tag was
 * dealt with. Plain data, shared by the database (which stores it), the
 * sources layer (which fills it) and the API and CLI (which show it).
 */
#ifndef OTAD_MODEL_SOURCE_H
#define OTAD_MODEL_SOURCE_H

#include <stdint.h>

#include "core/limits.h"

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

#endif
