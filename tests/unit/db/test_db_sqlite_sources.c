/*
 * Unit tests for src/db/db_sqlite_sources.c on the shared statement cache:
 * sources inserted, listed (by id, with their product's name, a fresh
 * state and at most LIMIT_SOURCES of them) and deleted; the poll state
 * saved and read back (not_before_ms only ever moves later); tag records
 * and webhook deliveries. Each statement is prepared once per connection
 * and no call leaves one running. The sources layer on top has its own
 * tests (tests/unit/sources/test_sources.c).
 */
#include <errno.h>

#include "db/db_sources.h"
#include "env.h"

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
    struct product door = db_env_product(e->db, "door");
    struct product gate = db_env_product(e->db, "gate");
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
    /* The list is one statement of the cache, prepared once and served again. */
    struct db_sqlite *sq = db_sqlite_of(e->db);
    sqlite3_stmt *cached = sq->cache[DB_SLOT_SOURCE_LIST].stmt;
    assert_non_null(cached);
    free(rows);
    assert_int_equal(db_source_list(e->db, &rows, &n), 0);
    assert_int_equal(n, 4);
    assert_ptr_equal(sq->cache[DB_SLOT_SOURCE_LIST].stmt, cached);
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
    struct product p = db_env_product(e->db, "door");
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
    struct product p = db_env_product(e->db, "door");
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
    struct product p = db_env_product(e->db, "door");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_source_insert_list, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_source_list_cap, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_source_state_save, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_source_tags_deliveries_delete, db_env_setup,
                                        db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
