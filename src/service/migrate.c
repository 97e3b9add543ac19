/*
 * `otad migrate` in the service (migrate.h): the data folder's database
 * path and blob store handed to db_copy_sqlite_to_pg, which does the copy.
 * The store is opened here because the database layer may not: each blob
 * is opened through store_open_blob, which refuses one whose bytes do not
 * hash to its name.
 */
#include "service/migrate.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_copy.h"
#include "store/store.h"

struct migration {
    struct store *store;
    void (*fn)(void *ctx, const struct migrate_event *event);
    void *ctx;
};

static int open_blob(void *ctx, const char *sha256, int *ret_fd, uint64_t *ret_size,
                     struct reason *why)
{
    struct migration *m = ctx;
    int r = store_open_blob(m->store, sha256, ret_fd, ret_size);
    if (r == -EBADMSG)
        return reason_set(why, r,
                          "blob %s in the data folder is damaged (otad store verify lists the "
                          "damaged blobs): nothing was copied",
                          sha256);
    if (r == -ENOENT)
        return reason_set(why, r, "blob %s, which a release needs, is missing from the data folder",
                          sha256);
    if (r < 0)
        return reason_set(why, r, "cannot open blob %s: %s", sha256, strerror(-r));
    return 0;
}

static void progress(void *ctx, const struct db_copy_event *e)
{
    struct migration *m = ctx;
    static const enum migrate_stage stages[] = {
        [DB_COPY_TABLE_COPIED] = MIGRATE_TABLE_COPIED,
        [DB_COPY_TABLE_VERIFIED] = MIGRATE_TABLE_VERIFIED,
        [DB_COPY_BLOBS_VERIFIED] = MIGRATE_BLOBS_VERIFIED,
    };
    struct migrate_event event = {.stage = stages[e->stage],
                                  .table = e->table,
                                  .rows = e->rows,
                                  .blobs = e->blobs,
                                  .bytes = e->bytes};
    if (m->fn)
        m->fn(m->ctx, &event);
}

int service_migrate_to_postgresql(const char *data_dir, const char *url,
                                  void (*fn)(void *ctx, const struct migrate_event *event),
                                  void *ctx, struct reason *why)
{
    char path[PATH_MAX];
    if (db_location(NULL, data_dir, path, sizeof(path)) < 0)
        return reason_set(why, -ENAMETOOLONG, "the data folder's path is too long");
    /* Before the store is opened, which creates its folders: a wrong --data-dir changes nothing. */
    if (access(path, F_OK) != 0)
        return reason_set(why, -ENOENT, "no otad database at \"%s\" (is --data-dir right?)", path);
    struct migration m = {.fn = fn, .ctx = ctx};
    int r = store_open(data_dir, &m.store);
    if (r < 0)
        return reason_set(why, r, "cannot open the blob store in \"%s\": %s", data_dir,
                          strerror(-r));
    r = db_copy_sqlite_to_pg(path, url, open_blob, progress, &m, why);
    store_free(m.store);
    return r;
}
