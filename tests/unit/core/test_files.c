/*
 * Unit tests for src/core/files.c: a copied tree has the bytes and the
 * permission bits of the original, folders included (a private key's 0600,
 * tls/'s 0700); a copy never overwrites; a symbolic link is copied as the
 * file it names; removal takes a whole tree and leaves a link's target;
 * the emptiness test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/files.h"

struct tree {
    char root[64];
};

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static mode_t mode_of(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void assert_text(const char *dir, const char *name, const char *want)
{
    char path[256], got[128] = "";
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = 0;
    fclose(f);
    assert_string_equal(got, want);
}

static int setup(void **state)
{
    struct tree *t = calloc(1, sizeof(*t));
    snprintf(t->root, sizeof(t->root), "/tmp/otad-test-files-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tree *t = *state;
    files_remove_tree(t->root);
    free(t);
    return 0;
}

static void test_copy_tree_keeps_bytes_and_modes(void **state)
{
    struct tree *t = *state;
    char src[128], dst[128], sub[160], dsub[160];
    snprintf(src, sizeof(src), "%s/keys", t->root);
    snprintf(dst, sizeof(dst), "%s/copy", t->root);
    snprintf(sub, sizeof(sub), "%s/tls", src);
    snprintf(dsub, sizeof(dsub), "%s/tls", dst);
    assert_int_equal(mkdir(src, 0750), 0);
    assert_int_equal(chmod(src, 0750), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(src, "k1.key", "private", 0600);
    write_file(src, "k1.pub", "public", 0644);
    write_file(sub, "ca.key", "ca", 0640);

    uint64_t files = 0, bytes = 0;
    assert_int_equal(files_copy_tree(src, dst, &files, &bytes), 0);
    assert_int_equal(files, 3);
    assert_int_equal(bytes, strlen("private") + strlen("public") + strlen("ca"));
    assert_text(dst, "k1.key", "private");
    assert_text(dst, "k1.pub", "public");
    assert_text(dsub, "ca.key", "ca");
    assert_int_equal(mode_of(dst, "k1.key"), 0600);
    assert_int_equal(mode_of(dst, "k1.pub"), 0644);
    assert_int_equal(mode_of(dsub, "ca.key"), 0640);
    assert_int_equal(mode_of(t->root, "copy"), 0750);
    assert_int_equal(mode_of(dst, "tls"), 0700);

    /* Never over something that exists: a folder, or a file. */
    assert_int_equal(files_copy_tree(src, dst, NULL, NULL), -EEXIST);
    char file_dst[200];
    snprintf(file_dst, sizeof(file_dst), "%s/k1.key", dst);
    char file_src[200];
    snprintf(file_src, sizeof(file_src), "%s/k1.pub", src);
    assert_int_equal(files_copy(file_src, file_dst, NULL), -EEXIST);
    assert_text(dst, "k1.key", "private");
    assert_int_equal(files_copy(src, file_dst, NULL), -EISDIR);
}

static void test_link_copied_as_its_target_and_never_removed_through(void **state)
{
    struct tree *t = *state;
    char src[128], dst[128], target[128], link_path[200];
    snprintf(src, sizeof(src), "%s/src", t->root);
    snprintf(dst, sizeof(dst), "%s/dst", t->root);
    snprintf(target, sizeof(target), "%s/outside", t->root);
    assert_int_equal(mkdir(src, 0700), 0);
    assert_int_equal(mkdir(target, 0700), 0);
    write_file(target, "real.pem", "cert", 0644);
    snprintf(link_path, sizeof(link_path), "%s/server.pem", src);
    char real[200];
    snprintf(real, sizeof(real), "%s/real.pem", target);
    assert_int_equal(symlink(real, link_path), 0);

    assert_int_equal(files_copy_tree(src, dst, NULL, NULL), 0);
    struct stat st;
    char copied[200];
    snprintf(copied, sizeof(copied), "%s/server.pem", dst);
    assert_int_equal(lstat(copied, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_text(dst, "server.pem", "cert");

    assert_int_equal(files_remove_tree(src), 0);
    assert_int_equal(access(src, F_OK), -1);
    assert_text(target, "real.pem", "cert");     /* the link went, not what it named */
    assert_int_equal(files_remove_tree(src), 0); /* missing: no error */
}

static void test_dir_is_empty(void **state)
{
    struct tree *t = *state;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/e", t->root);
    assert_int_equal(files_dir_is_empty(dir), -ENOENT);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(files_dir_is_empty(dir), 1);
    write_file(dir, ".hidden", "x", 0600);
    assert_int_equal(files_dir_is_empty(dir), 0);
    char file[160];
    snprintf(file, sizeof(file), "%s/.hidden", dir);
    assert_int_equal(files_dir_is_empty(file), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_tree_keeps_bytes_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_copied_as_its_target_and_never_removed_through,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_is_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
