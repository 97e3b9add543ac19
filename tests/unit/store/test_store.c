/*
 * Unit tests for src/store/store.c: content addressing, idempotent puts, a
 * blob damaged on disk written again, young temporary files of another
 * process left alone and stale ones removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/digest.h"
#include "store/store.h"

static void blob_path(const char *dir, const char *sha, char *out, size_t size)
{
    snprintf(out, size, "%s/blobs/%.2s/%s", dir, sha, sha);
}

static void test_put_open_and_repair(void **state)
{
    char dir[64];
    assert_int_equal(fixture_tmpdir(dir), 0);
    log_set_level(LOG_LEVEL_ERROR);
    struct store *st;
    assert_int_equal(store_open(dir, &st), 0);
    uint8_t data[5000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    char sha[65], want[65];
    digest_sha256_hex(data, sizeof(data), want);
    assert_int_equal(store_put(st, data, sizeof(data), sha), 0);
    assert_string_equal(sha, want);
    assert_int_equal(store_put(st, data, sizeof(data), sha), 0); /* idempotent */

    int fd;
    uint64_t size;
    assert_int_equal(store_open_blob(st, sha, &fd, &size), 0);
    assert_int_equal(size, sizeof(data));
    close(fd);
    assert_int_equal(store_open_blob(st, "00", &fd, &size), -EINVAL);
    char absent[65];
    memset(absent, 'a', 64);
    absent[64] = 0;
    assert_int_equal(store_open_blob(st, absent, &fd, &size), -ENOENT);

    /* A blob damaged on disk (same size, other bytes) is written again by the next put. */
    char path[256];
    blob_path(dir, sha, path, sizeof(path));
    int w = open(path, O_WRONLY);
    assert_true(w >= 0);
    assert_int_equal(pwrite(w, "XXXX", 4, 100), 4);
    close(w);
    assert_int_equal(store_put(st, data, sizeof(data), sha), 0);
    uint8_t *back;
    size_t len;
    assert_int_equal(store_read_blob(st, sha, 1 << 20, &back, &len), 0);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(back, data, sizeof(data));
    free(back);
    store_free(st);
    fixture_rmdir(dir);
}

static void test_tmp_cleanup_spares_young_files(void **state)
{
    char dir[64];
    assert_int_equal(fixture_tmpdir(dir), 0);
    struct store *st;
    assert_int_equal(store_open(dir, &st), 0);
    store_free(st);
    char young[128], stale[128];
    snprintf(young, sizeof(young), "%s/tmp/young", dir);
    snprintf(stale, sizeof(stale), "%s/tmp/stale", dir);
    for (int i = 0; i < 2; i++) {
        int fd = open(i ? stale : young, O_WRONLY | O_CREAT, 0640);
        assert_true(fd >= 0);
        close(fd);
    }
    struct utimbuf old = {.actime = time(NULL) - 2 * 3600, .modtime = time(NULL) - 2 * 3600};
    assert_int_equal(utime(stale, &old), 0);
    assert_int_equal(store_open(dir, &st), 0); /* e.g. a CLI command while the daemon writes */
    store_free(st);
    assert_int_equal(access(young, F_OK), 0);
    assert_int_not_equal(access(stale, F_OK), 0);
    fixture_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_open_and_repair),
        cmocka_unit_test(test_tmp_cleanup_spares_young_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
