/*
 * sd_notify's datagrams, written from the protocol's description (man
 * sd_notify, "Notes"): the socket address, one sendto per message, and the
 * watchdog variables' parsing. No state but the socket.
 */
#include "core/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sdnotify_parse_address(const char *value, struct sockaddr_un *ret_addr, socklen_t *ret_len)
{
    if (!value || !value[0])
        return -ENOENT;
    if (value[0] != '/' && value[0] != '@')
        return -EINVAL; /* vsock: and other forms are not ours to speak */
    size_t len = strlen(value);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    if (len > sizeof(addr.sun_path) || (value[0] == '/' && len == sizeof(addr.sun_path)))
        return -EINVAL; /* a path needs its NUL; an abstract name does not */
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, value, len);
    if (value[0] == '@')
        addr.sun_path[0] = 0;
    *ret_addr = addr;
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (value[0] == '/'));
    return 0;
}

int sdnotify_init(struct sdnotify *n, const char *value)
{
    n->fd = -1;
    n->addr_len = 0;
    int r = sdnotify_parse_address(value, &n->addr, &n->addr_len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return n->fd < 0 ? -errno : 0;
}

bool sdnotify_enabled(const struct sdnotify *n)
{
    return n->fd >= 0;
}

int sdnotify_send(const struct sdnotify *n, const char *message)
{
    if (n->fd < 0)
        return 0;
    ssize_t sent = sendto(n->fd, message, strlen(message), MSG_NOSIGNAL,
                          (const struct sockaddr *)&n->addr, n->addr_len);
    return sent < 0 ? -errno : 0;
}

void sdnotify_release(struct sdnotify *n)
{
    if (!n)
        return;
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}

/* A decimal number without sign, spaces or overflow. */
static int parse_decimal(const char *text, unsigned long long *ret)
{
    if (text[0] < '0' || text[0] > '9')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int sdnotify_watchdog_usec(const char *usec, const char *pid, pid_t self, uint64_t *ret_usec)
{
    if (!usec || !usec[0])
        return -ENOENT;
    unsigned long long interval = 0, owner = 0;
    if (parse_decimal(usec, &interval) < 0 || interval == 0)
        return -EINVAL;
    if (pid && pid[0]) {
        if (parse_decimal(pid, &owner) < 0 || owner == 0)
            return -EINVAL;
        if (owner != (unsigned long long)self)
            return -ENOENT;
    }
    *ret_usec = interval;
    return 0;
}

int sdnotify_reloading_message(uint64_t now_usec, char *out, size_t size)
{
    int n = snprintf(out, size, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_usec);
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}
