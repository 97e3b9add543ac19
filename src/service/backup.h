/*
 * A data folder backed up, restored and checked (`otad backup`, `otad
 * restore`, `otad check`; docs/OPERATIONS.md, "Backups"). The service adds
 * what a data folder is: its database (copied by db_backup.h as one
 * snapshot), the blobs that snapshot's releases need (copied by the store,
 * checked against their names on the way), and keys/ and tls/ (plain files,
 * core/files.h). A backup is a data folder itself: `otad check` runs on it
 * and `otad serve --data-dir` could serve it. Nothing here logs: each
 * refusal comes back in a struct reason for the command to print once.
 */
#ifndef OTAD_SERVICE_BACKUP_H
#define OTAD_SERVICE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/reason.h"
#include "service/service.h"

/* What a backup or restore copied. */
struct backup_totals {
    bool database_copied;    /* false on PostgreSQL: the database is pg_dump's */
    uint64_t database_bytes; /* the copy of otad.db */
    uint64_t blobs, blob_bytes;
    uint64_t files, file_bytes; /* keys/ and tls/ */
    int64_t elapsed_ms;
};

/*
 * Backs up CONFIG's data folder into DEST, while a server may run on it.
 * Writes everything into DEST.partial first and renames it to DEST only
 * once all of it is written and fsynced, so a DEST that exists is a whole
 * backup and an interrupted one leaves only DEST.partial. DEST must not
 * exist, or be an empty folder; DEST.partial must not exist (an earlier
 * interrupted or running backup: the operator removes it). On SQLite:
 * otad.db as one snapshot, then every blob that snapshot's releases need
 * (hashed as copied: a damaged or missing one fails the backup, naming
 * it), keys/ and tls/ with their modes (run as root, the database and
 * blobs/ get the data folder's owner). On PostgreSQL only keys/ and tls/
 * (the blobs are a cache of the database, which pg_dump backs up):
 * *RET_TOTALS says so. Returns 0, or -errno with WHY (DEST.partial is
 * removed).
 */
int service_backup(const struct config *config, const char *dest, struct backup_totals *ret_totals,
                   struct reason *why);

/*
 * Makes the name of a dated backup in a rotation folder, "otad-" and the
 * UTC time NOW_MS as 20261129T031500Z, into OUT (at least 32 bytes).
 */
void backup_rotation_name(int64_t now_ms, char *out, size_t size);

/*
 * Which entries of a rotation folder to remove once a new backup is made:
 * NAMES (COUNT entries, any order) are the folder's entries; those that are
 * backups by name (backup_rotation_name) beyond the newest KEEP are marked
 * in REMOVE[i], and so are "otad-*.partial" entries older than the newest
 * whole backup (left by an interrupted run; a timer never runs two at
 * once). Other entries are never marked. Returns how many were marked.
 */
size_t backup_rotation_pick(const char *const *names, size_t count, size_t keep, bool *remove);

/*
 * backup into DIR/backup_rotation_name(now), then removes what
 * backup_rotation_pick marks in DIR (KEEP >= 1), writing the count to
 * *RET_REMOVED and the new backup's path to RET_DEST (SIZE bytes).
 * Returns as service_backup; a removal that fails is in WHY but the
 * backup stands (returns 0).
 */
int service_backup_rotate(const struct config *config, const char *dir, size_t keep, char *ret_dest,
                          size_t size, size_t *ret_removed, struct backup_totals *ret_totals,
                          struct reason *why);

/* What service_data_check reports, one call per finding. */
enum check_kind {
    CHECK_DATABASE, /* the database cannot be opened or fails its integrity check: TEXT says why */
    CHECK_BLOB,     /* one file under blobs/ or one missing blob, as `otad store verify` says */
    CHECK_KEY,      /* PRODUCT names KEY (to sign, or for Secure Boot) and keys/ has no such key */
};

struct check_finding {
    enum check_kind kind;
    const char *text;                 /* CHECK_DATABASE */
    const struct store_finding *blob; /* CHECK_BLOB: an intact used blob too (result 0) */
    const char *product, *key;        /* CHECK_KEY */
};

struct check_totals {
    bool database_ok;
    struct store_verify_totals blobs;
    uint64_t keys_missing;
    uint64_t problems; /* a bad database, damaged, unreadable or missing blobs, missing keys */
};

/*
 * Checks the data folder DATA_DIR with CONFIG's other settings, reading
 * only (a server may run on it): the database's integrity (QUICK: SQLite's
 * quick_check), every file under blobs/ against its name and every blob a
 * release needs (service_store_verify: unused blobs are listed, never
 * removed), and every key a product names present in keys/ (NAME.key or
 * NAME.pub). Calls FN(CTX, finding) for each finding. Returns 0 with
 * *RET_TOTALS (problems or not), or -errno with WHY when there is nothing
 * to check (no database there: none is created).
 */
int service_data_check(const struct config *config, const char *data_dir, bool quick,
                       void (*fn)(void *ctx, const struct check_finding *finding), void *ctx,
                       struct check_totals *ret_totals, struct reason *why);

/*
 * Restores the backup SRC into CONFIG's data folder. Refuses a data folder
 * that is live (open in any otad process: its flock, or on SQLite its
 * database; -EBUSY) and, unless FORCE, one that is not empty
 * (-ENOTEMPTY). Copies SRC into
 * DATA_DIR.partial (removing one an earlier restore left): the database,
 * every blob (each hashed as copied: a damaged one refuses the restore,
 * -EBADMSG), keys/ and tls/ with their modes, owners kept where the process
 * may (run as root, the database and blobs/ get SRC's owner); then runs
 * service_data_check on it and refuses any problem
 * (-EBADMSG, FN sees each finding) before anything is moved into place.
 * Then a data folder that was there (FORCE) is renamed aside to
 * DATA_DIR.replaced-TIME (written to RET_REPLACED, "" when there was none)
 * and DATA_DIR.partial becomes DATA_DIR. The database stays locked against
 * any otad opening it until then. Returns 0 or -errno with WHY.
 */
int service_restore(const struct config *config, const char *src, bool force,
                    void (*fn)(void *ctx, const struct check_finding *finding), void *ctx,
                    char *ret_replaced, size_t size, struct backup_totals *ret_totals,
                    struct reason *why);

#endif
