/* Unit tests for src/sources/webhook.c: X-Hub-Signature-256 and the release payload. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "core/digest.h"
#include "sources/webhook.h"

/* GitHub's documented test values (validating-webhook-deliveries; docs/reference/stock-clients.md
 * §11.1). */
#define VECTOR_SECRET "It's a Secret to Everybody"
#define VECTOR_BODY   "Hello, World!"
#define VECTOR_HEX    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static bool valid(const char *secret, const char *body, const char *header)
{
    return github_signature_valid((const uint8_t *)secret, strlen(secret), (const uint8_t *)body,
                                  strlen(body), header);
}

static void test_github_test_vector(void **state)
{
    uint8_t mac[DIGEST_SHA256_BYTES];
    char hex[2 * DIGEST_SHA256_BYTES + 1];
    digest_hmac_sha256(VECTOR_SECRET, strlen(VECTOR_SECRET), VECTOR_BODY, strlen(VECTOR_BODY), mac);
    hex_encode(mac, sizeof(mac), hex);
    assert_string_equal(hex, VECTOR_HEX);
    assert_true(valid(VECTOR_SECRET, VECTOR_BODY, "sha256=" VECTOR_HEX));
}

static void test_signature_refusals(void **state)
{
    static const char *const bad[] = {
        "sha256=857107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", /* first nibble
                                                                                    */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18", /* last nibble */
        VECTOR_HEX,                                                                /* no prefix */
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e",    /* short */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e170", /* long */
        "sha256= 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=",
        "",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (valid(VECTOR_SECRET, VECTOR_BODY, bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(valid(VECTOR_SECRET, VECTOR_BODY, NULL));
    /* Hex case does not matter; body and secret do, to the byte. */
    assert_true(valid(VECTOR_SECRET, VECTOR_BODY,
                      "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"));
    assert_false(valid(VECTOR_SECRET, "Hello, World! ", "sha256=" VECTOR_HEX));
    assert_false(valid(VECTOR_SECRET, "hello, World!", "sha256=" VECTOR_HEX));
    assert_false(valid("It's a secret to everybody", VECTOR_BODY, "sha256=" VECTOR_HEX));
    assert_false(valid("", VECTOR_BODY, "sha256=" VECTOR_HEX));
}

static const char *const event_json =
    "{\"action\": \"published\", \"release\": {\"id\": 1, \"tag_name\": \"v1.2.0\","
    " \"draft\": false, \"prerelease\": true, \"assets\": []},"
    " \"repository\": {\"name\": \"door-fw\", \"full_name\": \"acme/door-fw\"},"
    " \"sender\": {\"login\": \"ci\"}}";

static void test_event_json(void **state)
{
    struct github_event ev;
    assert_int_equal(
        github_event_parse((const uint8_t *)event_json, strlen(event_json), false, &ev, NULL), 0);
    assert_string_equal(ev.action, "published");
    assert_string_equal(ev.repository, "acme/door-fw");
    assert_string_equal(ev.tag, "v1.2.0");
    assert_false(ev.draft);
    assert_true(ev.prerelease);
    assert_true(github_event_actionable(&ev));
}

static void test_event_form_encoded(void **state)
{
    /* application/x-www-form-urlencoded: payload=<percent-encoded JSON>, '+' for blanks. */
    const char *body =
        "payload=%7B%22action%22%3A+%22released%22%2C+%22release%22%3A+%7B%22tag_name%22%3A+"
        "%22v2%22%7D%2C+%22repository%22%3A+%7B%22full_name%22%3A+%22acme%2Fdoor-fw%22%7D%7D";
    struct github_event ev;
    assert_int_equal(github_event_parse((const uint8_t *)body, strlen(body), true, &ev, NULL), 0);
    assert_string_equal(ev.action, "released");
    assert_string_equal(ev.repository, "acme/door-fw");
    assert_string_equal(ev.tag, "v2");
    assert_false(ev.prerelease);

    static const char *const bad[] = {"payload=%7", "payload=%zz", "other=1", ""};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct reason why = {""};
        assert_int_equal(
            github_event_parse((const uint8_t *)bad[i], strlen(bad[i]), true, &ev, &why), -EBADMSG);
        assert_true(why.text[0] != 0);
    }
}

static void test_event_malformed(void **state)
{
    static const char *const bad[] = {
        "not json",
        "[]",
        "{\"release\": {\"tag_name\": \"v1\"}, \"repository\": {\"full_name\": \"a/b\"}}",
        "{\"action\": \"published\", \"repository\": {\"full_name\": \"a/b\"}}",
        "{\"action\": \"published\", \"release\": {\"tag_name\": \"v1\"}}",
        "{\"action\": \"published\", \"release\": {\"tag_name\": 1}, \"repository\": "
        "{\"full_name\": \"a/b\"}}",
        "{\"action\": \"published-and-a-very-long-action-name-indeed\", \"release\": "
        "{\"tag_name\": \"v1\"}, \"repository\": {\"full_name\": \"a/b\"}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct github_event ev;
        struct reason why = {""};
        int r = github_event_parse((const uint8_t *)bad[i], strlen(bad[i]), false, &ev, &why);
        if (r != -EBADMSG)
            fail_msg("case %zu: %d", i, r);
        assert_true(why.text[0] != 0);
    }
}

static void test_actionable(void **state)
{
    static const struct {
        const char *action;
        bool draft, acted;
    } cases[] = {
        {"published", false, true}, {"released", false, true},     {"prereleased", false, true},
        {"published", true, false}, {"created", false, false},     {"edited", false, false},
        {"deleted", false, false},  {"unpublished", false, false}, {"Published", false, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct github_event ev = {.draft = cases[i].draft};
        str_copy(ev.action, sizeof(ev.action), cases[i].action);
        if (github_event_actionable(&ev) != cases[i].acted)
            fail_msg("%s (draft %d)", cases[i].action, cases[i].draft);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github_test_vector), cmocka_unit_test(test_signature_refusals),
        cmocka_unit_test(test_event_json),         cmocka_unit_test(test_event_form_encoded),
        cmocka_unit_test(test_event_malformed),    cmocka_unit_test(test_actionable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
