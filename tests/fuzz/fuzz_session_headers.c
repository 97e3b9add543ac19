/*
 * libFuzzer target for the dashboard session's header checks in
 * src/http/router.c: http_session_cookie (the Cookie header) and
 * http_same_origin (Sec-Fetch-Site, Origin against Host). The first input
 * byte is the size of the cookie's output buffer, the rest lines
 * "name:value", each a header (no colon: an empty value). Checks what
 * handlers.h promises: a cookie found is terminated, fits, carries no ';' and
 * no trailing blank, and is what the header gave otad_session; a cross-site
 * or same-site request is never same-origin, one without Origin otherwise
 * always is, and an accepted Origin is http(s):// and the Host.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/handlers.h"

#define FUZZ_MAX_INPUT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cookie(const struct http_request *req, size_t out_size)
{
    char *out = malloc(out_size ? out_size : 1);
    if (!out)
        abort();
    if (!http_session_cookie(req, out, out_size)) {
        free(out);
        return;
    }
    const char *header = http_request_header(req, "Cookie");
    size_t n = strlen(out);
    if (!header || n >= out_size || strchr(out, ';') || (n && out[n - 1] == ' '))
        abort();
    /* The value follows "otad_session=" somewhere in the header. */
    const char *p = header;
    bool found = false;
    while (!found && (p = strstr(p, HTTP_SESSION_COOKIE "=")) != NULL) {
        p += strlen(HTTP_SESSION_COOKIE "=");
        found = strncmp(p, out, n) == 0;
    }
    if (!found)
        abort();
    free(out);
}

static void check_origin(const struct http_request *req)
{
    bool same = http_same_origin(req);
    const char *site = http_request_header(req, "Sec-Fetch-Site");
    const char *origin = http_request_header(req, "Origin");
    const char *host = http_request_header(req, "Host");
    bool cross =
        site && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0);
    if (cross && same)
        abort();
    if (!cross && !origin && !same)
        abort();
    if (same && origin) {
        size_t skip = strncasecmp(origin, "https://", 8) == 0  ? 8
                      : strncasecmp(origin, "http://", 7) == 0 ? 7
                                                               : 0;
        if (!skip || !host || strcasecmp(origin + skip, host) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_MAX_INPUT)
        return 0;
    size_t out_size = data[0];
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;

    struct http_request req;
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/api/v1/session";
    req.remote_addr = "";
    char *line = text;
    while (line) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *colon = strchr(line, ':');
        if (colon)
            *colon++ = 0;
        if (req.header_count < LIMIT_HEADERS_PER_REQUEST)
            req.headers[req.header_count++] = (struct http_pair){line, colon ? colon : ""};
        line = next;
    }
    check_cookie(&req, out_size);
    check_origin(&req);
    free(text);
    return 0;
}
