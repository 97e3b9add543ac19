/*
 * The TLS session cache: what lets a device resume a TLS 1.2 session by its
 * session ID (RFC 5246 §7.4.1.2) instead of paying for a full handshake.
 * The ESP8266's BearSSL client resumes this way only (setSession); tickets
 * are GnuTLS's own business and need no cache. Bounded in entries and in
 * bytes per entry; when full, the oldest session goes first; a session
 * older than the lifetime is never handed out. Thread-safe: every handshake
 * thread of the TLS listener calls it. No TLS library types: the GnuTLS
 * glue in tls.c adapts it.
 */
#ifndef OTAD_HTTP_TLS_CACHE_H
#define OTAD_HTTP_TLS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/must_use.h"

struct tls_session_cache;

/*
 * A cache of at most CAPACITY sessions, each resumable for LIFETIME_MS after
 * it was stored. CAPACITY 0 makes a cache that keeps nothing. Returns 0 with
 * a new cache, -ENOMEM or -EIO (no random key for the hash).
 */
MUST_USE int tls_session_cache_new(size_t capacity, uint64_t lifetime_ms,
                                   struct tls_session_cache **ret_cache);

/* Frees the cache and every session in it (wiped first). NULL-safe. */
void tls_session_cache_free(struct tls_session_cache *cache);

/*
 * Keeps DATA (LEN bytes, copied) under session ID ID (ID_LEN bytes, 1 to
 * LIMIT_TLS_SESSION_ID_BYTES), replacing what the ID held, evicting the
 * oldest session when full. NOW_MS is the caller's clock (monotonic or
 * wall, the same for every call). -EINVAL for an ID or a session out of
 * bounds (LIMIT_TLS_SESSION_BYTES), -ENOSPC when the capacity is 0, -ENOMEM.
 */
MUST_USE int tls_session_cache_store(struct tls_session_cache *cache, const uint8_t *id,
                                     size_t id_len, const uint8_t *data, size_t len,
                                     uint64_t now_ms);

/*
 * A copy of the session stored under ID, in *RET_DATA (malloc'd: the caller
 * frees it; the GnuTLS glue hands it to GnuTLS, whose free is free()) and
 * *RET_LEN. -ENOENT when there is none or it has expired (it is dropped
 * then), -ENOMEM.
 */
MUST_USE int tls_session_cache_fetch(struct tls_session_cache *cache, const uint8_t *id,
                                     size_t id_len, uint64_t now_ms, uint8_t **ret_data,
                                     size_t *ret_len);

/* Drops the session stored under ID, if any. */
void tls_session_cache_remove(struct tls_session_cache *cache, const uint8_t *id, size_t id_len);

/* Sessions held now. */
size_t tls_session_cache_count(struct tls_session_cache *cache);

#endif
