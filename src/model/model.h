/*
 * The domain's plain data types, shared by the service, the database layer
 * and the HTTP layer: products, releases, the variants served, what a device
 * reports at check-in, the decision the service takes, tokens and registry
 * rows. Types and their names only, no behaviour: this is the one header
 * every layer may include (the database stores these structs; it does not
 * call the service). Fixed-size fields keep the hot path free of allocation.
 */
#ifndef OTAD_MODEL_MODEL_H
#define OTAD_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

enum platform { PLATFORM_ESP8266 = 0, PLATFORM_ESP32 = 1 };

/* What is flashed: the application ("sketch") or the filesystem image. */
enum fw_mode { FW_MODE_SKETCH = 0, FW_MODE_FS = 1 };

/*
 * The forms in which one release is stored and served. PLAIN is the image
 * as built; the others are derived at ingest (issue 3: signing, gzip).
 * Stored as these numbers: never renumber.
 */
enum variant_kind {
    VARIANT_PLAIN = 0,
    VARIANT_GZIP = 1,          /* ESP8266 cores >= 2.7 */
    VARIANT_SIGNED = 2,        /* ESP8266 cores >= 2.6: payload ‖ PKCS#1 v1.5 ‖ len */
    VARIANT_SIGNED_LEGACY = 3, /* ESP8266 cores 2.5.x: raw-digest signature */
    VARIANT_SIGNED_GZIP = 4,   /* ESP8266 cores >= 3.0: gzip, then signed */
    VARIANT_SIGNED_ESP32 = 5,  /* arduino-esp32 >= 3.3: payload ‖ 512-byte block */
    VARIANT_SECURE_BOOT = 6, /* ESP32 Secure Boot v2: image padded to 4 KiB ‖ signature sector */
};
#define VARIANT_KIND_COUNT 7

/* Parses / names the values above ("sketch"/"fs", "esp8266"/"esp32", "plain"...). */
const char *platform_name(enum platform p);
int platform_parse(const char *s, enum platform *ret);
const char *fw_mode_name(enum fw_mode m);
int fw_mode_parse(const char *s, enum fw_mode *ret); /* accepts "spiffs" as fs */
const char *variant_kind_name(enum variant_kind k);

/*
 * The ESP32 family by the chip id esptool writes at offset 12 of an image
 * (esp_chip_id_t): "ESP32", "ESP32-S3" ... for the known ids, NULL
 * otherwise. esp_chip_parse reads a target name as ESP-IDF spells it
 * (CONFIG_IDF_TARGET "esp32s3") or as ESPHome does ("ESP32-S3"), in any
 * case, and returns its id, or -EINVAL for an unknown chip.
 */
const char *esp_chip_name(uint16_t id);
int esp_chip_parse(const char *name, uint16_t *ret_id);

#ifndef SHA256_HEX_LEN
#define SHA256_HEX_LEN 64
#define MD5_HEX_LEN    32
#endif

#define KEY_NAME_BYTES        64 /* a signing key's name (keys/NAME.key) */
#define KEY_FINGERPRINT_HEX   64 /* SHA-256 of the public key, hex */
#define SECURE_BOOT_KEYS_MAX  3  /* Secure Boot v2 signature blocks, and so keys, per image */
#define SECURE_BOOT_KEYS_TEXT (SECURE_BOOT_KEYS_MAX * (KEY_NAME_BYTES + 1))

/* How a product's releases are signed and which forms are made (issue 3, docs/SIGNING.md). */
struct product_signing {
    bool required;                /* never serve an unsigned image */
    char key[KEY_NAME_BYTES + 1]; /* the active key, "" when none */
    bool legacy;                  /* also sign in the 2.5.x form */
    bool gzip;                    /* also make gzip forms; says Chip-ID devices run >= 2.7 */
    char esp32_hash[8];           /* "sha256", "sha384" or "sha512" */
    /*
     * The operator's word on the ESP8266 fleet: every device that sends
     * x-ESP8266-Chip-ID runs Arduino core CORE_MIN or newer ("3.0.0"), built
     * with the product's key when the product signs. "" when not declared:
     * such a device is assumed to run the oldest core its headers allow.
     */
    char core_min[LIMIT_CORE_VERSION_BYTES + 1];
    /*
     * ESP32: the keys that sign the Secure Boot v2 form, "k1,k2,k3" in block
     * order (1 to SECURE_BOOT_KEYS_MAX names), "" when the product has no
     * secure boot (docs/SIGNING.md, "Secure Boot v2").
     */
    char secure_boot_keys[SECURE_BOOT_KEYS_TEXT];
};

/* What a product lets its devices choose, and its herd control (docs/FLEET.md). */
struct product_fleet {
    bool channel_query;     /* a device may pick its channel with ?channel=NAME */
    bool group_query;       /* a device may join a query group with ?group=NAME */
    uint32_t max_downloads; /* image bodies in flight at once for this product; 0: no cap */
    bool require_https;     /* check-ins and images over plain HTTP get 403 (docs/TLS.md) */
};

struct product {
    int64_t id;
    char name[LIMIT_PRODUCT_NAME_BYTES + 1];
    enum platform platform;
    char default_channel[LIMIT_CHANNEL_NAME_BYTES + 1];
    int64_t created_ms;
    struct product_signing signing;
    struct product_fleet fleet;
};

/*
 * The ESP-IDF application descriptor (esp_app_desc_t, 256 bytes) an ESP32
 * image built by ESP-IDF (and so by arduino-esp32) carries right after its
 * first segment header, with the chip revisions of the image's extended
 * header (docs/PROTOCOL.md, "The app descriptor"). Strings are as the
 * image holds them, cut at their NUL.
 */
#define APP_DESC_STRING_BYTES 32
#define APP_DESC_DATE_BYTES   16
struct app_desc {
    bool present; /* the image has one; every field below is zero otherwise */
    /*
     * The project is arduino-esp32's prebuilt framework ("arduino-lib-builder"):
     * its version is the framework's, never the sketch's, so it neither names
     * nor contradicts the release's version.
     */
    bool framework;
    char project[APP_DESC_STRING_BYTES + 1];
    char version[APP_DESC_STRING_BYTES + 1];
    char idf_version[APP_DESC_STRING_BYTES + 1];
    char build_date[APP_DESC_DATE_BYTES + 1]; /* __DATE__, "" when the build left it out */
    char build_time[APP_DESC_DATE_BYTES + 1]; /* __TIME__ */
    uint32_t secure_version;                  /* the anti-rollback counter (docs/SECURITY.md) */
    char elf_sha256[SHA256_HEX_LEN + 1];      /* lowercase hex of the ELF's SHA-256 */
    uint16_t chip_id;                         /* from the image header (esp_chip_name) */
    /* Chip revisions major * 100 + minor, from the image header: 0 min / 0 max mean unbounded. */
    uint16_t min_chip_rev;
    uint16_t max_chip_rev;
};

/*
 * APP in one line for people, into OUT (SIZE bytes, always terminated).
 * app_desc_summary is the compact form of a release list: "IDF v5.5.1 sv 3"
 * (with "framework " before it for arduino-lib-builder), "-" without a
 * descriptor. app_desc_format gives every field: project, version,
 * secure_version, IDF version, build date and time, chip and its
 * revisions, ELF SHA-256.
 */
void app_desc_summary(const struct app_desc *app, char *out, size_t size);
void app_desc_format(const struct app_desc *app, char *out, size_t size);

/* One stored form of a release: a content-addressed blob. */
struct variant {
    enum variant_kind kind;
    char sha256[SHA256_HEX_LEN + 1]; /* lowercase; names the blob */
    char md5[MD5_HEX_LEN + 1];       /* lowercase; sent as x-MD5 */
    uint64_t size;
};

struct release {
    int64_t id;
    int64_t product_id;
    int64_t seq; /* 1, 2, 3 ... per product, in publish order */
    char version[LIMIT_RELEASE_VERSION_BYTES + 1];
    char channel[LIMIT_CHANNEL_NAME_BYTES + 1];
    enum fw_mode mode;
    uint64_t size;                   /* of the image as published (the plain variant) */
    char md5[MD5_HEX_LEN + 1];       /* of the image as published */
    char sha256[SHA256_HEX_LEN + 1]; /* of the image as published */
    uint64_t flash_size;             /* bytes of flash the image's header declares; 0 = any */
    int64_t created_ms;
    char source[32]; /* "upload", "cli", "github" */
    /*
     * Who published it (docs/AUDIT.md): how it came ("api", "cli", "github",
     * "webhook"; "" for a release stored before otad kept it), the token's or
     * local user's name, and for a GitHub release its tag and source's id.
     */
    char published_via[16];
    char published_by[LIMIT_TOKEN_NAME_BYTES + 1];
    char published_tag[LIMIT_GITHUB_TAG_BYTES + 1];
    int64_t published_source_id;             /* 0: not from a source */
    char *notes;                             /* owned, may be NULL */
    char signed_by[KEY_FINGERPRINT_HEX + 1]; /* fingerprint of the signing key, "" if unsigned */
    /*
     * Fingerprint of a product key the image itself carries, so that the
     * firmware checks every update against it (docs/SIGNING.md); "" when none
     * was found. Signing a release does not make its firmware verify.
     */
    char verifier_key[KEY_FINGERPRINT_HEX + 1];
    struct variant variants[VARIANT_KIND_COUNT];
    unsigned variant_count;
    struct app_desc app; /* ESP32 sketch releases; present false otherwise */
};

/* Which version field a device used. */
enum version_source {
    VERSION_SOURCE_NONE = 0,
    VERSION_SOURCE_HEADER,        /* x-ESP8266-version / x-ESP32-version */
    VERSION_SOURCE_TAG_QUERY,     /* ?tag= (the 2016 proxy form) */
    VERSION_SOURCE_VERSION_QUERY, /* ?version= */
};

/* What the device asks for with x-ESP8266-mode / x-ESP32-mode. */
enum report_mode { REPORT_MODE_SKETCH = 0, REPORT_MODE_FS, REPORT_MODE_VERSION };

/* Everything a device said about itself in one check-in; fields absent on the wire have has_* false
 * or "". */
struct device_report {
    enum platform platform; /* from the header family / user agent */
    bool platform_known;
    bool has_sta_mac, has_ap_mac, has_chip_id, has_free_space, has_sketch_size, has_chip_size;
    uint8_t sta_mac[6];
    uint8_t ap_mac[6];
    uint64_t chip_id;
    uint64_t free_space;
    uint64_t sketch_size;
    uint64_t chip_size;
    char sketch_md5[MD5_HEX_LEN + 1];       /* lowercase, "" when absent */
    char sketch_sha256[SHA256_HEX_LEN + 1]; /* lowercase (ESP32 sends uppercase), "" when absent */
    char sdk_version[LIMIT_DEVICE_SDK_BYTES + 1];
    enum report_mode mode; /* SKETCH when the header is absent */
    bool has_mode;
    char version[LIMIT_DEVICE_VERSION_BYTES + 1]; /* "" when absent */
    enum version_source version_source;
    char core_version[LIMIT_CORE_VERSION_BYTES +
                      1]; /* ?core= (ESP.getCoreVersion()), "" if absent */
    char user_agent[LIMIT_USER_AGENT_BYTES + 1];
    char query_channel[LIMIT_CHANNEL_NAME_BYTES + 1]; /* ?channel= (docs/FLEET.md), "" if absent */
    char query_group[LIMIT_CHANNEL_NAME_BYTES + 1];   /* ?group=, "" if absent */
    /*
     * The ESP-IDF check-in (docs/PROTOCOL.md, "ESP-IDF check-in"): the
     * x-ESP-IDF-* headers an esp_https_ota app sets. IDF is true when the
     * request carried that family; the platform is then ESP32, the MAC goes
     * to sta_mac and the running version to version.
     */
    bool idf;
    bool has_secure_version, has_chip, has_chip_revision;
    uint32_t secure_version;             /* esp_efuse_read_secure_version() */
    uint16_t idf_chip_id;                /* esp_chip_name's id of x-ESP-IDF-chip */
    uint16_t chip_revision;              /* major * 100 + minor */
    char elf_sha256[SHA256_HEX_LEN + 1]; /* the running app's, lowercase; "" when absent */
};

/*
 * Why a device was served a form that some core it may run refuses, or
 * nothing at all (docs/SIGNING.md, "When a device cannot be updated").
 * Stored in the registry per device: never renumber.
 */
enum delivery_issue {
    DELIVERY_OK = 0,
    DELIVERY_NO_LEGACY_FORM = 1,  /* core < 2.6 served the current signed form: 2.5.x refuses it */
    DELIVERY_REFUSED_BY_SOME = 2, /* served a form some core the device may run refuses */
    DELIVERY_NO_SAFE_FORM = 3,    /* every form of the release is refused or unbootable: 403 */
    DELIVERY_NOT_SIGNED = 4,      /* a signing product's release has no signed form: 403 */
    DELIVERY_UNSIGNED_TO_VERIFIER = 5, /* firmware that checks signatures, product unsigned: 403 */
    DELIVERY_BELOW_SECURE_VERSION = 6, /* the release's secure_version is below the device's: 403 */
    DELIVERY_WRONG_CHIP = 7,           /* the image is for another chip or chip revision: 403 */
    DELIVERY_NO_APP_DESC = 8, /* an ESP-IDF device offered an image without app descriptor: 403 */
};
#define DELIVERY_ISSUE_COUNT 9

/* The answer the service gives to one check-in. */
enum decision_kind {
    DECISION_CURRENT = 0, /* 304 */
    DECISION_UPDATE,      /* 200 with the variant's bytes */
    DECISION_VERSION,     /* 200 with x-version, no body (mode: version) */
    DECISION_LATEST_TEXT, /* 200 text/plain latest version (legacy call without tag) */
    DECISION_REFUSED,     /* 403: cannot fit, or not allowed */
    DECISION_UNKNOWN,     /* 404: no such product, or nothing to report */
};

struct metric_series;

/*
 * What the HTTP layer hands back when a check-in's 200 body ends
 * (service_delivery_done): the download slot it holds and the rollout offer
 * it carries.
 */
struct delivery_ticket {
    int64_t product_id;
    uint64_t mac;       /* STA MAC as a 48-bit number; 0 when the device sent none */
    int64_t rollout_id; /* 0: not a rollout's offer */
    int64_t release_id;
    enum fw_mode mode; /* of the release */
    unsigned stage;
    bool holds_slot;         /* took a slot of the node's download cap */
    bool holds_product_slot; /* and one of its product's */
    /* Metrics (service/service_metrics.h), counted by service_delivery_done. */
    bool in_flight;               /* counted in otad_downloads_in_flight */
    uint64_t bytes;               /* the body's size: otad_image_bytes_sent_total when sent whole */
    struct metric_series *served; /* otad_images_served_total's series; NULL: not a whole image */
};

struct decision {
    enum decision_kind kind;
    char version[LIMIT_RELEASE_VERSION_BYTES + 1]; /* offered or latest version, "" if none */
    int64_t release_id;                            /* 0 when none */
    struct variant variant;                        /* for DECISION_UPDATE / VERSION */
    char signed_by[KEY_FINGERPRINT_HEX + 1];       /* key of the variant served, "" if unsigned */
    enum delivery_issue issue;                     /* what kept the device from a safe update */
    char reason[160];                              /* one line for 403/404 */
    struct delivery_ticket ticket;                 /* DECISION_UPDATE: for service_delivery_done */
};

enum token_scope { TOKEN_SCOPE_READ = 0, TOKEN_SCOPE_PUBLISH = 1, TOKEN_SCOPE_ADMIN = 2 };
const char *token_scope_name(enum token_scope s);
int token_scope_parse(const char *s, enum token_scope *ret);

struct token {
    int64_t id;
    char name[LIMIT_TOKEN_NAME_BYTES + 1];
    enum token_scope scope;
    int64_t created_ms;
    int64_t revoked_ms; /* 0 while valid */
};

/*
 * How an action reached otad, for the audit log and a release's provenance
 * (docs/AUDIT.md). Stored as these names, never as numbers.
 */
enum actor_via {
    ACTOR_VIA_API = 0,   /* the admin API with a bearer token */
    ACTOR_VIA_DASHBOARD, /* the web dashboard: a session standing for a token */
    ACTOR_VIA_CLI,       /* a command on the data folder: the local user */
    ACTOR_VIA_GITHUB,    /* the GitHub poller's own schedule */
    ACTOR_VIA_WEBHOOK,   /* a sync a GitHub webhook delivery asked for */
    ACTOR_VIA_SYSTEM,    /* the controller's own moves */
};
const char *actor_via_name(enum actor_via v);

/* Who did something: how it came, with which token (or local user), from where. */
struct actor {
    enum actor_via via;
    int64_t token_id;                      /* 0: no token (the CLI, GitHub, the system) */
    char name[LIMIT_TOKEN_NAME_BYTES + 1]; /* the token's name, the local user, "github", "" */
    char address[LIMIT_AUDIT_ADDRESS_BYTES + 1]; /* the peer's address; "local" for the CLI */
};

/* One entry of the audit log (docs/AUDIT.md). */
struct audit_entry {
    int64_t id; /* grows with every entry: the paging key */
    int64_t at_ms;
    struct actor actor;
    char action[LIMIT_AUDIT_ACTION_BYTES + 1];  /* "release.publish", "rollout.pause" */
    char product[LIMIT_PRODUCT_NAME_BYTES + 1]; /* "" when the action names none */
    char object[LIMIT_AUDIT_OBJECT_BYTES + 1];  /* the object's key in the product, or "" */
    char *params;                               /* JSON object text, owned; NULL: none */
    bool ok;                                    /* the action took effect */
    int status;                                 /* the HTTP status answered; 0 outside HTTP */
    char error[24];                             /* "ENOENT" when it failed with an errno, or "" */
    char reason[LIMIT_AUDIT_REASON_BYTES + 1];  /* why it failed, one line, or "" */
};

/* Which audit entries a listing returns; a zero field (or NULL / "") does not filter. */
struct audit_filter {
    int64_t before_id;         /* only ids below it: the next page of a listing */
    int64_t since_ms;          /* at or after */
    int64_t until_ms;          /* at or before */
    const char *actor;         /* the actor's name, exactly */
    const char *action_prefix; /* "rollout." takes every rollout action */
    const char *product;       /* exactly */
    int outcome;               /* 1: took effect; -1: failed; 0: either */
};

/* Frees an array of COUNT audit entries and the params each owns. NULL-safe. */
void audit_entry_list_free(struct audit_entry *entries, size_t count);

/*
 * A dashboard session as stored (docs/SECURITY.md, "Dashboard sign-in"),
 * with the token it stands for: never the cookie, which is stored only as
 * its SHA-256.
 */
struct session_record {
    int64_t id;
    int64_t token_id;
    char token_name[LIMIT_TOKEN_NAME_BYTES + 1];
    enum token_scope scope;
    int64_t token_revoked_ms; /* 0 while the token is valid */
    int64_t created_ms;
    int64_t last_used_ms;
    char address[LIMIT_SESSION_ADDRESS_BYTES + 1]; /* who signed in, as the socket says */
    char user_agent[LIMIT_USER_AGENT_BYTES + 1];   /* cut to fit */
};

/* One key a product has signed with (docs/SIGNING.md, key rotation). */
struct product_key {
    char name[KEY_NAME_BYTES + 1];
    char fingerprint[KEY_FINGERPRINT_HEX + 1];
    int64_t added_ms;
};

/* One installed digest (docs/PROTOCOL.md: how a device is placed) and the release it names. */
struct release_digest {
    int64_t release_id;
    char digest[SHA256_HEX_LEN + 1];
};

/* Frees an array of COUNT releases and the notes each owns. NULL-safe. */
void release_list_free(struct release *releases, size_t count);

/* One device as the registry stores it: the last check-in's report plus bookkeeping. */
struct device_record {
    int64_t product_id;
    struct device_report report;
    char remote_addr[64];
    int64_t first_seen_ms; /* filled by the database on read */
    int64_t last_seen_ms;
    int last_status;                                    /* HTTP status answered */
    char last_offered[LIMIT_RELEASE_VERSION_BYTES + 1]; /* version offered or "" */
    char last_key[KEY_FINGERPRINT_HEX + 1];             /* key that signed it, or "" */
    enum delivery_issue issue;                          /* of the last check-in */
    int64_t checkins;                                   /* filled by the database on read */
    char channel[LIMIT_CHANNEL_NAME_BYTES + 1];         /* its last check-in's channel, or "" */
    char group[LIMIT_CHANNEL_NAME_BYTES + 1];           /* the group that chose it, or "" */
    int64_t interval_ms; /* learned check-in interval, 0: none; filled by the database on read */
    /*
     * The highest anti-rollback secure_version the device ever reported
     * (docs/SECURITY.md, "Anti-rollback"): its eFuse never goes down, so
     * this rules even when a later report is lower. On a write, the highest
     * of the check-ins merged into this record; on a read, the row's.
     * REPORT.secure_version stays the last value reported.
     */
    bool has_secure_version_max;
    uint32_t secure_version_max;
};

/*
 * Quiet (docs/API.md, "Devices"): not seen for more than QUIET_INTERVALS
 * times its learned check-in interval, or QUIET_DEFAULT_MS when none is
 * learned yet. One rule for the list, its filter and the counts.
 */
#define QUIET_INTERVALS  3
#define QUIET_DEFAULT_MS (24 * 3600 * 1000LL)

/* True when D, last seen at D->last_seen_ms, is quiet at NOW_MS. */
bool device_quiet(const struct device_record *d, int64_t now_ms);

/*
 * A check-in's answer by name (docs/API.md, "Devices": a device's outcome):
 * 200 "update", 304 "current", 403 "refused", 404 "not_found"; NULL for
 * another status. The parser returns the status, or -EINVAL.
 */
const char *checkin_answer_name(int status);
int checkin_answer_parse(const char *name);

/*
 * What a page of the device list keeps (docs/API.md, "Devices"). Every
 * filter given must hold; "" / 0 / false: that one does not filter.
 * Borrowed strings.
 */
struct device_filter {
    uint64_t mac_min, mac_max; /* inclusive range of the MAC as a number (q's prefix, paging) */
    const char *version;       /* exactly this version */
    const char *channel;       /* its last check-in's channel */
    const char *group;         /* the group that chose its last check-in's channel */
    int status;                /* its last check-in's answer: 200, 304, 403, 404 */
    bool quiet;                /* only quiet devices at NOW_MS */
    int64_t now_ms;            /* for QUIET */
    const char *version_part;  /* its version contains this */
};

/* Devices of one version, and how many of them were seen since two instants and are quiet. */
struct version_count {
    char version[LIMIT_DEVICE_VERSION_BYTES + 1]; /* "" for devices that sent none */
    uint64_t devices, seen_day, seen_24h, quiet;
};

/* Devices seen on one UTC day with one version (the version history). */
struct version_day {
    int64_t day; /* days since 1970-01-01 UTC */
    char version[LIMIT_DEVICE_VERSION_BYTES + 1];
    uint64_t devices;
};

/* One node of several sharing a PostgreSQL database (docs/OPERATIONS.md, "Several nodes"). */
struct node_status {
    char name[128];          /* the node_name setting, or HOSTNAME:PORT */
    char version[32];        /* otad's version */
    char address[128];       /* where operators reach it ("" when not said) */
    int64_t started_ms;      /* this run of it */
    int64_t seen_ms;         /* its last heartbeat, by the database's clock */
    int64_t leader_since_ms; /* 0: not the leader */
};

#endif
