/*
 * The plain request a handler sees: no libmicrohttpd types, so every handler
 * can be unit-tested by filling this struct by hand. All pointers are
 * borrowed from the connection and live until the reply is queued.
 */
#ifndef OTAD_HTTP_REQUEST_H
#define OTAD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct http_pair {
    const char *name;
    const char *value; /* never NULL; "" for a name without a value */
};

struct http_request {
    const char *method; /* "GET", "HEAD", "POST", ... */
    const char *path;   /* percent-decoded, always starts with '/' */
    /* Textual: the peer's address, or behind trusted_proxies the client's; "" when unknown. */
    const char *remote_addr;
    bool http10; /* the request line said HTTP/1.0 */
    bool tls;    /* it came over the HTTPS listener */
    struct http_pair headers[LIMIT_HEADERS_PER_REQUEST];
    unsigned header_count;
    bool headers_truncated; /* more headers arrived than the array holds */
    struct http_pair query[LIMIT_QUERY_ARGS_PER_REQUEST];
    unsigned query_count;
    bool query_truncated;
    const uint8_t *body; /* NULL when there is none; for a multipart form, the file part */
    size_t body_len;
    const struct http_pair *form; /* the other fields of a multipart form */
    unsigned form_count;
};

/* The value of the first header named NAME (ASCII case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* How many headers are named NAME (case-insensitive). */
unsigned http_request_header_count(const struct http_request *req, const char *name);

/* The value of the first query argument named NAME (case-sensitive), or NULL. */
const char *http_request_query(const struct http_request *req, const char *name);

/* A form field named NAME, else the query argument NAME, else NULL. */
const char *http_request_param(const struct http_request *req, const char *name);

#endif
