/* Lookups on the plain request struct. */
#include "http/request.h"

#include <string.h>

#include "core/util.h"

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->header_count; i++)
        if (str_eq_nocase(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

unsigned http_request_header_count(const struct http_request *req, const char *name)
{
    unsigned n = 0;
    for (unsigned i = 0; i < req->header_count; i++)
        if (str_eq_nocase(req->headers[i].name, name))
            n++;
    return n;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->query_count; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->form_count; i++)
        if (strcmp(req->form[i].name, name) == 0)
            return req->form[i].value;
    return http_request_query(req, name);
}
