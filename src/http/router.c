/*
 * Routing: the one route table, read both by http_route (which handler
 * answers) and by http_route_accepts_body (whether a body may be read at
 * all, before a byte of it is). A row is a path pattern and the methods it
 * takes, with the token scope they need, the body ceiling, an admission
 * hook and the handler; a path with several rows (GET and POST of
 * /api/v1/products) has one per method group, and their methods together
 * are its Allow. Rows are tried in order: the device check-in comes first
 * and is matched without allocation. A request-target without a leading
 * slash (the stock ESP8266 example sends "GET file.bin HTTP/1.0") is
 * matched as if it had one; the adapter normalizes that before we get here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/digest.h"
#include "core/log.h"
#include "core/util.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "service/audit.h"

/* The methods a route can take, as bits. Any other method matches no route (405). */
enum {
    METHOD_GET = 1u << 0,
    METHOD_HEAD = 1u << 1,
    METHOD_POST = 1u << 2,
    METHOD_PUT = 1u << 3,
    METHOD_PATCH = 1u << 4,
    METHOD_DELETE = 1u << 5,
};
#define GET_OR_HEAD (METHOD_GET | METHOD_HEAD)

static const char *const method_names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};

/*
 * Who may call a route: anyone (devices, /healthz, the webhook and its HMAC),
 * a token, or what metrics_token says (/metrics: a read token, or anyone).
 */
enum route_token { ANYONE, READ_TOKEN, PUBLISH_TOKEN, ADMIN_TOKEN, METRICS_TOKEN };

/* The body ceiling of uploads: the max_upload_bytes setting plus the form around the image. */
#define BODY_UPLOAD UINT64_MAX

/*
 * A route. PATTERN is matched byte for byte against the whole path, except
 * for "{product}", "{version}", "{name}", "{mac}", "{action}" (one non-empty
 * segment that fits its field of struct http_route_args) and "{id}" (a whole
 * number above 0), "{*}" (the rest of the path, any or none: the dashboard's
 * pages); "{alias}" as
 * the whole pattern matches a path configured in `aliases`. BODY_MAX is the
 * most bytes of body the route reads, 0 for none. ADMIT, when set, runs
 * before a body is read and may refuse it, or hold something until the
 * request ends. JSON: its refusals are JSON errors, else a line of text.
 * ACTION: the audit log's name of what the route does ("rollout.{action}"
 * takes the path's action), NULL for a route that changes nothing.
 */
struct route {
    const char *pattern;
    unsigned methods;
    enum route_token token;
    uint64_t body_max;
    http_handler *handler;
    bool (*admit)(const struct http_context *ctx, uint64_t declared_length,
                  struct http_body_hold *ret_hold, struct http_reply *reply);
    bool json;
    const char *action;
};

/* A device's path (or /healthz): anyone, GET or HEAD, no body, refusals as a line of text. */
#define DEVICE_ROUTE(pattern, handler)                                                             \
    {                                                                                              \
        pattern, GET_OR_HEAD, ANYONE, 0, handler, NULL, false, NULL                                \
    }

/* A path under /api/v1/ (PATH without it): JSON errors. */
#define API_ROUTE(path, methods, token, body_max, handler)                                         \
    {                                                                                              \
        "/api/v1/" path, methods, token, body_max, handler, NULL, true, NULL                       \
    }

/* A path under /api/v1/ that changes something: its ACTION is recorded in the audit log. */
#define ADMIN_ROUTE(path, methods, token, body_max, handler, action)                               \
    {                                                                                              \
        "/api/v1/" path, methods, token, body_max, handler, NULL, true, action                     \
    }

static void healthz(const struct http_context *ctx, const struct http_request *req,
                    const struct http_route_args *args, struct http_reply *reply)
{
    http_reply_static(reply, 200, "ok\n");
}

/* The one route table. A device check-in matches the first row. */
static const struct route routes[] = {
    DEVICE_ROUTE("/update/{product}", http_handle_update),
    DEVICE_ROUTE("{alias}", http_handle_update),
    DEVICE_ROUTE("/images/{product}/{version}", http_handle_image),
    DEVICE_ROUTE("/manifest/esphome/{product}.json", http_handle_manifest_esphome),
    DEVICE_ROUTE("/manifest/esp32fota/{product}.json", http_handle_manifest_esp32fota),
    /* No token: the HMAC over the body is checked once it is in (hooks.c). */
    {.pattern = "/hooks/github",
     .methods = METHOD_POST,
     .token = ANYONE,
     .body_max = LIMIT_WEBHOOK_BODY_BYTES,
     .handler = http_handle_github_hook,
     .admit = http_github_hook_admit, /* 411 without a length; the bodies in flight */
     .json = true},
    API_ROUTE("products", GET_OR_HEAD, READ_TOKEN, 0, http_api_products_list),
    ADMIN_ROUTE("products", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_product_create, "product.create"),
    API_ROUTE("products/{product}", GET_OR_HEAD, READ_TOKEN, 0, http_api_product_get),
    ADMIN_ROUTE("products/{product}", METHOD_PATCH, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_product_patch, "product.update"),
    API_ROUTE("products/{product}/releases", GET_OR_HEAD, READ_TOKEN, 0, http_api_releases_list),
    ADMIN_ROUTE("products/{product}/releases", METHOD_POST, PUBLISH_TOKEN, BODY_UPLOAD,
                http_api_release_publish, "release.publish"),
    API_ROUTE("products/{product}/devices", GET_OR_HEAD, READ_TOKEN, 0, http_api_devices_list),
    API_ROUTE("products/{product}/versions/history", GET_OR_HEAD, READ_TOKEN, 0,
              http_api_version_history),
    /* Fleet control (api_fleet.c): reads need read, every change admin. */
    API_ROUTE("products/{product}/devices/{mac}", GET_OR_HEAD, READ_TOKEN, 0, http_api_device_show),
    API_ROUTE("products/{product}/channels", GET_OR_HEAD, READ_TOKEN, 0, http_api_channels_list),
    API_ROUTE("products/{product}/channels/{name}", GET_OR_HEAD, READ_TOKEN, 0,
              http_api_channel_get),
    ADMIN_ROUTE("products/{product}/channels/{name}", METHOD_PUT, ADMIN_TOKEN,
                LIMIT_JSON_BODY_BYTES, http_api_channel_put, "channel.put"),
    ADMIN_ROUTE("products/{product}/channels/{name}", METHOD_DELETE, ADMIN_TOKEN, 0,
                http_api_channel_delete, "channel.reset"),
    API_ROUTE("products/{product}/groups", GET_OR_HEAD, READ_TOKEN, 0, http_api_groups_list),
    ADMIN_ROUTE("products/{product}/groups", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_group_add, "group.create"),
    API_ROUTE("products/{product}/groups/{name}", GET_OR_HEAD, READ_TOKEN, 0, http_api_group_get),
    ADMIN_ROUTE("products/{product}/groups/{name}", METHOD_PATCH, ADMIN_TOKEN,
                LIMIT_JSON_BODY_BYTES, http_api_group_patch, "group.update"),
    ADMIN_ROUTE("products/{product}/groups/{name}", METHOD_DELETE, ADMIN_TOKEN, 0,
                http_api_group_delete, "group.delete"),
    ADMIN_ROUTE("products/{product}/groups/{name}/macs", METHOD_POST, ADMIN_TOKEN,
                LIMIT_JSON_BODY_BYTES, http_api_group_macs, "group.macs.add"),
    ADMIN_ROUTE("products/{product}/groups/{name}/macs", METHOD_DELETE, ADMIN_TOKEN,
                LIMIT_JSON_BODY_BYTES, http_api_group_macs, "group.macs.remove"),
    API_ROUTE("products/{product}/pins", GET_OR_HEAD, READ_TOKEN, 0, http_api_pins_list),
    ADMIN_ROUTE("products/{product}/pins/{mac}", METHOD_PUT, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_pin_put, "pin.put"),
    ADMIN_ROUTE("products/{product}/pins/{mac}", METHOD_DELETE, ADMIN_TOKEN, 0, http_api_pin_delete,
                "pin.delete"),
    API_ROUTE("products/{product}/rollouts", GET_OR_HEAD, READ_TOKEN, 0, http_api_rollouts_list),
    ADMIN_ROUTE("products/{product}/rollouts", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_rollout_start, "rollout.start"),
    API_ROUTE("products/{product}/rollouts/{id}", GET_OR_HEAD, READ_TOKEN, 0, http_api_rollout_get),
    ADMIN_ROUTE("products/{product}/rollouts/{id}/{action}", METHOD_POST, ADMIN_TOKEN,
                LIMIT_JSON_BODY_BYTES, http_api_rollout_act, "rollout.{action}"),
    /* Dashboard sign-in (api_sessions.c): the session routes take the cookie, not a bearer. */
    ADMIN_ROUTE("session", METHOD_POST, ANYONE, LIMIT_JSON_BODY_BYTES, http_api_session_create,
                "session.sign_in"),
    API_ROUTE("session", GET_OR_HEAD, READ_TOKEN, 0, http_api_session_get),
    ADMIN_ROUTE("session", METHOD_DELETE, READ_TOKEN, 0, http_api_session_delete,
                "session.sign_out"),
    API_ROUTE("sessions", GET_OR_HEAD, ADMIN_TOKEN, 0, http_api_sessions_list),
    ADMIN_ROUTE("sessions/{id}", METHOD_DELETE, ADMIN_TOKEN, 0, http_api_session_revoke,
                "session.revoke"),
    API_ROUTE("overview", GET_OR_HEAD, READ_TOKEN, 0, http_api_overview),
    API_ROUTE("tokens", GET_OR_HEAD, ADMIN_TOKEN, 0, http_api_tokens_list),
    ADMIN_ROUTE("tokens", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES, http_api_token_create,
                "token.create"),
    ADMIN_ROUTE("tokens/{id}", METHOD_DELETE, ADMIN_TOKEN, 0, http_api_token_revoke,
                "token.revoke"),
    API_ROUTE("sources", GET_OR_HEAD, READ_TOKEN, 0, http_api_sources_list),
    API_ROUTE("sources/{id}", GET_OR_HEAD, READ_TOKEN, 0, http_api_source_get),
    ADMIN_ROUTE("sources/{id}/sync", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_source_sync, "source.sync"),
    /* The audit log (docs/AUDIT.md): read only; no route changes or deletes an entry. */
    API_ROUTE("audit", GET_OR_HEAD, ADMIN_TOKEN, 0, http_api_audit_list),
    API_ROUTE("notifications", GET_OR_HEAD, READ_TOKEN, 0, http_api_notify_list),
    ADMIN_ROUTE("notifications", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_notify_add, "notification.add"),
    ADMIN_ROUTE("notifications/{id}", METHOD_DELETE, ADMIN_TOKEN, 0, http_api_notify_remove,
                "notification.remove"),
    API_ROUTE("notifications/{id}/deliveries", GET_OR_HEAD, READ_TOKEN, 0,
              http_api_notify_deliveries),
    ADMIN_ROUTE("notifications/{id}/test", METHOD_POST, ADMIN_TOKEN, LIMIT_JSON_BODY_BYTES,
                http_api_notify_test, "notification.test"),
    DEVICE_ROUTE("/healthz", healthz),
    /* Prometheus: refusals as a line of text, as its scrape errors show them. */
    {"/metrics", GET_OR_HEAD, METRICS_TOKEN, 0, http_handle_metrics, NULL, false, NULL},
    /* The dashboard (ui.c): its files need no token, its data comes from the API above. */
    DEVICE_ROUTE("/ui/assets/{name}", http_handle_ui_asset),
    DEVICE_ROUTE("/", http_handle_ui_page),
    DEVICE_ROUTE("/ui", http_handle_ui_page),
    DEVICE_ROUTE("/ui/{*}", http_handle_ui_page),
};

/* What a path no route takes is told, by where it points (the first prefix that fits). */
static const struct {
    const char *prefix;
    bool json;
    const char *text;
} misses[] = {
    {"/update/", false, "no such product\n"},
    {"/images/", false, "no such release\n"},
    {"/manifest/", false,
     "no such manifest: /manifest/esphome/PRODUCT.json or /manifest/esp32fota/PRODUCT.json\n"},
    {"/api/v1/", true, "no such API endpoint"},
    {"", false, "not found\n"},
};

static unsigned method_bit(const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
        if (strcmp(method, method_names[i]) == 0)
            return 1u << i;
    return 0;
}

/*
 * Copies the path segment at PATH (up to '/' or the end) into OUT; returns
 * its length, 0 when it is empty or does not fit. A loop, not strcspn and
 * memcpy: a segment is a product name, and this runs on every check-in.
 */
static size_t take_segment(const char *path, char *out, size_t size)
{
    size_t n = 0;
    for (; path[n] && path[n] != '/'; n++) {
        if (n + 1 == size)
            return 0;
        out[n] = path[n];
    }
    out[n] = 0;
    return n;
}

/*
 * The {product} segment at PATH into OUT, when the pattern goes on at REST:
 * a literal suffix in the same segment (".json") is left out of the name and
 * must end the segment. Returns the name's length, 0 when it does not match.
 */
static size_t take_product(const char *path, const char *rest, char *out, size_t size)
{
    size_t suffix = strcspn(rest, "/{");
    if (suffix == 0)
        return take_segment(path, out, size);
    size_t seg = strcspn(path, "/");
    if (seg <= suffix || seg - suffix >= size || strncmp(path + seg - suffix, rest, suffix) != 0)
        return 0;
    memcpy(out, path, seg - suffix);
    out[seg - suffix] = 0;
    return seg - suffix;
}

/* Whether PATH is one of ROUTE's; fills ARGS with what its pattern names. */
static bool route_match(const struct http_context *ctx, const struct route *route, const char *path,
                        struct http_route_args *args)
{
    const char *p = route->pattern;
    if (p[0] == '{' && strcmp(p, "{alias}") == 0) {
        const char *product = config_alias_product(ctx->config, path);
        if (!product)
            return false;
        memcpy(args->product, product, strlen(product) + 1); /* the same size of field */
        args->legacy_alias = true;
        return true;
    }
    while (*p) {
        if (*p != '{') {
            if (*path++ != *p++)
                return false;
            continue;
        }
        size_t n = 0;
        switch (p[1]) {
        case 'p': /* {product}, which a literal suffix of its segment may follow: {product}.json */
            p += strlen("{product}");
            n = take_product(path, p, args->product, sizeof(args->product));
            break;
        case 'v': /* {version} */
            n = take_segment(path, args->version, sizeof(args->version));
            p += strlen("{version}");
            break;
        case 'i': { /* {id} */
            char text[24];
            uint64_t id = 0;
            n = take_segment(path, text, sizeof(text));
            if (n && (parse_u64(text, INT64_MAX, &id) < 0 || id == 0))
                n = 0;
            args->id = (int64_t)id;
            p += strlen("{id}");
            break;
        }
        case 'n': /* {name} */
            n = take_segment(path, args->name, sizeof(args->name));
            p += strlen("{name}");
            break;
        case 'm': /* {mac} */
            n = take_segment(path, args->mac, sizeof(args->mac));
            p += strlen("{mac}");
            break;
        case '*': /* {*}: whatever is left */
            path += strlen(path);
            p += strlen("{*}");
            continue;
        case 'a': /* {action} */
            n = take_segment(path, args->action, sizeof(args->action));
            p += strlen("{action}");
            break;
        }
        if (n == 0)
            return false;
        path += n;
    }
    return *path == 0;
}

/* "GET, HEAD, POST": the methods in METHODS, in the order of method_names. */
static void allow_text(unsigned methods, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
        if (methods & (1u << i))
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                                     method_names[i]);
}

/*
 * The route that takes REQ, with ARGS filled. NULL with REPLY filled when
 * none does: 405 with Allow when routes take the path with other methods,
 * else 404.
 */
static const struct route *route_find(const struct http_context *ctx,
                                      const struct http_request *req, struct http_route_args *args,
                                      struct http_reply *reply)
{
    unsigned method = method_bit(req->method), allowed = 0;
    bool json = false;
    args->legacy_alias = false;
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (!route_match(ctx, &routes[i], req->path, args))
            continue;
        if (routes[i].methods & method)
            return &routes[i];
        allowed |= routes[i].methods;
        json = routes[i].json;
    }
    if (allowed) {
        char allow[64];
        allow_text(allowed, allow, sizeof(allow));
        if (json) {
            http_reply_error(reply, -EOPNOTSUPP, "method not allowed here");
        } else {
            char text[96];
            snprintf(text, sizeof(text), "method not allowed; use %s", allow);
            http_reply_text(reply, 405, text);
        }
        http_reply_header(reply, "Allow", allow);
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(misses); i++) {
        if (strncmp(req->path, misses[i].prefix, strlen(misses[i].prefix)) != 0)
            continue;
        if (misses[i].json)
            http_reply_error(reply, -ENOENT, misses[i].text);
        else
            http_reply_static(reply, 404, misses[i].text);
        break;
    }
    return NULL;
}

bool http_session_cookie(const struct http_request *req, char *out, size_t size)
{
    const char *p = http_request_header(req, "Cookie");
    const size_t name_len = strlen(HTTP_SESSION_COOKIE);
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > name_len && strncmp(p, HTTP_SESSION_COOKIE "=", name_len + 1) == 0) {
            const char *value = p + name_len + 1;
            size_t n = len - name_len - 1;
            while (n && value[n - 1] == ' ')
                n--;
            if (n + 1 > size)
                return false;
            memcpy(out, value, n);
            out[n] = 0;
            return true;
        }
        p += len;
    }
    return false;
}

bool http_same_origin(const struct http_request *req)
{
    const char *site = http_request_header(req, "Sec-Fetch-Site");
    if (site && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0))
        return false;
    const char *origin = http_request_header(req, "Origin");
    if (!origin)
        return true; /* not a browser, or an old one: SameSite=Strict kept the cookie home */
    const char *host = http_request_header(req, "Host");
    const char *authority = strncasecmp(origin, "https://", 8) == 0  ? origin + 8
                            : strncasecmp(origin, "http://", 7) == 0 ? origin + 7
                                                                     : NULL;
    return host && authority && strcasecmp(authority, host) == 0;
}

bool http_path_is_device(const struct http_context *ctx, const char *path)
{
    return strncmp(path, "/update/", 8) == 0 || strncmp(path, "/images/", 8) == 0 ||
           strncmp(path, "/manifest/", 10) == 0 || config_alias_product(ctx->config, path) != NULL;
}

/*
 * The dashboard's cookie standing for a token (route_authorized): the
 * session must be live and its token of SCOPE; a request that may change
 * something (not GET or HEAD) must also carry the session's X-CSRF-Token and
 * come from this server's own pages. False with REPLY filled (401 or 403).
 */
static int session_authorized(const struct http_context *ctx, const struct http_request *req,
                              const char *cookie, enum token_scope scope,
                              struct http_route_args *args, struct http_reply *reply)
{
    struct reason why = {""};
    int r = service_session_check(ctx->svc, cookie, TOKEN_SCOPE_READ, &args->session, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return r;
    }
    /*
     * Another site's request is refused before the scope is looked at: it
     * is not the signed-in user's action, so it is never recorded as their
     * denied attempt (docs/AUDIT.md); it is logged.
     */
    bool reads = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    const char *refused = NULL;
    if (!reads && !http_same_origin(req))
        refused = "a request from another site is refused";
    else if (!reads && !service_session_csrf_ok(cookie, http_request_header(req, "X-CSRF-Token")))
        refused = "a signed-in change needs the session's X-CSRF-Token header";
    if (refused) {
        log_warn("api: %s %s refused for the session of token \"%s\" from %s: %s", req->method,
                 req->path, args->session.token_name, req->remote_addr ? req->remote_addr : "?",
                 refused);
        http_reply_error_status(reply, 403, "csrf", refused);
        return -EPERM;
    }
    if (args->session.scope < scope) {
        reason_set(&why, -EACCES, "token \"%s\" has scope %s; this needs %s",
                   args->session.token_name, token_scope_name(args->session.scope),
                   token_scope_name(scope));
        http_reply_error(reply, -EACCES, why.text);
        return -EACCES;
    }
    return 0;
}

/*
 * The one place a token route's actor is built, from the token the route
 * checked (ACTOR's token_id and name, filled by service_token_check_actor)
 * and the request: how it came and from where. A dashboard session, which
 * stands for a token, sets its via here.
 */
static void actor_from_token(const struct http_request *req, enum actor_via via,
                             struct actor *actor)
{
    actor->via = via;
    snprintf(actor->address, sizeof(actor->address), "%s",
             req->remote_addr && *req->remote_addr ? req->remote_addr : "unknown");
}

/*
 * Whether ROUTE's requests are admin actions: it names an action, or it
 * takes a token and changes something without naming one (a row someone
 * forgot: recorded under its pattern, never skipped).
 */
static bool route_audited(const struct route *route)
{
    return route->action || (route->token != ANYONE && (route->methods & ~GET_OR_HEAD));
}

/* ROUTE's action for the audit log, with the path's {action} put in; its pattern when unnamed. */
static void route_action(const struct route *route, const struct http_route_args *args, char *out,
                         size_t size)
{
    const char *slot = route->action ? strstr(route->action, "{action}") : NULL;
    if (!route->action)
        snprintf(out, size, "%s", route->pattern);
    else if (slot)
        snprintf(out, size, "%.*s%s", (int)(slot - route->action), route->action, args->action);
    else
        snprintf(out, size, "%s", route->action);
}

/* The product the path names, "" when its pattern has no {product} (ARGS's field is unset then). */
static const char *route_product(const struct route *route, const struct http_route_args *args)
{
    return strstr(route->pattern, "{product}") ? args->product : "";
}

/* What the path names as the object of ROUTE's action: its {version}, {name}, {mac} or {id}. */
static void route_object(const struct route *route, const struct http_route_args *args, char *out,
                         size_t size)
{
    const char *p = route->pattern;
    if (strstr(p, "{version}"))
        snprintf(out, size, "%s", args->version);
    else if (strstr(p, "{name}"))
        snprintf(out, size, "%s", args->name);
    else if (strstr(p, "{mac}"))
        snprintf(out, size, "%s", args->mac);
    else if (strstr(p, "{id}"))
        snprintf(out, size, "%lld", (long long)args->id);
    else
        out[0] = 0;
}

/*
 * The code and short reason of a JSON error REPLY ({"error": {"code": ...,
 * "message": ...}}), into CODE and REASON; "" when it is not one.
 */
static void reply_error(const struct http_reply *reply, char *code, size_t code_size, char *reason,
                        size_t reason_size)
{
    code[0] = reason[0] = 0;
    if (reply->status < 400 || !reply->body.data || !reply->body.len)
        return;
    json_t *root = json_loadb((const char *)reply->body.data, reply->body.len, 0, NULL);
    json_t *error = json_object_get(root, "error");
    const char *c = json_string_value(json_object_get(error, "code"));
    const char *m = json_string_value(json_object_get(error, "message"));
    snprintf(code, code_size, "%s", c ? c : "");
    snprintf(reason, reason_size, "%s", m ? m : "");
    json_decref(root);
}

/* Writes the audit entry of ROUTE's action as REPLY ended it (AUDIT may be NULL: no details). */
static void audit_write(const struct http_context *ctx, const struct route *route,
                        const struct http_route_args *args, const struct http_audit *audit,
                        const struct http_reply *reply)
{
    char action[LIMIT_AUDIT_ACTION_BYTES + 1], object[LIMIT_AUDIT_OBJECT_BYTES + 1];
    const char *product = audit ? audit->product : route_product(route, args);
    char code[24], reason[LIMIT_AUDIT_REASON_BYTES + 1];
    route_action(route, args, action, sizeof(action));
    if (audit)
        snprintf(object, sizeof(object), "%s", audit->object);
    else
        route_object(route, args, object, sizeof(object));
    reply_error(reply, code, sizeof(code), reason, sizeof(reason));
    if (audit && audit->skip)
        return;
    struct audit_note note = {
        .actor = audit && audit->has_actor ? &audit->actor : &args->actor,
        .action = action,
        .product = product,
        .object = object,
        .params = audit ? audit->params : NULL,
        .status = reply->status,
        .code = code,
        .reason = reason,
    };
    service_audit_record(ctx->svc, &note); /* logs its own failure; the action stands */
}

/*
 * Whether REQ carries a token of ROUTE's scope, with who holds it in
 * ARGS->actor (zeroed for a route anyone may call), and came over TLS when
 * the route must (api_tls_only); false with REPLY filled (401 or 403). A
 * valid token of too small a scope on a route that changes something is a
 * denied attempt by someone: recorded once, as 403 (docs/AUDIT.md). The
 * token is a bearer token, or, without an Authorization header, the
 * dashboard's session cookie (ARGS->actor.via is then ACTOR_VIA_DASHBOARD).
 */
static bool route_authorized(const struct http_context *ctx, const struct route *route,
                             const struct http_request *req, struct http_route_args *args,
                             struct http_reply *reply)
{
    static const enum token_scope scopes[] = {
        [READ_TOKEN] = TOKEN_SCOPE_READ,
        [PUBLISH_TOKEN] = TOKEN_SCOPE_PUBLISH,
        [ADMIN_TOKEN] = TOKEN_SCOPE_ADMIN,
    };
    memset(&args->actor, 0, sizeof(args->actor));
    enum route_token token = route->token;
    if (token == METRICS_TOKEN)
        token = strcmp(ctx->config->metrics_token, "none") == 0 ? ANYONE : READ_TOKEN;
    /*
     * The API and the webhook (the JSON routes) may be kept off the plain
     * listener; so is /metrics when it takes a token: api_tls_only keeps
     * tokens off plain HTTP.
     */
    bool needs_tls = route->json || (route->token == METRICS_TOKEN && token != ANYONE);
    if (!req->tls && ctx->config->api_tls_only && needs_tls) {
        if (route->json)
            http_reply_error_status(reply, 403, "tls_required",
                                    "this server takes the API and the webhook over HTTPS only "
                                    "(api_tls_only): use its TLS listener");
        else
            http_reply_text(reply, 403,
                            "this server takes tokens over HTTPS only (api_tls_only): scrape "
                            "/metrics on its TLS listener, or set metrics_token = none");
        return false;
    }
    if (token == ANYONE)
        return true;
    const char *authorization = http_request_header(req, "Authorization");
    char cookie[SERVICE_SESSION_COOKIE_LEN + 2];
    if (!authorization && http_session_cookie(req, cookie, sizeof(cookie))) {
        int r = session_authorized(ctx, req, cookie, scopes[token], args, reply);
        if (r == 0 || r == -EACCES) { /* the session's token, from the dashboard */
            args->actor.token_id = args->session.token_id;
            str_copy(args->actor.name, sizeof(args->actor.name), args->session.token_name);
            actor_from_token(req, ACTOR_VIA_DASHBOARD, &args->actor);
        }
        if (r == -EACCES && route_audited(route))
            audit_write(ctx, route, args, NULL, reply);
        return r == 0;
    }
    struct reason why = {""};
    int r = service_token_check_actor(ctx->svc, authorization, scopes[token], &args->actor, &why);
    if (r == 0 || r == -EACCES)
        actor_from_token(req, ACTOR_VIA_API, &args->actor);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        if (r == -EACCES && route_audited(route))
            audit_write(ctx, route, args, NULL, reply);
        return false;
    }
    return true;
}

void http_audit_object(const struct http_route_args *args, const char *fmt, ...)
{
    if (!args->audit)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args->audit->object, sizeof(args->audit->object), fmt, ap);
    va_end(ap);
}

void http_audit_actor(const struct http_route_args *args, const struct http_request *req,
                      int64_t token_id, const char *token_name)
{
    if (!args->audit)
        return;
    struct actor *a = &args->audit->actor;
    a->token_id = token_id;
    str_copy(a->name, sizeof(a->name), token_name);
    actor_from_token(req, ACTOR_VIA_DASHBOARD, a);
    args->audit->has_actor = true;
}

void http_audit_skip(const struct http_route_args *args)
{
    if (args->audit)
        args->audit->skip = true;
}

void http_audit_product(const struct http_route_args *args, const char *name)
{
    if (args->audit)
        snprintf(args->audit->product, sizeof(args->audit->product), "%s", name ? name : "");
}

void http_audit_params(const struct http_route_args *args, const json_t *body,
                       const char *const *keys, json_t *param)
{
    if (!args->audit) {
        json_decref(param);
        return;
    }
    struct http_audit *a = args->audit;
    if (!a->params && !(a->params = json_object())) {
        json_decref(param);
        return;
    }
    for (size_t i = 0; json_is_object(body) && keys && keys[i]; i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v)
            json_object_set(a->params, keys[i], v);
    }
    if (json_is_object(param))
        json_object_update(a->params, param);
    json_decref(param);
}

/* Whether the If-None-Match list LIST names ETAG (weak comparison, RFC 9110 §13.1.2). */
static bool etag_listed(const char *list, const char *etag)
{
    size_t len = strlen(etag);
    const char *whole = list + strspn(list, " ");
    if (whole[0] == '*' && whole[1 + strspn(whole + 1, " ")] == 0) /* "*" only as the whole value */
        return true;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, len) == 0 && (p[len] == 0 || p[len] == ',' || p[len] == ' '))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

/*
 * A JSON answer to a GET under /api/v1/ gets a strong ETag, the SHA-256 of
 * its body, and becomes a 304 when If-None-Match names it: the dashboard
 * polls every few seconds, and an unchanged answer then costs no bytes on
 * the wire. The body is still built; what is saved is the network and the
 * browser's work. Device answers never come here (their own routes).
 */
static void etag_apply(const struct http_request *req, struct http_reply *reply)
{
    if (reply->status != 200 || !reply->content_type ||
        strcmp(reply->content_type, "application/json") != 0 ||
        strncmp(req->path, "/api/v1/", 8) != 0 ||
        (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0))
        return;
    char etag[SHA256_HEX_LEN + 3] = "\"";
    digest_sha256_hex(reply->body.data ? (const void *)reply->body.data : "", reply->body.len,
                      etag + 1);
    etag[SHA256_HEX_LEN + 1] = '"';
    etag[SHA256_HEX_LEN + 2] = 0;
    http_reply_header(reply, "ETag", etag);
    /* Answers that may name a token's work: a shared cache must not keep them, a browser asks. */
    http_reply_header(reply, "Cache-Control", "private, no-cache");
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm && etag_listed(inm, etag)) {
        buf_reset(&reply->body);
        http_reply_empty(reply, 304);
    }
}

void http_route(const struct http_context *ctx, const struct http_request *req,
                struct http_reply *reply)
{
    struct http_route_args args;
    const struct route *route = route_find(ctx, req, &args, reply);
    if (!route || !route_authorized(ctx, route, req, &args, reply))
        return;
    if (!route_audited(route)) { /* a read, a device, the webhook: nothing to record here */
        args.audit = NULL;
        route->handler(ctx, req, &args, reply);
        if (route->json)
            etag_apply(req, reply);
        return;
    }
    struct http_audit audit = {.params = NULL, .has_actor = false, .skip = false};
    if (route->token == ANYONE) /* the dashboard's sign-in: from where, before it knows who */
        actor_from_token(req, ACTOR_VIA_DASHBOARD, &args.actor);
    snprintf(audit.product, sizeof(audit.product), "%s", route_product(route, &args));
    route_object(route, &args, audit.object, sizeof(audit.object));
    args.audit = &audit;
    route->handler(ctx, req, &args, reply);
    audit_write(ctx, route, &args, &audit, reply);
    json_decref(audit.params);
}

bool http_route_accepts_body(const struct http_context *ctx, const struct http_request *req,
                             uint64_t declared_length, uint64_t *ret_max,
                             struct http_body_hold *ret_hold, struct http_reply *reply)
{
    memset(ret_hold, 0, sizeof(*ret_hold));
    struct http_route_args args;
    const struct route *route = route_find(ctx, req, &args, reply);
    if (!route || !route_authorized(ctx, route, req, &args, reply))
        return false;
    uint64_t max = route->body_max;
    if (max == BODY_UPLOAD)
        max = ctx->config->max_upload_bytes + LIMIT_MULTIPART_OVERHEAD_BYTES;
    /* Without a Content-Length the ceiling bounds the body buffer instead (server.c). */
    if (declared_length != UINT64_MAX ? declared_length > max : max == 0) {
        char msg[128];
        if (max == 0)
            snprintf(msg, sizeof(msg), "this path takes no body");
        else
            snprintf(msg, sizeof(msg), "body of %llu bytes is larger than the limit of %llu",
                     (unsigned long long)declared_length, (unsigned long long)max);
        if (route->json)
            http_reply_error(reply, -EFBIG, msg);
        else
            http_reply_text(reply, 413, msg);
        return false;
    }
    if (route->admit && !route->admit(ctx, declared_length, ret_hold, reply))
        return false;
    *ret_max = max;
    return true;
}
