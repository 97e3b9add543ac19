/*
 * What the files of the service share (service.c, products.c, publish.c,
 * checkin.c, blobs.c, tokens.c): the service itself and three calls between
 * them. Nothing outside src/service/ includes this; the interface is
 * service.h.
 *
 * Threads and locks: see service.h and docs/ARCHITECTURE.md. catalog_lock
 * guards only the catalog pointer; publish_lock makes one publish at a time
 * (taken before the database's own lock, never the other way round).
 */
#ifndef OTAD_SERVICE_SERVICE_INTERNAL_H
#define OTAD_SERVICE_SERVICE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/digest.h"
#include "core/limits.h"
#include "core/reason.h"
#include "service/service.h"

struct catalog;
struct dashboard;
struct db;
struct events;
struct registry;
struct signin_guard;
struct signing_key;
struct store;
struct tracker;

/* One product's image bodies in flight (docs/FLEET.md, download cap); never freed before the
 * service. */
struct download_counter {
    int64_t product_id;
    atomic_uint in_flight;
};

struct service {
    struct config config;
    enum service_mode mode;
    char db_path[PATH_MAX];
    int data_dir_fd; /* the data folder, flock()ed shared while open: -1 before */
    struct db *db;
    struct store *store;
    struct registry *registry;   /* SERVICE_SERVING only */
    struct events *events;       /* outgoing events (events.h), every mode */
    struct dashboard *dashboard; /* SERVICE_SERVING only */

    pthread_mutex_t catalog_lock; /* guards the catalog pointer, not its contents */
    struct catalog *catalog;
    pthread_mutex_t publish_lock; /* one publish at a time: idempotency checks stay true */

    pthread_t refresher; /* also runs the rollout controller (controller.c) */
    bool refresher_running;

    /* Fleet control (docs/FLEET.md). */
    struct tracker *tracker;     /* open standings in rollouts */
    int64_t (*clock)(void *ctx); /* service_set_clock; NULL: the wall clock */
    void *clock_ctx;
    pthread_mutex_t fleet_lock;    /* one controller tick or rollout action at a time */
    atomic_uint node_downloads;    /* image bodies in flight, every product */
    pthread_mutex_t counters_lock; /* guards the array below, not the counts */
    struct download_counter **counters;
    size_t counter_count;
    int64_t next_tick_ms;              /* monotonic: when the refresher runs the controller */
    int64_t next_audit_retain_ms;      /* monotonic: when it next deletes old audit entries */
    bool fleet_open;                   /* fleet_open succeeded: fleet_close on close */
    struct signin_guard *signin_guard; /* sessions.c: bad sign-ins per address */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;

    /* Several nodes (cluster.c); on SQLite one node that leads. */
    struct cluster *cluster;   /* NULL on SQLite and outside SERVICE_SERVING */
    atomic_bool leader;        /* this node runs the jobs that must run once */
    atomic_uint live_nodes;    /* nodes seen lately, this one included: the caps' shares */
    atomic_bool blobs_missing; /* the catalog lacks a blob here: rebuilt at every poll */
    /* The blob cache of a node on PostgreSQL (blobs.c). */
    pthread_mutex_t blobs_lock;                /* one fill at a time; guards blobs_failing */
    char (*blobs_failing)[SHA256_HEX_LEN + 1]; /* what the last fill could not have, logged once */
    size_t blobs_failing_count;
    int64_t next_blobs_trim_ms;        /* monotonic: when unused cached blobs are next removed */
    int64_t next_blobs_prune_ms;       /* monotonic: when the leader next deletes unused blobs */
    struct partial_downloads *partial; /* ESP-IDF downloads in ranges: their forms (partial.h) */
};

/*
 * A reference to the current catalog (catalog_unref it when done), or NULL
 * before the first one is built. Takes catalog_lock for a moment; any thread.
 */
struct catalog *service_catalog_get(struct service *svc);

/*
 * After a write this process made (WHAT names it for the log): rebuilds the
 * catalog so check-ins see it at once. A failed rebuild is logged; the
 * refresher (or the next command) retries, since the write stands.
 */
void service_refresh_after_write(struct service *svc, const char *what);

/*
 * Several nodes (cluster.c). service_cluster_start starts the otad-cluster
 * thread on PostgreSQL (on SQLite it only makes this node the leader);
 * service_cluster_stop ends it and lets the leader's lock go.
 */
int service_cluster_start(struct service *svc);
void service_cluster_stop(struct service *svc);

/* This node's share of CAP, a cap of the whole cluster: CAP / live nodes, at least 1; 0 stays 0. */
unsigned service_download_share(struct service *svc, unsigned cap);

/*
 * On PostgreSQL, copies into the data folder's store every blob a release
 * of CATALOG needs that it lacks, from the database, each checked against
 * its name before it is stored (blobs.c). 0, or the first -errno when one
 * or more could not be had (the others are fetched all the same).
 */
int service_blobs_fill(struct service *svc, const struct catalog *catalog);

/*
 * Blobs no release needs, older than SERVICE_BLOBS_UNUSED_AGE_S (a younger
 * one may be a publish in flight, stored before its release row), on
 * PostgreSQL (blobs.c). service_blobs_trim removes those of this node's
 * cache that no release of CATALOG needs (every node);
 * service_blobs_prune deletes those of the database that no release names
 * (the leader's job). Each logs what it removed and its failures; a later
 * pass retries. Both do nothing on SQLite, whose store is the only copy.
 */
#define SERVICE_BLOBS_UNUSED_AGE_S (60 * 60)
void service_blobs_trim(struct service *svc, const struct catalog *catalog);
void service_blobs_prune(struct service *svc);

/* A blob some release needs: which, and the form that needs it ("door sketch 1.0.0 (plain)"). */
struct blob_use {
    char sha256[SHA256_HEX_LEN + 1];
    char what[LIMIT_PRODUCT_NAME_BYTES + LIMIT_RELEASE_VERSION_BYTES + 32];
    bool present; /* for the caller's bookkeeping; false as returned */
};

/*
 * Every blob the releases in DB need, one entry per (blob, form), sorted by
 * SHA-256 (a blob two forms share appears twice, side by side). The
 * caller frees *RET_USES with free(). The scrub (`otad store verify`,
 * `otad check`) and `otad backup` (on the copy of the database) read this
 * one list. Returns 0, or -errno with WHY.
 */
int service_blob_uses(struct db *db, struct blob_use **ret_uses, size_t *ret_count,
                      struct reason *why);

/* The clock fleet control reads: the wall clock, or the one a test set. */
int64_t service_now_ms(struct service *svc);

/* The download counter of PRODUCT_ID, made on first use; NULL on allocation failure. */
atomic_uint *service_download_counter(struct service *svc, int64_t product_id);

/*
 * Fleet control's part of opening and running the service (controller.c):
 * the tracker loaded from the database; the controller's periodic work,
 * called by the refresher thread.
 */
int fleet_open(struct service *svc);
void fleet_close(struct service *svc);
int fleet_tick(struct service *svc);

/*
 * After PUBLISHED was stored: applies its channel's deploy policy
 * (immediate: it becomes the deployed release when greatest; rollout:
 * starts one; manual: nothing). Logged, never fails the publish.
 */
void fleet_after_publish(struct service *svc, const struct release *published, const char *actor);

/*
 * Before a release is stored on CHANNEL of PRODUCT_ID: a channel that does
 * not deploy at once gets a deployment row holding what it offers now, so
 * that the new release is not offered by being the greatest. -errno.
 */
int fleet_before_publish(struct service *svc, int64_t product_id, const char *channel,
                         enum fw_mode mode);

/*
 * The token whose secret is SECRET ("otad_" and 64 hex digits) into
 * *RET_TOKEN, valid or not (tokens.c). -EPERM (malformed, unknown, or
 * revoked), -EIO; WHY says which.
 */
int service_token_find_secret(struct service *svc, const char *secret, struct token *ret_token,
                              struct reason *why);

/* The sign-in guard's life (sessions.c): made with the service, freed with it. */
int signin_guard_new(struct signin_guard **ret_guard);
void signin_guard_free(struct signin_guard *guard);

/*
 * Loads the signing key KEY_NAME of the data folder: its private half when
 * present (keys/NAME.key), else its public one (keys/NAME.pub). Writes
 * *RET_KEY (signing_key_free it). -ENOENT / -EINVAL / -EPERM with WHY.
 */
int service_key_load(struct service *svc, const char *key_name, struct signing_key **ret_key,
                     struct reason *why);

/*
 * Loads the Secure Boot v2 keys NAMES names ("k1,k2,k3", product_signing's
 * secure_boot_keys) as service_key_load does, in block order, into
 * RET_KEYS[0..*RET_COUNT-1] (signing_key_free each; *RET_COUNT 0 for "").
 * Each must exist, be a type Secure Boot v2 verifies, and differ from the
 * others. -EINVAL (a name, a type, a duplicate, more than three; WHY says
 * which) or the error of service_key_load; nothing is left loaded then.
 */
int service_secure_boot_keys_load(struct service *svc, const char *names,
                                  struct signing_key *ret_keys[SECURE_BOOT_KEYS_MAX],
                                  size_t *ret_count, struct reason *why);

#endif
