/*
 * Unit tests for src/http/api_fleet.c and fleet_json.c through the route
 * table, on a real service: a plan's keys in any order and every refusal
 * as a 4xx JSON error (never a 500), a group, a pin and a hold as a check-in
 * sees them, a rollout's actions with the token's name as actor and their
 * 409s, and a device's "why".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/fleet_json.h"
#include "http_env.h"
#include "service/service_fleet.h"

/* METHOD PATH with BODY (NULL: none) as the admin; the reply's JSON (decref it) and status. */
static json_t *call(struct http_env *e, const char *method, const char *path, const char *body,
                    const char *auth, int *ret_status)
{
    struct http_request req;
    request_init(&req, method, path);
    add_header(&req, "Authorization", auth ? auth : e->admin);
    if (body) {
        add_header(&req, "Content-Type", "application/json");
        req.body = (const uint8_t *)body;
        req.body_len = strlen(body);
    }
    struct http_reply reply;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    *ret_status = reply.status;
    json_t *j = reply_json(&reply);
    http_reply_release(&reply);
    return j;
}

static void expect_error(struct http_env *e, const char *method, const char *path, const char *body,
                         int status)
{
    int got;
    json_t *j = call(e, method, path, body, NULL, &got);
    assert_int_equal(got, status);
    assert_non_null(error_code(j)); /* a JSON error, with its code */
    json_decref(j);
}

static void test_plan_keys_in_any_order_and_refusals(void **state)
{
    struct rollout_plan plan;
    rollout_plan_default(&plan);
    struct reason why;
    json_t *obj =
        json_pack("{s:s,s:s,s:[i,i,i]}", "ramp", "3h", "soak", "4h", "stages", 5, 50, 100);
    assert_int_equal(fleet_json_plan_apply(&plan, obj, &why), 0);
    json_decref(obj);
    assert_int_equal(plan.ramp_s, 3 * 3600);
    assert_int_equal(plan.soak_s, 4 * 3600);
    assert_int_equal(plan.stage_count, 3);
    assert_int_equal(plan.stages_bp[0], 500);
    /* The plan as the API shows it is a plan the API takes. */
    struct rollout_plan again;
    rollout_plan_default(&again);
    json_t *shown = fleet_json_plan(&plan);
    assert_int_equal(fleet_json_plan_apply(&again, shown, &why), 0);
    json_decref(shown);
    assert_memory_equal(&again, &plan, sizeof(plan));
    /* Refusals leave the plan as it was. */
    const char *bad[] = {
        "{\"soak\": \"1h\", \"ramp\": \"2h\"}",
        "{\"stages\": \"10,5,100\"}",
        "{\"stages\": [\"a\"]}",
        "{\"soak\": {}}",
        "{\"soak\": \"1h;ramp=0\"}",
        "{\"a=b\": 1}",
        "{\"frobnicate\": 1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        json_error_t err;
        json_t *b = json_loads(bad[i], 0, &err);
        assert_non_null(b);
        assert_int_equal(fleet_json_plan_apply(&again, b, &why), -EINVAL);
        assert_memory_equal(&again, &plan, sizeof(plan));
        json_decref(b);
    }
}

static void test_channel_group_pin_as_a_checkin_sees_them(void **state)
{
    struct http_env *e = *state;
    int st;
    json_t *j = call(e, "PUT", "/api/v1/products/emonesp/channels/beta",
                     "{\"plan\": {\"ramp\": \"2h\", \"soak\": \"3h\"}}", NULL, &st);
    assert_int_equal(st, 200);
    json_decref(j);
    expect_error(e, "PUT", "/api/v1/products/emonesp/channels/beta",
                 "{\"window\": \"25:00-26:00\"}", 400);
    expect_error(e, "PUT", "/api/v1/products/emonesp/channels/beta", "{\"tz\": \"Mars/Olympus\"}",
                 400);
    j = call(e, "POST", "/api/v1/products/emonesp/groups",
             "{\"name\": \"lab\", \"channel\": \"beta\", \"macs\": [\"18:FE:AA:00:00:01\"]}", NULL,
             &st);
    assert_int_equal(st, 201);
    json_decref(j);
    expect_error(e, "POST", "/api/v1/products/emonesp/groups",
                 "{\"name\": \"lab\", \"channel\": \"beta\"}", 409);
    expect_error(e, "POST", "/api/v1/products/emonesp/groups",
                 "{\"name\": \"bad\", \"channel\": \"beta\", \"macs\": [\"zz\"]}", 400);
    expect_error(e, "GET", "/api/v1/products/emonesp/groups/nope", NULL, 404);
    j = call(e, "PUT", "/api/v1/products/emonesp/pins/18:FE:AA:00:00:02", "{\"hold\": true}", NULL,
             &st);
    assert_int_equal(st, 200);
    json_decref(j);
    expect_error(e, "PUT", "/api/v1/products/emonesp/pins/18:FE:AA:00:00:03",
                 "{\"version\": \"9.9.9\"}", 404);
    expect_error(e, "PUT", "/api/v1/products/emonesp/pins/not-a-mac", "{\"hold\": true}", 400);

    /* The listed device is in beta (nothing published there: 304); the held one gets 304. */
    struct device_report rep = {0};
    rep.platform = PLATFORM_ESP8266;
    rep.platform_known = true;
    rep.has_sta_mac = true;
    uint8_t listed[6] = {0x18, 0xFE, 0xAA, 0, 0, 1}, held[6] = {0x18, 0xFE, 0xAA, 0, 0, 2},
            other[6] = {0x18, 0xFE, 0xAA, 0, 0, 4};
    strcpy(rep.version, "0.9.0");
    rep.version_source = VERSION_SOURCE_HEADER;
    struct checkin_context ctx = {.remote_addr = "127.0.0.1"};
    struct decision d;
    memcpy(rep.sta_mac, listed, 6);
    service_checkin(e->svc, "emonesp", &rep, &ctx, &d);
    assert_int_equal(d.kind, DECISION_CURRENT);
    memcpy(rep.sta_mac, held, 6);
    service_checkin(e->svc, "emonesp", &rep, &ctx, &d);
    assert_int_equal(d.kind, DECISION_CURRENT);
    memcpy(rep.sta_mac, other, 6);
    service_checkin(e->svc, "emonesp", &rep, &ctx, &d);
    assert_int_equal(d.kind, DECISION_UPDATE);
    service_delivery_done(e->svc, &d.ticket, true);
    assert_int_equal(service_registry_flush(e->svc), 0); /* "why" reads the registry */

    j = call(e, "GET", "/api/v1/products/emonesp/devices/18:FE:AA:00:00:01", NULL, e->reader, &st);
    assert_int_equal(st, 200);
    json_t *dev = json_object_get(j, "device");
    assert_string_equal(json_string_value(json_object_get(dev, "channel")), "beta");
    assert_non_null(strstr(json_string_value(json_object_get(dev, "channel_rule")), "lab"));
    json_decref(j);
    expect_error(e, "GET", "/api/v1/products/emonesp/devices/18:FE:AA:00:00:99", NULL, 404);
}

static void test_rollout_actions_actor_and_conflicts(void **state)
{
    struct http_env *e = *state;
    uint8_t img[8192];
    fixture_esp8266_image(img, sizeof(img), 4, 8);
    struct publish_request pub = {.product = "emonesp",
                                  .version = "1.0.3",
                                  .image = img,
                                  .image_len = sizeof(img),
                                  .source = "test"};
    struct reason why;
    assert_int_equal(service_publish(e->svc, &pub, NULL, NULL, &why), 0);
    int st;
    /* 1.0.3 is already what the immediate channel offers. */
    expect_error(e, "POST", "/api/v1/products/emonesp/rollouts", "{\"version\": \"1.0.3\"}", 409);
    expect_error(e, "POST", "/api/v1/products/emonesp/rollouts", "{\"version\": \"1.0.2\"}", 400);
    json_t *j = call(e, "POST", "/api/v1/products/emonesp/rollouts",
                     "{\"version\": \"1.0.2\", \"rollback\": true, \"plan\": {\"stages\": [100], "
                     "\"ramp\": 0}}",
                     NULL, &st);
    assert_int_equal(st, 201);
    json_t *ro = json_object_get(j, "rollout");
    json_int_t id = json_integer_value(json_object_get(ro, "id"));
    assert_string_equal(json_string_value(json_object_get(ro, "kind")), "rollback");
    assert_string_equal(json_string_value(json_object_get(ro, "actor")), "a"); /* the token */
    json_decref(j);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/products/emonesp/rollouts/%lld/pause", (long long)id);
    j = call(e, "POST", path, NULL, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(j);
    expect_error(e, "POST", path, NULL, 409); /* paused already */
    snprintf(path, sizeof(path), "/api/v1/products/emonesp/rollouts/%lld/frobnicate",
             (long long)id);
    expect_error(e, "POST", path, NULL, 404);
    snprintf(path, sizeof(path), "/api/v1/products/emonesp/rollouts/%lld/abort", (long long)id);
    j = call(e, "POST", path, "{\"reason\": \"enough\"}", e->reader, &st);
    assert_int_equal(st, 403); /* a read token */
    json_decref(j);
    j = call(e, "POST", path, "{\"reason\": \"enough\"}", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "rollout"), "state")),
                        "aborted");
    json_decref(j);
    expect_error(e, "GET", "/api/v1/products/emonesp/rollouts/999", NULL, 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_keys_in_any_order_and_refusals),
        cmocka_unit_test_setup_teardown(test_channel_group_pin_as_a_checkin_sees_them,
                                        http_env_setup, http_env_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_actions_actor_and_conflicts, http_env_setup,
                                        http_env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
