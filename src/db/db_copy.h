/*
 * Moving a one-box otad from SQLite to PostgreSQL (`otad migrate`): copies
 * the data folder's database into an empty PostgreSQL database, table by
 * table, with the blobs the releases need, in one transaction, then reads
 * it all back to check it. Generic over tables: the columns are SQLite's
 * (PRAGMA table_info), each must have a PostgreSQL counterpart of the same
 * name, and the rows go through COPY ... FROM STDIN in text format. The
 * blobs come from the caller (the data folder's store is not the database
 * layer's to open), one descriptor per blob.
 *
 * What it does not do: change the data folder (its database is only read,
 * under an exclusive lock that also tells whether an otad has it open),
 * copy into a database that has rows, or copy blobs no release needs.
 */
#ifndef OTAD_DB_DB_COPY_H
#define OTAD_DB_DB_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/reason.h"

/*
 * The tables copied, parents before the tables whose rows reference them
 * (a foreign key is checked as each row arrives). meta is not among them:
 * PostgreSQL's first migration writes its row, which the copy overwrites
 * with SQLite's values. Every table of both schemas is here or in
 * db_copy_skipped_tables (tests/unit/db/test_db_copy.c checks it).
 */
extern const char *const db_copy_tables[];
extern const size_t db_copy_table_count;

/*
 * The tables the copy leaves alone: each backend's bookkeeping
 * (sqlite_sequence, schema_migrations), meta (overwritten key by key), and
 * PostgreSQL's own (blobs and blob_chunks, filled from the store; nodes,
 * which each node fills when it starts; registry_batches, which each
 * node's registry writes).
 */
extern const char *const db_copy_skipped_tables[];
extern const size_t db_copy_skipped_table_count;

/* What the copy reports as it goes. */
enum db_copy_stage {
    DB_COPY_TABLE_COPIED,   /* TABLE's ROWS rows were sent (not committed yet) */
    DB_COPY_TABLE_VERIFIED, /* after the commit, TABLE has ROWS rows on both sides */
    DB_COPY_BLOBS_VERIFIED, /* after the commit, BLOBS blobs of BYTES bytes read back intact */
};

struct db_copy_event {
    enum db_copy_stage stage;
    const char *table; /* a table's name (static); NULL for the blobs */
    uint64_t rows;
    uint64_t blobs, bytes;
};

/* Called for each event; EVENT is valid during the call only. */
typedef void (*db_copy_progress_fn)(void *ctx, const struct db_copy_event *event);

/*
 * Opens the blob named SHA256 (64 lowercase hex digits) for reading:
 * returns 0 with a descriptor the copy reads to its end and closes, and
 * its size, or -errno (-ENOENT: missing, -EBADMSG: its bytes do not match
 * its name), filling WHY.
 */
typedef int (*db_copy_blob_open_fn)(void *ctx, const char *sha256, int *ret_fd, uint64_t *ret_size,
                                    struct reason *why);

/*
 * Copies the SQLite database at SQLITE_PATH into the PostgreSQL database
 * at PG_URL (a postgresql:// URL; its schema is brought up to date first,
 * as db_open does), in one transaction:
 *   1. the SQLite database is locked exclusively for the whole copy: -EBUSY
 *      when another process (a running otad, an otad command) has it open;
 *      its schema must be the one this otad knows (-EPROTO otherwise);
 *   2. -ENOTEMPTY when any PostgreSQL table but meta and schema_migrations
 *      has a row;
 *   3. each table of db_copy_tables, its SQLite columns (-EINVAL when one
 *      has no PostgreSQL counterpart), through COPY;
 *   4. every blob a variant names, opened with OPEN_BLOB, checked against
 *      its name and size (-EBADMSG) and written in chunks of
 *      DB_BLOB_CHUNK_BYTES;
 *   5. each identity column's sequence set past the column's largest value
 *      (and past SQLite's AUTOINCREMENT counter), and meta's rows (the
 *      catalog's generation) as SQLite has them;
 * then commits and checks: each table's row count on both sides, each blob
 * read back from PostgreSQL hashing to its name with its size (-EIO with
 * WHY saying what differs; the copy stays committed then).
 * Any failure before the commit leaves PostgreSQL as it was. PROGRESS (may
 * be NULL) is told each step with CTX; OPEN_BLOB gets CTX too.
 * Returns 0, or -errno with WHY filled: also -ENOENT (no database at
 * SQLITE_PATH), -ENOTCONN (PostgreSQL unreachable), -ENOTSUP (built
 * without PostgreSQL), -EIO (either database failed: logged).
 */
int db_copy_sqlite_to_pg(const char *sqlite_path, const char *pg_url,
                         db_copy_blob_open_fn open_blob, db_copy_progress_fn progress, void *ctx,
                         struct reason *why);

/*
 * COPY's text format, one field (exposed for its unit test). Appends LEN
 * bytes of TEXT to OUT with backslash, tab, newline and carriage return
 * escaped (\\ \t \n \r). Returns 0, -EINVAL when TEXT holds a NUL byte
 * (PostgreSQL's text cannot), or buf_append's error.
 */
int db_copy_text_field(struct buf *out, const char *text, size_t len);

/* Appends LEN bytes of DATA to OUT as a bytea field in hex ("\\x0aff..."). Returns 0 or -errno. */
int db_copy_bytea_field(struct buf *out, const uint8_t *data, size_t len);

/* COPY's text-format NULL. */
#define DB_COPY_NULL_FIELD "\\N"

#endif
