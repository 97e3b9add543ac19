/*
 * Unit tests for src/db/db_pg_cluster.c, PostgreSQL only (suite unit-pg):
 * the nodes' heartbeats and the live-node count, which must agree across
 * nodes whose own clocks do not. SQLite has one node and no such table.
 */
#include "env.h"

#include <errno.h>

#include "core/util.h"

static struct node_status node_named(const char *name, int64_t own_clock_ms)
{
    struct node_status n;
    memset(&n, 0, sizeof(n));
    str_copy(n.name, sizeof(n.name), name);
    str_copy(n.version, sizeof(n.version), "test");
    n.started_ms = own_clock_ms;
    n.seen_ms = own_clock_ms; /* what a node's own clock says; the database's wins */
    return n;
}

/*
 * Three nodes, one a minute behind, one a minute ahead: every one counts all
 * three live, and every seen_ms is the database's clock, not theirs.
 */
static void test_live_count_ignores_node_clocks(void **state)
{
    struct db_env *e = *state;
    int64_t now = time_now_ms();
    struct node_status nodes[] = {node_named("on-time", now), node_named("behind", now - 60000),
                                  node_named("ahead", now + 60000)};
    unsigned live = 0;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(db_node_beat(e->db, &nodes[i], 10000, &live), 0);
    for (size_t i = 0; i < 3; i++) {
        live = 0;
        assert_int_equal(db_node_beat(e->db, &nodes[i], 10000, &live), 0);
        if (live != 3)
            fail_msg("node %s counts %u live nodes, expected 3", nodes[i].name, live);
    }
    int64_t db_now = db_env_int(e->db, "SELECT " DB_PG_NOW_MS);
    struct node_status *list = NULL;
    size_t n = 0;
    assert_int_equal(db_node_list(e->db, &list, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        if (list[i].seen_ms > db_now || list[i].seen_ms < db_now - 5000)
            fail_msg("node %s: seen_ms %lld, the database's clock says %lld", list[i].name,
                     (long long)list[i].seen_ms, (long long)db_now);
    free(list);
    db_env_assert_idle(e->db);
}

/* A node whose last beat is older than the window, by the database's clock, is not counted. */
static void test_silent_node_drops_out(void **state)
{
    struct db_env *e = *state;
    int64_t now = time_now_ms();
    struct node_status a = node_named("a", now), b = node_named("b", now);
    unsigned live = 0;
    assert_int_equal(db_node_beat(e->db, &a, 10000, &live), 0);
    assert_int_equal(db_node_beat(e->db, &b, 10000, &live), 0);
    assert_int_equal(live, 2);
    /* B last beat 11 s ago, by the database's clock (its own may say anything). */
    db_env_exec(e->db, "UPDATE nodes SET seen_ms = seen_ms - 11000 WHERE name = 'b'");
    assert_int_equal(db_node_beat(e->db, &a, 10000, &live), 0);
    assert_int_equal(live, 1);
    /* B beats again, with a clock 30 s fast: back at once, and for A too. */
    b.seen_ms = now + 30000;
    assert_int_equal(db_node_beat(e->db, &b, 10000, &live), 0);
    assert_int_equal(live, 2);
    assert_int_equal(db_node_beat(e->db, &a, 10000, &live), 0);
    assert_int_equal(live, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_count_ignores_node_clocks, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_silent_node_drops_out, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
