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
#include <stdbool.h>

#include "core/config.h"
#include "core/reason.h"
#include "service/service.h"

struct catalog;
struct db;
struct registry;
struct signing_key;
struct store;

struct service {
    struct config config;
    enum service_mode mode;
    char db_path[PATH_MAX];
    struct db *db;
    struct store *store;
    struct registry *registry; /* SERVICE_SERVING only */

    pthread_mutex_t catalog_lock; /* guards the catalog pointer, not its contents */
    struct catalog *catalog;
    pthread_mutex_t publish_lock; /* one publish at a time: idempotency checks stay true */

    pthread_t refresher;
    bool refresher_running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
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
 * Loads the signing key KEY_NAME of the data folder: its private half when
 * present (keys/NAME.key), else its public one (keys/NAME.pub). Writes
 * *RET_KEY (signing_key_free it). -ENOENT / -EINVAL / -EPERM with WHY.
 */
int service_key_load(struct service *svc, const char *key_name, struct signing_key **ret_key,
                     struct reason *why);

#endif
