/*
 * Unit tests for src/sources/sources.c (adding, checking, listing, removing
 * sources) and the tables behind it in src/db/db_sqlite_sources.c (state,
 * tag records, webhook deliveries, the shared rate-limit gate). No network:
 * syncs are the e2e tests' (tests/e2e/test_github.py).
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
#include "core/util.h"
#include "db/db_sources.h"
#include "service/service.h"
#include "sources/sources.h"

struct env {
    char dir[64];
    struct config config;
    struct service *svc;
    struct sources *sources;
    struct db *db; /* a second connection, to look at the tables */
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(fixture_tmpdir(e->dir), 0);
    assert_int_equal(fixture_config(&e->config, e->dir), 0);
    assert_int_equal(service_open(&e->config, SERVICE_LOCAL, &e->svc), 0);
    assert_int_equal(sources_open(&e->config, e->svc, SOURCES_LOCAL, &e->sources), 0);
    struct reason why = {""};
    assert_int_equal(service_product_add(e->svc, "door", PLATFORM_ESP8266, NULL, NULL, &why), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/otad.db", e->dir);
    assert_int_equal(db_open(path, DB_DURABLE, &e->db), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    db_close(e->db);
    sources_close(e->sources);
    service_close(e->svc);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static void test_add_defaults_and_present(void **state)
{
    struct env *e = *state;
    struct source_spec spec = {.product = "door", .repository = "Acme/door-fw"};
    struct source_row row;
    struct reason why = {""};
    assert_int_equal(sources_add(e->sources, &spec, &row, &why), 0);
    assert_true(row.source.id > 0);
    assert_string_equal(row.source.product, "door");
    assert_string_equal(row.source.owner, "Acme");
    assert_string_equal(row.source.repo, "door-fw");
    assert_string_equal(row.source.asset_glob, "firmware*.bin");
    assert_string_equal(row.source.prerelease_channel, "beta");
    assert_string_equal(row.source.api_url, "https://api.github.com");
    assert_int_equal(row.source.poll_interval_s, 0);
    assert_int_equal(row.state.last_poll_ms, 0);
    assert_int_equal(row.state.rate_remaining, -1);

    json_t *j = sources_present(e->sources, &row);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "repository")), "Acme/door-fw");
    assert_int_equal(json_integer_value(json_object_get(j, "poll_interval_s")), 300);
    assert_true(json_is_null(json_object_get(j, "token_file")));
    json_t *status = json_object_get(j, "status");
    assert_true(json_is_null(json_object_get(status, "last_poll")));
    assert_true(json_is_null(json_object_get(status, "rate_limit")));
    assert_int_equal(json_integer_value(json_object_get(status, "api_calls")), 0);
    json_decref(j);

    /* The same repository for the same product, in another case: taken. */
    spec.repository = "acme/DOOR-FW";
    assert_int_equal(sources_add(e->sources, &spec, NULL, &why), -EEXIST);
    assert_non_null(strstr(why.text, "already"));
}

static void test_add_refusals(void **state)
{
    struct env *e = *state;
    static const struct {
        struct source_spec spec;
        int r;
    } cases[] = {
        {{.product = "nope", .repository = "a/b"}, -ENOENT},
        {{.product = "door", .repository = "a"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .asset_glob = "dir/f.bin"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .asset_glob = ""}, -EINVAL},
        {{.product = "door", .repository = "a/b", .token_file = "/t", .token_env = "T"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .secret_file = "/s", .secret_env = "S"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .token_env = "GH TOKEN"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .token_env = "1TOKEN"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .token_file = "/etc/\x01"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .prerelease_channel = "Beta!"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .api_url = "http://ghe.example.com"}, -EINVAL},
        {{.product = "door", .repository = "a/b", .poll_interval_s = 86401}, -EINVAL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct reason why = {""};
        int r = sources_add(e->sources, &cases[i].spec, NULL, &why);
        if (r != cases[i].r)
            fail_msg("case %zu: %d (%s), expected %d", i, r, why.text, cases[i].r);
        assert_true(why.text[0] != 0);
    }
    struct source_row *rows;
    size_t n;
    assert_int_equal(sources_list(e->sources, &rows, &n), 0);
    assert_int_equal(n, 0); /* nothing half-added */
    free(rows);
}

static void test_add_all_settings_list_remove(void **state)
{
    struct env *e = *state;
    struct source_spec spec = {.product = "door",
                               .repository = "acme/door-fw",
                               .asset_glob = "door-*.bin",
                               .token_env = "GH_TOKEN",
                               .secret_file = "/etc/otad/hook-secret",
                               .prerelease_channel = "none",
                               .api_url = "http://127.0.0.1:9/",
                               .poll_interval_s = 60};
    struct reason why = {""};
    struct source_row a, b;
    assert_int_equal(sources_add(e->sources, &spec, &a, &why), 0);
    assert_string_equal(a.source.prerelease_channel, ""); /* "none": pre-releases ignored */
    assert_string_equal(a.source.api_url, "http://127.0.0.1:9");
    spec.repository = "acme/other";
    spec.prerelease_channel = "canary";
    assert_int_equal(sources_add(e->sources, &spec, &b, &why), 0);

    struct source_row *rows;
    size_t n;
    assert_int_equal(sources_list(e->sources, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_true(rows[0].source.id == a.source.id && rows[1].source.id == b.source.id);
    assert_string_equal(rows[1].source.prerelease_channel, "canary");
    json_t *j = sources_present(e->sources, &rows[0]);
    assert_string_equal(json_string_value(json_object_get(j, "token_env")), "GH_TOKEN");
    assert_string_equal(json_string_value(json_object_get(j, "webhook_secret_file")),
                        "/etc/otad/hook-secret");
    assert_true(json_is_null(json_object_get(j, "prerelease_channel")));
    assert_int_equal(json_integer_value(json_object_get(j, "poll_interval_s")), 60);
    json_decref(j);
    free(rows);

    /* A foreground sync of an unknown id; a background request without the poller. */
    struct sources_sync_result *results;
    assert_int_equal(sources_sync(e->sources, 999, &results, &n, &why), -ENOENT);
    assert_int_equal(sources_request_sync(e->sources, a.source.id, &why), -EOPNOTSUPP);

    assert_int_equal(sources_remove(e->sources, a.source.id, &why), 0);
    assert_int_equal(sources_remove(e->sources, a.source.id, &why), -ENOENT);
    assert_int_equal(sources_get(e->sources, a.source.id, &a, &why), -ENOENT);
    assert_int_equal(sources_get(e->sources, b.source.id, &b, &why), 0);
}

static void test_state_tags_and_gate(void **state)
{
    struct env *e = *state;
    struct reason why = {""};
    struct source_spec spec = {.product = "door", .repository = "acme/a", .token_env = "T"};
    struct source_row a, b, c;
    assert_int_equal(sources_add(e->sources, &spec, &a, &why), 0);
    spec.repository = "acme/b";
    assert_int_equal(sources_add(e->sources, &spec, &b, &why), 0); /* same credentials */
    spec.repository = "acme/c";
    spec.token_env = "OTHER";
    assert_int_equal(sources_add(e->sources, &spec, &c, &why), 0);

    struct source_state st = a.state;
    str_copy(st.etag, sizeof(st.etag), "W/\"abc\"");
    st.last_poll_ms = 1000;
    st.rate_limit = 5000;
    st.rate_remaining = 4999;
    st.api_calls = 3;
    st.not_before_ms = 0;
    assert_int_equal(db_source_state_save(e->db, a.source.id, &st), 0);
    assert_int_equal(db_source_state_save(e->db, 999, &st), -ENOENT);

    /* A rate limit learnt by a binds b (same API and token), not c. */
    assert_int_equal(db_source_gate_siblings(e->db, &a.source, 5000000), 0);
    assert_int_equal(db_source_get(e->db, a.source.id, &a), 0);
    assert_int_equal(db_source_get(e->db, b.source.id, &b), 0);
    assert_int_equal(db_source_get(e->db, c.source.id, &c), 0);
    assert_string_equal(a.state.etag, "W/\"abc\"");
    assert_int_equal(a.state.api_calls, 3);
    assert_int_equal(a.state.rate_remaining, 4999);
    assert_true(a.state.not_before_ms == 5000000 && b.state.not_before_ms == 5000000);
    assert_int_equal(c.state.not_before_ms, 0);
    /* A save never moves the gate back. */
    st.not_before_ms = 10;
    assert_int_equal(db_source_state_save(e->db, a.source.id, &st), 0);
    assert_int_equal(db_source_get(e->db, a.source.id, &a), 0);
    assert_int_equal(a.state.not_before_ms, 5000000);

    struct source_tag t = {.tag = "v1.0.0",
                           .status = SOURCE_TAG_FAILED,
                           .attempts = 2,
                           .detail = "truncated",
                           .updated_ms = 7};
    struct source_tag got;
    assert_int_equal(db_source_tag_get(e->db, a.source.id, "v1.0.0", &got), -ENOENT);
    assert_int_equal(db_source_tag_put(e->db, a.source.id, &t), 0);
    t.status = SOURCE_TAG_INGESTED;
    t.attempts = 0;
    str_copy(t.version, sizeof(t.version), "1.0.0");
    assert_int_equal(db_source_tag_put(e->db, a.source.id, &t), 0);
    assert_int_equal(db_source_tag_get(e->db, a.source.id, "v1.0.0", &got), 0);
    assert_int_equal(got.status, SOURCE_TAG_INGESTED);
    assert_string_equal(got.version, "1.0.0");
    assert_int_equal(db_source_tag_get(e->db, b.source.id, "v1.0.0", &got), -ENOENT);

    /* Removing a source removes its records; a tag of a removed source is -ENOENT. */
    assert_int_equal(sources_remove(e->sources, a.source.id, &why), 0);
    assert_int_equal(db_source_tag_get(e->db, a.source.id, "v1.0.0", &got), -ENOENT);
    assert_int_equal(db_source_tag_put(e->db, a.source.id, &t), -ENOENT);
}

static void test_deliveries(void **state)
{
    struct env *e = *state;
    const int64_t keep = 1000;
    assert_int_equal(db_webhook_delivery_record(e->db, "guid-1", 10000, keep), 0);
    assert_int_equal(db_webhook_delivery_record(e->db, "guid-1", 10500, keep), -EEXIST);
    assert_int_equal(db_webhook_delivery_record(e->db, "guid-2", 10600, keep), 0);
    /* Older than KEEP: forgotten, so the id is new again. */
    assert_int_equal(db_webhook_delivery_record(e->db, "guid-3", 11200, keep), 0);
    assert_int_equal(db_webhook_delivery_record(e->db, "guid-1", 11300, keep), 0);
    assert_int_equal(db_webhook_delivery_record(e->db, "guid-2", 11400, keep), -EEXIST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_defaults_and_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_all_settings_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_tags_and_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliveries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
