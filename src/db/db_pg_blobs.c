/*
 * Releases' blobs in PostgreSQL (db.h, db_blob_put / db_blob_get; tables
 * blobs and blob_chunks of migration 010): what lets every node serve every
 * release. A blob is written in one transaction, its row first and then its
 * chunks of DB_BLOB_CHUNK_BYTES, each sent binary; two nodes storing the same
 * blob at once both succeed (the second's row conflicts and it stops there,
 * after the first committed: the row insert waits for the first's
 * transaction). A blob already stored is stamped as stored now, so the
 * prune (below) spares a blob a publish is about to name. A read fetches one
 * chunk per statement, binary, so a 16 MiB image never sits in libpq twice,
 * and checks that the chunks add up. The prune deletes the blobs no variant
 * names, older than its cutoff, in one statement (the chunks follow by the
 * foreign key's cascade); a blob a publish stamps meanwhile is re-checked by
 * PostgreSQL against the cutoff before it is deleted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/pg_internal.h"

int db_pg_blob_write(struct db_pg *pg, const char *sha256, const uint8_t *data, size_t len)
{
    size_t chunks = (len + DB_BLOB_CHUNK_BYTES - 1) / DB_BLOB_CHUNK_BYTES;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, sha256);
    db_pg_param_int(&p, (int64_t)len);
    db_pg_param_int(&p, DB_BLOB_CHUNK_BYTES);
    db_pg_param_int(&p, (int64_t)chunks);
    db_pg_param_int(&p, time_now_ms());
    PGresult *res;
    int r = db_pg_exec(pg,
                       "INSERT INTO blobs (sha256, size, chunk_bytes, chunks, created_ms) "
                       "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) "
                       "DO UPDATE SET created_ms = EXCLUDED.created_ms RETURNING xmax = 0",
                       &p, "store a blob", &res);
    if (r < 0)
        return r;
    /* xmax is 0 on a row this statement inserted, set on one it updated (a stamp). */
    bool inserted = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!inserted) /* another publish stored it (whole: its transaction committed) */
        return 0;
    for (size_t i = 0; i < chunks && r == 0; i++) {
        size_t off = i * DB_BLOB_CHUNK_BYTES;
        size_t n = len - off < DB_BLOB_CHUNK_BYTES ? len - off : DB_BLOB_CHUNK_BYTES;
        db_pg_params_init(&p);
        db_pg_param_text(&p, sha256);
        db_pg_param_int(&p, (int64_t)i);
        db_pg_param_bytes(&p, data + off, n);
        r = db_pg_run(pg, "INSERT INTO blob_chunks (sha256, seq, data) VALUES ($1, $2, $3)", &p,
                      "store a blob's chunk");
    }
    return r;
}

/* db_blob_put's inputs, for its transaction's body. */
struct blob_put {
    const char *sha256;
    const uint8_t *data;
    size_t len;
};

static int blob_put_locked(struct db_pg *pg, void *arg)
{
    const struct blob_put *b = arg;
    return db_pg_blob_write(pg, b->sha256, b->data, b->len);
}

int db_pg_blob_put(struct db *db, const char *sha256, const uint8_t *data, size_t len)
{
    struct blob_put b = {sha256, data, len};
    return db_pg_transaction(db, blob_put_locked, &b, false, "store a blob");
}

/* Reads chunk SEQ of blob SHA256 (binary) into OUT at its place; -EIO when its size is wrong. */
static int chunk_read(struct db_pg *pg, const char *sha256, int64_t seq, uint8_t *out,
                      size_t expected)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, sha256);
    db_pg_param_int(&p, seq);
    PGresult *res;
    int r = db_pg_exec_as(pg, "SELECT data FROM blob_chunks WHERE sha256 = $1 AND seq = $2", &p,
                          true, "read a blob's chunk", &res);
    if (r < 0)
        return r;
    if (PQntuples(res) != 1 || (size_t)PQgetlength(res, 0, 0) != expected) {
        /* Debug only: a node retries at every poll, and its caller logs the -EIO once. */
        log_debug("database: blob %s: chunk %lld is missing or of the wrong size", sha256,
                  (long long)seq);
        r = -EIO;
    } else {
        memcpy(out, PQgetvalue(res, 0, 0), expected);
    }
    PQclear(res);
    return r;
}

/* The columns of a blobs row. */
struct blob_row {
    int64_t size, chunk_bytes, chunks;
};

static void fill_blob_row(const PGresult *res, int row, void *out)
{
    struct blob_row *b = out;
    b->size = db_pg_int(res, row, 0);
    b->chunk_bytes = db_pg_int(res, row, 1);
    b->chunks = db_pg_int(res, row, 2);
}

int db_pg_blob_get(struct db *db, const char *sha256, size_t max, uint8_t **ret_data,
                   size_t *ret_len)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, sha256);
    struct blob_row b;
    uint8_t *data = NULL;
    int r = db_pg_get(pg, "SELECT size, chunk_bytes, chunks FROM blobs WHERE sha256 = $1", &p,
                      fill_blob_row, &b, "read a blob");
    if (r == 0 && (b.size < 0 || b.chunk_bytes <= 0 || b.chunks < 0 ||
                   b.chunks != (b.size + b.chunk_bytes - 1) / b.chunk_bytes)) {
        log_debug("database: blob %s: its size and chunks do not agree", sha256);
        r = -EIO;
    }
    if (r == 0 && (uint64_t)b.size > max)
        r = -EFBIG;
    if (r == 0 && !(data = malloc(b.size ? (size_t)b.size : 1)))
        r = -ENOMEM;
    for (int64_t i = 0; r == 0 && i < b.chunks; i++) {
        int64_t off = i * b.chunk_bytes;
        int64_t n = b.size - off < b.chunk_bytes ? b.size - off : b.chunk_bytes;
        r = chunk_read(pg, sha256, i, data + off, (size_t)n);
    }
    db_pg_unlock(pg);
    if (r < 0) {
        free(data);
        return r;
    }
    *ret_data = data;
    *ret_len = (size_t)b.size;
    return 0;
}

/* Blobs no variant names, stored before $1; the chunks follow (ON DELETE CASCADE). */
static const char blob_prune[] =
    "DELETE FROM blobs b WHERE b.created_ms < $1 "
    "AND NOT EXISTS (SELECT 1 FROM variants v WHERE v.sha256 = b.sha256)";

int db_pg_blob_prune(struct db *db, int64_t created_before_ms, size_t *ret_deleted)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, created_before_ms);
    PGresult *res;
    int r = db_pg_exec(pg, blob_prune, &p, "delete unused blobs", &res);
    if (r == 0) {
        *ret_deleted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    db_pg_unlock(pg);
    return r;
}
