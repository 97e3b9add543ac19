/*
 * The HTTP client of the notification layer, on libcurl's multi interface:
 * several bounded POSTs in flight at once (one per receiver, the caller
 * sees to that), driven by the delivery thread in short slices so that it
 * can take events and stop between them. The only file of src/notify/
 * that includes curl.h.
 *
 * What it guarantees: a connect timeout and a total timeout on every
 * attempt (settings), http and https only, no redirect followed (a 3xx is a
 * failed attempt), no proxy from the environment, TLS certificates checked
 * against the system's store, the receiver's answer read for its status
 * and its body dropped as it comes (never buffered). Reasons are in our
 * words (a status, libcurl's fixed text), never what the receiver sent.
 *
 * One thread uses a sender. notify_send_global_init must run once before
 * any other thread uses libcurl (libcurl counts its users: the sources
 * call it too).
 */
#ifndef OTAD_NOTIFY_SEND_H
#define OTAD_NOTIFY_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"

int notify_send_global_init(void);
void notify_send_global_cleanup(void);

/* One POST. Every pointer is borrowed and must stay valid until its transfer is reported. */
struct notify_post {
    const char *url;
    const char *body; /* sent byte for byte, as Content-Type: application/json */
    size_t body_len;
    const char *event;       /* X-Otad-Event */
    const char *delivery;    /* X-Otad-Delivery */
    const char *signature;   /* X-Otad-Signature-256's value; NULL: none */
    long connect_timeout_ms; /* TCP and TLS */
    long timeout_ms;         /* the whole attempt */
};

/* How one transfer ended. */
struct notify_sent {
    void *tag;         /* as given to notify_sender_start */
    int err;           /* 0: a response came; else -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EIO */
    long status;       /* the HTTP status when ERR is 0 */
    struct reason why; /* when ERR is not 0 */
};

struct notify_sender;

/* A sender with no transfer. 0 or -ENOMEM. */
int notify_sender_new(struct notify_sender **ret_sender);

/* Cuts off every transfer still in flight (never reported) and frees. NULL-safe. */
void notify_sender_free(struct notify_sender *sender);

/* Starts P, reported later with TAG. 0, or -ENOMEM / -EIO (nothing started). */
int notify_sender_start(struct notify_sender *sender, const struct notify_post *p, void *tag);

/* Transfers in flight. */
size_t notify_sender_active(const struct notify_sender *sender);

/*
 * Moves the transfers on for up to WAIT_MS (less when one ends), then
 * reports up to MAX ended ones into RET (each is then forgotten). Returns
 * how many it reported.
 */
size_t notify_sender_run(struct notify_sender *sender, int wait_ms, struct notify_sent *ret,
                         size_t max);

#endif
