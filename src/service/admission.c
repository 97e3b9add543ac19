/*
 * The registry's growth limits (admission.h): per-product device counts in
 * a small array (products are few), and the new devices of each address in
 * the current window in an open-addressing table that grows up to
 * 2 * max_addrs slots and is emptied when the window ends. The table's hash
 * is keyed with a per-process random seed: addresses are chosen by peers.
 */
#include "service/admission.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct addr_entry {
    uint8_t key[16]; /* IPv4 in the first 4 bytes; IPv6 /64 in the first 8 */
    uint8_t family;  /* 0 = empty slot, 4, 6, or 1 for "unparseable" */
    uint64_t added;  /* new devices in the current window */
};

struct product_count {
    int64_t id;
    uint64_t devices;
};

struct admission {
    struct admission_limits limits;
    size_t max_addrs;
    uint64_t seed;
    struct addr_entry *slots; /* power-of-two count, or NULL before the first address */
    size_t nslots, used;
    int64_t window_start_ms;
    bool window_open;
    struct product_count *products;
    size_t product_count, product_cap;
};

int admission_new(const struct admission_limits *limits, size_t max_addrs,
                  struct admission **ret_admission)
{
    if (max_addrs == 0 || max_addrs > SIZE_MAX / 4 / sizeof(struct addr_entry))
        return -EINVAL;
    struct admission *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->limits = *limits;
    a->max_addrs = max_addrs;
    if (random_bytes(&a->seed, sizeof(a->seed)) < 0)
        a->seed = (uint64_t)(uintptr_t)a ^ (uint64_t)time_mono_ms(); /* still per process */
    *ret_admission = a;
    return 0;
}

void admission_free(struct admission *a)
{
    if (!a)
        return;
    free(a->slots);
    free(a->products);
    free(a);
}

static struct product_count *product_find(const struct admission *a, int64_t id)
{
    for (size_t i = 0; i < a->product_count; i++)
        if (a->products[i].id == id)
            return &a->products[i];
    return NULL;
}

bool admission_needs_count(const struct admission *a, int64_t product_id)
{
    return a->limits.max_per_product > 0 && !product_find(a, product_id);
}

int admission_set_devices(struct admission *a, int64_t product_id, uint64_t devices)
{
    struct product_count *p = product_find(a, product_id);
    if (!p) {
        if (a->product_count == a->product_cap) {
            size_t cap = a->product_cap ? a->product_cap * 2 : 8;
            struct product_count *n = realloc(a->products, cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            a->products = n;
            a->product_cap = cap;
        }
        p = &a->products[a->product_count++];
        p->id = product_id;
    }
    p->devices = devices;
    return 0;
}

void admission_forget_counts(struct admission *a)
{
    a->product_count = 0;
}

/* The key ADDR is counted under: IPv4, an IPv6 /64, or "unparseable". */
static void addr_key(const char *addr, struct addr_entry *ret)
{
    memset(ret, 0, sizeof(*ret));
    struct in6_addr v6;
    struct in_addr v4;
    if (inet_pton(AF_INET, addr, &v4) == 1) {
        memcpy(ret->key, &v4, 4);
        ret->family = 4;
    } else if (inet_pton(AF_INET6, addr, &v6) == 1) {
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(v6.s6_addr, v4mapped, sizeof(v4mapped)) == 0) {
            memcpy(ret->key, v6.s6_addr + 12, 4);
            ret->family = 4;
        } else {
            memcpy(ret->key, v6.s6_addr, 8);
            ret->family = 6;
        }
    } else {
        ret->family = 1;
    }
}

static size_t addr_hash(const struct admission *a, const struct addr_entry *e)
{
    uint64_t lo, hi;
    memcpy(&lo, e->key, 8);
    memcpy(&hi, e->key + 8, 8);
    return (size_t)hash_mix64(hash_mix64(lo ^ a->seed) ^ hi ^ e->family);
}

/* The slot holding KEY, or the empty slot where it belongs. NSLOTS > USED: one is empty. */
static struct addr_entry *addr_slot(const struct admission *a, struct addr_entry *slots,
                                    size_t nslots, const struct addr_entry *key)
{
    size_t mask = nslots - 1;
    for (size_t i = addr_hash(a, key) & mask;; i = (i + 1) & mask) {
        struct addr_entry *e = &slots[i];
        if (e->family == 0 || (e->family == key->family && memcmp(e->key, key->key, 16) == 0))
            return e;
    }
}

/* Room for one more address: grows the table up to 2 * max_addrs slots. -ENOSPC when full. */
static int addr_reserve(struct admission *a)
{
    if (a->used >= a->max_addrs)
        return -ENOSPC;
    if (a->slots && (a->used + 1) * 2 <= a->nslots)
        return 0;
    size_t nslots = a->nslots ? a->nslots * 2 : 64;
    struct addr_entry *slots = calloc(nslots, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < a->nslots; i++)
        if (a->slots[i].family)
            *addr_slot(a, slots, nslots, &a->slots[i]) = a->slots[i];
    free(a->slots);
    a->slots = slots;
    a->nslots = nslots;
    return 0;
}

enum admission_verdict admission_check(struct admission *a, int64_t product_id, const char *addr,
                                       int64_t now_ms)
{
    struct product_count *p = product_find(a, product_id);
    if (a->limits.max_per_product > 0 && p && p->devices >= a->limits.max_per_product)
        return ADMISSION_PRODUCT_FULL;

    if (a->limits.new_per_addr_per_minute > 0) {
        if (!a->window_open || now_ms - a->window_start_ms >= ADMISSION_WINDOW_MS) {
            if (a->slots)
                memset(a->slots, 0, a->nslots * sizeof(*a->slots));
            a->used = 0;
            a->window_start_ms = now_ms;
            a->window_open = true;
        }
        struct addr_entry key;
        addr_key(addr, &key);
        struct addr_entry *e = a->slots ? addr_slot(a, a->slots, a->nslots, &key) : NULL;
        if (!e || e->family == 0) {
            if (addr_reserve(a) < 0)
                return ADMISSION_ADDR_TABLE;
            e = addr_slot(a, a->slots, a->nslots, &key);
            *e = key;
            a->used++;
        }
        if (e->added >= a->limits.new_per_addr_per_minute)
            return ADMISSION_ADDR_RATE;
        e->added++;
    }
    if (p)
        p->devices++;
    return ADMISSION_OK;
}
