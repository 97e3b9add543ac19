/* Unit tests for src/core/sdnotify.c: addresses, the watchdog variables, real datagrams. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sdnotify.h"
#include "core/util.h"

static void test_parse_address(void **state)
{
    (void)state;
    struct sockaddr_un addr;
    socklen_t len = 0;
    assert_int_equal(sdnotify_parse_address("/run/systemd/notify", &addr, &len), 0);
    assert_string_equal(addr.sun_path, "/run/systemd/notify");
    assert_int_equal(len,
                     offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);

    assert_int_equal(sdnotify_parse_address("@otad/abc", &addr, &len), 0);
    assert_int_equal(addr.sun_path[0], 0);
    assert_memory_equal(addr.sun_path + 1, "otad/abc", 8);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 9); /* no trailing NUL */

    assert_int_equal(sdnotify_parse_address(NULL, &addr, &len), -ENOENT);
    assert_int_equal(sdnotify_parse_address("", &addr, &len), -ENOENT);
    assert_int_equal(sdnotify_parse_address("relative/path", &addr, &len), -EINVAL);
    assert_int_equal(sdnotify_parse_address("vsock:2:1234", &addr, &len), -EINVAL);
    char longest[sizeof(addr.sun_path) + 2];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[0] = '/';
    longest[sizeof(longest) - 1] = 0;
    assert_int_equal(sdnotify_parse_address(longest, &addr, &len), -EINVAL);
    longest[sizeof(addr.sun_path)] = 0; /* a path of sizeof(sun_path) bytes leaves no NUL */
    assert_int_equal(sdnotify_parse_address(longest, &addr, &len), -EINVAL);
    longest[0] = '@'; /* an abstract name may fill sun_path */
    assert_int_equal(sdnotify_parse_address(longest, &addr, &len), 0);
    assert_int_equal(len, sizeof(addr));
}

static void test_watchdog_usec(void **state)
{
    (void)state;
    static const struct {
        const char *usec, *pid;
        pid_t self;
        int r;
        uint64_t v;
    } cases[] = {
        {"30000000", NULL, 42, 0, 30000000},
        {"30000000", "", 42, 0, 30000000},
        {"30000000", "42", 42, 0, 30000000},
        {"30000000", "43", 42, -ENOENT, 0}, /* meant for another process */
        {NULL, NULL, 42, -ENOENT, 0},
        {"", "42", 42, -ENOENT, 0},
        {"0", NULL, 42, -EINVAL, 0},
        {"-5", NULL, 42, -EINVAL, 0},
        {"10s", NULL, 42, -EINVAL, 0},
        {" 10", NULL, 42, -EINVAL, 0},
        {"99999999999999999999999", NULL, 42, -EINVAL, 0},
        {"1000", "x", 42, -EINVAL, 0},
        {"1000", "0", 42, -EINVAL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t v = 7;
        int r = sdnotify_watchdog_usec(cases[i].usec, cases[i].pid, cases[i].self, &v);
        if (r != cases[i].r)
            fail_msg("case %zu: %d, want %d", i, r, cases[i].r);
        assert_int_equal(v, r == 0 ? cases[i].v : 7); /* written only on success */
    }
}

static void test_reloading_message(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sdnotify_reloading_message(1234567890123, out, sizeof(out)), 0);
    assert_string_equal(out, "RELOADING=1\nMONOTONIC_USEC=1234567890123");
    char small[12];
    assert_int_equal(sdnotify_reloading_message(1, small, sizeof(small)), -ENOSPC);
}

/* A datagram sent to a real abstract socket arrives whole, as one message. */
static void test_send_abstract(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@otad-test-sdnotify-%d", (int)getpid());
    struct sockaddr_un addr;
    socklen_t len;
    assert_int_equal(sdnotify_parse_address(name, &addr, &len), 0);
    int server = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(server >= 0);
    assert_int_equal(bind(server, (struct sockaddr *)&addr, len), 0);

    struct sdnotify n;
    assert_int_equal(sdnotify_init(&n, name), 0);
    assert_true(sdnotify_enabled(&n));
    assert_int_equal(sdnotify_send(&n, "READY=1\nSTATUS=serving"), 0);
    char got[128];
    ssize_t r = recv(server, got, sizeof(got) - 1, MSG_DONTWAIT);
    assert_int_equal(r, strlen("READY=1\nSTATUS=serving"));
    got[r] = 0;
    assert_string_equal(got, "READY=1\nSTATUS=serving");
    sdnotify_release(&n);
    assert_false(sdnotify_enabled(&n));
    close(server);
}

/* Without NOTIFY_SOCKET nothing is opened and a send is a no-op; a bad value is refused. */
static void test_inert(void **state)
{
    (void)state;
    struct sdnotify n;
    assert_int_equal(sdnotify_init(&n, NULL), 0);
    assert_false(sdnotify_enabled(&n));
    assert_int_equal(sdnotify_send(&n, "READY=1"), 0);
    sdnotify_release(&n);
    assert_int_equal(sdnotify_init(&n, "not-a-path"), -EINVAL);
    assert_false(sdnotify_enabled(&n));
    sdnotify_release(NULL);
}

/* A socket nobody listens on: the error comes back, nothing crashes. */
static void test_send_nobody(void **state)
{
    (void)state;
    struct sdnotify n;
    assert_int_equal(sdnotify_init(&n, "@otad-test-nobody-listens-here"), 0);
    assert_int_equal(sdnotify_send(&n, "READY=1"), -ECONNREFUSED);
    sdnotify_release(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_address),
        cmocka_unit_test(test_watchdog_usec),
        cmocka_unit_test(test_reloading_message),
        cmocka_unit_test(test_send_abstract),
        cmocka_unit_test(test_inert),
        cmocka_unit_test(test_send_nobody),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
