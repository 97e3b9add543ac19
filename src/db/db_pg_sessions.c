/*
 * The dashboard sessions of db.h on PostgreSQL, mirroring
 * db_sqlite_sessions.c (sessions, migration 008): the SHA-256 of the
 * cookie, the token the session stands for, when it began and was last
 * used, and who signed in. Reads join the token, so a revoked token shows
 * in the same row. The rules (expiry, scope, CSRF) are the service's
 * (service/sessions.c).
 *
 * Where it differs from SQLite, and why:
 * - db_pg_session_insert reads (which of the token's sessions are past
 *   KEEP) and writes from what it read (deletes them). Under SQLite's one
 *   writer that was safe; here two nodes signing one token in at once would
 *   each miss the other's uncommitted session and leave KEEP + 1. So the
 *   transaction first locks the token's row (SELECT ... FOR UPDATE, which
 *   also gives -ENOENT for a token that is not there, as SQLite's foreign
 *   key did): sign-ins of one token take turns, and the trim, a statement
 *   of its own, sees the sessions committed before it. A deadlock or
 *   serialization failure (-EAGAIN) is retried whole (DB_PG_ATTEMPTS).
 * - LIMIT -1 (no limit) is LIMIT ALL; ids come from INSERT ... RETURNING.
 * - Touch, delete, prune and the reads are one statement each: no lock.
 */
#include <errno.h>
#include <string.h>

#include "db/db.h"
#include "db/pg_internal.h"

#define SESSION_COLUMNS                                                                            \
    "s.id, s.token_id, t.name, t.scope, t.revoked_ms, s.created_ms, s.last_used_ms, s.address, "   \
    "s.user_agent FROM sessions s JOIN tokens t ON t.id = s.token_id"

static const char session_lock_token[] = "SELECT id FROM tokens WHERE id = $1 FOR UPDATE";
static const char session_insert[] =
    "INSERT INTO sessions (token_id, hash, created_ms, last_used_ms, address, user_agent) "
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
/* The token's sessions past the newest $2 (ties by id: the later sign-in stays). */
static const char session_trim[] =
    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE token_id = $1 "
    "ORDER BY created_ms DESC, id DESC LIMIT ALL OFFSET $2)";
static const char session_prune[] =
    "DELETE FROM sessions WHERE last_used_ms < $1 OR created_ms < $2 OR token_id IN "
    "(SELECT id FROM tokens WHERE revoked_ms IS NOT NULL)";
static const char session_find[] = "SELECT " SESSION_COLUMNS " WHERE s.hash = $1";
static const char session_touch[] = "UPDATE sessions SET last_used_ms = $2 WHERE id = $1";
static const char session_delete[] = "DELETE FROM sessions WHERE id = $1";
static const char session_list[] = "SELECT " SESSION_COLUMNS " ORDER BY s.created_ms, s.id";

/* db_session_insert's inputs, and the new session's id once inserted. */
struct session_insert {
    const struct session_record *rec;
    const char *hash_hex;
    unsigned keep;
    int64_t id;
};

static int session_insert_locked(struct db_pg *pg, void *arg)
{
    struct session_insert *a = arg;
    const struct session_record *rec = a->rec;
    const char *hash_hex = a->hash_hex;
    unsigned keep = a->keep;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, rec->token_id);
    int64_t token_id = 0;
    int r = db_pg_get(pg, session_lock_token, &p, db_pg_fill_int64, &token_id,
                      "lock the session's token");
    if (r < 0)
        return r;
    db_pg_params_init(&p);
    db_pg_param_int(&p, rec->token_id);
    db_pg_param_text(&p, hash_hex);
    db_pg_param_int(&p, rec->created_ms);
    db_pg_param_int(&p, rec->last_used_ms);
    db_pg_param_text(&p, rec->address);
    db_pg_param_text(&p, rec->user_agent);
    if ((r = db_pg_get(pg, session_insert, &p, db_pg_fill_int64, &a->id, "insert session")) < 0)
        return r;
    db_pg_params_init(&p);
    db_pg_param_int(&p, rec->token_id);
    db_pg_param_int(&p, keep);
    return db_pg_run(pg, session_trim, &p, "end a token's oldest sessions");
}

int db_pg_session_insert(struct db *db, const struct session_record *rec, const char *hash_hex,
                         unsigned keep, int64_t *ret_id)
{
    struct session_insert a = {rec, hash_hex, keep, 0};
    int r = db_pg_transaction(db, session_insert_locked, &a, false, "insert session");
    if (r == 0)
        *ret_id = a.id;
    return r;
}

static void fill_session(const PGresult *res, int row, void *out)
{
    struct session_record *rec = out;
    memset(rec, 0, sizeof(*rec));
    rec->id = db_pg_int(res, row, 0);
    rec->token_id = db_pg_int(res, row, 1);
    db_pg_text(res, row, 2, rec->token_name, sizeof(rec->token_name));
    int64_t scope = db_pg_int(res, row, 3);
    rec->scope = scope == TOKEN_SCOPE_ADMIN     ? TOKEN_SCOPE_ADMIN
                 : scope == TOKEN_SCOPE_PUBLISH ? TOKEN_SCOPE_PUBLISH
                                                : TOKEN_SCOPE_READ;
    rec->token_revoked_ms = db_pg_int(res, row, 4);
    rec->created_ms = db_pg_int(res, row, 5);
    rec->last_used_ms = db_pg_int(res, row, 6);
    db_pg_text(res, row, 7, rec->address, sizeof(rec->address));
    db_pg_text(res, row, 8, rec->user_agent, sizeof(rec->user_agent));
}

int db_pg_session_find(struct db *db, const char *hash_hex, struct session_record *ret_session)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_text(&p, hash_hex);
    int r = db_pg_get(pg, session_find, &p, fill_session, ret_session, "find session");
    db_pg_unlock(pg);
    return r;
}

int db_pg_session_touch(struct db *db, int64_t id, int64_t now_ms)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    db_pg_param_int(&p, now_ms);
    int r = db_pg_run_one(pg, session_touch, &p, "touch session");
    db_pg_unlock(pg);
    return r;
}

int db_pg_session_delete(struct db *db, int64_t id)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    int r = db_pg_run_one(pg, session_delete, &p, "end session");
    db_pg_unlock(pg);
    return r;
}

int db_pg_session_prune(struct db *db, int64_t idle_before_ms, int64_t created_before_ms)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, idle_before_ms);
    db_pg_param_int(&p, created_before_ms);
    int r = db_pg_run(pg, session_prune, &p, "prune sessions");
    db_pg_unlock(pg);
    return r;
}

int db_pg_session_list(struct db *db, struct session_record **ret_sessions, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_list(pg, session_list, 0, sizeof(struct session_record), fill_session,
                       (void **)ret_sessions, ret_count, "list sessions");
    db_pg_unlock(pg);
    return r;
}
