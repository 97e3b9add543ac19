/*
 * Content-addressed blobs on the local filesystem (store.h). The two-level
 * layout (first two hex digits as a folder) keeps folders small for large
 * catalogs. The files this handle has checked are kept in an array sorted
 * by name, with the identity of the file that was hashed and the verdict.
 * A cache (several nodes) also drops damaged and unused files here; which
 * blobs are used, and that a dropped one is fetched again, is the caller's.
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/util.h"
#include "core/digest.h"
#include "core/files.h"

/* A blob file this handle hashed: which file (a changed file is hashed again) and the verdict. */
struct blob_seen {
    char sha256[SHA256_HEX_LEN + 1];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec ctime;
    bool good;
};

struct store {
    char blobs[PATH_MAX];
    char tmp[PATH_MAX];
    pthread_mutex_t seen_lock; /* guards seen */
    struct blob_seen *seen;    /* sorted by sha256 */
    size_t seen_count, seen_cap;
    pthread_mutex_t verify_lock; /* one blob is read and hashed at a time: bounded memory */
    bool cache;                  /* a cache of the database's blobs (store_set_cache) */
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
        goto fail_free;
    if ((r = dir_create_all(s->blobs, 0750)) < 0 || (r = dir_create_all(s->tmp, 0750)) < 0) {
        log_error("store: cannot create folders below \"%s\": %s", data_dir, strerror(-r));
        goto fail_free;
    }
    if ((r = -pthread_mutex_init(&s->seen_lock, NULL)) < 0)
        goto fail_free;
    if ((r = -pthread_mutex_init(&s->verify_lock, NULL)) < 0)
        goto fail_seen_lock;
    clean_tmp(s->tmp);
    *ret_store = s;
    return 0;
fail_seen_lock:
    pthread_mutex_destroy(&s->seen_lock);
fail_free:
    free(s);
    return r;
}

void store_set_cache(struct store *store, bool cache)
{
    store->cache = cache;
}

void store_free(struct store *store)
{
    if (!store)
        return;
    pthread_mutex_destroy(&store->verify_lock);
    pthread_mutex_destroy(&store->seen_lock);
    free(store->seen);
    free(store);
}

static bool lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool is_blob_name(const char *sha256)
{
    return strlen(sha256) == SHA256_HEX_LEN && lower_hex(sha256, SHA256_HEX_LEN);
}

static int blob_path(const struct store *store, const char *sha256, char *out, size_t size)
{
    if (!is_blob_name(sha256))
        return -EINVAL;
    if (snprintf(out, size, "%s/%.2s/%s", store->blobs, sha256, sha256) >= (int)size)
        return -ENAMETOOLONG;
    return 0;
}

int store_has(const struct store *store, const char *sha256)
{
    if (!is_blob_name(sha256))
        return -EINVAL;
    char path[PATH_MAX];
    int r = blob_path(store, sha256, path, sizeof(path));
    if (r < 0)
        return r;
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    return errno == ENOENT ? 0 : -errno;
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
    r = files_write_all(fd, data, len);
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

/*
 * Reads SIZE bytes of FD and writes their SHA-256 to RET_SHA256. Returns 0,
 * -EIO when the file is shorter than SIZE (it changed under us), or -errno.
 */
static int hash_fd(int fd, uint64_t size, char ret_sha256[SHA256_HEX_LEN + 1])
{
    uint8_t *data = malloc(size ? (size_t)size : 1);
    if (!data)
        return -ENOMEM;
    int r = 0;
    for (size_t got = 0; got < size;) {
        ssize_t n = pread(fd, data + got, (size_t)size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            break;
        }
        got += (size_t)n;
    }
    if (r == 0)
        digest_sha256_hex(data, (size_t)size, ret_sha256);
    free(data);
    return r;
}

/*
 * Whether the file ST, named SHA256, holds what its name says: 0 or
 * -EBADMSG, from the bytes of FD (logging a mismatch), or -errno when they
 * cannot be read.
 */
static int check_blob(int fd, const struct stat *st, const char *sha256, bool cache)
{
    if ((uint64_t)st->st_size > LIMIT_BLOB_BYTES) {
        log_error("store: blob %s has %llu bytes, more than any blob otad writes: not serving it",
                  sha256, (unsigned long long)st->st_size);
        return -EBADMSG;
    }
    char have[SHA256_HEX_LEN + 1];
    int r = hash_fd(fd, (uint64_t)st->st_size, have);
    if (r < 0)
        return r;
    if (strcmp(have, sha256) == 0)
        return 0;
    if (cache)
        log_error("store: blob %s is damaged (its %llu bytes hash to %s): not serving it", sha256,
                  (unsigned long long)st->st_size, have);
    else
        log_error("store: blob %s is damaged (its %llu bytes hash to %s): not serving it; restore "
                  "the file from a backup (otad store verify lists every damaged blob)",
                  sha256, (unsigned long long)st->st_size, have);
    return -EBADMSG;
}

static bool same_file(const struct blob_seen *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* The index of SHA256 in store->seen, or where it belongs (*RET_FOUND false). Lock held. */
static size_t seen_find(const struct store *store, const char *sha256, bool *ret_found)
{
    size_t lo = 0, hi = store->seen_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(store->seen[mid].sha256, sha256);
        if (c == 0) {
            *ret_found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *ret_found = false;
    return lo;
}

/* What this handle knows of the file ST named SHA256: 1 good, 0 damaged, -ENOENT not checked. */
static int seen_verdict(struct store *store, const char *sha256, const struct stat *st)
{
    pthread_mutex_lock(&store->seen_lock);
    bool found;
    size_t i = seen_find(store, sha256, &found);
    int v = found && same_file(&store->seen[i], st) ? store->seen[i].good : -ENOENT;
    pthread_mutex_unlock(&store->seen_lock);
    return v;
}

/* Remembers the verdict on the file ST named SHA256 (forgotten when memory runs out). */
static void seen_remember(struct store *store, const char *sha256, const struct stat *st, bool good)
{
    pthread_mutex_lock(&store->seen_lock);
    bool found;
    size_t i = seen_find(store, sha256, &found);
    if (!found) {
        if (store->seen_count == store->seen_cap) {
            size_t cap = store->seen_cap ? store->seen_cap * 2 : 64;
            struct blob_seen *n = realloc(store->seen, cap * sizeof(*n));
            if (!n)
                goto out;
            store->seen = n;
            store->seen_cap = cap;
        }
        memmove(&store->seen[i + 1], &store->seen[i],
                (store->seen_count - i) * sizeof(*store->seen));
        store->seen_count++;
    }
    struct blob_seen *e = &store->seen[i];
    memcpy(e->sha256, sha256, sizeof(e->sha256));
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->ctime = st->st_ctim;
    e->good = good;
out:
    pthread_mutex_unlock(&store->seen_lock);
}

/*
 * Whether the open file FD (ST), named SHA256, holds what its name says: 1,
 * 0 (damaged), or -errno when it cannot be read. Hashes it on first sight
 * only, once, whoever else asks meanwhile.
 */
static int blob_verdict(struct store *store, const char *sha256, int fd, const struct stat *st)
{
    int verdict = seen_verdict(store, sha256, st);
    if (verdict != -ENOENT)
        return verdict;
    pthread_mutex_lock(&store->verify_lock);
    verdict = seen_verdict(store, sha256, st);
    if (verdict == -ENOENT) {
        int r = check_blob(fd, st, sha256, store->cache);
        if (r == 0 || r == -EBADMSG)
            seen_remember(store, sha256, st, r == 0);
        verdict = r == 0 || r == -EBADMSG ? r == 0 : r;
    }
    pthread_mutex_unlock(&store->verify_lock);
    return verdict;
}

/* Opens blob SHA256's file (PATH, PATH_MAX bytes) into *RET_FD with its *RET_ST. -errno. */
static int open_blob_file(struct store *store, const char *sha256, char *path, int *ret_fd,
                          struct stat *ret_st)
{
    int r = blob_path(store, sha256, path, PATH_MAX);
    if (r < 0)
        return r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, ret_st) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

int store_open_blob(struct store *store, const char *sha256, int *ret_fd, uint64_t *ret_size)
{
    char path[PATH_MAX];
    struct stat st;
    int fd, r = open_blob_file(store, sha256, path, &fd, &st);
    if (r < 0)
        return r;
    int verdict = blob_verdict(store, sha256, fd, &st);
    if (verdict <= 0) {
        close(fd);
        return verdict < 0 ? verdict : -EBADMSG;
    }
    *ret_fd = fd;
    *ret_size = (uint64_t)st.st_size;
    return 0;
}

int store_drop_damaged(struct store *store, const char *sha256, uint64_t size, bool check_bytes)
{
    char path[PATH_MAX];
    struct stat st, now;
    int fd, r = open_blob_file(store, sha256, path, &fd, &st);
    if (r < 0)
        return r;
    int verdict = 1;
    if ((uint64_t)st.st_size != size)
        verdict = 0;
    else if (check_bytes)
        verdict = blob_verdict(store, sha256, fd, &st);
    close(fd);
    if (verdict != 0)
        return verdict < 0 ? verdict : 0;
    /* Still the file judged (not one a fetch renamed into place since)? Then it goes. */
    if (stat(path, &now) < 0)
        return -errno;
    if (now.st_dev != st.st_dev || now.st_ino != st.st_ino)
        return 0;
    if (unlink(path) < 0) {
        r = -errno;
        log_error("store: cannot remove damaged blob %s: %s", sha256, strerror(-r));
        return r;
    }
    return 1;
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

static int no_dots(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int store_remove_unused(struct store *store, bool (*used)(void *ctx, const char *sha256), void *ctx,
                        int64_t min_age_s, size_t *ret_removed)
{
    struct dirent **top;
    int n = scandir(store->blobs, &top, no_dots, alphasort);
    if (n < 0)
        return -errno;
    time_t now = time(NULL);
    size_t removed = 0;
    for (int i = 0; i < n; i++) {
        const char *sub = top[i]->d_name;
        char dir[PATH_MAX];
        struct dirent **files;
        int m = -1;
        if (strlen(sub) == 2 && lower_hex(sub, 2) &&
            snprintf(dir, sizeof(dir), "%s/%s", store->blobs, sub) < (int)sizeof(dir))
            m = scandir(dir, &files, no_dots, alphasort);
        for (int j = 0; j < m; j++) {
            const char *name = files[j]->d_name;
            char path[PATH_MAX];
            struct stat st;
            if (is_blob_name(name) && strncmp(name, sub, 2) == 0 && !used(ctx, name) &&
                snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
                lstat(path, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > min_age_s) {
                if (unlink(path) == 0)
                    removed++;
                else
                    log_error("store: cannot remove unused blob %s: %s", name, strerror(errno));
            }
            free(files[j]);
        }
        if (m >= 0)
            free(files);
        free(top[i]);
    }
    free(top);
    *ret_removed = removed;
    return 0;
}

/* Checks the file DIR/NAME (PREFIX: its folder's name, or NULL at the top) for store_verify_all. */
static int verify_one(const char *dir, const char *prefix, const char *name,
                      void (*fn)(void *ctx, const struct store_blob_check *check), void *ctx)
{
    char path[PATH_MAX], rel[2 * NAME_MAX + 2];
    snprintf(rel, sizeof(rel), "%s%s%s", prefix ? prefix : "", prefix ? "/" : "", name);
    struct store_blob_check c = {.name = rel, .result = 0};
    struct stat st;
    int fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        c.result = -ENAMETOOLONG;
    } else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        c.result = errno == ELOOP ? -EINVAL : -errno;
    } else if (fstat(fd, &st) < 0) {
        c.result = -errno;
    } else if (!S_ISREG(st.st_mode) || !prefix || !is_blob_name(name) ||
               strncmp(name, prefix, 2) != 0) {
        c.size = (uint64_t)st.st_size;
        c.result = -EINVAL;
    } else {
        c.name = name;
        c.size = (uint64_t)st.st_size;
        char have[SHA256_HEX_LEN + 1];
        if ((uint64_t)st.st_size > LIMIT_BLOB_BYTES)
            c.result = -EBADMSG;
        else if ((c.result = hash_fd(fd, c.size, have)) == 0 && strcmp(have, name) != 0)
            c.result = -EBADMSG;
    }
    if (fd >= 0)
        close(fd);
    fn(ctx, &c);
    return c.result == 0 ? 0 : 1;
}

int store_verify_all(struct store *store,
                     void (*fn)(void *ctx, const struct store_blob_check *check), void *ctx)
{
    struct dirent **top;
    int n = scandir(store->blobs, &top, no_dots, alphasort);
    if (n < 0)
        return -errno;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const char *sub = top[i]->d_name;
        char dir[PATH_MAX];
        struct dirent **files;
        int m = -1;
        bool is_folder = strlen(sub) == 2 && lower_hex(sub, 2);
        if (is_folder && snprintf(dir, sizeof(dir), "%s/%s", store->blobs, sub) < (int)sizeof(dir))
            m = scandir(dir, &files, no_dots, alphasort);
        if (m < 0) {
            /* Not a blob folder (or unreadable): report it as the one entry it is. */
            bad += verify_one(store->blobs, NULL, sub, fn, ctx);
        } else {
            for (int j = 0; j < m; j++) {
                bad += verify_one(dir, sub, files[j]->d_name, fn, ctx);
                free(files[j]);
            }
            free(files);
        }
        free(top[i]);
    }
    free(top);
    return bad;
}

int store_import(struct store *store, const char *from_data_dir, const char *sha256,
                 uint64_t *ret_size)
{
    if (!is_blob_name(sha256))
        return -EINVAL;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", from_data_dir, sha256, sha256) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    /* Whole in memory, as store_put takes it: what is hashed is exactly what is written. */
    uint8_t *data;
    size_t len;
    int r = file_read_all(path, LIMIT_BLOB_BYTES, &data, &len);
    if (r < 0)
        return r;
    char have[SHA256_HEX_LEN + 1];
    digest_sha256_hex(data, len, have);
    if (strcmp(have, sha256) != 0) {
        free(data);
        return -EBADMSG;
    }
    char stored[SHA256_HEX_LEN + 1];
    r = store_put(store, data, len, stored);
    free(data);
    if (r == 0)
        *ret_size = len;
    return r;
}

int store_import_all(struct store *store, const char *from_data_dir, uint64_t *ret_count,
                     uint64_t *ret_bytes, char ret_failed[65])
{
    ret_failed[0] = 0;
    char blobs[PATH_MAX];
    if (snprintf(blobs, sizeof(blobs), "%s/blobs", from_data_dir) >= (int)sizeof(blobs))
        return -ENAMETOOLONG;
    struct dirent **top;
    int n = scandir(blobs, &top, no_dots, alphasort);
    if (n < 0)
        return errno == ENOENT ? 0 : -errno; /* a data folder with no blob yet */
    int r = 0;
    for (int i = 0; i < n; i++) {
        const char *sub = top[i]->d_name;
        char dir[PATH_MAX];
        struct dirent **files;
        int m = -1;
        if (r == 0 && strlen(sub) == 2 && lower_hex(sub, 2) &&
            snprintf(dir, sizeof(dir), "%s/%s", blobs, sub) < (int)sizeof(dir))
            m = scandir(dir, &files, no_dots, alphasort);
        for (int j = 0; j < m; j++) {
            const char *name = files[j]->d_name;
            uint64_t size = 0;
            if (r == 0 && is_blob_name(name) && strncmp(name, sub, 2) == 0) {
                if ((r = store_import(store, from_data_dir, name, &size)) < 0) {
                    memcpy(ret_failed, name, SHA256_HEX_LEN + 1);
                } else {
                    (*ret_count)++;
                    *ret_bytes += size;
                }
            }
            free(files[j]);
        }
        if (m >= 0)
            free(files);
        free(top[i]);
    }
    free(top);
    return r;
}
