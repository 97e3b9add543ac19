/*
 * POST /hooks/github: GitHub's webhook deliveries. No bearer token: the
 * route table lets the body in (at most LIMIT_WEBHOOK_BODY_BYTES), after
 * http_github_hook_admit here has seen a Content-Length and found room among
 * the unauthenticated bodies in flight; the sources module checks the
 * X-Hub-Signature-256 HMAC over the raw body, decides and queues the fetch.
 * This handler only translates: it answers at once (GitHub counts a slow
 * answer as a failed delivery) and never waits for GitHub itself.
 *
 * Answers: 202 {"status":"queued"}; 200 {"status":"ignored"|"duplicate"|
 * "pong"} with the reason; 401 for a missing or wrong signature; 400 for a
 * malformed release payload; 413 beyond the limit; 503 when no poller runs.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "sources/sources.h"

static void reply_status(struct http_reply *reply, int status, const char *word, const char *text)
{
    http_reply_json(reply, status, json_pack("{s:s,s:s}", "status", word, "message", text));
}

static void webhook_body_release(void *sources, uint64_t amount)
{
    sources_webhook_leave(sources, amount);
}

bool http_github_hook_admit(const struct http_context *ctx, uint64_t declared_length,
                            struct http_body_hold *ret_hold, struct http_reply *reply)
{
    memset(ret_hold, 0, sizeof(*ret_hold));
    if (declared_length == UINT64_MAX) {
        http_reply_error_status(reply, 411, "length_required",
                                "a webhook delivery needs a Content-Length");
        return false;
    }
    if (!ctx->sources)
        return true; /* the handler answers 503 */
    /* Read before it can be authenticated: the bytes of such bodies in flight are capped. */
    if (sources_webhook_admit(ctx->sources, declared_length) < 0) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%u", LIMIT_WEBHOOK_BUSY_RETRY_S);
        http_reply_error_status(reply, 503, "busy",
                                "too many webhook deliveries at once; retry later");
        http_reply_header(reply, "Retry-After", retry);
        return false;
    }
    *ret_hold = (struct http_body_hold){webhook_body_release, ctx->sources, declared_length};
    return true;
}

void http_handle_github_hook(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply)
{
    if (!ctx->sources) {
        http_reply_error(reply, -EAGAIN, "release sources are not running");
        return;
    }
    const char *ct = http_request_header(req, "Content-Type");
    struct sources_delivery d = {
        .event = http_request_header(req, "X-GitHub-Event"),
        .delivery = http_request_header(req, "X-GitHub-Delivery"),
        .signature = http_request_header(req, "X-Hub-Signature-256"),
        .form_encoded = ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0,
        .remote_addr = req->remote_addr,
        .body = req->body ? req->body : (const uint8_t *)"",
        .body_len = req->body_len,
    };
    enum sources_hook_result result;
    struct reason why = {""};
    int r = sources_webhook(ctx->sources, &d, &result, &why);
    if (r < 0) { /* through the one errno table (errors.c) */
        http_reply_error(reply, r, why.text);
        return;
    }
    switch (result) {
    case SOURCES_HOOK_QUEUED:
        reply_status(reply, 202, "queued", why.text);
        break;
    case SOURCES_HOOK_IGNORED:
        reply_status(reply, 200, "ignored", why.text);
        break;
    case SOURCES_HOOK_DUPLICATE:
        reply_status(reply, 200, "duplicate", why.text);
        break;
    case SOURCES_HOOK_PONG:
        reply_status(reply, 200, "pong", why.text);
        break;
    }
}
