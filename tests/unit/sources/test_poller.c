/*
 * Unit tests for src/sources/poller.c and src/sources/dispatch.c: the
 * poller thread of SOURCES_SERVING and what a webhook delivery makes it do,
 * against a fake GitHub on 127.0.0.1 (loopback.h). No sleeping: the tests
 * wait for the poller with sources_poll_settle, which returns once a whole
 * round has run.
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

#include "core/util.h"
#include "env.h"
#include "core/digest.h"

#define SECRET    "unit hook secret"
#define SETTLE_MS 10000

struct fake {
    bool released; /* the release v1.0.0 exists */
    uint8_t image[2048];
};

static char *respond(struct loopback *lb, const char *head, size_t *ret_len)
{
    struct fake *f = lb->user;
    char page[512], location[128];
    if (strncmp(head, "GET /repos/acme/door/releases?", 30) == 0) {
        int n = snprintf(page, sizeof(page),
                         f->released ? "[{\"tag_name\":\"v1.0.0\",\"assets\":[{\"id\":7,\"name\":"
                                       "\"firmware.bin\",\"size\":%zu,\"state\":\"uploaded\"}]}]"
                                     : "[]",
                         sizeof(f->image));
        return loopback_reply(200, "", page, (size_t)n, ret_len);
    }
    if (strncmp(head, "GET /repos/acme/door/releases/assets/7 ", 39) == 0) {
        snprintf(location, sizeof(location), "Location: http://127.0.0.1:%u/storage/7\r\n",
                 lb->port);
        return loopback_reply(302, location, "", 0, ret_len);
    }
    if (strncmp(head, "GET /storage/7 ", 15) == 0)
        return loopback_reply(200, "", f->image, sizeof(f->image), ret_len);
    return loopback_reply(404, "", "", 0, ret_len);
}

struct env {
    struct sources_env base;
    struct fake fake;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    fixture_esp8266_image(e->fake.image, sizeof(e->fake.image), 4, 7);
    sources_env_open(&e->base, SOURCES_SERVING, respond, &e->fake);
    char secret[128];
    snprintf(secret, sizeof(secret), "%s/hook-secret", e->base.dir);
    FILE *f = fopen(secret, "w");
    assert_non_null(f);
    fputs(SECRET "\n", f);
    fclose(f);
    sources_env_add(&e->base, secret);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    sources_env_close(&e->base);
    free(e);
    return 0;
}

static void test_the_poller_syncs_when_due_or_asked(void **state)
{
    struct env *e = *state;
    /* The new source was due at once: one round polls it once. */
    assert_int_equal(sources_poll_settle(e->base.sources, SETTLE_MS), 0);
    assert_int_equal(loopback_count(&e->base.lb), 1);
    /* Not due again before its interval: a round sends nothing. */
    e->fake.released = true;
    assert_int_equal(sources_poll_settle(e->base.sources, SETTLE_MS), 0);
    assert_int_equal(loopback_count(&e->base.lb), 1);
    assert_int_equal(sources_env_releases(&e->base), 0);
    /* Asked (the API's sync): the next round fetches the list, the asset and its bytes. */
    struct reason why = {""};
    assert_int_equal(sources_request_sync(e->base.sources, e->base.id, &why), 0);
    assert_int_equal(sources_poll_settle(e->base.sources, SETTLE_MS), 0);
    assert_int_equal(loopback_count(&e->base.lb), 4);
    assert_int_equal(sources_env_releases(&e->base), 1);
    assert_int_equal(sources_request_sync(e->base.sources, 999, &why), -ENOENT);
}

/* Hands a release event for TAG, signed with SECRET_USED (NULL: unsigned), to the sources. */
static int deliver(struct env *e, const char *action, const char *delivery, const char *secret_used,
                   enum sources_hook_result *ret_result)
{
    char body[256], sig[80], hex[2 * DIGEST_SHA256_BYTES + 1];
    uint8_t mac[DIGEST_SHA256_BYTES];
    snprintf(body, sizeof(body),
             "{\"action\":\"%s\",\"repository\":{\"full_name\":\"acme/door\"},"
             "\"release\":{\"tag_name\":\"v1.0.0\",\"draft\":false,\"prerelease\":false}}",
             action);
    if (secret_used) {
        digest_hmac_sha256(secret_used, strlen(secret_used), body, strlen(body), mac);
        hex_encode(mac, sizeof(mac), hex);
        snprintf(sig, sizeof(sig), "sha256=%s", hex);
    }
    struct sources_delivery d = {.event = "release",
                                 .delivery = delivery,
                                 .signature = secret_used ? sig : NULL,
                                 .remote_addr = "127.0.0.1",
                                 .body = (const uint8_t *)body,
                                 .body_len = strlen(body)};
    struct reason why = {""};
    return sources_webhook(e->base.sources, &d, ret_result, &why);
}

static void test_a_delivery_queues_a_sync(void **state)
{
    struct env *e = *state;
    enum sources_hook_result result;
    assert_int_equal(sources_poll_settle(e->base.sources, SETTLE_MS), 0); /* the first poll */
    e->fake.released = true;
    assert_int_equal(deliver(e, "published", "d-1", "not the secret", &result), -EPERM);
    assert_int_equal(deliver(e, "published", "d-1", NULL, &result), -EPERM);
    assert_int_equal(sources_poll_settle(e->base.sources, SETTLE_MS), 0);
    assert_int_equal(sources_env_releases(&e->base), 0); /* nothing queued by a bad delivery */
    assert_int_equal(deliver(e, "published", "d-2", SECRET, &result), 0);
    assert_int_equal(result, SOURCES_HOOK_QUEUED);
    assert_int_equal(sources_poll_settle(e->base.sources, SETTLE_MS), 0);
    assert_int_equal(sources_env_releases(&e->base), 1);
    /* A replay (the id, or the same signed body under another id) queues nothing. */
    assert_int_equal(deliver(e, "published", "d-2", SECRET, &result), 0);
    assert_int_equal(result, SOURCES_HOOK_DUPLICATE);
    assert_int_equal(deliver(e, "published", "d-3", SECRET, &result), 0);
    assert_int_equal(result, SOURCES_HOOK_DUPLICATE);
    assert_int_equal(deliver(e, "edited", "d-4", SECRET, &result), 0);
    assert_int_equal(result, SOURCES_HOOK_IGNORED);
}

static void test_webhook_bytes_in_flight(void **state)
{
    struct env *e = *state;
    const uint64_t body = LIMIT_WEBHOOK_BODY_BYTES;
    unsigned admitted = 0;
    while (sources_webhook_admit(e->base.sources, body) == 0)
        admitted++;
    assert_int_equal(admitted, LIMIT_WEBHOOK_BYTES_IN_FLIGHT / LIMIT_WEBHOOK_BODY_BYTES);
    assert_int_equal(sources_webhook_admit(e->base.sources, 1), -EBUSY);
    assert_int_equal(sources_webhook_admit(e->base.sources, 0),
                     0); /* an empty body holds nothing */
    sources_webhook_leave(e->base.sources, body);
    assert_int_equal(sources_webhook_admit(e->base.sources, body / 2), 0);
    assert_int_equal(sources_webhook_admit(e->base.sources, body / 2), 0);
    assert_int_equal(sources_webhook_admit(e->base.sources, 1), -EBUSY);
    for (unsigned i = 0; i < admitted - 1; i++)
        sources_webhook_leave(e->base.sources, body);
    sources_webhook_leave(e->base.sources, body / 2);
    sources_webhook_leave(e->base.sources, body / 2);
    /* All back: the whole allowance again, and never more than it in one piece. */
    assert_int_equal(sources_webhook_admit(e->base.sources, UINT64_MAX), -EBUSY);
    assert_int_equal(sources_webhook_admit(e->base.sources, LIMIT_WEBHOOK_BYTES_IN_FLIGHT), 0);
    sources_webhook_leave(e->base.sources, LIMIT_WEBHOOK_BYTES_IN_FLIGHT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_poller_syncs_when_due_or_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_delivery_queues_a_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_bytes_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
