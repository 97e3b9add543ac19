/*
 * Moving a data folder's database to PostgreSQL (`otad migrate`): the
 * service's face of db_copy.h, which owns the mechanics. What the service
 * adds is the data folder: where its database is, and its blob store, from
 * which every blob a release needs is read (checked against its name) into
 * PostgreSQL. It opens no service: the data folder's otad must be stopped.
 */
#ifndef OTAD_SERVICE_MIGRATE_H
#define OTAD_SERVICE_MIGRATE_H

#include <stdint.h>

#include "core/reason.h"

enum migrate_stage {
    MIGRATE_TABLE_COPIED,   /* TABLE's ROWS rows were sent (not committed yet) */
    MIGRATE_TABLE_VERIFIED, /* after the commit, TABLE has ROWS rows on both sides */
    MIGRATE_BLOBS_VERIFIED, /* after the commit, BLOBS blobs of BYTES bytes read back intact */
};

/* One step of the migration, as the callback sees it (valid during the call). */
struct migrate_event {
    enum migrate_stage stage;
    const char *table; /* NULL for the blobs */
    uint64_t rows;
    uint64_t blobs, bytes;
};

/*
 * Copies DATA_DIR's database and the blobs its releases need into the empty
 * PostgreSQL database at URL, in one transaction, then checks the copy
 * (db_copy_sqlite_to_pg says each step and each error). FN (may be NULL) is
 * called with CTX at each step. DATA_DIR is only read. Returns 0, or -errno
 * with WHY filled: -EBUSY (an otad has the data folder's database open),
 * -ENOTEMPTY (the target has rows), -EBADMSG (a blob is damaged or of the
 * wrong size), -ENOENT (no database in DATA_DIR, or a blob is missing),
 * -ENOTCONN, -EPROTO, -EINVAL, -EIO.
 */
int service_migrate_to_postgresql(const char *data_dir, const char *url,
                                  void (*fn)(void *ctx, const struct migrate_event *event),
                                  void *ctx, struct reason *why);

#endif
