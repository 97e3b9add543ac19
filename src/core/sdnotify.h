/*
 * The service manager's notification protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=value" lines to the AF_UNIX socket that
 * NOTIFY_SOCKET names (a path, or "@name" for the abstract namespace), and
 * the watchdog's interval from WATCHDOG_USEC and WATCHDOG_PID. This module
 * only parses those values and sends; it reads no environment itself (the
 * caller passes the variables' values) and decides nothing about when to
 * send what (cli/supervise.c does).
 */
#ifndef OTAD_CORE_SDNOTIFY_H
#define OTAD_CORE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* A notification socket: caller-owned storage, sdnotify_init / sdnotify_release. */
struct sdnotify {
    int fd;                  /* a datagram socket, -1 when there is no service manager */
    struct sockaddr_un addr; /* where datagrams go */
    socklen_t addr_len;      /* of ADDR, counting an abstract name's bytes only */
};

/*
 * Parses NOTIFY_SOCKET's value (borrowed; NULL or "" means none) into
 * RET_ADDR and RET_LEN: "/path" or "@abstract" (the '@' becomes the leading
 * NUL byte). Returns 0, -ENOENT when VALUE is NULL or "", or -EINVAL when it
 * is neither form or longer than sun_path.
 */
int sdnotify_parse_address(const char *value, struct sockaddr_un *ret_addr, socklen_t *ret_len);

/*
 * Sets N up to send to NOTIFY_SOCKET's VALUE (see sdnotify_parse_address).
 * Without a value N is inert: every send then does nothing and returns 0.
 * Returns 0, or -errno (-EINVAL: VALUE does not parse; socket()'s errors)
 * with N inert. Nothing is logged: the caller logs once.
 */
int sdnotify_init(struct sdnotify *n, const char *value);

/* Whether N has a service manager to talk to. */
bool sdnotify_enabled(const struct sdnotify *n);

/*
 * Sends MESSAGE (borrowed: "READY=1", "STATUS=...", several lines joined
 * by '\n') as one datagram. Thread-safe (one sendto). Returns 0 (also when
 * N is inert), or -errno of sendto.
 */
int sdnotify_send(const struct sdnotify *n, const char *message);

/* Closes N's socket; N is inert after. NULL-safe. */
void sdnotify_release(struct sdnotify *n);

/*
 * The watchdog interval the manager asks of process SELF: WATCHDOG_USEC's
 * value USEC (decimal microseconds, > 0) when WATCHDOG_PID's value PID is
 * NULL, "" or SELF. Returns 0 with *RET_USEC, -ENOENT when USEC is NULL or
 * "" or PID names another process (the variables were meant for it), or
 * -EINVAL when either does not parse.
 */
int sdnotify_watchdog_usec(const char *usec, const char *pid, pid_t self, uint64_t *ret_usec);

/*
 * Writes "RELOADING=1\nMONOTONIC_USEC=N" for the monotonic clock's NOW_USEC
 * into OUT (SIZE bytes; 64 is enough). Returns 0, or -ENOSPC.
 */
int sdnotify_reloading_message(uint64_t now_usec, char *out, size_t size);

#endif
