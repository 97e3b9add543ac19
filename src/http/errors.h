/*
 * The one table that maps the daemon's -errno results to HTTP status codes
 * and stable JSON error codes, and the JSON error reply built from it:
 * {"error":{"code":"image_invalid","message":"byte 0 is 0x7f; ..."}}.
 */
#ifndef OTAD_HTTP_ERRORS_H
#define OTAD_HTTP_ERRORS_H

#include "http/reply.h"

struct http_error {
    int status;
    const char *code;
};

/* The status and code for ERR (a negative errno). Unknown values map to 500 "internal". */
struct http_error http_error_for(int err);

/* Fills REPLY with the JSON error for ERR and MESSAGE (may be NULL: the code's text). */
void http_reply_error(struct http_reply *reply, int err, const char *message);

/* Fills REPLY with a JSON error of an explicit STATUS and CODE. */
void http_reply_error_status(struct http_reply *reply, int status, const char *code,
                             const char *message);

#endif
