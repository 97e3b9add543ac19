/*
 * JSON replies of the API: the one table that maps the daemon's -errno
 * results to HTTP status codes and stable JSON error codes, the error reply
 * built from it ({"error":{"code":"image_invalid","message":"..."}}), and
 * the reply of any JSON document.
 */
#ifndef OTAD_HTTP_ERRORS_H
#define OTAD_HTTP_ERRORS_H

#include <jansson.h>

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

/* Fills REPLY with STATUS and the compact JSON of ROOT (its reference is taken; NULL gives a 500).
 */
void http_reply_json(struct http_reply *reply, int status, json_t *root);

#endif
