/*
 * For the PostgreSQL backend's files only (db_pg*.c; nothing outside
 * src/db/ includes this): the connection with its lock, and the one set of
 * helpers every file uses to run a statement, read rows and end a
 * transaction. db_pg.c owns the connection (connect and reconnect, the
 * durability, the migrations, the generation and its NOTIFY, the cluster's
 * advisory locks) and these helpers; each db_pg_<entity>.c owns one entity's
 * SQL, mirroring db_sqlite_<entity>.c function for function.
 *
 * Statements go out with PQexecParams, parsed by the server each time, not
 * prepared: no call here is on a check-in's path (the registry writes a
 * whole batch of devices in a constant number of statements per flush, and
 * its fleet events in one pipeline, their one statement parsed once per
 * batch as the unnamed statement), and unnamed statements also work
 * through a pooler in transaction mode (PgBouncer), where a statement
 * prepared on one server connection is unknown on the next.
 *
 * A pipeline (libpq's pipeline mode, db_pg_pipeline_*) sends many
 * statements without waiting for each one's result, then reads all the
 * results: one round trip for any number of them. A statement in it cannot
 * look at an earlier one's result to decide whether to run (what it does
 * depends on what earlier ones wrote must be said in its SQL), and after
 * one fails the server skips the rest until the sync point.
 *
 * Parameters are sent as text ($1, $2 ...; integers in decimal), except
 * bytes (bytea), sent binary; results come back as text. Many rows in one
 * statement go as arrays: a db_pg_array builds a PostgreSQL array literal
 * ("{1,2}", "{\"a\",NULL}") bound as one parameter and read with
 * unnest($1::bigint[], $2::text[], ...).
 *
 * Concurrency: several nodes write the same tables. A transaction that
 * reads a row and then writes from what it read locks that row first
 * (SELECT ... FOR UPDATE) or writes with one statement (UPDATE ... SET n =
 * n + $1, INSERT ... ON CONFLICT DO UPDATE ... RETURNING). Rows of a batch
 * are written in key order so that two nodes' batches cannot deadlock; a
 * serialization failure or deadlock is -EAGAIN and the whole transaction
 * is run again (db_pg_transaction).
 */
#ifndef OTAD_DB_PG_INTERNAL_H
#define OTAD_DB_PG_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "db/backend.h"

/* The most parameters one statement takes (a batch takes arrays, not more parameters). */
#define DB_PG_PARAMS_MAX 32

/* Advisory locks (pg_advisory_lock(DB_PG_LOCK_CLASS, id)): "otad" in ASCII, then what it guards. */
#define DB_PG_LOCK_CLASS      0x6f746164
#define DB_PG_LOCK_MIGRATE    1 /* held while one node applies the migrations */
#define DB_PG_LOCK_LEADER     2 /* held by the leader's connection for as long as it leads */
#define DB_PG_LOCK_PUBLISH    3 /* held by a transaction that assigns a release's seq */
#define DB_PG_CATALOG_CHANNEL "otad_catalog" /* NOTIFY'd with the new generation */
/*
 * The database's clock, ms since 1970, as SQL: what several nodes compare
 * (heartbeats) is written and read on this one clock, never a node's own.
 */
#define DB_PG_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

struct db_pg {
    struct db db;                  /* first: db.h's handle is one PostgreSQL connection */
    PGconn *conn;                  /* NULL or bad while the database is away */
    pthread_mutex_t lock;          /* serializes the connection */
    char *url;                     /* as db_open was given it, to connect again */
    enum db_durability durability; /* DB_RELAXED: synchronous_commit off */
    unsigned timeout_ms;           /* each session's statement_timeout or lock_timeout; 0: none */
    enum db_timeout_scope timeout_scope; /* which of the two */
    int64_t next_connect_ms;             /* no new attempt before (monotonic ms) */
    bool away_logged;                    /* "unavailable" was logged; "back" is due */
    bool in_transaction;                 /* between db_pg_begin and db_pg_finish */
    bool leader;                         /* this session holds DB_PG_LOCK_LEADER */
    bool listening;                      /* this session LISTENs on DB_PG_CATALOG_CHANNEL */
};

/*
 * Records MARK (db.h, struct db_batch) in the caller's transaction: the
 * writer's newest committed seq becomes MARK->seq. Its first statement, so
 * that a transaction of the same mark still open on a connection the
 * server has not yet seen die is waited for (the row is locked) rather
 * than raced. Returns 0 (and sets MARK->passed), -EALREADY when MARK->seq
 * (or a later one of its writer) has committed already (the caller rolls
 * back and reports it), or -errno.
 */
int db_pg_batch_mark(struct db_pg *pg, struct db_batch *mark);

/* The backend's operations (backend.h), each defined in the file of its entity. */
#define DB_PG_DECLARE(name, params, args) int db_pg_##name params;
DB_OPERATIONS(DB_PG_DECLARE)
#undef DB_PG_DECLARE

/* The connection behind DB (borrowed). */
struct db_pg *db_pg_of(struct db *db);

/*
 * Takes DB's lock and makes sure its connection is up (connecting again
 * when it was lost, at most once a second). Returns the connection, or NULL
 * with the lock released when the database cannot be reached (the caller
 * returns -ENOTCONN). Every db_pg_* operation holds the lock from its first
 * statement to its last, then db_pg_unlock.
 */
struct db_pg *db_pg_lock(struct db *db);
void db_pg_unlock(struct db_pg *pg);

/* The parameters of one statement, filled in order ($1 first). */
struct db_pg_params {
    int count;
    const char *values[DB_PG_PARAMS_MAX];
    int lengths[DB_PG_PARAMS_MAX];
    int formats[DB_PG_PARAMS_MAX];
    char numbers[DB_PG_PARAMS_MAX][24]; /* the decimal text of integer parameters */
};

/* Starts P empty. */
void db_pg_params_init(struct db_pg_params *p);
/* Adds integer V. */
void db_pg_param_int(struct db_pg_params *p, int64_t v);
/* Adds TEXT (borrowed: it must outlive the statement); NULL is SQL NULL. */
void db_pg_param_text(struct db_pg_params *p, const char *text);
/* Adds TEXT, or SQL NULL when it is NULL or empty (SQLite's bind_text_or_null). */
void db_pg_param_text_or_null(struct db_pg_params *p, const char *text);
/* Adds LEN bytes of DATA as a bytea (binary; borrowed). */
void db_pg_param_bytes(struct db_pg_params *p, const void *data, size_t len);

/* An array literal being built, bound with db_pg_param_array. */
struct db_pg_array {
    struct buf text; /* "{" ... "}" */
    size_t count;
    bool failed; /* out of memory or past the cap: the statement must not run */
};
void db_pg_array_init(struct db_pg_array *a);
void db_pg_array_add_int(struct db_pg_array *a, int64_t v);
/* Adds TEXT quoted ("" escaped), or NULL when TEXT is NULL. */
void db_pg_array_add_text(struct db_pg_array *a, const char *text);
/* Closes the literal and binds it as the next parameter. -ENOMEM when building it failed. */
int db_pg_param_array(struct db_pg_params *p, struct db_pg_array *a);
void db_pg_array_free(struct db_pg_array *a);

/*
 * Runs SQL with P (NULL: none). On success returns 0 and, when RET_RESULT
 * is not NULL, the result (the caller PQclears it). Errors map to -errno
 * as db.h says: a unique violation (23505) -EEXIST, a foreign key one
 * (23503) -ENOENT, a serialization failure or deadlock (40001, 40P01)
 * -EAGAIN, the connection lost -ENOTCONN (the next db_pg_lock connects
 * again), anything else -EIO; each logged with WHAT except -EEXIST,
 * -ENOENT and -EAGAIN, which callers expect.
 */
int db_pg_exec(struct db_pg *pg, const char *sql, const struct db_pg_params *p, const char *what,
               PGresult **ret_result);

/* As db_pg_exec, with the result's columns in binary (BINARY: a bytea as its bytes) or text. */
int db_pg_exec_as(struct db_pg *pg, const char *sql, const struct db_pg_params *p, bool binary,
                  const char *what, PGresult **ret_result);

/* As db_pg_exec, for a statement whose rows (if any) are not read. */
int db_pg_run(struct db_pg *pg, const char *sql, const struct db_pg_params *p, const char *what);

/* As db_pg_run, and -ENOENT when the statement changed no row (an UPDATE of no row). */
int db_pg_run_one(struct db_pg *pg, const char *sql, const struct db_pg_params *p,
                  const char *what);

/* Converts row ROW of RES into the item at OUT. */
typedef void (*db_pg_fill_fn)(const PGresult *res, int row, void *out);

/* A db_pg_fill_fn for a row whose first column is an integer: OUT is an int64_t. */
void db_pg_fill_int64(const PGresult *res, int row, void *out);

/*
 * Runs SQL with P for one row and converts it into OUT with FILL. Returns
 * 0, -ENOENT when there is no row (OUT untouched), or db_pg_exec's error.
 */
int db_pg_get(struct db_pg *pg, const char *sql, const struct db_pg_params *p, db_pg_fill_fn fill,
              void *out, const char *what);

/*
 * Runs SQL with P and collects its rows into a new array of ELEM-sized
 * items (zeroed, then FILLed), the caller's to free (NULL when there is no
 * row). *RET_ITEMS and *RET_COUNT are written only on success.
 */
int db_pg_collect_rows(struct db_pg *pg, const char *sql, const struct db_pg_params *p, size_t elem,
                       db_pg_fill_fn fill, void **ret_items, size_t *ret_count, const char *what);

/* Runs list query SQL, binding KEY as $1 unless it is 0, and collects its rows as above. */
int db_pg_list(struct db_pg *pg, const char *sql, int64_t key, size_t elem, db_pg_fill_fn fill,
               void **ret_items, size_t *ret_count, const char *what);

/* Column COL of row ROW of RES as an integer (0 when NULL). */
int64_t db_pg_int(const PGresult *res, int row, int col);
/* Copies column COL of row ROW into OUT (SIZE bytes): "" when NULL or when it does not fit. */
void db_pg_text(const PGresult *res, int row, int col, char *out, size_t size);
/* Whether column COL of row ROW is NULL. */
bool db_pg_is_null(const PGresult *res, int row, int col);

/*
 * A pipeline of statements on one connection, begun with
 * db_pg_pipeline_start and ended with db_pg_pipeline_finish (which must
 * follow, whatever happened in between). Inside a transaction (db_pg_begin)
 * its statements are the transaction's, each seeing what the earlier ones
 * wrote. Sending does not wait: a statement's error comes out at
 * db_pg_pipeline_finish. libpq, in its blocking mode, reads results into
 * its buffer whenever the server has stopped reading statements, so a long
 * pipeline cannot deadlock; those results (a few dozen bytes each) are held
 * until db_pg_pipeline_finish reads them.
 */
struct db_pg_pipeline {
    struct db_pg *pg;
    const char *what; /* for the log: what the pipeline does */
    int err;          /* the first failure to start or send: nothing more is sent */
};

/*
 * Checks statement INDEX's result RES (borrowed) of a pipeline: ERR is 0
 * when it succeeded, else its -errno as db_pg_exec maps it (and logs it).
 * Returns the error to report for it (ERR, or one of the caller's own), 0
 * for none.
 */
typedef int (*db_pg_check_fn)(void *arg, size_t index, const PGresult *res, int err);

/* Enters pipeline mode on PG's connection (idle: no statement's result pending). */
void db_pg_pipeline_start(struct db_pg_pipeline *pl, struct db_pg *pg, const char *what);

/* Sends SQL with P (NULL: none; copied, so P may be reused at once), unless a send failed. */
void db_pg_pipeline_send(struct db_pg_pipeline *pl, const char *sql, const struct db_pg_params *p);

/*
 * Sends SQL to be parsed once as the connection's unnamed statement, for
 * db_pg_pipeline_send_prepared to run many times: the server parses and
 * analyses it once, and after five runs may keep one plan for all. It
 * lasts until the next statement sent by db_pg_pipeline_send (or any
 * other), which parses into the same unnamed slot; it is not a named
 * prepared statement, so it works through a pooler in transaction mode
 * (inside one transaction, one server connection). Its result counts as
 * one statement's. Every parameter's type must be written in SQL ($1::bigint).
 */
void db_pg_pipeline_prepare(struct db_pg_pipeline *pl, const char *sql);

/* Runs the statement db_pg_pipeline_prepare parsed last, with P (copied). */
void db_pg_pipeline_send_prepared(struct db_pg_pipeline *pl, const struct db_pg_params *p);

/*
 * Sends the sync point, reads every statement's result in order, passing
 * each one that ran to CHECK (NULL: ERR stands) with ARG, and leaves
 * pipeline mode. Returns 0, or the first error: of starting or sending
 * (-ENOTCONN, -EIO), or one CHECK returned. -ENOTCONN when the results
 * could not all be read: the connection is then dropped (the server rolls
 * its transaction back) and the next db_pg_lock connects again.
 */
int db_pg_pipeline_finish(struct db_pg_pipeline *pl, db_pg_check_fn check, void *arg);

/* Opens a transaction (READ COMMITTED); end it with db_pg_finish. */
int db_pg_begin(struct db_pg *pg);

/*
 * Ends the transaction begun on PG: COMMIT when ERR is 0, ROLLBACK when it
 * is not or when the COMMIT fails. Returns ERR, or the COMMIT's error.
 */
int db_pg_finish(struct db_pg *pg, int err);

/* A transaction's body: its statements on PG (locked, in the transaction), with ARG its inputs. */
typedef int (*db_pg_body_fn)(struct db_pg *pg, void *arg);

/*
 * Runs FN(PG, ARG) in one transaction on DB's connection, taking and
 * releasing its lock, with the generation bumped after FN when BUMP (a
 * write check-ins must see): everything or nothing is written. A
 * transaction that lost a deadlock or a serialization race with another
 * node (-EAGAIN) is run again, DB_PG_ATTEMPTS times in all, so FN may run
 * more than once: it starts from ARG afresh each time (resetting whatever
 * it wrote there on an attempt that did not commit), and outputs it
 * leaves in ARG are the caller's to copy out only when this returns 0.
 * Returns 0 once committed; -ENOTCONN when the database cannot be
 * reached; FN's error (after a ROLLBACK) or the COMMIT's; -EIO, logged
 * with WHAT, when every attempt lost (db.h lists no -EAGAIN, and
 * db_pg_exec does not log it).
 */
int db_pg_transaction(struct db *db, db_pg_body_fn fn, void *arg, bool bump, const char *what);

/*
 * As db_pg_run, run again while it fails with -EAGAIN (a deadlock with
 * another node's statement), DB_PG_ATTEMPTS times in all: for a statement
 * that is its own transaction (the caller holds PG's lock, but is in no
 * db_pg_begin). Returns db_pg_run's result, -EAGAIN when every attempt lost.
 */
int db_pg_run_retried(struct db_pg *pg, const char *sql, const struct db_pg_params *p,
                      const char *what);

/*
 * Bumps the catalog's generation and NOTIFYs it on DB_PG_CATALOG_CHANNEL,
 * in the caller's transaction (the notification leaves at its commit):
 * every write a check-in must see (a product, its settings, a release).
 */
int db_pg_generation_bump(struct db_pg *pg);

/*
 * Writes blob SHA256 (LEN bytes of DATA: its row, then its chunks of
 * DB_BLOB_CHUNK_BYTES) in the caller's transaction: db_blob_put's body, and
 * what `otad migrate` (db_copy.c) calls inside its one transaction. A blob
 * already stored keeps its bytes and is stamped as stored now (its
 * created_ms, which db_blob_prune's cutoff reads). Returns 0 or db_pg_exec's
 * error.
 */
int db_pg_blob_write(struct db_pg *pg, const char *sha256, const uint8_t *data, size_t len);

/*
 * How many times a transaction that failed with -EAGAIN (a serialization
 * failure or a deadlock with another node) is tried in all.
 */
#define DB_PG_ATTEMPTS 4

/* The SQL of the device page query FILTER selects (db_pg_devices.c), for the tests of its plans. */
const char *db_pg_device_page_sql(const struct device_filter *filter, bool backward, bool count);

#endif
