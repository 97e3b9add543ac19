/*
 * Socket activation (sd_listen_fds(3)) without libsystemd: which
 * descriptors, from 3 on, the service manager passed (LISTEN_FDS), whether
 * they are for this process (LISTEN_PID) and their names (LISTEN_FDNAMES,
 * a unit's FileDescriptorName=). This module parses the variables' values
 * (the caller reads them) and marks the descriptors close-on-exec; which
 * listener takes which descriptor is http/server.c's business.
 */
#ifndef OTAD_CORE_LISTEN_FDS_H
#define OTAD_CORE_LISTEN_FDS_H

#include <stdbool.h>
#include <sys/types.h>

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define LISTEN_FDS_START 3
/* More than a plain and a TLS listener are never needed; a few spare. */
#define LISTEN_FDS_MAX 8
/* A name's bytes (systemd caps FileDescriptorName= at 255). */
#define LISTEN_FDS_NAME_BYTES 255

struct listen_fds {
    unsigned count; /* descriptors LISTEN_FDS_START .. LISTEN_FDS_START + count - 1 */
    char names[LISTEN_FDS_MAX][LISTEN_FDS_NAME_BYTES + 1]; /* "" when not named */
};

/*
 * Parses LISTEN_FDS's value FDS, LISTEN_PID's value PID and LISTEN_FDNAMES's
 * value NAMES (all borrowed, each NULL when unset) for process SELF into
 * RET. Returns 0 with RET->count 0 when FDS is NULL or "" or PID names
 * another process (nothing was passed to us); 0 with the descriptors; or
 * -EINVAL when a value does not parse, PID is missing while FDS is set, the
 * count exceeds LISTEN_FDS_MAX, or NAMES has more names than descriptors or
 * a name too long.
 */
int listen_fds_parse(const char *fds, const char *pid, const char *names, pid_t self,
                     struct listen_fds *ret);

/*
 * The descriptor of FDS named NAME (borrowed), or -1. NAME NULL finds the
 * first descriptor that is not named "tls" (unnamed or any other name: the
 * plain listener's).
 */
int listen_fds_find(const struct listen_fds *fds, const char *name);

/*
 * Checks that FD is a listening stream socket and marks it close-on-exec.
 * Returns 0, or -ENOTSOCK / -EINVAL (not listening, not a stream) / -errno.
 */
int listen_fds_adopt(int fd);

#endif
