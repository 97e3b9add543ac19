/*
 * The HTTP client of the notification layer, on libcurl: one bounded POST
 * of one delivery. The only file of src/notify/ that includes curl.h.
 *
 * What it guarantees: a connect timeout and a total timeout on every
 * attempt (settings), http and https only, no redirect followed (a 3xx is a
 * failed attempt), no proxy from the environment, TLS certificates checked
 * against the system's store, the receiver's body read and discarded (never
 * buffered), and an attempt that stops within a fraction of a second once
 * CANCEL becomes true. Reasons are in our words (a status, libcurl's fixed
 * text), never what the receiver sent.
 *
 * notify_send_global_init must run once before any other thread uses
 * libcurl (libcurl counts its users: the sources call it too).
 */
#ifndef OTAD_NOTIFY_SEND_H
#define OTAD_NOTIFY_SEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/reason.h"

int notify_send_global_init(void);
void notify_send_global_cleanup(void);

/* One POST. Every pointer is borrowed. */
struct notify_post {
    const char *url;
    const char *body; /* sent byte for byte, as Content-Type: application/json */
    size_t body_len;
    const char *event;         /* X-Otad-Event */
    const char *delivery;      /* X-Otad-Delivery */
    const char *signature;     /* X-Otad-Signature-256's value; NULL: none */
    long connect_timeout_ms;   /* TCP and TLS */
    long timeout_ms;           /* the whole attempt */
    const atomic_bool *cancel; /* when it becomes true the attempt stops; may be NULL */
};

/*
 * Sends P. Returns 0 when a response arrived, whatever its status, with the
 * status in *RET_STATUS; otherwise -errno with WHY: -ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH (name not resolved), -ECANCELED (CANCEL),
 * -ENOMEM, -EIO (anything else: TLS, a reset).
 */
int notify_send(const struct notify_post *p, long *ret_status, struct reason *why);

#endif
