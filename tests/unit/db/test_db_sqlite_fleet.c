/*
 * Unit tests for src/db/db_sqlite_fleet.c: channels, groups and their MACs,
 * pins and holds, deployments and withdrawals, rollouts (supersede in the
 * same transaction), the counters per stage, fleet events (offer, served
 * with its deadline from the learned or the plan's interval, cut, outcome),
 * the history trimmed to FLEET_HISTORY_MAX and silence past the deadline,
 * also with the connection's fast timing (seconds, not hours).
 * Every write a check-in must see moves the generation, a refused one does
 * not, and device rows move it only when a failure is recorded. Built
 * twice: on SQLite, and with DB_ENV_POSTGRESQL on PostgreSQL
 * (db_pg_fleet.c); the two-node tests (two connections to one database in
 * two threads, as two otad nodes) check that counters, history, supersede
 * and silence come out exact when nodes write the same rows at once, and
 * that the nodes read each other's rollout changes once each, in the order
 * their transactions commit.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "db/db_fleet.h"
#include "env.h"

#define MAC1 0x18FEAA000001ULL /* db_env_device(.., 1, ..) */
#define MAC2 0x18FEAA000002ULL

/* A channel NAME of PRODUCT_ID with a plan and a window that differ from the defaults. */
static struct channel channel_of(int64_t product_id, const char *name)
{
    struct channel c;
    memset(&c, 0, sizeof(c));
    c.product_id = product_id;
    strcpy(c.name, name);
    c.deploy = DEPLOY_ROLLOUT;
    c.on_new = ON_NEW_QUEUE;
    rollout_plan_default(&c.plan);
    assert_int_equal(rollout_plan_parse(&c.plan, "stages=2.5,100;soak=2h;interval=10m", NULL), 0);
    c.window = (struct fleet_window){.start_min = 120, .end_min = 300, .tz = "Europe/Berlin"};
    return c;
}

static void test_channels(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct product q = db_env_product(e->db, "gate");
    int64_t g = db_env_generation(e->db);

    struct channel c = channel_of(p.id, "beta");
    assert_int_equal(db_channel_put(e->db, &c), 0);
    assert_true(c.created_ms > 0);
    assert_int_equal(db_env_generation(e->db), ++g);
    struct channel got;
    assert_int_equal(db_channel_get(e->db, p.id, "beta", &got), 0);
    assert_int_equal(got.product_id, p.id);
    assert_string_equal(got.name, "beta");
    assert_int_equal(got.deploy, DEPLOY_ROLLOUT);
    assert_int_equal(got.on_new, ON_NEW_QUEUE);
    assert_int_equal(got.plan.stage_count, 2);
    assert_int_equal(got.plan.stages_bp[0], 250);
    assert_int_equal(got.plan.soak_s, 7200);
    assert_int_equal(got.plan.interval_s, 600);
    assert_int_equal(got.window.start_min, 120);
    assert_int_equal(got.window.end_min, 300);
    assert_string_equal(got.window.tz, "Europe/Berlin");
    assert_int_equal(got.created_ms, c.created_ms);

    /* Replaced: new settings, the first created_ms. */
    db_env_exec(e->db, "UPDATE channels SET created_ms = 5");
    c.deploy = DEPLOY_MANUAL;
    rollout_plan_default(&c.plan);
    c.window = (struct fleet_window){0};
    assert_int_equal(db_channel_put(e->db, &c), 0);
    assert_int_equal(c.created_ms, 5);
    assert_int_equal(db_env_generation(e->db), ++g);
    assert_int_equal(db_channel_get(e->db, p.id, "beta", &got), 0);
    assert_int_equal(got.deploy, DEPLOY_MANUAL);
    assert_int_equal(got.plan.stage_count, 4);
    assert_string_equal(got.window.tz, "");

    struct channel more[] = {channel_of(p.id, "alpha"), channel_of(q.id, "stable")};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(db_channel_put(e->db, &more[i]), 0);
    g += 2;
    struct channel *list = NULL;
    size_t n = 0;
    assert_int_equal(db_channel_list(e->db, p.id, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "alpha");
    assert_string_equal(list[1].name, "beta");
    free(list);
    assert_int_equal(db_channel_list(e->db, 0, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[2].name, "stable");
    assert_int_equal(list[2].product_id, q.id);
    free(list);

    /* Refused: no product; no row. The generation stays. */
    struct channel stray = channel_of(q.id + 100, "beta");
    assert_int_equal(db_channel_put(e->db, &stray), -ENOENT);
    assert_int_equal(db_channel_get(e->db, q.id, "beta", &got), -ENOENT);
    assert_int_equal(db_channel_delete(e->db, q.id, "beta"), -ENOENT);
    assert_int_equal(db_env_generation(e->db), g);
    assert_int_equal(db_channel_delete(e->db, p.id, "beta"), 0);
    assert_int_equal(db_env_generation(e->db), ++g);
    assert_int_equal(db_channel_get(e->db, p.id, "beta", &got), -ENOENT);
    assert_int_equal(db_channel_delete(e->db, p.id, "beta"), -ENOENT);
    db_env_assert_idle(e->db);
}

static struct group group_of(int64_t product_id, const char *name, enum group_match match,
                             const char *value)
{
    struct group g;
    memset(&g, 0, sizeof(g));
    g.product_id = product_id;
    strcpy(g.name, name);
    strcpy(g.channel, "beta");
    g.match = match;
    strcpy(g.value, value);
    g.priority = 100;
    return g;
}

static void assert_macs(struct db *db, int64_t group_id, const uint64_t *want,
                        const int64_t *want_groups, size_t n)
{
    uint64_t *macs = NULL;
    int64_t *groups = NULL;
    size_t count = 99;
    assert_int_equal(db_group_macs_list(db, group_id, &macs, want_groups ? &groups : NULL, &count),
                     0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(macs[i] == want[i]);
        if (want_groups)
            assert_int_equal(groups[i], want_groups[i]);
    }
    free(macs);
    free(groups);
}

static void test_groups(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct product q = db_env_product(e->db, "gate");
    int64_t gen = db_env_generation(e->db);

    struct group lab = group_of(p.id, "lab", GROUP_MATCH_MACS, "");
    struct group big = group_of(p.id, "big", GROUP_MATCH_CHIP_SIZE, "4194304");
    big.has_window = true;
    big.window = (struct fleet_window){.start_min = 60, .end_min = 0, .tz = "UTC"};
    struct group other = group_of(q.id, "lab", GROUP_MATCH_QUERY, "lab");
    struct group *all[] = {&lab, &big, &other};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(db_group_insert(e->db, all[i]), 0);
        assert_true(all[i]->id > 0);
        assert_true(all[i]->created_ms > 0);
        assert_int_equal(db_env_generation(e->db), ++gen);
    }
    struct group taken = group_of(p.id, "lab", GROUP_MATCH_SDK, "2.2");
    assert_int_equal(db_group_insert(e->db, &taken), -EEXIST);
    assert_int_equal(taken.id, 0);
    struct group stray = group_of(q.id + 100, "x", GROUP_MATCH_SDK, "2.2");
    assert_int_equal(db_group_insert(e->db, &stray), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);

    struct group got;
    assert_int_equal(db_group_get(e->db, p.id, "big", &got), 0);
    assert_int_equal(got.id, big.id);
    assert_int_equal(got.match, GROUP_MATCH_CHIP_SIZE);
    assert_string_equal(got.value, "4194304");
    assert_string_equal(got.channel, "beta");
    assert_int_equal(got.priority, 100);
    assert_true(got.has_window);
    assert_int_equal(got.window.start_min, 60);
    assert_string_equal(got.window.tz, "UTC");
    assert_int_equal(db_group_get(e->db, q.id, "big", &got), -ENOENT);

    /* Update: every field but id, product and MACs; a taken name is -EEXIST. */
    big.priority = 5;
    strcpy(big.name, "huge");
    strcpy(big.value, "16777216");
    big.has_window = false;
    assert_int_equal(db_group_update(e->db, &big), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    assert_int_equal(db_group_get(e->db, p.id, "big", &got), -ENOENT);
    assert_int_equal(db_group_get(e->db, p.id, "huge", &got), 0);
    assert_int_equal(got.priority, 5);
    assert_string_equal(got.value, "16777216");
    assert_false(got.has_window);
    assert_int_equal(got.created_ms, big.created_ms);
    strcpy(big.name, "lab");
    assert_int_equal(db_group_update(e->db, &big), -EEXIST);
    struct group gone = big;
    gone.id = other.id + 100;
    assert_int_equal(db_group_update(e->db, &gone), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);

    struct group *list = NULL;
    size_t n = 0;
    assert_int_equal(db_group_list(e->db, p.id, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "huge");
    assert_string_equal(list[1].name, "lab");
    free(list);
    assert_int_equal(db_group_list(e->db, 0, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[2].product_id, q.id);
    free(list);

    /* MACs: added once, removed, listed ascending; a group that is not there is -ENOENT. */
    const uint64_t add[] = {MAC2, MAC1, 0xFFFFFFFFFFFFULL, MAC1};
    assert_int_equal(db_group_macs_change(e->db, lab.id, add, 4, true), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    const uint64_t want[] = {MAC1, MAC2, 0xFFFFFFFFFFFFULL};
    assert_macs(e->db, lab.id, want, NULL, 3);
    assert_int_equal(db_group_macs_change(e->db, other.id, add, 1, true), 0);
    assert_int_equal(db_group_macs_change(e->db, lab.id, &want[2], 1, false), 0);
    assert_int_equal(db_group_macs_change(e->db, lab.id, &want[2], 1, false), 0); /* again */
    gen += 3;
    const uint64_t want_all[] = {MAC1, MAC2, MAC2};
    const int64_t want_groups[] = {lab.id, lab.id, other.id};
    assert_macs(e->db, 0, want_all, want_groups, 3);
    assert_int_equal(db_group_macs_change(e->db, other.id + 100, add, 1, true), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);

    /* Delete takes the MAC list with it. */
    assert_int_equal(db_group_delete(e->db, p.id, "lab"), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    assert_int_equal(db_group_get(e->db, p.id, "lab", &got), -ENOENT);
    assert_macs(e->db, lab.id, NULL, NULL, 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM group_macs"), 1);
    assert_int_equal(db_group_delete(e->db, p.id, "lab"), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);
    db_env_assert_idle(e->db);
}

static void test_pins(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct product q = db_env_product(e->db, "gate");
    struct release r1 = db_env_release(p.id, "1.0.0");
    struct release fs = db_env_release(p.id, "1.0.0");
    fs.mode = FW_MODE_FS;
    struct release theirs = db_env_release(q.id, "9.0.0");
    assert_int_equal(db_release_insert(e->db, &r1, NULL, 0), 0);
    assert_int_equal(db_release_insert(e->db, &fs, NULL, 0), 0);
    assert_int_equal(db_release_insert(e->db, &theirs, NULL, 0), 0);
    int64_t gen = db_env_generation(e->db);

    struct pin pins[] = {
        {.product_id = p.id, .mac = MAC2, .release_id = fs.id, .note = "lab bench"},
        {.product_id = p.id, .mac = MAC1, .release_id = 0, .note = ""}, /* a hold */
        {.product_id = q.id, .mac = MAC1, .release_id = theirs.id},
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(db_pin_put(e->db, &pins[i]), 0);
        assert_true(pins[i].created_ms > 0);
        assert_int_equal(db_env_generation(e->db), ++gen);
    }
    /* Replaced: the hold becomes a pin. */
    struct pin again = {.product_id = p.id, .mac = MAC1, .release_id = r1.id, .note = "fixed"};
    assert_int_equal(db_pin_put(e->db, &again), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    /* A release of another product, or none at all, or no product: -ENOENT, nothing written. */
    struct pin bad[] = {
        {.product_id = p.id, .mac = MAC1, .release_id = theirs.id},
        {.product_id = p.id, .mac = 7, .release_id = theirs.id + 100},
        {.product_id = q.id + 100, .mac = 7},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(db_pin_put(e->db, &bad[i]), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);

    struct pin *list = NULL;
    size_t n = 0;
    assert_int_equal(db_pin_list(e->db, p.id, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_true(list[0].mac == MAC1);
    assert_int_equal(list[0].release_id, r1.id);
    assert_string_equal(list[0].version, "1.0.0");
    assert_int_equal(list[0].mode, FW_MODE_SKETCH);
    assert_string_equal(list[0].note, "fixed");
    assert_true(list[1].mac == MAC2);
    assert_int_equal(list[1].mode, FW_MODE_FS);
    assert_string_equal(list[1].note, "lab bench");
    free(list);
    assert_int_equal(db_pin_delete(e->db, p.id, MAC1), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    assert_int_equal(db_pin_delete(e->db, p.id, MAC1), -ENOENT);
    assert_int_equal(db_pin_put(e->db, &(struct pin){.product_id = p.id, .mac = MAC1}), 0);
    assert_int_equal(db_pin_list(e->db, 0, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].release_id, 0); /* the hold, first by product and MAC */
    assert_string_equal(list[0].version, "");
    assert_int_equal(list[2].product_id, q.id);
    free(list);
    db_env_assert_idle(e->db);
}

static void test_deployments_and_withdrawals(void **state)
{
    struct db_env *e = *state;
    struct product p = db_env_product(e->db, "door");
    struct product q = db_env_product(e->db, "gate");
    struct release rel[3] = {db_env_release(p.id, "1.0.0"), db_env_release(p.id, "1.1.0"),
                             db_env_release(q.id, "2.0.0")};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(db_release_insert(e->db, &rel[i], NULL, 0), 0);
    int64_t gen = db_env_generation(e->db);

    assert_int_equal(db_deployment_set(e->db, p.id, "stable", FW_MODE_SKETCH, rel[0].id), 0);
    assert_int_equal(db_deployment_set(e->db, p.id, "beta", FW_MODE_FS, 0), 0);
    assert_int_equal(db_deployment_set(e->db, p.id, "stable", FW_MODE_SKETCH, rel[1].id), 0);
    assert_int_equal(db_deployment_set(e->db, q.id, "stable", FW_MODE_SKETCH, rel[2].id), 0);
    gen += 4;
    assert_int_equal(db_env_generation(e->db), gen);
    assert_int_equal(db_deployment_set(e->db, p.id, "stable", FW_MODE_SKETCH, 999), -ENOENT);
    assert_int_equal(db_deployment_set(e->db, 999, "stable", FW_MODE_SKETCH, 0), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);
    struct deployment *d = NULL;
    size_t n = 0;
    assert_int_equal(db_deployment_list(e->db, p.id, &d, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].channel, "beta");
    assert_int_equal(d[0].mode, FW_MODE_FS);
    assert_int_equal(d[0].release_id, 0);
    assert_string_equal(d[1].channel, "stable");
    assert_int_equal(d[1].release_id, rel[1].id);
    assert_true(d[1].updated_ms > 0);
    free(d);
    assert_int_equal(db_deployment_list(e->db, 0, &d, &n), 0);
    assert_int_equal(n, 3);
    free(d);

    /* Withdrawn: listed per product; all or nothing; 0 takes it back. */
    const int64_t ids[] = {rel[1].id, rel[2].id};
    assert_int_equal(db_release_withdraw(e->db, ids, 2, 777), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    int64_t *w = NULL;
    assert_int_equal(db_withdrawn_list(e->db, p.id, &w, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(w[0], rel[1].id);
    free(w);
    assert_int_equal(db_withdrawn_list(e->db, 0, &w, &n), 0);
    assert_int_equal(n, 2);
    free(w);
    const int64_t with_unknown[] = {rel[0].id, 9999};
    assert_int_equal(db_release_withdraw(e->db, with_unknown, 2, 778), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM releases WHERE withdrawn_ms = 778"),
                     0);
    assert_int_equal(db_release_withdraw(e->db, ids, 1, 0), 0);
    assert_int_equal(db_withdrawn_list(e->db, p.id, &w, &n), 0);
    assert_int_equal(n, 0);
    free(w);
    /* Releases read as before. */
    struct release got;
    assert_int_equal(db_release_get(e->db, p.id, FW_MODE_SKETCH, "1.1.0", &got), 0);
    assert_int_equal(got.id, rel[1].id);
    assert_int_equal(got.variant_count, 1);
    free(got.notes);
    struct release *rl = NULL;
    assert_int_equal(db_release_list(e->db, q.id, &rl, &n), 0);
    assert_int_equal(n, 1);
    release_list_free(rl, n);
    db_env_assert_idle(e->db);
}

/* A running rollout of RELEASE_ID on "stable" (sketch), created at CREATED_MS. */
static struct rollout rollout_of(int64_t product_id, int64_t release_id, int64_t created_ms)
{
    struct rollout r;
    memset(&r, 0, sizeof(r));
    r.product_id = product_id;
    strcpy(r.channel, "stable");
    r.release_id = release_id;
    r.mode = FW_MODE_SKETCH;
    r.kind = ROLLOUT_NORMAL;
    r.state = ROLLOUT_RUNNING;
    rollout_plan_default(&r.plan);
    r.stage_started_ms = created_ms;
    r.salt[0] = 0x8000000000000001ULL; /* the high bit survives the int64 column */
    r.salt[1] = 42;
    strcpy(r.actor, "cli");
    r.created_ms = r.updated_ms = created_ms;
    return r;
}

/* A product "door" with sketch releases 1.0.0 (*RET_OLD) and 1.1.0 (*RET_NEW). */
static struct product fleet_product(struct db *db, int64_t *ret_old, int64_t *ret_new)
{
    struct product p = db_env_product(db, "door");
    struct release a = db_env_release(p.id, "1.0.0"), b = db_env_release(p.id, "1.1.0");
    assert_int_equal(db_release_insert(db, &a, NULL, 0), 0);
    assert_int_equal(db_release_insert(db, &b, NULL, 0), 0);
    *ret_old = a.id;
    *ret_new = b.id;
    return p;
}

/* fleet_product and a running rollout of 1.1.0 on it (the default plan), stored. */
static struct rollout fleet_rollout(struct db *db, struct product *ret_product, int64_t *ret_old)
{
    int64_t new_id;
    *ret_product = fleet_product(db, ret_old, &new_id);
    struct rollout r = rollout_of(ret_product->id, new_id, 1000);
    assert_int_equal(db_rollout_insert(db, &r, false), 0);
    return r;
}

static void test_rollouts(void **state)
{
    struct db_env *e = *state;
    int64_t old_id, new_id;
    struct product p = fleet_product(e->db, &old_id, &new_id);
    int64_t gen = db_env_generation(e->db);

    struct rollout first = rollout_of(p.id, old_id, 1000);
    assert_int_equal(rollout_plan_parse(&first.plan, "stages=5,100;interval=20m", NULL), 0);
    first.kind = ROLLOUT_ROLLBACK;
    first.from_release_id = new_id;
    assert_int_equal(db_rollout_insert(e->db, &first, true), 0);
    assert_true(first.id > 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    struct rollout got;
    assert_int_equal(db_rollout_get(e->db, first.id, &got), 0);
    assert_int_equal(got.product_id, p.id);
    assert_string_equal(got.channel, "stable");
    assert_int_equal(got.release_id, old_id);
    assert_string_equal(got.version, "1.0.0");
    assert_int_equal(got.kind, ROLLOUT_ROLLBACK);
    assert_int_equal(got.state, ROLLOUT_RUNNING);
    assert_int_equal(got.plan.stage_count, 2);
    assert_int_equal(got.plan.interval_s, 1200);
    assert_true(got.salt[0] == 0x8000000000000001ULL);
    assert_true(got.salt[1] == 42);
    assert_int_equal(got.from_release_id, new_id);
    assert_string_equal(got.actor, "cli");
    assert_int_equal(got.created_ms, 1000);
    assert_int_equal(db_env_int(e->db, "SELECT interval_s FROM rollouts"), 1200);

    /* Others on the same channel: another mode, another channel, a queued and an ended one. */
    struct rollout fs = rollout_of(p.id, new_id, 1100);
    fs.mode = FW_MODE_FS;
    struct rollout beta = rollout_of(p.id, new_id, 1200);
    strcpy(beta.channel, "beta");
    struct rollout queued = rollout_of(p.id, new_id, 1300);
    queued.state = ROLLOUT_QUEUED;
    struct rollout done = rollout_of(p.id, old_id, 1400);
    done.state = ROLLOUT_COMPLETED;
    struct rollout halted = rollout_of(p.id, old_id, 1500);
    halted.state = ROLLOUT_HALTED;
    struct rollout *others[] = {&fs, &beta, &queued, &done, &halted};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(db_rollout_insert(e->db, others[i], false), 0);
    gen += 5;
    assert_int_equal(db_rollout_get(e->db, first.id, &got), 0);
    assert_int_equal(got.state, ROLLOUT_RUNNING); /* without SUPERSEDE nothing else moves */

    struct rollout newest = rollout_of(p.id, new_id, 2000);
    assert_int_equal(db_rollout_insert(e->db, &newest, true), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    char reason[64];
    snprintf(reason, sizeof(reason), "superseded by rollout %lld", (long long)newest.id);
    const struct {
        const struct rollout *r;
        enum rollout_state state;
    } after[] = {
        {&first, ROLLOUT_SUPERSEDED}, {&halted, ROLLOUT_SUPERSEDED}, {&fs, ROLLOUT_RUNNING},
        {&beta, ROLLOUT_RUNNING},     {&queued, ROLLOUT_QUEUED},     {&done, ROLLOUT_COMPLETED},
        {&newest, ROLLOUT_RUNNING},
    };
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
        assert_int_equal(db_rollout_get(e->db, after[i].r->id, &got), 0);
        assert_int_equal(got.state, after[i].state);
        if (after[i].state == ROLLOUT_SUPERSEDED) {
            assert_string_equal(got.reason, reason);
            assert_int_equal(got.updated_ms, 2000);
        }
    }

    /* Update: the mutable fields; -ENOENT for no such rollout. */
    newest.state = ROLLOUT_PAUSED;
    newest.stage = 2;
    newest.stage_started_ms = 2500;
    newest.paused_ms = 3000;
    newest.ack_failed = 4;
    strcpy(newest.reason, "paused by cli");
    newest.updated_ms = 3000;
    newest.plan.stage_count = 1; /* not a mutable field: ignored */
    assert_int_equal(db_rollout_update(e->db, &newest), 0);
    assert_int_equal(db_env_generation(e->db), ++gen);
    assert_int_equal(db_rollout_get(e->db, newest.id, &got), 0);
    assert_int_equal(got.state, ROLLOUT_PAUSED);
    assert_int_equal(got.stage, 2);
    assert_int_equal(got.stage_started_ms, 2500);
    assert_int_equal(got.paused_ms, 3000);
    assert_int_equal(got.ack_failed, 4);
    assert_string_equal(got.reason, "paused by cli");
    assert_int_equal(got.updated_ms, 3000);
    assert_int_equal(got.plan.stage_count, 4);
    struct rollout missing = newest;
    missing.id = newest.id + 100;
    assert_int_equal(db_rollout_update(e->db, &missing), -ENOENT);
    assert_int_equal(db_rollout_get(e->db, missing.id, &got), -ENOENT);
    struct rollout no_release = rollout_of(p.id, new_id + 100, 1);
    assert_int_equal(db_rollout_insert(e->db, &no_release, true), -ENOENT);
    assert_int_equal(db_env_generation(e->db), gen);

    /* Lists: newest first; active and queued ones only when asked. */
    struct rollout *list = NULL;
    size_t n = 0;
    assert_int_equal(db_rollout_list(e->db, p.id, false, &list, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(list[0].id, newest.id);
    assert_int_equal(list[6].id, first.id);
    free(list);
    assert_int_equal(db_rollout_list(e->db, 0, true, &list, &n), 0);
    const int64_t active[] = {newest.id, queued.id, beta.id, fs.id};
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].id, active[i]);
    free(list);
    assert_int_equal(db_rollout_list(e->db, p.id + 1, false, &list, &n), 0);
    assert_int_equal(n, 0);
    free(list);
    db_env_assert_idle(e->db);
}

static struct fleet_event event(enum fleet_event_kind kind, int64_t product_id, int64_t rollout_id,
                                uint64_t mac, int64_t at_ms)
{
    struct fleet_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.product_id = product_id;
    ev.rollout_id = rollout_id;
    ev.mac = mac;
    ev.at_ms = at_ms;
    return ev;
}

/* Records check-ins of device LAST_MAC_BYTE at each of the COUNT times SEEN. */
static void checkins(struct db *db, int64_t product_id, uint8_t last_mac_byte, const int64_t *seen,
                     size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct device_record d = db_env_device(product_id, last_mac_byte, "1.0.0");
        d.last_seen_ms = seen[i];
        assert_int_equal(db_devices_record(db, &d, 1, NULL, NULL, NULL, NULL), 0);
    }
}

/* Gives devices 1..COUNT (db_env_device) a registry row: a rollout follows registered devices. */
static void registered(struct db *db, int64_t product_id, uint8_t count)
{
    for (uint8_t i = 1; i <= count; i++) {
        struct device_record d = db_env_device(product_id, i, "1.0.0");
        d.last_seen_ms = 1;
        assert_int_equal(db_devices_record(db, &d, 1, NULL, NULL, NULL, NULL), 0);
    }
}

static void test_events(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    /* Device 1 has three gaps of 10 min: its own interval counts. Device 2 has two. */
    const int64_t seen1[] = {0, 600000, 1200000, 1800000};
    const int64_t seen2[] = {0, 600000, 1200000};
    checkins(e->db, p.id, 1, seen1, 4);
    checkins(e->db, p.id, 2, seen2, 3);
    int64_t gen = db_env_generation(e->db);

    struct fleet_event ev[] = {
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, 2000000),
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC2, 2000000),
        event(FLEET_EVENT_CUT, p.id, r.id, MAC1, 2000100),
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, 2000200), /* offered again, once counted */
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC1, 2000300),
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC2, 2000300),
        /* Skipped: no such rollout, no row in it, another product. */
        event(FLEET_EVENT_OFFER, p.id, r.id + 100, MAC1, 2000400),
        event(FLEET_EVENT_SERVED, p.id, r.id, 0x18FEAA000009ULL, 2000400),
        event(FLEET_EVENT_OFFER, p.id + 100, r.id, 0x18FEAA000009ULL, 2000400),
    };
    ev[0].stage = ev[1].stage = 1;
    ev[3].stage = 3; /* the stage of the first offer stands */
    ev[0].from_release_id = old_id;
    strcpy(ev[0].version, "1.1.0");
    assert_int_equal(db_fleet_events_apply(e->db, ev, sizeof(ev) / sizeof(ev[0]), NULL), 0);
    assert_int_equal(db_env_generation(e->db), gen); /* nothing failed */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM rollout_devices"), 2);

    struct rollout_device d;
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC1, &d), 0);
    assert_int_equal(d.rollout_id, r.id);
    assert_int_equal(d.product_id, p.id);
    assert_int_equal(d.stage, 1);
    assert_int_equal(d.outcome, OUTCOME_SERVED);
    assert_int_equal(d.from_release_id, old_id);
    assert_string_equal(d.from_version, "1.0.0"); /* what its registry row reports */
    assert_int_equal(d.offered_ms, 2000200);
    assert_int_equal(d.served_ms, 2000300);
    assert_int_equal(d.interruptions, 1);
    /* Learned: (600000 three times) -> 3 x 10 min + 5 min. */
    assert_int_equal(d.deadline_ms, 2000300 + 3 * 600000 + 300000);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC2, &d), 0);
    assert_int_equal(d.from_release_id, 0);
    /* Two gaps are not enough: the plan's hour. */
    assert_int_equal(d.deadline_ms, 2000300 + 3 * 3600000 + 300000);
    assert_int_equal(db_rollout_device_get(e->db, r.id, 0x18FEAA000009ULL, &d), -ENOENT);
    /* A device the registry has no row for (its limits refused it) gets none here either. */
    struct fleet_event stranger = event(FLEET_EVENT_OFFER, p.id, r.id, 0x18FEAA0000F0ULL, 2000500);
    assert_int_equal(db_fleet_events_apply(e->db, &stranger, 1, NULL), 0);
    assert_int_equal(db_rollout_device_get(e->db, r.id, 0x18FEAA0000F0ULL, &d), -ENOENT);

    /* Outcomes move no generation: the check-in path keeps who failed in memory. */
    struct fleet_event out[] = {
        event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC1, 3000000),
        event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC2, 3000000),
    };
    out[0].outcome = OUTCOME_SUCCEEDED;
    strcpy(out[0].version, "1.1.0");
    out[1].outcome = OUTCOME_FAILED;
    strcpy(out[1].version, "1.0.0");
    assert_int_equal(db_fleet_events_apply(e->db, out, 1, NULL), 0);
    assert_int_equal(db_env_generation(e->db), gen);
    assert_int_equal(db_fleet_events_apply(e->db, out + 1, 1, NULL), 0);
    assert_int_equal(db_env_generation(e->db), gen);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC2, &d), 0);
    assert_int_equal(d.outcome, OUTCOME_FAILED);
    assert_int_equal(d.outcome_ms, 3000000);
    /* A failure of a device with no row is skipped, and so moves nothing. */
    struct fleet_event lost = event(FLEET_EVENT_OUTCOME, p.id, r.id + 1, MAC2, 3000001);
    lost.outcome = OUTCOME_FAILED;
    assert_int_equal(db_fleet_events_apply(e->db, &lost, 1, NULL), 0);
    /* An event kind or outcome this otad does not know is skipped, not stored. */
    struct fleet_event odd[2] = {event((enum fleet_event_kind)9, p.id, r.id, MAC1, 3000002),
                                 event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC1, 3000002)};
    odd[1].outcome = (enum device_outcome)OUTCOME_COUNT;
    assert_int_equal(db_fleet_events_apply(e->db, odd, 2, NULL), 0);
    assert_int_equal(db_fleet_events_apply(e->db, NULL, 0, NULL), 0);
    assert_int_equal(db_env_generation(e->db), gen);

    uint64_t *failed = NULL;
    size_t n = 0;
    assert_int_equal(db_rollout_failed_macs(e->db, r.id, &failed, &n), 0);
    assert_int_equal(n, 1);
    assert_true(failed[0] == MAC2);
    free(failed);

    /* History: every applied event a line, newest first; the skipped ones none. */
    struct device_event h[FLEET_HISTORY_MAX];
    assert_int_equal(db_device_history(e->db, p.id, MAC1, h, FLEET_HISTORY_MAX, &n), 0);
    const struct {
        enum fleet_event_kind kind;
        enum device_outcome outcome;
        int64_t at_ms;
        const char *version;
    } want[] = {
        {FLEET_EVENT_OUTCOME, OUTCOME_SUCCEEDED, 3000000, "1.1.0"},
        {FLEET_EVENT_SERVED, OUTCOME_SERVED, 2000300, ""},
        {FLEET_EVENT_OFFER, OUTCOME_OFFERED, 2000200, ""},
        {FLEET_EVENT_CUT, OUTCOME_INTERRUPTED, 2000100, ""},
        {FLEET_EVENT_OFFER, OUTCOME_OFFERED, 2000000, "1.1.0"},
    };
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(h[i].kind, want[i].kind);
        assert_int_equal(h[i].outcome, want[i].outcome);
        assert_int_equal(h[i].at_ms, want[i].at_ms);
        assert_int_equal(h[i].rollout_id, r.id);
        assert_string_equal(h[i].version, want[i].version);
    }
    assert_int_equal(db_device_history(e->db, p.id, MAC1, h, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(h[1].kind, FLEET_EVENT_SERVED);
    assert_int_equal(db_device_history(e->db, p.id, 0x18FEAA000009ULL, h, 4, &n), 0);
    assert_int_equal(n, 0);

    /* A batch that fails half way is rolled back whole: -EIO, the first event not kept. */
#ifdef DB_ENV_POSTGRESQL
    db_env_exec(e->db, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       "IF NEW.version = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; "
                       "RETURN NEW; END $$; "
                       "CREATE TRIGGER boom BEFORE INSERT ON device_events "
                       "FOR EACH ROW EXECUTE FUNCTION boom()");
#else
    db_env_exec(e->db, "CREATE TRIGGER boom BEFORE INSERT ON device_events "
                       "WHEN NEW.version = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
#endif
    struct fleet_event broken[2] = {event(FLEET_EVENT_OFFER, p.id, r.id, 0x18FEAA000005ULL, 4000),
                                    event(FLEET_EVENT_OFFER, p.id, r.id, MAC2, 4000)};
    strcpy(broken[1].version, "boom");
    assert_int_equal(db_fleet_events_apply(e->db, broken, 2, NULL), -EIO);
    assert_int_equal(db_rollout_device_get(e->db, r.id, 0x18FEAA000005ULL, &d), -ENOENT);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC2, &d), 0);
    assert_int_equal(d.outcome, OUTCOME_FAILED);
    db_env_assert_idle(e->db);
}

/* Counters per stage (the stage of the first offer) and in all; open rows; the newest row. */
static void test_counts_and_open(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 9);
    struct rollout ended = rollout_of(p.id, old_id, 500);
    ended.state = ROLLOUT_ABORTED;
    assert_int_equal(db_rollout_insert(e->db, &ended, false), 0);

    /* Devices 1..9: stage (i - 1) / 3, then outcomes by i. */
    struct fleet_event ev[40];
    size_t n = 0;
    for (uint8_t i = 1; i <= 9; i++) {
        uint64_t mac = 0x18FEAA000000ULL | i;
        ev[n] = event(FLEET_EVENT_OFFER, p.id, r.id, mac, 10 * i);
        ev[n++].stage = (unsigned)(i - 1) / 3;
        if (i >= 4)
            ev[n++] = event(FLEET_EVENT_SERVED, p.id, r.id, mac, 10 * i + 1);
        if (i == 2 || i == 3) {
            ev[n++] = event(FLEET_EVENT_CUT, p.id, r.id, mac, 10 * i + 1);
            ev[n++] = event(FLEET_EVENT_CUT, p.id, r.id, mac, 10 * i + 2);
        }
        if (i >= 6) {
            ev[n] = event(FLEET_EVENT_OUTCOME, p.id, r.id, mac, 10 * i + 2);
            ev[n++].outcome = i == 9 ? OUTCOME_FAILED : OUTCOME_SUCCEEDED;
        }
    }
    /* Device 1 in the ended rollout too, later: the newest row of device 1. */
    ev[n++] = event(FLEET_EVENT_OFFER, p.id, ended.id, MAC1, 5000);
    assert_int_equal(db_fleet_events_apply(e->db, ev, n, NULL), 0);

    struct rollout_counts stages[4], total;
    memset(stages, 0xff, sizeof(stages));
    assert_int_equal(db_rollout_counts(e->db, r.id, stages, 2, &total), 0);
    /* Stage 0: 1 offered, 2 and 3 interrupted twice each. */
    assert_int_equal(stages[0].offered, 3);
    assert_int_equal(stages[0].by_outcome[OUTCOME_OFFERED], 1);
    assert_int_equal(stages[0].by_outcome[OUTCOME_INTERRUPTED], 2);
    assert_int_equal(stages[0].interruptions, 4);
    /* Stage 1: 4 and 5 served, 6 succeeded. */
    assert_int_equal(stages[1].offered, 3);
    assert_int_equal(stages[1].by_outcome[OUTCOME_SERVED], 2);
    assert_int_equal(stages[1].by_outcome[OUTCOME_SUCCEEDED], 1);
    assert_int_equal(stages[1].interruptions, 0);
    /* Stage 2 is past STAGE_COUNT: in the total only (7, 8 succeeded; 9 failed). */
    assert_int_equal(total.offered, 9);
    assert_int_equal(total.by_outcome[OUTCOME_SUCCEEDED], 3);
    assert_int_equal(total.by_outcome[OUTCOME_FAILED], 1);
    assert_int_equal(total.by_outcome[OUTCOME_SILENT], 0);
    assert_int_equal(total.interruptions, 4);
    assert_int_equal(stages[2].offered, UINT64_MAX); /* not written past STAGE_COUNT */
    assert_int_equal(db_rollout_counts(e->db, r.id, NULL, 0, &total), 0);
    assert_int_equal(total.offered, 9);
    assert_int_equal(db_rollout_counts(e->db, r.id + 100, stages, 1, &total), 0);
    assert_int_equal(total.offered, 0);
    assert_int_equal(stages[0].offered, 0);

    /* Open: of the active rollout, every row but the succeeded (failed ones included). */
    struct rollout_device *open = NULL;
    assert_int_equal(db_rollout_devices_open(e->db, &open, &n), 0);
    const uint8_t want[] = {1, 2, 3, 4, 5, 9};
    assert_int_equal(n, sizeof(want));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(open[i].rollout_id, r.id);
        assert_true(open[i].mac == (0x18FEAA000000ULL | want[i]));
    }
    assert_int_equal(open[5].outcome, OUTCOME_FAILED);
    free(open);

    struct rollout_device d;
    assert_int_equal(db_rollout_device_last(e->db, p.id, MAC1, &d), 0);
    assert_int_equal(d.rollout_id, ended.id);
    assert_int_equal(db_rollout_device_last(e->db, p.id, MAC2, &d), 0);
    assert_int_equal(d.rollout_id, r.id);
    assert_int_equal(d.outcome, OUTCOME_INTERRUPTED);
    assert_int_equal(db_rollout_device_last(e->db, p.id + 1, MAC1, &d), -ENOENT);
    assert_int_equal(db_rollout_device_last(e->db, p.id, 0x18FEAA0000FFULL, &d), -ENOENT);
    db_env_assert_idle(e->db);
}

/* A device keeps its newest FLEET_HISTORY_MAX lines, in order within one millisecond too. */
static void test_history_trimmed(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 9);

    enum { EVENTS = FLEET_HISTORY_MAX + 9 };
    struct fleet_event ev[EVENTS];
    for (size_t i = 0; i < EVENTS; i++) {
        /* Pairs share a millisecond: the order within one is the order applied. */
        ev[i] = event(i % 2 ? FLEET_EVENT_CUT : FLEET_EVENT_OFFER, p.id, r.id, MAC1,
                      (int64_t)(1000 + i / 2));
        snprintf(ev[i].version, sizeof(ev[i].version), "v%zu", i);
    }
    /* In two batches: trimming holds across commits as within one. */
    assert_int_equal(db_fleet_events_apply(e->db, ev, 20, NULL), 0);
    assert_int_equal(db_fleet_events_apply(e->db, ev + 20, EVENTS - 20, NULL), 0);
    /* Another device's history is its own. */
    struct fleet_event other = event(FLEET_EVENT_OFFER, p.id, r.id, MAC2, 1);
    assert_int_equal(db_fleet_events_apply(e->db, &other, 1, NULL), 0);

    /* 27482052886529 is MAC1: PostgreSQL 15 reads no hexadecimal literal. */
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM device_events WHERE mac = "
                                       "27482052886529"),
                     FLEET_HISTORY_MAX);
    struct device_event h[FLEET_HISTORY_MAX + 5];
    size_t n = 0;
    assert_int_equal(db_device_history(e->db, p.id, MAC1, h, FLEET_HISTORY_MAX + 5, &n), 0);
    assert_int_equal(n, FLEET_HISTORY_MAX);
    for (size_t i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof(want), "v%zu", EVENTS - 1 - i);
        assert_string_equal(h[i].version, want);
    }
    assert_int_equal(db_device_history(e->db, p.id, MAC2, h, 5, &n), 0);
    assert_int_equal(n, 1);
    db_env_assert_idle(e->db);
}

static void test_mark_silent(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 9);
    struct rollout paused = rollout_of(p.id, r.release_id, 1000);
    strcpy(paused.channel, "beta");
    paused.state = ROLLOUT_PAUSED;
    struct rollout ended = rollout_of(p.id, old_id, 1000);
    strcpy(ended.channel, "lab");
    ended.state = ROLLOUT_COMPLETED;
    assert_int_equal(db_rollout_insert(e->db, &paused, false), 0);
    assert_int_equal(db_rollout_insert(e->db, &ended, false), 0);
    int64_t gen = db_env_generation(e->db);

    /* Deadlines (the plan's hour: 3 h + 5 min after served) staggered by device. */
    const int64_t deadline0 = 3 * 3600000 + 300000;
    struct fleet_event ev[16];
    size_t n = 0;
    for (uint8_t i = 1; i <= 4; i++) {
        uint64_t mac = 0x18FEAA000000ULL | i;
        ev[n++] = event(FLEET_EVENT_OFFER, p.id, r.id, mac, 0);
        ev[n++] = event(FLEET_EVENT_SERVED, p.id, r.id, mac, i * 1000);
    }
    ev[n++] = event(FLEET_EVENT_OFFER, p.id, paused.id, MAC1, 0);
    ev[n++] = event(FLEET_EVENT_SERVED, p.id, paused.id, MAC1, 0);
    ev[n++] = event(FLEET_EVENT_OFFER, p.id, ended.id, MAC1, 0);
    ev[n++] = event(FLEET_EVENT_SERVED, p.id, ended.id, MAC1, 0);
    ev[n] = event(FLEET_EVENT_OUTCOME, p.id, r.id, 0x18FEAA000004ULL, 1);
    ev[n++].outcome = OUTCOME_SUCCEEDED; /* not served any more: never silent */
    assert_int_equal(db_fleet_events_apply(e->db, ev, n, NULL), 0);

    struct rollout_device got[8];
    size_t count = 99;
    /* Nobody is past a deadline yet (before, not at). */
    assert_int_equal(db_rollout_mark_silent(e->db, deadline0, got, 8, &count), 0);
    assert_int_equal(count, 0);
    /* Devices 1 and 2 of R and device 1 of PAUSED are due; at most one written to RET. */
    int64_t now = deadline0 + 2001;
    assert_int_equal(db_rollout_mark_silent(e->db, now, got, 1, &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(got[0].outcome, OUTCOME_SILENT);
    assert_int_equal(got[0].outcome_ms, now);
    assert_int_equal(got[0].deadline_ms, deadline0);
    assert_int_equal(db_env_generation(e->db), gen); /* silence is no failure */
    const struct {
        int64_t rollout_id;
        uint64_t mac;
        enum device_outcome outcome;
    } want[] = {
        {r.id, MAC1, OUTCOME_SILENT},
        {r.id, MAC2, OUTCOME_SILENT},
        {r.id, 0x18FEAA000003ULL, OUTCOME_SERVED},
        {r.id, 0x18FEAA000004ULL, OUTCOME_SUCCEEDED},
        {paused.id, MAC1, OUTCOME_SILENT},
        {ended.id, MAC1, OUTCOME_SERVED}, /* not an active rollout */
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct rollout_device d;
        assert_int_equal(db_rollout_device_get(e->db, want[i].rollout_id, want[i].mac, &d), 0);
        assert_int_equal(d.outcome, want[i].outcome);
    }
    /* Each a history line; a second pass finds nobody new. RET may be NULL. */
    struct device_event h[4];
    assert_int_equal(db_device_history(e->db, p.id, MAC2, h, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(h[0].kind, FLEET_EVENT_OUTCOME);
    assert_int_equal(h[0].outcome, OUTCOME_SILENT);
    assert_int_equal(h[0].at_ms, now);
    assert_int_equal(db_rollout_mark_silent(e->db, now, NULL, 0, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(db_rollout_mark_silent(e->db, now + 1000, NULL, 0, &count), 0);
    assert_int_equal(count, 1); /* device 3 */

    /* A silent device that checks in later gets its outcome. */
    struct fleet_event late = event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC1, now + 5000);
    late.outcome = OUTCOME_SUCCEEDED;
    assert_int_equal(db_fleet_events_apply(e->db, &late, 1, NULL), 0);
    struct rollout_device d;
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC1, &d), 0);
    assert_int_equal(d.outcome, OUTCOME_SUCCEEDED);
    db_env_assert_idle(e->db);
}

/*
 * Fast time (the rollout_deadline_margin_ms and interval_min_gap_ms
 * settings, db_set_fleet_timing): with a 2 s margin, a 1 s shortest
 * interval and a plan that checks in every 2 s, a served device's deadline
 * is seconds away, not hours, and it is silent just after it: from its
 * learned 3 s interval (3 x 3 s + 2 s) or, not learned yet, the plan's
 * (3 x 2 s + 2 s). The margin is the connection's: one opened without the
 * setting keeps the 5 min default.
 */
static void test_fast_timing_deadline_and_silence(void **state)
{
    struct db_env *e = *state;
    int64_t old_id, new_id;
    struct product p = fleet_product(e->db, &old_id, &new_id);
    struct rollout r = rollout_of(p.id, new_id, 1000);
    assert_int_equal(
        rollout_plan_parse(&r.plan, "stages=10,50,100;soak=5s;ramp=0;interval=2s", NULL), 0);
    assert_int_equal(db_rollout_insert(e->db, &r, false), 0);
    struct db_fleet_timing fast = {.deadline_margin_ms = 2000, .interval_min_gap_ms = 1000};
    db_set_fleet_timing(e->db, &fast);
    /* Device 1 checks in every 3 s (three gaps: learned); device 2 twice; device 3 once. */
    const int64_t seen1[] = {0, 3000, 6000, 9000};
    const int64_t seen2[] = {0, 3000};
    const int64_t seen3[] = {0};
    checkins(e->db, p.id, 1, seen1, 4);
    checkins(e->db, p.id, 2, seen2, 2);
    checkins(e->db, p.id, 3, seen3, 1);
    const uint64_t mac3 = 0x18FEAA000003ULL;
    const int64_t served = 10000;
    struct fleet_event ev[] = {
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, served - 100),
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC2, served - 100),
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC1, served),
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC2, served),
    };
    assert_int_equal(db_fleet_events_apply(e->db, ev, sizeof(ev) / sizeof(ev[0]), NULL), 0);
    struct rollout_device d;
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC1, &d), 0);
    assert_int_equal(d.deadline_ms, served + 3 * 3000 + 2000);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC2, &d), 0);
    assert_int_equal(d.deadline_ms, served + 3 * 2000 + 2000);

    /* Another connection, not set: the default margin, whatever the plan says. */
    struct db *other = NULL;
    assert_int_equal(db_open(e->path, DB_DURABLE, &other), 0);
    struct fleet_event ev3[] = {
        event(FLEET_EVENT_OFFER, p.id, r.id, mac3, served - 100),
        event(FLEET_EVENT_SERVED, p.id, r.id, mac3, served),
    };
    assert_int_equal(db_fleet_events_apply(other, ev3, 2, NULL), 0);
    db_close(other);
    assert_int_equal(db_rollout_device_get(e->db, r.id, mac3, &d), 0);
    assert_int_equal(d.deadline_ms, served + 3 * 2000 + DB_FLEET_DEADLINE_MARGIN_MS_DEFAULT);

    /* Silence within seconds: device 2 past 8 s, device 1 past 11 s, device 3 not yet. */
    struct rollout_device got[4];
    size_t count = 99;
    assert_int_equal(db_rollout_mark_silent(e->db, served + 8000, got, 4, &count), 0);
    assert_int_equal(count, 0); /* at the deadline is not past it */
    assert_int_equal(db_rollout_mark_silent(e->db, served + 8001, got, 4, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(got[0].mac, MAC2);
    assert_int_equal(got[0].outcome, OUTCOME_SILENT);
    assert_int_equal(db_rollout_mark_silent(e->db, served + 11001, got, 4, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(got[0].mac, MAC1);
    assert_int_equal(db_rollout_device_get(e->db, r.id, mac3, &d), 0);
    assert_int_equal(d.outcome, OUTCOME_SERVED);
    struct rollout_counts stages[FLEET_STAGES_MAX], total;
    assert_int_equal(db_rollout_counts(e->db, r.id, stages, r.plan.stage_count, &total), 0);
    assert_int_equal(total.by_outcome[OUTCOME_SILENT], 2);
    db_env_assert_idle(e->db);
}

/*
 * Several events of one device in one batch apply in order, each seeing
 * what the ones before it wrote: an event before its device's row exists
 * (SERVED before the OFFER) changes nothing and adds no line, even in the
 * same batch as the OFFER that then creates the row; events of no row
 * (no such rollout, a device the registry does not know) sit between them
 * and leave no trace; lines of one millisecond keep the order applied.
 */
static void test_events_of_one_device_in_order(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 3);

    struct fleet_event ev[] = {
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC1, 100),  /* no row yet: skipped */
        event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC1, 100), /* the same */
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, 100),   /* the row, stage 2 */
        event(FLEET_EVENT_CUT, p.id, r.id, MAC1, 100),
        event(FLEET_EVENT_OFFER, p.id, r.id + 100, MAC2, 100), /* no such rollout */
        event(FLEET_EVENT_CUT, p.id, r.id, MAC1, 100),
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC2, 101),             /* no row in it */
        event(FLEET_EVENT_OFFER, p.id, r.id, 0x18FEAA0000F1ULL, 101), /* not registered */
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, 101), /* offered again: stage 2 stands */
        event(FLEET_EVENT_SERVED, p.id, r.id, MAC1, 102),
        event(FLEET_EVENT_OFFER, p.id, r.id, MAC2, 102),
        event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC1, 103),
        event(FLEET_EVENT_OUTCOME, p.id, r.id, MAC2, 103),
    };
    ev[1].outcome = OUTCOME_SUCCEEDED;
    ev[2].stage = 2;
    ev[8].stage = 0;
    ev[10].stage = 1;
    ev[11].outcome = OUTCOME_FAILED;
    ev[12].outcome = OUTCOME_SUCCEEDED;
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        snprintf(ev[i].version, sizeof(ev[i].version), "e%zu", i);
    assert_int_equal(db_fleet_events_apply(e->db, ev, sizeof(ev) / sizeof(ev[0]), NULL), 0);

    struct rollout_device d;
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC1, &d), 0);
    assert_int_equal(d.stage, 2);
    assert_int_equal(d.outcome, OUTCOME_FAILED);
    assert_int_equal(d.interruptions, 2);
    assert_int_equal(d.offered_ms, 101);
    assert_int_equal(d.served_ms, 102);
    assert_int_equal(d.outcome_ms, 103);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC2, &d), 0);
    assert_int_equal(d.stage, 1);
    assert_int_equal(d.outcome, OUTCOME_SUCCEEDED);
    assert_int_equal(d.served_ms, 0);
    assert_int_equal(d.interruptions, 0);
    assert_int_equal(db_rollout_device_get(e->db, r.id, 0x18FEAA0000F1ULL, &d), -ENOENT);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM rollout_devices"), 2);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM device_events"), 8);

    /* Newest first: by the millisecond, then by the order applied within it. */
    const struct {
        uint64_t mac;
        const char *lines[7]; /* the versions, which name the events */
    } want[] = {
        {MAC1, {"e11", "e9", "e8", "e5", "e3", "e2", NULL}},
        {MAC2, {"e12", "e10", NULL}},
        {0x18FEAA000003ULL, {NULL}},
    };
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        struct device_event h[8];
        size_t n = 99, count = 0;
        assert_int_equal(db_device_history(e->db, p.id, want[w].mac, h, 8, &n), 0);
        while (want[w].lines[count])
            count++;
        assert_int_equal(n, count);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(h[i].version, want[w].lines[i]);
            assert_int_equal(h[i].rollout_id, r.id);
        }
    }
    db_env_assert_idle(e->db);
}

/*
 * One batch takes a device's history past FLEET_HISTORY_MAX: it keeps its
 * newest lines as if each event had been trimmed as it came. Device 1's
 * first lines are pushed out in the batch, and a late line older than all
 * it keeps is dropped; device 2 gets all its lines in one millisecond (the
 * highest seq stay); device 3's late line, older but within the bound,
 * stays in its place.
 */
static void test_history_trimmed_in_one_batch(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 3);

    enum { EVENTS = 4 * FLEET_HISTORY_MAX };
    struct fleet_event ev[EVENTS];
    size_t n = 0;
    /* Device 1: two lines at 1 ms, FLEET_HISTORY_MAX at 2.., then one at 1 ms again. */
    for (int i = 0; i < 2 + (int)FLEET_HISTORY_MAX + 1; i++) {
        int64_t at = i < 2 || i == 2 + (int)FLEET_HISTORY_MAX ? 1 : i;
        ev[n] = event(i % 3 ? FLEET_EVENT_CUT : FLEET_EVENT_OFFER, p.id, r.id, MAC1, at);
        snprintf(ev[n++].version, sizeof(ev[0].version), "a%d", i);
        /* Device 2's lines in between, all at 5 ms, and an event of no rollout. */
        ev[n] = event(i % 2 ? FLEET_EVENT_CUT : FLEET_EVENT_OFFER, p.id, r.id, MAC2, 5);
        snprintf(ev[n++].version, sizeof(ev[0].version), "b%d", i);
        if (i == 7)
            ev[n++] = event(FLEET_EVENT_OFFER, p.id, r.id + 1, MAC1, 1000);
    }
    /* Device 3: two lines, then one older than both. */
    const int64_t at3[] = {20, 30, 10};
    for (int i = 0; i < 3; i++) {
        ev[n] = event(FLEET_EVENT_OFFER, p.id, r.id, 0x18FEAA000003ULL, at3[i]);
        snprintf(ev[n++].version, sizeof(ev[0].version), "c%d", i);
    }
    assert_true(n <= EVENTS);
    assert_int_equal(db_fleet_events_apply(e->db, ev, n, NULL), 0);

    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM device_events"),
                     2 * FLEET_HISTORY_MAX + 3);
    struct device_event h[FLEET_HISTORY_MAX + 1];
    size_t got = 0;
    assert_int_equal(db_device_history(e->db, p.id, MAC1, h, FLEET_HISTORY_MAX + 1, &got), 0);
    assert_int_equal(got, FLEET_HISTORY_MAX);
    for (size_t i = 0; i < got; i++) {
        char want[16];
        snprintf(want, sizeof(want), "a%zu", FLEET_HISTORY_MAX + 1 - i);
        assert_string_equal(h[i].version, want);
        assert_int_equal(h[i].at_ms, (int64_t)(FLEET_HISTORY_MAX + 1 - i));
    }
    assert_int_equal(db_device_history(e->db, p.id, MAC2, h, FLEET_HISTORY_MAX + 1, &got), 0);
    assert_int_equal(got, FLEET_HISTORY_MAX);
    for (size_t i = 0; i < got; i++) {
        char want[16];
        snprintf(want, sizeof(want), "b%zu", FLEET_HISTORY_MAX + 2 - i);
        assert_string_equal(h[i].version, want);
    }
    assert_int_equal(
        db_device_history(e->db, p.id, 0x18FEAA000003ULL, h, FLEET_HISTORY_MAX + 1, &got), 0);
    assert_int_equal(got, 3);
    assert_string_equal(h[0].version, "c1");
    assert_string_equal(h[1].version, "c0");
    assert_string_equal(h[2].version, "c2");
    db_env_assert_idle(e->db);
}

#ifdef DB_ENV_POSTGRESQL
/*
 * The round trips DB's connection makes to apply COUNT events at EV: the
 * messages after which libpq waits for the server (a Sync, which ends each
 * PQexecParams and each pipeline, or a simple Query), read from its trace.
 */
static size_t round_trips_of(struct db *db, const struct fleet_event *ev, size_t count)
{
    struct db_pg *pg = db_pg_of(db);
    FILE *trace = tmpfile();
    assert_non_null(trace);
    PQtrace(pg->conn, trace);
    PQsetTraceFlags(pg->conn, PQTRACE_SUPPRESS_TIMESTAMPS);
    assert_int_equal(db_fleet_events_apply(db, ev, count, NULL), 0);
    PQuntrace(pg->conn);
    rewind(trace);
    size_t trips = 0;
    char line[4096], type[32];
    while (fgets(line, sizeof(line), trace))
        if (sscanf(line, "F\t%*d\t%31s", type) == 1 &&
            (strcmp(type, "Sync") == 0 || strcmp(type, "Query") == 0))
            trips++;
    fclose(trace);
    return trips;
}

/*
 * A batch costs BEGIN, one pipeline and COMMIT, whatever its size: one
 * event or three hundred of a hundred devices take the same three round
 * trips.
 */
static void test_events_round_trips(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 100);
    struct fleet_event one = event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, 10);
    assert_int_equal(round_trips_of(e->db, &one, 1), 3);

    enum { DEVICES = 100 };
    static const enum fleet_event_kind kinds[] = {FLEET_EVENT_OFFER, FLEET_EVENT_CUT,
                                                  FLEET_EVENT_SERVED};
    struct fleet_event ev[3 * DEVICES];
    for (size_t i = 0; i < 3 * DEVICES; i++)
        ev[i] = event(kinds[i / DEVICES], p.id, r.id, 0x18FEAA000000ULL | (i % DEVICES + 1),
                      20 + (int64_t)(i / DEVICES));
    assert_int_equal(round_trips_of(e->db, ev, 3 * DEVICES), 3);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM device_events"), 1 + 3 * DEVICES);
    db_env_assert_idle(e->db);
}

/*
 * The connection lost in the middle of a batch's pipeline (the server ends
 * the session from a trigger): -ENOTCONN, nothing of the batch written, and
 * the next call connects again and applies it.
 */
static void test_events_connection_lost(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 2);
    db_env_exec(e->db,
                "CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.version = 'die' THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
                "END IF; RETURN NEW; END $$; "
                "CREATE TRIGGER die BEFORE INSERT ON device_events "
                "FOR EACH ROW EXECUTE FUNCTION die()");
    struct fleet_event ev[3] = {event(FLEET_EVENT_OFFER, p.id, r.id, MAC1, 10),
                                event(FLEET_EVENT_OFFER, p.id, r.id, MAC2, 10),
                                event(FLEET_EVENT_SERVED, p.id, r.id, MAC1, 11)};
    strcpy(ev[1].version, "die");
    assert_int_equal(db_fleet_events_apply(e->db, ev, 3, NULL), -ENOTCONN);
    struct rollout_device d;
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC1, &d), -ENOENT); /* connects again */
    db_env_exec(e->db, "DROP TRIGGER die ON device_events");
    assert_int_equal(db_fleet_events_apply(e->db, ev, 3, NULL), 0);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC1, &d), 0);
    assert_int_equal(d.outcome, OUTCOME_SERVED);
    assert_int_equal(db_rollout_device_get(e->db, r.id, MAC2, &d), 0);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM device_events"), 3);
    db_env_assert_idle(e->db);
}
#endif

/* Device I of a batch of many: 18:FE:AA:00:HI:LO. */
static uint64_t many_mac(unsigned i)
{
    return 0x18FEAA000000ULL | (uint64_t)i;
}

enum { RATE_DEVICES = 1000, RATE_ROUNDS = 3 };

/*
 * Not a timed assertion: how fast batches of RATE_DEVICES fleet events
 * apply on this backend (docs/PERFORMANCE.md, "Fleet events on
 * PostgreSQL"), printed as TAP comments. RATE_ROUNDS rounds of three
 * batches (an offer, a download, an outcome for each of RATE_DEVICES
 * registered devices); what it asserts is that every event was applied.
 */
static void test_events_batch_rate(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    struct device_record *records = calloc(RATE_DEVICES, sizeof(*records));
    struct fleet_event *ev = calloc(RATE_DEVICES, sizeof(*ev));
    assert_non_null(records);
    assert_non_null(ev);
    for (unsigned i = 0; i < RATE_DEVICES; i++) {
        records[i] = db_env_device(p.id, 0, "1.0.0");
        records[i].report.sta_mac[4] = (uint8_t)((i + 1) >> 8);
        records[i].report.sta_mac[5] = (uint8_t)(i + 1);
    }
    assert_int_equal(db_devices_record(e->db, records, RATE_DEVICES, NULL, NULL, NULL, NULL), 0);

    static const enum fleet_event_kind kinds[] = {FLEET_EVENT_OFFER, FLEET_EVENT_SERVED,
                                                  FLEET_EVENT_OUTCOME};
    double total_s = 0;
    for (int round = 0; round < RATE_ROUNDS; round++)
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            for (unsigned i = 0; i < RATE_DEVICES; i++) {
                ev[i] =
                    event(kinds[k], p.id, r.id, many_mac(i + 1), 10000 * (round + 1) + (int64_t)k);
                ev[i].outcome = OUTCOME_SUCCEEDED;
                strcpy(ev[i].version, "1.1.0");
            }
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            assert_int_equal(db_fleet_events_apply(e->db, ev, RATE_DEVICES, NULL), 0);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            total_s += s;
            print_message("# %s: a batch of %d %s events in %.1f ms: %.0f events/s\n",
                          e->db->ops->name, RATE_DEVICES, fleet_event_kind_name(kinds[k]), s * 1000,
                          RATE_DEVICES / s);
        }
    print_message("# %s: %d events in %d batches in %.1f ms: %.0f events/s\n", e->db->ops->name,
                  RATE_ROUNDS * 3 * RATE_DEVICES, RATE_ROUNDS * 3, total_s * 1000,
                  RATE_ROUNDS * 3 * RATE_DEVICES / total_s);

    struct rollout_counts total;
    assert_int_equal(db_rollout_counts(e->db, r.id, NULL, 0, &total), 0);
    assert_int_equal(total.offered, RATE_DEVICES);
    assert_int_equal(total.by_outcome[OUTCOME_SUCCEEDED], RATE_DEVICES);
    assert_int_equal(db_env_int(e->db, "SELECT count(*) FROM device_events"),
                     RATE_ROUNDS * 3 * RATE_DEVICES);
    free(ev);
    free(records);
    db_env_assert_idle(e->db);
}

/*
 * Two nodes (two connections to one database, in two threads) apply
 * interleaved batches of events for the same rollout and devices: node 0
 * walks the devices up, node 1 down (the order that deadlocks without key
 * order), both in the same milliseconds (a history seq each would take
 * twice without a lock). Every counter and every history line must come
 * out exactly as one connection applying the same events one after the
 * other gives them, on a second product.
 */
enum { NODE_DEVICES = 8, NODE_ROUNDS = 12 };

/* One node's work on its own connection DB: returns 0 or its first failure. */
typedef int (*node_fn)(struct db *db, int node, void *ctx);

struct node_run {
    const char *path;
    int node;
    node_fn fn;
    void *ctx;
    pthread_barrier_t *start;
    int err;
};

static void *node_main(void *arg)
{
    struct node_run *run = arg;
    struct db *db = NULL;
    run->err = db_open(run->path, DB_DURABLE, &db);
    pthread_barrier_wait(run->start); /* both connected: the work interleaves */
    if (run->err == 0)
        run->err = run->fn(db, run->node, run->ctx);
    db_close(db);
    return NULL;
}

/* Runs FN(db, 0, CTX) and FN(db, 1, CTX) at once, each on its own connection to PATH. */
static void two_nodes(const char *path, node_fn fn, void *ctx)
{
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    struct node_run runs[2];
    pthread_t threads[2];
    for (int node = 0; node < 2; node++) {
        runs[node] = (struct node_run){path, node, fn, ctx, &start, 0};
        assert_int_equal(pthread_create(&threads[node], NULL, node_main, &runs[node]), 0);
    }
    for (int node = 0; node < 2; node++)
        assert_int_equal(pthread_join(threads[node], NULL), 0);
    pthread_barrier_destroy(&start);
    assert_int_equal(runs[0].err, 0);
    assert_int_equal(runs[1].err, 0);
}

/* The events of NODE's ROUND on PRODUCT_ID's ROLLOUT_ID into EV: one cut per device. */
static size_t node_round(int node, int round, int64_t product_id, int64_t rollout_id,
                         struct fleet_event *ev)
{
    for (int i = 0; i < NODE_DEVICES; i++) {
        int device = node == 0 ? i + 1 : NODE_DEVICES - i;
        ev[i] = event(FLEET_EVENT_CUT, product_id, rollout_id, 0x18FEAA000000ULL | (uint64_t)device,
                      100000 + round);
    }
    return NODE_DEVICES;
}

/* A rollout of one product (node_fn's CTX). */
struct node_rollout {
    int64_t product_id, rollout_id;
};

static int node_cuts(struct db *db, int node, void *ctx)
{
    const struct node_rollout *nr = ctx;
    int err = 0;
    for (int round = 0; err == 0 && round < NODE_ROUNDS; round++) {
        struct fleet_event ev[NODE_DEVICES];
        size_t n = node_round(node, round, nr->product_id, nr->rollout_id, ev);
        err = db_fleet_events_apply(db, ev, n, NULL);
    }
    return err;
}

/* Offers devices 1..NODE_DEVICES in ROLLOUT_ID (stage: odd 0, even 1). */
static void node_offers(struct db *db, int64_t product_id, int64_t rollout_id)
{
    struct fleet_event ev[NODE_DEVICES];
    for (int i = 0; i < NODE_DEVICES; i++) {
        ev[i] = event(FLEET_EVENT_OFFER, product_id, rollout_id,
                      0x18FEAA000000ULL | (uint64_t)(i + 1), 50000);
        ev[i].stage = (unsigned)(i + 1) % 2 == 0;
    }
    assert_int_equal(db_fleet_events_apply(db, ev, NODE_DEVICES, NULL), 0);
}

/* Settles each device: an outcome after the cuts (device 1 fails, 2 is served, the rest succeed).
 */
static void node_outcomes(struct db *db, int64_t product_id, int64_t rollout_id)
{
    struct fleet_event ev[NODE_DEVICES];
    for (int i = 0; i < NODE_DEVICES; i++) {
        uint64_t mac = 0x18FEAA000000ULL | (uint64_t)(i + 1);
        ev[i] = event(i == 1 ? FLEET_EVENT_SERVED : FLEET_EVENT_OUTCOME, product_id, rollout_id,
                      mac, 200000);
        ev[i].outcome = i == 0 ? OUTCOME_FAILED : OUTCOME_SUCCEEDED;
    }
    assert_int_equal(db_fleet_events_apply(db, ev, NODE_DEVICES, NULL), 0);
}

static void test_events_two_nodes(void **state)
{
    struct db_env *e = *state;
    int64_t old_id, new_id;
    struct product p = fleet_product(e->db, &old_id, &new_id);
    struct product q = db_env_product(e->db, "gate");
    struct release a = db_env_release(q.id, "1.0.0"), b = db_env_release(q.id, "1.1.0");
    assert_int_equal(db_release_insert(e->db, &a, NULL, 0), 0);
    assert_int_equal(db_release_insert(e->db, &b, NULL, 0), 0);
    struct rollout r = rollout_of(p.id, new_id, 1000), serial = rollout_of(q.id, b.id, 1000);
    assert_int_equal(db_rollout_insert(e->db, &r, false), 0);
    assert_int_equal(db_rollout_insert(e->db, &serial, false), 0);
    registered(e->db, p.id, NODE_DEVICES);
    registered(e->db, q.id, NODE_DEVICES);
    node_offers(e->db, p.id, r.id);
    node_offers(e->db, q.id, serial.id);

    /* The two nodes, each on its own connection, started together. */
    struct node_rollout nr = {p.id, r.id};
    two_nodes(e->path, node_cuts, &nr);

    /* The same events on one connection, one batch after the other. */
    for (int round = 0; round < NODE_ROUNDS; round++)
        for (int node = 0; node < 2; node++) {
            struct fleet_event ev[NODE_DEVICES];
            size_t n = node_round(node, round, q.id, serial.id, ev);
            assert_int_equal(db_fleet_events_apply(e->db, ev, n, NULL), 0);
        }
    node_outcomes(e->db, p.id, r.id);
    node_outcomes(e->db, q.id, serial.id);

    /* Every counter as one connection's, and as counted by hand. */
    struct rollout_counts two[2], one[2], two_total, one_total;
    assert_int_equal(db_rollout_counts(e->db, r.id, two, 2, &two_total), 0);
    assert_int_equal(db_rollout_counts(e->db, serial.id, one, 2, &one_total), 0);
    assert_memory_equal(two, one, sizeof(two));
    assert_memory_equal(&two_total, &one_total, sizeof(two_total));
    assert_int_equal(two_total.offered, NODE_DEVICES);
    assert_int_equal(two_total.interruptions, 2 * NODE_ROUNDS * NODE_DEVICES);
    assert_int_equal(two_total.by_outcome[OUTCOME_FAILED], 1);
    assert_int_equal(two_total.by_outcome[OUTCOME_SERVED], 1);
    assert_int_equal(two_total.by_outcome[OUTCOME_SUCCEEDED], NODE_DEVICES - 2);
    assert_int_equal(two[1].offered, NODE_DEVICES / 2);

    /* Each device's row and its history, line by line. */
    for (int i = 0; i < NODE_DEVICES; i++) {
        uint64_t mac = 0x18FEAA000000ULL | (uint64_t)(i + 1);
        struct rollout_device dt, ds;
        assert_int_equal(db_rollout_device_get(e->db, r.id, mac, &dt), 0);
        assert_int_equal(db_rollout_device_get(e->db, serial.id, mac, &ds), 0);
        assert_int_equal(dt.interruptions, 2 * NODE_ROUNDS);
        assert_int_equal(dt.interruptions, ds.interruptions);
        assert_int_equal(dt.outcome, ds.outcome);
        assert_int_equal(dt.stage, ds.stage);
        assert_int_equal(dt.outcome_ms, ds.outcome_ms);
        assert_int_equal(dt.deadline_ms - dt.served_ms, ds.deadline_ms - ds.served_ms);
        struct device_event ht[FLEET_HISTORY_MAX], hs[FLEET_HISTORY_MAX];
        size_t nt = 0, ns = 0;
        assert_int_equal(db_device_history(e->db, p.id, mac, ht, FLEET_HISTORY_MAX, &nt), 0);
        assert_int_equal(db_device_history(e->db, q.id, mac, hs, FLEET_HISTORY_MAX, &ns), 0);
        assert_int_equal(nt, 2 + 2 * NODE_ROUNDS); /* the offer, the cuts, the outcome */
        assert_int_equal(nt, ns);
        for (size_t j = 0; j < nt; j++) {
            assert_int_equal(ht[j].kind, hs[j].kind);
            assert_int_equal(ht[j].at_ms, hs[j].at_ms);
            assert_int_equal(ht[j].outcome, hs[j].outcome);
            assert_int_equal(ht[j].rollout_id, r.id);
        }
    }
    db_env_assert_idle(e->db);
}

/* Node_fn: each node starts a rollout on "stable" that supersedes the others, at once. */
static int node_supersede(struct db *db, int node, void *ctx)
{
    const struct node_rollout *nr = ctx;
    struct rollout r = rollout_of(nr->product_id, nr->rollout_id, 10000 + node);
    return db_rollout_insert(db, &r, true);
}

struct node_silence {
    int64_t now_ms;
    size_t marked[2];
};

static int node_mark_silent(struct db *db, int node, void *ctx)
{
    struct node_silence *ns = ctx;
    struct rollout_device got[NODE_DEVICES];
    return db_rollout_mark_silent(db, ns->now_ms, got, NODE_DEVICES, &ns->marked[node]);
}

/*
 * Two nodes starting rollouts on one channel at once leave exactly one of
 * them running (each supersede sees the other's rollout); two nodes
 * marking silence at once mark each device once, between them.
 */
static void test_two_nodes_supersede_and_silence(void **state)
{
    struct db_env *e = *state;
    int64_t old_id, new_id;
    struct product p = fleet_product(e->db, &old_id, &new_id);
    struct node_rollout nr = {p.id, new_id};
    struct rollout *list = NULL;
    size_t n = 0;
    int64_t running = 0;
    for (int round = 0; round < NODE_ROUNDS; round++) {
        /* Only the last two can both be running: look after every pair. */
        two_nodes(e->path, node_supersede, &nr);
        assert_int_equal(db_rollout_list(e->db, p.id, true, &list, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(list[0].state, ROLLOUT_RUNNING);
        running = list[0].id;
        free(list);
    }
    assert_int_equal(db_rollout_list(e->db, p.id, false, &list, &n), 0);
    assert_int_equal(n, 2 * NODE_ROUNDS);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].state,
                         list[i].id == running ? ROLLOUT_RUNNING : ROLLOUT_SUPERSEDED);
    free(list);

    registered(e->db, p.id, NODE_DEVICES);
    node_offers(e->db, p.id, running);
    struct fleet_event served[NODE_DEVICES];
    for (int i = 0; i < NODE_DEVICES; i++)
        served[i] = event(FLEET_EVENT_SERVED, p.id, running, 0x18FEAA000000ULL | (uint64_t)(i + 1),
                          60000 + i);
    assert_int_equal(db_fleet_events_apply(e->db, served, NODE_DEVICES, NULL), 0);
    struct node_silence ns = {.now_ms = 60000 + NODE_DEVICES + 3 * 3600000 + 300000};
    two_nodes(e->path, node_mark_silent, &ns);
    assert_int_equal(ns.marked[0] + ns.marked[1], NODE_DEVICES);
    struct rollout_counts total;
    assert_int_equal(db_rollout_counts(e->db, running, NULL, 0, &total), 0);
    assert_int_equal(total.by_outcome[OUTCOME_SILENT], NODE_DEVICES);
    for (int i = 0; i < NODE_DEVICES; i++) {
        struct device_event h[4];
        assert_int_equal(
            db_device_history(e->db, p.id, 0x18FEAA000000ULL | (uint64_t)(i + 1), h, 4, &n), 0);
        assert_int_equal(n, 3); /* offered, served, silent: once */
        assert_int_equal(h[0].outcome, OUTCOME_SILENT);
    }
    db_env_assert_idle(e->db);
}

/* Two nodes change one rollout, both from the same read (node_fn's CTX). */
struct node_transition {
    struct rollout read;
    int result[2];
};

/* Node 0 pauses the rollout (an operator), node 1 promotes it (the leader's controller). */
static int node_transition(struct db *db, int node, void *ctx)
{
    struct node_transition *nt = ctx;
    struct rollout r = nt->read;
    if (node == 0) {
        r.state = ROLLOUT_PAUSED;
        strcpy(r.reason, "paused by an operator");
    } else {
        r.stage = 1;
        r.stage_started_ms = 5000;
    }
    r.updated_ms = 5000;
    nt->result[node] = db_rollout_update(db, &r);
    return 0;
}

/*
 * A rollout changed since it was read is not overwritten: -ESTALE, nothing
 * moved, on one connection and between two nodes at once (one wins); read
 * again, the change applies on top of the other.
 */
static void test_rollout_update_refuses_a_stale_read(void **state)
{
    struct db_env *e = *state;
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    struct rollout first, second, got;
    assert_int_equal(db_rollout_get(e->db, r.id, &first), 0);
    second = first;
    first.state = ROLLOUT_PAUSED;
    assert_int_equal(db_rollout_update(e->db, &first), 0);
    int64_t gen = db_env_generation(e->db);
    second.stage = 1;
    assert_int_equal(db_rollout_update(e->db, &second), -ESTALE);
    assert_int_equal(db_env_generation(e->db), gen);
    assert_int_equal(db_rollout_get(e->db, r.id, &got), 0);
    assert_int_equal(got.state, ROLLOUT_PAUSED);
    assert_int_equal(got.stage, 0);
    first.state = ROLLOUT_RUNNING;
    assert_int_equal(db_rollout_update(e->db, &first), 0); /* its own write read back */

    struct node_transition nt = {.result = {1, 1}};
    assert_int_equal(db_rollout_get(e->db, r.id, &nt.read), 0);
    two_nodes(e->path, node_transition, &nt);
    assert_true((nt.result[0] == 0 && nt.result[1] == -ESTALE) ||
                (nt.result[0] == -ESTALE && nt.result[1] == 0));
    int loser = nt.result[0] == 0 ? 1 : 0;
    assert_int_equal(db_rollout_get(e->db, r.id, &got), 0);
    assert_int_equal(got.state, loser == 0 ? ROLLOUT_RUNNING : ROLLOUT_PAUSED);
    assert_int_equal(got.stage, loser == 0 ? 1u : 0u);
    nt.read = got; /* the loser reads again and applies on top */
    nt.result[0] = nt.result[1] = 1;
    assert_int_equal(node_transition(e->db, loser, &nt), 0);
    assert_int_equal(nt.result[loser], 0);
    assert_int_equal(db_rollout_get(e->db, r.id, &got), 0);
    assert_int_equal(got.state, ROLLOUT_PAUSED);
    assert_int_equal(got.stage, 1);
    db_env_assert_idle(e->db);
}

#ifdef DB_ENV_POSTGRESQL
/* What reads of the rollout changes saw: each device's newest standing, and how often it came. */
struct changes_seen {
    enum device_outcome outcome[16]; /* by the MAC's last byte */
    unsigned times[16];
};

/* Reads the changes with pages of LIMIT until a page is short; returns the rows read. */
static size_t changes_read(struct db *db, struct rollout_changes_cursor *cursor, size_t limit,
                           struct changes_seen *seen)
{
    size_t total = 0, n = limit;
    while (n == limit) {
        struct rollout_device_change *rows = NULL;
        assert_int_equal(db_rollout_device_changes(db, cursor, limit, &rows, &n), 0);
        for (size_t i = 0; i < n; i++) {
            unsigned byte = (unsigned)(rows[i].device.mac & 0xff);
            assert_true(byte < 16);
            seen->outcome[byte] = rows[i].device.outcome;
            seen->times[byte]++;
            assert_int_equal(rows[i].mode, FW_MODE_SKETCH);
            assert_true(rows[i].release_id != 0);
        }
        free(rows);
        total += n;
    }
    return total;
}

/* A second connection to the test's database, as another node's transaction. */
static PGconn *other_node(struct db_env *e)
{
    PGconn *c = PQconnectdb(e->path);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static void other_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}
#endif

/*
 * Several nodes follow each other's rollout rows: every committed change is
 * read once, in pages, however late its transaction commits, and a change
 * committed while a read is under way is read by the next one.
 */
static void test_changes_in_commit_order(void **state)
{
    struct db_env *e = *state;
    struct rollout_changes_cursor *cursor = calloc(1, sizeof(*cursor));
    assert_non_null(cursor);
    struct rollout_device_change *rows = NULL;
    size_t n = 0;
#ifndef DB_ENV_POSTGRESQL
    assert_int_equal(db_rollout_device_changes(e->db, cursor, 4, &rows, &n), -EOPNOTSUPP);
#else
    int64_t old_id;
    struct product p;
    struct rollout r = fleet_rollout(e->db, &p, &old_id);
    registered(e->db, p.id, 9);
    struct changes_seen seen = {0};
    assert_int_equal(changes_read(e->db, cursor, 4, &seen), 0);

    struct fleet_event ev[9];
    for (uint8_t i = 1; i <= 3; i++)
        ev[i - 1] = event(FLEET_EVENT_OFFER, p.id, r.id, 0x18FEAA000000ULL | i, 100);
    assert_int_equal(db_fleet_events_apply(e->db, ev, 3, NULL), 0);
    /* Another node's transaction takes its id now and commits last. */
    PGconn *slow = other_node(e);
    other_exec(slow, "BEGIN");
    other_exec(slow,
               "UPDATE rollout_devices SET outcome = 2 WHERE mac = 27482052886529"); /* MAC1 */
    for (uint8_t i = 4; i <= 9; i++)
        ev[i - 4] = event(FLEET_EVENT_OFFER, p.id, r.id, 0x18FEAA000000ULL | i, 200);
    assert_int_equal(db_fleet_events_apply(e->db, ev, 6, NULL), 0);
    /* Pages of 4: all nine offers, each once; not the uncommitted cut. */
    assert_int_equal(changes_read(e->db, cursor, 4, &seen), 9);
    for (unsigned i = 1; i <= 9; i++) {
        assert_int_equal(seen.times[i], 1);
        assert_int_equal(seen.outcome[i], OUTCOME_OFFERED);
    }
    assert_int_equal(changes_read(e->db, cursor, 4, &seen), 0);
    /* The slow transaction commits after all of them: its change is read, and only it. */
    other_exec(slow, "COMMIT");
    assert_int_equal(changes_read(e->db, cursor, 4, &seen), 1);
    assert_int_equal(seen.times[1], 2);
    assert_int_equal(seen.outcome[1], OUTCOME_INTERRUPTED);

    /* A read under way (one page of 2 read) while device 5 is served and device 9 fails. */
    for (uint8_t i = 1; i <= 9; i++)
        ev[i - 1] = event(FLEET_EVENT_SERVED, p.id, r.id, 0x18FEAA000000ULL | i, 300);
    assert_int_equal(db_fleet_events_apply(e->db, ev, 9, NULL), 0);
    assert_int_equal(db_rollout_device_changes(e->db, cursor, 2, &rows, &n), 0);
    assert_int_equal(n, 2);
    free(rows);
    other_exec(slow, "UPDATE rollout_devices SET outcome = 3 WHERE mac = 27482052886533"); /* 5 */
    other_exec(slow, "UPDATE rollout_devices SET outcome = 4 WHERE mac = 27482052886537"); /* 9 */
    PQfinish(slow);
    /* This read ends with what had committed when it began; the next reads the rest. */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(changes_read(e->db, cursor, 2, &seen), 5);
    assert_int_equal(changes_read(e->db, cursor, 2, &seen), 2);
    assert_int_equal(seen.outcome[5], OUTCOME_SUCCEEDED);
    assert_int_equal(seen.outcome[9], OUTCOME_FAILED);
    for (unsigned i = 1; i <= 9; i++) /* the two of the first page were not read again */
        assert_int_equal(seen.times[i], i == 5 || i == 9 ? 1u : i <= 2 ? 0u : 1u);
    assert_int_equal(changes_read(e->db, cursor, 2, &seen), 0);
    /* A cursor read from the start: every row of the counted rollout, once. */
    memset(cursor, 0, sizeof(*cursor));
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(changes_read(e->db, cursor, 3, &seen), 9);
#endif
    free(cursor);
    db_env_assert_idle(e->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_channels, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_groups, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_pins, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_deployments_and_withdrawals, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_rollouts, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_events, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_counts_and_open, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_history_trimmed, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_events_of_one_device_in_order, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_history_trimmed_in_one_batch, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_mark_silent, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_fast_timing_deadline_and_silence, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_events_two_nodes, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_update_refuses_a_stale_read, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_changes_in_commit_order, db_env_setup,
                                        db_env_teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes_supersede_and_silence, db_env_setup,
                                        db_env_teardown),
#ifdef DB_ENV_POSTGRESQL
        cmocka_unit_test_setup_teardown(test_events_round_trips, db_env_setup, db_env_teardown),
        cmocka_unit_test_setup_teardown(test_events_connection_lost, db_env_setup, db_env_teardown),
#endif
        cmocka_unit_test_setup_teardown(test_events_batch_rate, db_env_setup, db_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
