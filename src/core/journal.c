/*
 * The native journal protocol's framing and transport, written from the
 * protocol document: plain "KEY=value\n" fields, the length-prefixed form
 * for values with a newline, and one send() per entry on a connected
 * datagram socket. Entries larger than a datagram are refused here
 * (-EMSGSIZE); log.c's lines are capped well below that.
 */
#include "core/journal.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void journal_entry_init(struct journal_entry *e, char *data, size_t capacity)
{
    e->data = data;
    e->capacity = capacity;
    e->len = 0;
    e->overflowed = false;
}

static bool key_valid(const char *key)
{
    if (!key[0] || key[0] == '_' || (key[0] >= '0' && key[0] <= '9'))
        return false;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

void journal_entry_add(struct journal_entry *e, const char *key, const char *value)
{
    assert(key_valid(key));
    size_t key_len = strlen(key), value_len = strlen(value);
    bool binary = memchr(value, '\n', value_len) != NULL;
    size_t need = key_len + 1 + (binary ? 8 : 0) + value_len + 1;
    if (e->overflowed || need > e->capacity - e->len) {
        e->overflowed = true;
        return;
    }
    char *p = e->data + e->len;
    memcpy(p, key, key_len);
    p += key_len;
    if (binary) {
        *p++ = '\n';
        uint64_t n = value_len;
        for (int i = 0; i < 8; i++) /* little-endian whatever the host */
            *p++ = (char)((n >> (8 * i)) & 0xff);
    } else {
        *p++ = '=';
    }
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\n';
    e->len = (size_t)(p - e->data);
}

bool journal_stream_is(const char *value, int fd)
{
    if (!value || !value[0])
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long dev = strtoull(value, &end, 10);
    if (errno || end == value || *end != ':')
        return false;
    const char *ino_text = end + 1;
    unsigned long long ino = strtoull(ino_text, &end, 10);
    if (errno || end == ino_text || *end)
        return false;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int journal_connect(const char *path)
{
    if (!path)
        path = JOURNAL_NATIVE_SOCKET;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int journal_send(int fd, const struct journal_entry *e)
{
    if (e->overflowed)
        return -EMSGSIZE;
    ssize_t sent = send(fd, e->data, e->len, MSG_NOSIGNAL);
    return sent < 0 ? -errno : 0;
}
