/*
 * For SQLite backend files only (db_sqlite*.c): the connection and its lock,
 * so a module's tables (e.g. the GitHub sources) can live in a file of
 * their own beside db_sqlite.c. Nothing outside src/db/ includes this.
 */
#ifndef OTAD_DB_SQLITE_INTERNAL_H
#define OTAD_DB_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "db/db.h"

struct db_sqlite {
    sqlite3 *conn;        /* opened with SQLITE_OPEN_NOMUTEX: hold lock around every use */
    pthread_mutex_t lock; /* serializes the connection */
};

/* The connection behind DB (borrowed). */
struct db_sqlite *db_sqlite_of(struct db *db);

/* Logs WHAT with SQLite's last message and returns -EIO. Call with the lock held. */
int db_sqlite_fail(struct db_sqlite *sq, const char *what);

/*
 * The result of a step (or exec) that returned RC, before the statement is
 * reset: 0 for SQLITE_DONE / SQLITE_OK; -EEXIST for a UNIQUE or PRIMARY KEY
 * violation (a taken name or version); -ENOENT for a FOREIGN KEY one (the
 * row names a product or source that is not there); anything else, other
 * constraints included (NOT NULL, CHECK: our bug), is logged with WHAT and
 * is -EIO. Call with the lock held.
 */
int db_sqlite_result(struct db_sqlite *sq, int rc, const char *what);

/*
 * Ends the transaction begun on SQ: COMMIT when ERR is 0, and ROLLBACK when
 * ERR is not or when the COMMIT fails (a failed COMMIT leaves the
 * transaction open). Returns ERR, or the COMMIT's error. Call with the lock
 * held.
 */
int db_sqlite_finish(struct db_sqlite *sq, int err);

#endif
