/*
 * `otad backup`, `restore` and `check` in the service (backup.h): what a
 * data folder holds and in which order it is copied. The database is
 * copied first, as one snapshot; the blobs are read from that copy's
 * releases, so a publish that lands during the backup is either wholly in
 * it (its blobs were stored before its release row: store first, then the
 * transaction) or not at all. The mechanics are below: db_backup.h (the
 * SQLite file), store.h (blobs, checked against their names) and
 * core/files.h (keys/ and tls/).
 */
#include "service/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/files.h"
#include "core/tls_paths.h"
#include "core/util.h"
#include "db/db.h"
#include "db/db_backup.h"
#include "service/service_internal.h"
#include "store/store.h"

/* The folders of a data folder that are copied as plain files, with their modes. */
static const char *const plain_folders[] = {"keys", TLS_DIR};

#define BACKUP_NAME_PREFIX "otad-"
#define PARTIAL_SUFFIX     ".partial"

static int path_join(char *out, size_t size, const char *dir, const char *name)
{
    return snprintf(out, size, "%s/%s", dir, name) >= (int)size ? -ENAMETOOLONG : 0;
}

/* Copies keys/ and tls/ from FROM to TO when FROM has them. */
static int copy_plain_folders(const char *from, const char *to, struct backup_totals *t,
                              struct reason *why)
{
    for (size_t i = 0; i < ARRAY_SIZE(plain_folders); i++) {
        char src[PATH_MAX], dst[PATH_MAX];
        if (path_join(src, sizeof(src), from, plain_folders[i]) < 0 ||
            path_join(dst, sizeof(dst), to, plain_folders[i]) < 0)
            return reason_set(why, -ENAMETOOLONG, "the folder's name is too long");
        if (access(src, F_OK) != 0)
            continue;
        int r = files_copy_tree(src, dst, &t->files, &t->file_bytes);
        if (r < 0)
            return reason_set(why, r, "cannot copy \"%s\": %s", src, strerror(-r));
    }
    return 0;
}

/* The distinct blobs the database at DB_PATH's releases need, into a sorted, deduplicated USES. */
static int needed_blobs(const char *db_path, struct blob_use **ret_uses, size_t *ret_count,
                        struct reason *why)
{
    struct db *db;
    int r = db_open(db_path, DB_DURABLE, &db);
    if (r < 0)
        return reason_set(why, r, "cannot open the copy of the database \"%s\"", db_path);
    struct blob_use *uses = NULL;
    size_t count = 0;
    r = service_blob_uses(db, &uses, &count, why);
    db_close(db);
    if (r < 0)
        return r;
    size_t distinct = 0;
    for (size_t i = 0; i < count; i++)
        if (distinct == 0 || strcmp(uses[distinct - 1].sha256, uses[i].sha256) != 0)
            uses[distinct++] = uses[i];
    *ret_uses = uses;
    *ret_count = distinct;
    return 0;
}

/* Copies the blobs the database copied into TO needs from FROM's store into TO's. */
static int copy_needed_blobs(const char *from, const char *to, const char *db_copy,
                             struct backup_totals *t, struct reason *why)
{
    struct blob_use *uses = NULL;
    size_t count = 0;
    int r = needed_blobs(db_copy, &uses, &count, why);
    if (r < 0)
        return r;
    struct store *store;
    if ((r = store_open(to, &store)) < 0) {
        free(uses);
        return reason_set(why, r, "cannot make a blob store in \"%s\": %s", to, strerror(-r));
    }
    for (size_t i = 0; r == 0 && i < count; i++) {
        uint64_t size = 0;
        r = store_import(store, from, uses[i].sha256, &size);
        if (r == -EBADMSG)
            reason_set(why, r,
                       "blob %s (%s) is damaged in \"%s\": its bytes do not match its name "
                       "(otad check lists every problem); restore it, then back up again",
                       uses[i].sha256, uses[i].what, from);
        else if (r == -ENOENT)
            reason_set(why, r,
                       "blob %s (%s) is missing from \"%s\" (otad check lists every problem)",
                       uses[i].sha256, uses[i].what, from);
        else if (r < 0)
            reason_set(why, r, "cannot copy blob %s: %s", uses[i].sha256, strerror(-r));
        else {
            t->blobs++;
            t->blob_bytes += size;
        }
    }
    store_free(store);
    free(uses);
    if (r < 0)
        return r;
    /* The store made tmp/ for its writes: a backup has no use for it (a restore makes it again). */
    char tmp[PATH_MAX];
    if (path_join(tmp, sizeof(tmp), to, "tmp") == 0)
        rmdir(tmp);
    return 0;
}

/* Gives the folder TO the mode (and, where the process may, the owner) of FROM, then fsyncs it. */
static int finish_folder(const char *from, const char *to)
{
    struct stat st;
    if (stat(from, &st) < 0)
        return -errno;
    if (chown(to, st.st_uid, st.st_gid) < 0) {
        /* EPERM: not root, and not our folder; the copy stays the copier's */
    }
    if (chmod(to, st.st_mode & 07777) < 0)
        return -errno;
    return dir_fsync(to);
}

/*
 * Run as root, gives the database and blobs/ (and tmp/) in TO the owner of the
 * folder FROM (the data folder when backing up, the backup when restoring):
 * root's copies would leave the otad user serving the folder later unable to
 * write its database, and systemd's StateDirectory= does not fix owners below
 * a folder whose own owner is right. keys/ and tls/ keep their files' own
 * owners (files_copy_tree). Not root: every copy is already the caller's.
 */
static int give_owner(const char *from, const char *to)
{
    static const char *const owned[] = {DB_FILE_NAME, "blobs", "tmp"};
    struct stat st;
    if (geteuid() != 0)
        return 0;
    if (stat(from, &st) < 0)
        return -errno;
    for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
        char path[PATH_MAX];
        struct stat here;
        if (path_join(path, sizeof(path), to, owned[i]) < 0)
            return -ENAMETOOLONG;
        if (lstat(path, &here) < 0)
            continue; /* PostgreSQL: no database here; no blob yet */
        int r = files_chown_tree(path, st.st_uid, st.st_gid);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Whether DEST may become a backup or a restored folder: absent, or an empty folder. */
static int target_free(const char *dest, bool *ret_exists)
{
    struct stat st;
    if (lstat(dest, &st) < 0) {
        if (errno != ENOENT)
            return -errno;
        *ret_exists = false;
        return 0;
    }
    *ret_exists = true;
    int empty = files_dir_is_empty(dest);
    return empty < 0 ? empty : empty ? 0 : -ENOTEMPTY;
}

/* Moves PARTIAL into place as DEST (an empty DEST folder is replaced) and makes it durable. */
static int move_into_place(const char *partial, const char *dest, bool dest_exists)
{
    if (dest_exists && rmdir(dest) < 0)
        return -errno;
    if (rename(partial, dest) < 0)
        return -errno;
    return files_sync_parent(dest);
}

int service_backup(const struct config *config, const char *dest, struct backup_totals *ret_totals,
                   struct reason *why)
{
    int64_t start = time_mono_ms();
    struct backup_totals t = {0};
    char partial[PATH_MAX], db_path[PATH_MAX], db_copy[PATH_MAX];
    if (snprintf(partial, sizeof(partial), "%s" PARTIAL_SUFFIX, dest) >= (int)sizeof(partial) ||
        db_location(NULL, config->data_dir, db_path, sizeof(db_path)) < 0 ||
        path_join(db_copy, sizeof(db_copy), partial, DB_FILE_NAME) < 0)
        return reason_set(why, -ENAMETOOLONG, "the backup's or the data folder's name is too long");
    struct stat st;
    if (stat(config->data_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return reason_set(why, -ENOENT, "no data folder at \"%s\" (is --data-dir right?)",
                          config->data_dir);
    bool postgresql = db_location_is_postgresql(config->database);
    if (!postgresql && access(db_path, F_OK) != 0)
        return reason_set(why, -ENOENT, "no otad database at \"%s\" (is --data-dir right?)",
                          db_path);
    bool dest_exists;
    int r = target_free(dest, &dest_exists);
    if (r == -ENOTEMPTY)
        return reason_set(why, -EEXIST,
                          "\"%s\" exists: a backup goes into a new folder (or an empty one)", dest);
    if (r < 0)
        return reason_set(why, r, "cannot look at \"%s\": %s", dest, strerror(-r));
    if (access(partial, F_OK) == 0)
        return reason_set(why, -EEXIST,
                          "\"%s\" exists: an interrupted (or running) backup left it; remove it "
                          "and try again",
                          partial);
    /* No one but the owner reads it while it is written: it will hold keys. */
    if (mkdir(partial, 0700) < 0)
        return reason_set(why, -errno, "cannot create \"%s\": %s", partial, strerror(errno));

    if (!postgresql) {
        if ((r = db_sqlite_backup(db_path, db_copy, &t.database_bytes, why)) < 0)
            goto fail;
        t.database_copied = true;
        if ((r = copy_needed_blobs(config->data_dir, partial, db_copy, &t, why)) < 0)
            goto fail;
    }
    if ((r = copy_plain_folders(config->data_dir, partial, &t, why)) < 0)
        goto fail;
    if ((r = give_owner(config->data_dir, partial)) < 0) {
        reason_set(why, r, "cannot give the backup the data folder's owner: %s", strerror(-r));
        goto fail;
    }
    if ((r = finish_folder(config->data_dir, partial)) < 0) {
        reason_set(why, r, "cannot finish \"%s\": %s", partial, strerror(-r));
        goto fail;
    }
    if ((r = move_into_place(partial, dest, dest_exists)) < 0) {
        reason_set(why, r, "cannot rename \"%s\" to \"%s\": %s", partial, dest, strerror(-r));
        goto fail;
    }
    t.elapsed_ms = time_mono_ms() - start;
    *ret_totals = t;
    return 0;
fail:
    files_remove_tree(partial);
    return r;
}

void backup_rotation_name(int64_t now_ms, char *out, size_t size)
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[24];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, size, BACKUP_NAME_PREFIX "%s", stamp);
}

/* The length of a rotation name: "otad-" + 20261129T031500Z. */
#define ROTATION_NAME_LEN (sizeof(BACKUP_NAME_PREFIX) - 1 + 16)

/* Whether NAME is a rotation name; with PARTIAL, one followed by ".partial". */
static bool rotation_name(const char *name, bool partial)
{
    size_t len = strlen(name);
    if (len != ROTATION_NAME_LEN + (partial ? sizeof(PARTIAL_SUFFIX) - 1 : 0) ||
        strncmp(name, BACKUP_NAME_PREFIX, sizeof(BACKUP_NAME_PREFIX) - 1) != 0 ||
        (partial && strcmp(name + ROTATION_NAME_LEN, PARTIAL_SUFFIX) != 0))
        return false;
    const char *stamp = name + sizeof(BACKUP_NAME_PREFIX) - 1; /* 20261129T031500Z */
    for (size_t i = 0; i < 16; i++) {
        bool ok = i == 8    ? stamp[i] == 'T'
                  : i == 15 ? stamp[i] == 'Z'
                            : (stamp[i] >= '0' && stamp[i] <= '9');
        if (!ok)
            return false;
    }
    return true;
}

size_t backup_rotation_pick(const char *const *names, size_t count, size_t keep, bool *remove)
{
    size_t marked = 0;
    const char *newest = NULL;
    for (size_t i = 0; i < count; i++) {
        remove[i] = false;
        if (!rotation_name(names[i], false))
            continue;
        if (!newest || strcmp(names[i], newest) > 0)
            newest = names[i];
        /* Newer whole backups than this one: the same stamp format sorts as time does. */
        size_t newer = 0;
        for (size_t j = 0; j < count; j++)
            if (j != i && rotation_name(names[j], false) && strcmp(names[j], names[i]) > 0)
                newer++;
        if (newer >= keep) {
            remove[i] = true;
            marked++;
        }
    }
    for (size_t i = 0; newest && i < count; i++)
        if (rotation_name(names[i], true) && strncmp(names[i], newest, ROTATION_NAME_LEN) < 0) {
            remove[i] = true;
            marked++;
        }
    return marked;
}

int service_backup_rotate(const struct config *config, const char *dir, size_t keep, char *ret_dest,
                          size_t size, size_t *ret_removed, struct backup_totals *ret_totals,
                          struct reason *why)
{
    char name[ROTATION_NAME_LEN + 8], dest[PATH_MAX];
    backup_rotation_name(time_now_ms(), name, sizeof(name));
    if (path_join(dest, sizeof(dest), dir, name) < 0 || str_copy(ret_dest, size, dest) < 0)
        return reason_set(why, -ENAMETOOLONG, "the backup folder's name is too long");
    int r = dir_create_all(dir, 0750);
    if (r < 0)
        return reason_set(why, r, "cannot create \"%s\": %s", dir, strerror(-r));
    if ((r = service_backup(config, dest, ret_totals, why)) < 0)
        return r;
    *ret_removed = 0;
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort);
    if (n < 0) {
        reason_set(why, -errno, "backed up, but cannot list \"%s\" to remove old backups: %s", dir,
                   strerror(errno));
        return 0;
    }
    const char **names = calloc((size_t)n + 1, sizeof(*names));
    bool *remove = calloc((size_t)n + 1, sizeof(*remove));
    if (names && remove) {
        for (int i = 0; i < n; i++)
            names[i] = entries[i]->d_name;
        backup_rotation_pick(names, (size_t)n, keep, remove);
        for (int i = 0; i < n; i++) {
            char path[PATH_MAX];
            if (!remove[i] || path_join(path, sizeof(path), dir, names[i]) < 0)
                continue;
            if ((r = files_remove_tree(path)) < 0)
                reason_set(why, r, "backed up, but cannot remove the old backup \"%s\": %s", path,
                           strerror(-r));
            else
                (*ret_removed)++;
        }
    }
    free(names);
    free(remove);
    for (int i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
    return 0;
}

/* Whether a product's key named NAME is in KEYS_DIR, as its private or its public half. */
static bool key_present(const char *keys_dir, const char *name)
{
    char path[PATH_MAX];
    static const char *const suffixes[] = {".key", ".pub"};
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
        if (snprintf(path, sizeof(path), "%s/%s%s", keys_dir, name, suffixes[i]) <
                (int)sizeof(path) &&
            access(path, F_OK) == 0)
            return true;
    return false;
}

struct checking {
    void (*fn)(void *ctx, const struct check_finding *finding);
    void *ctx;
};

static void blob_found(void *ctx, const struct store_finding *f)
{
    struct checking *c = ctx;
    struct check_finding finding = {.kind = CHECK_BLOB, .blob = f};
    c->fn(c->ctx, &finding);
}

/* Every key PRODUCTS name (to sign; for Secure Boot, a comma-separated list) that KEYS_DIR lacks.
 */
static uint64_t check_keys(struct service *svc, const char *keys_dir, struct checking *c,
                           struct reason *why)
{
    struct product *products = NULL;
    size_t count = 0;
    if (db_product_list(svc->db, &products, &count) < 0) {
        reason_set(why, -EIO, "cannot read the products");
        return 1;
    }
    uint64_t missing = 0;
    for (size_t p = 0; p < count; p++) {
        char names[sizeof(products[p].signing.secure_boot_keys) + sizeof(products[p].signing.key) +
                   1];
        snprintf(names, sizeof(names), "%s,%s", products[p].signing.key,
                 products[p].signing.secure_boot_keys);
        for (char *save = NULL, *name = strtok_r(names, ",", &save); name;
             name = strtok_r(NULL, ",", &save)) {
            if (key_present(keys_dir, name))
                continue;
            missing++;
            struct check_finding f = {.kind = CHECK_KEY, .product = products[p].name, .key = name};
            c->fn(c->ctx, &f);
        }
    }
    free(products);
    return missing;
}

int service_data_check(const struct config *config, const char *data_dir, bool quick,
                       void (*fn)(void *ctx, const struct check_finding *finding), void *ctx,
                       struct check_totals *ret_totals, struct reason *why)
{
    struct config cfg = *config;
    if (str_copy(cfg.data_dir, sizeof(cfg.data_dir), data_dir) < 0)
        return reason_set(why, -ENAMETOOLONG, "the data folder's name is too long");
    char db_path[PATH_MAX], keys_dir[PATH_MAX];
    if (db_location(cfg.database, cfg.data_dir, db_path, sizeof(db_path)) < 0 ||
        path_join(keys_dir, sizeof(keys_dir), cfg.data_dir, "keys") < 0)
        return reason_set(why, -ENAMETOOLONG, "the data folder's name is too long");
    /* Checked before anything opens it: a wrong --data-dir must not become a new data folder. */
    if (!db_location_is_postgresql(db_path) && access(db_path, F_OK) != 0)
        return reason_set(why, -ENOENT, "no otad database at \"%s\" (is --data-dir right?)",
                          db_path);
    /* Opening the store makes blobs/ and tmp/: a check leaves the folder as it found it. */
    static const char *const store_folders[] = {"blobs", "tmp"};
    char made[ARRAY_SIZE(store_folders)][PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(store_folders); i++)
        if (path_join(made[i], sizeof(made[i]), cfg.data_dir, store_folders[i]) < 0 ||
            access(made[i], F_OK) == 0)
            made[i][0] = 0;
    struct checking c = {.fn = fn, .ctx = ctx};
    struct check_totals t = {.database_ok = true};
    struct service *svc;
    int r = service_open(&cfg, SERVICE_LOCAL, &svc);
    if (r < 0) {
        char text[sizeof(why->text) + 64];
        snprintf(text, sizeof(text), "the database cannot be opened: %s", strerror(-r));
        struct check_finding f = {.kind = CHECK_DATABASE, .text = text};
        fn(ctx, &f);
        t.database_ok = false;
        t.problems = 1;
        *ret_totals = t;
        r = 0; /* a finding, not a failure of the check */
        goto out;
    }
    struct reason finding = {""};
    if (db_integrity_check(svc->db, quick, &finding) < 0) {
        struct check_finding f = {.kind = CHECK_DATABASE, .text = finding.text};
        fn(ctx, &f);
        t.database_ok = false;
        t.problems++;
    }
    r = service_store_verify(svc, blob_found, &c, &t.blobs, why);
    if (r == 0) {
        t.keys_missing = check_keys(svc, keys_dir, &c, why);
        t.problems += t.blobs.bad + t.blobs.missing + t.keys_missing;
    }
    service_close(svc);
    if (r == 0)
        *ret_totals = t;
out:
    for (size_t i = 0; i < ARRAY_SIZE(store_folders); i++)
        if (made[i][0])
            rmdir(made[i]); /* only when still empty */
    return r < 0 ? r : 0;
}

/* Every blob in SRC (hashed as copied) into DEST's store. */
static int restore_blobs(const char *src, const char *dest, struct backup_totals *t,
                         struct reason *why)
{
    struct store *store;
    int r = store_open(dest, &store);
    if (r < 0)
        return reason_set(why, r, "cannot make a blob store in \"%s\": %s", dest, strerror(-r));
    char failed[SHA256_HEX_LEN + 1];
    r = store_import_all(store, src, &t->blobs, &t->blob_bytes, failed);
    store_free(store);
    if (r == -EBADMSG)
        return reason_set(why, r,
                          "blob %s in the backup is damaged (its bytes do not match its name): "
                          "nothing was restored",
                          failed);
    if (r < 0)
        return reason_set(why, r, "cannot copy blob %s from the backup: %s",
                          failed[0] ? failed : "(the folder)", strerror(-r));
    return 0; /* owned as the backup by give_owner, once the check is done */
}

/*
 * Takes TARGET's folder lock exclusive without waiting, into *RET_FD (-1
 * when there is no folder yet): every open service holds it shared
 * (service_open), so -EBUSY means an otad process has the folder open,
 * whatever the database (on PostgreSQL it is the only sign).
 */
static int data_dir_hold_exclusive(const char *target, int *ret_fd)
{
    *ret_fd = -1;
    int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        /* A file system without flock (ENOLCK on some NFS): only SQLite's lock can tell. */
        return busy ? -EBUSY : 0;
    }
    *ret_fd = fd;
    return 0;
}

int service_restore(const struct config *config, const char *src, bool force,
                    void (*fn)(void *ctx, const struct check_finding *finding), void *ctx,
                    char *ret_replaced, size_t size, struct backup_totals *ret_totals,
                    struct reason *why)
{
    int64_t start = time_mono_ms();
    struct backup_totals t = {0};
    const char *target = config->data_dir;
    char partial[PATH_MAX], src_db[PATH_MAX], target_db[PATH_MAX], partial_db[PATH_MAX];
    size_t src_len = strlen(src);
    if (snprintf(partial, sizeof(partial), "%s" PARTIAL_SUFFIX, target) >= (int)sizeof(partial) ||
        path_join(src_db, sizeof(src_db), src, DB_FILE_NAME) < 0 ||
        path_join(target_db, sizeof(target_db), target, DB_FILE_NAME) < 0 ||
        path_join(partial_db, sizeof(partial_db), partial, DB_FILE_NAME) < 0)
        return reason_set(why, -ENAMETOOLONG, "the backup's or the data folder's name is too long");
    ret_replaced[0] = 0;
    bool postgresql = db_location_is_postgresql(config->database);
    struct stat st;
    if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
        return reason_set(why, -ENOENT, "no backup at \"%s\"", src);
    if (src_len >= sizeof(PARTIAL_SUFFIX) &&
        strcmp(src + src_len - (sizeof(PARTIAL_SUFFIX) - 1), PARTIAL_SUFFIX) == 0)
        return reason_set(why, -EINVAL,
                          "\"%s\" is an interrupted backup (its name ends in .partial): it is not "
                          "whole",
                          src);
    if (!postgresql && access(src_db, F_OK) != 0)
        return reason_set(why, -ENOENT, "\"%s\" is no otad backup: it has no %s", src,
                          DB_FILE_NAME);

    /* Live first: a running otad is refused whatever --force says. */
    int folder_fd;
    int r = data_dir_hold_exclusive(target, &folder_fd);
    if (r == -EBUSY)
        return reason_set(why, r,
                          "the data folder \"%s\" is in use: an otad process has it open (stop "
                          "otad, and every otad command on it, first)",
                          target);
    if (r < 0)
        return reason_set(why, r, "cannot open \"%s\": %s", target, strerror(-r));
    struct db_sqlite_hold *hold = NULL;
    if (access(target_db, F_OK) == 0 && (r = db_sqlite_hold_exclusive(target_db, &hold, why)) < 0) {
        if (folder_fd >= 0)
            close(folder_fd);
        if (r == -EBUSY)
            return reason_set(why, r,
                              "the data folder \"%s\" is in use: its database is open in another "
                              "process (stop otad, and every otad command on it, first)",
                              target);
        return r;
    }
    bool target_exists;
    r = target_free(target, &target_exists);
    if (r == -ENOTEMPTY && !force) {
        r = reason_set(why, r,
                       "the data folder \"%s\" is not empty: restore into an empty one, or add "
                       "--force to set it aside as %s.replaced-TIME",
                       target, target);
        goto out;
    }
    if (r < 0 && r != -ENOTEMPTY) {
        reason_set(why, r, "cannot look at \"%s\": %s", target, strerror(-r));
        goto out;
    }
    bool replace = r == -ENOTEMPTY;
    if ((r = files_remove_tree(partial)) < 0) {
        reason_set(why, r, "cannot remove \"%s\" left by an earlier restore: %s", partial,
                   strerror(-r));
        goto out;
    }
    if (mkdir(partial, 0700) < 0) {
        r = reason_set(why, -errno, "cannot create \"%s\": %s", partial, strerror(errno));
        goto out;
    }
    if (!postgresql) {
        if ((r = files_copy(src_db, partial_db, &t.database_bytes)) < 0) {
            reason_set(why, r, "cannot copy \"%s\": %s", src_db, strerror(-r));
            goto fail;
        }
        t.database_copied = true;
        if ((r = restore_blobs(src, partial, &t, why)) < 0)
            goto fail;
    }
    if ((r = copy_plain_folders(src, partial, &t, why)) < 0)
        goto fail;
    if (!postgresql) {
        struct check_totals ct;
        if ((r = service_data_check(config, partial, false, fn, ctx, &ct, why)) < 0)
            goto fail;
        if (ct.problems) {
            r = reason_set(why, -EBADMSG,
                           "the backup has %llu problem(s), listed above: nothing was restored",
                           (unsigned long long)ct.problems);
            goto fail;
        }
    }
    if ((r = give_owner(src, partial)) < 0) {
        reason_set(why, r, "cannot give the restored folder the backup's owner: %s", strerror(-r));
        goto fail;
    }
    if ((r = finish_folder(src, partial)) < 0) {
        reason_set(why, r, "cannot finish \"%s\": %s", partial, strerror(-r));
        goto fail;
    }
    if (replace) {
        char stamp[32];
        backup_rotation_name(time_now_ms(), stamp, sizeof(stamp));
        if (snprintf(ret_replaced, size, "%s.replaced-%s", target,
                     stamp + sizeof(BACKUP_NAME_PREFIX) - 1) >= (int)size) {
            r = reason_set(why, -ENAMETOOLONG, "the data folder's name is too long");
            goto fail;
        }
        if (rename(target, ret_replaced) < 0) {
            r = reason_set(why, -errno, "cannot set \"%s\" aside as \"%s\": %s", target,
                           ret_replaced, strerror(errno));
            ret_replaced[0] = 0;
            goto fail;
        }
        target_exists = false;
    }
    if ((r = move_into_place(partial, target, target_exists)) < 0) {
        reason_set(why, r, "cannot rename \"%s\" to \"%s\": %s", partial, target, strerror(-r));
        goto fail;
    }
    t.elapsed_ms = time_mono_ms() - start;
    *ret_totals = t;
    goto out;
fail:
    files_remove_tree(partial);
out:
    db_sqlite_hold_release(hold);
    if (folder_fd >= 0)
        close(folder_fd);
    return r;
}
