/*
 * The SQLite implementation of db_sources.h: the sources, source_state,
 * source_tags and webhook_deliveries tables of migration 002 (a source's
 * last refused tag is read from source_tags with the source). These calls
 * are rare (a poll every few minutes, an operator's command), but they use
 * the connection's statement cache and helpers like every other backend
 * file (sqlite_internal.h): one way to prepare, run and map errors.
 */
#include "db/db_sources.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "core/limits.h"
#include "core/util.h"

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

static const struct db_sqlite_query source_insert = {
    DB_SLOT_SOURCE_INSERT,
    "INSERT INTO sources (product_id, owner, repo, asset_glob, token_file, token_env, "
    "secret_file, secret_env, prerelease_channel, api_url, poll_interval_s, "
    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"};
static const struct db_sqlite_query source_state_insert = {
    DB_SLOT_SOURCE_STATE_INSERT, "INSERT INTO source_state (source_id) VALUES (?1)"};
/* In this order: the tags and the state name the source. */
static const struct db_sqlite_query source_delete_tags = {
    DB_SLOT_SOURCE_DELETE_TAGS, "DELETE FROM source_tags WHERE source_id = ?1"};
static const struct db_sqlite_query source_delete_state = {
    DB_SLOT_SOURCE_DELETE_STATE, "DELETE FROM source_state WHERE source_id = ?1"};
static const struct db_sqlite_query source_delete = {DB_SLOT_SOURCE_DELETE,
                                                     "DELETE FROM sources WHERE id = ?1"};
static const struct db_sqlite_query source_get = {DB_SLOT_SOURCE_GET,
                                                  "SELECT " SOURCE_COLUMNS "WHERE s.id = ?1"};
/* The CLI refuses more than LIMIT_SOURCES; a database edited by hand gets the first ones. */
static const struct db_sqlite_query source_list = {DB_SLOT_SOURCE_LIST, "SELECT " SOURCE_COLUMNS
                                                                        "ORDER BY s.id LIMIT ?1"};
static const struct db_sqlite_query source_state_save = {
    DB_SLOT_SOURCE_STATE_SAVE,
    "UPDATE source_state SET etag = ?2, last_poll_ms = ?3, last_change_ms = ?4, "
    "last_tag = ?5, last_error_ms = ?6, last_error = ?7, failures = ?8, "
    "rate_limit = ?9, rate_remaining = ?10, rate_reset_ms = ?11, "
    "next_poll_ms = ?12, not_before_ms = max(not_before_ms, ?13), "
    "api_calls = ?14 WHERE source_id = ?1"};
static const struct db_sqlite_query source_gate = {
    DB_SLOT_SOURCE_GATE, "UPDATE source_state SET not_before_ms = max(not_before_ms, ?1) "
                         "WHERE source_id IN (SELECT id FROM sources WHERE api_url = ?2 "
                         "AND token_file = ?3 AND token_env = ?4)"};
static const struct db_sqlite_query source_tag_get = {
    DB_SLOT_SOURCE_TAG_GET, "SELECT tag, status, attempts, version, detail, updated_ms "
                            "FROM source_tags WHERE source_id = ?1 AND tag = ?2"};
static const struct db_sqlite_query source_tag_put = {
    DB_SLOT_SOURCE_TAG_PUT, "INSERT OR REPLACE INTO source_tags (source_id, tag, status, "
                            "attempts, version, detail, updated_ms) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"};
static const struct db_sqlite_query webhook_forget = {
    DB_SLOT_WEBHOOK_FORGET, "DELETE FROM webhook_deliveries WHERE received_ms < ?1"};
static const struct db_sqlite_query webhook_record = {
    DB_SLOT_WEBHOOK_RECORD, "INSERT INTO webhook_deliveries (delivery, received_ms) "
                            "VALUES (?1, ?2)"};

static void fill_source_row(sqlite3_stmt *s, void *out)
{
    struct source_row *row = out;
    memset(row, 0, sizeof(*row));
    struct source *src = &row->source;
    struct source_state *st = &row->state;
    int i = 0;
    src->id = sqlite3_column_int64(s, i++);
    src->product_id = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, src->product, sizeof(src->product));
    db_sqlite_column_text(s, i++, src->owner, sizeof(src->owner));
    db_sqlite_column_text(s, i++, src->repo, sizeof(src->repo));
    db_sqlite_column_text(s, i++, src->asset_glob, sizeof(src->asset_glob));
    db_sqlite_column_text(s, i++, src->token_file, sizeof(src->token_file));
    db_sqlite_column_text(s, i++, src->token_env, sizeof(src->token_env));
    db_sqlite_column_text(s, i++, src->secret_file, sizeof(src->secret_file));
    db_sqlite_column_text(s, i++, src->secret_env, sizeof(src->secret_env));
    db_sqlite_column_text(s, i++, src->prerelease_channel, sizeof(src->prerelease_channel));
    db_sqlite_column_text(s, i++, src->api_url, sizeof(src->api_url));
    int64_t interval = sqlite3_column_int64(s, i++);
    src->poll_interval_s = interval > 0 ? (uint64_t)interval : 0;
    src->created_ms = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, st->etag, sizeof(st->etag));
    st->last_poll_ms = sqlite3_column_int64(s, i++);
    st->last_change_ms = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, st->last_tag, sizeof(st->last_tag));
    st->last_error_ms = sqlite3_column_int64(s, i++);
    db_sqlite_column_text(s, i++, st->last_error, sizeof(st->last_error));
    st->failures = sqlite3_column_int64(s, i++);
    st->rate_limit = sqlite3_column_int64(s, i++);
    st->rate_remaining = sqlite3_column_int64(s, i++);
    st->rate_reset_ms = sqlite3_column_int64(s, i++);
    st->next_poll_ms = sqlite3_column_int64(s, i++);
    st->not_before_ms = sqlite3_column_int64(s, i++);
    st->api_calls = sqlite3_column_int64(s, i++);
    struct source_tag *refused = &row->last_refused; /* NULLs when none: "" and 0 */
    db_sqlite_column_text(s, i++, refused->tag, sizeof(refused->tag));
    refused->status = SOURCE_TAG_REFUSED;
    db_sqlite_column_text(s, i++, refused->detail, sizeof(refused->detail));
    refused->updated_ms = sqlite3_column_int64(s, i++);
}

static int source_insert_locked(struct db_sqlite *sq, struct source *src, int64_t now,
                                int64_t *ret_id)
{
    sqlite3_stmt *s = db_sqlite_stmt(sq, &source_insert);
    if (!s)
        return -EIO;
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
    int r = db_sqlite_run(sq, s, "insert source");
    if (r < 0)
        return r;
    int64_t id = sqlite3_last_insert_rowid(sq->conn);
    if (!(s = db_sqlite_stmt(sq, &source_state_insert)))
        return -EIO;
    sqlite3_bind_int64(s, 1, id);
    r = db_sqlite_run(sq, s, "insert source state");
    if (r == 0)
        *ret_id = id;
    return r;
}

int db_sqlite_source_insert(struct db *db, struct source *src)
{
    int64_t now = time_now_ms(), id = 0;
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_begin(sq);
    if (r == 0)
        r = db_sqlite_finish(sq, source_insert_locked(sq, src, now, &id));
    db_sqlite_unlock(sq);
    if (r == 0) {
        src->id = id;
        src->created_ms = now;
    }
    return r;
}

static int source_delete_locked(struct db_sqlite *sq, int64_t id)
{
    static const struct db_sqlite_query *const deletes[] = {
        &source_delete_tags,
        &source_delete_state,
        &source_delete,
    };
    int r = 0;
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(deletes); i++) {
        sqlite3_stmt *s = db_sqlite_stmt(sq, deletes[i]);
        if (!s)
            return -EIO;
        sqlite3_bind_int64(s, 1, id);
        r = db_sqlite_run(sq, s, "delete source");
    }
    /* The last one, of the source itself, says whether there was one. */
    if (r == 0 && sqlite3_changes(sq->conn) == 0)
        r = -ENOENT;
    return r;
}

int db_sqlite_source_delete(struct db *db, int64_t id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_begin(sq);
    if (r == 0)
        r = db_sqlite_finish(sq, source_delete_locked(sq, id));
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_source_get(struct db *db, int64_t id, struct source_row *ret_row)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &source_get);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        r = db_sqlite_get(sq, s, fill_source_row, ret_row, "get source");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_source_list(struct db *db, struct source_row **ret_rows, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &source_list, LIMIT_SOURCES, sizeof(struct source_row),
                           fill_source_row, (void **)ret_rows, ret_count);
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_source_state_save(struct db *db, int64_t id, const struct source_state *st)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &source_state_save);
    if (s) {
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
        r = db_sqlite_run_one(sq, s, "save source state");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_source_gate_siblings(struct db *db, const struct source *src, int64_t not_before_ms)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &source_gate);
    if (s) {
        sqlite3_bind_int64(s, 1, not_before_ms);
        sqlite3_bind_text(s, 2, src->api_url, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, src->token_file, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, src->token_env, -1, SQLITE_STATIC);
        r = db_sqlite_run(sq, s, "gate sources");
    }
    db_sqlite_unlock(sq);
    return r;
}

static void fill_source_tag(sqlite3_stmt *s, void *out)
{
    struct source_tag *t = out;
    memset(t, 0, sizeof(*t));
    db_sqlite_column_text(s, 0, t->tag, sizeof(t->tag));
    int status = sqlite3_column_int(s, 1);
    t->status = status == SOURCE_TAG_INGESTED ? SOURCE_TAG_INGESTED
                : status == SOURCE_TAG_FAILED ? SOURCE_TAG_FAILED
                                              : SOURCE_TAG_REFUSED;
    t->attempts = sqlite3_column_int64(s, 2);
    db_sqlite_column_text(s, 3, t->version, sizeof(t->version));
    db_sqlite_column_text(s, 4, t->detail, sizeof(t->detail));
    t->updated_ms = sqlite3_column_int64(s, 5);
}

int db_sqlite_source_tag_get(struct db *db, int64_t source_id, const char *tag,
                             struct source_tag *ret_tag)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &source_tag_get);
    if (s) {
        sqlite3_bind_int64(s, 1, source_id);
        sqlite3_bind_text(s, 2, tag, -1, SQLITE_STATIC);
        r = db_sqlite_get(sq, s, fill_source_tag, ret_tag, "get source tag");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_source_tag_put(struct db *db, int64_t source_id, const struct source_tag *t)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &source_tag_put);
    if (s) {
        sqlite3_bind_int64(s, 1, source_id);
        sqlite3_bind_text(s, 2, t->tag, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, (int)t->status);
        sqlite3_bind_int64(s, 4, t->attempts);
        sqlite3_bind_text(s, 5, t->version, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, t->detail, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, t->updated_ms);
        /* A source removed meanwhile is a foreign key: -ENOENT. */
        r = db_sqlite_run(sq, s, "record source tag");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_webhook_delivery_record(struct db *db, const char *delivery, int64_t now_ms,
                                      int64_t keep_ms)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &webhook_forget);
    if (s) {
        sqlite3_bind_int64(s, 1, now_ms - keep_ms);
        r = db_sqlite_run(sq, s, "forget old deliveries");
    }
    if (r == 0) {
        r = -EIO;
        if ((s = db_sqlite_stmt(sq, &webhook_record))) {
            sqlite3_bind_text(s, 1, delivery, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, now_ms);
            r = db_sqlite_run(sq, s, "record delivery"); /* -EEXIST: seen already */
        }
    }
    db_sqlite_unlock(sq);
    return r;
}
