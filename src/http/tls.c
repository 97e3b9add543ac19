/*
 * GnuTLS under the HTTPS listener (tls.h). A certificate set is a GnuTLS
 * credentials object with a reference count: the listener holds one, each
 * session holds one from its start to its close, so a reload only swaps the
 * listener's pointer and the old set goes when its last session does.
 * Resumption: TLS 1.2 session IDs through the bounded cache of tls_cache.h,
 * tickets (TLS 1.2 RFC 5077, TLS 1.3 PSK) from one random master key per
 * process, which GnuTLS turns into a new ticket key every three
 * tls_session_lifetime_s (SHA3-512 over the master key and the time; the
 * previous key still opens tickets). Record sizes: GnuTLS
 * honours a client's max_fragment_length (RFC 6066) and record_size_limit
 * (RFC 8449); the first only during the handshake (tls_session_ready
 * keeps it for the data after).
 */
#include "http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/tls_paths.h"
#include "core/util.h"
#include "http/tls_cache.h"

/*
 * TLS 1.3 and 1.2 only. From NORMAL: ECDHE with AES-GCM, ChaCha20-Poly1305
 * and AES-CCM over ECDSA and RSA certificates; added: the RSA key exchange
 * with AES-CBC and HMAC-SHA1/SHA256, the suites BearSSL's reduced profiles
 * (and older mbedTLS builds) offer. Finite-field Diffie-Hellman is out, in
 * TLS 1.2 (DHE-RSA) and as TLS 1.3's FFDHE groups: slow on a device,
 * offered by none of the stock clients, and an 8192-bit group would let a
 * client that sends random bytes make the server do a great deal of work.
 * The client's order of preference wins: it knows whether its CPU has AES.
 */
#define TLS_PRIORITIES                                                                             \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-DHE-RSA:-DHE-DSS:-GROUP-DH-ALL:+RSA:"             \
    "+AES-128-CBC:+AES-256-CBC:+SHA1:+SHA256"

struct tls_credentials {
    atomic_uint refs;
    gnutls_certificate_credentials_t cred;
};

struct tls_pair_path {
    char cert[PATH_MAX];
    char key[PATH_MAX];
};

struct tls_server {
    pthread_mutex_t lock;            /* guards current */
    struct tls_credentials *current; /* what new sessions get */
    struct tls_pair_path pairs[LIMIT_TLS_CERT_FILES];
    unsigned pair_count;
    bool default_paths; /* the data folder's files: the RSA pair is looked for on each load */
    char data_dir[PATH_MAX];
    struct tls_session_cache *cache; /* NULL when resumption by ID is off */
    unsigned lifetime_s;
    gnutls_datum_t ticket_key;
    char *startup_cert, *startup_key; /* the first pair's PEM, for libmicrohttpd */
};

const char *tls_server_priorities(void)
{
    return TLS_PRIORITIES;
}

/* --- loading --- */

static void credentials_release(struct tls_credentials *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        gnutls_certificate_free_credentials(c->cred);
        free(c);
    }
}

/*
 * Reads the PEM file PATH into *RET_PEM (NUL-terminated, *RET_LEN bytes).
 * Opened without blocking and checked to be a regular file, so a FIFO put
 * there cannot hang a reload. A KEY that other users may read or write is
 * refused: the check is on the file opened, so a symbolic link (certbot's
 * live/ folder) is judged by what it points to. Logs why it fails.
 */
static int pem_file_read(const char *path, bool key, char **ret_pem, size_t *ret_len)
{
    const char *what = key ? "key" : "certificate";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        log_error("tls: cannot open the %s file \"%s\": %s", what, path, strerror(err));
        return -err;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > LIMIT_TLS_PEM_BYTES) {
        log_error("tls: the %s file \"%s\" is not a regular file of at most %u bytes", what, path,
                  LIMIT_TLS_PEM_BYTES);
        close(fd);
        return -EINVAL;
    }
    if (key && (st.st_mode & (S_IROTH | S_IWOTH))) {
        log_error("tls: the key file \"%s\" is open to every user (mode %04o): refused; run "
                  "chmod o-rwx on it",
                  path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -EPERM;
    }
    char *pem = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (pem && got < (size_t)st.st_size) {
        ssize_t n = read(fd, pem + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!pem || got != (size_t)st.st_size) {
        if (pem)
            explicit_bzero(pem, got);
        free(pem);
        log_error("tls: cannot read the %s file \"%s\"", what, path);
        return pem ? -EIO : -ENOMEM;
    }
    pem[got] = 0;
    *ret_pem = pem;
    *ret_len = got;
    return 0;
}

/* Logs what the leaf of CERT_PEM is and warns when it has expired or soon will. */
static void leaf_describe(const char *path, const char *cert_pem, size_t len)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    gnutls_datum_t d = {(unsigned char *)cert_pem, (unsigned)len};
    gnutls_datum_t dn = {NULL, 0};
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0 &&
        gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
        time_t expires = gnutls_x509_crt_get_expiration_time(crt);
        char when[32] = "?";
        struct tm tm;
        if (gmtime_r(&expires, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
        unsigned bits = 0;
        int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
        const char *pk_name = gnutls_pk_get_name((gnutls_pk_algorithm_t)pk);
        time_t now = time(NULL);
        if (expires <= now)
            log_warn("tls: \"%s\" (%s, %s) EXPIRED on %s: devices that check dates refuse it", path,
                     (char *)dn.data, pk_name ? pk_name : "?", when);
        else if (expires - now < 14 * 86400)
            log_warn("tls: \"%s\" (%s, %s) expires on %s: renew it (otad tls cert)", path,
                     (char *)dn.data, pk_name ? pk_name : "?", when);
        else
            log_info("tls: \"%s\": %s, %s %u bits, valid until %s", path, (char *)dn.data,
                     pk_name ? pk_name : "?", bits, when);
    }
    gnutls_free(dn.data);
    gnutls_x509_crt_deinit(crt);
}

/* Whether CRT signed itself: a root, which a client holds already or cannot use. */
static bool self_signed(gnutls_x509_crt_t crt)
{
    unsigned status = 0;
    return gnutls_x509_crt_check_issuer(crt, crt) &&
           gnutls_x509_crt_verify(crt, &crt, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) == 0 &&
           status == 0;
}

/*
 * Adds the chain CERT and its KEY (PEM, from the files of P) to CRED. A
 * self-signed root at the end of a longer chain is left out (`otad tls
 * cert` writes the fleet CA after the leaf): a device holds it as its trust
 * anchor or cannot use it, and every byte of the Certificate message costs
 * a small device. An ECDSA leaf alone (about 450 bytes) then fits one
 * 512-byte record, which mbedTLS 2.x needs: it cannot join a handshake
 * message split across records.
 */
static int pair_add(gnutls_certificate_credentials_t cred, const struct tls_pair_path *p,
                    const char *cert, size_t cert_len, const char *key, size_t key_len)
{
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    gnutls_x509_privkey_t pk = NULL;
    gnutls_datum_t cd = {(unsigned char *)cert, (unsigned)cert_len};
    gnutls_datum_t kd = {(unsigned char *)key, (unsigned)key_len};
    int r = -EINVAL;
    int g = gnutls_x509_crt_list_import2(&crts, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (g < 0 || n == 0) {
        log_error("tls: \"%s\" holds no certificate: %s", p->cert,
                  g < 0 ? gnutls_strerror(g) : "no PEM CERTIFICATE block");
        goto out;
    }
    if ((g = gnutls_x509_privkey_init(&pk)) < 0 ||
        (g = gnutls_x509_privkey_import2(pk, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        log_error("tls: the key file \"%s\": %s (an unencrypted PEM key is needed)", p->key,
                  gnutls_strerror(g));
        goto out;
    }
    unsigned sent = n > 1 && self_signed(crts[n - 1]) ? n - 1 : n;
    g = gnutls_certificate_set_x509_key(cred, crts, sent, pk);
    if (g < 0) {
        log_error("tls: \"%s\" with the key \"%s\": %s", p->cert, p->key,
                  g == GNUTLS_E_CERTIFICATE_KEY_MISMATCH
                      ? "the key does not belong to the certificate"
                      : gnutls_strerror(g));
        goto out;
    }
    if (sent < n)
        log_debug("tls: \"%s\": the self-signed root at its end is not sent", p->cert);
    r = 0;
out:
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    if (pk)
        gnutls_x509_privkey_deinit(pk);
    return r;
}

/*
 * Loads every pair into a new set. On success with KEEP_STARTUP, also
 * returns the first pair's PEM texts (owned by the caller).
 */
static int credentials_load(struct tls_server *tls, struct tls_credentials **ret_creds,
                            char **ret_cert, char **ret_key)
{
    struct tls_credentials *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    atomic_init(&c->refs, 1);
    if (gnutls_certificate_allocate_credentials(&c->cred) < 0) {
        free(c);
        return -ENOMEM;
    }
    int r = 0;
    for (unsigned i = 0; i < tls->pair_count && r == 0; i++) {
        const struct tls_pair_path *p = &tls->pairs[i];
        char *cert = NULL, *key = NULL;
        size_t cert_len = 0, key_len = 0;
        r = pem_file_read(p->cert, false, &cert, &cert_len);
        if (r == 0)
            r = pem_file_read(p->key, true, &key, &key_len);
        if (r == 0)
            r = pair_add(c->cred, p, cert, cert_len, key, key_len);
        if (r == 0)
            leaf_describe(p->cert, cert, cert_len);
        if (r == 0 && i == 0 && ret_cert) {
            *ret_cert = cert;
            *ret_key = key;
            cert = key = NULL;
        }
        free(cert);
        if (key)
            explicit_bzero(key, key_len);
        free(key);
    }
    if (r < 0) {
        credentials_release(c);
        return r;
    }
    *ret_creds = c;
    return 0;
}

/* The data folder's pairs (core/tls_paths.h): server.pem always, server-rsa.pem when it and its key
 * are there. */
static int default_pairs(struct tls_server *tls)
{
    tls->pair_count = 0;
    struct tls_pair_path *p = tls->pairs;
    const char *dir = tls->data_dir;
    if (tls_path(p[0].cert, sizeof(p[0].cert), dir, TLS_SERVER_CERT) < 0 ||
        tls_path(p[0].key, sizeof(p[0].key), dir, TLS_SERVER_KEY) < 0 ||
        tls_path(p[1].cert, sizeof(p[1].cert), dir, TLS_SERVER_RSA_CERT) < 0 ||
        tls_path(p[1].key, sizeof(p[1].key), dir, TLS_SERVER_RSA_KEY) < 0)
        return -ENAMETOOLONG;
    tls->pair_count = access(p[1].cert, F_OK) == 0 && access(p[1].key, F_OK) == 0 ? 2 : 1;
    return 0;
}

/* Splits a comma-separated list of file names into OUT's cert (or key) fields. */
static int split_paths(const char *list, struct tls_pair_path *out, bool key, unsigned *ret_n)
{
    unsigned n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            if (n == LIMIT_TLS_CERT_FILES || len >= PATH_MAX)
                return -EINVAL;
            char *dst = key ? out[n].key : out[n].cert;
            memcpy(dst, p, len);
            dst[len] = 0;
            n++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    *ret_n = n;
    return 0;
}

static int configured_pairs(struct tls_server *tls, const struct config *config)
{
    unsigned certs = 0, keys = 0;
    if (split_paths(config->tls_cert, tls->pairs, false, &certs) < 0 ||
        split_paths(config->tls_key, tls->pairs, true, &keys) < 0) {
        log_error("tls: tls_cert and tls_key take at most %u comma-separated files",
                  LIMIT_TLS_CERT_FILES);
        return -EINVAL;
    }
    if (certs == 0 || certs != keys) {
        log_error("tls: tls_cert names %u file%s and tls_key %u: give one key per certificate",
                  certs, certs == 1 ? "" : "s", keys);
        return -EINVAL;
    }
    tls->pair_count = certs;
    return 0;
}

int tls_server_new(const struct config *config, struct tls_server **ret_tls)
{
    if (!config->tls_cert[0] != !config->tls_key[0]) {
        log_error("tls: give both tls_cert and tls_key, or neither (the data folder's files)");
        return -EINVAL;
    }
    struct tls_server *tls = calloc(1, sizeof(*tls));
    if (!tls)
        return -ENOMEM;
    pthread_mutex_init(&tls->lock, NULL);
    str_copy(tls->data_dir, sizeof(tls->data_dir), config->data_dir);
    tls->default_paths = !config->tls_cert[0];
    tls->lifetime_s = (unsigned)config->tls_session_lifetime_s;
    int r = tls->default_paths ? default_pairs(tls) : configured_pairs(tls, config);
    if (r == 0)
        r = credentials_load(tls, &tls->current, &tls->startup_cert, &tls->startup_key);
    if (r == 0 && config->tls_session_cache)
        r = tls_session_cache_new((size_t)config->tls_session_cache,
                                  config->tls_session_lifetime_s * 1000u, &tls->cache);
    if (r == 0 && gnutls_session_ticket_key_generate(&tls->ticket_key) < 0)
        r = -EIO;
    if (r < 0) {
        if (r == -ENOENT && tls->default_paths)
            log_error("tls: no certificate in \"%s/" TLS_DIR "\": make one with `otad tls ca init` "
                      "and `otad tls cert --host NAME`, or give tls_cert and tls_key",
                      config->data_dir);
        tls_server_free(tls);
        return r;
    }
    *ret_tls = tls;
    return 0;
}

int tls_server_reload(struct tls_server *tls)
{
    if (tls->default_paths && default_pairs(tls) < 0)
        return -ENAMETOOLONG;
    struct tls_credentials *fresh = NULL;
    int r = credentials_load(tls, &fresh, NULL, NULL);
    if (r < 0) {
        log_error("tls: reload failed: still presenting the certificates loaded before");
        if (tls->default_paths)
            default_pairs(tls); /* describe the files in use again (the RSA pair may differ) */
        return r;
    }
    pthread_mutex_lock(&tls->lock);
    struct tls_credentials *old = tls->current;
    tls->current = fresh;
    pthread_mutex_unlock(&tls->lock);
    credentials_release(old); /* freed when the last session that began with it closes */
    log_info("tls: reloaded %u certificate%s: new handshakes present them", tls->pair_count,
             tls->pair_count == 1 ? "" : "s");
    return 0;
}

static void pem_free(char *pem)
{
    if (pem) {
        explicit_bzero(pem, strlen(pem));
        free(pem);
    }
}

void tls_server_free(struct tls_server *tls)
{
    if (!tls)
        return;
    credentials_release(tls->current);
    tls_session_cache_free(tls->cache);
    if (tls->ticket_key.data) {
        explicit_bzero(tls->ticket_key.data, tls->ticket_key.size);
        gnutls_free(tls->ticket_key.data);
    }
    pem_free(tls->startup_cert);
    pem_free(tls->startup_key);
    pthread_mutex_destroy(&tls->lock);
    free(tls);
}

void tls_server_startup_pem(const struct tls_server *tls, const char **ret_cert,
                            const char **ret_key)
{
    *ret_cert = tls->startup_cert;
    *ret_key = tls->startup_key;
}

void tls_server_startup_done(struct tls_server *tls)
{
    pem_free(tls->startup_cert);
    pem_free(tls->startup_key);
    tls->startup_cert = tls->startup_key = NULL;
}

/* --- sessions --- */

static uint64_t cache_clock_ms(void)
{
    return (uint64_t)time_mono_ms();
}

static int cache_store(void *ptr, gnutls_datum_t key, gnutls_datum_t data)
{
    struct tls_server *tls = ptr;
    return tls_session_cache_store(tls->cache, key.data, key.size, data.data, data.size,
                                   cache_clock_ms()) == 0
               ? 0
               : -1;
}

static gnutls_datum_t cache_retrieve(void *ptr, gnutls_datum_t key)
{
    struct tls_server *tls = ptr;
    gnutls_datum_t out = {NULL, 0};
    uint8_t *data;
    size_t len;
    if (tls_session_cache_fetch(tls->cache, key.data, key.size, cache_clock_ms(), &data, &len) ==
        0) {
        out.data = data; /* GnuTLS frees it with gnutls_free, which is free() */
        out.size = (unsigned)len;
    }
    return out;
}

static int cache_remove(void *ptr, gnutls_datum_t key)
{
    struct tls_server *tls = ptr;
    tls_session_cache_remove(tls->cache, key.data, key.size);
    return 0;
}

/*
 * The waiting handshake. libmicrohttpd 0.9.75 in epoll mode leaves a
 * connection whose handshake waits for the client marked readable, so its
 * worker calls the handshake, and recv(), again and again: a device that
 * takes two seconds over its key exchange (an ESP8266 on P-256 does) held a
 * core at 100 % for those two seconds. So a handshake read that finds
 * nothing may wait a moment for bytes before it says "try again", once per
 * pass of the worker over its connections: the first connection met a
 * second time starts a new pass and waits; the others in that pass do not.
 * The wait is HANDSHAKE_WAIT_US, and HANDSHAKE_WAIT_PER_US more for each
 * handshake the last pass found waiting (each costs the pass a call into
 * GnuTLS), up to HANDSHAKE_WAIT_MAX_US: a worker with handshakes waiting
 * turns some thousands of times a second instead of a million (a 2 s pause
 * costs 0.1 s of CPU instead of 2), and however many connections sit
 * silent in their handshake, the others wait at most 2 ms more per pass.
 * 200 us alone measured best: 1 ms held others back (15 % fewer full
 * handshakes a second), 50 us spun more. After the handshake reads go
 * straight to recv(), where libmicrohttpd handles "nothing yet" itself.
 */
#define HANDSHAKE_WAIT_US     200
#define HANDSHAKE_WAIT_PER_US 10
#define HANDSHAKE_WAIT_MAX_US 2000
#define HANDSHAKE_FD_MAX      (1 << 22) /* descriptors above are not tracked (they never wait) */

/* Per worker thread: the pass in which each descriptor's handshake read last found nothing. */
struct handshake_passes {
    uint32_t pass;    /* the current pass, from 1 */
    uint32_t *seen;   /* by descriptor */
    size_t size;      /* entries in seen */
    unsigned met;     /* empty handshake reads in the current pass */
    unsigned wait_us; /* what this pass's wait was, or will be */
};

static pthread_key_t passes_key;
static pthread_once_t passes_once = PTHREAD_ONCE_INIT;

static void passes_free(void *arg)
{
    struct handshake_passes *h = arg;
    free(h->seen);
    free(h);
}

static void passes_key_make(void)
{
    if (pthread_key_create(&passes_key, passes_free) != 0)
        log_warn("tls: no thread key: handshake reads will not wait");
}

/*
 * Whether this empty handshake read of FD is the pass's one wait (see
 * above); if so, how long in *RET_WAIT_US.
 */
static bool handshake_wait_due(int fd, unsigned *ret_wait_us)
{
    pthread_once(&passes_once, passes_key_make);
    struct handshake_passes *h = pthread_getspecific(passes_key);
    if (!h) {
        h = calloc(1, sizeof(*h));
        if (!h || pthread_setspecific(passes_key, h) != 0) {
            free(h);
            return false;
        }
        h->pass = 1;
    }
    if (fd < 0 || fd >= HANDSHAKE_FD_MAX)
        return false;
    if ((size_t)fd >= h->size) {
        size_t size = h->size ? h->size : 1024;
        while (size <= (size_t)fd)
            size *= 2;
        uint32_t *seen = realloc(h->seen, size * sizeof(*seen));
        if (!seen)
            return false;
        memset(seen + h->size, 0, (size - h->size) * sizeof(*seen));
        h->seen = seen;
        h->size = size;
    }
    bool due = h->seen[fd] == h->pass;
    if (due) {
        uint64_t wait = HANDSHAKE_WAIT_US + (uint64_t)h->met * HANDSHAKE_WAIT_PER_US;
        h->wait_us = wait < HANDSHAKE_WAIT_MAX_US ? (unsigned)wait : HANDSHAKE_WAIT_MAX_US;
        h->met = 0;
        if (++h->pass == 0) { /* wrapped (after days): start the count again */
            memset(h->seen, 0, h->size * sizeof(*h->seen));
            h->pass = 1;
        }
    }
    h->met++;
    h->seen[fd] = h->pass;
    *ret_wait_us = h->wait_us;
    return due;
}

static ssize_t handshake_pull(gnutls_transport_ptr_t transport, void *data, size_t size)
{
    int fd = (int)(intptr_t)transport;
    ssize_t n = recv(fd, data, size, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        unsigned wait_us = 0;
        bool wait = handshake_wait_due(fd, &wait_us);
        errno = EAGAIN; /* whatever the bookkeeping did to it */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        const struct timespec timeout = {0, (long)wait_us * 1000L};
        if (wait && ppoll(&p, 1, &timeout, NULL) > 0)
            n = recv(fd, data, size, 0);
        else
            errno = EAGAIN;
    }
    return n;
}

static ssize_t data_pull(gnutls_transport_ptr_t transport, void *data, size_t size)
{
    return recv((int)(intptr_t)transport, data, size, 0);
}

/* After the client's Finished the handshake reads nothing more: reads stop waiting. */
static int handshake_finished(gnutls_session_t session, unsigned type, unsigned when,
                              unsigned incoming, const gnutls_datum_t *msg)
{
    if (incoming)
        gnutls_transport_set_pull_function(session, data_pull);
    return 0;
}

struct tls_credentials *tls_session_begin(struct tls_server *tls, void *session_ptr)
{
    gnutls_session_t session = session_ptr;
    pthread_mutex_lock(&tls->lock);
    struct tls_credentials *c = tls->current;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&tls->lock);
    if (gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, c->cred) < 0) {
        log_warn("tls: cannot attach the certificates to a new session");
        credentials_release(c);
        return NULL;
    }
    gnutls_db_set_cache_expiration(session, (int)tls->lifetime_s);
    if (tls->cache) {
        gnutls_db_set_ptr(session, tls);
        gnutls_db_set_store_function(session, cache_store);
        gnutls_db_set_retrieve_function(session, cache_retrieve);
        gnutls_db_set_remove_function(session, cache_remove);
    }
    if (gnutls_session_ticket_enable_server(session, &tls->ticket_key) < 0)
        log_debug("tls: session tickets unavailable for a session");
    gnutls_transport_set_pull_function(session, handshake_pull);
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
                                       handshake_finished);
    return c;
}

void tls_session_ready(void *session_ptr)
{
    gnutls_session_t session = session_ptr;
    /*
     * The receive size keeps what max_fragment_length negotiated; the send
     * size was reset. With record_size_limit instead, the receive size is
     * our own full size and the send size is right already.
     */
    gnutls_transport_set_pull_function(session, data_pull); /* done, should the hook not have */
    size_t negotiated = gnutls_record_get_max_size(session);
    if (negotiated < 16384 && gnutls_record_set_max_size(session, negotiated) < 0)
        log_debug("tls: cannot hold a session to %zu-byte records", negotiated);
}

void tls_session_end(struct tls_credentials *creds)
{
    credentials_release(creds);
}

const char *tls_gnutls_version(void)
{
    const char *version = gnutls_check_version(NULL);
    return version ? version : "unknown";
}
