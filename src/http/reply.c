/* Filling a plain reply (reply.h). */
#include "http/reply.h"

#include "core/limits.h"
#include "core/log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void http_reply_init(struct http_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    reply->fd = -1;
    buf_init(&reply->body, LIMIT_REPLY_BODY_BYTES);
}

void http_reply_release(struct http_reply *reply)
{
    if (!reply)
        return;
    buf_release(&reply->body);
    if (reply->fd >= 0)
        close(reply->fd);
    reply->fd = -1;
}

static const char *store_string(struct http_reply *reply, const char *s)
{
    size_t n = strlen(s) + 1;
    if (n > sizeof(reply->storage) - reply->storage_used)
        return NULL;
    char *dst = reply->storage + reply->storage_used;
    memcpy(dst, s, n);
    reply->storage_used += n;
    return dst;
}

void http_reply_header(struct http_reply *reply, const char *name, const char *value)
{
    const char *n = reply->header_count < HTTP_REPLY_MAX_HEADERS ? store_string(reply, name) : NULL;
    const char *v = n ? store_string(reply, value) : NULL;
    if (!v) {
        log_error("http: reply header %s does not fit: answering 500", name);
        reply->broken = true;
        return;
    }
    reply->headers[reply->header_count++] = (struct http_pair){n, v};
}

void http_reply_static(struct http_reply *reply, int status, const char *text)
{
    reply->status = status;
    reply->content_type = "text/plain; charset=utf-8";
    reply->static_body = text;
    reply->static_len = strlen(text);
}

void http_reply_text(struct http_reply *reply, int status, const char *text)
{
    reply->status = status;
    reply->content_type = "text/plain; charset=utf-8";
    buf_reset(&reply->body);
    if (buf_append_str(&reply->body, text) < 0 || buf_append(&reply->body, "\n", 1) < 0)
        http_reply_static(reply, status, "\n");
}

void http_reply_empty(struct http_reply *reply, int status)
{
    reply->status = status;
    reply->content_type = NULL;
    reply->static_body = "";
    reply->static_len = 0;
}
