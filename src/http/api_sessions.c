/*
 * Dashboard sign-in in the API (docs/API.md, "Dashboard sessions"): a
 * browser trades an API token for a session cookie, reads its session
 * (with the CSRF token its pages send back), and signs out; an admin lists
 * and revokes sessions. The rules are the service's (service/sessions.c);
 * the route table accepts the cookie where a bearer token is accepted and
 * checks the CSRF token and the origin (router.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/errors.h"
#include "http/handlers.h"
#include "service/present.h"

/* The cookie's attributes: never readable by script, never sent by another site. */
#define COOKIE_ATTRIBUTES "; Path=/; HttpOnly; SameSite=Strict"

/* Sets (or, VALUE "", clears) the session cookie; Secure when the request came over HTTPS. */
static void set_cookie(const struct http_request *req, struct http_reply *reply, const char *value)
{
    char header[160];
    snprintf(header, sizeof(header), HTTP_SESSION_COOKIE "=%s" COOKIE_ATTRIBUTES "%s%s", value,
             value[0] ? "" : "; Max-Age=0", req->tls ? "; Secure" : "");
    http_reply_header(reply, "Set-Cookie", header);
}

static void reply_session(struct http_reply *reply, int status, const struct session_info *info)
{
    char expires[21];
    time_format_rfc3339(info->expires_ms, expires);
    http_reply_json(reply, status,
                    json_pack("{s:{s:s,s:s,s:s,s:s}}", "session", "token_name", info->token_name,
                              "scope", token_scope_name(info->scope), "expires", expires, "csrf",
                              info->csrf));
}

void http_api_session_create(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply)
{
    /* Signing a victim in to the attacker's account is a CSRF of its own (login CSRF). */
    if (!http_same_origin(req)) { /* no token looked at: not an attempt the audit log keeps */
        http_audit_skip(args);
        http_reply_error_status(reply, 403, "csrf", "sign-in from another site is refused");
        return;
    }
    json_error_t jerr;
    json_t *body = req->body ? json_loadb((const char *)req->body, req->body_len,
                                          JSON_REJECT_DUPLICATES, &jerr)
                             : NULL;
    const char *token = NULL;
    if (!body || json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "token", &token) < 0) {
        json_decref(body);
        http_audit_skip(args);
        http_reply_error(reply, -EINVAL, "body must be JSON {\"token\": \"otad_...\"}");
        return;
    }
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    struct session_info info;
    struct reason why = {""};
    int r = service_session_create(ctx->svc, token, req->remote_addr,
                                   http_request_header(req, "User-Agent"), cookie, &info, &why);
    json_decref(body);
    if (r == -EPERM) {
        http_reply_error_status(reply, 401, "bad_token", why.text);
    } else if (r == -EBUSY) { /* the token was not looked at: not an attempt the log keeps */
        http_audit_skip(args);
        http_reply_error_status(reply, 429, "too_many_attempts", why.text);
        http_reply_header(reply, "Retry-After", "60");
    } else if (r < 0) {
        http_reply_error(reply, r, why.text);
    } else {
        http_audit_actor(args, req, info.token_id, info.token_name);
        reply_session(reply, 201, &info);
        set_cookie(req, reply, cookie);
    }
}

/* A bearer token has no session to show or end: only the cookie does. */
static bool needs_cookie(const struct http_route_args *args, struct http_reply *reply)
{
    if (args->actor.via == ACTOR_VIA_DASHBOARD)
        return true;
    http_reply_error(reply, -EPERM, "no dashboard session: this request carries a bearer token");
    return false;
}

void http_api_session_get(const struct http_context *ctx, const struct http_request *req,
                          const struct http_route_args *args, struct http_reply *reply)
{
    if (needs_cookie(args, reply))
        reply_session(reply, 200, &args->session);
}

void http_api_session_delete(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply)
{
    char cookie[SERVICE_SESSION_COOKIE_LEN + 1];
    if (!needs_cookie(args, reply))
        return;
    int r = http_session_cookie(req, cookie, sizeof(cookie)) ? service_session_end(ctx->svc, cookie)
                                                             : -ENOENT;
    if (r < 0 &&
        r != -ENOENT) { /* gone already (ended at the same moment): signed out all the same */
        http_reply_error(reply, r, "cannot end the session");
        return;
    }
    http_reply_empty(reply, 204);
    set_cookie(req, reply, "");
}

void http_api_sessions_list(const struct http_context *ctx, const struct http_request *req,
                            const struct http_route_args *args, struct http_reply *reply)
{
    struct session_record *list = NULL;
    size_t n = 0;
    int r = service_session_list(ctx->svc, &list, &n);
    if (r < 0) {
        http_reply_error(reply, r, "cannot list the sessions");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, present_session(&list[i]));
    free(list);
    http_reply_json(reply, 200, json_pack("{s:o}", "sessions", arr));
}

void http_api_session_revoke(const struct http_context *ctx, const struct http_request *req,
                             const struct http_route_args *args, struct http_reply *reply)
{
    struct reason why = {""};
    int r = service_session_revoke(ctx->svc, args->id, &why);
    if (r < 0)
        http_reply_error(reply, r, why.text);
    else
        http_reply_empty(reply, 204);
}
