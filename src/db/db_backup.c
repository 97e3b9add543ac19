/*
 * The database file as a whole (db_backup.h): SQLite's online backup API
 * for `otad backup`, and the exclusive hold `otad restore` takes to prove
 * that no otad process has a data folder's database open. It opens its own
 * short-lived connections by path and shares nothing with the connection
 * of db_sqlite.c: a copy or a hold is never a struct db.
 */
#include "db/db_backup.h"

#include "db/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pages copied per backup step: small enough that a writer waiting on a lock is not held long. */
#define BACKUP_PAGES_PER_STEP 256
/* A busy or locked step is tried again after this long, this many times (about 30 s in all). */
#define BACKUP_RETRY_MS    20
#define BACKUP_RETRY_LIMIT 1500

struct db_sqlite_hold {
    sqlite3 *conn;
};

static int open_existing(const char *path, sqlite3 **ret_conn, struct reason *why)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return reason_set(why, -errno, "no database at \"%s\": %s", path, strerror(errno));
    return db_sqlite_open_existing(path, ret_conn, why);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* Runs BACKUP to its end, retrying busy and locked steps. 0, -ETIMEDOUT or -EIO (WHY). */
static int backup_run(sqlite3_backup *backup, struct reason *why)
{
    unsigned retries = 0;
    for (;;) {
        int rc = sqlite3_backup_step(backup, BACKUP_PAGES_PER_STEP);
        if (rc == SQLITE_DONE)
            return 0;
        if (rc == SQLITE_OK)
            continue;
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            if (++retries > BACKUP_RETRY_LIMIT)
                return reason_set(why, -ETIMEDOUT,
                                  "the database stayed locked for %u s: nothing was copied",
                                  BACKUP_RETRY_LIMIT * BACKUP_RETRY_MS / 1000);
            sqlite3_sleep(BACKUP_RETRY_MS);
            continue;
        }
        return reason_set(why, -EIO, "database backup failed: %s", sqlite3_errstr(rc));
    }
}

int db_sqlite_backup(const char *src_path, const char *dest_path, uint64_t *ret_bytes,
                     struct reason *why)
{
    sqlite3 *src = NULL, *dest = NULL;
    int r = open_existing(src_path, &src, why);
    if (r < 0)
        return r;
    sqlite3_busy_timeout(src, 10000);
    if (access(dest_path, F_OK) == 0) {
        r = reason_set(why, -EEXIST, "\"%s\" exists", dest_path);
        goto out;
    }
    /*
     * One read transaction around every step: in WAL mode it pins one
     * snapshot, so the copy is the database as of its first read however
     * much the server writes meanwhile (the backup never restarts).
     */
    char *err = NULL;
    if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, &err) !=
        SQLITE_OK) {
        r = reason_set(why, -EIO, "cannot read \"%s\": %s", src_path, err ? err : "?");
        sqlite3_free(err);
        goto out;
    }
    if (sqlite3_open_v2(dest_path, &dest,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        r = reason_set(why, -EIO, "cannot create \"%s\": %s", dest_path,
                       dest ? sqlite3_errmsg(dest) : "out of memory");
        goto out_rollback;
    }
    sqlite3_exec(dest, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    sqlite3_backup *backup = sqlite3_backup_init(dest, "main", src, "main");
    if (!backup) {
        r = reason_set(why, -EIO, "cannot start the database backup: %s", sqlite3_errmsg(dest));
        goto out_rollback;
    }
    r = backup_run(backup, why);
    if (sqlite3_backup_finish(backup) != SQLITE_OK && r == 0)
        r = reason_set(why, -EIO, "database backup failed: %s", sqlite3_errmsg(dest));
out_rollback:
    sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
out:
    /* The last connection to close checkpoints the copy's WAL, if any, into the file. */
    if (dest && sqlite3_close(dest) != SQLITE_OK && r == 0)
        r = reason_set(why, -EIO, "cannot close \"%s\"", dest_path);
    sqlite3_close(src);
    if (r == 0) {
        struct stat st;
        if ((r = fsync_path(dest_path)) < 0 || stat(dest_path, &st) < 0)
            return reason_set(why, r < 0 ? r : -errno, "cannot sync \"%s\": %s", dest_path,
                              strerror(r < 0 ? -r : errno));
        *ret_bytes = (uint64_t)st.st_size;
    } else if (dest) {
        unlink(dest_path);
    }
    return r; /* WHY goes to whoever reports it: logged there, once */
}

int db_sqlite_hold_exclusive(const char *path, struct db_sqlite_hold **ret_hold, struct reason *why)
{
    struct db_sqlite_hold *hold = calloc(1, sizeof(*hold));
    if (!hold)
        return -ENOMEM;
    int r = open_existing(path, &hold->conn, why);
    if (r < 0) {
        free(hold);
        return r;
    }
    if ((r = db_sqlite_lock_exclusive(hold->conn, path, why)) < 0) {
        sqlite3_close(hold->conn);
        free(hold);
        return r;
    }
    *ret_hold = hold;
    return 0;
}

int db_sqlite_open_existing(const char *path, sqlite3 **ret_conn, struct reason *why)
{
    sqlite3 *conn = NULL;
    if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        int r = reason_set(why, -EIO, "cannot open \"%s\": %s", path,
                           conn ? sqlite3_errmsg(conn) : "out of memory");
        sqlite3_close(conn);
        return r;
    }
    *ret_conn = conn;
    return 0;
}

int db_sqlite_lock_exclusive(sqlite3 *conn, const char *path, struct reason *why)
{
    /*
     * In exclusive locking mode a WAL database is read without its shared
     * memory, which SQLite allows only under an exclusive lock on the file:
     * the lock every other open connection's shared lock refuses. No busy
     * timeout: a live server is an answer, not something to wait out.
     */
    sqlite3_busy_timeout(conn, 0);
    if (sqlite3_exec(conn, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK)
        return reason_set(why, -EIO, "cannot lock \"%s\": %s", path, sqlite3_errmsg(conn));
    int rc = sqlite3_exec(conn, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return reason_set(why, -EBUSY,
                          "\"%s\" is in use: stop otad (and any otad command) on this data "
                          "folder first",
                          path);
    if (rc != SQLITE_OK)
        return reason_set(why, -EIO, "cannot lock \"%s\": %s", path, sqlite3_errmsg(conn));
    return 0;
}

void db_sqlite_hold_release(struct db_sqlite_hold *hold)
{
    if (!hold)
        return;
    sqlite3_close(hold->conn);
    free(hold);
}
