/*
 * The batched registry writer (registry.h). Two arrays swap roles: check-in
 * threads append to the active one under a mutex; the flusher takes it whole,
 * leaves an empty one in its place and commits without holding the mutex.
 */
#include "service/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

struct record_batch {
    struct device_record *items;
    size_t count, cap;
};

struct registry {
    struct db *db;
    unsigned flush_ms;
    size_t max_queued;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the flusher: time to commit, or stop */
    pthread_cond_t drained; /* producers and registry_flush: a batch was committed */
    struct record_batch queue;
    uint64_t enqueued; /* records accepted so far */
    uint64_t done;     /* records committed or failed so far */
    bool stopping;
    bool flush_now;
    struct registry_stats stats;
};

static int batch_push(struct record_batch *b, const struct device_record *rec, size_t max)
{
    if (b->count == b->cap) {
        if (b->cap >= max)
            return -ENOBUFS;
        size_t cap = b->cap ? b->cap * 2 : 256;
        if (cap > max)
            cap = max;
        struct device_record *n = realloc(b->items, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        b->items = n;
        b->cap = cap;
    }
    b->items[b->count++] = *rec;
    return 0;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *flusher_main(void *arg)
{
    struct registry *reg = arg;
    struct record_batch taken = {0};
    pthread_mutex_lock(&reg->lock);
    for (;;) {
        if (!reg->stopping && !reg->flush_now) {
            struct timespec ts;
            deadline_after(&ts, reg->flush_ms);
            pthread_cond_timedwait(&reg->wake, &reg->lock, &ts);
        }
        reg->flush_now = false;
        bool stop = reg->stopping;
        /* Swap: producers get the (empty) array we committed last time. */
        struct record_batch full = reg->queue;
        reg->queue = taken;
        reg->queue.count = 0;
        pthread_mutex_unlock(&reg->lock);

        int r = 0;
        if (full.count > 0)
            r = db_devices_record(reg->db, full.items, full.count, NULL, NULL, NULL);
        if (r < 0)
            log_error("registry: lost %zu check-ins: %s", full.count, strerror(-r));

        pthread_mutex_lock(&reg->lock);
        if (full.count > 0) {
            if (r < 0)
                reg->stats.failed += full.count;
            else
                reg->stats.recorded += full.count;
            reg->stats.commits++;
        }
        reg->done += full.count;
        /* Keep the larger array for reuse unless a storm made it huge. */
        if (full.cap > 4096 && reg->queue.count == 0) {
            free(full.items);
            full = (struct record_batch){0};
        }
        taken = full;
        pthread_cond_broadcast(&reg->drained);
        if (stop && reg->queue.count == 0)
            break;
    }
    pthread_mutex_unlock(&reg->lock);
    free(taken.items);
    return NULL;
}

int registry_start(const char *db_path, unsigned flush_ms, size_t max_queued,
                   struct registry **ret_registry)
{
    struct registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return -ENOMEM;
    reg->flush_ms = flush_ms;
    reg->max_queued = max_queued;
    pthread_mutex_init(&reg->lock, NULL);
    pthread_cond_init(&reg->wake, NULL);
    pthread_cond_init(&reg->drained, NULL);
    int r = db_open(db_path, DB_RELAXED, &reg->db);
    if (r < 0)
        goto fail;
    r = -pthread_create(&reg->thread, NULL, flusher_main, reg);
    if (r < 0)
        goto fail;
    *ret_registry = reg;
    return 0;
fail:
    db_close(reg->db);
    pthread_cond_destroy(&reg->wake);
    pthread_cond_destroy(&reg->drained);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
    return r;
}

int registry_record(struct registry *reg, const struct device_record *record)
{
    pthread_mutex_lock(&reg->lock);
    int r = batch_push(&reg->queue, record, reg->max_queued);
    if (r == -ENOBUFS) {
        /* Full: ask for a commit now and give it one interval to make room. */
        reg->flush_now = true;
        pthread_cond_signal(&reg->wake);
        struct timespec ts;
        deadline_after(&ts, reg->flush_ms);
        while (reg->queue.count >= reg->max_queued && !reg->stopping)
            if (pthread_cond_timedwait(&reg->drained, &reg->lock, &ts) != 0)
                break;
        r = batch_push(&reg->queue, record, reg->max_queued);
    }
    if (r == 0)
        reg->enqueued++;
    else
        reg->stats.dropped++;
    pthread_mutex_unlock(&reg->lock);
    return r < 0 ? -ENOBUFS : 0;
}

int registry_flush(struct registry *reg)
{
    pthread_mutex_lock(&reg->lock);
    uint64_t target = reg->enqueued;
    uint64_t failed_before = reg->stats.failed;
    reg->flush_now = true;
    pthread_cond_signal(&reg->wake);
    while (reg->done < target)
        pthread_cond_wait(&reg->drained, &reg->lock);
    int r = reg->stats.failed > failed_before ? -EIO : 0;
    pthread_mutex_unlock(&reg->lock);
    return r;
}

void registry_stats(struct registry *reg, struct registry_stats *ret_stats)
{
    pthread_mutex_lock(&reg->lock);
    *ret_stats = reg->stats;
    pthread_mutex_unlock(&reg->lock);
}

void registry_stop(struct registry *reg)
{
    if (!reg)
        return;
    pthread_mutex_lock(&reg->lock);
    reg->stopping = true;
    pthread_cond_signal(&reg->wake);
    pthread_mutex_unlock(&reg->lock);
    pthread_join(reg->thread, NULL);
    free(reg->queue.items);
    db_close(reg->db);
    pthread_cond_destroy(&reg->wake);
    pthread_cond_destroy(&reg->drained);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}
