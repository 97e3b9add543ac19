-- The dashboard's data (docs/API.md, "Devices", "Version history"): the
-- channel and group each device's last check-in was given (targeting.c
-- decides them in memory; recorded here so that a page of a million devices
-- can be filtered by them through an index), an index per filter of the
-- device list, each one ending in the MAC so that keyset paging by MAC walks
-- it in order, and the devices per version per UTC day.
--
-- PostgreSQL form of migrations/sqlite/009_dashboard.sql. Differences the
-- code must know (db_sqlite_devices.c):
--   the page queries name their index (INDEXED BY devices_by_version ...):
--     SQLite-only syntax; PostgreSQL chooses by itself from its statistics
--     (ANALYZE, autovacuum), so the clause is dropped;
--   "version IS ?10" (equal, NULLs included) -> version IS NOT DISTINCT
--     FROM $10; instr(version, ?10) > 0 -> strpos(version, $10) > 0;
--   SQLite rewrites the index of every column an UPDATE's SET names, changed
--     or not (why device_update_same exists); PostgreSQL compares old and
--     new values and, when no indexed column changed and the page has room,
--     writes no index entry at all (a HOT update): device_update_same is
--     not needed there, and costs nothing.

ALTER TABLE devices ADD COLUMN channel TEXT NOT NULL DEFAULT '';    -- '' until its next check-in
ALTER TABLE devices ADD COLUMN group_name TEXT NOT NULL DEFAULT ''; -- '' when no group chose it

CREATE INDEX devices_by_version ON devices (product_id, version, mac);
CREATE INDEX devices_by_channel ON devices (product_id, channel, mac);
CREATE INDEX devices_by_group ON devices (product_id, group_name, mac);
CREATE INDEX devices_by_status ON devices (product_id, last_status, mac);

-- day: days since 1970-01-01 UTC. A day's rows are replaced as a whole
-- (at most hourly while it is today); the top versions by devices, the
-- rest summed under the version 'other'. Days older than 400 are dropped.
CREATE TABLE version_days (
    product_id BIGINT NOT NULL REFERENCES products (id),
    day        BIGINT NOT NULL,
    version    TEXT NOT NULL,
    devices    BIGINT NOT NULL,
    PRIMARY KEY (product_id, day, version)
);
