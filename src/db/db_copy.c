/*
 * `otad migrate`'s mechanics (db_copy.h): the data folder's SQLite
 * database copied into an empty PostgreSQL database in one transaction,
 * then read back and compared. This file owns the order of the tables, the
 * COPY text format, the blobs' transfer and the checks; it knows no
 * table's meaning beyond which tables exist (the columns come from the two
 * schemas), and nothing of the store (the caller opens the blobs).
 *
 * SQLite is opened on its own connection, not through db_open: it is
 * locked exclusively (PRAGMA locking_mode = EXCLUSIVE, BEGIN EXCLUSIVE)
 * for the whole copy, which fails at once while any other connection has
 * the file open (a WAL database keeps a shared lock for as long as a
 * connection is open: a running otad is seen) and keeps one from starting
 * to write meanwhile. No row is written to it (closing it may fold its
 * write-ahead log into the file, as closing any connection does).
 *
 * PostgreSQL is opened with db_open (its migrations applied) and written
 * on that one connection: BEGIN, LOCK every table, refuse any rows, COPY
 * each table, the blobs (db_pg_blob_write, the chunks db_blob_put writes),
 * the identity sequences, meta, COMMIT. The checks read back through the
 * same connection after the commit, blobs through db_blob_get.
 */
#include "db/db_copy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/digest.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/util.h"
#include "db/db.h"
#ifdef OTAD_WITH_POSTGRESQL
#include "db/pg_internal.h"
#include "db/sqlite_internal.h"
#endif

const char *const db_copy_tables[] = {
    "products",
    "product_keys",
    "releases",
    "variants",
    "installed_digests",
    "tokens",
    "sessions",
    "devices",
    "version_days",
    "channels",
    "device_groups",
    "group_macs",
    "pins",
    "deployments",
    "rollouts",
    "rollout_devices",
    "device_events",
    "sources",
    "source_state",
    "source_tags",
    "webhook_deliveries",
    "audit",
    "notify_receivers",
    "notify_deliveries",
};
const size_t db_copy_table_count = ARRAY_SIZE(db_copy_tables);

const char *const db_copy_skipped_tables[] = {
    "meta",        "sqlite_sequence", "schema_migrations", "blobs",
    "blob_chunks", "nodes",           "registry_batches",
};
const size_t db_copy_skipped_table_count = ARRAY_SIZE(db_copy_skipped_tables);

int db_copy_text_field(struct buf *out, const char *text, size_t len)
{
    size_t run = 0; /* bytes before I that need no escape, not yet appended */
    for (size_t i = 0; i < len; i++) {
        const char *escape;
        switch (text[i]) {
        case '\\':
            escape = "\\\\";
            break;
        case '\t':
            escape = "\\t";
            break;
        case '\n':
            escape = "\\n";
            break;
        case '\r':
            escape = "\\r";
            break;
        case '\0':
            return -EINVAL;
        default:
            run++;
            continue;
        }
        int r = buf_append(out, text + i - run, run);
        if (r == 0)
            r = buf_append_str(out, escape);
        if (r < 0)
            return r;
        run = 0;
    }
    return buf_append(out, text + len - run, run);
}

int db_copy_bytea_field(struct buf *out, const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int r = buf_append_str(out, "\\\\x"); /* bytea's \x, its backslash escaped for COPY */
    for (size_t i = 0; i < len && r == 0; i++) {
        char pair[2] = {hex[data[i] >> 4], hex[data[i] & 15]};
        r = buf_append(out, pair, 2);
    }
    return r;
}

#ifndef OTAD_WITH_POSTGRESQL

int db_copy_sqlite_to_pg(const char *sqlite_path, const char *pg_url,
                         db_copy_blob_open_fn open_blob, db_copy_progress_fn progress, void *ctx,
                         struct reason *why)
{
    (void)sqlite_path;
    (void)pg_url;
    (void)open_blob;
    (void)progress;
    (void)ctx;
    return reason_set(why, -ENOTSUP,
                      "this otad was built without PostgreSQL (meson -Dpostgresql=enabled)");
}

#else

extern const unsigned sqlite_migrations_numbers[];
extern const size_t sqlite_migrations_count;

/* The most columns a copied table has (a schema's, not a peer's). */
#define COLUMNS_MAX     64
/* COPY data is sent in pieces of about this size. */
#define COPY_SEND_BYTES (1u << 20)
/* A row of COPY text: every column of a notification's body or an audit entry, escaped. */
#define COPY_BUF_MAX    (COPY_SEND_BYTES + 4u * LIMIT_REPLY_BODY_BYTES)

/* How long the copy waits for a lock on PostgreSQL's tables (a node still running). */
#define LOCK_TIMEOUT    "'5s'"

static void emit(db_copy_progress_fn progress, void *ctx, enum db_copy_stage stage,
                 const char *table, uint64_t rows, uint64_t blobs, uint64_t bytes)
{
    struct db_copy_event e = {
        .stage = stage, .table = table, .rows = rows, .blobs = blobs, .bytes = bytes};
    if (progress)
        progress(ctx, &e);
}

/* "name" with any " doubled, appended to OUT. */
static int append_identifier(struct buf *out, const char *name)
{
    int r = buf_append_str(out, "\"");
    for (const char *c = name; *c && r == 0; c++)
        r = *c == '"' ? buf_append_str(out, "\"\"") : buf_append(out, c, 1);
    if (r == 0)
        r = buf_append_str(out, "\"");
    return r;
}

/* --- SQLite, the source --- */

static int source_fail(sqlite3 *conn, const char *what, struct reason *why)
{
    log_error("database: %s: %s", what, sqlite3_errmsg(conn));
    return reason_set(why, -EIO, "SQLite: %s: %s", what, sqlite3_errmsg(conn));
}

/* One integer from SQL (with TEXT bound to ?1 when not NULL) into *RET; 0 when there is no row. */
static int source_int(sqlite3 *conn, const char *sql, const char *text, int64_t *ret,
                      struct reason *why)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(conn, sql, -1, &s, NULL) != SQLITE_OK)
        return source_fail(conn, sql, why);
    if (text)
        sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : source_fail(conn, sql, why);
}

/*
 * Opens PATH without creating it and locks it for the whole copy. -ENOENT
 * when it is not there, -EBUSY when another connection has it open, -EPROTO
 * when its schema is not the one this otad writes.
 */
static int source_open(const char *path, sqlite3 **ret_conn, struct reason *why)
{
    if (access(path, F_OK) != 0)
        return reason_set(why, -ENOENT, "no otad database at \"%s\" (is --data-dir right?)", path);
    sqlite3 *conn = NULL;
    int r = db_sqlite_open_existing(path, &conn, why);
    if (r < 0)
        return r;
    r = db_sqlite_lock_exclusive(conn, path, why);
    int64_t version = 0;
    /* user_version is the number of the newest migration applied (db_sqlite.c). */
    int64_t latest = sqlite_migrations_numbers[sqlite_migrations_count - 1];
    if (r == 0 && (r = source_int(conn, "PRAGMA user_version", NULL, &version, why)) == 0 &&
        version != latest)
        r = reason_set(why, -EPROTO,
                       "the data folder's schema is version %" PRId64 ", this otad's is %" PRId64
                       ": migrate with the otad that last served it%s",
                       version, latest,
                       version < latest ? ", or start this one on it once to upgrade it" : "");
    if (r < 0) {
        sqlite3_close(conn);
        return r;
    }
    *ret_conn = conn;
    return 0;
}

/* TABLE's column names into NAMES (COUNT of them; each freed by the caller). */
static int source_columns(sqlite3 *conn, const char *table, char *names[COLUMNS_MAX],
                          unsigned *ret_count, struct reason *why)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s')", table);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(conn, sql, -1, &s, NULL) != SQLITE_OK)
        return source_fail(conn, sql, why);
    unsigned n = 0;
    int r = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && r == 0) {
        if (n == COLUMNS_MAX)
            r = reason_set(why, -E2BIG, "table %s has more than %d columns", table, COLUMNS_MAX);
        else if (!(names[n] = strdup((const char *)sqlite3_column_text(s, 0))))
            r = -ENOMEM;
        else
            n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = source_fail(conn, sql, why);
    sqlite3_finalize(s);
    if (r == 0 && n == 0)
        r = reason_set(why, -EINVAL, "the data folder's database has no table %s", table);
    *ret_count = n;
    return r;
}

/* --- PostgreSQL, the target --- */

/* Fills WHY from a failed result (its primary message) and logs the whole of it. */
static int target_fail(struct db_pg *pg, PGresult *res, const char *what, struct reason *why)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    log_error("database: %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
    return reason_set(why, -EIO, "PostgreSQL: %s: %s%s%s", what,
                      primary ? primary : PQerrorMessage(pg->conn), detail ? " " : "",
                      detail ? detail : "");
}

/* Runs SQL (no parameters) expecting STATUS; the result into *RET_RES when not NULL. */
static int target_exec(struct db_pg *pg, const char *sql, ExecStatusType status, const char *what,
                       PGresult **ret_res, struct reason *why)
{
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != status) {
        int r = target_fail(pg, res, what, why);
        PQclear(res);
        return r;
    }
    if (ret_res)
        *ret_res = res;
    else
        PQclear(res);
    return 0;
}

/* One integer from SQL into *RET. */
static int target_int(struct db_pg *pg, const char *sql, const char *what, int64_t *ret,
                      struct reason *why)
{
    PGresult *res = NULL;
    int r = target_exec(pg, sql, PGRES_TUPLES_OK, what, &res, why);
    if (r < 0)
        return r;
    *ret = PQntuples(res) == 1 ? db_pg_int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

/*
 * Locks every table of the target against writers (a node still running on
 * it waits, or the copy gives up after LOCK_TIMEOUT) and refuses when any
 * but meta and schema_migrations has a row.
 */
static int target_lock_empty(struct db_pg *pg, struct reason *why)
{
    PGresult *tables = NULL;
    int r = target_exec(pg,
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
                        "ORDER BY table_name",
                        PGRES_TUPLES_OK, "list the tables", &tables, why);
    if (r < 0)
        return r;
    struct buf sql;
    buf_init(&sql, 64u << 10);
    r = buf_append_str(&sql, "LOCK TABLE ");
    for (int i = 0; i < PQntuples(tables) && r == 0; i++) {
        if (i > 0)
            r = buf_append_str(&sql, ", ");
        if (r == 0)
            r = append_identifier(&sql, PQgetvalue(tables, i, 0));
    }
    if (r == 0)
        r = buf_append_str(&sql, " IN EXCLUSIVE MODE");
    if (r == 0)
        r = target_exec(pg, "SET LOCAL lock_timeout = " LOCK_TIMEOUT, PGRES_COMMAND_OK,
                        "set the lock timeout", NULL, why);
    if (r == 0 && PQntuples(tables) > 0)
        r = target_exec(pg, (const char *)sql.data, PGRES_COMMAND_OK,
                        "lock the tables (is an otad node running on this database?)", NULL, why);
    for (int i = 0; i < PQntuples(tables) && r == 0; i++) {
        const char *name = PQgetvalue(tables, i, 0);
        if (strcmp(name, "meta") == 0 || strcmp(name, "schema_migrations") == 0)
            continue;
        buf_reset(&sql);
        int64_t any = 0;
        if ((r = buf_append_str(&sql, "SELECT EXISTS (SELECT 1 FROM ")) == 0 &&
            (r = append_identifier(&sql, name)) == 0 && (r = buf_append_str(&sql, ")::int")) == 0)
            r = target_int(pg, (const char *)sql.data, "look for rows", &any, why);
        if (r == 0 && any)
            r = reason_set(why, -ENOTEMPTY,
                           "the PostgreSQL database is not empty (table %s has rows): migrate "
                           "copies into a new, empty database only",
                           name);
    }
    if (r == -ENOMEM || r == -E2BIG)
        r = reason_set(why, -ENOMEM, "out of memory");
    buf_release(&sql);
    PQclear(tables);
    return r;
}

/*
 * Matches each of TABLE's source columns NAMES (COUNT) with the target's:
 * -EINVAL when one has no counterpart; whether each is a bytea into BYTEA.
 */
static int target_columns(struct db_pg *pg, const char *table, char *const names[], unsigned count,
                          bool bytea[], struct reason *why)
{
    const char *values[1] = {table};
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = current_schema() AND table_name = $1",
                                 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int r = target_fail(pg, res, "read the columns", why);
        PQclear(res);
        return r;
    }
    int r = 0;
    for (unsigned i = 0; i < count && r == 0; i++) {
        int found = -1;
        for (int row = 0; row < PQntuples(res) && found < 0; row++)
            if (strcmp(PQgetvalue(res, row, 0), names[i]) == 0)
                found = row;
        if (found < 0)
            r = reason_set(why, -EINVAL,
                           "column %s.%s of the data folder's database has no PostgreSQL "
                           "counterpart: is this otad's PostgreSQL schema older than its SQLite "
                           "one?",
                           table, names[i]);
        else
            bytea[i] = strcmp(PQgetvalue(res, found, 1), "bytea") == 0;
    }
    PQclear(res);
    return r;
}

/* Appends column I of S's current row to ROW as a COPY field. */
static int append_field(struct buf *row, sqlite3_stmt *s, int i, bool bytea, const char *table,
                        const char *column, struct reason *why)
{
    int type = sqlite3_column_type(s, i);
    if (type == SQLITE_NULL)
        return buf_append_str(row, DB_COPY_NULL_FIELD);
    if (bytea)
        return db_copy_bytea_field(row, sqlite3_column_blob(s, i),
                                   (size_t)sqlite3_column_bytes(s, i));
    if (type == SQLITE_INTEGER)
        return buf_printf(row, "%lld", (long long)sqlite3_column_int64(s, i));
    if (type == SQLITE_FLOAT)
        return buf_printf(row, "%.17g", sqlite3_column_double(s, i));
    const char *text = (const char *)sqlite3_column_text(s, i);
    int r = db_copy_text_field(row, text ? text : "", (size_t)sqlite3_column_bytes(s, i));
    if (r == -EINVAL)
        r = reason_set(why, -EINVAL,
                       "a value of %s.%s holds a NUL byte, which PostgreSQL's text cannot", table,
                       column);
    return r;
}

/* Sends ROW's bytes as COPY data and empties it. */
static int copy_send(struct db_pg *pg, struct buf *row, struct reason *why)
{
    if (row->len == 0)
        return 0;
    if (PQputCopyData(pg->conn, (const char *)row->data, (int)row->len) != 1)
        return target_fail(pg, NULL, "send COPY data", why);
    buf_reset(row);
    return 0;
}

/* Ends the COPY in progress: done when ERR is 0, else aborted. Returns ERR or the COPY's error. */
static int copy_end(struct db_pg *pg, int err, const char *table, uint64_t *ret_rows,
                    struct reason *why)
{
    if (PQputCopyEnd(pg->conn, err == 0 ? NULL : "otad migrate stopped the copy") != 1 && err == 0)
        err = target_fail(pg, NULL, "end COPY", why);
    PGresult *res;
    while ((res = PQgetResult(pg->conn))) {
        if (err == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[96];
            snprintf(what, sizeof(what), "copy table %s", table);
            err = target_fail(pg, res, what, why);
        } else if (err == 0) {
            *ret_rows = strtoull(PQcmdTuples(res), NULL, 10);
        }
        PQclear(res);
    }
    return err;
}

/* Copies TABLE's rows through COPY; their number into *RET_ROWS. */
static int copy_table(struct db_pg *pg, sqlite3 *src, const char *table, uint64_t *ret_rows,
                      struct reason *why)
{
    char *names[COLUMNS_MAX];
    bool bytea[COLUMNS_MAX];
    unsigned n = 0;
    int r = source_columns(src, table, names, &n, why);
    if (r == 0)
        r = target_columns(pg, table, names, n, bytea, why);
    struct buf select, copy, row;
    buf_init(&select, 16u << 10);
    buf_init(&copy, 16u << 10);
    buf_init(&row, COPY_BUF_MAX);
    if (r == 0 &&
        ((r = buf_append_str(&select, "SELECT ")) < 0 || (r = buf_append_str(&copy, "COPY ")) < 0 ||
         (r = append_identifier(&copy, table)) < 0 || (r = buf_append_str(&copy, " (")) < 0))
        r = -ENOMEM;
    for (unsigned i = 0; i < n && r == 0; i++) {
        const char *sep = i ? ", " : "";
        if (buf_append_str(&select, sep) < 0 || append_identifier(&select, names[i]) < 0 ||
            buf_append_str(&copy, sep) < 0 || append_identifier(&copy, names[i]) < 0)
            r = -ENOMEM;
    }
    if (r == 0 && (buf_append_str(&select, " FROM ") < 0 || append_identifier(&select, table) < 0 ||
                   buf_append_str(&copy, ") FROM STDIN") < 0))
        r = -ENOMEM;
    if (r == -ENOMEM)
        r = reason_set(why, -ENOMEM, "out of memory");
    sqlite3_stmt *s = NULL;
    if (r == 0 && sqlite3_prepare_v2(src, (const char *)select.data, -1, &s, NULL) != SQLITE_OK)
        r = source_fail(src, "read a table", why);
    if (r == 0)
        r = target_exec(pg, (const char *)copy.data, PGRES_COPY_IN, "start COPY", NULL, why);
    if (r == 0) {
        int rc;
        uint64_t sent = 0;
        while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            for (unsigned i = 0; i < n && r == 0; i++) {
                if (i > 0)
                    r = buf_append_str(&row, "\t");
                if (r == 0)
                    r = append_field(&row, s, (int)i, bytea[i], table, names[i], why);
            }
            if (r == 0)
                r = buf_append_str(&row, "\n");
            if (r == -ENOMEM || r == -E2BIG)
                r = reason_set(why, -ENOMEM, "a row of %s does not fit in memory", table);
            if (r == 0 && row.len >= COPY_SEND_BYTES)
                r = copy_send(pg, &row, why);
            sent++;
        }
        if (r == 0 && rc != SQLITE_DONE)
            r = source_fail(src, "read a table", why);
        if (r == 0)
            r = copy_send(pg, &row, why);
        uint64_t copied = 0;
        r = copy_end(pg, r, table, &copied, why);
        if (r == 0 && copied != sent)
            r = reason_set(why, -EIO, "table %s: %" PRIu64 " rows read, PostgreSQL took %" PRIu64,
                           table, sent, copied);
        if (r == 0)
            *ret_rows = copied;
    }
    sqlite3_finalize(s);
    buf_release(&select);
    buf_release(&copy);
    buf_release(&row);
    for (unsigned i = 0; i < n; i++)
        free(names[i]);
    return r;
}

/* --- blobs --- */

/* A blob the releases need: its name and the size its variants say. */
struct blob_need {
    char sha256[SHA256_HEX_LEN + 1];
    uint64_t size;
};

/* Every blob a variant names, by name, into a new array (the caller frees it). */
static int blob_needs(sqlite3 *src, struct blob_need **ret, size_t *ret_count, struct reason *why)
{
    const char *sql = "SELECT sha256, MAX(size) FROM variants GROUP BY sha256 ORDER BY sha256";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(src, sql, -1, &s, NULL) != SQLITE_OK)
        return source_fail(src, "list the variants' blobs", why);
    struct blob_need *needs = NULL;
    size_t n = 0, cap = 0;
    int r = 0, rc;
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct blob_need *grown = realloc(needs, ncap * sizeof(*grown));
            if (!grown) {
                r = reason_set(why, -ENOMEM, "out of memory");
                break;
            }
            needs = grown;
            cap = ncap;
        }
        const char *sha = (const char *)sqlite3_column_text(s, 0);
        if (!sha || str_copy(needs[n].sha256, sizeof(needs[n].sha256), sha) < 0)
            r = reason_set(why, -EINVAL, "a variant names blob \"%.80s\", not a SHA-256",
                           sha ? sha : "");
        needs[n].size = (uint64_t)sqlite3_column_int64(s, 1);
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = source_fail(src, "list the variants' blobs", why);
    sqlite3_finalize(s);
    if (r < 0) {
        free(needs);
        return r;
    }
    *ret = needs;
    *ret_count = n;
    return 0;
}

/* Reads exactly SIZE bytes from FD into a new allocation; -EIO when the file ends early or late. */
static int read_all(int fd, uint64_t size, uint8_t **ret_data)
{
    uint8_t *data = malloc(size ? (size_t)size : 1);
    if (!data)
        return -ENOMEM;
    size_t got = 0;
    while (got <= size) {
        uint8_t extra;
        ssize_t n = got < size ? read(fd, data + got, (size_t)(size - got)) : read(fd, &extra, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            free(data);
            return r;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != size) {
        free(data);
        return -EIO;
    }
    *ret_data = data;
    return 0;
}

/* Copies blob NEED from OPEN_BLOB into the target, checked against its name and size. */
static int copy_blob(struct db_pg *pg, const struct blob_need *need, db_copy_blob_open_fn open_blob,
                     void *ctx, struct reason *why)
{
    int fd = -1;
    uint64_t size = 0;
    int r = open_blob(ctx, need->sha256, &fd, &size, why);
    if (r < 0)
        return r;
    if (size != need->size || size > LIMIT_BLOB_BYTES)
        r = reason_set(why, -EBADMSG, "blob %s has %" PRIu64 " bytes, its release says %" PRIu64,
                       need->sha256, size, need->size);
    uint8_t *data = NULL;
    if (r == 0 && (r = read_all(fd, size, &data)) < 0)
        reason_set(why, r, "cannot read blob %s: %s", need->sha256, strerror(-r));
    close(fd);
    if (r < 0)
        return r;
    char hash[SHA256_HEX_LEN + 1];
    digest_sha256_hex(data, (size_t)size, hash);
    if (strcmp(hash, need->sha256) != 0)
        r = reason_set(why, -EBADMSG, "blob %s is damaged: its bytes hash to %s", need->sha256,
                       hash);
    if (r == 0 && (r = db_pg_blob_write(pg, need->sha256, data, (size_t)size)) < 0)
        reason_set(why, r, "PostgreSQL: cannot store blob %s (see the log)", need->sha256);
    free(data);
    return r;
}

/* --- sequences and meta --- */

/*
 * Moves each identity column's sequence past the column's largest value
 * and past SQLite's AUTOINCREMENT counter (audit ids are never reused,
 * even after the newest rows were deleted).
 */
static int set_sequences(struct db_pg *pg, sqlite3 *src, struct reason *why)
{
    PGresult *ids = NULL;
    int r = target_exec(pg,
                        "SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND is_identity = 'YES' "
                        "ORDER BY table_name",
                        PGRES_TUPLES_OK, "list the identity columns", &ids, why);
    if (r < 0)
        return r;
    bool has_sequence_table = false;
    int64_t found = 0;
    r = source_int(src,
                   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                   "name = 'sqlite_sequence'",
                   NULL, &found, why);
    has_sequence_table = found > 0;
    for (int i = 0; i < PQntuples(ids) && r == 0; i++) {
        const char *table = PQgetvalue(ids, i, 0), *column = PQgetvalue(ids, i, 1);
        int64_t counter = 0;
        if (has_sequence_table)
            r = source_int(src, "SELECT seq FROM sqlite_sequence WHERE name = ?1", table, &counter,
                           why);
        struct buf sql;
        buf_init(&sql, 4096);
        char number[24];
        snprintf(number, sizeof(number), "%" PRId64, counter);
        if (r == 0 && (buf_append_str(&sql, "SELECT setval(pg_get_serial_sequence($1, $2), "
                                            "GREATEST(COALESCE((SELECT MAX(") < 0 ||
                       append_identifier(&sql, column) < 0 || buf_append_str(&sql, ") FROM ") < 0 ||
                       append_identifier(&sql, table) < 0 ||
                       buf_append_str(&sql, "), 0), $3::bigint) + 1, false)") < 0))
            r = reason_set(why, -ENOMEM, "out of memory");
        if (r == 0) {
            const char *values[3] = {table, column, number};
            PGresult *res =
                PQexecParams(pg->conn, (const char *)sql.data, 3, NULL, values, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_TUPLES_OK)
                r = target_fail(pg, res, "set an identity's sequence", why);
            PQclear(res);
        }
        buf_release(&sql);
    }
    PQclear(ids);
    return r;
}

/* meta's rows (the catalog's generation) as SQLite has them. */
static int copy_meta(struct db_pg *pg, sqlite3 *src, struct reason *why)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(src, "SELECT key, value FROM meta", -1, &s, NULL) != SQLITE_OK)
        return source_fail(src, "read meta", why);
    int r = 0, rc;
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *values[2] = {(const char *)sqlite3_column_text(s, 0),
                                 (const char *)sqlite3_column_text(s, 1)};
        PGresult *res = PQexecParams(pg->conn,
                                     "INSERT INTO meta (key, value) VALUES ($1, $2) "
                                     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                                     2, NULL, values, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            r = target_fail(pg, res, "copy meta", why);
        PQclear(res);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = source_fail(src, "read meta", why);
    sqlite3_finalize(s);
    return r;
}

/* --- the copy and its checks --- */

struct copy {
    sqlite3 *src;
    struct db *db;
    struct blob_need *blobs;
    size_t blob_count;
    db_copy_blob_open_fn open_blob;
    db_copy_progress_fn progress;
    void *ctx;
};

/* Everything, in one transaction on PG. */
static int copy_all(struct copy *c, struct db_pg *pg, struct reason *why)
{
    int r = db_pg_begin(pg);
    if (r < 0)
        return reason_set(why, r, "PostgreSQL: cannot begin a transaction (see the log)");
    r = target_lock_empty(pg, why);
    for (size_t i = 0; i < db_copy_table_count && r == 0; i++) {
        uint64_t rows = 0;
        if ((r = copy_table(pg, c->src, db_copy_tables[i], &rows, why)) == 0)
            emit(c->progress, c->ctx, DB_COPY_TABLE_COPIED, db_copy_tables[i], rows, 0, 0);
    }
    if (r == 0)
        r = blob_needs(c->src, &c->blobs, &c->blob_count, why);
    for (size_t i = 0; i < c->blob_count && r == 0; i++)
        r = copy_blob(pg, &c->blobs[i], c->open_blob, c->ctx, why);
    if (r == 0)
        r = set_sequences(pg, c->src, why);
    if (r == 0)
        r = copy_meta(pg, c->src, why);
    int committed = db_pg_finish(pg, r);
    if (r == 0 && committed < 0)
        r = reason_set(why, committed, "PostgreSQL: the commit failed (see the log)");
    return r;
}

/* After the commit: each table's rows and meta's generation are the same on both sides. */
static int verify_tables(struct copy *c, struct db_pg *pg, struct reason *why)
{
    int r = 0;
    for (size_t i = 0; i < db_copy_table_count && r == 0; i++) {
        const char *table = db_copy_tables[i];
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", table);
        int64_t source = 0, target = 0;
        if ((r = source_int(c->src, sql, NULL, &source, why)) < 0 ||
            (r = target_int(pg, sql, "count rows", &target, why)) < 0)
            break;
        if (source != target)
            r = reason_set(why, -EIO,
                           "table %s has %" PRId64 " rows in SQLite, %" PRId64 " in PostgreSQL",
                           table, source, target);
        else
            emit(c->progress, c->ctx, DB_COPY_TABLE_VERIFIED, table, (uint64_t)target, 0, 0);
    }
    const char *generation = "SELECT value FROM meta WHERE key = 'catalog_generation'";
    int64_t source = 0, target = 0;
    if (r == 0 && (r = source_int(c->src, generation, NULL, &source, why)) == 0 &&
        (r = target_int(pg, generation, "read the generation", &target, why)) == 0 &&
        source != target)
        r = reason_set(why, -EIO,
                       "the catalog generation is %" PRId64 " in SQLite, %" PRId64 " in PostgreSQL",
                       source, target);
    int64_t blobs = 0;
    if (r == 0 &&
        (r = target_int(pg, "SELECT count(*) FROM blobs", "count blobs", &blobs, why)) == 0 &&
        (uint64_t)blobs != c->blob_count)
        r = reason_set(why, -EIO, "PostgreSQL has %" PRId64 " blobs, %zu were copied", blobs,
                       c->blob_count);
    return r;
}

/* After the commit: each blob read back from PostgreSQL hashes to its name, with its size. */
static int verify_blobs(struct copy *c, struct reason *why)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < c->blob_count; i++) {
        const struct blob_need *b = &c->blobs[i];
        uint8_t *data = NULL;
        size_t len = 0;
        int r = db_blob_get(c->db, b->sha256, LIMIT_BLOB_BYTES, &data, &len);
        if (r < 0)
            return reason_set(why, r, "blob %s cannot be read back from PostgreSQL: %s", b->sha256,
                              strerror(-r));
        char hash[SHA256_HEX_LEN + 1];
        digest_sha256_hex(data, len, hash);
        free(data);
        if (len != b->size || strcmp(hash, b->sha256) != 0)
            return reason_set(why, -EIO,
                              "blob %s read back from PostgreSQL is %zu bytes hashing to %s",
                              b->sha256, len, hash);
        bytes += len;
    }
    emit(c->progress, c->ctx, DB_COPY_BLOBS_VERIFIED, NULL, 0, c->blob_count, bytes);
    return 0;
}

int db_copy_sqlite_to_pg(const char *sqlite_path, const char *pg_url,
                         db_copy_blob_open_fn open_blob, db_copy_progress_fn progress, void *ctx,
                         struct reason *why)
{
    struct reason local = {""};
    struct copy c = {.open_blob = open_blob, .progress = progress, .ctx = ctx};
    int r = 0;
    if (!db_location_is_postgresql(pg_url)) {
        r = reason_set(&local, -EINVAL, "the target must be a postgresql:// URL");
        goto out;
    }
    if ((r = source_open(sqlite_path, &c.src, &local)) < 0)
        goto out;
    if ((r = db_open(pg_url, DB_DURABLE, &c.db)) < 0) {
        reason_set(&local, r, "cannot open the PostgreSQL database: %s (see the log)",
                   r == -ENOTCONN ? "it cannot be reached" : strerror(-r));
        goto out;
    }
    struct db_pg *pg = db_pg_lock(c.db);
    if (!pg) {
        r = reason_set(&local, -ENOTCONN, "PostgreSQL cannot be reached");
        goto out;
    }
    r = copy_all(&c, pg, &local);
    if (r == 0)
        r = verify_tables(&c, pg, &local);
    db_pg_unlock(pg);
    if (r == 0)
        r = verify_blobs(&c, &local);
out:
    if (r < 0 && !local.text[0])
        reason_set(&local, r, "%s (see the log)", strerror(-r));
    if (r < 0 && why)
        *why = local;
    free(c.blobs);
    db_close(c.db);
    if (c.src) {
        sqlite3_exec(c.src, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(c.src);
    }
    return r;
}

#endif
