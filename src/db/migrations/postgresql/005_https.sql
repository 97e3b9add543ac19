-- HTTPS policy per product (docs/TLS.md): 1 when check-ins and image
-- downloads over plain HTTP are refused with 403.
--
-- PostgreSQL form of migrations/sqlite/005_https.sql: a BIGINT 0/1 flag,
-- like every flag here, so the same parameters bind on both backends.

ALTER TABLE products ADD COLUMN require_https BIGINT NOT NULL DEFAULT 0;
