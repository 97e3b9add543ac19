/* Unit tests for src/core/listen_fds.c: the variables, the names, a real listening socket. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/listen_fds.h"

static void test_parse(void **state)
{
    (void)state;
    struct listen_fds fds;
    assert_int_equal(listen_fds_parse(NULL, NULL, NULL, 42, &fds), 0);
    assert_int_equal(fds.count, 0);
    assert_int_equal(listen_fds_parse("", "42", NULL, 42, &fds), 0);
    assert_int_equal(fds.count, 0);

    assert_int_equal(listen_fds_parse("2", "42", "http:tls", 42, &fds), 0);
    assert_int_equal(fds.count, 2);
    assert_string_equal(fds.names[0], "http");
    assert_string_equal(fds.names[1], "tls");
    assert_int_equal(listen_fds_find(&fds, NULL), 3);
    assert_int_equal(listen_fds_find(&fds, "tls"), 4);
    assert_int_equal(listen_fds_find(&fds, "other"), -1);

    /* The plain listener is the first descriptor not named tls, whatever its order. */
    assert_int_equal(listen_fds_parse("2", "42", "tls:", 42, &fds), 0);
    assert_int_equal(listen_fds_find(&fds, NULL), 4);
    assert_int_equal(listen_fds_find(&fds, "tls"), 3);

    /* Unnamed. */
    assert_int_equal(listen_fds_parse("1", "42", NULL, 42, &fds), 0);
    assert_int_equal(fds.count, 1);
    assert_string_equal(fds.names[0], "");
    assert_int_equal(listen_fds_find(&fds, NULL), 3);
    assert_int_equal(listen_fds_find(&fds, "tls"), -1);

    /* For another process: nothing is ours. */
    assert_int_equal(listen_fds_parse("1", "43", NULL, 42, &fds), 0);
    assert_int_equal(fds.count, 0);
}

static void test_parse_refused(void **state)
{
    (void)state;
    struct listen_fds fds;
    assert_int_equal(listen_fds_parse("1", NULL, NULL, 42, &fds), -EINVAL);
    assert_int_equal(listen_fds_parse("x", "42", NULL, 42, &fds), -EINVAL);
    assert_int_equal(listen_fds_parse("-1", "42", NULL, 42, &fds), -EINVAL);
    assert_int_equal(listen_fds_parse("1", "0", NULL, 42, &fds), -EINVAL);
    assert_int_equal(listen_fds_parse("1", "42x", NULL, 42, &fds), -EINVAL);
    assert_int_equal(listen_fds_parse("9", "42", NULL, 42, &fds), -EINVAL);  /* > LISTEN_FDS_MAX */
    assert_int_equal(listen_fds_parse("1", "42", "a:b", 42, &fds), -EINVAL); /* more names */
    char name[LISTEN_FDS_NAME_BYTES + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    assert_int_equal(listen_fds_parse("1", "42", name, 42, &fds), -EINVAL);
}

static void test_adopt(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen_fds_adopt(s), -EINVAL); /* bound, not listening */
    assert_int_equal(listen(s, 4), 0);
    assert_int_equal(listen_fds_adopt(s), 0);
    assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
    close(s);

    int d = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(listen_fds_adopt(d), -EINVAL);
    close(d);

    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(listen_fds_adopt(p[0]), -ENOTSOCK);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_adopt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
