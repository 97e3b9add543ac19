/*
 * The data folder, service and sources a test of src/sources/ runs on,
 * with product "door" (ESP8266) and a fake GitHub on 127.0.0.1
 * (loopback.h) answering through the test's RESPOND. Header-only.
 */
#ifndef OTAD_TESTS_SOURCES_ENV_H
#define OTAD_TESTS_SOURCES_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../support/fixture.h"
#include "loopback.h"
#include "service/service.h"
#include "sources/sources.h"

struct sources_env {
    char dir[64];
    struct config config;
    struct service *svc;
    struct sources *sources;
    struct loopback lb; /* the fake GitHub: API and storage on one port */
    int64_t id;         /* the source sources_env_add made */
};

/* Opens E (caller-owned) in MODE, the fake GitHub answering with RESPOND (USER is its own). */
static inline void sources_env_open(struct sources_env *e, enum sources_mode mode,
                                    loopback_respond_fn respond, void *user)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(fixture_tmpdir(e->dir), 0);
    assert_int_equal(fixture_config(&e->config, e->dir), 0);
    assert_int_equal(loopback_start(&e->lb, respond, user), 0);
    assert_int_equal(service_open(&e->config, SERVICE_LOCAL, &e->svc), 0);
    assert_int_equal(sources_open(&e->config, e->svc, mode, &e->sources), 0);
    struct reason why = {""};
    assert_int_equal(service_product_add(e->svc, "door", PLATFORM_ESP8266, NULL, NULL, &why), 0);
}

/* Adds source acme/door of product door on the fake GitHub; SECRET_FILE may be NULL. */
static inline void sources_env_add(struct sources_env *e, const char *secret_file)
{
    char api[64];
    snprintf(api, sizeof(api), "http://127.0.0.1:%u", e->lb.port);
    struct source_spec spec = {
        .product = "door", .repository = "acme/door", .api_url = api, .secret_file = secret_file};
    struct source_row row;
    struct reason why = {""};
    assert_int_equal(sources_add(e->sources, &spec, &row, &why), 0);
    e->id = row.source.id;
}

static inline void sources_env_close(struct sources_env *e)
{
    sources_close(e->sources);
    service_close(e->svc);
    loopback_stop(&e->lb);
    fixture_rmdir(e->dir);
}

/* How many releases product door has. */
static inline size_t sources_env_releases(struct sources_env *e)
{
    struct release *rels;
    size_t n;
    struct reason why = {""};
    assert_int_equal(service_release_list(e->svc, "door", &rels, &n, &why), 0);
    release_list_free(rels, n);
    return n;
}

#endif
