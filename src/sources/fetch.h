/*
 * The HTTP client of the GitHub sources, on libcurl: bounded GET requests
 * to the REST API and release-asset downloads. The one file in the daemon
 * that includes curl.h.
 *
 * What it guarantees: every transfer has a connect, a low-speed and a total
 * timeout; every body is capped (an API page at the caller's limit, an
 * asset at the size the API announced); only http and https are spoken; no
 * proxy is taken from the environment; a token goes to the API URL it was
 * given for and never to the storage host an asset download is redirected
 * to (the redirect is followed by hand, on a fresh handle that has no
 * Authorization header). Tokens never reach a log line or a reason, and
 * reasons are in our words (a status, a fixed text): nothing the API or the
 * storage host sent, not even the storage host's name, since they end up in
 * a status that read tokens see.
 *
 * fetch_global_init must run once, before any other thread uses libcurl.
 */
#ifndef OTAD_SOURCES_FETCH_H
#define OTAD_SOURCES_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/limits.h"
#include "core/reason.h"
#include "sources/backoff.h"

/* Initializes libcurl for the process. Returns 0 or -EIO. Call once per fetch_global_cleanup. */
int fetch_global_init(void);
void fetch_global_cleanup(void);

struct fetch_request {
    const char *url;           /* borrowed */
    const char *token;         /* NULL or "": no Authorization (never logged) */
    const char *if_none_match; /* NULL or "": unconditional */
    size_t max_body;           /* a longer body aborts the transfer: -EFBIG */
    const atomic_bool
        *cancel; /* when it becomes true the transfer stops: -ECANCELED; may be NULL */
};

struct fetch_response {
    long status;                            /* the HTTP status */
    struct buf body;                        /* owned; see fetch_response_release */
    char etag[LIMIT_GITHUB_ETAG_BYTES + 1]; /* "" when absent or longer than the limit */
    struct github_rate rate;                /* the rate-limit headers */
};

/*
 * GETs REQ->url from the API (Accept: application/vnd.github+json, the API
 * version header, our User-Agent) without following redirects. Returns 0
 * when a response arrived, whatever its status, with *RET_RESPONSE filled
 * (release it); otherwise -errno with WHY (nothing to release):
 * -ETIMEDOUT, -ECONNREFUSED / -EHOSTUNREACH / -EIO (the network), -EFBIG
 * (the body exceeds max_body), -ECANCELED, -ENOMEM.
 */
int fetch_api_get(const struct fetch_request *req, struct fetch_response *ret_response,
                  struct reason *why);

/* Frees the body. NULL-safe; idempotent. */
void fetch_response_release(struct fetch_response *response);

struct fetch_asset {
    struct buf image;        /* owned, exactly the announced size on success */
    struct github_rate rate; /* from the API's answer (not the storage host's) */
    long api_status;         /* the API's status: 200, 302, or the failure */
    unsigned api_calls;      /* requests sent to the API (0 or 1) */
};

/*
 * Downloads a release asset: GETs API_URL (the API's asset URL) with
 * Accept: application/octet-stream and TOKEN (may be NULL), which answers
 * 200 with the bytes or a redirect to the storage host; the redirect is
 * followed with a fresh handle that sends no Authorization (and may follow
 * up to LIMIT_GITHUB_STORAGE_REDIRECTS more hops). The storage URL must be
 * https unless ALLOW_HTTP (a loopback test API). The body is capped at SIZE
 * bytes and must be exactly SIZE long.
 *
 * Returns 0 with RET->image holding the bytes; otherwise -errno with WHY,
 * RET->image empty and RET->rate / api_status / api_calls still filled:
 * -EBUSY (the API said a rate limit was hit), -EPROTO (an unexpected
 * status, or a redirect without a usable Location), -EBADMSG (the body is
 * shorter than SIZE: truncated), -EFBIG (longer), -ETIMEDOUT, -EIO,
 * -ECANCELED, -ENOMEM. Release RET with fetch_asset_release in every case.
 */
int fetch_asset_get(const char *api_url, const char *token, uint64_t size, bool allow_http,
                    const atomic_bool *cancel, struct fetch_asset *ret, struct reason *why);

/* Frees the image. NULL-safe; idempotent. */
void fetch_asset_release(struct fetch_asset *asset);

/* The loaded libcurl's version (curl_version_info), for `otad --version`. */
const char *fetch_curl_version(void);

#endif
