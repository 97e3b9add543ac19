-- The app descriptor of an ESP32 sketch release (docs/PROTOCOL.md, "The app
-- descriptor"; struct app_desc): what esp_app_desc_t and the image's
-- extended header say, read once at publish. A release without one (ESP8266,
-- filesystem images, images from before IDF 3.2, every release published
-- before this migration) has app_present 0 and the defaults below.
-- Chip revisions are major * 100 + minor, 0 meaning unbounded.
--
-- PostgreSQL form of migrations/sqlite/010_app_desc.sql: the same columns,
-- integers BIGINT and flags 0/1 as everywhere in this schema.

ALTER TABLE releases ADD COLUMN app_present BIGINT NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN app_framework BIGINT NOT NULL DEFAULT 0; -- arduino-lib-builder
ALTER TABLE releases ADD COLUMN app_project TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN app_version TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN app_idf_version TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN app_build_date TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN app_build_time TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN app_secure_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN app_elf_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN app_chip_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN app_min_chip_rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN app_max_chip_rev BIGINT NOT NULL DEFAULT 0;
