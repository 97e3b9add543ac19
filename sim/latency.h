/*
 * A histogram of latencies in microseconds, for the final summary's
 * percentiles: fixed memory (about 9 KB), no allocation, a constant-time
 * add. Values under 32 us are kept exactly; above, each power of two is cut
 * into 32 buckets, so a percentile is within 1/32 (3.2 %) of the value it
 * stands for, and it errs high (a bucket's upper end). Values from 2^40 us
 * (12 days) on are counted in the last bucket.
 *
 * It only counts: what a latency is (otad-sim: from connect() to the answer's
 * head) is the caller's.
 */
#ifndef SIM_LATENCY_H
#define SIM_LATENCY_H

#include <stdint.h>

#define LATENCY_SUB_BITS 5 /* 32 buckets per power of two */
#define LATENCY_EXACT    (1u << LATENCY_SUB_BITS)
#define LATENCY_MAX_BITS 40 /* values up to 2^40 - 1 us have their own bucket */
#define LATENCY_BUCKETS  (LATENCY_EXACT * (LATENCY_MAX_BITS - LATENCY_SUB_BITS + 1))

struct latency_histogram {
    uint64_t count;                    /* values added */
    uint64_t buckets[LATENCY_BUCKETS]; /* values per bucket, in increasing order of value */
};

/* Empties H (caller-owned storage). */
void latency_init(struct latency_histogram *h);

/* Counts one latency of US microseconds in H. */
void latency_add(struct latency_histogram *h, uint64_t us);

/*
 * The PERCENT-th percentile (0 < PERCENT <= 100) of what H counted: the
 * upper end of the bucket that holds the value of rank ceil(PERCENT / 100 *
 * count) (at least 1), in microseconds. 0 when H is empty.
 */
uint64_t latency_percentile(const struct latency_histogram *h, double percent);

#endif
