-- Fleet control (docs/FLEET.md): channel settings, groups and their MAC
-- lists, pins and holds, what each channel has deployed, rollouts, each
-- device's standing in a rollout and a bounded history per device. Plus
-- what the product lets devices choose, its download cap, and each
-- device's learned check-in interval (the silence deadline).

ALTER TABLE products ADD COLUMN channel_query INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN group_query INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN max_downloads INTEGER NOT NULL DEFAULT 0;

-- Mean gap between check-ins (ms, exponentially weighted) and how many gaps it has seen.
ALTER TABLE devices ADD COLUMN interval_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN intervals INTEGER NOT NULL DEFAULT 0;

-- A channel without a row here has the defaults (deploy immediate).
CREATE TABLE channels (
    product_id   INTEGER NOT NULL REFERENCES products (id),
    name         TEXT NOT NULL,
    deploy       INTEGER NOT NULL DEFAULT 0,    -- enum deploy_policy
    on_new       INTEGER NOT NULL DEFAULT 0,    -- enum supersede_policy
    plan         TEXT NOT NULL,                 -- rollout_plan, "key=value;..." (db_sqlite_fleet.c)
    window_start INTEGER NOT NULL DEFAULT 0,    -- minutes after local midnight
    window_end   INTEGER NOT NULL DEFAULT 0,    -- start = end: always open
    window_tz    TEXT NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (product_id, name)
) WITHOUT ROWID;

CREATE TABLE device_groups (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products (id),
    name         TEXT NOT NULL,
    channel      TEXT NOT NULL,
    match        INTEGER NOT NULL,              -- enum group_match
    value        TEXT NOT NULL DEFAULT '',
    priority     INTEGER NOT NULL DEFAULT 100,
    has_window   INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL DEFAULT 0,
    window_end   INTEGER NOT NULL DEFAULT 0,
    window_tz    TEXT NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL,
    UNIQUE (product_id, name)
);

CREATE TABLE group_macs (
    group_id INTEGER NOT NULL REFERENCES device_groups (id) ON DELETE CASCADE,
    mac      INTEGER NOT NULL,
    PRIMARY KEY (group_id, mac)
) WITHOUT ROWID;

-- release_id NULL: held (never offered anything).
CREATE TABLE pins (
    product_id INTEGER NOT NULL REFERENCES products (id),
    mac        INTEGER NOT NULL,
    release_id INTEGER REFERENCES releases (id),
    note       TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (product_id, mac)
) WITHOUT ROWID;

-- What each (channel, mode) offers outside a rollout. No row: its greatest release.
CREATE TABLE deployments (
    product_id INTEGER NOT NULL REFERENCES products (id),
    channel    TEXT NOT NULL,
    mode       INTEGER NOT NULL,
    release_id INTEGER REFERENCES releases (id),  -- NULL: nothing deployed yet
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (product_id, channel, mode)
) WITHOUT ROWID;

-- Releases a rollback or a revert took back: a device on one is offered the channel's release.
ALTER TABLE releases ADD COLUMN withdrawn_ms INTEGER NOT NULL DEFAULT 0;

CREATE TABLE rollouts (
    id               INTEGER PRIMARY KEY,
    product_id       INTEGER NOT NULL REFERENCES products (id),
    channel          TEXT NOT NULL,
    release_id       INTEGER NOT NULL REFERENCES releases (id),
    mode             INTEGER NOT NULL,
    kind             INTEGER NOT NULL,      -- enum rollout_kind
    state            INTEGER NOT NULL,      -- enum rollout_state
    plan             TEXT NOT NULL,
    interval_s       INTEGER NOT NULL,      -- the plan's interval: the SQL of a deadline reads it
    stage            INTEGER NOT NULL DEFAULT 0,
    stage_started_ms INTEGER NOT NULL,
    paused_ms        INTEGER NOT NULL DEFAULT 0,
    salt0            INTEGER NOT NULL,
    salt1            INTEGER NOT NULL,
    from_release_id  INTEGER,
    ack_failed       INTEGER NOT NULL DEFAULT 0,  -- failures a resume acknowledged
    ack_silent       INTEGER NOT NULL DEFAULT 0,  -- silent devices a resume acknowledged
    reason           TEXT NOT NULL DEFAULT '',
    actor            TEXT NOT NULL DEFAULT '',
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL
);
CREATE INDEX rollouts_by_channel ON rollouts (product_id, channel, mode, state);

CREATE TABLE rollout_devices (
    rollout_id      INTEGER NOT NULL REFERENCES rollouts (id),
    mac             INTEGER NOT NULL,
    product_id      INTEGER NOT NULL,
    stage           INTEGER NOT NULL,
    outcome         INTEGER NOT NULL,      -- enum device_outcome
    from_release_id INTEGER,
    from_version    TEXT NOT NULL DEFAULT '',
    offered_ms      INTEGER NOT NULL,
    served_ms       INTEGER NOT NULL DEFAULT 0,
    outcome_ms      INTEGER NOT NULL DEFAULT 0,
    deadline_ms     INTEGER NOT NULL DEFAULT 0,
    interruptions   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, mac)
) WITHOUT ROWID;
CREATE INDEX rollout_devices_by_outcome ON rollout_devices (rollout_id, stage, outcome);
CREATE INDEX rollout_devices_by_deadline ON rollout_devices (outcome, deadline_ms);
CREATE INDEX rollout_devices_by_mac ON rollout_devices (product_id, mac);

CREATE TABLE device_events (
    product_id INTEGER NOT NULL,
    mac        INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,           -- order within one millisecond
    kind       INTEGER NOT NULL,           -- enum fleet_event_kind
    rollout_id INTEGER NOT NULL,
    version    TEXT NOT NULL DEFAULT '',
    outcome    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (product_id, mac, at_ms, seq)
) WITHOUT ROWID;
