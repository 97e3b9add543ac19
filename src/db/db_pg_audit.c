/*
 * The audit log of db_audit.h on PostgreSQL, mirroring db_sqlite_audit.c
 * (audit): rows are inserted, read newest first by id, and deleted only by
 * the retention pass, oldest first, a bounded batch at a time. The list is
 * one statement whose filters each switch off when their parameter is
 * NULL.
 *
 * Where it differs from SQLite, and why:
 * - Ids come from INSERT ... RETURNING. Identity values are handed out at
 *   insert, not at commit, so with several nodes an entry with a smaller id
 *   can become visible after one with a larger id; "newest first by id" is
 *   the order of insertion, as close to time as SQLite's.
 * - The NULL-able filter parameters carry their types ($1::bigint ...):
 *   PostgreSQL cannot infer the type of a parameter seen only in "IS NULL".
 * - The retention trim's batch is taken FOR UPDATE SKIP LOCKED: two nodes
 *   trimming at once delete different rows instead of the second waiting
 *   for the first and then finding its batch gone. Every operation is one
 *   statement: nothing else needs a lock or a retry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "db/db_audit.h"
#include "db/pg_internal.h"

static const char audit_insert[] =
    "INSERT INTO audit (at_ms, via, token_id, actor, address, action, product, object, params, "
    "ok, status, error, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
    "RETURNING id";
static const char audit_list[] =
    "SELECT id, at_ms, via, token_id, actor, address, action, product, object, params, ok, "
    "status, error, reason FROM audit "
    "WHERE ($1::bigint IS NULL OR id < $1) AND ($2::bigint IS NULL OR at_ms >= $2) "
    "AND ($3::bigint IS NULL OR at_ms <= $3) AND ($4::text IS NULL OR actor = $4) "
    "AND ($5::text IS NULL OR substr(action, 1, length($5)) = $5) "
    "AND ($6::text IS NULL OR product = $6) "
    "AND ($7::bigint IS NULL OR ok = $7) ORDER BY id DESC LIMIT $8";
static const char audit_trim[] =
    "DELETE FROM audit WHERE id IN "
    "(SELECT id FROM audit WHERE at_ms < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)";

int db_pg_audit_insert(struct db *db, const struct audit_entry *e, int64_t *ret_id)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, e->at_ms);
    db_pg_param_text(&p, actor_via_name(e->actor.via));
    db_pg_param_int(&p, e->actor.token_id);
    db_pg_param_text(&p, e->actor.name);
    db_pg_param_text(&p, e->actor.address);
    db_pg_param_text(&p, e->action);
    db_pg_param_text(&p, e->product);
    db_pg_param_text(&p, e->object);
    db_pg_param_text_or_null(&p, e->params);
    db_pg_param_int(&p, e->ok ? 1 : 0);
    db_pg_param_int(&p, e->status);
    db_pg_param_text(&p, e->error);
    db_pg_param_text(&p, e->reason);
    int64_t id = 0;
    int r = db_pg_get(pg, audit_insert, &p, db_pg_fill_int64, &id, "insert audit entry");
    if (r == 0 && ret_id)
        *ret_id = id;
    db_pg_unlock(pg);
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

static void fill_entry(const PGresult *res, int row, void *out)
{
    struct audit_entry *e = out;
    memset(e, 0, sizeof(*e));
    char via[16];
    e->id = db_pg_int(res, row, 0);
    e->at_ms = db_pg_int(res, row, 1);
    db_pg_text(res, row, 2, via, sizeof(via));
    e->actor.via = via_parse(via);
    e->actor.token_id = db_pg_int(res, row, 3);
    db_pg_text(res, row, 4, e->actor.name, sizeof(e->actor.name));
    db_pg_text(res, row, 5, e->actor.address, sizeof(e->actor.address));
    db_pg_text(res, row, 6, e->action, sizeof(e->action));
    db_pg_text(res, row, 7, e->product, sizeof(e->product));
    db_pg_text(res, row, 8, e->object, sizeof(e->object));
    /* NULL on ENOMEM: shown as none */
    e->params = db_pg_is_null(res, row, 9) ? NULL : strdup(PQgetvalue(res, row, 9));
    e->ok = db_pg_int(res, row, 10) != 0;
    e->status = (int)db_pg_int(res, row, 11);
    db_pg_text(res, row, 12, e->error, sizeof(e->error));
    db_pg_text(res, row, 13, e->reason, sizeof(e->reason));
}

/* Adds V, or NULL (the filter off) when it is 0. */
static void param_int_if(struct db_pg_params *p, int64_t v)
{
    if (v)
        db_pg_param_int(p, v);
    else
        db_pg_param_text(p, NULL);
}

int db_pg_audit_list(struct db *db, const struct audit_filter *f, size_t limit,
                     struct audit_entry **ret_entries, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    param_int_if(&p, f->before_id);
    param_int_if(&p, f->since_ms);
    param_int_if(&p, f->until_ms);
    db_pg_param_text_or_null(&p, f->actor);
    db_pg_param_text_or_null(&p, f->action_prefix);
    db_pg_param_text_or_null(&p, f->product);
    if (f->outcome)
        db_pg_param_int(&p, f->outcome > 0 ? 1 : 0);
    else
        db_pg_param_text(&p, NULL);
    db_pg_param_int(&p, (int64_t)limit);
    int r = db_pg_collect_rows(pg, audit_list, &p, sizeof(struct audit_entry), fill_entry,
                               (void **)ret_entries, ret_count, "list the audit log");
    db_pg_unlock(pg);
    return r;
}

int db_pg_audit_trim(struct db *db, int64_t cutoff_ms, size_t batch, size_t *ret_deleted)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, cutoff_ms);
    db_pg_param_int(&p, (int64_t)batch);
    PGresult *res;
    int r = db_pg_exec(pg, audit_trim, &p, "trim the audit log", &res);
    if (r == 0) {
        *ret_deleted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    db_pg_unlock(pg);
    return r;
}
