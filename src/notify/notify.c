/*
 * Outgoing notifications (notify.h): opening and closing, the receivers
 * (add, list, remove, test, presenting), and the delivery thread. The pure
 * parts are format.c; the HTTP client is send.c.
 *
 * The delivery thread, in one loop: take every event the service queued
 * and store one pending delivery per subscribed receiver (one transaction
 * per event); then read each enabled receiver's oldest pending delivery
 * and start those that are due and whose receiver has no attempt in
 * flight (send.c runs them side by side); then move the transfers on for a
 * slice, and end those that ended (delivered, retried later, failed). Idle,
 * it sleeps until an event, a wake, the next due delivery, or IDLE_MS (a
 * delivery or a test another process stored). A receiver that hangs holds
 * only its own attempt, up to notify_timeout_ms: the other receivers' go
 * on, and the service only queues events.
 *
 * Locks: the queue's (events.c) and this module's database connection's,
 * never both, never while sending. STOP is an atomic; the transfers and
 * FLIGHTS are the thread's alone.
 */
#include "notify/notify.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#include "db/db_notify.h"
#include "notify/format.h"
#include "notify/send.h"
#include "service/events.h"

/* The longest the thread sleeps: deliveries another process stored are seen this soon. */
#define IDLE_MS 1000
/* With attempts in flight, the thread looks at the queue and the stop flag this often. */
#define FLIGHT_SLICE_MS 100
/* How often finished deliveries are pruned. */
#define PRUNE_EVERY_MS (60 * 1000)

/* One attempt in flight: what its transfer borrows, and what its end updates. */
struct flight {
    struct notify_delivery d; /* with its body (owned) */
    char receiver[LIMIT_NOTIFY_NAME_BYTES + 1];
    char url[LIMIT_NOTIFY_URL_BYTES + 1];
    char signature[72];
    struct notify_post post;
};

struct notify {
    struct config config;
    struct service *svc; /* borrowed */
    struct db *db;       /* our own connection to the service's database */
    enum notify_mode mode;
    bool curl_ready;
    atomic_bool stop; /* the thread leaves; attempts in flight are cut off */
    pthread_t thread;
    bool thread_running;
    /* The delivery thread's own (no lock): its transfers, at most one per receiver. */
    struct notify_sender *sender;
    struct flight *flights[LIMIT_NOTIFY_RECEIVERS];
    size_t flight_count;
};

/* Fills D, a new pending delivery of EV to receiver R. 0, -ENOMEM, or -errno from the RNG. */
static int delivery_make(struct notify_delivery *d, const struct notify_receiver *r,
                         const struct event *ev)
{
    memset(d, 0, sizeof(*d));
    int ret = notify_uuid(d->uuid);
    if (ret < 0)
        return ret;
    d->receiver_id = r->id;
    str_copy(d->event, sizeof(d->event), event_kind_name(ev->kind));
    str_copy(d->product, sizeof(d->product), ev->product);
    d->body =
        r->format == NOTIFY_FORMAT_SLACK ? notify_body_slack(ev) : notify_body_json(d->uuid, ev);
    if (!d->body)
        return -ENOMEM;
    d->state = NOTIFY_PENDING;
    d->created_ms = ev->at_ms;
    d->next_ms = time_now_ms();
    return 0;
}

/* Stores one delivery of EV per receiver that subscribes to it. Logged when it fails. */
static void fan_out(struct notify *n, const struct event *ev)
{
    struct notify_receiver_row *rows = NULL;
    size_t count = 0;
    int r = db_notify_receiver_list(n->db, &rows, &count);
    if (r < 0) {
        log_warn("notify: %s event dropped: cannot read the receivers", event_kind_name(ev->kind));
        return;
    }
    struct notify_delivery *d = calloc(count ? count : 1, sizeof(*d));
    size_t k = 0;
    for (size_t i = 0; d && i < count; i++) {
        const struct notify_receiver *rcv = &rows[i].receiver;
        if (rcv->disabled || !notify_patterns_match(rcv->events, event_kind_name(ev->kind)))
            continue;
        if ((r = delivery_make(&d[k], rcv, ev)) < 0) {
            free(d[k].body);
            log_warn("notify: %s event to %s dropped: %s", event_kind_name(ev->kind), rcv->name,
                     strerror(-r));
            continue;
        }
        k++;
    }
    if (k && (r = db_notify_deliveries_insert(n->db, d, k)) < 0)
        log_warn("notify: %s event dropped: cannot store its %zu deliveries",
                 event_kind_name(ev->kind), k);
    for (size_t i = 0; d && i < k; i++)
        free(d[i].body);
    free(d);
    if (rows)
        explicit_bzero(rows, count * sizeof(*rows)); /* the secrets */
    free(rows);
}

/* The delay text of MS for the log: "10 s", "5 min". */
static void delay_text(int64_t ms, char out[24])
{
    int64_t s = (ms + 999) / 1000;
    if (s < 120)
        snprintf(out, 24, "%lld s", (long long)s);
    else
        snprintf(out, 24, "%lld min", (long long)((s + 30) / 60));
}

/* Whether receiver ID has an attempt in flight. */
static bool in_flight(const struct notify *n, int64_t id)
{
    for (size_t i = 0; i < n->flight_count; i++)
        if (n->flights[i]->d.receiver_id == id)
            return true;
    return false;
}

static void flight_free(struct flight *f)
{
    if (!f)
        return;
    free(f->d.body);
    free(f);
}

/*
 * Starts an attempt at D (its body is taken over): too old, it is failed at
 * once; else its POST joins the transfers in flight.
 */
static void delivery_start(struct notify *n, struct notify_delivery *d)
{
    struct notify_receiver rcv;
    struct flight *f = NULL;
    if (db_notify_receiver_get(n->db, d->receiver_id, &rcv) < 0)
        goto drop; /* removed since it was read: its deliveries went with it */
    int64_t now = time_now_ms();
    if (now - d->created_ms > (int64_t)n->config.notify_max_age_s * 1000) {
        d->state = NOTIFY_FAILED;
        d->updated_ms = now;
        snprintf(d->error, sizeof(d->error), "not delivered within notify_max_age_s (%llu s)",
                 (unsigned long long)n->config.notify_max_age_s);
        log_warn("notify: %s delivery %s to %s failed: %s", d->event, d->uuid, rcv.name, d->error);
        db_notify_delivery_update(n->db, d);
        goto drop;
    }
    if (!(f = calloc(1, sizeof(*f))) || n->flight_count == LIMIT_NOTIFY_RECEIVERS)
        goto drop; /* tried again on the next pass */
    f->d = *d;
    d->body = NULL;
    str_copy(f->receiver, sizeof(f->receiver), rcv.name);
    str_copy(f->url, sizeof(f->url), rcv.url);
    if (rcv.secret[0])
        notify_signature(rcv.secret, f->d.body, strlen(f->d.body), f->signature);
    f->post = (struct notify_post){
        .url = f->url,
        .body = f->d.body,
        .body_len = strlen(f->d.body),
        .event = f->d.event,
        .delivery = f->d.uuid,
        .signature = rcv.secret[0] ? f->signature : NULL,
        .connect_timeout_ms = (long)n->config.notify_connect_timeout_ms,
        .timeout_ms = (long)n->config.notify_timeout_ms,
    };
    if (notify_sender_start(n->sender, &f->post, f) < 0) {
        log_warn("notify: cannot start the %s delivery %s to %s (out of memory): next pass",
                 f->d.event, f->d.uuid, f->receiver);
        flight_free(f);
        f = NULL;
        goto drop;
    }
    n->flights[n->flight_count++] = f;
    explicit_bzero(&rcv, sizeof(rcv));
    return;
drop:
    explicit_bzero(&rcv, sizeof(rcv));
    free(d->body);
    d->body = NULL;
    free(f);
}

/* The attempt F ended as SENT says: its row is updated (delivered, retried later, or failed). */
static void delivery_end(struct notify *n, struct flight *f, const struct notify_sent *sent)
{
    struct notify_delivery *d = &f->d;
    d->attempts++;
    d->updated_ms = time_now_ms();
    d->status = sent->err == 0 ? sent->status : 0;
    if (sent->err == 0 && sent->status >= 200 && sent->status < 300) {
        d->state = NOTIFY_DELIVERED;
        d->error[0] = 0;
        log_info("notify: %s delivery %s to %s: HTTP %ld (attempt %lld)", d->event, d->uuid,
                 f->receiver, sent->status, (long long)d->attempts);
        db_notify_delivery_update(n->db, d);
        return;
    }
    if (sent->err == 0 && sent->status == 410) {
        d->state = NOTIFY_FAILED;
        snprintf(d->error, sizeof(d->error), "HTTP 410 Gone: the receiver is disabled");
        db_notify_delivery_update(n->db, d);
        db_notify_receiver_disable(n->db, d->receiver_id, "the receiver answered 410 Gone",
                                   d->updated_ms);
        log_warn("notify: receiver %s answered 410 Gone: disabled, its pending deliveries failed",
                 f->receiver);
        return;
    }
    if (sent->err == 0)
        snprintf(d->error, sizeof(d->error), "HTTP %ld", sent->status);
    else
        snprintf(d->error, sizeof(d->error), "%.*s", (int)sizeof(d->error) - 1, sent->why.text);
    if (d->attempts >= (int64_t)n->config.notify_max_attempts) {
        d->state = NOTIFY_FAILED;
        log_warn("notify: %s delivery %s to %s failed after %lld attempts: %s", d->event, d->uuid,
                 f->receiver, (long long)d->attempts, d->error);
    } else {
        uint32_t random = 0;
        (void)random_bytes(&random, sizeof(random)); /* no jitter when the RNG fails */
        int64_t delay = notify_backoff_ms(n->config.notify_retry_ms, d->attempts, random);
        d->next_ms = d->updated_ms + delay;
        char in[24];
        delay_text(delay, in);
        log_info("notify: %s delivery %s to %s: %s (attempt %lld, next in %s)", d->event, d->uuid,
                 f->receiver, d->error, (long long)d->attempts, in);
    }
    db_notify_delivery_update(n->db, d);
}

/*
 * Starts the due deliveries of the receivers with none in flight. Returns
 * how long the thread may wait for the next one to be due (IDLE_MS at
 * most) when nothing is in flight.
 */
static int64_t start_due(struct notify *n)
{
    /* Several nodes: the leader sends; the others only store the deliveries of their events. */
    if (!service_is_leader(n->svc))
        return IDLE_MS;
    struct notify_delivery *due = NULL;
    size_t count = 0;
    int64_t next = 0;
    int r =
        db_notify_deliveries_due(n->db, time_now_ms(), LIMIT_NOTIFY_RECEIVERS, &due, &count, &next);
    if (r < 0)
        return IDLE_MS;
    bool started = false;
    for (size_t i = 0; i < count; i++) {
        if (in_flight(n, due[i].receiver_id)) {
            free(due[i].body);
            due[i].body = NULL;
            continue;
        }
        delivery_start(n, &due[i]); /* takes the body */
        started = true;
    }
    free(due);
    if (started)
        return 0;
    if (!next)
        return IDLE_MS;
    int64_t wait = next - time_now_ms();
    return wait < 0 ? 0 : wait > IDLE_MS ? IDLE_MS : wait;
}

/* Moves the transfers in flight on for up to WAIT_MS and ends those that ended. */
static void run_flights(struct notify *n, int wait_ms)
{
    struct notify_sent sent[LIMIT_NOTIFY_RECEIVERS];
    size_t done = notify_sender_run(n->sender, wait_ms, sent, LIMIT_NOTIFY_RECEIVERS);
    for (size_t k = 0; k < done; k++) {
        struct flight *f = sent[k].tag;
        delivery_end(n, f, &sent[k]);
        for (size_t i = 0; i < n->flight_count; i++) {
            if (n->flights[i] == f) {
                n->flights[i] = n->flights[--n->flight_count];
                break;
            }
        }
        flight_free(f);
    }
}

static void prune(struct notify *n)
{
    int64_t before = time_now_ms() - (int64_t)n->config.notify_keep_days * 86400 * 1000;
    db_notify_prune(n->db, before, LIMIT_NOTIFY_KEEP_FINISHED); /* a failure is logged there */
}

/*
 * The delivery thread. With attempts in flight it turns in slices of
 * FLIGHT_SLICE_MS (events are taken, new deliveries started, a stop seen
 * between two); idle, it sleeps on the event queue until an event, a wake,
 * or the next delivery is due.
 */
static void *thread_main(void *arg)
{
    struct notify *n = arg;
    struct events *q = service_events(n->svc);
    int64_t wait = 0, next_prune = 0;
    while (!atomic_load(&n->stop)) {
        struct event ev;
        int64_t take_wait = notify_sender_active(n->sender) ? 0 : wait;
        while (events_take(q, &ev, take_wait) == 1) {
            fan_out(n, &ev);
            take_wait = 0;
        }
        if (atomic_load(&n->stop))
            break;
        if (time_mono_ms() >= next_prune) {
            prune(n);
            next_prune = time_mono_ms() + PRUNE_EVERY_MS;
        }
        wait = start_due(n);
        if (notify_sender_active(n->sender))
            run_flights(n, FLIGHT_SLICE_MS);
    }
    return NULL;
}

int notify_open(const struct config *config, struct service *svc, enum notify_mode mode,
                struct notify **ret_notify)
{
    struct notify *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->config = *config;
    n->svc = svc;
    n->mode = mode;
    atomic_init(&n->stop, false);
    int r = notify_send_global_init();
    if (r < 0) {
        log_error("notify: cannot initialize libcurl");
        goto fail;
    }
    n->curl_ready = true;
    char path[PATH_MAX];
    if ((r = db_location(config->database, config->data_dir, path, sizeof(path))) < 0) {
        log_error("notify: database location too long");
        goto fail;
    }
    if ((r = db_open_timed(path, DB_DURABLE, (unsigned)config->database_statement_timeout_ms,
                           DB_TIMEOUT_STATEMENTS, &n->db)) < 0)
        goto fail;
    if (mode == NOTIFY_SERVING) {
        if ((r = notify_sender_new(&n->sender)) < 0) {
            log_error("notify: cannot set up libcurl's transfers");
            goto fail;
        }
        if ((r = -pthread_create(&n->thread, NULL, thread_main, n)) < 0) {
            log_error("notify: cannot start the delivery thread: %s", strerror(-r));
            goto fail;
        }
        pthread_setname_np(n->thread, "otad-notify"); /* top -H, perf: which thread works */
        n->thread_running = true;
    }
    *ret_notify = n;
    return 0;
fail:
    notify_close(n);
    return r;
}

void notify_close(struct notify *n)
{
    if (!n)
        return;
    if (n->thread_running) {
        atomic_store(&n->stop, true);
        events_wake(service_events(n->svc));
        pthread_join(n->thread, NULL);
    }
    /* Attempts cut off: not counted, their rows stay pending, sent again after a restart. */
    notify_sender_free(n->sender);
    for (size_t i = 0; i < n->flight_count; i++)
        flight_free(n->flights[i]);
    /* What was emitted but not taken yet becomes deliveries: the next server sends them. */
    struct event ev;
    while (n->db && events_take(service_events(n->svc), &ev, 0) == 1)
        fan_out(n, &ev);
    db_close(n->db);
    if (n->curl_ready)
        notify_send_global_cleanup();
    free(n);
}

/* A receiver's name: like a channel's, so that it is safe in a log line and a URL. */
static bool name_valid(const char *name)
{
    return name && service_name_valid(name, LIMIT_NOTIFY_NAME_BYTES);
}

int notify_add(struct notify *n, const struct notify_spec *spec, struct notify_receiver *ret,
               struct reason *why)
{
    struct notify_receiver r;
    memset(&r, 0, sizeof(r));
    if (!name_valid(spec->name))
        return reason_set(why, -EINVAL,
                          "receiver name \"%.32s\" must be 1-%u characters of a-z 0-9 . _ -",
                          spec->name ? spec->name : "", LIMIT_NOTIFY_NAME_BYTES);
    str_copy(r.name, sizeof(r.name), spec->name);
    int e = notify_url_check(spec->url ? spec->url : "", why);
    if (e < 0)
        return e;
    str_copy(r.url, sizeof(r.url), spec->url);
    if ((e = notify_patterns_join(spec->events, spec->event_count, r.events, sizeof(r.events),
                                  why)) < 0)
        return e;
    if (!spec->format || strcmp(spec->format, "json") == 0)
        r.format = NOTIFY_FORMAT_JSON;
    else if (strcmp(spec->format, "slack") == 0)
        r.format = NOTIFY_FORMAT_SLACK;
    else
        return reason_set(why, -EINVAL, "format \"%.16s\" must be json or slack", spec->format);
    if (spec->secret && strlen(spec->secret) > LIMIT_NOTIFY_SECRET_BYTES)
        return reason_set(why, -EINVAL, "the secret is longer than %u bytes",
                          LIMIT_NOTIFY_SECRET_BYTES);
    str_copy(r.secret, sizeof(r.secret), spec->secret ? spec->secret : "");

    struct notify_receiver_row *rows = NULL;
    size_t count = 0;
    if ((e = db_notify_receiver_list(n->db, &rows, &count)) < 0) {
        explicit_bzero(&r, sizeof(r));
        return reason_set(why, e, "cannot read the receivers");
    }
    if (rows)
        explicit_bzero(rows, count * sizeof(*rows));
    free(rows);
    if (count >= LIMIT_NOTIFY_RECEIVERS) {
        explicit_bzero(&r, sizeof(r));
        return reason_set(why, -ENOSPC, "at most %u receivers", LIMIT_NOTIFY_RECEIVERS);
    }
    r.has_secret = r.secret[0] != 0;
    e = db_notify_receiver_insert(n->db, &r);
    explicit_bzero(r.secret, sizeof(r.secret));
    if (e == -EEXIST)
        return reason_set(why, e, "a receiver named %s exists", r.name);
    if (e < 0)
        return reason_set(why, e, "cannot store the receiver");
    log_info("notify: receiver %lld (%s) added for %s, %s%s", (long long)r.id, r.name, r.events,
             notify_format_name(r.format), spec->secret && *spec->secret ? ", signed" : "");
    if (ret)
        *ret = r;
    return 0;
}

int notify_remove(struct notify *n, int64_t id, struct reason *why)
{
    int r = db_notify_receiver_delete(n->db, id);
    if (r == -ENOENT)
        return reason_set(why, r, "no receiver %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot remove the receiver");
    log_info("notify: receiver %lld removed with its deliveries", (long long)id);
    return 0;
}

int notify_list(struct notify *n, struct notify_receiver_row **ret_rows, size_t *ret_count)
{
    struct notify_receiver_row *rows = NULL;
    size_t count = 0;
    int r = db_notify_receiver_list(n->db, &rows, &count);
    if (r < 0)
        return r;
    for (size_t i = 0; i < count; i++)
        explicit_bzero(rows[i].receiver.secret, sizeof(rows[i].receiver.secret));
    *ret_rows = rows;
    *ret_count = count;
    return 0;
}

int notify_deliveries(struct notify *n, int64_t id, size_t limit, struct notify_delivery **ret,
                      size_t *ret_count, struct reason *why)
{
    struct notify_receiver rcv;
    int r = db_notify_receiver_get(n->db, id, &rcv);
    explicit_bzero(rcv.secret, sizeof(rcv.secret));
    if (r == -ENOENT)
        return reason_set(why, r, "no receiver %lld", (long long)id);
    if (r < 0 || (r = db_notify_delivery_list(n->db, id, limit, ret, ret_count)) < 0)
        return reason_set(why, r, "cannot read the deliveries");
    return 0;
}

int notify_test(struct notify *n, int64_t id, struct notify_delivery *ret, struct reason *why)
{
    struct notify_receiver rcv;
    int r = db_notify_receiver_get(n->db, id, &rcv);
    explicit_bzero(rcv.secret, sizeof(rcv.secret));
    if (r == -ENOENT)
        return reason_set(why, r, "no receiver %lld", (long long)id);
    if (r < 0)
        return reason_set(why, r, "cannot read the receiver");
    if (rcv.disabled)
        return reason_set(why, -EALREADY,
                          "receiver %s is disabled (it answered 410 Gone): add it again", rcv.name);
    struct event ev = {.kind = EVENT_PING, .at_ms = time_now_ms()};
    json_t *data = json_pack("{s:I,s:s}", "receiver_id", (json_int_t)rcv.id, "receiver", rcv.name);
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (!text || str_copy(ev.data, sizeof(ev.data), text) < 0) {
        free(text);
        return reason_set(why, -ENOMEM, "out of memory");
    }
    free(text);
    struct notify_delivery d;
    if ((r = delivery_make(&d, &rcv, &ev)) < 0) {
        free(d.body);
        return reason_set(why, r, "cannot make the test delivery");
    }
    r = db_notify_deliveries_insert(n->db, &d, 1);
    free(d.body);
    d.body = NULL;
    if (r < 0)
        return reason_set(why, r, "cannot store the test delivery");
    events_wake(service_events(n->svc)); /* the thread looks at once */
    if (ret)
        *ret = d;
    return 0;
}

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char text[21];
    time_format_rfc3339(ms, text);
    return json_string(text);
}

/*
 * URL as lists show it: its origin, and "/..." for any path. The path of a
 * Slack webhook (or of many others) is its credential, and read tokens see
 * lists.
 */
static json_t *url_shown(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t origin = (size_t)(host - url) + strcspn(host, "/?#");
    char out[LIMIT_NOTIFY_URL_BYTES + 8];
    snprintf(out, sizeof(out), "%.*s%s", (int)origin, url, url[origin] ? "/..." : "");
    return json_string(out);
}

json_t *notify_present_delivery(const struct notify_delivery *d)
{
    return json_pack("{s:s,s:s,s:o,s:s,s:I,s:o,s:o,s:o,s:o,s:o}", "id", d->uuid, "event", d->event,
                     "product", d->product[0] ? json_string(d->product) : json_null(), "state",
                     notify_state_name(d->state), "attempts", (json_int_t)d->attempts, "status",
                     d->status ? json_integer((json_int_t)d->status) : json_null(), "next_attempt",
                     time_or_null(d->state == NOTIFY_PENDING ? d->next_ms : 0), "last_error",
                     d->error[0] ? json_string(d->error) : json_null(), "created",
                     time_or_null(d->created_ms), "updated", time_or_null(d->updated_ms));
}

json_t *notify_present_receiver(const struct notify_receiver_row *row)
{
    const struct notify_receiver *r = &row->receiver;
    json_t *events = json_array();
    const char *p = r->events;
    while (events && *p) {
        size_t len = strcspn(p, ",");
        json_array_append_new(events, json_stringn(p, len));
        p += len + (p[len] == ',');
    }
    return json_pack("{s:I,s:s,s:o,s:o,s:s,s:b,s:b,s:o,s:I,s:o}", "id", (json_int_t)r->id, "name",
                     r->name, "url", url_shown(r->url), "events", events ? events : json_array(),
                     "format", notify_format_name(r->format), "signed", r->has_secret, "enabled",
                     !r->disabled, "created", time_or_null(r->created_ms), "pending",
                     (json_int_t)row->pending, "last_delivery",
                     row->has_last ? notify_present_delivery(&row->last) : json_null());
}
