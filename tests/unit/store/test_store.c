/*
 * Unit tests for src/store/store.c: content addressing, idempotent puts, a
 * blob damaged on disk written again, a damaged blob refused when opened
 * (whether damaged before a handle first opened it, replaced, or written in
 * place since), the scrub over every file, young temporary files of another
 * process left alone and stale ones removed; for a node's cache, a damaged
 * file removed and only old unused blobs removed.
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
#include "core/util.h"
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

/* Puts LEN bytes made from SEED and returns their name in SHA. */
static void put_blob(struct store *st, size_t len, uint8_t seed, char sha[65])
{
    uint8_t *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 31 + seed);
    assert_int_equal(store_put(st, data, len, sha), 0);
    free(data);
}

/* Overwrites 4 bytes at OFFSET of the blob SHA in place: same size, other bytes. */
static void damage_in_place(const char *dir, const char *sha, off_t offset)
{
    char path[256];
    blob_path(dir, sha, path, sizeof(path));
    int w = open(path, O_WRONLY);
    assert_true(w >= 0);
    assert_int_equal(pwrite(w, "\xde\xad\xbe\xef", 4, offset), 4);
    close(w);
}

static int open_result(struct store *st, const char *sha)
{
    int fd;
    uint64_t size;
    int r = store_open_blob(st, sha, &fd, &size);
    if (r == 0)
        close(fd);
    return r;
}

static void test_damaged_blob_is_refused(void **state)
{
    char dir[64];
    assert_int_equal(fixture_tmpdir(dir), 0);
    log_set_level(LOG_LEVEL_ERROR);
    struct store *st, *other;
    assert_int_equal(store_open(dir, &st), 0);
    char sha[65];
    put_blob(st, 70000, 1, sha);
    assert_int_equal(open_result(st, sha), 0); /* checked and remembered */

    /* Damaged before a handle first opens it: refused, every time. */
    damage_in_place(dir, sha, 1000);
    assert_int_equal(store_open(dir, &other), 0);
    assert_int_equal(open_result(other, sha), -EBADMSG);
    assert_int_equal(open_result(other, sha), -EBADMSG);
    store_free(other);

    /* The same handle after the file was replaced by a damaged copy (another inode). */
    char path[256], tmp[300];
    blob_path(dir, sha, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s/tmp/copy", dir);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(file_read_all(path, 1 << 20, &bytes, &len), 0);
    assert_int_equal(file_write_atomic(tmp, bytes, len, 0640), 0);
    free(bytes);
    assert_int_equal(rename(tmp, path), 0);
    assert_int_equal(open_result(st, sha), -EBADMSG);

    /* A put of the right bytes writes it again, and it is served again. */
    char again[65];
    put_blob(st, 70000, 1, again);
    assert_string_equal(again, sha);
    assert_int_equal(open_result(st, sha), 0);

    /*
     * Written in place after this handle checked it: the write moves the
     * file's ctime, so it is hashed again. File times tick coarsely (a few
     * ms), hence the pause between the check and the write.
     */
    struct timespec pause = {0, 30 * 1000000L};
    nanosleep(&pause, NULL);
    damage_in_place(dir, sha, 69990);
    assert_int_equal(open_result(st, sha), -EBADMSG);
    store_free(st);
    fixture_rmdir(dir);
}

struct seen_checks {
    char names[16][140];
    int results[16];
    int count;
};

static void collect(void *ctx, const struct store_blob_check *check)
{
    struct seen_checks *c = ctx;
    assert_true(c->count < 16);
    snprintf(c->names[c->count], sizeof(c->names[0]), "%s", check->name);
    c->results[c->count++] = check->result;
}

static int result_of(const struct seen_checks *c, const char *name)
{
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->results[i];
    fail_msg("store_verify_all did not report %s", name);
    return 1;
}

static void test_verify_all_lists_each_bad_file(void **state)
{
    char dir[64];
    assert_int_equal(fixture_tmpdir(dir), 0);
    log_set_level(LOG_LEVEL_ERROR);
    struct store *st;
    assert_int_equal(store_open(dir, &st), 0);
    char good[65], bad[65], moved[65];
    put_blob(st, 5000, 1, good);
    put_blob(st, 6000, 2, bad);
    put_blob(st, 7000, 3, moved);
    damage_in_place(dir, bad, 10);

    /* Files that are not blobs: a stray name, a blob in the wrong folder, a stray top-level file.
     */
    char path[300], wrong[300];
    snprintf(path, sizeof(path), "%s/blobs/%.2s/notes.txt", dir, good);
    assert_int_equal(file_write_atomic(path, "x", 1, 0640), 0);
    blob_path(dir, moved, path, sizeof(path));
    snprintf(wrong, sizeof(wrong), "%s/blobs/%.2s/%s", dir, good, moved);
    if (strncmp(good, moved, 2) != 0)
        assert_int_equal(rename(path, wrong), 0);
    snprintf(path, sizeof(path), "%s/blobs/README", dir);
    assert_int_equal(file_write_atomic(path, "x", 1, 0640), 0);

    struct seen_checks c = {.count = 0};
    int n = store_verify_all(st, collect, &c);
    char rel[140];
    assert_int_equal(result_of(&c, good), 0);
    assert_int_equal(result_of(&c, bad), -EBADMSG);
    snprintf(rel, sizeof(rel), "%.2s/notes.txt", good);
    assert_int_equal(result_of(&c, rel), -EINVAL);
    assert_int_equal(result_of(&c, "README"), -EINVAL);
    if (strncmp(good, moved, 2) != 0) {
        snprintf(rel, sizeof(rel), "%.2s/%s", good, moved);
        assert_int_equal(result_of(&c, rel), -EINVAL);
        assert_int_equal(n, 4);
        assert_int_equal(c.count, 5);
    } else {
        assert_int_equal(n, 3);
        assert_int_equal(c.count, 5);
    }
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

/*
 * A cache's damaged file is removed: one of the wrong size on a size check,
 * one altered in place only when its bytes are checked; an intact one, or a
 * name with no file, is left as it is.
 */
static void test_drop_damaged(void **state)
{
    char dir[64], path[256];
    assert_int_equal(fixture_tmpdir(dir), 0);
    log_set_level(LOG_LEVEL_ERROR);
    struct store *st;
    assert_int_equal(store_open(dir, &st), 0);
    char sha[65];
    put_blob(st, 70000, 2, sha);
    blob_path(dir, sha, path, sizeof(path));
    assert_int_equal(store_drop_damaged(st, sha, 70000, true), 0);
    assert_int_equal(store_drop_damaged(st, "zz", 70000, true), -EINVAL);

    damage_in_place(dir, sha, 5000); /* same size: only the hash tells */
    assert_int_equal(store_drop_damaged(st, sha, 70000, false), 0);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(store_drop_damaged(st, sha, 70000, true), 1);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(store_drop_damaged(st, sha, 70000, true), -ENOENT);

    put_blob(st, 70000, 2, sha); /* fetched again: intact, kept */
    assert_int_equal(store_drop_damaged(st, sha, 70000, true), 0);
    assert_int_equal(open_result(st, sha), 0);
    assert_int_equal(truncate(path, 1000), 0); /* cut short: the size alone tells */
    assert_int_equal(store_drop_damaged(st, sha, 70000, false), 1);
    assert_int_not_equal(access(path, F_OK), 0);
    store_free(st);
    fixture_rmdir(dir);
}

/* The names test_remove_unused calls used. */
static const char *used_name;

static bool is_used(void *ctx, const char *sha256)
{
    (void)ctx;
    return strcmp(sha256, used_name) == 0;
}

/* Sets the last write of the blob SHA of the store in DIR AGE_S seconds back. */
static void age_blob(const char *dir, const char *sha, time_t age_s)
{
    char path[256];
    blob_path(dir, sha, path, sizeof(path));
    struct utimbuf old = {.actime = time(NULL) - age_s, .modtime = time(NULL) - age_s};
    assert_int_equal(utime(path, &old), 0);
}

/* Only old blobs no release uses go; a used one, a young one and a stray file stay. */
static void test_remove_unused(void **state)
{
    char dir[64], path[256], stray[256];
    assert_int_equal(fixture_tmpdir(dir), 0);
    struct store *st;
    assert_int_equal(store_open(dir, &st), 0);
    char used[65], old[65], young[65];
    put_blob(st, 1000, 3, used);
    put_blob(st, 1000, 4, old);
    put_blob(st, 1000, 5, young);
    age_blob(dir, used, 7200);
    age_blob(dir, old, 7200);
    age_blob(dir, young, 60);
    snprintf(stray, sizeof(stray), "%s/blobs/%.2s/not-a-blob", dir, used);
    assert_int_equal(file_write_atomic(stray, (const uint8_t *)"x", 1, 0640), 0);
    struct utimbuf ancient = {.actime = time(NULL) - 7200, .modtime = time(NULL) - 7200};
    assert_int_equal(utime(stray, &ancient), 0);

    used_name = used;
    size_t removed = 99;
    assert_int_equal(store_remove_unused(st, is_used, NULL, 3600, &removed), 0);
    assert_int_equal(removed, 1);
    blob_path(dir, old, path, sizeof(path));
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(open_result(st, used), 0);
    assert_int_equal(open_result(st, young), 0);
    assert_int_equal(access(stray, F_OK), 0);
    assert_int_equal(store_remove_unused(st, is_used, NULL, 3600, &removed), 0);
    assert_int_equal(removed, 0);
    store_free(st);
    fixture_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_open_and_repair),
        cmocka_unit_test(test_damaged_blob_is_refused),
        cmocka_unit_test(test_verify_all_lists_each_bad_file),
        cmocka_unit_test(test_tmp_cleanup_spares_young_files),
        cmocka_unit_test(test_drop_damaged),
        cmocka_unit_test(test_remove_unused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
