/* Unit tests for src/sources/github.c: a releases page -> what to ingest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "sources/github.h"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *root = json_loads(text, JSON_DECODE_ANY, &err);
    if (!root)
        fail_msg("bad test JSON at line %d: %s", err.line, err.text);
    return root;
}

static const struct github_rules rules = {
    .asset_glob = "firmware*.bin", .default_channel = "stable", .prerelease_channel = "beta"};

/* A page as the API lists it, newest first, trimmed to the fields otad reads plus a few. */
static const char *const page =
    "["
    " {\"id\": 5, \"tag_name\": \"v2.0.0\", \"draft\": true, \"prerelease\": false,"
    "  \"assets\": [{\"id\": 50, \"name\": \"firmware.bin\", \"size\": 1000, \"state\": "
    "\"uploaded\"}]},"
    " {\"id\": 4, \"tag_name\": \"v1.1.0-rc.1\", \"draft\": false, \"prerelease\": true, \"body\": "
    "\"rc\","
    "  \"assets\": [{\"id\": 40, \"name\": \"firmware-d1.bin\", \"size\": 900, \"state\": "
    "\"uploaded\"}]},"
    " {\"id\": 3, \"tag_name\": \"v1.0.0\", \"draft\": false, \"prerelease\": false,"
    "  \"body\": \"first release\","
    "  \"assets\": [{\"id\": 30, \"name\": \"README.txt\", \"size\": 5, \"state\": \"uploaded\"},"
    "              {\"id\": 31, \"name\": \"firmware.bin\", \"size\": 800, \"state\": \"uploaded\","
    "               \"url\": \"https://api.github.com/repos/a/b/releases/assets/31\"},"
    "              {\"id\": 32, \"name\": \"firmware.elf\", \"size\": 4000, \"state\": "
    "\"uploaded\"}]},"
    " {\"id\": 2, \"tag_name\": \"v0.9.0\", \"draft\": false, \"prerelease\": false,"
    "  \"assets\": [{\"id\": 20, \"name\": \"firmware.bin\", \"size\": 700, \"state\": "
    "\"uploaded\"}]}"
    "]";

static void test_plan_page(void **state)
{
    json_t *root = load(page);
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t n = 99;
    assert_int_equal(github_plan(root, &rules, picks, &n, NULL), 0);
    assert_int_equal(n, 2);
    /* Newest first: the pre-release (the draft above it is skipped), then the release. */
    assert_int_equal(picks[0].status, GITHUB_PICK_READY);
    assert_string_equal(picks[0].tag, "v1.1.0-rc.1");
    assert_string_equal(picks[0].version, "1.1.0-rc.1");
    assert_string_equal(picks[0].channel, "beta");
    assert_true(picks[0].prerelease);
    assert_int_equal(picks[0].asset.id, 40);
    assert_string_equal(picks[0].notes, "rc");
    /* assets[0] is README.txt: the glob picks firmware.bin, not the first asset, not the .elf. */
    assert_int_equal(picks[1].status, GITHUB_PICK_READY);
    assert_string_equal(picks[1].tag, "v1.0.0");
    assert_string_equal(picks[1].version, "1.0.0");
    assert_string_equal(picks[1].channel, "stable");
    assert_false(picks[1].prerelease);
    assert_int_equal(picks[1].asset.id, 31);
    assert_string_equal(picks[1].asset.name, "firmware.bin");
    assert_int_equal(picks[1].asset.size, 800);
    assert_string_equal(picks[1].notes, "first release");
    json_decref(root);
}

static void test_plan_prereleases_ignored(void **state)
{
    json_t *root = load(page);
    struct github_rules r = rules;
    r.prerelease_channel = "";
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t n;
    assert_int_equal(github_plan(root, &r, picks, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(picks[0].tag, "v1.0.0");
    json_decref(root);
}

static void test_plan_one_channel_for_both(void **state)
{
    /* Pre-releases mapped to the default channel: only the newest of all counts. */
    json_t *root = load(page);
    struct github_rules r = rules;
    r.prerelease_channel = "stable";
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t n;
    assert_int_equal(github_plan(root, &r, picks, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(picks[0].tag, "v1.1.0-rc.1");
    json_decref(root);
}

static void test_plan_latest_object(void **state)
{
    json_t *root =
        load("{\"id\": 3, \"tag_name\": \"1.4\", \"draft\": false, \"prerelease\": false,"
             " \"body\": null,"
             " \"assets\": [{\"id\": 7, \"name\": \"firmware.bin\", \"size\": 64}]}");
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t n;
    assert_int_equal(github_plan(root, &rules, picks, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(picks[0].status, GITHUB_PICK_READY);
    assert_string_equal(picks[0].version, "1.4");
    assert_null(picks[0].notes); /* "body": null */
    assert_true(github_page_has_tag(root, "1.4"));
    assert_false(github_page_has_tag(root, "1.5"));
    json_decref(root);
}

static void test_plan_asset_problems(void **state)
{
    static const struct {
        const char *assets;
        enum github_pick_status status;
    } cases[] = {
        {"[]", GITHUB_PICK_NO_ASSET},
        {"[{\"id\": 1, \"name\": \"source.zip\", \"size\": 9}]", GITHUB_PICK_NO_ASSET},
        /* An upload in progress is not there yet. */
        {"[{\"id\": 1, \"name\": \"firmware.bin\", \"size\": 9, \"state\": \"new\"}]",
         GITHUB_PICK_NO_ASSET},
        /* Malformed assets are not candidates. */
        {"[{\"id\": \"1\", \"name\": \"firmware.bin\", \"size\": 9}]", GITHUB_PICK_NO_ASSET},
        {"[{\"id\": 1, \"name\": \"firmware.bin\", \"size\": -1}]", GITHUB_PICK_NO_ASSET},
        {"[{\"id\": 1, \"name\": \"firmware.bin\"}]", GITHUB_PICK_NO_ASSET},
        /* Two matches are refused, never guessed. */
        {"[{\"id\": 1, \"name\": \"firmware-a.bin\", \"size\": 9},"
         " {\"id\": 2, \"name\": \"firmware-b.bin\", \"size\": 9}]",
         GITHUB_PICK_AMBIGUOUS},
        {"[{\"id\": 1, \"name\": \"firmware-a.bin\", \"size\": 9},"
         " {\"id\": 2, \"name\": \"firmware-b.bin\", \"size\": 9, \"state\": \"starter\"}]",
         GITHUB_PICK_READY},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char text[512];
        snprintf(text, sizeof(text), "[{\"tag_name\": \"v1\", \"assets\": %s}]", cases[i].assets);
        json_t *root = load(text);
        struct github_pick picks[GITHUB_PICKS_MAX];
        size_t n;
        assert_int_equal(github_plan(root, &rules, picks, &n, NULL), 0);
        assert_int_equal(n, 1);
        if (picks[0].status != cases[i].status)
            fail_msg("case %zu: status %d, expected %d", i, picks[0].status, cases[i].status);
        if (cases[i].status != GITHUB_PICK_READY)
            assert_true(picks[0].detail[0] != 0);
        json_decref(root);
    }
}

static void test_plan_skips_and_refusals(void **state)
{
    struct reason why = {""};
    struct github_pick picks[GITHUB_PICKS_MAX];
    size_t n;
    json_t *root = load("\"not a list\"");
    assert_int_equal(github_plan(root, &rules, picks, &n, &why), -EBADMSG);
    assert_true(why.text[0] != 0);
    json_decref(root);

    /* No tag, an empty tag, a non-object: skipped, the next release counts. */
    root = load("[{\"assets\": []}, {\"tag_name\": \"\"}, 7, {\"tag_name\": 3},"
                " {\"tag_name\": \"v3\", \"assets\": []}]");
    assert_int_equal(github_plan(root, &rules, picks, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(picks[0].tag, "v3");
    json_decref(root);

    /* A tag longer than a version may be: refused with a reason, cut to fit. */
    char text[600], tag[300];
    memset(tag, '9', 200);
    tag[200] = 0;
    snprintf(text, sizeof(text), "[{\"tag_name\": \"%s\", \"assets\": []}]", tag);
    root = load(text);
    assert_int_equal(github_plan(root, &rules, picks, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(picks[0].status, GITHUB_PICK_BAD_TAG);
    assert_int_equal(strlen(picks[0].tag), LIMIT_GITHUB_TAG_BYTES);
    json_decref(root);

    /* Nothing but drafts: nothing to do. */
    root = load("[{\"tag_name\": \"v9\", \"draft\": true, \"assets\": []}]");
    assert_int_equal(github_plan(root, &rules, picks, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_true(github_page_has_tag(root, "v9"));
    json_decref(root);
}

static void test_tag_version(void **state)
{
    static const struct {
        const char *tag;
        int r;
        const char *version;
    } cases[] = {
        {"v1.2.3", 0, "1.2.3"},
        {"V1.2.3", 0, "1.2.3"},
        {"1.2.3", 0, "1.2.3"},
        {"v1.2.3-rc.1+b7", 0, "1.2.3-rc.1+b7"},
        {"vnext", 0, "vnext"}, /* 'v' stays unless a digit follows */
        {"v", 0, "v"},
        {"nightly-2024-05-01", 0, "nightly-2024-05-01"},
        {"release/1.0", 0, "release-1.0"},
        {"a b#c?d%e", 0, "a-b-c-d-e"},
        {"caf\xc3\xa9", 0, "caf--"},
        {"", -EINVAL, NULL},
        {"v1234567890123456789012345678901234567890123456789012345678901234", 0,
         "1234567890123456789012345678901234567890123456789012345678901234"},
        {"12345678901234567890123456789012345678901234567890123456789012345", -ENAMETOOLONG, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char out[LIMIT_RELEASE_VERSION_BYTES + 1] = "untouched";
        int r = github_tag_version(cases[i].tag, out, sizeof(out));
        if (r != cases[i].r)
            fail_msg("tag \"%s\": %d, expected %d", cases[i].tag, r, cases[i].r);
        if (r == 0)
            assert_string_equal(out, cases[i].version);
    }
}

static void test_api_url(void **state)
{
    static const struct {
        const char *in;
        int r;
        const char *out;
    } cases[] = {
        {"https://api.github.com", 0, "https://api.github.com"},
        {"https://ghe.example.com/api/v3/", 0, "https://ghe.example.com/api/v3"},
        {"http://127.0.0.1:8123", 0, "http://127.0.0.1:8123"},
        {"http://localhost:1/", 0, "http://localhost:1"},
        {"http://[::1]:80", 0, "http://[::1]:80"},
        {"http://api.github.com", -EINVAL, NULL}, /* cleartext across a network */
        {"http://127.0.0.10:1", -EINVAL, NULL},
        {"ftp://api.github.com", -EINVAL, NULL},
        {"https://user:pw@api.github.com", -EINVAL, NULL},
        {"https://api.github.com/?x=1", -EINVAL, NULL},
        {"https://", -EINVAL, NULL},
        {"https://[::1", -EINVAL, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char out[LIMIT_GITHUB_API_URL_BYTES + 1];
        struct reason why = {""};
        int r = github_api_url_check(cases[i].in, out, sizeof(out), &why);
        if (r != cases[i].r)
            fail_msg("\"%s\": %d, expected %d", cases[i].in, r, cases[i].r);
        if (r == 0)
            assert_string_equal(out, cases[i].out);
        else
            assert_true(why.text[0] != 0);
    }
    assert_true(github_url_is_http("http://127.0.0.1:1"));
    assert_false(github_url_is_http("https://api.github.com"));
}

static void test_repository(void **state)
{
    static const struct {
        const char *in;
        int r;
        const char *owner, *repo;
    } cases[] = {
        {"acme/door-fw", 0, "acme", "door-fw"},
        {"Acme-Corp/Door_FW.v2", 0, "Acme-Corp", "Door_FW.v2"},
        {"acme", -EINVAL, NULL, NULL},
        {"acme/", -EINVAL, NULL, NULL},
        {"/door", -EINVAL, NULL, NULL},
        {"-acme/door", -EINVAL, NULL, NULL},
        {"ac_me/door", -EINVAL, NULL, NULL},
        {"acme/door/x", -EINVAL, NULL, NULL},
        {"acme/..", -EINVAL, NULL, NULL},
        {"acme/do or", -EINVAL, NULL, NULL},
        {"a234567890123456789012345678901234567890/x", -EINVAL, NULL, NULL}, /* 40 > 39 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char owner[LIMIT_GITHUB_OWNER_BYTES + 1], repo[LIMIT_GITHUB_REPO_BYTES + 1];
        int r = github_repository_parse(cases[i].in, owner, repo, NULL);
        if (r != cases[i].r)
            fail_msg("\"%s\": %d, expected %d", cases[i].in, r, cases[i].r);
        if (r == 0) {
            assert_string_equal(owner, cases[i].owner);
            assert_string_equal(repo, cases[i].repo);
        }
    }
}

static void test_ascii_safe(void **state)
{
    char s[] = "ok \x01\xc3\xa9\x7f.";
    github_ascii_safe(s);
    assert_string_equal(s, "ok ????.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_page),
        cmocka_unit_test(test_plan_prereleases_ignored),
        cmocka_unit_test(test_plan_one_channel_for_both),
        cmocka_unit_test(test_plan_latest_object),
        cmocka_unit_test(test_plan_asset_problems),
        cmocka_unit_test(test_plan_skips_and_refusals),
        cmocka_unit_test(test_tag_version),
        cmocka_unit_test(test_api_url),
        cmocka_unit_test(test_repository),
        cmocka_unit_test(test_ascii_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
