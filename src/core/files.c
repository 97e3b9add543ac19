/*
 * Durable copies and removals of files and folder trees (files.h). Plain
 * POSIX calls, a fixed-size buffer per copy and recursion only as deep as
 * the folders copied (a data folder's keys/ and tls/ are one level). No
 * logging: each caller says what it was copying when a call fails.
 */
#include "core/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

/* Bytes read and written per call while copying a file. */
#define FILES_COPY_CHUNK (64 * 1024)

int files_write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Gives FD the owner and group of ST when this process may; one that may not keeps its own. */
static void keep_owner(int fd, const struct stat *st)
{
    if (fchown(fd, st->st_uid, st->st_gid) < 0) {
        /* EPERM: not root, and not our file; the copy is the copier's, as cp's is */
    }
}

int files_copy(const char *from, const char *to, uint64_t *bytes)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    struct stat st;
    int r = 0;
    if (fstat(in, &st) < 0) {
        r = -errno;
        goto close_in;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EISDIR;
        goto close_in;
    }
    /* Created without any permission for others; its own mode comes once its owner is set. */
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        r = -errno;
        goto close_in;
    }
    uint8_t buf[FILES_COPY_CHUNK];
    uint64_t copied = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        if ((r = files_write_all(out, buf, (size_t)n)) < 0)
            break;
        copied += (uint64_t)n;
    }
    if (r == 0) {
        keep_owner(out, &st);
        if (fchmod(out, st.st_mode & 07777) < 0 || fsync(out) < 0)
            r = -errno;
    }
    if (close(out) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        unlink(to);
    else if (bytes)
        *bytes += copied;
close_in:
    close(in);
    return r;
}

static int join(char *out, size_t size, const char *dir, const char *name)
{
    return snprintf(out, size, "%s/%s", dir, name) >= (int)size ? -ENAMETOOLONG : 0;
}

int files_copy_tree(const char *from, const char *to, uint64_t *files, uint64_t *bytes)
{
    struct stat st;
    if (stat(from, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (mkdir(to, 0700) < 0)
        return -errno;
    DIR *d = opendir(from);
    if (!d)
        return -errno;
    int r = 0;
    struct dirent *e;
    while (r == 0 && (errno = 0, e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char src[PATH_MAX], dst[PATH_MAX];
        struct stat est;
        if ((r = join(src, sizeof(src), from, e->d_name)) < 0 ||
            (r = join(dst, sizeof(dst), to, e->d_name)) < 0)
            break;
        if (stat(src, &est) < 0) {
            r = -errno;
            break;
        }
        if (S_ISDIR(est.st_mode)) {
            r = files_copy_tree(src, dst, files, bytes);
        } else if (S_ISREG(est.st_mode)) {
            r = files_copy(src, dst, bytes);
            if (r == 0 && files)
                (*files)++;
        }
    }
    if (r == 0 && errno != 0)
        r = -errno;
    closedir(d);
    if (r < 0)
        return r;
    int fd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    keep_owner(fd, &st);
    if (fchmod(fd, st.st_mode & 07777) < 0 || fsync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* Calls FN(child path, ARG) for each entry of the folder PATH but . and ..; stops at an error. */
static int each_child(const char *path, int (*fn)(const char *child, void *arg), void *arg)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        if ((r = join(child, sizeof(child), path, e->d_name)) == 0)
            r = fn(child, arg);
    }
    closedir(d);
    return r;
}

static int remove_child(const char *child, void *arg)
{
    (void)arg;
    return files_remove_tree(child);
}

int files_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 ? -errno : 0;
    int r = each_child(path, remove_child, NULL);
    if (r == 0 && rmdir(path) < 0)
        r = -errno;
    return r;
}

struct owner {
    unsigned uid, gid;
};

static int chown_child(const char *child, void *arg)
{
    const struct owner *o = arg;
    return files_chown_tree(child, o->uid, o->gid);
}

int files_chown_tree(const char *path, unsigned uid, unsigned gid)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    if (lchown(path, (uid_t)uid, (gid_t)gid) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return 0;
    struct owner o = {uid, gid};
    return each_child(path, chown_child, &o);
}

int files_sync_parent(const char *path)
{
    char dir[PATH_MAX];
    if (str_copy(dir, sizeof(dir), path) < 0)
        return -ENAMETOOLONG;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return dir_fsync(".");
    if (slash == dir)
        slash[1] = 0;
    else
        *slash = 0;
    return dir_fsync(dir);
}

int files_dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOTDIR ? 0 : -errno;
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}
