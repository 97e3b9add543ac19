/*
 * The partial-download pins (partial.h): a direct-mapped table of the form
 * each ESP-IDF device's download began on, keyed by product and MAC.
 */
#include "service/partial.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct partial_pin {
    int64_t product_id; /* 0: free */
    uint64_t mac;
    int64_t began_ms;
    char sha256[SHA256_HEX_LEN + 1];
};

struct partial_downloads {
    pthread_mutex_t lock;
    struct partial_pin pins[PARTIAL_DOWNLOAD_SLOTS];
};

int partial_downloads_new(struct partial_downloads **ret)
{
    struct partial_downloads *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    int r = -pthread_mutex_init(&p->lock, NULL);
    if (r < 0) {
        free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void partial_downloads_free(struct partial_downloads *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static struct partial_pin *slot(struct partial_downloads *p, int64_t product_id, uint64_t mac)
{
    uint64_t h = (mac ^ ((uint64_t)product_id << 48)) * 0x9E3779B97F4A7C15ull;
    return &p->pins[(h >> 32) % PARTIAL_DOWNLOAD_SLOTS];
}

void partial_download_begin(struct partial_downloads *p, int64_t product_id, uint64_t mac,
                            const char *sha256, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    struct partial_pin *pin = slot(p, product_id, mac);
    pin->product_id = product_id;
    pin->mac = mac;
    pin->began_ms = now_ms;
    snprintf(pin->sha256, sizeof(pin->sha256), "%s", sha256);
    pthread_mutex_unlock(&p->lock);
}

bool partial_download_pinned(struct partial_downloads *p, int64_t product_id, uint64_t mac,
                             int64_t now_ms, char sha256[SHA256_HEX_LEN + 1])
{
    pthread_mutex_lock(&p->lock);
    const struct partial_pin *pin = slot(p, product_id, mac);
    bool found = pin->product_id == product_id && pin->mac == mac &&
                 now_ms - pin->began_ms <= PARTIAL_DOWNLOAD_TTL_MS && now_ms >= pin->began_ms;
    if (found)
        memcpy(sha256, pin->sha256, SHA256_HEX_LEN + 1);
    pthread_mutex_unlock(&p->lock);
    return found;
}
