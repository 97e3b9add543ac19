/*
 * dlgen: the download load generator of bench/run. Keeps CONNECTIONS
 * downloads going against 127.0.0.1:PORT for SECONDS, each on a new
 * connection with the raw request read from REQUEST_FILE (an ESP8266
 * HTTP/1.0 request with "Connection: close"), and reads every answer to the
 * end into a 256 KiB buffer.
 *
 *   dlgen PORT CONNECTIONS THREADS SECONDS REQUEST_FILE
 *
 * Why not wrk: wrk reads 8 KiB per recv() and so spends more CPU receiving
 * a 1 MiB image than either server spends sending it; on two shared cores
 * the client, not the server, set the rate. dlgen still copies every byte
 * out of the socket (as a device does), only in bigger pieces.
 *
 * An answer counts as completed when the server closed the connection after
 * a status line and exactly Content-Length body bytes; anything else
 * (refused, reset, short, no Content-Length, status other than 200) counts
 * as an error. Prints one line:
 *   BENCH sent=N completed=N errors=N status=N bytes=N body_bytes=N duration_us=N
 * Only 127.0.0.1; bounded by SECONDS (answers still in flight then are
 * dropped and not counted).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BYTES (256 * 1024)
#define HEAD_BYTES 4096

struct conn {
    int fd;
    size_t req_sent;
    char head[HEAD_BYTES]; /* the first bytes of the answer: status line and headers */
    size_t head_len;
    uint64_t got; /* bytes received on this connection */
};

struct worker {
    pthread_t thread;
    int connections;
    uint64_t sent, completed, errors, status, bytes, body_bytes;
};

static const char *request;
static size_t request_len;
static struct sockaddr_in target;
static uint64_t deadline_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int conn_open(int ep, struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    c->req_sent = 0;
    c->head_len = 0;
    c->got = 0;
    if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0 && errno != EINPROGRESS) {
        int e = -errno;
        close(c->fd);
        return e;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        int e = -errno;
        close(c->fd);
        return e;
    }
    return 0;
}

/* Judges a finished answer: 1 complete 200, 0 error, -1 complete but not 200. */
static int conn_verdict(struct conn *c, uint64_t *ret_body)
{
    c->head[c->head_len < HEAD_BYTES ? c->head_len : HEAD_BYTES - 1] = 0;
    char *end = strstr(c->head, "\r\n\r\n");
    if (!end || strncmp(c->head, "HTTP/1.", 7) != 0)
        return 0;
    uint64_t header_len = (uint64_t)(end + 4 - c->head);
    int code = atoi(c->head + 9);
    const char *cl = strcasestr(c->head, "\r\nContent-Length:");
    if (!cl || cl > end)
        return 0;
    uint64_t length = strtoull(cl + 17, NULL, 10);
    if (c->got != header_len + length)
        return 0;
    *ret_body = length;
    return code == 200 ? 1 : -1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *conns = calloc((size_t)w->connections, sizeof(*conns));
    char *buf = malloc(READ_BYTES);
    struct epoll_event *events = calloc((size_t)w->connections, sizeof(*events));
    if (ep < 0 || !conns || !buf || !events) {
        perror("dlgen");
        exit(1);
    }
    for (int i = 0; i < w->connections; i++)
        if (conn_open(ep, &conns[i]) < 0)
            w->errors++;
    while (now_ns() < deadline_ns) {
        int n = epoll_wait(ep, events, w->connections, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            bool done = false;
            if (c->req_sent < request_len && (events[i].events & EPOLLOUT)) {
                ssize_t k =
                    send(c->fd, request + c->req_sent, request_len - c->req_sent, MSG_NOSIGNAL);
                if (k > 0) {
                    c->req_sent += (size_t)k;
                    if (c->req_sent == request_len) {
                        w->sent++;
                        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    }
                } else if (k < 0 && errno != EAGAIN) {
                    w->errors++;
                    done = true;
                }
            }
            if (!done && (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    ssize_t k = recv(c->fd, buf, READ_BYTES, 0);
                    if (k > 0) {
                        if (c->head_len < HEAD_BYTES) {
                            size_t take = (size_t)k < HEAD_BYTES - c->head_len
                                              ? (size_t)k
                                              : HEAD_BYTES - c->head_len;
                            memcpy(c->head + c->head_len, buf, take);
                            c->head_len += take;
                        }
                        c->got += (uint64_t)k;
                        w->bytes += (uint64_t)k;
                        continue;
                    }
                    if (k == 0) {
                        uint64_t body = 0;
                        int v = conn_verdict(c, &body);
                        if (v > 0) {
                            w->completed++;
                            w->body_bytes += body;
                        } else if (v < 0) {
                            w->status++;
                            w->errors++;
                        } else {
                            w->errors++;
                        }
                        done = true;
                    } else if (errno != EAGAIN) {
                        w->errors++;
                        done = true;
                    }
                    break;
                }
            }
            if (done) {
                close(c->fd);
                if (now_ns() < deadline_ns && conn_open(ep, c) < 0)
                    w->errors++;
            }
        }
    }
    for (int i = 0; i < w->connections; i++)
        close(conns[i].fd);
    close(ep);
    free(events);
    free(buf);
    free(conns);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: dlgen PORT CONNECTIONS THREADS SECONDS REQUEST_FILE\n");
        return 2;
    }
    int port = atoi(argv[1]), connections = atoi(argv[2]), threads = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (port <= 0 || port > 65535 || connections <= 0 || threads <= 0 || threads > connections ||
        seconds <= 0) {
        fprintf(stderr, "dlgen: bad arguments\n");
        return 2;
    }
    FILE *f = fopen(argv[5], "rb");
    static char req[8192];
    if (!f || (request_len = fread(req, 1, sizeof(req), f)) == 0) {
        perror(argv[5]);
        return 2;
    }
    fclose(f);
    request = req;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    uint64_t start = now_ns();
    deadline_ns = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < threads; i++) {
        ws[i].connections = connections / threads + (i < connections % threads);
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    }
    struct worker sum = {0};
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].thread, NULL);
        sum.sent += ws[i].sent;
        sum.completed += ws[i].completed;
        sum.errors += ws[i].errors;
        sum.status += ws[i].status;
        sum.bytes += ws[i].bytes;
        sum.body_bytes += ws[i].body_bytes;
    }
    uint64_t took = now_ns() - start;
    printf("BENCH sent=%llu completed=%llu errors=%llu status=%llu bytes=%llu body_bytes=%llu "
           "duration_us=%llu\n",
           (unsigned long long)sum.sent, (unsigned long long)sum.completed,
           (unsigned long long)sum.errors, (unsigned long long)sum.status,
           (unsigned long long)sum.bytes, (unsigned long long)sum.body_bytes,
           (unsigned long long)(took / 1000));
    free(ws);
    return 0;
}
