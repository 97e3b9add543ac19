/*
 * The TLS session cache (tls_cache.h): a chained hash table over session
 * IDs, keyed with a random SipHash key so a peer choosing IDs cannot pile
 * them into one bucket, and a list in store order for eviction. One mutex:
 * a lookup is a hash and a short chain, next to a handshake's public-key
 * operations it does not show.
 */
#include "http/tls_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/siphash.h"
#include "core/util.h"

struct cache_entry {
    struct cache_entry *chain; /* next in the bucket */
    struct cache_entry *older; /* toward the list's oldest end */
    struct cache_entry *newer; /* toward its newest end */
    uint64_t stored_ms;
    uint8_t id[LIMIT_TLS_SESSION_ID_BYTES];
    uint8_t id_len;
    size_t len;
    uint8_t data[]; /* the session as the TLS library serialized it */
};

struct tls_session_cache {
    pthread_mutex_t lock;
    size_t capacity;
    uint64_t lifetime_ms;
    uint64_t hash_key[2];
    struct cache_entry **buckets;
    size_t bucket_mask; /* bucket count - 1, a power of two */
    struct cache_entry *oldest, *newest;
    size_t count;
};

int tls_session_cache_new(size_t capacity, uint64_t lifetime_ms,
                          struct tls_session_cache **ret_cache)
{
    struct tls_session_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    size_t buckets = 16;
    while (buckets < capacity && buckets < ((size_t)1 << 30))
        buckets <<= 1;
    c->buckets = calloc(buckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return -ENOMEM;
    }
    if (random_bytes(c->hash_key, sizeof(c->hash_key)) < 0) {
        free(c->buckets);
        free(c);
        return -EIO;
    }
    c->bucket_mask = buckets - 1;
    c->capacity = capacity;
    c->lifetime_ms = lifetime_ms;
    pthread_mutex_init(&c->lock, NULL);
    *ret_cache = c;
    return 0;
}

static void entry_wipe_free(struct cache_entry *e)
{
    /* A session holds its master secret: it does not outlive the cache in freed memory. */
    explicit_bzero(e->data, e->len);
    free(e);
}

void tls_session_cache_free(struct tls_session_cache *c)
{
    if (!c)
        return;
    for (struct cache_entry *e = c->oldest, *next; e; e = next) {
        next = e->newer;
        entry_wipe_free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct cache_entry **bucket_of(struct tls_session_cache *c, const uint8_t *id, size_t len)
{
    return &c->buckets[siphash24(c->hash_key, id, len) & c->bucket_mask];
}

/* The link that points at the entry for ID (or at NULL, the chain's end). */
static struct cache_entry **entry_link(struct tls_session_cache *c, const uint8_t *id, size_t len)
{
    struct cache_entry **link = bucket_of(c, id, len);
    while (*link && !((*link)->id_len == len && memcmp((*link)->id, id, len) == 0))
        link = &(*link)->chain;
    return link;
}

/* Unlinks the entry at LINK from its chain and from the age list, and frees it. */
static void entry_drop(struct tls_session_cache *c, struct cache_entry **link)
{
    struct cache_entry *e = *link;
    *link = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
    entry_wipe_free(e);
}

static bool id_valid(size_t id_len)
{
    return id_len >= 1 && id_len <= LIMIT_TLS_SESSION_ID_BYTES;
}

int tls_session_cache_store(struct tls_session_cache *c, const uint8_t *id, size_t id_len,
                            const uint8_t *data, size_t len, uint64_t now_ms)
{
    if (!id_valid(id_len) || len == 0 || len > LIMIT_TLS_SESSION_BYTES)
        return -EINVAL;
    if (c->capacity == 0)
        return -ENOSPC;
    struct cache_entry *e = malloc(sizeof(*e) + len);
    if (!e)
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    memcpy(e->id, id, id_len);
    e->id_len = (uint8_t)id_len;
    e->len = len;
    e->stored_ms = now_ms;
    memcpy(e->data, data, len);

    pthread_mutex_lock(&c->lock);
    struct cache_entry **link = entry_link(c, id, id_len);
    if (*link)
        entry_drop(c, link);
    if (c->count == c->capacity)
        entry_drop(c, entry_link(c, c->oldest->id, c->oldest->id_len));
    link = bucket_of(c, id, id_len);
    e->chain = *link;
    *link = e;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int tls_session_cache_fetch(struct tls_session_cache *c, const uint8_t *id, size_t id_len,
                            uint64_t now_ms, uint8_t **ret_data, size_t *ret_len)
{
    if (!id_valid(id_len))
        return -ENOENT;
    int r = -ENOENT;
    pthread_mutex_lock(&c->lock);
    struct cache_entry **link = entry_link(c, id, id_len);
    struct cache_entry *e = *link;
    if (e && (now_ms < e->stored_ms || now_ms - e->stored_ms >= c->lifetime_ms)) {
        entry_drop(c, link); /* expired (or the clock went back): never resumed */
    } else if (e) {
        uint8_t *copy = malloc(e->len);
        if (copy) {
            memcpy(copy, e->data, e->len);
            *ret_data = copy;
            *ret_len = e->len;
            r = 0;
        } else {
            r = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

void tls_session_cache_remove(struct tls_session_cache *c, const uint8_t *id, size_t id_len)
{
    if (!id_valid(id_len))
        return;
    pthread_mutex_lock(&c->lock);
    struct cache_entry **link = entry_link(c, id, id_len);
    if (*link)
        entry_drop(c, link);
    pthread_mutex_unlock(&c->lock);
}

size_t tls_session_cache_count(struct tls_session_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}
