/*
 * Fleet control in the admin API (docs/API.md, "Fleet control";
 * docs/FLEET.md): channels, groups, pins and holds, rollouts and their
 * actions, and why a device gets what it gets. The route table (router.c)
 * has checked the method and the token's scope, and put the token's name in
 * ARGS->actor: it is recorded as who started or changed a rollout. Bodies
 * are JSON objects read strictly (an unknown field is a 400); the shapes
 * are fleet_json.c's, the same as the CLI's --json. The rules are the
 * service's (service/service_fleet.h); this file only translates.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/fleet_json.h"
#include "http/handlers.h"

/*
 * REQ's body as a JSON object; an absent or empty body is {} when EMPTY_OK.
 * NULL with REPLY filled (400) when it is not an object.
 */
static json_t *body_object(const struct http_request *req, bool empty_ok, struct http_reply *reply)
{
    if (!req->body || req->body_len == 0) {
        if (empty_ok)
            return json_object();
        http_reply_error(reply, -EINVAL, "the request needs a JSON object as its body");
        return NULL;
    }
    json_error_t jerr;
    json_t *body =
        json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "the body must be a JSON object%s%s", body ? "" : ": ",
                 body ? "" : jerr.text);
        json_decref(body);
        http_reply_error(reply, -EINVAL, msg);
        return NULL;
    }
    return body;
}

/* A body that does not fit FORMAT: 400 naming what jansson found, and the fields SHAPE lists. */
static void bad_body(struct http_reply *reply, const json_error_t *jerr, const char *shape)
{
    char msg[320];
    snprintf(msg, sizeof(msg), "%s; the body is %s", jerr->text, shape);
    http_reply_error(reply, -EINVAL, msg);
}

/* ARGS->mac as a 48-bit MAC; false with REPLY filled (400) when malformed. */
static bool path_mac(const struct http_route_args *args, struct http_reply *reply,
                     uint64_t *ret_mac)
{
    if (mac_text_parse(args->mac, ret_mac) == 0)
        return true;
    char msg[96];
    snprintf(msg, sizeof(msg), "MAC \"%s\" must be six hex pairs like 18:FE:34:00:00:01",
             args->mac);
    http_reply_error(reply, -EINVAL, msg);
    return false;
}

/* "HH:MM-HH:MM" or "always" (HOURS, may be NULL) and a time zone (TZ, may be NULL) into W. */
static int window_apply(struct fleet_window *w, const char *hours, const char *tz,
                        struct reason *why)
{
    int r = 0;
    if (hours && (r = fleet_window_parse_hours(hours, w, why)) < 0)
        return r;
    if (tz && str_copy(w->tz, sizeof(w->tz), tz) < 0)
        return reason_set(why, -EINVAL, "time zone names are up to %u bytes", FLEET_TZ_BYTES);
    return 0;
}

/* Replies OBJ under KEY with STATUS; a NULL OBJ (out of memory) is a 500. */
static void reply_one(struct http_reply *reply, int status, const char *key, json_t *obj)
{
    if (!obj) {
        http_reply_error(reply, -ENOMEM, NULL);
        return;
    }
    http_reply_json(reply, status, json_pack("{s:o}", key, obj));
}

/* --- devices --- */

void http_api_device_show(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    uint64_t mac;
    if (!path_mac(args, reply, &mac))
        return;
    struct device_why *d = malloc(sizeof(*d)); /* its history is a few KiB */
    if (!d) {
        http_reply_error(reply, -ENOMEM, NULL);
        return;
    }
    struct reason why = {""};
    int r = service_device_show(ctx->svc, args->product, mac, d, &why);
    if (r < 0)
        http_reply_error(reply, r, why.text);
    else
        reply_one(reply, 200, "device", fleet_json_device(d));
    free(d);
}

/*
 * Records the MAC list LIST (a JSON array, may be NULL) in the audit entry:
 * its length, and the MACs themselves while there are few enough to read.
 */
static void audit_macs(const struct http_route_args *args, json_t *list)
{
    enum { FEW_MACS = 64 };
    if (!json_is_array(list))
        return;
    size_t n = json_array_size(list);
    json_t *param = json_pack("{s:I}", "mac_count", (json_int_t)n);
    if (n <= FEW_MACS)
        json_object_set(param, "macs", list);
    http_audit_params(args, NULL, NULL, param);
}

/* --- channels --- */

void http_api_channels_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    struct channel_view *list = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_channel_list(ctx->svc, args->product, &list, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, fleet_json_channel(&list[i]));
    free(list);
    reply_one(reply, 200, "channels", arr);
}

/* Answers channel ARGS->name of ARGS->product as it stands now. */
static void reply_channel(const struct http_context *ctx, const struct http_route_args *args,
                          struct http_reply *reply)
{
    struct channel_view v;
    struct reason why = {""};
    int r = service_channel_get(ctx->svc, args->product, args->name, &v, &why);
    if (r < 0)
        http_reply_error(reply, r, why.text);
    else
        reply_one(reply, 200, "channel", fleet_json_channel(&v));
}

void http_api_channel_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    reply_channel(ctx, args, reply);
}

/* PUT: the fields given replace the channel's; the others keep their values. */
void http_api_channel_put(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    json_t *body = body_object(req, false, reply);
    if (!body)
        return;
    const char *deploy = NULL, *on_new = NULL, *window = NULL, *tz = NULL;
    json_t *plan = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s,s?s,s?o,s?s,s?s}", "deploy", &deploy,
                       "on_new", &on_new, "plan", &plan, "window", &window, "tz", &tz) < 0) {
        bad_body(reply, &jerr,
                 "{\"deploy\", \"on_new\", \"plan\": {...}, \"window\": \"HH:MM-HH:MM\", \"tz\"}");
        json_decref(body);
        return;
    }
    static const char *const recorded[] = {"deploy", "on_new", "plan", "window", "tz", NULL};
    http_audit_params(args, body, recorded, NULL);
    struct channel_view v;
    struct reason why = {""};
    int r = service_channel_get(ctx->svc, args->product, args->name, &v, &why);
    struct channel c = v.channel;
    if (r == 0 && deploy && deploy_policy_parse(deploy, &c.deploy) < 0)
        r = reason_set(&why, -EINVAL, "deploy must be immediate, rollout or manual");
    if (r == 0 && on_new && supersede_policy_parse(on_new, &c.on_new) < 0)
        r = reason_set(&why, -EINVAL, "on_new must be supersede or queue");
    if (r == 0 && plan)
        r = fleet_json_plan_apply(&c.plan, plan, &why);
    if (r == 0)
        r = window_apply(&c.window, window, tz, &why);
    json_decref(body);
    if (r == 0)
        r = service_channel_set(ctx->svc, args->product, &c, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    reply_channel(ctx, args, reply);
}

/* DELETE: the channel's own settings go; it answers with the defaults it now has. */
void http_api_channel_delete(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply)
{
    struct reason why = {""};
    int r = service_channel_reset(ctx->svc, args->product, args->name, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    reply_channel(ctx, args, reply);
}

/* --- groups --- */

void http_api_groups_list(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    struct group *list = NULL;
    uint64_t *counts = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_group_list(ctx->svc, args->product, &list, &counts, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, fleet_json_group(&list[i], NULL, counts[i]));
    free(list);
    free(counts);
    reply_one(reply, 200, "groups", arr);
}

/* Answers group NAME of ARGS->product with its MACs, with STATUS. */
static void reply_group(const struct http_context *ctx, const struct http_route_args *args,
                        const char *name, int status, struct http_reply *reply)
{
    struct group g;
    uint64_t *macs = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_group_get(ctx->svc, args->product, name, &g, &macs, &n, &why);
    if (r < 0)
        http_reply_error(reply, r, why.text);
    else
        reply_one(reply, status, "group", fleet_json_group(&g, macs ? macs : (uint64_t[1]){0}, n));
    free(macs);
}

/*
 * The MACs of the JSON array LIST (may be NULL: none) into *RET (free()),
 * at most LIMIT_GROUP_MACS_PER_CALL. -EINVAL with WHY naming a bad one.
 */
static int macs_parse(const json_t *list, uint64_t **ret, size_t *ret_count, struct reason *why)
{
    *ret = NULL;
    *ret_count = 0;
    if (!list)
        return 0;
    if (!json_is_array(list))
        return reason_set(why, -EINVAL, "macs must be a list of MACs");
    size_t n = json_array_size(list);
    if (n > LIMIT_GROUP_MACS_PER_CALL)
        return reason_set(why, -EINVAL, "at most %u MACs at once", LIMIT_GROUP_MACS_PER_CALL);
    uint64_t *macs = calloc(n ? n : 1, sizeof(*macs));
    if (!macs)
        return reason_set(why, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *text = json_string_value(json_array_get(list, i));
        if (!text || mac_text_parse(text, &macs[i]) < 0) {
            free(macs);
            return reason_set(why, -EINVAL, "macs[%zu] must be a MAC like 18:FE:34:00:00:01", i);
        }
    }
    *ret = macs;
    *ret_count = n;
    return 0;
}

/*
 * The group fields of BODY over G: match, value, priority, window (a
 * string, or null for none), tz. Returns 0 or -EINVAL with WHY.
 */
static int group_fields(struct group *g, const char *match, const char *value, json_t *priority,
                        json_t *window, const char *tz, struct reason *why)
{
    if (match && group_match_parse(match, &g->match) < 0)
        return reason_set(why, -EINVAL,
                          "match must be macs, mac-prefix, query, chip-size, sdk or core");
    if (value && str_copy(g->value, sizeof(g->value), value) < 0)
        return reason_set(why, -EINVAL, "value is up to %u bytes", FLEET_MATCH_BYTES);
    if (priority) {
        if (!json_is_integer(priority) || json_integer_value(priority) < INT32_MIN ||
            json_integer_value(priority) > INT32_MAX)
            return reason_set(why, -EINVAL, "priority must be a whole number");
        g->priority = (int32_t)json_integer_value(priority);
    }
    if (window && json_is_null(window)) {
        g->has_window = false;
        memset(&g->window, 0, sizeof(g->window));
    } else if (window && !json_is_string(window)) {
        return reason_set(why, -EINVAL, "window must be \"HH:MM-HH:MM\", \"always\" or null");
    }
    if ((window && json_is_string(window)) || tz) {
        g->has_window = true;
        return window_apply(&g->window, window ? json_string_value(window) : NULL, tz, why);
    }
    return 0;
}

void http_api_group_add(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply)
{
    json_t *body = body_object(req, false, reply);
    if (!body)
        return;
    const char *name = NULL, *channel = NULL, *match = NULL, *value = NULL, *tz = NULL;
    json_t *priority = NULL, *window = NULL, *list = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s:s,s?s,s?s,s?o,s?o,s?s,s?o}", "name", &name,
                       "channel", &channel, "match", &match, "value", &value, "priority", &priority,
                       "window", &window, "tz", &tz, "macs", &list) < 0) {
        bad_body(reply, &jerr,
                 "{\"name\", \"channel\", \"match\", \"value\", \"priority\", \"window\", \"tz\", "
                 "\"macs\": [...]}");
        json_decref(body);
        return;
    }
    static const char *const recorded[] = {"channel", "match", "value", "priority",
                                           "window",  "tz",    NULL};
    http_audit_object(args, "%s", name);
    http_audit_params(args, body, recorded, NULL);
    audit_macs(args, list);
    struct group g = {.match = GROUP_MATCH_MACS};
    struct reason why = {""};
    uint64_t *macs = NULL;
    size_t n = 0;
    int r = 0;
    if (str_copy(g.name, sizeof(g.name), name) < 0 ||
        str_copy(g.channel, sizeof(g.channel), channel) < 0)
        r = reason_set(&why, -EINVAL, "group and channel names are up to %u bytes",
                       LIMIT_CHANNEL_NAME_BYTES);
    if (r == 0)
        r = group_fields(&g, match, value, priority, window, tz, &why);
    if (r == 0 && list && g.match != GROUP_MATCH_MACS)
        r = reason_set(&why, -EINVAL, "only a group whose match is macs takes a MAC list");
    if (r == 0)
        r = macs_parse(list, &macs, &n, &why);
    json_decref(body);
    if (r == 0)
        r = service_group_add(ctx->svc, args->product, &g, &why);
    if (r == 0 && n &&
        (r = service_group_macs(ctx->svc, args->product, g.name, macs, n, true, &why)) < 0) {
        /* All or nothing: a group whose MACs could not be stored is not left half made. */
        struct reason ignored = {""};
        service_group_delete(ctx->svc, args->product, g.name, &ignored);
    }
    free(macs);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    reply_group(ctx, args, g.name, 201, reply);
}

void http_api_group_get(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply)
{
    reply_group(ctx, args, args->name, 200, reply);
}

/* PATCH: the fields given replace the group's; "window": null drops its window. */
void http_api_group_patch(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    json_t *body = body_object(req, false, reply);
    if (!body)
        return;
    const char *channel = NULL, *match = NULL, *value = NULL, *tz = NULL;
    json_t *priority = NULL, *window = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s,s?s,s?s,s?o,s?o,s?s}", "channel", &channel,
                       "match", &match, "value", &value, "priority", &priority, "window", &window,
                       "tz", &tz) < 0) {
        bad_body(reply, &jerr,
                 "{\"channel\", \"match\", \"value\", \"priority\", \"window\", \"tz\"} (MACs: "
                 "POST or DELETE .../macs)");
        json_decref(body);
        return;
    }
    static const char *const recorded[] = {"channel", "match", "value", "priority",
                                           "window",  "tz",    NULL};
    http_audit_params(args, body, recorded, NULL);
    struct group g;
    struct reason why = {""};
    int r = service_group_get(ctx->svc, args->product, args->name, &g, NULL, NULL, &why);
    if (r == 0 && channel && str_copy(g.channel, sizeof(g.channel), channel) < 0)
        r = reason_set(&why, -EINVAL, "channel names are up to %u bytes", LIMIT_CHANNEL_NAME_BYTES);
    if (r == 0)
        r = group_fields(&g, match, value, priority, window, tz, &why);
    json_decref(body);
    if (r == 0)
        r = service_group_update(ctx->svc, args->product, &g, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    reply_group(ctx, args, args->name, 200, reply);
}

void http_api_group_delete(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply)
{
    struct reason why = {""};
    int r = service_group_delete(ctx->svc, args->product, args->name, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:s}", "deleted", args->name));
}

/* POST adds the body's MACs to the group, DELETE removes them; both answer with the group. */
void http_api_group_macs(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    json_t *body = body_object(req, false, reply);
    if (!body)
        return;
    json_t *list = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:o}", "macs", &list) < 0) {
        bad_body(reply, &jerr, "{\"macs\": [\"18:FE:34:00:00:01\", ...]}");
        json_decref(body);
        return;
    }
    audit_macs(args, list);
    uint64_t *macs = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = macs_parse(list, &macs, &n, &why);
    json_decref(body);
    if (r == 0)
        r = service_group_macs(ctx->svc, args->product, args->name, macs, n,
                               strcmp(req->method, "POST") == 0, &why);
    free(macs);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    reply_group(ctx, args, args->name, 200, reply);
}

/* --- pins and holds --- */

void http_api_pins_list(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply)
{
    struct pin *list = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_pin_list(ctx->svc, args->product, &list, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, fleet_json_pin(&list[i]));
    free(list);
    reply_one(reply, 200, "pins", arr);
}

/* PUT {"version": "1.2.0"} pins, {"hold": true} holds; "mode", "note" optional. */
void http_api_pin_put(const struct http_context *ctx, const struct http_request *req,
                      const struct http_route_args *args, struct http_reply *reply)
{
    uint64_t mac;
    if (!path_mac(args, reply, &mac))
        return;
    json_t *body = body_object(req, false, reply);
    if (!body)
        return;
    const char *version = NULL, *mode_text = NULL, *note = NULL;
    int hold = 0;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s,s?b,s?s,s?s}", "version", &version, "hold",
                       &hold, "mode", &mode_text, "note", &note) < 0) {
        bad_body(reply, &jerr,
                 "{\"version\": \"1.2.0\"} or {\"hold\": true}, with \"mode\", "
                 "\"note\"");
        json_decref(body);
        return;
    }
    static const char *const recorded[] = {"version", "hold", "mode", "note", NULL};
    http_audit_params(args, body, recorded, NULL);
    enum fw_mode mode = FW_MODE_SKETCH;
    struct reason why = {""};
    int r = 0;
    if (!version == !hold)
        r = reason_set(&why, -EINVAL, "give either \"version\" (a pin) or \"hold\": true");
    else if (mode_text && fw_mode_parse(mode_text, &mode) < 0)
        r = reason_set(&why, -EINVAL, "mode must be sketch or fs");
    if (r == 0)
        r = service_pin_set(ctx->svc, args->product, mac, hold ? NULL : version, mode, note, &why);
    json_decref(body);
    struct pin *list = NULL;
    size_t n = 0;
    if (r == 0)
        r = service_pin_list(ctx->svc, args->product, &list, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    const struct pin *found = NULL;
    for (size_t i = 0; i < n && !found; i++)
        if (list[i].mac == mac)
            found = &list[i];
    if (found)
        reply_one(reply, 200, "pin", fleet_json_pin(found));
    else /* cleared by someone else in between */
        http_reply_error(reply, -ENOENT, "the pin was removed meanwhile");
    free(list);
}

void http_api_pin_delete(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    uint64_t mac;
    if (!path_mac(args, reply, &mac))
        return;
    struct reason why = {""};
    int r = service_pin_clear(ctx->svc, args->product, mac, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    char text[18];
    mac_u64_format(mac, text);
    http_reply_json(reply, 200, json_pack("{s:s}", "deleted", text));
}

/* --- rollouts --- */

void http_api_rollouts_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    const char *active = http_request_query(req, "active");
    bool active_only = active && (strcmp(active, "1") == 0 || strcmp(active, "true") == 0);
    if (active && !active_only && strcmp(active, "0") != 0 && strcmp(active, "false") != 0) {
        http_reply_error(reply, -EINVAL, "active must be 1 or 0");
        return;
    }
    struct rollout_status *list = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = service_rollout_list(ctx->svc, args->product, active_only, &list, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, fleet_json_rollout(&list[i]));
    free(list);
    reply_one(reply, 200, "rollouts", arr);
}

/* Answers rollout ID of ARGS->product with its status, with STATUS. */
static void reply_rollout(const struct http_context *ctx, const struct http_route_args *args,
                          int64_t id, int status, struct http_reply *reply)
{
    struct rollout_status s;
    struct reason why = {""};
    int r = service_rollout_get(ctx->svc, args->product, id, &s, &why);
    if (r < 0)
        http_reply_error(reply, r, why.text);
    else
        reply_one(reply, status, "rollout", fleet_json_rollout(&s));
}

/* POST {"version", "mode", "channel", "plan": {...}, "rollback"}: 201 with the rollout. */
void http_api_rollout_start(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    json_t *body = body_object(req, false, reply);
    if (!body)
        return;
    const char *version = NULL, *mode_text = NULL, *channel = NULL;
    json_t *plan_obj = NULL;
    int rollback = 0;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s?s,s?s,s?o,s?b}", "version", &version,
                       "mode", &mode_text, "channel", &channel, "plan", &plan_obj, "rollback",
                       &rollback) < 0) {
        bad_body(reply, &jerr,
                 "{\"version\", \"mode\", \"channel\", \"plan\": {...}, \"rollback\": bool}");
        json_decref(body);
        return;
    }
    static const char *const recorded[] = {"version", "mode", "channel", "plan", "rollback", NULL};
    http_audit_params(args, body, recorded, NULL);
    struct rollout_request rr = {
        .product = args->product,
        .version = version,
        .mode = FW_MODE_SKETCH,
        .channel = channel,
        .rollback = rollback,
        .actor = args->actor.name,
    };
    struct rollout_plan plan;
    struct reason why = {""};
    int r = 0;
    if (mode_text && fw_mode_parse(mode_text, &rr.mode) < 0)
        r = reason_set(&why, -EINVAL, "mode must be sketch or fs");
    if (r == 0 && plan_obj &&
        (r = fleet_plan_base(ctx->svc, args->product, channel, version, rr.mode, &plan, &why)) == 0)
        r = fleet_json_plan_apply(&plan, plan_obj, &why);
    rr.plan = plan_obj ? &plan : NULL;
    struct rollout started;
    if (r == 0)
        r = service_rollout_start(ctx->svc, &rr, &started, &why);
    json_decref(body);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_audit_object(args, "%lld", (long long)started.id);
    reply_rollout(ctx, args, started.id, 201, reply);
}

void http_api_rollout_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    reply_rollout(ctx, args, args->id, 200, reply);
}

/* POST .../{action} with an optional {"reason"}: the rollout after it (revert: 201, the new one).
 */
void http_api_rollout_act(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    enum rollout_action action;
    if (rollout_action_parse(args->action, &action) < 0) {
        http_reply_error(reply, -ENOENT,
                         "no such rollout action: pause, resume, abort, promote, halt or revert");
        return;
    }
    json_t *body = body_object(req, true, reply);
    if (!body)
        return;
    const char *reason = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s}", "reason", &reason) < 0) {
        bad_body(reply, &jerr, "{\"reason\": \"...\"} or empty");
        json_decref(body);
        return;
    }
    static const char *const recorded[] = {"reason", NULL};
    http_audit_params(args, body, recorded, NULL);
    struct rollout after;
    struct reason why = {""};
    int r = service_rollout_act(ctx->svc, args->product, args->id, action, args->actor.name, reason,
                                &after, &why);
    json_decref(body);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    if (action == ROLLOUT_ACTION_REVERT) /* the revert is a new rollout: the entry names it too */
        http_audit_params(args, NULL, NULL, json_pack("{s:I}", "revert_id", (json_int_t)after.id));
    reply_rollout(ctx, args, after.id, action == ROLLOUT_ACTION_REVERT ? 201 : 200, reply);
}
