/*
 * Unit tests for src/http/tls_cache.c: store and fetch by session ID,
 * replacement, eviction of the oldest when full, expiry, bounds, and many
 * threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "http/tls_cache.h"

static struct tls_session_cache *cache_make(size_t capacity, uint64_t lifetime_ms)
{
    struct tls_session_cache *c = NULL;
    assert_int_equal(tls_session_cache_new(capacity, lifetime_ms, &c), 0);
    return c;
}

static void id_of(unsigned n, uint8_t id[32])
{
    memset(id, 0xa5, 32);
    memcpy(id, &n, sizeof(n));
}

/* Fetches ID and checks it holds EXPECT; returns the fetch's result. */
static int fetch_expect(struct tls_session_cache *c, const uint8_t *id, size_t id_len, uint64_t now,
                        const char *expect)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int r = tls_session_cache_fetch(c, id, id_len, now, &data, &len);
    if (r == 0) {
        assert_non_null(expect);
        assert_int_equal(len, strlen(expect));
        assert_memory_equal(data, expect, len);
        free(data);
    }
    return r;
}

static void test_store_fetch_replace_remove(void **state)
{
    struct tls_session_cache *c = cache_make(8, 1000);
    uint8_t id[32];
    id_of(1, id);
    assert_int_equal(fetch_expect(c, id, 32, 0, NULL), -ENOENT);
    assert_int_equal(tls_session_cache_store(c, id, 32, (const uint8_t *)"alpha", 5, 0), 0);
    assert_int_equal(fetch_expect(c, id, 32, 10, "alpha"), 0);
    /* The same ID is a different session when shorter: IDs compare by length too. */
    assert_int_equal(fetch_expect(c, id, 31, 10, NULL), -ENOENT);
    assert_int_equal(tls_session_cache_store(c, id, 32, (const uint8_t *)"beta", 4, 20), 0);
    assert_int_equal(tls_session_cache_count(c), 1);
    assert_int_equal(fetch_expect(c, id, 32, 30, "beta"), 0);
    tls_session_cache_remove(c, id, 32);
    assert_int_equal(fetch_expect(c, id, 32, 30, NULL), -ENOENT);
    assert_int_equal(tls_session_cache_count(c), 0);
    tls_session_cache_free(c);
}

static void test_oldest_goes_first_when_full(void **state)
{
    struct tls_session_cache *c = cache_make(3, 100000);
    uint8_t id[32];
    for (unsigned i = 0; i < 5; i++) {
        id_of(i, id);
        char text[8];
        snprintf(text, sizeof(text), "s%u", i);
        assert_int_equal(tls_session_cache_store(c, id, 32, (const uint8_t *)text, strlen(text), i),
                         0);
    }
    assert_int_equal(tls_session_cache_count(c), 3);
    id_of(0, id);
    assert_int_equal(fetch_expect(c, id, 32, 10, NULL), -ENOENT);
    id_of(1, id);
    assert_int_equal(fetch_expect(c, id, 32, 10, NULL), -ENOENT);
    id_of(2, id);
    assert_int_equal(fetch_expect(c, id, 32, 10, "s2"), 0);
    id_of(4, id);
    assert_int_equal(fetch_expect(c, id, 32, 10, "s4"), 0);
    tls_session_cache_free(c);
}

static void test_expired_sessions_are_not_resumed(void **state)
{
    struct tls_session_cache *c = cache_make(4, 1000);
    uint8_t id[32];
    id_of(7, id);
    assert_int_equal(tls_session_cache_store(c, id, 32, (const uint8_t *)"x", 1, 5000), 0);
    assert_int_equal(fetch_expect(c, id, 32, 5999, "x"), 0);
    assert_int_equal(fetch_expect(c, id, 32, 6000, NULL), -ENOENT);
    assert_int_equal(tls_session_cache_count(c), 0); /* dropped on the way */
    /* A clock that went back does not make a session young again. */
    assert_int_equal(tls_session_cache_store(c, id, 32, (const uint8_t *)"y", 1, 5000), 0);
    assert_int_equal(fetch_expect(c, id, 32, 4000, NULL), -ENOENT);
    tls_session_cache_free(c);
}

static void test_bounds(void **state)
{
    struct tls_session_cache *c = cache_make(4, 1000);
    uint8_t id[LIMIT_TLS_SESSION_ID_BYTES + 1] = {1};
    static uint8_t big[LIMIT_TLS_SESSION_BYTES + 1];
    assert_int_equal(tls_session_cache_store(c, id, 0, big, 1, 0), -EINVAL);
    assert_int_equal(tls_session_cache_store(c, id, sizeof(id), big, 1, 0), -EINVAL);
    assert_int_equal(tls_session_cache_store(c, id, 4, big, 0, 0), -EINVAL);
    assert_int_equal(tls_session_cache_store(c, id, 4, big, sizeof(big), 0), -EINVAL);
    assert_int_equal(tls_session_cache_store(c, id, 4, big, sizeof(big) - 1, 0), 0);
    assert_int_equal(fetch_expect(c, id, sizeof(id), 0, NULL), -ENOENT);
    tls_session_cache_remove(c, id, sizeof(id)); /* out of bounds: nothing happens */
    tls_session_cache_free(c);

    struct tls_session_cache *none = cache_make(0, 1000);
    assert_int_equal(tls_session_cache_store(none, id, 4, big, 1, 0), -ENOSPC);
    assert_int_equal(fetch_expect(none, id, 4, 0, NULL), -ENOENT);
    tls_session_cache_free(none);
    tls_session_cache_free(NULL);
}

/* Many IDs that differ in one byte: all kept apart, all found (the chains hold). */
static void test_many_sessions(void **state)
{
    enum { N = 5000 };
    struct tls_session_cache *c = cache_make(N, 100000);
    uint8_t id[32];
    for (unsigned i = 0; i < N; i++) {
        id_of(i, id);
        assert_int_equal(tls_session_cache_store(c, id, 32, (const uint8_t *)&i, sizeof(i), 1), 0);
    }
    for (unsigned i = 0; i < N; i++) {
        id_of(i, id);
        uint8_t *data;
        size_t len;
        assert_int_equal(tls_session_cache_fetch(c, id, 32, 2, &data, &len), 0);
        assert_int_equal(len, sizeof(i));
        assert_memory_equal(data, &i, sizeof(i));
        free(data);
    }
    tls_session_cache_free(c);
}

struct worker {
    struct tls_session_cache *cache;
    unsigned base;
    unsigned found;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    uint8_t id[32];
    for (unsigned i = 0; i < 20000; i++) {
        id_of(w->base + i % 500, id);
        if (i % 3 == 0) {
            if (tls_session_cache_store(w->cache, id, 32, id, 32, i) != 0)
                return NULL;
        } else if (i % 7 == 0) {
            tls_session_cache_remove(w->cache, id, 32);
        } else {
            uint8_t *data;
            size_t len;
            if (tls_session_cache_fetch(w->cache, id, 32, i, &data, &len) == 0) {
                w->found += len == 32 && memcmp(data, id, 32) == 0;
                free(data);
            }
        }
    }
    return NULL;
}

/* Four threads storing, fetching and removing over one small cache: no torn entry comes back. */
static void test_threads(void **state)
{
    struct tls_session_cache *c = cache_make(300, 1000000);
    struct worker w[4];
    pthread_t t[4];
    for (unsigned i = 0; i < 4; i++) {
        w[i] = (struct worker){c, i * 200, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    unsigned found = 0;
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        found += w[i].found;
    }
    assert_true(found > 0);
    assert_true(tls_session_cache_count(c) <= 300);
    tls_session_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_fetch_replace_remove),
        cmocka_unit_test(test_oldest_goes_first_when_full),
        cmocka_unit_test(test_expired_sessions_are_not_resumed),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_many_sessions),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
