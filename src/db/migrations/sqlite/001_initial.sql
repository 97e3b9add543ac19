-- The first schema: products, releases and their stored variants, the
-- digests a device may report for an installed release, API tokens, the
-- device registry, and a generation counter that tells every reader
-- (the server's catalog, other nodes) that releases changed.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('catalog_generation', 1);

CREATE TABLE products (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    platform        INTEGER NOT NULL,      -- enum platform
    default_channel TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    next_seq        INTEGER NOT NULL DEFAULT 1,
    signing         INTEGER NOT NULL DEFAULT 0, -- 1: never serve an unsigned image
    signing_key     TEXT,                       -- the active key's name (keys/NAME.key|.pub)
    sign_legacy     INTEGER NOT NULL DEFAULT 0, -- also sign for ESP8266 cores 2.5.x
    gzip            INTEGER NOT NULL DEFAULT 0, -- also serve gzip to ESP8266 cores >= 2.6
    esp32_hash      TEXT NOT NULL DEFAULT 'sha256'
);

-- Every key a product has signed with; the active one is products.signing_key.
CREATE TABLE product_keys (
    product_id  INTEGER NOT NULL REFERENCES products (id),
    key_name    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,   -- SHA-256 of the public key (DER SubjectPublicKeyInfo)
    added_ms    INTEGER NOT NULL,
    PRIMARY KEY (product_id, key_name)
) WITHOUT ROWID;

CREATE TABLE releases (
    id          INTEGER PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    seq         INTEGER NOT NULL,          -- publish order within the product
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    mode        INTEGER NOT NULL,          -- enum fw_mode
    size        INTEGER NOT NULL,
    md5         TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    flash_size  INTEGER NOT NULL,          -- bytes of flash the image declares; 0 = any
    created_ms  INTEGER NOT NULL,
    source      TEXT NOT NULL,
    notes       TEXT,
    signed_by   TEXT,                      -- fingerprint of the key that signed its variants
    UNIQUE (product_id, mode, version),
    UNIQUE (product_id, seq)
);

CREATE TABLE variants (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    kind        INTEGER NOT NULL,          -- enum variant_kind
    sha256      TEXT NOT NULL,             -- names the blob
    md5         TEXT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (release_id, kind)
) WITHOUT ROWID;

-- Digests a device reports once the release is installed: the MD5 of the
-- image with each flash-mode byte, and for ESP32 the appended SHA-256.
CREATE TABLE installed_digests (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    digest      TEXT NOT NULL,
    PRIMARY KEY (release_id, digest)
) WITHOUT ROWID;

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        INTEGER NOT NULL,         -- enum token_scope
    hash         TEXT NOT NULL UNIQUE,     -- SHA-256 hex of the token
    created_ms   INTEGER NOT NULL,
    revoked_ms   INTEGER
);

CREATE TABLE devices (
    product_id      INTEGER NOT NULL REFERENCES products (id),
    mac             INTEGER NOT NULL,      -- STA MAC as a 48-bit number
    ap_mac          INTEGER,
    chip_id         INTEGER,
    sdk_version     TEXT,
    sketch_size     INTEGER,
    sketch_md5      TEXT,
    free_space      INTEGER,
    chip_size       INTEGER,
    version         TEXT,
    mode            TEXT,
    user_agent      TEXT,
    remote_addr     TEXT,
    first_seen_ms   INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    last_status     INTEGER NOT NULL,
    last_offered    TEXT,
    last_key        TEXT,                  -- fingerprint of the key that signed the last image served
    checkins        INTEGER NOT NULL,
    PRIMARY KEY (product_id, mac)
) WITHOUT ROWID;
