/*
 * The audit log of db_audit.h on SQLite (audit): rows are inserted, read
 * newest first by id, and deleted only by the retention pass, oldest
 * first, a bounded batch at a time. The list is one statement whose
 * filters each switch off when their parameter is NULL, so it is prepared
 * once like every other.
 */
#include "db/db_audit.h"
#include "db/sqlite_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const struct db_sqlite_query audit_insert = {
    DB_SLOT_AUDIT_INSERT,
    "INSERT INTO audit (at_ms, via, token_id, actor, address, action, product, object, params, "
    "ok, status, error, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"};
static const struct db_sqlite_query audit_list = {
    DB_SLOT_AUDIT_LIST,
    "SELECT id, at_ms, via, token_id, actor, address, action, product, object, params, ok, "
    "status, error, reason FROM audit "
    "WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR at_ms >= ?2) "
    "AND (?3 IS NULL OR at_ms <= ?3) AND (?4 IS NULL OR actor = ?4) "
    "AND (?5 IS NULL OR substr(action, 1, length(?5)) = ?5) AND (?6 IS NULL OR product = ?6) "
    "AND (?7 IS NULL OR ok = ?7) ORDER BY id DESC LIMIT ?8"};
static const struct db_sqlite_query audit_trim = {
    DB_SLOT_AUDIT_TRIM, "DELETE FROM audit WHERE id IN "
                        "(SELECT id FROM audit WHERE at_ms < ?1 ORDER BY id LIMIT ?2)"};

int db_sqlite_audit_insert(struct db *db, const struct audit_entry *e, int64_t *ret_id)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &audit_insert);
    if (s) {
        sqlite3_bind_int64(s, 1, e->at_ms);
        sqlite3_bind_text(s, 2, actor_via_name(e->actor.via), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, e->actor.token_id);
        sqlite3_bind_text(s, 4, e->actor.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, e->actor.address, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, e->action, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, e->product, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, e->object, -1, SQLITE_STATIC);
        db_sqlite_bind_text_or_null(s, 9, e->params);
        sqlite3_bind_int(s, 10, e->ok ? 1 : 0);
        sqlite3_bind_int(s, 11, e->status);
        sqlite3_bind_text(s, 12, e->error, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 13, e->reason, -1, SQLITE_STATIC);
        r = db_sqlite_run(sq, s, "insert audit entry");
        if (r == 0 && ret_id)
            *ret_id = sqlite3_last_insert_rowid(sq->conn);
    }
    db_sqlite_unlock(sq);
    return r;
}

static enum actor_via via_parse(const char *name)
{
    static const enum actor_via all[] = {ACTOR_VIA_API,    ACTOR_VIA_DASHBOARD, ACTOR_VIA_CLI,
                                         ACTOR_VIA_GITHUB, ACTOR_VIA_WEBHOOK,   ACTOR_VIA_SYSTEM};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (strcmp(name, actor_via_name(all[i])) == 0)
            return all[i];
    return ACTOR_VIA_SYSTEM;
}

static void fill_entry(sqlite3_stmt *s, void *out)
{
    struct audit_entry *e = out;
    memset(e, 0, sizeof(*e));
    char via[16];
    e->id = sqlite3_column_int64(s, 0);
    e->at_ms = sqlite3_column_int64(s, 1);
    db_sqlite_column_text(s, 2, via, sizeof(via));
    e->actor.via = via_parse(via);
    e->actor.token_id = sqlite3_column_int64(s, 3);
    db_sqlite_column_text(s, 4, e->actor.name, sizeof(e->actor.name));
    db_sqlite_column_text(s, 5, e->actor.address, sizeof(e->actor.address));
    db_sqlite_column_text(s, 6, e->action, sizeof(e->action));
    db_sqlite_column_text(s, 7, e->product, sizeof(e->product));
    db_sqlite_column_text(s, 8, e->object, sizeof(e->object));
    const unsigned char *params = sqlite3_column_text(s, 9);
    e->params = params ? strdup((const char *)params) : NULL; /* NULL on ENOMEM: shown as none */
    e->ok = sqlite3_column_int(s, 10) != 0;
    e->status = sqlite3_column_int(s, 11);
    db_sqlite_column_text(s, 12, e->error, sizeof(e->error));
    db_sqlite_column_text(s, 13, e->reason, sizeof(e->reason));
}

static void bind_text_if(sqlite3_stmt *s, int i, const char *text)
{
    if (text && *text)
        sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static void bind_int64_if(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
}

int db_sqlite_audit_list(struct db *db, const struct audit_filter *f, size_t limit,
                         struct audit_entry **ret_entries, size_t *ret_count)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &audit_list);
    if (s) {
        bind_int64_if(s, 1, f->before_id);
        bind_int64_if(s, 2, f->since_ms);
        bind_int64_if(s, 3, f->until_ms);
        bind_text_if(s, 4, f->actor);
        bind_text_if(s, 5, f->action_prefix);
        bind_text_if(s, 6, f->product);
        if (f->outcome)
            sqlite3_bind_int(s, 7, f->outcome > 0 ? 1 : 0);
        sqlite3_bind_int64(s, 8, (sqlite3_int64)limit);
        r = db_sqlite_collect_rows(sq, s, sizeof(struct audit_entry), fill_entry,
                                   (void **)ret_entries, ret_count);
    }
    db_sqlite_unlock(sq);
    return r;
}

int db_sqlite_audit_trim(struct db *db, int64_t cutoff_ms, size_t batch, size_t *ret_deleted)
{
    struct db_sqlite *sq = db_sqlite_lock(db);
    int r = -EIO;
    sqlite3_stmt *s = db_sqlite_stmt(sq, &audit_trim);
    if (s) {
        sqlite3_bind_int64(s, 1, cutoff_ms);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)batch);
        r = db_sqlite_run(sq, s, "trim the audit log");
        if (r == 0)
            *ret_deleted = (size_t)sqlite3_changes(sq->conn);
    }
    db_sqlite_unlock(sq);
    return r;
}
