/*
 * Unit tests for src/db/db_sqlite_notify.c and db_pg_notify.c (the same
 * file runs on both backends, env.h): receivers (names unique, the secret
 * stored and read back), deliveries stored per receiver and read as each
 * enabled receiver's oldest pending one (the order a receiver's deliveries
 * go out in), a 410's disabling, the list with the last delivery, and
 * pruning that never touches a pending delivery. No call leaves a
 * statement or a transaction open. (On several nodes only the leader
 * sends: notify.c; nothing here is claimed.)
 */
#include <errno.h>

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
    assert_int_equal(due[0].next_ms, 1000); /* as it was due */
    /* Its attempt failed: retried at 3000. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receivers, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_heads_in_order, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_pending, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
