/*
 * The API tokens of db.h on PostgreSQL, mirroring db_sqlite_tokens.c
 * (tokens): a name, a scope and the SHA-256 of the secret, never the
 * secret itself; a revoked token keeps its row with revoked_ms set, so the
 * log and the list still name it.
 *
 * Where it differs from SQLite, and why: the id comes from INSERT ...
 * RETURNING, not last_insert_rowid. Every operation is one statement on
 * one row, so nothing needs a row lock or a retry: two nodes inserting the
 * same hash at once get one row and one -EEXIST (the unique index decides),
 * and two revoking the same token at once get one 0 and one -ENOENT (the
 * second UPDATE waits for the first and then finds revoked_ms set).
 */
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "db/db.h"
#include "db/pg_internal.h"

static const char token_insert[] = "INSERT INTO tokens (name, scope, hash, created_ms) "
                                   "VALUES ($1, $2, $3, $4) RETURNING id";
static const char token_find[] = "SELECT id, name, scope, created_ms, revoked_ms FROM tokens "
                                 "WHERE hash = $1";
static const char token_list[] =
    "SELECT id, name, scope, created_ms, revoked_ms FROM tokens ORDER BY id";
static const char token_revoke[] =
    "UPDATE tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL";

int db_pg_token_insert(struct db *db, const char *name, enum token_scope scope,
                       const char *hash_hex, int64_t *ret_id)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, name);
    db_pg_param_int(&p, (int)scope);
    db_pg_param_text(&p, hash_hex);
    db_pg_param_int(&p, time_now_ms());
    int r = db_pg_get(pg, token_insert, &p, db_pg_fill_int64, ret_id, "insert token");
    db_pg_unlock(pg);
    return r;
}

static void fill_token(const PGresult *res, int row, void *out)
{
    struct token *t = out;
    memset(t, 0, sizeof(*t));
    t->id = db_pg_int(res, row, 0);
    db_pg_text(res, row, 1, t->name, sizeof(t->name));
    int64_t scope = db_pg_int(res, row, 2);
    t->scope = scope == TOKEN_SCOPE_ADMIN     ? TOKEN_SCOPE_ADMIN
               : scope == TOKEN_SCOPE_PUBLISH ? TOKEN_SCOPE_PUBLISH
                                              : TOKEN_SCOPE_READ;
    t->created_ms = db_pg_int(res, row, 3);
    t->revoked_ms = db_pg_int(res, row, 4);
}

int db_pg_token_find(struct db *db, const char *hash_hex, struct token *ret_token)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, hash_hex);
    int r = db_pg_get(pg, token_find, &p, fill_token, ret_token, "find token");
    db_pg_unlock(pg);
    return r;
}

int db_pg_token_list(struct db *db, struct token **ret_tokens, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_list(pg, token_list, 0, sizeof(struct token), fill_token, (void **)ret_tokens,
                       ret_count, "list tokens");
    db_pg_unlock(pg);
    return r;
}

int db_pg_token_revoke(struct db *db, int64_t id)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    db_pg_param_int(&p, time_now_ms());
    int r = db_pg_run_one(pg, token_revoke, &p, "revoke token");
    db_pg_unlock(pg);
    return r;
}
