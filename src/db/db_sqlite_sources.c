/*
 * The SQLite implementation of db_sources.h: the sources, source_state,
 * source_tags and webhook_deliveries tables of migration 002 (a source's
 * last refused tag is read from source_tags with the source). These calls
 * are rare (a poll every few minutes, an operator's command), so each
 * statement is prepared for the call and finalized after it; the lock of the
 * shared connection is held from prepare to finalize.
 */
#include "db/db_sources.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "db/sqlite_internal.h"

#define SOURCE_COLUMNS                                                                             \
    "s.id, s.product_id, p.name, s.owner, s.repo, s.asset_glob, s.token_file, s.token_env, "       \
    "s.secret_file, s.secret_env, s.prerelease_channel, s.api_url, s.poll_interval_s, "            \
    "s.created_ms, st.etag, st.last_poll_ms, st.last_change_ms, st.last_tag, st.last_error_ms, "   \
    "st.last_error, st.failures, st.rate_limit, st.rate_remaining, st.rate_reset_ms, "             \
    "st.next_poll_ms, st.not_before_ms, st.api_calls, rt.tag, rt.detail, rt.updated_ms "           \
    "FROM sources s JOIN products p ON p.id = s.product_id "                                       \
    "JOIN source_state st ON st.source_id = s.id "                                                 \
    "LEFT JOIN source_tags rt ON rt.source_id = s.id AND rt.tag = (SELECT t.tag FROM source_tags " \
    "t WHERE t.source_id = s.id AND t.status = 2 ORDER BY t.updated_ms DESC, t.tag DESC LIMIT 1) "

_Static_assert(SOURCE_TAG_REFUSED == 2, "SOURCE_COLUMNS names the refused status 2");

/* Prepares SQL on SQ's connection into *RET (the lock is held). Returns 0 or -EIO after logging. */
static int prepare(struct db_sqlite *sq, const char *sql, sqlite3_stmt **ret)
{
    if (sqlite3_prepare_v2(sq->conn, sql, -1, ret, NULL) != SQLITE_OK) {
        *ret = NULL;
        return db_sqlite_fail(sq, "prepare");
    }
    return 0;
}

/* Steps S once more for a statement that returns no rows. */
static int step_done(struct db_sqlite *sq, sqlite3_stmt *s, const char *what)
{
    return db_sqlite_result(sq, sqlite3_step(s), what);
}

static int exec(struct db_sqlite *sq, const char *sql)
{
    if (sqlite3_exec(sq->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_sqlite_fail(sq, sql);
    return 0;
}

static void text_col(sqlite3_stmt *s, int i, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t || str_copy(out, size, (const char *)t) < 0)
        out[0] = 0;
}

static void row_from(sqlite3_stmt *s, struct source_row *row)
{
    memset(row, 0, sizeof(*row));
    struct source *src = &row->source;
    struct source_state *st = &row->state;
    int i = 0;
    src->id = sqlite3_column_int64(s, i++);
    src->product_id = sqlite3_column_int64(s, i++);
    text_col(s, i++, src->product, sizeof(src->product));
    text_col(s, i++, src->owner, sizeof(src->owner));
    text_col(s, i++, src->repo, sizeof(src->repo));
    text_col(s, i++, src->asset_glob, sizeof(src->asset_glob));
    text_col(s, i++, src->token_file, sizeof(src->token_file));
    text_col(s, i++, src->token_env, sizeof(src->token_env));
    text_col(s, i++, src->secret_file, sizeof(src->secret_file));
    text_col(s, i++, src->secret_env, sizeof(src->secret_env));
    text_col(s, i++, src->prerelease_channel, sizeof(src->prerelease_channel));
    text_col(s, i++, src->api_url, sizeof(src->api_url));
    int64_t interval = sqlite3_column_int64(s, i++);
    src->poll_interval_s = interval > 0 ? (uint64_t)interval : 0;
    src->created_ms = sqlite3_column_int64(s, i++);
    text_col(s, i++, st->etag, sizeof(st->etag));
    st->last_poll_ms = sqlite3_column_int64(s, i++);
    st->last_change_ms = sqlite3_column_int64(s, i++);
    text_col(s, i++, st->last_tag, sizeof(st->last_tag));
    st->last_error_ms = sqlite3_column_int64(s, i++);
    text_col(s, i++, st->last_error, sizeof(st->last_error));
    st->failures = sqlite3_column_int64(s, i++);
    st->rate_limit = sqlite3_column_int64(s, i++);
    st->rate_remaining = sqlite3_column_int64(s, i++);
    st->rate_reset_ms = sqlite3_column_int64(s, i++);
    st->next_poll_ms = sqlite3_column_int64(s, i++);
    st->not_before_ms = sqlite3_column_int64(s, i++);
    st->api_calls = sqlite3_column_int64(s, i++);
    struct source_tag *refused = &row->last_refused; /* NULLs when none: "" and 0 */
    text_col(s, i++, refused->tag, sizeof(refused->tag));
    refused->status = SOURCE_TAG_REFUSED;
    text_col(s, i++, refused->detail, sizeof(refused->detail));
    refused->updated_ms = sqlite3_column_int64(s, i++);
}

int db_source_insert(struct db *db, struct source *src)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    int64_t now = time_now_ms();
    pthread_mutex_lock(&sq->lock);
    int r = exec(sq, "BEGIN IMMEDIATE");
    if (r < 0)
        goto out;
    r = prepare(sq,
                "INSERT INTO sources (product_id, owner, repo, asset_glob, token_file, token_env, "
                "secret_file, secret_env, prerelease_channel, api_url, poll_interval_s, "
                "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                &s);
    if (r < 0)
        goto rollback;
    sqlite3_bind_int64(s, 1, src->product_id);
    sqlite3_bind_text(s, 2, src->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, src->repo, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, src->asset_glob, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, src->token_file, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, src->token_env, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, src->secret_file, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, src->secret_env, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, src->prerelease_channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, src->api_url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, (int64_t)src->poll_interval_s);
    sqlite3_bind_int64(s, 12, now);
    if ((r = step_done(sq, s, "insert source")) < 0)
        goto rollback;
    int64_t id = sqlite3_last_insert_rowid(sq->conn);
    sqlite3_finalize(s);
    if ((r = prepare(sq, "INSERT INTO source_state (source_id) VALUES (?1)", &s)) < 0)
        goto rollback;
    sqlite3_bind_int64(s, 1, id);
    if ((r = step_done(sq, s, "insert source state")) < 0)
        goto rollback;
    if ((r = exec(sq, "COMMIT")) < 0)
        goto rollback;
    src->id = id;
    src->created_ms = now;
    goto out;
rollback:
    sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_delete(struct db *db, int64_t id)
{
    static const char *const deletes[] = {
        "DELETE FROM source_tags WHERE source_id = ?1",
        "DELETE FROM source_state WHERE source_id = ?1",
        "DELETE FROM sources WHERE id = ?1",
    };
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = exec(sq, "BEGIN IMMEDIATE");
    if (r < 0)
        goto out;
    for (size_t i = 0; i < ARRAY_SIZE(deletes); i++) {
        if ((r = prepare(sq, deletes[i], &s)) < 0)
            goto rollback;
        sqlite3_bind_int64(s, 1, id);
        if ((r = step_done(sq, s, "delete source")) < 0)
            goto rollback;
        sqlite3_finalize(s);
        s = NULL;
    }
    if (sqlite3_changes(sq->conn) == 0) {
        r = -ENOENT;
        goto rollback;
    }
    if ((r = exec(sq, "COMMIT")) < 0)
        goto rollback;
    goto out;
rollback:
    sqlite3_exec(sq->conn, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_get(struct db *db, int64_t id, struct source_row *ret_row)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq, "SELECT " SOURCE_COLUMNS "WHERE s.id = ?1", &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        row_from(s, ret_row);
    else
        r = rc == SQLITE_DONE ? -ENOENT : db_sqlite_fail(sq, "get source");
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_list(struct db *db, struct source_row **ret_rows, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    struct source_row *rows = NULL;
    size_t count = 0, cap = 0;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq, "SELECT " SOURCE_COLUMNS "ORDER BY s.id", &s);
    if (r < 0)
        goto out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == LIMIT_SOURCES)
            break; /* the CLI refuses more; a database edited by hand gets the first ones */
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct source_row *n = realloc(rows, ncap * sizeof(*rows));
            if (!n) {
                r = -ENOMEM;
                goto out;
            }
            rows = n;
            cap = ncap;
        }
        row_from(s, &rows[count++]);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = db_sqlite_fail(sq, "list sources");
        goto out;
    }
    *ret_rows = rows;
    *ret_count = count;
    rows = NULL;
out:
    free(rows);
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_state_save(struct db *db, int64_t id, const struct source_state *st)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq,
                    "UPDATE source_state SET etag = ?2, last_poll_ms = ?3, last_change_ms = ?4, "
                    "last_tag = ?5, last_error_ms = ?6, last_error = ?7, failures = ?8, "
                    "rate_limit = ?9, rate_remaining = ?10, rate_reset_ms = ?11, "
                    "next_poll_ms = ?12, not_before_ms = max(not_before_ms, ?13), "
                    "api_calls = ?14 WHERE source_id = ?1",
                    &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, st->etag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, st->last_poll_ms);
    sqlite3_bind_int64(s, 4, st->last_change_ms);
    sqlite3_bind_text(s, 5, st->last_tag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, st->last_error_ms);
    sqlite3_bind_text(s, 7, st->last_error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, st->failures);
    sqlite3_bind_int64(s, 9, st->rate_limit);
    sqlite3_bind_int64(s, 10, st->rate_remaining);
    sqlite3_bind_int64(s, 11, st->rate_reset_ms);
    sqlite3_bind_int64(s, 12, st->next_poll_ms);
    sqlite3_bind_int64(s, 13, st->not_before_ms);
    sqlite3_bind_int64(s, 14, st->api_calls);
    if ((r = step_done(sq, s, "save source state")) == 0 && sqlite3_changes(sq->conn) == 0)
        r = -ENOENT;
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_gate_siblings(struct db *db, const struct source *src, int64_t not_before_ms)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq,
                    "UPDATE source_state SET not_before_ms = max(not_before_ms, ?1) "
                    "WHERE source_id IN (SELECT id FROM sources WHERE api_url = ?2 "
                    "AND token_file = ?3 AND token_env = ?4)",
                    &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, not_before_ms);
    sqlite3_bind_text(s, 2, src->api_url, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, src->token_file, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, src->token_env, -1, SQLITE_STATIC);
    r = step_done(sq, s, "gate sources");
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_tag_get(struct db *db, int64_t source_id, const char *tag, struct source_tag *ret_tag)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq,
                    "SELECT tag, status, attempts, version, detail, updated_ms FROM source_tags "
                    "WHERE source_id = ?1 AND tag = ?2",
                    &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, source_id);
    sqlite3_bind_text(s, 2, tag, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(ret_tag, 0, sizeof(*ret_tag));
        text_col(s, 0, ret_tag->tag, sizeof(ret_tag->tag));
        int status = sqlite3_column_int(s, 1);
        ret_tag->status = status == SOURCE_TAG_INGESTED ? SOURCE_TAG_INGESTED
                          : status == SOURCE_TAG_FAILED ? SOURCE_TAG_FAILED
                                                        : SOURCE_TAG_REFUSED;
        ret_tag->attempts = sqlite3_column_int64(s, 2);
        text_col(s, 3, ret_tag->version, sizeof(ret_tag->version));
        text_col(s, 4, ret_tag->detail, sizeof(ret_tag->detail));
        ret_tag->updated_ms = sqlite3_column_int64(s, 5);
    } else {
        r = rc == SQLITE_DONE ? -ENOENT : db_sqlite_fail(sq, "get source tag");
    }
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_source_tag_put(struct db *db, int64_t source_id, const struct source_tag *t)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq,
                    "INSERT OR REPLACE INTO source_tags (source_id, tag, status, attempts, "
                    "version, detail, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, source_id);
    sqlite3_bind_text(s, 2, t->tag, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)t->status);
    sqlite3_bind_int64(s, 4, t->attempts);
    sqlite3_bind_text(s, 5, t->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, t->detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, t->updated_ms);
    r = step_done(sq, s, "record source tag");
    if (r == -EEXIST) /* a foreign key: the source was removed meanwhile */
        r = -ENOENT;
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}

int db_webhook_delivery_record(struct db *db, const char *delivery, int64_t now_ms, int64_t keep_ms)
{
    struct db_sqlite *sq = db_sqlite_of(db);
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&sq->lock);
    int r = prepare(sq, "DELETE FROM webhook_deliveries WHERE received_ms < ?1", &s);
    if (r < 0)
        goto out;
    sqlite3_bind_int64(s, 1, now_ms - keep_ms);
    if ((r = step_done(sq, s, "forget old deliveries")) < 0)
        goto out;
    sqlite3_finalize(s);
    s = NULL;
    if ((r = prepare(sq, "INSERT INTO webhook_deliveries (delivery, received_ms) VALUES (?1, ?2)",
                     &s)) < 0)
        goto out;
    sqlite3_bind_text(s, 1, delivery, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    r = step_done(sq, s, "record delivery");
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&sq->lock);
    return r;
}
