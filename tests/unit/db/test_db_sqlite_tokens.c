/*
 * Unit tests for src/db/db_sqlite_tokens.c: a token inserted is found by
 * its hash only, a taken hash is -EEXIST, revoking works once per token,
 * a revoked token is still found and listed, and a scope the database
 * does not know reads as the least one; two nodes inserting and revoking
 * the same tokens at once.
 */
#include <errno.h>
#include <stdbool.h>

#include "core/util.h"
#include "env.h"

static const struct {
    const char *name;
    enum token_scope scope;
    const char *hash;
} tokens[] = {
    {"ci", TOKEN_SCOPE_PUBLISH, "1111111111111111111111111111111111111111111111111111111111111111"},
    {"ops", TOKEN_SCOPE_ADMIN, "2222222222222222222222222222222222222222222222222222222222222222"},
    {"dash", TOKEN_SCOPE_READ, "3333333333333333333333333333333333333333333333333333333333333333"},
    {"ci", TOKEN_SCOPE_READ, "4444444444444444444444444444444444444444444444444444444444444444"},
};
#define TOKEN_COUNT (sizeof(tokens) / sizeof(tokens[0]))

/* Inserts every token of the table into DB, their ids into IDS. */
static void insert_all(struct db *db, int64_t ids[TOKEN_COUNT])
{
    for (size_t i = 0; i < TOKEN_COUNT; i++) {
        assert_int_equal(
            db_token_insert(db, tokens[i].name, tokens[i].scope, tokens[i].hash, &ids[i]), 0);
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
    }
}

static void test_token_insert_find(void **state)
{
    struct db_env *e = *state;
    int64_t before = time_now_ms();
    int64_t ids[TOKEN_COUNT];
    insert_all(e->db, ids);
    for (size_t i = 0; i < TOKEN_COUNT; i++) {
        struct token t;
        assert_int_equal(db_token_find(e->db, tokens[i].hash, &t), 0);
        assert_int_equal(t.id, ids[i]);
        assert_string_equal(t.name, tokens[i].name);
        assert_int_equal(t.scope, tokens[i].scope);
        assert_true(t.created_ms >= before && t.created_ms <= time_now_ms());
        assert_int_equal(t.revoked_ms, 0);
    }
    /* Only the exact hash finds a token; RET is untouched when none does. */
    static const char *const misses[] = {
        "",
        "111111111111111111111111111111111111111111111111111111111111111",   /* one short */
        "11111111111111111111111111111111111111111111111111111111111111111", /* one long */
        "1111111111111111111111111111111111111111111111111111111111111112",
        "ci",
    };
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        struct token t = {.id = -7};
        assert_int_equal(db_token_find(e->db, misses[i], &t), -ENOENT);
        assert_int_equal(t.id, -7);
    }
    /* A taken hash is -EEXIST whatever the name and scope, and *RET_ID is untouched. */
    for (size_t i = 0; i < TOKEN_COUNT; i++) {
        int64_t id = -7;
        assert_int_equal(db_token_insert(e->db, "other", TOKEN_SCOPE_READ, tokens[i].hash, &id),
                         -EEXIST);
        assert_int_equal(id, -7);
    }
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM tokens"), TOKEN_COUNT);
    db_env_assert_idle(e->db);
}

static void test_token_revoke(void **state)
{
    struct db_env *e = *state;
    int64_t ids[TOKEN_COUNT];
    insert_all(e->db, ids);
    static const struct {
        int index; /* into tokens; -1: an id that was never given */
        int expected;
    } steps[] = {
        {1, 0}, {1, -ENOENT}, {-1, -ENOENT}, {0, 0}, {0, -ENOENT}, {1, -ENOENT}, {3, 0},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int64_t id = steps[i].index < 0 ? ids[TOKEN_COUNT - 1] + 100 : ids[steps[i].index];
        if (db_token_revoke(e->db, id) != steps[i].expected)
            fail_msg("step %zu: revoke of token %d: expected %d", i, steps[i].index,
                     steps[i].expected);
    }
    /* Revoked tokens are still found (the caller checks revoked_ms) and listed. */
    static const bool revoked[TOKEN_COUNT] = {true, true, false, true};
    struct token *list = NULL;
    size_t n = 0;
    assert_int_equal(db_token_list(e->db, &list, &n), 0);
    assert_int_equal(n, TOKEN_COUNT);
    for (size_t i = 0; i < TOKEN_COUNT; i++) {
        struct token t;
        assert_int_equal(db_token_find(e->db, tokens[i].hash, &t), 0);
        assert_int_equal(t.revoked_ms != 0, revoked[i]);
        assert_int_equal(list[i].id, ids[i]); /* by id */
        assert_string_equal(list[i].name, tokens[i].name);
        assert_int_equal(list[i].scope, tokens[i].scope);
        assert_int_equal(list[i].revoked_ms, t.revoked_ms);
        if (revoked[i])
            assert_true(t.revoked_ms >= t.created_ms);
    }
    free(list);
    db_env_assert_idle(e->db);
}

/* A scope written by something else (a newer otad, a hand edit) reads as read-only. */
static void test_token_scope_read_back(void **state)
{
    struct db_env *e = *state;
    static const struct {
        int stored;
        enum token_scope read;
    } cases[] = {
        {0, TOKEN_SCOPE_READ}, {1, TOKEN_SCOPE_PUBLISH}, {2, TOKEN_SCOPE_ADMIN},
        {3, TOKEN_SCOPE_READ}, {-1, TOKEN_SCOPE_READ},   {99, TOKEN_SCOPE_READ},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sql[160], hash[16];
        snprintf(hash, sizeof(hash), "h%zu", i);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO tokens (name, scope, hash, created_ms) VALUES ('t', %d, '%s', 1)",
                 cases[i].stored, hash);
        db_env_exec(e->db, sql);
        struct token t;
        assert_int_equal(db_token_find(e->db, hash, &t), 0);
        if (t.scope != cases[i].read)
            fail_msg("stored scope %d read as %d", cases[i].stored, t.scope);
    }
    struct token *list = NULL;
    size_t n = 0;
    assert_int_equal(db_token_list(e->db, &list, &n), 0);
    assert_int_equal(n, sizeof(cases) / sizeof(cases[0]));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].scope, cases[i].read);
    free(list);
}

static void test_token_list_empty(void **state)
{
    struct db_env *e = *state;
    struct token *list = (struct token *)1;
    size_t n = 7;
    assert_int_equal(db_token_list(e->db, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(db_token_revoke(e->db, 1), -ENOENT);
}

#define NODE_TOKENS 30

/* What each node of test_two_nodes saw. */
struct two_nodes {
    int inserted[2], taken[2], revoked[2], gone[2], failed[2];
};

static void node_tokens(struct db *db, int node, void *ctx)
{
    struct two_nodes *t = ctx;
    for (int i = 0; i < NODE_TOKENS; i++) {
        char hash[65];
        /* A third of the hashes both nodes insert at once; the others are the node's own. */
        if (i % 3 == 0)
            snprintf(hash, sizeof(hash), "shared%02d", i / 3);
        else
            snprintf(hash, sizeof(hash), "node%d-%02d", node, i);
        int64_t id = 0;
        int r = db_token_insert(db, "t", TOKEN_SCOPE_READ, hash, &id);
        t->inserted[node] += r == 0;
        t->taken[node] += r == -EEXIST;
        t->failed[node] += r != 0 && r != -EEXIST;
    }
    /* Both revoke every shared token: once each succeeds, the other finds it revoked. */
    for (int i = 0; i < NODE_TOKENS / 3; i++) {
        struct token tok;
        char hash[65];
        snprintf(hash, sizeof(hash), "shared%02d", i);
        int r = db_token_find(db, hash, &tok);
        if (r == 0)
            r = db_token_revoke(db, tok.id);
        t->revoked[node] += r == 0;
        t->gone[node] += r == -ENOENT;
        t->failed[node] += r != 0 && r != -ENOENT;
    }
}

/*
 * The multi-node case: two connections insert tokens (some hashes on both
 * at once) and revoke the same tokens. Each hash is stored once, the other
 * insert is -EEXIST; each token is revoked once, the other revoke -ENOENT.
 */
static void test_two_nodes(void **state)
{
    struct db_env *e = *state;
    struct two_nodes t = {0};
    db_env_two_nodes(e, node_tokens, &t);
    const int shared = NODE_TOKENS / 3;
    assert_int_equal(t.failed[0] + t.failed[1], 0);
    assert_int_equal(t.inserted[0] + t.inserted[1], 2 * (NODE_TOKENS - shared) + shared);
    assert_int_equal(t.taken[0] + t.taken[1], shared);
    assert_int_equal(t.revoked[0] + t.revoked[1], shared);
    assert_int_equal(t.gone[0] + t.gone[1], shared);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM tokens"),
                     2 * (NODE_TOKENS - shared) + shared);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM tokens WHERE revoked_ms IS NOT NULL"),
                     shared);
    struct token *list = NULL;
    size_t n = 0;
    assert_int_equal(db_token_list(e->db, &list, &n), 0);
    for (size_t i = 1; i < n; i++)
        assert_true(list[i].id > list[i - 1].id);
    free(list);
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_insert_find, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_token_revoke, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_token_scope_read_back, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_token_list_empty, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
