-- Which forms a device can take without harm (docs/SIGNING.md): the
-- operator's declaration of the fleet's ESP8266 core, the core a device
-- reports itself (?core=), and why its last check-in could not update it
-- safely, so that a product can say how many devices are stuck and why.
-- Which release images carry a product key (their firmware checks every
-- update against it); releases published before are not known to. The
-- 2.5.x signature form is turned on for every ESP8266 product: it only adds
-- a form to new releases, the one every core before 2.6 installs.
--
-- PostgreSQL form of migrations/sqlite/003_delivery.sql: the same statements
-- (ADD COLUMN with a constant default rewrites no row in either), the
-- partial index as in SQLite. The two UPDATEs change nothing on a new
-- database; they are kept so the file means what SQLite's does. In an
-- UPDATE's subquery PostgreSQL, like SQLite, names the row being updated by
-- the table's name (variants.release_id).

ALTER TABLE products ADD COLUMN core_min TEXT NOT NULL DEFAULT '';
UPDATE products SET sign_legacy = 1 WHERE platform = 0;
ALTER TABLE releases ADD COLUMN verifier_key TEXT NOT NULL DEFAULT '';

ALTER TABLE devices ADD COLUMN core_version TEXT;
ALTER TABLE devices ADD COLUMN delivery_issue BIGINT NOT NULL DEFAULT 0; -- enum delivery_issue
CREATE INDEX devices_delivery_issue ON devices (product_id, delivery_issue)
    WHERE delivery_issue != 0;

-- An unsigned ESP8266 upload that was already gzip used to be stored as the
-- plain form; it is the gzip form (a core before 2.6 cannot take it). Such a
-- release is the one whose upload's MD5 is none of its installed digests
-- (those are of the inflated image).
UPDATE variants SET kind = 1
WHERE kind = 0
  AND release_id IN (
      SELECT r.id FROM releases r JOIN products p ON p.id = r.product_id
      WHERE p.platform = 0
        AND NOT EXISTS (SELECT 1 FROM installed_digests d
                        WHERE d.release_id = r.id AND d.digest = r.md5))
  AND NOT EXISTS (SELECT 1 FROM variants g WHERE g.release_id = variants.release_id AND g.kind = 1);
