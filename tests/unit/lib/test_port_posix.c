/*
 * Unit tests for lib/port/posix.c, the POSIX port, on real files and real
 * loopback sockets: the slot files and their size limit, the state record's
 * atomic replacement (a leftover temporary file from a crash is ignored),
 * random bytes, the CA file's trust anchors, and TCP connect / send / recv
 * with their timeouts against a listener the test opens, and TLS against a
 * BearSSL server the test forks (a certificate for "localhost" under a test
 * CA): the round trip, both ways a server may end, a name the certificate
 * does not carry, a CA that is not the server's. TLS against the real otad
 * is tests/e2e/test_otac.py's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "otac/port_posix.h"

#define SLOT_SIZE 4096u

/* A self-signed P-256 CA certificate (CN=otac-test-ca, valid to 2126). */
static const char test_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhDCCASugAwIBAgIUF3jIEHFopJh92Gl4c5u7cjbOaycwCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMb3RhYy10ZXN0LWNhMCAXDTI2MTEyOTE1MjQ0OFoYDzIxMjYx\n"
    "MTA1MTUyNDQ4WjAXMRUwEwYDVQQDDAxvdGFjLXRlc3QtY2EwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAASf1Byfd0TAji/qpZgHWo52bNgwt28bpNj0Ovxk4R3Ik3iK\n"
    "9zmCgXjDNJMiY6zTKuCt4FkspIYBJTLicACgFQnCo1MwUTAdBgNVHQ4EFgQU8fAp\n"
    "mlCoWTlzk4kl9X/+y/FPL6wwHwYDVR0jBBgwFoAU8fApmlCoWTlzk4kl9X/+y/FP\n"
    "L6wwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBLMZzCF3vxRxGx\n"
    "ryHa76Xaw1y5fV60vwu9FBFeSPBIuQIgZeO3UpnTG/TmJENDjcWDvMqrAHVR4hv8\n"
    "Ssq9vp93MKM=\n"
    "-----END CERTIFICATE-----\n";

/* Another CA of the same name and another key: it issued nothing the server has. */
static const char test_other_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhTCCASugAwIBAgIUWcJQIpzcjdu1ZUUaG1efOVEyJUEwCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMb3RhYy10ZXN0LWNhMCAXDTI2MTEyOTE1Mjk1MloYDzIxMjYx\n"
    "MTA1MTUyOTUyWjAXMRUwEwYDVQQDDAxvdGFjLXRlc3QtY2EwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAAQDN32qxHWDhQD1N+p1u8UGsyvvHilUDNM14qELjr86ukpL\n"
    "czt8ujNUcfkp7OZe6MXZWBOeu+BrFnwC+PTtFIrno1MwUTAdBgNVHQ4EFgQUCIPR\n"
    "ii93DS8CLJdzZck6U5C+JNEwHwYDVR0jBBgwFoAUCIPRii93DS8CLJdzZck6U5C+\n"
    "JNEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBf2/i1gy5WZpgd\n"
    "viQWp/nAb0XJeP6wMpBYjhjQgC8HSAIhAIz2ClgXGDCJZKoH7DDgV8WHngwzkwtv\n"
    "FJm7d/hCejmc\n"
    "-----END CERTIFICATE-----\n";

/* A server certificate for DNS:localhost issued by test_ca_pem, and its key. */
static const char test_leaf_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBtjCCAVygAwIBAgIUDjP+w+R0iFTH8nOroGhlzE39mKowCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMb3RhYy10ZXN0LWNhMCAXDTI2MTEyOTE1MjkyM1oYDzIxMjYx\n"
    "MTA1MTUyOTIzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggq\n"
    "hkjOPQMBBwNCAAS/5XO2okKiJIg+E+4ZNmyGoQBBlxkBc+QwOCw0NopTSB2X87D3\n"
    "bkADEfUgYhZW4/HAfQBjl4z1UKeTcjnpmVAwo4GGMIGDMBQGA1UdEQQNMAuCCWxv\n"
    "Y2FsaG9zdDAJBgNVHRMEAjAAMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggrBgEF\n"
    "BQcDATAdBgNVHQ4EFgQUxg0j+yG6fpyc3fqesk3aybEFchcwHwYDVR0jBBgwFoAU\n"
    "8fApmlCoWTlzk4kl9X/+y/FPL6wwCgYIKoZIzj0EAwIDSAAwRQIhAJmwZWQnnQAX\n"
    "XWkYVWkw6c+6zmXl+P12m75BjdBQJjMHAiBll/mjE3vOZPYIj9RyBYfhH5hMk3Sp\n"
    "Apsv/HD6imQknA==\n"
    "-----END CERTIFICATE-----\n";
static const char test_leaf_key_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEICxZ1YpfxtiBek4KYPr3Z19BvD4H+92eGG32FCxaDavsoAoGCCqGSM49\n"
    "AwEHoUQDQgAEv+VztqJCoiSIPhPuGTZshqEAQZcZAXPkMDgsNDaKU0gdl/Ow925A\n"
    "AxH1IGIWVuPxwH0AY5eM9VCnk3I56ZlQMA==\n"
    "-----END EC PRIVATE KEY-----\n";

/* Each test's own folder, the port over DIR/dev, and the port itself. */
struct fixture {
    char dir[256];
    char dev[300];
    struct otac_posix posix;
    struct otac_port port;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/otac-port-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->dev, sizeof(f->dev), "%s/dev", f->dir);
    assert_int_equal(otac_posix_init(&f->posix, f->dev, SLOT_SIZE, NULL, &f->port), OTAC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    otac_posix_free(&f->posix);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
}

/* The bytes of PATH into BUF (CAP); returns their count, or -1 when it does not exist. */
static long read_bytes(const char *path, void *buf, size_t cap)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return -1;
    size_t n = fread(buf, 1, cap, file);
    fclose(file);
    return (long)n;
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- init --------------------------------------------------------------- */

static void test_init_makes_the_folder_and_refuses_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->dev, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    struct otac_posix p;
    struct otac_port port;
    /* An existing folder is taken as it is. */
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, NULL, &port), OTAC_OK);
    assert_ptr_equal(port.ctx, &p);
    assert_non_null(port.connect);
    assert_non_null(port.state_store);
    otac_posix_free(&p);

    assert_int_equal(otac_posix_init(NULL, f->dev, SLOT_SIZE, NULL, &port), OTAC_E_INVAL);
    assert_int_equal(otac_posix_init(&p, NULL, SLOT_SIZE, NULL, &port), OTAC_E_INVAL);
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, NULL, NULL), OTAC_E_INVAL);

    static char long_dir[OTAC_POSIX_PATH_MAX];
    memset(long_dir, 'a', sizeof(long_dir) - 8);
    long_dir[0] = '/';
    assert_int_equal(otac_posix_init(&p, long_dir, SLOT_SIZE, NULL, &port), OTAC_E_INVAL);

    /* A folder that cannot be made: its parent is a file. */
    char file[300], below[320];
    snprintf(file, sizeof(file), "%s/a-file", f->dir);
    write_text(file, "x");
    snprintf(below, sizeof(below), "%s/dev", file);
    assert_int_equal(otac_posix_init(&p, below, SLOT_SIZE, NULL, &port), OTAC_E_IO);
    assert_int_equal(otac_posix_init(&p, file, SLOT_SIZE, NULL, &port), OTAC_E_IO);
    otac_posix_free(&p); /* harmless after a failed init */
    otac_posix_free(NULL);
}

static void test_ca_file_anchors(void **state)
{
    struct fixture *f = *state;
    char path[300];
    snprintf(path, sizeof(path), "%s/ca.pem", f->dir);
    struct otac_posix p;
    struct otac_port port;

    /* Two certificates around an object that is not one: two anchors, both CAs. */
    char two[4096];
    snprintf(two, sizeof(two),
             "a comment line\n%s-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n%s",
             test_ca_pem, test_ca_pem);
    write_text(path, two);
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_OK);
    assert_int_equal(p.trust_count, 2);
    const br_x509_trust_anchor *ta = p.trust;
    assert_int_equal(ta[0].flags & BR_X509_TA_CA, BR_X509_TA_CA);
    assert_int_equal(ta[0].pkey.key_type, BR_KEYTYPE_EC);
    assert_int_equal(ta[0].pkey.key.ec.curve, BR_EC_secp256r1);
    assert_int_equal(ta[0].pkey.key.ec.qlen, 65);
    assert_true(ta[0].dn.len > 10);
    otac_posix_free(&p);
    assert_null(p.trust);

    /* The loader on its own, as the BearSSL test client uses it. */
    br_x509_trust_anchor *anchors = NULL;
    size_t count = 0;
    assert_int_equal(otac_posix_trust_load(path, &anchors, &count), OTAC_OK);
    assert_int_equal(count, 2);
    otac_posix_trust_free(anchors, count);
    otac_posix_trust_free(NULL, 0);
    assert_int_equal(otac_posix_trust_load(NULL, &anchors, &count), OTAC_E_INVAL);

    /* No certificate, a damaged one, a file that is not PEM, no file. */
    write_text(path, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_E_KEY_PARSE);
    assert_null(p.trust);
    write_text(path,
               "-----BEGIN CERTIFICATE-----\nMIIBhDCCASugAwIBAgIU\n-----END CERTIFICATE-----\n");
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_E_KEY_PARSE);
    write_text(path, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_E_KEY_PARSE);
    write_text(path, "");
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_E_KEY_PARSE);
    snprintf(path, sizeof(path), "%s/missing.pem", f->dir);
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_E_IO);
    otac_posix_free(&p);
}

/* ---- flash -------------------------------------------------------------- */

static void test_flash_slots_are_files(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    char path[400];
    unsigned char got[SLOT_SIZE + 16];

    /* The library's order: everything past the head, then the head. */
    assert_int_equal(port->flash_begin(port->ctx, 1, 40), OTAC_OK);
    assert_int_equal(port->flash_write(port->ctx, 1, 16, "0123456789abcdefghijklmn", 24), OTAC_OK);
    assert_int_equal(port->flash_write(port->ctx, 1, 0, "HEADHEADHEADHEAD", 16), OTAC_OK);
    snprintf(path, sizeof(path), "%s/slot1.bin", f->dev);
    assert_int_equal(read_bytes(path, got, sizeof(got)), 40);
    assert_memory_equal(got, "HEADHEADHEADHEAD0123456789abcdefghijklmn", 40);
    snprintf(path, sizeof(path), "%s/slot0.bin", f->dev);
    assert_int_equal(read_bytes(path, got, sizeof(got)), -1); /* the other slot untouched */

    /* A new image empties the slot first: nothing of the old one is left. */
    assert_int_equal(port->flash_begin(port->ctx, 1, 8), OTAC_OK);
    snprintf(path, sizeof(path), "%s/slot1.bin", f->dev);
    assert_int_equal(read_bytes(path, got, sizeof(got)), 0);

    /* Exactly the slot fits; a byte more does not. */
    assert_int_equal(port->flash_begin(port->ctx, 0, SLOT_SIZE), OTAC_OK);
    memset(got, 0x5a, sizeof(got));
    assert_int_equal(port->flash_write(port->ctx, 0, 0, got, SLOT_SIZE), OTAC_OK);
    assert_int_equal(port->flash_begin(port->ctx, 0, SLOT_SIZE + 1), OTAC_E_NO_SPACE);
    assert_int_equal(port->flash_write(port->ctx, 0, SLOT_SIZE - 4, got, 5), OTAC_E_INVAL);
    assert_int_equal(port->flash_write(port->ctx, 0, UINT64_MAX, got, 1), OTAC_E_INVAL);

    /* Only two slots. */
    assert_int_equal(port->flash_begin(port->ctx, OTAC_SLOTS, 8), OTAC_E_INVAL);
    assert_int_equal(port->flash_write(port->ctx, OTAC_SLOTS, 0, got, 1), OTAC_E_INVAL);
}

static void test_flash_write_without_begin_fails(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->port.flash_write(f->port.ctx, 0, 0, "x", 1), OTAC_E_FLASH);
}

/* ---- the state record --------------------------------------------------- */

static void test_state_record_is_replaced_whole(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    char buf[64];
    size_t len = 99;

    /* Nothing stored yet. */
    assert_int_equal(port->state_load(port->ctx, buf, sizeof(buf), &len), OTAC_OK);
    assert_int_equal(len, 0);

    assert_int_equal(port->state_store(port->ctx, "first record", 12), OTAC_OK);
    assert_int_equal(port->state_load(port->ctx, buf, sizeof(buf), &len), OTAC_OK);
    assert_int_equal(len, 12);
    assert_memory_equal(buf, "first record", 12);

    /* A shorter record replaces a longer one entirely. */
    assert_int_equal(port->state_store(port->ctx, "two", 3), OTAC_OK);
    assert_int_equal(port->state_load(port->ctx, buf, sizeof(buf), &len), OTAC_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "two", 3);

    /* No temporary file is left behind. */
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/state.bin.tmp", f->dev);
    assert_int_equal(access(tmp, F_OK), -1);

    /* A record larger than the caller's buffer is refused, not cut. */
    len = 77;
    assert_int_equal(port->state_load(port->ctx, buf, 2, &len), OTAC_E_BUFFER);
    assert_int_equal(len, 77);
    assert_int_equal(port->state_load(port->ctx, buf, 3, &len), OTAC_OK);
    assert_int_equal(len, 3);
}

static void test_state_record_survives_a_crash_mid_store(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    char buf[64], tmp[400];
    size_t len;

    assert_int_equal(port->state_store(port->ctx, "the good record", 15), OTAC_OK);
    /* A crash between writing the temporary file and the rename: it stays, half written. */
    snprintf(tmp, sizeof(tmp), "%s/state.bin.tmp", f->dev);
    write_text(tmp, "the new rec");

    /* A restart reads the old record, whole. */
    struct otac_posix again;
    struct otac_port port2;
    assert_int_equal(otac_posix_init(&again, f->dev, SLOT_SIZE, NULL, &port2), OTAC_OK);
    assert_int_equal(port2.state_load(port2.ctx, buf, sizeof(buf), &len), OTAC_OK);
    assert_int_equal(len, 15);
    assert_memory_equal(buf, "the good record", 15);

    /* The next store writes over the leftover and removes it. */
    assert_int_equal(port2.state_store(port2.ctx, "after", 5), OTAC_OK);
    assert_int_equal(port2.state_load(port2.ctx, buf, sizeof(buf), &len), OTAC_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "after", 5);
    assert_int_equal(access(tmp, F_OK), -1);
    otac_posix_free(&again);
}

/* ---- random and clock --------------------------------------------------- */

static void test_random_and_clock(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    unsigned char a[32], b[32], zero[32] = {0};
    assert_int_equal(port->random(port->ctx, a, sizeof(a)), OTAC_OK);
    assert_int_equal(port->random(port->ctx, b, sizeof(b)), OTAC_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(port->random(port->ctx, a, 0), OTAC_OK);

    uint64_t t0 = port->now_ms(port->ctx);
    usleep(20000);
    uint64_t t1 = port->now_ms(port->ctx);
    assert_true(t1 >= t0 + 20 && t1 < t0 + 2000);
}

/* ---- network ------------------------------------------------------------ */

/* A listening socket on 127.0.0.1; sets *RET_PORT. */
static int listen_loopback(uint16_t *ret_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *ret_port = ntohs(sa.sin_port);
    return fd;
}

static void test_tcp_send_recv_and_close(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    uint16_t lport;
    int lfd = listen_loopback(&lport);
    void *conn = NULL;
    assert_int_equal(port->connect(port->ctx, "127.0.0.1", lport, 0, &conn), OTAC_OK);
    assert_non_null(conn);
    int peer = accept(lfd, NULL, NULL);
    assert_true(peer >= 0);

    assert_int_equal(port->send(port->ctx, conn, "", 0, 1000), OTAC_E_INVAL); /* "> 0" */
    assert_int_equal(port->send(port->ctx, conn, "GET / HTTP/1.0\r\n\r\n", 18, 1000), 18);
    char buf[64];
    assert_int_equal(recv(peer, buf, sizeof(buf), 0), 18);
    assert_memory_equal(buf, "GET / HTTP/1.0\r\n\r\n", 18);

    assert_int_equal(send(peer, "HTTP/1.0 304\r\n", 14, 0), 14);
    long got = 0;
    while (got < 14) {
        long n = port->recv(port->ctx, conn, buf + got, sizeof(buf) - (size_t)got, 1000);
        assert_true(n > 0);
        got += n;
    }
    assert_memory_equal(buf, "HTTP/1.0 304\r\n", 14);

    /* The peer ends the stream: recv says 0, and again. */
    close(peer);
    assert_int_equal(port->recv(port->ctx, conn, buf, sizeof(buf), 1000), 0);
    assert_int_equal(port->recv(port->ctx, conn, buf, sizeof(buf), 1000), 0);
    port->close(port->ctx, conn);
    port->close(port->ctx, NULL);
    close(lfd);
}

static void test_tcp_timeouts(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    uint16_t lport;
    int lfd = listen_loopback(&lport);
    void *conn = NULL;
    assert_int_equal(port->connect(port->ctx, "localhost", lport, 0, &conn), OTAC_OK);
    int peer = accept(lfd, NULL, NULL);
    assert_true(peer >= 0);

    /* A silent peer: recv waits its timeout, no less and not much more. */
    char buf[64];
    uint64_t t0 = ms_now();
    assert_int_equal(port->recv(port->ctx, conn, buf, sizeof(buf), 150), OTAC_E_TIMEOUT);
    uint64_t waited = ms_now() - t0;
    assert_true(waited >= 150 && waited < 1500);

    /* A peer that never reads: the socket buffers fill, then send times out. */
    static char block[1 << 16];
    long sent = 0, n;
    t0 = ms_now();
    while ((n = port->send(port->ctx, conn, block, sizeof(block), 100)) > 0) {
        sent += n;
        assert_true(ms_now() - t0 < 10000);
    }
    assert_int_equal(n, OTAC_E_TIMEOUT);
    assert_true(sent > 0);

    /* A reset from the peer is an I/O error, not a timeout. */
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(peer, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard)), 0);
    close(peer);
    do
        n = port->send(port->ctx, conn, block, sizeof(block), 1000);
    while (n > 0);
    assert_int_equal(n, OTAC_E_IO);
    port->close(port->ctx, conn);
    close(lfd);
}

static void test_connect_failures(void **state)
{
    struct fixture *f = *state;
    const struct otac_port *port = &f->port;
    void *conn = (void *)&conn;

    /* Nobody listens on the port: refused at once, an I/O error. */
    uint16_t lport;
    close(listen_loopback(&lport));
    uint64_t t0 = ms_now();
    assert_int_equal(port->connect(port->ctx, "127.0.0.1", lport, 0, &conn), OTAC_E_IO);
    assert_true(ms_now() - t0 < 2000);
    assert_ptr_equal(conn, &conn); /* untouched */

    /* TLS without a CA file is refused before any connection. */
    assert_int_equal(port->connect(port->ctx, "127.0.0.1", lport, 1, &conn), OTAC_E_INVAL);
    assert_int_equal(port->connect(port->ctx, NULL, lport, 0, &conn), OTAC_E_INVAL);
}

static void test_tls_to_a_peer_that_is_not_tls(void **state)
{
    struct fixture *f = *state;
    char path[300];
    snprintf(path, sizeof(path), "%s/ca.pem", f->dir);
    write_text(path, test_ca_pem);
    struct otac_posix p;
    struct otac_port port;
    assert_int_equal(otac_posix_init(&p, f->dev, SLOT_SIZE, path, &port), OTAC_OK);

    /* The peer answers the ClientHello with plain HTTP and closes: the handshake fails. */
    uint16_t lport;
    int lfd = listen_loopback(&lport);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int peer = accept(lfd, NULL, NULL);
        char buf[512];
        if (peer >= 0 && recv(peer, buf, sizeof(buf), 0) > 0)
            (void)!send(peer, "HTTP/1.0 400 Bad Request\r\n\r\n", 28, 0);
        _exit(0);
    }
    void *conn = NULL;
    assert_int_equal(port.connect(port.ctx, "localhost", lport, 1, &conn), OTAC_E_IO);
    assert_null(conn);
    close(lfd);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    otac_posix_free(&p);
}

/* ---- TLS against a BearSSL server in a child process -------------------- */

/* How the test server ends each connection after its answer. */
enum server_end { END_CLOSE_NOTIFY, END_TCP_ONLY, END_SILENT };

struct der {
    unsigned char p[2048];
    size_t len;
};

static void der_append(void *ctx, const void *data, size_t len)
{
    struct der *d = ctx;
    assert_true(d->len + len <= sizeof(d->p));
    memcpy(d->p + d->len, data, len);
    d->len += len;
}

/* The DER of the one object in PEM. */
static void pem_to_der(const char *pem, struct der *out)
{
    br_pem_decoder_context pc;
    br_pem_decoder_init(&pc);
    out->len = 0;
    const char *at = pem;
    size_t left = strlen(pem);
    int objects = 0;
    while (left > 0) {
        size_t n = br_pem_decoder_push(&pc, at, left);
        at += n;
        left -= n;
        int event = br_pem_decoder_event(&pc);
        if (event == BR_PEM_BEGIN_OBJ)
            br_pem_decoder_setdest(&pc, der_append, out);
        else if (event == BR_PEM_END_OBJ)
            objects++;
        assert_int_not_equal(event, BR_PEM_ERROR);
    }
    assert_int_equal(objects, 1);
}

static int sock_read(void *ctx, unsigned char *buf, size_t len)
{
    ssize_t n = recv(*(int *)ctx, buf, len, 0);
    return n > 0 ? (int)n : -1;
}

static int sock_write(void *ctx, const unsigned char *buf, size_t len)
{
    ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    return n > 0 ? (int)n : -1;
}

/* The child: one TLS connection on LFD; reads "hello", answers "world", ends as told. */
static void serve_tls_once(int lfd, enum server_end end)
{
    static struct der cert, key;
    pem_to_der(test_leaf_pem, &cert);
    pem_to_der(test_leaf_key_pem, &key);
    br_skey_decoder_context kc;
    br_skey_decoder_init(&kc);
    br_skey_decoder_push(&kc, key.p, key.len);
    const br_ec_private_key *sk = br_skey_decoder_get_ec(&kc);
    if (!sk)
        _exit(3);
    br_x509_certificate chain = {.data = cert.p, .data_len = cert.len};
    static br_ssl_server_context sc;
    static unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
    br_ssl_server_init_full_ec(&sc, &chain, 1, BR_KEYTYPE_EC, sk);
    br_ssl_engine_set_buffer(&sc.eng, iobuf, sizeof(iobuf), 1);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0 || !br_ssl_server_reset(&sc))
        _exit(4);
    br_sslio_context ioc;
    br_sslio_init(&ioc, &sc.eng, sock_read, &fd, sock_write, &fd);
    char buf[5];
    if (br_sslio_read_all(&ioc, buf, sizeof(buf)) < 0 || memcmp(buf, "hello", 5) != 0)
        _exit(5);
    if (br_sslio_write_all(&ioc, "world", 5) < 0 || br_sslio_flush(&ioc) < 0)
        _exit(6);
    if (end == END_CLOSE_NOTIFY)
        br_sslio_close(&ioc);
    else if (end == END_SILENT)
        sleep(2);
    close(fd);
    _exit(0);
}

/* Forks a TLS server on a loopback port; sets *RET_PORT and returns its pid. */
static pid_t start_tls_server(enum server_end end, uint16_t *ret_port)
{
    int lfd = listen_loopback(ret_port);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        serve_tls_once(lfd, end);
    close(lfd);
    return child;
}

/* A port over F's folder trusting CA_PEM. */
static void port_trusting(struct fixture *f, const char *ca_pem, struct otac_posix *p,
                          struct otac_port *port)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/ca.pem", f->dir);
    write_text(path, ca_pem);
    assert_int_equal(otac_posix_init(p, f->dev, SLOT_SIZE, path, port), OTAC_OK);
}

/* Connects over TLS, says hello and reads world. */
static void *tls_hello(const struct otac_port *port, uint16_t lport)
{
    void *conn = NULL;
    assert_int_equal(port->connect(port->ctx, "localhost", lport, 1, &conn), OTAC_OK);
    assert_int_equal(port->send(port->ctx, conn, "hello", 5, 2000), 5);
    char buf[16];
    long got = 0;
    while (got < 5) {
        long n = port->recv(port->ctx, conn, buf + got, sizeof(buf) - (size_t)got, 2000);
        assert_true(n > 0);
        got += n;
    }
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "world", 5);
    return conn;
}

static void wait_child(pid_t child)
{
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_tls_round_trip_and_close_notify(void **state)
{
    struct fixture *f = *state;
    struct otac_posix p;
    struct otac_port port;
    port_trusting(f, test_ca_pem, &p, &port);
    uint16_t lport;
    pid_t child = start_tls_server(END_CLOSE_NOTIFY, &lport);
    void *conn = tls_hello(&port, lport);
    char buf[16];
    /* close_notify: the end of the stream, and it stays ended. */
    assert_int_equal(port.recv(port.ctx, conn, buf, sizeof(buf), 2000), 0);
    assert_int_equal(port.recv(port.ctx, conn, buf, sizeof(buf), 2000), 0);
    port.close(port.ctx, conn);
    wait_child(child);
    otac_posix_free(&p);
}

static void test_tls_end_without_close_notify_and_timeout(void **state)
{
    struct fixture *f = *state;
    struct otac_posix p;
    struct otac_port port;
    port_trusting(f, test_ca_pem, &p, &port);
    char buf[16];

    /* A bare TCP end is an end too (the Content-Length and MD5 above catch a cut). */
    uint16_t lport;
    pid_t child = start_tls_server(END_TCP_ONLY, &lport);
    void *conn = tls_hello(&port, lport);
    assert_int_equal(port.recv(port.ctx, conn, buf, sizeof(buf), 2000), 0);
    port.close(port.ctx, conn);
    wait_child(child);

    /* A server that goes quiet: the wait ends at the timeout. */
    child = start_tls_server(END_SILENT, &lport);
    conn = tls_hello(&port, lport);
    uint64_t t0 = ms_now();
    assert_int_equal(port.recv(port.ctx, conn, buf, sizeof(buf), 200), OTAC_E_TIMEOUT);
    assert_true(ms_now() - t0 >= 200);
    port.close(port.ctx, conn);
    wait_child(child);
    otac_posix_free(&p);
}

static void test_tls_refuses_a_wrong_name_or_ca(void **state)
{
    struct fixture *f = *state;
    struct otac_posix p;
    struct otac_port port;
    uint16_t lport;
    void *conn = NULL;
    int status;

    /* The certificate names localhost, not the address. */
    port_trusting(f, test_ca_pem, &p, &port);
    pid_t child = start_tls_server(END_CLOSE_NOTIFY, &lport);
    assert_int_equal(port.connect(port.ctx, "127.0.0.1", lport, 1, &conn), OTAC_E_IO);
    assert_null(conn);
    assert_int_equal(waitpid(child, &status, 0), child);
    otac_posix_free(&p);

    /* The server's own certificate as the only anchor works (trusted directly)... */
    port_trusting(f, test_leaf_pem, &p, &port);
    child = start_tls_server(END_CLOSE_NOTIFY, &lport);
    conn = tls_hello(&port, lport);
    port.close(port.ctx, conn);
    wait_child(child);
    otac_posix_free(&p);

    /* ...but a CA that did not issue it, though of the same name, does not. */
    port_trusting(f, test_other_ca_pem, &p, &port);
    child = start_tls_server(END_CLOSE_NOTIFY, &lport);
    assert_int_equal(port.connect(port.ctx, "localhost", lport, 1, &conn), OTAC_E_IO);
    assert_int_equal(waitpid(child, &status, 0), child);
    otac_posix_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_makes_the_folder_and_refuses_bad_arguments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ca_file_anchors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_slots_are_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_write_without_begin_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_record_is_replaced_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_record_survives_a_crash_mid_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_random_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_send_recv_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_to_a_peer_that_is_not_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_round_trip_and_close_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_end_without_close_notify_and_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_refuses_a_wrong_name_or_ca, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
