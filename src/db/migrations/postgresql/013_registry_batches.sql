-- The registry flusher's batch marks (PostgreSQL only; docs/DATABASE.md, "A
-- lost COMMIT reply"): per writer (one registry from its start to its stop,
-- "STARTED_MS:NONCE"), the newest transaction number it committed and when,
-- by the database's clock. A retry of a transaction whose COMMIT reply was
-- lost finds its number here and is not applied twice. A writer's first
-- transaction deletes the marks not written for a week: a mark goes by when
-- it was last written, never by when its writer started, so a node up for
-- months keeps its own.

CREATE TABLE registry_batches (
    writer TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    written_ms BIGINT NOT NULL
);
