/*
 * The tracker's table (tracker.h): TRACKER_STRIPES stripes, each an
 * open-addressing table (linear probing, backward-shift deletion) under its
 * own mutex. An entry's key is (product, MAC, kind): kind 0 and 1 are the
 * open standings of the sketch and the filesystem, a negative kind is a
 * failure, -release_id. A device's stripe and slot come from a seeded mix
 * of the key: MACs are chosen by peers.
 */
#include "service/tracker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define TRACKER_STRIPES 64u

struct entry {
    int64_t kind;      /* 0 / 1: open standing of that mode; < 0: failure of release -kind */
    struct standing s; /* s.product_id 0: an empty slot */
};

struct stripe {
    pthread_mutex_t lock;
    struct entry *slots; /* nslots: 0 or a power of two; count <= nslots / 2 */
    size_t nslots, count;
};

struct tracker {
    uint64_t seed;
    size_t max_entries;
    atomic_size_t total; /* entries held: a check-in skips the lookup while 0 */
    struct stripe stripes[TRACKER_STRIPES];
};

static int64_t standing_kind(enum fw_mode mode)
{
    return (int64_t)mode;
}

static int64_t failure_kind(int64_t release_id)
{
    return -release_id;
}

static bool slot_empty(const struct entry *e)
{
    return e->s.product_id == 0;
}

static uint64_t key_hash(const struct tracker *t, int64_t product_id, uint64_t mac, int64_t kind)
{
    return hash_mix64(hash_mix64(hash_mix64(mac ^ t->seed) ^ (uint64_t)product_id) ^
                      (uint64_t)kind);
}

static struct stripe *stripe_of(struct tracker *t, uint64_t h)
{
    return &t->stripes[h % TRACKER_STRIPES];
}

static size_t home(uint64_t h, size_t nslots)
{
    return (size_t)(h / TRACKER_STRIPES) & (nslots - 1);
}

/* The entry of the key, or NULL. Stripe locked. */
static struct entry *find(struct stripe *st, uint64_t h, int64_t product_id, uint64_t mac,
                          int64_t kind)
{
    if (!st->nslots)
        return NULL;
    size_t mask = st->nslots - 1;
    for (size_t i = home(h, st->nslots);; i = (i + 1) & mask) {
        struct entry *e = &st->slots[i];
        if (slot_empty(e))
            return NULL;
        if (e->s.product_id == product_id && e->s.mac == mac && e->kind == kind)
            return e;
    }
}

static int grow(struct tracker *t, struct stripe *st)
{
    size_t n = st->nslots ? st->nslots * 2 : 64;
    struct entry *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < st->nslots; i++) {
        const struct entry *e = &st->slots[i];
        if (slot_empty(e))
            continue;
        size_t j = home(key_hash(t, e->s.product_id, e->s.mac, e->kind), n);
        while (!slot_empty(&slots[j]))
            j = (j + 1) & (n - 1);
        slots[j] = *e;
    }
    free(st->slots);
    st->slots = slots;
    st->nslots = n;
    return 0;
}

/* Stores S under KIND (new or replacing). Stripe locked. -ENOMEM, -ENOBUFS. */
static int store(struct tracker *t, struct stripe *st, uint64_t h, int64_t kind,
                 const struct standing *s)
{
    struct entry *e = find(st, h, s->product_id, s->mac, kind);
    if (e) {
        e->s = *s;
        return 0;
    }
    if (atomic_load_explicit(&t->total, memory_order_relaxed) >= t->max_entries)
        return -ENOBUFS;
    if ((st->count + 1) * 2 > st->nslots) {
        int r = grow(t, st);
        if (r < 0)
            return r;
    }
    size_t mask = st->nslots - 1;
    size_t i = home(h, st->nslots);
    while (!slot_empty(&st->slots[i]))
        i = (i + 1) & mask;
    st->slots[i] = (struct entry){kind, *s};
    st->count++;
    atomic_fetch_add_explicit(&t->total, 1, memory_order_relaxed);
    return 0;
}

/* Empties E and shifts back the entries that probed past it. Stripe locked. */
static void erase(struct tracker *t, struct stripe *st, struct entry *e)
{
    size_t mask = st->nslots - 1;
    size_t hole = (size_t)(e - st->slots);
    for (size_t i = (hole + 1) & mask; !slot_empty(&st->slots[i]); i = (i + 1) & mask) {
        const struct entry *x = &st->slots[i];
        size_t want = home(key_hash(t, x->s.product_id, x->s.mac, x->kind), st->nslots);
        /* Move it when its home is not within (hole, i]. */
        if (((i - want) & mask) >= ((i - hole) & mask)) {
            st->slots[hole] = st->slots[i];
            hole = i;
        }
    }
    memset(&st->slots[hole], 0, sizeof(st->slots[hole]));
    st->count--;
    atomic_fetch_sub_explicit(&t->total, 1, memory_order_relaxed);
}

int tracker_new(size_t max_entries, struct tracker **ret)
{
    struct tracker *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (random_bytes(&t->seed, sizeof(t->seed)) < 0)
        t->seed = (uint64_t)time_mono_ms() * 0x9e3779b97f4a7c15ull;
    t->max_entries = max_entries;
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

/* Stores S under KIND, its stripe locked for the call. */
static int put_kind(struct tracker *t, int64_t kind, const struct standing *s)
{
    if (s->product_id == 0)
        return -EINVAL;
    uint64_t h = key_hash(t, s->product_id, s->mac, kind);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    int r = store(t, st, h, kind, s);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int tracker_put(struct tracker *t, const struct standing *s)
{
    if (s->outcome == OUTCOME_FAILED)
        return put_kind(t, failure_kind(s->release_id), s);
    return put_kind(t, standing_kind(s->mode), s);
}

int tracker_offer(struct tracker *t, const struct standing *s)
{
    struct standing copy = *s;
    copy.outcome = OUTCOME_OFFERED;
    return put_kind(t, standing_kind(s->mode), &copy);
}

bool tracker_empty(struct tracker *t)
{
    return atomic_load_explicit(&t->total, memory_order_relaxed) == 0;
}

/* Copies the entry of the key into *RET (may be NULL): true when there is one. */
static bool lookup(struct tracker *t, int64_t product_id, uint64_t mac, int64_t kind,
                   struct standing *ret)
{
    uint64_t h = key_hash(t, product_id, mac, kind);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    const struct entry *e = find(st, h, product_id, mac, kind);
    if (e && ret)
        *ret = e->s;
    pthread_mutex_unlock(&st->lock);
    return e != NULL;
}

bool tracker_get(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                 struct standing *ret)
{
    return lookup(t, product_id, mac, standing_kind(mode), ret);
}

bool tracker_failed(struct tracker *t, int64_t product_id, uint64_t mac, int64_t release_id)
{
    return lookup(t, product_id, mac, failure_kind(release_id), NULL);
}

bool tracker_observe(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                     int64_t running_release_id, int64_t now_ms, struct fleet_event *ret_event)
{
    int64_t kind = standing_kind(mode);
    uint64_t h = key_hash(t, product_id, mac, kind);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    struct entry *e = find(st, h, product_id, mac, kind);
    struct standing s = {0};
    enum device_outcome outcome = OUTCOME_OFFERED;
    if (e) {
        s = e->s;
        outcome = s.outcome;
        if (running_release_id && running_release_id == s.release_id)
            outcome = OUTCOME_SUCCEEDED;
        else if (s.outcome == OUTCOME_SERVED || s.outcome == OUTCOME_SILENT)
            outcome = OUTCOME_FAILED;
        if (outcome != s.outcome)
            erase(t, st, e); /* decided: the standing is closed */
    }
    pthread_mutex_unlock(&st->lock);
    if (!e || outcome == s.outcome)
        return false;
    if (outcome == OUTCOME_FAILED) {
        s.outcome = OUTCOME_FAILED;
        /* Past the bound the failure is still in the database; the next start loads it. */
        put_kind(t, failure_kind(s.release_id), &s);
    }
    memset(ret_event, 0, sizeof(*ret_event));
    ret_event->kind = FLEET_EVENT_OUTCOME;
    ret_event->product_id = product_id;
    ret_event->mac = mac;
    ret_event->rollout_id = s.rollout_id;
    ret_event->release_id = s.release_id;
    ret_event->stage = s.stage;
    ret_event->outcome = outcome;
    ret_event->at_ms = now_ms;
    return true;
}

bool tracker_delivered(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                       int64_t rollout_id, bool complete)
{
    int64_t kind = standing_kind(mode);
    uint64_t h = key_hash(t, product_id, mac, kind);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    struct entry *e = find(st, h, product_id, mac, kind);
    bool changed = e && e->s.rollout_id == rollout_id &&
                   (e->s.outcome == OUTCOME_OFFERED || e->s.outcome == OUTCOME_INTERRUPTED);
    if (changed)
        e->s.outcome = complete ? OUTCOME_SERVED : OUTCOME_INTERRUPTED;
    pthread_mutex_unlock(&st->lock);
    return changed;
}

void tracker_mark_silent(struct tracker *t, int64_t product_id, uint64_t mac, int64_t rollout_id)
{
    for (int mode = FW_MODE_SKETCH; mode <= FW_MODE_FS; mode++) {
        int64_t kind = standing_kind((enum fw_mode)mode);
        uint64_t h = key_hash(t, product_id, mac, kind);
        struct stripe *st = stripe_of(t, h);
        pthread_mutex_lock(&st->lock);
        struct entry *e = find(st, h, product_id, mac, kind);
        if (e && e->s.rollout_id == rollout_id && e->s.outcome == OUTCOME_SERVED)
            e->s.outcome = OUTCOME_SILENT;
        pthread_mutex_unlock(&st->lock);
    }
}

void tracker_close(struct tracker *t, int64_t product_id, uint64_t mac, enum fw_mode mode,
                   int64_t rollout_id)
{
    int64_t kind = standing_kind(mode);
    uint64_t h = key_hash(t, product_id, mac, kind);
    struct stripe *st = stripe_of(t, h);
    pthread_mutex_lock(&st->lock);
    struct entry *e = find(st, h, product_id, mac, kind);
    if (e && e->s.rollout_id == rollout_id)
        erase(t, st, e);
    pthread_mutex_unlock(&st->lock);
}

size_t tracker_count(struct tracker *t)
{
    return atomic_load_explicit(&t->total, memory_order_relaxed);
}
