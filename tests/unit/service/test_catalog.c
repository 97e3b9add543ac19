/*
 * Unit tests for src/service/catalog.c: a catalog built from a real SQLite
 * database (products, releases, digests), the target of each channel and
 * mode, release order (semver, else publish sequence), the lookups a
 * check-in makes, and the reference counting that lets a replaced catalog
 * live until its last reader lets go.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "db/db.h"
#include "service/catalog.h"

struct env {
    char dir[64];
    struct db *db;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(fixture_tmpdir(e->dir), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", e->dir, DB_FILE_NAME);
    assert_int_equal(db_open(path, DB_DURABLE, &e->db), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    db_close(e->db);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static int64_t add_product(struct db *db, const char *name)
{
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, name);
    strcpy(p.default_channel, "stable");
    assert_int_equal(db_product_insert(db, &p), 0);
    return p.id;
}

/* A release whose image MD5 is DIGEST repeated (one hex digit), also its installed digest. */
static void add_release(struct db *db, int64_t product_id, const char *version, const char *channel,
                        enum fw_mode mode, char digest)
{
    struct release r;
    memset(&r, 0, sizeof(r));
    r.product_id = product_id;
    strcpy(r.version, version);
    strcpy(r.channel, channel);
    r.mode = mode;
    strcpy(r.source, "cli");
    memset(r.md5, digest, MD5_HEX_LEN);
    memset(r.sha256, digest, SHA256_HEX_LEN);
    r.size = 4096;
    r.variants[0] = (struct variant){.kind = VARIANT_PLAIN, .size = 4096};
    memcpy(r.variants[0].md5, r.md5, sizeof(r.md5));
    memcpy(r.variants[0].sha256, r.sha256, sizeof(r.sha256));
    r.variant_count = 1;
    const char *digests[1] = {r.md5};
    assert_int_equal(db_release_insert(db, &r, digests, 1), 0);
}

static struct catalog *build(struct db *db)
{
    int64_t gen;
    assert_int_equal(db_generation(db, &gen), 0);
    struct catalog *c = NULL;
    assert_int_equal(catalog_build(db, gen, &c), 0);
    assert_int_equal(c->generation, gen);
    return c;
}

static void test_targets_and_order(void **state)
{
    struct env *e = *state;
    int64_t door = add_product(e->db, "door");
    add_product(e->db, "attic"); /* no releases */
    add_release(e->db, door, "1.2.0", "stable", FW_MODE_SKETCH, 'a');
    add_release(e->db, door, "1.10.0", "stable", FW_MODE_SKETCH, 'b'); /* semver above 1.2.0 */
    add_release(e->db, door, "1.3.0", "stable", FW_MODE_SKETCH, 'c');  /* published later, lower */
    add_release(e->db, door, "2.0.0-rc.1", "beta", FW_MODE_SKETCH, 'd');
    add_release(e->db, door, "fs-1", "stable", FW_MODE_FS, 'e');
    add_release(e->db, door, "fs-0", "stable", FW_MODE_FS, 'f'); /* not semver: by sequence */
    struct catalog *c = build(e->db);
    assert_int_equal(c->product_count, 2);
    /* Products sorted by name for bsearch; each has its issue bits. */
    assert_string_equal(c->products[0].product.name, "attic");
    const struct catalog_product *p = catalog_product(c, "door");
    assert_non_null(p);
    assert_non_null(p->issues_logged);
    assert_null(catalog_product(c, "nope"));
    assert_null(catalog_target(catalog_product(c, "attic"), "stable", FW_MODE_SKETCH));

    assert_int_equal(p->release_count, 6);
    assert_string_equal(catalog_target(p, "stable", FW_MODE_SKETCH)->release.version, "1.10.0");
    assert_string_equal(catalog_target(p, "beta", FW_MODE_SKETCH)->release.version, "2.0.0-rc.1");
    assert_string_equal(catalog_target(p, "stable", FW_MODE_FS)->release.version, "fs-0");
    assert_null(catalog_target(p, "beta", FW_MODE_FS));

    /* Lookups a check-in makes. */
    char md5[MD5_HEX_LEN + 1];
    memset(md5, 'c', MD5_HEX_LEN);
    md5[MD5_HEX_LEN] = 0;
    assert_string_equal(catalog_release_by_digest(p, md5)->release.version, "1.3.0");
    memset(md5, '9', MD5_HEX_LEN);
    assert_null(catalog_release_by_digest(p, md5));
    assert_null(catalog_release_by_digest(p, "too long for a digest, longer than sixty-four "
                                             "characters of any hex at all"));
    const struct catalog_release *by_version =
        catalog_release_by_version(p, FW_MODE_SKETCH, "1.2.0");
    assert_non_null(by_version);
    assert_int_equal(by_version->release.md5[0], 'a');
    assert_null(catalog_release_by_version(p, FW_MODE_FS, "1.2.0")); /* wrong mode */
    assert_int_equal(p->releases[0].release.variant_count, 1);
    assert_null(p->releases[0].release.notes); /* notes are not kept */
    catalog_unref(c);
}

/* A replaced catalog lives until its last reader lets go (ASan sees any use after free). */
static void test_references(void **state)
{
    struct env *e = *state;
    int64_t door = add_product(e->db, "door");
    add_release(e->db, door, "1.0.0", "stable", FW_MODE_SKETCH, 'a');
    struct catalog *first = build(e->db);
    struct catalog *reader = catalog_ref(first);
    add_release(e->db, door, "1.1.0", "stable", FW_MODE_SKETCH, 'b');
    struct catalog *second = build(e->db);
    assert_true(second->generation > first->generation);
    catalog_unref(first); /* the owner lets go; the reader still holds it */
    const struct catalog_product *old = catalog_product(reader, "door");
    assert_string_equal(catalog_target(old, "stable", FW_MODE_SKETCH)->release.version, "1.0.0");
    assert_string_equal(
        catalog_target(catalog_product(second, "door"), "stable", FW_MODE_SKETCH)->release.version,
        "1.1.0");
    catalog_unref(reader);
    catalog_unref(second);
    catalog_unref(NULL);
    assert_null(catalog_ref(NULL));
    struct catalog *empty = catalog_new_empty();
    assert_non_null(empty);
    assert_null(catalog_product(empty, "door"));
    catalog_unref(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_targets_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_references, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
