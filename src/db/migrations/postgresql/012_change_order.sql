-- Rollout changes read in commit order (PostgreSQL only; replaces how 011's
-- numbers are read). A number from a sequence is taken when a statement
-- runs but seen when its transaction commits, so a reader following the
-- numbers could pass a slow transaction's rows before they were visible.
-- Each row now also carries the id of the transaction that last wrote it;
-- a node remembers the snapshot of its last read and next reads exactly the
-- rows whose writer that snapshot did not yet see as committed
-- (pg_visible_in_snapshot): every committed change is read once, however
-- late its transaction commits (service/cluster.c, db/db_pg_cluster.c).
--
-- change_seq stays, and the trigger keeps numbering it, so that a node not
-- yet upgraded keeps following during a rolling upgrade (migrations are
-- additive within a major version: docs/OPERATIONS.md).

ALTER TABLE rollout_devices ADD COLUMN change_xid xid8 NOT NULL DEFAULT '0';

-- Rows written before: as if this transaction wrote them, so a node reading
-- from the start reads them once this commits.
UPDATE rollout_devices SET change_xid = pg_current_xact_id();

CREATE OR REPLACE FUNCTION rollout_device_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_seq := nextval('rollout_device_changes');
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;

-- The reader's order: by writer, then key, so a long read can stop and go on.
CREATE INDEX rollout_devices_by_writer ON rollout_devices (change_xid, rollout_id, mac);
