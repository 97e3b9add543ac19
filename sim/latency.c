/*
 * The latency histogram (latency.h): a value's bucket from its highest set
 * bit and the LATENCY_SUB_BITS bits below it, as HdrHistogram places values,
 * and percentiles by walking the buckets in order.
 */
#include "latency.h"

#include <string.h>

void latency_init(struct latency_histogram *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned highest_bit(uint64_t v)
{
    unsigned bit = 0;
    while (v >>= 1)
        bit++;
    return bit;
}

static uint32_t bucket_of(uint64_t us)
{
    if (us < LATENCY_EXACT)
        return (uint32_t)us;
    if (us >> LATENCY_MAX_BITS)
        return LATENCY_BUCKETS - 1;
    unsigned shift = highest_bit(us) - LATENCY_SUB_BITS;
    uint32_t sub = (uint32_t)(us >> shift) & (LATENCY_EXACT - 1);
    return LATENCY_EXACT + shift * LATENCY_EXACT + sub;
}

/* The largest value bucket B holds. */
static uint64_t bucket_upper(uint32_t b)
{
    if (b < LATENCY_EXACT)
        return b;
    unsigned shift = (b - LATENCY_EXACT) / LATENCY_EXACT;
    uint64_t sub = (b - LATENCY_EXACT) % LATENCY_EXACT;
    return ((LATENCY_EXACT + sub) << shift) + ((uint64_t)1 << shift) - 1;
}

void latency_add(struct latency_histogram *h, uint64_t us)
{
    h->buckets[bucket_of(us)]++;
    h->count++;
}

uint64_t latency_percentile(const struct latency_histogram *h, double percent)
{
    if (!h->count)
        return 0;
    double exact = percent / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact) /* rounded up, without libm */
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < LATENCY_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank)
            return bucket_upper(b);
    }
    return bucket_upper(LATENCY_BUCKETS - 1);
}
