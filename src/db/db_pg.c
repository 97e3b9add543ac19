/*
 * The PostgreSQL backend of db.h, its connection (pg_internal.h): connect
 * with keepalives and a short timeout, connect again after the database was
 * away (at most once a second, logged once per outage), the durability each
 * opener asks for, numbered migrations embedded at build time and applied
 * under an advisory lock (several nodes starting at once apply each
 * exactly once; a node refuses a schema newer than it knows), the catalog's
 * generation with its NOTIFY, and the helpers every db_pg_<entity>.c file
 * shares: parameters, array literals, running a statement, a pipeline of
 * statements, reading rows, running a transaction with its retries and
 * mapping SQLSTATEs to -errno.
 * Each session gets the opener's statement timeout (a statement stuck
 * behind a lock is cancelled: -ETIMEDOUT), except while it migrates.
 */
#include "db/pg_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

extern const char *const pg_migrations[];
extern const unsigned pg_migrations_numbers[];
extern const size_t pg_migrations_count;

/* How long one connection attempt may take, and the pause before the next one. */
#define CONNECT_TIMEOUT_S  "3"
#define RECONNECT_PAUSE_MS 1000

struct db_pg *db_pg_of(struct db *db)
{
    return (struct db_pg *)db;
}

/* --- errors --- */

static bool sqlstate_is(const PGresult *res, const char *state)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, state) == 0;
}

/* Whether RES (or the connection) says the connection is gone. */
static bool connection_lost(const struct db_pg *pg, const PGresult *res)
{
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK)
        return true;
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* 08xxx: connection exceptions; 57P01-03: the server shuts down or is starting. */
    return !s || strncmp(s, "08", 2) == 0 || strncmp(s, "57P0", 4) == 0;
}

/* Logs that the database went away, once per outage. */
static void log_away(struct db_pg *pg, const char *what)
{
    if (!pg->away_logged)
        log_error("database: %s: PostgreSQL unavailable: %s", what,
                  pg->conn ? PQerrorMessage(pg->conn) : "no connection");
    pg->away_logged = true;
}

/* --- connection --- */

static void ignore_notice(void *ctx, const char *message)
{
    (void)ctx;
    (void)message;
}

/* The session setting PG's timeout is: the statement's, or only its wait for a lock. */
static const char *timeout_setting(const struct db_pg *pg)
{
    return pg->timeout_scope == DB_TIMEOUT_LOCK_WAITS ? "lock_timeout" : "statement_timeout";
}

/*
 * Connects PG->conn. The URL's own settings win over these defaults: libpq
 * reads the keywords in order and the URL (dbname, expanded) comes last.
 */
static int connect_now(struct db_pg *pg)
{
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    /* A new session: the old one's lock and LISTEN went with it. */
    pg->leader = false;
    pg->listening = false;
    /*
     * Keepalives find a dead peer while idle; tcp_user_timeout bounds a call
     * whose data goes unacknowledged (a network partition) to 20 s, less than
     * the server's own keepalives take (docs/OPERATIONS.md: about 25 s) to end
     * the session and free its leader's lock: a partitioned leader stops
     * leading before another can start.
     */
    const char *keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                          "application_name",    "dbname",           NULL};
    const char *values[] = {CONNECT_TIMEOUT_S, "1", "10", "5", "3", "20000", "otad", pg->url, NULL};
    pg->conn = PQconnectdbParams(keys, values, 1);
    if (!pg->conn)
        return -ENOMEM;
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return -ENOTCONN;
    /* Notices (a migration's "already exists, skipping") are not otad's to print. */
    PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
    char setup[160];
    snprintf(setup, sizeof(setup),
             "SET synchronous_commit = %s; SET client_encoding = 'UTF8'; SET %s = %u",
             pg->durability == DB_RELAXED ? "off" : "on", timeout_setting(pg), pg->timeout_ms);
    PGresult *res = PQexec(pg->conn, setup);
    int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -ENOTCONN;
    PQclear(res);
    return r;
}

struct db_pg *db_pg_lock(struct db *db)
{
    struct db_pg *pg = db_pg_of(db);
    pthread_mutex_lock(&pg->lock);
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
        return pg;
    int64_t now = time_mono_ms();
    if (now < pg->next_connect_ms) {
        pthread_mutex_unlock(&pg->lock);
        return NULL;
    }
    if (connect_now(pg) < 0) {
        log_away(pg, "connect");
        pg->next_connect_ms = now + RECONNECT_PAUSE_MS;
        pthread_mutex_unlock(&pg->lock);
        return NULL;
    }
    if (pg->away_logged)
        log_info("database: PostgreSQL reachable again");
    pg->away_logged = false;
    return pg;
}

void db_pg_unlock(struct db_pg *pg)
{
    pthread_mutex_unlock(&pg->lock);
}

/* --- parameters --- */

void db_pg_params_init(struct db_pg_params *p)
{
    p->count = 0;
}

/* The next parameter's slot; asserts there is one (a statement's count is fixed at compile time).
 */
static int param_next(struct db_pg_params *p)
{
    if (p->count >= DB_PG_PARAMS_MAX) {
        log_error("database: more than %d parameters in one statement", DB_PG_PARAMS_MAX);
        abort();
    }
    return p->count++;
}

void db_pg_param_int(struct db_pg_params *p, int64_t v)
{
    int i = param_next(p);
    snprintf(p->numbers[i], sizeof(p->numbers[i]), "%" PRId64, v);
    p->values[i] = p->numbers[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void db_pg_param_text(struct db_pg_params *p, const char *text)
{
    int i = param_next(p);
    p->values[i] = text;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void db_pg_param_text_or_null(struct db_pg_params *p, const char *text)
{
    db_pg_param_text(p, text && text[0] ? text : NULL);
}

void db_pg_param_bytes(struct db_pg_params *p, const void *data, size_t len)
{
    int i = param_next(p);
    p->values[i] = len ? data : "";
    p->lengths[i] = (int)len;
    p->formats[i] = 1;
}

void db_pg_array_init(struct db_pg_array *a)
{
    buf_init(&a->text, LIMIT_PG_ARRAY_BYTES);
    a->count = 0;
    a->failed = buf_append_str(&a->text, "{") < 0;
}

static void array_separate(struct db_pg_array *a)
{
    if (a->count++ > 0 && buf_append_str(&a->text, ",") < 0)
        a->failed = true;
}

void db_pg_array_add_int(struct db_pg_array *a, int64_t v)
{
    array_separate(a);
    if (buf_printf(&a->text, "%" PRId64, v) < 0)
        a->failed = true;
}

void db_pg_array_add_text(struct db_pg_array *a, const char *text)
{
    array_separate(a);
    if (!text) {
        if (buf_append_str(&a->text, "NULL") < 0)
            a->failed = true;
        return;
    }
    int r = buf_append_str(&a->text, "\"");
    for (const char *c = text; *c && r == 0; c++) {
        if (*c == '"' || *c == '\\')
            r = buf_append_str(&a->text, "\\");
        if (r == 0)
            r = buf_append(&a->text, c, 1);
    }
    if (r == 0)
        r = buf_append_str(&a->text, "\"");
    if (r < 0)
        a->failed = true;
}

int db_pg_param_array(struct db_pg_params *p, struct db_pg_array *a)
{
    if (a->failed || buf_append(&a->text, "}", 2) < 0) { /* "}" and its NUL */
        a->failed = true;
        return -ENOMEM;
    }
    db_pg_param_text(p, (const char *)a->text.data);
    return 0;
}

void db_pg_array_free(struct db_pg_array *a)
{
    buf_release(&a->text);
}

/* --- statements --- */

int db_pg_exec(struct db_pg *pg, const char *sql, const struct db_pg_params *p, const char *what,
               PGresult **ret_result)
{
    return db_pg_exec_as(pg, sql, p, false, what, ret_result);
}

/*
 * 0 when RES (NULL: none came) succeeded, else its -errno as db_pg_exec
 * maps it, logged with WHAT as db_pg_exec says.
 */
static int result_error(struct db_pg *pg, const PGresult *res, const char *what)
{
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return 0;
    if (sqlstate_is(res, "57014") || sqlstate_is(res, "55P03")) {
        /* The session's timeout (or an operator's pg_cancel_backend): nothing of it was done. */
        log_warn("database: %s: cancelled after the %s of %u ms (a lock held by another "
                 "session?)",
                 what, timeout_setting(pg), pg->timeout_ms);
        return -ETIMEDOUT;
    }
    if (sqlstate_is(res, "23505"))
        return -EEXIST;
    if (sqlstate_is(res, "23503"))
        return -ENOENT;
    if (sqlstate_is(res, "40001") || sqlstate_is(res, "40P01"))
        return -EAGAIN;
    if (connection_lost(pg, res)) {
        log_away(pg, what);
        return -ENOTCONN;
    }
    log_error("database: %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
    return -EIO;
}

int db_pg_exec_as(struct db_pg *pg, const char *sql, const struct db_pg_params *p, bool binary,
                  const char *what, PGresult **ret_result)
{
    PGresult *res = PQexecParams(pg->conn, sql, p ? p->count : 0, NULL, p ? p->values : NULL,
                                 p ? p->lengths : NULL, p ? p->formats : NULL, binary ? 1 : 0);
    int r = result_error(pg, res, what);
    if (r == 0 && ret_result)
        *ret_result = res;
    else
        PQclear(res);
    return r;
}

int db_pg_run(struct db_pg *pg, const char *sql, const struct db_pg_params *p, const char *what)
{
    return db_pg_exec(pg, sql, p, what, NULL);
}

int db_pg_run_one(struct db_pg *pg, const char *sql, const struct db_pg_params *p, const char *what)
{
    PGresult *res;
    int r = db_pg_exec(pg, sql, p, what, &res);
    if (r < 0)
        return r;
    const char *changed = PQcmdTuples(res);
    r = changed[0] && strcmp(changed, "0") != 0 ? 0 : -ENOENT;
    PQclear(res);
    return r;
}

void db_pg_fill_int64(const PGresult *res, int row, void *out)
{
    *(int64_t *)out = db_pg_int(res, row, 0);
}

int db_pg_get(struct db_pg *pg, const char *sql, const struct db_pg_params *p, db_pg_fill_fn fill,
              void *out, const char *what)
{
    PGresult *res;
    int r = db_pg_exec(pg, sql, p, what, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0)
        r = -ENOENT;
    else
        fill(res, 0, out);
    PQclear(res);
    return r;
}

int db_pg_collect_rows(struct db_pg *pg, const char *sql, const struct db_pg_params *p, size_t elem,
                       db_pg_fill_fn fill, void **ret_items, size_t *ret_count, const char *what)
{
    PGresult *res;
    int r = db_pg_exec(pg, sql, p, what, &res);
    if (r < 0)
        return r;
    size_t n = (size_t)PQntuples(res);
    unsigned char *items = NULL;
    if (n > 0 && !(items = calloc(n, elem))) {
        PQclear(res);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        fill(res, (int)i, items + i * elem);
    PQclear(res);
    *ret_items = items;
    *ret_count = n;
    return 0;
}

int db_pg_list(struct db_pg *pg, const char *sql, int64_t key, size_t elem, db_pg_fill_fn fill,
               void **ret_items, size_t *ret_count, const char *what)
{
    struct db_pg_params p;
    db_pg_params_init(&p);
    if (key != 0)
        db_pg_param_int(&p, key);
    return db_pg_collect_rows(pg, sql, &p, elem, fill, ret_items, ret_count, what);
}

int64_t db_pg_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

void db_pg_text(const PGresult *res, int row, int col, char *out, size_t size)
{
    if (PQgetisnull(res, row, col) || str_copy(out, size, PQgetvalue(res, row, col)) < 0)
        out[0] = 0;
}

bool db_pg_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}

/* --- pipelines --- */

/* Why PG's connection refused a pipeline call: -ENOTCONN when it is gone, else -EIO; logged. */
static int pipeline_refused(struct db_pg *pg, const char *what)
{
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        log_away(pg, what);
        return -ENOTCONN;
    }
    log_error("database: %s: %s", what, PQerrorMessage(pg->conn));
    return -EIO;
}

void db_pg_pipeline_start(struct db_pg_pipeline *pl, struct db_pg *pg, const char *what)
{
    pl->pg = pg;
    pl->what = what;
    pl->err = PQenterPipelineMode(pg->conn) ? 0 : pipeline_refused(pg, what);
}

void db_pg_pipeline_send(struct db_pg_pipeline *pl, const char *sql, const struct db_pg_params *p)
{
    if (pl->err)
        return;
    /* libpq copies the parameters into its buffer: P may be reused at once. */
    if (!PQsendQueryParams(pl->pg->conn, sql, p ? p->count : 0, NULL, p ? p->values : NULL,
                           p ? p->lengths : NULL, p ? p->formats : NULL, 0))
        pl->err = pipeline_refused(pl->pg, pl->what);
}

void db_pg_pipeline_prepare(struct db_pg_pipeline *pl, const char *sql)
{
    if (pl->err)
        return;
    if (!PQsendPrepare(pl->pg->conn, "", sql, 0, NULL))
        pl->err = pipeline_refused(pl->pg, pl->what);
}

void db_pg_pipeline_send_prepared(struct db_pg_pipeline *pl, const struct db_pg_params *p)
{
    if (pl->err)
        return;
    if (!PQsendQueryPrepared(pl->pg->conn, "", p->count, p->values, p->lengths, p->formats, 0))
        pl->err = pipeline_refused(pl->pg, pl->what);
}

/*
 * Reads the results of PL's statements up to its sync point, in order,
 * through CHECK: returns the first error (PL's own, one CHECK returned),
 * and whether the sync point came (*RET_SYNCED).
 */
static int pipeline_drain(struct db_pg_pipeline *pl, db_pg_check_fn check, void *arg,
                          bool *ret_synced)
{
    struct db_pg *pg = pl->pg;
    int err = pl->err;
    size_t index = 0;
    int nulls = 0;
    *ret_synced = false;
    while (!*ret_synced) {
        PGresult *res = PQgetResult(pg->conn);
        if (!res) {
            /* One NULL ends each statement's results; two in a row: nothing more will come. */
            if (++nulls > 1 || PQstatus(pg->conn) != CONNECTION_OK)
                break;
            continue;
        }
        nulls = 0;
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_PIPELINE_SYNC) {
            *ret_synced = true;
        } else if (status == PGRES_PIPELINE_ABORTED) {
            index++; /* skipped by the server after an earlier statement failed */
        } else {
            int r = result_error(pg, res, pl->what);
            if (check)
                r = check(arg, index, res, r);
            if (err == 0)
                err = r;
            index++;
        }
        PQclear(res);
    }
    return err;
}

int db_pg_pipeline_finish(struct db_pg_pipeline *pl, db_pg_check_fn check, void *arg)
{
    struct db_pg *pg = pl->pg;
    if (PQpipelineStatus(pg->conn) == PQ_PIPELINE_OFF)
        return pl->err; /* it never started */
    bool synced = false;
    int err = pl->err;
    if (PQpipelineSync(pg->conn))
        err = pipeline_drain(pl, check, arg, &synced);
    else if (err == 0)
        err = pipeline_refused(pg, pl->what);
    if (synced && PQexitPipelineMode(pg->conn))
        return err;
    /*
     * Results that never came leave the connection in pipeline mode and out
     * of step: drop it (the server rolls the transaction back), and the next
     * db_pg_lock connects again.
     */
    if (err != -ENOTCONN) {
        log_away(pg, pl->what);
        err = -ENOTCONN;
    }
    PQfinish(pg->conn);
    pg->conn = NULL;
    return err;
}

int db_pg_begin(struct db_pg *pg)
{
    int r = db_pg_run(pg, "BEGIN", NULL, "begin a transaction");
    pg->in_transaction = r == 0;
    return r;
}

int db_pg_finish(struct db_pg *pg, int err)
{
    if (!pg->in_transaction)
        return err;
    pg->in_transaction = false;
    if (err == 0) {
        err = db_pg_run(pg, "COMMIT", NULL, "commit");
        if (err == 0)
            return 0;
    }
    /* After a lost connection there is nothing to roll back: the server did. */
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
        PGresult *res = PQexec(pg->conn, "ROLLBACK");
        PQclear(res);
    }
    return err;
}

int db_pg_transaction(struct db *db, db_pg_body_fn fn, void *arg, bool bump, const char *what)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int err = 0;
    for (int attempt = 0; attempt < DB_PG_ATTEMPTS; attempt++) {
        err = db_pg_begin(pg);
        if (err == 0) {
            int r = fn(pg, arg);
            if (r == 0 && bump)
                r = db_pg_generation_bump(pg);
            err = db_pg_finish(pg, r);
        }
        if (err != -EAGAIN)
            break;
    }
    db_pg_unlock(pg);
    if (err == -EAGAIN) {
        log_error("database: %s: lost to other nodes' writes %d times; given up", what,
                  DB_PG_ATTEMPTS);
        err = -EIO;
    }
    return err;
}

int db_pg_run_retried(struct db_pg *pg, const char *sql, const struct db_pg_params *p,
                      const char *what)
{
    int r = 0;
    for (int attempt = 0; attempt < DB_PG_ATTEMPTS; attempt++)
        if ((r = db_pg_run(pg, sql, p, what)) != -EAGAIN)
            break;
    return r;
}

/* A writer's mark not written for this long (ms) goes: far beyond any retry of its last batch. */
#define BATCH_MARK_KEEP_MS (7 * 24 * 3600 * 1000LL)
/* The database's clock in ms: marks are aged by one clock, whatever the nodes' say. */
#define DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

int db_pg_batch_mark(struct db_pg *pg, struct db_batch *mark)
{
    char writer[64];
    snprintf(writer, sizeof(writer), "%" PRId64 ":%016" PRIx64, mark->started_ms, mark->nonce);
    struct db_pg_params p;
    int r;
    if (mark->seq == 1) { /* a writer's first: the marks of writers long gone go */
        db_pg_params_init(&p);
        db_pg_param_int(&p, BATCH_MARK_KEEP_MS);
        r = db_pg_run(pg, "DELETE FROM registry_batches WHERE written_ms < " DB_NOW_MS " - $1", &p,
                      "delete old registry batch marks");
        if (r < 0)
            return r;
    }
    db_pg_params_init(&p);
    db_pg_param_text(&p, writer);
    db_pg_param_int(&p, mark->seq);
    r = db_pg_run_one(pg,
                      "INSERT INTO registry_batches (writer, seq, written_ms) "
                      "VALUES ($1, $2, " DB_NOW_MS ") ON CONFLICT (writer) DO UPDATE "
                      "SET seq = EXCLUDED.seq, written_ms = EXCLUDED.written_ms "
                      "WHERE registry_batches.seq < EXCLUDED.seq",
                      &p, "mark the registry batch");
    if (r == 0)
        mark->passed = true;
    return r == -ENOENT ? -EALREADY : r;
}

int db_pg_generation_bump(struct db_pg *pg)
{
    return db_pg_run(pg,
                     "WITH bumped AS (UPDATE meta SET value = value + 1 "
                     "WHERE key = 'catalog_generation' RETURNING value) "
                     "SELECT pg_notify('" DB_PG_CATALOG_CHANNEL "', value::text) FROM bumped",
                     NULL, "bump the catalog generation");
}

/* --- migrations --- */

/* The number of the newest migration this otad has. */
static int64_t schema_latest(void)
{
    return pg_migrations_numbers[pg_migrations_count - 1];
}

/*
 * Applies the missing migrations under an advisory lock, each in its own
 * transaction with its row in schema_migrations: nodes starting together
 * wait for the first, then find nothing left to do. The numbers may have
 * gaps (embed_sql.py): every migration numbered above the newest applied
 * is applied, in order.
 */
static int migrate(struct db_pg *pg)
{
    /* A migration may run long, and waiting for another node's is expected: no timeout. */
    char sql[64];
    snprintf(sql, sizeof(sql), "SET %s = 0", timeout_setting(pg));
    int r = db_pg_run(pg, sql, NULL, "lift the timeout");
    if (r < 0)
        return r;
    struct db_pg_params lock;
    db_pg_params_init(&lock);
    db_pg_param_int(&lock, DB_PG_LOCK_CLASS);
    db_pg_param_int(&lock, DB_PG_LOCK_MIGRATE);
    r = db_pg_run(pg, "SELECT pg_advisory_lock($1::int, $2::int)", &lock, "lock migrations");
    if (r < 0)
        return r;
    r = db_pg_run(pg,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  "version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
                  NULL, "create schema_migrations");
    int64_t applied = 0;
    if (r == 0)
        r = db_pg_get(pg, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL,
                      db_pg_fill_int64, &applied, "read the schema version");
    if (r == 0 && applied > schema_latest()) {
        log_error("database: schema version %" PRId64 " is newer than this otad knows (%" PRId64
                  "): upgrade otad",
                  applied, schema_latest());
        r = -EPROTO;
    }
    for (size_t i = 0; r == 0 && i < pg_migrations_count; i++) {
        int64_t number = pg_migrations_numbers[i];
        if (number <= applied)
            continue;
        struct db_pg_params p;
        db_pg_params_init(&p);
        db_pg_param_int(&p, number);
        db_pg_param_int(&p, time_now_ms());
        if ((r = db_pg_begin(pg)) < 0)
            break;
        /* A migration file is several statements: the simple protocol runs them in one go. */
        PGresult *res = PQexec(pg->conn, pg_migrations[i]);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            log_error("database: migration %" PRId64 " failed: %s", number,
                      PQresultErrorMessage(res));
            r = -EIO;
        }
        PQclear(res);
        if (r == 0)
            r = db_pg_run(pg, "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
                          &p, "record a migration");
        r = db_pg_finish(pg, r);
        if (r == 0)
            log_info("database: applied PostgreSQL migration %" PRId64, number);
    }
    int unlocked =
        db_pg_run(pg, "SELECT pg_advisory_unlock($1::int, $2::int)", &lock, "unlock migrations");
    if (unlocked == 0) {
        /* Not RESET: that goes back to the server's default, not the opener's timeout. */
        snprintf(sql, sizeof(sql), "SET %s = %u", timeout_setting(pg), pg->timeout_ms);
        unlocked = db_pg_run(pg, sql, NULL, "restore the timeout");
    }
    return r < 0 ? r : unlocked;
}

/* --- the backend --- */

static void pg_close(struct db *db)
{
    struct db_pg *pg = db_pg_of(db);
    if (pg->conn)
        PQfinish(pg->conn);
    pthread_mutex_destroy(&pg->lock);
    free(pg->url);
    free(pg);
}

int db_pg_open(const char *url, enum db_durability durability, unsigned timeout_ms,
               enum db_timeout_scope scope, struct db **ret_db)
{
    struct db_pg *pg = calloc(1, sizeof(*pg));
    if (!pg)
        return -ENOMEM;
    pg->db.ops = &db_pg_ops;
    pg->durability = durability;
    pg->timeout_ms = timeout_ms;
    pg->timeout_scope = scope;
    int r = -pthread_mutex_init(&pg->lock, NULL);
    if (r < 0) {
        free(pg);
        return r;
    }
    if (!(pg->url = strdup(url))) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = connect_now(pg)) < 0) {
        /* The URL may hold a password: libpq's message names host and port, not it. */
        log_error("database: cannot connect to PostgreSQL: %s",
                  pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        goto fail;
    }
    if ((r = migrate(pg)) < 0)
        goto fail;
    *ret_db = &pg->db;
    return 0;
fail:
    pg_close(&pg->db);
    return r;
}

int db_pg_integrity_check(struct db *db, bool quick, struct reason *why)
{
    (void)quick;
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return reason_set(why, -ENOTCONN, "PostgreSQL unavailable");
    /*
     * The server checks its own pages (checksums, amcheck are the DBA's);
     * what otad checks is that the schema is the one it knows.
     */
    int64_t applied = 0;
    int r = db_pg_get(pg, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL,
                      db_pg_fill_int64, &applied, "read the schema version");
    if (r == 0 && applied != schema_latest())
        r = reason_set(why, -EIO, "schema version %" PRId64 ", this otad expects %" PRId64, applied,
                       schema_latest());
    db_pg_unlock(pg);
    return r;
}

int db_pg_generation(struct db *db, int64_t *ret_generation)
{
    struct db_pg *pg = db_pg_lock(db);
    if (!pg)
        return -ENOTCONN;
    int r = db_pg_get(pg, "SELECT value FROM meta WHERE key = 'catalog_generation'", NULL,
                      db_pg_fill_int64, ret_generation, "read generation");
    if (r == -ENOENT) {
        log_error("database: the catalog generation row is missing");
        r = -EIO;
    }
    db_pg_unlock(pg);
    return r;
}

const struct db_ops db_pg_ops = {.name = "PostgreSQL",
                                 .close = pg_close,
#define DB_PG_OPERATION(name, params, args) .name = db_pg_##name,
                                 DB_OPERATIONS(DB_PG_OPERATION)
#undef DB_PG_OPERATION
};

void db_pg_library_version(char *buf, size_t size)
{
    int version = PQlibVersion(); /* MAJOR * 10000 + MINOR since libpq 10 */
    snprintf(buf, size, "%d.%d", version / 10000, version % 10000);
}
