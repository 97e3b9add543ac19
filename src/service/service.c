/*
 * The service's life (service.h): opening the data folder, the database,
 * the blob store and the registry; the catalog check-ins decide from, and
 * the refresher thread that rebuilds it when another process writes;
 * closing. Each operation lives in a file of its own: products.c,
 * publish.c, checkin.c, blobs.c, tokens.c, sharing service_internal.h.
 */
#include "service/service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/log.h"
#include "core/must_use.h"
#include "core/mono.h"
#include "core/util.h"
#include "db/db.h"
#include "service/audit.h"
#include "service/catalog.h"
#include "service/events.h"
#include "service/partial.h"
#include "service/dashboard.h"
#include "service/registry.h"
#include "service/service_internal.h"
#include "service/service_metrics.h"
#include "store/store.h"

/*
 * How often the refresher looks at the generation; it runs the rollout
 * controller (controller.c) every `rollout_tick_ms` (a second by default:
 * halts and promotions within a second), waking as often as that needs.
 */
#define CATALOG_POLL_MS 500
/*
 * The audit log's retention pass (audit.c): at most once an hour, in batches
 * short enough that an admin action's entry waits little for the connection.
 */
#define AUDIT_RETAIN_MS      (3600 * 1000)
#define AUDIT_RETAIN_BATCH   1000
#define AUDIT_RETAIN_BATCHES 100
/*
 * Unused blobs (blobs.c, PostgreSQL): each node's cache at its first poll (a
 * start) and then once an hour; the database's on the leader, when it first
 * leads and then once an hour (with the audit retention).
 */
#define BLOBS_TRIM_MS (3600 * 1000)

struct catalog *service_catalog_get(struct service *svc)
{
    pthread_mutex_lock(&svc->catalog_lock);
    struct catalog *c = catalog_ref(svc->catalog);
    pthread_mutex_unlock(&svc->catalog_lock);
    return c;
}

/*
 * Holds the data folder shared (flock) while the service is open, in every
 * otad process on it: `otad restore` takes the same lock exclusive
 * (service_restore), which is how it tells a live folder on PostgreSQL,
 * whose database is not in the folder. -EBUSY while a restore holds it.
 */
static int data_dir_hold(const char *data_dir, int *ret_fd)
{
    int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK)
            return -EBUSY;
        /* A file system without flock (ENOLCK on some NFS): serve unlocked, as before. */
        log_debug("the data folder \"%s\" cannot be locked: %s", data_dir, strerror(err));
        fd = -1;
    }
    *ret_fd = fd;
    return 0;
}

/* Rebuilds the catalog when the database's generation moved (or FORCE). */
MUST_USE static int catalog_refresh(struct service *svc, bool force)
{
    int64_t gen;
    int r = db_generation(svc->db, &gen);
    if (r < 0)
        return r;
    struct catalog *cur = service_catalog_get(svc);
    bool fresh = cur && cur->generation == gen;
    catalog_unref(cur);
    if (fresh && !force)
        return 0;
    struct catalog *next;
    if ((r = catalog_build(svc->db, gen, &next)) < 0)
        return r;
    /*
     * Another node's releases: their blobs are fetched and checked before
     * the catalog is offered. One that cannot be had (disk full, a damaged
     * row) does not hold the rest back (halts and channel changes must
     * reach this node): a device offered it gets -EAGAIN from
     * service_blob_open (a 503), never a partial image, and the next poll
     * fetches again.
     */
    if (db_is_postgresql(svc->db)) {
        bool missing = service_blobs_fill(svc, next) < 0;
        if (missing && !atomic_load(&svc->blobs_missing))
            log_warn("catalog: offered without a blob this node could not fetch; retried at "
                     "every poll");
        atomic_store(&svc->blobs_missing, missing);
    }
    /* The download caps' counters outlive catalogs: each product finds its own again. */
    for (size_t i = 0; i < next->product_count; i++)
        next->products[i].downloads = service_download_counter(svc, next->products[i].product.id);
    pthread_mutex_lock(&svc->catalog_lock);
    struct catalog *old = svc->catalog;
    /* A slow rebuild must not replace a newer catalog another thread installed meanwhile. */
    if (old && old->generation > next->generation) {
        old = next;
    } else {
        svc->catalog = next;
        metric_inc(&metric_catalog_rebuilds, NULL);
    }
    pthread_mutex_unlock(&svc->catalog_lock);
    catalog_unref(old);
    return 0;
}

/*
 * After a write this process made: shows it to check-ins now. When the
 * rebuild fails, the write stands and the refresher thread (or the next
 * command) sees the generation move and retries: say so, once.
 */
void service_refresh_after_write(struct service *svc, const char *what)
{
    int r = catalog_refresh(svc, true);
    if (r < 0)
        log_warn("catalog: reload after %s failed (the next poll retries): %s", what, strerror(-r));
}

int service_catalog_poll(struct service *svc)
{
    return catalog_refresh(svc, false);
}

static void *refresher_main(void *arg)
{
    struct service *svc = arg;
    pthread_mutex_lock(&svc->stop_lock);
    while (!svc->stopping) {
        struct timespec ts;
        int64_t tick_ms = (int64_t)svc->config.rollout_tick_ms;
        mono_deadline_ms(&ts, tick_ms < CATALOG_POLL_MS ? tick_ms : CATALOG_POLL_MS);
        pthread_cond_timedwait(&svc->stop_cond, &svc->stop_lock, &ts);
        if (svc->stopping)
            break;
        pthread_mutex_unlock(&svc->stop_lock);
        int r = catalog_refresh(svc, atomic_load(&svc->blobs_missing));
        if (r < 0)
            log_warn("catalog: reload failed: %s", strerror(-r));
        bool leader = service_is_leader(svc); /* the jobs below run on one node of a cluster */
        if (leader && time_mono_ms() >= svc->next_tick_ms) {
            fleet_tick(svc); /* logs its own failure */
            svc->next_tick_ms = time_mono_ms() + (int64_t)svc->config.rollout_tick_ms;
        }
        if (leader && time_mono_ms() >= svc->next_audit_retain_ms) {
            service_audit_retain(svc, time_now_ms(), AUDIT_RETAIN_BATCH, AUDIT_RETAIN_BATCHES,
                                 NULL); /* logs its own failure; the next pass retries */
            svc->next_audit_retain_ms = time_mono_ms() + AUDIT_RETAIN_MS;
        }
        if (leader && time_mono_ms() >= svc->next_blobs_prune_ms) {
            service_blobs_prune(svc); /* logs its own failure; the next pass retries */
            svc->next_blobs_prune_ms = time_mono_ms() + BLOBS_TRIM_MS;
        }
        if (time_mono_ms() >= svc->next_blobs_trim_ms) {
            struct catalog *catalog = service_catalog_get(svc);
            if (catalog)
                service_blobs_trim(svc, catalog); /* logs its own failure */
            catalog_unref(catalog);
            svc->next_blobs_trim_ms = time_mono_ms() + BLOBS_TRIM_MS;
        }
        pthread_mutex_lock(&svc->stop_lock);
    }
    pthread_mutex_unlock(&svc->stop_lock);
    return NULL;
}

/* The service's clock for the dashboard's thread. */
static int64_t service_clock_now(void *ctx)
{
    return service_now_ms(ctx);
}

int service_open(const struct config *config, enum service_mode mode, struct service **ret_service)
{
    struct service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return -ENOMEM;
    svc->config = *config;
    svc->data_dir_fd = -1;
    svc->mode = mode;
    service_metrics_register();
    int r;
    if ((r = -pthread_mutex_init(&svc->catalog_lock, NULL)) < 0)
        goto free_svc;
    if ((r = -pthread_mutex_init(&svc->publish_lock, NULL)) < 0)
        goto destroy_catalog_lock;
    if ((r = -pthread_mutex_init(&svc->stop_lock, NULL)) < 0)
        goto destroy_publish_lock;
    if ((r = -pthread_mutex_init(&svc->blobs_lock, NULL)) < 0)
        goto destroy_stop_lock;
    if ((r = mono_cond_init(&svc->stop_cond)) < 0) {
        pthread_mutex_destroy(&svc->blobs_lock);
    destroy_stop_lock:
        pthread_mutex_destroy(&svc->stop_lock);
    destroy_publish_lock:
        pthread_mutex_destroy(&svc->publish_lock);
    destroy_catalog_lock:
        pthread_mutex_destroy(&svc->catalog_lock);
    free_svc:
        log_error("cannot initialize the service's locks: %s", strerror(-r));
        free(svc);
        return r;
    }

    r = dir_create_all(config->data_dir, 0750);
    if (r < 0) {
        log_error("cannot create data folder \"%s\": %s", config->data_dir, strerror(-r));
        goto fail;
    }
    if ((r = data_dir_hold(config->data_dir, &svc->data_dir_fd)) < 0) {
        log_error("cannot open the data folder \"%s\": %s", config->data_dir,
                  r == -EBUSY ? "otad restore is replacing it" : strerror(-r));
        goto fail;
    }
    if ((r = db_location(config->database, config->data_dir, svc->db_path, sizeof(svc->db_path))) <
        0)
        goto fail;
    if ((r = db_open_timed(svc->db_path, DB_DURABLE,
                           (unsigned)config->database_statement_timeout_ms, DB_TIMEOUT_STATEMENTS,
                           &svc->db)) < 0)
        goto fail;
    /* The registry's connection writes with these; this one too, should it ever. */
    struct db_fleet_timing fleet_timing = {
        .deadline_margin_ms = (int64_t)config->rollout_deadline_margin_ms,
        .interval_min_gap_ms = (int64_t)config->interval_min_gap_ms,
    };
    db_set_fleet_timing(svc->db, &fleet_timing);
    if ((r = events_new(LIMIT_EVENT_QUEUE, &svc->events)) < 0)
        goto fail;
    if ((r = store_open(config->data_dir, &svc->store)) < 0)
        goto fail;
    store_set_cache(svc->store, db_is_postgresql(svc->db)); /* blobs.c drops and fetches again */
    if ((r = signin_guard_new(&svc->signin_guard)) < 0)
        goto fail;
    if ((r = partial_downloads_new(&svc->partial)) < 0)
        goto fail;
    if ((r = fleet_open(svc)) < 0)
        goto fail;
    svc->fleet_open = true;
    if ((r = catalog_refresh(svc, true)) < 0)
        goto fail;
    atomic_store(&svc->leader, true); /* one node, until service_cluster_start says otherwise */
    atomic_store(&svc->live_nodes, 1u);
    if (mode == SERVICE_SERVING) {
        struct registry_limits limits = {
            .new_devices_per_addr_per_minute = config->registry_new_devices_per_ip_per_minute,
            .max_devices_per_product = config->registry_max_devices_per_product,
            .statement_timeout_ms = (unsigned)config->database_statement_timeout_ms,
            .fleet_timing = &fleet_timing,
        };
        r = registry_start(svc->db_path, (unsigned)config->registry_flush_ms, LIMIT_REGISTRY_QUEUE,
                           &limits, &svc->registry);
        if (r < 0)
            goto fail;
        if ((r = dashboard_start(svc->db_path, (unsigned)config->database_statement_timeout_ms,
                                 service_clock_now, svc, &svc->dashboard)) < 0)
            goto fail;
        if ((r = service_cluster_start(svc)) < 0)
            goto fail;
        if ((r = -pthread_create(&svc->refresher, NULL, refresher_main, svc)) < 0)
            goto fail;
        pthread_setname_np(svc->refresher, "otad-refresher"); /* top -H, perf: which thread works */
        svc->refresher_running = true;
    }
    *ret_service = svc;
    return 0;
fail:
    service_close(svc);
    return r;
}

void service_stop_controller(struct service *svc)
{
    if (!svc)
        return;
    service_cluster_stop(svc); /* first: another node may lead while this one drains */
    if (!svc->refresher_running)
        return;
    pthread_mutex_lock(&svc->stop_lock);
    svc->stopping = true;
    pthread_cond_signal(&svc->stop_cond);
    pthread_mutex_unlock(&svc->stop_lock);
    pthread_join(svc->refresher, NULL);
    svc->refresher_running = false;
}

void service_close(struct service *svc)
{
    if (!svc)
        return;
    service_stop_controller(svc);
    registry_stop(svc->registry);
    dashboard_stop(svc->dashboard); /* after the registry's last commit: it counts it */
    catalog_unref(svc->catalog);
    if (svc->fleet_open)
        fleet_close(svc);
    store_free(svc->store);
    events_free(svc->events);
    signin_guard_free(svc->signin_guard);
    partial_downloads_free(svc->partial);
    db_close(svc->db);
    if (svc->data_dir_fd >= 0)
        close(svc->data_dir_fd);
    pthread_cond_destroy(&svc->stop_cond);
    pthread_mutex_destroy(&svc->blobs_lock);
    free(svc->blobs_failing);
    pthread_mutex_destroy(&svc->stop_lock);
    pthread_mutex_destroy(&svc->publish_lock);
    pthread_mutex_destroy(&svc->catalog_lock);
    free(svc);
}

struct events *service_events(struct service *svc)
{
    return svc->events;
}

const char *service_database_library_versions(char *buf, size_t size)
{
#ifdef OTAD_WITH_POSTGRESQL
    db_pg_library_version(buf, size);
#else
    if (size > 0)
        buf[0] = '\0';
#endif
    return db_sqlite_library_version();
}
