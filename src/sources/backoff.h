/*
 * When a source may ask GitHub again: the rate-limit headers of a response
 * (x-ratelimit-limit / -remaining / -reset, Retry-After), what they forbid,
 * and the retry schedule after a failure. Pure (the clock is an argument),
 * unit-tested in tests/unit/sources/test_backoff.c.
 *
 * GitHub's rules (docs/reference/stock-clients.md §11): 60 requests an hour per address
 * unauthenticated, 5,000 with a token; a 403 or 429 means a limit was hit.
 * With `x-ratelimit-remaining: 0` nothing may be sent before
 * `x-ratelimit-reset`; with `Retry-After` (secondary limits, 503) not before
 * that many seconds; a 403/429 that says neither means "wait at least a
 * minute, longer each time". Every wait is capped at LIMIT_GITHUB_WAIT_MAX_S
 * so a wrong clock or a wrong header cannot silence a source for good.
 */
#ifndef OTAD_SOURCES_BACKOFF_H
#define OTAD_SOURCES_BACKOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The rate-limit headers of one response; -1 where a header was absent or malformed. */
struct github_rate {
    int64_t limit;         /* x-ratelimit-limit */
    int64_t remaining;     /* x-ratelimit-remaining */
    int64_t reset_s;       /* x-ratelimit-reset: seconds since the epoch */
    int64_t retry_after_s; /* Retry-After in seconds (an HTTP date counts as absent) */
};

/* Sets every field of RATE to -1 (absent). */
void github_rate_init(struct github_rate *rate);

/*
 * If LINE (LEN bytes, one header as received, with or without CRLF) is
 * NAME (ASCII case-insensitive), points *RET_VALUE at its value with blanks
 * trimmed, stores its length and returns true. Never allocates.
 */
bool github_header_value(const char *line, size_t len, const char *name, const char **ret_value,
                         size_t *ret_value_len);

/*
 * Takes the rate-limit headers out of one header LINE into RATE; other
 * headers and malformed numbers leave RATE unchanged.
 */
void github_rate_header(struct github_rate *rate, const char *line, size_t len);

/* True when a response with STATUS and RATE says a rate limit was hit (429, or 403 that says so).
 */
bool github_rate_limited(long status, const struct github_rate *rate);

/*
 * The earliest time (ms since the epoch) the next request with the same
 * credentials may be sent after a response with STATUS and RATE received at
 * NOW_MS, or 0 when the response sets no such limit. FAILURES counts the
 * consecutive failed polls including this one (it grows the wait after a
 * 403/429 that names no time).
 */
int64_t github_not_before_ms(long status, const struct github_rate *rate, int64_t now_ms,
                             int64_t failures);

/*
 * When to poll again after the FAILURES-th consecutive failure (>= 1) at
 * NOW_MS: LIMIT_GITHUB_RETRY_BASE_S, or INTERVAL_S when that is shorter,
 * doubling with each failure up to LIMIT_GITHUB_RETRY_MAX_S. A failing
 * source backs off past its poll interval (a short interval does not make
 * it hammer a failing API or storage host) and is never silenced for good.
 */
int64_t github_retry_at_ms(int64_t now_ms, int64_t failures, uint64_t interval_s);

#endif
