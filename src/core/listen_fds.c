/*
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, parsed as man sd_listen_fds
 * describes them: a count of descriptors from 3, the process they are for,
 * and a colon-separated list of names.
 */
#include "core/listen_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_count(const char *text, unsigned long *ret)
{
    if (!text || text[0] < '0' || text[0] > '9')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int listen_fds_parse(const char *fds, const char *pid, const char *names, pid_t self,
                     struct listen_fds *ret)
{
    struct listen_fds out;
    memset(&out, 0, sizeof(out));
    if (!fds || !fds[0]) {
        *ret = out;
        return 0;
    }
    unsigned long count = 0, owner = 0;
    if (parse_count(fds, &count) < 0 || parse_count(pid, &owner) < 0 || owner == 0)
        return -EINVAL;
    if (owner != (unsigned long)self) {
        *ret = out; /* meant for the process that exec'd us, or a parent: not ours */
        return 0;
    }
    if (count > LISTEN_FDS_MAX)
        return -EINVAL;
    out.count = (unsigned)count;
    if (names && names[0]) {
        unsigned i = 0;
        const char *p = names;
        for (;;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            if (i >= out.count || len > LISTEN_FDS_NAME_BYTES)
                return -EINVAL;
            memcpy(out.names[i], p, len);
            out.names[i][len] = 0;
            i++;
            if (!colon)
                break;
            p = colon + 1;
        }
    }
    *ret = out;
    return 0;
}

int listen_fds_find(const struct listen_fds *fds, const char *name)
{
    for (unsigned i = 0; i < fds->count; i++) {
        bool match = name ? strcmp(fds->names[i], name) == 0 : strcmp(fds->names[i], "tls") != 0;
        if (match)
            return LISTEN_FDS_START + (int)i;
    }
    return -1;
}

int listen_fds_adopt(int fd)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == ENOTSOCK ? -ENOTSOCK : -errno;
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return -errno;
    if (type != SOCK_STREAM || !listening)
        return -EINVAL;
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}
