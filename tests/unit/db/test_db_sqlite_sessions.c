/*
 * Unit tests for src/db/db_sqlite_sessions.c (and db_pg_sessions.c): a
 * session is stored with its cookie's hash and found by it only, with its
 * token's name, scope and revocation; a token keeps at most KEEP sessions
 * (the newest, ties by id); touch and delete answer -ENOENT for a session
 * that is gone; prune ends idle, old and revoked ones; the list is oldest
 * first; two nodes signing one token in at once still leave KEEP.
 */
#include <errno.h>

#include "core/util.h"
#include "env.h"

/* A token NAME of SCOPE with hash HASH; returns its id. */
static int64_t token(struct db *db, const char *name, enum token_scope scope, const char *hash)
{
    int64_t id = 0;
    assert_int_equal(db_token_insert(db, name, scope, hash, &id), 0);
    return id;
}

/* Signs TOKEN_ID in as cookie HASH at CREATED_MS, keeping KEEP; returns the session's id. */
static int insert(struct db *db, int64_t token_id, const char *hash, int64_t created_ms,
                  unsigned keep, int64_t *ret_id)
{
    struct session_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.token_id = token_id;
    rec.created_ms = created_ms;
    rec.last_used_ms = created_ms;
    strcpy(rec.address, "192.0.2.7");
    strcpy(rec.user_agent, "test/1.0");
    return db_session_insert(db, &rec, hash, keep, ret_id);
}

/* The ids of the stored sessions, oldest first, into IDS; returns how many. */
static size_t list_ids(struct db *db, int64_t *ids, size_t max)
{
    struct session_record *list = NULL;
    size_t n = 99;
    assert_int_equal(db_session_list(db, &list, &n), 0);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        ids[i] = list[i].id;
        if (i > 0)
            assert_true(
                list[i].created_ms > list[i - 1].created_ms ||
                (list[i].created_ms == list[i - 1].created_ms && list[i].id > list[i - 1].id));
    }
    free(list);
    return n;
}

static void test_insert_find(void **state)
{
    struct db_env *e = *state;
    int64_t ops = token(e->db, "ops", TOKEN_SCOPE_ADMIN, "t1");
    int64_t id = -7;
    assert_int_equal(insert(e->db, ops, "cookie1", 5000, 5, &id), 0);
    assert_true(id > 0);
    struct session_record got;
    assert_int_equal(db_session_find(e->db, "cookie1", &got), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(got.token_id, ops);
    assert_string_equal(got.token_name, "ops");
    assert_int_equal(got.scope, TOKEN_SCOPE_ADMIN);
    assert_int_equal(got.token_revoked_ms, 0);
    assert_int_equal(got.created_ms, 5000);
    assert_int_equal(got.last_used_ms, 5000);
    assert_string_equal(got.address, "192.0.2.7");
    assert_string_equal(got.user_agent, "test/1.0");

    /* Only the exact hash finds it; RET is untouched otherwise. */
    static const char *const misses[] = {"", "cookie", "cookie12", "COOKIE1", "t1"};
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        struct session_record none = {.id = -7};
        assert_int_equal(db_session_find(e->db, misses[i], &none), -ENOENT);
        assert_int_equal(none.id, -7);
    }
    /* A taken cookie hash is -EEXIST, a token that is not there -ENOENT; *RET_ID untouched. */
    int64_t other = -7;
    assert_int_equal(insert(e->db, ops, "cookie1", 6000, 5, &other), -EEXIST);
    assert_int_equal(insert(e->db, ops + 100, "cookie2", 6000, 5, &other), -ENOENT);
    assert_int_equal(other, -7);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM sessions"), 1);

    /* The token revoked shows in the session's row. */
    assert_int_equal(db_token_revoke(e->db, ops), 0);
    assert_int_equal(db_session_find(e->db, "cookie1", &got), 0);
    assert_true(got.token_revoked_ms > 0);
    db_env_assert_idle(e->db);
}

/* A token keeps its KEEP newest sessions (ties by id: the later sign-in stays); others' stay. */
static void test_keep(void **state)
{
    struct db_env *e = *state;
    int64_t a = token(e->db, "a", TOKEN_SCOPE_READ, "ta");
    int64_t b = token(e->db, "b", TOKEN_SCOPE_READ, "tb");
    int64_t ids[8], b_id;
    assert_int_equal(insert(e->db, b, "b1", 100, 1, &b_id), 0);
    static const struct {
        int64_t created_ms;
        unsigned keep;
        const char *left; /* a's sessions after the call, by the index of their insert */
    } steps[] = {
        {1000, 3, "0"},   {3000, 3, "01"}, {2000, 3, "021"},
        {2000, 3, "231"}, {500, 3, "231"}, /* older than the three it keeps: gone at once */
        {4000, 2, "15"},  {4000, 1, "6"},  {4000, 0, ""},
    };
    int64_t a_ids[8];
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char hash[16];
        snprintf(hash, sizeof(hash), "a%zu", i);
        assert_int_equal(insert(e->db, a, hash, steps[i].created_ms, steps[i].keep, &a_ids[i]), 0);
        size_t n = list_ids(e->db, ids, 8);
        char left[9] = {0};
        size_t k = 0;
        /* The latest insert with that id: SQLite gives a deleted newest row's id again. */
        for (size_t j = 0; j < n; j++)
            for (size_t x = i + 1; x-- > 0;)
                if (ids[j] == a_ids[x]) {
                    left[k++] = (char)('0' + x);
                    break;
                }
        if (strcmp(left, steps[i].left) != 0)
            fail_msg("step %zu: sessions %s, expected %s", i, left, steps[i].left);
        assert_int_equal(ids[0], b_id); /* b's one session is not a's to trim */
    }
    db_env_assert_idle(e->db);
}

static void test_touch_delete_prune(void **state)
{
    struct db_env *e = *state;
    int64_t a = token(e->db, "a", TOKEN_SCOPE_READ, "ta");
    int64_t b = token(e->db, "b", TOKEN_SCOPE_READ, "tb");
    int64_t s1, s2, s3, s4;
    assert_int_equal(insert(e->db, a, "s1", 1000, 9, &s1), 0);
    assert_int_equal(insert(e->db, a, "s2", 2000, 9, &s2), 0);
    assert_int_equal(insert(e->db, a, "s3", 3000, 9, &s3), 0);
    assert_int_equal(insert(e->db, b, "s4", 4000, 9, &s4), 0);

    assert_int_equal(db_session_touch(e->db, s1, 9000), 0);
    assert_int_equal(db_session_touch(e->db, s4 + 100, 9000), -ENOENT);
    assert_int_equal(db_session_delete(e->db, s2), 0);
    assert_int_equal(db_session_delete(e->db, s2), -ENOENT);
    assert_int_equal(db_session_touch(e->db, s2, 9000), -ENOENT);
    struct session_record got;
    assert_int_equal(db_session_find(e->db, "s1", &got), 0);
    assert_int_equal(got.last_used_ms, 9000);
    assert_int_equal(got.created_ms, 1000);

    /* Idle since before 3500 (s3; s1 was touched), created before 0 (none). */
    assert_int_equal(db_session_prune(e->db, 3500, 0), 0);
    int64_t ids[4];
    assert_int_equal(list_ids(e->db, ids, 4), 2);
    assert_int_equal(ids[0], s1);
    assert_int_equal(ids[1], s4);
    /* Created before 2000 (s1, however recently used). */
    assert_int_equal(db_session_prune(e->db, 0, 2000), 0);
    assert_int_equal(list_ids(e->db, ids, 4), 1);
    assert_int_equal(ids[0], s4);
    /* Those of a revoked token. */
    assert_int_equal(db_token_revoke(e->db, b), 0);
    assert_int_equal(db_session_prune(e->db, 0, 0), 0);
    assert_int_equal(list_ids(e->db, ids, 4), 0);
    db_env_assert_idle(e->db);
}

#define NODE_SIGN_INS 20
#define KEEP          3

/* What each node of test_two_nodes saw. */
struct two_nodes {
    int64_t token_id;
    int stored[2], failed[2];
    size_t most[2]; /* the most sessions the node saw after one of its sign-ins */
};

static void node_sign_ins(struct db *db, int node, void *ctx)
{
    struct two_nodes *t = ctx;
    for (int i = 0; i < NODE_SIGN_INS; i++) {
        char hash[32];
        snprintf(hash, sizeof(hash), "node%d-%02d", node, i);
        int64_t id;
        /* Interleaved times: the newest KEEP are node 1's and node 0's last ones. */
        int r = insert(db, t->token_id, hash, 1000 + 2 * i + node, KEEP, &id);
        t->stored[node] += r == 0;
        t->failed[node] += r != 0;
        /* Every committed state is one sign-in's trim: never more than KEEP. */
        struct session_record *list = NULL;
        size_t n = 0;
        if (db_session_list(db, &list, &n) < 0)
            t->failed[node]++;
        free(list);
        if (n > t->most[node])
            t->most[node] = n;
    }
}

/*
 * The multi-node case: two connections sign the same token in at once,
 * each keeping KEEP. However the inserts and trims interleave, neither
 * ever sees more than KEEP, and exactly the KEEP newest of all are left.
 */
static void test_two_nodes(void **state)
{
    struct db_env *e = *state;
    struct two_nodes t = {0};
    t.token_id = token(e->db, "ops", TOKEN_SCOPE_ADMIN, "t1");
    db_env_two_nodes(e, node_sign_ins, &t);
    assert_int_equal(t.failed[0] + t.failed[1], 0);
    assert_int_equal(t.stored[0] + t.stored[1], 2 * NODE_SIGN_INS);
    assert_true(t.most[0] <= KEEP && t.most[1] <= KEEP);
    struct session_record *list = NULL;
    size_t n = 0;
    assert_int_equal(db_session_list(e->db, &list, &n), 0);
    assert_int_equal(n, KEEP);
    for (size_t i = 0; i < n; i++) /* 1000 + 2 * 19 + 1 and the two before it */
        assert_int_equal(list[i].created_ms, 1000 + 2 * NODE_SIGN_INS - KEEP + (int64_t)i);
    free(list);
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_find, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_keep, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_touch_delete_prune, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
