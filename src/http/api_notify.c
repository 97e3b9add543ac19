/*
 * Outgoing notifications in the admin API (docs/API.md, docs/NOTIFICATIONS.md):
 *   GET    /api/v1/notifications                 (read)  the receivers, each with its
 *                                                        last delivery; never a secret
 *   POST   /api/v1/notifications                 (admin) add one: 201
 *   DELETE /api/v1/notifications/{id}            (admin) remove one with its deliveries
 *   GET    /api/v1/notifications/{id}/deliveries (read)  its recent deliveries
 *   POST   /api/v1/notifications/{id}/test       (admin) send it a ping: 202
 * The route table (router.c) has checked the method and the token's scope.
 * The JSON shapes are notify_present_*'s, the same as `otad notify ... --json`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "notify/notify.h"

/* Whether notifications run; false with REPLY filled (503) when they do not. */
static bool notify_running(const struct http_context *ctx, struct http_reply *reply)
{
    if (ctx->notify)
        return true;
    http_reply_error_status(reply, 503, "unavailable", "notifications are not running");
    return false;
}

void http_api_notify_list(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    if (!notify_running(ctx, reply))
        return;
    struct notify_receiver_row *rows = NULL;
    size_t n = 0;
    int r = notify_list(ctx->notify, &rows, &n);
    if (r < 0) {
        http_reply_error(reply, r, "cannot read the receivers");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, notify_present_receiver(&rows[i]));
    free(rows);
    http_reply_json(reply, 200, arr ? json_pack("{s:o}", "receivers", arr) : NULL);
}

/* The body's "events" as strings into PATTERNS; false with REPLY filled (400). */
static bool body_events(const json_t *events, const char **patterns, size_t *ret_count,
                        struct http_reply *reply)
{
    if (!json_is_array(events) || json_array_size(events) == 0 ||
        json_array_size(events) > LIMIT_NOTIFY_PATTERNS) {
        char msg[128];
        snprintf(msg, sizeof(msg), "\"events\" must be an array of 1-%u event names or patterns",
                 LIMIT_NOTIFY_PATTERNS);
        http_reply_error(reply, -EINVAL, msg);
        return false;
    }
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        if (!json_is_string(e)) {
            http_reply_error(reply, -EINVAL, "\"events\" must hold strings");
            return false;
        }
        patterns[i] = json_string_value(e);
    }
    *ret_count = json_array_size(events);
    return true;
}

void http_api_notify_add(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    if (!notify_running(ctx, reply))
        return;
    json_error_t jerr;
    json_t *body = req->body && req->body_len ? json_loadb((const char *)req->body, req->body_len,
                                                           JSON_REJECT_DUPLICATES, &jerr)
                                              : NULL;
    const char *name = NULL, *url = NULL, *format = NULL, *secret = NULL;
    json_t *events = NULL;
    if (!json_is_object(body) ||
        json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s:s,s:o,s?s,s?s}", "name", &name, "url",
                       &url, "events", &events, "format", &format, "secret", &secret) < 0) {
        char msg[320];
        snprintf(msg, sizeof(msg),
                 "%s; the body is {\"name\", \"url\", \"events\": [...], \"format\": \"json\" or "
                 "\"slack\" (optional), \"secret\" (optional)}",
                 body ? jerr.text : "the body must be a JSON object");
        json_decref(body);
        http_reply_error(reply, -EINVAL, msg);
        return;
    }
    const char *patterns[LIMIT_NOTIFY_PATTERNS];
    size_t count = 0;
    if (!body_events(events, patterns, &count, reply)) {
        json_decref(body);
        return;
    }
    struct notify_spec spec = {.name = name,
                               .url = url,
                               .events = patterns,
                               .event_count = count,
                               .format = format,
                               .secret = secret};
    struct notify_receiver rcv;
    struct reason why = {""};
    int r = notify_add(ctx->notify, &spec, &rcv, &why);
    /* Name, events and format; never the secret, nor the URL (a Slack webhook's path is one). */
    http_audit_params(args, body, (const char *const[]){"name", "events", "format", NULL},
                      json_pack("{s:b}", "signed", secret != NULL));
    if (r == 0)
        http_audit_object(args, "%lld", (long long)rcv.id);
    if (secret) /* our copy of it, inside the parsed body */
        explicit_bzero((char *)secret, strlen(secret));
    json_decref(body);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    struct notify_receiver_row row = {.receiver = rcv};
    http_reply_json(reply, 201, json_pack("{s:o}", "receiver", notify_present_receiver(&row)));
}

void http_api_notify_remove(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    if (!notify_running(ctx, reply))
        return;
    struct reason why = {""};
    int r = notify_remove(ctx->notify, args->id, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:I}", "deleted", (json_int_t)args->id));
}

void http_api_notify_deliveries(const struct http_context *ctx, const struct http_request *req,
                                const struct http_route_args *args, struct http_reply *reply)
{
    if (!notify_running(ctx, reply))
        return;
    struct notify_delivery *d = NULL;
    size_t n = 0;
    struct reason why = {""};
    int r = notify_deliveries(ctx->notify, args->id, LIMIT_NOTIFY_DELIVERIES_LISTED, &d, &n, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, notify_present_delivery(&d[i]));
    free(d);
    http_reply_json(reply, 200, arr ? json_pack("{s:o}", "deliveries", arr) : NULL);
}

void http_api_notify_test(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    if (!notify_running(ctx, reply))
        return;
    struct notify_delivery d;
    struct reason why = {""};
    int r = notify_test(ctx->notify, args->id, &d, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 202, json_pack("{s:o}", "delivery", notify_present_delivery(&d)));
}
