/*
 * What `otad serve` tells the service manager (systemd) about itself:
 * READY=1 once the serving loop answers its own /healthz, a STATUS= line
 * every few seconds (check-ins per second, the active rollouts), WATCHDOG=1
 * at half WatchdogSec while that probe keeps answering, RELOADING=1 and
 * READY=1 around a reload, STOPPING=1 on shutdown. The protocol is
 * core/sdnotify.c's; this module decides when, from its own thread. Without
 * NOTIFY_SOCKET it starts no thread and every call does nothing.
 */
#ifndef OTAD_CLI_SUPERVISE_H
#define OTAD_CLI_SUPERVISE_H

#include <stddef.h>

#include "core/limits.h"
#include "http/server.h"
#include "service/service.h"

struct supervisor;

/*
 * Starts telling the manager at NOTIFY_SOCKET's value NOTIFY_SOCKET about
 * SERVER and SVC (borrowed: both must outlive the supervisor); WATCHDOG_USEC
 * and WATCHDOG_PID are those variables' values (NULL when unset). Every
 * value is borrowed for the call. Returns 0 with *RET (NULL when there is no
 * NOTIFY_SOCKET: nothing to do), or -errno after logging why.
 */
int supervisor_start(const char *notify_socket, const char *watchdog_usec, const char *watchdog_pid,
                     struct http_server *server, struct service *svc, struct supervisor **ret);

/* Sends RELOADING=1 with MONOTONIC_USEC (a reload begins). NULL-safe. */
void supervisor_reloading(struct supervisor *sup);

/* Sends READY=1 after a reload, with STATUS= saying how it went (borrowed text). NULL-safe. */
void supervisor_reloaded(struct supervisor *sup, const char *how);

/* Sends STOPPING=1, stops feeding the watchdog, joins the thread and frees. NULL-safe. */
void supervisor_stop(struct supervisor *sup);

/* One active rollout as the status line names it. */
struct supervise_rollout {
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    char version[LIMIT_RELEASE_VERSION_BYTES + 1];
    unsigned stage;       /* from 1 */
    unsigned stage_count; /* the plan's stages */
    const char *state;    /* "running", "paused" ... (static) */
};

/* How many rollouts the status line names; the rest are counted. */
#define SUPERVISE_STATUS_ROLLOUTS 3

/*
 * Writes the STATUS= message for CHECKINS_PER_S and the COUNT active
 * ROLLOUTS (borrowed) into OUT (SIZE bytes), e.g. "STATUS=12.5 check-ins/s;
 * 2 active rollouts: door@2.0.0 stage 2/4 running, lamp@1.1.0 stage 1/3
 * paused", the first SUPERVISE_STATUS_ROLLOUTS named and the rest as
 * "+N more". A message that does not fit is cut at a whole rollout.
 * Returns the length written.
 */
size_t supervise_status_text(double checkins_per_s, const struct supervise_rollout *rollouts,
                             size_t count, char *out, size_t size);

#endif
