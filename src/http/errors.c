/* The error table (errors.h). Codes are part of the API: never rename one. */
#include "http/errors.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

static const struct {
    int err;
    struct http_error e;
} error_table[] = {
    {-EINVAL, {400, "bad_request"}},
    {-EPERM, {401, "unauthorized"}},
    {-EACCES, {403, "forbidden"}},
    {-ENOENT, {404, "not_found"}},
    {-EOPNOTSUPP, {405, "method_not_allowed"}},
    {-EEXIST, {409, "conflict"}},
    {-EALREADY, {409, "conflict"}},
    {-ESTALE, {409, "conflict"}},
    /* a rollout changed meanwhile (another node): try again */ /* the state does not allow it:
                                                                   pausing a paused rollout */
    {-ENOSPC, {409, "limit_reached"}},       /* a configured maximum: sources, receivers */
    {-EDOM, {409, "version_mismatch"}},      /* the image's app descriptor names another version */
    {-EDQUOT, {409, "secure_version_bump"}}, /* raises anti-rollback: confirm it explicitly */
    {-EFBIG, {413, "too_large"}},
    {-E2BIG, {413, "too_large"}},
    {-EPROTONOSUPPORT, {415, "unsupported_media_type"}},
    {-EBADMSG, {422, "image_invalid"}},
    {-EKEYREJECTED, {422, "signature_invalid"}},
    {-ENOKEY, {503, "signing_key_unavailable"}},
    {-ENOBUFS, {503, "overloaded"}},
    {-EAGAIN, {503, "unavailable"}},
    {-ENOTCONN, {503, "database_unavailable"}}, /* PostgreSQL away: nothing was changed */
    {-ETIMEDOUT, {503, "database_timeout"}},    /* a statement outran its timeout: rolled back */
};

struct http_error http_error_for(int err)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_table); i++)
        if (error_table[i].err == err)
            return error_table[i].e;
    return (struct http_error){500, "internal"};
}

void http_reply_error_status(struct http_reply *reply, int status, const char *code,
                             const char *message)
{
    reply->status = status;
    reply->content_type = "application/json";
    buf_reset(&reply->body);
    json_t *root = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                             message && *message ? message : code);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!text || buf_append_str(&reply->body, text) < 0 || buf_append(&reply->body, "\n", 1) < 0)
        http_reply_static(reply, status, "{\"error\":{\"code\":\"internal\"}}\n");
    free(text);
    json_decref(root);
    if (status == 401)
        http_reply_header(reply, "WWW-Authenticate", "Bearer realm=\"otad\"");
}

void http_reply_error(struct http_reply *reply, int err, const char *message)
{
    struct http_error e = http_error_for(err);
    if (e.status == 500) {
        /* Every 500 leaves a line in the log: the client is told to look there. */
        log_error("api: internal error %d (%s): %s", err, strerror(-err),
                  message && *message ? message : "no detail");
        message = "internal error; see the server log";
    }
    http_reply_error_status(reply, e.status, e.code, message);
}

void http_reply_json(struct http_reply *reply, int status, json_t *root)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    buf_reset(&reply->body);
    if (!text || buf_append_str(&reply->body, text) < 0 || buf_append(&reply->body, "\n", 1) < 0) {
        free(text);
        http_reply_error(reply, -ENOMEM, NULL);
        return;
    }
    free(text);
    reply->status = status;
    reply->content_type = "application/json";
}
