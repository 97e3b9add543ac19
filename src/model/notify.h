/*
 * The model of outgoing notifications (src/notify/, docs/NOTIFICATIONS.md):
 * a receiver (a URL that is POSTed the events it subscribes to) and one
 * delivery of one event to one receiver with its attempts. Plain data,
 * shared by the database (which stores it), the notification layer (which
 * fills and sends it) and the API and CLI (which show it).
 */
#ifndef OTAD_MODEL_NOTIFY_H
#define OTAD_MODEL_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/limits.h"

/* The body a receiver is sent. Stored as the number: never renumbered. */
enum notify_format {
    NOTIFY_FORMAT_JSON = 0,  /* otad's event JSON */
    NOTIFY_FORMAT_SLACK = 1, /* {"text": ...} for a Slack incoming webhook */
};

/* "json" / "slack"; "?" out of range. */
const char *notify_format_name(enum notify_format f);

/* A receiver. The secret is stored (it signs every body) and never shown. */
struct notify_receiver {
    int64_t id;
    char name[LIMIT_NOTIFY_NAME_BYTES + 1];
    char url[LIMIT_NOTIFY_URL_BYTES + 1];
    /* Comma-separated patterns: an event name, "family.*", or "*". */
    char events[LIMIT_NOTIFY_PATTERNS * (LIMIT_NOTIFY_PATTERN_BYTES + 1)];
    enum notify_format format;
    char secret[LIMIT_NOTIFY_SECRET_BYTES + 1]; /* "" = unsigned; wiped before it is shown */
    bool has_secret;                            /* bodies are signed (kept when SECRET is wiped) */
    bool disabled;                              /* a 410 Gone turned it off */
    int64_t created_ms;
};

/* Where a delivery stands. Stored as the number: never renumbered. */
enum notify_state {
    NOTIFY_PENDING = 0,   /* to be sent at next_ms */
    NOTIFY_DELIVERED = 1, /* a 2xx answered it */
    NOTIFY_FAILED = 2,    /* out of attempts or age, or its receiver is gone */
};

/* "pending" / "delivered" / "failed"; "?" out of range. */
const char *notify_state_name(enum notify_state s);

/* One event to one receiver. The body is the exact bytes sent (and signed) on every attempt. */
struct notify_delivery {
    int64_t id;
    char uuid[37]; /* the delivery's id on the wire: X-Otad-Delivery, "id" */
    int64_t receiver_id;
    char event[LIMIT_NOTIFY_PATTERN_BYTES + 1]; /* "rollout.halted" */
    char product[LIMIT_PRODUCT_NAME_BYTES + 1]; /* "" = none */
    char *body;                                 /* owned when read with the body; else NULL */
    enum notify_state state;
    int64_t attempts;
    int64_t next_ms;                          /* when a pending one is sent next */
    int64_t status;                           /* the last HTTP status; 0 = none came */
    char error[LIMIT_NOTIFY_ERROR_BYTES + 1]; /* the last failure, our words; "" */
    int64_t created_ms;                       /* when its event happened */
    int64_t updated_ms;
};

/* A receiver with its last delivery's outcome, as lists show it. */
struct notify_receiver_row {
    struct notify_receiver receiver;
    bool has_last;               /* it has had a delivery */
    struct notify_delivery last; /* its newest delivery (no body) */
    int64_t pending;             /* deliveries waiting */
};

#endif
