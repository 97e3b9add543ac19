/*
 * Unit tests for src/service/sessions.c on a real data folder, with a clock
 * the test moves: sign-in from a token, the cookie's shape, scope, the idle
 * and the absolute end (and that use keeps a session alive), sign-out, an
 * admin's revocation, a revoked token, the bound on live sessions per
 * token, the derived CSRF token, and the sign-in guard's count per address
 * and minute.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "service/service.h"
#include "service/service_fleet.h"

#define IDLE_S 3600
#define MAX_S  (3 * 86400)

struct env {
    char dir[64];
    struct config config;
    struct service *svc;
    int64_t now_ms;
    char admin[SERVICE_TOKEN_LEN + 1], reader[SERVICE_TOKEN_LEN + 1];
    int64_t admin_id;
};

static int64_t test_clock(void *ctx)
{
    return ((struct env *)ctx)->now_ms;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0 || fixture_config(&e->config, e->dir) < 0)
        return -1;
    e->config.session_idle_s = IDLE_S;
    e->config.session_max_s = MAX_S;
    if (service_open(&e->config, SERVICE_LOCAL, &e->svc) < 0)
        return -1;
    e->now_ms = 1700000000000; /* on a minute's start: the guard's minutes are plain */
    service_set_clock(e->svc, test_clock, e);
    struct reason why;
    if (service_token_create(e->svc, "ops", TOKEN_SCOPE_ADMIN, e->admin, &e->admin_id, &why) < 0 ||
        service_token_create(e->svc, "viewer", TOKEN_SCOPE_READ, e->reader, NULL, &why) < 0)
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

static int sign_in(struct env *e, const char *token, const char *address,
                   char cookie[SERVICE_SESSION_COOKIE_LEN + 1], struct session_info *info)
{
    struct reason why = {""};
    return service_session_create(e->svc, token, address, "test/1.0", cookie, info, &why);
}

static int check(struct env *e, const char *cookie, enum token_scope needed)
{
    struct session_info info;
    struct reason why = {""};
    return service_session_check(e->svc, cookie, needed, &info, &why);
}

static void test_sign_in_gives_a_random_cookie_standing_for_the_token(void **state)
{
    struct env *e = *state;
    char c1[SERVICE_SESSION_COOKIE_LEN + 1], c2[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", c1, &info), 0);
    assert_int_equal(strlen(c1), SERVICE_SESSION_COOKIE_LEN);
    assert_int_equal(strspn(c1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     SERVICE_SESSION_COOKIE_LEN);
    assert_string_equal(info.token_name, "ops");
    assert_int_equal(info.scope, TOKEN_SCOPE_ADMIN);
    assert_int_equal(info.expires_ms, e->now_ms + IDLE_S * 1000);
    assert_int_equal(strlen(info.csrf), SERVICE_SESSION_CSRF_LEN);
    assert_true(service_session_csrf_ok(c1, info.csrf));
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", c2, &info), 0);
    assert_string_not_equal(c1, c2);
    assert_int_equal(check(e, c1, TOKEN_SCOPE_ADMIN), 0);
    assert_int_equal(check(e, c2, TOKEN_SCOPE_ADMIN), 0);

    struct session_record *list = NULL;
    size_t n = 0;
    assert_int_equal(service_session_list(e->svc, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].token_name, "ops");
    assert_string_equal(list[0].address, "192.0.2.1");
    assert_string_equal(list[0].user_agent, "test/1.0");
    free(list);
}

static void test_bad_tokens_and_cookies_are_refused(void **state)
{
    struct env *e = *state;
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    char unknown[SERVICE_TOKEN_LEN + 1] = "otad_";
    memset(unknown + 5, 'a', 64);
    unknown[SERVICE_TOKEN_LEN] = 0;
    assert_int_equal(sign_in(e, unknown, "192.0.2.1", cookie, &info), -EPERM);
    assert_int_equal(sign_in(e, "", "192.0.2.1", cookie, &info), -EPERM);
    assert_int_equal(sign_in(e, NULL, "192.0.2.1", cookie, &info), -EPERM);
    assert_int_equal(check(e, NULL, TOKEN_SCOPE_READ), -EPERM);
    assert_int_equal(check(e, "short", TOKEN_SCOPE_READ), -EPERM);
    assert_int_equal(check(e, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", TOKEN_SCOPE_READ),
                     -EPERM);
    assert_int_equal(check(e, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", TOKEN_SCOPE_READ),
                     -EPERM);
}

static void test_a_session_has_its_tokens_scope(void **state)
{
    struct env *e = *state;
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    assert_int_equal(sign_in(e, e->reader, "192.0.2.1", cookie, &info), 0);
    assert_int_equal(info.scope, TOKEN_SCOPE_READ);
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_READ), 0);
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_PUBLISH), -EACCES);
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_ADMIN), -EACCES);
}

static void test_idle_sessions_end_and_use_keeps_them_alive(void **state)
{
    struct env *e = *state;
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", cookie, &info), 0);
    /* Used just before the idle end: alive, and the idle end moves. */
    e->now_ms += IDLE_S * 1000 - 1;
    assert_int_equal(
        service_session_check(e->svc, cookie, TOKEN_SCOPE_READ, &info, &(struct reason){""}), 0);
    assert_int_equal(info.expires_ms, e->now_ms + IDLE_S * 1000);
    e->now_ms += IDLE_S * 1000 - 1;
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_READ), 0);
    /* Unused for the whole idle time: ended, and stays ended. */
    e->now_ms += IDLE_S * 1000;
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_READ), -EPERM);
    e->now_ms -= IDLE_S * 1000;
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_READ), -EPERM);
}

static void test_sessions_end_at_their_maximum_age_however_used(void **state)
{
    struct env *e = *state;
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    int64_t start = e->now_ms;
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", cookie, &info), 0);
    while (e->now_ms + IDLE_S * 500 < start + MAX_S * 1000) {
        e->now_ms += IDLE_S * 500;
        assert_int_equal(
            service_session_check(e->svc, cookie, TOKEN_SCOPE_READ, &info, &(struct reason){""}),
            0);
        /* Near the end, the expiry is the absolute one, not a full idle time away. */
        int64_t idle_end = e->now_ms + IDLE_S * 1000, max_end = start + MAX_S * 1000;
        assert_int_equal(info.expires_ms, idle_end < max_end ? idle_end : max_end);
    }
    e->now_ms = start + MAX_S * 1000;
    assert_int_equal(check(e, cookie, TOKEN_SCOPE_READ), -EPERM);
}

static void test_sign_out_and_admin_revocation_end_a_session(void **state)
{
    struct env *e = *state;
    char a[SERVICE_SESSION_COOKIE_LEN + 1], b[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info ia, ib;
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", a, &ia), 0);
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", b, &ib), 0);
    assert_int_equal(service_session_end(e->svc, a), 0);
    assert_int_equal(check(e, a, TOKEN_SCOPE_READ), -EPERM);
    assert_int_equal(service_session_end(e->svc, a), -ENOENT);
    assert_int_equal(check(e, b, TOKEN_SCOPE_READ), 0);
    struct reason why = {""};
    assert_int_equal(service_session_revoke(e->svc, ib.id, &why), 0);
    assert_int_equal(check(e, b, TOKEN_SCOPE_READ), -EPERM);
    assert_int_equal(service_session_revoke(e->svc, ib.id, &why), -ENOENT);
}

static void test_revoking_the_token_ends_its_sessions_at_once(void **state)
{
    struct env *e = *state;
    char a[SERVICE_SESSION_COOKIE_LEN + 1], r[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", a, &info), 0);
    assert_int_equal(sign_in(e, e->reader, "192.0.2.1", r, &info), 0);
    struct reason why = {""};
    assert_int_equal(service_token_revoke(e->svc, e->admin_id, &why), 0);
    assert_int_equal(check(e, a, TOKEN_SCOPE_READ), -EPERM);
    assert_int_equal(check(e, r, TOKEN_SCOPE_READ), 0);
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", a, &info), -EPERM);
}

static void test_the_oldest_session_past_the_bound_ends(void **state)
{
    struct env *e = *state;
    char cookies[LIMIT_SESSIONS_PER_TOKEN + 1][SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    for (unsigned i = 0; i <= LIMIT_SESSIONS_PER_TOKEN; i++) {
        assert_int_equal(sign_in(e, e->admin, "192.0.2.1", cookies[i], &info), 0);
        e->now_ms += 1000;
    }
    assert_int_equal(check(e, cookies[0], TOKEN_SCOPE_READ), -EPERM);
    for (unsigned i = 1; i <= LIMIT_SESSIONS_PER_TOKEN; i++)
        assert_int_equal(check(e, cookies[i], TOKEN_SCOPE_READ), 0);
    /* Another token's sessions do not count. */
    char other[SERVICE_SESSION_COOKIE_LEN + 1];
    assert_int_equal(sign_in(e, e->reader, "192.0.2.1", other, &info), 0);
    assert_int_equal(check(e, cookies[1], TOKEN_SCOPE_READ), 0);
}

static void test_the_csrf_token_is_the_sessions_own(void **state)
{
    struct env *e = *state;
    char a[SERVICE_SESSION_COOKIE_LEN + 1], b[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info ia, ib;
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", a, &ia), 0);
    assert_int_equal(sign_in(e, e->admin, "192.0.2.1", b, &ib), 0);
    assert_true(service_session_csrf_ok(a, ia.csrf));
    assert_false(service_session_csrf_ok(a, ib.csrf));
    assert_false(service_session_csrf_ok(a, NULL));
    assert_false(service_session_csrf_ok(a, ""));
    assert_false(service_session_csrf_ok(NULL, ia.csrf));
    char cut[SERVICE_SESSION_CSRF_LEN + 1];
    memcpy(cut, ia.csrf, sizeof(cut));
    cut[SERVICE_SESSION_CSRF_LEN - 1] ^= 1;
    assert_false(service_session_csrf_ok(a, cut));
    cut[SERVICE_SESSION_CSRF_LEN - 1] = 0;
    assert_false(service_session_csrf_ok(a, cut));
    /* Derived, not stored: the same after a fresh look-up. */
    struct session_info again;
    assert_int_equal(
        service_session_check(e->svc, a, TOKEN_SCOPE_READ, &again, &(struct reason){""}), 0);
    assert_string_equal(again.csrf, ia.csrf);
}

static void test_bad_sign_ins_are_counted_per_address_and_minute(void **state)
{
    struct env *e = *state;
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    for (unsigned i = 0; i < LIMIT_SIGNIN_FAILURES_PER_MINUTE; i++)
        assert_int_equal(sign_in(e, "otad_nope", "198.51.100.7", cookie, &info), -EPERM);
    /* The address is refused now, even with a good token: nothing is learned. */
    assert_int_equal(sign_in(e, e->admin, "198.51.100.7", cookie, &info), -EBUSY);
    assert_int_equal(sign_in(e, "otad_nope", "198.51.100.7", cookie, &info), -EBUSY);
    /* Another address is not. */
    assert_int_equal(sign_in(e, e->admin, "198.51.100.8", cookie, &info), 0);
    /* Good sign-ins do not count. */
    for (unsigned i = 0; i < 2 * LIMIT_SIGNIN_FAILURES_PER_MINUTE; i++)
        assert_int_equal(sign_in(e, e->reader, "198.51.100.9", cookie, &info), 0);
    /* The next minute, it may try again. */
    e->now_ms += 60000;
    assert_int_equal(sign_in(e, e->admin, "198.51.100.7", cookie, &info), 0);
}

/*
 * Addresses that only sign in well take no place in the guard: more of them
 * than it has places never lock out the next one; a full table of failing
 * addresses does not either (the guard fails open, a new address's failure
 * is simply not counted).
 */
static void test_good_addresses_never_fill_the_guard(void **state)
{
    struct env *e = *state;
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1], address[32];
    struct session_info info;
    for (unsigned i = 0; i < LIMIT_SIGNIN_ADDRESSES + 8; i++) {
        snprintf(address, sizeof(address), "2001:db8::%x", i);
        assert_int_equal(sign_in(e, e->reader, address, cookie, &info), 0);
    }
    for (unsigned i = 0; i < LIMIT_SIGNIN_ADDRESSES + 8; i++) {
        snprintf(address, sizeof(address), "2001:db8:1::%x", i);
        assert_int_equal(sign_in(e, "otad_nope", address, cookie, &info), -EPERM);
    }
    assert_int_equal(sign_in(e, e->reader, "203.0.113.1", cookie, &info), 0);
    assert_int_equal(sign_in(e, "otad_nope", "203.0.113.1", cookie, &info), -EPERM);
    assert_int_equal(sign_in(e, e->reader, "203.0.113.1", cookie, &info), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign_in_gives_a_random_cookie_standing_for_the_token,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_tokens_and_cookies_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_session_has_its_tokens_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_sessions_end_and_use_keeps_them_alive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions_end_at_their_maximum_age_however_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sign_out_and_admin_revocation_end_a_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revoking_the_token_ends_its_sessions_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_oldest_session_past_the_bound_ends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_csrf_token_is_the_sessions_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sign_ins_are_counted_per_address_and_minute, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_good_addresses_never_fill_the_guard, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
