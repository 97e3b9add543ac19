/*
 * Unit tests for src/sources/secrets.c: reading a token or a webhook secret
 * from a file or a variable, and the cache of webhook secrets that every
 * delivery is checked against: each secret read once, again only when its
 * file changes, forgotten with its source, one HMAC per distinct secret.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "core/util.h"
#include "core/digest.h"
#include "sources/secrets.h"

#define BODY "{\"action\":\"published\"}"

struct env {
    char dir[64];
    struct config config;
    char *envp[4];
    struct secret_cache *cache;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(fixture_tmpdir(e->dir), 0);
    assert_int_equal(fixture_config(&e->config, e->dir), 0);
    e->envp[0] = "HOOK_SECRET=from the environment";
    e->envp[1] = "GH_TOKEN=ghp_tok en";
    e->envp[2] = "EMPTY=  \n";
    e->config.envp = e->envp;
    assert_int_equal(secret_cache_new(&e->config, &e->cache), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    secret_cache_free(e->cache);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static void write_file(const struct env *e, const char *name, const char *text, char *ret_path)
{
    snprintf(ret_path, 128, "%s/%s", e->dir, name);
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ret_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, ret_path), 0); /* a new inode: a change the cache must see */
}

/* X-Hub-Signature-256 of BODY under SECRET. */
static void sign(const char *secret, char out[80])
{
    uint8_t mac[DIGEST_SHA256_BYTES];
    char hex[2 * DIGEST_SHA256_BYTES + 1];
    digest_hmac_sha256(secret, strlen(secret), BODY, strlen(BODY), mac);
    hex_encode(mac, sizeof(mac), hex);
    snprintf(out, 80, "sha256=%s", hex);
}

static void row_with(struct source_row *row, int64_t id, const char *file, const char *env)
{
    memset(row, 0, sizeof(*row));
    row->source.id = id;
    str_copy(row->source.secret_file, sizeof(row->source.secret_file), file);
    str_copy(row->source.secret_env, sizeof(row->source.secret_env), env);
}

static size_t verify(struct env *e, const struct source_row *rows, size_t n, const char *secret,
                     bool *matched)
{
    char sig[80];
    sign(secret, sig);
    struct secret_verdict v;
    assert_int_equal(secret_cache_verify(e->cache, rows, n, (const uint8_t *)BODY, strlen(BODY),
                                         sig, matched, &v),
                     0);
    return v.matched;
}

static void test_read(void **state)
{
    struct env *e = *state;
    char path[128], out[64];
    struct reason why = {""};
    write_file(e, "token", "ghp_abc\r\n\n", path);
    assert_int_equal(
        sources_secret_read(&e->config, path, "", true, out, sizeof(out), "token", &why), 7);
    assert_string_equal(out, "ghp_abc");
    assert_int_equal(sources_secret_read(&e->config, "", "HOOK_SECRET", false, out, sizeof(out),
                                         "webhook secret", &why),
                     20);
    assert_string_equal(out, "from the environment");
    assert_int_equal(sources_secret_read(&e->config, "", "", true, out, sizeof(out), "token", &why),
                     -ENOENT);

    static const struct {
        const char *file, *env;
        bool token;
        size_t size;
        int r;
        const char *reason_part;
    } bad[] = {
        {"", "NOT_SET", true, 64, -EINVAL, "variable NOT_SET is not set"},
        {"", "EMPTY", false, 64, -EINVAL, "is empty"},
        {"", "GH_TOKEN", true, 64, -EINVAL, "blanks or control characters"},
        {"", "HOOK_SECRET", false, 8, -E2BIG, "longer than 7 bytes"},
        {"/nonexistent/otad-secret", "", false, 64, -ENOENT, "cannot read the webhook secret"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int r = sources_secret_read(&e->config, bad[i].file, bad[i].env, bad[i].token, out,
                                    bad[i].size, bad[i].token ? "token" : "webhook secret", &why);
        if (r != bad[i].r || !strstr(why.text, bad[i].reason_part))
            fail_msg("case %zu: %d \"%s\"", i, r, why.text);
        assert_null(strstr(why.text, "from the environment")); /* where, never what */
        assert_null(strstr(why.text, "ghp_tok"));
    }
}

static void test_each_secret_is_read_once(void **state)
{
    struct env *e = *state;
    char path[128];
    write_file(e, "hook", "s3cret\n", path);
    struct source_row rows[3];
    row_with(&rows[0], 1, path, "");
    row_with(&rows[1], 2, "", ""); /* no secret */
    row_with(&rows[2], 3, path, "");
    bool matched[3];
    struct secret_cache_stats st;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(verify(e, rows, 3, "s3cret", matched), 2);
        assert_true(matched[0] && !matched[1] && matched[2]);
        assert_int_equal(verify(e, rows, 3, "wrong", matched), 0);
        assert_true(!matched[0] && !matched[1] && !matched[2]);
    }
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.loads, 1); /* one file, a hundred deliveries, two sources */
    assert_int_equal(st.hmacs, 100);
    assert_int_equal(st.held, 1);

    /* The file changes: read again, the new secret verifies, the old one no longer. */
    write_file(e, "hook", "rotated\n", path);
    assert_int_equal(verify(e, rows, 3, "s3cret", matched), 0);
    assert_int_equal(verify(e, rows, 3, "rotated", matched), 2);
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.loads, 2);

    /* The sources go (removed): their secret is forgotten. */
    assert_int_equal(verify(e, &rows[1], 1, "rotated", matched), 0);
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.held, 0);
}

static void test_one_hmac_per_distinct_secret(void **state)
{
    struct env *e = *state;
    enum { N = 40 };
    struct source_row rows[N];
    char paths[N][128];
    bool matched[N];
    /* Forty files, each its own reference, holding two distinct secrets; and a variable. */
    for (int i = 0; i < N - 1; i++) {
        char name[16];
        snprintf(name, sizeof(name), "hook-%d", i);
        write_file(e, name, i % 2 ? "odd\n" : "even\n", paths[i]);
        row_with(&rows[i], i + 1, paths[i], "");
    }
    row_with(&rows[N - 1], N, "", "HOOK_SECRET");
    assert_int_equal(verify(e, rows, N, "odd", matched), 19);
    struct secret_cache_stats st;
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.loads, N);
    assert_int_equal(st.hmacs, 3); /* "even", "odd", the variable's */
    for (int i = 0; i < N; i++)
        assert_int_equal(matched[i], i < N - 1 && i % 2 == 1);
    assert_int_equal(verify(e, rows, N, "from the environment", matched), 1);
    assert_true(matched[N - 1]);
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.loads, N);
    assert_int_equal(st.hmacs, 6);

    /* Without a signature nothing matches and no HMAC is computed. */
    struct secret_verdict v;
    assert_int_equal(
        secret_cache_verify(e->cache, rows, N, (const uint8_t *)BODY, 3, NULL, matched, &v), 0);
    assert_int_equal(v.matched, 0);
    assert_int_equal(v.with_secret, N);
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.hmacs, 6);
}

static void test_unreadable_secrets_match_nothing(void **state)
{
    struct env *e = *state;
    char path[128], good[128];
    snprintf(path, sizeof(path), "%s/not-yet", e->dir);
    write_file(e, "good", "s3cret\n", good);
    struct source_row rows[3];
    row_with(&rows[0], 1, path, "");
    row_with(&rows[1], 2, "", "NOT_SET");
    row_with(&rows[2], 3, good, "");
    bool matched[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(verify(e, rows, 3, "s3cret", matched), 1);
        assert_true(!matched[0] && !matched[1] && matched[2]);
    }
    struct secret_cache_stats st;
    secret_cache_stats(e->cache, &st);
    assert_int_equal(st.loads, 2); /* the variable once, the good file once; never the missing */
    /* The missing file appears: it is read at the next delivery. */
    write_file(e, "not-yet", "s3cret", path);
    assert_int_equal(verify(e, rows, 3, "s3cret", matched), 2);
    assert_true(matched[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_secret_is_read_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_hmac_per_distinct_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_secrets_match_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
