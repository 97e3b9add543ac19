-- Dashboard sessions (docs/SECURITY.md, "Dashboard sign-in"): one row per
-- signed-in browser, made from an API token. The cookie's value is never
-- stored, only its SHA-256 (hash). A session stands for its token: the check
-- joins the token's row, so revoking the token ends its sessions at once.
-- Rows are deleted when the session ends (sign-out, revocation, expiry).

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_id     INTEGER NOT NULL REFERENCES tokens(id),
    hash         TEXT NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER NOT NULL,
    address      TEXT NOT NULL,
    user_agent   TEXT NOT NULL
);
CREATE INDEX sessions_by_token ON sessions (token_id, created_ms);
