/*
 * tlsgen: the TLS load generator of bench/run (OpenSSL client, epoll, one
 * event loop per thread). wrk cannot resume TLS sessions and reports no
 * handshake counts; this does both, for the HTTPS rows of the benchmark.
 *
 * Load mode: keeps CONNECTIONS connections in flight against
 * 127.0.0.1:PORT for SECONDS. Each one connects, does the TLS handshake,
 * sends one request, reads the whole answer (Content-Length framing; a 304
 * has no body) and closes (close_notify, then close), the way an ESP8266
 * checks in; then its slot starts the next. With --resume, a slot offers
 * the session of its own previous handshake (SSL_set_session), as a device
 * that kept its session does; a slot's first offer is the session of one
 * handshake made before the clock starts (not counted), so every counted
 * handshake may resume. Each counts as resumed when SSL_session_reused says
 * so.
 *
 *   tlsgen --port PORT [--connections 64] [--threads 2] [--duration 3]
 *          [--tls 1.2|1.3] [--ciphers LIST] [--groups LIST] [--sni NAME]
 *          [--resume none|id|ticket] [--expect STATUS]
 *          (--request FILE | --devices N --mac-base N [--path P]
 *                            [--version V] [--md5 HEX])
 *
 * --request sends the raw request in FILE on every connection (downloads);
 * --devices builds ESP8266 check-ins exactly as bench/wrk/checkin.lua's
 * "close" style does (HTTP/1.0, Connection: close, the full x-ESP8266-*
 * header set, device i has STA MAC MAC_BASE + i), the threads taking
 * interleaved devices. --tls pins the version, --ciphers the suites
 * (TLS 1.2: OpenSSL cipher list, default ECDHE-ECDSA-AES128-GCM-SHA256;
 * TLS 1.3: ciphersuites, default TLS_AES_128_GCM_SHA256), --groups the key
 * exchange groups (default P-256). --resume id turns tickets off (TLS 1.2
 * only: resumption by session ID, as BearSSL does); ticket offers the
 * ticket of the previous handshake; none (the default) never resumes and,
 * on TLS 1.2, offers no ticket extension either, as BearSSL. The server's
 * certificate is not verified (bench/run checks it once, by itself).
 *
 * An answer counts as completed when its status is STATUS (default 304)
 * and its body is whole; a refused or reset connection, a failed handshake,
 * a short answer, another status or 5 s without progress count as errors.
 * Latency runs from connect() to the answer's last byte: TCP and TLS
 * handshakes included, as a device sees it. Prints one JSON object:
 *   {"sent":N,"completed":N,"errors":N,"err_connect":N,"err_handshake":N,
 *    "err_io":N,"err_status":N,"err_timeout":N,"handshakes":N,"resumed":N,
 *    "bytes":N,"body_bytes":N,"duration_us":N,"p50_us":N,"p99_us":N,
 *    "p999_us":N,"version":"TLSv1.2","cipher":"...","group":"..."}
 * ("bytes" counts decrypted bytes read, head and body.)
 *
 * Hold mode (--hold N): opens N connections (at most 256 handshakes in
 * flight per thread), completes each handshake and then keeps it, silent,
 * watching for the server to close it. With --resume id they resume the
 * session of one full handshake made first. Protocol with the caller, one line
 * each on stdout:
 *   READY {"opened":N,"failed":N,"resumed":N,"setup_us":N}   all handshakes done, or 30 s
 * and, after SIGTERM or SIGINT:
 *   HELD {"opened":N,"failed":N,"closed_by_server":N,"open":N}
 *
 * Only 127.0.0.1; bounded by SECONDS (load) or by the caller's signal (hold;
 * setup gives up after 30 s). Answers in flight at the end are dropped and
 * not counted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define READ_BYTES      (256 * 1024)
#define HEAD_BYTES      4096
#define POOL_MAX        32768          /* requests built per thread, as checkin.lua */
#define STALL_NS        5000000000ull  /* no answer within 5 s: an error (wrk --timeout 5s) */
#define HOLD_SETUP_NS   30000000000ull /* hold mode gives up on handshakes after 30 s */
#define HOLD_IN_FLIGHT  256            /* handshakes under way per thread in hold mode */
#define SWEEP_NS        100000000ull   /* how often stalled connections are looked for */
#define REQUEST_MAX     8192
#define AP_MAC_OFFSET   2199023255552ull /* the AP MAC is the STA MAC + 0x020000000000 */
#define CHIP_ID_MODULUS 16777216ull

enum resume_mode { RESUME_NONE, RESUME_ID, RESUME_TICKET };

enum conn_state { ST_FREE, ST_CONNECT, ST_HANDSHAKE, ST_SEND, ST_READ, ST_HELD };

struct conn {
    int fd;
    SSL *ssl;
    enum conn_state state;
    uint32_t events;     /* the epoll interest set now */
    SSL_SESSION *saved;  /* this slot's previous session, offered with --resume */
    uint64_t started_ns; /* connect() */
    const char *req;     /* borrowed from the pool */
    size_t req_len;
    char head[HEAD_BYTES]; /* status line and headers */
    size_t head_len;
    bool head_done;
    int status;
    bool until_eof;    /* no Content-Length: the body ends where the stream does */
    uint64_t body_len; /* Content-Length (0 for a 304) */
    uint64_t body_got;
};

struct worker {
    pthread_t thread;
    int id;
    int connections; /* load: slots; hold: connections to open */
    char **pool;     /* requests (load mode) */
    size_t pool_n, cursor;
    uint64_t sent, completed, errors, err_connect, err_handshake, err_io, err_status, err_timeout,
        handshakes, resumed, bytes, body_bytes;
    uint32_t *lat; /* latencies, microseconds */
    size_t lat_n, lat_cap;
    char version[16], cipher[64], group[32];
    /* hold mode */
    uint64_t opened, failed, closed_by_server, open_now;
};

/* Settings, fixed before the threads start. */
static struct sockaddr_in target;
static SSL_CTX *ctx;
static enum resume_mode resume_mode = RESUME_NONE;
static int expect_status = 304;
static const char *sni;
static uint64_t deadline_ns;
static bool hold_mode;
static char *raw_request;
static size_t raw_request_len;
static const char *path = "/update/demo";
static const char *fw_version = "1.0.0";
static const char *md5 = "0123456789abcdef0123456789abcdef";
static uint64_t devices, mac_base;
static int nthreads = 2;

static SSL_SESSION *seed; /* with --resume: every slot's first session, from seed_session() */
static atomic_int hold_ready;
static atomic_bool hold_stop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "tlsgen: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void mac_text(uint64_t mac, char *out)
{
    snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", (unsigned)(mac >> 40) & 0xFF,
             (unsigned)(mac >> 32) & 0xFF, (unsigned)(mac >> 24) & 0xFF,
             (unsigned)(mac >> 16) & 0xFF, (unsigned)(mac >> 8) & 0xFF, (unsigned)mac & 0xFF);
}

/* The requests of worker W: its share of the devices, or the one raw request. */
static void pool_build(struct worker *w)
{
    if (raw_request) {
        w->pool = malloc(sizeof(*w->pool));
        if (!w->pool)
            die("out of memory");
        w->pool[0] = raw_request;
        w->pool_n = 1;
        return;
    }
    size_t cap = 0;
    for (uint64_t i = (uint64_t)w->id; i < devices && cap < POOL_MAX; i += (uint64_t)nthreads)
        cap++;
    w->pool = calloc(cap ? cap : 1, sizeof(*w->pool));
    if (!w->pool)
        die("out of memory");
    for (uint64_t i = (uint64_t)w->id; i < devices && w->pool_n < cap; i += (uint64_t)nthreads) {
        uint64_t mac = mac_base + i;
        char sta[18], ap[18];
        mac_text(mac, sta);
        mac_text(mac + AP_MAC_OFFSET, ap);
        char *r = NULL;
        if (asprintf(&r,
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: ESP8266-http-Update\r\n"
                     "Connection: close\r\nx-ESP8266-Chip-ID: %llu\r\nx-ESP8266-STA-MAC: %s\r\n"
                     "x-ESP8266-AP-MAC: %s\r\nx-ESP8266-free-space: 2093056\r\n"
                     "x-ESP8266-sketch-size: 1048576\r\nx-ESP8266-sketch-md5: %s\r\n"
                     "x-ESP8266-chip-size: 4194304\r\nx-ESP8266-sdk-version: 2.2.2-dev(38a443e)\r\n"
                     "x-ESP8266-mode: sketch\r\nx-ESP8266-version: %s\r\n"
                     "Content-Length: 0\r\n\r\n",
                     path, (unsigned long long)(mac % CHIP_ID_MODULUS), sta, ap, md5,
                     fw_version) < 0)
            die("out of memory");
        w->pool[w->pool_n++] = r;
    }
}

static void interest(int ep, struct conn *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

/* Ends C's connection (close_notify first when CLEAN) and frees its SSL. */
static void conn_close(struct conn *c, bool clean)
{
    if (c->ssl) {
        if (clean)
            SSL_shutdown(c->ssl); /* one close_notify; the answer is not waited for */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = ST_FREE;
}

/* Starts a new connection on slot C. Returns 0, or -1 (counted) when it could not. */
static int conn_open(struct worker *w, int ep, struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->started_ns = now_ns();
    if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) < 0 && errno != EINPROGRESS)
        goto fail;
    c->ssl = SSL_new(ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
        die("SSL_new");
    SSL_set_connect_state(c->ssl);
    if (sni)
        SSL_set_tlsext_host_name(c->ssl, sni);
    if (resume_mode != RESUME_NONE && (c->saved || seed))
        SSL_set_session(c->ssl, c->saved ? c->saved : seed);
    if (!hold_mode) {
        c->req = w->pool[w->cursor];
        c->req_len = strlen(c->req);
        w->cursor = (w->cursor + 1) % w->pool_n;
    }
    c->head_len = 0;
    c->head_done = false;
    c->status = 0;
    c->until_eof = false;
    c->body_len = 0;
    c->body_got = 0;
    c->state = ST_CONNECT;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        goto fail;
    return 0;
fail:
    conn_close(c, false);
    w->errors++;
    w->err_connect++;
    return -1;
}

static void conn_fail(struct worker *w, struct conn *c, uint64_t *counter)
{
    w->errors++;
    (*counter)++;
    conn_close(c, false);
}

/* Counts C's finished handshake; the first says what was negotiated (a full one, the group). */
static void note_session(struct worker *w, struct conn *c)
{
    w->handshakes++;
    bool reused = SSL_session_reused(c->ssl);
    w->resumed += reused;
    if (!w->cipher[0]) {
        snprintf(w->version, sizeof(w->version), "%s", SSL_get_version(c->ssl));
        snprintf(w->cipher, sizeof(w->cipher), "%s", SSL_get_cipher_name(c->ssl));
    }
    EVP_PKEY *key = NULL;
    if (reused || w->group[0] || !SSL_get_peer_tmp_key(c->ssl, &key) || !key)
        return;
    size_t len = 0;
    if (!EVP_PKEY_get_group_name(key, w->group, sizeof(w->group), &len))
        snprintf(w->group, sizeof(w->group), "%s", EVP_PKEY_get0_type_name(key));
    EVP_PKEY_free(key);
}

static void lat_push(struct worker *w, uint64_t us)
{
    if (w->lat_n == w->lat_cap) {
        size_t cap = w->lat_cap ? 2 * w->lat_cap : 65536;
        uint32_t *p = realloc(w->lat, cap * sizeof(*p));
        if (!p)
            die("out of memory");
        w->lat = p;
        w->lat_cap = cap;
    }
    w->lat[w->lat_n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* The answer is whole: count it, keep the session for the next, close. */
static void conn_done(struct worker *w, struct conn *c)
{
    if (c->status == expect_status) {
        w->completed++;
        w->body_bytes += c->body_got;
        lat_push(w, (now_ns() - c->started_ns) / 1000);
    } else {
        w->errors++;
        w->err_status++;
    }
    if (resume_mode != RESUME_NONE) {
        /* After the answer: a TLS 1.3 ticket arrives after the handshake, before it. */
        SSL_SESSION *s = SSL_get1_session(c->ssl);
        if (s && SSL_SESSION_is_resumable(s)) {
            SSL_SESSION_free(c->saved);
            c->saved = s;
        } else {
            SSL_SESSION_free(s);
        }
    }
    conn_close(c, true);
}

/*
 * Reads the head once its end is in C->head: status, body length, body
 * bytes already there. Returns false on an answer that is not HTTP or whose
 * head does not fit.
 */
static bool head_parse(struct conn *c)
{
    c->head[c->head_len] = 0;
    char *end = strstr(c->head, "\r\n\r\n");
    if (!end)
        return c->head_len < HEAD_BYTES - 1; /* not yet, unless it can never fit */
    if (strncmp(c->head, "HTTP/1.", 7) != 0)
        return false;
    c->status = atoi(c->head + 9);
    const char *cl = strcasestr(c->head, "\r\nContent-Length:");
    if (c->status == 304 || c->status == 204 || c->status / 100 == 1)
        c->body_len = 0;
    else if (cl && cl < end)
        c->body_len = strtoull(cl + 17, NULL, 10);
    else
        c->until_eof = true;
    c->head_done = true;
    c->body_got = c->head_len - (size_t)(end + 4 - c->head);
    return true;
}

/* Moves C on as far as it goes without blocking. */
static void conn_step(struct worker *w, int ep, struct conn *c, char *buf)
{
    for (;;) {
        switch (c->state) {
        case ST_FREE:
            return;
        case ST_CONNECT: {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
                if (hold_mode)
                    w->failed++;
                conn_fail(w, c, &w->err_connect);
                return;
            }
            c->state = ST_HANDSHAKE;
            break;
        }
        case ST_HANDSHAKE: {
            ERR_clear_error();
            int r = SSL_do_handshake(c->ssl);
            if (r == 1) {
                note_session(w, c);
                if (hold_mode) {
                    w->opened++;
                    w->open_now++;
                    c->state = ST_HELD;
                    interest(ep, c, EPOLLIN | EPOLLRDHUP);
                    return;
                }
                c->state = ST_SEND;
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                interest(ep, c, EPOLLIN);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                interest(ep, c, EPOLLOUT);
                return;
            }
            if (hold_mode)
                w->failed++;
            conn_fail(w, c, &w->err_handshake);
            return;
        }
        case ST_SEND: {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->req, (int)c->req_len);
            if (r > 0) {
                w->sent++;
                c->state = ST_READ;
                interest(ep, c, EPOLLIN);
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                interest(ep, c, e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
                return;
            }
            conn_fail(w, c, &w->err_io);
            return;
        }
        case ST_READ: {
            ERR_clear_error();
            size_t n = 0;
            int r = SSL_read_ex(c->ssl, buf, READ_BYTES, &n);
            if (r == 1) {
                w->bytes += n;
                if (c->head_done) {
                    c->body_got += n;
                } else {
                    size_t room = HEAD_BYTES - 1 - c->head_len;
                    size_t take = n < room ? n : room;
                    memcpy(c->head + c->head_len, buf, take);
                    c->head_len += take;
                    if (!head_parse(c)) {
                        conn_fail(w, c, &w->err_io);
                        return;
                    }
                    if (!c->head_done)
                        continue;
                    c->body_got += n - take; /* what the head buffer had no room for */
                }
                if (c->until_eof)
                    continue;
                if (c->body_got == c->body_len) {
                    conn_done(w, c);
                    return;
                }
                if (c->body_got > c->body_len) {
                    conn_fail(w, c, &w->err_io); /* more than Content-Length */
                    return;
                }
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                interest(ep, c, EPOLLIN);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                interest(ep, c, EPOLLOUT);
                return;
            }
            if ((e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) &&
                c->head_done && c->until_eof) {
                conn_done(w, c); /* no Content-Length: the body ends where the stream does */
                return;
            }
            conn_fail(w, c, &w->err_io);
            return;
        }
        case ST_HELD: {
            /* Anything readable on a held connection: a TLS 1.3 ticket, or the server closing. */
            ERR_clear_error();
            size_t n = 0;
            int r = SSL_read_ex(c->ssl, buf, READ_BYTES, &n);
            if (r == 1)
                continue;
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                return;
            w->closed_by_server++;
            w->open_now--;
            conn_close(c, false);
            return;
        }
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int slots = w->connections;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *conns = calloc((size_t)slots, sizeof(*conns));
    struct epoll_event *events = calloc((size_t)slots, sizeof(*events));
    char *buf = malloc(READ_BYTES);
    if (ep < 0 || !conns || !events || !buf)
        die("out of memory");
    for (int i = 0; i < slots; i++) {
        conns[i].fd = -1;
        conns[i].state = ST_FREE;
    }
    uint64_t start = now_ns(), next_sweep = start + SWEEP_NS;
    int to_open = hold_mode ? w->connections : 0; /* hold: connections not yet started */
    int in_flight = 0, next_slot = 0;
    bool ready = false;
    if (!hold_mode)
        for (int i = 0; i < slots; i++)
            conn_open(w, ep, &conns[i]);
    for (;;) {
        uint64_t now = now_ns();
        if (!hold_mode && now >= deadline_ns)
            break;
        if (hold_mode && atomic_load(&hold_stop))
            break;
        if (hold_mode && !ready) {
            in_flight = 0;
            for (int i = 0; i < next_slot; i++)
                in_flight += conns[i].state != ST_FREE && conns[i].state != ST_HELD;
            while (to_open > 0 && in_flight < HOLD_IN_FLIGHT && now - start < HOLD_SETUP_NS) {
                if (conn_open(w, ep, &conns[next_slot]) < 0)
                    w->failed++;
                next_slot++;
                to_open--;
                in_flight++;
            }
            if ((to_open == 0 && in_flight == 0) || now - start >= HOLD_SETUP_NS) {
                for (int i = 0; i < next_slot; i++)
                    if (conns[i].state != ST_FREE && conns[i].state != ST_HELD) {
                        w->failed++;
                        conn_close(&conns[i], false);
                    }
                w->failed += (uint64_t)to_open;
                to_open = 0;
                ready = true;
                atomic_fetch_add(&hold_ready, 1);
            }
        }
        int n = epoll_wait(ep, events, slots, 20);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            conn_step(w, ep, c, buf);
            if (!hold_mode && c->state == ST_FREE && now_ns() < deadline_ns)
                conn_open(w, ep, c);
        }
        now = now_ns();
        if (now >= next_sweep) {
            next_sweep = now + SWEEP_NS;
            for (int i = 0; i < slots; i++) {
                struct conn *c = &conns[i];
                if (c->state == ST_FREE && !hold_mode && now < deadline_ns) {
                    conn_open(w, ep, c); /* a slot whose last connect failed: try again */
                    continue;
                }
                if (c->state == ST_FREE || c->state == ST_HELD || now - c->started_ns < STALL_NS)
                    continue;
                if (hold_mode)
                    w->failed++;
                conn_fail(w, c, &w->err_timeout);
                if (!hold_mode && now < deadline_ns)
                    conn_open(w, ep, c);
            }
        }
    }
    for (int i = 0; i < slots; i++) {
        conn_close(&conns[i], false);
        SSL_SESSION_free(conns[i].saved);
    }
    close(ep);
    free(buf);
    free(events);
    free(conns);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t percentile(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/*
 * One handshake before the clock starts, blocking, with a 5 s timeout: in
 * load mode also the first request and its whole answer (a TLS 1.3 ticket
 * comes after the handshake). Its session is what every slot offers first,
 * so that with --resume every counted handshake can resume: as a fleet of
 * devices that each kept a session. Not counted.
 */
static SSL_SESSION *seed_session(const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 5};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0)
        die("cannot connect for the first session");
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !SSL_set_fd(ssl, fd))
        die("SSL_new");
    if (sni)
        SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_connect(ssl) != 1)
        die("the first handshake failed");
    if (request) {
        if (SSL_write(ssl, request, (int)strlen(request)) <= 0)
            die("cannot send the first request");
        char buf[4096];
        if (SSL_read(ssl, buf, sizeof(buf)) <= 0) /* the head, and any TLS 1.3 ticket before it */
            die("no answer to the first request");
    }
    SSL_SESSION *s = SSL_get1_session(ssl);
    if (!s || !SSL_SESSION_is_resumable(s))
        die("the server gave no session to resume");
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return s;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tlsgen --port PORT [--connections C] [--threads T] [--duration S]\n"
            "              [--tls 1.2|1.3] [--ciphers LIST] [--groups LIST] [--sni NAME]\n"
            "              [--resume none|id|ticket] [--expect STATUS]\n"
            "              (--request FILE | --devices N --mac-base N [--path P] [--version V]\n"
            "               [--md5 HEX] | --hold N)\n");
    exit(2);
}

static void read_request(const char *file)
{
    FILE *f = fopen(file, "rb");
    raw_request = calloc(1, REQUEST_MAX + 1);
    if (!f || !raw_request) {
        perror(file);
        exit(2);
    }
    raw_request_len = fread(raw_request, 1, REQUEST_MAX, f);
    fclose(f);
    if (raw_request_len == 0 || raw_request_len == REQUEST_MAX) {
        fprintf(stderr, "tlsgen: %s: empty, or larger than %d bytes\n", file, REQUEST_MAX - 1);
        exit(2);
    }
}

static SSL_CTX *ctx_new(const char *tls, const char *ciphers, const char *groups)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c)
        die("SSL_CTX_new");
    bool v13 = strcmp(tls, "1.3") == 0;
    if (!v13 && strcmp(tls, "1.2") != 0)
        usage();
    int v = v13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(c, v) || !SSL_CTX_set_max_proto_version(c, v))
        die("cannot pin the TLS version");
    if (v13) {
        if (!SSL_CTX_set_ciphersuites(c, ciphers ? ciphers : "TLS_AES_128_GCM_SHA256"))
            die("bad --ciphers for TLS 1.3");
    } else if (!SSL_CTX_set_cipher_list(c, ciphers ? ciphers : "ECDHE-ECDSA-AES128-GCM-SHA256")) {
        die("bad --ciphers for TLS 1.2");
    }
    if (!SSL_CTX_set1_groups_list(c, groups ? groups : "P-256"))
        die("bad --groups");
    if (resume_mode == RESUME_ID && v13) {
        fprintf(stderr, "tlsgen: --resume id is TLS 1.2 only (TLS 1.3 resumes by ticket)\n");
        exit(2);
    }
    if (!v13 && resume_mode != RESUME_TICKET)
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET); /* BearSSL sends no ticket extension */
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF); /* each slot keeps its own */
    if (hold_mode)
        SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS); /* 10,000 idle sessions, little memory */
    else
        SSL_CTX_set_read_ahead(c, 1);
    return c;
}

static void print_load(struct worker *ws, uint64_t took_ns)
{
    struct worker s = {0};
    size_t total = 0;
    for (int i = 0; i < nthreads; i++)
        total += ws[i].lat_n;
    uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
    if (!all)
        die("out of memory");
    const char *version = "", *cipher = "", *group = "";
    for (int i = 0; i < nthreads; i++) {
        struct worker *w = &ws[i];
        s.sent += w->sent;
        s.completed += w->completed;
        s.errors += w->errors;
        s.err_connect += w->err_connect;
        s.err_handshake += w->err_handshake;
        s.err_io += w->err_io;
        s.err_status += w->err_status;
        s.err_timeout += w->err_timeout;
        s.handshakes += w->handshakes;
        s.resumed += w->resumed;
        s.bytes += w->bytes;
        s.body_bytes += w->body_bytes;
        memcpy(all + s.lat_n, w->lat, w->lat_n * sizeof(*all));
        s.lat_n += w->lat_n;
        if (!cipher[0] && w->cipher[0]) {
            version = w->version;
            cipher = w->cipher;
            group = w->group;
        }
    }
    qsort(all, s.lat_n, sizeof(*all), cmp_u32);
    printf("{\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,\"err_connect\":%llu,"
           "\"err_handshake\":%llu,\"err_io\":%llu,\"err_status\":%llu,\"err_timeout\":%llu,"
           "\"handshakes\":%llu,\"resumed\":%llu,\"bytes\":%llu,\"body_bytes\":%llu,"
           "\"duration_us\":%llu,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,"
           "\"version\":\"%s\",\"cipher\":\"%s\",\"group\":\"%s\"}\n",
           (unsigned long long)s.sent, (unsigned long long)s.completed,
           (unsigned long long)s.errors, (unsigned long long)s.err_connect,
           (unsigned long long)s.err_handshake, (unsigned long long)s.err_io,
           (unsigned long long)s.err_status, (unsigned long long)s.err_timeout,
           (unsigned long long)s.handshakes, (unsigned long long)s.resumed,
           (unsigned long long)s.bytes, (unsigned long long)s.body_bytes,
           (unsigned long long)(took_ns / 1000), percentile(all, s.lat_n, 0.50),
           percentile(all, s.lat_n, 0.99), percentile(all, s.lat_n, 0.999), version, cipher, group);
    free(all);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},     {"connections", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},  {"duration", required_argument, NULL, 'd'},
        {"tls", required_argument, NULL, 'T'},      {"ciphers", required_argument, NULL, 'C'},
        {"groups", required_argument, NULL, 'g'},   {"sni", required_argument, NULL, 's'},
        {"resume", required_argument, NULL, 'r'},   {"expect", required_argument, NULL, 'e'},
        {"request", required_argument, NULL, 'R'},  {"devices", required_argument, NULL, 'n'},
        {"mac-base", required_argument, NULL, 'm'}, {"path", required_argument, NULL, 'P'},
        {"version", required_argument, NULL, 'v'},  {"md5", required_argument, NULL, '5'},
        {"hold", required_argument, NULL, 'H'},     {NULL, 0, NULL, 0},
    };
    int port = 0, connections = 64, hold = 0;
    double seconds = 3;
    const char *tls = "1.2", *ciphers = NULL, *groups = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'c':
            connections = atoi(optarg);
            break;
        case 't':
            nthreads = atoi(optarg);
            break;
        case 'd':
            seconds = atof(optarg);
            break;
        case 'T':
            tls = optarg;
            break;
        case 'C':
            ciphers = optarg;
            break;
        case 'g':
            groups = optarg;
            break;
        case 's':
            sni = optarg;
            break;
        case 'r':
            if (strcmp(optarg, "none") == 0)
                resume_mode = RESUME_NONE;
            else if (strcmp(optarg, "id") == 0)
                resume_mode = RESUME_ID;
            else if (strcmp(optarg, "ticket") == 0)
                resume_mode = RESUME_TICKET;
            else
                usage();
            break;
        case 'e':
            expect_status = atoi(optarg);
            break;
        case 'R':
            read_request(optarg);
            break;
        case 'n':
            devices = strtoull(optarg, NULL, 10);
            break;
        case 'm':
            mac_base = strtoull(optarg, NULL, 10);
            break;
        case 'P':
            path = optarg;
            break;
        case 'v':
            fw_version = optarg;
            break;
        case '5':
            md5 = optarg;
            break;
        case 'H':
            hold = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    hold_mode = hold > 0;
    if (port <= 0 || port > 65535 || nthreads <= 0 || seconds <= 0 ||
        (!hold_mode &&
         (connections <= 0 || nthreads > connections || (!raw_request && !devices))) ||
        (hold_mode && nthreads > hold))
        usage();
    signal(SIGPIPE, SIG_IGN);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctx = ctx_new(tls, ciphers, groups);

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    if (hold_mode) { /* the threads never see them; main waits for them with sigwait */
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    }
    int total = hold_mode ? hold : connections;
    struct worker *ws = calloc((size_t)nthreads, sizeof(*ws));
    if (!ws)
        die("out of memory");
    for (int i = 0; i < nthreads; i++) {
        ws[i].id = i;
        ws[i].connections = total / nthreads + (i < total % nthreads);
        if (!hold_mode)
            pool_build(&ws[i]);
    }
    if (resume_mode != RESUME_NONE)
        seed = seed_session(hold_mode ? NULL : ws[0].pool[0]);
    uint64_t start = now_ns();
    deadline_ns = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create");
    if (hold_mode) {
        while (atomic_load(&hold_ready) < nthreads)
            usleep(10000);
        uint64_t opened = 0, failed = 0, resumed = 0;
        for (int i = 0; i < nthreads; i++) { /* settled: each thread counted before it said so */
            opened += ws[i].opened;
            failed += ws[i].failed;
            resumed += ws[i].resumed;
        }
        printf("READY {\"opened\":%llu,\"failed\":%llu,\"resumed\":%llu,\"setup_us\":%llu}\n",
               (unsigned long long)opened, (unsigned long long)failed, (unsigned long long)resumed,
               (unsigned long long)((now_ns() - start) / 1000));
        fflush(stdout);
        int sig;
        sigwait(&stop_signals, &sig);
        atomic_store(&hold_stop, true);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(ws[i].thread, NULL);
    if (hold_mode) {
        uint64_t opened = 0, failed = 0, closed = 0, open_now = 0;
        for (int i = 0; i < nthreads; i++) {
            opened += ws[i].opened;
            failed += ws[i].failed;
            closed += ws[i].closed_by_server;
            open_now += ws[i].open_now;
        }
        printf("HELD {\"opened\":%llu,\"failed\":%llu,\"closed_by_server\":%llu,\"open\":%llu}\n",
               (unsigned long long)opened, (unsigned long long)failed, (unsigned long long)closed,
               (unsigned long long)open_now);
    } else {
        print_load(ws, now_ns() - start);
    }
    for (int i = 0; i < nthreads; i++) {
        if (!raw_request)
            for (size_t k = 0; k < ws[i].pool_n; k++)
                free(ws[i].pool[k]);
        free(ws[i].pool);
        free(ws[i].lat);
    }
    free(ws);
    free(raw_request);
    SSL_SESSION_free(seed);
    SSL_CTX_free(ctx);
    return 0;
}
