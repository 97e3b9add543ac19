/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash, fast on
 * short inputs and unpredictable without its 128-bit key. Fleet control
 * draws each device's rollout bucket with it (docs/FLEET.md): a peer that
 * picks its MAC cannot pick its bucket. Pure, thread-safe.
 */
#ifndef OTAD_CORE_SIPHASH_H
#define OTAD_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of LEN bytes at DATA under KEY (k0, k1 as the reference's little-endian halves). */
uint64_t siphash24(const uint64_t key[2], const void *data, size_t len);

#endif
