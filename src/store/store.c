/*
 * Content-addressed blobs on the local filesystem (store.h). The two-level
 * layout (first two hex digits as a folder) keeps folders small for large
 * catalogs.
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "core/digest.h"

struct store {
    char blobs[PATH_MAX];
    char tmp[PATH_MAX];
};

/*
 * A temporary file this old was left by an interrupted write: a blob is
 * written and renamed within seconds. Younger ones may belong to another
 * process on the same folder (the daemon publishing while a CLI command
 * opens the store), so they are left alone.
 */
#define STORE_TMP_STALE_S (60 * 60)

static void clean_tmp(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name) >= (int)sizeof(path) ||
            lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || now - st.st_mtime < STORE_TMP_STALE_S)
            continue;
        if (unlink(path) == 0)
            log_info("store: removed \"%s\" left by an interrupted write", path);
    }
    closedir(d);
}

int store_open(const char *data_dir, struct store **ret_store)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int r = -ENAMETOOLONG;
    if (snprintf(s->blobs, sizeof(s->blobs), "%s/blobs", data_dir) >= (int)sizeof(s->blobs) ||
        snprintf(s->tmp, sizeof(s->tmp), "%s/tmp", data_dir) >= (int)sizeof(s->tmp))
        goto fail;
    if ((r = dir_create_all(s->blobs, 0750)) < 0 || (r = dir_create_all(s->tmp, 0750)) < 0) {
        log_error("store: cannot create folders below \"%s\": %s", data_dir, strerror(-r));
        goto fail;
    }
    clean_tmp(s->tmp);
    *ret_store = s;
    return 0;
fail:
    free(s);
    return r;
}

void store_free(struct store *store)
{
    free(store);
}

static bool is_blob_name(const char *sha256)
{
    if (strlen(sha256) != SHA256_HEX_LEN)
        return false;
    for (const char *p = sha256; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static int blob_path(const struct store *store, const char *sha256, char *out, size_t size)
{
    if (!is_blob_name(sha256))
        return -EINVAL;
    if (snprintf(out, size, "%s/%.2s/%s", store->blobs, sha256, sha256) >= (int)size)
        return -ENAMETOOLONG;
    return 0;
}

static int write_all(int fd, const uint8_t *data, size_t len)
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

int store_put(struct store *store, const uint8_t *data, size_t len, char ret_sha256[65])
{
    char sha[SHA256_HEX_LEN + 1];
    digest_sha256_hex(data, len, sha);
    char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX];
    int r = blob_path(store, sha, path, sizeof(path));
    if (r < 0)
        return r;
    /* Already stored? Only if its bytes still hash to its name; else it is written again. */
    uint8_t *have = NULL;
    size_t have_len = 0;
    if (file_read_all(path, len, &have, &have_len) == 0) {
        char have_sha[SHA256_HEX_LEN + 1];
        digest_sha256_hex(have, have_len, have_sha);
        free(have);
        if (have_len == len && strcmp(have_sha, sha) == 0) {
            memcpy(ret_sha256, sha, sizeof(sha));
            return 0;
        }
        log_warn("store: blob %s on disk does not match its name; writing it again", sha);
    }
    if (snprintf(dir, sizeof(dir), "%s/%.2s", store->blobs, sha) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        return -errno;

    uint64_t nonce;
    if ((r = random_bytes(&nonce, sizeof(nonce))) < 0)
        return r;
    if (snprintf(tmp, sizeof(tmp), "%s/%s.%016llx", store->tmp, sha, (unsigned long long)nonce) >=
        (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        log_error("store: cannot write blob %s: %s", sha, strerror(-r));
        return r;
    }
    /* Make the new name durable: the blob's folder, and blobs/ which may have gained it. */
    if ((r = dir_fsync(dir)) < 0 || (r = dir_fsync(store->blobs)) < 0) {
        log_error("store: cannot sync blob folder for %s: %s", sha, strerror(-r));
        return r;
    }
    memcpy(ret_sha256, sha, sizeof(sha));
    return 0;
}

int store_open_blob(struct store *store, const char *sha256, int *ret_fd, uint64_t *ret_size)
{
    char path[PATH_MAX];
    int r = blob_path(store, sha256, path, sizeof(path));
    if (r < 0)
        return r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    *ret_fd = fd;
    *ret_size = (uint64_t)st.st_size;
    return 0;
}

int store_read_blob(struct store *store, const char *sha256, size_t max, uint8_t **ret_data,
                    size_t *ret_len)
{
    char path[PATH_MAX];
    int r = blob_path(store, sha256, path, sizeof(path));
    if (r < 0)
        return r;
    return file_read_all(path, max, ret_data, ret_len);
}
