/*
 * The endpoints. Each handler reads a plain request and fills a plain reply
 * (no libmicrohttpd types), calling only the service, so every endpoint can
 * be unit-tested without a socket. http_route picks the handler.
 */
#ifndef OTAD_HTTP_HANDLERS_H
#define OTAD_HTTP_HANDLERS_H

#include <stdbool.h>

#include "core/config.h"
#include "http/reply.h"
#include "http/request.h"
#include "service/service.h"

struct sources;

struct http_context {
    struct service *svc;         /* borrowed */
    const struct config *config; /* borrowed */
    struct sources *sources;     /* borrowed; NULL: no release sources (webhooks get 503) */
};

/* Dispatches REQ to its endpoint and fills REPLY. */
void http_route(const struct http_context *ctx, const struct http_request *req,
                struct http_reply *reply);

/*
 * What a route holds while a body it let in is read (the webhook's share of
 * the bytes in flight): RELEASE(ARG, AMOUNT) runs exactly once when the
 * request ends, however it ends. RELEASE is NULL when nothing is held.
 */
struct http_body_hold {
    void (*release)(void *arg, uint64_t amount);
    void *arg;
    uint64_t amount;
};

/*
 * For a request that carries a body (POST, PATCH): decides before the body
 * is read whether it may be read at all (route, method, credentials,
 * declared size, room among the webhook bodies in flight). Returns true to
 * go on reading, with the most bytes the route takes in *RET_MAX (the body
 * buffer's ceiling: a chunked body cannot exceed it either) and in
 * *RET_HOLD what to release when the request ends (zeroed when nothing);
 * false with REPLY filled with the refusal (nothing held).
 */
bool http_route_accepts_body(const struct http_context *ctx, const struct http_request *req,
                             uint64_t declared_length, uint64_t *ret_max,
                             struct http_body_hold *ret_hold, struct http_reply *reply);

/* GET|HEAD /update/{product} and legacy aliases: a device check-in. */
void http_handle_update(const struct http_context *ctx, const struct http_request *req,
                        const char *product, bool legacy_alias, struct http_reply *reply);

/* GET|HEAD /images/{product}/{version}: a release's image with Range support. */
void http_handle_image(const struct http_context *ctx, const struct http_request *req,
                       const char *product, const char *version, struct http_reply *reply);

/* POST /hooks/github: a GitHub webhook delivery, handed to the sources (hooks.c). */
void http_handle_github_hook(const struct http_context *ctx, const struct http_request *req,
                             struct http_reply *reply);

/* /api/v1/sources[/{id}[/sync]] (PATH is the part after /api/v1/; api_sources.c). */
void http_handle_api_sources(const struct http_context *ctx, const struct http_request *req,
                             const char *path, struct http_reply *reply);

/*
 * Checks REQ's bearer token for NEEDED. Returns true when it may go on;
 * false with REPLY filled (401 or 403, JSON).
 */
bool http_api_authorized(const struct http_context *ctx, const struct http_request *req,
                         enum token_scope needed, struct http_reply *reply);

/* Everything under /api/v1/ (PATH is the part after it). */
void http_handle_api(const struct http_context *ctx, const struct http_request *req,
                     const char *path, struct http_reply *reply);

#endif
