-- HTTPS policy per product (docs/TLS.md): 1 when check-ins and image
-- downloads over plain HTTP are refused with 403.

ALTER TABLE products ADD COLUMN require_https INTEGER NOT NULL DEFAULT 0;
