/* tls_client_mbedtls: an ESP32 stand-in on mbedTLS (Debian's libmbedtls 2.28).
 *
 * Behaves like ESP-IDF's esp_https_ota / esp_http_client over esp-tls and
 * like arduino-esp32's WiFiClientSecure: the server's chain must verify
 * against the given CA (MBEDTLS_SSL_VERIFY_REQUIRED) and carry the server
 * name, which is also sent as SNI; the cipher suites are mbedTLS's default
 * list, as ESP-IDF offers them; TLS 1.2 only (ESP-IDF's default build has
 * TLS 1.0 and 1.1 off, and mbedTLS 2.28 has no TLS 1.3 here); an optional
 * max_fragment_length (--mfl); and from the second connection on the saved
 * session is offered again (mbedtls_ssl_get_session / mbedtls_ssl_set_session,
 * esp_tls's client session reuse), by session ticket when the server issued
 * one, else by session ID.
 *
 * Per connection, one JSON object on stdout with the same keys as
 * tls_client_bearssl's, without the heap and stack figures. The bytes go
 * through our own send/recv callbacks so the wire observer (tls_tool.c)
 * sees exactly what was exchanged.
 */
#include "tls_tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md5.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

struct options {
    struct tool_opts common;
    int mfl; /* 0 = do not ask; else 512, 1024, 2048 or 4096 */
    bool no_tickets;
};

static const char usage[] =
    "usage: tls_client_mbedtls --port N --ca FILE [options]\n"
    "An ESP32 (esp_https_ota / esp_http_client, mbedTLS) stand-in: one JSON object per\n"
    "connection on stdout.\n"
    "%s"
    "  --mfl N                ask for max_fragment_length N (512, 1024, 2048, 4096)\n"
    "  --no-tickets           do not offer session tickets (resume by session ID only)\n"
    "TLS 1.2 only, as ESP-IDF builds mbedTLS; --tls12-only is accepted and changes nothing.\n"
    "Exit status: 0 when every connection did what was asked, 1 otherwise, 2 on bad usage.\n";

static void parse_options(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    tool_opts_init(&o->common, "ESP32-http-Update");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(usage, tool_common_usage);
            exit(0);
        }
        if (tool_opts_parse(&o->common, argc, argv, &i))
            continue;
        if (strcmp(a, "--no-tickets") == 0) {
            o->no_tickets = true;
        } else if (strcmp(a, "--mfl") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            o->mfl = atoi(v);
            if (o->mfl != 512 && o->mfl != 1024 && o->mfl != 2048 && o->mfl != 4096)
                tool_die(2, "--mfl: expected 512, 1024, 2048 or 4096, got '%s'", v);
        } else {
            tool_die(2, "unknown option or missing value: %s (see --help)", a);
        }
    }
    tool_opts_check(&o->common);
    if (!o->common.ca_file)
        tool_die(2, "--ca is required: esp_https_ota verifies the server");
}

struct conn {
    int fd;
    struct tool_wire wire;
    bool tcp_eof;
    int io_error; /* -errno */
    mbedtls_md5_context md5;
};

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct conn *c = ctx;
    int r = tool_send_all(c->fd, buf, len);
    if (r < 0) {
        c->io_error = r;
        return MBEDTLS_ERR_NET_SEND_FAILED;
    }
    tool_wire_feed(&c->wire, true, buf, len);
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct conn *c = ctx;
    long n = tool_recv(c->fd, buf, len);
    if (n < 0) {
        c->io_error = (int)n;
        return n == -ETIMEDOUT ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_RECV_FAILED;
    }
    if (n == 0)
        c->tcp_eof = true;
    else
        tool_wire_feed(&c->wire, false, buf, (size_t)n);
    return (int)n;
}

static void on_body(void *ctx, const unsigned char *p, size_t n)
{
    struct conn *c = ctx;
    mbedtls_md5_update_ret(&c->md5, p, n);
}

struct client {
    struct options o;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    mbedtls_ssl_session session;
    int session_mfl; /* the fragment limit negotiated with that session */
    bool have_session;
    unsigned char *request;
    size_t request_len;
};

static unsigned char mfl_code(int mfl)
{
    switch (mfl) {
    case 512:
        return MBEDTLS_SSL_MAX_FRAG_LEN_512;
    case 1024:
        return MBEDTLS_SSL_MAX_FRAG_LEN_1024;
    case 2048:
        return MBEDTLS_SSL_MAX_FRAG_LEN_2048;
    case 4096:
        return MBEDTLS_SSL_MAX_FRAG_LEN_4096;
    default:
        return MBEDTLS_SSL_MAX_FRAG_LEN_NONE;
    }
}

static void setup(struct client *cl)
{
    mbedtls_entropy_init(&cl->entropy);
    mbedtls_ctr_drbg_init(&cl->drbg);
    mbedtls_x509_crt_init(&cl->ca);
    mbedtls_ssl_config_init(&cl->conf);
    mbedtls_ssl_session_init(&cl->session);
    char err[160];
    int r = mbedtls_ctr_drbg_seed(&cl->drbg, mbedtls_entropy_func, &cl->entropy,
                                  (const unsigned char *)"otad-tls-client", 15);
    if (r != 0) {
        mbedtls_strerror(r, err, sizeof(err));
        tool_die(1, "mbedtls_ctr_drbg_seed: %s", err);
    }
    r = mbedtls_x509_crt_parse_file(&cl->ca, cl->o.common.ca_file);
    if (r != 0) {
        mbedtls_strerror(r, err, sizeof(err));
        tool_die(2, "--ca %s: %s", cl->o.common.ca_file, err);
    }
    r = mbedtls_ssl_config_defaults(&cl->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0) {
        mbedtls_strerror(r, err, sizeof(err));
        tool_die(1, "mbedtls_ssl_config_defaults: %s", err);
    }
    mbedtls_ssl_conf_authmode(&cl->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&cl->conf, &cl->ca, NULL);
    mbedtls_ssl_conf_rng(&cl->conf, mbedtls_ctr_drbg_random, &cl->drbg);
    mbedtls_ssl_conf_min_version(&cl->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&cl->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    if (cl->o.mfl && mbedtls_ssl_conf_max_frag_len(&cl->conf, mfl_code(cl->o.mfl)) != 0)
        tool_die(1, "mbedtls_ssl_conf_max_frag_len(%d) failed", cl->o.mfl);
    mbedtls_ssl_conf_session_tickets(&cl->conf, cl->o.no_tickets
                                                    ? MBEDTLS_SSL_SESSION_TICKETS_DISABLED
                                                    : MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
}

static void teardown(struct client *cl)
{
    mbedtls_ssl_session_free(&cl->session);
    mbedtls_ssl_config_free(&cl->conf);
    mbedtls_x509_crt_free(&cl->ca);
    mbedtls_ctr_drbg_free(&cl->drbg);
    mbedtls_entropy_free(&cl->entropy);
}

/* "TLS1.2" from mbedTLS's "TLSv1.2". */
static const char *version_name(const char *v)
{
    if (strcmp(v, "TLSv1.2") == 0)
        return "TLS1.2";
    if (strcmp(v, "TLSv1.1") == 0)
        return "TLS1.1";
    if (strcmp(v, "TLSv1") == 0 || strcmp(v, "TLSv1.0") == 0)
        return "TLS1.0";
    return v;
}

static void json_error(struct tool_json *j, int code, const char *detail, uint32_t flags)
{
    char name[200];
    if (code)
        mbedtls_strerror(code, name, sizeof(name));
    else
        snprintf(name, sizeof(name), "OK");
    tool_json_begin(j, "error");
    tool_json_int(j, "code", code);
    tool_json_str(j, "name", name);
    tool_json_str(j, "detail", detail);
    if (flags) {
        char info[512];
        int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
        while (n > 0 && (info[n - 1] == '\n' || info[n - 1] == ' '))
            info[--n] = '\0';
        tool_json_int(j, "verify_flags", flags);
        tool_json_str(j, "verify_info", n > 0 ? info : "");
    }
    tool_json_end(j);
}

static bool run_connection(struct client *cl, int index)
{
    const struct options *o = &cl->o;
    struct conn c;
    memset(&c, 0, sizeof(c));
    c.fd = -1;
    mbedtls_md5_init(&c.md5);
    mbedtls_md5_starts_ret(&c.md5);
    mbedtls_ssl_context ssl;
    mbedtls_ssl_init(&ssl);
    struct tool_http http;
    tool_http_init(&http, on_body, &c);
    bool ok = false, handshake_ok = false, resume = false;
    const char *why = NULL;
    char detail[200] = "";
    int code = 0;
    uint32_t vflags = 0;

    int r = mbedtls_ssl_setup(&ssl, &cl->conf);
    if (r != 0) {
        code = r;
        why = "mbedtls_ssl_setup failed";
        goto report;
    }
    if (o->common.server_name && (r = mbedtls_ssl_set_hostname(&ssl, o->common.server_name))) {
        code = r;
        why = "mbedtls_ssl_set_hostname failed";
        goto report;
    }
    if (cl->have_session) {
        r = mbedtls_ssl_set_session(&ssl, &cl->session);
        if (r != 0) {
            code = r;
            why = "mbedtls_ssl_set_session failed";
            goto report;
        }
        resume = true;
    }
    c.fd = tool_connect(o->common.host, o->common.port, o->common.timeout_ms);
    if (c.fd < 0) {
        snprintf(detail, sizeof(detail), "connect to %s:%d: %s", o->common.host, o->common.port,
                 strerror(-c.fd));
        why = detail;
        goto report;
    }
    mbedtls_ssl_set_bio(&ssl, &c, bio_send, bio_recv, NULL);
    while ((r = mbedtls_ssl_handshake(&ssl)) != 0) {
        if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
            code = r;
            vflags = mbedtls_ssl_get_verify_result(&ssl);
            if (vflags == (uint32_t)-1)
                vflags = 0;
            why = "handshake failed";
            goto report;
        }
    }
    handshake_ok = true;
    if (cl->request) {
        size_t off = 0;
        while (off < cl->request_len) {
            r = mbedtls_ssl_write(&ssl, cl->request + off, cl->request_len - off);
            if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
                continue;
            if (r < 0) {
                code = r;
                why = "sending the request failed";
                goto report;
            }
            off += (size_t)r;
        }
        unsigned char buf[4096];
        bool clean_close = false;
        while (!http.done) {
            r = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
            if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
                continue;
            if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == 0) {
                clean_close = true;
                break;
            }
            if (r < 0) {
                code = r;
                break;
            }
            tool_http_feed(&http, buf, (size_t)r);
        }
        /* Without Content-Length the body ends with the connection. */
        if (!http.done && clean_close)
            tool_http_eof(&http);
        if (!http.head_done)
            why = "no complete response head";
        else if (http.head_too_large)
            why = "the response head is too large";
        else if (!http.done)
            why = "the body ended early";
    }
    if (!c.tcp_eof && !c.io_error)
        mbedtls_ssl_close_notify(&ssl);
    ok = why == NULL;
report:;
    bool resumed = handshake_ok && tool_wire_resumed(&c.wire);
    if (ok && index > 0 && o->common.require_resume && !resumed) {
        ok = false;
        why = "the session was not resumed";
    }

    struct tool_json j;
    tool_json_init(&j);
    tool_json_begin(&j, NULL);
    tool_json_str(&j, "tool", "mbedtls");
    tool_json_int(&j, "connection", index + 1);
    tool_json_str(&j, "handshake", handshake_ok ? "ok" : "failed");
    if (c.io_error && !detail[0])
        snprintf(detail, sizeof(detail), "%s", strerror(-c.io_error));
    else if (c.tcp_eof && !ok && !detail[0])
        snprintf(detail, sizeof(detail), "the server closed the connection");
    json_error(&j, code, detail[0] ? detail : NULL, vflags);
    tool_json_str(&j, "version", handshake_ok ? version_name(mbedtls_ssl_get_version(&ssl)) : NULL);
    if (handshake_ok) {
        const char *name = mbedtls_ssl_get_ciphersuite(&ssl);
        char cipher[128];
        snprintf(cipher, sizeof(cipher), "0x%04X %s", mbedtls_ssl_get_ciphersuite_id(name), name);
        for (char *p = cipher; *p; p++)
            if (*p == '-')
                *p = '_';
        tool_json_str(&j, "cipher", cipher);
    } else {
        tool_json_null(&j, "cipher");
    }
    tool_json_bool(&j, "resume_offered", resume);
    tool_json_bool(&j, "resumed", resumed);
    /* The limit in force, as the wire shows it: the echoed max_fragment_length
     * when the server accepted it, else 16384. */
    int mfl = tool_wire_mfl(&c.wire, resume ? cl->session_mfl : 0);
    if (handshake_ok) {
        tool_json_int(&j, "max_frag_len", mfl);
    } else {
        tool_json_null(&j, "max_frag_len");
    }
    if (o->mfl)
        tool_json_int(&j, "max_frag_len_offered", o->mfl);
    else
        tool_json_null(&j, "max_frag_len_offered");
    if (handshake_ok)
        tool_json_bool(&j, "max_frag_len_respected", tool_wire_records_fit(&c.wire, mfl));
    else
        tool_json_null(&j, "max_frag_len_respected");
    tool_json_str(&j, "profile", "mbedtls-default");
    tool_json_str(&j, "auth", "ca");
    tool_json_http(&j, &http);
    if (http.head_done) {
        unsigned char digest[16];
        mbedtls_md5_finish_ret(&c.md5, digest);
        tool_json_hex(&j, "body_md5", digest, sizeof(digest));
    } else {
        tool_json_null(&j, "body_md5");
    }
    tool_json_bool(&j, "body_complete", http.done && !http.head_too_large);
    tool_json_str(&j, "closed_by", c.tcp_eof ? "tcp_eof" : NULL);
    tool_json_int(&j, "word_bits", (long long)(sizeof(void *) * 8));
    tool_json_str(&j, "library", MBEDTLS_VERSION_STRING_FULL);
    tool_json_wire(&j, &c.wire);
    tool_json_end(&j);
    tool_json_print(&j);
    tool_json_release(&j);

    if (!ok) {
        char err[200] = "";
        if (code)
            mbedtls_strerror(code, err, sizeof(err));
        tool_warn("connection %d: %s%s%s%s%s", index + 1, why ? why : "failed", err[0] ? ": " : "",
                  err, detail[0] ? ": " : "", detail);
    }
    /* Keep the session for the next connection, as esp_tls's client session does. */
    if (handshake_ok) {
        mbedtls_ssl_session_free(&cl->session);
        mbedtls_ssl_session_init(&cl->session);
        if (mbedtls_ssl_get_session(&ssl, &cl->session) == 0) {
            cl->have_session = true;
            cl->session_mfl = mfl;
        }
    }
    if (c.fd >= 0)
        close(c.fd);
    mbedtls_ssl_free(&ssl);
    mbedtls_md5_free(&c.md5);
    tool_wire_release(&c.wire);
    return ok;
}

int main(int argc, char **argv)
{
    struct client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        tool_die(1, "out of memory");
    tool_set_prog(argv[0]);
    parse_options(&cl->o, argc, argv);
    setup(cl);
    if (cl->o.common.request_file || cl->o.common.path)
        cl->request = tool_build_request(&cl->o.common, &cl->request_len);
    int failed = 0;
    for (int k = 0; k < cl->o.common.connections; k++)
        if (!run_connection(cl, k))
            failed++;
    free(cl->request);
    teardown(cl);
    free(cl);
    return failed ? 1 : 0;
}
