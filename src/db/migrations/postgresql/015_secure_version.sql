-- The anti-rollback counter each device reports: SQLite's 011_secure_version
-- column for column (docs/SECURITY.md, "Anti-rollback"). The value of its
-- last check-in that carried one, and the highest it ever reported, which
-- rules; NULL until the device reports one. The batched upsert keeps the
-- highest with GREATEST, which skips a NULL, where SQLite's max() would
-- return it.

ALTER TABLE devices ADD COLUMN secure_version BIGINT;
ALTER TABLE devices ADD COLUMN secure_version_max BIGINT;
