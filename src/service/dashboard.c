/* The dashboard's figures (dashboard.h): one pass per product, kept in memory, history by day. */
#include "service/dashboard.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mono.h"
#include "core/util.h"
#include "db/db.h"

#define DAY_MS           (24 * 3600 * 1000LL)
#define HISTORY_WRITE_MS (3600 * 1000LL) /* today's history rewritten at most this often */
#define PASS_GAP_FACTOR  50              /* a pass waits 50 times its duration: ~2% busy */
#define PASS_GAP_MIN_MS  1000
#define PASS_GAP_MAX_MS  300000

struct product_figures {
    struct fleet_summary summary;
    int64_t history_written_ms; /* 0: never by this process */
    int64_t history_day;        /* the day it wrote */
};

struct dashboard {
    struct db *db; /* the thread's own connection */
    int64_t (*now)(void *ctx);
    void *now_ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* stop (CLOCK_MONOTONIC) */
    bool stopping;
    struct product_figures *products; /* under LOCK */
    size_t product_count;
};

int64_t dashboard_day(int64_t at_ms)
{
    return at_ms >= 0 ? at_ms / DAY_MS : -((-at_ms + DAY_MS - 1) / DAY_MS);
}

static int by_devices(const void *a, const void *b)
{
    const struct version_count *x = a, *y = b;
    return x->devices < y->devices   ? 1
           : x->devices > y->devices ? -1
                                     : strcmp(x->version, y->version);
}

static int by_seen_day(const void *a, const void *b)
{
    const struct version_count *x = a, *y = b;
    return x->seen_day < y->seen_day   ? 1
           : x->seen_day > y->seen_day ? -1
                                       : strcmp(x->version, y->version);
}

int dashboard_compute(struct db *db, int64_t product_id, int64_t now_ms, struct fleet_summary *ret)
{
    struct version_count *counts = NULL;
    size_t n = 0;
    int64_t day_start = dashboard_day(now_ms) * DAY_MS;
    int r = db_device_version_counts(db, product_id, day_start, now_ms, &counts, &n);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    ret->product_id = product_id;
    ret->computed_ms = now_ms;
    for (size_t i = 0; i < n; i++) {
        ret->devices += counts[i].devices;
        ret->seen_24h += counts[i].seen_24h;
        ret->quiet += counts[i].quiet;
    }
    /* The versions with the most devices, the rest as "other". */
    if (n > 0)
        qsort(counts, n, sizeof(*counts), by_devices);
    for (size_t i = 0; i < n; i++) {
        if (i < LIMIT_SUMMARY_VERSIONS) {
            ret->versions[i] = counts[i];
            ret->version_count = i + 1;
            continue;
        }
        struct version_count *other = &ret->versions[LIMIT_SUMMARY_VERSIONS];
        if (i == LIMIT_SUMMARY_VERSIONS) {
            memset(other, 0, sizeof(*other));
            str_copy(other->version, sizeof(other->version), "other");
            ret->version_count = i + 1;
        }
        other->devices += counts[i].devices;
        other->seen_day += counts[i].seen_day;
        other->seen_24h += counts[i].seen_24h;
        other->quiet += counts[i].quiet;
    }
    /* Today's devices per version, the same way, leaving out the versions nobody ran today. */
    if (n > 0)
        qsort(counts, n, sizeof(*counts), by_seen_day);
    for (size_t i = 0; i < n && counts[i].seen_day > 0; i++) {
        size_t k = i < LIMIT_SUMMARY_VERSIONS ? i : LIMIT_SUMMARY_VERSIONS;
        struct version_day *d = &ret->today[k];
        if (i <= LIMIT_SUMMARY_VERSIONS) {
            d->day = dashboard_day(now_ms);
            d->devices = 0;
            str_copy(d->version, sizeof(d->version),
                     i < LIMIT_SUMMARY_VERSIONS ? counts[i].version : "other");
            ret->today_count = k + 1;
        }
        d->devices += counts[i].seen_day;
    }
    free(counts);
    return 0;
}

/* Writes S's today to the version history, dropping the days past the kept ones. */
static int write_history(struct db *db, const struct fleet_summary *s)
{
    int64_t day = dashboard_day(s->computed_ms);
    return db_version_day_put(db, s->product_id, day, s->today, s->today_count,
                              day - (LIMIT_VERSION_HISTORY_KEPT - 1));
}

/* The figures slot of PRODUCT_ID under the lock, added when missing; NULL on -ENOMEM. */
static struct product_figures *figures_of(struct dashboard *d, int64_t product_id)
{
    for (size_t i = 0; i < d->product_count; i++)
        if (d->products[i].summary.product_id == product_id)
            return &d->products[i];
    struct product_figures *grown =
        realloc(d->products, (d->product_count + 1) * sizeof(*d->products));
    if (!grown)
        return NULL;
    d->products = grown;
    struct product_figures *f = &d->products[d->product_count++];
    memset(f, 0, sizeof(*f));
    f->summary.product_id = product_id;
    return f;
}

/*
 * One pass: every product's figures, and its history when an hour has gone
 * since this process last wrote it, the day changed, or FINAL (stopping).
 */
static void pass(struct dashboard *d, bool final)
{
    struct product *products = NULL;
    size_t n = 0;
    if (db_product_list(d->db, &products, &n) < 0) {
        log_error("dashboard: cannot list the products; the figures stay as they were");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct fleet_summary s;
        int64_t now = d->now(d->now_ctx);
        if (dashboard_compute(d->db, products[i].id, now, &s) < 0)
            continue; /* logged by the database */
        pthread_mutex_lock(&d->lock);
        struct product_figures *f = figures_of(d, products[i].id);
        bool write = false;
        if (f) {
            f->summary = s;
            write = final || !f->history_written_ms || f->history_day != dashboard_day(now) ||
                    now - f->history_written_ms >= HISTORY_WRITE_MS;
        }
        pthread_mutex_unlock(&d->lock);
        if (!write)
            continue;
        if (write_history(d->db, &s) < 0) {
            log_error("dashboard: cannot record the version history of product %s",
                      products[i].name);
            continue;
        }
        pthread_mutex_lock(&d->lock);
        if ((f = figures_of(d, products[i].id))) {
            f->history_written_ms = now;
            f->history_day = dashboard_day(now);
        }
        pthread_mutex_unlock(&d->lock);
    }
    free(products);
}

static void *dashboard_main(void *arg)
{
    struct dashboard *d = arg;
    for (;;) {
        struct timespec started;
        clock_gettime(CLOCK_MONOTONIC, &started);
        pass(d, false);
        struct timespec ended;
        clock_gettime(CLOCK_MONOTONIC, &ended);
        int64_t took_ms =
            (ended.tv_sec - started.tv_sec) * 1000 + (ended.tv_nsec - started.tv_nsec) / 1000000;
        int64_t gap = took_ms * PASS_GAP_FACTOR;
        gap = gap < PASS_GAP_MIN_MS   ? PASS_GAP_MIN_MS
              : gap > PASS_GAP_MAX_MS ? PASS_GAP_MAX_MS
                                      : gap;
        struct timespec deadline;
        mono_deadline_ms(&deadline, gap);
        pthread_mutex_lock(&d->lock);
        while (!d->stopping)
            if (pthread_cond_timedwait(&d->wake, &d->lock, &deadline) == ETIMEDOUT)
                break;
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->lock);
        if (stop)
            break;
    }
    pass(d, true); /* today's history as it stands: a restart loses nothing */
    return NULL;
}

int dashboard_start(const char *db_path, unsigned statement_timeout_ms, int64_t (*now)(void *ctx),
                    void *ctx, struct dashboard **ret_dashboard)
{
    struct dashboard *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->now = now;
    d->now_ctx = ctx;
    int r = -pthread_mutex_init(&d->lock, NULL);
    if (r < 0)
        goto free_d;
    if ((r = mono_cond_init(&d->wake)) < 0)
        goto destroy_lock;
    if ((r = db_open_timed(db_path, DB_RELAXED, statement_timeout_ms, DB_TIMEOUT_LOCK_WAITS,
                           &d->db)) < 0)
        goto destroy_cond;
    if ((r = -pthread_create(&d->thread, NULL, dashboard_main, d)) < 0)
        goto close_db;
    pthread_setname_np(d->thread, "otad-dashboard"); /* top -H, perf: which thread works */
    *ret_dashboard = d;
    return 0;
close_db:
    db_close(d->db);
destroy_cond:
    pthread_cond_destroy(&d->wake);
destroy_lock:
    pthread_mutex_destroy(&d->lock);
free_d:
    free(d);
    return r;
}

int dashboard_get(struct dashboard *d, int64_t product_id, struct fleet_summary *ret)
{
    int r = -ENOENT;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->product_count; i++)
        if (d->products[i].summary.product_id == product_id && d->products[i].summary.computed_ms) {
            *ret = d->products[i].summary;
            r = 0;
            break;
        }
    pthread_mutex_unlock(&d->lock);
    return r;
}

void dashboard_stop(struct dashboard *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    db_close(d->db);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d->products);
    free(d);
}
