/*
 * Unit tests for src/db/db_sqlite_releases.c: a release stored whole with
 * its variants and digests, numbered in its product's order, read back by
 * version and mode and listed newest first; adding variants to it is
 * idempotent per kind, and a refused call leaves nothing behind; two
 * nodes publishing to one product at once get distinct numbers in order;
 * the prune of unused blobs (PostgreSQL) spares what a release or a publish
 * in flight needs; a release's app descriptor round-trips.
 */
#include <errno.h>

#include "env.h"
#include "../support/app_desc_assert.h"

/* A variant of KIND whose digests are made of C. */
static struct variant variant_of(enum variant_kind kind, char c, uint64_t size)
{
    struct variant v = {.kind = kind, .size = size};
    memset(v.sha256, c, SHA256_HEX_LEN);
    memset(v.md5, c, MD5_HEX_LEN);
    return v;
}

/* The release VERSION of PRODUCT_ID (sketch), read back. */
static struct release get(struct db *db, int64_t product_id, const char *version)
{
    struct release r;
    assert_int_equal(db_release_get(db, product_id, FW_MODE_SKETCH, version, &r), 0);
    return r;
}

static void test_release_insert_get(void **state)
{
    struct db_env *e = *state;
    struct product door = db_env_product(e->db, "door");
    struct product gate = db_env_product(e->db, "gate");
    static const struct {
        int product; /* 0 door, 1 gate, 2 none */
        const char *version;
        enum fw_mode mode;
        int expected;
        int64_t seq; /* the product's count of releases, when stored */
    } inserts[] = {
        {0, "1.0.0", FW_MODE_SKETCH, 0, 1},       {0, "1.1.0", FW_MODE_SKETCH, 0, 2},
        {0, "1.0.0", FW_MODE_FS, 0, 3},           {1, "1.0.0", FW_MODE_SKETCH, 0, 1},
        {0, "1.1.0", FW_MODE_SKETCH, -EEXIST, 0}, {2, "1.0.0", FW_MODE_SKETCH, -ENOENT, 0},
        {0, "2.0.0", FW_MODE_SKETCH, 0, 4},
    };
    const int64_t ids[] = {door.id, gate.id, gate.id + 100};
    const char *digests[] = {"d1", "d2"};
    for (size_t i = 0; i < sizeof(inserts) / sizeof(inserts[0]); i++) {
        int64_t g = db_env_generation(e->db);
        struct release r = db_env_release(ids[inserts[i].product], inserts[i].version);
        r.mode = inserts[i].mode;
        r.notes = (char *)"notes";
        assert_int_equal(db_release_insert(e->db, &r, digests, 2), inserts[i].expected);
        assert_int_equal(db_env_generation(e->db), g + (inserts[i].expected == 0));
        if (inserts[i].expected == 0)
            assert_int_equal(r.seq, inserts[i].seq);
    }
    /* A refused insert leaves no row: 5 releases, each with its one variant and two digests. */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM releases"), 5);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM variants"), 5);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM installed_digests"), 10);

    static const struct {
        const char *version;
        enum fw_mode mode;
        int expected;
    } gets[] = {
        {"1.0.0", FW_MODE_SKETCH, 0},     {"1.0.0", FW_MODE_FS, 0},
        {"1.1.0", FW_MODE_FS, -ENOENT},   {"2.0.0", FW_MODE_SKETCH, 0},
        {"2.0", FW_MODE_SKETCH, -ENOENT}, {"", FW_MODE_SKETCH, -ENOENT},
    };
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        struct release r;
        assert_int_equal(db_release_get(e->db, door.id, gets[i].mode, gets[i].version, &r),
                         gets[i].expected);
        if (gets[i].expected == 0) {
            assert_string_equal(r.version, gets[i].version);
            assert_int_equal(r.mode, gets[i].mode);
            assert_string_equal(r.notes, "notes");
            assert_int_equal(r.variant_count, 1);
            assert_int_equal(r.variants[0].kind, VARIANT_PLAIN);
            free(r.notes);
        }
    }
    struct release *list = NULL;
    size_t n = 0;
    assert_int_equal(db_release_list(e->db, door.id, &list, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].seq, (int64_t)(n - i)); /* newest first */
    release_list_free(list, n);

    struct release_digest *d = NULL;
    assert_int_equal(db_digest_list(e->db, gate.id, &d, &n), 0);
    assert_int_equal(n, 2);
    struct release g1 = get(e->db, gate.id, "1.0.0");
    free(g1.notes);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(d[i].release_id, g1.id);
    free(d);
    db_env_assert_idle(e->db);
}

/*
 * Adding variants is idempotent per kind: a kind the release has keeps its
 * first variant, a new one is added; signed_by is replaced each time, and
 * each call that succeeds moves the generation.
 */
/* A release's app descriptor is written and read back whole; one without reads as absent. */
static void test_release_app_desc(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct release r = db_env_release(p.id, "2.1.0");
    r.app = (struct app_desc){.present = true,
                              .framework = false,
                              .project = "door-controller",
                              .version = "2.1.0",
                              .idf_version = "v5.2.1",
                              .build_date = "Mar  4 2026",
                              .build_time = "12:34:56",
                              .secure_version = 32,
                              .chip_id = 9,
                              .min_chip_rev = 101,
                              .max_chip_rev = 399};
    memset(r.app.elf_sha256, 'f', SHA256_HEX_LEN);
    struct release want = r;
    assert_int_equal(db_release_insert(e->db, &r, NULL, 0), 0);
    struct release got = get(e->db, p.id, "2.1.0");
    assert_app_equal(&got.app, &want.app);
    free(got.notes);

    struct release fw = db_env_release(p.id, "1.0.0");
    fw.app = (struct app_desc){.present = true,
                               .framework = true,
                               .project = "arduino-lib-builder",
                               .version = "esp-idf: v4.4.6 3572900934"};
    assert_int_equal(db_release_insert(e->db, &fw, NULL, 0), 0);
    struct release none = db_env_release(p.id, "0.9.0");
    assert_int_equal(db_release_insert(e->db, &none, NULL, 0), 0);

    struct release *list;
    size_t n;
    assert_int_equal(db_release_list(e->db, p.id, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].version, "0.9.0");
    assert_app_equal(&list[0].app, &(struct app_desc){.present = false});
    assert_true(list[1].app.framework);
    assert_string_equal(list[1].app.version, "esp-idf: v4.4.6 3572900934");
    assert_app_equal(&list[2].app, &want.app);
    release_list_free(list, n);
    db_env_assert_idle(e->db);
}

static void test_release_add_variants(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct release r = db_env_release(p.id, "1.0.0");
    assert_int_equal(db_release_insert(e->db, &r, NULL, 0), 0);

    const struct {
        struct variant add[3];
        unsigned count;
        const char *signed_by; /* as given, and as read back */
        const char *kinds;     /* the release's variants after the call: kind and digest char */
    } steps[] = {
        {{{0}}, 0, "fp1", "0a"},
        {{variant_of(VARIANT_GZIP, 'b', 900)}, 1, "fp1", "0a1b"},
        {{variant_of(VARIANT_GZIP, 'c', 901)}, 1, "fp2", "0a1b"}, /* GZIP kept as it was */
        {{variant_of(VARIANT_PLAIN, 'd', 5), variant_of(VARIANT_SIGNED, 'e', 1200)},
         2,
         "",
         "0a1b2e"},
        {{variant_of(VARIANT_SIGNED_GZIP, 'f', 1000), variant_of(VARIANT_SIGNED_GZIP, 'g', 1),
          variant_of(VARIANT_SIGNED_ESP32, 'h', 1300)},
         3,
         "fp3",
         "0a1b2e4f5h"},
        {{variant_of(VARIANT_SIGNED_ESP32, 'i', 1)}, 1, "fp3", "0a1b2e4f5h"},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int64_t g = db_env_generation(e->db);
        assert_int_equal(
            db_release_add_variants(e->db, r.id, steps[i].add, steps[i].count, steps[i].signed_by),
            0);
        assert_int_equal(db_env_generation(e->db), g + 1);
        struct release got = get(e->db, p.id, "1.0.0");
        free(got.notes);
        char kinds[2 * VARIANT_KIND_COUNT + 1] = {0};
        for (unsigned k = 0; k < got.variant_count; k++) {
            kinds[2 * k] = (char)('0' + got.variants[k].kind);
            kinds[2 * k + 1] = got.variants[k].sha256[0];
            /* the first plain variant is db_env_release's, its md5 "0123..." */
            assert_int_equal(got.variants[k].md5[0],
                             got.variants[k].kind == VARIANT_PLAIN ? '0' : kinds[2 * k + 1]);
        }
        if (strcmp(kinds, steps[i].kinds) != 0)
            fail_msg("step %zu: variants %s, expected %s", i, kinds, steps[i].kinds);
        assert_string_equal(got.signed_by, steps[i].signed_by);
    }
    struct release got = get(e->db, p.id, "1.0.0");
    free(got.notes);
    assert_int_equal(got.variants[1].size, 900); /* the first GZIP's size, not 901 */

    /* No such release: -ENOENT, nothing written, the generation stays. */
    int64_t g = db_env_generation(e->db);
    struct variant v = variant_of(VARIANT_SIGNED_LEGACY, 'z', 1);
    assert_int_equal(db_release_add_variants(e->db, r.id + 1, &v, 1, "fp9"), -ENOENT);
    assert_int_equal(db_env_generation(e->db), g);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM variants"), 5);
    db_env_assert_idle(e->db);
}

#define NODE_RELEASES 25

/* What each node of test_two_nodes_publish saw. */
struct publish {
    int64_t product_id, other_id;
    int stored[2], taken[2], failed[2]; /* door's inserts: 0, -EEXIST, anything else */
    int other_stored[2];                /* gate's inserts that returned 0 */
    int64_t seq_sum[2];                 /* of the door releases it stored */
};

/* Inserts release VERSION of the test's product, counting what came back for NODE. */
static void publish_one(struct db *db, struct publish *t, int node, const char *version)
{
    struct release r = db_env_release(t->product_id, version);
    const char *digests[] = {version};
    int err = db_release_insert(db, &r, digests, 1);
    if (err == 0)
        t->seq_sum[node] += r.seq;
    t->stored[node] += err == 0;
    t->taken[node] += err == -EEXIST;
    t->failed[node] += err != 0 && err != -EEXIST;
}

static void node_publish(struct db *db, int node, void *ctx)
{
    struct publish *t = ctx;
    for (int i = 0; i < NODE_RELEASES; i++) {
        char version[32];
        snprintf(version, sizeof(version), "%d.%d.0", node + 1, i);
        publish_one(db, t, node, version);
        /* A release of another product meanwhile (same version, the node's own mode). */
        struct release other = db_env_release(t->other_id, version);
        other.mode = node == 0 ? FW_MODE_SKETCH : FW_MODE_FS;
        t->other_stored[node] += db_release_insert(db, &other, NULL, 0) == 0;
        /* Both nodes publish the same version now and then: one of them stores it. */
        if (i % 5 == 0) {
            snprintf(version, sizeof(version), "9.%d.0", i);
            publish_one(db, t, node, version);
        }
    }
}

/*
 * The multi-node case: two connections publish to one product at once.
 * Every release gets its own sequence number, they run 1..N without a gap
 * (a refused publish gives its number back), the list is in that order,
 * and the generation moved once per stored release.
 */
static void test_two_nodes_publish(void **state)
{
    struct db_env *e = *state;
    struct publish t = {0};
    t.product_id = db_env_product(e->db, "door").id;
    t.other_id = db_env_product(e->db, "gate").id;
    int64_t g = db_env_generation(e->db);
    db_env_two_nodes(e, node_publish, &t);
    const int shared = (NODE_RELEASES + 4) / 5;
    assert_int_equal(t.failed[0] + t.failed[1], 0);
    assert_int_equal(t.taken[0] + t.taken[1], shared);
    int64_t n_door = 2 * NODE_RELEASES + shared;
    assert_int_equal(t.stored[0] + t.stored[1], n_door);
    assert_int_equal(t.other_stored[0] + t.other_stored[1], 2 * NODE_RELEASES);
    assert_int_equal(db_env_generation(e->db), g + n_door + 2 * NODE_RELEASES);
    assert_int_equal(t.seq_sum[0] + t.seq_sum[1], n_door * (n_door + 1) / 2);

    struct release *list = NULL;
    size_t n = 0;
    assert_int_equal(db_release_list(e->db, t.product_id, &list, &n), 0);
    assert_int_equal(n, (size_t)n_door);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i].seq, (int64_t)(n - i)); /* distinct, no gap, newest first */
        assert_int_equal(list[i].variant_count, 1);
    }
    release_list_free(list, n);
    assert_int_equal(db_release_list(e->db, t.other_id, &list, &n), 0);
    assert_int_equal(n, 2 * NODE_RELEASES);
    release_list_free(list, n);
    assert_int_equal(db_env_int(e->db, "SELECT next_seq FROM products WHERE name = 'door'"),
                     n_door + 1);
    struct release_digest *d = NULL;
    assert_int_equal(db_digest_list(e->db, t.product_id, &d, &n), 0);
    assert_int_equal(n, (size_t)n_door); /* one digest each */
    free(d);
    db_env_assert_idle(e->db);
}

#ifdef DB_ENV_POSTGRESQL
/* Blob of the name made of C, LEN bytes of C, stored in the database. */
static void blob_put_of(struct db *db, char c, size_t len)
{
    char sha[SHA256_HEX_LEN + 1];
    memset(sha, c, SHA256_HEX_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    uint8_t *data = malloc(len);
    assert_non_null(data);
    memset(data, c, len);
    assert_int_equal(db_blob_put(db, sha, data, len), 0);
    free(data);
}

/* Whether the blob named by C's is in the database (read whole), 0 or -ENOENT. */
static int blob_get_of(struct db *db, char c)
{
    char sha[SHA256_HEX_LEN + 1];
    memset(sha, c, SHA256_HEX_LEN);
    sha[SHA256_HEX_LEN] = '\0';
    uint8_t *data = NULL;
    size_t len = 0;
    int r = db_blob_get(db, sha, 4u << 20, &data, &len);
    free(data);
    return r;
}
#endif

/*
 * The prune deletes the blobs no release names that are older than its
 * cutoff, chunks and all; it spares a named one, a young one, and an old
 * one that db_blob_put stored again meanwhile (a publish about to name it).
 * SQLite keeps no blobs and says so.
 */
static void test_blob_prune(void **state)
{
    struct db_env *e = *state;
    size_t deleted = 99;
#ifndef DB_ENV_POSTGRESQL
    assert_int_equal(db_blob_prune(e->db, INT64_MAX, &deleted), -EOPNOTSUPP);
    assert_int_equal(db_blob_put(e->db, "0", (const uint8_t *)"x", 1), -EOPNOTSUPP);
#else
    struct product p = db_env_product(e->db, "door");
    struct release named = db_env_release(p.id, "1.0.0"); /* its variant is blob 'a' */
    blob_put_of(e->db, 'a', 1000);
    assert_int_equal(db_release_insert(e->db, &named, NULL, 0), 0);
    blob_put_of(e->db, 'b', (3u << 20) / 2); /* unused, two chunks */
    blob_put_of(e->db, 'c', 10);             /* unused, young */
    blob_put_of(e->db, 'd', 10);             /* unused, old, stored again below */
    db_env_exec(e->db, "UPDATE blobs SET created_ms = created_ms - 7200000 "
                       "WHERE sha256 NOT LIKE 'c%'");
    blob_put_of(e->db, 'd', 10);
    int64_t cutoff =
        db_env_int(e->db, "SELECT min(created_ms) FROM blobs WHERE sha256 LIKE 'c%'") - 3600000;

    assert_int_equal(db_blob_prune(e->db, cutoff, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(blob_get_of(e->db, 'b'), -ENOENT);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM blob_chunks WHERE sha256 LIKE 'b%'"),
                     0);
    assert_int_equal(blob_get_of(e->db, 'a'), 0);
    assert_int_equal(blob_get_of(e->db, 'c'), 0);
    assert_int_equal(blob_get_of(e->db, 'd'), 0);
    assert_int_equal(db_blob_prune(e->db, cutoff, &deleted), 0);
    assert_int_equal(deleted, 0);

    /* Past every unused one's age: only the named one stays. */
    assert_int_equal(db_blob_prune(e->db, INT64_MAX, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(blob_get_of(e->db, 'a'), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM blobs"), 1);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM blob_chunks"), 1);
#endif
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_insert_get, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_release_app_desc, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_release_add_variants, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes_publish, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_blob_prune, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
