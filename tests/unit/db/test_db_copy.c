/*
 * Unit tests for src/db/db_copy.c (`otad migrate`'s mechanics): COPY's
 * text-format escaping, field by field; the table list against both
 * schemas (every table is copied or deliberately skipped, and nothing is
 * listed that a schema lacks). Built for PostgreSQL (unit-pg), also the
 * copy itself: awkward text and NULLs arrive as they were, ids keep moving
 * after the copied ones, a second copy is refused, a database in use is
 * refused, and a damaged blob leaves PostgreSQL without a row.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/util.h"
#include "db/db_copy.h"
#include "env.h"

/* --- escaping --- */

static const struct {
    const char *in;
    size_t len;
    const char *out; /* NULL: refused with -EINVAL */
} text_cases[] = {
    {"", 0, ""},
    {"plain", 5, "plain"},
    {"a\tb", 3, "a\\tb"},
    {"line\nnext", 9, "line\\nnext"},
    {"cr\r", 3, "cr\\r"},
    {"back\\slash", 10, "back\\\\slash"},
    {"\\N", 2, "\\\\N"}, /* the text \N, not COPY's NULL */
    {"\\.", 2, "\\\\."}, /* not the end-of-data marker */
    {"\t\n\\", 3, "\\t\\n\\\\"},
    {"caf\xc3\xa9 \xe2\x9c\x93", 9, "caf\xc3\xa9 \xe2\x9c\x93"}, /* UTF-8 passes as it is */
    {"{\"k\": \"v\"}", 10, "{\"k\": \"v\"}"},
    {"nul\0inside", 10, NULL},
    {"\0", 1, NULL},
    {"stop here\0ignored", 9, "stop here"}, /* LEN bounds the field, not a NUL */
};

static void test_text_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(text_cases); i++) {
        struct buf b;
        buf_init(&b, 1024);
        assert_int_equal(buf_append_str(&b, "|"), 0); /* appends: what is there stays */
        int r = db_copy_text_field(&b, text_cases[i].in, text_cases[i].len);
        if (!text_cases[i].out) {
            assert_int_equal(r, -EINVAL);
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(b.len, 1 + strlen(text_cases[i].out));
            assert_memory_equal(b.data + 1, text_cases[i].out, b.len - 1);
        }
        buf_release(&b);
    }
}

static void test_bytea_field(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(db_copy_bytea_field(&b, (const uint8_t *)"", 0), 0);
    assert_string_equal((const char *)b.data, "\\\\x");
    buf_reset(&b);
    const uint8_t bytes[] = {0x00, 0xff, 0x0a, 0x5c, 0x09, 0x80};
    assert_int_equal(db_copy_bytea_field(&b, bytes, sizeof(bytes)), 0);
    assert_string_equal((const char *)b.data, "\\\\x00ff0a5c0980");
    buf_release(&b);
    /* A field past the buffer's ceiling fails, it is not cut. */
    buf_init(&b, 8);
    assert_int_not_equal(db_copy_bytea_field(&b, bytes, sizeof(bytes)), 0);
    buf_release(&b);
}

/* --- the table list --- */

static bool listed(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/*
 * Every one of a schema's NAMES (COUNT of them) is copied or skipped, and
 * every copied table is one of them (both schemas have all the copied ones).
 */
static void assert_covers(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!listed(names[i], db_copy_tables, db_copy_table_count) &&
            !listed(names[i], db_copy_skipped_tables, db_copy_skipped_table_count))
            fail_msg("table %s is neither copied nor skipped by db_copy.c", names[i]);
    for (size_t i = 0; i < db_copy_table_count; i++) {
        bool found = false;
        for (size_t j = 0; j < count; j++)
            found = found || strcmp(names[j], db_copy_tables[i]) == 0;
        if (!found)
            fail_msg("db_copy.c copies table %s, which the schema lacks", db_copy_tables[i]);
    }
    for (size_t i = 0; i < db_copy_table_count; i++)
        for (size_t j = i + 1; j < db_copy_table_count; j++)
            assert_string_not_equal(db_copy_tables[i], db_copy_tables[j]);
}

/* A SQLite database with this otad's schema at DIR/source.db, its path into PATH. */
static void make_source(const char *dir, char path[512])
{
    snprintf(path, 512, "%s/source.db", dir);
    struct db *db;
    assert_int_equal(db_open(path, DB_DURABLE, &db), 0);
    db_close(db);
}

static void test_tables_cover_sqlite_schema(void **state)
{
    struct db_env *e = *state;
    char path[512];
    make_source(e->dir, path);
    sqlite3 *conn;
    assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(conn,
                                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &s, NULL),
                     SQLITE_OK);
    char *names[128];
    size_t n = 0;
    while (sqlite3_step(s) == SQLITE_ROW && n < ARRAY_SIZE(names))
        names[n++] = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(conn);
    assert_true(n > 20);
    assert_covers(names, n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

#ifdef DB_ENV_POSTGRESQL

static void test_tables_cover_postgresql_schema(void **state)
{
    struct db_env *e = *state;
    struct db_pg *pg = db_pg_of(e->db);
    PGresult *res = PQexec(pg->conn, "SELECT table_name FROM information_schema.tables "
                                     "WHERE table_schema = current_schema() ORDER BY 1");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    char *names[128];
    size_t n = 0;
    for (int i = 0; i < PQntuples(res) && n < ARRAY_SIZE(names); i++)
        names[n++] = strdup(PQgetvalue(res, i, 0));
    PQclear(res);
    assert_true(n > 20);
    assert_covers(names, n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

/* --- the copy --- */

#define BLOB_BYTES 3000000 /* three chunks, the last one short */

/* The callbacks' context: blobs are files named by their SHA-256 in DIR; what was reported. */
struct blob_dir {
    char dir[64];
    unsigned opened;
    unsigned copied, verified, blob_lines;
    uint64_t blobs, bytes;
};

static int open_blob(void *ctx, const char *sha256, int *ret_fd, uint64_t *ret_size,
                     struct reason *why)
{
    struct blob_dir *b = ctx;
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", b->dir, sha256);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return reason_set(why, -errno, "no blob %s", sha256);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *ret_fd = fd;
    *ret_size = (uint64_t)st.st_size;
    b->opened++;
    return 0;
}

static void count_event(void *ctx, const struct db_copy_event *ev)
{
    struct blob_dir *b = ctx;
    switch (ev->stage) {
    case DB_COPY_TABLE_COPIED:
        assert_string_equal(ev->table, db_copy_tables[b->copied]); /* in the list's order */
        b->copied++;
        break;
    case DB_COPY_TABLE_VERIFIED:
        assert_int_equal(b->copied, db_copy_table_count); /* checks come after the whole copy */
        b->verified++;
        break;
    case DB_COPY_BLOBS_VERIFIED:
        b->blob_lines++;
        b->blobs = ev->blobs;
        b->bytes = ev->bytes;
        break;
    }
}

/* The fixture's source: a product, a release whose blob is in E's folder, tokens, awkward text. */
static void populate(struct db_env *e, const char *path, uint8_t *blob, char sha[65])
{
    for (size_t i = 0; i < BLOB_BYTES; i++)
        blob[i] = (uint8_t)(i * 7 + i / 1000);
    digest_sha256_hex(blob, BLOB_BYTES, sha);
    char file[256];
    snprintf(file, sizeof(file), "%s/%s", e->dir, sha);
    FILE *f = fopen(file, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(blob, 1, BLOB_BYTES, f), BLOB_BYTES);
    fclose(f);

    struct db *src;
    assert_int_equal(db_open(path, DB_DURABLE, &src), 0);
    struct product p = db_env_product(src, "door");
    struct release r = db_env_release(p.id, "1.0.0");
    memcpy(r.sha256, sha, 65);
    memcpy(r.variants[0].sha256, sha, 65);
    r.size = r.variants[0].size = BLOB_BYTES;
    char notes[] = "tab\there\nnew line \\N back\\slash caf\xc3\xa9";
    r.notes = notes; /* borrowed: db_release_insert copies it */
    const char *digests[] = {"0123456789abcdef0123456789abcdef"};
    assert_int_equal(db_release_insert(src, &r, digests, 1), 0);
    int64_t id;
    for (int i = 0; i < 3; i++) {
        char hash[65];
        snprintf(hash, sizeof(hash), "%064d", i);
        assert_int_equal(db_token_insert(src, "ci", TOKEN_SCOPE_PUBLISH, hash, &id), 0);
    }
    db_close(src);
    /* An AUTOINCREMENT counter past the largest id (newest audit rows deleted). */
    sqlite3 *conn;
    assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(conn,
                     "INSERT INTO audit (id, at_ms, via, token_id, actor, address, action, "
                     "product, object, params, ok, status, error, reason) VALUES "
                     "(40, 1, 'cli', 0, 'root', 'local', 'product.add', 'door', '', NULL, 1, 0, "
                     "'', ''), (41, 2, 'cli', 0, 'root', 'local', 'x', '', '', NULL, 1, 0, '', '');"
                     "DELETE FROM audit WHERE id = 41;"
                     "UPDATE meta SET value = 77 WHERE key = 'catalog_generation';",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(conn);
}

/* One text value from SQL on E's PostgreSQL connection into OUT ("<null>" when NULL). */
static void pg_text(struct db_env *e, const char *sql, char *out, size_t size)
{
    struct db_pg *pg = db_pg_of(e->db);
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    snprintf(out, size, "%s", PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void test_copy_round_trip(void **state)
{
    struct db_env *e = *state;
    char path[512], sha[65];
    snprintf(path, sizeof(path), "%s/source.db", e->dir);
    uint8_t *blob = malloc(BLOB_BYTES);
    assert_non_null(blob);
    populate(e, path, blob, sha);
    struct blob_dir b = {.opened = 0};
    snprintf(b.dir, sizeof(b.dir), "%s", e->dir);
    struct reason why = {""};
    int r = db_copy_sqlite_to_pg(path, e->path, open_blob, count_event, &b, &why);
    if (r != 0)
        fail_msg("copy: %d %s", r, why.text);
    assert_int_equal(b.opened, 1);
    assert_int_equal(b.copied, db_copy_table_count);
    assert_int_equal(b.verified, db_copy_table_count);
    assert_int_equal(b.blob_lines, 1);
    assert_int_equal(b.blobs, 1);
    assert_int_equal(b.bytes, BLOB_BYTES);

    char text[512], want[512];
    pg_text(e, "SELECT notes FROM releases", text, sizeof(text));
    snprintf(want, sizeof(want), "tab\there\nnew line \\N back\\slash caf\xc3\xa9");
    assert_string_equal(text, want);
    pg_text(e, "SELECT signed_by FROM releases", text, sizeof(text));
    assert_string_equal(text, "<null>"); /* a NULL stays NULL, not "" */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM tokens"), 3);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM installed_digests"), 1);
    assert_int_equal(db_env_int(e->db, "SELECT value FROM meta WHERE key = 'catalog_generation'"),
                     77);
    assert_int_equal(db_env_int(e->db, "SELECT chunks FROM blobs"), 3);
    uint8_t *back = NULL;
    size_t len = 0;
    assert_int_equal(db_blob_get(e->db, sha, BLOB_BYTES, &back, &len), 0);
    assert_int_equal(len, BLOB_BYTES);
    assert_memory_equal(back, blob, BLOB_BYTES);
    free(back);
    /* Ids go on after the copied ones; audit's after SQLite's counter (41), not its max (40). */
    assert_int_equal(db_env_int(e->db, "SELECT nextval(pg_get_serial_sequence('tokens', 'id'))"),
                     4);
    assert_int_equal(db_env_int(e->db, "SELECT nextval(pg_get_serial_sequence('audit', 'id'))"),
                     42);
    assert_int_equal(db_env_int(e->db, "SELECT nextval(pg_get_serial_sequence('products', 'id'))"),
                     2);

    /* Again: refused, nothing added. */
    why.text[0] = 0;
    assert_int_equal(db_copy_sqlite_to_pg(path, e->path, open_blob, NULL, &b, &why), -ENOTEMPTY);
    assert_non_null(strstr(why.text, "not empty"));
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM tokens"), 3);
    free(blob);
}

static void test_copy_refuses_a_database_in_use(void **state)
{
    struct db_env *e = *state;
    char path[512];
    make_source(e->dir, path);
    struct db *open_one;
    assert_int_equal(db_open(path, DB_DURABLE, &open_one), 0);
    struct product p =
        db_env_product(open_one, "door"); /* a connection that has read and written */
    (void)p;
    struct blob_dir b = {.opened = 0};
    snprintf(b.dir, sizeof(b.dir), "%s", e->dir);
    struct reason why = {""};
    assert_int_equal(db_copy_sqlite_to_pg(path, e->path, open_blob, NULL, &b, &why), -EBUSY);
    assert_non_null(strstr(why.text, "in use"));
    db_close(open_one);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM products"), 0);
}

static void test_copy_of_a_damaged_blob_commits_nothing(void **state)
{
    struct db_env *e = *state;
    char path[512], sha[65];
    snprintf(path, sizeof(path), "%s/source.db", e->dir);
    uint8_t *blob = malloc(BLOB_BYTES);
    assert_non_null(blob);
    populate(e, path, blob, sha);
    char file[256];
    snprintf(file, sizeof(file), "%s/%s", e->dir, sha);
    int fd = open(file, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t flipped = blob[BLOB_BYTES - 1] ^ 0x01;
    assert_int_equal(pwrite(fd, &flipped, 1, BLOB_BYTES - 1), 1);
    close(fd);
    struct blob_dir b = {.opened = 0};
    snprintf(b.dir, sizeof(b.dir), "%s", e->dir);
    struct reason why = {""};
    assert_int_equal(db_copy_sqlite_to_pg(path, e->path, open_blob, NULL, &b, &why), -EBADMSG);
    assert_non_null(strstr(why.text, sha));
    static const char *const counts[] = {
        "SELECT count(*) FROM products", "SELECT count(*) FROM releases",
        "SELECT count(*) FROM tokens",   "SELECT count(*) FROM blobs",
        "SELECT count(*) FROM audit",
    };
    for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
        assert_int_equal(db_env_int(e->db, counts[i]), 0);
    db_env_assert_idle(e->db);
    free(blob);
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_field),
        cmocka_unit_test(test_bytea_field),
        cmocka_unit_test_setup_teardown(test_tables_cover_sqlite_schema, db_env_setup,
                                        db_env_teardown),
#ifdef DB_ENV_POSTGRESQL
        cmocka_unit_test_setup_teardown(test_tables_cover_postgresql_schema, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_copy_round_trip, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_copy_refuses_a_database_in_use, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_copy_of_a_damaged_blob_commits_nothing, db_env_setup,
                                        db_env_teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
