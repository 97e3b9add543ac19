/*
 * The libmicrohttpd adapter (server.h). Per request: on the first callback
 * the request line and headers are complete; requests without a body are
 * answered right there with no allocation beyond libmicrohttpd's own pool.
 * Requests with a body (uploads) are authorized and size-checked before a
 * byte of the body is read, then accumulated into a capped buffer (raw) or
 * through libmicrohttpd's multipart parser, and answered on the last call.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/cpus.h"
#include "core/listen_fds.h"
#include "core/log.h"
#include "core/netaddr.h"
#include "core/util.h"
#include "http/errors.h"
#include "http/forwarded.h"
#include "http/handlers.h"
#include "http/tls.h"
#include "http/wire.h"
#include "service/service_fleet.h"

/*
 * The head walk (http/wire.h) reads the in-place parse of libmicrohttpd
 * 0.9.71 to 0.9.75, Debian 12's. 0.9.76 rewrote that parser (and 1.0 can
 * refuse these heads itself, MHD_OPTION_CLIENT_DISCIPLINE_LVL): moving to it
 * means reviewing request_translate and the tests in tests/e2e/test_wire.py.
 */
#if MHD_VERSION >= 0x00097600
#error "review the head walk in http/server.c for this libmicrohttpd"
#endif

#define FORM_FIELDS_MAX  8
#define FORM_FIELD_BYTES (LIMIT_RELEASE_NOTES_BYTES)

/* One listening socket: plain HTTP or HTTPS, each its own libmicrohttpd daemon. */
struct http_listener {
    struct http_server *srv;
    struct MHD_Daemon *daemon; /* NULL when this listener is off */
    uint16_t port;
    bool tls;
    int activated_fd; /* a socket the service manager passed (socket activation), or -1 */
    struct sockaddr_storage bound; /* where the listening socket is bound (the probe's target) */
    socklen_t bound_len;
};

struct http_server {
    struct http_listener plain, secure;
    struct tls_server *tls; /* the HTTPS listener's certificates and sessions; NULL without one */
    struct http_context ctx;
    struct config config;
    struct MHD_Response *not_modified; /* one shared 304, queued many times */
    atomic_bool draining;              /* http_server_stop began: new connections are closed */
    /*
     * The test-only stall (http_server_test_stall): from this monotonic
     * millisecond on, every request's worker blocks until draining. 0: never.
     */
    atomic_int_fast64_t stall_from_ms;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The test-only stall: blocks this worker thread, as a handler stuck on a
 * lock would, until http_server_stop begins. Never set outside tests.
 */
static void stall_if_asked(struct http_server *srv)
{
    int64_t from = atomic_load_explicit(&srv->stall_from_ms, memory_order_relaxed);
    if (!from || monotonic_ms() < from)
        return;
    while (!atomic_load_explicit(&srv->draining, memory_order_relaxed))
        usleep(50 * 1000);
}

/* What one upload carries while its body arrives. */
struct form_field {
    char name[32]; /* the longest field a form takes is allow_secure_version_bump (25) */
    struct buf value;
};

/*
 * What *con_cls points to: nothing, the marker below, an upload in
 * progress, or an offer whose end the service must hear of. The structs
 * start with their kind.
 */
enum request_state_kind { STATE_UPLOAD = 1, STATE_DELIVERY = 2 };

struct delivery {
    enum request_state_kind kind; /* STATE_DELIVERY */
    struct delivery_ticket ticket;
};

struct upload {
    enum request_state_kind kind; /* STATE_UPLOAD */
    struct buf body;              /* raw body, or the multipart file part */
    struct MHD_PostProcessor *post;
    struct form_field fields[FORM_FIELDS_MAX];
    unsigned field_count;
    unsigned image_parts; /* file parts seen; more than one is refused */
    bool too_large;
    bool bad_form;
    struct http_reply early; /* a refusal decided before the body was read */
    bool has_early;
    struct http_body_hold hold; /* what the route holds until the request ends */
};

/*
 * The per-request state of a request without a body: only a marker. Its
 * answer is queued on the second callback, once libmicrohttpd has the whole
 * request; queued on the first, libmicrohttpd closes the connection after
 * the response, which would end HTTP/1.1 keep-alive.
 */
static char answer_on_next_call;

static void upload_free(struct upload *up)
{
    if (!up || (void *)up == (void *)&answer_on_next_call)
        return;
    buf_release(&up->body);
    for (unsigned i = 0; i < up->field_count; i++)
        buf_release(&up->fields[i].value);
    if (up->post)
        MHD_destroy_post_processor(up->post);
    http_reply_release(&up->early);
    if (up->hold.release)
        up->hold.release(up->hold.arg, up->hold.amount);
    free(up);
}

/*
 * A connection's own state, its socket context: the TLS session's (NULL on
 * the plain listener), and the request in progress as the metrics measure
 * it (http_metrics_request_done): when its head arrived, its route family,
 * the status queued.
 */
struct connection_state {
    struct tls_credentials *tls_session; /* tls_session_begin's; NULL: none */
    struct timespec began;
    const char *route; /* a static name; NULL: no request in progress */
    int status;
};

static struct connection_state *connection_state(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* The route family of PATH as the metrics label it: a few fixed names, never the path. */
static const char *route_family(const char *url)
{
    static const struct {
        const char *prefix, *family;
    } families[] = {
        {"/update/", "checkin"}, {"/images/", "image"},  {"/manifest/", "manifest"},
        {"/api/", "api"},        {"/hooks/", "webhook"}, {"/metrics", "metrics"},
        {"/healthz", "healthz"},
    };
    /* "GET file.bin HTTP/1.0" has no leading slash: "other", as any alias. */
    const char *path = url;
    for (size_t i = 0; i < ARRAY_SIZE(families); i++)
        if (strncmp(path, families[i].prefix, strlen(families[i].prefix)) == 0)
            return families[i].family;
    return "other"; /* aliases of /update/ included: told apart only after routing */
}

/* The request on CONN has begun: its head is complete. */
static void request_began(struct MHD_Connection *conn, const char *url)
{
    struct connection_state *cs = connection_state(conn);
    if (!cs)
        return;
    clock_gettime(CLOCK_MONOTONIC, &cs->began);
    cs->route = route_family(url);
    cs->status = 0;
}

/* The request on CONN has ended, its response sent or not: counted once. */
static void request_ended(struct MHD_Connection *conn)
{
    struct connection_state *cs = connection_state(conn);
    if (!cs || !cs->route)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds =
        (double)(now.tv_sec - cs->began.tv_sec) + (double)(now.tv_nsec - cs->began.tv_nsec) / 1e9;
    http_metrics_request_done(cs->route, cs->status, seconds);
    cs->route = NULL;
}

/* --- request translation --- */

struct request_storage {
    struct http_request req;
    char path[LIMIT_URL_BYTES + 2];
    char query_text[LIMIT_URL_BYTES + 2]; /* the decoded query arguments, NUL-separated */
    size_t query_used;
    char remote[INET6_ADDRSTRLEN]; /* the address the request stands for (remote_address) */
    size_t target_bytes;           /* path plus every query argument, as sent */
    bool has_nul;                  /* the path or a query argument decodes to a NUL byte (%00) */
    bool bad_name;                 /* a header name is not a token (a space before its ':' ...) */
    unsigned hosts;                /* Host headers */
    unsigned lengths;              /* Content-Length headers */
    struct wire_head head;         /* the walk over the head's bytes */
    bool walked;                   /* the head was walked (on the request's first translation) */
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    struct request_storage *s = cls;
    /* A NUL byte inside a name or value shows in the head walk (lengths are the parser's strlen).
     */
    if (!wire_is_token(key, key_size))
        s->bad_name = true;
    if (key_size == 4 && str_eq_nocase(key, MHD_HTTP_HEADER_HOST))
        s->hosts++;
    else if (key_size == 14 && str_eq_nocase(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        s->lengths++;
    wire_head_field(&s->head, key, key_size, value, value_size);
    if (s->req.header_count == LIMIT_HEADERS_PER_REQUEST) {
        s->req.headers_truncated = true;
        return MHD_YES; /* keep walking the head */
    }
    s->req.headers[s->req.header_count++] = (struct http_pair){key, value ? value : ""};
    return MHD_YES;
}

/* Decodes one query name or value into the request's query_text; NULL when it is full. */
static const char *query_decode(struct request_storage *s, const char *text, size_t len)
{
    if (len + 1 > sizeof(s->query_text) - s->query_used)
        return NULL;
    char *out = s->query_text + s->query_used;
    size_t n;
    if (!wire_percent_decode(text, len, out, &n))
        s->has_nul = true; /* a decoded %00 would cut the value short: refuse it instead */
    s->query_used += n + 1;
    return out;
}

/*
 * libmicrohttpd hands the arguments over as sent ('+' already a space; see
 * keep_escaped): the head walk needs their raw lengths, and decoding here
 * lets a %00 be refused instead of silently cutting a value.
 */
static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    struct request_storage *s = cls;
    s->target_bytes += key_size + (value ? value_size : 0) + 2;
    wire_head_argument(&s->head, key, key_size, value, value_size);
    if (s->req.query_count == LIMIT_QUERY_ARGS_PER_REQUEST) {
        s->req.query_truncated = true;
        return MHD_YES; /* keep counting bytes */
    }
    const char *k = query_decode(s, key, key_size);
    const char *v = query_decode(s, value ? value : "", value ? value_size : 0);
    if (!k || !v) {
        s->req.query_truncated = true;
        return MHD_YES;
    }
    s->req.query[s->req.query_count++] = (struct http_pair){k, v};
    return MHD_YES;
}

/*
 * The unescape step libmicrohttpd runs on the path and on each argument:
 * leave them as sent. request_translate and collect_query decode them, after
 * the head walk has measured them.
 */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
    return strlen(s);
}

/*
 * A trusted balancer's malformed X-Forwarded-For: the request goes on with
 * the peer's address; one log line a minute at most says how many there
 * were and shows the latest header (cut and made printable).
 */
#define FORWARDED_LOG_INTERVAL_MS 60000
#define FORWARDED_LOG_VALUE_BYTES 96

static atomic_int_fast64_t forwarded_logged_ms = -FORWARDED_LOG_INTERVAL_MS;
static atomic_uint_fast64_t forwarded_unlogged;

static void forwarded_malformed(const char *peer, const char *value)
{
    http_metrics_forwarded_malformed();
    atomic_fetch_add(&forwarded_unlogged, 1);
    int64_t now = time_mono_ms(), last = atomic_load(&forwarded_logged_ms);
    if (now - last < FORWARDED_LOG_INTERVAL_MS ||
        !atomic_compare_exchange_strong(&forwarded_logged_ms, &last, now))
        return;
    char shown[FORWARDED_LOG_VALUE_BYTES];
    size_t n = 0;
    for (const char *p = value; *p && n + 1 < sizeof(shown); p++)
        shown[n++] = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' ? *p : '?';
    shown[n] = 0;
    uint64_t count = atomic_exchange(&forwarded_unlogged, 0);
    log_warn("x-forwarded-for from trusted proxy %s is not a list of addresses (\"%s%s\"): the "
             "proxy's address is used; %llu such request(s) since the last message",
             peer, shown, value[n] ? "..." : "", (unsigned long long)count);
}

/*
 * The address S's request stands for, into S->remote: the peer's; or, on
 * the plain listener when the peer is one of CONFIG's trusted_proxies, the
 * client its X-Forwarded-For names (http/forwarded.h). Not on the HTTPS
 * listener: a balancer passes TLS through without reading it, so a header
 * there was written by the device. The headers must have been collected.
 * A malformed header is counted on the request's FIRST translation only (an
 * upload is translated again on its last call).
 */
static void remote_address(struct request_storage *s, struct MHD_Connection *conn,
                           const struct config *config, bool tls, bool first)
{
    s->remote[0] = 0;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, s->remote,
                  sizeof(s->remote));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, s->remote,
                  sizeof(s->remote));
    struct net_addr peer;
    if (tls || config->trusted_proxy_count == 0 || net_addr_from_sockaddr(sa, &peer) < 0)
        return;
    const char *values[LIMIT_HEADERS_PER_REQUEST];
    size_t count = 0;
    for (unsigned i = 0; i < s->req.header_count; i++)
        if (str_eq_nocase(s->req.headers[i].name, "X-Forwarded-For"))
            values[count++] = s->req.headers[i].value;
    struct net_addr client;
    switch (forwarded_client(&peer, config->trusted_proxy_list, config->trusted_proxy_count, values,
                             count, &client)) {
    case FORWARDED_CLIENT:
        net_addr_format(&client, s->remote, sizeof(s->remote));
        break;
    case FORWARDED_MALFORMED:
        if (first)
            forwarded_malformed(s->remote, count ? values[count - 1] : "");
        break;
    case FORWARDED_PEER:
        break;
    }
}

/*
 * Fills S from the connection: URL, METHOD and VERSION are libmicrohttpd's
 * pointers into the head. On the first call for a request (FIRST), also
 * walks the head; on the last call of an upload the head was walked already.
 * Returns false when the path is too long to route.
 */
static bool request_translate(struct request_storage *s, struct MHD_Connection *conn,
                              const char *url, const char *method, const char *version, bool first,
                              bool tls, const struct config *config)
{
    memset(&s->req, 0, sizeof(s->req));
    s->query_used = 0;
    s->has_nul = s->bad_name = false;
    s->hosts = s->lengths = 0;
    size_t n = strlen(url);
    s->target_bytes = n;
    if (n > LIMIT_URL_BYTES)
        return false;
    /* "GET file.bin HTTP/1.0" (no leading slash) routes like "/file.bin" (§1.1). */
    size_t lead = url[0] != '/';
    s->path[0] = '/';
    size_t decoded;
    if (!wire_percent_decode(url, n, s->path + lead, &decoded))
        s->has_nul = true;
    s->req.method = method;
    s->req.path = s->path;
    s->req.http10 = strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    s->req.tls = tls;
    s->req.remote_addr = s->remote;
    const union MHD_ConnectionInfo *info =
        first ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) : NULL;
    /* In wire order: the request line's target and arguments, its version, the headers. */
    wire_head_begin(&s->head, method, url, info ? info->header_size : 0);
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_query, s);
    wire_head_version(&s->head, version);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_header, s);
    remote_address(s, conn, config, tls, first);
    s->walked = first;
    return true;
}

/*
 * Refusals of the request's shape, before any routing (docs/PROTOCOL.md,
 * "Request framing"): a target past LIMIT_URL_BYTES (414), more headers or
 * query arguments than a handler looks at (431 / 414: identity headers must
 * never be dropped silently), and 400 for a head the parser did not take
 * whole (a NUL byte, a folded line), a header name that is not a token, a
 * %00, two Content-Length or two Host headers, or an HTTP/1.1 request
 * without Host. Returns true with REPLY filled when the request is refused.
 */
static bool request_refused(struct request_storage *s, struct http_reply *reply)
{
    int status = 400;
    const char *code = "bad_request", *text;
    if (s->target_bytes > LIMIT_URL_BYTES || s->req.query_truncated)
        status = 414, code = "uri_too_long",
        text = "request-target too long or too many query arguments";
    else if (s->req.headers_truncated)
        status = 431, code = "headers_too_large", text = "too many header fields";
    else if (s->walked && !wire_head_intact(&s->head))
        text = "malformed request head: a NUL byte, a folded header line or extra blanks in the "
               "request line";
    else if (s->bad_name)
        text = "a header name holds a character HTTP does not allow (a space before the colon?)";
    else if (s->has_nul)
        text = "the path or a query value contains a NUL byte (%00)";
    else if (s->lengths > 1)
        text = "more than one Content-Length header";
    else if (s->hosts > 1)
        text = "more than one Host header";
    else if (s->hosts == 0 && !s->req.http10)
        text = "an HTTP/1.1 request needs a Host header";
    else
        return false;
    /* The API always answers JSON; devices get one line of text. */
    if (strncmp(s->req.path, "/api/", 5) == 0)
        http_reply_error_status(reply, status, code, text);
    else
        http_reply_text(reply, status, text);
    return true;
}

/* --- reply translation --- */

/*
 * A file body sent through TLS. libmicrohttpd cannot sendfile into TLS and
 * reads a file response in 4 KiB blocks, each its own TLS record. Reading
 * 32 KiB at a time, libmicrohttpd sends it as two whole 16 KiB records
 * (TLS's largest), one per pass: an eighth of the reads, a quarter of the
 * records and MACs. The block is allocated with the response and held
 * until the body is sent, so it is what a slow reader costs: 64 KiB gained
 * little more (1 MiB downloads: 16 KiB 463 MiB/s, 32 KiB 508, 64 KiB 521,
 * means of runs on this machine) for twice the memory. A client's
 * max_fragment_length still cuts the records smaller (tls_session_ready).
 */
#define TLS_FILE_BLOCK_BYTES (32u * 1024u)

struct tls_file_body {
    int fd;
    uint64_t offset; /* of the body's first byte in the file */
};

static ssize_t tls_file_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct tls_file_body *b = cls;
    for (;;) {
        ssize_t n = pread(b->fd, buf, max, (off_t)(b->offset + pos));
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        /* Shorter than the Content-Length sent, or unreadable: cut the connection. */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void tls_file_free(void *cls)
{
    struct tls_file_body *b = cls;
    close(b->fd);
    free(b);
}

/* A response over REPLY's file; it takes the descriptor on success. NULL when out of memory. */
static struct MHD_Response *file_response(struct http_reply *reply, bool tls)
{
    struct MHD_Response *resp = NULL;
    if (!tls) {
        resp =
            MHD_create_response_from_fd_at_offset64(reply->fd_length, reply->fd, reply->fd_offset);
    } else {
        struct tls_file_body *b = malloc(sizeof(*b));
        if (!b)
            return NULL;
        *b = (struct tls_file_body){reply->fd, reply->fd_offset};
        resp = MHD_create_response_from_callback(reply->fd_length, TLS_FILE_BLOCK_BYTES,
                                                 tls_file_read, b, tls_file_free);
        if (!resp)
            free(b);
    }
    if (resp)
        reply->fd = -1; /* libmicrohttpd closes it (tls_file_free over TLS) */
    return resp;
}

/*
 * The headers every answer but a device's carries (docs/SECURITY.md,
 * "Dashboard sign-in"): a Content-Security-Policy that allows no inline
 * script or style and nothing from another origin, no MIME sniffing, no
 * Referer, no framing. Static: they are added to the libmicrohttpd
 * response, not to the handler's reply, whose room is its handler's.
 */
static const struct http_pair security_headers[] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
     "frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

/*
 * Whether the answer to PATH gets the security headers: every answer but a
 * device's, whose bytes docs/PROTOCOL.md fixes (and none when the path was
 * not even read: a request-target too long to route).
 */
static bool wants_security_headers(const struct http_server *srv, const char *path)
{
    return path && !http_path_is_device(&srv->ctx, path);
}

/*
 * Queues REPLY on CONN, the answer to PATH (NULL: unknown); TLS: it goes out
 * through the HTTPS listener (file_response).
 */
static enum MHD_Result queue_reply(struct http_server *srv, struct MHD_Connection *conn,
                                   struct http_reply *reply, bool tls, const char *path)
{
    if (reply->broken) { /* never send a reply without a header it needed (reply.h) */
        http_reply_release(reply);
        http_reply_init(reply);
        http_reply_static(reply, 500, "internal error\n");
    }
    struct connection_state *cs = connection_state(conn);
    if (cs)
        cs->status = reply->status;
    bool secure = wants_security_headers(srv, path);
    if (reply->status == 304 && reply->header_count == 0 && !secure)
        return MHD_queue_response(conn, MHD_HTTP_NOT_MODIFIED, srv->not_modified);

    struct MHD_Response *resp;
    if (reply->fd >= 0) {
        resp = file_response(reply, tls);
    } else if (reply->body.data || reply->body.len) {
        size_t len;
        uint8_t *data = buf_detach(&reply->body, &len);
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(data);
    } else {
        resp = MHD_create_response_from_buffer(reply->static_len, (void *)reply->static_body,
                                               MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    bool headers_ok =
        !reply->content_type ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type) == MHD_YES;
    for (unsigned i = 0; headers_ok && i < reply->header_count; i++)
        headers_ok = MHD_add_response_header(resp, reply->headers[i].name,
                                             reply->headers[i].value) == MHD_YES;
    for (size_t i = 0; secure && headers_ok && i < ARRAY_SIZE(security_headers); i++)
        headers_ok = MHD_add_response_header(resp, security_headers[i].name,
                                             security_headers[i].value) == MHD_YES;
    if (!headers_ok) { /* libmicrohttpd out of memory: no half-made reply goes out */
        MHD_destroy_response(resp);
        log_error("http: cannot add the reply's headers: closing the connection");
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)reply->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer(struct http_server *srv, struct MHD_Connection *conn,
                              const struct http_request *req, void **con_cls)
{
    struct http_reply reply;
    http_reply_init(&reply);
    http_route(&srv->ctx, req, &reply);
    if (reply.status == 0)
        http_reply_static(&reply, 500, "no answer\n");
    if (reply.has_ticket &&
        (reply.broken || (reply.status != 200 && reply.status != 206) || reply.fd < 0)) {
        /* Not the image after all (a header could not be added: a 500 goes out). */
        service_delivery_done(srv->ctx.svc, &reply.ticket, false);
        reply.has_ticket = false;
    }
    if (reply.has_ticket) {
        /* on_completed tells the service how the body ended (service_delivery_done). */
        struct delivery *d = malloc(sizeof(*d));
        if (!d) {
            service_delivery_done(srv->ctx.svc, &reply.ticket, false);
            http_reply_release(&reply);
            return MHD_NO;
        }
        d->kind = STATE_DELIVERY;
        d->ticket = reply.ticket;
        *con_cls = d;
    }
    enum MHD_Result ret = queue_reply(srv, conn, &reply, req->tls, req->path);
    http_reply_release(&reply);
    return ret;
}

/* --- uploads --- */

static struct form_field *form_field_get(struct upload *up, const char *name)
{
    for (unsigned i = 0; i < up->field_count; i++)
        if (strcmp(up->fields[i].name, name) == 0)
            return &up->fields[i];
    if (up->field_count == FORM_FIELDS_MAX || strlen(name) >= sizeof(up->fields[0].name))
        return NULL;
    struct form_field *f = &up->fields[up->field_count++];
    str_copy(f->name, sizeof(f->name), name);
    buf_init(&f->value, FORM_FIELD_BYTES);
    return f;
}

static enum MHD_Result on_form_data(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
    struct upload *up = cls;
    if (strcmp(key, "image") == 0 || strcmp(key, "file") == 0) {
        /* A new part starts at offset 0: a second image part is ambiguous, refuse it. */
        if (off == 0 && up->image_parts++ > 0) {
            up->bad_form = true;
            return MHD_NO;
        }
        if (buf_append(&up->body, data, size) < 0) {
            up->too_large = true;
            return MHD_NO;
        }
        return MHD_YES;
    }
    struct form_field *f = form_field_get(up, key);
    if (!f || buf_append(&f->value, data, size) < 0) {
        up->bad_form = true;
        return MHD_NO;
    }
    return MHD_YES;
}

static bool content_type_is(const char *ct, const char *want)
{
    return ct && strncasecmp(ct, want, strlen(want)) == 0;
}

static enum MHD_Result upload_begin(struct http_server *srv, struct MHD_Connection *conn,
                                    const struct http_request *req, void **con_cls)
{
    struct upload *up = calloc(1, sizeof(*up));
    if (!up)
        return MHD_NO;
    up->kind = STATE_UPLOAD;
    http_reply_init(&up->early);
    *con_cls = up;
    uint64_t declared = UINT64_MAX, max = 0;
    const char *cl = http_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl)
        parse_u64(cl, UINT64_MAX, &declared);
    if (cl && http_request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        /* Both framings at once is how requests get smuggled: refuse (RFC 9112 §6.3). */
        http_reply_error(&up->early, -EINVAL,
                         "Content-Length and Transfer-Encoding in the same request");
        return queue_reply(srv, conn, &up->early, req->tls, req->path);
    }
    if (!http_route_accepts_body(&srv->ctx, req, declared, &max, &up->hold, &up->early)) {
        const char *expect = http_request_header(req, MHD_HTTP_HEADER_EXPECT);
        if (cl && declared <= LIMIT_REFUSED_BODY_DRAIN_BYTES && !expect &&
            !http_request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
            /* A small body already on its way: read and dropped, then refused (limits.h). */
            up->has_early = true;
            return MHD_YES;
        }
        /*
         * Answered now, before any of the body: libmicrohttpd then closes the
         * connection instead of reading (and us holding) what was refused.
         */
        return queue_reply(srv, conn, &up->early, req->tls, req->path);
    }
    if (http_request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        /*
         * Bodies come with a Content-Length (RFC 9112 §6.3 lets a server ask for
         * one). libmicrohttpd 0.9.75 cannot bound a chunk-size line: one longer
         * than the connection memory (a 10 KB chunk extension) gets its own 500.
         */
        http_reply_error_status(&up->early, 411, "length_required",
                                "send the body with a Content-Length; chunked bodies are refused");
        return queue_reply(srv, conn, &up->early, req->tls, req->path);
    }
    buf_init(&up->body, max < srv->config.max_upload_bytes ? max : srv->config.max_upload_bytes);
    const char *ct = http_request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (content_type_is(ct, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) {
        up->post = MHD_create_post_processor(conn, 64 * 1024, on_form_data, up);
        if (!up->post) {
            http_reply_error(&up->early, -EINVAL, "malformed multipart/form-data header");
            up->has_early = true;
        }
    }
    return MHD_YES;
}

static enum MHD_Result upload_feed(struct upload *up, const char *data, size_t size)
{
    if (up->has_early || up->too_large || up->bad_form)
        return MHD_YES; /* discard the rest; the refusal goes out at the end */
    if (up->post) {
        if (MHD_post_process(up->post, data, size) != MHD_YES && !up->too_large)
            up->bad_form = true;
    } else if (buf_append(&up->body, data, size) < 0) {
        up->too_large = true;
    }
    return MHD_YES;
}

static enum MHD_Result upload_finish(struct http_server *srv, struct MHD_Connection *conn,
                                     struct request_storage *s, struct upload *up)
{
    if (up->has_early)
        return queue_reply(srv, conn, &up->early, s->req.tls, s->req.path);
    struct http_reply reply;
    http_reply_init(&reply);
    if (up->too_large) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the image is larger than the limit of %llu bytes",
                 (unsigned long long)srv->config.max_upload_bytes);
        http_reply_error(&reply, -EFBIG, msg);
    } else if (up->bad_form) {
        http_reply_error(&reply, -EINVAL, "malformed multipart/form-data body");
    } else {
        struct http_pair form[FORM_FIELDS_MAX];
        for (unsigned i = 0; i < up->field_count; i++)
            form[i] = (struct http_pair){
                up->fields[i].name,
                up->fields[i].value.data ? (const char *)up->fields[i].value.data : ""};
        s->req.form = form;
        s->req.form_count = up->field_count;
        s->req.body = up->body.data;
        s->req.body_len = up->body.len;
        http_route(&srv->ctx, &s->req, &reply);
        s->req.form = NULL;
        s->req.form_count = 0;
    }
    enum MHD_Result ret = queue_reply(srv, conn, &reply, s->req.tls, s->req.path);
    http_reply_release(&reply);
    return ret;
}

/* --- the libmicrohttpd callbacks --- */

static bool has_body(struct MHD_Connection *conn, const char *method)
{
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)
        return true;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    return te || (cl && strcmp(cl, "0") != 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_listener *listener = cls;
    struct http_server *srv = listener->srv;
    struct request_storage s;
    struct upload *up = *con_cls;

    if (!up) {
        stall_if_asked(srv);
        request_began(conn, url);
    }
    if (listener->tls && !up) { /* the request's first call: the handshake is done */
        const union MHD_ConnectionInfo *tls =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (tls && tls->tls_session)
            tls_session_ready(tls->tls_session);
    }
    if (!up && !has_body(conn, method)) {
        *con_cls = &answer_on_next_call;
        return MHD_YES;
    }
    bool bodyless = *con_cls == &answer_on_next_call;
    if (bodyless)
        up = NULL;
    if (up && *upload_data_size) {
        enum MHD_Result r = upload_feed(up, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return r;
    }
    struct http_reply refusal;
    http_reply_init(&refusal);
    /* The head is walked on the request's first translation: before routing or any body. */
    if (!request_translate(&s, conn, url, method, version, !up, listener->tls, &srv->config))
        http_reply_static(&refusal, 414, "request-target too long\n");
    if (refusal.status || request_refused(&s, &refusal)) {
        if (up)
            up->has_early = false; /* answered here; the body (if any) is discarded */
        /* A head we refused may also be framed wrong: never read another request after it. */
        http_reply_header(&refusal, MHD_HTTP_HEADER_CONNECTION, "close");
        enum MHD_Result r = queue_reply(srv, conn, &refusal, listener->tls, s.req.path);
        http_reply_release(&refusal);
        return r;
    }
    if (up)
        return upload_finish(srv, conn, &s, up);
    if (!bodyless)
        return upload_begin(srv, conn, &s.req, con_cls);
    return answer(srv, conn, &s.req, con_cls);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = ((struct http_listener *)cls)->srv;
    void *state = *con_cls;
    *con_cls = NULL;
    request_ended(conn);
    if (!state || state == (void *)&answer_on_next_call)
        return;
    if (*(enum request_state_kind *)state == STATE_DELIVERY) {
        struct delivery *d = state;
        /* COMPLETED_OK: libmicrohttpd sent the whole response, body included. */
        service_delivery_done(srv->ctx.svc, &d->ticket, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
        free(d);
        return;
    }
    upload_free(state);
}

/*
 * A connection's life: its state (struct connection_state) from before its
 * first byte until it closes. Over TLS, its GnuTLS session takes the
 * current certificates (a reload since the daemon started changes them),
 * the session cache and the ticket key, and lets the certificates go when
 * it closes (libmicrohttpd has freed the session by then).
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_listener *listener = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        /*
         * Without it (out of memory) the connection is served, only not
         * measured, and over TLS presents the startup pair, as when
         * tls_session_begin cannot set a session up.
         */
        struct connection_state *cs = calloc(1, sizeof(*cs));
        const union MHD_ConnectionInfo *info =
            cs && listener->tls ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)
                                : NULL;
        if (info && info->tls_session)
            cs->tls_session = tls_session_begin(listener->srv->tls, info->tls_session);
        *socket_context = cs;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct connection_state *cs = *socket_context;
        if (cs) {
            tls_session_end(cs->tls_session);
            free(cs);
        }
        *socket_context = NULL;
    }
}

/* --- lifecycle --- */

/*
 * libmicrohttpd's accept policy: every connection accepted once
 * http_server_stop has begun is closed before a byte of it is read (the
 * client sees the connection end and tries again later, as a device does
 * after any failed check-in, or a load balancer sends it elsewhere).
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    const struct http_server *srv = cls;
    return atomic_load_explicit(&srv->draining, memory_order_relaxed) ? MHD_NO : MHD_YES;
}

/* Parses "host:port", "[v6]:port" or ":port" into a socket address. */
static int parse_listen(const char *text, struct sockaddr_storage *ret_addr, bool *ret_v6)
{
    char host[128];
    const char *port_text;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = 0;
        port_text = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return -EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = 0;
        port_text = colon + 1;
    }
    uint64_t port;
    if (parse_u64(port_text, 65535, &port) < 0)
        return -EINVAL;
    memset(ret_addr, 0, sizeof(*ret_addr));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ret_addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ret_addr;
    if (host[0] == 0 || strcmp(host, "*") == 0) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons((uint16_t)port);
        *ret_v6 = false;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *ret_v6 = false;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *ret_v6 = true;
    } else {
        return -EINVAL;
    }
    return 0;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    log_debug("http: %s", line);
}

/* "off" (or nothing) turns the plain listener off: HTTPS only. */
static bool listen_off(const char *text)
{
    return !text[0] || strcmp(text, "off") == 0;
}

/*
 * Starts L's daemon on ADDRESS with THREADS workers; a TLS listener also
 * gets the certificates and the connection hook. Returns 0 or -errno, logged.
 */
static int listener_start(struct http_server *srv, struct http_listener *l, const char *address,
                          unsigned threads)
{
    const struct config *config = &srv->config;
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    bool v6 = false;
    if (l->activated_fd >= 0) {
        /* Socket activation: the manager bound it; the address setting is not used. */
        socklen_t len = sizeof(addr);
        if (getsockname(l->activated_fd, (struct sockaddr *)&addr, &len) < 0) {
            log_error("socket activation: the passed socket %d has no address: %s", l->activated_fd,
                      strerror(errno));
            return -errno;
        }
        v6 = addr.ss_family == AF_INET6;
    } else if (parse_listen(address, &addr, &v6) < 0) {
        log_error("listen address \"%s\" is not host:port, [v6]:port or :port", address);
        return -EINVAL;
    }
    l->srv = srv;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (l->tls ? MHD_USE_TLS : 0);
    const char *cert = NULL, *key = NULL;
    if (l->tls)
        tls_server_startup_pem(srv->tls, &cert, &key);
    /*
     * The TLS options come last in the list: on the plain listener the
     * first of them is MHD_OPTION_END and the rest is never read. The logger
     * comes next, so complaints about the options after it are logged like
     * any other. One thread is no pool: libmicrohttpd then runs its single
     * internal thread. "Request framing" (docs/PROTOCOL.md) is
     * request_refused's, and keep_escaped leaves the target as sent for its
     * head walk. The library's own strict mode stays off: in 0.9.75 it
     * answers an HTTP/1.1 request without Host with its response head sent
     * twice, and a space in the target with a bare close.
     */
    /* Bind ADDR, or take the passed socket: an option each, so an array picks one. */
    struct MHD_OptionItem where[] = {
        l->activated_fd >= 0
            ? (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, l->activated_fd, NULL}
            : (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr},
        {MHD_OPTION_END, 0, NULL},
    };
    l->daemon = MHD_start_daemon(
        flags, 0, on_accept, srv, on_request, l, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_ARRAY, where, MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)config->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)config->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config->connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)config->connection_memory,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_STRICT_FOR_CLIENT, 0,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        l, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
        l->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_HTTPS_PRIORITIES, tls_server_priorities(), MHD_OPTION_END);
    if (l->tls) /* libmicrohttpd read the key at start: no copy stays in memory */
        tls_server_startup_done(srv->tls);
    if (!l->daemon) {
        log_error("cannot listen%s on \"%s\" (in use, or not an address of this machine)",
                  l->tls ? " for HTTPS" : "", address);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    l->bound_len = sizeof(l->bound);
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&l->bound, &l->bound_len) < 0) {
        log_error("cannot read the address%s listener is bound to", l->tls ? " the HTTPS" : " the");
        return -EADDRNOTAVAIL;
    }
    l->port = ntohs(l->bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&l->bound)->sin6_port
                                                   : ((struct sockaddr_in *)&l->bound)->sin_port);
    return 0;
}

static unsigned listener_connections(const struct http_listener *l)
{
    if (!l->daemon)
        return 0;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

static void server_free(struct http_server *srv)
{
    if (srv->plain.daemon)
        MHD_stop_daemon(srv->plain.daemon);
    if (srv->secure.daemon)
        MHD_stop_daemon(srv->secure.daemon);
    tls_server_free(srv->tls);
    if (srv->not_modified)
        MHD_destroy_response(srv->not_modified);
    free(srv);
}

/*
 * The passed socket for the listener WHAT ("plain" or "tls") into *RET_FD:
 * -1 when there is none. Returns 0, or -errno after logging why it cannot be
 * served.
 */
static int activated_socket(const struct listen_fds *activated, const char *name, const char *what,
                            int *ret_fd)
{
    *ret_fd = -1;
    int fd = activated ? listen_fds_find(activated, name) : -1;
    if (fd < 0)
        return 0;
    int r = listen_fds_adopt(fd);
    if (r < 0) {
        log_error("socket activation: descriptor %d for the %s listener is not a listening stream "
                  "socket: %s",
                  fd, what, strerror(-r));
        return r;
    }
    log_info("socket activation: the %s listener serves descriptor %d from the service manager",
             what, fd);
    *ret_fd = fd;
    return 0;
}

int http_server_start(const struct config *config, struct service *svc, struct sources *sources,
                      struct notify *notify, const struct listen_fds *activated,
                      struct http_server **ret_server)
{
    int plain_fd = -1, tls_fd = -1;
    if (activated_socket(activated, NULL, "plain", &plain_fd) < 0 ||
        activated_socket(activated, "tls", "HTTPS", &tls_fd) < 0)
        return -EBADF;
    bool plain = plain_fd >= 0 || !listen_off(config->listen);
    bool secure = tls_fd >= 0 || config->listen_tls[0] != 0;
    if (!plain && !secure) {
        log_error("nothing to listen on: listen is off and listen_tls is not set");
        return -EINVAL;
    }
    if (config->api_tls_only && !secure) {
        log_error("api_tls_only needs a TLS listener (listen_tls)");
        return -EINVAL;
    }
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->config = *config;
    srv->ctx.svc = svc;
    srv->ctx.config = &srv->config;
    srv->ctx.sources = sources;
    srv->ctx.notify = notify;
    srv->secure.tls = true;
    srv->plain.activated_fd = plain_fd;
    srv->secure.activated_fd = tls_fd;
    http_metrics_register();
    srv->not_modified = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!srv->not_modified) {
        server_free(srv);
        return -ENOMEM;
    }

    /* One worker per CPU the process may use: more only take turns on the same cores. */
    unsigned threads = (unsigned)config->threads;
    struct cpus_budget cpus;
    cpus_budget_read(&cpus);
    if (threads == 0)
        threads = cpus.usable;
    char quota[32] = "none";
    if (cpus.quota)
        snprintf(quota, sizeof(quota), "%u", cpus.quota);
    log_info("http: %u worker thread%s per listener (%s; CPUs usable: %u, affinity %u, cgroup "
             "quota %s)",
             threads, threads == 1 ? "" : "s", config->threads ? "--threads" : "default",
             cpus.usable, cpus.affinity, quota);
    int r = 0;
    if (secure) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            log_error("this libmicrohttpd was built without TLS: listen_tls cannot work");
            r = -ENOTSUP;
        }
        if (r == 0)
            r = tls_server_new(config, &srv->tls);
        if (r == 0)
            r = listener_start(srv, &srv->secure, config->listen_tls, threads);
    }
    if (r == 0 && plain)
        r = listener_start(srv, &srv->plain, config->listen, threads);
    if (r < 0) {
        server_free(srv);
        return r;
    }
    *ret_server = srv;
    return 0;
}

bool http_server_activated(const struct http_server *server, bool tls)
{
    return (tls ? server->secure.activated_fd : server->plain.activated_fd) >= 0;
}

void http_server_test_stall(struct http_server *server, unsigned after_ms)
{
    int64_t from = monotonic_ms() + (int64_t)after_ms; /* since boot: never 0 ("no stall") */
    atomic_store(&server->stall_from_ms, from > 0 ? from : 1);
}

/* Waits up to the deadline for FD to be ready for EVENTS; 0, or -ETIMEDOUT / -errno. */
static int probe_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - monotonic_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int http_server_probe(const struct http_server *srv, unsigned timeout_ms)
{
    const struct http_listener *l = srv->plain.daemon ? &srv->plain : &srv->secure;
    if (!l->daemon)
        return -ENOTCONN;
    /* A wildcard address is reached on loopback. */
    struct sockaddr_storage to = l->bound;
    if (to.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&to;
        if (in->sin_addr.s_addr == htonl(INADDR_ANY))
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (to.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&to;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
    }
    int64_t deadline = monotonic_ms() + timeout_ms;
    int fd = socket(to.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int r = 0;
    if (connect(fd, (struct sockaddr *)&to, l->bound_len) < 0 && errno != EINPROGRESS)
        r = -errno;
    if (r == 0)
        r = probe_wait(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (r == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr))
        r = soerr ? -soerr : -errno;
    static const char request[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (r == 0 && send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != sizeof(request) - 1)
        r = -EIO;
    /*
     * The answer's status line proves a worker ran the request. The HTTPS
     * listener has no plain answer: a worker refusing the non-TLS bytes
     * (an alert, or the connection closed) proves the same, while a stalled
     * one leaves them unread until the deadline.
     */
    char head[64];
    size_t got = 0;
    while (r == 0 && got < 12) {
        r = probe_wait(fd, POLLIN, deadline);
        if (r < 0)
            break;
        ssize_t n = recv(fd, head + got, sizeof(head) - 1 - got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            r = l->tls ? 0 : -ECONNRESET;
            break;
        }
        got += (size_t)n;
        if (l->tls)
            break;
    }
    if (r == 0 && !l->tls) {
        head[got] = 0;
        if (strncmp(head, "HTTP/1.", 7) != 0 || strncmp(head + 8, " 200", 4) != 0)
            r = -EPROTO;
    }
    close(fd);
    return r;
}

int http_server_reload(struct http_server *srv)
{
    return srv->tls ? tls_server_reload(srv->tls) : 0;
}

uint16_t http_server_tls_port(const struct http_server *server)
{
    return server->secure.port;
}

uint16_t http_server_port(const struct http_server *server)
{
    return server->plain.port;
}

void http_server_stop(struct http_server *srv, unsigned grace_ms)
{
    if (!srv)
        return;
    /*
     * Not MHD_quiesce_daemon: in 0.9.75, with epoll worker threads, it races
     * a worker taking the listening socket out of its epoll set itself (the
     * flags both read are neither atomic nor locked) and the loser aborts
     * the process ("Failed to remove listen FD from epoll set"). The socket
     * stays open through the grace period and on_accept closes what comes.
     */
    atomic_store(&srv->draining, true);
    for (unsigned waited = 0; waited < grace_ms; waited += 50) {
        if (listener_connections(&srv->plain) + listener_connections(&srv->secure) == 0)
            break;
        usleep(50 * 1000);
    }
    server_free(srv);
}

const char *http_server_mhd_version(void)
{
    return MHD_get_version();
}
