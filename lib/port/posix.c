/*
 * The POSIX port (include/otac/port_posix.h): the one file under lib/ that
 * calls the OS and allocates. It owns the TCP sockets and their timeouts,
 * the TLS client (BearSSL, TLS 1.2 only, the CA file's trust anchors), the
 * slot files, the atomic replacement of the state record and the random
 * bytes. It knows nothing of HTTP, images or slot state: the portable
 * library decides, this file moves bytes and reports enum otac_error codes.
 *
 * Every socket is non-blocking and every wait is a poll() bounded by the
 * deadline of the call in progress, so no call outlives its timeout (name
 * lookup aside: getaddrinfo has no timeout of its own).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getrandom, MSG_NOSIGNAL, SOCK_CLOEXEC */
#endif
#include "otac/port_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_FILE      "state.bin"
#define STATE_TMP_FILE  "state.bin.tmp"
#define LONGEST_NAME    sizeof("/" STATE_TMP_FILE) /* the longest name joined to DIR, NUL included */
#define PATH_CAP        (OTAC_POSIX_PATH_MAX + 32) /* DIR and a name: what the compiler can see */
#define CA_FILE_MAX     (1u << 20)                 /* a CA file larger than this is not one */
#define CLOSE_NOTIFY_MS 500u                       /* what close spends on a TLS close_notify */

/* One connection: the socket and, over TLS, BearSSL's client and its buffer. */
struct conn {
    int fd;
    int tls;
    int eof;              /* the peer ended TCP (under TLS: possibly without close_notify) */
    int io_error;         /* OTAC_E_IO or OTAC_E_TIMEOUT that made BearSSL's I/O fail */
    uint64_t deadline_ms; /* of the call in progress: BearSSL's I/O callbacks wait until it */
    br_ssl_client_context sc;
    br_x509_minimal_context xc;
    br_sslio_context ioc;
    unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t posix_now_ms(void *ctx)
{
    (void)ctx;
    return monotonic_ms();
}

/* ---- TCP ---------------------------------------------------------------- */

/* Waits until FD is ready for EVENTS or DEADLINE_MS passes. */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = monotonic_ms();
        if (now >= deadline_ms)
            return OTAC_E_TIMEOUT;
        uint64_t left = deadline_ms - now;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return OTAC_OK; /* ready, or an error the next call will report */
        if (n < 0 && errno != EINTR)
            return OTAC_E_IO;
    }
}

/* One connection attempt to AI within DEADLINE_MS; sets *RET_FD. */
static int tcp_try(const struct addrinfo *ai, uint64_t deadline_ms, int *ret_fd)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return OTAC_E_IO;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return OTAC_E_IO;
        }
        int err = wait_fd(fd, POLLOUT, deadline_ms);
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        if (err == OTAC_OK &&
            (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0 || so_error))
            err = OTAC_E_IO;
        if (err < 0) {
            close(fd);
            return err;
        }
    }
    *ret_fd = fd;
    return OTAC_OK;
}

/* Connects to HOST:PORT, trying each address in turn until DEADLINE_MS. */
static int tcp_connect(const char *host, uint16_t port, uint64_t deadline_ms, int *ret_fd)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    if (getaddrinfo(host, service, &hints, &list) != 0)
        return OTAC_E_IO;
    int err = OTAC_E_IO;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        err = tcp_try(ai, deadline_ms, ret_fd);
        if (err == OTAC_OK || err == OTAC_E_TIMEOUT)
            break;
    }
    freeaddrinfo(list);
    return err;
}

/* One recv of up to LEN bytes by DEADLINE_MS: the count, 0 at the peer's end, or an error. */
static long tcp_recv(int fd, void *buf, size_t len, uint64_t deadline_ms)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return OTAC_E_IO;
        int err = wait_fd(fd, POLLIN, deadline_ms);
        if (err < 0)
            return err;
    }
}

/* One send of up to LEN bytes by DEADLINE_MS: the count (> 0) or an error. */
static long tcp_send(int fd, const void *data, size_t len, uint64_t deadline_ms)
{
    for (;;) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0)
            return (long)n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return OTAC_E_IO;
        int err = wait_fd(fd, POLLOUT, deadline_ms);
        if (err < 0)
            return err;
    }
}

/* ---- TLS (BearSSL) ------------------------------------------------------ */

/* BearSSL's reads and writes: -1 ends the engine; the reason stays in the conn. */
static int tls_low_read(void *ctx, unsigned char *buf, size_t len)
{
    struct conn *c = ctx;
    long n = tcp_recv(c->fd, buf, len, c->deadline_ms);
    if (n > 0)
        return (int)n;
    if (n == 0)
        c->eof = 1;
    else
        c->io_error = (int)n;
    return -1;
}

static int tls_low_write(void *ctx, const unsigned char *data, size_t len)
{
    struct conn *c = ctx;
    long n = tcp_send(c->fd, data, len, c->deadline_ms);
    if (n > 0)
        return (int)n;
    c->io_error = (int)n;
    return -1;
}

/* Why a BearSSL call failed: the socket's timeout or error, else a TLS failure (OTAC_E_IO). */
static int tls_error(const struct conn *c)
{
    return c->io_error ? c->io_error : OTAC_E_IO;
}

/* Sets up the TLS client on C's socket and runs the handshake by C->deadline_ms. */
static int tls_start(struct conn *c, const struct otac_posix *p, const char *host)
{
    br_ssl_client_init_full(&c->sc, &c->xc, p->trust, p->trust_count);
    br_ssl_engine_set_versions(&c->sc.eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_buffer(&c->sc.eng, c->iobuf, sizeof(c->iobuf), 1);
    if (!br_ssl_client_reset(&c->sc, host, 0))
        return OTAC_E_IO;
    br_sslio_init(&c->ioc, &c->sc.eng, tls_low_read, c, tls_low_write, c);
    /* A flush on a fresh client runs the handshake until application data may go. */
    if (br_sslio_flush(&c->ioc) < 0)
        return tls_error(c);
    return OTAC_OK;
}

/* ---- The port's network calls ------------------------------------------- */

static int posix_connect(void *ctx, const char *host, uint16_t port, int tls, void **ret_conn)
{
    struct otac_posix *p = ctx;
    if (!p || !host || !ret_conn || (tls && !p->trust))
        return OTAC_E_INVAL;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return OTAC_E_IO;
    c->tls = tls;
    c->deadline_ms = monotonic_ms() + OTAC_POSIX_CONNECT_TIMEOUT_MS;
    int err = tcp_connect(host, port, c->deadline_ms, &c->fd);
    if (err < 0) {
        free(c);
        return err;
    }
    if (tls && (err = tls_start(c, p, host)) < 0) {
        close(c->fd);
        free(c);
        return err;
    }
    *ret_conn = c;
    return OTAC_OK;
}

static long posix_send(void *ctx, void *conn, const void *data, size_t len, uint32_t timeout_ms)
{
    struct conn *c = conn;
    if (!c || !data || !len)
        return OTAC_E_INVAL;
    c->deadline_ms = monotonic_ms() + timeout_ms;
    if (!c->tls)
        return tcp_send(c->fd, data, len, c->deadline_ms);
    if (br_sslio_write_all(&c->ioc, data, len) < 0 || br_sslio_flush(&c->ioc) < 0)
        return tls_error(c);
    return (long)len;
}

static long posix_recv(void *ctx, void *conn, void *buf, size_t len, uint32_t timeout_ms)
{
    struct conn *c = conn;
    if (!c || !buf || !len)
        return OTAC_E_INVAL;
    c->deadline_ms = monotonic_ms() + timeout_ms;
    if (!c->tls)
        return tcp_recv(c->fd, buf, len, c->deadline_ms);
    int n = br_sslio_read(&c->ioc, buf, len);
    if (n > 0)
        return n;
    /* close_notify leaves the engine closed without an error; a bare TCP end sets eof. */
    if (br_ssl_engine_last_error(&c->sc.eng) == BR_ERR_OK || (c->eof && !c->io_error))
        return 0;
    return tls_error(c);
}

static void posix_close(void *ctx, void *conn)
{
    struct conn *c = conn;
    if (!c)
        return;
    if (c->tls && !(br_ssl_engine_current_state(&c->sc.eng) & BR_SSL_CLOSED)) {
        /* Send close_notify if the socket takes it at once; never wait for the answer. */
        c->deadline_ms = monotonic_ms() + CLOSE_NOTIFY_MS;
        br_ssl_engine_close(&c->sc.eng);
        while (br_ssl_engine_current_state(&c->sc.eng) & BR_SSL_SENDREC) {
            size_t len;
            unsigned char *rec = br_ssl_engine_sendrec_buf(&c->sc.eng, &len);
            int n = tls_low_write(c, rec, len);
            if (n < 0)
                break;
            br_ssl_engine_sendrec_ack(&c->sc.eng, (size_t)n);
        }
    }
    close(c->fd);
    free(c);
}

/* ---- Flash: one file per slot ------------------------------------------- */

static void slot_path(const struct otac_posix *p, unsigned slot, char out[PATH_CAP])
{
    snprintf(out, PATH_CAP, "%s/slot%u.bin", p->dir, slot);
}

static int posix_flash_begin(void *ctx, unsigned slot, uint64_t size)
{
    struct otac_posix *p = ctx;
    if (!p || slot >= OTAC_SLOTS)
        return OTAC_E_INVAL;
    if (size > p->slot_size)
        return OTAC_E_NO_SPACE;
    char path[PATH_CAP];
    slot_path(p, slot, path);
    /* Emptied, as erasing leaves a slot: nothing of the previous image stays. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return OTAC_E_FLASH;
    return close(fd) < 0 ? OTAC_E_FLASH : OTAC_OK;
}

static int write_all_at(int fd, const void *data, size_t len, uint64_t offset)
{
    const unsigned char *at = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, at, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return OTAC_E_FLASH;
        at += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return OTAC_OK;
}

static int posix_flash_write(void *ctx, unsigned slot, uint64_t offset, const void *data,
                             size_t len)
{
    struct otac_posix *p = ctx;
    if (!p || slot >= OTAC_SLOTS || (!data && len) || offset > p->slot_size ||
        len > p->slot_size - offset)
        return OTAC_E_INVAL;
    char path[PATH_CAP];
    slot_path(p, slot, path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return OTAC_E_FLASH;
    int err = write_all_at(fd, data, len, offset);
    /* The head is the library's last write of an image: the image is whole on disk
     * before the slot state can name it. */
    if (err == OTAC_OK && offset == 0 && fsync(fd) < 0)
        err = OTAC_E_FLASH;
    if (close(fd) < 0 && err == OTAC_OK)
        err = OTAC_E_FLASH;
    return err;
}

/* ---- The state record: write aside, fsync, rename, fsync the folder ------ */

static int posix_state_load(void *ctx, void *buf, size_t cap, size_t *ret_len)
{
    struct otac_posix *p = ctx;
    if (!p || (!buf && cap) || !ret_len)
        return OTAC_E_INVAL;
    char path[PATH_CAP];
    snprintf(path, sizeof(path), "%s/" STATE_FILE, p->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *ret_len = 0;
        return OTAC_OK;
    }
    if (fd < 0)
        return OTAC_E_FLASH;
    size_t got = 0;
    int err = OTAC_OK;
    for (;;) {
        unsigned char spill;
        /* Read one byte past CAP to tell a record that fits from one that does not. */
        ssize_t n =
            got < cap ? read(fd, (unsigned char *)buf + got, cap - got) : read(fd, &spill, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = OTAC_E_FLASH;
        else if (n > 0 && got == cap)
            err = OTAC_E_BUFFER;
        if (n <= 0 || err < 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (err == OTAC_OK)
        *ret_len = got;
    return err;
}

static int posix_state_store(void *ctx, const void *buf, size_t len)
{
    struct otac_posix *p = ctx;
    if (!p || (!buf && len))
        return OTAC_E_INVAL;
    char tmp[PATH_CAP], path[PATH_CAP];
    snprintf(tmp, sizeof(tmp), "%s/" STATE_TMP_FILE, p->dir);
    snprintf(path, sizeof(path), "%s/" STATE_FILE, p->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return OTAC_E_FLASH;
    int err = write_all_at(fd, buf, len, 0);
    if (err == OTAC_OK && fsync(fd) < 0)
        err = OTAC_E_FLASH;
    if (close(fd) < 0 && err == OTAC_OK)
        err = OTAC_E_FLASH;
    if (err == OTAC_OK && rename(tmp, path) < 0)
        err = OTAC_E_FLASH;
    if (err < 0) {
        unlink(tmp);
        return err;
    }
    /* The rename is durable once the folder is. */
    int dir = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return OTAC_E_FLASH;
    err = fsync(dir) < 0 ? OTAC_E_FLASH : OTAC_OK;
    close(dir);
    return err;
}

/* ---- Random ------------------------------------------------------------- */

static int posix_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    if (!buf && len)
        return OTAC_E_INVAL;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom((unsigned char *)buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return OTAC_E_IO;
        got += (size_t)n;
    }
    return OTAC_OK;
}

/* ---- Trust anchors from a PEM file -------------------------------------- */

/* A growing byte buffer for BearSSL's decoders, which push bytes through callbacks. */
struct bytes {
    unsigned char *p;
    size_t len, cap;
    int failed; /* an allocation failed: the contents are incomplete */
};

static void bytes_append(void *ctx, const void *data, size_t len)
{
    struct bytes *b = ctx;
    if (b->failed)
        return;
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void bytes_discard(void *ctx, const void *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
}

/* Reads PATH whole into B, with a newline after it (BearSSL's PEM decoder wants one). */
static int read_ca_file(const char *path, struct bytes *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return OTAC_E_IO;
    int err = OTAC_OK;
    unsigned char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = OTAC_E_IO;
            break;
        }
        if (n == 0)
            break;
        if (b->len + (size_t)n > CA_FILE_MAX) {
            err = OTAC_E_KEY_PARSE;
            break;
        }
        bytes_append(b, chunk, (size_t)n);
    }
    close(fd);
    bytes_append(b, "\n", 1);
    if (err == OTAC_OK && b->failed)
        err = OTAC_E_IO;
    return err;
}

static void *copy_of(const void *data, size_t len)
{
    void *p = malloc(len ? len : 1);
    if (p)
        memcpy(p, data, len);
    return p;
}

/* Frees what one anchor points to (its DN and key), never the anchor itself. */
static void anchor_release(br_x509_trust_anchor *ta)
{
    free(ta->dn.data);
    if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
        free(ta->pkey.key.rsa.n);
        free(ta->pkey.key.rsa.e);
    } else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
        free(ta->pkey.key.ec.q);
    }
}

/* Decodes one DER certificate into TA, copying its DN and public key. */
static int anchor_from_cert(br_x509_trust_anchor *ta, const unsigned char *der, size_t len)
{
    struct bytes dn = {0};
    br_x509_decoder_context dc;
    br_x509_decoder_init(&dc, bytes_append, &dn);
    br_x509_decoder_push(&dc, der, len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
    int err = !pk ? OTAC_E_KEY_PARSE : dn.failed ? OTAC_E_IO : OTAC_OK;
    memset(ta, 0, sizeof(*ta));
    if (err == OTAC_OK) {
        ta->dn.data = copy_of(dn.p, dn.len);
        ta->dn.len = dn.len;
        /* A CA certificate anchors chains; any other is trusted as the server's own. */
        ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
        ta->pkey = *pk;
        if (pk->key_type == BR_KEYTYPE_RSA) {
            ta->pkey.key.rsa.n = copy_of(pk->key.rsa.n, pk->key.rsa.nlen);
            ta->pkey.key.rsa.e = copy_of(pk->key.rsa.e, pk->key.rsa.elen);
            if (!ta->pkey.key.rsa.n || !ta->pkey.key.rsa.e)
                err = OTAC_E_IO;
        } else {
            ta->pkey.key.ec.q = copy_of(pk->key.ec.q, pk->key.ec.qlen);
            if (!ta->pkey.key.ec.q)
                err = OTAC_E_IO;
        }
        if (!ta->dn.data)
            err = OTAC_E_IO;
    }
    free(dn.p);
    return err;
}

/* Appends the certificate DER to the anchors in *TA (*COUNT of them). */
static int anchors_add(br_x509_trust_anchor **ta, size_t *count, const struct bytes *der)
{
    br_x509_trust_anchor *grown = realloc(*ta, (*count + 1) * sizeof(**ta));
    if (!grown)
        return OTAC_E_IO;
    *ta = grown;
    int err = anchor_from_cert(&grown[*count], der->p, der->len);
    if (err < 0) {
        anchor_release(&grown[*count]);
        return err;
    }
    (*count)++;
    return OTAC_OK;
}

static int is_certificate(const char *pem_name)
{
    return strcmp(pem_name, "CERTIFICATE") == 0 || strcmp(pem_name, "X509 CERTIFICATE") == 0;
}

int otac_posix_trust_load(const char *path, br_x509_trust_anchor **ret_anchors, size_t *ret_count)
{
    if (!path || !ret_anchors || !ret_count)
        return OTAC_E_INVAL;
    struct bytes text = {0}, der = {0};
    br_x509_trust_anchor *ta = NULL;
    size_t count = 0;
    int err = read_ca_file(path, &text);
    if (err < 0)
        goto out;

    br_pem_decoder_context pc;
    br_pem_decoder_init(&pc);
    int in_certificate = 0;
    const unsigned char *at = text.p;
    size_t left = text.len;
    while (left > 0 && err == OTAC_OK) {
        size_t used = br_pem_decoder_push(&pc, at, left);
        at += used;
        left -= used;
        switch (br_pem_decoder_event(&pc)) {
        case BR_PEM_BEGIN_OBJ:
            in_certificate = is_certificate(br_pem_decoder_name(&pc));
            der.len = 0;
            br_pem_decoder_setdest(&pc, in_certificate ? bytes_append : bytes_discard, &der);
            break;
        case BR_PEM_END_OBJ:
            if (in_certificate)
                err = der.failed ? OTAC_E_IO : anchors_add(&ta, &count, &der);
            in_certificate = 0;
            break;
        case BR_PEM_ERROR:
            err = OTAC_E_KEY_PARSE;
            break;
        default:
            break;
        }
    }
    if (err == OTAC_OK && count == 0)
        err = OTAC_E_KEY_PARSE;
out:
    free(text.p);
    free(der.p);
    if (err < 0) {
        otac_posix_trust_free(ta, count);
        return err;
    }
    *ret_anchors = ta;
    *ret_count = count;
    return OTAC_OK;
}

void otac_posix_trust_free(br_x509_trust_anchor *anchors, size_t count)
{
    for (size_t k = 0; anchors && k < count; k++)
        anchor_release(&anchors[k]);
    free(anchors);
}

/* ---- Set up ------------------------------------------------------------- */

int otac_posix_init(struct otac_posix *p, const char *dir, uint64_t slot_size,
                    const char *ca_pem_path, struct otac_port *ret_port)
{
    if (!p || !dir || !*dir || !ret_port)
        return OTAC_E_INVAL;
    memset(p, 0, sizeof(*p));
    size_t dir_len = strlen(dir);
    if (dir_len + LONGEST_NAME > OTAC_POSIX_PATH_MAX)
        return OTAC_E_INVAL;
    struct stat st;
    if (mkdir(dir, 0755) < 0 && (errno != EEXIST || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
        return OTAC_E_IO;
    memcpy(p->dir, dir, dir_len + 1);
    p->slot_size = slot_size;
    if (ca_pem_path) {
        br_x509_trust_anchor *ta;
        int err = otac_posix_trust_load(ca_pem_path, &ta, &p->trust_count);
        if (err < 0) {
            p->trust_count = 0;
            return err;
        }
        p->trust = ta;
    }
    *ret_port = (struct otac_port){
        .ctx = p,
        .connect = posix_connect,
        .send = posix_send,
        .recv = posix_recv,
        .close = posix_close,
        .now_ms = posix_now_ms,
        .flash_begin = posix_flash_begin,
        .flash_write = posix_flash_write,
        .state_load = posix_state_load,
        .state_store = posix_state_store,
        .random = posix_random,
    };
    return OTAC_OK;
}

void otac_posix_free(struct otac_posix *p)
{
    if (!p)
        return;
    otac_posix_trust_free(p->trust, p->trust_count);
    p->trust = NULL;
    p->trust_count = 0;
}
