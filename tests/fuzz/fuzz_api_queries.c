/*
 * libFuzzer target for the dashboard's query parsers, reached through
 * http_route as the unit tests reach them (tests/unit/http/http_env.h: a real
 * service on a temporary data folder, made once per process): the device
 * list's filters and keyset (GET /api/v1/products/emonesp/devices: q, after,
 * before, last, version, channel, group, outcome, quiet, limit, offset), the
 * audit log's filters (GET /api/v1/audit: service_audit_filter_set's since,
 * until, actor, action, product, outcome, before, and limit), and the
 * If-None-Match list every JSON GET is matched against.
 *
 * The first input byte picks the route (bit 0: the audit log); then lines:
 * "?name=value" a query argument, any other line the If-None-Match value,
 * where each '$' stands for the ETag of the same request answered without it.
 * Checks: the answer is 200 or a 400 with a JSON error code, never a 500; a
 * 200 has a strong 66-byte ETag; a 304 has no body and comes only when the
 * list names that ETag or '*'.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/http/http_env.h"
#include "service/audit.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_env *env;

static void env_free(void)
{
    void *state = env;
    http_env_teardown(&state);
}

/* The shared service, with three devices that checked in and an audit entry. */
static struct http_env *env_get(void)
{
    if (env)
        return env;
    void *state = NULL;
    if (http_env_setup(&state) < 0)
        abort();
    env = state;
    atexit(env_free);
    static const char *const macs[] = {"18:FE:34:00:00:01", "18:FE:34:00:00:02",
                                       "5C:CF:7F:AA:BB:CC"};
    for (size_t i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
        struct http_request req;
        struct http_reply reply;
        esp8266_checkin_init(&req, macs[i], i ? "1.0.1" : "1.0.2");
        http_reply_init(&reply);
        http_route(&env->ctx, &req, &reply);
        http_reply_release(&reply);
    }
    struct actor actor = {.via = ACTOR_VIA_CLI, .name = "fuzz", .address = "local"};
    struct audit_note note = {
        .actor = &actor, .action = "rollout.pause", .product = "emonesp", .object = "1.0.2"};
    if (service_audit_record(env->svc, &note) < 0)
        abort();
    return env;
}

/* TEMPLATE with each '$' replaced by ETAG: a new string. */
static char *expand(const char *template, const char *etag)
{
    size_t dollars = 0;
    for (const char *c = template; *c; c++)
        dollars += *c == '$';
    char *out = malloc(strlen(template) + dollars * strlen(etag) + 1);
    if (!out)
        abort();
    char *o = out;
    for (const char *c = template; *c; c++) {
        if (*c == '$') {
            strcpy(o, etag);
            o += strlen(etag);
        } else {
            *o++ = *c;
        }
    }
    *o = 0;
    return out;
}

static void check_answer(const struct http_reply *reply)
{
    if (reply->status == 400) {
        json_t *j = reply_json(reply);
        if (!j || !error_code(j))
            abort();
        json_decref(j);
        return;
    }
    if (reply->status != 200)
        abort();
    const char *etag = reply_header(reply, "ETag");
    if (!etag || strlen(etag) != 66 || etag[0] != '"' || etag[65] != '"')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_MAX_INPUT)
        return 0;
    struct http_env *e = env_get();
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;

    struct http_request req;
    request_init(&req, "GET", data[0] & 1 ? "/api/v1/audit" : "/api/v1/products/emonesp/devices");
    add_header(&req, "Authorization", e->admin);
    const char *inm = NULL;
    char *line = text;
    while (line) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (line[0] == '?') {
            char *eq = strchr(line + 1, '=');
            if (eq)
                *eq++ = 0;
            if (req.query_count < LIMIT_QUERY_ARGS_PER_REQUEST)
                req.query[req.query_count++] = (struct http_pair){line + 1, eq ? eq : ""};
            else
                req.query_truncated = true;
        } else if (!inm) {
            inm = line;
        }
        line = next;
    }

    struct http_reply reply;
    http_reply_init(&reply);
    http_route(&e->ctx, &req, &reply);
    check_answer(&reply);
    if (reply.status == 200 && inm) {
        char etag[67];
        memcpy(etag, reply_header(&reply, "ETag"), sizeof(etag));
        char *list = expand(inm, etag);
        add_header(&req, "If-None-Match", list);
        struct http_reply again;
        http_reply_init(&again);
        http_route(&e->ctx, &req, &again);
        if (again.status == 304) {
            const char *now = reply_header(&again, "ETag");
            if (again.body.len != 0 || !now || (!strstr(list, now) && !strchr(list, '*')))
                abort();
        } else {
            check_answer(&again);
        }
        http_reply_release(&again);
        free(list);
    }
    http_reply_release(&reply);
    free(text);
    return 0;
}
