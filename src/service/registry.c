/*
 * The batched registry writer (registry.h). Two pending tables swap roles:
 * check-in threads add to the active one under a mutex (a lookup by
 * (product, STA MAC) in an open-addressing index, then a copy); the
 * flusher takes the other one whole, commits it without holding the mutex,
 * empties it and keeps its memory for the next round. When the active
 * table fills up between two commits it is handed to the flusher at once if
 * the flusher is idle; otherwise the check-in is dropped: recording never
 * waits.
 *
 * The flusher alone decides about new devices (admission.h), inside the
 * commit: the database says whether a device has a row.
 *
 * When the database cannot be reached (-ENOTCONN: PostgreSQL away; or
 * -ETIMEDOUT: a statement outran the statement timeout, rolled back), the
 * flusher keeps what of the table it was
 * committing was not written (held: all of it, or the new devices put aside
 * when it went away between their commit and the others', or the fleet
 * events) and commits it again every interval until the database is back,
 * before anything newer; check-ins meanwhile fill the active table, merged
 * per device, and past its bound are dropped and counted, as ever. At
 * shutdown a held table is given up and counted lost.
 *
 * The connection can also be lost after a COMMIT was sent and before its
 * reply: the transaction may have committed. So every transaction of the
 * flusher carries a mark (db.h, struct db_batch: this registry, then a
 * number rising by one per transaction), and the first transaction of a
 * held table's retry carries the failed one's mark again: the database
 * answers -EALREADY when that mark committed, and the flusher goes on from
 * where the lost transaction ended (the new devices it had put aside, then
 * the events) instead of adding the check-ins and events a second time.
 */
#include "service/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/mono.h"
#include "core/util.h"
#include "db/db_fleet.h"
#include "service/admission.h"
#include "service/service_metrics.h"

/* How often pressure (drops, refused devices) is logged at most. */
#define REGISTRY_LOG_INTERVAL_MS 60000
/* A table that grew past this and then held less than an eighth of it gives its memory back. */
#define REGISTRY_KEEP_RECORDS 4096

struct pending_table {
    struct device_record *records; /* one per device, its latest check-in; .checkins counts */
    uint32_t *slot_of;             /* records[i] is at slots[slot_of[i]]: clearing is O(count) */
    size_t count, cap;
    uint32_t *slots; /* index + 1 into records, 0 empty; nslots, a power of two >= 2 * max */
    size_t nslots;
    uint64_t checkins;          /* the sum of records[].checkins */
    struct fleet_event *events; /* fleet control's, in the order they happened */
    size_t event_count, event_cap;
};

struct registry {
    struct db *db;
    unsigned flush_ms;
    size_t max_pending;
    uint64_t seed; /* of the index hash: MACs are chosen by peers */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the flusher: time to commit, or stop (CLOCK_MONOTONIC) */
    pthread_cond_t drained; /* registry_flush: a table was committed */
    struct pending_table tables[2];
    struct pending_table *active; /* check-ins go here */
    struct pending_table *other;  /* empty and idle, handed over full, or being committed */
    bool other_full;              /* handed over by registry_record: commit it now */
    bool held;                    /* OTHER is a batch the database was away for: retry it */
    bool committing;              /* the flusher works on OTHER without the lock */
    uint64_t accepted;            /* check-ins taken into a table so far */
    uint64_t done;                /* of those, committed, failed or refused */
    uint64_t events_accepted;     /* fleet events taken into a table so far */
    uint64_t events_done;         /* of those, committed or failed */
    bool stopping;
    bool flush_now;
    struct registry_stats stats;

    /* The flusher's own, never touched under the lock. */
    struct admission *admission;
    struct registry_limits limits;
    uint64_t batch_refused_addr, batch_refused_product; /* check-ins, this commit */
    uint64_t batch_failed; /* check-ins of deferred new devices lost to a database error */
    /*
     * New devices of products whose device count this process has not read
     * yet: put aside during the commit, counted after it, then decided and
     * committed. A restart never reads a count until a new device shows up.
     */
    struct device_record *deferred;
    size_t deferred_count, deferred_cap;
    bool may_defer;
    char last_refused_addr[64];
    int64_t last_refused_product;
    int64_t logged_ms; /* when pressure was last logged; 0 never */
    struct registry_stats logged;
    struct db_batch mark; /* this registry's; .seq that of its last transaction */
    bool mark_again;      /* the next transaction is a held one's retry: the same mark */
    /*
     * The new devices put aside by a held devices transaction that may have
     * committed: when its retry says it did (-EALREADY), only they are left.
     */
    struct device_record *unsure;
    size_t unsure_count, unsure_cap;
};

/* Whether R says the database did nothing and will likely work later: hold and retry. */
static bool db_try_later(int r)
{
    return r == -ENOTCONN || r == -ETIMEDOUT;
}

/* The mark of the flusher's next transaction: a held one's again, or a new one. */
static struct db_batch *next_mark(struct registry *reg)
{
    if (!reg->mark_again)
        reg->mark.seq++;
    reg->mark_again = false;
    reg->mark.passed = false;
    return &reg->mark;
}

/* Swaps reg->deferred and reg->unsure (their memory with them). */
static void swap_deferred_unsure(struct registry *reg)
{
    struct device_record *records = reg->deferred;
    size_t count = reg->deferred_count, cap = reg->deferred_cap;
    reg->deferred = reg->unsure;
    reg->deferred_count = reg->unsure_count;
    reg->deferred_cap = reg->unsure_cap;
    reg->unsure = records;
    reg->unsure_count = count;
    reg->unsure_cap = cap;
}

static bool same_device(const struct device_record *a, const struct device_record *b)
{
    return a->product_id == b->product_id &&
           memcmp(a->report.sta_mac, b->report.sta_mac, sizeof(a->report.sta_mac)) == 0;
}

/* The slot of REC's device in T: holding it, or the empty one where it belongs. */
static uint32_t *table_slot(const struct registry *reg, const struct pending_table *t,
                            const struct device_record *rec)
{
    size_t mask = t->nslots - 1;
    uint64_t mac = 0; /* the 6 bytes in any order: only hashed */
    memcpy(&mac, rec->report.sta_mac, sizeof(rec->report.sta_mac));
    uint64_t h = hash_mix64(mac ^ reg->seed) ^ (uint64_t)rec->product_id;
    for (size_t i = (size_t)hash_mix64(h) & mask;; i = (i + 1) & mask) {
        uint32_t *slot = &t->slots[i];
        if (*slot == 0 || same_device(&t->records[*slot - 1], rec))
            return slot;
    }
}

static int table_init(struct pending_table *t, size_t max)
{
    size_t n = 16;
    while (n < max * 2)
        n *= 2;
    t->slots = calloc(n, sizeof(*t->slots));
    if (!t->slots)
        return -ENOMEM;
    t->nslots = n;
    return 0;
}

/* Empties T's device records, keeping its fleet events. */
static void table_clear_records(struct pending_table *t)
{
    for (size_t i = 0; i < t->count; i++)
        t->slots[t->slot_of[i]] = 0;
    t->count = 0;
    t->checkins = 0;
}

static void table_clear(struct pending_table *t)
{
    for (size_t i = 0; i < t->count; i++)
        t->slots[t->slot_of[i]] = 0;
    if (t->cap > REGISTRY_KEEP_RECORDS && t->count < t->cap / 8) {
        free(t->records);
        free(t->slot_of);
        t->records = NULL;
        t->slot_of = NULL;
        t->cap = 0;
    }
    t->count = 0;
    t->checkins = 0;
    t->event_count = 0;
}

static void table_release(struct pending_table *t)
{
    free(t->events);
    free(t->records);
    free(t->slot_of);
    free(t->slots);
}

/*
 * Replaces a device's pending record P by its newer REC (N check-ins), as the database would:
 * last offered version and key, and the last secure_version reported, kept when REC has none;
 * the highest secure_version of both kept.
 */
static void pending_merge(struct device_record *p, const struct device_record *rec, int64_t n)
{
    int64_t first_seen = p->first_seen_ms, checkins = p->checkins + n;
    char offered[sizeof(p->last_offered)], key[sizeof(p->last_key)];
    bool keep_offer = !rec->last_offered[0];
    if (keep_offer) {
        memcpy(offered, p->last_offered, sizeof(offered));
        memcpy(key, p->last_key, sizeof(key));
    }
    /* The anti-rollback counter: the highest of every check-in merged, and the last reported. */
    bool has_highest = p->has_secure_version_max || rec->has_secure_version_max;
    uint32_t highest = p->has_secure_version_max ? p->secure_version_max : 0;
    if (rec->has_secure_version_max && rec->secure_version_max > highest)
        highest = rec->secure_version_max;
    bool had_reported = p->report.has_secure_version;
    uint32_t reported = p->report.secure_version;
    *p = *rec;
    p->first_seen_ms = first_seen;
    p->checkins = checkins;
    p->has_secure_version_max = has_highest;
    p->secure_version_max = highest;
    if (!rec->report.has_secure_version && had_reported) {
        p->report.has_secure_version = true;
        p->report.secure_version = reported;
    }
    if (keep_offer) {
        memcpy(p->last_offered, offered, sizeof(offered));
        if (!rec->last_key[0])
            memcpy(p->last_key, key, sizeof(key));
    }
}

/* Adds REC, for N check-ins, at SLOT (a device not in T, which holds fewer than MAX). -ENOMEM. */
static int table_add(struct pending_table *t, size_t max, uint32_t *slot,
                     const struct device_record *rec, int64_t n)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        if (cap > max)
            cap = max;
        struct device_record *records = realloc(t->records, cap * sizeof(*records));
        if (!records)
            return -ENOMEM;
        t->records = records;
        uint32_t *m = realloc(t->slot_of, cap * sizeof(*m));
        if (!m)
            return -ENOMEM; /* RECORDS is larger than CAP says: harmless */
        t->slot_of = m;
        t->cap = cap;
    }
    struct device_record *p = &t->records[t->count];
    *p = *rec;
    p->checkins = n;
    if (!p->first_seen_ms)
        p->first_seen_ms = p->last_seen_ms;
    t->slot_of[t->count] = (uint32_t)(slot - t->slots);
    *slot = (uint32_t)++t->count;
    t->checkins += (uint64_t)n;
    return 0;
}

static void swap_tables(struct registry *reg)
{
    struct pending_table *t = reg->active;
    reg->active = reg->other;
    reg->other = t;
}

/* db_device_admit_fn: the flusher's verdict on a device without a row. */
/* Puts REC aside until its product is counted. -ENOMEM. */
static int defer(struct registry *reg, const struct device_record *rec)
{
    if (reg->deferred_count == reg->deferred_cap) {
        size_t cap = reg->deferred_cap ? reg->deferred_cap * 2 : 16;
        struct device_record *n = realloc(reg->deferred, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        reg->deferred = n;
        reg->deferred_cap = cap;
    }
    reg->deferred[reg->deferred_count++] = *rec;
    return 0;
}

static bool admit_new_device(void *ctx, const struct device_record *rec)
{
    struct registry *reg = ctx;
    /* Without memory to put it aside it is decided now, without the product's maximum. */
    if (reg->may_defer && admission_needs_count(reg->admission, rec->product_id) &&
        defer(reg, rec) == 0)
        return false;
    switch (admission_check(reg->admission, rec->product_id, rec->remote_addr, time_mono_ms())) {
    case ADMISSION_OK:
        return true;
    case ADMISSION_PRODUCT_FULL:
        reg->batch_refused_product += (uint64_t)rec->checkins;
        reg->last_refused_product = rec->product_id;
        return false;
    case ADMISSION_ADDR_RATE:
    case ADMISSION_ADDR_TABLE:
        reg->batch_refused_addr += (uint64_t)rec->checkins;
        str_copy(reg->last_refused_addr, sizeof(reg->last_refused_addr), rec->remote_addr);
        return false;
    }
    return false;
}

/* Reads the device count of each product of RECORDS that the cap needs and has not counted yet. */
static void count_products(struct registry *reg, const struct device_record *records, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int64_t id = records[i].product_id;
        if (!admission_needs_count(reg->admission, id))
            continue;
        struct device_record *none = NULL;
        size_t n = 0;
        uint64_t total = 0;
        int r = db_device_list(reg->db, id, 0, 0, &none, &n, &total);
        free(none);
        if (r < 0 || admission_set_devices(reg->admission, id, total) < 0) {
            log_warn("registry: cannot count the devices of product %lld: its maximum is not "
                     "applied to this commit",
                     (long long)id);
            return;
        }
    }
}

/* Logs drops and refusals since the last such log, at most once per REGISTRY_LOG_INTERVAL_MS. */
static void log_pressure(struct registry *reg, const struct registry_stats *now, bool force)
{
    int64_t t = time_mono_ms();
    if (!force && reg->logged_ms && t - reg->logged_ms < REGISTRY_LOG_INTERVAL_MS)
        return;
    uint64_t dropped = now->dropped - reg->logged.dropped;
    uint64_t addr = now->refused_addr - reg->logged.refused_addr;
    uint64_t product = now->refused_product - reg->logged.refused_product;
    if (!dropped && !addr && !product)
        return;
    if (dropped)
        log_warn("registry: dropped %llu check-ins: more than %zu devices checked in between two "
                 "commits while the previous commit was still running",
                 (unsigned long long)dropped, reg->max_pending);
    if (addr)
        log_warn("registry: not recording %llu check-ins of new devices over the limit of %llu "
                 "new devices a minute per address (registry_new_devices_per_ip_per_minute; "
                 "last from \"%s\"); they were answered as usual",
                 (unsigned long long)addr,
                 (unsigned long long)reg->limits.new_devices_per_addr_per_minute,
                 reg->last_refused_addr);
    if (product)
        log_warn("registry: not recording %llu check-ins of new devices of product id %lld: it "
                 "has the maximum of %llu devices (registry_max_devices_per_product); they were "
                 "answered as usual",
                 (unsigned long long)product, (long long)reg->last_refused_product,
                 (unsigned long long)reg->limits.max_devices_per_product);
    reg->logged = *now;
    reg->logged_ms = t;
}

/*
 * Commits the new devices put aside during the commit of a table, once their products are
 * counted; their rows into *RET_ROWS. -ENOTCONN or -ETIMEDOUT: the database went away (or was
 * too slow) in between, nothing of them was written and they stay in reg->deferred for the flusher
 * to hold. Any other error loses them (counted in batch_failed, logged) and returns 0.
 */
static int commit_deferred(struct registry *reg, size_t *ret_rows)
{
    count_products(reg, reg->deferred, reg->deferred_count);
    reg->may_defer = false;
    uint64_t refused_addr = reg->batch_refused_addr, refused_product = reg->batch_refused_product;
    size_t rows = 0;
    int r = db_devices_record(reg->db, reg->deferred, reg->deferred_count, admit_new_device, reg,
                              next_mark(reg), &rows);
    if (r == -EALREADY) /* never the first of a retry, so not expected: it is in, all the same */
        r = 0;
    if (r < 0) {
        admission_forget_counts(reg->admission);
        reg->batch_refused_addr = refused_addr;
        reg->batch_refused_product = refused_product;
        if (db_try_later(r))
            return r;
        for (size_t i = 0; i < reg->deferred_count; i++)
            reg->batch_failed += (uint64_t)reg->deferred[i].checkins;
        log_error("registry: lost %llu check-ins of new devices: %s",
                  (unsigned long long)reg->batch_failed, strerror(-r));
        rows = 0;
    }
    *ret_rows = rows;
    return 0;
}

/*
 * Commits T (the lock not held), setting the batch_* counters. Returns 0 or -errno. On
 * -ENOTCONN or -ETIMEDOUT *RET_PARTIAL says whether T's known devices went in and only the
 * new ones put aside (reg->deferred) were not written; their rows are in *RET_ROWS then.
 */
static int commit_table(struct registry *reg, const struct pending_table *t, size_t *ret_rows,
                        bool *ret_partial)
{
    reg->batch_refused_addr = reg->batch_refused_product = reg->batch_failed = 0;
    reg->deferred_count = 0;
    reg->may_defer = true;
    *ret_partial = false;
    size_t rows = 0;
    int r = db_devices_record(reg->db, t->records, t->count, admit_new_device, reg, next_mark(reg),
                              &rows);
    if (r == -EALREADY) {
        /*
         * An earlier try committed and its reply was lost: T's devices are in (their rows
         * uncounted), all but the new ones that try put aside. Those are what is left.
         */
        swap_deferred_unsure(reg);
        reg->unsure_count = 0;
        r = 0;
    } else if (r < 0) {
        /* Rolled back: the devices counted as added were not, nor put aside. */
        admission_forget_counts(reg->admission);
        /*
         * This try's mark was new: the try the unsure list came from did not commit, and what
         * this one put aside (maybe nothing) is what is left if its own reply was what got lost.
         */
        if (db_try_later(r) && reg->mark.passed)
            swap_deferred_unsure(reg);
        reg->deferred_count = 0;
        if (!db_try_later(r)) /* else the flusher holds them (or logs the loss) */
            log_error("registry: lost %llu check-ins: %s", (unsigned long long)t->checkins,
                      strerror(-r));
        return r;
    } else {
        reg->unsure_count = 0;
    }
    if (reg->deferred_count > 0) {
        size_t more = 0;
        if ((r = commit_deferred(reg, &more)) < 0) {
            *ret_rows = rows;
            *ret_partial = true;
            return r;
        }
        rows += more;
    }
    *ret_rows = rows;
    return 0;
}

/*
 * Counts, under the lock, CHECKINS of a table as committed in ROWS rows, less those the
 * batch_* counters say were refused or lost: they are done.
 */
static void count_commit(struct registry *reg, uint64_t checkins, size_t rows)
{
    uint64_t refused = reg->batch_refused_addr + reg->batch_refused_product;
    reg->stats.recorded += checkins - refused - reg->batch_failed;
    reg->stats.failed += reg->batch_failed;
    reg->stats.refused_addr += reg->batch_refused_addr;
    reg->stats.refused_product += reg->batch_refused_product;
    reg->stats.rows += rows;
    reg->stats.commits++;
    reg->done += checkins;
}

/*
 * The database went away after T's known devices were written, before the new ones put aside
 * (reg->deferred) were: T keeps only those, to be held. Returns the check-ins written.
 */
static uint64_t keep_deferred(struct registry *reg, struct pending_table *t)
{
    uint64_t waiting = 0;
    for (size_t i = 0; i < reg->deferred_count; i++)
        waiting += (uint64_t)reg->deferred[i].checkins;
    uint64_t written = t->checkins - waiting;
    table_clear_records(t);
    for (size_t i = 0; i < reg->deferred_count; i++) {
        const struct device_record *rec = &reg->deferred[i];
        /* T held all of them a moment ago: its memory is there, nothing fails. */
        (void)table_add(t, reg->max_pending, table_slot(reg, t, rec), rec, rec->checkins);
    }
    reg->deferred_count = 0;
    return written;
}

/* Seconds on the monotonic clock since BEGAN. */
static double seconds_since(const struct timespec *began)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - began->tv_sec) + (double)(now.tv_nsec - began->tv_nsec) / 1e9;
}

static void *flusher_main(void *arg)
{
    struct registry *reg = arg;
    pthread_mutex_lock(&reg->lock);
    for (;;) {
        struct timespec deadline;
        mono_deadline_ms(&deadline, reg->flush_ms);
        while (!reg->stopping && !reg->flush_now && !reg->other_full)
            if (pthread_cond_timedwait(&reg->wake, &reg->lock, &deadline) == ETIMEDOUT)
                break;
        if (!reg->other_full && !reg->held) {
            /* OTHER is empty: take everything recorded so far. */
            swap_tables(reg);
            reg->flush_now = false;
        }
        struct pending_table *t = reg->other;
        reg->committing = true;
        metric_set(&metric_registry_depth, NULL, (int64_t)reg->active->count);
        pthread_mutex_unlock(&reg->lock);

        size_t rows = 0, devices = t->count, events = t->event_count;
        uint64_t checkins = t->checkins;
        struct timespec began;
        clock_gettime(CLOCK_MONOTONIC, &began);
        bool partial = false;
        int r = devices > 0 ? commit_table(reg, t, &rows, &partial) : 0;
        /* After the devices' rows: an outcome's deadline reads the interval they just learned. */
        int re = events > 0 && !db_try_later(r)
                     ? db_fleet_events_apply(reg->db, t->events, events, next_mark(reg))
                     : 0;
        if (re == -EALREADY) /* a held try committed, its reply lost: they are in */
            re = 0;
        if ((db_try_later(r) || db_try_later(re)) && !reg->stopping) {
            /* What was not written (rolled back) is kept and tried again next interval; what
             * was is done. */
            uint64_t written = 0;
            if (r == 0) { /* the devices went in; only the events wait */
                written = t->checkins;
                table_clear_records(t);
            } else if (partial) { /* the known devices went in; the new ones wait */
                written = keep_deferred(reg, t);
            }
            if (r == 0 || partial)
                reg->unsure_count = 0; /* what failed put nothing aside */
            reg->mark_again = true;    /* its retry asks whether it committed after all */
            pthread_mutex_lock(&reg->lock);
            if (r == 0 || partial)
                count_commit(reg, written, rows);
            if (!reg->held)
                log_warn("registry: the database is away (or a statement timed out): holding %llu "
                         "check-ins and %zu fleet events until it is back",
                         (unsigned long long)t->checkins, t->event_count);
            reg->held = true;
            reg->other_full = false;
            reg->committing = false;
            reg->flush_now = false;                /* retried every interval, not at once */
            pthread_cond_broadcast(&reg->drained); /* registry_flush does not wait for it */
            continue;
        }
        bool was_held = reg->held; /* only this thread writes it */
        if (was_held)
            log_info("registry: the database is back (or otad stops): the held check-ins are "
                     "written or given up");
        if (db_try_later(r))
            re = r; /* given up at shutdown: the events go with the devices */
        if (devices > 0 || events > 0)
            metric_observe(&metric_registry_flush, NULL, seconds_since(&began));
        if (r < 0)
            metric_add(&metric_registry_dropped, (const char *[]){"database"}, checkins);
        if (re < 0) {
            metric_add(&metric_registry_dropped, (const char *[]){"database"}, events);
            log_error("registry: lost %zu fleet events (offers, downloads, outcomes): %s", events,
                      strerror(-re));
        }
        table_clear(t); /* still the flusher's: not under the lock the workers take */

        pthread_mutex_lock(&reg->lock);
        if (devices > 0 && r == 0) {
            count_commit(reg, checkins, rows);
        } else {
            if (devices > 0) {
                reg->stats.failed += checkins;
                reg->stats.commits++;
            }
            reg->done += checkins;
        }
        reg->events_done += events;
        if (re < 0)
            reg->stats.events_failed += events;
        else
            reg->stats.events += events;
        reg->other_full = false;
        reg->committing = false;
        if (was_held)
            reg->held = false;
        struct registry_stats now = reg->stats;
        pthread_cond_broadcast(&reg->drained);
        bool stop = reg->stopping && reg->active->count == 0 && reg->active->event_count == 0;
        pthread_mutex_unlock(&reg->lock);
        log_pressure(reg, &now, stop);
        pthread_mutex_lock(&reg->lock);
        if (stop)
            break;
    }
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}

int registry_start(const char *db_path, unsigned flush_ms, size_t max_pending,
                   const struct registry_limits *limits, struct registry **ret_registry)
{
    if (max_pending == 0 || max_pending > UINT32_MAX / 2)
        return -EINVAL;
    struct registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return -ENOMEM;
    reg->flush_ms = flush_ms;
    reg->max_pending = max_pending;
    if (limits)
        reg->limits = *limits;
    reg->active = &reg->tables[0];
    reg->other = &reg->tables[1];
    int r = -pthread_mutex_init(&reg->lock, NULL);
    if (r < 0)
        goto fail_free;
    if ((r = mono_cond_init(&reg->wake)) < 0)
        goto fail_mutex;
    if ((r = -pthread_cond_init(&reg->drained, NULL)) < 0)
        goto fail_wake;
    struct admission_limits al = {
        .new_per_addr_per_minute = reg->limits.new_devices_per_addr_per_minute,
        .max_per_product = reg->limits.max_devices_per_product,
    };
    reg->mark.started_ms = time_now_ms();
    if ((r = random_bytes(&reg->seed, sizeof(reg->seed))) < 0 ||
        (r = random_bytes(&reg->mark.nonce, sizeof(reg->mark.nonce))) < 0 ||
        (r = table_init(&reg->tables[0], max_pending)) < 0 ||
        (r = table_init(&reg->tables[1], max_pending)) < 0 ||
        (r = admission_new(&al, LIMIT_REGISTRY_ADDRS_PER_MINUTE, &reg->admission)) < 0 ||
        (r = db_open_timed(db_path, DB_RELAXED, reg->limits.statement_timeout_ms,
                           DB_TIMEOUT_LOCK_WAITS, &reg->db)) < 0)
        goto fail_tables;
    if (reg->limits.fleet_timing)
        db_set_fleet_timing(reg->db, reg->limits.fleet_timing);
    reg->limits.fleet_timing = NULL; /* borrowed: not kept past this call */
    if ((r = -pthread_create(&reg->thread, NULL, flusher_main, reg)) < 0)
        goto fail_tables;
    pthread_setname_np(reg->thread, "otad-registry"); /* top -H, perf: which thread works */
    *ret_registry = reg;
    return 0;
fail_tables:
    db_close(reg->db);
    admission_free(reg->admission);
    table_release(&reg->tables[0]);
    table_release(&reg->tables[1]);
    pthread_cond_destroy(&reg->drained);
fail_wake:
    pthread_cond_destroy(&reg->wake);
fail_mutex:
    pthread_mutex_destroy(&reg->lock);
fail_free:
    free(reg);
    return r;
}

int registry_record(struct registry *reg, const struct device_record *record)
{
    int64_t n = record->checkins > 1 ? record->checkins : 1;
    pthread_mutex_lock(&reg->lock);
    struct pending_table *t = reg->active;
    uint32_t *slot = table_slot(reg, t, record);
    int r = 0;
    if (*slot) {
        pending_merge(&t->records[*slot - 1], record, n);
        t->checkins += (uint64_t)n;
        reg->stats.coalesced += (uint64_t)n;
    } else {
        if (t->count == reg->max_pending) {
            if (reg->other_full || reg->committing || reg->held) {
                r = -ENOBUFS; /* both tables are the flusher's: never wait for it */
                goto out;
            }
            /* Hand the full table over now rather than at the end of the interval. */
            swap_tables(reg);
            reg->other_full = true;
            pthread_cond_signal(&reg->wake);
            t = reg->active;
            slot = table_slot(reg, t, record);
        }
        r = table_add(t, reg->max_pending, slot, record, n);
    }
out:
    if (r == 0) {
        reg->accepted += (uint64_t)n;
        metric_set(&metric_registry_depth, NULL, (int64_t)reg->active->count);
    } else {
        reg->stats.dropped += (uint64_t)n;
        metric_add(&metric_registry_dropped, (const char *[]){"queue_full"}, (uint64_t)n);
    }
    pthread_mutex_unlock(&reg->lock);
    return r < 0 ? -ENOBUFS : 0;
}

int registry_fleet_event(struct registry *reg, const struct fleet_event *event)
{
    pthread_mutex_lock(&reg->lock);
    struct pending_table *t = reg->active;
    int r = 0;
    if (t->event_count == t->event_cap) {
        size_t cap = t->event_cap ? t->event_cap * 2 : 64;
        struct fleet_event *e = NULL;
        if (cap <= LIMIT_FLEET_EVENTS_PENDING)
            e = realloc(t->events, cap * sizeof(*e));
        if (!e) {
            r = -ENOBUFS;
            reg->stats.events_dropped++;
            metric_inc(&metric_registry_dropped, (const char *[]){"queue_full"});
            goto out;
        }
        t->events = e;
        t->event_cap = cap;
    }
    t->events[t->event_count++] = *event;
    reg->events_accepted++;
out:
    pthread_mutex_unlock(&reg->lock);
    return r;
}

int registry_flush(struct registry *reg)
{
    pthread_mutex_lock(&reg->lock);
    uint64_t target = reg->accepted, events_target = reg->events_accepted;
    uint64_t failed_before = reg->stats.failed + reg->stats.events_failed;
    reg->flush_now = true;
    pthread_cond_signal(&reg->wake);
    /* While the database is away the flusher holds what it could not write: no waiting for it. */
    while ((reg->done < target || reg->events_done < events_target) && !reg->held)
        pthread_cond_wait(&reg->drained, &reg->lock);
    int r = reg->held                                                      ? -ENOTCONN
            : reg->stats.failed + reg->stats.events_failed > failed_before ? -EIO
                                                                           : 0;
    pthread_mutex_unlock(&reg->lock);
    return r;
}

void registry_stats(struct registry *reg, struct registry_stats *ret_stats)
{
    pthread_mutex_lock(&reg->lock);
    *ret_stats = reg->stats;
    pthread_mutex_unlock(&reg->lock);
}

void registry_stop(struct registry *reg)
{
    if (!reg)
        return;
    pthread_mutex_lock(&reg->lock);
    reg->stopping = true;
    pthread_cond_signal(&reg->wake);
    pthread_mutex_unlock(&reg->lock);
    pthread_join(reg->thread, NULL);
    const struct registry_stats *st = &reg->stats;
    log_info("registry: %llu check-ins recorded in %llu commits and %llu row writes (%llu merged "
             "with a device's earlier check-in); %llu dropped, %llu lost to database errors, %llu "
             "of new devices not recorded (%llu over the address limit, %llu over the product "
             "maximum)",
             (unsigned long long)st->recorded, (unsigned long long)st->commits,
             (unsigned long long)st->rows, (unsigned long long)st->coalesced,
             (unsigned long long)st->dropped, (unsigned long long)st->failed,
             (unsigned long long)(st->refused_addr + st->refused_product),
             (unsigned long long)st->refused_addr, (unsigned long long)st->refused_product);
    db_close(reg->db);
    admission_free(reg->admission);
    table_release(&reg->tables[0]);
    table_release(&reg->tables[1]);
    free(reg->deferred);
    free(reg->unsure);
    pthread_cond_destroy(&reg->wake);
    pthread_cond_destroy(&reg->drained);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}
