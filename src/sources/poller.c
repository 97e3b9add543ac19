/*
 * When syncs run: the poller thread of `otad serve` (SOURCES_SERVING) and
 * the requests that make a source due early (a webhook, the API's sync, a
 * source just added). One thread asks GitHub for every source, serially,
 * as GitHub asks of clients.
 *
 * Scheduling. A source is due at the earlier of its regular next poll
 * (after a failure: the backoff, sync.c) and a pending request, but never
 * before its not_before time (the rate limit, Retry-After), which binds
 * every source with the same credentials. Requests live in memory only: a
 * restart loses a webhook's quick re-queries, not the release (the regular
 * poll still finds it). The poller rereads the source list each round, so
 * sources added or removed by the CLI are seen within SOURCES_IDLE_S.
 *
 * Several nodes (docs/OPERATIONS.md): the regular polls run on the leader
 * alone (service_is_leader). A request (a webhook, the API's sync) runs on
 * the node it reached: each reaches one node, so its sync still runs once,
 * and the leader's next regular poll finds the release already published.
 *
 * Waits use CLOCK_MONOTONIC: a clock stepped at boot (a Raspberry Pi
 * without an RTC) neither stalls nor spins the poller. The schedule itself
 * is wall-clock time, since it is stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "sources/internal.h"

#define WAKE_FLOOR_MS       100  /* the poller never spins faster than this */
#define FOLLOWER_RECHECK_MS 2000 /* a node that does not lead checks again this often */

/* --- requests --- */

static struct sources_request *request_find(struct sources *s, int64_t id)
{
    for (size_t i = 0; i < s->request_count; i++)
        if (s->requests[i].source_id == id)
            return &s->requests[i];
    return NULL;
}

int sources_request_add(struct sources *s, int64_t id, const char *tag)
{
    int r = 0;
    pthread_mutex_lock(&s->lock);
    struct sources_request *q = request_find(s, id);
    if (!q) {
        if (s->request_count == s->request_cap) {
            size_t ncap = s->request_cap ? s->request_cap * 2 : 8;
            struct sources_request *n = s->request_count >= LIMIT_SOURCES
                                            ? NULL
                                            : realloc(s->requests, ncap * sizeof(*s->requests));
            if (!n) {
                r = -ENOBUFS;
                goto out;
            }
            s->requests = n;
            s->request_cap = ncap;
        }
        q = &s->requests[s->request_count++];
        memset(q, 0, sizeof(*q));
        q->source_id = id;
    }
    q->due_ms = time_now_ms();
    if (tag) {
        str_copy(q->awaited_tag, sizeof(q->awaited_tag), tag);
        q->tries = 0;
    }
    q->generation = ++s->generation;
    s->kicked = true;
    pthread_cond_signal(&s->wake);
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void request_remove_at(struct sources *s, size_t i)
{
    s->requests[i] = s->requests[--s->request_count];
}

/* A copy of the request for ID, if any. */
static bool request_get(struct sources *s, int64_t id, struct sources_request *ret)
{
    pthread_mutex_lock(&s->lock);
    struct sources_request *q = request_find(s, id);
    if (q)
        *ret = *q;
    pthread_mutex_unlock(&s->lock);
    return q != NULL;
}

/* After a sync that served request Q: drop it, or schedule the next re-query for its tag. */
static void request_done(struct sources *s, const struct sources_request *q, bool settled)
{
    pthread_mutex_lock(&s->lock);
    struct sources_request *cur = request_find(s, q->source_id);
    if (cur && cur->generation == q->generation) { /* not renewed meanwhile */
        cur->tries++;
        if (settled || !cur->awaited_tag[0] || cur->tries >= LIMIT_GITHUB_ASSET_WAIT_TRIES)
            request_remove_at(s, (size_t)(cur - s->requests));
        else
            cur->due_ms =
                time_now_ms() + (((int64_t)LIMIT_GITHUB_ASSET_WAIT_S * 1000) << (cur->tries - 1));
    }
    pthread_mutex_unlock(&s->lock);
}

/* Drops requests for sources that no longer exist. */
static void requests_prune(struct sources *s, const struct source_row *rows, size_t n)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->request_count;) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = rows[k].source.id == s->requests[i].source_id;
        if (found)
            i++;
        else
            request_remove_at(s, i);
    }
    pthread_mutex_unlock(&s->lock);
}

/* --- rounds --- */

static bool same_credentials(const struct source *a, const struct source *b)
{
    return strcmp(a->api_url, b->api_url) == 0 && strcmp(a->token_file, b->token_file) == 0 &&
           strcmp(a->token_env, b->token_env) == 0;
}

static int64_t row_due(const struct source_row *row, const struct sources_request *q, bool leader)
{
    int64_t due = leader ? row->state.next_poll_ms : INT64_MAX;
    if (q && q->due_ms < due)
        due = q->due_ms;
    return due < row->state.not_before_ms ? row->state.not_before_ms : due;
}

/* Syncs ROW if it is due. Returns when it is due next (ms since the epoch). */
static int64_t row_serve(struct sources *s, struct source_row *row)
{
    struct sources_request q;
    bool has_q = request_get(s, row->source.id, &q);
    bool leader = service_is_leader(s->svc);
    int64_t due = row_due(row, has_q ? &q : NULL, leader);
    if (due > time_now_ms())
        return due;
    bool settled = false;
    struct sources_sync_result res;
    sources_sync_one(s, row, has_q && q.awaited_tag[0] ? q.awaited_tag : NULL, &settled, &res);
    if (has_q && !res.rate_limited && !atomic_load(&s->cancel))
        request_done(s, &q, settled);
    has_q = request_get(s, row->source.id, &q);
    return row_due(row, has_q ? &q : NULL, leader);
}

/* Runs every due sync once. Returns when the next one is due (ms since the epoch). */
static int64_t poll_round(struct sources *s)
{
    struct source_row *rows = NULL;
    size_t n = 0;
    int64_t wake = time_now_ms() + (int64_t)SOURCES_IDLE_S * 1000;
    if (db_source_list(s->db, &rows, &n) < 0)
        return wake;
    requests_prune(s, rows, n);
    for (size_t i = 0; i < n && !atomic_load(&s->cancel); i++) {
        struct source_row *row = &rows[i];
        /* A limit learnt earlier in this round binds every source with the same credentials. */
        for (size_t k = 0; k < i; k++)
            if (same_credentials(&rows[k].source, &row->source) &&
                rows[k].state.not_before_ms > row->state.not_before_ms)
                row->state.not_before_ms = rows[k].state.not_before_ms;
        int64_t due = row_serve(s, row);
        if (due < wake)
            wake = due;
    }
    free(rows);
    /* A follower looks again soon: when it takes over as leader, the polls move with it. */
    int64_t follower_wake = time_now_ms() + FOLLOWER_RECHECK_MS;
    if (!service_is_leader(s->svc) && follower_wake < wake)
        wake = follower_wake;
    return wake;
}

/* *TS = now + MS on CLOCK_MONOTONIC. */
static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *poller_main(void *arg)
{
    struct sources *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->cancel)) {
        s->kicked = false; /* what came before is seen by this round */
        s->rounds_begun++;
        pthread_mutex_unlock(&s->lock);
        int64_t wake = poll_round(s);
        pthread_mutex_lock(&s->lock);
        s->rounds_done++;
        pthread_cond_broadcast(&s->round_done);
        int64_t delay = wake - time_now_ms();
        if (delay < WAKE_FLOOR_MS)
            delay = WAKE_FLOOR_MS;
        if (!s->kicked && !atomic_load(&s->cancel)) {
            struct timespec ts;
            deadline_in(&ts, delay);
            pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- lifecycle --- */

static int cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int r = pthread_condattr_init(&attr);
    if (r == 0 && (r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
        r = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return -r;
}

int sources_poller_start(struct sources *s)
{
    int r = -pthread_mutex_init(&s->lock, NULL);
    if (r < 0)
        goto fail;
    if ((r = cond_init_monotonic(&s->wake)) < 0) {
        pthread_mutex_destroy(&s->lock);
        goto fail;
    }
    if ((r = cond_init_monotonic(&s->round_done)) < 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        goto fail;
    }
    s->lock_ready = true;
    if (s->mode != SOURCES_SERVING)
        return 0;
    if ((r = -pthread_create(&s->worker, NULL, poller_main, s)) < 0)
        goto fail;
    pthread_setname_np(s->worker, "otad-poller"); /* top -H, perf: which thread works */
    s->worker_running = true;
    return 0;
fail:
    log_error("sources: cannot start the poller: %s", strerror(-r));
    return r;
}

void sources_poller_stop(struct sources *s)
{
    if (s->worker_running) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->cancel, true);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->worker, NULL);
        s->worker_running = false;
    }
    if (s->lock_ready) {
        pthread_cond_destroy(&s->round_done);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        s->lock_ready = false;
    }
    free(s->requests);
    s->requests = NULL;
    s->request_count = s->request_cap = 0;
}

/* --- the public calls --- */

int sources_request_sync(struct sources *s, int64_t id, struct reason *why)
{
    if (s->mode != SOURCES_SERVING)
        return reason_set(why, -EOPNOTSUPP, "no poller runs here");
    struct source_row row;
    int r = sources_get(s, id, &row, why);
    if (r < 0)
        return r;
    if ((r = sources_request_add(s, id, NULL)) < 0)
        return reason_set(why, r, "too many pending requests");
    return 0;
}

int sources_poll_settle(struct sources *s, int64_t timeout_ms)
{
    if (s->mode != SOURCES_SERVING)
        return -EOPNOTSUPP;
    struct timespec deadline;
    deadline_in(&deadline, timeout_ms);
    pthread_mutex_lock(&s->lock);
    uint64_t target = s->rounds_begun + 1; /* the first round that begins after this call */
    s->kicked = true;
    pthread_cond_signal(&s->wake);
    int r = 0;
    while (s->rounds_done < target && r == 0)
        r = pthread_cond_timedwait(&s->round_done, &s->lock, &deadline);
    bool done = s->rounds_done >= target;
    pthread_mutex_unlock(&s->lock);
    return done ? 0 : -ETIMEDOUT;
}
