/*
 * The SQLite database file as a whole, for `otad backup`, `restore` and
 * `check`: an online copy through SQLite's backup API that is one snapshot
 * while the server keeps writing, and the hold a restore takes to prove no
 * process has the file open. Row-level reads and writes are db.h's; this
 * header works on paths, never on an open struct db. PostgreSQL has no
 * counterpart here: its backup is pg_dump's (docs/OPERATIONS.md).
 */
#ifndef OTAD_DB_DB_BACKUP_H
#define OTAD_DB_DB_BACKUP_H

#include <stdint.h>

#include "core/reason.h"

/*
 * Copies the SQLite database at SRC_PATH into a new file DEST_PATH (which
 * must not exist), while other processes read and write SRC_PATH. The copy
 * is taken inside one read transaction, so it is one snapshot of the
 * database (WAL lets writers go on meanwhile), in steps of a few hundred
 * pages, each retried while SQLite says busy or locked (up to about 30 s in
 * all). DEST_PATH is closed and fsynced, with no -wal/-shm left beside
 * it (its header keeps the WAL mode otad opens it in). Writes the copy's size to *RET_BYTES.
 * Returns 0, -ENOENT (no database at SRC_PATH), -EEXIST (DEST_PATH exists), -ETIMEDOUT (SRC_PATH
 * stayed locked), or -EIO; WHY says which.
 */
int db_sqlite_backup(const char *src_path, const char *dest_path, uint64_t *ret_bytes,
                     struct reason *why);

/* An exclusive hold on a database file: while it lasts, no other process can open the file. */
struct db_sqlite_hold;

/*
 * Takes an exclusive lock on the SQLite database at PATH without waiting.
 * Every otad process (`serve`, each CLI command) keeps its database open
 * in WAL mode, which holds a shared lock on the file for as long as the
 * connection lives; the exclusive lock is refused while any of them runs.
 * Returns 0 and a new hold (release with db_sqlite_hold_release),
 * -EBUSY when another process has the file open, -ENOENT when there is no
 * file, or -EIO; WHY says which.
 */
int db_sqlite_hold_exclusive(const char *path, struct db_sqlite_hold **ret_hold,
                             struct reason *why);

/* Releases the hold (closing its connection). NULL-safe. */
void db_sqlite_hold_release(struct db_sqlite_hold *hold);

#endif
