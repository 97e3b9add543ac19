-- What each node's in-memory fleet state follows (PostgreSQL only): with
-- several nodes, a device's offer, download and outcome can each land on a
-- different node, so every node reads the rollout_devices rows the others
-- changed. A sequence numbers every insert and update of a row (a trigger,
-- so no writer can forget it); a node asks for the rows numbered past the
-- last it saw, through the index. Numbers are taken when a statement runs
-- and seen when its transaction commits, so a reader also reads back a
-- window behind its last number (service/cluster.c).

CREATE SEQUENCE rollout_device_changes;

ALTER TABLE rollout_devices ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION rollout_device_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_seq := nextval('rollout_device_changes');
    RETURN NEW;
END
$$;

CREATE TRIGGER rollout_device_changed BEFORE INSERT OR UPDATE ON rollout_devices
    FOR EACH ROW EXECUTE FUNCTION rollout_device_changed();

CREATE INDEX rollout_devices_by_change ON rollout_devices (change_seq);
