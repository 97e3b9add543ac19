/* tls_server_gnutls: the smallest HTTPS server on GnuTLS, otad's TLS stack,
 * for proving the device clients (tls_client_*.c) against it before otad
 * speaks TLS, and for pinning down how GnuTLS behaves toward small devices.
 *
 * It listens on 127.0.0.1 only (gnutls-serv listens on every address and
 * cannot be told otherwise), prints "listening on 127.0.0.1:PORT", and
 * answers every request on a connection with one 200 carrying the bytes of
 * --file and an exact Content-Length, then closes. Sessions resume by ID
 * (an in-memory cache, what BearSSL needs) and by ticket (what mbedTLS
 * offers), unless turned off.
 *
 * --apply-mfl is the workaround for what GnuTLS 3.7 does with a client's
 * max_fragment_length on a full handshake: it echoes the length, so the
 * client believes records will be that small, yet sends records of up to
 * 16384 bytes, which overflow an ESP8266's setBufferSizes(512, 512) buffer
 * (BR_ERR_TOO_LARGE). After the handshake, --apply-mfl sets the send limit
 * to the length negotiated (gnutls_record_get_max_size holds it). On a
 * resumed session GnuTLS applies the stored length without echoing it.
 *
 * One connection at a time; every read and write is bounded by --timeout.
 * Test code: never installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CACHE_SLOTS 64
#define REQUEST_MAX 16384

struct options {
    const char *cert, *key, *file, *priority;
    int port, connections, timeout_s;
    bool apply_mfl, no_cache, no_tickets;
};

/* The session-ID cache: a ring of CACHE_SLOTS entries. */
struct cache_entry {
    unsigned char id[GNUTLS_MAX_SESSION_ID_SIZE];
    size_t id_len;
    gnutls_datum_t data; /* gnutls_malloc'd */
};

static struct cache_entry cache[CACHE_SLOTS];
static size_t cache_next;

static int cache_store(void *ptr, gnutls_datum_t key, gnutls_datum_t data)
{
    (void)ptr;
    if (key.size > GNUTLS_MAX_SESSION_ID_SIZE)
        return -1;
    struct cache_entry *e = &cache[cache_next++ % CACHE_SLOTS];
    gnutls_free(e->data.data);
    e->data.data = gnutls_malloc(data.size);
    if (!e->data.data) {
        e->id_len = 0;
        return -1;
    }
    memcpy(e->data.data, data.data, data.size);
    e->data.size = data.size;
    memcpy(e->id, key.data, key.size);
    e->id_len = key.size;
    return 0;
}

static struct cache_entry *cache_find(gnutls_datum_t key)
{
    for (size_t k = 0; k < CACHE_SLOTS; k++)
        if (cache[k].id_len == key.size && key.size && memcmp(cache[k].id, key.data, key.size) == 0)
            return &cache[k];
    return NULL;
}

static gnutls_datum_t cache_retrieve(void *ptr, gnutls_datum_t key)
{
    (void)ptr;
    gnutls_datum_t out = {NULL, 0};
    struct cache_entry *e = cache_find(key);
    if (e && (out.data = gnutls_malloc(e->data.size)) != NULL) {
        memcpy(out.data, e->data.data, e->data.size);
        out.size = e->data.size;
    }
    return out;
}

static int cache_remove(void *ptr, gnutls_datum_t key)
{
    (void)ptr;
    struct cache_entry *e = cache_find(key);
    if (!e)
        return -1;
    e->id_len = 0;
    return 0;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "tls_server_gnutls: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static const char usage[] =
    "usage: tls_server_gnutls --cert PEM --key PEM [--file BODY] [--port N] [--connections N]\n"
    "                         [--apply-mfl] [--no-cache] [--no-tickets] [--priority STR]\n"
    "                         [--timeout SECONDS]\n"
    "Serves BODY (default: a short text) to every GET on 127.0.0.1:PORT (0: any free port),\n"
    "printing 'listening on 127.0.0.1:PORT'; exits after N connections (default: on SIGTERM).\n";

static void parse_options(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->priority = "NORMAL";
    o->timeout_s = 15;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--apply-mfl") == 0) {
            o->apply_mfl = true;
        } else if (strcmp(a, "--no-cache") == 0) {
            o->no_cache = true;
        } else if (strcmp(a, "--no-tickets") == 0) {
            o->no_tickets = true;
        } else if (!v) {
            die("unknown option or missing value", a);
        } else {
            if (strcmp(a, "--cert") == 0)
                o->cert = v;
            else if (strcmp(a, "--key") == 0)
                o->key = v;
            else if (strcmp(a, "--file") == 0)
                o->file = v;
            else if (strcmp(a, "--priority") == 0)
                o->priority = v;
            else if (strcmp(a, "--port") == 0)
                o->port = atoi(v);
            else if (strcmp(a, "--connections") == 0)
                o->connections = atoi(v);
            else if (strcmp(a, "--timeout") == 0)
                o->timeout_s = atoi(v);
            else
                die("unknown option", a);
            i++;
        }
    }
    if (!o->cert || !o->key)
        die("--cert and --key are required", NULL);
    if (o->port < 0 || o->port > 65535 || o->connections < 0 || o->timeout_s < 1)
        die("bad --port, --connections or --timeout", NULL);
}

static unsigned char *read_body(const char *path, size_t *ret_len)
{
    static const char fallback[] = "otad tls_server_gnutls\n";
    if (!path) {
        unsigned char *b = malloc(sizeof(fallback) - 1);
        if (!b)
            die("out of memory", NULL);
        memcpy(b, fallback, sizeof(fallback) - 1);
        *ret_len = sizeof(fallback) - 1;
        return b;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0)
        die(path, strerror(errno));
    long size = ftell(f);
    rewind(f);
    unsigned char *b = malloc(size > 0 ? (size_t)size : 1);
    if (!b || size < 0 || fread(b, 1, (size_t)size, f) != (size_t)size)
        die(path, "cannot read it");
    fclose(f);
    *ret_len = (size_t)size;
    return b;
}

/* Reads a request head; returns 0 once it is complete, -1 otherwise. */
static int read_request(gnutls_session_t s)
{
    char buf[REQUEST_MAX];
    size_t len = 0;
    while (len < sizeof(buf)) {
        ssize_t n = gnutls_record_recv(s, buf + len, sizeof(buf) - len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        for (size_t k = 3; k < len; k++)
            if (memcmp(buf + k - 3, "\r\n\r\n", 4) == 0)
                return 0;
    }
    return -1;
}

static int send_all(gnutls_session_t s, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = gnutls_record_send(s, p, len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void serve(int fd, const struct options *o, gnutls_certificate_credentials_t cred,
                  const gnutls_datum_t *ticket_key, const unsigned char *body, size_t body_len,
                  unsigned index)
{
    gnutls_session_t s;
    int r = gnutls_init(&s, GNUTLS_SERVER);
    if (r < 0)
        die("gnutls_init", gnutls_strerror(r));
    const char *err_pos = NULL;
    if ((r = gnutls_priority_set_direct(s, o->priority, &err_pos)) < 0)
        die("--priority", err_pos ? err_pos : gnutls_strerror(r));
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    if (!o->no_cache) {
        gnutls_db_set_retrieve_function(s, cache_retrieve);
        gnutls_db_set_store_function(s, cache_store);
        gnutls_db_set_remove_function(s, cache_remove);
        gnutls_db_set_ptr(s, NULL);
    }
    if (!o->no_tickets)
        gnutls_session_ticket_enable_server(s, ticket_key);
    gnutls_transport_set_int(s, fd);
    do
        r = gnutls_handshake(s);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r < 0) {
        fprintf(stderr, "connection %u: handshake failed: %s\n", index, gnutls_strerror(r));
        gnutls_deinit(s);
        return;
    }
    size_t negotiated = gnutls_record_get_max_size(s);
    if (o->apply_mfl)
        gnutls_record_set_max_size(s, negotiated);
    char *desc = gnutls_session_get_desc(s);
    fprintf(stderr, "connection %u: %s, resumed %d, record size %zu%s\n", index, desc ? desc : "?",
            gnutls_session_is_resumed(s), negotiated, o->apply_mfl ? " (applied)" : "");
    gnutls_free(desc);
    if (read_request(s) == 0) {
        char head[256];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         body_len);
        if ((r = send_all(s, (const unsigned char *)head, (size_t)n)) == 0)
            r = send_all(s, body, body_len);
        if (r < 0)
            fprintf(stderr, "connection %u: send: %s\n", index, gnutls_strerror(r));
    }
    gnutls_bye(s, GNUTLS_SHUT_WR);
    gnutls_deinit(s);
}

int main(int argc, char **argv)
{
    struct options o;
    parse_options(&o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    size_t body_len;
    unsigned char *body = read_body(o.file, &body_len);

    gnutls_certificate_credentials_t cred;
    int r = gnutls_certificate_allocate_credentials(&cred);
    if (r < 0)
        die("credentials", gnutls_strerror(r));
    r = gnutls_certificate_set_x509_key_file(cred, o.cert, o.key, GNUTLS_X509_FMT_PEM);
    if (r < 0)
        die("--cert/--key", gnutls_strerror(r));
    gnutls_datum_t ticket_key = {NULL, 0};
    if (!o.no_tickets && (r = gnutls_session_ticket_key_generate(&ticket_key)) < 0)
        die("ticket key", gnutls_strerror(r));

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(addr);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(ls, 16) < 0 ||
        getsockname(ls, (struct sockaddr *)&addr, &alen) < 0)
        die("listen on 127.0.0.1", strerror(errno));
    printf("listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
    fflush(stdout);

    for (unsigned k = 1; o.connections == 0 || k <= (unsigned)o.connections; k++) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            die("accept", strerror(errno));
        }
        struct timeval tv = {.tv_sec = o.timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        serve(fd, &o, cred, &ticket_key, body, body_len, k);
        close(fd);
    }
    close(ls);
    for (size_t k = 0; k < CACHE_SLOTS; k++)
        gnutls_free(cache[k].data.data);
    gnutls_free(ticket_key.data);
    gnutls_certificate_free_credentials(cred);
    free(body);
    return 0;
}
