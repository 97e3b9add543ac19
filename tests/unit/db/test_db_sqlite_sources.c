/*
 * Unit tests for src/db/db_sqlite_sources.c and db_pg_sources.c (the same
 * file runs on both backends, env.h): sources inserted, listed (by id, with
 * their product's name, a fresh state and at most LIMIT_SOURCES of them)
 * and deleted; the poll state saved and read back (not_before_ms only ever
 * moves later); tag records and webhook deliveries; no call leaves a
 * statement or a transaction open. On SQLite each statement is prepared
 * once per connection. Several nodes on one database are two connections
 * (two db_open of the same database) writing the same rows, in turns and
 * at once from two threads: the result is exact (a delivery recorded once,
 * not_before_ms the latest of all; on PostgreSQL, a source deleted while
 * three nodes record its tags leaves none behind). The sources layer on
 * top has its own tests (tests/unit/sources/test_sources.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "db/db_sources.h"
#include "env.h"

/*
 * Product NAME's row, written directly: a source needs a product's id and
 * name, nothing more, so these tests do not wait on db_product_insert's
 * port to each backend. Valid SQL on both.
 */
static struct product product_row(struct db *db, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO products (name, platform, default_channel, created_ms) "
             "VALUES ('%s', 0, 'stable', 1)",
             name);
    db_env_exec(db, sql);
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, name);
    snprintf(sql, sizeof(sql), "SELECT id FROM products WHERE name = '%s'", name);
    p.id = db_env_int(db, sql);
    assert_true(p.id > 0);
    return p;
}

static struct source source_for(int64_t product_id, const char *owner, const char *repo)
{
    struct source s;
    memset(&s, 0, sizeof(s));
    s.product_id = product_id;
    strcpy(s.owner, owner);
    strcpy(s.repo, repo);
    strcpy(s.asset_glob, "*.bin");
    strcpy(s.api_url, "https://api.github.com");
    return s;
}

static void test_source_insert_list(void **state)
{
    struct db_env *e = *state;
    struct product door = product_row(e->db, "door");
    struct product gate = product_row(e->db, "gate");
    static const struct {
        int product; /* 0 door, 1 gate, 2 none */
        const char *owner, *repo;
        int expected;
    } inserts[] = {
        {0, "acme", "door-fw", 0},       {0, "acme", "door-fw", -EEXIST},
        {0, "ACME", "Door-FW", -EEXIST}, /* owner and repo compare without case */
        {1, "acme", "door-fw", 0},       /* the same repository for another product */
        {0, "acme", "door-fs", 0},       {2, "acme", "other", -ENOENT},
        {0, "other", "door-fw", 0},
    };
    const int64_t ids[] = {door.id, gate.id, gate.id + 100};
    int64_t last_id = 0;
    for (size_t i = 0; i < sizeof(inserts) / sizeof(inserts[0]); i++) {
        struct source s = source_for(ids[inserts[i].product], inserts[i].owner, inserts[i].repo);
        s.poll_interval_s = 60 * i;
        if (db_source_insert(e->db, &s) != inserts[i].expected)
            fail_msg("insert %zu (%s/%s): expected %d", i, inserts[i].owner, inserts[i].repo,
                     inserts[i].expected);
        if (inserts[i].expected == 0) {
            assert_true(s.id > last_id);
            assert_true(s.created_ms > 0);
            last_id = s.id;
        } else {
            assert_int_equal(s.id, 0);
        }
        db_env_assert_idle(e->db);
    }
    /* A refused insert left neither a source nor a state row. */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM sources"), 4);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM source_state"), 4);

    struct source_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(db_source_list(e->db, &rows, &n), 0);
    static const struct {
        const char *product, *owner, *repo;
        uint64_t poll_interval_s;
    } want[] = {
        {"door", "acme", "door-fw", 0},
        {"gate", "acme", "door-fw", 180},
        {"door", "acme", "door-fs", 240},
        {"door", "other", "door-fw", 360},
    };
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(rows[i].source.id > rows[i - 1].source.id);
        assert_string_equal(rows[i].source.product, want[i].product);
        assert_string_equal(rows[i].source.owner, want[i].owner);
        assert_string_equal(rows[i].source.repo, want[i].repo);
        assert_int_equal(rows[i].source.poll_interval_s, want[i].poll_interval_s);
        assert_string_equal(rows[i].source.api_url, "https://api.github.com");
        /* a fresh state: the table's defaults, and no refused tag */
        assert_int_equal(rows[i].state.rate_limit, -1);
        assert_int_equal(rows[i].state.rate_remaining, -1);
        assert_int_equal(rows[i].state.last_poll_ms, 0);
        assert_string_equal(rows[i].state.etag, "");
        assert_string_equal(rows[i].last_refused.tag, "");
    }
#ifndef DB_ENV_POSTGRESQL
    /* The list is one statement of the cache, prepared once and served again. */
    struct db_sqlite *sq = db_sqlite_of(e->db);
    sqlite3_stmt *cached = sq->cache[DB_SLOT_SOURCE_LIST].stmt;
    assert_non_null(cached);
    free(rows);
    assert_int_equal(db_source_list(e->db, &rows, &n), 0);
    assert_int_equal(n, 4);
    assert_ptr_equal(sq->cache[DB_SLOT_SOURCE_LIST].stmt, cached);
#endif
    free(rows);

    struct source_row row;
    assert_int_equal(db_source_get(e->db, last_id, &row), 0);
    assert_string_equal(row.source.owner, "other");
    assert_int_equal(db_source_get(e->db, last_id + 1, &row), -ENOENT);
    db_env_assert_idle(e->db);
}

/* Past LIMIT_SOURCES rows (a database edited by hand), the list is the first ones by id. */
static void test_source_list_cap(void **state)
{
    struct db_env *e = *state;
    struct product p = product_row(e->db, "door");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %u) "
             "INSERT INTO sources (id, product_id, owner, repo, asset_glob, api_url, created_ms) "
             "SELECT %u + 1 - i, %lld, 'o', 'r' || i, '*', 'u', 1 FROM n; "
             "INSERT INTO source_state (source_id) SELECT id FROM sources;",
             LIMIT_SOURCES + 5, LIMIT_SOURCES + 5, (long long)p.id);
    db_env_exec(e->db, sql);
    struct source_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(db_source_list(e->db, &rows, &n), 0);
    assert_int_equal(n, LIMIT_SOURCES);
    assert_int_equal(rows[0].source.id, 1);
    assert_int_equal(rows[n - 1].source.id, LIMIT_SOURCES);
    free(rows);
    db_env_assert_idle(e->db);
}

static void test_source_state_save(void **state)
{
    struct db_env *e = *state;
    struct product p = product_row(e->db, "door");
    struct source s = source_for(p.id, "acme", "door-fw");
    assert_int_equal(db_source_insert(e->db, &s), 0);
    static const struct {
        int64_t not_before_ms;   /* saved */
        int64_t want_not_before; /* read back: never earlier than before */
        int64_t failures;
        const char *etag;
    } saves[] = {
        {0, 0, 0, "\"a\""},         {5000, 5000, 1, "\"b\""}, {3000, 5000, 2, ""},
        {5000, 5000, 0, "W/\"c\""}, {9000, 9000, 7, "\"d\""}, {0, 9000, 0, "\"e\""},
    };
    for (size_t i = 0; i < sizeof(saves) / sizeof(saves[0]); i++) {
        struct source_state st;
        memset(&st, 0, sizeof(st));
        strcpy(st.etag, saves[i].etag);
        st.last_poll_ms = 100 + (int64_t)i;
        st.failures = saves[i].failures;
        st.rate_limit = 5000;
        st.rate_remaining = 4999 - (int64_t)i;
        st.not_before_ms = saves[i].not_before_ms;
        st.api_calls = (int64_t)i + 1;
        snprintf(st.last_error, sizeof(st.last_error), "HTTP %zu", 500 + i);
        assert_int_equal(db_source_state_save(e->db, s.id, &st), 0);
        struct source_row row;
        assert_int_equal(db_source_get(e->db, s.id, &row), 0);
        if (row.state.not_before_ms != saves[i].want_not_before)
            fail_msg("save %zu: not_before_ms %lld, expected %lld", i,
                     (long long)row.state.not_before_ms, (long long)saves[i].want_not_before);
        assert_string_equal(row.state.etag, saves[i].etag);
        assert_int_equal(row.state.last_poll_ms, 100 + (int64_t)i);
        assert_int_equal(row.state.failures, saves[i].failures);
        assert_int_equal(row.state.rate_remaining, 4999 - (int64_t)i);
        assert_int_equal(row.state.api_calls, (int64_t)i + 1);
        assert_string_equal(row.state.last_error, st.last_error);
    }
    struct source_state st;
    memset(&st, 0, sizeof(st));
    assert_int_equal(db_source_state_save(e->db, s.id + 1, &st), -ENOENT);

    /* Gating moves every source on the same credentials, and only later. */
    struct source other = source_for(p.id, "acme", "door-fs");
    struct source own_token = source_for(p.id, "acme", "door-x");
    strcpy(own_token.token_env, "OTHER_TOKEN");
    assert_int_equal(db_source_insert(e->db, &other), 0);
    assert_int_equal(db_source_insert(e->db, &own_token), 0);
    assert_int_equal(db_source_gate_siblings(e->db, &s, 7000), 0);
    const struct {
        int64_t id;
        int64_t want_not_before;
    } gated[] = {
        {s.id, 9000},      /* already later: kept */
        {other.id, 7000},  /* same credentials: moved */
        {own_token.id, 0}, /* its own token: untouched */
    };
    for (size_t i = 0; i < sizeof(gated) / sizeof(gated[0]); i++) {
        struct source_row row;
        assert_int_equal(db_source_get(e->db, gated[i].id, &row), 0);
        assert_int_equal(row.state.not_before_ms, gated[i].want_not_before);
    }
    db_env_assert_idle(e->db);
}

static void test_source_tags_deliveries_delete(void **state)
{
    struct db_env *e = *state;
    struct product p = product_row(e->db, "door");
    struct source s = source_for(p.id, "acme", "door-fw");
    assert_int_equal(db_source_insert(e->db, &s), 0);
    static const struct {
        const char *tag;
        enum source_tag_status status;
        int64_t updated_ms;
    } puts[] = {
        {"v1.0.0", SOURCE_TAG_INGESTED, 10}, {"v1.1.0", SOURCE_TAG_REFUSED, 20},
        {"v1.2.0", SOURCE_TAG_FAILED, 30},   {"v1.2.0", SOURCE_TAG_REFUSED, 40}, /* replaced */
        {"v0.9.0", SOURCE_TAG_REFUSED, 5},
    };
    for (size_t i = 0; i < sizeof(puts) / sizeof(puts[0]); i++) {
        struct source_tag t;
        memset(&t, 0, sizeof(t));
        strcpy(t.tag, puts[i].tag);
        t.status = puts[i].status;
        t.attempts = (int64_t)i;
        t.updated_ms = puts[i].updated_ms;
        snprintf(t.detail, sizeof(t.detail), "put %zu", i);
        assert_int_equal(db_source_tag_put(e->db, s.id, &t), 0);
    }
    static const struct {
        const char *tag;
        int expected;
        enum source_tag_status status;
        const char *detail;
    } gets[] = {
        {"v1.0.0", 0, SOURCE_TAG_INGESTED, "put 0"},
        {"v1.2.0", 0, SOURCE_TAG_REFUSED, "put 3"},
        {"v1.3.0", -ENOENT, 0, NULL},
        {"V1.0.0", -ENOENT, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        struct source_tag t;
        assert_int_equal(db_source_tag_get(e->db, s.id, gets[i].tag, &t), gets[i].expected);
        if (gets[i].expected == 0) {
            assert_int_equal(t.status, gets[i].status);
            assert_string_equal(t.detail, gets[i].detail);
        }
    }
    /* The source's last refused tag is the most recent refusal. */
    struct source_row row;
    assert_int_equal(db_source_get(e->db, s.id, &row), 0);
    assert_string_equal(row.last_refused.tag, "v1.2.0");
    assert_int_equal(row.last_refused.updated_ms, 40);

    /* Refusals at the same time: the greater tag in byte order ('v' after 'V'), on both. */
    struct source_tag tie = {.tag = "V3.0.0", .status = SOURCE_TAG_REFUSED, .updated_ms = 50};
    assert_int_equal(db_source_tag_put(e->db, s.id, &tie), 0);
    strcpy(tie.tag, "v2.0.0");
    assert_int_equal(db_source_tag_put(e->db, s.id, &tie), 0);
    assert_int_equal(db_source_get(e->db, s.id, &row), 0);
    assert_string_equal(row.last_refused.tag, "v2.0.0");

    struct source_tag orphan = {.tag = "v1", .status = SOURCE_TAG_INGESTED, .updated_ms = 1};
    assert_int_equal(db_source_tag_put(e->db, s.id + 1, &orphan), -ENOENT); /* no such source */

    static const struct {
        const char *delivery;
        int64_t now_ms;
        int expected;
    } deliveries[] = {
        {"d-1", 1000, 0},       {"d-2", 1500, 0},
        {"d-1", 1600, -EEXIST}, {"d-1", 2100, 0}, /* forgotten: older than keep_ms (1000) */
        {"d-2", 2600, 0},       {"d-2", 2700, -EEXIST},
    };
    for (size_t i = 0; i < sizeof(deliveries) / sizeof(deliveries[0]); i++)
        if (db_webhook_delivery_record(e->db, deliveries[i].delivery, deliveries[i].now_ms, 1000) !=
            deliveries[i].expected)
            fail_msg("delivery %zu (%s at %lld): expected %d", i, deliveries[i].delivery,
                     (long long)deliveries[i].now_ms, deliveries[i].expected);

    assert_int_equal(db_source_delete(e->db, s.id), 0);
    assert_int_equal(db_source_delete(e->db, s.id), -ENOENT);
    assert_int_equal(db_source_get(e->db, s.id, &row), -ENOENT);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM source_tags"), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM source_state"), 0);
    db_env_assert_idle(e->db);
}

/* Another node: a second connection to the test's database. */
static struct db *second_node(const struct db_env *e)
{
    struct db *db = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &db), 0);
    return db;
}

/* Two nodes writing the same rows in turns: each sees the other's writes and keeps its rules. */
static void test_two_nodes_in_turns(void **state)
{
    struct db_env *e = *state;
    struct db *a = e->db, *b = second_node(e);
    struct product p = product_row(a, "door");
    struct source s = source_for(p.id, "acme", "door-fw");
    assert_int_equal(db_source_insert(a, &s), 0);
    struct source same = source_for(p.id, "Acme", "DOOR-fw");
    assert_int_equal(db_source_insert(b, &same), -EEXIST);
    struct source_row row;
    assert_int_equal(db_source_get(b, s.id, &row), 0);
    assert_string_equal(row.source.product, "door");

    struct source_state st;
    memset(&st, 0, sizeof(st));
    st.not_before_ms = 5000;
    st.api_calls = 1;
    assert_int_equal(db_source_state_save(a, s.id, &st), 0);
    assert_int_equal(db_source_gate_siblings(b, &s, 3000), 0); /* earlier: kept at 5000 */
    assert_int_equal(db_source_get(a, s.id, &row), 0);
    assert_int_equal(row.state.not_before_ms, 5000);
    assert_int_equal(db_source_gate_siblings(b, &s, 8000), 0);
    st.not_before_ms = 0; /* A saves what it read before B's gate: the gate stays */
    st.api_calls = 2;
    assert_int_equal(db_source_state_save(a, s.id, &st), 0);
    assert_int_equal(db_source_get(b, s.id, &row), 0);
    assert_int_equal(row.state.not_before_ms, 8000);
    assert_int_equal(row.state.api_calls, 2);

    struct source_tag t = {.tag = "v1.0.0", .status = SOURCE_TAG_FAILED, .updated_ms = 10};
    assert_int_equal(db_source_tag_put(a, s.id, &t), 0);
    t.status = SOURCE_TAG_INGESTED;
    t.updated_ms = 20;
    assert_int_equal(db_source_tag_put(b, s.id, &t), 0); /* replaced, not doubled */
    struct source_tag got;
    assert_int_equal(db_source_tag_get(a, s.id, "v1.0.0", &got), 0);
    assert_int_equal(got.status, SOURCE_TAG_INGESTED);
    assert_int_equal(db_env_int(a, "SELECT count(*) FROM source_tags"), 1);

    assert_int_equal(db_webhook_delivery_record(a, "d-1", 1000, 60000), 0);
    assert_int_equal(db_webhook_delivery_record(b, "d-1", 1001, 60000), -EEXIST);

    assert_int_equal(db_source_delete(b, s.id), 0);
    assert_int_equal(db_source_tag_put(a, s.id, &t), -ENOENT);
    assert_int_equal(db_source_delete(a, s.id), -ENOENT);
    db_env_assert_idle(a);
    db_env_assert_idle(b);
    db_close(b);
}

#define RACE_DELIVERIES 200
#define RACE_GATES      100

/* One node's part in test_two_nodes_at_once. */
struct racer {
    struct db *db;
    const struct source *src;
    int offset;     /* where in the shared schedule this node starts */
    int recorded;   /* deliveries it recorded first */
    int duplicates; /* deliveries it found recorded */
    int errors;     /* any other result */
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < RACE_DELIVERIES; i++) {
        char delivery[32];
        snprintf(delivery, sizeof(delivery), "race-%d", (i + r->offset) % RACE_DELIVERIES);
        int rc = db_webhook_delivery_record(r->db, delivery, 1000 + i, 3600000);
        if (rc == 0)
            r->recorded++;
        else if (rc == -EEXIST)
            r->duplicates++;
        else
            r->errors++;
    }
    for (int i = 0; i < RACE_GATES; i++) {
        /* Each node's not_before_ms values, a permutation of 1..RACE_GATES, some later, some not.
         */
        int64_t at = 1 + (int64_t)((i * 37 + r->offset) % RACE_GATES);
        struct source_state st;
        memset(&st, 0, sizeof(st));
        st.not_before_ms = at * 10;
        if (db_source_gate_siblings(r->db, r->src, at * 10 + 5) != 0 ||
            db_source_state_save(r->db, r->src->id, &st) != 0)
            r->errors++;
    }
    return NULL;
}

/*
 * Two nodes at once, each on its own connection and thread: the same
 * webhook deliveries recorded by both are each recorded once (the other
 * node sees a duplicate), and not_before_ms ends as the latest either
 * wrote, whatever the interleaving.
 */
static void test_two_nodes_at_once(void **state)
{
    struct db_env *e = *state;
    struct product p = product_row(e->db, "door");
    struct source s = source_for(p.id, "acme", "door-fw");
    assert_int_equal(db_source_insert(e->db, &s), 0);
    struct racer r[2] = {{.db = e->db, .src = &s, .offset = 0},
                         {.db = second_node(e), .src = &s, .offset = RACE_DELIVERIES / 2}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(r[0].errors + r[1].errors, 0);
    assert_int_equal(r[0].recorded + r[1].recorded, RACE_DELIVERIES);
    assert_int_equal(r[0].duplicates + r[1].duplicates, RACE_DELIVERIES);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM webhook_deliveries"), RACE_DELIVERIES);
    struct source_row row;
    assert_int_equal(db_source_get(r[1].db, s.id, &row), 0);
    assert_int_equal(row.state.not_before_ms, RACE_GATES * 10 + 5);
    db_env_assert_idle(r[0].db);
    db_env_assert_idle(r[1].db);
    db_close(r[1].db);
}

#ifdef DB_ENV_POSTGRESQL
/*
 * A poll recording tags while another node deletes the source: PostgreSQL
 * only. On SQLite BEGIN IMMEDIATE serializes the two, and three
 * connections writing without a pause starve the delete's BEGIN past the
 * busy timeout (SQLite's lock is not fair): not a case one SQLite node has.
 */
struct tagger {
    struct db *db;
    int64_t source_id;
    int puts, refused, errors;
    bool refused_then_put; /* a put succeeded after one was refused */
    atomic_bool stop;      /* the delete failed: no refusal is coming */
};

static void *tagger_main(void *arg)
{
    struct tagger *t = arg;
    /* Until the source is gone and a few more puts were refused (bounded: ~a minute). */
    for (int i = 0; i < 1000000 && t->refused < 10 && t->errors == 0 && !atomic_load(&t->stop);
         i++) {
        struct source_tag tag = {.status = SOURCE_TAG_INGESTED, .updated_ms = i};
        snprintf(tag.tag, sizeof(tag.tag), "v%d", i);
        int rc = db_source_tag_put(t->db, t->source_id, &tag);
        if (rc == 0) {
            t->refused_then_put |= t->refused > 0;
            t->puts++;
        } else if (rc == -ENOENT) {
            t->refused++;
        } else {
            t->errors++;
        }
    }
    return NULL;
}

#define TAGGERS       3
#define DELETE_ROUNDS 10

/*
 * One node deletes a source while three others record its tags, a few
 * rounds (the race is in a window of a few round trips): the delete
 * succeeds, takes every tag with it, and from then on the other nodes'
 * puts are refused with -ENOENT (never -EIO, never a tag left behind).
 */
static void test_delete_while_tagging(void **state)
{
    struct db_env *e = *state;
    struct product p = product_row(e->db, "door");
    struct tagger t[TAGGERS];
    for (int k = 0; k < TAGGERS; k++)
        t[k].db = second_node(e);
    for (int round = 0; round < DELETE_ROUNDS; round++) {
        char repo[32];
        snprintf(repo, sizeof(repo), "door-%d", round);
        struct source s = source_for(p.id, "acme", repo);
        assert_int_equal(db_source_insert(e->db, &s), 0);
        pthread_t threads[TAGGERS];
        for (int k = 0; k < TAGGERS; k++) {
            struct db *db = t[k].db;
            t[k] = (struct tagger){.db = db, .source_id = s.id};
            atomic_init(&t[k].stop, false);
            assert_int_equal(pthread_create(&threads[k], NULL, tagger_main, &t[k]), 0);
        }
        /* Let some tags in first, then delete in the middle of the stream. */
        for (int i = 0;
             i < 10000 && db_env_int(e->db, "SELECT count(*) FROM source_tags") < 20 * TAGGERS; i++)
            usleep(1000);
        int deleted = db_source_delete(e->db, s.id);
        for (int k = 0; k < TAGGERS; k++) { /* joined first: the test must not end under them */
            if (deleted != 0)
                atomic_store(&t[k].stop, true);
            assert_int_equal(pthread_join(threads[k], NULL), 0);
        }
        if (deleted != 0)
            fail_msg("round %d: the delete failed: %d", round, deleted);
        for (int k = 0; k < TAGGERS; k++) {
            assert_int_equal(t[k].errors, 0);
            assert_false(t[k].refused_then_put);
            assert_true(t[k].refused > 0);
        }
        assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM source_tags"), 0);
        assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM sources"), 0);
    }
    db_env_assert_idle(e->db);
    for (int k = 0; k < TAGGERS; k++) {
        db_env_assert_idle(t[k].db);
        db_close(t[k].db);
    }
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_source_insert_list, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_source_list_cap, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_source_state_save, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_source_tags_deliveries_delete, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes_in_turns, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes_at_once, db_env_setup, db_env_teardown),
#ifdef DB_ENV_POSTGRESQL
        cmocka_unit_test_setup_teardown(test_delete_while_tagging, db_env_setup, db_env_teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
