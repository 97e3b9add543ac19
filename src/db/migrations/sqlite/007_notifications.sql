-- Outgoing notifications (docs/NOTIFICATIONS.md): the receivers an admin
-- configured, and one delivery row per (event, receiver), written before
-- anything is sent so that a restart loses no pending delivery.
--
-- A receiver's secret is kept in clear: it signs every body (HMAC-SHA256),
-- so otad must be able to read it; the API and the CLI never show it.

CREATE TABLE notify_receivers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,               -- comma-separated patterns: "rollout.*,release.published"
    format     INTEGER NOT NULL DEFAULT 0,  -- 0 json, 1 slack
    secret     TEXT NOT NULL DEFAULT '',    -- '' = bodies are not signed
    disabled   INTEGER NOT NULL DEFAULT 0,  -- 1 after a 410 Gone
    created_ms INTEGER NOT NULL
);

CREATE TABLE notify_deliveries (
    id          INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,       -- X-Otad-Delivery
    receiver_id INTEGER NOT NULL REFERENCES notify_receivers (id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    product     TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL,              -- the exact bytes POSTed (and signed) on every attempt
    state       INTEGER NOT NULL DEFAULT 0, -- 0 pending, 1 delivered, 2 failed
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_ms     INTEGER NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0, -- the last HTTP status, 0 when none came
    error       TEXT NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

-- The sender's question: each receiver's oldest pending delivery, and whether it is due.
CREATE INDEX notify_deliveries_pending ON notify_deliveries (receiver_id, state, id);
-- Pruning finished rows by age.
CREATE INDEX notify_deliveries_updated ON notify_deliveries (state, updated_ms);
