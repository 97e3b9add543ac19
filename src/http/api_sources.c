/*
 * The release sources in the admin API (docs/API.md):
 *   GET  /api/v1/sources            (read)  every source with its status
 *   GET  /api/v1/sources/{id}       (read)  one
 *   POST /api/v1/sources/{id}/sync  (admin) ask the poller to sync it now: 202
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

static void sources_list_reply(const struct http_context *ctx, struct http_reply *reply)
{
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

void http_handle_api_sources(const struct http_context *ctx, const struct http_request *req,
                             const char *path, struct http_reply *reply)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const char *rest = path + strlen("sources");
    if (!ctx->sources) {
        http_reply_error_status(reply, 503, "unavailable", "release sources are not running");
        return;
    }
    if (*rest == 0) {
        if (!get) {
            http_reply_error(reply, -EOPNOTSUPP, "method not allowed here");
            http_reply_header(reply, "Allow", "GET");
        } else if (http_api_authorized(ctx, req, TOKEN_SCOPE_READ, reply)) {
            sources_list_reply(ctx, reply);
        }
        return;
    }
    char id_text[24];
    const char *end = rest[0] == '/' ? strchr(rest + 1, '/') : NULL;
    size_t n = end ? (size_t)(end - rest - 1) : strlen(rest + 1);
    uint64_t id;
    if (rest[0] != '/' || n == 0 || n >= sizeof(id_text)) {
        http_reply_error(reply, -ENOENT, "no such API endpoint");
        return;
    }
    memcpy(id_text, rest + 1, n);
    id_text[n] = 0;
    if (parse_u64(id_text, INT64_MAX, &id) < 0 || id == 0) {
        http_reply_error(reply, -ENOENT, "no such source");
        return;
    }
    struct reason why = {""};
    if (!end) {
        if (!get) {
            http_reply_error(reply, -EOPNOTSUPP, "method not allowed here");
            http_reply_header(reply, "Allow", "GET");
            return;
        }
        if (!http_api_authorized(ctx, req, TOKEN_SCOPE_READ, reply))
            return;
        struct source_row row;
        int r = sources_get(ctx->sources, (int64_t)id, &row, &why);
        if (r < 0) {
            http_reply_error(reply, r, why.text);
            return;
        }
        http_reply_json(reply, 200,
                        json_pack("{s:o}", "source", sources_present(ctx->sources, &row)));
        return;
    }
    if (strcmp(end, "/sync") != 0) {
        http_reply_error(reply, -ENOENT, "no such API endpoint");
        return;
    }
    if (!post) {
        http_reply_error(reply, -EOPNOTSUPP, "method not allowed here");
        http_reply_header(reply, "Allow", "POST");
        return;
    }
    if (!http_api_authorized(ctx, req, TOKEN_SCOPE_ADMIN, reply))
        return;
    int r = sources_request_sync(ctx->sources, (int64_t)id, &why);
    if (r == -EOPNOTSUPP) {
        http_reply_error_status(reply, 503, "unavailable", why.text);
        return;
    }
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return;
    }
    http_reply_json(reply, 202,
                    json_pack("{s:s,s:I}", "status", "queued", "source", (json_int_t)id));
}
