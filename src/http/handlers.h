/*
 * The endpoints. Each handler reads a plain request and fills a plain reply
 * (no libmicrohttpd types), calling only the service (and, for the release
 * sources and the webhook, the sources beside it), so every endpoint can be
 * unit-tested without a socket. The one route table in router.c says, per
 * route, its path pattern, methods, token scope, body ceiling and handler:
 * http_route and http_route_accepts_body both read it, and a handler runs
 * only once its route's method and token have been checked.
 */
#ifndef OTAD_HTTP_HANDLERS_H
#define OTAD_HTTP_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include <jansson.h>

#include "http/reply.h"
#include "http/request.h"
#include "service/service.h"

struct notify;
struct sources;

struct http_context {
    struct service *svc;         /* borrowed */
    const struct config *config; /* borrowed */
    struct sources *sources;     /* borrowed; NULL: no release sources (webhooks get 503) */
    struct notify *notify;       /* borrowed; NULL: no notifications (their routes get 503) */
};

/*
 * Dispatches REQ through the route table and fills REPLY: 404 when no
 * route's pattern matches the path (text for device paths, JSON under
 * /api/v1/), 405 with the route's Allow when the method is not one of its
 * own, 401/403 when its token is missing or too small, else its handler's
 * answer. REQ's body, if any, was admitted by http_route_accepts_body.
 */
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
 * For a request that carries a body (POST, PUT, PATCH, or any method with a
 * Content-Length above 0 or a Transfer-Encoding): decides from the route
 * table, before the body is read, whether it may be read at all: the route
 * (404), its methods (405 with Allow), its token (401/403), its ceiling
 * (413: above it, or any body on a route that takes none; DECLARED_LENGTH is
 * UINT64_MAX when no Content-Length came) and its admission hook (the
 * webhook's: 411 without a length, 503 when too many bodies are in flight).
 * Returns true to go on reading, with the most bytes the route takes in
 * *RET_MAX (the body buffer's ceiling: a chunked body cannot exceed it
 * either) and in *RET_HOLD what to release when the request ends (zeroed
 * when nothing); false with REPLY filled with the refusal (nothing held).
 */
bool http_route_accepts_body(const struct http_context *ctx, const struct http_request *req,
                             uint64_t declared_length, uint64_t *ret_max,
                             struct http_body_hold *ret_hold, struct http_reply *reply);

/*
 * What the route table took from the path for the route's handler. Only the
 * fields the route's pattern names are set: {product}, {version}, {id},
 * {name}, {mac}, {action}. {mac} is the segment's text, checked by the
 * handler (a malformed MAC is a 400, not a 404).
 */
struct http_route_args {
    char product[LIMIT_PRODUCT_NAME_BYTES + 1];    /* {product}, or the product an alias serves */
    char version[LIMIT_RELEASE_VERSION_BYTES + 1]; /* {version} */
    int64_t id;                                    /* {id}: a source's or a rollout's id, > 0 */
    char name[LIMIT_CHANNEL_NAME_BYTES + 1];       /* {name}: a channel's or a group's name */
    char mac[LIMIT_MAC_SEGMENT_BYTES + 1];         /* {mac}: as the path has it */
    char action[LIMIT_ACTION_SEGMENT_BYTES + 1];   /* {action}: a rollout action's name */
    bool legacy_alias; /* always set: the path is a configured alias of /update/{product} */
    /*
     * Always set: who calls a token route (how, the token's id and name, the
     * peer's address); zeroed for a route anyone may call. Built in one
     * place, router.c's actor_from_token.
     */
    struct actor actor;
    /*
     * The audit entry of a route that changes something (the route table's
     * action column), which the router writes when the handler returns;
     * NULL on every other route. The handler adds to it with
     * http_audit_object and http_audit_params; never a secret.
     */
    struct http_audit *audit;
    /* Set when the token came as a dashboard session's cookie (actor.via is dashboard). */
    struct session_info session;
};

/*
 * What a handler adds to its route's audit entry. PRODUCT starts as the
 * path's {product}, OBJECT as what the path names ({version}, {name}, {mac} or {id}); PARAMS is
 * owned by the router.
 */
struct http_audit {
    char product[LIMIT_PRODUCT_NAME_BYTES + 1]; /* starts as {product}; a new product's name */
    char object[LIMIT_AUDIT_OBJECT_BYTES + 1];
    json_t *params; /* NULL until a handler adds one */
    /* A sign-in's: who it signed in, for a route anyone may call (http_audit_actor). */
    bool has_actor;
    struct actor actor;
    bool skip; /* refused before anything was looked at (a throttled sign-in): no entry */
};

/*
 * Sets the object of ARGS's audit entry (a release's version, a new
 * group's name, a new rollout's id), printf-style, cut to fit. Does
 * nothing on a route that is not audited.
 */
void http_audit_object(const struct http_route_args *args, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Names who the action was for on a route anyone may call (a dashboard
 * sign-in: the token it signed in as), from REQ's address. Does nothing on
 * a route that is not audited.
 */
void http_audit_actor(const struct http_route_args *args, const struct http_request *req,
                      int64_t token_id, const char *token_name);

/* Marks ARGS's audit entry as not written: the request was refused before it was looked at. */
void http_audit_skip(const struct http_route_args *args);

/* Sets the product of ARGS's audit entry (product.create names it in the body). */
void http_audit_product(const struct http_route_args *args, const char *name);

/*
 * Records in ARGS's audit entry the members of object BODY named by KEYS
 * (a NULL-terminated list the handler chooses per action: only what is safe
 * to keep), and PARAM: members of its own (stolen; may be NULL). BODY may be
 * NULL or not an object. Does nothing on a route that is not audited.
 */
void http_audit_params(const struct http_route_args *args, const json_t *body,
                       const char *const *keys, json_t *param);

/*
 * The dashboard session cookie's name and the value REQ's Cookie header
 * gives it, copied to OUT (SIZE bytes); false when there is none (or it does
 * not fit: no session of ours is that long).
 */
#define HTTP_SESSION_COOKIE "otad_session"
bool http_session_cookie(const struct http_request *req, char *out, size_t size);

/*
 * Whether REQ may come from this server's own pages: no Sec-Fetch-Site of
 * cross-site or same-site, and an Origin, when one is sent, whose host and
 * port are the request's Host (http or https: a reverse proxy may end TLS).
 */
bool http_same_origin(const struct http_request *req);

/*
 * Whether PATH is a device's (/update/, /images/, /manifest/, a configured alias):
 * answers whose bytes docs/PROTOCOL.md fixes, which get no header beyond
 * their own (no security headers).
 */
bool http_path_is_device(const struct http_context *ctx, const char *path);

/*
 * The handler of a route: fills REPLY for REQ. It is called only with one of
 * its route's methods and a token of its route's scope (when it needs one),
 * and a body no larger than its route's ceiling; it checks everything else.
 * ARGS is borrowed for the call.
 */
typedef void http_handler(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);

/*
 * GET|HEAD /update/{product} and the configured aliases (ARGS->product,
 * ARGS->legacy_alias): a device check-in (update.c). 304 when current; 200
 * with the image, an exact Content-Length, x-MD5 and x-version; 200 with
 * x-version alone (and x-MD5 when some form may be served) for "?version";
 * 200 text for an alias's "latest" page; 400 for a malformed identity
 * header; 403 or 404 with a one-line reason.
 */
void http_handle_update(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply);

/*
 * GET|HEAD /images/{product}/{version}[?mode=sketch|fs]: a release's image
 * (update.c): 200 with x-MD5 and an ETag, 206 for a satisfiable Range (no
 * x-MD5: it would not cover the bytes sent), 416 with Content-Range, 400 for
 * a bad mode, 404 for no such release.
 */
void http_handle_image(const struct http_context *ctx, const struct http_request *req,
                       const struct http_route_args *args, struct http_reply *reply);

/*
 * GET|HEAD /manifest/esphome/{product}.json and
 * /manifest/esp32fota/{product}.json (manifest.c; docs/PROTOCOL.md,
 * "ESPHome", "esp32FOTA"): the manifest the client polls, decided per
 * device with ?mac= (esp32FOTA also ?id=) and ?version=, per channel
 * without; 200 JSON with an exact Content-Length and Cache-Control:
 * no-store; 400 for a malformed identity, 403 or 404 with a one-line
 * reason, 503 while this node fetches the image.
 */
void http_handle_manifest_esphome(const struct http_context *ctx, const struct http_request *req,
                                  const struct http_route_args *args, struct http_reply *reply);
void http_handle_manifest_esp32fota(const struct http_context *ctx, const struct http_request *req,
                                    const struct http_route_args *args, struct http_reply *reply);

/* POST /hooks/github: a GitHub webhook delivery, handed to the sources (hooks.c). */
void http_handle_github_hook(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply);

/*
 * The webhook route's admission hook, before its body is read (hooks.c):
 * 411 without a Content-Length (DECLARED_LENGTH is UINT64_MAX); 503 busy with
 * Retry-After when the webhook bodies in flight would pass their bound.
 * Returns true with *RET_HOLD set to give the admitted bytes back when the
 * request ends (zeroed without sources), false with REPLY filled.
 */
bool http_github_hook_admit(const struct http_context *ctx, uint64_t declared_length,
                            struct http_body_hold *ret_hold, struct http_reply *reply);

/*
 * Every product, by name, each made into JSON by ONE (api.c's product, the
 * overview's card): a new array, or NULL when the list or one of them
 * cannot be made. For the handlers that list products.
 */
json_t *http_products_json(const struct http_context *ctx,
                           json_t *(*one)(const struct http_context *ctx,
                                          const struct product *product));

/*
 * The admin API under /api/v1 (api.c; docs/API.md), JSON in and out:
 *   GET   products                      http_api_products_list    (read)
 *   POST  products                      http_api_product_create   (admin)
 *   GET   products/{product}            http_api_product_get      (read)
 *   PATCH products/{product}            http_api_product_patch    (admin)
 *   GET   products/{product}/releases   http_api_releases_list    (read)
 *   POST  products/{product}/releases   http_api_release_publish  (publish)
 */
void http_api_products_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_product_create(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply);
void http_api_product_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_product_patch(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_releases_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_release_publish(const struct http_context *ctx, const struct http_request *req,
                              const struct http_route_args *args, struct http_reply *reply);

/*
 * What the dashboard reads, and tokens (api_dashboard.c; docs/API.md):
 *   GET    products/{product}/devices           http_api_devices_list      (read) keyset pages
 *   GET    products/{product}/versions/history  http_api_version_history   (read)
 *   GET    overview                             http_api_overview          (read)
 *   GET    tokens                               http_api_tokens_list       (admin)
 *   POST   tokens                               http_api_token_create      (admin) 201, secret once
 *   DELETE tokens/{id}                          http_api_token_revoke      (admin)
 */
void http_api_devices_list(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply);
void http_api_version_history(const struct http_context *ctx, const struct http_request *req,
                              const struct http_route_args *args, struct http_reply *reply);
void http_api_overview(const struct http_context *ctx, const struct http_request *req,
                       const struct http_route_args *args, struct http_reply *reply);
void http_api_tokens_list(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_token_create(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply);
void http_api_token_revoke(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply);

/*
 * Fleet control in the API (api_fleet.c; docs/API.md "Fleet control",
 * docs/FLEET.md), every path under products/{product}/; GETs need read,
 * every change admin. Bodies are JSON objects; a field the handler does not
 * know is a 400.
 *   GET          devices/{mac}            http_api_device_show     why it gets what it gets
 *   GET          channels                 http_api_channels_list
 *   GET          channels/{name}          http_api_channel_get
 *   PUT          channels/{name}          http_api_channel_put     the fields given change
 *   DELETE       channels/{name}          http_api_channel_delete  back to the defaults
 *   GET, POST    groups                   http_api_groups_list, http_api_group_add (201)
 *   GET          groups/{name}            http_api_group_get       with its MACs
 *   PATCH        groups/{name}            http_api_group_patch
 *   DELETE       groups/{name}            http_api_group_delete
 *   POST, DELETE groups/{name}/macs       http_api_group_macs      {"macs": [...]}
 *   GET          pins                     http_api_pins_list
 *   PUT, DELETE  pins/{mac}               http_api_pin_put, http_api_pin_delete
 *   GET, POST    rollouts                 http_api_rollouts_list (?active=1), _start (201)
 *   GET          rollouts/{id}            http_api_rollout_get
 *   POST         rollouts/{id}/{action}   http_api_rollout_act     pause ... revert
 * The actor recorded with a rollout is the token's name (ARGS->actor.name).
 */
void http_api_device_show(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_channels_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_channel_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_channel_put(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_channel_delete(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply);
void http_api_groups_list(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_group_add(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply);
void http_api_group_get(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply);
void http_api_group_patch(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_group_delete(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply);
void http_api_group_macs(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);
void http_api_pins_list(const struct http_context *ctx, const struct http_request *req,
                        const struct http_route_args *args, struct http_reply *reply);
void http_api_pin_put(const struct http_context *ctx, const struct http_request *req,
                      const struct http_route_args *args, struct http_reply *reply);
void http_api_pin_delete(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);
void http_api_rollouts_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_rollout_start(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_rollout_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_rollout_act(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);

/*
 * Dashboard sign-in (api_sessions.c; docs/API.md "Dashboard sessions"):
 *   POST   session       http_api_session_create  (anyone) {"token"}: 201 and the cookie
 *   GET    session       http_api_session_get     (the cookie) the session, a fresh expiry
 *   DELETE session       http_api_session_delete  (the cookie) 204, the cookie cleared
 *   GET    sessions      http_api_sessions_list   (admin) every live session
 *   DELETE sessions/{id} http_api_session_revoke  (admin)
 */
void http_api_session_create(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply);
void http_api_session_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_session_delete(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply);
void http_api_sessions_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_session_revoke(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply);

/*
 * The release sources in the API (api_sources.c), each 503 when no sources
 * run (CTX->sources NULL):
 *   GET  sources            http_api_sources_list  (read)
 *   GET  sources/{id}       http_api_source_get    (read)
 *   POST sources/{id}/sync  http_api_source_sync   (admin): 202 queued
 */
void http_api_sources_list(const struct http_context *ctx, const struct http_request *req,
                           const struct http_route_args *args, struct http_reply *reply);
void http_api_source_get(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);
void http_api_source_sync(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);

/*
 * GET|HEAD /metrics (metrics.c): every metric in the Prometheus text format
 * 0.0.4 with the process figures; 500 when the text passes
 * LIMIT_METRICS_TEXT_BYTES. The route table checks metrics_token.
 */
void http_handle_metrics(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);

/* Registers the HTTP layer's metric families (metrics.c); more calls do nothing. */
void http_metrics_register(void);

/*
 * Counts one request of route family ROUTE (a static name: "checkin",
 * "image", "api", ...) answered STATUS (0: none was queued) that took
 * SECONDS, in otad_http_request_duration_seconds. Lock-free; any thread.
 */
void http_metrics_request_done(const char *route, int status, double seconds);

/*
 * Counts one request from a trusted proxy whose X-Forwarded-For was not a
 * list of addresses, in otad_http_forwarded_malformed_total. Lock-free.
 */
void http_metrics_forwarded_malformed(void);

/*
 * GET audit (admin; api.c, docs/AUDIT.md): a page of the audit log, newest
 * first, filtered by since, until, actor, action (a prefix), product and
 * outcome, paged by before=ID and limit (1 to 1000, default 100):
 * {"entries": [...], "next_before": ID or null}. 400 for a bad filter.
 */
void http_api_audit_list(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);

/*
 * Outgoing notifications in the API (api_notify.c), each 503 when they do
 * not run (CTX->notify NULL):
 *   GET    notifications                  http_api_notify_list        (read)
 *   POST   notifications                  http_api_notify_add         (admin): 201
 *   DELETE notifications/{id}             http_api_notify_remove      (admin)
 *   GET    notifications/{id}/deliveries  http_api_notify_deliveries  (read)
 *   POST   notifications/{id}/test        http_api_notify_test        (admin): 202
 */
void http_api_notify_list(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);
void http_api_notify_add(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);
void http_api_notify_remove(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply);
void http_api_notify_deliveries(const struct http_context *ctx, const struct http_request *req,
                                const struct http_route_args *args, struct http_reply *reply);
void http_api_notify_test(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);

/*
 * The dashboard (ui.c; docs/DASHBOARD.md), anyone, GET or HEAD; the pages
 * fetch their data from /api/v1 with the session's cookie:
 *   /, /ui, /ui/...        http_handle_ui_page   index.html ("no-cache", ETag);
 *                          404 under /ui/assets/
 *   /ui/assets/{name}      http_handle_ui_asset  an embedded file by its hashed
 *                          name (immutable) or plain name (no-cache); 404 unknown
 * Both answer 304 to a matching If-None-Match and gzip when it is accepted.
 */
void http_handle_ui_page(const struct http_context *ctx, const struct http_request *req,
                         const struct http_route_args *args, struct http_reply *reply);
void http_handle_ui_asset(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply);

#endif
