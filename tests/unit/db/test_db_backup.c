/*
 * Unit tests for src/db/db_backup.c on SQLite: the online backup is one
 * snapshot while another connection keeps committing (every transaction of
 * the writer below keeps an invariant a torn copy would break), it never
 * overwrites and needs a source; the exclusive hold is refused while any
 * connection has the file open and, while held, keeps every other one out;
 * the quick and the full integrity check pass on a sound database.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "db/db_backup.h"
#include "env.h"

/* Rows of padding, 1000 bytes each: with 1 KiB pages, a database of many backup steps. */
#define PAD_ROWS 3000

struct writer {
    const char *path;
    atomic_bool stop;
    atomic_long commits;
};

/* Commits pairs (n, -n) until told to stop: every snapshot sums to 0 and counts an even number. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    sqlite3 *conn;
    assert_int_equal(sqlite3_open(w->path, &conn), SQLITE_OK);
    sqlite3_busy_timeout(conn, 10000);
    for (long n = 1; !atomic_load(&w->stop); n++) {
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "BEGIN IMMEDIATE; INSERT INTO pairs VALUES (%ld); INSERT INTO pairs VALUES (%ld); "
                 "COMMIT;",
                 n, -n);
        if (sqlite3_exec(conn, sql, NULL, NULL, NULL) == SQLITE_OK)
            atomic_fetch_add(&w->commits, 1);
    }
    sqlite3_close(conn);
    return NULL;
}

static int64_t copy_int(const char *path, const char *sql)
{
    sqlite3 *conn;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(conn);
    return v;
}

static void test_backup_is_one_snapshot_while_another_connection_writes(void **state)
{
    struct db_env *e = *state;
    db_env_product(e->db, "door");
    db_env_exec(e->db, "CREATE TABLE pad (b BLOB); CREATE TABLE pairs (x INTEGER);");
    char sql[128];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
             "INSERT INTO pad SELECT randomblob(1000) FROM n",
             PAD_ROWS);
    db_env_exec(e->db, sql);

    struct writer w = {.path = e->path};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    while (atomic_load(&w.commits) < 20)
        usleep(1000);

    char dest[600];
    snprintf(dest, sizeof(dest), "%s/copy.db", e->dir);
    uint64_t bytes = 0;
    struct reason why = {""};
    long before = atomic_load(&w.commits);
    int r = db_sqlite_backup(e->path, dest, &bytes, &why);
    long after = atomic_load(&w.commits);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    if (r != 0)
        fail_msg("backup: %d %s", r, why.text);
    assert_true(bytes >= (uint64_t)PAD_ROWS * 1000);
    assert_true(after >= before);

    /* Whole, sound, and of one moment: pairs complete, the padding all there. */
    char wal[620];
    snprintf(wal, sizeof(wal), "%s-wal", dest);
    assert_int_equal(access(wal, F_OK), -1);
    assert_int_equal(copy_int(dest, "SELECT count(*) FROM pad"), PAD_ROWS);
    assert_int_equal(copy_int(dest, "SELECT coalesce(sum(x), 0) FROM pairs"), 0);
    assert_int_equal(copy_int(dest, "SELECT count(*) % 2 FROM pairs"), 0);
    assert_true(copy_int(dest, "SELECT count(*) FROM pairs") >= 2 * 20);
    assert_int_equal(copy_int(dest, "SELECT count(*) FROM products WHERE name = 'door'"), 1);

    struct db *copy;
    assert_int_equal(db_open(dest, DB_DURABLE, &copy), 0);
    assert_int_equal(db_integrity_check(copy, false, &why), 0);
    assert_int_equal(db_integrity_check(copy, true, &why), 0);
    db_close(copy);

    /* Never over a file that exists; never from one that does not. */
    assert_int_equal(db_sqlite_backup(e->path, dest, &bytes, &why), -EEXIST);
    char none[600], other[600];
    snprintf(none, sizeof(none), "%s/none.db", e->dir);
    snprintf(other, sizeof(other), "%s/other.db", e->dir);
    assert_int_equal(db_sqlite_backup(none, other, &bytes, &why), -ENOENT);
    assert_int_equal(access(none, F_OK), -1); /* and it was not created */
    assert_int_equal(access(other, F_OK), -1);
}

static void test_hold_refused_while_open_and_keeps_others_out(void **state)
{
    struct db_env *e = *state;
    struct db_sqlite_hold *hold = NULL;
    struct reason why = {""};
    /* E->db, a connection like a running otad's, is open. */
    assert_int_equal(db_sqlite_hold_exclusive(e->path, &hold, &why), -EBUSY);
    assert_null(hold);
    db_close(e->db);
    e->db = NULL;
    assert_int_equal(db_sqlite_hold_exclusive(e->path, &hold, &why), 0);
    assert_non_null(hold);

    /* While held, another connection cannot read. */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(e->path, &other), SQLITE_OK);
    int rc = sqlite3_exec(other, "SELECT count(*) FROM products", NULL, NULL, NULL);
    assert_true(rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    db_sqlite_hold_release(hold);
    assert_int_equal(sqlite3_exec(other, "SELECT count(*) FROM products", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
    db_sqlite_hold_release(NULL);

    char none[600];
    snprintf(none, sizeof(none), "%s/none.db", e->dir);
    assert_int_equal(db_sqlite_hold_exclusive(none, &hold, &why), -ENOENT);
    assert_int_equal(access(none, F_OK), -1);
    assert_int_equal(db_open(e->path, DB_DURABLE, &e->db), 0); /* for the teardown */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_is_one_snapshot_while_another_connection_writes,
                                        db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_hold_refused_while_open_and_keeps_others_out,
                                        db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
