/* The stack-independent half of the TLS test clients: options, the socket,
 * the wire observer, HTTP and JSON. See tls_tool.h. */
#include "tls_tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char *prog = "tls_client";

void tool_set_prog(const char *p)
{
    const char *slash = strrchr(p, '/');
    prog = slash ? slash + 1 : p;
}

void tool_die(int status, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

void tool_warn(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- Options ------------------------------------------------------------ */

const char tool_common_usage[] =
    "  --host ADDR            server address (default 127.0.0.1)\n"
    "  --port N               server port (required)\n"
    "  --server-name NAME     SNI, Host header and the name the certificate must carry\n"
    "  --ca FILE              PEM CA certificate(s): verify the chain against them\n"
    "  --request-file F       send F's bytes as the request\n"
    "  --path P               send GET P HTTP/1.1 with Host, User-Agent, Connection: close\n"
    "  --header 'Name: value' add a request header (repeatable, up to 32)\n"
    "  --user-agent UA        the User-Agent of a --path request\n"
    "  --connections N        N sequential connections; from the 2nd on, resume the session\n"
    "  --require-resume       exit 1 when a connection after the first did not resume\n"
    "  --tls12-only           offer TLS 1.2 only\n"
    "  --timeout SECONDS      bound on connect and on each read or write (default 30)\n";

void tool_opts_init(struct tool_opts *o, const char *user_agent)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->user_agent = user_agent;
    o->connections = 1;
    o->timeout_ms = 30000;
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        tool_die(2, "%s: expected a whole number from %ld to %ld, got '%s'", opt, min, max, s);
    return v;
}

int tool_opts_parse(struct tool_opts *o, int argc, char **argv, int *i)
{
    const char *opt = argv[*i];
    static const char *const with_value[] = {
        "--host",   "--port",         "--server-name", "--ca",          "--path",
        "--header", "--request-file", "--timeout",     "--connections", "--user-agent"};
    const char *val = NULL;
    for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
        if (strcmp(opt, with_value[k]) == 0) {
            if (*i + 1 >= argc)
                tool_die(2, "%s needs a value", opt);
            val = argv[++*i];
            break;
        }
    }
    if (strcmp(opt, "--host") == 0)
        o->host = val;
    else if (strcmp(opt, "--port") == 0)
        o->port = (int)parse_long(opt, val, 1, 65535);
    else if (strcmp(opt, "--server-name") == 0)
        o->server_name = val;
    else if (strcmp(opt, "--ca") == 0)
        o->ca_file = val;
    else if (strcmp(opt, "--path") == 0)
        o->path = val;
    else if (strcmp(opt, "--header") == 0) {
        if (o->n_headers >= TOOL_MAX_HEADERS)
            tool_die(2, "at most %d --header options", TOOL_MAX_HEADERS);
        if (!strchr(val, ':') || strpbrk(val, "\r\n"))
            tool_die(2, "--header '%s': expected 'Name: value' on one line", val);
        o->headers[o->n_headers++] = val;
    } else if (strcmp(opt, "--request-file") == 0)
        o->request_file = val;
    else if (strcmp(opt, "--timeout") == 0)
        o->timeout_ms = (int)parse_long(opt, val, 1, 3600) * 1000;
    else if (strcmp(opt, "--connections") == 0)
        o->connections = (int)parse_long(opt, val, 1, TOOL_MAX_CONNECTIONS);
    else if (strcmp(opt, "--user-agent") == 0)
        o->user_agent = val;
    else if (strcmp(opt, "--tls12-only") == 0)
        o->tls12_only = true;
    else if (strcmp(opt, "--require-resume") == 0)
        o->require_resume = true;
    else
        return 0;
    return 1;
}

void tool_opts_check(const struct tool_opts *o)
{
    if (o->port == 0)
        tool_die(2, "--port is required");
    if (o->request_file && (o->path || o->n_headers))
        tool_die(2, "--request-file excludes --path and --header");
    if (o->n_headers && !o->path)
        tool_die(2, "--header needs --path");
    if (o->path && (o->path[0] == '\0' || strpbrk(o->path, " \r\n")))
        tool_die(2, "--path '%s': expected a request-target without spaces", o->path);
}

/* ---- Socket ------------------------------------------------------------- */

int tool_connect(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0)
        return -EINVAL;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return -e;
    }
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (r < 0 && errno != EINPROGRESS)
        goto fail;
    if (r < 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        r = poll(&pfd, 1, timeout_ms);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r <= 0)
            goto fail;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            goto fail;
        if (soerr) {
            errno = soerr;
            goto fail;
        }
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        goto fail;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        goto fail;
    return fd;
fail:
    r = -errno;
    close(fd);
    return r;
}

int tool_send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

long tool_recv(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        return n;
    }
}

/* ---- Request ------------------------------------------------------------ */

static bool has_header(const struct tool_opts *o, const char *name)
{
    size_t n = strlen(name);
    for (int k = 0; k < o->n_headers; k++)
        if (strncasecmp(o->headers[k], name, n) == 0 && o->headers[k][n] == ':')
            return true;
    return false;
}

unsigned char *tool_build_request(const struct tool_opts *o, size_t *ret_len)
{
    if (o->request_file) {
        FILE *f = fopen(o->request_file, "rb");
        if (!f)
            tool_die(2, "--request-file %s: %s", o->request_file, strerror(errno));
        unsigned char *buf = malloc(TOOL_REQUEST_MAX);
        if (!buf)
            tool_die(1, "out of memory");
        size_t n = fread(buf, 1, TOOL_REQUEST_MAX, f);
        bool more = fgetc(f) != EOF;
        fclose(f);
        if (more)
            tool_die(2, "--request-file %s: larger than %d bytes", o->request_file,
                     TOOL_REQUEST_MAX);
        *ret_len = n;
        return buf;
    }
    char *buf = malloc(TOOL_REQUEST_MAX);
    if (!buf)
        tool_die(1, "out of memory");
    size_t len = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + len, TOOL_REQUEST_MAX - len, __VA_ARGS__);                         \
        if (w_ < 0 || (size_t)w_ >= TOOL_REQUEST_MAX - len)                                        \
            tool_die(2, "the request is larger than %d bytes", TOOL_REQUEST_MAX);                  \
        len += (size_t)w_;                                                                         \
    } while (0)
    ADD("GET %s HTTP/1.1\r\n", o->path);
    if (!has_header(o, "Host")) {
        const char *name = o->server_name ? o->server_name : o->host;
        if (o->port == 443)
            ADD("Host: %s\r\n", name);
        else
            ADD("Host: %s:%d\r\n", name, o->port);
    }
    if (!has_header(o, "User-Agent"))
        ADD("User-Agent: %s\r\n", o->user_agent);
    if (!has_header(o, "Connection"))
        ADD("Connection: close\r\n");
    for (int k = 0; k < o->n_headers; k++)
        ADD("%s\r\n", o->headers[k]);
    ADD("\r\n");
#undef ADD
    *ret_len = len;
    return (unsigned char *)buf;
}

/* ---- Wire observer ------------------------------------------------------ */

static void wire_dir_release(struct tool_wire_dir *d)
{
    free(d->hs);
    memset(d, 0, sizeof(*d));
}

void tool_wire_release(struct tool_wire *w)
{
    wire_dir_release(&w->out);
    wire_dir_release(&w->in);
    memset(w, 0, sizeof(*w));
}

void tool_wire_reset(struct tool_wire *w)
{
    tool_wire_release(w);
}

struct reader {
    const unsigned char *p;
    size_t left;
    bool bad;
};

static unsigned rd8(struct reader *r)
{
    if (r->left < 1) {
        r->bad = true;
        return 0;
    }
    r->left--;
    return *r->p++;
}

static unsigned rd16(struct reader *r)
{
    unsigned hi = rd8(r);
    return hi << 8 | rd8(r);
}

static const unsigned char *rdn(struct reader *r, size_t n)
{
    if (r->left < n) {
        r->bad = true;
        r->left = 0;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

/* Parses a ClientHello (CLIENT) or ServerHello body into H. */
static void parse_hello(struct tool_hello *h, const unsigned char *body, size_t len, bool client)
{
    struct reader r = {body, len, false};
    memset(h, 0, sizeof(*h));
    h->version = rd16(&r);
    rdn(&r, 32); /* random */
    size_t sid_len = rd8(&r);
    const unsigned char *sid = rdn(&r, sid_len);
    if (sid && sid_len <= 32) {
        memcpy(h->session_id, sid, sid_len);
        h->session_id_len = sid_len;
    }
    if (client) {
        size_t n = rd16(&r) / 2;
        for (size_t k = 0; k < n; k++) {
            unsigned s = rd16(&r);
            if (h->n_suites < sizeof(h->suites) / sizeof(h->suites[0]))
                h->suites[h->n_suites++] = (uint16_t)s;
        }
        rdn(&r, rd8(&r)); /* compression methods */
    } else {
        h->suites[0] = (uint16_t)rd16(&r);
        h->n_suites = 1;
        rd8(&r); /* compression method */
    }
    if (r.bad || r.left < 2) {
        h->seen = !r.bad;
        return;
    }
    size_t ext_len = rd16(&r);
    struct reader e = {r.p, ext_len < r.left ? ext_len : r.left, false};
    while (e.left >= 4) {
        unsigned type = rd16(&e);
        size_t elen = rd16(&e);
        const unsigned char *ed = rdn(&e, elen);
        if (!ed)
            break;
        if (type == 1 && elen == 1)
            h->mfl_code = ed[0];
        else if (type == 35)
            h->ticket_ext = true;
        else if (type == 0 && client && elen > 5 && ed[2] == 0) {
            size_t nlen = (size_t)ed[3] << 8 | ed[4];
            if (nlen <= elen - 5 && nlen < sizeof(h->sni)) {
                memcpy(h->sni, ed + 5, nlen);
                h->sni[nlen] = '\0';
            }
        }
    }
    h->seen = true;
}

/* Walks the complete handshake messages of D, noting their types and
 * parsing the first Hello. */
static void scan_handshake(struct tool_wire *w, struct tool_wire_dir *d, bool outgoing)
{
    size_t pos = 0;
    d->n_msg_types = 0;
    while (d->hs_len - pos >= 4) {
        unsigned type = d->hs[pos];
        size_t mlen = (size_t)d->hs[pos + 1] << 16 | (size_t)d->hs[pos + 2] << 8 | d->hs[pos + 3];
        if (d->hs_len - pos - 4 < mlen)
            break;
        if (d->n_msg_types < sizeof(d->msg_types))
            d->msg_types[d->n_msg_types++] = (unsigned char)type;
        if (outgoing && type == 1 && !w->client_hello.seen)
            parse_hello(&w->client_hello, d->hs + pos + 4, mlen, true);
        if (!outgoing && type == 2 && !w->server_hello.seen)
            parse_hello(&w->server_hello, d->hs + pos + 4, mlen, false);
        pos += 4 + mlen;
    }
}

void tool_wire_feed(struct tool_wire *w, bool outgoing, const unsigned char *p, size_t n)
{
    struct tool_wire_dir *d = outgoing ? &w->out : &w->in;
    while (n && !d->malformed) {
        if (d->hdr_got < 5) {
            size_t take = 5 - d->hdr_got < n ? 5 - d->hdr_got : n;
            memcpy(d->hdr + d->hdr_got, p, take);
            d->hdr_got += take;
            p += take;
            n -= take;
            if (d->hdr_got < 5)
                return;
            d->type = d->hdr[0];
            d->body_left = (size_t)d->hdr[3] << 8 | d->hdr[4];
            if (d->type < 20 || d->type > 24) {
                d->malformed = true; /* not TLS (or TLS we cannot follow) */
                return;
            }
            d->records++;
            if (d->body_left > d->largest_record)
                d->largest_record = d->body_left;
            if (d->type == 23 && d->body_left > d->largest_app_record)
                d->largest_app_record = d->body_left;
            if (d->type == 20)
                d->ccs_seen = true;
            if (d->body_left == 0)
                d->hdr_got = 0;
            continue;
        }
        size_t take = d->body_left < n ? d->body_left : n;
        if (d->type == 22 && !d->ccs_seen) {
            if (!d->hs) {
                d->hs = malloc(TOOL_HS_CAPTURE_MAX);
                if (!d->hs)
                    tool_die(1, "out of memory");
            }
            size_t room = TOOL_HS_CAPTURE_MAX - d->hs_len;
            size_t keep = take < room ? take : room;
            memcpy(d->hs + d->hs_len, p, keep);
            d->hs_len += keep;
            scan_handshake(w, d, outgoing);
        }
        p += take;
        n -= take;
        d->body_left -= take;
        if (d->body_left == 0)
            d->hdr_got = 0;
    }
}

bool tool_wire_resumed(const struct tool_wire *w)
{
    const struct tool_hello *c = &w->client_hello, *s = &w->server_hello;
    if (!c->seen || !s->seen || s->session_id_len == 0 || s->session_id_len != c->session_id_len ||
        memcmp(s->session_id, c->session_id, s->session_id_len) != 0)
        return false;
    for (size_t k = 0; k < w->in.n_msg_types; k++)
        if (w->in.msg_types[k] == 11) /* Certificate */
            return false;
    return true;
}

int tool_wire_mfl(const struct tool_wire *w, int session_mfl)
{
    int c = w->client_hello.mfl_code, s = w->server_hello.mfl_code;
    if (c >= 1 && c <= 4 && s == c)
        return 1 << (8 + c);
    if (session_mfl > 0 && s == 0 && tool_wire_resumed(w))
        return session_mfl;
    return 16384;
}

bool tool_wire_records_fit(const struct tool_wire *w, int mfl)
{
    return w->in.largest_record <= (size_t)mfl + TOOL_RECORD_OVERHEAD_MAX;
}

/* ---- HTTP --------------------------------------------------------------- */

void tool_http_init(struct tool_http *h, void (*on_body)(void *, const unsigned char *, size_t),
                    void *ctx)
{
    memset(h, 0, sizeof(*h));
    h->content_length = -1;
    h->on_body = on_body;
    h->ctx = ctx;
}

/* The value of header NAME in the complete head, or NULL; *LEN gets its length. */
static const char *head_value(const struct tool_http *h, const char *name, size_t *len)
{
    const char *p = memchr(h->head, '\n', h->head_len);
    size_t nlen = strlen(name);
    while (p) {
        p++;
        const char *eol = memchr(p, '\n', h->head_len - (size_t)(p - (const char *)h->head));
        if (!eol)
            break;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

static void head_complete(struct tool_http *h)
{
    h->head_done = true;
    h->head[h->head_len] = '\0';
    int st = 0;
    if (sscanf((const char *)h->head, "HTTP/%*d.%*d %3d", &st) == 1)
        h->status = st;
    size_t len;
    const char *cl = head_value(h, "Content-Length", &len);
    if (cl && len > 0 && len < 20) {
        char tmp[24];
        memcpy(tmp, cl, len);
        tmp[len] = '\0';
        char *end;
        long long v = strtoll(tmp, &end, 10);
        if (*end == '\0' && v >= 0)
            h->content_length = v;
    }
    h->no_body = (h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304;
    if (h->no_body || h->content_length == 0)
        h->done = true;
}

size_t tool_http_feed(struct tool_http *h, const unsigned char *p, size_t n)
{
    size_t used = 0;
    while (!h->head_done && used < n) {
        if (h->head_len >= TOOL_HEAD_MAX) {
            h->head_too_large = true;
            h->done = true;
            return used;
        }
        h->head[h->head_len++] = p[used++];
        size_t l = h->head_len;
        if ((l >= 4 && memcmp(h->head + l - 4, "\r\n\r\n", 4) == 0) ||
            (l >= 2 && memcmp(h->head + l - 2, "\n\n", 2) == 0))
            head_complete(h);
    }
    if (!h->head_done || h->done)
        return used;
    size_t take = n - used;
    if (h->content_length >= 0 && (long long)take > h->content_length - h->body_bytes)
        take = (size_t)(h->content_length - h->body_bytes);
    if (take) {
        h->on_body(h->ctx, p + used, take);
        h->body_bytes += (long long)take;
        used += take;
    }
    if (h->content_length >= 0 && h->body_bytes == h->content_length)
        h->done = true;
    return used;
}

void tool_http_eof(struct tool_http *h)
{
    if (h->head_done && h->content_length < 0 && !h->no_body)
        h->done = true;
}

/* ---- JSON --------------------------------------------------------------- */

void tool_json_init(struct tool_json *j)
{
    memset(j, 0, sizeof(*j));
}

void tool_json_release(struct tool_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof(*j));
}

static void jput(struct tool_json *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 1024;
        while (j->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b)
            tool_die(1, "out of memory");
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void jputs(struct tool_json *j, const char *s)
{
    jput(j, s, strlen(s));
}

static void jstring(struct tool_json *j, const char *s, size_t n)
{
    jputs(j, "\"");
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jput(j, esc, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            /* Bytes, not text: each one as \u00XX so the JSON stays valid. */
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            jput(j, esc, 6);
        } else {
            jput(j, (const char *)&c, 1);
        }
    }
    jputs(j, "\"");
}

static void jkey(struct tool_json *j, const char *key)
{
    if (j->need_comma)
        jputs(j, ",");
    if (key) {
        jstring(j, key, strlen(key));
        jputs(j, ":");
    }
    j->need_comma = true;
}

void tool_json_begin(struct tool_json *j, const char *key)
{
    jkey(j, key);
    jputs(j, "{");
    j->need_comma = false;
}

void tool_json_end(struct tool_json *j)
{
    jputs(j, "}");
    j->need_comma = true;
}

void tool_json_begin_array(struct tool_json *j, const char *key)
{
    jkey(j, key);
    jputs(j, "[");
    j->need_comma = false;
}

void tool_json_end_array(struct tool_json *j)
{
    jputs(j, "]");
    j->need_comma = true;
}

void tool_json_strn(struct tool_json *j, const char *key, const char *s, size_t n)
{
    jkey(j, key);
    jstring(j, s, n);
}

void tool_json_str(struct tool_json *j, const char *key, const char *s)
{
    if (!s) {
        tool_json_null(j, key);
        return;
    }
    tool_json_strn(j, key, s, strlen(s));
}

void tool_json_int(struct tool_json *j, const char *key, long long v)
{
    char num[32];
    jkey(j, key);
    snprintf(num, sizeof(num), "%lld", v);
    jputs(j, num);
}

void tool_json_bool(struct tool_json *j, const char *key, bool v)
{
    jkey(j, key);
    jputs(j, v ? "true" : "false");
}

void tool_json_null(struct tool_json *j, const char *key)
{
    jkey(j, key);
    jputs(j, "null");
}

void tool_hex(char *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t k = 0; k < n; k++) {
        out[2 * k] = digits[p[k] >> 4];
        out[2 * k + 1] = digits[p[k] & 15];
    }
    out[2 * n] = '\0';
}

void tool_json_hex(struct tool_json *j, const char *key, const unsigned char *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (!hex)
        tool_die(1, "out of memory");
    tool_hex(hex, p, n);
    tool_json_str(j, key, hex);
    free(hex);
}

const char *tool_version_name(unsigned version)
{
    switch (version) {
    case 0x0300:
        return "SSL3.0";
    case 0x0301:
        return "TLS1.0";
    case 0x0302:
        return "TLS1.1";
    case 0x0303:
        return "TLS1.2";
    case 0x0304:
        return "TLS1.3";
    default:
        return "unknown";
    }
}

static void json_hello(struct tool_json *j, const char *key, const struct tool_hello *h,
                       bool client)
{
    if (!h->seen) {
        tool_json_null(j, key);
        return;
    }
    char hex[8];
    tool_json_begin(j, key);
    tool_json_str(j, "version", tool_version_name(h->version));
    tool_json_hex(j, "session_id", h->session_id, h->session_id_len);
    if (client) {
        tool_json_begin_array(j, "suites");
        for (size_t k = 0; k < h->n_suites; k++) {
            snprintf(hex, sizeof(hex), "0x%04X", h->suites[k]);
            tool_json_str(j, NULL, hex);
        }
        tool_json_end_array(j);
        tool_json_str(j, "sni", h->sni[0] ? h->sni : NULL);
    } else {
        snprintf(hex, sizeof(hex), "0x%04X", h->suites[0]);
        tool_json_str(j, "cipher", hex);
    }
    if (h->mfl_code)
        tool_json_int(j, "max_fragment_length",
                      h->mfl_code >= 1 && h->mfl_code <= 4 ? 1 << (8 + h->mfl_code) : -h->mfl_code);
    else
        tool_json_null(j, "max_fragment_length");
    tool_json_bool(j, "session_ticket_ext", h->ticket_ext);
    tool_json_end(j);
}

void tool_json_wire(struct tool_json *j, const struct tool_wire *w)
{
    tool_json_begin(j, "wire");
    json_hello(j, "client_hello", &w->client_hello, true);
    json_hello(j, "server_hello", &w->server_hello, false);
    tool_json_begin_array(j, "server_handshake_messages");
    for (size_t k = 0; k < w->in.n_msg_types; k++)
        tool_json_int(j, NULL, w->in.msg_types[k]);
    tool_json_end_array(j);
    tool_json_int(j, "records_in", w->in.records);
    tool_json_int(j, "largest_record_in", (long long)w->in.largest_record);
    tool_json_int(j, "largest_app_record_in", (long long)w->in.largest_app_record);
    tool_json_int(j, "largest_record_out", (long long)w->out.largest_record);
    tool_json_bool(j, "unparsable", w->in.malformed || w->out.malformed);
    tool_json_end(j);
}

void tool_json_http(struct tool_json *j, const struct tool_http *h)
{
    if (!h->head_done) {
        tool_json_null(j, "status");
        tool_json_null(j, "headers");
        tool_json_int(j, "body_bytes", 0);
        return;
    }
    tool_json_int(j, "status", h->status);
    const char *head = (const char *)h->head;
    const char *line = strchr(head, '\n');
    tool_json_begin(j, "headers");
    /* A name that repeats keeps its last value here; header_lines has them all. */
    for (const char *p = line; p && p[1] && p[1] != '\r' && p[1] != '\n';) {
        const char *s = p + 1, *eol = strchr(s, '\n'), *colon = memchr(s, ':', (size_t)(eol - s));
        if (colon) {
            const char *v = colon + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            char name[256];
            size_t nlen =
                (size_t)(colon - s) < sizeof(name) - 1 ? (size_t)(colon - s) : sizeof(name) - 1;
            memcpy(name, s, nlen);
            name[nlen] = '\0';
            tool_json_strn(j, name, v, (size_t)(e - v));
        }
        p = eol;
    }
    tool_json_end(j);
    tool_json_begin_array(j, "header_lines");
    for (const char *p = line; p && p[1] && p[1] != '\r' && p[1] != '\n';) {
        const char *s = p + 1, *eol = strchr(s, '\n'), *e = eol;
        if (e > s && e[-1] == '\r')
            e--;
        tool_json_strn(j, NULL, s, (size_t)(e - s));
        p = eol;
    }
    tool_json_end_array(j);
    tool_json_int(j, "body_bytes", h->body_bytes);
    if (h->content_length >= 0)
        tool_json_int(j, "content_length", h->content_length);
    else
        tool_json_null(j, "content_length");
}

void tool_json_print(struct tool_json *j)
{
    fwrite(j->buf, 1, j->len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}
