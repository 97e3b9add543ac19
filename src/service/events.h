/*
 * The service's outgoing events (docs/NOTIFICATIONS.md): what the person on
 * call wants to hear about (a rollout halted, promoted or completed, a
 * release published, a source failing or recovered), posted by whoever sees
 * it happen (the rollout controller, a publish, a source's sync) and taken
 * by the notification layer (src/notify/), which turns each into deliveries.
 *
 * The queue is bounded and fixed at creation: events_emit never blocks on
 * anything but the queue's own short lock and never allocates beyond the
 * event's own JSON; a full queue drops the event and counts it. An emitter
 * is never slowed by a receiver: nothing here waits for a delivery.
 *
 * Threads: every call is safe from any thread once events_new returned;
 * events_free must not race with any other call. The lock is a leaf: no
 * other lock is taken while it is held.
 */
#ifndef OTAD_SERVICE_EVENTS_H
#define OTAD_SERVICE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

/* What happened. The names (event_kind_name) are the wire's "event" and never change. */
enum event_kind {
    EVENT_PING = 0,          /* "ping": a receiver's test, sent to that receiver only */
    EVENT_ROLLOUT_HALTED,    /* "rollout.halted" */
    EVENT_ROLLOUT_PROMOTED,  /* "rollout.promoted" */
    EVENT_ROLLOUT_COMPLETED, /* "rollout.completed" */
    EVENT_RELEASE_PUBLISHED, /* "release.published" */
    EVENT_SOURCE_FAILING,    /* "source.failing" */
    EVENT_SOURCE_RECOVERED,  /* "source.recovered" */
};
#define EVENT_KIND_COUNT 7

/* The wire name of KIND ("rollout.halted"), or "?" for a value out of range. */
const char *event_kind_name(enum event_kind kind);

/* The kind named NAME into *RET. 0, or -ENOENT for a name that is no event. */
int event_kind_parse(const char *name, enum event_kind *ret);

/* One event as it waits in the queue: fixed size, nothing to free. */
struct event {
    enum event_kind kind;
    int64_t at_ms;                              /* when it happened (wall clock) */
    char product[LIMIT_PRODUCT_NAME_BYTES + 1]; /* the product it concerns; "" = none */
    char data[LIMIT_EVENT_DATA_BYTES];          /* a JSON object, compact, NUL-terminated */
};

struct events;

/* A queue of CAPACITY events (at least 1), allocated once. 0, -EINVAL or -ENOMEM. */
int events_new(size_t capacity, struct events **ret_events);

/* Frees the queue and the events still in it. NULL-safe. */
void events_free(struct events *events);

/*
 * Queues an event of KIND about PRODUCT (may be NULL or "") with DATA, a
 * JSON object whose reference is stolen (freed here in every case; NULL is
 * an empty object), stamped with the wall clock. Never waits for the taker.
 * Returns 0; -ENOBUFS when the queue is full and -EFBIG when DATA is longer
 * than LIMIT_EVENT_DATA_BYTES as JSON (both dropped and counted); -ENOMEM.
 * EVENTS may be NULL (a CLI without notifications): the event is dropped
 * uncounted and 0 is returned.
 */
int events_emit(struct events *events, enum event_kind kind, const char *product, json_t *data);

/*
 * Takes the oldest event into *RET, waiting up to WAIT_MS (0: not at all)
 * for one. Returns 1 with *RET filled, 0 when none came within WAIT_MS or
 * events_wake was called.
 */
int events_take(struct events *events, struct event *ret, int64_t wait_ms);

/* Ends the wait of a taker blocked in events_take now (it returns 0 if nothing is queued). */
void events_wake(struct events *events);

/* What the queue has seen since events_new. */
struct events_stats {
    uint64_t emitted; /* queued */
    uint64_t dropped; /* refused: full or too large */
    uint64_t queued;  /* waiting now */
};
void events_stats(struct events *events, struct events_stats *ret);

#endif
