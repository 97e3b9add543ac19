/*
 * The API tokens of db.h on SQLite (tokens): a name, a scope and the
 * SHA-256 of the secret, never the secret itself; a revoked token keeps its
 * row with revoked_ms set, so the log and the list still name it.
 */
#include "db/db.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "core/util.h"

static const struct db_sqlite_query token_insert = {
    DB_SLOT_TOKEN_INSERT, "INSERT INTO tokens (name, scope, hash, created_ms) "
                          "VALUES (?1, ?2, ?3, ?4)"};
static const struct db_sqlite_query token_find = {
    DB_SLOT_TOKEN_FIND, "SELECT id, name, scope, created_ms, revoked_ms FROM tokens "
                        "WHERE hash = ?1"};
static const struct db_sqlite_query token_list = {
    DB_SLOT_TOKEN_LIST, "SELECT id, name, scope, created_ms, revoked_ms FROM tokens ORDER BY id"};
static const struct db_sqlite_query token_revoke = {
    DB_SLOT_TOKEN_REVOKE, "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL"};

int db_sqlite_token_insert(struct db *db, const char *name, enum token_scope scope,
                           const char *hash_hex, int64_t *ret_id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &token_insert);
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, (int)scope);
        sqlite3_bind_text(s, 3, hash_hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, time_now_ms());
        r = db_sqlite_run(sq, s, "insert token");
        if (r == 0)
            *ret_id = sqlite3_last_insert_rowid(sq->conn);
    }
    db_sqlite_unlock(sq);
    return r;
}

static void fill_token(sqlite3_stmt *s, void *out)
{
    struct token *t = out;
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(s, 0);
    db_sqlite_column_text(s, 1, t->name, sizeof(t->name));
    int scope = sqlite3_column_int(s, 2);
    t->scope = scope == TOKEN_SCOPE_ADMIN     ? TOKEN_SCOPE_ADMIN
               : scope == TOKEN_SCOPE_PUBLISH ? TOKEN_SCOPE_PUBLISH
                                              : TOKEN_SCOPE_READ;
    t->created_ms = sqlite3_column_int64(s, 3);
    t->revoked_ms = sqlite3_column_int64(s, 4);
}

int db_sqlite_token_find(struct db *db, const char *hash_hex, struct token *ret_token)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &token_find);
    if (s) {
        sqlite3_bind_text(s, 1, hash_hex, -1, SQLITE_STATIC);
        r = db_sqlite_get(sq, s, fill_token, ret_token, "find token");
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_token_list(struct db *db, struct token **ret_tokens, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = db_sqlite_list(sq, &token_list, 0, sizeof(struct token), fill_token,
                           (void **)ret_tokens, ret_count);
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_token_revoke(struct db *db, int64_t id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &token_revoke);
    if (s) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, time_now_ms());
        r = db_sqlite_run_one(sq, s, "revoke token");
    }
    db_sqlite_unlock(sq);
    return r;
}
