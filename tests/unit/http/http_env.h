/*
 * What the endpoint tests (test_router.c, test_update.c) share: a real
 * service on a temporary data folder with one ESP8266 product, "emonesp",
 * served also at the alias /esp/firmware.php, and one release of it, 1.0.2
 * (an 8 KiB image); an admin and a read token; and plain requests and
 * replies built and read by hand, as the server adapter would.
 */
#ifndef OTAD_TESTS_HTTP_ENV_H
#define OTAD_TESTS_HTTP_ENV_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/fixture.h"
#include "core/digest.h"
#include "core/util.h"
#include "http/handlers.h"

struct http_env {
    char dir[64];
    struct config config;
    struct service *svc;
    struct http_context ctx;
    uint8_t img[8192];            /* release 1.0.2 of emonesp */
    char md5[33];                 /* its MD5 */
    char admin[128], reader[128]; /* "Bearer ..." of an admin and a read token */
};

/* A cmocka setup: the environment above in *STATE. Returns 0, or -1. */
static inline int http_env_setup(void **state)
{
    struct http_env *e = calloc(1, sizeof(*e));
    if (!e || fixture_tmpdir(e->dir) < 0 || fixture_config(&e->config, e->dir) < 0)
        return -1;
    e->config.alias_count = 1;
    strcpy(e->config.aliases[0].path, "/esp/firmware.php");
    strcpy(e->config.aliases[0].product, "emonesp");
    if (service_open(&e->config, SERVICE_SERVING, &e->svc) < 0)
        return -1;
    e->ctx = (struct http_context){.svc = e->svc, .config = &e->config};
    struct reason why;
    if (service_product_add(e->svc, "emonesp", PLATFORM_ESP8266, NULL, NULL, &why) < 0)
        return -1;
    fixture_esp8266_image(e->img, sizeof(e->img), 4, 7);
    digest_md5_hex(e->img, sizeof(e->img), e->md5);
    struct publish_request req = {.product = "emonesp",
                                  .version = "1.0.2",
                                  .image = e->img,
                                  .image_len = sizeof(e->img),
                                  .source = "test"};
    if (service_publish(e->svc, &req, NULL, NULL, &why) < 0)
        return -1;
    char secret[SERVICE_TOKEN_LEN + 1];
    int64_t id;
    if (service_token_create(e->svc, "a", TOKEN_SCOPE_ADMIN, secret, &id, &why) < 0)
        return -1;
    snprintf(e->admin, sizeof(e->admin), "Bearer %s", secret);
    if (service_token_create(e->svc, "r", TOKEN_SCOPE_READ, secret, &id, &why) < 0)
        return -1;
    snprintf(e->reader, sizeof(e->reader), "Bearer %s", secret);
    *state = e;
    return 0;
}

static inline int http_env_teardown(void **state)
{
    struct http_env *e = *state;
    service_close(e->svc);
    fixture_rmdir(e->dir);
    free(e);
    return 0;
}

static inline void request_init(struct http_request *req, const char *method, const char *path)
{
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->path = path;
    req->remote_addr = "127.0.0.1";
}

static inline void add_header(struct http_request *req, const char *name, const char *value)
{
    req->headers[req->header_count++] = (struct http_pair){name, value};
}

static inline void add_query(struct http_request *req, const char *name, const char *value)
{
    req->query[req->query_count++] = (struct http_pair){name, value};
}

/* The value of the reply's header NAME (case-insensitive), or NULL. */
/* REQ becomes a stock ESP8266 check-in of emonesp: device MAC, running VERSION. */
static inline void esp8266_checkin_init(struct http_request *req, const char *mac,
                                        const char *version)
{
    request_init(req, "GET", "/update/emonesp");
    add_header(req, "User-Agent", "ESP8266-http-Update");
    add_header(req, "x-ESP8266-STA-MAC", mac);
    add_header(req, "x-ESP8266-version", version);
}

static inline const char *reply_header(const struct http_reply *r, const char *name)
{
    for (unsigned i = 0; i < r->header_count; i++)
        if (str_eq_nocase(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

/* How many of the reply's headers are named NAME. */
static inline unsigned reply_header_count(const struct http_reply *r, const char *name)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->header_count; i++)
        n += str_eq_nocase(r->headers[i].name, name);
    return n;
}

/* The reply's body when it is bytes or a static string ("" for none). */
static inline const char *reply_body(const struct http_reply *r)
{
    return r->body.data ? (const char *)r->body.data : r->static_body ? r->static_body : "";
}

/* The reply's body parsed as JSON (the caller decrefs), or NULL. */
static inline json_t *reply_json(const struct http_reply *r)
{
    json_error_t err;
    return json_loads(reply_body(r), 0, &err);
}

/* The "code" of a JSON error reply, or NULL. The string lives as long as J. */
static inline const char *error_code(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

#endif
