/*
 * A scripted HTTP server on 127.0.0.1 for the unit tests of src/sources/:
 * one thread that accepts a connection, reads the request head, records
 * it, writes what the test's RESPOND callback returns, and closes. Enough
 * for libcurl's requests to a fake GitHub API and storage host, with no
 * network and no sleeping: each call of the code under test is answered
 * before it returns. Header-only (static functions) so each test includes
 * its own copy.
 */
#ifndef OTAD_TESTS_SOURCES_LOOPBACK_H
#define OTAD_TESTS_SOURCES_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOOPBACK_HEAD_BYTES 8192
#define LOOPBACK_REQUESTS   64

struct loopback;

/*
 * Returns the whole response for the request whose head is HEAD (its
 * request line and headers), malloc'd, its length in *RET_LEN; NULL to
 * close without answering.
 */
typedef char *(*loopback_respond_fn)(struct loopback *lb, const char *head, size_t *ret_len);

struct loopback {
    int fd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    loopback_respond_fn respond;
    void *user; /* the test's */
    pthread_mutex_t lock;
    char heads[LOOPBACK_REQUESTS][LOOPBACK_HEAD_BYTES]; /* guarded by LOCK */
    size_t count;                                       /* requests received, guarded by LOCK */
};

/* A response with STATUS, extra header lines HEADERS ("" or lines ending in \r\n) and BODY. */
static inline char *loopback_reply(int status, const char *headers, const void *body,
                                   size_t body_len, size_t *ret_len)
{
    char head[4096];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     headers, body_len);
    char *out = malloc((size_t)n + body_len);
    if (!out)
        return NULL;
    memcpy(out, head, (size_t)n);
    if (body_len)
        memcpy(out + n, body, body_len);
    *ret_len = (size_t)n + body_len;
    return out;
}

static inline void loopback_serve_one(struct loopback *lb, int c)
{
    char head[LOOPBACK_HEAD_BYTES];
    size_t len = 0;
    head[0] = 0;
    while (len + 1 < sizeof(head) && !strstr(head, "\r\n\r\n")) {
        ssize_t r = read(c, head + len, sizeof(head) - 1 - len);
        if (r <= 0)
            return;
        len += (size_t)r;
        head[len] = 0;
    }
    pthread_mutex_lock(&lb->lock);
    if (lb->count < LOOPBACK_REQUESTS)
        memcpy(lb->heads[lb->count], head, len + 1);
    lb->count++;
    pthread_mutex_unlock(&lb->lock);
    size_t out_len = 0;
    char *out = lb->respond(lb, head, &out_len);
    for (size_t done = 0; out && done < out_len;) {
        ssize_t w = write(c, out + done, out_len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    free(out);
}

static inline void *loopback_main(void *arg)
{
    struct loopback *lb = arg;
    while (!atomic_load(&lb->stop)) {
        struct pollfd p = {.fd = lb->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(lb->fd, NULL, NULL);
        if (c < 0)
            continue;
        loopback_serve_one(lb, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

/* Starts LB (caller-owned, zeroed or not) answering with RESPOND. Returns 0 or -1. */
static inline int loopback_start(struct loopback *lb, loopback_respond_fn respond, void *user)
{
    memset(lb, 0, sizeof(*lb));
    lb->respond = respond;
    lb->user = user;
    pthread_mutex_init(&lb->lock, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    lb->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (lb->fd < 0 || bind(lb->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(lb->fd, 16) < 0 || getsockname(lb->fd, (struct sockaddr *)&a, &alen) < 0)
        return -1;
    lb->port = ntohs(a.sin_port);
    return pthread_create(&lb->thread, NULL, loopback_main, lb) == 0 ? 0 : -1;
}

static inline void loopback_stop(struct loopback *lb)
{
    atomic_store(&lb->stop, true);
    pthread_join(lb->thread, NULL);
    close(lb->fd);
    pthread_mutex_destroy(&lb->lock);
}

/* Requests received so far. */
static inline size_t loopback_count(struct loopback *lb)
{
    pthread_mutex_lock(&lb->lock);
    size_t n = lb->count;
    pthread_mutex_unlock(&lb->lock);
    return n;
}

/* A copy of the head of request I (0-based) into OUT (LOOPBACK_HEAD_BYTES). */
static inline void loopback_head(struct loopback *lb, size_t i, char *out)
{
    pthread_mutex_lock(&lb->lock);
    snprintf(out, LOOPBACK_HEAD_BYTES, "%s", i < lb->count ? lb->heads[i] : "");
    pthread_mutex_unlock(&lb->lock);
}

/* True when HEAD has a header line NAME (case-insensitive), its value (trimmed) in OUT. */
static inline bool loopback_header(const char *head, const char *name, char *out, size_t size)
{
    const char *line = strstr(head, "\r\n");
    size_t n = strlen(name);
    while (line && line[2] != '\r') {
        line += 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)(end - v), v);
            return true;
        }
        line = strstr(line, "\r\n");
    }
    return false;
}

#endif
