/*
 * The database: products, releases with their variants and installed
 * digests, tokens, the device registry. The interface speaks in domain
 * structs (model/model.h), never in SQL, and has two backends behind it:
 * SQLite (one file in the data folder: the one-box default; db_sqlite*.c)
 * and PostgreSQL (several nodes sharing one database; db_pg*.c, built when
 * libpq is found). db_open picks one from the location; db.c forwards
 * every other call to it (backend.h).
 *
 * Threads: a struct db is one connection, safe to share between threads:
 * every call takes the connection's lock for its whole duration. Each
 * thread that writes a lot (the registry flusher, the sources' poller) opens
 * its own. Every call may block on that lock, on disk I/O (a durable
 * commit is an fsync) and, on PostgreSQL, on the network: nothing on a
 * check-in's path calls here, which is why the catalog and the registry
 * queue exist.
 *
 * Conventions: inputs are borrowed and copied as needed; RET_* out
 * parameters are written only on success; arrays returned through RET_* are
 * the caller's to free as each function says. Errors are logged here, once,
 * with the backend's message, and returned as -errno: -ENOENT (no such row,
 * or a row naming one that is not there), -EEXIST (a unique name or version
 * is taken), -EIO (the backend failed, logged), -ENOMEM, and on PostgreSQL
 * -ENOTCONN (the database cannot be reached: the call did nothing, and the
 * next call connects again; callers answer 503).
 */
#ifndef OTAD_DB_DB_H
#define OTAD_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"
#include "model/model.h"

struct db;

/* The database's file name in the data folder (the one name every opener uses). */
#define DB_FILE_NAME "otad.db"

/* How much a connection's commits must survive. */
enum db_durability {
    DB_DURABLE = 0, /* a commit survives power loss (releases, tokens) */
    DB_RELAXED,     /* a commit survives a crash of otad, not of the machine (registry) */
};

/*
 * Where the database is: DATABASE when set (the `database` setting: a
 * postgresql:// URL), else DATA_DIR/otad.db. Writes it to OUT (SIZE bytes);
 * -ENAMETOOLONG when it does not fit.
 */
int db_location(const char *database, const char *data_dir, char *out, size_t size);

/* Whether LOCATION names a PostgreSQL database (postgresql:// or postgres://). */
bool db_location_is_postgresql(const char *location);

/* Whether this otad was built with the PostgreSQL backend. */
bool db_postgresql_built(void);

/*
 * Opens the database at LOCATION (a file path, created if needed, or a
 * postgresql:// URL) and brings its schema up to date with the backend's
 * numbered migrations (several processes opening it at once apply each
 * exactly once). Returns 0 and a new handle in *ret_db (free with
 * db_close), or -EIO / -ENOMEM / -ENOTCONN; a database written by a newer
 * otad (unknown migration) gives -EPROTO; a postgresql:// URL in an otad
 * built without it, -ENOTSUP.
 */
int db_open(const char *location, enum db_durability durability, struct db **ret_db);

/* What the timeout of db_open_timed bounds. */
enum db_timeout_scope {
    /* Each statement, whole: for what a person or a device waits on. */
    DB_TIMEOUT_STATEMENTS,
    /*
     * Only a statement's wait for a lock: for a background writer whose
     * statements grow with its batches (the registry's), which a slow
     * statement must not fail again at each retry.
     */
    DB_TIMEOUT_LOCK_WAITS,
};

/*
 * db_open, and on PostgreSQL every statement of the connection (the
 * migrations excepted: they run without one, under their advisory lock)
 * is cancelled after TIMEOUT_MS (0: never) of running, or with
 * DB_TIMEOUT_LOCK_WAITS of waiting for a lock, so that a lock an operator
 * holds cannot hang the caller: the call returns -ETIMEDOUT and its
 * transaction did nothing. SQLite ignores it (its writers wait at most its
 * busy timeout already). db_open is this with 0.
 */
int db_open_timed(const char *location, enum db_durability durability, unsigned timeout_ms,
                  enum db_timeout_scope scope, struct db **ret_db);

/*
 * The times the database's side of a rollout uses (docs/FLEET.md,
 * "Outcomes"): settings (core/config.c), so that a test or a demo can play
 * out a night's rollout in a minute. A connection starts with the defaults.
 */
struct db_fleet_timing {
    /* A served device's deadline is 3 of its check-in intervals past served, plus this. */
    int64_t deadline_margin_ms;
    /* A gap between two check-ins of a device shorter than this is no check-in interval. */
    int64_t interval_min_gap_ms;
};
/* A connection's timing until db_set_fleet_timing: the settings' defaults (5 min, 30 s). */
#define DB_FLEET_DEADLINE_MARGIN_MS_DEFAULT  300000
#define DB_FLEET_INTERVAL_MIN_GAP_MS_DEFAULT 30000

/*
 * Sets the times DB's later db_devices_record (the interval it learns) and
 * db_fleet_events_apply (a SERVED event's deadline) use; TIMING is copied.
 * Call it before DB is shared between threads (the registry calls it right
 * after opening its connection). A negative margin is taken as 0, a gap
 * under 1 ms as 1 ms (a batch applied twice, a gap of 0, never teaches an
 * interval).
 */
void db_set_fleet_timing(struct db *db, const struct db_fleet_timing *timing);

/* Whether DB is a PostgreSQL connection (several nodes may share it). */
bool db_is_postgresql(const struct db *db);

/* Closes the connection (waiting for a call in progress on it). NULL-safe. */
void db_close(struct db *db);

/*
 * Runs the backend's integrity check (on SQLite PRAGMA integrity_check, or
 * with QUICK the faster quick_check, which skips the indexes' contents; on
 * PostgreSQL the schema version, QUICK or not). Returns 0 when it passes,
 * else -EIO with the findings in WHY (the first few, joined by "; ").
 */
int db_integrity_check(struct db *db, bool quick, struct reason *why);

/*
 * The catalog's generation into *RET_GENERATION: it grows whenever a
 * product, its settings or a release change (here, in the CLI or on another
 * node). Cheap: one indexed read.
 */
int db_generation(struct db *db, int64_t *ret_generation);

/*
 * Products. P->id and P->created_ms are written on success; the generation
 * grows (a new product is something check-ins must see). -EEXIST for a taken name.
 */
int db_product_insert(struct db *db, struct product *p);
/* The product named NAME into *RET_PRODUCT. -ENOENT when there is none. */
int db_product_get(struct db *db, const char *name, struct product *ret_product);
/* All products by name; *ret_products is an array the caller frees with free(). */
int db_product_list(struct db *db, struct product **ret_products, size_t *ret_count);

/* Replaces the signing settings of product PRODUCT_ID. -ENOENT when there is no such product. */
int db_product_set_signing(struct db *db, int64_t product_id, const struct product_signing *s);

/* Records that PRODUCT_ID signs with key NAME (idempotent). */
int db_product_key_add(struct db *db, int64_t product_id, const char *name,
                       const char *fingerprint);
/* The keys of PRODUCT_ID, oldest first; the caller frees *ret_keys with free(). */
int db_product_key_list(struct db *db, int64_t product_id, struct product_key **ret_keys,
                        size_t *ret_count);

/*
 * Adds release R of product R->product_id with its variants and the DIGEST_COUNT
 * installed digests, in one transaction that also assigns R->seq and R->id and
 * bumps the generation. Either all of it is stored or none.
 * -EEXIST when the product already has R->version for R->mode.
 */
int db_release_insert(struct db *db, struct release *r, const char *const *digests,
                      size_t digest_count);

/*
 * Adds the COUNT variants V (of kinds it does not have yet; the others are
 * left as they are) to release RELEASE_ID and sets its signed_by, in one
 * transaction that bumps the generation. -ENOENT when there is no such release.
 */
int db_release_add_variants(struct db *db, int64_t release_id, const struct variant *v,
                            unsigned count, const char *signed_by);

/* The release of PRODUCT_ID with VERSION and MODE, with its variants. -ENOENT when none. */
int db_release_get(struct db *db, int64_t product_id, enum fw_mode mode, const char *version,
                   struct release *ret_release);

/*
 * All releases of PRODUCT_ID, newest first, with variants. *ret_releases is
 * an array the caller frees with release_list_free.
 */
int db_release_list(struct db *db, int64_t product_id, struct release **ret_releases,
                    size_t *ret_count);
/* All installed digests of PRODUCT_ID; the caller frees *ret_digests with free(). */
int db_digest_list(struct db *db, int64_t product_id, struct release_digest **ret_digests,
                   size_t *ret_count);

/*
 * Tokens. Records a token NAME of SCOPE whose secret hashes to HASH_HEX (the
 * SHA-256, hex; the secret itself is never stored) and writes its id to
 * *RET_ID. -EEXIST when the hash is already there.
 */
int db_token_insert(struct db *db, const char *name, enum token_scope scope, const char *hash_hex,
                    int64_t *ret_id);
/* The token whose hash is HASH_HEX (revoked ones included: check revoked_ms). -ENOENT when none. */
int db_token_find(struct db *db, const char *hash_hex, struct token *ret_token);
/* Every token, revoked ones included, by id; the caller frees *RET_TOKENS with free(). */
int db_token_list(struct db *db, struct token **ret_tokens, size_t *ret_count);
/* Marks token ID revoked. -ENOENT when no such token or already revoked. */
int db_token_revoke(struct db *db, int64_t id);

/*
 * Dashboard sessions (db_sqlite_sessions.c). REC's token_id, created_ms,
 * last_used_ms, address and user_agent are stored with HASH_HEX (the
 * cookie's SHA-256); in the same transaction the token's oldest sessions
 * past KEEP are deleted. *RET_ID is the new session's id. -ENOENT when the
 * token is not there.
 */
int db_session_insert(struct db *db, const struct session_record *rec, const char *hash_hex,
                      unsigned keep, int64_t *ret_id);
/* The session whose cookie hashes to HASH_HEX, with its token. -ENOENT when none. */
int db_session_find(struct db *db, const char *hash_hex, struct session_record *ret_session);
/* Records that session ID was used at NOW_MS. -ENOENT when it is gone. */
int db_session_touch(struct db *db, int64_t id, int64_t now_ms);
/* Ends session ID (deletes it). -ENOENT when there is no such session. */
int db_session_delete(struct db *db, int64_t id);
/*
 * Deletes the sessions idle since before IDLE_BEFORE_MS or created before
 * CREATED_BEFORE_MS, and those of revoked tokens.
 */
int db_session_prune(struct db *db, int64_t idle_before_ms, int64_t created_before_ms);
/* Every stored session, oldest first; the caller frees *RET_SESSIONS with free(). */
int db_session_list(struct db *db, struct session_record **ret_sessions, size_t *ret_count);

/*
 * The mark of one write transaction of the registry's flusher (the
 * writer: one registry, from start to stop; SEQ rises by one per
 * transaction, and a transaction tried again keeps its SEQ). On
 * PostgreSQL the transaction records it (table registry_batches: the
 * writer "STARTED_MS:NONCE", the newest SEQ committed and when), so a
 * retry after the connection was lost around its COMMIT (it may have
 * committed) is recognized and not applied twice: the call returns
 * -EALREADY and changes nothing. SQLite ignores it (a lost COMMIT reply
 * does not happen in-process). NULL: unmarked.
 */
struct db_batch {
    int64_t started_ms; /* when the writer started (a mark unwritten for 7 days goes) */
    uint64_t nonce;     /* random: two writers started in the same ms differ */
    int64_t seq;        /* > 0 */
    /*
     * Set by the call (PostgreSQL) when the mark was new: no earlier try of
     * SEQ committed, whether or not this one then does. The caller clears it.
     */
    bool passed;
};

/*
 * Whether RECORD, of a device that has no row yet, may add one (the
 * registry's growth limits). Called by db_devices_record inside its
 * transaction with the database locked: it must not call into DB.
 */
typedef bool (*db_device_admit_fn)(void *ctx, const struct device_record *record);

/*
 * Records COUNT devices' check-ins in one transaction. Each record stands
 * for record->checkins check-ins (< 1 counts as 1), the latest of them in
 * its fields. A known device (same product and STA MAC) has its fields
 * replaced (last_offered and last_key only by non-empty ones), last_seen
 * set and checkins raised by that number; the gap since its last check-in,
 * when at least the connection's interval_min_gap_ms (db_set_fleet_timing),
 * moves its learned check-in interval. A device without a row gets one,
 * first seen at record->first_seen_ms, when ADMIT (NULL: always) says so;
 * otherwise nothing is written for it. Records without an STA MAC or of a
 * product that does not exist are skipped. RET_ROWS (may be NULL) receives
 * the number of rows written. BATCH (may be NULL) as struct db_batch says;
 * ADMIT is not called when it gives -EALREADY. Returns 0, -EALREADY, or
 * -EIO (rolled back: nothing of the batch is written).
 */
int db_devices_record(struct db *db, const struct device_record *records, size_t count,
                      db_device_admit_fn admit, void *ctx, struct db_batch *batch,
                      size_t *ret_rows);

/*
 * Up to LIMIT devices of PRODUCT_ID ordered by MAC from OFFSET, and the total
 * count. *ret_devices is an array the caller frees with free().
 */
int db_device_list(struct db *db, int64_t product_id, size_t limit, size_t offset,
                   struct device_record **ret_devices, size_t *ret_count, uint64_t *ret_total);

/*
 * How many devices of PRODUCT_ID had each delivery issue at their last
 * check-in: RET_COUNTS[issue] (RET_COUNTS[DELIVERY_OK] is left 0, not
 * counted). Written only on success. Returns 0 or -EIO.
 */
int db_device_issue_counts(struct db *db, int64_t product_id,
                           uint64_t ret_counts[DELIVERY_ISSUE_COUNT]);

/*
 * The highest anti-rollback secure_version any device of PRODUCT_ID ever
 * reported (its secure_version_max, migration 011 / 015): *RET_KNOWN false
 * and *RET_MAX 0 when none reported one. One pass over the product's rows:
 * for a publish, never for a check-in. Written only on success. Returns 0,
 * -EIO (or on PostgreSQL -ENOTCONN, -ETIMEDOUT).
 */
int db_device_secure_version_max(struct db *db, int64_t product_id, bool *ret_known,
                                 uint32_t *ret_max);

/*
 * Up to LIMIT devices of PRODUCT_ID that FILTER keeps (filter->mac_min to
 * mac_max inclusive), in MAC order, or from the greatest MAC down when
 * BACKWARD, into *RET_DEVICES (the caller frees it with free(); NULL when
 * none) and *RET_COUNT. One index walk that stops at LIMIT (docs/API.md,
 * "Devices": which filters an index answers). Returns 0 or -EIO.
 */
int db_device_page(struct db *db, int64_t product_id, const struct device_filter *filter,
                   bool backward, size_t limit, struct device_record **ret_devices,
                   size_t *ret_count);

/*
 * The MAC of the device N places from FROM (FROM itself is place 0 when it
 * is a device's) among PRODUCT_ID's devices in MAC order, or going down
 * when BACKWARD, into *RET_MAC: an index walk of N entries. -ENOENT when
 * fewer devices lie on that side; -EIO.
 */
int db_device_nth_mac(struct db *db, int64_t product_id, uint64_t from, bool backward, uint64_t n,
                      uint64_t *ret_mac);

/* How many devices of PRODUCT_ID FILTER keeps: a walk of all of them (callers bound it). */
int db_device_count(struct db *db, int64_t product_id, const struct device_filter *filter,
                    uint64_t *ret_count);

/*
 * One pass over PRODUCT_ID's devices: per version ("" for none), how many
 * devices, how many seen since DAY_START_MS, in the 24 hours before NOW_MS,
 * and quiet at NOW_MS, into *RET_COUNTS (the caller frees it) in no order.
 * Returns 0 or -EIO.
 */
int db_device_version_counts(struct db *db, int64_t product_id, int64_t day_start_ms,
                             int64_t now_ms, struct version_count **ret_counts, size_t *ret_count);

/*
 * Replaces PRODUCT_ID's version history of DAY by COUNT ROWS (their day is
 * not read) and drops its days before KEEP_FROM_DAY, in one transaction.
 * Returns 0 or -EIO.
 */
int db_version_day_put(struct db *db, int64_t product_id, int64_t day,
                       const struct version_day *rows, size_t count, int64_t keep_from_day);

/* PRODUCT_ID's version history from FROM_DAY, oldest day first, the most devices first. */
int db_version_day_list(struct db *db, int64_t product_id, int64_t from_day,
                        struct version_day **ret_rows, size_t *ret_count);

/*
 * Releases' blobs in the database, for several nodes (PostgreSQL: tables
 * blobs and blob_chunks; SQLite keeps them in the data folder's store and
 * answers -EOPNOTSUPP). Stores the LEN bytes of DATA as blob SHA256 (the
 * caller hashed them: the name is not checked here), in chunks of
 * DB_BLOB_CHUNK_BYTES, in one transaction: another node sees all of it or
 * nothing. A blob already stored keeps its bytes and is stamped as stored
 * now (db_blob_prune spares it). Returns 0 or -errno.
 */
int db_blob_put(struct db *db, const char *sha256, const uint8_t *data, size_t len);

/*
 * Reads blob SHA256 whole into a new allocation (the caller frees it and
 * checks its hash: a reader trusts no storage), at most MAX bytes. Returns
 * 0, -ENOENT when there is no such blob, -EFBIG past MAX, -EIO when its
 * chunks do not add up to its size (which chunk is logged at debug level
 * only: the caller, which may retry at every poll, logs the failure), or
 * -errno.
 */
int db_blob_get(struct db *db, const char *sha256, size_t max, uint8_t **ret_data, size_t *ret_len);

/*
 * Deletes, with their chunks, the blobs no release names (no variant's
 * sha256) that were stored before CREATED_BEFORE_MS: the leftovers of a
 * publish that failed, or of a node that died, between storing its blob and
 * its release. The cutoff spares a publish in flight, which stores its blob
 * first (db_blob_put stamps a blob it finds already stored as stored now, so
 * an old unused blob a publish is about to name is spared too). Writes how
 * many went to *RET_DELETED. Returns 0 or -errno; SQLite (no blobs in the
 * database) answers -EOPNOTSUPP.
 */
int db_blob_prune(struct db *db, int64_t created_before_ms, size_t *ret_deleted);

/* The size of the chunks db_blob_put cuts a blob into (1 MiB). */
#define DB_BLOB_CHUNK_BYTES (1u << 20)

/*
 * Several nodes (PostgreSQL; SQLite, one node, answers -EOPNOTSUPP to each).
 * These are for one connection a node keeps for them alone (service's
 * cluster.c): its session holds the leader's lock and listens.
 *
 * Starts listening for catalog changes other nodes make (db_pg's NOTIFY of
 * the generation).
 */
int db_listen_catalog(struct db *db);

/*
 * Waits up to TIMEOUT_MS for a catalog change notified on DB (after
 * db_listen_catalog); *RET_CHANGED says whether one came. A lost
 * connection is -ENOTCONN (listening again is the caller's, after it
 * connects).
 */
int db_wait_catalog(struct db *db, unsigned timeout_ms, bool *ret_changed);

/*
 * Takes the leader's lock when it is free, or keeps it: *RET_LEADER says
 * whether this connection holds it now. The lock is the session's: it goes
 * when the connection does (a node that dies or loses the database stops
 * leading at once, and another takes over at its next try).
 */
int db_leader_hold(struct db *db, bool *ret_leader);

/* Lets the leader's lock go (a node that stops). */
int db_leader_release(struct db *db);

/*
 * Records NODE's heartbeat (its row is created or replaced; NODE->seen_ms is
 * not read: the row's seen_ms is the database's clock now) and counts the
 * nodes seen within the LIVE_MS before it, this one included, into
 * *RET_LIVE. Both times are the database's, so nodes whose clocks disagree
 * still count each other alike. A leader's beat (NODE->leader_since_ms set: it holds the lock) also
 * clears leader_since_ms on every other row, so that a leader that died or stopped is not listed as
 * leading.
 */
int db_node_beat(struct db *db, const struct node_status *node, int64_t live_ms,
                 unsigned *ret_live);

/* Every node's row, by name; the caller frees *RET_NODES with free(). */
int db_node_list(struct db *db, struct node_status **ret_nodes, size_t *ret_count);

/* The loaded SQLite's version (sqlite3_libversion), for `otad --version`. Never NULL. */
const char *db_sqlite_library_version(void);

#ifdef OTAD_WITH_POSTGRESQL
/*
 * The loaded libpq's version, "MAJOR.MINOR" from PQlibVersion, into BUF of SIZE bytes
 * (truncated to fit), for `otad --version`.
 */
void db_pg_library_version(char *buf, size_t size);
#endif

#endif
