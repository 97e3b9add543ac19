-- Secure Boot v2 (docs/SIGNING.md, "Secure Boot v2"): the keys that sign an ESP32 product's
-- secure-boot form, "k1,k2,k3" in signature-block order; '' when the product has no secure boot.
ALTER TABLE products ADD COLUMN secure_boot_keys TEXT NOT NULL DEFAULT '';
