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

#endif
