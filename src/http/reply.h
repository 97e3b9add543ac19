/*
 * The plain reply a handler fills: status, headers, and a body that is
 * either bytes the reply owns, a static string, or a range of an open file
 * (sent with sendfile). The server adapter turns it into a libmicrohttpd
 * response; unit tests read it directly.
 */
#ifndef OTAD_HTTP_REPLY_H
#define OTAD_HTTP_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/model.h"
#include "http/request.h"

#define HTTP_REPLY_MAX_HEADERS 12

struct http_reply {
    int status;               /* 0 until a handler sets it */
    const char *content_type; /* static string, or NULL for none */
    struct http_pair headers[HTTP_REPLY_MAX_HEADERS];
    unsigned header_count;
    char storage[1024]; /* header names and values live here */
    size_t storage_used;
    struct buf body;         /* owned bytes, when used */
    const char *static_body; /* or a static string */
    size_t static_len;
    int fd; /* or a file range; -1 when none; the reply owns it */
    uint64_t fd_offset;
    uint64_t fd_length;
    bool broken; /* a header could not be added: the server sends a 500 instead (server.c) */
    /*
     * A check-in's offer (service_delivery_done): when set, the server tells
     * the service how the request ended, body sent whole or not.
     */
    bool has_ticket;
    struct delivery_ticket ticket;
};

/* Prepares an empty reply (status 0, no body). */
void http_reply_init(struct http_reply *reply);

/* Frees the body and closes the file. NULL-safe; the reply is empty afterwards. */
void http_reply_release(struct http_reply *reply);

/*
 * Adds a header (copied). When the reply has no room (a programming error:
 * the table and storage are sized for our handlers) the reply is marked
 * broken and the server answers 500 instead of sending it without the
 * header: a 200 without its x-MD5 must never go out. So a handler need not
 * check each call; it can read reply->broken.
 */
void http_reply_header(struct http_reply *reply, const char *name, const char *value);

/* A text/plain reply with TEXT (a static string, not copied) as the whole body. */
void http_reply_static(struct http_reply *reply, int status, const char *text);

/* A text/plain reply whose body is TEXT followed by a newline (copied). */
void http_reply_text(struct http_reply *reply, int status, const char *text);

/* A reply with no body at all (304, HEAD-style answers). */
void http_reply_empty(struct http_reply *reply, int status);

/* Whether the reply's body is a file range. */
static inline bool http_reply_has_file(const struct http_reply *reply)
{
    return reply->fd >= 0;
}

#endif
