/* Unit tests for src/core/journal.c and the journal path of src/core/log.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/journal.h"
#include "core/log.h"

static void test_plain_fields(void **state)
{
    (void)state;
    char data[128];
    struct journal_entry e;
    journal_entry_init(&e, data, sizeof(data));
    journal_entry_add(&e, "PRIORITY", "6");
    journal_entry_add(&e, "MESSAGE", "published door 2.0.0");
    journal_entry_add(&e, "OTAD_PRODUCT", "");
    static const char want[] = "PRIORITY=6\nMESSAGE=published door 2.0.0\nOTAD_PRODUCT=\n";
    assert_int_equal(e.len, sizeof(want) - 1);
    assert_memory_equal(data, want, sizeof(want) - 1);
    assert_false(e.overflowed);
}

/* A value with a newline: KEY, newline, 64-bit little-endian length, the bytes, newline. */
static void test_binary_field(void **state)
{
    (void)state;
    char data[64];
    struct journal_entry e;
    journal_entry_init(&e, data, sizeof(data));
    journal_entry_add(&e, "MESSAGE", "a\nb");
    static const char want[] = "MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\n";
    assert_int_equal(e.len, sizeof(want) - 1);
    assert_memory_equal(data, want, sizeof(want) - 1);
}

/* A field that does not fit marks the entry, leaves the bytes as they were, and is not sent. */
static void test_overflow(void **state)
{
    (void)state;
    char data[16];
    struct journal_entry e;
    journal_entry_init(&e, data, sizeof(data));
    journal_entry_add(&e, "A", "1");
    assert_int_equal(e.len, 4);
    journal_entry_add(&e, "MESSAGE", "far too long for sixteen bytes");
    assert_true(e.overflowed);
    assert_int_equal(e.len, 4);
    journal_entry_add(&e, "B", "2"); /* would fit, but the entry is already incomplete */
    assert_int_equal(e.len, 4);
    assert_int_equal(journal_send(-1, &e), -EMSGSIZE);
}

static void test_stream_is(void **state)
{
    (void)state;
    char path[] = "/tmp/otad-test-journal-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char value[64];
    snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    assert_true(journal_stream_is(value, fd));
    snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    assert_false(journal_stream_is(value, fd));
    assert_false(journal_stream_is(NULL, fd));
    assert_false(journal_stream_is("", fd));
    assert_false(journal_stream_is("12", fd));
    assert_false(journal_stream_is("12:", fd));
    assert_false(journal_stream_is(":12", fd));
    assert_false(journal_stream_is("1:2:3", fd));
    close(fd);
    unlink(path);
}

/* log.c through a real datagram socket: the entry's fields, and stderr once the socket is gone. */
static void test_log_to_journal(void **state)
{
    (void)state;
    char path[108];
    snprintf(path, sizeof(path), "/tmp/otad-test-journal-%d.sock", (int)getpid());
    unlink(path);
    int server = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(server, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(log_to_journal(path), 0);

    log_warn_about(&(struct log_fields){.product = "door",
                                        .device_mac = "AA:BB:CC:DD:EE:FF",
                                        .release = "2.0.0",
                                        .rollout_id = 17},
                   "delivery issue for %s", "door");
    char got[4096];
    ssize_t n = recv(server, got, sizeof(got) - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    got[n] = 0;
    assert_non_null(strstr(got, "PRIORITY=4\n"));
    assert_non_null(strstr(got, "SYSLOG_IDENTIFIER=otad\n"));
    assert_non_null(strstr(got, "MESSAGE=delivery issue for door\n"));
    assert_non_null(strstr(got, "CODE_FILE=tests/unit/core/test_journal.c\n"));
    assert_non_null(strstr(got, "CODE_FUNC=test_log_to_journal\n"));
    assert_non_null(strstr(got, "OTAD_PRODUCT=door\n"));
    assert_non_null(strstr(got, "OTAD_DEVICE_MAC=AA:BB:CC:DD:EE:FF\n"));
    assert_non_null(strstr(got, "OTAD_RELEASE=2.0.0\n"));
    assert_non_null(strstr(got, "OTAD_ROLLOUT=17\n"));

    log_info("no fields");
    n = recv(server, got, sizeof(got) - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    got[n] = 0;
    assert_non_null(strstr(got, "PRIORITY=6\n"));
    assert_null(strstr(got, "OTAD_"));

    log_debug("below the threshold"); /* info by default: nothing is sent */
    assert_true(recv(server, got, sizeof(got), MSG_DONTWAIT) < 0);

    /* The journal goes away: lines fall back to stderr (captured here through a pipe). */
    close(server);
    unlink(path);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    log_error("journal gone");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    char line[256];
    n = read(pipefd[0], line, sizeof(line) - 1);
    close(pipefd[0]);
    assert_true(n > 0);
    line[n] = 0;
    assert_non_null(strstr(line, " error journal gone\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_fields),   cmocka_unit_test(test_binary_field),
        cmocka_unit_test(test_overflow),       cmocka_unit_test(test_stream_is),
        cmocka_unit_test(test_log_to_journal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
