/*
 * The supervisor thread of `otad serve` under systemd (supervise.h). It
 * proves liveness end to end: each WATCHDOG=1 follows a real GET /healthz
 * that one of the server's worker threads answered through its own
 * listener (http_server_probe), so a serving loop whose workers are all
 * stuck stops the pings and the manager restarts otad after WatchdogSec.
 * READY=1 waits for the first such answer. The status line reads the
 * check-in counter (metric_checkins, summed over its labels) and the
 * active rollouts from the service.
 */
#include "cli/supervise.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mono.h"
#include "core/sdnotify.h"
#include "model/fleet.h"
#include "service/service_fleet.h"
#include "service/service_metrics.h"

/* How often the status line is refreshed. */
#define STATUS_INTERVAL_MS 3000
/* Before READY=1: how long one probe may take, and the pause between failed ones. */
#define READY_PROBE_TIMEOUT_MS 1000u
#define READY_RETRY_MS         100
/* A watchdog probe may take this share of the interval (and at most PROBE_TIMEOUT_MAX_MS). */
#define WATCHDOG_PROBE_SHARE 4
#define PROBE_TIMEOUT_MAX_MS 5000u
#define PROBE_TIMEOUT_MIN_MS 50u
/* After a failed watchdog probe, the next try comes after this share of the interval. */
#define WATCHDOG_RETRY_SHARE 10
/* The STATUS= message's bytes: a handful of rollouts. */
#define STATUS_BYTES 512

struct supervisor {
    struct sdnotify notify;
    uint64_t watchdog_ms; /* 0: no watchdog asked */
    struct http_server *server;
    struct service *svc;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;          /* under LOCK */
    int64_t last_checkins;  /* the supervisor thread's own */
    int64_t last_status_ms; /* when LAST_CHECKINS was read */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t supervise_status_text(double checkins_per_s, const struct supervise_rollout *rollouts,
                             size_t count, char *out, size_t size)
{
    if (size == 0)
        return 0;
    int n = snprintf(out, size, "STATUS=%.1f check-ins/s; ", checkins_per_s);
    if (n < 0 || (size_t)n >= size) {
        out[0] = 0;
        return 0;
    }
    size_t len = (size_t)n;
    if (count == 0)
        n = snprintf(out + len, size - len, "no active rollouts");
    else
        n = snprintf(out + len, size - len, "%zu active rollout%s:", count, count == 1 ? "" : "s");
    if (n < 0 || (size_t)n >= size - len) {
        out[len] = 0;
        return len;
    }
    len += (size_t)n;
    for (size_t i = 0; i < count && i < SUPERVISE_STATUS_ROLLOUTS; i++) {
        const struct supervise_rollout *r = &rollouts[i];
        n = snprintf(out + len, size - len, "%s %s@%s stage %u/%u %s", i ? "," : "", r->product,
                     r->version, r->stage, r->stage_count, r->state);
        if (n < 0 || (size_t)n >= size - len) {
            out[len] = 0; /* cut at a whole rollout */
            return len;
        }
        len += (size_t)n;
    }
    if (count > SUPERVISE_STATUS_ROLLOUTS) {
        n = snprintf(out + len, size - len, ", +%zu more", count - SUPERVISE_STATUS_ROLLOUTS);
        if (n < 0 || (size_t)n >= size - len)
            out[len] = 0;
        else
            len += (size_t)n;
    }
    return len;
}

/* Where active_rollouts copies the first few rollouts. */
struct rollout_list {
    struct supervise_rollout *list;
    size_t capacity, count;
};

static void add_rollout(void *ctx, const char *product, const struct rollout *r)
{
    struct rollout_list *l = ctx;
    if (l->count >= l->capacity)
        return;
    struct supervise_rollout *out = &l->list[l->count++];
    snprintf(out->product, sizeof(out->product), "%s", product);
    snprintf(out->version, sizeof(out->version), "%s", r->version);
    out->stage = r->stage + 1;
    out->stage_count = r->plan.stage_count;
    out->state = rollout_state_name(r->state);
}

/*
 * The active rollouts of every product, the first few copied into LIST
 * (CAPACITY entries); returns how many there are. Read from the serving
 * catalog, never the database: this thread also feeds the watchdog, and a
 * database that is slow or away (PostgreSQL's statement timeout is as long
 * as WatchdogSec) must not starve it while devices are still answered.
 */
static size_t active_rollouts(struct service *svc, struct supervise_rollout *list, size_t capacity)
{
    struct rollout_list l = {list, capacity, 0};
    return service_active_rollouts_each(svc, add_rollout, &l);
}

static void send_status(struct supervisor *sup)
{
    int64_t now = now_ms();
    int64_t checkins = metric_total(&metric_checkins);
    double rate = 0;
    if (sup->last_status_ms && now > sup->last_status_ms)
        rate =
            (double)(checkins - sup->last_checkins) * 1000.0 / (double)(now - sup->last_status_ms);
    sup->last_checkins = checkins;
    sup->last_status_ms = now;
    struct supervise_rollout list[SUPERVISE_STATUS_ROLLOUTS];
    size_t count = active_rollouts(sup->svc, list, SUPERVISE_STATUS_ROLLOUTS);
    char text[STATUS_BYTES];
    supervise_status_text(rate, list, count, text, sizeof(text));
    (void)sdnotify_send(&sup->notify, text); /* the next one tries again */
}

/* Waits until AT_MS (monotonic) or until supervisor_stop; returns whether to stop. */
static bool wait_until(struct supervisor *sup, int64_t at_ms)
{
    pthread_mutex_lock(&sup->lock);
    while (!sup->stopping) {
        int64_t left = at_ms - now_ms();
        if (left <= 0)
            break;
        struct timespec deadline;
        mono_deadline_ms(&deadline, left);
        pthread_cond_timedwait(&sup->wake, &sup->lock, &deadline);
    }
    bool stop = sup->stopping;
    pthread_mutex_unlock(&sup->lock);
    return stop;
}

static unsigned watchdog_probe_timeout(const struct supervisor *sup)
{
    uint64_t ms = sup->watchdog_ms / WATCHDOG_PROBE_SHARE;
    if (ms > PROBE_TIMEOUT_MAX_MS)
        ms = PROBE_TIMEOUT_MAX_MS;
    return ms < PROBE_TIMEOUT_MIN_MS ? PROBE_TIMEOUT_MIN_MS : (unsigned)ms;
}

static void *supervise(void *arg)
{
    struct supervisor *sup = arg;
    /* Ready when a worker answers through the listener, not when the socket is bound. */
    for (;;) {
        int r = http_server_probe(sup->server, READY_PROBE_TIMEOUT_MS);
        if (r == 0)
            break;
        log_debug("systemd: not ready yet, /healthz did not answer: %s", strerror(-r));
        if (wait_until(sup, now_ms() + READY_RETRY_MS))
            return NULL;
    }
    (void)sdnotify_send(&sup->notify, "READY=1");
    log_info("systemd: ready (the server answered its own /healthz)%s",
             sup->watchdog_ms ? "; feeding the watchdog while it keeps answering" : "");
    send_status(sup);
    int64_t next_status = now_ms() + STATUS_INTERVAL_MS, next_watchdog = now_ms();
    bool failing = false;
    for (;;) {
        int64_t now = now_ms();
        if (sup->watchdog_ms && now >= next_watchdog) {
            unsigned timeout = watchdog_probe_timeout(sup);
            int r = http_server_probe(sup->server, timeout);
            if (r == 0) {
                (void)sdnotify_send(&sup->notify, "WATCHDOG=1");
                if (failing)
                    log_info("systemd: the server answers /healthz again: feeding the watchdog");
                failing = false;
                next_watchdog = now_ms() + (int64_t)sup->watchdog_ms / 2;
            } else {
                if (!failing)
                    log_warn("systemd: the server did not answer its own /healthz within %u ms "
                             "(%s): not feeding the watchdog",
                             timeout, strerror(-r));
                failing = true;
                next_watchdog = now_ms() + (int64_t)sup->watchdog_ms / WATCHDOG_RETRY_SHARE;
            }
        }
        if (now >= next_status) {
            send_status(sup);
            next_status = now_ms() + STATUS_INTERVAL_MS;
        }
        int64_t next = next_status;
        if (sup->watchdog_ms && next_watchdog < next)
            next = next_watchdog;
        if (wait_until(sup, next))
            return NULL;
    }
}

int supervisor_start(const char *notify_socket, const char *watchdog_usec, const char *watchdog_pid,
                     struct http_server *server, struct service *svc, struct supervisor **ret)
{
    *ret = NULL;
    struct supervisor *sup = calloc(1, sizeof(*sup));
    if (!sup)
        return -ENOMEM;
    int r = sdnotify_init(&sup->notify, notify_socket);
    if (r < 0) {
        log_error("systemd: NOTIFY_SOCKET \"%s\" is not usable: %s", notify_socket, strerror(-r));
        free(sup);
        return r;
    }
    if (!sdnotify_enabled(&sup->notify)) {
        free(sup);
        return 0;
    }
    uint64_t usec = 0;
    r = sdnotify_watchdog_usec(watchdog_usec, watchdog_pid, getpid(), &usec);
    if (r == -EINVAL)
        log_warn("systemd: WATCHDOG_USEC \"%s\" / WATCHDOG_PID \"%s\" do not parse: no watchdog",
                 watchdog_usec ? watchdog_usec : "", watchdog_pid ? watchdog_pid : "");
    sup->watchdog_ms = r == 0 ? (usec + 999) / 1000 : 0;
    sup->server = server;
    sup->svc = svc;
    r = -pthread_mutex_init(&sup->lock, NULL);
    if (r == 0) {
        r = mono_cond_init(&sup->wake);
        if (r < 0)
            pthread_mutex_destroy(&sup->lock);
    }
    if (r == 0) {
        r = -pthread_create(&sup->thread, NULL, supervise, sup);
        if (r < 0) {
            pthread_cond_destroy(&sup->wake);
            pthread_mutex_destroy(&sup->lock);
        }
    }
    if (r < 0) {
        log_error("systemd: cannot start the supervisor thread: %s", strerror(-r));
        sdnotify_release(&sup->notify);
        free(sup);
        return r;
    }
    *ret = sup;
    return 0;
}

void supervisor_reloading(struct supervisor *sup)
{
    if (!sup)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char message[64];
    if (sdnotify_reloading_message((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u,
                                   message, sizeof(message)) == 0)
        (void)sdnotify_send(&sup->notify, message);
}

void supervisor_reloaded(struct supervisor *sup, const char *how)
{
    if (!sup)
        return;
    char message[STATUS_BYTES];
    snprintf(message, sizeof(message), "READY=1\nSTATUS=%s", how);
    (void)sdnotify_send(&sup->notify, message);
}

void supervisor_stop(struct supervisor *sup)
{
    if (!sup)
        return;
    (void)sdnotify_send(&sup->notify, "STOPPING=1");
    pthread_mutex_lock(&sup->lock);
    sup->stopping = true;
    pthread_cond_signal(&sup->wake);
    pthread_mutex_unlock(&sup->lock);
    pthread_join(sup->thread, NULL);
    pthread_cond_destroy(&sup->wake);
    pthread_mutex_destroy(&sup->lock);
    sdnotify_release(&sup->notify);
    free(sup);
}
