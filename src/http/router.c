/*
 * Routing: from a request's path to its endpoint. Device paths come first
 * and are matched without allocation. A request-target without a leading
 * slash (the stock ESP8266 example sends "GET file.bin HTTP/1.0") is matched
 * as if it had one; the adapter normalizes that before we get here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "sources/sources.h"

#define API_PREFIX "/api/v1/"

/* Copies the single path segment at P (up to '/' or the end) into OUT; false if empty or too long.
 */
static bool take_segment(const char *p, char *out, size_t size, const char **ret_end)
{
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n >= size)
        return false;
    memcpy(out, p, n);
    out[n] = 0;
    *ret_end = p + n;
    return true;
}

void http_route(const struct http_context *ctx, const struct http_request *req,
                struct http_reply *reply)
{
    const char *path = req->path;
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    const char *end;

    if (strncmp(path, "/update/", 8) == 0) {
        if (take_segment(path + 8, product, sizeof(product), &end) && *end == 0)
            http_handle_update(ctx, req, product, false, reply);
        else
            http_reply_static(reply, 404, "no such product\n");
        return;
    }
    const char *alias = config_alias_product(ctx->config, path);
    if (alias) {
        http_handle_update(ctx, req, alias, true, reply);
        return;
    }
    if (strncmp(path, "/images/", 8) == 0) {
        char version[LIMIT_RELEASE_VERSION_BYTES + 1];
        if (take_segment(path + 8, product, sizeof(product), &end) && *end == '/' &&
            take_segment(end + 1, version, sizeof(version), &end) && *end == 0)
            http_handle_image(ctx, req, product, version, reply);
        else
            http_reply_static(reply, 404, "no such release\n");
        return;
    }
    if (strcmp(path, "/hooks/github") == 0) {
        http_handle_github_hook(ctx, req, reply);
        return;
    }
    if (strncmp(path, API_PREFIX "sources", strlen(API_PREFIX "sources")) == 0) {
        http_handle_api_sources(ctx, req, path + strlen(API_PREFIX), reply);
        return;
    }
    if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0) {
        http_handle_api(ctx, req, path + strlen(API_PREFIX), reply);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
            http_reply_static(reply, 200, "ok\n");
        } else {
            http_reply_static(reply, 405, "use GET or HEAD\n");
            http_reply_header(reply, "Allow", "GET, HEAD");
        }
        return;
    }
    http_reply_static(reply, 404, "not found\n");
}

static void webhook_body_release(void *sources, uint64_t amount)
{
    sources_webhook_leave(sources, amount);
}

bool http_route_accepts_body(const struct http_context *ctx, const struct http_request *req,
                             uint64_t declared_length, uint64_t *ret_max,
                             struct http_body_hold *ret_hold, struct http_reply *reply)
{
    const char *path = req->path;
    memset(ret_hold, 0, sizeof(*ret_hold));
    if (strcmp(path, "/hooks/github") == 0) {
        /* No bearer token: the HMAC over the whole body is checked once it is in. */
        if (declared_length == UINT64_MAX) {
            http_reply_error_status(reply, 411, "length_required",
                                    "a webhook delivery needs a Content-Length");
            return false;
        }
        if (declared_length > LIMIT_WEBHOOK_BODY_BYTES) {
            http_reply_error(reply, -EFBIG, "webhook body larger than the limit");
            return false;
        }
        /* Read before it can be authenticated: the bytes of such bodies in flight are capped. */
        if (ctx->sources && sources_webhook_admit(ctx->sources, declared_length) < 0) {
            char retry[16];
            snprintf(retry, sizeof(retry), "%u", LIMIT_WEBHOOK_BUSY_RETRY_S);
            http_reply_error_status(reply, 503, "busy",
                                    "too many webhook deliveries at once; retry later");
            http_reply_header(reply, "Retry-After", retry);
            return false;
        }
        if (ctx->sources)
            *ret_hold =
                (struct http_body_hold){webhook_body_release, ctx->sources, declared_length};
        *ret_max = declared_length;
        return true;
    }
    if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0) {
        /* The device paths and /healthz: GET and HEAD only. */
        http_reply_static(reply, 405, "this path takes no body\n");
        http_reply_header(reply, "Allow", "GET, HEAD");
        return false;
    }
    path += strlen(API_PREFIX);
    enum token_scope needed;
    uint64_t max;
    const char *rest = NULL;
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];
    const char *end;
    if (strcmp(path, "products") == 0) {
        needed = TOKEN_SCOPE_ADMIN;
        max = LIMIT_JSON_BODY_BYTES;
    } else if (strncmp(path, "products/", 9) == 0 &&
               take_segment(path + 9, product, sizeof(product), &end) && *end == 0) {
        needed = TOKEN_SCOPE_ADMIN; /* PATCH: the product's settings */
        max = LIMIT_JSON_BODY_BYTES;
    } else if (strncmp(path, "products/", 9) == 0 &&
               take_segment(path + 9, product, sizeof(product), &end) &&
               strcmp(rest = end, "/releases") == 0) {
        needed = TOKEN_SCOPE_PUBLISH;
        max = ctx->config->max_upload_bytes + LIMIT_MULTIPART_OVERHEAD_BYTES;
    } else if (strncmp(path, "sources/", 8) == 0) {
        needed = TOKEN_SCOPE_ADMIN; /* POST sources/{id}/sync; the handler checks the rest */
        max = LIMIT_JSON_BODY_BYTES;
    } else {
        http_reply_error(reply, -ENOENT, "no such API endpoint, or it takes no body");
        return false;
    }
    struct reason why = {""};
    int r = service_token_check(ctx->svc, http_request_header(req, "Authorization"), needed, &why);
    if (r < 0) {
        http_reply_error(reply, r, why.text);
        return false;
    }
    if (declared_length != UINT64_MAX && declared_length > max) {
        char msg[128];
        snprintf(msg, sizeof(msg), "body of %llu bytes is larger than the limit of %llu",
                 (unsigned long long)declared_length, (unsigned long long)max);
        http_reply_error(reply, -EFBIG, msg);
        return false;
    }
    *ret_max = max;
    return true;
}
