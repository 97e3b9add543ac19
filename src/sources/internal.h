/*
 * What the files of src/sources/ share and nothing outside them sees: the
 * handle behind struct sources and the calls one file makes into another.
 * The files, in reading order: sources.c (opening, adding, listing,
 * removing, presenting), sync.c (one sync of one source), poller.c (when
 * syncs run, in the poller thread), dispatch.c (what a webhook delivery
 * does), secrets.c (tokens and webhook secrets); under them the pure parts
 * github.c, backoff.c, webhook.c and the HTTP client fetch.c.
 *
 * Threads and locks. In SOURCES_SERVING mode the poller thread runs every
 * sync; HTTP workers call sources_webhook, sources_list / get /
 * request_sync and the webhook admission. Shared state and what guards it:
 * the database connection (its own lock, one call at a time), the requests
 * and round counters (LOCK), the secret cache (its own lock), the webhook
 * bytes in flight (atomic), CANCEL (atomic). No code holds two of these
 * locks at once.
 */
#ifndef OTAD_SOURCES_INTERNAL_H
#define OTAD_SOURCES_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db_sources.h"
#include "sources/secrets.h"
#include "sources/sources.h"

/* How log lines name a source. */
#define SRC_FMT       "source %lld (%s/%s)"
#define SRC_ARGS(src) (long long)(src)->id, (src)->owner, (src)->repo

/* A sync the poller should run before the source's regular time. */
struct sources_request {
    int64_t source_id;
    int64_t due_ms;
    char awaited_tag[LIMIT_GITHUB_TAG_BYTES + 1]; /* a webhook's release; "" = none */
    unsigned tries;                               /* syncs run while awaiting it */
    uint64_t generation;                          /* changes whenever the request is renewed */
};

struct sources {
    struct config config;
    struct service *svc; /* borrowed */
    struct db *db;       /* our own connection to the service's database */
    enum sources_mode mode;
    bool curl_ready;
    atomic_bool cancel;              /* stopping: transfers abort, the poller leaves */
    struct secret_cache *secrets;    /* the webhook secrets */
    atomic_uint_fast64_t hook_bytes; /* webhook body bytes admitted and not yet released */
    atomic_bool hook_busy;           /* the last admission was refused (logged once) */

    bool lock_ready;           /* LOCK and the conditions are initialized */
    pthread_mutex_t lock;      /* guards the fields below */
    pthread_cond_t wake;       /* the poller waits on it (CLOCK_MONOTONIC) */
    pthread_cond_t round_done; /* sources_poll_settle waits on it (CLOCK_MONOTONIC) */
    bool kicked;               /* a request arrived since the poller last began a round */
    struct sources_request *requests;
    size_t request_count, request_cap; /* at most LIMIT_SOURCES */
    uint64_t generation;
    uint64_t rounds_begun, rounds_done; /* poll rounds of the poller thread */

    pthread_t worker;
    bool worker_running;
};

/* SRC's poll interval in seconds: its own, or the configured default. */
uint64_t sources_interval_s(const struct sources *s, const struct source *src);

/* Registers the sources' metric families (sync.c; docs/METRICS.md); more calls do nothing. */
void sources_metrics_register(void);

/*
 * sync.c. Syncs ROW once: its state is updated in ROW and saved; its tags
 * are recorded. AWAITED (may be NULL) is a webhook's tag: *RET_SETTLED
 * then says whether it is dealt with or cannot usefully be waited for any
 * longer. Fills *RES. Runs in the caller's thread; never holds LOCK.
 */
void sources_sync_one(struct sources *s, struct source_row *row, const char *awaited,
                      bool *ret_settled, struct sources_sync_result *res);

/*
 * poller.c. Initializes LOCK and the conditions and, in SOURCES_SERVING
 * mode, starts the poller thread. Returns 0 or -errno after logging.
 */
int sources_poller_start(struct sources *s);

/* poller.c. Stops and joins the poller (if it runs), frees the requests. Idempotent. */
void sources_poller_stop(struct sources *s);

/*
 * poller.c. Makes source ID due now; TAG (may be NULL) is a release to
 * wait for. Returns 0, or -ENOBUFS when the request list is full.
 * SOURCES_SERVING only.
 */
int sources_request_add(struct sources *s, int64_t id, const char *tag);

#endif
