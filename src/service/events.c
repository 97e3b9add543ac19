/*
 * The bounded event queue (events.h): a ring of fixed-size slots allocated
 * once, a lock held for a copy, and a condition the taker waits on. An
 * event's JSON is serialized before the lock is taken, so an emitter holds
 * the lock only for a memcpy.
 */
#include "service/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/mono.h"
#include "core/util.h"

static const char *const kind_names[EVENT_KIND_COUNT] = {
    [EVENT_PING] = "ping",
    [EVENT_ROLLOUT_HALTED] = "rollout.halted",
    [EVENT_ROLLOUT_PROMOTED] = "rollout.promoted",
    [EVENT_ROLLOUT_COMPLETED] = "rollout.completed",
    [EVENT_RELEASE_PUBLISHED] = "release.published",
    [EVENT_SOURCE_FAILING] = "source.failing",
    [EVENT_SOURCE_RECOVERED] = "source.recovered",
};

struct events {
    pthread_mutex_t lock; /* guards every field below */
    pthread_cond_t ready; /* CLOCK_MONOTONIC: an event arrived, or a wake */
    struct event *ring;   /* CAPACITY slots */
    size_t capacity, head, count;
    bool woken;
    uint64_t emitted, dropped;
};

const char *event_kind_name(enum event_kind kind)
{
    return (unsigned)kind < EVENT_KIND_COUNT ? kind_names[kind] : "?";
}

int event_kind_parse(const char *name, enum event_kind *ret)
{
    for (unsigned k = 0; k < EVENT_KIND_COUNT; k++) {
        if (strcmp(kind_names[k], name) == 0) {
            *ret = (enum event_kind)k;
            return 0;
        }
    }
    return -ENOENT;
}

int events_new(size_t capacity, struct events **ret_events)
{
    if (capacity == 0)
        return -EINVAL;
    struct events *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    if (!(q->ring = calloc(capacity, sizeof(*q->ring)))) {
        free(q);
        return -ENOMEM;
    }
    q->capacity = capacity;
    int r = -pthread_mutex_init(&q->lock, NULL);
    if (r < 0) {
        free(q->ring);
        free(q);
        return r;
    }
    if ((r = mono_cond_init(&q->ready)) < 0) {
        pthread_mutex_destroy(&q->lock);
        free(q->ring);
        free(q);
        return r;
    }
    *ret_events = q;
    return 0;
}

void events_free(struct events *q)
{
    if (!q)
        return;
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
}

int events_emit(struct events *q, enum event_kind kind, const char *product, json_t *data)
{
    if (!q) {
        json_decref(data);
        return 0;
    }
    /* Serialized outside the lock: the slot gets a copy of the text. */
    char text[LIMIT_EVENT_DATA_BYTES];
    size_t len = data ? json_dumpb(data, text, sizeof(text), JSON_COMPACT) : 2;
    if (!data)
        memcpy(text, "{}", 2);
    json_decref(data);
    int r = 0;
    pthread_mutex_lock(&q->lock);
    if (len == 0 || len >= sizeof(text)) {
        r = -EFBIG; /* json_dumpb says 0 on failure, the size it needs when it does not fit */
    } else if (q->count == q->capacity) {
        r = -ENOBUFS;
    } else {
        struct event *e = &q->ring[(q->head + q->count) % q->capacity];
        e->kind = kind;
        e->at_ms = time_now_ms();
        str_copy(e->product, sizeof(e->product), product ? product : "");
        memcpy(e->data, text, len);
        e->data[len] = 0;
        q->count++;
        q->emitted++;
        pthread_cond_signal(&q->ready);
    }
    if (r < 0)
        q->dropped++;
    pthread_mutex_unlock(&q->lock);
    return r;
}

int events_take(struct events *q, struct event *ret, int64_t wait_ms)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == 0 && wait_ms > 0 && !q->woken) {
        struct timespec deadline;
        mono_deadline_ms(&deadline, wait_ms);
        while (q->count == 0 && !q->woken)
            if (pthread_cond_timedwait(&q->ready, &q->lock, &deadline) == ETIMEDOUT)
                break;
    }
    q->woken = false;
    int took = 0;
    if (q->count > 0) {
        *ret = q->ring[q->head];
        q->head = (q->head + 1) % q->capacity;
        q->count--;
        took = 1;
    }
    pthread_mutex_unlock(&q->lock);
    return took;
}

void events_wake(struct events *q)
{
    pthread_mutex_lock(&q->lock);
    q->woken = true;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

void events_stats(struct events *q, struct events_stats *ret)
{
    pthread_mutex_lock(&q->lock);
    ret->emitted = q->emitted;
    ret->dropped = q->dropped;
    ret->queued = q->count;
    pthread_mutex_unlock(&q->lock);
}
