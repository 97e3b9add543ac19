/*
 * Unit tests for src/db/db_sqlite_notify.c and db_pg_notify.c (the same
 * file runs on both backends, env.h): receivers (names unique, the secret
 * stored and read back), deliveries stored per receiver and read as each
 * enabled receiver's oldest pending one (the order a receiver's deliveries
 * go out in), a 410's disabling, the list with the last delivery, and
 * pruning that never touches a pending delivery. No call leaves a
 * statement or a transaction open. Several nodes on one database are two
 * connections (two db_open of the same database): on PostgreSQL a due
 * delivery handed to one node is claimed, and two nodes asking at once
 * are never handed the same delivery.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "db/db_notify.h"
#include "env.h"

static struct notify_receiver receiver(const char *name, const char *secret)
{
    struct notify_receiver r;
    memset(&r, 0, sizeof(r));
    strcpy(r.name, name);
    strcpy(r.url, "http://127.0.0.1:9/hook");
    strcpy(r.events, "*");
    strcpy(r.secret, secret);
    return r;
}

static struct notify_delivery delivery(int64_t receiver_id, const char *uuid, int64_t next_ms)
{
    struct notify_delivery d;
    memset(&d, 0, sizeof(d));
    d.receiver_id = receiver_id;
    strcpy(d.uuid, uuid);
    strcpy(d.event, "rollout.halted");
    strcpy(d.product, "door");
    d.body = (char *)"{\"id\":1}";
    d.next_ms = next_ms;
    d.created_ms = next_ms;
    return d;
}

static void test_receivers(void **state)
{
    struct db_env *e = *state;
    struct notify_receiver a = receiver("ops", "s3cret"), b = receiver("team", "");
    b.format = NOTIFY_FORMAT_SLACK;
    assert_int_equal(db_notify_receiver_insert(e->db, &a), 0);
    assert_int_equal(db_notify_receiver_insert(e->db, &b), 0);
    struct notify_receiver again = receiver("ops", "");
    assert_int_equal(db_notify_receiver_insert(e->db, &again), -EEXIST);
    struct notify_receiver got;
    assert_int_equal(db_notify_receiver_get(e->db, a.id, &got), 0);
    assert_string_equal(got.secret, "s3cret");
    assert_true(got.has_secret && !got.disabled && got.format == NOTIFY_FORMAT_JSON);
    assert_int_equal(db_notify_receiver_get(e->db, b.id, &got), 0);
    assert_false(got.has_secret);
    assert_int_equal(got.format, NOTIFY_FORMAT_SLACK);
    assert_int_equal(db_notify_receiver_get(e->db, b.id + 10, &got), -ENOENT);
    db_env_assert_idle(e->db);
    assert_int_equal(db_notify_receiver_delete(e->db, b.id), 0);
    assert_int_equal(db_notify_receiver_delete(e->db, b.id), -ENOENT);
    db_env_assert_idle(e->db);
}

/* Each receiver's oldest pending delivery, only when due; the next one waits its turn. */
static void test_heads_in_order(void **state)
{
    struct db_env *e = *state;
    struct notify_receiver a = receiver("a", ""), b = receiver("b", "");
    assert_int_equal(db_notify_receiver_insert(e->db, &a), 0);
    assert_int_equal(db_notify_receiver_insert(e->db, &b), 0);
    struct notify_delivery d[] = {delivery(a.id, "a-1", 1000), delivery(a.id, "a-2", 1000),
                                  delivery(b.id, "b-1", 5000)};
    assert_int_equal(db_notify_deliveries_insert(e->db, d, 3), 0);
    assert_true(d[0].id > 0 && d[1].id > d[0].id);
    struct notify_delivery *due = NULL;
    size_t n = 0;
    int64_t next = -1;
    assert_int_equal(db_notify_deliveries_due(e->db, 2000, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "a-1");
    assert_string_equal(due[0].body, "{\"id\":1}");
    assert_int_equal(next, 5000); /* b's, not due yet */
    /* a-1 retried later: a-2 still waits behind it (in order). */
    due[0].attempts = 1;
    due[0].next_ms = 9000;
    strcpy(due[0].error, "HTTP 500");
    assert_int_equal(db_notify_delivery_update(e->db, &due[0]), 0);
    db_notify_deliveries_free(due, n);
    assert_int_equal(db_notify_deliveries_due(e->db, 6000, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "b-1");
    assert_int_equal(next, 9000);
    db_notify_deliveries_free(due, n);
    /* a-1 delivered: a-2 is next. */
    d[0].state = NOTIFY_DELIVERED;
    d[0].attempts = 2;
    d[0].status = 200;
    assert_int_equal(db_notify_delivery_update(e->db, &d[0]), 0);
    assert_int_equal(db_notify_deliveries_due(e->db, 2000, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "a-2");
    assert_int_equal(due[0].next_ms, 1000); /* as it was due, whatever a claim stored */
    /* Its attempt failed: retried at 3000 (the update ends a PostgreSQL claim). */
    due[0].attempts = 1;
    due[0].next_ms = 3000;
    assert_int_equal(db_notify_delivery_update(e->db, &due[0]), 0);
    db_notify_deliveries_free(due, n);
    db_env_assert_idle(e->db);

    /* The list: each receiver's newest delivery and its pending count. */
    struct notify_receiver_row *rows = NULL;
    assert_int_equal(db_notify_receiver_list(e->db, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_true(rows[0].has_last);
    assert_string_equal(rows[0].last.uuid, "a-2");
    assert_int_equal(rows[0].pending, 1);
    assert_int_equal(rows[1].pending, 1);
    free(rows);

    /* A 410: disabled, its pending deliveries failed, none of it due any more. */
    assert_int_equal(db_notify_receiver_disable(e->db, b.id, "gone", 7000), 0);
    assert_int_equal(db_notify_deliveries_due(e->db, 99999, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "a-2");
    db_notify_deliveries_free(due, n);
    struct notify_delivery *list = NULL;
    assert_int_equal(db_notify_delivery_list(e->db, b.id, 10, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].state, NOTIFY_FAILED);
    assert_string_equal(list[0].error, "gone");
    free(list);
    db_env_assert_idle(e->db);
}

static void test_prune_keeps_pending(void **state)
{
    struct db_env *e = *state;
    struct notify_receiver a = receiver("a", "");
    assert_int_equal(db_notify_receiver_insert(e->db, &a), 0);
    struct notify_delivery d[4];
    const char *uuids[] = {"p-1", "p-2", "p-3", "p-4"};
    for (int i = 0; i < 4; i++)
        d[i] = delivery(a.id, uuids[i], 1000);
    assert_int_equal(db_notify_deliveries_insert(e->db, d, 4), 0);
    for (int i = 0; i < 3; i++) { /* three finished, one pending */
        d[i].state = i == 1 ? NOTIFY_FAILED : NOTIFY_DELIVERED;
        d[i].updated_ms = 1000 + i;
        assert_int_equal(db_notify_delivery_update(e->db, &d[i]), 0);
    }
    assert_int_equal(db_notify_prune(e->db, 1001, 100), 0); /* older than 1001: p-1 */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM notify_deliveries"), 3);
    assert_int_equal(db_notify_prune(e->db, 0, 1), 0); /* at most one finished: p-3 stays */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM notify_deliveries"), 2);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM notify_deliveries WHERE state = 0"),
                     1);
    assert_int_equal(db_notify_prune(e->db, INT64_MAX, 0), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM notify_deliveries WHERE state = 0"),
                     1);
    /* Deleting the receiver deletes its deliveries. */
    assert_int_equal(db_notify_receiver_delete(e->db, a.id), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM notify_deliveries"), 0);
    db_env_assert_idle(e->db);
}

#ifdef DB_ENV_POSTGRESQL
/* How long db_pg_notify.c's claim lasts (DELIVERY_CLAIM_MS), as the tests observe it. */
#define CLAIM_MS (2 * 300000)

/* Another node: a second connection to the test's database. */
static struct db *second_node(const struct db_env *e)
{
    struct db *db = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &db), 0);
    return db;
}

/*
 * Two nodes in turns: a due delivery handed to node A is claimed, so node
 * B is not handed it (nor A again) until A's update, or until the claim
 * runs out (A died mid-attempt); B is then handed it, once.
 */
static void test_two_nodes_claim(void **state)
{
    struct db_env *e = *state;
    struct db *a = e->db, *b = second_node(e);
    struct notify_receiver r = receiver("ops", "");
    assert_int_equal(db_notify_receiver_insert(a, &r), 0);
    struct notify_delivery d[] = {delivery(r.id, "c-1", 1000), delivery(r.id, "c-2", 1000)};
    assert_int_equal(db_notify_deliveries_insert(b, d, 2), 0);

    struct notify_delivery *due = NULL;
    size_t n = 0;
    int64_t next = -1;
    assert_int_equal(db_notify_deliveries_due(a, 2000, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "c-1");
    assert_int_equal(next, 0);
    struct notify_delivery *again = NULL;
    size_t m = 0;
    assert_int_equal(db_notify_deliveries_due(b, 2000, 64, &again, &m, &next), 0);
    assert_int_equal(m, 0); /* claimed by A; c-2 waits behind it */
    assert_int_equal(next, 2000 + CLAIM_MS);
    db_notify_deliveries_free(again, m);
    assert_int_equal(db_notify_deliveries_due(a, 2001, 64, &again, &m, &next), 0);
    assert_int_equal(m, 0);
    db_notify_deliveries_free(again, m);

    /* A's attempt failed, retry at 3000: B is handed it then. */
    due[0].attempts = 1;
    due[0].next_ms = 3000;
    assert_int_equal(db_notify_delivery_update(a, &due[0]), 0);
    db_notify_deliveries_free(due, n);
    assert_int_equal(db_notify_deliveries_due(b, 2999, 64, &due, &n, &next), 0);
    assert_int_equal(n, 0);
    assert_int_equal(next, 3000);
    db_notify_deliveries_free(due, n);
    assert_int_equal(db_notify_deliveries_due(b, 3000, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "c-1");
    assert_int_equal(due[0].attempts, 1);
    db_notify_deliveries_free(due, n);

    /* B dies mid-attempt: its claim runs out and A is handed c-1 again, then delivers it. */
    assert_int_equal(db_notify_deliveries_due(a, 3000 + CLAIM_MS - 1, 64, &due, &n, &next), 0);
    assert_int_equal(n, 0);
    db_notify_deliveries_free(due, n);
    assert_int_equal(db_notify_deliveries_due(a, 3000 + CLAIM_MS, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "c-1");
    due[0].state = NOTIFY_DELIVERED;
    due[0].attempts = 2;
    assert_int_equal(db_notify_delivery_update(a, &due[0]), 0);
    db_notify_deliveries_free(due, n);
    assert_int_equal(db_notify_deliveries_due(b, 3000 + CLAIM_MS, 64, &due, &n, &next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].uuid, "c-2");
    db_notify_deliveries_free(due, n);
    db_env_assert_idle(a);
    db_env_assert_idle(b);
    db_close(b);
}

#define RACE_RECEIVERS 60
#define RACE_ROUNDS    3

/* One node's sender in test_two_nodes_at_once. */
struct racer {
    struct db *db;
    int64_t handed[RACE_RECEIVERS * RACE_ROUNDS]; /* the ids it was handed */
    size_t count;
    int errors;
};

/*
 * Asks for due deliveries (8 at a time, so that the two nodes' calls
 * interleave) and "delivers" each one it is handed a moment later, until a
 * call hands it nothing twice in a row.
 */
static void *racer_main(void *arg)
{
    struct racer *r = arg;
    int idle = 0;
    while (idle < 2 && r->errors == 0) {
        struct notify_delivery *due = NULL;
        size_t n = 0;
        int64_t next = 0;
        if (db_notify_deliveries_due(r->db, 5000, 8, &due, &n, &next) != 0) {
            r->errors++;
            break;
        }
        idle = n == 0 ? idle + 1 : 0;
        if (n > 0) { /* the attempts take a while: the other node asks meanwhile */
            struct timespec sending = {.tv_nsec = 2 * 1000 * 1000};
            nanosleep(&sending, NULL);
        }
        for (size_t i = 0; i < n; i++) {
            if (r->count == RACE_RECEIVERS * RACE_ROUNDS) {
                r->errors++; /* handed more than there are */
                break;
            }
            r->handed[r->count++] = due[i].id;
            due[i].state = NOTIFY_DELIVERED;
            due[i].attempts = 1;
            if (db_notify_delivery_update(r->db, &due[i]) != 0)
                r->errors++;
        }
        db_notify_deliveries_free(due, n);
    }
    return NULL;
}

/*
 * Two nodes' senders at once on RACE_RECEIVERS receivers with RACE_ROUNDS
 * due deliveries each: every delivery is handed out exactly once in all,
 * and each receiver's in order.
 */
static void test_two_nodes_at_once(void **state)
{
    struct db_env *e = *state;
    struct notify_delivery d[RACE_RECEIVERS * RACE_ROUNDS];
    for (int k = 0; k < RACE_RECEIVERS; k++) {
        char name[16];
        snprintf(name, sizeof(name), "r-%d", k);
        struct notify_receiver r = receiver(name, "");
        assert_int_equal(db_notify_receiver_insert(e->db, &r), 0);
        for (int round = 0; round < RACE_ROUNDS; round++) {
            char uuid[16];
            snprintf(uuid, sizeof(uuid), "u-%d-%d", k, round);
            d[round * RACE_RECEIVERS + k] = delivery(r.id, uuid, 1000 + k);
        }
    }
    assert_int_equal(db_notify_deliveries_insert(e->db, d, RACE_RECEIVERS * RACE_ROUNDS), 0);
    static struct racer r[2];
    memset(r, 0, sizeof(r));
    r[0].db = e->db;
    r[1].db = second_node(e);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(r[0].errors + r[1].errors, 0);
    assert_int_equal(r[0].count + r[1].count, RACE_RECEIVERS * RACE_ROUNDS);
    /* Exactly once: every id handed out is one of D's, and none twice. */
    static int times[RACE_RECEIVERS * RACE_ROUNDS];
    memset(times, 0, sizeof(times));
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < r[i].count; j++) {
            size_t k = 0;
            while (k < RACE_RECEIVERS * RACE_ROUNDS && d[k].id != r[i].handed[j])
                k++;
            assert_true(k < RACE_RECEIVERS * RACE_ROUNDS);
            times[k]++;
        }
    for (int k = 0; k < RACE_RECEIVERS * RACE_ROUNDS; k++)
        if (times[k] != 1)
            fail_msg("delivery %s handed out %d times", d[k].uuid, times[k]);
    /* In order per receiver: each node was handed a receiver's deliveries by rising id. */
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < r[i].count; j++)
            for (size_t k = j + 1; k < r[i].count; k++) {
                size_t x = 0, y = 0;
                while (d[x].id != r[i].handed[j])
                    x++;
                while (d[y].id != r[i].handed[k])
                    y++;
                if (d[x].receiver_id == d[y].receiver_id)
                    assert_true(d[x].id < d[y].id);
            }
    assert_int_equal(
        db_env_int(e->db,
                   "SELECT count(*) FROM notify_deliveries WHERE state = 1 AND attempts = 1"),
        RACE_RECEIVERS * RACE_ROUNDS);
    db_env_assert_idle(r[0].db);
    db_env_assert_idle(r[1].db);
    db_close(r[1].db);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receivers, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_heads_in_order, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_pending, db_env_setup, db_env_teardown),
#ifdef DB_ENV_POSTGRESQL
        cmocka_unit_test_setup_teardown(test_two_nodes_claim, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes_at_once, db_env_setup, db_env_teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
