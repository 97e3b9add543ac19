/*
 * The release sources in the admin API (docs/API.md):
 *   GET  /api/v1/sources            (read)  every source with its status
 *   GET  /api/v1/sources/{id}       (read)  one
 *   POST /api/v1/sources/{id}/sync  (admin) ask the poller to sync it now: 202
 * The route table (router.c) has checked the method and the token's scope.
 * The JSON shape is sources_present's, the same as `otad source list --json`.
 * Adding and removing sources is the CLI's (`otad source add|remove`).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "sources/sources.h"

/* Whether the sources run; false with REPLY filled (503) when they do not. */
static bool sources_running(const struct http_context *ctx, struct http_reply *reply)
{
    if (ctx->sources)
        return true;
    http_reply_error_status(reply, 503, "unavailable", "release sources are not running");
    return false;
}

void http_api_sources_list(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply)
{
    if (!sources_running(ctx, reply))
        return;
    struct source_row *rows = NULL;
    size_t n = 0;
    int r = sources_list(ctx->sources, &rows, &n);
    if (r < 0) {
        http_reply_error(reply, r, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, sources_present(ctx->sources, &rows[i]));
    free(rows);
    http_reply_json(reply, 200, arr ? json_pack("{s:o}", "sources", arr) : NULL);
}

void http_api_source_get(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply)
{
    if (!sources_running(ctx, reply))
        return;
    struct source_row row;
    struct reason why = {""};
    int r = sources_get(ctx->sources, args->id, &row, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:o}", "source", sources_present(ctx->sources, &row)));
}

void http_api_source_sync(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    if (!sources_running(ctx, reply))
        return;
    struct reason why = {""};
    int r = sources_request_sync(ctx->sources, args->id, &why);
    if (r == -EOPNOTSUPP) {
        http_reply_error_status(reply, 503, "unavailable", why.text);
        return;
    }
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 202,
                    json_pack("{s:s,s:I}", "status", "queued", "source", (json_int_t)args->id));
}
