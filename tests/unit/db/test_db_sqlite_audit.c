/*
 * Unit tests for src/db/db_sqlite_audit.c: an entry reads back field for
 * field (its parameters as stored, an unknown via as system); the list is
 * newest first, paged by id, each filter narrows it alone and together; and
 * the retention trim deletes only entries older than its cutoff, oldest
 * first, at most a batch at a time, leaving no statement running; two
 * nodes appending and trimming at once.
 */
#include <errno.h>
#include <stdbool.h>

#include "core/util.h"
#include "db/db_audit.h"
#include "env.h"

/* Appends an entry AT_MS by ACTOR of ACTION on PRODUCT, OK or not; returns its id. */
static int64_t add(struct db *db, int64_t at_ms, const char *actor, const char *action,
                   const char *product, bool ok)
{
    struct audit_entry e = {.at_ms = at_ms, .ok = ok, .status = ok ? 200 : 404};
    e.actor.via = ACTOR_VIA_API;
    e.actor.token_id = 3;
    strcpy(e.actor.name, actor);
    strcpy(e.actor.address, "192.0.2.7");
    strcpy(e.action, action);
    strcpy(e.product, product);
    if (!ok) {
        strcpy(e.error, "not_found");
        strcpy(e.reason, "no such thing");
    }
    int64_t id = 0;
    assert_int_equal(db_audit_insert(db, &e, &id), 0);
    db_env_assert_idle(db);
    return id;
}

static size_t list(struct db *db, const struct audit_filter *f, size_t limit, int64_t *ids)
{
    struct audit_entry *got = NULL;
    size_t n = 99;
    assert_int_equal(db_audit_list(db, f, limit, &got, &n), 0);
    db_env_assert_idle(db);
    for (size_t i = 0; i < n; i++)
        ids[i] = got[i].id;
    audit_entry_list_free(got, n);
    return n;
}

static void test_round_trip(void **state)
{
    struct db_env *e = *state;
    struct audit_entry in = {.at_ms = 1795935662123, .ok = false, .status = 0};
    in.actor = (struct actor){.via = ACTOR_VIA_CLI, .token_id = 0};
    strcpy(in.actor.name, "alice");
    strcpy(in.actor.address, "local");
    strcpy(in.action, "rollout.pause");
    strcpy(in.product, "door");
    strcpy(in.object, "7");
    strcpy(in.error, "ENOENT");
    strcpy(in.reason, "rollout 7 of door does not exist");
    in.params = "{\"reason\":\"odd\"}";
    int64_t id;
    assert_int_equal(db_audit_insert(e->db, &in, &id), 0);
    assert_true(id > 0);

    struct audit_filter none = {0};
    struct audit_entry *got = NULL;
    size_t n = 0;
    assert_int_equal(db_audit_list(e->db, &none, 10, &got, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(got[0].id, id);
    assert_int_equal(got[0].at_ms, in.at_ms);
    assert_int_equal(got[0].actor.via, ACTOR_VIA_CLI);
    assert_int_equal(got[0].actor.token_id, 0);
    assert_string_equal(got[0].actor.name, "alice");
    assert_string_equal(got[0].actor.address, "local");
    assert_string_equal(got[0].action, "rollout.pause");
    assert_string_equal(got[0].product, "door");
    assert_string_equal(got[0].object, "7");
    assert_string_equal(got[0].params, "{\"reason\":\"odd\"}");
    assert_false(got[0].ok);
    assert_int_equal(got[0].status, 0);
    assert_string_equal(got[0].error, "ENOENT");
    assert_string_equal(got[0].reason, "rollout 7 of door does not exist");
    audit_entry_list_free(got, n);

    /* No parameters read as NULL; a via this otad does not know reads as system. */
    in.params = NULL;
    assert_int_equal(db_audit_insert(e->db, &in, &id), 0);
    db_env_exec(e->db, "UPDATE audit SET via = 'carrier-pigeon' WHERE id = 1");
    assert_int_equal(db_audit_list(e->db, &none, 10, &got, &n), 0);
    assert_int_equal(n, 2);
    assert_null(got[0].params);
    assert_int_equal(got[1].actor.via, ACTOR_VIA_SYSTEM);
    audit_entry_list_free(got, n);
    db_env_assert_idle(e->db);
}

static void test_list_filters_and_pages(void **state)
{
    struct db_env *e = *state;
    int64_t a = add(e->db, 1000, "ops", "rollout.start", "door", true);
    int64_t b = add(e->db, 2000, "ops", "rollout.pause", "door", false);
    int64_t c = add(e->db, 3000, "ci", "release.publish", "lamp", true);
    int64_t d = add(e->db, 4000, "alice", "rollouts.bogus", "door", true);
    int64_t ids[8];

    struct audit_filter f = {0};
    assert_int_equal(list(e->db, &f, 10, ids), 4);
    assert_int_equal(ids[0], d); /* newest first */
    assert_int_equal(ids[3], a);
    assert_int_equal(list(e->db, &f, 2, ids), 2);
    assert_int_equal(ids[1], c);
    f.before_id = c; /* the next page */
    assert_int_equal(list(e->db, &f, 2, ids), 2);
    assert_int_equal(ids[0], b);
    assert_int_equal(ids[1], a);
    f.before_id = a;
    assert_int_equal(list(e->db, &f, 2, ids), 0);

    f = (struct audit_filter){.action_prefix = "rollout."}; /* a prefix, and "." matters */
    assert_int_equal(list(e->db, &f, 10, ids), 2);
    assert_int_equal(ids[0], b);
    f = (struct audit_filter){.action_prefix = "rollout"};
    assert_int_equal(list(e->db, &f, 10, ids), 3);
    f = (struct audit_filter){.actor = "ops"};
    assert_int_equal(list(e->db, &f, 10, ids), 2);
    f = (struct audit_filter){.actor = "op"}; /* the actor is exact */
    assert_int_equal(list(e->db, &f, 10, ids), 0);
    f = (struct audit_filter){.product = "lamp"};
    assert_int_equal(list(e->db, &f, 10, ids), 1);
    assert_int_equal(ids[0], c);
    f = (struct audit_filter){.outcome = -1};
    assert_int_equal(list(e->db, &f, 10, ids), 1);
    assert_int_equal(ids[0], b);
    f = (struct audit_filter){.outcome = 1};
    assert_int_equal(list(e->db, &f, 10, ids), 3);
    f = (struct audit_filter){.since_ms = 2000, .until_ms = 3000}; /* both inclusive */
    assert_int_equal(list(e->db, &f, 10, ids), 2);
    assert_int_equal(ids[0], c);
    assert_int_equal(ids[1], b);
    f = (struct audit_filter){.product = "door", .outcome = 1, .since_ms = 1500};
    assert_int_equal(list(e->db, &f, 10, ids), 1);
    assert_int_equal(ids[0], d);
    f = (struct audit_filter){.actor = "", .product = ""}; /* "" does not filter */
    assert_int_equal(list(e->db, &f, 10, ids), 4);
}

static void test_trim_deletes_only_old_entries_in_batches(void **state)
{
    struct db_env *e = *state;
    for (int i = 0; i < 25; i++)
        add(e->db, 1000 + i, "ops", "pin.put", "door", true); /* old: 1000 ... 1024 */
    for (int i = 0; i < 5; i++)
        add(e->db, 5000 + i, "ops", "pin.put", "door", true); /* new */
    size_t deleted = 99;
    assert_int_equal(db_audit_trim(e->db, 1010, 4, &deleted), 0); /* older than 1010: ten */
    assert_int_equal(deleted, 4);
    db_env_assert_idle(e->db);
    assert_int_equal(db_env_int(e->db, "SELECT COUNT(*) FROM audit"), 26);
    /* Oldest first: the first four ids went. */
    assert_int_equal(db_env_int(e->db, "SELECT MIN(at_ms) FROM audit"), 1004);
    assert_int_equal(db_audit_trim(e->db, 1010, 4, &deleted), 0);
    assert_int_equal(deleted, 4);
    assert_int_equal(db_audit_trim(e->db, 1010, 4, &deleted), 0);
    assert_int_equal(deleted, 2); /* a short batch: nothing older is left */
    assert_int_equal(db_audit_trim(e->db, 1010, 4, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(db_env_int(e->db, "SELECT MIN(at_ms) FROM audit"), 1010);
    assert_int_equal(db_audit_trim(e->db, 5000, 100, &deleted), 0);
    assert_int_equal(deleted, 15);
    assert_int_equal(db_env_int(e->db, "SELECT COUNT(*) FROM audit"), 5);
    assert_int_equal(db_env_int(e->db, "SELECT MIN(at_ms) FROM audit"), 5000);
    /* Ids are never reused, even after the oldest went. */
    int64_t next = add(e->db, 6000, "ops", "pin.put", "door", true);
    assert_int_equal(next, 31);
}

#define NODE_ENTRIES 60

/* What each node of test_two_nodes saw. */
struct two_nodes {
    int inserted[2], failed[2];
    size_t deleted[2];
};

static void node_insert(struct db *db, int node, void *ctx)
{
    struct two_nodes *t = ctx;
    for (int i = 0; i < NODE_ENTRIES; i++) {
        struct audit_entry e = {.at_ms = 1000 + i, .ok = true, .status = 200};
        e.actor.via = ACTOR_VIA_API;
        snprintf(e.actor.name, sizeof(e.actor.name), "node%d", node);
        strcpy(e.action, "pin.put");
        int64_t id = 0;
        int r = db_audit_insert(db, &e, &id);
        t->inserted[node] += r == 0 && id > 0;
        t->failed[node] += r != 0;
    }
}

/* The retention pass of one node: batches until one comes back short. */
static void node_trim(struct db *db, int node, void *ctx)
{
    struct two_nodes *t = ctx;
    size_t deleted = 7;
    while (deleted == 7) {
        if (db_audit_trim(db, 1000 + NODE_ENTRIES / 2, 7, &deleted) < 0) {
            t->failed[node]++;
            return;
        }
        t->deleted[node] += deleted;
    }
}

/*
 * The multi-node case: two connections append at once (every entry stored,
 * each its own id), then both run the retention pass at once: together they
 * delete exactly the entries older than the cutoff, each once.
 */
static void test_two_nodes(void **state)
{
    struct db_env *e = *state;
    struct two_nodes t = {0};
    db_env_two_nodes(e, node_insert, &t);
    assert_int_equal(t.failed[0] + t.failed[1], 0);
    assert_int_equal(t.inserted[0] + t.inserted[1], 2 * NODE_ENTRIES);
    assert_int_equal(db_env_int(e->db, "SELECT count(DISTINCT id) FROM audit"), 2 * NODE_ENTRIES);
    int64_t ids[2 * NODE_ENTRIES];
    struct audit_filter node1 = {.actor = "node1"};
    assert_int_equal(list(e->db, &node1, 2 * NODE_ENTRIES, ids), NODE_ENTRIES);

    db_env_two_nodes(e, node_trim, &t);
    assert_int_equal(t.failed[0] + t.failed[1], 0);
    assert_int_equal(t.deleted[0] + t.deleted[1], NODE_ENTRIES); /* half of each node's */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM audit"), NODE_ENTRIES);
    assert_int_equal(db_env_int(e->db, "SELECT min(at_ms) FROM audit"), 1000 + NODE_ENTRIES / 2);
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_and_pages, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_trim_deletes_only_old_entries_in_batches, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
