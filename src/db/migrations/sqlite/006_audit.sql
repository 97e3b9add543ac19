-- The audit log (docs/AUDIT.md): one row per admin action, whoever asked.
-- Append-only: rows are only ever inserted, and deleted by the retention
-- pass (audit_retention_days), oldest first. The id is the paging key.

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after retention
    at_ms       INTEGER NOT NULL,
    via         TEXT NOT NULL,             -- enum actor_via's name: api, cli, github ...
    token_id    INTEGER NOT NULL,          -- 0: no token (the CLI, GitHub, the system)
    actor       TEXT NOT NULL,             -- the token's name, the local user, "github"
    address     TEXT NOT NULL,             -- the peer's address, "local"
    action      TEXT NOT NULL,             -- "release.publish", "rollout.pause" ...
    product     TEXT NOT NULL,             -- "" when the action names none
    object      TEXT NOT NULL,             -- the object's key in the product, or ""
    params      TEXT,                      -- JSON object of the parameters chosen per action
    ok          INTEGER NOT NULL,          -- 1: the action took effect
    status      INTEGER NOT NULL,          -- the HTTP status answered; 0 outside HTTP
    error       TEXT NOT NULL,             -- "ENOENT" ... or ""
    reason      TEXT NOT NULL              -- why it failed, or ""
);
CREATE INDEX audit_at ON audit (at_ms);

-- Who published a release (docs/AUDIT.md); NULL for releases stored before.
ALTER TABLE releases ADD COLUMN published_via TEXT;
ALTER TABLE releases ADD COLUMN published_by TEXT;
ALTER TABLE releases ADD COLUMN published_tag TEXT;
ALTER TABLE releases ADD COLUMN published_source_id INTEGER;
