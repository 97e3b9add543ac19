/*
 * Outgoing notifications (docs/NOTIFICATIONS.md): webhooks to receivers an
 * admin configured, on the events the service emits (service/events.h).
 * This layer sits beside src/sources/, above the service: it takes from the
 * service's event queue and never makes the service wait for it.
 *
 * It owns: the receivers and the deliveries (its own tables, db_notify.h,
 * on its own database connection), and in NOTIFY_SERVING mode one delivery
 * thread that drains the event queue into one delivery row per (event,
 * receiver) before anything is sent (a restart, even a kill -9, loses no
 * pending delivery), then POSTs the due ones (send.h), receivers side by
 * side: at most one delivery in flight per receiver, each receiver's in
 * order, retried on the
 * schedule of format.h until a 2xx, notify_max_attempts or
 * notify_max_age_s; a 410 Gone disables the receiver. Finished deliveries
 * are pruned after notify_keep_days (and beyond LIMIT_NOTIFY_KEEP_FINISHED).
 * A CLI (NOTIFY_LOCAL) adds, lists, removes and tests receivers on the same
 * tables; a running server sends the test within a second.
 *
 * Threads: every call may be made from any thread once notify_open
 * returned; notify_close must not race with any other call.
 *
 * Errors: -EINVAL (bad settings), -ENOENT (no such receiver), -EEXIST (the
 * name is taken), -ENOSPC (too many receivers), -EALREADY (a disabled
 * receiver cannot be tested), -EIO / -ENOMEM. Each with a one-line reason.
 */
#ifndef OTAD_NOTIFY_NOTIFY_H
#define OTAD_NOTIFY_NOTIFY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/reason.h"
#include "model/notify.h"
#include "service/service.h"

struct notify;

enum notify_mode {
    NOTIFY_LOCAL,   /* a CLI command: no thread; the events of this process are not sent */
    NOTIFY_SERVING, /* the daemon: the delivery thread runs */
};

/*
 * Opens the notifications of the data folder CONFIG names for SVC
 * (borrowed; it must outlive this) and in NOTIFY_SERVING mode starts the
 * delivery thread. Call after service_open; CONFIG is copied. 0 with a new
 * handle, or -errno after logging why.
 */
int notify_open(const struct config *config, struct service *svc, enum notify_mode mode,
                struct notify **ret_notify);

/*
 * Stops the delivery thread (an attempt in flight is cut off and stays
 * pending, to be sent again after a restart) and frees. Events still in the
 * queue are stored as deliveries first. Call before service_close.
 * NULL-safe.
 */
void notify_close(struct notify *notify);

/* What `POST /api/v1/notifications` and `otad notify add` ask for. All borrowed. */
struct notify_spec {
    const char *name;          /* 1-LIMIT_NOTIFY_NAME_BYTES of a-z A-Z 0-9 . _ - */
    const char *url;           /* http:// or https:// */
    const char *const *events; /* patterns (format.h) */
    size_t event_count;
    const char *format; /* "json" (NULL) or "slack" */
    const char *secret; /* NULL or "": unsigned */
};

/*
 * Adds a receiver after checking SPEC; *RET (may be NULL) gets it, its
 * secret wiped. -EINVAL, -EEXIST, -ENOSPC, -EIO.
 */
int notify_add(struct notify *notify, const struct notify_spec *spec, struct notify_receiver *ret,
               struct reason *why);

/* Removes receiver ID and its deliveries. -ENOENT. */
int notify_remove(struct notify *notify, int64_t id, struct reason *why);

/* Every receiver with its last delivery; free *RET_ROWS with free(). Secrets are wiped. */
int notify_list(struct notify *notify, struct notify_receiver_row **ret_rows, size_t *ret_count);

/* Receiver ID's LIMIT newest deliveries, newest first; free with free(). -ENOENT. */
int notify_deliveries(struct notify *notify, int64_t id, size_t limit, struct notify_delivery **ret,
                      size_t *ret_count, struct reason *why);

/*
 * Queues a "ping" to receiver ID alone, whatever it subscribes to, and
 * wakes the delivery thread; *RET (may be NULL) gets the pending delivery.
 * -ENOENT, -EALREADY (disabled: add it again), -EIO.
 */
int notify_test(struct notify *notify, int64_t id, struct notify_delivery *ret, struct reason *why);

/* A receiver as the API and `notify list --json` show it: never its secret ("signed": bool). */
json_t *notify_present_receiver(const struct notify_receiver_row *row);

/* A delivery as the API and `notify deliveries --json` show it (no body). */
json_t *notify_present_delivery(const struct notify_delivery *d);

#endif
