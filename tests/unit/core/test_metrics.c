/* Unit tests for src/core/metrics.c: series, the cap, threads at once, the exact text. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static const char *text_of(struct metric_family *f, struct buf *b)
{
    buf_init(b, 1 << 20);
    assert_int_equal(metrics_write_family(f, b), 0);
    assert_int_equal(buf_append(b, "", 1), 0);
    return (const char *)b->data;
}

static struct metric_family checkins =
    METRIC_COUNTER("otad_test_checkins_total", "Check-ins by \\ answer.\nSecond line.",
                   METRIC_LABELS("product", "status"));

static void test_counter_text(void **state)
{
    metric_inc(&checkins, (const char *[]){"lamp", "304"});
    metric_add(&checkins, (const char *[]){"lamp", "304"}, 2);
    metric_inc(&checkins, (const char *[]){"a\"b\\c\nd", "200"});
    assert_int_equal(metric_value(&checkins, (const char *[]){"lamp", "304"}), 3);
    assert_int_equal(metric_value(&checkins, (const char *[]){"lamp", "200"}), 0);
    struct buf b;
    assert_string_equal(text_of(&checkins, &b),
                        "# HELP otad_test_checkins_total Check-ins by \\\\ answer.\\nSecond line.\n"
                        "# TYPE otad_test_checkins_total counter\n"
                        "otad_test_checkins_total{product=\"lamp\",status=\"304\"} 3\n"
                        "otad_test_checkins_total{product=\"a\\\"b\\\\c\\nd\",status=\"200\"} 1\n");
    buf_release(&b);
}

/* Families read at scrape time: any number of labels, values escaped as in a family's. */
static void test_scrape_time_samples(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    static const char *const labels[] = {"product", "channel", "rollout", "stage", "outcome", NULL};
    static const char *const none[] = {NULL};
    assert_int_equal(metrics_write_header(&b, "otad_test_devices", "gauge", "Devices.\nBy \\."), 0);
    assert_int_equal(metrics_write_sample(&b, "otad_test_devices", labels,
                                          (const char *[]){"a\"b", "stable", "7", "1", "failed"},
                                          -3),
                     0);
    assert_int_equal(metrics_write_sample(&b, "otad_test_devices", none, NULL, 12), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    assert_string_equal((const char *)b.data,
                        "# HELP otad_test_devices Devices.\\nBy \\\\.\n"
                        "# TYPE otad_test_devices gauge\n"
                        "otad_test_devices{product=\"a\\\"b\",channel=\"stable\",rollout=\"7\","
                        "stage=\"1\",outcome=\"failed\"} -3\n"
                        "otad_test_devices 12\n");
    buf_release(&b);
}

static struct metric_family depth =
    METRIC_GAUGE("otad_test_queue_depth", "Queued records.", METRIC_NO_LABELS);

static void test_gauge_without_labels(void **state)
{
    struct buf b;
    assert_string_equal(text_of(&depth, &b), "# HELP otad_test_queue_depth Queued records.\n"
                                             "# TYPE otad_test_queue_depth gauge\n"
                                             "otad_test_queue_depth 0\n");
    buf_release(&b);
    metric_set(&depth, NULL, 7);
    metric_gauge_add(&depth, NULL, -9);
    assert_int_equal(metric_value(&depth, NULL), -2);
}

static const double bounds[] = {0.01, 0.1, 1};
static struct metric_family flush =
    METRIC_HISTOGRAM("otad_test_flush_seconds", "Flush time.", bounds, METRIC_LABELS("node"));

static void test_histogram_text(void **state)
{
    const char *node[] = {"n1"};
    metric_observe(&flush, node, 0.01); /* on a bound: counted in it (le is <=) */
    metric_observe(&flush, node, 0.5);
    metric_observe(&flush, node, 2);
    struct buf b;
    assert_string_equal(text_of(&flush, &b),
                        "# HELP otad_test_flush_seconds Flush time.\n"
                        "# TYPE otad_test_flush_seconds histogram\n"
                        "otad_test_flush_seconds_bucket{node=\"n1\",le=\"0.01\"} 1\n"
                        "otad_test_flush_seconds_bucket{node=\"n1\",le=\"0.1\"} 1\n"
                        "otad_test_flush_seconds_bucket{node=\"n1\",le=\"1\"} 2\n"
                        "otad_test_flush_seconds_bucket{node=\"n1\",le=\"+Inf\"} 3\n"
                        "otad_test_flush_seconds_sum{node=\"n1\"} 2.51\n"
                        "otad_test_flush_seconds_count{node=\"n1\"} 3\n");
    buf_release(&b);
}

static struct metric_family capped =
    METRIC_COUNTER("otad_test_capped_total", "Capped.", METRIC_LABELS("product"));

static void test_cap_counts_dropped(void **state)
{
    char name[32];
    for (unsigned i = 0; i < LIMIT_METRICS_SERIES; i++) {
        snprintf(name, sizeof(name), "p%u", i);
        metric_inc(&capped, (const char *[]){name});
    }
    struct buf b;
    buf_init(&b, 1 << 22);
    assert_int_equal(metrics_write(&b), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    assert_non_null(strstr((char *)b.data, "\notad_metrics_series_dropped_total 0\n"));
    buf_release(&b);
    metric_inc(&capped, (const char *[]){"one-too-many"});
    metric_inc(&capped, (const char *[]){"p0"}); /* a known set still counts */
    assert_int_equal(metric_value(&capped, (const char *[]){"p0"}), 2);
    assert_int_equal(metric_value(&capped, (const char *[]){"one-too-many"}), 0);
    buf_init(&b, 1 << 22);
    assert_int_equal(metrics_write(&b), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    assert_non_null(strstr((char *)b.data, "\notad_metrics_series_dropped_total 1\n"));
    buf_release(&b);
}

#define THREADS    8
#define INCREMENTS 100000
static struct metric_family contended =
    METRIC_COUNTER("otad_test_contended_total", "Contended.", METRIC_LABELS("product", "status"));
static const double lat_bounds[] = {0.5};
static struct metric_family latency =
    METRIC_HISTOGRAM("otad_test_latency_seconds", "Latency.", lat_bounds, METRIC_NO_LABELS);

static void *hammer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    char product[16];
    for (unsigned i = 0; i < INCREMENTS; i++) {
        /* Every thread makes the same four new sets at the same time: each stored once. */
        snprintf(product, sizeof(product), "p%u", i % 4);
        metric_inc(&contended, (const char *[]){product, id % 2 ? "200" : "304"});
        metric_observe(&latency, NULL, i % 2 ? 0.25 : 1.0);
    }
    return NULL;
}

static void test_threads_at_once(void **state)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int64_t total = 0;
    unsigned sets = 0;
    for (unsigned i = 0; i < LIMIT_METRICS_SERIES; i++)
        if (atomic_load(&contended.series[i].state) == 2) {
            sets++;
            total += atomic_load(&contended.series[i].value);
        }
    assert_int_equal(sets, 8);
    assert_int_equal(total, (int64_t)THREADS * INCREMENTS);
    assert_int_equal(metric_value(&contended, (const char *[]){"p1", "200"}),
                     THREADS / 2 * INCREMENTS / 4);
    struct buf b;
    const char *text = text_of(&latency, &b);
    char want[256];
    snprintf(want, sizeof(want),
             "otad_test_latency_seconds_bucket{le=\"0.5\"} %u\n"
             "otad_test_latency_seconds_bucket{le=\"+Inf\"} %u\n"
             "otad_test_latency_seconds_sum %u\n",
             THREADS * INCREMENTS / 2, THREADS * INCREMENTS, THREADS * INCREMENTS / 8 * 5);
    assert_non_null(strstr(text, want));
    buf_release(&b);
}

static void test_register_once(void **state)
{
    static struct metric_family f =
        METRIC_COUNTER("otad_test_once_total", "Once.", METRIC_NO_LABELS);
    metrics_register(&f);
    metrics_register(&f);
    struct buf b;
    buf_init(&b, 1 << 22);
    assert_int_equal(metrics_write(&b), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    const char *first = strstr((char *)b.data, "# TYPE otad_test_once_total counter");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE otad_test_once_total counter"));
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_text),        cmocka_unit_test(test_gauge_without_labels),
        cmocka_unit_test(test_histogram_text),      cmocka_unit_test(test_cap_counts_dropped),
        cmocka_unit_test(test_threads_at_once),     cmocka_unit_test(test_register_once),
        cmocka_unit_test(test_scrape_time_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
