-- Several otad nodes on one PostgreSQL database (PostgreSQL only: SQLite
-- has no 010, each backend numbers its own migrations). Two things a
-- single node kept outside the database:
--
-- blobs, blob_chunks: the firmware images and their variants, which one
-- node keeps in its data folder (src/store/store.c) and every node must be
-- able to serve. A blob is named by its SHA-256 (hex), as in the store,
-- and cut into chunks of chunk_bytes (the last one shorter) so that no
-- value approaches PostgreSQL's 1 GB limit and a reader streams it in
-- pieces. A blob's row and its chunks are written in one transaction (the
-- row first: the chunks reference it), so a blob another node can see is
-- whole; deleting the row deletes its chunks. Chunks are stored EXTERNAL:
-- out of line (TOAST) but not compressed, since firmware, often already
-- gzip, does not compress and PostgreSQL would only spend CPU trying.
--
-- nodes: each node registers itself at start and refreshes seen_ms while
-- it runs, so an operator can see the cluster (which nodes, which version,
-- which one leads and since when). A node whose seen_ms stopped moving
-- is gone.

CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,          -- hex, as the store names a blob
    size        BIGINT NOT NULL,           -- bytes in all
    chunk_bytes BIGINT NOT NULL,           -- bytes per chunk but the last
    chunks      BIGINT NOT NULL,           -- how many rows blob_chunks holds
    created_ms  BIGINT NOT NULL
);

CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,                -- 0, 1, ... in the blob's order
    data   BYTEA NOT NULL,
    PRIMARY KEY (sha256, seq)
);
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE nodes (
    name            TEXT PRIMARY KEY,      -- the node's name, unique in the cluster
    started_ms      BIGINT NOT NULL,       -- when this run of the node started
    seen_ms         BIGINT NOT NULL,       -- its last refresh
    version         TEXT NOT NULL,         -- otad's version
    address         TEXT NOT NULL DEFAULT '', -- where operators reach it, '' = not said
    leader_since_ms BIGINT                 -- NULL: not the leader
);
