-- GitHub release sources: where a product's releases come from, what the
-- poller knows about each (its state), which tags it has dealt with (so a
-- tag is ingested once) and which webhook deliveries it has seen (so a
-- replayed delivery does nothing). Tokens and webhook secrets are never
-- stored: only the file or environment variable that holds them.

CREATE TABLE sources (
    id                 INTEGER PRIMARY KEY,
    product_id         INTEGER NOT NULL REFERENCES products (id),
    owner              TEXT NOT NULL COLLATE NOCASE,
    repo               TEXT NOT NULL COLLATE NOCASE,
    asset_glob         TEXT NOT NULL,
    token_file         TEXT NOT NULL DEFAULT '',  -- '' = none
    token_env          TEXT NOT NULL DEFAULT '',  -- a variable NAME, '' = none
    secret_file        TEXT NOT NULL DEFAULT '',  -- webhook secret
    secret_env         TEXT NOT NULL DEFAULT '',
    prerelease_channel TEXT NOT NULL DEFAULT '',  -- '' = pre-releases ignored
    api_url            TEXT NOT NULL,             -- no trailing slash
    poll_interval_s    INTEGER NOT NULL DEFAULT 0, -- 0 = github_poll_interval_s
    created_ms         INTEGER NOT NULL,
    UNIQUE (product_id, owner, repo)
);

CREATE TABLE source_state (
    source_id      INTEGER PRIMARY KEY REFERENCES sources (id),
    etag           TEXT NOT NULL DEFAULT '',    -- of the last page fully dealt with
    last_poll_ms   INTEGER NOT NULL DEFAULT 0,  -- 0 = never
    last_change_ms INTEGER NOT NULL DEFAULT 0,  -- last ingest
    last_tag       TEXT NOT NULL DEFAULT '',    -- what was ingested then
    last_error_ms  INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    failures       INTEGER NOT NULL DEFAULT 0,  -- consecutive failed polls
    rate_limit     INTEGER NOT NULL DEFAULT -1, -- x-ratelimit-limit, -1 = unknown
    rate_remaining INTEGER NOT NULL DEFAULT -1,
    rate_reset_ms  INTEGER NOT NULL DEFAULT 0,
    next_poll_ms   INTEGER NOT NULL DEFAULT 0,
    not_before_ms  INTEGER NOT NULL DEFAULT 0,  -- no request before (rate limit, Retry-After)
    api_calls      INTEGER NOT NULL DEFAULT 0   -- requests sent to the API, ever
) WITHOUT ROWID;

CREATE TABLE source_tags (
    source_id  INTEGER NOT NULL REFERENCES sources (id),
    tag        TEXT NOT NULL,
    status     INTEGER NOT NULL,                -- enum source_tag_status
    attempts   INTEGER NOT NULL DEFAULT 0,      -- failed downloads so far
    version    TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (source_id, tag)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    delivery    TEXT PRIMARY KEY,               -- X-GitHub-Delivery
    received_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_ms);
