-- The anti-rollback counter each device reports (docs/SECURITY.md,
-- "Anti-rollback"; the ESP-IDF check-in's x-ESP-IDF-secure-version): the
-- value of its last check-in that carried one, and the highest it ever
-- reported. An eFuse never goes back, so the highest is what rules: a
-- device is never offered a release below it, and a product's budget of
-- bumps is counted from it. NULL until the device reports one.

ALTER TABLE devices ADD COLUMN secure_version INTEGER;
ALTER TABLE devices ADD COLUMN secure_version_max INTEGER;
