/*
 * The fleet run (sim.h). Each device is a number, its traits (client, chip)
 * drawn once from the seed, its slot state record, and its one timer. A due
 * timer either starts a check-in (a connection from the pool, a session of
 * the otac library, its request bytes), ends a reboot (otac_slots_boot, then
 * confirm, a second reset that makes the boot loader fall back, or silence),
 * or times out an open connection. The loop moves bytes between sockets and
 * sessions and writes the timeline; it never blocks but in epoll_wait.
 *
 * What the devices see of a body in flight is counted from the 200's head to
 * the body's end or cut. A server gives its download slot back once the last
 * byte is handed to its kernel, which may be before the device has it; so
 * within one wake-up the bodies are read before any head, and before a new
 * body is counted the ones in flight are read again (drain_downloads): a
 * slot the server gave back and handed on is not counted twice.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "heap.h"
#include "latency.h"
#include "otac/client.h"
#include "otac/error.h"
#include "otac/port_posix.h"
#include "otac/session.h"
#include "otac/slots.h"
#include "timeline.h"

#define EVENTS_MAX        1024
#define RECV_CHUNK        65536
#define CUT_RCVBUF        4096 /* a device that will lose its link reads through a small window */
#define DEVICE_MSS        1460 /* lwIP's TCP_MSS on the ESP cores */
#define DEFER_MS          50   /* real: a check-in with no free connection tries again */
#define SMALL_FREE_SPACE  4096 /* what a device short of space reports */
#define SIGNAL_TAG        UINT64_MAX
#define PROGRESS_EVERY_MS 1000

enum device_state {
    DEVICE_IDLE = 0,  /* its timer is its next check-in */
    DEVICE_CHECKING,  /* a connection is open; its timer is the connection's deadline */
    DEVICE_REBOOTING, /* an update is staged; its timer is the next start */
    DEVICE_SILENT,    /* bricked: no timer, never again */
};

struct device {
    uint8_t record[OTAC_SLOTS_RECORD_MAX];
    uint16_t record_len;
    uint8_t state;
    uint8_t fault;  /* the fault of the staged update, for the reboot */
    uint8_t client; /* enum otac_client */
    uint8_t chip;   /* index into opt->chips */
    uint8_t server;
    uint8_t seen;
    uint32_t downloads; /* downloads begun: the cut draw's attempt number */
    uint32_t conn;      /* its connection while CHECKING */
    uint64_t random;    /* xorshift64 state of the port's random */
};

enum conn_phase {
    CONN_FREE = 0,
    CONN_CONNECTING,
    CONN_SENDING,
    CONN_RECEIVING,
    CONN_DRAINING, /* an image the device refused: read to the end so the server decides */
};

struct port_ctx {
    struct sim *sim;
    uint32_t device;
    uint64_t flash_size; /* what flash_begin prepared */
};

/* A connection's TLS state (about 24 KB: a one-way record buffer, as a device would use). */
struct conn_tls {
    br_ssl_client_context client;
    br_x509_minimal_context x509;
    int ready; /* initialised once; reset for each connection */
    unsigned char iobuf[BR_SSL_BUFSIZE_MONO];
};

struct conn {
    uint8_t phase;
    uint8_t downloading; /* a 200's head came and its body is not over */
    uint8_t answered;    /* the answer's line was written */
    int fd;
    uint32_t interest; /* the epoll events asked for */
    uint32_t device;
    struct conn_tls *tls; /* an https server's; NULL for http */
    uint64_t cut_at;      /* image bytes after which the link is lost; 0: never */
    uint64_t connect_us;  /* CLOCK_MONOTONIC when it connected: the answer's latency starts */
    size_t request_len, request_sent;
    struct port_ctx pctx;
    struct otac_port port;
    struct otac_slots slots;
    struct otac_identity id;
    struct otac_session session;
    char version_before[OTAC_VERSION_MAX + 1];
    char offered[OTAC_VERSION_MAX + 1];
    char request[OTAC_REQUEST_MAX];
};

struct server_addr {
    struct sockaddr_storage addr;
    socklen_t len;
};

struct sim {
    const struct sim_options *opt;
    struct device *devices;
    struct conn *conns;
    struct conn_tls *tls; /* one per connection when a server is https, else NULL */
    br_x509_trust_anchor *anchors;
    size_t anchor_count;
    uint32_t *free_conns; /* a stack of free connection numbers */
    uint32_t free_count;
    uint32_t open_conns;
    struct timer_heap timers;
    struct server_addr servers[SIM_SERVERS_MAX];
    struct timeline timeline;
    int epoll_fd;
    int signal_fd;
    uint64_t start_ms; /* CLOCK_MONOTONIC at the start */
    uint64_t end_ms;   /* real ms since start when the run ends */
    int stopping;      /* 1: no new check-ins; 2: cut everything now */
    uint64_t drain_until_ms;
    uint32_t downloading;
    struct sim_summary sum;
    struct latency_histogram latency; /* connect() to the answer's head, every answer */
    uint64_t progress_at_ms, progress_checkins;
    int progress;
    struct otac_slot_image factory;
    uint8_t recv_buf[RECV_CHUNK];
};

/* ---- time */

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now(const struct sim *s)
{
    return monotonic_ms() - s->start_ms;
}

/* A simulated duration as real milliseconds. */
static uint64_t scaled(const struct sim *s, uint64_t sim_ms)
{
    double real = (double)sim_ms / s->opt->time_scale;
    return real < 1.0 ? (sim_ms ? 1 : 0) : (uint64_t)llround(real);
}

/* ---- devices */

static void device_mac(const struct sim *s, uint32_t d, uint8_t mac[6])
{
    memcpy(mac, s->opt->mac_prefix, 3);
    mac[3] = (uint8_t)(d >> 16);
    mac[4] = (uint8_t)(d >> 8);
    mac[5] = (uint8_t)d;
}

static uint64_t chip_size_of(const struct sim *s, const struct device *dev)
{
    return s->opt->chips[dev->chip].size;
}

/* The size of the slot an update goes to: the other half of the app area. */
static uint64_t slot_size(enum otac_client client, uint64_t chip)
{
    if (client == OTAC_CLIENT_ESP32) {
        if (chip >= 16u << 20)
            return 6553600;
        if (chip >= 8u << 20)
            return 3342336;
        if (chip >= 4u << 20)
            return 1966080;
        return 983040;
    }
    uint64_t half = chip / 2 < (1u << 20) ? chip / 2 : (1u << 20);
    return half - 16384;
}

static struct device_traits traits_of(const struct sim *s, uint32_t d)
{
    const struct device *dev = &s->devices[d];
    return (struct device_traits){
        .index = d, .client = (enum otac_client)dev->client, .chip_size = chip_size_of(s, dev)};
}

static const char *sdk_of(enum otac_client c)
{
    switch (c) {
    case OTAC_CLIENT_ESP8266_2_4:
        return "2.2.1(cfd48f3)";
    case OTAC_CLIENT_ESP32:
        return "v4.4.5";
    default:
        return "2.2.2-dev(38a443e)";
    }
}

/* ---- the device's port: flash that counts, a state record in memory */

static int port_flash_begin(void *ctx, unsigned slot, uint64_t size)
{
    struct port_ctx *p = ctx;
    const struct device *dev = &p->sim->devices[p->device];
    if (slot >= OTAC_SLOTS)
        return OTAC_E_INVAL;
    if (size > slot_size((enum otac_client)dev->client, chip_size_of(p->sim, dev)))
        return OTAC_E_NO_SPACE;
    p->flash_size = size;
    return OTAC_OK;
}

static int port_flash_write(void *ctx, unsigned slot, uint64_t offset, const void *data, size_t len)
{
    struct port_ctx *p = ctx;
    if (slot >= OTAC_SLOTS || offset > p->flash_size || len > p->flash_size - offset)
        return OTAC_E_FLASH;
    return OTAC_OK;
}

static int port_state_load(void *ctx, void *buf, size_t cap, size_t *ret_len)
{
    struct port_ctx *p = ctx;
    const struct device *dev = &p->sim->devices[p->device];
    if (dev->record_len > cap)
        return OTAC_E_BUFFER;
    memcpy(buf, dev->record, dev->record_len);
    *ret_len = dev->record_len;
    return OTAC_OK;
}

static int port_state_store(void *ctx, const void *buf, size_t len)
{
    struct port_ctx *p = ctx;
    struct device *dev = &p->sim->devices[p->device];
    if (len > sizeof(dev->record))
        return OTAC_E_BUFFER;
    memcpy(dev->record, buf, len);
    dev->record_len = (uint16_t)len;
    return OTAC_OK;
}

static int port_random(void *ctx, void *buf, size_t len)
{
    struct port_ctx *p = ctx;
    struct device *dev = &p->sim->devices[p->device];
    uint8_t *out = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t x = dev->random; /* xorshift64 */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dev->random = x;
        out[i] = (uint8_t)(x >> 24);
    }
    return OTAC_OK;
}

static uint64_t port_now_ms(void *ctx)
{
    struct port_ctx *p = ctx;
    return now(p->sim);
}

static void port_init(struct otac_port *port, struct port_ctx *pctx, struct sim *s, uint32_t d)
{
    memset(port, 0, sizeof(*port));
    pctx->sim = s;
    pctx->device = d;
    pctx->flash_size = 0;
    port->ctx = pctx;
    port->now_ms = port_now_ms;
    port->flash_begin = port_flash_begin;
    port->flash_write = port_flash_write;
    port->state_load = port_state_load;
    port->state_store = port_state_store;
    port->random = port_random;
}

/* ---- the timeline */

static void line(struct sim *s, uint32_t d, enum timeline_event event, const char *before,
                 int status, const char *after, const char *detail)
{
    uint8_t mac[6];
    device_mac(s, d, mac);
    struct timeline_line l = {.time_ms = now(s),
                              .mac = mac,
                              .event = event,
                              .version_before = before,
                              .status = status,
                              .version_after = after,
                              .server = s->devices[d].server,
                              .detail = detail};
    timeline_write(&s->timeline, &l);
}

/* ---- scheduling */

static void schedule_checkin(struct sim *s, uint32_t d, uint64_t sim_delay_ms)
{
    struct device *dev = &s->devices[d];
    dev->state = DEVICE_IDLE;
    if (s->stopping) {
        timer_heap_remove(&s->timers, d);
        return;
    }
    timer_heap_set(&s->timers, d, now(s) + scaled(s, sim_delay_ms));
}

static void schedule_next_interval(struct sim *s, uint32_t d)
{
    struct otac_port port;
    struct port_ctx pctx;
    port_init(&port, &pctx, s, d);
    uint64_t next = otac_next_checkin_ms(&port, s->opt->interval_ms, s->opt->jitter_percent);
    schedule_checkin(s, d, next);
}

/* ---- connections */

static void conn_release(struct sim *s, struct conn *c, int reset)
{
    if (c->fd >= 0) {
        if (reset) { /* an RST, as a device losing its link looks to the server */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(c->fd);
        c->fd = -1;
    }
    if (c->downloading) {
        c->downloading = 0;
        s->downloading--;
    }
    c->phase = CONN_FREE;
    s->free_conns[s->free_count++] = (uint32_t)(c - s->conns);
    s->open_conns--;
}

static int set_interest(struct sim *s, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)(c - s->conns)};
    return epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* The session reached OUTCOME on C: the timeline, the device's next step, the connection closed. */
static void conn_finish(struct sim *s, struct conn *c, enum otac_outcome outcome,
                        const char *detail, int reset)
{
    uint32_t d = c->device;
    struct device *dev = &s->devices[d];
    int status = otac_session_status(&c->session);
    int err = otac_session_error(&c->session);
    switch (outcome) {
    case OTAC_OUTCOME_CURRENT:
        conn_release(s, c, 0);
        schedule_next_interval(s, d);
        return;
    case OTAC_OUTCOME_STAGED: {
        s->sum.served++;
        s->sum.staged++;
        line(s, d, EVENT_SERVED, c->version_before, status, c->offered, NULL);
        line(s, d, EVENT_STAGED, c->version_before, status, c->offered, NULL);
        conn_release(s, c, 0);
        struct device_traits t = traits_of(s, d);
        dev->fault = (uint8_t)behaviour_on_install(&s->opt->behaviour, &t, c->offered);
        dev->state = DEVICE_REBOOTING;
        if (s->stopping)
            timer_heap_remove(&s->timers, d);
        else
            timer_heap_set(&s->timers, d, now(s) + scaled(s, s->opt->reboot_ms));
        return;
    }
    case OTAC_OUTCOME_REFUSED:
        if (status == 403) {
            s->sum.refused++;
            line(s, d, EVENT_REFUSED, c->version_before, status, NULL, NULL);
        }
        conn_release(s, c, 0);
        schedule_next_interval(s, d);
        return;
    case OTAC_OUTCOME_FAILED:
        if (status == 200 && c->phase != CONN_DRAINING && !detail) {
            /* The image was refused: read the rest so the server's count is decided. */
            c->phase = CONN_DRAINING;
            return;
        }
        if (status == 200) {
            s->sum.served += c->phase == CONN_DRAINING && !detail;
            if (c->phase == CONN_DRAINING && !detail)
                line(s, d, EVENT_SERVED, c->version_before, status, c->offered, NULL);
            if (c->phase == CONN_DRAINING && detail) {
                /* The rest of a refused image was cut (a timeout, the run's end, the socket):
                 * for otad a cut like any other. */
                s->sum.cut++;
                line(s, d, EVENT_CUT, c->version_before, status, c->offered, detail);
            }
            s->sum.failed++;
            line(s, d, EVENT_FAILED, c->version_before, status, c->offered,
                 detail ? detail : otac_strerror(err));
        } else {
            s->sum.errors++;
            line(s, d, EVENT_ERROR, c->version_before, status, NULL,
                 detail ? detail : otac_strerror(err));
        }
        conn_release(s, c, reset);
        schedule_next_interval(s, d);
        return;
    case OTAC_OUTCOME_CUT:
        s->sum.cut++;
        line(s, d, EVENT_CUT, c->version_before, status, c->offered,
             detail ? detail : otac_strerror(err));
        conn_release(s, c, reset);
        schedule_next_interval(s, d);
        return;
    case OTAC_OUTCOME_NONE:
        break;
    }
    /* No outcome and no answer: the connection failed before the head. */
    s->sum.errors++;
    line(s, d, EVENT_ERROR, c->version_before, status, NULL, detail ? detail : "no answer");
    conn_release(s, c, reset);
    schedule_next_interval(s, d);
}

/* The connection ended or broke (DETAIL says why, NULL: the peer closed it). */
static void conn_closed(struct sim *s, struct conn *c, const char *detail, int reset)
{
    if (c->phase == CONN_DRAINING) {
        conn_finish(s, c, OTAC_OUTCOME_FAILED, detail, reset);
        return;
    }
    enum otac_outcome outcome = OTAC_OUTCOME_NONE;
    if (c->phase == CONN_RECEIVING && otac_session_closed(&c->session, &outcome) != OTAC_OK)
        outcome = OTAC_OUTCOME_NONE;
    if (outcome == OTAC_OUTCOME_NONE && c->phase == CONN_RECEIVING)
        outcome = OTAC_OUTCOME_FAILED; /* a resume left: not for stock clients (max_resumes 0) */
    conn_finish(s, c, outcome, detail, reset);
}

static void drain_downloads(struct sim *s, const struct conn *except);

/* After bytes were fed: the answer's line, the start of a body, a planned cut. */
static void conn_watch(struct sim *s, struct conn *c)
{
    int status = otac_session_status(&c->session);
    uint32_t d = c->device;
    struct device *dev = &s->devices[d];
    if (!status || c->answered)
        return;
    c->answered = 1;
    latency_add(&s->latency, monotonic_us() - c->connect_us);
    if (!dev->seen) {
        dev->seen = 1;
        s->sum.seen++;
    }
    snprintf(c->offered, sizeof(c->offered), "%s", otac_session_version(&c->session));
    line(s, d, EVENT_ANSWER, c->version_before, status, c->offered, NULL);
    if (status == 304)
        s->sum.status_304++;
    else if (status == 200)
        s->sum.status_200++;
    else
        s->sum.status_other++;
    if (status == 200) {
        drain_downloads(s, c);
        c->downloading = 1;
        if (++s->downloading > s->sum.downloading_peak)
            s->sum.downloading_peak = s->downloading;
        struct device_traits t = traits_of(s, d);
        uint64_t size = otac_session_size(&c->session);
        if (behaviour_cuts(&s->opt->behaviour, &t, c->offered, dev->downloads) && size >= 2)
            c->cut_at = size / 2;
        dev->downloads++;
    }
}

/*
 * Feeds N bytes of the answer to C's session: the answer's line, a planned cut (the link
 * is lost once half the image came), an outcome. Returns 1 when the connection is gone.
 */
static int conn_feed(struct sim *s, struct conn *c, const uint8_t *data, size_t n)
{
    /* The stock clients' timeout bounds each wait, not the whole download. */
    timer_heap_set(&s->timers, c->device, now(s) + s->opt->timeout_ms);
    while (n && c->phase == CONN_RECEIVING) {
        size_t take = n;
        if (c->cut_at) {
            uint64_t got = otac_session_received(&c->session);
            if (got >= c->cut_at) {
                conn_closed(s, c, "link lost", 1);
                return 1;
            }
            if (c->cut_at - got < take)
                take = (size_t)(c->cut_at - got);
        }
        enum otac_outcome outcome = OTAC_OUTCOME_NONE;
        if (otac_session_receive(&c->session, data, take, &outcome) != OTAC_OK) {
            conn_finish(s, c, OTAC_OUTCOME_FAILED, "session out of order", 1);
            return 1;
        }
        conn_watch(s, c);
        if (outcome != OTAC_OUTCOME_NONE) {
            if (c->downloading) {
                c->downloading = 0;
                s->downloading--;
            }
            conn_finish(s, c, outcome, NULL, 0);
            return c->phase == CONN_FREE;
        }
        data += take;
        n -= take;
    }
    if (c->phase == CONN_RECEIVING && c->cut_at &&
        otac_session_received(&c->session) >= c->cut_at) {
        conn_closed(s, c, "link lost", 1);
        return 1;
    }
    return 0;
}

static void conn_want(struct sim *s, struct conn *c, uint32_t events)
{
    if (c->interest != events && set_interest(s, c, events) == 0)
        c->interest = events;
}

static void conn_readable(struct sim *s, struct conn *c)
{
    for (;;) {
        size_t want = sizeof(s->recv_buf);
        if (c->cut_at && c->phase == CONN_RECEIVING) {
            uint64_t got = otac_session_received(&c->session);
            if (got < c->cut_at && c->cut_at - got < want)
                want = (size_t)(c->cut_at - got);
        }
        ssize_t n = recv(c->fd, s->recv_buf, want, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            conn_closed(s, c, strerror(errno), 0);
            return;
        }
        if (n == 0) {
            conn_closed(s, c, NULL, 0);
            return;
        }
        if (c->phase == CONN_DRAINING) {
            timer_heap_set(&s->timers, c->device, now(s) + s->opt->timeout_ms);
            continue;
        }
        if (conn_feed(s, c, s->recv_buf, (size_t)n))
            return;
    }
}

/* The TCP connection is up (or failed): 0, or 1 when it failed and is gone. */
static int conn_connected(struct sim *s, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        conn_closed(s, c, strerror(err), 0);
        return 1;
    }
    c->phase = c->tls ? CONN_RECEIVING : CONN_SENDING;
    return 0;
}

static void conn_writable(struct sim *s, struct conn *c)
{
    if (c->phase == CONN_CONNECTING && conn_connected(s, c))
        return;
    while (c->request_sent < c->request_len) {
        ssize_t n = send(c->fd, c->request + c->request_sent, c->request_len - c->request_sent,
                         MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            conn_closed(s, c, strerror(errno), 0);
            return;
        }
        c->request_sent += (size_t)n;
    }
    c->phase = CONN_RECEIVING;
    conn_want(s, c, EPOLLIN);
}

/* ---- HTTPS: BearSSL's client engine on the same non-blocking socket */

static const char *tls_error(int err)
{
    static char text[32];
    if (err == BR_ERR_X509_NOT_TRUSTED)
        return "tls: certificate not trusted";
    if (err == BR_ERR_X509_BAD_SERVER_NAME)
        return "tls: certificate for another name";
    if (err == BR_ERR_X509_EXPIRED)
        return "tls: certificate expired";
    snprintf(text, sizeof(text), "tls: error %d", err);
    return text;
}

/* Moves records and application bytes until the socket would block. */
static void tls_pump(struct sim *s, struct conn *c)
{
    br_ssl_engine_context *eng = &c->tls->client.eng;
    for (;;) {
        unsigned state = br_ssl_engine_current_state(eng);
        size_t len;
        if (state & BR_SSL_CLOSED) {
            int err = br_ssl_engine_last_error(eng);
            conn_closed(s, c, err ? tls_error(err) : NULL, 0);
            return;
        }
        if (state & BR_SSL_SENDREC) {
            unsigned char *buf = br_ssl_engine_sendrec_buf(eng, &len);
            ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
            if (n > 0) {
                br_ssl_engine_sendrec_ack(eng, (size_t)n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                conn_want(s, c, EPOLLIN | EPOLLOUT);
                return;
            }
            conn_closed(s, c, strerror(errno), 0);
            return;
        }
        if (state & BR_SSL_RECVAPP) {
            unsigned char *buf = br_ssl_engine_recvapp_buf(eng, &len);
            if (c->phase == CONN_DRAINING)
                timer_heap_set(&s->timers, c->device, now(s) + s->opt->timeout_ms);
            else if (conn_feed(s, c, buf, len))
                return;
            br_ssl_engine_recvapp_ack(eng, len);
            continue;
        }
        if ((state & BR_SSL_SENDAPP) && c->request_sent < c->request_len) {
            unsigned char *buf = br_ssl_engine_sendapp_buf(eng, &len);
            size_t k = c->request_len - c->request_sent;
            if (k > len)
                k = len;
            memcpy(buf, c->request + c->request_sent, k);
            br_ssl_engine_sendapp_ack(eng, k);
            c->request_sent += k;
            if (c->request_sent == c->request_len)
                br_ssl_engine_flush(eng, 0);
            continue;
        }
        if (state & BR_SSL_RECVREC) {
            unsigned char *buf = br_ssl_engine_recvrec_buf(eng, &len);
            ssize_t n = recv(c->fd, buf, len, 0);
            if (n > 0) {
                br_ssl_engine_recvrec_ack(eng, (size_t)n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                conn_want(s, c, EPOLLIN);
                return;
            }
            conn_closed(s, c, n == 0 ? NULL : strerror(errno), 0);
            return;
        }
        conn_want(s, c, EPOLLIN);
        return;
    }
}

/*
 * Before a new body is counted in flight: read what the bodies already in flight have
 * waiting, so one whose server is done with it ends first. A server gives its download slot
 * back once the last byte is handed to its kernel; that byte may still sit in the server's
 * send buffer behind a closed window until the device reads, and meanwhile the slot can be
 * handed on. Reading opens the window and, on loopback, the rest usually arrives within the
 * read; on a busy machine the kernel defers that work to its per-CPU softirq thread, so
 * passes repeat, yielding the CPU between them, while bytes keep coming (a few at most).
 */
#define DRAIN_PASSES 4

static void drain_downloads(struct sim *s, const struct conn *except)
{
    for (int pass = 0; pass < DRAIN_PASSES && s->downloading; pass++) {
        int progress = 0;
        if (pass)
            sched_yield();
        for (uint32_t i = 0; i < s->opt->max_connections; i++) {
            struct conn *c = &s->conns[i];
            if (c == except || !c->downloading || c->phase != CONN_RECEIVING)
                continue;
            uint64_t before = otac_session_received(&c->session);
            if (c->tls)
                tls_pump(s, c);
            else
                conn_readable(s, c);
            if (!c->downloading || otac_session_received(&c->session) != before)
                progress = 1;
        }
        if (!progress)
            return;
    }
}

/* Reads what C has waiting, as if the loop had just said it was readable. */
static void conn_poll(struct sim *s, struct conn *c)
{
    if (c->tls && c->phase != CONN_CONNECTING)
        tls_pump(s, c);
    else if (!c->tls && (c->phase == CONN_RECEIVING || c->phase == CONN_DRAINING))
        conn_readable(s, c);
}

static void tls_start(struct sim *s, struct conn *c, const char *host)
{
    struct conn_tls *t = c->tls;
    if (!t->ready) {
        br_ssl_client_init_full(&t->client, &t->x509, s->anchors, s->anchor_count);
        br_ssl_engine_set_buffer(&t->client.eng, t->iobuf, sizeof(t->iobuf), 0);
        t->ready = 1;
    }
    br_ssl_client_reset(&t->client, host, 0);
}

/* Device D's check-in: a connection, a session, its request. */
static void checkin_start(struct sim *s, uint32_t d)
{
    struct device *dev = &s->devices[d];
    if (!s->free_count) {
        s->sum.deferred++;
        timer_heap_set(&s->timers, d, now(s) + DEFER_MS);
        return;
    }
    uint32_t ci = s->free_conns[--s->free_count];
    struct conn *c = &s->conns[ci];
    s->open_conns++;
    memset(c, 0, offsetof(struct conn, request));
    c->fd = -1;
    c->device = d;
    c->phase = CONN_CONNECTING;
    port_init(&c->port, &c->pctx, s, d);

    const char *why = NULL;
    int r = otac_slots_load(&c->slots, &c->port, &s->factory);
    if (r != OTAC_OK) {
        why = otac_strerror(r);
        goto failed;
    }
    struct otac_identity *id = &c->id;
    enum otac_client client = (enum otac_client)dev->client;
    id->client = client;
    device_mac(s, d, id->sta_mac);
    memcpy(id->ap_mac, id->sta_mac, 6);
    id->ap_mac[0] = (uint8_t)(id->ap_mac[0] + 2);
    memcpy(id->base_mac, id->sta_mac, 6);
    id->chip_id = (uint32_t)d | 0x100000u;
    id->chip_size = chip_size_of(s, dev);
    struct device_traits t = traits_of(s, d);
    id->free_space = behaviour_small_space(&s->opt->behaviour, &t)
                         ? SMALL_FREE_SPACE
                         : slot_size(client, id->chip_size);
    snprintf(id->sdk_version, sizeof(id->sdk_version), "%s", sdk_of(client));
    otac_slots_identity(&c->slots, id);
    snprintf(c->version_before, sizeof(c->version_before), "%s", id->version);

    const struct server_url *srv = &s->opt->servers[dev->server];
    struct otac_session_config cfg = {.host = srv->host,
                                      .port = srv->port,
                                      .target = srv->target,
                                      .mode = OTAC_MODE_SKETCH,
                                      .max_resumes = 0};
    r = otac_session_init(&c->session, &cfg, id, &c->slots, &c->port);
    if (r == OTAC_OK)
        r = otac_session_request(&c->session, c->request, sizeof(c->request), &c->request_len);
    if (r != OTAC_OK) {
        why = otac_strerror(r);
        goto failed;
    }

    if (srv->tls) {
        c->tls = &s->tls[ci];
        tls_start(s, c, srv->host);
    }
    const struct server_addr *sa = &s->servers[dev->server];
    c->fd = socket(sa->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        why = strerror(errno);
        goto failed;
    }
    /* Segments of a device's size (lwIP's MSS), not loopback's 64 KiB ones: the server's send
     * buffer, which Linux sizes by segments, then holds what it would hold for a device. */
    int mss = DEVICE_MSS;
    setsockopt(c->fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
    /* A device that may lose its link reads through a small window, so the server cannot
     * have written the whole body before the cut (tests/e2e/test_fleet.py, SlowReader). */
    for (size_t i = 0; i < s->opt->behaviour.count; i++) {
        const struct fault_rule *rule = &s->opt->behaviour.rules[i];
        if (rule->kind == FAULT_CUT && (!rule->chip_size || rule->chip_size == t.chip_size) &&
            (!rule->client || rule->client == t.client)) {
            int small = CUT_RCVBUF;
            setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
            break;
        }
    }
    s->sum.checkins++;
    line(s, d, EVENT_CHECKIN, c->version_before, 0, NULL, NULL);
    dev->state = DEVICE_CHECKING;
    dev->conn = ci;
    timer_heap_set(&s->timers, d, now(s) + s->opt->timeout_ms);
    c->connect_us = monotonic_us();
    if (connect(c->fd, (const struct sockaddr *)&sa->addr, sa->len) < 0 && errno != EINPROGRESS) {
        conn_closed(s, c, strerror(errno), 0);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = ci};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        conn_closed(s, c, strerror(errno), 0);
    else
        c->interest = EPOLLOUT;
    return;

failed:
    s->sum.errors++;
    line(s, d, EVENT_ERROR, c->version_before, 0, NULL, why);
    conn_release(s, c, 0);
    schedule_next_interval(s, d);
}

/* Device D starts again after an update was staged. */
static void reboot(struct sim *s, uint32_t d)
{
    struct device *dev = &s->devices[d];
    struct otac_port port;
    struct port_ctx pctx;
    struct otac_slots slots;
    unsigned slot;
    port_init(&port, &pctx, s, d);
    char old[OTAC_VERSION_MAX + 1] = "", version[OTAC_VERSION_MAX + 1] = "";
    int r = otac_slots_load(&slots, &port, &s->factory);
    if (r == OTAC_OK) {
        snprintf(old, sizeof(old), "%s", otac_slots_running(&slots)->version);
        r = otac_slots_boot(&slots, &port, &slot);
    }
    if (r == OTAC_OK)
        snprintf(version, sizeof(version), "%s", otac_slots_running(&slots)->version);
    if (r != OTAC_OK) {
        s->sum.errors++;
        line(s, d, EVENT_ERROR, NULL, 0, NULL, otac_strerror(r));
        schedule_checkin(s, d, 0);
        return;
    }
    switch ((enum fault)dev->fault) {
    case FAULT_BRICK:
        s->sum.bricked++;
        line(s, d, EVENT_BRICKED, old, 0, version, NULL);
        dev->state = DEVICE_SILENT;
        timer_heap_remove(&s->timers, d);
        return;
    case FAULT_BOOT:
        /* It resets before it can confirm: the next start gives the slot up. */
        r = otac_slots_boot(&slots, &port, &slot);
        s->sum.fell_back++;
        line(s, d, EVENT_FELL_BACK, version, 0, otac_slots_running(&slots)->version,
             r == OTAC_OK ? NULL : otac_strerror(r));
        break;
    default:
        r = slots.trial ? otac_slots_confirm(&slots, &port) : OTAC_OK;
        s->sum.booted++;
        line(s, d, EVENT_BOOTED, old, 0, otac_slots_running(&slots)->version,
             r == OTAC_OK ? NULL : otac_strerror(r));
        break;
    }
    dev->fault = FAULT_NONE;
    schedule_checkin(s, d, 0); /* a sketch checks for an update as it starts */
}

static void timer_fired(struct sim *s, uint32_t d)
{
    struct device *dev = &s->devices[d];
    switch ((enum device_state)dev->state) {
    case DEVICE_IDLE:
        checkin_start(s, d);
        return;
    case DEVICE_REBOOTING:
        reboot(s, d);
        return;
    case DEVICE_CHECKING: {
        /* What arrived while the loop was busy counts before the timeout does. */
        struct conn *c = &s->conns[dev->conn];
        uint64_t due;
        conn_poll(s, c);
        if (c->phase == CONN_FREE || c->device != d ||
            (timer_heap_has(&s->timers, d, &due) && due > now(s)))
            return;
        conn_closed(s, c, "timeout", 1);
        return;
    }
    case DEVICE_SILENT:
        return;
    }
}

/* ---- setup */

static int resolve(struct sim *s)
{
    for (size_t i = 0; i < s->opt->server_count; i++) {
        const struct server_url *u = &s->opt->servers[i];
        const char *host = u->host;
        for (size_t k = 0; k < s->opt->resolve_count; k++)
            if (strcmp(s->opt->resolve[k].name, host) == 0)
                host = s->opt->resolve[k].address;
        char port[8];
        snprintf(port, sizeof(port), "%u", u->port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        int r = getaddrinfo(host, port, &hints, &res);
        if (r != 0 || !res) {
            fprintf(stderr, "otad-sim: %s: %s\n", u->host, gai_strerror(r));
            return -EHOSTUNREACH;
        }
        memcpy(&s->servers[i].addr, res->ai_addr, res->ai_addrlen);
        s->servers[i].len = res->ai_addrlen;
        freeaddrinfo(res);
    }
    return 0;
}

static uint32_t weighted_pick(uint64_t roll, const uint32_t *weights, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    roll %= total;
    for (size_t i = 0; i < n; i++) {
        if (roll < weights[i])
            return (uint32_t)i;
        roll -= weights[i];
    }
    return 0;
}

static int fleet_init(struct sim *s)
{
    const struct sim_options *o = s->opt;
    uint32_t chip_weights[SIM_CHIPS_MAX];
    for (size_t i = 0; i < o->chip_count; i++)
        chip_weights[i] = o->chips[i].weight;
    s->factory = (struct otac_slot_image){.valid = 1, .size = o->sketch_size};
    snprintf(s->factory.version, sizeof(s->factory.version), "%s", o->version);
    uint64_t h = sim_mix64(o->seed ^ 0x666163746f7279ull);
    for (const char *p = o->version; *p; p++)
        h = sim_mix64(h ^ (uint8_t)*p);
    snprintf(s->factory.md5, sizeof(s->factory.md5), "%016llx%016llx", (unsigned long long)h,
             (unsigned long long)sim_mix64(h));

    for (uint32_t d = 0; d < o->devices; d++) {
        struct device *dev = &s->devices[d];
        uint64_t roll = sim_mix64(o->seed ^ sim_mix64(d + 1));
        dev->client = (uint8_t)(weighted_pick(roll, o->client_weight, SIM_CLIENT_KINDS) + 1);
        dev->chip = (uint8_t)weighted_pick(sim_mix64(roll), chip_weights, o->chip_count);
        uint8_t mac[6];
        device_mac(s, d, mac);
        /* By MAC, so a device keeps its node from run to run, as behind a hashing balancer. */
        uint64_t mac_hash = 0;
        for (int i = 0; i < 6; i++)
            mac_hash = sim_mix64(mac_hash ^ mac[i]);
        dev->server = (uint8_t)(mac_hash % o->server_count);
        dev->random = sim_mix64(roll ^ 0x72616e646f6dull) | 1;
        struct otac_port port;
        struct port_ctx pctx;
        struct otac_slots slots;
        unsigned slot;
        port_init(&port, &pctx, s, d);
        int r = otac_slots_load(&slots, &port, &s->factory);
        if (r == OTAC_OK)
            r = otac_slots_boot(&slots, &port, &slot);
        if (r != OTAC_OK) {
            fprintf(stderr, "otad-sim: the slot state of device %u: %s\n", d, otac_strerror(r));
            return -EIO;
        }
        /* The first check-in: somewhere in the first interval (a fleet powered on over time), or
         * in --first-checkins (a fleet powered on at once, or a storm after an outage). */
        uint64_t spread = o->first_ms ? o->first_ms : o->interval_ms;
        uint64_t first = sim_mix64(roll ^ 0x6669727374ull) % (spread + 1);
        dev->state = DEVICE_IDLE;
        timer_heap_set(&s->timers, d, scaled(s, first));
    }
    return 0;
}

static void raise_fd_limit(uint32_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
        rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- the live line */

static void progress(struct sim *s, uint64_t t, int final)
{
    if (!s->progress)
        return;
    if (!final && t < s->progress_at_ms + PROGRESS_EVERY_MS)
        return;
    uint64_t span = t > s->progress_at_ms ? t - s->progress_at_ms : 1;
    double rate = (double)(s->sum.checkins - s->progress_checkins) * 1000.0 / (double)span;
    fprintf(stderr,
            "\r%6.1fs seen %u  %.0f/s  304 %llu  200 %llu  other %llu  downloading %u  updated %llu"
            "  failed %llu  bricked %llu  cut %llu\033[K%s",
            (double)t / 1000.0, s->sum.seen, rate, (unsigned long long)s->sum.status_304,
            (unsigned long long)s->sum.status_200, (unsigned long long)s->sum.status_other,
            s->downloading, (unsigned long long)s->sum.booted,
            (unsigned long long)(s->sum.fell_back + s->sum.failed),
            (unsigned long long)s->sum.bricked, (unsigned long long)s->sum.cut, final ? "\n" : "");
    s->progress_at_ms = t;
    s->progress_checkins = s->sum.checkins;
}

/* ---- the loop */

static void begin_stop(struct sim *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    s->drain_until_ms = now(s) + s->opt->drain_ms;
    /* Idle and rebooting devices act no more; open check-ins may finish. */
    for (uint32_t d = 0; d < s->opt->devices; d++)
        if (s->devices[d].state != DEVICE_CHECKING)
            timer_heap_remove(&s->timers, d);
}

static void cut_everything(struct sim *s)
{
    for (uint32_t i = 0; i < s->opt->max_connections; i++) {
        struct conn *c = &s->conns[i];
        if (c->phase != CONN_FREE)
            conn_poll(s, c); /* what already arrived is the device's */
        if (c->phase != CONN_FREE)
            conn_closed(s, c, "stopped", 1);
    }
}

static void handle(struct sim *s, struct epoll_event *ev)
{
    struct conn *c = &s->conns[ev->data.u64];
    if (c->phase == CONN_FREE)
        return;
    if (c->tls) {
        if (c->phase == CONN_CONNECTING && conn_connected(s, c))
            return;
        tls_pump(s, c);
        return;
    }
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (c->phase == CONN_CONNECTING || c->phase == CONN_SENDING)
            conn_writable(s, c);
        else
            conn_readable(s, c);
    } else if (ev->events & EPOLLOUT) {
        conn_writable(s, c);
    }
}

static void drain_signals(struct sim *s)
{
    struct signalfd_siginfo info;
    while (read(s->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        if (s->stopping)
            s->stopping = 2;
        else
            begin_stop(s);
    }
}

static void loop(struct sim *s)
{
    struct epoll_event events[EVENTS_MAX];
    for (;;) {
        uint64_t t = now(s);
        if (!s->stopping && t >= s->end_ms)
            begin_stop(s);
        if (s->stopping && (s->stopping == 2 || t >= s->drain_until_ms))
            cut_everything(s);
        if (s->stopping && s->open_conns == 0)
            return;
        struct timer_entry due;
        while (timer_heap_pop_due(&s->timers, t, &due))
            timer_fired(s, due.id);
        progress(s, t, 0);

        int wait_ms = 200;
        if (timer_heap_peek(&s->timers, &due))
            wait_ms = due.due <= t ? 0 : (due.due - t < 200 ? (int)(due.due - t) : 200);
        if (!s->stopping && s->end_ms > t && s->end_ms - t < (uint64_t)wait_ms)
            wait_ms = (int)(s->end_ms - t);
        int n = epoll_wait(s->epoll_fd, events, EVENTS_MAX, wait_ms);
        if (n < 0 && errno != EINTR)
            return;
        /* Bodies before heads: see the file's comment. */
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 == SIGNAL_TAG) {
                drain_signals(s);
                events[i].events = 0;
                continue;
            }
            struct conn *c = &s->conns[events[i].data.u64];
            if (c->downloading) {
                handle(s, &events[i]);
                events[i].events = 0;
            }
        }
        for (int i = 0; i < n; i++)
            if (events[i].events)
                handle(s, &events[i]);
    }
}

int sim_run(const struct sim_options *opt, struct sim_summary *ret_summary)
{
    int ret = -ENOMEM;
    struct sim *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->opt = opt;
    s->epoll_fd = s->signal_fd = -1;
    s->progress = opt->progress < 0 ? isatty(STDERR_FILENO) : opt->progress;
    s->sum.devices = opt->devices;
    latency_init(&s->latency);
    s->devices = calloc(opt->devices, sizeof(*s->devices));
    s->conns = calloc(opt->max_connections, sizeof(*s->conns));
    s->free_conns = calloc(opt->max_connections, sizeof(*s->free_conns));
    if (!s->devices || !s->conns || !s->free_conns)
        goto out;
    if ((ret = timer_heap_init(&s->timers, opt->devices)) < 0)
        goto out;
    for (uint32_t i = 0; i < opt->max_connections; i++) {
        s->conns[i].fd = -1;
        s->free_conns[opt->max_connections - 1 - i] = i;
    }
    s->free_count = opt->max_connections;
    if ((ret = resolve(s)) < 0)
        goto out_heap;
    for (size_t i = 0; i < opt->server_count; i++) {
        if (!opt->servers[i].tls || s->tls)
            continue;
        int r = otac_posix_trust_load(opt->ca, &s->anchors, &s->anchor_count);
        if (r != OTAC_OK) {
            fprintf(stderr, "otad-sim: --ca %s: %s\n", opt->ca, otac_strerror(r));
            ret = -EINVAL;
            goto out_heap;
        }
        s->tls = calloc(opt->max_connections, sizeof(*s->tls));
        if (!s->tls) {
            ret = -ENOMEM;
            goto out_heap;
        }
    }
    if (opt->timeline[0]) {
        if ((ret = timeline_open(&s->timeline, opt->timeline)) < 0) {
            fprintf(stderr, "otad-sim: --timeline %s: %s\n", opt->timeline, strerror(-ret));
            goto out_heap;
        }
    } else {
        timeline_attach(&s->timeline, NULL, 0);
    }
    raise_fd_limit(opt->max_connections);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->signal_fd < 0 || s->epoll_fd < 0) {
        ret = -errno;
        fprintf(stderr, "otad-sim: epoll or signalfd: %s\n", strerror(errno));
        goto out_timeline;
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = SIGNAL_TAG};
    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->signal_fd, &sev);

    s->start_ms = monotonic_ms();
    s->end_ms = scaled(s, opt->duration_ms);
    if ((ret = fleet_init(s)) < 0)
        goto out_timeline;
    loop(s);
    progress(s, now(s), 1);
    ret = 0;

out_timeline:
    s->sum.elapsed_ms = now(s);
    s->sum.timeline_lines = s->timeline.lines;
    s->sum.answer_p50_us = latency_percentile(&s->latency, 50);
    s->sum.answer_p99_us = latency_percentile(&s->latency, 99);
    {
        int tr = timeline_close(&s->timeline, 1);
        if (tr < 0 && ret == 0) {
            fprintf(stderr, "otad-sim: --timeline %s: %s\n", opt->timeline, strerror(-tr));
            ret = tr;
        }
    }
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
out_heap:
    for (uint32_t i = 0; s->conns && i < opt->max_connections; i++)
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    timer_heap_release(&s->timers);
    otac_posix_trust_free(s->anchors, s->anchor_count);
    free(s->tls);
out:
    *ret_summary = s->sum;
    free(s->devices);
    free(s->conns);
    free(s->free_conns);
    free(s);
    return ret;
}
