/*
 * Unit tests for src/service/audit.c on a real data folder: what an entry
 * records of a note (ok from the HTTP status or the result, the error's
 * name, a reason only when it failed, parameters kept compact and bounded,
 * long fields cut); the listing's filters as the API and the CLI give them
 * (RFC 3339 or milliseconds, ok|failed, refusals); the limit's bounds; and
 * the retention pass: nothing with 0 days, only entries past the setting,
 * in batches, at most MAX_BATCHES a pass, the next pass going on.
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
#include <sqlite3.h>

#include "../support/fixture.h"
#include "core/util.h"
#include "service/audit.h"
#include "service/service.h"

#define DAY_MS (86400 * 1000LL)

struct env {
    char dir[64];
    struct config config;
    struct service *svc;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0 || fixture_config(&e->config, e->dir) < 0)
        return -1;
    e->config.audit_retention_days = 2;
    if (service_open(&e->config, SERVICE_LOCAL, &e->svc) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    service_close(e->svc);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static const struct actor ops = {
    .via = ACTOR_VIA_API, .token_id = 4, .name = "ops", .address = "192.0.2.7"};

/* The newest entries (up to 100) passing F, into *RET (free with audit_entry_list_free). */
static size_t newest(struct env *e, const struct audit_filter *f, struct audit_entry **ret)
{
    size_t n = 0;
    struct reason why = {""};
    assert_int_equal(service_audit_list(e->svc, f, 100, ret, &n, &why), 0);
    return n;
}

static void test_record(void **state)
{
    struct env *e = *state;
    json_t *params = json_pack("{s:s,s:i}", "reason", "odd", "b", 1);
    struct audit_note http_ok = {.actor = &ops,
                                 .action = "rollout.pause",
                                 .product = "door",
                                 .object = "7",
                                 .params = params,
                                 .status = 200,
                                 .reason = "ignored when it took effect"};
    assert_int_equal(service_audit_record(e->svc, &http_ok), 0);
    struct audit_note http_failed = {.actor = &ops,
                                     .action = "channel.put",
                                     .product = "door",
                                     .status = 403,
                                     .code = "forbidden",
                                     .reason = "token \"ops\" has scope read"};
    assert_int_equal(service_audit_record(e->svc, &http_failed), 0);
    struct actor alice = {.via = ACTOR_VIA_CLI, .name = "alice", .address = "local"};
    struct audit_note cli_failed = {.actor = &alice,
                                    .action = "token.revoke",
                                    .object = "9",
                                    .result = -ENOENT,
                                    .reason = "no valid token with id 9"};
    assert_int_equal(service_audit_record(e->svc, &cli_failed), 0);
    /* Too long to keep: the fields are cut, the parameters replaced by a marker. */
    char big[LIMIT_AUDIT_PARAMS_BYTES + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    json_t *huge = json_pack("{s:s}", "notes", big);
    struct audit_note cut = {.actor = &alice,
                             .action = "release.publish.with.a.very.long.name.indeed",
                             .product = "door",
                             .object = big,
                             .params = huge,
                             .result = 0};
    int64_t before = time_now_ms();
    assert_int_equal(service_audit_record(e->svc, &cut), 0);

    struct audit_filter all = {0};
    struct audit_entry *got;
    size_t n = newest(e, &all, &got);
    assert_int_equal(n, 4);
    /* Newest first. */
    assert_true(got[0].at_ms >= before && got[0].at_ms <= time_now_ms());
    assert_int_equal(strlen(got[0].action), LIMIT_AUDIT_ACTION_BYTES);
    assert_int_equal(strlen(got[0].object), LIMIT_AUDIT_OBJECT_BYTES);
    assert_string_equal(got[0].params, "{\"truncated\":true}");
    assert_true(got[0].ok);

    assert_false(got[1].ok);
    assert_int_equal(got[1].status, 0);
    assert_string_equal(got[1].error, "ENOENT");
    assert_string_equal(got[1].reason, "no valid token with id 9");
    assert_string_equal(got[1].actor.name, "alice");
    assert_int_equal(got[1].actor.via, ACTOR_VIA_CLI);

    assert_false(got[2].ok);
    assert_int_equal(got[2].status, 403);
    assert_string_equal(got[2].error, "forbidden");
    assert_null(got[2].params);

    assert_true(got[3].ok); /* the status decides, not RESULT */
    assert_int_equal(got[3].status, 200);
    assert_string_equal(got[3].error, "");
    assert_string_equal(got[3].reason, "");
    assert_string_equal(got[3].params, "{\"b\":1,\"reason\":\"odd\"}"); /* compact, sorted */
    assert_int_equal(got[3].actor.token_id, 4);
    assert_string_equal(got[3].actor.address, "192.0.2.7");
    audit_entry_list_free(got, n);
    json_decref(params);
    json_decref(huge);
}

static void test_filters(void **state)
{
    struct env *e = *state;
    struct reason why = {""};
    struct audit_filter f = {0};
    assert_int_equal(service_audit_filter_set(&f, "since", "2026-11-29T07:00:00Z", &why), 0);
    assert_int_equal(f.since_ms, 1795935600000);
    assert_int_equal(service_audit_filter_set(&f, "until", "2026-11-29T07:00:00.25Z", &why), 0);
    assert_int_equal(f.until_ms, 1795935600250);
    assert_int_equal(service_audit_filter_set(&f, "until", "1795935600123", &why), 0);
    assert_int_equal(f.until_ms, 1795935600123);
    assert_int_equal(service_audit_filter_set(&f, "before", "42", &why), 0);
    assert_int_equal(f.before_id, 42);
    assert_int_equal(service_audit_filter_set(&f, "outcome", "failed", &why), 0);
    assert_int_equal(f.outcome, -1);
    assert_int_equal(service_audit_filter_set(&f, "outcome", "ok", &why), 0);
    assert_int_equal(f.outcome, 1);
    assert_int_equal(service_audit_filter_set(&f, "actor", "ops", &why), 0);
    assert_string_equal(f.actor, "ops");
    assert_int_equal(service_audit_filter_set(&f, "action", "rollout.", &why), 0);
    assert_string_equal(f.action_prefix, "rollout.");
    assert_int_equal(service_audit_filter_set(&f, "product", "door", &why), 0);
    assert_string_equal(f.product, "door");

    static const struct {
        const char *name, *value;
    } bad[] = {
        {"since", "yesterday"},
        {"since", "2026-11-29 07:00:00Z"},
        {"since", "2026-11-29T07:00:00+01:00"},
        {"since", "2026-11-29T07:00:00"},
        {"since", "2026-13-29T07:00:00Z"},
        {"since", "2026-11-29T07:00:00.Z"},
        {"until", ""},
        {"before", "0"},
        {"before", "-1"},
        {"outcome", "maybe"},
        {"colour", "red"},
        {"actor", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, /* 65 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct audit_filter g = {0};
        why.text[0] = 0;
        assert_int_equal(service_audit_filter_set(&g, bad[i].name, bad[i].value, &why), -EINVAL);
        assert_true(why.text[0] != 0);
    }

    struct audit_entry *got = NULL;
    size_t n = 0;
    struct audit_filter none = {0};
    assert_int_equal(service_audit_list(e->svc, &none, 0, &got, &n, &why), -EINVAL);
    assert_int_equal(service_audit_list(e->svc, &none, LIMIT_API_PAGE_ROWS + 1, &got, &n, &why),
                     -EINVAL);
    assert_int_equal(service_audit_list(e->svc, &none, LIMIT_API_PAGE_ROWS, &got, &n, &why), 0);
    assert_int_equal(n, 0);
}

/* Runs SQL on the data folder's database through a connection of its own. */
static void db_exec(const char *dir, const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/otad.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Records N entries and moves them to AT_MS, writing the database as an old log would be. */
static void entries_at(struct env *e, int n, int64_t at_ms)
{
    for (int i = 0; i < n; i++) {
        struct audit_note note = {
            .actor = &ops, .action = "pin.put", .product = "door", .status = 200};
        assert_int_equal(service_audit_record(e->svc, &note), 0);
    }
    /* Through a connection of the test's own: an entry's age is not an API. */
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE audit SET at_ms = %lld WHERE at_ms > %lld", (long long)at_ms,
             (long long)(time_now_ms() - 60000));
    db_exec(e->dir, sql);
}

static void test_retention(void **state)
{
    struct env *e = *state;
    int64_t now = time_now_ms();
    entries_at(e, 7, now - 3 * DAY_MS);         /* past two days */
    entries_at(e, 3, now - 2 * DAY_MS + 60000); /* within: a minute younger than the cutoff */
    size_t deleted = 99;
    /* Batches of 2, at most 3 a pass: 6 go, the next pass takes the last old one. */
    assert_int_equal(service_audit_retain(e->svc, now, 2, 3, &deleted), 0);
    assert_int_equal(deleted, 6);
    struct audit_filter all = {0};
    struct audit_entry *got;
    size_t n = newest(e, &all, &got);
    assert_int_equal(n, 4);
    audit_entry_list_free(got, n);
    assert_int_equal(service_audit_retain(e->svc, now, 2, 3, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(service_audit_retain(e->svc, now, 2, 3, &deleted), 0);
    assert_int_equal(deleted, 0);
    n = newest(e, &all, &got);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(got[i].at_ms > now - 2 * DAY_MS);
    audit_entry_list_free(got, n);
}

static void test_retention_zero_keeps_everything(void **state)
{
    struct env *e = *state;
    service_close(e->svc);
    e->config.audit_retention_days = 0;
    assert_int_equal(service_open(&e->config, SERVICE_LOCAL, &e->svc), 0);
    int64_t now = time_now_ms();
    entries_at(e, 3, now - 3650 * DAY_MS);
    size_t deleted = 99;
    assert_int_equal(service_audit_retain(e->svc, now, 2, 3, &deleted), 0);
    assert_int_equal(deleted, 0);
    struct audit_filter all = {0};
    struct audit_entry *got;
    size_t n = newest(e, &all, &got);
    assert_int_equal(n, 3);
    audit_entry_list_free(got, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_zero_keeps_everything, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
