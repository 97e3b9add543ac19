/*
 * The dashboard sessions of db.h on SQLite (sessions, migration 008): the
 * SHA-256 of the cookie, the token the session stands for, when it began
 * and was last used, and who signed in. Reads join the token, so a revoked
 * token shows in the same row. The rules (expiry, scope, CSRF) are the
 * service's (service/sessions.c).
 */
#include "db/db.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#define SESSION_COLUMNS                                                                            \
    "s.id, s.token_id, t.name, t.scope, t.revoked_ms, s.created_ms, s.last_used_ms, s.address, "   \
    "s.user_agent FROM sessions s JOIN tokens t ON t.id = s.token_id"

static const struct db_sqlite_query session_insert = {
    DB_SLOT_SESSION_INSERT,
    "INSERT INTO sessions (token_id, hash, created_ms, last_used_ms, address, user_agent) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
/* The token's sessions past the newest ?2 (ties by id: the later sign-in stays). */
static const struct db_sqlite_query session_trim = {
    DB_SLOT_SESSION_TRIM,
    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE token_id = ?1 "
    "ORDER BY created_ms DESC, id DESC LIMIT -1 OFFSET ?2)"};
static const struct db_sqlite_query session_prune = {
    DB_SLOT_SESSION_PRUNE,
    "DELETE FROM sessions WHERE last_used_ms < ?1 OR created_ms < ?2 OR token_id IN "
    "(SELECT id FROM tokens WHERE revoked_ms IS NOT NULL)"};
static const struct db_sqlite_query session_find = {DB_SLOT_SESSION_FIND,
                                                    "SELECT " SESSION_COLUMNS " WHERE s.hash = ?1"};
static const struct db_sqlite_query session_touch = {
    DB_SLOT_SESSION_TOUCH, "UPDATE sessions SET last_used_ms = ?2 WHERE id = ?1"};
static const struct db_sqlite_query session_delete = {DB_SLOT_SESSION_DELETE,
                                                      "DELETE FROM sessions WHERE id = ?1"};
static const struct db_sqlite_query session_list = {
    DB_SLOT_SESSION_LIST, "SELECT " SESSION_COLUMNS " ORDER BY s.created_ms, s.id"};

int db_sqlite_session_insert(struct db *db, const struct session_record *rec, const char *hash_hex,
                             unsigned keep, int64_t *ret_id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_begin(sq);
    int64_t id = 0;
    if (r == 0) {
        sqlite3_stmt *s = db_sqlite_stmt(sq, &session_insert);
        r = -EIO;
        if (s) {
            sqlite3_bind_int64(s, 1, rec->token_id);
            sqlite3_bind_text(s, 2, hash_hex, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, rec->created_ms);
            sqlite3_bind_int64(s, 4, rec->last_used_ms);
            sqlite3_bind_text(s, 5, rec->address, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 6, rec->user_agent, -1, SQLITE_STATIC);
            r = db_sqlite_run(sq, s, "insert session");
            id = sqlite3_last_insert_rowid(sq->conn);
        }
        if (r == 0) {
            s = db_sqlite_stmt(sq, &session_trim);
            r = -EIO;
            if (s) {
                sqlite3_bind_int64(s, 1, rec->token_id);
                sqlite3_bind_int64(s, 2, keep);
                r = db_sqlite_run(sq, s, "end a token's oldest sessions");
            }
        }
        r = db_sqlite_finish(sq, r);
    }
    db_sqlite_unlock(sq);
    if (r == 0)
        *ret_id = id;
    return r;
}

static void fill_session(sqlite3_stmt *s, void *out)
{
    struct session_record *rec = out;
    memset(rec, 0, sizeof(*rec));
    rec->id = sqlite3_column_int64(s, 0);
    rec->token_id = sqlite3_column_int64(s, 1);
    db_sqlite_column_text(s, 2, rec->token_name, sizeof(rec->token_name));
    int scope = sqlite3_column_int(s, 3);
    rec->scope = scope == TOKEN_SCOPE_ADMIN     ? TOKEN_SCOPE_ADMIN
                 : scope == TOKEN_SCOPE_PUBLISH ? TOKEN_SCOPE_PUBLISH
                                                : TOKEN_SCOPE_READ;
    rec->token_revoked_ms = sqlite3_column_int64(s, 4);
    rec->created_ms = sqlite3_column_int64(s, 5);
    rec->last_used_ms = sqlite3_column_int64(s, 6);
    db_sqlite_column_text(s, 7, rec->address, sizeof(rec->address));
    db_sqlite_column_text(s, 8, rec->user_agent, sizeof(rec->user_agent));
}

int db_sqlite_session_find(struct db *db, const char *hash_hex, struct session_record *ret_session)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &session_find);
    if (s) {
        sqlite3_bind_text(s, 1, hash_hex, -1, SQLITE_STATIC);
        r = db_sqlite_get(sq, s, fill_session, ret_session, "find session");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_session_touch(struct db *db, int64_t id, int64_t now_ms)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &session_touch);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, now_ms);
        r = db_sqlite_run_one(sq, s, "touch session");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_session_delete(struct db *db, int64_t id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &session_delete);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        r = db_sqlite_run_one(sq, s, "end session");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_session_prune(struct db *db, int64_t idle_before_ms, int64_t created_before_ms)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &session_prune);
    if (s) {
        sqlite3_bind_int64(s, 1, idle_before_ms);
        sqlite3_bind_int64(s, 2, created_before_ms);
        r = db_sqlite_run(sq, s, "prune sessions");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_session_list(struct db *db, struct session_record **ret_sessions, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &session_list, 0, sizeof(struct session_record), fill_session,
                           (void **)ret_sessions, ret_count);
    db_sqlite_unlock(sq);
    return r;
}
