/*
 * Unit tests for lib/client.c: otac_check over a scripted network (each
 * connection's connect result, the bytes the server sends in chunks, and
 * how the connection ends: the peer closes it, or a call fails) on top of
 * the in-memory flash and record (memport.h). Checks what goes out on the
 * wire, that every connection opened is closed, that a port error decides
 * the outcome's error, and ESP-IDF's new connection per resume. Then
 * otac_next_checkin_ms's spread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "otac/client.h"
#include "../signing/support.h"
#include "memport.h"
#include "signed.h"

#define SLOT_SIZE  (2u * 1024u * 1024u)
#define IMAGE_SIZE (1024u * 1024u)
#define MAX_CONNS  6
#define SENT_MAX   4096

/* What one connection does. */
struct script {
    int connect_err;     /* connect returns this when < 0 */
    int send_err;        /* send returns this when < 0 */
    size_t send_max;     /* bytes send takes per call; 0: all */
    const uint8_t *data; /* what the server sends */
    size_t len;
    size_t chunk;  /* bytes per recv at most; 0: as many as asked */
    int end;       /* after DATA: 0, the peer closes; < 0 recv fails with it */
    int send_zero; /* a port that breaks port.h: send returns 0 */
    int send_over; /* ... send claims one byte more than it was given */
    int recv_over; /* ... recv claims one byte more than its buffer holds */
    /* Seen. */
    int connected, closed;
    size_t at;
    char sent[SENT_MAX];
    size_t sent_len;
    uint32_t timeout_ms;
    char host[64];
    uint16_t port;
    int tls;
};

struct net {
    struct script conns[MAX_CONNS];
    int count; /* scripted */
    int next;  /* the next connect's script */
};

static struct net *net_of(void *ctx)
{
    return ((struct memport *)ctx)->user;
}

static int net_connect(void *ctx, const char *host, uint16_t port, int tls, void **ret_conn)
{
    struct net *n = net_of(ctx);
    if (n->next >= n->count)
        fail_msg("connection %d was not scripted", n->next + 1);
    struct script *c = &n->conns[n->next++];
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->tls = tls;
    if (c->connect_err < 0)
        return c->connect_err;
    c->connected = 1;
    *ret_conn = c;
    return OTAC_OK;
}

static long net_send(void *ctx, void *conn, const void *data, size_t len, uint32_t timeout_ms)
{
    struct script *c = conn;
    assert_false(c->closed);
    c->timeout_ms = timeout_ms;
    if (c->send_err < 0)
        return c->send_err;
    if (c->send_zero)
        return 0;
    if (c->send_over)
        return (long)len + 1;
    size_t n = c->send_max && c->send_max < len ? c->send_max : len;
    assert_true(c->sent_len + n <= SENT_MAX);
    memcpy(c->sent + c->sent_len, data, n);
    c->sent_len += n;
    return (long)n;
}

static long net_recv(void *ctx, void *conn, void *buf, size_t len, uint32_t timeout_ms)
{
    struct script *c = conn;
    assert_false(c->closed);
    assert_int_equal(timeout_ms, c->timeout_ms);
    if (c->recv_over)
        return (long)len + 1;
    if (c->at == c->len)
        return c->end;
    size_t n = c->len - c->at;
    if (c->chunk && n > c->chunk)
        n = c->chunk;
    if (n > len)
        n = len;
    memcpy(buf, c->data + c->at, n);
    c->at += n;
    return (long)n;
}

static void net_close(void *ctx, void *conn)
{
    struct script *c = conn;
    assert_false(c->closed);
    c->closed = 1;
}

struct fixture {
    uint8_t *image;
    char image_md5[33];
    struct memport *m;
    struct net net;
    struct otac_slots slots;
    struct otac_identity id;
    struct otac_session_config cfg;
    struct otac_session s;
};

static const struct otac_slot_image factory = {1, "1.0.0", "", 300000};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->image = test_payload(IMAGE_SIZE, 99);
    signed_md5_hex(f->image, IMAGE_SIZE, f->image_md5);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    free(f->image);
    free(f);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = *state;
    f->m = memport_new(SLOT_SIZE);
    memset(&f->net, 0, sizeof(f->net));
    f->m->user = &f->net;
    f->m->port.connect = net_connect;
    f->m->port.send = net_send;
    f->m->port.recv = net_recv;
    f->m->port.close = net_close;
    if (otac_slots_load(&f->slots, &f->m->port, &factory) != OTAC_OK)
        return -1;
    memset(&f->id, 0, sizeof(f->id));
    f->id.client = OTAC_CLIENT_ESP8266_2_4;
    f->id.free_space = SLOT_SIZE;
    strcpy(f->id.sdk_version, "2.2.1(cfd48f3)");
    otac_slots_identity(&f->slots, &f->id);
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.host = "ota.example";
    f->cfg.port = 80;
    f->cfg.target = "/update/door";
    f->cfg.mode = OTAC_MODE_SKETCH;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < f->net.count; i++)
        assert_int_equal(f->net.conns[i].closed, f->net.conns[i].connected);
    memport_free(f->m);
    return 0;
}

/* Scripts the next connection to send DATA (LEN bytes, CHUNK at a time) and then END. */
static struct script *script_add(struct fixture *f, const void *data, size_t len, size_t chunk,
                                 int end)
{
    struct script *c = &f->net.conns[f->net.count++];
    memset(c, 0, sizeof(*c));
    c->data = data;
    c->len = len;
    c->chunk = chunk;
    c->end = end;
    return c;
}

/* A 200 head and BODY_LEN bytes of the image in one new allocation; ETAG NULL: none. */
static uint8_t *answer_200(const struct fixture *f, size_t body_len, const char *etag,
                           size_t *ret_len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nx-MD5: %s\r\nx-version: 1.1.0\r\n%s%s%s"
                     "Content-Length: %u\r\n\r\n",
                     f->image_md5, etag ? "ETag: " : "", etag ? etag : "", etag ? "\r\n" : "",
                     IMAGE_SIZE);
    uint8_t *out = malloc((size_t)n + body_len);
    memcpy(out, head, (size_t)n);
    memcpy(out + n, f->image, body_len);
    *ret_len = (size_t)n + body_len;
    return out;
}

static uint8_t *answer_206(const struct fixture *f, size_t from, const char *etag, size_t *ret_len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%u/%u\r\n"
                     "ETag: %s\r\nContent-Length: %zu\r\n\r\n",
                     from, IMAGE_SIZE - 1, IMAGE_SIZE, etag, IMAGE_SIZE - from);
    uint8_t *out = malloc((size_t)n + IMAGE_SIZE - from);
    memcpy(out, head, (size_t)n);
    memcpy(out + n, f->image + from, IMAGE_SIZE - from);
    *ret_len = (size_t)n + IMAGE_SIZE - from;
    return out;
}

static enum otac_outcome check(struct fixture *f, int tls, uint32_t timeout_ms)
{
    enum otac_outcome outcome = OTAC_OUTCOME_NONE;
    assert_int_equal(
        otac_check(&f->s, &f->m->port, &f->cfg, &f->id, &f->slots, tls, timeout_ms, &outcome),
        OTAC_OK);
    assert_int_equal(outcome, otac_session_outcome(&f->s));
    return outcome;
}

/* A 304 over one connection: the stock check-in went out, the default timeout bounded it. */
static void test_current(void **state)
{
    struct fixture *f = *state;
    static const char answer[] = "HTTP/1.0 304 Not Modified\r\nConnection: close\r\n\r\n";
    struct script *c = script_add(f, answer, sizeof(answer) - 1, 5, 0);
    c->send_max = 7; /* a port that takes a few bytes per call */
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_CURRENT);
    assert_int_equal(f->net.next, 1);
    assert_string_equal(c->host, "ota.example");
    assert_int_equal(c->port, 80);
    assert_int_equal(c->tls, 0);
    assert_int_equal(c->timeout_ms, OTAC_TIMEOUT_MS_DEFAULT);
    char expect[OTAC_REQUEST_MAX];
    size_t expect_len;
    assert_int_equal(otac_request_checkin(expect, sizeof(expect), &expect_len, &f->id,
                                          OTAC_MODE_SKETCH, "ota.example", 80, "/update/door",
                                          NULL),
                     OTAC_OK);
    assert_int_equal(c->sent_len, expect_len);
    assert_memory_equal(c->sent, expect, expect_len);
}

/* A 200 in small reads: staged; TLS and the timeout are passed to the port as given. */
static void test_staged(void **state)
{
    struct fixture *f = *state;
    size_t len;
    uint8_t *answer = answer_200(f, IMAGE_SIZE, NULL, &len);
    struct script *c = script_add(f, answer, len, 1460, 0);
    assert_int_equal(check(f, 1, 2500), OTAC_OUTCOME_STAGED);
    assert_int_equal(c->tls, 1);
    assert_int_equal(c->timeout_ms, 2500);
    assert_int_equal(f->slots.pending, 1);
    assert_string_equal(f->slots.image[1].md5, f->image_md5);
    assert_memory_equal(f->m->flash[1], f->image, IMAGE_SIZE);
    /* The client stopped reading at the outcome, and closed. */
    assert_int_equal(c->at, len);
    assert_true(c->closed);
    free(answer);
}

/* Port failures end the check-in, with the port's error as the reason. */
static void test_port_errors(void **state)
{
    struct fixture *f = *state;
    size_t len;
    uint8_t *answer = answer_200(f, 300000, NULL, &len);

    /* Connect fails: nothing was sent. */
    script_add(f, NULL, 0, 0, 0)->connect_err = OTAC_E_IO;
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_IO);

    /* Send fails. */
    script_add(f, NULL, 0, 0, 0)->send_err = OTAC_E_IO;
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_IO);

    /* The head never comes: a timeout. */
    script_add(f, "HTTP/1.1 200 OK\r\n", 17, 0, OTAC_E_TIMEOUT);
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_TIMEOUT);

    /* The peer closes in the head. */
    script_add(f, "HTTP/1.1 200 OK\r\n", 17, 0, 0);
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_HTTP);

    /* The body stops: a timeout, and the peer closing. */
    script_add(f, answer, len, 4096, OTAC_E_TIMEOUT);
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_CUT);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_TIMEOUT);
    assert_int_equal(otac_session_received(&f->s), 300000);
    script_add(f, answer, len, 4096, 0);
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_CUT);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_CUT);
    assert_false(f->slots.image[1].valid);
    free(answer);
}

/* A port that answers what port.h does not allow: OTAC_E_IO, never a read past the buffer. */
static void test_port_breaks_contract(void **state)
{
    struct fixture *f = *state;
    size_t len;
    uint8_t *answer = answer_200(f, 300000, NULL, &len);
    script_add(f, NULL, 0, 0, 0)->send_zero = 1;
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_IO);
    script_add(f, NULL, 0, 0, 0)->send_over = 1;
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_IO);
    script_add(f, answer, len, 0, 0)->recv_over = 1;
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_FAILED);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_IO);
    free(answer);
}

/* ESP-IDF: a cut, then a new connection with Range, the rest in a 206: staged. */
static void test_resume_new_connection(void **state)
{
    struct fixture *f = *state;
    f->id.client = OTAC_CLIENT_ESP_IDF;
    f->cfg.target = "/images/door/1.1.0";
    f->cfg.max_resumes = 1;
    size_t len1, len2;
    uint8_t *first = answer_200(f, 512 * 1024, "\"a\"", &len1);
    uint8_t *rest = answer_206(f, 512 * 1024, "\"a\"", &len2);
    script_add(f, first, len1, 4096, OTAC_E_TIMEOUT);
    struct script *c2 = script_add(f, rest, len2, 4096, 0);
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_STAGED);
    assert_int_equal(f->net.next, 2);
    c2->sent[c2->sent_len] = '\0';
    assert_string_equal(c2->sent, "GET /images/door/1.1.0 HTTP/1.1\r\n"
                                  "User-Agent: ESP32 HTTP Client/1.0\r\n"
                                  "Host: ota.example\r\n"
                                  "Range: bytes=524288-\r\n\r\n");
    assert_memory_equal(f->m->flash[1], f->image, IMAGE_SIZE);
    assert_string_equal(f->slots.image[1].md5, f->image_md5);
    teardown(state);
    setup(state);

    /* The reconnect fails once; with a second resume left, the third connection finishes it. */
    f->id.client = OTAC_CLIENT_ESP_IDF;
    f->cfg.target = "/images/door/1.1.0";
    f->cfg.max_resumes = 2;
    script_add(f, first, len1, 0, 0);
    script_add(f, NULL, 0, 0, 0)->connect_err = OTAC_E_TIMEOUT;
    script_add(f, rest, len2, 0, 0);
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_STAGED);
    assert_int_equal(f->net.next, 3);
    teardown(state);
    setup(state);

    /* With one resume, that failed reconnect is the end: CUT, for the port's reason. */
    f->id.client = OTAC_CLIENT_ESP_IDF;
    f->cfg.target = "/images/door/1.1.0";
    f->cfg.max_resumes = 1;
    script_add(f, first, len1, 0, 0);
    script_add(f, NULL, 0, 0, 0)->connect_err = OTAC_E_TIMEOUT;
    assert_int_equal(check(f, 0, 0), OTAC_OUTCOME_CUT);
    assert_int_equal(otac_session_error(&f->s), OTAC_E_TIMEOUT);
    assert_int_equal(f->net.next, 2);
    assert_false(f->slots.image[1].valid);
    free(first);
    free(rest);
}

/* Misuse is OTAC_E_INVAL, and no connection is opened for it. */
static void test_misuse(void **state)
{
    struct fixture *f = *state;
    enum otac_outcome outcome;
    assert_int_equal(otac_check(&f->s, NULL, &f->cfg, &f->id, &f->slots, 0, 0, &outcome),
                     OTAC_E_INVAL);
    assert_int_equal(otac_check(&f->s, &f->m->port, &f->cfg, &f->id, &f->slots, 0, 0, NULL),
                     OTAC_E_INVAL);
    struct otac_port no_net = f->m->port;
    no_net.recv = NULL;
    assert_int_equal(otac_check(&f->s, &no_net, &f->cfg, &f->id, &f->slots, 0, 0, &outcome),
                     OTAC_E_INVAL);
    assert_int_equal(otac_check(&f->s, &f->m->port, NULL, &f->id, &f->slots, 0, 0, &outcome),
                     OTAC_E_INVAL);
    strcpy(f->id.version, "1.0\nx");
    assert_int_equal(otac_check(&f->s, &f->m->port, &f->cfg, &f->id, &f->slots, 0, 0, &outcome),
                     OTAC_E_INVAL);
    assert_int_equal(f->net.next, 0);
}

/* The next check-in: INTERVAL spread evenly by up to JITTER percent either way. */
static void test_next_checkin(void **state)
{
    struct fixture *f = *state;
    const uint64_t interval = 600000;
    assert_int_equal(otac_next_checkin_ms(&f->m->port, interval, 0), interval);
    assert_int_equal(otac_next_checkin_ms(NULL, interval, 20), interval);
    f->m->no_random = 1;
    assert_int_equal(otac_next_checkin_ms(&f->m->port, interval, 20), interval);
    f->m->no_random = 0;
    struct otac_port no_random = f->m->port;
    no_random.random = NULL;
    assert_int_equal(otac_next_checkin_ms(&no_random, interval, 20), interval);

    static const unsigned jitters[] = {1, 20, 100, 250};
    for (size_t j = 0; j < sizeof(jitters) / sizeof(jitters[0]); j++) {
        unsigned pct = jitters[j] > 100 ? 100 : jitters[j];
        uint64_t spread = interval * pct / 100;
        uint64_t lo = UINT64_MAX, hi = 0;
        double sum = 0;
        unsigned below = 0;
        const int draws = 20000;
        for (int i = 0; i < draws; i++) {
            uint64_t v = otac_next_checkin_ms(&f->m->port, interval, jitters[j]);
            assert_true(v >= interval - spread && v <= interval + spread);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += (double)v;
            below += v < interval;
        }
        /* Both ends reached within 0.5 % of the spread, centred, half below. */
        assert_true(lo <= interval - spread + spread / 200);
        assert_true(hi >= interval + spread - spread / 200);
        double mean = sum / draws;
        assert_true(mean > interval - spread * 0.02 && mean < interval + spread * 0.02);
        assert_true(below > draws * 0.47 && below < draws * 0.53);
    }
    /* No overflow at the edges. */
    uint64_t v = otac_next_checkin_ms(&f->m->port, UINT64_MAX, 50);
    assert_true(v >= UINT64_MAX - UINT64_MAX / 4);
    assert_int_equal(otac_next_checkin_ms(&f->m->port, 0, 50), 0);
    v = otac_next_checkin_ms(&f->m->port, 1, 100);
    assert_true(v <= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_breaks_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_new_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_checkin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
