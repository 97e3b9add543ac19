/*
 * The standing table (tracker.h): TRACKER_STRIPES stripes, each an
 * open-addressing table (linear probing, backward-shift deletion) under its
 * own mutex. A device's stripe and slot come from a seeded mix of its MAC
 * and product: MACs are chosen by peers.
 */
#include "service/tracker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define TRACKER_STRIPES 64u

struct stripe {
    pthread_mutex_t lock;
    struct standing *slots; /* nslots entries; mac == 0 && product_id == 0: empty */
    size_t nslots, count;   /* nslots 0 or a power of two; count <= nslots / 2 */
};

struct tracker {
    uint64_t seed;
    atomic_size_t total; /* standings held: a check-in skips the lookup while 0 */
    struct stripe stripes[TRACKER_STRIPES];
};

static bool slot_empty(const struct standing *s)
{
    return s->product_id == 0;
}

static uint64_t device_hash(const struct tracker *t, int64_t product_id, uint64_t mac)
{
    return hash_mix64(hash_mix64(mac ^ t->seed) ^ (uint64_t)product_id);
}

static struct stripe *stripe_of(struct tracker *t, uint64_t h)
{
    return &t->stripes[h % TRACKER_STRIPES];
}

/* The slot holding the device, or NULL. Stripe locked. */
static struct standing *find(struct stripe *st, uint64_t h, int64_t product_id, uint64_t mac)
{
    if (!st->nslots)
        return NULL;
    size_t mask = st->nslots - 1;
    for (size_t i = (h / TRACKER_STRIPES) & mask;; i = (i + 1) & mask) {
        struct standing *s = &st->slots[i];
        if (slot_empty(s))
            return NULL;
        if (s->product_id == product_id && s->mac == mac)
            return s;
    }
}

static int grow(struct tracker *t, struct stripe *st)
{
    size_t n = st->nslots ? st->nslots * 2 : 64;
    struct standing *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < st->nslots; i++) {
        const struct standing *s = &st->slots[i];
        if (slot_empty(s))
            continue;
        size_t j = (device_hash(t, s->product_id, s->mac) / TRACKER_STRIPES) & (n - 1);
        while (!slot_empty(&slots[j]))
            j = (j + 1) & (n - 1);
        slots[j] = *s;
    }
    free(st->slots);
    st->slots = slots;
    st->nslots = n;
    return 0;
}

/* Stores S (new or replacing). Stripe locked. -ENOMEM. */
static int store(struct tracker *t, struct stripe *st, uint64_t h, const struct standing *s)
{
    struct standing *slot = find(st, h, s->product_id, s->mac);
    if (slot) {
        *slot = *s;
        return 0;
    }
    if ((st->count + 1) * 2 > st->nslots) {
        int r = grow(t, st);
        if (r < 0)
            return r;
    }
    size_t mask = st->nslots - 1;
    size_t i = (h / TRACKER_STRIPES) & mask;
    while (!slot_empty(&st->slots[i]))
        i = (i + 1) & mask;
    st->slots[i] = *s;
    st->count++;
    atomic_fetch_add_explicit(&t->total, 1, memory_order_relaxed);
    return 0;
}

/* Empties SLOT and shifts back the entries that probed past it. Stripe locked. */
static void erase(struct tracker *t, struct stripe *st, struct standing *slot)
{
    size_t mask = st->nslots - 1;
    size_t hole = (size_t)(slot - st->slots);
    for (size_t i = (hole + 1) & mask; !slot_empty(&st->slots[i]); i = (i + 1) & mask) {
        size_t home =
            (device_hash(t, st->slots[i].product_id, st->slots[i].mac) / TRACKER_STRIPES) & mask;
        /* Move it when its home is not within (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            st->slots[hole] = st->slots[i];
            hole = i;
        }
    }
    memset(&st->slots[hole], 0, sizeof(st->slots[hole]));
    st->count--;
    atomic_fetch_sub_explicit(&t->total, 1, memory_order_relaxed);
}

int tracker_new(struct tracker **ret)
{
    struct tracker *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (random_bytes(&t->seed, sizeof(t->seed)) < 0)
        t->seed = (uint64_t)time_mono_ms() * 0x9e3779b97f4a7c15ull;
    for (unsigned i = 0; i < TRACKER_STRIPES; i++)
        pthread_mutex_init(&t->stripes[i].lock, NULL);
    *ret = t;
    return 0;
}

void tracker_free(struct tracker *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < TRACKER_STRIPES; i++) {
        pthread_mutex_destroy(&t->stripes[i].lock);
        free(t->stripes[i].slots);
    }
    free(t);
}

int tracker_put(struct tracker *t, const struct standing *s)
{
    if (s->product_id == 0)
        return -EINVAL;
    uint64_t h = device_hash(t, s->product_id, s->mac);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    int r = store(t, st, h, s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int tracker_offer(struct tracker *t, const struct standing *s)
{
    struct standing copy = *s;
    copy.outcome = OUTCOME_OFFERED;
    return tracker_put(t, &copy);
}

bool tracker_empty(struct tracker *t)
{
    return atomic_load_explicit(&t->total, memory_order_relaxed) == 0;
}

bool tracker_get(struct tracker *t, int64_t product_id, uint64_t mac, struct standing *ret)
{
    uint64_t h = device_hash(t, product_id, mac);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    const struct standing *s = find(st, h, product_id, mac);
    if (s)
        *ret = *s;
    pthread_mutex_unlock(&st->lock);
    return s != NULL;
}

bool tracker_observe(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                     int64_t running_release_id, int64_t now_ms, struct fleet_event *ret_event)
{
    uint64_t h = device_hash(t, product_id, mac);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    struct standing *s = find(st, h, product_id, mac);
    bool decided = false;
    if (s && s->mode == mode) {
        enum device_outcome outcome = s->outcome;
        if (running_release_id && running_release_id == s->release_id)
            outcome = OUTCOME_SUCCEEDED;
        else if (s->outcome == OUTCOME_SERVED || s->outcome == OUTCOME_SILENT)
            outcome = OUTCOME_FAILED;
        if (outcome != s->outcome) {
            memset(ret_event, 0, sizeof(*ret_event));
            ret_event->kind = FLEET_EVENT_OUTCOME;
            ret_event->product_id = product_id;
            ret_event->mac = mac;
            ret_event->rollout_id = s->rollout_id;
            ret_event->release_id = s->release_id;
            ret_event->stage = s->stage;
            ret_event->outcome = outcome;
            ret_event->at_ms = now_ms;
            decided = true;
            if (outcome == OUTCOME_SUCCEEDED)
                erase(t, st, s);
            else
                s->outcome = outcome;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return decided;
}

bool tracker_failed(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id)
{
    struct standing s;
    return tracker_get(t, product_id, mac, &s) && s.rollout_id == rollout_id &&
           s.outcome == OUTCOME_FAILED;
}

bool tracker_failed_release(struct tracker *t, int64_t product_id, uint64_t mac, int64_t release_id)
{
    struct standing s;
    return tracker_get(t, product_id, mac, &s) && s.release_id == release_id &&
           s.outcome == OUTCOME_FAILED;
}

bool tracker_delivered(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id,
                       bool complete)
{
    uint64_t h = device_hash(t, product_id, mac);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    struct standing *s = find(st, h, product_id, mac);
    bool changed = s && s->rollout_id == rollout_id &&
                   (s->outcome == OUTCOME_OFFERED || s->outcome == OUTCOME_INTERRUPTED);
    if (changed)
        s->outcome = complete ? OUTCOME_SERVED : OUTCOME_INTERRUPTED;
    pthread_mutex_unlock(&st->lock);
    return changed;
}

void tracker_mark_silent(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id)
{
    uint64_t h = device_hash(t, product_id, mac);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    struct standing *s = find(st, h, product_id, mac);
    if (s && s->rollout_id == rollout_id && s->outcome == OUTCOME_SERVED)
        s->outcome = OUTCOME_SILENT;
    pthread_mutex_unlock(&st->lock);
}

size_t tracker_count(struct tracker *t)
{
    size_t n = 0;
    for (unsigned k = 0; k < TRACKER_STRIPES; k++) {
        pthread_mutex_lock(&t->stripes[k].lock);
        n += t->stripes[k].count;
        pthread_mutex_unlock(&t->stripes[k].lock);
    }
    return n;
}
