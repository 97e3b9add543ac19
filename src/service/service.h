/*
 * The service: every operation otad offers, whoever asks (HTTP handlers,
 * the CLI, the GitHub source). It owns the database connection, the blob
 * store, the catalog and the registry writer, and keeps the rules: names,
 * image validation, idempotent publishing, the update decision, tokens.
 * It never sees an HTTP type; handlers translate to and from it.
 *
 * Errors: -EINVAL (bad input: a name, a version), -EBADMSG (not a valid
 * image), -ENOENT (no such product, release, token), -EEXIST (taken name or
 * conflicting version), -EFBIG (too large), -EPERM (no valid credentials),
 * -EACCES (credentials lack the scope), -EKEYREJECTED (a signature does not
 * verify, or a signing product cannot sign here), -ENOKEY (the product's
 * signing key is missing or unusable on this server: configuration, not the
 * image), -EIO / -ENOMEM (our failure). Each
 * refusal comes with a one-line reason in the caller's struct reason.
 *
 * Threads: every function may be called from any thread at once (HTTP
 * workers, the sources' poller, the main thread) on one struct service,
 * except service_open and service_close, which the owner calls alone.
 * service_checkin and service_image_find never block on the database or
 * the disk: they read the catalog (a reference taken under a short lock)
 * and queue the registry record. Every other call may block on the
 * database and the disk; service_publish also waits for any publish in
 * progress (one at a time, so that idempotency checks stay true).
 *
 * Conventions: inputs are borrowed; RET_* out parameters are written only
 * on success; arrays returned through RET_* belong to the caller (freed as
 * each function says).
 */
#ifndef OTAD_SERVICE_SERVICE_H
#define OTAD_SERVICE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/reason.h"
#include "model/model.h"
#include "service/antirollback.h"

struct service;

enum service_mode {
    SERVICE_LOCAL,   /* a CLI command: no background threads */
    SERVICE_SERVING, /* the daemon: registry writer and catalog refresher run */
};

/*
 * Opens the data folder named by CONFIG (creating it), the database and the
 * blob store; in SERVICE_SERVING mode also starts the registry writer and a
 * thread that reloads the catalog when another process (the CLI, another
 * node) adds a release. The data folder is held shared (flock) until
 * service_close, so `otad restore` can tell it is open. CONFIG is copied.
 * Returns 0 with a new service, or -errno after logging what failed
 * (-EBUSY: otad restore is replacing the folder).
 */
int service_open(const struct config *config, enum service_mode mode, struct service **ret_service);

/*
 * Stops the catalog refresher and the rollout controller it runs, so that
 * nothing raises an event any more (halts, promotions): `otad serve` calls
 * it before the notifications take their last events. Check-ins still
 * decide from the catalog as it is. service_close does it too; more calls
 * do nothing.
 */
void service_stop_controller(struct service *svc);

/*
 * Stops the background threads (the registry's last flush commits what was
 * queued) and frees everything. Call after every other user of SVC has
 * stopped. NULL-safe.
 */
void service_close(struct service *svc);

struct events;

/*
 * The service's outgoing event queue (service/events.h): the rollout
 * controller and publishes post to it, and so may any layer above the
 * service (the sources); the notification layer takes from it. Borrowed,
 * valid until service_close. Never NULL once service_open returned.
 */
struct events *service_events(struct service *svc);

/*
 * Does now what the serving catalog refresher does every 0.5 s: rebuilds
 * the catalog when the database's generation moved (a write by the CLI or
 * another node). For tests, which call it instead of waiting; any thread.
 * Returns 0, or -errno after logging.
 */
int service_catalog_poll(struct service *svc);

/* --- products --- */

/*
 * True when NAME is a valid product or channel name: 1 to MAX characters of
 * [a-z0-9._-], not starting with '.' or '-'. Pure.
 */
bool service_name_valid(const char *name, size_t max);

/*
 * Creates a product of PLATFORM named NAME, with the 2.5.x signature form on
 * for an ESP8266 product; DEFAULT_CHANNEL NULL means "stable". Fills
 * *RET_PRODUCT (may be NULL). Check-ins see it at once. -EINVAL (a name),
 * -EEXIST (taken), -EIO.
 */
int service_product_add(struct service *svc, const char *name, enum platform platform,
                        const char *default_channel, struct product *ret_product,
                        struct reason *why);
/* The product named NAME into *RET_PRODUCT. -ENOENT (WHY says which name), -EIO. */
int service_product_get(struct service *svc, const char *name, struct product *ret_product,
                        struct reason *why);
/* All products by name; the caller frees *RET_PRODUCTS with free(). -EIO. */
int service_product_list(struct service *svc, struct product **ret_products, size_t *ret_count);

/*
 * Replaces PRODUCT's signing settings with SETTINGS (docs/SIGNING.md). A
 * named key must exist in DATA_DIR/keys (NAME.key, or NAME.pub for offline
 * signing) and suit the platform (the ESP8266 verifies RSA only); it is
 * added to the product's keys and becomes the active one. Requiring
 * signatures needs a key. SETTINGS->core_min, when set, must name an
 * ESP8266 core from 2.6 on (compat.h). Releases published before keep
 * their forms until published again. -EINVAL (with WHY), -ENOENT.
 */
int service_product_set_signing(struct service *svc, const char *product,
                                const struct product_signing *settings, struct reason *why);

/*
 * How many of PRODUCT's devices could not be updated safely at their last
 * check-in, per delivery issue (compat.h): RET_COUNTS[issue], with
 * RET_COUNTS[DELIVERY_OK] 0. Reads the registry as last flushed (up to
 * registry_flush_ms behind). Returns 0 or -EIO.
 */
int service_product_delivery_issues(struct service *svc, const struct product *product,
                                    uint64_t ret_counts[DELIVERY_ISSUE_COUNT]);

/*
 * The keys PRODUCT has signed with, oldest first; the caller frees
 * *RET_KEYS with free(). -ENOENT (no such product), -EIO.
 */
struct product_key;
int service_product_keys(struct service *svc, const char *product, struct product_key **ret_keys,
                         size_t *ret_count, struct reason *why);

/* --- releases --- */

struct publish_request {
    const char *product;
    /*
     * NULL or "": taken from the image's app descriptor (an ESP32 sketch
     * built by ESP-IDF; docs/PROTOCOL.md, "The app descriptor").
     */
    const char *version;
    const char *channel; /* NULL: the product's default channel */
    enum fw_mode mode;
    const uint8_t *image; /* borrowed */
    size_t image_len;
    const char *source; /* "upload", "cli", "github" */
    const char *notes;  /* may be NULL */
    bool presigned;     /* the image is already signed (CI signs offline): verify, never sign */
    /* Who publishes it, kept with the release (docs/AUDIT.md); NULL: unknown. */
    const struct actor *actor;
    const char *tag;   /* the GitHub tag it came from, or NULL */
    int64_t source_id; /* the release source that fetched it, or 0 */
    /* Publish VERSION even though the image's app descriptor names another one. */
    bool force_version;
    /*
     * A release whose app descriptor raises the product's anti-rollback
     * secure_version (above its earlier releases of the mode) is refused,
     * -EDQUOT with the figures, unless this is set (docs/SECURITY.md,
     * "Anti-rollback"). RET_BUMP (may be NULL; the caller's) receives what
     * the release does to the budget, whatever the outcome (cleared first): .raised false when
     * it raises nothing or is not new.
     */
    bool allow_secure_version_bump;
    struct secure_version_bump *ret_bump;
};

/*
 * Validates, stores and records a release; when it returns 0 the release is
 * complete on disk and in the database and devices are offered it. The same
 * version (and mode) with identical bytes again returns the existing release
 * with *ret_created false; with different bytes it is -EEXIST.
 * An ESP32 sketch's app descriptor is stored with the release. Without a
 * version the descriptor's is taken (-EINVAL when there is none, it is
 * arduino-esp32's framework descriptor, or it is no valid release
 * version); with one, the two must agree, equal once one leading 'v' or
 * 'V' before a digit is dropped from each, or it is -EDOM unless
 * REQ->force_version (WHY names both versions and the flag).
 * A new release that raises secure_version without
 * REQ->allow_secure_version_bump is -EDQUOT (nothing stored but its blobs,
 * which no release names); secure_version beyond the chip's eFuse field is
 * -EINVAL.
 * RET_RELEASE (may be NULL) receives the release; its notes belong to the
 * caller (free()).
 */
int service_publish(struct service *svc, const struct publish_request *req,
                    struct release *ret_release, bool *ret_created, struct reason *why);

/* The releases of PRODUCT, newest first; free with release_list_free (db.h). */
int service_release_list(struct service *svc, const char *product, struct release **ret_releases,
                         size_t *ret_count, struct reason *why);

/* --- device traffic --- */

struct checkin_context {
    const char *remote_addr; /* textual, may be "" */
    bool legacy_alias;       /* the request came through a configured legacy path */
    bool tls;                /* it came over HTTPS (a product may require it) */
    /*
     * The request repeats or continues a check-in rather than being one
     * (docs/PROTOCOL.md, "ESP-IDF check-in"): a HEAD, or a GET whose Range
     * starts past byte 0. It is decided as any check-in, so it is never
     * served what the device is not offered, but it writes no registry
     * record, counts no check-in and queues no offer event.
     */
    bool continuation;
};

/*
 * Decides the answer to one check-in from the in-memory catalog and queues
 * the registry record. Never touches the database. Fills *ret_decision.
 */
void service_checkin(struct service *svc, const char *product, const struct device_report *report,
                     const struct checkin_context *ctx, struct decision *ret_decision);

/*
 * Narrows T, the ticket of a check-in answered with one range of the image,
 * to that range of BYTES bytes. Only the range that ends at the image's last
 * byte (ENDS_IMAGE) stands for the download: its end is the rollout's
 * "served" (sent whole) or "interrupted" and counts one image served; any
 * other range counts its bytes and holds its download slot only while it is
 * sent (docs/PROTOCOL.md, "ESP-IDF check-in").
 */
void service_delivery_range(struct delivery_ticket *t, uint64_t bytes, bool ends_image);

/*
 * A manifest client's poll (docs/PROTOCOL.md, "ESPHome" and "esp32FOTA"):
 * the device's identity as its query gave it, and how it came.
 */
struct manifest_request {
    /* Borrowed. With sta_mac set, per device; without, per channel (?channel=, ?group=). */
    const struct device_report *report;
    struct checkin_context checkin;
    /* The client reads versions only as dotted numbers (esp32FOTA): others are refused. */
    bool numeric_versions;
};

/*
 * Decides a manifest poll into *RET_DECISION. With a MAC, exactly what
 * service_checkin decides for that device, through the same path (the
 * registry record, channels, groups, pins, rollouts and their outcomes, the
 * window and the download cap), except that no download slot is held: the
 * image is fetched by a second request that carries no identity. Without a
 * MAC, the release the device's channel deploys (what a device in no
 * rollout stage is offered), with nothing recorded and no window or cap.
 * DECISION_UPDATE names in ->version the release the device should run
 * (its variant is not set: the manifest names what service_image_find
 * gives); DECISION_CURRENT: it should keep what it runs; DECISION_REFUSED
 * (403) and DECISION_UNKNOWN (404) with ->reason. With NUMERIC_VERSIONS an
 * offer whose version is not one to three dot-separated numbers is refused,
 * since the client would read it as 0.0.0. Never touches the database.
 */
void service_manifest(struct service *svc, const char *product, const struct manifest_request *req,
                      struct decision *ret_decision);

/*
 * The form of PRODUCT's release VERSION (MODE) the image URL serves: the
 * one a device that says nothing about itself can install and boot
 * (compat.h). Reads the catalog only. -ENOENT when there is no such release
 * or no such form.
 */
int service_image_find(struct service *svc, const char *product, const char *version,
                       enum fw_mode mode, struct variant *ret_variant);

/* The image a manifest names for one release (service_manifest_image). */
struct manifest_image {
    struct variant variant; /* the form /images/{product}/{version} serves: its MD5 and size */
    enum platform platform;
    /* The chip family as ESPHome spells it ("ESP8266", "ESP32", "ESP32-S3"): static. */
    const char *chip;
};

/*
 * What /images/PRODUCT/VERSION serves (its sketch form, service_image_find)
 * and the chip it is for: an ESP8266 product's is "ESP8266"; an ESP32
 * product's is read from the stored image's header (esp_chip_name), so it
 * names the bytes served. Fills *RET_IMAGE and returns 0; -ENOENT (no such
 * release or form), -EAGAIN (this node is fetching the blob: retry),
 * -EBADMSG (not an image of a known chip) or -errno, logged.
 */
int service_manifest_image(struct service *svc, const char *product, const char *version,
                           struct manifest_image *ret_image);

/*
 * Whether PRODUCT refuses plain HTTP (its require_https), from the catalog:
 * false for a product it does not know.
 */
bool service_product_requires_https(struct service *svc, const char *product);

/*
 * Opens the blob of VARIANT for sending; the caller closes *RET_FD. The
 * first time this process opens a blob file its bytes are checked against
 * its name (store.h), so the first open may block on reading it whole.
 * -ENOENT, -EBADMSG (damaged: never served), -EIO (not the size the
 * database says), -errno; each logged. On PostgreSQL, where the store is
 * this node's cache, a blob not fetched yet, or damaged (its file removed
 * here), is fetched again at the refresher's next poll: -EAGAIN, the
 * device should ask again shortly.
 */
int service_blob_open(struct service *svc, const struct variant *variant, int *ret_fd);

/* One file of the blob store, or one missing blob, as service_store_verify reports it. */
struct store_finding {
    const char *blob; /* SHA-256; for a file that is not a blob, its path below blobs/ */
    uint64_t size;
    /*
     * 0 intact; -EBADMSG damaged (its bytes do not hash to its name);
     * -ENOENT missing (a release needs it); -EINVAL not a blob (a stray
     * file, or a blob in the wrong folder); -errno unreadable.
     */
    int result;
    const char *used_by; /* the release forms that need it ("demo sketch 1.0.0 (plain)"), or "" */
};

struct store_verify_totals {
    uint64_t files;   /* under blobs/ */
    uint64_t good;    /* intact blobs, unused ones included */
    uint64_t unused;  /* intact blobs no release needs (left by an interrupted publish) */
    uint64_t bad;     /* damaged or unreadable */
    uint64_t missing; /* needed by a release and absent */
    uint64_t strays;  /* files that are not blobs */
};

/*
 * The scrub behind `otad store verify`: hashes every file under blobs/
 * (reading every blob once) and checks that each blob a release needs is
 * there. Calls FN(CTX, finding) for each file in name order, then for each
 * missing blob (FINDING is valid during the call). Returns 0 with
 * *RET_TOTALS, or -errno with WHY when the database or the folder cannot
 * be read.
 */
int service_store_verify(struct service *svc,
                         void (*fn)(void *ctx, const struct store_finding *finding), void *ctx,
                         struct store_verify_totals *ret_totals, struct reason *why);

/*
 * Up to LIMIT devices of PRODUCT ordered by MAC from OFFSET, as last
 * flushed, and the total count; the caller frees *RET_DEVICES with free().
 * -ENOENT (no such product), -EIO.
 */
int service_device_list(struct service *svc, const char *product, size_t limit, size_t offset,
                        struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total,
                        struct reason *why);

/* Where a page of the device list starts (docs/API.md, "Devices": keyset paging by MAC). */
enum device_page_from {
    DEVICE_PAGE_FIRST,  /* the smallest MACs */
    DEVICE_PAGE_AFTER,  /* the MACs after MAC */
    DEVICE_PAGE_BEFORE, /* the MACs before MAC */
    DEVICE_PAGE_LAST,   /* the greatest MACs */
};

struct device_page_request {
    struct device_filter filter; /* mac_min..mac_max: the MACs asked for (q's prefix), else all */
    enum device_page_from from;
    uint64_t mac; /* for AFTER and BEFORE */
    size_t limit; /* 1 to LIMIT_API_PAGE_ROWS */
};

struct device_page {
    struct device_record *devices; /* owned; free() */
    size_t count;
    bool has_prev, has_next; /* a matching device before the first, after the last */
    /*
     * Where a bounded walk stopped (LIMIT_DEVICE_PAGE_SCAN, a filter no
     * index answers) before it filled the page: the next page is the one
     * after NEXT_AFTER (the previous one, before PREV_BEFORE). 0: the page
     * is not cut short on that side; its devices are the cursors.
     */
    uint64_t next_after, prev_before;
    bool has_total;       /* TOTAL is known */
    bool total_estimated; /* TOTAL is the last counted figure, not this instant's count */
    uint64_t total;
};

/*
 * A page of PRODUCT's devices, in MAC order, that REQ's filter keeps, as
 * last flushed, with whether more lie on either side: one index walk that
 * stops at the page, whatever the page (db_device_page). The total is exact
 * for a product of at most LIMIT_EXACT_DEVICE_COUNT devices; above, it is
 * the dashboard's last count (estimated) without a filter and unknown with
 * one. filter.now_ms is set here. -ENOENT (no such product), -EIO.
 */
int service_device_page(struct service *svc, const char *product,
                        const struct device_page_request *req, struct device_page *ret_page,
                        struct reason *why);

struct fleet_summary;

/*
 * PRODUCT's figures (service/dashboard.h): the last ones counted by the
 * dashboard's thread, or counted now when it has none yet (or the service
 * does not serve). -EIO.
 */
int service_fleet_summary(struct service *svc, const struct product *product,
                          struct fleet_summary *ret);

/*
 * PRODUCT's devices per version per UTC day for the last DAYS days (1 to
 * LIMIT_VERSION_HISTORY_DAYS, today included, today's counted last), oldest
 * first, the most devices first within a day, "other" for the rest: the
 * caller frees *RET_ROWS. -ENOENT (no such product), -EIO.
 */
int service_version_history(struct service *svc, const char *product, unsigned days,
                            struct version_day **ret_rows, size_t *ret_count, struct reason *why);

/*
 * Commits the queued check-ins now (tests, shutdown) and waits for the
 * commit. 0 when nothing was queued or in SERVICE_LOCAL mode; -EIO.
 */
int service_registry_flush(struct service *svc);

/* --- tokens --- */

#define SERVICE_TOKEN_PREFIX "otad_"
#define SERVICE_TOKEN_LEN    (5 + 64) /* prefix + 64 hex digits */

/*
 * Creates a token NAME of SCOPE: writes its secret to RET_SECRET (shown
 * once; only its SHA-256 is stored) and its id to *RET_ID. -EINVAL (a name),
 * -EIO.
 */
int service_token_create(struct service *svc, const char *name, enum token_scope scope,
                         char ret_secret[SERVICE_TOKEN_LEN + 1], int64_t *ret_id,
                         struct reason *why);
/*
 * Checks an Authorization header value ("Bearer otad_...") for NEEDED.
 * Returns 0, -EPERM (missing, malformed, unknown or revoked: 401) or
 * -EACCES (valid but its scope is too small: 403).
 */
int service_token_check(struct service *svc, const char *authorization, enum token_scope needed,
                        struct reason *why);
/*
 * service_token_check that also names who holds the token: writes its id
 * and name to RET_ACTOR->token_id and ->name (may be NULL; its other fields
 * are the caller's) on success and on -EACCES, since a valid token of too
 * small a scope is still someone (the audit log records the refusal).
 * Errors as service_token_check; RET_ACTOR untouched on the others.
 */
int service_token_check_actor(struct service *svc, const char *authorization,
                              enum token_scope needed, struct actor *ret_actor, struct reason *why);
/* Every token, revoked ones included; the caller frees *RET_TOKENS with free(). -EIO. */
int service_token_list(struct service *svc, struct token **ret_tokens, size_t *ret_count);
/* Revokes token ID at once, for every node. -ENOENT (no such token, or revoked already), -EIO. */
int service_token_revoke(struct service *svc, int64_t id, struct reason *why);

/* --- dashboard sessions (sessions.c; docs/SECURITY.md, "Dashboard sign-in") --- */

/*
 * A session's cookie value: 256 random bits, base64url without padding; its
 * CSRF token is the same length (an HMAC-SHA256 keyed by the cookie).
 */
#define SERVICE_SESSION_COOKIE_LEN 43
#define SERVICE_SESSION_CSRF_LEN   43

/* What a signed-in browser may know of its own session. */
struct session_info {
    int64_t id;
    int64_t token_id;
    char token_name[LIMIT_TOKEN_NAME_BYTES + 1];
    enum token_scope scope;
    int64_t expires_ms; /* the sooner of the idle and the absolute end, from now */
    char csrf[SERVICE_SESSION_CSRF_LEN + 1];
};

/*
 * Signs in with TOKEN (an API token's secret, "otad_..."): starts a session
 * for it, writes the cookie value to RET_COOKIE and what the browser sees to
 * *RET_INFO. ADDRESS and USER_AGENT (may be NULL) are kept for the admin's
 * list. The token's oldest session past LIMIT_SESSIONS_PER_TOKEN ends.
 * Errors: -EPERM (malformed, unknown or revoked token: counted against
 * ADDRESS), -EBUSY (ADDRESS made LIMIT_SIGNIN_FAILURES_PER_MINUTE bad
 * attempts within the minute: the token is not even looked at), -EIO.
 */
int service_session_create(struct service *svc, const char *token, const char *address,
                           const char *user_agent, char ret_cookie[SERVICE_SESSION_COOKIE_LEN + 1],
                           struct session_info *ret_info, struct reason *why);

/*
 * Checks COOKIE (a session cookie's value) for NEEDED: the session exists,
 * is within session_idle_s of its last use and session_max_s of its start,
 * and its token is not revoked. Records the use (at most every few seconds:
 * a write per request would cost a commit). One indexed read otherwise.
 * Returns 0 with *RET_INFO, -EPERM (no such session, expired, token revoked:
 * 401) or -EACCES (the token's scope is too small: 403; *RET_INFO is filled, so the
 * audit log names who tried), -EIO.
 */
int service_session_check(struct service *svc, const char *cookie, enum token_scope needed,
                          struct session_info *ret_info, struct reason *why);

/*
 * Whether CSRF (a request's X-CSRF-Token, may be NULL) is the CSRF token of
 * the session whose cookie is COOKIE; compared in constant time. Pure.
 */
bool service_session_csrf_ok(const char *cookie, const char *csrf);

/* Signs out: ends the session whose cookie is COOKIE. -ENOENT when there is none, -EIO. */
int service_session_end(struct service *svc, const char *cookie);

/* Every live session, oldest first; the caller frees *RET_SESSIONS with free(). -EIO. */
int service_session_list(struct service *svc, struct session_record **ret_sessions,
                         size_t *ret_count);

/* Ends session ID at once (an admin's revocation). -ENOENT (no such session), -EIO. */
int service_session_revoke(struct service *svc, int64_t id, struct reason *why);

/*
 * Whether this node runs the jobs that must run once in a cluster (the
 * rollout controller, retention, the GitHub poller and webhook syncs):
 * always on SQLite; on PostgreSQL, while it holds the leader's lock
 * (docs/OPERATIONS.md, "Several nodes"). Any thread, lock-free.
 */
bool service_is_leader(struct service *svc);

/* The nodes sharing this database (PostgreSQL), by name; free() *RET_NODES. -EOPNOTSUPP on SQLite.
 */
int service_node_list(struct service *svc, struct node_status **ret_nodes, size_t *ret_count);

/*
 * The database libraries' versions as loaded, for `otad --version` (the CLI may not
 * reach db/ itself): SQLite's, and libpq's into BUF of SIZE bytes ("" when otad is built
 * without PostgreSQL). Returns SQLite's version, static storage.
 */
const char *service_database_library_versions(char *buf, size_t size);

#endif
