/*
 * Unit tests for src/db/db_sqlite_products.c: products by name, their
 * signing settings, and the keys a product has signed with (added once,
 * listed oldest first, only for a product that exists); every change a
 * check-in must see moves the generation, and a refused one does not; the
 * fleet settings (what devices may choose, the download cap); two nodes
 * writing at once.
 */
#include <errno.h>

#include "db/db_fleet.h"
#include "env.h"

static void test_product_insert_get_list(void **state)
{
    struct db_env *e = *state;
    static const char *const names[] = {"gate", "door", "yard", "Door", "a-b_c.9"};
    int64_t g = db_env_generation(e->db);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct product p = db_env_product(e->db, names[i]);
        assert_true(p.id > 0);
        assert_true(p.created_ms > 0);
        assert_int_equal(db_env_generation(e->db), ++g);
    }
    /* A taken name is -EEXIST and moves nothing. */
    struct product again;
    memset(&again, 0, sizeof(again));
    strcpy(again.name, "door");
    strcpy(again.default_channel, "beta");
    assert_int_equal(db_product_insert(e->db, &again), -EEXIST);
    assert_int_equal(again.id, 0);
    assert_int_equal(db_env_generation(e->db), g);

    static const struct {
        const char *name;
        int expected;
    } gets[] = {
        {"door", 0},       {"Door", 0},   {"a-b_c.9", 0},
        {"DOOR", -ENOENT}, {"", -ENOENT}, {"doo", -ENOENT},
    };
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        struct product p;
        memset(&p, 0, sizeof(p));
        assert_int_equal(db_product_get(e->db, gets[i].name, &p), gets[i].expected);
        if (gets[i].expected == 0) {
            assert_string_equal(p.name, gets[i].name);
            assert_string_equal(p.default_channel, "stable");
            assert_string_equal(p.signing.esp32_hash, "sha256"); /* the column's default */
        }
    }
    struct product *list = NULL;
    size_t n = 0;
    assert_int_equal(db_product_list(e->db, &list, &n), 0);
    static const char *const by_name[] = {"Door", "a-b_c.9", "door", "gate", "yard"};
    assert_int_equal(n, sizeof(by_name) / sizeof(by_name[0]));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(list[i].name, by_name[i]);
    free(list);
    db_env_assert_idle(e->db);
}

static void test_product_set_signing(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    static const struct {
        struct product_signing in;
        const char *esp32_hash; /* as read back */
    } cases[] = {
        {{.required = true, .key = "k1", .legacy = true, .gzip = true, .esp32_hash = "sha256"},
         "sha256"},
        {{.required = false, .key = "", .esp32_hash = ""}, "sha256"},
        {{.required = true, .key = "k2", .esp32_hash = "sha512", .core_min = "2.7.4"}, "sha512"},
        {{.gzip = true, .core_min = ""}, "sha256"},
        {{.secure_boot_keys = "sb-2026,sb-2027,sb-2028"}, "sha256"},
        {{.secure_boot_keys = ""}, "sha256"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t g = db_env_generation(e->db);
        assert_int_equal(db_product_set_signing(e->db, p.id, &cases[i].in), 0);
        assert_int_equal(db_env_generation(e->db), g + 1);
        struct product got;
        assert_int_equal(db_product_get(e->db, "door", &got), 0);
        assert_int_equal(got.signing.required, cases[i].in.required);
        assert_string_equal(got.signing.key, cases[i].in.key);
        assert_int_equal(got.signing.legacy, cases[i].in.legacy);
        assert_int_equal(got.signing.gzip, cases[i].in.gzip);
        assert_string_equal(got.signing.esp32_hash, cases[i].esp32_hash);
        assert_string_equal(got.signing.core_min, cases[i].in.core_min);
        assert_string_equal(got.signing.secure_boot_keys, cases[i].in.secure_boot_keys);
    }
    /* No such product: -ENOENT, and the generation stays. */
    int64_t g = db_env_generation(e->db);
    assert_int_equal(db_product_set_signing(e->db, p.id + 1, &cases[0].in), -ENOENT);
    assert_int_equal(db_product_set_signing(e->db, 0, &cases[0].in), -ENOENT);
    assert_int_equal(db_env_generation(e->db), g);
    db_env_assert_idle(e->db);
}

struct key_want {
    const char *name, *fingerprint;
};

static void assert_keys(struct db *db, int64_t product_id, const struct key_want *want, size_t n)
{
    struct product_key *keys = NULL;
    size_t count = 99;
    assert_int_equal(db_product_key_list(db, product_id, &keys, &count), 0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(keys[i].name, want[i].name);
        assert_string_equal(keys[i].fingerprint, want[i].fingerprint);
        assert_true(keys[i].added_ms > 0);
        if (i > 0)
            assert_true(keys[i].added_ms >= keys[i - 1].added_ms);
    }
    free(keys);
}

/* Keys are added once (the first fingerprint stays), listed oldest first then by name. */
static void test_product_keys(void **state)
{
    struct db_env *e = *state;
    struct product door = db_env_product(e->db, "door");
    struct product gate = db_env_product(e->db, "gate");
    assert_keys(e->db, door.id, NULL, 0);

    static const struct {
        int64_t added_ms; /* written back by hand: the order must not hang on the clock */
        const char *name, *fingerprint;
    } adds[] = {
        {3000, "rot-2", "ff02"}, {1000, "first", "ff00"}, {2000, "zed", "ff01"},
        {2000, "alpha", "ff03"}, {0, "first", "0000"}, /* again: ignored */
    };
    for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
        assert_int_equal(db_product_key_add(e->db, door.id, adds[i].name, adds[i].fingerprint), 0);
        if (adds[i].added_ms) {
            char sql[128];
            snprintf(sql, sizeof(sql),
                     "UPDATE product_keys SET added_ms = %lld WHERE key_name = '%s'",
                     (long long)adds[i].added_ms, adds[i].name);
            db_env_exec(e->db, sql);
        }
    }
    static const struct key_want want[] = {
        {"first", "ff00"}, {"alpha", "ff03"}, {"zed", "ff01"}, {"rot-2", "ff02"}};
    assert_keys(e->db, door.id, want, 4);
    assert_int_equal(
        db_env_int(e->db, "SELECT added_ms FROM product_keys WHERE key_name = 'first'"),
        1000); /* the second add left the row as it was */

    /* Keys belong to their product; one that does not exist has none and takes none. */
    assert_keys(e->db, gate.id, NULL, 0);
    assert_int_equal(db_product_key_add(e->db, gate.id, "first", "aa00"), 0);
    static const struct key_want gate_want[] = {{"first", "aa00"}};
    assert_keys(e->db, gate.id, gate_want, 1);
    assert_keys(e->db, door.id, want, 4);
    assert_int_equal(db_product_key_add(e->db, gate.id + 100, "k", "aa01"), -ENOENT);
    assert_keys(e->db, gate.id + 100, NULL, 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM product_keys"), 5);
    db_env_assert_idle(e->db);
}

/* Fleet settings: written at insert, replaced whole, read by get and list; -ENOENT moves nothing.
 */
static void test_product_fleet(void **state)
{
    struct db_env *e = *state;
    struct product p;
    memset(&p, 0, sizeof(p));
    strcpy(p.name, "door");
    strcpy(p.default_channel, "stable");
    p.fleet =
        (struct product_fleet){.channel_query = true, .max_downloads = 7, .require_https = true};
    assert_int_equal(db_product_insert(e->db, &p), 0);
    struct product got;
    assert_int_equal(db_product_get(e->db, "door", &got), 0);
    assert_true(got.fleet.channel_query);
    assert_false(got.fleet.group_query);
    assert_int_equal(got.fleet.max_downloads, 7);
    assert_true(got.fleet.require_https);
    struct product other = db_env_product(e->db, "gate"); /* the columns' defaults */
    assert_int_equal(db_product_get(e->db, "gate", &got), 0);
    assert_false(got.fleet.channel_query);
    assert_false(got.fleet.group_query);
    assert_int_equal(got.fleet.max_downloads, 0);
    assert_false(got.fleet.require_https);

    static const struct product_fleet cases[] = {
        {.group_query = true, .max_downloads = UINT32_MAX},
        {.channel_query = true, .group_query = true},
        {.require_https = true},
        {0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t g = db_env_generation(e->db);
        assert_int_equal(db_product_set_fleet(e->db, p.id, &cases[i]), 0);
        assert_int_equal(db_env_generation(e->db), g + 1);
        struct product *list = NULL;
        size_t n = 0;
        assert_int_equal(db_product_list(e->db, &list, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].name, "door");
        assert_int_equal(list[0].fleet.channel_query, cases[i].channel_query);
        assert_int_equal(list[0].fleet.group_query, cases[i].group_query);
        assert_true(list[0].fleet.max_downloads == cases[i].max_downloads);
        assert_int_equal(list[0].fleet.require_https, cases[i].require_https);
        assert_false(list[1].fleet.channel_query); /* the other product is untouched */
        free(list);
    }
    int64_t g = db_env_generation(e->db);
    assert_int_equal(db_product_set_fleet(e->db, other.id + 1, &cases[0]), -ENOENT);
    assert_int_equal(db_env_generation(e->db), g);
    db_env_assert_idle(e->db);
}

/* What each node of test_two_nodes saw. */
struct two_nodes {
    int64_t door_id;
    int inserted[2], taken[2], failed[2]; /* product inserts: 0, -EEXIST, anything else */
    int changed[2];                       /* signing and fleet writes that returned 0 */
};

#define OWN_PRODUCTS    20
#define SHARED_PRODUCTS 10

static void node_writes(struct db *db, int node, void *ctx)
{
    struct two_nodes *t = ctx;
    for (int i = 0; i < OWN_PRODUCTS + SHARED_PRODUCTS; i++) {
        struct product p;
        memset(&p, 0, sizeof(p));
        /* Each node's own names, and names both nodes insert at about the same time. */
        if (i % 3 == 2)
            snprintf(p.name, sizeof(p.name), "shared-%02d", i / 3);
        else
            snprintf(p.name, sizeof(p.name), "node%d-%02d", node, i);
        strcpy(p.default_channel, "stable");
        int r = db_product_insert(db, &p);
        t->inserted[node] += r == 0;
        t->taken[node] += r == -EEXIST;
        t->failed[node] += r != 0 && r != -EEXIST;
        struct product_signing sg = {.required = true, .gzip = node == 1};
        snprintf(sg.key, sizeof(sg.key), "node%d", node);
        struct product_fleet f = {.max_downloads = (uint32_t)(i + 1)};
        t->changed[node] += db_product_set_signing(db, t->door_id, &sg) == 0;
        t->changed[node] += db_product_set_fleet(db, t->door_id, &f) == 0;
        t->changed[node] += db_product_key_add(db, t->door_id, p.name, "ff") == 0;
    }
}

/*
 * The multi-node case: two connections insert products (some names on both
 * at once) and rewrite one product's settings, interleaved. Every name is
 * stored once, the other insert is -EEXIST, and the generation moved once
 * per change that succeeded, no more, no less.
 */
static void test_two_nodes(void **state)
{
    struct db_env *e = *state;
    struct two_nodes t = {0};
    t.door_id = db_env_product(e->db, "door").id;
    int64_t g = db_env_generation(e->db);
    db_env_two_nodes(e, node_writes, &t);
    for (int node = 0; node < 2; node++) {
        assert_int_equal(t.failed[node], 0);
        assert_int_equal(t.changed[node], 3 * (OWN_PRODUCTS + SHARED_PRODUCTS));
    }
    assert_int_equal(t.inserted[0] + t.inserted[1], 2 * OWN_PRODUCTS + SHARED_PRODUCTS);
    assert_int_equal(t.taken[0] + t.taken[1], SHARED_PRODUCTS);
    int64_t bumps = t.inserted[0] + t.inserted[1] + 4 * (OWN_PRODUCTS + SHARED_PRODUCTS);
    assert_int_equal(db_env_generation(e->db), g + bumps);
    struct product *list = NULL;
    size_t n = 0;
    assert_int_equal(db_product_list(e->db, &list, &n), 0);
    assert_int_equal(n, 1 + 2 * OWN_PRODUCTS + SHARED_PRODUCTS);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(list[i - 1].name, list[i].name) < 0);
    free(list);
    /* The names both nodes added as keys are there once each. */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM product_keys"),
                     2 * OWN_PRODUCTS + SHARED_PRODUCTS);
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_product_insert_get_list, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_product_set_signing, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_product_keys, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_product_fleet, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
