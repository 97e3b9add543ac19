/*
 * The PostgreSQL implementation of db_sources.h, side by side with
 * db_sqlite_sources.c (same names, same order): the sources, source_state,
 * source_tags and webhook_deliveries tables of migration 002. It owns the
 * SQL of these four tables and nothing else; the poller's decisions are
 * src/sources/.
 *
 * Where it differs from SQLite, and why:
 *   - owner and repo are not COLLATE NOCASE columns here: the unique index
 *     on (product_id, lower(owner), lower(repo)) refuses a second
 *     repository that differs only in case (-EEXIST, as SQLite).
 *   - A source's id comes from INSERT ... RETURNING id, not
 *     last_insert_rowid; INSERT OR REPLACE of a tag is INSERT ... ON
 *     CONFLICT (source_id, tag) DO UPDATE; SQLite's two-argument max() is
 *     GREATEST().
 *   - The last refused tag is the newest refusal, ties broken by the tag in
 *     byte order (COLLATE "C"): SQLite compares text bytewise, a database
 *     created with another collation would not.
 *
 * Several nodes write these tables at once, where SQLite's BEGIN IMMEDIATE
 * serialized everything:
 *   - db_source_delete locks the source's row (SELECT ... FOR UPDATE) before
 *     it deletes the tags, the state and the source: a tag another node
 *     records meanwhile (its foreign key check takes a KEY SHARE lock on the
 *     source) either commits first and is deleted with the others, or waits
 *     and then fails with -ENOENT ("a source removed meanwhile"); without
 *     the lock the source's DELETE could fail on that tag's reference.
 *   - db_source_state_save and db_source_gate_siblings write not_before_ms
 *     with GREATEST() in the UPDATE itself, so it only ever moves later
 *     whichever node writes last. Gating locks the siblings' state rows in
 *     source_id order before it updates them, so two nodes gating the same
 *     credentials cannot deadlock; a deadlock with anything else is retried.
 *   - db_source_tag_put is one upsert; db_source_insert is one transaction
 *     (two nodes adding the same repository: the second waits for the
 *     first's unique index entry and gets -EEXIST).
 *   - db_webhook_delivery_record inserts with ON CONFLICT (delivery) DO
 *     NOTHING RETURNING: two nodes receiving the same delivery at once (the
 *     second's insert waits for the first's transaction) record it once,
 *     and the second gets -EEXIST, as a replay would.
 * Every transaction, and the multi-row DELETE and UPDATE statements, are
 * retried up to DB_PG_ATTEMPTS times on -EAGAIN (a deadlock or a
 * serialization failure).
 */
#include "db/db_sources.h"
#include "db/pg_internal.h"

#include <errno.h>
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
    "t WHERE t.source_id = s.id AND t.status = 2 "                                                 \
    "ORDER BY t.updated_ms DESC, t.tag COLLATE \"C\" DESC LIMIT 1) "

_Static_assert(SOURCE_TAG_REFUSED == 2, "SOURCE_COLUMNS names the refused status 2");

static const char source_insert[] =
    "INSERT INTO sources (product_id, owner, repo, asset_glob, token_file, token_env, "
    "secret_file, secret_env, prerelease_channel, api_url, poll_interval_s, "
    "created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
static const char source_state_insert[] = "INSERT INTO source_state (source_id) VALUES ($1)";
/* Taken first: a tag another node records waits for the delete (see the head comment). */
static const char source_lock[] = "SELECT id FROM sources WHERE id = $1 FOR UPDATE";
/* In this order: the tags and the state name the source. */
static const char source_delete_tags[] = "DELETE FROM source_tags WHERE source_id = $1";
static const char source_delete_state[] = "DELETE FROM source_state WHERE source_id = $1";
static const char source_delete[] = "DELETE FROM sources WHERE id = $1";
static const char source_get[] = "SELECT " SOURCE_COLUMNS "WHERE s.id = $1";
/* The CLI refuses more than LIMIT_SOURCES; a database edited by hand gets the first ones. */
static const char source_list[] = "SELECT " SOURCE_COLUMNS "ORDER BY s.id LIMIT $1";
static const char source_state_save[] =
    "UPDATE source_state SET etag = $2, last_poll_ms = $3, last_change_ms = $4, "
    "last_tag = $5, last_error_ms = $6, last_error = $7, failures = $8, "
    "rate_limit = $9, rate_remaining = $10, rate_reset_ms = $11, "
    "next_poll_ms = $12, not_before_ms = GREATEST(not_before_ms, $13), "
    "api_calls = $14 WHERE source_id = $1";
/* The siblings' rows locked in key order, then moved: two nodes gating at once cannot deadlock. */
static const char source_gate[] =
    "WITH siblings AS (SELECT st.source_id FROM source_state st JOIN sources s "
    "ON s.id = st.source_id WHERE s.api_url = $2 AND s.token_file = $3 AND s.token_env = $4 "
    "ORDER BY st.source_id FOR UPDATE OF st) "
    "UPDATE source_state SET not_before_ms = GREATEST(not_before_ms, $1) "
    "FROM siblings WHERE source_state.source_id = siblings.source_id";
static const char source_tag_get[] = "SELECT tag, status, attempts, version, detail, updated_ms "
                                     "FROM source_tags WHERE source_id = $1 AND tag = $2";
static const char source_tag_put[] =
    "INSERT INTO source_tags (source_id, tag, status, attempts, version, detail, updated_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source_id, tag) DO UPDATE SET "
    "status = EXCLUDED.status, attempts = EXCLUDED.attempts, version = EXCLUDED.version, "
    "detail = EXCLUDED.detail, updated_ms = EXCLUDED.updated_ms";
static const char webhook_forget[] = "DELETE FROM webhook_deliveries WHERE received_ms < $1";
/* No row back: another node (or an earlier request) recorded it first. */
static const char webhook_record[] =
    "INSERT INTO webhook_deliveries (delivery, received_ms) "
    "VALUES ($1, $2) ON CONFLICT (delivery) DO NOTHING RETURNING 1";

static void fill_source_row(const PGresult *res, int r, void *out)
{
    struct source_row *row = out;
    memset(row, 0, sizeof(*row));
    struct source *src = &row->source;
    struct source_state *st = &row->state;
    int i = 0;
    src->id = db_pg_int(res, r, i++);
    src->product_id = db_pg_int(res, r, i++);
    db_pg_text(res, r, i++, src->product, sizeof(src->product));
    db_pg_text(res, r, i++, src->owner, sizeof(src->owner));
    db_pg_text(res, r, i++, src->repo, sizeof(src->repo));
    db_pg_text(res, r, i++, src->asset_glob, sizeof(src->asset_glob));
    db_pg_text(res, r, i++, src->token_file, sizeof(src->token_file));
    db_pg_text(res, r, i++, src->token_env, sizeof(src->token_env));
    db_pg_text(res, r, i++, src->secret_file, sizeof(src->secret_file));
    db_pg_text(res, r, i++, src->secret_env, sizeof(src->secret_env));
    db_pg_text(res, r, i++, src->prerelease_channel, sizeof(src->prerelease_channel));
    db_pg_text(res, r, i++, src->api_url, sizeof(src->api_url));
    int64_t interval = db_pg_int(res, r, i++);
    src->poll_interval_s = interval > 0 ? (uint64_t)interval : 0;
    src->created_ms = db_pg_int(res, r, i++);
    db_pg_text(res, r, i++, st->etag, sizeof(st->etag));
    st->last_poll_ms = db_pg_int(res, r, i++);
    st->last_change_ms = db_pg_int(res, r, i++);
    db_pg_text(res, r, i++, st->last_tag, sizeof(st->last_tag));
    st->last_error_ms = db_pg_int(res, r, i++);
    db_pg_text(res, r, i++, st->last_error, sizeof(st->last_error));
    st->failures = db_pg_int(res, r, i++);
    st->rate_limit = db_pg_int(res, r, i++);
    st->rate_remaining = db_pg_int(res, r, i++);
    st->rate_reset_ms = db_pg_int(res, r, i++);
    st->next_poll_ms = db_pg_int(res, r, i++);
    st->not_before_ms = db_pg_int(res, r, i++);
    st->api_calls = db_pg_int(res, r, i++);
    struct source_tag *refused = &row->last_refused; /* NULLs when none: "" and 0 */
    db_pg_text(res, r, i++, refused->tag, sizeof(refused->tag));
    refused->status = SOURCE_TAG_REFUSED;
    db_pg_text(res, r, i++, refused->detail, sizeof(refused->detail));
    refused->updated_ms = db_pg_int(res, r, i++);
}

/* db_source_insert's inputs, and the new source's id once inserted. */
struct source_insert {
    const struct source *src;
    int64_t now;
    int64_t id;
};

static int source_insert_locked(struct db_pg *pg, void *arg)
{
    struct source_insert *a = arg;
    const struct source *src = a->src;
    int64_t now = a->now;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, src->product_id);
    db_pg_param_text(&p, src->owner);
    db_pg_param_text(&p, src->repo);
    db_pg_param_text(&p, src->asset_glob);
    db_pg_param_text(&p, src->token_file);
    db_pg_param_text(&p, src->token_env);
    db_pg_param_text(&p, src->secret_file);
    db_pg_param_text(&p, src->secret_env);
    db_pg_param_text(&p, src->prerelease_channel);
    db_pg_param_text(&p, src->api_url);
    db_pg_param_int(&p, (int64_t)src->poll_interval_s);
    db_pg_param_int(&p, now);
    int64_t id = 0;
    int r = db_pg_get(pg, source_insert, &p, db_pg_fill_int64, &id, "insert source");
    if (r < 0)
        return r;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    r = db_pg_run(pg, source_state_insert, &p, "insert source state");
    if (r == 0)
        a->id = id;
    return r;
}

int db_pg_source_insert(struct db *db, struct source *src)
{
    struct source_insert a = {src, time_now_ms(), 0};
    int r = db_pg_transaction(db, source_insert_locked, &a, false, "insert source");
    if (r == 0) {
        src->id = a.id;
        src->created_ms = a.now;
    }
    return r;
}

/* The body of db_source_delete's transaction: ARG is the source's id (int64_t). */
static int source_delete_locked(struct db_pg *pg, void *arg)
{
    static const char *const deletes[] = {
        source_delete_tags,
        source_delete_state,
        source_delete,
    };
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, *(const int64_t *)arg);
    int64_t locked = 0;
    int r = db_pg_get(pg, source_lock, &p, db_pg_fill_int64, &locked, "lock source");
    /* -ENOENT: no such source, as the last delete would have said. */
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(deletes); i++)
        r = db_pg_run(pg, deletes[i], &p, "delete source");
    return r;
}

int db_pg_source_delete(struct db *db, int64_t id)
{
    return db_pg_transaction(db, source_delete_locked, &id, false, "delete source");
}

int db_pg_source_get(struct db *db, int64_t id, struct source_row *ret_row)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    int r = db_pg_get(pg, source_get, &p, fill_source_row, ret_row, "get source");
    db_pg_unlock(pg);
    return r;
}

int db_pg_source_list(struct db *db, struct source_row **ret_rows, size_t *ret_count)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_list(pg, source_list, LIMIT_SOURCES, sizeof(struct source_row), fill_source_row,
                       (void **)ret_rows, ret_count, "list sources");
    db_pg_unlock(pg);
    return r;
}

int db_pg_source_state_save(struct db *db, int64_t id, const struct source_state *st)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, id);
    db_pg_param_text(&p, st->etag);
    db_pg_param_int(&p, st->last_poll_ms);
    db_pg_param_int(&p, st->last_change_ms);
    db_pg_param_text(&p, st->last_tag);
    db_pg_param_int(&p, st->last_error_ms);
    db_pg_param_text(&p, st->last_error);
    db_pg_param_int(&p, st->failures);
    db_pg_param_int(&p, st->rate_limit);
    db_pg_param_int(&p, st->rate_remaining);
    db_pg_param_int(&p, st->rate_reset_ms);
    db_pg_param_int(&p, st->next_poll_ms);
    db_pg_param_int(&p, st->not_before_ms);
    db_pg_param_int(&p, st->api_calls);
    int r = db_pg_run_one(pg, source_state_save, &p, "save source state");
    db_pg_unlock(pg);
    return r;
}

int db_pg_source_gate_siblings(struct db *db, const struct source *src, int64_t not_before_ms)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, not_before_ms);
    db_pg_param_text(&p, src->api_url);
    db_pg_param_text(&p, src->token_file);
    db_pg_param_text(&p, src->token_env);
    int r = db_pg_run_retried(pg, source_gate, &p, "gate sources");
    db_pg_unlock(pg);
    return r;
}

static void fill_source_tag(const PGresult *res, int row, void *out)
{
    struct source_tag *t = out;
    memset(t, 0, sizeof(*t));
    db_pg_text(res, row, 0, t->tag, sizeof(t->tag));
    int64_t status = db_pg_int(res, row, 1);
    t->status = status == SOURCE_TAG_INGESTED ? SOURCE_TAG_INGESTED
                : status == SOURCE_TAG_FAILED ? SOURCE_TAG_FAILED
                                              : SOURCE_TAG_REFUSED;
    t->attempts = db_pg_int(res, row, 2);
    db_pg_text(res, row, 3, t->version, sizeof(t->version));
    db_pg_text(res, row, 4, t->detail, sizeof(t->detail));
    t->updated_ms = db_pg_int(res, row, 5);
}

int db_pg_source_tag_get(struct db *db, int64_t source_id, const char *tag,
                         struct source_tag *ret_tag)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, source_id);
    db_pg_param_text(&p, tag);
    int r = db_pg_get(pg, source_tag_get, &p, fill_source_tag, ret_tag, "get source tag");
    db_pg_unlock(pg);
    return r;
}

int db_pg_source_tag_put(struct db *db, int64_t source_id, const struct source_tag *t)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, source_id);
    db_pg_param_text(&p, t->tag);
    db_pg_param_int(&p, (int64_t)t->status);
    db_pg_param_int(&p, t->attempts);
    db_pg_param_text(&p, t->version);
    db_pg_param_text(&p, t->detail);
    db_pg_param_int(&p, t->updated_ms);
    /* A source removed meanwhile is a foreign key: -ENOENT. */
    int r = db_pg_run(pg, source_tag_put, &p, "record source tag");
    db_pg_unlock(pg);
    return r;
}

/* Forgets deliveries received before NOW_MS - KEEP_MS, then records DELIVERY. */
static int webhook_delivery_record_locked(struct db_pg *pg, const char *delivery, int64_t now_ms,
                                          int64_t keep_ms)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    db_pg_param_int(&p, now_ms - keep_ms);
    /* Two nodes forgetting the same rows in different orders could deadlock: tried again. */
    int r = db_pg_run_retried(pg, webhook_forget, &p, "forget old deliveries");
    if (r < 0)
        return r;
    db_pg_params_init(&p);
    db_pg_param_text(&p, delivery);
    db_pg_param_int(&p, now_ms);
    int64_t recorded = 0;
    r = db_pg_get(pg, webhook_record, &p, db_pg_fill_int64, &recorded, "record delivery");
    return r == -ENOENT ? -EEXIST : r; /* no row inserted: seen already */
}

int db_pg_webhook_delivery_record(struct db *db, const char *delivery, int64_t now_ms,
                                  int64_t keep_ms)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = webhook_delivery_record_locked(pg, delivery, now_ms, keep_ms);
    db_pg_unlock(pg);
    return r;
}
